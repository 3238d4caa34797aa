//! Implicit projects: a project comes into being with the first resource created in
//! its scope, with the default quotas and a security group named `default`.

use super::Ctx;
use crate::error::{Reason, Result, StateError};
use crate::model::{Direction, Project, Protocol, Quotas, Remote, Rule, SecurityGroup, Usage};
use crate::net::Family;
use crate::scope::Scope;
use crate::state::State;

pub(crate) const DEFAULT_GROUP_NAME: &str = "default";

/// Which quota a creation consumes.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Counted {
    Vpcs,
    Subnets,
    Ports,
    SecurityGroups,
    FloatingIps,
}

impl State {
    /// Quotas and usage of `scope`, as they would be if the project were created now.
    pub(crate) fn quota_view(&self, scope: &Scope) -> (Quotas, Usage) {
        match self.projects.get(scope) {
            Some(p) => (p.quotas, p.usage),
            None => (
                self.settings.default_quotas,
                // A new project starts with its default group.
                Usage {
                    security_groups: 1,
                    ..Usage::default()
                },
            ),
        }
    }

    /// Refuses a creation that would exceed the project's quota. Changes nothing.
    pub(crate) fn check_quota(&self, scope: &Scope, what: Counted, adding: u32) -> Result<()> {
        let (q, u) = self.quota_view(scope);
        let (used, max, name) = match what {
            Counted::Vpcs => (u.vpcs, q.vpcs, "vpcs"),
            Counted::Subnets => (u.subnets, q.subnets, "subnets"),
            Counted::Ports => (u.ports, q.ports, "ports"),
            Counted::SecurityGroups => (u.security_groups, q.security_groups, "security groups"),
            Counted::FloatingIps => (u.floating_ips, q.floating_ips, "floating ips"),
        };
        if u64::from(used) + u64::from(adding) > u64::from(max) {
            return Err(StateError::new(
                Reason::QuotaExceeded,
                format!("project {scope} may have at most {max} {name} and has {used}"),
            ));
        }
        Ok(())
    }

    pub(crate) fn usage_mut(&mut self, scope: &Scope) -> &mut Usage {
        &mut self
            .projects
            .get_mut(scope)
            .expect("resources exist only in existing projects")
            .usage
    }

    /// Creates the project of `scope` with its default group, if it does not exist.
    /// Called in the change phase of a command, after every check passed.
    pub(crate) fn ensure_project(&mut self, ctx: &mut Ctx, scope: &Scope) {
        if self.projects.contains_key(scope) {
            return;
        }
        let group_id = ctx.new_id();
        let mut rules = default_group_rules(group_id);
        for r in &mut rules {
            r.id = ctx.new_id();
        }
        let group = SecurityGroup {
            id: group_id,
            scope: scope.clone(),
            name: DEFAULT_GROUP_NAME.to_string(),
            description: "default: all egress; ingress only from members of this group".to_string(),
            rules,
            created_ms: ctx.time_ms,
            updated_ms: ctx.time_ms,
        };
        self.idx
            .groups_by_name
            .insert((scope.clone(), group.name.clone()), group_id);
        self.groups.insert(group_id, group);
        self.projects.insert(
            scope.clone(),
            Project {
                scope: scope.clone(),
                quotas: self.settings.default_quotas,
                default_group: group_id,
                created_ms: ctx.time_ms,
                usage: Usage {
                    security_groups: 1,
                    ..Usage::default()
                },
            },
        );
    }
}

/// As in Neutron: all egress, and ingress from members of the same group. Rule ids
/// are placeholders until the caller assigns them.
fn default_group_rules(group_id: crate::id::Id) -> Vec<Rule> {
    let mut rules = egress_any_rules();
    for ethertype in [Family::V4, Family::V6] {
        rules.push(Rule {
            id: crate::id::Id::MIN,
            direction: Direction::Ingress,
            ethertype,
            protocol: Protocol::Any,
            port_min: None,
            port_max: None,
            remote: Remote::Group(group_id),
        });
    }
    rules
}

/// The rules every new group starts with: allow all egress (Neutron's behaviour).
/// Rule ids are placeholders (`Id::MIN`) until the caller assigns them.
pub(crate) fn egress_any_rules() -> Vec<Rule> {
    [Family::V4, Family::V6]
        .into_iter()
        .map(|ethertype| Rule {
            id: crate::id::Id::MIN,
            direction: Direction::Egress,
            ethertype,
            protocol: Protocol::Any,
            port_min: None,
            port_max: None,
            remote: Remote::Any,
        })
        .collect()
}
