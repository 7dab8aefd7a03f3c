#!/usr/bin/env bash
# scripts/check-format.sh [--fix]: check (or, with --fix, apply) the tree's
# C style, .clang-format, on every tracked .c and .h file. Exits non-zero
# naming the files clang-format would change.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"
command -v clang-format >/dev/null || { echo "check-format: clang-format not installed (scripts/install-deps.sh)" >&2; exit 1; }
mapfile -t files < <(git ls-files '*.c' '*.h')
if [[ "${1:-}" == --fix ]]; then
    clang-format -i --style=file "${files[@]}"
    exit 0
fi
bad=$(clang-format --dry-run --style=file "${files[@]}" 2>&1 | grep -o '^[^:]*:[0-9]*:[0-9]*: warning' | cut -d: -f1 | sort -u || true)
if [[ -n "$bad" ]]; then
    echo "check-format: these files differ from .clang-format (scripts/check-format.sh --fix):" >&2
    echo "$bad" >&2
    exit 1
fi
echo "check-format: ${#files[@]} files follow .clang-format"
