//! openraft's generic types, bound once for PrismNET. Nothing else in the crate spells
//! `<TypeConfig>` or `<u64, PeerNode>`: it uses the aliases below.

use std::fmt;
use std::io::Cursor;

use prismnet_state::{Applied, Proposal, StateError};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

openraft::declare_raft_types!(
    /// PrismNET's Raft: log entries carry a [`LogPayload`], applying one yields an
    /// [`ApplyResponse`]; snapshots travel as bytes of `State::write_snapshot`.
    pub TypeConfig:
        D = LogPayload,
        R = ApplyResponse,
        NodeId = NodeId,
        Node = PeerNode,
        Entry = openraft::Entry<TypeConfig>,
        SnapshotData = Cursor<Vec<u8>>,
        AsyncRuntime = openraft::TokioRuntime,
);

pub type NodeId = u64;
pub type LogId = openraft::LogId<NodeId>;
pub type Vote = openraft::Vote<NodeId>;
pub type Entry = openraft::Entry<TypeConfig>;
pub type EntryPayload = openraft::EntryPayload<TypeConfig>;
pub type Membership = openraft::Membership<NodeId, PeerNode>;
pub type StoredMembership = openraft::StoredMembership<NodeId, PeerNode>;
pub type SnapshotMeta = openraft::SnapshotMeta<NodeId, PeerNode>;
pub type Snapshot = openraft::Snapshot<TypeConfig>;
pub type LogState = openraft::storage::LogState<TypeConfig>;
pub type StorageError = openraft::StorageError<NodeId>;
pub type StorageIOError = openraft::StorageIOError<NodeId>;
pub type Raft = openraft::Raft<TypeConfig>;
pub type RaftMetrics = openraft::RaftMetrics<NodeId, PeerNode>;
pub type ServerState = openraft::ServerState;

pub type AppendEntriesRequest = openraft::raft::AppendEntriesRequest<TypeConfig>;
pub type AppendEntriesResponse = openraft::raft::AppendEntriesResponse<NodeId>;
pub type VoteRequest = openraft::raft::VoteRequest<NodeId>;
pub type VoteResponse = openraft::raft::VoteResponse<NodeId>;
pub type InstallSnapshotRequest = openraft::raft::InstallSnapshotRequest<TypeConfig>;
pub type InstallSnapshotResponse = openraft::raft::InstallSnapshotResponse<NodeId>;

/// openraft's error of a Raft API call, with the API-specific part `E`.
pub type OpenraftError<E = openraft::error::Infallible> = openraft::error::RaftError<NodeId, E>;
pub type InstallSnapshotError = openraft::error::InstallSnapshotError;
pub type RpcError<E = openraft::error::Infallible> =
    openraft::error::RPCError<NodeId, PeerNode, OpenraftError<E>>;
pub type ClientWriteError = openraft::error::ClientWriteError<NodeId, PeerNode>;
pub type CheckIsLeaderError = openraft::error::CheckIsLeaderError<NodeId, PeerNode>;
pub type ForwardToLeader = openraft::error::ForwardToLeader<NodeId, PeerNode>;

/// A cluster member as the membership config records it: where peers reach its
/// Raft service, and where clients reach its public API (for leader redirects).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PeerNode {
    pub raft_addr: String,
    pub api_addr: String,
}

impl fmt::Display for PeerNode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "raft={} api={}", self.raft_addr, self.api_addr)
    }
}

/// The application payload of a log entry: a [`Proposal`] in its versioned envelope.
///
/// Serialized as the bytes of [`Proposal::encode`] (postcard inside
/// `prismnet_state::Envelope`), so the log on disk and on the wire keeps the state
/// machine's own versioning: a future build decodes today's entries through the
/// envelope, whatever the serde format around it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LogPayload(pub Proposal);

impl fmt::Display for LogPayload {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "request {}", self.0.request.request_id)
    }
}

impl Serialize for LogPayload {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_bytes(&self.0.encode())
    }
}

impl<'de> Deserialize<'de> for LogPayload {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<LogPayload, D::Error> {
        struct Bytes;
        impl<'de> serde::de::Visitor<'de> for Bytes {
            type Value = LogPayload;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("an encoded PrismNET proposal")
            }
            fn visit_bytes<E: serde::de::Error>(self, v: &[u8]) -> Result<LogPayload, E> {
                Proposal::decode(v).map(LogPayload).map_err(E::custom)
            }
            fn visit_byte_buf<E: serde::de::Error>(self, v: Vec<u8>) -> Result<LogPayload, E> {
                self.visit_bytes(&v)
            }
            // Self-describing formats (JSON) write bytes as a sequence of numbers.
            fn visit_seq<A: serde::de::SeqAccess<'de>>(
                self,
                mut seq: A,
            ) -> Result<LogPayload, A::Error> {
                let mut v = Vec::with_capacity(seq.size_hint().unwrap_or(0).min(1 << 16));
                while let Some(b) = seq.next_element::<u8>()? {
                    v.push(b);
                }
                self.visit_bytes(&v)
            }
        }
        d.deserialize_bytes(Bytes)
    }
}

/// What applying one log entry returned.
#[allow(
    clippy::large_enum_variant,
    reason = "moved once per write, from apply to the waiting caller; boxing would add an allocation to every write"
)]
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum ApplyResponse {
    /// A blank or membership entry: Raft's own, nothing for a client.
    Internal,
    /// A client command. A rejected command (`Err`) is still a committed, applied
    /// entry: the rejection is its deterministic outcome on every replica.
    Command(Result<Applied, StateError>),
}
