#!/usr/bin/env bash
# integration/test_hostile_gossip.sh: an outsider in the underlay, without
# the cluster key, against membership (docs/membership.md section 1).
#
# Three nodes. From extra addresses in node 3's namespace (198.18.1.1-60,
# not any member's address) an outsider keeps 300 TCP connections to node
# 1's gossip port open (5 per address): half send nothing, half garbage.
# Meanwhile node 4 joins and the cluster key is rotated (install K2, use
# K2, remove K1). A raw AF_PACKET socket in node 1's namespace captures the
# sealed gossip datagrams (UDP 7946) node 1 receives during the rotation;
# afterwards every captured datagram is replayed to node 1. Then:
#   - node 4 joined and the rotation answered OK on every node, each holding
#     exactly the new key;
#   - the four views agree (all alive) and stay so after the replay; no
#     member was marked failed;
#   - node 1's /metrics show the drops: connections refused per source and
#     closed before authenticating, and every replayed datagram dropped as a
#     replay (sealed with K2) or by key id (sealed with K1, now removed).
#
# Needs root, python3, curl; exits 77 (skip) otherwise. Everything lives in
# namespaces this run creates and deletes; only 198.18.0.0/16 addresses.
set -euo pipefail
# shellcheck source-path=SCRIPTDIR
. "$(dirname "$0")/harness.sh"

h_init 4
command -v python3 >/dev/null || h_skip "python3 not installed"
command -v curl >/dev/null || h_skip "curl not installed (scripts/install-deps.sh)"

URL=http://127.0.0.1:7951/metrics
N1=$(h_addr 1)

# metric NAME LABELS: node 1's value of one counter (0 if absent).
metric() {
    h_exec 1 curl -s --max-time 5 "$URL" | awk -v k="$1{$2}" '$1 == k { print $2; f = 1 } END { if (!f) print 0 }'
}

