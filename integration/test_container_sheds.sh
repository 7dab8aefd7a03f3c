#!/usr/bin/env bash
# integration/test_container_sheds.sh: isolated sheds with the container
# driver (docs/drivers.md "container", docs/security.md), 3 nodes, real
# runc, images imported with shedctl. Everything a shed does here goes
# through its own provisioning channel (what a guest can do):
#   1. images: busybox on every node, "other" (a different os-release) on
#      node 2 only; `create --image other` lands on node 2, and each shed's
#      /etc/os-release is its image's;
#   2. from inside shed WEB on node 1: its hostname, root inside, the
#      `shed` user by default; it cannot read the node's keyring, identity
#      or data dir (they are not in its root), sees only its own
#      processes, sees no other shed's agent socket (only its own in
#      /run/shed), cannot mount or make a user namespace; its processes are
#      an unprivileged uid range on the host (/proc/PID/status);
#   3. writing past --disk 64M fails with ENOSPC inside; the node and the
#      other sheds go on; a fork bomb stops at the shed's pids limit;
#   4. DNS from a shed on node 3 resolves postgres, registered by WEB's
#      agent on node 1, to WEB's overlay address;
#   5. node 1 killed with -9 and restarted: WEB is still running with the
#      same PID 1, and its agent answers again; a graceful restart too.
# Only 198.18.0.0/16 and 198.19.0.0/16 inside namespaces this run creates.
# Needs root, runc, busybox-static, a static shed-agent; exits 77 (skip)
# otherwise.
set -euo pipefail
# shellcheck source-path=SCRIPTDIR
. "$(dirname "$0")/harness.sh"

h_container_require h_skip

N=3
h_init "$N"
h_sheds_init
h_container_init
WEB="web$$"
PEER="peer$$"
OTHER="oth$$"

h_log "--- images"
# "other": the same root with another /etc/os-release.
mkdir -p "$H_TMP/other"
tar -C "$H_TMP/other" -xzf "$H_TMP/busybox.tar.gz"
printf 'NAME="other-os"\nID=other-os\nPRETTY_NAME="Other OS 1"\n' >"$H_TMP/other/etc/os-release"
tar -C "$H_TMP/other" --numeric-owner -czf "$H_TMP/other.tar.gz" .

cat >"$H_TMP/agent.yaml" <<'EOF2'
services:
  - {name: postgres, port: 5432, check: none}
EOF2
h_start_node 1 --config "$(h_sheds_config 1 "  agent_config: $H_TMP/agent.yaml
  pids_max: 64")"
for ((i = 2; i <= N; i++)); do
    h_start_node "$i" --config "$(h_sheds_config "$i" "  pids_max: 64")"
done
for ((i = 1; i <= N; i++)); do h_wait_ready "$i" 30; done
h_wait_members "$N" 20 || h_fail "the $N nodes did not see each other"
grep -q 'shed driver ready.*driver=container' "$(h_logfile 1)" \
    || h_fail "node 1 did not pick the container driver: $(grep -m1 'driver' "$(h_logfile 1)")"

h_import_busybox "$N"
h_ctl 2 image import other "$H_TMP/other.tar.gz" >/dev/null || h_fail "image import other"
h_log "busybox on nodes 1-3, other on node 2"

create() { h_ctl "$1" create "${@:2}" >"$H_TMP/create.out" 2>&1; }
shed_field() {
    h_ctl "$1" show "$2" --json 2>/dev/null \
        | python3 -c 'import json, sys; print(json.load(sys.stdin).get(sys.argv[1], ""))' "$3"
}
# prov i NAME STEP [provision args]: the step's output, from inside the shed.
# (shedctl prints the step's output, then "--- step-1: exit ..." and a table.)
prov() {
    SHED_CTL_TIMEOUT=30 h_ctl "$1" provision "$2" --step "$3" "${@:4}" 2>&1 \
        | sed '/^--- step-[0-9]*: /,$d; s/^\[step-[0-9]*\] //' | grep -v '^shedctl: run ' || true
}

h_retry 20 create 1 "$WEB" --node node1 --image busybox --disk 64M --memory 256M \
    || h_fail "create $WEB: $(cat "$H_TMP/create.out")"
h_retry 20 create 3 "$PEER" --node node3 --image busybox \
    || h_fail "create $PEER: $(cat "$H_TMP/create.out")"
create 1 "$OTHER" --image other || h_fail "create $OTHER: $(cat "$H_TMP/create.out")"
h_assert_eq node2 "$(shed_field 1 "$OTHER" node)" "placement picks the only node with image other"
agent_up() { prov 1 "$WEB" 'true' >/dev/null; [[ "$(prov 1 "$WEB" 'echo up')" == *up* ]]; }
h_retry 20 agent_up || h_fail "the agent of $WEB does not answer: $(prov 1 "$WEB" 'echo up')"

h_log "--- 1. the image decides /etc/os-release"
out=$(prov 1 "$WEB" 'cat /etc/os-release')
[[ "$out" == *ID=shed-busybox* ]] || h_fail "$WEB's os-release: $out"
h_retry 20 eval '[[ "$(prov 1 "$OTHER" "grep ^ID= /etc/os-release")" == *ID=other-os* ]]' \
    || h_fail "$OTHER's os-release: $(prov 1 "$OTHER" 'cat /etc/os-release')"
