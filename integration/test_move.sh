#!/usr/bin/env bash
# integration/test_move.sh: moving container sheds between real nodes
# (docs/snapshots.md, "Move"), 3 nodes, real runc:
#   1. WEB (node 1) holds a file; PEER (node 3) pings WEB's overlay address
#      all along; `shedctl move WEB --to node2` asked on node 3: WEB runs on
#      node 2 with the same name, address and MAC and the file; node 1 has
#      nothing of it left; PEER's pings answer again, the gap is reported;
#   2. the target dies during a move (WEB holds 64 MB, node 3 is killed
#      while it fetches): the move fails with the reason, WEB runs again
#      on its node with its data; node 3 comes back;
#   2b. the source dies right after the target started (fault injection:
#      SHED_TEST_MOVE_CRASH): back, it removes its stale copy; one WEB runs;
#   3. refusals: a move to the node it is on, of an unknown shed;
#   4. `node drain node3 --move`: every shed leaves node 3 (placement picks
#      where), names and data kept.
# Only 198.18.0.0/16 and 198.19.0.0/16 inside namespaces this run creates.
# Needs root, runc, busybox-static, a static shed-agent; exits 77 (skip)
# otherwise.
set -euo pipefail
# shellcheck source-path=SCRIPTDIR
. "$(dirname "$0")/harness.sh"

h_container_require h_skip

N=3
h_init "$N"
h_sheds_init
h_container_init
WEB="web$$"
PEER="peer$$"

for ((i = 1; i <= N; i++)); do h_start_node "$i" --config "$(h_sheds_config "$i")"; done
for ((i = 1; i <= N; i++)); do h_wait_ready "$i" 30; done
h_wait_members "$N" 20 || h_fail "the $N nodes did not see each other"
h_import_busybox "$N"

create() { h_ctl "$1" create "${@:2}" >"$H_TMP/create.out" 2>&1; }
shed_field() {
    h_ctl "$1" show "$2" --json 2>/dev/null \
        | /usr/bin/python3 -c 'import json, sys; print(json.load(sys.stdin).get(sys.argv[1], ""))' "$3"
}
prov() {
    SHED_CTL_TIMEOUT=30 h_ctl "$1" provision "$2" --step "$3" "${@:4}" 2>&1 \
        | sed '/^--- step-[0-9]*: /,$d; s/^\[step-[0-9]*\] //' | grep -v '^shedctl: run ' || true
}
agent_up() { [[ "$(prov "$1" "$2" 'echo up')" == *up* ]]; }
on_node() { [[ "$(shed_field 1 "$1" node)" == "$2" && "$(shed_field 1 "$1" state)" == running ]]; }

h_retry 20 create 1 "$WEB" --node node1 --image busybox --disk 256M --memory 128M \
    || h_fail "create $WEB: $(cat "$H_TMP/create.out")"
h_retry 20 create 3 "$PEER" --node node3 --image busybox \
    || h_fail "create $PEER: $(cat "$H_TMP/create.out")"
