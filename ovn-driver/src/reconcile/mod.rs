//! The fenced reconciler: makes the rows PrismNET owns in the OVN Northbound
//! DB equal to the translation of the replicated state, and keeps them so.
//!
//! | file | purpose |
//! |---|---|
//! | `fence` | the epoch key `prismnet-epoch:<cluster>` in NB_Global: claim and guard |
//! | `plan` | owned rows as NB holds them, the diff, and the operations per change |
//! | `driver` | [`OvnDriver`]: `run_leader`, one pass, `diff`, `takeover`; the [`Leadership`] the node provides |
//! | `leader` | the leader loop: confirm, claim, hold (monitor, debounce, passes, drift repair) or stay fenced out |
//! | `status` | [`DriverStatus`]: NB reachability, fence, sync state per resource, port `up` |
//!
//! Every transaction the leader sends starts with the fence guard, so a
//! deposed leader's writes fail atomically. Foreign rows are never read as
//! ours and never named in an operation (see `plan`).
//!
//! When a pass runs (`leader.rs`, in the `Held` phase):
//! - the state changed (the node bumps `changes` after applying entries), the
//!   monitor restarted, or the last pass left work: a full pass (translate the
//!   state, diff it against the monitor's view of our rows, write the changes
//!   in phases, each transaction at most `OPS_PER_TXN_MAX` operations);
//! - a monitor event touched rows we own: only if those rows now differ from
//!   the model of the last pass (`plan::diff_keys`). Most events are the echo
//!   of our own writes and cost nothing; an external edit or delete (drift)
//!   differs and gets a full pass.
//!
//! A monitor row leaves out columns at their default; the diff reads a missing
//! column as its default (`ColumnKind::default_value`), otherwise every pass
//! would rewrite every row (the regression test is `steady_state_is_quiet`).

pub mod driver;
pub mod fence;
mod leader;
pub mod plan;
pub mod status;

pub use driver::{
    BoxFuture, Drift, DriverConfig, DriverError, Leadership, OvnDriver, StateSource, Unconditional,
    DEBOUNCE_DEFAULT, OPS_PER_TXN_MAX,
};
pub use fence::{epoch_key, Claimed, Epoch, FenceError, Standing, Stored, EPOCH_KEY_PREFIX};
pub use plan::Change;
pub use status::{DriverStatus, FenceState, PassStats, SyncState};
