//! FloatingIpService.

use prismnet_api::v1;
use prismnet_api::v1::floating_ip_service_server::FloatingIpService;
use prismnet_state::{Command, View};
use tonic::{Request, Response, Status};

use super::{view, wrong_view, Service};
use crate::convert::{self, floating_ip::to_proto};

fn fip_view(v: View) -> Result<v1::FloatingIp, Status> {
    match v {
        View::FloatingIp(f) => Ok(to_proto(&f)),
        v => Err(wrong_view(v)),
    }
}

#[tonic::async_trait]
impl FloatingIpService for Service {
    async fn create_floating_ip(
        &self,
        req: Request<v1::CreateFloatingIpRequest>,
    ) -> Result<Response<v1::FloatingIp>, Status> {
        let actor = self.ctx.actor(req.metadata())?;
        let r = req.get_ref();
        let associate = match convert::opt_id("port_id", &r.port_id)? {
            Some(port) => Some((
                port,
                convert::opt_ip("fixed_ip_address", &r.fixed_ip_address)?,
            )),
            None => None,
        };
        let cmd = Command::CreateFloatingIp {
            scope: convert::scope(&r.org, &r.project)?,
            network_id: convert::id("external_network_id", &r.external_network_id)?,
            ip: convert::opt_ip("floating_ip_address", &r.floating_ip_address)?,
            associate,
        };
        Ok(Response::new(fip_view(view(
            self.ctx
                .write(req.metadata(), actor, &r.request_id, cmd)
                .await?,
        )?)?))
    }

    async fn get_floating_ip(
        &self,
        req: Request<v1::GetFloatingIpRequest>,
    ) -> Result<Response<v1::FloatingIp>, Status> {
        let actor = self.ctx.actor(req.metadata())?;
        let id = convert::id("id", &req.get_ref().id)?;
        Ok(Response::new(
            self.ctx
                .read(req.metadata(), |s| s.floating_ip(&actor, id).map(to_proto))
                .await?,
        ))
    }

    async fn list_floating_ips(
        &self,
        req: Request<v1::ListFloatingIpsRequest>,
    ) -> Result<Response<v1::ListFloatingIpsResponse>, Status> {
        let actor = self.ctx.actor(req.metadata())?;
        let r = req.get_ref();
        let scope = convert::opt_scope(&r.org, &r.project)?;
        let page = convert::page(r.page_size, &r.page_token)?;
        let floating_ips = self
            .ctx
            .read(req.metadata(), |s| {
                Ok(s.list_floating_ips(&actor, scope.as_ref(), page)?
                    .into_iter()
                    .map(to_proto)
                    .collect::<Vec<_>>())
            })
            .await?;
        let next_page_token = convert::next_token(&floating_ips, &page, |f| &f.id);
        Ok(Response::new(v1::ListFloatingIpsResponse {
            floating_ips,
            next_page_token,
        }))
    }

    async fn associate_floating_ip(
        &self,
        req: Request<v1::AssociateFloatingIpRequest>,
    ) -> Result<Response<v1::FloatingIp>, Status> {
        let actor = self.ctx.actor(req.metadata())?;
        let r = req.get_ref();
        let cmd = Command::AssociateFloatingIp {
            fip_id: convert::id("floating_ip_id", &r.floating_ip_id)?,
            port_id: convert::id("port_id", &r.port_id)?,
            fixed_ip: convert::opt_ip("fixed_ip_address", &r.fixed_ip_address)?,
        };
        Ok(Response::new(fip_view(view(
            self.ctx
                .write(req.metadata(), actor, &r.request_id, cmd)
                .await?,
        )?)?))
    }

    async fn disassociate_floating_ip(
        &self,
        req: Request<v1::DisassociateFloatingIpRequest>,
    ) -> Result<Response<v1::FloatingIp>, Status> {
        let actor = self.ctx.actor(req.metadata())?;
        let r = req.get_ref();
        let cmd = Command::DisassociateFloatingIp {
            fip_id: convert::id("floating_ip_id", &r.floating_ip_id)?,
        };
        Ok(Response::new(fip_view(view(
            self.ctx
                .write(req.metadata(), actor, &r.request_id, cmd)
                .await?,
        )?)?))
    }

    async fn delete_floating_ip(
        &self,
        req: Request<v1::DeleteFloatingIpRequest>,
    ) -> Result<Response<v1::DeleteFloatingIpResponse>, Status> {
        let actor = self.ctx.actor(req.metadata())?;
        let r = req.get_ref();
        self.ctx
            .write(
                req.metadata(),
                actor,
                &r.request_id,
                Command::DeleteFloatingIp {
                    fip_id: convert::id("id", &r.id)?,
                },
            )
            .await?;
        Ok(Response::new(v1::DeleteFloatingIpResponse {}))
    }
}
