/* ctl_feed.c - see ctl_feed.h. */
#include "node/ctl/ctl_feed.h"

#include "node/api/api_client_http.h"
#include "node/config.h"
#include "node/ctl/ctl.h"

#include <czmq.h>
#include <errno.h>
#include <jansson.h>
#include <pthread.h>
#include <sodium.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define S_PREFIXES_MAX 8     /* what GET /v1/events takes */
#define S_QUEUE_MAX    10000 /* events not yet read: older ones are dropped */

typedef struct s_item {
    bus_event_t ev;
    uint8_t *payload;
    struct s_item *next;
} s_item_t;

struct ctl_feed {
    bus_client_t *bus; /* local; NULL when remote */
    char endpoint[SHED_ENDPOINT_MAX];
    char *prefixes[S_PREFIXES_MAX];
    size_t n;
    bool started, want_snapshot;
    pthread_t thread;
    volatile int stop;
    pthread_mutex_t lock;
    pthread_cond_t cond;
    s_item_t *head, *tail;
    size_t queued;
    bool subscribed, ended, told;
    char err[512];
    s_item_t *cur; /* the last event handed out: its payload lives until the next */
};

ctl_feed_t *
ctl_feed_wrap (bus_client_t *bus)
{
    if (!bus)
        return NULL;
    ctl_feed_t *self = calloc (1, sizeof *self);
    if (!self) {
        bus_client_destroy (&bus);
        return NULL;
    }
    self->bus = bus;
    return self;
}

ctl_feed_t *
ctl_feed_remote (const char *endpoint)
{
    ctl_feed_t *self = calloc (1, sizeof *self);
    if (!self)
        return NULL;
    snprintf (self->endpoint, sizeof self->endpoint, "%s", endpoint);
    pthread_mutex_init (&self->lock, NULL);
    pthread_cond_init (&self->cond, NULL);
    return self;
}

static void
s_free_item (s_item_t *it)
{
    if (it) {
        free (it->payload);
        free (it);
    }
}

bus_client_t *
ctl_feed_unwrap (ctl_feed_t **self_p)
{
    bus_client_t *bus = NULL;
    if (self_p && *self_p && (*self_p)->bus) {
        bus = (*self_p)->bus;
        (*self_p)->bus = NULL;
        free (*self_p);
        *self_p = NULL;
    }
    return bus;
}

void
ctl_feed_destroy (ctl_feed_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    ctl_feed_t *self = *self_p;
    if (self->bus)
        bus_client_destroy (&self->bus);
    else {
        self->stop = 1;
        if (self->started)
            pthread_join (self->thread, NULL); /* curl checks stop at least once a second */
        while (self->head) {
            s_item_t *it = self->head;
            self->head = it->next;
            s_free_item (it);
        }
        s_free_item (self->cur);
        for (size_t i = 0; i < self->n; i++)
            free (self->prefixes[i]);
        pthread_mutex_destroy (&self->lock);
        pthread_cond_destroy (&self->cond);
    }
    free (self);
    *self_p = NULL;
}

int
ctl_feed_subscribe (ctl_feed_t *self, const char *prefix)
{
    if (self->bus)
        return bus_client_subscribe (self->bus, prefix);
    if (self->started || self->n == S_PREFIXES_MAX)
        return -1;
    if (!(self->prefixes[self->n] = strdup (prefix)))
        return -1;
    self->n++;
    return 0;
}

static void
s_copy (char *dst, size_t cap, json_t *v)
{
    snprintf (dst, cap, "%s", json_is_string (v) ? json_string_value (v) : "");
}

/* One event of the stream into the queue (on the stream's thread). */
static int
s_on_event (const char *text, size_t len, void *arg)
{
    ctl_feed_t *self = arg;
    if (!text) {
        pthread_mutex_lock (&self->lock);
        self->subscribed = true;
        pthread_cond_broadcast (&self->cond);
        pthread_mutex_unlock (&self->lock);
        return self->stop;
    }
    /* boot ids use all 64 bits: numbers as doubles (the node computed the
     * gaps; seq and time_us stay exact below 2^53) */
    json_t *j = json_loadb (text, len, JSON_DECODE_INT_AS_REAL, NULL);
    const char *raw = json_string_value (json_object_get (j, "raw"));
    s_item_t *it = j && raw ? calloc (1, sizeof *it) : NULL;
    if (it) {
        size_t rlen = strlen (raw), plen = 0;
        it->payload = malloc (rlen / 4 * 3 + 4);
        if (!it->payload
            || sodium_base642bin (it->payload, rlen / 4 * 3 + 4, raw, rlen, NULL, &plen, NULL,
                                  sodium_base64_VARIANT_ORIGINAL)
                   != 0) {
            s_free_item (it);
            it = NULL;
        }
        else {
            bus_event_t *ev = &it->ev;
            s_copy (ev->topic, sizeof ev->topic, json_object_get (j, "topic"));
            s_copy (ev->origin, sizeof ev->origin, json_object_get (j, "origin"));
            s_copy (ev->kind, sizeof ev->kind, json_object_get (j, "kind"));
            ev->seq = (uint64_t) json_number_value (json_object_get (j, "seq"));
            ev->tseq = (uint64_t) json_number_value (json_object_get (j, "tseq"));
            ev->boot = (uint64_t) json_number_value (json_object_get (j, "boot"));
            ev->time_us = (int64_t) json_number_value (json_object_get (j, "time_us"));
            ev->gap = (uint64_t) json_number_value (json_object_get (j, "gap"));
            ev->snapshot = json_is_true (json_object_get (j, "snapshot"));
            ev->size = plen;
        }
    }
    json_decref (j);
    if (it) {
        pthread_mutex_lock (&self->lock);
        if (self->queued == S_QUEUE_MAX) { /* a reader that stopped reading */
            s_item_t *old = self->head;
            self->head = old->next;
            if (!self->head)
                self->tail = NULL;
            s_free_item (old);
            self->queued--;
        }
        if (self->tail)
            self->tail->next = it;
        else
            self->head = it;
        self->tail = it;
        self->queued++;
        pthread_cond_broadcast (&self->cond);
        pthread_mutex_unlock (&self->lock);
    }
    return self->stop;
}

