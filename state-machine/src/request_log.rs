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
//!   index is evicted, the same on every replica.

use std::collections::BTreeMap;

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

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RequestLog {
    by_key: BTreeMap<RequestKey, RequestRecord>,
    /// (log index, position in the entry) -> key, to evict in log order.
    by_index: BTreeMap<(u64, u32), RequestKey>,
}

impl RequestLog {
    pub fn get(&self, key: &RequestKey) -> Option<&RequestRecord> {
        self.by_key.get(key)
    }

    pub fn record(&mut self, key: RequestKey, rec: RequestRecord, retention: u32) {
        debug_assert!(!self.by_key.contains_key(&key));
        self.by_index.insert((rec.index, rec.position), key.clone());
        self.by_key.insert(key, rec);
        self.evict_to(retention);
    }

    /// Drops the oldest entries until at most `retention` remain.
    pub fn evict_to(&mut self, retention: u32) {
        while self.by_key.len() > retention as usize {
            let Some((_, key)) = self.by_index.pop_first() else {
                break;
            };
            self.by_key.remove(&key);
        }
    }

    /// Entries in log order (the snapshot order).
    pub fn iter(&self) -> impl Iterator<Item = (&RequestKey, &RequestRecord)> {
        self.by_index.values().map(|k| (k, &self.by_key[k]))
    }
}

/// What identifies "the same request": who sent it and the command as the client
/// sent it (the leader's stamp is excluded).
pub fn fingerprint(actor: &Actor, command: &Command) -> u128 {
    let bytes =
        postcard::to_stdvec(&(actor, command)).expect("in-memory serialization cannot fail");
    xxhash_rust::xxh3::xxh3_128(&bytes)
}
