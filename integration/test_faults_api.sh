#!/usr/bin/env bash
# integration/test_faults_api.sh: API calls answer within their deadline while
# peers are stopped (SIGSTOP) or partitioned (docs/scheduling.md,
# "Deadlines" and "Coordinator failover").
#
# 5 nodes, netns sheds. Every timed call must end by its deadline + 2 s:
#   1. node5 stopped: a create whose name coordinator is node5 succeeds
#      through failover; creates pinned to running nodes succeed; a create
#      pinned to node5 and a delete of a shed on node5 answer "outcome
#      unknown ... --request-id"; a join to an address nobody answers says
#      the address and why.
#   2. node5 continued: the delete retried with its request id succeeds.
#   3. node2 <-> node4 partitioned: a create from node2 pinned to node4
#      answers within its deadline.
#   4. healed: every acknowledged create is on every node, the acknowledged
#      delete on none, and every node's list agrees.
set -euo pipefail
. "$(dirname "$0")/harness.sh"

export SHED_CTL_TIMEOUT=30          # the calls bound themselves; this is a backstop
SHED_TEST_DEADLINE=${SHED_TEST_DEADLINE:-150}
h_init 5
h_sheds_init
for i in 1 2 3 4 5; do h_start_node "$i" --config "$(h_sheds_config "$i")"; done
for i in 1 2 3 4 5; do h_wait_ready "$i"; done
h_wait_members 5 20 || h_fail "5 nodes did not see each other"
node_records_ok() {
    h_ctl "$1" --json state node 2>/dev/null | python3 -c '
import json, sys
r = json.load(sys.stdin)
sys.exit(0 if len([x for x in r if x.get("kind") == "node"]) >= 5 else 1)'
}
for i in 1 2 3 4 5; do h_retry 15 node_records_ok "$i" || h_fail "node $i lacks node records"; done
sleep 1.5

# timed I DEADLINE_MS ARGS...: shedctl on node i with --timeout DEADLINE_MS;
# sets RC, OUT (stdout+stderr), MS; fails if it took over deadline + 2 s.
MAXMS=0
timed() {
    local i=$1 dl=$2
    shift 2
    local t0 t1
    t0=$(date +%s%N)
    set +e
    OUT=$(h_ctl "$i" --timeout "$dl" "$@" 2>&1)
    RC=$?
    set -e
    t1=$(date +%s%N)
    MS=$(((t1 - t0) / 1000000))
    ((MS > MAXMS)) && MAXMS=$MS
    h_log "node$i: shedctl $* -> rc=$RC in ${MS} ms: $(head -c 300 <<<"$OUT" | tail -1)"
    ((MS <= dl + 2000)) || h_fail "shedctl $* on node$i took ${MS} ms (deadline ${dl} ms)"
}

# The rendezvous coordinator of a name (cluster/names.c names_weight).
coordinator() {
    python3 - "$1" <<'EOF'
import sys
M = (1 << 64) - 1
def w(name, member):
    h = 0xcbf29ce484222325
    for b in name.encode() + b"\0" + member.encode():
        h = ((h ^ b) * 0x100000001b3) & M
    h ^= h >> 30; h = (h * 0xbf58476d1ce4e5b9) & M
    h ^= h >> 27; h = (h * 0x94d049bb133111eb) & M
    h ^= h >> 31
    return h
print(max(["node%d" % i for i in range(1, 6)], key=lambda m: (w(sys.argv[1], m), m)))
EOF
}
FAILOVER=""
for k in $(seq 1 200); do
    if [[ "$(coordinator "fo$k")" == node5 ]]; then FAILOVER="fo$k"; break; fi
done
[[ -n "$FAILOVER" ]] || h_fail "no name coordinated by node5"

ACKED=()                            # acknowledged creates: "name node"
timed 1 8000 create victim --node node5 --cpus 0.1 --memory 32M
((RC == 0)) || h_fail "create victim: $OUT"
timed 2 8000 create base1 --node node3 --cpus 0.1 --memory 32M
((RC == 0)) || h_fail "create base1: $OUT"
ACKED+=("base1 node3")

