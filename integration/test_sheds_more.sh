#!/usr/bin/env bash
# test_sheds_more.sh: more of the scheduler with real shed-node processes in
# network namespaces (harness.sh) and the netns driver, shed-agent as init.
# 3 nodes, 4 cpus / 4 GiB each (h_sheds_config).
#   a. 20 sheds created at once, 7/7/6 from the 3 nodes (background shedctl
#      calls): all placed and running, every name once, no node over its
#      capacity (sum of its sheds from `list --json`, and the limits
#      written in its cgroups, both <= capacity)
#   b. what the node hands the driver beyond cpus/memory (every node runs
#      with driver.pids_max 64, net_rate 20mbit, io_read_bps 20M and
#      io_write_bps 10M): two sheds made by
#      `shedctl create` on nodes 1 and 2 have the overlay's MTU (`network
#      --json`) on both veth ends, exchange full-size pings with DF set and
#      1500-byte pings without (fragmented in the shed); tbf at 20Mbit on
#      both ends; I/O limits in the blkio/io files (data dir on a block
#      device only); pids.max 64, and a process in
#      the shed's cgroup that forks 100 children gets EAGAIN before 64
#   c. nodes 1 and 2 filled (pinned sheds): a create on node 1 runs on node 3
#   d. memory limit enforced: a shed with --memory 64M; a process moved into
#      its memory cgroup (before it allocates) inside its netns allocates
#      300 MiB and is OOM-killed (SIGKILL, memory.failcnt > 0); 16 MiB works;
#      the shed's init survives
#   e. drain node 3, kill -9 it, restart it: the same init processes
#      (re-adopted, not re-created), running, every name once on every node;
#      still draining after the restart (a pinned create is refused, its
#      node record says so); undrain
set -euo pipefail
. "$(dirname "$0")/harness.sh"

h_init 3
h_sheds_init
# Appended right below h_sheds_config's driver: keys, so still in driver:.
LIMITS=$'  pids_max: 64\n  net_rate: 20mbit\n  io_read_bps: 20M\n  io_write_bps: 10M'
for i in 1 2 3; do h_start_node "$i" --config "$(h_sheds_config "$i" "$LIMITS")"; done
for i in 1 2 3; do h_wait_ready "$i"; done
h_wait_members 3 15 || h_fail "3 nodes did not see each other"

node_records_ok() {
    h_ctl "$1" --json state node 2>/dev/null | python3 -c '
import json, sys
r = json.load(sys.stdin)
sys.exit(0 if len([x for x in r if x.get("kind") == "node"]) >= 3 else 1)'
}
for i in 1 2 3; do h_retry 15 node_records_ok "$i" || h_fail "node $i does not see 3 node records"; done
sleep 1.5   # capacity records replicate (anti-entropy 1 s)

