//! The retry/redirect loop every RPC goes through.
//!
//! One logical call = one request message (with one request_id, for writes) sent until
//! a final answer or the deadline:
//! - `not_leader` with a leader address: go there at once and cache it as the leader;
//! - `not_leader` without an address, `no_leader`: back off, try the next endpoint;
//! - UNAVAILABLE, a transport failure, or no answer within the attempt's budget
//!   (`ClientConfig::attempt_timeout`, or what is left of the deadline if less): try
//!   the next endpoint at once, backing off once every endpoint failed in a row;
//! - anything else is the final answer and is returned at once; e.g. RESOURCE_EXHAUSTED
//!   `disk_full`, a write the leader refused before proposing it (definite: this
//!   attempt changed nothing, so it does not make the outcome unknown).
//!
//! Only the overall deadline ends a call with DEADLINE_EXCEEDED; an attempt that
//! timed out is one more failed attempt.
//!
//! Retrying a write is safe only because every attempt carries the same request_id:
//! an attempt whose answer was lost (a broken connection, a timed-out attempt) may
//! have been applied, which makes the call's outcome unknown until an answer comes,
//! and the cluster answers its retry with the first outcome instead of applying it
//! twice. Every attempt also carries the same `x-prismnet-seen-revision` (the
//! revision seen before the first one), so a retry whose request_id the cluster has
//! forgotten is refused (`request_expired`, reported as outcome unknown) rather than
//! applied again; see the module docs of `client` for the one case it is resent.
//! An error answer marked `x-prismnet-applied` went through the log: it is the
//! call's outcome, known, whatever earlier attempts left uncertain.

use std::error::Error as _;
use std::future::Future;
use std::time::Duration;

use tokio::time::Instant;
use tonic::metadata::MetadataValue;
use tonic::transport::Channel;
use tonic::{Code, Status};

use super::backoff::Backoff;
use super::error::ClientError;
use super::PrismClient;
use crate::errors::{leader_hint, reason_of, reasons};
use crate::metadata::{
    revision, APPLIED_HEADER, AUTHORIZATION_HEADER, REVISION_HEADER, SEEN_REVISION_HEADER,
    STALE_READ_HEADER, STALE_READ_VALUE,
};
use crate::methods::CallKind;

/// What a failed attempt means for the next one.
enum Next {
    /// Final: return it.
    Fail,
    /// A follower named the leader (or did not know its address).
    Redirect(Option<String>),
    /// No leader right now: wait, then try elsewhere.
    Wait,
    /// The node is unreachable or unavailable: try another one.
    Elsewhere,
}

impl PrismClient {
    /// Runs one logical call with retries, redirects and the client's deadline.
    ///
    /// `rpc` performs one attempt on a channel, e.g.
    /// `|ch, req| async move { PortServiceClient::new(ch).get_port(req).await }`.
    /// For a [`CallKind::Write`] the caller must have set the message's request_id
    /// (see [`super::new_request_id`]); the typed methods do that.
    pub async fn call<Req, Resp, F, Fut>(
        &self,
        kind: CallKind,
        req: Req,
        rpc: F,
    ) -> Result<Resp, ClientError>
    where
        Req: Clone,
        F: FnMut(Channel, tonic::Request<Req>) -> Fut,
        Fut: Future<Output = Result<tonic::Response<Resp>, Status>>,
    {
        self.call_with_deadline(kind, self.deadline, req, rpc).await
    }

    /// [`PrismClient::call`] with an explicit deadline for this call.
    pub async fn call_with_deadline<Req, Resp, F, Fut>(
        &self,
        kind: CallKind,
        deadline: Duration,
        req: Req,
        rpc: F,
    ) -> Result<Resp, ClientError>
    where
        Req: Clone,
        F: FnMut(Channel, tonic::Request<Req>) -> Fut,
        Fut: Future<Output = Result<tonic::Response<Resp>, Status>>,
    {
        self.run(kind, deadline, Fresh::No, req, rpc).await
    }

