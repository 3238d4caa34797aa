//! The error contract shared by the server (`prismnet-node`) and the client library.
//!
//! Every error PrismNET answers is a gRPC status with a stable code and a
//! `google.rpc.ErrorInfo` detail whose `domain` is [`ERROR_DOMAIN`] and whose `reason`
//! is one of the lower_snake_case strings in [`reasons`]. Callers match on the reason,
//! never on the message text (which is for humans and may change). ErrorInfo's
//! metadata may carry facts about the error (e.g. `cidr` for `cidr_overlap`).
//!
//! | code | reasons |
//! |---|---|
//! | INVALID_ARGUMENT | `invalid_argument`, `invalid_cidr`, `invalid_ip`, `invalid_mac`, `invalid_name`, `invalid_id`, `invalid_page_token`, `ip_outside_subnet`, `ip_version_mismatch`, `invalid_port_range`, `invalid_protocol`, `invalid_route`, `invalid_mtu` |
//! | NOT_FOUND | `not_found` |
//! | ALREADY_EXISTS | `name_in_use`, `request_id_conflict` |
//! | FAILED_PRECONDITION | `cidr_overlap`, `ip_in_use`, `mac_in_use`, `subnet_has_ports`, `vpc_has_subnets`, `security_group_in_use`, `external_network_in_use`, `port_bound`, `gateway_not_set` |
//! | RESOURCE_EXHAUSTED | `subnet_full`, `quota_exceeded`, `request_too_large` |
//! | UNAVAILABLE | `not_leader`, `no_leader` (retryable) |
//! | UNAUTHENTICATED | `unauthenticated` |
//! | PERMISSION_DENIED | `permission_denied` |
//! | DEADLINE_EXCEEDED | `deadline_exceeded` |
//! | INTERNAL | `internal` |

use std::collections::HashMap;

use tonic::metadata::{MetadataMap, MetadataValue};
use tonic::{Code, Status};
use tonic_types::{ErrorDetails, StatusExt};

use crate::metadata::{LEADER_ADDR_HEADER, LEADER_ID_HEADER};

/// `google.rpc.ErrorInfo.domain` of every PrismNET error.
pub const ERROR_DOMAIN: &str = "prismnet.io";

/// Stable `ErrorInfo.reason` strings. Renaming one is a breaking API change.
pub mod reasons {
    // Emitted by the API layer itself (node's gRPC front, client library).
    /// UNAVAILABLE: this node is a follower; see the leader metadata headers.
    pub const NOT_LEADER: &str = "not_leader";
    /// UNAVAILABLE: an election is under way or this node knows no leader.
    pub const NO_LEADER: &str = "no_leader";
    pub const UNAUTHENTICATED: &str = "unauthenticated";
    pub const PERMISSION_DENIED: &str = "permission_denied";
    /// RESOURCE_EXHAUSTED: the request exceeds the size the server accepts.
    pub const REQUEST_TOO_LARGE: &str = "request_too_large";
    /// DEADLINE_EXCEEDED: the call's deadline passed (server or client side).
    pub const DEADLINE_EXCEEDED: &str = "deadline_exceeded";
    pub const INTERNAL: &str = "internal";
    /// INVALID_ARGUMENT: catch-all for malformed requests without a sharper reason.
    pub const INVALID_ARGUMENT: &str = "invalid_argument";
    /// INVALID_ARGUMENT: client-side only, the `ClientConfig` is unusable.
    pub const INVALID_CONFIG: &str = "invalid_config";
    pub const INVALID_PAGE_TOKEN: &str = "invalid_page_token";
    /// ALREADY_EXISTS: the request_id was used before for a different request.
    pub const REQUEST_ID_CONFLICT: &str = "request_id_conflict";

    // Domain reasons (mapped by the node from the state machine's errors).
    pub const INVALID_CIDR: &str = "invalid_cidr";
    pub const INVALID_IP: &str = "invalid_ip";
    pub const INVALID_MAC: &str = "invalid_mac";
    pub const INVALID_NAME: &str = "invalid_name";
    pub const INVALID_ID: &str = "invalid_id";
    pub const IP_OUTSIDE_SUBNET: &str = "ip_outside_subnet";
    pub const IP_VERSION_MISMATCH: &str = "ip_version_mismatch";
    pub const INVALID_PORT_RANGE: &str = "invalid_port_range";
    pub const INVALID_PROTOCOL: &str = "invalid_protocol";
    pub const INVALID_ROUTE: &str = "invalid_route";
    pub const INVALID_MTU: &str = "invalid_mtu";
    pub const NOT_FOUND: &str = "not_found";
    pub const NAME_IN_USE: &str = "name_in_use";
    pub const CIDR_OVERLAP: &str = "cidr_overlap";
    pub const IP_IN_USE: &str = "ip_in_use";
    pub const MAC_IN_USE: &str = "mac_in_use";
    pub const SUBNET_FULL: &str = "subnet_full";
    pub const QUOTA_EXCEEDED: &str = "quota_exceeded";
    pub const SUBNET_HAS_PORTS: &str = "subnet_has_ports";
    pub const VPC_HAS_SUBNETS: &str = "vpc_has_subnets";
    pub const SECURITY_GROUP_IN_USE: &str = "security_group_in_use";
    pub const EXTERNAL_NETWORK_IN_USE: &str = "external_network_in_use";
    pub const PORT_BOUND: &str = "port_bound";
    pub const GATEWAY_NOT_SET: &str = "gateway_not_set";
}

