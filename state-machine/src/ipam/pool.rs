//! One address pool: the allocator of one address family of one subnet (or of an
//! external network).
//!
//! Rules enforced here, for every caller:
//! - the network address (offset 0), the IPv4 broadcast address, the gateway and
//!   every reserved range are *blocked*: never handed out, not even on request;
//! - automatic allocation only picks from the allocation pools (the whole block when
//!   none are given), minus the blocked addresses;
//! - a requested address may lie outside the pools (as in Neutron) but inside the
//!   block and not blocked;
//! - automatic allocation goes next-after-last with wrap-around, so an address that
//!   was just freed is the last one to be reused (a stale ARP or DHCP entry of a
//!   deleted VM must not hit the next VM).
//!
//! Cost: every operation is O(log runs) plus at most `4 * (allowed ranges + 2)` steps
//! (asserted), whatever the block size or fill level.

use std::net::IpAddr;

use serde::{Deserialize, Serialize};

use super::intervals::IntervalSet;
use crate::limits;
use crate::net::{Cidr, Family, IpRange};

/// Why a pool could not be built from its spec.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum SpecError {
    #[error("{cidr}: an {family} block must have a prefix length between {min} and {max}")]
    PrefixLength {
        cidr: Cidr,
        family: Family,
        min: u8,
        max: u8,
    },
    #[error("gateway {0} is not a usable address of {1}")]
    Gateway(IpAddr, Cidr),
    #[error("allocation pool {0} is not a valid range inside {1}")]
    Pool(IpRange, Cidr),
    #[error("allocation pools {0} and {1} overlap")]
    PoolOverlap(IpRange, IpRange),
    #[error("reserved range {0} is not a valid range inside {1}")]
    Reserved(IpRange, Cidr),
    #[error("too many ranges: at most {max} allocation pools and {max} reserved ranges")]
    TooManyRanges { max: usize },
}

/// Why an allocation or release failed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum PoolError {
    #[error("no free address left in the allocation pools")]
    Full,
    #[error("address is outside the block")]
    Outside,
    #[error("address is reserved (network, broadcast, gateway or a reserved range)")]
    Blocked,
    #[error("address is already in use")]
    InUse,
}

/// What defines a pool. Persisted; the held addresses are not (they are rebuilt from
/// the resources that hold them), the cursor is (it shapes future allocations).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PoolSpec {
    pub cidr: Cidr,
    pub gateway: Option<IpAddr>,
    /// Empty means the whole block.
    pub pools: Vec<IpRange>,
    pub reserved: Vec<IpRange>,
}

#[derive(Clone, Debug)]
pub struct AddressPool {
    cidr: Cidr,
    /// Offsets automatic allocation may pick: sorted, disjoint, non-empty ranges.
    allowed: Vec<(u64, u64)>,
    /// Offsets nobody may hold: sorted, disjoint.
    blocked: Vec<(u64, u64)>,
    held: IntervalSet,
    /// |allowed \ held|, kept exact so "full" is known in O(1) and the search below is
    /// guaranteed to terminate.
    free_allowed: u128,
    /// Offset handed out last by automatic allocation.
    cursor: Option<u64>,
}

