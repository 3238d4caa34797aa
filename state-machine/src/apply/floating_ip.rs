//! Floating IP commands: create, associate, disassociate, delete.
//!
//! Invariants enforced here:
//! - a floating IP's address is held in its external network's pool until deleted;
//! - it is associated to at most one (port, fixed IP), of the same project and
//!   family, whose VPC has a gateway on the floating IP's network; one fixed IP has
//!   at most one floating IP.

use std::net::IpAddr;

use super::addresses::pool_error;
use super::project::Counted;
use super::Ctx;
use crate::command::{Kind, Outcome};
use crate::error::{Reason, Result, StateError};
use crate::id::Id;
use crate::model::FloatingIp;
use crate::net::Family;
use crate::scope::{Actor, Scope};
use crate::state::State;

/// What an association needs checked, whether the floating IP exists yet or not.
struct FipTarget<'a> {
    /// None while the floating IP is being created.
    id: Option<Id>,
    scope: &'a Scope,
    network_id: Id,
    ip: IpAddr,
}

impl State {
    /// Checks that `target` may be associated with (`port_id`, `fixed_ip`) and returns
    /// the fixed IP to use. Changes nothing.
    fn check_association(
        &self,
        actor: &Actor,
        target: &FipTarget,
        port_id: Id,
        fixed_ip: Option<IpAddr>,
    ) -> Result<IpAddr> {
        let port = self.port_for(actor, port_id)?;
        if self.port_scope(port) != target.scope {
            return Err(StateError::not_found("port", port_id));
        }
        let family = Family::of(&target.ip);
        let fixed = match fixed_ip {
            Some(ip) if port.fixed_ips().any(|p| p == ip) => ip,
            Some(ip) => {
                return Err(StateError::new(
                    Reason::InvalidArgument,
                    format!("{ip} is not a fixed IP of port {port_id}"),
                ))
            }
            None => port
                .fixed_ips()
                .find(|p| Family::of(p) == family)
                .ok_or_else(|| {
                    StateError::new(
                        Reason::IpFamilyMismatch,
                        format!("port {port_id} has no {family} address"),
                    )
                })?,
        };
        if Family::of(&fixed) != family {
            return Err(StateError::new(
                Reason::IpFamilyMismatch,
                format!(
                    "floating ip {} and fixed ip {fixed} are of different families",
                    target.ip
                ),
            ));
        }
        let vpc = &self.vpcs[&self.subnets[&port.subnet_id].vpc_id];
        if vpc
            .gateway
            .as_ref()
            .is_none_or(|g| g.network_id != target.network_id)
        {
            return Err(StateError::new(
                Reason::NoExternalGateway,
                format!(
                    "vpc {} has no gateway on external network {}",
                    vpc.id, target.network_id
                ),
            ));
        }
        let taken = self
            .idx
            .fips_by_port
            .range((port_id, Id::MIN)..=(port_id, Id::MAX))
            .any(|(_, other)| {
                Some(*other) != target.id && self.fips[other].fixed_ip == Some(fixed)
            });
        if taken {
            return Err(StateError::new(
                Reason::IpInUse,
                format!("{fixed} of port {port_id} already has a floating ip"),
            ));
        }
        Ok(fixed)
    }

    /// Associates an existing floating IP; the caller checked with `check_association`.
    fn set_association(&mut self, fip_id: Id, port_id: Id, fixed: IpAddr, time_ms: u64) {
        self.unassociate(fip_id, time_ms);
        let fip = self
            .fips
            .get_mut(&fip_id)
            .expect("caller checked the floating ip exists");
        fip.port_id = Some(port_id);
        fip.fixed_ip = Some(fixed);
        fip.updated_ms = time_ms;
        self.idx.fips_by_port.insert((port_id, fip_id));
    }

