#!/usr/bin/env bash
# integration/test_network.sh: the overlay network across 3 real shed-node
# processes (see harness.sh for the underlay picture).
#
# Phase 1, `encrypted` mode:
#   - `shedctl network --json` on every node: 3 distinct address blocks,
#     2 peers with established sessions;
#   - a hand-made "shed" on node 1 and on node 2: a veth pair made inside the
#     node's namespace, one end on the node bridge, the other moved into a
#     namespace of its own (shPIDs<i>), addressed from
#     `shedctl network attach NAME` (ip, mac, gateway, prefix, mtu);
#   - the two sheds ping each other over the overlay (198.19.x.x), with
#     full-size packets (the MTU holds), and `shedctl network` counts packets;
#   - a plaintext VXLAN datagram sent to node 2's overlay port from node 3's
#     namespace is dropped and counted as `plaintext_vxlan`.
# Phase 1b, real sheds (`shedctl create`, netns driver) rs1 on node 1 and
#   rs3 on node 3, entered with nsenter: a TCP echo between them; tcpdump on
#   node 1's underlay shows no plaintext of the payload (a capture inside
#   rs1 does: positive control); captured datagrams replayed to node 3 are
#   counted as `replay`; forged datagrams from an underlay host without the
#   cluster key are dropped and counted and nothing reaches rs3; kill -9 of
#   node 3: failed = peer, block and endpoints kept; reaped = all removed on
#   nodes 1 and 2. Node 3 is restarted and the real sheds deleted.
# Phase 2, `plain` mode: the nodes restart with the kernel VXLAN device
#   (same data dirs: the sheds keep their addresses), the sheds ping again,
#   VXLAN from an address that is no member is dropped by the nftables
#   member filter, and when node 2 leaves its peer, block, FDB entries and
#   endpoints disappear on nodes 1 and 3.
# Needs root, python3, ping, tcpdump, nsenter; exits 77 (skip) otherwise. Everything (namespaces, veths,
# bridges, nftables tables) lives in namespaces this run creates and deletes.
set -euo pipefail
# shellcheck source-path=SCRIPTDIR
. "$(dirname "$0")/harness.sh"

N=3
h_init "$N"
command -v python3 >/dev/null || h_skip "python3 not installed"
command -v ping >/dev/null || h_skip "ping (iputils-ping) not installed"

command -v tcpdump >/dev/null || h_skip "tcpdump not installed (scripts/install-deps.sh)"
command -v nsenter >/dev/null || h_skip "nsenter (util-linux) not installed"
h_sheds_init            # real sheds (netns driver) on nodes 1 and 3

OVERLAY_PORT=$((H_GOSSIP_PORT + 4))
BR="sb$$"               # node bridge (one per node namespace; unique per run anyway)
REAP_S=4                # gossip.reap_dead_s: a killed node is forgotten 4 s after it failed

# write_config i MODE: the node's YAML: the netns shed driver (real sheds,
# harness.sh's h_sheds_config), a short reap time (the kill -9 step waits for
# it) and the network section.
write_config() {
    local i=$1 mode=$2
    h_sheds_config "$i" "gossip:
  reap_dead_s: $REAP_S
network:
  mode: $mode
  cidr: 198.19.0.0/16
  block_prefix: 24
  vni: 4242
  bridge: $BR
  device: sd$$n$i" >/dev/null
}

# jq-like helper: run a Python expression over the JSON on stdin (o = the object).
jpy() { python3 -c "import json,sys; o=json.load(sys.stdin); $1"; }

start_all() {
    local mode=$1 i
    for ((i = 1; i <= N; i++)); do
        write_config "$i" "$mode"
        h_start_node "$i" --config "$H_TMP/n$i/config.yaml"
    done
    for ((i = 1; i <= N; i++)); do h_wait_ready "$i" 30; done
}

