//! One seeded run: the cluster, the chaos suite's workload through the real
//! client library, a seeded schedule of faults, checks after every step and at
//! the end, and the trace that proves the run repeats.
//!
//! Phases: setup (the workload's VPC and subnets), faults for `fault_ms` of
//! simulated time, then a liveness phase without faults: every fault healed, the
//! cluster must serve a write within `liveness_ms`, and the final read follows.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use prismnet_api::{v1, ClientConfig, PrismClient, RequestIds};
use prismnet_chaos::history::{self, Event, PortSeen, Record, F};
use prismnet_chaos::report::Outcome;
use prismnet_chaos::traffic::{self, Recorder, Subnet, TrafficConfig};
use prismnet_chaos::validate;
use prismnet_raft::{NodeId, PeerNode};

use crate::faults::{AdminQueue, Fault, Kind, Schedule};
use crate::node::{self, NodeSlot};
use crate::trace::Trace;

#[derive(Clone, Debug)]
pub struct Options {
    pub seed: u64,
    /// Nodes that form the cluster at start.
    pub nodes: u64,
    /// Nodes that may join it later (the `replace` fault): at most five in all.
    pub spares: u64,
    pub clients: usize,
    /// Simulated time with faults.
    pub fault_ms: u64,
    /// Simulated time the cluster gets to serve again after the last heal.
    pub liveness_ms: u64,
    /// Print every event of the trace as it happens.
    pub trace: bool,
    /// Faults given in full instead of drawn from the seed: `(start_ms, heal_ms,
    /// kind)` (scenario tests).
    pub faults: Option<Vec<(u64, u64, Kind)>>,
    /// Write the history (chaos format), the final read, the subnets and the
    /// checkers' evidence here.
    pub dump: Option<std::path::PathBuf>,
}

impl Options {
    pub fn new(seed: u64) -> Options {
        Options {
            seed,
            nodes: 3,
            spares: 2,
            clients: 6,
            fault_ms: 6_000,
            liveness_ms: 10_000,
            trace: false,
            dump: None,
            faults: None,
        }
    }
}

/// How a run ended, with VOPR's distinction of safety and liveness.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Verdict {
    Valid,
    /// A promise broken: the cluster did something it must never do.
    Safety(String),
    /// The cluster did not serve again within the bound after the faults.
    Liveness(String),
}

#[derive(Debug)]
pub struct Report {
    pub seed: u64,
    pub verdict: Verdict,
    /// xxh3 of every event of the run, in order: equal for equal seeds.
    pub trace_hash: u64,
    pub events: usize,
    pub operations: usize,
    pub faults: usize,
    pub sim_ms: u64,
    /// Simulated time from the last heal to the first acknowledged write after it.
    pub recovery_ms: Option<u64>,
}

/// What the client host hands back to the driver.
#[derive(Default)]
struct ClientOut {
    /// Made in the client host, so that its times are simulated time.
    recorder: Option<Arc<Recorder>>,
    /// Simulated time at which the recorder started.
    recorder_start_ms: u64,
    subnets: Vec<Subnet>,
    final_ports: Option<Vec<PortSeen>>,
    error: Option<String>,
    /// What each membership change did, in order.
    admin_log: Vec<String>,
}

