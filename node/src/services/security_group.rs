//! SecurityGroupService.

use prismnet_api::v1;
use prismnet_api::v1::get_security_group_request::Lookup;
use prismnet_api::v1::security_group_service_server::SecurityGroupService;
use prismnet_state::{Command, Outcome, View};
use tonic::{Request, Response, Status};

use super::{view, wrong_view, Service};
use crate::convert::{self, security_group::to_proto};
use crate::errors::invalid;

fn group_view(v: View) -> Result<v1::SecurityGroup, Status> {
    match v {
        View::SecurityGroup(g) => Ok(to_proto(&g)),
        v => Err(wrong_view(v)),
    }
}

#[tonic::async_trait]
impl SecurityGroupService for Service {
    async fn create_security_group(
        &self,
        req: Request<v1::CreateSecurityGroupRequest>,
    ) -> Result<Response<v1::SecurityGroup>, Status> {
        let actor = self.ctx.actor(req.metadata())?;
        let r = req.get_ref();
        let cmd = Command::CreateSecurityGroup {
            scope: convert::scope(&r.org, &r.project)?,
            name: r.name.clone(),
            description: r.description.clone(),
            rules: r
                .rules
                .iter()
                .map(convert::security_group::rule)
                .collect::<Result<_, _>>()?,
        };
        let applied = self
            .ctx
            .write(req.metadata(), actor, &r.request_id, cmd)
            .await?;
        Ok(Response::new(group_view(view(applied)?)?))
    }

    async fn get_security_group(
        &self,
        req: Request<v1::GetSecurityGroupRequest>,
    ) -> Result<Response<v1::SecurityGroup>, Status> {
        let actor = self.ctx.actor(req.metadata())?;
        let group = match &req.get_ref().lookup {
            Some(Lookup::Id(id)) => {
                let id = convert::id("id", id)?;
                self.ctx
                    .read(req.metadata(), |s| {
                        s.security_group(&actor, id).map(to_proto)
                    })
                    .await?
            }
            Some(Lookup::ByName(n)) => {
                let scope = convert::scope(&n.org, &n.project)?;
                self.ctx
                    .read(req.metadata(), |s| {
                        s.security_group_by_name(&actor, &scope, &n.name)
                            .map(to_proto)
                    })
                    .await?
            }
            None => {
                return Err(invalid(
                    "invalid_argument",
                    "lookup",
                    "",
                    "give an id or a name",
                ))
            }
        };
        Ok(Response::new(group))
    }

    async fn list_security_groups(
        &self,
        req: Request<v1::ListSecurityGroupsRequest>,
    ) -> Result<Response<v1::ListSecurityGroupsResponse>, Status> {
        let actor = self.ctx.actor(req.metadata())?;
        let r = req.get_ref();
        let scope = convert::opt_scope(&r.org, &r.project)?;
        let page = convert::page(r.page_size, &r.page_token)?;
        let security_groups = self
            .ctx
            .read(req.metadata(), |s| {
                Ok(s.list_security_groups(&actor, scope.as_ref(), page)?
                    .into_iter()
                    .map(to_proto)
                    .collect::<Vec<_>>())
            })
            .await?;
        let next_page_token = convert::next_token(&security_groups, &page, |g| &g.id);
        Ok(Response::new(v1::ListSecurityGroupsResponse {
            security_groups,
            next_page_token,
        }))
    }

    async fn delete_security_group(
        &self,
        req: Request<v1::DeleteSecurityGroupRequest>,
    ) -> Result<Response<v1::DeleteSecurityGroupResponse>, Status> {
        let actor = self.ctx.actor(req.metadata())?;
        let r = req.get_ref();
        let cmd = Command::DeleteSecurityGroup {
            group_id: convert::id("id", &r.id)?,
        };
        self.ctx
            .write(req.metadata(), actor, &r.request_id, cmd)
            .await?;
        Ok(Response::new(v1::DeleteSecurityGroupResponse {}))
    }

    async fn add_rule(
        &self,
        req: Request<v1::AddRuleRequest>,
    ) -> Result<Response<v1::AddRuleResponse>, Status> {
        let actor = self.ctx.actor(req.metadata())?;
        let r = req.get_ref();
        let spec = r
            .rule
            .as_ref()
            .ok_or_else(|| invalid("invalid_argument", "rule", "", "missing"))?;
        let cmd = Command::AddSecurityGroupRule {
            group_id: convert::id("security_group_id", &r.security_group_id)?,
            rule: convert::security_group::rule(spec)?,
        };
        let applied = self
            .ctx
            .write(req.metadata(), actor, &r.request_id, cmd)
            .await?;
        let rule_id = match applied.outcome {
            Outcome::RuleAdded { rule_id, .. } => rule_id.to_string(),
            _ => String::new(),
        };
        let group = group_view(view(applied)?)?;
        let rule = group.rules.iter().find(|x| x.id == rule_id).cloned();
        Ok(Response::new(v1::AddRuleResponse {
            rule,
            security_group: Some(group),
        }))
    }

    async fn remove_rule(
        &self,
        req: Request<v1::RemoveRuleRequest>,
    ) -> Result<Response<v1::SecurityGroup>, Status> {
        let actor = self.ctx.actor(req.metadata())?;
        let r = req.get_ref();
        let cmd = Command::RemoveSecurityGroupRule {
            group_id: convert::id("security_group_id", &r.security_group_id)?,
            rule_id: convert::id("rule_id", &r.rule_id)?,
        };
        let applied = self
            .ctx
            .write(req.metadata(), actor, &r.request_id, cmd)
            .await?;
        Ok(Response::new(group_view(view(applied)?)?))
    }
}
