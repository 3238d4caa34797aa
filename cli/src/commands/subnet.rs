//! `prismctl subnet ...`

use std::net::IpAddr;

use clap::{Args, Subcommand, ValueEnum};
use prismnet_api::v1::{
    CreateSubnetRequest, DeleteSubnetRequest, GetSubnetRequest, Ipv6Mode, ListSubnetsRequest,
    RouteList, StringList, UpdateSubnetRequest,
};

use crate::error::CliError;
use crate::output::subnet::SubnetOut;
use crate::output::Deleted;
use crate::resolve::{ranges, routes, split_families, Cidr, RangeArg, RouteArg};
use crate::Ctx;

use super::{all_pages, OptScope};

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Ipv6ModeArg {
    Slaac,
    #[value(name = "dhcpv6-stateful")]
    Dhcpv6Stateful,
    #[value(name = "dhcpv6-stateless")]
    Dhcpv6Stateless,
}

impl From<Ipv6ModeArg> for Ipv6Mode {
    fn from(m: Ipv6ModeArg) -> Self {
        match m {
            Ipv6ModeArg::Slaac => Ipv6Mode::Slaac,
            Ipv6ModeArg::Dhcpv6Stateful => Ipv6Mode::Dhcpv6Stateful,
            Ipv6ModeArg::Dhcpv6Stateless => Ipv6Mode::Dhcpv6Stateless,
        }
    }
}

#[derive(Debug, Clone, Args)]
pub struct CreateArgs {
    #[arg(long, value_name = "VPC_ID")]
    pub vpc: String,
    #[arg(long)]
    pub name: String,
    /// The subnet's CIDR; give it twice for dual stack (one IPv4, one IPv6).
    #[arg(long = "cidr", required = true, num_args = 1, value_name = "CIDR")]
    pub cidrs: Vec<Cidr>,
    /// Gateway address, at most one per family (default: the CIDR's first
    /// usable address).
    #[arg(long = "gateway", value_name = "IP")]
    pub gateways: Vec<IpAddr>,
    /// Do not serve DHCP on this subnet.
    #[arg(long)]
    pub no_dhcp: bool,
    /// DNS server handed to VMs; repeatable.
    #[arg(long = "dns", value_name = "IP")]
    pub dns: Vec<IpAddr>,
    /// Route handed to VMs via DHCP; repeatable.
    #[arg(long = "host-route", value_name = "DEST=NEXTHOP")]
    pub host_routes: Vec<RouteArg>,
    /// Allocation pool; repeatable (default: the whole CIDR).
    #[arg(long = "pool", value_name = "START-END")]
    pub pools: Vec<RangeArg>,
    /// Range never allocated to ports; repeatable.
    #[arg(long = "reserved", value_name = "START-END")]
    pub reserved: Vec<RangeArg>,
    /// MTU handed to VMs (default 1442).
    #[arg(long)]
    pub mtu: Option<u32>,
    /// How IPv6 addresses reach VMs (default slaac).
    #[arg(long, value_enum)]
    pub ipv6_mode: Option<Ipv6ModeArg>,
}

#[derive(Debug, Subcommand)]
pub enum SubnetCmd {
    /// Create a subnet: one IPv4 and/or one IPv6 CIDR inside the VPC's blocks.
    Create(CreateArgs),
    Get {
        id: String,
    },
    /// Subnets of a VPC (--vpc) or of a project.
    List {
        #[arg(long, value_name = "VPC_ID")]
        vpc: Option<String>,
        #[command(flatten)]
        scope: OptScope,
    },
    /// Change name, DNS servers, host routes or DHCP; only what is given changes.
    Update {
        id: String,
        #[arg(long)]
        name: Option<String>,
        /// Replaces the DNS servers; repeatable.
        #[arg(long = "dns", value_name = "IP", conflicts_with = "clear_dns")]
        dns: Vec<IpAddr>,
        #[arg(long)]
        clear_dns: bool,
        /// Replaces the host routes; repeatable.
        #[arg(
            long = "host-route",
            value_name = "DEST=NEXTHOP",
            conflicts_with = "clear_host_routes"
        )]
        host_routes: Vec<RouteArg>,
        #[arg(long)]
        clear_host_routes: bool,
        #[arg(long, conflicts_with = "no_dhcp")]
        dhcp: bool,
        #[arg(long)]
        no_dhcp: bool,
    },
    Delete {
        id: String,
    },
}