impl AddressPool {
    pub fn new(spec: &PoolSpec) -> Result<AddressPool, SpecError> {
        let cidr = spec.cidr;
        let family = cidr.family();
        let (min, max) = match family {
            Family::V4 => (limits::IPV4_POOL_PREFIX_MIN, limits::IPV4_POOL_PREFIX_MAX),
            Family::V6 => (limits::IPV6_POOL_PREFIX_MIN, limits::IPV6_POOL_PREFIX_MAX),
        };
        if cidr.prefix() < min || cidr.prefix() > max {
            return Err(SpecError::PrefixLength {
                cidr,
                family,
                min,
                max,
            });
        }
        if spec.pools.len() > limits::RANGES_PER_POOL_MAX
            || spec.reserved.len() > limits::RANGES_PER_POOL_MAX
        {
            return Err(SpecError::TooManyRanges {
                max: limits::RANGES_PER_POOL_MAX,
            });
        }
        let last = cidr
            .last_offset()
            .expect("prefix bounds keep blocks within 2^64");

        let mut blocked = vec![(0, 0)];
        if family == Family::V4 {
            blocked.push((last, last));
        }
        if let Some(gw) = spec.gateway {
            match cidr.offset_of(&gw) {
                Some(o) if o != 0 && !(family == Family::V4 && o == last) => blocked.push((o, o)),
                _ => return Err(SpecError::Gateway(gw, cidr)),
            }
        }
        for r in &spec.reserved {
            let (s, e) = range_offsets(&cidr, r).ok_or(SpecError::Reserved(*r, cidr))?;
            blocked.push((s, e));
        }
        let blocked = normalize(blocked);

        let mut pools = Vec::with_capacity(spec.pools.len());
        for r in &spec.pools {
            pools.push((
                range_offsets(&cidr, r).ok_or(SpecError::Pool(*r, cidr))?,
                *r,
            ));
        }
        pools.sort();
        for w in pools.windows(2) {
            if w[1].0 .0 <= w[0].0 .1 {
                return Err(SpecError::PoolOverlap(w[0].1, w[1].1));
            }
        }
        let pools: Vec<(u64, u64)> = if pools.is_empty() {
            vec![(0, last)]
        } else {
            pools.into_iter().map(|(o, _)| o).collect()
        };
        let allowed = subtract(&pools, &blocked);
        let free_allowed = allowed.iter().map(|&(s, e)| (e - s) as u128 + 1).sum();
        Ok(AddressPool {
            cidr,
            allowed,
            blocked,
            held: IntervalSet::new(),
            free_allowed,
            cursor: None,
        })
    }

    pub fn cidr(&self) -> Cidr {
        self.cidr
    }

    pub fn cursor(&self) -> Option<u64> {
        self.cursor
    }

    /// Restores the cursor from a snapshot (it is part of the persisted state).
    pub fn set_cursor(&mut self, cursor: Option<u64>) {
        self.cursor = cursor;
    }

    /// Addresses held, inside or outside the pools.
    pub fn held(&self) -> u128 {
        self.held.len()
    }

    /// Addresses automatic allocation can still hand out.
    pub fn free(&self) -> u128 {
        self.free_allowed
    }

    /// Runs of held addresses (memory is proportional to this).
    pub fn runs(&self) -> usize {
        self.held.runs()
    }

    pub fn is_held(&self, ip: &IpAddr) -> bool {
        self.cidr
            .offset_of(ip)
            .is_some_and(|o| self.held.contains(o))
    }

    /// The address automatic allocation would hand out next; changes nothing.
    pub fn peek_next(&self) -> Result<IpAddr, PoolError> {
        self.next_free_offset().map(|o| self.cidr.addr_at(o))
    }

    /// Hands out the next free address after the last one handed out.
    pub fn allocate_next(&mut self) -> Result<IpAddr, PoolError> {
        let o = self.next_free_offset()?;
        self.hold(o);
        self.cursor = Some(o);
        Ok(self.cidr.addr_at(o))
    }

    /// Checks that `ip` could be held; changes nothing.
    pub fn check_specific(&self, ip: &IpAddr) -> Result<u64, PoolError> {
        let o = self.cidr.offset_of(ip).ok_or(PoolError::Outside)?;
        if in_ranges(&self.blocked, o) {
            return Err(PoolError::Blocked);
        }
        if self.held.contains(o) {
            return Err(PoolError::InUse);
        }
        Ok(o)
    }

    /// Holds a requested address. The cursor does not move: a requested address says
    /// nothing about where automatic allocation should continue.
    pub fn allocate_specific(&mut self, ip: &IpAddr) -> Result<(), PoolError> {
        let o = self.check_specific(ip)?;
        self.hold(o);
        Ok(())
    }

    /// Releases a held address; false if it was not held (the caller's bookkeeping is
    /// then wrong, which it treats as a bug).
    pub fn release(&mut self, ip: &IpAddr) -> bool {
        let Some(o) = self.cidr.offset_of(ip) else {
            return false;
        };
        if !self.held.remove(o) {
            return false;
        }
        if in_ranges(&self.allowed, o) {
            self.free_allowed += 1;
        }
        true
    }

    fn hold(&mut self, o: u64) {
        let inserted = self.held.insert(o);
        debug_assert!(inserted, "hold of an offset already held");
        if in_ranges(&self.allowed, o) {
            self.free_allowed -= 1;
        }
    }

