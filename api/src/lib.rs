//! PrismNET's public gRPC API: the `prismnet.v1` protobuf types and tonic
//! client/server code ([`v1`]), the error contract ([`errors`]), metadata names
//! ([`metadata`]), per-RPC routing ([`methods`]) and a client library ([`client`])
//! that finds the Raft leader, follows redirects and retries safely.
//!
//! This crate is linked by PlasmaVMC, so it stays light: no RocksDB, no openraft, no
//! domain crate.

pub mod client;
pub mod errors;
pub mod metadata;
pub mod methods;

/// Generated `prismnet.v1` messages, clients (`*_client`) and servers (`*_server`).
pub mod v1 {
    #![allow(clippy::all, missing_docs)]
    tonic::include_proto!("prismnet.v1");
}

/// Encoded `FileDescriptorSet` of `prismnet.v1`, for the node's gRPC reflection
/// service (`tonic_reflection::server::Builder::register_encoded_file_descriptor_set`).
pub const FILE_DESCRIPTOR_SET: &[u8] =
    tonic::include_file_descriptor_set!("prismnet_v1_descriptor");

pub use client::{ClientConfig, ClientError, Dial, Io, PrismClient, RequestIds};
pub use methods::CallKind;
