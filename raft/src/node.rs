//! `RaftNode`: the one object the daemon holds. It opens storage, runs openraft and
//! the peer gRPC service, and offers writes, linearizable and stale reads, status and
//! membership operations in PrismNET's own types.

use std::collections::{BTreeMap, BTreeSet};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use openraft::error::{InitializeError, RaftError as OpenraftApiError};
use openraft::ChangeMembers;
use prismnet_state::{Applied, Proposal, Request, Stamp, State, StateError};
use rocksdb::DB;
use tokio::sync::{oneshot, watch};
use tokio::task::JoinHandle;
use tonic::transport::server::TcpIncoming;

use crate::batcher::Batcher;
use crate::config::RaftConfig;
use crate::disk::DiskGuard;
use crate::error::{redirect, ClusterError, RaftError, ReadError, WriteError};
use crate::network::client::NetworkFactory;
use crate::network::proto::raft_service_server::RaftServiceServer;
use crate::network::server::RaftServer;
use crate::network::PeerContacts;
use crate::seams::{Clock, Conn, Dial, Incoming, LogParts, LogStorage, Seams, Transport};
use crate::status::NodeStatus;
use crate::store::state_machine::SharedState;
use crate::types::{
    CheckIsLeaderError, ClientWriteError, NodeId, PeerNode, Raft, RaftMetrics, ServerState,
    StorageError, Vote,
};

/// How a node joins its cluster.
#[derive(Clone, Debug)]
pub enum Bootstrap {
    /// The initial members. On a data dir that was never initialized the node
    /// proposes exactly this membership; every initial member may do so, since they
    /// all propose the same one. A node with existing data ignores it.
    Peers(BTreeMap<NodeId, PeerNode>),
    /// Never initialize: wait to be added by the leader (`add_learner`).
    Join,
}

struct Server {
    stop: oneshot::Sender<()>,
    task: JoinHandle<Result<(), tonic::transport::Error>>,
}

pub struct RaftNode {
    id: NodeId,
    raft: Raft,
    shared: Arc<SharedState>,
    committed: Arc<AtomicU64>,
    batcher: Batcher,
    local_raft_addr: SocketAddr,
    server: Mutex<Option<Server>>,
    /// Kept only to flush at shutdown; taken then so the RocksDB lock is released
    /// once the node is dropped.
    db: Mutex<Option<Arc<DB>>>,
    /// Set by the log store once a RocksDB write failed: then nothing flushes it.
    log_failed: Arc<AtomicBool>,
    disk: Arc<DiskGuard>,
    contacts: Arc<PeerContacts>,
    /// Measures free space; stopped with the node.
    disk_refresher: AbortOnDrop,
    /// The leader's wall clock, stamped on proposals.
    clock: Clock,
}

