/* snap_xfer_worker_test.c - a transfer driven through its worker thread,
 * as node_snaps_fetch.c drives it: the next requests come back with each
 * answer, answers are fed out of order, several jobs queued at once; a
 * close keeps the partial and a new open resumes it; a corrupted byte
 * fails the final check and removes the partial; an answer nobody asked
 * for abandons the transfer; destroy hands back every job still queued. */
#include "node/snapshots/snap_xfer_worker.h"

#include <fcntl.h>
#include <limits.h>
#include <openssl/sha.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <cmocka.h>

#define S_SIZE   (3u * 1024 * 1024 + 321) /* and a short last chunk */
#define S_CHUNK  (64u * 1024)
#define S_CHUNKS ((S_SIZE + S_CHUNK - 1) / S_CHUNK)
#define S_WINDOW 4
#define S_WAIT   10000

typedef struct {
    char dir[256];
    char target[PATH_MAX];
    char partial[PATH_MAX + 16];
    uint8_t *data;
    char digest[65];
    snap_xfer_worker_t *w;
    snap_xfer_job_t *answers[256]; /* answered jobs, in order */
    size_t nanswers;
} s_env_t;

static void
s_done (snap_xfer_job_t *job, void *arg)
{
    s_env_t *env = (s_env_t *) arg;
    assert_true (env->nanswers < 256);
    env->answers[env->nanswers++] = job;
}

static int
s_setup (void **state)
{
    s_env_t *env = calloc (1, sizeof *env);
    snprintf (env->dir, sizeof env->dir, "/tmp/snap_xfer_worker_test.%d", (int) getpid ());
    mkdir (env->dir, 0700);
    snprintf (env->target, sizeof env->target, "%s/snap.layer", env->dir);
    snprintf (env->partial, sizeof env->partial, "%s.partial", env->target);
    env->data = malloc (S_SIZE);
    uint32_t x = 2463534242u;
    for (size_t i = 0; i < S_SIZE; i++) {
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        env->data[i] = (uint8_t) x;
    }
    uint8_t md[32];
    SHA256 (env->data, S_SIZE, md);
    for (int i = 0; i < 32; i++)
        snprintf (env->digest + 2 * i, 3, "%02x", md[i]);
    env->w = snap_xfer_worker_new (NULL, s_done, env);
    if (!env->w)
        return -1;
    *state = env;
    return 0;
}

static int
s_teardown (void **state)
{
    s_env_t *env = *state;
    snap_xfer_worker_destroy (&env->w);
    for (size_t i = 0; i < env->nanswers; i++)
        snap_xfer_job_destroy (&env->answers[i]);
    unlink (env->target);
    unlink (env->partial);
    rmdir (env->dir);
    free (env->data);
    free (env);
    return 0;
}

static void
s_submit (s_env_t *env, snap_xfer_job_t *job)
{
    assert_non_null (job);
    assert_int_equal (snap_xfer_worker_submit (env->w, &job), 0);
    assert_null (job);
}

/* Wait for every answer out; returns the last one (the caller's). */
static snap_xfer_job_t *
s_drain (s_env_t *env)
{
    while (snap_xfer_worker_pending (env->w) > 0)
        assert_int_equal (snap_xfer_worker_wait (env->w, S_WAIT), 1);
    assert_true (env->nanswers > 0);
    snap_xfer_job_t *last = env->answers[--env->nanswers];
    for (size_t i = 0; i < env->nanswers; i++)
        snap_xfer_job_destroy (&env->answers[i]);
    env->nanswers = 0;
    return last;
}

static snap_xfer_job_t *
s_open (s_env_t *env)
{
    snap_xfer_job_t *job = snap_xfer_job_new (SNAP_XFER_OPEN, NULL, env);
    assert_non_null (job);
    snprintf (job->path, sizeof job->path, "%s", env->target);
    memcpy (job->digest, env->digest, 65);
    job->size = S_SIZE;
    job->chunk = S_CHUNK;
    job->window = S_WINDOW;
    s_submit (env, job);
    job = s_drain (env);
    assert_int_equal (job->rc, 0);
    assert_non_null (job->xfer);
    return job;
}

static snap_xfer_job_t *
s_data (s_env_t *env, snap_xfer_t *x, uint64_t off, uint32_t len, bool corrupt)
{
    snap_xfer_job_t *job = snap_xfer_job_new (SNAP_XFER_DATA, x, env);
    assert_non_null (job);
    job->offset = off;
    job->len = len;
    job->data = malloc (len);
    memcpy (job->data, env->data + off, len);
    if (corrupt)
        job->data[len / 2] ^= 0x40;
    return job;
}

