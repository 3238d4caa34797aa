//! prismnet-ovn: the OVN Northbound side of PrismNET.
//!
//! | module | purpose |
//! |---|---|
//! | [`ovsdb`] | our own RFC 7047 OVSDB client (framing, transact, monitor, reconnect, clustered-leader selection) |
//! | [`nb`] | typed rows of the NB tables we write, one module per table; ownership external_ids |
//! | [`translate`] | pure translation of the replicated state into desired NB rows |
//! | [`reconcile`] | the fenced reconciler: [`OvnDriver`], fence, diff, drift repair, status |
//! | `testing` (feature `testing`) | starts real `ovsdb-server` / `ovn-northd` processes and builds states for tests |

pub mod nb;
pub mod ovsdb;
pub mod reconcile;
pub mod translate;

pub use reconcile::{
    DriverConfig, DriverError, DriverStatus, Epoch, Leadership, OvnDriver, StateSource,
    Unconditional,
};

#[cfg(feature = "testing")]
pub mod testing;
#[cfg(feature = "testing")]
pub mod topology;