/// A background task that ends with its owner.
struct AbortOnDrop(JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// openraft 0.9 brings a node that led before its restart back as leader at once,
/// under its old leader id (`Engine::startup`), without an election. That is
/// unsafe after a power cut: entries a quorum of followers acknowledged (so
/// committed, and answered) may have been lost from this node's unflushed log,
/// and its next proposals would reuse their log ids (same leader id, same index),
/// which followers take for the entries they hold; and its read index is the
/// committed index it persisted, without sync, so a linearizable read could miss
/// acknowledged writes. The simulator found this (`sim` seed 1012: a read after a
/// crash of every node missed an acknowledged delete).
///
/// So before Raft starts, a committed vote for this node is stored back as a
/// plain (uncommitted) vote for itself in the same term: the node starts as a
/// follower, and leads again only through an election in a later term, with a
/// first entry of its own, which a follower with a longer log wins instead if this
/// node lost entries. The vote still names the same candidate in the same term,
/// so it grants no vote it could not grant before; it only forgets that a quorum
/// had granted it. (openraft ignores `trigger().elect()` on a leader, so an
/// election after start is not a way out.)
async fn forget_leadership<L: LogStorage>(log: &mut L, id: NodeId) -> Result<(), RaftError> {
    let fatal = |what: &str, e: StorageError| RaftError::Fatal(format!("{what}: {e}"));
    let Some(vote) = log
        .read_vote()
        .await
        .map_err(|e| fatal("reading the vote", e))?
    else {
        return Ok(());
    };
    if !(vote.is_committed() && vote.leader_id().voted_for() == Some(id)) {
        return Ok(());
    }
    let term = vote.leader_id().term;
    tracing::info!(
        node = id,
        term,
        "led before the restart: starting as a follower, to lead again only by election"
    );
    log.save_vote(&Vote::new(term, id))
        .await
        .map_err(|e| fatal("storing the vote", e))
}

fn check_boot(cfg: &RaftConfig, boot: &Bootstrap) -> Result<(), RaftError> {
    if let Bootstrap::Peers(peers) = boot {
        if !peers.contains_key(&cfg.id) {
            return Err(RaftError::Config(format!(
                "initial peers {:?} do not include this node ({})",
                peers.keys().collect::<Vec<_>>(),
                cfg.id
            )));
        }
    }
    Ok(())
}

/// The peer service's incoming connections, the address they arrive at, and how
/// to dial peers (`None`: TCP). Bound before Raft starts: a taken port is a
/// startup error, not a node that silently cannot hear its peers.
async fn listen(
    cfg: &RaftConfig,
    transport: Transport,
) -> Result<(Incoming, SocketAddr, Option<Dial>), RaftError> {
    match transport {
        Transport::Given {
            incoming,
            local_addr,
            dial,
        } => {
            if cfg.peer_tls.is_some() {
                return Err(RaftError::Config(
                    "peer TLS needs the TCP transport".to_string(),
                ));
            }
            Ok((incoming, local_addr, Some(dial)))
        }
        Transport::Tcp => {
            let bind = |source| RaftError::Bind {
                addr: cfg.raft_addr,
                source,
            };
            let listener = tokio::net::TcpListener::bind(cfg.raft_addr)
                .await
                .map_err(bind)?;
            let local = listener.local_addr().map_err(bind)?;
            // `serve_with_incoming` ignores the builder's `tcp_nodelay`: without it
            // on the accepted sockets, Nagle holds back the second small write of
            // an AppendEntries reply until the peer ACKs the first, adding a
            // delayed-ACK wait to every replication round trip.
            let incoming = TcpIncoming::from(listener).with_nodelay(Some(true));
            let incoming = tokio_stream::StreamExt::map(incoming, |c| {
                c.map(|c| Conn(Box::new(c) as Box<dyn crate::seams::Io>))
            });
            Ok((Box::pin(incoming), local, None))
        }
    }
}

/// Serves the peer service on `incoming` until the node stops. TLS is configured
/// here, before Raft sees a request, so a bad certificate is a startup error.
fn serve(
    cfg: &RaftConfig,
    service: RaftServiceServer<RaftServer>,
    incoming: Incoming,
) -> Result<Server, RaftError> {
    let mut builder = crate::network::server::builder();
    if let Some(tls) = &cfg.peer_tls {
        builder = builder
            .tls_config(tls.server())
            .map_err(|e| RaftError::Config(format!("peer TLS: {e}")))?;
    }
    let (stop, stopped) = oneshot::channel::<()>();
    let task = tokio::spawn(builder.add_service(service).serve_with_incoming_shutdown(
        incoming,
        async {
            let _ = stopped.await;
        },
    ));
    Ok(Server { stop, task })
}

fn cluster_error(e: OpenraftApiError<NodeId, ClientWriteError>) -> ClusterError {
    match e {
        OpenraftApiError::APIError(ClientWriteError::ForwardToLeader(f)) => redirect(
            f,
            |id, leader| ClusterError::NotLeader {
                leader_id: Some(id),
                leader,
            },
            ClusterError::NoLeader,
        ),
        OpenraftApiError::APIError(ClientWriteError::ChangeMembershipError(e)) => {
            ClusterError::Rejected(e.to_string())
        }
        OpenraftApiError::Fatal(f) => ClusterError::Fatal(f.to_string()),
    }
}

impl RaftNode {
    /// Opens the data dir, starts Raft and serves the peer service on
    /// `cfg.raft_addr`. See [`Bootstrap`] for when the cluster is initialized.
    pub async fn start(cfg: RaftConfig, boot: Bootstrap) -> Result<RaftNode, RaftError> {
        check_boot(&cfg, &boot)?;
        let (dir, settings) = (cfg.data_dir.clone(), cfg.state_settings.clone());
        let opened = tokio::task::spawn_blocking(move || crate::store::open(&dir, settings))
            .await
            .map_err(|e| RaftError::Fatal(format!("storage open task: {e}")))??;
        tracing::info!(node = cfg.id, created = opened.created, "storage opened");
        let parts = LogParts {
            committed: opened.log.committed_handle(),
            failed: opened.log.failed_handle(),
            log: opened.log,
            sm: opened.sm,
        };
        Self::run(cfg, boot, parts, Some(opened.db), Seams::real()).await
    }

    /// Starts a node on a log store and seams of the caller's (the simulator's;
    /// see [`crate::seams`]). `cfg.data_dir` still holds the snapshot files.
    pub async fn start_on<L: LogStorage>(
        cfg: RaftConfig,
        boot: Bootstrap,
        parts: LogParts<L>,
        seams: Seams,
    ) -> Result<RaftNode, RaftError> {
        check_boot(&cfg, &boot)?;
        Self::run(cfg, boot, parts, None, seams).await
    }

    async fn run<L: LogStorage>(
        cfg: RaftConfig,
        boot: Bootstrap,
        parts: LogParts<L>,
        db: Option<Arc<DB>>,
        seams: Seams,
    ) -> Result<RaftNode, RaftError> {
        let ocfg = cfg.openraft()?;
        let shared = parts.sm.shared();
        // Measured once before anything can be proposed or appended, so a node
        // started on a full disk refuses from its first request (and says so).
        let disk = Arc::new(DiskGuard::new(
            cfg.id,
            cfg.data_dir.clone(),
            cfg.min_free_bytes,
            seams.free_space,
        ));
        disk.refresh_now()
            .await
            .map_err(|e| RaftError::Fatal(format!("free-space check task: {e}")))?;
        let disk_refresher = AbortOnDrop(crate::disk::spawn_refresher(disk.clone()));

        let (incoming, local_raft_addr, dial) = listen(&cfg, seams.transport).await?;
        let client_tls = match &cfg.peer_tls {
            Some(tls) => {
                let t = tls.client();
                // Channels are made lazily; check the client identity now too.
                tonic::transport::Endpoint::from_static("https://prismnet-peer")
                    .tls_config(t.clone())
                    .map_err(|e| RaftError::Config(format!("peer TLS client: {e}")))?;
                Some(t)
            }
            None => None,
        };
        let network = NetworkFactory::new(&cfg.cluster_name, client_tls, disk.clone(), dial);
        let contacts = network.contacts();
        let mut log = parts.log;
        forget_leadership(&mut log, cfg.id).await?;
        let raft = Raft::new(cfg.id, ocfg, network, log, parts.sm)
            .await
            .map_err(|e| RaftError::Fatal(e.to_string()))?;

        let service = RaftServer::new(
            raft.clone(),
            &cfg.cluster_name,
            disk.clone(),
            contacts.clone(),
        );
        let server = serve(&cfg, service, incoming)?;
        let batcher = Batcher::start(raft.clone(), cfg.id, disk.clone());
        let node = RaftNode {
            id: cfg.id,
            raft,
            shared,
            committed: parts.committed,
            batcher,
            local_raft_addr,
            server: Mutex::new(Some(server)),
            db: Mutex::new(db),
            log_failed: parts.failed,
            disk,
            contacts,
            disk_refresher,
            clock: seams.clock,
        };
        tracing::info!(node = cfg.id, raft_addr = %local_raft_addr, "raft node started");

        if let Bootstrap::Peers(peers) = boot {
            node.initialize_once(peers).await?;
        }
        Ok(node)
    }

    async fn initialize_once(&self, peers: BTreeMap<NodeId, PeerNode>) -> Result<(), RaftError> {
        let initialized = self
            .raft
            .is_initialized()
            .await
            .map_err(|e| RaftError::Fatal(e.to_string()))?;
        if initialized {
            tracing::info!(
                node = self.id,
                "existing cluster state found; not initializing"
            );
            return Ok(());
        }
        match self.raft.initialize(peers.clone()).await {
            Ok(()) => {
                tracing::info!(node = self.id, members = ?peers.keys(), "cluster initialized");
                Ok(())
            }
            // A peer initialized first and already replicated to us: same membership.
            Err(OpenraftApiError::APIError(InitializeError::NotAllowed(e))) => {
                tracing::info!(node = self.id, reason = %e, "cluster already initialized by a peer");
                Ok(())
            }
            Err(e) => Err(RaftError::Initialize(e.to_string())),
        }
    }

    pub fn id(&self) -> NodeId {
        self.id
    }

    /// The address the peer service actually listens on (useful with port 0).
    pub fn local_raft_addr(&self) -> SocketAddr {
        self.local_raft_addr
    }

    /// Proposes `request`, stamped with this leader's wall clock, and returns its
    /// outcome once it is committed and applied here. A command the state machine
    /// rejects is still a successful write: `Ok(Err(StateError))`; so is a request
    /// too large for a log entry (`limit_exceeded`, refused before proposing).
    ///
    /// Concurrent writes share log entries (see [`crate::batcher`]); each caller
    /// gets its own outcome.
    pub async fn write(&self, request: Request) -> Result<Result<Applied, StateError>, WriteError> {
        let proposal = Proposal {
            request,
            stamp: Stamp {
                time_ms: self.clock.now_ms(),
            },
        };
        self.batcher.write(proposal).await
    }

    /// Reads the state after confirming leadership with a quorum (ReadIndex) and
    /// waiting until everything committed before the read is applied: the result
    /// reflects every write acknowledged before this call started.
    pub async fn read_linearizable<T>(&self, f: impl FnOnce(&State) -> T) -> Result<T, ReadError> {
        if prismnet_state::failpoints::enabled("local-linearizable-reads") {
            // A deliberate bug for the chaos suite's teeth (off in normal builds).
            return Ok(self.shared.with(|a| f(&a.state)));
        }
        let read_log_id = self.raft.ensure_linearizable().await.map_err(|e| match e {
            OpenraftApiError::APIError(CheckIsLeaderError::ForwardToLeader(f)) => redirect(
                f,
                |id, leader| ReadError::NotLeader {
                    leader_id: Some(id),
                    leader,
                },
                ReadError::NoLeader,
            ),
            OpenraftApiError::APIError(CheckIsLeaderError::QuorumNotEnough(_)) => {
                ReadError::NoLeader
            }
            OpenraftApiError::Fatal(f) => ReadError::Fatal(f.to_string()),
        })?;
        let want = read_log_id.map_or(0, |l| l.index);
        // openraft already waited for its applied metric; this makes the wait
        // explicit against our own state lock's index.
        let mut applied = self.shared.subscribe_applied();
        applied
            .wait_for(|a| *a >= want)
            .await
            .map_err(|_| ReadError::Fatal("state machine stopped".into()))?;
        Ok(self.shared.with(|a| f(&a.state)))
    }

    /// Reads this node's applied state as it is, without contacting anyone: may lag
    /// the leader (or be from a partitioned minority).
    pub fn read_stale<T>(&self, f: impl FnOnce(&State) -> T) -> T {
        self.shared.with(|a| f(&a.state))
    }

    pub fn status(&self) -> NodeStatus {
        let m = self.raft.metrics();
        let m = m.borrow();
        let mut st = NodeStatus::from_metrics(
            &m,
            self.committed.load(Ordering::Relaxed),
            self.shared.applied_index(),
        );
        st.disk = self.disk.local();
        st.peer_disks = self.disk.peers();
        st.peer_contacts = self.contacts.ages();
        st
    }

    /// Resolves once Raft on this node has stopped because of an error (a storage
    /// failure such as a full disk, or a panic in openraft's core), with its cause.
    /// Never resolves for a requested shutdown. After it resolves the node can
    /// serve nothing but stale reads: the daemon exits so that a service manager
    /// restarts it on the same data dir.
    pub async fn stopped_on_error(&self) -> String {
        let mut metrics = self.raft.metrics();
        loop {
            // Read under the watch's lock, decided after it is released.
            let state = metrics.borrow_and_update().running_state.clone();
            match state {
                Ok(()) => {}
                Err(openraft::error::Fatal::Stopped) => break,
                Err(e) => return e.to_string(),
            }
            if metrics.changed().await.is_err() {
                break;
            }
        }
        std::future::pending().await
    }

    /// The term this node leads in, if it currently believes it is the leader. The
    /// OVN driver fences the northbound DB with it; a deposed leader's stale belief
    /// is caught by that fence, not by this call.
    pub fn leader_term(&self) -> Option<u64> {
        let m = self.raft.metrics();
        let m = m.borrow();
        (m.state == ServerState::Leader && m.current_leader == Some(self.id))
            .then_some(m.current_term)
    }

    /// openraft's metrics, to follow leadership and term changes.
    pub fn metrics(&self) -> watch::Receiver<RaftMetrics> {
        self.raft.metrics()
    }

    /// This node's applied index and the digest of its state there: equal on two
    /// replicas at the same index exactly when their states are. O(state), on a
    /// blocking thread.
    pub async fn state_digest(&self) -> Result<(u64, u128), ReadError> {
        let shared = self.shared.clone();
        crate::store::state_machine::offload(move || {
            shared.with(|a| (a.last_applied.map_or(0, |l| l.index), a.state.digest()))
        })
        .await
        .map_err(|e| ReadError::Fatal(format!("digest task: {e}")))
    }

    /// The index of the last entry applied here (committed, so every client may
    /// take it as a revision it has seen).
    pub fn applied_index(&self) -> u64 {
        self.shared.applied_index()
    }

    /// The index of the last applied entry, for callers waiting for an index.
    pub fn subscribe_applied(&self) -> watch::Receiver<u64> {
        self.shared.subscribe_applied()
    }

    /// Adds a node as a learner and waits until it has caught up with the log.
    pub async fn add_learner(&self, id: NodeId, node: PeerNode) -> Result<(), ClusterError> {
        tracing::info!(node = self.id, learner = id, %node, "adding learner");
        self.raft
            .add_learner(id, node, true)
            .await
            .map(drop)
            .map_err(cluster_error)
    }

    /// Makes a learner a voter (joint consensus, committed before returning).
    pub async fn promote(&self, id: NodeId) -> Result<(), ClusterError> {
        tracing::info!(node = self.id, voter = id, "promoting learner to voter");
        self.raft
            .change_membership(ChangeMembers::AddVoterIds(BTreeSet::from([id])), false)
            .await
            .map(drop)
            .map_err(cluster_error)
    }

    /// Adds a node as a voter: first as a learner until caught up, then promoted,
    /// so the quorum never waits on a node that is still copying the log.
    pub async fn add_node(&self, id: NodeId, node: PeerNode) -> Result<(), ClusterError> {
        self.add_learner(id, node).await?;
        self.promote(id).await
    }

    /// Removes a voter or a learner from the cluster.
    pub async fn remove_node(&self, id: NodeId) -> Result<(), ClusterError> {
        let is_voter = {
            let m = self.raft.metrics();
            let m = m.borrow();
            m.membership_config
                .membership()
                .voter_ids()
                .any(|v| v == id)
        };
        tracing::info!(node = self.id, removed = id, is_voter, "removing node");
        let ids = BTreeSet::from([id]);
        let change = if is_voter {
            ChangeMembers::RemoveVoters(ids)
        } else {
            ChangeMembers::RemoveNodes(ids)
        };
        self.raft
            .change_membership(change, false)
            .await
            .map(drop)
            .map_err(cluster_error)
    }

    /// Asks openraft to build a snapshot now (in the background).
    pub async fn trigger_snapshot(&self) -> Result<(), ClusterError> {
        self.raft
            .trigger()
            .snapshot()
            .await
            .map_err(|e| ClusterError::Fatal(e.to_string()))
    }

    /// Makes this node start an election now.
    pub async fn trigger_elect(&self) -> Result<(), ClusterError> {
        self.raft
            .trigger()
            .elect()
            .await
            .map_err(|e| ClusterError::Fatal(e.to_string()))
    }

    /// Stops Raft, then the peer service, then flushes RocksDB. Idempotent.
    pub async fn shutdown(&self) -> Result<(), RaftError> {
        tracing::info!(node = self.id, "shutting down raft node");
        self.disk_refresher.0.abort();
        let raft_result = self
            .raft
            .shutdown()
            .await
            .map_err(|e| RaftError::Shutdown(e.to_string()));
        let server = self.server.lock().unwrap_or_else(|p| p.into_inner()).take();
        if let Some(s) = server {
            let _ = s.stop.send(());
            match s.task.await {
                Ok(Ok(())) => {}
                Ok(Err(e)) => {
                    tracing::warn!(node = self.id, error = %e, "raft service ended with an error")
                }
                Err(e) => tracing::warn!(node = self.id, error = %e, "raft service task failed"),
            }
        }
        let db = self.db.lock().unwrap_or_else(|p| p.into_inner()).take();
        if self.log_failed.load(Ordering::SeqCst) {
            // A database whose write failed is not touched again (see
            // store::log_store): closing it is all that is left.
            tracing::warn!(
                node = self.id,
                "not flushing RocksDB: a write failed; the next start replays its WAL"
            );
        } else if let Some(db) = db {
            // Everything acknowledged is already in the synced WAL; the flush only
            // shortens the next start's WAL replay.
            tokio::task::spawn_blocking(move || db.flush())
                .await
                .map_err(|e| RaftError::Shutdown(e.to_string()))?
                .map_err(|e| RaftError::Shutdown(format!("rocksdb flush: {e}")))?;
        }
        raft_result
    }
}
