//! The history cut per subnet into model operations (see the rules in
//! `validate`'s doc comment, each enforced here where its operation is
//! classified).

use std::collections::BTreeMap;
use std::net::Ipv4Addr;

use serde::Serialize;

use super::observe::{Observed, Source};
use crate::history::{Event, Operation, PortSeen, Value, F};
use crate::model::{self, Model, Op, Sym};
use crate::traffic::Subnet;

/// One operation for the search: its model operation and its window.
#[derive(Clone, Debug)]
pub struct Entry {
    pub op: Op,
    pub source: Source,
    pub invoke_ns: u64,
    /// The latest instant it may take effect; `None`: optional (an `info`
    /// delete or write: it may take effect at any time after its invocation,
    /// or never).
    pub deadline_ns: Option<u64>,
}

pub struct Partition {
    pub subnet: String,
    pub model: Model,
    /// Required entries first (by invocation), then the optional ones; the
    /// final read is the last required entry.
    pub entries: Vec<Entry>,
}

/// Operations that constrain nothing and were left out, by reason.
#[derive(Clone, Debug, Default, Serialize)]
pub struct Dropped {
    /// Failures that prove nothing (`not_leader`, `unavailable`, reads that
    /// failed, ...).
    pub unconstraining_fail: usize,
    /// `info` creates whose device no answer ever showed: they left no port.
    pub unobserved_info_create: usize,
    /// Operations on a port id no answer ever showed.
    pub unknown_id: usize,
}

/// Strings interned for the model, and back for the report.
#[derive(Default)]
pub struct Interner {
    syms: BTreeMap<String, Sym>,
    pub names: Vec<String>,
}

impl Interner {
    pub fn sym(&mut self, s: &str) -> Sym {
        if let Some(k) = self.syms.get(s) {
            return *k;
        }
        let k = self.names.len() as Sym;
        self.syms.insert(s.to_string(), k);
        self.names.push(s.to_string());
        k
    }

    pub fn name(&self, k: Sym) -> &str {
        self.names.get(k as usize).map_or("?", |s| s.as_str())
    }
}

/// An address as the model keeps it; one that does not parse becomes
/// `u32::MAX` (the broadcast address: never allocatable, so never accepted
/// where the range is known).
pub fn ip_u32(s: &str) -> u32 {
    s.parse::<Ipv4Addr>().map_or(u32::MAX, u32::from)
}

pub struct Partitioned {
    pub partitions: Vec<Partition>,
    pub dropped: Dropped,
    /// Operations whose answer has the wrong shape (a create answered with a
    /// list, a get of one id answered with another): anomalies by themselves.
    pub malformed: Vec<(usize, String)>,
    pub interner: Interner,
}

struct Builder<'a> {
    observed: &'a Observed<'a>,
    interner: Interner,
    by_subnet: BTreeMap<String, Vec<Entry>>,
    dropped: Dropped,
    malformed: Vec<(usize, String)>,
}

pub fn partition(
    ops: &[Operation],
    subnets: &[Subnet],
    final_ports: &[PortSeen],
    observed: &Observed<'_>,
) -> Partitioned {
    let mut b = Builder {
        observed,
        interner: Interner::default(),
        by_subnet: BTreeMap::new(),
        dropped: Dropped::default(),
        malformed: Vec::new(),
    };
    for s in subnets {
        b.by_subnet.entry(s.id.clone()).or_default();
    }
    for (i, op) in ops.iter().enumerate() {
        b.classify(i, op);
    }
    for p in final_ports {
        b.by_subnet.entry(p.subnet.clone()).or_default();
    }
    // The final read: a list of every subnet after every completion.
    let names: Vec<String> = b.by_subnet.keys().cloned().collect();
    for subnet in names {
        let seen: Vec<&PortSeen> = final_ports.iter().filter(|p| p.subnet == subnet).collect();
        let op = b.list(seen.into_iter());
        b.push(
            &subnet,
            Source::Final,
            op,
            observed.final_ns,
            Some(observed.final_ns),
        );
    }
    b.finish(subnets)
}

