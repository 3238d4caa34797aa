//! What the driver reports: NB reachability, the fence, per-resource sync
//! state and per-port `up`. A cheap, cloneable handle; reads take one short
//! lock and never touch the network.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use tokio::sync::watch;

use super::fence::{refusal, Epoch, Standing, Stored};
use crate::nb::{logical_switch_port, ID_KEY, KIND_KEY};
use crate::ovsdb::{Client, TableCache};
use crate::translate::names::KIND_PORT;
use crate::translate::NbModel;

/// NB sync state of one resource.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SyncState {
    /// Its rows differ from NB and a write is under way (or waits for NB).
    Pending,
    /// NB held exactly its rows after the last pass.
    Synced,
    /// The last write of its rows failed; the reason is the server's.
    Error(String),
}

/// Who holds the fence, as this driver knows it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum FenceState {
    /// Not running as leader.
    Idle,
    /// Leader, confirming with a quorum that it still leads and that its state
    /// holds every committed entry, before it claims or writes (at the start of a
    /// term, and whenever NB's fence stopped naming it).
    Confirming { epoch: Epoch },
    /// Leader, claiming the fence.
    Claiming { epoch: Epoch },
    /// NB holds our epoch; we write.
    Held { epoch: Epoch },
    /// Leader (confirmed), but NB's fence names an owner this leader may not
    /// replace: nothing is written until an operator forces a takeover, or the
    /// fence becomes claimable. Not an NB outage: it never causes a handoff.
    FencedOut {
        epoch: Epoch,
        stored: Stored,
        standing: Standing,
    },
}

impl FenceState {
    /// The epoch this driver leads with, if it leads.
    pub fn epoch(&self) -> Option<Epoch> {
        match self {
            FenceState::Idle => None,
            FenceState::Confirming { epoch }
            | FenceState::Claiming { epoch }
            | FenceState::Held { epoch }
            | FenceState::FencedOut { epoch, .. } => Some(*epoch),
        }
    }

    pub fn is_fenced_out(&self) -> bool {
        matches!(self, FenceState::FencedOut { .. })
    }

    /// Why NB is not written, and what to do; `None` while it is (or may soon be).
    pub fn detail(&self, cluster: &str) -> Option<String> {
        match self {
            FenceState::FencedOut {
                epoch,
                stored,
                standing,
            } => Some(refusal(epoch, stored, *standing, cluster)),
            _ => None,
        }
    }
}

/// Figures of the last reconcile pass.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PassStats {
    pub desired_rows: usize,
    pub changes: usize,
    pub transactions: usize,
    pub ops: usize,
    pub errors: usize,
    pub took: Duration,
    /// State index (from the changes channel) the pass translated.
    pub index: u64,
}

#[derive(Default)]
struct Inner {
    fence: Option<FenceState>,
    client: Option<Client>,
    last_error: Option<String>,
    unreachable_since: Option<Instant>,
    sync: BTreeMap<(String, String), SyncState>,
    ports_up: BTreeMap<String, bool>,
    last_pass: Option<PassStats>,
    /// Highest state index after which a pass left NB fully in sync.
    synced_index: Option<u64>,
    passes: u64,
}

#[derive(Clone)]
pub struct DriverStatus {
    inner: Arc<Mutex<Inner>>,
    /// Bumped on every change, for waiters.
    version: Arc<watch::Sender<u64>>,
}

impl Default for DriverStatus {
    fn default() -> Self {
        DriverStatus {
            inner: Arc::default(),
            version: Arc::new(watch::channel(0).0),
        }
    }
}

impl DriverStatus {
    fn lock(&self) -> MutexGuard<'_, Inner> {
        // A panic while holding this lock leaves plain data behind; keep going.
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn changed(&self) {
        self.version.send_modify(|v| *v = v.wrapping_add(1));
    }

    /// Whether the leader has a usable NB connection now. False when not
    /// leading: the node uses this to hand leadership to a node that can
    /// reach NB.
    pub fn nb_connected(&self) -> bool {
        self.lock()
            .client
            .as_ref()
            .is_some_and(|c| c.current_remote().is_some())
    }

    /// How long a leader has been without NB, if it is.
    pub fn nb_unreachable_for(&self) -> Option<Duration> {
        let connected = self.nb_connected();
        let inner = self.lock();
        match (&inner.fence, connected) {
            (
                Some(
                    FenceState::Confirming { .. }
                    | FenceState::Claiming { .. }
                    | FenceState::Held { .. },
                ),
                false,
            ) => inner.unreachable_since.map(|t| t.elapsed()),
            _ => None,
        }
    }

    pub fn fence_state(&self) -> FenceState {
        self.lock().fence.clone().unwrap_or(FenceState::Idle)
    }

    pub fn last_error(&self) -> Option<String> {
        self.lock().last_error.clone()
    }

    /// `None` for a resource the driver has not seen (or not a leader yet).
    pub fn sync_state(&self, kind: &str, id: &str) -> Option<SyncState> {
        self.lock()
            .sync
            .get(&(kind.to_string(), id.to_string()))
            .cloned()
    }

