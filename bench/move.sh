#!/usr/bin/env bash
# bench/move.sh: moving a container shed that holds MB (200) MB of written
# data between two real nodes (docs/snapshots.md, "Move"), against the same
# bytes over a plain TCP pipe between the same two nodes' namespaces, in the
# same run. 3 nodes (integration/harness.sh, container driver, real runc):
#   1. SRC (node 1, --disk 2*MB+112 MiB) gets MB MiB of /dev/urandom (incompressible;
#      dd inside the shed, then sync) and its sha256;
#   2. reference: a python3 TCP listener in node 2's underlay namespace
#      writes what it receives into a file under the run's temp dir (the
#      same filesystem the snapshot store uses); a client in node 1's
#      namespace sends it the same bytes (copied out of the shed through
#      /proc/PID/root) from a file; timed by the receiver, accept to EOF.
#      Right before the move and again right after it, each after a
#      `sync`; the faster counts (the stricter reference). On this VM
#      (virtio balloon, free page reporting) writing into page cache pages
#      the guest has not touched lately costs a host fault per page (about
#      550-700 MiB/s for 800 MiB of new pages, against 4.5 GiB/s into pages
#      freed a moment ago), so one pipe run gets 250-700 MiB/s and another
#      1.4-2.1 GiB/s depending on which pages it is handed; both are printed;
#   3. PEER (node 3) pings SRC's overlay address every PING_MS (50) ms from
#      its network namespace (the host's `ping -D` entered with nsenter,
#      as integration/test_move.sh does) all along;
#   4. `shedctl move SRC --to node2 --json` asked on node 1, wall clock
#      timed; then SRC must run on node 2 with the same address and the
#      same sha256 of its file.
# Fields of the final line:
#   move_s         wall clock of the shedctl move call
#   downtime_ms    the longest gap between two ping replies (time stamps of
#                  `ping -D`), i.e. how long the address did not answer
#   transfer_mb_s  node 2's "snapshot data fetched" log line: the layer over
#                  the CURVE node RPC link (snap.read, 512 KiB chunks, a
#                  window of SHED_SNAP_WINDOW), sha256 and pwrite included
#   ref_mb_s       the plain pipe, the faster of its two runs (MiB/s, like
#                  transfer_mb_s)
#   ratio          transfer_mb_s / ref_mb_s
#   ref_before_mb_s, ref_after_mb_s  its two runs
#   RESULT move_s=.. downtime_ms=.. transfer_mb_s=.. ref_mb_s=.. ratio=..
#          ref_before_mb_s=.. ref_after_mb_s=.. layer_mb=.. capture_ms=..
#          fetch_ms=.. restore_ms=.. goal_downtime_ms=..
# The `#` lines before it split the move (node logs: the capture's layer
# write, hash and commit on node 1, the fetch and the restore on node 2).
# Goals (docs/performance.md): ratio >= 0.7; downtime_ms < 2000 + the
# transfer time of the writable layer (goal_downtime_ms).
# Needs root, runc, busybox-static, python3, a static shed-agent in
# SHED_BUILD_DIR (with node/shed-node, node/shedctl). Env: MB (200),
# PING_MS (50), REF_PORT (9181), PERF_OUT (a file: `perf record -g` of
# nodes 1 and 2 during the move, for `perf report -i FILE`). About 15 s.
set -euo pipefail
export SHED_LOG_LEVEL=${SHED_LOG_LEVEL:-info}
export SHED_TEST_DEADLINE=${SHED_TEST_DEADLINE:-600}
# shellcheck source-path=SCRIPTDIR
. "$(dirname "$0")/../integration/harness.sh"

MB=${MB:-200}
PING_MS=${PING_MS:-50}
REF_PORT=${REF_PORT:-9181}
PY=/usr/bin/python3
h_container_require h_fail
[[ -x $PY ]] || h_fail "no $PY"

N=3
h_init "$N"
h_sheds_init
h_container_init
SRC="src$$"
PEER="peer$$"
DISK_MB=$((MB * 2 + 112))   # the data, plus room: a move restores onto a fresh disk of this size

