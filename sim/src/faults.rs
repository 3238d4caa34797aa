//! The seeded fault schedule and how each fault is done to the simulation.
//!
//! One fault at a time: it starts, is held for a drawn time, heals, and a quiet
//! gap follows. What each kind does:
//!
//! | kind | fault | heal |
//! |---|---|---|
//! | `isolate` | every link between one node and the other nodes cut (the client still reaches it) | repaired |
//! | `one-way` | one node's messages to another dropped, the other way kept | repaired |
//! | `hold` | one node's messages to and from every host held (a stalled node, as the network sees it) | released, in order |
//! | `crash` | one node's software dropped and its disk cut back to what was flushed; `torn`: a prefix of the unflushed entries kept | software started again on that disk |
//! | `crash-all` | the same for every node at once | all started again |
//! | `clock-jump` | one node's wall clock moved by minutes, either way | true time |
//! | `disk-full` | one node's free-space figure below its guard's minimum | healthy figure |
//! | `replace` | a spare node added (learner, then voter) and a member removed, through the admin API from the client host | permanent |
//!
//! turmoil's TCP is reliable and ordered per connection; messages are delayed
//! (0.2-5 ms each, drawn) and so reordered across connections, and a crash or a
//! cut drops what was in flight. Duplication within a connection cannot happen.

use std::fmt;
use std::sync::atomic::Ordering;
use std::sync::Arc;

use prismnet_raft::NodeId;

use crate::node::{host_name, NodeSlot, FREE_BYTES_HEALTHY};
use crate::trace::Trace;

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Kind {
    Isolate(NodeId),
    OneWay(NodeId, NodeId),
    Hold(NodeId),
    Crash {
        node: NodeId,
        torn: bool,
    },
    CrashAll {
        torn: bool,
    },
    ClockJump {
        node: NodeId,
        offset_ms: i64,
    },
    DiskFull(NodeId),
    /// Permanent: the heal does nothing.
    Replace {
        add: NodeId,
        remove: NodeId,
    },
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Fault {
    Start(Kind),
    Heal(Kind),
}

impl fmt::Display for Fault {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Fault::Start(k) => write!(f, "fault {k:?}"),
            Fault::Heal(k) => write!(f, "heal {k:?}"),
        }
    }
}

/// Faults in time order, drawn from the seed.
pub struct Schedule {
    events: Vec<(u64, Fault)>,
    next: usize,
}

impl Schedule {
    /// `members` form the cluster at start; `spares` may join it (each once).
    pub fn new(seed: u64, members: &[NodeId], spares: &[NodeId], fault_ms: u64) -> Schedule {
        let mut rng = fastrand::Rng::with_seed(seed ^ 0xfa17);
        let mut members = members.to_vec();
        let mut spares = spares.to_vec();
        let mut events = Vec::new();
        let mut t = 500;
        while t < fault_ms {
            let kind = draw(&mut rng, &mut members, &mut spares);
            let held = rng.u64(300..=1_500);
            let heal = (t + held).min(fault_ms);
            events.push((t, Fault::Start(kind.clone())));
            events.push((heal, Fault::Heal(kind)));
            t = heal + rng.u64(100..=500);
        }
        Schedule { events, next: 0 }
    }

    /// A schedule given in full (a scenario test): `(start_ms, heal_ms, kind)`.
    pub fn given(faults: &[(u64, u64, Kind)]) -> Schedule {
        let mut events: Vec<(u64, Fault)> = faults
            .iter()
            .flat_map(|(start, heal, k)| {
                [
                    (*start, Fault::Start(k.clone())),
                    (*heal, Fault::Heal(k.clone())),
                ]
            })
            .collect();
        events.sort_by_key(|(t, _)| *t);
        Schedule { events, next: 0 }
    }

    /// The next event due at `now_ms`, if any.
    pub fn due(&mut self, now_ms: u64) -> Option<Fault> {
        let (at, f) = self.events.get(self.next)?;
        (*at <= now_ms).then(|| {
            self.next += 1;
            f.clone()
        })
    }
}