# net_ok i MODE: node i shows 3 distinct settled blocks and 2 peers
# (established sessions in encrypted mode).
net_ok() {
    local i=$1 mode=$2 out
    out=$(h_ctl "$i" --json network 2>/dev/null) || return 1
    jpy "
blocks = [b['block'] for b in o['blocks'] if b['block']]
peers = o['peers']
ok = o['mode'] == '$mode' and o['ready'] and len(blocks) == 3 and len(set(blocks)) == 3 \
     and len(peers) == 2
if '$mode' == 'encrypted':
    ok = ok and all(p['session'] == 'established' for p in peers)
sys.exit(0 if ok else 1)" <<<"$out"
}

# make_shed i: a namespace with a veth on node i's bridge, addressed by attach.
SHED_IP=()
make_shed() {
    local i=$1
    local ns="sh$$s$i" host="sv$$h$i" peer="sv$$p$i" att ip mac gw prefix mtu
    if ! ip netns list | grep -qw "$ns"; then
        ip netns add "$ns" || h_fail "cannot create namespace $ns"
        H_CREATED_NS+=("$ns")   # removed by the harness cleanup
        ip -n "$ns" link set lo up
        h_exec "$i" ip link add "$host" type veth peer name "$peer"
        h_exec "$i" ip link set "$peer" netns "$ns"
    fi
    att=$(h_retry 15 h_ctl "$i" network attach "shed$i") || h_fail "node $i: network attach failed"
    h_log "node $i attach: $att"
    ip=$(jpy "print(o['ip'])" <<<"$att")
    mac=$(jpy "print(o['mac'])" <<<"$att")
    gw=$(jpy "print(o['gateway'])" <<<"$att")
    prefix=$(jpy "print(o['prefix'])" <<<"$att")
    mtu=$(jpy "print(o['mtu'])" <<<"$att")
    [[ "$ip" == 198.19.* ]] || h_fail "node $i: attach gave '$ip', not an overlay address"
    h_exec "$i" ip link set "$host" master "$BR" mtu "$mtu" up
    ip -n "$ns" addr flush dev "$peer"
    ip -n "$ns" link set "$peer" address "$mac" mtu "$mtu" up
    ip -n "$ns" addr add "$ip/$prefix" dev "$peer"
    ip -n "$ns" route replace default via "$gw" dev "$peer"
    SHED_IP[i]=$ip
    SHED_MTU=$mtu
}

shed_ping() {   # shed_ping FROM_NODE TO_IP [SIZE]
    ip netns exec "sh$$s$1" ping -c 2 -i 0.2 -W 2 -M "do" -s "${3:-56}" "$2" >/dev/null 2>&1
}

# ------------------------------------------------------------ encrypted ----
h_log "phase 1: encrypted mode"
start_all encrypted
for ((i = 1; i <= N; i++)); do
    h_retry 30 net_ok "$i" encrypted \
        || { h_ctl "$i" network || true; h_fail "node $i: no 3 blocks / 2 established peers"; }
done
h_log "every node sees 3 blocks and 2 established sessions"
h_ctl 1 network >&2

make_shed 1
make_shed 2
[[ "${SHED_IP[1]}" != "${SHED_IP[2]}" ]] || h_fail "two sheds got the same address"
h_log "shed1 ${SHED_IP[1]} (node 1), shed2 ${SHED_IP[2]} (node 2), mtu $SHED_MTU"

h_retry 20 shed_ping 1 "${SHED_IP[2]}" || h_fail "shed1 cannot ping shed2 over the encrypted overlay"
shed_ping 2 "${SHED_IP[1]}" || h_fail "shed2 cannot ping shed1"
# Full-size packets with DF: the computed MTU fits the underlay.
shed_ping 1 "${SHED_IP[2]}" $((SHED_MTU - 28)) || h_fail "full-MTU ping ($SHED_MTU) failed"
h_log "sheds ping each other over the encrypted overlay (incl. ${SHED_MTU}-byte packets)"

