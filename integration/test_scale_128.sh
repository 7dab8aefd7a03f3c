#!/usr/bin/env bash
# test_scale_128.sh: 128 real shed-node processes, each in its own network
# namespace on one bridge (harness.sh topology; node 1 is the seed), with
# bounded peer connections (docs/state.md, "Connections per node"):
#   1. membership converges: every node reports 128 members alive
#   2. state reaches everyone: node 1's node record is on every node; after
#      `tags set` on node 1 its new version reaches every node (pushes and
#      rumors over the bounded subsets; the time is printed)
#   3. a shed created on node 1 (netns driver, H_DRIVER) is listed by the
#      farthest node (node N)
#   4. no node crashed (every process alive, no assertion in any log) and
#      no socket creation failed (links and rpc sock_fail 0)
#   5. fds per node bounded: the most /proc/PID/fd entries of any node is
#      printed and must stay under SCALE_FDS_MAX (default 400; the full mesh
#      held 1,309 at 100 nodes)
#   6. [BUS] events of node 1's shed reach a consumer on node N over the
#      bus's routing tree (docs/events.md); SCALE_CHECK_BUS=0 skips it.
# Env: SCALE_N (default 128), SCALE_FDS_MAX, SCALE_CHECK_BUS, H_DRIVER. Prints
# `RESULT nodes=N converge_s=.. tag_ms=.. fds_per_node_max=.. total_s=..`.
set -euo pipefail
export SHED_LOG_LEVEL=${SHED_LOG_LEVEL:-info}
export SHED_TEST_DEADLINE=${SHED_TEST_DEADLINE:-900}
. "$(dirname "$0")/harness.sh"

N=${SCALE_N:-128}
FDS_MAX_ALLOWED=${SCALE_FDS_MAX:-400}
((N >= 3 && N <= 200)) || h_fail "SCALE_N must be 3..200"
T_START=$SECONDS

h_init "$N"
h_sheds_init

# Permanent neighbour entries: the kernel's ARP table is shared by every
# namespace and N(N-1) learnt entries overflow it above ~32 nodes (see
# bench/membership.sh, static_neighbours).
static_neighbours() {
    local i j mac=()
    for ((i = 1; i <= N; i++)); do
        mac[i]=$(ip -n "${H_NS[$i]}" -o link show eth0 | sed -n 's/.*link\/ether \([0-9a-f:]*\).*/\1/p')
        [[ -n "${mac[i]}" ]] || h_fail "no MAC for node $i"
    done
    for ((i = 1; i <= N; i++)); do
        for ((j = 1; j <= N; j++)); do
            ((i == j)) || echo "neigh replace $(h_addr "$j") lladdr ${mac[j]} dev eth0 nud permanent"
        done >"$H_TMP/neigh.$i"
        ip -n "${H_NS[$i]}" -batch "$H_TMP/neigh.$i" || h_fail "cannot add static neighbours in node $i"
    done
}
static_neighbours

# Small capacities; the shed goes to node 1 by constraint.
for ((i = 1; i <= N; i++)); do
    h_sheds_config "$i" >/dev/null
    h_start_node "$i" --config "$H_TMP/n$i/config.yaml" 2>/dev/null
done
for ((i = 1; i <= N; i++)); do h_wait_ready "$i" 60 2>/dev/null; done
h_log "all $N nodes ready after $((SECONDS - T_START)) s"

# wait_all TIMEOUT WHAT CHECK: until CHECK i succeeds for every node (each
# node is checked until it passes once).
wait_all() {
    local timeout=$1 what=$2 check=$3 i deadline=$((SECONDS + $1))
    local -a done_=()
    local left=$N
    while ((left > 0)); do
        for ((i = 1; i <= N; i++)); do
            [[ -z "${done_[$i]:-}" ]] || continue
            h_alive "$i" || h_fail "node $i exited (see its log)"
            if "$check" "$i"; then
                done_[i]=1
                left=$((left - 1))
            fi
        done
        ((left == 0)) && break
        ((SECONDS < deadline)) || h_fail "$what: $left of $N nodes not there after ${timeout}s"
        sleep 0.5
    done
}

# 1. membership
T0=$SECONDS
all_alive() { [[ "$(h_members_alive "$1")" == "$N" ]]; }
wait_all 180 "membership" all_alive
CONVERGE_S=$((SECONDS - T0))
h_log "1. membership converged: $N alive on every node (${CONVERGE_S} s after ready)"

