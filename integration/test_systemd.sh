#!/usr/bin/env bash
# integration/test_systemd.sh: the packaged unit under a real systemd
# (docs/operations.md, "The unit under a real systemd"). Where PID 1 is not
# systemd (CI containers, this VM), a systemd is booted as PID 1 of a
# container: systemd-nspawn on an overlay of the host's own root (the host's
# files read-only below, a tmpfs above, so nothing on the host changes),
# with a private network (loopback only). Inside it:
#   1. `dpkg -i` the three packages built from this tree (scripts/package.sh)
#      and `systemctl enable --now shed-node`: Type=notify, so the start
#      returns once the daemon said READY=1; its status text is shown;
#   2. `systemctl reload` (SIGHUP): a lowered agents.msgs_per_s is applied,
#      a changed gossip tunable is a warning that `journalctl -p warning`
#      shows (journald priorities);
#   3. a netns shed is created; `systemctl restart shed-node` keeps its
#      process (KillMode=process, Delegate=yes) and the new daemon re-adopts
#      it (`shedctl list`: running);
#   4. `systemctl stop`: the graceful leave, exit 0.
# The netns driver's cgroups: the host's /sys/fs/cgroup bound in (as the
# harness does), under a per-run parent that is removed at the end.
# Exit 77 (skipped, with the reason) when this cannot run: not root, no
# systemd-nspawn (package systemd-container), no overlayfs, or the
# container's systemd does not come up.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
BUILD=${SHED_BUILD_DIR:-$ROOT/build}

