#!/usr/bin/env bash
# integration/test_hostile_overlay.sh: a hostile shed on the overlay tries to
# pass as another shed (docs/overlay.md, "Anti-spoofing").
#
# Two nodes (encrypted overlay, netns driver: what is tested is the node
# bridge, where every shed's veth is a port). Shed ha on node 1 is the
# attacker; hb and hc on node 2 are the victim and the observer. From
# inside ha (its network namespace, a raw AF_PACKET socket on its eth0):
#   - UDP datagrams to hc with hb's source IP (ha's MAC), and with hb's
#     source IP and MAC;
#   - a gratuitous ARP and an ARP reply to hc claiming hb's IP for ha's MAC;
#   - an ARP claiming hb's IP with hb's MAC as the frame source;
#   - a VLAN-tagged datagram (would carry any address past the IPv4 rules).
# Then: hc received none of the spoofed datagrams (a listener in hc), hc's
# neighbour entry for hb's IP still holds hb's MAC, the drop counters of
# ha's port chain on node 1 (nft, table bridge shed_node1) moved for the
# MAC, IP, ARP-IP and ethertype rules, and ha's own traffic still flows:
# the same raw-socket datagram with ha's own addresses reaches hc (the
# positive control: without the rules the spoofed ones arrive the same
# way), and ha pings hb and hc. Deleting ha removes its chain, and with the
# node's last shed the table.
#
# Needs root, python3, ping, nsenter, nft; exits 77 (skip) otherwise.
# Everything lives in namespaces this run creates and deletes.
set -euo pipefail
# shellcheck source-path=SCRIPTDIR
. "$(dirname "$0")/harness.sh"

N=2
h_init "$N"
command -v python3 >/dev/null || h_skip "python3 not installed"
command -v ping >/dev/null || h_skip "ping (iputils-ping) not installed"
command -v nsenter >/dev/null || h_skip "nsenter (util-linux) not installed"
command -v nft >/dev/null || h_skip "nft (nftables) not installed"
h_sheds_init

BR="sb$$"
TABLE=shed_node1        # node 1's anti-spoofing table (bridge family)
PORT=5599               # hc's UDP listener
for ((i = 1; i <= N; i++)); do
    h_sheds_config "$i" "network:
  mode: encrypted
  cidr: 198.19.0.0/16
  block_prefix: 24
  bridge: $BR
  device: sd$$n$i" >/dev/null
    h_start_node "$i" --config "$H_TMP/n$i/config.yaml"
done
for ((i = 1; i <= N; i++)); do h_wait_ready "$i" 30; done
h_wait_members 2 15 || h_fail "2 nodes did not see each other"

jpy() { python3 -c "import json,sys; o=json.load(sys.stdin); $1"; }
net_ready() {
    h_ctl "$1" --json network 2>/dev/null | jpy "
ok = o['ready'] and len(o['peers']) == 1 and o['peers'][0]['session'] == 'established'
sys.exit(0 if ok else 1)"
}
h_retry 30 net_ready 1 || h_fail "node 1: overlay not ready"
h_retry 30 net_ready 2 || h_fail "node 2: overlay not ready"

h_ctl 1 create ha --cpus 0.2 --memory 128M --constraint node=node1 >/dev/null || h_fail "create ha"
h_ctl 2 create hb --cpus 0.2 --memory 128M --constraint node=node2 >/dev/null || h_fail "create hb"
h_ctl 2 create hc --cpus 0.2 --memory 128M --constraint node=node2 >/dev/null || h_fail "create hc"
shed_field() {   # shed_field NAME FIELD (node 1's view)
    h_ctl 1 --json list 2>/dev/null | python3 -c '
import json, sys
for s in json.load(sys.stdin):
    if s["name"] == sys.argv[1]:
        print(s.get(sys.argv[2], "")); break' "$1" "$2"
}
running() { [[ "$(shed_field "$1" state)" == running ]]; }
for s in ha hb hc; do h_retry 30 running "$s" || h_fail "$s not running"; done
a_ip=$(shed_field ha ip); b_ip=$(shed_field hb ip); c_ip=$(shed_field hc ip)
a_mac=$(shed_field ha mac); b_mac=$(shed_field hb mac); c_mac=$(shed_field hc mac)
for v in "$a_ip" "$b_ip" "$c_ip"; do [[ "$v" == 198.19.* ]] || h_fail "shed without an overlay address: '$v'"; done
h_log "ha $a_ip $a_mac (node 1, attacker); hb $b_ip $b_mac, hc $c_ip $c_mac (node 2)"

