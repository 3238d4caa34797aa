//! The free-space guard: a node stops taking on new log entries while the
//! filesystem of its data dir has less than `RaftConfig::min_free_bytes` free, so a
//! filling disk ends in a clear refusal instead of a RocksDB write failing with
//! ENOSPC (which openraft turns into a fatal storage error).
//!
//! Where it is enforced:
//! - on the leader, before a client proposal reaches openraft (`RaftNode::write` and
//!   the batcher, see [`DiskGuard::admit`]): refused with `WriteError::DiskFull` when
//!   the leader itself is low, or when the voters with space do not form a quorum
//!   (the entry could be appended but never committed);
//! - on every node, in the peer service: an AppendEntries carrying entries (or a
//!   snapshot chunk) is refused while this node is low; heartbeats pass. The leader
//!   treats the refusal as "peer unavailable, retry later";
//! - every peer-service reply carries the replying node's free space, which the
//!   leader's network client records per peer ([`DiskGuard::record_peer`]) for the
//!   quorum rule above.
//!
//! The guard is a margin, not a promise: writes already accepted, RocksDB's own
//! background work and small metadata writes (votes, the commit index) still use the
//! space below the minimum. The minimum is that reserve.
//!
//! Free space is measured with statvfs(3) by a background task every
//! [`REFRESH_INTERVAL`]; checks read the cached value (an atomic load).

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

// tokio's clock: the real one in production, the simulated one in `sim/`.
use tokio::time::Instant;

use serde::Serialize;

use crate::seams::FreeSpace;
use crate::types::NodeId;

/// Default `RaftConfig::min_free_bytes`: room for RocksDB to flush a full memtable
/// (64 MiB), compact, and write a snapshot of a large state, with margin.
pub const MIN_FREE_BYTES_DEFAULT: u64 = 256 << 20;

/// How often the background task measures free space. Writes between two
/// measurements are bounded by the rate the API accepts, far below the reserve.
pub const REFRESH_INTERVAL: Duration = Duration::from_millis(200);

/// A peer's report older than this is ignored: a peer that has not answered for
/// that long is unreachable, which is Raft's business (no quorum), not a full disk.
pub const PEER_REPORT_TTL: Duration = Duration::from_secs(2);

/// Sentinel of [`DiskGuard::free`] before the first successful measurement.
const UNKNOWN: u64 = u64::MAX;

#[derive(Debug, thiserror::Error)]
pub enum DiskError {
    #[error("{path}: cannot measure free space (statvfs): {source}")]
    Statvfs {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{path}: path contains a NUL byte")]
    NulInPath { path: PathBuf },
}

/// Bytes available to this process on the filesystem holding `path`: statvfs's
/// `f_bavail` (blocks free for unprivileged users, so a filesystem's root reserve
/// counts as full) times the fragment size.
pub fn available_bytes(path: &Path) -> Result<u64, DiskError> {
    use std::os::unix::ffi::OsStrExt;
    let c_path =
        std::ffi::CString::new(path.as_os_str().as_bytes()).map_err(|_| DiskError::NulInPath {
            path: path.to_path_buf(),
        })?;
    let mut st = std::mem::MaybeUninit::<libc::statvfs>::uninit();
    // SAFETY: `c_path` is a NUL-terminated string that outlives the call, and `st`
    // points to writable memory of the right type; statvfs fills it on success.
    let rc = unsafe { libc::statvfs(c_path.as_ptr(), st.as_mut_ptr()) };
    if rc != 0 {
        return Err(DiskError::Statvfs {
            path: path.to_path_buf(),
            source: std::io::Error::last_os_error(),
        });
    }
    // SAFETY: statvfs returned 0, so it initialized `st`.
    let st = unsafe { st.assume_init() };
    // The field types differ between platforms (u32/u64); on 64-bit Linux the casts
    // are no-ops, elsewhere they widen.
    #[allow(clippy::unnecessary_cast)]
    let (blocks, frsize) = (st.f_bavail as u64, st.f_frsize as u64);
    Ok(blocks.saturating_mul(frsize))
}

/// A node's free space and its own minimum (0: its guard is off).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct DiskSpace {
    pub free_bytes: u64,
    pub min_free_bytes: u64,
}

impl DiskSpace {
    /// Below the minimum: the node takes on no new log entries.
    pub fn is_low(&self) -> bool {
        self.min_free_bytes > 0 && self.free_bytes < self.min_free_bytes
    }
}

