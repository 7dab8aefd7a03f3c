#!/usr/bin/env bash
# integration/test_underlay6.sh: a cluster on an IPv6 underlay
# (docs/operations.md "IPv6 underlay").
#
# Three real shed-node processes in network namespaces whose only underlay
# addresses are IPv6 ULAs (harness.sh with H_UNDERLAY6=1: fd00:5ed:Q::1x/64,
# Q derived from this run's PID; eth0 has no IPv4 address at all, so nothing
# below can have fallen back to IPv4). Checks:
#   - membership (gossip over UDP/TCP on IPv6) converges to 3 alive members,
#     each seen at its canonical IPv6 address; node 2 binds :: and picks
#     the address it advertises itself;
#   - the encrypted overlay forms sessions with both peers over IPv6 UDP;
#   - node RPC (a create placed on node 3 from node 3, one on node 1), the
#     replicated state (node 1 lists node 3's shed) and the event bus (node 1
#     receives node 3's shed events) work over ZeroMQ tcp://[v6]:port;
#   - a shed on node 1 pings a shed on node 3 across the overlay, which stays
#     IPv4 (198.19.0.0/16) inside the sheds;
#   - the overlay datagrams on node 1's eth0 are IPv6 (tcpdump);
#   - then, restarted in plain mode (kernel VXLAN with an IPv6 local address
#     and IPv6 FDB destinations), two new sheds ping the same way.
# Needs root, python3, ping, nsenter, tcpdump; exits 77 (skip) otherwise.
set -euo pipefail
# shellcheck source-path=SCRIPTDIR
. "$(dirname "$0")/harness.sh"

N=3
H_UNDERLAY6=1
h_init "$N"
command -v python3 >/dev/null || h_skip "python3 not installed"
command -v ping >/dev/null || h_skip "ping (iputils-ping) not installed"
command -v nsenter >/dev/null || h_skip "nsenter (util-linux) not installed"
command -v tcpdump >/dev/null || h_skip "tcpdump not installed (scripts/install-deps.sh)"
h_sheds_init

OVERLAY_PORT=$((H_GOSSIP_PORT + 4))
BR="sb$$"

for ((i = 1; i <= N; i++)); do
    [[ -z "$(ip -n "$(h_ns "$i")" -4 addr show dev eth0)" ]] || h_fail "node $i: eth0 has an IPv4 address"
done

start_all() {   # start_all MODE
    local i
    for ((i = 1; i <= N; i++)); do
        h_sheds_config "$i" "network:
  mode: $1
  cidr: 198.19.0.0/16
  block_prefix: 24
  bridge: $BR
  device: sd$$n$i" >/dev/null
        if ((i == 2)); then
            # Node 2 binds :: (dual stack) with no advertise: it must pick
            # its global IPv6 address itself (no default route here: the
            # first usable one, never the link-local fe80::), and every
            # plane binds the wildcard (tcp://[::]:port, UDP [::]).
            h_start_node "$i" --config "$H_TMP/n$i/config.yaml" --bind "[::]:$H_GOSSIP_PORT"
        else
            h_start_node "$i" --config "$H_TMP/n$i/config.yaml"
        fi
    done
    for ((i = 1; i <= N; i++)); do h_wait_ready "$i" 30; done
}
h_log "phase 1: encrypted overlay"
start_all encrypted
grep -q 'msg="node links up" endpoint=tcp://\[::\]:' "$(h_logfile 2)" || h_fail "node 2: links not bound to tcp://[::]"
grep -q "msg=\"advertising\" addr=$(h_addr 2) " "$(h_logfile 2)" || h_fail "node 2 (bind ::) did not advertise $(h_addr 2)"

