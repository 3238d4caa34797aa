//! The client side of the peer transport.
//!
//! One tonic `Channel` per peer, created lazily and reused by every RPC and every
//! replication stream to that peer (openraft asks the factory for a new client more
//! than once). Each RPC is bounded by openraft's `RPCOption` deadline, so a peer
//! that is down or slow delays only its own replication stream, never the others.
//! A peer that cannot be reached is reported as `Unreachable`, which makes openraft
//! back off before retrying it.
//!
//! Every reply carries the peer's free space, recorded in this node's
//! [`DiskGuard`] for the leader's quorum rule (see `crate::disk`). A peer below its
//! minimum refuses entries; how that is reported to openraft is in
//! [`PeerClient::append_entries`].

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

// tokio's clock: the real one in production, the simulated one in `sim/`.
use tokio::time::Instant;

use openraft::error::{NetworkError, RemoteError, Unreachable};
use openraft::network::{RPCOption, RaftNetwork, RaftNetworkFactory};
use openraft::AnyError;
use serde::de::DeserializeOwned;
use serde::Serialize;
use tonic::transport::{Channel, ClientTlsConfig, Endpoint};

use super::proto::raft_service_client::RaftServiceClient;
use super::proto::RaftRequest;
use super::{PeerContacts, MESSAGE_BYTES_MAX};
use crate::codec;
use crate::disk::{human_bytes, DiskGuard, DiskSpace};
use crate::seams::{Conn, Dial};
use crate::types::{
    AppendEntriesRequest, AppendEntriesResponse, InstallSnapshotError, InstallSnapshotRequest,
    InstallSnapshotResponse, NodeId, OpenraftError, PeerNode, RpcError, TypeConfig, VoteRequest,
    VoteResponse,
};

/// How long establishing a TCP connection to a peer may take.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(1);

/// HTTP/2 PINGs on every peer connection: sent this often, and the connection is
/// closed when one is not answered within the timeout. Well under the election
/// timeout's floor plus a lease, so a dead connection is replaced before a healthy
/// cluster would elect around it.
pub const KEEPALIVE_INTERVAL: Duration = Duration::from_millis(500);
pub const KEEPALIVE_TIMEOUT: Duration = Duration::from_secs(1);

/// Hands out clients that share one channel per (peer, address).
#[derive(Clone)]
pub struct NetworkFactory {
    cluster: Arc<str>,
    /// Keyed by node id; the address is kept to notice a peer that moved.
    /// Bounded by the membership: one entry per node ever replicated to.
    channels: Arc<Mutex<HashMap<NodeId, (String, Channel)>>>,
    /// With peer mTLS: `https://` to every peer, presenting this node's certificate.
    tls: Option<ClientTlsConfig>,
    /// Where peers' free-space reports go.
    disk: Arc<DiskGuard>,
    /// When each peer last answered (status only).
    contacts: Arc<PeerContacts>,
    /// The simulator's network (`crate::seams`); `None` is TCP.
    dial: Option<Dial>,
}

impl NetworkFactory {
    pub fn new(
        cluster: &str,
        tls: Option<ClientTlsConfig>,
        disk: Arc<DiskGuard>,
        dial: Option<Dial>,
    ) -> NetworkFactory {
        NetworkFactory {
            cluster: cluster.into(),
            channels: Arc::new(Mutex::new(HashMap::new())),
            tls,
            disk,
            contacts: Arc::default(),
            dial,
        }
    }

    /// The record of when each peer last answered, shared with the status and
    /// the peer server (which records the leader's requests).
    pub fn contacts(&self) -> Arc<PeerContacts> {
        self.contacts.clone()
    }

    fn channel(&self, node: &PeerNode) -> Result<Channel, String> {
        let scheme = if self.tls.is_some() { "https" } else { "http" };
        let mut endpoint = Endpoint::from_shared(format!("{scheme}://{}", node.raft_addr))
            .map_err(|e| format!("bad raft address '{}': {e}", node.raft_addr))?
            .connect_timeout(CONNECT_TIMEOUT)
            .tcp_nodelay(true)
            // A connection whose bytes stopped arriving (a middlebox that lost its
            // state, a peer host that vanished) is closed after a PING goes
            // unanswered, and the next RPC dials afresh. Without this, every RPC
            // on it times out until TCP itself gives up (minutes), and a cluster
            // whose connections all died that way elects no leader meanwhile (the
            // simulator found this: sim seed 1000).
            .http2_keep_alive_interval(KEEPALIVE_INTERVAL)
            .keep_alive_timeout(KEEPALIVE_TIMEOUT)
            .keep_alive_while_idle(true);
        if let Some(tls) = &self.tls {
            endpoint = endpoint
                .tls_config(tls.clone())
                .map_err(|e| format!("peer TLS for '{}': {e}", node.raft_addr))?;
        }
        Ok(match &self.dial {
            None => endpoint.connect_lazy(),
            Some(dial) => endpoint.connect_with_connector_lazy(connector(dial.clone())),
        })
    }
}

