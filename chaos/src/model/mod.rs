//! The model the linearizability checker uses: one subnet's port allocations
//! as a sequential specification.
//!
//! The state is the set of live ports of one subnet, by id, each with its
//! address, MAC, name and device. An operation is an [`Op`]: what one client
//! call *observed*, already resolved against its outcome (an `ok` create is
//! [`Op::Create`] with the port it returned, a `not_found` is [`Op::Absent`],
//! ...). [`Model::step`] says whether that observation can happen in a state
//! and, if so, the state after it. It is pure and deterministic (`BTreeMap`
//! only), so the search can cache states.
//!
//! Strings (ids, MACs, names, devices, subnets) are interned by the checker to
//! [`Sym`]s and addresses are `u32`: states are small `Copy` values, cheap to
//! clone and hash.
//!
//! Invariants enforced here (in [`Model::step`]):
//! - a port's address is in the subnet's `first..=last` and held by no other
//!   live port of the subnet; its MAC is held by no other live port of the
//!   subnet (cluster-wide MAC uniqueness is checked by `validate::invariants`);
//! - a create with a requested address gets exactly that address;
//! - `subnet_full` only when every allocatable address is held, `ip_in_use`
//!   only when the requested address is held;
//! - a read returns exactly the live state (a port's every field; a list is
//!   the whole subnet);
//! - a name write changes the name only; its answer is the port, but for its
//!   name (a replayed write answers the port as it is now).

use std::collections::BTreeMap;

/// An interned string (port id, MAC, name, device, subnet id).
pub type Sym = u32;

/// A live port as the model keeps it (its id is the key of [`State::ports`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Port {
    pub subnet: Sym,
    pub ip: u32,
    pub mac: Sym,
    pub name: Sym,
    pub device: Sym,
}

/// The live ports of one subnet.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
pub struct State {
    pub ports: BTreeMap<Sym, Port>,
}

/// One observation, resolved against its outcome.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Op {
    /// A create that took effect, giving `port` (as returned, or as observed
    /// later for a create of unknown outcome; unnamed either way, as the
    /// workload creates it, whatever name the answer showed). `requested_ip`:
    /// the address asked for, if any.
    Create {
        id: Sym,
        port: Port,
        requested_ip: Option<u32>,
    },
    /// A create without a requested address refused `subnet_full`.
    Full,
    /// A create of `ip` refused `ip_in_use`.
    InUse { ip: u32 },
    /// A delete that took effect: the port existed and is gone.
    Delete { id: Sym },
    /// A `not_found` (delete, get or write): no such live port.
    Absent { id: Sym },
    /// A get that returned `port`.
    Get { id: Sym, port: Port },
    /// A name write that took effect; `returned`: the port answered (`ok`),
    /// `None` for a write of unknown outcome.
    Write {
        id: Sym,
        name: Sym,
        returned: Option<Port>,
    },
    /// A list of the subnet: exactly these ports, sorted by id (duplicates
    /// kept, so that a list naming a port twice matches no state).
    List { ports: Vec<(Sym, Port)> },
}

/// An effect an optional operation could have that a pending operation
/// needs (see [`Model::needs`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Need {
    /// The port deleted.
    Gone(Sym),
    /// The port renamed to this name.
    Named(Sym, Sym),
}

impl Need {
    /// Whether `op` (a delete or a name write) has this effect.
    pub fn met_by(&self, op: &Op) -> bool {
        match (self, op) {
            (Need::Gone(a), Op::Delete { id }) => a == id,
            (Need::Named(a, n), Op::Write { id, name, .. }) => a == id && n == name,
            _ => false,
        }
    }
}

/// What the model knows of the subnet, fixed for a whole history.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Model {
    pub subnet: Sym,
    /// The allocatable addresses `first..=last`; `None` when the checker was
    /// not told (then ranges are not checked and `subnet_full` is never
    /// refuted: without the range it cannot be, and a checker must not guess).
    pub range: Option<(u32, u32)>,
}

impl Model {
    /// The state after `op`, or `None` if `op` cannot happen in `state`.
    pub fn step(&self, state: &State, op: &Op) -> Option<State> {
        match op {
            Op::Create {
                id,
                port,
                requested_ip,
            } => self.create(state, *id, port, *requested_ip),
            Op::Full => self.full(state).then(|| state.clone()),
            Op::InUse { ip } => holder_of_ip(state, *ip).map(|_| state.clone()),
            Op::Delete { id } => {
                let mut next = state.clone();
                next.ports.remove(id)?;
                Some(next)
            }
            Op::Absent { id } => (!state.ports.contains_key(id)).then(|| state.clone()),
            Op::Get { id, port } => (state.ports.get(id) == Some(port)).then(|| state.clone()),
            Op::Write { id, name, returned } => write(state, *id, *name, returned.as_ref()),
            Op::List { ports } => list_matches(state, ports).then(|| state.clone()),
        }
    }

