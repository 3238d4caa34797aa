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
//! | INVALID_ARGUMENT | `invalid_argument`, `invalid_name`, `invalid_scope`, `invalid_request_id`, `invalid_cidr`, `cidr_overlap`, `cidr_outside_vpc`, `invalid_gateway`, `invalid_pool`, `invalid_reserved_range`, `ip_outside_subnet`, `ip_reserved`, `ip_family_mismatch`, `invalid_mac`, `invalid_route`, `invalid_rule`, `invalid_settings`, `limit_exceeded`, `invalid_ip`, `invalid_id`, `invalid_port_range`, `invalid_protocol`, `invalid_page_token` |
//! | NOT_FOUND | `not_found` |
//! | ALREADY_EXISTS | `ip_in_use`, `mac_in_use`, `name_in_use`, `rule_exists` |
//! | RESOURCE_EXHAUSTED | `subnet_full`, `external_network_full`, `mac_space_exhausted`, `quota_exceeded`, `request_too_large`, `disk_full` (not retried: nothing was proposed; retry once an operator freed space) |
//! | FAILED_PRECONDITION | `subnet_has_ports`, `vpc_has_subnets`, `security_group_in_use`, `external_network_in_use`, `port_security_conflict`, `no_external_gateway`, `gateway_in_use`, `request_id_conflict`, `settings_locked` |
//! | PERMISSION_DENIED | `scope_mismatch`, `admin_only`, `permission_denied` |
//! | UNAVAILABLE | `not_leader`, `no_leader`, `commit_timeout` (retryable with the same request id) |
//! | UNAUTHENTICATED | `unauthenticated` |
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
    /// RESOURCE_EXHAUSTED: the leader's data disk, or those of too many voters to
    /// commit, are below their free-space minimum (`--min-free-mb`). Nothing was
    /// proposed: a definite failure, not retried by the client library. The message
    /// names the nodes with their free space and minimum; ErrorInfo metadata has
    /// `nodes` (comma-separated ids) and, per node, `node.<id>.free_bytes` and
    /// `node.<id>.min_free_bytes`.
    pub const DISK_FULL: &str = "disk_full";
    /// DEADLINE_EXCEEDED: the call's deadline passed (server or client side).
    pub const DEADLINE_EXCEEDED: &str = "deadline_exceeded";
    pub const INTERNAL: &str = "internal";
    /// UNAVAILABLE: the write is not known to be committed: not within the
    /// server's commit timeout (no quorum?), or the node's Raft stopped while the
    /// write was in flight. It may still commit, so retry with the same request_id.
    pub const COMMIT_TIMEOUT: &str = "commit_timeout";
    /// FAILED_PRECONDITION: the call needs the OVN driver, which this cluster runs without.
    pub const OVN_DRIVER_OFF: &str = "ovn_driver_off";
    /// NOT_FOUND: a retried write whose first attempt DID apply, and whose resource
    /// was deleted since (ErrorInfo `kind` and `id` name it). Definite: the write
    /// happened once; nothing is applied now.
    pub const APPLIED_THEN_DELETED: &str = "applied_then_deleted";
    /// FAILED_PRECONDITION: NB's fence names an owner this leader may not replace
    /// (`prismctl ovn takeover --force` replaces it).
    pub const OVN_FENCED_OUT: &str = "ovn_fenced_out";
    /// FAILED_PRECONDITION: Raft refused the membership change (e.g. one in progress).
    pub const MEMBERSHIP_CHANGE_REFUSED: &str = "membership_change_refused";
    /// INVALID_ARGUMENT: catch-all for malformed requests without a sharper reason.
    pub const INVALID_ARGUMENT: &str = "invalid_argument";
    /// INVALID_ARGUMENT: client-side only, the `ClientConfig` is unusable.
    pub const INVALID_CONFIG: &str = "invalid_config";
    pub const INVALID_PAGE_TOKEN: &str = "invalid_page_token";
    /// FAILED_PRECONDITION: the request_id was used before for a different request.
    pub const REQUEST_ID_CONFLICT: &str = "request_id_conflict";
    /// FAILED_PRECONDITION: the request_id is no longer remembered and the request's
    /// first attempt is older than what the cluster remembers (its
    /// `x-prismnet-seen-revision` is below the forgotten horizon), so the cluster
    /// cannot tell whether it applied. Nothing changed now; look the resource up (by
    /// name or device id). The client library reports it as outcome unknown, except
    /// for a call whose only attempt was this one: that one it sends again with a
    /// current revision.
    pub const REQUEST_EXPIRED: &str = "request_expired";

    // Domain reasons: the state machine's `prismnet_state::Reason`, mapped by the node
    // with the code each decides (node/tests check this list against it).
    pub const INVALID_NAME: &str = "invalid_name";
    pub const INVALID_SCOPE: &str = "invalid_scope";
    pub const INVALID_REQUEST_ID: &str = "invalid_request_id";
    pub const INVALID_CIDR: &str = "invalid_cidr";
    pub const CIDR_OVERLAP: &str = "cidr_overlap";
    pub const CIDR_OUTSIDE_VPC: &str = "cidr_outside_vpc";
    pub const INVALID_GATEWAY: &str = "invalid_gateway";
    pub const INVALID_POOL: &str = "invalid_pool";
    pub const INVALID_RESERVED_RANGE: &str = "invalid_reserved_range";
    pub const IP_OUTSIDE_SUBNET: &str = "ip_outside_subnet";
    pub const IP_RESERVED: &str = "ip_reserved";
    pub const IP_FAMILY_MISMATCH: &str = "ip_family_mismatch";
    pub const INVALID_MAC: &str = "invalid_mac";
    pub const INVALID_ROUTE: &str = "invalid_route";
    pub const INVALID_RULE: &str = "invalid_rule";
    pub const INVALID_SETTINGS: &str = "invalid_settings";
    pub const LIMIT_EXCEEDED: &str = "limit_exceeded";
    pub const NOT_FOUND: &str = "not_found";
    pub const IP_IN_USE: &str = "ip_in_use";
    pub const MAC_IN_USE: &str = "mac_in_use";
    pub const NAME_IN_USE: &str = "name_in_use";
    pub const RULE_EXISTS: &str = "rule_exists";
    pub const SUBNET_FULL: &str = "subnet_full";
    pub const EXTERNAL_NETWORK_FULL: &str = "external_network_full";
    pub const MAC_SPACE_EXHAUSTED: &str = "mac_space_exhausted";
    pub const QUOTA_EXCEEDED: &str = "quota_exceeded";
    pub const SUBNET_HAS_PORTS: &str = "subnet_has_ports";
    pub const VPC_HAS_SUBNETS: &str = "vpc_has_subnets";
    pub const SECURITY_GROUP_IN_USE: &str = "security_group_in_use";
    pub const EXTERNAL_NETWORK_IN_USE: &str = "external_network_in_use";
    pub const PORT_SECURITY_CONFLICT: &str = "port_security_conflict";
    pub const NO_EXTERNAL_GATEWAY: &str = "no_external_gateway";
    pub const GATEWAY_IN_USE: &str = "gateway_in_use";
    pub const SETTINGS_LOCKED: &str = "settings_locked";
    pub const SCOPE_MISMATCH: &str = "scope_mismatch";
    pub const ADMIN_ONLY: &str = "admin_only";

    /// Every domain reason with its code, for clients and for the node's check.
    pub const DOMAIN: &[(&str, tonic::Code)] = &[
        (INVALID_ARGUMENT, tonic::Code::InvalidArgument),
        (INVALID_NAME, tonic::Code::InvalidArgument),
        (INVALID_SCOPE, tonic::Code::InvalidArgument),
        (INVALID_REQUEST_ID, tonic::Code::InvalidArgument),
        (INVALID_CIDR, tonic::Code::InvalidArgument),
        (CIDR_OVERLAP, tonic::Code::InvalidArgument),
        (CIDR_OUTSIDE_VPC, tonic::Code::InvalidArgument),
        (INVALID_GATEWAY, tonic::Code::InvalidArgument),
        (INVALID_POOL, tonic::Code::InvalidArgument),
        (INVALID_RESERVED_RANGE, tonic::Code::InvalidArgument),
        (IP_OUTSIDE_SUBNET, tonic::Code::InvalidArgument),
        (IP_RESERVED, tonic::Code::InvalidArgument),
        (IP_FAMILY_MISMATCH, tonic::Code::InvalidArgument),
        (INVALID_MAC, tonic::Code::InvalidArgument),
        (INVALID_ROUTE, tonic::Code::InvalidArgument),
        (INVALID_RULE, tonic::Code::InvalidArgument),
        (INVALID_SETTINGS, tonic::Code::InvalidArgument),
        (LIMIT_EXCEEDED, tonic::Code::InvalidArgument),
        (NOT_FOUND, tonic::Code::NotFound),
        (IP_IN_USE, tonic::Code::AlreadyExists),
        (MAC_IN_USE, tonic::Code::AlreadyExists),
        (NAME_IN_USE, tonic::Code::AlreadyExists),
        (RULE_EXISTS, tonic::Code::AlreadyExists),
        (SUBNET_FULL, tonic::Code::ResourceExhausted),
        (EXTERNAL_NETWORK_FULL, tonic::Code::ResourceExhausted),
        (MAC_SPACE_EXHAUSTED, tonic::Code::ResourceExhausted),
        (QUOTA_EXCEEDED, tonic::Code::ResourceExhausted),
        (SUBNET_HAS_PORTS, tonic::Code::FailedPrecondition),
        (VPC_HAS_SUBNETS, tonic::Code::FailedPrecondition),
        (SECURITY_GROUP_IN_USE, tonic::Code::FailedPrecondition),
        (EXTERNAL_NETWORK_IN_USE, tonic::Code::FailedPrecondition),
        (PORT_SECURITY_CONFLICT, tonic::Code::FailedPrecondition),
        (NO_EXTERNAL_GATEWAY, tonic::Code::FailedPrecondition),
        (GATEWAY_IN_USE, tonic::Code::FailedPrecondition),
        (REQUEST_ID_CONFLICT, tonic::Code::FailedPrecondition),
        (REQUEST_EXPIRED, tonic::Code::FailedPrecondition),
        (SETTINGS_LOCKED, tonic::Code::FailedPrecondition),
        (SCOPE_MISMATCH, tonic::Code::PermissionDenied),
        (ADMIN_ONLY, tonic::Code::PermissionDenied),
    ];

    // Parse errors the node's API layer reports before anything reaches the state machine.
    pub const INVALID_IP: &str = "invalid_ip";
    pub const INVALID_ID: &str = "invalid_id";
    pub const INVALID_PORT_RANGE: &str = "invalid_port_range";
    pub const INVALID_PROTOCOL: &str = "invalid_protocol";
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
