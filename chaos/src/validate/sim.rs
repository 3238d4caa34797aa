//! A correct server, simulated: one sequential state, many concurrent
//! clients, operations of unknown outcome that took effect or did not, small
//! subnets that fill. It writes histories in the exact history format, which
//! both checkers must accept for every seed; then, mutated, refuse.

use std::collections::BTreeMap;
use std::net::Ipv4Addr;
use std::time::Instant;

use super::*;
use crate::history::{self, Event, Record, Value, F};

pub struct SimConfig {
    pub seed: u64,
    pub clients: usize,
    /// Operations invoked in all.
    pub ops: usize,
    pub subnets: u8,
    /// Allocatable addresses per subnet.
    pub capacity: u8,
    /// Percent of writes whose outcome the client does not learn.
    pub info_percent: u8,
}

pub struct Simulated {
    pub ops: Vec<Operation>,
    pub subnets: Vec<Subnet>,
    pub final_ports: Vec<PortSeen>,
}

/// The server: every subnet's ports, applied one operation at a time.
struct Server {
    subnets: Vec<Subnet>,
    ports: BTreeMap<String, PortSeen>,
    next_id: u64,
}

impl Server {
    fn apply(&mut self, f: &F, rng: &mut fastrand::Rng) -> Event {
        let fail = |e: &str| Event::Fail { error: e.into() };
        let ok = |value| Event::Ok { value };
        match f {
            F::CreatePort { subnet, ip, device } => {
                let Some(s) = self.subnets.iter().find(|s| s.id == *subnet) else {
                    return fail("not_found");
                };
                let held: Vec<&str> = self
                    .ports
                    .values()
                    .filter(|p| p.subnet == *subnet)
                    .map(|p| p.ip.as_str())
                    .collect();
                let free: Vec<String> = (u32::from(s.first)..=u32::from(s.last))
                    .map(|a| Ipv4Addr::from(a).to_string())
                    .filter(|a| !held.contains(&a.as_str()))
                    .collect();
                let ip = match ip {
                    Some(ip) if held.contains(&ip.as_str()) => return fail("ip_in_use"),
                    Some(ip) => ip.clone(),
                    None if free.is_empty() => return fail("subnet_full"),
                    None => free[rng.usize(..free.len())].clone(),
                };
                self.next_id += 1;
                let p = PortSeen {
                    id: format!("p{:06}", self.next_id),
                    subnet: subnet.clone(),
                    ip,
                    mac: format!("fa:16:3e:{:06x}", self.next_id),
                    name: String::new(),
                    device: device.clone(),
                };
                self.ports.insert(p.id.clone(), p.clone());
                ok(Value::Port(p))
            }
            F::DeletePort { port } => match self.ports.remove(port) {
                Some(_) => ok(Value::Deleted),
                None => fail("not_found"),
            },
            F::GetPort { port } => match self.ports.get(port) {
                Some(p) => ok(Value::Port(p.clone())),
                None => fail("not_found"),
            },
            F::ListPorts { subnet } => ok(Value::Ports(
                self.ports
                    .values()
                    .filter(|p| p.subnet == *subnet)
                    .cloned()
                    .collect(),
            )),
            F::WriteName { port, name } => match self.ports.get_mut(port) {
                Some(p) => {
                    p.name = name.clone();
                    ok(Value::Port(p.clone()))
                }
                None => fail("not_found"),
            },
        }
    }
}

enum Client {
    Idle,
    Invoked(F),
    Applied(F, Event),
}

struct Sim {
    cfg: SimConfig,
    rng: fastrand::Rng,
    server: Server,
    clients: Vec<(u32, Client)>,
    next_process: u32,
    /// Ids the clients have seen (as `traffic::Known`).
    known: Vec<String>,
    /// Writes of unknown outcome that will still take effect.
    ghosts: Vec<F>,
    records: Vec<Record>,
    time_ns: u64,
    invoked: usize,
}

pub fn simulate(cfg: SimConfig) -> Simulated {
    let subnets: Vec<Subnet> = (0..cfg.subnets)
        .map(|k| Subnet {
            id: format!("s{k}"),
            cidr: format!("10.50.{k}.0/24"),
            first: Ipv4Addr::new(10, 50, k, 2),
            last: Ipv4Addr::new(10, 50, k, 1 + cfg.capacity),
        })
        .collect();
    let mut sim = Sim {
        rng: fastrand::Rng::with_seed(cfg.seed),
        server: Server {
            subnets: subnets.clone(),
            ports: BTreeMap::new(),
            next_id: 0,
        },
        clients: (0..cfg.clients as u32).map(|p| (p, Client::Idle)).collect(),
        next_process: cfg.clients as u32,
        known: Vec::new(),
        ghosts: Vec::new(),
        records: Vec::new(),
        time_ns: 0,
        invoked: 0,
        cfg,
    };
    while sim.invoked < sim.cfg.ops {
        sim.tick();
    }
    sim.end();
    let ops = history::operations(&sim.records).unwrap_or_default();
    Simulated {
        ops,
        subnets,
        final_ports: sim.server.ports.into_values().collect(),
    }
}

