//! The public gRPC services, one file per service. Each handler reads the same way:
//! authenticate, convert the request (refusing what does not parse), write or read
//! through the [`Context`], convert the answer.

pub mod admin;
pub mod external_network;
pub mod floating_ip;
pub mod ovn;
pub mod port;
pub mod project;
pub mod security_group;
pub mod subnet;
pub mod vpc;

use std::sync::Arc;

use prismnet_state::{Applied, Outcome, View};
use tonic::Status;

use crate::context::Context;
use crate::errors::internal;

/// Every service holds the shared context.
#[derive(Clone)]
pub struct Service {
    pub ctx: Arc<Context>,
}

impl Service {
    /// The leader's term, or the redirect a follower answers with (`not_leader`
    /// with the leader's address, or `no_leader`): for calls only the leader can
    /// answer from its own memory, like the OVN driver's status.
    pub(crate) fn leading_term(&self) -> Result<u64, Status> {
        if let Some(term) = self.ctx.raft.leader_term() {
            return Ok(term);
        }
        let st = self.ctx.raft.status();
        let addr = st
            .leader_id
            .and_then(|l| st.voters.get(&l).map(|p| p.api_addr.clone()));
        Err(match st.leader_id {
            Some(l) => prismnet_api::errors::not_leader_status(Some(l), addr.as_deref()),
            None => prismnet_api::errors::no_leader_status(),
        })
    }
}

/// The resource view a write returned. A write that names a resource has one,
/// except when the request id was replayed after that resource was deleted: the
/// retry then learns that its write DID apply and the resource was deleted since
/// (NOT_FOUND `applied_then_deleted`, with the resource's kind and id), not a
/// plain `not_found` that reads as "your create never happened".
pub(crate) fn view(applied: Applied) -> Result<View, Status> {
    match applied.view {
        Some(v) => Ok(v),
        None if applied.replayed => {
            let (kind, id) = match &applied.outcome {
                Outcome::Created { kind, id } | Outcome::Updated { kind, id } => {
                    (format!("{kind:?}"), id.to_string())
                }
                Outcome::RuleAdded { group_id, .. } => {
                    ("SecurityGroup".to_string(), group_id.to_string())
                }
                other => (format!("{other:?}"), String::new()),
            };
            let info = std::collections::HashMap::from([
                ("kind".to_string(), kind.clone()),
                ("id".to_string(), id.clone()),
            ]);
            Err(prismnet_api::errors::status_with_info(
                tonic::Code::NotFound,
                prismnet_api::errors::reasons::APPLIED_THEN_DELETED,
                format!(
                    "this request was applied earlier ({kind} {id}), and that resource has \
                     since been deleted"
                ),
                info,
                tonic::metadata::MetadataMap::new(),
            ))
        }
        None => Err(internal(format!(
            "the outcome {:?} carries no resource",
            applied.outcome
        ))),
    }
}

pub(crate) fn wrong_view(v: View) -> Status {
    internal(format!("unexpected resource in the outcome: {v:?}"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use prismnet_state::{Id, Kind};

    #[test]
    fn replay_of_a_deleted_resource_is_not_found() {
        let outcome = Outcome::Created {
            kind: Kind::Port,
            id: Id::MIN,
        };
        let replay = Applied {
            outcome: outcome.clone(),
            replayed: true,
            view: None,
        };
        let e = view(replay).unwrap_err();
        assert_eq!(e.code(), tonic::Code::NotFound);
        assert_eq!(
            prismnet_api::errors::reason_of(&e).as_deref(),
            Some(prismnet_api::errors::reasons::APPLIED_THEN_DELETED)
        );
        let info = prismnet_api::errors::info_of(&e);
        assert_eq!(info["kind"], "Port");
        assert_eq!(info["id"], Id::MIN.to_string());
        let fresh = Applied {
            outcome,
            replayed: false,
            view: None,
        };
        assert_eq!(view(fresh).unwrap_err().code(), tonic::Code::Internal);
    }
}