static void *
s_thread (void *arg)
{
    ctl_feed_t *self = arg;
    const char *prefixes[S_PREFIXES_MAX];
    for (size_t i = 0; i < self->n; i++)
        prefixes[i] = self->prefixes[i];
    shed_api_events_opt_t opt = { .snapshot = self->want_snapshot,
                                  .raw = true,
                                  .stop = &self->stop };
    char err[512] = "";
    int rc = shed_api_http_events (self->endpoint, prefixes, self->n, &opt, s_on_event, self, err,
                                   sizeof err);
    pthread_mutex_lock (&self->lock);
    self->ended = true;
    if (rc != 0 && !self->stop)
        snprintf (self->err, sizeof self->err, "%s", err);
    pthread_cond_broadcast (&self->cond);
    pthread_mutex_unlock (&self->lock);
    return NULL;
}

static void
s_start (ctl_feed_t *self)
{
    if (self->started)
        return;
    self->started = true;
    if (pthread_create (&self->thread, NULL, s_thread, self) != 0) {
        self->started = false;
        self->ended = true;
        snprintf (self->err, sizeof self->err, "cannot start the event stream's thread");
    }
}

/* Wait on the condition until `deadline` (CLOCK_REALTIME ms); false on timeout. */
static bool
s_wait (ctl_feed_t *self, int64_t deadline_ms)
{
    struct timespec ts = { .tv_sec = deadline_ms / 1000, .tv_nsec = deadline_ms % 1000 * 1000000 };
    return pthread_cond_timedwait (&self->cond, &self->lock, &ts) != ETIMEDOUT;
}

int
ctl_feed_snapshot (ctl_feed_t *self, int timeout_ms)
{
    if (self->bus)
        return bus_client_snapshot (self->bus, timeout_ms);
    if (!self->started)
        self->want_snapshot = true;
    s_start (self);
    int64_t deadline = zclock_time () + timeout_ms;
    pthread_mutex_lock (&self->lock);
    while (!self->subscribed && !self->ended && zclock_time () < deadline)
        s_wait (self, deadline);
    int rc = self->subscribed ? (int) self->queued : -1;
    bool tell = self->ended && !self->subscribed && !self->told;
    if (tell)
        self->told = true;
    pthread_mutex_unlock (&self->lock);
    if (tell)
        ctl_fail ("%s", self->err[0] ? self->err : "the node closed the event stream");
    return rc;
}

int
ctl_feed_ready (ctl_feed_t *self, int timeout_ms)
{
    if (self->bus)
        return 0;
    s_start (self);
    int64_t deadline = zclock_time () + timeout_ms;
    pthread_mutex_lock (&self->lock);
    while (!self->subscribed && !self->ended && zclock_time () < deadline)
        s_wait (self, deadline);
    int rc = self->subscribed ? 0 : -1;
    pthread_mutex_unlock (&self->lock);
    return rc;
}

bool
ctl_feed_is_remote (const ctl_feed_t *self)
{
    return !self->bus;
}

void
ctl_feed_set_quiet (ctl_feed_t *self)
{
    if (!self->bus)
        self->told = true;
}

int
ctl_feed_recv (ctl_feed_t *self, bus_event_t *ev, int timeout_ms)
{
    if (self->bus)
        return bus_client_recv (self->bus, ev, timeout_ms);
    s_start (self);
    s_free_item (self->cur);
    self->cur = NULL;
    int64_t deadline = zclock_time () + (timeout_ms < 0 ? 86400000 : timeout_ms);
    pthread_mutex_lock (&self->lock);
    while (!self->head && zclock_time () < deadline) {
        if (self->ended && !self->told) {
            self->told = true;
            pthread_mutex_unlock (&self->lock);
            ctl_fail ("%s", self->err[0] ? self->err : "the node closed the event stream");
            pthread_mutex_lock (&self->lock);
        }
        s_wait (self, deadline);
    }
    s_item_t *it = self->head;
    if (it) {
        self->head = it->next;
        if (!self->head)
            self->tail = NULL;
        self->queued--;
    }
    pthread_mutex_unlock (&self->lock);
    if (!it)
        return -1;
    self->cur = it;
    *ev = it->ev;
    ev->payload = it->payload;
    return 0;
}
