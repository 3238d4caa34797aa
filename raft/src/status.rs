//! A node's view of the cluster, from openraft's metrics, for operators and the API.

use std::collections::BTreeMap;

use serde::Serialize;

use crate::disk::DiskSpace;
use crate::types::{NodeId, PeerNode, RaftMetrics, ServerState};

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub enum Role {
    Leader,
    Follower,
    Learner,
    Candidate,
    /// Raft on this node has stopped (shutdown or a fatal storage error).
    Shutdown,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct NodeStatus {
    pub id: NodeId,
    pub role: Role,
    pub leader_id: Option<NodeId>,
    pub term: u64,
    /// Index of the last entry in this node's log (0 when empty).
    pub last_log_index: u64,
    /// Highest index this node knows to be committed.
    pub committed: u64,
    /// Index of the last entry applied to the state machine.
    pub applied: u64,
    pub voters: BTreeMap<NodeId, PeerNode>,
    pub learners: BTreeMap<NodeId, PeerNode>,
    /// On the leader: the highest index each other member has acknowledged.
    pub matched: Option<BTreeMap<NodeId, u64>>,
    /// Set when Raft stopped because of an error.
    pub fatal: Option<String>,
    /// This node's free space and minimum (`None` before a first measurement).
    pub disk: Option<DiskSpace>,
    /// Other members' free space as they last reported it in a peer-service reply
    /// (recent reports only). A leader hears from every member; a follower from
    /// nobody.
    pub peer_disks: BTreeMap<NodeId, DiskSpace>,
    /// Time since this node last heard from each peer it has heard from (see
    /// `network::PeerContacts`): a leader hears from every member; a follower
    /// from its leader.
    pub peer_contacts: BTreeMap<NodeId, std::time::Duration>,
}

impl NodeStatus {
    pub(crate) fn from_metrics(m: &RaftMetrics, committed: u64, applied: u64) -> NodeStatus {
        let role = match m.state {
            ServerState::Leader => Role::Leader,
            ServerState::Follower => Role::Follower,
            ServerState::Learner => Role::Learner,
            ServerState::Candidate => Role::Candidate,
            ServerState::Shutdown => Role::Shutdown,
        };
        let membership = m.membership_config.membership();
        let mut voters = BTreeMap::new();
        let mut learners = BTreeMap::new();
        let voter_ids: std::collections::BTreeSet<NodeId> = membership.voter_ids().collect();
        for (id, node) in membership.nodes() {
            if voter_ids.contains(id) {
                voters.insert(*id, node.clone());
            } else {
                learners.insert(*id, node.clone());
            }
        }
        // openraft's metrics report an apply a moment after the state machine did it.
        let applied = applied.max(m.last_applied.map_or(0, |l| l.index));
        NodeStatus {
            id: m.id,
            role,
            leader_id: m.current_leader,
            term: m.current_term,
            last_log_index: m.last_log_index.unwrap_or(0),
            // The log store's record may trail a fresh apply by one save.
            committed: committed.max(applied),
            applied,
            voters,
            learners,
            matched: m.replication.as_ref().map(|r| {
                r.iter()
                    .map(|(id, l)| (*id, l.map_or(0, |l| l.index)))
                    .collect()
            }),
            fatal: m.running_state.as_ref().err().map(|e| e.to_string()),
            disk: None,
            peer_disks: BTreeMap::new(),
            peer_contacts: BTreeMap::new(),
        }
    }
}