/// Runs one seed to its end. Deterministic: the same options give the same
/// report (and trace), on any machine.
pub fn run(opts: &Options) -> Report {
    // Every random choice below the driver comes from the seed: openraft's
    // election timeouts, the client library's backoff jitter, turmoil's latencies.
    prismnet_raft::runtime::seed_thread_rng(opts.seed);
    fastrand::seed(opts.seed);
    let mut trace = Trace::new(opts.trace);
    let dirs = tempfile::tempdir().expect("a temp dir for snapshot files");
    let all = opts.nodes + opts.spares;
    let slots: Vec<Arc<NodeSlot>> = (1..=all)
        .map(|id| NodeSlot::new(id, opts.seed, dirs.path().join(format!("n{id}"))))
        .collect();
    let members: Vec<NodeId> = (1..=opts.nodes).collect();
    let spares: Vec<NodeId> = (opts.nodes + 1..=all).collect();
    let peers: BTreeMap<NodeId, PeerNode> =
        members.iter().map(|id| (*id, node::peer(*id))).collect();

    let mut sim = turmoil::Builder::new()
        .rng_seed(opts.seed)
        .epoch(std::time::UNIX_EPOCH + Duration::from_millis(node::EPOCH_MS))
        .tick_duration(Duration::from_millis(1))
        .min_message_latency(Duration::from_micros(200))
        .max_message_latency(Duration::from_millis(5))
        .simulation_duration(Duration::from_millis(
            opts.fault_ms + opts.liveness_ms + 60_000,
        ))
        .enable_random_order()
        .build();
    for slot in &slots {
        let (slot, peers) = (slot.clone(), peers.clone());
        sim.host(node::host_name(slot.id), move || {
            node::software(slot.clone(), peers.clone())
        });
    }

    for slot in &slots {
        assert_eq!(
            sim.lookup(node::host_name(slot.id)),
            std::net::IpAddr::V4(node::ip(slot.id)),
            "turmoil numbers hosts in registration order"
        );
    }
    let stop = Arc::new(AtomicBool::new(false));
    let out = Arc::new(Mutex::new(ClientOut::default()));
    let admin = AdminQueue::default();
    sim.client(
        "client",
        client(opts.clone(), stop.clone(), out.clone(), admin.clone()),
    );

    let mut schedule = match &opts.faults {
        Some(given) => Schedule::given(given),
        None => Schedule::new(opts.seed, &members, &spares, opts.fault_ms),
    };
    let mut checks = crate::invariants::StepChecks::default();
    let mut verdict = Verdict::Valid;
    let mut faults = 0usize;
    let mut stopped_at = None;
    loop {
        let now_ms = sim.elapsed().as_millis() as u64;
        while let Some(f) = schedule.due(now_ms) {
            faults += usize::from(matches!(f, Fault::Start(_)));
            trace.event(now_ms, &format!("{f}"));
            crate::faults::apply(&mut sim, &slots, &admin, &f, &mut trace, now_ms);
        }
        if stopped_at.is_none() && now_ms >= opts.fault_ms + opts.liveness_ms {
            stop.store(true, Ordering::Relaxed);
            stopped_at = Some(now_ms);
        }
        match sim.step() {
            Ok(true) => break,
            Ok(false) => {}
            Err(e) => {
                verdict = Verdict::Safety(format!("simulation error: {e}"));
                break;
            }
        }
        if let Err(v) = checks.after_step(&slots, &mut trace, now_ms) {
            verdict = Verdict::Safety(v);
            break;
        }
    }
    let sim_ms = sim.elapsed().as_millis() as u64;
    drop(sim);

    for line in lock(&out).admin_log.clone() {
        trace.line(&format!("operator: {line}"));
    }
    let records = lock(&out)
        .recorder
        .as_ref()
        .map(|r| r.records())
        .unwrap_or_default();
    for r in &records {
        trace.record(r);
    }
    let recovery_ms = recovery(&records, &out, opts.fault_ms);
    if verdict == Verdict::Valid {
        verdict = final_checks(&records, &out, &slots, &checks, opts.dump.as_deref());
    }
    if verdict == Verdict::Valid {
        verdict = match recovery_ms {
            Some(ms) if ms <= opts.liveness_ms => Verdict::Valid,
            Some(ms) => Verdict::Liveness(format!(
                "first write acknowledged {ms} ms after the last heal (bound {} ms)",
                opts.liveness_ms
            )),
            None => Verdict::Liveness("no write acknowledged after the last heal".into()),
        };
    }
    prismnet_raft::runtime::unseed_thread_rng();
    Report {
        seed: opts.seed,
        verdict,
        trace_hash: trace.hash(),
        events: trace.events(),
        operations: records.iter().filter(|r| r.is_invoke()).count(),
        faults,
        sim_ms,
        recovery_ms,
    }
}

/// Simulated ms from the end of the faults (`fault_ms`: every fault is healed by
/// then) to the first write acknowledged after it.
fn recovery(records: &[Record], out: &Mutex<ClientOut>, fault_ms: u64) -> Option<u64> {
    let start_ms = lock(out).recorder_start_ms;
    let heal_ns = fault_ms.saturating_sub(start_ms) * 1_000_000;
    records
        .iter()
        .find(|r| {
            r.time_ns >= heal_ns
                && matches!(r.event, Event::Ok { .. })
                && !matches!(r.f, F::GetPort { .. } | F::ListPorts { .. })
        })
        .map(|r| (r.time_ns - heal_ns) / 1_000_000)
}