    /// One logical call; `fresh` when the library chose the request_id (the typed
    /// methods), so that no earlier call can have used it.
    pub(crate) async fn run<Req, Resp, F, Fut>(
        &self,
        kind: CallKind,
        deadline: Duration,
        fresh: Fresh,
        req: Req,
        rpc: F,
    ) -> Result<Resp, ClientError>
    where
        Req: Clone,
        F: FnMut(Channel, tonic::Request<Req>) -> Fut,
        Fut: Future<Output = Result<tonic::Response<Resp>, Status>>,
    {
        // Fixed for the whole call: a revision seen before its first attempt.
        let mut seen = self.seen_revision.unwrap_or_else(|| self.revision());
        let r = self
            .attempts(kind, deadline, fresh, &mut seen, req, rpc)
            .await;
        r.map_err(|mut e| {
            if kind == CallKind::Write {
                e.write.get_or_insert_with(Box::default).seen_revision = seen;
            }
            e
        })
    }

    async fn attempts<Req, Resp, F, Fut>(
        &self,
        kind: CallKind,
        deadline: Duration,
        fresh: Fresh,
        seen: &mut u64,
        req: Req,
        mut rpc: F,
    ) -> Result<Resp, ClientError>
    where
        Req: Clone,
        F: FnMut(Channel, tonic::Request<Req>) -> Fut,
        Fut: Future<Output = Result<tonic::Response<Resp>, Status>>,
    {
        let eps = &self.shared.endpoints;
        let deadline_at = Instant::now() + deadline;
        let stale = kind == CallKind::Read && self.stale_reads;
        // Only answers of leader-routed calls tell us who the leader is.
        let leader_routed = kind == CallKind::Write || (kind == CallKind::Read && !stale);
        let mut cursor = Cursor::start(eps.list(), eps.leader());
        let mut backoff = Backoff::new(&self.shared.retry);
        let mut attempts = 0u32;
        let mut hops_without_wait = 0usize;
        let mut outcome_unknown = false;
        // The last answer was decided by the log (see `APPLIED_HEADER`).
        let mut decided = false;
        let mut last: Option<ClientError> = None;

        loop {
            let remaining = deadline_at.saturating_duration_since(Instant::now());
            if remaining.is_zero() {
                return Err(ClientError::deadline(
                    deadline,
                    attempts,
                    last.as_ref(),
                    outcome_unknown,
                ));
            }
            let target = cursor.current.clone();
            let channel = eps.channel(&target)?;
            // A silent node must not take the whole deadline: give up on it after the
            // attempt's budget and try another (see `ClientConfig::attempt_timeout`).
            let budget = attempt_budget(self.attempt_timeout, remaining);
            let mut request = tonic::Request::new(req.clone());
            // Lets the server drop work nobody waits for any more.
            request.set_timeout(budget);
            if let Some(auth) = &self.shared.auth {
                request
                    .metadata_mut()
                    .insert(AUTHORIZATION_HEADER, auth.clone());
            }
            if stale {
                request.metadata_mut().insert(
                    STALE_READ_HEADER,
                    MetadataValue::from_static(STALE_READ_VALUE),
                );
            }
            if kind == CallKind::Write {
                request
                    .metadata_mut()
                    .insert(SEEN_REVISION_HEADER, MetadataValue::from(*seen));
            }
            attempts += 1;
            let (next, err) = match tokio::time::timeout(budget, rpc(channel, request)).await {
                Ok(Ok(response)) => {
                    self.saw_revision(revision(response.metadata(), REVISION_HEADER));
                    if leader_routed {
                        eps.set_leader(&target);
                    }
                    return Ok(response.into_inner());
                }
                Ok(Err(status)) => {
                    decided = status.metadata().get(APPLIED_HEADER).is_some();
                    let answered = revision(status.metadata(), REVISION_HEADER);
                    self.saw_revision(answered);
                    // Refused because this call's first attempt looked older than
                    // what the cluster remembers. If no attempt of it can have
                    // applied (this one was refused, none was lost) and no earlier
                    // call can have used its request_id, it is new: send it again
                    // having seen the cluster's revision. Once: that revision is at
                    // or above what the cluster forgot.
                    if is_expired(&status) && fresh == Fresh::Yes && !outcome_unknown {
                        if let Some(r) = answered.filter(|r| *r > *seen) {
                            *seen = r;
                            continue;
                        }
                    }
                    (
                        classify(&status),
                        ClientError::from_status(&status, attempts),
                    )
                }
                // The node did not answer in time (paused, overloaded, cut off): like
                // an unreachable node, except that the attempt was in flight. If the
                // deadline is spent too, the next round of the loop says so.
                Err(_elapsed) => {
                    let status = Status::deadline_exceeded(format!(
                        "no answer from {target} within the attempt's {budget:?}"
                    ));
                    (Next::Elsewhere, ClientError::from_status(&status, attempts))
                }
            };
            tracing::debug!(endpoint = %target, attempt = attempts, error = %err, "prismnet call attempt failed");
            let wait = match next {
                // The cluster cannot tell whether an earlier attempt (or an
                // earlier call with this request_id) applied.
                Next::Fail if is_expired_error(&err) => {
                    return Err(ClientError {
                        outcome_unknown: true,
                        ..err
                    })
                }
                Next::Fail => {
                    return Err(ClientError {
                        outcome_unknown: outcome_unknown && !decided,
                        ..err
                    })
                }
                Next::Redirect(Some(addr)) => match eps.normalize(&addr) {
                    Some(uri) if uri != target => {
                        eps.set_leader(&uri);
                        cursor.jump(uri);
                        false
                    }
                    // Redirected to itself or to garbage: treat as "no leader".
                    _ => {
                        eps.forget_leader(&target);
                        cursor.advance();
                        true
                    }
                },
                Next::Redirect(None) | Next::Wait => {
                    eps.forget_leader(&target);
                    cursor.advance();
                    true
                }
                Next::Elsewhere => {
                    // A refused connection, a reset after the leader applied the write
                    // and an attempt that timed out look alike from here, so assume the
                    // write may have happened.
                    if kind == CallKind::Write {
                        outcome_unknown = true;
                    }
                    eps.forget_leader(&target);
                    cursor.advance();
                    false
                }
            };
            last = Some(err);
            // Hop at once while there are nodes not yet tried in this round; after a
            // full round of failures (or when told there is no leader) back off.
            if !wait && hops_without_wait < eps.list().len() {
                hops_without_wait += 1;
                continue;
            }
            hops_without_wait = 0;
            let remaining = deadline_at.saturating_duration_since(Instant::now());
            tokio::time::sleep(backoff.next_delay().min(remaining)).await;
        }
    }
}

