//! A retry never allocates twice, also after the cluster forgot its request id:
//! three real `prismnetd` processes, a request id retention of 5.

mod common;

use common::{Cluster, Options};
use prismnet_api::errors::{reason_of, reasons};
use prismnet_api::metadata::{revision, APPLIED_HEADER, REVISION_HEADER, SEEN_REVISION_HEADER};
use prismnet_api::v1;
use prismnet_api::v1::port_service_client::PortServiceClient;
use tonic::Code;

fn port_request(subnet: &str, device: &str, request_id: &str) -> v1::CreatePortRequest {
    v1::CreatePortRequest {
        subnet_id: subnet.into(),
        device_id: device.into(),
        request_id: request_id.into(),
        ..Default::default()
    }
}

async fn ports_of(client: &prismnet_api::PrismClient, subnet: &str) -> usize {
    common::subnet_ports(client, subnet).await.len()
}

/// - Retention 5. A CreatePort with request id X whose client had seen revision r0
///   is applied; its answer is "lost" (ignored), and more than 5 other writes make
///   the cluster forget X.
/// - X retried with r0, raw: FAILED_PRECONDITION `request_expired`, and still one
///   port: the retry was not applied again. Through the client library
///   (`with_seen_revision(r0)`): the same refusal, reported as outcome unknown.
/// - While remembered, a retry answers the first outcome (same port).
/// - A new client (it has seen no revision) creating with a library-chosen id is
///   refused once and sent again by the library with the cluster's revision: it
///   succeeds, once. A raw write with its own id and no seen revision is refused.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_retry_past_eviction_is_refused_not_applied() {
    let mut c = Cluster::new(3, Options::default());
    c.start_all();
    let (leader, _) = c.wait_leader(&[1, 2, 3]).await;
    let client = c.client_all().await;
    let s = client
        .update_settings(v1::UpdateSettingsRequest {
            request_id_retention: Some(5),
            ..Default::default()
        })
        .await
        .expect("retention 5");
    assert_eq!(s.request_id_retention, 5);
    let subnet = common::make_subnet(&client, "idem", "10.77.0.0/16", "10.77.1.0/24")
        .await
        .id;

    // The first attempt, straight to the leader, with the revision seen before it.
    let r0 = client.revision();
    assert!(r0 > 0, "answers carry the revision");
    let raw = |req: v1::CreatePortRequest, seen: Option<u64>| {
        let mut r = c.request(req);
        if let Some(seen) = seen {
            r.metadata_mut()
                .insert(SEEN_REVISION_HEADER, seen.to_string().parse().unwrap());
        }
        let ch = c.channel(leader);
        async move { PortServiceClient::new(ch).create_port(r).await }
    };
    let first = raw(port_request(&subnet, "vm-x", "req-x"), Some(r0))
        .await
        .expect("first attempt");
    let first_id = first.get_ref().port.as_ref().unwrap().id.clone();
    assert!(revision(first.metadata(), REVISION_HEADER).unwrap() > r0);
    // Remembered: a retry answers the first outcome.
    let again = raw(port_request(&subnet, "vm-x", "req-x"), Some(r0))
        .await
        .expect("retry while remembered");
    assert_eq!(again.get_ref().port.as_ref().unwrap().id, first_id);

    for i in 0..6 {
        client
            .create_port(port_request(&subnet, &format!("vm-{i}"), ""))
            .await
            .expect("other write");
    }
    let s = client
        .get_settings(v1::GetSettingsRequest {})
        .await
        .expect("settings");
    assert!(s.requests_forgotten_through > r0, "{s:?}");
    let before = ports_of(&client, &subnet).await;

    let err = raw(port_request(&subnet, "vm-x", "req-x"), Some(r0))
        .await
        .expect_err("a forgotten retry was applied again");
    assert_eq!(err.code(), Code::FailedPrecondition);
    assert_eq!(
        reason_of(&err).as_deref(),
        Some(reasons::REQUEST_EXPIRED),
        "{err:?}"
    );
    assert!(
        err.metadata().get(APPLIED_HEADER).is_none(),
        "request_expired is not the call's outcome: {err:?}"
    );
    let lib = client
        .with_seen_revision(r0)
        .create_port(port_request(&subnet, "vm-x", "req-x"))
        .await
        .expect_err("refused through the library too");
    assert_eq!(lib.reason(), Some(reasons::REQUEST_EXPIRED));
    assert!(lib.outcome_unknown, "{lib:?}");
    assert_eq!(
        ports_of(&client, &subnet).await,
        before,
        "a retry allocated"
    );

    // A raw write with its own id and no seen revision cannot be told from a
    // forgotten retry: refused.
    let err = raw(port_request(&subnet, "vm-y", "req-y"), None)
        .await
        .expect_err("no seen revision");
    assert_eq!(reason_of(&err).as_deref(), Some(reasons::REQUEST_EXPIRED));
    // A new client with a library-chosen id: refused once, resent, applied once.
    let fresh = c.client_all().await;
    assert_eq!(fresh.revision(), 0);
    let made = fresh
        .create_port(port_request(&subnet, "vm-fresh", ""))
        .await
        .expect("a new client's first write");
    assert!(made.port.is_some());
    assert_eq!(ports_of(&client, &subnet).await, before + 1);
    let devices: Vec<String> = common::subnet_ports(&client, &subnet)
        .await
        .into_iter()
        .map(|p| p.device_id)
        .collect();
    assert_eq!(devices.iter().filter(|d| *d == "vm-x").count(), 1);
    assert_eq!(devices.iter().filter(|d| *d == "vm-fresh").count(), 1);

    // A refusal the state machine decided is marked so: the client library takes
    // it as the call's outcome even after a lost attempt.
    let taken = first.get_ref().port.as_ref().unwrap().fixed_ips[0]
        .ip_address
        .clone();
    let mut twice = port_request(&subnet, "vm-z", "req-z");
    twice.fixed_ips = vec![taken];
    let err = raw(twice, Some(client.revision()))
        .await
        .expect_err("the address is taken");
    assert_eq!(reason_of(&err).as_deref(), Some(reasons::IP_IN_USE));
    assert!(err.metadata().get(APPLIED_HEADER).is_some(), "{err:?}");
}