/// The client host: setup, the workload until told to stop, a write that proves
/// the cluster serves, the final read.
async fn client(
    opts: Options,
    stop: Arc<AtomicBool>,
    out: Arc<Mutex<ClientOut>>,
    admin: AdminQueue,
) -> turmoil::Result {
    let endpoints: Vec<String> = (1..=opts.nodes + opts.spares)
        .map(|id| node::peer(id).api_addr)
        .collect();
    let ids = Arc::new(Mutex::new(fastrand::Rng::with_seed(opts.seed ^ 0x5eed)));
    let mut config = ClientConfig::new(endpoints.clone());
    config.dial = Some(crate::net::api_dial());
    config.request_ids = Some(RequestIds(Arc::new(move || {
        let mut r = ids.lock().unwrap_or_else(|p| p.into_inner());
        format!("{:032x}", r.u128(..))
    })));
    config.deadline = Duration::from_secs(10);
    let api = PrismClient::connect(config.clone()).await?;
    // Half the clients through one client of every node, half pinned to one
    // node until redirected, as in the chaos suite.
    let mut apis = vec![api.clone()];
    for e in &endpoints {
        let mut pinned = config.clone();
        pinned.endpoints = vec![e.clone()];
        apis.push(PrismClient::connect(pinned).await?);
    }
    let subnets = match traffic::setup(&api, 2).await {
        Ok(s) => s,
        Err(e) => {
            lock(&out).error = Some(format!("setup: {e}"));
            return Ok(());
        }
    };
    let recorder = Arc::new(Recorder::new(tokio::time::Instant::now()));
    {
        let mut o = lock(&out);
        o.subnets = subnets.clone();
        o.recorder = Some(recorder.clone());
        o.recorder_start_ms = turmoil::sim_elapsed().unwrap_or_default().as_millis() as u64;
    }
    let tc = TrafficConfig {
        clients: opts.clients,
        seed: opts.seed,
        think: Duration::from_millis(5),
    };
    let operator = tokio::spawn(operator(api.clone(), admin, stop.clone(), out.clone()));
    traffic::run(apis, subnets.clone(), tc, recorder, stop).await;
    let _ = operator.await;

    let mut all = Vec::new();
    for s in &subnets {
        match traffic::list(&api, &s.id).await {
            Ok(p) => all.extend(p),
            Err(e) => {
                lock(&out).error = Some(format!("final read: {e}"));
                return Ok(());
            }
        }
    }
    let mut o = lock(&out);
    o.final_ports = Some(all);
    Ok(())
}

/// The operator: makes the membership changes the driver queues, through the
/// admin API (`AddNode` makes a learner and promotes it once caught up; then
/// `RemoveNode`), as an operator replacing a node would.
async fn operator(
    api: PrismClient,
    admin: AdminQueue,
    stop: Arc<AtomicBool>,
    out: Arc<Mutex<ClientOut>>,
) {
    while !stop.load(Ordering::Relaxed) {
        let next = lock(&admin).pop_front();
        let Some(Kind::Replace { add, remove }) = next else {
            tokio::time::sleep(Duration::from_millis(10)).await;
            continue;
        };
        let peer = node::peer(add);
        let added = api
            .add_node(v1::AddNodeRequest {
                id: add,
                raft_addr: peer.raft_addr,
                api_addr: peer.api_addr,
                ..Default::default()
            })
            .await;
        let line = match added {
            Err(e) => format!("add n{add} failed: {e}"),
            Ok(_) => match api
                .remove_node(v1::RemoveNodeRequest {
                    id: remove,
                    ..Default::default()
                })
                .await
            {
                Ok(_) => format!("added n{add}, removed n{remove}"),
                Err(e) => format!("added n{add}; removing n{remove} failed: {e}"),
            },
        };
        lock(&out).admin_log.push(line);
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// The end: the history against the chaos suite's model and invariants, and
/// the replicas against each other.
fn final_checks(
    records: &[Record],
    out: &Mutex<ClientOut>,
    slots: &[Arc<NodeSlot>],
    checks: &crate::invariants::StepChecks,
    dump: Option<&std::path::Path>,
) -> Verdict {
    let out = lock(out);
    if let Some(e) = &out.error {
        return Verdict::Liveness(e.clone());
    }
    let Some(final_ports) = &out.final_ports else {
        return Verdict::Liveness("the workload never finished".into());
    };
    let ops = match history::operations(records) {
        Ok(ops) => ops,
        Err(e) => return Verdict::Safety(format!("malformed history: {e}")),
    };
    let lin = validate::linearizable(
        &ops,
        &out.subnets,
        final_ports,
        validate::BUDGET_STEPS_DEFAULT,
    );
    let inv = validate::invariants(&ops, &out.subnets, final_ports);
    if let Some(dir) = dump {
        if let Err(e) = write_dump(dir, records, &out.subnets, final_ports, &lin, &inv) {
            eprintln!("cannot write {}: {e}", dir.display());
        }
    }
    if lin.outcome == Outcome::Anomaly {
        return Verdict::Safety(format!("linearizable: {}", lin.summary));
    }
    if inv.outcome == Outcome::Anomaly {
        return Verdict::Safety(format!("invariants: {}", inv.summary));
    }
    if let Err(e) = checks.replicas_equal(slots) {
        return Verdict::Safety(e);
    }
    Verdict::Valid
}

fn write_dump(
    dir: &std::path::Path,
    records: &[Record],
    subnets: &[Subnet],
    final_ports: &[PortSeen],
    lin: &validate::Finding,
    inv: &validate::Finding,
) -> std::io::Result<()> {
    std::fs::create_dir_all(dir)?;
    history::write(std::fs::File::create(dir.join("history.jsonl"))?, records)?;
    let json = |name: &str, v: serde_json::Value| {
        std::fs::write(
            dir.join(name),
            serde_json::to_string_pretty(&v).unwrap_or_default(),
        )
    };
    json("subnets.json", serde_json::json!(subnets))?;
    json("final.json", serde_json::json!(final_ports))?;
    json("linearizable.json", lin.details.clone())?;
    json("invariants.json", inv.details.clone())
}
