//! A node that is SIGSTOPped (alive to the kernel, silent to its peers and
//! clients) against real `prismnetd` processes: clients fail over from a paused
//! leader instead of waiting for their deadline, and a node that continues keeps
//! the connections whose calls its clients cancelled meanwhile.

mod common;

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use common::{
    check_acknowledged_ports, definite_failures_that_applied, subnet_ports, Cluster, Options,
    PortFacts,
};
use prismnet_api::v1;
use prismnet_api::v1::admin_service_client::AdminServiceClient;
use tonic::transport::Endpoint;

/// Concurrent CreatePort calls, all started while the leader is stopped.
const CALLS: usize = 1000;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn paused_leader_costs_writes_a_failover_not_their_deadline() {
    // - a 3-node cluster and a /20 subnet; one client library given every node, with
    //   its default timeouts (deadline 30 s, attempt 1 s, keepalive 1 s + 1 s); it
    //   has cached the leader
    // - the leader is SIGSTOPped (and stays stopped until every call has ended);
    //   then 1000 CreatePort calls start at once, each its own logical call (device
    //   id vm-<i> names it), each first sent to the cached, stopped leader
    // - every call is acknowledged: the stopped leader costs each call an attempt,
    //   not its deadline (before attempt timeouts, the calls hung until the deadline
    //   and failed, the 20 s + 10 s keepalive being no shorter); the client has moved
    //   off the stopped leader
    // - while the old leader is still stopped, listing the subnet (linearizable,
    //   through the new leader) shows every acknowledged port exactly once and as
    //   acknowledged, no call allocated twice, no IP or MAC twice, and no call that
    //   failed definitely (if any had) left a port
    // - the old leader continues: all three nodes apply the same index and each
    //   node's own state holds the same ports; the old leader's log has no h2
    //   reset-limit warning (it cut no connection of a client or peer that reset
    //   calls while it was stopped)
    let mut c = Cluster::new(3, Options::default());
    c.start_all();
    let (leader, _) = c.wait_leader(&[1, 2, 3]).await;
    let client = c.client_all().await;
    let subnet = common::make_subnet(&client, "pause", "10.71.0.0/16", "10.71.0.0/20").await;
    assert_eq!(
        client.cached_leader(),
        Some(c.endpoint(leader)),
        "the client has cached the leader"
    );

    let paused = c.pause(leader);
    eprintln!("paused leader {leader}");
    let mut calls = Vec::with_capacity(CALLS);
    for i in 0..CALLS {
        let (client, subnet_id) = (client.clone(), subnet.id.clone());
        calls.push(tokio::spawn(async move {
            let device = format!("vm-{i}");
            let started = Instant::now();
            let r = client
                .create_port(v1::CreatePortRequest {
                    subnet_id,
                    device_id: device.clone(),
                    ..Default::default()
                })
                .await;
            (device, started.elapsed(), r)
        }));
    }

    let mut acked = BTreeMap::new();
    let mut failed = Vec::new();
    let mut slowest = Duration::ZERO;
    for call in calls {
        let (device, took, r) = call.await.expect("call task");
        slowest = slowest.max(took);
        match r {
            Ok(nic) => {
                let port = nic.port.expect("port in the answer");
                assert_eq!(port.device_id, device);
                acked.insert(device, PortFacts::from(&port));
            }
            Err(e) => failed.push((device, e)),
        }
    }
    // Printed, not asserted: no test checks speed.
    eprintln!(
        "{} acknowledged, {} failed, slowest call {slowest:?}: {:?}",
        acked.len(),
        failed.len(),
        failed.iter().take(5).collect::<Vec<_>>()
    );
    let cached = client.cached_leader();
    assert_ne!(
        cached,
        Some(c.endpoint(leader)),
        "the client moved off the stopped leader"
    );

    // Still stopped: the cluster of two answers the list.
    let stored = subnet_ports(&client, &subnet.id).await;
    check_acknowledged_ports(&stored, &acked);
    let wrong = definite_failures_that_applied(&failed, &stored);
    assert!(
        wrong.is_empty(),
        "{} calls failed definitely (outcome_unknown false) but their port exists, e.g. {:?}",
        wrong.len(),
        wrong.iter().take(3).collect::<Vec<_>>()
    );
    assert!(
        failed.is_empty(),
        "a stopped leader failed {} of {CALLS} calls (30 s deadline each), e.g. {:?}",
        failed.len(),
        failed.iter().take(3).collect::<Vec<_>>()
    );
    assert_eq!(stored.len(), CALLS, "one port per call");

    // The old leader continues, steps down and catches up.
    paused.resume();
    c.wait_leader(&[1, 2, 3]).await;
    let applied = c.wait_applied_equal(&[1, 2, 3]).await;
    eprintln!("all nodes applied index {applied}");
    // Its clients and the new leader reset many calls while it was stopped; it
    // kept their connections (API and Raft peer server alike).
    let log = std::fs::read_to_string(c.node(leader).log_path()).expect("node log");
    let warned = log.lines().find(|l| l.contains(H2_RESET_LIMIT_LOG));
    assert!(
        warned.is_none(),
        "the resumed node cut a connection: {warned:?}"
    );
    let mut expected = stored.clone();
    expected.sort();
    for id in 1..=3 {
        let own = c.client(&[id]).await.with_stale_reads(true);
        let mut ports = subnet_ports(&own, &subnet.id).await;
        ports.sort();
        assert_eq!(ports, expected, "node {id}'s own state differs");
    }
}

