//! Batched proposals through a real 3-node cluster: many concurrent writers share
//! log entries, yet each gets its own outcome; a rejected request in a batch leaves
//! the others alone; replicas agree; a restart replays every batch exactly once.

use std::collections::BTreeSet;
use std::sync::Arc;

use prismnet_raft::workload::{created_id, Workload};
use prismnet_raft::RaftNode;
use prismnet_state::{Applied, Id, Reason, Request, StateError, View};

use crate::harness::*;

type Outcome = Result<Applied, StateError>;

/// Sends every request at once (no concurrency limit), so the batcher sees many
/// waiting at the same time, and returns the outcomes in request order.
async fn write_concurrently(leader: &Arc<RaftNode>, requests: Vec<Request>) -> Vec<Outcome> {
    let tasks: Vec<_> = requests
        .into_iter()
        .map(|r| {
            let n = leader.clone();
            tokio::spawn(async move { n.write(r).await })
        })
        .collect();
    let mut out = Vec::with_capacity(tasks.len());
    for t in tasks {
        out.push(t.await.expect("write task").expect("write committed"));
    }
    out
}

fn port_name(a: &Applied) -> Option<&str> {
    match &a.view {
        Some(View::Port(p)) => Some(&*p.name),
        _ => None,
    }
}

/// - 400 CreatePort writes are sent at once through the leader; they are committed
///   in fewer entries than writes (batched; printed, not asserted: it depends on
///   timing)
/// - each caller gets the port it asked for (by name), ids and addresses are all
///   distinct, nothing is marked replayed
/// - all three replicas reach the same digest
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_writers_each_get_their_own_outcome() {
    let c = Cluster::start(3, |_| {}).await;
    let leader = c.node(c.wait_leader().await);
    let mut w = Workload::new("p1", "req");
    let subnet = setup_subnet(&leader, &mut w).await;

    let n = 400;
    let before = leader.status().applied;
    let outcomes = write_concurrently(&leader, ports(&mut w, subnet, 0, n)).await;
    let entries = leader.status().applied - before;
    println!("{n} concurrent writes committed in {entries} log entries");

    let mut ids = BTreeSet::new();
    let mut macs = BTreeSet::new();
    for (i, o) in outcomes.iter().enumerate() {
        let applied = o.as_ref().expect("port created");
        assert!(!applied.replayed, "write {i} marked replayed");
        assert_eq!(port_name(applied), Some(format!("port-{i}").as_str()));
        assert!(ids.insert(created_id(applied).expect("created")));
        if let Some(View::Port(p)) = &applied.view {
            assert!(macs.insert(p.mac), "MAC handed out twice");
        }
    }
    assert_eq!(ids.len(), n);
    c.assert_converged().await;
    for node in c.running() {
        assert_eq!(node.read_stale(|s| s.port_count()), n);
    }
}

/// - concurrent writes where every third one is bad: a port in a subnet that does
///   not exist, or a request id reused for a different command
/// - the bad ones get their own rejection; every good one in the same batches
///   still creates its port; a retry of a good request id gets the same outcome,
///   marked replayed
/// - replicas agree
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_rejected_request_does_not_affect_its_batch() {
    let c = Cluster::start(3, |_| {}).await;
    let leader = c.node(c.wait_leader().await);
    let mut w = Workload::new("p1", "req");
    let subnet = setup_subnet(&leader, &mut w).await;
    let first = ok(leader.write(w.create_port(subnet, "first")).await);

    let missing = Id::from_u128(0xdead_beef);
    let mut requests = Vec::new();
    let mut expect_ok = Vec::new();
    for i in 0..150usize {
        match i % 3 {
            0 => {
                requests.push(w.create_port(missing, &format!("bad-{i}")));
                expect_ok.push(false);
            }
            1 => {
                // The request id of `first`, reused for another port: a conflict.
                let mut r = w.create_port(subnet, &format!("conflict-{i}"));
                r.request_id = "req-3".into();
                requests.push(r);
                expect_ok.push(false);
            }
            _ => {
                requests.push(w.create_port(subnet, &format!("good-{i}")));
                expect_ok.push(true);
            }
        }
    }
    let retry = requests[2].clone();
    let outcomes = write_concurrently(&leader, requests).await;
    for (i, (o, good)) in outcomes.iter().zip(&expect_ok).enumerate() {
        match (o, good) {
            (Ok(a), true) => assert_eq!(port_name(a), Some(format!("good-{i}").as_str())),
            (Err(e), false) if i % 3 == 0 => assert_eq!(e.reason, Reason::NotFound, "{e:?}"),
            (Err(e), false) => assert_eq!(e.reason, Reason::RequestIdConflict, "{e:?}"),
            other => panic!("write {i}: unexpected {other:?}"),
        }
    }
    let again = ok(leader.write(retry).await);
    assert!(again.replayed);
    assert_eq!(
        created_id(&again),
        created_id(outcomes[2].as_ref().unwrap())
    );
    assert_eq!(port_name(&first), Some("first"));

    c.assert_converged().await;
    assert_eq!(leader.read_stale(|s| s.port_count()), 1 + 50);
}

/// - batched writes (snapshots every 30 entries, 5 entries kept behind), then every
///   node is stopped and restarted, twice: each start is a snapshot plus a replay
///   of the batches in the log tail
/// - after each restart the digest is the one before, the port count is exact
///   (a batch applied twice or skipped would change both), and writes continue
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn restart_replays_batches_exactly_once() {
    let mut c = Cluster::start(3, |cfg| {
        cfg.snapshot_logs_since_last = 30;
        cfg.logs_kept_after_snapshot = 5;
    })
    .await;
    let leader = c.node(c.wait_leader().await);
    let mut w = Workload::new("p1", "req");
    let subnet = setup_subnet(&leader, &mut w).await;
    let mut total = 0;
    for round in 0..3 {
        let outcomes = write_concurrently(&leader, ports(&mut w, subnet, total, 200)).await;
        assert!(outcomes.iter().all(Result::is_ok), "round {round}");
        total += 200;
    }
    drop(leader);
    let before = c.assert_converged().await;

    for restart in 0..2 {
        c.stop_all().await;
        for id in 1..=3 {
            c.restart(id).await;
        }
        let leader = c.node(c.wait_leader().await);
        let after = c.assert_converged().await;
        assert_eq!(before, after, "restart {restart} changed the state");
        for node in c.running() {
            assert_eq!(node.read_stale(|s| s.port_count()), total);
        }
        drop(leader);
    }
    let leader = c.node(c.wait_leader().await);
    write_all(&leader, ports(&mut w, subnet, total, 20), 8).await;
    c.assert_converged().await;
}
