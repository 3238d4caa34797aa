//! Damaged or foreign data dirs give a clear error at start, never an empty node.

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use prismnet_raft::workload::Workload;
use prismnet_raft::{Bootstrap, OpenError, RaftConfig, RaftError, RaftNode};

use crate::harness::*;

fn copy_dir(from: &Path, to: &Path) {
    let st = Command::new("cp")
        .arg("-a")
        .arg(from)
        .arg(to)
        .status()
        .expect("cp");
    assert!(st.success());
}

async fn start_at(dir: &Path) -> Result<RaftNode, RaftError> {
    let addr = free_addr();
    let cfg: RaftConfig = config(1, dir.to_path_buf(), addr);
    let peers = [(1, cfg.advertise.clone())].into();
    RaftNode::start(cfg, Bootstrap::Peers(peers)).await
}

/// - a single-node cluster writes, snapshots and stops: a good data dir
/// - copies of it with a bad FORMAT, no FORMAT, a damaged snapshot, or a broken
///   RocksDB each fail to start with the matching `OpenError`
/// - the good dir still starts, with its state
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn damaged_data_dirs_are_refused() {
    init_tracing();
    let tmp = tempfile::tempdir().unwrap();
    let good = tmp.path().join("good");
    let node = start_at(&good).await.expect("start");
    let deadline = Instant::now() + WAIT;
    while node.leader_term().is_none() {
        assert!(Instant::now() < deadline, "single node never led");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let mut w = Workload::new("p1", "req");
    let subnet = setup_subnet(&node, &mut w).await;
    ok(node.write(w.create_port(subnet, "p")).await);
    node.trigger_snapshot().await.unwrap();
    while node.metrics().borrow().snapshot.is_none() {
        assert!(Instant::now() < deadline, "no snapshot built");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let digest = node.read_stale(|s| s.digest());
    node.shutdown().await.unwrap();
    drop(node);

    let case = |name: &str| {
        let d = tmp.path().join(name);
        copy_dir(&good, &d);
        d
    };

    let d = case("bad-format");
    std::fs::write(d.join("FORMAT"), "prismnet-raft 7\n").unwrap();
    let e = start_at(&d).await.err().expect("must refuse");
    assert!(
        matches!(e, RaftError::Open(OpenError::UnknownFormat { .. })),
        "{e}"
    );

    let d = case("no-format");
    std::fs::remove_file(d.join("FORMAT")).unwrap();
    let e = start_at(&d).await.err().expect("must refuse");
    assert!(
        matches!(e, RaftError::Open(OpenError::MissingFormat { .. })),
        "{e}"
    );

    let d = case("bad-snapshot");
    let snap = d.join("snapshot/current");
    let mut bytes = std::fs::read(&snap).unwrap();
    let mid = bytes.len() / 2;
    bytes[mid] ^= 0xff;
    std::fs::write(&snap, bytes).unwrap();
    let e = start_at(&d).await.err().expect("must refuse");
    assert!(
        matches!(e, RaftError::Open(OpenError::Snapshot { .. })),
        "{e}"
    );

    let d = case("no-rocksdb");
    std::fs::remove_dir_all(d.join("db")).unwrap();
    let e = start_at(&d).await.err().expect("must refuse");
    assert!(matches!(e, RaftError::Open(OpenError::Rocks { .. })), "{e}");

    let d = case("bad-rocksdb");
    std::fs::write(d.join("db/CURRENT"), "garbage\n").unwrap();
    let e = start_at(&d).await.err().expect("must refuse");
    assert!(matches!(e, RaftError::Open(OpenError::Rocks { .. })), "{e}");
    println!("refusal message example: {e}");

    let node = start_at(&good).await.expect("good dir restarts");
    let deadline = Instant::now() + WAIT;
    while node.leader_term().is_none() {
        assert!(Instant::now() < deadline, "restarted node never led");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let after = node.read_linearizable(|s| s.digest()).await.unwrap();
    assert_eq!(after, digest);
    node.shutdown().await.unwrap();
}
