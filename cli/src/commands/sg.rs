//! `prismctl sg ...`: security groups, named by id or by name in their project.

use clap::{Args, Subcommand, ValueEnum};
use prismnet_api::v1::{
    get_security_group_request::Lookup, AddRuleRequest, CreateSecurityGroupRequest,
    DeleteSecurityGroupRequest, Direction, EtherType, GetSecurityGroupRequest,
    ListSecurityGroupsRequest, RemoveRuleRequest, SecurityGroupName, SecurityGroupRule,
};

use crate::error::CliError;
use crate::output::sg::{AddedRuleOut, SecurityGroupOut};
use crate::output::Deleted;
use crate::resolve::{self, parse_protocol, Cidr, Family, HasFamily};
use crate::Ctx;

use super::{all_pages, OptScope, Scope};

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum DirectionArg {
    Ingress,
    Egress,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum EtherTypeArg {
    Ipv4,
    Ipv6,
}

#[derive(Debug, Subcommand)]
pub enum SgCmd {
    /// Create a security group (it starts with no rules).
    Create {
        #[command(flatten)]
        scope: Scope,
        #[arg(long)]
        name: String,
        #[arg(long, value_name = "D")]
        description: Option<String>,
    },
    /// Show a group and its rules (SG: id, or name in --project).
    Get {
        sg: String,
        #[command(flatten)]
        scope: OptScope,
    },
    /// Groups of a project.
    List {
        #[command(flatten)]
        scope: OptScope,
    },
    Delete {
        sg: String,
        #[command(flatten)]
        scope: OptScope,
    },
    /// Add or remove rules.
    #[command(subcommand)]
    Rule(RuleCmd),
}

#[derive(Debug, Subcommand)]
pub enum RuleCmd {
    /// Add a rule to a group.
    Add(RuleAddArgs),
    /// Remove a rule from a group.
    Remove {
        sg: String,
        rule_id: String,
        #[command(flatten)]
        scope: OptScope,
    },
}

#[derive(Debug, Clone, Args)]
pub struct RuleAddArgs {
    /// The group (id, or name in --project).
    pub sg: String,
    #[command(flatten)]
    pub scope: OptScope,
    #[arg(long, value_enum)]
    pub direction: DirectionArg,
    /// Default: the family of --remote-cidr, else ipv4.
    #[arg(long, value_enum)]
    pub ethertype: Option<EtherTypeArg>,
    /// any, tcp, udp, icmp or an IP protocol number.
    #[arg(long, default_value = "any", value_parser = parse_protocol)]
    pub protocol: String,
    /// First port of the range (ICMP: the type).
    #[arg(long, value_name = "N", requires = "port_max")]
    pub port_min: Option<u32>,
    /// Last port of the range (ICMP: the code).
    #[arg(long, value_name = "N", requires = "port_min")]
    pub port_max: Option<u32>,
    /// Remote addresses the rule matches (default: any).
    #[arg(long, value_name = "CIDR", conflicts_with = "remote_group")]
    pub remote_cidr: Option<Cidr>,
    /// Remote group the rule matches (id, or name in the same project).
    #[arg(long, value_name = "SG")]
    pub remote_group: Option<String>,
}

impl RuleAddArgs {
    /// The rule, with the remote group already resolved to an id.
    pub fn rule(&self, remote_group_id: Option<String>) -> Result<SecurityGroupRule, CliError> {
        let ethertype = match (self.ethertype, &self.remote_cidr) {
            (Some(e), Some(cidr)) => {
                let want = match e {
                    EtherTypeArg::Ipv4 => Family::V4,
                    EtherTypeArg::Ipv6 => Family::V6,
                };
                if cidr.family() != want {
                    return Err(CliError::usage(format!(
                        "--remote-cidr {cidr} is not of --ethertype {}",
                        e.to_possible_value()
                            .map(|v| v.get_name().to_string())
                            .unwrap_or_default()
                    )));
                }
                e
            }
            (Some(e), None) => e,
            (None, Some(cidr)) if cidr.family() == Family::V6 => EtherTypeArg::Ipv6,
            (None, _) => EtherTypeArg::Ipv4,
        };
        if let (Some(min), Some(max)) = (self.port_min, self.port_max) {
            if min > max && self.protocol != "icmp" {
                return Err(CliError::usage(format!(
                    "--port-min {min} is above --port-max {max}"
                )));
            }
        }
        let mut rule = SecurityGroupRule {
            id: String::new(),
            direction: 0,
            ethertype: 0,
            protocol: self.protocol.clone(),
            port_range_min: self.port_min.unwrap_or(0),
            port_range_max: self.port_max.unwrap_or(0),
            remote_ip_prefix: self
                .remote_cidr
                .as_ref()
                .map(ToString::to_string)
                .unwrap_or_default(),
            remote_group_id: remote_group_id.unwrap_or_default(),
        };
        rule.set_direction(match self.direction {
            DirectionArg::Ingress => Direction::Ingress,
            DirectionArg::Egress => Direction::Egress,
        });
        rule.set_ethertype(match ethertype {
            EtherTypeArg::Ipv4 => EtherType::Ipv4,
            EtherTypeArg::Ipv6 => EtherType::Ipv6,
        });
        Ok(rule)
    }
}

async fn group_id(ctx: &Ctx, scope: &OptScope, sg: &str) -> Result<String, CliError> {
    resolve::security_group_id(&ctx.client, &scope.org(), scope.project.as_deref(), sg).await
}

pub async fn run(ctx: &Ctx, cmd: SgCmd) -> Result<(), CliError> {
    let c = &ctx.client;
    let group = match cmd {
        SgCmd::Create {
            scope,
            name,
            description,
        } => ctx.write(
            c.create_security_group(CreateSecurityGroupRequest {
                request_id: ctx.request_id(),
                org: scope.org(),
                project: scope.project,
                name,
                description: description.unwrap_or_default(),
                rules: Vec::new(),
            })
            .await,
        )?,
        SgCmd::Get { sg, scope } => {
            let lookup = if resolve::is_id(&sg) {
                Lookup::Id(sg)
            } else {
                let project = scope
                    .project
                    .clone()
                    .filter(|p| !p.is_empty())
                    .ok_or_else(|| {
                        CliError::usage(format!(
                            "security group {sg:?} is a name: give --project (or PRISMNET_PROJECT)"
                        ))
                    })?;
                Lookup::ByName(SecurityGroupName {
                    org: scope.org(),
                    project,
                    name: sg,
                })
            };
            c.get_security_group(GetSecurityGroupRequest {
                lookup: Some(lookup),
            })
            .await?
        }
        SgCmd::List { scope } => {
            let items = all_pages(|page_token| {
                let req = ListSecurityGroupsRequest {
                    org: scope.org(),
                    project: scope.project(),
                    page_size: 0,
                    page_token,
                };
                async move {
                    let r = c.list_security_groups(req).await?;
                    Ok((r.security_groups, r.next_page_token))
                }
            })
            .await?;
            let out: Vec<SecurityGroupOut> = items.into_iter().map(Into::into).collect();
            return ctx.print_list(&out);
        }
        SgCmd::Delete { sg, scope } => {
            let id = group_id(ctx, &scope, &sg).await?;
            ctx.write(
                c.delete_security_group(DeleteSecurityGroupRequest {
                    request_id: ctx.request_id(),
                    id: id.clone(),
                })
                .await,
            )?;
            return ctx.print_one(&Deleted::new("security_group", id));
        }
        SgCmd::Rule(RuleCmd::Add(args)) => {
            let id = group_id(ctx, &args.scope, &args.sg).await?;
            let remote = match &args.remote_group {
                Some(r) => Some(group_id(ctx, &args.scope, r).await?),
                None => None,
            };
            let rule = args.rule(remote)?;
            let added = ctx.write(
                c.add_rule(AddRuleRequest {
                    request_id: ctx.request_id(),
                    security_group_id: id.clone(),
                    rule: Some(rule),
                })
                .await,
            )?;
            return ctx.print_one(&AddedRuleOut {
                rule: added.rule.unwrap_or_default().into(),
                security_group_id: added
                    .security_group
                    .map(|g| g.id)
                    .filter(|g| !g.is_empty())
                    .unwrap_or(id),
            });
        }
        SgCmd::Rule(RuleCmd::Remove { sg, rule_id, scope }) => {
            let id = group_id(ctx, &scope, &sg).await?;
            ctx.write(
                c.remove_rule(RemoveRuleRequest {
                    request_id: ctx.request_id(),
                    security_group_id: id,
                    rule_id,
                })
                .await,
            )?
        }
    };
    ctx.print_one(&SecurityGroupOut::from(group))
}