out=$(h_ctl 1 --json network)
tx=$(jpy "print(sum(p['tx_packets'] for p in o['peers'] if p['node'] == 'node2'))" <<<"$out")
rx=$(jpy "print(sum(p['rx_packets'] for p in o['peers'] if p['node'] == 'node2'))" <<<"$out")
eps=$(jpy "print(o['endpoints'])" <<<"$out")
((tx >= 4 && rx >= 4)) || h_fail "node 1 counts tx=$tx rx=$rx packets with node2 (expected >= 4)"
((eps == 2)) || h_fail "node 1 knows $eps endpoints (expected 2)"
h_log "node 1 counts tx=$tx rx=$rx with node2, $eps endpoints"

# Plaintext VXLAN at node 2's overlay port, from node 3's namespace.
drops_before=$(h_ctl 2 --json network | jpy "print(o['drops'].get('plaintext_vxlan', 0))")
h_exec 3 python3 - "$(h_addr 2)" "$OVERLAY_PORT" <<'EOF'
import socket, struct, sys
vxlan = struct.pack("!BBHI", 0x08, 0, 0, 4242 << 8)
frame = b"\xff" * 6 + b"\x02\x00\xc6\x13\x63\x63" + b"\x08\x00" + b"plaintext payload" * 4
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
for _ in range(3):
    s.sendto(vxlan + frame, (sys.argv[1], int(sys.argv[2])))
EOF
plaintext_dropped() {
    local d
    d=$(h_ctl 2 --json network | jpy "print(o['drops'].get('plaintext_vxlan', 0))") || return 1
    ((d >= drops_before + 3))
}
h_retry 5 plaintext_dropped || h_fail "node 2 did not count the plaintext VXLAN drops"
h_log "plaintext VXLAN from node 3 was dropped and counted"
h_ctl 2 network >&2

# ------------------------------------------------- real sheds, node 1 <-> 3 ----
# Sheds made by the scheduler and the netns driver (`shedctl create`), one
# pinned to node 1 and one to node 3; we enter their network namespaces with
# nsenter (the PID of each shed's init comes from its cgroup).
h_log "phase 1b: real sheds on node 1 and node 3 (encrypted)"
h_wait_members 3 15 || h_fail "3 nodes did not see each other"
h_ctl 1 create rs1 --cpus 0.5 --memory 256M --constraint node=node1 >/dev/null || h_fail "create rs1"
h_ctl 3 create rs3 --cpus 0.5 --memory 256M --constraint node=node3 >/dev/null || h_fail "create rs3"
shed_field() {   # shed_field NAME FIELD (node 1's view)
    h_ctl 1 --json list 2>/dev/null | python3 -c '
import json, sys
for s in json.load(sys.stdin):
    if s["name"] == sys.argv[1]:
        print(s.get(sys.argv[2], "")); break' "$1" "$2"
}
running() { [[ "$(shed_field "$1" state)" == running ]]; }
h_retry 20 running rs1 || h_fail "rs1 not running"
h_retry 20 running rs3 || h_fail "rs3 not running"
h_assert_eq node1 "$(shed_field rs1 node)" "node of rs1"
h_assert_eq node3 "$(shed_field rs3 node)" "node of rs3"
rs1_ip=$(shed_field rs1 ip); rs3_ip=$(shed_field rs3 ip); rs3_mac=$(shed_field rs3 mac)
[[ "$rs1_ip" == 198.19.* && "$rs3_ip" == 198.19.* ]] || h_fail "real sheds without overlay addresses: '$rs1_ip' '$rs3_ip'"
p1=$(h_shed_pid rs1 1); p3=$(h_shed_pid rs3 3)
[[ -n "$p1" && -n "$p3" ]] || h_fail "no init process for rs1 ($p1) / rs3 ($p3)"
in_shed() { local p=$1; shift; nsenter -t "$p" -n "$@"; }
# shed_if PID: the shed's interface holding its overlay address.
shed_if() { in_shed "$1" ip -o -4 addr show | awk '$4 ~ /^198\.19\./ {print $2; exit}'; }
rs1_if=$(shed_if "$p1"); rs3_if=$(shed_if "$p3")
[[ -n "$rs1_if" && -n "$rs3_if" ]] || h_fail "no overlay interface in rs1/rs3"
h_retry 15 in_shed "$p1" ping -c 1 -W 1 "$rs3_ip" >/dev/null || h_fail "rs1 ($rs1_ip) cannot ping rs3 ($rs3_ip)"
h_log "rs1 $rs1_ip ($rs1_if, node 1) pings rs3 $rs3_ip ($rs3_if, node 3)"

