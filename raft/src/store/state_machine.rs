//! The applied state: `prismnet_state::State` in memory, plus the Raft bookkeeping
//! (last applied log id, last membership) and the snapshot file.
//!
//! Restart: the state is rebuilt from the latest snapshot; openraft then re-applies
//! the committed log after it. Nothing else is persisted per entry, so there is no
//! "applied data ahead of / behind its index" window to reconcile.
//!
//! Invariant (enforced in [`StateMachineStore::apply`]): entries are applied exactly
//! once and without holes: each entry's index is `last_applied + 1` (index 0 on an
//! empty state machine). A hole or a repeat means the log and the snapshot disagree
//! (lost snapshot, purged log, bug); it is returned as a `StorageError`, which stops
//! Raft on this node, instead of guessing.

use std::io::Cursor;
use std::sync::{Arc, RwLock, RwLockReadGuard};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use openraft::storage::RaftStateMachine;
use openraft::{AnyError, OptionalSend, RaftSnapshotBuilder};
use prismnet_state::{Settings, State};
use tokio::sync::watch;

use crate::store::snapshot_file::SnapshotDir;
use crate::types::{
    ApplyResponse, Entry, EntryPayload, LogId, Snapshot, SnapshotMeta, StorageError,
    StorageIOError, StoredMembership, TypeConfig,
};

fn any(e: impl std::fmt::Display) -> AnyError {
    AnyError::error(e.to_string())
}

/// What the state machine holds; guarded by one lock so that a reader sees the state
/// together with the index it reflects.
#[derive(Debug)]
pub struct Applied {
    pub state: State,
    pub last_applied: Option<LogId>,
    pub membership: StoredMembership,
}

/// The applied state, shared between the Raft state machine and readers.
#[derive(Debug)]
pub struct SharedState {
    inner: RwLock<Applied>,
    /// Index of the last applied entry (blank and membership entries included).
    applied_tx: watch::Sender<u64>,
}

impl SharedState {
    fn new(applied: Applied) -> Arc<SharedState> {
        let index = applied.last_applied.map_or(0, |l| l.index);
        Arc::new(SharedState {
            inner: RwLock::new(applied),
            applied_tx: watch::Sender::new(index),
        })
    }

    /// A poisoned lock means a panic while applying (a bug in the state machine):
    /// the state may be half-changed, and reads or writes must not continue.
    pub fn read(&self) -> RwLockReadGuard<'_, Applied> {
        self.inner
            .read()
            .expect("state machine lock poisoned by a panic during apply")
    }

    /// Runs `f` under the read lock, from async code: at once when the lock is
    /// free; when it is not (an apply waits for it, or holds it), off the async
    /// workers (see [`blocking`]), so that waiting never stalls other tasks, Raft's
    /// heartbeats among them. (A waiting writer blocks new readers of a std
    /// `RwLock`; two readers stuck on a 2-worker runtime are a stalled runtime.)
    pub fn with<T>(&self, f: impl FnOnce(&Applied) -> T) -> T {
        match self.inner.try_read() {
            Ok(a) => f(&a),
            Err(std::sync::TryLockError::Poisoned(_)) => f(&self.read()),
            Err(std::sync::TryLockError::WouldBlock) => blocking(|| f(&self.read())),
        }
    }

    /// Index of the last applied entry; unlike openraft's metrics, never behind the
    /// state a reader sees.
    pub fn applied_index(&self) -> u64 {
        *self.applied_tx.borrow()
    }

    pub fn subscribe_applied(&self) -> watch::Receiver<u64> {
        self.applied_tx.subscribe()
    }
}

/// How strictly `apply` checks entry order. Production code has no way to relax
/// it: only the crate's own conformance test does, because openraft's storage suite
/// applies blank entries with gaps on purpose.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum ApplyOrder {
    Contiguous,
    #[cfg(test)]
    Increasing,
}

pub struct StateMachineStore {
    shared: Arc<SharedState>,
    snapshots: SnapshotDir,
    order: ApplyOrder,
}