# ---- 1. node5 stopped ------------------------------------------------------
kill -STOP "$(h_pid 5)"
h_log "node5 stopped (SIGSTOP)"
# Right away, before membership suspects it: the claim and the delete wait
# on node5 and must come back by their deadline as "outcome unknown".
(
    timed 1 4000 create pinned5 --node node5 --cpus 0.1 --memory 32M --request-id rid-pinned5
    ((RC != 0)) || h_fail "create pinned to a stopped node succeeded: $OUT"
    grep -Eq "outcome unknown.*--request-id rid-pinned5|not alive" <<<"$OUT" \
        || h_fail "create pinned to a stopped node: no 'outcome unknown ... request id': $OUT"
) &
P1=$!
# The create whose name coordinator is node5, sent before membership has a
# verdict on node5: the next coordinator in rendezvous order grants it.
(
    timed 3 8000 create "$FAILOVER" --node node4 --cpus 0.1 --memory 32M
    ((RC == 0)) || h_fail "create $FAILOVER (coordinator node5 stopped) failed: $OUT"
) &
P2=$!
timed 2 4000 delete victim --request-id rid-del-victim
((RC != 0)) || h_fail "delete of a shed on a stopped node succeeded: $OUT"
grep -Eq "outcome unknown.*--request-id rid-del-victim|unreachable" <<<"$OUT" \
    || h_fail "delete with its owner stopped: no 'outcome unknown ... request id': $OUT"
wait "$P1" || h_fail "create pinned to a stopped node"
wait "$P2" || h_fail "create through coordinator failover"
ACKED+=("$FAILOVER node4")
for k in 1 2 3 4; do
    timed "$k" 8000 create "s$k" --node "node$(((k % 4) + 1))" --cpus 0.1 --memory 32M
    ((RC == 0)) || h_fail "create s$k on a running node failed: $OUT"
    ACKED+=("s$k node$(((k % 4) + 1))")
done
# A join to an address nobody answers: bounded, with the address and why.
timed 1 5000 join 198.18.0.99:7946
((RC != 0)) || h_fail "join to a silent address succeeded: $OUT"
grep -q "198.18.0.99" <<<"$OUT" || h_fail "join failure does not name the address: $OUT"
grep -q "is it running" <<<"$OUT" && h_fail "join failure blames the local node: $OUT"

# ---- 2. node5 back: retry the delete with its request id ---------------------
kill -CONT "$(h_pid 5)"
h_log "node5 continued"
h_wait_members 5 20 || h_fail "node5 did not come back"
retry_delete() {
    timed 2 8000 delete victim --request-id rid-del-victim
    ((RC == 0))
}
h_retry 15 retry_delete || h_fail "delete victim retried with its request id: $OUT"
timed 2 8000 delete victim --request-id rid-del-victim
((RC == 0)) || h_fail "second retry of the same delete: $OUT"
grep -q "already deleted" <<<"$OUT" || h_fail "retried delete did not say it was done: $OUT"

# ---- 3. partition node2 <-> node4 --------------------------------------------
h_partition 2 4
timed 2 4000 create part24 --node node4 --cpus 0.1 --memory 32M --request-id rid-part24
if ((RC == 0)); then ACKED+=("part24 node4"); fi
timed 1 8000 create part1 --node node3 --cpus 0.1 --memory 32M
((RC == 0)) || h_fail "create on node1 during a partition: $OUT"
ACKED+=("part1 node3")
h_heal

# ---- 4. views agree ------------------------------------------------------------
view() {
    h_ctl "$1" --json list 2>/dev/null | python3 -c '
import json, sys
print(" ".join(sorted("%s@%s:%s" % (s["name"], s["node"], s["state"])
                      for s in json.load(sys.stdin))))'
}
agree() {
    local v1 v
    v1=$(view 1)
    for a in "${ACKED[@]}"; do
        read -r n nd <<<"$a"
        [[ " $v1 " == *" $n@$nd:running "* ]] || return 1
    done
    [[ " $v1 " != *" victim@"* ]] || return 1
    for i in 2 3 4 5; do
        v=$(view "$i")
        [[ "$v" == "$v1" ]] || return 1
    done
}
h_retry 10 agree || { for i in 1 2 3 4 5; do h_log "node$i: $(view "$i")"; done; \
                      h_fail "views disagree or lack an acknowledged operation"; }
h_log "all ${#ACKED[@]} acknowledged creates and the delete agree on 5 nodes; slowest call ${MAXMS} ms"
echo "PASS test_faults_api (slowest call ${MAXMS} ms)"
