//! `prismctl ovn ...`: the leader's view of the OVN Northbound DB (admin only).
//! Until the node implements OvnService these answer `error: unimplemented: ...`.

use clap::Subcommand;
use prismnet_api::v1::{OvnDiffRequest, OvnStatusRequest, OvnTakeoverRequest};

use crate::error::CliError;
use crate::output::ovn::{DriftOut, OvnStatusOut, TakeoverOut};
use crate::Ctx;

use super::all_pages;

#[derive(Debug, Subcommand)]
pub enum OvnCmd {
    /// NB connection, fencing epoch and sync progress of the leader.
    Status,
    /// Drift between the replicated state and the NB DB (one row per object).
    Diff,
    /// Make this cluster the owner of the NB DB, then reconcile.
    Takeover {
        /// Also take over when another live owner's fence is newer.
        #[arg(long)]
        force: bool,
    },
}

pub async fn run(ctx: &Ctx, cmd: OvnCmd) -> Result<(), CliError> {
    let c = &ctx.client;
    match cmd {
        OvnCmd::Status => {
            let s = c.ovn_status(OvnStatusRequest {}).await?;
            ctx.print_one(&OvnStatusOut::from(s))
        }
        OvnCmd::Diff => {
            let items = all_pages(|page_token| {
                let req = OvnDiffRequest {
                    page_size: 0,
                    page_token,
                };
                async move {
                    let r = c.ovn_diff(req).await?;
                    Ok((r.drifts, r.next_page_token))
                }
            })
            .await?;
            let out: Vec<DriftOut> = items.into_iter().map(Into::into).collect();
            ctx.print_list(&out)
        }
        OvnCmd::Takeover { force } => {
            let t = ctx.write(
                c.ovn_takeover(OvnTakeoverRequest {
                    request_id: ctx.request_id(),
                    force,
                })
                .await,
            )?;
            ctx.print_one(&TakeoverOut::from(t))
        }
    }
}
