#!/usr/bin/env bash
# integration/test_metrics.sh: the Prometheus endpoint (docs/metrics.md).
# Three nodes in their namespaces; node 3 runs with `metrics: {listen: ""}`.
# Each namespace has its own 127.0.0.1, so node 1's endpoint is
# http://127.0.0.1:7951 inside node 1's namespace.
#   - node 1's log says `metrics listening addr=127.0.0.1:7951`;
#   - GET /metrics: 200, Content-Type text/plain version 0.0.4, and the whole
#     exposition parses with prometheus_client's own parser; every family is
#     shed_* or the standard process_*, typed once; naming conventions hold
#     (counters end in _total, nothing else does; no ms/kb/percent units;
#     direction labels are tx or rx only); build info names node1 and the
#     version; 3 members alive; gossip packets tx and rx > 0; 2 link and
#     overlay peers; a DNS query made just before is counted; capacity > 0;
#   - process_* metrics: CPU > 0, resident memory > 0, open fds <= max fds,
#     start time = now - uptime;
#   - histograms: every one has cumulative buckets ending in +Inf = _count;
#     after a shed created from node 1 on node 2, node 1's create latency and
#     RPC round-trip histograms have observations, and the DNS query one too;
#   - GET /health 200 "ok: ..."; after `shedctl leave`, node 2's is 503;
#   - HEAD /metrics 200; /nope 404; POST /metrics 405;
#   - node 3 serves nothing (connection refused) and logs that it is off;
#   - an explicit --metrics-listen that cannot be bound stops the start with
#     a one-line error (exit 1); the default address taken only warns.
# Needs root; exits 77 (skip) otherwise.
set -euo pipefail
# shellcheck source-path=SCRIPTDIR
. "$(dirname "$0")/harness.sh"

command -v curl >/dev/null 2>&1 || h_skip "curl not installed (scripts/install-deps.sh)"
# The Debian package installs for the system python, which may not be the
# python3 first on PATH.
PY=/usr/bin/python3
"$PY" -c 'import prometheus_client.parser' 2>/dev/null \
    || h_fail "python3-prometheus-client is not installed (scripts/install-deps.sh)"

URL=http://127.0.0.1:7951/metrics
HEALTH=http://127.0.0.1:7951/health
h_init 3
# Nodes 1 and 2 run netns sheds: one create gives the latency histograms
# something to count.
h_sheds_init
h_sheds_config 1 >/dev/null
h_sheds_config 2 >/dev/null
printf 'metrics: {listen: ""}\n' >"$H_TMP/n3/config.yaml"
h_start_node 1 --config "$H_TMP/n1/config.yaml"
h_start_node 2 --config "$H_TMP/n2/config.yaml"
h_start_node 3 --config "$H_TMP/n3/config.yaml"
for i in 1 2 3; do h_wait_ready "$i" 30; done
h_wait_members 3 20 || h_fail "the 3 nodes did not converge"

grep -q 'metrics listening.*addr=127.0.0.1:7951' "$(h_logfile 1)" \
    || h_fail "node 1 did not log 'metrics listening addr=127.0.0.1:7951'"
grep -q 'metrics endpoint off' "$(h_logfile 3)" || h_fail "node 3 did not log that metrics are off"

# A shed created from node 1, placed on node 2: node 1 coordinates the
# create (its latency) over node RPC (round trips).
h_ctl 1 create mx --cpus 1 --memory 256M --node node2 || h_fail "create mx"

# A DNS query, so the DNS counters have something to show.
if command -v dig >/dev/null 2>&1; then
    h_exec 1 dig -p 8600 @127.0.0.1 +short +tries=1 +time=2 nothing.service.shed A \
        >/dev/null || true
fi

version=$("$H_NODE_BIN" --version | awk '{print $NF}')
have_dig=0
command -v dig >/dev/null 2>&1 && have_dig=1

