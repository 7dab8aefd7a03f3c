/* sched_create_test.c - the create state machine with a fake env: no
 * sockets, no namespaces, no peers. Each test feeds answers, deadlines and
 * membership news and checks the actions the machine took, in order. */
#include "node/sched/sched_create.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

typedef struct {
    int64_t now;
    const char *members[8]; /* coordinator order (rendezvous stand-in) */
    size_t nmembers;
    const char *suspect; /* a member membership suspects */
    const char *cands[4];
    size_t ncands;
    bool existing;  /* succeed_existing finds the shed */
    char log[4096]; /* "action(args) ..." */
    uint32_t last_seq;
    int last_timeout;
    api_err_code_t code;
    char why[API_TEXT_MAX + 1];
} s_fake_t;

static void s_log (s_fake_t *f, const char *fmt, ...) __attribute__ ((format (printf, 2, 3)));

static void
s_log (s_fake_t *f, const char *fmt, ...)
{
    size_t used = strlen (f->log);
    if (used)
        f->log[used++] = ' ';
    va_list ap;
    va_start (ap, fmt);
    vsnprintf (f->log + used, sizeof f->log - used, fmt, ap);
    va_end (ap);
}

static int64_t
s_now (void *arg)
{
    return ((s_fake_t *) arg)->now;
}

static const char *
s_coordinator (void *arg, const char *name, char skip[][REC_NAME_MAX + 1], size_t nskip)
{
    (void) name;
    s_fake_t *f = arg;
    for (size_t i = 0; i < f->nmembers; i++) {
        bool skipped = f->suspect && strcmp (f->members[i], f->suspect) == 0
                       && strcmp (f->members[i], "self") != 0;
        for (size_t k = 0; k < nskip; k++)
            skipped |= strcmp (skip[k], f->members[i]) == 0;
        if (!skipped)
            return f->members[i];
    }
    return "self";
}

static bool
s_is_self (void *arg, const char *peer)
{
    (void) arg;
    return strcmp (peer, "self") == 0;
}

static const char *
s_peer_status (void *arg, const char *peer)
{
    s_fake_t *f = arg;
    return s_is_self (arg, peer)                      ? "this node"
           : f->suspect && !strcmp (peer, f->suspect) ? "suspect"
                                                      : "alive";
}

static void
s_send_reserve (void *arg, sc_job_t *job, const char *peer, uint32_t seq, int timeout_ms)
{
    (void) job;
    s_fake_t *f = arg;
    f->last_seq = seq;
    f->last_timeout = timeout_ms;
    s_log (f, "reserve(%s)", peer);
}

static void
s_send_claim (void *arg, sc_job_t *job, const char *peer, uint32_t seq, int timeout_ms)
{
    (void) job;
    s_fake_t *f = arg;
    f->last_seq = seq;
    f->last_timeout = timeout_ms;
    s_log (f, "claim(%s)", peer);
}

static void
s_send_release (void *arg, const sc_job_t *job, const char *peer)
{
    (void) job;
    s_log ((s_fake_t *) arg, "release(%s)", peer);
}

static size_t
s_place (void *arg, const sc_job_t *job, char cand[][REC_NAME_MAX + 1], size_t max, char *explain,
         size_t explain_size)
{
    (void) job;
    s_fake_t *f = arg;
    size_t n = 0;
    for (; n < f->ncands && n < max; n++)
        snprintf (cand[n], REC_NAME_MAX + 1, "%s", f->cands[n]);
    if (!n)
        snprintf (explain, explain_size, "n2: not enough memory");
    s_log (f, "place=%zu", n);
    return n;
}

static bool
s_succeed_existing (void *arg, sc_job_t *job)
{
    (void) job;
    s_fake_t *f = arg;
    if (f->existing)
        s_log (f, "succeed(existing)");
    return f->existing;
}

static void
s_succeed (void *arg, sc_job_t *job, const void *record, const char *origin, const char *message)
{
    (void) job;
    (void) message;
    s_log ((s_fake_t *) arg, "succeed(%s,%s)", origin, (const char *) record);
}

static void
s_fail (void *arg, sc_job_t *job, api_err_code_t code, const char *why)
{
    (void) job;
    s_fake_t *f = arg;
    f->code = code;
    snprintf (f->why, sizeof f->why, "%s", why);
    s_log (f, "fail(%d)", (int) code);
}

