//! Subnet commands: create, update, delete.
//!
//! Invariants enforced here:
//! - a subnet has an IPv4 block, an IPv6 block or both, each inside one of its VPC's
//!   blocks and overlapping no other subnet of the VPC;
//! - each family has a gateway inside its block (the first usable address unless
//!   given), pools and reserved ranges inside the block;
//! - SLAAC and DHCPv6-stateless subnets are /64 (what address autoconfiguration needs);
//! - the router interface's MAC is held while the subnet exists;
//! - a subnet with ports cannot be deleted.

use std::net::IpAddr;

use super::project::Counted;
use super::Ctx;
use crate::command::{CreateSubnet, FamilySpec, Kind, Outcome, UpdateSubnet};
use crate::error::{Reason, Result, StateError};
use crate::id::Id;
use crate::ipam::{AddressPool, PoolSpec, SpecError};
use crate::limits;
use crate::model::{HostRoute, Subnet, SubnetFamily, Vpc};
use crate::net::Family;
use crate::state::State;
use crate::validate;

/// Builds one address family of a subnet (or of an external network) from its spec.
pub(crate) fn build_family(spec: &FamilySpec, family: Family) -> Result<SubnetFamily> {
    if spec.cidr.family() != family {
        return Err(StateError::new(
            Reason::IpFamilyMismatch,
            format!("{} is not an {family} block", spec.cidr),
        ));
    }
    // The first usable address: offset 1 (offset 0 is the network address).
    let gateway = spec.gateway.unwrap_or_else(|| spec.cidr.addr_at(1));
    let pool_spec = PoolSpec {
        cidr: spec.cidr,
        gateway: Some(gateway),
        pools: spec.pools.clone(),
        reserved: spec.reserved.clone(),
    };
    let pool = AddressPool::new(&pool_spec).map_err(spec_error)?;
    Ok(SubnetFamily {
        spec: pool_spec,
        pool,
    })
}

fn spec_error(e: SpecError) -> StateError {
    let reason = match e {
        SpecError::PrefixLength { .. } => Reason::InvalidCidr,
        SpecError::Gateway(..) => Reason::InvalidGateway,
        SpecError::Pool(..) | SpecError::PoolOverlap(..) => Reason::InvalidPool,
        SpecError::Reserved(..) => Reason::InvalidReservedRange,
        SpecError::TooManyRanges { .. } => Reason::LimitExceeded,
    };
    StateError::new(reason, e.to_string())
}

fn check_dhcp_settings(dns: &[IpAddr], routes: &[HostRoute], mtu: u32) -> Result<()> {
    validate::count("DNS servers", dns.len(), limits::DNS_SERVERS_MAX)?;
    for d in dns {
        validate::unicast_ip("DNS server", d)?;
    }
    validate::count("host routes", routes.len(), limits::ROUTES_MAX)?;
    for r in routes {
        validate::route(&r.destination, &r.nexthop)?;
    }
    if !(limits::MTU_MIN..=limits::MTU_MAX).contains(&mtu) {
        return Err(StateError::new(
            Reason::InvalidArgument,
            format!(
                "MTU {mtu} must be between {} and {}",
                limits::MTU_MIN,
                limits::MTU_MAX
            ),
        ));
    }
    Ok(())
}

