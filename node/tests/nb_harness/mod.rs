//! Harness of the NB tests (`ovn_handoff.rs`, `ovn_fence.rs`): three real
//! `prismnetd` processes and one real `ovsdb-server` (OVN NB schema). Its own small
//! harness, not `common/`: every node has its own NB address, so one node's NB path
//! can be cut alone.
//!
//! - NB listens on three TCP addresses, 127.0.0.201..203 (one per node, so one node's
//!   NB path can be cut alone), plus a unix socket the test itself reads NB through.
//! - Nodes listen on 127.0.0.221..223. Every port (NB, Raft, API) comes from
//!   [`PORT_FIRST`]`..+`[`PORT_SPAN`]: above the kernel's ephemeral range
//!   (32768..60999 here) and clear of node/tests/common (10000..20000) and the raft
//!   crate's tests (20000..32000); each process starts at its own offset (pid) and
//!   checks every port with a bind.
//! - The cut is an nftables table of this process (`pn_nb_<pid>_<n>`) dropping
//!   both directions of TCP to the leader's NB address; the table is deleted on drop,
//!   also when the test panics.
//! - Deadlines are liveness bounds (generous, the machine is shared); the measured
//!   handoff time is printed, never asserted.

#![allow(dead_code)]

use std::fmt::Write as _;
use std::fs::File;
use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use prismnet_api::v1;
use prismnet_api::v1::admin_service_client::AdminServiceClient;
use prismnet_api::{ClientConfig, PrismClient};
use prismnet_ovn::ovsdb::{self, Client, Condition, Select, Value};
use prismnet_ovn::reconcile::{fence, Stored};
use tonic::transport::Endpoint;

pub const PORT_FIRST: u32 = 61_000;
pub const PORT_SPAN: u32 = 4_000;
/// Liveness bound of every wait.
pub const WAIT: Duration = Duration::from_secs(60);
pub const POLL: Duration = Duration::from_millis(50);
pub const NB_SCHEMA: &str = "/usr/share/ovn/ovn-nb.ovsschema";

pub fn node_ip(id: u64) -> Ipv4Addr {
    Ipv4Addr::new(127, 0, 0, 220 + u8::try_from(id).expect("small id"))
}

pub fn nb_ip(id: u64) -> Ipv4Addr {
    Ipv4Addr::new(127, 0, 0, 200 + u8::try_from(id).expect("small id"))
}

/// A port free on every address in `ips`, handed out at most once per process.
pub fn free_port(ips: &[Ipv4Addr]) -> u16 {
    static NEXT: AtomicU32 = AtomicU32::new(u32::MAX);
    let seed = std::process::id().wrapping_mul(7919) % PORT_SPAN;
    let _ = NEXT.compare_exchange(u32::MAX, seed, Ordering::SeqCst, Ordering::SeqCst);
    for _ in 0..PORT_SPAN {
        let port = PORT_FIRST + NEXT.fetch_add(1, Ordering::SeqCst) % PORT_SPAN;
        let port = u16::try_from(port).expect("port range");
        if ips.iter().all(|ip| TcpListener::bind((*ip, port)).is_ok()) {
            return port;
        }
    }
    panic!("no free port in {PORT_FIRST}..{}", PORT_FIRST + PORT_SPAN)
}

pub fn unique(what: &str) -> String {
    static SEQ: AtomicU32 = AtomicU32::new(0);
    format!(
        "{what}_{}_{}",
        std::process::id(),
        SEQ.fetch_add(1, Ordering::SeqCst)
    )
}

