#!/usr/bin/env bash
# scripts/build-image.sh: build a root file system image for
# `shedctl image import` (docs/images.md), offline from Debian packages.
#
#   scripts/build-image.sh busybox OUT.tar.gz   a tiny root from busybox-static
#                                               (the tests' image; no network)
#   scripts/build-image.sh debian OUT.tar.zst   a minimal Debian 12 (bookworm) root
#                                               with mmdebstrap from this machine's
#                                               configured apt sources (the demo's,
#                                               when asked)
#
# The output compression follows the name: .tar, .tar.gz/.tgz or .tar.zst.
# Both images have a non-root `shed` user (uid/gid 1000, home /home/shed)
# and no setuid/setgid file: the importer refuses those.
#
# Needs root (owners in the archive are numeric 0 and 1000), busybox-static
# for busybox, mmdebstrap and zstd for debian (scripts/install-deps.sh).
set -euo pipefail

usage() {
    echo "usage: $0 busybox|debian OUT.tar[.gz|.zst]" >&2
    exit 2
}
(($# == 2)) || usage
kind=$1
out=$(realpath -m -- "$2")

case $out in
    *.tar) compress=(cat) ;;
    *.tar.gz | *.tgz) compress=(gzip -n -9) ;;
    *.tar.zst) compress=(zstd -q -19 -T0) ;;
    *) echo "build-image: $out: name it .tar, .tar.gz or .tar.zst" >&2; exit 2 ;;
esac
if [[ $(id -u) -ne 0 ]]; then
    echo "build-image: run as root (files are owned by 0 and 1000)" >&2
    exit 1
fi

work=$(mktemp -d "${TMPDIR:-/tmp}/shed-build-image.XXXXXX")
trap 'rm -rf -- "$work"' EXIT
root=$work/root

# pack DIR: a reproducible tar of DIR (sorted, numeric owners, fixed mtime).
pack() {
    tar --sort=name --numeric-owner --mtime=@1700000000 --format=pax \
        --pax-option=exthdr.name=%d/PaxHeaders/%f,delete=atime,delete=ctime \
        -C "$1" -cf - . | "${compress[@]}" >"$out.tmp"
    mv -- "$out.tmp" "$out"
}

build_busybox() {
    local bb=/bin/busybox
    if ! [[ -x $bb ]] || ! file_is_static "$bb"; then
        echo "build-image: no static $bb: install busybox-static (scripts/install-deps.sh)" >&2
        exit 1
    fi
    mkdir -p "$root"/{bin,sbin,usr/bin,usr/sbin,etc,proc,sys,dev,run,tmp,root,home/shed,var/log}
    install -m 0755 "$bb" "$root/bin/busybox"
    # One symlink per applet, where busybox says it belongs (relative, so
    # they also resolve when the tree is looked at from outside).
    local applet dir rel
    while read -r applet; do
        applet=${applet#/}
        [[ $applet == bin/busybox ]] && continue
        dir=$(dirname "$applet")
        mkdir -p "$root/$dir"
        case $dir in
            bin | sbin) rel=../bin/busybox ;;
            usr/bin | usr/sbin) rel=../../bin/busybox ;;
            *) continue ;;
        esac
        [[ $dir == bin ]] && rel=busybox
        [[ -e $root/$applet || -L $root/$applet ]] || ln -s "$rel" "$root/$applet"
    done < <("$bb" --list-full)
    cat >"$root/etc/passwd" <<'EOF'
root:x:0:0:root:/root:/bin/sh
shed:x:1000:1000:shed:/home/shed:/bin/sh
nobody:x:65534:65534:nobody:/nonexistent:/bin/false
EOF
    cat >"$root/etc/group" <<'EOF'
root:x:0:
shed:x:1000:
nogroup:x:65534:
EOF
    cat >"$root/etc/shadow" <<'EOF'
root:*:19000:0:99999:7:::
shed:*:19000:0:99999:7:::
nobody:*:19000:0:99999:7:::
EOF
    chmod 0640 "$root/etc/shadow"
    cat >"$root/etc/os-release" <<'EOF'
NAME="shed-busybox"
ID=shed-busybox
PRETTY_NAME="shed busybox (tiny test image)"
VERSION_ID=1
EOF
    # Placeholders: the driver provides the real ones at run time.
    : >"$root/etc/hosts"
    : >"$root/etc/resolv.conf"
    echo shed >"$root/etc/hostname"
    chmod 1777 "$root/tmp"
    chmod 0700 "$root/root"
    chown 1000:1000 "$root/home/shed"
    chmod 0755 "$root/home/shed"
}

# busybox-static's binary is /bin/busybox; a dynamic busybox would need libc.
file_is_static() {
    ! LC_ALL=C ldd "$1" >/dev/null 2>&1
}

build_debian() {
    if ! command -v mmdebstrap >/dev/null; then
        echo "build-image: mmdebstrap is not installed (scripts/install-deps.sh)" >&2
        exit 1
    fi
    # Packages come from this machine's apt sources (mmdebstrap reads
    # /etc/apt/sources.list* when given no mirror). The customize hook runs
    # in the finished root: the shed user, then no setuid/setgid bit left.
    mmdebstrap --variant=minbase --mode=root --format=directory \
        --customize-hook='chroot "$1" groupadd -g 1000 shed' \
        --customize-hook='chroot "$1" useradd -m -u 1000 -g 1000 -s /bin/bash shed' \
        --customize-hook='find "$1" -xdev \( -perm -4000 -o -perm -2000 \) -type f -exec chmod ug-s {} +' \
        --customize-hook='rm -f "$1"/etc/hostname "$1"/etc/resolv.conf; : >"$1"/etc/hosts; : >"$1"/etc/resolv.conf' \
        bookworm "$root"
    # Device nodes mmdebstrap may leave in /dev: the runtime provides /dev.
    find "$root/dev" -mindepth 1 -delete 2>/dev/null || true
}

case $kind in
    busybox) build_busybox ;;
    debian) build_debian ;;
    *) usage ;;
esac
pack "$root"
echo "build-image: $kind -> $out ($(du -h -- "$out" | cut -f1))"