static sc_env_t
s_env (s_fake_t *f)
{
    sc_env_t env = { f,
                     s_now,
                     s_coordinator,
                     s_is_self,
                     s_peer_status,
                     s_send_reserve,
                     s_send_claim,
                     s_send_release,
                     s_place,
                     s_succeed_existing,
                     s_succeed,
                     s_fail };
    return env;
}

static void
s_job_init (sc_job_t *job, s_fake_t *f)
{
    memset (job, 0, sizeof *job);
    snprintf (job->rid, sizeof job->rid, "rid-1");
    snprintf (job->name, sizeof job->name, "web");
    job->t0 = f->now;
    job->timeout_ms = 30000;
    job->deadline = f->now + 30000;
    job->claim_timeout_ms = 20000;
}

static const sc_reserve_answer_t s_grant = { true, NULL, NAMES_GRANT, NULL, NULL };
static const sc_reserve_answer_t s_silent = { false, "timed out", 0, NULL, NULL };

static void
test_happy_path (void **state)
{
    (void) state;
    s_fake_t f = { .now = 1000,
                   .members = { "n2", "self" },
                   .nmembers = 2,
                   .cands = { "n3", "n4" },
                   .ncands = 2 };
    sc_env_t env = s_env (&f);
    sc_job_t job;
    s_job_init (&job, &f);
    sc_start (&job, &env);
    assert_int_equal (f.last_timeout, SC_RESERVE_TIMEOUT_MS);
    f.now += 5;
    sc_on_reserve (&job, &env, f.last_seq, "n2", &s_grant);
    assert_int_equal (job.phase, SC_CLAIM);
    assert_int_equal (f.last_timeout, 20000);
    f.now += 40;
    sc_claim_answer_t ok = { .answered = true,
                             .ok = true,
                             .admitted = true,
                             .create_ms = 10,
                             .start_ms = 20,
                             .record = "rec",
                             .state = "running" };
    sc_on_claim (&job, &env, f.last_seq, "n3", &ok);
    assert_true (sc_done (&job));
    assert_string_equal (f.log, "reserve(n2) place=2 claim(n3) succeed(n3,rec)");
    assert_int_equal (job.nsteps, 5);
    assert_string_equal (job.steps[0].text, "name web reserved (coordinator n2)");
    assert_int_equal (job.steps[4].ms, 45);
}

static void
test_rejected_then_next (void **state)
{
    (void) state;
    s_fake_t f = { .now = 0,
                   .members = { "self" },
                   .nmembers = 1,
                   .cands = { "n3", "n4", "n5", "n6" },
                   .ncands = 4 };
    sc_env_t env = s_env (&f);
    sc_job_t job;
    s_job_init (&job, &f);
    job.max_attempts = 2;
    sc_start (&job, &env);
    sc_on_reserve (&job, &env, f.last_seq, "self", &s_grant);
    sc_claim_answer_t no = {
        .answered = true, .ok = false, .admitted = false, .why = "not enough cpu"
    };
    sc_on_claim (&job, &env, f.last_seq, "n3", &no);
    no.admitted = true;
    no.why = "driver failed";
    sc_on_claim (&job, &env, f.last_seq, "n4", &no);
    /* max_attempts reached: the name is released, the reasons listed. */
    assert_string_equal (f.log, "reserve(self) place=4 claim(n3) claim(n4) release(self) fail(5)");
    assert_string_equal (f.why, "no node accepted shed web: n3: not enough cpu; "
                                "n4: driver failed");
}

static void
test_coordinator_failover_and_stale_answer (void **state)
{
    (void) state;
    s_fake_t f = {
        .now = 0, .members = { "n2", "n7", "self" }, .nmembers = 3, .cands = { "n3" }, .ncands = 1
    };
    sc_env_t env = s_env (&f);
    sc_job_t job;
    s_job_init (&job, &f);
    sc_start (&job, &env);
    uint32_t first = f.last_seq;
    /* n2 did not answer: the next coordinator, n7. */
    f.now += SC_RESERVE_TIMEOUT_MS;
    sc_on_reserve (&job, &env, first, "n2", &s_silent);
    assert_string_equal (job.coordinator, "n7");
    /* n2's late grant is stale (superseded): ignored. */
    sc_on_reserve (&job, &env, first, "n2", &s_grant);
    assert_int_equal (job.phase, SC_RESERVE);
    /* Membership suspects n7: asked again elsewhere at once. */
    f.suspect = "n7";
    sc_on_peer_trouble (&job, &env, "n7", false);
    assert_string_equal (job.coordinator, "self");
    sc_on_reserve (&job, &env, f.last_seq, "self", &s_grant);
    assert_string_equal (f.log, "reserve(n2) reserve(n7) reserve(self) place=1 claim(n3)");
    assert_string_equal (job.steps[0].text,
                         "name coordinator n2 did not answer (alive): asking n7");
}

