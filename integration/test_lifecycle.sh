#!/usr/bin/env bash
# integration/test_lifecycle.sh: the daemon's lifecycle on real hosts
# (docs/operations.md "Signals", "Addresses", "Ports"; docs/membership.md
# "Force-leave"), with 4 nodes in namespaces:
#   - --check-config lists every bad value as FILE:LINE (exit 1), "ok" (0);
#   - node 2 runs under a fake systemd (NOTIFY_SOCKET, WATCHDOG_USEC): READY=1
#     once serving, WATCHDOG=1 pings, STOPPING=1 at SIGTERM;
#   - SIGHUP on node 2 after its file changed: the new tag reaches node 1,
#     a changed gossip tunable is reported as not reloadable;
#   - node 4 binds 0.0.0.0 with two interfaces, the default route on the
#     second: it advertises that one (not the first, never loopback);
#   - force-leave refuses an alive member; after kill -9 of node 3 and its
#     failure, force-leave from node 1 drops it from every node's list;
#   - node 3 started again while another process holds its gossip port
#     (UDP), then its state links port, then its event bus port (TCP): the
#     start fails naming the holder's pid and the one-line change
#     (node/port_owner.c).
# Needs root; exits 77 (skip) otherwise.
set -euo pipefail
# shellcheck source-path=SCRIPTDIR
. "$(dirname "$0")/harness.sh"

N=4
h_init "$N"

# --- check-config ------------------------------------------------------------
printf 'name: n1\nbind: 0.0.0.0:99999\ngossip:\n  probe_interval_ms: x\nlog_level: info\n' \
    >"$H_TMP/bad.yaml"
out=$("$H_NODE_BIN" --check-config "$H_TMP/bad.yaml") && h_fail "--check-config accepted a bad file"
h_log "check-config: $out"
grep -q "^$H_TMP/bad.yaml:2: key 'bind'" <<<"$out" || h_fail "no line-2 error: $out"
grep -q "^$H_TMP/bad.yaml:4: key 'gossip.probe_interval_ms'" <<<"$out" || h_fail "no line-4 error: $out"

# Node 2's file, also checked.
cfg2="$H_TMP/n2.yaml"
printf 'log_level: info\ntags:\n  role: a\n' >"$cfg2"
h_assert_eq ok "$(h_exec 2 "$H_NODE_BIN" --check-config "$cfg2")" "check-config of a good file"

# --- a fake systemd for node 2 -----------------------------------------------
notify_sock="$H_TMP/notify.sock"
notify_log="$H_TMP/notify.log"
python3 -c '
import socket, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.bind(sys.argv[1])
with open(sys.argv[2], "a", buffering=1) as f:
    while True:
        f.write(s.recv(4096).decode().replace("\n", " ") + "\n")
' "$notify_sock" "$notify_log" &
H_STARTED_PIDS+=("$!")
for _ in $(seq 50); do [[ -S "$notify_sock" ]] && break; sleep 0.1; done

h_start_node 1
NOTIFY_SOCKET="$notify_sock" WATCHDOG_USEC=1000000 h_start_node 2 --config "$cfg2"
h_start_node 3
for i in 1 2 3; do h_wait_ready "$i" 30; done
h_wait_members 3 30 || h_fail "3 nodes did not see each other"
h_retry 10 grep -q "READY=1" "$notify_log" || h_fail "no READY=1 from node 2"
h_retry 10 grep -q "WATCHDOG=1" "$notify_log" || h_fail "no WATCHDOG=1 from node 2"
h_log "notify: $(tr '\n' '|' <"$notify_log")"

# --- SIGHUP --------------------------------------------------------------------
tag_of() { # tag_of OBSERVER NODE KEY
    h_ctl "$1" --json members | python3 -c '
import json, sys
for m in json.load(sys.stdin):
    if m.get("name") == sys.argv[1]:
        print((m.get("tags") or {}).get(sys.argv[2], ""))
' "$2" "$3"
}
h_retry_eq 10 a tag_of 1 node2 role || h_fail "node 1 does not see role=a on node2"
printf 'log_level: debug\ngossip:\n  probe_interval_ms: 700\ntags:\n  role: b\n' >"$cfg2"
kill -HUP "$(h_pid 2)"
h_retry_eq 10 b tag_of 1 node2 role || h_fail "SIGHUP: node 1 does not see role=b"
h_alive 2 || h_fail "node 2 died on SIGHUP"
log2=$(h_logfile 2)
# (The harness's --bind flag wins over the file: the gossip key is the
# one that really changes here.)
h_retry 5 grep -q 'not_reloaded=gossip' "$log2" || h_fail "SIGHUP: a gossip change not reported"
grep -q 'applied=tags' "$log2" || h_fail "SIGHUP: applied keys not logged"
# (The harness passes --log-level, which wins over the file: the level
# change itself is covered by config_test's reload diff.)