/// A node whose free space is under its minimum, as named in errors.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LowDisk {
    pub node: NodeId,
    pub free_bytes: u64,
    pub min_free_bytes: u64,
}

impl fmt::Display for LowDisk {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "node {} has {} free, minimum {}",
            self.node,
            human_bytes(self.free_bytes),
            human_bytes(self.min_free_bytes)
        )
    }
}

/// `12.3 MiB`: sizes for messages and status.
pub fn human_bytes(bytes: u64) -> String {
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut value = bytes as f64;
    let mut unit = 0;
    while value >= 1024.0 && unit < UNITS.len() - 1 {
        value /= 1024.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{bytes} B")
    } else {
        format!("{value:.1} {}", UNITS[unit])
    }
}

/// The quorum rule, pure: whether some configuration (two during a joint
/// membership change, each needing its own majority) has fewer voters with space
/// than its majority. Then an entry appended now could not commit until space
/// returns, so it is better not proposed. `low` may name non-voters; they do not
/// count.
pub fn quorum_lacks_space(configs: &[BTreeSet<NodeId>], low: &BTreeSet<NodeId>) -> bool {
    configs.iter().any(|voters| {
        let with_space = voters.iter().filter(|v| !low.contains(v)).count();
        // An empty configuration exists only before initialization; nothing to block.
        !voters.is_empty() && with_space < voters.len() / 2 + 1
    })
}

struct PeerReport {
    space: DiskSpace,
    at: Instant,
}

/// One node's guard: its own free space (measured) and its peers' (reported).
pub struct DiskGuard {
    node: NodeId,
    dir: PathBuf,
    min_free_bytes: u64,
    /// Last measured free bytes, or [`UNKNOWN`].
    free: AtomicU64,
    /// Whether the last measurement failed, to log a failure streak once.
    failing: AtomicBool,
    /// Latest report of each peer this node sent RPCs to (as leader: every member).
    /// Bounded by the membership.
    peers: Mutex<BTreeMap<NodeId, PeerReport>>,
    /// statvfs, or the simulator's figure.
    source: FreeSpace,
}

impl DiskGuard {
    /// A guard of `dir`; `min_free_bytes` 0 turns refusals off (free space is still
    /// measured and reported).
    pub fn new(node: NodeId, dir: PathBuf, min_free_bytes: u64, source: FreeSpace) -> DiskGuard {
        DiskGuard {
            node,
            dir,
            min_free_bytes,
            free: AtomicU64::new(UNKNOWN),
            failing: AtomicBool::new(false),
            peers: Mutex::new(BTreeMap::new()),
            source,
        }
    }

    /// [`Self::refresh`] without blocking the runtime: statvfs on a blocking
    /// thread, a given figure inline (a simulation must not wait on a thread).
    pub async fn refresh_now(self: &Arc<Self>) -> Result<(), tokio::task::JoinError> {
        match self.source {
            FreeSpace::Given(_) => {
                self.refresh();
                Ok(())
            }
            FreeSpace::Statvfs => {
                let g = self.clone();
                tokio::task::spawn_blocking(move || g.refresh()).await
            }
        }
    }

    pub fn min_free_bytes(&self) -> u64 {
        self.min_free_bytes
    }

    /// Measures free space now and logs a change between low and not low.
    /// Blocking (one statvfs call).
    pub fn refresh(&self) {
        let measured = match &self.source {
            FreeSpace::Statvfs => available_bytes(&self.dir),
            FreeSpace::Given(free) => Ok(free.load(Ordering::Relaxed)),
        };
        let free = match measured {
            Ok(free) => {
                if self.failing.swap(false, Ordering::Relaxed) {
                    tracing::info!(node = self.node, "free space measurable again");
                }
                free
            }
            Err(e) => {
                // Unknown is not low: a guard that cannot measure must not stop the
                // cluster; RocksDB still reports a real ENOSPC.
                if !self.failing.swap(true, Ordering::Relaxed) {
                    tracing::warn!(node = self.node, error = %e, "free-space guard cannot measure; not refusing writes");
                }
                UNKNOWN
            }
        };
        let before = self.free.swap(free, Ordering::Relaxed);
        let space = |free| DiskSpace {
            free_bytes: free,
            min_free_bytes: self.min_free_bytes,
        };
        let (was_low, is_low) = (
            before != UNKNOWN && space(before).is_low(),
            free != UNKNOWN && space(free).is_low(),
        );
        if is_low && !was_low {
            tracing::warn!(
                node = self.node,
                path = %self.dir.display(),
                free = %human_bytes(free),
                min = %human_bytes(self.min_free_bytes),
                "disk low: refusing new writes and log entries until space is freed"
            );
        } else if was_low && !is_low {
            tracing::info!(
                node = self.node,
                free = %human_bytes(free),
                min = %human_bytes(self.min_free_bytes),
                "disk space back above the minimum; accepting writes and log entries"
            );
        }
    }

