//! Test harness: real `ovsdb-server` processes with the OVN NB schema, each in
//! its own temp dir with its own `--unixctl`, killed on drop (also when a test
//! panics). Enabled by the `testing` feature; later tests (reconciler,
//! fencing) reuse it.
//!
//! Blocking (std::process); call it from `#[tokio::test(flavor =
//! "multi_thread")]` tests so client tasks keep running meanwhile.

use std::io;
use std::net::TcpListener;
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::thread::sleep;
use std::time::{Duration, Instant};

use tempfile::TempDir;

pub const NB_SCHEMA: &str = "/usr/share/ovn/ovn-nb.ovsschema";
pub const NB_DATABASE: &str = "OVN_Northbound";
/// How long a server may take to come up or a cluster to elect a leader.
pub const READY_TIMEOUT: Duration = Duration::from_secs(20);
const POLL: Duration = Duration::from_millis(50);

fn run(cmd: &str, args: &[&str]) -> io::Result<String> {
    let out = Command::new(cmd).args(args).output()?;
    if out.status.success() {
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    } else {
        Err(io::Error::other(format!(
            "{cmd} {args:?} failed: {}",
            String::from_utf8_lossy(&out.stderr)
        )))
    }
}

/// `n` distinct free TCP ports on 127.0.0.1 (listeners are held until all are
/// picked, so they differ; another process could still grab one after).
pub fn free_ports(n: usize) -> io::Result<Vec<u16>> {
    let listeners = (0..n)
        .map(|_| TcpListener::bind("127.0.0.1:0"))
        .collect::<io::Result<Vec<_>>>()?;
    listeners
        .iter()
        .map(|l| l.local_addr().map(|a| a.port()))
        .collect()
}

/// One ovsdb-server process serving one database file.
pub struct OvsdbServer {
    dir: PathBuf,
    name: String,
    db: PathBuf,
    port: u16,
    child: Option<Child>,
    _tmp: Option<TempDir>,
}

impl OvsdbServer {
    /// A standalone NB database in a fresh temp dir.
    pub fn start_standalone() -> io::Result<Self> {
        let tmp = tempfile::tempdir()?;
        let db = tmp.path().join("nb.db");
        run("ovsdb-tool", &["create", path_str(&db)?, NB_SCHEMA])?;
        let mut s = Self::new(tmp.path(), "nb", db, free_ports(1)?[0]);
        s._tmp = Some(tmp);
        s.start()?;
        Ok(s)
    }

    fn new(dir: &Path, name: &str, db: PathBuf, port: u16) -> Self {
        OvsdbServer {
            dir: dir.to_path_buf(),
            name: name.into(),
            db,
            port,
            child: None,
            _tmp: None,
        }
    }

    fn file(&self, ext: &str) -> PathBuf {
        self.dir.join(format!("{}.{ext}", self.name))
    }

    pub fn socket(&self) -> PathBuf {
        self.file("sock")
    }

    pub fn unix_remote(&self) -> String {
        format!("unix:{}", self.socket().display())
    }

    pub fn tcp_remote(&self) -> String {
        format!("tcp:127.0.0.1:{}", self.port)
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The database file (`ovsdb-tool show-log` reads its transaction log).
    pub fn db_path(&self) -> &Path {
        &self.db
    }

    pub fn is_running(&self) -> bool {
        self.child.is_some()
    }

    /// Starts (or restarts after [`Self::kill`]) the server on the same
    /// file, socket and port, and waits until it accepts connections.
    pub fn start(&mut self) -> io::Result<()> {
        self.start_with(&[])
    }

    /// Like [`Self::start`] with extra ovsdb-server arguments (e.g. SSL files
    /// and a `pssl:` remote).
    pub fn start_with(&mut self, extra: &[&str]) -> io::Result<()> {
        if self.child.is_some() {
            return Ok(());
        }
        let _ = std::fs::remove_file(self.socket());
        let mut cmd = Command::new("ovsdb-server");
        cmd.arg(&self.db)
            .arg(format!("--remote=punix:{}", self.socket().display()))
            .arg(format!("--remote=ptcp:{}:127.0.0.1", self.port))
            .arg(format!("--unixctl={}", self.file("ctl").display()))
            .arg(format!("--pidfile={}", self.file("pid").display()))
            .arg(format!("--log-file={}", self.file("log").display()))
            .args(extra)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        self.child = Some(cmd.spawn()?);
        let deadline = Instant::now() + READY_TIMEOUT;
        while UnixStream::connect(self.socket()).is_err() {
            if Instant::now() > deadline {
                self.kill();
                return Err(io::Error::other(format!(
                    "ovsdb-server {} not ready; log:\n{}",
                    self.name,
                    self.log()
                )));
            }
            sleep(POLL);
        }
        Ok(())
    }

    /// SIGKILL: no clean shutdown, as in a crash.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    pub fn restart(&mut self) -> io::Result<()> {
        self.kill();
        self.start()
    }

