//! The Raft peer service: decodes a request, hands it to the local openraft
//! instance, encodes its answer (including Raft-level refusals) into the reply.
//!
//! Every reply carries this node's free space; while it is below its minimum the
//! node refuses to store anything new (see `crate::disk`).

use std::future::Future;
use std::sync::Arc;

use serde::de::DeserializeOwned;
use serde::Serialize;
use tonic::{Request, Response, Status};

use super::proto::raft_service_server::{RaftService, RaftServiceServer};
use super::proto::{DiskState, RaftReply, RaftRequest};
use super::{PeerContacts, MESSAGE_BYTES_MAX};
use crate::codec;
use crate::disk::DiskGuard;
use crate::types::{
    AppendEntriesRequest, AppendEntriesResponse, InstallSnapshotRequest, OpenraftError, Raft,
    VoteRequest,
};

/// Streams a peer may open and reset before this node accepted them, per
/// connection, before h2 closes the connection with GOAWAY `too_many_resets`.
///
/// h2's default (20) guards against "rapid reset" floods on a server that accepts
/// streams as they arrive. A node that stalled (SIGSTOP, a frozen VM) reads on
/// resuming everything the leader sent meanwhile: every heartbeat and AppendEntries
/// it gave up on after openraft's TTL (about the heartbeat interval, 50 ms by
/// default) and reset, ~20-40 a second. With the default the node would cut the
/// leader's connection after a stall of about a second, failing the replication
/// RPC in flight on it. 4096 covers a stall of minutes; each queued stream holds
/// only its header block until the node accepts and drops it, right after resuming.
pub const PENDING_ACCEPT_RESET_STREAMS_MAX: usize = 4096;

/// The builder of the peer server, with the connection settings above.
pub fn builder() -> tonic::transport::Server {
    tonic::transport::Server::builder()
        .http2_max_pending_accept_reset_streams(Some(PENDING_ACCEPT_RESET_STREAMS_MAX))
}

pub struct RaftServer {
    raft: Raft,
    cluster: Arc<str>,
    disk: Arc<DiskGuard>,
    contacts: Arc<PeerContacts>,
}

/// What a handler answers: openraft's result, or a refusal for lack of space.
enum Answer<T, E> {
    Raft(Result<T, E>),
    RefusedDiskFull,
}

impl RaftServer {
    pub fn new(
        raft: Raft,
        cluster: &str,
        disk: Arc<DiskGuard>,
        contacts: Arc<PeerContacts>,
    ) -> RaftServiceServer<RaftServer> {
        RaftServiceServer::new(RaftServer {
            raft,
            cluster: cluster.into(),
            disk,
            contacts,
        })
        .max_decoding_message_size(MESSAGE_BYTES_MAX)
        .max_encoding_message_size(MESSAGE_BYTES_MAX)
    }

    /// Checks the sender's cluster, decodes `Q`, runs `f`, encodes its answer
    /// together with this node's free space.
    async fn handle<Q, T, E, F, Fut>(
        &self,
        req: Request<RaftRequest>,
        what: &'static str,
        f: F,
    ) -> Result<Response<RaftReply>, Status>
    where
        Q: DeserializeOwned,
        T: Serialize,
        E: Serialize,
        F: FnOnce(Raft, Arc<DiskGuard>, Q) -> Fut,
        Fut: Future<Output = Answer<T, E>>,
    {
        let req = req.into_inner();
        if req.cluster != *self.cluster {
            return Err(Status::failed_precondition(format!(
                "raft rpc from cluster '{}' refused by a node of cluster '{}'",
                req.cluster, self.cluster
            )));
        }
        let rpc: Q = codec::decode(what, &req.payload)
            .map_err(|e| Status::invalid_argument(e.to_string()))?;
        let answer = f(self.raft.clone(), self.disk.clone(), rpc).await;
        let disk = self.disk.local().map(|s| DiskState {
            free_bytes: s.free_bytes,
            min_free_bytes: s.min_free_bytes,
        });
        let reply = match answer {
            Answer::Raft(result) => RaftReply {
                payload: codec::encode(what, &result)
                    .map_err(|e| Status::internal(e.to_string()))?,
                disk,
                refused_disk_full: false,
            },
            Answer::RefusedDiskFull => RaftReply {
                payload: Vec::new(),
                disk,
                refused_disk_full: true,
            },
        };
        Ok(Response::new(reply))
    }
}

/// AppendEntries on a node below its free-space minimum. Invariant: nothing from
/// `rpc.entries` is stored. The request's heartbeat part still runs (same vote,
/// same `prev_log_id`, same leader commit, no entries; exactly what the leader
/// could have sent as a heartbeat), so this node keeps following the leader
/// instead of timing out and campaigning while it refuses. Where that heartbeat
/// is answered with anything but success (a higher vote, a conflicting
/// `prev_log_id`), the full request would have been answered the same, so that
/// answer goes back as is; otherwise the entries are refused.
async fn append_while_low(
    raft: Raft,
    rpc: AppendEntriesRequest,
) -> Answer<AppendEntriesResponse, OpenraftError> {
    let entries = rpc.entries.len();
    let heartbeat = AppendEntriesRequest {
        entries: Vec::new(),
        ..rpc
    };
    match raft.append_entries(heartbeat).await {
        Ok(AppendEntriesResponse::Success) => {
            tracing::debug!(entries, "disk low: refused entries from the leader");
            Answer::RefusedDiskFull
        }
        other => Answer::Raft(other),
    }
}

#[tonic::async_trait]
impl RaftService for RaftServer {
    async fn append_entries(
        &self,
        req: Request<RaftRequest>,
    ) -> Result<Response<RaftReply>, Status> {
        let contacts = self.contacts.clone();
        self.handle(
            req,
            "append entries",
            move |raft, disk, rpc: AppendEntriesRequest| async move {
                if let Some(leader) = rpc.vote.leader_id().voted_for() {
                    contacts.record(leader);
                }
                if !rpc.entries.is_empty() && disk.local_low().is_some() {
                    return append_while_low(raft, rpc).await;
                }
                Answer::Raft(raft.append_entries(rpc).await)
            },
        )
        .await
    }

    async fn vote(&self, req: Request<RaftRequest>) -> Result<Response<RaftReply>, Status> {
        self.handle(req, "vote", |raft, _, rpc: VoteRequest| async move {
            Answer::Raft(raft.vote(rpc).await)
        })
        .await
    }

    async fn install_snapshot(
        &self,
        req: Request<RaftRequest>,
    ) -> Result<Response<RaftReply>, Status> {
        self.handle(
            req,
            "install snapshot",
            |raft, disk, rpc: InstallSnapshotRequest| async move {
                // A snapshot is written to the data dir once complete: a low node
                // takes none (chunks are refused from the first one, so none is
                // sent in vain).
                if disk.local_low().is_some() {
                    return Answer::RefusedDiskFull;
                }
                Answer::Raft(raft.install_snapshot(rpc).await)
            },
        )
        .await
    }
}
