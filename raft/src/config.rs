//! A node's Raft configuration, and its translation into openraft's `Config`.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use openraft::SnapshotPolicy;

use crate::error::RaftError;
use crate::network::{MESSAGE_BYTES_MAX, SNAPSHOT_CHUNK_BYTES};
use crate::types::PeerNode;

/// Defaults sized for three nodes on two shared cores (see peers.md: heartbeat well
/// under half the minimum election timeout, election timeout >= 10x append latency;
/// replication p99 is 10-30 ms at 256 clients here).
///
/// Why these values: in openraft 0.9 a follower that knows a leader starts an
/// election only after `leader_lease + election_timeout` of silence, where
/// `leader_lease = election_timeout_max` and `election_timeout` is drawn once per
/// node from [min, max]; voters refuse votes while their own lease runs. So a dead
/// leader is replaced after 600-800 ms with 200-400 ms (the failover target is a
/// median under 1 s), while a follower still tolerates 600 ms without a heartbeat
/// before it disturbs a live leader. Measured in docs/benchmarks.md (issue 3).
pub const HEARTBEAT_MS_DEFAULT: u64 = 50;
pub const ELECTION_MIN_MS_DEFAULT: u64 = 200;
pub const ELECTION_MAX_MS_DEFAULT: u64 = 400;
/// Build a snapshot after this many entries since the last one.
pub const SNAPSHOT_LOGS_SINCE_LAST_DEFAULT: u64 = 20_000;
/// Entries kept behind a snapshot, so a briefly lagging follower catches up from the
/// log instead of needing the whole snapshot.
pub const LOGS_KEPT_AFTER_SNAPSHOT_DEFAULT: u64 = 5_000;
/// Entries per AppendEntries message; bounds message size and apply batches. An
/// entry carries a batch of up to `ENTRY_BYTES_MAX` bytes, so the product must fit
/// one gRPC message (with room for the entries' own framing).
pub const APPEND_ENTRIES_MAX: u64 = 48;

const _: () = assert!(
    (APPEND_ENTRIES_MAX as usize) * (crate::types::ENTRY_BYTES_MAX + 1024) <= MESSAGE_BYTES_MAX
);

#[derive(Clone, Debug)]
pub struct RaftConfig {
    pub id: u64,
    pub data_dir: PathBuf,
    /// Where this node listens for its peers.
    pub raft_addr: SocketAddr,
    /// How peers and clients reach this node (recorded in the membership).
    pub advertise: PeerNode,
    /// Peers of another cluster are refused.
    pub cluster_name: String,
    pub heartbeat_ms: u64,
    pub election_min_ms: u64,
    pub election_max_ms: u64,
    pub snapshot_logs_since_last: u64,
    pub logs_kept_after_snapshot: u64,
    /// Snapshots are sent to lagging nodes in chunks of this size.
    pub snapshot_chunk_bytes: u64,
    /// Used only when the state machine starts empty; afterwards settings are
    /// replicated state.
    pub state_settings: prismnet_state::Settings,
    /// Mutual TLS on the peer service; `None` (the default) is plain TCP.
    pub peer_tls: Option<PeerTls>,
    /// Free bytes the data dir's filesystem must keep; below it the node refuses
    /// new writes and log entries (see `crate::disk`). 0 turns the guard off.
    pub min_free_bytes: u64,
}

/// The name every peer certificate must carry as a SAN (`DNS:prismnet-peer`), and
/// the name a node checks on the certificate of the peer it connects to, whatever
/// address it dials. Peers are then addressed by IP (or any name) without one
/// certificate per address; what admits a node is its certificate being signed by
/// the cluster's CA, not its address.
pub const PEER_TLS_DOMAIN: &str = "prismnet-peer";

/// Mutual TLS between nodes, all PEM. The peer server presents `cert_pem` and
/// accepts only clients whose certificate is signed by `ca_pem`; the peer client
/// presents the same certificate and accepts only servers whose certificate is
/// signed by `ca_pem` and valid for [`PEER_TLS_DOMAIN`]. So each node's certificate
/// needs `subjectAltName=DNS:prismnet-peer` and
/// `extendedKeyUsage=serverAuth,clientAuth`.
#[derive(Clone)]
pub struct PeerTls {
    /// This node's certificate (chain), PEM.
    pub cert_pem: Vec<u8>,
    /// Its private key, PEM.
    pub key_pem: Vec<u8>,
    /// The CA that signs every node's certificate, PEM.
    pub ca_pem: Vec<u8>,
}

