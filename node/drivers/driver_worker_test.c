/* driver_worker_test.c - driver calls on the worker thread, against the
 * sleepy test driver: the loop keeps turning while a call sleeps, results
 * come back as events, a timeout is followed by the late result, and a
 * shutdown cancels what is queued. */
#include "node/drivers/driver_worker.h"
#include "node/drivers/sleepy.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

typedef struct {
    char log[1024]; /* "op:event:rc ..." */
    int finals;
    int want;       /* stop the loop after this many final events */
    int ticks;      /* loop turns while waiting */
    int busy_ticks; /* ... while a driver call was in flight */
    driver_worker_t *worker;
} s_seen_t;

static void
s_on_job (driver_job_t *job, driver_job_event_t ev, void *arg)
{
    s_seen_t *seen = arg;
    static const char *names[] = { "done", "timeout", "late", "cancelled" };
    size_t used = strlen (seen->log);
    snprintf (seen->log + used, sizeof seen->log - used, "%s%s:%s:%d", used ? " " : "",
              driver_job_op_name (job->op), names[ev], job->rc);
    if (ev != DRIVER_JOB_TIMEOUT)
        seen->finals++;
}

static int
s_on_tick (zloop_t *loop, int timer_id, void *arg)
{
    (void) loop;
    (void) timer_id;
    s_seen_t *seen = arg;
    seen->ticks++;
    if (seen->worker && driver_worker_pending (seen->worker) > 0)
        seen->busy_ticks++;
    return seen->finals >= seen->want ? -1 : 0;
}

static driver_job_t *
s_create_job (const char *name)
{
    driver_job_t *job = driver_job_new (DRIVER_JOB_CREATE, name);
    snprintf (job->spec.name, sizeof job->spec.name, "%s", name);
    return job;
}

static void
test_async_and_timeout (void **state)
{
    (void) state;
    driver_error_t derr = { 0 };
    driver_t *driver = driver_sleepy_new (200, 0, NULL, &derr);
    assert_non_null (driver);
    zloop_t *loop = zloop_new ();
    s_seen_t seen = { .want = 3 };
    char err[256];
    driver_worker_t *w = driver_worker_new (driver, loop, s_on_job, &seen, err, sizeof err);
    assert_non_null (w);
    seen.worker = w;
    driver_job_t *job = s_create_job ("web");
    assert_int_equal (driver_worker_submit (w, &job, 5000), 0);
    assert_null (job);
    /* A start with a timeout shorter than the driver's pause: TIMEOUT
     * (counted from the submission, so while the create still runs), then
     * LATE with the real result. */
    job = driver_job_new (DRIVER_JOB_START, "web");
    assert_int_equal (driver_worker_submit (w, &job, 50), 0);
    job = driver_job_new (DRIVER_JOB_STATUS, "web");
    assert_int_equal (driver_worker_submit (w, &job, 5000), 0);
    assert_int_equal (driver_worker_pending (w), 3);
    zloop_timer (loop, 10, 0, s_on_tick, &seen);
    zloop_start (loop);
    assert_string_equal (seen.log, "start:timeout:0 create:done:0 start:late:0 status:done:0");
    /* The loop turned while driver calls were in flight (not a timing
     * check: how often it turned depends on the machine). */
    assert_true (seen.busy_ticks >= 1);
    uint64_t done, timeouts, cancelled;
    driver_worker_counts (w, &done, &timeouts, &cancelled);
    assert_int_equal (done, 2);
    assert_int_equal (timeouts, 1);
    assert_int_equal (cancelled, 0);
    driver_worker_destroy (&w);
    assert_null (w);
    zloop_destroy (&loop);
    driver_destroy (&driver);
}

static void
test_cancel_at_shutdown (void **state)
{
    (void) state;
    driver_error_t derr = { 0 };
    driver_t *driver = driver_sleepy_new (100, 0, NULL, &derr);
    zloop_t *loop = zloop_new ();
    s_seen_t seen = { .want = 100 };
    char err[256];
    driver_worker_t *w = driver_worker_new (driver, loop, s_on_job, &seen, err, sizeof err);
    assert_non_null (w);
    driver_job_t *job = s_create_job ("a");
    assert_int_equal (driver_worker_submit (w, &job, 5000), 0);
    job = s_create_job ("b");
    assert_int_equal (driver_worker_submit (w, &job, 5000), 0);
    job = s_create_job ("c");
    assert_int_equal (driver_worker_submit (w, &job, 5000), 0);
    zclock_sleep (30); /* "a" is running */
    driver_worker_destroy (&w);
    /* "a" finished (it was running), "b" and "c" never ran. */
    assert_int_equal (seen.finals, 3);
    assert_string_equal (seen.log, "create:done:0 create:cancelled:-7 create:cancelled:-7");
    zloop_destroy (&loop);
    driver_destroy (&driver);
}

int
main (void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test (test_async_and_timeout),
        cmocka_unit_test (test_cancel_at_shutdown),
    };
    return cmocka_run_group_tests (tests, NULL, NULL);
}
