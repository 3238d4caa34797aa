//! VPC commands: create, update (name, routes, blocks), gateway, delete.
//!
//! Invariants enforced here:
//! - a VPC's blocks are valid networks and never overlap each other (different VPCs
//!   may overlap: tenants are isolated);
//! - a static route's next hop lies in one of the VPC's blocks or on its gateway's
//!   external network;
//! - the gateway's address and MAC are held while the gateway exists; a gateway
//!   used by floating IPs cannot be removed;
//! - a VPC with subnets cannot be deleted.

use super::project::Counted;
use super::Ctx;
use crate::command::{CreateVpc, Kind, Outcome, UpdateVpc};
use crate::error::{Reason, Result, StateError};
use crate::id::Id;
use crate::limits;
use crate::model::{ExternalGateway, StaticRoute, Vpc};
use crate::net::{Cidr, Family};
use crate::state::State;
use crate::validate;

/// VPC blocks: IPv4 /8 to /30, IPv6 /16 to /64.
fn check_block(c: &Cidr) -> Result<()> {
    let ok = match c.family() {
        Family::V4 => (8..=30).contains(&c.prefix()),
        Family::V6 => (16..=64).contains(&c.prefix()),
    };
    if ok {
        Ok(())
    } else {
        Err(StateError::new(
            Reason::InvalidCidr,
            format!("VPC block {c}: IPv4 blocks must be /8 to /30, IPv6 blocks /16 to /64"),
        ))
    }
}

/// Checks a full list of blocks: each valid, none overlapping another.
fn check_blocks(blocks: &[Cidr]) -> Result<()> {
    if blocks.is_empty() {
        return Err(StateError::new(
            Reason::InvalidCidr,
            "a VPC needs at least one CIDR block",
        ));
    }
    validate::count(
        "CIDR blocks per VPC",
        blocks.len(),
        limits::VPC_CIDR_BLOCKS_MAX,
    )?;
    for (i, a) in blocks.iter().enumerate() {
        check_block(a)?;
        if let Some(b) = blocks[..i].iter().find(|b| b.overlaps(a)) {
            return Err(StateError::new(
                Reason::CidrOverlap,
                format!("VPC blocks {b} and {a} overlap"),
            ));
        }
    }
    Ok(())
}

impl State {
    pub(super) fn create_vpc(&mut self, ctx: &mut Ctx, c: &CreateVpc) -> Result<Outcome> {
        State::check_create_scope(ctx.actor, &c.scope)?;
        validate::name("vpc", &c.name, true)?;
        check_blocks(&c.cidr_blocks)?;
        self.check_routes(None, &c.cidr_blocks, &c.routes)?;
        self.check_quota(&c.scope, Counted::Vpcs, 1)?;

        self.ensure_project(ctx, &c.scope);
        let id = ctx.new_id();
        self.vpcs.insert(
            id,
            Vpc {
                id,
                scope: c.scope.clone(),
                name: c.name.clone(),
                cidr_blocks: c.cidr_blocks.clone(),
                gateway: None,
                routes: c.routes.clone(),
                created_ms: ctx.time_ms,
                updated_ms: ctx.time_ms,
            },
        );
        self.idx.vpcs_by_scope.insert((c.scope.clone(), id));
        self.usage_mut(&c.scope).vpcs += 1;
        Ok(Outcome::Created {
            kind: Kind::Vpc,
            id,
        })
    }

    pub(super) fn update_vpc(&mut self, ctx: &mut Ctx, c: &UpdateVpc) -> Result<Outcome> {
        let vpc = self.vpc_for(ctx.actor, c.vpc_id)?;
        if let Some(name) = &c.name {
            validate::name("vpc", name, true)?;
        }
        let mut blocks = vpc.cidr_blocks.clone();
        blocks.extend(c.add_cidr_blocks.iter().copied());
        check_blocks(&blocks)?;
        if let Some(routes) = &c.routes {
            self.check_routes(vpc.gateway.as_ref(), &blocks, routes)?;
        }

        let vpc = self.vpcs.get_mut(&c.vpc_id).expect("checked above");
        if let Some(name) = &c.name {
            vpc.name = name.clone();
        }
        vpc.cidr_blocks = blocks;
        if let Some(routes) = &c.routes {
            vpc.routes = routes.clone();
        }
        vpc.updated_ms = ctx.time_ms;
        Ok(Outcome::Updated {
            kind: Kind::Vpc,
            id: c.vpc_id,
        })
    }

    /// Next hops must be reachable: in one of `blocks`, or on the network of
    /// `gateway`.
    fn check_routes(
        &self,
        gateway: Option<&ExternalGateway>,
        blocks: &[Cidr],
        routes: &[StaticRoute],
    ) -> Result<()> {
        validate::count("static routes", routes.len(), limits::ROUTES_MAX)?;
        let extnet = gateway.and_then(|g| self.extnets.get(&g.network_id));
        for (i, r) in routes.iter().enumerate() {
            validate::route(&r.destination, &r.nexthop)?;
            let reachable = blocks.iter().any(|b| b.contains_ip(&r.nexthop))
                || extnet.is_some_and(|n| n.addresses.cidr().contains_ip(&r.nexthop));
            if !reachable {
                return Err(StateError::new(
                    Reason::InvalidRoute,
                    format!(
                        "next hop {} of route {} is neither in the VPC's blocks nor on its gateway's network",
                        r.nexthop, r.destination
                    ),
                ));
            }
            if routes[..i].iter().any(|o| o.destination == r.destination) {
                return Err(StateError::new(
                    Reason::InvalidRoute,
                    format!("two routes for destination {}", r.destination),
                ));
            }
        }
        Ok(())
    }

