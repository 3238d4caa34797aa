//! `prismctl vpc ...`

use clap::Subcommand;
use prismnet_api::v1::{
    ClearGatewayRequest, CreateVpcRequest, DeleteVpcRequest, GetVpcRequest, ListVpcsRequest,
    RouteList, SetGatewayRequest, UpdateVpcRequest,
};

use crate::error::CliError;
use crate::output::vpc::VpcOut;
use crate::output::Deleted;
use crate::resolve::{routes, Cidr, RouteArg};
use crate::Ctx;

use super::{all_pages, OptScope, Scope};

#[derive(Debug, Subcommand)]
pub enum VpcCmd {
    /// Create a VPC with one or more CIDR blocks (IPv4 and/or IPv6).
    Create {
        #[command(flatten)]
        scope: Scope,
        #[arg(long)]
        name: String,
        /// A CIDR block; repeat for IPv6 (or more blocks).
        #[arg(long = "cidr", required = true, value_name = "CIDR")]
        cidrs: Vec<Cidr>,
        /// A static route; repeatable.
        #[arg(long = "route", value_name = "DEST=NEXTHOP")]
        routes: Vec<RouteArg>,
    },
    Get {
        id: String,
    },
    /// VPCs of a project.
    List {
        #[command(flatten)]
        scope: OptScope,
    },
    Delete {
        id: String,
    },
    /// Rename, or replace the static routes.
    Update {
        id: String,
        #[arg(long)]
        name: Option<String>,
        /// Replaces all static routes with the ones given; repeatable.
        #[arg(
            long = "route",
            value_name = "DEST=NEXTHOP",
            conflicts_with = "clear_routes"
        )]
        routes: Vec<RouteArg>,
        /// Remove all static routes.
        #[arg(long)]
        clear_routes: bool,
    },
    /// Uplink the VPC to an external network (replaces any gateway).
    SetGateway {
        vpc_id: String,
        #[arg(long, value_name = "EXTNET_ID")]
        extnet: String,
        /// Do not source-NAT outgoing traffic.
        #[arg(long)]
        no_snat: bool,
    },
    ClearGateway {
        vpc_id: String,
    },
}

pub async fn run(ctx: &Ctx, cmd: VpcCmd) -> Result<(), CliError> {
    let c = &ctx.client;
    let vpc = match cmd {
        VpcCmd::Create {
            scope,
            name,
            cidrs,
            routes: r,
        } => ctx.write(
            c.create_vpc(CreateVpcRequest {
                request_id: ctx.request_id(),
                org: scope.org(),
                project: scope.project,
                name,
                cidr_blocks: cidrs.iter().map(ToString::to_string).collect(),
                static_routes: routes(&r),
            })
            .await,
        )?,
        VpcCmd::Get { id } => c.get_vpc(GetVpcRequest { id }).await?,
        VpcCmd::List { scope } => {
            let items = all_pages(|page_token| {
                let req = ListVpcsRequest {
                    org: scope.org(),
                    project: scope.project(),
                    page_size: 0,
                    page_token,
                };
                async move {
                    let r = c.list_vpcs(req).await?;
                    Ok((r.vpcs, r.next_page_token))
                }
            })
            .await?;
            let out: Vec<VpcOut> = items.into_iter().map(Into::into).collect();
            return ctx.print_list(&out);
        }
        VpcCmd::Delete { id } => {
            ctx.write(
                c.delete_vpc(DeleteVpcRequest {
                    request_id: ctx.request_id(),
                    id: id.clone(),
                })
                .await,
            )?;
            return ctx.print_one(&Deleted::new("vpc", id));
        }
        VpcCmd::Update {
            id,
            name,
            routes: r,
            clear_routes,
        } => {
            let static_routes = if clear_routes {
                Some(RouteList { routes: Vec::new() })
            } else if !r.is_empty() {
                Some(RouteList { routes: routes(&r) })
            } else {
                None
            };
            if name.is_none() && static_routes.is_none() {
                return Err(CliError::usage(
                    "vpc update needs --name, --route or --clear-routes",
                ));
            }
            ctx.write(
                c.update_vpc(UpdateVpcRequest {
                    request_id: ctx.request_id(),
                    id,
                    name,
                    static_routes,
                })
                .await,
            )?
        }
        VpcCmd::SetGateway {
            vpc_id,
            extnet,
            no_snat,
        } => ctx.write(
            c.set_gateway(SetGatewayRequest {
                request_id: ctx.request_id(),
                vpc_id,
                external_network_id: extnet,
                enable_snat: !no_snat,
            })
            .await,
        )?,
        VpcCmd::ClearGateway { vpc_id } => ctx.write(
            c.clear_gateway(ClearGatewayRequest {
                request_id: ctx.request_id(),
                vpc_id,
            })
            .await,
        )?,
    };
    ctx.print_one(&VpcOut::from(vpc))
}
