#!/usr/bin/env bash
# bench/sim.sh [--quick] [--nodes N,N,...] [--seed S] [--place N] [--log]
#              [--no-lifeguard] [--slow-lag MS] [--ae-all-peers]
#              [--no-partition | --partition-only] [--warm]
#              [--kills K] [--loss-s S] [--slow-s S] [--idle-s S] [--large N]
# bench/sim.sh --compare N [--quick]
#
# The deterministic cluster simulator (bench/sim/, docs/membership.md
# "Scaling (simulated)"): N real membership cores (SWIM + Lifeguard), real
# state stores with the links actor's anti-entropy, and the real placement
# engine, on a simulated clock and network (LAN latency 1-5 ms, seeded loss,
# partitions, slow members). Same seed, same output (but the CPU fields).
#
# Prints one line per N:
#   nodes=N join_ms detect_p50_ms detect_p99_ms detect_max_ms (kill -> every
#   member declared it dead) dissem_ms rounds (one update to every member,
#   in gossip intervals) ln_n pkts_per_node_s bytes_per_node_s (idle gossip)
#   pushpull_bytes_per_node_s ff_loss1/5/10 (false failures per node-hour at
#   1/5/10% loss) ff_slow1/5 (of healthy members with 1/5% slow members;
#   _all: slow ones included) state_converge_ms partition_converge_ms (state
#   after a 10 s partition of half the cluster, 10 records per node)
#   partition_members_ms sim_s sim_cpu_s maxrss_mb
# (and repairs_per_node_s: repair push-pulls in the loss and slow windows)
# then `placement nodes=10000 placement_per_s=..` and one line per N
#   RESULT nodes=N detect_p50_ms=.. detect_p99_ms=.. rounds=..
#   bytes_per_node_s=.. false_failures_per_node_h=.. (10% loss)
#   partition_converge_ms=.. sim_cpu_s=.. (placement_per_s=.. on the last)
# Lines starting with '#' are details (--log), with the CPU seconds so far.
#
# --compare N: bench/membership.sh's measurements (converge_ms, detect_ms,
# false_failures at 10% loss, idle_pkts_per_node_s) on N simulated nodes,
# to set beside `bench/membership.sh N --no-serf`.
# --quick: shorter windows (20 s per loss level, 3 kills, 3 updates).
# --no-lifeguard: the SWIM baseline (no local health, fixed suspicion
# timeout) for the false-failure comparison; --slow-lag: how late slow
# members handle input (default 3000 ms); --ae-all-peers: state links as
# before the bounded subset; --no-partition / --partition-only: skip / run
# only the state partition scenario.
# --warm: boot without the join storm (every node joins node 0 at once and
# gets its full list as the join answer; join_ms is nan). N >= --large N
# (default 2000) runs the large plan: --warm and no loss or slow windows
# (their fields print nan; --loss-s / --slow-s override). --kills K:
# detection trials (max 64); --loss-s / --slow-s S: seconds per loss level
# / slow share (0 skips them; their fields print nan); --idle-s S: the idle
# window for the traffic fields (default one push-pull period, 270 s at
# 5,000; 0 skips it and they print nan).
# Default N = 100,1000. Larger N works up to the core's SWIM_MAX_MEMBERS
# (8192) but costs N^2 member entries of ~0.3 KiB (and, with the state
# scenario, N^2 * 10 records of ~0.8 KiB: 8 GB at 1,000; see
# --partition-max, default 1000); `bench/sim.sh --quick --nodes
# 100,1000,5000` prints the three RESULT lines (docs/membership.md,
# "Scaling to 1,000 and 5,000 nodes").
# Env: SHED_BUILD_DIR (default <repo>/build).
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
BUILD=${SHED_BUILD_DIR:-$ROOT/build}
NODES=100,1000
ARGS=()
QUICK=0
while (($#)); do
    case "$1" in
        --quick) QUICK=1; ARGS+=(--quick); shift ;;
        --nodes) NODES=${2:?--nodes needs a list}; shift 2 ;;
        --seed|--place|--compare|--partition-max|--kills|--loss-s|--slow-s|--idle-s|--large) ARGS+=("$1" "${2:?$1 needs a value}"); shift 2 ;;
        --log|--no-lifeguard|--ae-all-peers|--no-partition|--partition-only|--warm) ARGS+=("$1"); shift ;;
        --slow-lag) ARGS+=("$1" "${2:?$1 needs a value}"); shift 2 ;;
        -h|--help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
        *) echo "sim.sh: unknown argument '$1' (see --help)" >&2; exit 2 ;;
    esac
done

if [[ -f $BUILD/CMakeCache.txt ]]; then
    cmake --build "$BUILD" -j "$(nproc)" --target shed_sim_run >/dev/null
else
    "$ROOT/scripts/build.sh" "$BUILD" >/dev/null
fi
SIM=$BUILD/bench/sim/shed_sim_run

echo "# $(uptime)"
if [[ " ${ARGS[*]} " == *" --compare "* ]]; then
    exec "$SIM" "${ARGS[@]}"
fi
[[ " ${ARGS[*]} " == *" --place "* ]] || ARGS+=(--place 10000)
exec "$SIM" --nodes "$NODES" "${ARGS[@]}"
