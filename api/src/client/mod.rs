//! The Rust client library: [`PrismClient`].
//!
//! ```no_run
//! # async fn demo() -> Result<(), prismnet_api::ClientError> {
//! use prismnet_api::{ClientConfig, PrismClient};
//! use prismnet_api::v1::CreatePortRequest;
//!
//! let client = PrismClient::connect(ClientConfig {
//!     token: Some("secret".into()),
//!     ..ClientConfig::new(["10.0.0.1:7000", "10.0.0.2:7000", "10.0.0.3:7000"])
//! })
//! .await?;
//! let nic = client
//!     .create_port(CreatePortRequest {
//!         subnet_id: "…".into(),
//!         device_id: "vm-42".into(),
//!         ..Default::default()
//!     })
//!     .await?;
//! # let _ = nic; Ok(()) }
//! ```
//!
//! Every method is one logical call: the client finds the leader (and caches it),
//! follows `not_leader` redirects, and retries transport failures, `no_leader`,
//! `not_leader` and UNAVAILABLE with jittered exponential backoff until the deadline.
//! The caller never sees a redirect. Other errors (INVALID_ARGUMENT, NOT_FOUND, …)
//! are returned at once as a [`ClientError`].
//!
//! **Silent nodes.** Each attempt has its own budget
//! ([`ClientConfig::attempt_timeout`], 1 s by default, or what is left of the
//! deadline if less), and HTTP/2 PINGs close a connection whose peer went silent
//! ([`ClientConfig::keepalive_interval`], [`ClientConfig::keepalive_timeout`], 1 s
//! each). A paused or cut-off leader therefore costs a call about a second: the
//! attempt on it is given up, the next endpoint is tried, and by then the others have
//! usually elected a new leader (~0.6-0.8 s with the default Raft timings).
//!
//! **Writes and timeouts.** A write that failed with DEADLINE_EXCEEDED (or with
//! [`ClientError::outcome_unknown`] set) may or may not have been applied. Every
//! retry of a logical call carries the same `request_id` (a UUID v4 is generated when
//! the caller left it empty), which is what makes retrying safe: the cluster applies
//! a request_id at most once. To retry such a write yourself, set `request_id`
//! explicitly and reuse it.
//!
//! **Retries the cluster no longer recognizes.** The cluster remembers request ids
//! for a bounded number of writes (its `request_id_retention`, 100,000 by default).
//! Every write also carries the highest revision (applied index) the client had
//! seen before the call's first attempt (`x-prismnet-seen-revision`; every answer
//! carries one). A retry whose id was forgotten and whose first attempt is older
//! than what the cluster remembers is refused with FAILED_PRECONDITION
//! `request_expired`, never applied a second time: the library reports it with
//! [`ClientError::outcome_unknown`] set (look the resource up by name or device id).
//! A call whose only attempt was refused that way (a client that had seen no recent
//! revision, e.g. a new one) is sent again at once with the cluster's current
//! revision, when the library chose its request_id. To retry a write of your own
//! across restarts, keep [`PrismClient::revision`] from before its first attempt
//! with its request_id, and retry through [`PrismClient::with_seen_revision`].

mod backoff;
mod call;
mod config;
mod endpoints;
mod error;
mod rpcs;

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use tonic::metadata::{Ascii, MetadataValue};

pub use config::{ClientConfig, Dial, Io, RequestIds, RetryPolicy, DEFAULT_ATTEMPT_TIMEOUT};
pub use error::{ClientError, WriteId};

use endpoints::{ConnectSettings, Endpoints};

/// A fresh request_id (UUID v4) for one logical write.
pub fn new_request_id() -> String {
    uuid::Uuid::new_v4().to_string()
}

/// A handle to a PrismNET cluster. Cheap to clone; clones share connections and the
/// cached leader.
#[derive(Clone)]
pub struct PrismClient {
    shared: Arc<Shared>,
    deadline: Duration,
    attempt_timeout: Duration,
    stale_reads: bool,
    /// The revision writes say they saw; `None`: the highest seen when each call
    /// starts.
    seen_revision: Option<u64>,
}

