//! A full disk, with real `prismnetd` processes whose data dirs are small tmpfs
//! mounts filled with a ballast file. Needs root (mount(8)); a test that cannot
//! mount fails, it does not skip.
//!
//! Nodes listen on 127.0.0.61-63, ports 33000-34999 (apart from the other test
//! binaries). The tests of this file run one at a time: each starts three nodes on
//! a two-core machine.

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::{rid, subnet_ports, Cluster, Net, Options, PortFacts, WAIT};
use prismnet_api::errors::reasons;
use prismnet_api::v1;
use prismnet_api::{ClientError, PrismClient};
use tonic::Code;

const NET: Net = Net {
    ip_base: 60,
    port_first: 33_000,
    port_span: 2_000,
};
const TMPFS_MB: u64 = 64;
/// `--min-free-mb` of the guarded nodes on tmpfs.
const MIN_FREE_MB: u64 = 24;
/// Free space the ballast leaves on a "low" disk: under the minimum, well over
/// what RocksDB needs for the small writes that still happen (votes, commits).
const LOW_FREE_MB: u64 = 12;
const MIB: u64 = 1 << 20;
/// "Within a few seconds": how long writes may take to resume once space returns.
const RESUME_WITHIN: Duration = Duration::from_secs(10);

/// One test at a time (see the module doc). Async: held across awaits.
static SERIAL: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// A tmpfs mounted on a directory for the life of the value.
struct Tmpfs {
    dir: PathBuf,
}

impl Tmpfs {
    fn mount(dir: &Path, size_mb: u64) -> Tmpfs {
        std::fs::create_dir_all(dir).expect("mount point");
        let out = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size_mb}m"), "tmpfs"])
            .arg(dir)
            .output()
            .expect("running mount(8)");
        assert!(
            out.status.success(),
            "cannot mount a tmpfs on {} (these tests need root): {}",
            dir.display(),
            String::from_utf8_lossy(&out.stderr)
        );
        Tmpfs {
            dir: dir.to_path_buf(),
        }
    }

    fn free(&self) -> u64 {
        prismnet_raft::disk::available_bytes(&self.dir).expect("statvfs")
    }

    fn ballast(&self) -> PathBuf {
        self.dir.join("ballast.fill")
    }

    /// Grows the ballast until at most `free` bytes are left.
    fn fill_until_free(&self, free: u64) {
        let mut f = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.ballast())
            .expect("ballast file");
        let chunk = vec![0x5a_u8; MIB as usize];
        loop {
            let now = self.free();
            if now <= free {
                return;
            }
            let n = (now - free).min(MIB) as usize;
            f.write_all(&chunk[..n]).expect("writing ballast");
            f.flush().expect("flushing ballast");
        }
    }

    /// Grows the ballast until the filesystem refuses more (ENOSPC).
    fn fill_completely(&self) {
        let mut f = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.ballast())
            .expect("ballast file");
        let chunk = vec![0x5a_u8; 64 * 1024];
        loop {
            match f.write(&chunk) {
                Ok(0) => return,
                Ok(_) => {}
                Err(e) if e.raw_os_error() == Some(libc::ENOSPC) => return,
                Err(e) => panic!("writing ballast: {e}"),
            }
        }
    }

    fn remove_ballast(&self) {
        std::fs::remove_file(self.ballast()).expect("removing ballast");
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let ok = Command::new("umount")
            .arg(&self.dir)
            .status()
            .is_ok_and(|s| s.success());
        if !ok {
            // Still busy (a node not yet killed): detach now, freed when unused.
            let lazy = Command::new("umount").arg("-l").arg(&self.dir).status();
            if !lazy.is_ok_and(|s| s.success()) {
                eprintln!("warning: could not unmount {}", self.dir.display());
            }
        }
    }
}

/// A cluster some of whose data dirs are on tmpfs. Dropping it kills the nodes,
/// then unmounts, then removes the directories.
struct Setup {
    c: Cluster,
    mounts: BTreeMap<u64, Tmpfs>,
}

impl Setup {
    /// Three nodes; each of `on_tmpfs` gets a tmpfs data dir and `--min-free-mb
    /// min_free_mb`; the others keep the default minimum on the normal disk.
    fn new(on_tmpfs: &[u64], min_free_mb: u64) -> Setup {
        let mut c = Cluster::new(
            3,
            Options {
                net: Some(NET),
                ..Options::default()
            },
        );
        let mut mounts = BTreeMap::new();
        for id in on_tmpfs {
            let node = c.nodes.get_mut(id).expect("node");
            node.args = vec!["--min-free-mb".into(), min_free_mb.to_string()];
            mounts.insert(*id, Tmpfs::mount(&node.data_dir(), TMPFS_MB));
        }
        Setup { c, mounts }
    }

