#!/usr/bin/env bash
# integration/test_cli_help.sh: shedctl's help conventions (as consul and
# nomad users expect): `shedctl help`, `shedctl help COMMAND` and
# `shedctl COMMAND --help` print usage on stdout and exit 0, for every
# command in the table; an unknown command exits 2 with a reason on stderr.
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
echo "PASS: help, help COMMAND and COMMAND --help for $(wc -l <<<"$cmds") commands"
