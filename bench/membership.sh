#!/usr/bin/env bash
# bench/membership.sh [N] [--runs R] [--no-serf] [--quick] [--converge-only]
#
# Membership with N real shed-node processes, each in its own network
# namespace on one bridge (integration/harness.sh topology, underlay
# 198.18.0.0/16, default LAN settings), then the same measurements with
# HashiCorp Serf (`serf agent`, one per namespace, default LAN config) when
# `serf` is installed. N defaults to 32, R to 3.
#
#   converge_ms  p50 over R runs: all N processes are released together
#                (node 1 is the seed, the others --join it; each process is
#                parked on a shared flock until the release, so the launch of
#                N processes through `ip netns exec` is not counted); per
#                node, the first time it holds the N-1 others as members
#                (joined and not failed or left since; from its own log:
#                shed-node `member join|fail|leave` lines with ms time
#                stamps, serf `EventMemberJoin|Failed|Leave` lines stamped as
#                they are written); converge = the max over nodes. Failures
#                seen while converging are printed on the run's '#' line. A run that has not
#                converged after CONVERGE_TIMEOUT s (default 60) counts as
#                that timeout.
#   idle_pkts_per_node_s  UDP datagrams sent from the gossip port (nftables
#                counter `oifname eth0 udp sport 7946` in every namespace),
#                per node per second over IDLE_S s (10) in the settled cluster.
#   false_failures  `member fail` (serf: `EventMemberFailed`) lines over
#                LOSS_S s (60) with 10% random ingress loss on every node
#                (nftables numgen) and no real failure; summed over nodes.
#   detect_ms    p50 over TRIALS (5) trials: `kill -9` of one node (node N,
#                then N-1, ...; no restart, so trial t runs with N-t+1
#                members) until every survivor has logged it failed.
#   fds_per_node_max  the most file descriptors any shed-node process held
#                (/proc/PID/fd), sampled once converged, after the idle and
#                after the loss phases: bounded peer connections
#                (docs/state.md, "Connections per node") keep it flat in N.
#   nodes_lost   shed-node processes that exited on their own before the
#                detection trials (a crash: must be 0).
#
# Prints `RESULT nodes=N converge_ms=.. detect_ms=.. false_failures=..
# idle_pkts_per_node_s=.. fds_per_node_max=.. nodes_lost=..`, then (with serf) `RESULT serf_nodes=N ...` and a
# last combined line with detect_speedup = serf_detect_ms / detect_ms.
# Lines starting with '#' are details (every run, every trial).
#
# Every namespace gets permanent neighbour entries for the others (see
# static_neighbours: the shared ARP table overflows above ~32 nodes).
#
# --quick: 1 run (unless --runs), 2 detection trials, 15 s of loss, 5 s idle.
# --converge-only: only the convergence runs (other fields print '-').
# Env: SHED_BUILD_DIR (default <repo>/build), CONVERGE_TIMEOUT, IDLE_S,
# LOSS_S, TRIALS, LOSS_PCT (10). Needs root, nftables, python3, util-linux
# flock. Everything (namespaces, nftables tables, temp dir, processes) is
# named after this shell's PID and removed on exit by the harness's trap.
set -euo pipefail

N=32
RUNS=3
RUNS_SET=0
SERF=1
QUICK=0
CONVERGE_ONLY=0
while (($#)); do
    case "$1" in
        --runs) RUNS=${2:?--runs needs a number}; RUNS_SET=1; shift 2 ;;
        --no-serf) SERF=0; shift ;;
        --quick) QUICK=1; shift ;;
        --converge-only) CONVERGE_ONLY=1; shift ;;
        -h|--help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
        [0-9]*) N=$1; shift ;;
        *) echo "membership.sh: unknown argument '$1' (see --help)" >&2; exit 2 ;;
    esac
