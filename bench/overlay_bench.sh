#!/usr/bin/env bash
# bench/overlay_bench.sh [BUILD_DIR] - overlay throughput, three datapaths in
# one run, same topology, iperf3 TCP between two sheds on two "hosts":
#   (a) ours: encrypted userspace datapath, TAP offloads (TSO super-frames)
#   (b) kernel VXLAN, plaintext (vxlan device on the bridge, static FDB)
#   (c) ours with offloads off (frame by frame, still batched sendmmsg)
# Needs root, iperf3, python3, and BUILD_DIR/bench/overlay_bench_node.
# Env: DURATION (s, default 10), RUNS (default 1; median taken), STREAMS
# ("1 4"). Prints a table, then the final line
#   RESULT ours_gbps=.. kernel_vxlan_gbps=.. ours_no_offload_gbps=.. fastd_ref_gbps=0.8 goal_gbps=2.4
# (single-stream numbers; fastd_ref is DESIGN.md section 12's fastd figure
# measured earlier on this machine, not re-measured here: fastd is not
# installed; goal = 3x fastd).
#
#   shA 198.19.1.1 (eth0)                     shB 198.19.2.1 (eth0)
#     |                                          |
#   [hA] sv0 -- br0 -- tap0 | vx0            [hB] sv0 -- br0 -- tap0 | vx0
#                 uA 198.18.N.1/24 ======== uB 198.18.N.2/24  (MTU 1500)
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
BUILD=${1:-$ROOT/build-overlay}
NODE=$BUILD/bench/overlay_bench_node
DURATION=${DURATION:-10}
RUNS=${RUNS:-1}
STREAMS=${STREAMS:-"1 4"}
[[ $(id -u) -eq 0 ]] || { echo "overlay_bench: needs root" >&2; exit 1; }
[[ -x $NODE ]] || { echo "overlay_bench: build $NODE first" >&2; exit 1; }
command -v iperf3 >/dev/null || { echo "overlay_bench: needs iperf3" >&2; exit 1; }

P=$$
NET=$((P % 250 + 1))
HA=obhA$P; HB=obhB$P; SA=obsA$P; SB=obsB$P
UA=obuA$((P % 1000000)); UB=obuB$((P % 1000000))
ADDR_A=198.18.$NET.1; ADDR_B=198.18.$NET.2
MAC_A=02:5e:00:00:01:01; MAC_B=02:5e:00:00:02:01
TMP=$(mktemp -d /tmp/overlay_bench.XXXXXX)
PIDS=()

cleanup() {
    for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
    for pid in "${PIDS[@]}"; do wait "$pid" 2>/dev/null || true; done
    for ns in $SA $SB $HA $HB; do ip netns del "$ns" 2>/dev/null || true; done
    rm -rf "$TMP"
}
trap cleanup EXIT INT TERM

for ns in $HA $HB $SA $SB; do ip netns add "$ns"; ip -n "$ns" link set lo up; done
ip link add "$UA" netns "$HA" type veth peer name "$UB" netns "$HB"
ip -n "$HA" addr add "$ADDR_A/24" dev "$UA"; ip -n "$HA" link set "$UA" up
ip -n "$HB" addr add "$ADDR_B/24" dev "$UB"; ip -n "$HB" link set "$UB" up
for h in A B; do
    host=obh$h$P; shed=obs$h$P
    [[ $h == A ]] && mac=$MAC_A ip=198.19.1.1 || { mac=$MAC_B; ip=198.19.2.1; }
    [[ $h == A ]] && mac=$MAC_A
    ip -n "$host" link add br0 type bridge; ip -n "$host" link set br0 up
    ip -n "$host" link add sv0 type veth peer name eth0 netns "$shed"
    ip -n "$host" link set sv0 master br0 up
    ip -n "$shed" link set eth0 address "$mac" up
    ip -n "$shed" addr add "$ip/16" dev eth0
done

"$NODE" genkey "$TMP/a" > "$TMP/a.pub"
"$NODE" genkey "$TMP/b" > "$TMP/b.pub"

set_shed_mtu() {     # MTU on bridge ports and shed interfaces
    for h in A B; do
        ip -n obh$h$P link set sv0 mtu "$1"
        ip -n obs$h$P link set eth0 mtu "$1"
    done
}

