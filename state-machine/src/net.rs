//! Address arithmetic: CIDR blocks, inclusive address ranges and MAC addresses.
//!
//! Addresses of both families are handled as `u128` bit patterns so one code path
//! serves IPv4 and IPv6. Offsets inside a block are `u64`: every block the IPAM
//! allocates from is at most 2^64 addresses (an IPv6 /64), see [`crate::limits`].

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// IP address family.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum Family {
    V4,
    V6,
}

impl Family {
    pub fn of(ip: &IpAddr) -> Family {
        match ip {
            IpAddr::V4(_) => Family::V4,
            IpAddr::V6(_) => Family::V6,
        }
    }

    pub fn max_prefix(self) -> u8 {
        match self {
            Family::V4 => 32,
            Family::V6 => 128,
        }
    }
}

impl fmt::Display for Family {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Family::V4 => "ipv4",
            Family::V6 => "ipv6",
        })
    }
}

/// Malformed network input. Converted into a `StateError` by the caller, which knows
/// which field was wrong.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum NetError {
    #[error("'{0}' is not an address/prefix (e.g. 10.0.0.0/16)")]
    Syntax(String),
    #[error("prefix length {prefix} is out of range for {family}")]
    PrefixOutOfRange { family: Family, prefix: u8 },
    #[error("{0} has host bits set; the network address is {1}")]
    HostBitsSet(String, String),
    #[error("'{0}' is not a MAC address (expected six hex octets separated by ':')")]
    MacSyntax(String),
}

pub(crate) fn ip_bits(ip: &IpAddr) -> u128 {
    match ip {
        IpAddr::V4(a) => u32::from(*a) as u128,
        IpAddr::V6(a) => u128::from(*a),
    }
}

pub(crate) fn ip_from_bits(family: Family, bits: u128) -> IpAddr {
    match family {
        // The caller only passes bit patterns that came from an IPv4 block.
        Family::V4 => IpAddr::V4(Ipv4Addr::from(bits as u32)),
        Family::V6 => IpAddr::V6(Ipv6Addr::from(bits)),
    }
}

/// A network block: address with all host bits zero, plus a prefix length.
///
/// Invariant (checked by [`Cidr::new`] and on deserialization): host bits are zero
/// and the prefix fits the family.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "RawCidr")]
pub struct Cidr {
    addr: IpAddr,
    prefix: u8,
}

#[derive(Deserialize)]
struct RawCidr {
    addr: IpAddr,
    prefix: u8,
}

impl TryFrom<RawCidr> for Cidr {
    type Error = NetError;
    fn try_from(raw: RawCidr) -> Result<Self, NetError> {
        Cidr::new(raw.addr, raw.prefix)
    }
}

impl Cidr {
    pub fn new(addr: IpAddr, prefix: u8) -> Result<Cidr, NetError> {
        let family = Family::of(&addr);
        if prefix > family.max_prefix() {
            return Err(NetError::PrefixOutOfRange { family, prefix });
        }
        let c = Cidr { addr, prefix };
        if ip_bits(&addr) & c.host_mask() != 0 {
            let net = ip_from_bits(family, ip_bits(&addr) & !c.host_mask());
            return Err(NetError::HostBitsSet(
                format!("{addr}/{prefix}"),
                format!("{net}/{prefix}"),
            ));
        }
        Ok(c)
    }

    pub fn family(&self) -> Family {
        Family::of(&self.addr)
    }

    pub fn prefix(&self) -> u8 {
        self.prefix
    }

    pub fn network(&self) -> IpAddr {
        self.addr
    }

    /// Number of host bits: the block holds 2^host_bits addresses.
    pub fn host_bits(&self) -> u8 {
        self.family().max_prefix() - self.prefix
    }

    fn host_mask(&self) -> u128 {
        let bits = self.host_bits();
        if bits >= 128 {
            u128::MAX
        } else {
            (1u128 << bits) - 1
        }
    }

    pub(crate) fn first_bits(&self) -> u128 {
        ip_bits(&self.addr)
    }

    pub fn contains_ip(&self, ip: &IpAddr) -> bool {
        Family::of(ip) == self.family() && (ip_bits(ip) & !self.host_mask()) == self.first_bits()
    }

    /// True if `other` lies entirely inside `self`.
    pub fn contains(&self, other: &Cidr) -> bool {
        other.family() == self.family()
            && other.prefix >= self.prefix
            && self.contains_ip(&other.addr)
    }

    pub fn overlaps(&self, other: &Cidr) -> bool {
        self.contains(other) || other.contains(self)
    }

    /// Offset of `ip` from the block's network address, if inside and representable.
    pub fn offset_of(&self, ip: &IpAddr) -> Option<u64> {
        if !self.contains_ip(ip) {
            return None;
        }
        u64::try_from(ip_bits(ip) - self.first_bits()).ok()
    }

    /// The address `offset` places after the network address. The caller guarantees
    /// the offset is inside the block (offsets come from a pool sized for it).
    pub fn addr_at(&self, offset: u64) -> IpAddr {
        debug_assert!((offset as u128) <= self.host_mask());
        ip_from_bits(self.family(), self.first_bits() + offset as u128)
    }

