#!/usr/bin/env bash
# scripts/demo.sh: the main job (the README's run command). Installs the
# dependencies, builds, starts a 3-node shed-cluster in network namespaces
# (integration/harness.sh draws the topology), shows what each node reports
# (`shedctl status`, `shedctl members`), then keeps the cluster running until
# Ctrl-C and removes everything it made.
#
# Usage: scripts/demo.sh [--once] [--no-build] [--nodes N] [--build-dir DIR]
#   --once        show the cluster, then stop it and exit (used by tests);
#                 exit status non-zero if a node did not answer
#   --no-build    use an existing build (no dependency install, no build)
#   --nodes N     number of nodes (default 3)
#   --build-dir   build tree (default <repo>/build, or $SHED_BUILD_DIR)
# Needs root (network namespaces).
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
ONCE=0
BUILD_FIRST=1
NODES=3
BUILD_DIR=${SHED_BUILD_DIR:-$ROOT/build}

while (($#)); do
    case "$1" in
        --once)      ONCE=1 ;;
        --no-build)  BUILD_FIRST=0 ;;
        --nodes)     NODES=${2:?--nodes needs a number}; shift ;;
        --build-dir) BUILD_DIR=${2:?--build-dir needs a directory}; shift ;;
        -h|--help)   sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
        *) echo "demo.sh: unknown option $1 (try --help)" >&2; exit 2 ;;
    esac
    shift
done
# Absolute: the nodes start agents from it after changing directory.
BUILD_DIR=$(realpath -m -- "$BUILD_DIR")
if ! [[ "$NODES" =~ ^[0-9]+$ ]] || ((NODES < 1 || NODES > 50)); then
    echo "demo.sh: --nodes must be 1..50" >&2
    exit 2
fi

if [[ $(id -u) -ne 0 ]]; then
    echo "demo.sh: the demo creates network namespaces and needs root (try: sudo $0)" >&2
    exit 77
fi

if ((BUILD_FIRST)); then
    "$ROOT/scripts/install-deps.sh" --demo
    "$ROOT/scripts/build.sh" "$BUILD_DIR"
fi

export SHED_BUILD_DIR=$BUILD_DIR
export SHED_LOG_LEVEL=${SHED_LOG_LEVEL:-info}
# A demo left running has no deadline; --once keeps the harness's default.
((ONCE)) || export SHED_TEST_DEADLINE=0
# shellcheck source-path=SCRIPTDIR/..
. "$ROOT/integration/harness.sh"

h_init "$NODES"
# SIGPIPE ignored first: with `demo.sh | tee log`, Ctrl-C ends tee too, and
# the echo below would kill this shell before its EXIT trap cleans up.
trap 'trap "" PIPE; echo; h_log "stopping the cluster"; exit 0' INT TERM
h_sheds_init
# Sheds are isolated containers (runc, user namespaces, their own root from
# an image) wherever a runtime is installed; netns (host root, trusted code
# only) otherwise. The image: a tiny busybox root built from Debian's
# busybox-static (scripts/build-image.sh).
if command -v runc >/dev/null 2>&1 && file -L "$H_BUILD/agent/shed-agent" | grep -q 'statically linked'; then
    export H_DRIVER=container
    "$ROOT/scripts/build-image.sh" busybox "$H_TMP/busybox.tar.gz" >/dev/null
else
    export H_DRIVER=netns
    h_log "no runc or no static shed-agent: sheds use the netns driver (host root)"
fi

# Node 1 also serves the remote HTTP API over TLS (docs/api.md): a
# self-signed certificate for its underlay address.
h_http_cert "$(h_addr 1)"
H_API_BASE="https://$(h_addr 1):8443"

# A remote event consumer's identity (its public key goes into node 1's
# events.consumer_keys): section 5 reads the cluster's events with it from
# another host, over CURVE.
"$H_CTL_BIN" keygen --identity "$H_TMP/consumer" >"$H_TMP/consumers"

# Every node: room for a few sheds, the $H_DRIVER driver, shed-agent in each
# shed reporting metrics every second, and a hook that records every failed
# member it hears about. Node 1 also serves remote event consumers.
for ((i = 1; i <= NODES; i++)); do
    remote_yaml=""
    ((i == 1)) && remote_yaml="events:
  consumer_listen: \"$(h_addr 1):7952\"
  consumer_keys: $H_TMP/consumers
http:
  listen: $(h_addr 1):8443
  tls_cert: $H_HTTP_CERT
  tls_key: $H_HTTP_KEY"
    h_sheds_config "$i" "$remote_yaml
agents:
  metrics_interval_ms: 1s
