//! [`OvnDriver`]: the API prismnetd uses. `run_leader` while this node leads
//! (returns on stop, on fence loss, or when the fence is refused);
//! `status()` any time; `diff()` and `takeover()` for `prismctl ovn`.

use std::collections::{BTreeMap, BTreeSet};
use std::future::Future;
use std::sync::{Arc, RwLock};
use std::time::Duration;

use prismnet_state::State;
use tokio::sync::watch;
use tokio::time::Instant;
use tracing::{debug, info, warn};

use super::fence::{self, Claimed, FenceError, Stored};
use super::plan::{self, Actual, Change, Known, Unit, PHASES};
use super::status::{DriverStatus, FenceState, PassStats};
use crate::nb::{self, nb_global, Ownership, RowKey, Table};
use crate::ovsdb::{
    Client, ClientConfig, Error, MonitorEvent, MonitorRequest, Operation, RowUpdate, Select,
    TableCache, Uuid,
};
use crate::translate::{translate, NbModel};

/// Most operations in one transaction (plus the fence guard). Keeps each
/// transaction's reply and the server's work per commit small, so a large
/// initial sync is many quick commits instead of one huge one.
pub const OPS_PER_TXN_MAX: usize = 500;
// The fence guard rides along in every transaction.
const _: () = assert!(OPS_PER_TXN_MAX < crate::ovsdb::MAX_TRANSACTION_OPS);
/// Changes arriving within this window are handled by one pass. Short: it
/// only adds to a lone change's latency; bursts are batched anyway, since
/// changes that arrive while a pass runs are all handled by the next one.
pub const DEBOUNCE_DEFAULT: Duration = Duration::from_millis(2);
/// Pause before retrying after a failed pass or connect.
pub const RETRY_DEFAULT: Duration = Duration::from_millis(500);
/// How long a pass waits for the monitor to show rows the previous pass
/// inserted (so it does not insert them again from a stale cache).
pub const ECHO_WAIT_DEFAULT: Duration = Duration::from_secs(2);
/// The driver's OVSDB echo probe: silence for two intervals drops the NB
/// connection, which is when a leader reports NB lost (and a follower that
/// reaches NB may take over, see node/src/ovn.rs). The client default (5 s)
/// made a silently cut leader look connected for 10-15 s; 2 s gives 4-6 s.
/// A live server answers our echo (sent after one quiet interval) within
/// milliseconds, so only a server stalled for over 2 s more is dropped (our
/// own transactions are bounded by `OPS_PER_TXN_MAX` and commit in ~10 ms).
pub const NB_ECHO_INTERVAL: Duration = Duration::from_secs(2);
/// How often the leader loop refreshes NB reachability in the status, so a
/// lost NB shows even when nothing needs writing.
pub const HEALTH_TICK: Duration = Duration::from_millis(200);

/// Read access to the replicated state. The driver calls it once per pass
/// and only translates inside `f`, so a lock is held briefly.
pub trait StateSource: Send + Sync {
    fn with_state(&self, f: &mut dyn FnMut(&State));
}

impl<F> StateSource for F
where
    F: Fn(&mut dyn FnMut(&State)) + Send + Sync,
{
    fn with_state(&self, f: &mut dyn FnMut(&State)) {
        self(f)
    }
}

impl StateSource for RwLock<State> {
    fn with_state(&self, f: &mut dyn FnMut(&State)) {
        f(&self.read().unwrap_or_else(|p| p.into_inner()))
    }
}

#[derive(Clone, Debug)]
pub struct DriverConfig {
    /// Names this cluster's rows and its fence key.
    pub cluster_name: String,
    /// NB remotes (all members of a clustered NB), TLS, timeouts. The schema
    /// requirements are set by [`DriverConfig::new`].
    pub client: ClientConfig,
    pub debounce: Duration,
    pub retry_interval: Duration,
    pub echo_wait: Duration,
    pub ops_per_txn_max: usize,
}

impl DriverConfig {
    pub fn new(remotes: &[String], cluster_name: &str) -> Result<DriverConfig, DriverError> {
        if cluster_name.is_empty() {
            return Err(DriverError::Config("cluster name is empty".into()));
        }
        let remotes: Vec<&str> = remotes.iter().map(String::as_str).collect();
        let mut client = ClientConfig::parse(nb::NB_DATABASE, &remotes)?;
        client.requirements = nb::requirements();
        client.echo_interval = NB_ECHO_INTERVAL;
        Ok(DriverConfig {
            cluster_name: cluster_name.into(),
            client,
            debounce: DEBOUNCE_DEFAULT,
            retry_interval: RETRY_DEFAULT,
            echo_wait: ECHO_WAIT_DEFAULT,
            ops_per_txn_max: OPS_PER_TXN_MAX,
        })
    }
}

