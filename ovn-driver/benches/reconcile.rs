//! NB driver benchmark (issue 5), a plain binary:
//! `cargo bench -p prismnet-ovn --bench reconcile` (add `-- latency`, `-- drift`
//! or `-- full` to run one part). Real `ovsdb-server`s with the OVN NB schema, the
//! driver run as leader over an in-process `prismnet_state::State`. Prints:
//!
//! - port create -> LSP visible in NB: p50/p99 over a few hundred ports created one
//!   at a time on top of 1,000 background ports (apply a CreatePort to the state,
//!   bump `changes`, wait for the LSP in a separate client's monitor);
//! - drift repair: an owned LSP deleted or edited by a separate client, time until
//!   it is back as it was (~100 samples);
//! - full reconcile of 10,000 ports / 100 subnets / 50 security groups into an
//!   empty NB, then no-op passes and `diff()` of the same.
//!
//! Figures go to docs/benchmarks.md; nothing here asserts a time.

use std::sync::{Arc, Mutex, RwLock};

// As in prismnetd (node/src/main.rs): the driver's passes allocate a lot, and
// glibc malloc/free was ~40% of a pass's samples without it.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;
use std::time::{Duration, Instant};

use prismnet_ovn::nb::Table;
use prismnet_ovn::ovsdb::{
    Client, Condition, MonitorRequest, Mutate, Mutation, TableCache, Update, Uuid, Value,
};
use prismnet_ovn::reconcile::{DriverConfig, OvnDriver, PassStats, Unconditional};
use prismnet_ovn::testing::{nb_config, OvsdbServer};
use prismnet_ovn::topology::Topology;
use prismnet_ovn::StateSource;
use prismnet_state::command::{GroupRef, QuotasPatch, RuleSpec};
use prismnet_state::model::{Direction, Protocol};
use prismnet_state::net::Family;
use prismnet_state::{Command, Id, Scope, State};
use tokio::sync::{oneshot, watch};

const CLUSTER: &str = "bench-cluster";
const PROJECT: &str = "bench";
const WAIT: Duration = Duration::from_secs(120);

fn config(remotes: &[String]) -> DriverConfig {
    let mut c = DriverConfig::new(remotes, CLUSTER).expect("config");
    let requirements = c.client.requirements.clone();
    c.client = nb_config(remotes);
    c.client.requirements = requirements;
    c
}

/// The state under the driver: a topology behind a lock, as the node's applied
/// state is, with the `changes` watch the node bumps after applying.
struct Shared {
    topo: Arc<RwLock<Topology>>,
    changes: watch::Sender<u64>,
}

impl Shared {
    fn new(t: Topology) -> (Shared, watch::Receiver<u64>) {
        let (changes, rx) = watch::channel(t.index());
        (
            Shared {
                topo: Arc::new(RwLock::new(t)),
                changes,
            },
            rx,
        )
    }

    fn source(&self) -> Arc<dyn StateSource> {
        let topo = self.topo.clone();
        Arc::new(move |f: &mut dyn FnMut(&State)| f(&topo.read().unwrap().state))
    }

    /// Applies `f` to the state, then tells the driver (as the node does).
    fn change<R>(&self, f: impl FnOnce(&mut Topology) -> R) -> R {
        let (r, index) = {
            let mut t = self.topo.write().unwrap();
            let r = f(&mut t);
            (r, t.index())
        };
        self.changes.send_replace(index);
        r
    }
}

struct Running {
    driver: OvnDriver,
    stop: Option<oneshot::Sender<()>>,
    task: tokio::task::JoinHandle<Result<(), prismnet_ovn::DriverError>>,
}

impl Running {
    fn start(remotes: &[String], shared: &Shared, rx: watch::Receiver<u64>) -> Running {
        let driver = OvnDriver::new(config(remotes));
        let (stop, stop_rx) = oneshot::channel::<()>();
        let d = driver.clone();
        let source = shared.source();
        let task = tokio::spawn(async move {
            let leadership = std::sync::Arc::new(Unconditional(prismnet_ovn::testing::epoch(7, 1)));
            d.run_leader(leadership, source, rx, async {
                let _ = stop_rx.await;
            })
            .await
        });
        Running {
            driver,
            stop: Some(stop),
            task,
        }
    }

    async fn wait_synced(&self, index: u64) {
        let st = self.driver.status();
        assert!(
            st.wait_synced(index, WAIT).await,
            "not synced to {index}: {:?} {:?}",
            st.last_error(),
            st.last_pass()
        );
    }

