//! Cluster status and snapshots.

use prismnet_api::v1::{self, NodeRole};
use serde::Serialize;

use super::{opt, Detail, Row};

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct MemberOut {
    pub id: u64,
    pub raft_addr: String,
    pub api_addr: String,
    /// `leader`, `follower`, `learner`, `candidate` or `unknown`.
    pub role: &'static str,
    /// Replication progress as the leader sees it; `null` in a follower's answer.
    pub matched_index: Option<u64>,
    /// `null` when the answering node cannot tell (a follower knows only itself
    /// and its leader; `prismctl cluster status` asks the leader when it can).
    pub reachable: Option<bool>,
    /// Milliseconds since the answering node last heard from this member; `null`
    /// when it has not (a follower hears only from its leader).
    pub last_contact_ms_ago: Option<u64>,
    /// The member's own OVN NB connection; known for the answering node only
    /// (`null` for the others).
    pub ovn_nb_connected: Option<bool>,
    /// The member leads and reaches NB, but NB's fence names another owner: it
    /// writes nothing until `prismctl ovn takeover --force`. Known for the
    /// answering node only.
    pub ovn_fenced_out: Option<bool>,
    /// `null` when healthy.
    pub error: Option<String>,
    /// Free space of the member's data dir as the answering node knows it; `null`
    /// when unknown (a follower knows only its own).
    pub disk: Option<DiskOut>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct DiskOut {
    pub free_bytes: u64,
    /// The member's `--min-free-mb` in bytes; 0 when its guard is off.
    pub min_free_bytes: u64,
    /// Below the minimum: no new log entries there, and writes refused
    /// (`disk_full`) when it leads or too many voters are low.
    pub low: bool,
}

impl DiskOut {
    /// `12.0 MiB free` or `LOW: 1.0 MiB free, min 16.0 MiB`.
    fn cell(&self) -> String {
        if self.low {
            format!(
                "LOW: {} free, min {}",
                bytes(self.free_bytes),
                bytes(self.min_free_bytes)
            )
        } else {
            format!("{} free", bytes(self.free_bytes))
        }
    }
}

/// `12.3 MiB`.
fn bytes(n: u64) -> String {
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut value = n as f64;
    let mut unit = 0;
    while value >= 1024.0 && unit < UNITS.len() - 1 {
        value /= 1024.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{n} B")
    } else {
        format!("{value:.1} {}", UNITS[unit])
    }
}

pub fn role_name(role: NodeRole) -> &'static str {
    match role {
        NodeRole::Leader => "leader",
        NodeRole::Follower => "follower",
        NodeRole::Learner => "learner",
        NodeRole::Candidate => "candidate",
        NodeRole::Unspecified => "unknown",
    }
}

impl MemberOut {
    /// `n` as reported by node `answering`, which leads when `answering_leads`.
    fn new(n: v1::NodeStatus, answering: u64, answering_leads: bool) -> Self {
        let health = n.health.clone().unwrap_or_default();
        // What the answering node can vouch for (see node/src/services/admin.rs):
        // itself, its leader, and as leader every member.
        let knows = n.id == answering || answering_leads || n.role() == NodeRole::Leader;
        MemberOut {
            role: role_name(n.role()),
            id: n.id,
            raft_addr: n.raft_addr,
            api_addr: n.api_addr,
            matched_index: n.matched_index,
            reachable: knows.then_some(health.reachable),
            last_contact_ms_ago: health.last_contact_ms_ago,
            ovn_nb_connected: (n.id == answering).then_some(health.ovn_nb_connected),
            ovn_fenced_out: (n.id == answering).then_some(health.ovn_fenced_out),
            error: opt(&health.error),
            disk: health.disk.map(|d| DiskOut {
                free_bytes: d.free_bytes,
                min_free_bytes: d.min_free_bytes,
                low: d.low,
            }),
        }
    }
}

impl Row for MemberOut {
    fn headers() -> &'static [&'static str] {
        &[
            "ID",
            "ROLE",
            "RAFT_ADDR",
            "API_ADDR",
            "MATCHED",
            "REACHABLE",
            "LAST_CONTACT",
            "OVN_NB",
            "DISK",
            "ERROR",
        ]
    }
    fn row(&self) -> Vec<String> {
        vec![
            self.id.to_string(),
            self.role.to_string(),
            self.raft_addr.clone(),
            self.api_addr.clone(),
            self.matched_index
                .map(|i| i.to_string())
                .unwrap_or_else(|| "-".to_string()),
            self.reachable
                .map_or_else(|| "-".to_string(), super::yes_no),
            self.last_contact_ms_ago
                .map_or_else(|| "-".to_string(), |ms| format!("{ms}ms")),
            match (self.ovn_nb_connected, self.ovn_fenced_out) {
                (_, Some(true)) => "fenced out".to_string(),
                (Some(c), _) => super::yes_no(c),
                (None, _) => "-".to_string(),
            },
            self.disk
                .map(|d| d.cell())
                .unwrap_or_else(|| "-".to_string()),
            super::cell_opt(&self.error),
        ]
    }
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ClusterStatusOut {
    /// The node that answered.
    pub node_id: u64,
    /// `null` when the node asked knows no leader (e.g. during an election).
    pub leader_id: Option<u64>,
    pub term: u64,
    pub commit_index: u64,
    pub applied_index: u64,
    pub members: Vec<MemberOut>,
}