    /// `ovs-appctl -t <this server's ctl> args...`
    pub fn appctl(&self, args: &[&str]) -> io::Result<String> {
        let ctl = self.file("ctl");
        let mut all = vec!["-t", path_str(&ctl)?];
        all.extend_from_slice(args);
        run("ovs-appctl", &all)
    }

    /// The server's log, for failure messages.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.file("log")).unwrap_or_default()
    }
}

impl Drop for OvsdbServer {
    fn drop(&mut self) {
        self.kill();
    }
}

fn path_str(p: &Path) -> io::Result<&str> {
    p.to_str()
        .ok_or_else(|| io::Error::other(format!("non-UTF-8 path {}", p.display())))
}

/// A clustered (Raft) NB database of `n` members in one temp dir.
pub struct NbCluster {
    pub members: Vec<OvsdbServer>,
    _tmp: TempDir,
}

impl NbCluster {
    pub fn start(n: usize) -> io::Result<Self> {
        let tmp = tempfile::tempdir()?;
        let ports = free_ports(2 * n)?;
        let (raft, client) = ports.split_at(n);
        let raft_addr = |i: usize| format!("tcp:127.0.0.1:{}", raft[i]);
        let mut members = Vec::new();
        for (i, port) in client.iter().enumerate() {
            let name = format!("nb{}", i + 1);
            let db = tmp.path().join(format!("{name}.db"));
            if i == 0 {
                run(
                    "ovsdb-tool",
                    &["create-cluster", path_str(&db)?, NB_SCHEMA, &raft_addr(0)],
                )?;
            } else {
                run(
                    "ovsdb-tool",
                    &[
                        "join-cluster",
                        path_str(&db)?,
                        NB_DATABASE,
                        &raft_addr(i),
                        &raft_addr(0),
                    ],
                )?;
            }
            let mut m = OvsdbServer::new(tmp.path(), &name, db, *port);
            m.start()?;
            members.push(m);
        }
        let cluster = NbCluster { members, _tmp: tmp };
        cluster.wait_for_members()?;
        cluster.wait_for_leader(None)?;
        Ok(cluster)
    }

    /// Client remotes (`tcp:`) of all members, in member order.
    pub fn tcp_remotes(&self) -> Vec<String> {
        self.members.iter().map(OvsdbServer::tcp_remote).collect()
    }

    fn status(&self, i: usize) -> Option<String> {
        let m = &self.members[i];
        if !m.is_running() {
            return None;
        }
        m.appctl(&["cluster/status", NB_DATABASE]).ok()
    }

    /// The member that says it is the leader now, if any.
    pub fn leader(&self) -> Option<usize> {
        (0..self.members.len())
            .find(|i| self.status(*i).is_some_and(|s| s.contains("Role: leader")))
    }

    /// Waits for a leader other than `not` (e.g. the one just killed).
    pub fn wait_for_leader(&self, not: Option<usize>) -> io::Result<usize> {
        let deadline = Instant::now() + READY_TIMEOUT;
        loop {
            match self.leader() {
                Some(l) if Some(l) != not => return Ok(l),
                _ if Instant::now() > deadline => {
                    return Err(io::Error::other("no cluster leader elected"))
                }
                _ => sleep(POLL),
            }
        }
    }