/// Calls started on the stopped node, each given up (its stream reset) by the
/// client: far more than h2's default limit of 20 remotely reset streams that the
/// server has not accepted yet.
const CANCELLED: usize = 200;

/// h2's warning when it answers too many such resets with GOAWAY `too_many_resets`.
const H2_RESET_LIMIT_LOG: &str = "pending-accept streams reached limit";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn resumed_node_keeps_a_connection_whose_calls_were_cancelled() {
    // - a 3-node cluster; one HTTP/2 connection to the leader's API (a tonic Channel
    //   to that node alone, no keepalive), which answers ClusterStatus
    // - the leader is SIGSTOPped; 200 ClusterStatus calls are started on that
    //   connection and each is given up after 200 ms (its stream reset), as clients
    //   do with calls that time out; the kernel queues all of it for the node
    // - the node continues (SIGCONT): it reads 200 streams opened and reset before
    //   it could accept them
    // - the next call on the same connection is answered (no GOAWAY: a connection
    //   closed by the node fails this call with a transport error before the channel
    //   reconnects), and the node's log has no h2 reset-limit warning
    let mut c = Cluster::new(3, Options::default());
    c.start_all();
    let (leader, _) = c.wait_leader(&[1, 2, 3]).await;
    let channel = Endpoint::from_shared(c.endpoint(leader))
        .expect("endpoint")
        .connect_timeout(Duration::from_secs(1))
        .connect()
        .await
        .expect("connect to the leader's API");
    let status = |channel| {
        let mut req = c.request(v1::ClusterStatusRequest {});
        req.set_timeout(Duration::from_secs(20));
        async move { AdminServiceClient::new(channel).cluster_status(req).await }
    };
    status(channel.clone())
        .await
        .expect("ClusterStatus before the pause");

    let paused = c.pause(leader);
    let mut calls = Vec::with_capacity(CANCELLED);
    for _ in 0..CANCELLED {
        let call = status(channel.clone());
        calls.push(tokio::spawn(async move {
            // Dropping the call's future resets its stream (RST_STREAM CANCEL).
            tokio::time::timeout(Duration::from_millis(200), call)
                .await
                .is_err()
        }));
    }
    let mut given_up = 0;
    for call in calls {
        if call.await.expect("call task") {
            given_up += 1;
        }
    }
    assert_eq!(given_up, CANCELLED, "a stopped node answered nothing");
    paused.resume();

    let after = status(channel.clone()).await;
    let log = std::fs::read_to_string(c.node(leader).log_path()).expect("node log");
    let warned = log.lines().find(|l| l.contains(H2_RESET_LIMIT_LOG));
    assert!(
        after.is_ok() && warned.is_none(),
        "the resumed node cut the connection whose calls were cancelled: next call {:?}, log {:?}",
        after.map(|r| r.into_inner().node_id),
        warned
    );
    // The connection goes on serving.
    for _ in 0..3 {
        status(channel.clone())
            .await
            .expect("ClusterStatus on the same connection");
    }
}
