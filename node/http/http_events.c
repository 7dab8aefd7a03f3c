/* http_events.c - see http_events.h. */
#include "node/http/http_events.h"

#include "common/mhd_dl.h"

#include "node/api/api_client.h"
#include "node/api/api_pool.h"
#include "node/config.h"
#include "node/events/event_json.h"
#include "node/http/http_sse.h"

#include <czmq.h>
#include <sodium.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define S_TOKENS_MAX 256 /* tokens with streams open at once */

typedef struct {
    char id[API_TOKEN_ID_MAX + 1];
    unsigned streams;
} s_slot_t;

typedef struct _s_stream_t s_stream_t;

struct _http_events_t {
    shed_api_pool_t *api; /* borrowed: the node's local API */
    unsigned per_token;
    const volatile int *stopping;
    pthread_mutex_t lock; /* slots, streams and each stream's `released` */
    s_slot_t slots[S_TOKENS_MAX];
    s_stream_t *streams; /* open streams (a list through next/prev) */
    atomic_uint_fast64_t open, total, sent, refused;
};

/* One stream. */
struct _s_stream_t {
    http_events_t *owner;
    s_stream_t *next, *prev;
    bool listed;   /* in owner->streams */
    bool released; /* its slot given back already (its client hung up) */
    char token_id[API_TOKEN_ID_MAX + 1];
    bus_client_t *bus;
    int fd;         /* the client's socket, polled for a hang-up */
    bool fd_chatty; /* the client sent bytes after its request: no longer
                       waited on (it would wake every wait), only checked */
    char *pending;  /* text not yet handed to MHD */
    size_t len, off;
    int64_t last_out_ms; /* last bytes handed out: the heartbeat clock */
    bool raw;            /* ?raw=true: each event's payload bytes too */
    bool snap_open;      /* snapshot events may still come: ": subscribed" after them */
};

#define S_SUBSCRIBED ": subscribed\n\n"

http_events_t *
http_events_new (shed_api_pool_t *api, unsigned per_token, const volatile int *stopping)
{
    http_events_t *self = calloc (1, sizeof *self);
    if (!self)
        return NULL;
    self->api = api;
    self->per_token = per_token ? per_token : 1;
    self->stopping = stopping;
    pthread_mutex_init (&self->lock, NULL);
    return self;
}

void
http_events_destroy (http_events_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    pthread_mutex_destroy (&(*self_p)->lock);
    free (*self_p);
    *self_p = NULL;
}

void
http_events_stats (http_events_t *self, char *out, size_t size)
{
    snprintf (out, size,
              "events_streams=%llu events_streams_total=%llu events_sent=%llu "
              "events_refused=%llu",
              (unsigned long long) atomic_load (&self->open),
              (unsigned long long) atomic_load (&self->total),
              (unsigned long long) atomic_load (&self->sent),
              (unsigned long long) atomic_load (&self->refused));
}

static void
s_event_json (jw_t *j, const bus_event_t *ev, bool raw)
{
    jw_obj_begin (j);
    /* clang-format off */
    jw_key (j, "time_us");  jw_i64 (j, ev->time_us);
    jw_key (j, "topic");    jw_str (j, ev->topic);
    jw_key (j, "origin");   jw_str (j, ev->origin);
    jw_key (j, "seq");      jw_u64 (j, ev->seq);
    jw_key (j, "tseq");     jw_u64 (j, ev->tseq);
    jw_key (j, "boot");     jw_u64 (j, ev->boot);
    jw_key (j, "kind");     jw_str (j, ev->kind);
    jw_key (j, "snapshot"); jw_bool (j, ev->snapshot);
    jw_key (j, "gap");      jw_u64 (j, ev->gap);
    jw_key (j, "payload");  shed_event_json_payload (j, ev->kind, ev->payload, ev->size);
    /* clang-format on */
    if (raw) {
        /* The payload's bytes, for shedctl's commands that decode agent
         * messages themselves (top, logs --follow, provision). */
        size_t n = sodium_base64_encoded_len (ev->size, sodium_base64_VARIANT_ORIGINAL);
        char *b64 = malloc (n);
        jw_key (j, "raw");
        if (b64) {
            sodium_bin2base64 (b64, n, ev->payload, ev->size, sodium_base64_VARIANT_ORIGINAL);
            jw_str (j, b64);
            free (b64);
        }
        else
            jw_null (j);
    }
    jw_obj_end (j);
}

void
http_event_json (jw_t *j, const bus_event_t *ev)
{
    s_event_json (j, ev, false);
}

