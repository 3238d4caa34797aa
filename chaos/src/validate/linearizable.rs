//! Linearizability of one subnet's operations against [`crate::model`]: the
//! Wing-Gong-Lowe search, as Porcupine does it.
//!
//! The required operations' invocations and deadlines form one list in time
//! order (an invocation before a deadline at the same instant: treated as
//! concurrent, which can only accept more). A configuration (the set
//! linearized, the state) has as candidates the pending operations invoked
//! before the first pending deadline; the search lifts one the model accepts
//! and goes on from the new configuration, and backtracks when none is left.
//! A cache of configurations visited prunes every path that reaches a known
//! one: the rest of a search depends on nothing else.
//!
//! Optional operations (`info` deletes and name writes) have no deadline and
//! need never be lifted. Left alone they make the search exponential (each is
//! concurrent with everything after it), so they are not in the list: an
//! optional operation is a candidate only if it was invoked before the first
//! pending deadline and has an effect a pending required operation needs
//! ([`Model::needs`]: that port gone, or renamed to that name, for an
//! operation the state refuses). No linearization is lost. Take any one and
//! move each optional operation later, to just before the next required
//! operation `R` it does not commute with: a delete or a write commutes with
//! every operation possible both with and without it, or makes itself
//! redundant (a write just before another write, or a delete, of its port);
//! moving it later never breaks real time (it has no deadline). `R`'s
//! condition is a conjunction over ports, so each optional operation left
//! just before `R` has an effect `R` needs, in the state before that block.
//!
//! Cost: one model step per candidate tried, plus one per pending required
//! operation when a configuration is made (to find what they need), so about
//! twice the window of concurrent operations per operation on a history
//! without backtracking. Memory: one cached configuration (its state and a
//! short key) per successful lift.

use std::collections::HashMap;
use std::hash::{Hash, Hasher};

use serde::Serialize;

use super::partition::{Entry, Partition};
use crate::model::{Model, Need, Op, State, Sym};

/// The search's result for one partition.
pub enum Search {
    Linearizable(Effort),
    /// No order fits; the deepest configuration the search reached.
    Refuted(Effort, Deepest),
    /// The step budget ran out first.
    Exhausted(Effort),
}

/// What a search cost.
#[derive(Clone, Copy, Debug, Serialize)]
pub struct Effort {
    /// Model steps taken.
    pub steps: u64,
    /// Configurations cached (each a state and a short key).
    pub configurations: usize,
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
    /// The linearized set there (its required part: bits by entry index).
    #[serde(skip)]
    pub lifted: Vec<u64>,
}

impl Deepest {
    /// Whether required entry `k` was linearized there (required entries'
    /// bits are at their own index, see `Lifted`).
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

/// A node of the list: the invocation or the deadline of a required entry.
#[derive(Clone, Copy)]
struct Node {
    prev: usize,
    next: usize,
    entry: usize,
    time_ns: u64,
    /// For an invocation: its deadline's node.
    deadline: usize,
    invocation: bool,
}

/// The required entries' invocations and deadlines in time order, as a
/// doubly linked list from which lifted entries are unlinked (and relinked,
/// in reverse order, on backtracking). Optional entries have no deadline and
/// are not in it: the search finds them by the effect wanted.
struct List {
    nodes: Vec<Node>,
    /// Each required entry's invocation node.
    call: Vec<usize>,
}

impl List {
    /// Node 0 is the head.
    fn new(entries: &[Entry]) -> List {
        let mut events: Vec<(u64, bool, usize)> = Vec::new();
        for (k, e) in entries.iter().enumerate() {
            if let Some(d) = e.deadline_ns {
                events.push((e.invoke_ns, false, k));
                events.push((d, true, k));
            }
        }
        // `false` (invocation) sorts before `true` (deadline) at one instant.
        events.sort();
        let mut call = vec![NIL; entries.len()];
        let mut deadline = vec![NIL; entries.len()];
        for (n, (_, is_deadline, k)) in events.iter().enumerate() {
            if *is_deadline {
                deadline[*k] = n + 1;
            } else {
                call[*k] = n + 1;
            }
        }
        let head = Node {
            prev: NIL,
            next: if events.is_empty() { NIL } else { 1 },
            entry: NIL,
            time_ns: 0,
            deadline: NIL,
            invocation: false,
        };
        let mut nodes = vec![head];
        for (n, (time_ns, is_deadline, k)) in events.iter().enumerate() {
            let at = n + 1;
            nodes.push(Node {
                prev: at - 1,
                next: if at == events.len() { NIL } else { at + 1 },
                entry: *k,
                time_ns: *time_ns,
                deadline: if *is_deadline { NIL } else { deadline[*k] },
                invocation: !is_deadline,
            });
        }
        List { nodes, call }
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

    /// Takes a required entry (invocation and deadline) out of the list.
    fn lift(&mut self, k: usize) {
        let n = self.call[k];
        self.unlink(n);
        self.unlink(self.nodes[n].deadline);
    }

    /// Undoes the last `lift(k)` (lifts are undone in reverse order).
    fn unlift(&mut self, k: usize) {
        let n = self.call[k];
        self.relink(self.nodes[n].deadline);
        self.relink(n);
    }

    /// The pending required entries invoked before the first pending
    /// deadline, and that deadline's time.
    fn window(&self) -> (Vec<usize>, u64) {
        let mut out = Vec::new();
        let mut n = self.next(HEAD);
        while n != NIL && self.nodes[n].invocation {
            out.push(self.nodes[n].entry);
            n = self.next(n);
        }
        let until = if n == NIL {
            u64::MAX
        } else {
            self.nodes[n].time_ns
        };
        (out, until)
    }
}

/// The linearized set: a bitset whose key for the cache is short. Required
/// entries (by invocation) come first and are mostly a linearized prefix and
/// a window; optional entries start at their own word, so that the zeros
/// between the window and them are not in the key.
struct Lifted {
    words: Vec<u64>,
    required: usize,
    /// The first optional entry's bit (a word boundary).
    optional_bit: usize,
    /// Words below this one are all ones (among the required entries).
    full_words: usize,
    hash: u64,
}

impl Lifted {
    fn new(entries: usize, required: usize) -> Lifted {
        let optional_bit = required.div_ceil(64) * 64;
        Lifted {
            words: vec![0; (optional_bit + entries - required).div_ceil(64)],
            required,
            optional_bit,
            full_words: 0,
            hash: 0,
        }
    }

