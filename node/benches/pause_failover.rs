//! Writes while the leader is SIGSTOPped: what a paused leader costs the client
//! library's callers, before and after per-attempt timeouts.
//!
//! Run: `cargo bench -p prismnet-node --bench pause_failover` (release build; three
//! real `prismnetd` processes on 127.0.0.0/8 through the end-to-end test harness).
//! `-- --runs N` repeats each measurement N times (default 3).
//!
//! Each run measures two client configurations in turn, on the same cluster:
//! - `before`: one attempt may use the whole 30 s deadline and HTTP/2 keepalive is
//!   20 s + 10 s (the library's behaviour before attempt timeouts);
//! - `after`: the library's defaults (attempt timeout 1 s, keepalive 1 s + 1 s).
//!
//! and for each, two phases with [`WRITERS`] writers issuing CreatePort one after
//! the other ([`THINK`] apart), each phase into a fresh project and subnet:
//! - `baseline`: [`PHASE`] without a fault;
//! - `pause`: the leader is SIGSTOPped 1 s in, for [`PAUSE`], and the writers go on
//!   for 1 s after it continues. The figures are those of the calls in flight at
//!   some point of the pause (started before it ended, ended after it began).
//!
//! After every phase, once the cluster has settled, the stored ports are checked
//! against the outcomes: every acknowledged create exists exactly once and as
//! acknowledged, no IP or MAC twice, no call that failed definitely left a port.
//! It prints figures; it asserts nothing about time.

#[path = "../tests/common/mod.rs"]
mod common;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::{
    check_acknowledged_ports, definite_failures_that_applied, subnet_ports, Cluster, Options,
    PortFacts,
};
use prismnet_api::v1;
use prismnet_api::{ClientConfig, ClientError, PrismClient};

/// Concurrent writers (one logical call at a time each).
const WRITERS: usize = 8;
/// Pause between a writer's calls: keeps a phase's creates within a project's
/// default quota (10,000 ports).
const THINK: Duration = Duration::from_millis(20);
/// Length of a baseline phase.
const PHASE: Duration = Duration::from_secs(10);
/// How long the leader stays stopped.
const PAUSE: Duration = Duration::from_secs(10);
/// Writing before the pause and after it ends.
const MARGIN: Duration = Duration::from_secs(1);
/// Text of h2's warning when it cuts a connection for too many reset streams.
const H2_RESET_LIMIT_LOG: &str = "pending-accept streams reached limit";

#[derive(Clone, Copy, Debug)]
enum Variant {
    Before,
    After,
}

impl Variant {
    fn name(self) -> &'static str {
        match self {
            Variant::Before => "before",
            Variant::After => "after",
        }
    }

    fn config(self, endpoints: Vec<String>) -> ClientConfig {
        let defaults = ClientConfig {
            connect_timeout: Duration::from_secs(1),
            ..ClientConfig::new(endpoints)
        };
        match self {
            Variant::After => defaults,
            Variant::Before => ClientConfig {
                attempt_timeout: defaults.deadline,
                keepalive_interval: Duration::from_secs(20),
                keepalive_timeout: Duration::from_secs(10),
                tcp_keepalive: None,
                ..defaults
            },
        }
    }
}

/// One call: when it started (since the phase began), how long it took, how it ended.
struct Call {
    device: String,
    start: Duration,
    took: Duration,
    result: Result<v1::Port, ClientError>,
}

/// What a phase printed, for the medians over runs.
#[derive(Clone, Copy, Default)]
struct Figures {
    calls: usize,
    p50: Duration,
    p99: Duration,
    max: Duration,
    failed: usize,
}

fn percentile(sorted: &[Duration], q: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let rank = ((q * sorted.len() as f64).ceil() as usize).clamp(1, sorted.len());
    sorted[rank - 1]
}

fn figures(calls: &[&Call]) -> Figures {
    let mut took: Vec<Duration> = calls.iter().map(|c| c.took).collect();
    took.sort();
    Figures {
        calls: calls.len(),
        p50: percentile(&took, 0.50),
        p99: percentile(&took, 0.99),
        max: took.last().copied().unwrap_or_default(),
        failed: calls.iter().filter(|c| c.result.is_err()).count(),
    }
}

fn ms(d: Duration) -> String {
    format!("{:.1} ms", d.as_secs_f64() * 1e3)
}

