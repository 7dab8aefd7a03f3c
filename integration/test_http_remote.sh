#!/usr/bin/env bash
# integration/test_http_remote.sh: shedctl in remote mode (docs/cli.md,
# "Remote mode") and the remote API's streams (docs/api.md): node 1 serves
# https://198.18.0.11:8443 with a self-signed certificate; from node 2's
# namespace:
#   - `shedctl --addr https://... --token-file F --ca-cert C` runs status,
#     members, list, create, show, stop, start, services, events --count 1
#     and delete, through POST /v1/api (the same requests as over ipc);
#   - a read token is refused a create with one clear line and exit 1, the
#     token commands are local-only, a missing CA file, a wrong CA, an
#     unreachable node and a token file others can read each give one line
#     and a non-zero exit;
#   - GET /v1/sheds carries X-Shed-Index; ?index=N&wait=7s (longer than http.timeout_s) times out when
#     nothing changes, and returns soon after a shed is created from
#     another client (node 1's ipc API) with a higher index;
#   - GET /v1/events?prefix=shed. (server-sent events) receives the shed's
#     record event, /metrics counts the stream, and a client that goes
#     away is noticed within a second or two;
#   - the JSON routes of logs, leave and force-leave: a read token gets a
#     shed's log lines (a line of bytes that are not UTF-8 as U+FFFD in
#     valid JSON), follows them (GET .../logs?follow=true: the history
#     record, then a new line; counted as a stream, its end noticed), and
#     is refused POST /v1/cluster/leave (403); after kill -9 of node 2
#     POST /v1/members/node2/force-leave (refused while node 2 was alive)
#     drops it from node 1's member list.
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
CERT="$H_TMP/api-cert.pem"
KEYF="$H_TMP/api-key.pem"
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 1 \
    -subj "/CN=node1" -addext "subjectAltName=IP:$ADDR" \
    -keyout "$KEYF" -out "$CERT" 2>/dev/null || h_fail "openssl could not make a certificate"
chmod 600 "$KEYF"
OTHER="$H_TMP/other-cert.pem"
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 1 \
    -subj "/CN=other" -keyout "$H_TMP/other-key.pem" -out "$OTHER" 2>/dev/null \
    || h_fail "openssl could not make a second certificate"

h_sheds_config 1 "http:
  listen: $ADDR:8443
  tls_cert: $CERT
  tls_key: $KEYF
  timeout_s: 5
  max_streams_per_token: 2" >/dev/null
# Node 2's sheds run a process that writes a line of bytes that are not
# UTF-8, then a line a second (the logs routes read them).
cat >"$H_TMP/talker.sh" <<'EOF'
printf 'bad \377\376 end\n'
i=0
while :; do i=$((i + 1)); echo "tick-$i"; sleep 1; done
EOF
printf 'processes:\n  - {name: talker, cmd: "sh %s", restart: never}\n' "$H_TMP/talker.sh" \
    >"$H_TMP/agent.yaml"
h_sheds_config 2 "  agent_config: $H_TMP/agent.yaml" >/dev/null
h_start_node 1 --config "$H_TMP/n1/config.yaml"
h_start_node 2 --config "$H_TMP/n2/config.yaml"
for i in 1 2; do h_wait_ready "$i" 30; done
h_wait_members 2 20 || h_fail "the 2 nodes did not converge"

OPF="$H_TMP/op.token"
RDF="$H_TMP/rd.token"
(umask 077 && h_ctl 1 token create --role operator --name remote >"$OPF" 2>/dev/null) \
    || h_fail "token create"
(umask 077 && h_ctl 1 token create --role read --name remote-read >"$RDF" 2>/dev/null) \
    || h_fail "token create (read)"
OP=$(cat "$OPF")

# rctl TOKENFILE ARGS...: shedctl from node 2's namespace against node 1's
# HTTPS API (no ipc socket of node 1 is reachable from there).
rctl() {
    local f=$1
    shift
    h_exec 2 env -u SHED_ADDR -u SHED_TOKEN "$H_CTL_BIN" --addr "$BASE" --token-file "$f" \
        --ca-cert "$CERT" "$@"
}

