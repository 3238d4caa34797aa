//! The client library against fake clusters of real tonic servers: leader discovery,
//! redirects, fail-over and retries.

mod common;

use std::time::Duration;

use common::{dead_addr, Cluster};
use prismnet_api::errors::reasons;
use prismnet_api::v1::{ClusterStatusRequest, CreatePortRequest, GetPortRequest};
use prismnet_api::{ClientConfig, PrismClient};
use tonic::Code;

fn config(endpoints: Vec<String>) -> ClientConfig {
    ClientConfig {
        // Short backoff keeps the tests quick; the deadline bounds every test.
        retry: prismnet_api::client::RetryPolicy {
            initial_backoff: Duration::from_millis(10),
            max_backoff: Duration::from_millis(100),
        },
        deadline: Duration::from_secs(10),
        ..ClientConfig::new(endpoints)
    }
}

fn create_req(subnet: &str) -> CreatePortRequest {
    CreatePortRequest {
        subnet_id: subnet.into(),
        ..Default::default()
    }
}

#[tokio::test]
async fn follows_redirect_and_caches_leader() {
    let cluster = Cluster::start(3, Some(2), None).await;
    let client = PrismClient::connect(config(vec![
        cluster.addrs[0].clone(),
        cluster.addrs[1].clone(),
        cluster.addrs[2].clone(),
    ]))
    .await
    .expect("connect");

    let resp = client.create_port(create_req("s1")).await.expect("create");
    let port = resp.port.expect("port");
    assert_eq!(port.host, "node2", "served by the leader");
    let seen = cluster.seen("create_port");
    assert_eq!(
        seen.iter().map(|s| s.node).collect::<Vec<_>>(),
        vec![0, 2],
        "first the first endpoint, then the leader it named"
    );
    assert_eq!(client.cached_leader(), Some(cluster.endpoint(2)));

    // The second call goes straight to the cached leader.
    client.create_port(create_req("s1")).await.expect("create");
    let seen = cluster.seen("create_port");
    assert_eq!(seen.len(), 3);
    assert_eq!(seen[2].node, 2);
}

#[tokio::test]
async fn redirect_without_address_falls_back_to_other_endpoints() {
    let cluster = Cluster::start(3, Some(1), None).await;
    cluster
        .hide_leader_addr
        .store(true, std::sync::atomic::Ordering::SeqCst);
    let client = PrismClient::connect(config(cluster.addrs.clone()))
        .await
        .expect("connect");
    let resp = client.create_port(create_req("s1")).await.expect("create");
    assert_eq!(resp.port.expect("port").host, "node1");
}

#[tokio::test]
async fn no_leader_is_retried_with_the_same_request_id_until_a_leader_appears() {
    let cluster = Cluster::start(3, None, None).await;
    let client = PrismClient::connect(config(cluster.addrs.clone()))
        .await
        .expect("connect");
    let elect = {
        let cluster = cluster.clone();
        tokio::spawn(async move {
            tokio::time::sleep(Duration::from_millis(300)).await;
            cluster.set_leader(Some(1));
        })
    };
    let resp = client.create_port(create_req("s1")).await.expect("create");
    elect.await.expect("elect task");

    let seen = cluster.seen("create_port");
    assert!(seen.len() >= 3, "retried during the election: {seen:?}");
    let first = &seen[0].request_id;
    assert!(
        uuid::Uuid::parse_str(first).is_ok(),
        "generated a UUID: {first}"
    );
    assert!(
        seen.iter().all(|s| &s.request_id == first),
        "same request_id on every retry: {seen:?}"
    );
    // The fake echoes the request_id as the port id.
    assert_eq!(&resp.port.expect("port").id, first);
    assert_eq!(seen.last().map(|s| s.node), Some(1));
}

#[tokio::test]
async fn caller_request_id_is_kept() {
    let cluster = Cluster::start(2, Some(1), None).await;
    let client = PrismClient::connect(config(cluster.addrs.clone()))
        .await
        .expect("connect");
    let req = CreatePortRequest {
        request_id: "my-id-1".into(),
        ..create_req("s1")
    };
    client.create_port(req).await.expect("create");
    let seen = cluster.seen("create_port");
    assert_eq!(seen.len(), 2, "redirected once");
    assert!(seen.iter().all(|s| s.request_id == "my-id-1"));
}

