//! Leadership handoff when the leader loses OVN NB, through three real `prismnetd`
//! processes and one real `ovsdb-server` (OVN NB schema). Self-contained: its own
//! small harness, not `common/`.
//!
//! - NB listens on three TCP addresses, 127.0.0.201..203 (one per node, so one node's
//!   NB path can be cut alone), plus a unix socket the test itself reads NB through.
//! - Nodes listen on 127.0.0.221..223. Every port (NB, Raft, API) comes from
//!   [`PORT_FIRST`]`..+`[`PORT_SPAN`]: above the kernel's ephemeral range
//!   (32768..60999 here) and clear of node/tests/common (10000..20000) and the raft
//!   crate's tests (20000..32000); each process starts at its own offset (pid) and
//!   checks every port with a bind.
//! - The cut is an nftables table of this process (`pn_handoff_<pid>_<n>`) dropping
//!   both directions of TCP to the leader's NB address; the table is deleted on drop,
//!   also when the test panics.
//! - Deadlines are liveness bounds (generous, the machine is shared); the measured
//!   handoff time is printed, never asserted.

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

const PORT_FIRST: u32 = 61_000;
const PORT_SPAN: u32 = 4_000;
/// Liveness bound of every wait.
const WAIT: Duration = Duration::from_secs(60);
const POLL: Duration = Duration::from_millis(50);
const NB_SCHEMA: &str = "/usr/share/ovn/ovn-nb.ovsschema";

fn node_ip(id: u64) -> Ipv4Addr {
    Ipv4Addr::new(127, 0, 0, 220 + u8::try_from(id).expect("small id"))
}

fn nb_ip(id: u64) -> Ipv4Addr {
    Ipv4Addr::new(127, 0, 0, 200 + u8::try_from(id).expect("small id"))
}