impl StateMachineStore {
    /// Opens the state machine from the latest snapshot, or empty with `settings`.
    /// Errors here are startup errors: a snapshot that exists but cannot be read is
    /// never replaced by an empty state.
    pub(crate) fn open(
        snapshots: SnapshotDir,
        settings: Settings,
    ) -> Result<StateMachineStore, String> {
        let applied = match snapshots.load().map_err(|e| e.to_string())? {
            None => Applied {
                state: State::new(settings),
                last_applied: None,
                membership: StoredMembership::default(),
            },
            Some((meta, data)) => {
                let state = State::read_snapshot(&data[..]).map_err(|e| e.to_string())?;
                check_snapshot_fits(&meta, &state)?;
                tracing::info!(snapshot = %meta, "state restored from snapshot");
                Applied {
                    state,
                    last_applied: meta.last_log_id,
                    membership: meta.last_membership,
                }
            }
        };
        Ok(StateMachineStore {
            shared: SharedState::new(applied),
            snapshots,
            order: ApplyOrder::Contiguous,
        })
    }

    #[cfg(test)]
    pub(crate) fn with_order(mut self, order: ApplyOrder) -> StateMachineStore {
        self.order = order;
        self
    }

    pub fn shared(&self) -> Arc<SharedState> {
        self.shared.clone()
    }

    /// Applies entries in order (see the module's invariant). Blocks: call it
    /// through [`blocking`]. (openraft's own error type, returned as it is.)
    #[allow(clippy::result_large_err)]
    fn apply_entries<I>(&mut self, entries: I) -> Result<Vec<ApplyResponse>, StorageError>
    where
        I: IntoIterator<Item = Entry>,
    {
        let entries = entries.into_iter();
        let mut replies = Vec::with_capacity(entries.size_hint().0);
        let mut last = None;
        for entry in entries {
            // The lock is taken per entry, so readers interleave with a long batch.
            let mut a = self.write_lock();
            let index = entry.log_id.index;
            let expected = a.last_applied.map_or(0, |l| l.index + 1);
            let in_order = match self.order {
                ApplyOrder::Contiguous => index == expected,
                #[cfg(test)]
                ApplyOrder::Increasing => index >= expected,
            };
            if !in_order {
                tracing::error!(
                    index,
                    expected,
                    "refusing to apply out of order: the log and the state machine disagree"
                );
                return Err(StorageIOError::apply(
                    entry.log_id,
                    any(format!(
                        "entry {} applied after {:?}: expected index {expected}",
                        entry.log_id, a.last_applied
                    )),
                )
                .into());
            }
            let reply = match entry.payload {
                EntryPayload::Blank => ApplyResponse::Internal,
                // One entry, many client requests: each gets its own outcome, and
                // a rejected one changes nothing for the others. The lock is held
                // for the whole batch (bounded by `BATCH_PROPOSALS_MAX`), so a reader
                // never sees half a batch.
                EntryPayload::Normal(p) => {
                    ApplyResponse::Batch(a.state.apply_batch(index, p.proposals()))
                }
                EntryPayload::Membership(m) => {
                    a.membership = StoredMembership::new(Some(entry.log_id), m);
                    ApplyResponse::Internal
                }
            };
            a.last_applied = Some(entry.log_id);
            last = Some(index);
            replies.push(reply);
        }
        if let Some(index) = last {
            self.shared.applied_tx.send_replace(index);
        }
        Ok(replies)
    }

    fn write_lock(&self) -> std::sync::RwLockWriteGuard<'_, Applied> {
        self.shared
            .inner
            .write()
            .expect("state machine lock poisoned by a panic during apply")
    }
}

/// Runs blocking work from an async task: on a multi-threaded runtime through
/// `block_in_place` (the worker's other tasks move to another thread), otherwise
/// (a current-thread runtime, as in unit tests) inline.
pub(crate) fn blocking<T>(f: impl FnOnce() -> T) -> T {
    use tokio::runtime::{Handle, RuntimeFlavor};
    match Handle::try_current().map(|h| h.runtime_flavor()) {
        Ok(RuntimeFlavor::MultiThread) => tokio::task::block_in_place(f),
        _ => f(),
    }
}

