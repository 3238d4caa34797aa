//! Port commands: create, update, bind, delete.
//!
//! Invariants enforced here:
//! - a port has exactly one subnet and one address per family of that subnet; every
//!   address and the MAC are held by this port alone until it is deleted;
//! - in SLAAC and DHCPv6-stateless subnets the IPv6 address is the EUI-64 address of
//!   the port's MAC (what the guest configures by itself);
//! - a port's groups belong to its project; a port with port security off has none;
//! - deleting a port releases its addresses and disassociates its floating IPs.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::sync::Arc;

use super::addresses::pool_error;
use super::project::Counted;
use super::Ctx;
use crate::command::{CreatePort, GroupRef, Kind, Outcome, UpdatePort};
use crate::error::{Reason, Result, StateError};
use crate::id::Id;
use crate::limits;
use crate::model::{AddressPair, Port, Subnet};
use crate::net::{Family, Mac};
use crate::scope::Scope;
use crate::state::{device_key, State};
use crate::validate;

/// How one of the port's addresses is obtained, decided in the check phase.
#[derive(Clone, Copy, Debug)]
enum Pick {
    /// The pool's next address (the value peeked in the check phase).
    Next(IpAddr),
    /// A requested or derived address, checked free.
    Specific(IpAddr),
}

impl Pick {
    fn ip(self) -> IpAddr {
        match self {
            Pick::Next(ip) | Pick::Specific(ip) => ip,
        }
    }
}

fn check_address_pairs(pairs: &[AddressPair]) -> Result<()> {
    validate::count(
        "allowed address pairs",
        pairs.len(),
        limits::ADDRESS_PAIRS_MAX,
    )?;
    for p in pairs {
        if let Some(m) = p.mac {
            if m.is_multicast() || m.is_zero() {
                return Err(StateError::new(
                    Reason::InvalidMac,
                    format!("address pair MAC {m} is not unicast"),
                ));
            }
        }
    }
    Ok(())
}

fn eui64_address(subnet: &Subnet, mac: Mac) -> IpAddr {
    let f = subnet.v6.as_ref().expect("called for IPv6 subnets");
    // Autoconfigured subnets are /64, so the interface id is the whole offset.
    f.cidr().addr_at(mac.eui64_interface_id())
}

impl State {
    /// Resolves group references in `scope`, dropping duplicates, keeping order.
    fn resolve_groups(&self, scope: &Scope, refs: &[GroupRef]) -> Result<Vec<Id>> {
        validate::count(
            "security groups per port",
            refs.len(),
            limits::GROUPS_PER_PORT_MAX,
        )?;
        let mut ids = Vec::with_capacity(refs.len());
        for r in refs {
            let id = self.resolve_group(scope, r)?;
            if !ids.contains(&id) {
                ids.push(id);
            }
        }
        Ok(ids)
    }

    pub(crate) fn resolve_group(&self, scope: &Scope, r: &GroupRef) -> Result<Id> {
        match r {
            GroupRef::Id(id) => self
                .groups
                .get(id)
                .filter(|g| &g.scope == scope)
                .map(|g| g.id)
                .ok_or_else(|| StateError::not_found("security group", id)),
            GroupRef::Name(name) => self
                .idx
                .groups_by_name
                .get(&(scope.clone(), name.clone()))
                .copied()
                .ok_or_else(|| StateError::not_found("security group", name)),
        }
    }