/// A port free on every address in `ips`, handed out at most once per process.
fn free_port(ips: &[Ipv4Addr]) -> u16 {
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

fn unique(what: &str) -> String {
    static SEQ: AtomicU32 = AtomicU32::new(0);
    format!(
        "{what}_{}_{}",
        std::process::id(),
        SEQ.fetch_add(1, Ordering::SeqCst)
    )
}

fn run(cmd: &str, args: &[&str]) -> Result<String, String> {
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

fn tail(path: &Path, lines: usize) -> String {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let all: Vec<&str> = text.lines().collect();
    all[all.len().saturating_sub(lines)..].join("\n")
}

/// One standalone NB ovsdb-server on `127.0.0.201..203:port` and a unix socket.
struct Nb {
    dir: PathBuf,
    port: u16,
    child: Option<Child>,
}

impl Nb {
    fn start(dir: &Path) -> Nb {
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

    fn socket(&self) -> PathBuf {
        self.dir.join("nb.sock")
    }

    /// What node `id` is given: its own NB address.
    fn remote_for(&self, id: u64) -> String {
        format!("tcp:{}:{}", nb_ip(id), self.port)
    }

    /// (Re)starts the server on the same file and addresses.
    fn resume(&mut self) {
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

    fn kill(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// The test's own NB client, over the unix socket (never cut).
    async fn client(&self) -> Client {
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
struct Cut {
    table: String,
}

impl Cut {
    fn new(ip: Ipv4Addr, port: u16) -> Cut {
        let table = unique("pn_handoff");
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

struct Node {
    id: u64,
    raft: SocketAddr,
    api: SocketAddr,
    dir: PathBuf,
    child: Option<Child>,
}

impl Node {
    fn log(&self) -> PathBuf {
        self.dir.join("prismnetd.log")
    }
}

/// Three prismnetd processes, each given only its own NB address. Killed on drop;
/// their logs are printed when the test panics.
struct Cluster {
    name: String,
    nodes: Vec<Node>,
}

impl Cluster {
    fn start(tmp: &Path, nb: &Nb) -> Cluster {
        let name = unique("handoff").replace('_', "-");
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

    fn node(&self, id: u64) -> &Node {
        &self.nodes[usize::try_from(id - 1).expect("id")]
    }

    async fn status(&self, id: u64) -> Option<v1::ClusterStatusResponse> {
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
    async fn agreed_leader(&self, ids: &[u64]) -> Option<(u64, u64)> {
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

    async fn wait_leader(&self, ids: &[u64]) -> (u64, u64) {
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
    async fn max_term(&self) -> Option<u64> {
        let mut max = None;
        for id in 1..=3 {
            if let Some(s) = self.status(id).await {
                max = max.max(Some(s.term));
            }
        }
        max
    }

    async fn client(&self) -> PrismClient {
        PrismClient::connect(ClientConfig {
            connect_timeout: Duration::from_secs(1),
            ..ClientConfig::new(self.nodes.iter().map(|n| format!("http://{}", n.api)))
        })
        .await
        .expect("client")
    }

    /// Lines of node `id`'s log that mean its NB driver wrote or started.
    fn driver_writes(&self, id: u64) -> usize {
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

async fn fence_of(nb: &Client, cluster: &str) -> Option<Stored> {
    fence::read(nb, cluster).await.ok()
}

/// Whether the fence names the leadership (term, node).
fn names(stored: &Option<Stored>, term: u64, node: u64) -> bool {
    matches!(stored, Some(Stored::Epoch(e)) if e.leader() == (term, node))
}

async fn wait_fence(nb: &Client, cluster: &str, term: u64, node: u64) -> Duration {
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
async fn has_row(nb: &Client, table: &str, name: &str) -> bool {
    let op = Select::new(table)
        .filter(Condition::eq("name", Value::from(name)))
        .into();
    nb.transact(&[op])
        .await
        .ok()
        .and_then(|r| r.rows(0).map(|rows| !rows.is_empty()))
        .unwrap_or(false)
}

async fn wait_row(nb: &Client, table: &str, name: &str) -> Duration {
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
async fn topology(client: &PrismClient) -> (String, String, String) {
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

async fn create_port(client: &PrismClient, subnet: &str, device: &str) -> String {
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

fn temp_dir() -> tempfile::TempDir {
    tempfile::Builder::new()
        .prefix("prismnet-handoff-")
        .tempdir()
        .expect("temp dir")
}

/// - The cluster forms; the leader claims the NB fence (its term) and writes the
///   rows of a VPC, subnet and port made through the API.
/// - Only the leader's NB path is cut (nftables). A node that still reaches NB
///   takes over: a new leader, the fence at its term, a port created afterwards
///   lands in NB.
/// - The old leader's driver writes nothing more (its log shows no pass, claim or
///   driver start once the new leader holds the fence), also after its NB path is
///   restored.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn leader_cut_off_from_nb_hands_over() {
    let tmp = temp_dir();
    let nb = Nb::start(tmp.path());
    let c = Cluster::start(tmp.path(), &nb);
    let db = nb.client().await;
    let (old, term) = c.wait_leader(&[1, 2, 3]).await;
    wait_fence(&db, &c.name, term, old).await;
    let client = c.client().await;
    let (vpc, subnet, port) = topology(&client).await;
    wait_row(&db, "Logical_Router", &format!("pn-lr-{vpc}")).await;
    wait_row(&db, "Logical_Switch", &format!("pn-ls-{subnet}")).await;
    wait_row(&db, "Logical_Switch_Port", &port).await;
    println!("leader {old} at term {term} holds the fence and wrote the topology");

    let cut = Cut::new(nb_ip(old), nb.port);
    let cut_at = Instant::now();
    let (new, new_term) = loop {
        if let Some((l, t)) = c.agreed_leader(&[1, 2, 3]).await {
            if l != old {
                break (l, t);
            }
        }
        assert!(
            cut_at.elapsed() < WAIT,
            "no other node took over within {WAIT:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    let elected = cut_at.elapsed();
    assert!(new_term > term);
    wait_fence(&db, &c.name, new_term, new).await;
    let fenced = cut_at.elapsed();
    // From here on the old leader must not write. (Counted from the fence move,
    // not the cut: a pass whose reply was already on its way may still log.)
    let writes_before = c.driver_writes(old);
    let port2 = create_port(&client, &subnet, "vm-2").await;
    wait_row(&db, "Logical_Switch_Port", &port2).await;
    let landed = cut_at.elapsed();
    println!(
        "handoff: NB cut for leader {old} (term {term}); node {new} elected at term {new_term} \
         after {elected:.2?}; fence moved after {fenced:.2?}; a new port in NB after {landed:.2?}"
    );

    // The old leader, reconnected, still writes nothing: it is a follower and the
    // fence would refuse it anyway.
    drop(cut);
    tokio::time::sleep(Duration::from_secs(5)).await;
    let fence_now = fence_of(&db, &c.name).await;
    assert!(
        names(&fence_now, new_term, new),
        "the fence moved again: {fence_now:?}"
    );
    assert_eq!(
        c.agreed_leader(&[1, 2, 3]).await,
        Some((new, new_term)),
        "leadership moved again"
    );
    assert_eq!(
        c.driver_writes(old),
        writes_before,
        "the old leader's driver wrote after the cut:\n{}",
        tail(&c.node(old).log(), 60)
    );
    assert!(has_row(&db, "Logical_Switch_Port", &port).await);
    assert!(has_row(&db, "Logical_Switch_Port", &port2).await);
}

/// - NB goes down for every node (ovsdb-server stopped) for 12 s: nobody can take
///   over, so nobody campaigns; the term changes at most once.
/// - NB comes back: the leader drives it again (fence, a new port in NB).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nb_down_for_everyone_keeps_the_leader() {
    let tmp = temp_dir();
    let mut nb = Nb::start(tmp.path());
    let c = Cluster::start(tmp.path(), &nb);
    let db = nb.client().await;
    let (leader, term) = c.wait_leader(&[1, 2, 3]).await;
    wait_fence(&db, &c.name, term, leader).await;
    let client = c.client().await;
    let (_, subnet, port) = topology(&client).await;
    wait_row(&db, "Logical_Switch_Port", &port).await;
    drop(db);

    nb.kill();
    let down_at = Instant::now();
    let mut terms = vec![term];
    while down_at.elapsed() < Duration::from_secs(12) {
        if let Some(t) = c.max_term().await {
            if terms.last() != Some(&t) {
                terms.push(t);
            }
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    println!("NB down 12 s for every node: terms seen {terms:?}");
    assert!(
        terms.len() <= 2,
        "election storm while NB was down for everyone: terms {terms:?}"
    );

    nb.resume();
    let db = nb.client().await;
    let (now, now_term) = c.wait_leader(&[1, 2, 3]).await;
    if terms.len() == 1 {
        assert_eq!((now, now_term), (leader, term), "leadership moved");
    }
    wait_fence(&db, &c.name, now_term, now).await;
    let port2 = create_port(&client, &subnet, "vm-2").await;
    let took = wait_row(&db, "Logical_Switch_Port", &port2).await;
    println!("NB back: leader {now} at term {now_term}; a new port in NB after {took:.2?}");
}
