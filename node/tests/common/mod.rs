//! End-to-end harness: real `prismnetd` processes on real sockets.
//!
//! - Node `i` listens on `127.0.0.(10+i)`, with its Raft and API ports taken from
//!   [`PORT_FIRST`]`..+`[`PORT_SPAN`]: below the raft crate's test range (20000..32000)
//!   and below the kernel's ephemeral range, so a stopped node's port is not handed to
//!   an outgoing connection before the node restarts on it. Each test process starts
//!   at its own offset in the range (from its pid) and checks every port with a bind,
//!   so concurrent test binaries rarely meet.
//! - Each node has its own directory: `data/` (the data dir) and `prismnetd.log`
//!   (stdout and stderr of every run, appended). When a test panics, the logs of every
//!   node are printed as the cluster is dropped.
//! - Dropping the [`Cluster`] SIGKILLs every process it started (also on panic).
//! - Wait helpers poll with generous timeouts ([`WAIT`]); nothing asserts on speed.

#![allow(dead_code)] // each test binary uses its own part of the harness

use std::collections::BTreeMap;
use std::fs::File;
use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use prismnet_api::v1;
use prismnet_api::v1::admin_service_client::AdminServiceClient;
use prismnet_api::{ClientConfig, PrismClient};
use tempfile::TempDir;
use tonic::transport::{Channel, Endpoint};

/// How long any liveness wait may take before the test fails.
pub const WAIT: Duration = Duration::from_secs(60);
/// Poll interval of the wait helpers.
pub const POLL: Duration = Duration::from_millis(50);

pub const PORT_FIRST: u32 = 10_000;
pub const PORT_SPAN: u32 = 10_000;

/// The address node `id` listens on.
pub fn node_ip(id: u64) -> Ipv4Addr {
    node_ip_from(10, id)
}

/// The address node `id` listens on when node addresses start after `base`.
pub fn node_ip_from(base: u8, id: u64) -> Ipv4Addr {
    let last = u8::try_from(u64::from(base) + id).expect("node address within 127.0.0.0/24");
    Ipv4Addr::new(127, 0, 0, last)
}

/// Where a test binary's nodes listen, when not on the shared defaults: node `i` on
/// `127.0.0.(ip_base + i)`, ports from `port_first..port_first + port_span`.
#[derive(Clone, Copy, Debug)]
pub struct Net {
    pub ip_base: u8,
    pub port_first: u32,
    pub port_span: u32,
}

/// A port free on `ip` in `first..first + span`, handed out at most once per test
/// process (a range of its own, independent of [`free_port`]'s).
pub fn free_port_in(ip: Ipv4Addr, first: u32, span: u32) -> u16 {
    static NEXT: AtomicU32 = AtomicU32::new(u32::MAX);
    let seed = std::process::id().wrapping_mul(7919) % span;
    let _ = NEXT.compare_exchange(u32::MAX, seed, Ordering::SeqCst, Ordering::SeqCst);
    for _ in 0..span {
        let port = first + NEXT.fetch_add(1, Ordering::SeqCst) % span;
        let port = u16::try_from(port).expect("port range");
        if TcpListener::bind((ip, port)).is_ok() {
            return port;
        }
    }
    panic!("no free port on {ip} in {first}..{}", first + span)
}

/// A port free on `ip`, handed out at most once per test process.
pub fn free_port(ip: Ipv4Addr) -> u16 {
    static NEXT: AtomicU32 = AtomicU32::new(u32::MAX);
    static WARNED: OnceLock<()> = OnceLock::new();
    WARNED.get_or_init(warn_if_ephemeral_overlap);
    let seed = std::process::id().wrapping_mul(7919) % PORT_SPAN;
    let _ = NEXT.compare_exchange(u32::MAX, seed, Ordering::SeqCst, Ordering::SeqCst);
    for _ in 0..PORT_SPAN {
        let port = PORT_FIRST + NEXT.fetch_add(1, Ordering::SeqCst) % PORT_SPAN;
        let port = u16::try_from(port).expect("port range");
        if TcpListener::bind((ip, port)).is_ok() {
            return port;
        }
    }
    panic!(
        "no free port on {ip} in {PORT_FIRST}..{}",
        PORT_FIRST + PORT_SPAN
    )
}