    fn disk(&self, id: u64) -> &Tmpfs {
        &self.mounts[&id]
    }
}

impl Drop for Setup {
    fn drop(&mut self) {
        for id in self.c.running() {
            self.c.kill(id);
        }
        self.mounts.clear();
    }
}

/// What is compared between nodes and before/after refused writes.
/// Every port of a subnet, sorted (to compare nodes' answers).
async fn list_ports(client: &PrismClient, subnet_id: &str) -> Vec<PortFacts> {
    let mut ports = subnet_ports(client, subnet_id).await;
    ports.sort();
    ports
}

/// Node `id`'s own applied state (a stale read of that node alone).
async fn own_ports(c: &Cluster, id: u64, subnet_id: &str) -> Vec<PortFacts> {
    let own = c.client(&[id]).await.with_stale_reads(true);
    list_ports(&own, subnet_id).await
}

async fn create_port(
    client: &PrismClient,
    subnet_id: &str,
    device: &str,
    request_id: &str,
) -> Result<v1::Port, ClientError> {
    client
        .create_port(v1::CreatePortRequest {
            request_id: request_id.into(),
            subnet_id: subnet_id.into(),
            device_id: device.into(),
            ..Default::default()
        })
        .await
        .map(|r| r.port.expect("port in the answer"))
}

/// A VPC and a /20 subnet; returns the subnet id.
async fn subnet(client: &PrismClient) -> String {
    let vpc = client
        .create_vpc(v1::CreateVpcRequest {
            project: "disk".into(),
            name: "disk".into(),
            cidr_blocks: vec!["10.80.0.0/16".into()],
            ..Default::default()
        })
        .await
        .expect("create vpc");
    client
        .create_subnet(v1::CreateSubnetRequest {
            vpc_id: vpc.id,
            name: "disk".into(),
            ipv4_cidr: "10.80.0.0/20".into(),
            ..Default::default()
        })
        .await
        .expect("create subnet")
        .id
}

/// Creates `n` ports `prefix-<i>`; every one must succeed. Returns them by device.
async fn create_ok(
    client: &PrismClient,
    subnet_id: &str,
    prefix: &str,
    n: usize,
) -> BTreeMap<String, PortFacts> {
    let mut out = BTreeMap::new();
    for i in 0..n {
        let device = format!("{prefix}-{i}");
        let port = create_port(client, subnet_id, &device, &rid())
            .await
            .unwrap_or_else(|e| panic!("create {device}: {e}"));
        out.insert(device, PortFacts::from(&port));
    }
    out
}

/// The disk state `observer` reports for member `id`.
async fn disk_seen(c: &Cluster, observer: u64, id: u64) -> Option<v1::DiskHealth> {
    let st = c.status(observer).await.ok()?;
    st.nodes
        .into_iter()
        .find(|n| n.id == id)
        .and_then(|n| n.health)
        .and_then(|h| h.disk)
}

