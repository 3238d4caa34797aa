//! Checks after every simulation step, and the replicas compared at the end.
//!
//! - Leadership is traced, not judged: openraft (its default `leader_id_adv`) lets
//!   two nodes lead in one term (n2, then n3 with the greater leader id), so "one
//!   leader per term" is not a rule here; a leader id (term, node) names one node
//!   by construction, and the NB fence orders epochs by it
//!   (`ovn-driver/src/reconcile/fence.rs`). An order check of elections from the
//!   outside is not sound either: metrics publish late, so an earlier election can
//!   be seen after a later one (sim seed 1174 showed it). What a wrong leader would
//!   break is checked instead: committed entries, and the replicas.
//! - Committed entries are never lost or changed: the first log id seen applied
//!   at an index is the only one any node may ever apply there.
//! - At the end, replicas at the same applied index have equal state digests.

use std::collections::BTreeMap;
use std::sync::Arc;

use prismnet_raft::types::LogId;
use prismnet_raft::NodeId;

use crate::node::NodeSlot;
use crate::trace::Trace;

#[derive(Default)]
pub struct StepChecks {
    /// The log id applied at each index, as first seen.
    applied: BTreeMap<u64, LogId>,
    /// Per node, the highest index checked against `applied`.
    checked: BTreeMap<NodeId, u64>,
    /// The last (leader, term, applied index) traced per node.
    seen: BTreeMap<NodeId, (Option<NodeId>, u64, u64)>,
}

impl StepChecks {
    pub fn after_step(
        &mut self,
        slots: &[Arc<NodeSlot>],
        trace: &mut Trace,
        now_ms: u64,
    ) -> Result<(), String> {
        for slot in slots {
            let Some(raft) = slot.running() else {
                self.checked.remove(&slot.id);
                continue;
            };
            let (term, leader, last_applied) = {
                let m = raft.metrics();
                let m = m.borrow();
                (m.current_term, m.current_leader, m.last_applied)
            };
            let applied = last_applied.map_or(0, |l| l.index);
            if self.seen.get(&slot.id) != Some(&(leader, term, applied)) {
                self.seen.insert(slot.id, (leader, term, applied));
                trace.event(
                    now_ms,
                    &format!(
                        "n{} term {term} leader {leader:?} applied {applied}",
                        slot.id
                    ),
                );
            }
            self.check_applied(slot, applied)?;
        }
        Ok(())
    }

    fn check_applied(&mut self, slot: &NodeSlot, applied: u64) -> Result<(), String> {
        let from = self.checked.get(&slot.id).copied().unwrap_or(0);
        if applied <= from {
            return Ok(());
        }
        let ids = slot
            .disk
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .written_ids(from + 1..=applied);
        for (index, id) in ids {
            let first = *self.applied.entry(index).or_insert(id);
            if first != id {
                return Err(format!(
                    "committed entry changed: index {index} was {first}, n{} applied {id}",
                    slot.id
                ));
            }
        }
        self.checked.insert(slot.id, applied);
        Ok(())
    }

    /// Running replicas at the same applied index hold the same state.
    pub fn replicas_equal(&self, slots: &[Arc<NodeSlot>]) -> Result<(), String> {
        let mut at: BTreeMap<u64, (NodeId, u128)> = BTreeMap::new();
        for slot in slots {
            let Some(raft) = slot.running() else { continue };
            let (index, digest) = raft.read_stale(|s| (s.last_index(), s.digest()));
            match at.get(&index) {
                Some((other, d)) if *d != digest => {
                    return Err(format!(
                        "replicas n{other} and n{} differ at index {index}",
                        slot.id
                    ))
                }
                _ => {
                    at.insert(index, (slot.id, digest));
                }
            }
        }
        Ok(())
    }
}
