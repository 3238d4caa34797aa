//! External network commands (admin only): create, delete.
//!
//! Invariants enforced here: the block holds its upstream gateway; the provider
//! network name and gateway chassis are set; a network used by a VPC gateway or a
//! floating IP cannot be deleted.

use super::subnet::build_family;
use super::Ctx;
use crate::command::{CreateExternalNetwork, FamilySpec, Kind, Outcome};
use crate::error::{Reason, Result, StateError};
use crate::id::Id;
use crate::limits;
use crate::model::ExternalNetwork;
use crate::state::State;
use crate::validate;

impl State {
    pub(super) fn create_external_network(
        &mut self,
        ctx: &mut Ctx,
        c: &CreateExternalNetwork,
    ) -> Result<Outcome> {
        State::require_admin(ctx.actor, "creating an external network")?;
        validate::name("external network", &c.name, true)?;
        let spec = FamilySpec {
            cidr: c.cidr,
            gateway: Some(c.gateway_ip),
            pools: vec![],
            reserved: c.reserved.clone(),
        };
        let addresses = build_family(&spec, c.cidr.family())?;
        if c.provider_network.is_empty() || c.provider_network.contains(char::is_whitespace) {
            return Err(StateError::new(
                Reason::InvalidArgument,
                "the provider network name must be non-empty, without spaces",
            ));
        }
        validate::text("provider network", &c.provider_network)?;
        validate::count(
            "gateway chassis",
            c.gateway_chassis.len(),
            limits::GATEWAY_CHASSIS_MAX,
        )?;
        if c.gateway_chassis.iter().any(|ch| ch.is_empty()) {
            return Err(StateError::new(
                Reason::InvalidArgument,
                "gateway chassis names must be non-empty",
            ));
        }
        for ch in &c.gateway_chassis {
            validate::text("gateway chassis", ch)?;
        }

        let id = ctx.new_id();
        self.extnets.insert(
            id,
            ExternalNetwork {
                id,
                name: c.name.clone(),
                addresses,
                provider_network: c.provider_network.clone(),
                gateway_chassis: c.gateway_chassis.clone(),
                created_ms: ctx.time_ms,
            },
        );
        Ok(Outcome::Created {
            kind: Kind::ExternalNetwork,
            id,
        })
    }

    pub(super) fn delete_external_network(
        &mut self,
        ctx: &mut Ctx,
        network_id: Id,
    ) -> Result<Outcome> {
        State::require_admin(ctx.actor, "deleting an external network")?;
        self.extnet(network_id)?;
        // Rare admin operation: a scan of gateways and floating IPs is acceptable.
        let gateway_user = self.vpcs.values().find(|v| {
            v.gateway
                .as_ref()
                .is_some_and(|g| g.network_id == network_id)
        });
        if let Some(v) = gateway_user {
            return Err(StateError::new(
                Reason::ExternalNetworkInUse,
                format!(
                    "external network {network_id} is the gateway network of vpc {}",
                    v.id
                ),
            ));
        }
        if let Some(f) = self.fips.values().find(|f| f.network_id == network_id) {
            return Err(StateError::new(
                Reason::ExternalNetworkInUse,
                format!("external network {network_id} holds floating ip {}", f.id),
            ));
        }
        self.extnets.remove(&network_id);
        Ok(Outcome::Deleted {
            kind: Kind::ExternalNetwork,
            id: network_id,
        })
    }
}