impl From<v1::ClusterStatusResponse> for ClusterStatusOut {
    fn from(s: v1::ClusterStatusResponse) -> Self {
        ClusterStatusOut {
            node_id: s.node_id,
            leader_id: s.leader_id,
            term: s.term,
            commit_index: s.commit_index,
            applied_index: s.applied_index,
            members: s
                .nodes
                .into_iter()
                .map(|n| MemberOut::new(n, s.node_id, s.leader_id == Some(s.node_id)))
                .collect(),
        }
    }
}

impl Detail for ClusterStatusOut {
    fn fields(&self) -> Vec<(&'static str, String)> {
        vec![
            ("node_id", self.node_id.to_string()),
            (
                "leader_id",
                self.leader_id
                    .map(|l| l.to_string())
                    .unwrap_or_else(|| "none".to_string()),
            ),
            ("term", self.term.to_string()),
            ("commit_index", self.commit_index.to_string()),
            ("applied_index", self.applied_index.to_string()),
        ]
    }
    fn sections(&self) -> Vec<(&'static str, String)> {
        vec![("members", super::rows(&self.members))]
    }
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SnapshotOut {
    pub node_id: u64,
    pub snapshot_index: u64,
}

impl From<v1::TriggerSnapshotResponse> for SnapshotOut {
    fn from(s: v1::TriggerSnapshotResponse) -> Self {
        SnapshotOut {
            node_id: s.node_id,
            snapshot_index: s.snapshot_index,
        }
    }
}

impl Detail for SnapshotOut {
    fn fields(&self) -> Vec<(&'static str, String)> {
        vec![
            ("node_id", self.node_id.to_string()),
            ("snapshot_index", self.snapshot_index.to_string()),
        ]
    }
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SettingsOut {
    pub request_id_retention: u32,
    pub request_ids_remembered: u64,
    /// Every request record above this log index is remembered; 0 while none was
    /// forgotten.
    pub requests_forgotten_through: u64,
    pub oldest_request_index: u64,
    /// `null` until a leader named it.
    pub incarnation: Option<String>,
    pub mac_prefix: String,
    pub revision: u64,
}

impl From<v1::ClusterSettings> for SettingsOut {
    fn from(s: v1::ClusterSettings) -> Self {
        SettingsOut {
            request_id_retention: s.request_id_retention,
            request_ids_remembered: s.request_ids_remembered,
            requests_forgotten_through: s.requests_forgotten_through,
            oldest_request_index: s.oldest_request_index,
            incarnation: opt(&s.incarnation),
            mac_prefix: s.mac_prefix,
            revision: s.revision,
        }
    }
}

impl Detail for SettingsOut {
    fn fields(&self) -> Vec<(&'static str, String)> {
        vec![
            (
                "request_id_retention",
                self.request_id_retention.to_string(),
            ),
            (
                "request_ids_remembered",
                self.request_ids_remembered.to_string(),
            ),
            (
                "requests_forgotten_through",
                self.requests_forgotten_through.to_string(),
            ),
            (
                "oldest_request_index",
                self.oldest_request_index.to_string(),
            ),
            ("incarnation", super::cell_opt(&self.incarnation)),
            ("mac_prefix", self.mac_prefix.clone()),
            ("revision", self.revision.to_string()),
        ]
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::output::{one, Format};

    fn node(id: u64, role: NodeRole) -> v1::NodeStatus {
        v1::NodeStatus {
            id,
            raft_addr: format!("10.0.0.{id}:7000"),
            api_addr: format!("10.0.0.{id}:7001"),
            role: role as i32,
            matched_index: None,
            health: Some(v1::NodeHealth {
                reachable: true,
                last_contact_ms_ago: Some(12),
                ovn_nb_connected: false,
                ovn_fenced_out: false,
                error: String::new(),
                disk: None,
            }),
        }
    }

    #[test]
    fn json_shape_with_and_without_leader() {
        let mut s = v1::ClusterStatusResponse {
            node_id: 2,
            leader_id: None,
            term: 7,
            commit_index: 10,
            applied_index: 10,
            nodes: vec![
                node(1, NodeRole::Candidate),
                node(2, NodeRole::Follower),
                node(3, NodeRole::Learner),
            ],
        };
        let j: serde_json::Value =
            serde_json::from_str(&one(Format::Json, &ClusterStatusOut::from(s.clone())).unwrap())
                .unwrap();
        assert_eq!(j["leader_id"], serde_json::Value::Null);
        assert!(j.as_object().unwrap().contains_key("leader_id"));
        assert_eq!(j["term"], 7);
        assert_eq!(j["members"][0]["role"], "candidate");
        assert_eq!(j["members"][1]["role"], "follower");
        assert_eq!(j["members"][2]["role"], "learner");
        assert_eq!(j["members"][0]["id"], 1);
        assert_eq!(j["members"][0]["raft_addr"], "10.0.0.1:7000");
        assert_eq!(j["members"][0]["api_addr"], "10.0.0.1:7001");
        assert_eq!(j["members"][0]["matched_index"], serde_json::Value::Null);

        s.leader_id = Some(1);
        s.nodes[0].role = NodeRole::Leader as i32;
        let out = ClusterStatusOut::from(s);
        let j: serde_json::Value = serde_json::from_str(&one(Format::Json, &out).unwrap()).unwrap();
        assert_eq!(j["leader_id"], 1);
        assert_eq!(j["members"][0]["role"], "leader");

        let t = one(Format::Table, &out).unwrap();
        assert!(t.starts_with("node_id        2\nleader_id      1\n"), "{t}");
        assert!(t.contains("\nmembers:\nID  ROLE      RAFT_ADDR"), "{t}");
        assert!(t.contains("\n1   leader    10.0.0.1:7000"), "{t}");
    }

    /// A follower's answer says nothing of the other follower's reachability
    /// nor of anyone's NB connection but its own; the leader's answer knows
    /// every member's reachability.
    #[test]
    fn unknown_health_is_null_not_no() {
        let mut s = v1::ClusterStatusResponse {
            node_id: 2,
            leader_id: Some(1),
            term: 3,
            commit_index: 5,
            applied_index: 5,
            nodes: vec![
                node(1, NodeRole::Leader),
                node(2, NodeRole::Follower),
                node(3, NodeRole::Follower),
            ],
        };
        let j: serde_json::Value =
            serde_json::from_str(&one(Format::Json, &ClusterStatusOut::from(s.clone())).unwrap())
                .unwrap();
        assert_eq!(j["members"][0]["reachable"], true);
        assert_eq!(j["members"][1]["reachable"], true);
        assert_eq!(j["members"][2]["reachable"], serde_json::Value::Null);
        assert_eq!(j["members"][0]["ovn_nb_connected"], serde_json::Value::Null);
        assert_eq!(j["members"][1]["ovn_nb_connected"], false);

        s.node_id = 1;
        let j: serde_json::Value =
            serde_json::from_str(&one(Format::Json, &ClusterStatusOut::from(s)).unwrap()).unwrap();
        assert_eq!(j["members"][2]["reachable"], true);
        assert_eq!(j["members"][2]["ovn_nb_connected"], serde_json::Value::Null);
        assert_eq!(j["members"][0]["ovn_nb_connected"], false);
    }

    #[test]
    fn disk_state_in_json_and_table() {
        let mut low = node(1, NodeRole::Leader);
        if let Some(h) = low.health.as_mut() {
            h.disk = Some(v1::DiskHealth {
                free_bytes: 3 << 20,
                min_free_bytes: 16 << 20,
                low: true,
            });
            h.error = "disk low: 3.0 MiB free, minimum 16.0 MiB".into();
        }
        let mut fine = node(2, NodeRole::Follower);
        if let Some(h) = fine.health.as_mut() {
            h.disk = Some(v1::DiskHealth {
                free_bytes: 5 << 30,
                min_free_bytes: 256 << 20,
                low: false,
            });
        }
        let s = v1::ClusterStatusResponse {
            node_id: 1,
            leader_id: Some(1),
            term: 2,
            commit_index: 3,
            applied_index: 3,
            nodes: vec![low, fine, node(3, NodeRole::Follower)],
        };
        let out = ClusterStatusOut::from(s);
        let j: serde_json::Value = serde_json::from_str(&one(Format::Json, &out).unwrap()).unwrap();
        assert_eq!(j["members"][0]["disk"]["low"], true);
        assert_eq!(j["members"][0]["disk"]["free_bytes"], 3u64 << 20);
        assert_eq!(j["members"][1]["disk"]["min_free_bytes"], 256u64 << 20);
        assert_eq!(j["members"][2]["disk"], serde_json::Value::Null);
        let t = one(Format::Table, &out).unwrap();
        assert!(t.contains("LOW: 3.0 MiB free, min 16.0 MiB"), "{t}");
        assert!(
            t.contains("disk low: 3.0 MiB free, minimum 16.0 MiB"),
            "{t}"
        );
        assert!(t.contains("5.0 GiB free"), "{t}");
    }
}
