//! What every service shares: the Raft node, authentication, and the three ways a
//! call touches the state (a replicated write, a linearizable or stale read, and a
//! local read to assemble a response).

use std::sync::Arc;

use prismnet_api::metadata::{revision, wants_stale_read, SEEN_REVISION_HEADER};
use prismnet_raft::RaftNode;
use prismnet_state::{Actor, Applied, Command, Request, State, StateError};
use tonic::metadata::MetadataMap;
use tonic::Status;

use crate::auth::Auth;
use crate::errors::{read_error, state_error, write_error};

/// How long a write may wait for its commit.
pub const WRITE_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(10);

pub struct Context {
    pub raft: Arc<RaftNode>,
    pub auth: Auth,
    /// The OVN NB driver (None: `--ovn-nb` not set, driver off).
    pub ovn: Option<Arc<crate::ovn::Ovn>>,
}

impl Context {
    pub fn actor(&self, md: &MetadataMap) -> Result<Actor, Status> {
        self.auth.actor(md)
    }

    /// Proposes `command` and waits until it is applied. An empty request id gets a
    /// server-generated one: such a call is applied at most once per attempt, but a
    /// client retry of it is a new request. A client-chosen request id comes with
    /// the revision the client saw before its first attempt
    /// (`x-prismnet-seen-revision`, 0 when absent: the most cautious reading), which
    /// lets the state machine refuse a retry it can no longer recognize instead of
    /// applying it twice (`request_expired`).
    pub async fn write(
        &self,
        md: &MetadataMap,
        actor: Actor,
        request_id: &str,
        command: Command,
    ) -> Result<Applied, Status> {
        let (request_id, seen_index) = if request_id.is_empty() {
            (format!("srv-{}", uuid::Uuid::new_v4()), None)
        } else {
            let seen = revision(md, SEEN_REVISION_HEADER).unwrap_or(0);
            (request_id.to_string(), Some(seen))
        };
        let request = Request {
            actor,
            request_id,
            command,
            seen_index,
        };
        // A leader that lost its quorum would hold the call forever. The write may
        // still commit after this gives up; the client's retry with the same request
        // id then gets its outcome, never a second allocation.
        match tokio::time::timeout(WRITE_TIMEOUT, self.raft.write(request)).await {
            Ok(Ok(Ok(applied))) => Ok(applied),
            Ok(Ok(Err(e))) => {
                // Decided by the log: the client may take it as the call's outcome.
                // Not `request_expired`: that refusal says nothing of whether an
                // earlier call with this id applied.
                let decided = e.reason != prismnet_state::Reason::RequestExpired;
                let mut status = state_error(e);
                if !decided {
                    return Err(status);
                }
                status.metadata_mut().insert(
                    prismnet_api::metadata::APPLIED_HEADER,
                    tonic::metadata::MetadataValue::from_static("1"),
                );
                Err(status)
            }
            Ok(Err(e)) => Err(write_error(e)),
            Err(_) => Err(prismnet_api::errors::status_with_reason(
                tonic::Code::Unavailable,
                prismnet_api::errors::reasons::COMMIT_TIMEOUT,
                format!(
                    "not committed within {} s (no quorum?); retry with the same request id",
                    WRITE_TIMEOUT.as_secs()
                ),
            )),
        }
    }

    /// A read that reflects every write acknowledged before it started (served by
    /// the leader), or, when the caller asked for it with `x-prismnet-stale: 1`, the
    /// state this node has applied.
    pub async fn read<R, F>(&self, md: &MetadataMap, f: F) -> Result<R, Status>
    where
        F: FnOnce(&State) -> Result<R, StateError> + Send,
        R: Send,
    {
        let result = if wants_stale_read(md) {
            self.raft.read_stale(f)
        } else {
            self.raft.read_linearizable(f).await.map_err(read_error)?
        };
        result.map_err(state_error)
    }

    /// Reads this node's applied state to assemble a response after a write it just
    /// applied (the leader has applied it, so nothing is stale for this purpose).
    pub fn local<R>(&self, f: impl FnOnce(&State) -> R) -> R {
        self.raft.read_stale(f)
    }
}
