//! The node's side of OVN: the Raft leader alone runs the fenced NB reconciler
//! (`prismnet_ovn::OvnDriver`), every node probes whether it can reach NB, and a
//! leader that cannot reach NB gives way to a follower that can.
//!
//! Leader-only: the reconciler runs for exactly one (node, term) pair and is stopped
//! the moment this node stops leading at that term. The fence in NB (epoch = term)
//! makes a deposed leader's late writes fail even if it has not noticed yet.
//!
//! Handoff (openraft 0.9 has no leadership transfer): each follower that reaches NB
//! asks the leader's ClusterStatus once a second; when the leader has reported
//! `ovn_nb_connected = false` for [`HANDOFF_AFTER`], the follower starts an election
//! (`trigger_elect`). Followers wait an extra second per node id so the lowest id
//! tries first, and a new leader is accepted only if its log is current, as always.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use prismnet_api::v1;
use prismnet_ovn::ovsdb::Client;
use prismnet_ovn::reconcile::fence::FenceError;
use prismnet_ovn::{DriverConfig, DriverError, LeaderExit, OvnDriver, StateSource};
use prismnet_raft::RaftNode;
use prismnet_state::State;
use tokio::sync::Notify;
use tracing::{error, info, warn};

/// How long the leader must have reported NB lost before a follower takes over.
/// The leader only reports it after its own echo probe gave up (4-6 s of
/// silence, see `prismnet_ovn::reconcile::NB_ECHO_INTERVAL`) or its connection
/// broke and did not come back, so this only filters a report that flaps
/// (e.g. an NB restart, which followers see too and then do not campaign).
pub const HANDOFF_AFTER: Duration = Duration::from_secs(2);
/// How often followers probe NB and check on the leader.
pub const PROBE_INTERVAL: Duration = Duration::from_secs(1);
/// Pause after the driver failed before it runs again (still leading).
pub const RESTART_DELAY: Duration = Duration::from_secs(1);
/// Bound on one NB probe connection attempt and one status call to the leader.
pub const PROBE_TIMEOUT: Duration = Duration::from_secs(2);

pub struct Ovn {
    pub driver: OvnDriver,
    raft: Arc<RaftNode>,
    /// This node's own reachability of NB as a follower (the leader uses the
    /// driver's status).
    probe_ok: AtomicBool,
    /// Woken by an operator takeover so an idle leader claims NB again.
    takeover: Notify,
    /// Token for asking the leader's status when tokens are configured.
    token: Option<String>,
}

impl Ovn {
    /// Starts the supervisor and the probe; the driver itself runs only while this
    /// node leads.
    pub fn start(
        raft: Arc<RaftNode>,
        remotes: &[String],
        cluster_name: &str,
        token: Option<String>,
    ) -> Result<Arc<Ovn>, DriverError> {
        let driver = OvnDriver::new(DriverConfig::new(remotes, cluster_name)?);
        let ovn = Arc::new(Ovn {
            driver,
            raft,
            probe_ok: AtomicBool::new(false),
            takeover: Notify::new(),
            token,
        });
        tokio::spawn(ovn.clone().supervise());
        tokio::spawn(ovn.clone().probe_and_handoff());
        Ok(ovn)
    }

    /// Whether this node reaches NB now.
    pub fn nb_connected(&self) -> bool {
        if self.raft.leader_term().is_some() {
            self.driver.status().nb_connected()
        } else {
            self.probe_ok.load(Ordering::Relaxed)
        }
    }

    /// The replicated state as the driver reads it: this node's applied state.
    pub fn state_source(&self) -> Arc<dyn StateSource> {
        let raft = self.raft.clone();
        Arc::new(move |f: &mut dyn FnMut(&State)| raft.read_stale(|s| f(s)))
    }

    /// Lets an idle leader (refused by a newer epoch) claim NB again.
    pub fn notify_takeover(&self) {
        self.takeover.notify_waiters();
    }