/* Feed the transfer until it completes or `stop_after` answers went in:
 * every batch of requests answered last first, all queued at once. */
static snap_xfer_job_t *
s_feed (s_env_t *env, snap_xfer_job_t *ans, size_t stop_after, bool corrupt_one)
{
    snap_xfer_t *x = ans->xfer;
    size_t fed = 0;
    while (!ans->complete && (!stop_after || fed < stop_after)) {
        assert_true (ans->nreq > 0 && ans->nreq <= S_WINDOW);
        uint64_t offs[SNAP_XFER_REQ_MAX];
        uint32_t lens[SNAP_XFER_REQ_MAX];
        size_t n = ans->nreq;
        memcpy (offs, ans->req_offset, n * sizeof offs[0]);
        memcpy (lens, ans->req_length, n * sizeof lens[0]);
        snap_xfer_job_destroy (&ans);
        for (size_t k = 0; k < n; k++) {
            size_t i = n - 1 - k;
            s_submit (env, s_data (env, x, offs[i], lens[i], corrupt_one && fed == 5));
            fed++;
        }
        /* the answers carry the requests the freed slots allow: gather
         * them into one, as the daemon sends each answer's at once */
        while (snap_xfer_worker_pending (env->w) > 0)
            assert_int_equal (snap_xfer_worker_wait (env->w, S_WAIT), 1);
        ans = snap_xfer_job_new (SNAP_XFER_RETRY, x, env);
        for (size_t i = 0; i < env->nanswers; i++) {
            snap_xfer_job_t *a = env->answers[i];
            assert_int_equal (a->rc, 0);
            assert_ptr_equal (a->arg, env);
            for (size_t r = 0; r < a->nreq; r++) {
                ans->req_offset[ans->nreq] = a->req_offset[r];
                ans->req_length[ans->nreq++] = a->req_length[r];
            }
            ans->complete = a->complete;
            ans->received = a->received;
            snap_xfer_job_destroy (&env->answers[i]);
        }
        env->nanswers = 0;
        ans->xfer = x;
    }
    return ans;
}

static void
s_check_target (s_env_t *env)
{
    int fd = open (env->target, O_RDONLY);
    assert_true (fd >= 0);
    uint8_t *got = malloc (S_SIZE + 1);
    size_t len = 0;
    ssize_t n;
    while ((n = read (fd, got + len, S_SIZE + 1 - len)) > 0)
        len += (size_t) n;
    close (fd);
    assert_int_equal (len, S_SIZE);
    assert_memory_equal (got, env->data, S_SIZE);
    free (got);
    assert_int_not_equal (access (env->partial, F_OK), 0);
}

static void
s_close (s_env_t *env, snap_xfer_t *x, bool abandon)
{
    snap_xfer_job_t *job = snap_xfer_job_new (SNAP_XFER_CLOSE, x, env);
    job->abandon = abandon;
    s_submit (env, job);
    job = s_drain (env);
    assert_int_equal (job->rc, 0);
    assert_null (job->xfer); /* destroyed on the thread */
    snap_xfer_job_destroy (&job);
}

static void
test_whole_out_of_order (void **state)
{
    s_env_t *env = *state;
    unlink (env->target);
    snap_xfer_job_t *ans = s_open (env);
    snap_xfer_t *x = ans->xfer;
    assert_false (ans->complete);
    assert_int_equal (ans->resumed, 0);
    assert_int_equal (ans->nreq, S_WINDOW); /* the whole window at once */
    ans = s_feed (env, ans, 0, false);
    assert_true (ans->complete);
    assert_int_equal (ans->received, S_SIZE);
    assert_int_equal (ans->nreq, 0);
    snap_xfer_job_destroy (&ans);
    s_submit (env, snap_xfer_job_new (SNAP_XFER_FINISH, x, env));
    ans = s_drain (env);
    assert_int_equal (ans->rc, 0);
    snap_xfer_job_destroy (&ans);
    s_close (env, x, false);
    s_check_target (env);

    /* a copy already there: done at open, nothing to ask */
    ans = s_open (env);
    assert_true (ans->complete);
    assert_int_equal (ans->nreq, 0);
    x = ans->xfer;
    snap_xfer_job_destroy (&ans);
    s_close (env, x, false);
    unlink (env->target);
}

