/* snap_xfer_test.c - the transfer state machine against the real server
 * side (snap_store_read of a committed 5 MB snapshot), the loop the
 * daemon runs over node RPC done in process: in order, out of order, with
 * dropped answers retried; interrupted half way and resumed (only the rest
 * asked for); a corrupted partial refused by checksum and removed; a source
 * shorter than its record; answers nobody asked for; a copy already there.
 * Prints the throughput of the loop. */
#include "node/snapshots/snap_proto.h"
#include "node/snapshots/snap_store.h"
#include "node/snapshots/snap_xfer.h"

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
#include <sys/xattr.h>
#include <time.h>
#include <unistd.h>
#include <cmocka.h>

#define S_SIZE   (5u * 1024 * 1024 + 777) /* 5 MB and a short last chunk */
#define S_CHUNK  (128u * 1024)
#define S_CHUNKS ((S_SIZE + S_CHUNK - 1) / S_CHUNK) /* 41 */
#define S_WINDOW 4

typedef struct {
    char root[PATH_MAX];
    snap_store_t *server; /* the node that holds the snapshot */
    snap_store_t *client; /* the node that restores it */
    uint8_t *data;
    char digest[65];
    char target[PATH_MAX];
    char partial[PATH_MAX + 16];
} s_env_t;

static uint8_t *
s_random (size_t len)
{
    uint8_t *b = malloc (len);
    assert_non_null (b);
    int fd = open ("/dev/urandom", O_RDONLY);
    assert_true (fd >= 0);
    size_t got = 0;
    while (got < len) {
        ssize_t n = read (fd, b + got, len - got);
        assert_true (n > 0);
        got += (size_t) n;
    }
    close (fd);
    return b;
}

static void
s_hex (const uint8_t *data, size_t len, char hex[65])
{
    uint8_t md[32];
    SHA256 (data, len, md);
    for (int i = 0; i < 32; i++)
        snprintf (hex + 2 * i, 3, "%02x", md[i]);
}