/// Whether the library chose the call's request_id (then no earlier call used it).
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum Fresh {
    Yes,
    No,
}

fn is_expired(status: &Status) -> bool {
    reason_of(status).as_deref() == Some(reasons::REQUEST_EXPIRED)
}

fn is_expired_error(e: &ClientError) -> bool {
    e.reason() == Some(reasons::REQUEST_EXPIRED)
}

/// What one attempt may take: the client's attempt timeout, or what is left of the
/// call's deadline if less.
fn attempt_budget(attempt_timeout: Duration, remaining: Duration) -> Duration {
    attempt_timeout.min(remaining)
}

fn classify(status: &Status) -> Next {
    match reason_of(status).as_deref() {
        Some(reasons::NOT_LEADER) => Next::Redirect(leader_hint(status).1),
        Some(reasons::NO_LEADER) => Next::Wait,
        _ if status.code() == Code::Unavailable => Next::Elsewhere,
        _ if is_transport_failure(status) => Next::Elsewhere,
        _ => Next::Fail,
    }
}

/// A status tonic made locally from an I/O or transport error (connection reset,
/// refused, broken HTTP/2 stream) rather than one a server sent. Those can carry
/// codes like UNKNOWN or INTERNAL but say nothing about the request itself.
fn is_transport_failure(status: &Status) -> bool {
    // Every status a PrismNET node sends carries an ErrorInfo reason (even
    // INTERNAL). One without a reason and with a code a broken connection produces
    // was made by tonic/hyper locally: e.g. "h2 protocol error" when the leader dies
    // mid-answer arrives as UNKNOWN with no source attached.
    let local_code = matches!(
        status.code(),
        Code::Unknown | Code::Internal | Code::Cancelled
    );
    if local_code && reason_of(status).is_none() {
        return true;
    }
    let mut source = status.source();
    while let Some(err) = source {
        if err.is::<tonic::transport::Error>() || err.is::<std::io::Error>() {
            return true;
        }
        source = err.source();
    }
    false
}

