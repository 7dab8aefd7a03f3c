#!/usr/bin/env bash
# bench/events.sh: event fan-out on 3 real nodes (network namespaces,
# integration/harness.sh), docs/performance.md / docs/events.md:
#   agent (events_tool gen, speaking the agent protocol on shed `bench`'s
#   socket on node 1) -> node 1 agent host -> node 1 bus -> TCP + CURVE ->
#   node 3 bus -> ipc -> consumer (events_tool consume, a bus_client) on node 3
#   1. sustained rate: N_FLAT ~100-byte LOG events as fast as the agent writes;
#   2. latency and loss at a paced RATE (10k/s) for SECS seconds (the agent
#      stamps CLOCK_REALTIME in each event; same machine, same clock);
#   3. reference in the same run, right after 1: raw libzmq PUB (node 1's
#      namespace) -> SUB (node 3's), plaintext TCP, the same 100-byte
#      messages; and 4., after 2, the same at the paced RATE (raw p99: what
#      one hop of libzmq gets from the machine at that moment).
#   CPU per event of the flat runs: node 1's and node 3's daemons (their
#   /proc stat ticks across the run) plus the generator and the consumer
#   (getrusage, every thread), against raw libzmq's publisher plus
#   subscriber (`cpu_us_ev`, `raw_cpu_us_ev`): on a saturated machine the
#   rate is the CPU share a side gets divided by this, so it explains
#   what the load does to the ratio.
# All three run twice: quiet, then busy (BUSY=1, the default: a CPU hog
# per core, `sh -c 'while :; do :; done'`, started and killed by PID).
# Final line:
#   RESULT events_per_s=... raw_zmq_per_s=... ratio=... p99_ms=... dropped=...
#          events_busy_per_s=... raw_zmq_busy_per_s=... ratio_busy=...
#          p99_ms_busy=... dropped_busy=... raw_p99_ms=... raw_p99_ms_busy=...
#          cpu_us_ev=... raw_cpu_us_ev=... cpu_us_ev_busy=... raw_cpu_us_ev_busy=...
# Goals: ratio and ratio_busy >= 0.5, p99 < 2 ms, dropped = 0 at 10k/s.
# Needs root. Build first: make shed-node shedctl events_tool (SHED_BUILD_DIR).
set -euo pipefail
# shellcheck source-path=SCRIPTDIR
. "$(dirname "$0")/../integration/harness.sh"

TOOL=${EVENTS_TOOL:-$H_BUILD/bench/events_tool}
N_FLAT=${N_FLAT:-1000000}
RATE=${RATE:-10000}
SECS=${SECS:-5}
RAW_PORT=9170
[[ -x "$TOOL" ]] || h_fail "events_tool not built: $TOOL"
export SHED_LOG_LEVEL=${SHED_LOG_LEVEL:-info}
export SHED_TEST_DEADLINE=${SHED_TEST_DEADLINE:-600}

h_init 3
# The agent host's per-shed limits (2000 msgs/s by default) would rightly
# cut a flooding agent off; raise them for the benchmark's shed.
cat >"$H_TMP/node1.yaml" <<EOF
agents:
  msgs_per_s: 10000000
  bytes_per_s: 1073741824
EOF
h_start_node 1 --config "$H_TMP/node1.yaml"
h_start_node 2
h_start_node 3
for i in 1 2 3; do h_wait_ready "$i" 60; done
h_wait_members 3 60 || h_fail "the 3 nodes did not see each other"
path=$(h_ctl 1 agents attach bench) || h_fail "agents attach failed"
ep3="ipc://$(h_datadir 3)/events.sock"