/// Runs blocking work off the runtime's threads, as `spawn_blocking` does, except
/// on a current-thread runtime, where it runs inline. A current-thread runtime is
/// what unit tests and the simulator (`sim/`) run on: there, a result arriving
/// from another thread at a moment the wall clock decides would make a seeded
/// run unrepeatable. prismnetd runs a multi-threaded runtime.
pub(crate) async fn offload<T: Send + 'static>(
    f: impl FnOnce() -> T + Send + 'static,
) -> Result<T, tokio::task::JoinError> {
    use tokio::runtime::{Handle, RuntimeFlavor};
    match Handle::try_current().map(|h| h.runtime_flavor()) {
        Ok(RuntimeFlavor::MultiThread) => tokio::task::spawn_blocking(f).await,
        _ => Ok(f()),
    }
}

/// A snapshot's state cannot be ahead of the log position its meta claims.
fn check_snapshot_fits(meta: &SnapshotMeta, state: &State) -> Result<(), String> {
    let claimed = meta.last_log_id.map_or(0, |l| l.index);
    if state.last_index() > claimed {
        return Err(format!(
            "snapshot state is at index {} but its meta says {claimed}",
            state.last_index()
        ));
    }
    Ok(())
}

impl RaftStateMachine<TypeConfig> for StateMachineStore {
    type SnapshotBuilder = SnapshotBuilder;

    async fn applied_state(&mut self) -> Result<(Option<LogId>, StoredMembership), StorageError> {
        let a = self.shared.read();
        Ok((a.last_applied, a.membership.clone()))
    }

    async fn apply<I>(&mut self, entries: I) -> Result<Vec<ApplyResponse>, StorageError>
    where
        I: IntoIterator<Item = Entry> + OptionalSend,
        I::IntoIter: OptionalSend,
    {
        // Apply takes the state's write lock and computes; both block. On a
        // multi-threaded runtime this thread hands its other tasks (Raft's core and
        // replication, heartbeats among them) to another worker meanwhile, so a
        // wait for the lock (a reader holding it) never stalls them.
        #[allow(clippy::result_large_err)]
        let apply = || self.apply_entries(entries);
        blocking(apply)
    }

    async fn get_snapshot_builder(&mut self) -> SnapshotBuilder {
        SnapshotBuilder {
            shared: self.shared.clone(),
            snapshots: self.snapshots.clone(),
        }
    }

    async fn begin_receiving_snapshot(&mut self) -> Result<Box<Cursor<Vec<u8>>>, StorageError> {
        Ok(Box::new(Cursor::new(Vec::new())))
    }

    async fn install_snapshot(
        &mut self,
        meta: &SnapshotMeta,
        snapshot: Box<Cursor<Vec<u8>>>,
    ) -> Result<(), StorageError> {
        let sig = Some(meta.signature());
        let err = |e: String| -> StorageError {
            StorageIOError::read_snapshot(sig.clone(), any(e)).into()
        };
        let data = snapshot.into_inner();
        let dir = self.snapshots.clone();
        let meta_c = meta.clone();
        // Parse (which verifies the checksum and every cross reference) and persist
        // before anything in memory changes: openraft purges the log once this
        // returns, so the snapshot must already be durable by then.
        let state = offload(move || -> Result<State, String> {
            let state = State::read_snapshot(&data[..]).map_err(|e| e.to_string())?;
            check_snapshot_fits(&meta_c, &state)?;
            dir.save(&meta_c, &data).map_err(|e| e.to_string())?;
            Ok(state)
        })
        .await
        .map_err(|e| err(e.to_string()))?
        .map_err(err)?;

        let index = meta.last_log_id.map_or(0, |l| l.index);
        {
            let mut a = self.write_lock();
            a.state = state;
            a.last_applied = meta.last_log_id;
            a.membership = meta.last_membership.clone();
        }
        self.shared.applied_tx.send_replace(index);
        tracing::info!(snapshot = %meta, "installed snapshot from leader");
        Ok(())
    }

    async fn get_current_snapshot(&mut self) -> Result<Option<Snapshot>, StorageError> {
        let dir = self.snapshots.clone();
        let loaded = offload(move || dir.load())
            .await
            .map_err(|e| StorageIOError::read_snapshot(None, any(e)))?
            .map_err(|e| StorageIOError::read_snapshot(None, any(e)))?;
        Ok(loaded.map(|(meta, data)| Snapshot {
            meta,
            snapshot: Box::new(Cursor::new(data)),
        }))
    }
}