    fn wait_for_members(&self) -> io::Result<()> {
        let deadline = Instant::now() + READY_TIMEOUT;
        for i in 0..self.members.len() {
            while !self
                .status(i)
                .is_some_and(|s| s.contains("Status: cluster member"))
            {
                if Instant::now() > deadline {
                    return Err(io::Error::other(format!(
                        "member {i} did not join; log:\n{}",
                        self.members[i].log()
                    )));
                }
                sleep(POLL);
            }
        }
        Ok(())
    }
}

/// A client config for tests against the servers above: the NB database,
/// short backoff so failovers are quick.
/// The incarnation test epochs carry.
pub const TEST_INCARNATION: u128 = 0x7e57_0000_0000_0000_0000_0000_0000_0001;

/// The epoch of a test leader (node `node` leading in `term`).
pub fn epoch(term: u64, node: u64) -> crate::reconcile::Epoch {
    crate::reconcile::Epoch {
        term,
        node,
        incarnation: TEST_INCARNATION,
    }
}

/// A test leadership whose confirmation an explicit gate decides: open, it
/// confirms at once; closed, `confirm` waits up to 100 ms and says no, as a
/// leader would that has no quorum, or whose read-index barrier has not passed.
pub struct GatedLeadership {
    epoch: crate::reconcile::Epoch,
    open: tokio::sync::watch::Sender<bool>,
    confirms: std::sync::atomic::AtomicU64,
}

impl GatedLeadership {
    pub fn new(epoch: crate::reconcile::Epoch, open: bool) -> GatedLeadership {
        GatedLeadership {
            epoch,
            open: tokio::sync::watch::channel(open).0,
            confirms: Default::default(),
        }
    }

    pub fn set_open(&self, open: bool) {
        self.open.send_replace(open);
    }

    /// How many times the driver asked.
    pub fn confirms(&self) -> u64 {
        self.confirms.load(std::sync::atomic::Ordering::SeqCst)
    }
}

impl crate::reconcile::Leadership for GatedLeadership {
    fn epoch(&self) -> crate::reconcile::Epoch {
        self.epoch
    }

    fn confirm(&self) -> crate::reconcile::BoxFuture<'_, bool> {
        self.confirms
            .fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        let mut rx = self.open.subscribe();
        Box::pin(async move {
            tokio::time::timeout(Duration::from_millis(100), rx.wait_for(|o| *o))
                .await
                .is_ok_and(|r| r.is_ok())
        })
    }
}

pub fn nb_config(remotes: &[String]) -> crate::ovsdb::ClientConfig {
    let remotes = remotes
        .iter()
        .map(|r| r.parse().expect("harness remotes are valid"))
        .collect();
    let mut c = crate::ovsdb::ClientConfig::new(NB_DATABASE, remotes);
    c.backoff_min = Duration::from_millis(50);
    c.backoff_max = Duration::from_millis(500);
    c.connect_timeout = Duration::from_secs(3);
    c.initial_connect_timeout = READY_TIMEOUT;
    c.request_timeout = READY_TIMEOUT;
    c
}

/// PEM files of a throwaway PKI made with the `openssl` CLI: one CA, and one
/// key+certificate for the server and one for the client. Like ovs-pki
/// certificates they name no host (no subjectAltName).
pub struct Pki {
    pub ca_cert: PathBuf,
    pub server_key: PathBuf,
    pub server_cert: PathBuf,
    pub client_key: PathBuf,
    pub client_cert: PathBuf,
}

