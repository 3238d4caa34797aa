//! prismnet-chaos: a Jepsen-style suite that runs a real PrismNET cluster under
//! faults and checks what its clients saw. It drives the cluster only from outside:
//! through `prismnet-api` (the client library) and the OS (processes, network
//! namespaces, nftables, a FUSE file system), like Jepsen does.
//!
//! Laid out like etcd's `tests/robustness`:
//!
//! | module | purpose |
//! |---|---|
//! | [`cluster`] | the cluster under test: namespaces, bridge, prismnetd, clustered NB; the ledger that cleans up |
//! | [`failpoint`] | nemeses (partitions, kills, pauses, ...) and their seeded schedule |
//! | [`nb_audit`] | from NB's own log: no deposed leadership committed after a newer one |
//! | [`report`] | the run directory: history, faults, checks, timeline, index.html; the verdict |
//! | [`run`] | one run: setup, the schedule of faults, liveness, the final read |
//! | [`lazyfs`] | the FUSE file system that keeps unsynced writes in memory and loses them on a power cut |
//! | [`history`] | the recorded operations (invoke, then ok / fail / info), JSON lines |
//! | [`model`] | a subnet's port allocations as a sequential specification (what the search checks against) |
//! | [`validate`] | the checkers: linearizability per subnet, invariants on observations and the final state |
//! | [`traffic`] | the workload: clients doing port operations through the client library, recorded |

pub mod cluster;
pub mod failpoint;
pub mod history;
pub mod lazyfs;
pub mod model;
pub mod nb_audit;
pub mod report;
pub mod run;
pub mod traffic;
pub mod validate;
