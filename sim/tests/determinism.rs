//! The simulator's own promises: a seed decides the whole run (the same seed
//! twice gives the same trace), and a fixed set of seeds is valid.
//!
//! `PRISMNET_SIM_SEEDS` (default 4) sets how many seeds `a_fixed_seed_set_is_valid`
//! runs; `scripts/test.sh` runs the larger CI set through the release binary.

use prismnet_sim::{run, Options, Verdict};

fn short(seed: u64) -> Options {
    let mut o = Options::new(seed);
    o.fault_ms = 3_000;
    o.liveness_ms = 3_000;
    o
}

#[test]
fn the_same_seed_gives_the_same_trace() {
    let a = run(&short(7));
    let b = run(&short(7));
    assert_eq!(a.verdict, Verdict::Valid, "seed 7: {:?}", a.verdict);
    assert!(a.operations > 100, "a run that did nothing proves nothing");
    assert_eq!(
        (a.trace_hash, a.events),
        (b.trace_hash, b.events),
        "seed 7 ran differently twice"
    );
    let c = run(&short(8));
    assert_ne!(a.trace_hash, c.trace_hash, "another seed, another run");
}

#[test]
fn a_fixed_seed_set_is_valid() {
    let n: u64 = std::env::var("PRISMNET_SIM_SEEDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(4);
    for seed in 100..100 + n {
        let r = run(&short(seed));
        assert_eq!(r.verdict, Verdict::Valid, "seed {seed} (replay: prismnet-sim --seed {seed} --fault-ms 3000 --liveness-ms 3000 --trace)");
    }
}
