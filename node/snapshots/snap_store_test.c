/* snap_store_test.c - the snapshot store in a scratch directory: stage,
 * commit (digest, size, meta), list, get, remove; refusals (quota, an
 * existing name, bad names) that leave nothing behind; a corrupt meta
 * skipped; chunk reads up to and past the end; reopen cleans tmp/ and keeps
 * fetch/ *.partial. */
#include "node/snapshots/snap_proto.h"
#include "node/snapshots/snap_store.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <openssl/sha.h>
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <cmocka.h>

/* The store is one level below a directory of the test's own, so "what a
 * bad name could make outside the store" is looked for there, not in a
 * /tmp that other programs share. */
static char s_top[PATH_MAX - 16];
static char s_dir[PATH_MAX];

static int
s_setup (void **state)
{
    (void) state;
    snprintf (s_top, sizeof s_top, "/tmp/snap_store_test.%d", (int) getpid ());
    snprintf (s_dir, sizeof s_dir, "%s/store", s_top);
    char cmd[PATH_MAX + 16];
    snprintf (cmd, sizeof cmd, "rm -rf %s", s_top);
    if (system (cmd) != 0)
        return -1;
    return mkdir (s_top, 0700);
}

static int
s_teardown (void **state)
{
    (void) state;
    char cmd[PATH_MAX + 16];
    snprintf (cmd, sizeof cmd, "rm -rf %s", s_top);
    return system (cmd) == 0 ? 0 : -1;
}

static bool
s_exists (const char *fmt, ...)
{
    char path[PATH_MAX];
    va_list ap;
    va_start (ap, fmt);
    vsnprintf (path, sizeof path, fmt, ap);
    va_end (ap);
    struct stat st;
    return lstat (path, &st) == 0;
}

/* Entries in a directory, "." and ".." aside. */
static size_t
s_count (const char *sub)
{
    char path[PATH_MAX + 64];
    snprintf (path, sizeof path, "%s/%s", s_dir, sub);
    DIR *d = opendir (path);
    if (!d)
        return 0;
    size_t n = 0;
    struct dirent *de;
    while ((de = readdir (d)))
        if (strcmp (de->d_name, ".") && strcmp (de->d_name, ".."))
            n++;
    closedir (d);
    return n;
}

