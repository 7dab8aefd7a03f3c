#!/usr/bin/env bash
# test_discovery_beacon.sh: LAN discovery with czmq's zbeacon (`--discover`),
# real shed-node processes in network namespaces on one bridge (topology: see
# harness.sh; the beacons are UDP broadcasts to 198.18.255.255 on eth0).
#   1. three nodes started with --discover and no --join find each other:
#      all three see 3 alive within 10 s
#   2. two clusters that are already joined ({4,5} and {6,7}, each node
#      joined to its partner with --join, so none is still looking for a
#      cluster), formed while an nftables partition keeps the pairs apart,
#      merge into one on the beacons once the partition is removed: all
#      four see 4 alive within 10 s (nothing else could merge them: gossip
#      and push-pull only go to members one already knows)
set -euo pipefail
# shellcheck source=harness.sh
. "$(dirname "$0")/harness.sh"

# zbeacon broadcasts on one interface; the namespaces have lo and eth0 only,
# so this is what it picks anyway: say it, so a change there cannot make it
# pick another one silently.
export ZSYS_INTERFACE=eth0

h_init 7

# start_discover i [EXTRA ARGS...]: like h_start_node, but without the
# automatic --join of node 1 (h_start_node adds it for every i > 1), and with
# --discover.
start_discover() {
    local i=$1
    shift
    local args=(--name "$(h_name "$i")"
                --bind "$(h_addr "$i"):$H_GOSSIP_PORT"
                --data-dir "$(h_datadir "$i")"
                --log-level "${SHED_LOG_LEVEL:-debug}"
                --encrypt "$H_KEY" --discover "$@")
    local log
    log=$(h_logfile "$i")
    echo "=== $(date "+%F %T") start: shed-node ${args[*]//$H_KEY/<cluster-key>}" >>"$log"
    ip netns exec "${H_NS[$i]}" "$H_NODE_BIN" "${args[@]}" >>"$log" 2>&1 &
    H_PID[i]=$!
    H_STARTED_PIDS+=("$!")
    h_log "node $i started with --discover $* (pid ${H_PID[$i]}, $(h_addr "$i"))"
}

# alive_names i: the names node i sees alive, sorted, comma-separated.
alive_names() {
    h_ctl "$1" members --json --status alive 2>/dev/null | python3 -c '
import json, sys
try:
    print(",".join(sorted(m["name"] for m in json.load(sys.stdin))))
except ValueError:
    print("")
'
}

# wait_view WANT TIMEOUT NODES...: every listed node sees exactly WANT alive.
wait_view() {
    local want=$1 timeout=$2
    shift 2
    local t0=$SECONDS i ok
    while :; do
        ok=1
        for i in "$@"; do
            [[ "$(alive_names "$i")" == "$want" ]] || { ok=0; break; }
        done
        ((ok)) && { h_log "nodes $* see $want after $((SECONDS - t0)) s"; return 0; }
        if ((SECONDS - t0 >= timeout)); then
            for i in "$@"; do h_log "node $i sees alive: '$(alive_names "$i")'"; done
            h_fail "nodes $* do not all see $want within ${timeout}s"
        fi
        sleep 0.2
    done
}

# 1. no seeds at all: the beacons are the only way to meet
for i in 1 2 3; do start_discover "$i"; done
for i in 1 2 3; do h_wait_ready "$i"; done
wait_view node1,node2,node3 10 1 2 3
for i in 1 2 3; do
    if grep -q 'not joined yet, retrying seeds' "$(h_logfile "$i")"; then
        h_fail "node $i retried seeds although it was given none"
    fi
done
h_log "step 1 ok: 3 nodes found each other with beacons only"
for i in 1 2 3; do h_stop_node "$i" >/dev/null || true; done

# 2. two joined pairs, formed apart, merge on the beacons
for a in 4 5; do for b in 6 7; do h_partition "$a" "$b"; done; done
start_discover 4 --join "$(h_addr 5):$H_GOSSIP_PORT"
start_discover 5 --join "$(h_addr 4):$H_GOSSIP_PORT"
start_discover 6 --join "$(h_addr 7):$H_GOSSIP_PORT"
start_discover 7 --join "$(h_addr 6):$H_GOSSIP_PORT"
for i in 4 5 6 7; do h_wait_ready "$i"; done
wait_view node4,node5 10 4 5
wait_view node6,node7 10 6 7
# Each node retries its --join (0.5 s, then 1 s) until it gets a join reply;
# after 3 s all four have one, so none takes beacons as a newcomer any more.
# Meanwhile the beacons keep failing across the partition: still two clusters.
sleep 3
wait_view node4,node5 1 4 5
wait_view node6,node7 1 6 7
h_heal
wait_view node4,node5,node6,node7 10 4 5 6 7
h_log "step 2 ok: two joined clusters merged on the beacons"

h_log "PASS"
