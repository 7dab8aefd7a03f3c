#!/usr/bin/env bash
# bench/api.sh: the remote HTTP API (docs/api.md) against the local ipc API
# it stands on, in the same run, on one real node (network namespace,
# integration/harness.sh) with the TEST driver `sleepy:0` (sheds are
# records only: node/drivers/sleepy.h), so 1,000 sheds cost nothing but
# the node's own bookkeeping:
#   1. creates: N_CREATE/2 over HTTP (POST /v1/sheds) and N_CREATE/2 over
#      ipc (the request `shedctl create` sends), alternating in blocks of
#      BLOCK so both see the same node state;
#   2. lists with the N_CREATE sheds: N_LIST GET /v1/sheds and N_LIST
#      API_SHED_LIST_REQ (`shedctl list`), alternating in blocks of BLOCK;
#   3. N_STATUS GET /v1/status and N_STATUS API_STATUS_REQ, alternating in
#      blocks of BLOCK: a small answer, so the per-request cost shows.
# Each side is one client process (bench/api_probe) making sequential
# calls: HTTP over one keep-alive connection to http.listen on the node's
# loopback (plain HTTP: TLS is a per-connection cost that keep-alive pays
# once), ipc over the node's api socket. rps = calls / their summed time.
# Final line:
#   RESULT sheds=... http_list_rps=... http_list_p99_ms=... ipc_list_rps=...
#          ipc_list_p99_ms=... http_create_rps=... http_create_p99_ms=...
#          ipc_create_rps=... ipc_create_p99_ms=... list_bytes=...
#          http_status_rps=... http_status_p99_ms=... ipc_status_rps=...
#          ipc_status_p99_ms=...
# Needs root. Build first: make shed-node shedctl api_probe (SHED_BUILD_DIR).
# Not run in CI (benchmarks are run by hand: bench/README.md).
set -euo pipefail
export SHED_TEST_DEADLINE=${SHED_TEST_DEADLINE:-900}
export SHED_LOG_LEVEL=${SHED_LOG_LEVEL:-warn}
# shellcheck source-path=SCRIPTDIR
. "$(dirname "$0")/../integration/harness.sh"

N_CREATE=${N_CREATE:-1000}
N_LIST=${N_LIST:-300}
N_STATUS=${N_STATUS:-1000}
BLOCK=${BLOCK:-50}
PROBE=${API_PROBE:-$H_BUILD/bench/api_probe}
PY=/usr/bin/python3
[[ -x "$PROBE" ]] || h_fail "api_probe not built: $PROBE"

h_init 1
cat >"$H_TMP/n1/config.yaml" <<EOF
resources:
  cpus: "64"
  memory: 256G
  disk: 1T
network:
  enabled: false
http:
  listen: 127.0.0.1:8480
  rate_per_token: 0  # the API is measured, not http.rate_per_token's 429s
EOF
SHED_TEST_DRIVER="sleepy:0" h_start_node 1 --config "$H_TMP/n1/config.yaml"
h_wait_ready 1 30
TOKEN=$(h_ctl 1 token create --role operator --name bench 2>/dev/null)
EP=$(h_endpoint 1)
BASE=http://127.0.0.1:8480

# run KIND VERB OUT [PREFIX] COUNT: api_probe in the node's namespace,
# microseconds appended to OUT.
run() {
    local kind=$1 verb=$2 out=$3
    shift 3
    if [[ $kind == http ]]; then
        h_exec 1 "$PROBE" http "$BASE" "$TOKEN" "$verb" "$@" >>"$out" 2>>"$out.err"
    else
        h_exec 1 "$PROBE" ipc "$EP" "$verb" "$@" >>"$out" 2>>"$out.err"
    fi || h_fail "$kind $verb failed: $(tail -3 "$out.err")"
}

# stats FILE: "rps p99_ms count" of the microsecond lines.
stats() {
    $PY - "$1" <<'PYEOF'
import sys
v = sorted(int(x) for x in open(sys.argv[1]) if x.strip())
k = min(len(v) - 1, int(round(0.99 * (len(v) - 1))))
print("%.0f %.2f %d" % (len(v) / (sum(v) / 1e6), v[k] / 1000.0, len(v)))
PYEOF
}

# 1. creates, alternating blocks
half=$((N_CREATE / 2))
for ((b = 0; b * BLOCK < half; b++)); do
    n=$((half - b * BLOCK < BLOCK ? half - b * BLOCK : BLOCK))
    run http create "$H_TMP/http_create" "h$b" "$n"
    run ipc create "$H_TMP/ipc_create" "i$b" "$n"
done
have=$(h_ctl 1 --json list | $PY -c 'import json,sys; print(len(json.load(sys.stdin)))')
h_assert_eq "$N_CREATE" "$have" "sheds after the creates"

# 2. lists of all of them, alternating blocks
for ((k = 0; k < N_LIST; k += BLOCK)); do
    run http list "$H_TMP/http_list" "$BLOCK"
    run ipc list "$H_TMP/ipc_list" "$BLOCK"
done
# 3. status, alternating blocks
for ((k = 0; k < N_STATUS; k += BLOCK)); do
    run http status "$H_TMP/http_status" "$BLOCK"
    run ipc status "$H_TMP/ipc_status" "$BLOCK"
done
list_bytes=$(grep -o '[0-9]* bytes' "$H_TMP/http_list.err" | tail -1 | cut -d' ' -f1)

read -r hc_rps hc_p99 hc_n <<<"$(stats "$H_TMP/http_create")"
read -r ic_rps ic_p99 ic_n <<<"$(stats "$H_TMP/ipc_create")"
read -r hl_rps hl_p99 hl_n <<<"$(stats "$H_TMP/http_list")"
read -r il_rps il_p99 il_n <<<"$(stats "$H_TMP/ipc_list")"
read -r hs_rps hs_p99 hs_n <<<"$(stats "$H_TMP/http_status")"
read -r is_rps is_p99 is_n <<<"$(stats "$H_TMP/ipc_status")"
echo "# creates: http $hc_n at $hc_rps/s p99 $hc_p99 ms; ipc $ic_n at $ic_rps/s p99 $ic_p99 ms"
echo "# lists of $have sheds ($list_bytes bytes of JSON): http $hl_n at $hl_rps/s p99 $hl_p99 ms;" \
    "ipc $il_n at $il_rps/s p99 $il_p99 ms"
echo "# status: http $hs_n at $hs_rps/s p99 $hs_p99 ms; ipc $is_n at $is_rps/s p99 $is_p99 ms"
echo "RESULT sheds=$have http_list_rps=$hl_rps http_list_p99_ms=$hl_p99 ipc_list_rps=$il_rps" \
    "ipc_list_p99_ms=$il_p99 http_create_rps=$hc_rps http_create_p99_ms=$hc_p99" \
    "ipc_create_rps=$ic_rps ipc_create_p99_ms=$ic_p99 list_bytes=$list_bytes" \
    "http_status_rps=$hs_rps http_status_p99_ms=$hs_p99 ipc_status_rps=$is_rps" \
    "ipc_status_p99_ms=$is_p99"