static void
s_write (const char *path, const uint8_t *data, size_t len)
{
    int fd = open (path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    assert_true (fd >= 0);
    assert_int_equal (write (fd, data, len), (ssize_t) len);
    close (fd);
}

static void
s_sha256_hex (const uint8_t *data, size_t len, char hex[65])
{
    uint8_t md[32];
    SHA256 (data, len, md);
    for (int i = 0; i < 32; i++)
        snprintf (hex + 2 * i, 3, "%02x", md[i]);
}

static uint8_t *
s_bytes (size_t len, unsigned seed)
{
    uint8_t *b = malloc (len ? len : 1);
    assert_non_null (b);
    uint32_t x = seed * 2654435761u + 1;
    for (size_t i = 0; i < len; i++) {
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        b[i] = (uint8_t) x;
    }
    return b;
}

/* Stage `len` bytes as a capture of name and commit it with a tag. */
static int
s_capture (snap_store_t *st, const char *name, const uint8_t *data, size_t len, char *err,
           size_t errlen)
{
    char path[PATH_MAX];
    assert_int_equal (snap_store_stage_path (st, name, path, sizeof path), 0);
    s_write (path, data, len);
    rec_snapshot_t rec;
    memset (&rec, 0, sizeof rec);
    snprintf (rec.name, sizeof rec.name, "%s", name);
    snprintf (rec.shed, sizeof rec.shed, "web");
    snprintf (rec.node, sizeof rec.node, "node-a");
    snprintf (rec.image, sizeof rec.image, "debian");
    snprintf (rec.ip, sizeof rec.ip, "10.88.0.7");
    snprintf (rec.mac, sizeof rec.mac, "02:00:0a:58:00:07");
    snprintf (rec.mode, sizeof rec.mode, "live");
    rec.memory_mb = 512;
    wire_tag_t tag = { "team", "infra" };
    rec.tags.n = 1;
    rec.tags.items = &tag;
    int rc = snap_store_commit (st, &rec, err, errlen);
    if (rc == 0) {
        char hex[65];
        s_sha256_hex (data, len, hex);
        assert_string_equal (rec.digest, hex);
        assert_int_equal (rec.size, len);
    }
    return rc;
}

typedef struct {
    size_t n;
    char names[8][64];
    char tag[8][64];
} s_seen_t;

static void
s_on_rec (const rec_snapshot_t *rec, void *arg)
{
    s_seen_t *seen = arg;
    if (seen->n < 8) {
        snprintf (seen->names[seen->n], 64, "%s", rec->name);
        snprintf (seen->tag[seen->n], 64, "%.63s", rec->tags.n ? rec->tags.items[0].value : "");
        seen->n++;
    }
}

static void
test_names (void **state)
{
    (void) state;
    char err[256];
    assert_int_equal (snap_name_check ("web-1", err, sizeof err), 0);
    assert_int_equal (snap_name_check ("1st", err, sizeof err), 0);
    assert_int_equal (snap_name_check ("../x", err, sizeof err), -1);
    assert_non_null (strstr (err, "must start"));
    assert_int_equal (snap_name_check ("a/../x", err, sizeof err), -1);
    assert_non_null (strstr (err, "only a-z"));
    assert_int_equal (snap_name_check ("A", err, sizeof err), -1);
    assert_int_equal (snap_name_check ("", err, sizeof err), -1);
    assert_non_null (strstr (err, "empty"));
    assert_int_equal (snap_name_check (NULL, NULL, 0), -1);
    assert_int_equal (snap_name_check ("-x", NULL, 0), -1);
    assert_int_equal (snap_name_check ("a/b", NULL, 0), -1);
    assert_int_equal (snap_name_check ("a.b", NULL, 0), -1);
    assert_int_equal (snap_name_check ("tmp", NULL, 0), -1);
    assert_int_equal (snap_name_check ("fetch", NULL, 0), -1);
    char n63[64], n64[65];
    memset (n63, 'a', 63);
    n63[63] = '\0';
    memset (n64, 'a', 64);
    n64[64] = '\0';
    assert_int_equal (snap_name_check (n63, NULL, 0), 0);
    assert_int_equal (snap_name_check (n64, err, sizeof err), -1);
    assert_non_null (strstr (err, "63"));

    /* Every entry point refuses them, and nothing is made outside. */
    snap_store_t *st = snap_store_open (s_dir, 0, err, sizeof err);
    assert_non_null (st);
    char path[PATH_MAX];
    const char *bad[] = { "../x", "A", "", n64, "..", "tmp" };
    uint8_t buf[16];
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        assert_int_equal (snap_store_stage_path (st, bad[i], path, sizeof path), -1);
        assert_int_equal (snap_store_fetch_path (st, bad[i], path, sizeof path), -1);
        assert_int_equal (snap_store_layer_path (st, bad[i], path, sizeof path), -1);
        assert_int_equal (snap_store_read (st, bad[i], 0, buf, sizeof buf, NULL), -1);
        assert_int_equal (snap_store_remove (st, bad[i], err, sizeof err), -1);
        rec_snapshot_t rec;
        assert_false (snap_store_get (st, bad[i], &rec));
        memset (&rec, 0, sizeof rec);
        snprintf (rec.name, sizeof rec.name, "%s", bad[i]);
        assert_int_equal (snap_store_commit (st, &rec, err, sizeof err), -1);
    }
    char outside[PATH_MAX + 8];
    snprintf (outside, sizeof outside, "%s/x", s_top);
    assert_false (s_exists (outside));
    snprintf (outside, sizeof outside, "%s/x", s_dir);
    assert_false (s_exists (outside));
    snap_store_destroy (&st);
    assert_null (st);
}

