#!/usr/bin/env bash
# integration/test_shed_metrics.sh: a netns shed reports its own resource
# use, not the host's (docs/agent.md, "Where metrics come from"). One node
# runs sheds with the netns driver and the shed-agent from this build (200 ms
# metrics); shed `lim` is created with --cpus 1 --memory 256M.
# `shedctl --json status NAME` must show, for `lim`:
# mem_total 256 MiB (its cgroup's limit), cpu_count 1 (its quota), a small
# process count (its cgroup's), an uptime of seconds (since its agent
# started); shed `big` (--cpus 2 --memory 1G): 1 GiB and 2 CPUs (or the
# host's, if fewer). (A shed
# without limits gets the node's defaults, so "no limit" is unit-tested in
# agent/metrics_test.c instead.)
# Needs root; exits 77 (skip) otherwise.
set -euo pipefail
# shellcheck source-path=SCRIPTDIR
. "$(dirname "$0")/harness.sh"

[[ -x "$H_BUILD/agent/shed-agent" ]] || h_skip "shed-agent not built: $H_BUILD/agent/shed-agent"

h_init 1
h_sheds_init
cfg=$(h_sheds_config 1 "agents:
  metrics_interval_ms: 200")
h_start_node 1 --config "$cfg"
h_wait_ready 1 30

# A fresh node has no overlay address block for a second or two: retry.
create() { h_ctl 1 create "$@" >"$H_TMP/create.out" 2>&1; }
h_retry 20 create lim --cpus 1 --memory 256M || h_fail "create lim: $(cat "$H_TMP/create.out")"
h_retry 20 create big --cpus 2 --memory 1G || h_fail "create big: $(cat "$H_TMP/create.out")"

host_mem=$(awk '/^MemTotal:/ { printf "%d", $2 * 1024 }' /proc/meminfo)
host_cpus=$(nproc --all)

# check NAME PYTHON: NAME's status as `s`; PYTHON exits non-zero (with a
# reason) while it does not hold. The status is kept in $H_TMP/NAME.json.
check() {
    local name=$1 code=$2
    h_ctl 1 --json status "$name" >"$H_TMP/$name.json" 2>"$H_TMP/$name.err" || return 1
    python3 - "$H_TMP/$name.json" "$host_mem" "$host_cpus" <<EOP >"$H_TMP/$name.why" 2>&1
import json, sys
s = json.load(open(sys.argv[1]))
host_mem, host_cpus = int(sys.argv[2]), int(sys.argv[3])
def need(ok, why):
    if not ok:
        sys.exit(why + ": " + json.dumps(s))
$code
EOP
}

lim_ok() {
    check lim '
need(s["mem_total"] == 256 << 20, "mem_total is not 256 MiB")
need(0 < s["mem_used"] < 256 << 20, "mem_used is not within the limit")
need(s["cpu_count"] == 1, "cpu_count is not 1")
need(1 <= s["procs"] < 20, "procs is not the shed'"'"'s own")
need(s["uptime_s"] < 120, "uptime is not the shed'"'"'s")
need(0 <= s["cpu_pct"] <= 100, "cpu_pct out of range")
'
}
h_retry 30 lim_ok || h_fail "lim: $(cat "$H_TMP/lim.why" "$H_TMP/lim.err" 2>/dev/null)"
h_log "lim reports its own limits: $(cat "$H_TMP/lim.json")"

big_ok() {
    check big '
need(s["mem_total"] == 1 << 30, "mem_total is not 1 GiB")
need(s["cpu_count"] == min(2, host_cpus), "cpu_count is not 2 (or all host CPUs)")
need(1 <= s["procs"] < 20, "procs is not the shed'"'"'s own")
need(s["mem_total"] != host_mem, "mem_total is the host'"'"'s")
'
}
h_retry 30 big_ok || h_fail "big: $(cat "$H_TMP/big.why" "$H_TMP/big.err" 2>/dev/null)"
h_log "big reports its own limits: $(cat "$H_TMP/big.json")"

h_ctl 1 status lim || true
h_ctl 1 delete lim >/dev/null || h_fail "delete lim"
h_ctl 1 delete big >/dev/null || h_fail "delete big"
h_log "PASS"
