#!/usr/bin/env bash
# test_sheds.sh: the distributed scheduler with real shed-node processes in
# network namespaces (topology: see harness.sh) and the netns driver.
#   1. 3 nodes with small capacities (4 cpus, 4 GiB each, set in config)
#   2. spread creates from different nodes land on 3 different nodes;
#      binpack creates fill one node
#   3. `list` from every node shows every shed with its node and state;
#      sheds have overlay addresses and reach each other across nodes
#   4. a retried create (same --request-id, other node) creates nothing;
#      constraints; a create that fits nowhere fails with one reason per node
#   5. stop / start / delete from a node that does not own the shed
#   6. the same name created concurrently from 3 nodes: exactly one wins
#   7. a drained node gets no new sheds; undrain
#   8. kill -9 a node: its sheds show `unreachable` everywhere else, then
#      `lost` once it is reaped (gossip.reap_dead_s 15), forgotten on every
#      node by `delete --force`; restarted, the node re-adopts them (running
#      again, the forgotten one included: it still exists on its host)
#   9. a partition: the same name created on both sides succeeds on both;
#      after the heal every node flags the same one `duplicate` (the later
#      one), deletes nothing; deleting it by NAME@NODE resolves it
#  10. node 4 joins with the shed-server driver (a mock of Shed's HTTP API
#      in its namespace, behaving as Shed documents it: create starts the
#      shed, start of a running shed is 409 SHED_ALREADY_RUNNING, a bearer
#      token is required): a shed pinned to it with --repo is created
#      (running, its repo passed to Shed, not deleted by a start after the
#      create), stopped, started and deleted from other nodes through Shed's
#      API, the token in no node's log; a --repo create on a netns node is
#      rejected
# Each node's sheds live in per-run places: netns files under the run's temp
# dir, cgroups under <run>-node<i> in a bind mount of /sys/fs/cgroup (an
# `ip netns exec` process sees an empty /sys/fs/cgroup). Cleanup deletes the
# sheds through the nodes, then kills whatever is left in our cgroups (by
# PID, from cgroup.procs), removes the cgroups and the bind mount.
set -euo pipefail
. "$(dirname "$0")/harness.sh"

h_init 4        # node 4 joins at the end, with the shed-server driver

MOCK_PID=""
sheds_cleanup() {
    set +e
    [[ -n "$MOCK_PID" ]] && kill "$MOCK_PID" 2>/dev/null && wait "$MOCK_PID" 2>/dev/null
}
trap 'st=$?; sheds_cleanup; (exit $st); h__on_exit' EXIT

# The real cgroup hierarchy under the run's dir; h_cleanup stops what the
# sheds' cgroups still hold (they outlive their nodes on purpose) and
# removes the cgroups and the mount.
h_sheds_init
CG=$H_CG

for i in 1 2 3; do
    cat >"$H_TMP/n$i/config.yaml" <<EOF
resources:
  cpus: "4"
  memory: 4G
  disk: 20G
scheduler:
  strategy: binpack
gossip:
  reap_dead_s: 15
driver:
  default: netns
  netns_dir: $H_TMP/n$i/netns
  cgroup_root: $CG
  cgroup_parent: $H_ID-node$i
  agent_path: /nonexistent/shed-agent
EOF
done

start() { h_start_node "$1" --config "$H_TMP/n$1/config.yaml"; }
for i in 1 2 3; do start "$i"; done
for i in 1 2 3; do h_wait_ready "$i"; done
h_wait_members 3 15 || h_fail "3 nodes did not see each other"