# in_shed NAME CMD...: run CMD in shed NAME's network namespace, entered
# through its init's PID (from its cgroup): the namespace file is a mount
# in the node's own mount namespace.
declare -A SPID
SPID[ha]=$(h_shed_pid ha 1); SPID[hb]=$(h_shed_pid hb 2); SPID[hc]=$(h_shed_pid hc 2)
for s in ha hb hc; do [[ -n "${SPID[$s]}" ]] || h_fail "no init process for $s"; done
in_shed() {
    local name=$1
    shift
    nsenter -t "${SPID[$name]}" -n "$@"
}

# The ports on node 1: ha's veth is the only element of the map.
ports() { h_exec 1 nft list map bridge "$TABLE" ports 2>/dev/null; }
a_veth=$(ports | grep -o '"sv[0-9a-f]*"' | tr -d '"' | head -1)
[[ -n "$a_veth" ]] || { ports >&2 || true; h_fail "node 1: no anti-spoofing chain for ha"; }
h_exec 1 ip link show "$a_veth" >/dev/null 2>&1 || h_fail "node 1: ha's port $a_veth is no link"
h_log "ha's port on node 1: $a_veth"
# counter RULE: packets counted by ha's drop rule with that comment.
counter() {
    h_exec 1 nft list chain bridge "$TABLE" "$a_veth" \
        | awk -v c="comment \"$1\"" 'index($0, c) { for (i = 1; i < NF; i++) if ($i == "packets") print $(i + 1) }'
}

dump() { h_exec 1 nft list table bridge "$TABLE" >&2 || true; in_shed ha ip -d addr >&2 || true; in_shed ha ip neigh >&2 || true; h_ctl 1 network >&2 || true; }
# Baseline: ha reaches both, and hc learns hb's MAC (its neighbour entry).
h_retry 20 in_shed ha ping -c 1 -W 1 "$c_ip" >/dev/null || { dump; h_fail "ha cannot ping hc"; }
h_retry 20 in_shed ha ping -c 1 -W 1 "$b_ip" >/dev/null || h_fail "ha cannot ping hb"
h_retry 20 in_shed hc ping -c 1 -W 1 "$b_ip" >/dev/null || h_fail "hc cannot ping hb"
neigh_mac() { in_shed hc ip neigh show "$b_ip" dev eth0 | awk '{for (i = 1; i < NF; i++) if ($i == "lladdr") print $(i + 1)}'; }
h_assert_eq "$b_mac" "$(neigh_mac)" "hc's neighbour entry for hb before"
declare -A before
for r in mac ip arp_ip arp_mac proto; do before[$r]=$(counter "$r"); done

# hc listens; every datagram's source and payload go to a file.
RECV="$H_TMP/hc_recv.txt"
in_shed hc python3 - "$PORT" "$RECV" <<'EOF' &
import socket, sys, time
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind(("0.0.0.0", int(sys.argv[1])))
s.settimeout(0.5)
end = time.time() + 12
with open(sys.argv[2], "w") as f:
    while time.time() < end:
        try:
            data, addr = s.recvfrom(2048)
        except socket.timeout:
            continue
        f.write("%s %s\n" % (addr[0], data.decode(errors="replace")))
        f.flush()
EOF
LISTENER=$!
sleep 0.5

# ha sends, from a raw socket on its eth0: each frame is built whole here.
in_shed ha python3 - "$a_mac" "$a_ip" "$b_mac" "$b_ip" "$c_mac" "$c_ip" "$PORT" <<'EOF'
import socket, struct, sys, time
a_mac, a_ip, b_mac, b_ip, c_mac, c_ip, port = sys.argv[1:8]
mac = lambda m: bytes.fromhex(m.replace(":", ""))
ip4 = socket.inet_aton
BCAST = b"\xff" * 6

