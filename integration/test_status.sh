#!/usr/bin/env bash
# integration/test_status.sh: start 3 shed-node processes in network
# namespaces (see harness.sh for the picture) and check what `shedctl status`
# tells a user about each of them:
#   - `status --json` on every node: name matches, public_key non-empty and
#     distinct across nodes, version equals `shed-node --version`, uptime_s a
#     non-negative integer;
#   - the human `status` output names the node;
#   - a node stopped with SIGTERM exits 0, and `shedctl status` against it
#     then exits non-zero with a one-line reason (and does not hang).
# Needs root; exits 77 (skip) otherwise.
set -euo pipefail
# shellcheck source-path=SCRIPTDIR
. "$(dirname "$0")/harness.sh"

N=3
h_init "$N"
for ((i = 1; i <= N; i++)); do h_start_node "$i"; done
for ((i = 1; i <= N; i++)); do h_wait_ready "$i" 30; done

version_line=$("$H_NODE_BIN" --version)
[[ -n "$version_line" ]] || h_fail "shed-node --version printed nothing"
h_log "shed-node --version: $version_line"

# json_get FIELD: read one JSON object on stdin, print FIELD (fails if absent).
json_get() {
    python3 -c '
import json, sys
o = json.load(sys.stdin)
if not isinstance(o, dict) or sys.argv[1] not in o:
    sys.exit("field %r missing in %r" % (sys.argv[1], o))
v = o[sys.argv[1]]
print(json.dumps(v) if isinstance(v, (dict, list)) else v)
' "$1"
}

declare -A seen_keys=()
for ((i = 1; i <= N; i++)); do
    out=$(h_ctl "$i" --json status) || h_fail "node $i: shedctl --json status failed"
    h_log "node $i: $out"
    name=$(json_get name <<<"$out") || h_fail "node $i: bad JSON: $out"
    key=$(json_get public_key <<<"$out") || h_fail "node $i: bad JSON: $out"
    ver=$(json_get version <<<"$out") || h_fail "node $i: bad JSON: $out"
    up=$(json_get uptime_s <<<"$out") || h_fail "node $i: bad JSON: $out"

    h_assert_eq "$(h_name "$i")" "$name" "node $i name"
    [[ -n "$key" ]] || h_fail "node $i: empty public_key"
    [[ -z "${seen_keys[$key]:-}" ]] || h_fail "node $i has the same public key as node ${seen_keys[$key]}"
    seen_keys[$key]=$i
    [[ -n "$ver" ]] || h_fail "node $i: empty version"
    # The JSON version must be what `shed-node --version` reports (that line
    # may carry the program name too, e.g. "shed-node 0.1.0").
    [[ " $version_line " == *" $ver "* || "$version_line" == "$ver" ]] \
        || h_fail "node $i: version '$ver' does not match shed-node --version '$version_line'"
    [[ "$up" =~ ^[0-9]+(\.[0-9]+)?$ ]] || h_fail "node $i: uptime_s '$up' is not a non-negative number"

    human=$(h_ctl "$i" status) || h_fail "node $i: shedctl status failed"
    [[ "$human" == *"$(h_name "$i")"* ]] || h_fail "node $i: human status does not show the name: $human"
    [[ "$human" == *"$key"* ]] || h_fail "node $i: human status does not show the public key: $human"
done
h_log "status of all $N nodes OK; public keys distinct"

# A stopped node: clean exit on SIGTERM, then a one-line error from shedctl.
rc=0
h_stop_node "$N" 15 || rc=$?
h_assert_eq 0 "$rc" "exit status of shed-node after SIGTERM"

rc=0
msg=$(h_ctl "$N" status 2>&1) || rc=$?
h_log "shedctl against stopped node: rc=$rc: $msg"
((rc != 0)) || h_fail "shedctl status against a stopped node exited 0"
((rc != 124)) || h_fail "shedctl status against a stopped node hung (killed after 10 s)"
[[ -n "$msg" ]] || h_fail "shedctl printed no reason for a stopped node"
lines=$(printf '%s\n' "$msg" | wc -l)
h_assert_eq 1 "$lines" "lines printed by shedctl for a stopped node"

# The other nodes are unaffected.
for ((i = 1; i < N; i++)); do
    h_ctl "$i" status >/dev/null || h_fail "node $i stopped answering after node $N stopped"
done

h_log "PASS"