# views_agree N: every running node sees the same N members, all alive.
views_agree() {
    local want=$1 i v first=""
    for ((i = 1; i <= 4; i++)); do
        h_alive "$i" || continue
        v=$(h_ctl "$i" members --json 2>/dev/null | python3 -c '
import json, sys
m = json.load(sys.stdin)
m = m.get("members", m) if isinstance(m, dict) else m
print(",".join(sorted(x["name"] + ":" + x["status"] for x in m)))' 2>/dev/null) || return 1
        [[ $(tr ',' '\n' <<<"$v" | grep -c ':alive$') == "$want" ]] || return 1
        [[ -z "$first" || "$v" == "$first" ]] || return 1
        first=$v
    done
}

for i in 1 2 3; do h_start_node "$i"; done
for i in 1 2 3; do h_wait_ready "$i"; done
h_wait_members 3 15 || h_fail "3 nodes did not converge"
h_log "3 nodes converged"

# The outsider's addresses: 60 on node 3's eth0, none a member's.
for ((a = 1; a <= 60; a++)); do
    h_exec 3 ip addr add "198.18.1.$a/16" dev eth0
done

cat >"$H_TMP/outsider.py" <<'PY'
# 300 connections to the gossip port, 5 from each of 60 addresses; odd ones
# send garbage. Closed ones are reopened, until the stop file appears.
import os, socket, sys, time
target, stop = (sys.argv[1], 7946), sys.argv[2]
def dial(i):
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.setblocking(False)
    s.bind(("198.18.1.%d" % (1 + i // 5), 0))
    try:
        s.connect(target)
    except BlockingIOError:
        pass
    return s
conns = [dial(i) for i in range(300)]
opened = 300
end = time.time() + 120      # never outlive the run (its temp dir may go first)
while not os.path.exists(stop) and os.path.isdir(os.path.dirname(stop)) and time.time() < end:
    time.sleep(0.2)
    for i, s in enumerate(conns):
        try:
            if i % 2:
                s.send(os.urandom(97))
            else:
                s.recv(1, socket.MSG_DONTWAIT | socket.MSG_PEEK)
                raise ConnectionError      # readable: closed by the node
        except (BlockingIOError, InterruptedError):
            continue
        except OSError:
            s.close()
            conns[i] = dial(i)
            opened += 1
print("opened", opened)
PY

cat >"$H_TMP/capture.py" <<'PY'
# Sealed gossip datagrams arriving at node 1 (UDP dst port 7946), captured
# on eth0 until the stop file appears; written as 2-byte length + payload.
import os, socket, struct, sys, time
me, out, stop = sys.argv[1], sys.argv[2], sys.argv[3]
end = time.time() + 120      # never outlive the run (its temp dir may go first)
s = socket.socket(socket.AF_PACKET, socket.SOCK_DGRAM, socket.htons(0x0800))
s.bind(("eth0", 0))
s.settimeout(0.2)
n = 0
with open(out, "wb") as f:
    while not os.path.exists(stop) and os.path.isdir(os.path.dirname(stop)) and time.time() < end:
        try:
            pkt = s.recv(65535)
        except socket.timeout:
            continue
        ihl = (pkt[0] & 15) * 4
        if pkt[9] != 17 or socket.inet_ntoa(pkt[16:20]) != me:
            continue
        sport, dport = struct.unpack("!HH", pkt[ihl:ihl + 4])
        if dport != 7946 or socket.inet_ntoa(pkt[12:16]).startswith("198.18.1."):
            continue
        payload = pkt[ihl + 8:]
        f.write(struct.pack("!H", len(payload)) + payload)
        n += 1
print("captured", n)
PY

h_exec 1 python3 "$H_TMP/capture.py" "$N1" "$H_TMP/captured.bin" "$H_TMP/stop" \
    >"$H_TMP/capture.log" 2>&1 &
CAP_PID=$!
h_exec 3 python3 "$H_TMP/outsider.py" "$N1" "$H_TMP/stop" >"$H_TMP/outsider.log" 2>&1 &
OUT_PID=$!
stop_helpers() {
    touch "$H_TMP/stop"
    wait "$CAP_PID" "$OUT_PID" 2>/dev/null || true
}
sleep 1
mark=$(wc -l <"$(h_logfile 1)")

# Under attack: a 4th node joins, then the key is rotated.
h_start_node 4
h_wait_ready 4
h_wait_members 4 15 || h_fail "node 4 did not join while node 1 was under attack"
h_log "node 4 joined under attack"
old_key=$H_KEY
new_key=$("$H_CTL_BIN" keygen)
h_ctl 1 keys install "$new_key" || h_fail "keys install failed under attack"
h_ctl 2 keys use "$new_key" || h_fail "keys use failed under attack"
sleep 2     # gossip sealed with K2 to capture
h_ctl 3 keys remove "$old_key" || h_fail "keys remove failed under attack"
out=$(h_ctl 4 keys list --json)
echo "$out" | python3 -c '
import json, sys
r = json.load(sys.stdin)
assert r["status"] == "OK", r
assert sorted(n["name"] for n in r["nodes"]) == ["node1", "node2", "node3", "node4"], r
ids = {n["key_ids"] for n in r["nodes"]}
assert len(ids) == 1 and "," not in ids.pop(), r
' || h_fail "after rotation not every node holds exactly the new key: $out"
h_log "key rotated under attack"
stop_helpers
h_log "$(cat "$H_TMP/outsider.log") connections; $(cat "$H_TMP/capture.log") datagrams"
h_retry 10 views_agree 4 || h_fail "views disagree after the attack"

conn_source=$(metric shed_gossip_connections_dropped_total 'reason="source"')
conn_preauth=$(metric shed_gossip_connections_dropped_total 'reason="preauth"')
((conn_source > 0)) || h_fail "no connection refused per source (drop_conn_source=$conn_source)"
((conn_preauth > 0)) || h_fail "no idle connection closed before its header (drop_preauth=$conn_preauth)"
h_log "connections dropped: source=$conn_source preauth=$conn_preauth full=$(metric shed_gossip_connections_dropped_total 'reason="full"')"

# Replay everything captured to node 1, from an outsider address.
replay0=$(metric shed_gossip_dropped_total 'reason="replay"')
keyid0=$(metric shed_gossip_dropped_total 'reason="keyid"')
sent=$(h_exec 3 python3 - "$N1" "$H_TMP/captured.bin" <<'PY'
import socket, struct, sys, time
data = open(sys.argv[2], "rb").read()
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind(("198.18.1.1", 0))
off = n = 0
while off + 2 <= len(data):
    (l,) = struct.unpack("!H", data[off:off + 2])
    s.sendto(data[off + 2:off + 2 + l], (sys.argv[1], 7946))
    off += 2 + l
    n += 1
    if n % 50 == 0:
        time.sleep(0.01)
print(n)
PY
)
((sent > 0)) || h_fail "nothing captured to replay"
dropped() {
    local r k
    r=$(metric shed_gossip_dropped_total 'reason="replay"')
    k=$(metric shed_gossip_dropped_total 'reason="keyid"')
    ((r - replay0 >= 1 && (r - replay0) + (k - keyid0) >= sent))
}
h_retry 10 dropped || h_fail "replayed $sent datagrams: drop_replay $replay0 -> $(metric shed_gossip_dropped_total 'reason="replay"'), drop_keyid $keyid0 -> $(metric shed_gossip_dropped_total 'reason="keyid"')"
h_log "replayed $sent datagrams: drop_replay +$(($(metric shed_gossip_dropped_total 'reason="replay"') - replay0)), drop_keyid +$(($(metric shed_gossip_dropped_total 'reason="keyid"') - keyid0))"

sleep 2
views_agree 4 || h_fail "views disagree after the replay"
out=$(h_ctl 1 keys list --json)
echo "$out" | python3 -c '
import json, sys
r = json.load(sys.stdin)
assert r["status"] == "OK" and len({n["key_ids"] for n in r["nodes"]}) == 1, r' \
    || h_fail "keys differ after the replay: $out"
if tail -n +"$((mark + 1))" "$(h_logfile 1)" | grep -q 'msg="member fail"'; then
    h_fail "a member was marked failed during the attack"
fi
for i in 1 2 3 4; do h_alive "$i" || h_fail "node $i died"; done
h_log "PASS: joins and a key rotation under 300 hostile connections; replays dropped"
