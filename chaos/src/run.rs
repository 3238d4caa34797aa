//! One run: start the cluster, drive traffic through a seeded schedule of faults,
//! heal, let it settle, read the final state, check, and write the run directory.
//!
//! Phases (the times are the run's own clock, the one the history uses):
//! 1. setup: cluster up, the VPC and subnets made, a short warm-up of traffic;
//! 2. safety: the schedule, each fault held then healed, traffic throughout;
//! 3. liveness: no faults; the cluster must serve writes again within a bound;
//! 4. final: traffic stops, a linearizable read of every subnet, the checks.

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use prismnet_api::{ClientConfig, PrismClient};
use serde::{Deserialize, Serialize};
use tracing::{info, warn};

use crate::cluster::{Cluster, ClusterConfig};
use crate::failpoint::{exec, schedule, Nemesis, Pace, Step, Window};
use crate::history::PortSeen;
use crate::traffic::{self, Recorder, Subnet, TrafficConfig};

#[derive(Clone, Debug)]
pub struct RunConfig {
    pub dir: PathBuf,
    pub prismnetd: PathBuf,
    pub nemeses: Vec<Nemesis>,
    pub seed: u64,
    /// Length of the safety phase (the schedule may run past it to cover every
    /// nemesis once).
    pub time: Duration,
    pub pace: Pace,
    pub clients: usize,
    pub subnets: u8,
    /// The client library's deadline per call.
    pub deadline: Duration,
    /// How long the cluster gets to serve again once every fault is healed.
    pub liveness: Duration,
    pub node_args: Vec<String>,
    /// More environment for every node (e.g. `PRISMNET_FAILPOINTS`).
    pub node_env: Vec<(String, String)>,
}

