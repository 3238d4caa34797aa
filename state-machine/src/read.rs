//! The read side: gets, paginated lists and usage, all with the same access rules as
//! commands (another tenant's resource reads as not found).
//!
//! Lists are ordered by id; a page continues after the last id of the previous one.

use std::net::IpAddr;

use serde::{Deserialize, Serialize};

use crate::error::{Result, StateError};
use crate::id::Id;
use crate::limits;
use crate::model::{ExternalNetwork, FloatingIp, Port, Quotas, SecurityGroup, Subnet, Usage, Vpc};
use crate::net::Cidr;
use crate::scope::{Actor, Scope};
use crate::state::{device_key, State};

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProjectView {
    pub scope: Scope,
    pub quotas: Quotas,
    pub usage: Usage,
    pub default_group: Id,
    pub created_ms: u64,
}

/// Allocation figures of one address family of a subnet.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct FamilyUsage {
    pub cidr: Cidr,
    pub gateway: IpAddr,
    /// Addresses held, including requested ones outside the pools.
    pub allocated: u128,
    /// Addresses automatic allocation can still hand out.
    pub free: u128,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SubnetUsage {
    pub v4: Option<FamilyUsage>,
    pub v6: Option<FamilyUsage>,
}

/// Where a list starts and how long it may be.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Page {
    /// Continue after this id (the last one of the previous page).
    pub after: Option<Id>,
    /// 0 means the maximum, [`limits::PAGE_SIZE_MAX`].
    pub limit: usize,
}

impl Page {
    fn limit(&self) -> usize {
        if self.limit == 0 {
            limits::PAGE_SIZE_MAX
        } else {
            self.limit.min(limits::PAGE_SIZE_MAX)
        }
    }

    fn start(&self) -> Id {
        match self.after {
            Some(id) => Id::from_u128(id.as_u128().saturating_add(1)),
            None => Id::MIN,
        }
    }

    /// Pages a sorted id list.
    fn take<'a, T>(&self, ids: impl Iterator<Item = Id>, get: impl Fn(Id) -> &'a T) -> Vec<&'a T> {
        let start = self.start();
        ids.filter(|id| *id >= start)
            .take(self.limit())
            .map(get)
            .collect()
    }
}

/// Port list filters; all given ones must match.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PortFilter {
    pub scope: Option<Scope>,
    pub subnet_id: Option<Id>,
    pub device_id: Option<String>,
}

/// The scope a list is restricted to: a project actor sees only its own project
/// whatever it asks for; an admin sees what it filters for, or everything.
fn effective_scope(actor: &Actor, asked: Option<&Scope>) -> Result<Option<Scope>> {
    match (actor, asked) {
        (Actor::Admin, s) => Ok(s.cloned()),
        (Actor::Project(own), None) => Ok(Some(own.clone())),
        (Actor::Project(own), Some(s)) if s == own => Ok(Some(own.clone())),
        (Actor::Project(_), Some(s)) => Err(StateError::new(
            crate::error::Reason::ScopeMismatch,
            format!("this caller may only list its own project, not {s}"),
        )),
    }
}

impl State {
    pub fn vpc(&self, actor: &Actor, id: Id) -> Result<&Vpc> {
        self.vpc_for(actor, id)
    }

    pub fn subnet(&self, actor: &Actor, id: Id) -> Result<&Subnet> {
        self.subnet_for(actor, id)
    }

    pub fn port(&self, actor: &Actor, id: Id) -> Result<&Port> {
        self.port_for(actor, id)
    }

    pub fn security_group(&self, actor: &Actor, id: Id) -> Result<&SecurityGroup> {
        self.group_for(actor, id)
    }

    pub fn security_group_by_name(
        &self,
        actor: &Actor,
        scope: &Scope,
        name: &str,
    ) -> Result<&SecurityGroup> {
        if !actor.can_access(scope) {
            return Err(StateError::not_found("security group", name));
        }
        self.idx
            .groups_by_name
            .get(&(scope.clone(), name.to_string()))
            .map(|id| &self.groups[id])
            .ok_or_else(|| StateError::not_found("security group", name))
    }

    pub fn external_network(&self, id: Id) -> Result<&ExternalNetwork> {
        self.extnet(id)
    }

    pub fn floating_ip(&self, actor: &Actor, id: Id) -> Result<&FloatingIp> {
        self.fip_for(actor, id)
    }

