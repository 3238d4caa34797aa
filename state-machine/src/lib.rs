//! `prismnet-state`: PrismNET's replicated state machine.
//!
//! A pure library: the domain model (projects, VPCs, subnets, ports, security
//! groups, external networks, floating IPs), IP and MAC address management, the
//! commands that change them and the reads that query them. No I/O, no clocks, no
//! randomness: [`State::apply`] is a deterministic function of the log, so every
//! replica that applies the same entries holds the same state (compare with
//! [`State::digest`]).
//!
//! Where to look:
//! | concept | module |
//! |---|---|
//! | log entry format, commands, outcomes | [`command`] |
//! | the apply entry point, one file per resource | `apply/` |
//! | resources | [`model`] |
//! | address allocation | [`ipam`] |
//! | gets, lists, usage | [`read`] |
//! | snapshots and digest | [`snapshot`] |
//! | errors and their stable reasons | [`error`] |
//! | every bound | [`limits`] |

mod apply;
pub mod command;
pub mod error;
pub mod failpoints;
pub mod id;
mod invariants;
pub mod ipam;
pub mod limits;
pub mod model;
pub mod net;
pub mod read;
pub mod request_log;
pub mod scope;
pub mod settings;
pub mod snapshot;
mod state;
mod validate;

pub use command::{Applied, Command, Envelope, Kind, Outcome, Proposal, Request, Stamp, View};
pub use error::{ErrorCode, Reason, StateError};
pub use id::Id;
pub use scope::{Actor, Scope};
pub use settings::{Settings, SettingsPatch};
pub use state::State;