# check FILE: parse the exposition with prometheus_client (must raise
# nothing) and check what must be true of a settled 3-node cluster.
check() {
    "$PY" - "$1" "$version" "$have_dig" <<'EOF'
import re, sys, time
from prometheus_client.parser import text_string_to_metric_families

text = open(sys.argv[1]).read()
version = sys.argv[2]
dig = sys.argv[3] == "1"
try:
    families = list(text_string_to_metric_families(text))
except Exception as e:                      # the parser's verdict is final
    print("PARSE ERROR: %r" % e)
    sys.exit(2)
types = re.findall(r"^# TYPE (\S+) ", text, re.M)
if len(types) != len(set(types)):
    sys.exit("a family is typed twice: %s" % sorted(t for t in types if types.count(t) > 1))
outside = [t for t in types if not t.startswith(("shed_", "process_"))]
if outside:
    sys.exit("families outside shed_ and process_: %s" % outside)

# Naming conventions (docs/metrics.md, "Conventions"), on the raw text.
typed = dict(re.findall(r"^# TYPE (\S+) (\S+)$", text, re.M))
bad = [n for n, t in typed.items() if (t == "counter") != n.endswith("_total")]
if bad:
    sys.exit("counters without _total, or _total on a non-counter: %s" % bad)
bad = [n for n in typed if re.search(r"_(ms|msec|millis|us|kb|kib|mb|mib|percent|pct)(_|$)", n)
       or re.search(r"_(sent|received|recv)(_|$)", n)]
if bad:
    sys.exit("names not in base units, or with a direction in them: %s" % bad)
dirs = set(re.findall(r'direction="([^"]*)"', text))
if not dirs <= {"tx", "rx"}:
    sys.exit("direction label values other than tx/rx: %s" % sorted(dirs))

def samples(name):
    for f in families:
        for s in f.samples:
            if s.name == name:
                yield s.labels, s.value

def value(name, **labels):
    for l, v in samples(name):
        if all(l.get(k) == x for k, x in labels.items()):
            return v
    return None

problems = []
def want(cond, what):
    if not cond:
        problems.append(what)

info = list(samples("shed_build_info"))
want(info == [({"node": "node1", "version": version}, 1.0)], "build info %r" % info)
want((value("shed_uptime_seconds") or 0) > 0, "uptime")
alive = value("shed_members", status="alive")
want(alive == 3, "members alive %r" % alive)
want(value("shed_members", status="failed") == 0, "members failed")
want((value("shed_gossip_packets_total", direction="tx") or 0) > 0, "gossip packets sent")
want((value("shed_gossip_packets_total", direction="rx") or 0) > 0, "gossip packets received")
# A sealed datagram is at least header + tag: bytes outnumber packets.
want((value("shed_gossip_bytes_total", direction="tx") or 0)
     > (value("shed_gossip_packets_total", direction="tx") or 0), "gossip bytes sent")
want(value("shed_sched_creates_total", result="running") == 1, "creates counter")
want(value("shed_sched_claims_deferred_total") == 0, "deferred claims counter")
want(value("shed_state_peers") == 2, "state peers %r" % value("shed_state_peers"))
want((value("shed_state_records") or 0) >= 3, "state records")
want(value("shed_overlay_peers") == 2, "overlay peers %r" % value("shed_overlay_peers"))
peers = {l.get("peer") for l, _ in samples("shed_overlay_peer_packets_total")}
want(peers == {"node2", "node3"}, "overlay peer labels %r" % peers)
want(value("shed_overlay_dropped_total", reason="replay") is not None, "overlay drops by reason")
want(value("shed_bus_peers") is not None, "bus counters")
want((value("shed_node_cpus", kind="capacity") or 0) > 0, "cpu capacity")
want((value("shed_node_memory_bytes", kind="free") or 0) > 0, "free memory")
want(value("shed_hooks_runs_total", result="started") == 0, "hook runs")
want((value("shed_rpc_requests_total", direction="tx") or 0) >= 1, "rpc requests sent")
dns = value("shed_dns_queries_total", transport="udp")
want(dns is not None, "dns counters")

# The standard process metrics, read from /proc/self.
uptime = value("shed_uptime_seconds") or 0
want((value("process_cpu_seconds_total") or 0) > 0, "process cpu")
want((value("process_resident_memory_bytes") or 0) > 1 << 20, "resident memory")
fds, maxfds = value("process_open_fds") or 0, value("process_max_fds") or 0
want(0 < fds <= maxfds, "open fds %r of max %r" % (fds, maxfds))
start = value("process_start_time_seconds") or 0
want(abs(time.time() - uptime - start) < 5, "start time %r, uptime %r" % (start, uptime))

# Every histogram: buckets cumulative, in le order, ending in +Inf = _count.
for name in [n for n, t in typed.items() if t == "histogram"]:
    series = {}
    for l, v in samples(name + "_bucket"):
        key = tuple(sorted((k, x) for k, x in l.items() if k != "le"))
        series.setdefault(key, []).append((float(l["le"]), v))
    want(series, "histogram %s has no series" % name)
    for key, buckets in series.items():
        les = [le for le, _ in buckets]
        counts = [c for _, c in buckets]
        count = value(name + "_count", **dict(key))
        want(les == sorted(les) and les[-1] == float("inf"), "%s%r le order" % (name, key))
        want(counts == sorted(counts), "%s%r not cumulative" % (name, key))
        want(counts[-1] == count, "%s%r +Inf %r != count %r" % (name, key, counts[-1], count))
        want(value(name + "_sum", **dict(key)) is not None, "%s%r sum" % (name, key))
want((value("shed_sched_create_duration_seconds_count") or 0) == 1, "create latency observed")
want((value("shed_sched_create_duration_seconds_sum") or 0) > 0, "create latency sum")
want((value("shed_rpc_request_duration_seconds_count") or 0) >= 1, "rpc latency observed")
want(value("shed_dns_query_duration_seconds_count", listener="host", transport="tcp") is not None,
     "dns latency (tcp series)")
if dig:
    want((value("shed_dns_query_duration_seconds_count", listener="host", transport="udp") or 0)
         >= 1, "dns latency observed")
if problems:
    sys.exit("; ".join(problems))
print("OK: %d families, %d samples" % (len(families), sum(len(f.samples) for f in families)))
EOF
}