struct Shared {
    endpoints: Endpoints,
    auth: Option<MetadataValue<Ascii>>,
    retry: RetryPolicy,
    /// The highest revision (`x-prismnet-revision`) any answer carried.
    revision: AtomicU64,
    /// Where fresh request ids come from (`ClientConfig::request_ids`).
    request_ids: Option<RequestIds>,
}

impl PrismClient {
    /// Validates the config and prepares one (lazy) connection per endpoint. It does
    /// not wait for any node: a cluster that is down fails calls, not the client.
    pub async fn connect(config: ClientConfig) -> Result<Self, ClientError> {
        let settings = ConnectSettings {
            connect_timeout: config.connect_timeout,
            keepalive_interval: config.keepalive_interval,
            keepalive_timeout: config.keepalive_timeout,
            tcp_keepalive: config.tcp_keepalive,
            dial: config.dial.clone(),
        };
        let endpoints = Endpoints::new(&config.endpoints, config.tls, settings)?;
        let auth = match &config.token {
            Some(token) => {
                let mut value = MetadataValue::try_from(format!("Bearer {token}"))
                    .map_err(|_| ClientError::config("token is not a valid header value"))?;
                // Keeps the token out of tonic/hyper debug output.
                value.set_sensitive(true);
                Some(value)
            }
            None => None,
        };
        if config.deadline.is_zero() {
            return Err(ClientError::config("deadline must be positive"));
        }
        if config.attempt_timeout.is_zero() {
            return Err(ClientError::config("attempt_timeout must be positive"));
        }
        if config.keepalive_interval.is_zero() || config.keepalive_timeout.is_zero() {
            return Err(ClientError::config(
                "keepalive_interval and keepalive_timeout must be positive",
            ));
        }
        Ok(PrismClient {
            shared: Arc::new(Shared {
                endpoints,
                auth,
                retry: config.retry,
                revision: AtomicU64::new(0),
                request_ids: config.request_ids,
            }),
            deadline: config.deadline,
            attempt_timeout: config.attempt_timeout,
            stale_reads: config.stale_reads,
            seen_revision: None,
        })
    }

    /// Fills an empty request_id, leaving one the caller chose untouched. True when
    /// it made one: then no earlier call can have used it.
    pub(crate) fn ensure_request_id(&self, request_id: &mut String) -> bool {
        if !request_id.is_empty() {
            return false;
        }
        *request_id = match &self.shared.request_ids {
            None => new_request_id(),
            Some(ids) => (ids.0)(),
        };
        true
    }

    /// The same client with another per-call deadline.
    pub fn with_deadline(&self, deadline: Duration) -> Self {
        PrismClient {
            deadline,
            ..self.clone()
        }
    }

    /// The same client with another per-attempt timeout (see
    /// [`ClientConfig::attempt_timeout`]); e.g. the deadline itself for a call that
    /// legitimately takes longer than an attempt normally may. Unlike the config's,
    /// it is not checked: zero makes every attempt time out at once.
    pub fn with_attempt_timeout(&self, attempt_timeout: Duration) -> Self {
        PrismClient {
            attempt_timeout,
            ..self.clone()
        }
    }

    /// The same client with stale reads switched on or off.
    pub fn with_stale_reads(&self, stale_reads: bool) -> Self {
        PrismClient {
            stale_reads,
            ..self.clone()
        }
    }

    /// The highest revision (applied index) any answer to this client carried: what
    /// to keep with a request_id you will retry later (see the module docs).
    pub fn revision(&self) -> u64 {
        self.shared.revision.load(Ordering::Relaxed)
    }

    /// The same client, whose writes say they saw `revision` before their first
    /// attempt: for retrying, with its own request_id, a write first sent
    /// earlier (by this process or a previous one) after `revision` was seen.
    pub fn with_seen_revision(&self, revision: u64) -> Self {
        PrismClient {
            seen_revision: Some(revision),
            ..self.clone()
        }
    }

    /// Takes note of the revision an answer carried.
    pub(crate) fn saw_revision(&self, revision: Option<u64>) {
        if let Some(r) = revision {
            self.shared.revision.fetch_max(r, Ordering::Relaxed);
        }
    }

    /// The URI of the node currently believed to be the leader, if known.
    pub fn cached_leader(&self) -> Option<String> {
        self.shared.endpoints.leader()
    }
}
