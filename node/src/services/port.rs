//! PortService: what PlasmaVMC calls to boot a VM.

use prismnet_api::v1;
use prismnet_api::v1::port_service_server::PortService;
use prismnet_state::model::Port;
use prismnet_state::read::PortFilter;
use prismnet_state::{Command, State, View};
use std::time::Duration;

use prismnet_ovn::reconcile::SyncState;
use prismnet_ovn::translate::names::KIND_PORT;
use prismnet_ovn::DriverStatus;
use tonic::{Code, Request, Response, Status};

/// Longest wait a WaitPortUp call may ask for.
const WAIT_UP_MAX_MS: u64 = 300_000;

use super::{view, wrong_view, Service};
use crate::convert::{self, port::to_proto};

/// What the leader's NB driver reports of a port: its NB sync state and whether
/// OVN says it is up. None on followers and without the driver (they cannot know).
fn ovn_of(ovn: Option<&DriverStatus>, p: &Port) -> Option<(v1::OvnSync, bool)> {
    let st = ovn?;
    let id = p.id.to_string();
    let sync = match st.sync_state(KIND_PORT, &id) {
        Some(SyncState::Synced) => v1::OvnSync {
            state: v1::OvnSyncState::Synced as i32,
            reason: String::new(),
        },
        Some(SyncState::Error(r)) => v1::OvnSync {
            state: v1::OvnSyncState::Error as i32,
            reason: r,
        },
        Some(SyncState::Pending) | None => v1::OvnSync {
            state: v1::OvnSyncState::Pending as i32,
            reason: String::new(),
        },
    };
    Some((sync, st.port_up(&id) == Some(true)))
}

/// A port as the API shows it: with its project and VPC from its subnet, and the
/// OVN status when this node drives NB.
fn port_proto(s: &State, p: &Port, ovn: Option<&DriverStatus>) -> v1::Port {
    to_proto(p, subnet_of(s, p), ovn_of(ovn, p))
}

/// The port's subnet. Looked up as admin: the caller was already authorized for
/// the port, and a port's subnet is in the port's project.
fn subnet_of<'a>(s: &'a State, p: &Port) -> Option<&'a prismnet_state::model::Subnet> {
    s.subnet(&prismnet_state::Actor::Admin, p.subnet_id).ok()
}

/// Whose driver a WaitPortUp waits on: this node's, if it runs one and still leads.
/// Leadership may have moved since the call's read: then the new leader's driver
/// knows, and the caller is redirected like after any leader change (it used to
/// get `ovn_driver_off`, as if the cluster had no driver).
fn driver_to_wait_on<D>(
    driver: Option<D>,
    leading: impl FnOnce() -> Result<u64, Status>,
) -> Result<D, Status> {
    let Some(driver) = driver else {
        return Err(prismnet_api::errors::status_with_reason(
            Code::FailedPrecondition,
            prismnet_api::errors::reasons::OVN_DRIVER_OFF,
            "port state comes from OVN, and this cluster runs without the OVN driver",
        ));
    };
    leading()?;
    Ok(driver)
}

impl Service {
    /// The driver status, when this node leads and drives NB.
    fn leader_ovn(&self) -> Option<DriverStatus> {
        let ovn = self.ctx.ovn.as_ref()?;
        self.ctx.raft.leader_term()?;
        Some(ovn.driver.status())
    }

    fn port_answer(&self, v: View) -> Result<(Port, v1::Port), Status> {
        match v {
            View::Port(p) => {
                let ovn = self.leader_ovn();
                let proto = self.ctx.local(|s| port_proto(s, &p, ovn.as_ref()));
                Ok((p, proto))
            }
            v => Err(wrong_view(v)),
        }
    }
}

#[tonic::async_trait]
impl PortService for Service {
    async fn create_port(
        &self,
        req: Request<v1::CreatePortRequest>,
    ) -> Result<Response<v1::CreatePortResponse>, Status> {
        let actor = self.ctx.actor(req.metadata())?;
        let r = req.get_ref();
        let applied = self
            .ctx
            .write(
                req.metadata(),
                actor,
                &r.request_id,
                Command::CreatePort(convert::port::create(r)?),
            )
            .await?;
        let (port, proto) = self.port_answer(view(applied)?)?;
        let answer = self
            .ctx
            .local(|s| subnet_of(s, &port).map(|sn| convert::port::nic(proto.clone(), &port, sn)));
        Ok(Response::new(answer.unwrap_or(v1::CreatePortResponse {
            port: Some(proto),
            ..Default::default()
        })))
    }

    async fn bind_port(
        &self,
        req: Request<v1::BindPortRequest>,
    ) -> Result<Response<v1::Port>, Status> {
        let actor = self.ctx.actor(req.metadata())?;
        let r = req.get_ref();
        let cmd = Command::BindPort {
            port_id: convert::id("port_id", &r.port_id)?,
            host: r.host.clone(),
        };
        let applied = self
            .ctx
            .write(req.metadata(), actor, &r.request_id, cmd)
            .await?;
        Ok(Response::new(self.port_answer(view(applied)?)?.1))
    }

