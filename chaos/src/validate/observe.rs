//! What the history observed of ports: every port an `ok` answer or the final
//! read showed, with the window in which it was seen. Both checkers start here.

use std::collections::BTreeMap;

use serde::Serialize;

use crate::history::{Event, Operation, PortSeen, Value};

/// Where an observation (or a model operation) comes from: an operation of
/// the history, by its position in the `ops` slice, or the final read.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Source {
    Op(usize),
    Final,
}

/// One port seen by one answer: the port was live at some instant of
/// `[invoke_ns, complete_ns]`.
#[derive(Clone, Debug)]
pub struct Sighting<'a> {
    pub port: &'a PortSeen,
    pub source: Source,
    pub invoke_ns: u64,
    pub complete_ns: u64,
}

/// Every sighting, and the indexes the checkers use.
pub struct Observed<'a> {
    pub sightings: Vec<Sighting<'a>>,
    /// A port id's subnet, from its first sighting (a port never moves; a
    /// sighting that disagrees is an anomaly the checkers find).
    pub subnet_of_id: BTreeMap<&'a str, &'a str>,
    /// A device's earliest-completing sighting (index into `sightings`).
    pub first_by_device: BTreeMap<&'a str, usize>,
    /// The final read's time: after every completion of the history.
    pub final_ns: u64,
}

/// The final read is placed after the last event of the history.
pub fn final_ns(ops: &[Operation]) -> u64 {
    let last = ops
        .iter()
        .map(|o| o.completion.as_ref().map_or(o.invoke_ns, |(_, t)| *t))
        .max()
        .unwrap_or(0);
    last.saturating_add(1)
}

pub fn observe<'a>(ops: &'a [Operation], final_ports: &'a [PortSeen]) -> Observed<'a> {
    let final_ns = final_ns(ops);
    let mut sightings = Vec::new();
    for (i, op) in ops.iter().enumerate() {
        let Some((Event::Ok { value }, complete_ns)) = &op.completion else {
            continue;
        };
        let seen: &[PortSeen] = match value {
            Value::Port(p) => std::slice::from_ref(p),
            Value::Ports(ps) => ps,
            Value::Deleted => &[],
        };
        sightings.extend(seen.iter().map(|port| Sighting {
            port,
            source: Source::Op(i),
            invoke_ns: op.invoke_ns,
            complete_ns: *complete_ns,
        }));
    }
    sightings.extend(final_ports.iter().map(|port| Sighting {
        port,
        source: Source::Final,
        invoke_ns: final_ns,
        complete_ns: final_ns,
    }));
    let mut subnet_of_id = BTreeMap::new();
    let mut first_by_device: BTreeMap<&str, usize> = BTreeMap::new();
    for (k, s) in sightings.iter().enumerate() {
        subnet_of_id
            .entry(s.port.id.as_str())
            .or_insert(s.port.subnet.as_str());
        let first = first_by_device.entry(s.port.device.as_str()).or_insert(k);
        if s.complete_ns < sightings[*first].complete_ns {
            *first = k;
        }
    }
    Observed {
        sightings,
        subnet_of_id,
        first_by_device,
        final_ns,
    }
}

/// An operation as the details of a finding show it.
#[derive(Clone, Debug, Serialize)]
pub struct OpRef {
    /// Position in the operations (`None`: the final read).
    pub op: Option<usize>,
    pub process: Option<u32>,
    pub f: serde_json::Value,
    pub outcome: serde_json::Value,
    pub invoke_ns: u64,
    pub complete_ns: Option<u64>,
}

impl OpRef {
    pub fn new(ops: &[Operation], source: Source) -> OpRef {
        match source {
            Source::Op(i) => {
                let o = &ops[i];
                OpRef {
                    op: Some(i),
                    process: Some(o.process),
                    f: serde_json::to_value(&o.f).unwrap_or_default(),
                    outcome: o
                        .completion
                        .as_ref()
                        .map(|(e, _)| serde_json::to_value(e).unwrap_or_default())
                        .unwrap_or_else(|| serde_json::json!({"type": "none"})),
                    invoke_ns: o.invoke_ns,
                    complete_ns: o.completion.as_ref().map(|(_, t)| *t),
                }
            }
            Source::Final => OpRef {
                op: None,
                process: None,
                f: serde_json::json!("final_read"),
                outcome: serde_json::Value::Null,
                invoke_ns: final_ns(ops),
                complete_ns: Some(final_ns(ops)),
            },
        }
    }
}
