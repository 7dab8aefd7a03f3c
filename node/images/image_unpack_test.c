/* image_unpack_test.c - the path rules, and real archives (made here with
 * libarchive's writer) unpacked for real or refused leaving nothing. */
#include "node/images/image_unpack.h"

#include <archive.h>
#include <archive_entry.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>
#include <cmocka.h>

/* ---- image_path_check ------------------------------------------------------ */

typedef struct {
    const char *path;
    image_entry_kind_t kind;
    const char *target;
    const char *norm; /* expected normal form; NULL: refused */
    const char *why;  /* expected part of the reason */
} s_case_t;

/* clang-format off */
static const s_case_t s_cases[] = {
    { "a", IMAGE_ENTRY_FILE, NULL, "a", NULL },
    { "./a//b/./c/", IMAGE_ENTRY_FILE, NULL, "a/b/c", NULL },
    { "./", IMAGE_ENTRY_DIR, NULL, "", NULL },
    { ".", IMAGE_ENTRY_DIR, NULL, "", NULL },
    { "./", IMAGE_ENTRY_FILE, NULL, NULL, "names the root" },
    { "", IMAGE_ENTRY_FILE, NULL, NULL, "empty name" },
    { "/etc/passwd", IMAGE_ENTRY_FILE, NULL, NULL, "absolute path" },
    { "//x", IMAGE_ENTRY_DIR, NULL, NULL, "absolute path" },
    { "..", IMAGE_ENTRY_DIR, NULL, NULL, "'..' component" },
    { "a/../../x", IMAGE_ENTRY_FILE, NULL, NULL, "'..' component" },
    { "a/..", IMAGE_ENTRY_DIR, NULL, NULL, "'..' component" },
    { "a/...", IMAGE_ENTRY_FILE, NULL, "a/...", NULL },
    { "a/..b", IMAGE_ENTRY_FILE, NULL, "a/..b", NULL },
    /* symlinks: absolute targets kept, relative ones may not climb out */
    { "bin/sh", IMAGE_ENTRY_SYMLINK, "/bin/busybox", "bin/sh", NULL },
    { "bin/sh", IMAGE_ENTRY_SYMLINK, "busybox", "bin/sh", NULL },
    { "etc/os-release", IMAGE_ENTRY_SYMLINK, "../usr/lib/os-release", "etc/os-release", NULL },
    { "etc/x", IMAGE_ENTRY_SYMLINK, "../..", NULL, "climbs above the image root" },
    { "x", IMAGE_ENTRY_SYMLINK, "..", NULL, "climbs above the image root" },
    { "a/b/c", IMAGE_ENTRY_SYMLINK, "../../d/../../e", NULL, "climbs above" },
    { "a/b/c", IMAGE_ENTRY_SYMLINK, "d/e/../../../..", "a/b/c", NULL },
    { "a/b/c", IMAGE_ENTRY_SYMLINK, "d/e/../../../../..", NULL, "climbs above" },
    { "a/b", IMAGE_ENTRY_SYMLINK, "./../.", "a/b", NULL },
    { "a", IMAGE_ENTRY_SYMLINK, "", NULL, "empty target" },
    { "../a", IMAGE_ENTRY_SYMLINK, "b", NULL, "'..' component" },
    /* hard links: the target follows the path rules */
    { "bin/ls", IMAGE_ENTRY_HARDLINK, "./bin/busybox", "bin/ls", NULL },
    { "bin/ls", IMAGE_ENTRY_HARDLINK, "/etc/shadow", NULL, "absolute path" },
    { "bin/ls", IMAGE_ENTRY_HARDLINK, "../../etc/shadow", NULL, "'..' component" },
    { "bin/ls", IMAGE_ENTRY_HARDLINK, "bin//ls", NULL, "to itself" },
    { "bin/ls", IMAGE_ENTRY_HARDLINK, "./", NULL, "image root" },
};
/* clang-format on */