    pub(super) fn create_port(&mut self, ctx: &mut Ctx, c: &CreatePort) -> Result<Outcome> {
        let subnet = self.subnet_for(ctx.actor, c.subnet_id)?;
        let scope = subnet.scope.clone();
        validate::name("port", &c.name, false)?;
        validate::text("device id", &c.device_id)?;
        validate::text("device owner", &c.device_owner)?;
        check_address_pairs(&c.allowed_address_pairs)?;

        let groups = match (&c.security_groups, c.port_security) {
            (Some(refs), _) => self.resolve_groups(&scope, refs)?,
            (None, true) => vec![self.projects[&scope].default_group],
            // No port security and no groups asked for: the port has none.
            (None, false) => Vec::new(),
        };
        if !c.port_security && !groups.is_empty() {
            return Err(StateError::new(
                Reason::PortSecurityConflict,
                "a port with port security disabled cannot have security groups",
            ));
        }

        let (mut want_v4, mut want_v6) = (None, None);
        for ip in &c.fixed_ips {
            let slot = match ip {
                IpAddr::V4(_) => &mut want_v4,
                IpAddr::V6(_) => &mut want_v6,
            };
            if slot.replace(*ip).is_some() {
                return Err(StateError::new(
                    Reason::InvalidArgument,
                    format!("at most one fixed IP per address family ({ip} is a second one)"),
                ));
            }
            if subnet.family(Family::of(ip)).is_none() {
                return Err(StateError::new(
                    Reason::IpFamilyMismatch,
                    format!(
                        "subnet {} has no {} block for {ip}",
                        c.subnet_id,
                        Family::of(ip)
                    ),
                ));
            }
        }

        let mac = match c.mac {
            Some(m) => {
                self.check_mac(m)?;
                m
            }
            None => self.peek_mac()?,
        };
        let v4 = match &subnet.v4 {
            None => None,
            Some(f) => Some(match want_v4 {
                Some(ip) => {
                    f.pool
                        .check_specific(&ip)
                        .map_err(|e| pool_error(e, Some(&ip), &f.cidr().to_string()))?;
                    Pick::Specific(ip)
                }
                None => Pick::Next(
                    f.pool
                        .peek_next()
                        .map_err(|e| pool_error(e, None, &f.cidr().to_string()))?,
                ),
            }),
        };
        let v6 = match &subnet.v6 {
            None => None,
            Some(f) => {
                let block = f.cidr().to_string();
                let pick = if subnet.ipv6_mode.is_autoconfigured() {
                    let derived = eui64_address(subnet, mac);
                    if want_v6.is_some_and(|w| w != derived) {
                        return Err(StateError::new(
                            Reason::InvalidArgument,
                            format!(
                                "in {} mode the IPv6 address is the EUI-64 address of the MAC ({derived})",
                                subnet.ipv6_mode.as_str()
                            ),
                        ));
                    }
                    Pick::Specific(derived)
                } else {
                    match want_v6 {
                        Some(ip) => Pick::Specific(ip),
                        None => Pick::Next(
                            f.pool
                                .peek_next()
                                .map_err(|e| pool_error(e, None, &block))?,
                        ),
                    }
                };
                if let Pick::Specific(ip) = pick {
                    f.pool
                        .check_specific(&ip)
                        .map_err(|e| pool_error(e, Some(&ip), &block))?;
                }
                Some(pick)
            }
        };
        self.check_quota(&scope, Counted::Ports, 1)?;

        // Change phase: nothing below can fail.
        if c.mac.is_some() {
            self.take_requested_mac(mac);
        } else {
            self.take_next_mac(mac);
        }
        let subnet = self.subnets.get_mut(&c.subnet_id).expect("checked above");
        for (family, pick) in [(Family::V4, v4), (Family::V6, v6)] {
            let Some(pick) = pick else { continue };
            let pool = &mut subnet.family_mut(family).expect("family checked").pool;
            match pick {
                Pick::Next(ip) => {
                    let got = pool.allocate_next().expect("peeked in the check phase");
                    assert_eq!(got, ip, "pool changed between check and change");
                }
                Pick::Specific(ip) => pool
                    .allocate_specific(&ip)
                    .expect("checked in the check phase"),
            }
        }
        let id = ctx.new_id();
        let port = Port {
            id,
            subnet_id: c.subnet_id,
            name: c.name.as_str().into(),
            mac,
            ipv4: v4.map(|p| as_v4(p.ip())),
            ipv6: v6.map(|p| as_v6(p.ip())),
            device_id: c.device_id.as_str().into(),
            device_owner: c.device_owner.as_str().into(),
            host: Box::default(),
            security_groups: groups.into(),
            port_security: c.port_security,
            allowed_address_pairs: c.allowed_address_pairs.as_slice().into(),
            admin_state_up: c.admin_state_up,
            created_ms: ctx.time_ms,
            updated_ms: ctx.time_ms,
        };
        self.index_port(&port);
        self.ports.insert(id, Arc::new(port));
        self.usage_mut(&scope).ports += 1;
        Ok(Outcome::Created {
            kind: Kind::Port,
            id,
        })
    }