#[derive(Debug, thiserror::Error)]
pub enum DriverError {
    #[error("driver configuration: {0}")]
    Config(String),
    #[error(transparent)]
    Fence(#[from] FenceError),
    #[error(transparent)]
    Ovsdb(#[from] Error),
    #[error("the NB monitor stream ended")]
    MonitorClosed,
}

/// Why `run_leader` returned without error.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum LeaderExit {
    /// `stop` completed.
    Stopped,
    /// Another leader claimed NB; this one no longer writes.
    FenceLost { stored: Stored },
}

/// What would change in NB, for `prismctl ovn diff`.
#[derive(Clone, Debug)]
pub struct Drift {
    pub fence: Stored,
    pub desired_rows: usize,
    pub owned_rows: usize,
    pub changes: Vec<Change>,
}

impl std::fmt::Display for Drift {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        writeln!(
            f,
            "fence: {:?}; desired rows: {}; owned rows in NB: {}; changes: {}",
            self.fence,
            self.desired_rows,
            self.owned_rows,
            self.changes.len()
        )?;
        for c in &self.changes {
            writeln!(f, "  {c}")?;
        }
        Ok(())
    }
}

#[derive(Clone)]
pub struct OvnDriver {
    config: DriverConfig,
    own: Ownership,
    status: DriverStatus,
}

/// How a pass ended early.
enum PassError {
    FenceLost,
    Ovsdb(Error),
}

#[derive(Default)]
struct ApplyReport {
    transactions: usize,
    ops: usize,
    inserted: Vec<Uuid>,
    errors: BTreeMap<(String, String), String>,
    skipped: usize,
}

impl OvnDriver {
    pub fn new(config: DriverConfig) -> OvnDriver {
        OvnDriver {
            own: Ownership::new(&config.cluster_name),
            config,
            status: DriverStatus::default(),
        }
    }

    pub fn status(&self) -> DriverStatus {
        self.status.clone()
    }

    pub fn config(&self) -> &DriverConfig {
        &self.config
    }

    /// Drives NB while this node leads with Raft term `term`: connects,
    /// claims the fence, reconciles fully, then follows `changes` (any new
    /// value means "the state changed"; pass the applied index) and the NB
    /// monitor (drift repair). Returns when `stop` completes, when another
    /// leader takes the fence (`Ok(FenceLost)`), or with
    /// `Err(Fence(Newer))` when NB is owned by a newer epoch. While NB is
    /// unreachable it keeps retrying and says so in [`DriverStatus`].
    pub async fn run_leader(
        &self,
        term: u64,
        state: Arc<dyn StateSource>,
        mut changes: watch::Receiver<u64>,
        stop: impl Future<Output = ()>,
    ) -> Result<LeaderExit, DriverError> {
        self.status.set_fence(FenceState::Claiming { epoch: term });
        self.status.note_unreachable();
        let r = tokio::select! {
            biased;
            () = stop => Ok(LeaderExit::Stopped),
            r = self.lead(term, &*state, &mut changes) => r,
        };
        let fence = match &r {
            Ok(LeaderExit::FenceLost { stored }) => Some(FenceState::Lost {
                epoch: term,
                stored: stored.clone(),
            }),
            Err(DriverError::Fence(FenceError::Newer { stored, .. })) => {
                Some(FenceState::Refused {
                    epoch: term,
                    stored: Stored::Epoch(*stored),
                })
            }
            Err(DriverError::Fence(FenceError::Unreadable { value, .. })) => {
                Some(FenceState::Refused {
                    epoch: term,
                    stored: Stored::Garbage(value.clone()),
                })
            }
            _ => None,
        };
        if let Err(e) = &r {
            self.status.set_error(e);
        }
        self.status.step_down(fence);
        info!(term, result = ?r, "NB leader loop ended");
        r
    }

    async fn connect(&self) -> Result<Client, DriverError> {
        loop {
            match Client::connect(self.config.client.clone()).await {
                Ok(c) => return Ok(c),
                Err(e @ Error::Schema(_)) => return Err(e.into()),
                Err(e) => {
                    warn!(error = %e, "NB unreachable; retrying");
                    self.status.set_error(&e);
                    self.status.note_unreachable();
                    tokio::time::sleep(self.config.retry_interval).await;
                }
            }
        }
    }

