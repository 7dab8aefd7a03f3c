#!/usr/bin/env bash
# test_membership.sh: cluster membership with real shed-node processes in
# network namespaces (topology: see harness.sh). What users see, checked
# through `shedctl members --json` on every node:
#   1. 5 nodes join and all see 5 alive
#   2. kill -9 one: every survivor reports it failed
#   3. SIGSTOP one, SIGCONT before the suspicion timeout: it stays alive
#   4. a partition (nftables drops) splits the view; removing it heals it
#   5. the killed node restarts under the same name and rejoins (higher
#      incarnation)
#   6. a node with the wrong cluster key cannot join and says why
#   7. key rotation (install, use, remove) keeps every member alive
#   8. graceful leave is reported as left, not failed
set -euo pipefail
. "$(dirname "$0")/harness.sh"

N=5
h_init $((N + 1))     # node 6 is the one with the wrong key

# member_field i NAME FIELD: FIELD of member NAME as node i sees it ("" if absent).
member_field() {
    h_ctl "$1" members --json 2>/dev/null | python3 -c '
import json, sys
name, field = sys.argv[1], sys.argv[2]
try:
    for m in json.load(sys.stdin):
        if m["name"] == name:
            print(m[field]); break
except ValueError:
    pass
' "$2" "$3"
}

# wait_status NAME STATUS TIMEOUT NODES...: every listed node sees NAME in STATUS.
wait_status() {
    local name=$1 want=$2 timeout=$3
    shift 3
    local deadline=$((SECONDS + timeout)) i ok
    while :; do
        ok=1
        for i in "$@"; do
            [[ "$(member_field "$i" "$name" status)" == "$want" ]] || ok=0
        done
        ((ok)) && return 0
        if ((SECONDS >= deadline)); then
            for i in "$@"; do
                h_log "node $i sees $name as '$(member_field "$i" "$name" status)'"
            done
            h_fail "$name not '$want' on nodes $* within ${timeout}s"
        fi
        sleep 0.1
    done
}

for ((i = 1; i <= N; i++)); do h_start_node "$i"; done
for ((i = 1; i <= N; i++)); do h_wait_ready "$i"; done

# 1. everyone sees everyone
h_wait_members $N 15 || h_fail "the $N nodes did not converge"
h_log "step 1 ok: $N nodes alive everywhere"

# 2. kill -9 node 5: every survivor reports it failed
inc5=$(member_field 1 node5 incarnation)
t0=$SECONDS
h_kill 5 KILL
wait_status node5 failed 15 1 2 3 4
h_log "step 2 ok: node5 failed on all survivors after $((SECONDS - t0))s"

# 3. SIGSTOP node 4 briefly (well under the suspicion timeout), then CONT.
inc_before=$(member_field 1 node4 incarnation)
h_kill 4 STOP
sleep 0.6
h_kill 4 CONT
sleep 4
wait_status node4 alive 5 1 2 3
for i in 1 2 3; do
    if grep -q 'msg="member fail" member=node4' "$(h_logfile "$i")"; then
        h_fail "node $i declared node4 failed after a short SIGSTOP"
    fi
done
h_log "step 3 ok: node4 stayed alive (incarnation $inc_before -> $(member_field 1 node4 incarnation))"

# 4. partition {1,2} | {3,4}, then heal
for a in 1 2; do for b in 3 4; do h_partition "$a" "$b"; done; done
wait_status node3 failed 20 1 2
wait_status node1 failed 20 3 4
h_log "step 4a ok: the view split"
h_heal
wait_status node3 alive 40 1 2
wait_status node1 alive 40 3 4
wait_status node4 alive 40 1 2
h_log "step 4b ok: the partition healed"

# 5. node 5 restarts under the same name and identity and rejoins
h_start_node 5
h_wait_ready 5
wait_status node5 alive 15 1 2 3 4 5
inc=$(member_field 1 node5 incarnation)
((inc > inc5)) || h_fail "node5 rejoined with incarnation $inc, expected > $inc5"
h_log "step 5 ok: node5 rejoined with incarnation $inc (was $inc5)"

# 6. node 6 has another cluster key: it cannot join and says why
other_key=$("$H_CTL_BIN" keygen)
h_start_node 6 --encrypt "$other_key"
h_wait_ready 6
sleep 3
[[ -z "$(member_field 1 node6 status)" ]] || h_fail "node6 (wrong key) appears in node1's members"
h_retry 10 grep -qiE 'wrong (cluster )?key|no valid answer|could not join|join failed' \
    "$(h_logfile 6)" || h_fail "node6 does not say why it cannot join"
h_log "step 6 ok: node6 refused: $(grep -iE 'wrong|no valid answer|join' "$(h_logfile 6)" | tail -1)"
h_stop_node 6

# 7. key rotation on a running cluster
mark=$(wc -l <"$(h_logfile 1)")
old_key=$H_KEY
new_key=$("$H_CTL_BIN" keygen)
h_ctl 1 keys install "$new_key" || h_fail "keys install failed"
h_ctl 2 keys use "$new_key" || h_fail "keys use failed"
h_ctl 3 keys remove "$old_key" || h_fail "keys remove failed"
out=$(h_ctl 4 keys list --json)
echo "$out" | python3 -c '
import json, sys
r = json.load(sys.stdin)
assert r["status"] == "OK", r
names = sorted(n["name"] for n in r["nodes"])
assert names == ["node1", "node2", "node3", "node4", "node5"], names
ids = {n["key_ids"] for n in r["nodes"]}
assert len(ids) == 1 and "," not in ids.pop(), r
' || h_fail "after rotation not every node holds exactly the new key: $out"
sleep 3
for n in node1 node2 node3 node4 node5; do wait_status "$n" alive 5 1 2 3 4 5; done
if tail -n +"$((mark + 1))" "$(h_logfile 1)" | grep -q 'msg="member fail"'; then
    h_fail "a member was marked failed during the key rotation"
fi
h_log "step 7 ok: key rotated with every member alive"

# 8. graceful leave
h_ctl 3 leave
wait_status node3 left 10 1 2 4 5
h_log "step 8 ok: node3 left (not failed)"

h_log "PASS"