/// Which endpoint the next attempt goes to.
struct Cursor<'a> {
    list: &'a [String],
    /// Index in `list` that `advance` moves on from.
    idx: usize,
    current: String,
}

impl<'a> Cursor<'a> {
    /// Starts at the cached leader if there is one, else at the first endpoint.
    fn start(list: &'a [String], leader: Option<String>) -> Self {
        match leader {
            Some(uri) => {
                // A leader learnt from a redirect may be outside the list; then the
                // first fallback is the list's first entry.
                let idx = list
                    .iter()
                    .position(|e| *e == uri)
                    .unwrap_or(list.len().saturating_sub(1));
                Cursor {
                    list,
                    idx,
                    current: uri,
                }
            }
            None => Cursor {
                list,
                idx: 0,
                current: list.first().cloned().unwrap_or_default(),
            },
        }
    }

    fn advance(&mut self) {
        if self.list.is_empty() {
            return;
        }
        self.idx = (self.idx + 1) % self.list.len();
        self.current = self.list[self.idx].clone();
    }

    fn jump(&mut self, uri: String) {
        if let Some(i) = self.list.iter().position(|e| *e == uri) {
            self.idx = i;
        }
        self.current = uri;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::errors::status_with_reason;

    #[test]
    fn an_attempt_gets_the_attempt_timeout_or_what_is_left_of_the_deadline() {
        let second = Duration::from_secs(1);
        assert_eq!(attempt_budget(second, Duration::from_secs(30)), second);
        let left = Duration::from_millis(300);
        assert_eq!(attempt_budget(second, left), left);
        // An attempt timeout at least as long as the deadline: one attempt may use
        // all of it (the behaviour before attempt timeouts existed).
        assert_eq!(attempt_budget(Duration::MAX, left), left);
    }

    #[test]
    fn reasonless_local_failures_are_retried_elsewhere() {
        // What tonic makes of a connection that died mid-answer: no reason, no source.
        let h2 = Status::unknown("h2 protocol error: error reading a body from connection");
        assert!(matches!(classify(&h2), Next::Elsewhere));
        assert!(matches!(
            classify(&Status::cancelled("stream reset")),
            Next::Elsewhere
        ));
        // A server's own INTERNAL carries a reason: final.
        let internal = status_with_reason(Code::Internal, reasons::INTERNAL, "boom");
        assert!(matches!(classify(&internal), Next::Fail));
        let bad = status_with_reason(Code::InvalidArgument, "invalid_cidr", "x");
        assert!(matches!(classify(&bad), Next::Fail));
        // Refused before proposing: final, and not a transport failure.
        let full = status_with_reason(Code::ResourceExhausted, reasons::DISK_FULL, "disk low");
        assert!(matches!(classify(&full), Next::Fail));
        assert!(matches!(
            classify(&Status::unavailable("down")),
            Next::Elsewhere
        ));
    }
}
