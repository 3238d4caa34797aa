//! `prismctl port ...`

use std::net::IpAddr;

use clap::{Args, Subcommand};
use prismnet_api::v1::{
    BindPortRequest, CreatePortRequest, DeletePortRequest, GetPortRequest, ListPortsRequest,
    StringList, UpdatePortRequest, WaitPortUpRequest,
};

use crate::error::CliError;
use crate::output::port::{CreatedPortOut, PortOut};
use crate::output::Deleted;
use crate::resolve::split_families;
use crate::Ctx;

use super::{all_pages, OptScope};

/// The server caps WaitPortUp at this.
const MAX_WAIT_SECS: u32 = 60;

#[derive(Debug, Clone, Args)]
pub struct CreateArgs {
    #[arg(long, value_name = "SUBNET_ID")]
    pub subnet: String,
    /// Requested address, at most one per family (default: allocated).
    #[arg(long = "ip", value_name = "IP")]
    pub ips: Vec<IpAddr>,
    /// Requested MAC (default: allocated).
    #[arg(long)]
    pub mac: Option<String>,
    /// The owner's id for the port, e.g. the VM id.
    #[arg(long, value_name = "D")]
    pub device_id: Option<String>,
    /// e.g. `plasmavmc:vm`.
    #[arg(long, value_name = "O")]
    pub device_owner: Option<String>,
    #[arg(long)]
    pub name: Option<String>,
    /// Security group id or name in the subnet's project; repeatable (default: the
    /// project's `default` group).
    #[arg(long = "security-group", value_name = "SG")]
    pub security_groups: Vec<String>,
    /// The port gets no security group at all.
    #[arg(long, conflicts_with = "security_groups")]
    pub no_security_group: bool,
    /// Switch off port security (no address spoofing protection, no groups).
    #[arg(long)]
    pub no_port_security: bool,
    /// Request id of this create (default: a fresh UUID v4); rerun with the same one
    /// to retry safely.
    #[arg(long, value_name = "R")]
    pub request_id: Option<String>,
}

impl CreateArgs {
    /// The CreatePort request the arguments describe. Security groups go as given:
    /// the server resolves names within the subnet's project.
    pub fn request(&self, request_id: String) -> Result<CreatePortRequest, CliError> {
        split_families("--ip", &self.ips)?;
        Ok(CreatePortRequest {
            request_id,
            subnet_id: self.subnet.clone(),
            name: self.name.clone().unwrap_or_default(),
            fixed_ips: self.ips.iter().map(ToString::to_string).collect(),
            mac_address: self.mac.clone().unwrap_or_default(),
            device_id: self.device_id.clone().unwrap_or_default(),
            device_owner: self.device_owner.clone().unwrap_or_default(),
            security_groups: self.security_groups.clone(),
            no_security_groups: self.no_security_group,
            port_security_enabled: if self.no_port_security {
                Some(false)
            } else {
                None
            },
            allowed_address_pairs: Vec::new(),
            admin_state_up: None,
        })
    }
}

#[derive(Debug, Clone, Args)]
pub struct UpdateArgs {
    pub port_id: String,
    /// Replaces the port's security groups (ids or names); repeatable.
    #[arg(long = "security-group", value_name = "SG")]
    pub security_groups: Vec<String>,
    /// Remove all security groups from the port.
    #[arg(long, conflicts_with = "security_groups")]
    pub no_security_group: bool,
    #[arg(long)]
    pub name: Option<String>,
    #[arg(long, value_name = "D")]
    pub device_id: Option<String>,
    #[arg(long, value_name = "O")]
    pub device_owner: Option<String>,
    #[arg(long, conflicts_with = "no_port_security")]
    pub port_security: bool,
    #[arg(long)]
    pub no_port_security: bool,
    /// Administratively up (`--admin-up`) or down (`--admin-down`).
    #[arg(long, conflicts_with = "admin_down")]
    pub admin_up: bool,
    #[arg(long)]
    pub admin_down: bool,
}

fn flag_pair(on: bool, off: bool) -> Option<bool> {
    match (on, off) {
        (true, _) => Some(true),
        (_, true) => Some(false),
        _ => None,
    }
}

impl UpdateArgs {
    pub fn request(&self, request_id: String) -> Result<UpdatePortRequest, CliError> {
        let security_groups = if self.no_security_group || !self.security_groups.is_empty() {
            Some(StringList {
                values: self.security_groups.clone(),
            })
        } else {
            None
        };
        let req = UpdatePortRequest {
            request_id,
            port_id: self.port_id.clone(),
            name: self.name.clone(),
            security_groups,
            port_security_enabled: flag_pair(self.port_security, self.no_port_security),
            allowed_address_pairs: None,
            admin_state_up: flag_pair(self.admin_up, self.admin_down),
            device_id: self.device_id.clone(),
            device_owner: self.device_owner.clone(),
        };
        let unchanged = UpdatePortRequest {
            request_id: req.request_id.clone(),
            port_id: req.port_id.clone(),
            ..Default::default()
        };
        if req == unchanged {
            return Err(CliError::usage(
                "port update needs something to change (--security-group, \
                 --no-security-group, --name, --device-id, --device-owner, \
                 --[no-]port-security, --admin-up/--admin-down)",
            ));
        }
        Ok(req)
    }
}