    /// This node's last measurement; `None` before one succeeded.
    pub fn local(&self) -> Option<DiskSpace> {
        match self.free.load(Ordering::Relaxed) {
            UNKNOWN => None,
            free => Some(DiskSpace {
                free_bytes: free,
                min_free_bytes: self.min_free_bytes,
            }),
        }
    }

    /// This node, if it is below its minimum.
    pub fn local_low(&self) -> Option<LowDisk> {
        self.local().filter(DiskSpace::is_low).map(|s| LowDisk {
            node: self.node,
            free_bytes: s.free_bytes,
            min_free_bytes: s.min_free_bytes,
        })
    }

    /// Records what `peer` said about its disk in a reply.
    pub fn record_peer(&self, peer: NodeId, space: DiskSpace) {
        let mut peers = self.peers.lock().unwrap_or_else(|p| p.into_inner());
        peers.insert(
            peer,
            PeerReport {
                space,
                at: Instant::now(),
            },
        );
    }

    /// The peers' reports younger than [`PEER_REPORT_TTL`].
    pub fn peers(&self) -> BTreeMap<NodeId, DiskSpace> {
        let now = Instant::now();
        let peers = self.peers.lock().unwrap_or_else(|p| p.into_inner());
        peers
            .iter()
            .filter(|(_, r)| now.duration_since(r.at) < PEER_REPORT_TTL)
            .map(|(id, r)| (*id, r.space))
            .collect()
    }

    /// Whether `peer`'s latest report (younger than [`PEER_REPORT_TTL`]) says it is
    /// below its minimum.
    pub fn peer_is_low(&self, peer: NodeId) -> bool {
        let peers = self.peers.lock().unwrap_or_else(|p| p.into_inner());
        peers
            .get(&peer)
            .is_some_and(|r| r.at.elapsed() < PEER_REPORT_TTL && r.space.is_low())
    }

    /// Whether a leader with the voter configurations `configs` may propose a new
    /// client entry. Refused (with the nodes to name) when this node is low, or
    /// when the voters not known to be low do not form a quorum
    /// ([`quorum_lacks_space`]). A peer without a fresh report counts as having
    /// space: it is down or unknown, not full.
    pub fn admit(&self, configs: &[BTreeSet<NodeId>]) -> Result<(), Vec<LowDisk>> {
        if let Some(me) = self.local_low() {
            return Err(vec![me]);
        }
        let low: BTreeMap<NodeId, DiskSpace> = self
            .peers()
            .into_iter()
            .filter(|(id, s)| *id != self.node && s.is_low())
            .collect();
        if low.is_empty() {
            return Ok(());
        }
        let ids: BTreeSet<NodeId> = low.keys().copied().collect();
        if !quorum_lacks_space(configs, &ids) {
            return Ok(());
        }
        let voters: BTreeSet<NodeId> = configs.iter().flatten().copied().collect();
        Err(low
            .into_iter()
            .filter(|(id, _)| voters.contains(id))
            .map(|(node, s)| LowDisk {
                node,
                free_bytes: s.free_bytes,
                min_free_bytes: s.min_free_bytes,
            })
            .collect())
    }
}