# field i NAME FIELD: FIELD of shed NAME in node i's `list --json`.
field() {
    h_ctl "$1" --json list 2>/dev/null | python3 -c '
import json, sys
name, f = sys.argv[1], sys.argv[2]
try:
    for s in json.load(sys.stdin):
        if s["name"] == name:
            print(s[f]); break
except ValueError:
    pass
' "$2" "$3"
}
is_state() { [[ "$(field "$1" "$2" state)" == "$3" ]]; }
count() { h_ctl "$1" --json list 2>/dev/null | python3 -c 'import json,sys; print(len(json.load(sys.stdin)))'; }
has_count() { [[ "$(count "$1")" == "$2" ]]; }
# shed_cg NAME NODE_INDEX: the shed's memory cgroup directory (cgroup v1;
# v2: the unified group).
shed_cg() {
    if [[ -d "$H_CG/memory/$H_ID-node$2/$1" ]]; then
        echo "$H_CG/memory/$H_ID-node$2/$1"
    elif [[ -d "$H_CG/$H_ID-node$2/$1" ]]; then
        echo "$H_CG/$H_ID-node$2/$1"
    fi
}
# check_cluster i WANT: node i lists WANT sheds, all running, every name
# once, and no node holds more than its capacity (4 cpus, 4 GiB from
# h_sheds_config): by the sheds listed, and by the limits really written in
# each node's cgroups (cpu.cfs_quota_us, memory.limit_in_bytes; v1).
# Prints the problem on failure.
check_cluster() {
    local i=$1 want=$2
    h_ctl "$i" --json list >"$H_TMP/list.$i" 2>/dev/null || return 1
    python3 - "$H_TMP/list.$i" "$want" "$H_CG" "$H_ID" <<'EOF'
import glob, json, os, sys
sheds = json.load(open(sys.argv[1]))
want, cg, run = int(sys.argv[2]), sys.argv[3], sys.argv[4]
cap = (4000, 4096)
bad = []
if len(sheds) != want:
    bad.append("%d sheds listed, want %d" % (len(sheds), want))
names = {}
for s in sheds:
    names[s["name"]] = names.get(s["name"], 0) + 1
    if s["state"] != "running":
        bad.append("%s@%s is %s" % (s["name"], s["node"], s["state"]))
bad += ["name %s held %d times" % (n, c) for n, c in names.items() if c > 1]
per = {}
for s in sheds:
    p = per.setdefault(s["node"], [0, 0])
    p[0] += s["cpus_milli"]; p[1] += s["memory_mb"]
for n, used in sorted(per.items()):
    if used[0] > cap[0] or used[1] > cap[1]:
        bad.append("%s overcommitted by its sheds: %s > %s" % (n, used, cap))
def total(n, ctl, f, scale):
    t = 0
    for d in glob.glob("%s/%s/%s-%s/*/%s" % (cg, ctl, run, n, f)):
        v = int(open(d).read())
        if v > 0: t += v // scale
    return t
if os.path.isdir("%s/memory" % cg):
    for n in ("node1", "node2", "node3"):
        cpu = total(n, "cpu", "cpu.cfs_quota_us", 100)
        mem = total(n, "memory", "memory.limit_in_bytes", 1 << 20)
        if cpu > cap[0] or mem > cap[1]:
            bad.append("%s overcommitted in its cgroups: %d millicpus, %d MiB" % (n, cpu, mem))
print("; ".join(bad) if bad else "ok: " + " ".join(
    "%s=%d sheds %s" % (n, sum(1 for s in sheds if s["node"] == n), per[n]) for n in sorted(per)))
sys.exit(1 if bad else 0)
EOF
}
delete_all() {
    local s pids=()
    for s in $(h_ctl 1 --json list | python3 -c 'import json,sys; print(" ".join(s["name"]+"@"+s["node"] for s in json.load(sys.stdin)))'); do
        (h_ctl 1 delete "$s" >/dev/null) &
        pids+=($!)
    done
    local p
    for p in "${pids[@]}"; do wait "$p" || h_fail "a delete failed"; done
    for i in 1 2 3; do h_retry 10 has_count "$i" 0 || h_fail "node $i still lists $(count "$i") sheds"; done
}

h_log "--- a. 20 concurrent creates from 3 nodes"
t0=$SECONDS
pids=()
for ((k = 0; k < 20; k++)); do
    i=$((k % 3 + 1))
    (set +e; h_ctl "$i" create "m$k" --cpus 0.5 --memory 256M >"$H_TMP/m.$k" 2>&1
     echo $? >"$H_TMP/m.$k.rc") &
    pids+=($!)
done
wait "${pids[@]}"   # not a bare `wait`: the harness watchdog is a job too
fails=0
for ((k = 0; k < 20; k++)); do
    if [[ "$(cat "$H_TMP/m.$k.rc")" != 0 ]]; then
        fails=$((fails + 1))
        echo "create m$k: $(tail -1 "$H_TMP/m.$k")" >&2
    fi
done
h_assert_eq 0 "$fails" "failed creates of 20 (10 cpus / 5 GiB asked, 12 cpus / 12 GiB there)"
h_log "20 creates answered in $((SECONDS - t0)) s"
for i in 1 2 3; do
    h_retry 10 check_cluster "$i" 20 >/dev/null || h_fail "node $i: $(check_cluster "$i" 20)"
    h_log "node $i sees: $(check_cluster "$i" 20)"
done
# Every shed has its own running init in its own cgroup on its node.
h_ctl 1 --json list | python3 -c 'import json,sys; [print(s["name"], s["node"][4:]) for s in json.load(sys.stdin)]' >"$H_TMP/a.placed"
while read -r s n; do
    [[ -n "$(h_shed_pid "$s" "$n")" ]] || h_fail "shed $s on node$n has no process in its cgroup"
done <"$H_TMP/a.placed"
delete_all

