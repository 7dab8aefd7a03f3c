#!/usr/bin/env bash
# bench/firststart.sh [--runs K] [--after S] [BASE_BIN]
#
# The file-system work and the CPU of a node's FIRST start, beyond what
# bench/startup.sh sees (it stops at the gossip bind): docs/membership.md,
# "First start: the file system". Each start is build/node/shed-node in one
# network namespace with a fresh data dir (identity and keyring created, as
# in bench/membership.sh), a seed with no peers, kept until S s (default 2)
# after its "started" log line, then stopped with SIGTERM.
#   files   one start under `strace -f -T`: inodes created (files opened
#           with O_CREAT, directories made, Unix sockets bound), fsyncs
#           (and how many before the gossip bind), renames, mkdir calls,
#           state.bin writes, ms spent inside fsync
#   cpu     K starts (default 10) without strace: CPU of every thread still
#           alive at the end of the window (/proc/PID/task/*/schedstat),
#           median in ms
# With BASE_BIN, the same for that build, interleaved start by start.
#
# Prints `RESULT inodes=.. fsyncs=.. fsyncs_before_membership=.. renames=..
# state_writes=.. fsync_ms=.. cpu_ms=..` and with BASE_BIN the same keys
# prefixed `base_`. Env: SHED_BUILD_DIR (default <repo>/build). Needs root
# and strace.
set -euo pipefail

RUNS=10
AFTER=2
while (($#)); do
    case "$1" in
        --runs) RUNS=${2:?--runs needs a number}; shift 2 ;;
        --after) AFTER=${2:?--after needs seconds}; shift 2 ;;
        -h|--help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
        *) BASE_BIN=$1; shift ;;
    esac
done
ROOT=$(cd "$(dirname "$0")/.." && pwd)
BUILD=${SHED_BUILD_DIR:-$ROOT/build}
NEW_BIN=$BUILD/node/shed-node
[[ -x $NEW_BIN ]] || { echo "firststart.sh: build shed-node first" >&2; exit 1; }
[[ -z ${BASE_BIN:-} || -x $BASE_BIN ]] || { echo "firststart.sh: $BASE_BIN is not executable" >&2; exit 1; }
((EUID == 0)) || { echo "firststart.sh: needs root (network namespace)" >&2; exit 1; }
command -v strace >/dev/null || { echo "firststart.sh: needs strace (apt-get install strace)" >&2; exit 1; }

# shellcheck source=one_ns.sh
. "$ROOT/bench/one_ns.sh"
one_ns_up shfs 198.18.249.1 firststart
KEY=$(head -c 32 /dev/urandom | base64)

# one_start BIN LOG [strace args...]: a first start kept AFTER s past
# "started"; prints the daemon's CPU ms (live threads) before stopping it.
one_start() {
    local bin=$1 log=$2 d=$TMP/data pid k ns=0 t v
    shift 2
    rm -rf -- "$d"
    mkdir -m 700 "$d"
    : >"$log"
    ip netns exec "$NS" "$@" "$bin" --name n1 --bind 198.18.249.1:7946 --data-dir "$d" \
        --encrypt "$KEY" --log-level info >>"$log" 2>&1 &
    pid=$!
    for ((k = 0; k < 500; k++)); do
        grep -q 'msg="started"' "$log" && break
        sleep 0.02
    done
    sleep "$AFTER"
    # Under strace the daemon is strace's child; otherwise $pid is the
    # daemon (ip netns exec execs it).
    local target=$pid
    if (($# > 0)); then target=$(pgrep -P "$pid" | head -1); fi
    for t in /proc/"$target"/task/*/schedstat; do
        v=$(cut -d' ' -f1 "$t" 2>/dev/null || echo 0)
        ns=$((ns + v))
    done
    kill -TERM "$target" 2>/dev/null || true
    wait "$pid" || true
    echo $((ns / 1000000))
}

# counts TRACE: key=value counts of one strace -f -T output.
counts() {
    awk -F'<' '
        /htons\(7946\)/ { bound = 1 }
        /O_CREAT/ && !/= -1/ { inodes++ }
        /mkdir\(.*\) = 0/ { inodes++ }
        /bind\(.*AF_UNIX.*\) = 0/ { inodes++ }
        /mkdir\(/ { mkdirs++ }
        /rename\(/ { renames++ }
        /state\.bin\.tmp.*O_CREAT/ { states++ }
        /fsync\(|fdatasync\(/ { fs++; if (!bound) fsb++; sub(/>.*/, "", $NF); t += $NF }
        END { printf "inodes=%d fsyncs=%d fsyncs_before_membership=%d renames=%d mkdir_calls=%d state_writes=%d fsync_ms=%.1f",
                     inodes, fs, fsb, renames, mkdirs, states, t * 1000 }' "$1"
}

med() { sort -n "$1" | awk '{v[NR]=$1} END {if (NR == 0) print "-"; else if (NR % 2) print v[(NR+1)/2]; else print (v[NR/2]+v[NR/2+1])/2}'; }

BINS=("$NEW_BIN")
[[ -n ${BASE_BIN:-} ]] && BINS+=("$BASE_BIN")
echo "# firststart.sh: $RUNS starts of each (+1 under strace), $AFTER s after started; $(nproc) cores, load $(cut -d' ' -f1 /proc/loadavg)"
for j in "${!BINS[@]}"; do
    one_start "${BINS[$j]}" "$TMP/log" strace -f -qq -T -o "$TMP/trace.$j" \
        -e trace=%file,fsync,fdatasync,rename,bind,mkdir >/dev/null
done
for ((i = 0; i < RUNS; i++)); do
    for j in "${!BINS[@]}"; do
        one_start "${BINS[$j]}" "$TMP/log" >>"$TMP/cpu.$j"
    done
done
line="RESULT $(counts "$TMP/trace.0") cpu_ms=$(med "$TMP/cpu.0")"
echo "# new: $NEW_BIN: cpu ms per start $(tr '\n' ' ' <"$TMP/cpu.0")"
if ((${#BINS[@]} > 1)); then
    echo "# base: ${BINS[1]}: cpu ms per start $(tr '\n' ' ' <"$TMP/cpu.1")"
    line+=" $(counts "$TMP/trace.1" | sed 's/\([a-z_]*=\)/base_\1/g') base_cpu_ms=$(med "$TMP/cpu.1")"
fi
echo "$line"
