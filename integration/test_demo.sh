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
SHED_TEST_DEADLINE=200 "$H_REPO/scripts/demo.sh" --once --no-build --build-dir "$H_BUILD" \
    >"$out" 2>&1 &
demo_pid=$!
wait "$demo_pid" || rc=$?
cat "$out"

h_assert_eq 0 "$rc" "exit status of scripts/demo.sh --once"
# Every section ran and shows what it is about.
for n in 1 2 3 4 5 6; do
    grep -q "== $n\." "$out" || h_fail "demo output has no section $n"
done
grep -q "Members:     3 alive of 3" "$out" || h_fail "membership did not show 3 alive"
[[ $(grep -c " running " "$out") -ge 3 ]] || h_fail "the demo's sheds are not running"
grep -q " 0% packet loss" "$out" || h_fail "sheds on two nodes did not ping each other"
grep -q "db.shed.shed" "$out" || h_fail "DNS did not answer for the service / shed"
grep -qE "^[0-9:.]+ metrics\.node[0-9]\." "$out" || h_fail "no metrics events from the sheds' agents"
grep -qE '^shed_members\{status="alive"\} 3$' "$out" || h_fail "node1's /metrics did not show 3 members alive"
grep -qE '^shed_overlay_peer_packets_total\{peer="node[0-9]+",direction="tx"\} [1-9]' "$out" \
    || h_fail "node1's /metrics shows no overlay packets to a peer"
grep -qE "node3 +198\.18\.0\.13:7946 +failed" "$out" || h_fail "the killed node was not reported failed"
grep -qE " unreachable " "$out" || h_fail "the killed node's sheds were not reported unreachable"
if grep -q "== 5b\." "$out"; then
    # Container sheds: snapshot, create from it elsewhere, move with the address.
    grep -qE "^moved db from node[0-9]+ to node[0-9]+, address " "$out" || h_fail "db did not move"
    [[ $(grep -c "^written before the snapshot" "$out") -ge 2 ]] \
        || h_fail "web-copy does not hold the snapshot's file"
fi
if grep -q "did not answer\|!! " "$out"; then
    h_fail "a demo step failed"
fi
left=$(ip netns list | grep -E "^sh${demo_pid}(n[0-9]+|-br)( |$)" || true)
[[ -z "$left" ]] || h_fail "demo left namespaces behind: $left"
cgs=$(find /sys/fs/cgroup -maxdepth 2 -name "sh${demo_pid}-node*" 2>/dev/null || true)
[[ -z "$cgs" ]] || h_fail "demo left cgroups behind: $cgs"
mounts=$(findmnt -rn -o TARGET | grep "/tmp/shed-it\.${demo_pid}\." || true)
[[ -z "$mounts" ]] || h_fail "demo left mounts behind: $mounts"
h_log "PASS"