static void
s_put (snap_store_t *st, const char *name, const uint8_t *data, size_t len)
{
    char path[PATH_MAX], err[256];
    assert_int_equal (snap_store_stage_path (st, name, path, sizeof path), 0);
    int fd = open (path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    assert_true (fd >= 0);
    assert_int_equal (write (fd, data, len), (ssize_t) len);
    close (fd);
    rec_snapshot_t rec;
    memset (&rec, 0, sizeof rec);
    snprintf (rec.name, sizeof rec.name, "%s", name);
    snprintf (rec.shed, sizeof rec.shed, "web");
    snprintf (rec.node, sizeof rec.node, "a");
    assert_int_equal (snap_store_commit (st, &rec, err, sizeof err), 0);
    assert_int_equal (rec.size, len);
}

static int
s_setup (void **state)
{
    s_env_t *env = calloc (1, sizeof *env);
    char err[256], dir[PATH_MAX + 16];
    snprintf (env->root, sizeof env->root, "/tmp/snap_xfer_test.%d", (int) getpid ());
    snprintf (dir, sizeof dir, "%s/a", env->root);
    env->server = snap_store_open (dir, 0, err, sizeof err);
    snprintf (dir, sizeof dir, "%s/b", env->root);
    env->client = snap_store_open (dir, 0, err, sizeof err);
    if (!env->server || !env->client)
        return -1;
    env->data = s_random (S_SIZE);
    s_hex (env->data, S_SIZE, env->digest);
    s_put (env->server, "snap", env->data, S_SIZE);
    snap_store_fetch_path (env->client, "snap", env->target, sizeof env->target);
    snprintf (env->partial, sizeof env->partial, "%s.partial", env->target);
    *state = env;
    return 0;
}

static int
s_teardown (void **state)
{
    s_env_t *env = *state;
    snap_store_destroy (&env->server);
    snap_store_destroy (&env->client);
    char cmd[PATH_MAX + 16];
    snprintf (cmd, sizeof cmd, "rm -rf %s", env->root);
    int rc = system (cmd);
    free (env->data);
    free (env);
    return rc == 0 ? 0 : -1;
}

/* How the test plays the network. */
typedef enum {
    S_IN_ORDER,
    S_REVERSE, /* every window answered last request first */
    S_DROPPY,  /* every 3rd answer lost (timeout), then retried */
} s_net_t;

typedef struct {
    size_t requests; /* READs sent */
    size_t drops;
    size_t answers; /* stop after this many answers (0: run to the end) */
} s_run_t;

/* Serve one request from the server store as node_snaps does: a CHUNK
 * encoded and decoded, then fed in. Returns what snap_xfer_data said. */
static int
s_serve (s_env_t *env, snap_xfer_t *x, const char *name, uint64_t off, uint32_t len, char *err,
         size_t errlen)
{
    static uint8_t buf[SNAPX_CHUNK_MAX];
    uint64_t total = 0;
    ssize_t n = snap_store_read (env->server, name, off, buf, len, &total);
    assert_true (n >= 0);
    snapx_msg_t m;
    memset (&m, 0, sizeof m);
    m.hdr.type = SNAPX_CHUNK;
    m.u.snapx_chunk.offset = off;
    m.u.snapx_chunk.data.data = buf;
    m.u.snapx_chunk.data.len = (size_t) n;
    m.u.snapx_chunk.size = total;
    uint8_t *wire;
    size_t wlen;
    assert_int_equal (wire_encode (&snapx_proto, &m, &wire, &wlen), WIRE_OK);
    snapx_msg_t got;
    assert_int_equal (wire_decode (&snapx_proto, wire, wlen, &got, NULL), WIRE_OK);
    free (wire);
    int rc = snap_xfer_data (x, got.u.snapx_chunk.offset, got.u.snapx_chunk.data.data,
                             got.u.snapx_chunk.data.len, err, errlen);
    wire_msg_free (&snapx_proto, &got);
    return rc;
}

/* Run the transfer until it completes, an answer is refused (returns -1),
 * or run->answers answers were fed. */
static int
s_run (s_env_t *env, snap_xfer_t *x, const char *name, s_net_t net, s_run_t *run, char *err,
       size_t errlen)
{
    size_t answered = 0, nth = 0;
    while (!snap_xfer_complete (x)) {
        uint64_t offs[S_WINDOW * 2];
        uint32_t lens[S_WINDOW * 2];
        size_t n = 0;
        while (n < S_WINDOW * 2 && snap_xfer_next (x, &offs[n], &lens[n])) {
            assert_true (lens[n] > 0 && lens[n] <= S_CHUNK);
            n++;
            run->requests++;
        }
        assert_true (n > 0 && n <= S_WINDOW); /* never more than the window */
        for (size_t k = 0; k < n; k++) {
            size_t i = net == S_REVERSE ? n - 1 - k : k;
            if (net == S_DROPPY && ++nth % 3 == 0) {
                snap_xfer_retry (x, offs[i]);
                run->drops++;
                continue;
            }
            if (s_serve (env, x, name, offs[i], lens[i], err, errlen) != 0)
                return -1;
            if (run->answers && ++answered == run->answers)
                return 0;
        }
    }
    return 0;
}

static void
s_check_target (s_env_t *env)
{
    size_t len = 0;
    int fd = open (env->target, O_RDONLY);
    assert_true (fd >= 0);
    uint8_t *got = malloc (S_SIZE + 1);
    ssize_t n;
    while ((n = read (fd, got + len, S_SIZE + 1 - len)) > 0)
        len += (size_t) n;
    close (fd);
    assert_int_equal (len, S_SIZE);
    assert_memory_equal (got, env->data, S_SIZE);
    free (got);
    struct stat st;
    assert_int_not_equal (lstat (env->partial, &st), 0);
}

static void
s_whole (s_env_t *env, s_net_t net)
{
    char err[256];
    unlink (env->target);
    snap_xfer_t *x =
        snap_xfer_new (env->target, S_SIZE, env->digest, S_CHUNK, S_WINDOW, err, sizeof err);
    assert_non_null (x);
    assert_int_equal (snap_xfer_size (x), S_SIZE);
    assert_int_equal (snap_xfer_resumed (x), 0);
    s_run_t run = { 0 };
    assert_int_equal (s_run (env, x, "snap", net, &run, err, sizeof err), 0);
    assert_true (snap_xfer_complete (x));
    assert_int_equal (snap_xfer_received (x), S_SIZE);
    assert_int_equal (run.requests, S_CHUNKS + run.drops);
    if (net == S_DROPPY)
        assert_true (run.drops >= S_CHUNKS / 3);
    assert_int_equal (snap_xfer_finish (x, err, sizeof err), 0);
    snap_xfer_destroy (&x);
    assert_null (x);
    s_check_target (env);
}

static void
test_in_order (void **state)
{
    s_whole (*state, S_IN_ORDER);
}

static void
test_out_of_order (void **state)
{
    s_whole (*state, S_REVERSE);
}

static void
test_retries (void **state)
{
    s_whole (*state, S_DROPPY);
}

/* Half way, the link drops (the node goes away: destroy); a new transfer
 * keeps the partial and asks only for the rest. */
static void
test_resume (void **state)
{
    s_env_t *env = *state;
    char err[256];
    unlink (env->target);
    unlink (env->partial);
    snap_xfer_t *x =
        snap_xfer_new (env->target, S_SIZE, env->digest, S_CHUNK, S_WINDOW, err, sizeof err);
    assert_non_null (x);
    /* out of order, so some answers are held ahead of a gap when it stops */
    s_run_t run = { .answers = S_CHUNKS / 2 + 1 };
    assert_int_equal (s_run (env, x, "snap", S_REVERSE, &run, err, sizeof err), 0);
    assert_false (snap_xfer_complete (x));
    uint64_t have = snap_xfer_received (x);
    assert_true (have > 0 && have < S_SIZE);
    snap_xfer_destroy (&x);
    struct stat st;
    assert_int_equal (stat (env->partial, &st), 0);
    uint64_t prefix = (uint64_t) st.st_size;
    assert_true (prefix > 0 && prefix % S_CHUNK == 0 && prefix <= have);
    /* a write cut half way through a chunk: dropped on resume */
    int fd = open (env->partial, O_WRONLY | O_APPEND);
    assert_int_equal (write (fd, "torn", 4), 4);
    close (fd);

    x = snap_xfer_new (env->target, S_SIZE, env->digest, S_CHUNK, S_WINDOW, err, sizeof err);
    assert_non_null (x);
    assert_int_equal (snap_xfer_resumed (x), prefix);
    assert_int_equal (snap_xfer_received (x), prefix);
    s_run_t rest = { 0 };
    assert_int_equal (s_run (env, x, "snap", S_IN_ORDER, &rest, err, sizeof err), 0);
    assert_int_equal (rest.requests, S_CHUNKS - prefix / S_CHUNK);
    assert_int_equal (snap_xfer_received (x), S_SIZE);
    assert_int_equal (snap_xfer_finish (x, err, sizeof err), 0);
    snap_xfer_destroy (&x);
    s_check_target (env);

    /* Done already: the target is there whole, nothing is asked. */
    x = snap_xfer_new (env->target, S_SIZE, env->digest, S_CHUNK, S_WINDOW, err, sizeof err);
    assert_non_null (x);
    assert_true (snap_xfer_complete (x));
    uint64_t off;
    uint32_t len;
    assert_false (snap_xfer_next (x, &off, &len));
    assert_int_equal (snap_xfer_finish (x, err, sizeof err), 0);
    snap_xfer_destroy (&x);
    s_check_target (env);
}

/* A byte of the partial rots between attempts: the resumed copy fails the
 * checksum at the end and is removed, so the next attempt starts clean. */
static void
test_corrupt_partial (void **state)
{
    s_env_t *env = *state;
    char err[256];
    unlink (env->target);
    unlink (env->partial);
    snap_xfer_t *x =
        snap_xfer_new (env->target, S_SIZE, env->digest, S_CHUNK, S_WINDOW, err, sizeof err);
    s_run_t run = { .answers = 20 };
    assert_int_equal (s_run (env, x, "snap", S_IN_ORDER, &run, err, sizeof err), 0);
    snap_xfer_destroy (&x);
    int fd = open (env->partial, O_RDWR);
    assert_true (fd >= 0);
    uint8_t b;
    assert_int_equal (pread (fd, &b, 1, 1000), 1);
    b ^= 0x40;
    assert_int_equal (pwrite (fd, &b, 1, 1000), 1);
    close (fd);

    x = snap_xfer_new (env->target, S_SIZE, env->digest, S_CHUNK, S_WINDOW, err, sizeof err);
    assert_int_equal (snap_xfer_resumed (x), 20 * S_CHUNK);
    s_run_t rest = { 0 };
    assert_int_equal (s_run (env, x, "snap", S_IN_ORDER, &rest, err, sizeof err), 0);
    assert_int_equal (rest.requests, S_CHUNKS - 20);
    assert_int_equal (snap_xfer_finish (x, err, sizeof err), -1);
    assert_non_null (strstr (err, "checksum mismatch"));
    struct stat st;
    assert_int_not_equal (lstat (env->partial, &st), 0);
    assert_int_not_equal (lstat (env->target, &st), 0);
    assert_false (snap_xfer_complete (x));
    snap_xfer_destroy (&x);

    x = snap_xfer_new (env->target, S_SIZE, env->digest, S_CHUNK, S_WINDOW, err, sizeof err);
    assert_int_equal (snap_xfer_resumed (x), 0);
    snap_xfer_destroy (&x);
}

/* The record says 5 MB but the holder has fewer bytes: refused at the
 * first short answer (and at the end of the layer, an empty one). */
static void
test_truncated_source (void **state)
{
    s_env_t *env = *state;
    char err[256];
    size_t short_len = S_SIZE - 200000;
    s_put (env->server, "short", env->data, short_len);
    unlink (env->partial);
    snap_xfer_t *x =
        snap_xfer_new (env->target, S_SIZE, env->digest, S_CHUNK, S_WINDOW, err, sizeof err);
    s_run_t run = { 0 };
    assert_int_equal (s_run (env, x, "short", S_IN_ORDER, &run, err, sizeof err), -1);
    assert_non_null (strstr (err, "shorter"));
    assert_false (snap_xfer_complete (x));
    assert_true (snap_xfer_received (x) <= short_len);
    /* the answer for a range wholly past the end is empty: refused too */
    uint64_t off;
    uint32_t len;
    while (snap_xfer_next (x, &off, &len))
        if (off >= short_len) {
            assert_int_equal (snap_xfer_data (x, off, NULL, 0, err, sizeof err), -1);
            break;
        }
    assert_int_equal (snap_xfer_finish (x, err, sizeof err), -1);
    assert_non_null (strstr (err, "incomplete"));
    snap_xfer_abandon (x);
    struct stat st;
    assert_int_not_equal (lstat (env->partial, &st), 0);
    uint64_t o;
    uint32_t l;
    assert_false (snap_xfer_next (x, &o, &l));
    snap_xfer_destroy (&x);
}

static void
test_unasked (void **state)
{
    s_env_t *env = *state;
    char err[256];
    unlink (env->partial);
    unlink (env->target);
    snap_xfer_t *x =
        snap_xfer_new (env->target, S_SIZE, env->digest, S_CHUNK, S_WINDOW, err, sizeof err);
    uint8_t *buf = calloc (1, S_CHUNK + 1);
    /* nothing asked yet */
    assert_int_equal (snap_xfer_data (x, 0, buf, S_CHUNK, err, sizeof err), -1);
    assert_non_null (strstr (err, "nobody asked"));
    uint64_t off[2];
    uint32_t len[2];
    assert_true (snap_xfer_next (x, &off[0], &len[0]));
    assert_true (snap_xfer_next (x, &off[1], &len[1]));
    assert_int_equal (off[0], 0);
    assert_int_equal (off[1], S_CHUNK);
    /* an offset never asked, inside a chunk */
    assert_int_equal (snap_xfer_data (x, 17, buf, S_CHUNK, err, sizeof err), -1);
    /* longer than asked */
    assert_int_equal (snap_xfer_data (x, 0, buf, S_CHUNK + 1, err, sizeof err), -1);
    assert_non_null (strstr (err, "longer"));
    /* the second one ahead of the first, then again: refused the second time */
    assert_int_equal (s_serve (env, x, "snap", off[1], len[1], err, sizeof err), 0);
    assert_int_equal (s_serve (env, x, "snap", off[1], len[1], err, sizeof err), -1);
    assert_non_null (strstr (err, "nobody asked"));
    assert_int_equal (s_serve (env, x, "snap", off[0], len[0], err, sizeof err), 0);
    assert_int_equal (s_serve (env, x, "snap", off[0], len[0], err, sizeof err), -1);
    assert_int_equal (snap_xfer_received (x), 2 * S_CHUNK);
    /* a retry of something not in flight changes nothing */
    snap_xfer_retry (x, 999);
    s_run_t run = { 0 };
    assert_int_equal (s_run (env, x, "snap", S_IN_ORDER, &run, err, sizeof err), 0);
    assert_int_equal (run.requests, S_CHUNKS - 2);
    assert_int_equal (snap_xfer_finish (x, err, sizeof err), 0);
    snap_xfer_destroy (&x);
    free (buf);
    s_check_target (env);
}

static void
test_args_and_edges (void **state)
{
    s_env_t *env = *state;
    char err[256];
    assert_null (snap_xfer_new (env->target, 10, "abc", S_CHUNK, 1, err, sizeof err));
    assert_null (snap_xfer_new (env->target, 10, env->digest, 0, 1, err, sizeof err));
    assert_null (
        snap_xfer_new (env->target, 10, env->digest, SNAPX_CHUNK_MAX + 1, 1, err, sizeof err));
    assert_null (snap_xfer_new (env->target, 10, env->digest, S_CHUNK, 0, err, sizeof err));
    assert_null (snap_xfer_new ("", 10, env->digest, S_CHUNK, 1, err, sizeof err));

    /* An empty layer: complete at once, its digest checked. */
    char empty[65], path[PATH_MAX + 32];
    s_hex ((const uint8_t *) "", 0, empty);
    snprintf (path, sizeof path, "%s/b/fetch/empty.layer", env->root);
    snap_xfer_t *x = snap_xfer_new (path, 0, empty, S_CHUNK, 1, err, sizeof err);
    assert_non_null (x);
    assert_true (snap_xfer_complete (x));
    uint64_t off;
    uint32_t len;
    assert_false (snap_xfer_next (x, &off, &len));
    assert_int_equal (snap_xfer_finish (x, err, sizeof err), 0);
    snap_xfer_destroy (&x);
    struct stat st;
    assert_int_equal (stat (path, &st), 0);

    /* A partial of another snapshot (its digest recorded on it) is not
     * resumed; where the file system has no user xattrs, skip that part. */
    unlink (env->target);
    unlink (env->partial);
    x = snap_xfer_new (env->target, S_SIZE, env->digest, S_CHUNK, 1, err, sizeof err);
    s_run_t run = { .answers = 3 };
    assert_int_equal (s_run (env, x, "snap", S_IN_ORDER, &run, err, sizeof err), 0);
    snap_xfer_destroy (&x);
    char other[65];
    memset (other, 'a', 64);
    other[64] = '\0';
    if (getxattr (env->partial, "user.shed.snapshot.sha256", path, 64) == 64) {
        x = snap_xfer_new (env->target, S_SIZE, other, S_CHUNK, 1, err, sizeof err);
        assert_int_equal (snap_xfer_resumed (x), 0);
        snap_xfer_destroy (&x);
    }
    /* One window of 1: strictly one request at a time. */
    x = snap_xfer_new (env->target, S_SIZE, env->digest, S_CHUNK, 1, err, sizeof err);
    assert_true (snap_xfer_next (x, &off, &len));
    assert_false (snap_xfer_next (x, &off, &len));
    snap_xfer_retry (x, off);
    uint64_t again;
    assert_true (snap_xfer_next (x, &again, &len));
    assert_int_equal (again, off);
    snap_xfer_abandon (x);
    snap_xfer_destroy (&x);
}

/* The loop's throughput with the largest chunk, for docs/snapshots.md. */
static void
test_throughput (void **state)
{
    s_env_t *env = *state;
    char err[256];
    size_t size = 64u << 20;
    uint8_t *big = s_random (size);
    char digest[65];
    s_hex (big, size, digest);
    s_put (env->server, "big", big, size);
    free (big);
    char path[PATH_MAX];
    snap_store_fetch_path (env->client, "big", path, sizeof path);
    struct timespec t0, t1;
    clock_gettime (CLOCK_MONOTONIC, &t0);
    snap_xfer_t *x = snap_xfer_new (path, size, digest, SNAPX_CHUNK_MAX, S_WINDOW, err, sizeof err);
    assert_non_null (x);
    uint8_t *buf = malloc (SNAPX_CHUNK_MAX);
    uint64_t off;
    uint32_t len;
    while (!snap_xfer_complete (x)) {
        assert_true (snap_xfer_next (x, &off, &len));
        ssize_t n = snap_store_read (env->server, "big", off, buf, len, NULL);
        assert_int_equal (snap_xfer_data (x, off, buf, (size_t) n, err, sizeof err), 0);
    }
    assert_int_equal (snap_xfer_finish (x, err, sizeof err), 0);
    clock_gettime (CLOCK_MONOTONIC, &t1);
    snap_xfer_destroy (&x);
    free (buf);
    double s = (double) (t1.tv_sec - t0.tv_sec) + (double) (t1.tv_nsec - t0.tv_nsec) / 1e9;
    printf ("snap_xfer + snap_store_read: %zu MiB in %.3f s = %.0f MiB/s (chunk %u KiB, "
            "sha256 and fsync included)\n",
            size >> 20, s, (double) (size >> 20) / s, SNAPX_CHUNK_MAX >> 10);
}

int
main (void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test (test_in_order),        cmocka_unit_test (test_out_of_order),
        cmocka_unit_test (test_retries),         cmocka_unit_test (test_resume),
        cmocka_unit_test (test_corrupt_partial), cmocka_unit_test (test_truncated_source),
        cmocka_unit_test (test_unasked),         cmocka_unit_test (test_args_and_edges),
        cmocka_unit_test (test_throughput),
    };
    return cmocka_run_group_tests (tests, s_setup, s_teardown);
}
