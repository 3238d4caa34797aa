//! Three-node clusters: election, replication, redirects, failover, restarts and
//! catching up by snapshot.

use std::sync::Arc;
use std::time::Instant;

use prismnet_raft::workload::Workload;
use prismnet_raft::{ReadError, Role, WriteError};
use prismnet_state::Actor;

use crate::harness::*;

/// - three fresh nodes all bootstrap with the same peers; one leader is elected
/// - a VPC, a subnet and 300 ports are written through the leader, 64 in flight
/// - every node applies them and all hold the same state at the same index
/// - prints the write rate (informational, never asserted)
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn writes_apply_on_all_three_with_equal_digest() {
    let c = Cluster::start(3, |_| {}).await;
    let leader = c.node(c.wait_leader().await);
    let mut w = Workload::new("p1", "req");
    let subnet = setup_subnet(&leader, &mut w).await;

    let n = 300;
    let started = Instant::now();
    let ids = write_all(&leader, ports(&mut w, subnet, 0, n), 64).await;
    let elapsed = started.elapsed();
    println!(
        "3 nodes, {n} CreatePort writes, 64 in flight: {:.0} writes/s ({elapsed:?})",
        n as f64 / elapsed.as_secs_f64()
    );
    assert_eq!(ids.len(), n);

    c.assert_converged().await;
    for node in c.running() {
        assert_eq!(node.read_stale(|s| s.port_count()), n);
    }
    let st = leader.status();
    assert_eq!(st.role, Role::Leader);
    assert_eq!(st.voters.len(), 3);
    // Concurrent writes share log entries (batching): the index grew, but by
    // fewer entries than writes.
    assert!(st.committed >= st.applied && st.applied >= 3);
    println!("{n} writes took {} log entries", st.applied);
    let matched = st.matched.expect("leader reports replication");
    assert_eq!(matched.len(), 3);
    assert!(leader.leader_term().is_some());
}

/// - a write or a linearizable read sent to a follower is refused with NotLeader,
///   naming the leader's id and addresses
/// - a linearizable read on the leader sees the write acknowledged before it
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn follower_redirects_to_leader() {
    let c = Cluster::start(3, |_| {}).await;
    let leader_id = c.wait_leader().await;
    let leader = c.node(leader_id);
    let follower_id = *c.slots.keys().find(|id| **id != leader_id).unwrap();
    let follower = c.node(follower_id);
    let want = Some(c.initial[&leader_id].clone());

    let mut w = Workload::new("p1", "req");
    match follower.write(w.create_vpc("v", "10.1.0.0/16")).await {
        Err(WriteError::NotLeader {
            leader_id: l,
            leader,
        }) => {
            assert_eq!(l, Some(leader_id));
            assert_eq!(leader, want);
        }
        other => panic!("expected NotLeader, got {other:?}"),
    }
    match follower.read_linearizable(|s| s.port_count()).await {
        Err(ReadError::NotLeader {
            leader_id: l,
            leader,
        }) => {
            assert_eq!(l, Some(leader_id));
            assert_eq!(leader, want);
        }
        other => panic!("expected NotLeader, got {other:?}"),
    }
    assert_eq!(follower.leader_term(), None);

    let subnet = setup_subnet(&leader, &mut w).await;
    let port = ok(leader.write(w.create_port(subnet, "p")).await);
    let port_id = prismnet_raft::workload::created_id(&port).unwrap();
    let seen = leader
        .read_linearizable(|s| s.port(&Actor::Admin, port_id).map(|p| p.id).ok())
        .await
        .expect("leader read");
    assert_eq!(seen, Some(port_id));
}

/// - the leader is stopped; the other two elect a new leader and take writes
/// - the old leader restarts from its data dir (no re-initialization) and catches
///   up; all three converge
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn leader_failover_and_restarted_node_catches_up() {
    let mut c = Cluster::start(3, |_| {}).await;
    let old = c.wait_leader().await;
    let leader = c.node(old);
    let mut w = Workload::new("p1", "req");
    let subnet = setup_subnet(&leader, &mut w).await;
    write_all(&leader, ports(&mut w, subnet, 0, 50), 16).await;
    let term_before = leader.status().term;
    drop(leader);

    c.stop(old).await;
    let new = c.wait_leader().await;
    assert_ne!(new, old);
    let leader = c.node(new);
    assert!(leader.status().term > term_before);
    write_all(&leader, ports(&mut w, subnet, 50, 50), 16).await;

    c.restart(old).await;
    c.assert_converged().await;
    assert_eq!(c.node(old).read_stale(|s| s.port_count()), 100);
}

