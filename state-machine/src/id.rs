//! Resource ids.
//!
//! Ids are derived from the log, never from randomness: the id of the `n`-th resource
//! a command creates is a function of the cluster's id salt, the command's log index
//! and `n`. Every replica therefore assigns the same ids, and ids never repeat within
//! a cluster because log indexes do not. They print as UUIDs so they can name OVN
//! rows and hypervisor interfaces (`iface-id`).

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct Id(u128);

impl Id {
    /// Layout: salt (32 bits) | log index (64 bits) | ordinal within the command (32).
    pub fn derive(salt: u32, index: u64, ordinal: u32) -> Id {
        Id((u128::from(salt) << 96) | (u128::from(index) << 32) | u128::from(ordinal))
    }

    pub const fn from_u128(v: u128) -> Id {
        Id(v)
    }

    pub fn as_u128(&self) -> u128 {
        self.0
    }

    /// Smallest id, for range scans.
    pub const MIN: Id = Id(0);
    pub const MAX: Id = Id(u128::MAX);
}

/// The zero id: only a placeholder in partially built update commands.
impl Default for Id {
    fn default() -> Id {
        Id::MIN
    }
}

impl fmt::Display for Id {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let v = self.0;
        write!(
            f,
            "{:08x}-{:04x}-{:04x}-{:04x}-{:012x}",
            (v >> 96) as u32,
            (v >> 80) as u16,
            (v >> 64) as u16,
            (v >> 48) as u16,
            (v & 0xffff_ffff_ffff) as u64
        )
    }
}

impl fmt::Debug for Id {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error(
    "'{0}' is not a resource id (expected a UUID such as 00000000-0000-0000-0000-000000000000)"
)]
pub struct IdSyntaxError(pub String);

impl FromStr for Id {
    type Err = IdSyntaxError;
    fn from_str(s: &str) -> Result<Id, IdSyntaxError> {
        let err = || IdSyntaxError(s.to_string());
        let groups: Vec<&str> = s.split('-').collect();
        let lens = [8, 4, 4, 4, 12];
        if groups.len() != 5
            || groups
                .iter()
                .zip(lens)
                .any(|(g, l)| g.len() != l || !g.bytes().all(|b| b.is_ascii_hexdigit()))
        {
            return Err(err());
        }
        let mut v: u128 = 0;
        for g in groups {
            let part = u64::from_str_radix(g, 16).map_err(|_| err())?;
            v = (v << (4 * g.len())) | u128::from(part);
        }
        Ok(Id(v))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_as_uuid() {
        let id = Id::derive(0xdeadbeef, 42, 3);
        let s = id.to_string();
        assert_eq!(s, "deadbeef-0000-0000-0000-002a00000003");
        assert_eq!(s.parse::<Id>().unwrap(), id);
        assert!("deadbeef-0000-0000-0000-002a0000000".parse::<Id>().is_err());
        assert!("not-an-id".parse::<Id>().is_err());
        assert!("deadbeef-0000-0000-0000-002a0000000g"
            .parse::<Id>()
            .is_err());
        assert!("+eadbeef-0000-0000-0000-002a00000003"
            .parse::<Id>()
            .is_err());
    }
}