impl Sim {
    fn record(&mut self, process: u32, f: &F, event: Event) {
        self.time_ns += 1 + self.rng.u64(..100);
        self.records.push(Record {
            index: self.records.len() as u64,
            process,
            f: f.clone(),
            event,
            time_ns: self.time_ns,
        });
    }

    fn tick(&mut self) {
        if !self.ghosts.is_empty() && self.rng.u8(..100) < 2 {
            let f = self.ghosts.swap_remove(self.rng.usize(..self.ghosts.len()));
            self.server.apply(&f, &mut self.rng);
        }
        let c = self.rng.usize(..self.clients.len());
        let (process, state) = std::mem::replace(&mut self.clients[c], (0, Client::Idle));
        self.clients[c] = match state {
            Client::Idle => match self.next_op(process) {
                Some(f) => {
                    self.record(process, &f, Event::Invoke);
                    self.invoked += 1;
                    (process, Client::Invoked(f))
                }
                None => (process, Client::Idle),
            },
            Client::Invoked(f) => self.decide(process, f),
            Client::Applied(f, event) => {
                self.learn(&f, &event);
                self.record(process, &f, event);
                (process, Client::Idle)
            }
        };
    }

    /// An invoked operation: fails without effect, ends unknown (applied now,
    /// later, or never), or takes effect now.
    fn decide(&mut self, process: u32, f: F) -> (u32, Client) {
        let write = !matches!(f, F::GetPort { .. } | F::ListPorts { .. });
        let roll = self.rng.u8(..100);
        if roll < 3 {
            self.record(
                process,
                &f,
                Event::Fail {
                    error: "unavailable".into(),
                },
            );
            return (process, Client::Idle);
        }
        if write && roll < 3 + self.cfg.info_percent {
            match self.rng.u8(..3) {
                0 => {
                    self.server.apply(&f, &mut self.rng);
                }
                1 => self.ghosts.push(f.clone()),
                _ => {}
            }
            let info = Event::Info {
                error: "deadline_exceeded".into(),
            };
            self.record(process, &f, info);
            self.next_process += 1;
            return (self.next_process, Client::Idle);
        }
        let event = self.server.apply(&f, &mut self.rng);
        (process, Client::Applied(f, event))
    }

    fn learn(&mut self, f: &F, event: &Event) {
        match event {
            Event::Ok {
                value: Value::Port(p),
            } => self.know(&p.id.clone()),
            Event::Ok {
                value: Value::Ports(ps),
            } => {
                let ids: Vec<String> = ps.iter().map(|p| p.id.clone()).collect();
                ids.iter().for_each(|id| self.know(id));
            }
            _ => {}
        }
        let gone = match (f, event) {
            (F::DeletePort { port }, Event::Ok { .. }) => Some(port),
            (
                F::DeletePort { port } | F::GetPort { port } | F::WriteName { port, .. },
                Event::Fail { error },
            ) if error == "not_found" => Some(port),
            _ => None,
        };
        if let Some(id) = gone {
            self.known.retain(|k| k != id);
        }
    }

    fn know(&mut self, id: &str) {
        if !self.known.iter().any(|k| k == id) {
            self.known.push(id.to_string());
        }
    }

    fn next_op(&mut self, process: u32) -> Option<F> {
        let s = self.server.subnets[self.rng.usize(..self.server.subnets.len())].clone();
        let pick = |rng: &mut fastrand::Rng, known: &[String]| {
            (!known.is_empty()).then(|| known[rng.usize(..known.len())].clone())
        };
        let seq = self.invoked;
        Some(match self.rng.u8(..100) {
            0..=34 => F::CreatePort {
                ip: self.rng.bool().then(|| {
                    Ipv4Addr::from(u32::from(s.first) + self.rng.u32(..s.capacity())).to_string()
                }),
                subnet: s.id,
                device: format!("c{process}-{seq}"),
            },
            35..=54 => F::DeletePort {
                port: pick(&mut self.rng, &self.known)?,
            },
            55..=74 => F::GetPort {
                port: pick(&mut self.rng, &self.known)?,
            },
            75..=84 => F::ListPorts { subnet: s.id },
            _ => F::WriteName {
                port: pick(&mut self.rng, &self.known)?,
                name: format!("n{process}-{seq}"),
            },
        })
    }

