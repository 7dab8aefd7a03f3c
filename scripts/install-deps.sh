#!/usr/bin/env bash
# scripts/install-deps.sh: install the Debian 12 packages shed-cluster needs
# to build, test and run its demo. Idempotent and non-interactive: when every
# package is already installed it does nothing (no apt-get update either).
# Runs as root, or through sudo when not root.
set -euo pipefail

PACKAGES=(
    build-essential cmake pkg-config      # toolchain
    clang clang-14 libclang-rt-14-dev     # libFuzzer, ASan/UBSan runtimes for clang
    clang-format                          # the tree's style (.clang-format, scripts/check-format.sh)
    libczmq-dev libzmq3-dev               # ZeroMQ + czmq
    libsodium-dev                         # crypto
    libssl-dev                            # libcrypto: the overlay's data AEADs (crypto/aead.c)
    libmsgpack-dev                        # msgpack-c (pkg-config: msgpack)
    libcmocka-dev                         # unit tests
    libyaml-dev                           # config files
    libmnl-dev                            # netlink
    libnftables-dev                       # nftables through libnftables, no shell: shed anti-spoofing, plain-mode member filter
    libcurl4-openssl-dev                  # HTTP client: Firecracker and Shed server drivers
    libmicrohttpd-dev                     # shed-node's /metrics endpoint; HTTP test servers for the drivers
    iputils-ping                          # overlay and driver tests ping across namespaces
    iproute2 nftables                     # namespaces, veths, bridges, fault injection
    iperf3                                # overlay benchmarks
    fastd                                 # benchmarks only: bench/overlay.sh's reference tunnel (run by hand, no service)
    tcpdump                               # integration/test_network.sh: no plaintext on the underlay capture
    dnsmasq-base                          # DNS benchmark reference (binary only, no service)
    serf                                  # benchmarks only: HashiCorp Serf, bench/membership.sh reference
                                          # (the package enables serf.service; under systemd: systemctl disable --now serf)
    dnsperf                               # bench/discovery.sh: DNS queries/s against a node and dnsmasq
    bind9-dnsutils                        # dig in integration tests (test_services.sh, test_state.sh)
    python3                               # JSON checks in integration tests
    python3-prometheus-client             # integration/test_metrics.sh parses /metrics with the real parser
    curl                                  # integration/test_metrics.sh, scripts/demo.sh: scrape /metrics
    procps                                # ps/pgrep, sysctl
    libarchive-dev                        # node/images: image archives (tar, tar.gz, tar.zst)
    libjansson-dev                        # container driver: the OCI config.json, runc's state and log
    runc                                  # container driver: the OCI runtime (docs/drivers.md)
    e2fsprogs                             # container driver: mkfs.ext4 for each shed's disk
    file                                  # integration tests check that shed-agent is static
    zstd                                  # scripts/build-image.sh: .tar.zst images
    busybox-static                        # scripts/build-image.sh busybox: the tests' tiny image
    mmdebstrap                            # scripts/build-image.sh debian: a minimal Debian root (demo)
)

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

echo "install-deps: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
"${SUDO[@]}" env DEBIAN_FRONTEND=noninteractive apt-get update -q
"${SUDO[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends \
    -o Dpkg::Options::=--force-confdef -o Dpkg::Options::=--force-confold "${missing[@]}"
echo "install-deps: done"
