//! The Raft peer service: decodes a request, hands it to the local openraft
//! instance, encodes its answer (including Raft-level refusals) into the reply.

use std::future::Future;
use std::sync::Arc;

use serde::de::DeserializeOwned;
use serde::Serialize;
use tonic::{Request, Response, Status};

use super::proto::raft_service_server::{RaftService, RaftServiceServer};
use super::proto::{RaftReply, RaftRequest};
use super::MESSAGE_BYTES_MAX;
use crate::codec;
use crate::types::{AppendEntriesRequest, InstallSnapshotRequest, Raft, VoteRequest};

pub struct RaftServer {
    raft: Raft,
    cluster: Arc<str>,
}

impl RaftServer {
    pub fn new(raft: Raft, cluster: &str) -> RaftServiceServer<RaftServer> {
        RaftServiceServer::new(RaftServer {
            raft,
            cluster: cluster.into(),
        })
        .max_decoding_message_size(MESSAGE_BYTES_MAX)
        .max_encoding_message_size(MESSAGE_BYTES_MAX)
    }

    /// Checks the sender's cluster, decodes `Q`, runs `f`, encodes its result.
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
        F: FnOnce(Raft, Q) -> Fut,
        Fut: Future<Output = Result<T, E>>,
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
        let result = f(self.raft.clone(), rpc).await;
        let payload = codec::encode(what, &result).map_err(|e| Status::internal(e.to_string()))?;
        Ok(Response::new(RaftReply { payload }))
    }
}

#[tonic::async_trait]
impl RaftService for RaftServer {
    async fn append_entries(
        &self,
        req: Request<RaftRequest>,
    ) -> Result<Response<RaftReply>, Status> {
        self.handle(
            req,
            "append entries",
            |raft, rpc: AppendEntriesRequest| async move { raft.append_entries(rpc).await },
        )
        .await
    }

    async fn vote(&self, req: Request<RaftRequest>) -> Result<Response<RaftReply>, Status> {
        self.handle(req, "vote", |raft, rpc: VoteRequest| async move {
            raft.vote(rpc).await
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
            |raft, rpc: InstallSnapshotRequest| async move { raft.install_snapshot(rpc).await },
        )
        .await
    }
}
