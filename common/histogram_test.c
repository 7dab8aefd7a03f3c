/* histogram_test.c - buckets (le is inclusive), cumulative snapshot, sum,
 * refused bounds, and observations from several threads at once. */
#include "common/histogram.h"

#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

static void
test_buckets (void **state)
{
    (void) state;
    static const double b[] = { 0.001, 0.01, 0.1 };
    shed_hist_t *h = shed_hist_new (b, 3);
    assert_non_null (h);
    shed_hist_observe_ns (h, 0);          /* le 0.001 */
    shed_hist_observe_ns (h, 1000000);    /* exactly 1 ms: still le 0.001 */
    shed_hist_observe_ns (h, 1000001);    /* le 0.01 */
    shed_hist_observe_ns (h, 50000000);   /* le 0.1 */
    shed_hist_observe_ns (h, 2000000000); /* +Inf */
    shed_hist_observe_ns (h, -5);         /* a clock step back: 0 */
    shed_hist_snap_t s;
    shed_hist_snapshot (h, &s);
    assert_int_equal (s.nbounds, 3);
    assert_true (s.bounds[1] == 0.01);
    assert_int_equal (s.cumulative[0], 3);
    assert_int_equal (s.cumulative[1], 4);
    assert_int_equal (s.cumulative[2], 5);
    assert_int_equal (s.cumulative[3], 6);
    assert_int_equal (s.count, 6);
    assert_true (s.sum > 2.052 && s.sum < 2.0521);
    shed_hist_destroy (&h);
    assert_null (h);
    shed_hist_destroy (&h);
    shed_hist_observe_ns (NULL, 1); /* NULL-safe: nothing recorded, no crash */
}

static void
test_bad_bounds (void **state)
{
    (void) state;
    static const double desc[] = { 0.1, 0.01 };
    static const double same[] = { 0.1, 0.1 };
    static const double neg[] = { -1, 1 };
    double many[SHED_HIST_BUCKETS_MAX + 1];
    for (size_t i = 0; i < SHED_HIST_BUCKETS_MAX + 1; i++)
        many[i] = (double) (i + 1);
    assert_null (shed_hist_new (desc, 2));
    assert_null (shed_hist_new (same, 2));
    assert_null (shed_hist_new (neg, 2));
    assert_null (shed_hist_new (many, 0));
    assert_null (shed_hist_new (NULL, 1));
    assert_null (shed_hist_new (many, SHED_HIST_BUCKETS_MAX + 1));
    shed_hist_t *h = shed_hist_new (many, SHED_HIST_BUCKETS_MAX);
    assert_non_null (h);
    shed_hist_destroy (&h);
}

static void
test_node_bounds (void **state)
{
    (void) state;
    /* The sets the node uses are valid (shed_hist_new would refuse them). */
    shed_hist_t *h = shed_hist_new (shed_hist_bounds_create, shed_hist_nbounds_create);
    assert_non_null (h);
    shed_hist_destroy (&h);
    h = shed_hist_new (shed_hist_bounds_rpc, shed_hist_nbounds_rpc);
    assert_non_null (h);
    shed_hist_destroy (&h);
    h = shed_hist_new (shed_hist_bounds_dns, shed_hist_nbounds_dns);
    assert_non_null (h);
    shed_hist_destroy (&h);
}

#define S_THREADS 4
#define S_PER     200000

static void *
s_observer (void *arg)
{
    shed_hist_t *h = arg;
    for (int i = 0; i < S_PER; i++)
        shed_hist_observe_ns (h, (i % 3) * 1000000); /* 0, 1 ms, 2 ms */
    return NULL;
}

static void
test_threads (void **state)
{
    (void) state;
    static const double b[] = { 0.0015 };
    shed_hist_t *h = shed_hist_new (b, 1);
    assert_non_null (h);
    pthread_t t[S_THREADS];
    for (int i = 0; i < S_THREADS; i++)
        assert_int_equal (pthread_create (&t[i], NULL, s_observer, h), 0);
    /* Snapshots taken meanwhile are consistent: count is the +Inf bucket. */
    for (int k = 0; k < 1000; k++) {
        shed_hist_snap_t s;
        shed_hist_snapshot (h, &s);
        assert_int_equal (s.count, s.cumulative[1]);
        assert_true (s.cumulative[0] <= s.cumulative[1]);
    }
    for (int i = 0; i < S_THREADS; i++)
        pthread_join (t[i], NULL);
    shed_hist_snap_t s;
    shed_hist_snapshot (h, &s);
    uint64_t n = (uint64_t) S_THREADS * S_PER;
    uint64_t slow = (uint64_t) S_THREADS * (S_PER / 3); /* i % 3 == 2: 66666 each */
    assert_int_equal (s.count, n);
    assert_int_equal (s.cumulative[1] - s.cumulative[0], slow);
    /* No lost adds: the sum is exact. */
    uint64_t ms = (uint64_t) S_THREADS * ((S_PER + 1) / 3 * 1 + S_PER / 3 * 2);
    assert_true (s.sum > (double) ms / 1000.0 - 1e-6 && s.sum < (double) ms / 1000.0 + 1e-6);
    shed_hist_destroy (&h);
}

int
main (void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test (test_buckets),
        cmocka_unit_test (test_bad_bounds),
        cmocka_unit_test (test_node_bounds),
        cmocka_unit_test (test_threads),
    };
    return cmocka_run_group_tests (tests, NULL, NULL);
}
