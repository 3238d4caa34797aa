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

/// The resource view a write returned; a write that names a resource always has
/// one unless it deleted it.
pub(crate) fn view(applied: Applied) -> Result<View, Status> {
    applied.view.ok_or_else(|| {
        internal(format!(
            "the outcome {:?} carries no resource",
            applied.outcome
        ))
    })
}

pub(crate) fn wrong_view(v: View) -> Status {
    internal(format!("unexpected resource in the outcome: {v:?}"))
}
