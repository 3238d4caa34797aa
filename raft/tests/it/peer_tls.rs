//! Mutual TLS on the peer service: certificates made by the `openssl` command, every
//! node's certificate valid for `DNS:prismnet-peer` (peers are dialled by IP).

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use prismnet_raft::workload::Workload;
use prismnet_raft::{PeerTls, RaftNode, Role};

use crate::harness::*;

fn openssl(dir: &Path, args: &[&str]) {
    let ok = Command::new("openssl")
        .args(args)
        .current_dir(dir)
        .stderr(Stdio::null())
        .stdout(Stdio::null())
        .status()
        .expect("openssl")
        .success();
    assert!(ok, "openssl {args:?} failed");
}

/// A CA `<ca>.pem` and, for each name, `<name>.pem`/`<name>.key` signed by it.
fn pki(dir: &Path, ca: &str, names: &[&str]) {
    openssl(
        dir,
        &[
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-keyout",
            &format!("{ca}.key"),
            "-out",
            &format!("{ca}.pem"),
            "-days",
            "2",
            "-subj",
            &format!("/CN={ca}"),
        ],
    );
    let ext = dir.join("peer.ext");
    std::fs::write(
        &ext,
        "subjectAltName=DNS:prismnet-peer\nextendedKeyUsage=serverAuth,clientAuth\n",
    )
    .expect("ext file");
    for name in names {
        openssl(
            dir,
            &[
                "req",
                "-newkey",
                "rsa:2048",
                "-nodes",
                "-keyout",
                &format!("{name}.key"),
                "-out",
                &format!("{name}.csr"),
                "-subj",
                &format!("/CN={name}"),
            ],
        );
        openssl(
            dir,
            &[
                "x509",
                "-req",
                "-in",
                &format!("{name}.csr"),
                "-CA",
                &format!("{ca}.pem"),
                "-CAkey",
                &format!("{ca}.key"),
                "-CAcreateserial",
                "-out",
                &format!("{name}.pem"),
                "-days",
                "2",
                "-extfile",
                "peer.ext",
            ],
        );
    }
}

fn peer_tls(dir: &Path, ca: &str, name: &str) -> PeerTls {
    let read = |f: String| std::fs::read(dir.join(&f)).unwrap_or_else(|e| panic!("{f}: {e}"));
    PeerTls {
        cert_pem: read(format!("{name}.pem")),
        key_pem: read(format!("{name}.key")),
        ca_pem: read(format!("{ca}.pem")),
    }
}

/// - three nodes, each with its own certificate from one CA, elect a leader over TLS
/// - writes through the leader apply on all three with equal digests
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn cluster_over_mutual_tls() {
    let pki_dir = tempfile::tempdir().expect("temp dir");
    pki(pki_dir.path(), "ca", &["node-1", "node-2", "node-3"]);
    let dir = pki_dir.path().to_path_buf();
    let mut c = Cluster::start(3, move |cfg| {
        cfg.peer_tls = Some(peer_tls(&dir, "ca", &format!("node-{}", cfg.id)));
    })
    .await;
    let leader = c.node(c.wait_leader().await);
    let mut w = Workload::new("p1", "req");
    let subnet = setup_subnet(&leader, &mut w).await;
    let ids = write_all(&leader, ports(&mut w, subnet, 0, 20), 8).await;
    assert_eq!(ids.len(), 20);
    c.assert_converged().await;
    for node in c.running() {
        assert_eq!(node.read_stale(|s| s.port_count()), 20);
    }
    c.stop_all().await;
}

/// - nodes 1 and 2 share a CA; node 3's certificate (and the CA it trusts) is from
///   another CA
/// - 1 and 2 still elect a leader between them and commit writes (a majority of 3)
/// - node 3 applies none of them: neither side accepts the other's certificate
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn node_with_foreign_ca_is_shut_out() {
    let pki_dir = tempfile::tempdir().expect("temp dir");
    pki(pki_dir.path(), "ca", &["node-1", "node-2"]);
    pki(pki_dir.path(), "other-ca", &["node-3"]);
    let dir = pki_dir.path().to_path_buf();
    let mut c = Cluster::start(3, move |cfg| {
        let ca = if cfg.id == 3 { "other-ca" } else { "ca" };
        cfg.peer_tls = Some(peer_tls(&dir, ca, &format!("node-{}", cfg.id)));
    })
    .await;
    let (n1, n2, n3) = (c.node(1), c.node(2), c.node(3));

    // Nodes 1 and 2 agree on a leader among themselves.
    let deadline = Instant::now() + WAIT;
    let leader = loop {
        let (s1, s2) = (n1.status(), n2.status());
        if let Some(l) = s1.leader_id.filter(|l| s2.leader_id == Some(*l)) {
            let st = if l == 1 { &s1 } else { &s2 };
            if l != 3 && st.role == Role::Leader {
                break c.node(l);
            }
        }
        assert!(
            Instant::now() < deadline,
            "no leader among 1 and 2: {s1:#?} {s2:#?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    let mut w = Workload::new("p1", "req");
    let subnet = setup_subnet(&leader, &mut w).await;
    write_all(&leader, ports(&mut w, subnet, 0, 10), 4).await;
    let index = leader.status().applied;
    for n in [&n1, &n2] {
        wait_node_applied(n, index).await;
    }
    let digest = |n: &RaftNode| n.read_stale(|s| (s.digest(), s.port_count()));
    assert_eq!(digest(&n1), digest(&n2));
    assert_eq!(digest(&n1).1, 10);

    // Node 3 gets nothing, however long it waits.
    tokio::time::sleep(Duration::from_secs(3)).await;
    let s3 = n3.status();
    assert!(
        s3.applied < index,
        "node 3 applied {} of {index}",
        s3.applied
    );
    assert_eq!(n3.read_stale(|s| s.port_count()), 0);
    assert_ne!(s3.leader_id, Some(leader.id()));
    drop((n1, n2, n3, leader));
    c.stop_all().await;
}