    pub fn project(&self, actor: &Actor, scope: &Scope) -> Result<ProjectView> {
        if !actor.can_access(scope) {
            return Err(StateError::not_found("project", scope));
        }
        self.project_view(scope)
            .ok_or_else(|| StateError::not_found("project", scope))
    }

    pub(crate) fn project_view(&self, scope: &Scope) -> Option<ProjectView> {
        self.projects.get(scope).map(|p| ProjectView {
            scope: p.scope.clone(),
            quotas: p.quotas,
            usage: p.usage,
            default_group: p.default_group,
            created_ms: p.created_ms,
        })
    }

    /// Projects the actor sees, in (org, project) order: those of `org` if given,
    /// after the scope `after` (the last one of the previous page), at most
    /// `limit` (0: [`limits::PAGE_SIZE_MAX`]). Paged by the iteration key itself: a
    /// token compared as "org/project" text would skip orgs like `a-b` after `a`.
    pub fn list_projects(
        &self,
        actor: &Actor,
        org: Option<&str>,
        after: Option<&Scope>,
        limit: usize,
    ) -> Vec<ProjectView> {
        use std::ops::Bound;
        let page = Page { after: None, limit };
        let start = match after {
            Some(s) => Bound::Excluded(s),
            None => Bound::Unbounded,
        };
        self.projects
            .range::<Scope, _>((start, Bound::Unbounded))
            .map(|(s, _)| s)
            .filter(|s| org.is_none_or(|o| s.org == o))
            .filter(|s| actor.can_access(s))
            .take(page.limit())
            .filter_map(|s| self.project_view(s))
            .collect()
    }

    pub fn list_vpcs(&self, actor: &Actor, scope: Option<&Scope>, page: Page) -> Result<Vec<&Vpc>> {
        Ok(match effective_scope(actor, scope)? {
            None => page.take(self.vpcs.keys().copied(), |id| &self.vpcs[&id]),
            Some(s) => page.take(self.vpc_ids_of(&s), |id| &self.vpcs[&id]),
        })
    }

