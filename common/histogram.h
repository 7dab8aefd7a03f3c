/*
 * histogram.h - a latency histogram with fixed buckets, cheap to observe
 * from any thread, read as a Prometheus histogram (docs/metrics.md).
 *
 *     static const double bounds[] = { 0.001, 0.01, 0.1, 1 };   // seconds
 *     shed_hist_t *h = shed_hist_new (bounds, 4);
 *     int64_t t0 = shed_hist_now_ns ();
 *     ... the work ...
 *     shed_hist_observe_since (h, t0);        // any thread
 *     shed_hist_snap_t snap;
 *     shed_hist_snapshot (h, &snap);          // any thread, e.g. the render
 *
 * Observing is a linear scan of at most SHED_HIST_BUCKETS_MAX bounds and two
 * relaxed atomic adds: no lock, no allocation, so a DNS query or an RPC
 * response pays a few nanoseconds. Counts are kept per bucket (not
 * cumulative) and the sum in nanoseconds as an integer (atomic adds of
 * doubles would need a CAS loop); the snapshot makes them cumulative and
 * computes the count from the buckets, so `_count` always equals the
 * `+Inf` bucket even while other threads observe. The sum is read apart
 * and may lag by the observations in flight: Prometheus tolerates that.
 *
 * Bounds are upper bounds in seconds ("le"), strictly increasing, at most
 * SHED_HIST_BUCKETS_MAX; the +Inf bucket is implicit.
 */
#ifndef SHED_HISTOGRAM_H
#define SHED_HISTOGRAM_H

#include <stddef.h>
#include <stdint.h>

#define SHED_HIST_BUCKETS_MAX 16

typedef struct _shed_hist_t shed_hist_t;

/* A consistent copy, for rendering (a plain value the caller owns). */
typedef struct {
    size_t nbounds;
    double bounds[SHED_HIST_BUCKETS_MAX];           /* seconds */
    uint64_t cumulative[SHED_HIST_BUCKETS_MAX + 1]; /* [nbounds] is +Inf */
    uint64_t count;                                 /* == cumulative[nbounds] */
    double sum;                                     /* seconds */
} shed_hist_snap_t;

/* NULL if the bounds are not 1..SHED_HIST_BUCKETS_MAX strictly increasing
 * positive finite values, or out of memory. Bounds are copied. */
shed_hist_t *shed_hist_new (const double *bounds, size_t nbounds);
/* NULL-safe; nulls the caller's pointer. No thread may observe any more. */
void shed_hist_destroy (shed_hist_t **self_p);

/* Record one observation of `ns` nanoseconds (negative: 0). NULL-safe
 * (a component without a histogram records nothing). Thread-safe. */
void shed_hist_observe_ns (shed_hist_t *self, int64_t ns);
/* Record the time since t0 (from shed_hist_now_ns). */
void shed_hist_observe_since (shed_hist_t *self, int64_t t0_ns);

/* CLOCK_MONOTONIC in nanoseconds (vDSO: no system call). */
int64_t shed_hist_now_ns (void);

/* Fill *out. Thread-safe. */
void shed_hist_snapshot (shed_hist_t *self, shed_hist_snap_t *out);

/* Bucket sets for the node's latencies, in seconds (docs/metrics.md says
 * why each). */
extern const double shed_hist_bounds_create[];
extern const size_t shed_hist_nbounds_create;
extern const double shed_hist_bounds_rpc[];
extern const size_t shed_hist_nbounds_rpc;
extern const double shed_hist_bounds_dns[];
extern const size_t shed_hist_nbounds_dns;

#endif
