//! Linearizability of one subnet's operations against [`crate::model`]: the
//! Wing-Gong-Lowe search, as Porcupine does it.
//!
//! The operations' invocations and deadlines form one list in time order
//! (an invocation before a deadline at the same instant: treated as
//! concurrent, which can only accept more). The search lifts an operation
//! whose invocation comes before the first pending deadline and that the
//! model accepts, and starts over from the head; when it reaches a deadline
//! (or the list's end) it backtracks. A cache of (linearized set, state)
//! visited prunes every path that reaches a known configuration: the rest of
//! a search depends on nothing else.
//!
//! Optional operations (`info` deletes and name writes) have no deadline and
//! need never be lifted. Left alone they make the search exponential (each
//! is concurrent with everything after it), so the search tries one only on a
//! port that some pending required operation *needs* ([`Model::needs`]: the
//! operation is impossible in the current state because of that port). No
//! linearization is lost: take any linearization and move each optional
//! operation later, to just before the next required operation `R` it does
//! not commute with. A delete and a write commute with every operation that
//! is possible both with and without them, or make themselves redundant (a
//! write before another write or a delete of its port); and `R`'s condition
//! is a conjunction over ports, so the optional operations left right before
//! `R` are exactly those whose port `R` needs. Moving an optional operation
//! later never breaks real time: it has no deadline.

use std::collections::HashMap;
use std::hash::{Hash, Hasher};

use serde::Serialize;

use super::partition::{Entry, Partition};
use crate::model::{Model, Op, State, Sym};

/// The search's result for one partition.
pub enum Search {
    Linearizable {
        steps: u64,
    },
    /// No order fits; the deepest configuration the search reached.
    Refuted {
        steps: u64,
        deepest: Deepest,
    },
    /// The step budget ran out first.
    Exhausted {
        steps: u64,
    },
}

/// The deepest configuration reached (most required operations linearized).
#[derive(Clone, Debug, Serialize)]
pub struct Deepest {
    /// How many required operations it had linearized.
    pub required_done: usize,
    /// The last operations linearized (entry indices), oldest first.
    pub tail: Vec<usize>,
    #[serde(skip)]
    pub state: State,
    /// The linearized set there, as bits by entry index.
    #[serde(skip)]
    pub lifted: Vec<u64>,
}

impl Deepest {
    pub fn lifted(&self, k: usize) -> bool {
        self.lifted
            .get(k / 64)
            .is_some_and(|w| w & (1 << (k % 64)) != 0)
    }
}

/// How many of the last linearized operations an anomaly shows.
const TAIL_LEN: usize = 16;

const NIL: usize = usize::MAX;
const HEAD: usize = 0;

/// A node of the list: the invocation or the deadline of entry `entry`.
#[derive(Clone, Copy)]
struct Node {
    prev: usize,
    next: usize,
    entry: usize,
    /// For an invocation: its deadline's node (`NIL`: optional).
    deadline: usize,
    invocation: bool,
}

struct List {
    nodes: Vec<Node>,
}

impl List {
    /// Invocations and deadlines in time order; node 0 is the head.
    fn new(entries: &[Entry]) -> List {
        let mut events: Vec<(u64, bool, usize)> = Vec::new();
        for (k, e) in entries.iter().enumerate() {
            events.push((e.invoke_ns, false, k));
            if let Some(d) = e.deadline_ns {
                events.push((d, true, k));
            }
        }
        // `false` (invocation) sorts before `true` (deadline) at one instant.
        events.sort();
        let head = Node {
            prev: NIL,
            next: NIL,
            entry: NIL,
            deadline: NIL,
            invocation: false,
        };
        let mut nodes = vec![head];
        let mut deadline_node = vec![NIL; entries.len()];
        for (n, (_, is_deadline, k)) in events.iter().enumerate() {
            if *is_deadline {
                deadline_node[*k] = n + 1;
            }
        }
        for (n, (_, is_deadline, k)) in events.iter().enumerate() {
            let at = n + 1;
            nodes.push(Node {
                prev: at - 1,
                next: if at == events.len() { NIL } else { at + 1 },
                entry: *k,
                deadline: if *is_deadline { NIL } else { deadline_node[*k] },
                invocation: !is_deadline,
            });
        }
        nodes[HEAD].next = if events.is_empty() { NIL } else { 1 };
        List { nodes }
    }

    fn next(&self, n: usize) -> usize {
        self.nodes[n].next
    }

