//! Security group commands: create, delete, add and remove rules.
//!
//! Invariants enforced here:
//! - group names are unique in a project, and every project has `default`, which
//!   lives as long as the project;
//! - a rule's remote group is a group of the same project; a group used by a port
//!   or named as remote by a rule cannot be deleted;
//! - no two rules of a group match the same traffic; at most `rules_per_group`.

use super::project::{egress_any_rules, Counted, DEFAULT_GROUP_NAME};
use super::Ctx;
use crate::command::{Kind, Outcome, RuleSpec};
use crate::error::{Reason, Result, StateError};
use crate::id::Id;
use crate::model::{Protocol, Remote, Rule, SecurityGroup};
use crate::scope::Scope;
use crate::state::State;
use crate::validate;

/// Checks the shape of a rule (not its remote group, which needs the state).
fn check_rule_shape(r: &RuleSpec) -> Result<()> {
    let bad = |msg: String| Err(StateError::new(Reason::InvalidRule, msg));
    match (r.protocol, r.port_min, r.port_max) {
        (_, None, None) => {}
        (Protocol::Tcp | Protocol::Udp, Some(lo), hi) => {
            let hi = hi.unwrap_or(lo);
            if lo == 0 || lo > hi {
                return bad(format!("port range {lo}-{hi} must satisfy 1 <= min <= max"));
            }
        }
        (Protocol::Icmp, Some(t), code) => {
            if t > 255 || code.is_some_and(|c| c > 255) {
                return bad("ICMP type and code must be 0-255".to_string());
            }
        }
        (Protocol::Tcp | Protocol::Udp | Protocol::Icmp, None, Some(_)) => {
            return bad("a port range needs its minimum".to_string());
        }
        (p, _, _) => return bad(format!("protocol {p:?} takes no port range")),
    }
    if r.remote_cidr.is_some() && r.remote_group.is_some() {
        return bad("a rule has a remote CIDR or a remote group, not both".to_string());
    }
    if let Some(c) = r.remote_cidr {
        if c.family() != r.ethertype {
            return bad(format!(
                "remote CIDR {c} is not of the rule's ethertype {}",
                r.ethertype
            ));
        }
    }
    Ok(())
}

impl State {
    pub(super) fn create_security_group(
        &mut self,
        ctx: &mut Ctx,
        scope: &Scope,
        name: &str,
        description: &str,
        extra: &[RuleSpec],
    ) -> Result<Outcome> {
        State::check_create_scope(ctx.actor, scope)?;
        validate::name("security group", name, true)?;
        validate::text("description", description)?;
        let taken = self
            .idx
            .groups_by_name
            .contains_key(&(scope.clone(), name.to_string()))
            || (name == DEFAULT_GROUP_NAME && !self.projects.contains_key(scope));
        if taken {
            return Err(StateError::new(
                Reason::NameInUse,
                format!("project {scope} already has a security group named '{name}'"),
            ));
        }
        self.check_quota(scope, Counted::SecurityGroups, 1)?;
        // Check the requested rules against the defaults and each other, with
        // placeholder ids: ids are drawn only in the change phase.
        let (quotas, _) = self.quota_view(scope);
        let mut rules = egress_any_rules();
        for spec in extra {
            let rule = self.check_rule(scope, &rules, quotas.rules_per_group, spec)?;
            rules.push(rule);
        }

        self.ensure_project(ctx, scope);
        let id = ctx.new_id();
        for r in &mut rules {
            r.id = ctx.new_id();
        }
        self.groups.insert(
            id,
            SecurityGroup {
                id,
                scope: scope.clone(),
                name: name.to_string(),
                description: description.to_string(),
                rules,
                created_ms: ctx.time_ms,
                updated_ms: ctx.time_ms,
            },
        );
        self.idx
            .groups_by_name
            .insert((scope.clone(), name.to_string()), id);
        self.usage_mut(scope).security_groups += 1;
        Ok(Outcome::Created {
            kind: Kind::SecurityGroup,
            id,
        })
    }

