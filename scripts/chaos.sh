#!/usr/bin/env bash
# The chaos suite (docs/chaos.md), as CI runs it, against binaries built by
# `cargo build --workspace` (scripts/test.sh does that first).
#
#   bash scripts/chaos.sh          short: every nemesis once against the real build
#                                  (must be valid), then the teeth: a build with
#                                  failpoints, one targeted short run per failpoint
#                                  (each must report an anomaly)
#   bash scripts/chaos.sh long S   the real build only, every nemesis, S seconds
#
# Run directories go to target/chaos-runs/; the seed is printed (CHAOS_SEED fixes it).
set -euo pipefail
cd "$(dirname "$0")/.."

mode=${1:-short}
seed=${CHAOS_SEED:-$(date +%s)}
runs=target/chaos-runs/$seed
mkdir -p "$runs"
chaos=target/debug/prismnet-chaos
echo "chaos: seed $seed, run directories in $runs"

"$chaos" clean >/dev/null

if [ "$mode" = long ]; then
  exec "$chaos" run --nemesis all --time "${2:-600}" --seed "$seed" --out "$runs/long"
fi

# 1. The real build: every nemesis at least once, short faults.
if ! "$chaos" run --nemesis all --time 20 --short --seed "$seed" --out "$runs/real"; then
  echo "chaos: the real build FAILED (see $runs/real/index.html)" >&2
  exit 1
fi

# 2. The teeth: each deliberate bug must be caught by the nemeses that expose it.
CARGO_TARGET_DIR=target/failpoints cargo build --locked --quiet -p prismnet-node \
  --bin prismnetd --features failpoints
broken=target/failpoints/debug/prismnetd
teeth=(
  "ignore-nb-fence:partition-isolate-leader,partition-leader-mute"
  "skip-request-dedup:kill-leader,pause-leader,partition-isolate-leader"
  "local-linearizable-reads:partition-isolate-leader,partition-leader-deaf"
  "ack-before-fsync:power-all"
)
failed=0
for t in "${teeth[@]}"; do
  fp=${t%%:*}
  nemeses=${t#*:}
  set +e
  "$chaos" run --nemesis "$nemeses" --time 15 --short --seed "$seed" \
    --prismnetd "$broken" --failpoints "$fp" --out "$runs/teeth-$fp"
  code=$?
  set -e
  if [ "$code" -eq 1 ]; then
    echo "chaos: failpoint $fp caught"
  else
    echo "chaos: failpoint $fp NOT caught (exit $code; see $runs/teeth-$fp/index.html)" >&2
    failed=1
  fi
done
exit "$failed"