    fn bit(&self, k: usize) -> usize {
        if k < self.required {
            k
        } else {
            self.optional_bit + (k - self.required)
        }
    }

    fn flip(&mut self, k: usize) {
        let b = self.bit(k);
        self.words[b / 64] ^= 1 << (b % 64);
        // Incremental hash: a set hashes to the xor of its members' mixes.
        self.hash ^= mix(k as u64);
        self.full_words = self.full_words.min(b / 64);
        while self.full_words < self.required / 64 && self.words[self.full_words] == u64::MAX {
            self.full_words += 1;
        }
    }

    fn get(&self, k: usize) -> bool {
        let b = self.bit(k);
        self.words[b / 64] & (1 << (b % 64)) != 0
    }

    /// The set without its leading full words and its runs of zeros: the
    /// count of full words, the required words up to the last non-zero one,
    /// a separator (the length), the optional words up to the last non-zero.
    fn key(&self) -> Box<[u64]> {
        let trimmed = |ws: &[u64]| ws.iter().rposition(|w| *w != 0).map_or(0, |p| p + 1);
        let required = &self.words[self.full_words..self.optional_bit / 64];
        let optional = &self.words[self.optional_bit / 64..];
        let (r, o) = (trimmed(required), trimmed(optional));
        [self.full_words as u64, r as u64]
            .into_iter()
            .chain(required[..r].iter().copied())
            .chain(optional[..o].iter().copied())
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

/// A configuration: the linearized set's key, the state.
type Visited = (Box<[u64]>, State);

/// Configurations visited, by hash (collisions kept apart).
#[derive(Default)]
struct Cache {
    seen: HashMap<u64, Vec<Visited>>,
    len: usize,
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
        self.len += 1;
        true
    }
}

/// A configuration on the search's path: its state, the entry lifted to
/// reach it, and the candidates to try from it.
struct Frame {
    lifted: usize,
    state: State,
    candidates: Vec<usize>,
    tried: usize,
}

struct Search1<'a> {
    model: &'a Model,
    entries: &'a [Entry],
    list: List,
    /// Optional entries by the port they touch, in invocation order.
    optional_by_port: HashMap<Sym, Vec<usize>>,
    lifted: Lifted,
    cache: Cache,
    stack: Vec<Frame>,
    required: usize,
    required_left: usize,
    steps: u64,
    budget_steps: u64,
    deepest: Deepest,
}

/// Searches a linearization of `p`, with at most `budget_steps` model steps.
pub fn search(p: &Partition, budget_steps: u64) -> Search {
    let required = p.entries.iter().filter(|e| e.deadline_ns.is_some()).count();
    let mut optional_by_port: HashMap<Sym, Vec<usize>> = HashMap::new();
    for (k, e) in p.entries.iter().enumerate() {
        if let (None, Op::Delete { id } | Op::Write { id, .. }) = (e.deadline_ns, &e.op) {
            optional_by_port.entry(*id).or_default().push(k);
        }
    }
    let mut s = Search1 {
        model: &p.model,
        entries: &p.entries,
        list: List::new(&p.entries),
        optional_by_port,
        lifted: Lifted::new(p.entries.len(), required),
        cache: Cache::default(),
        stack: Vec::new(),
        required,
        required_left: required,
        steps: 0,
        budget_steps,
        deepest: Deepest {
            required_done: 0,
            tail: Vec::new(),
            state: State::default(),
            lifted: Vec::new(),
        },
    };
    s.run()
}

impl Search1<'_> {
    fn run(&mut self) -> Search {
        let root = self.frame(NIL, State::default());
        self.stack.push(root);
        while self.required_left > 0 {
            if self.steps >= self.budget_steps {
                return Search::Exhausted(self.effort());
            }
            let Some(top) = self.stack.last_mut() else {
                return Search::Refuted(self.effort(), self.deepest.clone());
            };
            let Some(&k) = top.candidates.get(top.tried) else {
                self.backtrack();
                continue;
            };
            top.tried += 1;
            self.try_lift(k);
        }
        Search::Linearizable(self.effort())
    }

