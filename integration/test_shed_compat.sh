#!/usr/bin/env bash
# integration/test_shed_compat.sh: Shed's own server API served by a node
# (docs/api.md, "Shed compatibility"). Written from Shed's published API
# documentation (its HTTP API reference and docs/spec.md: field names,
# error codes, statuses), not from our types: the client here speaks only
# Shed's JSON, with curl, over HTTPS with an operator token.
#   - GET /api/info without a token (Shed's bootstrap endpoint): name,
#     version, ssh_port, http_port;
#   - POST /api/sheds {"name": ...} -> 201, status "running", placed by the
#     scheduler (no node named);
#   - GET /api/sheds lists the whole cluster: also a shed made on node 2
#     with shedctl;
#   - GET /api/sheds/{name}: Shed's fields (created_at RFC 3339, cpus and
#     memory_mb integers);
#   - start of a running shed: 409 SHED_ALREADY_RUNNING; stop -> 200
#     "stopped"; stop again 409 SHED_ALREADY_STOPPED; start -> "running";
#   - a taken name: 409 SHED_ALREADY_EXISTS; a bad name 400
#     INVALID_SHED_NAME; DELETE -> 204, then 404 SHED_NOT_FOUND;
#   - no token 401, a read token refused a create (403), in Shed's error
#     shape {"error": {"code", "message"}}.
#   - Shed's CLI itself, played by integration/shed_cli_play.py (written
#     from Shed's documents and its CLI's Go code, not from our types: the
#     requests `shed` sends, in its order, with its headers): today's
#     SSH-first `shed server add` falling back to HTTP over a pinned TLS
#     certificate (no SSH server here), the first CLI's HTTP-first add with
#     GET /api/ssh-host-key and its known_hosts line, `shed create` with
#     the progress stream (Accept: text/event-stream: progress events as
#     the phases come, then complete; a taken name's error event), list,
#     stop, start, and delete with Accept: text/event-stream (204); a
#     stream client that hangs up mid-create: the shed is still made.
# Needs root; exits 77 (skip) otherwise.
set -euo pipefail
# shellcheck source-path=SCRIPTDIR
. "$(dirname "$0")/harness.sh"

command -v curl >/dev/null 2>&1 || h_skip "curl not installed (scripts/install-deps.sh)"

h_init 2
h_sheds_init

ADDR=$(h_addr 1)
h_http_cert "$ADDR"
H_API_BASE="https://$ADDR:8443"
h_sheds_config 1 "http:
  listen: $ADDR:8443
  tls_cert: $H_HTTP_CERT
  tls_key: $H_HTTP_KEY" >/dev/null
h_sheds_config 2 >/dev/null
h_start_node 1 --config "$H_TMP/n1/config.yaml"
h_start_node 2 --config "$H_TMP/n2/config.yaml"
for i in 1 2; do h_wait_ready "$i" 30; done
h_wait_members 2 20 || h_fail "the 2 nodes did not converge"

OP=$(h_ctl 1 token create --role operator --name shed-cli 2>/dev/null)
RD=$(h_ctl 1 token create --role read --name shed-ro 2>/dev/null)

# code OUTPUT: Shed's error code of an h_api answer.
code() { h_jget "$1" 'd["error"]["code"]'; }
# Shed's error shape: an object "error" with string "code" and "message".
shape() {
    h_jget "$1" 'isinstance(d["error"]["code"], str) and isinstance(d["error"]["message"], str) and len(d["error"]["message"]) > 0' \
        | grep -qx True || h_fail "not Shed's error shape: $1"
}

# ---- server info (no token, as Shed serves it) --------------------------------
out=$(h_api 2 "" GET /api/info)
h_expect 200 "$out" "GET /api/info"
h_assert_eq "node1 8443 int" "$(h_jget "$out" 'd["name"], d["http_port"], type(d["ssh_port"]).__name__' | tr -d "(),'")" "info"
[[ -n "$(h_jget "$out" 'd["version"]')" ]] || h_fail "info has no version: $out"

# ---- a shed made elsewhere with shedctl ---------------------------------------
h_ctl 2 create viactl --node node2 >/dev/null || h_fail "shedctl create viactl"

