#!/usr/bin/env bash
# integration/test_agents.sh: agents, hooks and the agent commands end to end
# (docs/events.md, docs/agent.md). 3 nodes in network namespaces (harness.sh);
# node 1 runs with a YAML config: a hook on `proc.node1.` that writes its
# stdin to a file, a hook on `member.` that runs `shedctl --json status`
# with no --addr (the hook's SHED_ADDR must name node 1's API; node 1 itself
# runs with a SHED_ADDR that points nowhere, which a hook must not inherit),
# and a 200 ms metrics interval for agents.
#   0. a tag update on node 2 runs node 1's member. hook, whose shedctl
#      answered: its output is node 1's status (name node1, node 1's pid),
#      and the hook saw SHED_NODE=node1;
#   1. a real shed-agent for shed `web` on node 1 supervises `crasher`
#      (prints "starting", exits 3, never restarted): the proc exit event
#      with code 3 reaches `shedctl events proc.` on node 3 AND the hook on
#      node 1 (its file holds the event with exit_code 3);
#   2. `shedctl status web` and `shedctl top --once` on node 3 show web's
#      live metrics; `shedctl logs web` on node 1 shows "starting", and so
#      does `shedctl logs web` on node 3 (fetched from node 1 over the node
#      RPC, agents.logs); an unknown shed is still "not found" on node 3;
#      a shed printing bytes that are not UTF-8 gets valid `logs --json`
#      (U+FFFD for each bad sequence), checked by Python's strict parser;
#   3. `shedctl provision web` on node 1 with three steps (echo one;
#      sh -c 'echo two; exit 4'; echo never) streams the output and reports
#      step 2's code 4, step 3 not run, exit status 1; on node 3,
#      `provision web --step 'echo remote'` runs on node 1 (agents.provision)
#      and shows the streamed line, the result and exit status 0;
#   4. an "agent" flooding garbage on shed `bad`'s socket is cut off (bad
#      frames counted) while web's metrics keep flowing to node 3;
#   5. kill -9 node 2 and restart it: a consumer on node 3 subscribed to
#      everything keeps receiving node 1's events without a gap and sees
#      node 2 again (a new boot: its sequence starts over); a consumer on
#      the restarted node 2 receives node 1's events.
# Needs root; exits 77 (skip) otherwise.
set -euo pipefail
# shellcheck source-path=SCRIPTDIR
. "$(dirname "$0")/harness.sh"

AGENT_BIN=${SHED_AGENT_BIN:-$H_BUILD/agent/shed-agent}
[[ -x "$AGENT_BIN" ]] || h_skip "shed-agent not built: $AGENT_BIN"

N=3
h_init "$N"
HOOK_DIR=$H_TMP/hook
mkdir -p "$HOOK_DIR"
cat >"$H_TMP/node1.yaml" <<EOF
hooks:
  - event: "proc.node1."
    command: "cat > $HOOK_DIR/\$SHED_EVENT_SEQ.json"
    timeout_ms: 5000
  - event: "member."
    command: "echo \$SHED_NODE > $HOOK_DIR/ctl-\$SHED_EVENT_SEQ.node; $H_CTL_BIN --json status > $HOOK_DIR/ctl-\$SHED_EVENT_SEQ.out 2>&1"
    timeout_ms: 10000
agents:
  metrics_interval_ms: 200
EOF
# A SHED_ADDR in the node's own environment points nowhere: hooks get
# node 1's endpoint instead.
SHED_ADDR=ipc:///nonexistent/shed-it/api.sock h_start_node 1 --config "$H_TMP/node1.yaml"
for ((i = 2; i <= N; i++)); do h_start_node "$i"; done
for ((i = 1; i <= N; i++)); do h_wait_ready "$i" 30; done
h_wait_members 3 20 || h_fail "the 3 nodes did not see each other"

# ---- 0. a hook runs shedctl against its own node ---------------------------
# A member. event after node 1's subscriptions settled: node 2's tag update.
sleep 2
h_ctl 2 tags set hooktest=1 >/dev/null || h_fail "tags set on node 2"
ctl_hook_ok() {
    local f
    for f in "$HOOK_DIR"/ctl-*.out; do
        [[ -s "$f" ]] || continue
        python3 -c '
import json, sys
s = json.load(open(sys.argv[1]))
assert s["name"] == "node1" and s["pid"] == int(sys.argv[2]), s
' "$f" "${H_PID[1]}" 2>/dev/null && return 0
    done
    return 1
}
h_retry 15 ctl_hook_ok || h_fail "shedctl in the member. hook on node 1 did not answer with node 1's status: $(cat "$HOOK_DIR"/ctl-*.out 2>/dev/null | head -5)"
h_assert_eq node1 "$(cat "$(ls "$HOOK_DIR"/ctl-*.node | head -1)")" "SHED_NODE in the hook"
h_log "a hook ran shedctl against its own node: $(cat "$(ls "$HOOK_DIR"/ctl-*.out | head -1)" | head -c 200)"