# b_consume N SECS OUT: start a consumer on node 3 and wait until it is
# subscribed (it prints "ready"), plus time for the subscription to reach
# node 1's publisher.
C_PID=""
b_consume() {
    local n=$1 secs=$2 out=$3
    h_exec 3 "$TOOL" consume "$ep3" log.node1.bench. "$n" "$secs" >"$out" 2>"$out.err" &
    C_PID=$!
    H_STARTED_PIDS+=("$C_PID")
    local k
    for ((k = 0; k < 100; k++)); do
        grep -q '^ready' "$out" 2>/dev/null && break
        sleep 0.1
    done
    sleep 2
}
field() { sed -n "s/.*\b$1=\([^ ]*\).*/\1/p" "$2" | tail -1; }
# node_ticks: CPU ticks (user + system, every thread) of node 1 and node 3.
node_ticks() {
    local t=0 i
    for i in 1 3; do
        t=$((t + $(awk '{print $14 + $15}' "/proc/$(h_pid "$i")/stat")))
    done
    echo "$t"
}
# thread_ticks: "node:tid:name ticks" per thread of node 1 and node 3
# (names: shed-node is the main thread, shed-agents the agent host,
# shed-bus the bus, ZMQbg/IO/0 ZeroMQ's I/O thread).
thread_ticks() {
    local i f
    for i in 1 3; do
        for f in /proc/"$(h_pid "$i")"/task/*/stat; do
            # comm may hold spaces: the fields after its ')' are fixed
            awk -v n="$i" '{ s = $0; c = substr(s, index(s, "(") + 1); c = substr(c, 1, index(c, ")") - 1);
                r = substr(s, index(s, ")") + 2); split(r, a, " ");
                gsub(" ", "_", c); split(FILENAME, p, "/");
                print "node" n ":" p[5] ":" c, a[12] + a[13] }' "$f" 2>/dev/null || true
        done
    done
}
# thread_report BEFORE AFTER EVENTS: µs of CPU per event of each thread
# that ran (the pipeline's busiest thread bounds the rate once every
# thread gets the same share of a saturated machine).
thread_report() {
    local hz
    hz=$(getconf CLK_TCK)
    /usr/bin/python3 - "$1" "$2" "$3" "$hz" <<'PY'
import sys
def load(path):
    d = {}
    for line in open(path):
        k, _, v = line.rpartition(" ")
        if k:
            d[k] = int(v)
    return d
a, b, n, hz = load(sys.argv[1]), load(sys.argv[2]), float(sys.argv[3] or 0), float(sys.argv[4])
rows = sorted(((b[k] - a.get(k, 0), k) for k in b), reverse=True)
print(" ".join("%s=%.2f" % (k.split(":")[0] + ":" + k.split(":")[2], t * 1e6 / hz / n) for t, k in rows if t > 0 and n))
PY
}
# us_per_event EVENTS MS...: the sum of the MS, in µs per event.
us_per_event() { /usr/bin/python3 -c "import sys; n = float(sys.argv[1] or 0); print('%.2f' % (sum(float(x or 0) for x in sys.argv[2:]) * 1e3 / n if n else 0))" "$@"; }

# b_phase LABEL: the three measurements, back to back, into $H_TMP/LABEL.*;
# sets P_RATE P_RAW P_P99 P_P50 P_LOST P_FLAT_LOST.
b_phase() {
    local label=$1
    # ---- 1. sustained rate ----
    b_consume "$N_FLAT" 90 "$H_TMP/$label.flat.out"
    local t0 t1
    thread_ticks >"$H_TMP/$label.threads0"
    t0=$(node_ticks)
    h_exec 1 "$TOOL" gen "$path" "$N_FLAT" 0 >"$H_TMP/$label.gen.out" || h_fail "generator failed"
    wait "$C_PID" || true
    t1=$(node_ticks)
    thread_ticks >"$H_TMP/$label.threads1"
    h_log "$label flat out: $(tail -1 "$H_TMP/$label.flat.out")"
    P_RATE=$(field per_s "$H_TMP/$label.flat.out")
    local hz nodes_ms
    hz=$(getconf CLK_TCK)
    nodes_ms=$(((t1 - t0) * 1000 / hz))
    P_CPU=$(us_per_event "$(field events "$H_TMP/$label.flat.out")" "$nodes_ms" \
        "$(field cpu_ms "$H_TMP/$label.gen.out")" "$(field cpu_ms "$H_TMP/$label.flat.out")")
    h_log "$label CPU per event: $P_CPU µs (nodes 1 and 3: $nodes_ms ms, generator $(field cpu_ms "$H_TMP/$label.gen.out") ms, consumer $(field cpu_ms "$H_TMP/$label.flat.out") ms)"
    h_log "$label µs per event by thread: $(thread_report "$H_TMP/$label.threads0" "$H_TMP/$label.threads1" "$(field events "$H_TMP/$label.flat.out")")"
    P_FLAT_LOST=$(field lost "$H_TMP/$label.flat.out")
    # ---- 2. raw libzmq PUB/SUB between the same namespaces, right after ----
    h_exec 3 "$TOOL" rawsub "tcp://$(h_addr 1):$RAW_PORT" "$N_FLAT" 60 >"$H_TMP/$label.raw.out" 2>&1 &
    local raw_pid=$!
    H_STARTED_PIDS+=("$raw_pid")
    h_exec 1 "$TOOL" rawpub "tcp://$(h_addr 1):$RAW_PORT" "$N_FLAT" >"$H_TMP/$label.rawpub.out" || h_fail "rawpub failed"
    wait "$raw_pid" || true
    h_log "$label raw libzmq: $(tail -1 "$H_TMP/$label.raw.out")"
    P_RAW=$(field per_s "$H_TMP/$label.raw.out")
    P_RAW_CPU=$(us_per_event "$(field events "$H_TMP/$label.raw.out")" \
        "$(field cpu_ms "$H_TMP/$label.rawpub.out")" "$(field cpu_ms "$H_TMP/$label.raw.out")")
    h_log "$label raw CPU per event: $P_RAW_CPU µs"
    # ---- 3. latency and loss at RATE ----
    local n_paced=$((RATE * SECS))
    b_consume "$n_paced" $((SECS + 30)) "$H_TMP/$label.paced.out"
    h_exec 1 "$TOOL" gen "$path" "$n_paced" "$RATE" >/dev/null || h_fail "generator failed"
    wait "$C_PID" || true
    h_log "$label paced ${RATE}/s: $(tail -1 "$H_TMP/$label.paced.out")"
    P_P99=$(field p99_ms "$H_TMP/$label.paced.out")
    P_P50=$(field p50_ms "$H_TMP/$label.paced.out")
    P_LOST=$(field lost "$H_TMP/$label.paced.out")
    # ---- 4. the same pace on raw libzmq: the latency the machine allows ----
    h_exec 3 "$TOOL" rawsub "tcp://$(h_addr 1):$RAW_PORT" "$n_paced" $((SECS + 30)) >"$H_TMP/$label.rawpaced.out" 2>&1 &
    raw_pid=$!
    H_STARTED_PIDS+=("$raw_pid")
    h_exec 1 "$TOOL" rawpub "tcp://$(h_addr 1):$RAW_PORT" "$n_paced" "$RATE" >/dev/null || h_fail "rawpub failed"
    wait "$raw_pid" || true
    h_log "$label raw libzmq paced ${RATE}/s: $(tail -1 "$H_TMP/$label.rawpaced.out")"
    P_RAW_P99=$(field p99_ms "$H_TMP/$label.rawpaced.out")
}
ratio() { /usr/bin/python3 -c "import sys; a, b = float(sys.argv[1] or 0), float(sys.argv[2] or 0); print('%.3f' % (a / b if b else 0))" "$1" "$2"; }

h_log "load before: $(cut -d' ' -f1-3 /proc/loadavg)"
b_phase quiet
events_per_s=$P_RATE raw_per_s=$P_RAW p99_ms=$P_P99 p50_ms=$P_P50 dropped=$P_LOST raw_p99=$P_RAW_P99
flat_lost=$P_FLAT_LOST cpu=$P_CPU raw_cpu=$P_RAW_CPU
P_CPU="" P_RAW_CPU=""

# ---- busy: the same with a CPU hog per core (started and ended by PID) ----
HOGS=()
if [[ ${BUSY:-1} != 0 ]]; then
    for _ in 1 2; do
        sh -c 'while :; do :; done' &
        HOGS+=("$!")
        H_STARTED_PIDS+=("$!")
    done
    b_phase busy
    for p in "${HOGS[@]}"; do kill "$p" 2>/dev/null || true; done
    for p in "${HOGS[@]}"; do wait "$p" 2>/dev/null || true; done
fi
events_busy=${P_RATE:-0} raw_busy=${P_RAW:-0} p99_busy=${P_P99:-} dropped_busy=${P_LOST:-}
raw_p99_busy=${P_RAW_P99:-} cpu_busy=${P_CPU:-} raw_cpu_busy=${P_RAW_CPU:-}
[[ ${BUSY:-1} == 0 ]] && events_busy=0 raw_busy=0

h_ctl 1 agents bench | sed 's/^/    /' >&2 || true
h_log "flat-out run lost $flat_lost of $N_FLAT; paced p50 ${p50_ms} ms; load after: $(cut -d' ' -f1-3 /proc/loadavg)"
echo "RESULT events_per_s=$events_per_s raw_zmq_per_s=$raw_per_s ratio=$(ratio "$events_per_s" "$raw_per_s") p99_ms=$p99_ms dropped=$dropped events_busy_per_s=$events_busy raw_zmq_busy_per_s=$raw_busy ratio_busy=$(ratio "$events_busy" "$raw_busy") p99_ms_busy=$p99_busy dropped_busy=$dropped_busy raw_p99_ms=$raw_p99 raw_p99_ms_busy=$raw_p99_busy cpu_us_ev=$cpu raw_cpu_us_ev=$raw_cpu cpu_us_ev_busy=$cpu_busy raw_cpu_us_ev_busy=$raw_cpu_busy"
