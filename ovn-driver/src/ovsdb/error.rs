//! The error type of the OVSDB client.

use std::time::Duration;

use super::codec::CodecError;
use super::schema::SchemaMismatch;
use super::value::ValueError;

/// Everything that can go wrong talking to an OVSDB server.
///
/// `Disconnected` and `Timeout` on a `transact` mean the outcome is unknown: the
/// server may or may not have committed. Callers make writes idempotent and
/// read back (peers.md: clustered NB delivers writes at-least-once).
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("bad remote {remote:?}: {reason}")]
    BadRemote { remote: String, reason: String },
    #[error("connecting to {remote}: {source}")]
    Connect {
        remote: String,
        #[source]
        source: std::io::Error,
    },
    #[error("connecting to {remote}: no answer within {after:?}")]
    ConnectTimeout { remote: String, after: Duration },
    #[error("TLS setup: {0}")]
    Tls(String),
    #[error("I/O error: {0}")]
    Io(#[from] std::io::Error),
    #[error(transparent)]
    Codec(#[from] CodecError),
    #[error(transparent)]
    Value(#[from] ValueError),
    #[error("protocol error: {0}")]
    Protocol(String),
    #[error("server answered {method} with error {error:?} ({details})")]
    Rpc {
        method: String,
        error: String,
        details: String,
    },
    #[error(transparent)]
    Transaction(#[from] TxnError),
    #[error(transparent)]
    Schema(#[from] SchemaMismatch),
    #[error("{remote} is not the connected leader of database {database}")]
    NotLeader { remote: String, database: String },
    #[error("connection lost; the outcome of an in-flight request is unknown")]
    Disconnected,
    #[error("no usable server within {after:?} (last error: {last_error})")]
    NotConnected { after: Duration, last_error: String },
    #[error("{method} got no answer within {after:?}; its outcome is unknown")]
    Timeout { method: String, after: Duration },
    #[error("no message from the server for {0:?} (echo probe)")]
    ProbeTimeout(Duration),
    #[error("too many requests in flight (limit {0})")]
    Busy(usize),
    #[error("transaction has {count} operations, the limit is {limit}")]
    TooManyOps { count: usize, limit: usize },
    #[error("client shut down")]
    Shutdown,
}

/// A `transact` that the server refused: nothing of it was committed.
///
/// `op_index` is the failing operation's position; `None` means every
/// operation succeeded but the commit itself failed (RFC 7047 §4.1.3: the
/// result array then has one extra element holding the error, e.g. a
/// referential integrity or constraint violation).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("transaction failed {}: {error}{}", where_(self.op_index, self.op), details_(&self.details))]
pub struct TxnError {
    pub op_index: Option<usize>,
    pub op: Option<&'static str>,
    pub error: String,
    pub details: Option<String>,
}

fn where_(index: Option<usize>, op: Option<&'static str>) -> String {
    match (index, op) {
        (Some(i), Some(op)) => format!("at operation #{i} ({op})"),
        (Some(i), None) => format!("at operation #{i}"),
        _ => "at commit".to_string(),
    }
}

fn details_(details: &Option<String>) -> String {
    details
        .as_ref()
        .map(|d| format!(" ({d})"))
        .unwrap_or_default()
}