SUB_SETTLE=2

# ---- 1. crash -> proc event on node 3 and the hook on node 1 ---------------
proc_out=$H_TMP/proc.jsonl
h_consume 3 "$proc_out" --count 2 --timeout 30 proc.node1.web
proc_pid=$H_CONSUME_PID
all_out=$H_TMP/all.jsonl
h_consume 3 "$all_out" --timeout 200
all_pid=$H_CONSUME_PID
sleep "$SUB_SETTLE"

path=$(h_ctl 1 agents attach web) || h_fail "agents attach web failed"
# Not through h_exec: a function run with & is a subshell, and $! would
# be its PID, not the agent's, so cleanup could not stop the agent.
ip netns exec "${H_NS[1]}" "$AGENT_BIN" --connect "unix:$path" --shed web --restart never \
    --metrics-interval 200 --run crasher='sh -c "echo starting; exit 3"' \
    >"$H_TMP/agent-web.log" 2>&1 &
agent_pid=$!
H_STARTED_PIDS+=("$agent_pid")

wait "$proc_pid" || h_fail "no start+exit proc events on node 3 (see $proc_out.err)"
h_check_events "$proc_out" '
ex = [e for e in events if e["payload"].get("event") == "exit"]
if not ex: fail("no exit event")
p = ex[0]["payload"]
if p.get("exit_code") != 3 or p.get("name") != "crasher" or not p.get("crashed"):
    fail("exit event without code 3: %r" % p)