impl Builder<'_> {
    fn push(
        &mut self,
        subnet: &str,
        source: Source,
        op: Op,
        invoke_ns: u64,
        deadline_ns: Option<u64>,
    ) {
        self.by_subnet
            .entry(subnet.to_string())
            .or_default()
            .push(Entry {
                op,
                source,
                invoke_ns,
                deadline_ns,
            });
    }

    fn port(&mut self, p: &PortSeen) -> (Sym, model::Port) {
        let port = model::Port {
            subnet: self.interner.sym(&p.subnet),
            ip: ip_u32(&p.ip),
            mac: self.interner.sym(&p.mac),
            name: self.interner.sym(&p.name),
            device: self.interner.sym(&p.device),
        };
        (self.interner.sym(&p.id), port)
    }

    /// The port a create made: as answered or seen, but unnamed. The workload's
    /// CreatePort carries no name, and an answer or sighting may show a later
    /// rename: a retried create whose first attempt was applied is answered with
    /// the port as it is when the retry is answered (docs/chaos.md).
    fn created(&mut self, p: &PortSeen) -> (Sym, model::Port) {
        let (id, port) = self.port(p);
        let unnamed = self.interner.sym("");
        (
            id,
            model::Port {
                name: unnamed,
                ..port
            },
        )
    }

    fn list<'p>(&mut self, seen: impl Iterator<Item = &'p PortSeen>) -> Op {
        let mut ports: Vec<(Sym, model::Port)> = seen.map(|p| self.port(p)).collect();
        ports.sort();
        Op::List { ports }
    }

    fn classify(&mut self, i: usize, o: &Operation) {
        match &o.f {
            F::CreatePort { subnet, ip, device } => {
                self.create(i, o, subnet, ip.as_deref(), device)
            }
            F::ListPorts { subnet } => match o.ok() {
                Some(Value::Ports(ps)) => {
                    let op = self.list(ps.iter());
                    self.push(subnet, Source::Op(i), op, o.invoke_ns, o.complete_ns());
                }
                Some(_) => self
                    .malformed
                    .push((i, "list answered without a list".into())),
                // A read that failed constrains nothing.
                None => self.dropped.unconstraining_fail += 1,
            },
            F::DeletePort { port } | F::GetPort { port } | F::WriteName { port, .. } => {
                self.on_id(i, o, port)
            }
        }
    }

    fn create(&mut self, i: usize, o: &Operation, subnet: &str, ip: Option<&str>, device: &str) {
        let requested_ip = ip.map(ip_u32);
        let source = Source::Op(i);
        match &o.completion {
            Some((
                Event::Ok {
                    value: Value::Port(p),
                },
                t,
            )) => {
                if p.device != device {
                    self.malformed
                        .push((i, "create answered with another device's port".into()));
                    return;
                }
                let (id, port) = self.created(p);
                let op = Op::Create {
                    id,
                    port,
                    requested_ip,
                };
                self.push(subnet, source, op, o.invoke_ns, Some(*t));
            }
            Some((Event::Ok { .. }, _)) => self
                .malformed
                .push((i, "create answered without a port".into())),
            // `subnet_full` constrains only a create that asked for no
            // address; `ip_in_use` only one that asked for one.
            Some((Event::Fail { error }, t)) if error == "subnet_full" && ip.is_none() => {
                self.push(subnet, source, Op::Full, o.invoke_ns, Some(*t))
            }
            Some((Event::Fail { error }, t)) if error == "ip_in_use" && ip.is_some() => {
                let op = Op::InUse {
                    ip: requested_ip.unwrap_or(u32::MAX),
                };
                self.push(subnet, source, op, o.invoke_ns, Some(*t))
            }
            Some((Event::Fail { .. }, _)) => self.dropped.unconstraining_fail += 1,
            // Unknown outcome: it took effect iff its device was ever seen
            // (clients only touch ids they saw, so an unseen port would still
            // be live in the final read), and then before that sighting
            // completed, as the port seen.
            Some((Event::Info { .. } | Event::Invoke, _)) | None => {
                let Some(&k) = self.observed.first_by_device.get(device) else {
                    self.dropped.unobserved_info_create += 1;
                    return;
                };
                let sighting = &self.observed.sightings[k];
                let (id, port) = self.created(sighting.port);
                let op = Op::Create {
                    id,
                    port,
                    requested_ip,
                };
                self.push(subnet, source, op, o.invoke_ns, Some(sighting.complete_ns));
            }
        }
    }

    /// Deletes, gets and writes: in the subnet of their port id.
    fn on_id(&mut self, i: usize, o: &Operation, port_id: &str) {
        let Some(subnet) = self.observed.subnet_of_id.get(port_id).copied() else {
            self.dropped.unknown_id += 1;
            return;
        };
        let id = self.interner.sym(port_id);
        let not_found =
            matches!(&o.completion, Some((Event::Fail { error }, _)) if error == "not_found");
        let (op, deadline_ns) = if not_found {
            (Op::Absent { id }, o.complete_ns())
        } else if o.failed() {
            self.dropped.unconstraining_fail += 1;
            return;
        } else {
            match self.effect(i, o, id) {
                Some(op) => (op, o.complete_ns()),
                None => return,
            }
        };
        self.push(subnet, Source::Op(i), op, o.invoke_ns, deadline_ns);
    }

    /// The model operation of an `ok` or `info` delete, get or write; `None`
    /// (and the operation dropped or marked malformed) otherwise.
    fn effect(&mut self, i: usize, o: &Operation, id: Sym) -> Option<Op> {
        let answered_port = match o.ok() {
            Some(Value::Port(p)) if self.interner.sym(&p.id) == id => Some(self.port(p).1),
            Some(Value::Deleted) if matches!(o.f, F::DeletePort { .. }) => None,
            Some(_) => {
                self.malformed
                    .push((i, "answer does not fit the operation".into()));
                return None;
            }
            None => None,
        };
        match (&o.f, answered_port) {
            (F::DeletePort { .. }, _) => Some(Op::Delete { id }),
            (F::GetPort { .. }, Some(port)) => Some(Op::Get { id, port }),
            // A read of unknown outcome cannot happen (reads fail), and would
            // constrain nothing.
            (F::GetPort { .. }, None) => {
                self.dropped.unconstraining_fail += 1;
                None
            }
            (F::WriteName { name, .. }, returned) => {
                let name = self.interner.sym(name);
                Some(Op::Write { id, name, returned })
            }
            (F::CreatePort { .. } | F::ListPorts { .. }, _) => None,
        }
    }

    fn finish(mut self, subnets: &[Subnet]) -> Partitioned {
        let mut partitions = Vec::new();
        for (subnet, mut entries) in std::mem::take(&mut self.by_subnet) {
            entries.sort_by_key(|e| {
                (
                    e.deadline_ns.is_none(),
                    e.source == Source::Final,
                    e.invoke_ns,
                )
            });
            let range = subnets
                .iter()
                .find(|s| s.id == subnet)
                .map(|s| (u32::from(s.first), u32::from(s.last)));
            let model = Model {
                subnet: self.interner.sym(&subnet),
                range,
            };
            partitions.push(Partition {
                subnet,
                model,
                entries,
            });
        }
        Partitioned {
            partitions,
            dropped: self.dropped,
            malformed: self.malformed,
            interner: self.interner,
        }
    }
}
