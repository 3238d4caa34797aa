//! The Raft log and vote in RocksDB.
//!
//! Column families:
//! - `logs`: key = log index as 8 big-endian bytes (so key order is index order),
//!   value = postcard(Entry);
//! - `meta`: `vote`, `last_purged`, `committed`, each postcard-encoded.
//!
//! Durability (openraft's contract: acknowledge only what survives a crash):
//! - every `append` is one `WriteBatch`, written to the WAL at once, and its flush
//!   callback runs only after a WAL fsync that covers it (group commit: the syncer
//!   task fsyncs once for every append queued since its last fsync, so concurrent
//!   client writes, which openraft 0.9 appends one by one, share an fsync);
//! - `save_vote`, `truncate` and `purge` are synced writes too;
//! - `purge` records `last_purged` and deletes the entries in one batch, so the
//!   log state can never claim entries that were deleted, or lose the purge point;
//! - `committed` is written without sync: openraft tolerates a stale committed index
//!   (it only re-applies less at start; Raft re-commits the rest).
//!
//! A RocksDB failure (disk full, I/O error) is returned as a `StorageError`;
//! openraft then stops this Raft instance rather than run on a log it cannot trust.
//! Invariant: after the first failed write or WAL sync, this store (and every
//! clone) refuses all later writes and syncs without calling RocksDB, and no
//! append is acknowledged any more. Besides keeping a failed log frozen, this
//! matters because the librocksdb we link is built with assertions: a sync of a
//! WAL file whose write failed aborts the process (`WritableFileWriter::
//! AssertFalseAndGetStatusForPrevError`). One race remains: a WAL sync already
//! past the check while an append fails at that moment. What an abort then costs
//! is the clean exit, not data: nothing unsynced was acknowledged.

use std::fmt::Debug;
use std::ops::{Bound, RangeBounds};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Weak};

use openraft::storage::{LogFlushed, RaftLogStorage};
use openraft::{AnyError, OptionalSend, RaftLogReader};
use rocksdb::{ColumnFamily, Direction, IteratorMode, WriteBatch, WriteOptions, DB};
use tokio::sync::mpsc;

use crate::codec;
use crate::types::{Entry, LogId, LogState, StorageError, StorageIOError, TypeConfig, Vote};

pub(crate) const CF_LOGS: &str = "logs";
pub(crate) const CF_META: &str = "meta";

const KEY_VOTE: &[u8] = b"vote";
const KEY_LAST_PURGED: &[u8] = b"last_purged";
const KEY_COMMITTED: &[u8] = b"committed";

/// Upper bound on entries returned by one read, whatever range openraft asks for:
/// replication asks for at most `max_payload_entries`, but a bound here keeps a
/// single read's memory in check even if it does not.
const READ_ENTRIES_MAX: usize = 10_000;

fn index_key(index: u64) -> [u8; 8] {
    index.to_be_bytes()
}

fn key_index(key: &[u8]) -> Option<u64> {
    Some(u64::from_be_bytes(key.try_into().ok()?))
}

fn any(e: impl std::fmt::Display) -> AnyError {
    AnyError::error(e.to_string())
}

/// Appends waiting for the syncer; bounds the memory of a stalled disk, and makes
/// `append` wait (backpressure) rather than queue without limit.
const SYNC_QUEUE_MAX: usize = 4096;

#[derive(Clone)]
pub struct LogStore {
    db: Arc<DB>,
    /// Started by the first append (it needs the async runtime); readers made by
    /// `get_log_reader` never append and never start one.
    syncer: Option<mpsc::Sender<LogFlushed<TypeConfig>>>,
    /// Last committed index seen by `save_committed`, for status reports (openraft's
    /// metrics do not carry it). 0 until the first commit.
    committed: Arc<AtomicU64>,
    /// Set by the first failed write or sync; see the module doc.
    failed: Arc<AtomicBool>,
}

const FAILED_BEFORE: &str =
    "an earlier RocksDB write or sync failed; the log takes no more writes until the node restarts";

