//! `prismctl cluster ...`

use clap::Subcommand;
use prismnet_api::v1::{
    AddNodeRequest, ClusterStatusRequest, GetSettingsRequest, RemoveNodeRequest,
    TriggerSnapshotRequest, UpdateSettingsRequest,
};

use crate::error::CliError;
use crate::output::cluster::{ClusterStatusOut, SettingsOut, SnapshotOut};
use crate::Ctx;

#[derive(Debug, Subcommand)]
pub enum ClusterCmd {
    /// Membership, roles and health as the node asked sees them (never redirected:
    /// with several endpoints, the first one that answers).
    Status,
    /// Add a node: as a learner, then promoted to voter once it caught up.
    AddNode {
        /// Node id.
        #[arg(long)]
        id: u64,
        /// The node's Raft address.
        #[arg(long, value_name = "HOST:PORT")]
        raft_addr: String,
        /// The node's API address.
        #[arg(long, value_name = "HOST:PORT")]
        api_addr: String,
    },
    /// Remove a node from the cluster.
    RemoveNode {
        #[arg(long)]
        id: u64,
    },
    /// Snapshot the Raft state of the node asked.
    Snapshot,
    /// The cluster-wide settings and what the request log remembers; with a flag,
    /// change that setting (admin).
    Settings {
        /// How many request ids the cluster remembers for idempotency (1..10000000).
        /// A retry is recognized only while its id is remembered: keep it above your
        /// write rate times your clients' retry deadline.
        #[arg(long, value_name = "N")]
        request_id_retention: Option<u32>,
    },
}

pub async fn run(ctx: &Ctx, cmd: ClusterCmd) -> Result<(), CliError> {
    match cmd {
        ClusterCmd::Status => {
            let s = ctx.client.cluster_status(ClusterStatusRequest {}).await?;
            let s = match leader_view(ctx, &s).await {
                Some(leader) => leader,
                None => s,
            };
            ctx.print_one(&ClusterStatusOut::from(s))
        }
        ClusterCmd::AddNode {
            id,
            raft_addr,
            api_addr,
        } => {
            let s = ctx.write(
                ctx.client
                    .add_node(AddNodeRequest {
                        request_id: ctx.request_id(),
                        id,
                        raft_addr,
                        api_addr,
                    })
                    .await,
            )?;
            ctx.print_one(&ClusterStatusOut::from(s))
        }
        ClusterCmd::RemoveNode { id } => {
            let s = ctx.write(
                ctx.client
                    .remove_node(RemoveNodeRequest {
                        request_id: ctx.request_id(),
                        id,
                    })
                    .await,
            )?;
            ctx.print_one(&ClusterStatusOut::from(s))
        }
        ClusterCmd::Snapshot => {
            let s = ctx.write(
                ctx.client
                    .trigger_snapshot(TriggerSnapshotRequest {
                        request_id: ctx.request_id(),
                    })
                    .await,
            )?;
            ctx.print_one(&SnapshotOut::from(s))
        }
        ClusterCmd::Settings {
            request_id_retention: None,
        } => {
            let s = ctx.client.get_settings(GetSettingsRequest {}).await?;
            ctx.print_one(&SettingsOut::from(s))
        }
        ClusterCmd::Settings {
            request_id_retention,
        } => {
            let s = ctx.write(
                ctx.client
                    .update_settings(UpdateSettingsRequest {
                        request_id: ctx.request_id(),
                        request_id_retention,
                    })
                    .await,
            )?;
            ctx.print_one(&SettingsOut::from(s))
        }
    }
}

/// The leader's answer, when `s` came from a follower that knows the leader. A
/// follower can vouch only for itself and its leader; the leader also knows
/// which members acknowledge replication, how far each got and their disks.
/// `None` (keep the follower's view) when the leader does not answer.
async fn leader_view(
    ctx: &Ctx,
    s: &prismnet_api::v1::ClusterStatusResponse,
) -> Option<prismnet_api::v1::ClusterStatusResponse> {
    let leader = s.leader_id.filter(|l| *l != s.node_id)?;
    let addr = &s.nodes.iter().find(|n| n.id == leader)?.api_addr;
    let config = prismnet_api::ClientConfig {
        endpoints: vec![addr.clone()],
        ..ctx.config.clone()
    };
    let client = prismnet_api::PrismClient::connect(config).await.ok()?;
    let answer = client.cluster_status(ClusterStatusRequest {}).await.ok()?;
    (answer.node_id == leader).then_some(answer)
}
