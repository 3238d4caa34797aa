//! openraft's generic types, bound once for PrismNET. Nothing else in the crate spells
//! `<TypeConfig>` or `<u64, PeerNode>`: it uses the aliases below.

use std::fmt;
use std::io::Cursor;
use std::sync::Arc;

use prismnet_state::{Applied, Proposal, StateError};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

openraft::declare_raft_types!(
    /// PrismNET's Raft: log entries carry a [`LogPayload`] (a batch of proposals),
    /// applying one yields an [`ApplyResponse`]; snapshots travel as bytes of `State::write_snapshot`.
    pub TypeConfig:
        D = LogPayload,
        R = ApplyResponse,
        NodeId = NodeId,
        Node = PeerNode,
        Entry = openraft::Entry<TypeConfig>,
        SnapshotData = Cursor<Vec<u8>>,
        AsyncRuntime = crate::runtime::Runtime,
);

pub type NodeId = u64;
pub type LogId = openraft::LogId<NodeId>;
pub type Vote = openraft::Vote<NodeId>;
pub type Entry = openraft::Entry<TypeConfig>;
pub type EntryPayload = openraft::EntryPayload<TypeConfig>;
pub type Membership = openraft::Membership<NodeId, PeerNode>;
pub type StoredMembership = openraft::StoredMembership<NodeId, PeerNode>;
pub type SnapshotMeta = openraft::SnapshotMeta<NodeId, PeerNode>;
pub type Snapshot = openraft::Snapshot<TypeConfig>;
pub type LogState = openraft::storage::LogState<TypeConfig>;
pub type StorageError = openraft::StorageError<NodeId>;
pub type StorageIOError = openraft::StorageIOError<NodeId>;
pub type Raft = openraft::Raft<TypeConfig>;
pub type RaftMetrics = openraft::RaftMetrics<NodeId, PeerNode>;
pub type ServerState = openraft::ServerState;

pub type AppendEntriesRequest = openraft::raft::AppendEntriesRequest<TypeConfig>;
pub type AppendEntriesResponse = openraft::raft::AppendEntriesResponse<NodeId>;
pub type VoteRequest = openraft::raft::VoteRequest<NodeId>;
pub type VoteResponse = openraft::raft::VoteResponse<NodeId>;
pub type InstallSnapshotRequest = openraft::raft::InstallSnapshotRequest<TypeConfig>;
pub type InstallSnapshotResponse = openraft::raft::InstallSnapshotResponse<NodeId>;

/// openraft's error of a Raft API call, with the API-specific part `E`.
pub type OpenraftError<E = openraft::error::Infallible> = openraft::error::RaftError<NodeId, E>;
pub type InstallSnapshotError = openraft::error::InstallSnapshotError;
pub type RpcError<E = openraft::error::Infallible> =
    openraft::error::RPCError<NodeId, PeerNode, OpenraftError<E>>;
pub type ClientWriteError = openraft::error::ClientWriteError<NodeId, PeerNode>;
pub type CheckIsLeaderError = openraft::error::CheckIsLeaderError<NodeId, PeerNode>;
pub type ForwardToLeader = openraft::error::ForwardToLeader<NodeId, PeerNode>;

/// A cluster member as the membership config records it: where peers reach its
/// Raft service, and where clients reach its public API (for leader redirects).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PeerNode {
    pub raft_addr: String,
    pub api_addr: String,
}

impl fmt::Display for PeerNode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "raft={} api={}", self.raft_addr, self.api_addr)
    }
}

/// Client requests carried by one log entry at most: the state machine's own bound
/// on a batch (`State::apply_batch` refuses more).
pub const BATCH_PROPOSALS_MAX: usize = prismnet_state::limits::PROPOSALS_PER_ENTRY_MAX;

/// Largest encoded proposal accepted for proposing. A proposal always fits one log
/// entry on its own, and an entry must fit an AppendEntries message together with
/// `APPEND_ENTRIES_MAX - 1` others (see `config.rs`).
pub const PROPOSAL_BYTES_MAX: usize = 1 << 20;