# ---- membership -----------------------------------------------------------
h_wait_members 3 20 || h_fail "3 nodes on an IPv6 underlay did not converge"
h_log "membership converged: 3 alive on every node"
for ((i = 1; i <= N; i++)); do
    got=$(h_ctl "$i" --json members | python3 -c '
import json, sys
print(" ".join("%s=%s" % (m["name"], m["addr"]) for m in sorted(json.load(sys.stdin), key=lambda m: m["name"])))')
    want="node1=$(h_addr 1) node2=$(h_addr 2) node3=$(h_addr 3)"
    h_assert_eq "$want" "$got" "node $i's view of member addresses"
done
h_log "members seen at their IPv6 addresses: $want"

# ---- overlay sessions -----------------------------------------------------
jpy() { python3 -c "import json,sys; o=json.load(sys.stdin); $1"; }
net_ok() {   # net_ok i MODE
    local out
    out=$(h_ctl "$1" --json network 2>/dev/null) || return 1
    jpy "
blocks = [b['block'] for b in o['blocks'] if b['block']]
peers = o['peers']
ok = o['mode'] == '$2' and o['ready'] and len(set(blocks)) == 3 and len(peers) == 2
if '$2' == 'encrypted':
    ok = ok and all(p['session'] == 'established' for p in peers)
sys.exit(0 if ok else 1)" <<<"$out"
}
for ((i = 1; i <= N; i++)); do
    h_retry 30 net_ok "$i" encrypted || { h_ctl "$i" network || true; h_fail "node $i: no 3 blocks / 2 established sessions"; }
done
h_log "every node: 3 address blocks, 2 established overlay sessions"
# MTU for a 40-byte outer IPv6 header (docs/overlay.md "MTU"): 1382, not 1402.
h_assert_eq 1382 "$(h_ctl 1 --json network | jpy "print(o['mtu'])")" "encrypted shed MTU on an IPv6 underlay"

# ---- bus: node 3's shed events reach a consumer on node 1 -------------------
events_out=$H_TMP/shed-events.jsonl
h_consume 1 "$events_out" --timeout 20 shed.node3.
events_pid=$H_CONSUME_PID
sleep 2     # the subscription travels to node 3 first

# ---- RPC + state: sheds placed on node 1 and node 3 -------------------------
h_ctl 1 create rs1 --cpus 0.5 --memory 256M --constraint node=node1 >/dev/null || h_fail "create rs1"
h_ctl 1 create rs3 --cpus 0.5 --memory 256M --constraint node=node3 >/dev/null \
    || h_fail "create rs3 (from node 1, placed on node 3 over RPC)"
shed_field() {   # shed_field NAME FIELD (node 1's view, from the replicated state)
    h_ctl 1 --json list 2>/dev/null | python3 -c '
import json, sys
for s in json.load(sys.stdin):
    if s["name"] == sys.argv[1]:
        print(s.get(sys.argv[2], "")); break' "$1" "$2"
}
running() { [[ "$(shed_field "$1" state)" == running ]]; }
h_retry 30 running rs1 || h_fail "rs1 not running"
h_retry 30 running rs3 || h_fail "rs3 not running (node 1's view of node 3's record)"
h_assert_eq node3 "$(shed_field rs3 node)" "node of rs3"
rs1_ip=$(shed_field rs1 ip); rs3_ip=$(shed_field rs3 ip)
[[ "$rs1_ip" == 198.19.* && "$rs3_ip" == 198.19.* ]] || h_fail "sheds without IPv4 overlay addresses: '$rs1_ip' '$rs3_ip'"
h_log "rs1 $rs1_ip on node1, rs3 $rs3_ip on node3 (placed over RPC, listed from state)"

# ---- overlay ping, captured on the underlay ---------------------------------
# ping_across A B MODE: shed A (node 1) and shed B (node 3) ping each other;
# node 1's eth0 must carry the overlay as IPv6 datagrams between the two.
ping_across() {
    local a=$1 b=$2 mode=$3 pa pb ipa ipb cap cap_pid
    pa=$(h_shed_pid "$a" 1); pb=$(h_shed_pid "$b" 3)
    [[ -n "$pa" && -n "$pb" ]] || h_fail "no init process for $a ($pa) / $b ($pb)"
    ipa=$(shed_field "$a" ip); ipb=$(shed_field "$b" ip)
    cap=$H_TMP/underlay-$mode.txt
    ip netns exec "$(h_ns 1)" tcpdump -l -n -i eth0 -c 4 "udp port $OVERLAY_PORT" >"$cap" 2>"$cap.err" &
    cap_pid=$!
    H_STARTED_PIDS+=("$cap_pid")
    sleep 1
    h_retry 15 nsenter -t "$pa" -n ping -c 1 -W 1 "$ipb" >/dev/null \
        || h_fail "$mode: $a ($ipa, node 1) cannot ping $b ($ipb, node 3) over the overlay"
    nsenter -t "$pa" -n ping -c 3 -i 0.2 -W 1 "$ipb" >/dev/null || h_fail "$mode: $a -> $b: pings lost"
    nsenter -t "$pb" -n ping -c 1 -W 1 "$ipa" >/dev/null || h_fail "$mode: $b cannot ping $a"
    h_log "$mode: $a ($ipa) and $b ($ipb) ping each other across the overlay"
    for _ in $(seq 50); do kill -0 "$cap_pid" 2>/dev/null || break; sleep 0.1; done
    kill "$cap_pid" 2>/dev/null || true
    wait "$cap_pid" 2>/dev/null || true
    h_log "$mode: underlay capture: $(head -2 "$cap" | tr '\n' '|')"
    grep -q "IP6 $(h_addr 1)\.[0-9]* > $(h_addr 3)\.$OVERLAY_PORT\|IP6 $(h_addr 3)\.[0-9]* > $(h_addr 1)\.$OVERLAY_PORT" "$cap" \
        || h_fail "$mode: no IPv6 overlay datagram between node 1 and node 3 on the underlay"
}
ping_across rs1 rs3 encrypted

# ---- the bus consumer saw rs3's state changes from node 3 -------------------
wait "$events_pid" || h_fail "events consumer on node 1 failed (see $events_out.err)"
h_check_events "$events_out" '
rs3 = [e for e in events if e["topic"] == "shed.node3.rs3" and e["origin"] == "node3"]
if not rs3: fail("no shed.node3.rs3 event reached node 1")
'
h_log "node 1 received node 3's shed events over the bus"

# ---- plain mode: the kernel VXLAN device over IPv6 --------------------------
h_log "phase 2: plain mode (kernel VXLAN, IPv6 local address and FDB)"
h_ctl 1 delete rs1 >/dev/null || h_fail "delete rs1"
h_retry 10 h_ctl 1 delete rs3 >/dev/null || h_fail "delete rs3"
for ((i = 1; i <= N; i++)); do h_stop_node "$i" || h_fail "node $i did not stop cleanly"; done
start_all plain
h_wait_members 3 20 || h_fail "plain: 3 nodes did not converge again"
for ((i = 1; i <= N; i++)); do
    h_retry 30 net_ok "$i" plain || { h_ctl "$i" network || true; h_fail "node $i (plain): no 3 blocks / 2 peers"; }
done
h_assert_eq 1430 "$(h_ctl 1 --json network | jpy "print(o['mtu'])")" "plain shed MTU on an IPv6 underlay"
h_ctl 1 create ps1 --cpus 0.5 --memory 256M --constraint node=node1 >/dev/null || h_fail "create ps1"
h_ctl 1 create ps3 --cpus 0.5 --memory 256M --constraint node=node3 >/dev/null || h_fail "create ps3"
h_retry 30 running ps1 || h_fail "ps1 not running"
h_retry 30 running ps3 || h_fail "ps3 not running"
ping_across ps1 ps3 plain
h_log "PASS: IPv6 underlay: membership, RPC, state, bus and overlay (encrypted and plain)"