#[derive(Debug, thiserror::Error)]
pub enum RunError {
    #[error(transparent)]
    Sys(#[from] crate::cluster::sys::SysError),
    #[error("client library: {0}")]
    Client(#[from] prismnet_api::ClientError),
    #[error("{0}")]
    Setup(String),
    #[error("{what}: {source}")]
    Io {
        what: String,
        #[source]
        source: std::io::Error,
    },
}

/// Deadline of a call of a client pinned to one node (see `run`): over one
/// attempt timeout (1 s), so each call gets a full attempt and a retry.
const PINNED_DEADLINE: Duration = Duration::from_millis(2_500);

/// What a run observed, before the checks judge it.
pub struct Observed {
    pub config_seed: u64,
    pub subnets: Vec<Subnet>,
    pub records: Vec<crate::history::Record>,
    pub windows: Vec<Window>,
    pub schedule: Vec<Step>,
    /// Every subnet's ports, read linearizably after the run.
    pub final_ports: Vec<PortSeen>,
    /// When the liveness phase began, and when the first write after it
    /// succeeded (`None`: none did).
    pub healed_ns: u64,
    pub first_write_after_heal_ns: Option<u64>,
    /// NB's own transaction log (one member's), for the audit.
    pub nb_log: String,
    /// Owned NB rows that differ from the state after the run (`prismctl ovn diff`).
    pub nb_drift: Result<Vec<String>, String>,
    /// Each node's (applied index, state digest) once writes stopped.
    pub digests: Vec<(u64, NodeDigest)>,
}

/// A node's (applied index, state digest), or why it could not say.
pub type NodeDigest = Result<(u64, String), String>;

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct RunMeta {
    pub seed: u64,
    pub nemeses: Vec<String>,
    pub time_s: f64,
    pub clients: usize,
    pub schedule: Vec<Step>,
    /// The workload's subnets (their ranges are what the checkers model).
    #[serde(default)]
    pub subnets: Vec<Subnet>,
}

fn client(
    endpoints: Vec<String>,
    deadline: Duration,
) -> impl std::future::Future<Output = Result<PrismClient, prismnet_api::ClientError>> {
    PrismClient::connect(ClientConfig {
        deadline,
        connect_timeout: Duration::from_secs(1),
        ..ClientConfig::new(endpoints)
    })
}

/// Which node every answering node names leader, if they agree and it says so.
pub async fn leader(endpoints: &[String]) -> Option<u64> {
    let mut views = Vec::new();
    for e in endpoints {
        let Ok(c) = client(vec![e.clone()], Duration::from_secs(1)).await else {
            continue;
        };
        if let Ok(s) = c
            .cluster_status(prismnet_api::v1::ClusterStatusRequest {})
            .await
        {
            views.push(s);
        }
    }
    let leader = views.iter().find_map(|s| {
        let me = s.nodes.iter().find(|n| n.id == s.node_id)?;
        (me.role == prismnet_api::v1::NodeRole::Leader as i32).then_some(s.node_id)
    })?;
    let agree = views.iter().filter(|s| s.leader_id == Some(leader)).count();
    (agree * 2 > endpoints.len()).then_some(leader)
}

/// Runs the whole thing; the cluster is gone (and cleaned up) when it returns.
pub fn run(config: &RunConfig) -> Result<Observed, RunError> {
    let fake_clocks = config.nemeses.iter().any(Nemesis::needs_clock);
    if fake_clocks && !crate::failpoint::clock::available() {
        return Err(RunError::Setup(format!(
            "the clock nemeses need libfaketime ({}; Debian package faketime)",
            crate::failpoint::clock::LIBFAKETIME
        )));
    }
    if std::fs::read_dir(&config.dir).is_ok_and(|mut d| d.next().is_some()) {
        return Err(RunError::Setup(format!(
            "run dir {} exists and is not empty: choose another --out or remove it",
            config.dir.display()
        )));
    }
    let started = Instant::now();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(|source| RunError::Io {
            what: "tokio runtime".into(),
            source,
        })?;
    let mut cluster = Cluster::start(ClusterConfig {
        prismnetd: config.prismnetd.clone(),
        dir: config.dir.clone(),
        nodes: 3,
        node_args: config.node_args.clone(),
        node_env: config.node_env.clone(),
        fake_clocks,
        raft_proxies: config.nemeses.contains(&Nemesis::LinkDelay),
        lazyfs: config.nemeses.iter().any(Nemesis::needs_lazyfs),
    })?;
    let endpoints = cluster.endpoints();
    let api = rt.block_on(client(endpoints.clone(), config.deadline))?;
    let subnets = rt.block_on(setup_with_retries(&api, config.subnets))?;
    info!(subnets = subnets.len(), "cluster up; traffic starts");

    let recorder = Arc::new(Recorder::new(started.into()));
    let stop = Arc::new(AtomicBool::new(false));
    // Half the clients share one client given every node; each of the others
    // starts at one node and stays there until redirected. A node that answers
    // a linearizable read itself when it must not (a deposed or lagging node) is
    // then seen doing it, instead of being left as soon as the library learns of
    // a newer leader.
    //
    // A pinned client's deadline is short: a call its one node cannot serve (an
    // isolated leader holding a write it cannot commit) would otherwise hold the
    // client for the whole fault, and a stale read from that node would never be
    // asked for. It gives up, the call counts as unknown, and it goes on as a new
    // process, reading and writing, while the fault lasts.
    let pinned_deadline = config.deadline.min(PINNED_DEADLINE);
    let mut apis = Vec::new();
    for e in &endpoints {
        apis.push(api.clone());
        apis.push(rt.block_on(client(vec![e.clone()], pinned_deadline))?);
    }
    let traffic = rt.spawn(traffic::run(
        apis,
        subnets.clone(),
        TrafficConfig {
            clients: config.clients,
            seed: config.seed,
            think: Duration::from_millis(20),
        },
        recorder.clone(),
        stop.clone(),
    ));
    std::thread::sleep(Duration::from_secs(2));

    let steps = schedule(&config.nemeses, config.seed, config.time, config.pace);
    let windows = run_schedule(&mut cluster, &rt, &steps, &recorder, config.seed)?;

    let healed_ns = recorder.now_ns();
    info!("every fault healed; liveness phase");
    std::thread::sleep(config.liveness);
    stop.store(true, Ordering::SeqCst);
    let _ = rt.block_on(traffic);
    let records = recorder.records();
    let first_write_after_heal_ns = first_write_after(&records, healed_ns);

    let final_ports = rt.block_on(final_read(&api, &subnets))?;
    let nb_drift = rt.block_on(settled_drift(&api));
    let digests = rt.block_on(digests(&cluster));
    let leader_nb = cluster.ovn.leader().unwrap_or(1);
    let nb_log = cluster.ovn.show_log(leader_nb).unwrap_or_default();
    Ok(Observed {
        config_seed: config.seed,
        subnets,
        records,
        windows,
        schedule: steps,
        final_ports,
        healed_ns,
        first_write_after_heal_ns,
        nb_log,
        nb_drift,
        digests,
    })
}

/// The schedule, step by step: find the leader, start the fault, hold it, heal it,
/// stay quiet.
fn run_schedule(
    cluster: &mut Cluster,
    rt: &tokio::runtime::Runtime,
    steps: &[Step],
    recorder: &Recorder,
    seed: u64,
) -> Result<Vec<Window>, RunError> {
    let mut rng = fastrand::Rng::with_seed(seed ^ 0x006e_656d_6573_6973);
    let mut windows = Vec::new();
    for step in steps {
        // Membership may have changed: ask the members of now.
        let leader = rt.block_on(leader(&cluster.endpoints()));
        let start_ns = recorder.now_ns();
        let active = exec::start(cluster, step.nemesis, leader, &mut rng, rt)?;
        let in_effect_ns = recorder.now_ns();
        info!(nemesis = %step.nemesis.name(), detail = %active.detail, hold_ms = step.hold_ms, "fault");
        std::thread::sleep(Duration::from_millis(step.hold_ms));
        let detail = active.detail.clone();
        exec::heal(cluster, active)?;
        windows.push(Window {
            nemesis: step.nemesis.name(),
            detail,
            start_ns,
            in_effect_ns,
            end_ns: recorder.now_ns(),
        });
        std::thread::sleep(Duration::from_millis(step.quiet_ms));
    }
    Ok(windows)
}

async fn setup_with_retries(api: &PrismClient, n: u8) -> Result<Vec<Subnet>, RunError> {
    let mut last = None;
    for _ in 0..5 {
        match traffic::setup(api, n).await {
            Ok(s) => return Ok(s),
            Err(e) => {
                warn!(error = %e, "setting up the subnets; retrying");
                last = Some(e);
            }
        }
    }
    Err(RunError::Setup(format!(
        "could not make the VPC and subnets: {}",
        last.map(|e| e.to_string()).unwrap_or_default()
    )))
}

/// When the first acknowledged write after `after_ns` completed.
fn first_write_after(records: &[crate::history::Record], after_ns: u64) -> Option<u64> {
    use crate::history::{Event, F};
    records
        .iter()
        .filter(|r| r.time_ns >= after_ns)
        .filter(|r| matches!(r.event, Event::Ok { .. }))
        .filter(|r| !matches!(r.f, F::GetPort { .. } | F::ListPorts { .. }))
        .map(|r| r.time_ns)
        .next()
}

/// Every subnet's ports, read linearizably once the cluster serves again.
async fn final_read(api: &PrismClient, subnets: &[Subnet]) -> Result<Vec<PortSeen>, RunError> {
    let mut all = Vec::new();
    for s in subnets {
        let mut last = None;
        let mut got = None;
        for _ in 0..6 {
            match traffic::list(api, &s.id).await {
                Ok(p) => {
                    got = Some(p);
                    break;
                }
                // The subnet was acknowledged at setup and is gone (a lost write:
                // power loss with a broken fsync): it has no ports, and every
                // acknowledged create in it is missing from the final state.
                Err(e) if e.is("not_found") => {
                    warn!(subnet = %s.id, "final read: the subnet is gone; read as empty");
                    got = Some(Vec::new());
                    break;
                }
                Err(e) => last = Some(e),
            }
        }
        match got {
            Some(p) => all.extend(p),
            None => {
                return Err(RunError::Setup(format!(
                    "final read of subnet {} failed: {}",
                    s.id,
                    last.map(|e| e.to_string()).unwrap_or_default()
                )))
            }
        }
    }
    Ok(all)
}

/// `prismctl ovn diff` until it is empty or 30 s passed: what still differs.
async fn settled_drift(api: &PrismClient) -> Result<Vec<String>, String> {
    let started = Instant::now();
    loop {
        let d = api
            .ovn_diff(prismnet_api::v1::OvnDiffRequest {
                page_size: 100,
                ..Default::default()
            })
            .await;
        match d {
            Ok(d) if d.drifts.is_empty() => return Ok(Vec::new()),
            Ok(d) if started.elapsed() > Duration::from_secs(30) => {
                return Ok(d.drifts.iter().map(|x| x.detail.clone()).collect())
            }
            Err(e) if started.elapsed() > Duration::from_secs(30) => return Err(e.to_string()),
            _ => tokio::time::sleep(Duration::from_millis(500)).await,
        }
    }
}

/// Each node's applied index and state digest, once they all applied the same
/// index (writes have stopped).
async fn digests(cluster: &Cluster) -> Vec<(u64, NodeDigest)> {
    let mut out = Vec::new();
    let started = Instant::now();
    loop {
        out.clear();
        for id in cluster.ids() {
            let r = match client(vec![cluster.node(id).endpoint()], Duration::from_secs(2)).await {
                Ok(c) => c
                    .state_digest(prismnet_api::v1::StateDigestRequest {})
                    .await
                    .map(|d| (d.applied_index, d.digest))
                    .map_err(|e| e.to_string()),
                Err(e) => Err(e.to_string()),
            };
            out.push((id, r));
        }
        let indexes: Vec<u64> = out
            .iter()
            .filter_map(|(_, r)| r.as_ref().ok().map(|(i, _)| *i))
            .collect();
        let settled = indexes.len() == out.len() && indexes.windows(2).all(|w| w[0] == w[1]);
        if settled || started.elapsed() > Duration::from_secs(30) {
            return out;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}
