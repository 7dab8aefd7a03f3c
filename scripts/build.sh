#!/usr/bin/env bash
# scripts/build.sh [BUILD_DIR] [EXTRA CMAKE ARGS...]: configure and build
# shed-cluster with all cores. BUILD_DIR defaults to <repo>/build; a relative
# BUILD_DIR is taken relative to the current directory. Examples:
#   scripts/build.sh
#   scripts/build.sh build-asan -DSHED_SANITIZE=ON
#   CC=clang scripts/build.sh build-fuzz -DSHED_FUZZ=ON
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
BUILD=${1:-$ROOT/build}
(($# > 0)) && shift

cmake -S "$ROOT" -B "$BUILD" "$@"
cmake --build "$BUILD" -j "$(nproc)"
