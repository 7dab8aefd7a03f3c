#!/usr/bin/env bash
# integration/test_create_progress.sh: a plain `shedctl create` prints the
# create's phases on stderr as they happen (docs/scheduling.md, "Create
# progress"), from the node that took the create and from the target, and
# durations with units work end to end. 2 nodes, netns driver, shed-agent
# from this build as init; the nodes' configs write duration keys with
# units (docs/configuration.md, "Durations").
#   1. `create p1 --node node2` through node 1: the phases come in order:
#      name reserved, placed on node2, node2's address, root file system,
#      started, agent connected, ready; then the result line on stdout;
#   2. a create placed by the scheduler (no --node) shows the same phases;
#   3. --quiet prints no phase (the result line only), --json prints the
#      JSON answer alone (no phase on stderr);
#   4. `events create.` shows the phases as progress events (what create).
#   5. remotely (`shedctl --addr https://node1:8443 --token-file ...` from
#      node 2's namespace, where no ipc socket of node 1 is): the same
#      phases live, followed on GET /v1/events; --quiet prints none.
# Needs root; exits 77 (skip) otherwise.
set -euo pipefail
# shellcheck source-path=SCRIPTDIR
. "$(dirname "$0")/harness.sh"

[[ -x "$H_BUILD/agent/shed-agent" ]] || h_skip "shed-agent not built: $H_BUILD/agent/shed-agent"

h_init 2
h_sheds_init
# Durations with units in the config (a bare number would still be ms).
DUR="scheduler:
  claim_timeout_ms: 45s
  name_ttl_s: 2m
state:
  tombstone_ttl_s: 1h
agents:
  heartbeat_ms: 2s"
ADDR=$(h_addr 1)
h_http_cert "$ADDR"
HTTP="http:
  listen: $ADDR:8443
  tls_cert: $H_HTTP_CERT
  tls_key: $H_HTTP_KEY"
h_start_node 1 --config "$(h_sheds_config 1 "$DUR
$HTTP")"
h_start_node 2 --config "$(h_sheds_config 2 "$DUR")"
for i in 1 2; do h_wait_ready "$i" 30; done
h_wait_members 2 20 || h_fail "the 2 nodes did not see each other"

# create OUT ARGS...: node 1 creates; stdout in OUT, stderr in OUT.err.
# A fresh node has no overlay address block for a second or two: retry.
create() {
    local out=$1
    shift
    SHED_CTL_TIMEOUT=60 h_ctl 1 --timeout 45s create "$@" >"$out" 2>"$out.err"
}

# in_order FILE PATTERN...: each PATTERN (grep -E) matches a line of FILE
# after the line the previous one matched.
in_order() {
    local file=$1 line=0 n pat
    shift
    for pat in "$@"; do
        n=$(tail -n +"$((line + 1))" "$file" | grep -n -m1 -E -- "$pat" | cut -d: -f1) || true
        [[ -n "$n" ]] || { h_log "'$pat' not found after line $line of $file"; return 1; }
        line=$((line + n))
    done
}

PHASES=("create \$S: name reserved \(coordinator node[12]\)"
        "create \$S: placed on \$N \(candidate 1 of [12]\)"
        "create \$S: \$N: address 198\.19\.[0-9.]+/[0-9]+, gateway "
        "create \$S: \$N: root file system and netns runtime ready \([0-9]+ ms\)"
        "create \$S: \$N: started \([0-9]+ ms\), waiting for its agent"
        "create \$S: \$N: agent connected \(shed-agent "
        "create \$S: \$N: ready, agent connected")