static void
test_no_fit_and_pin (void **state)
{
    (void) state;
    s_fake_t f = { .members = { "self" }, .nmembers = 1 };
    sc_env_t env = s_env (&f);
    sc_job_t job;
    s_job_init (&job, &f);
    sc_start (&job, &env);
    sc_on_reserve (&job, &env, f.last_seq, "self", &s_grant);
    assert_true (sc_done (&job));
    assert_string_equal (f.why, "no node fits shed web: n2: not enough memory");
    assert_string_equal (f.log, "reserve(self) place=0 release(self) fail(5)");
}

static void
test_claim_unknown_outcome (void **state)
{
    (void) state;
    s_fake_t f = { .members = { "self" }, .nmembers = 1, .cands = { "n3", "n4" }, .ncands = 2 };
    sc_env_t env = s_env (&f);
    sc_job_t job;
    s_job_init (&job, &f);
    sc_start (&job, &env);
    sc_on_reserve (&job, &env, f.last_seq, "self", &s_grant);
    sc_claim_answer_t silent = { .answered = false, .error = "timed out" };
    sc_on_claim (&job, &env, f.last_seq, "n3", &silent);
    /* Never moved on to n4: it could create the shed twice. */
    assert_string_equal (f.log, "reserve(self) place=2 claim(n3) fail(4)");
    assert_non_null (strstr (f.why, "outcome unknown"));
    assert_non_null (strstr (f.why, "--request-id rid-1"));
}

static void
test_deadline_and_peer_failure (void **state)
{
    (void) state;
    s_fake_t f = { .members = { "n2", "self" }, .nmembers = 2, .cands = { "n3" }, .ncands = 1 };
    sc_env_t env = s_env (&f);
    sc_job_t job;
    s_job_init (&job, &f);
    sc_start (&job, &env);
    f.now = job.deadline;
    sc_on_deadline (&job, &env);
    assert_true (sc_done (&job));
    assert_string_equal (f.log, "reserve(n2) release(n2) fail(4)");
    assert_non_null (strstr (f.why, "nothing was created"));
    /* A claim target that fails: answered now as outcome unknown. */
    memset (f.log, 0, sizeof f.log);
    f.now = 0;
    s_job_init (&job, &f);
    sc_start (&job, &env);
    sc_on_reserve (&job, &env, f.last_seq, "n2", &s_grant);
    sc_on_peer_trouble (&job, &env, "n3", true);
    assert_true (sc_done (&job));
    assert_non_null (strstr (f.why, "n3 failed during the claim: outcome unknown"));
    /* Late answers after the end change nothing. */
    sc_claim_answer_t ok = { .answered = true, .ok = true, .record = "rec" };
    sc_on_claim (&job, &env, f.last_seq, "n3", &ok);
    assert_null (strstr (f.log, "succeed"));
}

static void
test_retry_already_done (void **state)
{
    (void) state;
    s_fake_t f = { .members = { "self" }, .nmembers = 1, .existing = true };
    sc_env_t env = s_env (&f);
    sc_job_t job;
    s_job_init (&job, &f);
    sc_start (&job, &env);
    sc_reserve_answer_t done = { true, NULL, NAMES_DONE, "n3", NULL };
    sc_on_reserve (&job, &env, f.last_seq, "self", &done);
    assert_true (sc_done (&job));
    assert_string_equal (f.log, "reserve(self) succeed(existing)");
    /* Not known here (yet): say where it was made. */
    f.existing = false;
    memset (f.log, 0, sizeof f.log);
    s_job_init (&job, &f);
    sc_start (&job, &env);
    sc_on_reserve (&job, &env, f.last_seq, "self", &done);
    assert_string_equal (f.why, "shed web was already created by this request on n3");
}

int
main (void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test (test_happy_path),
        cmocka_unit_test (test_rejected_then_next),
        cmocka_unit_test (test_coordinator_failover_and_stale_answer),
        cmocka_unit_test (test_no_fit_and_pin),
        cmocka_unit_test (test_claim_unknown_outcome),
        cmocka_unit_test (test_deadline_and_peer_failure),
        cmocka_unit_test (test_retry_already_done),
    };
    return cmocka_run_group_tests (tests, NULL, NULL);
}