for ((i = 1; i <= N; i++)); do h_start_node "$i" --config "$(h_sheds_config "$i")"; done
for ((i = 1; i <= N; i++)); do h_wait_ready "$i" 30; done
h_wait_members "$N" 30 || h_fail "the $N nodes did not see each other"
h_import_busybox "$N"

create() { h_ctl "$1" create "${@:2}" >"$H_TMP/create.out" 2>&1; }
shed_field() {
    h_ctl "$1" show "$2" --json 2>/dev/null \
        | $PY -c 'import json, sys; print(json.load(sys.stdin).get(sys.argv[1], ""))' "$3"
}
# prov i SHED CMD: one provisioning step as root, its output only.
prov() {
    SHED_CTL_TIMEOUT=${PROV_TIMEOUT:-30} h_ctl "$1" provision "$2" --step "$3" --user root 2>&1 \
        | sed '/^--- step-[0-9]*: /,$d; s/^\[step-[0-9]*\] //' | grep -v '^shedctl: run ' || true
}
agent_up() { [[ "$(prov "$1" "$2" 'echo up')" == *up* ]]; }
on_node() { [[ "$(shed_field 1 "$1" node)" == "$2" && "$(shed_field 1 "$1" state)" == running ]]; }
# field KEY FILE: KEY=value from the last line of FILE holding it.
field() { sed -n "s/.*[[:space:]]$1=\([^ ]*\).*/\1/p" "$2" | tail -1; }
calc() { $PY -c "import sys; print($1)" "${@:2}"; }

h_retry 20 create 1 "$SRC" --node node1 --image busybox --disk "${DISK_MB}M" --memory 128M \
    || h_fail "create $SRC: $(cat "$H_TMP/create.out")"
h_retry 20 create 3 "$PEER" --node node3 --image busybox \
    || h_fail "create $PEER: $(cat "$H_TMP/create.out")"
