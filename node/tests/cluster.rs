//! A cluster of real `prismnetd` processes: formation without an init step,
//! ClusterStatus, leader redirects, reflection and health, membership changes.

mod common;

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use common::{rid, Cluster, Options, WAIT};
use prismnet_api::errors::{leader_hint, reason_of, reasons};
use prismnet_api::metadata::{LEADER_ADDR_HEADER, LEADER_ID_HEADER};
use prismnet_api::v1;
use prismnet_api::v1::vpc_service_client::VpcServiceClient;
use prismnet_api::PrismClient;
use tonic::Code;
use tonic_reflection::pb::v1::server_reflection_client::ServerReflectionClient;
use tonic_reflection::pb::v1::server_reflection_request::MessageRequest;
use tonic_reflection::pb::v1::server_reflection_response::MessageResponse;
use tonic_reflection::pb::v1::ServerReflectionRequest;

const ROLE_LEADER: i32 = v1::NodeRole::Leader as i32;
const ROLE_FOLLOWER: i32 = v1::NodeRole::Follower as i32;
const ROLE_LEARNER: i32 = v1::NodeRole::Learner as i32;

fn vpc(project: &str, name: &str, cidr: &str) -> v1::CreateVpcRequest {
    v1::CreateVpcRequest {
        project: project.into(),
        name: name.into(),
        cidr_blocks: vec![cidr.into()],
        ..Default::default()
    }
}

