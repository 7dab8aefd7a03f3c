#!/usr/bin/env bash
# integration/test_events_scale.sh: the event bus's routing tree at scale
# (docs/events.md, "Routing tree"). N (default 24) real shed-node processes
# in their namespaces; every node computes the same 4-ary tree from the
# sorted member names, so the test computes it too:
#   - every node's /metrics shows at most shed_bus_connections_max (9) bus
#     connections and at least one; the root holds links to its 4 children;
#   - a consumer on D, the deepest node, subscribes to `member.P` where P is
#     the farthest node from D (the path crosses the root); P's tags updates
#     reach D (5 hops at N=24) exactly once, and nothing else does;
#   - Q's tags updates, which nobody subscribed to, never leave Q: Q counts
#     them as skipped (shed_bus_events_skipped_total).
# Needs root; exits 77 (skip) otherwise.
set -euo pipefail
# shellcheck source-path=SCRIPTDIR
. "$(dirname "$0")/harness.sh"

command -v curl >/dev/null || h_skip "curl not installed (scripts/install-deps.sh)"
N=${EVENTS_SCALE_N:-24}
export SHED_LOG_LEVEL=${SHED_LOG_LEVEL:-info}
h_init "$N"
for ((i = 1; i <= N; i++)); do h_start_node "$i"; done
for ((i = 1; i <= N; i++)); do h_wait_ready "$i" 90; done
h_wait_members "$N" 180 || h_fail "the $N nodes did not converge"

# The tree, as the bus computes it (bridges/bus_route.c bus_tree_parent).
read -r D P Q HOPS < <(/usr/bin/python3 - "$N" <<'PY'
import sys
n = int(sys.argv[1]); k = 4
names = sorted("node%d" % i for i in range(1, n + 1))
def path(i):
    p = [i]
    while i: i = (i - 1) // k; p.append(i)
    return p
def hops(a, b):
    pa, pb = path(a), path(b)
    common = set(pa) & set(pb)
    return min(pa.index(c) + pb.index(c) for c in common)
d = max(range(n), key=lambda i: (len(path(i)), i))
# P: farthest from D among names no other name extends (member.P is exact).
cand = [i for i in range(n) if not any(o != names[i] and o.startswith(names[i]) for o in names)]
p = max(cand, key=lambda i: (hops(d, i), i))
q = next(i for i in range(n) if i not in (d, p) and i != 0)
print(names[d][4:], names[p][4:], names[q][4:], hops(d, p))
PY
)
h_log "tree: consumer on node$D, publisher node$P ($HOPS hops), unsubscribed node$Q"

metric() {  # metric I NAME: a sample of node I's /metrics (0 if absent)
    local page
    page=$(h_exec "$1" curl -s --max-time 5 http://127.0.0.1:7951/metrics) || page=""
    awk -v m="$2" '$1 == m { print $2; found = 1 } END { if (!found) print 0 }' <<<"$page"
}

# ---- connection bound ----------------------------------------------------
conns_ok() {
    local i c max
    for ((i = 1; i <= N; i++)); do
        c=$(metric "$i" shed_bus_connections)
        max=$(metric "$i" shed_bus_connections_max)
        ((max > 0 && c >= 1 && c <= max)) || { h_log "node$i: $c bus connections (max $max)"; return 1; }
    done
}
h_retry 30 conns_ok || h_fail "a node is outside the bus connection bound"
root=$(/usr/bin/python3 -c "import sys; print(sorted('node%d' % i for i in range(1, $N + 1))[0][4:])")
# The root's children dial it once their bus has seen the whole membership,
# which trails the membership convergence checked above: wait for all four.
root_links_ok() {
    links=$(metric "$root" shed_bus_links)
    ((links == 4))
}
h_retry 30 root_links_ok || h_fail "the root node$root has $links tree links, not 4"
total=0
for ((i = 1; i <= N; i++)); do total=$((total + $(metric "$i" shed_bus_connections))); done
h_log "bus connections: $total over $N nodes (a full mesh would hold $((N * (N - 1))))"

# ---- a subscribed prefix crosses the tree; an unsubscribed one stays ----
out=$H_TMP/d.jsonl
h_consume "$D" "$out" --timeout 60 "member.node$P"
cpid=$H_CONSUME_PID
# The subscription travels up and down the tree: publish until D sees one.
seen=0
for ((t = 1; t <= 40 && seen == 0; t++)); do
    h_ctl "$P" tags set "probe=$t" >/dev/null || h_fail "tags set on node$P failed"
    sleep 0.5
    grep -q "member.node$P" "$out" 2>/dev/null && seen=1
done
((seen)) || h_fail "node$D never got node$P's member event"
skipped0=$(metric "$Q" shed_bus_events_skipped_total)
for t in 1 2 3 4 5; do
    h_ctl "$P" tags set "round=$t" >/dev/null || h_fail "tags set on node$P failed"
    h_ctl "$Q" tags set "round=$t" >/dev/null || h_fail "tags set on node$Q failed"
done
sleep 3
kill "$cpid" 2>/dev/null || true
wait "$cpid" 2>/dev/null || true
h_check_events "$out" "
rounds = {}
for e in events:
    if e.get('origin') != 'node$P' or not e.get('topic', '').startswith('member.node$P'):
        fail('an event that was not subscribed to: %s' % json.dumps(e))
    r = e['payload'].get('tags', {}).get('round')
    if r:
        rounds[int(r)] = rounds.get(int(r), 0) + 1
if sorted(rounds) != [1, 2, 3, 4, 5]:
    fail('node$P\\'s 5 rounds did not all arrive: %s' % rounds)
if any(v != 1 for v in rounds.values()):
    fail('a round arrived twice: %s' % rounds)
"
skipped=$(( $(metric "$Q" shed_bus_events_skipped_total) - skipped0 ))
((skipped >= 5)) || h_fail "node$Q sent its unsubscribed member events into the tree (skipped $skipped of 5)"
relayed=0 refused=0 resent=0
for ((i = 1; i <= N; i++)); do
    relayed=$((relayed + $(metric "$i" shed_bus_events_relayed_total)))
    refused=$((refused + $(metric "$i" shed_bus_children_refused_total)))
    resent=$((resent + $(metric "$i" shed_bus_hello_resent_total)))
done
h_log "node$P -> node$D over $HOPS hops; node$Q skipped $skipped unsubscribed events; $relayed relayed in all"
h_log "start-up churn: $refused child HELLOs refused, $resent HELLOs resent"
h_log "PASS"
