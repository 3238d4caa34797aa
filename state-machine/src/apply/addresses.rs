//! Address bookkeeping shared by the commands that hold addresses: the mapping of
//! allocator errors to stable reasons, and the cluster MAC pool.

use std::net::IpAddr;

use crate::error::{Reason, StateError};
use crate::ipam::{MacError, PoolError};
use crate::net::Mac;
use crate::state::State;

/// Maps an allocator error for `ip` (None: automatic allocation) in `block`.
pub(crate) fn pool_error(e: PoolError, ip: Option<&IpAddr>, block: &str) -> StateError {
    let ip = ip.map(|i| i.to_string()).unwrap_or_default();
    match e {
        PoolError::Full => {
            StateError::new(Reason::SubnetFull, format!("{block} has no free address"))
        }
        PoolError::Outside => StateError::new(
            Reason::IpOutsideSubnet,
            format!("{ip} is not inside {block}"),
        ),
        PoolError::Blocked => StateError::new(
            Reason::IpReserved,
            format!(
                "{ip} is reserved in {block} (network, broadcast, gateway or a reserved range)"
            ),
        ),
        PoolError::InUse => StateError::new(
            Reason::IpInUse,
            format!("{ip} is already in use in {block}"),
        ),
    }
}

pub(crate) fn mac_error(e: MacError, mac: Option<Mac>) -> StateError {
    let mac = mac.map(|m| m.to_string()).unwrap_or_default();
    match e {
        MacError::InUse => {
            StateError::new(Reason::MacInUse, format!("MAC {mac} is already in use"))
        }
        MacError::Invalid => StateError::new(
            Reason::InvalidMac,
            format!("MAC {mac} is a multicast or zero address"),
        ),
        MacError::Exhausted => StateError::new(
            Reason::MacSpaceExhausted,
            "every MAC address under the cluster prefix is in use",
        ),
    }
}

impl State {
    /// The MAC the next automatic allocation would take. Changes nothing.
    pub(crate) fn peek_mac(&self) -> Result<Mac, StateError> {
        self.macs.peek_next().map_err(|e| mac_error(e, None))
    }

    /// Takes the MAC `peek_mac` returned, in the change phase of the same command.
    pub(crate) fn take_next_mac(&mut self, peeked: Mac) {
        let got = self
            .macs
            .allocate_next()
            .expect("peeked in the check phase");
        assert_eq!(got, peeked, "MAC pool changed between check and change");
    }

    /// Takes a requested MAC that `check_mac` accepted in the same command.
    pub(crate) fn take_requested_mac(&mut self, mac: Mac) {
        self.macs
            .allocate_specific(mac)
            .expect("checked in the check phase");
    }

    pub(crate) fn check_mac(&self, mac: Mac) -> Result<(), StateError> {
        self.macs
            .check_specific(mac)
            .map_err(|e| mac_error(e, Some(mac)))
    }

    pub(crate) fn release_mac(&mut self, mac: Mac) {
        let released = self.macs.release(mac);
        assert!(released, "MAC {mac} was not held");
    }
}
