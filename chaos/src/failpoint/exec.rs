//! Starting and healing one fault on the cluster.

use crate::cluster::sys::Result;
use crate::cluster::Cluster;

use super::{partition, Nemesis, Target};

/// A fault in force, and how to undo it.
pub struct Active {
    pub nemesis: Nemesis,
    /// Who it hit, for the report.
    pub detail: String,
    undo: Undo,
}

enum Undo {
    Partition,
    Restart(Vec<u64>),
    Resume(Vec<u64>),
}

/// The nodes a process fault hits: the leader, one follower (seeded), or all.
fn targets(cluster: &Cluster, t: Target, leader: Option<u64>, rng: &mut fastrand::Rng) -> Vec<u64> {
    let ids = cluster.ids();
    match (t, leader) {
        (Target::All, _) => ids,
        (Target::Leader, Some(l)) => vec![l],
        (Target::Follower, Some(l)) => {
            let f: Vec<u64> = ids.into_iter().filter(|i| *i != l).collect();
            vec![f[rng.usize(..f.len())]]
        }
        // No leader known: any node.
        (_, None) => vec![ids[rng.usize(..ids.len())]],
    }
}

fn list(ids: &[u64]) -> String {
    ids.iter().map(u64::to_string).collect::<Vec<_>>().join(",")
}

/// Starts `nemesis`. `leader` is the node the cluster names leader now, if any.
pub fn start(
    cluster: &mut Cluster,
    nemesis: Nemesis,
    leader: Option<u64>,
    rng: &mut fastrand::Rng,
) -> Result<Active> {
    let (detail, undo) = match nemesis {
        Nemesis::Partition(kind) => {
            let ids = cluster.ids();
            let victim = match (kind, leader) {
                (partition::PartitionKind::IsolateOne | partition::PartitionKind::Ring, _)
                | (_, None) => ids[rng.usize(..ids.len())],
                (_, Some(l)) => l,
            };
            let cuts = partition::cuts(kind, &ids, victim);
            partition::apply(cluster, &cuts)?;
            (format!("node {victim}"), Undo::Partition)
        }
        Nemesis::Kill(t) => {
            let hit = targets(cluster, t, leader, rng);
            for id in &hit {
                cluster.node_mut(*id).kill();
            }
            (format!("nodes {}", list(&hit)), Undo::Restart(hit))
        }
        Nemesis::Pause(t) => {
            let hit = targets(cluster, t, leader, rng);
            for id in &hit {
                cluster.node(*id).pause();
            }
            (format!("nodes {}", list(&hit)), Undo::Resume(hit))
        }
    };
    Ok(Active {
        nemesis,
        detail,
        undo,
    })
}

/// Undoes `active`.
pub fn heal(cluster: &mut Cluster, active: Active) -> Result<()> {
    match active.undo {
        Undo::Partition => partition::heal(cluster),
        Undo::Restart(ids) => {
            for id in ids {
                cluster.start_node(id)?;
            }
            Ok(())
        }
        Undo::Resume(ids) => {
            for id in ids {
                cluster.node(id).resume();
            }
            Ok(())
        }
    }
}
