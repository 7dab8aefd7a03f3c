#!/usr/bin/env bash
# integration/test_tags.sh: run-time tags reach placement and `status`, and
# survive a restart (docs/membership.md, "Tags"); state.tombstone_ttl_s
# reaches the links actor.
#   1. node 2 starts with config tags zone=b, rack=r1. `tags set zone=a` on
#      node 2: `status` there shows zone=a, `members` everywhere too, and
#      `create t1 --constraint zone=a` from node 1 lands on node 2 (the node
#      record placement reads carries the new tags)
#   2. `tags unset zone`: the same constraint fails, node 2's reason says
#      the tag is unset
#   3. `tags set zone=a`, `tags unset rack` (a config tag), restart node 2:
#      zone=a and no rack in `members` and `status` (DATA_DIR/tags applied
#      over the config), and a zone=a create lands on node 2 again
#   4. node 1 runs with state.tombstone_ttl_s 2: after deletes it purges
#      tombstones within seconds (shed_state_purged_total > 0) while node 2
#      (default 1 h) has purged none
# Needs root; exits 77 (skip) otherwise.
set -euo pipefail
# shellcheck source-path=SCRIPTDIR
. "$(dirname "$0")/harness.sh"

h_init 2
h_sheds_init
cfg1=$(h_sheds_config 1 "state:
  tombstone_ttl_s: 2")
cfg2=$(h_sheds_config 2 "tags:
  zone: b
  rack: r1")
h_start_node 1 --config "$cfg1"
h_wait_ready 1 30
h_start_node 2 --config "$cfg2"
h_wait_ready 2 30
h_wait_members 2 30 || h_fail "the two nodes do not see each other"

# tag_of i SOURCE NODE KEY: NODE's tag KEY as node i shows it in SOURCE
# (members | status); "<unset>" when absent.
tag_of() {
    local i=$1 src=$2 node=$3 key=$4
    h_ctl "$i" --json "$src" 2>/dev/null | python3 -c '
import json, sys
src, node, key = sys.argv[1], sys.argv[2], sys.argv[3]
d = json.load(sys.stdin)
if src == "status":
    tags = d.get("tags", {})
else:
    tags = next((m["tags"] for m in d if m["name"] == node), {})
print(tags.get(key, "<unset>"))' "$src" "$node" "$key"
}
tag_is() { [[ "$(tag_of "$1" "$2" "$3" "$4")" == "$5" ]]; }

# node_of NAME: the node a shed is on, as node 1 lists it.
node_of() {
    h_ctl 1 --json list 2>/dev/null | python3 -c '
import json, sys
print(next((s["node"] for s in json.load(sys.stdin) if s["name"] == sys.argv[1]), ""))' "$1"
}

# A fresh node has no overlay address block for a second or two: retry.
create() { h_ctl 1 create "$@" >"$H_TMP/create.out" 2>&1; }

h_log "--- config tags first"
h_assert_eq b "$(tag_of 2 status node2 zone)" "node 2 status zone (config)"
h_retry 10 tag_is 1 members node2 zone b || h_fail "node 1 does not see node2 zone=b"

h_log "--- tags set zone=a: status, members, placement"
h_ctl 2 tags set zone=a || h_fail "tags set zone=a"
h_assert_eq a "$(tag_of 2 status node2 zone)" "node 2 status zone after tags set"
h_assert_eq r1 "$(tag_of 2 status node2 rack)" "node 2 status rack (config, untouched)"
h_retry 10 tag_is 1 members node2 zone a || h_fail "node 1 members: node2 zone is not a"
h_retry 30 create t1 --cpus 0.5 --memory 128M --constraint zone=a \
    || h_fail "create t1 --constraint zone=a: $(cat "$H_TMP/create.out")"
h_assert_eq node2 "$(node_of t1)" "node of t1 (constraint zone=a)"

h_log "--- tags unset zone: the constraint fails with node 2's reason"
h_ctl 2 tags unset zone || h_fail "tags unset zone"
h_assert_eq "<unset>" "$(tag_of 2 status node2 zone)" "node 2 status zone after unset"
unmet() {
    ! h_ctl 1 create t2 --cpus 0.5 --memory 128M --constraint zone=a >"$H_TMP/c.out" 2>&1 \
        && grep -q "node2: constraint zone=a not met (unset)" "$H_TMP/c.out"
}
h_retry 10 unmet || h_fail "create t2 with zone unset: $(cat "$H_TMP/c.out")"
cat "$H_TMP/c.out"
grep -q "node1: constraint zone=a not met" "$H_TMP/c.out" || h_fail "no reason for node1: $(cat "$H_TMP/c.out")"

h_log "--- tombstones: node 1 (state.tombstone_ttl_s 2) purges, node 2 (1 h) keeps"
grep -q "tombstone_ttl_ms=2000" "$(h_logfile 1)" || h_fail "node 1 did not start with a 2 s tombstone TTL"
grep -q "tombstone_ttl_ms=3600000" "$(h_logfile 2)" || h_fail "node 2 did not start with the 1 h default"
h_ctl 1 delete t1 >/dev/null || h_fail "delete t1"
# purged I: node i's shed_state_purged_total.
purged() {
    h_exec "$1" python3 -c '
import sys, urllib.request
text = urllib.request.urlopen("http://127.0.0.1:7951/metrics", timeout=5).read().decode()
print(next((int(float(l.split()[-1])) for l in text.splitlines()
            if l.startswith("shed_state_purged_total")), -1))'
}
purged_some() { (($(purged 1) > 0)); }
h_retry 20 purged_some || h_fail "node 1 purged no tombstone within 20 s (purged=$(purged 1))"
h_assert_eq 0 "$(purged 2)" "tombstones purged by node 2 (1 h TTL)"
h_log "node 1 purged $(purged 1) tombstones, node 2 none"

h_log "--- run-time tags survive a restart, over the config's"
h_ctl 2 tags set zone=a || h_fail "tags set zone=a (again)"
h_ctl 2 tags unset rack || h_fail "tags unset rack"
cat "$(h_datadir 2)/tags"
grep -qx "set zone a" "$(h_datadir 2)/tags" || h_fail "zone=a not in node 2's tags file"
grep -qx "unset rack" "$(h_datadir 2)/tags" || h_fail "rack unset not in node 2's tags file"
h_stop_node 2 || h_fail "node 2 did not stop cleanly"
h_start_node 2 --config "$cfg2"
h_wait_ready 2 30
h_assert_eq a "$(tag_of 2 status node2 zone)" "node 2 status zone after restart"
h_assert_eq "<unset>" "$(tag_of 2 status node2 rack)" "node 2 status rack after restart"
h_assert_eq a "$(tag_of 2 members node2 zone)" "node 2 members zone after restart"
h_retry 20 tag_is 1 members node2 zone a || h_fail "node 1 members: node2 zone after restart"
h_retry 20 tag_is 1 members node2 rack "<unset>" || h_fail "node 1 members: node2 rack after restart"
h_retry 30 create t3 --cpus 0.5 --memory 128M --constraint zone=a \
    || h_fail "create t3 --constraint zone=a after restart: $(cat "$H_TMP/create.out")"
h_assert_eq node2 "$(node_of t3)" "node of t3 (constraint zone=a, after restart)"
h_ctl 1 delete t3 >/dev/null || h_fail "delete t3"
h_log "PASS"
