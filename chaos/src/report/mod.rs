//! The run directory and the verdict.
//!
//! ```text
//! <dir>/meta.json        seed, nemeses, schedule
//! <dir>/history.jsonl    every operation (see `history`)
//! <dir>/nemesis.jsonl    every fault window
//! <dir>/final.json       the ports read after the run
//! <dir>/nb.log           NB's transaction log (ovsdb-tool show-log -m)
//! <dir>/checks.json      each check's result
//! <dir>/timeline.svg     latency of each operation over time, faults shaded
//! <dir>/index.html       all of it, linked
//! <dir>/n*/prismnetd.log, ovn/*.log   the processes' own logs
//! ```

mod availability;
mod timeline;

pub use availability::{Availability, Figures};

use std::path::Path;
use std::process::ExitCode;

use serde::{Deserialize, Serialize};

use crate::failpoint::Window;
use crate::history::{self, Record};
use crate::nb_audit;
use crate::run::{Observed, RunConfig, RunError, RunMeta};
use crate::validate;

/// One check's outcome.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    Valid,
    /// A promise broken: the run found a bug.
    Anomaly,
    /// The check could not decide (e.g. a search limit); not a pass.
    Unknown,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Check {
    pub name: String,
    pub outcome: Outcome,
    /// One line.
    pub summary: String,
    /// The evidence (operations involved, states, records).
    pub details: serde_json::Value,
}

impl Check {
    fn new(name: &str, outcome: Outcome, summary: impl Into<String>) -> Check {
        Check {
            name: name.into(),
            outcome,
            summary: summary.into(),
            details: serde_json::Value::Null,
        }
    }

    fn with(mut self, details: impl Serialize) -> Check {
        self.details = serde_json::to_value(details).unwrap_or_default();
        self
    }
}

/// Every check of a run.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Verdict {
    pub seed: u64,
    pub operations: usize,
    pub faults: usize,
    pub checks: Vec<Check>,
    /// Per fault: time to the first acknowledged write, and back to full throughput.
    #[serde(default)]
    pub availability: Figures,
}

impl Verdict {
    pub fn anomalies(&self) -> impl Iterator<Item = &Check> {
        self.checks.iter().filter(|c| c.outcome == Outcome::Anomaly)
    }

    /// What a run prints before its verdict: each check, then the availability
    /// figures per nemesis.
    pub fn summary(&self) -> Vec<String> {
        let mut out: Vec<String> = self
            .checks
            .iter()
            .map(|c| format!("check {}: {:?}: {}", c.name, c.outcome, c.summary))
            .collect();
        out.push(format!(
            "availability (baseline {} acknowledged writes/s):",
            self.availability.baseline_writes_per_s
        ));
        out.extend(
            self.availability
                .per_nemesis()
                .into_iter()
                .map(|l| format!("  {l}")),
        );
        out
    }

    /// The line `prismnet-chaos run` prints last.
    pub fn line(&self) -> String {
        let bad: Vec<&str> = self.anomalies().map(|c| c.name.as_str()).collect();
        let unknown: Vec<&str> = self
            .checks
            .iter()
            .filter(|c| c.outcome == Outcome::Unknown)
            .map(|c| c.name.as_str())
            .collect();
        let facts = format!(
            "seed {}, {} operations, {} faults",
            self.seed, self.operations, self.faults
        );
        match (bad.is_empty(), unknown.is_empty()) {
            (true, true) => format!("VERDICT: valid ({facts}, {} checks)", self.checks.len()),
            (true, false) => format!("VERDICT: unknown: {} ({facts})", unknown.join(", ")),
            (false, _) => format!("VERDICT: ANOMALY: {} ({facts})", bad.join(", ")),
        }
    }

    pub fn exit_code(&self) -> ExitCode {
        if self.anomalies().next().is_some() {
            ExitCode::from(1)
        } else if self.checks.iter().any(|c| c.outcome == Outcome::Unknown) {
            ExitCode::from(3)
        } else {
            ExitCode::SUCCESS
        }
    }
}

fn io(what: &str) -> impl FnOnce(std::io::Error) -> RunError + '_ {
    move |source| RunError::Io {
        what: what.into(),
        source,
    }
}

fn write_json(dir: &Path, name: &str, v: &impl Serialize) -> Result<(), RunError> {
    let text = serde_json::to_string_pretty(v).unwrap_or_default();
    std::fs::write(dir.join(name), text).map_err(io(name))
}

fn write_lines<T: Serialize>(dir: &Path, name: &str, items: &[T]) -> Result<(), RunError> {
    let mut text = String::new();
    for i in items {
        text.push_str(&serde_json::to_string(i).unwrap_or_default());
        text.push('\n');
    }
    std::fs::write(dir.join(name), text).map_err(io(name))
}

