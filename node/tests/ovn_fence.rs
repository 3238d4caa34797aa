//! The NB fence through three real `prismnetd` processes and one real
//! `ovsdb-server` (harness: `nb_harness/`): a fenced-out cluster stays fenced out
//! until an operator forces it, and a takeover is run only by the confirmed leader.

mod common;
mod nb_harness;

use std::process::Command;
use std::time::{Duration, Instant};

use nb_harness::*;
use prismnet_api::v1;
use prismnet_api::v1::ovn_service_client::OvnServiceClient;
use prismnet_api::{ClientConfig, PrismClient};
use prismnet_ovn::nb::Ownership;
use prismnet_ovn::ovsdb::{Insert, Value};
use prismnet_ovn::reconcile::{fence, Epoch, Stored};
use prismnet_ovn::testing::NbWatch;
use tonic::transport::Endpoint;

/// How long a fenced-out cluster is watched for writes and elections.
const FENCED_WATCH: Duration = Duration::from_secs(30);

/// Runs prismctl against `endpoints` with `-o json`; its parsed output.
fn prismctl_json(endpoints: &[String], args: &[&str]) -> serde_json::Value {
    let out = Command::new(common::prismctl())
        .env("PRISMNET_ENDPOINTS", endpoints.join(","))
        .args(["-o", "json"])
        .args(args)
        .output()
        .expect("running prismctl");
    assert!(
        out.status.success(),
        "prismctl {args:?}: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("prismctl JSON")
}

/// Writes what a predecessor cluster of the same name left in NB: its fence
/// (another incarnation, term 57) and one row it owns.
async fn seed_predecessor(nb: &nb_harness::Nb, cluster: &str) -> (Epoch, String) {
    let db = nb.client().await;
    let predecessor = Epoch {
        term: 57,
        node: 3,
        incarnation: 0x0123_4567_89ab_cdef_0123_4567_89ab_cdef,
    };
    let ids = Ownership::new(cluster).ids("vpc", "00000000-0000-0000-0000-000000000001");
    let row = "pn-ls-of-the-predecessor".to_string();
    db.transact(&[
        Insert::new("NB_Global")
            .value(
                "external_ids",
                Value::map([(
                    fence::epoch_key(cluster).as_str(),
                    predecessor.to_string().as_str(),
                )]),
            )
            .into(),
        Insert::new("Logical_Switch")
            .value("name", row.as_str())
            .value(
                "external_ids",
                Value::map(ids.iter().map(|(k, v)| (k.as_str(), v.as_str()))),
            )
            .into(),
    ])
    .await
    .expect("seeding NB");
    (predecessor, row)
}

/// Hole 3: a cluster re-created under the name of one that owned NB.
/// - NB holds the predecessor's fence (another incarnation, term 57) and a row it
///   owns. A fresh cluster starts against it with a VPC, subnet and port.
/// - For 30 s: no term changes (no handoff, no election) and NB sees no write;
///   `prismctl ovn status` says fenced_out with both epochs and the takeover
///   command; `prismctl cluster status` shows the leader fenced out.
/// - After `prismctl ovn takeover --force` the leader owns NB: the fence names it,
///   the predecessor's row is gone and the port's LSP is in NB.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_re_created_cluster_stays_fenced_out_until_forced() {
    let tmp = temp_dir();
    let nb = Nb::start(tmp.path());
    let name = Cluster::new_name();
    let (predecessor, their_row) = seed_predecessor(&nb, &name).await;
    let c = Cluster::start_named(tmp.path(), &nb, &name);
    let (leader, term) = c.wait_leader(&[1, 2, 3]).await;
    let client = c.client().await;
    let (_, _, port) = topology(&client).await;
    let endpoints = c.endpoints(&[1, 2, 3]);

    // The leader settles into fenced out (it confirms, reads the fence, refuses).
    let started = Instant::now();
    let status = loop {
        let s = prismctl_json(&endpoints, &["ovn", "status"]);
        if s["fence_state"] == "fenced_out" {
            break s;
        }
        assert!(started.elapsed() < WAIT, "never fenced out: {s}");
        tokio::time::sleep(POLL).await;
    };
    assert_eq!(status["stored_epoch"], predecessor.to_string());
    let own: Epoch = status["own_epoch"]
        .as_str()
        .unwrap()
        .parse()
        .expect("epoch");
    assert_eq!(own.leader(), (term, leader));
    let detail = status["fence_detail"].as_str().unwrap();
    assert!(detail.contains("prismctl ovn takeover --force"), "{detail}");
    assert!(status["nb_connected"].as_bool().unwrap(), "{status}");

    let watch = NbWatch::start(nb.client().await).await;
    let watched = Instant::now();
    while watched.elapsed() < FENCED_WATCH {
        assert_eq!(c.max_term().await, Some(term), "the term changed");
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    assert_eq!(
        watch.log().updates,
        0,
        "a fenced-out cluster wrote NB: {:?}",
        watch.log()
    );
    assert_eq!(c.wait_leader(&[1, 2, 3]).await, (leader, term));
    let cs = prismctl_json(&endpoints, &["cluster", "status"]);
    let me = cs["members"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["id"] == leader)
        .unwrap()
        .clone();
    assert_eq!(me["ovn_fenced_out"], true, "{cs}");

    let t = prismctl_json(&endpoints, &["ovn", "takeover", "--force"]);
    assert_eq!(t["epoch"], own.to_string(), "{t}");
    assert_eq!(t["previous_epoch"], predecessor.to_string(), "{t}");
    let db = nb.client().await;
    wait_row(&db, "Logical_Switch_Port", &port).await;
    let started = Instant::now();
    while has_row(&db, "Logical_Switch", &their_row).await {
        assert!(started.elapsed() < WAIT, "the predecessor's row stayed");
        tokio::time::sleep(POLL).await;
    }
    assert_eq!(fence_of(&db, &name).await, Some(Stored::Epoch(own)));
    let s = prismctl_json(&endpoints, &["ovn", "status"]);
    assert_eq!(s["fence_state"], "held", "{s}");
}

/// Hole 2, the takeover half: a forced takeover is run by the current leader with
/// its own epoch, never by a node acting on its belief that it still leads.
/// - Sent to a follower: redirected, run by the leader, with the leader's epoch.
/// - Sent to a leader that was paused (SIGSTOP) while the others elected a new one,
///   and that is continued right after the takeover reached it: refused (it cannot
///   confirm its leadership), and NB's fence still names the new leader.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_the_confirmed_leader_takes_over() {
    let tmp = temp_dir();
    let nb = Nb::start(tmp.path());
    let c = Cluster::start(tmp.path(), &nb);
    let db = nb.client().await;
    let (old, term) = c.wait_leader(&[1, 2, 3]).await;
    wait_fence(&db, &c.name, term, old).await;

    let follower = (1..=3).find(|id| *id != old).unwrap();
    let via_follower = PrismClient::connect(ClientConfig::new(c.endpoints(&[follower])))
        .await
        .expect("client");
    let t = via_follower
        .ovn_takeover(v1::OvnTakeoverRequest {
            force: true,
            ..Default::default()
        })
        .await
        .expect("takeover through a follower");
    let epoch: Epoch = t.epoch.parse().expect("epoch");
    assert_eq!(epoch.leader(), (term, old));

    // Pause the leader; the others elect a new one, which claims NB.
    let paused = c.pause(old);
    let others: Vec<u64> = (1..=3).filter(|id| *id != old).collect();
    let (new, new_term) = c.wait_leader(&others).await;
    assert_ne!(new, old);
    wait_fence(&db, &c.name, new_term, new).await;
    // The takeover waits in the paused leader's socket; continue it right away.
    let stale = Endpoint::from_shared(c.endpoints(&[old])[0].clone())
        .unwrap()
        .timeout(Duration::from_secs(20))
        .connect_lazy();
    let call = tokio::spawn(async move {
        OvnServiceClient::new(stale)
            .ovn_takeover(v1::OvnTakeoverRequest {
                force: true,
                ..Default::default()
            })
            .await
    });
    tokio::time::sleep(Duration::from_millis(300)).await;
    paused.resume();
    let answer = call.await.expect("task");
    let status = answer.expect_err("a deposed leader took NB over");
    let reason = prismnet_api::errors::reason_of(&status);
    println!(
        "takeover at the paused leader: {reason:?}: {}",
        status.message()
    );
    assert!(
        matches!(reason.as_deref(), Some("no_leader" | "not_leader")),
        "{status:?}"
    );
    tokio::time::sleep(Duration::from_secs(3)).await;
    let now = fence_of(&db, &c.name).await;
    assert!(
        matches!(&now, Some(Stored::Epoch(e)) if e.leader() == (new_term, new)),
        "the fence moved: {now:?}"
    );
    // The NB rows are the new leader's to write: it still does.
    let client = c.client().await;
    let (_, _, port) = topology(&client).await;
    wait_row(&db, "Logical_Switch_Port", &port).await;
}