# field i NAME FIELD: FIELD of shed NAME in node i's `list --json`.
field() {
    h_ctl "$1" --json list 2>/dev/null | python3 -c '
import json, sys
name, f = sys.argv[1], sys.argv[2]
try:
    for s in json.load(sys.stdin):
        if s["name"] == name:
            print(s[f]); break
except ValueError:
    pass
' "$2" "$3"
}
# is_state i NAME STATE: node i lists NAME in STATE ("" = not listed).
is_state() { [[ "$(field "$1" "$2" state)" == "$3" ]]; }
# has_count i N: node i lists N sheds.
has_count() { [[ "$(count "$1")" == "$2" ]]; }
count() { h_ctl "$1" --json list 2>/dev/null | python3 -c 'import json,sys; print(len(json.load(sys.stdin)))'; }
node_records_ok() {
    # every node sees 3 node records carrying capacity
    h_ctl "$1" --json state node 2>/dev/null | python3 -c '
import json, sys
r = json.load(sys.stdin)
sys.exit(0 if len([x for x in r if x.get("kind") == "node"]) >= 3 else 1)'
}
for i in 1 2 3; do h_retry 15 node_records_ok "$i" || h_fail "node $i does not see 3 node records"; done
sleep 1.5   # capacity updates replicate (pushed at once; anti-entropy 1 s)

# everywhere NAME: every node lists NAME running. Placement reads the
# replicated node records, so a create placed right after another one may
# see a view up to one anti-entropy round old (pushes are lost while a link
# is still being re-dialled after start-up); the steps that check WHERE
# sheds land wait for the view to settle first. (Admission never depends
# on the view: see the contention step and bench/sched_e2e.sh.)
everywhere() {
    local i
    for i in 1 2 3; do h_retry 5 is_state "$i" "$1" running || return 1; done
    sleep 0.5
}

h_log "--- spread: one shed per node"
h_ctl 1 create s1 --cpus 1 --memory 1G --strategy spread || h_fail "create s1"
everywhere s1 || h_fail "s1 not running everywhere"
h_ctl 2 create s2 --cpus 1 --memory 1G --strategy spread || h_fail "create s2"
everywhere s2 || h_fail "s2 not running everywhere"
h_ctl 3 create s3 --cpus 1 --memory 1G --strategy spread --tag team=a || h_fail "create s3"
everywhere s3 || h_fail "s3 not running everywhere"
nodes="$(for s in s1 s2 s3; do field 1 $s node; done | sort -u | wc -l)"
h_assert_eq 3 "$nodes" "distinct nodes of s1..s3 (spread)"

h_log "--- binpack: fills one node"
h_ctl 2 create b1 --cpus 1 --memory 1G || h_fail "create b1"
everywhere b1 || h_fail "b1 not running everywhere"
h_ctl 3 create b2 --cpus 1 --memory 1G || h_fail "create b2"
h_assert_eq "$(field 1 b1 node)" "$(field 1 b2 node)" "b1 and b2 on the same node (binpack)"

h_log "--- list from every node"
for i in 1 2 3; do
    h_retry 5 has_count "$i" 5 || h_fail "node $i lists $(count "$i") sheds, want 5"
    for s in s1 s2 s3 b1 b2; do
        h_assert_eq running "$(field "$i" $s state)" "state of $s seen from node $i"
    done
done
h_ctl 1 list
h_ctl 2 show s3

