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

use prismnet_state::{Applied, View};
use tonic::Status;

use crate::context::Context;
use crate::errors::internal;

/// Every service holds the shared context.
#[derive(Clone)]
pub struct Service {
    pub ctx: Arc<Context>,
}

/// The resource view a write returned. A write that names a resource has one,
/// except when the request id was replayed after that resource was deleted: the
/// retry then learns it no longer exists, as a NOT_FOUND, not an internal error.
pub(crate) fn view(applied: Applied) -> Result<View, Status> {
    match applied.view {
        Some(v) => Ok(v),
        None if applied.replayed => Err(prismnet_api::errors::status_with_reason(
            tonic::Code::NotFound,
            prismnet_api::errors::reasons::NOT_FOUND,
            format!(
                "this request was applied earlier ({:?}), and its resource no longer exists",
                applied.outcome
            ),
        )),
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
    use prismnet_state::{Id, Kind, Outcome};

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
        assert_eq!(view(replay).unwrap_err().code(), tonic::Code::NotFound);
        let fresh = Applied {
            outcome,
            replayed: false,
            view: None,
        };
        assert_eq!(view(fresh).unwrap_err().code(), tonic::Code::Internal);
    }
}