/// tonic's connector over a [`Dial`]: each new connection dials the URI's
/// `host:port`. Its twin in `api/src/client/endpoints.rs` serves the other crate: the dependency
/// rules keep `raft/` and `api/` apart, so the seven lines live in both.
fn connector(
    dial: Dial,
) -> impl tower::Service<
    tonic::codegen::http::Uri,
    Response = hyper_util::rt::TokioIo<Conn>,
    Error = std::io::Error,
    Future = impl Send,
> + Send
       + 'static {
    tower::service_fn(move |uri: tonic::codegen::http::Uri| {
        let (dial, addr) = (dial.clone(), uri.authority().map(|a| a.to_string()));
        async move {
            let addr = addr.ok_or_else(|| std::io::Error::other("peer URI without host:port"))?;
            dial(addr).await.map(hyper_util::rt::TokioIo::new)
        }
    })
}

impl RaftNetworkFactory<TypeConfig> for NetworkFactory {
    type Network = PeerClient;

    async fn new_client(&mut self, target: NodeId, node: &PeerNode) -> PeerClient {
        let channel = {
            let mut map = self.channels.lock().unwrap_or_else(|p| p.into_inner());
            match map.get(&target) {
                Some((addr, ch)) if *addr == node.raft_addr => Ok(ch.clone()),
                _ => self.channel(node).inspect(|ch| {
                    map.insert(target, (node.raft_addr.clone(), ch.clone()));
                }),
            }
        };
        PeerClient {
            target,
            cluster: self.cluster.clone(),
            client: channel.map(|ch| {
                RaftServiceClient::new(ch)
                    .max_decoding_message_size(MESSAGE_BYTES_MAX)
                    .max_encoding_message_size(MESSAGE_BYTES_MAX)
            }),
            disk: self.disk.clone(),
            contacts: self.contacts.clone(),
        }
    }
}

pub struct PeerClient {
    target: NodeId,
    cluster: Arc<str>,
    client: Result<RaftServiceClient<Channel>, String>,
    disk: Arc<DiskGuard>,
    contacts: Arc<PeerContacts>,
}

/// A failure below Raft: the peer was not reached, or the exchange broke, or (not
/// a failure of the transport, but handled like one) the peer refused for lack of
/// space.
enum Transport {
    Unreachable(String),
    Network(String),
    /// The peer is below its free-space minimum and stored nothing. For an
    /// AppendEntries, the request's heartbeat part succeeded (see the server).
    RefusedDiskFull(String),
}

impl Transport {
    fn into_rpc<E: std::error::Error>(self) -> RpcError<E> {
        match self {
            Transport::Unreachable(m) | Transport::RefusedDiskFull(m) => {
                RpcError::Unreachable(Unreachable::new(&AnyError::error(m)))
            }
            Transport::Network(m) => RpcError::Network(NetworkError::new(&AnyError::error(m))),
        }
    }
}

#[derive(Clone, Copy)]
enum Method {
    AppendEntries,
    Vote,
    InstallSnapshot,
}