    pub(super) fn create_floating_ip(
        &mut self,
        ctx: &mut Ctx,
        scope: &Scope,
        network_id: Id,
        ip: Option<IpAddr>,
        associate: Option<(Id, Option<IpAddr>)>,
    ) -> Result<Outcome> {
        State::check_create_scope(ctx.actor, scope)?;
        let net = self.extnet(network_id)?;
        let pool = &net.addresses.pool;
        let block = format!("external network {network_id}");
        let requested = ip.is_some();
        let ip = match ip {
            Some(ip) => {
                pool.check_specific(&ip)
                    .map_err(|e| pool_error(e, Some(&ip), &block))?;
                ip
            }
            None => pool.peek_next().map_err(|_| {
                StateError::new(
                    Reason::ExternalNetworkFull,
                    format!("{block} has no free address"),
                )
            })?,
        };
        let target = FipTarget {
            id: None,
            scope,
            network_id,
            ip,
        };
        let association = match associate {
            Some((port_id, fixed_ip)) => Some((
                port_id,
                self.check_association(ctx.actor, &target, port_id, fixed_ip)?,
            )),
            None => None,
        };
        self.check_quota(scope, Counted::FloatingIps, 1)?;

        self.ensure_project(ctx, scope);
        let pool = &mut self
            .extnets
            .get_mut(&network_id)
            .expect("checked above")
            .addresses
            .pool;
        if requested {
            pool.allocate_specific(&ip).expect("checked above");
        } else {
            let got = pool.allocate_next().expect("peeked above");
            assert_eq!(got, ip, "pool changed between check and change");
        }
        let id = ctx.new_id();
        self.fips.insert(
            id,
            FloatingIp {
                id,
                scope: scope.clone(),
                network_id,
                ip,
                port_id: None,
                fixed_ip: None,
                created_ms: ctx.time_ms,
                updated_ms: ctx.time_ms,
            },
        );
        self.idx.fips_by_scope.insert((scope.clone(), id));
        self.usage_mut(scope).floating_ips += 1;
        if let Some((port_id, fixed)) = association {
            self.set_association(id, port_id, fixed, ctx.time_ms);
        }
        Ok(Outcome::Created {
            kind: Kind::FloatingIp,
            id,
        })
    }

    pub(super) fn associate_floating_ip(
        &mut self,
        ctx: &mut Ctx,
        fip_id: Id,
        port_id: Id,
        fixed_ip: Option<IpAddr>,
    ) -> Result<Outcome> {
        let fip = self.fip_for(ctx.actor, fip_id)?;
        let target = FipTarget {
            id: Some(fip_id),
            scope: &fip.scope,
            network_id: fip.network_id,
            ip: fip.ip,
        };
        let fixed = self.check_association(ctx.actor, &target, port_id, fixed_ip)?;

        self.set_association(fip_id, port_id, fixed, ctx.time_ms);
        Ok(Outcome::Updated {
            kind: Kind::FloatingIp,
            id: fip_id,
        })
    }

    pub(super) fn disassociate_floating_ip(
        &mut self,
        ctx: &mut Ctx,
        fip_id: Id,
    ) -> Result<Outcome> {
        self.fip_for(ctx.actor, fip_id)?;
        self.unassociate(fip_id, ctx.time_ms);
        Ok(Outcome::Updated {
            kind: Kind::FloatingIp,
            id: fip_id,
        })
    }

    pub(super) fn delete_floating_ip(&mut self, ctx: &mut Ctx, fip_id: Id) -> Result<Outcome> {
        let scope = self.fip_for(ctx.actor, fip_id)?.scope.clone();
        self.unassociate(fip_id, ctx.time_ms);
        let fip = self.fips.remove(&fip_id).expect("checked above");
        let net = self
            .extnets
            .get_mut(&fip.network_id)
            .expect("a floating ip's network exists");
        let released = net.addresses.pool.release(&fip.ip);
        assert!(released, "floating ip address {} was not held", fip.ip);
        self.idx.fips_by_scope.remove(&(scope.clone(), fip_id));
        self.usage_mut(&scope).floating_ips -= 1;
        Ok(Outcome::Deleted {
            kind: Kind::FloatingIp,
            id: fip_id,
        })
    }

    /// Clears a floating IP's association, if any.
    pub(crate) fn unassociate(&mut self, fip_id: Id, time_ms: u64) {
        let fip = self
            .fips
            .get_mut(&fip_id)
            .expect("caller checked the floating ip exists");
        if let Some(port) = fip.port_id.take() {
            fip.fixed_ip = None;
            fip.updated_ms = time_ms;
            self.idx.fips_by_port.remove(&(port, fip_id));
        }
    }
}
