//! `prismctl project ...`

use clap::{Args, Subcommand};
use prismnet_api::v1::{GetProjectRequest, ListProjectsRequest, QuotaUpdate, SetQuotaRequest};

use crate::error::CliError;
use crate::output::project::ProjectOut;
use crate::Ctx;

use super::all_pages;

#[derive(Debug, Subcommand)]
pub enum ProjectCmd {
    /// A project's quotas and usage.
    Show {
        project: String,
        #[arg(long, env = "PRISMNET_ORG", value_name = "O")]
        org: Option<String>,
    },
    /// Projects of an org (every org when none is given; admin only).
    List {
        #[arg(long, env = "PRISMNET_ORG", value_name = "O")]
        org: Option<String>,
    },
    /// Change quotas (admin only); only the limits given change. Creates the project
    /// if it does not exist yet.
    SetQuota {
        project: String,
        #[arg(long, env = "PRISMNET_ORG", value_name = "O")]
        org: Option<String>,
        #[command(flatten)]
        quotas: QuotaArgs,
    },
}

#[derive(Debug, Clone, Default, Args)]
pub struct QuotaArgs {
    #[arg(long, value_name = "N")]
    pub ports: Option<u32>,
    #[arg(long, value_name = "N")]
    pub vpcs: Option<u32>,
    #[arg(long, value_name = "N")]
    pub subnets: Option<u32>,
    #[arg(long, value_name = "N")]
    pub security_groups: Option<u32>,
    #[arg(long, value_name = "N")]
    pub rules_per_group: Option<u32>,
    #[arg(long, value_name = "N")]
    pub floating_ips: Option<u32>,
}

impl From<&QuotaArgs> for QuotaUpdate {
    fn from(q: &QuotaArgs) -> Self {
        QuotaUpdate {
            vpcs: q.vpcs,
            subnets: q.subnets,
            ports: q.ports,
            security_groups: q.security_groups,
            rules_per_group: q.rules_per_group,
            floating_ips: q.floating_ips,
        }
    }
}

pub async fn run(ctx: &Ctx, cmd: ProjectCmd) -> Result<(), CliError> {
    match cmd {
        ProjectCmd::Show { project, org } => {
            let p = ctx
                .client
                .get_project(GetProjectRequest {
                    org: org.unwrap_or_default(),
                    project,
                })
                .await?;
            ctx.print_one(&ProjectOut::from(p))
        }
        ProjectCmd::List { org } => {
            let org = org.unwrap_or_default();
            let items = all_pages(|page_token| {
                let req = ListProjectsRequest {
                    org: org.clone(),
                    page_size: 0,
                    page_token,
                };
                async move {
                    let r = ctx.client.list_projects(req).await?;
                    Ok((r.projects, r.next_page_token))
                }
            })
            .await?;
            let out: Vec<ProjectOut> = items.into_iter().map(Into::into).collect();
            ctx.print_list(&out)
        }
        ProjectCmd::SetQuota {
            project,
            org,
            quotas,
        } => {
            let update = QuotaUpdate::from(&quotas);
            if update == QuotaUpdate::default() {
                return Err(CliError::usage(
                    "set-quota needs at least one of --ports, --vpcs, --subnets, \
                     --security-groups, --rules-per-group, --floating-ips",
                ));
            }
            let p = ctx.write(
                ctx.client
                    .set_quota(SetQuotaRequest {
                        request_id: ctx.request_id(),
                        org: org.unwrap_or_default(),
                        project,
                        quotas: Some(update),
                    })
                    .await,
            )?;
            ctx.print_one(&ProjectOut::from(p))
        }
    }
}