    fn effort(&self) -> Effort {
        Effort {
            steps: self.steps,
            configurations: self.cache.len,
        }
    }

    /// Lifts entry `k` from the top configuration if the model and the cache
    /// allow it.
    fn try_lift(&mut self, k: usize) {
        let entries = self.entries;
        let Some(top) = self.stack.last() else { return };
        self.steps += 1;
        let Some(next) = self.model.step(&top.state, &entries[k].op) else {
            return;
        };
        self.lifted.flip(k);
        if !self.cache.insert(&self.lifted, &next) {
            self.lifted.flip(k);
            return;
        }
        if entries[k].deadline_ns.is_some() {
            self.list.lift(k);
            self.required_left -= 1;
        }
        let frame = self.frame(k, next);
        self.stack.push(frame);
        self.note_depth();
    }

    /// Undoes the top configuration's lift.
    fn backtrack(&mut self) {
        let Some(frame) = self.stack.pop() else {
            return;
        };
        if frame.lifted == NIL {
            return;
        }
        self.lifted.flip(frame.lifted);
        if self.entries[frame.lifted].deadline_ns.is_some() {
            self.list.unlift(frame.lifted);
            self.required_left += 1;
        }
    }

    /// A configuration and its candidates: the pending required entries
    /// invoked before the first pending deadline, then the optional entries
    /// invoked by then whose effect one of those needs (see the module doc
    /// comment).
    fn frame(&mut self, lifted: usize, state: State) -> Frame {
        let (mut candidates, until) = self.list.window();
        let mut wanted = Vec::new();
        if !self.optional_by_port.is_empty() {
            for &k in &candidates {
                let op = &self.entries[k].op;
                self.steps += 1;
                if self.model.step(&state, op).is_none() {
                    wanted.extend(self.model.needs(&state, op));
                }
            }
        }
        let mut optional = Vec::new();
        for need in wanted {
            let (Need::Gone(port) | Need::Named(port, _)) = need;
            let Some(ks) = self.optional_by_port.get(&port) else {
                continue;
            };
            optional.extend(ks.iter().copied().filter(|&k| {
                let e = &self.entries[k];
                e.invoke_ns <= until && !self.lifted.get(k) && need.met_by(&e.op)
            }));
        }
        // Two refused operations may need one effect: try it once.
        optional.sort_unstable();
        optional.dedup();
        candidates.extend(optional);
        Frame {
            lifted,
            state,
            candidates,
            tried: 0,
        }
    }

    fn note_depth(&mut self) {
        let done = self.required - self.required_left;
        if done <= self.deepest.required_done {
            return;
        }
        let from = self.stack.len().saturating_sub(TAIL_LEN).max(1);
        self.deepest = Deepest {
            required_done: done,
            tail: self.stack[from..].iter().map(|f| f.lifted).collect(),
            state: self
                .stack
                .last()
                .map(|f| f.state.clone())
                .unwrap_or_default(),
            lifted: self.lifted.words.clone(),
        };
    }
}

/// The required operations the deepest configuration could not get past:
/// every pending one invoked before the first pending deadline, and whether
/// the model refuses it there outright.
pub fn stuck(p: &Partition, deepest: &Deepest) -> Vec<(usize, bool)> {
    let pending = |k: &usize| p.entries[*k].deadline_ns.is_some() && !deepest.lifted(*k);
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
