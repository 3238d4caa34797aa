//! A subnet: one L2 segment (an OVN logical switch) with an IPv4 and/or an IPv6 block.

use std::net::IpAddr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::id::Id;
use crate::ipam::{AddressPool, PoolSpec};
use crate::net::{Cidr, Mac};
use crate::scope::Scope;

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum Ipv6Mode {
    /// Guests build their address from the router advertisement prefix and their MAC.
    #[default]
    Slaac,
    /// Addresses are leased by DHCPv6.
    Dhcpv6Stateful,
    /// SLAAC addresses, other configuration (DNS) by DHCPv6.
    Dhcpv6Stateless,
}

impl Ipv6Mode {
    /// Whether the guest derives its own address (EUI-64) instead of being told one.
    pub fn is_autoconfigured(self) -> bool {
        !matches!(self, Ipv6Mode::Dhcpv6Stateful)
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Ipv6Mode::Slaac => "slaac",
            Ipv6Mode::Dhcpv6Stateful => "dhcpv6-stateful",
            Ipv6Mode::Dhcpv6Stateless => "dhcpv6-stateless",
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Subnet {
    pub id: Id,
    pub vpc_id: Id,
    /// Copy of the VPC's scope: every access check on a port resolves in one lookup.
    pub scope: Scope,
    pub name: String,
    pub v4: Option<SubnetFamily>,
    pub v6: Option<SubnetFamily>,
    pub ipv6_mode: Ipv6Mode,
    pub dns_servers: Vec<IpAddr>,
    pub host_routes: Vec<HostRoute>,
    pub dhcp_enabled: bool,
    pub mtu: u32,
    /// MAC of the VPC router's interface on this subnet.
    pub gateway_mac: Mac,
    pub created_ms: u64,
    pub updated_ms: u64,
}

impl Subnet {
    pub fn family(&self, f: crate::net::Family) -> Option<&SubnetFamily> {
        match f {
            crate::net::Family::V4 => self.v4.as_ref(),
            crate::net::Family::V6 => self.v6.as_ref(),
        }
    }

    pub fn family_mut(&mut self, f: crate::net::Family) -> Option<&mut SubnetFamily> {
        match f {
            crate::net::Family::V4 => self.v4.as_mut(),
            crate::net::Family::V6 => self.v6.as_mut(),
        }
    }

    pub fn cidrs(&self) -> impl Iterator<Item = Cidr> + '_ {
        self.v4.iter().chain(self.v6.iter()).map(|f| f.spec.cidr)
    }
}

/// One address family of a subnet: its definition and its live allocator.
///
/// Persisted as the spec plus the allocation cursor; which addresses are held is
/// rebuilt from the ports on restore (one source of truth).
#[derive(Clone, Debug)]
pub struct SubnetFamily {
    pub spec: PoolSpec,
    pub pool: AddressPool,
}

impl SubnetFamily {
    pub fn cidr(&self) -> Cidr {
        self.spec.cidr
    }

    /// Every subnet family has a gateway (the first usable address by default).
    pub fn gateway(&self) -> IpAddr {
        self.spec
            .gateway
            .expect("subnet families always have a gateway")
    }
}

impl PartialEq for SubnetFamily {
    fn eq(&self, other: &Self) -> bool {
        self.spec == other.spec && self.pool.cursor() == other.pool.cursor()
    }
}

impl Eq for SubnetFamily {}

#[derive(Serialize)]
struct FamilyRecordRef<'a> {
    spec: &'a PoolSpec,
    cursor: Option<u64>,
}

#[derive(Deserialize)]
struct FamilyRecord {
    spec: PoolSpec,
    cursor: Option<u64>,
}

impl Serialize for SubnetFamily {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        FamilyRecordRef {
            spec: &self.spec,
            cursor: self.pool.cursor(),
        }
        .serialize(s)
    }
}

impl<'de> Deserialize<'de> for SubnetFamily {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let r = FamilyRecord::deserialize(d)?;
        let mut pool = AddressPool::new(&r.spec).map_err(serde::de::Error::custom)?;
        pool.set_cursor(r.cursor);
        Ok(SubnetFamily { spec: r.spec, pool })
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct HostRoute {
    pub destination: Cidr,
    pub nexthop: IpAddr,
}
