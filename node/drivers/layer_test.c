/*
 * layer_test.c - a shed's writable layer as a file (layer.h): a round trip
 * of a tree with every kind of entry a layer holds, owners moved from one
 * id range to another; hostile layers (built here with libarchive) refused
 * with a line naming the entry and nothing left behind; a full disk on
 * write. Needs root (owners, whiteout devices, trusted.* xattrs, a small
 * tmpfs in a private mount namespace); skipped with a message without it.
 */
#include "node/drivers/layer.h"

#include <archive.h>
#include <archive_entry.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/wait.h>
#include <sys/xattr.h>
#include <time.h>
#include <unistd.h>
#include <cmocka.h>

#define S_A 200000u /* the writing shed's id base */
#define S_B 400000u /* the restoring shed's */
#define S_N 65536u

static char s_tmp[64];
static const char *s_skip_why;

static int
s_sh (const char *fmt, ...)
{
    char cmd[1024];
    va_list ap;
    va_start (ap, fmt);
    vsnprintf (cmd, sizeof cmd, fmt, ap);
    va_end (ap);
    int rc = system (cmd);
    return WIFEXITED (rc) ? WEXITSTATUS (rc) : -1;
}

static void
s_path (char *buf, size_t size, const char *rel)
{
    snprintf (buf, size, "%s/%s", s_tmp, rel);
}

static bool
s_empty (const char *dir)
{
    DIR *d = opendir (dir);
    assert_non_null (d);
    struct dirent *de;
    bool empty = true;
    while ((de = readdir (d)))
        if (strcmp (de->d_name, ".") && strcmp (de->d_name, ".."))
            empty = false;
    closedir (d);
    return empty;
}

