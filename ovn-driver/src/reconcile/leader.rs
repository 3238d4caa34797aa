//! The leader loop: what the driver does while this node leads, as one small
//! state machine over four phases, with one method per event (a monitor event,
//! a state change, an operator takeover, the timer).
//!
//! ```text
//!            confirmed              claimed
//! Confirming ─────────► Claiming ───────────► Held ◄──────────────┐
//!     ▲   ▲                 │ refused            │ fence no longer │ forced
//!     │   │                 ▼                    │ ours            │ takeover
//!     │   └──────────── FencedOut ───────────────┼─────────────────┘
//!     │   fence became      (connected, idle)    │
//!     │   claimable                              │
//!     └──────────────────────────────────────────┘
//! ```
//!
//! Invariants enforced here:
//! - nothing is written to NB but in `Held`, and every write carries the fence
//!   guard of this loop's epoch (`OvnDriver::transact`);
//! - `Held` is entered only through a claim made after a confirmed leadership
//!   (`Leadership::confirm`): the first pass of a term translates a state that
//!   holds every committed entry, and a node that merely believes it leads never
//!   claims;
//! - once NB's fence stops naming us (a guard failed, or the monitor shows another
//!   value), writes stop at once and the loop confirms again before it re-reads
//!   the fence: an older or vanished value is claimed again (a deposed leader that
//!   re-claimed a fresh NB never silences the real one), a newer one or another
//!   incarnation leaves this leader `FencedOut` until an operator forces it;
//! - monitor events are read in every phase (the client's queue is bounded).

use std::collections::BTreeSet;
use std::time::Duration;

use tokio::sync::{mpsc, watch};
use tokio::time::Instant;
use tracing::{debug, error, warn};

use super::driver::{
    DriverError, Leadership, OvnDriver, PassError, StateSource, Takeover, HEALTH_TICK,
};
use super::fence::{self, Claimed, Epoch, FenceError, Standing, Stored};
use super::plan::{self, Actual};
use super::status::{DriverStatus, FenceState};
use crate::nb::{self, nb_global, RowKey, Table};
use crate::ovsdb::{Client, Error, MonitorEvent, RowUpdate, TableCache, Uuid};
use crate::translate::NbModel;

/// How long the timer sleeps when nothing is due.
const IDLE_WAKE: Duration = Duration::from_secs(3600);

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Phase {
    Confirming,
    Claiming,
    Held,
    FencedOut,
}

/// Runs the loop until an error it cannot get past; the caller stops it by
/// dropping the future.
pub(super) async fn lead(
    driver: &OvnDriver,
    leadership: &dyn Leadership,
    state: &dyn StateSource,
    changes: &mut watch::Receiver<u64>,
    mut takeovers: mpsc::Receiver<Takeover>,
) -> Result<(), DriverError> {
    let client = driver.connect().await?;
    driver.status.set_client(Some(client.clone()));
    let mut events = loop {
        match client.monitor(&driver.monitor_requests()).await {
            Ok(rx) => break rx,
            Err(e) => {
                warn!(error = %e, "starting the NB monitor failed; retrying");
                driver.status.set_error(&e);
                tokio::time::sleep(driver.config().retry_interval).await;
            }
        }
    };
    // Separate task: a pass can block on a lost NB for a while, and the status
    // must show it meanwhile.
    let _health = AbortOnDrop(tokio::spawn(watch_health(
        client.clone(),
        driver.status.clone(),
    )));
    let mut lead = Lead::new(driver, leadership, state, client);
    let mut changes_open = true;
    loop {
        let wake = lead.wake();
        tokio::select! {
            ev = events.recv() => {
                let Some(ev) = ev else { return Err(DriverError::MonitorClosed) };
                lead.on_event(ev);
            }
            r = changes.changed(), if changes_open => {
                // A closed sender: keep repairing drift of the last state until
                // stopped.
                changes_open = r.is_ok();
                lead.on_change();
            }
            Some(t) = takeovers.recv() => {
                let r = lead.on_takeover(t.force).await;
                let _ = t.reply.send(r);
            }
            () = tokio::time::sleep_until(wake) => {
                let index = *changes.borrow_and_update();
                lead.on_timer(index).await?;
            }
        }
    }
}

struct Lead<'a> {
    driver: &'a OvnDriver,
    leadership: &'a dyn Leadership,
    epoch: Epoch,
    state: &'a dyn StateSource,
    client: Client,
    phase: Phase,
    /// When the current phase's next step is due (Confirming, Claiming) or the
    /// next pass may run (Held).
    due: Instant,
    /// The monitor's view of our rows and of NB_Global.
    cache: TableCache,
    /// The monitor sent its first complete contents.
    have_contents: bool,
    /// A full pass is needed: the state changed, the monitor restarted, the
    /// fence was (re)claimed, or the last pass left work.
    dirty: bool,
    /// Owned rows monitor events changed since the last pass. Most events are
    /// the echo of our own writes; they cost a pass only when these rows differ
    /// from the model of the last pass (drift).
    touched: BTreeSet<(Table, RowKey)>,
    last_model: Option<NbModel>,
    /// Rows the last pass inserted that the monitor has not shown yet: the next
    /// pass waits for them (until `awaiting_until`) so it does not insert them
    /// again from a stale cache.
    awaiting: BTreeSet<Uuid>,
    awaiting_until: Instant,
}