# Background processes are started as plain commands (ip netns exec and
# nsenter exec the program, so $! is tcpdump/python3 itself); their PIDs go
# to H_STARTED_PIDS, which the harness ends on exit.
# capture NAME PID_OF_NS|node<i> IF FILTER: tcpdump into $H_TMP/NAME.pcap;
# returns once tcpdump listens. Sets CAP_PID.
capture() {
    local name=$1 where=$2 ifc=$3 filter=$4
    # shellcheck disable=SC2086  # FILTER split into words on purpose ("" = all)
    if [[ "$where" == node* ]]; then
        ip netns exec "$(h_ns "${where#node}")" \
            tcpdump --immediate-mode -Z root -i "$ifc" -n -U -s 0 -w "$H_TMP/$name.pcap" $filter 2>"$H_TMP/$name.err" &
    else
        nsenter -t "$where" -n \
            tcpdump --immediate-mode -Z root -i "$ifc" -n -U -s 0 -w "$H_TMP/$name.pcap" $filter 2>"$H_TMP/$name.err" &
    fi
    CAP_PID=$!
    H_STARTED_PIDS+=("$CAP_PID")
    h_retry 10 grep -q "listening on" "$H_TMP/$name.err" || h_fail "tcpdump $name did not start: $(cat "$H_TMP/$name.err")"
}
stop_capture() { sleep 0.5; kill -INT "$1" 2>/dev/null || true; wait "$1" 2>/dev/null || true; }
pcap_count() { tcpdump -r "$1" -n 2>/dev/null | wc -l; }

# A TCP echo across the overlay carrying a known payload, captured on node 1's
# underlay (eth0, the overlay port) and inside rs1 (the positive control).
MARK="shed-it-plaintext-$$-$RANDOM$RANDOM"
nsenter -t "$p3" -n python3 - "$rs3_ip" <<'EOF' &
import socket, sys
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind((sys.argv[1], 5555)); s.listen(1); s.settimeout(30)
c, _ = s.accept(); c.settimeout(10)
while True:
    d = c.recv(65536)
    if not d: break
    c.sendall(d)
EOF
ECHO_PID=$!
H_STARTED_PIDS+=("$ECHO_PID")
capture under node1 eth0 "udp port $OVERLAY_PORT"; UNDER_PID=$CAP_PID
capture inshed "$p1" "$rs1_if" "tcp port 5555"; INSHED_PID=$CAP_PID
tcp_echo() {
    in_shed "$p1" python3 - "$rs3_ip" "$MARK" <<'EOF'
import socket, sys, time
msg = (sys.argv[2] + "\n").encode() * 50
for _ in range(50):
    try:
        s = socket.create_connection((sys.argv[1], 5555), timeout=2); break
    except OSError:
        time.sleep(0.2)
s.settimeout(10)
got = b""
for _ in range(20):                 # 20 round trips on one connection
    s.sendall(msg)
    want = len(got) + len(msg)
    while len(got) < want:
        d = s.recv(65536)
        if not d: sys.exit("connection closed")
        got += d
s.close()
sys.exit(0 if got == msg * 20 else "echo mismatch")
EOF
}
tcp_echo || h_fail "TCP echo between rs1 (node 1) and rs3 (node 3) failed"
wait "$ECHO_PID" 2>/dev/null || true
stop_capture "$UNDER_PID"; stop_capture "$INSHED_PID"
n_under=$(pcap_count "$H_TMP/under.pcap"); n_shed=$(pcap_count "$H_TMP/inshed.pcap")
# The capture must hold datagrams big enough to carry a message (1.7 KB,
# one datagram, fragmented on the wire), not only ACKs.
n_big=$(tcpdump -r "$H_TMP/under.pcap" -n 2>/dev/null | grep -cE 'length (1[0-9]{3}|[2-9][0-9]{3}|[0-9]{5})$' || true)
((n_under >= 4 && n_big >= 1)) || h_fail "underlay capture holds only $n_under overlay packets ($n_big carrying data)"
grep -qa "$MARK" "$H_TMP/inshed.pcap" || h_fail "positive control: the payload is not in rs1's own capture"
if grep -qa "$MARK" "$H_TMP/under.pcap"; then h_fail "the payload crossed the underlay in plaintext"; fi
if grep -qa "shed-it-plaintext" "$H_TMP/under.pcap"; then h_fail "part of the payload is visible on the underlay"; fi
h_log "TCP rs1 <-> rs3 held 20 round trips; payload in rs1's capture ($n_shed pkts), not in node 1's underlay capture ($n_under pkts, $n_big with data)"

# Replay: a data datagram node 1 sent to node 3 (from the underlay capture),
# sent again with node 1's source address from the underlay bridge's
# namespace (raw socket), is dropped by node 3 and counted as `replay`.
peer_drop() {   # peer_drop i PEER REASON
    h_ctl "$1" --json network | jpy "print(sum(p['drops'].get('$3', 0) for p in o['peers'] if p['node'] == '$2'))"
}
replay_before=$(peer_drop 3 node1 replay)
ip -n "$H_BRNS" addr add 198.18.0.251/16 dev br0    # the underlay host (also the stranger below)
ip netns exec "$H_BRNS" python3 - "$H_TMP/under.pcap" "$(h_addr 1)" "$(h_addr 3)" "$OVERLAY_PORT" <<'EOF' \
    || h_fail "no data datagram node1 -> node3 to replay in the capture"
import socket, struct, sys
path, src, dst, port = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
raw = open(path, "rb").read()
off, picked = 24, []
while off + 16 <= len(raw):
    incl = struct.unpack_from("<I", raw, off + 8)[0]
    pkt = raw[off + 16: off + 16 + incl]; off += 16 + incl
    if len(pkt) < 42 or pkt[12:14] != b"\x08\x00": continue
    ip = pkt[14:]; ihl = (ip[0] & 15) * 4
    frag = struct.unpack("!H", ip[6:8])[0]
    if ip[9] != 17 or frag & 0x3fff: continue          # UDP, not a fragment
    if socket.inet_ntoa(ip[12:16]) != src or socket.inet_ntoa(ip[16:20]) != dst: continue
    udp = ip[ihl:]; payload = udp[8:struct.unpack("!H", udp[4:6])[0]]
    if payload[:1] == b"\x04" and len(payload) < 1400: picked.append(payload)
if not picked: sys.exit(1)
s = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_RAW)
for p in picked[:5]:
    udp = struct.pack("!HHHH", port, port, 8 + len(p), 0) + p
    hdr = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(udp), 0x1234, 0, 64, 17, 0,
                      socket.inet_aton(src), socket.inet_aton(dst))
    s.sendto(hdr + udp, (dst, 0))
