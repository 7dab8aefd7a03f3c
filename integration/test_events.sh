#!/usr/bin/env bash
# integration/test_events.sh: cluster-wide events end to end (docs/events.md).
# 3 nodes in network namespaces (see harness.sh), consumers on node 3 only:
#   - `shedctl events --json member.` on node 3 sees node 1's tags update
#     (published by node 1, origin node1) and node 2's leave (published by
#     node 2 before it goes, origin node2);
#   - `shedctl agents attach web1` on node 1 gives an agent socket; a real
#     shed-agent started in node 1's namespace connects to it, and a
#     consumer on node 3 subscribed to `metrics.` and `log.` receives node
#     1's metrics and the supervised process's log line `hi`, with origin
#     node1 and strictly increasing per-origin sequence numbers;
#   - a consumer on node 3 subscribed only to `metrics.` receives metrics
#     and no `log.` event (subscriptions filter upstream);
#   - `shedctl logs web1 --follow` on node 3 shows the live line `hi`, from
#     node1;
#   - every node's bus batches at EVENT_BATCH version 3 once the node
#     records (each saying it reads 3) have replicated.
# Needs root; exits 77 (skip) otherwise.
set -euo pipefail
# shellcheck source-path=SCRIPTDIR
. "$(dirname "$0")/harness.sh"

AGENT_BIN=${SHED_AGENT_BIN:-$H_BUILD/agent/shed-agent}
[[ -x "$AGENT_BIN" ]] || h_skip "shed-agent not built: $AGENT_BIN"

N=3
h_init "$N"
for ((i = 1; i <= N; i++)); do h_start_node "$i"; done
for ((i = 1; i <= N; i++)); do h_wait_ready "$i" 30; done
h_wait_members 3 20 || h_fail "the 3 nodes did not see each other"

# ---- batch version gate (docs/events.md, "Mixed versions") -------------
# Every node's record says it reads EVENT_BATCH version 3, so once the
# records have replicated each bus batches at 3 (at 2 before: a member
# whose record has not arrived counts as an older release).
for ((i = 1; i <= N; i++)); do
    v=""
    for ((t = 0; t < 40; t++)); do
        v=$(h_metrics "$i" | awk '$1 == "shed_bus_batch_version" { print $2 }')
        [[ "$v" == 3 ]] && break
        sleep 0.5
    done
    [[ "$v" == 3 ]] || h_fail "node $i batches at version '${v}', not 3, with every member on version 3"
done
h_log "every bus batches at version 3"

# Subscriptions need a moment to travel from node 3 to the other nodes'
# publishers; events before that are (correctly) not sent.
SUB_SETTLE=2

# ---- membership events --------------------------------------------------
members_out=$H_TMP/members.jsonl
h_consume 3 "$members_out" --timeout 15 member.
members_pid=$H_CONSUME_PID
sleep "$SUB_SETTLE"
h_ctl 1 tags set role=events-test >/dev/null || h_fail "tags set on node 1 failed"
sleep 1
h_ctl 2 leave >/dev/null || h_fail "leave on node 2 failed"
wait "$members_pid" || h_fail "events consumer for member. failed (see $members_out.err)"
h_log "member events: $(wc -l <"$members_out")"
h_check_events "$members_out" '
tags = [e for e in events if e["topic"] == "member.node1" and e["origin"] == "node1"
        and e["payload"].get("change") == "update"
        and e["payload"].get("tags", {}).get("role") == "events-test"]
if not tags: fail("no tags update from node1")
leave = [e for e in events if e["topic"] == "member.node2" and e["origin"] == "node2"
         and e["payload"].get("change") == "leave" and e["payload"].get("observer") == "node2"]
if not leave: fail("no leave from node2")
for e in events:
    if e["kind"] != "member": fail("unexpected kind %r" % e["kind"])
    if e["payload"].get("change") in ("join", "update", "leave") and e["origin"] != e["payload"]["node"]:
        fail("own-change event published by another node: %r" % e)
'

