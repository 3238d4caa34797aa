//! Leadership handoff when the leader loses OVN NB, through three real `prismnetd`
//! processes and one real `ovsdb-server` (harness: `nb_harness/`). Deadlines are
//! liveness bounds (generous, the machine is shared); the measured handoff time is
//! printed, never asserted.

mod nb_harness;

use std::time::{Duration, Instant};

use nb_harness::*;

/// - The cluster forms; the leader claims the NB fence (its term) and writes the
///   rows of a VPC, subnet and port made through the API.
/// - Only the leader's NB path is cut (nftables). A node that still reaches NB
///   takes over: a new leader, the fence at its term, a port created afterwards
///   lands in NB.
/// - The old leader's driver writes nothing more (its log shows no pass, claim or
///   driver start once the new leader holds the fence), also after its NB path is
///   restored.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn leader_cut_off_from_nb_hands_over() {
    let tmp = temp_dir();
    let nb = Nb::start(tmp.path());
    let c = Cluster::start(tmp.path(), &nb);
    let db = nb.client().await;
    let (old, term) = c.wait_leader(&[1, 2, 3]).await;
    wait_fence(&db, &c.name, term, old).await;
    let client = c.client().await;
    let (vpc, subnet, port) = topology(&client).await;
    wait_row(&db, "Logical_Router", &format!("pn-lr-{vpc}")).await;
    wait_row(&db, "Logical_Switch", &format!("pn-ls-{subnet}")).await;
    wait_row(&db, "Logical_Switch_Port", &port).await;
    println!("leader {old} at term {term} holds the fence and wrote the topology");

    let cut = Cut::new(nb_ip(old), nb.port);
    let cut_at = Instant::now();
    let (new, new_term) = loop {
        if let Some((l, t)) = c.agreed_leader(&[1, 2, 3]).await {
            if l != old {
                break (l, t);
            }
        }
        assert!(
            cut_at.elapsed() < WAIT,
            "no other node took over within {WAIT:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    let elected = cut_at.elapsed();
    assert!(new_term > term);
    wait_fence(&db, &c.name, new_term, new).await;
    let fenced = cut_at.elapsed();
    // From here on the old leader must not write. (Counted from the fence move,
    // not the cut: a pass whose reply was already on its way may still log.)
    let writes_before = c.driver_writes(old);
    let port2 = create_port(&client, &subnet, "vm-2").await;
    wait_row(&db, "Logical_Switch_Port", &port2).await;
    let landed = cut_at.elapsed();
    println!(
        "handoff: NB cut for leader {old} (term {term}); node {new} elected at term {new_term} \
         after {elected:.2?}; fence moved after {fenced:.2?}; a new port in NB after {landed:.2?}"
    );

    // The old leader, reconnected, still writes nothing: it is a follower and the
    // fence would refuse it anyway.
    drop(cut);
    tokio::time::sleep(Duration::from_secs(5)).await;
    let fence_now = fence_of(&db, &c.name).await;
    assert!(
        names(&fence_now, new_term, new),
        "the fence moved again: {fence_now:?}"
    );
    assert_eq!(
        c.agreed_leader(&[1, 2, 3]).await,
        Some((new, new_term)),
        "leadership moved again"
    );
    assert_eq!(
        c.driver_writes(old),
        writes_before,
        "the old leader's driver wrote after the cut:\n{}",
        tail(&c.node(old).log(), 60)
    );
    assert!(has_row(&db, "Logical_Switch_Port", &port).await);
    assert!(has_row(&db, "Logical_Switch_Port", &port2).await);
}

/// - NB goes down for every node (ovsdb-server stopped) for 12 s: nobody can take
///   over, so nobody campaigns; the term changes at most once.
/// - NB comes back: the leader drives it again (fence, a new port in NB).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nb_down_for_everyone_keeps_the_leader() {
    let tmp = temp_dir();
    let mut nb = Nb::start(tmp.path());
    let c = Cluster::start(tmp.path(), &nb);
    let db = nb.client().await;
    let (leader, term) = c.wait_leader(&[1, 2, 3]).await;
    wait_fence(&db, &c.name, term, leader).await;
    let client = c.client().await;
    let (_, subnet, port) = topology(&client).await;
    wait_row(&db, "Logical_Switch_Port", &port).await;
    drop(db);

    nb.kill();
    let down_at = Instant::now();
    let mut terms = vec![term];
    while down_at.elapsed() < Duration::from_secs(12) {
        if let Some(t) = c.max_term().await {
            if terms.last() != Some(&t) {
                terms.push(t);
            }
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    println!("NB down 12 s for every node: terms seen {terms:?}");
    assert!(
        terms.len() <= 2,
        "election storm while NB was down for everyone: terms {terms:?}"
    );

    nb.resume();
    let db = nb.client().await;
    let (now, now_term) = c.wait_leader(&[1, 2, 3]).await;
    if terms.len() == 1 {
        assert_eq!((now, now_term), (leader, term), "leadership moved");
    }
    wait_fence(&db, &c.name, now_term, now).await;
    let port2 = create_port(&client, &subnet, "vm-2").await;
    let took = wait_row(&db, "Logical_Switch_Port", &port2).await;
    println!("NB back: leader {now} at term {now_term}; a new port in NB after {took:.2?}");
}