impl Pki {
    pub fn create(dir: &Path) -> io::Result<Pki> {
        let p = |f: &str| dir.join(f);
        let s = |f: &str| p(f).to_string_lossy().into_owned();
        run(
            "openssl",
            &[
                "req",
                "-x509",
                "-newkey",
                "rsa:2048",
                "-nodes",
                "-days",
                "2",
                "-subj",
                "/CN=prismnet-test-ca",
                "-keyout",
                &s("ca.key"),
                "-out",
                &s("ca.pem"),
            ],
        )?;
        let ext = p("leaf.ext");
        std::fs::write(
            &ext,
            "basicConstraints=CA:FALSE\nkeyUsage=digitalSignature,keyEncipherment\n\
             extendedKeyUsage=serverAuth,clientAuth\n",
        )?;
        for who in ["server", "client"] {
            run(
                "openssl",
                &[
                    "req",
                    "-newkey",
                    "rsa:2048",
                    "-nodes",
                    "-subj",
                    &format!("/CN=prismnet-test-{who}"),
                    "-keyout",
                    &s(&format!("{who}.key")),
                    "-out",
                    &s(&format!("{who}.csr")),
                ],
            )?;
            run(
                "openssl",
                &[
                    "x509",
                    "-req",
                    "-days",
                    "2",
                    "-in",
                    &s(&format!("{who}.csr")),
                    "-CA",
                    &s("ca.pem"),
                    "-CAkey",
                    &s("ca.key"),
                    "-CAcreateserial",
                    "-extfile",
                    &s("leaf.ext"),
                    "-out",
                    &s(&format!("{who}.pem")),
                ],
            )?;
        }
        Ok(Pki {
            ca_cert: p("ca.pem"),
            server_key: p("server.key"),
            server_cert: p("server.pem"),
            client_key: p("client.key"),
            client_cert: p("client.pem"),
        })
    }
}

/// `ovn-nbctl --db=<remote> args...` (no waiting for northd).
pub fn nbctl(remote: &str, args: &[&str]) -> io::Result<String> {
    let db = format!("--db={remote}");
    let mut all = vec![db.as_str(), "--no-leader-only"];
    all.extend_from_slice(args);
    run("ovn-nbctl", &all)
}

pub const SB_SCHEMA: &str = "/usr/share/ovn/ovn-sb.ovsschema";

/// A control-plane OVN stack in one temp dir (ovn-lab.md): a standalone NB
/// (an [`OvsdbServer`]), an SB ovsdb-server and ovn-northd. No chassis; use
/// [`OvnStack::trace`] to simulate packets through the logical flows.
pub struct OvnStack {
    pub nb: OvsdbServer,
    sb: Child,
    northd: Child,
    dir: PathBuf,
    _tmp: TempDir,
}

impl OvnStack {
    pub fn start() -> io::Result<OvnStack> {
        let nb = OvsdbServer::start_standalone()?;
        let tmp = tempfile::tempdir()?;
        let dir = tmp.path().to_path_buf();
        let sb_db = dir.join("sb.db");
        run("ovsdb-tool", &["create", path_str(&sb_db)?, SB_SCHEMA])?;
        let sb_sock = dir.join("sb.sock");
        let sb = Command::new("ovsdb-server")
            .arg(&sb_db)
            .arg(format!("--remote=punix:{}", sb_sock.display()))
            .arg(format!("--unixctl={}", dir.join("sb.ctl").display()))
            .arg(format!("--pidfile={}", dir.join("sb.pid").display()))
            .arg(format!("--log-file={}", dir.join("sb.log").display()))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()?;
        let deadline = Instant::now() + READY_TIMEOUT;
        while UnixStream::connect(&sb_sock).is_err() {
            if Instant::now() > deadline {
                return Err(io::Error::other("SB ovsdb-server not ready"));
            }
            sleep(POLL);
        }
        let northd = Command::new("ovn-northd")
            .arg(format!("--ovnnb-db={}", nb.unix_remote()))
            .arg(format!("--ovnsb-db=unix:{}", sb_sock.display()))
            .arg(format!("--unixctl={}", dir.join("northd.ctl").display()))
            .arg(format!("--pidfile={}", dir.join("northd.pid").display()))
            .arg(format!("--log-file={}", dir.join("northd.log").display()))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()?;
        Ok(OvnStack {
            nb,
            sb,
            northd,
            dir,
            _tmp: tmp,
        })
    }

