//! `prismnet-sim`: a deterministic simulation of a whole PrismNET cluster. One
//! seed decides everything, and a failing seed replays bit for bit.
//!
//! What runs is PrismNET's own code: `RaftNode` of `raft/` (openraft 0.9.25, the
//! batcher, the state machine of `state-machine/`), the node's real API services
//! (`prismnet_node::daemon::serve_api`) and the real client library of `api/`,
//! driven by the chaos suite's workload and checked by its checkers. What is
//! simulated, through the seams of `prismnet_raft::seams` and
//! `prismnet_api::ClientConfig::{dial, request_ids}`: time and the network
//! (turmoil), the log's disk ([`disk`]), wall clocks and free space. Left out:
//! the OVN NB driver (and so its fence), TLS, membership changes.
//!
//! | concept | module |
//! |---|---|
//! | the simulated disk under the Raft log (flush, crash, torn writes) | [`disk`] |
//! | turmoil adapters for the peer transport, the API and the client | [`net`] |
//! | one node: its host software and what survives its crashes | [`node`] |
//! | the seeded fault schedule and how each fault is done | [`faults`] |
//! | checks after every step, replicas at the end | [`invariants`] |
//! | the event trace and its hash | [`trace`] |
//! | one run: phases, final checks, the report | [`run`] |
//!
//! Determinism needs tokio's `select!` fairness seeded too: the workspace builds
//! with `--cfg tokio_unstable` (`.cargo/config.toml`), which lets turmoil seed
//! each host's runtime. It changes nothing else in tokio's behaviour.

pub mod disk;
pub mod faults;
pub mod invariants;
pub mod net;
pub mod node;
pub mod run;
pub mod trace;

pub use faults::Kind;
pub use run::{run, Options, Report, Verdict};
