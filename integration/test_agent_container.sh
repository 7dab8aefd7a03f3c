#!/usr/bin/env bash
# integration/test_agent_container.sh: the static shed-agent as PID 1 of a
# real OCI container (runc, user namespace, cgroup namespace), without the
# container driver: a busybox root with no shared libraries, the agent
# bound in read-only, the socket of a shed attached by hand on node 1
# (`shedctl agents attach box`) bound in at /run/shed/agent.sock, started
# as the container driver starts it (docs/agent.md "In a container").
#   1. the agent runs in a root without a libc (it is static) and connects;
#   2. `shedctl provision box --step 'id -un'` runs as the image's `shed`
#      user by default (its groups from the image's /etc/group, HOME and
#      PATH set), `--user root` as root inside;
#   3. metrics are the shed's own: mem_total = the container's 256 MiB
#      limit, cpu_count 1 (quota 0.5 CPU), processes = the container's own;
#   4. orphans of a step are reaped by the agent (PID 1): no zombies;
#   5. `runc kill box TERM` stops the container within 3 s.
# Needs root, runc and busybox-static; exits 77 (skip) otherwise.
set -euo pipefail
# shellcheck source-path=SCRIPTDIR
. "$(dirname "$0")/harness.sh"

AGENT_BIN=${SHED_AGENT_BIN:-$H_BUILD/agent/shed-agent}
[[ -x "$AGENT_BIN" ]] || h_skip "shed-agent not built: $AGENT_BIN"
command -v runc >/dev/null || h_skip "no runc"
BUSYBOX=$(command -v busybox || true)
[[ -n "$BUSYBOX" ]] && file -L "$BUSYBOX" | grep -q 'statically linked' \
    || h_skip "no static busybox (busybox-static)"
file -L "$AGENT_BIN" | grep -q 'statically linked' \
    || h_skip "shed-agent is not static (sanitizer build?)"
command -v python3 >/dev/null || h_skip "no python3"

h_init 1
cat >"$H_TMP/node1.yaml" <<EOF
agents:
  metrics_interval_ms: 200
EOF
h_start_node 1 --config "$H_TMP/node1.yaml"
h_wait_ready 1 30

CID="shedtest-${H_ID}-box"
ROOTMAP=1000000                 # host uid/gid of root inside
# The bundle outside the harness's private temp dir: runc's init mounts
# the root as root inside, an unprivileged host uid that must reach it.
BUNDLE=$(mktemp -d /tmp/shed-agent-ct.XXXXXX)
chmod 711 "$BUNDLE"
# The container first (runc removes its cgroups), then the harness's cleanup
# with the test's exit status.
container_on_exit() {
    local status=$?
    set +e                      # else `(exit 1)` below would end the trap here
    runc delete -f "$CID" >/dev/null 2>&1 || true
    rm -rf -- "$BUNDLE"
    (exit "$status")
    h__on_exit
}
trap container_on_exit EXIT

# ---- the bundle: a busybox root, the image's users, runc's spec -----------
R=$BUNDLE/rootfs
mkdir -p "$R"/{bin,etc,tmp,proc,sys,dev,run/shed,home/shed,root}
cp "$BUSYBOX" "$R/bin/busybox"
for a in sh id ls cat echo sleep true ps grep; do ln -s busybox "$R/bin/$a"; done
printf 'root:x:0:0:root:/root:/bin/sh\nshed:x:1000:1000:Shed:/home/shed:/bin/sh\n' >"$R/etc/passwd"
printf 'root:x:0:\nshed:x:1000:\nusers:x:100:shed\n' >"$R/etc/group"
chmod 1777 "$R/tmp"
chown -R "$ROOTMAP:$ROOTMAP" "$R"
chown -R "$((ROOTMAP + 1000)):$((ROOTMAP + 1000))" "$R/home/shed"

sock=$(h_ctl 1 agents attach box) || h_fail "agents attach box failed"
# The driver gives the shed's root the socket's group and a directory of
# its own; here: open the socket and let root inside traverse to it.
chmod 666 "$sock"
d=$(dirname "$sock")
while [[ "$d" == "$H_TMP"* ]]; do chmod o+x "$d"; d=$(dirname "$d"); done
(cd "$BUNDLE" && runc spec)
python3 - "$BUNDLE/config.json" "$AGENT_BIN" "$sock" "$ROOTMAP" "$CID" <<'EOP'
import json, sys
path, agent, sock, rootmap, cid = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4]), sys.argv[5]
c = json.load(open(path))
p = c["process"]
p["terminal"] = False
p["args"] = ["/run/shed-agent", "--init", "--container", "--shed", "box", "--connect",
             "unix:/run/shed/agent.sock", "--cgroup-root", "/sys/fs/cgroup"]
p["env"] = ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "HOME=/root"]
caps = ["CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_FSETID", "CAP_FOWNER", "CAP_MKNOD", "CAP_NET_RAW",
        "CAP_SETGID", "CAP_SETUID", "CAP_SETFCAP", "CAP_SETPCAP", "CAP_NET_BIND_SERVICE",
        "CAP_SYS_CHROOT", "CAP_KILL", "CAP_AUDIT_WRITE"]