h_log "--- b. MTU, network rate and pids limits of sheds made by shedctl create"
# host_veth i NAME: the host end of a shed's veth (netns.h: "sv" + 10 hex
# digits of the FNV-1a hash of the namespace name shed-NODE-NAME).
host_veth() {
    python3 -c '
import sys
h = 0xcbf29ce484222325
for c in ("shed-node%s-%s" % (sys.argv[1], sys.argv[2])).encode():
    h = ((h ^ c) * 0x100000001b3) & 0xffffffffffffffff
print("sv%010x" % (h & 0xffffffffff))' "$1" "$2"
}
link_mtu() { sed -n 's/.* mtu \([0-9]*\) .*/\1/p'; }
# shed_cgc NAME NODE_INDEX CONTROLLER: the shed's group of one controller
# (v1), or its unified group (v2).
shed_cgc() {
    if [[ -d "$H_CG/$3/$H_ID-node$2/$1" ]]; then
        echo "$H_CG/$3/$H_ID-node$2/$1"
    elif [[ -d "$H_CG/$H_ID-node$2/$1" ]]; then
        echo "$H_CG/$H_ID-node$2/$1"
    fi
}
mtu=$(h_ctl 1 --json network | python3 -c 'import json,sys; print(json.load(sys.stdin)["mtu"])')
((mtu >= 576 && mtu < 1500)) || h_fail "overlay MTU '$mtu'"
h_ctl 1 create net1 --node node1 --cpus 0.5 --memory 256M >/dev/null || h_fail "create net1"
h_ctl 2 create net2 --node node2 --cpus 0.5 --memory 256M >/dev/null || h_fail "create net2"
h_retry 5 is_state 1 net2 running || h_fail "net2 is '$(field 1 net2 state)'"
p1=$(h_shed_pid net1 1)
p2=$(h_shed_pid net2 2)
[[ -n "$p1" && -n "$p2" ]] || h_fail "no init for net1 ('$p1') or net2 ('$p2')"
ip2=$(field 1 net2 ip)
ip1=$(field 1 net1 ip)
for k in 1 2; do
    pid=$p1 veth=$(host_veth 1 net1)
    ((k == 2)) && pid=$p2 veth=$(host_veth 2 net2)
    h_assert_eq "$mtu" "$(nsenter -t "$pid" -n ip -o link show dev eth0 | link_mtu)" \
        "MTU of net$k's eth0 (shedctl network: $mtu)"
    h_assert_eq "$mtu" "$(h_exec "$k" ip -o link show dev "$veth" | link_mtu)" \
        "MTU of net$k's host end $veth"
    # tbf both ways: to the shed on the host end, from it on eth0.
    for q in "$(h_exec "$k" tc qdisc show dev "$veth")" "$(nsenter -t "$pid" -n tc qdisc show dev eth0)"; do
        [[ "$q" == *"tbf"*"rate 20Mbit"* ]] || h_fail "net$k: no 20Mbit tbf: $q"
    done
done
# The first packets may wait for the overlay's peer session handshake.
h_retry 10 nsenter -t "$p1" -n ping -c 1 -W 1 "$ip2" >/dev/null || h_fail "net1 cannot ping net2 ($ip2)"
nsenter -t "$p1" -n ping -c 2 -i 0.2 -W 2 -M do -s $((mtu - 28)) "$ip2" >/dev/null \
    || h_fail "full-size ($mtu) ping with DF from net1 to net2 failed"
nsenter -t "$p2" -n ping -c 2 -i 0.2 -W 2 -M do -s $((mtu - 28)) "$ip1" >/dev/null \
    || h_fail "full-size ($mtu) ping with DF from net2 to net1 failed"
# A 1500-byte datagram, fragmented to the MTU in the shed. (Had the shed
# believed in 1500 it would leave whole; a bridge drops it at the TAP,
# unless br_netfilter is loaded and refragments it, as on the dev host: so
# the MTU asserts above, not this ping, are what catch a 1500 veth.)
nsenter -t "$p1" -n ping -c 2 -i 0.2 -W 2 -M dont -s 1472 "$ip2" >/dev/null \
    || h_fail "a 1500-byte ping (no DF) from net1 to net2 did not get through"
h_log "net1 <-> net2: MTU $mtu on both ends, full-size pings with DF, 1500-byte pings fragmented"

