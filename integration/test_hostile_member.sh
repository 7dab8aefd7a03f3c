#!/usr/bin/env bash
# integration/test_hostile_member.sh: a rogue member cannot write another
# node's records (docs/state.md, "Trust"). 3 nodes; node 3's identity is
# the rogue's. With it, integration/tools/links_probe connects to node 1's
# links port (a member's key: admitted by ZAP) and PUSHes a record claiming
# node 2's own `node` record at a huge version, signed with node 3's
# Ed25519 key (a member can sign, but only as itself):
#   1. node 1 refuses it: shed_state_refused_total{reason="signature"}
#      moves on node 1's /metrics;
#   2. node 2's record on node 1 keeps its real version, and node 1 still
#      agrees with node 2 about it;
#   3. the same forgery claiming node 3's own origin would verify, so the
#      check is the signature, not the peer: node 3's record is taken
#      (its version on node 1 jumps);
#   4. the cluster is alive and converged afterwards.
# Only 198.18.0.0/16 inside namespaces this run creates. Needs root.
set -euo pipefail
# shellcheck source-path=SCRIPTDIR
. "$(dirname "$0")/harness.sh"

PROBE=${LINKS_PROBE_BIN:-$H_BUILD/integration/links_probe}
[[ -x "$PROBE" ]] || h_skip "links_probe not built at $PROBE"
command -v curl >/dev/null 2>&1 || h_skip "no curl"
LINKS_PORT=$((H_GOSSIP_PORT + 1))

N=3
h_init "$N"
for ((i = 1; i <= N; i++)); do h_start_node "$i"; done
for ((i = 1; i <= N; i++)); do h_wait_ready "$i" 30; done
h_wait_members "$N" 20 || h_fail "the $N nodes did not see each other"

# version i ORIGIN KIND: the version node i holds of ORIGIN's first KIND record.
version() {
    h_ctl "$1" --json state "$3" 2>/dev/null | python3 -c '
import json, sys
for r in json.load(sys.stdin):
    if r["origin"] == sys.argv[1]:
        print(r["version"], r["key"]); break' "$2"
}
# metric i SERIES: one series of node i's /metrics ("" if absent).
metric() {
    h_exec "$1" curl -sS --max-time 5 http://127.0.0.1:7951/metrics 2>/dev/null \
        | awk -v n="$2" '$1 == n && !f { print $2; f = 1 }'
}
has_node2() { [[ -n "$(version 1 node2 node)" ]]; }
h_retry 20 has_node2 || h_fail "node 1 never got node 2's node record"
read -r v_before key2 <<<"$(version 1 node2 node)"
read -r v3_before key3 <<<"$(version 1 node3 node)"
refused_before=$(metric 1 'shed_state_refused_total{reason="signature"}')
h_log "node 1 holds node2/node/$key2 at version $v_before; refused by signature: ${refused_before:-0}"

pub1=$(h_ctl 1 --json status | python3 -c 'import json, sys; print(json.load(sys.stdin)["public_key"])')
ep1="tcp://$(h_addr 1):$LINKS_PORT"

h_log "--- 1. node 3's key signs a record of node 2"
set +e
out=$(h_exec 3 "$PROBE" --identity "$(h_datadir 3)" --wait 1500 \
      --forge node2 node "$key2" '{"forged":true}' "$ep1" "$pub1" 2>&1)
set -e
h_log "probe: $out"
refused() { (( $(metric 1 'shed_state_refused_total{reason="signature"}') > ${refused_before:-0} )); }
h_retry 10 refused || h_fail "node 1 did not count a refused signature ($(metric 1 'shed_state_refused_total{reason="signature"}'))"
h_log "node 1 refused it: signature refusals $(metric 1 'shed_state_refused_total{reason="signature"}')"

h_log "--- 2. node 2's record is intact on node 1"
read -r v_after _ <<<"$(version 1 node2 node)"
(( v_after < (1 << 40) )) || h_fail "the forged version $v_after was taken"
h_assert_eq "$(version 2 node2 node)" "$(version 1 node2 node)" "node 1 and node 2 agree on node 2's record"

h_log "--- 3. the same key signing its own origin's record is taken"
set +e
h_exec 3 "$PROBE" --identity "$(h_datadir 3)" --wait 1500 \
    --forge node3 node "$key3" '{"own":true}' "$ep1" "$pub1" >/dev/null 2>&1
set -e
taken() { read -r v _ <<<"$(version 1 node3 node)"; (( v >= (1 << 40) )); }
h_retry 10 taken || h_fail "node 1 did not take node 3's own signed record (version $(version 1 node3 node))"
h_log "node 3's own record (version $(version 1 node3 node | cut -d' ' -f1)) was taken: the check is the origin's signature"

h_log "--- 4. the cluster is alive"
for ((i = 1; i <= N; i++)); do h_alive "$i" || h_fail "node $i died"; done
h_wait_members "$N" 10 || h_fail "the cluster did not stay converged"
h_log "PASS"