fn warn_if_ephemeral_overlap() {
    let Ok(text) = std::fs::read_to_string("/proc/sys/net/ipv4/ip_local_port_range") else {
        return;
    };
    let mut it = text
        .split_whitespace()
        .filter_map(|s| s.parse::<u32>().ok());
    if let (Some(lo), Some(hi)) = (it.next(), it.next()) {
        if lo < PORT_FIRST + PORT_SPAN && hi >= PORT_FIRST {
            eprintln!(
                "warning: test ports {PORT_FIRST}..{} overlap the ephemeral range {lo}..{hi}; \
                 a restarted node may find its port taken",
                PORT_FIRST + PORT_SPAN
            );
        }
    }
}

/// The `prismnetd` binary cargo built for this test.
pub fn prismnetd() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_prismnetd"))
}

/// The `prismctl` binary next to `prismnetd`. Cargo builds only this package's
/// binaries for its tests (a dev-dependency's binaries are never built), so a missing
/// or stale `prismctl` is built here, once per test process. A `cargo test
/// --workspace` has built a fresh one already (the CLI's own tests need it); building
/// it again with `-p prismnet-cli` would resolve features differently and rebuild
/// shared dependencies for minutes, hence the freshness check first.
pub fn prismctl() -> PathBuf {
    static BUILT: OnceLock<PathBuf> = OnceLock::new();
    BUILT
        .get_or_init(|| {
            let daemon = prismnetd();
            let profile_dir = daemon.parent().expect("binary dir").to_path_buf();
            let bin = profile_dir.join("prismctl");
            if is_fresh(&bin) {
                return bin;
            }
            let target_dir = profile_dir.parent().expect("target dir").to_path_buf();
            let mut cmd = Command::new(env!("CARGO"));
            cmd.args([
                "build",
                "--quiet",
                "-p",
                "prismnet-cli",
                "--bin",
                "prismctl",
            ])
            .current_dir(env!("CARGO_MANIFEST_DIR"))
            .env("CARGO_TARGET_DIR", &target_dir);
            if profile_dir.file_name().is_some_and(|p| p == "release") {
                cmd.arg("--release");
            }
            let status = cmd.status().expect("running cargo build for prismctl");
            assert!(status.success(), "cargo build of prismctl failed: {status}");
            assert!(bin.exists(), "{} missing after the build", bin.display());
            bin
        })
        .clone()
}

/// Whether `bin` is newer than every source it is built from (the CLI, the API
/// crate and its protos, the lock file).
fn is_fresh(bin: &Path) -> bool {
    fn newest(path: &Path) -> std::time::SystemTime {
        let Ok(meta) = std::fs::metadata(path) else {
            return std::time::SystemTime::UNIX_EPOCH;
        };
        let mut t = meta.modified().unwrap_or(std::time::SystemTime::UNIX_EPOCH);
        if meta.is_dir() {
            for entry in std::fs::read_dir(path).into_iter().flatten().flatten() {
                t = t.max(newest(&entry.path()));
            }
        }
        t
    }
    let Ok(built) = std::fs::metadata(bin).and_then(|m| m.modified()) else {
        return false;
    };
    let root = Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("workspace root");
    [
        "cli/src",
        "cli/Cargo.toml",
        "api/src",
        "api/proto",
        "api/build.rs",
        "api/Cargo.toml",
        "Cargo.lock",
    ]
    .iter()
    .all(|p| newest(&root.join(p)) <= built)
}

