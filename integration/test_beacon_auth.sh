#!/usr/bin/env bash
# test_beacon_auth.sh: discovery beacons that do not open with the cluster
# keyring are ignored (docs/membership.md section 1): counted as
# shed_gossip_dropped_total{reason="beacon"} (drop_beacon), no dial.
#   node 1: --discover, no seeds (so any valid beacon would make it join);
#   node 2: --discover with another cluster key: its beacons are sealed with
#           that key;
#   node 3's namespace: python broadcasts unsealed "SHD2" beacons (the right
#           prefix, a plaintext body naming node 3's address).
# node 1 counted beacon drops, is still alone, and never dialled
# node 2 (node 2 dropped no sealed gossip from it) nor node 3 (nothing
# connected to the listener python keeps on node 3's gossip port).
set -euo pipefail
# shellcheck source=harness.sh
. "$(dirname "$0")/harness.sh"

command -v curl >/dev/null || h_skip "curl not installed (scripts/install-deps.sh)"
export ZSYS_INTERFACE=eth0
h_init 3

URL=http://127.0.0.1:7951/metrics
# metric i NAME LABELS: node i's value of one counter (0 if absent); the
# whole page is read first (an early exit would SIGPIPE curl).
metric() {
    local page
    page=$(h_exec "$1" curl -s --max-time 5 "$URL") || page=""
    awk -v k="$2{$3}" '$1 == k { print $2; f = 1 } END { if (!f) print 0 }' <<<"$page"
}

start_discover() {
    local i=$1
    shift
    local log
    log=$(h_logfile "$i")
    ip netns exec "${H_NS[$i]}" "$H_NODE_BIN" --name "$(h_name "$i")" \
        --bind "$(h_addr "$i"):$H_GOSSIP_PORT" --data-dir "$(h_datadir "$i")" \
        --log-level debug --discover "$@" >>"$log" 2>&1 &
    H_PID[i]=$!
    H_STARTED_PIDS+=("$!")
}
start_discover 1 --encrypt "$H_KEY"
h_wait_ready 1

# Node 3's namespace: a TCP listener on the gossip port (counts accepts) and
# unsealed beacons broadcast to the beacon port, every 200 ms for 5 s.
N3=$(h_addr 3)
ACCEPTS="$H_TMP/accepts"
h_exec 3 python3 - "$N3" "$H_GOSSIP_PORT" "$ACCEPTS" <<'PY' &
import socket, struct, sys, time
addr, port, out = sys.argv[1], int(sys.argv[2]), sys.argv[3]
lst = socket.socket(); lst.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
lst.bind((addr, port)); lst.listen(16); lst.settimeout(0.2)
udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
udp.setsockopt(socket.SOL_SOCKET, socket.SO_BROADCAST, 1)
# What a sealed beacon holds, in the clear: stamp (24), port, key, address.
body = b"SHD2" + bytes(24) + struct.pack(">H", port) + bytes(32) + addr.encode()
accepts = 0
end = time.time() + 3
while time.time() < end:
    udp.sendto(body, ("198.18.255.255", 7947))
    try:
        c, _ = lst.accept(); c.close(); accepts += 1
    except socket.timeout:
        pass
open(out, "w").write(str(accepts))
PY
pypid=$!
wait "$pypid" || h_fail "beacon sender failed"

drops=$(metric 1 shed_gossip_dropped_total 'reason="beacon"')
h_log "node 1: beacon drops after the unsealed ones: $drops"
((drops >= 2)) || h_fail "node 1 counted $drops dropped beacons (unsealed)"
accepts=$(cat "$ACCEPTS")
((accepts == 0)) || h_fail "node 1 dialled the unsealed beacon's address ($accepts connections)"

# Now a node of another cluster: its sealed beacons do not open either.
start_discover 2 --encrypt "$("$H_CTL_BIN" keygen)"
h_wait_ready 2
sleep 4
drops2=$(metric 1 shed_gossip_dropped_total 'reason="beacon"')
h_log "node 1: beacon drops with node 2 (another key) beaconing: $drops2"
((drops2 > drops)) || h_fail "node 1 counted no drop for the other key's beacons"
for k in keyid auth; do
    v=$(metric 2 shed_gossip_dropped_total "reason=\"$k\"")
    ((v == 0)) || h_fail "node 2 dropped $v sealed gossip ($k): node 1 dialled it"
done
n=$(h_members_alive 1)
[[ "$n" == 1 ]] || h_fail "node 1 sees $n alive (want itself only)"
grep -q 'beacon that does not open with our keyring ignored' "$(h_logfile 1)" \
    || h_fail "node 1 did not log the ignored beacon"
h_log "PASS"
