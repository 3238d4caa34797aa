//! Subnets (and the route/range shapes other resources share).

use std::fmt;

use prismnet_api::v1::{self, Ipv6Mode};
use serde::Serialize;

use super::{cell, cell_list, cell_opt, opt, timestamp, yes_no, Detail, Row};

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RouteOut {
    pub destination: String,
    pub nexthop: String,
}

impl From<v1::Route> for RouteOut {
    fn from(r: v1::Route) -> Self {
        RouteOut {
            destination: r.destination,
            nexthop: r.nexthop,
        }
    }
}

impl fmt::Display for RouteOut {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}={}", self.destination, self.nexthop)
    }
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RangeOut {
    pub start: String,
    pub end: String,
}

impl From<v1::IpRange> for RangeOut {
    fn from(r: v1::IpRange) -> Self {
        RangeOut {
            start: r.start,
            end: r.end,
        }
    }
}

impl fmt::Display for RangeOut {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}-{}", self.start, self.end)
    }
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct FamilyUsageOut {
    pub allocated: u64,
    pub free: u64,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SubnetUsageOut {
    pub ipv4: Option<FamilyUsageOut>,
    pub ipv6: Option<FamilyUsageOut>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SubnetOut {
    pub id: String,
    pub org: String,
    pub project: String,
    pub vpc_id: String,
    pub name: String,
    pub ipv4_cidr: Option<String>,
    pub ipv6_cidr: Option<String>,
    pub gateway_ipv4: Option<String>,
    pub gateway_ipv6: Option<String>,
    pub allocation_pools: Vec<RangeOut>,
    pub reserved_ranges: Vec<RangeOut>,
    pub dns_servers: Vec<String>,
    pub host_routes: Vec<RouteOut>,
    pub dhcp_enabled: bool,
    pub mtu: u32,
    /// `slaac`, `dhcpv6-stateful`, `dhcpv6-stateless`; `null` when unspecified.
    pub ipv6_mode: Option<&'static str>,
    pub gateway_mac: Option<String>,
    pub usage: SubnetUsageOut,
    pub created_at_ms: u64,
}

pub fn ipv6_mode_name(mode: Ipv6Mode) -> Option<&'static str> {
    match mode {
        Ipv6Mode::Unspecified => None,
        Ipv6Mode::Slaac => Some("slaac"),
        Ipv6Mode::Dhcpv6Stateful => Some("dhcpv6-stateful"),
        Ipv6Mode::Dhcpv6Stateless => Some("dhcpv6-stateless"),
    }
}

fn family_usage(u: Option<v1::FamilyUsage>) -> Option<FamilyUsageOut> {
    u.map(|u| FamilyUsageOut {
        allocated: u.allocated,
        free: u.free,
    })
}

impl From<v1::Subnet> for SubnetOut {
    fn from(s: v1::Subnet) -> Self {
        let usage = s.usage.unwrap_or_default();
        SubnetOut {
            ipv6_mode: ipv6_mode_name(s.ipv6_mode()),
            ipv4_cidr: opt(&s.ipv4_cidr),
            ipv6_cidr: opt(&s.ipv6_cidr),
            gateway_ipv4: opt(&s.gateway_ipv4),
            gateway_ipv6: opt(&s.gateway_ipv6),
            gateway_mac: opt(&s.gateway_mac),
            allocation_pools: s.allocation_pools.into_iter().map(Into::into).collect(),
            reserved_ranges: s.reserved_ranges.into_iter().map(Into::into).collect(),
            host_routes: s.host_routes.into_iter().map(Into::into).collect(),
            usage: SubnetUsageOut {
                ipv4: family_usage(usage.ipv4),
                ipv6: family_usage(usage.ipv6),
            },
            id: s.id,
            org: s.org,
            project: s.project,
            vpc_id: s.vpc_id,
            name: s.name,
            dns_servers: s.dns_servers,
            dhcp_enabled: s.dhcp_enabled,
            mtu: s.mtu,
            created_at_ms: s.created_at_ms,
        }
    }
}

impl SubnetOut {
    fn cidrs(&self) -> Vec<String> {
        [&self.ipv4_cidr, &self.ipv6_cidr]
            .into_iter()
            .flatten()
            .cloned()
            .collect()
    }
}

fn usage_cell(u: &Option<FamilyUsageOut>) -> String {
    match u {
        Some(u) => format!("{} allocated, {} free", u.allocated, u.free),
        None => "-".to_string(),
    }
}

fn strings<T: ToString>(items: &[T]) -> Vec<String> {
    items.iter().map(ToString::to_string).collect()
}

impl Detail for SubnetOut {
    fn fields(&self) -> Vec<(&'static str, String)> {
        vec![
            ("id", self.id.clone()),
            ("name", cell(&self.name)),
            ("org", cell(&self.org)),
            ("project", self.project.clone()),
            ("vpc_id", self.vpc_id.clone()),
            ("ipv4_cidr", cell_opt(&self.ipv4_cidr)),
            ("ipv6_cidr", cell_opt(&self.ipv6_cidr)),
            ("gateway_ipv4", cell_opt(&self.gateway_ipv4)),
            ("gateway_ipv6", cell_opt(&self.gateway_ipv6)),
            ("gateway_mac", cell_opt(&self.gateway_mac)),
            (
                "allocation_pools",
                cell_list(&strings(&self.allocation_pools)),
            ),
            (
                "reserved_ranges",
                cell_list(&strings(&self.reserved_ranges)),
            ),
            ("dns_servers", cell_list(&self.dns_servers)),
            ("host_routes", cell_list(&strings(&self.host_routes))),
            ("dhcp_enabled", yes_no(self.dhcp_enabled)),
            ("mtu", self.mtu.to_string()),
            ("ipv6_mode", self.ipv6_mode.unwrap_or("-").to_string()),
            ("ipv4_usage", usage_cell(&self.usage.ipv4)),
            ("ipv6_usage", usage_cell(&self.usage.ipv6)),
            ("created_at", timestamp(self.created_at_ms)),
        ]
    }
}

impl Row for SubnetOut {
    fn headers() -> &'static [&'static str] {
        &["ID", "NAME", "VPC", "CIDRS", "GATEWAYS", "DHCP", "USED_V4"]
    }
    fn row(&self) -> Vec<String> {
        let gws: Vec<String> = [&self.gateway_ipv4, &self.gateway_ipv6]
            .into_iter()
            .flatten()
            .cloned()
            .collect();
        vec![
            self.id.clone(),
            cell(&self.name),
            self.vpc_id.clone(),
            cell_list(&self.cidrs()),
            cell_list(&gws),
            yes_no(self.dhcp_enabled),
            self.usage
                .ipv4
                .as_ref()
                .map(|u| format!("{}/{}", u.allocated, u.allocated.saturating_add(u.free)))
                .unwrap_or_else(|| "-".to_string()),
        ]
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::output::{list, one, Format};

    fn sample() -> v1::Subnet {
        v1::Subnet {
            id: "s-1".into(),
            project: "demo".into(),
            vpc_id: "v-1".into(),
            name: "web".into(),
            ipv4_cidr: "10.0.1.0/24".into(),
            gateway_ipv4: "10.0.1.1".into(),
            allocation_pools: vec![v1::IpRange {
                start: "10.0.1.10".into(),
                end: "10.0.1.200".into(),
            }],
            dhcp_enabled: true,
            mtu: 1442,
            usage: Some(v1::SubnetUsage {
                ipv4: Some(v1::FamilyUsage {
                    allocated: 3,
                    free: 188,
                }),
                ipv6: None,
            }),
            ..Default::default()
        }
    }

    #[test]
    fn json_shape() {
        let v: serde_json::Value =
            serde_json::from_str(&one(Format::Json, &SubnetOut::from(sample())).unwrap()).unwrap();
        assert_eq!(v["id"], "s-1");
        assert_eq!(v["ipv4_cidr"], "10.0.1.0/24");
        assert_eq!(v["ipv6_cidr"], serde_json::Value::Null);
        assert_eq!(v["ipv6_mode"], serde_json::Value::Null);
        assert_eq!(
            v["allocation_pools"],
            serde_json::json!([{"start": "10.0.1.10", "end": "10.0.1.200"}])
        );
        assert_eq!(v["usage"]["ipv4"]["free"], 188);
        assert_eq!(v["usage"]["ipv6"], serde_json::Value::Null);
    }

    #[test]
    fn table() {
        let s = list(Format::Table, &[SubnetOut::from(sample())]).unwrap();
        assert_eq!(
            s,
            "ID   NAME  VPC  CIDRS        GATEWAYS  DHCP  USED_V4\n\
             s-1  web   v-1  10.0.1.0/24  10.0.1.1  yes   3/191\n"
        );
        let d = one(Format::Table, &SubnetOut::from(sample())).unwrap();
        assert!(
            d.contains("allocation_pools  10.0.1.10-10.0.1.200\n"),
            "{d}"
        );
    }
}