/// What every node of a cluster is started with.
#[derive(Clone, Debug, Default)]
pub struct Options {
    /// Contents of a tokens file (`--tokens-file`); `None` runs in dev mode.
    pub tokens: Option<String>,
    /// The token the harness itself uses (ClusterStatus, clients); an admin's.
    pub admin_token: Option<String>,
    /// More flags for every node, e.g. timings.
    pub args: Vec<String>,
    /// Addresses and ports; `None`: 127.0.0.(10+i), [`PORT_FIRST`]..
    pub net: Option<Net>,
}

pub struct Node {
    pub id: u64,
    pub raft_addr: SocketAddr,
    pub api_addr: SocketAddr,
    pub dir: PathBuf,
    /// Started with `--join` (no peer list) instead of the initial peers.
    pub join: bool,
    /// More flags for this node only (after [`Options::args`]).
    pub args: Vec<String>,
    child: Option<Child>,
}

impl Node {
    pub fn data_dir(&self) -> PathBuf {
        self.dir.join("data")
    }

    pub fn log_path(&self) -> PathBuf {
        self.dir.join("prismnetd.log")
    }

    /// `http://host:port` of the API.
    pub fn endpoint(&self) -> String {
        format!("http://{}", self.api_addr)
    }

    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }
}

pub struct Cluster {
    pub name: String,
    pub nodes: BTreeMap<u64, Node>,
    pub opts: Options,
    /// `--peers` of the initial members.
    peers: String,
    tmp: TempDir,
}

impl Cluster {
    /// Prepares nodes `1..=n` (ports, directories); starts none.
    pub fn new(n: u64, opts: Options) -> Cluster {
        static SEQ: AtomicU32 = AtomicU32::new(0);
        let name = format!(
            "test-{}-{}",
            std::process::id(),
            SEQ.fetch_add(1, Ordering::SeqCst)
        );
        let tmp = tempfile::Builder::new()
            .prefix("prismnet-e2e-")
            .tempdir()
            .expect("temp dir");
        if let Some(tokens) = &opts.tokens {
            std::fs::write(tmp.path().join("tokens.toml"), tokens).expect("tokens file");
        }
        let mut c = Cluster {
            name,
            nodes: BTreeMap::new(),
            opts,
            peers: String::new(),
            tmp,
        };
        for id in 1..=n {
            c.add_node_spec(id, false);
        }
        c.peers = c
            .nodes
            .values()
            .map(|n| format!("{}={}/{}", n.id, n.raft_addr, n.api_addr))
            .collect::<Vec<_>>()
            .join(",");
        c
    }

    /// Prepares a node that starts with `--join` (not in the initial peer list).
    pub fn add_joiner(&mut self, id: u64) -> &Node {
        self.add_node_spec(id, true);
        &self.nodes[&id]
    }

    fn add_node_spec(&mut self, id: u64, join: bool) {
        assert!(!self.nodes.contains_key(&id), "node {id} exists");
        let net = self.opts.net;
        let ip = net.map_or(node_ip(id), |n| node_ip_from(n.ip_base, id));
        let port = |ip| match net {
            None => free_port(ip),
            Some(n) => free_port_in(ip, n.port_first, n.port_span),
        };
        let (raft_port, api_port) = (port(ip), port(ip));
        let dir = self.tmp.path().join(format!("node-{id}"));
        std::fs::create_dir_all(&dir).expect("node dir");
        self.nodes.insert(
            id,
            Node {
                id,
                raft_addr: SocketAddr::from((ip, raft_port)),
                api_addr: SocketAddr::from((ip, api_port)),
                dir,
                join,
                args: Vec::new(),
                child: None,
            },
        );
    }

    /// Starts the node (again, on the same data dir if it ran before) and waits until
    /// its API accepts connections.
    pub fn start(&mut self, id: u64) {
        self.launch(id);
        let api = self.nodes[&id].api_addr;
        self.wait_until(
            &format!("node {id}'s API at {api} accepts connections"),
            |c| {
                c.check_alive(id);
                TcpStream::connect_timeout(&api, Duration::from_millis(200)).is_ok()
            },
        );
    }

