//! Replicated writes of a 3-node cluster in one process: real RocksDB (synced
//! appends) in temp dirs, real gRPC over 127.0.0.1, default timings. Prints
//! figures; asserts nothing about speed.
//!
//! ```text
//! cargo bench -p prismnet-raft --bench replicated_writes [-- [writes] [failover] [N] [reps=R] [kills=K]]
//! ```
//! - `writes`: closed-loop clients (1, 16, 64, 256), each doing CreatePort writes
//!   through the leader one after the other; N writes per level (a tenth for one
//!   client), R repetitions; prints each run and the median, plus the average
//!   number of requests per log entry and whether the term changed during the run.
//! - `failover`: 16 clients write steadily (following redirects); the leader is
//!   stopped; the time from the stop to the first successful write on another node
//!   is measured; the old leader restarts and catches up; K times. Reports median
//!   and max, and whether the term changed during any steady phase.
//!
//! - `failover-fast`: the same with heartbeat 50 ms, election 250-500 ms.
//! - `single`: one node, one client: the write path without replication.
//!
//! Without `writes` or `failover`, both run.

mod common;

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::*;
use prismnet_raft::workload::Workload;
use prismnet_raft::{RaftNode, WriteError};
use prismnet_state::Id;

struct Run {
    rate: f64,
    p50_ms: f64,
    p99_ms: f64,
    max_ms: f64,
    per_entry: f64,
    term_changed: bool,
}

/// `clients` closed-loop clients write `n` ports in total through `leader`.
async fn run_level(
    c: &Cluster,
    leader: &Arc<RaftNode>,
    subnet: Id,
    clients: usize,
    n: usize,
    tag: &str,
) -> Run {
    let term = c.max_term();
    let index_before = leader.status().applied;
    let next = Arc::new(AtomicU64::new(0));
    let started = Instant::now();
    let mut tasks = Vec::with_capacity(clients);
    for k in 0..clients {
        let (leader, next) = (leader.clone(), next.clone());
        let mut w = Workload::new("bench", &format!("{tag}-c{k}"));
        let tag = tag.to_string();
        tasks.push(tokio::spawn(async move {
            let mut lat = Vec::new();
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                if i >= n as u64 {
                    return lat;
                }
                let req = w.create_port(subnet, &format!("{tag}-{i}"));
                let t = Instant::now();
                leader.write(req).await.expect("write").expect("port");
                lat.push(t.elapsed());
            }
        }));
    }
    let mut lat = Vec::with_capacity(n);
    for t in tasks {
        lat.extend(t.await.expect("client task"));
    }
    let elapsed = started.elapsed();
    let entries = leader.status().applied.saturating_sub(index_before).max(1);
    lat.sort();
    let pct = |p: usize| lat[(lat.len() * p / 100).min(lat.len() - 1)].as_secs_f64() * 1e3;
    Run {
        rate: n as f64 / elapsed.as_secs_f64(),
        p50_ms: pct(50),
        p99_ms: pct(99),
        max_ms: lat[lat.len() - 1].as_secs_f64() * 1e3,
        per_entry: n as f64 / entries as f64,
        term_changed: c.max_term() != term,
    }
}

async fn writes(per_level: usize, reps: usize) {
    let mut c = Cluster::start(3, DEFAULT_TIMINGS).await;
    let leader = c.leader().await;
    let mut w = Workload::new("bench", "setup");
    let subnet = setup_subnet(&leader, &mut w).await;

    println!("## writes: 3 nodes, closed-loop clients, CreatePort through the leader");
    println!("clients  run  writes/s  p50_ms  p99_ms  max_ms  req/entry  term_changed");
    let mut summary = Vec::new();
    for clients in [1usize, 16, 64, 256] {
        let n = if clients == 1 {
            per_level / 10
        } else {
            per_level
        };
        let (mut rates, mut p50s, mut p99s) = (Vec::new(), Vec::new(), Vec::new());
        for rep in 0..reps {
            let r = run_level(
                &c,
                &leader,
                subnet,
                clients,
                n,
                &format!("w{clients}r{rep}"),
            )
            .await;
            println!(
                "{clients:>7}  {rep:>3}  {:>8.0}  {:>6.2}  {:>6.2}  {:>6.2}  {:>9.1}  {}",
                r.rate, r.p50_ms, r.p99_ms, r.max_ms, r.per_entry, r.term_changed
            );
            rates.push(r.rate);
            p50s.push(r.p50_ms);
            p99s.push(r.p99_ms);
        }
        summary.push((
            clients,
            median(&mut rates),
            median(&mut p50s),
            median(&mut p99s),
        ));
    }
    println!("median of {reps}: clients  writes/s  p50_ms  p99_ms");
    for (clients, rate, p50, p99) in summary {
        println!("                {clients:>7}  {rate:>8.0}  {p50:>6.2}  {p99:>6.2}");
    }
    let st = leader.status();
    println!(
        "applied index {}, ports {}",
        st.applied,
        leader.read_stale(|s| s.port_count())
    );
    c.shutdown().await;
}