/// Writes the run directory and returns the verdict.
pub fn write(config: &RunConfig, o: &Observed) -> Result<Verdict, RunError> {
    let dir = &config.dir;
    let meta = RunMeta {
        seed: config.seed,
        nemeses: config.nemeses.iter().map(|n| n.name()).collect(),
        time_s: config.time.as_secs_f64(),
        clients: config.clients,
        schedule: o.schedule.clone(),
        subnets: o.subnets.clone(),
    };
    write_json(dir, "meta.json", &meta)?;
    let mut f = std::fs::File::create(dir.join("history.jsonl")).map_err(io("history.jsonl"))?;
    history::write(&mut f, &o.records).map_err(io("history.jsonl"))?;
    write_lines(dir, "nemesis.jsonl", &o.windows)?;
    write_json(dir, "final.json", &o.final_ports)?;
    std::fs::write(dir.join("nb.log"), &o.nb_log).map_err(io("nb.log"))?;
    let mut checks = history_checks(&o.records, o);
    checks.extend(cluster_checks(o));
    let verdict = Verdict {
        seed: config.seed,
        operations: o.records.iter().filter(|r| r.is_invoke()).count(),
        faults: o.windows.len(),
        checks,
        availability: availability::figures(&o.records, &o.windows),
    };
    write_json(dir, "checks.json", &verdict)?;
    let svg = timeline::svg(&o.records, &o.windows);
    std::fs::write(dir.join("timeline.svg"), svg).map_err(io("timeline.svg"))?;
    std::fs::write(
        dir.join("index.html"),
        index_html(&meta, &verdict, &o.windows),
    )
    .map_err(io("index.html"))?;
    Ok(verdict)
}

/// Re-checks a run directory (its history and final state; the cluster is gone).
pub fn recheck(dir: &Path) -> Result<Verdict, RunError> {
    let read = |name: &str| std::fs::read_to_string(dir.join(name)).map_err(io(name));
    let records = history::read(read("history.jsonl")?.as_bytes())
        .map_err(|e| RunError::Setup(e.to_string()))?;
    let meta: RunMeta =
        serde_json::from_str(&read("meta.json")?).map_err(|e| RunError::Setup(e.to_string()))?;
    let windows: Vec<Window> = read("nemesis.jsonl")?
        .lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect();
    let o = Observed {
        config_seed: meta.seed,
        subnets: meta.subnets.clone(),
        records: records.clone(),
        windows: windows.clone(),
        schedule: meta.schedule.clone(),
        final_ports: serde_json::from_str(&read("final.json")?).unwrap_or_default(),
        healed_ns: 0,
        first_write_after_heal_ns: None,
        nb_log: read("nb.log").unwrap_or_default(),
        nb_drift: Ok(Vec::new()),
        digests: Vec::new(),
    };
    Ok(Verdict {
        seed: meta.seed,
        operations: records.iter().filter(|r| r.is_invoke()).count(),
        faults: windows.len(),
        checks: history_checks(&records, &o),
        availability: availability::figures(&records, &windows),
    })
}

/// Checks of the history and the final state (re-runnable from the run dir).
fn history_checks(records: &[Record], o: &Observed) -> Vec<Check> {
    let mut out = Vec::new();
    match history::operations(records) {
        Ok(ops) => {
            out.push(Check::new(
                "history",
                Outcome::Valid,
                format!("{} operations, well formed", ops.len()),
            ));
            out.extend(model_checks(&ops, o));
        }
        Err(e) => out.push(Check::new("history", Outcome::Anomaly, e.to_string())),
    }
    let signed = nb_audit::parse(&o.nb_log, crate::cluster::CLUSTER_NAME);
    let audit = nb_audit::audit(&signed);
    out.push(if signed.is_empty() {
        Check::new(
            "nb-fence",
            Outcome::Unknown,
            "no signed transaction in NB's log",
        )
    } else if audit.regressions.is_empty() {
        Check::new(
            "nb-fence",
            Outcome::Valid,
            format!(
                "{} signed transactions by {} leaderships, never an older one after a newer one",
                audit.signed,
                audit.leaderships.len()
            ),
        )
        .with(&audit)
    } else {
        Check::new(
            "nb-fence",
            Outcome::Anomaly,
            format!(
                "{} transactions of a deposed leadership committed after a newer one claimed NB",
                audit.regressions.len()
            ),
        )
        .with(&audit)
    });
    out
}

/// The history against the subnet model, and the final state's invariants.
fn model_checks(ops: &[history::Operation], o: &Observed) -> Vec<Check> {
    let lin = validate::linearizable(
        ops,
        &o.subnets,
        &o.final_ports,
        validate::BUDGET_STEPS_DEFAULT,
    );
    let inv = validate::invariants(ops, &o.subnets, &o.final_ports);
    [("linearizable", lin), ("invariants", inv)]
        .into_iter()
        .map(|(name, f)| Check {
            name: name.into(),
            outcome: f.outcome,
            summary: f.summary,
            details: f.details,
        })
        .collect()
}

