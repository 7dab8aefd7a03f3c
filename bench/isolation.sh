#!/usr/bin/env bash
# bench/isolation.sh [--runs N] [--build-dir DIR] [--import-mb M]
#                    [--import-runs R] [--keep]
#
# What the container driver's isolation costs, measured in one run on one
# machine (docs/drivers.md "container"):
#
#   1. create_ms: a 1-node cluster (integration/harness.sh, H_DRIVER=container,
#      its network namespace and overlay), busybox imported once
#      (scripts/build-image.sh busybox); then N times (default 30)
#      `shedctl create NAME --image busybox --disk 1G`, timed from the
#      client's start to its exit (create answers when the shed runs: runc
#      has started its PID 1), then `shedctl delete` (not timed). One
#      untimed create first (the overlay's address block settles after
#      start, and caches warm up). p50 and p99.
#      shedctl is run directly (its API is a Unix socket), not through
#      `ip netns exec`, so neither side pays for a wrapper.
#      From the node's log ("shed running" lines): p50 of create_ms (the
#      driver's create: id range, files, sparse disk + mkfs.ext4, network
#      namespace and veth) and start_ms (loop mount, ID-mapped image,
#      overlay, config.json, `runc state`, `runc run -d`); the rest of the
#      wall time is the client, the API, placement and the records.
#   2. runc_ms: the reference, bare runc by hand, N times: one OCI bundle
#      prepared once (rootfs = the same busybox image unpacked and chowned
#      to host ids 1000000+65536; config.json from `runc spec --rootless`
#      edited with python3: that user namespace mapping, PID, mount, UTS,
#      IPC and cgroup namespaces, a network namespace made by this script
#      joined by path (as the driver joins the node-built one), the
#      driver's default capability set, `/bin/sleep 1000`), each run timed
#      from `runc --root DIR run -d --bundle B ID` to its exit (detached =
#      running), then `runc delete -f` (not timed). p50 and p99.
#      overhead_ratio = create_ms_p50 / runc_ms_p50.
#   3. import_mb_s: `shedctl image import` of an archive made of busybox
#      plus IMPORT_MB (default 64) MB of data files (half random bytes,
#      half repetitive text, gzip -1), timed from the client's start to its
#      exit (upload, sha256, unpack, commit); archive MB (10^6 bytes) per
#      second, median of R (default 3) imports, each archive made different
#      by one small file (the store is content addressed: the same bytes
#      would only add a name).
#
# Also measured, for the breakdown ('#' lines): mkfs.ext4 of a fresh sparse
# 1G file with the driver's options, and `runc state` of a container that
# does not exist (the driver's start asks it first), 5 times each.
#
# Goal (printed above the RESULT line): create p50 under 200 ms, and at
# most 4x bare runc in the same run. Final line:
#   RESULT create_ms_p50=.. create_ms_p99=.. runc_ms_p50=.. overhead_ratio=.. import_mb_s=..
#
# Needs root, runc, busybox-static (/bin/busybox), e2fsprogs, python3, and
# a build (--build-dir DIR or SHED_BUILD_DIR; default build/) holding
# node/shed-node, node/shedctl and a static agent/shed-agent. Everything
# (namespaces, the reference's runc state dir and cgroup, temp dir) is named
# after this shell's PID and removed on exit; only processes this script
# started are ended, by PID. Addresses: only 198.18.0.0/16 and
# 198.19.0.0/16, inside namespaces this run creates. --keep keeps the temp
# dir (node log, bundles).
set -euo pipefail

RUNS=30
IMPORT_MB=64
IMPORT_RUNS=3
BUILD_DIR=${SHED_BUILD_DIR:-}
while (($#)); do
    case "$1" in
        --runs) RUNS=${2:?--runs needs a number}; shift 2 ;;
        --build-dir) BUILD_DIR=${2:?--build-dir needs a directory}; shift 2 ;;
        --import-mb) IMPORT_MB=${2:?--import-mb needs a number}; shift 2 ;;
        --import-runs) IMPORT_RUNS=${2:?--import-runs needs a number}; shift 2 ;;
        --keep) export SHED_KEEP_TMP=1; shift ;;
        -h|--help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
        *) echo "isolation.sh: unknown argument '$1' (see --help)" >&2; exit 2 ;;
    esac
