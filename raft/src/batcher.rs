//! Batching and pipelining of client writes on the leader.
//!
//! `RaftNode::write` hands its proposal (already encoded, on the caller's task) to a
//! bounded queue. One batcher task drains everything waiting into ONE log entry
//! (`LogPayload`, up to [`BATCH_PROPOSALS_MAX`](crate::types::BATCH_PROPOSALS_MAX) proposals or [`BATCH_BYTES_MAX`]
//! bytes) and submits it to openraft with `client_write_ff`, in queue order. It
//! does not wait for that entry to commit: up to [`BATCHES_IN_FLIGHT_MAX`] entries
//! are appended, replicated and fsynced concurrently (openraft appends and sends
//! them in order). A per-batch task waits for the entry's outcome and hands each
//! caller its own result.
//!
//! Why this shape:
//! - one entry per batch means one openraft message, one log key, one apply call
//!   and one response for many requests, instead of one each: the per-request CPU
//!   of the Raft path is divided by the batch size;
//! - batches form by themselves: while every in-flight slot is busy, requests
//!   collect in the queue, and the next free slot takes them all. A lone request
//!   finds a free slot and is proposed at once: there is no linger timer, so
//!   single-client latency pays nothing for batching;
//! - the in-flight bound keeps batches from degenerating into one request each
//!   under load (which would bring the per-entry costs back), and bounds memory.
//!
//! The free-space guard (`crate::disk`) is consulted twice on a leader: when a
//! request is queued, and again when its batch is about to be proposed (the disk
//! may have filled while it waited). A refused request is answered `DiskFull` and
//! nothing of it reaches openraft.

use std::future::Future;
use std::sync::Arc;

use openraft::error::Fatal;
use prismnet_state::{Applied, Proposal, Reason, StateError};
use tokio::sync::{mpsc, oneshot, OwnedSemaphorePermit, Semaphore};

use crate::disk::DiskGuard;
use crate::error::{redirect, WriteError};
use crate::types::{
    ApplyResponse, ClientWriteError, LogPayload, NodeId, Raft, ServerState, BATCH_PROPOSALS_MAX,
    PROPOSAL_BYTES_MAX,
};

/// A caller's outcome: committed and applied (`Ok`, with the command's own result),
/// or not committed here (`Err`).
pub type WriteOutcome = Result<Result<Applied, StateError>, WriteError>;

/// Proposals waiting for the batcher. When full, `write` waits (backpressure on the
/// API) instead of queueing without limit. Four full batches' worth.
pub const WRITE_QUEUE_MAX: usize = 4 * BATCH_PROPOSALS_MAX;

/// A batch stops growing once its proposals' encoded bytes would pass this (a single
/// larger proposal still goes alone, up to `PROPOSAL_BYTES_MAX`). Keeps an entry,
/// and so an AppendEntries message and an apply under the state lock, small.
pub const BATCH_BYTES_MAX: usize = 256 * 1024;

/// Entries proposed by the batcher and not yet applied. Small on purpose: while
/// these are in flight the next batch grows; a larger value splits the same load
/// into more, smaller entries. Two to three keep the log, the replication streams
/// and the apply busy at the same time.
pub const BATCHES_IN_FLIGHT_MAX: usize = 3;

const _: () = assert!(BATCH_BYTES_MAX <= PROPOSAL_BYTES_MAX);

struct Pending {
    proposal: Proposal,
    encoded: Vec<u8>,
    reply: oneshot::Sender<WriteOutcome>,
}

/// The leader-side write path of one node. Dropping it (with its `RaftNode`)
/// closes the queue and ends the batcher task.
pub(crate) struct Batcher {
    tx: mpsc::Sender<Pending>,
    raft: Raft,
    disk: Arc<DiskGuard>,
}

/// Refuses a new proposal when the free-space guard says it must not be proposed
/// (see [`DiskGuard::admit`]). Only a leader refuses: elsewhere openraft answers
/// with a redirect, which a follower with a full disk still gives.
pub(crate) fn admit(raft: &Raft, disk: &DiskGuard) -> Result<(), WriteError> {
    let metrics = raft.metrics();
    let m = metrics.borrow();
    if m.state != ServerState::Leader {
        return Ok(());
    }
    disk.admit(m.membership_config.membership().get_joint_config())
        .map_err(|nodes| WriteError::DiskFull { nodes })
}

impl Batcher {
    /// Starts the batcher task; it needs the tokio runtime.
    pub(crate) fn start(raft: Raft, node: NodeId, disk: Arc<DiskGuard>) -> Batcher {
        let (tx, rx) = mpsc::channel(WRITE_QUEUE_MAX);
        tokio::spawn(run(raft.clone(), rx, node, disk.clone()));
        Batcher { tx, raft, disk }
    }