    pub fn sb_remote(&self) -> String {
        format!("unix:{}", self.dir.join("sb.sock").display())
    }

    /// Waits until northd has processed everything in NB
    /// (`ovn-nbctl --wait=sb sync`).
    pub fn wait_northd(&self) -> io::Result<()> {
        let db = format!("--db={}", self.nb.unix_remote());
        run("ovn-nbctl", &[&db, "--timeout=30", "--wait=sb", "sync"]).map(drop)
    }

    /// `ovn-trace --minimal <datapath> <microflow>`: the packet's fate, as
    /// the first packet of a new connection (every conntrack lookup answers
    /// `new`, so stateful ACLs are really evaluated), with full port names
    /// (ovn-trace abbreviates UUID-like names otherwise).
    pub fn trace(&self, datapath: &str, microflow: &str) -> io::Result<String> {
        let db = format!("--db={}", self.sb_remote());
        let mut args = vec![db.as_str(), "--minimal", "--no-friendly-names"];
        args.extend(["--ct=new,trk"; 8]);
        args.extend([datapath, microflow]);
        run("ovn-trace", &args)
    }

    pub fn northd_log(&self) -> String {
        std::fs::read_to_string(self.dir.join("northd.log")).unwrap_or_default()
    }
}

impl Drop for OvnStack {
    fn drop(&mut self) {
        for c in [&mut self.northd, &mut self.sb] {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

/// Watches every change NB makes to the tables we write and NB_Global, from its
/// own connection: how many updates arrived, and which rows were deleted (by
/// table and name).
pub struct NbWatch {
    log: std::sync::Arc<std::sync::Mutex<NbLog>>,
    task: tokio::task::JoinHandle<()>,
}

#[derive(Default, Clone, Debug)]
pub struct NbLog {
    /// Update events (each is one or more committed transactions).
    pub updates: u64,
    /// (table, row name) of every deleted row.
    pub deleted: Vec<(String, String)>,
}

impl NbWatch {
    /// Starts watching through `c` (which it keeps).
    pub async fn start(c: crate::ovsdb::Client) -> NbWatch {
        use crate::nb::Table;
        use crate::ovsdb::{MonitorEvent, MonitorRequest, RowUpdate, TableCache};
        let mut reqs: Vec<MonitorRequest> = Table::ALL
            .iter()
            .map(|t| MonitorRequest::new(t.name()))
            .collect();
        reqs.push(MonitorRequest::new("NB_Global"));
        let mut rx = c.monitor(&reqs).await.expect("monitor");
        let mut cache = TableCache::new(c.schema().clone());
        // The first event is the current contents: not a change.
        let first = rx.recv().await.expect("initial contents");
        cache.apply(&first);
        let log = std::sync::Arc::new(std::sync::Mutex::new(NbLog::default()));
        let l = log.clone();
        let task = tokio::spawn(async move {
            let _keep = c;
            while let Some(ev) = rx.recv().await {
                let mut log = l.lock().unwrap();
                if let MonitorEvent::Update(u) = &ev {
                    log.updates += 1;
                    for (table, rows) in u {
                        for (uuid, up) in rows {
                            if matches!(up, RowUpdate::Delete) {
                                let name = cache
                                    .row(table, uuid)
                                    .and_then(|r| r.get("name")?.as_str().map(String::from))
                                    .unwrap_or_default();
                                log.deleted.push((table.clone(), name));
                            }
                        }
                    }
                }
                drop(log);
                cache.apply(&ev);
            }
        });
        NbWatch { log, task }
    }

    pub fn log(&self) -> NbLog {
        self.log.lock().unwrap().clone()
    }

    /// How many times a row of `table` named `name` was deleted.
    pub fn deletes_of(&self, table: crate::nb::Table, name: &str) -> usize {
        self.log()
            .deleted
            .iter()
            .filter(|(t, n)| t == table.name() && n == name)
            .count()
    }
}

impl Drop for NbWatch {
    fn drop(&mut self) {
        self.task.abort();
    }
}
