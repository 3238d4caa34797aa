//! Membership changes and the `Join` bootstrap.

use std::time::Duration;

use prismnet_raft::workload::Workload;
use prismnet_raft::{Bootstrap, RaftNode, Role, WriteError};

use crate::harness::*;

/// - a 4th node starts with `Join`, is added as a learner (catching up), then
///   promoted to voter; it applies new writes
/// - a follower is removed; the membership has three voters again, writes continue
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn add_fourth_node_then_remove_one() {
    let mut c = Cluster::start(3, |_| {}).await;
    let leader_id = c.wait_leader().await;
    let leader = c.node(leader_id);
    let mut w = Workload::new("p1", "req");
    let subnet = setup_subnet(&leader, &mut w).await;
    write_all(&leader, ports(&mut w, subnet, 0, 30), 8).await;

    let cfg = c.add_slot(4);
    let advertise = cfg.advertise.clone();
    let n4 = RaftNode::start(cfg, Bootstrap::Join)
        .await
        .expect("start 4");
    c.slots.get_mut(&4).unwrap().node = Some(std::sync::Arc::new(n4));

    leader
        .add_learner(4, advertise.clone())
        .await
        .expect("add learner");
    let st = leader.status();
    assert!(st.learners.contains_key(&4), "{st:#?}");
    leader.promote(4).await.expect("promote");
    let st = leader.status();
    assert_eq!(st.voters.len(), 4, "{st:#?}");
    assert_eq!(st.voters.get(&4), Some(&advertise));

    write_all(&leader, ports(&mut w, subnet, 30, 10), 4).await;
    c.assert_converged().await;
    assert_eq!(c.node(4).read_stale(|s| s.port_count()), 40);

    let removed = *c
        .slots
        .keys()
        .find(|id| **id != leader_id && **id != 4)
        .unwrap();
    leader.remove_node(removed).await.expect("remove");
    let st = leader.status();
    assert_eq!(st.voters.len(), 3, "{st:#?}");
    assert!(!st.voters.contains_key(&removed) && !st.learners.contains_key(&removed));
    c.stop(removed).await;
    write_all(&leader, ports(&mut w, subnet, 40, 10), 4).await;
    c.assert_converged().await;
}

/// - a node started with `Join` on a fresh data dir never initializes a cluster:
///   it elects nobody, has no members and refuses writes
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn join_node_never_bootstraps() {
    init_tracing();
    let tmp = tempfile::tempdir().unwrap();
    let addr = free_addr();
    let node = RaftNode::start(config(9, tmp.path().join("n9"), addr), Bootstrap::Join)
        .await
        .expect("start");
    // Several election timeouts.
    tokio::time::sleep(Duration::from_millis(2500)).await;
    let st = node.status();
    assert_eq!(st.leader_id, None, "{st:#?}");
    assert!(st.voters.is_empty(), "{st:#?}");
    assert_ne!(st.role, Role::Leader);
    assert_eq!(st.last_log_index, 0);
    let mut w = Workload::new("p1", "req");
    let r = node.write(w.create_vpc("v", "10.0.0.0/16")).await;
    assert!(
        matches!(r, Err(WriteError::NoLeader | WriteError::NotLeader { .. })),
        "{r:?}"
    );
    node.shutdown().await.unwrap();
}