done
((N >= 3 && N <= 200)) || { echo "membership.sh: N must be 3..200" >&2; exit 2; }
TRIALS=${TRIALS:-5}
LOSS_S=${LOSS_S:-60}
IDLE_S=${IDLE_S:-10}
LOSS_PCT=${LOSS_PCT:-10}
CONVERGE_TIMEOUT=${CONVERGE_TIMEOUT:-60}
if ((QUICK)); then
    ((RUNS_SET)) || RUNS=1
    TRIALS=2 LOSS_S=15 IDLE_S=5
fi
if ((SERF)) && ! command -v serf >/dev/null 2>&1; then
    echo "# serf not installed: measuring shed-node only (apt-get install serf)" >&2
    SERF=0
fi
command -v flock >/dev/null || { echo "membership.sh: needs flock (util-linux)" >&2; exit 1; }
command -v nft >/dev/null || { echo "membership.sh: needs nft (nftables)" >&2; exit 1; }

export SHED_LOG_LEVEL=info             # member join lines are info
export SHED_TEST_DEADLINE=${SHED_TEST_DEADLINE:-3600}
# shellcheck source=../integration/harness.sh
. "$(dirname "$0")/../integration/harness.sh"

h_init "$N"
LOCK=$H_TMP/start.lock
PORT=$H_GOSSIP_PORT
CNT_TABLE="${H_ID}_cnt"   # H_ID: the harness's run id, set by h_init
SERF_KEY=""
((SERF)) && SERF_KEY=$(serf keygen)

log() { h_log "$*"; }

# Static neighbours. The kernel's ARP table is one table for all network
# namespaces, and learnt entries count against net.ipv4.neigh.default.
# gc_thresh3 (1024 here) together: N nodes learning each other make N(N-1)
# entries (992 at 32, 4032 at 64), and past the limit the kernel drops
# packets ("neighbour: arp_cache: neighbor table overflow!"): at 64 nodes a
# quarter of the nodes could not reach the seed at all, and concurrent runs
# of anything else on the machine suffer too. Permanent entries are exempt
# from that count, and with them nobody needs to ARP.
static_neighbours() {
    local i j mac=()
    for ((i = 1; i <= N; i++)); do
        mac[i]=$(ip -n "${H_NS[$i]}" -o link show eth0 | sed -n 's/.*link\/ether \([0-9a-f:]*\).*/\1/p')
        [[ -n "${mac[i]}" ]] || h_fail "no MAC for node $i"
    done
    for ((i = 1; i <= N; i++)); do
        for ((j = 1; j <= N; j++)); do
            ((i == j)) || echo "neigh replace $(h_addr "$j") lladdr ${mac[j]} dev eth0 nud permanent"
        done >"$H_TMP/neigh.$i"
        ip -n "${H_NS[$i]}" -batch "$H_TMP/neigh.$i" || h_fail "cannot add static neighbours in node $i"
    done
}

# ---------------------------------------------------------------- helpers ----

