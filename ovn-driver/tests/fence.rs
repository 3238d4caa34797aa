//! The NB fence under the leaderships Raft can produce, against a real
//! ovsdb-server with the OVN NB schema. Each test names the hole it closes
//! (issue 10 of the review).

mod common;

use std::time::Duration;

use common::*;
use prismnet_ovn::nb::Table;
use prismnet_ovn::ovsdb::{Error, Insert, Mutate, Mutation, Value};
use prismnet_ovn::reconcile::{
    fence, DriverError, Epoch, FenceError, FenceState, Standing, Stored,
};
use prismnet_ovn::testing::{epoch, OvsdbServer, TEST_INCARNATION};
use tokio::time::Instant;

/// Waits until `pred` holds of the driver's fence state.
async fn until_fence(leader: &Leader, what: &str, pred: impl Fn(&FenceState) -> bool) {
    let st = leader.driver.status();
    assert!(
        st.wait_for(SYNC_TIMEOUT, |s| pred(&s.fence_state())).await,
        "{what}: fence {:?}, last error {:?}",
        st.fence_state(),
        st.last_error()
    );
}

/// A state the other leader does not have: one more port.
fn topology_with_extra_port() -> (prismnet_ovn::topology::Topology, String) {
    let mut t = full_topology();
    let first = t.state.subnets().next().unwrap().id;
    let p = t.port(first);
    (t, p.id.to_string())
}

/// A transaction guarded by `epoch`: Ok if NB let it commit.
async fn guarded_write(remotes: &[String], epoch: &Epoch, name: &str) -> Result<(), Error> {
    let c = client(remotes).await;
    c.transact(&[
        fence::guard(CLUSTER, epoch),
        Insert::new("Logical_Switch").value("name", name).into(),
    ])
    .await
    .map(drop)
}

/// Hole 1: openraft 0.9 can elect two leaders in one term, (5, 1) and then
/// (5, 2). With the bare term as epoch both held the fence and both wrote.
/// - (5, 2) holds; (5, 1) starting later is fenced out and writes nothing.
/// - The other order: (5, 1) holds, (5, 2) claims over it; from then on (5, 1)
///   writes nothing: the port only (5, 2) knows is never deleted, and a write
///   guarded by (5, 1) fails as a whole.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_writer_per_term_in_openraft_order() {
    init_logs();
    let (older, newer) = (epoch(5, 1), epoch(5, 2));

    // Order 1: the newer leader of term 5 first.
    let server = OvsdbServer::start_standalone().expect("ovsdb-server");
    let remotes = vec![server.unix_remote()];
    let (t2, extra) = topology_with_extra_port();
    let b = Leader::start(config(&remotes), newer, &t2.state);
    b.wait_synced(t2.index()).await;
    let watch = NbWatch::start(client(&remotes).await).await;
    let t = full_topology();
    let a = Leader::start(config(&remotes), older, &t.state);
    until_fence(&a, "(5,1) fenced out", |f| {
        matches!(
            f,
            FenceState::FencedOut {
                standing: Standing::Newer,
                ..
            }
        )
    })
    .await;
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert_eq!(
        watch.log().updates,
        0,
        "someone wrote NB: {:?}",
        watch.log()
    );
    assert!(guarded_write(&remotes, &older, "from-5-1").await.is_err());
    assert!(guarded_write(&remotes, &newer, "from-5-2").await.is_ok());
    drop((a, b, watch, server));

    // Order 2: the older leader first, then the newer one claims over it.
    let server = OvsdbServer::start_standalone().expect("ovsdb-server");
    let remotes = vec![server.unix_remote()];
    let a = Leader::start(config(&remotes), older, &t.state);
    a.wait_synced(t.index()).await;
    let watch = NbWatch::start(client(&remotes).await).await;
    let b = Leader::start(config(&remotes), newer, &t2.state);
    b.wait_synced(t2.index()).await;
    until_fence(&a, "(5,1) fenced out after (5,2) claimed", |f| {
        f.is_fenced_out()
    })
    .await;
    until_no_drift(&b, Duration::from_secs(5)).await;
    // (5, 1)'s state lacks the extra port: had it written, it would delete it.
    a.publish(&t.state);
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(watch.deletes_of(Table::LogicalSwitchPort, &extra), 0);
    assert!(matches!(
        b.driver.status().fence_state(),
        FenceState::Held { epoch } if epoch == newer
    ));
    let err = guarded_write(&remotes, &older, "from-deposed").await;
    assert!(
        matches!(&err, Err(Error::Transaction(t)) if t.op_index == Some(0)),
        "{err:?}"
    );
    until_no_drift(&b, Duration::from_secs(5)).await;

    // NB's own log names the leadership of every transaction: claims and writes
    // of (5, 1), then of (5, 2), never (5, 1) again once (5, 2) claimed.
    let out = std::process::Command::new("ovsdb-tool")
        .args(["show-log", "-m"])
        .arg(server.db_path())
        .output()
        .expect("ovsdb-tool show-log");
    let log = String::from_utf8_lossy(&out.stdout);
    let signed: Vec<&str> = log
        .lines()
        .filter_map(|l| l.split("\"prismnet ").nth(1))
        .collect();
    let older_sig = format!("{CLUSTER} {older}\"");
    let newer_sig = format!("{CLUSTER} {newer}\"");
    let first_newer = signed
        .iter()
        .position(|s| *s == newer_sig)
        .expect("(5,2) signed");
    assert!(
        signed[..first_newer].iter().any(|s| *s == older_sig),
        "{signed:?}"
    );
    assert!(
        signed[first_newer..].iter().all(|s| *s == newer_sig),
        "{signed:?}"
    );
}

