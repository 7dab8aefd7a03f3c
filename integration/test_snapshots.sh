#!/usr/bin/env bash
# integration/test_snapshots.sh: snapshots of container sheds and creates
# from them on another node (docs/snapshots.md), 2 real nodes, real runc:
#   1. a file written inside SRC (node 1), a live snapshot asked on node 2
#      (routed to node 1); SRC keeps running (thawed); the snapshot is
#      listed on both nodes, held by node 1, with its sha256;
#   2. the file changed in SRC; COPY created --from-snapshot on node 2: its
#      data travels node 1 -> node 2 (snap.read), COPY reads the OLD
#      content, owned by COPY's own root; a file deleted before the
#      snapshot stays deleted; SRC still reads the new content;
#   3. a second create from the snapshot on node 2 uses the copy already
#      there (no second transfer);
#   4. refusals: a snapshot of an unknown shed, a name taken, a create
#      from an unknown snapshot; a corrupted copy on node 2 is refused by
#      checksum and fetched again;
#   5. snapshot rm from node 2 removes node 1's data and the record;
#   6. the same over the remote JSON API (docs/api.md), node 1 serving
#      HTTPS, curl in node 2's namespace: POST /v1/snapshots, list, show
#      and DELETE; POST /v1/sheds/COPY/move to node 1 (a read token is
#      refused it with 403 first); PUT/DELETE /v1/node/tags/K seen in
#      /v1/members; /v1/network and /v1/images answer.
# Only 198.18.0.0/16 and 198.19.0.0/16 inside namespaces this run creates.
# Needs root, runc, busybox-static, a static shed-agent; exits 77 (skip)
# otherwise.
set -euo pipefail
# shellcheck source-path=SCRIPTDIR
. "$(dirname "$0")/harness.sh"

h_container_require h_skip

N=2
h_init "$N"
h_sheds_init
h_container_init
SRC="src$$"
COPY="copy$$"
COPY2="copyb$$"
SNAP="snap$$"
SNAP2="snapb$$"
h_http_cert "$(h_addr 1)"
H_API_BASE="https://$(h_addr 1):8443"
h_sheds_config 1 "http:
  listen: $(h_addr 1):8443
  tls_cert: $H_HTTP_CERT
  tls_key: $H_HTTP_KEY" >/dev/null
h_sheds_config 2 >/dev/null

for ((i = 1; i <= N; i++)); do h_start_node "$i" --config "$H_TMP/n$i/config.yaml"; done
for ((i = 1; i <= N; i++)); do h_wait_ready "$i" 30; done
h_wait_members "$N" 20 || h_fail "the $N nodes did not see each other"
h_import_busybox "$N"

create() { h_ctl "$1" create "${@:2}" >"$H_TMP/create.out" 2>&1; }
shed_field() {
    h_ctl "$1" show "$2" --json 2>/dev/null \
        | /usr/bin/python3 -c 'import json, sys; print(json.load(sys.stdin).get(sys.argv[1], ""))' "$3"
}
snap_field() {
    h_ctl "$1" snapshot show "$2" --json 2>/dev/null \
        | /usr/bin/python3 -c 'import json, sys; print(json.load(sys.stdin).get(sys.argv[1], ""))' "$3"
}
prov() {
    SHED_CTL_TIMEOUT=30 h_ctl "$1" provision "$2" --step "$3" "${@:4}" 2>&1 \
        | sed '/^--- step-[0-9]*: /,$d; s/^\[step-[0-9]*\] //' | grep -v '^shedctl: run ' || true
}
agent_up() { [[ "$(prov "$1" "$2" 'echo up')" == *up* ]]; }

h_retry 20 create 1 "$SRC" --node node1 --image busybox --disk 64M --memory 128M \
    || h_fail "create $SRC: $(cat "$H_TMP/create.out")"
h_retry 20 agent_up 1 "$SRC" || h_fail "the agent of $SRC does not answer"

h_log "--- 1. a live snapshot of $SRC, asked on node 2"
prov 1 "$SRC" 'echo version-one > /data.txt; echo doomed > /gone.txt; mkdir -p /srv/d; echo deep > /srv/d/f; chown 1000:1000 /data.txt; sync' --user root >/dev/null
h_assert_eq version-one "$(prov 1 "$SRC" 'cat /data.txt' | tail -1)" "written in $SRC"
prov 1 "$SRC" 'rm /gone.txt' --user root >/dev/null
h_ctl 2 snapshot create "$SRC" --name "$SNAP" --live >"$H_TMP/snap.out" 2>&1 \
    || h_fail "snapshot create: $(cat "$H_TMP/snap.out")"
h_assert_eq running "$(shed_field 1 "$SRC" state)" "$SRC after a live snapshot"
h_assert_eq up "$(prov 1 "$SRC" 'echo up' | tail -1)" "$SRC answers after the snapshot (thawed)"
for i in 1 2; do
    h_retry 10 eval "h_ctl $i snapshot list | grep -q '^$SNAP '" \
        || h_fail "node $i does not list $SNAP: $(h_ctl "$i" snapshot list 2>&1)"