h_retry 20 agent_up 1 "$WEB" || h_fail "the agent of $WEB does not answer"
h_retry 20 agent_up 3 "$PEER" || h_fail "the agent of $PEER does not answer"
IP=$(shed_field 1 "$WEB" ip)
IP=${IP%%/*}
MAC=$(shed_field 1 "$WEB" mac)

h_log "--- 1. move $WEB node1 -> node2 while $PEER pings $IP"
prov 1 "$WEB" 'echo kept-across > /data.txt; sync' --user root >/dev/null
# The pings come from PEER's network namespace (the host's ping, entered
# with nsenter): the same path a shed's packets take, without needing
# CAP_NET_RAW inside the shed's user namespace.
ppid=$(h_shed_pid "$PEER" 3)
[[ -n "$ppid" ]] || h_fail "no PID 1 for $PEER"
peer_ping() { nsenter -t "$ppid" -n ping -c1 -W1 "$IP" >/dev/null 2>&1; }
h_retry 20 peer_ping || h_fail "$PEER cannot ping $WEB before the move"
nsenter -t "$ppid" -n ping -i 0.1 -W1 "$IP" >"$H_TMP/ping.log" 2>&1 &
pingpid=$!
sleep 1
h_ctl 3 move "$WEB" --to node2 --json >"$H_TMP/move.json" 2>&1 \
    || h_fail "move: $(cat "$H_TMP/move.json")"
h_log "move: $(cat "$H_TMP/move.json")"
h_retry 10 on_node "$WEB" node2 || h_fail "$WEB is not running on node2: $(h_ctl 1 show "$WEB")"
h_assert_eq "$IP" "$(shed_field 1 "$WEB" ip | cut -d/ -f1)" "$WEB's address after the move"
h_assert_eq "$MAC" "$(shed_field 1 "$WEB" mac)" "$WEB's MAC after the move"
h_retry 20 agent_up 2 "$WEB" || h_fail "the agent of $WEB does not answer on node 2"
h_assert_eq kept-across "$(prov 2 "$WEB" 'cat /data.txt' | tail -1)" "/data.txt after the move"
h_assert_eq 1 "$(h_ctl 1 list --json | /usr/bin/python3 -c "import json,sys; print(sum(1 for s in json.load(sys.stdin) if s['name']=='$WEB'))")" \
    "sheds named $WEB in the cluster"
[[ ! -e "$(h_datadir 1)/sheds/$WEB" ]] || h_fail "node 1 kept $WEB's directory"
answered() { tail -3 "$H_TMP/ping.log" | grep -q "bytes from $IP"; }
h_retry 20 answered || h_fail "$WEB's address does not answer after the move: $(tail -5 "$H_TMP/ping.log")"
kill "$pingpid" 2>/dev/null || true
wait "$pingpid" 2>/dev/null || true
gap=$(/usr/bin/python3 -c '
import re, sys
seqs = [int(m.group(1)) for m in re.finditer(r"icmp_seq=(\d+)", open(sys.argv[1]).read())]
gaps = [b - a for a, b in zip(seqs, seqs[1:])]
print(int((max(gaps) if gaps else 0) * 100))' "$H_TMP/ping.log")
h_log "$WEB on node2 at $IP ($MAC), /data.txt kept; ping gap ${gap} ms"

h_log "--- 2. the target dies during a move"
prov 2 "$WEB" 'dd if=/dev/urandom of=/big bs=1M count=64 2>/dev/null; sync' --user root >/dev/null
h_ctl 2 move "$WEB" --to node3 >"$H_TMP/move2.out" 2>&1 &
mpid=$!
fetching() { grep -q "snapshot fetch.*name=mv-.*from=node2" "$(h_logfile 3)"; }
h_retry 30 fetching || h_fail "node 3 never started fetching $WEB: $(cat "$H_TMP/move2.out")"
h_kill 3
rc=0
wait "$mpid" || rc=$?
((rc != 0)) || h_fail "a move whose target died succeeded: $(cat "$H_TMP/move2.out")"
h_log "move refused: $(cat "$H_TMP/move2.out")"
h_retry 20 on_node "$WEB" node2 || h_fail "$WEB is not running on node 2 again: $(h_ctl 1 show "$WEB")"
h_retry 20 agent_up 2 "$WEB" || h_fail "the agent of $WEB did not come back"
h_assert_eq kept-across "$(prov 2 "$WEB" 'cat /data.txt' | tail -1)" "/data.txt after a failed move"
h_start_node 3 --config "$H_TMP/n3/config.yaml"
h_wait_ready 3 30
h_wait_members "$N" 30 || h_fail "node 3 did not come back"
left=$(ls "$(h_datadir 3)/snapshots/fetch/" 2>/dev/null | grep '^mv-' || true)
[[ -z "$left" ]] || h_fail "node 3 kept the copy of an interrupted move: $left"

h_log "--- 2b. the source dies after the target started; back, it drops its stale copy"
# SHED_TEST_MOVE_CRASH: node 2 exits (as a kill -9 would) right after
# node 3 answered that WEB runs there, before node 2 removed its copy.
h_stop_node 2
SHED_TEST_MOVE_CRASH=1 h_start_node 2 --config "$H_TMP/n2/config.yaml"
h_wait_ready 2 30
h_wait_members "$N" 30 || h_fail "node 2 did not come back"
h_retry 20 on_node "$WEB" node2 || h_fail "$WEB not re-adopted on node 2"
h_ctl 1 move "$WEB" --to node3 >"$H_TMP/move3.out" 2>&1 || true
h_retry 20 eval '! h_alive 2' || h_fail "node 2 did not exit after the target started"
h_retry 20 on_node "$WEB" node3 || h_fail "$WEB is not running on node 3: $(h_ctl 1 show "$WEB")"
h_start_node 2 --config "$H_TMP/n2/config.yaml"
h_wait_ready 2 30
h_retry 30 eval "grep -q 'stale copy of a moved shed.*shed=$WEB' '$(h_logfile 2)'" \
    || h_fail "node 2 kept its stale copy of $WEB"
count() { h_ctl 1 list --json | /usr/bin/python3 -c "import json,sys; print(sum(1 for s in json.load(sys.stdin) if s['name']=='$WEB'))"; }
h_retry 20 eval '[[ "$(count)" == 1 ]]' || h_fail "$WEB is listed $(count) times"
h_retry 20 eval "[[ ! -e '$(h_datadir 2)/sheds/$WEB' ]]" || h_fail "node 2 kept $WEB's directory"
h_retry 20 agent_up 3 "$WEB" || h_fail "the agent of $WEB does not answer on node 3"
h_assert_eq kept-across "$(prov 3 "$WEB" 'cat /data.txt' | tail -1)" "/data.txt on node 3"
h_log "node 2 died after node 3 started $WEB; back, it removed its stale copy"

h_log "--- 3. refusals"
out=$(h_ctl 1 move "$WEB" --to node3 2>&1) && h_fail "a move to its own node: $out"
[[ "$out" == *"already runs on node3"* ]] || h_fail "move to its node: $out"
out=$(h_ctl 1 move "nosuch$$" 2>&1) && h_fail "a move of an unknown shed: $out"
[[ "$out" == *"no shed named"* ]] || h_fail "unknown shed: $out"
# A target without room refuses the claim: the shed runs on where it was.
HOG="hog$$"
h_retry 20 create 1 "$HOG" --node node1 --image busybox --cpus 3.5 \
    || h_fail "create $HOG: $(cat "$H_TMP/create.out")"
out=$(h_ctl 2 move "$WEB" --to node1 2>&1) && h_fail "a move to a full node: $out"
[[ "$out" == *"node node1: "* ]] || h_fail "move to a full node: $out"
h_retry 20 on_node "$WEB" node3 || h_fail "$WEB does not run on node 3 after a refused move"
h_ctl 1 delete "$HOG" >/dev/null || h_fail "delete $HOG"
h_log "a move to a full node refused: ${out#shedctl: }"

h_log "--- 4. node drain node3 --move: three sheds leave it"
EXTRA="extra$$"
h_retry 20 create 1 "$EXTRA" --node node3 --image busybox \
    || h_fail "create $EXTRA: $(cat "$H_TMP/create.out")"
h_assert_eq 3 "$(h_ctl 1 list --node node3 --json | /usr/bin/python3 -c 'import json,sys; print(len(json.load(sys.stdin)))')" \
    "sheds on node3 before the drain"
h_ctl 1 node drain node3 --move >"$H_TMP/drain.out" 2>&1 || h_fail "drain --move: $(cat "$H_TMP/drain.out")"
h_log "drain: $(tr '\n' ' ' <"$H_TMP/drain.out")"
left() { [[ "$(shed_field 1 "$WEB" node)" != node3 && "$(shed_field 1 "$WEB" state)" == running ]]; }
h_retry 20 left || h_fail "$WEB is still on node3 after drain --move"
to=$(shed_field 1 "$WEB" node)
h_retry 20 agent_up "${to#node}" "$WEB" || h_fail "the agent of $WEB does not answer on $to"
h_assert_eq kept-across "$(prov "${to#node}" "$WEB" 'cat /data.txt' | tail -1)" "/data.txt after drain --move"
h_assert_eq "$IP" "$(shed_field 1 "$WEB" ip | cut -d/ -f1)" "$WEB's address after drain --move"
for s in "$PEER" "$EXTRA"; do
    h_retry 20 eval '[[ "$(shed_field 1 "$s" node)" != node3 && "$(shed_field 1 "$s" state)" == running ]]' \
        || h_fail "$s did not leave node3"
done
grep -q "node3 holds no sheds" "$H_TMP/drain.out" || h_fail "drain output: $(cat "$H_TMP/drain.out")"
# Progress on the CLI: the bus's progress events, printed while moves run.
grep -qE "^shedctl: snapshot mv-[0-9a-f]+-$WEB from node3: .* \(100%\) done" "$H_TMP/drain.out" \
    || h_fail "no transfer progress in the drain output: $(cat "$H_TMP/drain.out")"
grep -q "^shedctl: move $WEB to node[12]: done" "$H_TMP/drain.out" || h_fail "no move progress"

h_ctl 1 delete "$WEB" >/dev/null || h_fail "delete $WEB"
h_ctl 1 delete "$PEER" >/dev/null || h_fail "delete $PEER"
h_ctl 1 delete "$EXTRA" >/dev/null || h_fail "delete $EXTRA"
h_log "PASS"
