#!/usr/bin/env bash
# integration/test_http_limits.sh: the remote HTTP API's limits under load
# (docs/api.md, "Limits" and "Events"), one real node serving HTTPS on
# 198.18.0.11:8443 in its namespace, driven by integration/tools/http_flood.py:
#   - streams: with http.max_streams_per_token 1, a client that closes its
#     GET /v1/events stream and at once opens the next gets 200 each time
#     (the closed stream's slot is free as soon as its connection is gone);
#   - flood: 2,400 TCP connections from 6 addresses (added to the
#     namespace's lo), none sending a request and every third stalling
#     half-way through a TLS ClientHello: those over
#     http.per_client_connections (8) are closed at once and counted in
#     shed_http_rejected_total{reason="connection_limit"}; a client from
#     another address is served promptly meanwhile; the 48 held ones are cut
#     at http.timeout_s (3 s) and counted (reason="timeout");
#   - crowd: 10 more addresses each holding its 8 connections (80, over
#     http.max_connections 64): the longest idle ones are closed as others
#     come (shed_http_rejected_total{reason="evicted"}), so the client from
#     another address is still served at once, not after http.timeout_s;
#   - the node still answers afterwards, with no connection left open.
# Needs root; exits 77 (skip) otherwise.
set -euo pipefail
# shellcheck source-path=SCRIPTDIR
. "$(dirname "$0")/harness.sh"

command -v openssl >/dev/null 2>&1 || h_skip "openssl not installed (scripts/install-deps.sh)"
command -v curl >/dev/null 2>&1 || h_skip "curl not installed (scripts/install-deps.sh)"
PY=/usr/bin/python3
FLOOD="$H_REPO/integration/tools/http_flood.py"
PER_CLIENT=8
TIMEOUT_S=3
PER_ADDR=400
ATTACKERS=(198.18.1.1 198.18.1.2 198.18.1.3 198.18.1.4 198.18.1.5 198.18.1.6)
CROWD=(198.18.3.1 198.18.3.2 198.18.3.3 198.18.3.4 198.18.3.5 198.18.3.6 198.18.3.7 198.18.3.8
       198.18.3.9 198.18.3.10)
GOOD=198.18.2.1

h_init 1
ADDR=$(h_addr 1)
h_http_cert "$ADDR"
cat >"$H_TMP/n1/config.yaml" <<YAML
network:
  enabled: false
http:
  listen: $ADDR:8443
  tls_cert: $H_HTTP_CERT
  tls_key: $H_HTTP_KEY
  max_connections: 64
  per_client_connections: $PER_CLIENT
  timeout_s: $TIMEOUT_S
  max_streams_per_token: 1
  rate_per_token: 0
YAML
for a in "${ATTACKERS[@]}" "${CROWD[@]}" "$GOOD"; do h_exec 1 ip addr add "$a/32" dev lo; done
h_start_node 1 --config "$H_TMP/n1/config.yaml"
h_wait_ready 1 30
TOKEN=$(h_ctl 1 token create --role read --name limits 2>/dev/null)
metric() {
    h_metrics 1 | awk -v k="$1" '$1 == k {print $2}'
}

# ---- a stream closed and at once opened again ------------------------------------
out=$(h_exec 1 "$PY" "$FLOOD" streams "$ADDR" 8443 "$H_HTTP_CERT" "$TOKEN" 10) \
    || h_fail "streams: $out"
h_log "streams: $out"
codes=$("$PY" -c 'import json,sys; print(" ".join(map(str, json.loads(sys.argv[1])["codes"])))' "$out")
h_assert_eq "200 200 200 200 200 200 200 200 200 200" "$codes" \
    "a stream reopened at once after its predecessor closed (max_streams_per_token 1)"

# ---- thousands of idle connections -----------------------------------------------
ref0=$(metric 'shed_http_rejected_total{reason="connection_limit"}')
to0=$(metric 'shed_http_rejected_total{reason="timeout"}')
t0=$SECONDS
out=$(h_exec 1 "$PY" "$FLOOD" flood "$ADDR" 8443 "$H_HTTP_CERT" "$TOKEN" "$PER_ADDR" 1 "$GOOD" \
    "${ATTACKERS[@]}") || h_fail "flood: $out"
