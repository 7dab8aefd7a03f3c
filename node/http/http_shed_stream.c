/* http_shed_stream.c - see http_shed_stream.h. */
#include "node/http/http_shed_stream.h"

#include "common/mhd_dl.h"

#include "bridges/bus_client.h"
#include "node/config.h"
#include "node/http/http_events.h"
#include "node/http/http_sse.h"

#include <czmq.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* After the create answered, how long the target's last phases may still
 * be on their way (its answer took the RPC's path, they take the bus's);
 * shedctl waits as long (ctl_create_progress.c). */
#define S_DRAIN_MS 300

typedef struct {
    /* the create, on its own thread */
    http_compat_match_t m;
    char *body;
    size_t len;
    char request_id[64];
    http_compat_ctx_t ctx;
    http_compat_call_fn call;
    void *arg;
    pthread_t thread;
    bool thread_started;
    atomic_bool done;
    unsigned status; /* http_compat_serve's answer, once done */
    char *answer;
    size_t answer_len;
    /* the stream, on the connection's thread */
    const volatile int *stopping;
    char shed[API_SHED_REF_MAX + 1];
    bus_client_t *bus; /* NULL: no progress, only the answer */
    int fd;            /* the client's socket, polled for a hang-up */
    char *pending;
    size_t plen, poff;
    int64_t last_out_ms, drain_until;
    bool started_seen, final_sent;
} s_stream_t;

static void *
s_create (void *arg)
{
    s_stream_t *s = arg;
    s->status = http_compat_serve (&s->m, s->body, s->len, &s->ctx, s->call, s->arg, &s->answer,
                                   &s->answer_len);
    atomic_store (&s->done, true);
    return NULL;
}

static void
s_set (s_stream_t *s, char *text, size_t len)
{
    free (s->pending);
    s->pending = text;
    s->plen = len;
    s->poff = 0;
}

/* A progress record for our create from the next bus event, if any. */
static void
s_next_progress (s_stream_t *s, int timeout_ms)
{
    bus_event_t ev;
    if (bus_client_recv (s->bus, &ev, timeout_ms) != 0 || ev.snapshot
        || strcmp (ev.kind, EVPAY_KIND_PROGRESS) != 0)
        return;
    evpay_msg_t msg;
    if (wire_decode (&evpay_proto, ev.payload, ev.size, &msg, NULL) != WIRE_OK)
        return;
    if (msg.hdr.type == EVPAY_PROGRESS) {
        size_t len;
        char *text = http_compat_sse_progress (&msg.u.evpay_progress, s->shed, &len);
        if (text) {
            if (!strcmp (msg.u.evpay_progress.state, "started"))
                s->started_seen = true;
            s_set (s, text, len);
        }
    }
    wire_msg_free (&evpay_proto, &msg);
}

static ssize_t
s_reader (void *cls, uint64_t pos, char *buf, size_t max)
{
    (void) pos;
    s_stream_t *s = cls;
    while (s->poff >= s->plen) {
        if (s->final_sent)
            return MHD_CONTENT_READER_END_OF_STREAM;
        if (*s->stopping || http_sse_client_gone (s->fd))
            return MHD_CONTENT_READER_END_WITH_ERROR;
        bool done = atomic_load (&s->done);
        if (done && !s->drain_until)
            s->drain_until = zclock_mono () + S_DRAIN_MS;
        /* Answered and nothing more to wait for: the last record. A failed
         * create sends its error at once (no phases follow a failure). */
        if (done
            && (!s->bus || s->started_seen || s->status != 201
                || zclock_mono () >= s->drain_until)) {
            size_t len;
            char *text = http_compat_sse_final (s->status, s->answer, s->answer_len, &len);
            if (!text)
                return MHD_CONTENT_READER_END_WITH_ERROR;
            s_set (s, text, len);
            s->final_sent = true;
            break;
        }
        if (zclock_mono () - s->last_out_ms >= HTTP_EVENTS_HEARTBEAT_MS) {
            char *text = strdup (": heartbeat\n\n");
            if (!text)
                return MHD_CONTENT_READER_END_WITH_ERROR;
            s_set (s, text, strlen (text));
            break;
        }
        if (s->bus)
            s_next_progress (s, done ? 50 : HTTP_EVENTS_POLL_MS);
        else
            zclock_sleep (done ? 0 : 50);
    }
    size_t n = s->plen - s->poff < max ? s->plen - s->poff : max;
    memcpy (buf, s->pending + s->poff, n);
    s->poff += n;
    s->last_out_ms = zclock_mono ();
    return (ssize_t) n;
}

static void
s_free (void *cls)
{
    s_stream_t *s = cls;
    if (s->thread_started)
        pthread_join (s->thread, NULL); /* the create ends on its own deadline */
    bus_client_destroy (&s->bus);
    free (s->answer);
    free (s->pending);
    free (s->body);
    free (s);
}

/* The node's local events socket, subscribed to create progress; NULL
 * (progress skipped) when the node has no bus. */
static bus_client_t *
s_bus (shed_api_pool_t *api, const volatile int *stopping)
{
    const char *prefix = "create.";
    http_error_t err; /* progress is a courtesy: the create goes on without */
    bus_client_t *bus = http_events_bus_new (api, stopping, &prefix, 1, &err);
    /* Its answer comes once the node has the subscription (create. has no
     * last values, so it does not wait for peers): the create goes out
     * after it, and no phase is missed. */
    if (bus)
        bus_client_snapshot (bus, 2000);
    return bus;
}

struct MHD_Response *
http_shed_stream_open (shed_api_pool_t *api, const volatile int *stopping,
                       struct MHD_Connection *conn, const http_compat_match_t *m, const char *body,
                       size_t len, const http_compat_ctx_t *ctx, http_compat_call_fn call,
                       void *arg, http_error_t *err)
{
    memset (err, 0, sizeof *err);
    char shed[API_SHED_REF_MAX + 1];
    if (http_compat_create_check (body, len, shed, sizeof shed, err) != 0)
        return NULL;
    s_stream_t *s = calloc (1, sizeof *s);
    if (!s || !(s->body = malloc (len ? len : 1))) {
        free (s);
        http_error_set (err, 500, "INTERNAL_ERROR", "out of memory");
        return NULL;
    }
    memcpy (s->body, body, len);
    s->len = len;
    s->m = *m;
    snprintf (s->request_id, sizeof s->request_id, "%s", ctx->request_id ? ctx->request_id : "");
    s->ctx = *ctx;
    s->ctx.request_id = s->request_id;
    s->call = call;
    s->arg = arg;
    s->stopping = stopping;
    snprintf (s->shed, sizeof s->shed, "%s", shed);
    atomic_init (&s->done, false);
    s->fd = http_sse_fd (conn);
    s->bus = s_bus (api, stopping);
    s->last_out_ms = zclock_mono ();
    struct MHD_Response *resp =
        sym_MHD_create_response_from_callback (MHD_SIZE_UNKNOWN, 4096, s_reader, s, s_free);
    if (!resp) {
        s_free (s);
        http_error_set (err, 500, "INTERNAL_ERROR", "out of memory");
        return NULL;
    }
    if (pthread_create (&s->thread, NULL, s_create, s) != 0) {
        sym_MHD_destroy_response (resp); /* frees s */
        http_error_set (err, 503, "UNAVAILABLE", "cannot start the create's thread");
        return NULL;
    }
    s->thread_started = true;
    /* Quiet between phases (an image fetch may take minutes): the idle
     * timeout must not cut it; the heartbeat and the hang-up poll do. */
    http_sse_prepare (conn, resp);
    return resp;
}
