#!/usr/bin/env bash
# scripts/package.sh [--build-dir DIR] [OUT_DIR]: build the Debian packages
# shed-node, shedctl and shed-agent (CPack's DEB generator, see
# packaging/CMakeLists.txt) into OUT_DIR (default <repo>/dist). Offline: it
# needs only the packages scripts/install-deps.sh installs (dpkg-dev for
# dpkg-shlibdeps comes with build-essential).
#
#   (default)        configure a release build in <repo>/build-pkg from this
#                    tree and build the three binaries (-j nproc)
#   --build-dir DIR  package an existing, already built tree instead (the
#                    test suite packages build/ so nothing is compiled twice)
#
# Then on a host: apt install ./dist/shed-*.deb   (README, "Install on real
# hosts").
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
BUILD=""
OUT=""
while (($#)); do
    case "$1" in
        --build-dir) BUILD=${2:?--build-dir needs a directory}; shift ;;
        -h|--help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
        -*) echo "package.sh: unknown option $1 (try --help)" >&2; exit 2 ;;
        *) OUT=$1 ;;
    esac
    shift
done
OUT=$(realpath -m -- "${OUT:-$ROOT/dist}")

for tool in cmake cpack dpkg-deb dpkg-shlibdeps gzip; do
    command -v "$tool" >/dev/null || {
        echo "package.sh: $tool not found (scripts/install-deps.sh)" >&2
        exit 1
    }
done

if [[ -z $BUILD ]]; then
    BUILD=$ROOT/build-pkg
    # cpack installs without building "all" (tests, benchmarks): only the
    # three binaries are built, just below.
    # Debian's hardening flags (dpkg-buildflags: fortify, stack protector,
    # relro + bindnow, PIE), as a debian/rules build would use.
    export DEB_BUILD_MAINT_OPTIONS=hardening=+all
    CFLAGS="$(dpkg-buildflags --get CFLAGS) $(dpkg-buildflags --get CPPFLAGS)"
    LDFLAGS=$(dpkg-buildflags --get LDFLAGS)
    export CFLAGS LDFLAGS
    cmake -S "$ROOT" -B "$BUILD" -DCMAKE_BUILD_TYPE=RelWithDebInfo \
        -DCMAKE_SKIP_INSTALL_ALL_DEPENDENCY=ON >/dev/null
    cmake --build "$BUILD" -j "${JOBS:-$(nproc)}" --target shed-node shedctl shed-agent
fi
BUILD=$(realpath -- "$BUILD")
[[ -f $BUILD/CPackConfig.cmake ]] || {
    echo "package.sh: $BUILD has no CPackConfig.cmake (not configured from this tree?)" >&2
    exit 1
}

# CPack's scratch space is a private directory, not the build tree, so two
# runs (or a run beside a ctest in the same tree) do not share it.
WORK=$(mktemp -d "${TMPDIR:-/tmp}/shed-package.$$.XXXXXX")
trap 'rm -rf "$WORK"' EXIT
# dpkg-shlibdeps and CPack's stripping run as part of this.
(cd "$WORK" && cpack --config "$BUILD/CPackConfig.cmake" -G DEB -B "$WORK/out") >"$WORK/cpack.log" 2>&1 || {
    cat "$WORK/cpack.log" >&2
    echo "package.sh: cpack failed" >&2
    exit 1
}
mkdir -p "$OUT"
n=0
for deb in "$WORK"/out/*.deb; do
    [[ -e $deb ]] || continue
    cp -- "$deb" "$OUT/"
    echo "$OUT/${deb##*/}"
    n=$((n + 1))
done
if ((n != 3)); then
    echo "package.sh: expected 3 packages, cpack made $n" >&2
    exit 1
fi