# ---- create, placed by the scheduler -------------------------------------------
out=$(h_api 2 "$OP" POST /api/sheds '{"name": "codelens", "repo": null, "cpus": 1, "memory_mb": 256}')
h_expect 201 "$out" "POST /api/sheds"
h_assert_eq "codelens running" "$(h_jget "$out" 'd["name"], d["status"]' | tr -d "(),'")" "created shed"
placed=$(h_jget "$out" 'd["node"]')
[[ "$placed" == node1 || "$placed" == node2 ]] || h_fail "placed on '$placed'"
h_log "the scheduler placed codelens on $placed"

# ---- list: the whole cluster -------------------------------------------------------
out=$(h_api 2 "$OP" GET /api/sheds)
h_expect 200 "$out" "GET /api/sheds"
h_assert_eq "codelens viactl" "$(h_jget "$out" '" ".join(sorted(s["name"] for s in d["sheds"]))')" "listed sheds"
h_assert_eq "running running" "$(h_jget "$out" '" ".join(s["status"] for s in d["sheds"])')" "listed status"
expect_fields='all(isinstance(s["name"], str) and s["status"] in ("running","stopped","starting","error") for s in d["sheds"])'
h_assert_eq True "$(h_jget "$out" "$expect_fields")" "list fields"
h_expect 200 "$(h_api 2 "$RD" GET /api/sheds)" "list with a read token"

# ---- get ---------------------------------------------------------------------------
out=$(h_api 2 "$OP" GET /api/sheds/codelens)
h_expect 200 "$out" "GET /api/sheds/codelens"
h_assert_eq running "$(h_jget "$out" 'd["status"]')" "status"
created=$(h_jget "$out" 'd["created_at"]')
[[ "$created" =~ ^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}Z$ ]] || h_fail "created_at '$created'"
h_assert_eq "1 256" "$(h_jget "$out" 'd["cpus"], d["memory_mb"]' | tr -d "(),'")" "cpus memory_mb"
out=$(h_api 2 "$OP" GET /api/sheds/viactl)
h_expect 200 "$out" "GET /api/sheds/viactl (made with shedctl on node2)"

# ---- start / stop -----------------------------------------------------------------
out=$(h_api 2 "$OP" POST /api/sheds/codelens/start)
h_expect 409 "$out" "start of a running shed"
h_assert_eq SHED_ALREADY_RUNNING "$(code "$out")" "code"
shape "$out"
out=$(h_api 2 "$OP" POST /api/sheds/codelens/stop)
h_expect 200 "$out" "stop"
h_assert_eq stopped "$(h_jget "$out" 'd["status"]')" "status after stop"
out=$(h_api 2 "$OP" POST /api/sheds/codelens/stop)
h_expect 409 "$out" "stop of a stopped shed"
h_assert_eq SHED_ALREADY_STOPPED "$(code "$out")" "code"
out=$(h_api 2 "$OP" POST /api/sheds/codelens/start)
h_expect 200 "$out" "start"
h_assert_eq running "$(h_jget "$out" 'd["status"]')" "status after start"
h_ctl 1 list | grep -q '^codelens .*running' || h_fail "shedctl does not see codelens running"

# ---- conflicts and bad input -------------------------------------------------------
out=$(h_api 2 "$OP" POST /api/sheds '{"name": "codelens"}')
h_expect 409 "$out" "create of a taken name"
h_assert_eq SHED_ALREADY_EXISTS "$(code "$out")" "code"
shape "$out"
out=$(h_api 2 "$OP" POST /api/sheds '{"name": "viactl"}')
h_expect 409 "$out" "create of a name taken on another node"
h_assert_eq SHED_ALREADY_EXISTS "$(code "$out")" "code"
out=$(h_api 2 "$OP" POST /api/sheds '{"name": "bad_name!"}')
h_expect 400 "$out" "invalid name"
h_assert_eq INVALID_SHED_NAME "$(code "$out")" "code"
h_expect 400 "$(h_api 2 "$OP" POST /api/sheds '{"name": "x",')" "malformed JSON"
h_expect 400 "$(h_api 2 "$OP" POST /api/sheds '{"name": "ok1", "cpus": "two"}')" "cpus as a string"

# ---- auth ------------------------------------------------------------------------
out=$(h_api 2 "" GET /api/sheds)
h_expect 401 "$out" "no token"
h_assert_eq UNAUTHORIZED "$(code "$out")" "code"
shape "$out"
out=$(h_api 2 "$RD" POST /api/sheds '{"name": "nope"}')
h_expect 403 "$out" "create with a read token"
h_assert_eq FORBIDDEN "$(code "$out")" "code"
h_expect 403 "$(h_api 2 "$RD" DELETE /api/sheds/codelens)" "delete with a read token"

