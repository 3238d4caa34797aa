//! The one error type of the state machine.
//!
//! A command either applies completely or is rejected with a `StateError` and changes
//! nothing. Every error carries a stable, machine-readable reason (lower_snake_case);
//! the reason alone decides the error code, so the API maps codes in one place.
//!
//! ```text
//! StateError { reason, message }
//!   reason -> ErrorCode: InvalidArgument | NotFound | AlreadyExists
//!                        | ResourceExhausted | FailedPrecondition | PermissionDenied
//! ```

use serde::{Deserialize, Serialize};

/// Coarse error class; maps one-to-one onto a gRPC status code.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum ErrorCode {
    InvalidArgument,
    NotFound,
    AlreadyExists,
    ResourceExhausted,
    FailedPrecondition,
    PermissionDenied,
}

macro_rules! reasons {
    ($($variant:ident => $text:literal, $code:ident;)*) => {
        /// Stable reason codes. Never rename one: clients match on the text.
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
        pub enum Reason { $($variant),* }

        impl Reason {
            pub const ALL: &'static [Reason] = &[$(Reason::$variant),*];

            pub fn as_str(self) -> &'static str {
                match self { $(Reason::$variant => $text),* }
            }

            pub fn code(self) -> ErrorCode {
                match self { $(Reason::$variant => ErrorCode::$code),* }
            }
        }
    };
}

reasons! {
    InvalidArgument => "invalid_argument", InvalidArgument;
    InvalidName => "invalid_name", InvalidArgument;
    InvalidScope => "invalid_scope", InvalidArgument;
    InvalidRequestId => "invalid_request_id", InvalidArgument;
    InvalidCidr => "invalid_cidr", InvalidArgument;
    CidrOverlap => "cidr_overlap", InvalidArgument;
    CidrOutsideVpc => "cidr_outside_vpc", InvalidArgument;
    InvalidGateway => "invalid_gateway", InvalidArgument;
    InvalidPool => "invalid_pool", InvalidArgument;
    InvalidReservedRange => "invalid_reserved_range", InvalidArgument;
    IpOutsideSubnet => "ip_outside_subnet", InvalidArgument;
    IpReserved => "ip_reserved", InvalidArgument;
    IpFamilyMismatch => "ip_family_mismatch", InvalidArgument;
    InvalidMac => "invalid_mac", InvalidArgument;
    InvalidRoute => "invalid_route", InvalidArgument;
    InvalidRule => "invalid_rule", InvalidArgument;
    InvalidSettings => "invalid_settings", InvalidArgument;
    LimitExceeded => "limit_exceeded", InvalidArgument;
    NotFound => "not_found", NotFound;
    IpInUse => "ip_in_use", AlreadyExists;
    MacInUse => "mac_in_use", AlreadyExists;
    NameInUse => "name_in_use", AlreadyExists;
    RuleExists => "rule_exists", AlreadyExists;
    SubnetFull => "subnet_full", ResourceExhausted;
    ExternalNetworkFull => "external_network_full", ResourceExhausted;
    MacSpaceExhausted => "mac_space_exhausted", ResourceExhausted;
    QuotaExceeded => "quota_exceeded", ResourceExhausted;
    SubnetHasPorts => "subnet_has_ports", FailedPrecondition;
    VpcHasSubnets => "vpc_has_subnets", FailedPrecondition;
    SecurityGroupInUse => "security_group_in_use", FailedPrecondition;
    ExternalNetworkInUse => "external_network_in_use", FailedPrecondition;
    PortSecurityConflict => "port_security_conflict", FailedPrecondition;
    NoExternalGateway => "no_external_gateway", FailedPrecondition;
    GatewayInUse => "gateway_in_use", FailedPrecondition;
    RequestIdConflict => "request_id_conflict", FailedPrecondition;
    RequestExpired => "request_expired", FailedPrecondition;
    SettingsLocked => "settings_locked", FailedPrecondition;
    ScopeMismatch => "scope_mismatch", PermissionDenied;
    AdminOnly => "admin_only", PermissionDenied;
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
#[error("{}: {message}", reason.as_str())]
pub struct StateError {
    pub reason: Reason,
    pub message: String,
}

impl StateError {
    pub fn new(reason: Reason, message: impl Into<String>) -> StateError {
        StateError {
            reason,
            message: message.into(),
        }
    }

    pub fn code(&self) -> ErrorCode {
        self.reason.code()
    }

    /// Unknown ids and ids of other tenants look the same: a tenant cannot learn that
    /// another tenant's resource exists.
    pub fn not_found(kind: &str, id: impl std::fmt::Display) -> StateError {
        StateError::new(Reason::NotFound, format!("{kind} {id} not found"))
    }

    pub fn limit(what: &str, max: usize) -> StateError {
        StateError::new(Reason::LimitExceeded, format!("at most {max} {what}"))
    }
}

pub type Result<T, E = StateError> = std::result::Result<T, E>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reasons_are_unique_lower_snake_case() {
        let mut seen = std::collections::BTreeSet::new();
        for r in Reason::ALL {
            let s = r.as_str();
            assert!(
                s.bytes().all(|b| b.is_ascii_lowercase() || b == b'_'),
                "{s}"
            );
            assert!(seen.insert(s), "duplicate reason {s}");
        }
    }
}
