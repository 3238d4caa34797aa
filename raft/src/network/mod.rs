//! The peer transport: a tonic service carrying openraft's RPCs as opaque postcard
//! payloads (`proto/prismnet/raft/v1/raft.proto`), its server ([`server`]) and the
//! `RaftNetworkFactory` client side ([`client`]).

pub mod client;
pub mod server;

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
