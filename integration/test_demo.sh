#!/usr/bin/env bash
# integration/test_demo.sh: the README's run command, as a test. Runs
# `scripts/demo.sh --once --no-build` against this build tree (no install, no
# rebuild inside ctest) and checks that it exits 0, shows every node's status
# and leaves no namespace behind. Needs root; exits 77 (skip) otherwise.
set -euo pipefail
# shellcheck source-path=SCRIPTDIR
. "$(dirname "$0")/harness.sh"

h_check_env
h_check_bins

out="$(mktemp "/tmp/shed-demo-test.$$.XXXXXX")"
trap 'rm -f -- "$out"' EXIT

rc=0
SHED_TEST_DEADLINE=120 "$H_REPO/scripts/demo.sh" --once --no-build --build-dir "$H_BUILD" \
    >"$out" 2>&1 &
demo_pid=$!
wait "$demo_pid" || rc=$?
cat "$out"

h_assert_eq 0 "$rc" "exit status of scripts/demo.sh --once"
for i in 1 2 3; do
    grep -q "=== node $i: node$i" "$out" || h_fail "demo output has no section for node $i"
    # The human status output names the node.
    [[ $(grep -c "node$i" "$out") -ge 2 ]] || h_fail "demo output shows no status for node $i"
done
if grep -q "did not answer" "$out"; then
    h_fail "a node did not answer in the demo"
fi
left=$(ip netns list | grep -E "^sh${demo_pid}(n[0-9]+|-br)( |$)" || true)
[[ -z "$left" ]] || h_fail "demo left namespaces behind: $left"
h_log "PASS"
