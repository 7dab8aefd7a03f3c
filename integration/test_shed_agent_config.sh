#!/usr/bin/env bash
# integration/test_shed_agent_config.sh: the agent in a shed made by
# `shedctl create` runs with a configuration (driver.agent_config,
# docs/drivers.md). 2 nodes; node 1 has the netns driver, shed-agent from
# this build as init and driver.agent_config pointing at a YAML whose
# supervised process `crasher` exits with code 3 (restart never).
#   1. `shedctl create cfg1 --node node1`: a consumer of `proc.node1.cfg1`
#      on node 2 receives crasher's start and its exit with code 3; the shed
#      keeps its own copy of the file in its directory;
#   2. a shed whose directory already holds an agent.yaml (put there before
#      the create, exit code 4) runs that one, not the node's.
# Needs root; exits 77 (skip) otherwise.
set -euo pipefail
# shellcheck source-path=SCRIPTDIR
. "$(dirname "$0")/harness.sh"

[[ -x "$H_BUILD/agent/shed-agent" ]] || h_skip "shed-agent not built: $H_BUILD/agent/shed-agent"

h_init 2
h_sheds_init
# The process sleeps first so that the start event comes after the shed's
# agent connected (and well after the consumer subscribed).
cat >"$H_TMP/agent.yaml" <<'EOF'
processes:
  - {name: crasher, cmd: "sleep 1; echo configured; exit 3", restart: never}
EOF
h_start_node 1 --config "$(h_sheds_config 1 "  agent_config: $H_TMP/agent.yaml")"
h_start_node 2 --config "$(h_sheds_config 2)"
for i in 1 2; do h_wait_ready "$i" 30; done
h_wait_members 2 20 || h_fail "the 2 nodes did not see each other"

# consume OUT TOPIC: `shedctl events` on node 2 until a start and an exit.
C_PID=""
consume() {
    SHED_CTL_TIMEOUT=60 h_ctl 2 events --json --count 2 --timeout 40 "$2" >"$1" 2>"$1.err" &
    C_PID=$!
    H_STARTED_PIDS+=("$C_PID")
    sleep 2     # the subscription reaches node 1
}
# exit_code OUT: the exit code of crasher's exit event in OUT ("" if none).
exit_code() {
    python3 - "$1" <<'EOF'
import json, sys
for l in open(sys.argv[1]):
    if not l.strip():
        continue
    e = json.loads(l)
    p = e["payload"]
    if p.get("event") == "exit" and p.get("name") == "crasher":
        print(p.get("exit_code")); break
EOF
}
# A fresh node has no overlay address block for a second or two: retry.
create() { h_ctl 1 create "$@" >"$H_TMP/create.out" 2>&1; }
shed_dir() { echo "$(h_datadir 1)/sheds/$1"; }

h_log "--- 1. the node's agent_config reaches the agent of a created shed"
consume "$H_TMP/cfg1.jsonl" proc.node1.cfg1
h_retry 20 create cfg1 --node node1 --cpus 0.5 --memory 128M || h_fail "create cfg1: $(cat "$H_TMP/create.out")"
wait "$C_PID" || h_fail "no start+exit proc events of cfg1 on node 2: $(cat "$H_TMP/cfg1.jsonl.err"; cat "$(shed_dir cfg1)/console.log")"
h_assert_eq 3 "$(exit_code "$H_TMP/cfg1.jsonl")" "crasher's exit code in cfg1, seen on node 2"
cmp -s "$H_TMP/agent.yaml" "$(shed_dir cfg1)/agent.yaml" || h_fail "cfg1 has no copy of the agent config"
h_log "cfg1's crasher exited with 3, reported on node 2"

h_log "--- 2. a shed's own agent.yaml wins over the node's"
mkdir -p "$(shed_dir cfg2)"
sed 's/exit 3/exit 4/' "$H_TMP/agent.yaml" >"$(shed_dir cfg2)/agent.yaml"
consume "$H_TMP/cfg2.jsonl" proc.node1.cfg2
create cfg2 --node node1 --cpus 0.5 --memory 128M || h_fail "create cfg2: $(cat "$H_TMP/create.out")"
wait "$C_PID" || h_fail "no start+exit proc events of cfg2 on node 2: $(cat "$H_TMP/cfg2.jsonl.err")"
h_assert_eq 4 "$(exit_code "$H_TMP/cfg2.jsonl")" "crasher's exit code in cfg2 (its own file)"

h_log "--- clean up"
for s in cfg1 cfg2; do h_ctl 1 delete "$s" >/dev/null || h_fail "delete $s"; done
h_log "PASS"
