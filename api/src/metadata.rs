//! Request/response metadata (header) names of the PrismNET API. Server, client and
//! tests import these constants so the wire names live in one place.

use tonic::metadata::MetadataMap;

/// Response metadata on a `not_leader` answer: the leader's node id (decimal).
pub const LEADER_ID_HEADER: &str = "x-prismnet-leader-id";
/// Response metadata on a `not_leader` answer: host:port of the leader's gRPC API.
pub const LEADER_ADDR_HEADER: &str = "x-prismnet-leader-addr";
/// Request metadata: `1` asks for a stale read, served by whichever node receives
/// it. Chosen over a request field so the node's redirect layer decides from headers
/// alone and the client applies one setting to every read. Ignored on writes.
pub const STALE_READ_HEADER: &str = "x-prismnet-stale";
/// The only value of [`STALE_READ_HEADER`] that asks for a stale read.
pub const STALE_READ_VALUE: &str = "1";
/// Request metadata: `Bearer <token>`.
pub const AUTHORIZATION_HEADER: &str = "authorization";
/// Response metadata on every answer: the answering node's applied log index
/// (decimal). Any value seen is an index the cluster has committed.
pub const REVISION_HEADER: &str = "x-prismnet-revision";
/// Request metadata on writes with a client-chosen request_id: a revision the
/// client saw before the FIRST attempt of this request (decimal), the same on every
/// retry. It lets the cluster tell a retry whose request id it no longer remembers
/// from a new request (`request_expired`). A write with a request_id and without
/// this header counts as having seen revision 0: safe, but refused once the cluster
/// has forgotten any request id.
pub const SEEN_REVISION_HEADER: &str = "x-prismnet-seen-revision";
/// Response metadata on the error answer to a write (value `1`): the request went
/// through the log and this is its outcome, as the state machine decided it (or, for
/// a repeated request id, the outcome it remembered). Such an answer is final for
/// the logical call even when an earlier attempt's answer was lost: that attempt was
/// either applied before this one (and answered for by it) or can never be applied
/// (Raft: an entry of an older term never commits after a newer term's entry).
pub const APPLIED_HEADER: &str = "x-prismnet-applied";

/// The decimal value of a revision header, if present and well formed.
pub fn revision(md: &MetadataMap, header: &str) -> Option<u64> {
    md.get(header)?.to_str().ok()?.trim().parse().ok()
}

/// Whether the request asked for a stale read (server side).
pub fn wants_stale_read(md: &MetadataMap) -> bool {
    md.get(STALE_READ_HEADER)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.trim() == STALE_READ_VALUE)
}

/// The bearer token of a request, if any (server side). A malformed header yields
/// `None`, which the server answers as unauthenticated.
pub fn bearer_token(md: &MetadataMap) -> Option<&str> {
    let value = md.get(AUTHORIZATION_HEADER)?.to_str().ok()?;
    let (scheme, token) = value.split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("bearer") {
        return None;
    }
    let token = token.trim();
    (!token.is_empty()).then_some(token)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_bearer_and_stale() {
        let mut md = MetadataMap::new();
        assert_eq!(bearer_token(&md), None);
        assert!(!wants_stale_read(&md));
        md.insert(AUTHORIZATION_HEADER, "Bearer abc".parse().unwrap());
        md.insert(STALE_READ_HEADER, "1".parse().unwrap());
        assert_eq!(bearer_token(&md), Some("abc"));
        assert!(wants_stale_read(&md));
        md.insert(AUTHORIZATION_HEADER, "Basic abc".parse().unwrap());
        md.insert(STALE_READ_HEADER, "0".parse().unwrap());
        assert_eq!(bearer_token(&md), None);
        assert!(!wants_stale_read(&md));
    }
}