    async fn claim(&self, client: &Client, term: u64) -> Result<Claimed, DriverError> {
        loop {
            match fence::claim(client, &self.config.cluster_name, term, false).await {
                Ok(c) => return Ok(c),
                Err(FenceError::Ovsdb(e)) if !matches!(e, Error::Schema(_)) => {
                    warn!(error = %e, "claiming the NB fence failed; retrying");
                    self.status.set_error(&e);
                    self.status.note_unreachable();
                    tokio::time::sleep(self.config.retry_interval).await;
                }
                Err(e) => return Err(e.into()),
            }
        }
    }

    fn monitor_requests(&self) -> Vec<MonitorRequest> {
        let mut r: Vec<MonitorRequest> = Table::ALL
            .into_iter()
            .map(|t| MonitorRequest::new(t.name()).filter(self.own.condition()))
            .collect();
        r.push(MonitorRequest::new(nb_global::TABLE).columns(&["external_ids"]));
        r
    }

    async fn lead(
        &self,
        term: u64,
        state: &dyn StateSource,
        changes: &mut watch::Receiver<u64>,
    ) -> Result<LeaderExit, DriverError> {
        let client = self.connect().await?;
        self.status.set_client(Some(client.clone()));
        self.claim(&client, term).await?;
        self.status.set_fence(FenceState::Held { epoch: term });
        self.status.note_reachable();
        let mut events = loop {
            match client.monitor(&self.monitor_requests()).await {
                Ok(rx) => break rx,
                Err(e) => {
                    warn!(error = %e, "starting the NB monitor failed; retrying");
                    self.status.set_error(&e);
                    tokio::time::sleep(self.config.retry_interval).await;
                }
            }
        };
        let mut cache = TableCache::new(client.schema().clone());
        let mut have_contents = false;
        // A full pass is needed: the state changed, the monitor restarted,
        // or the last pass left work.
        let mut dirty = true;
        // Owned rows monitor events changed since the last pass. Most events
        // are the echo of our own writes; they cost a pass only when these
        // rows differ from the model of the last pass (drift).
        let mut touched: BTreeSet<(Table, RowKey)> = BTreeSet::new();
        let mut last_model: Option<NbModel> = None;
        let mut due = Instant::now();
        let mut awaiting: BTreeSet<Uuid> = BTreeSet::new();
        let mut awaiting_until = Instant::now();
        let mut changes_open = true;
        let far = Duration::from_secs(3600);
        // Separate task: a pass can block on a lost NB for a while, and the
        // status must show it meanwhile.
        let _health = AbortOnDrop(tokio::spawn(watch_health(
            client.clone(),
            self.status.clone(),
        )));
        loop {
            let echo_pending = !awaiting.is_empty() && Instant::now() < awaiting_until;
            let work = dirty || !touched.is_empty();
            let wake = if echo_pending {
                awaiting_until
            } else if work && have_contents {
                due
            } else {
                Instant::now() + far
            };
            tokio::select! {
                ev = events.recv() => {
                    let Some(ev) = ev else { return Err(DriverError::MonitorClosed) };
                    have_contents |= matches!(ev, MonitorEvent::Reset(_));
                    // Keys of deleted rows are only known before the delete.
                    let gone = deleted_keys(&cache, &ev);
                    cache.apply(&ev);
                    if let Some(stored) = self.fence_taken(&cache, term) {
                        warn!(term, ?stored, "another leader claimed NB; stop writing");
                        return Ok(LeaderExit::FenceLost { stored });
                    }
                    awaiting.retain(|u| !in_cache(&cache, u));
                    self.status.update_ports(&cache);
                    let pending = dirty || !touched.is_empty();
                    match &ev {
                        MonitorEvent::Reset(_) => dirty = true,
                        MonitorEvent::Update(updates) => {
                            touched.extend(gone);
                            touched.extend(changed_keys(&cache, updates));
                        }
                    }
                    if !pending && (dirty || !touched.is_empty()) {
                        due = Instant::now() + self.config.debounce;
                    }
                }
                r = changes.changed(), if changes_open => {
                    if r.is_err() {
                        // The sender is gone: keep repairing drift of the
                        // last state until stopped.
                        changes_open = false;
                    }
                    mark(&mut dirty, &mut due, self.config.debounce);
                }
                () = tokio::time::sleep_until(wake) => {
                    if echo_pending || !work || !have_contents || Instant::now() < due {
                        continue;
                    }
                    if !dirty {
                        let keys = std::mem::take(&mut touched);
                        let drifted = match &last_model {
                            Some(model) => {
                                let actual = Actual::from_cache(&self.own, &cache);
                                !plan::diff_keys(model, &actual, &keys).is_empty()
                            }
                            None => true,
                        };
                        if !drifted {
                            continue;
                        }
                        debug!(rows = keys.len(), "owned NB rows drifted; reconciling");
                    }
                    if !awaiting.is_empty() {
                        debug!(rows = awaiting.len(), "monitor did not echo our inserts in time");
                        awaiting.clear();
                    }
                    dirty = false;
                    touched.clear();
                    let index = *changes.borrow_and_update();
                    match self.pass(&client, term, state, &cache, index).await {
                        Ok((report, model)) => {
                            // Freeing a model of 10k ports takes milliseconds;
                            // not on the path of the next change.
                            if let Some(old) = last_model.replace(model) {
                                tokio::task::spawn_blocking(move || drop(old));
                            }
                            self.status.note_reachable();
                            awaiting.extend(report.inserted);
                            awaiting_until = Instant::now() + self.config.echo_wait;
                            if !report.errors.is_empty() || report.skipped > 0 {
                                mark(&mut dirty, &mut due, self.config.retry_interval);
                            }
                        }
                        Err(PassError::FenceLost) => {
                            match fence::read(&client, &self.config.cluster_name).await {
                                Ok(stored @ (Stored::Epoch(_) | Stored::Garbage(_))) => {
                                    warn!(term, ?stored, "fence guard failed; stop writing");
                                    return Ok(LeaderExit::FenceLost { stored });
                                }
                                Ok(_) => {
                                    // NB lost the key (e.g. a fresh database):
                                    // nobody else holds it; claim it again.
                                    warn!(term, "NB fence key vanished; claiming again");
                                    self.claim(&client, term).await?;
                                }
                                Err(e) => self.status.set_error(&e),
                            }
                            mark(&mut dirty, &mut due, Duration::ZERO);
                        }
                        Err(PassError::Ovsdb(e)) => {
                            warn!(error = %e, "reconcile pass failed; retrying");
                            self.status.set_error(&e);
                            if client.current_remote().is_none() {
                                self.status.note_unreachable();
                            }
                            mark(&mut dirty, &mut due, self.config.retry_interval);
                        }
                    }
                }
            }
        }
    }

