//! Nemeses (etcd calls them failpoints): the faults a run injects, on a schedule
//! drawn from the run's seed, each logged with its start and end.
//!
//! A schedule alternates a fault (held for a while) and a quiet spell after
//! healing it, so that the cluster is seen both failing and recovering.

pub mod clock;
pub mod delay;
pub mod exec;
pub mod partition;

use std::time::Duration;

use serde::{Deserialize, Serialize};

pub use partition::PartitionKind;

/// Which node a process fault hits.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Target {
    Leader,
    Follower,
    All,
}

/// One kind of fault.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Nemesis {
    Partition(PartitionKind),
    /// SIGKILL, then a restart on the same data dir when healed.
    Kill(Target),
    /// Power loss: SIGKILL, then every write not yet fsynced is lost (the data
    /// dirs are on lazyfs in runs with this nemesis; one target, drawn from the
    /// run's seed, keeps a torn prefix of its last write); restarted when healed.
    Power(Target),
    /// SIGSTOP, SIGCONT when healed.
    Pause(Target),
    /// The wall clock of one node jumps (forward or back, minutes), through
    /// libfaketime; healed back to true time.
    ClockJump,
    /// The wall clock of one node strobes: jumps back and forth by seconds to
    /// minutes every ~250 ms while the fault is held (libfaketime's speed-ups are
    /// not reliable when changed at runtime, so drift is modelled by jumps).
    ClockStrobe,
    /// One node drops a share (20-40%) of the packets to and from the other nodes.
    LinkLoss,
    /// Everything sent to one node's Raft port is held 100-400 ms (a proxy in
    /// front of every node's Raft port, in runs with this nemesis).
    LinkDelay,
    /// The NB member that leads NB's Raft is killed; restarted when healed.
    NbKillLeader,
    /// The PrismNET leader loses NB (nftables in its namespace); the rest reach it.
    NbCutLeader,
    /// Every NB member is killed; restarted when healed.
    NbRestart,
    /// A new node joins (learner, then voter) and a voter is removed, while
    /// traffic runs: the membership changes for the rest of the run.
    MembershipReplace,
    /// One node's disk fills (a balloon file leaves it below prismnetd's
    /// free-space minimum); emptied when healed.
    DiskFull(Target),
}

impl Nemesis {
    /// A short name for logs and the report (`partition-ring`, `kill-leader`).
    pub fn name(&self) -> String {
        let v = serde_json::to_value(self).unwrap_or_default();
        match v {
            serde_json::Value::Object(m) => m
                .iter()
                .map(|(k, v)| format!("{k}-{}", v.as_str().unwrap_or_default()))
                .collect::<Vec<_>>()
                .join(""),
            other => other.as_str().unwrap_or_default().to_string(),
        }
        .replace('_', "-")
    }

    /// Every nemesis this build knows.
    pub fn all() -> Vec<Nemesis> {
        let mut v: Vec<Nemesis> = partition::ALL
            .iter()
            .map(|k| Nemesis::Partition(*k))
            .collect();
        for t in [Target::Leader, Target::Follower, Target::All] {
            v.push(Nemesis::Kill(t));
        }
        for t in [Target::Leader, Target::Follower, Target::All] {
            v.push(Nemesis::Power(t));
        }
        for t in [Target::Leader, Target::Follower] {
            v.push(Nemesis::Pause(t));
        }
        v.extend([
            Nemesis::ClockJump,
            Nemesis::ClockStrobe,
            Nemesis::LinkLoss,
            Nemesis::LinkDelay,
            Nemesis::NbKillLeader,
            Nemesis::NbCutLeader,
            Nemesis::NbRestart,
            Nemesis::MembershipReplace,
            Nemesis::DiskFull(Target::Leader),
            Nemesis::DiskFull(Target::Follower),
        ]);
        v
    }

    /// Whether the nodes must run under libfaketime for this nemesis.
    pub fn needs_clock(&self) -> bool {
        matches!(self, Nemesis::ClockJump | Nemesis::ClockStrobe)
    }

    /// Whether the nodes' data dirs must be on lazyfs for this nemesis.
    pub fn needs_lazyfs(&self) -> bool {
        matches!(self, Nemesis::Power(_))
    }

    /// Parses a name as [`Nemesis::name`] prints it, or a group: `partition`,
    /// `kill`, `pause`, `all`.
    pub fn parse_set(spec: &str) -> Result<Vec<Nemesis>, String> {
        let all = Nemesis::all();
        let mut out = Vec::new();
        for part in spec.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            let matched: Vec<Nemesis> = all
                .iter()
                .copied()
                .filter(|n| {
                    part == "all" || n.name() == part || n.name().starts_with(&format!("{part}-"))
                })
                .collect();
            if matched.is_empty() {
                return Err(format!(
                    "unknown nemesis {part:?}; known: all, {}",
                    all.iter().map(Nemesis::name).collect::<Vec<_>>().join(", ")
                ));
            }
            for n in matched {
                if !out.contains(&n) {
                    out.push(n);
                }
            }
        }
        Ok(out)
    }
}

