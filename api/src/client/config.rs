//! Client configuration.

use std::fmt;
use std::time::Duration;

use tonic::transport::ClientTlsConfig;

/// How [`crate::PrismClient`] reaches the cluster.
#[derive(Clone)]
pub struct ClientConfig {
    /// API addresses of the nodes: `host:port` or `http(s)://host:port`. Any subset
    /// of the cluster works; the leader is found through redirects.
    pub endpoints: Vec<String>,
    /// Sent as `authorization: Bearer <token>` on every call.
    pub token: Option<String>,
    /// Time budget of one logical call, all retries included (default 30 s).
    pub deadline: Duration,
    /// TLS for every endpoint (then `host:port` endpoints mean `https://`).
    pub tls: Option<ClientTlsConfig>,
    /// Send reads with `x-prismnet-stale: 1`: the node that receives one answers it
    /// from its own state, possibly behind the leader.
    pub stale_reads: bool,
    /// Backoff between retries.
    pub retry: RetryPolicy,
    /// TCP/TLS connect timeout of one attempt (default 5 s); a dead node costs at
    /// most this before the next endpoint is tried.
    pub connect_timeout: Duration,
}

/// Jittered exponential backoff between retries of one logical call.
#[derive(Clone, Debug)]
pub struct RetryPolicy {
    /// First delay (default 50 ms); doubles per retry.
    pub initial_backoff: Duration,
    /// Upper bound of one delay (default 2 s).
    pub max_backoff: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            initial_backoff: Duration::from_millis(50),
            max_backoff: Duration::from_secs(2),
        }
    }
}

impl Default for ClientConfig {
    fn default() -> Self {
        ClientConfig {
            endpoints: Vec::new(),
            token: None,
            deadline: Duration::from_secs(30),
            tls: None,
            stale_reads: false,
            retry: RetryPolicy::default(),
            connect_timeout: Duration::from_secs(5),
        }
    }
}

impl ClientConfig {
    /// Defaults with the given endpoints.
    pub fn new<S: Into<String>>(endpoints: impl IntoIterator<Item = S>) -> Self {
        ClientConfig {
            endpoints: endpoints.into_iter().map(Into::into).collect(),
            ..ClientConfig::default()
        }
    }
}

// Hand-written so that the token never ends up in logs.
impl fmt::Debug for ClientConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ClientConfig")
            .field("endpoints", &self.endpoints)
            .field("token", &self.token.as_ref().map(|_| "<redacted>"))
            .field("deadline", &self.deadline)
            .field("tls", &self.tls.is_some())
            .field("stale_reads", &self.stale_reads)
            .field("retry", &self.retry)
            .field("connect_timeout", &self.connect_timeout)
            .finish()
    }
}