# ---- routes Shed has and the cluster does not serve; wrong methods ------------------
h_expect 404 "$(h_api 2 "$OP" GET /api/sessions)" "sessions (no SSH here)"
out=$(h_api 2 "$OP" PUT /api/sheds)
h_expect 405 "$out" "PUT /api/sheds"
shape "$out"

# ---- Shed's CLI, step by step (shed_cli_play.py) ---------------------------------------
play=$(h_exec 2 /usr/bin/python3 "$(dirname "$0")/shed_cli_play.py" "$ADDR" 8443 "$OP" played 2>&1) \
    || h_fail "Shed's CLI flows: $play"
h_log "Shed's CLI, played: $(tr '\n' '|' <<<"$play")"
grep -qx "add-ssh-first node1 sha256:.* ssh_port=0" <<<"$play" || h_fail "server add (SSH-first): $play"
grep -qx "add-http-first node1 ssh-ed25519" <<<"$play" || h_fail "server add (HTTP-first): $play"
# the phases, in order, as shedctl prints them, then the shed
phases=$(sed -n 's/^progress //p' <<<"$play" | sed -E 's/^(name reserved|placed on node[12]|node[12]: address|node[12]: root file system|node[12]: started).*/\1/; s/node[12]/N/g' | tr '\n' '|')
h_assert_eq "name reserved|placed on N|N: address|N: root file system|N: started|" "$phases" "progress events"
grep -qx "complete played running progress=5" <<<"$play" || h_fail "create stream: $play"
grep -qx "create-taken SHED_ALREADY_EXISTS: .*" <<<"$play" || h_fail "taken name's error event: $play"
grep -qx "list codelens:running played:running viactl:running" <<<"$play" || h_fail "list: $play"
grep -qx "stop stopped" <<<"$play" && grep -qx "start running" <<<"$play" || h_fail "stop/start: $play"
grep -qx "delete 204" <<<"$play" || h_fail "delete: $play"
h_ctl 1 list | grep -q '^played ' && h_fail "played still listed after its delete"
# a stream client that leaves mid-create: the create goes on without it
h_exec 2 curl -sS --max-time 0.2 --cacert "$H_HTTP_CERT" -H "Authorization: Bearer $OP" \
    -H 'Accept: text/event-stream' -H 'Content-Type: application/json' \
    --data-binary '{"name": "leaver"}' "$H_API_BASE/api/sheds" >/dev/null 2>&1 || true
for _ in $(seq 50); do
    out=$(h_api 2 "$OP" GET /api/sheds/leaver)
    [[ "$(tail -n1 <<<"$out")" == 200 && "$(h_jget "$out" 'd["status"]')" == running ]] && break
    sleep 0.2
done
h_assert_eq running "$(h_jget "$out" 'd["status"]')" "the left stream's shed"
h_expect 204 "$(h_api 2 "$OP" DELETE /api/sheds/leaver)" "delete leaver"

# ---- delete -------------------------------------------------------------------------
out=$(h_api 2 "$OP" DELETE /api/sheds/codelens)
h_expect 204 "$out" "delete"
h_assert_eq "" "$(head -n -1 <<<"$out")" "204 body"
out=$(h_api 2 "$OP" GET /api/sheds/codelens)
h_expect 404 "$out" "get after delete"
h_assert_eq SHED_NOT_FOUND "$(code "$out")" "code"
shape "$out"
out=$(h_api 2 "$OP" DELETE /api/sheds/codelens)
h_expect 404 "$out" "delete of a deleted shed"
h_assert_eq SHED_NOT_FOUND "$(code "$out")" "code"
out=$(h_api 2 "$OP" POST /api/sheds/nosuch/start)
h_expect 404 "$out" "start of a missing shed"
h_assert_eq SHED_NOT_FOUND "$(code "$out")" "code"
h_expect 204 "$(h_api 2 "$OP" DELETE /api/sheds/viactl)" "delete of the shedctl shed"
out=$(h_api 2 "$OP" GET /api/sheds)
h_assert_eq 0 "$(h_jget "$out" 'len(d["sheds"])')" "sheds left"

h_log "Shed's API: info, create, list, get, start, stop, delete and its error codes OK"
