/*
 * histogram_bench: the cost of one latency observation
 * (common/histogram.h), side by side with the reference it must stay
 * close to: one relaxed atomic counter increment, which every counter of
 * the node already pays. Both with 1 thread and with 2 threads hitting the
 * same object (the DNS listeners and the RPC actor observe from their own
 * threads). Observations use the DNS bucket set and values spread over
 * its buckets (a linear scan of up to 11 bounds). Also the cost of the
 * clock read a timed observation adds (shed_hist_now_ns).
 *
 *   histogram_bench [N per thread, default 20000000]
 *
 * Prints RESULT hist_ns=.. atomic_ns=.. hist_2t_ns=.. atomic_2t_ns=..
 * clock_ns=.. (nanoseconds per operation, wall time / operations of one
 * thread).
 */
#include "common/histogram.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>

static long s_n = 20000000;
static shed_hist_t *s_hist;
static _Atomic uint64_t s_counter;

static void *
s_hist_run (void *arg)
{
    (void) arg;
    /* 1 us .. 16 ms in steps: every bucket, the +Inf one too. */
    for (long i = 0; i < s_n; i++)
        shed_hist_observe_ns (s_hist, (int64_t) (1000 << (i & 15)));
    return NULL;
}

static void *
s_atomic_run (void *arg)
{
    (void) arg;
    for (long i = 0; i < s_n; i++)
        atomic_fetch_add_explicit (&s_counter, 1, memory_order_relaxed);
    return NULL;
}

static double
s_time (void *(*fn) (void *), int threads)
{
    pthread_t t[2];
    int64_t t0 = shed_hist_now_ns ();
    for (int i = 0; i < threads; i++)
        pthread_create (&t[i], NULL, fn, NULL);
    for (int i = 0; i < threads; i++)
        pthread_join (t[i], NULL);
    return (double) (shed_hist_now_ns () - t0) / (double) s_n;
}

int
main (int argc, char **argv)
{
    if (argc > 1)
        s_n = atol (argv[1]);
    if (s_n <= 0)
        return 2;
    s_hist = shed_hist_new (shed_hist_bounds_dns, shed_hist_nbounds_dns);
    if (!s_hist)
        return 1;
    double hist1 = s_time (s_hist_run, 1);
    double atom1 = s_time (s_atomic_run, 1);
    double hist2 = s_time (s_hist_run, 2);
    double atom2 = s_time (s_atomic_run, 2);
    int64_t t0 = shed_hist_now_ns ();
    volatile int64_t sink = 0;
    for (long i = 0; i < s_n; i++)
        sink += shed_hist_now_ns ();
    double clock_ns = (double) (shed_hist_now_ns () - t0) / (double) s_n;
    shed_hist_snap_t snap;
    shed_hist_snapshot (s_hist, &snap);
    if (snap.count != (uint64_t) s_n * 3) {
        fprintf (stderr, "lost observations: %llu of %llu\n", (unsigned long long) snap.count,
                 (unsigned long long) s_n * 3);
        return 1;
    }
    printf ("observations: %ld per thread; histogram %zu bounds\n", s_n, snap.nbounds);
    printf ("RESULT hist_ns=%.2f atomic_ns=%.2f hist_2t_ns=%.2f atomic_2t_ns=%.2f clock_ns=%.2f\n",
            hist1, atom1, hist2, atom2, clock_ns);
    shed_hist_destroy (&s_hist);
    return 0;
}
