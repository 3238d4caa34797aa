//! Domain and Raft errors as gRPC statuses: the one place codes are decided.
//!
//! A domain error keeps its stable reason (`prismnet_state::Reason`), and the reason
//! decides the code, so a client matching on either sees the same contract on every
//! node and every call.

use std::collections::HashMap;

use prismnet_api::errors::{
    no_leader_status, not_leader_status, reasons, status_with_info, status_with_reason,
};
use prismnet_raft::{ClusterError, LowDisk, PeerNode, ReadError, WriteError};
use prismnet_state::{ErrorCode, StateError};
use tonic::{Code, Status};

pub fn state_error(e: StateError) -> Status {
    let code = match e.code() {
        ErrorCode::InvalidArgument => Code::InvalidArgument,
        ErrorCode::NotFound => Code::NotFound,
        ErrorCode::AlreadyExists => Code::AlreadyExists,
        ErrorCode::ResourceExhausted => Code::ResourceExhausted,
        ErrorCode::FailedPrecondition => Code::FailedPrecondition,
        ErrorCode::PermissionDenied => Code::PermissionDenied,
    };
    status_with_reason(code, e.reason.as_str(), e.message)
}

fn redirect(leader_id: Option<u64>, leader: Option<PeerNode>) -> Status {
    match leader_id {
        Some(id) => not_leader_status(Some(id), leader.as_ref().map(|l| l.api_addr.as_str())),
        None => no_leader_status(),
    }
}

pub fn write_error(e: WriteError) -> Status {
    match e {
        WriteError::NotLeader { leader_id, leader } => redirect(leader_id, leader),
        WriteError::NoLeader => no_leader_status(),
        WriteError::DiskFull { ref nodes } => disk_full(nodes, e.to_string()),
        // Not INTERNAL: that is final for clients, and this write may have been
        // committed. UNAVAILABLE makes the client library retry it, with the same
        // request id, at another node, whose answer is the real outcome.
        WriteError::Interrupted(m) => status_with_reason(
            Code::Unavailable,
            reasons::COMMIT_TIMEOUT,
            format!(
                "raft stopped on this node while the write was in flight ({m}); it may have been committed: retry with the same request id"
            ),
        ),
        WriteError::Fatal(m) => internal(format!("raft stopped on this node: {m}")),
    }
}

/// RESOURCE_EXHAUSTED `disk_full`: the message names each low node with its free
/// space and minimum; ErrorInfo metadata carries the same facts as numbers.
fn disk_full(nodes: &[LowDisk], message: String) -> Status {
    let mut info = HashMap::new();
    let ids: Vec<String> = nodes.iter().map(|n| n.node.to_string()).collect();
    info.insert("nodes".to_string(), ids.join(","));
    for n in nodes {
        info.insert(
            format!("node.{}.free_bytes", n.node),
            n.free_bytes.to_string(),
        );
        info.insert(
            format!("node.{}.min_free_bytes", n.node),
            n.min_free_bytes.to_string(),
        );
    }
    status_with_info(
        Code::ResourceExhausted,
        reasons::DISK_FULL,
        message,
        info,
        tonic::metadata::MetadataMap::new(),
    )
}

pub fn read_error(e: ReadError) -> Status {
    match e {
        ReadError::NotLeader { leader_id, leader } => redirect(leader_id, leader),
        ReadError::NoLeader => no_leader_status(),
        ReadError::Fatal(m) => internal(format!("raft stopped on this node: {m}")),
    }
}

pub fn cluster_error(e: ClusterError) -> Status {
    match e {
        ClusterError::NotLeader { leader_id, leader } => redirect(leader_id, leader),
        ClusterError::NoLeader => no_leader_status(),
        ClusterError::Rejected(m) => status_with_reason(
            Code::FailedPrecondition,
            reasons::MEMBERSHIP_CHANGE_REFUSED,
            m,
        ),
        ClusterError::Fatal(m) => internal(format!("raft stopped on this node: {m}")),
    }
}

