//! ExternalNetworkService (admin only to change; every tenant may read).

use prismnet_api::v1;
use prismnet_api::v1::external_network_service_server::ExternalNetworkService;
use prismnet_state::read::Page;
use prismnet_state::{Command, View};
use tonic::{Request, Response, Status};

use super::{view, wrong_view, Service};
use crate::convert::{self, external_network::to_proto};

#[tonic::async_trait]
impl ExternalNetworkService for Service {
    async fn create_external_network(
        &self,
        req: Request<v1::CreateExternalNetworkRequest>,
    ) -> Result<Response<v1::ExternalNetwork>, Status> {
        let actor = self.ctx.actor(req.metadata())?;
        let r = req.get_ref();
        let cmd = Command::CreateExternalNetwork(convert::external_network::create(r)?);
        match view(
            self.ctx
                .write(req.metadata(), actor, &r.request_id, cmd)
                .await?,
        )? {
            View::ExternalNetwork(n) => Ok(Response::new(to_proto(&n))),
            v => Err(wrong_view(v)),
        }
    }

    async fn get_external_network(
        &self,
        req: Request<v1::GetExternalNetworkRequest>,
    ) -> Result<Response<v1::ExternalNetwork>, Status> {
        self.ctx.actor(req.metadata())?;
        let id = convert::id("id", &req.get_ref().id)?;
        Ok(Response::new(
            self.ctx
                .read(req.metadata(), |s| s.external_network(id).map(to_proto))
                .await?,
        ))
    }

    async fn list_external_networks(
        &self,
        req: Request<v1::ListExternalNetworksRequest>,
    ) -> Result<Response<v1::ListExternalNetworksResponse>, Status> {
        self.ctx.actor(req.metadata())?;
        let r = req.get_ref();
        let page: Page = convert::page(r.page_size, &r.page_token)?;
        let external_networks = self
            .ctx
            .read(req.metadata(), |s| {
                Ok(s.list_external_networks(page)
                    .into_iter()
                    .map(to_proto)
                    .collect::<Vec<_>>())
            })
            .await?;
        let next_page_token = convert::next_token(&external_networks, &page, |n| &n.id);
        Ok(Response::new(v1::ListExternalNetworksResponse {
            external_networks,
            next_page_token,
        }))
    }

    async fn delete_external_network(
        &self,
        req: Request<v1::DeleteExternalNetworkRequest>,
    ) -> Result<Response<v1::DeleteExternalNetworkResponse>, Status> {
        let actor = self.ctx.actor(req.metadata())?;
        let r = req.get_ref();
        let cmd = Command::DeleteExternalNetwork {
            network_id: convert::id("id", &r.id)?,
        };
        self.ctx
            .write(req.metadata(), actor, &r.request_id, cmd)
            .await?;
        Ok(Response::new(v1::DeleteExternalNetworkResponse {}))
    }
}