    /// Spawns the node's process and returns at once (it may still exit, see
    /// [`Cluster::wait_exit`]).
    pub fn launch(&mut self, id: u64) {
        let tokens = self.tmp.path().join("tokens.toml");
        let node = self.nodes.get_mut(&id).expect("known node");
        assert!(node.child.is_none(), "node {id} is already running");
        let log = File::options()
            .create(true)
            .append(true)
            .open(node.log_path())
            .expect("log file");
        let mut cmd = Command::new(prismnetd());
        cmd.arg("--id")
            .arg(id.to_string())
            .arg("--data-dir")
            .arg(node.data_dir())
            .arg("--raft-addr")
            .arg(node.raft_addr.to_string())
            .arg("--api-addr")
            .arg(node.api_addr.to_string())
            .arg("--cluster-name")
            .arg(&self.name)
            .args(["--log-level", "info"]);
        if node.join {
            cmd.arg("--join");
        } else {
            cmd.arg("--peers").arg(&self.peers);
        }
        if self.opts.tokens.is_some() {
            cmd.arg("--tokens-file").arg(&tokens);
        }
        cmd.args(&self.opts.args);
        cmd.args(&node.args);
        // Only the flags above configure the node.
        for (k, _) in std::env::vars_os() {
            if k.to_string_lossy().starts_with("PRISMNETD_") {
                cmd.env_remove(k);
            }
        }
        cmd.env("NO_COLOR", "1")
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("log fd"))
            .stderr(log);
        // Drop kills the nodes, but a test process that is itself killed (a CI
        // timeout) runs no Drop: the kernel then kills them when the thread that
        // started them exits (the test's own thread, which outlives the cluster).
        // SAFETY: prctl(2) is async-signal-safe; nothing else runs in the child.
        unsafe {
            std::os::unix::process::CommandExt::pre_exec(&mut cmd, || {
                if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL) == -1 {
                    return Err(std::io::Error::last_os_error());
                }
                Ok(())
            });
        }
        node.child = Some(cmd.spawn().expect("spawning prismnetd"));
    }

    /// Waits up to `timeout` for the node's process to exit on its own; returns
    /// how it exited, or `None` if it is still running.
    pub fn wait_exit(&mut self, id: u64, timeout: Duration) -> Option<ExitStatus> {
        let node = self.nodes.get_mut(&id).expect("known node");
        let child = node.child.as_mut().expect("node was started");
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(status) = child.try_wait().expect("try_wait") {
                node.child = None;
                return Some(status);
            }
            if Instant::now() > deadline {
                return None;
            }
            std::thread::sleep(POLL);
        }
    }

    pub fn start_all(&mut self) {
        let ids: Vec<u64> = self.nodes.keys().copied().collect();
        for id in ids {
            self.start(id);
        }
    }

    /// Panics (with the node's log) if the node's process has exited.
    fn check_alive(&mut self, id: u64) {
        let node = self.nodes.get_mut(&id).expect("known node");
        if let Some(child) = node.child.as_mut() {
            if let Ok(Some(status)) = child.try_wait() {
                node.child = None;
                panic!(
                    "node {id} exited unexpectedly ({status}); its log:\n{}",
                    tail(&node.log_path(), 80)
                );
            }
        }
    }

    pub fn is_running(&self, id: u64) -> bool {
        self.nodes[&id].child.is_some()
    }

    pub fn running(&self) -> Vec<u64> {
        self.nodes
            .values()
            .filter(|n| n.child.is_some())
            .map(|n| n.id)
            .collect()
    }

    /// SIGKILL: no chance to flush or say goodbye.
    pub fn kill(&mut self, id: u64) {
        let node = self.nodes.get_mut(&id).expect("known node");
        let mut child = node.child.take().expect("node is running");
        let _ = child.kill();
        let _ = child.wait();
    }

    /// SIGTERM, then waits for the process to exit and returns how it exited. A node
    /// that does not exit within [`WAIT`] is killed and the test fails.
    pub fn terminate(&mut self, id: u64) -> ExitStatus {
        let node = self.nodes.get_mut(&id).expect("known node");
        let child = node.child.as_mut().expect("node is running");
        let pid = libc::pid_t::try_from(child.id()).expect("pid");
        // SAFETY: kill(2) on a child we started and have not reaped yet.
        let rc = unsafe { libc::kill(pid, libc::SIGTERM) };
        assert_eq!(rc, 0, "SIGTERM to node {id}");
        let deadline = Instant::now() + WAIT;
        loop {
            if let Some(status) = child.try_wait().expect("try_wait") {
                node.child = None;
                return status;
            }
            if Instant::now() > deadline {
                let _ = child.kill();
                let _ = child.wait();
                node.child = None;
                panic!("node {id} did not exit within {WAIT:?} of SIGTERM");
            }
            std::thread::sleep(POLL);
        }
    }

    /// SIGSTOPs the node: its sockets stay open and the kernel keeps accepting
    /// connections and bytes for it, but it answers nothing (like a long GC pause, a
    /// frozen VM or a host that black-holes its traffic). Waits until the process is
    /// stopped. The node runs again when the returned guard is dropped (also on panic)
    /// or [`Paused::resume`]d.
    pub fn pause(&self, id: u64) -> Paused {
        let pid = self.nodes[&id].pid().expect("node is running");
        let pid = libc::pid_t::try_from(pid).expect("pid");
        // SAFETY: kill(2) on a child we started and have not reaped yet.
        let rc = unsafe { libc::kill(pid, libc::SIGSTOP) };
        assert_eq!(rc, 0, "SIGSTOP to node {id}");
        let paused = Paused {
            id,
            pid,
            resumed: false,
        };
        wait_for(&format!("node {id} is stopped"), || {
            proc_state(pid) == Some('T')
        });
        paused
    }

    pub fn node(&self, id: u64) -> &Node {
        &self.nodes[&id]
    }

    pub fn endpoint(&self, id: u64) -> String {
        self.nodes[&id].endpoint()
    }

    /// A client of the library given exactly these nodes' API endpoints.
    pub async fn client(&self, ids: &[u64]) -> PrismClient {
        self.client_with_token(ids, self.opts.admin_token.as_deref())
            .await
    }

    pub async fn client_with_token(&self, ids: &[u64], token: Option<&str>) -> PrismClient {
        PrismClient::connect(ClientConfig {
            token: token.map(String::from),
            connect_timeout: Duration::from_secs(1),
            ..ClientConfig::new(ids.iter().map(|id| self.endpoint(*id)))
        })
        .await
        .expect("client config")
    }

    /// A client given every node of the cluster.
    pub async fn client_all(&self) -> PrismClient {
        let ids: Vec<u64> = self.nodes.keys().copied().collect();
        self.client(&ids).await
    }

    /// A raw tonic channel to one node (no redirects, no retries).
    pub fn channel(&self, id: u64) -> Channel {
        Endpoint::from_shared(self.endpoint(id))
            .expect("endpoint")
            .connect_timeout(Duration::from_secs(1))
            .timeout(Duration::from_secs(20))
            .connect_lazy()
    }

    /// A request carrying the harness's admin token, if the cluster has tokens.
    pub fn request<T>(&self, msg: T) -> tonic::Request<T> {
        with_token(msg, self.opts.admin_token.as_deref())
    }

    /// ClusterStatus as node `id` answers it itself.
    pub async fn status(&self, id: u64) -> Result<v1::ClusterStatusResponse, tonic::Status> {
        let mut client = AdminServiceClient::new(self.channel(id));
        let mut req = self.request(v1::ClusterStatusRequest {});
        req.set_timeout(Duration::from_secs(2));
        client.cluster_status(req).await.map(|r| r.into_inner())
    }

    /// Polls `check` (every [`POLL`]) until it holds; fails the test after [`WAIT`].
    pub fn wait_until(&mut self, what: &str, mut check: impl FnMut(&mut Cluster) -> bool) {
        let deadline = Instant::now() + WAIT;
        while !check(self) {
            assert!(Instant::now() < deadline, "timed out waiting until {what}");
            std::thread::sleep(POLL);
        }
    }

    /// Waits until every node in `ids` reports the same leader (one of them, which
    /// reports itself as leader) in the same term. Returns (leader, term).
    pub async fn wait_leader(&self, ids: &[u64]) -> (u64, u64) {
        let deadline = Instant::now() + WAIT;
        loop {
            let mut views = Vec::new();
            for id in ids {
                views.push((*id, self.status(*id).await));
            }
            if let Some(found) = agreed_leader(&views) {
                return found;
            }
            if Instant::now() > deadline {
                let seen: Vec<String> = views
                    .iter()
                    .map(|(id, v)| match v {
                        Ok(s) => format!("{id}: leader {:?} term {}", s.leader_id, s.term),
                        Err(e) => format!("{id}: {e}"),
                    })
                    .collect();
                panic!("no agreed leader among {ids:?} within {WAIT:?}: {seen:?}");
            }
            tokio::time::sleep(POLL).await;
        }
    }

    /// Waits until every node in `ids` has applied the same index, all it knows to be
    /// committed, and returns it. Call once writes have stopped.
    pub async fn wait_applied_equal(&self, ids: &[u64]) -> u64 {
        let deadline = Instant::now() + WAIT;
        loop {
            let mut seen = Vec::new();
            for id in ids {
                seen.push(
                    self.status(*id)
                        .await
                        .map(|s| (s.applied_index, s.commit_index)),
                );
            }
            let applied: Vec<u64> = seen
                .iter()
                .filter_map(|s| s.as_ref().ok())
                .filter(|(a, c)| a == c)
                .map(|(a, _)| *a)
                .collect();
            if applied.len() == ids.len() && applied.iter().all(|a| *a == applied[0]) {
                return applied[0];
            }
            if Instant::now() > deadline {
                panic!("applied indexes of {ids:?} never met: {seen:?}");
            }
            tokio::time::sleep(POLL).await;
        }
    }

    /// The last `lines` lines of every node's log.
    pub fn logs(&self, lines: usize) -> String {
        let mut out = String::new();
        for n in self.nodes.values() {
            out.push_str(&format!(
                "===== node {} ({}) log, last {lines} lines =====\n{}\n",
                n.id,
                n.log_path().display(),
                tail(&n.log_path(), lines)
            ));
        }
        out
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        for n in self.nodes.values_mut() {
            if let Some(mut child) = n.child.take() {
                let _ = child.kill();
                let _ = child.wait();
            }
        }
        if std::thread::panicking() {
            eprintln!("cluster {} failed; node logs follow", self.name);
            eprintln!("{}", self.logs(150));
        }
    }
}

