//! `prismnetd`, the PrismNET daemon: configuration, wiring of the Raft node and the
//! public gRPC API, and the conversions between API messages and domain types.
//!
//! | concept | module |
//! |---|---|
//! | configuration: file, flags, `PRISMNETD_*` environment | [`config`] |
//! | bearer tokens and the actor they stand for | [`auth`] |
//! | domain and Raft errors as gRPC statuses | [`errors`] |
//! | what every service shares: auth, writes, reads, redirects | [`context`] |
//! | API message <-> domain type conversions, one file per resource | [`convert`] |
//! | the leader-only OVN NB driver, NB probe and leadership handoff | [`ovn`] |
//! | gRPC services, one file per service | [`services`] |
//! | the running daemon: start, serve, shut down | [`daemon`] |

pub mod auth;
pub mod config;
pub mod context;
pub mod convert;
pub mod daemon;
pub mod errors;
pub mod ovn;
pub mod services;
