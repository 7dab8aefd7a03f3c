#!/usr/bin/env bash
# bench/overlay_bench.sh [BUILD_DIR] - overlay throughput, three datapaths in
# one run, same topology, iperf3 TCP between two sheds on two "hosts":
#   (a) ours: encrypted userspace datapath, TAP offloads (TSO super-frames)
#   (b) kernel VXLAN, plaintext (vxlan device on the bridge, static FDB)
#   (c) ours with offloads off (frame by frame, still batched sendmmsg)
# Needs root, iperf3, python3, and BUILD_DIR/bench/overlay_bench_node.
# Env: THREADS (datapath queue pairs, default 1), NODE_CPUS ("A/B": CPU
# lists for taskset of datapath A and B, e.g. "0/1"; default unpinned),
# DURATION (s, default 10),
# RUNS (default 1; median taken), STREAMS
# ("1 4"), MODES (default "ours kernel_vxlan ours_no_offload"; a subset
# for profiling, e.g. MODES=ours with `perf record -a` alongside; modes not
# run print 0 in RESULT). Prints a table, then the final line
#   RESULT ours_gbps=.. kernel_vxlan_gbps=.. ours_no_offload_gbps=.. fastd_ref_gbps=0.8 goal_gbps=2.4
#          ratio_vs_kernel=.. ours_gbps_p4=.. kernel_vxlan_gbps_p4=..
#          cpu_s_per_gb=.. kernel_cpu_s_per_gb=.. cycles_per_byte=.. kernel_cycles_per_byte=..
# (single-stream numbers unless _p4 = 4 streams; fastd_ref is the fastd
# figure measured earlier on this machine, not re-measured here; goal = 3x
# fastd). CPU per byte: user+system seconds of both iperf3 ends and (ours)
# both datapath processes over the run, per GB received; softirq work is
# charged to whichever of them triggered it (veth delivers in the sender's
# context), so this is the whole path's cost. cycles = CPU s x the nominal
# clock (/proc/cpuinfo "cpu MHz"). The machine is shared: compare within
# one run only.
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
    local pin_a=() pin_b=()
    if [[ -n ${NODE_CPUS:-} ]]; then
        pin_a=(taskset -c "${NODE_CPUS%%/*}"); pin_b=(taskset -c "${NODE_CPUS##*/}")
    fi
    ip netns exec "$HA" "${pin_a[@]}" "$NODE" run --data "$TMP/a" --tap tap0 --bridge br0 --bind "$ADDR_A" \
        --port 7000 --threads "${THREADS:-1}" "$@" --peer "b,$(cat "$TMP/b.pub"),$ADDR_B,7000" --fdb "$MAC_B,b" \
        --arp "198.19.2.1,$MAC_B" 2>"$TMP/nodeA.log" &
    PIDS+=($!); OURS_A=$!
    ip netns exec "$HB" "${pin_b[@]}" "$NODE" run --data "$TMP/b" --tap tap0 --bridge br0 --bind "$ADDR_B" \
        --port 7000 --threads "${THREADS:-1}" "$@" --peer "a,$(cat "$TMP/a.pub"),$ADDR_A,7000" --fdb "$MAC_A,a" \
        --arp "198.19.1.1,$MAC_A" 2>"$TMP/nodeB.log" &
    PIDS+=($!); OURS_B=$!
    OVERLAY_PIDS=("$OURS_A" "$OURS_B")
    for _ in $(seq 50); do
        ip netns exec "$SA" ping -c 1 -W 1 -q 198.19.2.1 >/dev/null 2>&1 && return 0
        sleep 0.1
    done
    echo "overlay_bench: no connectivity through our datapath" >&2; cat "$TMP"/node*.log >&2; exit 1
}

