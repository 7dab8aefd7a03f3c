#!/usr/bin/env bash
# integration/test_images.sh: root file system images (docs/images.md).
#   1. a busybox image made by scripts/build-image.sh is imported on node 2
#      (shedctl reads the file and streams it): list, show, --json, the
#      digest is the archive's sha256, the tree is on disk with its owners;
#      the same bytes under a second name add only the name
#   2. bad archives are refused with a message naming the entry (absolute
#      path, '..', device node, setuid, escaping symlink, hard link outside)
#      and leave nothing in the store
#   3. node 2 publishes REC_IMAGE records; a create that names an image
#      nobody has fails with each node's reason, one naming busybox lands on
#      node 2; `image rm` is refused while that shed uses it
#   4. rm: the tree stays while another name has it, goes with the last
#      name, and the records disappear from node 1's view
# Needs root; exits 77 (skip) otherwise.
set -euo pipefail
# shellcheck source-path=SCRIPTDIR
. "$(dirname "$0")/harness.sh"

h_init 2
h_sheds_init
h_start_node 1 --config "$(h_sheds_config 1)"
h_wait_ready 1 30
h_start_node 2 --config "$(h_sheds_config 2)"
h_wait_ready 2 30
h_wait_members 2 30 || h_fail "the two nodes do not see each other"

store=$(h_datadir 2)/images
count() { find "$store/$1" -mindepth 1 -maxdepth 1 ! -name '.*' | wc -l; }
# json_field FIELD: FIELD of the JSON object on stdin.
json_field() { python3 -c 'import json, sys; print(json.load(sys.stdin)[sys.argv[1]])' "$1"; }

h_log "--- build and import a busybox image on node 2"
img=$H_TMP/busybox.tar.gz
"$H_REPO/scripts/build-image.sh" busybox "$img" || h_fail "build-image.sh busybox"
sum=$(sha256sum "$img" | cut -d' ' -f1)
out=$(h_ctl 2 image import busybox "$img") || h_fail "import busybox: $out"
echo "$out"
[[ $out == "imported busybox: sha256:${sum:0:12}"* ]] || h_fail "import output: $out"
show=$(h_ctl 2 --json image show busybox) || h_fail "image show busybox"
h_assert_eq "$sum" "$(json_field digest <<<"$show")" "digest = sha256 of the archive"
h_assert_eq "shed busybox (tiny test image)" "$(json_field os_name <<<"$show")" "os_name"
h_assert_eq "$(stat -c %s "$img")" "$(json_field archive_size <<<"$show")" "archive_size"
root=$store/blobs/$sum/rootfs
h_assert_eq "$root" "$(json_field rootfs <<<"$show")" "rootfs path"
[[ -x $root/bin/busybox && -L $root/bin/sh ]] || h_fail "no busybox tree at $root"
h_assert_eq "1000:1000" "$(stat -c %u:%g "$root/home/shed")" "owner of /home/shed"
h_assert_eq "1777" "$(stat -c %a "$root/tmp")" "mode of /tmp"
h_ctl 2 image list | tee "$H_TMP/list.out"
grep -q "^busybox .*sha256:${sum:0:12}" "$H_TMP/list.out" || h_fail "image list lacks busybox"
h_ctl 2 image show "sha256:$sum" | grep -q "^name: *busybox" || h_fail "show by digest"

h_log "--- the same bytes under another name: only the name is added"
h_ctl 2 --json image import bb2 "$img" >"$H_TMP/bb2.json" || h_fail "import bb2"
h_assert_eq True "$(json_field existed <"$H_TMP/bb2.json")" "bb2 existed"
h_assert_eq 1 "$(count blobs)" "blobs after a second name"
h_assert_eq 2 "$(h_ctl 2 --json image list | python3 -c 'import json,sys; print(len(json.load(sys.stdin)))')" \
    "images listed"
if h_ctl 2 image import nofile "$H_TMP/does-not-exist.tar" 2>"$H_TMP/nofile.err"; then
    h_fail "import of a missing file succeeded"
fi
grep -q "does-not-exist.tar: No such file" "$H_TMP/nofile.err" || h_fail "missing file: $(cat "$H_TMP/nofile.err")"

h_log "--- bad archives are refused and leave nothing behind"
python3 - "$H_TMP" <<'EOF'
import io, sys, tarfile
d = sys.argv[1]
def mk(name, *entries):
    with tarfile.open(f"{d}/{name}.tar", "w", format=tarfile.USTAR_FORMAT) as t:
        ok = tarfile.TarInfo("./ok"); ok.size = 2
        t.addfile(ok, io.BytesIO(b"ok"))
        for path, typ, mode, arg in entries:
            ti = tarfile.TarInfo(path); ti.type = typ; ti.mode = mode
            data = None
            if typ in (tarfile.SYMTYPE, tarfile.LNKTYPE):
                ti.linkname = arg
            elif typ == tarfile.REGTYPE:
                ti.size = len(arg); data = io.BytesIO(arg)
            t.addfile(ti, data)
