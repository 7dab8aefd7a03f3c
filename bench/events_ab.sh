#!/usr/bin/env bash
# bench/events_ab.sh OLD_BUILD NEW_BUILD [RUNS]: A/B of bench/events.sh,
# old and new builds alternated (A B A B ...) so both see the same load on
# a shared machine; events_tool and this script's events.sh are the new
# build's for both (the path measured is the daemons'). Prints each run's
# RESULT line prefixed with A or B, then the median of each key per side:
#   AB side=A key=median ...   AB side=B key=median ...
# Needs root (events.sh does); extra environment goes to events.sh. Each
# run's full log (per-thread CPU, latencies) stays in the directory named
# on stderr at the end.
set -euo pipefail
old=$(realpath "$1") new=$(realpath "$2") runs=${3:-3}
here=$(cd "$(dirname "$0")" && pwd)
out=$(mktemp -d "/tmp/events_ab.$$.XXXXXX")
for ((r = 1; r <= runs; r++)); do
    for side in A B; do
        build=$old
        [[ $side == B ]] && build=$new
        EVENTS_TOOL="$new/bench/events_tool" SHED_BUILD_DIR="$build" \
            "$here/events.sh" >"$out/$side.$r.log" 2>&1 || true
        line=$(grep '^RESULT' "$out/$side.$r.log" | tail -1)
        echo "$side $r load=$(cut -d' ' -f1 /proc/loadavg) ${line:-RESULT failed (see $out/$side.$r.log)}"
    done
done | tee "$out/all"
/usr/bin/python3 - "$out/all" <<'PY'
import sys, statistics
sides = {}
for line in open(sys.argv[1]):
    parts = line.split()
    if len(parts) < 4 or parts[3] != "RESULT":
        continue
    d = sides.setdefault(parts[0], {})
    for kv in parts[4:]:
        k, _, v = kv.partition("=")
        try:
            x = float(v)
        except ValueError:
            continue  # empty: a phase that did not run (BUSY=0)
        d.setdefault(k, []).append(x)
for side in sorted(sides):
    print("AB side=%s " % side + " ".join("%s=%g" % (k, statistics.median(v)) for k, v in sides[side].items()))
PY
echo "logs: $out" >&2
