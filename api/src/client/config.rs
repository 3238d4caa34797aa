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
    /// most this (or [`ClientConfig::attempt_timeout`] if shorter) before the next
    /// endpoint is tried.
    pub connect_timeout: Duration,
    /// Time budget of one attempt (default 1 s): an attempt gets the smaller of this
    /// and what is left of the deadline. A node that has not answered by then (paused,
    /// overloaded, cut off) is given up on for this attempt and the next endpoint is
    /// tried; a write whose attempt timed out counts as outcome unknown and is retried
    /// with the same request_id. See [`DEFAULT_ATTEMPT_TIMEOUT`] for why 1 s. Set it
    /// to the deadline to let one attempt use the whole deadline.
    pub attempt_timeout: Duration,
    /// Interval of HTTP/2 PINGs on every connection, idle or not (default 1 s).
    /// Together with [`ClientConfig::keepalive_timeout`] this is how a connection to
    /// a silent node (paused, or its packets dropped) is noticed and closed, so that
    /// calls stop being sent into it.
    pub keepalive_interval: Duration,
    /// How long a PING may go unanswered before the connection is closed (default
    /// 1 s). A silent peer is noticed between this and `keepalive_interval +
    /// keepalive_timeout` after it went silent (1-2 s with the defaults).
    pub keepalive_timeout: Duration,
    /// TCP keepalive: idle time before the first probe, and the interval between
    /// probes (default 1 s; `None`: off). Only a backstop for a dead host: the kernel
    /// answers probes for a paused process, which only the HTTP/2 PINGs notice.
    pub tcp_keepalive: Option<Duration>,
    /// How connections are opened; `None` (the default) is TCP. The deterministic
    /// simulator (`sim/`) gives its simulated network here.
    pub dial: Option<Dial>,
    /// Where fresh request ids come from; `None` (the default) is a UUID v4 each.
    /// The simulator gives seeded ones, so that a seed decides the whole log.
    pub request_ids: Option<RequestIds>,
}

/// Makes a fresh request id (must never repeat within the cluster's retention).
#[derive(Clone)]
pub struct RequestIds(pub std::sync::Arc<dyn Fn() -> String + Send + Sync>);

impl fmt::Debug for RequestIds {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("RequestIds(..)")
    }
}

/// A connection as [`Dial`] returns it.
pub trait Io: tokio::io::AsyncRead + tokio::io::AsyncWrite + Send + Unpin + 'static {}
impl<T: tokio::io::AsyncRead + tokio::io::AsyncWrite + Send + Unpin + 'static> Io for T {}

/// Opens a connection to `host:port`: the client library's transport seam.
#[derive(Clone)]
pub struct Dial(
    #[allow(clippy::type_complexity)]
    pub  std::sync::Arc<
        dyn Fn(
                String,
            ) -> std::pin::Pin<
                Box<dyn std::future::Future<Output = std::io::Result<Box<dyn Io>>> + Send>,
            > + Send
            + Sync,
    >,
);

impl fmt::Debug for Dial {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Dial(..)")
    }
}

/// Default [`ClientConfig::attempt_timeout`].
///
/// A healthy node answers in milliseconds: a write commits in a few ms (p99 in the
/// tens of ms at 256 clients on a loaded machine, `docs/benchmarks.md`), and a node
/// that cannot serve a call answers at once with a redirect (`not_leader`) or
/// `no_leader`; no node holds a call while it waits for an election. The one long
/// server-side wait is the leader's commit timeout (10 s, `WRITE_TIMEOUT` in
/// `node/src/context.rs`): a leader that lost its quorum holds writes that long,
/// and a client that waited for it would learn only that the outcome is unknown. So
/// an attempt without an answer after 1 s is stuck, and the time is better spent
/// elsewhere: a dead or silent leader is replaced after ~0.6-0.8 s of silence with
/// the default Raft timings (heartbeat 50 ms, election 200-400 ms), so by the time
/// an attempt on it gives up the others have usually elected a new leader and the
/// next attempt is redirected to it. A silent leader thus costs a call ~1 s instead
/// of its deadline. Shorter would cut slow but healthy calls on a busy machine
/// (a retry is safe, but adds load while the cluster is already slow); longer only
/// makes the failover slower.
pub const DEFAULT_ATTEMPT_TIMEOUT: Duration = Duration::from_secs(1);

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
            attempt_timeout: DEFAULT_ATTEMPT_TIMEOUT,
            keepalive_interval: Duration::from_secs(1),
            keepalive_timeout: Duration::from_secs(1),
            tcp_keepalive: Some(Duration::from_secs(1)),
            dial: None,
            request_ids: None,
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
            .field("attempt_timeout", &self.attempt_timeout)
            .field("keepalive_interval", &self.keepalive_interval)
            .field("keepalive_timeout", &self.keepalive_timeout)
            .field("tcp_keepalive", &self.tcp_keepalive)
            .finish()
    }
}
