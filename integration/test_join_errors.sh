#!/usr/bin/env bash
# test_join_errors.sh: `shedctl join` answers by its deadline with the seed's
# address and why it failed (docs/operations.md "Joining"), and the node keeps
# serving other API calls while a join is pending. Node 1 runs alone (no
# seeds, so it is not joined) and is asked to join through:
#   1. 198.18.250.1, routed "unreachable" in node 1's namespace: "unreachable",
#      in under 2 s (connect fails at once);
#   2. node 2's address, port 7999, where nothing listens (node 2's namespace
#      exists, no process): "refused" (the join is a TCP push-pull, so the
#      RST is what is observable), in under 2 s;
#   3. node 3, running with another cluster key: "wrong key" (it closes on
#      our sealed request without answering), in under 2 s;
#   4. 198.19.250.1, routed to node 2's namespace, which does not forward and
#      drops it silently: "timed out after 5 s", within 5-7 s; meanwhile
#      `shedctl status` on node 1 answers within 1 s.
set -euo pipefail
# shellcheck source=harness.sh
. "$(dirname "$0")/harness.sh"

h_init 3

h_start_node 1
OTHER_KEY=$("$H_CTL_BIN" keygen)
h_start_node 3 --encrypt "$OTHER_KEY"
h_wait_ready 1
h_wait_ready 3

now_ms() { date +%s%3N; }

# try_join SEED WANT MAX_MS: join from node 1 must fail, say "join SEED: WANT",
# within MAX_MS.
try_join() {
    local seed=$1 want=$2 max=$3 t0 out rc=0
    t0=$(now_ms)
    out=$(h_ctl 1 join "$seed" 2>&1) || rc=$?
    local took=$(($(now_ms) - t0))
    h_log "join $seed: rc=$rc ${took} ms: $out"
    ((rc != 0)) || h_fail "join $seed succeeded"
    [[ "$out" == *"join $seed: $want"* ]] || h_fail "join $seed: expected '$want', got: $out"
    ((took <= max)) || h_fail "join $seed took ${took} ms (max $max)"
}

h_exec 1 ip route add unreachable 198.18.250.0/24
try_join 198.18.250.1:7946 unreachable 2000
h_log "step 1 ok: unreachable"

try_join "$(h_addr 2):7999" refused 2000
h_log "step 2 ok: refused"

try_join "$(h_addr 3):$H_GOSSIP_PORT" "wrong key" 2000
h_log "step 3 ok: wrong key"

h_exec 1 ip route add 198.19.250.0/24 via "$(h_addr 2)"
JOUT="$H_TMP/join4.out"
t0=$(now_ms)
(h_ctl 1 join 198.19.250.1:7946 >"$JOUT" 2>&1; echo "rc=$?" >>"$JOUT") &
jpid=$!
sleep 1
for k in 1 2 3; do
    s0=$(now_ms)
    h_ctl 1 status >/dev/null || h_fail "status failed while a join is pending"
    took=$(($(now_ms) - s0))
    h_log "status during the join: ${took} ms"
    ((took <= 1000)) || h_fail "status took ${took} ms while a join is pending"
    sleep 0.5
done
wait "$jpid" || true
took=$(($(now_ms) - t0))
out=$(cat "$JOUT")
h_log "join 198.19.250.1:7946: ${took} ms: $out"
[[ "$out" == *"join 198.19.250.1:7946: timed out after 5 s"* ]] \
    || h_fail "expected a timeout after 5 s, got: $out"
[[ "$out" == *"rc=0"* ]] && h_fail "the join that timed out exited 0"
((took >= 4500 && took <= 7000)) || h_fail "the join answered after ${took} ms (want ~5 s)"
h_log "step 4 ok: timed out, status served meanwhile"

h_alive 1 || h_fail "node 1 died"
h_log "PASS"
