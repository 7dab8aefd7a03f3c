#!/usr/bin/env bash
# integration/test_packages.sh: the Debian packages (scripts/package.sh,
# packaging/) built from this build tree and checked:
#   1. three .debs: shed-node, shedctl, shed-agent, with what each must hold
#      (binaries, the unit, the conffile, completion, docs) and Depends from
#      dpkg-shlibdeps (runtime libraries, no -dev; none for the static agent)
#   2. lintian: no error or warning (overrides in packaging/deb/*.lintian-
#      overrides, each with its reason)
#   3. apt can install them here (`apt-get -s install ./*.deb`: the README's
#      `apt install ./dist/shed-*.deb`, simulated)
#   4. unpacked into a throwaway root: shed-node --version, shedctl
#      --version, shed-agent static; the daemon's config check on the shipped
#      configuration (when the build has --check-config); bash completion
#      completes commands
#   5. the unit: systemd-analyze verify, pointed at the unpacked binary
#   6. under a real systemd (PID 1), the unit starts the unpacked daemon
#      (Type=notify READY), the API socket is the shed group's, a restart
#      brings it back and shedctl answers; elsewhere it says why not and
#      skips only this part
# Exit 77 (skipped) when a packaging tool is missing.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
BUILD=${SHED_BUILD_DIR:-$ROOT/build}
T0=$SECONDS