    /// The run ends: operations still in flight never complete (taking
    /// effect or not), writes of unknown outcome take effect or never do.
    fn end(&mut self) {
        let clients = std::mem::take(&mut self.clients);
        for (_, c) in clients {
            if let Client::Invoked(f) = c {
                if self.rng.bool() {
                    self.server.apply(&f, &mut self.rng);
                }
            }
        }
        for f in std::mem::take(&mut self.ghosts) {
            if self.rng.bool() {
                self.server.apply(&f, &mut self.rng);
            }
        }
    }
}

fn config(seed: u64, ops: usize, capacity: u8) -> SimConfig {
    SimConfig {
        seed,
        clients: 16,
        ops,
        subnets: 3,
        capacity,
        info_percent: 4,
    }
}

fn check(s: &Simulated) -> (Finding, Finding) {
    let lin = linearizable(&s.ops, &s.subnets, &s.final_ports, BUDGET_STEPS_DEFAULT);
    let inv = invariants(&s.ops, &s.subnets, &s.final_ports);
    (lin, inv)
}

#[test]
fn a_correct_server_is_always_valid() {
    for seed in 0..60 {
        let capacity = [3, 5, 13][seed as usize % 3];
        let s = simulate(config(seed, 600, capacity));
        let (lin, inv) = check(&s);
        assert_eq!(
            lin.outcome,
            Outcome::Valid,
            "seed {seed}: {}\n{:#}",
            lin.summary,
            lin.details
        );
        assert_eq!(
            inv.outcome,
            Outcome::Valid,
            "seed {seed}: {}\n{:#}",
            inv.summary,
            inv.details
        );
    }
}

/// Ports in the final read whose create was acknowledged and that no
/// delete ever named.
fn acked_and_kept(s: &Simulated) -> Vec<usize> {
    let acked = |p: &PortSeen| {
        s.ops.iter().any(|o| {
            matches!(o.ok(), Some(Value::Port(q)) if q.id == p.id)
                && matches!(&o.f, F::CreatePort { .. })
        })
    };
    let deleted = |p: &PortSeen| {
        s.ops
            .iter()
            .any(|o| matches!(&o.f, F::DeletePort { port } if *port == p.id))
    };
    (0..s.final_ports.len())
        .filter(|k| acked(&s.final_ports[*k]) && !deleted(&s.final_ports[*k]))
        .collect()
}

#[test]
fn a_lost_acknowledged_port_is_found() {
    let mut mutated = 0;
    for seed in 0..20 {
        let mut s = simulate(config(seed, 400, 5));
        let Some(&k) = acked_and_kept(&s).first() else {
            continue;
        };
        s.final_ports.remove(k);
        let (lin, inv) = check(&s);
        assert_eq!(
            lin.outcome,
            Outcome::Anomaly,
            "seed {seed}: {}",
            lin.summary
        );
        assert_eq!(
            inv.outcome,
            Outcome::Anomaly,
            "seed {seed}: {}",
            inv.summary
        );
        mutated += 1;
    }
    assert!(mutated >= 10, "only {mutated} seeds had a port to lose");
}

#[test]
fn a_duplicated_address_is_found() {
    let mut mutated = 0;
    for seed in 0..20 {
        let mut s = simulate(config(seed, 400, 5));
        let f = &s.final_ports;
        let Some((a, b)) = (0..f.len())
            .flat_map(|a| (0..f.len()).map(move |b| (a, b)))
            .find(|(a, b)| a != b && f[*a].subnet == f[*b].subnet)
        else {
            continue;
        };
        s.final_ports[b].ip = s.final_ports[a].ip.clone();
        let (lin, inv) = check(&s);
        assert_eq!(
            lin.outcome,
            Outcome::Anomaly,
            "seed {seed}: {}",
            lin.summary
        );
        assert_eq!(
            inv.outcome,
            Outcome::Anomaly,
            "seed {seed}: {}",
            inv.summary
        );
        mutated += 1;
    }
    assert!(
        mutated >= 10,
        "only {mutated} seeds had two ports in a subnet"
    );
}

#[test]
fn a_stale_read_is_found() {
    let mut mutated = 0;
    for seed in 0..20 {
        let mut s = simulate(config(seed, 400, 5));
        // A get invoked after an acknowledged delete completed now returns
        // the deleted port (as it was created).
        let Some((d, g)) = stale_pair(&s) else {
            continue;
        };
        let F::DeletePort { port } = s.ops[d].f.clone() else {
            continue;
        };
        let Some(seen) = s.ops.iter().find_map(|o| match (&o.f, o.ok()) {
            (F::CreatePort { .. }, Some(Value::Port(p))) if p.id == port => Some(p.clone()),
            _ => None,
        }) else {
            continue;
        };
        let t = s.ops[g].complete_ns().unwrap_or(s.ops[g].invoke_ns + 1);
        s.ops[g].f = F::GetPort { port };
        s.ops[g].completion = Some((
            Event::Ok {
                value: Value::Port(seen),
            },
            t,
        ));
        let (lin, _) = check(&s);
        assert_eq!(
            lin.outcome,
            Outcome::Anomaly,
            "seed {seed}: {}",
            lin.summary
        );
        mutated += 1;
    }
    assert!(
        mutated >= 10,
        "only {mutated} seeds had a delete then a get"
    );
}