/// A status carrying an ErrorInfo detail with `reason` in [`ERROR_DOMAIN`].
pub fn status_with_reason(code: Code, reason: &str, message: impl Into<String>) -> Status {
    status_with_info(code, reason, message, HashMap::new(), MetadataMap::new())
}

/// Like [`status_with_reason`], with ErrorInfo metadata (facts about the error) and
/// response metadata (headers, e.g. the leader redirect).
pub fn status_with_info(
    code: Code,
    reason: &str,
    message: impl Into<String>,
    info: HashMap<String, String>,
    headers: MetadataMap,
) -> Status {
    let details = ErrorDetails::with_error_info(reason, ERROR_DOMAIN, info);
    Status::with_error_details_and_metadata(code, message, details, headers)
}

/// The ErrorInfo reason of a status, if it carries one (any domain: a status made by
/// tonic itself carries none).
pub fn reason_of(status: &Status) -> Option<String> {
    status.get_details_error_info().map(|info| info.reason)
}

/// The ErrorInfo metadata of a status (empty if none).
pub fn info_of(status: &Status) -> HashMap<String, String> {
    status
        .get_details_error_info()
        .map(|info| info.metadata)
        .unwrap_or_default()
}

/// What a follower answers to a call that must reach the leader. `leader_addr` is the
/// host:port of the leader's API; both are omitted when unknown.
pub fn not_leader_status(leader_id: Option<u64>, leader_addr: Option<&str>) -> Status {
    let mut headers = MetadataMap::new();
    if let Some(id) = leader_id {
        headers.insert(LEADER_ID_HEADER, MetadataValue::from(id));
    }
    // An address that is not a valid header value is left out rather than failing:
    // the client then falls back to trying the other endpoints.
    if let Some(value) = leader_addr.and_then(|a| MetadataValue::try_from(a).ok()) {
        headers.insert(LEADER_ADDR_HEADER, value);
    }
    let message = match leader_addr {
        Some(addr) => format!("not the leader; leader is at {addr}"),
        None => "not the leader".to_string(),
    };
    status_with_info(
        Code::Unavailable,
        reasons::NOT_LEADER,
        message,
        HashMap::new(),
        headers,
    )
}

/// What a node answers while it knows no leader (election under way).
pub fn no_leader_status() -> Status {
    status_with_reason(
        Code::Unavailable,
        reasons::NO_LEADER,
        "no leader elected; retry",
    )
}

/// The redirect target carried by a `not_leader` status: (leader id, leader address).
pub fn leader_hint(status: &Status) -> (Option<u64>, Option<String>) {
    let md = status.metadata();
    let id = md
        .get(LEADER_ID_HEADER)
        .and_then(|v| v.to_str().ok())
        .and_then(|s| s.trim().parse().ok());
    let addr = md
        .get(LEADER_ADDR_HEADER)
        .and_then(|v| v.to_str().ok())
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty());
    (id, addr)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reason_round_trips() {
        let s = status_with_reason(Code::FailedPrecondition, reasons::CIDR_OVERLAP, "overlap");
        assert_eq!(s.code(), Code::FailedPrecondition);
        assert_eq!(s.message(), "overlap");
        assert_eq!(reason_of(&s).as_deref(), Some("cidr_overlap"));
        assert_eq!(reason_of(&Status::internal("x")), None);
    }

    #[test]
    fn info_metadata_round_trips() {
        let mut info = HashMap::new();
        info.insert("cidr".to_string(), "10.0.0.0/24".to_string());
        let s = status_with_info(
            Code::FailedPrecondition,
            reasons::CIDR_OVERLAP,
            "overlap",
            info,
            MetadataMap::new(),
        );
        assert_eq!(
            info_of(&s).get("cidr").map(String::as_str),
            Some("10.0.0.0/24")
        );
    }

    #[test]
    fn not_leader_carries_hint() {
        let s = not_leader_status(Some(3), Some("10.1.0.3:7000"));
        assert_eq!(s.code(), Code::Unavailable);
        assert_eq!(reason_of(&s).as_deref(), Some(reasons::NOT_LEADER));
        assert_eq!(leader_hint(&s), (Some(3), Some("10.1.0.3:7000".into())));
        let s = not_leader_status(None, None);
        assert_eq!(leader_hint(&s), (None, None));
    }
}
