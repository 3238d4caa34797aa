//! The CLI's error type and how it is shown: one line on stderr, and an exit code
//! (1 for failures, 2 for usage errors, like clap's own).

use prismnet_api::errors::reasons;
use prismnet_api::ClientError;
use tonic::Code;

/// Exit code of a failed command.
pub const EXIT_FAILURE: u8 = 1;
/// Exit code of a usage error (clap uses the same).
pub const EXIT_USAGE: u8 = 2;

#[derive(Debug, thiserror::Error)]
pub enum CliError {
    /// The cluster (or the client library) refused or failed the call.
    #[error("{}", api_line(.error, .request_id.as_deref()))]
    Api {
        // Boxed: ClientError is large and every Result in the CLI carries CliError.
        error: Box<ClientError>,
        /// The request id of the write, kept so that an operator can retry a write
        /// whose outcome is unknown with `--request-id` (the cluster then answers
        /// with the first outcome instead of applying it twice).
        request_id: Option<String>,
    },
    /// Arguments that clap accepted but that do not make sense together (e.g. two
    /// IPv4 CIDRs for one subnet).
    #[error("invalid_argument: {0}")]
    Usage(String),
    /// A local failure with a reason of its own (e.g. `wait-up` timed out).
    #[error("{reason}: {message}")]
    Failed { reason: String, message: String },
}

impl CliError {
    pub fn usage(message: impl Into<String>) -> Self {
        CliError::Usage(message.into())
    }

    pub fn failed(reason: &str, message: impl Into<String>) -> Self {
        CliError::Failed {
            reason: reason.to_string(),
            message: message.into(),
        }
    }

    pub fn exit_code(&self) -> u8 {
        match self {
            CliError::Usage(_) => EXIT_USAGE,
            // A bad --endpoints/--token is a usage error too.
            CliError::Api { error, .. } if error.is(reasons::INVALID_CONFIG) => EXIT_USAGE,
            _ => EXIT_FAILURE,
        }
    }

    /// The one line printed on stderr: `error: <reason>: <message>`.
    pub fn line(&self) -> String {
        one_line(&format!("error: {self}"))
    }
}

impl From<ClientError> for CliError {
    fn from(error: ClientError) -> Self {
        CliError::Api {
            error: Box::new(error),
            request_id: None,
        }
    }
}

fn api_line(error: &ClientError, request_id: Option<&str>) -> String {
    let reason = match error.reason() {
        Some(r) => r.to_string(),
        None => code_name(error.code()).to_string(),
    };
    let message = match (error.message.trim(), error.code()) {
        // tonic's router answers a service it does not serve with no message.
        ("", Code::Unimplemented) => "the node does not implement this call",
        ("", _) => "no message from the server",
        (m, _) => m,
    };
    let mut line = format!("{reason}: {message}");
    let mut facts: Vec<_> = error.info.iter().collect();
    facts.sort();
    if !facts.is_empty() {
        let facts: Vec<String> = facts.iter().map(|(k, v)| format!("{k}={v}")).collect();
        line.push_str(&format!(" ({})", facts.join(", ")));
    }
    if error.outcome_unknown {
        let seen = error
            .seen_revision()
            .map(|r| format!(" --seen-revision {r}"))
            .unwrap_or_default();
        match request_id {
            Some(id) => line.push_str(&format!(
                "; the write may or may not have been applied: rerun with --request-id {id}{seen} to find out"
            )),
            None => line.push_str("; the write may or may not have been applied"),
        }
    }
    line
}

/// The gRPC code as the lower_snake_case name used when an error carries no reason.
pub fn code_name(code: Code) -> &'static str {
    match code {
        Code::Ok => "ok",
        Code::Cancelled => "cancelled",
        Code::Unknown => "unknown",
        Code::InvalidArgument => "invalid_argument",
        Code::DeadlineExceeded => "deadline_exceeded",
        Code::NotFound => "not_found",
        Code::AlreadyExists => "already_exists",
        Code::PermissionDenied => "permission_denied",
        Code::ResourceExhausted => "resource_exhausted",
        Code::FailedPrecondition => "failed_precondition",
        Code::Aborted => "aborted",
        Code::OutOfRange => "out_of_range",
        Code::Unimplemented => "unimplemented",
        Code::Internal => "internal",
        Code::Unavailable => "unavailable",
        Code::DataLoss => "data_loss",
        Code::Unauthenticated => "unauthenticated",
    }
}

/// Error messages from servers and transports may span lines; the CLI promises one.
fn one_line(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn client_error(code: Code, reason: Option<&str>, message: &str) -> ClientError {
        ClientError {
            code,
            reason: reason.map(str::to_string),
            message: message.to_string(),
            info: HashMap::new(),
            attempts: 1,
            outcome_unknown: false,
            write: None,
        }
    }

    #[test]
    fn line_uses_reason_or_code() {
        let e = CliError::from(client_error(
            Code::FailedPrecondition,
            Some("cidr_overlap"),
            "overlaps",
        ));
        assert_eq!(e.line(), "error: cidr_overlap: overlaps");
        assert_eq!(e.exit_code(), 1);
        let e = CliError::from(client_error(Code::Unavailable, None, "conn\nrefused"));
        assert_eq!(e.line(), "error: unavailable: conn refused");
        let e = CliError::from(client_error(Code::Unimplemented, None, ""));
        assert_eq!(
            e.line(),
            "error: unimplemented: the node does not implement this call"
        );
    }

    #[test]
    fn line_shows_info_and_unknown_outcome() {
        let mut err = client_error(Code::DeadlineExceeded, Some("deadline_exceeded"), "late");
        err.info.insert("b".into(), "2".into());
        err.info.insert("a".into(), "1".into());
        err.outcome_unknown = true;
        let e = CliError::Api {
            error: Box::new(err.clone()),
            request_id: Some("rid-1".into()),
        };
        assert_eq!(
            e.line(),
            "error: deadline_exceeded: late (a=1, b=2); the write may or may not have been \
             applied: rerun with --request-id rid-1 to find out"
        );
        err.write = Some(Box::new(prismnet_api::client::WriteId {
            request_id: "rid-1".into(),
            seen_revision: 42,
        }));
        let e = CliError::Api {
            error: Box::new(err),
            request_id: Some("rid-1".into()),
        };
        assert!(
            e.line()
                .ends_with("rerun with --request-id rid-1 --seen-revision 42 to find out"),
            "{}",
            e.line()
        );
    }

    #[test]
    fn usage_and_config_errors_exit_2() {
        assert_eq!(CliError::usage("x").exit_code(), 2);
        assert_eq!(CliError::usage("x").line(), "error: invalid_argument: x");
        let e = CliError::from(client_error(
            Code::InvalidArgument,
            Some("invalid_config"),
            "bad endpoint",
        ));
        assert_eq!(e.exit_code(), 2);
    }
}