# 2. state: node 1's node record everywhere, then a tag change
node1_version() {
    h_ctl "$1" --json state node 2>/dev/null | /usr/bin/python3 -c '
import json, sys
try:
    rows = json.load(sys.stdin)
except ValueError:
    rows = []
if isinstance(rows, dict):
    rows = rows.get("records", [])
v = [r["version"] for r in rows if r.get("origin") == "node1" and r.get("kind") == "node"]
print(max(v) if v else 0)'
}
has_node1() { (($(node1_version "$1") > 0)); }
wait_all 120 "node1's node record" has_node1
h_log "2a. node1's node record is on every node"

h_ctl 1 tags set scale=on >/dev/null || h_fail "tags set on node 1"
T_TAG=$(date +%s%3N)
WANT=$(node1_version 1)
has_new() { (($(node1_version "$1") >= WANT)); }
# Checking N nodes one by one takes a while itself: node N (the farthest)
# first, for the propagation time, then everyone.
h_retry 60 has_new "$N" || h_fail "node $N never saw node1's node record v$WANT"
TAG_MS=$(($(date +%s%3N) - T_TAG))
wait_all 60 "node1's record v$WANT" has_new
h_log "2b. node1's node record v$WANT (tag scale=on) on node $N after ${TAG_MS} ms, then on every node"

# 3. a shed created on node 1, listed by node N
h_ctl 1 create scale1 --cpus 0.5 --memory 128M --constraint node=node1 >/dev/null \
    || h_fail "create scale1 on node 1"
listed() {
    h_ctl "$1" --json list 2>/dev/null | /usr/bin/python3 -c '
import json, sys
try:
    rows = json.load(sys.stdin)
except ValueError:
    rows = []
sys.exit(0 if any(r.get("name") == "scale1" and r.get("node") == "node1" for r in rows) else 1)'
}
h_retry 30 listed "$N" || h_fail "node $N does not list scale1"
h_log "3. scale1 (on node1) listed by node $N"

# 6. [BUS] events from node 1's shed reach a consumer on node N.
if [[ "${SCALE_CHECK_BUS:-1}" == 1 ]]; then
    h_consume "$N" "$H_TMP/events.json" --timeout 20
    sleep 1
    h_ctl 1 stop scale1 >/dev/null || h_fail "stop scale1"
    wait "$H_CONSUME_PID" || true
    h_check_events "$H_TMP/events.json" '
if not any("scale1" in json.dumps(e) for e in events):
    fail("no event of scale1 reached node '"$N"'")'
    h_log "6. [BUS] an event of scale1 reached a consumer on node $N"
else
    h_log "6. [BUS] skipped (SCALE_CHECK_BUS=0)"
fi

# 4 and 5: nobody crashed, no socket failure, fds bounded.
FDS_MAX=0 FDS_AT=0 FDS_SUM=0
for ((i = 1; i <= N; i++)); do
    h_alive "$i" || h_fail "node $i exited"
    # fds come and go while ls reads: its status means nothing here.
    n=$( (ls /proc/"${H_PID[$i]}"/fd 2>/dev/null || true) | wc -l)
    FDS_SUM=$((FDS_SUM + n))
    if ((n > FDS_MAX)); then FDS_MAX=$n FDS_AT=$i; fi
done
if grep -l "Assertion\|Aborted\|Segmentation" "$H_TMP"/n*/node.log >/dev/null 2>&1; then
    h_fail "a node log shows a crash: $(grep -l "Assertion\|Aborted" "$H_TMP"/n*/node.log | head -3)"
fi
sock_fail() {
    h_exec "$1" curl -s --max-time 5 http://127.0.0.1:7951/metrics 2>/dev/null | awk '/^shed_(state|rpc)_socket_failures_total /{s += $2} END {print s + 0}'
}
for i in 1 $((N / 2)) "$N"; do
    f=$(sock_fail "$i")
    [[ -z "$f" || "$f" == 0 ]] || h_fail "node $i counted $f socket creation failures"
done
h_log "4. all $N nodes alive, no crash in any log"
h_log "5. fds per node: max $FDS_MAX (node $FDS_AT), mean $((FDS_SUM / N)), limit $FDS_MAX_ALLOWED"
((FDS_MAX <= FDS_MAX_ALLOWED)) || h_fail "node $FDS_AT holds $FDS_MAX fds (limit $FDS_MAX_ALLOWED)"

echo "RESULT nodes=$N converge_s=$CONVERGE_S tag_ms=$TAG_MS fds_per_node_max=$FDS_MAX fds_per_node_mean=$((FDS_SUM / N)) total_s=$((SECONDS - T_START))"
h_log "PASS"
