//! Availability figures per fault, from the history alone: how long clients went
//! without an acknowledged write once the fault began, and how long after its heal
//! the cluster was back at full throughput.
//!
//! These are figures, not checks: they depend on the machine's load and are never
//! compared against a bound (safety is what the checks decide; liveness has its own
//! check).
//!
//! Definitions (times on the run's clock, the history's):
//! - a *write* is CreatePort, DeletePort or WriteName; it is *acknowledged* when it
//!   completed `ok`;
//! - `to_first_write_ms`: from the moment the fault was in effect (every rule
//!   installed, every process signalled) to the completion of the first
//!   acknowledged write invoked at or after it (a write already in flight says
//!   nothing about the fault); `None` when none came before the next fault began;
//! - the *baseline* is the run's median rate of acknowledged writes over
//!   1-second buckets that overlap no fault window;
//! - `to_full_throughput_ms`: from the heal to the start of the first 1-second
//!   bucket (on a grid starting at the heal) whose rate reaches
//!   [`FULL_SHARE_PERCENT`] of the baseline; `None` when the run ended first.

use serde::{Deserialize, Serialize};

use crate::failpoint::Window;
use crate::history::{Event, Record, F};

/// The share of the baseline rate that counts as full throughput.
pub const FULL_SHARE_PERCENT: u64 = 80;

const BUCKET_NS: u64 = 1_000_000_000;

/// One fault's figures.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Availability {
    pub nemesis: String,
    pub detail: String,
    pub held_ms: u64,
    pub to_first_write_ms: Option<u64>,
    pub to_full_throughput_ms: Option<u64>,
}

/// The figures of a run: the baseline and each fault's.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Figures {
    /// Acknowledged writes per second outside the faults (median over buckets).
    pub baseline_writes_per_s: u64,
    pub faults: Vec<Availability>,
}

impl Figures {
    /// One line per nemesis: its faults, and the worst of each figure among them.
    pub fn per_nemesis(&self) -> Vec<String> {
        let mut by: std::collections::BTreeMap<&str, Vec<&Availability>> = Default::default();
        for a in &self.faults {
            by.entry(a.nemesis.as_str()).or_default().push(a);
        }
        let worst = |v: &[&Availability], f: fn(&Availability) -> Option<u64>| {
            if v.iter().any(|a| f(a).is_none()) {
                "never (in one fault at least)".to_string()
            } else {
                format!("{} ms", v.iter().filter_map(|a| f(a)).max().unwrap_or(0))
            }
        };
        by.iter()
            .map(|(n, v)| {
                format!(
                    "{n}: {} fault(s); fault to first acknowledged write, worst {}; heal to full throughput, worst {}",
                    v.len(),
                    worst(v, |a| a.to_first_write_ms),
                    worst(v, |a| a.to_full_throughput_ms)
                )
            })
            .collect()
    }
}

/// Completion times of acknowledged writes, with their invocation times, sorted
/// by completion.
fn acked_writes(records: &[Record]) -> Vec<(u64, u64)> {
    let mut invoked: std::collections::BTreeMap<u32, u64> = Default::default();
    let mut out = Vec::new();
    for r in records {
        match (&r.event, &r.f) {
            (Event::Invoke, _) => {
                invoked.insert(r.process, r.time_ns);
            }
            (
                Event::Ok { .. },
                F::CreatePort { .. } | F::DeletePort { .. } | F::WriteName { .. },
            ) => {
                if let Some(at) = invoked.remove(&r.process) {
                    out.push((at, r.time_ns));
                }
            }
            _ => {
                invoked.remove(&r.process);
            }
        }
    }
    out.sort_by_key(|(_, done)| *done);
    out
}

fn count_in(writes: &[(u64, u64)], from_ns: u64, to_ns: u64) -> u64 {
    let lo = writes.partition_point(|(_, d)| *d < from_ns);
    let hi = writes.partition_point(|(_, d)| *d < to_ns);
    (hi - lo) as u64
}

/// The median rate over whole buckets that overlap no window.
fn baseline(writes: &[(u64, u64)], windows: &[Window], end_ns: u64) -> u64 {
    let mut rates: Vec<u64> = (0..end_ns / BUCKET_NS)
        .map(|b| (b * BUCKET_NS, (b + 1) * BUCKET_NS))
        .filter(|(s, e)| !windows.iter().any(|w| w.start_ns < *e && *s < w.end_ns))
        .map(|(s, e)| count_in(writes, s, e))
        .collect();
    rates.sort_unstable();
    rates.get(rates.len() / 2).copied().unwrap_or(0)
}

fn ms(ns: u64) -> u64 {
    ns / 1_000_000
}