out="$H_TMP/metrics.txt"
hdr="$H_TMP/metrics.hdr"
# fetch: one scrape of node 1 into $out (headers in $hdr).
fetch() { h_exec 1 curl -sS --max-time 5 -D "$hdr" -o "$out" "$URL"; }
# Links, bus and overlay peers settle a little after membership: retry.
settled() { fetch && check "$out" >"$H_TMP/check.out" 2>&1; }
if ! h_retry 15 settled; then
    cat "$H_TMP/check.out" >&2 || true
    head -c 4000 "$out" >&2 || true
    h_fail "node 1's metrics are not as expected"
fi
h_log "node 1: $(cat "$H_TMP/check.out")"
grep -qi '^content-type: text/plain; version=0.0.4' "$hdr" \
    || h_fail "wrong content type: $(grep -i content-type "$hdr")"
grep -q '^HTTP/1.1 200' "$hdr" || h_fail "GET /metrics: $(head -1 "$hdr")"
if command -v dig >/dev/null 2>&1; then
    grep -qE '^shed_dns_queries_total\{transport="udp"\} [1-9]' "$out" \
        || h_fail "the DNS query was not counted: $(grep shed_dns_queries "$out")"
fi
grep -E '^shed_(members|gossip_packets_total|overlay_peer_packets_total)\{' "$out" >&2
grep -E '^(shed_(sched_create|rpc_request)_duration_seconds_(count|sum)|process_)' "$out" >&2