    /// Smallest free allowed offset after the cursor, wrapping around once.
    fn next_free_offset(&self) -> Result<u64, PoolError> {
        if self.free_allowed == 0 {
            return Err(PoolError::Full);
        }
        let last = self.cidr.last_offset().expect("bounded prefix");
        let mut cand = match self.cursor {
            Some(c) if c < last => c + 1,
            _ => 0,
        };
        let mut wrapped = false;
        // Each step jumps over a held run or a gap between allowed ranges; with
        // free_allowed > 0 a free offset is met within one lap.
        let steps_max = 4 * (self.allowed.len() + 2);
        for _ in 0..steps_max {
            match first_allowed_at_or_after(&self.allowed, cand) {
                Some(a) => cand = a,
                None => {
                    assert!(!wrapped, "free_allowed > 0 but a full lap found nothing");
                    wrapped = true;
                    cand = self.allowed[0].0;
                }
            }
            match self.held.run_containing(cand) {
                None => return Ok(cand),
                Some((_, e)) if e < last => cand = e + 1,
                Some(_) => {
                    assert!(!wrapped, "free_allowed > 0 but a full lap found nothing");
                    wrapped = true;
                    cand = 0;
                }
            }
        }
        panic!("next-free search exceeded its bound of {steps_max} steps");
    }
}

/// Offsets of a range inside `cidr`, if it is well-formed and inside.
fn range_offsets(cidr: &Cidr, r: &IpRange) -> Option<(u64, u64)> {
    let s = cidr.offset_of(&r.start)?;
    let e = cidr.offset_of(&r.end)?;
    (s <= e).then_some((s, e))
}

fn in_ranges(ranges: &[(u64, u64)], o: u64) -> bool {
    let i = ranges.partition_point(|&(_, e)| e < o);
    ranges.get(i).is_some_and(|&(s, _)| s <= o)
}

fn first_allowed_at_or_after(ranges: &[(u64, u64)], o: u64) -> Option<u64> {
    let i = ranges.partition_point(|&(_, e)| e < o);
    ranges.get(i).map(|&(s, _)| s.max(o))
}

/// Sorts and merges overlapping or touching ranges.
fn normalize(mut v: Vec<(u64, u64)>) -> Vec<(u64, u64)> {
    v.sort();
    let mut out: Vec<(u64, u64)> = Vec::with_capacity(v.len());
    for (s, e) in v {
        match out.last_mut() {
            Some(l) if l.1.checked_add(1).is_none_or(|n| s <= n) => l.1 = l.1.max(e),
            _ => out.push((s, e)),
        }
    }
    out
}

