#!/usr/bin/env bash
# README quick start, command 1: installs what is missing, builds PrismNET and runs its
# main job on an embedded default.
#
# Today that is the replicated state machine's tour (the domain model, IPAM,
# idempotent retries, snapshots). It grows into the 3-node cluster + local OVN demo
# as the raft, API, OVN and data-plane issues land.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-deps.sh
cargo run --release --locked -p prismnet-state --example tour