/// - small snapshot interval, few logs kept behind a snapshot
/// - a follower is stopped while 400 entries are written; the leader snapshots and
///   purges its log past what the follower has
/// - the restarted follower can only catch up by receiving the snapshot, sent in
///   4 KiB chunks (the snapshot is several times that), and converges
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn lagging_node_catches_up_by_snapshot() {
    let mut c = Cluster::start(3, |cfg| {
        cfg.snapshot_logs_since_last = 50;
        cfg.logs_kept_after_snapshot = 10;
        // Small chunks, so the transfer takes many install_snapshot RPCs.
        cfg.snapshot_chunk_bytes = 4096;
    })
    .await;
    let leader_id = c.wait_leader().await;
    let leader = c.node(leader_id);
    let lagging = *c.slots.keys().find(|id| **id != leader_id).unwrap();
    let mut w = Workload::new("p1", "req");
    let subnet = setup_subnet(&leader, &mut w).await;
    c.wait_applied(leader.status().applied).await;
    let lag_index = c.node(lagging).status().last_log_index;
    c.stop(lagging).await;

    write_all(&leader, ports(&mut w, subnet, 0, 400), 32).await;
    wait_purged_past(&leader, lag_index).await;

    let snapshot_bytes = leader.read_stale(|s| {
        let mut buf = Vec::new();
        s.write_snapshot(&mut buf).unwrap();
        buf.len()
    });
    assert!(
        snapshot_bytes > 4 * 4096,
        "snapshot of {snapshot_bytes} bytes is one chunk"
    );

    c.restart(lagging).await;
    c.assert_converged().await;
    let node = c.node(lagging);
    let snap = node.metrics().borrow().snapshot;
    assert!(
        snap.is_some_and(|s| s.index > lag_index),
        "follower should hold an installed snapshot past {lag_index}: {snap:?}"
    );
    assert_eq!(node.read_stale(|s| s.port_count()), 400);
}

/// - writes are acknowledged, then every node is stopped and restarted from disk
/// - after a new election the state digest equals the one before the restart and
///   every acknowledged port is there
/// - writes continue afterwards
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn full_cluster_restart_keeps_acknowledged_writes() {
    let mut c = Cluster::start(3, |cfg| {
        // Exercise restart from snapshot + log tail, not only from the log.
        cfg.snapshot_logs_since_last = 40;
        cfg.logs_kept_after_snapshot = 5;
    })
    .await;
    let leader = c.node(c.wait_leader().await);
    let mut w = Workload::new("p1", "req");
    let subnet = setup_subnet(&leader, &mut w).await;
    let ids = write_all(&leader, ports(&mut w, subnet, 0, 120), 16).await;
    drop(leader);
    let before = c.assert_converged().await;

    c.stop_all().await;
    for id in 1..=3 {
        c.restart(id).await;
    }
    let leader = c.node(c.wait_leader().await);
    let after = c.assert_converged().await;
    assert_eq!(before, after, "state changed across a full restart");
    let found = leader
        .read_linearizable(|s| {
            ids.iter()
                .filter(|id| s.port(&Actor::Admin, **id).is_ok())
                .count()
        })
        .await
        .expect("read");
    assert_eq!(found, ids.len());
    write_all(&leader, ports(&mut w, subnet, 120, 10), 4).await;
    c.assert_converged().await;
    let _ = Arc::strong_count(&leader);
}

/// - at scale: a follower is stopped while 100,000 port allocations are written
///   (batched into a few thousand log entries; the leader snapshots and purges
///   what the follower lacks)
/// - restarted, the follower can only catch up by receiving the snapshot of the
///   whole state (~15 MB, in the default 1 MiB chunks) and converges to the
///   same digest, with every port; the catch-up time is printed, not asserted
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn node_down_for_100k_allocations_catches_up_by_snapshot() {
    const PORTS: usize = 100_000;
    let mut c = Cluster::start(3, |cfg| {
        cfg.snapshot_logs_since_last = 500;
        cfg.logs_kept_after_snapshot = 100;
        cfg.state_settings.default_quotas.ports = 2 * PORTS as u32;
    })
    .await;
    let leader_id = c.wait_leader().await;
    let leader = c.node(leader_id);
    let lagging = *c.slots.keys().find(|id| **id != leader_id).unwrap();
    let mut w = Workload::new("p1", "req");
    let vpc = ok(leader.write(w.create_vpc("big", "10.0.0.0/8")).await);
    let vpc = prismnet_raft::workload::created_id(&vpc).expect("vpc");
    let subnet = ok(leader
        .write(w.create_subnet(vpc, "big", "10.0.0.0/14"))
        .await);
    let subnet = prismnet_raft::workload::created_id(&subnet).expect("subnet");
    c.wait_applied(leader.status().applied).await;
    let lag_index = c.node(lagging).status().last_log_index;
    c.stop(lagging).await;

    let started = Instant::now();
    write_all(&leader, ports(&mut w, subnet, 0, PORTS), 256).await;
    let wrote = started.elapsed();
    let entries = leader.status().last_log_index - lag_index;
    wait_purged_past(&leader, lag_index).await;

    let started = Instant::now();
    c.restart(lagging).await;
    let digest = c.assert_converged().await;
    let caught_up = started.elapsed();
    let node = c.node(lagging);
    let snap = node.metrics().borrow().snapshot;
    assert!(
        snap.is_some_and(|s| s.index > lag_index),
        "follower should hold an installed snapshot past {lag_index}: {snap:?}"
    );
    assert_eq!(node.read_stale(|s| s.port_count()), PORTS);
    let snapshot_bytes = node.read_stale(|s| {
        let mut buf = Vec::new();
        s.write_snapshot(&mut buf).unwrap();
        buf.len()
    });
    println!(
        "{PORTS} allocations in {entries} log entries written in {wrote:.1?}; the follower \
         caught up by a {:.1} MB snapshot in {caught_up:.1?} (digest {digest:x})",
        snapshot_bytes as f64 / 1e6
    );
}