print(min(5, len(picked)))
EOF
replayed() { (( $(peer_drop 3 node1 replay) > replay_before )); }
h_retry 5 replayed || { h_ctl 3 network >&2; h_fail "node 3 did not count the replayed datagrams"; }
h_log "replayed datagrams dropped by node 3 (replay $replay_before -> $(peer_drop 3 node1 replay))"

# Forgery: a host on the underlay without the cluster key or a node identity
# (an extra address in the underlay bridge's namespace) sends node 3 forged
# data messages, a forged handshake initiation and plaintext VXLAN, all
# carrying frames for rs3 with a marker: the global drop counters rise and
# nothing reaches rs3 (capture inside rs3).
global_drops() { h_ctl 3 --json network | jpy "print(sum(o['drops'].values()))"; }
drops_before=$(global_drops)
capture forged "$p3" "$rs3_if" ""; FORGED_PID=$CAP_PID
FMARK="shed-it-forged-$$-$RANDOM"
ip netns exec "$H_BRNS" python3 - "$(h_addr 3)" "$OVERLAY_PORT" "$rs3_mac" "$rs3_ip" "$FMARK" <<'EOF'
import os, socket, struct, sys
dst, port, mac, ip, mark = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4], sys.argv[5].encode()
dmac = bytes(int(x, 16) for x in mac.split(":"))
frame = dmac + b"\x02\x00\xc6\x13\x63\x63" + b"\x08\x00" + mark * 8
vxlan = struct.pack("!BBHI", 0x08, 0, 0, 4242 << 8)
offload = b"\x00" * 12
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind(("198.18.0.251", 0))
for i in range(10):
    kid = struct.unpack("<I", os.urandom(4))[0] or 1
    # data message: header, "ciphertext" (the frame in clear), bogus tag
    s.sendto(struct.pack("<BxxxIQ", 4, kid, i) + vxlan + offload + frame + os.urandom(16), (dst, port))
    s.sendto(b"\x01\x00\x00\x00" + os.urandom(132), (dst, port))       # initiation, no valid mac1
    s.sendto(vxlan + frame, (dst, port))                                # plaintext VXLAN
