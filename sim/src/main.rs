//! `prismnet-sim`: runs seeds of the deterministic simulation.
//!
//! `prismnet-sim --seed S [--trace]` runs (replays) one seed; `--seeds N` runs N
//! seeds from `--first` on. The seed is printed first. Exit codes, as VOPR's:
//! 0 every seed valid, 1 a crash of the simulator itself (a panic), 2 a safety
//! violation, 3 a liveness failure.

use std::process::ExitCode;

use clap::Parser;
use prismnet_sim::{run, Options, Verdict};

#[derive(Parser)]
#[command(about = "Deterministic simulation of a PrismNET cluster")]
struct Args {
    /// Run (replay) this one seed.
    #[arg(long)]
    seed: Option<u64>,
    /// Run this many seeds, from --first on.
    #[arg(long, default_value_t = 1)]
    seeds: u64,
    #[arg(long, default_value_t = 0)]
    first: u64,
    /// Print the run's event trace.
    #[arg(long)]
    trace: bool,
    /// Run every seed twice and fail (as a crash, exit 1) if the two traces differ.
    #[arg(long)]
    twice: bool,
    /// Simulated milliseconds of faults per run.
    #[arg(long, default_value_t = 6_000)]
    fault_ms: u64,
    /// Simulated milliseconds after the last heal before the workload stops.
    #[arg(long, default_value_t = 10_000)]
    liveness_ms: u64,
    /// Deliberate bugs to turn on (a build with the `failpoints` feature only),
    /// comma-separated: the teeth (see state-machine/src/failpoints.rs).
    #[arg(long)]
    failpoints: Option<String>,
    /// With --seed: write the history, final read and checkers' evidence here.
    #[arg(long)]
    dump: Option<std::path::PathBuf>,
    /// Log filter for the nodes' own logs (e.g. `info`); off by default.
    #[arg(long)]
    log: Option<String>,
}

#[cfg(feature = "failpoints")]
fn set_failpoints(list: &str) -> Result<(), String> {
    prismnet_state::failpoints::set(list)
}

#[cfg(not(feature = "failpoints"))]
fn set_failpoints(_: &str) -> Result<(), String> {
    Err("--failpoints needs a build with `--features failpoints`".into())
}

fn main() -> ExitCode {
    let args = Args::parse();
    if let Some(filter) = &args.log {
        tracing_subscriber::fmt()
            .with_env_filter(filter.as_str())
            .with_writer(std::io::stderr)
            .init();
    }
    if let Some(list) = &args.failpoints {
        if let Err(e) = set_failpoints(list) {
            eprintln!("prismnet-sim: {e}");
            return ExitCode::from(64);
        }
    }
    match args.seed {
        Some(seed) => one(&args, seed),
        None => swarm(&args),
    }
}

/// Exit codes (VOPR's distinction).
const EXIT_CRASH: u8 = 1;
const EXIT_SAFETY: u8 = 2;
const EXIT_LIVENESS: u8 = 3;

/// Runs one seed in this process and prints its report line (with
/// `trace <hash>`, which `--twice` compares).
fn one(args: &Args, seed: u64) -> ExitCode {
    println!("seed {seed}");
    let mut opts = Options::new(seed);
    opts.trace = args.trace;
    opts.fault_ms = args.fault_ms;
    opts.liveness_ms = args.liveness_ms;
    opts.dump = args.dump.clone();
    let Ok(r) = std::panic::catch_unwind(|| run(&opts)) else {
        println!("seed {seed}: CRASH (the simulator panicked)");
        return ExitCode::from(EXIT_CRASH);
    };
    println!(
        "seed {seed}: {:?}; {} operations, {} faults, {} ms simulated, first write {:?} ms after the last heal, trace {:016x} ({} events)",
        r.verdict, r.operations, r.faults, r.sim_ms, r.recovery_ms, r.trace_hash, r.events
    );
    match r.verdict {
        Verdict::Valid => ExitCode::SUCCESS,
        Verdict::Safety(_) => ExitCode::from(EXIT_SAFETY),
        Verdict::Liveness(_) => ExitCode::from(EXIT_LIVENESS),
    }
}

/// Runs each seed in a child process of its own, so that no state a process
/// keeps between runs can make a failure seen in a swarm unreplayable with
/// `--seed` (one such dependence was found and removed, docs/simulation.md).
fn swarm(args: &Args) -> ExitCode {
    let started = std::time::Instant::now();
    let seeds = args.first..args.first + args.seeds;
    let n = seeds.end - seeds.start;
    for seed in seeds {
        let Some((code, line)) = child(args, seed) else {
            return ExitCode::from(EXIT_CRASH);
        };
        println!("{line}");
        if code != 0 {
            println!(
                "replay: prismnet-sim --seed {seed} --fault-ms {} --liveness-ms {} --trace",
                args.fault_ms, args.liveness_ms
            );
            return ExitCode::from(u8::try_from(code).unwrap_or(EXIT_CRASH));
        }
        if args.twice {
            let Some((_, again)) = child(args, seed) else {
                return ExitCode::from(EXIT_CRASH);
            };
            if trace_of(&again) != trace_of(&line) {
                println!("seed {seed}: NOT DETERMINISTIC: {line} / then: {again}");
                return ExitCode::from(EXIT_CRASH);
            }
        }
    }
    let wall = started.elapsed().as_secs_f64();
    println!(
        "{n} seeds valid in {wall:.1} s: {:.2} seeds/s",
        n as f64 / wall
    );
    ExitCode::SUCCESS
}

/// Runs `--seed seed` in a child process: its exit code and report line.
fn child(args: &Args, seed: u64) -> Option<(i32, String)> {
    let exe = std::env::current_exe().ok()?;
    let mut cmd = std::process::Command::new(exe);
    cmd.args(["--seed", &seed.to_string()])
        .args(["--fault-ms", &args.fault_ms.to_string()])
        .args(["--liveness-ms", &args.liveness_ms.to_string()]);
    if let Some(f) = &args.failpoints {
        cmd.args(["--failpoints", f]);
    }
    let out = match cmd.output() {
        Ok(out) => out,
        Err(e) => {
            println!("seed {seed}: cannot start a child: {e}");
            return None;
        }
    };
    let stdout = String::from_utf8_lossy(&out.stdout);
    let line = stdout
        .lines()
        .rfind(|l| l.starts_with(&format!("seed {seed}:")))
        .unwrap_or("(no report line)")
        .to_string();
    Some((out.status.code().unwrap_or(i32::from(EXIT_CRASH)), line))
}

fn trace_of(line: &str) -> Option<&str> {
    line.split(", trace ").nth(1)
}