    async fn stop(mut self) {
        if let Some(s) = self.stop.take() {
            let _ = s.send(());
        }
        let r = self.task.await.expect("driver task");
        assert!(r.is_ok(), "{r:?}");
    }
}

/// A separate client's view of NB's switches and switch ports, with a version
/// bumped on every monitor event so a waiter wakes as soon as NB changes.
struct Watcher {
    client: Client,
    cache: Arc<Mutex<TableCache>>,
    version: watch::Receiver<u64>,
    _task: tokio::task::JoinHandle<()>,
}

impl Watcher {
    async fn start(remotes: &[String]) -> Watcher {
        let client = Client::connect(nb_config(remotes)).await.expect("connect");
        let mut events = client
            .monitor(&[
                MonitorRequest::new(Table::LogicalSwitchPort.name())
                    .columns(&["name", "addresses"]),
                MonitorRequest::new(Table::LogicalSwitch.name()).columns(&["name", "ports"]),
            ])
            .await
            .expect("monitor");
        let cache = Arc::new(Mutex::new(TableCache::new(client.schema().clone())));
        let (tx, version) = watch::channel(0u64);
        let c = cache.clone();
        let task = tokio::spawn(async move {
            while let Some(ev) = events.recv().await {
                c.lock().unwrap().apply(&ev);
                tx.send_modify(|v| *v += 1);
            }
        });
        Watcher {
            client,
            cache,
            version,
            _task: task,
        }
    }

    /// Waits until `pred` holds on the cache; returns when it was seen.
    async fn until(&mut self, pred: impl Fn(&TableCache) -> bool) -> Instant {
        let deadline = Instant::now() + WAIT;
        loop {
            self.version.borrow_and_update();
            if pred(&self.cache.lock().unwrap()) {
                return Instant::now();
            }
            let left = deadline.saturating_duration_since(Instant::now());
            tokio::time::timeout(left, self.version.changed())
                .await
                .expect("NB did not get there in time")
                .expect("watcher ended");
        }
    }

    /// (lsp uuid, addresses, switch uuid) of the LSP named `name`.
    fn lsp(&self, name: &str) -> Option<(Uuid, Value, Uuid)> {
        let cache = self.cache.lock().unwrap();
        let (uuid, row) = lsp_by_name(&cache, name)?;
        let ls = cache
            .table(Table::LogicalSwitch.name())?
            .iter()
            .find(|(_, r)| {
                r.get("ports")
                    .and_then(Value::as_set)
                    .is_some_and(|s| s.iter().any(|a| a.as_uuid() == Some(&uuid)))
            })?
            .0
            .clone();
        Some((uuid, row.get("addresses")?.clone(), ls))
    }
}

fn lsp_by_name(cache: &TableCache, name: &str) -> Option<(Uuid, prismnet_ovn::ovsdb::Row)> {
    cache
        .table(Table::LogicalSwitchPort.name())?
        .iter()
        .find(|(_, r)| r.get("name").and_then(Value::as_str) == Some(name))
        .map(|(u, r)| (u.clone(), r.clone()))
}

fn lsp_exists(cache: &TableCache, name: &str) -> bool {
    lsp_by_name(cache, name).is_some()
}

fn pct(sorted: &[Duration], p: f64) -> Duration {
    sorted[((sorted.len() as f64 * p) as usize).min(sorted.len() - 1)]
}

fn report(name: &str, mut v: Vec<Duration>) {
    v.sort();
    println!(
        "  {name:<40} n={:<4} p50 {:>8.1?} p90 {:>8.1?} p99 {:>8.1?} max {:>8.1?}",
        v.len(),
        pct(&v, 0.5),
        pct(&v, 0.9),
        pct(&v, 0.99),
        v[v.len() - 1]
    );
}

