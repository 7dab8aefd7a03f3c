#!/usr/bin/env bash
# integration/test_local_hardening.sh: what a local user on a node's host
# could see or break, and names over their limit (issue 12, "Local users on
# the host"; docs/operations.md, "The cluster key"):
#   - a node started with --encrypt KEY (what the harness does): KEY is no
#     longer in /proc/PID/cmdline once the node answers;
#   - --encrypt-file FILE: the keyring is made from FILE's key (the flag
#     comes after the harness's --encrypt, so it wins); FILE readable by
#     others or owned by another uid stops the start with one line, exit 2;
#   - `create` of a 70-character name is refused with the name rule, exit
#     non-zero, and no shed of its first 63 characters appears; `delete` of
#     such a name is refused by the node (the name part over 63);
#   - SIGTERM: exit 0 and the API socket file is gone.
# Needs root; exits 77 (skip) otherwise.
set -euo pipefail
# shellcheck source-path=SCRIPTDIR
. "$(dirname "$0")/harness.sh"

N=2
h_init "$N"

# ---- --encrypt KEY is wiped from the command line ----------------------------
h_start_node 1
h_wait_ready 1 30
pid=$(h_pid 1)
cmdline=$(tr '\0' ' ' <"/proc/$pid/cmdline")
h_log "node 1 cmdline: ${cmdline//$H_KEY/<cluster-key>}"
[[ "$cmdline" == *shed-node* ]] || h_fail "pid $pid is not shed-node: $cmdline"
[[ "$cmdline" == *"--encrypt x"* ]] || h_fail "--encrypt's argument not wiped in place: $cmdline"
[[ "$cmdline" != *"$H_KEY"* ]] || h_fail "the cluster key is still in /proc/$pid/cmdline"

# ---- --encrypt-file -----------------------------------------------------------
keydir="$H_TMP/keys"
mkdir -p "$keydir"
chmod 700 "$keydir"
K2=$("$H_CTL_BIN" keygen) || h_fail "shedctl keygen failed"
keyfile="$keydir/cluster.key"
(umask 077 && printf '%s\n' "$K2" >"$keyfile")

# Refused: readable by others, then owned by another uid. Config errors stop
# the start before any socket is made, so no namespace is needed.
bad_start() {
    local rc=0 out
    out=$("$H_NODE_BIN" --name bad --data-dir "$H_TMP/bad" --encrypt-file "$keyfile" 2>&1) || rc=$?
    h_log "bad key file: rc=$rc: $out"
    h_assert_eq 2 "$rc" "exit status with a bad key file"
    h_assert_eq 1 "$(printf '%s\n' "$out" | wc -l)" "lines printed for a bad key file"
    [[ "$out" == *"$1"* ]] || h_fail "want '$1' in: $out"
    [[ "$out" != *"$K2"* ]] || h_fail "the error printed the key"
}
chmod 644 "$keyfile"
bad_start "mode 0644, expected 0600 or stricter"
chmod 600 "$keyfile"
chown 54321:54321 "$keyfile"
bad_start "owned by uid 54321"
chown 0:0 "$keyfile"

h_start_node 2 --encrypt-file "$keyfile"
h_wait_ready 2 30
keyring=$(h_datadir 2)/keyring
grep -qx "primary $K2" "$keyring" || h_fail "node 2's keyring was not made from --encrypt-file"
h_log "node 2's keyring holds the --encrypt-file key"

# ---- names over the limit -------------------------------------------------------
long=$(printf 'a%.0s' {1..70})
rc=0
out=$(h_ctl 1 create "$long" --cpus 1 --memory 64M 2>&1) || rc=$?
h_log "create of a 70-character name: rc=$rc: $out"
((rc != 0)) || h_fail "create of a 70-character name exited 0"
[[ "$out" == *"name is longer than 63 characters"* ]] || h_fail "create did not give the rule: $out"
list=$(h_ctl 1 list 2>&1) || true
[[ "$list" != *"${long:0:63}"* ]] || h_fail "a shed named by the first 63 characters exists: $list"

rc=0
out=$(h_ctl 1 delete "$long" 2>&1) || rc=$?
h_log "delete of a 70-character name: rc=$rc: $out"
((rc != 0)) || h_fail "delete of a 70-character name exited 0"
[[ "$out" == *"name is longer than 63 characters"* ]] || h_fail "delete did not give the rule: $out"

# ---- a clean stop removes the API socket --------------------------------------------
for i in 1 2; do
    sock="$(h_datadir "$i")/api.sock"
    [[ -S "$sock" ]] || h_fail "node $i: no API socket at $sock while running"
    rc=0
    h_stop_node "$i" 15 || rc=$?
    h_assert_eq 0 "$rc" "node $i exit status after SIGTERM"
    [[ ! -e "$sock" ]] || h_fail "node $i: API socket $sock left after a clean stop"
done
h_log "API sockets removed on a clean stop"

h_log "PASS"
