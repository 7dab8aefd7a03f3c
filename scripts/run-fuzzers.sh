#!/usr/bin/env bash
# run-fuzzers.sh [SECONDS] [BUILD_DIR] - run every built libFuzzer target.
#
# For each executable BUILD_DIR/fuzz/fuzz_<name>, run it for SECONDS
# (default 30), FUZZ_JOBS at a time (default: nproc), on a scratch copy of fuzz/corpus/<name>/ (a missing corpus
# starts empty), so new inputs never pollute the committed seed corpus.
# Crash, leak, timeout and OOM reproducers land in the scratch dir and are
# reported and kept. Exits non-zero if any fuzzer failed, naming each one;
# when all are clean the scratch dir is removed.
#
# Build the targets first:
#   CC=clang cmake -S . -B build-fuzz -DSHED_FUZZ=ON && make -C build-fuzz fuzz_wire
set -u

seconds=${1:-30}
build_dir=${2:-build-fuzz}
repo=$(cd "$(dirname "$0")/.." && pwd)
case $build_dir in /*) ;; *) build_dir=$PWD/$build_dir ;; esac

if ! [[ $seconds =~ ^[0-9]+$ ]] || [ "$seconds" -lt 1 ]; then
    echo "usage: $0 [SECONDS] [BUILD_DIR]" >&2
    exit 2
fi
if [ ! -d "$build_dir/fuzz" ]; then
    echo "run-fuzzers: no $build_dir/fuzz (configure with CC=clang -DSHED_FUZZ=ON)" >&2
    exit 2
fi

scratch=$(mktemp -d "${TMPDIR:-/tmp}/shed-fuzz.XXXXXX")
# FUZZ_JOBS fuzzers run at once (default: one per core): libFuzzer is
# single-threaded, so on CI's two cores this halves the step's wall time
# without giving any target fewer executions per second.
jobs=${FUZZ_JOBS:-$(nproc)}
failed=()
ran=0

# run_one NAME BIN: one fuzzer on a scratch copy of its corpus; prints its
# report (in one piece, so parallel runs do not interleave) and leaves
# "ok" or "failed" in $scratch/NAME/result.
run_one() {
    local name=$1 bin=$2 work=$scratch/$1 rc
    mkdir -p "$work/corpus" "$work/artifacts"
    if [ -d "$repo/fuzz/corpus/$name" ]; then
        cp -R "$repo/fuzz/corpus/$name/." "$work/corpus/"
    fi
    local files
    files=$(ls "$work/corpus" | wc -l)
    # libFuzzer exits non-zero on any finding (crash, leak, OOM, timeout)
    # and writes the input to artifacts/; the final stats give the execs.
    # -malloc_limit_mb: one allocation over 512 MiB is a finding (a decoder
    # trusting a declared length), not just a slow run.
    "$bin" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 -malloc_limit_mb=512 \
           -print_final_stats=1 -artifact_prefix="$work/artifacts/" \
           "$work/corpus" >"$work/log" 2>&1
    rc=$?
    {
        echo "== fuzz_$name: ${seconds}s, corpus $files files"
        grep -E '^stat::number_of_executed_units|^Done [0-9]+ runs' "$work/log" | tail -1
        if [ $rc -ne 0 ] || [ -n "$(ls -A "$work/artifacts")" ]; then
            echo "!! fuzz_$name FAILED (exit $rc); artifacts in $work/artifacts, log $work/log"
            grep -E 'ERROR|SUMMARY|check failed' "$work/log" | head -5
            echo failed >"$work/result"
        else
            echo ok >"$work/result"
        fi
    } >"$work/report"
    cat "$work/report"
}

names=()
for bin in "$build_dir"/fuzz/fuzz_*; do
    [ -f "$bin" ] && [ -x "$bin" ] || continue
    name=$(basename "$bin")
    name=${name#fuzz_}
    names+=("$name")
    ran=$((ran + 1))
    while [ "$(jobs -rp | wc -l)" -ge "$jobs" ]; do
        wait -n
    done
    run_one "$name" "$bin" &
done
wait
for name in "${names[@]}"; do
    [ "$(cat "$scratch/$name/result" 2>/dev/null)" = ok ] || failed+=("fuzz_$name")
done

if [ $ran -eq 0 ]; then
    echo "run-fuzzers: no fuzz_* binaries in $build_dir/fuzz" >&2
    exit 2
fi
if [ ${#failed[@]} -ne 0 ]; then
    echo "run-fuzzers: ${#failed[@]} of $ran fuzzers failed: ${failed[*]}"
    exit 1
fi
rm -rf "$scratch"
echo "run-fuzzers: all $ran fuzzers clean"