/// A project with `subnets` /22 subnets in one VPC, `groups` security groups
/// (each: tcp/22 from a CIDR, tcp/80 from members of the group itself, so there
/// are address sets too) and `ports` ports spread over the subnets, each in one
/// of the groups.
fn topology(subnets: usize, groups: usize, ports: usize) -> (Topology, Vec<Id>) {
    let mut t = Topology::new();
    let scope = Scope::new("default", PROJECT).unwrap();
    t.run(Command::SetQuotas {
        scope,
        quotas: QuotasPatch {
            subnets: Some(1000),
            ports: Some(100_000),
            security_groups: Some(1000),
            ..Default::default()
        },
    });
    let vpc = t.vpc(PROJECT, &["10.0.0.0/8"]);
    let subnet_ids: Vec<Id> = (0..subnets)
        .map(|i| {
            let cidr = format!("10.{}.{}.0/22", i / 64, (i % 64) * 4);
            t.subnet(vpc, Some(&cidr), None)
        })
        .collect();
    for g in 0..groups {
        let name = format!("sg{g}");
        let id = t.group(PROJECT, &name);
        t.ingress(id, Protocol::Tcp, Some((22, 22)), Some("192.168.0.0/16"));
        t.rule(
            id,
            RuleSpec {
                direction: Direction::Ingress,
                ethertype: Family::V4,
                protocol: Protocol::Tcp,
                port_min: Some(80),
                port_max: Some(80),
                remote_cidr: None,
                remote_group: Some(GroupRef::Name(name.clone())),
            },
        );
    }
    for i in 0..ports {
        add_port(&mut t, &subnet_ids, groups, i);
    }
    (t, subnet_ids)
}

fn add_port(t: &mut Topology, subnets: &[Id], groups: usize, i: usize) -> Id {
    let mut c = Topology::port_cmd(subnets[i % subnets.len()]);
    c.device_id = format!("6f1c{:04x}-2b7e-4d0a-9c3f-{:012x}", i % 65536, i);
    c.device_owner = "compute:plasmavmc".into();
    if groups > 0 {
        c.security_groups = Some(vec![GroupRef::Name(format!("sg{}", i % groups))]);
    }
    t.port_with(c).id
}

