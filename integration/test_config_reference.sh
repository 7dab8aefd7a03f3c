#!/usr/bin/env bash
# integration/test_config_reference.sh: docs/configuration.md lists every
# key the daemon accepts. The keys come from the directive table
# (node/config_directives.c, the one list the loader reads); each must
# appear as `key` in a table row of the reference, so the two cannot drift.
# Needs nothing but the sources; no root.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
table="$ROOT/node/config_directives.c"
ref="$ROOT/docs/configuration.md"
keys=$(grep -oE '^ *\{ "[a-z_][a-z0-9_.]*",' "$table" | sed -E 's/^ *\{ "//; s/",$//' | sort -u)
n=$(wc -l <<<"$keys")
((n > 50)) || { echo "FAIL: only $n keys read from $table: did its format change?" >&2; exit 1; }
missing=0
while read -r k; do
    if ! grep -qE "^\| \`$k\` \|" "$ref"; then
        echo "FAIL: key '$k' (node/config_directives.c) is not in docs/configuration.md" >&2
        missing=$((missing + 1))
    fi
done <<<"$keys"
((missing == 0)) || exit 1
echo "PASS: all $n keys of the directive table are in docs/configuration.md"