/// Builds snapshots off the apply path: a consistent copy is taken under the lock
/// (`State::snapshot_source`), serialization and the fsync happen outside it on a
/// blocking thread.
pub struct SnapshotBuilder {
    shared: Arc<SharedState>,
    snapshots: SnapshotDir,
}

impl RaftSnapshotBuilder<TypeConfig> for SnapshotBuilder {
    async fn build_snapshot(&mut self) -> Result<Snapshot, StorageError> {
        // Under the read lock only the cheap part: a `SnapshotSource` (the ports as
        // shared pointers, the small rest encoded) and the meta. Encoding, writing
        // and the fsync happen after it is released, so applies (and the readers
        // queued behind a waiting apply) wait milliseconds, not the ~0.4 s an
        // encoding of 1M ports takes.
        let shared = self.shared.clone();
        let dir = self.snapshots.clone();
        let built = offload(
            move || -> Result<(SnapshotMeta, Vec<u8>, Duration), String> {
                let locked = Instant::now();
                let (meta, source) = {
                    let a = shared.read();
                    let nanos = SystemTime::now()
                        .duration_since(UNIX_EPOCH)
                        .map_or(0, |d| d.as_nanos());
                    let snapshot_id = match &a.last_applied {
                        Some(l) => format!("{}-{}-{nanos:x}", l.leader_id, l.index),
                        None => format!("none-{nanos:x}"),
                    };
                    let meta = SnapshotMeta {
                        last_log_id: a.last_applied,
                        last_membership: a.membership.clone(),
                        snapshot_id,
                    };
                    let source = a
                        .state
                        .snapshot_source()
                        .map_err(|e| format!("snapshot {}: {e}", meta.snapshot_id))?;
                    (meta, source)
                };
                let lock_held = locked.elapsed();
                let mut data = Vec::new();
                source
                    .write(&mut data)
                    .map_err(|e| format!("snapshot {}: {e}", meta.snapshot_id))?;
                drop(source);
                dir.save(&meta, &data)
                    .map_err(|e| format!("snapshot {}: {e}", meta.snapshot_id))?;
                Ok((meta, data, lock_held))
            },
        )
        .await
        .map_err(|e| StorageIOError::write_snapshot(None, any(e)))?;
        let (meta, data, lock_held) =
            built.map_err(|e| StorageIOError::write_snapshot(None, any(e)))?;
        tracing::info!(
            snapshot = %meta,
            bytes = data.len(),
            lock_held_ms = lock_held.as_secs_f64() * 1e3,
            "built snapshot"
        );
        Ok(Snapshot {
            meta,
            snapshot: Box::new(Cursor::new(data)),
        })
    }
}

#[cfg(test)]
mod tests {
    use openraft::{CommittedLeaderId, RaftSnapshotBuilder};
    use prismnet_state::{Proposal, Stamp};

    use super::*;
    use crate::types::LogPayload;
    use crate::workload::{created_id, Workload};

    fn log_id(index: u64) -> LogId {
        LogId::new(CommittedLeaderId::new(1, 1), index)
    }

    fn blank(index: u64) -> Entry {
        Entry {
            log_id: log_id(index),
            payload: EntryPayload::Blank,
        }
    }

    fn command(index: u64, w: &mut Workload) -> Entry {
        Entry {
            log_id: log_id(index),
            payload: EntryPayload::Normal(LogPayload::new(vec![Proposal {
                request: w.create_vpc("v", "10.0.0.0/16"),
                stamp: Stamp { time_ms: 1 },
            }])),
        }
    }

    fn entry(index: u64, proposals: Vec<Proposal>) -> Entry {
        Entry {
            log_id: log_id(index),
            payload: EntryPayload::Normal(LogPayload::new(proposals)),
        }
    }

    fn open(dir: &std::path::Path) -> StateMachineStore {
        let snaps = SnapshotDir::open(dir.join("snapshot")).unwrap();
        StateMachineStore::open(snaps, Settings::default()).unwrap()
    }