/// Port create -> LSP in NB, one port at a time over 1,000 background ports.
async fn latency(samples: usize) {
    println!("== port create -> LSP visible in NB ({samples} samples, 1,000 background ports) ==");
    let server = OvsdbServer::start_standalone().expect("ovsdb-server");
    let remotes = vec![server.unix_remote()];
    let (t, subnets) = topology(10, 10, 1000);
    let (shared, rx) = Shared::new(t);
    let mut watcher = Watcher::start(&remotes).await;
    let leader = Running::start(&remotes, &shared, rx);
    let index = shared.topo.read().unwrap().index();
    leader.wait_synced(index).await;
    let mut times = Vec::with_capacity(samples);
    let mut passes = Vec::with_capacity(samples);
    for i in 0..samples + 10 {
        let (port, t0) = shared.change(|t| {
            let p = add_port(t, &subnets, 10, 1000 + i);
            (p, Instant::now())
        });
        let name = port.to_string();
        let seen = watcher.until(|c| lsp_exists(c, &name)).await;
        // The first few warm up (connection, allocator, caches).
        if i >= 10 {
            times.push(seen - t0);
            if let Some(p) = leader.driver.status().last_pass() {
                passes.push(p.took);
            }
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    report("CreatePort -> LSP seen by a monitor", times);
    report("driver pass time (last pass)", passes);
    leader.stop().await;
}

/// Owned LSPs deleted or edited behind the driver's back.
async fn drift(samples: usize) {
    println!("== drift repair ({samples} samples, 1,000 ports; half LSP deleted, half LSP addresses edited) ==");
    let server = OvsdbServer::start_standalone().expect("ovsdb-server");
    let remotes = vec![server.unix_remote()];
    let (t, _) = topology(10, 10, 1000);
    let ports: Vec<String> = t.state.ports().map(|p| p.id.to_string()).collect();
    let (shared, rx) = Shared::new(t);
    let mut watcher = Watcher::start(&remotes).await;
    let leader = Running::start(&remotes, &shared, rx);
    let index = shared.topo.read().unwrap().index();
    leader.wait_synced(index).await;
    let (mut deleted, mut edited) = (Vec::new(), Vec::new());
    for i in 0..samples + 4 {
        let name = &ports[(i * 37) % ports.len()];
        let n = name.clone();
        watcher.until(|c| lsp_exists(c, &n)).await;
        let (lsp, addresses, ls) = watcher.lsp(name).expect("lsp and its switch");
        let delete = i % 2 == 0;
        let op = if delete {
            Mutate::new(Table::LogicalSwitch.name())
                .filter(Condition::eq("_uuid", ls))
                .mutation(Mutation::delete("ports", Value::set([lsp.clone()])))
                .into()
        } else {
            Update::new(Table::LogicalSwitchPort.name())
                .filter(Condition::eq("_uuid", lsp.clone()))
                .value("addresses", Value::set(["00:00:00:00:00:99 10.250.0.9"]))
                .into()
        };
        let t0 = Instant::now();
        let reply = watcher.client.transact(&[op]).await.expect("drift write");
        assert_eq!(reply.count(0), Some(1), "the drift write matched no row");
        let seen = watcher
            .until(|c| {
                lsp_by_name(c, name).is_some_and(|(u, r)| {
                    // Compared as sets: a one-element set arrives as an atom
                    // in an insert and as a set after a modify.
                    (delete && u != lsp)
                        || (!delete
                            && r.get("addresses").and_then(Value::as_set) == addresses.as_set())
                })
            })
            .await;
        if i >= 4 {
            if delete { &mut deleted } else { &mut edited }.push(seen - t0);
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let all: Vec<Duration> = deleted.iter().chain(&edited).copied().collect();
    report("LSP deleted -> back", deleted);
    report("LSP addresses edited -> restored", edited);
    report("all", all);
    leader.stop().await;
}

fn stats_line(s: &PassStats) -> String {
    format!(
        "desired rows {}, changes {}, transactions {}, ops {}, errors {}, took {:.1?}",
        s.desired_rows, s.changes, s.transactions, s.ops, s.errors, s.took
    )
}

/// 10,000 ports / 100 subnets / 50 groups into an empty NB; then no-op passes.
async fn full() {
    println!("== full reconcile: 10,000 ports, 100 subnets, 50 security groups ==");
    let built = Instant::now();
    let (t, _) = topology(100, 50, 10_000);
    println!("  state built in {:.1?}", built.elapsed());
    let server = OvsdbServer::start_standalone().expect("ovsdb-server");
    let remotes = vec![server.unix_remote()];
    let index = t.index();
    let (shared, rx) = Shared::new(t);
    let t0 = Instant::now();
    let leader = Running::start(&remotes, &shared, rx);
    leader.wait_synced(index).await;
    let wall = t0.elapsed();
    let st = leader.driver.status();
    let first = st.last_pass().expect("a pass");
    println!(
        "  into empty NB: wall clock (start -> synced) {wall:.2?}; passes {}; last pass: {}",
        st.passes(),
        stats_line(&first)
    );

    // No-op passes: bump `changes` without changing the state.
    let mut took = Vec::new();
    let mut wall = Vec::new();
    let mut changes = Vec::new();
    for _ in 0..10 {
        tokio::time::sleep(Duration::from_millis(300)).await;
        let before = st.passes();
        let t0 = Instant::now();
        shared.changes.send_replace(index);
        assert!(st.wait_for(WAIT, |s| s.passes() > before).await);
        wall.push(t0.elapsed());
        let p = st.last_pass().unwrap();
        changes.push(p.changes);
        took.push(p.took);
    }
    println!("  no-op pass changes: {changes:?}");
    report("no-op pass, PassStats.took", took);
    report("no-op pass, wall (bump -> pass done)", wall);

    // `diff()`: its own connection, selects every owned row, translates, diffs.
    let mut diffs = Vec::new();
    let source = shared.source();
    for _ in 0..5 {
        let t0 = Instant::now();
        let d = leader.driver.diff(&*source).await.expect("diff");
        diffs.push(t0.elapsed());
        assert!(d.changes.is_empty(), "{d}");
        if diffs.len() == 1 {
            println!(
                "  diff(): desired rows {}, owned rows {}, changes {}",
                d.desired_rows,
                d.owned_rows,
                d.changes.len()
            );
        }
    }
    report("diff() wall clock", diffs);
    leader.stop().await;
}

fn main() {
    // `cargo test --benches` runs bench binaries without --bench; keep that fast.
    let args: Vec<String> = std::env::args().collect();
    if !args.iter().any(|a| a == "--bench") {
        println!("reconcile: run with `cargo bench -p prismnet-ovn --bench reconcile`");
        return;
    }
    let only = |what: &str| {
        let parts = ["latency", "drift", "full"];
        !args.iter().any(|a| parts.contains(&a.as_str())) || args.iter().any(|a| a == what)
    };
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        if only("latency") {
            latency(300).await;
        }
        if only("drift") {
            drift(100).await;
        }
        if only("full") {
            full().await;
        }
    });
}
