#!/usr/bin/env bash
# integration/test_tokens_cluster.sh: remote API tokens are cluster-wide and
# may expire (docs/security.md, "Remote API tokens"). Three nodes, each
# serving https://<its address>:8443 with one certificate for all three:
#   - a token file in the form from before cluster-wide tokens, put in node
#     1's data dir before its start, is loaded and published: node 3
#     accepts its token;
#   - a token minted on node 1 (`shedctl token create`) is accepted by
#     node 3 over HTTPS (200), curl run from node 2's namespace; node 3's
#     `token list` names it, with node1 as its origin;
#   - revoked on node 2 (neither its minter nor the node it is used on),
#     node 3 refuses it (401) within a few seconds, and so does node 1;
#   - a token created with --ttl 2s on node 1 works on node 3, then both
#     refuse it (401 "expired token"), counted as
#     shed_http_auth_failures_total{reason="expired"}; `token list` shows
#     its expiry;
#   - the node that minted nothing but revoked (node 2) restarts: the
#     revoked token stays refused everywhere;
#   - node 1 dies (SIGKILL): its second token still works on node 3; revoked
#     on node 2 while node 1 is dead, node 3 refuses it within seconds; node
#     1, restarted, learns the revocation, refuses the token and drops it
#     from its own list.
# Needs root; exits 77 (skip) otherwise.
set -euo pipefail
# shellcheck source-path=SCRIPTDIR
. "$(dirname "$0")/harness.sh"

command -v curl >/dev/null 2>&1 || h_skip "curl not installed (scripts/install-deps.sh)"
command -v openssl >/dev/null 2>&1 || h_skip "openssl not installed (scripts/install-deps.sh)"

h_init 3

# One certificate naming all three addresses.
CERT="$H_TMP/api-cert.pem"
KEYF="$H_TMP/api-key.pem"
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 1 \
    -subj "/CN=shed-node" \
    -addext "subjectAltName=IP:$(h_addr 1),IP:$(h_addr 2),IP:$(h_addr 3)" \
    -keyout "$KEYF" -out "$CERT" 2>/dev/null || h_fail "openssl could not make a certificate"
chmod 600 "$KEYF"
H_HTTP_CERT=$CERT
# Node 1's token file as an earlier version wrote it: "id role hash
# created_ms name", the hash BLAKE2b-256 of the secret.
LEGACY_SECRET=$(printf '5a%.0s' {1..32})
LEGACY_HASH=$(/usr/bin/python3 -c "import hashlib; print(hashlib.blake2b(bytes.fromhex('$LEGACY_SECRET'), digest_size=32).hexdigest())")
mkdir -p "$(h_datadir 1)"
(umask 077 && printf '# old\n01d70cea read %s 1700000000000 legacy\n' "$LEGACY_HASH" \
    >"$(h_datadir 1)/api_tokens")
LEGACY="sht_01d70cea_$LEGACY_SECRET"
for i in 1 2 3; do
    printf 'http:\n  listen: %s:8443\n  tls_cert: %s\n  tls_key: %s\n' \
        "$(h_addr "$i")" "$CERT" "$KEYF" >"$H_TMP/n$i/config.yaml"
    h_start_node "$i" --config "$H_TMP/n$i/config.yaml"
done
for i in 1 2 3; do h_wait_ready "$i" 30; done
h_wait_members 3 20 || h_fail "the 3 nodes did not converge"

# get NODE TOKEN: GET /v1/members on NODE, from node 2's namespace.
get() {
    H_API_BASE="https://$(h_addr "$1"):8443"
    h_api 2 "$2" GET /v1/members
}
# wait_status NODE TOKEN STATUS SECONDS: until GET answers STATUS.
wait_status() {
    local deadline=$((SECONDS + $4)) out
    while :; do
        out=$(get "$1" "$2") || true
        [[ "$(tail -n1 <<<"$out")" == "$3" ]] && return 0
        ((SECONDS < deadline)) || h_fail "node $1: expected $3 within $4 s, got: $out"
        sleep 0.2
    done
}

# ---- a token file from before: published ---------------------------------------------
wait_status 3 "$LEGACY" 200 10