impl State {
    pub(super) fn create_subnet(&mut self, ctx: &mut Ctx, c: &CreateSubnet) -> Result<Outcome> {
        let vpc = self.vpc_for(ctx.actor, c.vpc_id)?;
        validate::name("subnet", &c.name, false)?;
        if c.v4.is_none() && c.v6.is_none() {
            return Err(StateError::new(
                Reason::InvalidCidr,
                "a subnet needs an IPv4 CIDR, an IPv6 CIDR or both",
            ));
        }
        let v4 =
            c.v4.as_ref()
                .map(|s| build_family(s, Family::V4))
                .transpose()?;
        let v6 =
            c.v6.as_ref()
                .map(|s| build_family(s, Family::V6))
                .transpose()?;
        if let Some(f) = &v6 {
            if c.ipv6_mode.is_autoconfigured() && f.cidr().prefix() != 64 {
                return Err(StateError::new(
                    Reason::InvalidCidr,
                    format!(
                        "{} must be a /64 for IPv6 mode {}",
                        f.cidr(),
                        c.ipv6_mode.as_str()
                    ),
                ));
            }
        }
        for f in v4.iter().chain(v6.iter()) {
            self.check_subnet_block(vpc, f)?;
        }
        let mtu = c.mtu.unwrap_or(limits::MTU_DEFAULT);
        check_dhcp_settings(&c.dns_servers, &c.host_routes, mtu)?;
        let scope = vpc.scope.clone();
        self.check_quota(&scope, Counted::Subnets, 1)?;
        let gateway_mac = self.peek_mac()?;

        self.take_next_mac(gateway_mac);
        let id = ctx.new_id();
        self.subnets.insert(
            id,
            Subnet {
                id,
                vpc_id: c.vpc_id,
                scope: scope.clone(),
                name: c.name.clone(),
                v4,
                v6,
                ipv6_mode: c.ipv6_mode,
                dns_servers: c.dns_servers.clone(),
                host_routes: c.host_routes.clone(),
                dhcp_enabled: c.dhcp_enabled,
                mtu,
                gateway_mac,
                created_ms: ctx.time_ms,
                updated_ms: ctx.time_ms,
            },
        );
        self.idx.subnets_by_vpc.insert((c.vpc_id, id));
        self.usage_mut(&scope).subnets += 1;
        Ok(Outcome::Created {
            kind: Kind::Subnet,
            id,
        })
    }

    /// Inside one of the VPC's blocks, overlapping no sibling subnet.
    fn check_subnet_block(&self, vpc: &Vpc, f: &SubnetFamily) -> Result<()> {
        let cidr = f.cidr();
        if !vpc.cidr_blocks.iter().any(|b| b.contains(&cidr)) {
            return Err(StateError::new(
                Reason::CidrOutsideVpc,
                format!("{cidr} is not inside any block of vpc {}", vpc.id),
            ));
        }
        // Bounded by the subnets quota of the project.
        for (_, sibling) in self
            .idx
            .subnets_by_vpc
            .range((vpc.id, Id::MIN)..=(vpc.id, Id::MAX))
        {
            if let Some(other) = self.subnets[sibling].cidrs().find(|o| o.overlaps(&cidr)) {
                return Err(StateError::new(
                    Reason::CidrOverlap,
                    format!("{cidr} overlaps {other} of subnet {sibling}"),
                ));
            }
        }
        Ok(())
    }

    pub(super) fn update_subnet(&mut self, ctx: &mut Ctx, c: &UpdateSubnet) -> Result<Outcome> {
        let subnet = self.subnet_for(ctx.actor, c.subnet_id)?;
        if let Some(name) = &c.name {
            validate::name("subnet", name, false)?;
        }
        check_dhcp_settings(
            c.dns_servers.as_deref().unwrap_or(&subnet.dns_servers),
            c.host_routes.as_deref().unwrap_or(&subnet.host_routes),
            c.mtu.unwrap_or(subnet.mtu),
        )?;

        let s = self.subnets.get_mut(&c.subnet_id).expect("checked above");
        if let Some(v) = &c.name {
            s.name = v.clone();
        }
        if let Some(v) = &c.dns_servers {
            s.dns_servers = v.clone();
        }
        if let Some(v) = &c.host_routes {
            s.host_routes = v.clone();
        }
        if let Some(v) = c.dhcp_enabled {
            s.dhcp_enabled = v;
        }
        if let Some(v) = c.mtu {
            s.mtu = v;
        }
        s.updated_ms = ctx.time_ms;
        Ok(Outcome::Updated {
            kind: Kind::Subnet,
            id: c.subnet_id,
        })
    }

    pub(super) fn delete_subnet(&mut self, ctx: &mut Ctx, subnet_id: Id) -> Result<Outcome> {
        let subnet = self.subnet_for(ctx.actor, subnet_id)?;
        if self
            .idx
            .ports_by_subnet
            .range((subnet_id, Id::MIN)..=(subnet_id, Id::MAX))
            .next()
            .is_some()
        {
            return Err(StateError::new(
                Reason::SubnetHasPorts,
                format!("subnet {subnet_id} still has ports"),
            ));
        }
        let (vpc_id, scope, mac) = (subnet.vpc_id, subnet.scope.clone(), subnet.gateway_mac);

        self.release_mac(mac);
        self.subnets.remove(&subnet_id);
        self.idx.subnets_by_vpc.remove(&(vpc_id, subnet_id));
        self.usage_mut(&scope).subnets -= 1;
        Ok(Outcome::Deleted {
            kind: Kind::Subnet,
            id: subnet_id,
        })
    }
}