/// A fresh project, VPC and /18 subnet for one phase; returns the subnet id.
async fn fresh_subnet(client: &PrismClient, name: &str, octet: u8) -> String {
    let vpc = client
        .create_vpc(v1::CreateVpcRequest {
            project: name.into(),
            name: name.into(),
            cidr_blocks: vec![format!("10.{octet}.0.0/16")],
            ..Default::default()
        })
        .await
        .expect("create vpc");
    client
        .create_subnet(v1::CreateSubnetRequest {
            vpc_id: vpc.id,
            name: name.into(),
            ipv4_cidr: format!("10.{octet}.0.0/18"),
            ..Default::default()
        })
        .await
        .expect("create subnet")
        .id
}

/// Runs the writers for `length`, calling `fault` (with the phase's start) once they
/// are going; returns every call once all have ended.
async fn write_for<F, Fut>(
    client: &PrismClient,
    subnet_id: &str,
    tag: &str,
    length: Duration,
    fault: F,
) -> Vec<Call>
where
    F: FnOnce(Instant) -> Fut,
    Fut: std::future::Future<Output = ()>,
{
    let began = Instant::now();
    let stop_at = began + length;
    let mut writers = Vec::new();
    for w in 0..WRITERS {
        let (client, subnet_id, tag) = (client.clone(), subnet_id.to_string(), tag.to_string());
        writers.push(tokio::spawn(async move {
            let mut calls = Vec::new();
            let mut i = 0;
            while Instant::now() < stop_at {
                let device = format!("{tag}-{w}-{i}");
                i += 1;
                let t0 = Instant::now();
                let result = client
                    .create_port(v1::CreatePortRequest {
                        subnet_id: subnet_id.clone(),
                        device_id: device.clone(),
                        ..Default::default()
                    })
                    .await
                    .map(|r| r.port.unwrap_or_default());
                calls.push(Call {
                    device,
                    start: t0 - began,
                    took: t0.elapsed(),
                    result,
                });
                tokio::time::sleep(THINK).await;
            }
            calls
        }));
    }
    fault(began).await;
    let mut all = Vec::new();
    for w in writers {
        all.extend(w.await.expect("writer task"));
    }
    all
}

/// Checks the stored ports of the phase against its calls; returns (acknowledged,
/// failed with outcome unknown, failed definitely).
async fn check(client: &PrismClient, subnet_id: &str, calls: &[Call]) -> (usize, usize, usize) {
    let mut acked = BTreeMap::new();
    let mut failed = Vec::new();
    for c in calls {
        match &c.result {
            Ok(port) => {
                assert_eq!(port.device_id, c.device, "answer for another call");
                acked.insert(c.device.clone(), PortFacts::from(port));
            }
            Err(e) => failed.push((c.device.clone(), e.clone())),
        }
    }
    let stored = subnet_ports(client, subnet_id).await;
    check_acknowledged_ports(&stored, &acked);
    let wrong = definite_failures_that_applied(&failed, &stored);
    assert!(
        wrong.is_empty(),
        "{} calls failed definitely but their port exists, e.g. {:?}",
        wrong.len(),
        wrong.iter().take(3).collect::<Vec<_>>()
    );
    let unknown = failed.iter().filter(|(_, e)| e.outcome_unknown).count();
    (acked.len(), unknown, failed.len() - unknown)
}