# --- force-leave -----------------------------------------------------------------
if out=$(h_ctl 1 force-leave node3 2>&1); then h_fail "force-leave of an alive member accepted"; fi
grep -q "alive" <<<"$out" || h_fail "force-leave refusal does not say alive: $out"
h_kill 3 KILL
failed_on() { h_ctl "$1" members --status failed | grep -q node3; }
h_retry 30 failed_on 1 || h_fail "node 1 never saw node3 fail"
h_ctl 1 force-leave node3 || h_fail "force-leave node3 refused"
listed() { h_ctl "$1" members | grep -c node3 || true; }
for i in 1 2; do
    h_retry_eq 8 0 listed "$i" || h_fail "node $i still lists node3 after force-leave"
done
h_log "node3 gone from every node's list"

# --- a taken port names its holder (node/port_owner.c) ---------------------------
# Node 3 is dead: its namespace is free. A python3 holds first the gossip
# port (UDP), then the state links port (gossip + 1, TCP), then the event
# bus port (gossip + 2, TCP); each start of node 3 must fail naming the
# holder's pid and the one-line change.
held_start() { # held_start PROTO PORT EXPECTED_LINE
    local sockty=SOCK_DGRAM listen=""
    # (SO_REUSEADDR: the killed node's connections may sit in TIME_WAIT.)
    [[ $1 == tcp ]] && { sockty=SOCK_STREAM; listen="s.listen(1)"; }
    h_exec 3 python3 -c "
import socket, time
s = socket.socket(socket.AF_INET, socket.$sockty)
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(('0.0.0.0', $2))
$listen
import os
open('$H_TMP/holder.$2', 'w').write(str(os.getpid()))
time.sleep(60)
" &
    local holder=$!
    H_STARTED_PIDS+=("$holder")
    h_retry 10 test -s "$H_TMP/holder.$2" || h_fail "could not hold port $2/$1 in node 3's namespace"
    local pypid
    pypid=$(cat "$H_TMP/holder.$2")
    h_start_node 3
    local rc=0
    wait "$(h_pid 3)" || rc=$?
    H_PID[3]=""
    kill "$pypid" "$holder" 2>/dev/null || true
    wait "$holder" 2>/dev/null || true
    [[ $rc != 0 ]] || h_fail "node 3 started although port $2/$1 was taken"
    local want=${3//HOLDER/$pypid}
    grep -qxF "$want" "$(h_logfile 3)" \
        || h_fail "port $2/$1 taken: expected '$want', got: $(tail -n 3 "$(h_logfile 3)")"
    h_log "port $2/$1 taken: $(tail -n 1 "$(h_logfile 3)")"
}
held_start udp "$H_GOSSIP_PORT" "shed-node: port 7946/udp (gossip) is held by pid HOLDER (python3); Serf and Docker Swarm use 7946: move shed-node with 'bind: 0.0.0.0:7956' (it uses 7946-7950)"
held_start tcp $((H_GOSSIP_PORT + 1)) "shed-node: port 7947/tcp (replicated state) is held by pid HOLDER (python3); shed-node uses gossip port + 1..4: move it with 'bind: 0.0.0.0:7956'"
held_start tcp $((H_GOSSIP_PORT + 2)) "shed-node: port 7948/tcp (event bus) is held by pid HOLDER (python3); shed-node uses gossip port + 1..4: move it with 'bind: 0.0.0.0:7956'"

# --- STOPPING at SIGTERM ------------------------------------------------------------
h_stop_node 2 || h_fail "node 2 did not stop cleanly"
h_retry 5 grep -q "STOPPING=1" "$notify_log" || h_fail "no STOPPING=1 at SIGTERM"

# --- advertise selection: two interfaces, default route on the second ---------------
ns4=$(h_ns 4)
ip -n "$ns4" link add dum0 type veth peer name dum1
ip -n "$ns4" link set dum1 up
ip -n "$ns4" addr add 198.18.77.4/24 dev dum0
ip -n "$ns4" link set dum0 up
ip -n "$ns4" route add default dev dum0
h_start_node 4 --bind "0.0.0.0:$H_GOSSIP_PORT"
h_wait_ready 4 30
h_retry 5 grep -q 'msg="advertising" addr=198.18.77.4 ' "$(h_logfile 4)" \
    || h_fail "node 4 does not advertise the default route's interface (198.18.77.4)"
out=$(h_ctl 4 --json status) || h_fail "node 4: status failed"
grep -q '"addr":"198.18.77.4"' <<<"$out" || h_fail "node 4 status: $out"
h_log "PASS"
