//! The leader's view of the OVN Northbound DB.

use prismnet_api::v1::{self, DriftKind};
use serde::Serialize;

use super::{cell, timestamp, yes_no, Detail, Row};

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct OvnStatusOut {
    pub leader_id: u64,
    pub nb_connected: bool,
    pub nb_address: String,
    pub fence_epoch: u64,
    pub synced_index: u64,
    pub applied_index: u64,
    pub pending_objects: u64,
    pub error_objects: u64,
    pub last_reconcile_at_ms: u64,
    /// `idle`, `confirming`, `claiming`, `held`, `fenced_out` or `unknown`.
    pub fence_state: &'static str,
    /// The epoch the leader writes with (`term/node/incarnation`).
    pub own_epoch: String,
    /// What NB's fence key holds (empty when absent or unknown).
    pub stored_epoch: String,
    /// Why the leader does not write NB and how to take over; `null` when it writes.
    pub fence_detail: Option<String>,
}

fn fence_state_name(s: v1::OvnFenceState) -> &'static str {
    match s {
        v1::OvnFenceState::Idle => "idle",
        v1::OvnFenceState::Confirming => "confirming",
        v1::OvnFenceState::Claiming => "claiming",
        v1::OvnFenceState::Held => "held",
        v1::OvnFenceState::FencedOut => "fenced_out",
        v1::OvnFenceState::Unspecified => "unknown",
    }
}

impl From<v1::OvnStatusResponse> for OvnStatusOut {
    fn from(s: v1::OvnStatusResponse) -> Self {
        let fence = s.fence.clone().unwrap_or_default();
        OvnStatusOut {
            fence_state: fence_state_name(fence.state()),
            own_epoch: fence.own_epoch,
            stored_epoch: fence.stored_epoch,
            fence_detail: super::opt(&fence.detail),
            leader_id: s.leader_id,
            nb_connected: s.nb_connected,
            nb_address: s.nb_address,
            fence_epoch: s.fence_epoch,
            synced_index: s.synced_index,
            applied_index: s.applied_index,
            pending_objects: s.pending_objects,
            error_objects: s.error_objects,
            last_reconcile_at_ms: s.last_reconcile_at_ms,
        }
    }
}

impl Detail for OvnStatusOut {
    fn fields(&self) -> Vec<(&'static str, String)> {
        vec![
            ("leader_id", self.leader_id.to_string()),
            ("nb_connected", yes_no(self.nb_connected)),
            ("nb_address", cell(&self.nb_address)),
            ("fence_state", self.fence_state.to_string()),
            ("fence_epoch", self.fence_epoch.to_string()),
            ("own_epoch", cell(&self.own_epoch)),
            ("stored_epoch", cell(&self.stored_epoch)),
            ("fence_detail", super::cell_opt(&self.fence_detail)),
            ("synced_index", self.synced_index.to_string()),
            ("applied_index", self.applied_index.to_string()),
            ("pending_objects", self.pending_objects.to_string()),
            ("error_objects", self.error_objects.to_string()),
            ("last_reconcile", timestamp(self.last_reconcile_at_ms)),
        ]
    }
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DriftOut {
    pub table: String,
    pub name: String,
    /// `missing`, `extra`, `different` or `unknown`.
    pub kind: &'static str,
    pub detail: String,
}

impl From<v1::OvnDrift> for DriftOut {
    fn from(d: v1::OvnDrift) -> Self {
        DriftOut {
            kind: match d.kind() {
                DriftKind::Missing => "missing",
                DriftKind::Extra => "extra",
                DriftKind::Different => "different",
                DriftKind::Unspecified => "unknown",
            },
            table: d.table,
            name: d.name,
            detail: d.detail,
        }
    }
}

impl Row for DriftOut {
    fn headers() -> &'static [&'static str] {
        &["TABLE", "NAME", "KIND", "DETAIL"]
    }
    fn row(&self) -> Vec<String> {
        vec![
            self.table.clone(),
            self.name.clone(),
            self.kind.to_string(),
            cell(&self.detail),
        ]
    }
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TakeoverOut {
    pub fence_epoch: u64,
    pub repaired_objects: u64,
    /// The epoch now in NB, and the value it replaced (empty when there was none).
    pub epoch: String,
    pub previous_epoch: String,
}

impl From<v1::OvnTakeoverResponse> for TakeoverOut {
    fn from(t: v1::OvnTakeoverResponse) -> Self {
        TakeoverOut {
            fence_epoch: t.fence_epoch,
            repaired_objects: t.repaired_objects,
            epoch: t.epoch,
            previous_epoch: t.previous_epoch,
        }
    }
}

impl Detail for TakeoverOut {
    fn fields(&self) -> Vec<(&'static str, String)> {
        vec![
            ("fence_epoch", self.fence_epoch.to_string()),
            ("epoch", cell(&self.epoch)),
            ("previous_epoch", cell(&self.previous_epoch)),
            ("repaired_objects", self.repaired_objects.to_string()),
        ]
    }
}