pcg=$(shed_cgc net1 1 pids)
[[ -n "$pcg" ]] || h_fail "no pids cgroup for net1"
h_assert_eq 64 "$(cat "$pcg/pids.max")" "pids.max of net1"
# I/O limits need the data dir on a block device (not tmpfs/overlay).
bcg=$(shed_cgc net1 1 blkio)
if [[ -f "$bcg/blkio.throttle.read_bps_device" ]]; then
    rd=$(cat "$bcg/blkio.throttle.read_bps_device") wr=$(cat "$bcg/blkio.throttle.write_bps_device")
elif [[ -f "$bcg/io.max" ]]; then
    rd=$(sed -n 's/.*rbps=\([0-9max]*\).*/x \1/p' "$bcg/io.max") wr=$(sed -n 's/.*wbps=\([0-9max]*\).*/x \1/p' "$bcg/io.max")
fi
if [[ "$(stat -fc %T "$(h_datadir 1)")" == tmpfs || "$(stat -fc %T "$(h_datadir 1)")" == overlayfs ]]; then
    h_log "data dir not on a block device: I/O limits not checked"
else
    [[ "${rd:-}" == *" 20971520" && "${wr:-}" == *" 10485760" ]] \
        || h_fail "net1's I/O limits: read '${rd:-}' write '${wr:-}', want 20M / 10M"
