//! The simulated disk under one node's Raft log: RocksDB's durability contract,
//! and a crash that keeps only what was flushed.
//!
//! Two images of the log: `written` (what reads see: appended, maybe not yet
//! flushed) and `durable` (what survives a crash). Contract, as
//! `raft/src/store/log_store.rs` keeps it on RocksDB:
//! - `append` writes at once and reports the entries flushed (openraft may then
//!   count them towards a quorum) only after a simulated fsync, whose latency the
//!   seed draws; one flusher per store, so flushes complete in append order and
//!   each covers every earlier write (`durable = written`);
//! - `save_vote`, `truncate` and `purge` are synced writes: durable when they return;
//! - `save_committed` is not synced.
//!
//! A crash ([`Disk::crash`]) sets `written` back to `durable`; with `torn`, a
//! seeded prefix of the unflushed entries survives too (a real disk may keep part
//! of what was never fsynced). The failpoint `ack-before-fsync` reports appends
//! flushed at once, as the chaos suite's teeth do with RocksDB.

use std::collections::BTreeMap;
use std::fmt::Debug;
use std::ops::RangeBounds;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use openraft::storage::{LogFlushed, LogState, RaftLogStorage};
use openraft::{OptionalSend, RaftLogReader};
use prismnet_raft::types::{Entry, LogId, StorageError, Vote};
use prismnet_raft::TypeConfig;
use tokio::sync::mpsc;

/// Simulated fsync latency, drawn per flush.
const FSYNC_MS_MIN: u64 = 1;
const FSYNC_MS_MAX: u64 = 8;

#[derive(Clone, Debug, Default, PartialEq)]
struct Image {
    entries: BTreeMap<u64, Entry>,
    vote: Option<Vote>,
    committed: Option<LogId>,
    last_purged: Option<LogId>,
}

/// One node's disk; it outlives the node's crashes (the driver holds it).
#[derive(Debug)]
pub struct Disk {
    written: Image,
    durable: Image,
    rng: fastrand::Rng,
    /// Bumped by a crash: a flush begun before it must not make anything durable.
    generation: u64,
}

pub type SharedDisk = Arc<Mutex<Disk>>;

impl Disk {
    pub fn new(seed: u64) -> SharedDisk {
        Arc::new(Mutex::new(Disk {
            written: Image::default(),
            durable: Image::default(),
            rng: fastrand::Rng::with_seed(seed),
            generation: 0,
        }))
    }

    /// Power loss: everything not flushed is gone, but for a torn prefix of the
    /// unflushed entries when `torn`. Returns how many entries were lost.
    pub fn crash(&mut self, torn: bool) -> usize {
        self.generation += 1;
        let mut survivor = self.durable.clone();
        let first = survivor
            .entries
            .last_key_value()
            .map(|(k, _)| k + 1)
            .or_else(|| survivor.last_purged.map(|l| l.index + 1))
            .unwrap_or(0);
        let unflushed: Vec<&Entry> = self
            .written
            .entries
            .range(first..)
            .map(|(_, e)| e)
            .collect();
        let kept = if torn && !unflushed.is_empty() {
            self.rng.usize(0..=unflushed.len())
        } else {
            0
        };
        // Only a contiguous prefix survives: a log with a hole is not a log.
        for (index, e) in (first..).zip(unflushed.iter().take(kept)) {
            if e.log_id.index != index {
                break;
            }
            survivor.entries.insert(index, (*e).clone());
        }
        let lost = self
            .written
            .entries
            .len()
            .saturating_sub(survivor.entries.len());
        self.written = survivor;
        lost
    }

    /// Log ids of the entries in `range` that reads see now.
    pub fn written_ids(&self, range: std::ops::RangeInclusive<u64>) -> Vec<(u64, LogId)> {
        self.written
            .entries
            .range(range)
            .map(|(k, e)| (*k, e.log_id))
            .collect()
    }

    fn fsync_delay(&mut self) -> Duration {
        Duration::from_millis(self.rng.u64(FSYNC_MS_MIN..=FSYNC_MS_MAX))
    }
}

fn lock(d: &SharedDisk) -> std::sync::MutexGuard<'_, Disk> {
    d.lock().unwrap_or_else(|p| p.into_inner())
}

/// openraft's log store over a [`Disk`].
#[derive(Clone)]
pub struct SimLog {
    disk: SharedDisk,
    committed: Arc<AtomicU64>,
    flusher: Option<mpsc::UnboundedSender<LogFlushed<TypeConfig>>>,
}

impl SimLog {
    pub fn new(disk: SharedDisk) -> SimLog {
        SimLog {
            disk,
            committed: Arc::default(),
            flusher: None,
        }
    }