/// One node, one client: the local write path alone (queue, batcher, openraft,
/// append + fsync, apply, answer), to tell it apart from replication.
async fn single(n: usize) {
    let mut c = Cluster::start(1, DEFAULT_TIMINGS).await;
    let leader = c.leader().await;
    let mut w = Workload::new("bench", "setup");
    let subnet = setup_subnet(&leader, &mut w).await;
    println!("## single node, 1 client (no replication)");
    let r = run_level(&c, &leader, subnet, 1, n, "single").await;
    println!(
        "writes/s {:.0}  p50_ms {:.2}  p99_ms {:.2}  max_ms {:.2}",
        r.rate, r.p50_ms, r.p99_ms, r.max_ms
    );
    drop(leader);
    c.shutdown().await;
}

/// Steady writers that follow the leader. The first success on a node other than
/// the stopped leader is recorded as the first write on the new leader.
struct Load {
    stop: Arc<AtomicBool>,
    nodes: Arc<Mutex<Vec<Option<Arc<RaftNode>>>>>,
    first_ok: Arc<Mutex<Option<(u64, Instant)>>>,
    /// The stopped leader, once stopped.
    watch: Arc<Mutex<Option<u64>>>,
    ok: Arc<AtomicU64>,
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

impl Load {
    fn start(nodes: Vec<Option<Arc<RaftNode>>>, subnet: Id, clients: usize) -> Load {
        let mut load = Load {
            stop: Arc::new(AtomicBool::new(false)),
            nodes: Arc::new(Mutex::new(nodes)),
            first_ok: Arc::new(Mutex::new(None)),
            watch: Arc::new(Mutex::new(None)),
            ok: Arc::new(AtomicU64::new(0)),
            tasks: Vec::new(),
        };
        for k in 0..clients {
            let (stop, nodes, first_ok, watch, ok) = (
                load.stop.clone(),
                load.nodes.clone(),
                load.first_ok.clone(),
                load.watch.clone(),
                load.ok.clone(),
            );
            let mut w = Workload::new("bench", &format!("f-c{k}"));
            load.tasks.push(tokio::spawn(async move {
                let mut target = 0usize;
                let mut i = 0u64;
                while !stop.load(Ordering::Relaxed) {
                    i += 1;
                    // A failed attempt is retried with the same request id, as a
                    // real client does: never a second allocation.
                    let req = w.create_port(subnet, &format!("f{k}-{i}"));
                    loop {
                        if stop.load(Ordering::Relaxed) {
                            return;
                        }
                        let node = nodes.lock().expect("nodes")[target % 3].clone();
                        let Some(node) = node else {
                            target += 1;
                            continue;
                        };
                        match node.write(req.clone()).await {
                            Ok(r) => {
                                r.expect("port");
                                ok.fetch_add(1, Ordering::Relaxed);
                                let avoid = *watch.lock().expect("watch");
                                if avoid.is_some_and(|a| a != node.id()) {
                                    let mut f = first_ok.lock().expect("first");
                                    if f.is_none() {
                                        *f = Some((node.id(), Instant::now()));
                                    }
                                }
                                break;
                            }
                            Err(WriteError::NotLeader {
                                leader_id: Some(l), ..
                            }) if l != node.id() => {
                                target = (l - 1) as usize;
                            }
                            Err(_) => {
                                target += 1;
                                // No leader yet: do not spin while the election runs.
                                tokio::time::sleep(Duration::from_millis(2)).await;
                            }
                        }
                    }
                }
            }));
        }
        load
    }