static void
test_commit_list_get_remove (void **state)
{
    (void) state;
    char err[256];
    snap_store_t *st = snap_store_open (s_dir, 0, err, sizeof err);
    assert_non_null (st);
    assert_int_equal (snap_store_used (st), 0);
    assert_int_equal (snap_store_quota (st), 0);
    uint8_t *a = s_bytes (100000, 1), *b = s_bytes (3, 2);
    assert_int_equal (s_capture (st, "web-2", a, 100000, err, sizeof err), 0);
    assert_int_equal (s_capture (st, "web-1", b, 3, err, sizeof err), 0);
    assert_int_equal (s_capture (st, "empty", NULL, 0, err, sizeof err), 0);
    assert_int_equal (snap_store_used (st), 100003);
    assert_int_equal (s_count ("tmp"), 0);

    /* An existing name is refused and its staged file goes. */
    assert_int_equal (s_capture (st, "web-1", a, 10, err, sizeof err), -1);
    assert_non_null (strstr (err, "already exists"));
    assert_false (s_exists ("%s/tmp/web-1.layer", s_dir));
    /* A commit with nothing staged. */
    rec_snapshot_t none;
    memset (&none, 0, sizeof none);
    snprintf (none.name, sizeof none.name, "nothing");
    assert_int_equal (snap_store_commit (st, &none, err, sizeof err), -1);
    assert_non_null (strstr (err, "no captured layer"));
    assert_false (s_exists ("%s/nothing", s_dir));

    s_seen_t seen = { 0 };
    assert_int_equal (snap_store_list (st, s_on_rec, &seen), 3);
    assert_int_equal (seen.n, 3);
    assert_string_equal (seen.names[0], "empty");
    assert_string_equal (seen.names[1], "web-1");
    assert_string_equal (seen.names[2], "web-2");
    assert_string_equal (seen.tag[2], "infra");
    assert_int_equal (snap_store_list (st, NULL, NULL), 3);

    rec_snapshot_t rec;
    assert_true (snap_store_get (st, "web-2", &rec));
    char hex[65];
    s_sha256_hex (a, 100000, hex);
    assert_string_equal (rec.digest, hex);
    assert_int_equal (rec.size, 100000);
    assert_string_equal (rec.shed, "web");
    assert_string_equal (rec.ip, "10.88.0.7");
    assert_string_equal (rec.mac, "02:00:0a:58:00:07");
    assert_int_equal (rec.memory_mb, 512);
    assert_int_equal (rec.tags.n, 1);
    assert_string_equal (rec.tags.items[0].key, "team");
    snap_rec_free (&rec);
    assert_null (rec.tags.items);
    assert_false (snap_store_get (st, "web-9", &rec));

    char path[PATH_MAX];
    assert_int_equal (snap_store_layer_path (st, "web-2", path, sizeof path), 0);
    char want[PATH_MAX + 32];
    snprintf (want, sizeof want, "%s/web-2/layer", s_dir);
    assert_string_equal (path, want);
    assert_int_equal (snap_store_layer_path (st, "web-9", path, sizeof path), -1);
    assert_int_equal (snap_store_fetch_path (st, "web-9", path, sizeof path), 0);
    snprintf (want, sizeof want, "%s/fetch/web-9.layer", s_dir);
    assert_string_equal (path, want);

    /* Unstage drops an abandoned capture. */
    assert_int_equal (snap_store_stage_path (st, "gone", path, sizeof path), 0);
    s_write (path, a, 10);
    snap_store_unstage (st, "gone");
    assert_false (s_exists ("%s", path));

    assert_int_equal (snap_store_remove (st, "web-2", err, sizeof err), 0);
    assert_false (s_exists ("%s/web-2", s_dir));
    assert_int_equal (snap_store_remove (st, "web-2", err, sizeof err), -1);
    assert_int_equal (errno, ENOENT);
    assert_non_null (strstr (err, "no snapshot"));
    assert_int_equal (snap_store_used (st), 3);
    assert_int_equal (snap_store_list (st, NULL, NULL), 2);
    assert_int_equal (s_count ("tmp"), 0);
    free (a);
    free (b);
    snap_store_destroy (&st);
}

