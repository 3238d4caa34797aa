//! Mutual TLS between real `prismnetd` processes (`--peer-tls-cert/-key/-ca`).
//!
//! - Three nodes whose peer certificates come from one CA form a cluster and
//!   replicate; the raft layer's own tests cover the handshake in-process, this
//!   one the daemon's flags and wiring.
//! - A member whose certificate comes from another CA is shut out: the other
//!   two elect a leader and commit without it, and it applies nothing.
//! - Restarted with the cluster's CA and a certificate it signed, the same
//!   member catches up on its data dir.
//!
//! Certificates come from the `openssl` command. Every peer certificate names
//! `DNS:prismnet-peer` (what nodes check, whatever address they dial) and is
//! good for both server and client authentication.

mod common;

use std::path::Path;
use std::time::{Duration, Instant};

use common::{test_ca, test_cert, Cluster, Options};
use prismnet_api::v1;

/// A CA named `ca` in `dir` and a peer certificate it signed; returns the
/// three `--peer-tls-*` flags for it.
fn peer_pki(dir: &Path, ca: &str) -> Vec<String> {
    test_ca(dir, ca);
    test_cert(
        dir,
        "peer",
        "subjectAltName=DNS:prismnet-peer\nextendedKeyUsage=serverAuth,clientAuth\n",
    );
    let path = |f: &str| -> String { dir.join(f).to_string_lossy().into_owned() };
    vec![
        "--peer-tls-cert".into(),
        path("peer.pem"),
        "--peer-tls-key".into(),
        path("peer.key"),
        "--peer-tls-ca".into(),
        path("ca.pem"),
    ]
}

fn vpc(name: &str, cidr: &str) -> v1::CreateVpcRequest {
    v1::CreateVpcRequest {
        project: "peer-tls".into(),
        name: name.into(),
        cidr_blocks: vec![cidr.into()],
        ..Default::default()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn peers_talk_mutual_tls_and_a_foreign_ca_is_shut_out() {
    let pki = tempfile::tempdir().expect("pki dir");
    let cluster_ca = peer_pki(&pki.path().join("cluster"), "prismnet-cluster-ca");
    let foreign_ca = peer_pki(&pki.path().join("foreign"), "someone-else-ca");

    let mut c = Cluster::new(3, Options::default());
    for id in [1, 2] {
        c.nodes.get_mut(&id).expect("node").args = cluster_ca.clone();
    }
    c.nodes.get_mut(&3).expect("node").args = foreign_ca;
    c.start_all();

    // Nodes 1 and 2 are a quorum of three: they elect and commit without 3.
    let (leader, _) = c.wait_leader(&[1, 2]).await;
    assert_ne!(leader, 3);
    let client = c.client(&[1, 2]).await;
    client
        .create_vpc(vpc("a", "10.1.0.0/16"))
        .await
        .expect("a write committed by the two nodes that trust each other");
    let applied = c.wait_applied_equal(&[1, 2]).await;

    // Node 3 never got an entry: no TLS session with a foreign certificate.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let outsider = c.status(3).await.expect("node 3 answers its own status");
    assert!(
        outsider.applied_index < applied,
        "node 3 applied {} of {applied} without a trusted certificate",
        outsider.applied_index
    );
    assert_ne!(outsider.leader_id, Some(leader), "node 3 must not follow");

    // With the cluster's CA and a certificate from it, node 3 catches up on the
    // same data dir. (Its term grew while it campaigned alone, so it may cause
    // one more election: any leader will do.)
    c.kill(3);
    c.nodes.get_mut(&3).expect("node").args = cluster_ca;
    c.start(3);
    client
        .create_vpc(vpc("b", "10.2.0.0/16"))
        .await
        .expect("a write after node 3 came back");
    let deadline = Instant::now() + Duration::from_secs(60);
    let all = loop {
        let st = c.status(3).await.expect("status of node 3");
        if st.leader_id.is_some() && st.applied_index > applied {
            break c.wait_applied_equal(&[1, 2, 3]).await;
        }
        assert!(
            Instant::now() < deadline,
            "node 3 did not catch up: {st:?}\n{}",
            c.logs(30)
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert!(all > applied);
}