    async fn update_port(
        &self,
        req: Request<v1::UpdatePortRequest>,
    ) -> Result<Response<v1::Port>, Status> {
        let actor = self.ctx.actor(req.metadata())?;
        let r = req.get_ref();
        let applied = self
            .ctx
            .write(
                req.metadata(),
                actor,
                &r.request_id,
                Command::UpdatePort(convert::port::update(r)?),
            )
            .await?;
        Ok(Response::new(self.port_answer(view(applied)?)?.1))
    }

    async fn delete_port(
        &self,
        req: Request<v1::DeletePortRequest>,
    ) -> Result<Response<v1::DeletePortResponse>, Status> {
        let actor = self.ctx.actor(req.metadata())?;
        let r = req.get_ref();
        self.ctx
            .write(
                req.metadata(),
                actor,
                &r.request_id,
                Command::DeletePort {
                    port_id: convert::id("port_id", &r.port_id)?,
                },
            )
            .await?;
        Ok(Response::new(v1::DeletePortResponse {}))
    }

    async fn get_port(
        &self,
        req: Request<v1::GetPortRequest>,
    ) -> Result<Response<v1::Port>, Status> {
        let actor = self.ctx.actor(req.metadata())?;
        let id = convert::id("port_id", &req.get_ref().port_id)?;
        let ovn = self.leader_ovn();
        let port = self
            .ctx
            .read(req.metadata(), |s| {
                s.port(&actor, id).map(|p| port_proto(s, p, ovn.as_ref()))
            })
            .await?;
        Ok(Response::new(port))
    }

    async fn list_ports(
        &self,
        req: Request<v1::ListPortsRequest>,
    ) -> Result<Response<v1::ListPortsResponse>, Status> {
        let actor = self.ctx.actor(req.metadata())?;
        let r = req.get_ref();
        let filter = PortFilter {
            scope: convert::opt_scope(&r.org, &r.project)?,
            subnet_id: convert::opt_id("subnet_id", &r.subnet_id)?,
            device_id: (!r.device_id.is_empty()).then(|| r.device_id.clone()),
        };
        let page = convert::page(r.page_size, &r.page_token)?;
        let ovn = self.leader_ovn();
        let ports = self
            .ctx
            .read(req.metadata(), |s| {
                Ok(s.list_ports(&actor, &filter, page)?
                    .into_iter()
                    .map(|p| port_proto(s, p, ovn.as_ref()))
                    .collect::<Vec<_>>())
            })
            .await?;
        let next_page_token = convert::next_token(&ports, &page, |p| &p.id);
        Ok(Response::new(v1::ListPortsResponse {
            ports,
            next_page_token,
        }))
    }

    async fn wait_port_up(
        &self,
        req: Request<v1::WaitPortUpRequest>,
    ) -> Result<Response<v1::Port>, Status> {
        let actor = self.ctx.actor(req.metadata())?;
        let r = req.get_ref();
        let id = convert::id("port_id", &r.port_id)?;
        // The port must exist and be the caller's; a linearizable read also sends
        // the call to the leader, whose driver knows what OVN reports.
        self.ctx
            .read(&tonic::metadata::MetadataMap::new(), |s| {
                s.port(&actor, id).map(|_| ())
            })
            .await?;
        let driver = self.ctx.ovn.as_ref().map(|o| o.driver.status());
        let ovn = driver_to_wait_on(driver, || self.leading_term())?;
        let timeout = Duration::from_millis(u64::from(r.timeout_ms).min(WAIT_UP_MAX_MS));
        ovn.wait_port_up(&id.to_string(), timeout).await;
        // Up or not, the answer is the port as it is now (`up` tells which).
        let port = self
            .ctx
            .read(&tonic::metadata::MetadataMap::new(), |s| {
                s.port(&actor, id).map(|p| port_proto(s, p, Some(&ovn)))
            })
            .await?;
        Ok(Response::new(port))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use prismnet_api::errors::{no_leader_status, not_leader_status, reason_of, reasons};

    #[test]
    fn wait_port_up_redirects_when_leadership_moved() {
        let off = driver_to_wait_on(None::<()>, || Ok(3)).unwrap_err();
        assert_eq!(reason_of(&off).as_deref(), Some(reasons::OVN_DRIVER_OFF));
        let moved = driver_to_wait_on(Some(()), || Err(not_leader_status(Some(2), Some("h:1"))))
            .unwrap_err();
        assert_eq!(reason_of(&moved).as_deref(), Some(reasons::NOT_LEADER));
        let electing = driver_to_wait_on(Some(()), || Err(no_leader_status())).unwrap_err();
        assert_eq!(reason_of(&electing).as_deref(), Some(reasons::NO_LEADER));
        assert!(driver_to_wait_on(Some(()), || Ok(3)).is_ok());
    }
}
