//! `prismctl extnet ...` (admin only).

use std::net::IpAddr;

use clap::Subcommand;
use prismnet_api::v1::{
    CreateExternalNetworkRequest, DeleteExternalNetworkRequest, GetExternalNetworkRequest,
    ListExternalNetworksRequest,
};

use crate::error::CliError;
use crate::output::extnet::ExternalNetworkOut;
use crate::output::Deleted;
use crate::resolve::Cidr;
use crate::Ctx;

use super::all_pages;

#[derive(Debug, Subcommand)]
pub enum ExtnetCmd {
    /// Create an external (provider) network VPCs can uplink to.
    Create {
        #[arg(long)]
        name: String,
        #[arg(long)]
        cidr: Cidr,
        /// The provider network's gateway.
        #[arg(long, value_name = "IP")]
        gateway: IpAddr,
        /// The OVN bridge-mapping name (localnet network_name).
        #[arg(long, value_name = "NAME")]
        provider_network: String,
        /// Chassis hosting the gateway router ports, in priority order
        /// (comma-separated or repeated).
        #[arg(
            long,
            value_name = "CHASSIS[,CHASSIS]",
            value_delimiter = ',',
            required = true
        )]
        gateway_chassis: Vec<String>,
    },
    Get {
        id: String,
    },
    List,
    Delete {
        id: String,
    },
}

pub async fn run(ctx: &Ctx, cmd: ExtnetCmd) -> Result<(), CliError> {
    let c = &ctx.client;
    let net = match cmd {
        ExtnetCmd::Create {
            name,
            cidr,
            gateway,
            provider_network,
            gateway_chassis,
        } => ctx.write(
            c.create_external_network(CreateExternalNetworkRequest {
                request_id: ctx.request_id(),
                name,
                cidr: cidr.to_string(),
                gateway_ip: gateway.to_string(),
                provider_network,
                gateway_chassis,
            })
            .await,
        )?,
        ExtnetCmd::Get { id } => {
            c.get_external_network(GetExternalNetworkRequest { id })
                .await?
        }
        ExtnetCmd::List => {
            let items = all_pages(|page_token| {
                let req = ListExternalNetworksRequest {
                    page_size: 0,
                    page_token,
                };
                async move {
                    let r = c.list_external_networks(req).await?;
                    Ok((r.external_networks, r.next_page_token))
                }
            })
            .await?;
            let out: Vec<ExternalNetworkOut> = items.into_iter().map(Into::into).collect();
            return ctx.print_list(&out);
        }
        ExtnetCmd::Delete { id } => {
            ctx.write(
                c.delete_external_network(DeleteExternalNetworkRequest {
                    request_id: ctx.request_id(),
                    id: id.clone(),
                })
                .await,
            )?;
            return ctx.print_one(&Deleted::new("external_network", id));
        }
    };
    ctx.print_one(&ExternalNetworkOut::from(net))
}
