//! `prismnet-raft`: PrismNET's Raft layer on openraft 0.9.
//!
//! | concept | module |
//! |---|---|
//! | openraft's generic types bound once (`TypeConfig`, `LogId`, `PeerNode`, ...) | [`types`] |
//! | batching and pipelining of client writes on the leader | [`batcher`] |
//! | the facade the daemon holds: start, write, reads, status, membership | [`node`] |
//! | configuration and defaults | [`config`] |
//! | the free-space guard: refusing writes and entries on a filling disk | [`disk`] |
//! | status reported to operators | [`status`] |
//! | errors | [`error`] |
//! | RocksDB log store, in-memory state machine, snapshot file, data dir format | [`store`] |
//! | peer gRPC service and client (`prismnet.raft.v1`) | [`network`] |
//! | postcard encoding of openraft values | [`codec`] |
//! | openraft's async runtime (tokio; seeded randomness in the simulator) | [`runtime`] |
//! | where the simulator plugs in: clock, transport, storage, free space | [`seams`] |
//! | request generators for tests and benchmarks | [`workload`] |
//!
//! Data flow of a write: `RaftNode::write` stamps a `Proposal` with the leader's
//! clock and queues it -> the batcher puts every waiting proposal into one log entry
//! (`LogPayload`) and submits it without waiting for earlier entries to commit ->
//! openraft appends it (group-committed fsync) and replicates it -> once committed,
//! `StateMachineStore::apply` runs `State::apply_batch` under the state lock -> each
//! caller gets its own outcome.

pub mod batcher;
pub mod codec;
pub mod config;
pub mod disk;
pub mod error;
pub mod network;
pub mod node;
pub mod runtime;
pub mod seams;
pub mod status;
pub mod store;
pub mod types;
pub mod workload;

pub use config::{PeerTls, RaftConfig};
pub use disk::{DiskSpace, LowDisk};
pub use error::{ClusterError, OpenError, RaftError, ReadError, WriteError};
pub use node::{Bootstrap, RaftNode};
pub use status::{NodeStatus, Role};
pub use types::{
    ApplyResponse, LogPayload, NodeId, PayloadError, PeerNode, RaftMetrics, TypeConfig,
};