# check_phases FILE SHED NODE: the phases of SHED on NODE in FILE, in order.
check_phases() {
    local pats=() p
    for p in "${PHASES[@]}"; do
        p=${p//\$S/$2}
        pats+=("${p//\$N/$3}")
    done
    in_order "$1" "${pats[@]}" || h_fail "phases of $2 out of order or missing:
$(cat "$1")"
}

h_log "--- 4 (set up). a consumer of create. on node 2"
SHED_CTL_TIMEOUT=90 h_ctl 2 events --json --timeout 80s create. >"$H_TMP/events.jsonl" \
    2>"$H_TMP/events.err" &
C_PID=$!
H_STARTED_PIDS+=("$C_PID")
sleep 2 # the subscription reaches node 1

h_log "--- 1. create p1 --node node2 through node 1: every phase, in order"
h_retry 20 create "$H_TMP/p1" p1 --node node2 --cpus 0.5 --memory 128M ||
    h_fail "create p1: $(cat "$H_TMP/p1" "$H_TMP/p1.err")"
cat "$H_TMP/p1.err" >&2
check_phases "$H_TMP/p1.err" p1 node2
grep -qE "^p1 running on node2 \([0-9]+ ms\)" "$H_TMP/p1" || h_fail "p1: result line: $(cat "$H_TMP/p1")"
# the node's steps are not printed again on stdout when phases were shown
(($(wc -l <"$H_TMP/p1") == 1)) || h_fail "p1: stdout has more than the result: $(cat "$H_TMP/p1")"

h_log "--- 2. a create the scheduler places"
create "$H_TMP/p2" p2 --cpus 0.5 --memory 128M || h_fail "create p2: $(cat "$H_TMP/p2.err")"
cat "$H_TMP/p2.err" >&2
where=$(sed -nE 's/^p2 running on (node[12]) .*/\1/p' "$H_TMP/p2")
[[ -n "$where" ]] || h_fail "p2: no result line: $(cat "$H_TMP/p2")"
check_phases "$H_TMP/p2.err" p2 "$where"

h_log "--- 3. --quiet and --json"
create "$H_TMP/p3" p3 --cpus 0.5 --memory 128M --quiet || h_fail "create p3: $(cat "$H_TMP/p3.err")"
[[ ! -s "$H_TMP/p3.err" ]] || h_fail "create --quiet printed: $(cat "$H_TMP/p3.err")"
grep -qE "^p3 running on node[12] " "$H_TMP/p3" || h_fail "p3: result line: $(cat "$H_TMP/p3")"
SHED_CTL_TIMEOUT=60 h_ctl 1 --json create p4 --cpus 0.5 --memory 128M >"$H_TMP/p4" 2>"$H_TMP/p4.err" ||
    h_fail "create --json p4: $(cat "$H_TMP/p4.err")"
[[ ! -s "$H_TMP/p4.err" ]] || h_fail "create --json printed on stderr: $(cat "$H_TMP/p4.err")"
/usr/bin/python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); assert d["shed"]["name"]=="p4" and d["shed"]["state"]=="running", d' \
    "$H_TMP/p4" || h_fail "create --json p4: $(cat "$H_TMP/p4")"

h_log "--- 4. the phases are progress events on create.<node>.<shed>"
kill -TERM "$C_PID" 2>/dev/null || true # (a background job ignores SIGINT)
wait "$C_PID" || true
/usr/bin/python3 - "$H_TMP/events.jsonl" <<'PY' || h_fail "create. events: $(cat "$H_TMP/events.jsonl" "$H_TMP/events.err")"
import json, sys
seen = []
for l in open(sys.argv[1]):
    if not l.strip():
        continue
    e = json.loads(l)
    p = e.get("payload", {})
    if e["kind"] == "progress" and e["topic"].endswith(".p1") and p.get("what") == "create":
        seen.append((e["topic"].split(".")[1], p.get("state")))
        if p.get("state") == "started":
            assert p.get("agent") is True and p.get("peer") == "node2", p
# the last attempt (a fresh node may refuse the first ones: no address yet)
last = max(i for i, x in enumerate(seen) if x == ("node1", "reserved"))
want = [("node1", "reserved"), ("node1", "placed"), ("node2", "network"),
        ("node2", "rootfs"), ("node2", "started")]
assert seen[last:] == want, seen
print("create. events of p1:", seen)
PY

h_log "--- 5. remotely, over HTTPS: the same phases, live"
TOKF="$H_TMP/op.token"
(umask 077 && h_ctl 1 token create --role operator --name progress >"$TOKF" 2>/dev/null) ||
    h_fail "token create"
# rcreate OUT ARGS...: create from node 2's namespace through node 1's API.
rcreate() {
    local out=$1
    shift
    h_exec 2 env -u SHED_ADDR -u SHED_TOKEN "$H_CTL_BIN" --addr "https://$ADDR:8443" \
        --token-file "$TOKF" --ca-cert "$H_HTTP_CERT" --timeout 45s create "$@" >"$out" 2>"$out.err"
}
rcreate "$H_TMP/p5" p5 --node node2 --cpus 0.5 --memory 128M ||
    h_fail "remote create p5: $(cat "$H_TMP/p5" "$H_TMP/p5.err")"
cat "$H_TMP/p5.err" >&2
check_phases "$H_TMP/p5.err" p5 node2
grep -qE "^p5 running on node2 \([0-9]+ ms\)" "$H_TMP/p5" || h_fail "p5: result line: $(cat "$H_TMP/p5")"
rcreate "$H_TMP/p6" p6 --cpus 0.5 --memory 128M --quiet || h_fail "remote create p6: $(cat "$H_TMP/p6.err")"
[[ ! -s "$H_TMP/p6.err" ]] || h_fail "remote create --quiet printed: $(cat "$H_TMP/p6.err")"
grep -qE "^p6 running on node[12] " "$H_TMP/p6" || h_fail "p6: result line: $(cat "$H_TMP/p6")"

h_log "--- clean up"
for s in p1 p2 p3 p4 p5 p6; do h_ctl 1 delete "$s" >/dev/null || h_fail "delete $s"; done
h_log "PASS"
