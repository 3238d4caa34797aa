#!/usr/bin/env bash
# The deterministic simulator (docs/simulation.md), as CI runs it.
#
#   bash scripts/sim.sh           CI: replays checked (seeds run twice, in separate
#                                 processes), the fixed seed set, then the teeth (each
#                                 deliberate bug caught within the seed set)
#   bash scripts/sim.sh swarm N   N seeds from SIM_FIRST (default: the time), longer runs
#
# One release build with the `failpoints` feature serves all of it: a failpoint is
# off unless `--failpoints` names it, so the seed set runs the real code paths.
set -euo pipefail
cd "$(dirname "$0")/.."

cargo build --release --locked --quiet -p prismnet-sim --features failpoints
sim=target/release/prismnet-sim
short=(--fault-ms 3000 --liveness-ms 3000)

if [ "${1:-ci}" = swarm ]; then
  exec "$sim" --seeds "${2:-1000}" --first "${SIM_FIRST:-$(date +%s)}" --fault-ms 8000 --liveness-ms 5000
fi

# 1. A seed decides everything: each of these runs twice, traces compared.
"$sim" --seeds 10 --first 1 --twice "${short[@]}"

# 2. The fixed set (regressions among them: 1000 dead connections, 1012 a leader
#    restored under its old id, 1174 an unsound leadership check).
"$sim" --seeds 300 --first 1000 "${short[@]}"

# 3. The fixed scenarios of the bugs it found, at full strength (release).
cargo test --release --locked --quiet -p prismnet-sim --features failpoints --test scenarios

# 4. The teeth: each deliberate bug must be caught (exit 2, a safety violation)
#    within the first 60 seeds of the set.
failed=0
for fp in skip-request-dedup ack-before-fsync local-linearizable-reads; do
  caught=
  for seed in $(seq 1000 1059); do
    set +e
    "$sim" --seed "$seed" --failpoints "$fp" "${short[@]}" >/dev/null
    code=$?
    set -e
    if [ "$code" -eq 2 ]; then caught=$seed; break; fi
  done
  if [ -n "$caught" ]; then
    echo "sim: failpoint $fp caught by seed $caught (replay: $sim --seed $caught --failpoints $fp ${short[*]} --trace)"
  else
    echo "sim: failpoint $fp NOT caught by seeds 1000-1059" >&2
    failed=1
  fi
done
exit "$failed"