/// A node stopped by [`Cluster::pause`]; SIGCONTs it when dropped.
pub struct Paused {
    pub id: u64,
    pid: libc::pid_t,
    resumed: bool,
}

impl Paused {
    /// SIGCONTs the node and waits until it runs again.
    pub fn resume(mut self) {
        self.cont();
        let pid = self.pid;
        wait_for(&format!("node {} runs again", self.id), || {
            proc_state(pid) != Some('T')
        });
    }

    fn cont(&mut self) {
        if !self.resumed {
            self.resumed = true;
            // SAFETY: kill(2) on a child of this process, stopped by us.
            unsafe { libc::kill(self.pid, libc::SIGCONT) };
        }
    }
}

impl Drop for Paused {
    fn drop(&mut self) {
        self.cont();
    }
}

/// The state letter of a process (`/proc/<pid>/stat`: R, S, T = stopped, ...).
fn proc_state(pid: libc::pid_t) -> Option<char> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name is in parentheses and may hold spaces: the state follows
    // the last ')'.
    stat.rsplit_once(')')?.1.trim_start().chars().next()
}

/// Polls `check` (every [`POLL`]) until it holds; fails the test after [`WAIT`].
fn wait_for(what: &str, mut check: impl FnMut() -> bool) {
    let deadline = Instant::now() + WAIT;
    while !check() {
        assert!(Instant::now() < deadline, "timed out waiting until {what}");
        std::thread::sleep(POLL);
    }
}

