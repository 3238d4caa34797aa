//! Faults against real `prismnetd` processes: the leader SIGKILLed under concurrent
//! allocation, a restarted node catching up, a full-cluster restart.

mod common;

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::{
    check_acknowledged_ports, definite_failures_that_applied, make_subnet, subnet_ports, Cluster,
    Options, PortFacts, WAIT,
};
use prismnet_api::v1;
use prismnet_api::{ClientError, PrismClient};

/// Concurrent CreatePort calls per wave.
const CALLS: usize = 1000;
/// Acknowledged creates of a wave before its victim is killed.
const KILL_AFTER: usize = 100;

/// What a wave of calls ended with: acknowledged ports by device id, failures.
type Outcomes = (BTreeMap<String, PortFacts>, Vec<(String, ClientError)>);

/// Starts [`CALLS`] CreatePort calls at once (device ids `vm-<first>`...), SIGKILLs
/// node `victim` once [`KILL_AFTER`] are acknowledged, and waits for every call.
async fn wave(
    c: &mut Cluster,
    client: &PrismClient,
    subnet_id: &str,
    first: usize,
    victim: u64,
) -> Outcomes {
    let acks = Arc::new(AtomicUsize::new(0));
    let mut calls = Vec::with_capacity(CALLS);
    for i in first..first + CALLS {
        let client = client.clone();
        let acks = acks.clone();
        let subnet_id = subnet_id.to_string();
        calls.push(tokio::spawn(async move {
            let device = format!("vm-{i}");
            let r = client
                .create_port(v1::CreatePortRequest {
                    subnet_id,
                    device_id: device.clone(),
                    ..Default::default()
                })
                .await;
            if r.is_ok() {
                acks.fetch_add(1, Ordering::SeqCst);
            }
            (device, r)
        }));
    }
    let deadline = Instant::now() + WAIT;
    while acks.load(Ordering::SeqCst) < KILL_AFTER {
        assert!(Instant::now() < deadline, "no progress before the kill");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    c.kill(victim);
    eprintln!(
        "killed leader {victim} at {} acks",
        acks.load(Ordering::SeqCst)
    );
    let mut acked = BTreeMap::new();
    let mut failed = Vec::new();
    for call in calls {
        let (device, r) = call.await.expect("call task");
        match r {
            Ok(nic) => {
                let port = nic.port.expect("port in the answer");
                assert_eq!(port.device_id, device);
                acked.insert(device, PortFacts::from(&port));
            }
            Err(e) => failed.push((device, e)),
        }
    }
    eprintln!(
        "{} acknowledged, {} failed: {:?}",
        acked.len(),
        failed.len(),
        failed.iter().take(5).collect::<Vec<_>>()
    );
    assert!(acked.len() > KILL_AFTER, "calls went on after the kill");
    (acked, failed)
}

/// A failure the library calls definite (outcome_unknown false) must have left
/// nothing: a caller told "it failed" may retry with a new request id, and a port
/// that exists after all would then be allocated twice.
fn assert_definite_failures_left_nothing(failed: &[(String, ClientError)], stored: &[PortFacts]) {
    let wrong = definite_failures_that_applied(failed, stored);
    assert!(
        wrong.is_empty(),
        "{} calls failed definitely (outcome_unknown false) but their port exists, e.g. {:?}",
        wrong.len(),
        wrong.iter().take(3).collect::<Vec<_>>()
    );
}

/// Every node's own view (stale reads) of the subnet's ports, sorted.
async fn each_nodes_ports(c: &Cluster, subnet_id: &str) -> Vec<Vec<PortFacts>> {
    let mut views = Vec::new();
    for id in 1..=3 {
        let own = c.client(&[id]).await.with_stale_reads(true);
        let mut ports = subnet_ports(&own, subnet_id).await;
        ports.sort();
        views.push(ports);
    }
    views
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn leader_killed_during_concurrent_creates_then_restarts() {
    // - a 3-node cluster and a /20 subnet; one client library given every node
    // - wave 1: 1000 CreatePort calls at once, each its own logical call (the library
    //   picks its request id and retries with it; device id vm-<i> names the call);
    //   the leader is SIGKILLed once 100 have been acknowledged
    // - every call ends; listing every port (all pages) shows each acknowledged port
    //   exactly once, as it was acknowledged; no call allocated twice (device ids are
    //   unique, so failed calls left nothing or one port); no IP or MAC twice
    // - wave 2: the killed node restarts on its data dir and catches up while another
    //   1000 calls run; the new leader is SIGKILLed after 100 of them; same checks
    // - the node still down restarts and catches up: once writes stop, every node has
    //   applied the same index and holds the same ports (stale reads of each node's
    //   own state)
    // - a full-cluster restart: SIGTERM every node (each exits 0), start them all;
    //   every acknowledged port is still there, unchanged
    let mut c = Cluster::new(3, Options::default());
    c.start_all();
    let (leader, _) = c.wait_leader(&[1, 2, 3]).await;
    let client = c.client_all().await.with_deadline(Duration::from_secs(90));
    let subnet = make_subnet(&client, "load", "10.70.0.0/16", "10.70.0.0/20").await;

    let (mut acked, mut failed) = wave(&mut c, &client, &subnet.id, 0, leader).await;
    let stored = subnet_ports(&client, &subnet.id).await;
    check_acknowledged_ports(&stored, &acked);
    assert_definite_failures_left_nothing(&failed, &stored);

    // Wave 2: the killed node catches up under load; the next leader dies.
    c.start(leader);
    let running = c.running();
    let (second, _) = c.wait_leader(&running).await;
    let (acked2, failed2) = wave(&mut c, &client, &subnet.id, CALLS, second).await;
    acked.extend(acked2);
    failed.extend(failed2);
    let stored = subnet_ports(&client, &subnet.id).await;
    check_acknowledged_ports(&stored, &acked);
    assert_definite_failures_left_nothing(&failed, &stored);
    eprintln!(
        "stored {} ports ({} of failed calls)",
        stored.len(),
        stored.len() - acked.len()
    );

    // The node still down comes back; all three converge.
    c.start(second);
    c.wait_leader(&[1, 2, 3]).await;
    let applied = c.wait_applied_equal(&[1, 2, 3]).await;
    eprintln!("all nodes applied index {applied}");
    let mut expected = stored.clone();
    expected.sort();
    for (i, v) in each_nodes_ports(&c, &subnet.id).await.iter().enumerate() {
        assert_eq!(v, &expected, "node {}'s own state differs", i + 1);
    }

    // Full-cluster restart: clean exits, nothing acknowledged lost.
    for id in 1..=3 {
        let status = c.terminate(id);
        assert!(
            status.success(),
            "node {id} exits cleanly on SIGTERM: {status}"
        );
    }
    c.start_all();
    c.wait_leader(&[1, 2, 3]).await;
    let client = c.client_all().await;
    let mut after = subnet_ports(&client, &subnet.id).await;
    after.sort();
    assert_eq!(
        after, expected,
        "the restarted cluster holds the same ports"
    );
    check_acknowledged_ports(&after, &acked);
}