#[tokio::test]
async fn dead_endpoint_is_skipped() {
    let cluster = Cluster::start(2, Some(1), None).await;
    let dead = dead_addr().await;
    let client = PrismClient::connect(config(vec![dead, cluster.addrs[1].clone()]))
        .await
        .expect("connect");
    let resp = client.create_port(create_req("s1")).await.expect("create");
    assert_eq!(resp.port.expect("port").host, "node1");
    assert_eq!(cluster.seen("create_port").len(), 1);
}

#[tokio::test]
async fn fails_over_when_the_leader_stops() {
    let cluster = Cluster::start(3, Some(0), None).await;
    let client = PrismClient::connect(config(cluster.addrs.clone()))
        .await
        .expect("connect");
    client.create_port(create_req("s1")).await.expect("create");
    assert_eq!(client.cached_leader(), Some(cluster.endpoint(0)));

    cluster.stop(0);
    cluster.set_leader(Some(2));
    let resp = client.create_port(create_req("s1")).await.expect("create");
    assert_eq!(resp.port.expect("port").host, "node2");
    assert_eq!(client.cached_leader(), Some(cluster.endpoint(2)));
}

#[tokio::test]
async fn non_retryable_error_returns_at_once() {
    let cluster = Cluster::start(2, Some(0), None).await;
    let client = PrismClient::connect(config(cluster.addrs.clone()))
        .await
        .expect("connect");
    let err = client
        .get_port(GetPortRequest {
            port_id: "missing".into(),
        })
        .await
        .expect_err("not found");
    assert_eq!(err.code(), Code::NotFound);
    assert!(err.is(reasons::NOT_FOUND));
    assert_eq!(err.attempts, 1);
    assert_eq!(cluster.seen("get_port").len(), 1);
}

#[tokio::test]
async fn error_info_reason_and_metadata_are_parsed() {
    let cluster = Cluster::start(1, Some(0), None).await;
    let client = PrismClient::connect(config(cluster.addrs.clone()))
        .await
        .expect("connect");
    let err = client
        .create_port(create_req("bad-cidr"))
        .await
        .expect_err("invalid");
    assert_eq!(err.code(), Code::InvalidArgument);
    assert_eq!(err.reason(), Some(reasons::INVALID_CIDR));
    assert_eq!(err.message, "10.0.0.0/33 is not a CIDR");
    assert_eq!(
        err.info.get("cidr").map(String::as_str),
        Some("10.0.0.0/33")
    );
    assert!(!err.outcome_unknown);
    assert_eq!(cluster.seen("create_port").len(), 1);
}

/// `disk_full` is the leader refusing before proposing: returned at once, not
/// retried, and definite (the write did not happen).
#[tokio::test]
async fn disk_full_is_final_and_definite() {
    let cluster = Cluster::start(3, Some(1), None).await;
    let client = PrismClient::connect(config(cluster.addrs.clone()))
        .await
        .expect("connect");
    let err = client
        .create_port(create_req("disk-full"))
        .await
        .expect_err("refused");
    assert_eq!(err.code(), Code::ResourceExhausted);
    assert!(err.is(reasons::DISK_FULL));
    assert!(!err.outcome_unknown);
    assert_eq!(err.info.get("nodes").map(String::as_str), Some("2,3"));
    let seen = cluster.seen("create_port");
    assert_eq!(
        seen.iter().map(|s| s.node).collect::<Vec<_>>(),
        vec![0, 1],
        "redirected to the leader once, then not retried"
    );
}

#[tokio::test]
async fn deadline_is_honored_while_no_leader() {
    let cluster = Cluster::start(3, None, None).await;
    let client = PrismClient::connect(ClientConfig {
        deadline: Duration::from_millis(400),
        ..config(cluster.addrs.clone())
    })
    .await
    .expect("connect");
    let started = std::time::Instant::now();
    let err = client
        .create_port(create_req("s1"))
        .await
        .expect_err("deadline");
    // Not a speed check: a generous bound that only catches a deadline ignored.
    assert!(started.elapsed() < Duration::from_secs(5));
    assert_eq!(err.code(), Code::DeadlineExceeded);
    assert!(err.is(reasons::DEADLINE_EXCEEDED));
    assert!(err.attempts >= 2, "{err}");
    assert!(
        !err.outcome_unknown,
        "every attempt was refused with no_leader, so nothing was applied"
    );
}

