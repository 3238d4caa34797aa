//! The simulator's own promises, through its binary: a seed decides the whole
//! run (run twice, in two processes, it gives the same trace), a small fixed set
//! of seeds is valid, and the seeds that found bugs stay fixed. Each run is its
//! own process, as a replay with `--seed` is.
//!
//! `scripts/sim.sh` runs the larger set (300 seeds) and the teeth on a release build.

use std::process::Command;

const SHORT: [&str; 4] = ["--fault-ms", "3000", "--liveness-ms", "3000"];

fn sim(args: &[&str]) -> (i32, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_prismnet-sim"))
        .args(args)
        .args(SHORT)
        .output()
        .expect("prismnet-sim runs");
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    (out.status.code().unwrap_or(-1), stdout)
}

fn trace(stdout: &str) -> &str {
    stdout
        .lines()
        .rev()
        .find_map(|l| l.split(", trace ").nth(1))
        .expect("a report line with a trace")
}

#[test]
fn the_same_seed_gives_the_same_trace() {
    let (code, a) = sim(&["--seed", "7"]);
    assert_eq!(code, 0, "seed 7: {a}");
    let (_, b) = sim(&["--seed", "7"]);
    assert_eq!(trace(&a), trace(&b), "seed 7 ran differently twice");
    let (_, c) = sim(&["--seed", "8"]);
    assert_ne!(trace(&a), trace(&c), "another seed, another run");
    let ops: u64 = a
        .split(" operations")
        .next()
        .and_then(|s| s.rsplit(' ').next())
        .and_then(|n| n.parse().ok())
        .expect("an operation count");
    assert!(ops > 100, "a run that did nothing proves nothing: {a}");
}

#[test]
fn a_fixed_seed_set_is_valid() {
    let n = std::env::var("PRISMNET_SIM_SEEDS").unwrap_or_else(|_| "4".into());
    let (code, out) = sim(&["--seeds", &n, "--first", "100"]);
    assert_eq!(code, 0, "{out}");
}

/// Seeds that found bugs (docs/simulation.md), each fixed.
#[test]
fn the_seeds_that_found_bugs_are_valid() {
    for seed in ["1000", "1012", "1174"] {
        let (code, out) = sim(&["--seed", seed]);
        assert_eq!(code, 0, "seed {seed}: {out}");
    }
}