static void
s_slot_give_locked (http_events_t *self, const char *id)
{
    for (size_t i = 0; i < S_TOKENS_MAX; i++)
        if (self->slots[i].streams && strcmp (self->slots[i].id, id) == 0) {
            self->slots[i].streams--;
            break;
        }
}

/* The token's streams whose clients have hung up but whose threads have not
 * yet let go of them give their slots back now. A stream's slot is
 * otherwise given back when MHD frees its response, which happens only
 * after its reader callback returns: a client that closes a stream and at
 * once opens the next could get there first and be refused (docs/api.md,
 * "Events"). A listed stream's descriptor is still open: MHD closes it
 * only after freeing the response, and s_free unlists first. */
static void
s_reclaim_locked (http_events_t *self, s_slot_t *slot)
{
    for (s_stream_t *s = self->streams; s && slot->streams; s = s->next)
        if (!s->released && strcmp (s->token_id, slot->id) == 0 && http_sse_client_gone (s->fd)) {
            s->released = true;
            slot->streams--;
        }
}

/* Take a stream slot for the token: false when it holds per_token. */
static bool
s_slot_take (http_events_t *self, const char *id)
{
    bool ok = false;
    pthread_mutex_lock (&self->lock);
    s_slot_t *free_slot = NULL;
    for (size_t i = 0; i < S_TOKENS_MAX; i++) {
        s_slot_t *s = &self->slots[i];
        if (s->streams && strcmp (s->id, id) == 0) {
            if (s->streams >= self->per_token)
                s_reclaim_locked (self, s);
            if (s->streams < self->per_token) {
                s->streams++;
                ok = true;
            }
            goto done;
        }
        if (!s->streams && !free_slot)
            free_slot = s;
    }
    if (free_slot) {
        snprintf (free_slot->id, sizeof free_slot->id, "%s", id);
        free_slot->streams = 1;
        ok = true;
    }
done:
    pthread_mutex_unlock (&self->lock);
    return ok;
}

static void
s_slot_give (http_events_t *self, const char *id)
{
    pthread_mutex_lock (&self->lock);
    s_slot_give_locked (self, id);
    pthread_mutex_unlock (&self->lock);
}

/* The next event as an SSE record into s->pending. */
static int
s_format (s_stream_t *s, const bus_event_t *ev, const char *before)
{
    char *buf = NULL;
    size_t size = 0;
    FILE *out = open_memstream (&buf, &size);
    if (!out)
        return -1;
    fputs (before, out);
    fputs ("data: ", out);
    jw_t j;
    jw_init (&j, out);
    s_event_json (&j, ev, s->raw);
    fputs ("\n\n", out);
    if (fclose (out) != 0) {
        free (buf);
        return -1;
    }
    free (s->pending);
    s->pending = buf;
    s->len = size;
    s->off = 0;
    return 0;
}

/* Wait up to wait_ms for an event on the bus or for the client's hang-up,
 * whichever comes first: a client that leaves is seen at once, so its
 * stream ends and its slot is free when it reconnects (a wait on the bus
 * alone saw it only at the end of the wait). */
static void
s_wait (s_stream_t *s, int wait_ms)
{
    zmq_pollitem_t items[2] = {
        { zsock_resolve (bus_client_sock (s->bus)), 0, ZMQ_POLLIN, 0 },
        { NULL, s->fd, ZMQ_POLLIN, 0 },
    };
    int n = s->fd >= 0 && !s->fd_chatty ? 2 : 1;
    if (zmq_poll (items, n, wait_ms) > 0 && n == 2 && (items[1].revents & ZMQ_POLLIN)
        && !http_sse_client_gone (s->fd))
        s->fd_chatty = true; /* bytes, not a hang-up: MHD reads them later */
}