mk("abs", ("/etc/cron.d/evil", tarfile.REGTYPE, 0o644, b"x"))
mk("dotdot", ("./a/../../evil", tarfile.REGTYPE, 0o644, b"x"))
mk("device", ("./dev/sda", tarfile.BLKTYPE, 0o600, None))
mk("setuid", ("./bin/su", tarfile.REGTYPE, 0o4755, b"x"))
mk("symlink", ("./etc/evil", tarfile.SYMTYPE, 0o777, "../../../etc/shadow"))
mk("hardlink", ("./evil", tarfile.LNKTYPE, 0o644, "../../etc/shadow"))
EOF
refuse() {
    local name=$1 expect=$2
    if h_ctl 2 image import "$name" "$H_TMP/$name.tar" >"$H_TMP/$name.out" 2>&1; then
        h_fail "bad archive $name was imported"
    fi
    cat "$H_TMP/$name.out"
    grep -qF -- "$expect" "$H_TMP/$name.out" || h_fail "$name: expected '$expect'"
    h_assert_eq 1 "$(wc -l <"$H_TMP/$name.out")" "$name: one line"
    h_assert_eq 2 "$(count names)" "$name: names in the store"
    h_assert_eq 1 "$(count blobs)" "$name: blobs in the store"
    h_assert_eq 0 "$(count tmp)" "$name: leftovers in tmp/"
}
refuse abs "entry '/etc/cron.d/evil': absolute path"
refuse dotdot "entry './a/../../evil': '..' component"
refuse device "entry './dev/sda': device node"
refuse setuid "entry './bin/su': setuid bit"
refuse symlink "entry './etc/evil': symlink target '../../../etc/shadow' climbs above the image root"
refuse hardlink "entry './evil': hard link target '../../etc/shadow': '..' component"

h_log "--- image records and placement"
has_records() { h_ctl 1 state image 2>/dev/null | grep -q "busybox"; }
h_retry 20 has_records || h_fail "node 1 does not see node 2's image records: $(h_ctl 1 state image)"
if h_ctl 1 create s0 --cpus 0.5 --memory 128M --image nothere >"$H_TMP/c0.out" 2>&1; then
    h_fail "create with an image no node has succeeded"
fi
cat "$H_TMP/c0.out"
grep -q "node1: image nothere not on this node" "$H_TMP/c0.out" || h_fail "no reason for node1"
grep -q "node2: image nothere not on this node" "$H_TMP/c0.out" || h_fail "no reason for node2"
create() { h_ctl 1 create "$@" >"$H_TMP/create.out" 2>&1; }
h_retry 30 create s1 --cpus 0.5 --memory 128M --image busybox \
    || h_fail "create s1 --image busybox: $(cat "$H_TMP/create.out")"
node=$(h_ctl 1 --json show s1 | json_field node)
h_assert_eq node2 "$node" "s1 (image busybox) placed on the node that has it"
if h_ctl 2 image rm busybox >"$H_TMP/rm.out" 2>&1; then
    h_fail "image rm busybox succeeded while s1 uses it"
fi
grep -q "image 'busybox' is used by shed s1" "$H_TMP/rm.out" || h_fail "rm while used: $(cat "$H_TMP/rm.out")"
h_ctl 1 delete s1 >/dev/null || h_fail "delete s1"

h_log "--- rm: the tree stays while another name has it"
unused() { h_ctl 2 image rm busybox >"$H_TMP/rm.out" 2>&1; }
h_retry 20 unused || h_fail "image rm busybox after delete: $(cat "$H_TMP/rm.out")"
grep -q "its tree stays" "$H_TMP/rm.out" || h_fail "rm busybox: $(cat "$H_TMP/rm.out")"
[[ -x $root/bin/busybox ]] || h_fail "the tree went with the first of two names"
out=$(h_ctl 2 image rm bb2) || h_fail "image rm bb2: $out"
[[ $out == "removed image bb2 and its tree" ]] || h_fail "rm bb2: $out"
[[ ! -e $root ]] || h_fail "the tree is still at $root"
h_assert_eq 0 "$(count blobs)" "blobs after the last name"
h_assert_eq 0 "$(count names)" "names after rm"
if h_ctl 2 image show busybox 2>"$H_TMP/show.err"; then h_fail "show after rm"; fi
grep -q "not on this node" "$H_TMP/show.err" || h_fail "show after rm: $(cat "$H_TMP/show.err")"
gone() { ! h_ctl 1 state image 2>/dev/null | grep -q "busybox\|bb2"; }
h_retry 20 gone || h_fail "node 1 still sees image records: $(h_ctl 1 state image)"
h_log "PASS"
