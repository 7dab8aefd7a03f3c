# shellcheck shell=bash
# integration/harness.sh: multi-host test harness for shed-cluster.
#
# Source it from a bash test script; it is a library, not a program:
#
#     . "$(dirname "$0")/harness.sh"
#     h_init 3                     # namespaces, veths, bridge, traps
#     for i in 1 2 3; do h_start_node "$i"; done
#     for i in 1 2 3; do h_wait_ready "$i"; done
#     h_ctl 2 status --json
#
# Topology built by `h_init N` (P = the PID of the sourcing shell, so that two
# runs on one machine never collide; every name below carries it):
#
#   root namespace: untouched (no links, no routes, no nftables rules of ours)
#
#   +--------------- netns shP-br ---------------+
#   |                                            |
#   |                 bridge br0                 |
#   |        +------------+-----------+          |
#   |        |            |           |          |
#   |       v1           v2    ...   vN          |   veth ends, bridge ports
#   +--------|------------|-----------|----------+
#            |            |           |             veth pairs
#   +--------|---+ +------|-----+ +---|--------+
#   |  eth0      | |  eth0      | |  eth0      |
#   | 198.18.0.11| | 198.18.0.12| | 198.18.0.  |    underlay 198.18.0.0/16
#   |      /16   | |      /16   | |   (10+N)   |
#   |  lo up     | |  lo up     | |  lo up     |
#   | shed-node  | | shed-node  | | shed-node  |    one daemon per namespace
#   | (seed)     | | --join .11 | | --join .11 |    gossip UDP/TCP port 7946
#   +------------+ +------------+ +------------+
#     netns shPn1    netns shPn2    netns shPnN
#
# The bridge lives in its own namespace so nothing is added to the root
# namespace; the veth pairs are created directly inside their namespaces.
# Each node has a data directory, a log file and a local API socket under one
# temporary directory:
#
#   $H_TMP/n<i>/data/api.sock   local API (ipc://), what shedctl talks to
#   $H_TMP/n<i>/node.log        the node's stderr+stdout
#
# All nodes of a run share one cluster key (`shedctl keygen`, kept in $H_KEY,
# passed with --encrypt unless h_start_node's extra args bring their own).
#
# Fault injection uses nftables inside the node namespaces, in tables named
# per run (shP_part for partitions, shP_loss for random loss); deleting the
# namespaces removes them too, but h_heal / h_loss i 0 remove them earlier.
#
# Traffic goes only to addresses inside these namespaces (198.18.0.0/16 for the
# underlay; the overlay, 198.19.0.0/16, lives inside the nodes' namespaces).
#
# Cleanup (h_cleanup, run by the EXIT/INT/TERM traps that h_init installs)
# stops only the processes this harness started, by PID, deletes the
# namespaces (which removes their veths, bridge and nftables tables) and the
# temporary directory. When the script fails, it first prints the last 50
# lines of each node's log. Set SHED_KEEP_TMP=1 to keep the temp dir.
#
# Environment:
#   SHED_BUILD_DIR    build tree holding node/shed-node, node/shedctl
#                     (default: <repo>/build)
#   SHED_NODE_BIN     override the path of shed-node
#   SHEDCTL_BIN       override the path of shedctl
#   SHED_LOG_LEVEL    log level given to nodes (default: debug)
#   SHED_TEST_DEADLINE  seconds after h_init at which the run is aborted
#                     (with cleanup) if it has not finished (default 240;
#                     0 disables). Keeps ctest's hard kill from leaving
#                     namespaces behind.
#   SHED_KEEP_TMP     1 keeps the temporary directory (logs, data dirs)
#   SHED_CTL_TIMEOUT  seconds after which one shedctl call is killed (10)
#   H_UNDERLAY6       1: an IPv6 underlay instead (set before h_init). Each
#                     node's eth0 gets fd00:5ed:Q::(10+i)/64 only (Q: a hex
#                     group derived from the PID, so two runs never share a
#                     prefix; no IPv4 address at all), nodes bind
#                     [that]:7946 and join [node 1's]:7946. h_addr prints the
#                     canonical IPv6 text, h_hostport the [addr]:port form;
#                     h_partition filters with ip6 rules. The overlay inside
#                     the sheds stays IPv4 (198.19.0.0/16).
#
# Exit code 77 means "skipped" (not root, or `ip netns` not usable); ctest is
# told so with SKIP_RETURN_CODE 77.