async fn wait_disk(c: &Cluster, observer: u64, id: u64, low: bool) {
    let deadline = Instant::now() + WAIT;
    loop {
        let seen = disk_seen(c, observer, id).await;
        if seen.as_ref().is_some_and(|d| d.low == low) {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "node {observer} never reported node {id} with low={low}; last: {seen:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Asserts a RESOURCE_EXHAUSTED `disk_full` refusal naming exactly `nodes`.
fn assert_disk_full(r: Result<v1::Port, ClientError>, nodes: &[u64]) {
    let e = match r {
        Ok(p) => panic!("expected disk_full, the write succeeded: {p:?}"),
        Err(e) => e,
    };
    assert_eq!(e.code(), Code::ResourceExhausted, "{e}");
    assert!(e.is(reasons::DISK_FULL), "{e}");
    assert!(
        !e.outcome_unknown,
        "a refusal before proposing is definite: {e}"
    );
    let named: Vec<String> = nodes.iter().map(u64::to_string).collect();
    assert_eq!(
        e.info.get("nodes").map(String::as_str),
        Some(named.join(",").as_str()),
        "{e}"
    );
    for id in nodes {
        assert!(e.message.contains(&format!("node {id} has ")), "{e}");
    }
    assert!(
        e.message
            .contains(&format!("free, minimum {}.0 MiB", MIN_FREE_MB)),
        "{e}"
    );
}

/// Retries one write (same request id: a refusal proposed nothing) until it
/// succeeds; fails the test after [`RESUME_WITHIN`]. Returns the time it took.
async fn write_resumes(
    client: &PrismClient,
    subnet_id: &str,
    device: &str,
) -> (Duration, PortFacts) {
    let started = Instant::now();
    let request_id = rid();
    loop {
        match create_port(client, subnet_id, device, &request_id).await {
            Ok(p) => return (started.elapsed(), PortFacts::from(&p)),
            Err(e) if e.is(reasons::DISK_FULL) => {}
            Err(e) => panic!("unexpected error while waiting for writes to resume: {e}"),
        }
        assert!(
            started.elapsed() < RESUME_WITHIN,
            "writes did not resume within {RESUME_WITHIN:?} of freeing space"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Every node has applied the same index and holds exactly the `acked` ports.
async fn assert_converged(c: &Cluster, subnet_id: &str, acked: &BTreeMap<String, PortFacts>) {
    let applied = c.wait_applied_equal(&[1, 2, 3]).await;
    let want: Vec<PortFacts> = {
        let mut v: Vec<PortFacts> = acked.values().cloned().collect();
        v.sort();
        v
    };
    for id in 1..=3 {
        assert_eq!(
            own_ports(c, id, subnet_id).await,
            want,
            "node {id}'s state at applied index {applied}"
        );
    }
}

fn log_of(c: &Cluster, id: u64) -> String {
    std::fs::read_to_string(c.node(id).log_path()).unwrap_or_default()
}

/// One node's data dir on a small tmpfs (node 3, a follower, `--min-free-mb 24`):
/// - filled under its minimum, node 3 reports itself low (and the leader reports
///   it low in its status, with the "disk low: ... free, minimum ..." error);
/// - writes keep succeeding: the leader and the other follower are a quorum;
/// - node 3 stores none of them, yet stays up, a follower of the same leader,
///   with no fatal error;
/// - ballast removed: node 3 catches up by itself (no restart); every node then
///   holds exactly the acknowledged ports at the same applied index.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_low_follower_does_not_stop_writes() {
    let _serial = SERIAL.lock().await;
    let mut s = Setup::new(&[3], MIN_FREE_MB);
    s.c.start(1);
    s.c.start(2);
    s.c.wait_leader(&[1, 2]).await;
    // Node 3 starts last, with an empty log: it cannot win an election.
    s.c.start(3);
    let (leader, term) = s.c.wait_leader(&[1, 2, 3]).await;
    assert_ne!(leader, 3);
    let client =
        s.c.client_all()
            .await
            .with_deadline(Duration::from_secs(30));
    let subnet_id = subnet(&client).await;
    let mut acked = create_ok(&client, &subnet_id, "before", 10).await;
    let held = s.c.wait_applied_equal(&[1, 2, 3]).await;

    s.disk(3).fill_until_free(LOW_FREE_MB * MIB);
    wait_disk(&s.c, 3, 3, true).await;
    wait_disk(&s.c, leader, 3, true).await;

    acked.extend(create_ok(&client, &subnet_id, "while-low", 20).await);
    let lead = s.c.status(leader).await.expect("leader status");
    let three = s.c.status(3).await.expect("status of node 3");
    assert!(s.c.is_running(3));
    assert_eq!(three.leader_id, Some(leader));
    assert_eq!(three.term, term, "the low follower campaigned");
    assert!(
        three.applied_index == held && lead.applied_index > held,
        "node 3 applied {} (held {held}), leader {}",
        three.applied_index,
        lead.applied_index
    );
    let health = |st: &v1::ClusterStatusResponse| {
        st.nodes
            .iter()
            .find(|n| n.id == 3)
            .and_then(|n| n.health.clone())
            .expect("health of node 3")
    };
    for (who, st) in [("node 3", &three), ("the leader", &lead)] {
        let h = health(st);
        assert!(
            h.error.starts_with("disk low: ")
                && h.error.contains(&format!("minimum {MIN_FREE_MB}.0 MiB")),
            "{who} reports node 3 as {h:?}"
        );
    }
    assert!(log_of(&s.c, 3).contains("disk low: refusing new writes"));

    s.disk(3).remove_ballast();
    wait_disk(&s.c, leader, 3, false).await;
    assert_converged(&s.c, &subnet_id, &acked).await;
    assert_eq!(s.c.status(3).await.expect("status").term, term);
}

/// Every node's data dir on a small tmpfs, all `--min-free-mb 24`:
/// - the leader low: writes answer RESOURCE_EXHAUSTED `disk_full` naming the
///   leader, with its free space and minimum, definite (not outcome-unknown);
///   the state (ports, applied index) is unchanged by them;
/// - its ballast removed: the same write succeeds within seconds, no restart;
/// - one follower low: writes succeed;
/// - both followers low: `disk_full` naming both; state unchanged;
/// - ballasts removed: writes resume within seconds; every node converges on
///   exactly the acknowledged ports.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn low_leader_or_majority_refuses_writes_until_space_returns() {
    let _serial = SERIAL.lock().await;
    let mut s = Setup::new(&[1, 2, 3], MIN_FREE_MB);
    s.c.start_all();
    let (leader, _) = s.c.wait_leader(&[1, 2, 3]).await;
    let followers: Vec<u64> = (1..=3).filter(|id| *id != leader).collect();
    let client =
        s.c.client_all()
            .await
            .with_deadline(Duration::from_secs(30));
    let subnet_id = subnet(&client).await;
    let mut acked = create_ok(&client, &subnet_id, "before", 10).await;

    // The leader low.
    s.disk(leader).fill_until_free(LOW_FREE_MB * MIB);
    wait_disk(&s.c, leader, leader, true).await;
    let ports_before = list_ports(&client, &subnet_id).await;
    let applied_before = s.c.status(leader).await.expect("status").applied_index;
    for i in 0..5 {
        let r = create_port(&client, &subnet_id, &format!("refused-a-{i}"), &rid()).await;
        assert_disk_full(r, &[leader]);
    }
    assert_eq!(list_ports(&client, &subnet_id).await, ports_before);
    assert_eq!(
        s.c.status(leader).await.expect("status").applied_index,
        applied_before,
        "refused writes changed the log"
    );

    s.disk(leader).remove_ballast();
    let (took, port) = write_resumes(&client, &subnet_id, "after-leader").await;
    eprintln!("writes resumed {took:?} after the leader's ballast was removed");
    acked.insert("after-leader".into(), port);

    // One follower low: a quorum still has space.
    s.disk(followers[0]).fill_until_free(LOW_FREE_MB * MIB);
    wait_disk(&s.c, leader, followers[0], true).await;
    acked.extend(create_ok(&client, &subnet_id, "one-low", 5).await);

    // Both followers low: no quorum can append.
    s.disk(followers[1]).fill_until_free(LOW_FREE_MB * MIB);
    wait_disk(&s.c, leader, followers[1], true).await;
    let ports_before = list_ports(&client, &subnet_id).await;
    let applied_before = s.c.status(leader).await.expect("status").applied_index;
    for i in 0..5 {
        let r = create_port(&client, &subnet_id, &format!("refused-b-{i}"), &rid()).await;
        assert_disk_full(r, &followers);
    }
    assert_eq!(list_ports(&client, &subnet_id).await, ports_before);
    assert_eq!(
        s.c.status(leader).await.expect("status").applied_index,
        applied_before,
        "refused writes changed the log"
    );

    for f in &followers {
        s.disk(*f).remove_ballast();
    }
    let (took, port) = write_resumes(&client, &subnet_id, "after-followers").await;
    eprintln!("writes resumed {took:?} after the followers' ballasts were removed");
    acked.insert("after-followers".into(), port);

    assert_converged(&s.c, &subnet_id, &acked).await;
    let devices: BTreeSet<String> = list_ports(&client, &subnet_id)
        .await
        .into_iter()
        .map(|p| p.device_id)
        .collect();
    assert!(
        devices.iter().all(|d| !d.starts_with("refused-")),
        "a refused write left a port: {devices:?}"
    );
}

/// The hard case: node 3 (a follower) runs without the guard (`--min-free-mb 0`)
/// and its tmpfs is filled completely while it receives writes:
/// - RocksDB fails with ENOSPC, Raft stops, and the process exits non-zero with
///   one clear line ("raft stopped: ...; exiting so the service manager restarts
///   this node") instead of running on as a zombie;
/// - writes go on through the other two meanwhile;
/// - restarted on the still-full disk, it refuses to start with an error naming
///   its data dir and "no space left on device" (it never comes up empty);
/// - space freed and restarted on the same data dir, it rejoins and catches up:
///   every node holds the same ports at the same applied index, every
///   acknowledged write among them, and no call's port twice.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn full_disk_without_guard_exits_then_rejoins() {
    let _serial = SERIAL.lock().await;
    let mut s = Setup::new(&[3], 0);
    s.c.start(1);
    s.c.start(2);
    let (leader, _) = s.c.wait_leader(&[1, 2]).await;
    s.c.start(3);
    s.c.wait_leader(&[1, 2, 3]).await;
    assert_ne!(leader, 3);
    let client =
        s.c.client(&[1, 2])
            .await
            .with_deadline(Duration::from_secs(30));
    let subnet_id = subnet(&client).await;
    let mut acked = create_ok(&client, &subnet_id, "before", 10).await;
    s.c.wait_applied_equal(&[1, 2, 3]).await;

    // A steady stream of writes while node 3's disk fills up.
    let stop = Arc::new(AtomicBool::new(false));
    let writer = {
        let (client, subnet_id, stop) = (client.clone(), subnet_id.clone(), stop.clone());
        tokio::spawn(async move {
            let mut acked = BTreeMap::new();
            let mut failed = Vec::new();
            let mut i = 0;
            while !stop.load(Ordering::SeqCst) {
                let device = format!("during-{i}");
                match create_port(&client, &subnet_id, &device, &rid()).await {
                    Ok(p) => {
                        acked.insert(device, PortFacts::from(&p));
                    }
                    Err(e) => failed.push((device, e)),
                }
                i += 1;
            }
            (acked, failed)
        })
    };
    tokio::time::sleep(Duration::from_millis(300)).await;
    s.disk(3).fill_completely();
    let status =
        s.c.wait_exit(3, WAIT)
            .expect("node 3 exits once its disk is full");
    assert!(!status.success(), "node 3 exited with {status}");
    let log = log_of(&s.c, 3);
    assert!(
        log.contains("raft stopped: ")
            && log.contains("exiting so the service manager restarts this node"),
        "node 3's log lacks the exit line:\n{log}"
    );
    assert!(
        log.to_lowercase().contains("no space left on device"),
        "node 3's log does not name the cause"
    );
    // Writes go on without node 3 for a moment, then stop.
    tokio::time::sleep(Duration::from_millis(500)).await;
    stop.store(true, Ordering::SeqCst);
    let (during, failed) = writer.await.expect("writer task");
    eprintln!(
        "{} writes acknowledged while node 3's disk filled, {} failed: {:?}",
        during.len(),
        failed.len(),
        failed.iter().take(3).collect::<Vec<_>>()
    );
    assert!(!during.is_empty());
    acked.extend(during);

    // Restarted on the disk still full (the exit released a little, e.g. RocksDB's
    // preallocated space; take it too): a clear refusal, not an empty node.
    s.disk(3).fill_completely();
    let log_len = log_of(&s.c, 3).len();
    s.c.launch(3);
    let status =
        s.c.wait_exit(3, WAIT)
            .expect("node 3 refuses to start on a full disk");
    assert!(!status.success(), "{status}");
    let restart_log = log_of(&s.c, 3)[log_len..].to_string();
    let data_dir = s.c.node(3).data_dir();
    assert!(
        restart_log.contains("no space left on device")
            && restart_log.contains(&data_dir.display().to_string()),
        "the refusal names the data dir and the cause:\n{restart_log}"
    );

    // Space back: it rejoins from its own data dir and catches up.
    s.disk(3).remove_ballast();
    s.c.start(3);
    s.c.wait_leader(&[1, 2, 3]).await;
    let stored = list_ports(&client, &subnet_id).await;
    for (device, want) in &acked {
        let got = stored.iter().find(|p| &p.device_id == device);
        assert_eq!(got, Some(want), "acknowledged port of {device}");
    }
    let mut devices = BTreeSet::new();
    for p in &stored {
        assert!(devices.insert(&p.device_id), "{} twice", p.device_id);
    }
    // Failed calls (outcome unknown) may have left their port; compare the nodes
    // on what is stored.
    let all: BTreeMap<String, PortFacts> = stored
        .iter()
        .map(|p| (p.device_id.clone(), p.clone()))
        .collect();
    assert_converged(&s.c, &subnet_id, &all).await;
    assert!(s
        .c
        .status(3)
        .await
        .expect("status")
        .nodes
        .iter()
        .any(|n| n.id == 3 && n.health.as_ref().is_some_and(|h| h.error.is_empty())));
}
