#!/usr/bin/env bash
# integration/test_metrics_reference.sh: docs/metrics.md has a row for
# every family the node exports, and no row for a family it does not. The
# families come from the render (node/metrics/node_metrics_render.c): the
# names given to shed_prom_family and the first field of the STATS row
# tables; each must appear as `name` at the start of a table row of the
# reference, and every such row must name one of them, so the two cannot
# drift; and each `reason` value of the row tables is named in its row.
# Needs nothing but the sources; no root.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
render="$ROOT/node/metrics/node_metrics_render.c"
ref="$ROOT/docs/metrics.md"
code=$({
    grep -oE 'shed_prom_family \(prom, "[a-z_][a-z0-9_]*"' "$render" | sed -E 's/.*"([^"]+)"$/\1/'
    grep -oE '^ *\{ "[a-z_][a-z0-9_]*", [CG],' "$render" | sed -E 's/^ *\{ "//; s/".*//'
} | sort -u)
n=$(wc -l <<<"$code")
((n > 100)) || { echo "FAIL: only $n families read from $render: did its format change?" >&2; exit 1; }
# The rows of section "Every family" only (other tables name families too).
# shellcheck disable=SC2016  # the backquotes are markdown, not expansions
docs=$(awk '/^## /{on = ($0 == "## Every family")} on' "$ref" \
    | grep -oE '^\| `(shed|process)_[a-z0-9_]*` \|' | sed -E 's/^\| `//; s/` \|$//' | sort)
bad=0
while read -r f; do
    [[ -n "$f" ]] || continue
    echo "FAIL: family '$f' (node/metrics/node_metrics_render.c) has no row in docs/metrics.md" >&2
    bad=$((bad + 1))
done < <(comm -23 <(echo "$code") <(sort -u <<<"$docs"))
while read -r f; do
    [[ -n "$f" ]] || continue
    echo "FAIL: docs/metrics.md has a row for '$f', which the node does not export" >&2
    bad=$((bad + 1))
done < <(comm -13 <(echo "$code") <(sort -u <<<"$docs"))
dups=$(uniq -d <<<"$docs")
if [[ -n "$dups" ]]; then
    echo "FAIL: docs/metrics.md has more than one row for: $dups" >&2
    bad=$((bad + 1))
fi
# The `reason` values of the STATS row tables ({ "family", C, help,
# "reason", "value", ... }, a row may span lines): each must be named in its
# family's row (as "= value" or ", value"), so a new reason cannot go
# undocumented.
nreasons=0
while read -r fam val; do
    [[ -n "$fam" ]] || continue
    nreasons=$((nreasons + 1))
    row=$(grep -E "^\| \`$fam\` \|" "$ref" || true)
    if ! grep -qE "(=|,) *$val\b" <<<"$row"; then
        echo "FAIL: docs/metrics.md's row for '$fam' does not name reason '$val'" >&2
        bad=$((bad + 1))
    fi
done < <(tr '\n' ' ' <"$render" \
    | grep -oE '\{ "[a-z_0-9]+", [CG], [^{}]*"reason", "[a-z_0-9]+"' \
    | sed -E 's/^\{ "([a-z_0-9]+)".*"reason", "([a-z_0-9]+)"$/\1 \2/')
((nreasons > 20)) || { echo "FAIL: only $nreasons reason values read from $render" >&2; exit 1; }
((bad == 0)) || exit 1
echo "PASS: all $n families of the render have exactly one row in docs/metrics.md, naming all $nreasons reason values of the row tables"