# /health: this node is an alive member, its actors and loop answer.
hbody=$(h_exec 1 curl -sS --max-time 5 "$HEALTH") || h_fail "GET /health on node 1 failed"
[[ "$hbody" == "ok: node1 is a member (3 of 3 alive), state and API loop running" ]] \
    || h_fail "node 1's /health: $hbody"

code() { h_exec 1 curl -s -o /dev/null --max-time 5 -w '%{http_code}' "$@" || true; }
h_assert_eq 200 "$(code -I "$URL")" "HEAD /metrics"
h_assert_eq 404 "$(code http://127.0.0.1:7951/nope)" "GET /nope"
h_assert_eq 405 "$(code -X POST -d x=1 "$URL")" "POST /metrics"
h_assert_eq 405 "$(code -X DELETE "$URL")" "DELETE /metrics"
h_assert_eq 200 "$(code "$HEALTH")" "GET /health"
h_assert_eq 200 "$(code -I "$HEALTH")" "HEAD /health"
h_assert_eq 405 "$(code -X POST -d x=1 "$HEALTH")" "POST /health"

# A node that left the cluster (and keeps running) is no member to send
# work to: 503 with the reason.
h_ctl 2 leave >/dev/null || h_fail "node 2: shedctl leave"
h_assert_eq 503 "$(h_exec 2 curl -s -o /dev/null --max-time 5 -w '%{http_code}' "$HEALTH")" \
    "GET /health on node 2 after it left"
hbody=$(h_exec 2 curl -s --max-time 5 "$HEALTH" || true)
[[ "$hbody" == "unhealthy: node2 has left the cluster" ]] \
    || h_fail "node 2's /health after leaving: $hbody"

# Node 3: nothing listens (curl exit 7: could not connect).
rc=0
h_exec 3 curl -s -o /dev/null --max-time 5 "$URL" || rc=$?
h_assert_eq 7 "$rc" "curl exit status against node 3 (metrics off)"

# Bind failures. Something else holds 127.0.0.1:7951 in node 3's namespace.
h_stop_node 3 15 || h_fail "node 3 did not stop cleanly"
ip netns exec "$(h_ns 3)" "$PY" -c '
import socket, time
s = socket.socket()
s.bind(("127.0.0.1", 7951))
s.listen(1)
time.sleep(120)
' &
holder=$!
H_STARTED_PIDS+=("$holder")     # the harness's cleanup stops it if we fail
up() {
    h_exec 3 "$PY" -c 'import socket; socket.create_connection(("127.0.0.1", 7951), 1)' 2>/dev/null
}
h_retry 10 up || h_fail "could not occupy 127.0.0.1:7951 in node 3's namespace"
# An explicit address that cannot be bound: exit 1 with a one-line reason.
h_start_node 3 --metrics-listen 127.0.0.1:7951
rc=0
wait "$(h_pid 3)" || rc=$?
H_PID[3]=""
h_assert_eq 1 "$rc" "exit status of a node whose --metrics-listen is taken"
# The reason, then who holds the port and the one-line change
# (node/port_owner.c): the holder here is the python3 above.
grep -qx "shed-node: metrics.listen 127.0.0.1:7951: Address already in use" "$(h_logfile 3)" \
    || h_fail "unexpected start error: $(tail -n 2 "$(h_logfile 3)")"
last=$(tail -n 1 "$(h_logfile 3)")
[[ "$last" == "shed-node: port 7951/tcp (metrics) is held by pid $holder (python3); move the metrics endpoint with 'metrics: {listen: \"127.0.0.1:7952\"}'" ]] \
    || h_fail "the node did not say who holds 7951: $last"
# The default address taken: a warning, and the node runs.
h_start_node 3
h_wait_ready 3 30
grep -q 'metrics endpoint not started, continuing without it' "$(h_logfile 3)" \
    || h_fail "node 3 did not warn that the default metrics address was taken"
kill "$holder" 2>/dev/null || true
wait "$holder" 2>/dev/null || true

h_log "PASS"
