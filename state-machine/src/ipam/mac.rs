//! Cluster-wide MAC address allocation.
//!
//! Invariant: a MAC is held by at most one owner in the whole cluster (ports,
//! router interfaces, gateways). MACs inside the configured locally administered
//! prefix are allocated next-after-last with wrap-around (the same reuse delay as IP
//! addresses); requested MACs outside the prefix are only recorded for uniqueness.

use std::collections::BTreeSet;

use serde::{Deserialize, Serialize};

use super::intervals::IntervalSet;
use crate::net::Mac;

/// The locally administered prefix PrismNET allocates under: the high `len_bytes`
/// octets of every allocated MAC.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct MacPrefix {
    pub octets: [u8; 5],
    pub len_bytes: u8,
}

impl MacPrefix {
    /// 02:70:6e ("pn"): locally administered (bit 1 of the first octet), unicast.
    pub const DEFAULT: MacPrefix = MacPrefix {
        octets: [0x02, 0x70, 0x6e, 0, 0],
        len_bytes: 3,
    };

    /// A prefix must be 1 to 5 octets, locally administered and unicast, or guests
    /// and switches would treat allocated MACs as vendor or group addresses.
    pub fn is_valid(&self) -> bool {
        (1..=5).contains(&self.len_bytes)
            && self.octets[0] & 0x02 != 0
            && self.octets[0] & 0x01 == 0
            && self.octets[self.len_bytes as usize..]
                .iter()
                .all(|&o| o == 0)
    }

    fn suffix_bits(&self) -> u32 {
        48 - 8 * u32::from(self.len_bytes)
    }

    fn base(&self) -> u64 {
        let mut b = [0u8; 8];
        b[2..7].copy_from_slice(&self.octets);
        u64::from_be_bytes(b)
    }

    fn suffix_max(&self) -> u64 {
        (1u64 << self.suffix_bits()) - 1
    }

    /// Suffix of `mac` if it lies under this prefix.
    fn suffix_of(&self, mac: Mac) -> Option<u64> {
        let v = mac.as_u64();
        (v >> self.suffix_bits() == self.base() >> self.suffix_bits())
            .then_some(v & self.suffix_max())
    }