/// The key stays out of logs.
impl std::fmt::Debug for PeerTls {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PeerTls")
            .field("cert_pem", &format_args!("{} bytes", self.cert_pem.len()))
            .field("key_pem", &format_args!("<redacted>"))
            .field("ca_pem", &format_args!("{} bytes", self.ca_pem.len()))
            .finish()
    }
}

impl PeerTls {
    pub(crate) fn server(&self) -> tonic::transport::ServerTlsConfig {
        use tonic::transport::{Certificate, Identity, ServerTlsConfig};
        ServerTlsConfig::new()
            .identity(Identity::from_pem(&self.cert_pem, &self.key_pem))
            .client_ca_root(Certificate::from_pem(&self.ca_pem))
    }

    pub(crate) fn client(&self) -> tonic::transport::ClientTlsConfig {
        use tonic::transport::{Certificate, ClientTlsConfig, Identity};
        ClientTlsConfig::new()
            .ca_certificate(Certificate::from_pem(&self.ca_pem))
            .identity(Identity::from_pem(&self.cert_pem, &self.key_pem))
            .domain_name(PEER_TLS_DOMAIN)
    }
}

impl RaftConfig {
    /// A configuration with default timings.
    pub fn new(
        id: u64,
        data_dir: PathBuf,
        raft_addr: SocketAddr,
        advertise: PeerNode,
        cluster_name: impl Into<String>,
    ) -> RaftConfig {
        RaftConfig {
            id,
            data_dir,
            raft_addr,
            advertise,
            cluster_name: cluster_name.into(),
            heartbeat_ms: HEARTBEAT_MS_DEFAULT,
            election_min_ms: ELECTION_MIN_MS_DEFAULT,
            election_max_ms: ELECTION_MAX_MS_DEFAULT,
            snapshot_logs_since_last: SNAPSHOT_LOGS_SINCE_LAST_DEFAULT,
            logs_kept_after_snapshot: LOGS_KEPT_AFTER_SNAPSHOT_DEFAULT,
            snapshot_chunk_bytes: SNAPSHOT_CHUNK_BYTES,
            state_settings: prismnet_state::Settings::default(),
            peer_tls: None,
            min_free_bytes: crate::disk::MIN_FREE_BYTES_DEFAULT,
        }
    }

    pub(crate) fn openraft(&self) -> Result<Arc<openraft::Config>, RaftError> {
        if self.heartbeat_ms * 2 > self.election_min_ms {
            return Err(RaftError::Config(format!(
                "heartbeat {} ms must be at most half the minimum election timeout {} ms",
                self.heartbeat_ms, self.election_min_ms
            )));
        }
        if self.snapshot_logs_since_last == 0 {
            return Err(RaftError::Config(
                "snapshot_logs_since_last must be at least 1".into(),
            ));
        }
        // A chunk and its envelope must fit in one gRPC message.
        if self.snapshot_chunk_bytes == 0
            || self.snapshot_chunk_bytes > (MESSAGE_BYTES_MAX / 2) as u64
        {
            return Err(RaftError::Config(format!(
                "snapshot_chunk_bytes must be 1..={}",
                MESSAGE_BYTES_MAX / 2
            )));
        }
        let c = openraft::Config {
            cluster_name: self.cluster_name.clone(),
            heartbeat_interval: self.heartbeat_ms,
            election_timeout_min: self.election_min_ms,
            election_timeout_max: self.election_max_ms,
            max_payload_entries: APPEND_ENTRIES_MAX,
            snapshot_policy: SnapshotPolicy::LogsSinceLast(self.snapshot_logs_since_last),
            max_in_snapshot_log_to_keep: self.logs_kept_after_snapshot,
            snapshot_max_chunk_size: self.snapshot_chunk_bytes,
            ..Default::default()
        };
        c.validate()
            .map(Arc::new)
            .map_err(|e| RaftError::Config(e.to_string()))
    }
}
