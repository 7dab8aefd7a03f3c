#!/usr/bin/env bash
# bench/overlay.sh [--quick] [--runs R] [--duration S] - overlay throughput
# between two sheds on two different nodes, three datapaths in ONE run on the
# same namespaces (the machine is shared: only numbers from one run compare):
#   (a) encrypted: real shed-node processes, `network.mode: encrypted` (our
#       userspace AEAD datapath, TAP offloads)
#   (b) plain:     the same nodes restarted with `network.mode: plain` (kernel
#       VXLAN device, FDB/neighbours programmed by the node, nftables filter)
#   (c) fastd:     the nodes stopped (the bridges and sheds stay), one fastd per
#       node namespace (`mode tap`, `method "salsa2012+umac"`, keys from
#       `fastd --generate-key`), its TAP on the node bridge: the same
#       shed -> bridge -> tunnel -> bridge -> shed path.
# iperf3 TCP shed A -> shed B, 1 stream and 4 streams, DURATION s each (5),
# median of RUNS (3; --quick: 1 run). Final line (single-stream numbers, the
# ratio = encrypted / fastd):
#   RESULT encrypted_gbps=.. plain_gbps=.. fastd_gbps=.. ratio_vs_fastd=.. \
#          encrypted_p4_gbps=.. plain_p4_gbps=.. fastd_p4_gbps=.. ratio_vs_plain=.. \
#          cpu_s_per_gb=.. plain_cpu_s_per_gb=.. cycles_per_byte=.. plain_cycles_per_byte=..
# (CPU per byte: both nodes plus both iperf3 ends, per GB received; cycles
# at the nominal clock from /proc/cpuinfo.)
# Goal (issue 6): encrypted >= 3x fastd in the same run.
#
# Topology: integration/harness.sh with 2 nodes (underlay 198.18.0.11/.12 on
# a bridge in its own namespace); on each node the node bridge sbP with a
# "shed": a veth from the node bridge into a namespace of its own (shPs<i>),
# addressed from `shedctl network attach` (ip, mac, gateway, MTU), as
# integration/test_network.sh does. MTU: 1402 for encrypted and fastd (fastd
# is given `mtu 1402`, under its own limit for IPv4 tap mode, so neither
# fragments; ours sends TSO super-frames as MTU-sized chunks, see
# docs/overlay.md), 1450 for plain (what the node computes).
# Needs root, iperf3, python3, fastd; SHED_BUILD_DIR (default <repo>/build)
# holding node/shed-node and node/shedctl. Every name carries the PID; the
# harness trap stops what we started (by PID) and deletes the namespaces.
set -euo pipefail

DURATION=${DURATION:-5}
RUNS=${RUNS:-3}
while (($#)); do
    case $1 in
        --quick) RUNS=1 ;;
        --runs) RUNS=$2; shift ;;
        --duration) DURATION=$2; shift ;;
        *) echo "usage: $0 [--quick] [--runs R] [--duration S]" >&2; exit 2 ;;
    esac
    shift
done

export SHED_LOG_LEVEL=${SHED_LOG_LEVEL:-info}
export SHED_TEST_DEADLINE=${SHED_TEST_DEADLINE:-900}
# shellcheck source-path=SCRIPTDIR
. "$(dirname "$0")/../integration/harness.sh"

for t in iperf3 python3 fastd; do
    command -v "$t" >/dev/null || { echo "overlay.sh: needs $t (scripts/install-deps.sh)" >&2; exit 1; }
done

N=2
h_init "$N"
BR="sb$$"
FPORT=10000
jpy() { python3 -c "import json,sys; o=json.load(sys.stdin); $1"; }

write_config() {   # i MODE
    cat >"$H_TMP/n$1/net.yaml" <<EOF
network:
  mode: $2
  cidr: 198.19.0.0/16
  block_prefix: 24
  vni: 4242
  bridge: $BR
  device: sd$$n$1
EOF
}

net_ok() {   # i MODE: 2 blocks, 1 peer (established when encrypted)
    local out
    out=$(h_ctl "$1" --json network 2>/dev/null) || return 1
    jpy "
blocks = [b['block'] for b in o['blocks'] if b['block']]
ok = o['mode'] == '$2' and o['ready'] and len(set(blocks)) == 2 and len(o['peers']) == 1
if '$2' == 'encrypted':
    ok = ok and all(p['session'] == 'established' for p in o['peers'])
sys.exit(0 if ok else 1)" <<<"$out"
}