h_log "flood ($((SECONDS - t0)) s): $out"
ref1=$(metric 'shed_http_rejected_total{reason="connection_limit"}')
to1=$(metric 'shed_http_rejected_total{reason="timeout"}')
check() { "$PY" -c "import json,sys; d=json.loads(sys.argv[1]); sys.exit(0 if ($2) else 1)" "$out" \
    || h_fail "flood: $1: $out"; }
check "every connection reached the node" "d['connects'] == $PER_ADDR * ${#ATTACKERS[@]} and d['refused_at_connect'] == 0"
check "each address held exactly per_client_connections" \
    "all(p['held'] == $PER_CLIENT and p['refused'] == $PER_ADDR - $PER_CLIENT for p in d['per_addr'].values()) and len(d['per_addr']) == ${#ATTACKERS[@]}"
check "stalled TLS handshakes among the held ones" "all(p['held_tls'] >= 1 for p in d['per_addr'].values())"
check "the good client served, each request under 1.5 s" "all(g['code'] == 200 and g['ms'] < 1500 for g in d['good'])"
check "the held connections cut at timeout_s" \
    "d['still_open'] == 0 and d['held_cut'] == $PER_CLIENT * ${#ATTACKERS[@]} and d['held_for_min'] >= $TIMEOUT_S - 0.2 and d['held_for_max'] <= $TIMEOUT_S + 2"
refused=$(( (PER_ADDR - PER_CLIENT) * ${#ATTACKERS[@]} ))
h_assert_eq "$refused" "$((ref1 - ref0))" "connections counted as refused (connection_limit)"
h_assert_eq "$((PER_CLIENT * ${#ATTACKERS[@]}))" "$((to1 - to0))" "held connections counted as cut (timeout)"

# ---- more addresses than http.max_connections has room for ----------------------
ev0=$(metric 'shed_http_rejected_total{reason="evicted"}')
ref0=$(metric 'shed_http_rejected_total{reason="connection_limit"}')
out=$(h_exec 1 "$PY" "$FLOOD" flood "$ADDR" 8443 "$H_HTTP_CERT" "$TOKEN" "$PER_CLIENT" 1 "$GOOD" \
    "${CROWD[@]}") || h_fail "crowd: $out"
h_log "crowd: $out"
ev1=$(metric 'shed_http_rejected_total{reason="evicted"}')
ref1=$(metric 'shed_http_rejected_total{reason="connection_limit"}')
check "every connection reached the node" "d['connects'] == $PER_CLIENT * ${#CROWD[@]}"
# Without the eviction the good client waits in the listen queue until
# http.timeout_s cuts the crowd.
check "the good client served at once while the slots were full" \
    "all(g['code'] == 200 and g['ms'] < 1500 for g in d['good'])"
check "the excess closed early" \
    "sum(p['refused'] for p in d['per_addr'].values()) >= $PER_CLIENT * ${#CROWD[@]} - 64 and d['still_open'] == 0"
# A burst libmicrohttpd accepts at once is refused over the limit at
# accept (connection_limit); the last slot taken cuts the longest idle.
((ev1 - ev0 >= 1)) || h_fail "no eviction counted ($ev0 -> $ev1)"
((ev1 - ev0 + ref1 - ref0 >= PER_CLIENT * ${#CROWD[@]} - 64)) \
    || h_fail "closed early and counted: $((ev1 - ev0)) evicted + $((ref1 - ref0)) refused, want >= $((PER_CLIENT * ${#CROWD[@]} - 64))"

h_alive 1 || h_fail "the node died"
out=$(h_exec 1 curl -sS --max-time 5 --cacert "$H_HTTP_CERT" -H "Authorization: Bearer $TOKEN" \
    -w '\n%{http_code}' "https://$ADDR:8443/v1/status")
h_expect 200 "$out" "status after the flood"
h_assert_eq 0 "$(metric shed_http_connections)" "connections open after the flood"

h_log "PASS: stream slots free at close; $refused idle connections refused and counted, held ones cut at ${TIMEOUT_S} s, others served"
