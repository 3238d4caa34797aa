//! Replicated write throughput and latency of a 3-node cluster in one process: real
//! RocksDB (synced appends) in temp dirs, real gRPC over 127.0.0.1. Prints figures;
//! asserts nothing about speed.
//!
//! `cargo bench -p prismnet-raft --bench replicated_writes [-- <ports per round>]`

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use prismnet_raft::workload::{created_id, Workload};
use prismnet_raft::{Bootstrap, PeerNode, RaftConfig, RaftNode, Role};

fn free_addr() -> std::net::SocketAddr {
    let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    l.local_addr().expect("addr")
}

#[tokio::main(flavor = "multi_thread")]
async fn main() {
    let per_round: usize = std::env::args()
        .skip(1)
        .find_map(|a| a.parse().ok())
        .unwrap_or(2000);
    let tmp = tempfile::tempdir().expect("tempdir");
    let mut cfgs = Vec::new();
    let mut peers = BTreeMap::new();
    for id in 1..=3u64 {
        let addr = free_addr();
        let advertise = PeerNode {
            raft_addr: addr.to_string(),
            api_addr: String::new(),
        };
        peers.insert(id, advertise.clone());
        cfgs.push(RaftConfig::new(
            id,
            tmp.path().join(format!("n{id}")),
            addr,
            advertise,
            "bench",
        ));
    }
    let mut nodes = Vec::new();
    for cfg in cfgs {
        let n = RaftNode::start(cfg, Bootstrap::Peers(peers.clone()))
            .await
            .expect("start");
        nodes.push(Arc::new(n));
    }
    let leader = loop {
        if let Some(n) = nodes.iter().find(|n| n.status().role == Role::Leader) {
            break n.clone();
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    };

    let mut w = Workload::new("bench", "b");
    let vpc = leader
        .write(w.create_vpc("v", "10.0.0.0/8"))
        .await
        .expect("write")
        .expect("vpc");
    let subnet = leader
        .write(w.create_subnet(created_id(&vpc).unwrap(), "s", "10.0.0.0/12"))
        .await
        .expect("write")
        .expect("subnet");
    let subnet = created_id(&subnet).unwrap();

    println!("3 nodes, CreatePort writes through the leader, {per_round} per round");
    println!("in_flight  writes/s  p50_ms  p99_ms  max_ms");
    let mut port = 0usize;
    for in_flight in [1usize, 16, 64, 256] {
        let n = if in_flight == 1 {
            per_round / 10
        } else {
            per_round
        };
        let sem = Arc::new(tokio::sync::Semaphore::new(in_flight));
        let started = Instant::now();
        let mut tasks = Vec::with_capacity(n);
        for _ in 0..n {
            port += 1;
            let req = w.create_port(subnet, &format!("p{port}"));
            let permit = sem.clone().acquire_owned().await.expect("sem");
            let l = leader.clone();
            tasks.push(tokio::spawn(async move {
                let t = Instant::now();
                let r = l.write(req).await;
                drop(permit);
                r.expect("write").expect("port");
                t.elapsed()
            }));
        }
        let mut lat = Vec::with_capacity(n);
        for t in tasks {
            lat.push(t.await.expect("task"));
        }
        let elapsed = started.elapsed();
        lat.sort();
        let pct = |p: usize| lat[(lat.len() * p / 100).min(lat.len() - 1)].as_secs_f64() * 1e3;
        println!(
            "{in_flight:>9}  {:>8.0}  {:>6.2}  {:>6.2}  {:>6.2}",
            n as f64 / elapsed.as_secs_f64(),
            pct(50),
            pct(99),
            lat[lat.len() - 1].as_secs_f64() * 1e3
        );
    }
    let st = leader.status();
    println!(
        "applied index {}, ports {}",
        st.applied,
        leader.read_stale(|s| s.port_count())
    );
    for n in &nodes {
        n.shutdown().await.expect("shutdown");
    }
}