    /// Highest offset in the block, if the block has at most 2^64 addresses.
    pub fn last_offset(&self) -> Option<u64> {
        u64::try_from(self.host_mask()).ok()
    }
}

impl fmt::Display for Cidr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.addr, self.prefix)
    }
}

impl FromStr for Cidr {
    type Err = NetError;
    fn from_str(s: &str) -> Result<Cidr, NetError> {
        let (a, p) = s
            .split_once('/')
            .ok_or_else(|| NetError::Syntax(s.to_string()))?;
        let addr: IpAddr = a.parse().map_err(|_| NetError::Syntax(s.to_string()))?;
        let prefix: u8 = p.parse().map_err(|_| NetError::Syntax(s.to_string()))?;
        Cidr::new(addr, prefix)
    }
}

/// An inclusive range of addresses of one family (`start <= end` is checked by the
/// command validation that accepts it).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct IpRange {
    pub start: IpAddr,
    pub end: IpAddr,
}

impl IpRange {
    pub fn single(ip: IpAddr) -> IpRange {
        IpRange { start: ip, end: ip }
    }
}

impl fmt::Display for IpRange {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}-{}", self.start, self.end)
    }
}

/// A 48-bit MAC address stored in the low bits of a `u64`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct Mac(u64);

impl Mac {
    pub const MAX: u64 = (1 << 48) - 1;

    pub fn from_u64(v: u64) -> Option<Mac> {
        (v <= Mac::MAX).then_some(Mac(v))
    }

    pub fn as_u64(&self) -> u64 {
        self.0
    }

    pub fn octets(&self) -> [u8; 6] {
        let b = self.0.to_be_bytes();
        [b[2], b[3], b[4], b[5], b[6], b[7]]
    }

    /// Group (multicast/broadcast) addresses can never be a NIC's address.
    pub fn is_multicast(&self) -> bool {
        self.octets()[0] & 0x01 != 0
    }

    pub fn is_zero(&self) -> bool {
        self.0 == 0
    }

    /// Modified EUI-64 interface identifier (RFC 4291 appendix A): what a SLAAC guest
    /// derives from this MAC.
    pub fn eui64_interface_id(&self) -> u64 {
        let o = self.octets();
        u64::from_be_bytes([o[0] ^ 0x02, o[1], o[2], 0xff, 0xfe, o[3], o[4], o[5]])
    }
}

impl fmt::Display for Mac {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let o = self.octets();
        write!(
            f,
            "{:02x}:{:02x}:{:02x}:{:02x}:{:02x}:{:02x}",
            o[0], o[1], o[2], o[3], o[4], o[5]
        )
    }
}

impl FromStr for Mac {
    type Err = NetError;
    fn from_str(s: &str) -> Result<Mac, NetError> {
        let err = || NetError::MacSyntax(s.to_string());
        let mut v: u64 = 0;
        let mut n = 0;
        for part in s.split(':') {
            if part.len() != 2 || n == 6 {
                return Err(err());
            }
            v = (v << 8) | u64::from(u8::from_str_radix(part, 16).map_err(|_| err())?);
            n += 1;
        }
        if n != 6 {
            return Err(err());
        }
        Ok(Mac(v))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cidr_parse_and_contains() {
        let c: Cidr = "10.0.0.0/16".parse().unwrap();
        assert!(c.contains(&"10.0.5.0/24".parse().unwrap()));
        assert!(!c.contains(&"10.1.0.0/24".parse().unwrap()));
        assert!(c.overlaps(&"10.0.0.0/8".parse().unwrap()));
        assert_eq!(c.offset_of(&"10.0.1.2".parse().unwrap()), Some(258));
        assert_eq!(c.addr_at(258).to_string(), "10.0.1.2");
        assert_eq!(c.last_offset(), Some(65535));
        assert!(matches!(
            "10.0.0.1/16".parse::<Cidr>(),
            Err(NetError::HostBitsSet(..))
        ));
        assert!(matches!(
            "10.0.0.0/33".parse::<Cidr>(),
            Err(NetError::PrefixOutOfRange { .. })
        ));
        assert!("10.0.0.0".parse::<Cidr>().is_err());
        let v6: Cidr = "fd00:1::/64".parse().unwrap();
        assert_eq!(v6.last_offset(), Some(u64::MAX));
        assert!(!v6.contains_ip(&"10.0.0.1".parse().unwrap()));
        let big: Cidr = "fd00::/48".parse().unwrap();
        assert_eq!(big.last_offset(), None);
    }

    #[test]
    fn mac_format_and_eui64() {
        let m: Mac = "52:54:00:12:34:56".parse().unwrap();
        assert_eq!(m.to_string(), "52:54:00:12:34:56");
        assert_eq!(m.eui64_interface_id(), 0x5054_00ff_fe12_3456);
        assert!("52:54:00:12:34".parse::<Mac>().is_err());
        assert!("52:54:00:12:34:56:78".parse::<Mac>().is_err());
        assert!("5:54:00:12:34:56".parse::<Mac>().is_err());
        assert!("01:00:5e:00:00:01".parse::<Mac>().unwrap().is_multicast());
        assert_eq!(
            "AA:BB:CC:DD:EE:FF".parse::<Mac>().unwrap().to_string(),
            "aa:bb:cc:dd:ee:ff"
        );
    }
}