# ---------------------------------------------------------------- globals ----

H_REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
H_BUILD=$(realpath -m -- "${SHED_BUILD_DIR:-$H_REPO/build}")   # absolute: agents start after a chdir
H_NODE_BIN=${SHED_NODE_BIN:-$H_BUILD/node/shed-node}
H_CTL_BIN=${SHEDCTL_BIN:-$H_BUILD/node/shedctl}
H_GOSSIP_PORT=7946
H_SKIP=77

H_ID=""          # run id, "sh<pid>"
H_N=0            # number of node namespaces
H_TMP=""         # temp dir of this run
H_KEY=""         # cluster key of this run (shedctl keygen), given to every node
H_BRNS=""        # bridge namespace
H_NS=()          # H_NS[i]: namespace of node i
H_PID=()         # H_PID[i]: PID of node i's shed-node, "" when not running
H_STARTED_PIDS=()  # every node PID we started, for cleanup
H_WATCHDOG=""
H_CLEANED=0
H_CREATED_NS=()  # namespaces actually created, in order

# ---------------------------------------------------------------- helpers ----

h_log()  { printf '[harness %s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
h_fail() { printf '[harness] FAIL: %s\n' "$*" >&2; exit 1; }
h_skip() { printf '[harness] SKIP: %s\n' "$*" >&2; exit "$H_SKIP"; }

# h_assert_eq EXPECTED ACTUAL [WHAT]: fail the test unless they are equal.
h_assert_eq() {
    if [[ "$1" != "$2" ]]; then
        h_fail "${3:-value}: expected '$1', got '$2'"
    fi
}

# h_assert_ne A B [WHAT]: fail the test if they are equal.
h_assert_ne() {
    if [[ "$1" == "$2" ]]; then
        h_fail "${3:-value}: expected something other than '$1'"
    fi
}

# h_retry TIMEOUT CMD...: run CMD every 0.2 s until it succeeds or TIMEOUT
# seconds pass. Returns 0 on success, else CMD's last status.
h_retry() {
    local timeout=$1 rc=0
    shift
    local deadline=$((SECONDS + timeout))
    while :; do
        "$@" && return 0
        rc=$?
        ((SECONDS >= deadline)) && return "$rc"
        sleep 0.2
    done
}

# h_retry_eq SECONDS WANT CMD...: h_retry until CMD prints WANT. CMD runs
# again on every try; `h_retry N test "$(cmd)" = x` would run cmd once and
# retry a comparison of its first answer.
h_retry_eq() {
    local timeout=$1 want=$2
    shift 2
    h_retry "$timeout" h__prints "$want" "$@"
}
h__prints() {
    local want=$1
    shift
    [[ "$("$@")" == "$want" ]]
}

H_UNDERLAY6=${H_UNDERLAY6:-0}
# The PID-derived /64 of an IPv6 run (one group, 1..ffff, canonical hex).
h__prefix6() { printf 'fd00:5ed:%x' $(($$ % 65535 + 1)); }
h_addr() {
    if [[ "$H_UNDERLAY6" == 1 ]]; then
        echo "$(h__prefix6)::$((10 + $1))"
    else
        echo "198.18.0.$((10 + $1))"
    fi
}
# h_hostport i [PORT]: node i's underlay address with a port ("[v6]:port"
# for an IPv6 underlay); PORT defaults to the gossip port.
h_hostport() {
    local a
    a=$(h_addr "$1")
    if [[ "$a" == *:* ]]; then echo "[$a]:${2:-$H_GOSSIP_PORT}"; else echo "$a:${2:-$H_GOSSIP_PORT}"; fi
}
h__ipfam() { if [[ "$H_UNDERLAY6" == 1 ]]; then echo ip6; else echo ip; fi; }
h_ns()       { echo "${H_NS[$1]}"; }
h_name()     { echo "node$1"; }
h_datadir()  { echo "$H_TMP/n$1/data"; }
h_logfile()  { echo "$H_TMP/n$1/node.log"; }
h_endpoint() { echo "ipc://$H_TMP/n$1/data/api.sock"; }
h_pid()      { echo "${H_PID[$1]:-}"; }

# h_exec i CMD...: run CMD inside node i's namespace.
h_exec() {
    local i=$1
    shift
    ip netns exec "${H_NS[$i]}" "$@"
}

# h_ctl i ARGS...: run shedctl against node i (inside its namespace), e.g.
# `h_ctl 2 --json status`. Killed after SHED_CTL_TIMEOUT seconds (default 10;
# status 124 then) so a hung call cannot hang the test.
h_ctl() {
    local i=$1
    shift
    timeout "${SHED_CTL_TIMEOUT:-10}" \
        ip netns exec "${H_NS[$i]}" "$H_CTL_BIN" --addr "$(h_endpoint "$i")" "$@"
}

# h_alive i: true if node i's process is still running.
h_alive() {
    local pid=${H_PID[$1]:-}
    [[ -n "$pid" ]] && kill -0 "$pid" 2>/dev/null
}

# ------------------------------------------------------------------ setup ----

# h_check_env: skip (exit 77) unless we can create network namespaces.
h_check_env() {
    if [[ $(id -u) -ne 0 ]]; then
        h_skip "integration tests need root (network namespaces); run as root"
    fi
    if ! command -v ip >/dev/null 2>&1; then
        h_skip "iproute2 (ip) not installed"
    fi
    local probe="sh$$probe"
    if ! ip netns add "$probe" 2>/dev/null; then
        h_skip "'ip netns add' does not work here (no CAP_SYS_ADMIN or no netns support)"
    fi
    ip netns del "$probe" 2>/dev/null || true
}

# h_check_bins: fail unless the binaries exist.
h_check_bins() {
    [[ -x "$H_NODE_BIN" ]] || h_fail "shed-node not found at $H_NODE_BIN (build first, or set SHED_BUILD_DIR)"
    [[ -x "$H_CTL_BIN" ]] || h_fail "shedctl not found at $H_CTL_BIN (build first, or set SHED_BUILD_DIR)"
}

# h_report_stale: namespaces left by runs of this harness whose shell is gone
# (e.g. killed with SIGKILL). Empty ones are removed; the others are listed
# so a person can look (we never end processes we did not start).
h_report_stale() {
    local ns pid
    while read -r ns _; do
        [[ "$ns" =~ ^sh([0-9]+)(n[0-9]+|-br)$ ]] || continue
        pid=${BASH_REMATCH[1]}
        kill -0 "$pid" 2>/dev/null && continue
        if [[ -z "$(ip netns pids "$ns" 2>/dev/null)" ]]; then
            ip netns del "$ns" 2>/dev/null && h_log "removed stale namespace $ns (run $pid is gone)"
        else
            h_log "warning: stale namespace $ns from run $pid still has processes: $(ip netns pids "$ns" | tr '\n' ' ')"
        fi
    done < <(ip netns list 2>/dev/null)
    return 0
}

# h_init N: build the topology above for N nodes and install the traps.
h_init() {
    local n=${1:?usage: h_init N}
    ((n >= 1 && n <= 200)) || h_fail "h_init: N must be 1..200"
    h_check_env
    h_check_bins

    H_ID="sh$$"
    H_N=$n
    H_BRNS="$H_ID-br"
    trap 'h__on_exit' EXIT
    trap 'h_log "interrupted"; exit 130' INT
    trap 'h_log "terminated"; exit 143' TERM

    h_report_stale
    H_TMP=$(mktemp -d "/tmp/shed-it.$$.XXXXXX") || h_fail "mktemp failed"
    # One cluster key for the run: every node is started with it (unless its
    # extra arguments bring their own --encrypt) so they can join each other.
    H_KEY=$("$H_CTL_BIN" keygen) || h_fail "shedctl keygen failed"
    h_log "run $H_ID: $n nodes, temp dir $H_TMP"

    ip netns add "$H_BRNS" || h_fail "cannot create namespace $H_BRNS"
    H_CREATED_NS+=("$H_BRNS")
    ip -n "$H_BRNS" link set lo up
    ip -n "$H_BRNS" link add br0 type bridge || h_fail "cannot create bridge"
    ip -n "$H_BRNS" link set br0 up

    local i ns
    for ((i = 1; i <= n; i++)); do
        ns="${H_ID}n$i"
        H_NS[i]=$ns
        H_PID[i]=""
        ip netns add "$ns" || h_fail "cannot create namespace $ns"
        H_CREATED_NS+=("$ns")
        ip -n "$ns" link set lo up
        ip link add name eth0 netns "$ns" type veth peer name "v$i" netns "$H_BRNS" \
            || h_fail "cannot create veth pair for node $i"
        ip -n "$H_BRNS" link set "v$i" master br0
        ip -n "$H_BRNS" link set "v$i" up
        if [[ "$H_UNDERLAY6" == 1 ]]; then
            # nodad: usable at once (duplicate detection would hold it
            # tentative, and a bind to it fail, for a second or two).
            ip -n "$ns" -6 addr add "$(h_addr "$i")/64" dev eth0 nodad
        else
            ip -n "$ns" addr add "$(h_addr "$i")/16" dev eth0
        fi
        ip -n "$ns" link set eth0 up
        mkdir -p "$H_TMP/n$i/data"
        chmod 700 "$H_TMP/n$i/data"
    done

    local deadline=${SHED_TEST_DEADLINE:-240}
    if ((deadline > 0)); then
        # Runs in the background; sends TERM to this shell, whose trap
        # cleans up. Killed by h_cleanup.
        # A TERM to the watchdog ends its sleep too (no stray sleep left).
        (
            trap 'kill "$sp" 2>/dev/null; exit 0' TERM
            sleep "$deadline" &
            sp=$!
            wait "$sp" || exit 0
            echo "[harness] deadline of ${deadline}s reached, aborting" >&2
            kill -TERM "$$"
        ) &
        H_WATCHDOG=$!
    fi
}

# ------------------------------------------------------------------ nodes ----

# h_start_node i [EXTRA ARGS...]: start shed-node in node i's namespace.
# Node 1 is the seed; the others join it at 198.18.0.11:7946 (h_hostport 1).
# Every node gets
# the run's cluster key ($H_KEY) unless the extra args pass --encrypt.
h_start_node() {
    local i=${1:?usage: h_start_node i [args]}
    shift
    if h_alive "$i"; then
        h_fail "node $i already running (pid ${H_PID[$i]})"
    fi
    local args=(--name "$(h_name "$i")"
                --bind "$(h_hostport "$i")"
                --data-dir "$(h_datadir "$i")"
                --log-level "${SHED_LOG_LEVEL:-debug}")
    if ((i != 1)); then
        args+=(--join "$(h_hostport 1)")
    fi
    if [[ " $* " != *" --encrypt "* ]]; then
        args+=(--encrypt "$H_KEY")
    fi
    local log
    log=$(h_logfile "$i")
    echo "=== $(date "+%F %T") start: shed-node ${args[*]//$H_KEY/<cluster-key>} $*" >>"$log"
    ip netns exec "${H_NS[$i]}" "$H_NODE_BIN" "${args[@]}" "$@" >>"$log" 2>&1 &
    H_PID[i]=$!
    H_STARTED_PIDS+=("$!")
    h_log "node $i started (pid ${H_PID[$i]}, $(h_addr "$i"), ns ${H_NS[$i]})"
}

# h_wait_ready i [TIMEOUT]: wait until `shedctl status` answers for node i.
# Fails at once if the node process exits.
h_wait_ready() {
    local i=${1:?usage: h_wait_ready i [timeout]} timeout=${2:-20}
    local deadline=$((SECONDS + timeout))
    while :; do
        if h_ctl "$i" status >/dev/null 2>&1; then
            h_log "node $i ready"
            return 0
        fi
        if ! h_alive "$i"; then
            h_fail "node $i (pid ${H_PID[$i]:-none}) exited before it was ready"
        fi
        if ((SECONDS >= deadline)); then
            h_fail "node $i not ready after ${timeout}s"
        fi
        sleep 0.1
    done
}

# h_members_alive i: print node i's `members_alive` from `status --json`
# (empty if the node does not report it).
h_members_alive() {
    h_ctl "$1" --json status 2>/dev/null | python3 -c '
import json, sys
try:
    v = json.load(sys.stdin).get("members_alive")
except ValueError:
    v = None
print("" if v is None else v)
'
}

# h_wait_members N [TIMEOUT]: wait until every running node reports N alive
# members. Returns 0 when they do, 1 on timeout, 2 if a node does not report
# the count at all.
h_wait_members() {
    local want=${1:?usage: h_wait_members N [timeout]} timeout=${2:-10}
    local deadline=$((SECONDS + timeout)) i got all
    while :; do
        all=1
        for ((i = 1; i <= H_N; i++)); do
            h_alive "$i" || continue
            got=$(h_members_alive "$i" || true)
            [[ -n "$got" ]] || return 2
            [[ "$got" == "$want" ]] || all=0
        done
        ((all)) && return 0
        ((SECONDS >= deadline)) && return 1
        sleep 0.2
    done
}

# h_kill i [SIG]: send SIG (default KILL) to node i. After KILL the node is
# reaped and marked stopped.
h_kill() {
    local i=${1:?usage: h_kill i [SIG]} sig=${2:-KILL}
    local pid=${H_PID[$i]:-}
    [[ -n "$pid" ]] || h_fail "h_kill: node $i is not running"
    kill -s "$sig" "$pid" 2>/dev/null || true
    h_log "node $i (pid $pid): sent SIG$sig"
    if [[ "$sig" == KILL || "$sig" == 9 ]]; then
        wait "$pid" 2>/dev/null || true
        H_PID[i]=""
    fi
}

# h_stop_node i [TIMEOUT]: SIGTERM node i, wait for it (SIGKILL after TIMEOUT
# seconds, default 10). Returns the node's exit status (137 if killed).
h_stop_node() {
    local i=${1:?usage: h_stop_node i [timeout]} timeout=${2:-10}
    local pid=${H_PID[$i]:-} rc=0
    [[ -n "$pid" ]] || return 0
    kill -TERM "$pid" 2>/dev/null || true
    local deadline=$((SECONDS + timeout))
    while kill -0 "$pid" 2>/dev/null; do
        if ((SECONDS >= deadline)); then
            h_log "node $i (pid $pid) ignored SIGTERM for ${timeout}s: SIGKILL"
            kill -KILL "$pid" 2>/dev/null || true
            break
        fi
        sleep 0.1
    done
    wait "$pid" 2>/dev/null || rc=$?
    H_PID[i]=""
    h_log "node $i (pid $pid) stopped, exit status $rc"
    return "$rc"
}

# ---------------------------------------------------------------- faults -----

# h__nft i SCRIPT: load an nft script inside node i's namespace.
h__nft() {
    ip netns exec "${H_NS[$1]}" nft -f - <<<"$2"
}

h__part_table() { echo "${H_ID}_part"; }
h__loss_table() { echo "${H_ID}_loss"; }

# h_partition i j: drop all traffic between nodes i and j (both directions,
# rules in both namespaces). Cumulative; undone by h_heal.
h_partition() {
    local i=${1:?usage: h_partition i j} j=${2:?usage: h_partition i j}
    local t a b
    t=$(h__part_table)
    for pair in "$i $j" "$j $i"; do
        read -r a b <<<"$pair"
        h__nft "$a" "
add table inet $t
add chain inet $t in  { type filter hook input priority -10; policy accept; }
add chain inet $t out { type filter hook output priority -10; policy accept; }
add rule inet $t in  $(h__ipfam) saddr $(h_addr "$b") drop
add rule inet $t out $(h__ipfam) daddr $(h_addr "$b") drop
" || h_fail "nft: cannot partition $a from $b"
    done
    h_log "partitioned node $i <-> node $j"
}

# h_isolate i: drop all underlay traffic of node i (a partition from everyone).
h_isolate() {
    local i=${1:?usage: h_isolate i} t
    t=$(h__part_table)
    h__nft "$i" "
add table inet $t
add chain inet $t in  { type filter hook input priority -10; policy accept; }
add chain inet $t out { type filter hook output priority -10; policy accept; }
add rule inet $t in  iifname \"eth0\" drop
add rule inet $t out oifname \"eth0\" drop
" || h_fail "nft: cannot isolate node $i"
    h_log "isolated node $i"
}

# h_heal: remove every partition (not the loss rules).
h_heal() {
    local i t
    t=$(h__part_table)
    for ((i = 1; i <= H_N; i++)); do
        ip netns exec "${H_NS[$i]}" nft delete table inet "$t" 2>/dev/null || true
    done
    h_log "partitions healed"
}

# h_loss i PCT [in|out|both]: drop PCT% of node i's underlay packets at
# random (nftables numgen), on ingress by default. Applying it on every node
# with the default direction loses PCT% of every packet once. PCT 0 removes it.
h_loss() {
    local i=${1:?usage: h_loss i PCT [dir]} pct=${2:?usage: h_loss i PCT [dir]} dir=${3:-in}
    local t rules=""
    t=$(h__loss_table)
    ip netns exec "${H_NS[$i]}" nft delete table inet "$t" 2>/dev/null || true
    if ! [[ "$pct" =~ ^[0-9]+$ ]] || ((pct > 100)); then
        h_fail "h_loss: PCT must be 0..100"
    fi
    if ((pct == 0)); then
        h_log "node $i: no loss"
        return 0
    fi
    case "$dir" in
        in)   rules="add rule inet $t in iifname \"eth0\" numgen random mod 100 < $pct drop" ;;
        out)  rules="add rule inet $t out oifname \"eth0\" numgen random mod 100 < $pct drop" ;;
        both) rules="add rule inet $t in iifname \"eth0\" numgen random mod 100 < $pct drop
