//! Errors of the Raft layer, one enum per caller-facing surface.
//!
//! ```text
//! RaftError            start / shutdown of a node
//!   └─ OpenError       the data dir: format marker, RocksDB, snapshot file
//! WriteError           RaftNode::write          NotLeader | NoLeader | DiskFull | Interrupted | Fatal
//! ReadError            RaftNode::read_linearizable   NotLeader | NoLeader | Fatal
//! ClusterError         membership changes, elections, snapshots
//! ```
//! Conversion to `tonic::Status` belongs to the node's gRPC edge, not here.

use std::path::PathBuf;

use crate::disk::LowDisk;
use crate::types::{ForwardToLeader, NodeId, PeerNode};

/// Why a data dir could not be opened. Every variant names the path: the daemon
/// prints it and exits rather than run as a silently empty node.
#[derive(Debug, thiserror::Error)]
pub enum OpenError {
    #[error(
        "{path}: data dir is not empty but has no FORMAT marker; refusing to guess what it holds"
    )]
    MissingFormat { path: PathBuf },
    #[error("{path}: unknown data dir format {found:?} (this build reads {expected:?})")]
    UnknownFormat {
        path: PathBuf,
        found: String,
        expected: String,
    },
    #[error("{path}: cannot open RocksDB: {source}")]
    Rocks {
        path: PathBuf,
        #[source]
        source: rocksdb::Error,
    },
    #[error("{path}: {what}: {source}")]
    Io {
        path: PathBuf,
        what: &'static str,
        #[source]
        source: std::io::Error,
    },
    #[error("{path}: snapshot is unusable: {reason}")]
    Snapshot { path: PathBuf, reason: String },
    #[error("{path}: stored Raft metadata is unreadable: {reason}")]
    Meta { path: PathBuf, reason: String },
    /// Too little space to open the database safely (see `store::open`).
    #[error(
        "{path}: no space left on device: {} free, opening needs at least {} (a margin plus the write-ahead log RocksDB replays into a table); free space and restart",
        crate::disk::human_bytes(*.free_bytes),
        crate::disk::human_bytes(*.needed_bytes)
    )]
    NoSpace {
        path: PathBuf,
        free_bytes: u64,
        needed_bytes: u64,
    },
    #[error(transparent)]
    FreeSpace(#[from] crate::disk::DiskError),
}

/// Starting or stopping a node.
#[derive(Debug, thiserror::Error)]
pub enum RaftError {
    #[error(transparent)]
    Open(#[from] OpenError),
    #[error("invalid raft configuration: {0}")]
    Config(String),
    #[error("cannot listen for raft peers on {addr}: {source}")]
    Bind {
        addr: std::net::SocketAddr,
        #[source]
        source: std::io::Error,
    },
    #[error("cannot initialize the cluster: {0}")]
    Initialize(String),
    #[error("raft stopped: {0}")]
    Fatal(String),
    #[error("shutdown failed: {0}")]
    Shutdown(String),
}

/// Why a write was not committed. `NotLeader` and `NoLeader` are retryable (at the
/// leader, or after an election); `DiskFull` was refused before proposing (nothing
/// is in the log) and lasts until an operator frees space; `Fatal` means this
/// node's Raft has stopped.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WriteError {
    #[error("not the leader; leader is {leader_id:?} ({leader:?})")]
    NotLeader {
        leader_id: Option<NodeId>,
        leader: Option<PeerNode>,
    },
    #[error("no leader is known (election in progress or no quorum)")]
    NoLeader,
    /// The leader is below its free-space minimum, or too few voters have space to
    /// commit (see `crate::disk`). `nodes` names the low ones; never empty.
    #[error("{}", disk_full_message(.nodes))]
    DiskFull { nodes: Vec<LowDisk> },
    /// Raft on this node stopped after the write was proposed: it may or may not
    /// be committed. Unlike `Fatal`, not a definite failure: a retry with the same
    /// request id, at the new leader, finds out which.
    #[error("raft stopped while the write was in flight: {0}")]
    Interrupted(String),
    #[error("raft stopped: {0}")]
    Fatal(String),
}

/// Why a linearizable read could not be served here.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ReadError {
    #[error("not the leader; leader is {leader_id:?} ({leader:?})")]
    NotLeader {
        leader_id: Option<NodeId>,
        leader: Option<PeerNode>,
    },
    /// No known leader, or this leader could not confirm it still has a quorum.
    #[error("no leader is known or the leader has no quorum")]
    NoLeader,
    #[error("raft stopped: {0}")]
    Fatal(String),
}

/// Membership changes and other cluster operations.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ClusterError {
    #[error("not the leader; leader is {leader_id:?} ({leader:?})")]
    NotLeader {
        leader_id: Option<NodeId>,
        leader: Option<PeerNode>,
    },
    #[error("no leader is known")]
    NoLeader,
    /// The change is not allowed now (another change in progress, unknown node, ...).
    #[error("membership change refused: {0}")]
    Rejected(String),
    #[error("raft stopped: {0}")]
    Fatal(String),
}

fn disk_full_message(nodes: &[LowDisk]) -> String {
    let list: Vec<String> = nodes.iter().map(LowDisk::to_string).collect();
    format!(
        "not enough free disk space to accept writes: {}; writes are refused until space is freed",
        list.join("; ")
    )
}

impl WriteError {
    /// Whether the same write may succeed if simply retried soon (elsewhere or
    /// after an election). A full disk needs an operator first.
    pub fn is_retryable(&self) -> bool {
        !matches!(self, WriteError::Fatal(_) | WriteError::DiskFull { .. })
    }
}

impl ReadError {
    pub fn is_retryable(&self) -> bool {
        !matches!(self, ReadError::Fatal(_))
    }
}

/// openraft reports "ask someone else" as ForwardToLeader with an optional leader.
pub(crate) fn redirect<T>(
    f: ForwardToLeader,
    not_leader: impl FnOnce(NodeId, Option<PeerNode>) -> T,
    no_leader: T,
) -> T {
    match f.leader_id {
        Some(id) => not_leader(id, f.leader_node),
        None => no_leader,
    }
}
