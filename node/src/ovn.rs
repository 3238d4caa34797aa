//! The node's side of OVN: the Raft leader alone runs the fenced NB reconciler
//! (`prismnet_ovn::OvnDriver`), every node probes whether it can reach NB, and a
//! leader that cannot reach NB gives way to a follower that can.
//!
//! Leader-only: the reconciler runs for exactly one (term, node) pair and is stopped
//! the moment this node stops leading at that term. Its epoch is (term, node id,
//! the cluster's incarnation): see `prismnet_ovn::reconcile::fence` for why each of
//! the three. The fence in NB makes a deposed leader's late writes fail even if it
//! has not noticed yet; the driver claims and writes only after [`RaftLeadership`]
//! confirmed the leadership with a read-index barrier, so a new leader's first pass
//! sees every committed entry.
//!
//! The incarnation is named by the first leader that finds none in the state: it
//! proposes `SetIncarnation` with a random value; the first one applied stays.
//!
//! Handoff (openraft 0.9 has no leadership transfer): each follower that reaches NB
//! asks the leader's ClusterStatus once a second; when the leader has reported
//! `ovn_nb_connected = false` for [`HANDOFF_AFTER`], the follower starts an election
//! (`trigger_elect`). Followers wait an extra second per node id so the lowest id
//! tries first, and a new leader is accepted only if its log is current, as always.
//! A leader fenced out by a newer owner (`ovn_fenced_out`) reaches NB: that is no
//! outage, and a new leader would be fenced out the same way, so it never triggers
//! a handoff.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use prismnet_api::v1;
use prismnet_ovn::ovsdb::Client;
use prismnet_ovn::reconcile::BoxFuture;
use prismnet_ovn::{DriverConfig, DriverError, Epoch, Leadership, OvnDriver, StateSource};
use prismnet_raft::RaftNode;
use prismnet_state::{Actor, Command, Outcome, Request, State};
use tracing::{info, warn};

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
/// Bound on one leadership confirmation (a quorum round, then the wait for the
/// local apply to reach the read index). A leader that cannot confirm within it
/// writes nothing and asks again.
pub const CONFIRM_TIMEOUT: Duration = Duration::from_secs(2);

pub struct Ovn {
    pub driver: OvnDriver,
    raft: Arc<RaftNode>,
    /// This node's own reachability of NB as a follower (the leader uses the
    /// driver's status).
    probe_ok: AtomicBool,
    /// Token for asking the leader's status when tokens are configured.
    token: Option<String>,
}

/// The driver's view of this node's Raft leadership at one term.
struct RaftLeadership {
    raft: Arc<RaftNode>,
    epoch: Epoch,
}

impl Leadership for RaftLeadership {
    fn epoch(&self) -> Epoch {
        self.epoch
    }

    /// A read-index barrier (openraft's `ensure_linearizable`: a quorum confirms
    /// this leader, and the local apply reaches the commit index, which includes
    /// this term's first entry), and still leading at the same term afterwards.
    fn confirm(&self) -> BoxFuture<'_, bool> {
        Box::pin(async move {
            let term = self.epoch.term;
            if self.raft.leader_term() != Some(term) {
                return false;
            }
            let barrier = self.raft.read_linearizable(|_| ());
            match tokio::time::timeout(CONFIRM_TIMEOUT, barrier).await {
                Ok(Ok(())) => self.raft.leader_term() == Some(term),
                Ok(Err(_)) | Err(_) => false,
            }
        })
    }
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

    /// Whether this node leads but NB's fence names an owner it may not replace.
    pub fn fenced_out(&self) -> bool {
        self.raft.leader_term().is_some() && self.driver.status().fence_state().is_fenced_out()
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
            let Some(incarnation) = self.incarnation().await else {
                tokio::time::sleep(RESTART_DELAY).await;
                continue;
            };
            let epoch = Epoch {
                term,
                node: self.raft.id(),
                incarnation,
            };
            info!(%epoch, "leading: starting the OVN NB driver");
            let leadership = Arc::new(RaftLeadership {
                raft: self.raft.clone(),
                epoch,
            });
            let stop = leadership_ends(self.raft.clone(), term);
            let result = self
                .driver
                .run_leader(
                    leadership,
                    self.state_source(),
                    self.raft.subscribe_applied(),
                    stop,
                )
                .await;
            match result {
                Ok(()) => info!(%epoch, "no longer leading at this term: OVN NB driver stopped"),
                Err(e) => {
                    warn!(%epoch, error = %e, "OVN NB driver failed; restarting it");
                    tokio::time::sleep(RESTART_DELAY).await;
                }
            }
        }
    }

    /// The cluster's incarnation; as leader, names one if the state has none.
    /// None when that write failed (no longer leading, no quorum): try again.
    async fn incarnation(&self) -> Option<u128> {
        if let Some(i) = self.raft.read_stale(State::incarnation) {
            return Some(i);
        }
        let proposed = loop {
            let i: u128 = uuid::Uuid::new_v4().as_u128();
            if i != 0 {
                break i;
            }
        };
        let request = Request {
            actor: Actor::Admin,
            request_id: format!("incarnation-{}", uuid::Uuid::new_v4()),
            command: Command::SetIncarnation {
                incarnation: proposed,
            },
            seen_index: None,
        };
        match self.raft.write(request).await {
            Ok(Ok(applied)) => match applied.outcome {
                Outcome::Incarnation { incarnation } => {
                    info!(
                        incarnation = format!("{incarnation:032x}"),
                        "cluster incarnation"
                    );
                    Some(incarnation)
                }
                other => {
                    warn!(?other, "unexpected outcome of SetIncarnation");
                    None
                }
            },
            Ok(Err(e)) => {
                warn!(error = %e, "naming the cluster incarnation was refused");
                None
            }
            Err(e) => {
                warn!(error = %e, "naming the cluster incarnation failed; retrying");
                None
            }
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
    /// A fenced-out leader counts as reaching NB: it does.
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
                .map(|h| h.ovn_nb_connected || h.ovn_fenced_out)
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