    /// `Some(stored)` when NB_Global shows another epoch than ours.
    fn fence_taken(&self, cache: &TableCache, term: u64) -> Option<Stored> {
        let key = fence::epoch_key(&self.config.cluster_name);
        let row = cache.table(nb_global::TABLE)?.values().next()?;
        let v = row.get("external_ids")?.map_get(&key)?.as_str()?;
        match v.parse::<u64>() {
            Ok(e) if e == term => None,
            Ok(e) => Some(Stored::Epoch(e)),
            Err(_) => Some(Stored::Garbage(v.to_string())),
        }
    }

    fn model(&self, state: &dyn StateSource) -> NbModel {
        let mut model = NbModel::default();
        state.with_state(&mut |s| model = translate(s, &self.config.cluster_name));
        model
    }

    async fn pass(
        &self,
        client: &Client,
        term: u64,
        state: &dyn StateSource,
        cache: &TableCache,
        index: u64,
    ) -> Result<(ApplyReport, NbModel), PassError> {
        let started = std::time::Instant::now();
        let model = self.model(state);
        let actual = Actual::from_cache(&self.own, cache);
        let changes = plan::diff(&model, &actual);
        let touched: Vec<(String, String)> = changes
            .iter()
            .map(|c| {
                let (k, i) = c.key().resource();
                (k.to_string(), i.to_string())
            })
            .collect();
        self.status.begin_pass(&model, &touched);
        if !changes.is_empty() {
            debug!(changes = changes.len(), "reconciling NB");
        }
        let report = self.apply(client, term, &model, &actual, &changes).await?;
        let stats = PassStats {
            desired_rows: model.len(),
            changes: changes.len(),
            transactions: report.transactions,
            ops: report.ops,
            errors: report.errors.len(),
            took: started.elapsed(),
            index,
        };
        if !changes.is_empty() {
            info!(?stats, "NB reconcile pass");
        }
        self.status
            .end_pass(stats, &report.errors, report.skipped == 0);
        Ok((report, model))
    }