# ---- minted on node 1, used on node 3 --------------------------------------------
TOK=$(h_ctl 1 token create --role read --name ci 2>/dev/null) || h_fail "token create"
ID=${TOK:4:8}
TOK2=$(h_ctl 1 token create --role operator --name ci2 2>/dev/null) || h_fail "token create"
ID2=${TOK2:4:8}
start=$(date +%s%3N)
wait_status 3 "$TOK" 200 10
h_log "node 1's token accepted by node 3 after $(($(date +%s%3N) - start)) ms"
out=$(h_ctl 3 token list --json) || h_fail "token list on node 3"
origin=$(/usr/bin/python3 -c "import json,sys; print([t['origin'] for t in json.load(sys.stdin) if t['id']=='$ID'][0])" <<<"$out") \
    || h_fail "node 3 does not list token $ID: $out"
h_assert_eq node1 "$origin" "origin of the token on node 3"
# Sanity: a token nobody minted is refused by node 3.
h_expect 401 "$(get 3 "sht_00000000_$(printf '0%.0s' {1..64})")" "made-up token on node 3"

# ---- revoked on node 2, refused by node 3 and node 1 --------------------------------
out=$(h_ctl 2 token revoke "$ID" 2>&1) || h_fail "revoke on node 2: $out"
start=$(date +%s%3N)
wait_status 3 "$TOK" 401 5
h_log "revoke on node 2 reached node 3 after $(($(date +%s%3N) - start)) ms"
wait_status 1 "$TOK" 401 5
h_expect 401 "$(get 2 "$TOK")" "revoked token on node 2"

# ---- expiry -----------------------------------------------------------------------------
EXP=$(h_ctl 1 token create --role read --name short --ttl 3s 2>/dev/null) \
    || h_fail "token create --ttl"
wait_status 3 "$EXP" 200 5
out=$(h_ctl 3 token list) || h_fail "token list"
grep -E "^${EXP:4:8} .* node1 " <<<"$out" | grep -qv ' never ' \
    || h_fail "token list on node 3 does not show the expiry: $out"
before=$(h_metrics 3 | awk '/^shed_http_auth_failures_total\{reason="expired"\} /{print $2}')
[[ -n "$before" ]] || h_fail "node 3's /metrics has no expired reason"
wait_status 3 "$EXP" 401 6
out=$(get 3 "$EXP")
h_expect 401 "$out" "expired token on node 3"
grep -q 'expired token' <<<"$out" || h_fail "expired token: unclear answer: $out"
h_expect 401 "$(get 1 "$EXP")" "expired token on node 1"
after=$(h_metrics 3 | awk '/^shed_http_auth_failures_total\{reason="expired"\} /{print $2}')
((after >= before + 2)) || h_fail "expired refusals not counted on node 3: $before -> $after"
if h_ctl 1 token create --role read --ttl 5x >/dev/null 2>&1; then
    h_fail "token create --ttl 5x was accepted"
fi

# ---- a restarted node keeps refusing what it revoked ------------------------------------
h_stop_node 2
h_start_node 2 --config "$H_TMP/n2/config.yaml"
h_wait_ready 2 30
h_wait_members 3 20 || h_fail "node 2 did not rejoin"
h_expect 401 "$(get 2 "$TOK")" "revoked token on node 2 after its restart"
h_expect 401 "$(get 3 "$TOK")" "revoked token on node 3 after node 2's restart"


# ---- a revoke while the minting node is dead ------------------------------------------
wait_status 3 "$TOK2" 200 5
h_kill 1
h_expect 200 "$(get 3 "$TOK2")" "node 1's token on node 3 with node 1 dead"
out=$(h_ctl 2 token revoke "$ID2" 2>&1) || h_fail "revoke on node 2 with node 1 dead: $out"
start=$(date +%s%3N)
wait_status 3 "$TOK2" 401 5
h_log "revoke with the minter dead reached node 3 after $(($(date +%s%3N) - start)) ms"
h_start_node 1 --config "$H_TMP/n1/config.yaml" --join "$(h_hostport 2)"
h_wait_ready 1 30
wait_status 1 "$TOK2" 401 10
out=$(h_ctl 1 token list) || h_fail "token list on node 1"
if grep -q "^$ID2 " <<<"$out"; then h_fail "node 1 still lists its revoked token: $out"; fi

h_log "PASS"
