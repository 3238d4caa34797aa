//! Checks after every simulation step, and the replicas compared at the end.
//!
//! - At most one leader per term (the term is the fencing epoch of the NB
//!   driver): two nodes seen leading in one term is a safety violation.
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
    /// The leader of each term seen.
    leaders: BTreeMap<u64, NodeId>,
    /// The log id applied at each index, as first seen.
    applied: BTreeMap<u64, LogId>,
    /// Per node, the highest index checked against `applied`.
    checked: BTreeMap<NodeId, u64>,
    /// The last (leader, term) traced per node.
    seen: BTreeMap<NodeId, (Option<NodeId>, u64)>,
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
            if self.seen.get(&slot.id) != Some(&(leader, term)) {
                self.seen.insert(slot.id, (leader, term));
                trace.event(
                    now_ms,
                    &format!("n{} term {term} leader {leader:?}", slot.id),
                );
            }
            if state == ServerState::Leader {
                let first = *self.leaders.entry(term).or_insert(slot.id);
                if first != slot.id {
                    return Err(format!(
                        "two leaders in term {term}: n{first} and n{}",
                        slot.id
                    ));
                }
            }
            self.check_applied(slot, last_applied.map_or(0, |l| l.index))?;
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