impl<'a> Lead<'a> {
    fn new(
        driver: &'a OvnDriver,
        leadership: &'a dyn Leadership,
        state: &'a dyn StateSource,
        client: Client,
    ) -> Lead<'a> {
        let now = Instant::now();
        Lead {
            driver,
            leadership,
            epoch: leadership.epoch(),
            state,
            cache: TableCache::new(client.schema().clone()),
            client,
            phase: Phase::Confirming,
            due: now,
            have_contents: false,
            dirty: true,
            touched: BTreeSet::new(),
            last_model: None,
            awaiting: BTreeSet::new(),
            awaiting_until: now,
        }
    }

    fn status(&self) -> &DriverStatus {
        &self.driver.status
    }

    fn cluster(&self) -> &str {
        &self.driver.config().cluster_name
    }

    /// When the timer should fire next.
    fn wake(&self) -> Instant {
        match self.phase {
            Phase::Confirming | Phase::Claiming => self.due,
            Phase::FencedOut => Instant::now() + IDLE_WAKE,
            Phase::Held => {
                if self.echo_pending() {
                    self.awaiting_until
                } else if self.has_work() && self.have_contents {
                    self.due
                } else {
                    Instant::now() + IDLE_WAKE
                }
            }
        }
    }

    fn echo_pending(&self) -> bool {
        !self.awaiting.is_empty() && Instant::now() < self.awaiting_until
    }

    fn has_work(&self) -> bool {
        self.dirty || !self.touched.is_empty()
    }

    /// Asks for a full pass after `delay`, unless one is asked for already.
    fn mark(&mut self, delay: Duration) {
        if !self.dirty {
            self.dirty = true;
            self.due = Instant::now() + delay;
        }
    }

    fn enter(&mut self, phase: Phase) {
        self.phase = phase;
        self.due = Instant::now();
        let epoch = self.epoch;
        match phase {
            Phase::Confirming => self.status().set_fence(FenceState::Confirming { epoch }),
            Phase::Claiming => self.status().set_fence(FenceState::Claiming { epoch }),
            Phase::Held => {
                self.status().set_fence(FenceState::Held { epoch });
                self.status().note_reachable();
                // NB may have changed while we did not hold it.
                self.dirty = true;
            }
            Phase::FencedOut => {}
        }
    }

    fn fenced_out(&mut self, stored: Stored, standing: Standing) {
        let msg = fence::refusal(&self.epoch, &stored, standing, self.cluster());
        error!("{msg}");
        self.status().set_error(&msg);
        self.status().set_fence(FenceState::FencedOut {
            epoch: self.epoch,
            stored,
            standing,
        });
        self.enter(Phase::FencedOut);
    }

    /// What the monitor's NB_Global says of the fence, against our epoch.
    fn fence_in_cache(&self) -> (Stored, Standing) {
        let row = self
            .cache
            .table(nb_global::TABLE)
            .and_then(|t| t.values().next());
        let stored = Stored::from_row(row, self.cluster());
        let standing = fence::standing(&self.epoch, &stored);
        (stored, standing)
    }

    // ---- events ----

    fn on_event(&mut self, ev: MonitorEvent) {
        self.have_contents |= matches!(ev, MonitorEvent::Reset(_));
        // Keys of deleted rows are only known before the delete.
        let gone = deleted_keys(&self.cache, &ev);
        self.cache.apply(&ev);
        self.awaiting.retain(|u| !in_cache(&self.cache, u));
        self.status().update_ports(&self.cache);
        let (stored, mut standing) = self.fence_in_cache();
        if prismnet_state::failpoints::enabled("ignore-nb-fence") {
            // A deliberate bug for the chaos suite's teeth (off in normal builds).
            standing = fence::Standing::Held;
        }
        match (self.phase, standing) {
            (Phase::Held, Standing::Held) => {}
            (Phase::Held, _) => {
                // Possibly an event older than our claim; confirming again costs
                // one quorum round and settles it either way.
                warn!(epoch = %self.epoch, %stored, "NB's fence no longer names this leader; stop writing and check");
                self.enter(Phase::Confirming);
                return;
            }
            (Phase::FencedOut, Standing::Claimable | Standing::Held) => {
                warn!(epoch = %self.epoch, %stored, "NB's fence became claimable");
                self.enter(Phase::Confirming);
                return;
            }
            _ => {}
        }
        if self.phase != Phase::Held {
            return;
        }
        let pending = self.has_work();
        match &ev {
            MonitorEvent::Reset(_) => self.dirty = true,
            MonitorEvent::Update(updates) => {
                self.touched.extend(gone);
                self.touched.extend(changed_keys(&self.cache, updates));
            }
        }
        if !pending && self.has_work() {
            self.due = Instant::now() + self.driver.config().debounce;
        }
    }

    fn on_change(&mut self) {
        self.mark(self.driver.config().debounce);
    }

    /// An operator's takeover: with this loop's epoch, after confirming.
    async fn on_takeover(&mut self, force: bool) -> Result<Claimed, DriverError> {
        if !self.leadership.confirm().await {
            return Err(DriverError::NotLeading);
        }
        let claimed = fence::claim(&self.client, self.cluster(), &self.epoch, force).await?;
        self.enter(Phase::Held);
        Ok(claimed)
    }

    async fn on_timer(&mut self, index: u64) -> Result<(), DriverError> {
        if Instant::now() < self.due && self.phase != Phase::Held {
            return Ok(());
        }
        match self.phase {
            Phase::Confirming => self.confirm().await,
            Phase::Claiming => return self.claim().await,
            Phase::Held => self.held_timer(index).await,
            Phase::FencedOut => {}
        }
        Ok(())
    }

    async fn confirm(&mut self) {
        if self.leadership.confirm().await {
            self.enter(Phase::Claiming);
        } else {
            debug!(epoch = %self.epoch, "leadership not confirmed; not writing NB");
            self.status()
                .set_error("leadership not confirmed by a quorum; not writing NB");
            self.due = Instant::now() + self.driver.config().retry_interval;
        }
    }

    async fn claim(&mut self) -> Result<(), DriverError> {
        match fence::claim(&self.client, self.cluster(), &self.epoch, false).await {
            Ok(_) => self.enter(Phase::Held),
            Err(FenceError::Refused {
                stored, standing, ..
            }) => self.fenced_out(stored, standing),
            Err(FenceError::Ovsdb(e @ Error::Schema(_))) => return Err(e.into()),
            Err(e) => {
                warn!(error = %e, "claiming the NB fence failed; retrying");
                self.status().set_error(&e);
                if self.client.current_remote().is_none() {
                    self.status().note_unreachable();
                }
                self.due = Instant::now() + self.driver.config().retry_interval;
            }
        }
        Ok(())
    }

    /// Runs a pass when one is due: a full one when dirty, else only when the
    /// rows monitor events touched drifted from the last pass's model.
    async fn held_timer(&mut self, index: u64) {
        if self.echo_pending()
            || !self.has_work()
            || !self.have_contents
            || Instant::now() < self.due
        {
            return;
        }
        if !self.dirty && !self.drifted() {
            return;
        }
        if !self.awaiting.is_empty() {
            debug!(
                rows = self.awaiting.len(),
                "monitor did not echo our inserts in time"
            );
            self.awaiting.clear();
        }
        self.dirty = false;
        self.touched.clear();
        let retry = self.driver.config().retry_interval;
        match self
            .driver
            .pass(&self.client, &self.epoch, self.state, &self.cache, index)
            .await
        {
            Ok((report, model)) => {
                // Freeing a model of 10k ports takes milliseconds; not on the
                // path of the next change.
                if let Some(old) = self.last_model.replace(model) {
                    tokio::task::spawn_blocking(move || drop(old));
                }
                self.status().note_reachable();
                self.awaiting.extend(report.inserted);
                self.awaiting_until = Instant::now() + self.driver.config().echo_wait;
                if !report.errors.is_empty() || report.skipped > 0 {
                    self.mark(retry);
                }
            }
            Err(PassError::FenceLost) => {
                warn!(epoch = %self.epoch, "fence guard failed; stop writing and check");
                self.enter(Phase::Confirming);
            }
            Err(PassError::Ovsdb(e)) => {
                warn!(error = %e, "reconcile pass failed; retrying");
                self.status().set_error(&e);
                if self.client.current_remote().is_none() {
                    self.status().note_unreachable();
                }
                self.mark(retry);
            }
        }
    }

    /// Whether the rows events touched differ from the last pass's model.
    fn drifted(&mut self) -> bool {
        let keys = std::mem::take(&mut self.touched);
        let drifted = match &self.last_model {
            Some(model) => {
                let actual = Actual::from_cache(&self.driver.own, &self.cache);
                !plan::diff_keys(model, &actual, &keys).is_empty()
            }
            None => true,
        };
        if drifted {
            debug!(rows = keys.len(), "owned NB rows drifted; reconciling");
        }
        drifted
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
