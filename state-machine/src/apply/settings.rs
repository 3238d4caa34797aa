//! UpdateSettings, SetQuotas and SetIncarnation: admin-only cluster configuration.
//!
//! Invariants enforced here:
//! - the incarnation, once set, never changes (first writer wins).

use super::Ctx;
use crate::command::{Outcome, QuotasPatch};
use crate::error::{Reason, Result, StateError};
use crate::ipam::MacPool;
use crate::limits;
use crate::model::Quotas;
use crate::scope::Scope;
use crate::settings::SettingsPatch;
use crate::state::State;

pub(crate) fn check_quotas(q: &Quotas) -> Result<()> {
    let values = [
        q.vpcs,
        q.subnets,
        q.ports,
        q.security_groups,
        q.rules_per_group,
        q.floating_ips,
    ];
    if values.iter().any(|&v| v > limits::QUOTA_MAX) {
        return Err(StateError::new(
            Reason::InvalidArgument,
            format!("quota values must be at most {}", limits::QUOTA_MAX),
        ));
    }
    Ok(())
}

impl State {
    pub(super) fn update_settings(
        &mut self,
        ctx: &mut Ctx,
        patch: &SettingsPatch,
    ) -> Result<Outcome> {
        State::require_admin(ctx.actor, "changing cluster settings")?;
        if let Some(q) = &patch.default_quotas {
            check_quotas(q)?;
        }
        if let Some(prefix) = patch.mac_prefix {
            if !prefix.is_valid() {
                return Err(StateError::new(
                    Reason::InvalidSettings,
                    "MAC prefix must be 1-5 octets, locally administered and unicast",
                ));
            }
            if prefix != self.settings.mac_prefix && !self.macs.is_empty() {
                return Err(StateError::new(
                    Reason::SettingsLocked,
                    "the MAC prefix cannot change while MAC addresses are allocated",
                ));
            }
        }
        if let Some(r) = patch.request_id_retention {
            if r == 0 || r > limits::REQUEST_LOG_RETENTION_MAX {
                return Err(StateError::new(
                    Reason::InvalidSettings,
                    format!(
                        "request id retention must be 1-{}",
                        limits::REQUEST_LOG_RETENTION_MAX
                    ),
                ));
            }
        }
        if let Some(salt) = patch.id_salt {
            // Ids already handed out embed the old salt; changing it later would let
            // two resources of one cluster carry differently salted ids for no gain.
            if salt != self.settings.id_salt && !self.holds_no_resources() {
                return Err(StateError::new(
                    Reason::SettingsLocked,
                    "the id salt can only be set while the cluster holds no resources",
                ));
            }
        }

        if let Some(q) = patch.default_quotas {
            self.settings.default_quotas = q;
        }
        if let Some(prefix) = patch.mac_prefix {
            if prefix != self.settings.mac_prefix {
                self.settings.mac_prefix = prefix;
                self.macs = MacPool::new(prefix);
            }
        }
        if let Some(r) = patch.request_id_retention {
            self.settings.request_id_retention = r;
            self.requests.evict_to(r);
        }
        if let Some(salt) = patch.id_salt {
            self.settings.id_salt = salt;
        }
        Ok(Outcome::SettingsUpdated)
    }

    pub(super) fn set_quotas(
        &mut self,
        ctx: &mut Ctx,
        scope: &Scope,
        patch: &QuotasPatch,
    ) -> Result<Outcome> {
        State::require_admin(ctx.actor, "setting quotas")?;
        scope.validate()?;
        let current = self
            .projects
            .get(scope)
            .map(|p| p.quotas)
            .unwrap_or(self.settings.default_quotas);
        let quotas = patch.apply_to(&current);
        check_quotas(&quotas)?;
        // Lowering a quota below usage is allowed: existing resources stay, new ones
        // are refused until usage drops.
        self.ensure_project(ctx, scope);
        self.projects.get_mut(scope).expect("just ensured").quotas = quotas;
        Ok(Outcome::QuotasSet {
            scope: scope.clone(),
        })
    }

    pub(super) fn set_incarnation(&mut self, ctx: &mut Ctx, incarnation: u128) -> Result<Outcome> {
        State::require_admin(ctx.actor, "naming the cluster's incarnation")?;
        if incarnation == 0 {
            return Err(StateError::new(
                Reason::InvalidArgument,
                "an incarnation must not be 0",
            ));
        }
        // Several leaders may each propose one (each term's first leader does while
        // none is set); the first applied stays, the others learn it.
        let incarnation = *self.incarnation.get_or_insert(incarnation);
        Ok(Outcome::Incarnation { incarnation })
    }
}
