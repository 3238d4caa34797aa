//! The history of a run: every client operation as an invocation followed by
//! its completion, Jepsen's way, one JSON object a line (`history.jsonl`).
//!
//! ```text
//! {"index":0,"process":3,"type":"invoke","f":{"create_port":{...}},"time_ns":1200}
//! {"index":1,"process":3,"type":"ok","f":{"create_port":{...}},"value":{"port":{...}},"time_ns":5400}
//! ```
//!
//! Rules the checkers rely on (and the recorder keeps):
//! - a process runs one operation at a time: its events alternate invoke,
//!   completion; a process whose operation ended `info` never invokes again
//!   (Jepsen's rule: its operation may still take effect at any later time, so the
//!   client moves on as a new process);
//! - `ok`: the operation took effect exactly once, between its invocation and its
//!   completion, with the value returned;
//! - `fail`: it did not take effect (a definite error; `error` is its reason);
//! - `info`: unknown; it may take effect at any time after its invocation, or never;
//! - `time_ns` is monotonic from the start of the run; `index` is the position in
//!   the history.

use std::io::{self, BufRead, Write};

use serde::{Deserialize, Serialize};

/// Which client issued an operation. A client gets a new process id after an
/// operation of unknown outcome.
pub type Process = u32;

/// What an operation asked for.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum F {
    /// CreatePort in `subnet`; `ip`: the requested IPv4 address, if any.
    /// `device` is unique per operation (it names the logical call).
    CreatePort {
        subnet: String,
        ip: Option<String>,
        device: String,
    },
    /// DeletePort by id.
    DeletePort { port: String },
    /// GetPort by id (linearizable read).
    GetPort { port: String },
    /// Every port of `subnet` (linearizable, all pages).
    ListPorts { subnet: String },
    /// UpdatePort: sets the port's name (the register written).
    WriteName { port: String, name: String },
}

/// A port as an operation observed it.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct PortSeen {
    pub id: String,
    pub subnet: String,
    pub ip: String,
    pub mac: String,
    pub name: String,
    pub device: String,
}

/// What an `ok` completion returned.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Value {
    /// CreatePort, GetPort, WriteName: the port as answered.
    Port(PortSeen),
    /// DeletePort.
    Deleted,
    /// ListPorts, in id order.
    Ports(Vec<PortSeen>),
}

/// The four kinds of event.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Event {
    Invoke,
    Ok {
        value: Value,
    },
    /// A definite failure: `error` is the API's reason (e.g. `subnet_full`).
    Fail {
        error: String,
    },
    /// Unknown outcome: `error` says why (e.g. `deadline_exceeded`).
    Info {
        error: String,
    },
}

/// One line of the history.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Record {
    pub index: u64,
    pub process: Process,
    pub f: F,
    #[serde(flatten)]
    pub event: Event,
    pub time_ns: u64,
}

impl Record {
    pub fn is_invoke(&self) -> bool {
        matches!(self.event, Event::Invoke)
    }
}

/// An operation: an invocation paired with its completion (`None`: the run
/// ended first, which counts as `info`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Operation {
    pub process: Process,
    pub f: F,
    pub invoke_ns: u64,
    /// The completion event and its time.
    pub completion: Option<(Event, u64)>,
}

impl Operation {
    /// The completion's value when it was `ok`.
    pub fn ok(&self) -> Option<&Value> {
        match &self.completion {
            Some((Event::Ok { value }, _)) => Some(value),
            _ => None,
        }
    }

    pub fn failed(&self) -> bool {
        matches!(self.completion, Some((Event::Fail { .. }, _)))
    }

    /// Unknown outcome: `info`, or no completion at all.
    pub fn indeterminate(&self) -> bool {
        matches!(self.completion, None | Some((Event::Info { .. }, _)))
    }

