//! The in-process cluster the raft benches share: real RocksDB (synced appends)
//! in temp dirs, real gRPC over 127.0.0.1.
#![allow(dead_code)] // each bench uses its own part

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use prismnet_raft::workload::{created_id, Workload};
use prismnet_raft::{Bootstrap, PeerNode, RaftConfig, RaftNode, Role};
use prismnet_state::command::QuotasPatch;
use prismnet_state::{Actor, Command, Id, Request, Scope};

pub fn free_addr() -> std::net::SocketAddr {
    let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    l.local_addr().expect("addr")
}

pub struct Cluster {
    pub _tmp: tempfile::TempDir,
    pub cfgs: Vec<RaftConfig>,
    pub peers: BTreeMap<u64, PeerNode>,
    pub nodes: Vec<Option<Arc<RaftNode>>>,
}

/// Raft timings: openraft's defaults in this crate, or a faster profile.
#[derive(Clone, Copy)]
pub struct Timings {
    pub heartbeat_ms: u64,
    pub election_min_ms: u64,
    pub election_max_ms: u64,
}

pub const DEFAULT_TIMINGS: Timings = Timings {
    heartbeat_ms: prismnet_raft::config::HEARTBEAT_MS_DEFAULT,
    election_min_ms: prismnet_raft::config::ELECTION_MIN_MS_DEFAULT,
    election_max_ms: prismnet_raft::config::ELECTION_MAX_MS_DEFAULT,
};

impl Cluster {
    pub async fn start(size: u64, t: Timings) -> Cluster {
        Cluster::start_with(size, t, |_| {}).await
    }

    /// [`Cluster::start`] with each node's config adjusted by `tweak`.
    pub async fn start_with(size: u64, t: Timings, tweak: impl Fn(&mut RaftConfig)) -> Cluster {
        let tmp = tempfile::tempdir().expect("tempdir");
        let mut cfgs = Vec::new();
        let mut peers = BTreeMap::new();
        for id in 1..=size {
            let addr = free_addr();
            let advertise = PeerNode {
                raft_addr: addr.to_string(),
                api_addr: String::new(),
            };
            peers.insert(id, advertise.clone());
            let mut cfg = RaftConfig::new(
                id,
                tmp.path().join(format!("n{id}")),
                addr,
                advertise,
                "bench",
            );
            cfg.heartbeat_ms = t.heartbeat_ms;
            cfg.election_min_ms = t.election_min_ms;
            cfg.election_max_ms = t.election_max_ms;
            tweak(&mut cfg);
            cfgs.push(cfg);
        }
        let mut c = Cluster {
            _tmp: tmp,
            cfgs,
            peers,
            nodes: (0..size).map(|_| None).collect(),
        };
        for i in 0..size as usize {
            c.restart(i).await;
        }
        // Bootstrap: every node proposes the initial membership and may campaign;
        // let the losing candidates' terms settle before anything is measured, so
        // a term change during a run means an election under load.
        c.leader().await;
        tokio::time::sleep(Duration::from_millis(3 * t.election_max_ms)).await;
        c
    }

    pub async fn restart(&mut self, i: usize) {
        let n = RaftNode::start(self.cfgs[i].clone(), Bootstrap::Peers(self.peers.clone()))
            .await
            .expect("start");
        self.nodes[i] = Some(Arc::new(n));
    }

    pub fn running(&self) -> Vec<Arc<RaftNode>> {
        self.nodes.iter().flatten().cloned().collect()
    }

    pub async fn leader(&self) -> Arc<RaftNode> {
        loop {
            if let Some(n) = self.running().into_iter().find(|n| {
                let st = n.status();
                st.role == Role::Leader && st.leader_id == Some(n.id())
            }) {
                return n;
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }

    pub fn max_term(&self) -> u64 {
        self.running()
            .iter()
            .map(|n| n.status().term)
            .max()
            .unwrap_or(0)
    }

    pub async fn shutdown(&mut self) {
        for n in self.nodes.iter_mut().filter_map(Option::take) {
            n.shutdown().await.expect("shutdown");
        }
    }
}

pub async fn setup_subnet(leader: &RaftNode, w: &mut Workload) -> Id {
    // The default quota (10k ports per project) is smaller than a bench run.
    let quotas = Request {
        actor: Actor::Admin,
        request_id: "bench-quotas".into(),
        command: Command::SetQuotas {
            scope: Scope {
                org: prismnet_state::scope::DEFAULT_ORG.into(),
                project: "bench".into(),
            },
            quotas: QuotasPatch {
                vpcs: None,
                subnets: None,
                ports: Some(prismnet_state::limits::QUOTA_MAX),
                security_groups: None,
                rules_per_group: None,
                floating_ips: None,
            },
        },
        seen_index: None,
    };
    leader.write(quotas).await.expect("write").expect("quotas");
    let vpc = leader
        .write(w.create_vpc("v", "10.0.0.0/8"))
        .await
        .expect("write")
        .expect("vpc");
    let subnet = leader
        .write(w.create_subnet(created_id(&vpc).expect("vpc id"), "s", "10.0.0.0/12"))
        .await
        .expect("write")
        .expect("subnet");
    created_id(&subnet).expect("subnet id")
}

pub fn median(v: &mut [f64]) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    v[v.len() / 2]
}
