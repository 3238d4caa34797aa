//! VpcService.

use prismnet_api::v1;
use prismnet_api::v1::vpc_service_server::VpcService;
use prismnet_state::{Command, View};
use tonic::{Request, Response, Status};

use super::{view, wrong_view, Service};
use crate::convert::{self, vpc::to_proto};

fn vpc_view(v: View) -> Result<v1::Vpc, Status> {
    match v {
        View::Vpc(v) => Ok(to_proto(&v)),
        v => Err(wrong_view(v)),
    }
}

#[tonic::async_trait]
impl VpcService for Service {
    async fn create_vpc(
        &self,
        req: Request<v1::CreateVpcRequest>,
    ) -> Result<Response<v1::Vpc>, Status> {
        let actor = self.ctx.actor(req.metadata())?;
        let r = req.get_ref();
        let applied = self
            .ctx
            .write(
                req.metadata(),
                actor,
                &r.request_id,
                Command::CreateVpc(convert::vpc::create(r)?),
            )
            .await?;
        Ok(Response::new(vpc_view(view(applied)?)?))
    }

    async fn get_vpc(&self, req: Request<v1::GetVpcRequest>) -> Result<Response<v1::Vpc>, Status> {
        let actor = self.ctx.actor(req.metadata())?;
        let id = convert::id("id", &req.get_ref().id)?;
        let vpc = self
            .ctx
            .read(req.metadata(), |s| s.vpc(&actor, id).map(to_proto))
            .await?;
        Ok(Response::new(vpc))
    }

    async fn list_vpcs(
        &self,
        req: Request<v1::ListVpcsRequest>,
    ) -> Result<Response<v1::ListVpcsResponse>, Status> {
        let actor = self.ctx.actor(req.metadata())?;
        let r = req.get_ref();
        let scope = convert::opt_scope(&r.org, &r.project)?;
        let page = convert::page(r.page_size, &r.page_token)?;
        let vpcs = self
            .ctx
            .read(req.metadata(), |s| {
                Ok(s.list_vpcs(&actor, scope.as_ref(), page)?
                    .into_iter()
                    .map(to_proto)
                    .collect::<Vec<_>>())
            })
            .await?;
        let next_page_token = convert::next_token(&vpcs, &page, |v| &v.id);
        Ok(Response::new(v1::ListVpcsResponse {
            vpcs,
            next_page_token,
        }))
    }

    async fn update_vpc(
        &self,
        req: Request<v1::UpdateVpcRequest>,
    ) -> Result<Response<v1::Vpc>, Status> {
        let actor = self.ctx.actor(req.metadata())?;
        let r = req.get_ref();
        let applied = self
            .ctx
            .write(
                req.metadata(),
                actor,
                &r.request_id,
                Command::UpdateVpc(convert::vpc::update(r)?),
            )
            .await?;
        Ok(Response::new(vpc_view(view(applied)?)?))
    }

    async fn set_gateway(
        &self,
        req: Request<v1::SetGatewayRequest>,
    ) -> Result<Response<v1::Vpc>, Status> {
        let actor = self.ctx.actor(req.metadata())?;
        let r = req.get_ref();
        let cmd = Command::SetVpcGateway {
            vpc_id: convert::id("vpc_id", &r.vpc_id)?,
            network_id: convert::id("external_network_id", &r.external_network_id)?,
            enable_snat: r.enable_snat,
        };
        let applied = self
            .ctx
            .write(req.metadata(), actor, &r.request_id, cmd)
            .await?;
        Ok(Response::new(vpc_view(view(applied)?)?))
    }

    async fn clear_gateway(
        &self,
        req: Request<v1::ClearGatewayRequest>,
    ) -> Result<Response<v1::Vpc>, Status> {
        let actor = self.ctx.actor(req.metadata())?;
        let r = req.get_ref();
        let cmd = Command::ClearVpcGateway {
            vpc_id: convert::id("vpc_id", &r.vpc_id)?,
        };
        let applied = self
            .ctx
            .write(req.metadata(), actor, &r.request_id, cmd)
            .await?;
        Ok(Response::new(vpc_view(view(applied)?)?))
    }

    async fn delete_vpc(
        &self,
        req: Request<v1::DeleteVpcRequest>,
    ) -> Result<Response<v1::DeleteVpcResponse>, Status> {
        let actor = self.ctx.actor(req.metadata())?;
        let r = req.get_ref();
        self.ctx
            .write(
                req.metadata(),
                actor,
                &r.request_id,
                Command::DeleteVpc {
                    vpc_id: convert::id("id", &r.id)?,
                },
            )
            .await?;
        Ok(Response::new(v1::DeleteVpcResponse {}))
    }
}
