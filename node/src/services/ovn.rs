//! OvnService. The NB driver runs on the leader when `--ovn-nb` is set (OVN issue);
//! until it is wired in, status says what this node knows and the driver operations
//! answer plainly that they are not available.

use prismnet_api::errors::status_with_reason;
use prismnet_api::v1;
use prismnet_api::v1::ovn_service_server::OvnService;
use tonic::{Code, Request, Response, Status};

use super::Service;

impl Service {
    fn driver_unavailable(&self) -> Status {
        if self.ctx.ovn_nb.is_empty() {
            status_with_reason(
                Code::FailedPrecondition,
                prismnet_api::errors::reasons::OVN_DRIVER_OFF,
                "this cluster runs without the OVN driver (no --ovn-nb)",
            )
        } else {
            status_with_reason(
                Code::Unimplemented,
                "unimplemented",
                "the OVN driver is not wired into prismnetd yet",
            )
        }
    }
}

#[tonic::async_trait]
impl OvnService for Service {
    async fn ovn_status(
        &self,
        req: Request<v1::OvnStatusRequest>,
    ) -> Result<Response<v1::OvnStatusResponse>, Status> {
        self.ctx.actor(req.metadata())?;
        let st = self.ctx.raft.status();
        Ok(Response::new(v1::OvnStatusResponse {
            leader_id: st.leader_id.unwrap_or(0),
            nb_connected: false,
            nb_address: self.ctx.ovn_nb.join(","),
            applied_index: st.applied,
            ..Default::default()
        }))
    }

    async fn ovn_diff(
        &self,
        req: Request<v1::OvnDiffRequest>,
    ) -> Result<Response<v1::OvnDiffResponse>, Status> {
        self.ctx.actor(req.metadata())?;
        Err(self.driver_unavailable())
    }

    async fn ovn_takeover(
        &self,
        req: Request<v1::OvnTakeoverRequest>,
    ) -> Result<Response<v1::OvnTakeoverResponse>, Status> {
        self.ctx.actor(req.metadata())?;
        Err(self.driver_unavailable())
    }
}