fn agreed_leader(
    views: &[(u64, Result<v1::ClusterStatusResponse, tonic::Status>)],
) -> Option<(u64, u64)> {
    let (_, first) = views.first()?;
    let first = first.as_ref().ok()?;
    let leader = first.leader_id?;
    let term = first.term;
    let all_agree = views.iter().all(|(_, v)| {
        v.as_ref()
            .is_ok_and(|s| s.leader_id == Some(leader) && s.term == term)
    });
    let leader_says_so = views.iter().any(|(id, v)| {
        *id == leader
            && v.as_ref().is_ok_and(|s| {
                s.nodes
                    .iter()
                    .any(|n| n.id == leader && n.role == v1::NodeRole::Leader as i32)
            })
    });
    (all_agree && leader_says_so).then_some((leader, term))
}

pub fn with_token<T>(msg: T, token: Option<&str>) -> tonic::Request<T> {
    let mut req = tonic::Request::new(msg);
    if let Some(t) = token {
        req.metadata_mut().insert(
            prismnet_api::metadata::AUTHORIZATION_HEADER,
            format!("Bearer {t}").parse().expect("token header"),
        );
    }
    req
}

fn tail(path: &Path, lines: usize) -> String {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| format!("<{e}>"));
    let all: Vec<&str> = text.lines().collect();
    all[all.len().saturating_sub(lines)..].join("\n")
}

