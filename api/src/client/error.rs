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
    /// lost (timeout, broken connection), or the cluster can no longer tell
    /// (`request_expired`). Retrying with the same request_id (and
    /// `seen_revision`) is safe and tells which, while the cluster remembers it.
    pub outcome_unknown: bool,
    /// For a write: which one (boxed, it is rarely read).
    pub write: Option<Box<WriteId>>,
}

/// What identifies a write to the cluster across retries.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct WriteId {
    /// The request_id every attempt carried (empty when the call was made through
    /// [`crate::PrismClient::call`], which does not know the message's fields).
    pub request_id: String,
    /// The revision every attempt said it had seen (`x-prismnet-seen-revision`); a
    /// retry of it in another process passes it to
    /// [`crate::PrismClient::with_seen_revision`].
    pub seen_revision: u64,
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
            write: None,
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
            write: None,
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
            write: None,
        }
    }

    /// Names the write this error is of.
    pub(crate) fn of_write(mut self, request_id: String) -> Self {
        self.write.get_or_insert_with(Box::default).request_id = request_id;
        self
    }

    /// The request_id of the write this error is of, if known.
    pub fn request_id(&self) -> Option<&str> {
        self.write
            .as_ref()
            .map(|w| w.request_id.as_str())
            .filter(|id| !id.is_empty())
    }

    /// The revision the write this error is of said it had seen.
    pub fn seen_revision(&self) -> Option<u64> {
        self.write.as_ref().map(|w| w.seen_revision)
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