static void
test_path_check (void **state)
{
    for (size_t i = 0; i < sizeof s_cases / sizeof s_cases[0]; i++) {
        const s_case_t *c = &s_cases[i];
        char norm[IMAGE_PATH_MAX], target[IMAGE_PATH_MAX], why[512] = "";
        int rc = image_path_check (c->path, c->kind, c->target, norm, sizeof norm, target,
                                   sizeof target, why, sizeof why);
        if (c->norm) {
            if (rc != 0)
                fail_msg ("case %zu '%s': refused: %s", i, c->path, why);
            assert_string_equal (norm, c->norm);
        }
        else {
            if (rc == 0)
                fail_msg ("case %zu '%s' -> '%s': accepted", i, c->path,
                          c->target ? c->target : "");
            if (!strstr (why, c->why))
                fail_msg ("case %zu: reason '%s' lacks '%s'", i, why, c->why);
            assert_non_null (strstr (why, "entry '"));
        }
    }
}

static void
test_path_check_long (void **state)
{
    char path[IMAGE_PATH_MAX + 8], norm[IMAGE_PATH_MAX], why[512];
    memset (path, 'a', sizeof path - 1);
    path[sizeof path - 1] = '\0';
    assert_int_equal (image_path_check (path, IMAGE_ENTRY_FILE, NULL, norm, sizeof norm, NULL, 0,
                                        why, sizeof why),
                      -1);
    assert_non_null (strstr (why, "longer than"));
    /* a 300-byte component */
    memset (path, 'b', 300);
    path[300] = '\0';
    assert_int_equal (image_path_check (path, IMAGE_ENTRY_FILE, NULL, norm, sizeof norm, NULL, 0,
                                        why, sizeof why),
                      -1);
    assert_non_null (strstr (why, "255"));
    /* control bytes are not printed raw */
    assert_int_equal (image_path_check ("/a\nb", IMAGE_ENTRY_FILE, NULL, norm, sizeof norm, NULL, 0,
                                        why, sizeof why),
                      -1);
    assert_null (strchr (why, '\n'));
}

/* ---- archives ---------------------------------------------------------------- */

typedef struct {
    const char *path;
    mode_t type; /* AE_IF*; 0 with hardlink set */
    mode_t perm;
    const char *data; /* file content */
    const char *link; /* symlink target */
    const char *hardlink;
    int64_t uid, gid;
} s_ent_t;

static char s_dir[PATH_MAX]; /* this run's scratch dir */

/* Write an archive of `ents` to `file` through `filter` (none|gzip|zstd). */
static void
s_archive (const char *file, const char *filter, const s_ent_t *ents, size_t n)
{
    struct archive *a = archive_write_new ();
    archive_write_set_format_pax_restricted (a);
    if (strcmp (filter, "gzip") == 0)
        archive_write_add_filter_gzip (a);
    else if (strcmp (filter, "zstd") == 0)
        archive_write_add_filter_zstd (a);
    assert_int_equal (archive_write_open_filename (a, file), ARCHIVE_OK);
    for (size_t i = 0; i < n; i++) {
        const s_ent_t *e = &ents[i];
        struct archive_entry *ae = archive_entry_new ();
        archive_entry_set_pathname (ae, e->path);
        archive_entry_set_perm (ae, e->perm ? e->perm : 0644);
        archive_entry_set_uid (ae, e->uid);
        archive_entry_set_gid (ae, e->gid);
        archive_entry_set_mtime (ae, 1700000000, 0);
        if (e->hardlink) {
            archive_entry_set_filetype (ae, AE_IFREG);
            archive_entry_set_hardlink (ae, e->hardlink);
        }
        else
            archive_entry_set_filetype (ae, e->type ? e->type : AE_IFREG);
        if (e->link)
            archive_entry_set_symlink (ae, e->link);
        if (e->type == AE_IFCHR)
            archive_entry_set_rdev (ae, makedev (1, 3));
        size_t len = e->data ? strlen (e->data) : 0;
        archive_entry_set_size (ae, (la_int64_t) len);
        if (archive_write_header (a, ae) != ARCHIVE_OK)
            fail_msg ("%s: %s", e->path, archive_error_string (a));
        if (len)
            assert_int_equal (archive_write_data (a, e->data, len), (la_ssize_t) len);
        archive_entry_free (ae);
    }
    assert_int_equal (archive_write_close (a), ARCHIVE_OK);
    archive_write_free (a);
}