    fn unlink(&mut self, n: usize) {
        let Node { prev, next, .. } = self.nodes[n];
        self.nodes[prev].next = next;
        if next != NIL {
            self.nodes[next].prev = prev;
        }
    }

    fn relink(&mut self, n: usize) {
        let Node { prev, next, .. } = self.nodes[n];
        self.nodes[prev].next = n;
        if next != NIL {
            self.nodes[next].prev = n;
        }
    }

    /// Takes an invocation (and its deadline) out of the list.
    fn lift(&mut self, n: usize) {
        self.unlink(n);
        let d = self.nodes[n].deadline;
        if d != NIL {
            self.unlink(d);
        }
    }

    /// Undoes the last `lift(n)` (lifts are undone in reverse order).
    fn unlift(&mut self, n: usize) {
        let d = self.nodes[n].deadline;
        if d != NIL {
            self.relink(d);
        }
        self.relink(n);
    }
}

/// The linearized set: a bitset whose key for the cache is short (required
/// entries first and mostly a linearized prefix, see `key`).
struct Lifted {
    words: Vec<u64>,
    /// Words below this one are all ones (among the required entries).
    full_words: usize,
    required_words: usize,
    hash: u64,
}

impl Lifted {
    fn new(entries: usize, required: usize) -> Lifted {
        Lifted {
            words: vec![0; entries.div_ceil(64)],
            full_words: 0,
            required_words: required / 64,
            hash: 0,
        }
    }

    fn flip(&mut self, k: usize) {
        self.words[k / 64] ^= 1 << (k % 64);
        // Incremental hash: a set hashes to the xor of its members' mixes.
        self.hash ^= mix(k as u64);
        if k / 64 < self.full_words {
            self.full_words = k / 64;
        }
        while self.full_words < self.required_words && self.words[self.full_words] == u64::MAX {
            self.full_words += 1;
        }
    }

    /// The set without its leading full words: the count stands for them.
    fn key(&self) -> Box<[u64]> {
        let rest = &self.words[self.full_words..];
        let end = rest.iter().rposition(|w| *w != 0).map_or(0, |p| p + 1);
        std::iter::once(self.full_words as u64)
            .chain(rest[..end].iter().copied())
            .collect()
    }
}