EOF
forged_dropped() { (( $(global_drops) >= drops_before + 30 )); }
h_retry 5 forged_dropped || { h_ctl 3 network >&2; h_fail "node 3 did not count 30 drops for the forged datagrams"; }
stop_capture "$FORGED_PID"
if grep -qa "$FMARK" "$H_TMP/forged.pcap"; then h_fail "a forged frame reached rs3"; fi
h_log "forged datagrams from a stranger: drops $drops_before -> $(global_drops), nothing reached rs3"
h_ctl 3 network >&2

# kill -9 node 3. Documented (docs/overlay.md, daemon wiring): a FAILED member
# keeps its peer (its sessions idle) and its records stay (block status
# unreachable, endpoints kept); once REAPED (gossip.reap_dead_s) its peer,
# block and endpoints are removed on the others.
net_view() {   # net_view i: "peers|blocks|endpoints|status of node3's block"
    h_ctl "$1" --json network 2>/dev/null | jpy "
peers = ','.join(sorted(p['node'] for p in o['peers']))
blocks = ','.join(sorted(b['node'] for b in o['blocks']))
st = [b['status'] for b in o['blocks'] if b['node'] == 'node3']
print('%s|%s|%d|%s' % (peers, blocks, o['endpoints'], st[0] if st else '-'))"
}
eps_before=$(h_ctl 1 --json network | jpy "print(o['endpoints'])")
h_kill 3 KILL
failed_kept() {   # i OTHER: node i has logged node3 failed; still a peer, block and endpoints kept
    grep -q 'msg="member fail" member=node3' "$(h_logfile "$1")" || return 1
    local v; v=$(net_view "$1") || return 1
    [[ "$v" == "$2,node3|node1,node2,node3|$eps_before|"* ]]
}
reaped() {        # i OTHER: node3 gone: no peer, no block, rs3's endpoint gone
    local v; v=$(net_view "$1") || return 1
    [[ "$v" == "$2|node1,node2|$((eps_before - 1))|-" ]]
}
h_retry 15 failed_kept 1 node2 || h_fail "node 1 after node 3 failed: '$(net_view 1)' (want peer, block and endpoints kept)"
h_log "node 3 failed: node 1 keeps its peer and endpoints ($(net_view 1))"
h_retry $((REAP_S + 15)) reaped 1 node2 || h_fail "node 1 after node 3 was reaped: '$(net_view 1)'"
h_retry 5 reaped 2 node1 || h_fail "node 2 after node 3 was reaped: '$(net_view 2)'"
h_log "node 3 reaped: its peer, block and endpoint are gone on nodes 1 and 2 ($(net_view 1))"

