//! Checks on what was observed and on the final state, each one sound on its
//! own (a violation is certain, whatever order the operations took effect in).
//!
//! A port's id is never reused and its address, MAC, device and subnet never
//! change, so a port seen live by two answers was live for the whole time
//! between the first one's completion and the second one's invocation: its
//! *certain-live* interval. The rules, each enforced by one function below:
//! - [`held_twice`]: no address held twice in a subnet, no MAC held twice in
//!   the cluster: not in one answer (a list, the final read), and not by two
//!   ports whose certain-live intervals overlap;
//! - [`lost`]: a port seen live and never deleted (no `ok` or `info` delete of
//!   its id) is in the final read, unchanged;
//! - [`provenance`]: every port seen comes from a create of its device in its
//!   subnet that did not fail, and no device has two ports (a create applied
//!   twice);
//! - [`names`]: an `ok` name write that no other write may follow (every other
//!   `ok` write completed before it was invoked, none is `info`) is the final
//!   name of its port if the port is there; a port never written has an
//!   empty name.

use std::collections::{BTreeMap, BTreeSet};

use serde::Serialize;

use super::observe::{Observed, OpRef, Sighting, Source};
use crate::history::{Operation, PortSeen, F};

/// One broken rule, with the operations that prove it.
#[derive(Clone, Debug, Serialize)]
pub struct Violation {
    pub kind: &'static str,
    pub message: String,
    pub ops: Vec<OpRef>,
}

pub struct Checker<'a> {
    pub ops: &'a [Operation],
    pub observed: &'a Observed<'a>,
    pub final_ports: &'a [PortSeen],
    pub found: Vec<Violation>,
}

impl Checker<'_> {
    fn report(&mut self, kind: &'static str, message: String, sources: &[Source]) {
        let ops = sources.iter().map(|s| OpRef::new(self.ops, *s)).collect();
        self.found.push(Violation { kind, message, ops });
    }

    pub fn run_all(&mut self) {
        held_twice(self);
        lost(self);
        provenance(self);
        names(self);
    }
}

/// The certain-live interval of each port id, from its sightings (empty when
/// `lo > hi`), with the sightings that bound it.
struct Live<'a> {
    port: &'a PortSeen,
    lo: (u64, Source),
    hi: (u64, Source),
}

fn live_intervals<'a>(sightings: &[Sighting<'a>]) -> BTreeMap<&'a str, Live<'a>> {
    let mut out: BTreeMap<&str, Live> = BTreeMap::new();
    for s in sightings {
        let l = out.entry(s.port.id.as_str()).or_insert(Live {
            port: s.port,
            lo: (s.complete_ns, s.source),
            hi: (s.invoke_ns, s.source),
        });
        if s.complete_ns < l.lo.0 {
            l.lo = (s.complete_ns, s.source);
        }
        if s.invoke_ns > l.hi.0 {
            l.hi = (s.invoke_ns, s.source);
        }
    }
    out
}

/// Addresses per subnet and MACs cluster-wide: never two ports at once.
pub fn held_twice(c: &mut Checker<'_>) {
    let ip_key = |p: &PortSeen| format!("address {} in subnet {}", p.ip, p.subnet);
    let mac_key = |p: &PortSeen| format!("MAC {}", p.mac);
    in_one_answer(c, &ip_key);
    in_one_answer(c, &mac_key);
    at_once(c, &ip_key);
    at_once(c, &mac_key);
}

/// Two ports with one key in a single answer (one instant).
fn in_one_answer(c: &mut Checker<'_>, key: &dyn Fn(&PortSeen) -> String) {
    let mut seen: BTreeMap<(Source, String), &PortSeen> = BTreeMap::new();
    let mut found = Vec::new();
    for s in &c.observed.sightings {
        match seen.get(&(s.source, key(s.port))) {
            Some(other) if other.id != s.port.id => {
                found.push((s.source, key(s.port), other.id.clone(), s.port.id.clone()))
            }
            _ => {
                seen.insert((s.source, key(s.port)), s.port);
            }
        }
    }
    for (source, what, a, b) in found {
        c.report(
            "held_twice",
            format!("{what} held by ports {a} and {b} in one answer"),
            &[source],
        );
    }
}

/// Two ports with one key whose certain-live intervals overlap. A sweep in
/// order of interval start: an interval overlapping any earlier one overlaps
/// the earlier one reaching furthest.
fn at_once(c: &mut Checker<'_>, key: &dyn Fn(&PortSeen) -> String) {
    let live = live_intervals(&c.observed.sightings);
    let mut groups: BTreeMap<String, Vec<&Live>> = BTreeMap::new();
    for l in live.values().filter(|l| l.lo.0 <= l.hi.0) {
        groups.entry(key(l.port)).or_default().push(l);
    }
    let mut found = Vec::new();
    for (what, mut ls) in groups {
        ls.sort_by_key(|l| l.lo.0);
        let mut furthest: Option<&Live> = None;
        for l in ls {
            match furthest {
                Some(f) if l.lo.0 <= f.hi.0 && f.port.id != l.port.id => {
                    found.push((
                        what.clone(),
                        f.port.id.clone(),
                        l.port.id.clone(),
                        [f.lo.1, f.hi.1, l.lo.1, l.hi.1],
                    ));
                }
                _ => {}
            }
            if furthest.is_none_or(|f| l.hi.0 > f.hi.0) {
                furthest = Some(l);
            }
        }
    }
    for (what, a, b, sources) in found {
        c.report(
            "held_twice",
            format!("{what} held by ports {a} and {b} at once"),
            &sources,
        );
    }
}

