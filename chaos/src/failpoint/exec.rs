//! Starting and healing one fault on the cluster.

use std::net::Ipv4Addr;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use crate::cluster::ovn::{member_ip, NB_MEMBERS};
use crate::cluster::sys::Result;
use crate::cluster::Cluster;

use super::{clock, partition, Nemesis, Target};

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
    /// Clear the fault rules of one node.
    ClearRules(u64),
    /// Set the node's clock offset back to zero (after stopping a strobe).
    TrueTime(PathBuf, Option<Strobe>),
    RestartNb(Vec<u8>),
    /// Permanent (a membership change).
    Nothing,
    /// Remove the balloon file.
    Deflate(PathBuf),
    NoDelay(PathBuf),
}

/// A thread that keeps moving a node's clock until told to stop.
struct Strobe {
    stop: Arc<AtomicBool>,
    thread: std::thread::JoinHandle<()>,
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

/// Starts `nemesis`. `leader` is the node the cluster names leader now, if any;
/// `rt` runs the admin calls of a membership change.
pub fn start(
    cluster: &mut Cluster,
    nemesis: Nemesis,
    leader: Option<u64>,
    rng: &mut fastrand::Rng,
    rt: &tokio::runtime::Runtime,
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
        Nemesis::Power(t) => {
            let hit = targets(cluster, t, leader, rng);
            let torn = hit[rng.usize(..hit.len())];
            // All down first (one power cut), then their unsynced data goes.
            for id in &hit {
                cluster.node_mut(*id).kill();
            }
            let mut lost = Vec::new();
            for id in &hit {
                let d = cluster.node_mut(*id).power_cut(*id == torn)?;
                lost.push(format!("node {id} {d}"));
            }
            (lost.join("; "), Undo::Restart(hit))
        }
        Nemesis::Pause(t) => {
            let hit = targets(cluster, t, leader, rng);
            for id in &hit {
                cluster.node(*id).pause();
            }
            (format!("nodes {}", list(&hit)), Undo::Resume(hit))
        }
        Nemesis::ClockJump => {
            let id = targets(cluster, Target::Follower, leader, rng)[0];
            let id = if rng.bool() { leader.unwrap_or(id) } else { id };
            let secs = rng.i64(60..=600) * if rng.bool() { 1 } else { -1 };
            let file = clock::offset_file(&cluster.node_dir(id));
            clock::set(&file, &format!("{secs:+}s"))?;
            (format!("node {id} {secs:+} s"), Undo::TrueTime(file, None))
        }
        Nemesis::ClockStrobe => {
            let id = leader.unwrap_or_else(|| targets(cluster, Target::All, None, rng)[0]);
            let file = clock::offset_file(&cluster.node_dir(id));
            let strobe = strobe(file.clone(), rng.u64(..));
            (format!("node {id}"), Undo::TrueTime(file, Some(strobe)))
        }
        Nemesis::LinkLoss => {
            let id = targets(cluster, Target::All, None, rng)[0];
            let percent = rng.u8(20..=40);
            let others: Vec<Ipv4Addr> = cluster
                .ips()
                .into_iter()
                .filter(|(i, _)| *i != id)
                .map(|(_, ip)| ip)
                .collect();
            cluster.host(id).nft(&loss_rules(&others, percent))?;
            (format!("node {id} {percent}%"), Undo::ClearRules(id))
        }
        Nemesis::LinkDelay => {
            let id = targets(cluster, Target::All, None, rng)[0];
            let ms = rng.u64(100..=400);
            let file = super::delay::delay_file(&cluster.node_dir(id));
            super::delay::set(&file, ms)?;
            (format!("to node {id} {ms} ms"), Undo::NoDelay(file))
        }
        Nemesis::NbKillLeader => {
            let m = cluster.ovn.leader().unwrap_or(1);
            cluster.ovn.kill_member(m);
            (format!("NB member {m}"), Undo::RestartNb(vec![m]))
        }
        Nemesis::NbCutLeader => {
            let id = leader.unwrap_or_else(|| targets(cluster, Target::All, None, rng)[0]);
            let nb: Vec<Ipv4Addr> = (1..=NB_MEMBERS).map(member_ip).collect();
            cluster.host(id).nft(&cut_rules(&nb))?;
            (format!("node {id}"), Undo::ClearRules(id))
        }
        Nemesis::NbRestart => {
            let all: Vec<u8> = (1..=NB_MEMBERS).collect();
            for m in &all {
                cluster.ovn.kill_member(*m);
            }
            ("every NB member".to_string(), Undo::RestartNb(all))
        }
        Nemesis::MembershipReplace => (replace(cluster, rng, rt)?, Undo::Nothing),
        Nemesis::DiskFull(t) => {
            let id = targets(cluster, t, leader, rng)[0];
            let balloon = cluster.disk_dir(id).join("balloon");
            let left = fill(&balloon)?;
            (format!("node {id} {left} MiB left"), Undo::Deflate(balloon))
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
        Undo::ClearRules(id) => cluster.host(id).clear_faults(),
        Undo::TrueTime(file, strobe) => {
            if let Some(s) = strobe {
                s.stop.store(true, Ordering::SeqCst);
                let _ = s.thread.join();
            }
            clock::set(&file, "+0")
        }
        Undo::Nothing => Ok(()),
        Undo::NoDelay(file) => super::delay::set(&file, 0),
        Undo::Deflate(balloon) => std::fs::remove_file(&balloon)
            .map_err(crate::cluster::sys::io_err(balloon.display().to_string())),
        Undo::RestartNb(members) => {
            for m in members {
                let ledger = &cluster.ledger;
                cluster.ovn.start_member(ledger, m)?;
            }
            Ok(())
        }
    }
}

fn strobe(file: PathBuf, seed: u64) -> Strobe {
    let stop = Arc::new(AtomicBool::new(false));
    let flag = stop.clone();
    let thread = std::thread::spawn(move || {
        let mut rng = fastrand::Rng::with_seed(seed);
        while !flag.load(Ordering::SeqCst) {
            let secs = rng.i64(-300..=300);
            let _ = clock::set(&file, &format!("{secs:+}s"));
            std::thread::sleep(Duration::from_millis(250));
        }
    });
    Strobe { stop, thread }
}

fn ip_set(ips: &[Ipv4Addr]) -> String {
    let v: Vec<String> = ips.iter().map(Ipv4Addr::to_string).collect();
    format!("{{ {} }}", v.join(", "))
}

/// Drops `percent`% of the packets from and to `peers`, at random.
fn loss_rules(peers: &[Ipv4Addr], percent: u8) -> String {
    let set = ip_set(peers);
    format!(
        "table inet chaos {{\n\
           chain input {{ type filter hook input priority 0; policy accept;\n\
             ip saddr {set} numgen random mod 100 < {percent} drop\n }}\n\
           chain output {{ type filter hook output priority 0; policy accept;\n\
             ip daddr {set} numgen random mod 100 < {percent} drop\n }}\n\
         }}\n"
    )
}

/// Drops all traffic from and to `peers`.
fn cut_rules(peers: &[Ipv4Addr]) -> String {
    let set = ip_set(peers);
    format!(
        "table inet chaos {{\n\
           chain input {{ type filter hook input priority 0; policy accept; ip saddr {set} drop\n }}\n\
           chain output {{ type filter hook output priority 0; policy accept; ip daddr {set} drop\n }}\n\
         }}\n"
    )
}

/// Adds a fresh node (AddNode: learner until caught up, then voter) and removes
/// a voter other than it. Returns what it did; an admin call that fails is part of
/// the history of faults (the cluster may be busy electing), not a run error.
fn replace(
    cluster: &mut Cluster,
    rng: &mut fastrand::Rng,
    rt: &tokio::runtime::Runtime,
) -> Result<String> {
    use prismnet_api::v1;
    let old = cluster.ids();
    let new = old.iter().max().copied().unwrap_or(0) + 1;
    cluster.start_joiner(new)?;
    let (raft, api) = (cluster.node(new).raft_advertised(), cluster.node(new).api());
    let victim = old[rng.usize(..old.len())];
    let endpoints = cluster.endpoints();
    let admin = |endpoints: Vec<String>| async move {
        prismnet_api::PrismClient::connect(prismnet_api::ClientConfig {
            deadline: Duration::from_secs(60),
            ..prismnet_api::ClientConfig::new(endpoints)
        })
        .await
    };
    let added = rt.block_on(async {
        admin(endpoints.clone())
            .await?
            .add_node(v1::AddNodeRequest {
                id: new,
                raft_addr: raft.to_string(),
                api_addr: api.to_string(),
                ..Default::default()
            })
            .await
    });
    if let Err(e) = added {
        // Not a member: take it out again so later faults do not target it.
        cluster.forget_node(new);
        return Ok(format!("add node {new} failed: {e}"));
    }
    let removed = rt.block_on(async {
        admin(endpoints)
            .await?
            .remove_node(v1::RemoveNodeRequest {
                id: victim,
                ..Default::default()
            })
            .await
    });
    match removed {
        Ok(_) => {
            cluster.forget_node(victim);
            Ok(format!("added node {new}, removed node {victim}"))
        }
        Err(e) => Ok(format!(
            "added node {new}; removing node {victim} failed: {e}"
        )),
    }
}

/// Free space left on a disk-full node: below prismnetd's default minimum
/// (256 MiB), above what RocksDB needs to keep running (its guard refuses before
/// the disk is really full).
const DISK_LEFT_MB: u64 = 64;

/// Grows `balloon` until its file system has [`DISK_LEFT_MB`] free; returns that.
fn fill(balloon: &std::path::Path) -> Result<u64> {
    let dir = balloon.parent().unwrap_or(balloon);
    let out = crate::cluster::sys::run("df", &["--output=avail", "-B1M", &dir.to_string_lossy()])?;
    let avail: u64 = out
        .lines()
        .nth(1)
        .and_then(|l| l.trim().parse().ok())
        .unwrap_or(0);
    let size = avail.saturating_sub(DISK_LEFT_MB);
    crate::cluster::sys::run(
        "fallocate",
        &["-l", &format!("{size}M"), &balloon.to_string_lossy()],
    )?;
    Ok(avail - size)
}
