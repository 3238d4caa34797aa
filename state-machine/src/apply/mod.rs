//! The only entry that changes the state: [`State::apply`].
//!
//! Reading order of one command:
//! 1. the log index must be above the last one applied (a regression is a bug in the
//!    caller and stops the process: guessing would fork the replicas);
//! 2. the request id is looked up: a repeat returns the first outcome, a reuse with
//!    a different command is refused, and an id that may have been applied before
//!    its record was evicted is refused as `request_expired` (`request_log.rs`);
//! 3. the command's own file (`vpc.rs`, `port.rs`, ...) checks everything first and
//!    only then changes state, so a rejected command changes nothing;
//! 4. the outcome is recorded under the request id.
//!
//! Determinism: apply reads no clock (time comes in the proposal's stamp), draws no
//! random numbers (ids derive from the log index) and iterates only ordered maps.

mod addresses;
mod external_network;
mod floating_ip;
mod port;
mod project;
mod security_group;
mod settings;
mod subnet;
mod vpc;

use crate::command::{Applied, Command, Kind, Outcome, Proposal, View};
use crate::error::{Reason, Result, StateError};
use crate::id::Id;
use crate::request_log::{fingerprint, RequestRecord};
use crate::scope::Actor;
use crate::state::State;
use crate::validate;

/// What one command's apply knows besides the state: who asked, and the values the
/// log supplies in place of clocks and randomness.
pub(crate) struct Ctx<'a> {
    pub actor: &'a Actor,
    pub index: u64,
    pub time_ms: u64,
    salt: u32,
    ordinal: u32,
}

impl Ctx<'_> {
    /// A fresh id, unique in the cluster: derived from the log index and a counter.
    pub fn new_id(&mut self) -> Id {
        self.ordinal += 1;
        Id::derive(self.salt, self.index, self.ordinal)
    }
}

impl State {
    /// Applies the command of the log entry at `index`.
    ///
    /// `Err` means the command was rejected and nothing changed (except that the
    /// index was consumed). Panics if `index` does not increase: the caller must
    /// never apply an entry twice or out of order.
    pub fn apply(&mut self, index: u64, proposal: &Proposal) -> Result<Applied> {
        let mut results = self.apply_batch(index, std::slice::from_ref(proposal));
        results.pop().expect("one result per proposal")
    }

    /// Applies the proposals of one log entry, in order, as if each were its own
    /// entry: each has its own request id and outcome, and a rejected one changes
    /// nothing. Batching lets the Raft layer commit many client requests with one
    /// append, one replication round and one fsync.
    ///
    /// Panics if `index` does not increase (see [`State::apply`]).
    pub fn apply_batch(&mut self, index: u64, proposals: &[Proposal]) -> Vec<Result<Applied>> {
        assert!(
            index > self.last_index,
            "apply of log index {index} after {}: entries must be applied once, in order",
            self.last_index
        );
        assert!(
            proposals.len() <= crate::limits::PROPOSALS_PER_ENTRY_MAX,
            "batch over its bound"
        );
        self.last_index = index;
        // Ids derive from (index, ordinal); the ordinal runs on across the batch so
        // two commands of one entry never share an id.
        let mut ordinal = 0;
        proposals
            .iter()
            .enumerate()
            .map(|(position, p)| self.apply_one(index, position as u32, &mut ordinal, p))
            .collect()
    }

    fn apply_one(
        &mut self,
        index: u64,
        position: u32,
        ordinal: &mut u32,
        proposal: &Proposal,
    ) -> Result<Applied> {
        let request = &proposal.request;
        validate::request_id(&request.request_id)?;
        let key = (request.actor.request_scope(), request.request_id.clone());
        let fp = fingerprint(&request.actor, &request.command);
        // A deliberate bug for the chaos suite's teeth (off in normal builds).
        let dedup = !crate::failpoints::enabled("skip-request-dedup");
        if let Some(seen) = self.requests.get(&key).filter(|_| dedup) {
            if seen.fingerprint != fp {
                return Err(StateError::new(
                    Reason::RequestIdConflict,
                    format!(
                        "request id '{}' was already used for a different request",
                        request.request_id
                    ),
                ));
            }
            let outcome = seen.outcome.clone();
            let view = self.view_of(&outcome);
            return Ok(Applied {
                outcome,
                replayed: true,
                view,
            });
        }
        if dedup && self.requests.may_have_forgotten(request.seen_index) {
            return Err(StateError::new(
                Reason::RequestExpired,
                format!(
                    "request id '{}' is not remembered, and its first attempt (after index \
                     {}) is older than what this cluster remembers (records up to index {} \
                     are forgotten): it may or may not have been applied; look the resource \
                     up (by name or device id) instead of retrying",
                    request.request_id,
                    request.seen_index.unwrap_or(0),
                    self.requests.forgotten_through()
                ),
            ));
        }

        let mut ctx = Ctx {
            actor: &request.actor,
            index,
            time_ms: proposal.stamp.time_ms,
            salt: self.settings.id_salt,
            ordinal: *ordinal,
        };
        let result = self.dispatch(&mut ctx, &request.command);
        *ordinal = ctx.ordinal;
        let outcome = result?;
        let retention = self.settings.request_id_retention;
        if !dedup {
            let view = self.view_of(&outcome);
            return Ok(Applied {
                outcome,
                replayed: false,
                view,
            });
        }
        self.requests.record(
            key,
            RequestRecord {
                index,
                position,
                fingerprint: fp,
                outcome: outcome.clone(),
            },
            retention,
        );
        let view = self.view_of(&outcome);
        Ok(Applied {
            outcome,
            replayed: false,
            view,
        })
    }