done
# range NAME VALUE LO HI: exit 2 unless VALUE is an integer in LO..HI.
range() {
    if ! [[ "$2" =~ ^[0-9]+$ ]] || (($2 < $3 || $2 > $4)); then
        echo "isolation.sh: $1 must be $3..$4" >&2
        exit 2
    fi
}
range --runs "$RUNS" 1 1000
range --import-mb "$IMPORT_MB" 1 4096
range --import-runs "$IMPORT_RUNS" 1 20
REPO=$(cd "$(dirname "$0")/.." && pwd)
export SHED_BUILD_DIR=${BUILD_DIR:-$REPO/build}
export SHED_TEST_DEADLINE=${SHED_TEST_DEADLINE:-1800}
export SHED_LOG_LEVEL=${SHED_LOG_LEVEL:-info}
export SHED_CTL_TIMEOUT=${SHED_CTL_TIMEOUT:-60}
# shellcheck source-path=SCRIPTDIR
. "$REPO/integration/harness.sh"

need() { command -v "$1" >/dev/null 2>&1 || { echo "isolation.sh: needs $1 ($2)" >&2; exit 1; }; }
[[ $(id -u) -eq 0 ]] || { echo "isolation.sh: run as root" >&2; exit 1; }
RUNC=$(command -v runc || true)
[[ -n "$RUNC" ]] || { echo "isolation.sh: needs runc (apt-get install runc)" >&2; exit 1; }
need python3 "apt-get install python3"
need gzip "apt-get install gzip"
[[ -x /bin/busybox ]] || { echo "isolation.sh: needs /bin/busybox (apt-get install busybox-static)" >&2; exit 1; }
MKFS=/usr/sbin/mkfs.ext4
[[ -x $MKFS ]] || MKFS=/sbin/mkfs.ext4
[[ -x $MKFS ]] || { echo "isolation.sh: needs mkfs.ext4 (apt-get install e2fsprogs)" >&2; exit 1; }
[[ -x "$H_BUILD/agent/shed-agent" ]] \
    || { echo "isolation.sh: no $H_BUILD/agent/shed-agent (build first, or --build-dir)" >&2; exit 1; }

# Every run has the same cost only if nothing else runs: say what the
# machine was doing.
echo "# $(uname -r), $(nproc) cpus, $("$RUNC" --version | head -1), load:$(uptime | sed 's/.*load average://')"

h_init 1
h_sheds_init
export H_DRIVER=container

