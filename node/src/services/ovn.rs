//! OvnService: the NB driver's status, drift and takeover.

use std::sync::Arc;

use prismnet_api::errors::{reasons, status_with_reason};
use prismnet_api::v1;
use prismnet_api::v1::ovn_service_server::OvnService;
use prismnet_ovn::reconcile::{Change, FenceState, SyncState};
use prismnet_ovn::DriverError;
use tonic::{Code, Request, Response, Status};

use super::Service;
use crate::ovn::Ovn;

fn driver_error(e: DriverError) -> Status {
    match e {
        // A node that believes it leads but cannot confirm it (deposed, or cut from
        // its quorum): the client library retries elsewhere and finds the leader.
        DriverError::NotLeading => status_with_reason(
            Code::Unavailable,
            reasons::NO_LEADER,
            "this node could not confirm its leadership with a quorum; retry",
        ),
        DriverError::Fence(f @ prismnet_ovn::reconcile::FenceError::Refused { .. }) => {
            status_with_reason(
                Code::FailedPrecondition,
                reasons::OVN_FENCED_OUT,
                f.to_string(),
            )
        }
        e => status_with_reason(Code::Unavailable, "ovn_nb_unavailable", e.to_string()),
    }
}

/// The fence as the API shows it.
fn fence(f: &FenceState, cluster: &str) -> v1::OvnFence {
    let state = match f {
        FenceState::Idle => v1::OvnFenceState::Idle,
        FenceState::Confirming { .. } => v1::OvnFenceState::Confirming,
        FenceState::Claiming { .. } => v1::OvnFenceState::Claiming,
        FenceState::Held { .. } => v1::OvnFenceState::Held,
        FenceState::FencedOut { .. } => v1::OvnFenceState::FencedOut,
    };
    let stored = match f {
        FenceState::Held { epoch } => epoch.to_string(),
        FenceState::FencedOut { stored, .. } => stored.value(),
        _ => String::new(),
    };
    v1::OvnFence {
        state: state as i32,
        own_epoch: f.epoch().map(|e| e.to_string()).unwrap_or_default(),
        stored_epoch: stored,
        detail: f.detail(cluster).unwrap_or_default(),
    }
}

fn drift(c: &Change) -> v1::OvnDrift {
    let kind = match c {
        Change::Insert { .. } => v1::DriftKind::Missing,
        Change::Delete { .. } => v1::DriftKind::Extra,
        Change::Update { .. } | Change::Link { .. } => v1::DriftKind::Different,
    };
    v1::OvnDrift {
        table: c.table().name().to_string(),
        name: c.key().to_string(),
        kind: kind as i32,
        detail: c.to_string(),
    }
}

impl Service {
    fn ovn(&self) -> Result<&Arc<Ovn>, Status> {
        self.ctx.ovn.as_ref().ok_or_else(|| {
            status_with_reason(
                Code::FailedPrecondition,
                reasons::OVN_DRIVER_OFF,
                "this cluster runs without the OVN driver (no --ovn-nb)",
            )
        })
    }
}

#[tonic::async_trait]
impl OvnService for Service {
    async fn ovn_status(
        &self,
        req: Request<v1::OvnStatusRequest>,
    ) -> Result<Response<v1::OvnStatusResponse>, Status> {
        self.ctx.actor(req.metadata())?;
        let ovn = self.ovn()?;
        // The driver runs on the leader: its status is the leader's to give, unless
        // the caller asked for this node's own view.
        if !prismnet_api::metadata::wants_stale_read(req.metadata()) {
            self.leading_term()?;
        }
        let st = self.ctx.raft.status();
        let ds = ovn.driver.status();
        let states = ds.sync_states();
        let fence_state = ds.fence_state();
        Ok(Response::new(v1::OvnStatusResponse {
            leader_id: st.leader_id.unwrap_or(0),
            nb_connected: ovn.nb_connected(),
            nb_address: ovn
                .driver
                .config()
                .client
                .remotes
                .iter()
                .map(|r| r.to_string())
                .collect::<Vec<_>>()
                .join(","),
            fence_epoch: match &fence_state {
                FenceState::Held { epoch } => epoch.term,
                _ => 0,
            },
            synced_index: ds.synced_index().unwrap_or(0),
            applied_index: st.applied,
            pending_objects: states
                .values()
                .filter(|s| **s == SyncState::Pending)
                .count() as u64,
            error_objects: states
                .values()
                .filter(|s| matches!(s, SyncState::Error(_)))
                .count() as u64,
            last_reconcile_at_ms: 0,
            fence: Some(fence(&fence_state, &ovn.driver.config().cluster_name)),
        }))
    }

    async fn ovn_diff(
        &self,
        req: Request<v1::OvnDiffRequest>,
    ) -> Result<Response<v1::OvnDiffResponse>, Status> {
        self.require_admin(req.metadata(), "reading the OVN drift")?;
        let ovn = self.ovn()?;
        let r = req.get_ref();
        let d = ovn
            .driver
            .diff(&*ovn.state_source())
            .await
            .map_err(driver_error)?;
        let start: usize = if r.page_token.is_empty() {
            0
        } else {
            r.page_token.parse().map_err(|_| {
                crate::errors::invalid(
                    reasons::INVALID_PAGE_TOKEN,
                    "page_token",
                    &r.page_token,
                    "not a token from this call",
                )
            })?
        };
        let size = if r.page_size == 0 {
            crate::convert::PAGE_SIZE_DEFAULT
        } else {
            r.page_size as usize
        };
        let drifts: Vec<v1::OvnDrift> =
            d.changes.iter().skip(start).take(size).map(drift).collect();
        let next = start + drifts.len();
        let next_page_token = if next < d.changes.len() {
            next.to_string()
        } else {
            String::new()
        };
        Ok(Response::new(v1::OvnDiffResponse {
            drifts,
            next_page_token,
        }))
    }

    async fn ovn_takeover(
        &self,
        req: Request<v1::OvnTakeoverRequest>,
    ) -> Result<Response<v1::OvnTakeoverResponse>, Status> {
        self.require_admin(req.metadata(), "taking over OVN NB")?;
        let ovn = self.ovn()?;
        // Followers redirect; a node that only believes it leads is caught by the
        // driver, which confirms the leadership with a quorum before it claims.
        let term = self.leading_term()?;
        let force = req.get_ref().force;
        tracing::warn!(term, force, "operator takeover of OVN NB");
        let claimed = ovn.driver.takeover(force).await.map_err(driver_error)?;
        Ok(Response::new(v1::OvnTakeoverResponse {
            fence_epoch: claimed.epoch.term,
            repaired_objects: 0,
            epoch: claimed.epoch.to_string(),
            previous_epoch: claimed.previous.value(),
        }))
    }
}