log()  { printf '[packages %s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
fail() { printf '[packages] FAIL: %s\n' "$*" >&2; exit 1; }
skip() { printf '[packages] SKIP: %s\n' "$*" >&2; exit 77; }

for tool in cpack dpkg-deb dpkg-shlibdeps lintian apt-get file; do
    command -v "$tool" >/dev/null || skip "$tool not installed (scripts/install-deps.sh --test)"
done
[[ -x $BUILD/node/shed-node && -f $BUILD/CPackConfig.cmake ]] ||
    skip "no configured, built tree at $BUILD"

TMP=$(mktemp -d "/tmp/shed-pkgtest.$$.XXXXXX")
UNIT_NAME=""
cleanup() {
    if [[ -n $UNIT_NAME ]]; then
        systemctl stop "$UNIT_NAME" >/dev/null 2>&1 || true
        rm -f "/run/systemd/system/$UNIT_NAME"
        systemctl daemon-reload >/dev/null 2>&1 || true
    fi
    rm -rf "$TMP"
}
trap cleanup EXIT

VERSION=$(sed -n 's/^CMAKE_PROJECT_VERSION:STATIC=//p' "$BUILD/CMakeCache.txt")
[[ -n $VERSION ]] || fail "no project version in $BUILD/CMakeCache.txt"

# --- 1. build -----------------------------------------------------------------
log "packaging $BUILD"
"$ROOT/scripts/package.sh" --build-dir "$BUILD" "$TMP/dist" >"$TMP/package.log" 2>&1 ||
    { cat "$TMP/package.log" >&2; fail "scripts/package.sh failed"; }
ARCH=$(dpkg --print-architecture)
for pkg in shed-node shedctl shed-agent; do
    [[ -f $TMP/dist/${pkg}_${VERSION}_$ARCH.deb ]] ||
        fail "no ${pkg}_${VERSION}_$ARCH.deb in: $(ls "$TMP/dist")"
done
log "built $(cd "$TMP/dist" && echo *.deb) ($((SECONDS - T0)) s)"
NODE_DEB=$TMP/dist/shed-node_${VERSION}_$ARCH.deb
CTL_DEB=$TMP/dist/shedctl_${VERSION}_$ARCH.deb
AGENT_DEB=$TMP/dist/shed-agent_${VERSION}_$ARCH.deb

# has DEB PATH: the package holds PATH.
has() { dpkg-deb -c "$1" | awk '{print $6}' | sed 's|^\./|/|' | grep -qx -- "$2" ||
    fail "${1##*/} lacks $2"; }
has "$NODE_DEB" /usr/sbin/shed-node
has "$NODE_DEB" /lib/systemd/system/shed-node.service
has "$NODE_DEB" /etc/shed/node.yaml
has "$NODE_DEB" /usr/share/doc/shed-node/operations.md
has "$NODE_DEB" /usr/share/doc/shed-node/copyright
has "$NODE_DEB" /usr/share/man/man8/shed-node.8.gz
# The copyright file is machine-readable (DEP-5) and names the license of
# LICENSE at the root; lintian below checks its syntax.
cr=$(dpkg-deb --fsys-tarfile "$NODE_DEB" | tar -xO ./usr/share/doc/shed-node/copyright)
grep -qx 'Format: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/' <<<"$cr" ||
    fail "shed-node: copyright is not DEP-5"
grep -qx 'License: Apache-2.0' <<<"$cr" || fail "shed-node: copyright does not name Apache-2.0"
grep -q 'Apache License' "$(dirname "$0")/../LICENSE" || fail "no Apache LICENSE at the repo root"
has "$CTL_DEB" /usr/bin/shedctl
has "$CTL_DEB" /usr/share/bash-completion/completions/shedctl
has "$AGENT_DEB" /usr/bin/shed-agent
dpkg-deb --ctrl-tarfile "$NODE_DEB" | tar -xO ./conffiles | grep -qx /etc/shed/node.yaml ||
    fail "shed-node: /etc/shed/node.yaml is not a conffile"
dpkg-deb --ctrl-tarfile "$NODE_DEB" | tar -xO ./postinst | grep -q 'addgroup --system' ||
    fail "shed-node: the postinst does not create the shed group"

NODE_DEPS=$(dpkg-deb -f "$NODE_DEB" Depends)
log "shed-node Depends: $NODE_DEPS"
# The last five are loaded with dlopen on first use (common/lib_dl.h,
# common/curl_dl.h): dpkg-shlibdeps cannot see them, packaging/ names them.
for lib in libc6 libczmq4 libsodium23 libyaml-0-2 adduser \
    libcurl4 libarchive13 libmicrohttpd12 libnftables1 libssl3; do
    grep -q "\b$lib\b" <<<"$NODE_DEPS" || fail "shed-node does not depend on $lib"
done
grep -q -- '-dev\b' <<<"$NODE_DEPS" && fail "shed-node depends on a -dev package: $NODE_DEPS"
dpkg-deb -f "$NODE_DEB" Recommends | grep -q '\brunc\b' || fail "shed-node does not recommend runc"
grep -q '\blibczmq4\b' <<<"$(dpkg-deb -f "$CTL_DEB" Depends)" || fail "shedctl lacks its czmq Depends"
[[ -z $(dpkg-deb -f "$AGENT_DEB" Depends) ]] ||
    fail "shed-agent (static) has Depends: $(dpkg-deb -f "$AGENT_DEB" Depends)"

# --- 2. lintian ---------------------------------------------------------------
log "lintian"
if ! lintian --fail-on error,warning --tag-display-limit 0 "$TMP"/dist/*.deb >"$TMP/lintian.log" 2>&1; then
    cat "$TMP/lintian.log" >&2
    fail "lintian reports errors or warnings"
fi
[[ -s $TMP/lintian.log ]] && sed 's/^/  lintian: /' "$TMP/lintian.log" >&2
log "lintian clean ($((SECONDS - T0)) s)"

# --- 3. apt can resolve them ----------------------------------------------------
apt-get -s -q -o Debug::NoLocking=1 install "$TMP"/dist/*.deb >"$TMP/apt.log" 2>&1 ||
    { cat "$TMP/apt.log" >&2; fail "apt-get -s install ./*.deb: unresolvable"; }
grep -q '^Inst shed-node ' "$TMP/apt.log" || grep -q 'shed-node is already the newest' "$TMP/apt.log" ||
    { cat "$TMP/apt.log" >&2; fail "apt would not install shed-node"; }

# --- 4. unpacked into a throwaway root ---------------------------------------------
R=$TMP/root
for deb in "$TMP"/dist/*.deb; do dpkg-deb -x "$deb" "$R"; done
got=$("$R/usr/sbin/shed-node" --version)
[[ $got == "shed-node $VERSION" ]] || fail "shed-node --version: '$got'"
got=$("$R/usr/bin/shedctl" --version)
[[ $got == "shedctl $VERSION" ]] || fail "shedctl --version: '$got'"
file -L "$R/usr/bin/shed-agent" | grep -q 'statically linked' || fail "shed-agent is not static"
# The packaged binaries are stripped (CPACK_STRIP_FILES).
file -L "$R/usr/sbin/shed-node" | grep -q ', stripped' || fail "shed-node is not stripped"
log "shed-node --version, shedctl --version: $VERSION"

if "$R/usr/sbin/shed-node" --help 2>&1 | grep -q -- '--check-config'; then
    # The shipped file names /etc/shed/cluster.key: point it at a real key
    # file here; everything else as shipped.
    (umask 077 && "$R/usr/bin/shedctl" keygen >"$TMP/cluster.key")
    sed "s|/etc/shed/cluster.key|$TMP/cluster.key|" "$R/etc/shed/node.yaml" >"$TMP/node.yaml"
    "$R/usr/sbin/shed-node" --check-config "$TMP/node.yaml" >"$TMP/check.log" 2>&1 ||
        { cat "$TMP/check.log" >&2; fail "shed-node --check-config refuses the shipped configuration"; }
    # ... and the check does check: a typo is refused.
    printf 'bnid: 1.2.3.4\n' >>"$TMP/node.yaml"
    "$R/usr/sbin/shed-node" --check-config "$TMP/node.yaml" >/dev/null 2>&1 &&
        fail "shed-node --check-config accepts an unknown key"
    log "shed-node --check-config accepts the shipped configuration"
else
    # Without the check, at least the parser: load the shipped file with
    # --help after it would print usage without reading; instead run
    # shed-node on it with an impossible API endpoint, which is refused
    # after the file is read (exit 2 either way, so the message decides).
    log "shed-node has no --check-config in this build: checking the configuration by a refused start"
    (umask 077 && "$R/usr/bin/shedctl" keygen >"$TMP/cluster.key")
    sed "s|/etc/shed/cluster.key|$TMP/cluster.key|; s|/var/lib/shed|$TMP/data|" \
        "$R/etc/shed/node.yaml" >"$TMP/node.yaml"
    rc=0
    timeout 10 "$R/usr/sbin/shed-node" --config "$TMP/node.yaml" --api tcp://127.0.0.1:1 \
        >"$TMP/check.log" 2>&1 || rc=$?
    grep -q "key 'api'" "$TMP/check.log" && ((rc == 2)) ||
        { cat "$TMP/check.log" >&2; fail "the shipped configuration is not accepted (rc $rc)"; }
fi

# bash completion: the real bash-completion framework, our script.
if [[ -f /usr/share/bash-completion/bash_completion ]]; then
    got=$(bash -c '. /usr/share/bash-completion/bash_completion
        . "$1"
        COMP_WORDS=(shedctl sn); COMP_CWORD=1; COMP_LINE="shedctl sn"; COMP_POINT=${#COMP_LINE}
        _shedctl; echo "${COMPREPLY[*]}"
        COMP_WORDS=(shedctl snapshot ""); COMP_CWORD=2; COMP_LINE="shedctl snapshot "; COMP_POINT=${#COMP_LINE}
        _shedctl; echo "${COMPREPLY[*]}"' _ "$R/usr/share/bash-completion/completions/shedctl")
    [[ $got == $'snapshot\ncreate list show rm --json' ]] || fail "bash completion: '$got'"
    log "bash completion completes commands and subcommands"
else
    log "bash-completion not installed: completion only syntax-checked"
    bash -n "$R/usr/share/bash-completion/completions/shedctl" || fail "completion: syntax"
fi

# --- 5. the unit's syntax -------------------------------------------------------------
if command -v systemd-analyze >/dev/null; then
    # verify checks that ExecStart exists: point it at the unpacked binary.
    mkdir -p "$TMP/unit"
    sed "s|/usr/sbin/shed-node|$R/usr/sbin/shed-node|g" "$R/lib/systemd/system/shed-node.service" \
        >"$TMP/unit/shed-node.service"
    # verify exits 0 on unknown keys too: any message fails the test.
    out=$(systemd-analyze verify --man=no "$TMP/unit/shed-node.service" 2>&1) ||
        fail "systemd-analyze verify: $out"
    [[ -z $out ]] || fail "systemd-analyze verify: $out"
    for want in Type=notify WatchdogSec= Delegate=yes KillMode=process; do
        grep -q "^$want" "$TMP/unit/shed-node.service" || fail "unit lacks $want"
    done
    log "systemd-analyze verify: clean"
else
    log "systemd-analyze not installed: unit syntax not verified"
fi

# --- 6. under a real systemd ------------------------------------------------------------
pid1=$(ps -p 1 -o comm= 2>/dev/null || true)
if [[ $pid1 != systemd || ! -d /run/systemd/system ]]; then
    log "not starting the unit: PID 1 is '$pid1', not systemd (a container or VM" \
        "without it), so there is no service manager to start it; systemd-analyze" \
        "verify above covers its syntax"
elif [[ $(id -u) -ne 0 ]]; then
    log "not starting the unit: needs root"
else
    # A copy of the unit under another name, on the unpacked binary, with its
    # own data dir, loopback ports and no overlay/DNS/metrics, so it cannot
    # touch a node that may run on this host.
    UNIT_NAME=shed-node-pkgtest-$$.service
    D=$TMP/sd-data
    cat >"$TMP/sd.yaml" <<YAML
name: pkgtest
bind: 127.0.0.1:$((20000 + $$ % 20000))
data_dir: $D
encrypt_key_file: $TMP/cluster.key
network: {enabled: false}
dns: {enabled: false}
metrics: {enabled: false}
YAML
    [[ -f $TMP/cluster.key ]] || (umask 077 && "$R/usr/bin/shedctl" keygen >"$TMP/cluster.key")
    getent group shed >/dev/null || fail "real systemd: group shed missing (install the package first)"
    sed -e "s|/usr/sbin/shed-node|$R/usr/sbin/shed-node|g" -e "s|/etc/shed/node.yaml|$TMP/sd.yaml|g" \
        -e "s|/var/lib/shed|$D|g" -e "s|^StateDirectory.*||" \
        "$R/lib/systemd/system/shed-node.service" >"/run/systemd/system/$UNIT_NAME"
    mkdir -p "$D"
    systemctl daemon-reload
    systemctl start "$UNIT_NAME" || fail "real systemd: start failed: $(journalctl -u "$UNIT_NAME" -n 20 --no-pager)"
    [[ $(systemctl show -p Type --value "$UNIT_NAME") == notify ]] || fail "unit is not Type=notify"
    [[ $(systemctl is-active "$UNIT_NAME") == active ]] || fail "real systemd: not active after READY"
    [[ $(stat -c %G:%a "$D/api.sock") == shed:660 ]] ||
        fail "API socket is $(stat -c %G:%a "$D/api.sock"), expected shed:660"
    main1=$(systemctl show -p MainPID --value "$UNIT_NAME")
    systemctl restart "$UNIT_NAME" || fail "real systemd: restart failed"
    main2=$(systemctl show -p MainPID --value "$UNIT_NAME")
    [[ $main1 != "$main2" ]] || fail "restart kept the same MainPID"
    "$R/usr/bin/shedctl" --addr "ipc://$D/api.sock" status >/dev/null || fail "shedctl status after restart"
    log "real systemd: started (READY), socket shed:660, restarted, shedctl answers"
fi

log "PASS ($((SECONDS - T0)) s)"
