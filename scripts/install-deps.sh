#!/usr/bin/env bash
# scripts/install-deps.sh [--test] [--demo]: install the Debian 12 packages
# shed-cluster needs. Idempotent and non-interactive: when every package is
# already installed it does nothing (no apt-get update either). Runs as root,
# or through sudo when not root.
#
#   (no option)  what building and running need: the toolchain, the -dev
#                packages of the libraries, and the tools shed-node runs
#                (nft, runc, mkfs.ext4) or tests use (ip, tc)
#   --demo       plus what scripts/demo.sh uses (images, dig, curl, ping)
#   --test       plus every test, fuzz, packaging and benchmark tool
#                (scripts/test.sh and .ci/run use this form; it implies --demo,
#                since integration/test_demo.sh runs the demo)
#
# Nothing installed here may start a service: while apt runs, a policy-rc.d
# refuses every start (invoke-rc.d and deb-systemd-invoke honour it), and
# any systemd unit a package enabled is disabled afterwards (serf, a
# benchmark reference, ships serf.service on shed-node's own gossip port
# 7946: it must never run on a node).
set -euo pipefail

# Build and run.
BASE=(
    build-essential cmake pkg-config      # toolchain
    libczmq-dev libzmq3-dev               # ZeroMQ + czmq
    libsodium-dev                         # crypto
    libssl-dev                            # libcrypto: digests (crypto/digest.c)
    libgcrypt20-dev                       # the overlay's data AEADs (crypto/aead.c)
    libmsgpack-dev                        # msgpack-c (pkg-config: msgpack)
    libcmocka-dev                         # unit tests (CMake requires it to configure)
    libyaml-dev                           # config files
    libmnl-dev                            # netlink
    libnl-3-dev libnl-route-3-dev         # tc rate limits (tbf) over rtnetlink, no exec of tc
    libnftables-dev                       # nftables through libnftables, no shell: shed anti-spoofing, plain-mode member filter
    libcurl4-openssl-dev                  # HTTP client: Firecracker and Shed server drivers
    libmicrohttpd-dev                     # shed-node's /metrics endpoint; HTTP test servers for the drivers
    libarchive-dev                        # node/images: image archives (tar, tar.gz, tar.zst)
    libjansson-dev                        # container driver: the OCI config.json, runc's state and log
    libsystemd-dev                        # sd_notify (Type=notify unit), journald priorities
    iproute2 nftables                     # ip/tc for the tests and operators; nft
    runc                                  # container driver: the OCI runtime (docs/drivers.md)
    e2fsprogs                             # container driver: mkfs.ext4 for each shed's disk
    procps                                # ps/pgrep, sysctl
)

# scripts/demo.sh (and integration/test_demo.sh).
DEMO=(
    iputils-ping                          # the demo pings sheds across nodes
    bind9-dnsutils                        # dig: the demo and integration tests query the catalog's DNS
    curl                                  # scripts/demo.sh and integration tests scrape /metrics
    python3                               # JSON checks in the demo and integration tests
    openssl                               # a self-signed certificate for the remote API (demo, test_http_api.sh)
    file                                  # the demo and tests check that shed-agent is static
    zstd                                  # scripts/build-image.sh: .tar.zst images
    busybox-static                        # scripts/build-image.sh busybox: the tests' tiny image
    mmdebstrap                            # scripts/build-image.sh debian: a minimal Debian root
)

# Tests, fuzzing, packaging, benchmarks (scripts/test.sh).
TEST=(
    clang clang-14 libclang-rt-14-dev     # libFuzzer, ASan/UBSan runtimes for clang
    clang-format                          # the tree's style (.clang-format, scripts/check-format.sh)
    python3-prometheus-client             # integration/test_metrics.sh parses /metrics with the real parser
    tcpdump                               # integration/test_network.sh: no plaintext on the underlay capture
    lintian                               # integration/test_packages.sh: checks the .debs
    systemd-container                     # integration/test_systemd.sh: systemd-nspawn boots a real systemd
    bash-completion                       # test_packages.sh completes with the packaged shedctl completion
    dpkg-dev                              # dpkg-shlibdeps: the .debs' Depends (scripts/package.sh)
    systemd                               # systemd-analyze verify on the unit (test_packages.sh); no daemon started
    iperf3                                # overlay benchmarks (its debconf question defaults to no daemon)
    fastd                                 # bench/overlay.sh's reference tunnel (run by hand, no service)
    dnsmasq-base                          # bench/discovery.sh's DNS reference (binary only, no service)
    serf                                  # bench/membership.sh reference; its serf.service is disabled below
    dnsperf                               # bench/discovery.sh: DNS queries/s against a node and dnsmasq
)