/// Largest encoded payload of one entry: one maximal proposal (a batch stops
/// growing below this, see `batcher::BATCH_BYTES_MAX`) plus the batch framing.
pub const ENTRY_BYTES_MAX: usize = PROPOSAL_BYTES_MAX + 16 * 1024;

/// Version byte of the batch payload format (see [`LogPayload`]).
const PAYLOAD_BATCH_V1: u8 = 1;
/// First byte of a payload written before batching: a bare `Envelope::V1(Proposal)`
/// (postcard writes the variant index 0 first). Read only.
const PAYLOAD_LEGACY_SINGLE: u8 = 0;

/// Why a payload's bytes could not be decoded (a damaged disk or a peer speaking
/// another format); openraft turns it into a storage or network error.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PayloadError {
    #[error("empty log payload")]
    Empty,
    #[error("unknown log payload format version {0}")]
    UnknownVersion(u8),
    #[error("log payload truncated or malformed: {0}")]
    Malformed(&'static str),
    #[error("log payload holds {0} proposals, more than {BATCH_PROPOSALS_MAX}")]
    TooMany(u64),
    #[error("proposal {position} of the batch: {reason}")]
    Proposal { position: usize, reason: String },
}

/// The application payload of a log entry: a batch of client [`Proposal`]s, applied
/// in order with `State::apply_batch`, each with its own outcome.
///
/// On disk and on the wire it is the bytes below (kept alongside the decoded
/// proposals, so a batch is encoded once on the leader, whatever the number of
/// times it is written or sent):
///
/// ```text
/// batch v1  := 0x01 count:varint { len:varint proposal:[u8; len] }*count
/// proposal  := Proposal::encode()  (the state machine's own versioned Envelope)
/// legacy    := 0x00 ...            a single Envelope::V1 proposal (read only)
/// varint    := unsigned LEB128, at most 10 bytes
/// ```
/// Each proposal keeps the state machine's versioning; the leading byte versions the
/// framing. A build that changes the framing adds a version byte and keeps a
/// reader for this one.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LogPayload {
    proposals: Vec<Proposal>,
    encoded: Arc<[u8]>,
}

impl LogPayload {
    /// A batch of proposals in their encoded form (`Proposal::encode`), as the
    /// batcher collected them. The caller keeps the bounds (count and bytes).
    pub(crate) fn from_encoded(proposals: Vec<Proposal>, encoded: &[&[u8]]) -> LogPayload {
        debug_assert_eq!(proposals.len(), encoded.len());
        let body: usize = encoded.iter().map(|e| e.len() + 5).sum();
        let mut out = Vec::with_capacity(1 + 5 + body);
        out.push(PAYLOAD_BATCH_V1);
        put_varint(&mut out, encoded.len() as u64);
        for e in encoded {
            put_varint(&mut out, e.len() as u64);
            out.extend_from_slice(e);
        }
        LogPayload {
            proposals,
            encoded: out.into(),
        }
    }

    /// A batch, encoding each proposal. For tests and tools; the write path
    /// encodes proposals on the callers' tasks instead.
    pub fn new(proposals: Vec<Proposal>) -> LogPayload {
        let encoded: Vec<Vec<u8>> = proposals.iter().map(Proposal::encode).collect();
        let refs: Vec<&[u8]> = encoded.iter().map(Vec::as_slice).collect();
        LogPayload::from_encoded(proposals, &refs)
    }

    pub fn proposals(&self) -> &[Proposal] {
        &self.proposals
    }

    /// The bytes stored in the log and sent to peers.
    pub fn encoded(&self) -> &[u8] {
        &self.encoded
    }