h_log "$WEB: shed-busybox; $OTHER (node 2): other-os"

h_log "--- 2. what shed $WEB can see and do"
out=$(prov 1 "$WEB" 'hostname; id -un; id -u' --user root)
[[ "$out" == *"$WEB"*root*0* ]] || h_fail "hostname/root: $out"
h_assert_eq shed "$(prov 1 "$WEB" 'id -un' | tail -1)" "provisioning runs as shed by default"
DATA1=$(h_datadir 1)
out=$(prov 1 "$WEB" "cat $DATA1/keyring; cat $DATA1/identity* ; ls $DATA1; echo rc=\$?" --user root)
[[ "$out" == *"rc=1"* || "$out" == *"rc=2"* ]] || h_fail "the node's data dir is visible: $out"
[[ "$out" != *"-----"* ]] || h_fail "a key was read: $out"
h_log "keyring, identity, data dir: $(grep -m1 -o 'No such file or directory' <<<"$out")"
procs=$(prov 1 "$WEB" 'ls -d /proc/[0-9]* | wc -l' | tail -1)
((procs < 10)) || h_fail "$WEB sees $procs processes"
h_assert_eq "agent.sock agent.yaml" "$(prov 1 "$WEB" 'ls /run/shed | xargs' --user root | tail -1)" \
    "the only host socket inside is its own"
out=$(prov 1 "$WEB" "ls $DATA1/sheds/$PEER/chan/agent.sock $(h_datadir 3)/sheds/$PEER/chan/agent.sock; echo rc=\$?")
[[ "$out" == *"rc=1"* ]] || h_fail "another shed's agent socket is visible: $out"
out=$(prov 1 "$WEB" 'mount -t tmpfs x /mnt && echo MOUNTED; unshare -U -r id && echo UNSHARED; true' --user root)
[[ "$out" != *MOUNTED* && "$out" != *UNSHARED* ]] || h_fail "mount/unshare allowed: $out"
pid=$(h_shed_pid "$WEB" 1)
[[ -n "$pid" ]] || h_fail "no process of $WEB in its cgroup"
uid=$(awk '/^Uid:/ {print $2}' "/proc/$pid/status")
((uid >= 0x70000000)) || h_fail "$WEB's PID 1 runs as host uid $uid"
h_log "$WEB's PID 1 is host pid $pid, host uid $uid; $procs processes visible inside"

h_log "--- 3. limits: disk and pids"
out=$(prov 1 "$WEB" 'dd if=/dev/zero of=/fill bs=1M count=100 2>&1; df -m / | tail -1; rm -f /fill' --user root)
[[ "$out" == *"No space left"* ]] || h_fail "writing past --disk did not give ENOSPC: $out"
h_log "past --disk 64M: $(grep -m1 -o 'No space left on device' <<<"$out")"
out=$(prov 1 "$WEB" 'i=0; while [ $i -lt 200 ]; do sleep 20 </dev/null >/dev/null 2>&1 & i=$((i+1)); done 2>&1 | tail -1; echo forked' --user root)
[[ "$out" == *"can't fork"* || "$out" == *"Resource temporarily unavailable"* ]] \
    || h_fail "the fork bomb was not stopped by pids.max: $out"
h_alive 1 || h_fail "node 1 died"
h_assert_eq ok "$(prov 3 "$PEER" 'echo ok' | tail -1)" "another shed is unaffected"
prov 1 "$WEB" 'kill $(pidof sleep) 2>/dev/null; true' --user root >/dev/null
h_log "fork bomb stopped at pids.max 64; node 1 and $PEER unaffected"

h_log "--- 4. DNS from a shed on node 3 finds a service of a shed on node 1"
WEB_IP=$(shed_field 1 "$WEB" ip)
WEB_IP=${WEB_IP%%/*}
resolves() { [[ "$(prov 3 "$PEER" 'nslookup postgres.service.shed')" == *"$WEB_IP"* ]]; }
h_retry 20 resolves || h_fail "nslookup postgres.service.shed in $PEER: $(prov 3 "$PEER" 'cat /etc/resolv.conf; nslookup postgres.service.shed')"
h_log "in $PEER (node 3): postgres.service.shed -> $WEB_IP ($WEB on node 1)"

h_log "--- 5. node 1 restarts: kill -9, then a graceful stop"
h_kill 1
h_start_node 1 --config "$H_TMP/n1/config.yaml"
h_wait_ready 1 30
h_assert_eq "$pid" "$(h_shed_pid "$WEB" 1)" "$WEB's PID 1 after kill -9 of node 1"
h_assert_eq running "$(shed_field 1 "$WEB" state)" "$WEB's state after kill -9"
h_retry 20 agent_up || h_fail "the agent of $WEB did not come back"
h_stop_node 1
h_start_node 1 --config "$H_TMP/n1/config.yaml"
h_wait_ready 1 30
h_assert_eq "$pid" "$(h_shed_pid "$WEB" 1)" "$WEB's PID 1 after a graceful restart"
h_retry 20 agent_up || h_fail "the agent of $WEB did not come back after the restart"

h_ctl 1 delete "$WEB" >/dev/null || h_fail "delete $WEB"
h_ctl 3 delete "$PEER" >/dev/null || h_fail "delete $PEER"
h_ctl 2 delete "$OTHER" >/dev/null || h_fail "delete $OTHER"
h_log "PASS"
