//! SubnetService.

use prismnet_api::v1;
use prismnet_api::v1::subnet_service_server::SubnetService;
use prismnet_state::{Actor, Command, Id, State, StateError, View};
use tonic::{Request, Response, Status};

use super::{view, wrong_view, Service};
use crate::convert::{self, subnet::to_proto};

/// A subnet with its allocation figures.
fn with_usage(s: &State, actor: &Actor, id: Id) -> Result<v1::Subnet, StateError> {
    let subnet = s.subnet(actor, id)?;
    Ok(to_proto(subnet, s.subnet_usage(actor, id).ok()))
}

impl Service {
    fn subnet_answer(&self, actor: &Actor, v: View) -> Result<v1::Subnet, Status> {
        match v {
            View::Subnet(sn) => Ok(self
                .ctx
                .local(|s| s.subnet_usage(actor, sn.id).ok())
                .map_or_else(|| to_proto(&sn, None), |u| to_proto(&sn, Some(u)))),
            v => Err(wrong_view(v)),
        }
    }
}

#[tonic::async_trait]
impl SubnetService for Service {
    async fn create_subnet(
        &self,
        req: Request<v1::CreateSubnetRequest>,
    ) -> Result<Response<v1::Subnet>, Status> {
        let actor = self.ctx.actor(req.metadata())?;
        let r = req.get_ref();
        let cmd = Command::CreateSubnet(convert::subnet::create(r)?);
        let applied = self
            .ctx
            .write(req.metadata(), actor.clone(), &r.request_id, cmd)
            .await?;
        Ok(Response::new(self.subnet_answer(&actor, view(applied)?)?))
    }

    async fn get_subnet(
        &self,
        req: Request<v1::GetSubnetRequest>,
    ) -> Result<Response<v1::Subnet>, Status> {
        let actor = self.ctx.actor(req.metadata())?;
        let id = convert::id("id", &req.get_ref().id)?;
        Ok(Response::new(
            self.ctx
                .read(req.metadata(), |s| with_usage(s, &actor, id))
                .await?,
        ))
    }

    async fn list_subnets(
        &self,
        req: Request<v1::ListSubnetsRequest>,
    ) -> Result<Response<v1::ListSubnetsResponse>, Status> {
        let actor = self.ctx.actor(req.metadata())?;
        let r = req.get_ref();
        let scope = convert::opt_scope(&r.org, &r.project)?;
        let vpc = convert::opt_id("vpc_id", &r.vpc_id)?;
        let page = convert::page(r.page_size, &r.page_token)?;
        let subnets = self
            .ctx
            .read(req.metadata(), |s| {
                let list = s.list_subnets(&actor, scope.as_ref(), vpc, page)?;
                Ok(list
                    .into_iter()
                    .map(|sn| to_proto(sn, s.subnet_usage(&actor, sn.id).ok()))
                    .collect::<Vec<_>>())
            })
            .await?;
        let next_page_token = convert::next_token(&subnets, &page, |s| &s.id);
        Ok(Response::new(v1::ListSubnetsResponse {
            subnets,
            next_page_token,
        }))
    }

    async fn update_subnet(
        &self,
        req: Request<v1::UpdateSubnetRequest>,
    ) -> Result<Response<v1::Subnet>, Status> {
        let actor = self.ctx.actor(req.metadata())?;
        let r = req.get_ref();
        let cmd = Command::UpdateSubnet(convert::subnet::update(r)?);
        let applied = self
            .ctx
            .write(req.metadata(), actor.clone(), &r.request_id, cmd)
            .await?;
        Ok(Response::new(self.subnet_answer(&actor, view(applied)?)?))
    }

    async fn delete_subnet(
        &self,
        req: Request<v1::DeleteSubnetRequest>,
    ) -> Result<Response<v1::DeleteSubnetResponse>, Status> {
        let actor = self.ctx.actor(req.metadata())?;
        let r = req.get_ref();
        let cmd = Command::DeleteSubnet {
            subnet_id: convert::id("id", &r.id)?,
        };
        self.ctx
            .write(req.metadata(), actor, &r.request_id, cmd)
            .await?;
        Ok(Response::new(v1::DeleteSubnetResponse {}))
    }
}