# ---- every command of the brief, remotely ------------------------------------
out=$(rctl "$OPF" status --json) || h_fail "remote status: $out"
h_assert_eq node1 "$(/usr/bin/python3 -c 'import json,sys; print(json.load(sys.stdin)["name"])' <<<"$out")" "remote status name"
out=$(rctl "$OPF" members) || h_fail "remote members: $out"
[[ $(grep -c 'alive' <<<"$out") -ge 2 ]] || h_fail "remote members: $out"
out=$(rctl "$OPF" create rweb --node node2 --cpus 1 --memory 128M --wait 0 2>&1) \
    || h_fail "remote create: $out"
out=$(rctl "$OPF" list) || h_fail "remote list: $out"
grep -q '^rweb .*node2.*running' <<<"$out" || h_fail "remote list does not show rweb running: $out"
h_ctl 2 list | grep -q '^rweb .*running' || h_fail "the local API does not see rweb"
out=$(rctl "$OPF" show rweb --json) || h_fail "remote show: $out"
grep -q '"node": *"node2"' <<<"$out" || h_fail "remote show: $out"
rctl "$OPF" stop rweb >/dev/null || h_fail "remote stop"
rctl "$OPF" show rweb | grep -q 'stopped' || h_fail "rweb not stopped: $(rctl "$OPF" show rweb)"
rctl "$OPF" start rweb >/dev/null || h_fail "remote start"
rctl "$OPF" show rweb | grep -q 'running' || h_fail "rweb not running again"
rctl "$OPF" services --all >/dev/null || h_fail "remote services"
# The commands that follow the bus read GET /v1/events?raw=true (the
# agents' payloads as bytes): provision, top, status NAME, logs --follow.
out=$(rctl "$OPF" provision rweb --step 'echo remote-hello' 2>&1) || h_fail "remote provision: $out"
grep -q 'remote-hello' <<<"$out" || h_fail "remote provision output: $out"
h_retry 20 bash -c "ip netns exec $(h_ns 2) env -u SHED_ADDR $H_CTL_BIN --addr $BASE --token-file $OPF --ca-cert $CERT top --once 2>&1 | grep -q rweb" \
    || h_fail "remote top --once does not show rweb: $(rctl "$OPF" top --once 2>&1)"
out=$(rctl "$OPF" status rweb 2>&1) || h_fail "remote status rweb: $out"
grep -qi 'cpu' <<<"$out" || h_fail "remote status rweb: $out"
out=$(rctl "$OPF" events --count 1 --timeout 20s --snapshot member. 2>&1) \
    || h_fail "remote events --count 1"
grep -q "did not parse" <<<"$out" && h_fail "remote events: $out"
grep -q 'member\.node' <<<"$out" || h_fail "remote events: $out"
rctl "$OPF" events --json --count 1 --timeout 20s --snapshot member. >"$H_TMP/ev.json" \
    2>"$H_TMP/ev.err" || h_fail "remote events --json: $(cat "$H_TMP/ev.err")"
out=$(cat "$H_TMP/ev.json")
/usr/bin/python3 -c 'import json,sys; d=json.loads(sys.stdin.read()); assert d["topic"].startswith("member."), d' <<<"$out" \
    || h_fail "remote events --json is not the event's JSON: $out"

# ---- refusals: one clear line, non-zero exit -----------------------------------
if out=$(rctl "$RDF" create nope --node node2 2>&1); then
    h_fail "a read token created a shed: $out"
fi
grep -q 'forbidden.*needs operator' <<<"$out" || h_fail "unclear refusal of a read token: $out"
[[ $(wc -l <<<"$out") == 1 ]] || h_fail "more than one line for a refusal: $out"
rctl "$RDF" list >/dev/null || h_fail "a read token cannot list"
if out=$(rctl "$OPF" token list 2>&1); then h_fail "token list worked remotely: $out"; fi
grep -q 'local-only' <<<"$out" || h_fail "token list refusal unclear: $out"
if out=$(h_exec 2 "$H_CTL_BIN" --addr "$BASE" --token-file "$OPF" status 2>&1); then
    h_fail "a self-signed node was trusted without --ca-cert: $out"
fi
grep -q 'TLS.*--ca-cert' <<<"$out" || h_fail "TLS failure unclear: $out"
if out=$(h_exec 2 "$H_CTL_BIN" --addr "$BASE" --token-file "$OPF" --ca-cert "$OTHER" status 2>&1); then
    h_fail "a wrong CA was accepted: $out"
