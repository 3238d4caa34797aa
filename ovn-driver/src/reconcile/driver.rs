//! [`OvnDriver`]: the API prismnetd uses. `run_leader` while this node leads
//! (returns on stop; the loop itself is in `leader.rs`); `status()` any time;
//! `diff()` and `takeover()` for `prismctl ovn`. Here too: one pass (translate,
//! diff, fenced transactions).

use std::collections::BTreeMap;
use std::future::Future;
use std::sync::{Arc, Mutex, MutexGuard, RwLock};
use std::time::Duration;

use prismnet_state::State;
use tokio::sync::{mpsc, oneshot, watch};
use tracing::{debug, info, warn};

use super::fence::{self, Claimed, Epoch, FenceError, Stored};
use super::plan::{self, Actual, Change, Known, Unit, PHASES};
use super::status::{DriverStatus, FenceState, PassStats};
use crate::nb::{self, nb_global, Ownership, Table};
use crate::ovsdb::{
    Client, ClientConfig, Error, MonitorRequest, Operation, Select, TableCache, Uuid,
};
use crate::translate::{translate, NbModel};

/// Most operations in one transaction (plus the fence guard). Keeps each
/// transaction's reply and the server's work per commit small, so a large
/// initial sync is many quick commits instead of one huge one.
pub const OPS_PER_TXN_MAX: usize = 500;
// The fence guard and the signature ride along in every transaction.
const _: () = assert!(OPS_PER_TXN_MAX + 2 <= crate::ovsdb::MAX_TRANSACTION_OPS);
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

/// Most operator takeovers waiting for the leader loop at once.
const TAKEOVERS_QUEUED_MAX: usize = 4;

/// A boxed future, for the object-safe traits the node implements.
pub type BoxFuture<'a, T> = std::pin::Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// The leadership the driver runs under, as the node (Raft) knows it.
pub trait Leadership: Send + Sync {
    /// The epoch of this leadership: fixed for the driver's run.
    fn epoch(&self) -> Epoch;

    /// True once this node has confirmed with a quorum that it still leads at
    /// `epoch()` AND its applied state holds every entry committed before the
    /// call (a read-index barrier). A new leader may not yet have applied entries
    /// its predecessor committed (and wrote to NB); translating its state before
    /// that would delete their rows. False when it does not lead, or cannot
    /// confirm now (no quorum): the driver then writes nothing and asks again.
    fn confirm(&self) -> BoxFuture<'_, bool>;
}

/// A leadership that is always confirmed, for tools and tests that drive NB
/// without Raft.
pub struct Unconditional(pub Epoch);

impl Leadership for Unconditional {
    fn epoch(&self) -> Epoch {
        self.0
    }

    fn confirm(&self) -> BoxFuture<'_, bool> {
        Box::pin(std::future::ready(true))
    }
}

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
    #[error(
        "this node does not drive NB now (it does not lead, or could not confirm its leadership)"
    )]
    NotLeading,
}

/// An operator's takeover, handed to the running leader loop.
pub(super) struct Takeover {
    pub force: bool,
    pub reply: oneshot::Sender<Result<Claimed, DriverError>>,
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
    pub(super) own: Ownership,
    pub(super) status: DriverStatus,
    /// The running leader loop's takeover queue (None: not leading here).
    takeovers: Arc<Mutex<Option<mpsc::Sender<Takeover>>>>,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// How a pass ended early.
pub(super) enum PassError {
    FenceLost,
    Ovsdb(Error),
}

#[derive(Default)]
pub(super) struct ApplyReport {
    transactions: usize,
    ops: usize,
    /// Rows inserted, for the loop to await their monitor echo.
    pub inserted: Vec<Uuid>,
    pub errors: BTreeMap<(String, String), String>,
    /// Changes left for a later pass (their references did not exist yet).
    pub skipped: usize,
}

impl OvnDriver {
    pub fn new(config: DriverConfig) -> OvnDriver {
        OvnDriver {
            own: Ownership::new(&config.cluster_name),
            config,
            status: DriverStatus::default(),
            takeovers: Arc::default(),
        }
    }

    pub fn status(&self) -> DriverStatus {
        self.status.clone()
    }

    pub fn config(&self) -> &DriverConfig {
        &self.config
    }

