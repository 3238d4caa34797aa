//! Heartbeat gaps while the leader builds a snapshot of a large state. Prints
//! figures; asserts nothing about speed.
//!
//! ```text
//! cargo bench -p prismnet-raft --bench snapshot_pause [-- PORTS]   (default 1,000,000)
//! ```
//! - A 3-node cluster in one process on a 2-worker runtime (prismnetd's shape on
//!   a 2-core machine), automatic snapshots off; PORTS ports written first.
//! - Then, with 8 writers and 8 readers of the applied state running (readers
//!   take the state's read lock from async tasks, as API handlers do), 3 s of
//!   baseline, then a snapshot triggered on the leader, until it is built.
//! - Sampled every 2 ms: how long each follower has not heard from the leader.
//!   Reported per phase: the largest gap, the largest write latency, and whether
//!   the term changed (an election).

mod common;

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::*;
use prismnet_raft::workload::Workload;
use prismnet_raft::RaftNode;
use prismnet_state::Id;

/// Writes `n` ports through the leader with 256 concurrent writers.
async fn fill(leader: &Arc<RaftNode>, subnet: Id, n: u64) {
    let next = Arc::new(AtomicU64::new(0));
    let mut tasks = Vec::new();
    for k in 0..256 {
        let (leader, next) = (leader.clone(), next.clone());
        tasks.push(tokio::spawn(async move {
            let mut w = Workload::new("bench", &format!("fill{k}"));
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                if i >= n {
                    return;
                }
                let req = w.create_port(subnet, &format!("f{i}"));
                leader.write(req).await.expect("write").expect("port");
            }
        }));
    }
    for t in tasks {
        t.await.expect("fill task");
    }
}

/// Largest values seen since the last `take`, in microseconds.
#[derive(Default)]
struct Maxima {
    gap_us: AtomicU64,
    write_us: AtomicU64,
}

impl Maxima {
    fn take(&self) -> (f64, f64) {
        (
            self.gap_us.swap(0, Ordering::SeqCst) as f64 / 1e3,
            self.write_us.swap(0, Ordering::SeqCst) as f64 / 1e3,
        )
    }
}

fn spawn_load(
    c: &Cluster,
    leader: &Arc<RaftNode>,
    subnet: Id,
    stop: &Arc<AtomicBool>,
    max: &Arc<Maxima>,
) -> Vec<tokio::task::JoinHandle<()>> {
    let mut tasks = Vec::new();
    for k in 0..8 {
        let (leader, stop, max) = (leader.clone(), stop.clone(), max.clone());
        tasks.push(tokio::spawn(async move {
            let mut w = Workload::new("bench", &format!("load{k}"));
            let mut i = 0u64;
            while !stop.load(Ordering::Relaxed) {
                let t = Instant::now();
                let req = w.create_port(subnet, &format!("l{k}-{i}"));
                leader.write(req).await.expect("write").expect("port");
                let us = u64::try_from(t.elapsed().as_micros()).unwrap_or(u64::MAX);
                max.write_us.fetch_max(us, Ordering::SeqCst);
                i += 1;
            }
        }));
    }
    for node in c.running() {
        for _ in 0..3 {
            let (node, stop) = (node.clone(), stop.clone());
            tasks.push(tokio::spawn(async move {
                while !stop.load(Ordering::Relaxed) {
                    std::hint::black_box(node.read_stale(|s| s.port_count()));
                    tokio::time::sleep(Duration::from_millis(1)).await;
                }
            }));
        }
    }
    let leader_id = leader.id();
    let followers: Vec<Arc<RaftNode>> = c
        .running()
        .into_iter()
        .filter(|n| n.id() != leader_id)
        .collect();
    let (stop, max) = (stop.clone(), max.clone());
    tasks.push(tokio::spawn(async move {
        while !stop.load(Ordering::Relaxed) {
            for f in &followers {
                if let Some(age) = f.status().peer_contacts.get(&leader_id) {
                    let us = u64::try_from(age.as_micros()).unwrap_or(u64::MAX);
                    max.gap_us.fetch_max(us, Ordering::SeqCst);
                }
            }
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
    }));
    tasks
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    // Shows the builder's own figures ("built snapshot ... lock_held_ms").
    let _ = tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::new(
            "warn,prismnet_raft::store::state_machine=info",
        ))
        .try_init();
    let ports: u64 = std::env::args()
        .skip(1)
        .find_map(|a| a.parse().ok())
        .unwrap_or(1_000_000);
    let mut c = Cluster::start_with(3, DEFAULT_TIMINGS, |cfg| {
        cfg.snapshot_logs_since_last = u64::MAX / 2;
    })
    .await;
    let leader = c.leader().await;
    let mut w = Workload::new("bench", "setup");
    let subnet = setup_subnet(&leader, &mut w).await;
    let started = Instant::now();
    fill(&leader, subnet, ports).await;
    println!(
        "## snapshot pause: {ports} ports written in {:.1} s",
        started.elapsed().as_secs_f64()
    );

    let stop = Arc::new(AtomicBool::new(false));
    let max = Arc::new(Maxima::default());
    let load = spawn_load(&c, &leader, subnet, &stop, &max);
    tokio::time::sleep(Duration::from_secs(1)).await;
    max.take();
    let term = c.max_term();
    tokio::time::sleep(Duration::from_secs(3)).await;
    let (gap, write) = max.take();
    println!(
        "baseline 3 s:  largest heartbeat gap {gap:.1} ms, largest write {write:.1} ms, \
         term changed: {}",
        c.max_term() != term
    );

    let before = leader.metrics().borrow().snapshot;
    let t = Instant::now();
    leader.trigger_snapshot().await.expect("trigger");
    let mut metrics = leader.metrics();
    metrics
        .wait_for(|m| m.snapshot != before)
        .await
        .expect("snapshot built");
    let built = t.elapsed();
    let (gap, write) = max.take();
    println!(
        "snapshot {:.2} s: largest heartbeat gap {gap:.1} ms, largest write {write:.1} ms, \
         term changed: {}",
        built.as_secs_f64(),
        c.max_term() != term
    );
    stop.store(true, Ordering::SeqCst);
    for t in load {
        t.await.expect("load task");
    }
    drop(leader);
    c.shutdown().await;
}
