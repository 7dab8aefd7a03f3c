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
if ! [[ "$NODES" =~ ^[0-9]+$ ]] || ((NODES < 1 || NODES > 50)); then
    echo "demo.sh: --nodes must be 1..50" >&2
    exit 2
fi

if [[ $(id -u) -ne 0 ]]; then
    echo "demo.sh: the demo creates network namespaces and needs root (try: sudo $0)" >&2
    exit 77
fi

if ((BUILD_FIRST)); then
    "$ROOT/scripts/install-deps.sh"
    "$ROOT/scripts/build.sh" "$BUILD_DIR"
fi

export SHED_BUILD_DIR=$BUILD_DIR
export SHED_LOG_LEVEL=${SHED_LOG_LEVEL:-info}
# A demo left running has no deadline; --once keeps the harness's default.
((ONCE)) || export SHED_TEST_DEADLINE=0
# shellcheck source-path=SCRIPTDIR/..
. "$ROOT/integration/harness.sh"

h_init "$NODES"
# Ctrl-C is how a demo ends: clean up quietly (no log dump) and exit 0.
trap 'echo; h_log "stopping the cluster"; exit 0' INT TERM

for ((i = 1; i <= NODES; i++)); do h_start_node "$i"; done
for ((i = 1; i <= NODES; i++)); do h_wait_ready "$i" 30; done
h_log "waiting (up to 10 s) for every node to see $NODES alive members"
mrc=0
h_wait_members "$NODES" 10 || mrc=$?
case "$mrc" in
    0) h_log "membership converged: every node sees $NODES alive members" ;;
    1) h_log "membership not converged after 10 s (showing it anyway)" ;;
    *) h_log "nodes do not report a member count (showing status anyway)" ;;
esac

# show: print what every node reports. Returns non-zero if one did not answer.
show() {
    local i rc=0 out
    echo
    echo "shed-cluster demo: $NODES nodes, run $H_ID, $("$H_NODE_BIN" --version)"
    for ((i = 1; i <= NODES; i++)); do
        echo
        echo "=== node $i: $(h_name "$i") at $(h_addr "$i"):$H_GOSSIP_PORT (netns ${H_NS[$i]})"
        echo "\$ shedctl status"
        if ! h_ctl "$i" status; then
            echo "!! node $i did not answer"
            rc=1
        fi
        echo "\$ shedctl members"
        if out=$(h_ctl "$i" members 2>&1); then
            printf '%s\n' "$out"
        else
            printf '(not available: %s)\n' "$(printf '%s' "$out" | head -n 1)"
        fi
    done
    return "$rc"
}

rc=0
show || rc=1

if ((ONCE)); then
    exit "$rc"
fi

cat <<EOF

The cluster is running. Try, in another shell:
  ip netns exec ${H_NS[1]} $H_CTL_BIN --node $(h_endpoint 1) status
  ip netns exec ${H_NS[2]} $H_CTL_BIN --node $(h_endpoint 2) --json members
Node logs: $H_TMP/n<i>/node.log
Press Ctrl-C to stop and remove everything.
EOF

while sleep 1; do
    for ((i = 1; i <= NODES; i++)); do
        if ! h_alive "$i"; then
            h_log "node $i (pid ${H_PID[$i]}) exited unexpectedly"
            exit 1
        fi
    done
done
