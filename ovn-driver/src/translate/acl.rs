//! Security group rules as OVN ACL matches (Neutron's mapping): ingress
//! rules are `to-lport` ACLs matching `outport == @pg`, egress rules
//! `from-lport` ACLs matching `inport == @pg`; all `allow-related` above the
//! default drop.

use prismnet_state::model::{Direction, Protocol, Remote, Rule};
use prismnet_state::net::Family;

use super::names;
use crate::nb::acl::{FROM_LPORT, TO_LPORT};

pub fn direction(rule: &Rule) -> &'static str {
    match rule.direction {
        Direction::Ingress => TO_LPORT,
        Direction::Egress => FROM_LPORT,
    }
}

pub fn rule_match(pg: &str, rule: &Rule) -> String {
    let (port, side) = match rule.direction {
        Direction::Ingress => (format!("outport == @{pg}"), "src"),
        Direction::Egress => (format!("inport == @{pg}"), "dst"),
    };
    let ip = match rule.ethertype {
        Family::V4 => "ip4",
        Family::V6 => "ip6",
    };
    let mut m = vec![port, ip.to_string()];
    match rule.remote {
        Remote::Any => {}
        Remote::Cidr(c) => m.push(format!("{ip}.{side} == {c}")),
        Remote::Group(g) => m.push(format!("{ip}.{side} == ${}", names::address_set(g, ip))),
    }
    match rule.protocol {
        Protocol::Any => {}
        Protocol::Tcp | Protocol::Udp => {
            let p = if rule.protocol == Protocol::Tcp {
                "tcp"
            } else {
                "udp"
            };
            m.push(p.to_string());
            match (rule.port_min, rule.port_max) {
                (Some(a), Some(b)) if a == b => m.push(format!("{p}.dst == {a}")),
                (Some(a), Some(b)) => m.push(format!("{p}.dst >= {a} && {p}.dst <= {b}")),
                (Some(a), None) => m.push(format!("{p}.dst >= {a}")),
                (None, Some(b)) => m.push(format!("{p}.dst <= {b}")),
                (None, None) => {}
            }
        }
        Protocol::Icmp => {
            let p = match rule.ethertype {
                Family::V4 => "icmp4",
                Family::V6 => "icmp6",
            };
            m.push(p.to_string());
            if let Some(t) = rule.port_min {
                m.push(format!("{p}.type == {t}"));
            }
            if let Some(c) = rule.port_max {
                m.push(format!("{p}.code == {c}"));
            }
        }
        Protocol::Number(n) => m.push(format!("ip.proto == {n}")),
    }
    m.join(" && ")
}

/// What the default-drop group still lets out of a VM: DHCPv4/v6 requests,
/// IPv6 neighbor discovery and router solicitations (ARP is not `ip` and is
/// never dropped).
pub fn drop_group_egress_allow(pg: &str) -> String {
    format!(
        "inport == @{pg} && (nd || nd_rs || (ip4 && udp && udp.src == 68 && udp.dst == 67) \
         || (ip6 && udp && udp.src == 546 && udp.dst == 547))"
    )
}

/// What the default-drop group still lets into a VM: DHCP replies, neighbor
/// discovery and router advertisements.
pub fn drop_group_ingress_allow(pg: &str) -> String {
    format!(
        "outport == @{pg} && (nd || nd_ra || (ip4 && udp && udp.src == 67 && udp.dst == 68) \
         || (ip6 && udp && udp.src == 547 && udp.dst == 546))"
    )
}
