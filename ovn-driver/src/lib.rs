//! prismnet-ovn: the OVN Northbound side of PrismNET.
//!
//! | module | purpose |
//! |---|---|
//! | [`ovsdb`] | our own RFC 7047 OVSDB client (framing, transact, monitor, reconnect, clustered-leader selection) |
//! | `testing` (feature `testing`) | starts real `ovsdb-server` processes for tests |

pub mod ovsdb;

#[cfg(feature = "testing")]
pub mod testing;