/// `a \ b` for sorted, disjoint range lists.
fn subtract(a: &[(u64, u64)], b: &[(u64, u64)]) -> Vec<(u64, u64)> {
    let mut out = Vec::new();
    for &(s, e) in a {
        let mut cur = Some(s);
        for &(bs, be) in b {
            let Some(c) = cur else { break };
            if be < c || bs > e {
                continue;
            }
            if bs > c {
                out.push((c, bs - 1));
            }
            cur = if be >= e { None } else { Some(be + 1) };
        }
        if let Some(c) = cur {
            out.push((c, e));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    fn pool(
        cidr: &str,
        gw: Option<&str>,
        pools: &[(&str, &str)],
        reserved: &[(&str, &str)],
    ) -> AddressPool {
        let r = |v: &[(&str, &str)]| {
            v.iter()
                .map(|(a, b)| IpRange {
                    start: ip(a),
                    end: ip(b),
                })
                .collect()
        };
        AddressPool::new(&PoolSpec {
            cidr: cidr.parse().unwrap(),
            gateway: gw.map(ip),
            pools: r(pools),
            reserved: r(reserved),
        })
        .unwrap()
    }

    #[test]
    fn skips_network_gateway_broadcast() {
        let mut p = pool("10.0.0.0/29", Some("10.0.0.1"), &[], &[]);
        let got: Vec<String> = (0..5)
            .map(|_| p.allocate_next().unwrap().to_string())
            .collect();
        assert_eq!(
            got,
            ["10.0.0.2", "10.0.0.3", "10.0.0.4", "10.0.0.5", "10.0.0.6"]
        );
        assert_eq!(p.allocate_next(), Err(PoolError::Full));
        assert_eq!(
            p.allocate_specific(&ip("10.0.0.7")),
            Err(PoolError::Blocked)
        );
        assert_eq!(
            p.allocate_specific(&ip("10.0.0.0")),
            Err(PoolError::Blocked)
        );
        assert_eq!(
            p.allocate_specific(&ip("10.0.0.1")),
            Err(PoolError::Blocked)
        );
        assert_eq!(p.allocate_specific(&ip("10.0.0.3")), Err(PoolError::InUse));
        assert_eq!(
            p.allocate_specific(&ip("10.0.1.3")),
            Err(PoolError::Outside)
        );
    }

    #[test]
    fn next_after_last_with_wraparound() {
        let mut p = pool("10.0.0.0/29", Some("10.0.0.1"), &[], &[]);
        let a = p.allocate_next().unwrap();
        let b = p.allocate_next().unwrap();
        assert!(p.release(&a));
        // The freed .2 is not reused while later addresses are free.
        assert_eq!(p.allocate_next().unwrap(), ip("10.0.0.4"));
        assert!(p.release(&b));
        for want in ["10.0.0.5", "10.0.0.6", "10.0.0.2", "10.0.0.3"] {
            assert_eq!(p.allocate_next().unwrap(), ip(want));
        }
        assert_eq!(p.free(), 0);
    }

    #[test]
    fn pools_and_reserved_ranges() {
        let mut p = pool(
            "10.0.0.0/24",
            Some("10.0.0.1"),
            &[("10.0.0.10", "10.0.0.12"), ("10.0.0.100", "10.0.0.101")],
            &[("10.0.0.11", "10.0.0.11")],
        );
        assert_eq!(p.free(), 4);
        let got: Vec<String> = (0..4)
            .map(|_| p.allocate_next().unwrap().to_string())
            .collect();
        assert_eq!(got, ["10.0.0.10", "10.0.0.12", "10.0.0.100", "10.0.0.101"]);
        assert_eq!(p.allocate_next(), Err(PoolError::Full));
        // Outside the pools but inside the block: allowed on request.
        p.allocate_specific(&ip("10.0.0.50")).unwrap();
        assert_eq!(
            p.allocate_specific(&ip("10.0.0.11")),
            Err(PoolError::Blocked)
        );
        assert!(p.release(&ip("10.0.0.50")));
        assert_eq!(p.free(), 0);
    }

    #[test]
    fn spec_errors() {
        let spec = |cidr: &str, gw: &str| PoolSpec {
            cidr: cidr.parse().unwrap(),
            gateway: Some(ip(gw)),
            pools: vec![],
            reserved: vec![],
        };
        assert!(matches!(
            AddressPool::new(&spec("10.0.0.0/24", "10.0.1.1")),
            Err(SpecError::Gateway(..))
        ));
        assert!(matches!(
            AddressPool::new(&spec("10.0.0.0/24", "10.0.0.255")),
            Err(SpecError::Gateway(..))
        ));
        assert!(matches!(
            AddressPool::new(&spec("10.0.0.0/31", "10.0.0.1")),
            Err(SpecError::PrefixLength { .. })
        ));
        assert!(matches!(
            AddressPool::new(&spec("fd00::/48", "fd00::1")),
            Err(SpecError::PrefixLength { .. })
        ));
        let overlapping = PoolSpec {
            cidr: "10.0.0.0/24".parse().unwrap(),
            gateway: None,
            pools: vec![
                IpRange {
                    start: ip("10.0.0.10"),
                    end: ip("10.0.0.20"),
                },
                IpRange {
                    start: ip("10.0.0.20"),
                    end: ip("10.0.0.30"),
                },
            ],
            reserved: vec![],
        };
        assert!(matches!(
            AddressPool::new(&overlapping),
            Err(SpecError::PoolOverlap(..))
        ));
    }

    #[test]
    fn ipv6_64_is_cheap() {
        let mut p = pool("fd00:1::/64", Some("fd00:1::1"), &[], &[]);
        assert_eq!(p.free(), (1u128 << 64) - 2);
        assert_eq!(p.allocate_next().unwrap(), ip("fd00:1::2"));
        p.allocate_specific(&ip("fd00:1::ffff:ffff:ffff:ffff"))
            .unwrap();
        assert_eq!(p.runs(), 2);
    }

    #[test]
    fn nearly_full_block_finds_the_hole() {
        let mut p = pool("10.0.0.0/16", Some("10.0.0.1"), &[], &[]);
        for _ in 0..65533 {
            p.allocate_next().unwrap();
        }
        assert_eq!(p.runs(), 1);
        assert!(p.release(&ip("10.0.19.136")));
        assert_eq!(p.allocate_next().unwrap(), ip("10.0.19.136"));
        assert_eq!(p.allocate_next(), Err(PoolError::Full));
    }
}