fn mix(mut x: u64) -> u64 {
    // splitmix64's finalizer.
    x = x.wrapping_add(0x9e37_79b9_7f4a_7c15);
    x = (x ^ (x >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    x ^ (x >> 31)
}

/// Configurations visited, by hash (collisions kept apart).
#[derive(Default)]
struct Cache {
    seen: HashMap<u64, Vec<(Box<[u64]>, State)>>,
}

impl Cache {
    /// Records a configuration; false when it was already there.
    fn insert(&mut self, lifted: &Lifted, state: &State) -> bool {
        let mut h = std::collections::hash_map::DefaultHasher::new();
        state.hash(&mut h);
        let hash = h.finish() ^ lifted.hash;
        let key = lifted.key();
        let bucket = self.seen.entry(hash).or_default();
        if bucket.iter().any(|(k, s)| *k == key && s == state) {
            return false;
        }
        bucket.push((key, state.clone()));
        true
    }
}

/// What the search undoes on backtracking.
struct Frame {
    node: usize,
    state: State,
    wanted: Option<Vec<Sym>>,
}

struct Search1<'a> {
    model: &'a Model,
    entries: &'a [Entry],
    list: List,
    lifted: Lifted,
    cache: Cache,
    stack: Vec<Frame>,
    state: State,
    /// The ports pending operations need, at the current configuration
    /// (computed when an optional operation is first met there).
    wanted: Option<Vec<Sym>>,
    required: usize,
    required_left: usize,
    steps: u64,
    deepest: Deepest,
}

/// Searches a linearization of `p`, with at most `budget_steps` model steps.
pub fn search(p: &Partition, budget_steps: u64) -> Search {
    let required = p.entries.iter().filter(|e| e.deadline_ns.is_some()).count();
    let mut s = Search1 {
        model: &p.model,
        entries: &p.entries,
        list: List::new(&p.entries),
        lifted: Lifted::new(p.entries.len(), required),
        cache: Cache::default(),
        stack: Vec::new(),
        state: State::default(),
        wanted: None,
        required,
        required_left: required,
        steps: 0,
        deepest: Deepest {
            required_done: 0,
            tail: Vec::new(),
            state: State::default(),
            lifted: Vec::new(),
        },
    };
    s.run(budget_steps)
}

impl Search1<'_> {
    fn run(&mut self, budget_steps: u64) -> Search {
        let mut cur = self.list.next(HEAD);
        while self.required_left > 0 {
            if self.steps >= budget_steps {
                return Search::Exhausted { steps: self.steps };
            }
            if cur == NIL || !self.list.nodes[cur].invocation {
                match self.backtrack() {
                    Some(next) => cur = next,
                    None => {
                        return Search::Refuted {
                            steps: self.steps,
                            deepest: self.deepest.clone(),
                        }
                    }
                }
                continue;
            }
            cur = if self.try_lift(cur) {
                self.list.next(HEAD)
            } else {
                self.list.next(cur)
            };
        }
        Search::Linearizable { steps: self.steps }
    }

    /// Lifts the invocation `n` if the model and the cache allow it.
    fn try_lift(&mut self, n: usize) -> bool {
        let k = self.list.nodes[n].entry;
        let entries = self.entries;
        let entry = &entries[k];
        let optional = entry.deadline_ns.is_none();
        if optional && !self.is_wanted(&entry.op) {
            return false;
        }
        self.steps += 1;
        let Some(next) = self.model.step(&self.state, &entry.op) else {
            return false;
        };
        self.lifted.flip(k);
        if !self.cache.insert(&self.lifted, &next) {
            self.lifted.flip(k);
            return false;
        }
        let before = std::mem::replace(&mut self.state, next);
        self.stack.push(Frame {
            node: n,
            state: before,
            wanted: self.wanted.take(),
        });
        self.list.lift(n);
        if !optional {
            self.required_left -= 1;
            self.note_depth();
        }
        true
    }

    /// Undoes the last lift; the node to go on from, `None` when nothing is
    /// left to undo (no linearization).
    fn backtrack(&mut self) -> Option<usize> {
        let frame = self.stack.pop()?;
        let k = self.list.nodes[frame.node].entry;
        self.state = frame.state;
        self.wanted = frame.wanted;
        self.list.unlift(frame.node);
        self.lifted.flip(k);
        if self.entries[k].deadline_ns.is_some() {
            self.required_left += 1;
        }
        Some(self.list.next(frame.node))
    }

    fn note_depth(&mut self) {
        let done = self.required - self.required_left;
        if done <= self.deepest.required_done {
            return;
        }
        let from = self.stack.len().saturating_sub(TAIL_LEN);
        self.deepest = Deepest {
            required_done: done,
            tail: self.stack[from..]
                .iter()
                .map(|f| self.list.nodes[f.node].entry)
                .collect(),
            state: self.state.clone(),
            lifted: self.lifted.words.clone(),
        };
    }

    /// Whether an optional operation is on a port some pending required
    /// operation needs (see the module doc comment).
    fn is_wanted(&mut self, op: &Op) -> bool {
        let port = match op {
            Op::Delete { id } | Op::Write { id, .. } => *id,
            _ => return true,
        };
        if self.wanted.is_none() {
            self.wanted = Some(self.compute_wanted());
        }
        self.wanted.as_ref().is_some_and(|w| w.contains(&port))
    }

    fn compute_wanted(&mut self) -> Vec<Sym> {
        let (model, entries) = (self.model, self.entries);
        let mut wanted = Vec::new();
        let mut n = self.list.next(HEAD);
        while n != NIL && self.list.nodes[n].invocation {
            let e = &entries[self.list.nodes[n].entry];
            if e.deadline_ns.is_some() {
                self.steps += 1;
                if model.step(&self.state, &e.op).is_none() {
                    wanted.extend(model.needs(&self.state, &e.op));
                }
            }
            n = self.list.next(n);
        }
        wanted
    }
}

/// The required operations the deepest configuration could not get past:
/// every pending one invoked before the first pending deadline, and whether
/// the model refuses it there outright.
pub fn stuck(p: &Partition, deepest: &Deepest) -> Vec<(usize, bool)> {
    let pending = |k: &usize| !deepest.lifted(*k) && p.entries[*k].deadline_ns.is_some();
    let first_deadline = (0..p.entries.len())
        .filter(pending)
        .filter_map(|k| p.entries[k].deadline_ns)
        .min()
        .unwrap_or(u64::MAX);
    (0..p.entries.len())
        .filter(pending)
        .filter(|k| p.entries[*k].invoke_ns <= first_deadline)
        .map(|k| (k, p.model.step(&deepest.state, &p.entries[k].op).is_none()))
        .collect()
}