/// Hole 2: a deposed leader that does not know it yet re-claims a vanished fence
/// key (e.g. a fresh NB database); the current leader, seeing a LOWER epoch, used
/// to stop writing, leaving NB to the stale one.
/// - Stale (5, 1) and current (6, 1) run against one NB; the key is deleted.
/// - However the two race for the empty key, the current leader ends up holding
///   it, NB equals its state, and the stale one is fenced out.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lower_epoch_never_silences_the_current_leader() {
    init_logs();
    let server = OvsdbServer::start_standalone().expect("ovsdb-server");
    let remotes = vec![server.unix_remote()];
    let t = full_topology();
    let (t2, extra) = topology_with_extra_port();
    let (stale_epoch, current_epoch) = (epoch(5, 1), epoch(6, 1));
    let stale = Leader::start(config(&remotes), stale_epoch, &t.state);
    stale.wait_synced(t.index()).await;
    let current = Leader::start(config(&remotes), current_epoch, &t2.state);
    current.wait_synced(t2.index()).await;
    until_fence(&stale, "stale fenced out", FenceState::is_fenced_out).await;

    for round in 0..3 {
        let c = client(&remotes).await;
        c.transact(&[Mutate::new("NB_Global")
            .mutation(Mutation::delete(
                "external_ids",
                Value::set([fence::epoch_key(CLUSTER).as_str()]),
            ))
            .into()])
            .await
            .expect("delete the fence key");
        // The key is gone the moment the delete commits: wait for NB to hold
        // the current epoch again with both drivers settled around it.
        let started = Instant::now();
        loop {
            let stored = fence::read(&c, CLUSTER).await.unwrap();
            let current_holds = matches!(
                current.driver.status().fence_state(),
                FenceState::Held { epoch } if epoch == current_epoch
            );
            let stale_out = stale.driver.status().fence_state().is_fenced_out();
            if stored == Stored::Epoch(current_epoch) && current_holds && stale_out {
                break;
            }
            assert!(
                started.elapsed() < SYNC_TIMEOUT,
                "round {round}: NB {stored:?}, current {:?}, stale {:?}",
                current.driver.status().fence_state(),
                stale.driver.status().fence_state()
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        until_no_drift(&current, Duration::from_secs(10)).await;
        let lsps = names(&owned_rows(&c, Table::LogicalSwitchPort).await);
        assert!(lsps.contains(&extra), "round {round}: {lsps:?}");
    }
}

/// Hole 3 (driver side): NB owned by another incarnation of this cluster name
/// (the cluster was re-created) or by a newer epoch of our own (restored from a
/// backup): the leader is fenced out, stays connected (not an outage), writes
/// nothing, and takes NB over only by an operator's forced takeover, which it
/// runs with its own epoch after confirming its leadership.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fenced_out_until_a_forced_takeover() {
    init_logs();
    let server = OvsdbServer::start_standalone().expect("ovsdb-server");
    let remotes = vec![server.unix_remote()];
    let t = full_topology();
    // The predecessor: another incarnation, a much higher term.
    let predecessor = Epoch {
        term: 57,
        node: 3,
        incarnation: TEST_INCARNATION ^ 0xff,
    };
    let theirs = full_topology();
    let old = Leader::start(config(&remotes), predecessor, &theirs.state);
    old.wait_synced(theirs.index()).await;
    old.stop().await.unwrap();
    let watch = NbWatch::start(client(&remotes).await).await;

    let ours = epoch(2, 1);
    let leader = Leader::start(config(&remotes), ours, &t.state);
    until_fence(&leader, "fenced out by a foreign incarnation", |f| {
        matches!(
            f,
            FenceState::FencedOut {
                standing: Standing::Foreign,
                ..
            }
        )
    })
    .await;
    let st = leader.driver.status();
    assert!(st.nb_connected(), "fenced out is not an NB outage");
    assert_eq!(st.nb_unreachable_for(), None);
    let detail = st.fence_state().detail(CLUSTER).unwrap();
    assert!(detail.contains(fence::TAKEOVER_COMMAND), "{detail}");
    assert!(detail.contains(&predecessor.to_string()), "{detail}");
    // The state changes; still nothing is written.
    leader.publish(&t.state);
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert_eq!(watch.log().updates, 0, "a fenced-out leader wrote NB");

    // Without force the takeover is refused and changes nothing.
    let refused = leader.driver.takeover(false).await;
    assert!(
        matches!(
            refused,
            Err(DriverError::Fence(FenceError::Refused {
                standing: Standing::Foreign,
                ..
            }))
        ),
        "{refused:?}"
    );
    // A leader that cannot confirm its leadership does not take over.
    leader.leadership.set_open(false);
    assert!(matches!(
        leader.driver.takeover(true).await,
        Err(DriverError::NotLeading)
    ));
    assert_eq!(watch.log().updates, 0);
    leader.leadership.set_open(true);
    let claimed = leader.driver.takeover(true).await.expect("forced takeover");
    assert_eq!(claimed.epoch, ours);
    assert_eq!(claimed.previous, Stored::Epoch(predecessor));
    leader.wait_synced(t.index()).await;
    until_no_drift(&leader, Duration::from_secs(10)).await;
    assert!(matches!(
        leader.driver.status().fence_state(),
        FenceState::Held { epoch } if epoch == ours
    ));
    leader.stop().await.unwrap();
    // A driver that does not run takes nothing over.
    assert!(matches!(
        leader_gone_takeover(&remotes).await,
        Err(DriverError::NotLeading)
    ));
}