    fn dispatch(&mut self, ctx: &mut Ctx, command: &Command) -> Result<Outcome> {
        match command {
            Command::UpdateSettings(patch) => self.update_settings(ctx, patch),
            Command::SetQuotas { scope, quotas } => self.set_quotas(ctx, scope, quotas),
            Command::CreateVpc(c) => self.create_vpc(ctx, c),
            Command::UpdateVpc(c) => self.update_vpc(ctx, c),
            Command::SetVpcGateway {
                vpc_id,
                network_id,
                enable_snat,
            } => self.set_vpc_gateway(ctx, *vpc_id, *network_id, *enable_snat),
            Command::ClearVpcGateway { vpc_id } => self.clear_vpc_gateway(ctx, *vpc_id),
            Command::DeleteVpc { vpc_id } => self.delete_vpc(ctx, *vpc_id),
            Command::CreateSubnet(c) => self.create_subnet(ctx, c),
            Command::UpdateSubnet(c) => self.update_subnet(ctx, c),
            Command::DeleteSubnet { subnet_id } => self.delete_subnet(ctx, *subnet_id),
            Command::CreatePort(c) => self.create_port(ctx, c),
            Command::UpdatePort(c) => self.update_port(ctx, c),
            Command::BindPort { port_id, host } => self.bind_port(ctx, *port_id, host),
            Command::DeletePort { port_id } => self.delete_port(ctx, *port_id),
            Command::CreateSecurityGroup {
                scope,
                name,
                description,
                rules,
            } => self.create_security_group(ctx, scope, name, description, rules),
            Command::DeleteSecurityGroup { group_id } => self.delete_security_group(ctx, *group_id),
            Command::AddSecurityGroupRule { group_id, rule } => self.add_rule(ctx, *group_id, rule),
            Command::RemoveSecurityGroupRule { group_id, rule_id } => {
                self.remove_rule(ctx, *group_id, *rule_id)
            }
            Command::CreateExternalNetwork(c) => self.create_external_network(ctx, c),
            Command::DeleteExternalNetwork { network_id } => {
                self.delete_external_network(ctx, *network_id)
            }
            Command::CreateFloatingIp {
                scope,
                network_id,
                ip,
                associate,
            } => self.create_floating_ip(ctx, scope, *network_id, *ip, *associate),
            Command::AssociateFloatingIp {
                fip_id,
                port_id,
                fixed_ip,
            } => self.associate_floating_ip(ctx, *fip_id, *port_id, *fixed_ip),
            Command::DisassociateFloatingIp { fip_id } => {
                self.disassociate_floating_ip(ctx, *fip_id)
            }
            Command::DeleteFloatingIp { fip_id } => self.delete_floating_ip(ctx, *fip_id),
            Command::SetIncarnation { incarnation } => self.set_incarnation(ctx, *incarnation),
        }
    }

    /// The resource an outcome names, as it is now.
    fn view_of(&self, outcome: &Outcome) -> Option<View> {
        let (kind, id) = match outcome {
            Outcome::Created { kind, id } | Outcome::Updated { kind, id } => (*kind, *id),
            Outcome::Deleted { .. } => return None,
            Outcome::SettingsUpdated => return Some(View::Settings(self.settings.clone())),
            Outcome::QuotasSet { scope } => return self.project_view(scope).map(View::Project),
            Outcome::RuleAdded { group_id, .. } => (Kind::SecurityGroup, *group_id),
            Outcome::Incarnation { .. } => return None,
        };
        match kind {
            Kind::Vpc => self.vpcs.get(&id).cloned().map(View::Vpc),
            Kind::Subnet => self
                .subnets
                .get(&id)
                .cloned()
                .map(|s| View::Subnet(Box::new(s))),
            Kind::Port => self.ports.get(&id).map(|p| View::Port((**p).clone())),
            Kind::SecurityGroup => self.groups.get(&id).cloned().map(View::SecurityGroup),
            Kind::ExternalNetwork => self
                .extnets
                .get(&id)
                .cloned()
                .map(|n| View::ExternalNetwork(Box::new(n))),
            Kind::FloatingIp => self.fips.get(&id).cloned().map(View::FloatingIp),
            Kind::SecurityGroupRule | Kind::Project | Kind::Settings => None,
        }
    }
}
