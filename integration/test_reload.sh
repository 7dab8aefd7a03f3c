#!/usr/bin/env bash
# integration/test_reload.sh: what SIGHUP applies while the node runs
# (docs/operations.md, "Reloading with SIGHUP"). One node in its namespace,
# its remote consumer endpoint on 198.18.0.11:7952, consumers run in the
# same namespace as other hosts would (CURVE, their own identities).
# Consumer keys (events.consumer_keys, the file read again at every SIGHUP):
#   - B (not listed) gets nothing; B's key added + SIGHUP: B gets events;
#   - A and B subscribed, A's key removed + SIGHUP: A's open session is cut
#     (it gets no later event), B reconnects by itself and gets the next
#     event; a new connection as A gets nothing.
# Agent limits (agents.*), on an agent connected before the SIGHUP
# (integration/tools/reload_agent.py on an attached shed's socket):
#   - it gets a second HELLO_ACK with the lowered rate (msgs_per_s 50 -> 5:
#     asks the agent for 4, 90 % of it);
#   - services_max 64 -> 3: of svc-2..svc-9 only svc-2 is taken (7 refused
#     service_cap), the catalog holds 3 of its services;
#   - msgs_per_s 5: a burst of 40 LOG frames is refused for rate.
# The reload log names what was applied; consumer_listen is reported as
# needing a restart. Needs root; exits 77 (skip) otherwise.
set -euo pipefail
# shellcheck source-path=SCRIPTDIR
. "$(dirname "$0")/harness.sh"

TOOL=$(dirname "$0")/tools/reload_agent.py
CTL=$H_CTL_BIN
h_init 1
"$CTL" keygen --identity "$H_TMP/id-a" >"$H_TMP/a.pub" || h_fail "keygen --identity A"
"$CTL" keygen --identity "$H_TMP/id-b" >"$H_TMP/b.pub" || h_fail "keygen --identity B"
keys="$H_TMP/consumers"
cfg="$H_TMP/n1/config.yaml"
write_cfg() { # write_cfg SERVICES_MAX MSGS_PER_S [CONSUMER_LISTEN]
    cat >"$cfg" <<EOF
events:
  consumer_listen: "${3:-198.18.0.11:7952}"
  consumer_keys: $keys
agents:
  services_max: $1
  msgs_per_s: $2
EOF
}
cat "$H_TMP/a.pub" >"$keys"
write_cfg 64 50
h_start_node 1 --config "$cfg"
h_wait_ready 1 30
log1=$(h_logfile 1)
server_key=$(h_ctl 1 --json status | /usr/bin/python3 -c 'import json,sys; print(json.load(sys.stdin)["public_key"])') \
    || h_fail "no public key from node 1's status"

# consume ID OUT ARGS...: `shedctl events --json ARGS` on the remote endpoint as ID.
consume() {
    local id=$1 out=$2
    shift 2
    timeout 40 ip netns exec "${H_NS[1]}" "$CTL" --addr "ipc://$H_TMP/none.sock" \
        --events tcp://198.18.0.11:7952 --server-key "$server_key" --identity "$H_TMP/id-$id" \
        --json events "$@" member.node1 >"$out" 2>"$out.err"
}
n_events() { grep -c '"topic":"member.node1"' "$1" 2>/dev/null || true; }
hups=0
reload() { # reload PATTERN: SIGHUP, then wait for PATTERN among the new log lines
    local before
    before=$(wc -l <"$log1")
    kill -HUP "$(h_pid 1)"
    hups=$((hups + 1))
    h_retry 10 bash -c "tail -n +$((before + 1)) '$log1' | grep -q -- '$1'" \
        || h_fail "SIGHUP $hups: no '$1' in the log: $(tail -n +$((before + 1)) "$log1" | grep SIGHUP)"
}

# ---- the agent, connected before any reload ---------------------------------
sock=$(h_ctl 1 agents attach calm) || h_fail "agents attach calm failed"
go="$H_TMP/go"
h_exec 1 python3 "$TOOL" "$sock" "$go" >"$H_TMP/agent.out" 2>&1 &
agent_pid=$!
H_STARTED_PIDS+=("$agent_pid")
h_retry 10 grep -q "registered 2" "$H_TMP/agent.out" || h_fail "agent: $(cat "$H_TMP/agent.out")"
grep -q "ack1 msgs=45 " "$H_TMP/agent.out" || h_fail "first HELLO_ACK: $(cat "$H_TMP/agent.out")"

# ---- consumer keys: B added -------------------------------------------------
rc=0
consume b "$H_TMP/b0.jsonl" --count 1 --timeout 4 & pid=$!
H_STARTED_PIDS+=("$pid")
sleep 1.5
h_ctl 1 tags set step=0 >/dev/null
wait "$pid" || rc=$?
[[ $rc != 0 && $(n_events "$H_TMP/b0.jsonl") == 0 ]] || h_fail "B got events before its key was listed"

