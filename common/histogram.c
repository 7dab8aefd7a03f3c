/* histogram.c - see histogram.h. */
#include "common/histogram.h"

#include <math.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <time.h>

struct _shed_hist_t {
    size_t nbounds;
    double bounds[SHED_HIST_BUCKETS_MAX];
    int64_t bounds_ns[SHED_HIST_BUCKETS_MAX]; /* the same, compared on observe */
    _Atomic uint64_t counts[SHED_HIST_BUCKETS_MAX + 1];
    _Atomic uint64_t sum_ns;
};

/* Create: from the API request to the shed running. A namespace shed is
 * up in tenths of a second, a microVM in a few seconds; an image fetched
 * first or a snapshot restored can take minutes (the default create
 * deadline is 30 s, a request may ask for up to an hour). */
const double shed_hist_bounds_create[] = { 0.1, 0.25, 0.5, 1, 2, 5, 10, 20, 30, 60, 120, 300, 600 };
const size_t shed_hist_nbounds_create = sizeof shed_hist_bounds_create / sizeof (double);

/* Node RPC round trips: a fraction of a millisecond on a LAN, tens of
 * milliseconds across regions, and the handler's own work (a claim waits
 * for the driver's create); the default timeout is 5 s. */
const double shed_hist_bounds_rpc[] = { 0.0002, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025,
                                        0.05,   0.1,    0.25,  0.5,    1,     2.5,  5 };
const size_t shed_hist_nbounds_rpc = sizeof shed_hist_bounds_rpc / sizeof (double);

/* DNS: one in-memory lookup in the zone snapshot and a send, a few
 * microseconds; tens of microseconds for a large answer or a busy batch. */
const double shed_hist_bounds_dns[] = { 0.000005, 0.00001, 0.000025, 0.00005, 0.0001, 0.00025,
                                        0.0005,   0.001,   0.0025,   0.005,   0.01 };
const size_t shed_hist_nbounds_dns = sizeof shed_hist_bounds_dns / sizeof (double);

shed_hist_t *
shed_hist_new (const double *bounds, size_t nbounds)
{
    if (!bounds || nbounds == 0 || nbounds > SHED_HIST_BUCKETS_MAX)
        return NULL;
    for (size_t i = 0; i < nbounds; i++)
        if (!isfinite (bounds[i]) || bounds[i] <= 0 || (i > 0 && bounds[i] <= bounds[i - 1]))
            return NULL;
    shed_hist_t *self = calloc (1, sizeof *self);
    if (!self)
        return NULL;
    self->nbounds = nbounds;
    for (size_t i = 0; i < nbounds; i++) {
        self->bounds[i] = bounds[i];
        /* An observation of exactly the bound belongs to its bucket (le). */
        self->bounds_ns[i] = (int64_t) llround (bounds[i] * 1e9);
    }
    for (size_t i = 0; i <= nbounds; i++)
        atomic_init (&self->counts[i], 0);
    atomic_init (&self->sum_ns, 0);
    return self;
}

void
shed_hist_destroy (shed_hist_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    free (*self_p);
    *self_p = NULL;
}

int64_t
shed_hist_now_ns (void)
{
    struct timespec ts;
    clock_gettime (CLOCK_MONOTONIC, &ts);
    return (int64_t) ts.tv_sec * 1000000000 + ts.tv_nsec;
}

void
shed_hist_observe_ns (shed_hist_t *self, int64_t ns)
{
    if (!self)
        return;
    if (ns < 0)
        ns = 0;
    size_t i = 0;
    while (i < self->nbounds && ns > self->bounds_ns[i])
        i++;
    atomic_fetch_add_explicit (&self->counts[i], 1, memory_order_relaxed);
    atomic_fetch_add_explicit (&self->sum_ns, (uint64_t) ns, memory_order_relaxed);
}

void
shed_hist_observe_since (shed_hist_t *self, int64_t t0_ns)
{
    if (self)
        shed_hist_observe_ns (self, shed_hist_now_ns () - t0_ns);
}

void
shed_hist_snapshot (shed_hist_t *self, shed_hist_snap_t *out)
{
    out->nbounds = self->nbounds;
    uint64_t total = 0;
    for (size_t i = 0; i < self->nbounds; i++)
        out->bounds[i] = self->bounds[i];
    for (size_t i = 0; i <= self->nbounds; i++) {
        total += atomic_load_explicit (&self->counts[i], memory_order_relaxed);
        out->cumulative[i] = total;
    }
    out->count = total;
    out->sum = (double) atomic_load_explicit (&self->sum_ns, memory_order_relaxed) / 1e9;
}