impl LogStore {
    pub(crate) fn new(db: Arc<DB>) -> LogStore {
        LogStore {
            db,
            syncer: None,
            committed: Arc::new(AtomicU64::new(0)),
            failed: Arc::new(AtomicBool::new(false)),
        }
    }

    /// Shared view of the committed index.
    pub(crate) fn committed_handle(&self) -> Arc<AtomicU64> {
        self.committed.clone()
    }

    /// Shared flag: a write or sync failed (the database must not be written,
    /// synced or flushed again by this process).
    pub(crate) fn failed_handle(&self) -> Arc<AtomicBool> {
        self.failed.clone()
    }

    fn usable(&self) -> Result<(), AnyError> {
        if self.failed.load(Ordering::SeqCst) {
            return Err(any(FAILED_BEFORE));
        }
        Ok(())
    }

    /// Marks the store failed when `r` is an error.
    fn note<T>(&self, r: Result<T, rocksdb::Error>) -> Result<T, AnyError> {
        r.map_err(|e| {
            self.failed.store(true, Ordering::SeqCst);
            tracing::error!(error = %e, "RocksDB write failed; the log takes no more writes");
            any(e)
        })
    }

    fn cf(&self, name: &str) -> &ColumnFamily {
        // Both families are created by `store::open` before a LogStore exists.
        self.db
            .cf_handle(name)
            .expect("column family created at open")
    }

    fn get_meta<T: serde::de::DeserializeOwned>(
        &self,
        key: &'static [u8],
    ) -> Result<Option<T>, AnyError> {
        match self.db.get_cf(self.cf(CF_META), key).map_err(any)? {
            None => Ok(None),
            Some(bytes) => Ok(Some(codec::decode(meta_name(key), &bytes).map_err(any)?)),
        }
    }

    /// A write in its own blocking thread: a synced write waits for fsync, which must
    /// not hold up the async workers that run replication and the API.
    async fn write(&self, batch: WriteBatch, sync: bool) -> Result<(), AnyError> {
        self.usable()?;
        let db = self.db.clone();
        let failed = self.failed.clone();
        let written = tokio::task::spawn_blocking(move || {
            // Checked again on the thread that writes: another write may have
            // failed while this one waited for a thread.
            if failed.load(Ordering::SeqCst) {
                return Ok(Err(any(FAILED_BEFORE)));
            }
            let mut opts = WriteOptions::default();
            opts.set_sync(sync);
            db.write_opt(batch, &opts).map(Ok)
        })
        .await
        .map_err(any)?;
        self.note(written)?
    }

    fn last_purged(&self) -> Result<Option<LogId>, AnyError> {
        self.get_meta(KEY_LAST_PURGED)
    }

    fn read_range(&self, start: u64, end: Bound<u64>) -> Result<Vec<Entry>, AnyError> {
        let mut out = Vec::new();
        let key = index_key(start);
        let iter = self.db.iterator_cf(
            self.cf(CF_LOGS),
            IteratorMode::From(&key, Direction::Forward),
        );
        for item in iter {
            let (k, v) = item.map_err(any)?;
            let index = key_index(&k).ok_or_else(|| any("log key is not 8 bytes"))?;
            let past_end = match end {
                Bound::Included(e) => index > e,
                Bound::Excluded(e) => index >= e,
                Bound::Unbounded => false,
            };
            if past_end || out.len() >= READ_ENTRIES_MAX {
                break;
            }
            let entry: Entry = codec::decode("log entry", &v).map_err(any)?;
            // Invariant: an entry is stored under its own index.
            if entry.log_id.index != index {
                return Err(any(format!(
                    "log entry {} stored under index {index}",
                    entry.log_id
                )));
            }
            out.push(entry);
        }
        Ok(out)
    }
}