fi
# A process in net1 (its netns and its pids group) forks up to 100
# sleeping children; the fork that would pass 64 tasks fails with EAGAIN.
forked=$(nsenter -t "$p1" -n -- sh -c 'echo $$ >"$1/cgroup.procs" && exec python3 -c "
import errno, os, signal, time
kids, err = [], 0
for _ in range(100):
    try:
        pid = os.fork()
    except OSError as e:
        err = e.errno
        break
    if pid == 0:
        time.sleep(30)
        os._exit(0)
    kids.append(pid)
for pid in kids:
    os.kill(pid, signal.SIGKILL)
for pid in kids:
    os.waitpid(pid, 0)
print(len(kids), errno.errorcode.get(err, err))
"' sh "$pcg") || h_fail "fork test in net1 failed to run"
read -r nkids ferr <<<"$forked"
h_log "in net1: $nkids children forked, then $ferr"
h_assert_eq EAGAIN "$ferr" "error of the fork past pids.max"
((nkids >= 50 && nkids < 64)) || h_fail "$nkids children forked in a shed with pids.max 64"
pids_back() { [[ "$(cat "$pcg/pids.current")" == 1 ]]; }
h_retry 5 pids_back || h_fail "net1 still holds $(cat "$pcg/pids.current") tasks after the fork test"
h_ctl 1 delete net1 >/dev/null && h_ctl 1 delete net2 >/dev/null || h_fail "delete net1/net2"

h_log "--- c. only node 3 fits: a create on node 1 runs on node 3"
h_ctl 1 create fill1 --node node1 --cpus 3.5 --memory 1G >/dev/null || h_fail "create fill1"
h_ctl 2 create fill2 --node node2 --cpus 3.5 --memory 1G >/dev/null || h_fail "create fill2"
h_ctl 1 create big --cpus 2 --memory 1G || h_fail "create big from node 1"
h_assert_eq node3 "$(field 1 big node)" "node of big"
h_retry 5 is_state 2 big running || h_fail "big is '$(field 2 big state)' on node 2, want running"
[[ -n "$(h_shed_pid big 3)" ]] || h_fail "big has no process in node 3's cgroups"

h_log "--- d. memory limit: 64M"
h_ctl 2 create mem --node node3 --cpus 0.5 --memory 64M >/dev/null || h_fail "create mem"
mpid=$(h_shed_pid mem 3)
[[ -n "$mpid" ]] || h_fail "mem has no init"
mcg=$(shed_cg mem 3)
[[ -n "$mcg" ]] || h_fail "no cgroup directory for mem"
if [[ -f "$mcg/memory.limit_in_bytes" ]]; then
    h_assert_eq 67108864 "$(cat "$mcg/memory.limit_in_bytes")" "memory.limit_in_bytes of mem"
    failcnt() { cat "$mcg/memory.failcnt"; }
else
    h_assert_eq 67108864 "$(cat "$mcg/memory.max")" "memory.max of mem"
    failcnt() { awk '$1 == "oom_kill" {print $2}' "$mcg/memory.events"; }
fi
f0=$(failcnt)
# The child joins the cgroup (and the netns) before python allocates.
inshed() {
    nsenter -t "$mpid" -n -- sh -c 'echo $$ >"$1/cgroup.procs" && shift && exec "$@"' \
        sh "$mcg" "$@"
}
rc=0
inshed python3 -c 'b = b"x" * (16 << 20); print(len(b))' || rc=$?
h_assert_eq 0 "$rc" "exit status of a 16 MiB allocation in a 64M shed"
rc=0
inshed python3 -c 'b = b"x" * (300 << 20); print(len(b))' || rc=$?
h_assert_eq 137 "$rc" "exit status of a 300 MiB allocation in a 64M shed (SIGKILL)"
f1=$(failcnt)
((f1 > f0)) || h_fail "failure counter of mem did not grow ($f0 -> $f1)"
h_log "300 MiB in a 64M shed: killed (status 137), failure counter $f0 -> $f1"
kill -0 "$mpid" 2>/dev/null || h_fail "mem's init was killed too"
h_retry 5 is_state 1 mem running || h_fail "mem is '$(field 1 mem state)'"

h_log "--- e. drain node 3, kill -9 and restart it: its sheds are re-adopted, it stays drained"
h_ctl 1 node drain node3 || h_fail "drain node3"
declare -A before
for s in big mem; do before[$s]=$(h_shed_pid "$s" 3); done
# A node's own records reach its state.bin at the next state tick (every
# anti-entropy interval, 1 s +-25 %), not when written: a shed created less
# than that before a kill -9 is not re-adopted (its process keeps running,
# its owner no longer lists it, the other nodes keep the old record). Known
# limitation (docs/state.md, docs/scheduling.md); wait for the flush.
sleep 2.5
h_kill 3 KILL
h_retry 20 is_state 1 big unreachable || h_fail "big is '$(field 1 big state)' after kill -9, want unreachable"
h_start_node 3 --config "$H_TMP/n3/config.yaml"
h_wait_ready 3
for s in big mem; do
    for i in 1 2 3; do
        h_retry 20 is_state "$i" "$s" running || h_fail "node $i: $s is '$(field "$i" "$s" state)' after the restart"
    done
    h_assert_eq "${before[$s]}" "$(h_shed_pid "$s" 3)" "init of $s after the restart (re-adopted)"
    h_assert_eq 1 "$(wc -l <"$(shed_cg "$s" 3)/cgroup.procs")" "processes in $s's cgroup"
done
for i in 1 2 3; do
    h_retry 10 check_cluster "$i" 4 >/dev/null || h_fail "node $i after the restart: $(check_cluster "$i" 4)"
done
# The drain was recorded in node 3's data dir: node 3 says so itself
# (shed_node_draining on its /metrics), its node record says so to node 1
# (placement's reason), and a create pinned to it is still refused.
h_assert_eq "shed_node_draining 1" "$(h_exec 3 curl -sf http://127.0.0.1:7951/metrics | grep '^shed_node_draining ')" \
    "node 3's drain gauge after the restart"
if h_ctl 1 create d3 --node node3 --cpus 0.5 --memory 256M 2>"$H_TMP/d3.err"; then
    h_fail "a create pinned to node3 succeeded: it forgot its drain in the restart"
fi
grep -q "draining" "$H_TMP/d3.err" || h_fail "pinned create did not say draining: $(cat "$H_TMP/d3.err")"
h_ctl 3 node undrain || h_fail "undrain node3"
# Node 1 places by node 3's replicated record: retried until it has the undrain.
h_retry 10 h_ctl 1 create d3 --node node3 --cpus 0.5 --memory 256M >/dev/null \
    || h_fail "create on node3 after undrain"
h_ctl 1 delete d3 >/dev/null || h_fail "delete d3"
# Nothing new appeared on node 3 (no shed re-created next to the old ones).
h_assert_eq "big mem" "$(find "$H_CG"/*/"$H_ID-node3" -mindepth 1 -maxdepth 1 -type d -printf '%f\n' 2>/dev/null | sort -u | xargs)" \
    "shed cgroups on node 3"

h_log "--- clean up"
delete_all
left=$(find "$H_CG"/*/"$H_ID"-node* -mindepth 1 -type d 2>/dev/null | wc -l)
h_assert_eq 0 "$left" "shed cgroups left after delete"
h_log "PASS"
