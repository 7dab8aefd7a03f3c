#!/usr/bin/env bash
# sched_e2e.sh: end-to-end scheduling on 3 real shed-node processes in
# network namespaces (integration/harness.sh), netns driver.
#
#   1. latency: N sequential creates (default 30) from rotating nodes, each
#      timed from `shedctl create` to its answer "running" (the reply comes
#      when the shed's init runs); p50 and p99.
#   2. contention: 100 creates at once, 34/33/33 from the 3 nodes, 50 names
#      each asked for twice (from two different nodes), sized so that not
#      all fit (each node: 4 cpus, 4 GiB; each shed 0.25 cpu, 256 MiB).
#      Then, from the replicated records: overcommits = nodes whose
#      admitted sheds exceed their capacity in any resource; duplicate
#      names = names held by more than one shed.
#
# Final line:
#   RESULT create_p50_ms=.. create_p99_ms=.. concurrent_creates=100 placed=..
#          overcommits=.. duplicate_names=..
# Needs root (namespaces, cgroups). Build first (SHED_BUILD_DIR).
set -euo pipefail
export SHED_TEST_DEADLINE=${SHED_TEST_DEADLINE:-600}
export SHED_LOG_LEVEL=${SHED_LOG_LEVEL:-info}
. "$(dirname "$0")/../integration/harness.sh"

N_SEQ=${N_SEQ:-30}
h_init 3

CG=""
bench_cleanup() {
    set +e
    if [[ -n "$CG" ]] && mountpoint -q "$CG"; then
        local d pid
        for d in "$CG"/*/"$H_ID"-node*; do
            [[ -d "$d" ]] || continue
            while read -r pid; do
                [[ -n "$pid" ]] && kill -KILL "$pid" 2>/dev/null
            done < <(find "$d" -name cgroup.procs -exec cat {} + 2>/dev/null)
        done
        sleep 0.3
        for d in "$CG"/*/"$H_ID"-node*; do
            [[ -d "$d" ]] && find "$d" -depth -type d -exec rmdir {} + 2>/dev/null
        done
        umount -R "$CG" 2>/dev/null || umount -l "$CG" 2>/dev/null
        rmdir "$CG" 2>/dev/null
    fi
}
trap 'st=$?; bench_cleanup; (exit $st); h__on_exit' EXIT
CG="$H_TMP/cg"
mkdir -p "$CG"
mount --rbind /sys/fs/cgroup "$CG"
mount --make-rslave "$CG"

for i in 1 2 3; do
    cat >"$H_TMP/n$i/config.yaml" <<EOF
resources:
  cpus: "4"
  memory: 4G
network:
  enabled: false
driver:
  default: netns
  netns_dir: $H_TMP/n$i/netns
  cgroup_root: $CG
  cgroup_parent: $H_ID-node$i
  agent_path: /nonexistent/shed-agent
EOF
done
for i in 1 2 3; do h_start_node "$i" --config "$H_TMP/n$i/config.yaml"; done
for i in 1 2 3; do h_wait_ready "$i"; done
h_wait_members 3 15 || h_fail "3 nodes did not see each other"
sleep 2

list_json() { h_ctl "$1" --json list; }
delete_all() {
    local names
    names=$(list_json 1 | python3 -c 'import json,sys; print(" ".join(s["name"]+"@"+s["node"] for s in json.load(sys.stdin)))')
    local pids=() n
    for n in $names; do
        (set +e; h_ctl 1 delete "$n" >/dev/null 2>&1) &
        pids+=($!)
        if ((${#pids[@]} >= 16)); then wait "${pids[@]}"; pids=(); fi
    done
    ((${#pids[@]})) && wait "${pids[@]}"
    return 0
}

h_log "--- latency: $N_SEQ sequential creates"
: >"$H_TMP/lat"
for ((k = 0; k < N_SEQ; k++)); do
    i=$((k % 3 + 1))
    t0=$(date +%s%N)
    h_ctl "$i" create "lat$k" --cpus 0.1 --memory 64M >/dev/null || h_fail "create lat$k"
    t1=$(date +%s%N)
    echo $(((t1 - t0) / 1000000)) >>"$H_TMP/lat"
done
read -r P50 P99 < <(python3 -c '
import sys
v = sorted(int(x) for x in open(sys.argv[1]))
def pct(p): return v[min(len(v) - 1, int(round(p / 100.0 * (len(v) - 1))))]
print(pct(50), pct(99))' "$H_TMP/lat")
h_log "create to running: p50 ${P50} ms, p99 ${P99} ms (shedctl wall time, incl. process start)"
delete_all

h_log "--- contention: 100 concurrent creates from 3 nodes, 50 names x 2"
pids=()
for ((k = 0; k < 100; k++)); do
    i=$((k % 3 + 1))
    name="c$((k % 50))"
    (set +e; h_ctl "$i" create "$name" --cpus 0.25 --memory 256M --strategy spread \
        >"$H_TMP/c.$k" 2>&1; echo $? >"$H_TMP/c.$k.rc") &
    pids+=($!)
done
wait "${pids[@]}"
ok=0
for ((k = 0; k < 100; k++)); do
    [[ "$(cat "$H_TMP/c.$k.rc")" == 0 ]] && ok=$((ok + 1))
done
sleep 2   # replication settles
list_json 1 >"$H_TMP/after.json"
h_ctl 1 --json state node >/dev/null
read -r PLACED OVER DUPS < <(python3 -c '
import json, sys
sheds = json.load(open(sys.argv[1]))
cap = {"cpus_milli": 4000, "memory_mb": 4096}
per = {}
for s in sheds:
    n = per.setdefault(s["node"], {"cpus_milli": 0, "memory_mb": 0})
    for k in cap: n[k] += s[k]
over = sum(1 for n in per.values() if any(n[k] > cap[k] for k in cap))
names = {}
for s in sheds: names[s["name"]] = names.get(s["name"], 0) + 1
dups = sum(1 for c in names.values() if c > 1)
print(len(sheds), over, dups)' "$H_TMP/after.json")
h_log "creates that succeeded: $ok, sheds placed: $PLACED, overcommitted nodes: $OVER, duplicate names: $DUPS"
# Why the others failed, grouped (names and nodes blanked).
grep -h "shedctl:" "$H_TMP"/c.* | sed -E 's/\bc[0-9]+\b/cN/g; s/node[0-9]/nodeX/g' \
    | sort | uniq -c | sort -rn | head -5 >&2 || true
delete_all
echo "RESULT create_p50_ms=$P50 create_p99_ms=$P99 concurrent_creates=100 placed=$PLACED overcommits=$OVER duplicate_names=$DUPS"