    pub(super) fn delete_security_group(&mut self, ctx: &mut Ctx, group_id: Id) -> Result<Outcome> {
        let group = self.group_for(ctx.actor, group_id)?;
        let scope = group.scope.clone();
        if self.projects[&scope].default_group == group_id {
            return Err(StateError::new(
                Reason::SecurityGroupInUse,
                "the default security group lives as long as its project",
            ));
        }
        if let Some(n) = self.idx.group_port_counts.get(&group_id) {
            return Err(StateError::new(
                Reason::SecurityGroupInUse,
                format!("security group {group_id} is used by {n} ports"),
            ));
        }
        // Remote groups are in the same project: the scan is bounded by its quotas.
        let referrer = self
            .idx
            .groups_by_name
            .range((scope.clone(), String::new())..)
            .take_while(|((s, _), _)| s == &scope)
            .map(|(_, id)| &self.groups[id])
            .find(|g| {
                g.id != group_id && g.rules.iter().any(|r| r.remote == Remote::Group(group_id))
            });
        if let Some(g) = referrer {
            return Err(StateError::new(
                Reason::SecurityGroupInUse,
                format!(
                    "security group {group_id} is the remote group of a rule of {}",
                    g.id
                ),
            ));
        }

        let group = self.groups.remove(&group_id).expect("checked above");
        self.idx.groups_by_name.remove(&(scope.clone(), group.name));
        self.usage_mut(&scope).security_groups -= 1;
        Ok(Outcome::Deleted {
            kind: Kind::SecurityGroup,
            id: group_id,
        })
    }

    /// Checks `spec` as a new rule of a group of `scope` that has `existing` rules
    /// and may have `max` rules; returns the rule with a placeholder id.
    fn check_rule(
        &self,
        scope: &Scope,
        existing: &[Rule],
        max: u32,
        spec: &RuleSpec,
    ) -> Result<Rule> {
        check_rule_shape(spec)?;
        let remote = match (&spec.remote_cidr, &spec.remote_group) {
            (Some(c), _) => Remote::Cidr(*c),
            (None, Some(r)) => Remote::Group(self.resolve_group(scope, r)?),
            (None, None) => Remote::Any,
        };
        // A single port means the range of that one port.
        let port_max = match spec.protocol {
            Protocol::Tcp | Protocol::Udp => spec.port_max.or(spec.port_min),
            _ => spec.port_max,
        };
        let rule = Rule {
            id: Id::MIN,
            direction: spec.direction,
            ethertype: spec.ethertype,
            protocol: spec.protocol,
            port_min: spec.port_min,
            port_max,
            remote,
        };
        if existing.iter().any(|r| r.same_match(&rule)) {
            return Err(StateError::new(
                Reason::RuleExists,
                "the group already has a rule matching the same traffic",
            ));
        }
        if existing.len() >= max as usize {
            return Err(StateError::new(
                Reason::QuotaExceeded,
                format!("a security group may have at most {max} rules"),
            ));
        }
        Ok(rule)
    }

    pub(super) fn add_rule(
        &mut self,
        ctx: &mut Ctx,
        group_id: Id,
        spec: &RuleSpec,
    ) -> Result<Outcome> {
        let group = self.group_for(ctx.actor, group_id)?;
        let max = self.projects[&group.scope].quotas.rules_per_group;
        let rule = self.check_rule(&group.scope, &group.rules, max, spec)?;

        let rule_id = ctx.new_id();
        let group = self.groups.get_mut(&group_id).expect("checked above");
        group.rules.push(Rule {
            id: rule_id,
            ..rule
        });
        group.updated_ms = ctx.time_ms;
        Ok(Outcome::RuleAdded { group_id, rule_id })
    }

    pub(super) fn remove_rule(
        &mut self,
        ctx: &mut Ctx,
        group_id: Id,
        rule_id: Id,
    ) -> Result<Outcome> {
        let group = self.group_for(ctx.actor, group_id)?;
        let Some(pos) = group.rules.iter().position(|r| r.id == rule_id) else {
            return Err(StateError::not_found("security group rule", rule_id));
        };
        let group = self.groups.get_mut(&group_id).expect("checked above");
        group.rules.remove(pos);
        group.updated_ms = ctx.time_ms;
        Ok(Outcome::Updated {
            kind: Kind::SecurityGroup,
            id: group_id,
        })
    }
}