# ---- agent events ---------------------------------------------------------
path=$(h_ctl 1 agents attach web1) || h_fail "agents attach failed"
h_log "agent socket: $path"
[[ "$path" == "$(h_datadir 1)/sheds/web1/agent.sock" ]] || h_fail "unexpected agent socket path '$path'"

both_out=$H_TMP/metrics-log.jsonl
only_out=$H_TMP/metrics-only.jsonl
h_consume 3 "$both_out" --timeout 20 metrics. log.
both_pid=$H_CONSUME_PID
h_consume 3 "$only_out" --timeout 20 metrics.
only_pid=$H_CONSUME_PID
sleep "$SUB_SETTLE"

# Not through h_exec: a function run with & is a subshell, and $! would
# be its PID, not the agent's, so cleanup could not stop the agent.
ip netns exec "${H_NS[1]}" "$AGENT_BIN" --connect "unix:$path" --shed web1 --metrics-interval 200 \
    --run hello='sh -c "echo hi; sleep 0.2"' >"$H_TMP/agent.log" 2>&1 &
agent_pid=$!
H_STARTED_PIDS+=("$agent_pid")

# `shedctl logs web1 --follow` on node 3, started once the agent reports
# (so it finds web1's node and subscribes to log.node1.web1 only): the
# supervised process prints "hi" at every restart. timeout ends it.
web1_seen() { h_ctl 3 status web1 >/dev/null 2>&1; }
h_retry 10 web1_seen || h_fail "web1's metrics did not reach node 3"
follow_rc=0
SHED_CTL_TIMEOUT=6 h_ctl 3 logs web1 --follow --json >"$H_TMP/follow.jsonl" 2>"$H_TMP/follow.err" \
    || follow_rc=$?
[[ $follow_rc == 124 ]] || h_fail "logs --follow ended by itself ($follow_rc): $(cat "$H_TMP/follow.err")"
h_check_events "$H_TMP/follow.jsonl" '
hi = [e for e in events if e.get("text") == "hi"]
if not hi: fail("logs --follow on node 3 showed no live line hi")
if any(e.get("node") != "node1" for e in events): fail("lines from another node")
'
h_log "logs --follow on node 3: $(wc -l <"$H_TMP/follow.jsonl") lines"

wait "$both_pid" || h_fail "events consumer for metrics./log. failed (see $both_out.err)"
wait "$only_pid" || h_fail "events consumer for metrics. failed (see $only_out.err)"
h_ctl 1 agents | sed 's/^/    /' >&2 || true
agents_json=$(h_ctl 1 --json agents) || h_fail "shedctl agents failed"
kill -TERM "$agent_pid" 2>/dev/null || true
wait "$agent_pid" 2>/dev/null || true
h_log "metrics+log events: $(wc -l <"$both_out"), metrics-only events: $(wc -l <"$only_out")"

h_check_events "$both_out" '
metrics = [e for e in events if e["topic"] == "metrics.node1.web1"]
if not metrics: fail("no metrics.node1.web1 event")
logs = [e for e in events if e["topic"].startswith("log.node1.web1.")]
if not any(e["payload"].get("text") == "hi" for e in logs): fail("no log line hi")
for e in metrics + logs:
    if e["origin"] != "node1": fail("origin %r, expected node1" % e["origin"])
seqs = [e["seq"] for e in events if e["origin"] == "node1"]
if any(b <= a for a, b in zip(seqs, seqs[1:])): fail("per-origin seq not increasing: %r" % seqs)
if any(e["gap"] for e in events): fail("sequence gaps reported")
'
h_check_events "$only_out" '
if not any(e["topic"] == "metrics.node1.web1" for e in events): fail("no metrics event")
bad = [e["topic"] for e in events if not e["topic"].startswith("metrics.")]
if bad: fail("events outside metrics.: %r" % bad[:5])
'
python3 -c '
import json, sys
a = json.loads(sys.argv[1])
w = [x for x in a if x["shed"] == "web1"]
if not w or w[0]["events"] == 0 or w[0]["published"] == 0:
    sys.exit("shedctl agents: web1 has no events: %r" % a)
' "$agents_json" || h_fail "shedctl agents does not account for web1's events"
h_log "PASS"
