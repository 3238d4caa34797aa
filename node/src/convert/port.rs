//! Ports, and the NIC configuration CreatePort answers with.

use prismnet_api::v1;
use prismnet_state::command::{CreatePort, UpdatePort};
use prismnet_state::model::{AddressPair, Port, Subnet};
use prismnet_state::net::{Cidr, Family};
use tonic::Status;

use super::{group_ref, id, ips, opt_mac, strings};
use crate::errors::invalid;

/// An allowed address pair's IP is a host address or a CIDR.
fn pair(p: &v1::AllowedAddressPair) -> Result<AddressPair, Status> {
    let ip = if p.ip_address.contains('/') {
        super::cidr("allowed_address_pairs", &p.ip_address)?
    } else {
        let a = super::ip("allowed_address_pairs", &p.ip_address)?;
        let bits = match Family::of(&a) {
            Family::V4 => 32,
            Family::V6 => 128,
        };
        Cidr::new(a, bits)
            .map_err(|e| invalid("invalid_ip", "allowed_address_pairs", &p.ip_address, e))?
    };
    Ok(AddressPair {
        ip,
        mac: opt_mac("allowed_address_pairs", &p.mac_address)?,
    })
}

fn pairs(v: &[v1::AllowedAddressPair]) -> Result<Vec<AddressPair>, Status> {
    v.iter().map(pair).collect()
}

pub fn create(r: &v1::CreatePortRequest) -> Result<CreatePort, Status> {
    let security_groups = match (r.no_security_groups, r.security_groups.is_empty()) {
        (true, true) => Some(Vec::new()),
        (true, false) => {
            return Err(invalid(
                "invalid_argument",
                "security_groups",
                &r.security_groups.join(","),
                "no_security_groups excludes naming groups",
            ))
        }
        (false, true) => None,
        (false, false) => Some(r.security_groups.iter().map(|g| group_ref(g)).collect()),
    };
    Ok(CreatePort {
        subnet_id: id("subnet_id", &r.subnet_id)?,
        name: r.name.clone(),
        fixed_ips: ips("fixed_ips", &r.fixed_ips)?,
        mac: opt_mac("mac_address", &r.mac_address)?,
        device_id: r.device_id.clone(),
        device_owner: r.device_owner.clone(),
        security_groups,
        port_security: r.port_security_enabled.unwrap_or(true),
        allowed_address_pairs: pairs(&r.allowed_address_pairs)?,
        admin_state_up: r.admin_state_up.unwrap_or(true),
    })
}

pub fn update(r: &v1::UpdatePortRequest) -> Result<UpdatePort, Status> {
    Ok(UpdatePort {
        port_id: id("port_id", &r.port_id)?,
        name: r.name.clone(),
        security_groups: r
            .security_groups
            .as_ref()
            .map(|l| l.values.iter().map(|g| group_ref(g)).collect()),
        port_security: r.port_security_enabled,
        allowed_address_pairs: r
            .allowed_address_pairs
            .as_ref()
            .map(|l| pairs(&l.pairs))
            .transpose()?,
        admin_state_up: r.admin_state_up,
        device_id: r.device_id.clone(),
        device_owner: r.device_owner.clone(),
    })
}

/// `subnet` is the port's subnet (for its project and VPC); `ovn` is what the OVN
/// driver reports, when it runs.
pub fn to_proto(p: &Port, subnet: Option<&Subnet>, ovn: Option<(v1::OvnSync, bool)>) -> v1::Port {
    let (ovn_sync, up) = match ovn {
        Some((s, up)) => (Some(s), up),
        None => (None, false),
    };
    v1::Port {
        id: p.id.to_string(),
        org: subnet.map(|s| s.scope.org.clone()).unwrap_or_default(),
        project: subnet.map(|s| s.scope.project.clone()).unwrap_or_default(),
        vpc_id: subnet.map(|s| s.vpc_id.to_string()).unwrap_or_default(),
        subnet_id: p.subnet_id.to_string(),
        name: p.name.to_string(),
        mac_address: p.mac.to_string(),
        fixed_ips: p
            .fixed_ips()
            .map(|ip| v1::FixedIp {
                subnet_id: p.subnet_id.to_string(),
                ip_address: ip.to_string(),
            })
            .collect(),
        device_id: p.device_id.to_string(),
        device_owner: p.device_owner.to_string(),
        host: p.host.to_string(),
        security_group_ids: strings(&p.security_groups),
        port_security_enabled: p.port_security,
        allowed_address_pairs: p
            .allowed_address_pairs
            .iter()
            .map(|a| v1::AllowedAddressPair {
                ip_address: if a.ip.prefix() == a.ip.family().max_prefix() {
                    a.ip.network().to_string()
                } else {
                    a.ip.to_string()
                },
                mac_address: a.mac.map(|m| m.to_string()).unwrap_or_default(),
            })
            .collect(),
        admin_state_up: p.admin_state_up,
        created_at_ms: p.created_ms,
        ovn_sync,
        up,
    }
}

/// Everything a VM's NIC needs, as CreatePort answers it.
pub fn nic(port: v1::Port, p: &Port, subnet: &Subnet) -> v1::CreatePortResponse {
    let addresses = p
        .fixed_ips()
        .filter_map(|ip| {
            let f = subnet.family(Family::of(&ip))?;
            Some(v1::NicAddress {
                address: ip.to_string(),
                prefix_length: u32::from(f.cidr().prefix()),
                gateway: f.gateway().to_string(),
                subnet_id: subnet.id.to_string(),
            })
        })
        .collect();
    v1::CreatePortResponse {
        port: Some(port),
        addresses,
        dns_servers: strings(&subnet.dns_servers),
        mtu: subnet.mtu,
        host_routes: subnet
            .host_routes
            .iter()
            .map(|r| v1::Route {
                destination: r.destination.to_string(),
                nexthop: r.nexthop.to_string(),
            })
            .collect(),
        dhcp_enabled: subnet.dhcp_enabled,
        ipv6_mode: super::subnet::ipv6_mode_proto(subnet.ipv6_mode) as i32,
    }
}