    /// Drives NB while this node leads with `leadership`'s epoch: connects,
    /// confirms the leadership (a quorum, and a state that holds every committed
    /// entry), claims the fence, reconciles fully, then follows `changes` (any
    /// new value means "the state changed"; pass the applied index) and the NB
    /// monitor (drift repair). Returns when `stop` completes, or with an error
    /// the driver cannot get past (a schema NB lacks). Everything else it waits
    /// out: NB unreachable (retried, shown in [`DriverStatus`]), a leadership it
    /// cannot confirm (not written meanwhile), and a fence it may not claim
    /// ([`FenceState::FencedOut`], until [`OvnDriver::takeover`] or the fence
    /// becomes claimable). See `leader.rs` for the loop.
    pub async fn run_leader(
        &self,
        leadership: Arc<dyn Leadership>,
        state: Arc<dyn StateSource>,
        mut changes: watch::Receiver<u64>,
        stop: impl Future<Output = ()>,
    ) -> Result<(), DriverError> {
        let epoch = leadership.epoch();
        self.status.set_fence(FenceState::Confirming { epoch });
        self.status.note_unreachable();
        let (tx, takeovers) = mpsc::channel(TAKEOVERS_QUEUED_MAX);
        *lock(&self.takeovers) = Some(tx);
        let r = tokio::select! {
            biased;
            () = stop => Ok(()),
            r = super::leader::lead(self, &*leadership, &*state, &mut changes, takeovers) => r,
        };
        *lock(&self.takeovers) = None;
        if let Err(e) = &r {
            self.status.set_error(e);
        }
        self.status.step_down();
        info!(%epoch, result = ?r, "NB leader loop ended");
        r
    }

    /// Claims NB for the running leader (`prismctl ovn takeover`), with its own
    /// epoch and after it confirmed its leadership again: never on a node's mere
    /// belief that it leads. With `force` it replaces even a fence it may not
    /// claim (a newer epoch, another incarnation); that owner then fails every
    /// write. Logged loudly. [`DriverError::NotLeading`] when no leader loop runs
    /// here or its leadership is not confirmed.
    pub async fn takeover(&self, force: bool) -> Result<Claimed, DriverError> {
        let tx = lock(&self.takeovers)
            .clone()
            .ok_or(DriverError::NotLeading)?;
        let (reply, rx) = oneshot::channel();
        if force {
            warn!(cluster = %self.config.cluster_name, "operator requested a forced NB takeover");
        }
        tx.send(Takeover { force, reply })
            .await
            .map_err(|_| DriverError::NotLeading)?;
        rx.await.map_err(|_| DriverError::NotLeading)?
    }
    pub(super) async fn connect(&self) -> Result<Client, DriverError> {
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

    pub(super) fn monitor_requests(&self) -> Vec<MonitorRequest> {
        let mut r: Vec<MonitorRequest> = Table::ALL
            .into_iter()
            .map(|t| MonitorRequest::new(t.name()).filter(self.own.condition()))
            .collect();
        r.push(MonitorRequest::new(nb_global::TABLE).columns(&["external_ids"]));
        r
    }

    fn model(&self, state: &dyn StateSource) -> NbModel {
        let mut model = NbModel::default();
        state.with_state(&mut |s| model = translate(s, &self.config.cluster_name));
        model
    }

    pub(super) async fn pass(
        &self,
        client: &Client,
        epoch: &Epoch,
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
        let report = self.apply(client, epoch, &model, &actual, &changes).await?;
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
        epoch: &Epoch,
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
                match self.transact(client, epoch, &batch, &mut report).await {
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
                            match self.transact(client, epoch, single, &mut report).await {
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
        epoch: &Epoch,
        units: &[Unit],
        report: &mut ApplyReport,
    ) -> Result<Vec<Option<Uuid>>, Error> {
        let mut ops: Vec<Operation> = vec![fence::guard(&self.config.cluster_name, epoch)];
        if prismnet_state::failpoints::enabled("ignore-nb-fence") {
            // A deliberate bug for the chaos suite's teeth (off in normal builds):
            // an always-true first operation (NB_Global has a row, so its rows
            // differ from none) keeps the reply's indexes. Not a comment: NB's log
            // keeps one comment per transaction, and it must be the signature.
            ops[0] = crate::ovsdb::Wait::new(nb::nb_global::TABLE, crate::ovsdb::Until::Ne)
                .timeout_ms(0)
                .into();
        }
        let mut insert_at = Vec::with_capacity(units.len());
        for u in units {
            insert_at.push(u.inserts.as_ref().map(|_| ops.len()));
            ops.extend(u.ops.iter().cloned());
        }
        ops.push(fence::signature(&self.config.cluster_name, epoch));
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