/* Entries in a directory (0 if it does not exist). */
static int
s_count (const char *dir)
{
    DIR *d = opendir (dir);
    if (!d)
        return 0;
    int n = 0;
    struct dirent *de;
    while ((de = readdir (d)))
        if (strcmp (de->d_name, ".") && strcmp (de->d_name, ".."))
            n++;
    closedir (d);
    return n;
}

static int
s_setup (void **state)
{
    snprintf (s_dir, sizeof s_dir, "/tmp/image_unpack_test.XXXXXX");
    if (!mkdtemp (s_dir))
        return -1;
    char out[PATH_MAX + 8];
    snprintf (out, sizeof out, "%s/out", s_dir);
    return mkdir (out, 0755);
}

static int
s_teardown (void **state)
{
    return image_rmtree (s_dir);
}

/* Unpack `file` into <dir>/out/<name>; 0 or -1 with why. */
static int
s_unpack (const char *file, const char *name, const image_unpack_opts_t *opts, char *why,
          size_t why_size, image_unpack_stats_t *stats)
{
    char dest[PATH_MAX + 64];
    snprintf (dest, sizeof dest, "%s/out/%s", s_dir, name);
    return image_unpack_path (file, dest, opts, stats, why, why_size);
}

/* clang-format off */
static const s_ent_t s_good[] = {
    { "./", AE_IFDIR, 0755, NULL, NULL, NULL, 0, 0 },
    { "./bin/", AE_IFDIR, 0755, NULL, NULL, NULL, 0, 0 },
    { "./bin/busybox", AE_IFREG, 0755, "#!fake busybox\n", NULL, NULL, 0, 0 },
    { "./bin/sh", AE_IFLNK, 0777, NULL, "busybox", NULL, 0, 0 },
    { "./bin/ls", 0, 0755, NULL, NULL, "./bin/busybox", 0, 0 },
    { "./etc/", AE_IFDIR, 0755, NULL, NULL, NULL, 0, 0 },
    { "./etc/shadow", AE_IFREG, 0640, "root:*:1::::::\n", NULL, NULL, 0, 42 },
    { "./etc/mtab", AE_IFLNK, 0777, NULL, "/proc/self/mounts", NULL, 0, 0 },
    { "./etc/os-release", AE_IFLNK, 0777, NULL, "../usr/lib/os-release", NULL, 0, 0 },
    { "./usr/lib/os-release", AE_IFREG, 0644, "NAME=\"test\"\n", NULL, NULL, 0, 0 },
    { "./tmp/", AE_IFDIR, 01777, NULL, NULL, NULL, 0, 0 },
    { "./var/mail/", AE_IFDIR, 02775, NULL, NULL, NULL, 0, 8 },
    { "./home/shed/", AE_IFDIR, 0750, NULL, NULL, NULL, 1000, 1000 },
    { "./home/shed/.profile", AE_IFREG, 0600, "export PS1='$ '\n", NULL, NULL, 1000, 1000 },
    { "./empty", AE_IFREG, 0644, NULL, NULL, NULL, 65535, 65535 },
};
/* clang-format on */
#define S_NGOOD (sizeof s_good / sizeof s_good[0])