# py MODE ARGS...: the log analysis (one process tails every log file).
py() {
    python3 - "$@" <<'EOF'
import calendar, os, re, sys, time

mode, kind = sys.argv[1], sys.argv[2]
args = sys.argv[3:]

SHED_TS = re.compile(r'^ts=(\d{4})-(\d\d)-(\d\d)T(\d\d):(\d\d):(\d\d)\.(\d{3})Z ')
def stamp(line):
    """Epoch seconds of a log line (shed-node: its ts=; serf: our prefix)."""
    if kind == 'shed':
        m = SHED_TS.match(line)
        if not m:
            return None
        y, mo, d, h, mi, s, ms = (int(x) for x in m.groups())
        return calendar.timegm((y, mo, d, h, mi, s)) + ms / 1000.0
    head = line.split(' ', 1)[0]
    try:
        return float(head)
    except ValueError:
        return None

if kind == 'shed':
    UP = lambda name: 'msg="membership started"'
    JOIN = re.compile(r'msg="member join" member=(\S+) ')
    FAIL = re.compile(r'msg="member fail" member=(\S+) ')
    LEAVE = re.compile(r'msg="member leave" member=(\S+) ')
else:
    UP = lambda name: 'serf: EventMemberJoin: %s ' % name
    JOIN = re.compile(r'serf: EventMemberJoin: (\S+) ')
    FAIL = re.compile(r'serf: EventMemberFailed: (\S+) ')
    LEAVE = re.compile(r'serf: EventMemberLeave: (\S+) ')

class Tail:
    def __init__(self, path, offset):
        self.path, self.off, self.buf = path, offset, b''
    def lines(self):
        try:
            with open(self.path, 'rb') as f:
                f.seek(self.off)
                data = f.read()
        except FileNotFoundError:
            return []
        self.off += len(data)
        self.buf += data
        *done, self.buf = self.buf.split(b'\n')
        return [l.decode('utf-8', 'replace') for l in done]

def parse_files(spec):
    """'name:path:offset' triples."""
    out = []
    for s in spec:
        name, path, off = s.rsplit(':', 2)
        out.append((name, Tail(path, int(off))))
    return out

if mode == 'converge':
    # converge KIND N T0 TIMEOUT name:path:off...
    n, t0, timeout = int(args[0]), float(args[1]), float(args[2])
    files = parse_files(args[3:])
    seen = {name: set() for name, _ in files}     # members it has ever seen join
    alive = {name: set() for name, _ in files}    # joined and not failed/left since
    fails = 0
    done, up = {}, {}
    deadline = time.time() + timeout
    while len(done) < len(files) and time.time() < deadline:
        for name, t in files:
            for line in t.lines():
                if name not in up and UP(name) in line:
                    up[name] = stamp(line) or time.time()
                m = FAIL.search(line) or LEAVE.search(line)
                if m:
                    alive[name].discard(m.group(1))
                    fails += 1
                    continue
                m = JOIN.search(line)
                if not m or name in done or m.group(1) == name:
                    continue
                seen[name].add(m.group(1))
                alive[name].add(m.group(1))
                if len(alive[name]) >= n - 1:
                    ts = stamp(line)
                    done[name] = ts if ts is not None else time.time()
        if len(done) < len(files):
            time.sleep(0.05)
    if len(done) < len(files):
        worst = min(files, key=lambda f: len(seen[f[0]]))[0]
        alone = sum(1 for name, _ in files if not seen[name])
        print('timeout %d %s %d %d %d' % (len(done), worst, len(seen[worst]) + 1, alone, fails))
    else:
        last = max(done, key=done.get)
        print('%d %s %d %d %d' % (round((done[last] - t0) * 1000), last,
                                  round((min(done.values()) - t0) * 1000),
                                  round((max(up.values(), default=t0) - t0) * 1000), fails))

elif mode == 'detect':
    # detect KIND VICTIM TKILL TIMEOUT name:path:off...
    victim, tkill, timeout = args[0], float(args[1]), float(args[2])
    files = parse_files(args[3:])
    done = {}
    deadline = time.time() + timeout
    while len(done) < len(files) and time.time() < deadline:
        for name, t in files:
            for line in t.lines():
                m = FAIL.search(line)
                if m and m.group(1) == victim and name not in done:
                    ts = stamp(line)
                    done[name] = ts if ts is not None else time.time()
        if len(done) < len(files):
            time.sleep(0.05)
    if len(done) < len(files):
        print('timeout %d' % len(done))
    else:
        print('%d %d' % (round((max(done.values()) - tkill) * 1000),
                         round((min(done.values()) - tkill) * 1000)))

elif mode == 'count':
    # count KIND name:path:off...  -> fail lines, suspicion-ish lines
    files = parse_files(args)
    fails, names = 0, []
    for name, t in files:
        for line in t.lines():
            m = FAIL.search(line)
            if m:
                fails += 1
                names.append('%s->%s' % (name, m.group(1)))
    print(fails, ','.join(names[:10]))

elif mode == 'median':
    vals = sorted(float(x) for x in args)
    if not vals:
        print('-')
    else:
        k = len(vals)
        med = vals[k // 2] if k % 2 else (vals[k // 2 - 1] + vals[k // 2]) / 2
        print('%d' % round(med))
EOF
}

now() { echo "$EPOCHREALTIME"; }

# fds_sample: FDS_MAX = max(FDS_MAX, fds of every running shed-node).
FDS_MAX=0
fds_sample() {
    local i n pid
    [[ $SYS == shed ]] || return 0
    for ((i = 1; i <= N; i++)); do
        pid=${H_PID[$i]:-}
        [[ -n "$pid" ]] || continue
        # fds come and go while ls reads: its status means nothing here.
        n=$( (ls /proc/"$pid"/fd 2>/dev/null || true) | wc -l)
        ((n > FDS_MAX)) && FDS_MAX=$n
    done
    return 0
}

# nodes_lost: shed-node processes of this run that are gone.
nodes_lost() {
    local i lost=0
    for ((i = 1; i <= N; i++)); do
        [[ -n "${H_PID[$i]:-}" ]] || continue
        kill -0 "${H_PID[$i]}" 2>/dev/null || lost=$((lost + 1))
    done
    echo "$lost"
}
fsize() { stat -c %s "$1" 2>/dev/null || echo 0; }

# run_log i: the log file of node i for the current system and run.
run_log() { echo "$H_TMP/n$1/$SYS.r$RUN.log"; }

# specs: SPECS = name:path:offset for every running node (offset = OFF[i]).
specs() {
    local i
    SPECS=()
    for ((i = 1; i <= N; i++)); do
        [[ -n "${H_PID[$i]:-}" ]] || continue
        SPECS+=("node$i:$(run_log "$i"):${OFF[$i]:-0}")
    done
}
mark_offsets() {
    local i
    for ((i = 1; i <= N; i++)); do OFF[i]=$(fsize "$(run_log "$i")"); done
}

# Start node i (shed or serf) parked on the shared lock: `flock -F` execs the
# program once the lock is free, so the PID we record is the program's.
start_one() {
    local i=$1 log
    log=$(run_log "$i")
    if [[ $SYS == shed ]]; then
        local args=(--name "node$i" --bind "$(h_addr "$i"):$PORT"
                    --data-dir "$(h_datadir "$i")" --log-level info --encrypt "$H_KEY")
        ((i == 1)) || args+=(--join "$(h_addr 1):$PORT")
        ip netns exec "${H_NS[$i]}" flock -s -F "$LOCK" \
            "$H_NODE_BIN" "${args[@]}" >>"$log" 2>&1 {LOCKFD}>&- &
    else
        # serf's log has 1 s time stamps: stamp each line as it is written.
        local args=(agent -node "node$i" -bind "$(h_addr "$i"):$PORT"
                    -rpc-addr 127.0.0.1:7373 -encrypt "$SERF_KEY" -log-level info)
        # -retry-join: the seed may not listen yet when the others start
        # (shed-node retries its seeds too, after 0.5 s).
        ((i == 1)) || args+=(-retry-join "$(h_addr 1):$PORT" -retry-interval 500ms)
        ip netns exec "${H_NS[$i]}" flock -s -F "$LOCK" serf "${args[@]}" \
            > >(while IFS= read -r l; do printf '%s %s\n' "$EPOCHREALTIME" "$l"; done >>"$log") \
            2>&1 {LOCKFD}>&- &
    fi
    H_PID[i]=$!
    H_STARTED_PIDS+=("$!")
}

# start_all: start every node parked, release them together; sets T0.
start_all() {
    local i pid
    exec {LOCKFD}>"$LOCK"
    flock -x "$LOCKFD"
    for ((i = 1; i <= N; i++)); do start_one "$i"; done
    # Wait until every process is parked in flock (comm is flock once
    # `ip netns exec` has exec'd it), then a little more for the flock(2).
    local deadline=$((SECONDS + 30))
    for ((i = 1; i <= N; i++)); do
        pid=${H_PID[$i]}
        while [[ "$(cat /proc/"$pid"/comm 2>/dev/null)" != flock ]]; do
            ((SECONDS < deadline)) || h_fail "node $i (pid $pid) did not reach flock"
            sleep 0.01
        done
    done
    sleep 0.3
    T0=$(now)
    flock -u "$LOCKFD"
    exec {LOCKFD}>&-
}

# stop_all: SIGKILL every node (a fresh cluster per run; nothing to leave).
stop_all() {
    local i pid
    for ((i = 1; i <= N; i++)); do
        pid=${H_PID[$i]:-}
        [[ -n "$pid" ]] || continue
        kill -KILL "$pid" 2>/dev/null || true
        wait "$pid" 2>/dev/null || true
        H_PID[i]=""
    done
    for ((i = 1; i <= N; i++)); do
        rm -rf -- "$(h_datadir "$i")"
        mkdir -p "$(h_datadir "$i")"
        chmod 700 "$(h_datadir "$i")"
    done
}

# Counters of UDP datagrams sent from the gossip port, one table per node.
counters_install() {
    local i
    for ((i = 1; i <= N; i++)); do
        ip netns exec "${H_NS[$i]}" nft -f - <<EOF
add table inet $CNT_TABLE
add chain inet $CNT_TABLE out { type filter hook output priority 0; policy accept; }
add rule inet $CNT_TABLE out oifname "eth0" udp sport $PORT counter
EOF
    done
}
counters_sum() {
    local i sum=0 c
    for ((i = 1; i <= N; i++)); do
        [[ -n "${H_PID[$i]:-}" ]] || continue
        c=$(ip netns exec "${H_NS[$i]}" nft list table inet "$CNT_TABLE" |
            sed -n 's/.*counter packets \([0-9]*\) .*/\1/p')
        sum=$((sum + ${c:-0}))
    done
    echo "$sum"
}

# ------------------------------------------------------------ measurement ----

# measure SYS: the four measurements for one system; sets R_CONV R_DETECT
# R_FALSE R_IDLE.
measure() {
    SYS=$1
    local conv=() out ms
    R_CONV=- R_DETECT=- R_FALSE=- R_IDLE=- R_FDS=- R_LOST=-
    FDS_MAX=0
    for ((RUN = 1; RUN <= RUNS; RUN++)); do
        OFF=()
        start_all
        specs
        out=$(py converge "$SYS" "$N" "$T0" "$CONVERGE_TIMEOUT" "${SPECS[@]}")
        read -r ms last first upms nfail <<<"$out"
        if [[ $ms == timeout ]]; then
            echo "# $SYS run $RUN: not converged after ${CONVERGE_TIMEOUT}s (nodes done, worst node, members it sees, nodes that met nobody, fail/leave observations: ${out#timeout })"
            ms=$((CONVERGE_TIMEOUT * 1000))
        else
            echo "# $SYS run $RUN: converge_ms=$ms (first node done at $first ms, last: $last; every node's membership up by $upms ms; $nfail fail/leave observations while converging)"
        fi
        conv+=("$ms")
        # Settled: links, RPC and bus connections are up by now.
        sleep 3
        fds_sample
        ((RUN == RUNS)) || stop_all
    done
    R_CONV=$(py median x "${conv[@]}")
    echo "# $SYS converge_ms runs: ${conv[*]} (p50 $R_CONV)"
    RUN=$RUNS
    if ((CONVERGE_ONLY)); then
        [[ $SYS == shed ]] && R_FDS=$FDS_MAX R_LOST=$(nodes_lost)
        stop_all
        return
    fi
    if [[ $SYS == shed ]]; then
        # Cross-check with the API on a few nodes.
        for i in 1 $((N / 2)) "$N"; do
            a=$(h_members_alive "$i")
            [[ "$a" == "$N" ]] || echo "# warning: node$i status says members_alive=$a"
        done
    else
        for i in 1 "$N"; do
            a=$(ip netns exec "${H_NS[$i]}" serf members -rpc-addr 127.0.0.1:7373 -status alive | wc -l)
            [[ "$a" == "$N" ]] || echo "# warning: serf node$i lists $a alive"
        done
    fi

    # Idle traffic.
    sleep 3
    local c0 c1 t0 t1
    c0=$(counters_sum); t0=$(now)
    sleep "$IDLE_S"
    c1=$(counters_sum); t1=$(now)
    R_IDLE=$(python3 -c "print('%.2f' % (($c1 - $c0) / $N / ($t1 - $t0)))")
    fds_sample
    echo "# $SYS idle: $((c1 - c0)) datagrams from $N nodes in $(python3 -c "print('%.1f' % ($t1 - $t0))") s"

    # False failures under random loss.
    for ((i = 1; i <= N; i++)); do h_loss "$i" "$LOSS_PCT" 2>/dev/null; done
    mark_offsets
    sleep "$LOSS_S"
    specs
    out=$(py count "$SYS" "${SPECS[@]}")
    for ((i = 1; i <= N; i++)); do h_loss "$i" 0 2>/dev/null; done
    R_FALSE=${out%% *}
    echo "# $SYS loss ${LOSS_PCT}% for ${LOSS_S}s: $R_FALSE fail observations ${out#* }"
    fds_sample
    if [[ $SYS == shed ]]; then
        R_FDS=$FDS_MAX R_LOST=$(nodes_lost)
        echo "# shed: fds_per_node_max=$R_FDS nodes_lost=$R_LOST before the detection trials"
    fi
    sleep 5

    # Failure detection.
    local det=() t victim tk
    for ((t = 0; t < TRIALS; t++)); do
        victim=$((N - t))
        mark_offsets
        tk=$(now)
        kill -KILL "${H_PID[$victim]}"
        wait "${H_PID[$victim]}" 2>/dev/null || true
        H_PID[victim]=""
        specs
        out=$(py detect "$SYS" "node$victim" "$tk" 60 "${SPECS[@]}")
        read -r ms first <<<"$out"
        if [[ $ms == timeout ]]; then
            echo "# $SYS trial $((t + 1)): node$victim not failed everywhere after 60 s ($first survivors)"
            ms=60000
        else
            echo "# $SYS trial $((t + 1)): kill node$victim -> first survivor ${first} ms, all $((N - t - 1)) survivors ${ms} ms"
        fi
        det+=("$ms")
        sleep 3
    done
    R_DETECT=$(py median x "${det[@]}")
    echo "# $SYS detect_ms trials: ${det[*]} (p50 $R_DETECT)"
    stop_all
}

echo "# membership.sh: N=$N runs=$RUNS trials=$TRIALS loss=${LOSS_PCT}%/${LOSS_S}s idle=${IDLE_S}s; $(uname -n), $(nproc) cores, $(date -u +%FT%TZ)"
static_neighbours
counters_install
measure shed
S_CONV=$R_CONV S_DETECT=$R_DETECT S_FALSE=$R_FALSE S_IDLE=$R_IDLE S_FDS=$R_FDS S_LOST=$R_LOST
echo "RESULT nodes=$N converge_ms=$S_CONV detect_ms=$S_DETECT false_failures=$S_FALSE idle_pkts_per_node_s=$S_IDLE fds_per_node_max=$S_FDS nodes_lost=$S_LOST"

if ((SERF)); then
    echo "# serf: $(serf version | head -1) (Debian package $(dpkg-query -W -f='${Version}' serf 2>/dev/null || echo '?'))"
    measure serf
    echo "RESULT serf_nodes=$N serf_converge_ms=$R_CONV serf_detect_ms=$R_DETECT serf_false_failures=$R_FALSE serf_idle_pkts_per_node_s=$R_IDLE"
    speedup=-
    if [[ $S_DETECT != - && $R_DETECT != - ]]; then
        speedup=$(python3 -c "print('%.1f' % ($R_DETECT / max($S_DETECT, 1)))")
    fi
    echo "RESULT nodes=$N converge_ms=$S_CONV detect_ms=$S_DETECT false_failures=$S_FALSE idle_pkts_per_node_s=$S_IDLE fds_per_node_max=$S_FDS nodes_lost=$S_LOST serf_converge_ms=$R_CONV serf_detect_ms=$R_DETECT serf_false_failures=$R_FALSE serf_idle_pkts_per_node_s=$R_IDLE detect_speedup=$speedup"
fi