#[derive(Debug, Subcommand)]
pub enum PortCmd {
    /// Create a port: allocates its addresses and MAC, and prints what the NIC needs.
    Create(CreateArgs),
    Get {
        port_id: String,
    },
    /// Ports of a subnet (--subnet) or of a project; --device-id narrows.
    List {
        #[arg(long, value_name = "SUBNET_ID")]
        subnet: Option<String>,
        #[arg(long, value_name = "D")]
        device_id: Option<String>,
        #[command(flatten)]
        scope: OptScope,
    },
    Delete {
        port_id: String,
    },
    /// Bind the port to a chassis (OVN requested-chassis).
    Bind {
        port_id: String,
        #[arg(long, value_name = "CHASSIS")]
        host: String,
    },
    /// Clear the port's chassis binding.
    Unbind {
        port_id: String,
    },
    /// Change security groups, name, device or flags; only what is given changes.
    Update(UpdateArgs),
    /// Wait until the port is up in OVN; exits 1 if it is not up in time.
    WaitUp {
        port_id: String,
        /// Seconds to wait (the server caps it at 60).
        #[arg(long, default_value_t = 30, value_name = "SECONDS",
              value_parser = clap::value_parser!(u32).range(0..=i64::from(MAX_WAIT_SECS)))]
        timeout: u32,
    },
}

impl PortCmd {
    /// A request id chosen on the command line (`port create --request-id`).
    pub fn request_id(&self) -> Option<String> {
        match self {
            PortCmd::Create(args) => args.request_id.clone(),
            _ => None,
        }
    }
}

pub async fn run(ctx: &Ctx, cmd: PortCmd) -> Result<(), CliError> {
    let c = &ctx.client;
    let port = match cmd {
        PortCmd::Create(args) => {
            let req = args.request(ctx.request_id())?;
            let created = ctx.write(c.create_port(req).await)?;
            return ctx.print_one(&CreatedPortOut::from(created));
        }
        PortCmd::Get { port_id } => c.get_port(GetPortRequest { port_id }).await?,
        PortCmd::List {
            subnet,
            device_id,
            scope,
        } => {
            let subnet_id = subnet.unwrap_or_default();
            // With --subnet, the subnet alone scopes the list.
            let (org, project) = if subnet_id.is_empty() {
                (scope.org(), scope.project())
            } else {
                (String::new(), String::new())
            };
            let device_id = device_id.unwrap_or_default();
            let items = all_pages(|page_token| {
                let req = ListPortsRequest {
                    org: org.clone(),
                    project: project.clone(),
                    subnet_id: subnet_id.clone(),
                    device_id: device_id.clone(),
                    page_size: 0,
                    page_token,
                };
                async move {
                    let r = c.list_ports(req).await?;
                    Ok((r.ports, r.next_page_token))
                }
            })
            .await?;
            let out: Vec<PortOut> = items.into_iter().map(Into::into).collect();
            return ctx.print_list(&out);
        }
        PortCmd::Delete { port_id } => {
            ctx.write(
                c.delete_port(DeletePortRequest {
                    request_id: ctx.request_id(),
                    port_id: port_id.clone(),
                })
                .await,
            )?;
            return ctx.print_one(&Deleted::new("port", port_id));
        }
        PortCmd::Bind { port_id, host } => {
            if host.is_empty() {
                return Err(CliError::usage(
                    "--host is empty; use `port unbind` to clear the binding",
                ));
            }
            ctx.write(
                c.bind_port(BindPortRequest {
                    request_id: ctx.request_id(),
                    port_id,
                    host,
                })
                .await,
            )?
        }
        PortCmd::Unbind { port_id } => ctx.write(
            c.bind_port(BindPortRequest {
                request_id: ctx.request_id(),
                port_id,
                host: String::new(),
            })
            .await,
        )?,
        PortCmd::Update(args) => {
            let req = args.request(ctx.request_id())?;
            ctx.write(c.update_port(req).await)?
        }
        PortCmd::WaitUp { port_id, timeout } => {
            let port = c
                .wait_port_up(WaitPortUpRequest {
                    port_id: port_id.clone(),
                    timeout_ms: timeout * 1000,
                })
                .await?;
            let up = port.up;
            ctx.print_one(&PortOut::from(port))?;
            if !up {
                return Err(CliError::failed(
                    "timeout",
                    format!("port {port_id} is not up after {timeout}s"),
                ));
            }
            return Ok(());
        }
    };
    ctx.print_one(&PortOut::from(port))
}
