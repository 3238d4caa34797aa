//! Network partitions between nodes, as nftables rules inside each node's
//! namespace (table `inet chaos`). Clients (the root namespace) and NB keep
//! reaching every node; only node-to-node traffic is cut.

use std::collections::{BTreeMap, BTreeSet};
use std::net::Ipv4Addr;

use serde::{Deserialize, Serialize};

use crate::cluster::sys::Result;
use crate::cluster::Cluster;

/// Which links are cut.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PartitionKind {
    /// One node (a follower, or any) cut from every other node.
    IsolateOne,
    /// The leader cut from every other node: a minority of one that believes it
    /// leads, and a majority that elects another.
    IsolateLeader,
    /// Majorities ring: each node reaches a majority, but a different one (with
    /// three nodes: 1-2 and 2-3 up, 1-3 cut).
    Ring,
    /// One way: the leader hears nothing from the others, they still hear it.
    LeaderDeaf,
    /// One way: nothing the leader sends reaches the others; it still hears them.
    LeaderMute,
}

pub const ALL: [PartitionKind; 5] = [
    PartitionKind::IsolateOne,
    PartitionKind::IsolateLeader,
    PartitionKind::Ring,
    PartitionKind::LeaderDeaf,
    PartitionKind::LeaderMute,
];

/// What each node drops: (sources it does not hear, destinations it cannot reach).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Cuts {
    pub drop_from: BTreeMap<u64, BTreeSet<u64>>,
    pub drop_to: BTreeMap<u64, BTreeSet<u64>>,
}

impl Cuts {
    /// Both directions between `a` and `b`.
    fn sever(&mut self, a: u64, b: u64) {
        for (x, y) in [(a, b), (b, a)] {
            self.drop_from.entry(x).or_default().insert(y);
            self.drop_to.entry(x).or_default().insert(y);
        }
    }

    /// Traffic from `a` to `b` only.
    fn one_way(&mut self, a: u64, b: u64) {
        self.drop_to.entry(a).or_default().insert(b);
        self.drop_from.entry(b).or_default().insert(a);
    }
}

/// The cuts a partition of `kind` makes, given the nodes and the leader (or the
/// node chosen as victim when the kind needs no leader).
pub fn cuts(kind: PartitionKind, ids: &[u64], victim: u64) -> Cuts {
    let mut c = Cuts::default();
    let others = || ids.iter().copied().filter(move |i| *i != victim);
    match kind {
        PartitionKind::IsolateOne | PartitionKind::IsolateLeader => {
            for o in others() {
                c.sever(victim, o);
            }
        }
        PartitionKind::Ring => {
            // Cut every pair of the ring except neighbours: with n nodes in a ring,
            // node i keeps i-1 and i+1.
            let n = ids.len();
            for (i, a) in ids.iter().enumerate() {
                for (j, b) in ids.iter().enumerate().skip(i + 1) {
                    let neighbours = j == i + 1 || (i == 0 && j == n - 1);
                    if !neighbours {
                        c.sever(*a, *b);
                    }
                }
            }
            if n == 3 {
                // A ring of three is fully connected: cut one pair so that each
                // node sees a different majority (1: {1,2}, 2: all, 3: {2,3}).
                c.sever(ids[0], ids[2]);
            }
        }
        PartitionKind::LeaderDeaf => {
            for o in others() {
                c.one_way(o, victim);
            }
        }
        PartitionKind::LeaderMute => {
            for o in others() {
                c.one_way(victim, o);
            }
        }
    }
    c
}

fn set(ips: &BTreeMap<u64, Ipv4Addr>, nodes: &BTreeSet<u64>) -> String {
    let list: Vec<String> = nodes.iter().map(|n| ips[n].to_string()).collect();
    format!("{{ {} }}", list.join(", "))
}

/// The ruleset for node `id` (empty when nothing is cut there).
pub fn rules(cuts: &Cuts, id: u64, ips: &BTreeMap<u64, Ipv4Addr>) -> Option<String> {
    let from = cuts.drop_from.get(&id).filter(|s| !s.is_empty());
    let to = cuts.drop_to.get(&id).filter(|s| !s.is_empty());
    if from.is_none() && to.is_none() {
        return None;
    }
    let mut r = String::from("table inet chaos {\n");
    r.push_str("  chain input {\n    type filter hook input priority 0; policy accept;\n");
    if let Some(s) = from {
        r.push_str(&format!("    ip saddr {} drop\n", set(ips, s)));
    }
    r.push_str("  }\n  chain output {\n    type filter hook output priority 0; policy accept;\n");
    if let Some(s) = to {
        r.push_str(&format!("    ip daddr {} drop\n", set(ips, s)));
    }
    r.push_str("  }\n}\n");
    Some(r)
}

/// Applies `cuts` to every node (replacing any earlier partition).
pub fn apply(cluster: &Cluster, cuts: &Cuts) -> Result<()> {
    let ips = cluster.ips();
    for id in cluster.ids() {
        let host = cluster.host(id);
        host.clear_faults()?;
        if let Some(r) = rules(cuts, id, &ips) {
            host.nft(&r)?;
        }
    }
    Ok(())
}

/// Removes every partition.
pub fn heal(cluster: &Cluster) -> Result<()> {
    for id in cluster.ids() {
        cluster.host(id).clear_faults()?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reach(c: &Cuts, a: u64, b: u64) -> bool {
        !c.drop_to.get(&a).is_some_and(|s| s.contains(&b))
            && !c.drop_from.get(&b).is_some_and(|s| s.contains(&a))
    }

    #[test]
    fn ring_of_three_gives_each_node_a_different_majority() {
        let c = cuts(PartitionKind::Ring, &[1, 2, 3], 0);
        assert!(reach(&c, 1, 2) && reach(&c, 2, 1));
        assert!(reach(&c, 2, 3) && reach(&c, 3, 2));
        assert!(!reach(&c, 1, 3) && !reach(&c, 3, 1));
    }

    #[test]
    fn one_way_cuts_cut_one_way() {
        let deaf = cuts(PartitionKind::LeaderDeaf, &[1, 2, 3], 2);
        assert!(!reach(&deaf, 1, 2) && reach(&deaf, 2, 1));
        let mute = cuts(PartitionKind::LeaderMute, &[1, 2, 3], 2);
        assert!(reach(&mute, 1, 2) && !reach(&mute, 2, 1));
        let iso = cuts(PartitionKind::IsolateLeader, &[1, 2, 3], 2);
        assert!(!reach(&iso, 1, 2) && !reach(&iso, 2, 3) && reach(&iso, 1, 3));
    }

    #[test]
    fn rules_name_the_cut_addresses() {
        let ips: BTreeMap<u64, Ipv4Addr> =
            [(1, [10, 0, 0, 1]), (2, [10, 0, 0, 2]), (3, [10, 0, 0, 3])]
                .into_iter()
                .map(|(i, a)| (i, Ipv4Addr::from(a)))
                .collect();
        let c = cuts(PartitionKind::IsolateOne, &[1, 2, 3], 1);
        let r = rules(&c, 1, &ips).unwrap();
        assert!(r.contains("ip saddr { 10.0.0.2, 10.0.0.3 } drop"), "{r}");
        assert!(r.contains("ip daddr { 10.0.0.2, 10.0.0.3 } drop"), "{r}");
        assert!(rules(&Cuts::default(), 1, &ips).is_none());
    }
}