static void
test_close_then_resume (void **state)
{
    s_env_t *env = *state;
    unlink (env->target);
    unlink (env->partial);
    snap_xfer_job_t *ans = s_open (env);
    snap_xfer_t *x = ans->xfer;
    ans = s_feed (env, ans, 2 * S_WINDOW, false);
    assert_false (ans->complete);
    uint64_t had = ans->received;
    assert_int_equal (had, 2 * S_WINDOW * S_CHUNK);
    snap_xfer_job_destroy (&ans);
    s_close (env, x, false); /* the node goes away: the partial stays */
    struct stat st;
    assert_int_equal (stat (env->partial, &st), 0);
    assert_int_equal ((uint64_t) st.st_size, had);

    ans = s_open (env);
    x = ans->xfer;
    assert_int_equal (ans->resumed, had);
    assert_int_equal (ans->req_offset[0], had); /* only the rest is asked */
    ans = s_feed (env, ans, 0, false);
    assert_true (ans->complete);
    snap_xfer_job_destroy (&ans);
    s_submit (env, snap_xfer_job_new (SNAP_XFER_FINISH, x, env));
    ans = s_drain (env);
    assert_int_equal (ans->rc, 0);
    snap_xfer_job_destroy (&ans);
    s_close (env, x, false);
    s_check_target (env);
    unlink (env->target);
}

static void
test_checksum_mismatch (void **state)
{
    s_env_t *env = *state;
    unlink (env->target);
    snap_xfer_job_t *ans = s_open (env);
    snap_xfer_t *x = ans->xfer;
    ans = s_feed (env, ans, 0, true);
    assert_true (ans->complete);
    snap_xfer_job_destroy (&ans);
    s_submit (env, snap_xfer_job_new (SNAP_XFER_FINISH, x, env));
    ans = s_drain (env);
    assert_int_equal (ans->rc, -1);
    assert_non_null (strstr (ans->err, "checksum mismatch"));
    snap_xfer_job_destroy (&ans);
    s_close (env, x, false);
    assert_int_not_equal (access (env->partial, F_OK), 0); /* never resumed */
    assert_int_not_equal (access (env->target, F_OK), 0);
}

static void
test_unasked_abandons (void **state)
{
    s_env_t *env = *state;
    unlink (env->target);
    snap_xfer_job_t *ans = s_open (env);
    snap_xfer_t *x = ans->xfer;
    snap_xfer_job_destroy (&ans);
    s_submit (env, s_data (env, x, 40 * S_CHUNK, S_CHUNK, false));
    ans = s_drain (env);
    assert_int_equal (ans->rc, -1);
    assert_non_null (strstr (ans->err, "nobody asked for"));
    assert_int_equal (ans->nreq, 0);
    snap_xfer_job_destroy (&ans);
    assert_int_not_equal (access (env->partial, F_OK), 0);
    s_close (env, x, false);
}

/* Destroy with jobs still queued: each comes back through the done
 * function first, the CLOSE among them runs (the partial is cut back to
 * the prefix and kept). */
static void
test_destroy_drains (void **state)
{
    s_env_t *env = *state;
    unlink (env->target);
    unlink (env->partial);
    snap_xfer_job_t *ans = s_open (env);
    snap_xfer_t *x = ans->xfer;
    for (size_t i = 0; i < ans->nreq; i++)
        s_submit (env, s_data (env, x, ans->req_offset[i], ans->req_length[i], false));
    snap_xfer_job_destroy (&ans);
    s_submit (env, snap_xfer_job_new (SNAP_XFER_CLOSE, x, env));
    assert_int_equal (snap_xfer_worker_pending (env->w), S_WINDOW + 1);
    snap_xfer_worker_destroy (&env->w);
    assert_null (env->w);
    assert_int_equal (env->nanswers, S_WINDOW + 1);
    assert_int_equal (env->answers[S_WINDOW]->op, SNAP_XFER_CLOSE);
    for (size_t i = 0; i < env->nanswers; i++)
        snap_xfer_job_destroy (&env->answers[i]);
    env->nanswers = 0;
    struct stat st;
    assert_int_equal (stat (env->partial, &st), 0);
    assert_int_equal ((uint64_t) st.st_size, S_WINDOW * S_CHUNK);
    unlink (env->partial);
    env->w = snap_xfer_worker_new (NULL, s_done, env);
    assert_non_null (env->w);
}

int
main (void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test (test_whole_out_of_order), cmocka_unit_test (test_close_then_resume),
        cmocka_unit_test (test_checksum_mismatch),  cmocka_unit_test (test_unasked_abandons),
        cmocka_unit_test (test_destroy_drains),
    };
    return cmocka_run_group_tests (tests, s_setup, s_teardown);
}
