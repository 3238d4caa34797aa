#!/usr/bin/env bash
# The full test suite: what CI runs (README quick start, command 2).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-deps.sh
cargo build --workspace --locked --all-targets
cargo test --workspace --locked
