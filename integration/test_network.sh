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
# Phase 2, `plain` mode: the nodes restart with the kernel VXLAN device
#   (same data dirs: the sheds keep their addresses), the sheds ping again,
#   VXLAN from an address that is no member is dropped by the nftables
#   member filter, and when node 2 leaves its peer, block, FDB entries and
#   endpoints disappear on nodes 1 and 3.
# Needs root; exits 77 (skip) otherwise. Everything (namespaces, veths,
# bridges, nftables tables) lives in namespaces this run creates and deletes.
set -euo pipefail
# shellcheck source-path=SCRIPTDIR
. "$(dirname "$0")/harness.sh"

N=3
h_init "$N"
command -v python3 >/dev/null || h_skip "python3 not installed"
command -v ping >/dev/null || h_skip "ping (iputils-ping) not installed"

OVERLAY_PORT=$((H_GOSSIP_PORT + 4))
BR="sb$$"               # node bridge (one per node namespace; unique per run anyway)

# write_config i MODE: the node's YAML with the network section.
write_config() {
    local i=$1 mode=$2
    cat >"$H_TMP/n$i/net.yaml" <<EOF
network:
  mode: $mode
  cidr: 198.19.0.0/16
  block_prefix: 24
  vni: 4242
  bridge: $BR
  device: sd$$n$i
EOF
}

# jq-like helper: run a Python expression over the JSON on stdin (o = the object).
jpy() { python3 -c "import json,sys; o=json.load(sys.stdin); $1"; }

start_all() {
    local mode=$1 i
    for ((i = 1; i <= N; i++)); do
        write_config "$i" "$mode"
        h_start_node "$i" --config "$H_TMP/n$i/net.yaml"
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
    ! h_exec "$1" bridge fdb show dev "sd$$n$1" | grep -qi "$shed2_mac"
}
h_retry 15 gone 1 3 1 || { h_ctl 1 network >&2; h_fail "node 1 still has node 2's peer or entries"; }
h_retry 15 gone 3 1 1 || { h_ctl 3 network >&2; h_fail "node 3 still has node 2's peer or entries"; }
h_log "node 2 left: its peer, block and endpoints are gone on nodes 1 and 3"
h_log "PASS"
