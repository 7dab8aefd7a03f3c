#!/usr/bin/env bash
# integration/test_hostile_agent.sh: a hostile shed agent gets nothing
# (docs/agent.md, section 5; docs/security.md). One node in a network
# namespace (harness.sh), netns driver. A fake agent
# (integration/tools/hostile_agent.py) on shed `evil`'s socket sends a
# HELLO with forged strings (newlines, quotes, '|'), registers 3000
# services, logs on 2000 stream names, opens a 300 KiB stream, floods, and
# reconnects in a loop. Afterwards:
#   - the node is alive and its log has one event per line (no forged line);
#   - `evil` holds at most agents.services_max (64) services in the catalog;
#   - /metrics (127.0.0.1:7951 in the node's namespace) counts what was
#     refused: service_cap, stream_cap, stream, rate, reconnect;
#   - another shed's create works and its agent's events reach the bus.
# Needs root; exits 77 (skip) otherwise.
set -euo pipefail
# shellcheck source-path=SCRIPTDIR
. "$(dirname "$0")/harness.sh"

[[ -x "$H_BUILD/agent/shed-agent" ]] || h_skip "shed-agent not built: $H_BUILD/agent/shed-agent"
TOOL=$(dirname "$0")/tools/hostile_agent.py

h_init 1
h_sheds_init
cfg=$(h_sheds_config 1 "agents:
  metrics_interval_ms: 200")
h_start_node 1 --config "$cfg"
h_wait_ready 1 30

evil_path=$(h_ctl 1 agents attach evil) || h_fail "agents attach evil failed"
h_exec 1 python3 "$TOOL" "$evil_path" >"$H_TMP/hostile.log" 2>&1 &
hostile_pid=$!
H_STARTED_PIDS+=("$hostile_pid")
wait "$hostile_pid" || h_fail "the hostile agent failed: $(cat "$H_TMP/hostile.log")"
h_alive 1 || h_fail "the node died under the hostile agent"

# ---- counters -----------------------------------------------------------
h_metrics 1 >"$H_TMP/metrics.txt" || h_fail "no /metrics"
python3 - "$H_TMP/metrics.txt" <<'EOP' || h_fail "counters: $(grep 'shed="evil"' "$H_TMP/metrics.txt")"
import re, sys
text = open(sys.argv[1]).read()
def bad(reason):
    m = re.search(r'shed_agent_bad_frames_total\{[^}]*shed="evil"[^}]*reason="%s"[^}]*\} (\d+)'
                  % reason, text)
    return int(m.group(1)) if m else 0
for reason, least in (("service_cap", 2900), ("stream_cap", 1900), ("stream", 1),
                      ("rate", 1), ("reconnect", 50)):
    n = bad(reason)
    print("evil %s refused: %d" % (reason, n))
    if n < least:
        sys.exit("reason %s: %d, expected at least %d" % (reason, n, least))
EOP
h_ctl 1 agents | sed 's/^/    /' >&2

# ---- the catalog holds at most the cap ----------------------------------
h_ctl 1 --json services >"$H_TMP/services.json" 2>&1 || true
held=$(grep -o '"evil\.svc-[0-9]*"' "$H_TMP/services.json" | sort -u | wc -l || true)
h_log "evil's services in the catalog: $held"
((held <= 64)) || h_fail "evil holds $held services (cap 64)"

# ---- the node's log: one event per line, nothing forged -----------------
log=$(h_logfile 1)
if grep -n -v '^ts=' "$log" | grep -E 'level=|forged|role=root' >"$H_TMP/forged.txt"; then
    h_fail "forged lines in the node log: $(head -3 "$H_TMP/forged.txt")"
fi
grep -q 'agent connected.*shed=evil' "$log" || h_fail "no connect line for evil"

# ---- another tenant still works -----------------------------------------
out=$H_TMP/other.jsonl
h_consume 1 "$out" --count 2 --timeout 40 metrics.node1.other
consume_pid=$H_CONSUME_PID
sleep 1
create() { h_ctl 1 create "$@" >"$H_TMP/create.out" 2>&1; }
h_retry 20 create other || h_fail "create other: $(cat "$H_TMP/create.out")"
wait "$consume_pid" || h_fail "no metrics events from shed other (see $out.err)"
h_alive 1 || h_fail "the node died"
h_ctl 1 delete other >/dev/null || h_fail "delete other"
h_log "PASS: hostile agent contained"