    pub(super) fn update_port(&mut self, ctx: &mut Ctx, c: &UpdatePort) -> Result<Outcome> {
        let port = self.port_for(ctx.actor, c.port_id)?;
        let scope = self.port_scope(port).clone();
        if let Some(n) = &c.name {
            validate::name("port", n, false)?;
        }
        if let Some(d) = &c.device_id {
            validate::text("device id", d)?;
        }
        if let Some(d) = &c.device_owner {
            validate::text("device owner", d)?;
        }
        if let Some(p) = &c.allowed_address_pairs {
            check_address_pairs(p)?;
        }
        let groups = match &c.security_groups {
            Some(refs) => self.resolve_groups(&scope, refs)?,
            None => port.security_groups.to_vec(),
        };
        let port_security = c.port_security.unwrap_or(port.port_security);
        if !port_security && !groups.is_empty() {
            return Err(StateError::new(
                Reason::PortSecurityConflict,
                "port security cannot be disabled on a port that has security groups; remove them first",
            ));
        }

        let mut port = Arc::unwrap_or_clone(self.ports.remove(&c.port_id).expect("checked above"));
        self.unindex_port(&port);
        if let Some(v) = &c.name {
            port.name = v.as_str().into();
        }
        if let Some(v) = &c.device_id {
            port.device_id = v.as_str().into();
        }
        if let Some(v) = &c.device_owner {
            port.device_owner = v.as_str().into();
        }
        if let Some(v) = &c.allowed_address_pairs {
            port.allowed_address_pairs = v.as_slice().into();
        }
        if let Some(v) = c.admin_state_up {
            port.admin_state_up = v;
        }
        port.security_groups = groups.into();
        port.port_security = port_security;
        port.updated_ms = ctx.time_ms;
        self.index_port(&port);
        self.ports.insert(c.port_id, Arc::new(port));
        Ok(Outcome::Updated {
            kind: Kind::Port,
            id: c.port_id,
        })
    }

    pub(super) fn bind_port(&mut self, ctx: &mut Ctx, port_id: Id, host: &str) -> Result<Outcome> {
        self.port_for(ctx.actor, port_id)?;
        validate::text("host", host)?;
        let port = Arc::make_mut(self.ports.get_mut(&port_id).expect("checked above"));
        port.host = host.into();
        port.updated_ms = ctx.time_ms;
        Ok(Outcome::Updated {
            kind: Kind::Port,
            id: port_id,
        })
    }

    pub(super) fn delete_port(&mut self, ctx: &mut Ctx, port_id: Id) -> Result<Outcome> {
        let port = self.port_for(ctx.actor, port_id)?;
        let scope = self.port_scope(port).clone();

        let port = self.ports.remove(&port_id).expect("checked above");
        self.unindex_port(&port);
        self.release_mac(port.mac);
        let subnet = self
            .subnets
            .get_mut(&port.subnet_id)
            .expect("a port's subnet exists");
        for ip in port.fixed_ips() {
            let f = subnet
                .family_mut(Family::of(&ip))
                .expect("a port's families exist in its subnet");
            let released = f.pool.release(&ip);
            assert!(released, "port {port_id} address {ip} was not held");
        }
        let fips: Vec<Id> = self
            .idx
            .fips_by_port
            .range((port_id, Id::MIN)..=(port_id, Id::MAX))
            .map(|(_, f)| *f)
            .collect();
        for fip in fips {
            self.unassociate(fip, ctx.time_ms);
        }
        self.usage_mut(&scope).ports -= 1;
        Ok(Outcome::Deleted {
            kind: Kind::Port,
            id: port_id,
        })
    }

    pub(crate) fn index_port(&mut self, port: &Port) {
        self.idx.ports_by_subnet.insert((port.subnet_id, port.id));
        if !port.device_id.is_empty() {
            self.idx
                .ports_by_device
                .insert((device_key(&port.device_id), port.id));
        }
        for g in &port.security_groups {
            *self.idx.group_port_counts.entry(*g).or_insert(0) += 1;
        }
    }

    fn unindex_port(&mut self, port: &Port) {
        self.idx.ports_by_subnet.remove(&(port.subnet_id, port.id));
        self.idx
            .ports_by_device
            .remove(&(device_key(&port.device_id), port.id));
        for g in &port.security_groups {
            let n = self
                .idx
                .group_port_counts
                .get_mut(g)
                .expect("an indexed group has a count");
            *n -= 1;
            if *n == 0 {
                self.idx.group_port_counts.remove(g);
            }
        }
    }
}

fn as_v4(ip: IpAddr) -> Ipv4Addr {
    match ip {
        IpAddr::V4(a) => a,
        IpAddr::V6(_) => unreachable!("picked from an IPv4 pool"),
    }
}

fn as_v6(ip: IpAddr) -> Ipv6Addr {
    match ip {
        IpAddr::V6(a) => a,
        IpAddr::V4(_) => unreachable!("picked from an IPv6 pool"),
    }
}