pub fn internal(message: impl Into<String>) -> Status {
    status_with_reason(Code::Internal, reasons::INTERNAL, message)
}

/// A request field that could not be parsed.
pub fn invalid(reason: &str, field: &str, value: &str, why: impl std::fmt::Display) -> Status {
    status_with_reason(
        Code::InvalidArgument,
        reason,
        format!("{field} '{value}': {why}"),
    )
}

pub fn admin_only(what: &str) -> Status {
    status_with_reason(
        Code::PermissionDenied,
        reasons::PERMISSION_DENIED,
        format!("{what} requires an admin token"),
    )
}

/// tonic refuses a request over `max_decoding_message_size` itself, before any handler
/// runs, with OUT_OF_RANGE and no reason; the contract says RESOURCE_EXHAUSTED
/// `request_too_large`. This rewrites that one answer (recognized by the status tonic
/// leaves in the response's extensions; no service of ours answers OUT_OF_RANGE) and
/// passes every other response through untouched.
pub fn request_too_large(
    response: tonic::codegen::http::Response<tonic::body::Body>,
) -> tonic::codegen::http::Response<tonic::body::Body> {
    let oversized = response.extensions().get::<Status>().is_some_and(|s| {
        s.code() == Code::OutOfRange && s.message().contains("message length too large")
    });
    if !oversized {
        return response;
    }
    status_with_reason(
        Code::ResourceExhausted,
        reasons::REQUEST_TOO_LARGE,
        format!(
            "the request exceeds the {} bytes the API accepts",
            crate::daemon::REQUEST_BYTES_MAX
        ),
    )
    .into_http()
}

/// Stamps every answer with the node's applied index (`x-prismnet-revision`), read
/// after the handler ran: clients send it back as the revision they saw before a
/// new write (see `prismnet_state::request_log`).
pub fn with_revision(
    mut response: tonic::codegen::http::Response<tonic::body::Body>,
    applied_index: u64,
) -> tonic::codegen::http::Response<tonic::body::Body> {
    response.headers_mut().insert(
        prismnet_api::metadata::REVISION_HEADER,
        tonic::codegen::http::HeaderValue::from(applied_index),
    );
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn disk_full_is_resource_exhausted_with_the_nodes() {
        let s = write_error(WriteError::DiskFull {
            nodes: vec![
                LowDisk {
                    node: 2,
                    free_bytes: 1 << 20,
                    min_free_bytes: 16 << 20,
                },
                LowDisk {
                    node: 3,
                    free_bytes: 0,
                    min_free_bytes: 16 << 20,
                },
            ],
        });
        assert_eq!(s.code(), Code::ResourceExhausted);
        assert_eq!(
            prismnet_api::errors::reason_of(&s).as_deref(),
            Some(reasons::DISK_FULL)
        );
        assert!(
            s.message()
                .contains("node 2 has 1.0 MiB free, minimum 16.0 MiB; node 3 has 0 B free"),
            "{}",
            s.message()
        );
        let info = prismnet_api::errors::info_of(&s);
        assert_eq!(info["nodes"], "2,3");
        assert_eq!(info["node.2.free_bytes"], (1u64 << 20).to_string());
        assert_eq!(info["node.3.min_free_bytes"], (16u64 << 20).to_string());
    }

    /// The API crate cannot depend on the domain crate, so it lists the domain
    /// reasons itself; this keeps the two lists and their codes identical.
    #[test]
    fn api_reason_table_matches_the_state_machine() {
        let api: Vec<(&str, Code)> = reasons::DOMAIN.to_vec();
        let domain: Vec<(&str, Code)> = prismnet_state::Reason::ALL
            .iter()
            .map(|r| (r.as_str(), state_error(StateError::new(*r, "")).code()))
            .collect();
        assert_eq!(api, domain);
        let s = state_error(StateError::new(prismnet_state::Reason::CidrOverlap, "x"));
        assert_eq!(s.code(), Code::InvalidArgument);
        assert_eq!(
            prismnet_api::errors::reason_of(&s).as_deref(),
            Some("cidr_overlap")
        );
    }
}