start_all() {   # MODE
    local i
    for ((i = 1; i <= N; i++)); do
        write_config "$i" "$1"
        h_start_node "$i" --config "$H_TMP/n$i/net.yaml"
    done
    for ((i = 1; i <= N; i++)); do h_wait_ready "$i" 30; done
    for ((i = 1; i <= N; i++)); do
        h_retry 30 net_ok "$i" "$1" || { h_ctl "$i" network >&2 || true; h_fail "node $i not ready in $1 mode"; }
    done
}

stop_all() {
    local i
    for ((i = 1; i <= N; i++)); do h_stop_node "$i" || h_fail "node $i did not stop"; done
}

SHED_IP=()
set_mtu() {   # i MTU: both ends of shed i's veth
    h_exec "$1" ip link set "sv$$h$1" mtu "$2"
    ip -n "sh$$s$1" link set "sv$$p$1" mtu "$2"
}
make_shed() {   # i: veth on node i's bridge, addressed by `network attach`
    local i=$1 ns="sh$$s$1" host="sv$$h$1" peer="sv$$p$1" att mtu
    if ! ip netns list | grep -qw "$ns"; then
        ip netns add "$ns"
        H_CREATED_NS+=("$ns")
        ip -n "$ns" link set lo up
        h_exec "$i" ip link add "$host" type veth peer name "$peer"
        h_exec "$i" ip link set "$peer" netns "$ns"
    fi
    att=$(h_retry 15 h_ctl "$i" network attach "shed$i") || h_fail "node $i: network attach failed"
    mtu=$(jpy "print(o['mtu'])" <<<"$att")
    SHED_IP[i]=$(jpy "print(o['ip'])" <<<"$att")
    h_exec "$i" ip link set "$host" master "$BR" up
    ip -n "$ns" addr flush dev "$peer"
    ip -n "$ns" link set "$peer" address "$(jpy "print(o['mac'])" <<<"$att")" up
    ip -n "$ns" addr add "${SHED_IP[i]}/$(jpy "print(o['prefix'])" <<<"$att")" dev "$peer"
    ip -n "$ns" route replace default via "$(jpy "print(o['gateway'])" <<<"$att")" dev "$peer"
    set_mtu "$i" "$mtu"
    SHED_MTU=$mtu
}

shed_ping() { ip netns exec "sh$$s1" ping -c 1 -W 1 -q "${SHED_IP[2]}" >/dev/null 2>&1; }

# utime+stime ticks of the running shed-nodes (in the fastd run the fastd
# processes themselves are not counted: its cpu_s/GB is the iperf3 ends').
node_ticks() {
    local t=0 pid
    for pid in "${H_PID[@]}"; do
        [[ -n $pid && -r /proc/$pid/stat ]] || continue
        t=$((t + $(awk '{print $14 + $15}' "/proc/$pid/stat")))
    done
    echo "$t"
}