static void
s_put (const char *path, const char *text, uid_t owner, mode_t mode)
{
    int fd = open (path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    assert_true (fd >= 0);
    assert_int_equal (write (fd, text, strlen (text)), (ssize_t) strlen (text));
    close (fd);
    assert_int_equal (lchown (path, owner, owner), 0);
    assert_int_equal (chmod (path, mode), 0);
}

static int
s_setup (void **state)
{
    (void) state;
    if (geteuid () != 0)
        s_skip_why = "needs root";
    else if (unshare (CLONE_NEWNS) != 0 || mount (NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) != 0)
        s_skip_why = "cannot make a mount namespace";
    if (s_skip_why) {
        fprintf (stderr, "layer_test: SKIPPED: %s\n", s_skip_why);
        return 0;
    }
    snprintf (s_tmp, sizeof s_tmp, "/tmp/layertest-%d", (int) getpid ());
    return mkdir (s_tmp, 0700);
}

static int
s_teardown (void **state)
{
    (void) state;
    if (s_tmp[0]) {
        s_sh ("umount %s/small >/dev/null 2>&1", s_tmp);
        s_sh ("rm -rf %s", s_tmp);
    }
    return 0;
}

#define S_SKIP_IF_NEEDED()                                                                         \
    do {                                                                                           \
        if (s_skip_why) {                                                                          \
            skip ();                                                                               \
            return;                                                                                \
        }                                                                                          \
    } while (0)

/* A fresh empty directory below the test dir. */
static void
s_fresh (char *buf, size_t size, const char *rel)
{
    s_path (buf, size, rel);
    s_sh ("rm -rf %s", buf);
    assert_int_equal (mkdir (buf, 0755), 0);
}

static void
test_round_trip (void **state)
{
    (void) state;
    S_SKIP_IF_NEEDED ();
    char src[128], dst[128], out[128], p[256], q[256];
    s_fresh (src, sizeof src, "src");
    s_fresh (dst, sizeof dst, "dst");
    s_path (out, sizeof out, "layer.tar");
    /* a file of the shed's root, one of its uid 1000 with setuid, a dir, a
     * symlink, a hard link, a whiteout, an opaque dir, a sparse file */
    snprintf (p, sizeof p, "%s/etc", src);
    assert_int_equal (mkdir (p, 0751), 0);
    assert_int_equal (chown (p, S_A, S_A), 0);
    snprintf (p, sizeof p, "%s/etc/motd", src);
    s_put (p, "old content\n", S_A, 0644);
    struct timespec times[2] = { { 1000000000, 123456789 }, { 1000000000, 123456789 } };
    assert_int_equal (utimensat (AT_FDCWD, p, times, 0), 0);
    snprintf (p, sizeof p, "%s/etc/tool", src);
    s_put (p, "#!/bin/sh\n", S_A + 1000, 04755);
    snprintf (q, sizeof q, "%s/etc/motd2", src);
    snprintf (p, sizeof p, "%s/etc/motd", src);
    assert_int_equal (link (p, q), 0);
    snprintf (p, sizeof p, "%s/etc/link", src);
    assert_int_equal (symlink ("../../../outside/motd", p), 0);
    assert_int_equal (lchown (p, S_A, S_A), 0);
    snprintf (p, sizeof p, "%s/etc/gone", src);
    assert_int_equal (mknod (p, S_IFCHR | 0, makedev (0, 0)), 0); /* owner root: as overlayfs */
    snprintf (p, sizeof p, "%s/opq", src);
    assert_int_equal (mkdir (p, 0700), 0);
    assert_int_equal (chown (p, S_A + 5, S_A + 6), 0);
    assert_int_equal (setxattr (p, "trusted.overlay.opaque", "y", 1, 0), 0);
    snprintf (p, sizeof p, "%s/opq/new", src);
    s_put (p, "new\n", S_A + 5, 0600);
    snprintf (p, sizeof p, "%s/sparse", src);
    int fd = open (p, O_WRONLY | O_CREAT, 0644);
    assert_true (fd >= 0);
    assert_int_equal (pwrite (fd, "tail", 4, 64 << 20), 4);
    close (fd);
    assert_int_equal (chown (p, S_A, S_A), 0);

    char why[256] = "";
    uint64_t bytes = 0;
    int rc = layer_write (src, S_A, S_N, out, &bytes, why, sizeof why);
    if (rc)
        fprintf (stderr, "layer_write: %s\n", why);
    assert_int_equal (rc, LAYER_OK);
    struct stat sb;
    assert_int_equal (stat (out, &sb), 0);
    assert_int_equal ((uint64_t) sb.st_size, bytes);
    assert_true (bytes < 1 << 20); /* the 64 MiB hole is not in the file */
    assert_int_equal (sb.st_mode & 0777, 0600);

    rc = layer_read (out, dst, S_B, S_N, NULL, why, sizeof why);
    if (rc)
        fprintf (stderr, "layer_read: %s\n", why);
    assert_int_equal (rc, LAYER_OK);

    snprintf (p, sizeof p, "%s/etc/motd", dst);
    assert_int_equal (lstat (p, &sb), 0);
    assert_int_equal (sb.st_uid, S_B);
    assert_int_equal (sb.st_gid, S_B);
    assert_int_equal (sb.st_mode & 07777, 0644);
    assert_int_equal (sb.st_mtim.tv_sec, 1000000000);
    assert_int_equal (sb.st_mtim.tv_nsec, 123456789);
    ino_t ino = sb.st_ino;
    char buf[64] = "";
    fd = open (p, O_RDONLY);
    assert_int_equal (read (fd, buf, sizeof buf), 12);
    close (fd);
    assert_string_equal (buf, "old content\n");
    snprintf (p, sizeof p, "%s/etc/motd2", dst);
    assert_int_equal (lstat (p, &sb), 0);
    assert_int_equal (sb.st_ino, ino); /* still one file */
    snprintf (p, sizeof p, "%s/etc", dst);
    assert_int_equal (lstat (p, &sb), 0);
    assert_true (S_ISDIR (sb.st_mode));
    assert_int_equal (sb.st_mode & 07777, 0751);
    assert_int_equal (sb.st_uid, S_B);
    snprintf (p, sizeof p, "%s/etc/tool", dst);
    assert_int_equal (lstat (p, &sb), 0);
    assert_int_equal (sb.st_uid, S_B + 1000);
    assert_int_equal (sb.st_mode & 07777, 04755);
    snprintf (p, sizeof p, "%s/etc/link", dst);
    assert_int_equal (lstat (p, &sb), 0);
    assert_true (S_ISLNK (sb.st_mode));
    assert_int_equal (sb.st_uid, S_B);
    ssize_t n = readlink (p, buf, sizeof buf - 1);
    assert_true (n > 0);
    buf[n] = '\0';
    assert_string_equal (buf, "../../../outside/motd");
    snprintf (p, sizeof p, "%s/etc/gone", dst);
    assert_int_equal (lstat (p, &sb), 0);
    assert_true (S_ISCHR (sb.st_mode));
    assert_int_equal (sb.st_rdev, makedev (0, 0));
    snprintf (p, sizeof p, "%s/opq", dst);
    assert_int_equal (lstat (p, &sb), 0);
    assert_int_equal (sb.st_uid, S_B + 5);
    assert_int_equal (sb.st_gid, S_B + 6);
    assert_int_equal (sb.st_mode & 07777, 0700);
    memset (buf, 0, sizeof buf);
    assert_int_equal (getxattr (p, "trusted.overlay.opaque", buf, sizeof buf), 1);
    assert_int_equal (buf[0], 'y');
    snprintf (p, sizeof p, "%s/opq/new", dst);
    assert_int_equal (lstat (p, &sb), 0);
    assert_int_equal (sb.st_size, 4);
    snprintf (p, sizeof p, "%s/sparse", dst);
    assert_int_equal (lstat (p, &sb), 0);
    assert_int_equal (sb.st_size, (64 << 20) + 4);
    assert_true ((uint64_t) sb.st_blocks * 512 < 1 << 20); /* still sparse */
    fd = open (p, O_RDONLY);
    memset (buf, 0, sizeof buf);
    assert_int_equal (pread (fd, buf, 8, (64 << 20) - 4), 8);
    close (fd);
    assert_memory_equal (buf, "\0\0\0\0tail", 8);
    /* only those: nothing else at the top */
    assert_int_equal (s_sh ("test $(ls -A %s | wc -l) = 3", dst), 0);

    /* a second read into the same (now full) dir is refused */
    assert_int_equal (layer_read (out, dst, S_B, S_N, NULL, why, sizeof why), LAYER_ERR_INVALID);
    assert_non_null (strstr (why, "not an empty directory"));

    /* the same tree written with the wrong base: an owner outside the
     * range is refused, naming the file, and no file is left */
    char out2[128];
    s_path (out2, sizeof out2, "layer2.tar");
    assert_int_equal (layer_write (src, S_B, S_N, out2, &bytes, why, sizeof why),
                      LAYER_ERR_INVALID);
    assert_non_null (strstr (why, "outside the shed's ids"));
    assert_int_equal (access (out2, F_OK), -1);
    assert_int_equal (s_sh ("ls %s | grep -q layer2", s_tmp), 1);

    /* an empty upper dir: an empty layer, which reads back to nothing */
    char empty[128];
    s_fresh (empty, sizeof empty, "empty");
    assert_int_equal (layer_write (empty, S_A, S_N, out2, &bytes, why, sizeof why), LAYER_OK);
    s_fresh (dst, sizeof dst, "dst");
    rc = layer_read (out2, dst, S_B, S_N, NULL, why, sizeof why);
    if (rc)
        fprintf (stderr, "empty layer_read: %s\n", why);
    assert_int_equal (rc, LAYER_OK);
    assert_true (s_empty (dst));
}

/* ---- hostile layers ----------------------------------------------------- */

typedef struct {
    const char *path;
    mode_t type;
    const char *target; /* symlink or hard link */
    int64_t uid;
    dev_t rdev;
    const char *xattr; /* name, value "y" */
} s_ent_t;

static void
s_build (const char *out, const s_ent_t *ents, size_t n)
{
    struct archive *a = archive_write_new ();
    archive_write_set_format_pax (a);
    assert_int_equal (archive_write_open_filename (a, out), ARCHIVE_OK);
    for (size_t i = 0; i < n; i++) {
        struct archive_entry *e = archive_entry_new ();
        archive_entry_set_pathname (e, ents[i].path);
        archive_entry_set_filetype (e, ents[i].type);
        archive_entry_set_perm (e, ents[i].type == AE_IFDIR ? 0755 : 0644);
        archive_entry_set_uid (e, ents[i].uid);
        archive_entry_set_gid (e, ents[i].uid);
        if (ents[i].type == AE_IFLNK)
            archive_entry_set_symlink (e, ents[i].target);
        else if (ents[i].target)
            archive_entry_set_hardlink (e, ents[i].target);
        if (ents[i].type == AE_IFCHR || ents[i].type == AE_IFBLK)
            archive_entry_set_rdev (e, ents[i].rdev);
        if (ents[i].xattr)
            archive_entry_xattr_add_entry (e, ents[i].xattr, "y", 1);
        bool data = ents[i].type == AE_IFREG && !ents[i].target;
        archive_entry_set_size (e, data ? 2 : 0);
        assert_int_equal (archive_write_header (a, e), ARCHIVE_OK);
        if (data)
            assert_int_equal (archive_write_data (a, "x\n", 2), 2);
        archive_entry_free (e);
    }
    assert_int_equal (archive_write_close (a), ARCHIVE_OK);
    archive_write_free (a);
}

/* Refused with `want` in the reason; the dir left empty; nothing outside. */
static void
s_refused (const char *label, const s_ent_t *ents, size_t n, const layer_limits_t *limits,
           const char *want)
{
    char dst[128], out[128], why[256] = "";
    s_fresh (dst, sizeof dst, "dst");
    s_path (out, sizeof out, "hostile.tar");
    s_build (out, ents, n);
    int rc = layer_read (out, dst, S_B, S_N, limits, why, sizeof why);
    fprintf (stderr, "%-22s -> %d %s\n", label, rc, why);
    assert_int_equal (rc, LAYER_ERR_INVALID);
    assert_non_null (strstr (why, want));
    assert_null (strchr (why, '\n'));
    assert_true (s_empty (dst));
    char p[160];
    s_path (p, sizeof p, "x");
    assert_int_equal (access (p, F_OK), -1); /* "../x" never landed */
}

static void
test_hostile_layers (void **state)
{
    (void) state;
    S_SKIP_IF_NEEDED ();
    /* each after a good entry, so a refusal must also remove what came before */
    s_ent_t dotdot[] = { { "ok", AE_IFREG, NULL, 0, 0, NULL },
                         { "../x", AE_IFREG, NULL, 0, 0, NULL } };
    s_refused ("dotdot", dotdot, 2, NULL, "..");
    s_ent_t abs[] = { { "ok", AE_IFREG, NULL, 0, 0, NULL },
                      { "/etc/x", AE_IFREG, NULL, 0, 0, NULL } };
    s_refused ("absolute", abs, 2, NULL, "/etc/x");
    char outside[160];
    s_path (outside, sizeof outside, "");
    s_ent_t below_link[] = { { "l", AE_IFLNK, outside, 0, 0, NULL },
                             { "l/x", AE_IFREG, NULL, 0, 0, NULL } };
    s_refused ("below a symlink", below_link, 2, NULL, "below the symlink 'l'");
    s_ent_t blk[] = { { "ok", AE_IFDIR, NULL, 0, 0, NULL },
                      { "ok/sda", AE_IFBLK, NULL, 0, makedev (8, 0), NULL } };
    s_refused ("block device", blk, 2, NULL, "device node 8:0");
    s_ent_t chr[] = { { "mem", AE_IFCHR, NULL, 0, makedev (1, 1), NULL } };
    s_refused ("char device 1:1", chr, 1, NULL, "only 0:0 whiteouts");
    s_ent_t fifo[] = { { "p", AE_IFIFO, NULL, 0, 0, NULL } };
    s_refused ("fifo", fifo, 1, NULL, "unsupported entry type");
    s_ent_t id[] = { { "ok", AE_IFREG, NULL, 0, 0, NULL },
                     { "big", AE_IFREG, NULL, 70000, 0, NULL } };
    s_refused ("uid 70000", id, 2, NULL, "owner 70000:70000 outside");
    s_ent_t many[] = { { "a", AE_IFREG, NULL, 0, 0, NULL },
                       { "b", AE_IFREG, NULL, 0, 0, NULL },
                       { "c", AE_IFREG, NULL, 0, 0, NULL },
                       { "d", AE_IFREG, NULL, 0, 0, NULL } };
    layer_limits_t three = { .max_entries = 3 };
    s_refused ("too many entries", many, 4, &three, "more than 3 entries");
    layer_limits_t tiny = { .max_bytes = 3 };
    s_refused ("too many bytes", many, 4, &tiny, "more than 0 KiB of file data");
    s_ent_t xattr[] = { { "d", AE_IFDIR, NULL, 0, 0, "security.capability" } };
    s_refused ("foreign xattr", xattr, 1, NULL, "extended attribute 'security.capability'");
    s_ent_t opq_file[] = { { "f", AE_IFREG, NULL, 0, 0, "trusted.overlay.opaque" } };
    s_refused ("opaque on a file", opq_file, 1, NULL, "only trusted.overlay.opaque=y");
    s_ent_t dup[] = { { "a", AE_IFREG, NULL, 0, 0, NULL }, { "a", AE_IFREG, NULL, 0, 0, NULL } };
    s_refused ("duplicate", dup, 2, NULL, "appears twice");
    s_ent_t hl[] = { { "h", AE_IFREG, "/etc/passwd", 0, 0, NULL } };
    s_refused ("hard link outside", hl, 1, NULL, "hard link");
    s_ent_t hl2[] = { { "w", AE_IFCHR, NULL, 0, 0, NULL }, { "h", AE_IFREG, "w", 0, 0, NULL } };
    s_refused ("hard link to whiteout", hl2, 2, NULL, "not a file extracted before");
    s_ent_t below_file[] = { { "f", AE_IFREG, NULL, 0, 0, NULL },
                             { "f/x", AE_IFREG, NULL, 0, 0, NULL } };
    s_refused ("below a file", below_file, 2, NULL, "below the file 'f'");

    /* not a tar at all */
    char dst[128], out[128], why[256] = "";
    s_fresh (dst, sizeof dst, "dst");
    s_path (out, sizeof out, "garbage");
    assert_int_equal (s_sh ("head -c 5000 /dev/urandom > %s", out), 0);
    assert_int_equal (layer_read (out, dst, S_B, S_N, NULL, why, sizeof why), LAYER_ERR_INVALID);
    assert_true (why[0] != '\0');
    assert_true (s_empty (dst));
}

/* A layer bigger than the target's free space: LAYER_ERR_SPACE before it
 * fills the disk; a write to a full disk: LAYER_ERR_SPACE, no file left. */
static void
test_space (void **state)
{
    (void) state;
    S_SKIP_IF_NEEDED ();
    char src[128], small[128], out[160], p[256], why[256] = "";
    s_fresh (src, sizeof src, "src");
    s_fresh (small, sizeof small, "small");
    assert_int_equal (mount ("tmpfs", small, "tmpfs", 0, "size=256k"), 0);
    snprintf (p, sizeof p, "%s/big", src);
    assert_int_equal (s_sh ("head -c 1048576 /dev/urandom > %s && chown %u:%u %s", p, S_A, S_A, p),
                      0);
    snprintf (out, sizeof out, "%s/layer.tar", small);
    uint64_t bytes = 0;
    int rc = layer_write (src, S_A, S_N, out, &bytes, why, sizeof why);
    fprintf (stderr, "write to a full disk -> %d %s\n", rc, why);
    assert_int_equal (rc, LAYER_ERR_SPACE);
    assert_non_null (strstr (why, "disk full"));
    assert_true (s_empty (small));

    char big[160];
    s_path (big, sizeof big, "big.tar");
    assert_int_equal (layer_write (src, S_A, S_N, big, &bytes, why, sizeof why), LAYER_OK);
    snprintf (p, sizeof p, "%s/upper", small);
    assert_int_equal (mkdir (p, 0755), 0);
    rc = layer_read (big, p, S_B, S_N, NULL, why, sizeof why);
    fprintf (stderr, "read into a small disk -> %d %s\n", rc, why);
    assert_int_equal (rc, LAYER_ERR_SPACE);
    assert_non_null (strstr (why, "free on the shed's disk"));
    assert_true (s_empty (p));
    assert_int_equal (umount (small), 0);
}

int
main (void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test (test_round_trip),
        cmocka_unit_test (test_hostile_layers),
        cmocka_unit_test (test_space),
    };
    return cmocka_run_group_tests (tests, s_setup, s_teardown);
}
