#!/usr/bin/env bash
# bench/startup.sh [--runs K] [BASE_BIN]
#
# What one shed-node start costs before its membership can answer
# (docs/membership.md, "Join convergence: where the time goes"): K starts
# (default 40) of build/node/shed-node, each in one network namespace with
# a fresh data dir (a first start: identity and keyring are created, as in
# bench/membership.sh), stopped at the bind of the gossip port by an
# LD_PRELOAD probe (startup_probe.so) that records the process's CPU time
# from the exec on (every thread, user + system; `ip netns exec`'s own
# setns is included, ~2 ms). Side by side in the same run, interleaved
# start by start so the machine's load hits both alike:
#   version_ms   CPU of `shed-node --version` (exec + dynamic loading only)
#   BASE_BIN     the same two measurements for another build (optional),
#                e.g. the tree before a change (git worktree add + build)
#
# Prints `RESULT to_membership_cpu_ms=.. version_cpu_ms=.. libs=..` (medians)
# and, with BASE_BIN, `base_to_membership_cpu_ms=.. base_version_cpu_ms=..
# base_libs=..`. Env: SHED_BUILD_DIR (default <repo>/build). Needs root.
set -euo pipefail

RUNS=40
while (($#)); do
    case "$1" in
        --runs) RUNS=${2:?--runs needs a number}; shift 2 ;;
        -h|--help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
        *) BASE_BIN=$1; shift ;;
    esac
done
ROOT=$(cd "$(dirname "$0")/.." && pwd)
BUILD=${SHED_BUILD_DIR:-$ROOT/build}
NEW_BIN=$BUILD/node/shed-node
PROBE=$BUILD/bench/startup_probe.so
[[ -x $NEW_BIN && -f $PROBE ]] || { echo "startup.sh: build shed-node and startup_probe first" >&2; exit 1; }
[[ -z ${BASE_BIN:-} || -x $BASE_BIN ]] || { echo "startup.sh: $BASE_BIN is not executable" >&2; exit 1; }
((EUID == 0)) || { echo "startup.sh: needs root (network namespace)" >&2; exit 1; }

# shellcheck source=one_ns.sh
. "$ROOT/bench/one_ns.sh"
one_ns_up shst 198.18.250.1 startup
KEY=$(head -c 32 /dev/urandom | base64)
PORT=7946

# to_membership BIN OUT: one first start, CPU up to the gossip bind into OUT.
to_membership() {
    local d=$TMP/data
    rm -rf -- "$d"
    mkdir -m 700 "$d"
    STARTUP_PROBE_OUT=$2 STARTUP_PROBE_PORT=$PORT LD_PRELOAD=$PROBE \
        ip netns exec "$NS" "$1" --name n1 --bind "198.18.250.1:$PORT" --data-dir "$d" \
        --encrypt "$KEY" --log-level error >/dev/null 2>&1 || true
}

BINS=("$NEW_BIN")
[[ -n ${BASE_BIN:-} ]] && BINS+=("$BASE_BIN")
echo "# startup.sh: $RUNS starts of each, interleaved; $(nproc) cores, load $(cut -d' ' -f1 /proc/loadavg)"
for ((i = 0; i < RUNS; i++)); do
    for j in "${!BINS[@]}"; do
        to_membership "${BINS[$j]}" "$TMP/member.$j"
    done
done
# --version: the dynamic loader's share (python: CPU of each child).
/usr/bin/python3 - "$RUNS" "$TMP" "${BINS[@]}" <<'PY'
import os, resource, subprocess, sys, statistics
runs, tmp, bins = int(sys.argv[1]), sys.argv[2], sys.argv[3:]
dn = open(os.devnull, 'w')
for i in range(runs):
    for j, b in enumerate(bins):
        r0 = resource.getrusage(resource.RUSAGE_CHILDREN)
        subprocess.run([b, '--version'], stdout=dn, stderr=dn)
        r1 = resource.getrusage(resource.RUSAGE_CHILDREN)
        ms = (r1.ru_utime - r0.ru_utime + r1.ru_stime - r0.ru_stime) * 1000
        with open('%s/version.%d' % (tmp, j), 'a') as f:
            f.write('%.3f\n' % ms)
PY
med() { sort -n "$1" | awk '{v[NR]=$1} END {if (NR == 0) print "-"; else if (NR % 2) printf "%.1f", v[(NR+1)/2]; else printf "%.1f", (v[NR/2]+v[NR/2+1])/2}'; }
libs() { ldd "$1" | grep -c '=>'; }
line="RESULT to_membership_cpu_ms=$(med "$TMP/member.0") version_cpu_ms=$(med "$TMP/version.0") libs=$(libs "$NEW_BIN")"
if ((${#BINS[@]} > 1)); then
    echo "# base: ${BINS[1]} ($(wc -l <"$TMP/member.1") starts reached membership)"
    line+=" base_to_membership_cpu_ms=$(med "$TMP/member.1") base_version_cpu_ms=$(med "$TMP/version.1") base_libs=$(libs "${BINS[1]}")"
fi
echo "# new: $NEW_BIN ($(wc -l <"$TMP/member.0") of $RUNS starts reached membership)"
echo "$line"