PACKAGES=("${BASE[@]}")
for arg in "$@"; do
    case "$arg" in
        --test) PACKAGES+=("${DEMO[@]}" "${TEST[@]}") ;;
        --demo) PACKAGES+=("${DEMO[@]}") ;;
        -h|--help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
        *) echo "install-deps: unknown option $arg (try --help)" >&2; exit 2 ;;
    esac
done
# Both options may be given: drop duplicates, keep the order.
declare -A seen=()
uniq=()
for pkg in "${PACKAGES[@]}"; do
    [[ -n "${seen[$pkg]:-}" ]] || uniq+=("$pkg")
    seen[$pkg]=1
done
PACKAGES=("${uniq[@]}")

missing=()
for pkg in "${PACKAGES[@]}"; do
    status=$(dpkg-query -W -f='${db:Status-Status}' "$pkg" 2>/dev/null || true)
    [[ "$status" == installed ]] || missing+=("$pkg")
done

if ((${#missing[@]} == 0)); then
    echo "install-deps: all ${#PACKAGES[@]} packages already installed"
    exit 0
fi

SUDO=()
if [[ $(id -u) -ne 0 ]]; then
    if command -v sudo >/dev/null 2>&1; then
        SUDO=(sudo)
    else
        echo "install-deps: need root (or sudo) to install: ${missing[*]}" >&2
        exit 1
    fi
fi

# No service starts while apt runs: policy-rc.d exit 101 = "action
# forbidden" (invoke-rc.d(8)). One already there (a container's) is kept.
POLICY=/usr/sbin/policy-rc.d
OWN_POLICY=0
if [[ ! -e $POLICY ]]; then
    printf '#!/bin/sh\n# scripts/install-deps.sh: no service starts during install\nexit 101\n' |
        "${SUDO[@]}" tee "$POLICY" >/dev/null
    "${SUDO[@]}" chmod 0755 "$POLICY"
    OWN_POLICY=1
    trap '"${SUDO[@]}" rm -f "$POLICY"' EXIT
fi

echo "install-deps: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
"${SUDO[@]}" env DEBIAN_FRONTEND=noninteractive apt-get update -q
"${SUDO[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends \
    -o Dpkg::Options::=--force-confdef -o Dpkg::Options::=--force-confold "${missing[@]}"

# A unit a package enabled would start at the next boot: disable every
# service, socket or timer the packages just installed ship (and stop it,
# should something have started it anyway).
for pkg in "${missing[@]}"; do
    while read -r unit; do
        name=${unit##*/}
        [[ $name == *@.* ]] && continue   # templates are never enabled by a package
        if command -v deb-systemd-helper >/dev/null 2>&1 &&
            "${SUDO[@]}" deb-systemd-helper --quiet was-enabled "$name" 2>/dev/null; then
            echo "install-deps: disabling $name (from $pkg)"
            "${SUDO[@]}" deb-systemd-helper disable "$name" >/dev/null 2>&1 || true
        fi
        if [[ -d /run/systemd/system ]] && systemctl is-active --quiet "$name" 2>/dev/null; then
            "${SUDO[@]}" systemctl stop "$name" || true
        fi
    done < <(dpkg -L "$pkg" 2>/dev/null | grep -E '^(/usr)?/lib/systemd/system/[^/]+\.(service|socket|timer)$' || true)
done
((OWN_POLICY)) && "${SUDO[@]}" rm -f "$POLICY" && trap - EXIT
echo "install-deps: done"