static void
test_quota (void **state)
{
    (void) state;
    char err[256];
    snap_store_t *st = snap_store_open (s_dir, 1000, err, sizeof err);
    assert_non_null (st);
    assert_int_equal (snap_store_quota (st), 1000);
    uint8_t *a = s_bytes (1001, 3);
    assert_int_equal (s_capture (st, "one", a, 600, err, sizeof err), 0);
    assert_int_equal (snap_store_room (st, 400, err, sizeof err), 0);
    assert_int_equal (snap_store_room (st, 401, err, sizeof err), -1);
    /* 600 + 401 > 1000: refused, the error says used and quota, nothing left */
    assert_int_equal (s_capture (st, "two", a, 401, err, sizeof err), -1);
    assert_non_null (strstr (err, "600 bytes used"));
    assert_non_null (strstr (err, "quota 1000"));
    assert_false (s_exists ("%s/two", s_dir));
    assert_int_equal (s_count ("tmp"), 0);
    assert_int_equal (snap_store_used (st), 600);
    assert_int_equal (s_capture (st, "two", a, 400, err, sizeof err), 0);
    assert_int_equal (snap_store_used (st), 1000);
    assert_int_equal (snap_store_list (st, NULL, NULL), 2);
    free (a);
    snap_store_destroy (&st);
}

static void
test_corrupt_meta (void **state)
{
    (void) state;
    char err[256];
    snap_store_t *st = snap_store_open (s_dir, 0, err, sizeof err);
    assert_non_null (st);
    uint8_t *a = s_bytes (50, 4);
    assert_int_equal (s_capture (st, "good", a, 50, err, sizeof err), 0);
    assert_int_equal (s_capture (st, "bad", a, 50, err, sizeof err), 0);
    assert_int_equal (s_capture (st, "other", a, 50, err, sizeof err), 0);
    char path[PATH_MAX + 32];
    snprintf (path, sizeof path, "%s/bad/meta", s_dir);
    s_write (path, (const uint8_t *) "\x81\x00\xc1 not msgpack", 14);
    /* A valid record of another name in other/meta: not this snapshot's. */
    rec_snapshot_t rec;
    assert_true (snap_store_get (st, "good", &rec));
    rec_msg_t msg;
    memset (&msg, 0, sizeof msg);
    msg.hdr.type = REC_SNAPSHOT;
    msg.u.rec_snapshot = rec;
    uint8_t *buf;
    size_t len;
    assert_int_equal (wire_encode (&rec_proto, &msg, &buf, &len), WIRE_OK);
    snap_rec_free (&rec);
    snprintf (path, sizeof path, "%s/other/meta", s_dir);
    s_write (path, buf, len);
    free (buf);
    /* A directory that is no snapshot at all. */
    snprintf (path, sizeof path, "%s/stray", s_dir);
    assert_int_equal (mkdir (path, 0700), 0);

    s_seen_t seen = { 0 };
    assert_int_equal (snap_store_list (st, s_on_rec, &seen), 1);
    assert_string_equal (seen.names[0], "good");
    assert_false (snap_store_get (st, "bad", &rec));
    assert_false (snap_store_get (st, "other", &rec));
    assert_false (snap_store_get (st, "stray", &rec));
    /* A damaged snapshot can still be removed. */
    assert_int_equal (snap_store_remove (st, "bad", err, sizeof err), 0);
    free (a);
    snap_store_destroy (&st);
}