add rule inet $t out oifname \"eth0\" numgen random mod 100 < $pct drop" ;;
        *)    h_fail "h_loss: direction must be in, out or both" ;;
    esac
    h__nft "$i" "
add table inet $t
add chain inet $t in  { type filter hook input priority -20; policy accept; }
add chain inet $t out { type filter hook output priority -20; policy accept; }
$rules
" || h_fail "nft: cannot set loss on node $i"
    h_log "node $i: ${pct}% random loss ($dir)"
}

# ----------------------------------------------------------------- events ----

# h_consume i FILE ARGS...: run `shedctl events --json ARGS` on node i in the
# background, output in FILE (stderr in FILE.err); its PID goes to
# H_CONSUME_PID and to the cleanup list, so a failed run still stops it.
# Give it --count/--timeout: it is killed after SHED_CTL_TIMEOUT (90) s.
H_CONSUME_PID=""
h_consume() {
    local i=$1 out=$2
    shift 2
    SHED_CTL_TIMEOUT=${SHED_CTL_TIMEOUT:-90} h_ctl "$i" events --json "$@" >"$out" 2>"$out.err" &
    H_CONSUME_PID=$!
    H_STARTED_PIDS+=("$H_CONSUME_PID")
}

# h_check_events FILE PYTHON: run the check (a python snippet over `events`,
# the list of JSON objects read from FILE, with fail(msg)) and h_fail with
# its message and the last events.
h_check_events() {
    local file=$1 code=$2 why
    if ! why=$(python3 - "$file" 2>&1 <<EOF
import json, sys
events = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
def fail(msg):
    sys.exit(msg + "\n" + "\n".join(json.dumps(e) for e in events[-20:]))
$code
EOF
    ); then
        h_fail "$file: $why"
    fi
}