def csum(b):
    s = sum(struct.unpack("!%dH" % (len(b) // 2), b))
    s = (s >> 16) + (s & 0xffff)
    s += s >> 16
    return ~s & 0xffff

def udp(src_mac, src_ip, payload, vlan=False):
    u = struct.pack("!HHHH", 40000, int(port), 8 + len(payload), 0) + payload
    h = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(u), 1, 0, 64, 17, 0, ip4(src_ip), ip4(c_ip))
    h = h[:10] + struct.pack("!H", csum(h)) + h[12:]
    eth = mac(c_mac) + mac(src_mac)
    eth += (b"\x81\x00\x00\x05" if vlan else b"") + b"\x08\x00"
    return eth + h + u

def arp(op, eth_src, sender_mac, sender_ip, dst_mac, target_mac, target_ip):
    a = struct.pack("!HHBBH", 1, 0x0800, 6, 4, op)
    a += mac(sender_mac) + ip4(sender_ip) + target_mac + ip4(target_ip)
    return dst_mac + mac(eth_src) + b"\x08\x06" + a

s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW)
s.bind(("eth0", 0))
frames = [
    udp(a_mac, b_ip, b"SPOOF-IP"),                                   # rule ip
    udp(b_mac, b_ip, b"SPOOF-MAC-IP"),                               # rule mac
    arp(2, a_mac, a_mac, b_ip, mac(c_mac), mac(c_mac), c_ip),        # rule arp_ip (reply)
    arp(1, a_mac, a_mac, b_ip, BCAST, b"\0" * 6, b_ip),              # rule arp_ip (gratuitous)
    arp(2, b_mac, b_mac, b_ip, mac(c_mac), mac(c_mac), c_ip),        # rule mac
    udp(a_mac, b_ip, b"SPOOF-VLAN", vlan=True),                      # rule proto
]
for _ in range(3):
    for f in frames:
        s.send(f)
    time.sleep(0.1)
# The positive control: the same path, ha's own addresses.
for _ in range(3):
    s.send(udp(a_mac, a_ip, b"OWN-ADDRESS"))
    time.sleep(0.1)
EOF

got_own() { grep -q "^$a_ip OWN-ADDRESS" "$RECV"; }
h_retry 10 got_own || { cat "$RECV" >&2; h_fail "positive control: ha's datagram with its own address did not reach hc"; }
sleep 1
if grep -q SPOOF "$RECV"; then
    cat "$RECV" >&2
    h_fail "hc received a datagram with hb's source address sent by ha"
fi
h_log "hc got ha's own datagrams ($(grep -c OWN "$RECV")) and none of the spoofed ones"
h_assert_eq "$b_mac" "$(neigh_mac)" "hc's neighbour entry for hb after the spoofed ARP"

for r in mac ip arp_ip proto; do
    after=$(counter "$r")
    [[ -n "$after" ]] || h_fail "no counter for rule $r in chain $a_veth"
    ((after >= ${before[$r]:-0} + 3)) || h_fail "rule $r: counter ${before[$r]:-0} -> $after, expected +3 at least"
    h_log "rule $r: dropped ${before[$r]:-0} -> $after"
done

# ha's own traffic still flows.
in_shed ha ping -c 2 -W 1 "$c_ip" >/dev/null || h_fail "ha cannot ping hc after the attempts"
in_shed ha ping -c 2 -W 1 "$b_ip" >/dev/null || h_fail "ha cannot ping hb after the attempts"
wait "$LISTENER" 2>/dev/null || true

# Teardown: deleting ha removes its chain and (node 1's last shed) the table.
h_ctl 1 delete ha >/dev/null || h_fail "delete ha"
gone() { ! h_exec 1 nft list table bridge "$TABLE" >/dev/null 2>&1; }
h_retry 10 gone || { h_exec 1 nft list table bridge "$TABLE" >&2; h_fail "node 1 kept table $TABLE after its last shed"; }
h_ctl 2 delete hb >/dev/null || h_fail "delete hb"
h_ctl 2 delete hc >/dev/null || h_fail "delete hc"
h_log "PASS: spoofed MAC/IP/ARP from a shed dropped at its port and counted; its own traffic flows"