h_log "--- overlay: sheds got addresses; one on node A pings one on node B"
# shed_pid NAME: PID of the shed's init (from its cgroup; we started it).
shed_pid() {
    local n f
    n=$(field 1 "$1" node)
    f=$(ls "$CG"/*/"$H_ID-$n/$1/cgroup.procs" 2>/dev/null | head -1)
    [[ -n "$f" ]] && head -1 "$f"
}
ipa=$(field 1 s1 ip)
ipb=$(field 1 s2 ip)
[[ "$ipa" == 198.19.* && "$ipb" == 198.19.* ]] || h_fail "sheds without overlay addresses: s1 '$ipa' s2 '$ipb'"
pa=$(shed_pid s1)
[[ -n "$pa" ]] || h_fail "no init process found for s1"
# The first packets may wait for the overlay's peer session handshake.
h_retry 10 nsenter -t "$pa" -n ping -c 1 -W 1 "$ipb" >/dev/null \
    || h_fail "s1 ($ipa on $(field 1 s1 node)) cannot ping s2 ($ipb on $(field 1 s2 node))"
h_log "s1 ($ipa, $(field 1 s1 node)) pings s2 ($ipb, $(field 1 s2 node))"

h_log "--- idempotent request id, constraints"
h_ctl 1 create idem --cpus 0.5 --memory 256M --request-id test-idem-1 || h_fail "create idem"
out=$(h_ctl 3 create idem --cpus 0.5 --memory 256M --request-id test-idem-1) || h_fail "retried create idem"
echo "$out"
[[ "$out" == *"nothing done"* ]] || h_fail "a retried create did not say it was already done: $out"
h_assert_eq 6 "$(count 2)" "sheds after a retried create"
h_ctl 2 create pinned --cpus 0.5 --memory 256M --constraint node=node2 || h_fail "create with constraint"
h_assert_eq node2 "$(field 1 pinned node)" "node of a shed constrained to node2"
if h_ctl 2 create nowhere --cpus 0.5 --constraint arch=sparc 2>"$H_TMP/c.err"; then
    h_fail "a create with an unmet constraint succeeded"
fi
grep -q "constraint arch=sparc" "$H_TMP/c.err" || h_fail "unmet constraint not explained: $(cat "$H_TMP/c.err")"
h_ctl 1 delete idem && h_ctl 1 delete pinned || h_fail "delete idem/pinned"

h_log "--- nothing fits: reasons per node"
if out=$(h_ctl 2 create huge --cpus 3 --memory 3500M 2>&1); then
    h_fail "create of a shed that fits nowhere succeeded: $out"
fi
echo "$out"
for n in node1 node2 node3; do
    [[ "$out" == *"$n:"* ]] || h_fail "no reason for $n in: $out"
done
h_assert_eq "" "$(field 1 huge name)" "no record of the failed create"

h_log "--- stop / start / delete from a non-owner"
owner=$(field 1 s1 node)
other=1
[[ "$owner" == node1 ]] && other=2
h_ctl "$other" stop s1 || h_fail "stop s1 from node $other"
h_retry 5 is_state 3 s1 stopped || h_fail "s1 not stopped"
h_ctl "$other" start s1 || h_fail "start s1 from node $other"
h_retry 5 is_state 3 s1 running || h_fail "s1 not running again"
h_ctl "$other" delete s1 || h_fail "delete s1 from node $other"
h_retry 5 is_state 3 s1 "" || h_fail "s1 still listed after delete"
# the name is free again at once
h_ctl 3 create s1 --cpus 1 --memory 512M || h_fail "re-create s1"

h_log "--- same name from 3 nodes at once: exactly one wins"
pids=()
for i in 1 2 3; do
    (set +e; h_ctl "$i" create same --cpus 1 --memory 512M >"$H_TMP/same.$i" 2>&1
     echo $? >"$H_TMP/same.$i.rc") &
    pids+=($!)
done
wait "${pids[@]}"   # not a bare `wait`: the harness watchdog is a background job too
ok=0
for i in 1 2 3; do
    rc=$(cat "$H_TMP/same.$i.rc")
    echo "node $i: rc=$rc $(tail -1 "$H_TMP/same.$i")"
    if [[ "$rc" == 0 ]]; then ok=$((ok + 1)); fi
done
h_assert_eq 1 "$ok" "successful concurrent creates of 'same'"
sleep 1
h_assert_eq 1 "$(h_ctl 2 --json list | python3 -c 'import json,sys; print(sum(1 for s in json.load(sys.stdin) if s["name"]=="same"))')" \
    "sheds named 'same'"

h_log "--- drain: new creates avoid the node"
h_ctl 1 node drain node2 || h_fail "drain node2"
sleep 1
for s in d1 d2; do
    h_ctl 3 create "$s" --cpus 0.5 --memory 256M --strategy spread || h_fail "create $s"
    [[ "$(field 1 $s node)" != node2 ]] || h_fail "$s was placed on drained node2"
done
if h_ctl 1 create d3 --cpus 0.5 --memory 256M --node node2 2>"$H_TMP/d3.err"; then
    h_fail "a create pinned to a drained node succeeded"
fi
grep -q "draining" "$H_TMP/d3.err" || h_fail "pinned create did not say draining: $(cat "$H_TMP/d3.err")"
h_ctl 2 node undrain || h_fail "undrain node2"

h_log "--- kill -9 a node: its sheds are unreachable; restart re-adopts them"
victim=$(field 1 b1 node)
vi=${victim#node}
mine=$(h_ctl 1 --json list | python3 -c 'import json,sys; print(" ".join(s["name"] for s in json.load(sys.stdin) if s["node"]==sys.argv[1]))' "$victim")
h_log "$victim holds: $mine"
h_kill "$vi" KILL
for i in 1 2 3; do
    [[ "$i" == "$vi" ]] && continue
    h_retry 20 is_state "$i" b1 unreachable || h_fail "node $i: b1 is '$(field "$i" b1 state)', want unreachable"
done
s_other=1; [[ "$vi" == 1 ]] && s_other=2
h_ctl "$s_other" list
if h_ctl "$s_other" stop b1 2>"$H_TMP/b1.err"; then h_fail "stop of a shed on a dead node succeeded"; fi
grep -q unreachable "$H_TMP/b1.err" || h_fail "stop b1 did not say unreachable"
h_retry 40 is_state "$s_other" b1 lost || h_fail "b1 is '$(field "$s_other" b1 state)', want lost after the reap"
h_ctl "$s_other" show b1
if h_ctl "$s_other" start b1 2>/dev/null; then h_fail "start of a lost shed succeeded"; fi
h_ctl "$s_other" delete --force "b1@$victim" || h_fail "delete --force of lost b1"
for i in 1 2 3; do
    [[ "$i" == "$vi" ]] && continue
    h_retry 5 is_state "$i" b1 "" || h_fail "node $i still lists b1 after delete --force"
done
# The seed (node 1) has no seeds of its own: a restarted node 1 joins node 2.
if [[ "$vi" == 1 ]]; then
    h_start_node 1 --config "$H_TMP/n1/config.yaml" --join "$(h_addr 2):$H_GOSSIP_PORT"
else
    start "$vi"
fi
h_wait_ready "$vi"
for s in $mine; do
    h_retry 20 is_state "$s_other" "$s" running || h_fail "$s not running after the restart of $victim ($(field "$s_other" "$s" state))"
done

# The restarted node catches up with the others' records.
total=$(count "$s_other")
h_retry 20 has_count "$vi" "$total" || h_fail "restarted node $vi lists $(count "$vi") sheds, the others $total"

h_log "--- delete every shed from node 1 (frees room for the next step)"
for s in $(h_ctl 1 --json list | python3 -c 'import json,sys; print(" ".join(s["name"] for s in json.load(sys.stdin)))'); do
    h_ctl 1 delete "$s" || h_fail "delete $s"
done
h_retry 5 has_count 2 0 || h_fail "node 2 still lists $(count 2) sheds after deleting them all"

h_log "--- partition: the same name on both sides, a duplicate after the heal"
# member_status i NAME: NAME's membership status as node i sees it.
member_status() {
    h_ctl "$1" members --json 2>/dev/null | python3 -c '
import json, sys
try:
    for m in json.load(sys.stdin):
        if m["name"] == sys.argv[1]:
            print(m["status"]); break
except ValueError:
    pass
' "$2"
}
sees() { [[ "$(member_status "$1" "$2")" == "$3" ]]; }
h_partition 1 3
h_partition 2 3
h_retry 30 sees 1 node3 failed || h_fail "node 1 does not see node3 failed"
h_retry 30 sees 3 node1 failed || h_fail "node 3 does not see node1 failed"
h_retry 30 sees 3 node2 failed || h_fail "node 3 does not see node2 failed"
h_ctl 1 create twin --cpus 0.5 --memory 256M || h_fail "create twin on the majority side"
sleep 0.2
h_ctl 3 create twin --cpus 0.5 --memory 256M || h_fail "create twin on node3's side"
h_heal
h_retry 60 sees 1 node3 alive || h_fail "node3 not alive again for node 1"
h_retry 30 sees 3 node1 alive || h_fail "node1 not alive again for node 3"
# verdict i: "<winner node> <duplicate node>" as node i sees twin.
verdict() {
    h_ctl "$1" --json list 2>/dev/null | python3 -c '
import json, sys
t = [s for s in json.load(sys.stdin) if s["name"] == "twin"]
w = [s["node"] for s in t if not s["duplicate"]]
d = [s["node"] for s in t if s["duplicate"]]
print(" ".join(w + ["/"] + d) if len(t) == 2 and len(w) == 1 else "")'
}
has_verdict() { [[ -n "$(verdict "$1")" ]]; }
for i in 1 2 3; do h_retry 20 has_verdict "$i" || h_fail "node $i does not flag one twin as duplicate"; done
v1=$(verdict 1)
h_log "twin: kept / duplicate = $v1"
h_assert_eq "$v1" "$(verdict 2)" "verdict of node 2"
h_assert_eq "$v1" "$(verdict 3)" "verdict of node 3"
h_ctl 2 list | grep twin
dupnode=${v1##*/ }
if h_ctl 2 delete twin 2>"$H_TMP/twin.err"; then h_fail "delete of an ambiguous name succeeded"; fi
grep -q "twin@" "$H_TMP/twin.err" || h_fail "ambiguous delete did not suggest NAME@NODE: $(cat "$H_TMP/twin.err")"
h_ctl 2 delete "twin@$dupnode" || h_fail "delete twin@$dupnode"
h_retry 5 is_state 1 twin running || h_fail "the kept twin is not running"

h_log "--- node 4 with the shed-server driver"
cat >"$H_TMP/mockshed.py" <<'EOF'
# An in-memory Shed server answering as Shed's API reference documents it
# (what the shed-server driver calls): create returns the shed RUNNING with
# its ip_address; start of a running shed is 409 SHED_ALREADY_RUNNING, stop
# of a stopped one 409 SHED_ALREADY_STOPPED; errors {"error":{"code",
# "message"}}; with a token (auth.mode secure) every call but /api/info
# needs "Authorization: Bearer <token>", else 401.
import json, sys
from http.server import BaseHTTPRequestHandler, HTTPServer
sheds = {}
TOKEN = sys.argv[2] if len(sys.argv) > 2 else ""
class H(BaseHTTPRequestHandler):
    def log_message(self, *a): pass
    def reply(self, code, obj=None):
        b = json.dumps(obj).encode() if obj is not None else b""
        self.send_response(code)
        if obj is not None: self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(b))); self.end_headers(); self.wfile.write(b)
    def err(self, code, c, m): self.reply(code, {"error": {"code": c, "message": m}})
    def parts(self): return self.path.rstrip("/").split("/")
    def authed(self):
        if not TOKEN or self.path == "/api/info": return True
        if self.headers.get("Authorization") == "Bearer " + TOKEN: return True
        self.err(401, "UNAUTHORIZED", "missing or invalid token"); return False
    def do_GET(self):
        if not self.authed(): return
        p = self.parts()
        if self.path == "/api/info": return self.reply(200, {"name": "mock", "version": "mock", "ssh_port": 2222, "http_port": 8080})
        if self.path == "/api/sheds": return self.reply(200, {"sheds": list(sheds.values())})
        if len(p) == 4 and p[3] in sheds: return self.reply(200, sheds[p[3]])
        self.err(404, "SHED_NOT_FOUND", "shed not found")
    def do_POST(self):
        if not self.authed(): return
        body = json.loads(self.rfile.read(int(self.headers.get("Content-Length") or 0)) or b"{}")
        p = self.parts()
        if self.path == "/api/sheds":
            if body["name"] in sheds: return self.err(409, "SHED_ALREADY_EXISTS", "exists")
            s = {"name": body["name"], "status": "running", "created_at": "2026-01-20T10:30:00Z",
                 "ip_address": "172.17.0.%d" % (2 + len(sheds)), "cpus": body.get("cpus"),
                 "memory_mb": body.get("memory_mb")}
            if body.get("repo"): s["repo"] = body["repo"]
            sheds[body["name"]] = s
            return self.reply(201, s)
        if len(p) == 5 and p[3] in sheds and p[4] in ("start", "stop"):
            s = sheds[p[3]]
            if p[4] == "start" and s["status"] == "running": return self.err(409, "SHED_ALREADY_RUNNING", "already running")
            if p[4] == "stop" and s["status"] == "stopped": return self.err(409, "SHED_ALREADY_STOPPED", "already stopped")
            s["status"] = "running" if p[4] == "start" else "stopped"
            return self.reply(200, s)
        self.err(404, "SHED_NOT_FOUND", "shed not found")
    def do_DELETE(self):
        if not self.authed(): return
        p = self.parts()
        if len(p) == 4 and sheds.pop(p[3], None) is not None: return self.reply(204)
        self.err(404, "SHED_NOT_FOUND", "shed not found")