    pub fn render(&self) -> String {
        self.octets[..self.len_bytes as usize]
            .iter()
            .map(|o| format!("{o:02x}"))
            .collect::<Vec<_>>()
            .join(":")
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum MacError {
    #[error("MAC address is already in use")]
    InUse,
    #[error("MAC address is multicast or zero")]
    Invalid,
    #[error("every MAC address under the prefix is in use")]
    Exhausted,
}

#[derive(Clone, Debug)]
pub struct MacPool {
    prefix: MacPrefix,
    /// Suffixes held under the prefix.
    held: IntervalSet,
    /// Requested MACs outside the prefix.
    foreign: BTreeSet<u64>,
    cursor: Option<u64>,
}

impl MacPool {
    pub fn new(prefix: MacPrefix) -> MacPool {
        debug_assert!(prefix.is_valid());
        MacPool {
            prefix,
            held: IntervalSet::new(),
            foreign: BTreeSet::new(),
            cursor: None,
        }
    }

    pub fn prefix(&self) -> MacPrefix {
        self.prefix
    }

    pub fn cursor(&self) -> Option<u64> {
        self.cursor
    }

    pub fn set_cursor(&mut self, cursor: Option<u64>) {
        self.cursor = cursor;
    }

    pub fn len(&self) -> u128 {
        self.held.len() + self.foreign.len() as u128
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    pub fn contains(&self, mac: Mac) -> bool {
        match self.prefix.suffix_of(mac) {
            Some(s) => self.held.contains(s),
            None => self.foreign.contains(&mac.as_u64()),
        }
    }

    /// The MAC the next automatic allocation returns; changes nothing.
    pub fn peek_next(&self) -> Result<Mac, MacError> {
        let max = self.prefix.suffix_max();
        if self.held.len() > u128::from(max) {
            return Err(MacError::Exhausted);
        }
        let mut cand = match self.cursor {
            Some(c) if c < max => c + 1,
            _ => 0,
        };
        // The space is one range, so at most: jump a run, wrap, jump a run.
        for _ in 0..4 {
            match self.held.run_containing(cand) {
                None => return Ok(self.mac_of(cand)),
                Some((_, e)) if e < max => cand = e + 1,
                Some(_) => cand = 0,
            }
        }
        Err(MacError::Exhausted)
    }

    pub fn allocate_next(&mut self) -> Result<Mac, MacError> {
        let mac = self.peek_next()?;
        let s = self
            .prefix
            .suffix_of(mac)
            .expect("allocated under the prefix");
        self.held.insert(s);
        self.cursor = Some(s);
        Ok(mac)
    }

    pub fn check_specific(&self, mac: Mac) -> Result<(), MacError> {
        if mac.is_multicast() || mac.is_zero() {
            return Err(MacError::Invalid);
        }
        if self.contains(mac) {
            return Err(MacError::InUse);
        }
        Ok(())
    }

    pub fn allocate_specific(&mut self, mac: Mac) -> Result<(), MacError> {
        self.check_specific(mac)?;
        match self.prefix.suffix_of(mac) {
            Some(s) => self.held.insert(s),
            None => self.foreign.insert(mac.as_u64()),
        };
        Ok(())
    }

    pub fn release(&mut self, mac: Mac) -> bool {
        match self.prefix.suffix_of(mac) {
            Some(s) => self.held.remove(s),
            None => self.foreign.remove(&mac.as_u64()),
        }
    }

    fn mac_of(&self, suffix: u64) -> Mac {
        Mac::from_u64(self.prefix.base() | suffix).expect("prefix and suffix fit 48 bits")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn allocates_under_prefix_in_order() {
        let mut p = MacPool::new(MacPrefix::DEFAULT);
        assert_eq!(p.allocate_next().unwrap().to_string(), "02:70:6e:00:00:00");
        assert_eq!(p.allocate_next().unwrap().to_string(), "02:70:6e:00:00:01");
        let requested: Mac = "02:70:6e:00:00:02".parse().unwrap();
        p.allocate_specific(requested).unwrap();
        assert_eq!(p.allocate_next().unwrap().to_string(), "02:70:6e:00:00:03");
        assert_eq!(p.allocate_specific(requested), Err(MacError::InUse));
        let foreign: Mac = "52:54:00:00:00:01".parse().unwrap();
        p.allocate_specific(foreign).unwrap();
        assert_eq!(p.allocate_specific(foreign), Err(MacError::InUse));
        assert_eq!(
            p.allocate_specific("01:00:5e:00:00:01".parse().unwrap()),
            Err(MacError::Invalid)
        );
        assert!(p.release(foreign));
        assert_eq!(p.len(), 4);
    }

    #[test]
    fn exhausts_small_space_and_wraps() {
        let prefix = MacPrefix {
            octets: [0x02, 1, 2, 3, 4],
            len_bytes: 5,
        };
        assert!(prefix.is_valid());
        let mut p = MacPool::new(prefix);
        for _ in 0..256 {
            p.allocate_next().unwrap();
        }
        assert_eq!(p.allocate_next(), Err(MacError::Exhausted));
        assert!(p.release("02:01:02:03:04:07".parse().unwrap()));
        assert_eq!(p.allocate_next().unwrap().to_string(), "02:01:02:03:04:07");
    }

    #[test]
    fn prefix_validity() {
        assert!(MacPrefix::DEFAULT.is_valid());
        assert!(!MacPrefix {
            octets: [0x00, 0x16, 0x3e, 0, 0],
            len_bytes: 3
        }
        .is_valid());
        assert!(!MacPrefix {
            octets: [0x03, 0, 0, 0, 0],
            len_bytes: 1
        }
        .is_valid());
        assert_eq!(MacPrefix::DEFAULT.render(), "02:70:6e");
    }
}
