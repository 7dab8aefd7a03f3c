#!/usr/bin/env bash
# integration/test_http_api.sh: the remote HTTP/JSON API (docs/api.md) over
# HTTPS, with real nodes in namespaces and netns sheds.
#   - a config with plain HTTP on a non-loopback address is refused
#     (--check-config), and so is a TLS key others can read;
#   - node 1 serves https://198.18.0.11:8443 with a certificate made here
#     (openssl, self-signed, SAN IP 198.18.0.11); tokens from
#     `shedctl token create` on node 1 (the token printed once);
#   - from node 2's namespace, curl with an operator token creates a shed
#     (201, placed on node 2), lists it, shows it, stops and starts it,
#     gets 409 creating it again, deletes it (then 404); `shedctl list`
#     agrees: one implementation behind both;
#   - a read token lists (200) but is refused a create (403); no token 401
#     with WWW-Authenticate; a revoked token 401; malformed JSON, an unknown
#     field and a wrong type 400; an oversized body 413 (declared or
#     chunked); a wrong method 405;
#   - failures are counted in /metrics and logged without the token;
#   - hostile clients: a TCP connection that never starts its TLS handshake
#     is closed after http.timeout_s, a body dripped in byte by byte after
#     3 x http.timeout_s; with node 2's address holding all its
#     per-client connections, node 2 is refused and node 1 is still served;
#     a token over http.rate_per_token gets 429 while another is served.
# Needs root; exits 77 (skip) otherwise.
set -euo pipefail
# shellcheck source-path=SCRIPTDIR
. "$(dirname "$0")/harness.sh"

command -v curl >/dev/null 2>&1 || h_skip "curl not installed (scripts/install-deps.sh)"
command -v openssl >/dev/null 2>&1 || h_skip "openssl not installed (scripts/install-deps.sh)"

h_init 2
h_sheds_init

ADDR=$(h_addr 1)
BASE="https://$ADDR:8443"
h_http_cert "$ADDR"
CERT=$H_HTTP_CERT
KEYF=$H_HTTP_KEY
H_API_BASE=$BASE

# ---- configuration checks ----------------------------------------------------
printf 'http:\n  listen: %s:8080\n' "$ADDR" >"$H_TMP/plain.yaml"
if out=$("$H_NODE_BIN" --check-config "$H_TMP/plain.yaml" 2>&1); then
    h_fail "plain HTTP on $ADDR was accepted: $out"
fi
grep -q 'only allowed on a loopback address' <<<"$out" || h_fail "unclear refusal: $out"
printf 'http:\n  listen: 127.0.0.1:8080\n' >"$H_TMP/loop.yaml"
"$H_NODE_BIN" --check-config "$H_TMP/loop.yaml" >/dev/null 2>&1 \
    || h_fail "plain HTTP on loopback was refused"

HTTP_YAML="http:
  listen: $ADDR:8443
  tls_cert: $CERT
  tls_key: $KEYF
  max_body_bytes: 4096
  per_client_connections: 4
  timeout_s: 3
  rate_per_token: 20
  rate_burst: 30"
h_sheds_config 1 "$HTTP_YAML" >/dev/null
h_sheds_config 2 >/dev/null

# A key others can read stops the start with a reason.
chmod 644 "$KEYF"
if h_exec 1 timeout 10 "$H_NODE_BIN" --config "$H_TMP/n1/config.yaml" --name node1 \
    --data-dir "$H_TMP/keycheck" --bind "$ADDR:7999" --encrypt "$H_KEY" \
    >"$H_TMP/keycheck.log" 2>&1; then
    h_fail "a node started with a world-readable TLS key"
fi
grep -q 'http.tls_key.*chmod 600' "$H_TMP/keycheck.log" \
    || h_fail "no reason for the readable key: $(tail -2 "$H_TMP/keycheck.log")"
chmod 600 "$KEYF"

h_start_node 1 --config "$H_TMP/n1/config.yaml"
h_start_node 2 --config "$H_TMP/n2/config.yaml"
for i in 1 2; do h_wait_ready "$i" 30; done
h_wait_members 2 20 || h_fail "the 2 nodes did not converge"
grep -q "http api listening.*addr=$ADDR:8443 tls=yes" "$(h_logfile 1)" \
    || h_fail "node 1 did not log 'http api listening'"

OP=$(h_ctl 1 token create --role operator --name it 2>/dev/null)
RD=$(h_ctl 1 token create --role read 2>/dev/null)
[[ "$OP" =~ ^sht_[0-9a-f]{8}_[0-9a-f]{64}$ ]] || h_fail "operator token looks wrong: $OP"
[[ "$RD" =~ ^sht_[0-9a-f]{8}_[0-9a-f]{64}$ ]] || h_fail "read token looks wrong: $RD"
RD_ID=${RD:4:8}
h_ctl 1 token list | grep -q "^$RD_ID  read" || h_fail "token list does not show $RD_ID"

# The harness's HTTP helpers (harness.sh, "the remote HTTP API").
api() { h_api "$@"; }
expect() { h_expect "$@"; }
jget() { h_jget "$@"; }

