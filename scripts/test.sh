#!/usr/bin/env bash
# scripts/test.sh: run every test of shed-cluster (the README's test command;
# .ci/run calls exactly this).
#
#   1. install dependencies (scripts/install-deps.sh --test; no-op when present)
#   2. normal build in build/ (-DSHED_WERROR=ON); ctest: unit + integration
#      (integration tests need root and network namespaces; they report
#      "skipped" otherwise)
#   3. ASan+UBSan build in build-asan/; ctest -L unit
#   4. libFuzzer build in build-fuzz/ (clang); every fuzz target runs
#      FUZZ_SECONDS seconds (default 20) through scripts/run-fuzzers.sh
#   5. a summary; exit status non-zero if any step failed
#
# A failed step does not stop the later ones (a failed build skips its tests).
# Options (for local use; CI runs without any):
#   --no-deps     skip step 1
#   --skip-asan   skip step 3
#   --skip-fuzz   skip step 4
# Environment: FUZZ_SECONDS (default 20), JOBS (default: nproc).
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"

FUZZ_SECONDS=${FUZZ_SECONDS:-20}
JOBS=${JOBS:-$(nproc)}
DO_DEPS=1 DO_ASAN=1 DO_FUZZ=1
for arg in "$@"; do
    case "$arg" in
        --no-deps)   DO_DEPS=0 ;;
        --skip-asan) DO_ASAN=0 ;;
        --skip-fuzz) DO_FUZZ=0 ;;
        -h|--help)   sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
        *) echo "test.sh: unknown option $arg (try --help)" >&2; exit 2 ;;
    esac
done

SUMMARY=()
FAILED=0
T0=$SECONDS

# step NAME CMD...: run CMD, record PASS/FAIL and time. Returns CMD's status.
step() {
    local name=$1 start=$SECONDS rc=0
    shift
    printf '\n==== %s: %s\n' "$name" "$*"
    "$@" || rc=$?
    local took=$((SECONDS - start))
    if ((rc == 0)); then
        SUMMARY+=("$(printf 'PASS  %-28s %4ds' "$name" "$took")")
    else
        SUMMARY+=("$(printf 'FAIL  %-28s %4ds  (exit %d)' "$name" "$took" "$rc")")
        FAILED=1
    fi
    return "$rc"
}

skip() {
    SUMMARY+=("$(printf 'SKIP  %-28s        %s' "$1" "$2")")
}

# shellcheck disable=SC2317  # called through step()
run_ctest() {
    local dir=$1
    shift
    (cd "$dir" && ctest --output-on-failure --no-tests=error -j "$JOBS" "$@")
}

# The fuzz build must use clang; an old cache made with another compiler is
# dropped rather than silently reused.
# shellcheck disable=SC2317  # called through step()
build_fuzz() {
    local cache="$ROOT/build-fuzz/CMakeCache.txt"
    if [[ -f "$cache" ]] && ! grep -q '^CMAKE_C_COMPILER:.*clang' "$cache"; then
        echo "build-fuzz was configured with another compiler: reconfiguring"
        rm -f "$cache"
    fi
    CC=clang "$ROOT/scripts/build.sh" "$ROOT/build-fuzz" -DSHED_FUZZ=ON
}

print_summary() {
    printf '\n==== summary (%ds in all)\n' "$((SECONDS - T0))"
    printf '%s\n' "${SUMMARY[@]}"
    if ((FAILED)); then
        echo "RESULT: FAILED"
    else
        echo "RESULT: all passed"
    fi
}

if ((DO_DEPS)); then
    if ! step "install dependencies" "$ROOT/scripts/install-deps.sh"; then
        print_summary
        exit 1
    fi
fi

# Style: every C file as .clang-format says (nothing to build for it).
step "format (clang-format, .clang-format)" "$ROOT/scripts/check-format.sh" || true

# Normal build: every test, unit and integration.
if step "build (normal, -Werror)" "$ROOT/scripts/build.sh" "$ROOT/build" -DSHED_WERROR=ON; then
    # Integration tests run real daemons in namespaces on a shared 2-core
    # box: a test that fails is run once more (and both runs are printed),
    # so a timing flake does not hide the real results of the others; a
    # test that fails twice fails the step.
    step "ctest all (build/)" run_ctest "$ROOT/build" --repeat until-pass:2 || true
else
    skip "ctest all (build/)" "build failed"
fi

# Sanitizers: unit tests only.
if ((DO_ASAN)); then
    export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=0}
    export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
    if step "build (ASan+UBSan)" "$ROOT/scripts/build.sh" "$ROOT/build-asan" \
            -DSHED_SANITIZE=ON -DSHED_WERROR=ON; then
        step "ctest -L unit (build-asan/)" run_ctest "$ROOT/build-asan" -L unit || true
    else
        skip "ctest -L unit (build-asan/)" "build failed"
    fi
else
    skip "ASan+UBSan" "--skip-asan"
fi

# Fuzzers.
if ((DO_FUZZ)); then
    if step "build (fuzz, clang)" build_fuzz; then
        if [[ -f "$ROOT/scripts/run-fuzzers.sh" ]]; then
            step "fuzz ${FUZZ_SECONDS}s per target" \
                bash "$ROOT/scripts/run-fuzzers.sh" "$FUZZ_SECONDS" "$ROOT/build-fuzz" || true
        else
            skip "fuzz" "scripts/run-fuzzers.sh not present"
        fi
    else
        skip "fuzz" "build failed"
    fi
else
    skip "fuzz" "--skip-fuzz"
fi

print_summary
exit "$FAILED"