static void
test_read (void **state)
{
    (void) state;
    char err[256];
    snap_store_t *st = snap_store_open (s_dir, 0, err, sizeof err);
    assert_non_null (st);
    size_t size = SNAPX_CHUNK_MAX * 2 + 123;
    uint8_t *a = s_bytes (size, 5);
    assert_int_equal (s_capture (st, "big", a, size, err, sizeof err), 0);
    uint8_t *buf = malloc (SNAPX_CHUNK_MAX + 1);
    uint64_t total = 0, off = 0;
    size_t chunks = 0;
    for (;;) {
        ssize_t n = snap_store_read (st, "big", off, buf, SNAPX_CHUNK_MAX, &total);
        assert_true (n >= 0);
        assert_int_equal (total, size);
        if (n == 0)
            break;
        assert_memory_equal (buf, a + off, (size_t) n);
        off += (uint64_t) n;
        chunks++;
    }
    assert_int_equal (off, size);
    assert_int_equal (chunks, 3);
    /* the last one is short, one in the middle of nowhere reads fine */
    assert_int_equal (snap_store_read (st, "big", size - 100, buf, 1000, NULL), 100);
    assert_int_equal (snap_store_read (st, "big", 7, buf, 5, NULL), 5);
    assert_memory_equal (buf, a + 7, 5);
    /* at the end: 0; past it: -1; too long a read: -1; absent: -1 */
    assert_int_equal (snap_store_read (st, "big", size, buf, 10, &total), 0);
    assert_int_equal (snap_store_read (st, "big", size + 1, buf, 10, &total), -1);
    assert_int_equal (snap_store_read (st, "big", 0, buf, SNAPX_CHUNK_MAX + 1, &total), -1);
    assert_int_equal (snap_store_read (st, "nope", 0, buf, 10, &total), -1);
    free (buf);
    free (a);
    snap_store_destroy (&st);
}

static void
test_reopen (void **state)
{
    (void) state;
    char err[256];
    snap_store_t *st = snap_store_open (s_dir, 0, err, sizeof err);
    assert_non_null (st);
    /* Nothing is made before the first write; an empty store lists none. */
    assert_false (s_exists ("%s", s_dir));
    assert_int_equal (snap_store_list (st, NULL, NULL), 0);
    assert_int_equal (snap_store_used (st), 0);
    assert_false (s_exists ("%s", s_dir));
    uint8_t *a = s_bytes (64, 6);
    assert_int_equal (s_capture (st, "kept", a, 64, err, sizeof err), 0);
    assert_true (s_exists ("%s/tmp", s_dir));
    assert_true (s_exists ("%s/fetch", s_dir));
    char path[PATH_MAX], more[PATH_MAX + 32];
    /* an interrupted capture, an interrupted commit, a partial fetch */
    assert_int_equal (snap_store_stage_path (st, "half", path, sizeof path), 0);
    s_write (path, a, 64);
    snprintf (more, sizeof more, "%s/tmp/half.commit", s_dir);
    assert_int_equal (mkdir (more, 0700), 0);
    snprintf (more, sizeof more, "%s/tmp/half.commit/layer", s_dir);
    s_write (more, a, 64);
    assert_int_equal (snap_store_fetch_path (st, "far", path, sizeof path), 0);
    snprintf (more, sizeof more, "%s.partial", path);
    s_write (more, a, 32);
    snap_store_destroy (&st);

    st = snap_store_open (s_dir, 0, err, sizeof err);
    assert_non_null (st);
    assert_int_equal (s_count ("tmp"), 0);
    assert_true (s_exists ("%s", more));
    assert_true (s_exists ("%s/kept/layer", s_dir));
    assert_int_equal (snap_store_list (st, NULL, NULL), 1);
    free (a);
    snap_store_destroy (&st);

    /* a directory that cannot be made: the first write says so */
    st = snap_store_open ("/proc/nope/snapshots", 0, err, sizeof err);
    assert_non_null (st);
    assert_int_equal (snap_store_stage_path (st, "x", path, sizeof path), -1);
    assert_int_equal (snap_store_fetch_path (st, "x", path, sizeof path), -1);
    rec_snapshot_t rec;
    memset (&rec, 0, sizeof rec);
    snprintf (rec.name, sizeof rec.name, "x");
    err[0] = '\0';
    assert_int_equal (snap_store_commit (st, &rec, err, sizeof err), -1);
    assert_non_null (strstr (err, "/proc/nope/snapshots"));
    snap_store_destroy (&st);
}

int
main (void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown (test_names, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown (test_commit_list_get_remove, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown (test_quota, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown (test_corrupt_meta, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown (test_read, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown (test_reopen, s_setup, s_teardown),
    };
    return cmocka_run_group_tests (tests, NULL, NULL);
}