    /// What an operation of unknown outcome (a delete or a name write, the
    /// only optional kinds) would have to do to `state` for `op` to become
    /// possible there. The search tries an optional operation only when some
    /// pending operation needs its effect: see `validate::linearizable` for
    /// why that loses no linearization. `op`'s condition is a conjunction
    /// over ports for every kind but `Full` and `InUse`, which deletes and
    /// writes can only hurt; a port that must be present (a get, an `ok`
    /// delete or write) is never helped by a delete, and its other fields
    /// never by a write.
    pub fn needs(&self, state: &State, op: &Op) -> Vec<Need> {
        match op {
            Op::Create { id, port, .. } => state
                .ports
                .iter()
                .filter(|(k, p)| *k == id || p.ip == port.ip || p.mac == port.mac)
                .map(|(k, _)| Need::Gone(*k))
                .collect(),
            Op::Absent { id } => vec![Need::Gone(*id)],
            Op::Get { id, port } => state
                .ports
                .get(id)
                .and_then(|have| renamed_to(have, port))
                .map(|name| Need::Named(*id, name))
                .into_iter()
                .collect(),
            Op::List { ports } => state
                .ports
                .iter()
                .filter_map(|(k, have)| match ports.iter().find(|(lk, _)| lk == k) {
                    None => Some(Need::Gone(*k)),
                    Some((_, listed)) => renamed_to(have, listed).map(|n| Need::Named(*k, n)),
                })
                .collect(),
            Op::Full | Op::InUse { .. } | Op::Delete { .. } | Op::Write { .. } => Vec::new(),
        }
    }

    fn in_range(&self, ip: u32) -> bool {
        self.range
            .is_none_or(|(first, last)| (first..=last).contains(&ip))
    }

    fn create(
        &self,
        state: &State,
        id: Sym,
        port: &Port,
        requested_ip: Option<u32>,
    ) -> Option<State> {
        let possible = port.subnet == self.subnet
            && requested_ip.is_none_or(|ip| ip == port.ip)
            && self.in_range(port.ip)
            && !state.ports.contains_key(&id)
            && holder_of_ip(state, port.ip).is_none()
            && !state.ports.values().any(|p| p.mac == port.mac);
        if !possible {
            return None;
        }
        let mut next = state.clone();
        next.ports.insert(id, *port);
        Some(next)
    }

    /// Every allocatable address held. Addresses of live ports are in range
    /// and distinct (`create` enforces it), so counting them is enough.
    fn full(&self, state: &State) -> bool {
        match self.range {
            Some((first, last)) => {
                let capacity = u64::from(last.saturating_sub(first)) + 1;
                state.ports.len() as u64 >= capacity
            }
            None => true,
        }
    }
}

/// The name `have` would need to equal `want`, if only the name differs.
fn renamed_to(have: &Port, want: &Port) -> Option<Sym> {
    let renamed = Port {
        name: want.name,
        ..*have
    };
    (have.name != want.name && renamed == *want).then_some(want.name)
}

fn holder_of_ip(state: &State, ip: u32) -> Option<Sym> {
    state
        .ports
        .iter()
        .find(|(_, p)| p.ip == ip)
        .map(|(id, _)| *id)
}

fn write(state: &State, id: Sym, name: Sym, returned: Option<&Port>) -> Option<State> {
    let mut next = state.clone();
    let port = next.ports.get_mut(&id)?;
    port.name = name;
    // The answer's name is not compared: a retried write (same request id) that
    // was applied earlier answers the port as it is when the retry is answered,
    // which may carry a later write's name (a known server behaviour, see
    // docs/chaos.md). Every other field must be the port's.
    if returned.is_some_and(|r| Port { name, ..*r } != *port) {
        return None;
    }
    Some(next)
}

fn list_matches(state: &State, ports: &[(Sym, Port)]) -> bool {
    state.ports.len() == ports.len()
        && state
            .ports
            .iter()
            .zip(ports)
            .all(|((k, p), (lk, lp))| k == lk && p == lp)
}

#[cfg(test)]
mod tests;