    async fn apply(
        &self,
        client: &Client,
        term: u64,
        model: &NbModel,
        actual: &Actual<'_>,
        changes: &[Change],
    ) -> Result<ApplyReport, PassError> {
        let mut known = Known {
            actual,
            inserted: BTreeMap::new(),
        };
        let mut report = ApplyReport::default();
        for phase in 0..PHASES {
            let mut units = Vec::new();
            for (seq, c) in changes.iter().filter(|c| c.phase() == phase).enumerate() {
                match plan::unit(c, model, &known, seq) {
                    Some(u) => units.push(u),
                    None => report.skipped += 1,
                }
            }
            let mut batch: Vec<Unit> = Vec::new();
            let mut batch_ops = 0;
            let mut batches = Vec::new();
            for u in units {
                if batch_ops + u.ops.len() > self.config.ops_per_txn_max && !batch.is_empty() {
                    batches.push(std::mem::take(&mut batch));
                    batch_ops = 0;
                }
                batch_ops += u.ops.len();
                batch.push(u);
            }
            if !batch.is_empty() {
                batches.push(batch);
            }
            for batch in batches {
                match self.transact(client, term, &batch, &mut report).await {
                    Ok(uuids) => record(&mut known, &mut report, &batch, uuids),
                    Err(Error::Transaction(t)) if t.op_index == Some(0) => {
                        return Err(PassError::FenceLost)
                    }
                    Err(Error::Transaction(t)) if batch.len() > 1 => {
                        // One bad unit fails its whole batch; find it by
                        // running the units one by one.
                        debug!(error = %t, units = batch.len(), "batch failed; isolating");
                        for u in batch {
                            let single = std::slice::from_ref(&u);
                            match self.transact(client, term, single, &mut report).await {
                                Ok(uuids) => record(&mut known, &mut report, single, uuids),
                                Err(Error::Transaction(t)) if t.op_index == Some(0) => {
                                    return Err(PassError::FenceLost)
                                }
                                Err(Error::Transaction(t)) => note_error(&mut report, &u, &t),
                                Err(e) => return Err(PassError::Ovsdb(e)),
                            }
                        }
                    }
                    Err(Error::Transaction(t)) => note_error(&mut report, &batch[0], &t),
                    Err(e) => return Err(PassError::Ovsdb(e)),
                }
            }
        }
        Ok(report)
    }

    /// One fenced transaction; returns the uuid of each unit's insert.
    async fn transact(
        &self,
        client: &Client,
        term: u64,
        units: &[Unit],
        report: &mut ApplyReport,
    ) -> Result<Vec<Option<Uuid>>, Error> {
        let mut ops: Vec<Operation> = vec![fence::guard(&self.config.cluster_name, term)];
        let mut insert_at = Vec::with_capacity(units.len());
        for u in units {
            insert_at.push(u.inserts.as_ref().map(|_| ops.len()));
            ops.extend(u.ops.iter().cloned());
        }
        report.transactions += 1;
        report.ops += ops.len();
        let reply = client.transact(&ops).await?;
        Ok(insert_at
            .into_iter()
            .map(|i| i.and_then(|i| reply.uuid(i).cloned()))
            .collect())
    }

    /// Compares NB with the state without writing (`prismctl ovn diff`).
    /// Works whether or not this node leads: it reads NB directly.
    pub async fn diff(&self, state: &dyn StateSource) -> Result<Drift, DriverError> {
        let client = Client::connect(self.config.client.clone()).await?;
        let ops: Vec<Operation> = Table::ALL
            .into_iter()
            .map(|t| {
                // Only the columns the diff reads: the server serializes and we
                // parse every selected value of ~10k rows at scale.
                let mut columns: Vec<&str> = vec!["_uuid"];
                columns.extend(t.columns().iter().map(|(c, _)| *c));
                Select::new(t.name())
                    .filter(self.own.condition())
                    .columns(&columns)
                    .into()
            })
            .collect();
        let reply = client.transact(&ops).await?;
        let mut rows = Vec::new();
        for (i, t) in Table::ALL.into_iter().enumerate() {
            for row in reply.rows(i).unwrap_or_default() {
                if let Some(u) = row.get("_uuid").and_then(|v| v.as_uuid()) {
                    rows.push((t, u, row));
                }
            }
        }
        let actual = Actual::new(&self.own, rows);
        let model = self.model(state);
        Ok(Drift {
            fence: fence::read(&client, &self.config.cluster_name).await?,
            desired_rows: model.len(),
            owned_rows: actual.len(),
            changes: plan::diff(&model, &actual),
        })
    }

