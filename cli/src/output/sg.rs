//! Security groups and their rules.

use prismnet_api::v1::{self, Direction, EtherType};
use serde::Serialize;

use super::{cell, opt, rows, timestamp, Detail, Row};

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RuleOut {
    pub id: String,
    /// `ingress` or `egress`.
    pub direction: &'static str,
    /// `ipv4` or `ipv6`.
    pub ethertype: &'static str,
    /// `any`, `tcp`, `udp`, `icmp` or a protocol number.
    pub protocol: String,
    pub port_range_min: u32,
    pub port_range_max: u32,
    pub remote_ip_prefix: Option<String>,
    pub remote_group_id: Option<String>,
}

pub fn direction_name(d: Direction) -> &'static str {
    match d {
        Direction::Ingress => "ingress",
        Direction::Egress => "egress",
        Direction::Unspecified => "unspecified",
    }
}

pub fn ethertype_name(e: EtherType) -> &'static str {
    match e {
        EtherType::Ipv4 => "ipv4",
        EtherType::Ipv6 => "ipv6",
        EtherType::Unspecified => "unspecified",
    }
}

impl From<v1::SecurityGroupRule> for RuleOut {
    fn from(r: v1::SecurityGroupRule) -> Self {
        RuleOut {
            direction: direction_name(r.direction()),
            ethertype: ethertype_name(r.ethertype()),
            protocol: if r.protocol.is_empty() {
                "any".to_string()
            } else {
                r.protocol
            },
            remote_ip_prefix: opt(&r.remote_ip_prefix),
            remote_group_id: opt(&r.remote_group_id),
            id: r.id,
            port_range_min: r.port_range_min,
            port_range_max: r.port_range_max,
        }
    }
}

impl RuleOut {
    fn ports(&self) -> String {
        match (self.port_range_min, self.port_range_max) {
            (0, 0) => "any".to_string(),
            (a, b) if a == b => a.to_string(),
            (a, b) => format!("{a}-{b}"),
        }
    }

    fn remote(&self) -> String {
        match (&self.remote_ip_prefix, &self.remote_group_id) {
            (Some(p), _) => p.clone(),
            (None, Some(g)) => format!("group:{g}"),
            (None, None) => "any".to_string(),
        }
    }
}

impl Row for RuleOut {
    fn headers() -> &'static [&'static str] {
        &[
            "ID",
            "DIRECTION",
            "ETHERTYPE",
            "PROTOCOL",
            "PORTS",
            "REMOTE",
        ]
    }
    fn row(&self) -> Vec<String> {
        vec![
            self.id.clone(),
            self.direction.to_string(),
            self.ethertype.to_string(),
            self.protocol.clone(),
            self.ports(),
            self.remote(),
        ]
    }
}

/// `sg rule add`: the rule as stored, and the group it belongs to.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AddedRuleOut {
    #[serde(flatten)]
    pub rule: RuleOut,
    pub security_group_id: String,
}

impl Detail for AddedRuleOut {
    fn fields(&self) -> Vec<(&'static str, String)> {
        let r = &self.rule;
        vec![
            ("id", r.id.clone()),
            ("security_group_id", self.security_group_id.clone()),
            ("direction", r.direction.to_string()),
            ("ethertype", r.ethertype.to_string()),
            ("protocol", r.protocol.clone()),
            ("ports", r.ports()),
            ("remote", r.remote()),
        ]
    }
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SecurityGroupOut {
    pub id: String,
    pub org: String,
    pub project: String,
    pub name: String,
    pub description: String,
    pub rules: Vec<RuleOut>,
    pub created_at_ms: u64,
}

impl From<v1::SecurityGroup> for SecurityGroupOut {
    fn from(g: v1::SecurityGroup) -> Self {
        SecurityGroupOut {
            rules: g.rules.into_iter().map(Into::into).collect(),
            id: g.id,
            org: g.org,
            project: g.project,
            name: g.name,
            description: g.description,
            created_at_ms: g.created_at_ms,
        }
    }
}

impl Detail for SecurityGroupOut {
    fn fields(&self) -> Vec<(&'static str, String)> {
        vec![
            ("id", self.id.clone()),
            ("name", self.name.clone()),
            ("org", cell(&self.org)),
            ("project", self.project.clone()),
            ("description", cell(&self.description)),
            ("rules", self.rules.len().to_string()),
            ("created_at", timestamp(self.created_at_ms)),
        ]
    }
    fn sections(&self) -> Vec<(&'static str, String)> {
        if self.rules.is_empty() {
            Vec::new()
        } else {
            vec![("rules", rows(&self.rules))]
        }
    }
}

impl Row for SecurityGroupOut {
    fn headers() -> &'static [&'static str] {
        &["ID", "NAME", "PROJECT", "RULES", "DESCRIPTION"]
    }
    fn row(&self) -> Vec<String> {
        vec![
            self.id.clone(),
            self.name.clone(),
            self.project.clone(),
            self.rules.len().to_string(),
            cell(&self.description),
        ]
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::output::{one, Format};

    #[test]
    fn shapes() {
        let g = v1::SecurityGroup {
            id: "g-1".into(),
            project: "demo".into(),
            name: "default".into(),
            rules: vec![
                v1::SecurityGroupRule {
                    id: "r-1".into(),
                    direction: Direction::Ingress as i32,
                    ethertype: EtherType::Ipv4 as i32,
                    protocol: "tcp".into(),
                    port_range_min: 22,
                    port_range_max: 22,
                    remote_ip_prefix: "10.0.0.0/8".into(),
                    remote_group_id: String::new(),
                },
                v1::SecurityGroupRule {
                    id: "r-2".into(),
                    direction: Direction::Egress as i32,
                    ethertype: EtherType::Ipv6 as i32,
                    remote_group_id: "g-1".into(),
                    ..Default::default()
                },
            ],
            ..Default::default()
        };
        let out = SecurityGroupOut::from(g);
        let j: serde_json::Value = serde_json::from_str(&one(Format::Json, &out).unwrap()).unwrap();
        assert_eq!(j["id"], "g-1");
        assert_eq!(j["rules"][0]["direction"], "ingress");
        assert_eq!(j["rules"][0]["ethertype"], "ipv4");
        assert_eq!(j["rules"][0]["remote_group_id"], serde_json::Value::Null);
        assert_eq!(j["rules"][1]["protocol"], "any");
        assert_eq!(j["rules"][1]["ethertype"], "ipv6");
        let t = one(Format::Table, &out).unwrap();
        assert!(t.contains("\nrules:\nID   DIRECTION"), "{t}");
        assert!(
            t.contains("r-1  ingress    ipv4       tcp       22     10.0.0.0/8\n"),
            "{t}"
        );
        assert!(
            t.contains("r-2  egress     ipv6       any       any    group:g-1\n"),
            "{t}"
        );
    }
}