static void
s_check_good_tree (const char *name)
{
    char p[PATH_MAX + 128];
    struct stat st, st2;
    bool root = geteuid () == 0;
#define S_PATH(rel) (snprintf (p, sizeof p, "%s/out/%s/%s", s_dir, name, rel), p)
    assert_int_equal (lstat (S_PATH ("bin/busybox"), &st), 0);
    assert_true (S_ISREG (st.st_mode));
    assert_int_equal (st.st_mode & 07777, 0755);
    assert_int_equal (st.st_size, 15);
    assert_int_equal (st.st_mtime, 1700000000);
    assert_int_equal (lstat (S_PATH ("bin/ls"), &st2), 0);
    assert_int_equal (st.st_ino, st2.st_ino); /* a real hard link */
    assert_int_equal (lstat (S_PATH ("bin/sh"), &st), 0);
    assert_true (S_ISLNK (st.st_mode));
    char target[PATH_MAX];
    ssize_t n = readlink (S_PATH ("etc/mtab"), target, sizeof target - 1);
    assert_true (n > 0);
    target[n] = '\0';
    assert_string_equal (target, "/proc/self/mounts"); /* absolute, kept as is */
    assert_int_equal (lstat (S_PATH ("etc/shadow"), &st), 0);
    assert_int_equal (st.st_mode & 07777, 0640);
    assert_int_equal (lstat (S_PATH ("tmp"), &st), 0);
    assert_int_equal (st.st_mode & 07777, 01777);
    assert_int_equal (lstat (S_PATH ("var/mail"), &st), 0);
    assert_int_equal (st.st_mode & 07777, 02775);
    assert_int_equal (lstat (S_PATH ("home/shed"), &st), 0);
    assert_int_equal (st.st_mode & 07777, 0750);
    if (root) {
        assert_int_equal (st.st_uid, 1000);
        assert_int_equal (st.st_gid, 1000);
        assert_int_equal (lstat (S_PATH ("etc/shadow"), &st), 0);
        assert_int_equal (st.st_gid, 42);
        assert_int_equal (lstat (S_PATH ("empty"), &st), 0);
        assert_int_equal (st.st_uid, 65535);
    }
    assert_int_equal (lstat (S_PATH (""), &st), 0);
    assert_int_equal (st.st_mode & 07777, 0755);
#undef S_PATH
}

static void
test_unpack_good (void **state)
{
    static const char *filters[] = { "none", "gzip", "zstd" };
    for (size_t f = 0; f < 3; f++) {
        char file[PATH_MAX + 32], name[32], why[512] = "";
        snprintf (file, sizeof file, "%s/good-%s.tar", s_dir, filters[f]);
        snprintf (name, sizeof name, "good-%s", filters[f]);
        s_archive (file, filters[f], s_good, S_NGOOD);
        image_unpack_stats_t stats;
        if (s_unpack (file, name, NULL, why, sizeof why, &stats) != 0)
            fail_msg ("%s: %s", filters[f], why);
        assert_int_equal (stats.entries, S_NGOOD);
        assert_int_equal (stats.files, 6); /* 5 files + 1 hard link */
        assert_int_equal (stats.bytes, 15 + 15 + 12 + 16);
        s_check_good_tree (name);
        /* a second unpack to the same place is refused, the first kept */
        assert_int_equal (s_unpack (file, name, NULL, why, sizeof why, NULL), -1);
        assert_non_null (strstr (why, "already exists"));
        s_check_good_tree (name);
    }
}

/* One bad archive: the good entries with `bad` inserted at `at`. */
static void
s_expect_refused (const char *label, const s_ent_t *bad, size_t nbad, size_t at, const char *expect)
{
    s_ent_t ents[S_NGOOD + 8];
    size_t n = 0;
    for (size_t i = 0; i < at; i++)
        ents[n++] = s_good[i];
    for (size_t i = 0; i < nbad; i++)
        ents[n++] = bad[i];
    for (size_t i = at; i < S_NGOOD; i++)
        ents[n++] = s_good[i];
    char file[PATH_MAX + 64], why[512] = "", out[PATH_MAX + 8];
    snprintf (file, sizeof file, "%s/bad-%s.tar.gz", s_dir, label);
    s_archive (file, "gzip", ents, n);
    snprintf (out, sizeof out, "%s/out", s_dir);
    int before = s_count (out);
    if (s_unpack (file, label, NULL, why, sizeof why, NULL) == 0)
        fail_msg ("%s: accepted", label);
    if (!strstr (why, expect))
        fail_msg ("%s: reason '%s' lacks '%s'", label, why, expect);
    assert_null (strchr (why, '\n'));
    /* nothing left: no dest, no temporary sibling */
    assert_int_equal (s_count (out), before);
}

