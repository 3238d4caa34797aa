//! The free-space guard in in-process clusters. A node started with
//! `min_free_bytes = u64::MAX` is "low" on any disk, so these tests need no full
//! filesystem (node/tests/disk_full.rs fills real ones).

use std::time::{Duration, Instant};

use prismnet_raft::workload::Workload;
use prismnet_raft::{Role, WriteError};

use crate::harness::*;

/// Restarts node `id` with another free-space minimum.
async fn restart_with_min(c: &mut Cluster, id: u64, min_free_bytes: u64) {
    c.stop(id).await;
    c.slots.get_mut(&id).expect("slot").cfg.min_free_bytes = min_free_bytes;
    c.restart(id).await;
}

/// Waits until `leader` holds a fresh report from each of `peers` saying `low`.
async fn wait_leader_sees(c: &Cluster, leader: u64, peers: &[u64], low: bool) {
    let deadline = Instant::now() + WAIT;
    loop {
        let st = c.node(leader).status();
        if peers
            .iter()
            .all(|p| st.peer_disks.get(p).is_some_and(|d| d.is_low() == low))
        {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "leader {leader} never saw {peers:?} with low={low}: {:?}",
            st.peer_disks
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// - a follower below its minimum stores no new entries, yet keeps following: the
///   leader's writes still commit (the other follower is a quorum), the term does
///   not change (it never campaigns), and it reports no fatal error
/// - the leader's status shows the follower's disk as low
/// - restarted with a minimum it meets, it catches up and converges
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn low_follower_refuses_entries_but_keeps_following() {
    let mut c = Cluster::start(3, |_| {}).await;
    let leader_id = c.wait_leader().await;
    let leader = c.node(leader_id);
    let mut w = Workload::new("p1", "req");
    let subnet = setup_subnet(&leader, &mut w).await;
    let follower = *c.slots.keys().find(|id| **id != leader_id).unwrap();

    restart_with_min(&mut c, follower, u64::MAX).await;
    let term = leader.status().term;
    // Everything the follower can hold: the log before the writes below.
    let held = leader.status().last_log_index;
    write_all(&leader, ports(&mut w, subnet, 0, 50), 8).await;
    let applied = leader.status().applied;
    wait_leader_sees(&c, leader_id, &[follower], true).await;

    // Long enough for several election timeouts of the refusing follower.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let f = c.node(follower).status();
    assert_eq!(f.fatal, None);
    assert_eq!(f.role, Role::Follower);
    assert_eq!(f.leader_id, Some(leader_id));
    assert_eq!(f.term, term, "the refusing follower campaigned");
    assert!(
        f.applied <= held,
        "a low follower stored entries: applied {} after {held}",
        f.applied
    );
    assert!(f.disk.expect("measured").is_low());
    assert_eq!(leader.status().term, term);
    assert!(applied > held);

    restart_with_min(&mut c, follower, 1).await;
    wait_leader_sees(&c, leader_id, &[follower], false).await;
    c.assert_converged().await;
    assert_eq!(c.node(follower).read_stale(|s| s.port_count()), 50);
}

/// - both followers below their minimum: the leader refuses new writes with
///   DiskFull naming both, before proposing (its log does not grow)
/// - a write sent to a low follower is still redirected to the leader
/// - one follower back above its minimum: writes commit again
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn majority_low_refuses_writes_before_proposing() {
    let mut c = Cluster::start(3, |_| {}).await;
    let leader_id = c.wait_leader().await;
    let leader = c.node(leader_id);
    let mut w = Workload::new("p1", "req");
    let subnet = setup_subnet(&leader, &mut w).await;
    let followers: Vec<u64> = c
        .slots
        .keys()
        .copied()
        .filter(|id| *id != leader_id)
        .collect();

    for f in &followers {
        restart_with_min(&mut c, *f, u64::MAX).await;
    }
    wait_leader_sees(&c, leader_id, &followers, true).await;
    let before = leader.status();
    match leader.write(w.create_port(subnet, "refused")).await {
        Err(WriteError::DiskFull { nodes }) => {
            let named: Vec<u64> = nodes.iter().map(|n| n.node).collect();
            assert_eq!(named, followers);
            assert!(nodes.iter().all(|n| n.min_free_bytes == u64::MAX));
        }
        other => panic!("expected DiskFull, got {other:?}"),
    }
    let after = leader.status();
    assert_eq!(after.last_log_index, before.last_log_index);
    assert_eq!(leader.read_stale(|s| s.port_count()), 0);
    match c.node(followers[0]).write(w.create_port(subnet, "x")).await {
        Err(WriteError::NotLeader { leader_id: l, .. }) => assert_eq!(l, Some(leader_id)),
        other => panic!("expected NotLeader from the follower, got {other:?}"),
    }

    restart_with_min(&mut c, followers[0], 1).await;
    wait_leader_sees(&c, leader_id, &followers[..1], false).await;
    ok(leader.write(w.create_port(subnet, "accepted")).await);
    assert_eq!(leader.read_stale(|s| s.port_count()), 1);
}

/// A leader below its own minimum refuses, naming itself.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn low_leader_refuses_writes() {
    let c = Cluster::start(1, |cfg| cfg.min_free_bytes = u64::MAX).await;
    let leader = c.node(c.wait_leader().await);
    let mut w = Workload::new("p1", "req");
    match leader.write(w.create_vpc("v", "10.1.0.0/16")).await {
        Err(e @ WriteError::DiskFull { .. }) => {
            let WriteError::DiskFull { nodes } = &e else {
                unreachable!()
            };
            assert_eq!(nodes.len(), 1);
            assert_eq!(nodes[0].node, 1);
            let msg = e.to_string();
            assert!(msg.contains("node 1 has"), "{msg}");
            assert!(!e.is_retryable());
        }
        other => panic!("expected DiskFull, got {other:?}"),
    }
}