# ---- an operator manages a shed from another node's namespace ---------------
out=$(api 2 "$OP" POST /v1/sheds '{"name": "web1", "cpus": "1", "memory": "256M", "node": "node2", "tags": {"team": "a"}}')
expect 201 "$out" "create web1"
h_assert_eq "running node2" "$(jget "$out" 'd["shed"]["state"], d["shed"]["node"]' | tr -d "(),'")" "created shed"
out=$(api 2 "$OP" GET /v1/sheds)
expect 200 "$out" "list"
h_assert_eq "web1" "$(jget "$out" '" ".join(s["name"] for s in d["sheds"])')" "listed sheds"
out=$(api 2 "$OP" GET /v1/sheds/web1)
expect 200 "$out" "show"
h_assert_eq "a" "$(jget "$out" 'd["shed"]["tags"]["team"]')" "shown tag"
h_ctl 2 list | grep -q '^web1 .*node2.*running' || h_fail "shedctl list does not show web1: $(h_ctl 2 list)"
expect 200 "$(api 2 "$OP" POST /v1/sheds/web1/stop)" "stop"
h_assert_eq stopped "$(jget "$(api 2 "$OP" GET /v1/sheds/web1)" 'd["shed"]["state"]')" "state after stop"
expect 200 "$(api 2 "$OP" POST /v1/sheds/web1/start)" "start"
h_assert_eq running "$(jget "$(api 2 "$OP" GET /v1/sheds/web1)" 'd["shed"]["state"]')" "state after start"
out=$(api 2 "$OP" POST /v1/sheds '{"name": "web1", "node": "node1"}')
expect 409 "$out" "create of a taken name"
h_assert_eq conflict "$(jget "$out" 'd["error"]["code"]')" "error code"
out=$(api 2 "$OP" GET /v1/status)
expect 200 "$out" "status"
h_assert_eq node1 "$(jget "$out" 'd["name"]')" "status name"
out=$(api 2 "$RD" GET /v1/members)
expect 200 "$out" "members"
h_assert_eq "alive alive" "$(jget "$out" '" ".join(m["status"] for m in d["members"])')" "members"
expect 200 "$(api 2 "$RD" GET '/v1/services?all=true')" "services"

# ---- authentication and authorization --------------------------------------------
out=$(api 2 "$RD" POST /v1/sheds '{"name": "nope"}')
expect 403 "$out" "create with a read token"
h_assert_eq forbidden "$(jget "$out" 'd["error"]["code"]')" "403 code"
expect 403 "$(api 2 "$RD" DELETE /v1/sheds/web1)" "delete with a read token"
expect 200 "$(api 2 "$RD" GET /v1/sheds)" "list with a read token"
out=$(h_exec 2 curl -sS -i --cacert "$CERT" "$BASE/v1/sheds")
grep -q '^HTTP/[0-9.]* 401' <<<"$out" || h_fail "no token: $out"
grep -qi '^WWW-Authenticate: Bearer' <<<"$out" || h_fail "401 without WWW-Authenticate: $out"
expect 401 "$(api 2 "sht_0000000a_$(printf '0%.0s' {1..64})" GET /v1/sheds)" "unknown token"
expect 401 "$(api 2 "garbage" GET /v1/sheds)" "malformed token"
h_ctl 1 token revoke "$RD_ID" >/dev/null || h_fail "revoke"
expect 401 "$(api 2 "$RD" GET /v1/sheds)" "revoked token"

# ---- bad input -------------------------------------------------------------------
out=$(api 2 "$OP" POST /v1/sheds '{"name": "x",')
expect 400 "$out" "malformed JSON"
h_assert_eq malformed_json "$(jget "$out" 'd["error"]["code"]')" "malformed code"
expect 400 "$(api 2 "$OP" POST /v1/sheds '{"name": "x", "colour": "red"}')" "unknown field"
expect 400 "$(api 2 "$OP" POST /v1/sheds '{"name": 7}')" "wrong type"
expect 400 "$(api 2 "$OP" POST /v1/sheds '{"name": "Bad_Name"}')" "invalid name"
big=$(printf '{"name": "%s"}' "$(head -c 8000 /dev/zero | tr '\0' a)")
out=$(api 2 "$OP" POST /v1/sheds "$big")
expect 413 "$out" "oversized body"
out=$(h_exec 2 curl -sS --max-time 20 --cacert "$CERT" -H "Authorization: Bearer $OP" \
    -H 'Transfer-Encoding: chunked' --data-binary "$big" -w '\n%{http_code}' "$BASE/v1/sheds")
expect 413 "$out" "oversized chunked body"
expect 405 "$(api 2 "$OP" PUT /v1/sheds)" "PUT"
expect 404 "$(api 2 "$OP" GET /v1/nothing)" "unknown route"

# ---- delete -------------------------------------------------------------------
expect 200 "$(api 2 "$OP" DELETE /v1/sheds/web1)" "delete"
expect 404 "$(api 2 "$OP" GET /v1/sheds/web1)" "show after delete"

