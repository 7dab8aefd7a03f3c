#!/usr/bin/env bash
# integration/test_remote_events.sh: remote event consumers (docs/events.md,
# "Remote consumers"). Two nodes in their namespaces; node 1 offers its
# CURVE consumer endpoint on 198.18.0.11:7952 to the keys in a file.
#   - `shedctl keygen --identity DIR` makes a consumer identity and prints
#     its public key; node 1 lists identity A's key in events.consumer_keys;
#   - from node 2's namespace (another host), `shedctl --events
#     tcp://198.18.0.11:7952 --server-key <node1's key> --identity A events
#     member.` receives node 1's tags update: no local node is involved;
#   - identity B (not listed) receives nothing, nor does a consumer that
#     pins a wrong server key; neither sees the event A saw;
#   - a node started with consumer_listen but no consumer_keys refuses to
#     start with a one-line reason; a key file with a bad line names it.
# Needs root; exits 77 (skip) otherwise.
set -euo pipefail
# shellcheck source-path=SCRIPTDIR
. "$(dirname "$0")/harness.sh"

h_init 2
CTL=$H_CTL_BIN
"$CTL" keygen --identity "$H_TMP/id-a" >"$H_TMP/a.pub" || h_fail "keygen --identity A"
"$CTL" keygen --identity "$H_TMP/id-b" >"$H_TMP/b.pub" || h_fail "keygen --identity B"
[[ -f "$H_TMP/id-a/identity.key" ]] || h_fail "keygen --identity wrote no identity file"
[[ $(stat -c %a "$H_TMP/id-a/identity.key") == 600 ]] || h_fail "identity file is not 0600"
# Again: the same identity, the same key.
[[ $("$CTL" keygen --identity "$H_TMP/id-a") == "$(cat "$H_TMP/a.pub")" ]] \
    || h_fail "keygen --identity replaced an existing identity"

printf '# consumers allowed on node 1\n\n%s\n' "$(cat "$H_TMP/a.pub")" >"$H_TMP/consumers"
cat >"$H_TMP/n1/config.yaml" <<EOF
events:
  consumer_listen: "198.18.0.11:7952"
  consumer_keys: $H_TMP/consumers
EOF
h_start_node 1 --config "$H_TMP/n1/config.yaml"
h_start_node 2
h_wait_ready 1 30
h_wait_ready 2 30
h_wait_members 2 20 || h_fail "the 2 nodes did not converge"
grep -q 'remote consumers admitted|keys=1\|remote consumers admitted.*keys=1' "$(h_logfile 1)" \
    || h_fail "node 1 did not log one admitted consumer key"

server_key=$(h_ctl 1 --json status | /usr/bin/python3 -c 'import json,sys; print(json.load(sys.stdin)["public_key"])') \
    || h_fail "no public key from node 1's status"

# remote ID FILE ARGS...: `shedctl events --json ARGS` from node 2's
# namespace against node 1's remote endpoint, as identity ID, into FILE.
remote() {
    local id=$1 out=$2 key=$server_key
    shift 2
    [[ "$id" == wrongkey ]] && { id=a; key=$(cat "$H_TMP/b.pub"); }
    timeout 20 ip netns exec "${H_NS[2]}" "$CTL" --addr "ipc://$H_TMP/none.sock" \
        --events tcp://198.18.0.11:7952 --server-key "$key" --identity "$H_TMP/id-$id" \
        --json events "$@" >"$out" 2>"$out.err"
}
rc_a=0 rc_b=0 rc_w=0
remote a "$H_TMP/a.jsonl" --count 1 --timeout 10 member.node1 & pid_a=$!
remote b "$H_TMP/b.jsonl" --count 1 --timeout 5 member.node1 & pid_b=$!
remote wrongkey "$H_TMP/w.jsonl" --count 1 --timeout 5 member.node1 & pid_w=$!
H_STARTED_PIDS+=("$pid_a" "$pid_b" "$pid_w")
sleep 1.5          # the subscriptions reach node 1's bus
h_ctl 1 tags set remote=yes >/dev/null || h_fail "tags set on node 1"
wait "$pid_a" || rc_a=$?
wait "$pid_b" || rc_b=$?
wait "$pid_w" || rc_w=$?

[[ $rc_a == 0 ]] || h_fail "consumer A got no event ($rc_a): $(cat "$H_TMP/a.jsonl.err")"
grep -q '"topic":"member.node1"' "$H_TMP/a.jsonl" || h_fail "consumer A: $(cat "$H_TMP/a.jsonl")"
grep -q 'remote' "$H_TMP/a.jsonl" || h_fail "consumer A's event lacks the new tag"
[[ $rc_b != 0 && ! -s "$H_TMP/b.jsonl" ]] || h_fail "consumer B (key not listed) got events"
[[ $rc_w != 0 && ! -s "$H_TMP/w.jsonl" ]] || h_fail "a consumer pinning a wrong server key got events"
h_log "remote consumer A: $(wc -l <"$H_TMP/a.jsonl") event(s); B and wrong key: none"

# Bad configurations stop the start with a reason.
h_stop_node 2
cat >"$H_TMP/n2/config.yaml" <<EOF
events:
  consumer_listen: "198.18.0.12:7952"
EOF
if h_exec 2 "$H_NODE_BIN" --name node2b --bind 198.18.0.12:7946 --data-dir "$H_TMP/n2/data-bad" \
       --config "$H_TMP/n2/config.yaml" >"$H_TMP/bad1.out" 2>&1; then
    h_fail "a node with consumer_listen and no consumer_keys started"
fi
grep -q 'events.consumer_listen needs events.consumer_keys' "$H_TMP/bad1.out" \
    || h_fail "no reason for the missing key file: $(cat "$H_TMP/bad1.out")"
printf '%s\nnot-a-key\n' "$(cat "$H_TMP/a.pub")" >"$H_TMP/bad-consumers"
printf '  consumer_keys: %s\n' "$H_TMP/bad-consumers" >>"$H_TMP/n2/config.yaml"
if h_exec 2 "$H_NODE_BIN" --name node2b --bind 198.18.0.12:7946 --data-dir "$H_TMP/n2/data-bad" \
       --config "$H_TMP/n2/config.yaml" >"$H_TMP/bad2.out" 2>&1; then
    h_fail "a node with a bad consumer key file started"
fi
grep -q "bad-consumers:2: not a base64" "$H_TMP/bad2.out" \
    || h_fail "the bad key line is not named: $(cat "$H_TMP/bad2.out")"
h_log "PASS"