h_retry 20 agent_up 1 "$SRC" || h_fail "the agent of $SRC does not answer"
h_retry 20 agent_up 3 "$PEER" || h_fail "the agent of $PEER does not answer"
IP=$(shed_field 1 "$SRC" ip)
IP=${IP%%/*}

# ---- 1. the data, written inside the shed ----
h_log "writing $MB MiB of /dev/urandom in $SRC (node 1, disk ${DISK_MB}M)"
PROV_TIMEOUT=300 prov 1 "$SRC" "dd if=/dev/urandom of=/data.bin bs=1M count=$MB 2>/dev/null; sync" >/dev/null
sum_before=$(prov 1 "$SRC" 'sha256sum /data.bin' | awk '/data.bin/ {print $1}' | tail -1)
[[ ${#sum_before} == 64 ]] || h_fail "no sha256 of /data.bin in $SRC: $sum_before"
spid=$(h_shed_pid "$SRC" 1)
[[ -n "$spid" ]] || h_fail "no PID 1 for $SRC"
# The same bytes for the reference, out of the shed's root (the host reads
# it through /proc/PID/root; the file stays in the page cache, as the
# snapshot's layer does right after its capture).
cp "/proc/$spid/root/data.bin" "$H_TMP/n1/ref.bin"
h_log "$SRC: /data.bin sha256 ${sum_before:0:16}..., $(stat -c %s "$H_TMP/n1/ref.bin") bytes"

# ---- 2. the plain TCP pipe, node 1's namespace -> node 2's ----
REF_SERVER='
import os, socket, sys, time
s = socket.socket()
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind((sys.argv[1], int(sys.argv[2])))
s.listen(1)
print("ready", flush=True)
c, _ = s.accept()
t0 = time.monotonic()
n = 0
buf = bytearray(1 << 20)
with open(sys.argv[3], "wb") as f:
    while True:
        k = c.recv_into(buf)
        if not k:
            break
        f.write(memoryview(buf)[:k])
        n += k
dt = time.monotonic() - t0
print("bytes=%d ms=%.1f mb_s=%.1f" % (n, dt * 1000, n / 1048576 / dt), flush=True)
'
REF_CLIENT='
import socket, sys
c = socket.create_connection((sys.argv[1], int(sys.argv[2])))
with open(sys.argv[3], "rb") as f:
    while True:
        b = f.read(1 << 20)
        if not b:
            break
        c.sendall(b)
c.close()
'
# ref_pipe LABEL: one copy; prints the receiver's MiB/s.
ref_pipe() {
    local out="$H_TMP/ref.$1.out" dst="$H_TMP/n2/ref.recv" k
    rm -f "$dst"
    sync
    h_exec 2 "$PY" -c "$REF_SERVER" "$(h_addr 2)" "$REF_PORT" "$dst" >"$out" 2>&1 &
    local spid=$!
    H_STARTED_PIDS+=("$spid")
    for ((k = 0; k < 50; k++)); do
        grep -q '^ready' "$out" 2>/dev/null && break
        sleep 0.1
    done
    h_exec 1 "$PY" -c "$REF_CLIENT" "$(h_addr 2)" "$REF_PORT" "$H_TMP/n1/ref.bin" \
        || h_fail "reference client failed: $(cat "$out")"
    wait "$spid" || h_fail "reference server failed: $(cat "$out")"
    cmp -s "$H_TMP/n1/ref.bin" "$dst" || h_fail "the reference pipe did not copy the bytes"
    rm -f "$dst"
    h_log "plain TCP pipe ($1): $(tail -1 "$out")" >&2
    field mb_s "$out"
}
ref_before=$(ref_pipe before)

# ---- 3. pings from PEER's namespace, all along ----
ppid=$(h_shed_pid "$PEER" 3)
[[ -n "$ppid" ]] || h_fail "no PID 1 for $PEER"
peer_ping() { nsenter -t "$ppid" -n ping -c1 -W1 "$IP" >/dev/null 2>&1; }
h_retry 20 peer_ping || h_fail "$PEER cannot ping $SRC before the move"
interval=$(calc "float(sys.argv[1]) / 1000" "$PING_MS")
nsenter -t "$ppid" -n ping -D -i "$interval" -W1 "$IP" >"$H_TMP/ping.log" 2>&1 &
pingpid=$!
H_STARTED_PIDS+=("$pingpid")
sleep 1

# ---- 4. the move ----
h_log "load before the move: $(cut -d' ' -f1-3 /proc/loadavg)"
# PERF_OUT=FILE: profile nodes 1 and 2 (all their threads) during the move.
perfpid=""
if [[ -n ${PERF_OUT:-} ]]; then
    perf record -q -F 1999 -g -p "$(h_pid 1),$(h_pid 2)" -o "$PERF_OUT" >/dev/null 2>&1 &
    perfpid=$!
    H_STARTED_PIDS+=("$perfpid")
    sleep 0.5
fi
t0=$(date +%s%N)
SHED_CTL_TIMEOUT=300 h_ctl 1 move "$SRC" --to node2 --json >"$H_TMP/move.json" 2>&1 \
    || h_fail "move: $(cat "$H_TMP/move.json")"
t1=$(date +%s%N)
if [[ -n $perfpid ]]; then
    kill -INT "$perfpid" 2>/dev/null || true
    wait "$perfpid" 2>/dev/null || true
fi
h_log "move: $(tr -d '\n' <"$H_TMP/move.json")"
h_retry 10 on_node "$SRC" node2 || h_fail "$SRC is not running on node2: $(h_ctl 1 show "$SRC")"
h_assert_eq "$IP" "$(shed_field 1 "$SRC" ip | cut -d/ -f1)" "$SRC's address after the move"
answered() { tail -3 "$H_TMP/ping.log" | grep -q "bytes from $IP"; }
h_retry 20 answered || h_fail "$SRC's address does not answer after the move: $(tail -5 "$H_TMP/ping.log")"
sleep 1
kill "$pingpid" 2>/dev/null || true
wait "$pingpid" 2>/dev/null || true
h_retry 20 agent_up 2 "$SRC" || h_fail "the agent of $SRC does not answer on node 2"
sum_after=$(PROV_TIMEOUT=120 prov 2 "$SRC" 'sha256sum /data.bin' | awk '/data.bin/ {print $1}' | tail -1)
h_assert_eq "$sum_before" "$sum_after" "sha256 of /data.bin after the move"
h_log "$SRC runs on node 2 at $IP, /data.bin has the same sha256"

ref_after=$(ref_pipe after)

# ---- numbers ----
jf() { $PY -c 'import json, sys; print(json.load(open(sys.argv[1]))[sys.argv[2]])' "$H_TMP/move.json" "$1"; }
bytes=$(jf bytes) capture_ms=$(jf capture_ms) claim_ms=$(jf claim_ms) total_ms=$(jf total_ms)
l1=$(h_logfile 1) l2=$(h_logfile 2)
grep -q 'msg="snapshot data fetched"' "$l2" || h_fail "node 2 logged no 'snapshot data fetched' line"
grep 'msg="snapshot data fetched"' "$l2" | tail -1 >"$H_TMP/fetched.line"
grep 'msg="snapshot written"' "$l1" | tail -1 >"$H_TMP/written.line" || true
grep 'msg="snapshot restored"' "$l2" | tail -1 >"$H_TMP/restored.line" || true
transfer_mb_s=$(field mb_s "$H_TMP/fetched.line")
fetch_ms=$(field ms "$H_TMP/fetched.line")
layer_bytes=$(field bytes "$H_TMP/fetched.line")
write_ms=$(field ms "$H_TMP/written.line")
restore_ms=$(field ms "$H_TMP/restored.line")
downtime_ms=$($PY -c '
import re, sys
ts = [float(m.group(1)) for m in re.finditer(r"^\[(\d+\.\d+)\].*bytes from", open(sys.argv[1]).read(), re.M)]
gaps = [b - a for a, b in zip(ts, ts[1:])]
print(int(round(max(gaps) * 1000)) if gaps else 0)' "$H_TMP/ping.log")
lost=$(grep -c 'bytes from' "$H_TMP/ping.log" || true)
ref_mb_s=$(calc "max(float(sys.argv[1]), float(sys.argv[2]))" "$ref_before" "$ref_after")
ratio=$(calc "'%.2f' % (float(sys.argv[1]) / float(sys.argv[2]))" "$transfer_mb_s" "$ref_mb_s")
move_s=$(calc "'%.2f' % ((int(sys.argv[2]) - int(sys.argv[1])) / 1e9)" "$t0" "$t1")
layer_mb=$(calc "'%.1f' % (int(sys.argv[1]) / 1048576)" "$layer_bytes")
goal_ms=$((2000 + fetch_ms))

echo "# layer $layer_mb MiB ($bytes bytes by the move's answer); load after: $(cut -d' ' -f1-3 /proc/loadavg)"
echo "# node 1 (source): capture_ms=$capture_ms (stop, layer written in ${write_ms:-?} ms, sha256 + fsync + commit the rest)"
echo "# node 2 (target): claim_ms=$claim_ms = fetch ${fetch_ms} ms at ${transfer_mb_s} MiB/s + restore ${restore_ms:-?} ms + create/start the rest"
echo "# move total_ms=$total_ms (node 1's clock), shedctl wall ${move_s} s; $lost ping replies, longest gap ${downtime_ms} ms (goal < ${goal_ms} ms)"
echo "# plain TCP pipe: ${ref_before} MiB/s before the move, ${ref_after} MiB/s after"
[[ -n "$restore_ms" ]] || restore_ms=-
echo "RESULT move_s=$move_s downtime_ms=$downtime_ms transfer_mb_s=$transfer_mb_s ref_mb_s=$ref_mb_s ratio=$ratio ref_before_mb_s=$ref_before ref_after_mb_s=$ref_after layer_mb=$layer_mb capture_ms=$capture_ms fetch_ms=$fetch_ms restore_ms=$restore_ms goal_downtime_ms=$goal_ms"