    /// Proposes `proposal` in the next batch and waits for its own outcome.
    pub(crate) async fn write(&self, proposal: Proposal) -> WriteOutcome {
        // Encoded here, on the caller's task, so the batcher only copies bytes; the
        // size is known before anything is proposed.
        let encoded = proposal.encode();
        if encoded.len() > PROPOSAL_BYTES_MAX {
            // Refused before proposing: nothing is committed, and a retry with the
            // same request id is refused the same way.
            return Ok(Err(StateError::new(
                Reason::LimitExceeded,
                format!(
                    "request of {} bytes is over the {PROPOSAL_BYTES_MAX} bytes a log entry carries",
                    encoded.len()
                ),
            )));
        }
        admit(&self.raft, &self.disk)?;
        let (reply, rx) = oneshot::channel();
        self.tx
            .send(Pending {
                proposal,
                encoded,
                reply,
            })
            .await
            .map_err(|_| WriteError::Fatal("write batcher stopped".into()))?;
        rx.await
            .map_err(|_| WriteError::Interrupted("write batcher dropped the request".into()))?
    }
}

async fn run(raft: Raft, mut rx: mpsc::Receiver<Pending>, node: NodeId, disk: Arc<DiskGuard>) {
    let slots = Arc::new(Semaphore::new(BATCHES_IN_FLIGHT_MAX));
    // A proposal that did not fit the previous batch's byte bound opens the next.
    let mut carry: Option<Pending> = None;
    loop {
        // A free slot first: while all are taken, requests wait in the queue and
        // join the next batch together.
        let Ok(slot) = slots.clone().acquire_owned().await else {
            return;
        };
        let first = match carry.take() {
            Some(p) => p,
            None => match rx.recv().await {
                Some(p) => p,
                None => {
                    tracing::debug!(node, "write queue closed; batcher stops");
                    return;
                }
            },
        };
        let mut bytes = first.encoded.len();
        let mut batch = Vec::with_capacity(rx.len().min(BATCH_PROPOSALS_MAX - 1) + 1);
        batch.push(first);
        while batch.len() < BATCH_PROPOSALS_MAX {
            let Ok(p) = rx.try_recv() else { break };
            if bytes + p.encoded.len() > BATCH_BYTES_MAX {
                carry = Some(p);
                break;
            }
            bytes += p.encoded.len();
            batch.push(p);
        }

        if let Err(e) = admit(&raft, &disk) {
            let replies = batch.into_iter().map(|p| p.reply).collect();
            fail_all(replies, &e);
            continue;
        }

        let mut proposals = Vec::with_capacity(batch.len());
        let mut encoded = Vec::with_capacity(batch.len());
        let mut replies = Vec::with_capacity(batch.len());
        for p in batch {
            proposals.push(p.proposal);
            encoded.push(p.encoded);
            replies.push(p.reply);
        }
        let refs: Vec<&[u8]> = encoded.iter().map(Vec::as_slice).collect();
        let payload = LogPayload::from_encoded(proposals, &refs);
        drop(refs);
        drop(encoded);

        // Submitted here, in queue order; only the wait for the outcome is
        // concurrent.
        match raft.client_write_ff(payload).await {
            Ok(outcome) => {
                tokio::spawn(deliver(outcome, replies, slot));
            }
            Err(fatal) => fail_all(replies, &fatal_error(fatal)),
        }
    }
}

/// Waits for one batch's entry to be applied and answers each of its callers.
async fn deliver<F, E>(
    outcome: F,
    replies: Vec<oneshot::Sender<WriteOutcome>>,
    slot: OwnedSemaphorePermit,
) where
    F: Future<Output = Result<openraft::raft::ClientWriteResult<crate::TypeConfig>, E>>,
{
    let result = outcome.await;
    // The slot is free once the entry is applied (or failed), before answering.
    drop(slot);
    let resp = match result {
        Err(_) => {
            // The entry was proposed (maybe appended, replicated, committed): its
            // outcome is unknown, not a failure.
            return fail_all(
                replies,
                &WriteError::Interrupted("raft stopped before the batch was applied".into()),
            );
        }
        Ok(Err(e)) => return fail_all(replies, &client_write_error(e)),
        Ok(Ok(resp)) => resp,
    };
    match resp.data {
        ApplyResponse::Batch(outcomes) if outcomes.len() == replies.len() => {
            for (reply, outcome) in replies.into_iter().zip(outcomes) {
                // A caller that gave up (timeout) dropped its receiver; its request
                // is committed all the same, and a retry finds its outcome.
                let _ = reply.send(Ok(outcome));
            }
        }
        other => {
            let msg = format!(
                "entry {} of a batch of {} applied as {}",
                resp.log_id,
                replies.len(),
                match other {
                    ApplyResponse::Batch(o) => format!("a batch of {}", o.len()),
                    ApplyResponse::Internal => "a raft-internal entry".into(),
                }
            );
            tracing::error!(%msg, "apply returned outcomes that do not match the batch");
            fail_all(replies, &WriteError::Fatal(msg));
        }
    }
}

fn fail_all(replies: Vec<oneshot::Sender<WriteOutcome>>, e: &WriteError) {
    for reply in replies {
        let _ = reply.send(Err(e.clone()));
    }
}

fn fatal_error(f: Fatal<NodeId>) -> WriteError {
    WriteError::Fatal(f.to_string())
}

/// openraft's refusal of a client write, in PrismNET's terms.
pub(crate) fn client_write_error(e: ClientWriteError) -> WriteError {
    match e {
        ClientWriteError::ForwardToLeader(f) => redirect(
            f,
            |id, leader| WriteError::NotLeader {
                leader_id: Some(id),
                leader,
            },
            WriteError::NoLeader,
        ),
        ClientWriteError::ChangeMembershipError(e) => WriteError::Fatal(e.to_string()),
    }
}
