//! One module per resource family: its clap arguments and its handler.

pub mod cluster;
pub mod extnet;
pub mod fip;
pub mod ovn;
pub mod port;
pub mod project;
pub mod sg;
pub mod subnet;
pub mod vpc;

use std::future::Future;

use clap::{Args, Subcommand};
use prismnet_api::ClientError;

use crate::error::CliError;
use crate::Ctx;

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Raft membership, status and snapshots.
    #[command(subcommand)]
    Cluster(cluster::ClusterCmd),
    /// Projects and their quotas.
    #[command(subcommand)]
    Project(project::ProjectCmd),
    /// VPCs, their routes and external gateways.
    #[command(subcommand)]
    Vpc(vpc::VpcCmd),
    /// Subnets (L2 segments, IPv4 and/or IPv6).
    #[command(subcommand)]
    Subnet(subnet::SubnetCmd),
    /// Ports (VM NICs): addresses, bindings, security groups.
    #[command(subcommand)]
    Port(port::PortCmd),
    /// Security groups and their rules.
    #[command(subcommand, visible_alias = "security-group")]
    Sg(sg::SgCmd),
    /// External (provider) networks.
    #[command(subcommand, visible_alias = "external-network")]
    Extnet(extnet::ExtnetCmd),
    /// Floating IPs.
    #[command(subcommand, visible_alias = "floating-ip")]
    Fip(fip::FipCmd),
    /// The leader's view of the OVN Northbound DB.
    #[command(subcommand)]
    Ovn(ovn::OvnCmd),
}

impl Command {
    /// A request id given to the command itself (`port create --request-id`).
    pub fn request_id(&self) -> Option<String> {
        match self {
            Command::Port(c) => c.request_id(),
            _ => None,
        }
    }
}

pub async fn run(ctx: &Ctx, command: Command) -> Result<(), CliError> {
    match command {
        Command::Cluster(c) => cluster::run(ctx, c).await,
        Command::Project(c) => project::run(ctx, c).await,
        Command::Vpc(c) => vpc::run(ctx, c).await,
        Command::Subnet(c) => subnet::run(ctx, c).await,
        Command::Port(c) => port::run(ctx, c).await,
        Command::Sg(c) => sg::run(ctx, c).await,
        Command::Extnet(c) => extnet::run(ctx, c).await,
        Command::Fip(c) => fip::run(ctx, c).await,
        Command::Ovn(c) => ovn::run(ctx, c).await,
    }
}

/// The scope a resource is created in: a project, and an org (empty: `default`).
#[derive(Debug, Clone, Args)]
pub struct Scope {
    /// Project.
    #[arg(long, env = "PRISMNET_PROJECT", value_name = "P")]
    pub project: String,
    /// Organization (default: `default`).
    #[arg(long, env = "PRISMNET_ORG", value_name = "O")]
    pub org: Option<String>,
}

impl Scope {
    pub fn org(&self) -> String {
        self.org.clone().unwrap_or_default()
    }
}

/// A scope for lists and name lookups, where the project may be left out.
#[derive(Debug, Clone, Args)]
pub struct OptScope {
    /// Project.
    #[arg(long, env = "PRISMNET_PROJECT", value_name = "P")]
    pub project: Option<String>,
    /// Organization (default: `default`).
    #[arg(long, env = "PRISMNET_ORG", value_name = "O")]
    pub org: Option<String>,
}

impl OptScope {
    pub fn org(&self) -> String {
        self.org.clone().unwrap_or_default()
    }
    pub fn project(&self) -> String {
        self.project.clone().unwrap_or_default()
    }
}

/// Follows pagination until `next_page_token` is empty: `page(token)` fetches one
/// page and answers its items and the next token.
pub async fn all_pages<T, F, Fut>(mut page: F) -> Result<Vec<T>, CliError>
where
    F: FnMut(String) -> Fut,
    Fut: Future<Output = Result<(Vec<T>, String), ClientError>>,
{
    let mut items = Vec::new();
    let mut token = String::new();
    loop {
        let (mut batch, next) = page(token.clone()).await?;
        items.append(&mut batch);
        if next.is_empty() {
            return Ok(items);
        }
        // A server that hands back the token it was given would loop forever.
        if next == token {
            return Err(CliError::failed(
                "internal",
                "the server returned the same page token twice",
            ));
        }
        token = next;
    }
}

#[cfg(test)]
mod parse_tests;

#[cfg(test)]
mod tests {
    use super::*;
    use std::cell::Cell;

    #[tokio::test]
    async fn follows_pages_until_empty_token() {
        let calls = Cell::new(0);
        let items = all_pages(|token| {
            calls.set(calls.get() + 1);
            async move {
                Ok(match token.as_str() {
                    "" => (vec![1, 2], "a".to_string()),
                    "a" => (vec![3], "b".to_string()),
                    _ => (vec![4], String::new()),
                })
            }
        })
        .await
        .unwrap();
        assert_eq!(items, vec![1, 2, 3, 4]);
        assert_eq!(calls.get(), 3);
    }

    #[tokio::test]
    async fn refuses_a_repeated_token() {
        let err = all_pages(|_token| async { Ok((vec![1], "same".to_string())) })
            .await
            .unwrap_err();
        assert!(err.line().contains("same page token"));
    }
}