static ssize_t
s_reader (void *cls, uint64_t pos, char *buf, size_t max)
{
    (void) pos;
    s_stream_t *s = cls;
    http_events_t *self = s->owner;
    while (s->off >= s->len) {
        if (*self->stopping)
            return MHD_CONTENT_READER_END_OF_STREAM;
        if (http_sse_client_gone (s->fd))
            return MHD_CONTENT_READER_END_WITH_ERROR;
        int64_t idle = zclock_mono () - s->last_out_ms;
        if (idle >= HTTP_EVENTS_HEARTBEAT_MS) {
            free (s->pending);
            s->pending = strdup (": heartbeat\n\n");
            if (!s->pending)
                return MHD_CONTENT_READER_END_WITH_ERROR;
            s->len = strlen (s->pending);
            s->off = 0;
            break;
        }
        int wait = (int) (HTTP_EVENTS_HEARTBEAT_MS - idle);
        bus_event_t ev;
        if (bus_client_recv (s->bus, &ev, 0) != 0) {
            if (s->snap_open) {
                /* After the snapshot's last value: the client has them all
                 * (shedctl waits for this line, as for the bus's answer). */
                s->snap_open = false;
                free (s->pending);
                s->pending = strdup (S_SUBSCRIBED);
                if (!s->pending)
                    return MHD_CONTENT_READER_END_WITH_ERROR;
                s->len = strlen (s->pending);
                s->off = 0;
                break;
            }
            /* In slices, so a stopping node is seen too. */
            s_wait (s, wait < HTTP_EVENTS_POLL_MS ? wait : HTTP_EVENTS_POLL_MS);
            continue;
        }
        const char *before = "";
        if (s->snap_open && !ev.snapshot) {
            s->snap_open = false;
            before = S_SUBSCRIBED;
        }
        if (s_format (s, &ev, before) != 0)
            return MHD_CONTENT_READER_END_WITH_ERROR;
        atomic_fetch_add (&self->sent, 1);
    }
    size_t n = s->len - s->off < max ? s->len - s->off : max;
    memcpy (buf, s->pending + s->off, n);
    s->off += n;
    s->last_out_ms = zclock_mono ();
    return (ssize_t) n;
}

/* Open streams and logs-follow holds are listed, so that a token at its
 * cap can take back the slots of those whose clients hung up. */
static void
s_list_add (http_events_t *self, s_stream_t *s)
{
    pthread_mutex_lock (&self->lock);
    s->next = self->streams;
    if (s->next)
        s->next->prev = s;
    self->streams = s;
    s->listed = true;
    pthread_mutex_unlock (&self->lock);
}

/* Unlist the stream and give its slot back unless taken back already. */
static void
s_list_remove (http_events_t *self, s_stream_t *s)
{
    pthread_mutex_lock (&self->lock);
    if (s->listed) {
        if (s->prev)
            s->prev->next = s->next;
        else
            self->streams = s->next;
        if (s->next)
            s->next->prev = s->prev;
        s->listed = false;
    }
    if (!s->released)
        s_slot_give_locked (self, s->token_id);
    s->released = true;
    pthread_mutex_unlock (&self->lock);
}

static void
s_free (void *cls)
{
    s_stream_t *s = cls;
    http_events_t *self = s->owner;
    s_list_remove (self, s);
    bus_client_destroy (&s->bus);
    atomic_fetch_sub (&self->open, 1);
    free (s->pending);
    free (s);
}

bus_client_t *
http_events_bus_new (shed_api_pool_t *api, const volatile int *stopping,
                     const char *const *prefixes, size_t nprefixes, http_error_t *err)
{
    api_msg_t req = { .hdr.type = API_EVENTS_REQ }, rep;
    char why[256];
    if (shed_api_pool_call (api, &req, &rep, HTTP_READ_TIMEOUT_MS, stopping, why, sizeof why)
        != 0) {
        http_error_set (err, 503, "unavailable", "%s", why);
        return NULL;
    }
    bus_client_t *bus = NULL;
    if (rep.hdr.type == API_EVENTS_REP && rep.u.api_events_rep.local[0])
        bus = bus_client_new (rep.u.api_events_rep.local, NULL, NULL, NULL);
    wire_msg_free (&api_proto, &rep);
    if (!bus) {
        http_error_set (err, 503, "unavailable", "the node's event bus is not available");
        return NULL;
    }
    for (size_t i = 0; i < nprefixes; i++)
        if (bus_client_subscribe (bus, prefixes[i]) != 0) {
            /* A stream that silently follows less than it was asked for
             * would look like a quiet one: none at all. */
            http_error_set (err, 503, "unavailable", "cannot follow '%.64s' on the event bus",
                            prefixes[i]);
            bus_client_destroy (&bus);
            return NULL;
        }
    return bus;
}

/* A logs follow's slot: listed like an events stream (its client's socket
 * and token), so that it can be taken back the same way. */
struct _http_events_hold_t {
    s_stream_t stream;
};

bus_client_t *
http_events_attach (http_events_t *self, const char *token_id, int client_fd,
                    http_events_hold_t **hold_p, http_error_t *err)
{
    memset (err, 0, sizeof *err);
    *hold_p = NULL;
    if (!s_slot_take (self, token_id)) {
        atomic_fetch_add (&self->refused, 1);
        http_error_set (err, 429, "too_many_streams", "token %s already has %u event streams open",
                        token_id, self->per_token);
        return NULL;
    }
    http_events_hold_t *hold = calloc (1, sizeof *hold);
    bus_client_t *bus = hold ? http_events_bus_new (self->api, self->stopping, NULL, 0, err) : NULL;
    if (!bus) {
        if (!hold)
            http_error_set (err, 500, "internal", "out of memory");
        free (hold);
        s_slot_give (self, token_id);
        return NULL;
    }
    hold->stream.owner = self;
    hold->stream.fd = client_fd;
    snprintf (hold->stream.token_id, sizeof hold->stream.token_id, "%s", token_id);
    s_list_add (self, &hold->stream);
    atomic_fetch_add (&self->open, 1);
    atomic_fetch_add (&self->total, 1);
    *hold_p = hold;
    return bus;
}