/// One entry of a schedule: the fault, how long it is held, the quiet after it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Step {
    pub nemesis: Nemesis,
    pub hold_ms: u64,
    pub quiet_ms: u64,
}

/// Bounds of a schedule's durations.
#[derive(Clone, Copy, Debug)]
pub struct Pace {
    pub hold: (Duration, Duration),
    pub quiet: (Duration, Duration),
}

impl Pace {
    pub const DEFAULT: Pace = Pace {
        hold: (Duration::from_secs(3), Duration::from_secs(10)),
        quiet: (Duration::from_secs(2), Duration::from_secs(6)),
    };
    /// CI's: long enough for an election (~1 s) inside each fault.
    pub const SHORT: Pace = Pace {
        hold: (Duration::from_millis(2000), Duration::from_millis(3500)),
        quiet: (Duration::from_millis(1000), Duration::from_millis(2000)),
    };
}

fn between(rng: &mut fastrand::Rng, (lo, hi): (Duration, Duration)) -> u64 {
    let (lo, hi) = (lo.as_millis() as u64, hi.as_millis() as u64);
    rng.u64(lo..=hi.max(lo))
}

/// A schedule drawn from `seed`: every nemesis of `set` once first, in a seeded
/// order (always, even past `total`: a short run still covers them all), then
/// random ones until `total` is used.
pub fn schedule(set: &[Nemesis], seed: u64, total: Duration, pace: Pace) -> Vec<Step> {
    let mut rng = fastrand::Rng::with_seed(seed);
    let mut first = set.to_vec();
    rng.shuffle(&mut first);
    let mut steps = Vec::new();
    let mut used = 0u64;
    let budget = total.as_millis() as u64;
    let mut pick = first.into_iter();
    loop {
        let nemesis = match pick.next() {
            Some(n) => n,
            None if used < budget && !set.is_empty() => set[rng.usize(..set.len())],
            None => break,
        };
        let step = Step {
            nemesis,
            hold_ms: between(&mut rng, pace.hold),
            quiet_ms: between(&mut rng, pace.quiet),
        };
        used += step.hold_ms + step.quiet_ms;
        steps.push(step);
    }
    steps
}

/// A fault as it happened, for the report.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Window {
    pub nemesis: String,
    /// Who it hit and how (e.g. `leader 2`, `cut 1-3`).
    pub detail: String,
    /// When the nemesis began to act, and when it had fully acted (every rule
    /// installed, every process signalled): a fault takes effect in between.
    pub start_ns: u64,
    #[serde(default)]
    pub in_effect_ns: u64,
    /// When the heal had completed.
    pub end_ns: u64,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_parse_back() {
        for n in Nemesis::all() {
            assert_eq!(
                Nemesis::parse_set(&n.name()).unwrap(),
                vec![n],
                "{}",
                n.name()
            );
        }
        assert_eq!(Nemesis::name(&Nemesis::Kill(Target::Leader)), "kill-leader");
        assert_eq!(
            Nemesis::name(&Nemesis::Partition(PartitionKind::IsolateLeader)),
            "partition-isolate-leader"
        );
        assert_eq!(Nemesis::parse_set("all").unwrap(), Nemesis::all());
        assert_eq!(Nemesis::parse_set("pause").unwrap().len(), 2);
        assert_eq!(Nemesis::parse_set("power").unwrap().len(), 3);
        assert_eq!(Nemesis::name(&Nemesis::Power(Target::All)), "power-all");
        assert_eq!(Nemesis::parse_set("clock").unwrap().len(), 2);
        assert_eq!(Nemesis::parse_set("nb").unwrap().len(), 3);
        assert_eq!(Nemesis::name(&Nemesis::NbKillLeader), "nb-kill-leader");
        assert!(Nemesis::parse_set("nope").is_err());
    }

    #[test]
    fn a_schedule_covers_the_set_and_is_seeded() {
        let set = Nemesis::all();
        let a = schedule(&set, 7, Duration::from_secs(60), Pace::DEFAULT);
        let b = schedule(&set, 7, Duration::from_secs(60), Pace::DEFAULT);
        assert_eq!(a, b);
        for n in &set {
            assert!(a.iter().any(|s| s.nemesis == *n), "{n:?} missing");
        }
        assert_ne!(a, schedule(&set, 8, Duration::from_secs(60), Pace::DEFAULT));
    }
}