hooks:
  - event: \"member.\"
    command: \"cat >> $H_TMP/n$i/member-hook.log; echo >> $H_TMP/n$i/member-hook.log\"" >/dev/null
    h_start_node "$i" --config "$H_TMP/n$i/config.yaml"
done
for ((i = 1; i <= NODES; i++)); do h_wait_ready "$i" 30; done
h_wait_members "$NODES" 15 || h_log "membership not converged after 15 s (showing it anyway)"

RC=0
# say TITLE: a section banner. run i CMD...: show and run a shedctl command on node i.
say() { printf '\n\033[1m== %s\033[0m\n' "$*"; }
run() {
    local i=$1
    shift
    printf '\n[node%s]$ shedctl %s\n' "$i" "$*"
    h_ctl "$i" "$@" || { echo "!! failed"; RC=1; }
}
# field i SHED FIELD: a field of `list --json` on node i.
field() {
    h_ctl "$1" --json list 2>/dev/null | python3 -c '
import json, sys
for s in json.load(sys.stdin):
    if s["name"] == sys.argv[1]:
        print(s.get(sys.argv[2], "")); break' "$2" "$3"
}
node_index() { echo "${1#node}"; }
# sees i N: node i lists N running sheds (each node learns the others'
# records within milliseconds; the demo shows a settled view).
sees() {
    [[ $(h_ctl "$1" --json list 2>/dev/null | grep -o '"state":"running"' | wc -l) -ge "$2" ]]
}
# sees_service i NAME: node i's catalog has service NAME.
sees_service() { h_ctl "$1" --json services 2>/dev/null | grep -q "\"name\":\"$2\""; }

say "1. Membership: $NODES nodes joined through node1 (SWIM + Lifeguard, keyring-sealed gossip)"
run 1 status
run 2 members

IMAGE_ARGS=()
if [[ "$H_DRIVER" == container ]]; then
    say "2. Images and sheds: a root filesystem imported on every node; sheds made from it, placed across the cluster (spread)"
    for ((i = 1; i <= NODES; i++)); do
        run "$i" image import busybox "$H_TMP/busybox.tar.gz"
    done
    run 1 image list
    IMAGE_ARGS=(--image busybox --disk 1G)
else
    say "2. Sheds: created from node2, placed across the cluster (spread)"
fi
for s in web db cache; do
    run 2 create "$s" --cpus 1 --memory 512M --strategy spread "${IMAGE_ARGS[@]}"
done
for ((i = 1; i <= NODES; i++)); do
    h_retry 5 sees "$i" 3 || echo "!! node$i does not list the 3 sheds after 5 s"
done
run 3 list

say "3. One network: the sheds share an encrypted VXLAN overlay"
run 1 network
web_node=$(field 1 web node)
db_node=$(field 1 db node)
db_ip=$(field 1 db ip)
web_pid=$(h_shed_pid web "$(node_index "$web_node")") || web_pid=""
if [[ -n "$web_pid" && -n "$db_ip" ]]; then
    printf '\n[shed web on %s]$ ping -c 3 %s   # db, on %s\n' "$web_node" "$db_ip" "$db_node"
    h_retry 10 nsenter -t "$web_pid" -n ping -c 1 -W 1 "$db_ip" >/dev/null 2>&1 || true
    nsenter -t "$web_pid" -n ping -c 3 -i 0.2 "$db_ip" || { echo "!! ping failed"; RC=1; }
else
    echo "!! web or db has no address/process"; RC=1
fi

# prov i SHED CMD [args]: show and run CMD inside SHED through its agent
# (the shed's provisioning channel: what code in the shed can do).
prov() {
    local i=$1 shed=$2 cmd=$3
    shift 3
    printf '\n[inside shed %s]$ %s\n' "$shed" "$cmd"
    SHED_CTL_TIMEOUT=30 h_ctl "$i" provision "$shed" --step "$cmd" "$@" 2>/dev/null \
        | sed '/^--- step-[0-9]*: /,$d; s/^\[step-[0-9]*\] //' || true
}
web_i=$(node_index "$web_node")
if [[ "$H_DRIVER" == container ]]; then
    say "3b. Isolation: a shed is a machine of its own (its root, its processes, no host keys)"
    agent_up() { [[ $(h_ctl "$web_i" provision web --step 'echo up' 2>/dev/null) == *up* ]]; }
    h_retry 20 agent_up || echo "!! the agent of web does not answer"
    prov "$web_i" web 'hostname; id -un; grep PRETTY /etc/os-release; df -h / | tail -1'
    prov "$web_i" web 'ps -o pid,user,comm'
    prov "$web_i" web "cat $(h_datadir "$web_i")/keyring || echo 'refused: the node'\''s keyring is not in this shed'" --user root
    printf '\n[host of %s]$ grep Uid /proc/%s/status   # web'\''s PID 1, seen from the host\n' "$web_node" "$web_pid"
    grep Uid "/proc/$web_pid/status" || true
