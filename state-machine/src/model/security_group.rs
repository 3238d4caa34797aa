//! Security groups: stateful allow-lists applied to ports.
//!
//! Semantics (as in Neutron): traffic of a port with port security on is dropped
//! unless a rule of one of its groups allows it; replies to allowed traffic are
//! allowed (stateful); DHCP, ARP and IPv6 ND always pass.

use serde::{Deserialize, Serialize};

use crate::id::Id;
use crate::net::{Cidr, Family};
use crate::scope::Scope;

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SecurityGroup {
    pub id: Id,
    pub scope: Scope,
    /// Invariant: unique within the project (so `default` names one group).
    pub name: String,
    pub description: String,
    pub rules: Vec<Rule>,
    pub created_ms: u64,
    pub updated_ms: u64,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub enum Direction {
    Ingress,
    Egress,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub enum Protocol {
    Any,
    Tcp,
    Udp,
    /// ICMP for IPv4 rules, ICMPv6 for IPv6 rules.
    Icmp,
    /// Any other IP protocol number.
    Number(u8),
}

impl Protocol {
    /// Port ranges are meaningful for these; for ICMP the "ports" are type and code.
    pub fn has_ports(self) -> bool {
        matches!(self, Protocol::Tcp | Protocol::Udp)
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub enum Remote {
    /// Any address of the rule's ethertype.
    Any,
    Cidr(Cidr),
    /// Addresses of the ports that are members of this group.
    Group(Id),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Rule {
    pub id: Id,
    pub direction: Direction,
    pub ethertype: Family,
    pub protocol: Protocol,
    /// For TCP/UDP: destination port range. For ICMP: `port_min` is the type and
    /// `port_max` the code. `None` means any.
    pub port_min: Option<u16>,
    pub port_max: Option<u16>,
    pub remote: Remote,
}

impl Rule {
    /// Two rules with the same match are the same rule; a duplicate is refused.
    pub fn same_match(&self, other: &Rule) -> bool {
        (
            self.direction,
            self.ethertype,
            self.protocol,
            self.port_min,
            self.port_max,
            self.remote,
        ) == (
            other.direction,
            other.ethertype,
            other.protocol,
            other.port_min,
            other.port_max,
            other.remote,
        )
    }
}