    /// Every resource's state, for `prismctl ovn status`.
    pub fn sync_states(&self) -> BTreeMap<(String, String), SyncState> {
        self.lock().sync.clone()
    }

    /// The LSP `up` column of the port: `None` if unknown.
    pub fn port_up(&self, port_id: &str) -> Option<bool> {
        self.lock().ports_up.get(port_id).copied()
    }

    pub fn last_pass(&self) -> Option<PassStats> {
        self.lock().last_pass.clone()
    }

    pub fn passes(&self) -> u64 {
        self.lock().passes
    }

    /// Highest state index NB was fully in sync with after a pass.
    pub fn synced_index(&self) -> Option<u64> {
        self.lock().synced_index
    }

    /// Waits until `pred` holds (checked on every status change).
    pub async fn wait_for(&self, timeout: Duration, pred: impl Fn(&DriverStatus) -> bool) -> bool {
        let mut rx = self.version.subscribe();
        let check = async {
            loop {
                if pred(self) {
                    return;
                }
                if rx.changed().await.is_err() {
                    std::future::pending::<()>().await;
                }
            }
        };
        tokio::time::timeout(timeout, check).await.is_ok()
    }

    /// Waits until OVN reports the port up; false on timeout.
    pub async fn wait_port_up(&self, port_id: &str, timeout: Duration) -> bool {
        self.wait_for(timeout, |s| s.port_up(port_id) == Some(true))
            .await
    }

    /// Waits until a pass left NB in sync with state index `index` or later.
    pub async fn wait_synced(&self, index: u64, timeout: Duration) -> bool {
        self.wait_for(timeout, |s| s.synced_index().is_some_and(|i| i >= index))
            .await
    }

    // ---- updates, by the driver ----

    pub(crate) fn set_fence(&self, f: FenceState) {
        self.lock().fence = Some(f);
        self.changed();
    }

    pub(crate) fn set_client(&self, c: Option<Client>) {
        self.lock().client = c;
        self.changed();
    }

    pub(crate) fn set_error(&self, e: impl ToString) {
        let mut inner = self.lock();
        inner.last_error = Some(e.to_string());
        drop(inner);
        self.changed();
    }

    /// Called while a leader cannot use NB; starts the unreachable clock.
    pub(crate) fn note_unreachable(&self) {
        let mut inner = self.lock();
        if inner.unreachable_since.is_none() {
            inner.unreachable_since = Some(Instant::now());
            drop(inner);
            self.changed();
        }
    }

    pub(crate) fn note_reachable(&self) {
        let mut inner = self.lock();
        if inner.unreachable_since.take().is_some() {
            drop(inner);
            self.changed();
        }
    }

    pub(crate) fn step_down(&self) {
        let mut inner = self.lock();
        inner.client = None;
        inner.fence = None;
        inner.unreachable_since = None;
        inner.sync.clear();
        inner.synced_index = None;
        drop(inner);
        self.changed();
    }

    pub(crate) fn begin_pass(&self, model: &NbModel, pending: &[(String, String)]) {
        let mut inner = self.lock();
        let resources = model.resources();
        inner.sync.retain(|k, _| resources.contains(k));
        for r in resources {
            inner.sync.entry(r).or_insert(SyncState::Pending);
        }
        for r in pending {
            inner.sync.insert(r.clone(), SyncState::Pending);
        }
        drop(inner);
        self.changed();
    }

    pub(crate) fn end_pass(
        &self,
        stats: PassStats,
        errors: &BTreeMap<(String, String), String>,
        complete: bool,
    ) {
        let mut inner = self.lock();
        for (r, state) in inner.sync.iter_mut() {
            *state = match errors.get(r) {
                Some(e) => SyncState::Error(e.clone()),
                None => SyncState::Synced,
            };
        }
        if complete && errors.is_empty() {
            inner.synced_index = Some(inner.synced_index.unwrap_or(0).max(stats.index));
            inner.last_error = None;
        }
        inner.last_pass = Some(stats);
        inner.passes += 1;
        drop(inner);
        self.changed();
    }

    /// Refreshes `up` of every port from the monitor cache.
    pub(crate) fn update_ports(&self, cache: &TableCache) {
        let mut up = BTreeMap::new();
        for row in cache
            .table(logical_switch_port::TABLE)
            .into_iter()
            .flat_map(|t| t.values())
        {
            let ids = row.get("external_ids");
            let kind = ids
                .and_then(|v| v.map_get(KIND_KEY))
                .and_then(|a| a.as_str());
            let id = ids.and_then(|v| v.map_get(ID_KEY)).and_then(|a| a.as_str());
            if let (Some(KIND_PORT), Some(id)) = (kind, id) {
                if let Some(u) = logical_switch_port::up(row) {
                    up.insert(id.to_string(), u);
                }
            }
        }
        let mut inner = self.lock();
        if inner.ports_up != up {
            inner.ports_up = up;
            drop(inner);
            self.changed();
        }
    }
}
