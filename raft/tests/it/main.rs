//! Integration tests of prismnet-raft: real RocksDB in temporary dirs, real sockets
//! on 127.0.0.1, every node a `RaftNode` in this process.
//!
//! | folder/file | surface |
//! |---|---|
//! | `harness.rs` | starting, stopping and waiting on in-process clusters |
//! | `batching.rs` | many writers sharing log entries: own outcomes, rejections, replay |
//! | `cluster.rs` | election, replication, redirects, failover, restarts, snapshots |
//! | `membership.rs` | adding and removing nodes, `Join` |
//! | `data_dir.rs` | refusing damaged or foreign data dirs |
//! | `disk_full.rs` | the free-space guard: low followers, low majority, low leader |
//! | `peer_tls.rs` | mutual TLS between nodes; a node with a foreign CA is shut out |

mod batching;
mod cluster;
mod data_dir;
mod disk_full;
mod harness;
mod membership;
mod peer_tls;
