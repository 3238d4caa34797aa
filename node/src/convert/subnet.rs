//! Subnets.

use prismnet_api::v1;
use prismnet_state::command::{CreateSubnet, FamilySpec, UpdateSubnet};
use prismnet_state::model::{HostRoute, Ipv6Mode, Subnet};
use prismnet_state::net::{Family, IpRange};
use prismnet_state::read::SubnetUsage;
use tonic::Status;

use super::{cidr, id, ip, ips, opt_ip, ranges, strings};
use crate::errors::invalid;

pub fn host_routes(v: &[v1::Route]) -> Result<Vec<HostRoute>, Status> {
    v.iter()
        .map(|r| {
            Ok(HostRoute {
                destination: cidr("host_routes", &r.destination)?,
                nexthop: ip("host_routes", &r.nexthop)?,
            })
        })
        .collect()
}

pub fn ipv6_mode(m: i32) -> Result<Ipv6Mode, Status> {
    match v1::Ipv6Mode::try_from(m) {
        Ok(v1::Ipv6Mode::Unspecified | v1::Ipv6Mode::Slaac) => Ok(Ipv6Mode::Slaac),
        Ok(v1::Ipv6Mode::Dhcpv6Stateful) => Ok(Ipv6Mode::Dhcpv6Stateful),
        Ok(v1::Ipv6Mode::Dhcpv6Stateless) => Ok(Ipv6Mode::Dhcpv6Stateless),
        Err(_) => Err(invalid(
            "invalid_argument",
            "ipv6_mode",
            &m.to_string(),
            "unknown mode",
        )),
    }
}

pub fn ipv6_mode_proto(m: Ipv6Mode) -> v1::Ipv6Mode {
    match m {
        Ipv6Mode::Slaac => v1::Ipv6Mode::Slaac,
        Ipv6Mode::Dhcpv6Stateful => v1::Ipv6Mode::Dhcpv6Stateful,
        Ipv6Mode::Dhcpv6Stateless => v1::Ipv6Mode::Dhcpv6Stateless,
    }
}

/// Pools and reserved ranges come as one list; each range goes to the family of its
/// start address.
fn split(v: Vec<IpRange>, f: Family) -> Vec<IpRange> {
    v.into_iter()
        .filter(|r| Family::of(&r.start) == f)
        .collect()
}

pub fn create(r: &v1::CreateSubnetRequest) -> Result<CreateSubnet, Status> {
    let pools = ranges("allocation_pools", &r.allocation_pools)?;
    let reserved = ranges("reserved_ranges", &r.reserved_ranges)?;
    let family = |c: &str, gw: &str, f: Family| -> Result<Option<FamilySpec>, Status> {
        if c.is_empty() {
            if !gw.is_empty() {
                return Err(invalid(
                    "invalid_argument",
                    "gateway",
                    gw,
                    "a gateway needs the CIDR of its family",
                ));
            }
            return Ok(None);
        }
        Ok(Some(FamilySpec {
            cidr: cidr("cidr", c)?,
            gateway: opt_ip("gateway", gw)?,
            pools: split(pools.clone(), f),
            reserved: split(reserved.clone(), f),
        }))
    };
    Ok(CreateSubnet {
        vpc_id: id("vpc_id", &r.vpc_id)?,
        name: r.name.clone(),
        v4: family(&r.ipv4_cidr, &r.gateway_ipv4, Family::V4)?,
        v6: family(&r.ipv6_cidr, &r.gateway_ipv6, Family::V6)?,
        ipv6_mode: ipv6_mode(r.ipv6_mode)?,
        dns_servers: ips("dns_servers", &r.dns_servers)?,
        host_routes: host_routes(&r.host_routes)?,
        dhcp_enabled: r.dhcp_enabled.unwrap_or(true),
        mtu: r.mtu,
    })
}

pub fn update(r: &v1::UpdateSubnetRequest) -> Result<UpdateSubnet, Status> {
    Ok(UpdateSubnet {
        subnet_id: id("id", &r.id)?,
        name: r.name.clone(),
        dns_servers: r
            .dns_servers
            .as_ref()
            .map(|l| ips("dns_servers", &l.values))
            .transpose()?,
        host_routes: r
            .host_routes
            .as_ref()
            .map(|l| host_routes(&l.routes))
            .transpose()?,
        dhcp_enabled: r.dhcp_enabled,
        mtu: None,
    })
}

fn proto_ranges(v: &[IpRange]) -> Vec<v1::IpRange> {
    v.iter()
        .map(|r| v1::IpRange {
            start: r.start.to_string(),
            end: r.end.to_string(),
        })
        .collect()
}

pub fn to_proto(s: &Subnet, usage: Option<SubnetUsage>) -> v1::Subnet {
    let fam = |f: &Option<prismnet_state::model::SubnetFamily>| {
        f.as_ref()
            .map(|f| (f.cidr().to_string(), f.gateway().to_string()))
            .unwrap_or_default()
    };
    let (v4, gw4) = fam(&s.v4);
    let (v6, gw6) = fam(&s.v6);
    let specs = s.v4.iter().chain(s.v6.iter()).map(|f| &f.spec);
    let pools: Vec<IpRange> = specs
        .clone()
        .flat_map(|sp| sp.pools.iter().copied())
        .collect();
    let reserved: Vec<IpRange> = specs.flat_map(|sp| sp.reserved.iter().copied()).collect();
    let fu = |u: &prismnet_state::read::FamilyUsage| v1::FamilyUsage {
        allocated: u64::try_from(u.allocated).unwrap_or(u64::MAX),
        free: u64::try_from(u.free).unwrap_or(u64::MAX),
    };
    v1::Subnet {
        id: s.id.to_string(),
        org: s.scope.org.clone(),
        project: s.scope.project.clone(),
        vpc_id: s.vpc_id.to_string(),
        name: s.name.clone(),
        ipv4_cidr: v4,
        ipv6_cidr: v6,
        gateway_ipv4: gw4,
        gateway_ipv6: gw6,
        allocation_pools: proto_ranges(&pools),
        reserved_ranges: proto_ranges(&reserved),
        dns_servers: strings(&s.dns_servers),
        host_routes: s
            .host_routes
            .iter()
            .map(|r| v1::Route {
                destination: r.destination.to_string(),
                nexthop: r.nexthop.to_string(),
            })
            .collect(),
        dhcp_enabled: s.dhcp_enabled,
        mtu: s.mtu,
        ipv6_mode: ipv6_mode_proto(s.ipv6_mode) as i32,
        gateway_mac: s.gateway_mac.to_string(),
        usage: usage.map(|u| v1::SubnetUsage {
            ipv4: u.v4.as_ref().map(fu),
            ipv6: u.v6.as_ref().map(fu),
        }),
        created_at_ms: s.created_ms,
    }
}