static void
test_unpack_refused (void **state)
{
    static const s_ent_t abs[] = { { "/etc/evil", AE_IFREG, 0644, "x", NULL, NULL, 0, 0 } };
    s_expect_refused ("absolute", abs, 1, 3, "entry '/etc/evil': absolute path");
    static const s_ent_t dotdot[] = { { "./a/../../evil", AE_IFREG, 0644, "x", NULL, NULL, 0, 0 } };
    s_expect_refused ("dotdot", dotdot, 1, 3, "'..' component");
    static const s_ent_t dev[] = { { "./dev/mem", AE_IFCHR, 0600, NULL, NULL, NULL, 0, 0 } };
    s_expect_refused ("device", dev, 1, 5, "entry './dev/mem': device node");
    static const s_ent_t blk[] = { { "./dev/sda", AE_IFBLK, 0600, NULL, NULL, NULL, 0, 0 } };
    s_expect_refused ("block", blk, 1, 5, "device node");
    static const s_ent_t fifo[] = { { "./fifo", AE_IFIFO, 0600, NULL, NULL, NULL, 0, 0 } };
    s_expect_refused ("fifo", fifo, 1, 5, "FIFO");
    /* (tar cannot carry a socket: the reader never yields one) */
    static const s_ent_t suid[] = { { "./bin/su", AE_IFREG, 04755, "x", NULL, NULL, 0, 0 } };
    s_expect_refused ("setuid", suid, 1, 3, "entry './bin/su': setuid bit (mode 4755)");
    static const s_ent_t sgid[] = { { "./bin/wall", AE_IFREG, 02755, "x", NULL, NULL, 0, 5 } };
    s_expect_refused ("setgid", sgid, 1, 3, "setgid bit");
    static const s_ent_t suiddir[] = { { "./d/", AE_IFDIR, 04755, NULL, NULL, NULL, 0, 0 } };
    s_expect_refused ("setuid-dir", suiddir, 1, 3, "setuid bit");
    static const s_ent_t esc[] = { { "./etc/evil", AE_IFLNK, 0777, NULL, "../../../etc/shadow",
                                     NULL, 0, 0 } };
    s_expect_refused ("symlink", esc, 1, 6, "climbs above the image root");
    static const s_ent_t hout[] = { { "./bin/evil", 0, 0644, NULL, NULL, "/etc/shadow", 0, 0 } };
    s_expect_refused ("hardlink-abs", hout, 1, 3, "hard link target '/etc/shadow': absolute");
    static const s_ent_t hdd[] = { { "./bin/evil", 0, 0644, NULL, NULL, "../etc/shadow", 0, 0 } };
    s_expect_refused ("hardlink-dotdot", hdd, 1, 3, "'..' component");
    static const s_ent_t hlater[] = { { "./early", 0, 0644, NULL, NULL, "./empty", 0, 0 } };
    s_expect_refused ("hardlink-later", hlater, 1, 3, "not a file extracted before it");
    static const s_ent_t hdir[] = { { "./bindir", 0, 0644, NULL, NULL, "./bin", 0, 0 } };
    s_expect_refused ("hardlink-dir", hdir, 1, 3, "not a file extracted before it");
    static const s_ent_t hlink[] = { { "./sh2", 0, 0644, NULL, NULL, "./bin/sh", 0, 0 } };
    s_expect_refused ("hardlink-symlink", hlink, 1, 5, "not a file extracted before it");
    /* a symlink to a directory, then an entry through it */
    static const s_ent_t below[] = {
        { "./escape", AE_IFLNK, 0777, NULL, "/etc", NULL, 0, 0 },
        { "./escape/passwd", AE_IFREG, 0644, "x", NULL, NULL, 0, 0 },
    };
    s_expect_refused ("below-symlink", below, 2, 3, "below the symlink 'escape'");
    static const s_ent_t dirbelow[] = {
        { "./lnk", AE_IFLNK, 0777, NULL, "bin", NULL, 0, 0 },
        { "./lnk/sub/", AE_IFDIR, 0755, NULL, NULL, NULL, 0, 0 },
    };
    s_expect_refused ("dir-below-symlink", dirbelow, 2, 3, "below the symlink 'lnk'");
    /* a name with a newline stays one line in the reason */
    static const s_ent_t nl[] = {
        { "./l\nx", AE_IFLNK, 0777, NULL, "/etc", NULL, 0, 0 },
        { "./l\nx/passwd", AE_IFREG, 0644, "x", NULL, NULL, 0, 0 },
    };
    s_expect_refused ("newline", nl, 2, 3, "below the symlink 'l?x'");
    static const s_ent_t belowfile[] = { { "./bin/busybox/x", AE_IFREG, 0644, "x", NULL, NULL, 0,
                                           0 } };
    s_expect_refused ("below-file", belowfile, 1, 3, "below the file 'bin/busybox'");
    /* a file replaced by a symlink later in the archive */
    static const s_ent_t twice[] = { { "./bin/busybox", AE_IFLNK, 0777, NULL, "/etc/shadow", NULL,
                                       0, 0 } };
    s_expect_refused ("twice", twice, 1, 4, "appears twice");
    /* implicit parent made a dir, then named as a symlink */
    static const s_ent_t parent[] = { { "./home", AE_IFLNK, 0777, NULL, "/", NULL, 0, 0 } };
    s_expect_refused ("parent-then-link", parent, 1, S_NGOOD, "appears twice");
    static const s_ent_t bigid[] = { { "./x", AE_IFREG, 0644, "x", NULL, NULL, 65536, 0 } };
    s_expect_refused ("uid", bigid, 1, 3, "owner 65536:0 outside 0..65535");
    static const s_ent_t neg[] = { { "./x", AE_IFREG, 0644, "x", NULL, NULL, 0, 1ll << 32 } };
    s_expect_refused ("gid", neg, 1, 3, "outside 0..65535");
    /* a file named "./" reads back with an empty name */
    static const s_ent_t rootfile[] = { { "./", AE_IFREG, 0644, "x", NULL, NULL, 0, 0 } };
    s_expect_refused ("root-file", rootfile, 1, 1, "empty or unreadable name");
    static const s_ent_t rootlink[] = { { ".", AE_IFLNK, 0777, NULL, "/", NULL, 0, 0 } };
    s_expect_refused ("root-link", rootlink, 1, 1, "names the root but is not a directory");
}