    /// - entries apply only at last_applied + 1: a hole or a repeat is a storage
    ///   error and changes nothing
    /// - a command's outcome is returned; blank entries advance the index too
    #[tokio::test]
    async fn apply_refuses_holes_and_repeats() {
        let dir = tempfile::tempdir().unwrap();
        let mut sm = open(dir.path());
        let mut w = Workload::new("p1", "r");
        assert_eq!(
            sm.apply([blank(0)]).await.unwrap(),
            [ApplyResponse::Internal]
        );
        assert!(sm.apply([blank(2)]).await.is_err(), "hole accepted");
        assert!(sm.apply([blank(0)]).await.is_err(), "repeat accepted");
        let r = sm.apply([command(1, &mut w)]).await.unwrap();
        assert!(
            matches!(&r[..], [ApplyResponse::Batch(b)] if matches!(&b[..], [Ok(_)])),
            "{r:?}"
        );
        assert!(
            sm.apply([command(1, &mut w)]).await.is_err(),
            "repeat accepted"
        );
        let (applied, _) = sm.applied_state().await.unwrap();
        assert_eq!(applied, Some(log_id(1)));
        assert_eq!(sm.shared().applied_index(), 1);
    }

    /// - one entry carrying a batch: each proposal gets its own outcome, in order;
    ///   a rejected one (unknown subnet) leaves the ones around it applied; the
    ///   same request id twice in a batch is applied once and replayed once
    /// - created ids are distinct inside the entry
    #[tokio::test]
    async fn batch_entry_gives_each_proposal_its_outcome() {
        let dir = tempfile::tempdir().unwrap();
        let mut sm = open(dir.path());
        let mut w = Workload::new("p1", "r");
        let stamp = Stamp { time_ms: 1 };
        let p = |request| Proposal { request, stamp };
        let vpc = w.create_vpc("v", "10.0.0.0/16");
        let created = |r: Vec<ApplyResponse>| match r.last() {
            Some(ApplyResponse::Batch(b)) => created_id(b[0].as_ref().unwrap()).unwrap(),
            other => panic!("{other:?}"),
        };
        let vpc_id = created(sm.apply([blank(0), entry(1, vec![p(vpc)])]).await.unwrap());
        let subnet = w.create_subnet(vpc_id, "s", "10.0.0.0/24");
        let subnet_id = created(sm.apply([entry(2, vec![p(subnet)])]).await.unwrap());

        let a = w.create_port(subnet_id, "a");
        let bad = w.create_port(prismnet_state::Id::from_u128(7), "bad");
        let b = w.create_port(subnet_id, "b");
        let r = sm
            .apply([entry(3, vec![p(a.clone()), p(bad), p(b), p(a)])])
            .await
            .unwrap();
        let [ApplyResponse::Batch(out)] = &r[..] else {
            panic!("{r:?}")
        };
        assert_eq!(out.len(), 4);
        let a1 = out[0].as_ref().unwrap();
        assert!(out[1].is_err());
        let b1 = out[2].as_ref().unwrap();
        let a2 = out[3].as_ref().unwrap();
        assert!(!a1.replayed && !b1.replayed && a2.replayed);
        assert_eq!(created_id(a1), created_id(a2));
        assert_ne!(created_id(a1), created_id(b1));
        assert_eq!(sm.shared().read().state.port_count(), 2);
        assert_eq!(sm.shared().applied_index(), 3);
    }

    /// - a built snapshot is durable: a state machine reopened from the same dir
    ///   resumes at its index with the same state, and continues at index + 1
    #[tokio::test]
    async fn reopen_resumes_from_snapshot() {
        let dir = tempfile::tempdir().unwrap();
        let mut w = Workload::new("p1", "r");
        let mut sm = open(dir.path());
        sm.apply([blank(0), command(1, &mut w), blank(2)])
            .await
            .unwrap();
        let snap = sm
            .get_snapshot_builder()
            .await
            .build_snapshot()
            .await
            .unwrap();
        assert_eq!(snap.meta.last_log_id, Some(log_id(2)));
        let digest = sm.shared().read().state.digest();
        drop(sm);

        let mut sm = open(dir.path());
        let (applied, _) = sm.applied_state().await.unwrap();
        assert_eq!(applied, Some(log_id(2)));
        assert_eq!(sm.shared().read().state.digest(), digest);
        assert!(sm.apply([blank(4)]).await.is_err(), "hole accepted");
        sm.apply([blank(3)]).await.unwrap();
    }
}