void
http_events_release (http_events_t *self, http_events_hold_t **hold_p)
{
    http_events_hold_t *hold = *hold_p;
    if (!hold)
        return;
    *hold_p = NULL;
    s_list_remove (self, &hold->stream);
    atomic_fetch_sub (&self->open, 1);
    free (hold);
}

struct MHD_Response *
http_events_open (http_events_t *self, struct MHD_Connection *conn, const http_arg_t *args,
                  size_t nargs, const char *token_id, http_error_t *err)
{
    memset (err, 0, sizeof *err);
    const char *prefixes[HTTP_EVENTS_PREFIXES_MAX];
    size_t n = 0;
    bool snapshot = false, raw = false;
    for (size_t i = 0; i < nargs; i++) {
        const char *k = args[i].key, *v = args[i].value ? args[i].value : "";
        if (strcmp (k, "prefix") == 0) {
            if (n == HTTP_EVENTS_PREFIXES_MAX) {
                http_error_set (err, 400, "bad_request", "at most %d prefixes",
                                HTTP_EVENTS_PREFIXES_MAX);
                return NULL;
            }
            if (strlen (v) > EVENT_TOPIC_MAX || v[0] == EVENT_CTL_CHAR) {
                http_error_set (err, 400, "bad_request", "not a topic prefix: '%.64s'", v);
                return NULL;
            }
            prefixes[n++] = v;
        }
        else if (strcmp (k, "snapshot") == 0 && (!*v || !strcmp (v, "true") || !strcmp (v, "1")))
            snapshot = true;
        else if (strcmp (k, "snapshot") == 0 && (!strcmp (v, "false") || !strcmp (v, "0")))
            snapshot = false;
        else if (strcmp (k, "raw") == 0 && (!*v || !strcmp (v, "true") || !strcmp (v, "1")))
            raw = true;
        else if (strcmp (k, "raw") == 0 && (!strcmp (v, "false") || !strcmp (v, "0")))
            raw = false;
        else {
            http_error_set (err, 400, "bad_request",
                            "unknown query argument '%.64s' (prefix, snapshot, raw)", k);
            return NULL;
        }
    }
    if (n == 0)
        prefixes[n++] = "";
    if (!s_slot_take (self, token_id)) {
        atomic_fetch_add (&self->refused, 1);
        http_error_set (err, 429, "too_many_streams", "token %s already has %u event streams open",
                        token_id, self->per_token);
        return NULL;
    }
    s_stream_t *s = calloc (1, sizeof *s);
    if (!s) {
        s_slot_give (self, token_id);
        http_error_set (err, 500, "internal", "out of memory");
        return NULL;
    }
    s->owner = self;
    snprintf (s->token_id, sizeof s->token_id, "%s", token_id);
    s->bus = http_events_bus_new (self->api, self->stopping, prefixes, n, err);
    if (!s->bus) {
        s_slot_give (self, token_id);
        free (s);
        return NULL;
    }
    /* -1 (no answer in time) still sends what arrived, as shedctl does */
    int snapped = snapshot ? bus_client_snapshot (s->bus, 3000) : 0;
    s->raw = raw;
    s->fd = http_sse_fd (conn);
    /* The first bytes at once: the client knows it is subscribed; with a
     * snapshot, once its last values are sent. */
    if (snapped != 0) {
        s->snap_open = true;
        s->pending = strdup (": snapshot\n\n");
    }
    else
        s->pending = strdup (S_SUBSCRIBED);
    s->len = s->pending ? strlen (s->pending) : 0;
    s->last_out_ms = zclock_mono ();
    s_list_add (self, s);
    atomic_fetch_add (&self->open, 1);
    atomic_fetch_add (&self->total, 1);
    struct MHD_Response *resp =
        sym_MHD_create_response_from_callback (MHD_SIZE_UNKNOWN, 4096, s_reader, s, s_free);
    if (!resp) {
        s_free (s);
        http_error_set (err, 500, "internal", "out of memory");
        return NULL;
    }
    /* A stream is quiet between heartbeats: http.timeout_s must not close
     * it; a dead client is found by the hang-up poll or a failed write. */
    http_sse_prepare (conn, resp);
    return resp;
}
