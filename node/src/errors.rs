//! Domain and Raft errors as gRPC statuses: the one place codes are decided.
//!
//! A domain error keeps its stable reason (`prismnet_state::Reason`), and the reason
//! decides the code, so a client matching on either sees the same contract on every
//! node and every call.

use prismnet_api::errors::{no_leader_status, not_leader_status, reasons, status_with_reason};
use prismnet_raft::{ClusterError, PeerNode, ReadError, WriteError};
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
        WriteError::Fatal(m) => internal(format!("raft stopped on this node: {m}")),
    }
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

#[cfg(test)]
mod tests {
    use super::*;

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
