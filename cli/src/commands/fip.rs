//! `prismctl fip ...`: floating IPs.

use std::net::IpAddr;

use clap::Subcommand;
use prismnet_api::v1::{
    AssociateFloatingIpRequest, CreateFloatingIpRequest, DeleteFloatingIpRequest,
    DisassociateFloatingIpRequest, GetFloatingIpRequest, ListFloatingIpsRequest,
};

use crate::error::CliError;
use crate::output::fip::FloatingIpOut;
use crate::output::Deleted;
use crate::Ctx;

use super::{all_pages, OptScope, Scope};

fn ip_string(ip: &Option<IpAddr>) -> String {
    ip.map(|i| i.to_string()).unwrap_or_default()
}

#[derive(Debug, Subcommand)]
pub enum FipCmd {
    /// Allocate a floating IP on an external network (optionally associate it).
    Create {
        #[command(flatten)]
        scope: Scope,
        #[arg(long, value_name = "EXTNET_ID")]
        extnet: String,
        /// Requested address (default: allocated).
        #[arg(long, value_name = "IP")]
        ip: Option<IpAddr>,
        /// Associate with this port at once.
        #[arg(long, value_name = "PORT_ID")]
        port: Option<String>,
        /// The port's address to NAT to (default: its IPv4 address).
        #[arg(long, value_name = "IP", requires = "port")]
        fixed_ip: Option<IpAddr>,
    },
    /// NAT a floating IP to a port's address.
    Associate {
        fip_id: String,
        #[arg(long, value_name = "PORT_ID")]
        port: String,
        /// The port's address to NAT to (default: its IPv4 address).
        #[arg(long, value_name = "IP")]
        fixed_ip: Option<IpAddr>,
    },
    Disassociate {
        fip_id: String,
    },
    Get {
        id: String,
    },
    /// Floating IPs of a project.
    List {
        #[command(flatten)]
        scope: OptScope,
    },
    Delete {
        id: String,
    },
}

pub async fn run(ctx: &Ctx, cmd: FipCmd) -> Result<(), CliError> {
    let c = &ctx.client;
    let fip = match cmd {
        FipCmd::Create {
            scope,
            extnet,
            ip,
            port,
            fixed_ip,
        } => ctx.write(
            c.create_floating_ip(CreateFloatingIpRequest {
                request_id: ctx.request_id(),
                org: scope.org(),
                project: scope.project,
                external_network_id: extnet,
                floating_ip_address: ip_string(&ip),
                port_id: port.unwrap_or_default(),
                fixed_ip_address: ip_string(&fixed_ip),
            })
            .await,
        )?,
        FipCmd::Associate {
            fip_id,
            port,
            fixed_ip,
        } => ctx.write(
            c.associate_floating_ip(AssociateFloatingIpRequest {
                request_id: ctx.request_id(),
                floating_ip_id: fip_id,
                port_id: port,
                fixed_ip_address: ip_string(&fixed_ip),
            })
            .await,
        )?,
        FipCmd::Disassociate { fip_id } => ctx.write(
            c.disassociate_floating_ip(DisassociateFloatingIpRequest {
                request_id: ctx.request_id(),
                floating_ip_id: fip_id,
            })
            .await,
        )?,
        FipCmd::Get { id } => c.get_floating_ip(GetFloatingIpRequest { id }).await?,
        FipCmd::List { scope } => {
            let items = all_pages(|page_token| {
                let req = ListFloatingIpsRequest {
                    org: scope.org(),
                    project: scope.project(),
                    page_size: 0,
                    page_token,
                };
                async move {
                    let r = c.list_floating_ips(req).await?;
                    Ok((r.floating_ips, r.next_page_token))
                }
            })
            .await?;
            let out: Vec<FloatingIpOut> = items.into_iter().map(Into::into).collect();
            return ctx.print_list(&out);
        }
        FipCmd::Delete { id } => {
            ctx.write(
                c.delete_floating_ip(DeleteFloatingIpRequest {
                    request_id: ctx.request_id(),
                    id: id.clone(),
                })
                .await,
            )?;
            return ctx.print_one(&Deleted::new("floating_ip", id));
        }
    };
    ctx.print_one(&FloatingIpOut::from(fip))
}
