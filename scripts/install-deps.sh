#!/usr/bin/env bash
# Installs what PrismNET's build and tests need on Debian 12 (run as root).
# Idempotent and quick when everything is already there.
set -euo pipefail

packages=(
  librocksdb-dev libclang-dev            # RocksDB linked from the system (see .cargo/config.toml)
  ovn-central ovn-host openvswitch-switch # real ovsdb-server / northd / ovn-controller for tests
  busybox udhcpc iputils-ping nftables iproute2
  ethtool                                 # data-plane tests: checksum offload off on VM veths
  faketime                                # chaos suite: clock nemeses (libfaketime)
  fuse3                                   # chaos suite: lazyfs (power nemeses); fusermount3 for
                                          # unmounting (as root it mounts with mount(2), no libfuse)
)

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done

if [ "${#missing[@]}" -gt 0 ]; then
  echo "installing: ${missing[*]}"
  # The OVN/OVS packages try to start services through systemd; nothing here runs
  # through systemd (tests start each daemon by hand), so refuse service starts.
  if [ ! -e /usr/sbin/policy-rc.d ]; then
    printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d
    chmod +x /usr/sbin/policy-rc.d
  fi
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

command -v cargo >/dev/null || { echo "cargo not found: install a Rust toolchain (rustup) first" >&2; exit 1; }