    /// Decodes bytes from a disk or a peer; never panics.
    pub fn decode(bytes: &[u8]) -> Result<LogPayload, PayloadError> {
        let (&version, mut rest) = bytes.split_first().ok_or(PayloadError::Empty)?;
        let proposals = match version {
            PAYLOAD_BATCH_V1 => {
                let count = take_varint(&mut rest)?;
                if count > BATCH_PROPOSALS_MAX as u64 {
                    return Err(PayloadError::TooMany(count));
                }
                let mut proposals = Vec::with_capacity(count as usize);
                for position in 0..count as usize {
                    let len = take_varint(&mut rest)?;
                    let len = usize::try_from(len)
                        .ok()
                        .filter(|l| *l <= rest.len())
                        .ok_or(PayloadError::Malformed("proposal longer than the payload"))?;
                    let (p, tail) = rest.split_at(len);
                    rest = tail;
                    proposals.push(Proposal::decode(p).map_err(|e| PayloadError::Proposal {
                        position,
                        reason: e.to_string(),
                    })?);
                }
                if !rest.is_empty() {
                    return Err(PayloadError::Malformed("bytes after the last proposal"));
                }
                proposals
            }
            PAYLOAD_LEGACY_SINGLE => {
                vec![Proposal::decode(bytes).map_err(|e| PayloadError::Proposal {
                    position: 0,
                    reason: e.to_string(),
                })?]
            }
            v => return Err(PayloadError::UnknownVersion(v)),
        };
        Ok(LogPayload {
            proposals,
            encoded: bytes.into(),
        })
    }
}

fn put_varint(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

fn take_varint(bytes: &mut &[u8]) -> Result<u64, PayloadError> {
    let mut v: u64 = 0;
    for i in 0..10 {
        let (&b, rest) = bytes
            .split_first()
            .ok_or(PayloadError::Malformed("varint cut short"))?;
        *bytes = rest;
        let bits = u64::from(b & 0x7f);
        if i == 9 && bits > 1 {
            return Err(PayloadError::Malformed("varint overflows 64 bits"));
        }
        v |= bits << (7 * i);
        if b & 0x80 == 0 {
            return Ok(v);
        }
    }
    Err(PayloadError::Malformed("varint longer than 10 bytes"))
}

impl fmt::Display for LogPayload {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.proposals.as_slice() {
            [one] => write!(f, "request {}", one.request.request_id),
            many => write!(f, "batch of {} requests", many.len()),
        }
    }
}

impl Serialize for LogPayload {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_bytes(&self.encoded)
    }
}

impl<'de> Deserialize<'de> for LogPayload {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<LogPayload, D::Error> {
        struct Bytes;
        impl<'de> serde::de::Visitor<'de> for Bytes {
            type Value = LogPayload;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("an encoded PrismNET proposal batch")
            }
            fn visit_bytes<E: serde::de::Error>(self, v: &[u8]) -> Result<LogPayload, E> {
                LogPayload::decode(v).map_err(E::custom)
            }
            fn visit_byte_buf<E: serde::de::Error>(self, v: Vec<u8>) -> Result<LogPayload, E> {
                self.visit_bytes(&v)
            }
            // Self-describing formats (JSON) write bytes as a sequence of numbers.
            fn visit_seq<A: serde::de::SeqAccess<'de>>(
                self,
                mut seq: A,
            ) -> Result<LogPayload, A::Error> {
                let mut v = Vec::with_capacity(seq.size_hint().unwrap_or(0).min(1 << 16));
                while let Some(b) = seq.next_element::<u8>()? {
                    v.push(b);
                }
                self.visit_bytes(&v)
            }
        }
        d.deserialize_bytes(Bytes)
    }
}

/// What applying one log entry returned.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum ApplyResponse {
    /// A blank or membership entry: Raft's own, nothing for a client.
    Internal,
    /// The outcomes of a batch of client commands, one per proposal, in order. A
    /// rejected command (`Err`) is still committed and applied: the rejection is its
    /// deterministic outcome on every replica, and the others in the batch are
    /// unaffected.
    Batch(Vec<Result<Applied, StateError>>),
}

#[cfg(test)]
mod tests {
    use prismnet_state::{Proposal, Stamp};

    use super::*;
    use crate::workload::Workload;

    fn proposals(n: usize) -> Vec<Proposal> {
        let mut w = Workload::new("p1", "r");
        (0..n)
            .map(|i| Proposal {
                request: w.create_vpc(&format!("v{i}"), "10.0.0.0/16"),
                stamp: Stamp { time_ms: i as u64 },
            })
            .collect()
    }