impl PeerClient {
    async fn call<Q, T, E>(
        &mut self,
        method: Method,
        rpc: &Q,
        option: &RPCOption,
    ) -> Result<Result<T, OpenraftError<E>>, Transport>
    where
        Q: Serialize,
        T: DeserializeOwned,
        E: DeserializeOwned + std::error::Error,
    {
        let client = match &mut self.client {
            Ok(c) => c,
            Err(e) => return Err(Transport::Unreachable(e.clone())),
        };
        let payload =
            codec::encode("raft rpc", rpc).map_err(|e| Transport::Network(e.to_string()))?;
        let mut req = tonic::Request::new(RaftRequest {
            cluster: self.cluster.to_string(),
            payload,
        });
        let ttl = option.hard_ttl();
        req.set_timeout(ttl);
        let fut = async {
            match method {
                Method::AppendEntries => client.append_entries(req).await,
                Method::Vote => client.vote(req).await,
                Method::InstallSnapshot => client.install_snapshot(req).await,
            }
        };
        let reply = match tokio::time::timeout(ttl, fut).await {
            Err(_) => {
                return Err(Transport::Network(format!(
                    "no reply from node {} within {ttl:?}",
                    self.target
                )))
            }
            Ok(Err(status)) => {
                let msg = format!("node {}: {status}", self.target);
                return Err(match status.code() {
                    tonic::Code::Unavailable => Transport::Unreachable(msg),
                    _ => Transport::Network(msg),
                });
            }
            Ok(Ok(reply)) => reply.into_inner(),
        };
        self.contacts.record(self.target);
        let space = reply.disk.map(|d| DiskSpace {
            free_bytes: d.free_bytes,
            min_free_bytes: d.min_free_bytes,
        });
        if let Some(space) = space {
            self.disk.record_peer(self.target, space);
        }
        if reply.refused_disk_full {
            let what = match space {
                Some(s) => format!(
                    "{} free, minimum {}",
                    human_bytes(s.free_bytes),
                    human_bytes(s.min_free_bytes)
                ),
                None => "space unknown".into(),
            };
            return Err(Transport::RefusedDiskFull(format!(
                "node {} refused new entries: disk low ({what})",
                self.target
            )));
        }
        codec::decode("raft reply", &reply.payload).map_err(|e| Transport::Network(e.to_string()))
    }

    fn remote<E: std::error::Error>(&self, e: OpenraftError<E>) -> RpcError<E> {
        RpcError::RemoteError(RemoteError::new(self.target, e))
    }
}

impl RaftNetwork<TypeConfig> for PeerClient {
    /// Entries to a peer below its free-space minimum: the peer stores none of
    /// them but takes the request's heartbeat part (same term and prev_log_id), so
    /// the truthful answer is `PartialSuccess(prev_log_id)`: "the peer matches up
    /// to where these entries start". openraft then sends the same entries again
    /// at once; the pause below (to half the RPC deadline, which is the heartbeat
    /// interval) paces those rounds like heartbeats, so the peer keeps following
    /// and the leader keeps its lease, without error logs or a busy loop. While
    /// the peer's latest report says it is low, the entries are not even sent:
    /// the request goes out as the bare heartbeat. Once a reply reports space
    /// again, the next round carries the entries.
    async fn append_entries(
        &mut self,
        mut rpc: AppendEntriesRequest,
        option: RPCOption,
    ) -> Result<AppendEntriesResponse, RpcError> {
        let started = Instant::now();
        let prev = rpc.prev_log_id;
        let stripped = !rpc.entries.is_empty() && self.disk.peer_is_low(self.target);
        if stripped {
            rpc.entries = Vec::new();
        }
        match self.call(Method::AppendEntries, &rpc, &option).await {
            Ok(Ok(AppendEntriesResponse::Success)) if stripped => {}
            Ok(Ok(r)) => return Ok(r),
            Ok(Err(e)) => return Err(self.remote(e)),
            Err(Transport::RefusedDiskFull(m)) => {
                tracing::debug!(reason = %m, "entries refused; answered as a heartbeat");
            }
            Err(t) => return Err(t.into_rpc()),
        }
        let pace = (option.hard_ttl() / 2).saturating_sub(started.elapsed());
        tokio::time::sleep(pace).await;
        Ok(AppendEntriesResponse::PartialSuccess(prev))
    }

    async fn vote(
        &mut self,
        rpc: VoteRequest,
        option: RPCOption,
    ) -> Result<VoteResponse, RpcError> {
        match self.call(Method::Vote, &rpc, &option).await {
            Ok(Ok(r)) => Ok(r),
            Ok(Err(e)) => Err(self.remote(e)),
            Err(t) => Err(t.into_rpc()),
        }
    }

    async fn install_snapshot(
        &mut self,
        rpc: InstallSnapshotRequest,
        option: RPCOption,
    ) -> Result<InstallSnapshotResponse, RpcError<InstallSnapshotError>> {
        match self.call(Method::InstallSnapshot, &rpc, &option).await {
            Ok(Ok(r)) => Ok(r),
            Ok(Err(e)) => Err(self.remote(e)),
            Err(t) => Err(t.into_rpc()),
        }
    }
}