    pub fn committed_handle(&self) -> Arc<AtomicU64> {
        self.committed.clone()
    }

    /// Never set: the simulated disk does not fail writes (a full disk is the
    /// free-space guard's figure, see `crate::node`).
    pub fn failed_handle(&self) -> Arc<AtomicBool> {
        Arc::new(AtomicBool::new(false))
    }

    /// Waits a simulated fsync, then makes what is written durable. A write
    /// begun before a crash never completes.
    async fn synced<T>(&self, f: impl FnOnce(&mut Image) -> T) -> T {
        let (delay, generation, out) = {
            let mut d = lock(&self.disk);
            let out = f(&mut d.written);
            (d.fsync_delay(), d.generation, out)
        };
        tokio::time::sleep(delay).await;
        let mut d = lock(&self.disk);
        if d.generation == generation {
            d.durable = d.written.clone();
        }
        out
    }
}

/// Flushes in append order: each flush covers every write before it.
async fn run_flusher(disk: SharedDisk, mut rx: mpsc::UnboundedReceiver<LogFlushed<TypeConfig>>) {
    while let Some(first) = rx.recv().await {
        let mut waiting = vec![first];
        let (delay, generation) = {
            let mut d = lock(&disk);
            (d.fsync_delay(), d.generation)
        };
        tokio::time::sleep(delay).await;
        while let Ok(more) = rx.try_recv() {
            waiting.push(more);
        }
        {
            let mut d = lock(&disk);
            if d.generation != generation {
                return;
            }
            d.durable = d.written.clone();
        }
        for cb in waiting {
            cb.log_io_completed(Ok(()));
        }
    }
}

impl RaftLogReader<TypeConfig> for SimLog {
    async fn try_get_log_entries<RB: RangeBounds<u64> + Clone + Debug + OptionalSend>(
        &mut self,
        range: RB,
    ) -> Result<Vec<Entry>, StorageError> {
        let d = lock(&self.disk);
        Ok(d.written
            .entries
            .range(range)
            .map(|(_, e)| e.clone())
            .collect())
    }
}

impl RaftLogStorage<TypeConfig> for SimLog {
    type LogReader = SimLog;

    async fn get_log_state(&mut self) -> Result<LogState<TypeConfig>, StorageError> {
        let d = lock(&self.disk);
        let last_purged = d.written.last_purged;
        let last = d.written.entries.last_key_value().map(|(_, e)| e.log_id);
        Ok(LogState {
            last_purged_log_id: last_purged,
            last_log_id: last.or(last_purged),
        })
    }

    async fn get_log_reader(&mut self) -> SimLog {
        self.clone()
    }

    async fn save_vote(&mut self, vote: &Vote) -> Result<(), StorageError> {
        let vote = *vote;
        self.synced(|w| w.vote = Some(vote)).await;
        Ok(())
    }

    async fn read_vote(&mut self) -> Result<Option<Vote>, StorageError> {
        Ok(lock(&self.disk).written.vote)
    }

    async fn save_committed(&mut self, committed: Option<LogId>) -> Result<(), StorageError> {
        if let Some(c) = &committed {
            self.committed.fetch_max(c.index, Ordering::Relaxed);
        }
        lock(&self.disk).written.committed = committed;
        Ok(())
    }

    async fn read_committed(&mut self) -> Result<Option<LogId>, StorageError> {
        let c = lock(&self.disk).written.committed;
        if let Some(c) = &c {
            self.committed.fetch_max(c.index, Ordering::Relaxed);
        }
        Ok(c)
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
        {
            let mut d = lock(&self.disk);
            for e in entries {
                d.written.entries.insert(e.log_id.index, e);
            }
        }
        if prismnet_state::failpoints::enabled("ack-before-fsync") {
            callback.log_io_completed(Ok(()));
            return Ok(());
        }
        let disk = self.disk.clone();
        let flusher = self.flusher.get_or_insert_with(|| {
            let (tx, rx) = mpsc::unbounded_channel();
            tokio::spawn(run_flusher(disk, rx));
            tx
        });
        // A flusher gone with a crash: the callback is dropped, as the process is.
        let _ = flusher.send(callback);
        Ok(())
    }

    async fn truncate(&mut self, log_id: LogId) -> Result<(), StorageError> {
        self.synced(|w| {
            w.entries.split_off(&log_id.index);
        })
        .await;
        Ok(())
    }

    async fn purge(&mut self, log_id: LogId) -> Result<(), StorageError> {
        self.synced(|w| {
            if w.last_purged.is_some_and(|p| p >= log_id) {
                return;
            }
            w.last_purged = Some(log_id);
            w.entries = w.entries.split_off(&(log_id.index + 1));
        })
        .await;
        Ok(())
    }
}