fi

say "4. Service discovery: db registers a service; every node answers DNS for it"
db_i=$(node_index "$db_node")
run "$db_i" services register postgres --port 5432 --address "$db_ip" --shed db --tag primary
h_retry 5 sees_service 3 postgres || echo "!! node3 does not list postgres after 5 s"
run 3 services
if command -v dig >/dev/null 2>&1; then
    # The catalog coalesces zone rebuilds (~100 ms): wait for node1's DNS.
    dns_has() { [[ -n $(h_exec 1 dig -p 8600 @127.0.0.1 +short postgres.service.shed A 2>/dev/null) ]]; }
    h_retry 5 dns_has || true
    printf '\n[node1]$ dig -p 8600 @127.0.0.1 +short postgres.service.shed A / _postgres._tcp SRV\n'
    h_exec 1 dig -p 8600 @127.0.0.1 +short postgres.service.shed A || RC=1
    h_exec 1 dig -p 8600 @127.0.0.1 +short _postgres._tcp.service.shed SRV || RC=1
    printf '[node1]$ dig -p 8600 @127.0.0.1 +short db.shed.shed A\n'
    h_exec 1 dig -p 8600 @127.0.0.1 +short db.shed.shed A || RC=1
fi
if [[ "$H_DRIVER" == container ]]; then
    # From inside a shed: its resolver is its node's gateway (docs/dns.md).
    in_web() { [[ $(h_ctl "$web_i" provision web --step 'nslookup postgres.service.shed' 2>/dev/null) == *"$db_ip"* ]]; }
    h_retry 10 in_web || echo "!! web does not resolve postgres yet"
    prov "$web_i" web 'cat /etc/resolv.conf; nslookup postgres.service.shed'
fi

say "5. Events: agents in the sheds push metrics; any node sees the whole cluster's"
run 3 events --count 4 --timeout 10s metrics.
run 1 top --once
run 2 status web
# A consumer on another host: node 2's namespace, talking only to node 1's
# CURVE consumer endpoint, pinning node 1's key, as the identity made above.
n1_key=$(h_ctl 1 --json status 2>/dev/null | python3 -c 'import json,sys; print(json.load(sys.stdin)["public_key"])' || true)
printf '\n[host of node2]$ shedctl --events tcp://%s:7952 --server-key %s --identity %s events --count 2 --timeout 10s metrics.\n' \
    "$(h_addr 1)" "$n1_key" "$H_TMP/consumer"
h_exec 2 timeout 15 "$H_CTL_BIN" --events "tcp://$(h_addr 1):7952" --server-key "$n1_key" \
    --identity "$H_TMP/consumer" events --count 2 --timeout 10s metrics. \
    || { echo "!! the remote consumer got no events"; RC=1; }
# The same numbers for Prometheus: every node serves /metrics on its own
# 127.0.0.1:7951 (docs/metrics.md).
re='^shed_(members\{status="alive"|sheds\{|overlay_peer_packets_total\{)'
printf "\n[node1]\$ curl -s http://127.0.0.1:7951/metrics | grep -E '%s'\n" "$re"
h_exec 1 curl -s --max-time 5 http://127.0.0.1:7951/metrics | grep -E "$re" \
    || { echo "!! no metrics from node1"; RC=1; }
# No full mesh: a node holds a bounded number of connections whatever the
# cluster's size (links to a random subset, RPC in a small pool, the bus on a
# routing tree; docs/state.md and docs/events.md), shown by the same scrape.
re='^shed_(process_open_fds|state_linked_peers|rpc_connections|bus_connections)[ {]'
printf "\n[node1]\$ curl -s http://127.0.0.1:7951/metrics | grep -E '%s'\n" "$re"
h_exec 1 curl -s --max-time 5 http://127.0.0.1:7951/metrics | grep -E "$re" \
    || { echo "!! no connection metrics from node1"; RC=1; }