# ---- metrics and logs ------------------------------------------------------------
metrics=$(h_metrics 1)
for reason in missing malformed unknown forbidden; do
    v=$(grep -E "^shed_http_auth_failures_total\{reason=\"$reason\"\} " <<<"$metrics" | awk '{print $2}')
    ((${v:-0} >= 1)) || h_fail "shed_http_auth_failures_total{reason=\"$reason\"} is '${v:-}'"
done
v=$(grep -E '^shed_http_rejected_total\{reason="body_too_large"\} ' <<<"$metrics" | awk '{print $2}')
((${v:-0} >= 2)) || h_fail "body_too_large counted '${v:-}' times"
grep -q 'msg="unauthenticated request refused"' "$(h_logfile 1)" || h_fail "auth failure not logged"
for t in "$OP" "$RD"; do
    if grep -qF "${t:13}" "$(h_logfile 1)" "$(h_logfile 2)"; then
        h_fail "a token's secret is in a node log"
    fi
done

# ---- a token over its rate (20/s, burst 30): 429, others unaffected ---------
RL=$(h_ctl 1 token create --role read --name burst 2>/dev/null)
urls=()
for _ in $(seq 100); do urls+=("$BASE/v1/status"); done
codes=$(h_exec 2 curl -sS --max-time 30 --cacert "$CERT" -H "Authorization: Bearer $RL" \
    -o /dev/null -w '%{http_code}\n' "${urls[@]}")
n200=$(grep -c '^200$' <<<"$codes" || true)
n429=$(grep -c '^429$' <<<"$codes" || true)
((n200 >= 30 && n429 >= 1 && n200 + n429 == 100)) \
    || h_fail "100 quick requests with one token: $n200 x 200, $n429 x 429 (want >= 30 and >= 1)"
expect 200 "$(api 2 "$OP" GET /v1/status)" "another token while one is limited"
sleep 1.5
expect 200 "$(api 2 "$RL" GET /v1/status)" "the limited token after a pause"
h_log "rate limit: $n200 x 200, $n429 x 429 of 100 requests on one connection"

# ---- hostile clients -------------------------------------------------------------
# A body dripped in a byte every 2 s (never idle for timeout_s): closed once
# the request is 3 x timeout_s old, not held for the 20 s it would take.
# From node 1's own address, in the background, while the rest goes on.
drip() {
    local t0=$SECONDS
    h_exec 1 bash -c "(printf 'POST /v1/sheds HTTP/1.1\r\nHost: n\r\nAuthorization: Bearer %s\r\nContent-Length: 100\r\n\r\n' '$OP'; for i in \$(seq 10); do sleep 2; printf a; done) | timeout 40 openssl s_client -quiet -connect $ADDR:8443 -CAfile $CERT >/dev/null 2>&1" || true
    echo $((SECONDS - t0)) >"$H_TMP/drip.s"
}
drip &
DRIP=$!
# A TCP connection that never starts TLS: closed after timeout_s (3 s).
t0=$SECONDS
h_exec 2 timeout 15 bash -c "exec 3<>/dev/tcp/$ADDR/8443; cat <&3 >/dev/null" || true
((SECONDS - t0 <= 8)) || h_fail "an idle connection was held $((SECONDS - t0)) s (timeout_s 3)"
# Node 2's address holds its 4 connections: a 5th from there is refused,
# node 1's own address is still served.
holders=()
for _ in 1 2 3 4; do
    h_exec 2 bash -c "exec 3<>/dev/tcp/$ADDR/8443; sleep 6" &
    holders+=("$!")
done
sleep 0.5
if h_exec 2 curl -sS --max-time 3 --cacert "$CERT" -H "Authorization: Bearer $OP" \
    "$BASE/v1/status" >/dev/null 2>&1; then
    h_fail "a 5th connection from node 2 was served (per_client_connections 4)"
fi
expect 200 "$(api 1 "$OP" GET /v1/status)" "status from node 1 while node 2 is at its limit"
for p in "${holders[@]}"; do kill "$p" 2>/dev/null || true; wait "$p" 2>/dev/null || true; done
v=$(h_metrics 1 \
    | grep -E '^shed_http_rejected_total\{reason="connection_limit"\} ' | awk '{print $2}')
((${v:-0} >= 1)) || h_fail "refused connection not counted ('${v:-}')"
v=$(h_metrics 1 \
    | grep -E '^shed_http_rejected_total\{reason="rate_limited"\} ' | awk '{print $2}')
((${v:-0} == n429)) || h_fail "rate_limited counted '${v:-}', not $n429"
h_retry 10 api 2 "$OP" GET /v1/status >/dev/null 2>&1 || h_fail "node 2 not served again after its connections closed"
wait "$DRIP" || true
drip_s=$(cat "$H_TMP/drip.s")
((drip_s <= 15)) || h_fail "a dripped body held its connection ${drip_s} s (deadline 9 s)"
v=$(h_metrics 1 \
    | grep -E '^shed_http_rejected_total\{reason="timeout"\} ' | awk '{print $2}')
((${v:-0} >= 1)) || h_fail "the dripped body's close not counted ('${v:-}')"
h_log "a dripped body was cut after ${drip_s} s"

h_log "PASS: remote API over HTTPS: create/list/show/stop/start/delete, 401/403/400/413/405/409, limits"