if ex[0]["origin"] != "node1": fail("origin %r" % ex[0]["origin"])
'
h_log "proc exit with code 3 arrived on node 3"
hook_ok() { grep -l '"exit_code":3' "$HOOK_DIR"/*.json >/dev/null 2>&1; }
h_retry 10 hook_ok || h_fail "the proc. hook on node 1 did not write the exit event ($(ls "$HOOK_DIR"))"
hook_file=$(grep -l '"exit_code":3' "$HOOK_DIR"/*.json | head -1)
python3 -c '
import json, sys
e = json.load(open(sys.argv[1]))
assert e["topic"] == "proc.node1.web", e
assert e["origin"] == "node1" and e["kind"] == "agent.proc", e
assert e["payload"]["event"] == "exit" and e["payload"]["exit_code"] == 3, e
' "$hook_file" || h_fail "hook stdin is not the exit event: $(cat "$hook_file")"
h_log "hook ran with the event on stdin: $(cat "$hook_file")"

# ---- 2. status / top on node 3, logs on node 1 ------------------------------
status_ok() {
    h_ctl 3 status web --json >"$H_TMP/status.json" 2>"$H_TMP/status.err" || return 1
    python3 -c '
import json, sys
s = json.load(open(sys.argv[1]))
assert s["shed"] == "web" and s["node"] == "node1", s
assert s["mem_total"] > 0 and s["procs"] > 0 and s["age_ms"] < 3000, s
' "$H_TMP/status.json"
}
h_retry 10 status_ok || h_fail "shedctl status web on node 3: $(cat "$H_TMP/status.json" "$H_TMP/status.err")"
h_ctl 3 status web | sed 's/^/    /' >&2
h_ctl 3 top --once >"$H_TMP/top.txt" || h_fail "shedctl top --once failed"
grep -q '^web  *node1 ' "$H_TMP/top.txt" || h_fail "top does not list web: $(cat "$H_TMP/top.txt")"
sed 's/^/    /' "$H_TMP/top.txt" >&2

h_ctl 1 logs web >"$H_TMP/logs.txt" || h_fail "shedctl logs web on node 1 failed"
grep -q 'starting' "$H_TMP/logs.txt" || h_fail "logs web has no 'starting': $(cat "$H_TMP/logs.txt")"
h_ctl 1 logs web --json --stream crasher-out --tail 1 >"$H_TMP/logs.json" || h_fail "logs --json failed"
grep -q '"text":"starting"' "$H_TMP/logs.json" || h_fail "logs --json: $(cat "$H_TMP/logs.json")"
# History from another node: node 3 asks node 1 over the node RPC.
h_ctl 3 logs web >"$H_TMP/logs3.txt" 2>"$H_TMP/logs3.err" \
    || h_fail "logs web on node 3 failed: $(cat "$H_TMP/logs3.err")"
grep -q '^\[crasher-out\] starting' "$H_TMP/logs3.txt" \
    || h_fail "logs web on node 3 has no 'starting': $(cat "$H_TMP/logs3.txt" "$H_TMP/logs3.err")"
h_ctl 3 logs web --json --stream crasher-out --tail 1 >"$H_TMP/logs3.json" \
    || h_fail "logs --json on node 3 failed"
python3 -c '
import json, sys
l = [json.loads(x) for x in open(sys.argv[1]) if x.strip()]
assert len(l) == 1 and l[0]["text"] == "starting" and l[0]["node"] == "node1", l
' "$H_TMP/logs3.json" || h_fail "logs --json on node 3: $(cat "$H_TMP/logs3.json")"
sed 's/^/    node3: /' "$H_TMP/logs3.txt" >&2
if h_ctl 3 logs nosuchshed >/dev/null 2>"$H_TMP/logs3x.err"; then
    h_fail "logs of an unknown shed on node 3 succeeded"
fi
grep -q "no node has an agent for shed 'nosuchshed'" "$H_TMP/logs3x.err" \
    || h_fail "logs of an unknown shed on node 3: $(cat "$H_TMP/logs3x.err")"
h_log "status, top and logs OK (history on node 3 came from node 1)"

# A shed whose program writes bytes that are not UTF-8 (two bytes that
# start nothing, an overlong '/', a sequence cut short): `logs --json`
# must still be valid JSON, each bad sequence one U+FFFD as Python's
# decode("utf-8", "replace") gives (common/json_text.h). The old
# hand-written writer passed the raw bytes through.
bin_path=$(h_ctl 1 agents attach bin) || h_fail "agents attach bin failed"
ip netns exec "${H_NS[1]}" "$AGENT_BIN" --connect "unix:$bin_path" --shed bin --restart never \
    --run 'bytes=printf "a\377\376b\300\257c\342\202\n"' >"$H_TMP/agent-bin.log" 2>&1 &
H_STARTED_PIDS+=("$!")
bin_ok() {
    h_ctl 1 logs bin --json --stream bytes-out >"$H_TMP/bin.json" 2>"$H_TMP/bin.err" \
        && [[ -s "$H_TMP/bin.json" ]]
}
h_retry 10 bin_ok || h_fail "logs bin --json: $(cat "$H_TMP/bin.json" "$H_TMP/bin.err")"
/usr/bin/python3 -c '
import json, sys
# Strict: invalid UTF-8 in the output raises here.
lines = [json.loads(l) for l in open(sys.argv[1], encoding="utf-8", errors="strict")]
want = b"a\xff\xfeb\xc0\xafc\xe2\x82".decode("utf-8", "replace")
assert want == "a\ufffd\ufffdb\ufffd\ufffdc\ufffd", repr(want)
assert [l["text"] for l in lines] == [want], lines
' "$H_TMP/bin.json" || h_fail "logs --json of non-UTF-8 bytes is not valid JSON: $(od -c "$H_TMP/bin.json" | head)"
h_log "logs --json of non-UTF-8 output is valid JSON: $(cat "$H_TMP/bin.json")"

# ---- 3. provisioning --------------------------------------------------------
rc=0
SHED_CTL_TIMEOUT=60 h_ctl 1 provision web --step 'echo one' \
    --step "sh -c 'echo two; exit 4'" --step 'echo never' >"$H_TMP/prov.txt" 2>&1 || rc=$?
sed 's/^/    /' "$H_TMP/prov.txt" >&2
h_assert_eq 1 "$rc" "provision exit status"
grep -q '^\[step-1\] one' "$H_TMP/prov.txt" || h_fail "no streamed output of step 1"
grep -q '^\[step-2\] two' "$H_TMP/prov.txt" || h_fail "no streamed output of step 2"
grep -q '^step-2  *failed  *4 ' "$H_TMP/prov.txt" || h_fail "step 2 not reported failed with 4"
grep -q '^step-3  *not run ' "$H_TMP/prov.txt" || h_fail "step 3 not reported as not run"
if grep -q 'never' <(grep '^\[step' "$H_TMP/prov.txt"); then h_fail "step 3 ran"; fi
# From node 3: routed to node 1, output streamed over the bus.
rc=0
SHED_CTL_TIMEOUT=60 h_ctl 3 provision web --step 'echo remote' >"$H_TMP/prov3.txt" 2>&1 || rc=$?
sed 's/^/    node3: /' "$H_TMP/prov3.txt" >&2
h_assert_eq 0 "$rc" "provision on node 3 exit status"
grep -q '^\[step-1\] remote' "$H_TMP/prov3.txt" || h_fail "no streamed output of the remote step"
grep -q '^step-1  *ok  *0 ' "$H_TMP/prov3.txt" || h_fail "remote step not reported ok"
grep -q '^run [0-9]* on node1: ok' "$H_TMP/prov3.txt" || h_fail "remote run not reported on node1"
rc=0
SHED_CTL_TIMEOUT=60 h_ctl 3 --json provision web --step 'exit 5' >"$H_TMP/prov3.json" 2>"$H_TMP/prov3j.err" || rc=$?
h_assert_eq 1 "$rc" "failing provision on node 3 exit status"
python3 -c '
import json, sys
r = json.loads(open(sys.argv[1]).read())
assert r["node"] == "node1" and not r["ok"] and r["steps"][0]["exit_code"] == 5, r
' "$H_TMP/prov3.json" || h_fail "provision --json on node 3: $(cat "$H_TMP/prov3.json")"
h_log "provisioning OK (also from node 3, run on node 1)"

# ---- 4. a garbage flood on another shed's socket ---------------------------
bad_path=$(h_ctl 1 agents attach bad) || h_fail "agents attach bad failed"
flow_out=$H_TMP/flow.jsonl
h_consume 3 "$flow_out" --timeout 6 metrics.node1.web
flow_pid=$H_CONSUME_PID
h_exec 1 python3 - "$bad_path" <<'EOF' &
import os, socket, sys, time
end = time.time() + 5
while time.time() < end:
    try:
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.connect(sys.argv[1])
        for _ in range(64):
            s.sendall(os.urandom(4096))
    except OSError:
        pass
    finally:
        s.close()
    time.sleep(0.01)
EOF
flood_pid=$!
H_STARTED_PIDS+=("$flood_pid")
wait "$flood_pid" || true
wait "$flow_pid" || h_fail "metrics consumer during the flood failed"
flow=$(grep -c '"topic": *"metrics.node1.web"' "$flow_out" || true)
((flow >= 10)) || h_fail "only $flow metrics events from web during the flood"
h_ctl 1 --json agents >"$H_TMP/agents.json" || h_fail "shedctl agents failed"
python3 -c '
import json, sys
a = {x["shed"]: x for x in json.load(open(sys.argv[1]))}
assert a["bad"]["bad"] > 0, a["bad"]
assert not a["bad"]["connected"], a["bad"]
assert a["web"]["connected"], a["web"]
' "$H_TMP/agents.json" || h_fail "agents after the flood: $(cat "$H_TMP/agents.json")"
h_ctl 1 agents | sed 's/^/    /' >&2
h_log "flood cut off; web delivered $flow metrics events meanwhile"

# ---- 5. kill -9 node 2, restart it ------------------------------------------
kill_us=$(($(date +%s%N) / 1000))
h_kill 2 KILL
sleep 2
h_start_node 2
h_wait_ready 2 30
restart_us=$(($(date +%s%N) / 1000))
n2_out=$H_TMP/node2.jsonl
h_consume 2 "$n2_out" --count 5 --timeout 30 metrics.node1.web
n2_pid=$H_CONSUME_PID
wait "$n2_pid" || h_fail "a consumer on the restarted node 2 got no metrics from node 1"
# Node 2's join was published before anyone re-linked to it (and so went
# nowhere, as it should); changes it makes now must reach node 3.
seen_n2() {
    python3 -c '
import json, sys
for l in open(sys.argv[1]):
    e = json.loads(l)
    if e["origin"] == "node2" and e["time_us"] > int(sys.argv[2]): sys.exit(0)
sys.exit(1)' "$all_out" "$restart_us"
}
for ((k = 1; k <= 20; k++)); do
    h_ctl 2 tags set restarted="$k" >/dev/null || true
    sleep 1
    seen_n2 && break
done
# Stop the consumer (timeout(1) passes the signal on); what it printed is
# what we check, whatever its exit status.
kill -INT "$all_pid" 2>/dev/null || true
wait "$all_pid" 2>/dev/null || true
h_check_events "$all_out" "
kill_us, restart_us = $kill_us, $restart_us
n1 = [e for e in events if e['origin'] == 'node1' and e['topic'] == 'metrics.node1.web']
if not [e for e in n1 if e['time_us'] > restart_us]: fail('no node1 metrics after node 2 restarted')
if any(e['gap'] for e in n1): fail('gap in node1 metrics')
n2 = [e for e in events if e['origin'] == 'node2']
before = [e for e in n2 if e['time_us'] < kill_us]
after = [e for e in n2 if e['time_us'] > kill_us]
if not after: fail('nothing from node2 after its restart')
if before and before[-1]['boot'] == after[0]['boot']: fail('node2 restarted with the same boot id')
print('node2 before: boot %s last seq %s; after: boot %s first seq %s' % (
    before[-1]['boot'] if before else '-', before[-1]['seq'] if before else '-',
    after[0]['boot'], after[0]['seq']), file=sys.stderr)
"
h_log "node 2 restart: node 3 kept node 1's events (no gap) and sees node 2 again with a new boot; node 2's consumer receives node 1's metrics"

kill -TERM "$agent_pid" 2>/dev/null || true
wait "$agent_pid" 2>/dev/null || true
h_log "PASS"