# Back to the state phase 2 expects: node 3 up, no real sheds.
h_start_node 3 --config "$H_TMP/n3/config.yaml"
h_wait_ready 3 30
h_retry 30 net_ok 3 encrypted || { h_ctl 3 network >&2 || true; h_fail "node 3 did not come back"; }
h_ctl 1 delete rs1 >/dev/null || h_fail "delete rs1"
h_retry 10 h_ctl 3 delete rs3 >/dev/null || h_fail "delete rs3"

# --------------------------------------------------------------- plain -----
h_log "phase 2: plain mode (restart with the kernel VXLAN device)"
for ((i = 1; i <= N; i++)); do h_stop_node "$i" || h_fail "node $i did not stop cleanly"; done
ip1=${SHED_IP[1]} ip2=${SHED_IP[2]}
start_all plain
for ((i = 1; i <= N; i++)); do
    h_retry 30 net_ok "$i" plain || { h_ctl "$i" network || true; h_fail "node $i (plain): no 3 blocks / 2 peers"; }
done
make_shed 1
make_shed 2
h_assert_eq "$ip1" "${SHED_IP[1]}" "shed1 address after the restart"
h_assert_eq "$ip2" "${SHED_IP[2]}" "shed2 address after the restart"
h_retry 20 shed_ping 1 "${SHED_IP[2]}" || h_fail "shed1 cannot ping shed2 over plain VXLAN"
shed_ping 2 "${SHED_IP[1]}" || h_fail "shed2 cannot ping shed1 (plain)"
shed_ping 1 "${SHED_IP[2]}" $((SHED_MTU - 28)) || h_fail "full-MTU ping ($SHED_MTU, plain) failed"
h_log "sheds ping each other over plain VXLAN (mtu $SHED_MTU)"

# VXLAN from a non-member address (an extra address in the underlay
# bridge's namespace) hits the member filter.
ip -n "$H_BRNS" addr add 198.18.0.250/16 dev br0
ip netns exec "$H_BRNS" python3 - "$(h_addr 2)" "$OVERLAY_PORT" <<'EOF'
import socket, struct, sys
vxlan = struct.pack("!BBHI", 0x08, 0, 0, 4242 << 8)
frame = b"\xff" * 6 + b"\x02\x00\xc6\x13\x63\x63" + b"\x08\x00" + b"x" * 64
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
for _ in range(3):
    s.sendto(vxlan + frame, (sys.argv[1], int(sys.argv[2])))
EOF
filtered() {
    h_exec 2 nft list table inet shed_node2 | grep -Eq 'counter packets [1-9]'
}
h_retry 5 filtered || { h_exec 2 nft list table inet shed_node2 >&2; h_fail "plain mode: non-member VXLAN not dropped"; }
h_log "plain mode: VXLAN from a non-member was dropped by the member filter"

# A node that leaves takes its peer, block and endpoints with it everywhere.
shed2_mac=$(h_ctl 2 network attach shed2 | jpy "print(o['mac'])")
h_stop_node 2 || h_fail "node 2 did not stop cleanly"
gone() {
    local out
    out=$(h_ctl "$1" --json network) || return 1
    jpy "
ok = [p['node'] for p in o['peers']] == ['node$2'] and o['endpoints'] == $3 \
     and sorted(b['node'] for b in o['blocks']) == sorted(['node$1', 'node$2'])
sys.exit(0 if ok else 1)" <<<"$out" || return 1
    # Only the entries the node programs (static, `dst` = a peer's underlay
    # address); the bridge may still hold a dynamically learned
    # "MAC master <bridge>" entry on the VXLAN port until it ages out.
    ! h_exec "$1" bridge fdb show dev "sd$$n$1" | grep -i "$shed2_mac" | grep -q ' dst '
}
h_retry 15 gone 1 3 1 || { h_ctl 1 network >&2; h_exec 1 bridge fdb show dev "sd$$n1" >&2
                           h_fail "node 1 still has node 2's peer or entries (shed2 $shed2_mac)"; }
h_retry 15 gone 3 1 1 || { h_ctl 3 network >&2; h_fail "node 3 still has node 2's peer or entries"; }
h_log "node 2 left: its peer, block and endpoints are gone on nodes 1 and 3"
h_log "PASS"