# ------------------------------------------------------------------ sheds ----

# h_sheds_init: let this run's nodes run sheds with the netns driver.
# Processes started by `ip netns exec` see an empty /sys/fs/cgroup (it
# remounts /sys), so the nodes get the real hierarchy through a bind mount
# under the run's temp dir, and each node its own parent cgroup named after
# the run. Cleanup (h_cleanup) kills what is left in those cgroups, by PID
# from cgroup.procs (shed processes outlive their node on purpose), removes
# the cgroups and the mounts.
H_CG=""
h_sheds_init() {
    # Container sheds: the shed's root (an unprivileged uid) must walk to
    # its bundle under the node's data dir (docs/drivers.md).
    chmod o+x "$H_TMP" "$H_TMP"/n* 2>/dev/null || true
    H_CG="$H_TMP/cg"
    mkdir -p "$H_CG"
    mount --rbind /sys/fs/cgroup "$H_CG" || { H_CG=""; h_skip "cannot bind-mount /sys/fs/cgroup"; }
    mount --make-rslave "$H_CG"
}

# h_sheds_config i [EXTRA_YAML]: write node i's config for sheds (small
# capacities, the H_DRIVER driver (default netns; container: see
# h_container_init) in the run's dirs, shed-agent from the build) and print
# its path; EXTRA_YAML is appended as is. Each node gets its own uid ranges
# for container sheds (id_base), as nodes on separate hosts would not share
# any: 256 ranges of 65536 ids per node.
h_sheds_config() {
    local i=${1:?usage: h_sheds_config i [yaml]} extra=${2:-}
    local f="$H_TMP/n$i/config.yaml"
    cat >"$f" <<EOF
resources:
  cpus: "4"
  memory: 4G
  disk: 20G
driver:
  default: ${H_DRIVER:-netns}
  netns_dir: $H_TMP/n$i/netns
  cgroup_root: $H_CG
  cgroup_parent: $H_ID-node$i
  agent_path: $H_BUILD/agent/shed-agent
  runtime_root: $H_TMP/runc
  id_base: $((0x70000000 + i * 0x01000000))
$extra
EOF
    echo "$f"
}