# measure STREAMS: iperf3 TCP shed 1 -> shed 2, "Gbit/s cpu_s_per_gb"
# received, median of RUNS each. CPU = both nodes' user+system time (the
# encrypted datapath runs in them; plain mode's kernel VXLAN work is charged
# to the iperf3 ends, whose CPU comes from iperf3's own report).
measure() {
    local streams=$1 out=() cpu=() r spid t0 t1 g c
    for ((r = 0; r < RUNS; r++)); do
        ip netns exec "sh$$s2" iperf3 -s -1 -B "${SHED_IP[2]}" >/dev/null 2>&1 &
        spid=$!
        H_STARTED_PIDS+=("$spid")
        sleep 0.5
        t0=$(node_ticks)
        ip netns exec "sh$$s1" iperf3 -c "${SHED_IP[2]}" -t "$DURATION" -P "$streams" -J \
            >"$H_TMP/iperf.json" 2>/dev/null || true
        t1=$(node_ticks)
        read -r g c < <(python3 -c '
import json, sys
try:
    e = json.load(open(sys.argv[1]))["end"]
    r = e["sum_received"]; u = e["cpu_utilization_percent"]
    cpu = int(sys.argv[2]) / float(sys.argv[3]) + (u["host_total"] + u["remote_total"]) / 100 * r["seconds"]
    print("%.2f %.3f" % (r["bits_per_second"] / 1e9, cpu / (r["bytes"] / 1e9) if r["bytes"] else 0))
except Exception:
    print("0.00 0")' "$H_TMP/iperf.json" "$((t1 - t0))" "$(getconf CLK_TCK)")
        out+=("$g"); cpu+=("$c")
        kill "$spid" 2>/dev/null || true
        wait "$spid" 2>/dev/null || true
    done
    echo "$(printf '%s\n' "${out[@]}" | sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}')" \
         "$(printf '%s\n' "${cpu[@]}" | sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}')"
}

MHZ=$(awk -F: '/^cpu MHz/ {printf "%d", $2; exit}' /proc/cpuinfo)
MHZ=${MHZ:-2000}
cpb() { awk -v c="$1" -v m="$MHZ" 'BEGIN {printf "%.2f", c * m / 1000}'; }

declare -A R C
run_mode() {   # NAME
    local s g c
    for s in 1 4; do
        read -r g c < <(measure "$s")
        R[$1,$s]=$g; C[$1,$s]=$c
        printf '# %-10s streams=%s  %6s Gbit/s  %6s cpu_s/GB %5s cycles/B  (mtu %s, median of %s x %ss)\n' \
            "$1" "$s" "$g" "$c" "$(cpb "$c")" "$SHED_MTU" "$RUNS" "$DURATION"
    done
}

echo "# overlay.sh: iperf3 TCP shed on node1 -> shed on node2, $(nproc) cores, underlay MTU 1500"

# ---------------------------------------------------------------- encrypted
start_all encrypted
make_shed 1; make_shed 2
h_retry 20 shed_ping || h_fail "no connectivity (encrypted)"
echo "# encrypted: aead $(h_ctl 1 --json network | jpy "print(o['peers'][0]['aead'])")"
run_mode encrypted
stop_all

# -------------------------------------------------------------------- plain
start_all plain
make_shed 1; make_shed 2
h_retry 20 shed_ping || h_fail "no connectivity (plain)"
run_mode plain
stop_all

# -------------------------------------------------------------------- fastd
# The node bridges and the sheds stay after the nodes stop; fastd's TAP
# takes the overlay device's place on each bridge.
for ((i = 1; i <= N; i++)); do
    fastd --generate-key >"$H_TMP/fastd$i.key" 2>/dev/null
done
fkey() { awk -v k="$2:" '$1 == k {print $2}' "$H_TMP/fastd$1.key"; }
for ((i = 1; i <= N; i++)); do
    j=$((3 - i))
    cat >"$H_TMP/fastd$i.conf" <<EOF
log level warn;
interface "sf$$n$i";
mode tap;
method "salsa2012+umac";
bind $(h_addr "$i"):$FPORT;
secret "$(fkey "$i" Secret)";
mtu 1402;
peer "node$j" {
  key "$(fkey "$j" Public)";
  remote $(h_addr "$j"):$FPORT;
}
EOF
    ip netns exec "$(h_ns "$i")" fastd -c "$H_TMP/fastd$i.conf" >"$H_TMP/fastd$i.log" 2>&1 &
    H_STARTED_PIDS+=("$!")
done
for ((i = 1; i <= N; i++)); do
    h_retry 10 h_exec "$i" ip link show "sf$$n$i" >/dev/null 2>&1 \
        || { cat "$H_TMP/fastd$i.log" >&2; h_fail "fastd on node $i made no TAP"; }
    h_exec "$i" ip link set "sf$$n$i" master "$BR" mtu 1402 up
    set_mtu "$i" 1402
done
SHED_MTU=1402
h_retry 20 shed_ping || { cat "$H_TMP"/fastd*.log >&2; h_fail "no connectivity (fastd)"; }
run_mode fastd

ratio=$(python3 -c 'import sys; e, f = map(float, sys.argv[1:]); print("%.2f" % (e / f if f else 0))' \
    "${R[encrypted,1]}" "${R[fastd,1]}")
ratio_plain=$(awk -v a="${R[encrypted,1]}" -v b="${R[plain,1]}" \
              'BEGIN {printf "%.2f", (b > 0) ? a / b : 0}')
echo "# load average $(cut -d' ' -f1-3 /proc/loadavg) (shared machine: compare within one run)"
echo "RESULT encrypted_gbps=${R[encrypted,1]} plain_gbps=${R[plain,1]} fastd_gbps=${R[fastd,1]}" \
     "ratio_vs_fastd=$ratio encrypted_p4_gbps=${R[encrypted,4]} plain_p4_gbps=${R[plain,4]}" \
     "fastd_p4_gbps=${R[fastd,4]} ratio_vs_plain=$ratio_plain" \
     "cpu_s_per_gb=${C[encrypted,1]} plain_cpu_s_per_gb=${C[plain,1]}" \
     "cycles_per_byte=$(cpb "${C[encrypted,1]}") plain_cycles_per_byte=$(cpb "${C[plain,1]}")"