fn uptime() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|l| l.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_else(|e| format!("<{e}>"))
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v.get(v.len() / 2).copied().unwrap_or_default()
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let args: Vec<String> = std::env::args().collect();
    let runs = args
        .iter()
        .position(|a| a == "--runs")
        .and_then(|i| args.get(i + 1))
        .and_then(|n| n.parse::<usize>().ok())
        .unwrap_or(3);
    // `cargo bench` passes `--bench`; nothing else is expected.
    let mut c = Cluster::new(3, Options::default());
    c.start_all();
    c.wait_leader(&[1, 2, 3]).await;
    let endpoints: Vec<String> = (1..=3).map(|id| c.endpoint(id)).collect();
    println!(
        "pause_failover: {WRITERS} writers, think {THINK:?}, pause {PAUSE:?}, {runs} run(s); load {}",
        uptime()
    );

    let mut results: BTreeMap<(&str, &str), Vec<Figures>> = BTreeMap::new();
    let mut octet = 0u8;
    for run in 1..=runs {
        for variant in [Variant::Before, Variant::After] {
            let client = PrismClient::connect(variant.config(endpoints.clone()))
                .await
                .expect("client");
            for phase in ["baseline", "pause"] {
                octet += 1;
                let tag = format!("r{run}-{}-{phase}", variant.name());
                let subnet = fresh_subnet(&client, &tag, octet).await;
                let (leader, term) = c.wait_leader(&[1, 2, 3]).await;
                // Every call of the phase, those the figures are of, and (pause) those
                // in flight when the leader stopped.
                let (calls, measured, hit): (Vec<Call>, Vec<usize>, Vec<usize>) = if phase
                    == "baseline"
                {
                    let calls = write_for(&client, &subnet, &tag, PHASE, |_| async {}).await;
                    let all = (0..calls.len()).collect();
                    (calls, all, Vec::new())
                } else {
                    let window = Arc::new(std::sync::Mutex::new((Duration::ZERO, Duration::ZERO)));
                    let w = window.clone();
                    let c_ref = &c;
                    let calls = write_for(
                        &client,
                        &subnet,
                        &tag,
                        MARGIN + PAUSE + MARGIN,
                        |began| async move {
                            tokio::time::sleep_until((began + MARGIN).into()).await;
                            let paused = c_ref.pause(leader);
                            let from = began.elapsed();
                            tokio::time::sleep(PAUSE).await;
                            paused.resume();
                            *w.lock().unwrap_or_else(|p| p.into_inner()) = (from, began.elapsed());
                        },
                    )
                    .await;
                    let (from, to) = *window.lock().unwrap_or_else(|p| p.into_inner());
                    let during = (0..calls.len())
                        .filter(|&i| calls[i].start < to && calls[i].start + calls[i].took > from)
                        .collect();
                    let hit = (0..calls.len())
                        .filter(|&i| {
                            calls[i].start <= from && calls[i].start + calls[i].took > from
                        })
                        .collect();
                    (calls, during, hit)
                };
                // Settle, then check every outcome against what is stored.
                c.wait_leader(&[1, 2, 3]).await;
                c.wait_applied_equal(&[1, 2, 3]).await;
                let (acked, unknown, definite) = check(&client, &subnet, &calls).await;
                let refs: Vec<&Call> = measured.iter().map(|&i| &calls[i]).collect();
                let f = figures(&refs);
                println!(
                    "run {run} {:<6} {phase:<8} leader {leader} term {term}: {} calls, p50 {}, p99 {}, max {}; \
                     of all {} calls of the phase {acked} acknowledged, {unknown} failed outcome-unknown, \
                     {definite} failed definitely; outcomes checked: ok; load {}",
                    variant.name(),
                    f.calls,
                    ms(f.p50),
                    ms(f.p99),
                    ms(f.max),
                    calls.len(),
                    uptime()
                );
                results.entry((variant.name(), phase)).or_default().push(f);
                if !hit.is_empty() {
                    let refs: Vec<&Call> = hit.iter().map(|&i| &calls[i]).collect();
                    let h = figures(&refs);
                    println!(
                        "run {run} {:<6} in flight when the leader stopped: {} calls, p50 {}, max {}, {} failed",
                        variant.name(),
                        h.calls,
                        ms(h.p50),
                        ms(h.max),
                        h.failed
                    );
                    results.entry((variant.name(), "hit")).or_default().push(h);
                }
            }
        }
    }

    println!("medians over {runs} run(s):");
    for ((variant, phase), figs) in &results {
        println!(
            "  {variant:<6} {phase:<8}: calls {}, p50 {}, p99 {}, max {}, failed {}",
            figs.iter().map(|f| f.calls).sum::<usize>() / figs.len().max(1),
            ms(median(figs.iter().map(|f| f.p50).collect())),
            ms(median(figs.iter().map(|f| f.p99).collect())),
            ms(median(figs.iter().map(|f| f.max).collect())),
            figs.iter().map(|f| f.failed).sum::<usize>(),
        );
    }
    let cut: usize = (1..=3)
        .map(|id| {
            std::fs::read_to_string(c.node(id).log_path())
                .map(|l| l.lines().filter(|l| l.contains(H2_RESET_LIMIT_LOG)).count())
                .unwrap_or(0)
        })
        .sum();
    println!(
        "h2 reset-limit GOAWAYs in the node logs: {cut}; load {}",
        uptime()
    );
}