static void
test_unpack_limits (void **state)
{
    char file[PATH_MAX + 32], why[512] = "", out[PATH_MAX + 8];
    snprintf (file, sizeof file, "%s/limits.tar.zst", s_dir);
    snprintf (out, sizeof out, "%s/out", s_dir);
    s_archive (file, "zstd", s_good, S_NGOOD);
    int before = s_count (out);

    image_unpack_opts_t opts = { .max_bytes = 40 };
    assert_int_equal (s_unpack (file, "lim1", &opts, why, sizeof why, NULL), -1);
    assert_non_null (strstr (why, "more than 0 MiB"));
    opts = (image_unpack_opts_t){ .max_entries = 5 };
    assert_int_equal (s_unpack (file, "lim2", &opts, why, sizeof why, NULL), -1);
    assert_non_null (strstr (why, "more than 5 entries"));
    /* free space: a reserve larger than any disk */
    opts = (image_unpack_opts_t){ .reserve_bytes = 1ull << 62 };
    assert_int_equal (s_unpack (file, "lim3", &opts, why, sizeof why, NULL), -1);
    assert_non_null (strstr (why, "MiB free"));
    assert_non_null (strstr (why, "kept in reserve"));
    assert_int_equal (s_count (out), before);
    /* exactly at the limits: accepted */
    opts = (image_unpack_opts_t){ .max_bytes = 58, .max_entries = S_NGOOD };
    if (s_unpack (file, "lim4", &opts, why, sizeof why, NULL) != 0)
        fail_msg ("%s", why);
}

