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
    /// Simulated milliseconds of faults per run.
    #[arg(long, default_value_t = 6_000)]
    fault_ms: u64,
    /// Log filter for the nodes' own logs (e.g. `info`); off by default.
    #[arg(long)]
    log: Option<String>,
}

fn main() -> ExitCode {
    let args = Args::parse();
    if let Some(filter) = &args.log {
        tracing_subscriber::fmt()
            .with_env_filter(filter.as_str())
            .with_writer(std::io::stderr)
            .init();
    }
    let seeds: Vec<u64> = match args.seed {
        Some(s) => vec![s],
        None => (args.first..args.first + args.seeds).collect(),
    };
    let started = std::time::Instant::now();
    let mut sim_ms = 0u64;
    for seed in &seeds {
        println!("seed {seed}");
        let mut opts = Options::new(*seed);
        opts.trace = args.trace;
        opts.fault_ms = args.fault_ms;
        let r = match std::panic::catch_unwind(|| run(&opts)) {
            Ok(r) => r,
            Err(_) => {
                println!("seed {seed}: CRASH (the simulator panicked)");
                return ExitCode::from(1);
            }
        };
        sim_ms += r.sim_ms;
        println!(
            "seed {seed}: {:?}; {} operations, {} faults, {} ms simulated, trace {:016x} ({} events)",
            r.verdict, r.operations, r.faults, r.sim_ms, r.trace_hash, r.events
        );
        match r.verdict {
            Verdict::Valid => {}
            Verdict::Safety(_) => return ExitCode::from(2),
            Verdict::Liveness(_) => return ExitCode::from(3),
        }
    }
    let wall = started.elapsed().as_secs_f64();
    println!(
        "{} seeds valid in {wall:.1} s: {:.2} seeds/s, {:.1} simulated s per wall s",
        seeds.len(),
        seeds.len() as f64 / wall,
        sim_ms as f64 / 1000.0 / wall
    );
    ExitCode::SUCCESS
}