#[tokio::test]
async fn deadline_is_honored_on_a_hanging_call() {
    let cluster = Cluster::start(1, Some(0), None).await;
    let client = PrismClient::connect(ClientConfig {
        deadline: Duration::from_millis(300),
        ..config(cluster.addrs.clone())
    })
    .await
    .expect("connect");
    let started = std::time::Instant::now();
    let err = client
        .get_port(GetPortRequest {
            port_id: "slow".into(),
        })
        .await
        .expect_err("deadline");
    assert!(started.elapsed() < Duration::from_secs(5));
    assert_eq!(err.code(), Code::DeadlineExceeded);
    assert_eq!(err.attempts, 1);
}

/// The cached leader stops answering (paused, cut off) and another node leads: the
/// attempt on the silent node is given up after the attempt timeout, and the same
/// logical call goes on elsewhere with the same request_id, well within its deadline.
#[tokio::test]
async fn silent_leader_is_given_up_after_the_attempt_timeout() {
    let cluster = Cluster::start(3, Some(0), None).await;
    let client = PrismClient::connect(ClientConfig {
        attempt_timeout: Duration::from_millis(500),
        ..config(cluster.addrs.clone())
    })
    .await
    .expect("connect");
    client.create_port(create_req("s1")).await.expect("create");
    assert_eq!(client.cached_leader(), Some(cluster.endpoint(0)));

    cluster.set_silent(0, true);
    cluster.set_leader(Some(2));
    let req = CreatePortRequest {
        request_id: "after-pause".into(),
        ..create_req("s1")
    };
    let resp = client
        .create_port(req)
        .await
        .expect("create after failover");
    assert_eq!(resp.port.expect("port").host, "node2");
    let seen: Vec<_> = cluster
        .seen("create_port")
        .into_iter()
        .filter(|s| s.request_id == "after-pause")
        .collect();
    assert_eq!(
        seen.iter().map(|s| s.node).collect::<Vec<_>>(),
        vec![0, 1, 2],
        "the silent leader, then the next endpoint, which redirected to the new leader"
    );
    assert_eq!(client.cached_leader(), Some(cluster.endpoint(2)));
}

/// Every node silent: each attempt times out and the next endpoint is tried, until
/// the deadline; the write's outcome is unknown (an attempt was in flight), and every
/// attempt carried the same request_id.
#[tokio::test]
async fn write_whose_attempts_time_out_ends_at_the_deadline_with_outcome_unknown() {
    let cluster = Cluster::start(2, Some(0), None).await;
    cluster.set_silent(0, true);
    cluster.set_silent(1, true);
    let client = PrismClient::connect(ClientConfig {
        attempt_timeout: Duration::from_millis(100),
        deadline: Duration::from_millis(700),
        ..config(cluster.addrs.clone())
    })
    .await
    .expect("connect");
    let err = client
        .create_port(create_req("s1"))
        .await
        .expect_err("deadline");
    assert_eq!(err.code(), Code::DeadlineExceeded);
    assert!(err.is(reasons::DEADLINE_EXCEEDED));
    assert!(err.outcome_unknown, "{err}");
    assert!(
        err.attempts >= 2,
        "moved on after a timed-out attempt: {err}"
    );
    let seen = cluster.seen("create_port");
    assert!(seen.iter().any(|s| s.node == 0) && seen.iter().any(|s| s.node == 1));
    assert!(
        seen.iter().all(|s| s.request_id == seen[0].request_id),
        "same request_id on every attempt: {seen:?}"
    );
}

/// An attempt timed out (it may have applied), then another node answered with an
/// error the log decided: that is the call's outcome, known. The same error
/// without the mark leaves the outcome unknown.
#[tokio::test]
async fn an_error_decided_by_the_log_settles_an_uncertain_write() {
    for (subnet, unknown) in [("full-applied", false), ("full-unmarked", true)] {
        // Node 0 is tried first and never answers; node 1 leads.
        let cluster = Cluster::start(2, Some(1), None).await;
        cluster.set_silent(0, true);
        let client = PrismClient::connect(ClientConfig {
            attempt_timeout: Duration::from_millis(200),
            ..config(cluster.addrs.clone())
        })
        .await
        .expect("connect");
        let err = client
            .create_port(create_req(subnet))
            .await
            .expect_err("subnet full");
        assert!(err.is(reasons::SUBNET_FULL), "{err}");
        assert_eq!(err.outcome_unknown, unknown, "{subnet}: {err}");
        assert_eq!(err.attempts, 2, "{err}");
    }
}

