#!/usr/bin/env bash
# README quick start, command 1: on a fresh Debian 12 machine, as root, with Rust.
#
# Installs what is missing (apt), builds PrismNET, starts a 3-node PrismNET cluster
# and a local OVN stack (everything in a temp dir and network namespaces, no
# systemd), creates a sample project (VPC, two subnets, a security group, three VMs
# as network namespaces that get their addresses by DHCP from OVN), shows which VMs
# can and cannot reach each other and why, prints the cluster status and how to use
# prismctl against it, and stays in the foreground until Ctrl-C; then it stops and
# removes everything.
#
#   scripts/demo.sh            interactive (until Ctrl-C)
#   scripts/demo.sh --check    the same scenario, prints its checks, exits with their status
#   DEMO_NONINTERACTIVE=1 scripts/demo.sh   same as --check
set -euo pipefail
cd "$(dirname "$0")/.."

if [ "$(id -u)" -ne 0 ]; then
  echo "scripts/demo.sh needs root (network namespaces, Open vSwitch)" >&2
  exit 1
fi
bash scripts/install-deps.sh

echo "==> building PrismNET (release)"
cargo build --release --locked -p prismnet-node --bin prismnetd --example demo
cargo build --release --locked -p prismnet-cli --bin prismctl

target="${CARGO_TARGET_DIR:-target}/release"
exec "$target/examples/demo" --prismnetd "$target/prismnetd" --prismctl "$target/prismctl" "$@"
