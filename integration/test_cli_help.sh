#!/usr/bin/env bash
# integration/test_cli_help.sh: shedctl's help conventions (as consul and
# nomad users expect): `shedctl help`, `shedctl help COMMAND` and
# `shedctl COMMAND --help` print usage on stdout and exit 0, for every
# command in the table; an unknown command exits 2 with a reason on stderr.
# Every time flag takes a duration with a unit (a bad one is refused before
# anything is sent); --addr / SHED_ADDR pick the node's API, the old global
# --node still works before the command with a warning.
# No node is needed (nothing is sent: --help never runs the command).
set -euo pipefail
CTL=${SHED_BUILD_DIR:-$(cd "$(dirname "$0")/.." && pwd)/build}/node/shedctl
[[ -x "$CTL" ]] || { echo "SKIP: $CTL not built" >&2; exit 77; }
fail() { echo "FAIL: $*" >&2; exit 1; }
out=$("$CTL" help) || fail "shedctl help exited $?"
[[ "$out" == usage:* ]] || fail "shedctl help: no usage on stdout"
# The commands, as the full usage lists them ("  NAME ..." lines).
cmds=$(sed -n '/^commands:/,$p' <<<"$out" | grep -oE '^  [a-z][a-z-]*' | tr -d ' ' | sort -u)
(($(wc -l <<<"$cmds") >= 20)) || fail "only $(wc -l <<<"$cmds") commands in shedctl help"
for c in $cmds; do
    err=$(mktemp)
    a=$("$CTL" help "$c" 2>"$err") || fail "shedctl help $c exited $?"
    b=$("$CTL" "$c" --help 2>>"$err") || fail "shedctl $c --help exited $?"
    [[ ! -s "$err" ]] || fail "shedctl help $c wrote to stderr: $(cat "$err")"
    rm -f "$err"
    [[ "$a" == "usage: shedctl $c"* ]] || fail "shedctl help $c: $a"
    [[ "$a" == "$b" ]] || fail "shedctl $c --help differs from shedctl help $c"
done
rc=0
"$CTL" help nosuch >/dev/null 2>&1 || rc=$?
((rc == 2)) || fail "shedctl help nosuch exited $rc, not 2"
rc=0
"$CTL" nosuch >/dev/null 2>&1 || rc=$?
((rc == 2)) || fail "shedctl nosuch exited $rc, not 2"

# Durations (common/duration.h): every time flag takes a unit, a bad one is
# refused before anything is sent, naming the flag and the forms that work.
# NOSOCK: no node there, so a flag that parses ends in "not running".
NOSOCK="ipc://$(mktemp -u /tmp/shedctl-cli.XXXXXX)/api.sock"
# bad ARGS...: exits 1 with "invalid duration" and the hint on stderr.
bad() {
    local err rc=0
    err=$("$CTL" --addr "$NOSOCK" "$@" 2>&1 >/dev/null) || rc=$?
    ((rc == 1)) || fail "shedctl $* exited $rc, not 1"
    [[ "$err" == *"invalid duration"*"use a number with a unit: 500ms, 5s, 2m, 1h"* ]] ||
        fail "shedctl $*: '$err'"
}
# parses ARGS...: the flags were taken (the call then fails: no node).
parses() {
    local err
    err=$("$CTL" --addr "$NOSOCK" "$@" 2>&1 >/dev/null) && fail "shedctl $* found a node"
    [[ "$err" == *"not running"* ]] || fail "shedctl $*: '$err'"
}
bad --timeout 5x status
bad --timeout 5s1m status
bad events --timeout 1.5ms
bad top --interval fast
bad provision s1 --step true --timeout-run 10q
bad services register web --port 80 --check-tcp 127.0.0.1:80 --interval 10x
bad create s1 --wait soon
for t in 500ms 5s 2m 1m30s 1.5s 250; do parses --timeout "$t" status; done
parses events --timeout 1m30s
parses events --timeout 2
parses top --interval 500ms
parses create s1 --wait 0 --quiet
err=$("$CTL" --addr "$NOSOCK" --timeout 2h status 2>&1) && fail "--timeout 2h accepted"
[[ "$err" == *"'2h' is outside 1ms..1h"* ]] || fail "--timeout 2h: '$err'"

# --addr (and SHED_ADDR) picks the API; a socket path works too. The old
# global --node still works before the command, with a warning; create's
# --node NODE is placement, not an endpoint.
err=$("$CTL" --addr "${NOSOCK#ipc://}" status 2>&1) && fail "status found a node"
[[ "$err" == *"no API socket at ${NOSOCK#ipc://}"* ]] || fail "--addr PATH: '$err'"
err=$(SHED_ADDR="$NOSOCK" "$CTL" status 2>&1) && fail "status found a node"
[[ "$err" == *"no API socket at ${NOSOCK#ipc://}"* ]] || fail "SHED_ADDR: '$err'"
err=$("$CTL" --addr node1 status 2>&1) && fail "--addr node1 accepted"
[[ "$err" == *"--addr: expected ipc:///PATH, a socket path or https://HOST:PORT"* ]] ||
    fail "--addr node1: '$err'"
# remote mode (docs/cli.md): a token is required, plain http only to loopback,
# an unreachable node is one line
err=$(env -u SHED_TOKEN -u SHED_TOKEN_FILE "$CTL" --addr https://127.0.0.1:9 status 2>&1) &&
    fail "no token accepted"
[[ "$err" == *"needs a token"* ]] || fail "https without a token: '$err'"
err=$("$CTL" --addr http://198.18.200.1:9 --token sht_x status 2>&1) && fail "plain http accepted"
[[ "$err" == *"plain http:// only to a loopback address"* ]] || fail "plain http: '$err'"
err=$("$CTL" --addr http://127.0.0.1:9 --token sht_x status 2>&1) && fail "nothing listens on :9"
[[ "$err" == *"cannot connect to http://127.0.0.1:9"* && $(wc -l <<<"$err") == 1 ]] ||
    fail "unreachable: '$err'"
err=$("$CTL" --node "$NOSOCK" status 2>&1) && fail "status found a node"
[[ "$err" == *"--node ENDPOINT before the command is deprecated: use --addr"* ]] ||
    fail "--node before the command: no deprecation warning: '$err'"
[[ "$err" == *"no API socket at ${NOSOCK#ipc://}"* ]] || fail "--node ENDPOINT not used: '$err'"
# hooks run with SHED_NODE=<node name>: never taken for an endpoint
err=$(SHED_NODE=node1 SHED_ADDR="$NOSOCK" "$CTL" status 2>&1) && fail "status found a node"
[[ "$err" != *deprecated* ]] || fail "SHED_NODE=node1 warned: '$err'"
err=$(SHED_NODE=node1 "$CTL" --addr "$NOSOCK" create s1 --node node2 --wait 0 2>&1) &&
    fail "create found a node"
[[ "$err" != *deprecated* && "$err" == *"not running"* ]] || fail "create --node: '$err'"
# a create's progress follows the bus quietly: the reason comes once
(($(grep -c "not running" <<<"$err") == 1)) || fail "create: the reason more than once: '$err'"
echo "PASS: help, help COMMAND and COMMAND --help for $(wc -l <<<"$cmds") commands; durations; --addr"