static void
test_unpack_not_archives (void **state)
{
    char file[PATH_MAX + 32], why[512] = "", out[PATH_MAX + 8];
    snprintf (out, sizeof out, "%s/out", s_dir);
    int before = s_count (out);
    snprintf (file, sizeof file, "%s/garbage", s_dir);
    FILE *f = fopen (file, "w");
    for (int i = 0; i < 4096; i++)
        fputc ((i * 7919) & 0xff, f);
    fclose (f);
    assert_int_equal (s_unpack (file, "garbage", NULL, why, sizeof why, NULL), -1);
    assert_true (strlen (why) > 0);

    /* empty archive */
    snprintf (file, sizeof file, "%s/empty.tar", s_dir);
    s_archive (file, "none", NULL, 0);
    assert_int_equal (s_unpack (file, "empty", NULL, why, sizeof why, NULL), -1);
    assert_non_null (strstr (why, "no entries"));

    /* a gzip archive cut in the middle: refused in the check pass */
    char big[PATH_MAX + 32];
    snprintf (big, sizeof big, "%s/cut.tar.gz", s_dir);
    static char data[200000];
    for (size_t i = 0; i < sizeof data - 1; i++)
        data[i] = (char) ('a' + (i * 2654435761u >> 13) % 26);
    s_ent_t ents[] = { { "./a", AE_IFREG, 0644, "x", NULL, NULL, 0, 0 },
                       { "./big", AE_IFREG, 0644, data, NULL, NULL, 0, 0 } };
    s_archive (big, "gzip", ents, 2);
    struct stat st;
    assert_int_equal (stat (big, &st), 0);
    assert_int_equal (truncate (big, st.st_size / 2), 0);
    assert_int_equal (s_unpack (big, "cut", NULL, why, sizeof why, NULL), -1);
    assert_int_equal (s_count (out), before);

    /* missing file, destination with no parent */
    assert_int_equal (s_unpack ("/nonexistent/x.tar", "x", NULL, why, sizeof why, NULL), -1);
    snprintf (file, sizeof file, "%s/good.tar", s_dir);
    s_archive (file, "none", s_good, S_NGOOD);
    assert_int_equal (image_unpack_path (file, "/nonexistent-dir/x/y", NULL, NULL, why, sizeof why),
                      -1);
}

static void
test_rmtree (void **state)
{
    char file[PATH_MAX + 32], why[512], dest[PATH_MAX + 32];
    snprintf (file, sizeof file, "%s/rm.tar", s_dir);
    /* a read-only directory and a symlink to a directory outside */
    char outside[PATH_MAX + 32], keep[PATH_MAX + 64];
    snprintf (outside, sizeof outside, "%s/outside", s_dir);
    assert_int_equal (mkdir (outside, 0755), 0);
    snprintf (keep, sizeof keep, "%s/keep", outside);
    FILE *f = fopen (keep, "w");
    fclose (f);
    s_ent_t ents[] = { { "./ro/", AE_IFDIR, 0555, NULL, NULL, NULL, 0, 0 },
                       { "./ro/f", AE_IFREG, 0444, "x", NULL, NULL, 0, 0 },
                       { "./out", AE_IFLNK, 0777, NULL, outside, NULL, 0, 0 } };
    s_archive (file, "none", ents, 3);
    if (s_unpack (file, "rm", NULL, why, sizeof why, NULL) != 0)
        fail_msg ("%s", why);
    snprintf (dest, sizeof dest, "%s/out/rm", s_dir);
    assert_int_equal (image_rmtree (dest), 0);
    struct stat st;
    assert_int_equal (lstat (dest, &st), -1);
    assert_int_equal (stat (keep, &st), 0);    /* the link was not followed */
    assert_int_equal (image_rmtree (dest), 0); /* already gone */
}

int
main (void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test (test_path_check),    cmocka_unit_test (test_path_check_long),
        cmocka_unit_test (test_unpack_good),   cmocka_unit_test (test_unpack_refused),
        cmocka_unit_test (test_unpack_limits), cmocka_unit_test (test_unpack_not_archives),
        cmocka_unit_test (test_rmtree),
    };
    return cmocka_run_group_tests (tests, s_setup, s_teardown);
}