/// An acknowledged delete and a get invoked after it completed.
fn stale_pair(s: &Simulated) -> Option<(usize, usize)> {
    let d = s.ops.iter().position(|o| {
        matches!(o.f, F::DeletePort { .. }) && matches!(o.ok(), Some(Value::Deleted))
    })?;
    let done = s.ops[d].complete_ns()?;
    let g = s
        .ops
        .iter()
        .position(|o| matches!(o.f, F::GetPort { .. }) && o.invoke_ns > done)?;
    Some((d, g))
}

/// The search on a history the size of a long run (the figure the docs
/// quote): `cargo test -p prismnet-chaos --lib --release -- --ignored --nocapture large`.
#[test]
#[ignore]
fn large_history_search_time() {
    for seed in [1, 2, 3] {
        large(seed, 20_000);
    }
}

/// The same, smaller, kept in the normal run.
#[test]
fn medium_history_is_decided() {
    large(7, 4_000);
}

fn large(seed: u64, ops: usize) {
    let s = simulate(config(seed, ops, 13));
    let info = s.ops.iter().filter(|o| o.indeterminate()).count();
    let start = Instant::now();
    let lin = linearizable(&s.ops, &s.subnets, &s.final_ports, BUDGET_STEPS_DEFAULT);
    let lin_ms = start.elapsed().as_millis();
    let start = Instant::now();
    let inv = invariants(&s.ops, &s.subnets, &s.final_ports);
    let inv_ms = start.elapsed().as_millis();
    let effort: Vec<String> = lin.details["subnets"]
        .as_array()
        .map(|a| {
            a.iter()
                .map(|s| {
                    format!(
                        "{} steps {} configurations",
                        s["steps"], s["configurations"]
                    )
                })
                .collect()
        })
        .unwrap_or_default();
    eprintln!(
        "seed {seed}: {} ops ({info} info or unfinished), {} final ports: linearizable {lin_ms} ms ({}), invariants {inv_ms} ms, peak RSS {}",
        s.ops.len(),
        s.final_ports.len(),
        effort.join(", "),
        peak_rss()
    );
    assert_eq!(lin.outcome, Outcome::Valid, "{}", lin.summary);
    assert_eq!(inv.outcome, Outcome::Valid, "{}", inv.summary);
}

/// Many writes of unknown outcome (a third of them), each concurrent with
/// everything after it: the search must stay linear-ish, not exponential.
#[test]
fn many_unknown_outcomes_stay_cheap() {
    for seed in 0..6 {
        let mut cfg = config(seed, 3_000, [3, 5, 13][seed as usize % 3]);
        cfg.info_percent = 30;
        let s = simulate(cfg);
        let info = s.ops.iter().filter(|o| o.indeterminate()).count();
        let start = Instant::now();
        let lin = linearizable(&s.ops, &s.subnets, &s.final_ports, BUDGET_STEPS_DEFAULT);
        let ms = start.elapsed().as_millis();
        let steps: u64 = lin.details["subnets"]
            .as_array()
            .map(|a| a.iter().filter_map(|s| s["steps"].as_u64()).sum())
            .unwrap_or(0);
        eprintln!(
            "seed {seed}: {} ops, {info} unknown, {steps} steps, {ms} ms",
            s.ops.len()
        );
        assert_eq!(lin.outcome, Outcome::Valid, "seed {seed}: {}", lin.summary);
        // Each lift costs a scan of the pending window (steps for the
        // operations in it); exponential would be orders of magnitude more.
        assert!(
            steps < 1_000 * s.ops.len() as u64,
            "seed {seed}: {steps} steps"
        );
    }
}

/// The process's peak resident set (Linux), for the figures.
fn peak_rss() -> String {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmHWM"))
                .map(|l| l.split_whitespace().skip(1).collect::<Vec<_>>().join(" "))
        })
        .unwrap_or_else(|| "?".into())
}

#[test]
fn findings_are_deterministic() {
    let mut s = simulate(config(11, 500, 5));
    assert_eq!(check(&s), check(&s));
    let Some(&k) = acked_and_kept(&s).first() else {
        return;
    };
    s.final_ports.remove(k);
    let (a, b) = (check(&s), check(&s));
    assert_eq!(a.0.outcome, Outcome::Anomaly);
    assert_eq!((a.0.details, a.1.details), (b.0.details, b.1.details));
}