log()  { printf '[systemd %s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
fail() {
    printf '[systemd] FAIL: %s\n' "$*" >&2
    [[ -n ${SPID:-} ]] && in_ct journalctl -u shed-node --no-pager -n 40 -o cat >&2 2>/dev/null
    exit 1
}
skip() { printf '[systemd] SKIP: %s\n' "$*" >&2; exit 77; }

((EUID == 0)) || skip "needs root (mounts, a container)"
command -v systemd-nspawn >/dev/null ||
    skip "systemd-nspawn not installed (package systemd-container, scripts/install-deps.sh --test)"
[[ -x /lib/systemd/systemd ]] || skip "no /lib/systemd/systemd to boot"
[[ -x $BUILD/node/shed-node && -f $BUILD/CPackConfig.cmake ]] ||
    skip "no configured, built tree at $BUILD"
grep -qw overlay /proc/filesystems || modprobe overlay 2>/dev/null ||
    skip "no overlayfs in this kernel"

TMP=$(mktemp -d "/tmp/shed-systemd.$$.XXXXXX")
R=$TMP/root
MACHINE=shedsd$$
CGPARENT=shed-sdtest-$$
NSPAWN_PID="" SPID=""
in_ct() { nsenter -t "$SPID" -a "$@"; }
cleanup() {
    set +e
    if [[ -n $SPID ]]; then
        in_ct shedctl delete probe1 >/dev/null 2>&1
        in_ct systemctl poweroff >/dev/null 2>&1
    fi
    if [[ -n $NSPAWN_PID ]]; then
        for _ in $(seq 50); do kill -0 "$NSPAWN_PID" 2>/dev/null || break; sleep 0.2; done
        kill "$NSPAWN_PID" 2>/dev/null
        wait "$NSPAWN_PID" 2>/dev/null
    fi
    # The shed's cgroups in the host's hierarchies (deepest first).
    find /sys/fs/cgroup -maxdepth 2 -type d -name "$CGPARENT" 2>/dev/null |
        while read -r d; do find "$d" -depth -type d -exec rmdir {} + 2>/dev/null; done
    # nspawn leaves its propagation directory when /run is not a tmpfs.
    rm -rf "/run/systemd/nspawn/propagate/$MACHINE"
    umount "$R" 2>/dev/null
    umount "$TMP/rw" 2>/dev/null
    rm -rf "$TMP"
}
trap cleanup EXIT

# --- the packages, and a root to install them into ---------------------------
log "packaging $BUILD"
"$ROOT/scripts/package.sh" --build-dir "$BUILD" "$TMP/dist" >"$TMP/package.log" 2>&1 ||
    { cat "$TMP/package.log" >&2; fail "scripts/package.sh failed"; }
mkdir -p "$TMP/rw" "$R"
mount -t tmpfs -o size=2g tmpfs "$TMP/rw" || skip "cannot mount a tmpfs"
mkdir -p "$TMP/rw/upper" "$TMP/rw/work"
mount -t overlay overlay -o "lowerdir=/,upperdir=$TMP/rw/upper,workdir=$TMP/rw/work" "$R" ||
    skip "cannot mount an overlay of / (overlayfs over this root filesystem)"
mkdir -p "$R/pkgs"
cp "$TMP"/dist/*.deb "$R/pkgs/"
chroot "$R" sh -c 'dpkg -i /pkgs/shed-node_*.deb /pkgs/shedctl_*.deb /pkgs/shed-agent_*.deb' \
    >"$TMP/dpkg.log" 2>&1 || { cat "$TMP/dpkg.log" >&2; fail "dpkg -i of the packages"; }
chroot "$R" sh -c 'umask 077; shedctl keygen >/etc/shed/cluster.key'
write_cfg() { # write_cfg MSGS_PER_S PROBE_INTERVAL_MS
    cat >"$R/etc/shed/node.yaml" <<EOF
name: probe
bind: 127.0.0.1:7946
encrypt_key_file: /etc/shed/cluster.key
log_level: info
network:
  enabled: false
dns:
  enabled: false
driver:
  default: netns
  agent_path: /usr/bin/shed-agent
  cgroup_root: /run/host-cgroup
  cgroup_parent: $CGPARENT
agents:
  msgs_per_s: $1
gossip:
  probe_interval_ms: $2
EOF
}
write_cfg 2000 1000
# Boot only what the node needs: a target that wants shed-node and nothing
# the host happens to have enabled (its own serf, databases...).
cat >"$R/etc/systemd/system/shed-test.target" <<'EOF'
[Unit]
Description=shed-node under test
Requires=basic.target
After=basic.target
AllowIsolate=yes
EOF
ln -sf /etc/systemd/system/shed-test.target "$R/etc/systemd/system/default.target"

# --- boot -----------------------------------------------------------------------
log "booting systemd in container $MACHINE"
systemd-nspawn -D "$R" --boot --private-network --register=no --keep-unit \
    --link-journal=no --console=passive --bind=/sys/fs/cgroup:/run/host-cgroup \
    -M "$MACHINE" >"$TMP/nspawn.log" 2>&1 &
NSPAWN_PID=$!
for _ in $(seq 100); do
    # PID 1 of the container: nspawn's child's child, running systemd.
    for p in $(pgrep -P "$NSPAWN_PID") $NSPAWN_PID; do
        c=$(pgrep -P "$p" -x systemd || true)
        [[ -n $c ]] && SPID=$c && break
    done
    [[ -n $SPID ]] && break
    kill -0 "$NSPAWN_PID" 2>/dev/null || break
    sleep 0.2
done
[[ -n $SPID ]] || skip "systemd-nspawn did not boot a systemd here: $(tr '\n' ' ' <"$TMP/nspawn.log")"
# Until its bus socket exists, systemctl fails at once ("Failed to connect
# to bus"): ask again until it says running (or degraded), for up to 60 s.
state="" deadline=$((SECONDS + 60))
while ((SECONDS < deadline)); do
    state=$(timeout $((deadline - SECONDS + 1)) nsenter -t "$SPID" -a \
        systemctl is-system-running --wait 2>&1 || true)
    [[ $state == running || $state == degraded ]] && break
    kill -0 "$NSPAWN_PID" 2>/dev/null || break
    sleep 0.5
done
[[ $state == running || $state == degraded ]] ||
    skip "the container's systemd did not come up ($state): $(tr '\n' ' ' <"$TMP/nspawn.log")"
log "container's systemd is $state (PID $SPID on the host)"

# --- 1. enable --now: Type=notify -------------------------------------------------
in_ct systemctl enable --now shed-node >"$TMP/enable.log" 2>&1 ||
    fail "systemctl enable --now shed-node: $(cat "$TMP/enable.log")"
show=$(in_ct systemctl show shed-node -p ActiveState -p SubState -p StatusText -p Type -p MainPID)
log "after enable --now: $(tr '\n' ' ' <<<"$show")"
grep -qx 'ActiveState=active' <<<"$show" || fail "shed-node is not active: $show"
grep -qx 'Type=notify' <<<"$show" || fail "the unit is not Type=notify: $show"
grep -qx 'StatusText=serving as probe' <<<"$show" || fail "no READY status text: $show"
pid1=$(sed -n 's/^MainPID=//p' <<<"$show")
in_ct shedctl status >/dev/null || fail "shedctl status inside the container"
grp=$(in_ct stat -c %G /var/lib/shed/api.sock)
[[ $grp == shed ]] || fail "the API socket belongs to group $grp, not shed"

# --- 2. reload: SIGHUP --------------------------------------------------------------
write_cfg 100 700
in_ct systemctl reload shed-node || fail "systemctl reload shed-node"
journal() { in_ct journalctl -u shed-node --no-pager -o cat "$@"; }
for _ in $(seq 50); do journal | grep -q 'SIGHUP: configuration reloaded' && break; sleep 0.2; done
journal | grep -q 'msg="SIGHUP: configuration reloaded" applied=agents' ||
    fail "reload did not apply agents: $(journal | grep SIGHUP)"
journal -p warning | grep -q 'not_reloaded=gossip' ||
    fail "journalctl -p warning does not show the not-reloaded gossip change"
[[ $(in_ct systemctl show shed-node -p MainPID --value) == "$pid1" ]] || fail "reload restarted the daemon"
log "reload: $(journal | grep -c SIGHUP) SIGHUP lines; the warning is at priority warning"

# --- 3. restart keeps a shed's process ---------------------------------------------------
in_ct timeout 60 shedctl create probe1 --cpus 1 --memory 256M >"$TMP/create.log" 2>&1 ||
    fail "shedctl create: $(cat "$TMP/create.log")"
procs=$(find /sys/fs/cgroup -path "*/$CGPARENT/probe1/cgroup.procs" 2>/dev/null | head -1)
[[ -n $procs ]] || fail "no cgroup for shed probe1 under $CGPARENT"
shed_pid=$(head -1 "$procs")
[[ -n $shed_pid ]] || fail "shed probe1 has no process"
in_ct systemctl restart shed-node || fail "systemctl restart shed-node"
pid2=$(in_ct systemctl show shed-node -p MainPID --value)
[[ $pid2 != "$pid1" && $pid2 != 0 ]] || fail "restart did not start a new daemon ($pid1 -> $pid2)"
kill -0 "$shed_pid" 2>/dev/null || fail "the shed's process $shed_pid died with the restart"
for _ in $(seq 50); do in_ct shedctl list 2>/dev/null | grep -q '^probe1 .* running' && break; sleep 0.2; done
in_ct shedctl list | grep -q '^probe1 .* running' || fail "probe1 not running after the restart: $(in_ct shedctl list)"
journal | grep -q 're-adopted.*shed=probe1' || fail "the new daemon did not re-adopt probe1"
log "restart: daemon $pid1 -> $pid2, shed process $shed_pid kept and re-adopted"

# --- 4. stop -------------------------------------------------------------------------------
in_ct shedctl delete probe1 >/dev/null || fail "shedctl delete probe1"
in_ct systemctl stop shed-node || fail "systemctl stop shed-node"
res=$(in_ct systemctl show shed-node -p Result -p ExecMainStatus)
grep -qx 'ExecMainStatus=0' <<<"$res" || fail "the daemon did not exit 0 on stop: $res"
log "PASS"