/// A fault on the current members; a `replace` updates them.
fn draw(rng: &mut fastrand::Rng, members: &mut Vec<NodeId>, spares: &mut Vec<NodeId>) -> Kind {
    let k = rng.usize(..members.len());
    let (node, other) = (members[k], members[(k + 1) % members.len()]);
    match rng.u8(0..8) {
        7 if !spares.is_empty() => {
            let add = spares.remove(0);
            members.push(add);
            members.retain(|m| *m != node);
            Kind::Replace { add, remove: node }
        }
        0 => Kind::Isolate(node),
        1 => Kind::OneWay(node, other),
        2 => Kind::Hold(node),
        3 => Kind::Crash {
            node,
            torn: rng.bool(),
        },
        4 => Kind::CrashAll { torn: rng.bool() },
        5 => Kind::ClockJump {
            node,
            offset_ms: if rng.bool() { 1 } else { -1 } * rng.i64(60_000..=600_000),
        },
        _ => Kind::DiskFull(node),
    }
}

/// Membership changes for the client host to make through the admin API.
pub type AdminQueue = Arc<std::sync::Mutex<std::collections::VecDeque<Kind>>>;

fn others(slots: &[Arc<NodeSlot>], node: NodeId) -> Vec<String> {
    slots
        .iter()
        .filter(|s| s.id != node)
        .map(|s| host_name(s.id))
        .collect()
}

fn slot(slots: &[Arc<NodeSlot>], node: NodeId) -> &Arc<NodeSlot> {
    &slots[(node - 1) as usize]
}

/// Does (or heals) `fault` to the simulation.
pub fn apply(
    sim: &mut turmoil::Sim<'_>,
    slots: &[Arc<NodeSlot>],
    admin: &AdminQueue,
    fault: &Fault,
    trace: &mut Trace,
    now_ms: u64,
) {
    let (kind, start) = match fault {
        Fault::Start(k) => (k, true),
        Fault::Heal(k) => (k, false),
    };
    match kind {
        Kind::Isolate(n) => {
            for o in others(slots, *n) {
                if start {
                    sim.partition(host_name(*n), o);
                } else {
                    sim.repair(host_name(*n), o);
                }
            }
        }
        Kind::OneWay(a, b) => {
            if start {
                sim.partition_oneway(host_name(*a), host_name(*b));
            } else {
                sim.repair_oneway(host_name(*a), host_name(*b));
            }
        }
        Kind::Hold(n) => {
            let mut all = others(slots, *n);
            all.push("client".into());
            for o in all {
                if start {
                    sim.hold(host_name(*n), o);
                } else {
                    sim.release(host_name(*n), o);
                }
            }
        }
        Kind::Crash { node, torn } => {
            crash(sim, slots, slot(slots, *node), *torn, start, trace, now_ms)
        }
        Kind::CrashAll { torn } => {
            for s in slots {
                crash(sim, slots, s, *torn, start, trace, now_ms);
            }
        }
        Kind::ClockJump { node, offset_ms } => {
            let off = if start { *offset_ms } else { 0 };
            slot(slots, *node)
                .clock_offset_ms
                .store(off, Ordering::Relaxed);
        }
        Kind::DiskFull(n) => {
            let free = if start { 64 << 20 } else { FREE_BYTES_HEALTHY };
            slot(slots, *n).free_bytes.store(free, Ordering::Relaxed);
        }
        Kind::Replace { .. } => {
            if start {
                admin
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .push_back(kind.clone());
            }
        }
    }
}

fn crash(
    sim: &mut turmoil::Sim<'_>,
    slots: &[Arc<NodeSlot>],
    slot: &Arc<NodeSlot>,
    torn: bool,
    start: bool,
    trace: &mut Trace,
    now_ms: u64,
) {
    let host = host_name(slot.id);
    if start {
        // A host that loses power sends nothing, and what turmoil's crash would
        // send (each of the host's sockets closing as its task is dropped) comes
        // in an order tokio decides by task id, which depends on what ran before
        // in the process: so its links are cut while it goes down.
        let mut peers = others(slots, slot.id);
        peers.push("client".into());
        for p in &peers {
            sim.partition(host.clone(), p.clone());
        }
        sim.crash(host.clone());
        for p in &peers {
            sim.repair(host.clone(), p.clone());
        }
        slot.clear();
        let lost = slot
            .disk
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .crash(torn);
        trace.event(
            now_ms,
            &format!("n{} lost {lost} unflushed entries", slot.id),
        );
    } else {
        sim.bounce(host);
    }
}