stop_ours() {
    OVERLAY_PIDS=()
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

MHZ=$(awk -F: '/^cpu MHz/ {printf "%d", $2; exit}' /proc/cpuinfo)
MHZ=${MHZ:-2000}
OVERLAY_PIDS=()     # datapath processes whose CPU counts (ours only)

# utime+stime ticks of the given PIDs (0 for any gone).
cpu_ticks() {
    local t=0 pid
    for pid in "$@"; do
        [[ -r /proc/$pid/stat ]] || continue
        t=$((t + $(awk '{print $14 + $15}' "/proc/$pid/stat")))
    done
    echo "$t"
}

# iperf3 TCP from shA to shB; prints "Gbit/s cpu_s_per_gb" received
# (median of RUNS each). The iperf3 ends' CPU comes from iperf3's own
# report (cpu_utilization_percent: host = client, remote = server).
measure() {
    local streams=$1 out=() cpu=() i t0 t1 hz g c
    hz=$(getconf CLK_TCK)
    for ((i = 0; i < RUNS; i++)); do
        ip netns exec "$SB" iperf3 -s -1 -D --pidfile "$TMP/iperf.pid" >/dev/null
        sleep 0.3
        t0=$(cpu_ticks "${OVERLAY_PIDS[@]}")
        ip netns exec "$SA" iperf3 -c 198.19.2.1 -t "$DURATION" -P "$streams" -J \
            > "$TMP/iperf.json" 2>/dev/null || true
        t1=$(cpu_ticks "${OVERLAY_PIDS[@]}")
        read -r g c < <(python3 -c '
import json,sys
try:
    e=json.load(open(sys.argv[1]))["end"]
    r=e["sum_received"]; u=e["cpu_utilization_percent"]
    cpu=int(sys.argv[2])/float(sys.argv[3]) + (u["host_total"]+u["remote_total"])/100*r["seconds"]
    print("%.2f %.3f" % (r["bits_per_second"]/1e9, cpu/(r["bytes"]/1e9) if r["bytes"] else 0))
except Exception: print("0.00 0")' "$TMP/iperf.json" "$((t1 - t0))" "$hz")
        out+=("$g"); cpu+=("$c")
        [[ -f $TMP/iperf.pid ]] && kill "$(cat "$TMP/iperf.pid")" 2>/dev/null || true
        sleep 0.2
    done
    echo "$(printf '%s\n' "${out[@]}" | sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}')" \
         "$(printf '%s\n' "${cpu[@]}" | sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}')"
}

declare -A R C
run_mode() {        # name
    local g c
    for s in $STREAMS; do
        read -r g c < <(measure "$s")
        R[$1,$s]=$g; C[$1,$s]=$c
        printf '%-22s streams=%s  %6s Gbit/s  %6s cpu_s/GB  %5s cycles/B\n' "$1" "$s" "$g" "$c" \
            "$(awk -v c="$c" -v m="$MHZ" 'BEGIN {printf "%.2f", c * m / 1000}')"
    done
}

MODES=${MODES:-"ours kernel_vxlan ours_no_offload"}
want() { [[ " $MODES " == *" $1 "* ]]; }
for m in ours kernel_vxlan ours_no_offload; do
    for s in $STREAMS; do R[$m,$s]=0; C[$m,$s]=0; done
done

"$NODE" aead
echo "overlay_bench: iperf3 TCP ${DURATION}s, runs=$RUNS, underlay MTU 1500, $(nproc) cores"
if want ours; then start_ours; run_mode ours; stop_ours; fi
if want kernel_vxlan; then start_vxlan; run_mode kernel_vxlan; stop_vxlan; fi
if want ours_no_offload; then start_ours --no-offload; run_mode ours_no_offload; stop_ours; fi

first=${STREAMS%% *}
last=${STREAMS##* }
cpb() { awk -v c="$1" -v m="$MHZ" 'BEGIN {printf "%.2f", c * m / 1000}'; }
ratio=$(awk -v a="${R[ours,$first]}" -v b="${R[kernel_vxlan,$first]}" \
        'BEGIN {printf "%.2f", (b > 0) ? a / b : 0}')
echo "overlay_bench: load average $(cut -d' ' -f1-3 /proc/loadavg) (shared machine)"
echo "RESULT ours_gbps=${R[ours,$first]} kernel_vxlan_gbps=${R[kernel_vxlan,$first]}" \
     "ours_no_offload_gbps=${R[ours_no_offload,$first]} fastd_ref_gbps=0.8 goal_gbps=2.4" \
     "ratio_vs_kernel=$ratio ours_gbps_p$last=${R[ours,$last]}" \
     "kernel_vxlan_gbps_p$last=${R[kernel_vxlan,$last]}" \
     "cpu_s_per_gb=${C[ours,$first]} kernel_cpu_s_per_gb=${C[kernel_vxlan,$first]}" \
     "cycles_per_byte=$(cpb "${C[ours,$first]}") kernel_cycles_per_byte=$(cpb "${C[kernel_vxlan,$first]}")"
