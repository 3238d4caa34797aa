//! Idempotency: the request ids seen recently and what each did.
//!
//! Invariants:
//! - a key (actor scope, request id) maps to the outcome of the command that first
//!   used it, plus a fingerprint of that command; a later command with the same key
//!   and the same fingerprint is answered from here and changes nothing, one with
//!   another fingerprint is refused (`request_id_conflict`);
//! - only successful commands are recorded: a rejected command changed nothing, so
//!   retrying it is safe and may succeed;
//! - retention is bounded: beyond `request_id_retention` entries the oldest by log
//!   index is evicted, the same on every replica;
//! - `forgotten_through` is the highest log index of any evicted record (0 while
//!   none was): every record above it is still here.
//!
//! Why a retry can never allocate twice, even after its record was evicted: a
//! client request carries `seen_index`, an index the client saw applied before its
//! first attempt, the same on every attempt. An entry appended after index `s` was
//! applied has an index above `s` (it was proposed later), so a request that was
//! ever applied has its record at an index above its `seen_index`. When a request
//! id is not found here:
//! - `seen_index >= forgotten_through`: had it been applied, its record would be
//!   above `forgotten_through`, hence still here; it never was, and applies now;
//! - `seen_index < forgotten_through`: it may have been applied and forgotten, so it
//!   is refused with `request_expired`, a definite answer that changes nothing and
//!   tells the caller to look the resource up instead of guessing.
//!
//! A fresh client learns a recent index from its first answer (every answer carries
//! the node's applied index), so only requests whose first attempt is older than
//! the retention meet the refusal.

use std::collections::BTreeMap;
use std::sync::Arc;

use serde::{Deserialize, Serialize};

use crate::command::{Command, Outcome};
use crate::scope::Actor;

/// (actor's request scope, request id)
pub type RequestKey = (String, String);

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RequestRecord {
    pub index: u64,
    /// Position of the request within its log entry (entries may carry a batch).
    pub position: u32,
    pub fingerprint: u128,
    pub outcome: Outcome,
}

/// One remembered request, shared (`Arc`) so that a snapshot takes the log in
/// log order with pointer copies and encodes it after releasing the state's lock.
pub type RequestEntry = Arc<(RequestKey, RequestRecord)>;

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RequestLog {
    /// key -> (log index, position in the entry): where `by_index` keeps it.
    by_key: BTreeMap<RequestKey, (u64, u32)>,
    /// (log index, position in the entry) -> the request: log order, in which
    /// records are evicted and written to snapshots.
    by_index: BTreeMap<(u64, u32), RequestEntry>,
    /// Highest log index of an evicted record; 0 while none was evicted.
    forgotten_through: u64,
}

impl RequestLog {
    pub fn get(&self, key: &RequestKey) -> Option<&RequestRecord> {
        let at = self.by_key.get(key)?;
        self.by_index.get(at).map(|e| &e.1)
    }

    pub fn record(&mut self, key: RequestKey, rec: RequestRecord, retention: u32) {
        debug_assert!(!self.by_key.contains_key(&key));
        let at = (rec.index, rec.position);
        self.by_key.insert(key.clone(), at);
        self.by_index.insert(at, Arc::new((key, rec)));
        self.evict_to(retention);
    }

    /// Drops the oldest entries until at most `retention` remain.
    pub fn evict_to(&mut self, retention: u32) {
        while self.by_key.len() > retention as usize {
            let Some(((index, _), entry)) = self.by_index.pop_first() else {
                break;
            };
            self.by_key.remove(&entry.0);
            self.forgotten_through = self.forgotten_through.max(index);
        }
    }

    /// Every record at a log index above this one is still here (see the module
    /// docs); 0 while nothing was evicted.
    pub fn forgotten_through(&self) -> u64 {
        self.forgotten_through
    }

    /// Restores the horizon from a snapshot.
    pub(crate) fn set_forgotten_through(&mut self, index: u64) {
        self.forgotten_through = index;
    }

    /// Whether a request not found here may have been applied and forgotten:
    /// see the module docs. `None` (an id new by construction) never may.
    pub fn may_have_forgotten(&self, seen_index: Option<u64>) -> bool {
        seen_index.is_some_and(|seen| seen < self.forgotten_through)
    }

    pub fn len(&self) -> usize {
        self.by_key.len()
    }

    pub fn is_empty(&self) -> bool {
        self.by_key.is_empty()
    }

    /// Log index of the oldest record kept.
    pub fn oldest_index(&self) -> Option<u64> {
        self.by_index.keys().next().map(|(i, _)| *i)
    }

    /// Entries in log order (the snapshot order).
    pub fn entries(&self) -> impl Iterator<Item = &RequestEntry> {
        self.by_index.values()
    }
}

/// What identifies "the same request": who sent it and the command as the client
/// sent it (the leader's stamp is excluded).
pub fn fingerprint(actor: &Actor, command: &Command) -> u128 {
    let bytes =
        postcard::to_stdvec(&(actor, command)).expect("in-memory serialization cannot fail");
    xxhash_rust::xxh3::xxh3_128(&bytes)
}