    async fn supervise(self: Arc<Self>) {
        let mut metrics = self.raft.metrics();
        loop {
            let Some(term) = self.raft.leader_term() else {
                if metrics.changed().await.is_err() {
                    return;
                }
                continue;
            };
            info!(term, "leading: starting the OVN NB driver");
            let stop = leadership_ends(self.raft.clone(), term);
            let result = self
                .driver
                .run_leader(
                    term,
                    self.state_source(),
                    self.raft.subscribe_applied(),
                    stop,
                )
                .await;
            match result {
                Ok(LeaderExit::Stopped) => info!(
                    term,
                    "no longer leading at this term: OVN NB driver stopped"
                ),
                Ok(LeaderExit::FenceLost { stored }) => {
                    warn!(
                        term,
                        ?stored,
                        "another leader claimed OVN NB; this node stops writing it"
                    );
                    self.idle(term).await;
                }
                Err(DriverError::Fence(FenceError::Newer { .. })) => {
                    error!(
                        term,
                        error = %result.as_ref().err().map(ToString::to_string).unwrap_or_default(),
                        "OVN NB is owned by a newer epoch (a re-created or restored cluster?); not writing it. \
                         An operator can take it over with `prismctl ovn takeover --force`"
                    );
                    self.idle(term).await;
                }
                Err(e) => {
                    warn!(term, error = %e, "OVN NB driver failed; restarting it");
                    tokio::time::sleep(RESTART_DELAY).await;
                }
            }
        }
    }

    /// Waits until leadership at `term` ends or an operator takeover happened.
    async fn idle(&self, term: u64) {
        tokio::select! {
            () = leadership_ends(self.raft.clone(), term) => {}
            () = self.takeover.notified() => info!(term, "takeover: driving OVN NB again"),
        }
    }

    async fn probe_and_handoff(self: Arc<Self>) {
        let mut probe: Option<Client> = None;
        let mut leader_cut_off_since: Option<Instant> = None;
        let mut tick = tokio::time::interval(PROBE_INTERVAL);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            if self.raft.leader_term().is_some() {
                probe = None;
                leader_cut_off_since = None;
                continue;
            }
            if probe.is_none() {
                let cfg = self.driver.config().client.clone();
                probe = tokio::time::timeout(PROBE_TIMEOUT, Client::connect(cfg))
                    .await
                    .ok()
                    .and_then(Result::ok);
            }
            let ok = probe.as_ref().is_some_and(|c| c.current_remote().is_some());
            self.probe_ok.store(ok, Ordering::Relaxed);
            if !ok {
                leader_cut_off_since = None;
                continue;
            }
            match self.leader_reaches_nb().await {
                Some(false) => {
                    let since = *leader_cut_off_since.get_or_insert_with(Instant::now);
                    // Lower ids go first so followers do not all campaign at once.
                    let wait =
                        HANDOFF_AFTER + PROBE_INTERVAL * (self.raft.id().saturating_sub(1) as u32);
                    if since.elapsed() >= wait {
                        warn!(waited = ?since.elapsed(), "the leader cannot reach OVN NB and this node can: starting an election");
                        if let Err(e) = self.raft.trigger_elect().await {
                            warn!(error = %e, "could not start an election");
                        }
                        leader_cut_off_since = None;
                    }
                }
                _ => leader_cut_off_since = None,
            }
        }
    }

    /// What the leader says of its own NB connection (None: no leader or no answer).
    async fn leader_reaches_nb(&self) -> Option<bool> {
        let st = self.raft.status();
        let leader = st.leader_id?;
        let peer = st
            .voters
            .get(&leader)
            .or_else(|| st.learners.get(&leader))?;
        let endpoint = format!("http://{}", peer.api_addr);
        let call = async {
            let channel = tonic::transport::Endpoint::from_shared(endpoint)
                .ok()?
                .connect()
                .await
                .ok()?;
            let mut client = v1::admin_service_client::AdminServiceClient::new(channel);
            let mut req = tonic::Request::new(v1::ClusterStatusRequest {});
            if let Some(t) = &self.token {
                req.metadata_mut()
                    .insert("authorization", format!("Bearer {t}").parse().ok()?);
            }
            let resp = client.cluster_status(req).await.ok()?.into_inner();
            resp.nodes
                .iter()
                .find(|n| n.id == leader)?
                .health
                .as_ref()
                .map(|h| h.ovn_nb_connected)
        };
        tokio::time::timeout(PROBE_TIMEOUT, call)
            .await
            .ok()
            .flatten()
    }
}

/// Resolves when this node no longer leads at `term`.
async fn leadership_ends(raft: Arc<RaftNode>, term: u64) {
    let mut metrics = raft.metrics();
    let id = raft.id();
    loop {
        {
            let m = metrics.borrow_and_update();
            if m.current_leader != Some(id) || m.current_term != term {
                return;
            }
        }
        if metrics.changed().await.is_err() {
            return;
        }
    }
}