start_ours() {       # extra args: --no-offload
    set_shed_mtu 1402
    ip netns exec "$HA" "$NODE" run --data "$TMP/a" --tap tap0 --bridge br0 --bind "$ADDR_A" \
        --port 7000 "$@" --peer "b,$(cat "$TMP/b.pub"),$ADDR_B,7000" --fdb "$MAC_B,b" \
        --arp "198.19.2.1,$MAC_B" 2>"$TMP/nodeA.log" &
    PIDS+=($!); OURS_A=$!
    ip netns exec "$HB" "$NODE" run --data "$TMP/b" --tap tap0 --bridge br0 --bind "$ADDR_B" \
        --port 7000 "$@" --peer "a,$(cat "$TMP/a.pub"),$ADDR_A,7000" --fdb "$MAC_A,a" \
        --arp "198.19.1.1,$MAC_A" 2>"$TMP/nodeB.log" &
    PIDS+=($!); OURS_B=$!
    for _ in $(seq 50); do
        ip netns exec "$SA" ping -c 1 -W 1 -q 198.19.2.1 >/dev/null 2>&1 && return 0
        sleep 0.1
    done
    echo "overlay_bench: no connectivity through our datapath" >&2; cat "$TMP"/node*.log >&2; exit 1
}

stop_ours() {
    kill -TERM "$OURS_A" "$OURS_B"; wait "$OURS_A" "$OURS_B" || true
    grep -h '^stats' "$TMP/nodeA.log" "$TMP/nodeB.log" | sed 's/^/    /' >&2 || true
}

start_vxlan() {
    set_shed_mtu 1450
    for h in A B; do
        host=obh$h$P
        [[ $h == A ]] && { local_ip=$ADDR_A; remote=$ADDR_B; rmac=$MAC_B; } \
                      || { local_ip=$ADDR_B; remote=$ADDR_A; rmac=$MAC_A; }
        ip -n "$host" link add vx0 type vxlan id 42 local "$local_ip" dstport 4789 nolearning
        ip -n "$host" link set vx0 master br0 mtu 1450 up
        bridge -n "$host" fdb append 00:00:00:00:00:00 dev vx0 dst "$remote"
        bridge -n "$host" fdb add "$rmac" dev vx0 dst "$remote" static
    done
    for _ in $(seq 50); do
        ip netns exec "$SA" ping -c 1 -W 1 -q 198.19.2.1 >/dev/null 2>&1 && return 0
        sleep 0.1
    done
    echo "overlay_bench: no connectivity through kernel VXLAN" >&2; exit 1
}

stop_vxlan() {
    for h in A B; do ip -n obh$h$P link del vx0; done
}

# iperf3 TCP from shA to shB; prints Gbit/s received (median of RUNS).
measure() {
    local streams=$1 out=() i
    for ((i = 0; i < RUNS; i++)); do
        ip netns exec "$SB" iperf3 -s -1 -D --pidfile "$TMP/iperf.pid" >/dev/null
        sleep 0.3
        ip netns exec "$SA" iperf3 -c 198.19.2.1 -t "$DURATION" -P "$streams" -J \
            > "$TMP/iperf.json" 2>/dev/null || true
        out+=("$(python3 -c '
import json,sys
try:
    d=json.load(open(sys.argv[1])); print("%.2f" % (d["end"]["sum_received"]["bits_per_second"]/1e9))
except Exception: print("0.00")' "$TMP/iperf.json")")
        [[ -f $TMP/iperf.pid ]] && kill "$(cat "$TMP/iperf.pid")" 2>/dev/null || true
        sleep 0.2
    done
    printf '%s\n' "${out[@]}" | sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'
}

declare -A R
run_mode() {        # name
    for s in $STREAMS; do
        R[$1,$s]=$(measure "$s")
        printf '%-22s streams=%s  %6s Gbit/s\n' "$1" "$s" "${R[$1,$s]}"
    done
}

"$NODE" aead
echo "overlay_bench: iperf3 TCP ${DURATION}s, runs=$RUNS, underlay MTU 1500, $(nproc) cores"
start_ours;              run_mode ours;            stop_ours
start_vxlan;             run_mode kernel_vxlan;    stop_vxlan
start_ours --no-offload; run_mode ours_no_offload; stop_ours

first=${STREAMS%% *}
echo "RESULT ours_gbps=${R[ours,$first]} kernel_vxlan_gbps=${R[kernel_vxlan,$first]}" \
     "ours_no_offload_gbps=${R[ours_no_offload,$first]} fastd_ref_gbps=0.8 goal_gbps=2.4"