/// Every fault's figures. `windows` are in start order.
pub fn figures(records: &[Record], windows: &[Window]) -> Figures {
    let writes = acked_writes(records);
    let end_ns = records.last().map_or(0, |r| r.time_ns);
    let base = baseline(&writes, windows, end_ns);
    let faults = windows
        .iter()
        .enumerate()
        .map(|(i, w)| {
            let next_ns = windows.get(i + 1).map_or(u64::MAX, |n| n.start_ns);
            // Runs recorded before `in_effect_ns` existed have 0 there.
            let from_ns = w.in_effect_ns.max(w.start_ns);
            let first = writes
                .iter()
                .find(|(inv, done)| *inv >= from_ns && *done < next_ns)
                .map(|(_, done)| ms(done - from_ns));
            Availability {
                nemesis: w.nemesis.clone(),
                detail: w.detail.clone(),
                held_ms: ms(w.end_ns.saturating_sub(w.start_ns)),
                to_first_write_ms: first,
                to_full_throughput_ms: recovery(&writes, base, w.end_ns, end_ns),
            }
        })
        .collect();
    Figures {
        baseline_writes_per_s: base,
        faults,
    }
}

/// From `healed_ns` to the first bucket at full throughput.
fn recovery(writes: &[(u64, u64)], base: u64, healed_ns: u64, end_ns: u64) -> Option<u64> {
    let need = (base * FULL_SHARE_PERCENT).div_ceil(100).max(1);
    let mut s = healed_ns;
    while s + BUCKET_NS <= end_ns {
        if count_in(writes, s, s + BUCKET_NS) >= need {
            return Some(ms(s - healed_ns));
        }
        s += BUCKET_NS / 4;
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::history::{PortSeen, Value};

    /// A history with one acknowledged write every `gap_ns`, except in `holes`.
    fn steady(until_ns: u64, gap_ns: u64, holes: &[(u64, u64)]) -> Vec<Record> {
        let mut out = Vec::new();
        let mut t = 0;
        let f = F::DeletePort { port: "p".into() };
        while t < until_ns {
            if !holes.iter().any(|(s, e)| *s <= t && t < *e) {
                let i = out.len() as u64;
                let rec = |index, event, time_ns| Record {
                    index,
                    process: 1,
                    f: f.clone(),
                    event,
                    time_ns,
                };
                out.push(rec(i, Event::Invoke, t));
                out.push(rec(
                    i + 1,
                    Event::Ok {
                        value: Value::Deleted,
                    },
                    t + gap_ns / 2,
                ));
            }
            t += gap_ns;
        }
        out
    }

    fn window(start_s: u64, end_s: u64) -> Window {
        Window {
            nemesis: "kill-leader".into(),
            detail: "node 1".into(),
            start_ns: start_s * BUCKET_NS,
            in_effect_ns: start_s * BUCKET_NS,
            end_ns: end_s * BUCKET_NS,
        }
    }

    #[test]
    fn an_outage_and_its_recovery_are_measured() {
        // 100 writes/s; nothing acknowledged from 10 s to 13.5 s; the fault is
        // 10 s..12 s, so writes resume 1.5 s after the heal.
        let records = steady(
            30 * BUCKET_NS,
            BUCKET_NS / 100,
            &[(10 * BUCKET_NS, 13_500_000_000)],
        );
        let f = figures(&records, &[window(10, 12)]);
        assert_eq!(f.baseline_writes_per_s, 100);
        let a = &f.faults[0];
        assert_eq!(a.held_ms, 2000);
        assert_eq!(a.to_first_write_ms, Some(3505));
        assert_eq!(a.to_full_throughput_ms, Some(1500));
    }

    #[test]
    fn a_fault_clients_never_noticed_costs_nothing() {
        let records = steady(20 * BUCKET_NS, BUCKET_NS / 50, &[]);
        let f = figures(&records, &[window(5, 8)]);
        assert_eq!(f.faults[0].to_first_write_ms, Some(10));
        assert_eq!(f.faults[0].to_full_throughput_ms, Some(0));
    }

    #[test]
    fn no_write_before_the_next_fault_is_none() {
        let records = steady(
            20 * BUCKET_NS,
            BUCKET_NS / 50,
            &[(5 * BUCKET_NS, 20 * BUCKET_NS)],
        );
        let f = figures(&records, &[window(5, 8), window(9, 10)]);
        assert_eq!(f.faults[0].to_first_write_ms, None);
        assert_eq!(f.faults[0].to_full_throughput_ms, None);
        // Reads and failures are not acknowledged writes.
        let mut reads = steady(4 * BUCKET_NS, BUCKET_NS / 50, &[]);
        for r in &mut reads {
            r.f = F::GetPort { port: "p".into() };
            if let Event::Ok { value } = &mut r.event {
                *value = Value::Port(PortSeen {
                    id: "p".into(),
                    subnet: "s".into(),
                    ip: String::new(),
                    mac: String::new(),
                    name: String::new(),
                    device: String::new(),
                });
            }
        }
        assert_eq!(
            figures(&reads, &[window(1, 2)]).faults[0].to_first_write_ms,
            None
        );
    }
}