/// A fresh request id.
pub fn rid() -> String {
    prismnet_api::client::new_request_id()
}

/// Every page of a list call, concatenated.
pub async fn all_pages<T, F, Fut>(mut page: F) -> Vec<T>
where
    F: FnMut(String) -> Fut,
    Fut: std::future::Future<Output = (Vec<T>, String)>,
{
    let mut out = Vec::new();
    let mut token = String::new();
    loop {
        let (items, next) = page(token).await;
        out.extend(items);
        if next.is_empty() {
            return out;
        }
        token = next;
    }
}

/// What a port's identity and addresses are, for comparing what nodes store
/// with what clients were acknowledged.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct PortFacts {
    pub id: String,
    pub device_id: String,
    pub mac: String,
    pub ips: Vec<String>,
}

impl From<&v1::Port> for PortFacts {
    fn from(p: &v1::Port) -> Self {
        PortFacts {
            id: p.id.clone(),
            device_id: p.device_id.clone(),
            mac: p.mac_address.clone(),
            ips: p.fixed_ips.iter().map(|f| f.ip_address.clone()).collect(),
        }
    }
}

/// Every port of a subnet (all pages), in the order the API lists them.
pub async fn subnet_ports(client: &PrismClient, subnet_id: &str) -> Vec<PortFacts> {
    all_pages(|token| async move {
        let r = client
            .list_ports(v1::ListPortsRequest {
                subnet_id: subnet_id.into(),
                page_size: 1000,
                page_token: token,
                ..Default::default()
            })
            .await
            .expect("list ports");
        (r.ports, r.next_page_token)
    })
    .await
    .iter()
    .map(PortFacts::from)
    .collect()
}

/// Runs the `openssl` command in `dir` (test certificates); panics on failure.
pub fn openssl(dir: &Path, args: &[&str]) {
    let ok = Command::new("openssl")
        .args(args)
        .current_dir(dir)
        .stderr(Stdio::null())
        .status()
        .expect("openssl")
        .success();
    assert!(ok, "openssl {args:?} failed");
}

