/* common/prio_test.c: start-up priority (prio.h). Real threads, real nice
 * values: the test runs as root (CAP_SYS_NICE) like the daemon; the
 * unprivileged case runs in a child that gave up root. */
#include "common/prio.h"

#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>
#include <cmocka.h>

static int
s_nice_of (pid_t tid)
{
    errno = 0;
    int n = getpriority (PRIO_PROCESS, (id_t) tid);
    assert_int_equal (errno, 0);
    return n;
}

static pid_t
s_tid (void)
{
    return (pid_t) syscall (SYS_gettid);
}

typedef struct {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    pid_t tid;
    int own_nice; /* 0: keep the inherited value */
    bool quit;
} s_thread_t;

static void *
s_thread_main (void *arg)
{
    s_thread_t *t = (s_thread_t *) arg;
    if (t->own_nice)
        setpriority (PRIO_PROCESS, (id_t) s_tid (), t->own_nice);
    pthread_mutex_lock (&t->mu);
    t->tid = s_tid ();
    pthread_cond_broadcast (&t->cv);
    while (!t->quit)
        pthread_cond_wait (&t->cv, &t->mu);
    pthread_mutex_unlock (&t->mu);
    return NULL;
}

static void
s_thread_start (s_thread_t *t, pthread_t *th, int own_nice)
{
    memset (t, 0, sizeof *t);
    pthread_mutex_init (&t->mu, NULL);
    pthread_cond_init (&t->cv, NULL);
    t->own_nice = own_nice;
    assert_int_equal (pthread_create (th, NULL, s_thread_main, t), 0);
    pthread_mutex_lock (&t->mu);
    while (!t->tid)
        pthread_cond_wait (&t->cv, &t->mu);
    pthread_mutex_unlock (&t->mu);
}

static void
s_thread_stop (s_thread_t *t, pthread_t th)
{
    pthread_mutex_lock (&t->mu);
    t->quit = true;
    pthread_cond_broadcast (&t->cv);
    pthread_mutex_unlock (&t->mu);
    pthread_join (th, NULL);
}

/* Lowered: the caller and the threads it starts meanwhile; put back at the
 * end; a thread that set its own priority (the membership actor's -5) and
 * one started before keep theirs. */
static void
test_lower_then_restore (void **state)
{
    (void) state;
    int base = s_nice_of (s_tid ());
    if (base > 9)
        skip (); /* run under nice: nothing to lower by 10 */
    s_thread_t before, actor, after;
    pthread_t th_before, th_actor, th_after;
    s_thread_start (&before, &th_before, 0);

    shed_prio_startup_t p;
    shed_prio_startup_begin (&p, 10);
    assert_true (p.active);
    assert_int_equal (p.base, base);
    assert_int_equal (p.lowered, base + 10);
    assert_int_equal (s_nice_of (s_tid ()), base + 10);

    s_thread_start (&actor, &th_actor, -5);
    s_thread_start (&after, &th_after, 0);
    assert_int_equal (s_nice_of (after.tid), base + 10); /* inherited */
    assert_int_equal (s_nice_of (actor.tid), -5);
    assert_int_equal (s_nice_of (before.tid), base);

    assert_int_equal (shed_prio_startup_end (&p), 2); /* caller + `after` */
    assert_int_equal (s_nice_of (s_tid ()), base);
    assert_int_equal (s_nice_of (after.tid), base);
    assert_int_equal (s_nice_of (actor.tid), -5);
    assert_int_equal (s_nice_of (before.tid), base);
    assert_int_equal (shed_prio_startup_end (&p), 0); /* idempotent */

    s_thread_stop (&before, th_before);
    s_thread_stop (&actor, th_actor);
    s_thread_stop (&after, th_after);
}

/* Capped at 19: from nice 15, +10 is 19. */
static void
test_capped_at_19 (void **state)
{
    (void) state;
    int base = s_nice_of (s_tid ());
    pid_t pid = fork ();
    assert_true (pid >= 0);
    if (pid == 0) {
        int rc = 0;
        if (base <= 15 && setpriority (PRIO_PROCESS, (id_t) s_tid (), 15) == 0) {
            shed_prio_startup_t p;
            shed_prio_startup_begin (&p, 10);
            rc |= !p.active || p.lowered != 19 || s_nice_of (s_tid ()) != 19;
            rc |= shed_prio_startup_end (&p) != 1 || s_nice_of (s_tid ()) != 15;
        }
        _exit (rc);
    }
    int status = 0;
    assert_int_equal (waitpid (pid, &status, 0), pid);
    assert_true (WIFEXITED (status));
    assert_int_equal (WEXITSTATUS (status), 0);
}

/* A process that could not raise its threads back never lowers them: in a
 * child that gave up root (no CAP_SYS_NICE, RLIMIT_NICE 0). */
static void
test_unprivileged_never_lowers (void **state)
{
    (void) state;
    if (geteuid () != 0)
        skip ();
    pid_t pid = fork ();
    assert_true (pid >= 0);
    if (pid == 0) {
        struct rlimit rl = { 0, 0 };
        int rc = setrlimit (RLIMIT_NICE, &rl) != 0;
        rc |= setgid (65534) != 0 || setuid (65534) != 0;
        int base = getpriority (PRIO_PROCESS, 0);
        rc |= shed_prio_can_raise_to (base) ? 2 : 0;
        shed_prio_startup_t p;
        shed_prio_startup_begin (&p, 10);
        rc |= p.active ? 4 : 0;
        rc |= getpriority (PRIO_PROCESS, 0) != base ? 8 : 0;
        rc |= shed_prio_startup_end (&p) != 0 ? 16 : 0;
        _exit (rc);
    }
    int status = 0;
    assert_int_equal (waitpid (pid, &status, 0), pid);
    assert_true (WIFEXITED (status));
    assert_int_equal (WEXITSTATUS (status), 0);
}

int
main (void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test (test_lower_then_restore),
        cmocka_unit_test (test_capped_at_19),
        cmocka_unit_test (test_unprivileged_never_lowers),
    };
    return cmocka_run_group_tests (tests, NULL, NULL);
}