    async fn stop(self) -> u64 {
        self.stop.store(true, Ordering::Relaxed);
        for t in self.tasks {
            let _ = t.await;
        }
        self.ok.load(Ordering::Relaxed)
    }
}

async fn failover(kills: usize, t: Timings) {
    let mut c = Cluster::start(3, t).await;
    let leader = c.leader().await;
    let mut w = Workload::new("bench", "setup");
    let subnet = setup_subnet(&leader, &mut w).await;
    drop(leader);

    const CLIENTS: usize = 16;
    const STEADY: Duration = Duration::from_millis(1500);
    println!(
        "## failover: 3 nodes, {CLIENTS} clients writing, heartbeat {} ms, election {}-{} ms",
        t.heartbeat_ms, t.election_min_ms, t.election_max_ms
    );
    println!("kill  old  new  steady_writes/s  term_steady  to_first_write_ms  to_new_leader_ms");
    let mut firsts = Vec::new();
    let mut elections = Vec::new();
    let mut spurious = 0;
    for k in 0..kills {
        let load = Load::start(c.nodes.clone(), subnet, CLIENTS);
        // Let the load settle (and the restarted node catch up), then watch the term
        // over a steady phase.
        tokio::time::sleep(Duration::from_millis(500)).await;
        let term0 = c.max_term();
        let ok0 = load.ok.load(Ordering::Relaxed);
        tokio::time::sleep(STEADY).await;
        let steady_rate = (load.ok.load(Ordering::Relaxed) - ok0) as f64 / STEADY.as_secs_f64();
        let term_steady = c.max_term() == term0;
        if !term_steady {
            spurious += 1;
        }

        let old = c.leader().await;
        let old_id = old.id();
        drop(old);
        let killed_at = Instant::now();
        *load.watch.lock().expect("watch") = Some(old_id);
        let node = c.nodes[(old_id - 1) as usize].take().expect("running");
        load.nodes.lock().expect("nodes")[(old_id - 1) as usize] = None;
        node.shutdown().await.expect("shutdown");
        drop(node);

        let new = c.leader().await;
        let to_leader = killed_at.elapsed();
        let first = loop {
            if let Some(f) = *load.first_ok.lock().expect("first") {
                break f;
            }
            tokio::time::sleep(Duration::from_millis(1)).await;
        };
        let to_first = first.1.duration_since(killed_at);
        println!(
            "{k:>4}  {old_id:>3}  {:>3}  {steady_rate:>15.0}  {:>11}  {:>17.0}  {:>16.0}",
            first.0,
            if term_steady { "constant" } else { "CHANGED" },
            to_first.as_secs_f64() * 1e3,
            to_leader.as_secs_f64() * 1e3
        );
        let _ = new;
        firsts.push(to_first.as_secs_f64() * 1e3);
        elections.push(to_leader.as_secs_f64() * 1e3);
        load.stop().await;
        c.restart((old_id - 1) as usize).await;
    }
    let max = firsts.iter().cloned().fold(0.0, f64::max);
    println!(
        "to first write on the new leader: median {:.0} ms, max {max:.0} ms over {kills} kills; \
         new leader seen: median {:.0} ms; steady phases with a term change: {spurious}/{kills}",
        median(&mut firsts),
        median(&mut elections)
    );
    c.shutdown().await;
}

#[tokio::main(flavor = "multi_thread")]
async fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let per_level = args.iter().find_map(|a| a.parse().ok()).unwrap_or(5000);
    let reps = args
        .iter()
        .find_map(|a| a.strip_prefix("reps=")?.parse().ok())
        .unwrap_or(3);
    let kills = args
        .iter()
        .find_map(|a| a.strip_prefix("kills=")?.parse().ok())
        .unwrap_or(10);
    let want = |m: &str| args.iter().any(|a| a == m);
    let both = !["writes", "failover", "failover-fast", "single"]
        .iter()
        .any(|m| want(m));
    if both || want("writes") {
        writes(per_level, reps).await;
    }
    if both || want("failover") {
        failover(kills, DEFAULT_TIMINGS).await;
    }
    if want("failover-fast") {
        let fast = Timings {
            heartbeat_ms: 50,
            election_min_ms: 250,
            election_max_ms: 500,
        };
        failover(kills, fast).await;
    }
    if want("single") {
        single(per_level / 10).await;
    }
}
