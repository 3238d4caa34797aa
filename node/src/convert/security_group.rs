//! Security groups and rules.

use prismnet_api::errors::reasons;
use prismnet_api::v1;
use prismnet_state::command::RuleSpec;
use prismnet_state::model::{Direction, Protocol, Remote, Rule, SecurityGroup};
use prismnet_state::net::Family;
use tonic::Status;

use super::{group_ref, opt_cidr};
use crate::errors::invalid;

pub fn protocol(s: &str) -> Result<Protocol, Status> {
    Ok(match s.to_ascii_lowercase().as_str() {
        "" | "any" => Protocol::Any,
        "tcp" => Protocol::Tcp,
        "udp" => Protocol::Udp,
        "icmp" | "icmpv6" | "ipv6-icmp" => Protocol::Icmp,
        n => Protocol::Number(n.parse().map_err(|_| {
            invalid(
                "invalid_protocol",
                "protocol",
                s,
                "any, tcp, udp, icmp or 0-255",
            )
        })?),
    })
}

fn protocol_name(p: Protocol) -> String {
    match p {
        Protocol::Any => "any".into(),
        Protocol::Tcp => "tcp".into(),
        Protocol::Udp => "udp".into(),
        Protocol::Icmp => "icmp".into(),
        Protocol::Number(n) => n.to_string(),
    }
}

fn port_bound(field: &str, v: u32) -> Result<Option<u16>, Status> {
    if v == 0 {
        return Ok(None);
    }
    u16::try_from(v).map(Some).map_err(|_| {
        invalid(
            reasons::INVALID_PORT_RANGE,
            field,
            &v.to_string(),
            "at most 65535",
        )
    })
}

pub fn rule(r: &v1::SecurityGroupRule) -> Result<RuleSpec, Status> {
    let direction = match v1::Direction::try_from(r.direction) {
        Ok(v1::Direction::Ingress) => Direction::Ingress,
        Ok(v1::Direction::Egress) => Direction::Egress,
        _ => {
            return Err(invalid(
                reasons::INVALID_ARGUMENT,
                "direction",
                &r.direction.to_string(),
                "ingress or egress",
            ))
        }
    };
    let ethertype = match v1::EtherType::try_from(r.ethertype) {
        Ok(v1::EtherType::Unspecified | v1::EtherType::Ipv4) => Family::V4,
        Ok(v1::EtherType::Ipv6) => Family::V6,
        Err(_) => {
            return Err(invalid(
                reasons::INVALID_ARGUMENT,
                "ethertype",
                &r.ethertype.to_string(),
                "ipv4 or ipv6",
            ))
        }
    };
    Ok(RuleSpec {
        direction,
        ethertype,
        protocol: protocol(&r.protocol)?,
        port_min: port_bound("port_range_min", r.port_range_min)?,
        port_max: port_bound("port_range_max", r.port_range_max)?,
        remote_cidr: opt_cidr("remote_ip_prefix", &r.remote_ip_prefix)?,
        remote_group: (!r.remote_group_id.is_empty()).then(|| group_ref(&r.remote_group_id)),
    })
}

pub fn rule_to_proto(r: &Rule) -> v1::SecurityGroupRule {
    let (remote_ip_prefix, remote_group_id) = match r.remote {
        Remote::Any => (String::new(), String::new()),
        Remote::Cidr(c) => (c.to_string(), String::new()),
        Remote::Group(g) => (String::new(), g.to_string()),
    };
    v1::SecurityGroupRule {
        id: r.id.to_string(),
        direction: match r.direction {
            Direction::Ingress => v1::Direction::Ingress,
            Direction::Egress => v1::Direction::Egress,
        } as i32,
        ethertype: match r.ethertype {
            Family::V4 => v1::EtherType::Ipv4,
            Family::V6 => v1::EtherType::Ipv6,
        } as i32,
        protocol: protocol_name(r.protocol),
        port_range_min: r.port_min.map_or(0, u32::from),
        port_range_max: r.port_max.map_or(0, u32::from),
        remote_ip_prefix,
        remote_group_id,
    }
}

pub fn to_proto(g: &SecurityGroup) -> v1::SecurityGroup {
    v1::SecurityGroup {
        id: g.id.to_string(),
        org: g.scope.org.clone(),
        project: g.scope.project.clone(),
        name: g.name.clone(),
        description: g.description.clone(),
        rules: g.rules.iter().map(rule_to_proto).collect(),
        created_at_ms: g.created_ms,
    }
}
