//! Checks after every simulation step, and the replicas compared at the end.
//!
//! - Leader ids only grow: a leader id is (term, node id), ordered that way, as
//!   openraft orders them and as the NB fence orders epochs
//!   (`ovn-driver/src/reconcile/fence.rs`). openraft (its default `leader_id_adv`)
//!   lets two nodes lead in one term, n2 and then n3, so "one leader per term" is
//!   not the rule; the rule is that every newly elected leader's id is greater
//!   than every earlier one's, which is what makes the fence sound.
//! - Committed entries are never lost or changed: the first log id seen applied
//!   at an index is the only one any node may ever apply there.
//! - At the end, replicas at the same applied index have equal state digests.

use std::collections::BTreeMap;
use std::sync::Arc;

use prismnet_raft::types::{LogId, ServerState};
use prismnet_raft::NodeId;

use crate::node::NodeSlot;
use crate::trace::Trace;

#[derive(Default)]
pub struct StepChecks {
    /// Every leader id seen elected, (term, node).
    elected: std::collections::BTreeSet<(u64, NodeId)>,
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
            let (state, term, leader, last_applied) = {
                let m = raft.metrics();
                let m = m.borrow();
                (m.state, m.current_term, m.current_leader, m.last_applied)
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
            if state == ServerState::Leader {
                let id = (term, slot.id);
                if !self.elected.contains(&id) {
                    if let Some(last) = self.elected.last().filter(|l| **l > id) {
                        return Err(format!(
                            "leader {id:?} elected after leader {last:?}: leader ids must grow"
                        ));
                    }
                    self.elected.insert(id);
                }
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