    /// When it completed; `None` for an indeterminate operation (it may take
    /// effect at any time after its invocation).
    pub fn complete_ns(&self) -> Option<u64> {
        match &self.completion {
            Some((Event::Ok { .. } | Event::Fail { .. }, t)) => Some(*t),
            _ => None,
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum HistoryError {
    #[error("history line {line}: {error}")]
    Parse { line: usize, error: String },
    #[error("history: process {process} completed at index {index} with no operation in flight")]
    Unpaired { process: Process, index: u64 },
    #[error("history: process {process} invoked at index {index} with an operation in flight")]
    Overlapping { process: Process, index: u64 },
    #[error(transparent)]
    Io(#[from] io::Error),
}

/// Pairs invocations with completions, in invocation order.
pub fn operations(records: &[Record]) -> Result<Vec<Operation>, HistoryError> {
    let mut open: std::collections::BTreeMap<Process, usize> = Default::default();
    let mut ops: Vec<Operation> = Vec::new();
    for r in records {
        match &r.event {
            Event::Invoke => {
                if open.contains_key(&r.process) {
                    return Err(HistoryError::Overlapping {
                        process: r.process,
                        index: r.index,
                    });
                }
                open.insert(r.process, ops.len());
                ops.push(Operation {
                    process: r.process,
                    f: r.f.clone(),
                    invoke_ns: r.time_ns,
                    completion: None,
                });
            }
            done => {
                let at = open.remove(&r.process).ok_or(HistoryError::Unpaired {
                    process: r.process,
                    index: r.index,
                })?;
                ops[at].completion = Some((done.clone(), r.time_ns));
            }
        }
    }
    Ok(ops)
}

pub fn write<W: Write>(mut w: W, records: &[Record]) -> io::Result<()> {
    for r in records {
        serde_json::to_writer(&mut w, r)?;
        w.write_all(b"\n")?;
    }
    w.flush()
}

pub fn read<R: BufRead>(r: R) -> Result<Vec<Record>, HistoryError> {
    let mut out = Vec::new();
    for (i, line) in r.lines().enumerate() {
        let line = line?;
        if line.trim().is_empty() {
            continue;
        }
        out.push(
            serde_json::from_str(&line).map_err(|e| HistoryError::Parse {
                line: i + 1,
                error: e.to_string(),
            })?,
        );
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rec(index: u64, process: Process, event: Event, time_ns: u64) -> Record {
        Record {
            index,
            process,
            f: F::GetPort { port: "p".into() },
            event,
            time_ns,
        }
    }

    #[test]
    fn round_trips_and_pairs() {
        let records = vec![
            rec(0, 1, Event::Invoke, 10),
            rec(1, 2, Event::Invoke, 11),
            rec(
                2,
                1,
                Event::Fail {
                    error: "not_found".into(),
                },
                20,
            ),
            rec(
                3,
                2,
                Event::Info {
                    error: "deadline_exceeded".into(),
                },
                30,
            ),
            rec(4, 3, Event::Invoke, 40),
        ];
        let mut buf = Vec::new();
        write(&mut buf, &records).unwrap();
        let text = String::from_utf8(buf.clone()).unwrap();
        assert!(text.lines().next().unwrap().contains("\"type\":\"invoke\""));
        let back = read(&buf[..]).unwrap();
        assert_eq!(back, records);
        let ops = operations(&back).unwrap();
        assert_eq!(ops.len(), 3);
        assert!(ops[0].failed() && ops[0].complete_ns() == Some(20));
        assert!(ops[1].indeterminate() && ops[1].complete_ns().is_none());
        assert!(ops[2].indeterminate(), "never completed");
    }

    #[test]
    fn refuses_malformed_histories() {
        let overlapping = vec![rec(0, 1, Event::Invoke, 1), rec(1, 1, Event::Invoke, 2)];
        assert!(matches!(
            operations(&overlapping),
            Err(HistoryError::Overlapping { .. })
        ));
        let unpaired = vec![rec(0, 1, Event::Fail { error: "x".into() }, 1)];
        assert!(matches!(
            operations(&unpaired),
            Err(HistoryError::Unpaired { .. })
        ));
    }
}