/// Group commit: waits for queued appends, fsyncs the WAL once for all of them, then
/// acknowledges them in order. Holds the database weakly so that a stopped node's
/// RocksDB closes (and unlocks) as soon as the node drops it.
async fn run_syncer(
    db: Weak<DB>,
    failed: Arc<AtomicBool>,
    mut rx: mpsc::Receiver<LogFlushed<TypeConfig>>,
) {
    let mut pending = Vec::with_capacity(SYNC_QUEUE_MAX);
    while rx.recv_many(&mut pending, SYNC_QUEUE_MAX).await > 0 {
        let db = db.clone();
        let failed = failed.clone();
        let synced = tokio::task::spawn_blocking(move || {
            // Checked right before the sync: see the module doc.
            if failed.load(Ordering::SeqCst) {
                return Err(FAILED_BEFORE.to_string());
            }
            match db.upgrade() {
                Some(db) => db.flush_wal(true).map_err(|e| {
                    failed.store(true, Ordering::SeqCst);
                    e.to_string()
                }),
                None => Err("database closed before the WAL was synced".to_string()),
            }
        })
        .await
        .unwrap_or_else(|e| Err(e.to_string()));
        if let Err(e) = &synced {
            tracing::error!(error = %e, "WAL fsync failed; appends are not acknowledged");
        }
        for callback in pending.drain(..) {
            callback.log_io_completed(synced.clone().map_err(std::io::Error::other));
        }
    }
}

fn meta_name(key: &[u8]) -> &'static str {
    match key {
        KEY_VOTE => "vote",
        KEY_LAST_PURGED => "last purged log id",
        KEY_COMMITTED => "committed log id",
        _ => "meta",
    }
}

impl RaftLogReader<TypeConfig> for LogStore {
    async fn try_get_log_entries<RB: RangeBounds<u64> + Clone + Debug + OptionalSend>(
        &mut self,
        range: RB,
    ) -> Result<Vec<Entry>, StorageError> {
        let start = match range.start_bound() {
            Bound::Included(s) => *s,
            Bound::Excluded(s) => s.saturating_add(1),
            Bound::Unbounded => 0,
        };
        self.read_range(start, range.end_bound().cloned())
            .map_err(|e| StorageIOError::read_logs(e).into())
    }
}

impl RaftLogStorage<TypeConfig> for LogStore {
    type LogReader = LogStore;

    async fn get_log_state(&mut self) -> Result<LogState, StorageError> {
        let last_purged = self.last_purged().map_err(StorageIOError::read_logs)?;
        let last = self
            .db
            .iterator_cf(self.cf(CF_LOGS), IteratorMode::End)
            .next()
            .transpose()
            .map_err(|e| StorageIOError::read_logs(any(e)))?;
        let last_log_id = match last {
            None => last_purged,
            Some((_, v)) => {
                let e: Entry = codec::decode("log entry", &v)
                    .map_err(|e| StorageIOError::read_logs(any(e)))?;
                Some(e.log_id)
            }
        };
        Ok(LogState {
            last_purged_log_id: last_purged,
            last_log_id,
        })
    }

    async fn get_log_reader(&mut self) -> LogStore {
        self.clone()
    }

    async fn save_vote(&mut self, vote: &Vote) -> Result<(), StorageError> {
        let bytes = codec::encode("vote", vote).map_err(|e| StorageIOError::write_vote(any(e)))?;
        let mut batch = WriteBatch::default();
        batch.put_cf(self.cf(CF_META), KEY_VOTE, bytes);
        self.write(batch, true)
            .await
            .map_err(|e| StorageIOError::write_vote(e).into())
    }

    async fn read_vote(&mut self) -> Result<Option<Vote>, StorageError> {
        self.get_meta(KEY_VOTE)
            .map_err(|e| StorageIOError::read_vote(e).into())
    }

    async fn save_committed(&mut self, committed: Option<LogId>) -> Result<(), StorageError> {
        if let Some(c) = &committed {
            self.committed.fetch_max(c.index, Ordering::Relaxed);
        }
        let bytes = codec::encode("committed", &committed)
            .map_err(|e| StorageIOError::write_logs(any(e)))?;
        // Inline, not on a blocking thread: an unsynced write only copies into the
        // WAL buffer (microseconds, like `append` below), while a hop to the blocking
        // pool and back costs more than that, on every commit, in RaftCore's task.
        self.usable().map_err(StorageIOError::write_logs)?;
        let written = self.db.put_cf(self.cf(CF_META), KEY_COMMITTED, bytes);
        self.note(written)
            .map_err(|e| StorageIOError::write_logs(e).into())
    }

