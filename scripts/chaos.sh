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
# failpoint:nemeses:seconds. A stale local read is seen only when a client pinned
# to an isolated leader reads a port the new leader changed meanwhile: it needs
# more faults than the others to be caught reliably.
teeth=(
  "ignore-nb-fence:partition-isolate-leader,partition-leader-mute:15"
  "skip-request-dedup:kill-leader,pause-leader,partition-isolate-leader:15"
  "local-linearizable-reads:partition-isolate-leader,partition-leader-deaf:30"
  "ack-before-fsync:power-all:15"
)
# Exit 1 is an anomaly found (the tooth caught); anything else is not.
tooth() {
  local fp=$1 nemeses=$2 time=$3 s=$4 code
  set +e
  "$chaos" run --nemesis "$nemeses" --time "$time" --short --seed "$s" \
    --prismnetd "$broken" --failpoints "$fp" --out "$runs/teeth-$fp-$s"
  code=$?
  set -e
  return $((code == 1 ? 0 : 1))
}
failed=0
for t in "${teeth[@]}"; do
  IFS=: read -r fp nemeses time <<<"$t"
  if tooth "$fp" "$nemeses" "$time" "$seed"; then
    echo "chaos: failpoint $fp caught"
  # A fault schedule can miss the window a bug needs; one more seed, said aloud.
  elif tooth "$fp" "$nemeses" "$time" "$((seed + 1))"; then
    echo "chaos: failpoint $fp caught on the second seed ($((seed + 1))); seed $seed missed it"
  elif [ "$fp" = local-linearizable-reads ]; then
    # Real scheduling decides whether a pinned client reads from a cut-off leader
    # while the new one changes what it reads: two CI runs missed it on two seeds.
    # The simulator catches this bug deterministically (scripts/sim.sh requires it).
    echo "chaos: failpoint $fp missed on seeds $seed and $((seed + 1)) (not required here; scripts/sim.sh requires it)" >&2
  else
    echo "chaos: failpoint $fp NOT caught (seeds $seed and $((seed + 1)); see $runs/teeth-$fp-*/index.html)" >&2
    failed=1
  fi
done
exit "$failed"
