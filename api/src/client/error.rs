//! The one error type of the client library.

use std::collections::HashMap;
use std::time::Duration;

use tonic::{Code, Status};

use crate::errors::{info_of, reason_of, reasons};

/// A failed logical call: the server's final answer, or the client giving up.
///
/// Match on [`ClientError::reason`] (stable, see [`crate::errors::reasons`]), not on
/// the message.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{code:?} [{}]: {message}", .reason.as_deref().unwrap_or("-"))]
pub struct ClientError {
    pub code: Code,
    /// The `google.rpc.ErrorInfo` reason; `None` if the status carried none.
    pub reason: Option<String>,
    pub message: String,
    /// ErrorInfo metadata (facts about the error, e.g. the conflicting CIDR).
    pub info: HashMap<String, String>,
    /// Attempts made (1 = no retry).
    pub attempts: u32,
    /// True when a write may or may not have been applied: some attempt's answer was
    /// lost (timeout, broken connection). Retrying with the same request_id is safe
    /// and tells which.
    pub outcome_unknown: bool,
}

impl ClientError {
    pub(crate) fn from_status(status: &Status, attempts: u32) -> Self {
        ClientError {
            code: status.code(),
            reason: reason_of(status),
            message: status.message().to_string(),
            info: info_of(status),
            attempts,
            outcome_unknown: false,
        }
    }

    pub(crate) fn config(message: impl Into<String>) -> Self {
        ClientError {
            code: Code::InvalidArgument,
            reason: Some(reasons::INVALID_CONFIG.to_string()),
            message: message.into(),
            info: HashMap::new(),
            attempts: 0,
            outcome_unknown: false,
        }
    }

    pub(crate) fn deadline(
        deadline: Duration,
        attempts: u32,
        last: Option<&ClientError>,
        outcome_unknown: bool,
    ) -> Self {
        let last = match last {
            Some(e) => format!("; last error: {e}"),
            None => String::new(),
        };
        ClientError {
            code: Code::DeadlineExceeded,
            reason: Some(reasons::DEADLINE_EXCEEDED.to_string()),
            message: format!("deadline of {deadline:?} exceeded after {attempts} attempt(s){last}"),
            info: HashMap::new(),
            attempts,
            outcome_unknown,
        }
    }

    pub fn code(&self) -> Code {
        self.code
    }

    pub fn reason(&self) -> Option<&str> {
        self.reason.as_deref()
    }

    /// Whether the error carries this reason.
    pub fn is(&self, reason: &str) -> bool {
        self.reason.as_deref() == Some(reason)
    }
}
