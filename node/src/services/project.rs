//! ProjectService.

use prismnet_api::errors::reasons;
use prismnet_api::v1;
use prismnet_api::v1::project_service_server::ProjectService;
use prismnet_state::{Command, Scope, View};
use tonic::{Request, Response, Status};

use super::{view, wrong_view, Service};
use crate::convert::{self, project::project};
use crate::errors::invalid;

#[tonic::async_trait]
impl ProjectService for Service {
    async fn get_project(
        &self,
        req: Request<v1::GetProjectRequest>,
    ) -> Result<Response<v1::Project>, Status> {
        let actor = self.ctx.actor(req.metadata())?;
        let scope = convert::scope(&req.get_ref().org, &req.get_ref().project)?;
        Ok(Response::new(
            self.ctx
                .read(req.metadata(), |s| {
                    s.project(&actor, &scope).map(|p| project(&p))
                })
                .await?,
        ))
    }

    async fn list_projects(
        &self,
        req: Request<v1::ListProjectsRequest>,
    ) -> Result<Response<v1::ListProjectsResponse>, Status> {
        let actor = self.ctx.actor(req.metadata())?;
        let r = req.get_ref();
        // Projects are keyed by scope, not id: the page token is "org/project",
        // parsed back into the scope the next page starts after.
        let after = if r.page_token.is_empty() {
            None
        } else {
            let bad = || {
                invalid(
                    reasons::INVALID_PAGE_TOKEN,
                    "page_token",
                    &r.page_token,
                    "not a token from ListProjects",
                )
            };
            let (org, name) = r.page_token.split_once('/').ok_or_else(bad)?;
            Some(Scope::new(org, name).map_err(|_| bad())?)
        };
        let limit = if r.page_size == 0 {
            convert::PAGE_SIZE_DEFAULT
        } else {
            r.page_size as usize
        };
        let org = (!r.org.is_empty()).then(|| r.org.clone());
        let projects = self
            .ctx
            .read(req.metadata(), |s| {
                Ok(
                    s.list_projects(&actor, org.as_deref(), after.as_ref(), limit)
                        .iter()
                        .map(project)
                        .collect::<Vec<_>>(),
                )
            })
            .await?;
        let full = limit.min(prismnet_state::limits::PAGE_SIZE_MAX);
        let next_page_token = match projects.last() {
            Some(p) if projects.len() >= full => format!("{}/{}", p.org, p.project),
            _ => String::new(),
        };
        Ok(Response::new(v1::ListProjectsResponse {
            projects,
            next_page_token,
        }))
    }

    async fn set_quota(
        &self,
        req: Request<v1::SetQuotaRequest>,
    ) -> Result<Response<v1::Project>, Status> {
        let actor = self.ctx.actor(req.metadata())?;
        let r = req.get_ref();
        let quotas = r
            .quotas
            .as_ref()
            .ok_or_else(|| invalid("invalid_argument", "quotas", "", "missing"))?;
        let cmd = Command::SetQuotas {
            scope: convert::scope(&r.org, &r.project)?,
            quotas: convert::project::quota_patch(quotas),
        };
        match view(
            self.ctx
                .write(req.metadata(), actor, &r.request_id, cmd)
                .await?,
        )? {
            View::Project(p) => Ok(Response::new(project(&p))),
            v => Err(wrong_view(v)),
        }
    }
}