/// Measures every [`REFRESH_INTERVAL`] until the returned task is aborted.
pub(crate) fn spawn_refresher(guard: Arc<DiskGuard>) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(REFRESH_INTERVAL);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            // statvfs is quick, but on a hung network filesystem it would block a
            // runtime worker: `refresh_now` runs it on a blocking thread.
            if guard.refresh_now().await.is_err() {
                return;
            }
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn set(ids: &[NodeId]) -> BTreeSet<NodeId> {
        ids.iter().copied().collect()
    }

    #[test]
    fn threshold() {
        let s = |free, min| DiskSpace {
            free_bytes: free,
            min_free_bytes: min,
        };
        assert!(s(99, 100).is_low());
        assert!(!s(100, 100).is_low());
        assert!(!s(0, 0).is_low(), "min 0 turns the guard off");
        assert!(s(0, 1).is_low());
    }

    #[test]
    fn quorum_rule() {
        let three = [set(&[1, 2, 3])];
        assert!(!quorum_lacks_space(&three, &set(&[])));
        assert!(!quorum_lacks_space(&three, &set(&[3])), "one follower low");
        assert!(quorum_lacks_space(&three, &set(&[2, 3])));
        assert!(quorum_lacks_space(&three, &set(&[1, 2, 3])));
        assert!(
            !quorum_lacks_space(&three, &set(&[4, 5])),
            "non-voters do not count"
        );
        // Four voters need three with space: two low already block.
        let four = [set(&[1, 2, 3, 4])];
        assert!(!quorum_lacks_space(&four, &set(&[4])));
        assert!(quorum_lacks_space(&four, &set(&[3, 4])));
        // Joint consensus: each configuration needs its own majority.
        let joint = [set(&[1, 2, 3]), set(&[3, 4, 5])];
        assert!(!quorum_lacks_space(&joint, &set(&[1, 5])));
        assert!(quorum_lacks_space(&joint, &set(&[4, 5])));
        assert!(!quorum_lacks_space(&[set(&[])], &set(&[1])));
        let single = [set(&[1])];
        assert!(quorum_lacks_space(&single, &set(&[1])));
    }

    fn guard(min: u64, free: u64) -> DiskGuard {
        let g = DiskGuard::new(1, PathBuf::from("/nonexistent"), min, FreeSpace::Statvfs);
        g.free.store(free, Ordering::Relaxed);
        g
    }

    fn space(free: u64, min: u64) -> DiskSpace {
        DiskSpace {
            free_bytes: free,
            min_free_bytes: min,
        }
    }

    #[test]
    fn admit_names_the_low_nodes() {
        let configs = [set(&[1, 2, 3])];
        // The leader itself low: refused, naming it alone.
        let g = guard(100, 50);
        assert_eq!(
            g.admit(&configs),
            Err(vec![LowDisk {
                node: 1,
                free_bytes: 50,
                min_free_bytes: 100
            }])
        );
        // One follower low: still a quorum with space.
        let g = guard(100, 500);
        g.record_peer(3, space(10, 100));
        g.record_peer(2, space(1000, 100));
        assert_eq!(g.admit(&configs), Ok(()));
        // Two followers low: refused, naming both.
        g.record_peer(2, space(20, 30));
        let err = g.admit(&configs).unwrap_err();
        assert_eq!(
            err.iter().map(|l| l.node).collect::<Vec<_>>(),
            vec![2, 3],
            "{err:?}"
        );
        assert_eq!(
            err[0].to_string(),
            "node 2 has 20 B free, minimum 30 B",
            "{err:?}"
        );
        // A follower whose guard is off never counts as low.
        g.record_peer(2, space(0, 0));
        assert_eq!(g.admit(&configs), Ok(()));
    }

    #[test]
    fn unknown_is_not_low() {
        let g = guard(100, UNKNOWN);
        assert_eq!(g.local(), None);
        assert_eq!(g.admit(&[set(&[1, 2, 3])]), Ok(()));
        // A failing measurement keeps it unknown.
        g.refresh();
        assert_eq!(g.local(), None);
    }

    #[test]
    fn stale_peer_reports_are_ignored() {
        let g = guard(100, 500);
        g.record_peer(2, space(1, 100));
        g.record_peer(3, space(1, 100));
        // Age both reports past the TTL.
        {
            let mut peers = g.peers.lock().unwrap();
            for r in peers.values_mut() {
                r.at = Instant::now()
                    .checked_sub(PEER_REPORT_TTL + Duration::from_millis(1))
                    .expect("monotonic clock far enough from its origin");
            }
        }
        assert!(g.peers().is_empty());
        assert_eq!(g.admit(&[set(&[1, 2, 3])]), Ok(()));
    }

    #[test]
    fn measures_a_real_directory() {
        let dir = tempfile::tempdir().unwrap();
        assert!(available_bytes(dir.path()).unwrap() > 0);
        assert!(matches!(
            available_bytes(&dir.path().join("missing")),
            Err(DiskError::Statvfs { .. })
        ));
        let g = DiskGuard::new(7, dir.path().to_path_buf(), 1, FreeSpace::Statvfs);
        g.refresh();
        let s = g.local().expect("measured");
        assert!(!s.is_low());
        assert_eq!(s.min_free_bytes, 1);
    }

    #[test]
    fn human_sizes() {
        assert_eq!(human_bytes(0), "0 B");
        assert_eq!(human_bytes(1023), "1023 B");
        assert_eq!(human_bytes(16 << 20), "16.0 MiB");
        assert_eq!(human_bytes(3 << 29), "1.5 GiB");
    }
}