fi
grep -q 'TLS' <<<"$out" || h_fail "wrong-CA failure unclear: $out"
if out=$(h_exec 2 "$H_CTL_BIN" --addr "https://$ADDR:9" --token-file "$OPF" --ca-cert "$CERT" status 2>&1); then
    h_fail "an unreachable node answered: $out"
fi
grep -q 'cannot connect' <<<"$out" || h_fail "unreachable node unclear: $out"
bad="$H_TMP/bad.token"
printf 'sht_0000000a_%s\n' "$(printf '0%.0s' {1..64})" >"$bad"
chmod 600 "$bad"
if out=$(rctl "$bad" status 2>&1); then h_fail "an unknown token was served: $out"; fi
grep -q '401 unauthorized' <<<"$out" || h_fail "401 unclear: $out"
chmod 644 "$bad"
if out=$(rctl "$bad" status 2>&1); then h_fail "a readable token file was used"; fi
grep -q 'readable by others' <<<"$out" || h_fail "readable token file unclear: $out"
if out=$(h_exec 2 env -u SHED_TOKEN "$H_CTL_BIN" --addr "$BASE" --ca-cert "$CERT" status 2>&1); then
    h_fail "no token: $out"
fi
grep -q 'needs a token' <<<"$out" || h_fail "missing token unclear: $out"

# ---- blocking queries ------------------------------------------------------------
# hdr PATH: the X-Shed-Index of GET PATH from node 2's namespace
hdr() {
    h_exec 2 curl -sS --max-time 40 --cacert "$CERT" -H "Authorization: Bearer $OP" -D - \
        -o /dev/null "$BASE$1" | tr -d '\r' | awk -F': ' 'tolower($1)=="x-shed-index"{print $2}'
}
idx=$(hdr /v1/sheds)
[[ "$idx" =~ ^[0-9]+$ ]] || h_fail "no X-Shed-Index on /v1/sheds: '$idx'"
for p in /v1/members '/v1/services?all=true'; do
    [[ "$(hdr "$p")" =~ ^[0-9]+$ ]] || h_fail "no X-Shed-Index on $p"
done
t0=$(date +%s%N)
idx2=$(hdr "/v1/sheds?index=$idx&wait=7s")
ms=$((($(date +%s%N) - t0) / 1000000))
((ms >= 6800 && ms < 12000)) || h_fail "a blocking query with nothing changing took $ms ms (wait 7s, longer than http.timeout_s 5)"
h_assert_eq "$idx" "$idx2" "index after a quiet wait"
# A waiting query answers soon after another client creates a shed.
hdr "/v1/sheds?index=$idx&wait=30s" >"$H_TMP/watch.idx" &
WATCH=$!
sleep 1
t0=$(date +%s%N)
h_ctl 1 create rwatch --node node1 --cpus 1 --memory 64M --wait 0 >/dev/null 2>&1 \
    || h_fail "local create for the blocking query"
wait "$WATCH" || h_fail "the blocking query failed"
ms=$((($(date +%s%N) - t0) / 1000000))
idx3=$(cat "$H_TMP/watch.idx")
((idx3 > idx)) || h_fail "blocking query answered index $idx3, not > $idx"
((ms < 10000)) || h_fail "blocking query answered $ms ms after the create"
h_log "blocking query: quiet wait 7 s held, woke $ms ms after a create (index $idx -> $idx3)"

# ---- server-sent events ----------------------------------------------------------
# curl's own pid (not the backgrounded shell's), so it can be made to go away.
h_exec 2 bash -c 'echo $$ >"$1"; exec curl -sS -N --max-time 60 --cacert "$2" \
    -H "Authorization: Bearer $3" "$4/v1/events?prefix=shed."' _ "$H_TMP/sse.pid" "$CERT" "$OP" \
    "$BASE" >"$H_TMP/sse.out" 2>&1 &