    fn vpc_ids_of<'a>(&'a self, s: &Scope) -> impl Iterator<Item = Id> + 'a {
        self.idx
            .vpcs_by_scope
            .range((s.clone(), Id::MIN)..=(s.clone(), Id::MAX))
            .map(|(_, id)| *id)
    }

    fn subnet_ids_of_vpc(&self, vpc: Id) -> impl Iterator<Item = Id> + '_ {
        self.idx
            .subnets_by_vpc
            .range((vpc, Id::MIN)..=(vpc, Id::MAX))
            .map(|(_, id)| *id)
    }

    fn port_ids_of_subnet(&self, subnet: Id) -> impl Iterator<Item = Id> + '_ {
        self.idx
            .ports_by_subnet
            .range((subnet, Id::MIN)..=(subnet, Id::MAX))
            .map(|(_, id)| *id)
    }

    pub fn list_subnets(
        &self,
        actor: &Actor,
        scope: Option<&Scope>,
        vpc_id: Option<Id>,
        page: Page,
    ) -> Result<Vec<&Subnet>> {
        let scope = effective_scope(actor, scope)?;
        let get = |id| &self.subnets[&id];
        Ok(match (vpc_id, scope) {
            (Some(v), scope) => {
                let vpc = self.vpc_for(actor, v)?;
                if scope.is_some_and(|s| s != vpc.scope) {
                    return Ok(Vec::new());
                }
                page.take(self.subnet_ids_of_vpc(v), get)
            }
            (None, None) => page.take(self.subnets.keys().copied(), get),
            (None, Some(s)) => {
                let mut ids: Vec<Id> = self
                    .vpc_ids_of(&s)
                    .flat_map(|v| self.subnet_ids_of_vpc(v))
                    .collect();
                ids.sort_unstable();
                page.take(ids.into_iter(), get)
            }
        })
    }

    pub fn list_ports(&self, actor: &Actor, filter: &PortFilter, page: Page) -> Result<Vec<&Port>> {
        let scope = effective_scope(actor, filter.scope.as_ref())?;
        let mut ids: Vec<Id> = match (&filter.device_id, filter.subnet_id, &scope) {
            (Some(d), _, _) => {
                let k = device_key(d);
                self.idx
                    .ports_by_device
                    .range((k, Id::MIN)..=(k, Id::MAX))
                    .map(|(_, id)| *id)
                    .filter(|id| *self.ports[id].device_id == **d)
                    .collect()
            }
            (None, Some(s), _) => {
                self.subnet_for(actor, s)?;
                self.port_ids_of_subnet(s).collect()
            }
            (None, None, Some(s)) => self
                .vpc_ids_of(s)
                .flat_map(|v| self.subnet_ids_of_vpc(v))
                .flat_map(|sn| self.port_ids_of_subnet(sn))
                .collect(),
            (None, None, None) => {
                return Ok(page.take(self.ports.keys().copied(), |id| &*self.ports[&id]))
            }
        };
        ids.sort_unstable();
        let keep = |id: &Id| {
            let p = &self.ports[id];
            let ps = self.port_scope(p);
            filter.subnet_id.is_none_or(|s| p.subnet_id == s)
                && scope.as_ref().is_none_or(|s| s == ps)
        };
        Ok(page.take(ids.into_iter().filter(keep), |id| &*self.ports[&id]))
    }

    pub fn list_security_groups(
        &self,
        actor: &Actor,
        scope: Option<&Scope>,
        page: Page,
    ) -> Result<Vec<&SecurityGroup>> {
        Ok(match effective_scope(actor, scope)? {
            None => page.take(self.groups.keys().copied(), |id| &self.groups[&id]),
            Some(s) => {
                let mut ids: Vec<Id> = self
                    .idx
                    .groups_by_name
                    .range((s.clone(), String::new())..)
                    .take_while(|((gs, _), _)| gs == &s)
                    .map(|(_, id)| *id)
                    .collect();
                ids.sort_unstable();
                page.take(ids.into_iter(), |id| &self.groups[&id])
            }
        })
    }

    pub fn list_external_networks(&self, page: Page) -> Vec<&ExternalNetwork> {
        page.take(self.extnets.keys().copied(), |id| &self.extnets[&id])
    }

    pub fn list_floating_ips(
        &self,
        actor: &Actor,
        scope: Option<&Scope>,
        page: Page,
    ) -> Result<Vec<&FloatingIp>> {
        Ok(match effective_scope(actor, scope)? {
            None => page.take(self.fips.keys().copied(), |id| &self.fips[&id]),
            Some(s) => page.take(
                self.idx
                    .fips_by_scope
                    .range((s.clone(), Id::MIN)..=(s, Id::MAX))
                    .map(|(_, id)| *id),
                |id| &self.fips[&id],
            ),
        })
    }

    pub fn subnet_usage(&self, actor: &Actor, id: Id) -> Result<SubnetUsage> {
        let s = self.subnet_for(actor, id)?;
        let fam = |f: &crate::model::SubnetFamily| FamilyUsage {
            cidr: f.cidr(),
            gateway: f.gateway(),
            allocated: f.pool.held(),
            free: f.pool.free(),
        };
        Ok(SubnetUsage {
            v4: s.v4.as_ref().map(fam),
            v6: s.v6.as_ref().map(fam),
        })
    }

    // ---- whole-state iteration, for the OVN translation (admin view) ------------

    pub fn vpcs(&self) -> impl Iterator<Item = &Vpc> {
        self.vpcs.values()
    }

    pub fn subnets(&self) -> impl Iterator<Item = &Subnet> {
        self.subnets.values()
    }

    pub fn ports(&self) -> impl Iterator<Item = &Port> {
        self.ports.values().map(|p| &**p)
    }

    pub fn security_groups(&self) -> impl Iterator<Item = &SecurityGroup> {
        self.groups.values()
    }

    pub fn external_networks(&self) -> impl Iterator<Item = &ExternalNetwork> {
        self.extnets.values()
    }

    pub fn floating_ips(&self) -> impl Iterator<Item = &FloatingIp> {
        self.fips.values()
    }

    /// Ports that are members of a group, in id order. Scans the group's project
    /// (bounded by its port quota); a full translation should rather walk all ports
    /// once.
    pub fn group_members(&self, group_id: Id) -> Vec<Id> {
        let Some(g) = self.groups.get(&group_id) else {
            return Vec::new();
        };
        let mut ids: Vec<Id> = self
            .vpc_ids_of(&g.scope)
            .flat_map(|v| self.subnet_ids_of_vpc(v))
            .flat_map(|s| self.port_ids_of_subnet(s))
            .filter(|p| self.ports[p].security_groups.contains(&group_id))
            .collect();
        ids.sort_unstable();
        ids
    }

    /// Number of ports in the whole state.
    pub fn port_count(&self) -> usize {
        self.ports.len()
    }
}