REF_ROOT=""          # the reference's runc --root
REF_CG="$H_ID-ref"   # its cgroup parent, in every v1 hierarchy / under v2
REF_IDS=()           # reference containers possibly alive
bench_cleanup() {
    set +e
    local id d
    if [[ -n "$REF_ROOT" ]]; then
        # The reference's in this namespace; those run on the driver's
        # bundle in the node's (if it is gone, h_cleanup still kills what
        # is left in the node's cgroups).
        for id in "${REF_IDS[@]}"; do
            "$RUNC" --root "$REF_ROOT" delete -f "$id" >/dev/null 2>&1
            h_alive 1 && nsenter -t "$(h_pid 1)" -m -n "$RUNC" --root "$REF_ROOT" delete -f "$id" >/dev/null 2>&1
        done
    fi
    for d in /sys/fs/cgroup/*/"$REF_CG" /sys/fs/cgroup/"$REF_CG"; do
        [[ -d "$d" ]] && find "$d" -depth -type d -exec rmdir {} + 2>/dev/null
    done
}
# shellcheck disable=SC2154  # st is set inside the trap
trap 'st=$?; bench_cleanup; (exit $st); h__on_exit' EXIT

CTL=("$H_CTL_BIN" --addr "$(h_endpoint 1)")
ctl() { timeout "$SHED_CTL_TIMEOUT" "${CTL[@]}" "$@"; }
# pcts FILE P...: percentiles (nearest rank) of the numbers in FILE.
pcts() {
    python3 - "$@" <<'EOF'
import sys
v = sorted(float(x) for x in open(sys.argv[1]) if x.strip())
def pct(p): return v[min(len(v) - 1, int(round(p / 100.0 * (len(v) - 1))))] if v else 0
print(" ".join("%.0f" % pct(float(p)) for p in sys.argv[2:]))
EOF
}

# ------------------------------------------------------------- the node ----

h_start_node 1 --config "$(h_sheds_config 1)"
h_wait_ready 1 30
grep -q 'shed driver ready.*driver=container' "$(h_logfile 1)" \
    || h_fail "the node did not pick the container driver: $(grep -m1 'driver' "$(h_logfile 1)")"
"$REPO/scripts/build-image.sh" busybox "$H_TMP/busybox.tar.gz" >/dev/null
ctl image import busybox "$H_TMP/busybox.tar.gz" >/dev/null || h_fail "image import busybox"

# --------------------------------------------------------- 1. create_ms ----

h_log "--- 1. create to running, container driver, cached busybox, --disk 1G: $RUNS runs"
create() { ctl create "$1" --image busybox --disk 1G >"$H_TMP/create.out" 2>&1; }
h_retry 30 create "iso$$-warm" || h_fail "warm-up create: $(cat "$H_TMP/create.out")"
ctl delete "iso$$-warm" >/dev/null || h_fail "delete iso$$-warm"
: >"$H_TMP/create_us"
NAMES=()
for ((k = 0; k < RUNS; k++)); do
    name="iso$$-$k"
    t0=${EPOCHREALTIME/./}
    create "$name" || h_fail "create $name: $(cat "$H_TMP/create.out")"
    t1=${EPOCHREALTIME/./}
    echo $((t1 - t0)) >>"$H_TMP/create_us"
    if ((k == 0)); then
        [[ "$(ctl --json show "$name" | python3 -c 'import json, sys; print(json.load(sys.stdin)["state"])')" == running ]] \
            || h_fail "$name is not running after create"
    fi
    NAMES+=("$name")
    ctl delete "$name" >/dev/null || h_fail "delete $name"
done
awk '{ printf "%.3f\n", $1 / 1000 }' "$H_TMP/create_us" >"$H_TMP/create_ms"
read -r C50 C99 < <(pcts "$H_TMP/create_ms" 50 99)
# The node's own split, for the same sheds.
: >"$H_TMP/node_create_ms"
: >"$H_TMP/node_start_ms"
for name in "${NAMES[@]}"; do
    line=$(grep -m1 -E "shed running.*shed=$name( |\$)" "$(h_logfile 1)" || true)
    if [[ "$line" =~ create_ms=([0-9]+).*start_ms=([0-9]+) ]]; then
        echo "${BASH_REMATCH[1]}" >>"$H_TMP/node_create_ms"
        echo "${BASH_REMATCH[2]}" >>"$H_TMP/node_start_ms"
    fi
done
read -r NC50 NC99 < <(pcts "$H_TMP/node_create_ms" 50 99)
read -r NS50 NS99 < <(pcts "$H_TMP/node_start_ms" 50 99)
echo "# create (shedctl wall): p50 ${C50} ms, p99 ${C99} ms over $RUNS"
echo "# node log: create_ms p50 $NC50 (p99 $NC99), start_ms p50 $NS50 (p99 $NS99);" \
     "rest (client, API, placement, records) p50 ~$((C50 - NC50 - NS50)) ms"

# runc alone on the driver's own bundle: a shed created, then stopped (its
# disk, overlay and namespace stay mounted), its config.json (seccomp,
# bind mounts, the agent as PID 1, limits) run by hand under a runc state
# dir of ours, in the node's mount and network namespaces (nsenter: the
# shed's namespace file and mounts are the node's). start_ms minus this is
# the driver's own work at start.
REF_ROOT="$H_TMP/runc-ref"
mkdir -p "$REF_ROOT"
SPLIT="iso$$-split"
create "$SPLIT" || h_fail "create $SPLIT: $(cat "$H_TMP/create.out")"
ctl stop "$SPLIT" >/dev/null || h_fail "stop $SPLIT"
: >"$H_TMP/drvrunc_us"
for ((k = 0; k < RUNS; k++)); do
    id="iso$$drv$k"
    REF_IDS+=("$id")
    t0=${EPOCHREALTIME/./}
    timeout 60 nsenter -t "$(h_pid 1)" -m -n "$RUNC" --root "$REF_ROOT" run -d --bundle "$(h_datadir 1)/sheds/$SPLIT" "$id" \
        </dev/null >>"$H_TMP/drvrunc.log" 2>&1 || h_fail "runc run $id: $(tail -3 "$H_TMP/drvrunc.log")"
    t1=${EPOCHREALTIME/./}
    echo $(((t1 - t0) / 1000)) >>"$H_TMP/drvrunc_us"
    nsenter -t "$(h_pid 1)" -m -n "$RUNC" --root "$REF_ROOT" delete -f "$id" >/dev/null 2>&1 \
        || h_fail "runc delete $id"
done
REF_IDS=()
ctl delete "$SPLIT" >/dev/null || h_fail "delete $SPLIT"
read -r D50 < <(pcts "$H_TMP/drvrunc_us" 50)
echo "# runc run -d of the driver's own bundle, by hand: p50 $D50 ms;" \
     "so of start_ms $NS50, ~$((NS50 - D50)) ms are the driver's (runc state, loop + ID-mapped + overlay mounts, config.json)"

# mkfs.ext4 alone, as the driver runs it (rootfs.c), on a fresh sparse 1G file.
: >"$H_TMP/mkfs_ms"
for ((k = 0; k < 5; k++)); do
    img="$H_TMP/mkfs.$k.img"
    truncate -s 1G "$img"
    t0=${EPOCHREALTIME/./}
    "$MKFS" -q -F -m 0 -E root_owner=0:0 "$img" >/dev/null 2>&1 || h_fail "mkfs.ext4 $img"
    t1=${EPOCHREALTIME/./}
    echo $(((t1 - t0) / 1000)) >>"$H_TMP/mkfs_ms"
    rm -f "$img"
done
read -r M50 < <(pcts "$H_TMP/mkfs_ms" 50)
echo "# mkfs.ext4 -q -F -m 0 -E root_owner=0:0 of a sparse 1G file: p50 $M50 ms (part of create_ms)"

# ----------------------------------------------------- 2. bare runc -d -----

h_log "--- 2. reference: bare runc run -d of a prepared bundle, $RUNS runs"
REF="$H_TMP/ref"
B="$REF/bundle"
REF_NS="${H_ID}ref"
ip netns add "$REF_NS" || h_fail "cannot create namespace $REF_NS"
H_CREATED_NS+=("$REF_NS")
ip -n "$REF_NS" link set lo up
mkdir -p "$B/rootfs"
chmod 0711 "$REF" "$B"
tar -C "$B/rootfs" --numeric-owner -xzf "$H_TMP/busybox.tar.gz"
(cd "$B" && "$RUNC" spec --rootless)
python3 - "$B" "$REF_NS" "$REF_CG" <<'EOF'
import json, os, sys
bundle, netns, cgparent = sys.argv[1:4]
BASE, COUNT = 1000000, 65536
# The image's owners (0 and 1000) shifted into the range.
root = os.path.join(bundle, "rootfs")
for d, dirs, files in os.walk(root):
    for n in [d] + [os.path.join(d, f) for f in dirs + files]:
        st = os.lstat(n)
        os.lchown(n, BASE + st.st_uid, BASE + st.st_gid)
path = os.path.join(bundle, "config.json")
c = json.load(open(path))
p = c["process"]
p["terminal"] = False
p["args"] = ["/bin/sleep", "1000"]
# The container driver's set (node/drivers/oci_spec.c).
caps = ["CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_FSETID", "CAP_FOWNER", "CAP_MKNOD",
        "CAP_NET_RAW", "CAP_SETGID", "CAP_SETUID", "CAP_SETFCAP", "CAP_SETPCAP",
        "CAP_NET_BIND_SERVICE", "CAP_SYS_CHROOT", "CAP_KILL", "CAP_AUDIT_WRITE"]
p["capabilities"] = {k: caps for k in ("bounding", "effective", "permitted")}
p.pop("rlimits", None)
c["root"] = {"path": "rootfs", "readonly": False}
c["hostname"] = "ref"
lx = c["linux"]
lx["uidMappings"] = [{"containerID": 0, "hostID": BASE, "size": COUNT}]
lx["gidMappings"] = [{"containerID": 0, "hostID": BASE, "size": COUNT}]
lx["namespaces"] = [{"type": t} for t in ("pid", "ipc", "uts", "mount", "cgroup", "user")] \
    + [{"type": "network", "path": "/run/netns/" + netns}]
lx["cgroupsPath"] = "/%s/c" % cgparent
json.dump(c, open(path, "w"), indent=1)
EOF
: >"$H_TMP/runc_us"
for ((k = 0; k < RUNS; k++)); do
    id="iso$$ref$k"
    REF_IDS+=("$id")
    t0=${EPOCHREALTIME/./}
    timeout 60 "$RUNC" --root "$REF_ROOT" run -d --bundle "$B" "$id" \
        </dev/null >>"$REF/console.log" 2>&1 || h_fail "runc run $id: $(tail -3 "$REF/console.log")"
    t1=${EPOCHREALTIME/./}
    echo $((t1 - t0)) >>"$H_TMP/runc_us"
    if ((k == 0)); then
        "$RUNC" --root "$REF_ROOT" state "$id" | grep -q '"status": "running"' \
            || h_fail "reference container $id is not running: $("$RUNC" --root "$REF_ROOT" state "$id" 2>&1)"
    fi
    "$RUNC" --root "$REF_ROOT" delete -f "$id" >/dev/null 2>&1 || h_fail "runc delete $id"
done
REF_IDS=()
# `runc state` of a container that does not exist: what the driver's start
# asks first (container.c s_start), for the breakdown.
: >"$H_TMP/state_us"
for ((k = 0; k < 5; k++)); do
    t0=${EPOCHREALTIME/./}
    "$RUNC" --root "$REF_ROOT" state "iso$$absent" >/dev/null 2>&1 || true
    t1=${EPOCHREALTIME/./}
    echo $(((t1 - t0) / 1000)) >>"$H_TMP/state_us"
done
read -r S50 < <(pcts "$H_TMP/state_us" 50)
awk '{ printf "%.3f\n", $1 / 1000 }' "$H_TMP/runc_us" >"$H_TMP/runc_ms"
read -r R50 R99 < <(pcts "$H_TMP/runc_ms" 50 99)
echo "# bare runc run -d: p50 ${R50} ms, p99 ${R99} ms over $RUNS"
echo "# runc state (no such container; the driver's start runs it before run -d): p50 $S50 ms"

# ------------------------------------------------------- 3. import MB/s ----

h_log "--- 3. import of busybox + $IMPORT_MB MB of data, $IMPORT_RUNS runs"
BIG="$H_TMP/big"
mkdir -p "$BIG"
tar -C "$BIG" --numeric-owner -xzf "$H_TMP/busybox.tar.gz"
mkdir -p "$BIG/srv/data"
python3 - "$BIG/srv/data" "$IMPORT_MB" <<'EOF'
import os, random, sys
out, mb = sys.argv[1], int(sys.argv[2])
rnd = random.Random(1)
words = [("w%d" % i).encode() for i in range(5000)]
for i in range(mb):
    # 1 MB (10^6 bytes) a file: half random bytes, half text-like.
    text = b" ".join(rnd.choice(words) for _ in range(100000))[:500000]
    with open(os.path.join(out, "f%04d.bin" % i), "wb") as f:
        f.write(os.urandom(500000))
        f.write(text.ljust(500000, b"\n"))
EOF
: >"$H_TMP/import_mbs"
for ((r = 0; r < IMPORT_RUNS; r++)); do
    echo "run $r of $$" >"$BIG/srv/marker"
    arch="$H_TMP/big.$r.tar.gz"
    tar -C "$BIG" --numeric-owner --sort=name -cf - . | gzip -1 >"$arch"
    bytes=$(stat -c %s "$arch")
    t0=${EPOCHREALTIME/./}
    ctl image import "bulk$$-$r" "$arch" >"$H_TMP/import.out" 2>&1 \
        || h_fail "image import bulk$$-$r: $(cat "$H_TMP/import.out")"
    t1=${EPOCHREALTIME/./}
    python3 -c 'import sys; b, us = int(sys.argv[1]), int(sys.argv[2]); print("%.1f" % (b / us))' \
        "$bytes" "$((t1 - t0))" >>"$H_TMP/import_mbs"
    echo "# import $r: archive $((bytes / 1000000)) MB in $(((t1 - t0) / 1000)) ms: $(tail -1 "$H_TMP/import_mbs") MB/s"
    rm -f "$arch"
    ctl image rm "bulk$$-$r" >/dev/null 2>&1 || true
done
IMP=$(python3 -c '
import sys
v = sorted(float(x) for x in open(sys.argv[1]) if x.strip())
print("%.1f" % v[len(v) // 2])' "$H_TMP/import_mbs")

RATIO=$(python3 -c 'import sys; print("%.2f" % (float(sys.argv[1]) / max(float(sys.argv[2]), 1e-9)))' "$C50" "$R50")
ok_abs=no; ok_rel=no
((C50 < 200)) && ok_abs=yes
python3 -c 'import sys; sys.exit(0 if float(sys.argv[1]) <= 4.0 else 1)' "$RATIO" && ok_rel=yes
echo "# load at the end:$(uptime | sed 's/.*load average://')"
echo "# goal: create p50 < 200 ms ($ok_abs: $C50 ms) and <= 4x bare runc in the same run ($ok_rel: ${RATIO}x)"
echo "RESULT create_ms_p50=$C50 create_ms_p99=$C99 runc_ms_p50=$R50 overhead_ratio=$RATIO import_mb_s=$IMP"