cat "$H_TMP/a.pub" "$H_TMP/b.pub" >"$keys"
reload 'event consumer keys applied.*keys=2 added=1 removed=0'
grep -q 'applied=events.consumer_keys' "$log1" || h_fail "reload log does not name events.consumer_keys"

consume a "$H_TMP/a1.jsonl" --count 2 --timeout 12 & pid_a=$!
consume b "$H_TMP/b1.jsonl" --count 2 --timeout 25 & pid_b=$!
H_STARTED_PIDS+=("$pid_a" "$pid_b")
sleep 1.5
h_ctl 1 tags set step=1 >/dev/null
h_retry_eq 10 1 n_events "$H_TMP/b1.jsonl" || h_fail "B (added by SIGHUP) got no event: $(cat "$H_TMP/b1.jsonl.err")"
h_retry_eq 5 1 n_events "$H_TMP/a1.jsonl" || h_fail "A got no event"
h_log "B admitted by SIGHUP: got the event"

# ---- consumer keys: A removed ---------------------------------------------
cat "$H_TMP/b.pub" >"$keys"
reload 'event consumer keys applied.*keys=1 added=0 removed=1'
sleep 1.5 # B's SUB reconnects and subscribes again
h_ctl 1 tags set step=2 >/dev/null
rc_a=0 rc_b=0
wait "$pid_b" || rc_b=$?
[[ $rc_b == 0 && $(n_events "$H_TMP/b1.jsonl") == 2 ]] \
    || h_fail "B (still listed) missed the event after the reload ($rc_b): $(cat "$H_TMP/b1.jsonl.err")"
wait "$pid_a" || rc_a=$?
[[ $rc_a != 0 && $(n_events "$H_TMP/a1.jsonl") == 1 ]] \
    || h_fail "A's open session was not cut: $(n_events "$H_TMP/a1.jsonl") events, rc $rc_a"
rc=0
consume a "$H_TMP/a2.jsonl" --count 1 --timeout 4 & pid=$!
H_STARTED_PIDS+=("$pid")
sleep 1.5
h_ctl 1 tags set step=3 >/dev/null
wait "$pid" || rc=$?
[[ $rc != 0 && $(n_events "$H_TMP/a2.jsonl") == 0 ]] || h_fail "A connected again after its key was removed"
h_log "A removed by SIGHUP: open session cut, new connection refused; B kept"

# A bad key file keeps the old set.
printf 'not-a-key\n' >"$keys"
reload 'event consumer keys not reloaded, the old ones stay in force'

# ---- agent limits on the running agent ------------------------------------
cat "$H_TMP/b.pub" >"$keys"
write_cfg 3 5 198.18.0.11:7953
reload 'SIGHUP: agent limits applied to every shed'
grep -q 'applied=agents' "$log1" || h_fail "reload log does not name agents"
grep -q 'not_reloaded=events.consumer_listen' "$log1" || h_fail "consumer_listen not reported as needing a restart"
touch "$go"
wait "$agent_pid" || h_fail "agent: $(cat "$H_TMP/agent.out")"
h_log "agent: $(tr '\n' '|' <"$H_TMP/agent.out")"
grep -q "ack2 msgs=4 " "$H_TMP/agent.out" || h_fail "no HELLO_ACK with the lowered rate: $(cat "$H_TMP/agent.out")"
h_alive 1 || h_fail "the node died"

h_metrics 1 >"$H_TMP/metrics.txt" || h_fail "no /metrics"
python3 - "$H_TMP/metrics.txt" <<'EOP' || h_fail "counters: $(grep 'shed="calm"' "$H_TMP/metrics.txt")"
import re, sys
text = open(sys.argv[1]).read()
def bad(reason):
    m = re.search(r'shed_agent_bad_frames_total\{[^}]*shed="calm"[^}]*reason="%s"[^}]*\} (\d+)'
                  % reason, text)
    return int(m.group(1)) if m else 0
print("calm service_cap=%d rate=%d" % (bad("service_cap"), bad("rate")))
if bad("service_cap") != 7:
    sys.exit("service_cap refusals: %d, expected 7 (svc-3..svc-9)" % bad("service_cap"))
if bad("rate") < 20:
    sys.exit("rate refusals: %d, expected most of the 40-frame burst" % bad("rate"))
EOP
held=$(h_ctl 1 --json services | grep -o '"calm\.svc-[0-9]*"' | sort -u | wc -l || true)
h_assert_eq 3 "$held" "services of calm in the catalog after services_max 3"
h_log "PASS"