HTTPServer(("127.0.0.1", int(sys.argv[1])), H).serve_forever()
EOF
MOCK_TOKEN="shed_control_it$$"
ip netns exec "$(h_ns 4)" python3 "$H_TMP/mockshed.py" 18080 "$MOCK_TOKEN" &
MOCK_PID=$!
printf '%s\n' "$MOCK_TOKEN" >"$H_TMP/n4/shed-token"
chmod 600 "$H_TMP/n4/shed-token"
cat >"$H_TMP/n4/config.yaml" <<EOF
resources:
  cpus: "2"
  memory: 2G
network:
  enabled: false
driver:
  default: shed-server
  shed_server_url: http://127.0.0.1:18080
  shed_server_token_file: $H_TMP/n4/shed-token
  shed_server_timeout_ms: 2m
EOF
h_start_node 4 --config "$H_TMP/n4/config.yaml"
h_wait_ready 4
h_wait_members 4 15 || h_fail "node 4 did not join"
h_retry 10 h_exec 4 curl -sf http://127.0.0.1:18080/api/info >/dev/null || h_fail "mock Shed API not up"
sleep 1
# Shed's create starts the shed: the node must not take the 409 of a start
# for a failure (it used to, and deleted the shed it had just made).
h_ctl 1 create vm1 --node node4 --cpus 1 --memory 1G --repo charliek/codelens || h_fail "create vm1 on node4"
shedfield() { h_ctl 2 --json show vm1 | python3 -c "import json,sys; print(json.load(sys.stdin)['$1'])"; }
h_assert_eq shed-server "$(shedfield driver)" "driver of vm1"
h_assert_eq running "$(shedfield state)" "vm1's state in the cluster"
api() { h_exec 4 curl -sf -H "Authorization: Bearer $MOCK_TOKEN" http://127.0.0.1:18080/api/sheds/vm1 | python3 -c "import json,sys; print(json.load(sys.stdin)['$1'])"; }
h_assert_eq running "$(api status)" "vm1 as Shed's API sees it"
h_assert_eq charliek/codelens "$(api repo)" "vm1's repo, passed to Shed"
h_ctl 1 stop vm1 || h_fail "stop vm1"
h_assert_eq stopped "$(api status)" "vm1 after stop, in Shed's API"
h_ctl 2 start vm1 || h_fail "start vm1"
h_assert_eq running "$(api status)" "vm1 after start, in Shed's API"
h_ctl 3 delete vm1 || h_fail "delete vm1"
h_assert_eq '{"sheds": []}' "$(h_exec 4 curl -sf -H "Authorization: Bearer $MOCK_TOKEN" http://127.0.0.1:18080/api/sheds)" "Shed's sheds after delete"
# The token is a secret: in no node's log.
if grep -rqF "$MOCK_TOKEN" "$H_TMP"/n*/*.log 2>/dev/null; then h_fail "the Shed token is in a node's log"; fi
# A repo is for drivers that clone: node 1 (netns) rejects it.
if h_ctl 1 create vm2 --node node1 --repo charliek/codelens 2>"$H_TMP/vm2.err"; then h_fail "a --repo create on a netns node succeeded"; fi
grep -q "does not clone repositories" "$H_TMP/vm2.err" || h_fail "--repo on netns: $(cat "$H_TMP/vm2.err")"

h_log "--- clean up"
h_ctl 1 delete twin || h_fail "delete twin"
h_retry 5 has_count 2 0 || h_fail "node 2 still lists $(count 2) sheds after deleting them all"
left=$(find "$CG"/*/"$H_ID"-node* -mindepth 1 -type d 2>/dev/null | wc -l)
h_assert_eq 0 "$left" "shed cgroups left after delete"
h_log "PASS"
