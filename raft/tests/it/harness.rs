//! In-process clusters for tests.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use prismnet_raft::workload::{created_id, Workload};
use prismnet_raft::{Bootstrap, NodeStatus, PeerNode, RaftConfig, RaftNode, Role};
use prismnet_state::{Applied, Id, Request};
use tempfile::TempDir;

pub const CLUSTER: &str = "test-cluster";
pub const WAIT: Duration = Duration::from_secs(30);

pub fn init_tracing() {
    let _ = tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "warn".into()),
        )
        .with_test_writer()
        .try_init();
}

/// A free port on 127.0.0.1, taken below the kernel's ephemeral range so that a
/// stopped node's port is not handed to some outgoing connection before the node
/// restarts on it. Ports are handed out once per test process.
pub fn free_addr() -> SocketAddr {
    use std::sync::atomic::{AtomicU32, Ordering};
    const FIRST: u32 = 20_000;
    const SPAN: u32 = 12_000;
    static NEXT: AtomicU32 = AtomicU32::new(u32::MAX);
    let _ = NEXT.compare_exchange(
        u32::MAX,
        (std::process::id() * 397) % SPAN,
        Ordering::SeqCst,
        Ordering::SeqCst,
    );
    for _ in 0..SPAN {
        let port = FIRST + NEXT.fetch_add(1, Ordering::SeqCst) % SPAN;
        let addr: SocketAddr = format!("127.0.0.1:{port}").parse().expect("addr");
        if std::net::TcpListener::bind(addr).is_ok() {
            return addr;
        }
    }
    panic!("no free port in {FIRST}..{}", FIRST + SPAN)
}

pub fn peer(addr: SocketAddr) -> PeerNode {
    PeerNode {
        raft_addr: addr.to_string(),
        api_addr: format!("api-of-{addr}"),
    }
}

pub struct Slot {
    pub cfg: RaftConfig,
    pub node: Option<Arc<RaftNode>>,
}

pub struct Cluster {
    pub tmp: TempDir,
    pub slots: BTreeMap<u64, Slot>,
    pub initial: BTreeMap<u64, PeerNode>,
}

pub fn config(id: u64, dir: PathBuf, addr: SocketAddr) -> RaftConfig {
    RaftConfig::new(id, dir, addr, peer(addr), CLUSTER)
}

impl Cluster {
    /// Starts nodes `1..=n`, each bootstrapping with all of them.
    pub async fn start(n: u64, tune: impl Fn(&mut RaftConfig)) -> Cluster {
        init_tracing();
        let tmp = tempfile::tempdir().expect("temp dir");
        let mut slots = BTreeMap::new();
        let mut initial = BTreeMap::new();
        for id in 1..=n {
            let addr = free_addr();
            let mut cfg = config(id, tmp.path().join(format!("node-{id}")), addr);
            tune(&mut cfg);
            initial.insert(id, cfg.advertise.clone());
            slots.insert(id, Slot { cfg, node: None });
        }
        let mut c = Cluster {
            tmp,
            slots,
            initial,
        };
        for id in 1..=n {
            c.restart(id).await;
        }
        c
    }

    pub fn node(&self, id: u64) -> Arc<RaftNode> {
        self.slots[&id].node.clone().expect("node is running")
    }

    pub fn running(&self) -> Vec<Arc<RaftNode>> {
        self.slots.values().filter_map(|s| s.node.clone()).collect()
    }

    /// (Re)starts a node from its data dir with the initial peers.
    pub async fn restart(&mut self, id: u64) {
        let cfg = self.slots[&id].cfg.clone();
        let node = RaftNode::start(cfg, Bootstrap::Peers(self.initial.clone()))
            .await
            .expect("start node");
        self.slots.get_mut(&id).expect("slot").node = Some(Arc::new(node));
    }

    /// Adds a slot for a node that will join later (not started).
    pub fn add_slot(&mut self, id: u64) -> RaftConfig {
        let addr = free_addr();
        let cfg = config(id, self.tmp.path().join(format!("node-{id}")), addr);
        self.slots.insert(
            id,
            Slot {
                cfg: cfg.clone(),
                node: None,
            },
        );
        cfg
    }

    /// Gracefully stops a node and drops it (its RocksDB lock is released).
    pub async fn stop(&mut self, id: u64) {
        let node = self
            .slots
            .get_mut(&id)
            .expect("slot")
            .node
            .take()
            .expect("running");
        node.shutdown().await.expect("shutdown");
        drop(node);
    }