impl CreateArgs {
    /// The CreateSubnet request the arguments describe (repeated --cidr/--gateway
    /// split by family).
    pub fn request(&self, request_id: String) -> Result<CreateSubnetRequest, CliError> {
        let (v4, v6) = split_families("--cidr", &self.cidrs)?;
        let (gw4, gw6) = split_families("--gateway", &self.gateways)?;
        if gw4.is_some() && v4.is_none() {
            return Err(CliError::usage(
                "--gateway is IPv4 but no IPv4 --cidr was given",
            ));
        }
        if gw6.is_some() && v6.is_none() {
            return Err(CliError::usage(
                "--gateway is IPv6 but no IPv6 --cidr was given",
            ));
        }
        let s = |o: Option<String>| o.unwrap_or_default();
        let mut req = CreateSubnetRequest {
            request_id,
            vpc_id: self.vpc.clone(),
            name: self.name.clone(),
            ipv4_cidr: s(v4.map(|c| c.to_string())),
            ipv6_cidr: s(v6.map(|c| c.to_string())),
            gateway_ipv4: s(gw4.map(|g| g.to_string())),
            gateway_ipv6: s(gw6.map(|g| g.to_string())),
            allocation_pools: ranges(&self.pools),
            reserved_ranges: ranges(&self.reserved),
            dns_servers: self.dns.iter().map(ToString::to_string).collect(),
            host_routes: routes(&self.host_routes),
            // Absent means "enabled": send a value only to switch it off.
            dhcp_enabled: if self.no_dhcp { Some(false) } else { None },
            mtu: self.mtu,
            ipv6_mode: 0,
        };
        if let Some(m) = self.ipv6_mode {
            req.set_ipv6_mode(m.into());
        }
        Ok(req)
    }
}

pub async fn run(ctx: &Ctx, cmd: SubnetCmd) -> Result<(), CliError> {
    let c = &ctx.client;
    let subnet = match cmd {
        SubnetCmd::Create(args) => {
            let req = args.request(ctx.request_id())?;
            ctx.write(c.create_subnet(req).await)?
        }
        SubnetCmd::Get { id } => c.get_subnet(GetSubnetRequest { id }).await?,
        SubnetCmd::List { vpc, scope } => {
            let vpc_id = vpc.unwrap_or_default();
            // With --vpc, the VPC alone says which subnets (a PRISMNET_PROJECT
            // default must not narrow it); without, the project does.
            let (org, project) = if vpc_id.is_empty() {
                (scope.org(), scope.project())
            } else {
                (String::new(), String::new())
            };
            let items = all_pages(|page_token| {
                let req = ListSubnetsRequest {
                    vpc_id: vpc_id.clone(),
                    org: org.clone(),
                    project: project.clone(),
                    page_size: 0,
                    page_token,
                };
                async move {
                    let r = c.list_subnets(req).await?;
                    Ok((r.subnets, r.next_page_token))
                }
            })
            .await?;
            let out: Vec<SubnetOut> = items.into_iter().map(Into::into).collect();
            return ctx.print_list(&out);
        }
        SubnetCmd::Update {
            id,
            name,
            dns,
            clear_dns,
            host_routes,
            clear_host_routes,
            dhcp,
            no_dhcp,
        } => {
            let dns_servers = if clear_dns || !dns.is_empty() {
                Some(StringList {
                    values: dns.iter().map(ToString::to_string).collect(),
                })
            } else {
                None
            };
            let host_routes = if clear_host_routes || !host_routes.is_empty() {
                Some(RouteList {
                    routes: routes(&host_routes),
                })
            } else {
                None
            };
            let dhcp_enabled = match (dhcp, no_dhcp) {
                (true, _) => Some(true),
                (_, true) => Some(false),
                _ => None,
            };
            if name.is_none()
                && dns_servers.is_none()
                && host_routes.is_none()
                && dhcp_enabled.is_none()
            {
                return Err(CliError::usage(
                    "subnet update needs --name, --dns, --clear-dns, --host-route, \
                     --clear-host-routes, --dhcp or --no-dhcp",
                ));
            }
            ctx.write(
                c.update_subnet(UpdateSubnetRequest {
                    request_id: ctx.request_id(),
                    id,
                    name,
                    dns_servers,
                    host_routes,
                    dhcp_enabled,
                })
                .await,
            )?
        }
        SubnetCmd::Delete { id } => {
            ctx.write(
                c.delete_subnet(DeleteSubnetRequest {
                    request_id: ctx.request_id(),
                    id: id.clone(),
                })
                .await,
            )?;
            return ctx.print_one(&Deleted::new("subnet", id));
        }
    };
    ctx.print_one(&SubnetOut::from(subnet))
}