    async fn read_committed(&mut self) -> Result<Option<LogId>, StorageError> {
        let committed: Option<Option<LogId>> = self
            .get_meta(KEY_COMMITTED)
            .map_err(StorageIOError::read_logs)?;
        let committed = committed.flatten();
        if let Some(c) = &committed {
            self.committed.fetch_max(c.index, Ordering::Relaxed);
        }
        Ok(committed)
    }

    async fn append<I>(
        &mut self,
        entries: I,
        callback: LogFlushed<TypeConfig>,
    ) -> Result<(), StorageError>
    where
        I: IntoIterator<Item = Entry> + OptionalSend,
        I::IntoIter: OptionalSend,
    {
        let mut batch = WriteBatch::default();
        for entry in entries {
            let bytes = codec::encode("log entry", &entry)
                .map_err(|e| StorageIOError::write_log_entry(entry.log_id, any(e)))?;
            batch.put_cf(self.cf(CF_LOGS), index_key(entry.log_id.index), bytes);
        }
        // Written now, in append order (a WAL write without fsync takes microseconds);
        // durable later. The callback tells openraft the entries are on disk (it may
        // then count them towards a quorum), so only the syncer calls it, after an
        // fsync of the WAL that covers this write.
        self.usable().map_err(StorageIOError::write_logs)?;
        let written = self.db.write_opt(batch, &WriteOptions::default());
        self.note(written).map_err(StorageIOError::write_logs)?;
        if prismnet_state::failpoints::enabled("ack-before-fsync") {
            // A deliberate bug for the chaos suite's teeth (off in normal builds).
            callback.log_io_completed(Ok(()));
            return Ok(());
        }
        let db = Arc::downgrade(&self.db);
        let failed = self.failed.clone();
        let syncer = self.syncer.get_or_insert_with(|| {
            let (tx, rx) = mpsc::channel(SYNC_QUEUE_MAX);
            tokio::spawn(run_syncer(db, failed, rx));
            tx
        });
        syncer
            .send(callback)
            .await
            .map_err(|_| StorageIOError::write_logs(any("WAL syncer stopped")))?;
        Ok(())
    }

    async fn truncate(&mut self, log_id: LogId) -> Result<(), StorageError> {
        tracing::debug!(%log_id, "truncating log");
        let mut batch = WriteBatch::default();
        let cf = self.cf(CF_LOGS);
        batch.delete_range_cf(cf, index_key(log_id.index), index_key(u64::MAX));
        batch.delete_cf(cf, index_key(u64::MAX));
        self.write(batch, true)
            .await
            .map_err(|e| StorageIOError::write_logs(e).into())
    }

    async fn purge(&mut self, log_id: LogId) -> Result<(), StorageError> {
        tracing::debug!(%log_id, "purging log");
        if let Some(prev) = self.last_purged().map_err(StorageIOError::read_logs)? {
            // Invariant: the purge point only moves forward.
            if prev >= log_id {
                return Ok(());
            }
        }
        let bytes = codec::encode("last purged", &log_id)
            .map_err(|e| StorageIOError::write_logs(any(e)))?;
        let mut batch = WriteBatch::default();
        batch.put_cf(self.cf(CF_META), KEY_LAST_PURGED, bytes);
        batch.delete_range_cf(
            self.cf(CF_LOGS),
            index_key(0),
            index_key(log_id.index.saturating_add(1)),
        );
        if log_id.index == u64::MAX {
            batch.delete_cf(self.cf(CF_LOGS), index_key(u64::MAX));
        }
        self.write(batch, true)
            .await
            .map_err(|e| StorageIOError::write_logs(e).into())
    }
}
