//! The checkers of a run's history and final state. The report calls two
//! functions, each giving one [`Finding`]:
//!
//! - [`linearizable`]: the history, cut per subnet, is linearizable against
//!   [`crate::model`] (a Wing-Gong-Lowe search, [`linearizable::search`]);
//! - [`invariants`]: rules on what was observed and on the final state, each
//!   certain on its own (see [`invariants`](mod@invariants)).
//!
//! How the history becomes model operations (enforced in [`partition`]):
//! - a create belongs to the subnet it names; a delete, get or write to the
//!   subnet of its port id, as any answer showed it; one on an id no answer
//!   ever showed is dropped (counted: clients only use ids they saw);
//! - `ok` and the failures that say something of the state (`subnet_full`
//!   for a create without an address, `ip_in_use` for one with, `not_found`)
//!   must take effect between invocation and completion;
//! - every other failure, and every failed read, constrains nothing: dropped;
//! - an `info` create took effect iff its device was seen in some answer or
//!   the final read (an unseen port would still be live at the end: clients
//!   never touch an id they did not see); then as the port seen, before that
//!   answer completed; otherwise it is dropped (never took effect);
//! - `info` deletes and name writes are optional: any time after invocation,
//!   or never;
//! - the final read is a list of each subnet after every completion.

mod invariants;
pub mod linearizable;
mod observe;
mod partition;

#[cfg(test)]
mod sim;
#[cfg(test)]
mod tests;

use std::net::Ipv4Addr;

use serde::Serialize;
use serde_json::json;

use crate::history::{Operation, PortSeen};
use crate::model::State;
use crate::report::Outcome;
use crate::traffic::Subnet;
use linearizable::Search;
use observe::{OpRef, Source};
use partition::{Interner, Partition};

/// Steps per subnet. A simulated 20,000-operation history (3 subnets, 16
/// clients, ~600 of unknown outcome) takes ~70,000 steps per subnet and
/// ~12,000 cached configurations (0.3 s in release, `sim::large`); a third
/// of writes unknown, ~150 per operation. A partition that needs more than
/// this is `Unknown`; memory stays bounded (one configuration, well under a
/// KiB, per successful lift).
pub const BUDGET_STEPS_DEFAULT: u64 = 2_000_000;

/// One checker's verdict.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Finding {
    pub outcome: Outcome,
    /// One line.
    pub summary: String,
    /// The evidence, as JSON (operations by their position in `ops`).
    pub details: serde_json::Value,
}

/// Whether the history is linearizable, subnet by subnet. `budget_steps`:
/// model steps allowed per subnet; exhausted is `Unknown`, not a pass.
pub fn linearizable(
    ops: &[Operation],
    subnets: &[Subnet],
    final_ports: &[PortSeen],
    budget_steps: u64,
) -> Finding {
    let observed = observe::observe(ops, final_ports);
    let cut = partition::partition(ops, subnets, final_ports, &observed);
    let mut checked = Vec::new();
    let mut refuted = None;
    let mut exhausted = Vec::new();
    for p in &cut.partitions {
        let required = p.entries.iter().filter(|e| e.deadline_ns.is_some()).count();
        let (outcome, effort) = match linearizable::search(p, budget_steps) {
            Search::Linearizable(effort) => ("linearizable", effort),
            Search::Exhausted(effort) => {
                exhausted.push(p.subnet.clone());
                ("exhausted", effort)
            }
            Search::Refuted(effort, deepest) => {
                if refuted.is_none() {
                    refuted = Some(refutation(ops, p, &deepest, &cut.interner, effort.steps));
                }
                ("refuted", effort)
            }
        };
        checked.push(json!({
            "subnet": p.subnet,
            "required": required,
            "optional": p.entries.len() - required,
            "range_known": p.model.range.is_some(),
            "outcome": outcome,
            "steps": effort.steps,
            "configurations": effort.configurations,
        }));
    }
    let malformed: Vec<_> = cut
        .malformed
        .iter()
        .map(|(i, why)| json!({"why": why, "op": OpRef::new(ops, Source::Op(*i))}))
        .collect();
    let mut details = json!({
        "budget_steps": budget_steps,
        "subnets": checked,
        "dropped": cut.dropped,
        "malformed": malformed,
    });
    let (outcome, summary) = if let Some((summary, evidence)) = refuted {
        details["anomaly"] = evidence;
        (Outcome::Anomaly, summary)
    } else if !malformed.is_empty() {
        let summary = format!("{} answers do not fit their operation", malformed.len());
        (Outcome::Anomaly, summary)
    } else if !exhausted.is_empty() {
        let summary = format!(
            "undecided: {budget_steps} steps were not enough for subnet(s) {}",
            exhausted.join(", ")
        );
        (Outcome::Unknown, summary)
    } else {
        let total: usize = cut.partitions.iter().map(|p| p.entries.len()).sum();
        let summary = format!(
            "linearizable: {total} operations in {} subnets",
            cut.partitions.len()
        );
        (Outcome::Valid, summary)
    };
    Finding {
        outcome,
        summary,
        details,
    }
}