    /// - a batch survives the log's postcard encoding and the JSON one unchanged
    /// - the framing is the documented one: version 1, count, then each proposal's
    ///   own envelope bytes with its length
    #[test]
    fn batch_round_trip_and_layout() {
        let p = LogPayload::new(proposals(3));
        let bytes = crate::codec::encode("payload", &p).unwrap();
        let back: LogPayload = crate::codec::decode("payload", &bytes).unwrap();
        assert_eq!(back, p);
        let json = serde_json::to_string(&p).unwrap();
        assert_eq!(serde_json::from_str::<LogPayload>(&json).unwrap(), p);

        let first = p.proposals()[0].encode();
        let enc = p.encoded();
        assert_eq!(enc[0], PAYLOAD_BATCH_V1);
        assert_eq!(enc[1], 3);
        assert_eq!(usize::from(enc[2]), first.len());
        assert_eq!(&enc[3..3 + first.len()], &first[..]);
        assert_eq!(LogPayload::decode(enc).unwrap(), p);
    }

    /// - a payload written before batching (a bare V1 proposal envelope, the only
    ///   kind ever written bare) reads as a batch of one, without `seen_index`
    #[test]
    fn legacy_single_proposal_reads_as_batch_of_one() {
        use prismnet_state::command::v1;
        let p = proposals(1).remove(0);
        let old = v1::Proposal {
            request: v1::Request {
                actor: p.request.actor.clone(),
                request_id: p.request.request_id.clone(),
                command: p.request.command.clone(),
            },
            stamp: p.stamp,
        };
        let legacy = postcard::to_stdvec(&prismnet_state::Envelope::V1(old)).unwrap();
        assert_eq!(legacy[0], PAYLOAD_LEGACY_SINGLE);
        let back = LogPayload::decode(&legacy).unwrap();
        assert_eq!(back.proposals(), std::slice::from_ref(&p));
        assert_eq!(back.proposals()[0].request.seen_index, None);
    }

    /// - damaged bytes are errors, never panics: empty, unknown version, cut
    ///   anywhere, trailing bytes, a count over the bound, a huge length, a bad
    ///   varint
    #[test]
    fn damaged_payloads_are_refused() {
        let good = LogPayload::new(proposals(2)).encoded().to_vec();
        assert_eq!(LogPayload::decode(&[]), Err(PayloadError::Empty));
        assert_eq!(
            LogPayload::decode(&[7]),
            Err(PayloadError::UnknownVersion(7))
        );
        for cut in 1..good.len() {
            assert!(LogPayload::decode(&good[..cut]).is_err(), "cut at {cut}");
        }
        let mut trailing = good.clone();
        trailing.push(0);
        assert!(LogPayload::decode(&trailing).is_err());
        let mut many = vec![PAYLOAD_BATCH_V1];
        put_varint(&mut many, BATCH_PROPOSALS_MAX as u64 + 1);
        assert_eq!(
            LogPayload::decode(&many),
            Err(PayloadError::TooMany(BATCH_PROPOSALS_MAX as u64 + 1))
        );
        let mut huge = vec![PAYLOAD_BATCH_V1, 1];
        put_varint(&mut huge, u64::MAX);
        assert!(LogPayload::decode(&huge).is_err());
        let endless = [
            PAYLOAD_BATCH_V1,
            0xff,
            0xff,
            0xff,
            0xff,
            0xff,
            0xff,
            0xff,
            0xff,
            0xff,
            0xff,
            0x01,
        ];
        assert!(LogPayload::decode(&endless).is_err());
        let mut flipped = good;
        flipped[3] ^= 0xff;
        assert!(LogPayload::decode(&flipped).is_err());
    }

    #[test]
    fn varints_round_trip() {
        for v in [0, 1, 127, 128, 300, u32::MAX as u64, u64::MAX] {
            let mut b = Vec::new();
            put_varint(&mut b, v);
            let mut s = b.as_slice();
            assert_eq!(take_varint(&mut s), Ok(v));
            assert!(s.is_empty());
        }
    }
}