/// The voters in a ClusterStatus (every member but the learners).
fn voters(s: &v1::ClusterStatusResponse) -> BTreeSet<u64> {
    s.nodes
        .iter()
        .filter(|n| n.role != ROLE_LEARNER)
        .map(|n| n.id)
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fresh_nodes_form_a_cluster_in_any_start_order_and_redirect_writes() {
    // - three fresh nodes, each given the same peer list and no init step, start in a
    //   random order (seed printed), a random 0-1.5 s apart
    // - every node's ClusterStatus names the same leader and term and lists the three
    //   members with their raft and API addresses and roles, and the time since it
    //   last heard from each one it hears from
    // - a follower answers ClusterStatus itself (its own node_id), not with a redirect
    // - a write sent to a follower through a raw tonic client: UNAVAILABLE not_leader
    //   with x-prismnet-leader-id / x-prismnet-leader-addr naming the leader's API
    // - the same write through the client library configured with only that follower
    //   succeeds (the redirect is followed) and is readable from the leader
    // - reflection on every node lists the prismnet.v1 services and
    //   grpc.health.v1.Health; health answers SERVING on every node
    let mut c = Cluster::new(3, Options::default());
    let seed = fastrand::u64(..);
    eprintln!("start order seed: {seed}");
    let mut rng = fastrand::Rng::with_seed(seed);
    let mut order = vec![1, 2, 3];
    rng.shuffle(&mut order);
    for id in order {
        c.start(id);
        tokio::time::sleep(Duration::from_millis(rng.u64(0..1500))).await;
    }
    let (leader, term) = c.wait_leader(&[1, 2, 3]).await;
    assert!(term >= 1);

    for id in 1..=3 {
        let s = c.status(id).await.expect("cluster status");
        assert_eq!(s.node_id, id, "node {id} answers for itself");
        assert_eq!(s.leader_id, Some(leader));
        assert_eq!(s.term, term);
        let members: Vec<(u64, String, String)> = s
            .nodes
            .iter()
            .map(|n| (n.id, n.raft_addr.clone(), n.api_addr.clone()))
            .collect();
        let expected: Vec<(u64, String, String)> = (1..=3)
            .map(|i| {
                let n = c.node(i);
                (i, n.raft_addr.to_string(), n.api_addr.to_string())
            })
            .collect();
        assert_eq!(members, expected, "members as node {id} sees them");
        for n in &s.nodes {
            let want = if n.id == leader {
                ROLE_LEADER
            } else {
                ROLE_FOLLOWER
            };
            assert_eq!(n.role, want, "role of {} as node {id} sees it", n.id);
            // Last contact: 0 for itself; a leader hears from every member and
            // a follower from its leader within heartbeats (50 ms apart), so
            // well under a second. (A follower heard from the other one only
            // during an election, if at all: not checked.)
            let contact = n.health.as_ref().and_then(|h| h.last_contact_ms_ago);
            if n.id == id {
                assert_eq!(contact, Some(0), "node {id} about itself");
            } else if id == leader || n.id == leader {
                let ms = contact.unwrap_or_else(|| panic!("node {id} about {}: no contact", n.id));
                assert!(ms < 1_000, "node {id} last heard from {} {ms} ms ago", n.id);
            }
        }
    }

    // A write to a follower over raw tonic: refused with the redirect.
    let follower = (1..=3).find(|i| *i != leader).expect("a follower");
    let mut raw = VpcServiceClient::new(c.channel(follower));
    let err = raw
        .create_vpc(vpc("redirects", "raw", "10.1.0.0/16"))
        .await
        .expect_err("a follower must not accept a write");
    assert_eq!(err.code(), Code::Unavailable, "{err:?}");
    assert_eq!(reason_of(&err).as_deref(), Some(reasons::NOT_LEADER));
    let leader_api = c.node(leader).api_addr.to_string();
    assert_eq!(
        err.metadata()
            .get(LEADER_ID_HEADER)
            .and_then(|v| v.to_str().ok()),
        Some(leader.to_string().as_str())
    );
    assert_eq!(
        err.metadata()
            .get(LEADER_ADDR_HEADER)
            .and_then(|v| v.to_str().ok()),
        Some(leader_api.as_str())
    );
    assert_eq!(leader_hint(&err), (Some(leader), Some(leader_api.clone())));
    // A linearizable read is redirected the same way.
    let err = raw
        .list_vpcs(v1::ListVpcsRequest::default())
        .await
        .expect_err("a follower redirects linearizable reads");
    assert_eq!(reason_of(&err).as_deref(), Some(reasons::NOT_LEADER));

    // Through the library, given only the follower: the redirect is followed.
    let client = c.client(&[follower]).await;
    let created = client
        .create_vpc(vpc("redirects", "via-client", "10.2.0.0/16"))
        .await
        .expect("write through a follower-only client");
    assert_eq!(
        client.cached_leader().as_deref(),
        Some(c.endpoint(leader).as_str()),
        "the client learnt the leader from the redirect"
    );
    let on_leader = c
        .client(&[leader])
        .await
        .get_vpc(v1::GetVpcRequest {
            id: created.id.clone(),
        })
        .await
        .expect("read on the leader");
    assert_eq!(on_leader, created);

    // Reflection and health on every node.
    for id in 1..=3 {
        let services = reflected_services(&c, id).await;
        for s in [
            "prismnet.v1.ProjectService",
            "prismnet.v1.VpcService",
            "prismnet.v1.SubnetService",
            "prismnet.v1.PortService",
            "prismnet.v1.SecurityGroupService",
            "prismnet.v1.ExternalNetworkService",
            "prismnet.v1.FloatingIpService",
            "prismnet.v1.AdminService",
            "prismnet.v1.OvnService",
            "grpc.health.v1.Health",
        ] {
            assert!(
                services.contains(s),
                "node {id} reflects {s}; it lists {services:?}"
            );
        }
        let mut health = tonic_health::pb::health_client::HealthClient::new(c.channel(id));
        let answer = health
            .check(tonic_health::pb::HealthCheckRequest {
                service: String::new(),
            })
            .await
            .expect("health check")
            .into_inner();
        assert_eq!(
            answer.status,
            tonic_health::pb::health_check_response::ServingStatus::Serving as i32,
            "node {id} is serving"
        );
    }
}

/// The service names node `id` lists through gRPC reflection (v1).
async fn reflected_services(c: &Cluster, id: u64) -> BTreeSet<String> {
    let mut client = ServerReflectionClient::new(c.channel(id));
    let request = ServerReflectionRequest {
        host: String::new(),
        message_request: Some(MessageRequest::ListServices(String::new())),
    };
    let mut answers = client
        .server_reflection_info(tokio_stream::iter([request]))
        .await
        .expect("reflection stream")
        .into_inner();
    let answer = answers
        .message()
        .await
        .expect("reflection answer")
        .expect("one answer");
    match answer.message_response {
        Some(MessageResponse::ListServicesResponse(list)) => {
            list.service.into_iter().map(|s| s.name).collect()
        }
        other => panic!("unexpected reflection answer from node {id}: {other:?}"),
    }
}

/// Polls until `f` holds on every node in `ids`' ClusterStatus.
async fn wait_status(
    c: &Cluster,
    ids: &[u64],
    what: &str,
    f: impl Fn(&v1::ClusterStatusResponse) -> bool,
) {
    let deadline = Instant::now() + WAIT;
    loop {
        let mut all = true;
        let mut seen = Vec::new();
        for id in ids {
            let s = c.status(*id).await;
            all &= s.as_ref().is_ok_and(&f);
            seen.push(s.map(|s| (s.leader_id, voters(&s))));
        }
        if all {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "timed out waiting until {what}: {seen:?}"
        );
        tokio::time::sleep(common::POLL).await;
    }
}

/// Reads a VPC from one node's own state (stale read), polling until it is there.
async fn wait_vpc_on(c: &Cluster, id: u64, vpc_id: &str) -> v1::Vpc {
    let client: PrismClient = c.client(&[id]).await.with_stale_reads(true);
    let deadline = Instant::now() + WAIT;
    loop {
        match client
            .get_vpc(v1::GetVpcRequest { id: vpc_id.into() })
            .await
        {
            Ok(v) => return v,
            Err(e) if e.is(reasons::NOT_FOUND) && Instant::now() < deadline => {
                tokio::time::sleep(common::POLL).await
            }
            Err(e) => panic!("vpc {vpc_id} never reached node {id}: {e}"),
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn membership_add_remove_and_replace_a_dead_member() {
    // - a 3-node cluster with some data; node 4 starts with --join: it knows no
    //   leader and no members until it is added
    // - AddNode(4) (learner, caught up, then voter): every node shows 4 voters and
    //   node 4 serves the data written before it joined
    // - RemoveNode(a follower): every remaining node shows 3 voters; the removed node
    //   then exits cleanly on SIGTERM
    // - another follower dies (SIGKILL) and is replaced: RemoveNode(it), then a fresh
    //   node 5 joins with AddNode; the cluster has 3 voters again, writes work, and
    //   node 5 has everything
    let mut c = Cluster::new(3, Options::default());
    c.start_all();
    let (leader, _) = c.wait_leader(&[1, 2, 3]).await;
    let client = c.client(&[1, 2, 3]).await;
    let before = client
        .create_vpc(vpc("members", "before", "10.10.0.0/16"))
        .await
        .expect("write before the change");

    c.add_joiner(4);
    c.start(4);
    let s4 = c.status(4).await.expect("joiner status");
    assert_eq!(
        s4.leader_id, None,
        "a joiner knows no leader before it is added"
    );
    assert!(s4.nodes.is_empty(), "a joiner has no membership: {s4:?}");

    let n4 = c.node(4);
    let added = client
        .add_node(v1::AddNodeRequest {
            request_id: rid(),
            id: 4,
            raft_addr: n4.raft_addr.to_string(),
            api_addr: n4.api_addr.to_string(),
        })
        .await
        .expect("AddNode(4)");
    assert_eq!(voters(&added), BTreeSet::from([1, 2, 3, 4]), "{added:?}");
    wait_status(&c, &[1, 2, 3, 4], "4 voters everywhere", |s| {
        s.leader_id == Some(leader) && voters(s) == BTreeSet::from([1, 2, 3, 4])
    })
    .await;
    assert_eq!(wait_vpc_on(&c, 4, &before.id).await, before);

    // Remove one follower (not the leader), then stop it.
    let removed = (1..=3).find(|i| *i != leader).expect("a follower");
    let after_remove = client
        .remove_node(v1::RemoveNodeRequest {
            request_id: rid(),
            id: removed,
        })
        .await
        .expect("RemoveNode");
    assert!(
        !voters(&after_remove).contains(&removed),
        "{after_remove:?}"
    );
    let remaining: Vec<u64> = [1, 2, 3, 4].into_iter().filter(|i| *i != removed).collect();
    let want: BTreeSet<u64> = remaining.iter().copied().collect();
    wait_status(&c, &remaining, "3 voters after RemoveNode", |s| {
        voters(s) == want
    })
    .await;
    let exit = c.terminate(removed);
    assert!(exit.success(), "removed node exits cleanly: {exit}");

    // A member dies and is replaced by a fresh node.
    let (leader, _) = c.wait_leader(&remaining).await;
    let dead = *remaining
        .iter()
        .find(|i| **i != leader)
        .expect("a follower");
    c.kill(dead);
    let alive: Vec<u64> = remaining.iter().copied().filter(|i| *i != dead).collect();
    let client = c.client(&alive).await;
    client
        .remove_node(v1::RemoveNodeRequest {
            request_id: rid(),
            id: dead,
        })
        .await
        .expect("RemoveNode of the dead member");
    c.add_joiner(5);
    c.start(5);
    let n5 = c.node(5);
    client
        .add_node(v1::AddNodeRequest {
            request_id: rid(),
            id: 5,
            raft_addr: n5.raft_addr.to_string(),
            api_addr: n5.api_addr.to_string(),
        })
        .await
        .expect("AddNode(5)");
    let mut members = alive.clone();
    members.push(5);
    let want: BTreeSet<u64> = members.iter().copied().collect();
    wait_status(&c, &members, "the replacement is a voter", |s| {
        s.leader_id.is_some() && voters(s) == want
    })
    .await;
    let after = c
        .client(&members)
        .await
        .create_vpc(vpc("members", "after", "10.11.0.0/16"))
        .await
        .expect("write after the replacement");
    assert_eq!(wait_vpc_on(&c, 5, &before.id).await, before);
    assert_eq!(wait_vpc_on(&c, 5, &after.id).await, after);
}
