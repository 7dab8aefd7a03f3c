/* proc_self_test.c - /proc/<pid>/stat and /proc/stat parsing, and this
 * process read live (node/metrics/proc_self.h). */
#include "node/metrics/proc_self.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <cmocka.h>

/* A real line, with a comm made hostile: spaces and a ')' inside. */
static const char s_stat[] =
    "4242 (shed-node ) x) S 1 4242 4242 0 -1 4194560 1234 0 0 0 250 50 0 0 20 0 9 0 "
    "360000 123456789 2048 18446744073709551615 1 1 0 0 0 0 0 4096 16898 0 0 0 17 1 0 0 0 "
    "0 0 0 0 0 0 0 0 0 0\n";

static void
test_stat_parse (void **state)
{
    (void) state;
    shed_proc_self_t p;
    memset (&p, 0, sizeof p);
    assert_int_equal (shed_proc_stat_parse (s_stat, 100, 4096, 1700000000, &p), 0);
    assert_true (p.cpu_seconds == 3.0);                 /* (250 + 50) / 100 */
    assert_true (p.start_time_seconds == 1700003600.0); /* btime + 360000 / 100 */
    assert_int_equal (p.virtual_bytes, 123456789);
    assert_int_equal (p.resident_bytes, 2048 * 4096);
}

static void
test_stat_refused (void **state)
{
    (void) state;
    shed_proc_self_t p;
    assert_int_equal (shed_proc_stat_parse ("", 100, 4096, 0, &p), -1);
    assert_int_equal (shed_proc_stat_parse (NULL, 100, 4096, 0, &p), -1);
    assert_int_equal (shed_proc_stat_parse ("1 (x) S 1 2 3\n", 100, 4096, 0, &p), -1);
    assert_int_equal (shed_proc_stat_parse ("1 (x) S 1 2 3 4 5 6 7 8 9 zz 11 12 13 14 15 16 17 18 "
                                            "19 20 21 22\n",
                                            100, 4096, 0, &p),
                      -1);
    assert_int_equal (shed_proc_stat_parse (s_stat, 0, 4096, 0, &p), -1);
}

static void
test_btime (void **state)
{
    (void) state;
    uint64_t b = 0;
    assert_int_equal (shed_proc_btime_parse ("cpu  1 2 3\nintr 5\nbtime 1733580000\nprocs 3\n", &b),
                      0);
    assert_int_equal (b, 1733580000);
    assert_int_equal (shed_proc_btime_parse ("cpu 1\nbtimex 3\n", &b), -1);
    assert_int_equal (shed_proc_btime_parse ("", &b), -1);
}

/* This process, live: started within the last hour (and not in the
 * future), some CPU and memory used, a few fds open under the limit. */
static void
test_self (void **state)
{
    (void) state;
    volatile double x = 0;
    for (int i = 0; i < 20000000; i++)
        x += i * 0.5; /* burn some CPU so the counter moves */
    shed_proc_self_t p;
    assert_int_equal (shed_proc_self (&p), 0);
    double now = (double) time (NULL);
    assert_true (p.start_time_seconds > now - 3600 && p.start_time_seconds <= now + 1);
    assert_true (p.cpu_seconds > 0);
    assert_true (p.resident_bytes > 0 && p.virtual_bytes >= p.resident_bytes);
    assert_true (p.open_fds >= 3);
    assert_true (p.max_fds == -1 || p.max_fds >= p.open_fds);
}

int
main (void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test (test_stat_parse),
        cmocka_unit_test (test_stat_refused),
        cmocka_unit_test (test_btime),
        cmocka_unit_test (test_self),
    };
    return cmocka_run_group_tests (tests, NULL, NULL);
}