# h_metrics i: node i's Prometheus exposition (the default metrics.listen,
# 127.0.0.1:7951 in its namespace); non-zero when it does not answer.
h_metrics() { h_exec "$1" curl -sS --max-time 10 http://127.0.0.1:7951/metrics; }

# ---- the remote HTTP API (docs/api.md) -----------------------------------------
# h_http_cert ADDR: a self-signed certificate for https://ADDR (SAN IP ADDR)
# in H_HTTP_CERT, its key in H_HTTP_KEY (mode 600). Needs openssl.
H_HTTP_CERT=""
H_HTTP_KEY=""
h_http_cert() {
    local addr=${1:?usage: h_http_cert ADDR}
    command -v openssl >/dev/null 2>&1 || h_skip "openssl not installed (scripts/install-deps.sh)"
    H_HTTP_CERT="$H_TMP/api-cert.pem"
    H_HTTP_KEY="$H_TMP/api-key.pem"
    openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 1 \
        -subj "/CN=shed-node" -addext "subjectAltName=IP:$addr" \
        -keyout "$H_HTTP_KEY" -out "$H_HTTP_CERT" 2>/dev/null \
        || h_fail "openssl could not make a certificate"
    chmod 600 "$H_HTTP_KEY"
}

# h_api NODE TOKEN METHOD PATH [BODY]: curl from NODE's namespace against
# $H_API_BASE (https, H_HTTP_CERT trusted); prints the body, then the status
# code on its own line. TOKEN "" sends none.
H_API_BASE=""
h_api() {
    local i=$1 tok=$2 method=$3 path=$4 body=${5:-}
    local args=(-sS --max-time 40 --cacert "$H_HTTP_CERT" -X "$method" -w '\n%{http_code}')
    [[ -n "$tok" ]] && args+=(-H "Authorization: Bearer $tok")
    [[ -n "$body" ]] && args+=(-H 'Content-Type: application/json' --data-binary "$body")
    h_exec "$i" curl "${args[@]}" "$H_API_BASE$path"
}
# h_expect STATUS OUTPUT [WHAT]: the last line of h_api's OUTPUT is STATUS.
h_expect() {
    local want=$1 out=$2 what=${3:-request}
    [[ "$(tail -n1 <<<"$out")" == "$want" ]] || h_fail "$what: expected $want, got: $out"
}
# h_jget OUTPUT EXPR: a Python expression over the JSON body d of OUTPUT.
h_jget() { head -n -1 <<<"$1" | /usr/bin/python3 -c "import json,sys; d=json.load(sys.stdin); print($2)"; }

# h_container_require [h_skip|h_fail]: what container sheds need on this
# machine: a static shed-agent in the build (it is bound into every shed as
# PID 1), runc and busybox-static (the test image). Tests skip without them
# (the default), benchmarks pass h_fail.
h_container_require() {
    local no=${1:-h_skip}
    [[ -x "$H_BUILD/agent/shed-agent" ]] || "$no" "shed-agent not built in $H_BUILD"
    file -L "$H_BUILD/agent/shed-agent" | grep -q 'statically linked' \
        || "$no" "shed-agent is not static (sanitizer build?)"
    command -v runc >/dev/null 2>&1 || "$no" "no runc (apt-get install runc)"
    [[ -x /bin/busybox ]] || "$no" "no busybox-static"
}

# h_container_init: after h_init and h_sheds_init, make the run's sheds
# container sheds (H_DRIVER=container) and build the busybox test image
# into $H_TMP/busybox.tar.gz (scripts/build-image.sh).
h_container_init() {
    export H_DRIVER=container
    "$H_REPO/scripts/build-image.sh" busybox "$H_TMP/busybox.tar.gz" >/dev/null \
        || h_fail "scripts/build-image.sh busybox"
}

# h_import_busybox N: import the busybox image on nodes 1..N (running).
h_import_busybox() {
    local i
    for ((i = 1; i <= $1; i++)); do
        h_ctl "$i" image import busybox "$H_TMP/busybox.tar.gz" >/dev/null \
            || h_fail "image import on node $i"
    done
}

# h_shed_pid NAME NODE_INDEX: PID of a shed's init (from its cgroup).
h_shed_pid() {
    local f
    f=$(ls "$H_CG"/*/"$H_ID-node$2/$1/cgroup.procs" 2>/dev/null | head -1)
    [[ -n "$f" ]] && head -1 "$f"
}

h__sheds_cleanup() {
    [[ -n "$H_CG" ]] || return 0
    local d pid
    if mountpoint -q "$H_CG"; then
        for d in "$H_CG"/*/"$H_ID"-node*; do
            [[ -d "$d" ]] || continue
            while read -r pid; do
                [[ -n "$pid" ]] && kill -KILL "$pid" 2>/dev/null
            done < <(find "$d" -name cgroup.procs -exec cat {} + 2>/dev/null)
        done
        sleep 0.3
        for d in "$H_CG"/*/"$H_ID"-node*; do
            [[ -d "$d" ]] || continue
            find "$d" -depth -type d -exec rmdir {} + 2>/dev/null
        done
        umount -R "$H_CG" 2>/dev/null || umount -l "$H_CG" 2>/dev/null
    fi
    # Network namespace files of sheds are bind mounts under the run's dir.
    findmnt -rn -o TARGET 2>/dev/null | grep "^$H_TMP/" | sort -r | while read -r d; do
        umount -l "$d" 2>/dev/null
    done
    H_CG=""
}

# ---------------------------------------------------------------- cleanup ----

# h_dump_logs [LINES]: print the tail of every node's log.
h_dump_logs() {
    local lines=${1:-50} i f
    for ((i = 1; i <= H_N; i++)); do
        f=$(h_logfile "$i")
        [[ -f "$f" ]] || continue
        echo "----- node $i ($(h_name "$i")): last $lines lines of $f -----" >&2
        tail -n "$lines" "$f" >&2
    done
    echo "----- end of node logs -----" >&2
}

# h_cleanup [STATUS]: stop our processes, delete namespaces and temp dir.
# Idempotent. With a non-zero STATUS, print node logs first.
h_cleanup() {
    local status=${1:-0}
    ((H_CLEANED)) && return 0
    H_CLEANED=1
    # Cleanup must run to the end even when single steps fail (a node that
    # already exited, a namespace already gone): no errexit in here.
    local had_errexit=0
    [[ $- == *e* ]] && had_errexit=1
    set +e
    trap - INT TERM
    # Output may go to a pipe that is gone (`| tee` ended by Ctrl-C): a
    # write must fail quietly, never end the cleanup by SIGPIPE.
    trap '' PIPE
    if ((status != 0)) && [[ -n "$H_TMP" ]]; then
        h_dump_logs 50
    fi

    local i pid
    if [[ -n "$H_WATCHDOG" ]]; then
        kill -TERM "$H_WATCHDOG" 2>/dev/null || true
        wait "$H_WATCHDOG" 2>/dev/null || true
        H_WATCHDOG=""
    fi

    # Nodes: SIGTERM, up to 5 s grace, then SIGKILL; only PIDs we started.
    for ((i = 1; i <= H_N; i++)); do
        pid=${H_PID[$i]:-}
        if [[ -n "$pid" ]]; then
            kill -TERM "$pid" 2>/dev/null
        fi
    done
    local deadline=$((SECONDS + 5)) alive
    while :; do
        alive=0
        for pid in "${H_STARTED_PIDS[@]}"; do
            kill -0 "$pid" 2>/dev/null && alive=1
        done
        ((alive == 0 || SECONDS >= deadline)) && break
        sleep 0.1
    done
    for pid in "${H_STARTED_PIDS[@]}"; do
        if kill -0 "$pid" 2>/dev/null; then
            h_log "pid $pid still running: SIGKILL"
            kill -KILL "$pid" 2>/dev/null || true
        fi
        wait "$pid" 2>/dev/null || true
    done

    h__sheds_cleanup

    # Namespaces: deleting them removes the veths, the bridge and the
    # nftables tables inside them.
    local ns
    for ns in "${H_CREATED_NS[@]}"; do
        ip netns del "$ns" 2>/dev/null || h_log "warning: could not delete namespace $ns"
    done
    H_CREATED_NS=()

    if [[ -n "$H_TMP" && -d "$H_TMP" ]]; then
        if [[ "${SHED_KEEP_TMP:-0}" == 1 ]]; then
            h_log "kept $H_TMP"
        else
            rm -rf -- "$H_TMP"
        fi
    fi
    h_log "cleaned up run $H_ID"
    ((had_errexit)) && set -e
    return 0
}

h__on_exit() {
    local status=$?
    set +e
    h_cleanup "$status"
    exit "$status"
}