async fn leader_gone_takeover(remotes: &[String]) -> Result<fence::Claimed, DriverError> {
    prismnet_ovn::OvnDriver::new(config(remotes))
        .takeover(true)
        .await
}

/// Hole 4: a new leader may not yet have applied entries its predecessor
/// committed, acknowledged and wrote to NB. Its first pass must wait for the
/// leadership's read-index barrier, or it deletes the rows of acknowledged
/// resources.
/// - The old leader (3, 1) wrote port P's LSP. The new leader (4, 2) starts on a
///   state without P, its barrier not passed: it writes nothing, P's LSP stays.
/// - Its state catches up (P applied) and the barrier passes: it reconciles,
///   and P's LSP was deleted 0 times.
/// - Control: a leader whose barrier passes on the stale state deletes P's LSP,
///   so the count above can see a delete.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_first_pass_of_a_term_waits_for_the_barrier() {
    init_logs();
    let server = OvsdbServer::start_standalone().expect("ovsdb-server");
    let remotes = vec![server.unix_remote()];
    let stale = full_topology();
    let (caught_up, p) = topology_with_extra_port();
    let old = Leader::start(config(&remotes), epoch(3, 1), &caught_up.state);
    old.wait_synced(caught_up.index()).await;
    old.stop().await.unwrap();
    let watch = NbWatch::start(client(&remotes).await).await;

    let new = Leader::start_gated(config(&remotes), epoch(4, 2), &stale.state, false);
    until_fence(&new, "confirming", |f| {
        matches!(f, FenceState::Confirming { .. })
    })
    .await;
    let started = Instant::now();
    while started.elapsed() < Duration::from_secs(2) {
        assert!(matches!(
            new.driver.status().fence_state(),
            FenceState::Confirming { .. }
        ));
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(new.leadership.confirms() > 1, "the driver asked again");
    assert_eq!(watch.log().updates, 0, "wrote before the barrier");
    // Apply catches up, then the barrier passes.
    new.publish(&caught_up.state);
    new.leadership.set_open(true);
    new.wait_synced(caught_up.index()).await;
    until_no_drift(&new, Duration::from_secs(10)).await;
    let started = Instant::now();
    while watch.log().updates == 0 {
        assert!(
            started.elapsed() < SYNC_TIMEOUT,
            "the new leader never wrote"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(watch.deletes_of(Table::LogicalSwitchPort, &p), 0);
    new.stop().await.unwrap();

    // Control: the same start without the barrier deletes P's LSP.
    let hasty = Leader::start(config(&remotes), epoch(5, 2), &stale.state);
    hasty.wait_synced(stale.index()).await;
    // The watch sees the delete a moment after the pass that made it.
    let started = Instant::now();
    while watch.deletes_of(Table::LogicalSwitchPort, &p) == 0 {
        assert!(
            started.elapsed() < SYNC_TIMEOUT,
            "the control never deleted P's LSP"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(watch.deletes_of(Table::LogicalSwitchPort, &p), 1);
    hasty.stop().await.unwrap();
}