/// A read whose attempt timed out is retried elsewhere too; a read never makes an
/// outcome unknown.
#[tokio::test]
async fn read_on_a_silent_node_moves_on() {
    let cluster = Cluster::start(2, Some(1), None).await;
    cluster.set_silent(0, true);
    let client = PrismClient::connect(ClientConfig {
        attempt_timeout: Duration::from_millis(500),
        ..config(cluster.addrs.clone())
    })
    .await
    .expect("connect");
    let port = client
        .get_port(GetPortRequest {
            port_id: "p1".into(),
        })
        .await
        .expect("get");
    assert_eq!(port.host, "node1");
    assert_eq!(
        cluster
            .seen("get_port")
            .iter()
            .map(|s| s.node)
            .collect::<Vec<_>>(),
        vec![0, 1]
    );

    cluster.set_silent(1, true);
    let err = client
        .with_deadline(Duration::from_millis(500))
        .get_port(GetPortRequest {
            port_id: "p1".into(),
        })
        .await
        .expect_err("deadline");
    assert_eq!(err.code(), Code::DeadlineExceeded);
    assert!(!err.outcome_unknown, "{err}");
}

#[tokio::test]
async fn stale_reads_are_served_by_the_receiving_node() {
    let cluster = Cluster::start(2, Some(0), None).await;
    let follower_only = vec![cluster.addrs[1].clone()];

    let stale = PrismClient::connect(ClientConfig {
        stale_reads: true,
        ..config(follower_only.clone())
    })
    .await
    .expect("connect");
    let port = stale
        .get_port(GetPortRequest {
            port_id: "p1".into(),
        })
        .await
        .expect("get");
    assert_eq!(port.host, "node1");
    assert!(cluster.seen("get_port").iter().all(|s| s.stale));

    // The same client without stale reads is redirected to the leader, and writes
    // never carry the stale header.
    let linearizable = stale.with_stale_reads(false);
    let port = linearizable
        .get_port(GetPortRequest {
            port_id: "p1".into(),
        })
        .await
        .expect("get");
    assert_eq!(port.host, "node0");
    stale.create_port(create_req("s1")).await.expect("create");
    assert!(cluster.seen("create_port").iter().all(|s| !s.stale));
}

#[tokio::test]
async fn cluster_status_is_never_redirected() {
    let cluster = Cluster::start(2, Some(0), None).await;
    let client = PrismClient::connect(config(vec![cluster.addrs[1].clone()]))
        .await
        .expect("connect");
    let status = client
        .cluster_status(ClusterStatusRequest {})
        .await
        .expect("status");
    assert_eq!(status.node_id, 1);
    assert_eq!(status.leader_id, Some(0));
}

#[tokio::test]
async fn bearer_token_is_sent() {
    let cluster = Cluster::start(1, Some(0), Some("s3cret")).await;
    let anonymous = PrismClient::connect(config(cluster.addrs.clone()))
        .await
        .expect("connect");
    let err = anonymous
        .create_port(create_req("s1"))
        .await
        .expect_err("unauthenticated");
    assert_eq!(err.code(), Code::Unauthenticated);
    assert!(err.is(reasons::UNAUTHENTICATED));
    assert_eq!(err.attempts, 1);

    let client = PrismClient::connect(ClientConfig {
        token: Some("s3cret".into()),
        ..config(cluster.addrs.clone())
    })
    .await
    .expect("connect");
    client.create_port(create_req("s1")).await.expect("create");
    let seen = cluster.seen("create_port");
    assert_eq!(
        seen.last().and_then(|s| s.auth.clone()).as_deref(),
        Some("Bearer s3cret")
    );
}

#[tokio::test]
async fn bad_config_is_rejected() {
    let err = PrismClient::connect(ClientConfig::default())
        .await
        .err()
        .expect("no endpoints");
    assert!(err.is(reasons::INVALID_CONFIG));
    let err = PrismClient::connect(ClientConfig::new(["not a host:1"]))
        .await
        .err()
        .expect("bad endpoint");
    assert!(err.is(reasons::INVALID_CONFIG));
    let err = PrismClient::connect(ClientConfig {
        attempt_timeout: Duration::ZERO,
        ..ClientConfig::new(["127.0.0.1:1"])
    })
    .await
    .err()
    .expect("zero attempt timeout");
    assert!(err.is(reasons::INVALID_CONFIG));
}