    /// Claims the fence for `term` (`prismctl ovn takeover`). With `force`
    /// it replaces even a newer epoch: the leader of that epoch then fails
    /// every write. Logged loudly.
    pub async fn takeover(&self, term: u64, force: bool) -> Result<Claimed, DriverError> {
        let client = Client::connect(self.config.client.clone()).await?;
        if force {
            warn!(term, cluster = %self.config.cluster_name, "operator requested a forced NB takeover");
        }
        Ok(fence::claim(&client, &self.config.cluster_name, term, force).await?)
    }
}

struct AbortOnDrop(tokio::task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

async fn watch_health(client: Client, status: DriverStatus) {
    let mut tick = tokio::time::interval(HEALTH_TICK);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        if client.current_remote().is_some() {
            status.note_reachable();
        } else {
            status.note_unreachable();
        }
    }
}

fn mark(dirty: &mut bool, due: &mut Instant, delay: Duration) {
    if !*dirty {
        *dirty = true;
        *due = Instant::now() + delay;
    }
}

fn in_cache(cache: &TableCache, uuid: &Uuid) -> bool {
    Table::ALL
        .into_iter()
        .any(|t| cache.row(t.name(), uuid).is_some())
}

/// Columns other writers (northd) keep up to date in our rows; changes to
/// them alone need no pass.
const UNMANAGED_COLUMNS: &[&str] = &["up", "dynamic_addresses"];

/// The key an owned row carries in its external_ids, if it is ours.
fn owned_key(cache: &TableCache, table: Table, uuid: &Uuid) -> Option<RowKey> {
    let row = cache.row(table.name(), uuid)?;
    let ids = row.get("external_ids")?.as_map()?;
    let ids: nb::Map = ids
        .iter()
        .filter_map(|(k, v)| Some((k.as_str()?.to_string(), v.as_str()?.to_string())))
        .collect();
    RowKey::from_external_ids(&ids)
}

/// Keys of the owned rows `ev` deletes; call before applying it.
fn deleted_keys(cache: &TableCache, ev: &MonitorEvent) -> Vec<(Table, RowKey)> {
    let MonitorEvent::Update(updates) = ev else {
        return Vec::new();
    };
    managed_rows(updates)
        .filter(|(_, _, u)| matches!(u, RowUpdate::Delete))
        .filter_map(|(t, uuid, _)| Some((t, owned_key(cache, t, uuid)?)))
        .collect()
}

/// Keys of the owned rows `updates` inserted or changed in a column we
/// manage (northd's `up` flips are not drift); call after applying them.
fn changed_keys<'a>(
    cache: &'a TableCache,
    updates: &'a crate::ovsdb::TableUpdates,
) -> impl Iterator<Item = (Table, RowKey)> + 'a {
    managed_rows(updates)
        .filter(|(_, _, u)| match u {
            RowUpdate::Delete => false,
            RowUpdate::Modify(diff) => diff
                .keys()
                .any(|c| !UNMANAGED_COLUMNS.contains(&c.as_str())),
            _ => true,
        })
        .filter_map(|(t, uuid, _)| Some((t, owned_key(cache, t, uuid)?)))
}

fn managed_rows(
    updates: &crate::ovsdb::TableUpdates,
) -> impl Iterator<Item = (Table, &Uuid, &RowUpdate)> {
    updates.iter().flat_map(|(t, rows)| {
        let table = Table::ALL.into_iter().find(|x| x.name() == t.as_str());
        rows.iter()
            .filter_map(move |(uuid, u)| Some((table?, uuid, u)))
    })
}

fn record(known: &mut Known, report: &mut ApplyReport, units: &[Unit], uuids: Vec<Option<Uuid>>) {
    for (u, uuid) in units.iter().zip(uuids) {
        if let (Some(key), Some(uuid)) = (&u.inserts, uuid) {
            known.inserted.insert(key.clone(), uuid.clone());
            report.inserted.push(uuid);
        }
    }
}

fn note_error(report: &mut ApplyReport, unit: &Unit, t: &crate::ovsdb::TxnError) {
    warn!(change = %unit.change, error = %t, "NB refused a change");
    let (kind, id) = unit.change.key().resource();
    report
        .errors
        .insert((kind.to_string(), id.to_string()), t.to_string());
}
