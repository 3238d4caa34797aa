//! prismnet-chaos: a Jepsen-style suite that runs a real PrismNET cluster under
//! faults and checks what its clients saw. It drives the cluster only from outside:
//! through `prismnet-api` (the client library) and the OS (processes, network
//! namespaces, nftables, a FUSE file system), like Jepsen does.
//!
//! Laid out like etcd's `tests/robustness`:
//!
//! | module | purpose |
//! |---|---|
//! | [`history`] | the recorded operations (invoke, then ok / fail / info), JSON lines |

pub mod history;
