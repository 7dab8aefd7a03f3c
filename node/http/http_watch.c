/* http_watch.c - see http_watch.h. */
#include "node/http/http_watch.h"

#include "common/duration.h"

#include <czmq.h>
#include <pthread.h>
#include <sodium.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define S_ROUTES_MAX 8

typedef struct {
    const http_route_t *route;
    uint8_t digest[crypto_generichash_BYTES];
    uint64_t index;
} s_list_t;

struct _http_watch_t {
    pthread_mutex_t lock;
    s_list_t lists[S_ROUTES_MAX];
    atomic_int_fast64_t waiting;
    atomic_uint_fast64_t woken;
};

http_watch_t *
http_watch_new (void)
{
    http_watch_t *self = calloc (1, sizeof *self);
    if (self)
        pthread_mutex_init (&self->lock, NULL);
    return self;
}

void
http_watch_destroy (http_watch_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    pthread_mutex_destroy (&(*self_p)->lock);
    free (*self_p);
    *self_p = NULL;
}

int
http_watch_args (http_arg_t *args, size_t *nargs, bool *index_set, uint64_t *index,
                 uint64_t *wait_ms, http_error_t *err)
{
    *index_set = false;
    *index = 0;
    *wait_ms = HTTP_WATCH_WAIT_DEFAULT;
    size_t kept = 0;
    for (size_t i = 0; i < *nargs; i++) {
        const char *k = args[i].key, *v = args[i].value ? args[i].value : "";
        if (strcmp (k, "index") == 0) {
            char *end = NULL;
            if (*v < '0' || *v > '9' || strlen (v) > 19
                || (*index = strtoull (v, &end, 10), *end)) {
                http_error_set (err, 400, "bad_request", "index: expected a number, got '%.32s'",
                                v);
                return -1;
            }
            *index_set = true;
        }
        else if (strcmp (k, "wait") == 0) {
            char why[128];
            /* "30s", "5m"; a bare number is seconds, as Consul's */
            if (shed_duration_parse_range (v, 1000, 0, HTTP_WATCH_WAIT_MAX_MS, wait_ms, why,
                                           sizeof why)
                != 0) {
                http_error_set (err, 400, "bad_request", "wait: %s", why);
                return -1;
            }
        }
        else
            args[kept++] = args[i];
    }
    *nargs = kept;
    return 0;
}

uint64_t
http_watch_index (http_watch_t *self, const http_route_t *route, const char *body, size_t len)
{
    uint8_t d[crypto_generichash_BYTES];
    crypto_generichash (d, sizeof d, (const uint8_t *) body, len, NULL, 0);
    pthread_mutex_lock (&self->lock);
    s_list_t *l = NULL;
    for (size_t i = 0; i < S_ROUTES_MAX && !l; i++)
        if (self->lists[i].route == route || !self->lists[i].route)
            l = &self->lists[i];
    uint64_t index = 0;
    if (l) {
        if (!l->route || memcmp (l->digest, d, sizeof d) != 0) {
            l->route = route;
            memcpy (l->digest, d, sizeof d);
            l->index++;
        }
        index = l->index;
    }
    pthread_mutex_unlock (&self->lock);
    return index;
}

const char *
http_watch_topic (const http_route_t *route)
{
    const char *n = http_route_name (route);
    if (strcmp (n, "members") == 0)
        return "member.";
    if (strcmp (n, "services") == 0)
        return "service.";
    return "shed.";
}

void
http_watch_wait (bus_client_t *bus, int timeout_ms, const volatile int *stop)
{
    int64_t end = zclock_mono () + timeout_ms;
    for (int64_t left = timeout_ms; left > 0 && !*stop; left = end - zclock_mono ()) {
        int slice = left > 250 ? 250 : (int) left;
        bus_event_t ev;
        if (!bus)
            zclock_sleep (slice);
        else if (bus_client_recv (bus, &ev, slice) == 0)
            return;
    }
}

void
http_watch_count (http_watch_t *self, int waiting_delta, bool answered_after_wait)
{
    atomic_fetch_add (&self->waiting, waiting_delta);
    if (answered_after_wait)
        atomic_fetch_add (&self->woken, 1);
}

void
http_watch_stats (http_watch_t *self, char *out, size_t size)
{
    snprintf (out, size, "watch_waiting=%lld watch_answered=%llu",
              (long long) atomic_load (&self->waiting),
              (unsigned long long) atomic_load (&self->woken));
}