pub fn run(cmd: &str, args: &[&str]) -> Result<String, String> {
    let out = Command::new(cmd)
        .args(args)
        .output()
        .map_err(|e| format!("{cmd}: {e}"))?;
    if out.status.success() {
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    } else {
        Err(format!(
            "{cmd} {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        ))
    }
}

pub fn tail(path: &Path, lines: usize) -> String {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let all: Vec<&str> = text.lines().collect();
    all[all.len().saturating_sub(lines)..].join("\n")
}

/// One standalone NB ovsdb-server on `127.0.0.201..203:port` and a unix socket.
pub struct Nb {
    pub dir: PathBuf,
    pub port: u16,
    pub child: Option<Child>,
}

impl Nb {
    pub fn start(dir: &Path) -> Nb {
        let db = dir.join("nb.db");
        run(
            "ovsdb-tool",
            &["create", db.to_str().expect("utf-8 path"), NB_SCHEMA],
        )
        .expect("ovsdb-tool create");
        let ips = [nb_ip(1), nb_ip(2), nb_ip(3)];
        let mut nb = Nb {
            dir: dir.to_path_buf(),
            port: free_port(&ips),
            child: None,
        };
        nb.resume();
        nb
    }

    pub fn socket(&self) -> PathBuf {
        self.dir.join("nb.sock")
    }

    /// What node `id` is given: its own NB address.
    pub fn remote_for(&self, id: u64) -> String {
        format!("tcp:{}:{}", nb_ip(id), self.port)
    }

    /// (Re)starts the server on the same file and addresses.
    pub fn resume(&mut self) {
        assert!(self.child.is_none());
        let _ = std::fs::remove_file(self.socket());
        let mut cmd = Command::new("ovsdb-server");
        cmd.arg(self.dir.join("nb.db"))
            .arg(format!("--remote=punix:{}", self.socket().display()))
            .arg(format!("--unixctl={}", self.dir.join("nb.ctl").display()))
            .arg(format!("--log-file={}", self.dir.join("nb.log").display()));
        for id in 1..=3 {
            cmd.arg(format!("--remote=ptcp:{}:{}", self.port, nb_ip(id)));
        }
        self.child = Some(
            cmd.stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .expect("spawning ovsdb-server"),
        );
        let deadline = Instant::now() + WAIT;
        while (1..=3).any(|id| {
            TcpStream::connect_timeout(
                &SocketAddr::from((nb_ip(id), self.port)),
                Duration::from_millis(200),
            )
            .is_err()
        }) || std::os::unix::net::UnixStream::connect(self.socket()).is_err()
        {
            assert!(Instant::now() < deadline, "ovsdb-server did not come up");
            std::thread::sleep(POLL);
        }
    }

    pub fn kill(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// The test's own NB client, over the unix socket (never cut).
    pub async fn client(&self) -> Client {
        let remote = format!("unix:{}", self.socket().display());
        let mut cfg =
            ovsdb::ClientConfig::parse("OVN_Northbound", &[remote.as_str()]).expect("remote");
        cfg.backoff_max = Duration::from_millis(200);
        Client::connect(cfg).await.expect("NB client")
    }
}

impl Drop for Nb {
    fn drop(&mut self) {
        self.kill();
    }
}

/// An nftables table of this process dropping TCP to and from `ip:port`, deleted
/// on drop.
pub struct Cut {
    pub table: String,
}

impl Cut {
    pub fn new(ip: Ipv4Addr, port: u16) -> Cut {
        let table = unique("pn_nb");
        let rules = format!(
            "table inet {table} {{\n\
               chain output {{\n\
                 type filter hook output priority 0; policy accept;\n\
                 ip daddr {ip} tcp dport {port} drop\n\
                 ip saddr {ip} tcp sport {port} drop\n\
               }}\n\
             }}\n"
        );
        let file = std::env::temp_dir().join(format!("{table}.nft"));
        std::fs::write(&file, rules).expect("nft rules file");
        let cut = Cut { table };
        run("nft", &["-f", file.to_str().expect("utf-8 path")]).expect("nft -f");
        let _ = std::fs::remove_file(file);
        cut
    }
}

impl Drop for Cut {
    fn drop(&mut self) {
        if let Err(e) = run("nft", &["delete", "table", "inet", &self.table]) {
            eprintln!("could not delete nft table {}: {e}", self.table);
        }
    }
}

pub struct Node {
    pub id: u64,
    pub raft: SocketAddr,
    pub api: SocketAddr,
    pub dir: PathBuf,
    pub child: Option<Child>,
}

impl Node {
    pub fn log(&self) -> PathBuf {
        self.dir.join("prismnetd.log")
    }
}

/// A SIGSTOPped node, continued (SIGCONT) on drop.
pub struct Paused {
    pid: i32,
}

impl Paused {
    pub fn resume(self) {}
}

impl Drop for Paused {
    fn drop(&mut self) {
        // SAFETY: a signal to our own child process.
        unsafe { libc::kill(self.pid, libc::SIGCONT) };
    }
}

/// Three prismnetd processes, each given only its own NB address. Killed on drop;
/// their logs are printed when the test panics.
pub struct Cluster {
    pub name: String,
    pub nodes: Vec<Node>,
}

impl Cluster {
    pub fn start(tmp: &Path, nb: &Nb) -> Cluster {
        Cluster::start_named(tmp, nb, &Cluster::new_name())
    }

    /// A cluster name no other test process uses.
    pub fn new_name() -> String {
        unique("nbtest").replace('_', "-")
    }

    pub fn start_named(tmp: &Path, nb: &Nb, name: &str) -> Cluster {
        let name = name.to_string();
        let mut nodes: Vec<Node> = (1..=3)
            .map(|id| {
                let ip = node_ip(id);
                let dir = tmp.join(format!("node-{id}"));
                std::fs::create_dir_all(&dir).expect("node dir");
                Node {
                    id,
                    raft: SocketAddr::from((ip, free_port(&[ip]))),
                    api: SocketAddr::from((ip, free_port(&[ip]))),
                    dir,
                    child: None,
                }
            })
            .collect();
        let peers = nodes
            .iter()
            .map(|n| format!("{}={}/{}", n.id, n.raft, n.api))
            .collect::<Vec<_>>()
            .join(",");
        for n in &mut nodes {
            let log = File::create(n.log()).expect("log file");
            let mut cmd = Command::new(env!("CARGO_BIN_EXE_prismnetd"));
            cmd.arg("--id")
                .arg(n.id.to_string())
                .arg("--data-dir")
                .arg(n.dir.join("data"))
                .arg("--peers")
                .arg(&peers)
                .arg("--ovn-nb")
                .arg(nb.remote_for(n.id))
                .arg("--cluster-name")
                .arg(&name)
                .args(["--log-level", "info"]);
            for (k, _) in std::env::vars_os() {
                if k.to_string_lossy().starts_with("PRISMNETD_") {
                    cmd.env_remove(k);
                }
            }
            n.child = Some(
                cmd.env("NO_COLOR", "1")
                    .stdin(Stdio::null())
                    .stdout(log.try_clone().expect("log fd"))
                    .stderr(log)
                    .spawn()
                    .expect("spawning prismnetd"),
            );
        }
        Cluster { name, nodes }
    }

    /// Stops node `id` with SIGSTOP until the guard is dropped (SIGCONT), also
    /// when the test panics.
    pub fn pause(&self, id: u64) -> Paused {
        let pid = self.node(id).child.as_ref().expect("running").id();
        let pid = i32::try_from(pid).expect("pid");
        // SAFETY: signals to our own child process.
        assert_eq!(unsafe { libc::kill(pid, libc::SIGSTOP) }, 0, "SIGSTOP");
        Paused { pid }
    }

    /// The API endpoints of `ids`, as `http://` URIs.
    pub fn endpoints(&self, ids: &[u64]) -> Vec<String> {
        ids.iter()
            .map(|id| format!("http://{}", self.node(*id).api))
            .collect()
    }

    pub fn node(&self, id: u64) -> &Node {
        &self.nodes[usize::try_from(id - 1).expect("id")]
    }

    pub async fn status(&self, id: u64) -> Option<v1::ClusterStatusResponse> {
        let channel = Endpoint::from_shared(format!("http://{}", self.node(id).api))
            .ok()?
            .connect_timeout(Duration::from_millis(500))
            .timeout(Duration::from_secs(2))
            .connect()
            .await
            .ok()?;
        AdminServiceClient::new(channel)
            .cluster_status(v1::ClusterStatusRequest {})
            .await
            .ok()
            .map(tonic::Response::into_inner)
    }

    /// (leader, term) when every node in `ids` names the same leader in the same
    /// term and the leader says it leads.
    pub async fn agreed_leader(&self, ids: &[u64]) -> Option<(u64, u64)> {
        let mut seen = Vec::new();
        for id in ids {
            seen.push(self.status(*id).await?);
        }
        let leader = seen[0].leader_id?;
        let term = seen[0].term;
        let agree = seen
            .iter()
            .all(|s| s.leader_id == Some(leader) && s.term == term);
        let says_so = seen.iter().any(|s| {
            s.node_id == leader
                && s.nodes
                    .iter()
                    .any(|n| n.id == leader && n.role == v1::NodeRole::Leader as i32)
        });
        (agree && says_so).then_some((leader, term))
    }

    pub async fn wait_leader(&self, ids: &[u64]) -> (u64, u64) {
        let deadline = Instant::now() + WAIT;
        loop {
            if let Some(found) = self.agreed_leader(ids).await {
                return found;
            }
            assert!(Instant::now() < deadline, "no agreed leader among {ids:?}");
            tokio::time::sleep(POLL).await;
        }
    }

    /// Highest term any node reports now.
    pub async fn max_term(&self) -> Option<u64> {
        let mut max = None;
        for id in 1..=3 {
            if let Some(s) = self.status(id).await {
                max = max.max(Some(s.term));
            }
        }
        max
    }

    pub async fn client(&self) -> PrismClient {
        PrismClient::connect(ClientConfig {
            connect_timeout: Duration::from_secs(1),
            ..ClientConfig::new(self.nodes.iter().map(|n| format!("http://{}", n.api)))
        })
        .await
        .expect("client")
    }

    /// Lines of node `id`'s log that mean its NB driver wrote or started.
    pub fn driver_writes(&self, id: u64) -> usize {
        std::fs::read_to_string(self.node(id).log())
            .unwrap_or_default()
            .lines()
            .filter(|l| {
                l.contains("NB reconcile pass")
                    || l.contains("claimed the NB fence")
                    || l.contains("starting the OVN NB driver")
            })
            .count()
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        for n in &mut self.nodes {
            if let Some(mut c) = n.child.take() {
                let _ = c.kill();
                let _ = c.wait();
            }
        }
        if std::thread::panicking() {
            let mut out = String::new();
            for n in &self.nodes {
                let _ = writeln!(
                    out,
                    "===== {} node {} log =====\n{}",
                    self.name,
                    n.id,
                    tail(&n.log(), 120)
                );
            }
            eprintln!("{out}");
        }
    }
}

pub async fn fence_of(nb: &Client, cluster: &str) -> Option<Stored> {
    fence::read(nb, cluster).await.ok()
}

/// Whether the fence names the leadership (term, node).
pub fn names(stored: &Option<Stored>, term: u64, node: u64) -> bool {
    matches!(stored, Some(Stored::Epoch(e)) if e.leader() == (term, node))
}

pub async fn wait_fence(nb: &Client, cluster: &str, term: u64, node: u64) -> Duration {
    let start = Instant::now();
    loop {
        let got = fence_of(nb, cluster).await;
        if names(&got, term, node) {
            return start.elapsed();
        }
        assert!(
            start.elapsed() < WAIT,
            "NB fence never named term {term} node {node}: {got:?}"
        );
        tokio::time::sleep(POLL).await;
    }
}

/// Whether NB has a row named `name` in `table`.
pub async fn has_row(nb: &Client, table: &str, name: &str) -> bool {
    let op = Select::new(table)
        .filter(Condition::eq("name", Value::from(name)))
        .into();
    nb.transact(&[op])
        .await
        .ok()
        .and_then(|r| r.rows(0).map(|rows| !rows.is_empty()))
        .unwrap_or(false)
}

pub async fn wait_row(nb: &Client, table: &str, name: &str) -> Duration {
    let start = Instant::now();
    while !has_row(nb, table, name).await {
        assert!(
            start.elapsed() < WAIT,
            "{table} {name} never appeared in NB"
        );
        tokio::time::sleep(POLL).await;
    }
    start.elapsed()
}

/// VPC, subnet and port through the API; returns (vpc, subnet, port) ids.
pub async fn topology(client: &PrismClient) -> (String, String, String) {
    let vpc = client
        .create_vpc(v1::CreateVpcRequest {
            project: "handoff".into(),
            name: "vpc".into(),
            cidr_blocks: vec!["10.40.0.0/16".into()],
            ..Default::default()
        })
        .await
        .expect("create vpc");
    let subnet = client
        .create_subnet(v1::CreateSubnetRequest {
            vpc_id: vpc.id.clone(),
            name: "net".into(),
            ipv4_cidr: "10.40.1.0/24".into(),
            ..Default::default()
        })
        .await
        .expect("create subnet");
    let port = create_port(client, &subnet.id, "vm-1").await;
    (vpc.id, subnet.id, port)
}

pub async fn create_port(client: &PrismClient, subnet: &str, device: &str) -> String {
    client
        .create_port(v1::CreatePortRequest {
            subnet_id: subnet.into(),
            device_id: device.into(),
            ..Default::default()
        })
        .await
        .expect("create port")
        .port
        .expect("port")
        .id
}

pub fn temp_dir() -> tempfile::TempDir {
    tempfile::Builder::new()
        .prefix("prismnet-handoff-")
        .tempdir()
        .expect("temp dir")
}
