//! A port: one NIC of a VM on one subnet.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use serde::{Deserialize, Serialize};

use crate::id::Id;
use crate::net::{Cidr, Mac};

/// Strings and lists are boxed slices (`Box<str>`, `Box<[T]>`): 16 bytes each
/// instead of 24, and a port holds a million times over; they encode exactly like
/// `String` and `Vec`, so the formats do not change.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Port {
    pub id: Id,
    pub subnet_id: Id,
    pub name: Box<str>,
    /// Invariant: held in the cluster MAC pool by this port only.
    pub mac: Mac,
    /// Invariant: one address per family the subnet has, held in that family's pool
    /// by this port only. In SLAAC and DHCPv6-stateless mode the IPv6 address is the
    /// EUI-64 address of `mac`.
    pub ipv4: Option<Ipv4Addr>,
    pub ipv6: Option<Ipv6Addr>,
    pub device_id: Box<str>,
    pub device_owner: Box<str>,
    /// Chassis the port is bound to; empty until bound.
    pub host: Box<str>,
    /// Invariant: groups of the port's project; empty when port security is off.
    pub security_groups: Box<[Id]>,
    pub port_security: bool,
    pub allowed_address_pairs: Box<[AddressPair]>,
    pub admin_state_up: bool,
    pub created_ms: u64,
    pub updated_ms: u64,
}

impl Port {
    pub fn fixed_ips(&self) -> impl Iterator<Item = IpAddr> + '_ {
        self.ipv4
            .map(IpAddr::V4)
            .into_iter()
            .chain(self.ipv6.map(IpAddr::V6))
    }
}

/// Extra source address (and optionally MAC) port security lets through, e.g. for a
/// VRRP address shared by two VMs.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct AddressPair {
    pub ip: Cidr,
    pub mac: Option<Mac>,
}
