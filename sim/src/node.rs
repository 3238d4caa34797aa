//! One simulated PrismNET node: the host software turmoil runs (and runs again
//! after a crash), and what of it outlives a crash (its disk, its snapshot dir).
//!
//! The software is the real thing but for the seams (`prismnet_raft::seams`):
//! `RaftNode::start_on` over the simulated disk, the simulated network and a
//! clock the driver can jump, then the real API services (`serve_api`) with the
//! OVN driver off. Auth is dev mode (every caller admin), as in the chaos suite.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use prismnet_node::auth::Auth;
use prismnet_node::context::Context;
use prismnet_node::services::Service;
use prismnet_raft::seams::{Clock, FreeSpace, LogParts, Seams, Transport};
use prismnet_raft::{Bootstrap, NodeId, PeerNode, RaftConfig, RaftNode};

use crate::disk::{Disk, SharedDisk, SimLog};
use crate::net;

/// Free bytes a node's disk reports while healthy, and the guard's minimum.
pub const FREE_BYTES_HEALTHY: u64 = 1 << 30;
pub const FREE_BYTES_MIN: u64 = 256 << 20;

/// Wall-clock start of every simulation (2026-01-01T00:00:00Z): a fixed epoch
/// keeps request-id expiry, which reads the leader's clock, a function of the seed.
pub const EPOCH_MS: u64 = 1_767_225_600_000;

/// What the driver holds of a node across its crashes.
pub struct NodeSlot {
    pub id: NodeId,
    pub disk: SharedDisk,
    /// Holds the snapshot files (written with fsync and rename: a crash keeps them).
    pub dir: PathBuf,
    /// The running node, while the host's software runs.
    pub raft: Mutex<Option<Arc<RaftNode>>>,
    /// Added to simulated time for this node's wall clock (the clock-jump fault).
    pub clock_offset_ms: Arc<AtomicI64>,
    /// What this node's free-space guard reads (the full-disk fault).
    pub free_bytes: Arc<AtomicU64>,
}

impl NodeSlot {
    pub fn new(id: NodeId, seed: u64, dir: PathBuf) -> Arc<NodeSlot> {
        Arc::new(NodeSlot {
            id,
            disk: Disk::new(seed ^ id.wrapping_mul(0x9e37_79b9_7f4a_7c15)),
            dir,
            raft: Mutex::new(None),
            clock_offset_ms: Arc::default(),
            free_bytes: Arc::new(AtomicU64::new(FREE_BYTES_HEALTHY)),
        })
    }

    pub fn running(&self) -> Option<Arc<RaftNode>> {
        self.raft.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// Forgets the node (its software was crashed).
    pub fn clear(&self) {
        *self.raft.lock().unwrap_or_else(|p| p.into_inner()) = None;
    }
}

pub fn host_name(id: NodeId) -> String {
    format!("n{id}")
}

/// Where node `id` is reached. turmoil numbers hosts in the order they are
/// registered, from 192.168.0.1; the driver registers n1, n2, ... first and checks
/// it (`run.rs`). Addresses, not names: the admin API takes only IP addresses.
pub fn ip(id: NodeId) -> std::net::Ipv4Addr {
    std::net::Ipv4Addr::new(192, 168, 0, u8::try_from(id).unwrap_or(u8::MAX))
}

pub fn peer(id: NodeId) -> PeerNode {
    PeerNode {
        raft_addr: format!("{}:{}", ip(id), net::RAFT_PORT),
        api_addr: format!("{}:{}", ip(id), net::API_PORT),
    }
}

fn config(slot: &NodeSlot) -> RaftConfig {
    let mut cfg = RaftConfig::new(
        slot.id,
        slot.dir.clone(),
        ([0, 0, 0, 0], net::RAFT_PORT).into(),
        peer(slot.id),
        "sim",
    );
    // Snapshots and purges often, so that installs and catch-up by snapshot are
    // part of every run.
    cfg.snapshot_logs_since_last = 300;
    cfg.logs_kept_after_snapshot = 50;
    cfg.min_free_bytes = FREE_BYTES_MIN;
    cfg
}

/// The host software of `slot`'s node: runs until the host is crashed. A node
/// of `peers` forms the cluster with the others; a spare (not in `peers`) waits to
/// be added (the membership fault).
pub async fn software(slot: Arc<NodeSlot>, peers: BTreeMap<NodeId, PeerNode>) -> turmoil::Result {
    let cfg = config(&slot);
    let settings = cfg.state_settings.clone();
    let sm = prismnet_raft::store::open_state_machine(&slot.dir, settings)?;
    let log = SimLog::new(slot.disk.clone());
    let parts = LogParts {
        committed: log.committed_handle(),
        failed: log.failed_handle(),
        log,
        sm,
    };
    let offset = slot.clock_offset_ms.clone();
    let clock = Clock::from_fn(move || {
        let now = turmoil::sim_elapsed().unwrap_or_default().as_millis() as i64;
        (EPOCH_MS as i64 + now + offset.load(Ordering::Relaxed)).max(0) as u64
    });
    let seams = Seams {
        clock,
        transport: Transport::Given {
            incoming: net::raft_incoming().await?,
            local_addr: cfg.raft_addr,
            dial: net::raft_dial(),
        },
        free_space: FreeSpace::Given(slot.free_bytes.clone()),
    };
    let boot = if peers.contains_key(&slot.id) {
        Bootstrap::Peers(peers)
    } else {
        Bootstrap::Join
    };
    let raft = Arc::new(RaftNode::start_on(cfg, boot, parts, seams).await?);
    *slot.raft.lock().unwrap_or_else(|p| p.into_inner()) = Some(raft.clone());

    let ctx = Arc::new(Context {
        raft,
        auth: Auth::load(None)?,
        ovn: None,
    });
    let (_health, health_service) = tonic_health::server::health_reporter();
    prismnet_node::daemon::serve_api(
        tonic::transport::Server::builder(),
        Service { ctx },
        health_service,
        net::api_incoming().await?,
        std::future::pending(),
    )
    .await?;
    Ok(())
}