SSE=$!
h_retry 10 grep -q '^: subscribed' "$H_TMP/sse.out" || h_fail "no SSE stream: $(cat "$H_TMP/sse.out")"
v=$(h_metrics 1 | awk '/^shed_http_event_streams /{print $2}')
h_assert_eq 1 "${v:-}" "shed_http_event_streams while one is open"
# http.max_streams_per_token 2: a third stream of the same token is refused
h_exec 2 bash -c 'echo $$ >"$1"; exec curl -sS -N --max-time 60 --cacert "$2" \
    -H "Authorization: Bearer $3" "$4/v1/events?prefix=y."' _ "$H_TMP/sse2.pid" "$CERT" "$OP" \
    "$BASE" >/dev/null 2>&1 &
SSE2=$!
for _ in $(seq 50); do
    [[ "$(h_metrics 1 | awk '/^shed_http_event_streams /{print $2}')" == 2 ]] && break
    sleep 0.1
done
out=$(h_exec 2 curl -sS --max-time 10 --cacert "$CERT" -H "Authorization: Bearer $OP" \
    -w '\n%{http_code}' "$BASE/v1/events?prefix=x.")
[[ "$(tail -n1 <<<"$out")" == 429 && "$out" == *too_many_streams* ]] \
    || h_fail "a third stream over http.max_streams_per_token: $out"
kill "$(cat "$H_TMP/sse2.pid")" 2>/dev/null || true
wait "$SSE2" 2>/dev/null || true
h_ctl 1 stop rwatch >/dev/null 2>&1 || h_fail "local stop for the stream"
h_retry 15 grep -q '^data: {.*"topic":"shed\.node1\.rwatch"' "$H_TMP/sse.out" \
    || h_fail "the stream did not carry rwatch's event: $(head -c 2000 "$H_TMP/sse.out")"
line=$(grep -m1 '^data: {.*"topic":"shed\.node1\.rwatch"' "$H_TMP/sse.out")
/usr/bin/python3 -c 'import json,sys; d=json.loads(sys.stdin.read()[6:]); assert d["kind"] and "payload" in d and "seq" in d, d' <<<"$line" \
    || h_fail "an SSE event is not the event's JSON: $line"
kill "$(cat "$H_TMP/sse.pid")" 2>/dev/null || true
wait "$SSE" 2>/dev/null || true
t0=$(date +%s%N)
ok=0
for _ in $(seq 30); do
    v=$(h_metrics 1 | awk '/^shed_http_event_streams /{print $2}')
    [[ "$v" == 0 ]] && { ok=1; break; }
    sleep 0.1
done
ms=$((($(date +%s%N) - t0) / 1000000))
((ok)) || h_fail "a closed stream still counted after $ms ms"
v=$(h_metrics 1 | awk '/^shed_http_stream_events_total /{print $2}')
((${v:-0} >= 1)) || h_fail "shed_http_stream_events_total is '${v:-}'"
h_log "SSE: the stream carried the shed's event; its end noticed within $ms ms"

# ---- logs, leave and force-leave as JSON routes -------------------------------------
H_API_BASE=$BASE
H_HTTP_CERT=$CERT
RD=$(cat "$RDF")
talker_lines() {
    out=$(h_api 2 "$RD" GET '/v1/sheds/rweb/logs?stream=talker-out&tail=50')
    [[ "$(tail -n1 <<<"$out")" == 200 && "$out" == *tick-* ]]
}
h_retry 10 talker_lines || h_fail "GET /v1/sheds/rweb/logs (read token): $out"
/usr/bin/python3 -c '
import json, sys
d = json.loads(sys.stdin.read().rsplit("\n", 2)[0])
texts = [l["text"] for l in d["lines"]]
assert d["node"] == "node2" and all(l["stream"] == "talker-out" for l in d["lines"]), d
assert "bad \ufffd\ufffd end" in texts, texts
' <<<"$out" || h_fail "logs JSON: not the talker's lines with U+FFFD: $out"
# A follow: the history record, then a line that came after it.
h_exec 2 bash -c 'echo $$ >"$1"; exec curl -sS -N --max-time 60 --cacert "$2" \
    -H "Authorization: Bearer $3" "$4/v1/sheds/rweb/logs?follow=true&tail=1&stream=talker-out"' \
    _ "$H_TMP/logs.pid" "$CERT" "$RD" "$BASE" >"$H_TMP/logs.out" 2>&1 &
