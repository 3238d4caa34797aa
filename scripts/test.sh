#!/usr/bin/env bash
# The full test suite: what CI runs (README quick start, command 2).
# Formatting and lints are part of it: the codebase stays `cargo fmt` and
# `clippy -D warnings` clean.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-deps.sh
cargo fmt --all -- --check
cargo build --workspace --locked --all-targets
cargo clippy --workspace --all-targets --locked -- -D warnings
cargo test --workspace --locked
# The deterministic simulator's CI mode (docs/simulation.md): replays checked, 300
# seeds, each deliberate bug caught. `bash scripts/sim.sh swarm N` is the long mode.
bash scripts/sim.sh
# The chaos suite's CI mode (docs/chaos.md): every nemesis against the real build,
# then each deliberate bug (failpoints) must be caught. `bash scripts/chaos.sh long S`
# is the long mode.
bash scripts/chaos.sh