/// The one-line summary and the evidence of a partition with no
/// linearization: the operations it could not get past, the last ones it
/// linearized and the state there (Porcupine's partial linearization).
fn refutation(
    ops: &[Operation],
    p: &Partition,
    deepest: &linearizable::Deepest,
    interner: &Interner,
    steps: u64,
) -> (String, serde_json::Value) {
    let stuck = linearizable::stuck(p, deepest);
    let op_ref = |k: usize| OpRef::new(ops, p.entries[k].source);
    let first = stuck
        .first()
        .map(|(k, _)| describe(&op_ref(*k)))
        .unwrap_or_default();
    let required = p.entries.iter().filter(|e| e.deadline_ns.is_some()).count();
    let summary = format!(
        "not linearizable in subnet {}: {first} cannot take effect after {} of {required} operations",
        p.subnet, deepest.required_done
    );
    let evidence = json!({
        "subnet": p.subnet,
        "linearized": deepest.required_done,
        "required": required,
        "steps": steps,
        "stuck": stuck.iter().map(|(k, refused)| json!({
            "op": op_ref(*k),
            "why": if *refused { "impossible in the state reached" } else { "possible, but nothing fits after it" },
        })).collect::<Vec<_>>(),
        "last_linearized": deepest.tail.iter().map(|k| op_ref(*k)).collect::<Vec<_>>(),
        "state": show_state(&deepest.state, interner),
    });
    (summary, evidence)
}

fn describe(r: &OpRef) -> String {
    match r.op {
        Some(i) => format!("op {i} ({} -> {})", r.f, r.outcome),
        None => "the final read".into(),
    }
}

fn show_state(s: &State, interner: &Interner) -> Vec<PortSeen> {
    s.ports
        .iter()
        .map(|(id, p)| PortSeen {
            id: interner.name(*id).into(),
            subnet: interner.name(p.subnet).into(),
            ip: Ipv4Addr::from(p.ip).to_string(),
            mac: interner.name(p.mac).into(),
            name: interner.name(p.name).into(),
            device: interner.name(p.device).into(),
        })
        .collect()
}

/// How many violations a finding lists (all are counted).
const VIOLATIONS_SHOWN: usize = 100;

/// The invariants of [`invariants`](mod@invariants) on the history and the
/// final state.
pub fn invariants(ops: &[Operation], subnets: &[Subnet], final_ports: &[PortSeen]) -> Finding {
    let observed = observe::observe(ops, final_ports);
    let mut c = invariants::Checker {
        ops,
        observed: &observed,
        final_ports,
        found: Vec::new(),
    };
    c.run_all();
    let mut counts = std::collections::BTreeMap::<&str, usize>::new();
    for v in &c.found {
        *counts.entry(v.kind).or_default() += 1;
    }
    let details = json!({
        "subnets": subnets.len(),
        "ports_seen": observed.subnet_of_id.len(),
        "final_ports": final_ports.len(),
        "counts": counts,
        "violations": c.found.iter().take(VIOLATIONS_SHOWN).collect::<Vec<_>>(),
    });
    let (outcome, summary) = match c.found.first() {
        None => (
            Outcome::Valid,
            format!(
                "{} ports seen, {} at the end: every invariant holds",
                observed.subnet_of_id.len(),
                final_ports.len()
            ),
        ),
        Some(v) => {
            let kinds: Vec<String> = counts.iter().map(|(k, n)| format!("{n} {k}")).collect();
            (
                Outcome::Anomaly,
                format!("{} (first: {})", kinds.join(", "), v.message),
            )
        }
    };
    Finding {
        outcome,
        summary,
        details,
    }
}