p["capabilities"] = {k: caps for k in ("bounding", "effective", "permitted")}
p["noNewPrivileges"] = True
c["root"]["readonly"] = True
c["hostname"] = "box"
lx = c["linux"]
lx["namespaces"] += [{"type": "user"}, {"type": "cgroup"}]
lx["uidMappings"] = [{"containerID": 0, "hostID": rootmap, "size": 65536}]
lx["gidMappings"] = [{"containerID": 0, "hostID": rootmap, "size": 65536}]
lx["cgroupsPath"] = "/" + cid
lx["resources"]["memory"] = {"limit": 256 << 20}
lx["resources"]["cpu"] = {"quota": 50000, "period": 100000}
lx["resources"]["pids"] = {"limit": 200}
c["mounts"] = [m for m in c["mounts"] if m["destination"] != "/sys/fs/cgroup"]
c["mounts"] += [
    {"destination": "/sys/fs/cgroup", "type": "cgroup", "source": "cgroup",
     "options": ["nosuid", "noexec", "nodev", "relatime", "ro"]},
    {"destination": "/run/shed-agent", "type": "bind", "source": agent,
     "options": ["bind", "ro"]},
    {"destination": "/run/shed/agent.sock", "type": "bind", "source": sock,
     "options": ["bind"]},
    {"destination": "/tmp", "type": "tmpfs", "source": "tmpfs", "options": ["nosuid", "nodev"]},
]
json.dump(c, open(path, "w"), indent=1)
EOP

# ---- 1. runs without a libc, connects ------------------------------------
(cd "$BUNDLE" && runc run -d "$CID" </dev/null >"$H_TMP/runc.out" 2>&1) \
    || h_fail "runc run: $(cat "$H_TMP/runc.out")"
init_pid=$(runc state "$CID" | python3 -c 'import json,sys; print(json.load(sys.stdin)["pid"])')
h_log "container $CID: agent is host pid $init_pid"
uid=$(awk '/^Uid:/ { print $2 }' "/proc/$init_pid/status")
h_assert_eq "$ROOTMAP" "$uid" "the agent's host uid (root inside)"
connected() { h_ctl 1 --json status box >"$H_TMP/box.json" 2>/dev/null \
              && grep -q '"mem_total"' "$H_TMP/box.json"; }
h_retry 30 connected || h_fail "no metrics from the agent in the container: $(cat "$H_TMP/runc.out")"

# ---- 2. provisioning: the shed user by default, root on request ----------
rc=0
SHED_CTL_TIMEOUT=30 h_ctl 1 provision box --step 'id -un; id -G; echo "$HOME $PATH"' \
    >"$H_TMP/prov.txt" 2>&1 || rc=$?
sed 's/^/    /' "$H_TMP/prov.txt" >&2
h_assert_eq 0 "$rc" "provision exit status"
grep -q '^\[step-1\] shed$' "$H_TMP/prov.txt" || h_fail "the step did not run as shed"
grep -q '^\[step-1\] 1000 100$' "$H_TMP/prov.txt" || h_fail "shed's groups are not 1000 100"
grep -q '^\[step-1\] /home/shed /usr/local/bin:/usr/bin:/bin$' "$H_TMP/prov.txt" \
    || h_fail "HOME/PATH not the shed user's"
rc=0
SHED_CTL_TIMEOUT=30 h_ctl 1 provision box --user root --step 'id -un' \
    >"$H_TMP/prov-root.txt" 2>&1 || rc=$?
h_assert_eq 0 "$rc" "provision --user root exit status"
grep -q '^\[step-1\] root$' "$H_TMP/prov-root.txt" || h_fail "--user root did not run as root"

# ---- 3. the shed's own metrics --------------------------------------------
metrics_ok() {
    h_ctl 1 --json status box >"$H_TMP/box.json" 2>/dev/null || return 1
    python3 - "$H_TMP/box.json" <<'EOP' >"$H_TMP/box.why" 2>&1
import json, sys
s = json.load(open(sys.argv[1]))
def need(ok, why):
    if not ok:
        sys.exit(why + ": " + json.dumps(s))
need(s["mem_total"] == 256 << 20, "mem_total is not the 256 MiB limit")
need(0 < s["mem_used"] < 256 << 20, "mem_used is not within the limit")
need(s["cpu_count"] == 1, "cpu_count is not 1")
need(1 <= s["procs"] <= 3, "procs is not the container's own")
EOP
}
h_retry 20 metrics_ok || h_fail "$(cat "$H_TMP/box.why")"
h_log "box reports its own limits: $(cat "$H_TMP/box.json")"

# ---- 4. orphans reaped by PID 1 ---------------------------------------------
rc=0
SHED_CTL_TIMEOUT=30 h_ctl 1 provision box \
    --step '(true &); (sleep 0.2 &); (sh -c "exit 3" &); sleep 1; echo done' \
    >"$H_TMP/prov-orphans.txt" 2>&1 || rc=$?
h_assert_eq 0 "$rc" "orphan step exit status"
sleep 0.5
zombies=$(ps -o stat= --ppid "$init_pid" | grep -c Z || true)
h_assert_eq 0 "$zombies" "zombies under the agent"

# ---- 5. SIGTERM stops it ----------------------------------------------------
runc kill "$CID" TERM
stopped=0
for _ in $(seq 30); do
    if runc state "$CID" 2>/dev/null | grep -q '"status": "stopped"'; then stopped=1; break; fi
    sleep 0.1
done
h_assert_eq 1 "$stopped" "container stopped within 3 s of SIGTERM"
h_log "PASS"