/// A self-signed test CA in `dir`: `ca.pem`, `ca.key`.
pub fn test_ca(dir: &Path, common_name: &str) {
    std::fs::create_dir_all(dir).expect("pki dir");
    let subject = format!("/CN={common_name}");
    openssl(
        dir,
        &[
            "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", "ca.key", "-out", "ca.pem",
            "-days", "2", "-subj", &subject,
        ],
    );
}

/// `NAME.pem` / `NAME.key` in `dir`, signed by the CA of [`test_ca`] there, with
/// the X.509 extensions `ext` (openssl extfile lines, e.g. `subjectAltName=...`).
pub fn test_cert(dir: &Path, name: &str, ext: &str) {
    let (key, csr, pem, extfile) = (
        format!("{name}.key"),
        format!("{name}.csr"),
        format!("{name}.pem"),
        format!("{name}.ext"),
    );
    let subject = format!("/CN={name}");
    openssl(
        dir,
        &[
            "req", "-newkey", "rsa:2048", "-nodes", "-keyout", &key, "-out", &csr, "-subj",
            &subject,
        ],
    );
    std::fs::write(dir.join(&extfile), ext).expect("extfile");
    openssl(
        dir,
        &[
            "x509",
            "-req",
            "-in",
            &csr,
            "-CA",
            "ca.pem",
            "-CAkey",
            "ca.key",
            "-CAcreateserial",
            "-out",
            &pem,
            "-days",
            "2",
            "-extfile",
            &extfile,
        ],
    );
}

/// A VPC `vpc_cidr` in `project` with one IPv4 subnet `subnet_cidr`, both named
/// after the project; returns the subnet.
pub async fn make_subnet(
    client: &PrismClient,
    project: &str,
    vpc_cidr: &str,
    subnet_cidr: &str,
) -> v1::Subnet {
    let vpc = client
        .create_vpc(v1::CreateVpcRequest {
            project: project.into(),
            name: project.into(),
            cidr_blocks: vec![vpc_cidr.into()],
            ..Default::default()
        })
        .await
        .expect("create vpc");
    client
        .create_subnet(v1::CreateSubnetRequest {
            vpc_id: vpc.id,
            name: project.into(),
            ipv4_cidr: subnet_cidr.into(),
            ..Default::default()
        })
        .await
        .expect("create subnet")
}

/// Checks the stored ports of a subnet against the acknowledged creates (by device
/// id, one logical call each): every acknowledged port exactly once and as
/// acknowledged, no call allocated twice, no IP or MAC twice.
pub fn check_acknowledged_ports(stored: &[PortFacts], acked: &BTreeMap<String, PortFacts>) {
    let mut by_device: BTreeMap<&str, Vec<&PortFacts>> = BTreeMap::new();
    let mut ips = std::collections::BTreeSet::new();
    let mut macs = std::collections::BTreeSet::new();
    for p in stored {
        by_device.entry(&p.device_id).or_default().push(p);
        for ip in &p.ips {
            assert!(ips.insert(ip.clone()), "IP {ip} is used twice");
        }
        assert!(macs.insert(p.mac.clone()), "MAC {} is used twice", p.mac);
    }
    for (device, ports) in &by_device {
        assert_eq!(ports.len(), 1, "call {device} allocated twice: {ports:?}");
    }
    for (device, want) in acked {
        let got = by_device
            .get(device.as_str())
            .unwrap_or_else(|| panic!("acknowledged port of {device} is lost"));
        assert_eq!(got[0], want, "acknowledged port of {device} changed");
    }
}

/// The calls (by device id) that failed with `outcome_unknown` false but whose port
/// exists: a caller told "it failed" may retry with a new request id, so such a
/// failure would allocate twice.
pub fn definite_failures_that_applied<'a>(
    failed: &'a [(String, prismnet_api::ClientError)],
    stored: &[PortFacts],
) -> Vec<&'a (String, prismnet_api::ClientError)> {
    failed
        .iter()
        .filter(|(device, e)| !e.outcome_unknown && stored.iter().any(|p| &p.device_id == device))
        .collect()
}
