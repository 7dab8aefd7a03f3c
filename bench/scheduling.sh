#!/usr/bin/env bash
# scheduling.sh: the scheduler's benchmark in one go (issue 5).
#
#   1. bench/sched_bench: placement decisions/s against a view of 1,000
#      simulated nodes (pure engine, in process; SCHED_BENCH_S seconds,
#      default 3).
#   2. bench/sched_e2e.sh: 3 real shed-node processes in network namespaces
#      (integration/harness.sh), netns driver: create-to-running p50/p99 over
#      N_SEQ sequential creates (default 30; shedctl wall time), then 100
#      concurrent creates from the 3 nodes (50 names, each asked for from two
#      nodes, sized so that not all fit): overcommitted nodes and duplicate
#      names from the replicated records.
#
# Final line (goals: 20k decisions/s, p50 < 250 ms, 0 and 0):
#   RESULT decisions_per_s=.. create_ms_p50=.. create_ms_p99=.. overcommits=..
#          duplicates=..
# Lines before it are details (sched_e2e.sh's own RESULT line is printed as
# `# e2e: ...`). Needs root for step 2 (namespaces, cgroups); everything it
# creates is named after its PID and removed on exit (sched_e2e.sh's traps).
# Build first:
#   cmake -S . -B build && make -C build -j2 shed-node shedctl sched_bench
#   SHED_BUILD_DIR=build bench/scheduling.sh
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
BUILD=${SHED_BUILD_DIR:-$HERE/../build}
BUILD=$(cd "$BUILD" && pwd)
export SHED_BUILD_DIR=$BUILD
BENCH=$BUILD/bench/sched_bench
[[ -x "$BENCH" ]] || { echo "scheduling.sh: $BENCH not built (make sched_bench)" >&2; exit 1; }

# field LINE KEY: the value of KEY=... in a RESULT line.
field() { sed -nE "s/.*[[:space:]]$2=([^[:space:]]+).*/\1/p" <<<" $1"; }

echo "# sched_bench: decisions/s against 1,000 nodes (${SCHED_BENCH_S:-3} s)"
out=$("$BENCH" "${SCHED_BENCH_S:-3}")
sed 's/^/# /' <<<"$out"
line=$(grep '^RESULT' <<<"$out" | tail -1)
DPS=$(field "$line" placements_per_s)
[[ -n "$DPS" ]] || { echo "scheduling.sh: no placements_per_s from sched_bench" >&2; exit 1; }

echo "# sched_e2e.sh: 3 nodes in namespaces, netns driver"
E2E_LOG=$(mktemp "/tmp/shed-sched-bench.$$.XXXXXX")
trap 'rm -f "$E2E_LOG"' EXIT
rc=0
SHED_LOG_LEVEL=${SHED_LOG_LEVEL:-info} bash "$HERE/sched_e2e.sh" >"$E2E_LOG" 2>&1 || rc=$?
line=$(grep '^RESULT' "$E2E_LOG" | tail -1 || true)
if ((rc != 0)) || [[ -z "$line" ]]; then
    tail -n 60 "$E2E_LOG" >&2
    echo "scheduling.sh: sched_e2e.sh failed (status $rc)" >&2
    exit 1
fi
grep -E '^\[harness' "$E2E_LOG" | grep -E 'create to running|succeeded|contention|latency' | sed 's/^/# /' || true
grep -E '^ +[0-9]+ shedctl:' "$E2E_LOG" | sed 's/^/# refused: /' || true
echo "# e2e: ${line#RESULT }"
P50=$(field "$line" create_p50_ms)
P99=$(field "$line" create_p99_ms)
OVER=$(field "$line" overcommits)
DUPS=$(field "$line" duplicate_names)

ok() { if eval "$1"; then echo yes; else echo NO; fi; }
echo "# goals: decisions/s >= 20000: $(ok "((DPS >= 20000))"), p50 < 250 ms: $(ok "((P50 < 250))"), overcommits 0: $(ok "((OVER == 0))"), duplicates 0: $(ok "((DUPS == 0))")"
echo "RESULT decisions_per_s=$DPS create_ms_p50=$P50 create_ms_p99=$P99 overcommits=$OVER duplicates=$DUPS"