    pub(super) fn set_vpc_gateway(
        &mut self,
        ctx: &mut Ctx,
        vpc_id: Id,
        network_id: Id,
        enable_snat: bool,
    ) -> Result<Outcome> {
        let vpc = self.vpc_for(ctx.actor, vpc_id)?;
        let net = self.extnet(network_id)?;
        match &vpc.gateway {
            Some(g) if g.network_id == network_id => {
                let vpc = self.vpcs.get_mut(&vpc_id).expect("checked above");
                vpc.gateway.as_mut().expect("matched Some").enable_snat = enable_snat;
                vpc.updated_ms = ctx.time_ms;
                return Ok(Outcome::Updated {
                    kind: Kind::Vpc,
                    id: vpc_id,
                });
            }
            Some(g) => {
                return Err(StateError::new(
                    Reason::GatewayInUse,
                    format!(
                        "vpc {vpc_id} already has a gateway on {}; clear it first",
                        g.network_id
                    ),
                ))
            }
            None => {}
        }
        let ip = net.addresses.pool.peek_next().map_err(|_| {
            StateError::new(
                Reason::ExternalNetworkFull,
                format!("external network {network_id} has no free address"),
            )
        })?;
        let mac = self.peek_mac()?;

        self.take_next_mac(mac);
        let net = self.extnets.get_mut(&network_id).expect("checked above");
        let got = net.addresses.pool.allocate_next().expect("peeked above");
        debug_assert_eq!(got, ip);
        let vpc = self.vpcs.get_mut(&vpc_id).expect("checked above");
        vpc.gateway = Some(ExternalGateway {
            network_id,
            enable_snat,
            ip,
            mac,
        });
        vpc.updated_ms = ctx.time_ms;
        Ok(Outcome::Updated {
            kind: Kind::Vpc,
            id: vpc_id,
        })
    }

    pub(super) fn clear_vpc_gateway(&mut self, ctx: &mut Ctx, vpc_id: Id) -> Result<Outcome> {
        let vpc = self.vpc_for(ctx.actor, vpc_id)?;
        let Some(gw) = vpc.gateway.clone() else {
            return Err(StateError::new(
                Reason::NoExternalGateway,
                format!("vpc {vpc_id} has no gateway"),
            ));
        };
        if let Some(fip) = self.fips_through(vpc_id).next() {
            return Err(StateError::new(
                Reason::GatewayInUse,
                format!("floating ip {fip} is associated through the gateway of vpc {vpc_id}"),
            ));
        }
        if let Some(r) = vpc
            .routes
            .iter()
            .find(|r| !vpc.cidr_blocks.iter().any(|b| b.contains_ip(&r.nexthop)))
        {
            return Err(StateError::new(
                Reason::GatewayInUse,
                format!(
                    "route {} uses next hop {} on the gateway's network",
                    r.destination, r.nexthop
                ),
            ));
        }
        self.release_gateway(&gw);
        let vpc = self.vpcs.get_mut(&vpc_id).expect("checked above");
        vpc.gateway = None;
        vpc.updated_ms = ctx.time_ms;
        Ok(Outcome::Updated {
            kind: Kind::Vpc,
            id: vpc_id,
        })
    }

    pub(super) fn delete_vpc(&mut self, ctx: &mut Ctx, vpc_id: Id) -> Result<Outcome> {
        let vpc = self.vpc_for(ctx.actor, vpc_id)?;
        if self
            .idx
            .subnets_by_vpc
            .range((vpc_id, Id::MIN)..=(vpc_id, Id::MAX))
            .next()
            .is_some()
        {
            return Err(StateError::new(
                Reason::VpcHasSubnets,
                format!("vpc {vpc_id} still has subnets"),
            ));
        }
        let scope = vpc.scope.clone();
        // Without subnets there are no ports, hence no floating IPs through the gateway.
        if let Some(gw) = vpc.gateway.clone() {
            self.release_gateway(&gw);
        }
        self.vpcs.remove(&vpc_id);
        self.idx.vpcs_by_scope.remove(&(scope.clone(), vpc_id));
        self.usage_mut(&scope).vpcs -= 1;
        Ok(Outcome::Deleted {
            kind: Kind::Vpc,
            id: vpc_id,
        })
    }

    fn release_gateway(&mut self, gw: &ExternalGateway) {
        let net = self
            .extnets
            .get_mut(&gw.network_id)
            .expect("a gateway's network exists");
        let released = net.addresses.pool.release(&gw.ip);
        assert!(released, "gateway address {} was not held", gw.ip);
        self.release_mac(gw.mac);
    }

    /// Floating IPs associated to ports of this VPC.
    pub(crate) fn fips_through(&self, vpc_id: Id) -> impl Iterator<Item = Id> + '_ {
        let scope = self.vpcs.get(&vpc_id).map(|v| v.scope.clone());
        scope
            .into_iter()
            .flat_map(move |s| {
                self.idx
                    .fips_by_scope
                    .range((s.clone(), Id::MIN)..=(s, Id::MAX))
                    .map(|(_, f)| *f)
            })
            .filter(move |f| {
                self.fips[f]
                    .port_id
                    .and_then(|p| self.ports.get(&p))
                    .is_some_and(|p| self.subnets[&p.subnet_id].vpc_id == vpc_id)
            })
    }
}