if [[ "$H_DRIVER" == container ]]; then
    say "5b. Snapshots and moves: a shed's state captured, copied to another node, and the shed moved with its address"
    prov "$web_i" web 'echo "written before the snapshot" > /notes.txt; cat /notes.txt' --user root
    run 1 snapshot create web --name web-v1
    prov "$web_i" web 'echo "written after the snapshot" > /notes.txt' --user root
    run 3 snapshot list
    # A new shed from the snapshot on another node: the data travels over
    # the node links (snap.read, sha256-checked) before it starts.
    # (On node$NODES when web is not there: section 6 kills that node and
    # shows its sheds unreachable, whatever moves below.)
    other=node$NODES
    [[ "$web_node" == "$other" ]] && other=node1
    run 2 create web-copy --from-snapshot web-v1 --node "$other"
    copy_up() { [[ $(h_ctl "${other#node}" provision web-copy --step 'echo up' 2>/dev/null) == *up* ]]; }
    h_retry 20 copy_up || echo "!! the agent of web-copy does not answer"
    prov "${other#node}" web-copy 'cat /notes.txt'
    # Move db while web pings it: same name, same address, a short gap.
    db_to=node$(((db_i % NODES) + 1))
    [[ "$db_to" == "$web_node" ]] && db_to=node$((((db_i + 1) % NODES) + 1))
    if [[ -n "$web_pid" && -n "$db_ip" ]]; then
        nsenter -t "$web_pid" -n ping -i 0.1 -W 1 "$db_ip" >"$H_TMP/demo-ping.log" 2>&1 &
        demo_ping=$!
        sleep 0.5
        run 1 move db --to "$db_to"
        sleep 1
        kill "$demo_ping" 2>/dev/null || true
        wait "$demo_ping" 2>/dev/null || true
        printf '\n[shed web on %s]$ ping -i 0.1 %s   # db, during its move from %s to %s\n' \
            "$web_node" "$db_ip" "$db_node" "$db_to"
        /usr/bin/python3 - "$H_TMP/demo-ping.log" <<'PY' || true
import re, sys
seqs = [int(m.group(1)) for m in re.finditer(r"icmp_seq=(\d+)", open(sys.argv[1]).read())]
gaps = [b - a for a, b in zip(seqs, seqs[1:])]
print("%d replies, longest gap %d ms, last reply icmp_seq=%d" % (
    len(seqs), (max(gaps) if gaps else 0) * 100, seqs[-1] if seqs else -1))
PY
    fi
    run 1 show db
fi

say "5c. Operating it: a health check for load balancers, latency histograms, a live reload"
# /health answers 200 while the node is a member and its loops run (503
# with the reason otherwise); the create, RPC and DNS latencies are
# Prometheus histograms (docs/metrics.md).
printf '\n[node1]$ curl -s http://127.0.0.1:7951/health\n'
h_exec 1 curl -s --max-time 5 http://127.0.0.1:7951/health || { echo "!! no /health"; RC=1; }
echo
# Creates were asked on node2 (their RPCs too); node1 answered the DNS.
re='^shed_(sched_create|rpc_request)_duration_seconds_(count|sum)'
printf "\n[node2]\$ curl -s http://127.0.0.1:7951/metrics | grep -E '%s'\n" "$re"
h_exec 2 curl -s --max-time 5 http://127.0.0.1:7951/metrics | grep -E "$re" \
    || { echo "!! no latency histograms from node2"; RC=1; }
re='^shed_dns_query_duration_seconds_(count|sum)\{listener="host",transport="udp"'
printf "\n[node1]\$ curl -s http://127.0.0.1:7951/metrics | grep -E '%s'\n" "$re"
h_exec 1 curl -s --max-time 5 http://127.0.0.1:7951/metrics | grep -E "$re" || true
# SIGHUP (systemctl reload) applies what can change at run time: here a
# new tag, which placement constraints see at once (docs/operations.md).
printf 'tags:\n  team: demo\n' >>"$H_TMP/n1/config.yaml"
printf '\n[host of node1]$ echo "tags: {team: demo}" >> node.yaml; kill -HUP %s\n' "$(h_pid 1)"
kill -HUP "$(h_pid 1)"
reloaded() { grep -q 'SIGHUP: configuration reloaded' "$(h_logfile 1)"; }
h_retry 5 reloaded || echo "!! node1 did not log the reload"
grep 'SIGHUP' "$(h_logfile 1)" | tail -2 | cut -c1-160
tagged() { h_ctl 1 --json status 2>/dev/null | grep -q '"team":"demo"'; }
h_retry 5 tagged || echo "!! node1 does not show the new tag"
run 1 status

