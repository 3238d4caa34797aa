//! The peer transport: a tonic service carrying openraft's RPCs as opaque postcard
//! payloads (`proto/prismnet/raft/v1/raft.proto`), its server ([`server`]) and the
//! `RaftNetworkFactory` client side ([`client`]).

pub mod client;
pub mod server;

use std::collections::BTreeMap;
use std::sync::Mutex;
use std::time::Duration;

// tokio's clock: the real one in production, the simulated one in `sim/`.
use tokio::time::Instant;

use crate::types::NodeId;

/// When this node last heard from each peer over the peer service: a reply to
/// one of its RPCs (a leader sends every member a heartbeat at least every
/// heartbeat interval) or an AppendEntries from the leader (on a follower).
/// For status reports only; nothing decides on it. Bounded by the membership.
#[derive(Debug, Default)]
pub struct PeerContacts(Mutex<BTreeMap<NodeId, Instant>>);

impl PeerContacts {
    pub fn record(&self, peer: NodeId) {
        let mut m = self.0.lock().unwrap_or_else(|p| p.into_inner());
        m.insert(peer, Instant::now());
    }

    /// Time since the last contact with each peer heard from.
    pub fn ages(&self) -> BTreeMap<NodeId, Duration> {
        let m = self.0.lock().unwrap_or_else(|p| p.into_inner());
        m.iter().map(|(id, at)| (*id, at.elapsed())).collect()
    }
}

/// Generated code of `prismnet.raft.v1`.
pub mod proto {
    #![allow(clippy::all, missing_docs)]
    tonic::include_proto!("prismnet.raft.v1");
}

/// Largest gRPC message either side accepts: an AppendEntries batch of up to
/// `max_payload_entries` entries, or one snapshot chunk. Bounded so that a damaged
/// length prefix cannot make a node allocate without limit.
pub const MESSAGE_BYTES_MAX: usize = 64 << 20;

/// Default size of one snapshot chunk on the wire (`RaftConfig::snapshot_chunk_bytes`).
pub const SNAPSHOT_CHUNK_BYTES: u64 = 1 << 20;

const _: () = assert!(SNAPSHOT_CHUNK_BYTES as usize * 2 <= MESSAGE_BYTES_MAX);