done
h_assert_eq node1 "$(snap_field 2 "$SNAP" node)" "the holder of $SNAP"
digest=$(snap_field 2 "$SNAP" digest)
[[ ${#digest} == 64 ]] || h_fail "digest of $SNAP: '$digest'"
h_log "$SNAP: $(snap_field 2 "$SNAP" size) bytes on node1, sha256 ${digest:0:12}"

h_log "--- 2. $COPY from the snapshot on node 2 reads the old content"
prov 1 "$SRC" 'echo version-two > /data.txt' --user root >/dev/null
h_retry 20 create 2 "$COPY" --node node2 --from-snapshot "$SNAP" \
    || h_fail "create $COPY --from-snapshot: $(cat "$H_TMP/create.out")"
h_assert_eq node2 "$(shed_field 2 "$COPY" node)" "$COPY's node"
h_assert_eq busybox "$(shed_field 2 "$COPY" image)" "$COPY's image (the snapshot's)"
h_retry 20 agent_up 2 "$COPY" || h_fail "the agent of $COPY does not answer"
h_assert_eq version-one "$(prov 2 "$COPY" 'cat /data.txt' | tail -1)" "/data.txt in $COPY"
h_assert_eq deep "$(prov 2 "$COPY" 'cat /srv/d/f' | tail -1)" "/srv/d/f in $COPY"
h_assert_eq "1000 1000" "$(prov 2 "$COPY" 'stat -c "%u %g" /data.txt' | tail -1)" \
    "owner of /data.txt inside $COPY"
h_assert_eq gone "$(prov 2 "$COPY" 'test -e /gone.txt && echo there || echo gone' | tail -1)" \
    "a file deleted before the snapshot"
h_assert_eq version-two "$(prov 1 "$SRC" 'cat /data.txt' | tail -1)" "/data.txt in $SRC"
grep -q "snapshot data fetched.*name=$SNAP from=node1" "$(h_logfile 2)" \
    || h_fail "node 2 did not fetch $SNAP from node 1"
grep -qE "^shedctl: snapshot $SNAP from node1: .* \(100%\) done" "$H_TMP/create.out" \
    || h_fail "create --from-snapshot showed no progress: $(cat "$H_TMP/create.out")"
h_log "$COPY on node2 reads version-one; $SRC on node1 reads version-two"

h_log "--- 3. a second create on node 2 uses the copy there"
fetched=$(grep -c "snapshot data fetched.*name=$SNAP" "$(h_logfile 2)")
h_retry 20 create 2 "$COPY2" --node node2 --from-snapshot "$SNAP" \
    || h_fail "create $COPY2: $(cat "$H_TMP/create.out")"
h_retry 20 agent_up 2 "$COPY2" || h_fail "the agent of $COPY2 does not answer"
h_assert_eq version-one "$(prov 2 "$COPY2" 'cat /data.txt' | tail -1)" "/data.txt in $COPY2"
h_assert_eq "$fetched" "$(grep -c "snapshot data fetched.*name=$SNAP" "$(h_logfile 2)")" \
    "transfers of $SNAP to node 2 (the second create must reuse the copy)"

h_log "--- 4. refusals"
out=$(h_ctl 2 snapshot create "nosuch$$" 2>&1) && h_fail "snapshot of an unknown shed: $out"
[[ "$out" == *"no shed named"* ]] || h_fail "unknown shed: $out"
out=$(h_ctl 1 snapshot create "$SRC" --name "$SNAP" 2>&1) && h_fail "a taken name: $out"
[[ "$out" == *exists* ]] || h_fail "taken name: $out"
out=$(h_ctl 1 create "x$$" --from-snapshot "nosnap$$" 2>&1) && h_fail "unknown snapshot: $out"
[[ "$out" == *"no snapshot named"* ]] || h_fail "unknown snapshot: $out"
# A corrupted copy on node 2: the checksum refuses it, a new transfer
# replaces it, the create works.
h_ctl 2 delete "$COPY2" >/dev/null || h_fail "delete $COPY2"
copy=$(h_datadir 2)/snapshots/fetch/$SNAP.layer
[[ -f "$copy" ]] || h_fail "no copy of $SNAP at $copy"
printf 'X' | dd of="$copy" bs=1 seek=100 conv=notrunc status=none
# And what a create cut short by a crash leaves (a directory with a disk
# image and no state file): the next create of that name clears it.
mkdir -p "$(h_datadir 2)/sheds/$COPY2"
: >"$(h_datadir 2)/sheds/$COPY2/disk.img"
h_retry 20 create 2 "$COPY2" --node node2 --from-snapshot "$SNAP" \
    || h_fail "create $COPY2 after corruption: $(cat "$H_TMP/create.out")"
h_retry 20 agent_up 2 "$COPY2" || h_fail "the agent of $COPY2 does not answer"
h_assert_eq version-one "$(prov 2 "$COPY2" 'cat /data.txt' | tail -1)" \
    "/data.txt in $COPY2 after a corrupted copy"
grep -q "cleared what an interrupted create left.*shed=$COPY2" "$(h_logfile 2)" \
    || h_fail "node 2 did not clear the leftover directory of $COPY2"
h_log "unknown shed, taken name, unknown snapshot refused; a corrupted copy was fetched again"

h_log "--- 5. snapshot rm from node 2"
h_ctl 2 snapshot rm "$SNAP" >/dev/null || h_fail "snapshot rm"
h_retry 10 eval "! h_ctl 1 snapshot list | grep -q '^$SNAP '" || h_fail "$SNAP still listed"
[[ ! -e "$(h_datadir 1)/snapshots/$SNAP" ]] || h_fail "node 1 kept the data of $SNAP"
h_retry 10 eval "[[ ! -e '$copy' ]]" || h_fail "node 2 kept its copy of $SNAP"

h_log "--- 6. snapshots, move, tags over the JSON API (curl from node 2)"
OP=$(h_ctl 1 token create --role operator --name it 2>/dev/null)
RD=$(h_ctl 1 token create --role read --name it-read 2>/dev/null)
out=$(h_api 2 "$OP" POST /v1/snapshots "{\"shed\": \"$SRC\", \"name\": \"$SNAP2\", \"mode\": \"live\"}")
h_expect 201 "$out" "POST /v1/snapshots"
h_assert_eq "$SNAP2 node1" "$(h_jget "$out" 'd["snapshots"][0]["name"] + " " + d["snapshots"][0]["node"]')" "created snapshot"
out=$(h_api 2 "$RD" GET "/v1/snapshots?shed=$SRC")
h_expect 200 "$out" "GET /v1/snapshots?shed="
h_assert_eq "$SNAP2" "$(h_jget "$out" '" ".join(s["name"] for s in d["snapshots"])')" "$SRC's snapshots"
h_expect 200 "$(h_api 2 "$RD" GET "/v1/snapshots/$SNAP2")" "GET /v1/snapshots/NAME"
out=$(h_api 2 "$RD" POST "/v1/sheds/$COPY/move" '{"to": "node1"}')
h_expect 403 "$out" "move with a read token"
h_assert_eq forbidden "$(h_jget "$out" 'd["error"]["code"]')" "403 code"
h_expect 400 "$(h_api 2 "$OP" POST "/v1/sheds/$COPY/move" '{"node": "node1"}')" "move with an unknown member"
out=$(h_api 2 "$OP" POST "/v1/sheds/$COPY/move" '{"to": "node1"}')
h_expect 200 "$out" "POST /v1/sheds/$COPY/move"
h_assert_eq "node2 node1" "$(h_jget "$out" 'd["from"] + " " + d["to"]')" "move reply"
h_assert_eq node1 "$(shed_field 2 "$COPY" node)" "$COPY's node after the HTTP move"
h_expect 200 "$(h_api 2 "$OP" DELETE "/v1/snapshots/$SNAP2")" "DELETE /v1/snapshots/NAME"
h_retry 10 eval "h_api 2 '$RD' GET '/v1/snapshots/$SNAP2' | tail -n1 | grep -qx 404" \
    || h_fail "$SNAP2 still shown after DELETE"
members_zone() { h_jget "$(h_api 2 "$RD" GET /v1/members)" '[m["tags"].get("zone", "-") for m in d["members"] if m["name"] == "node1"][0]'; }
h_expect 200 "$(h_api 2 "$OP" PUT /v1/node/tags/zone '{"value": "eu-1"}')" "PUT /v1/node/tags/zone"
h_assert_eq eu-1 "$(members_zone)" "node1's zone tag in /v1/members"
h_assert_eq eu-1 "$(h_jget "$(h_api 2 "$RD" GET /v1/node/tags)" 'd["tags"]["zone"]')" "GET /v1/node/tags"
h_expect 403 "$(h_api 2 "$RD" DELETE /v1/node/tags/zone)" "tag change with a read token"
h_expect 200 "$(h_api 2 "$OP" DELETE /v1/node/tags/zone)" "DELETE /v1/node/tags/zone"
h_assert_eq - "$(members_zone)" "node1's zone tag after DELETE"
h_expect 200 "$(h_api 2 "$RD" GET /v1/network)" "GET /v1/network"
out=$(h_api 2 "$RD" GET /v1/images)
h_expect 200 "$out" "GET /v1/images"
h_assert_eq busybox "$(h_jget "$out" '" ".join(i["name"] for i in d["images"])')" "node 1's images"
h_log "over HTTP: snapshot create/list/show/delete, $COPY moved node2 -> node1, tags set and unset"

for s in "$SRC:1" "$COPY:1" "$COPY2:2"; do
    h_ctl "${s#*:}" delete "${s%%:*}" >/dev/null || h_fail "delete ${s%%:*}"
done
h_log "PASS"