say "5d. Remote API: HTTPS + tokens on node1, used from node2's host with curl; Shed's own API too"
printf '\n[node1]$ shedctl token create --role operator --name demo\n'
tok_out=$(h_ctl 1 token create --role operator --name demo 2>&1) || { echo "!! token create failed"; RC=1; }
printf '%s\n' "$tok_out"
TOKEN=$(grep -o 'sht_[A-Za-z0-9_-]*' <<<"$tok_out" | head -1)
# api NODE TOKEN METHOD PATH [BODY]: show a curl from NODE's host, run it.
# shellcheck disable=SC2016 # the single quotes are printed, $5 expands
api() {
    printf "\n[host of node%s]\$ curl --cacert api-cert.pem%s -X %s %s%s%s\n" "$1" \
        "${2:+ -H 'Authorization: Bearer sht_...'}" "$3" "$H_API_BASE" "$4" "${5:+ -d '$5'}"
    local out
    out=$(h_api "$@") || { echo "!! curl failed"; RC=1; return 0; }
    head -n -1 <<<"$out" | sed "/^$/d" | cut -c1-300
    echo "HTTP $(tail -n1 <<<"$out")"
}
api 2 "$TOKEN" GET "/v1/members"
api 2 "" GET "/v1/sheds"
# Tokens are cluster-wide (docs/security.md): a read-only one minted on
# node 3 is known on node 1 at once, and a change is beyond it.
printf '\n[node3]$ shedctl token create --role read --name viewer --ttl 1h\n'
RTOKEN=$(h_ctl 3 token create --role read --name viewer --ttl 1h 2>&1 | grep -o 'sht_[A-Za-z0-9_-]*' | head -1)
echo "sht_... (printed once)"
body='{"name": "api-made", "cpus": 1, "memory": "256M"}'
[[ "$H_DRIVER" == container ]] && body='{"name": "api-made", "cpus": 1, "memory": "256M", "image": "busybox", "disk": "1G"}'
api 2 "$RTOKEN" POST "/v1/sheds" "$body"
api 2 "$TOKEN" POST "/v1/sheds" "$body"
api 2 "$TOKEN" GET "/v1/node/tags"
# shedctl itself works remotely: the same commands, the same live phases.
remote=(--addr "$H_API_BASE" --ca-cert "$H_HTTP_CERT")
rbody=(create remote-made --cpus 1 --memory 256M)
[[ "$H_DRIVER" == container ]] && rbody+=(--image busybox --disk 1G)
printf '\n[host of node2]$ SHED_TOKEN=sht_... shedctl --addr %s --ca-cert api-cert.pem %s\n' \
    "$H_API_BASE" "${rbody[*]}"
SHED_TOKEN=$TOKEN h_exec 2 "$H_CTL_BIN" "${remote[@]}" "${rbody[@]}" || { echo "!! remote create failed"; RC=1; }
printf '\n[host of node2]$ shedctl --addr %s ... list\n' "$H_API_BASE"
SHED_TOKEN=$TOKEN h_exec 2 "$H_CTL_BIN" "${remote[@]}" list || { echo "!! remote list failed"; RC=1; }
# Shed's CLI can add this node as a server: its API, Shed's JSON (docs/api.md).
api 2 "" GET "/api/info"
api 2 "$TOKEN" GET "/api/sheds"
api 2 "$TOKEN" DELETE "/v1/sheds/api-made"
api 2 "$TOKEN" DELETE "/api/sheds/remote-made"

say "6. Failure: node$NODES is killed (kill -9); the others notice within seconds"
t0=$(date +%s%3N)
h_kill "$NODES" KILL
for _ in $(seq 1 100); do
    if h_ctl 1 --json members 2>/dev/null | grep -q "\"name\":\"node$NODES\"[^}]*\"status\":\"failed\""; then
        break
    fi
    sleep 0.1
done
echo "node$NODES reported failed on node1 after $(($(date +%s%3N) - t0)) ms"
run 1 members
run 1 list
if [[ -s "$H_TMP/n1/member-hook.log" ]]; then
    printf '\nnode1 ran its member. hook for:\n'
    grep -o '"topic":"[^"]*"' "$H_TMP/n1/member-hook.log" | sort | uniq -c || true
fi

if ((ONCE)); then
    exit "$RC"
fi

cat <<EOF

The cluster is running (node$NODES was killed: restart it with the commands in
integration/harness.sh or just watch the others). Try, in another shell:
  ip netns exec ${H_NS[1]} $H_CTL_BIN --addr $(h_endpoint 1) members
  ip netns exec ${H_NS[2]} $H_CTL_BIN --addr $(h_endpoint 2) list
  ip netns exec ${H_NS[1]} $H_CTL_BIN --addr $(h_endpoint 1) events
Node logs: $H_TMP/n<i>/node.log
Press Ctrl-C to stop and remove everything.
EOF

while sleep 1; do :; done