/// Ports seen live, never deleted, missing from (or changed in) the final read.
pub fn lost(c: &mut Checker<'_>) {
    let maybe_deleted: BTreeSet<&str> = c
        .ops
        .iter()
        .filter(|o| !o.failed())
        .filter_map(|o| match &o.f {
            F::DeletePort { port } => Some(port.as_str()),
            _ => None,
        })
        .collect();
    let at_end: BTreeMap<&str, &PortSeen> =
        c.final_ports.iter().map(|p| (p.id.as_str(), p)).collect();
    let mut first: BTreeMap<&str, &Sighting> = BTreeMap::new();
    for s in c
        .observed
        .sightings
        .iter()
        .filter(|s| s.source != Source::Final)
    {
        first.entry(s.port.id.as_str()).or_insert(s);
    }
    let mut found = Vec::new();
    for (id, s) in first {
        if maybe_deleted.contains(&id) {
            continue;
        }
        let p = s.port;
        match at_end.get(id) {
            None => found.push((
                "lost",
                format!(
                    "port {id} ({} {}) seen live, never deleted, missing from the final read",
                    p.ip, p.mac
                ),
                s.source,
            )),
            Some(e)
                if (&e.subnet, &e.ip, &e.mac, &e.device)
                    != (&p.subnet, &p.ip, &p.mac, &p.device) =>
            {
                found.push((
                    "changed",
                    format!(
                        "port {id} seen as {} {} {} and finally as {} {} {}",
                        p.ip, p.mac, p.device, e.ip, e.mac, e.device
                    ),
                    s.source,
                ))
            }
            Some(_) => {}
        }
    }
    for (kind, message, source) in found {
        c.report(kind, message, &[source, Source::Final]);
    }
}

/// Every port from a create that did not fail, in its subnet; one port per device.
pub fn provenance(c: &mut Checker<'_>) {
    let mut creates: BTreeMap<&str, (usize, &str)> = BTreeMap::new();
    for (i, o) in c.ops.iter().enumerate() {
        if let F::CreatePort { subnet, device, .. } = &o.f {
            creates.insert(device.as_str(), (i, subnet.as_str()));
        }
    }
    let mut found = Vec::new();
    let mut ids_of_device: BTreeMap<&str, (&str, Source)> = BTreeMap::new();
    for s in &c.observed.sightings {
        let p = s.port;
        match creates.get(p.device.as_str()) {
            None => found.push((
                "phantom",
                format!(
                    "port {} of device {}, which no create asked for",
                    p.id, p.device
                ),
                vec![s.source],
            )),
            Some((i, _)) if c.ops[*i].failed() => found.push((
                "failed_create_applied",
                format!("port {} of device {}, whose create failed", p.id, p.device),
                vec![Source::Op(*i), s.source],
            )),
            Some((i, subnet)) if *subnet != p.subnet => found.push((
                "wrong_subnet",
                format!("port {} in subnet {}, created in {subnet}", p.id, p.subnet),
                vec![Source::Op(*i), s.source],
            )),
            Some(_) => {}
        }
        match ids_of_device.get(p.device.as_str()) {
            Some((id, first)) if *id != p.id => found.push((
                "applied_twice",
                format!("device {} has ports {id} and {}", p.device, p.id),
                vec![*first, s.source],
            )),
            Some(_) => {}
            None => {
                ids_of_device.insert(p.device.as_str(), (p.id.as_str(), s.source));
            }
        }
    }
    // One report per pair of ports (or phantom port), not per sighting.
    found.sort_by(|a, b| (a.0, &a.1).cmp(&(b.0, &b.1)));
    found.dedup_by(|a, b| a.0 == b.0 && a.1 == b.1);
    for (kind, message, sources) in found {
        c.report(kind, message, &sources);
    }
}

/// The last certain write of each port is its final name.
pub fn names(c: &mut Checker<'_>) {
    let mut writes: BTreeMap<&str, Vec<usize>> = BTreeMap::new();
    for (i, o) in c.ops.iter().enumerate() {
        if let F::WriteName { port, .. } = &o.f {
            if !o.failed() {
                writes.entry(port.as_str()).or_default().push(i);
            }
        }
    }
    let mut found = Vec::new();
    for p in c.final_ports {
        let Some(ws) = writes.get(p.id.as_str()) else {
            if !p.name.is_empty() {
                found.push((
                    format!("port {} named {:?}, never written", p.id, p.name),
                    vec![Source::Final],
                ));
            }
            continue;
        };
        if ws.iter().any(|i| c.ops[*i].indeterminate()) {
            continue;
        }
        for &w in ws {
            let o = &c.ops[w];
            let last = ws
                .iter()
                .all(|&v| v == w || c.ops[v].complete_ns().is_some_and(|t| t < o.invoke_ns));
            let F::WriteName { name, .. } = &o.f else {
                continue;
            };
            if last && *name != p.name {
                found.push((
                    format!(
                        "port {} finally named {:?}; its last write set {:?}",
                        p.id, p.name, name
                    ),
                    vec![Source::Op(w), Source::Final],
                ));
            }
        }
    }
    for (message, sources) in found {
        c.report("stale_name", message, &sources);
    }
}