/// Checks that need the live cluster (made during the run).
fn cluster_checks(o: &Observed) -> Vec<Check> {
    let mut out = Vec::new();
    out.push(match &o.nb_drift {
        Ok(d) if d.is_empty() => Check::new("nb-converged", Outcome::Valid, "ovn diff is empty"),
        Ok(d) => Check::new(
            "nb-converged",
            Outcome::Anomaly,
            format!(
                "{} owned NB rows still differ from the state 30 s after the run",
                d.len()
            ),
        )
        .with(d),
        Err(e) => Check::new(
            "nb-converged",
            Outcome::Unknown,
            format!("ovn diff failed: {e}"),
        ),
    });
    let ok: Vec<&(u64, String)> = o
        .digests
        .iter()
        .filter_map(|(_, r)| r.as_ref().ok())
        .collect();
    out.push(if ok.len() < o.digests.len() || ok.is_empty() {
        Check::new(
            "replicas-equal",
            Outcome::Unknown,
            "not every node answered its digest",
        )
        .with(debug_digests(o))
    } else if ok.windows(2).all(|w| w[0] == w[1]) {
        Check::new(
            "replicas-equal",
            Outcome::Valid,
            format!("{} nodes at index {} with equal digests", ok.len(), ok[0].0),
        )
    } else {
        let same_index = ok.windows(2).all(|w| w[0].0 == w[1].0);
        Check::new(
            "replicas-equal",
            if same_index {
                Outcome::Anomaly
            } else {
                Outcome::Unknown
            },
            if same_index {
                "replicas at the same index hold different states".to_string()
            } else {
                "replicas did not reach the same index within 30 s".to_string()
            },
        )
        .with(debug_digests(o))
    });
    out.push(match o.first_write_after_heal_ns {
        Some(t) => Check::new(
            "liveness",
            Outcome::Valid,
            format!(
                "first acknowledged write {:.2} s after the last heal",
                (t.saturating_sub(o.healed_ns)) as f64 / 1e9
            ),
        ),
        None => Check::new(
            "liveness",
            Outcome::Anomaly,
            "no write was acknowledged after every fault was healed",
        ),
    });
    out
}

fn debug_digests(o: &Observed) -> Vec<String> {
    o.digests
        .iter()
        .map(|(id, r)| match r {
            Ok((i, d)) => format!("node {id}: index {i} digest {d}"),
            Err(e) => format!("node {id}: {e}"),
        })
        .collect()
}

fn esc(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

fn availability_table(f: &Figures) -> String {
    let opt = |v: Option<u64>| v.map_or("never".to_string(), |ms| format!("{ms}"));
    let mut h = format!(
        "</table><h2>Availability</h2><p>baseline {} acknowledged writes/s outside faults; \
         full throughput = {}% of it</p><table><tr><th>nemesis</th><th>detail</th>\
         <th>held ms</th><th>to first write ms</th><th>heal to full throughput ms</th></tr>",
        f.baseline_writes_per_s,
        availability::FULL_SHARE_PERCENT
    );
    for a in &f.faults {
        h.push_str(&format!(
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            esc(&a.nemesis),
            esc(&a.detail),
            a.held_ms,
            opt(a.to_first_write_ms),
            opt(a.to_full_throughput_ms)
        ));
    }
    h.push_str("</table>");
    h
}

fn index_html(meta: &RunMeta, v: &Verdict, windows: &[Window]) -> String {
    let mut h = String::from(
        "<!doctype html><meta charset=utf-8><title>prismnet-chaos run</title>\
         <style>body{font:14px sans-serif;margin:2em}td,th{padding:2px 8px;text-align:left}\
         .anomaly{color:#b00}.valid{color:#070}.unknown{color:#a60}</style>",
    );
    h.push_str(&format!(
        "<h1>{}</h1><p>seed {} · nemeses {} · {} clients</p>",
        esc(&v.line()),
        meta.seed,
        esc(&meta.nemeses.join(", ")),
        meta.clients
    ));
    h.push_str("<h2>Checks</h2><table><tr><th>check</th><th>outcome</th><th>summary</th></tr>");
    for c in &v.checks {
        let class = match c.outcome {
            Outcome::Valid => "valid",
            Outcome::Anomaly => "anomaly",
            Outcome::Unknown => "unknown",
        };
        h.push_str(&format!(
            "<tr><td>{}</td><td class={class}>{class}</td><td>{}</td></tr>",
            esc(&c.name),
            esc(&c.summary)
        ));
    }
    h.push_str(&availability_table(&v.availability));
    h.push_str("<h2>Timeline</h2><img src=timeline.svg style=max-width:100%>");
    h.push_str("<h2>Faults</h2><table><tr><th>nemesis</th><th>detail</th><th>from s</th><th>to s</th></tr>");
    for w in windows {
        h.push_str(&format!(
            "<tr><td>{}</td><td>{}</td><td>{:.2}</td><td>{:.2}</td></tr>",
            esc(&w.nemesis),
            esc(&w.detail),
            w.start_ns as f64 / 1e9,
            w.end_ns as f64 / 1e9
        ));
    }
    h.push_str(
        "</table><h2>Files</h2><ul><li><a href=history.jsonl>history.jsonl</a>\
         <li><a href=nemesis.jsonl>nemesis.jsonl</a><li><a href=checks.json>checks.json</a>\
         <li><a href=final.json>final.json</a><li><a href=nb.log>nb.log</a>\
         <li><a href=meta.json>meta.json</a></ul>",
    );
    h
}
