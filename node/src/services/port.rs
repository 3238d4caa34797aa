//! PortService: what PlasmaVMC calls to boot a VM.

use prismnet_api::v1;
use prismnet_api::v1::port_service_server::PortService;
use prismnet_state::model::Port;
use prismnet_state::read::PortFilter;
use prismnet_state::{Command, State, View};
use tonic::{Code, Request, Response, Status};

use super::{view, wrong_view, Service};
use crate::convert::{self, port::to_proto};

/// A port as the API shows it: with its project and VPC from its subnet.
fn port_proto(s: &State, p: &Port) -> v1::Port {
    to_proto(p, subnet_of(s, p), None)
}

/// The port's subnet. Looked up as admin: the caller was already authorized for
/// the port, and a port's subnet is in the port's project.
fn subnet_of<'a>(s: &'a State, p: &Port) -> Option<&'a prismnet_state::model::Subnet> {
    s.subnet(&prismnet_state::Actor::Admin, p.subnet_id).ok()
}

impl Service {
    fn port_answer(&self, v: View) -> Result<(Port, v1::Port), Status> {
        match v {
            View::Port(p) => {
                let proto = self.ctx.local(|s| port_proto(s, &p));
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
        let applied = self.ctx.write(actor, &r.request_id, cmd).await?;
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
        let port = self
            .ctx
            .read(req.metadata(), |s| {
                s.port(&actor, id).map(|p| port_proto(s, p))
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
        let ports = self
            .ctx
            .read(req.metadata(), |s| {
                Ok(s.list_ports(&actor, &filter, page)?
                    .into_iter()
                    .map(|p| port_proto(s, p))
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
        // Whether a port is up is what OVN reports to the leader's NB driver; a node
        // without the driver cannot know it, and says so rather than guess.
        let _ = self.ctx.actor(req.metadata())?;
        Err(prismnet_api::errors::status_with_reason(
            Code::FailedPrecondition,
            prismnet_api::errors::reasons::OVN_DRIVER_OFF,
            "port state comes from OVN, and this cluster runs without the OVN driver",
        ))
    }
}