LOGS=$!
h_retry 10 grep -q '^event: history' "$H_TMP/logs.out" \
    || h_fail "no logs stream: $(cat "$H_TMP/logs.out")"
new_line() { sed '1,/^event: history/d' "$H_TMP/logs.out" | grep -q '^data: {.*"text":"tick-'; }
h_retry 10 new_line || h_fail "the logs follow saw no new line: $(cat "$H_TMP/logs.out")"
/usr/bin/python3 -c '
import json, sys
lines = sys.stdin.read().splitlines()
# each line record (not the data of an "event:" record), every record JSON
recs = [json.loads(l[6:]) for i, l in enumerate(lines)
        if l.startswith("data: ") and not (i and lines[i - 1].startswith("event: "))]
hist = [json.loads(l[6:]) for i, l in enumerate(lines) if i and lines[i - 1] == "event: history"]
assert len(hist) == 1 and hist[0]["lines"] == 1 and hist[0]["node"] == "node2", hist
assert all(l.startswith(("data: ", "event: ", ": ")) or not l for l in lines), lines
assert recs[0]["node"] == "node2" and recs[0]["text"].startswith("tick-"), recs
assert len(recs) >= 2 and all(r["stream"] == "talker-out" for r in recs), recs
' <"$H_TMP/logs.out" || h_fail "logs follow records: $(cat "$H_TMP/logs.out")"
v=$(h_metrics 1 | awk '/^shed_http_event_streams /{print $2}')
h_assert_eq 1 "${v:-}" "shed_http_event_streams while a logs follow is open"
kill "$(cat "$H_TMP/logs.pid")" 2>/dev/null || true
wait "$LOGS" 2>/dev/null || true
no_stream() { [[ "$(h_metrics 1 | awk '/^shed_http_event_streams /{print $2}')" == 0 ]]; }
h_retry 5 no_stream || h_fail "a closed logs follow is still counted"
# Follows closed and at once reopened, ten times (http.max_streams_per_token
# 2): a hung-up follow's slot is taken back like an events stream's, so none
# is refused while its thread has not let go yet (it was: 429s).
out=$(h_exec 2 /usr/bin/python3 "$H_REPO/integration/tools/http_flood.py" streams \
    "$ADDR" 8443 "$CERT" "$RD" 10 \
    "/v1/sheds/rweb/logs?follow=true&tail=1&stream=talker-out" "event: history") \
    || h_fail "logs follows reopened: $out"
codes=$(/usr/bin/python3 -c 'import json,sys; print(" ".join(map(str, json.loads(sys.argv[1])["codes"])))' "$out")
h_assert_eq "200 200 200 200 200 200 200 200 200 200" "$codes" \
    "logs follows reopened at once (max_streams_per_token 2)"
out=$(h_api 2 "$RD" POST /v1/cluster/leave)
h_expect 403 "$out" "a read token's leave"
[[ "$out" == *forbidden* ]] || h_fail "leave refusal: $out"
h_log "logs over HTTPS: lines, U+FFFD, a follow saw a new line; a read token refused a leave"

# ---- delete, remotely --------------------------------------------------------------
rctl "$OPF" delete rweb >/dev/null || h_fail "remote delete"
if rctl "$OPF" show rweb >/dev/null 2>&1; then h_fail "rweb still there after delete"; fi
h_ctl 1 delete rwatch >/dev/null 2>&1 || true

# ---- force-leave of a killed node, over HTTPS --------------------------------------
out=$(h_api 2 "$OP" POST /v1/members/node2/force-leave)
h_expect 400 "$out" "force-leave of an alive member"
h_kill 2 KILL
failed() { h_ctl 1 members --status failed | grep -q node2; }
h_retry 20 failed || h_fail "node 1 never saw node2 fail"
out=$(h_api 2 "$OP" POST /v1/members/node2/force-leave)
h_expect 200 "$out" "force-leave of node2"
gone() { ! h_ctl 1 members | grep -q node2; }
h_retry 8 gone || h_fail "node 1 still lists node2 after force-leave: $(h_ctl 1 members)"
h_log "force-leave over HTTPS: node2 gone from node 1's list"

h_log "PASS: shedctl remote over HTTPS, refusals, blocking queries, SSE, logs, force-leave"