    pub async fn stop_all(&mut self) {
        let ids: Vec<u64> = self.slots.keys().copied().collect();
        for id in ids {
            if self.slots[&id].node.is_some() {
                self.stop(id).await;
            }
        }
    }

    /// Waits until every running node names the same leader, that leader is running
    /// and says it leads.
    pub async fn wait_leader(&self) -> u64 {
        let deadline = Instant::now() + WAIT;
        loop {
            let st: Vec<NodeStatus> = self.running().iter().map(|n| n.status()).collect();
            let leader = st[0].leader_id;
            if let Some(l) = leader {
                let agreed = st.iter().all(|s| s.leader_id == Some(l));
                let leads = st.iter().any(|s| s.id == l && s.role == Role::Leader);
                if agreed && leads {
                    return l;
                }
            }
            assert!(Instant::now() < deadline, "no leader agreed on: {st:#?}");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Waits until every running node has applied at least `index`.
    pub async fn wait_applied(&self, index: u64) {
        for n in self.running() {
            wait_node_applied(&n, index).await;
        }
    }

    /// Checks that all running nodes reach the same applied index with the same
    /// state digest (no writes may be in flight).
    pub async fn assert_converged(&self) -> u128 {
        let leader = self.node(self.wait_leader().await);
        self.wait_applied(leader.status().applied).await;
        let deadline = Instant::now() + WAIT;
        loop {
            let digests: Vec<(u64, u64, u128)> = self
                .running()
                .iter()
                .map(|n| {
                    // The index and the digest under one read of the state.
                    n.read_stale(|st| (n.id(), n.status().applied, st.digest()))
                })
                .collect();
            let first = digests[0];
            if digests.iter().all(|d| (d.1, d.2) == (first.1, first.2)) {
                return first.2;
            }
            let same_index = digests.iter().all(|d| d.1 == first.1);
            assert!(
                !same_index && Instant::now() < deadline,
                "replicas differ: {digests:?}"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

pub async fn wait_node_applied(n: &RaftNode, index: u64) {
    let mut rx = n.subscribe_applied();
    tokio::time::timeout(WAIT, rx.wait_for(|a| *a >= index))
        .await
        .unwrap_or_else(|_| panic!("node {} did not apply {index}: {:#?}", n.id(), n.status()))
        .expect("applied channel open");
}

/// A project with one VPC and one /16 subnet; returns the subnet id.
pub async fn setup_subnet(leader: &RaftNode, w: &mut Workload) -> Id {
    let vpc = ok(leader.write(w.create_vpc("vpc-1", "10.0.0.0/16")).await);
    let vpc_id = created_id(&vpc).expect("vpc created");
    let subnet = ok(leader
        .write(w.create_subnet(vpc_id, "subnet-1", "10.0.0.0/16"))
        .await);
    created_id(&subnet).expect("subnet created")
}

pub fn ok(
    r: Result<Result<Applied, prismnet_state::StateError>, prismnet_raft::WriteError>,
) -> Applied {
    r.expect("write committed").expect("command accepted")
}

/// Writes `requests` through `leader` with up to `concurrency` in flight; returns
/// the created ids in request order.
pub async fn write_all(
    leader: &Arc<RaftNode>,
    requests: Vec<Request>,
    concurrency: usize,
) -> Vec<Id> {
    let sem = Arc::new(tokio::sync::Semaphore::new(concurrency));
    let mut tasks = Vec::with_capacity(requests.len());
    for r in requests {
        let n = leader.clone();
        let permit = sem.clone().acquire_owned().await.expect("semaphore");
        tasks.push(tokio::spawn(async move {
            let out = n.write(r).await;
            drop(permit);
            out
        }));
    }
    let mut ids = Vec::with_capacity(tasks.len());
    for t in tasks {
        let applied = ok(t.await.expect("write task"));
        ids.push(created_id(&applied).expect("created"));
    }
    ids
}

pub fn ports(w: &mut Workload, subnet: Id, from: usize, n: usize) -> Vec<Request> {
    (from..from + n)
        .map(|i| w.create_port(subnet, &format!("port-{i}")))
        .collect()
}

/// Waits until `leader` purged its log past `index + 1`: a follower that has
/// only up to `index` can then catch up by a snapshot alone. Purging follows
/// snapshots asynchronously.
pub async fn wait_purged_past(leader: &RaftNode, index: u64) {
    let deadline = Instant::now() + WAIT;
    loop {
        let purged = leader.metrics().borrow().purged.map_or(0, |p| p.index);
        if purged > index + 1 {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "leader never purged past {index}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}
