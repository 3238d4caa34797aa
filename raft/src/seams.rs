//! Where a simulator plugs into a node: its wall clock, its network, its log store
//! and its free space.
//!
//! A production node ([`RaftNode::start`](crate::RaftNode::start)) uses
//! [`Seams::real`]: the system clock, TCP on `RaftConfig::raft_addr`, RocksDB and
//! statvfs. The deterministic simulator (`sim/`) gives its own through
//! [`RaftNode::start_on`](crate::RaftNode::start_on): simulated time, a simulated
//! network, a log store with RocksDB's durability contract that a crash can cut
//! back, and a free-space figure it sets. Every seam is a value chosen once at
//! start, not a branch on a global, so a production node runs exactly the code it
//! ran before the seams existed.

use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU64};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::{SystemTime, UNIX_EPOCH};

use openraft::storage::RaftLogStorage;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio_stream::Stream;

use crate::store::state_machine::StateMachineStore;
use crate::types::TypeConfig;

/// Wall-clock milliseconds since the Unix epoch. The leader stamps each proposal
/// with it (request ids expire by this time, inside the log), so a clock jump on
/// one node is a fault the simulator must be able to inject.
#[derive(Clone)]
pub struct Clock(Arc<dyn Fn() -> u64 + Send + Sync>);

impl Clock {
    pub fn system() -> Clock {
        Clock(Arc::new(|| {
            SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
        }))
    }

    pub fn from_fn(f: impl Fn() -> u64 + Send + Sync + 'static) -> Clock {
        Clock(Arc::new(f))
    }

    pub fn now_ms(&self) -> u64 {
        (self.0)()
    }
}

/// A byte stream to or from a peer.
pub trait Io: AsyncRead + AsyncWrite + Send + Unpin + 'static {}
impl<T: AsyncRead + AsyncWrite + Send + Unpin + 'static> Io for T {}

/// Opens a stream to `host:port`.
pub type Dial =
    Arc<dyn Fn(String) -> Pin<Box<dyn Future<Output = io::Result<Conn>> + Send>> + Send + Sync>;

/// Accepted streams, in order.
pub type Incoming = Pin<Box<dyn Stream<Item = io::Result<Conn>> + Send>>;

/// One connection of a given transport, as tonic's server and client take it.
pub struct Conn(pub Box<dyn Io>);

impl AsyncRead for Conn {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut *self.0).poll_read(cx, buf)
    }
}

impl AsyncWrite for Conn {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut *self.0).poll_write(cx, buf)
    }
    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut *self.0).poll_flush(cx)
    }
    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut *self.0).poll_shutdown(cx)
    }
}

impl tonic::transport::server::Connected for Conn {
    type ConnectInfo = ();
    fn connect_info(&self) {}
}

/// How the node hears its peers and reaches them.
pub enum Transport {
    /// Listen on `RaftConfig::raft_addr`, dial each peer's `raft_addr` (with peer
    /// TLS when configured).
    Tcp,
    /// Streams that are already listening at `local_addr`, and a dialer. Peer TLS
    /// is refused with it (the simulator has none).
    Given {
        incoming: Incoming,
        local_addr: SocketAddr,
        dial: Dial,
    },
}

/// Where free space comes from (see `crate::disk`).
#[derive(Clone)]
pub enum FreeSpace {
    /// statvfs(3) of the data dir, on a blocking thread.
    Statvfs,
    /// A figure someone else sets (the simulator's "disk"), read inline.
    Given(Arc<AtomicU64>),
}

/// A log store other than RocksDB, with what the node needs besides openraft's
/// trait: the committed index it persists (for status) and whether a write of it
/// failed (the node then refuses writes).
pub struct LogParts<L> {
    pub log: L,
    pub committed: Arc<AtomicU64>,
    pub failed: Arc<AtomicBool>,
    pub sm: StateMachineStore,
}

/// What a log store must be for `RaftNode::start_on`.
pub trait LogStorage: RaftLogStorage<TypeConfig> + Send + Sync + 'static {}
impl<T: RaftLogStorage<TypeConfig> + Send + Sync + 'static> LogStorage for T {}

/// Every seam of one node.
pub struct Seams {
    pub clock: Clock,
    pub transport: Transport,
    pub free_space: FreeSpace,
}

impl Seams {
    /// What production runs on.
    pub fn real() -> Seams {
        Seams {
            clock: Clock::system(),
            transport: Transport::Tcp,
            free_space: FreeSpace::Statvfs,
        }
    }
}
