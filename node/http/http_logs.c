/* http_logs.c - see http_logs.h. */
#include "node/http/http_logs.h"

#include "agent/proto/agent_proto.h"
#include "common/mhd_dl.h"
#include "node/api/api_pool.h"
#include "node/ctl/json.h"
#include "node/http/http_sse.h"

#include <czmq.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define S_SEEN_MAX 64 /* streams whose last history line is remembered */

/* Last history line per stream, so live lines already sent are skipped
 * (as ctl_logs.c does). */
typedef struct {
    char stream[AGENT_STREAM_NAME_MAX + 1];
    uint64_t seq, ts_ms;
} s_seen_t;

typedef struct {
    http_events_t *events;
    const volatile int *stopping;
    char token_id[API_TOKEN_ID_MAX + 1];
    bus_client_t *bus;
    int fd;                   /* the client's socket, polled for a hang-up */
    http_events_hold_t *hold; /* its slot among the token's streams */
    char shed[API_SHED_REF_MAX + 1];
    char stream[AGENT_STREAM_NAME_MAX + 1]; /* "" = every stream */
    s_seen_t seen[S_SEEN_MAX];
    size_t nseen;
    char *pending; /* text not yet handed to MHD */
    size_t len, off;
    int64_t last_out_ms;
} s_follow_t;

int
http_logs_args (http_arg_t *args, size_t *nargs, bool *follow, http_error_t *err)
{
    *follow = false;
    bool seen = false;
    size_t kept = 0;
    for (size_t i = 0; i < *nargs; i++) {
        if (strcmp (args[i].key, "follow") != 0) {
            args[kept++] = args[i];
            continue;
        }
        const char *v = args[i].value ? args[i].value : "";
        if (seen) {
            http_error_set (err, 400, "bad_request", "query argument 'follow' given twice");
            return -1;
        }
        seen = true;
        if (!*v || !strcmp (v, "true") || !strcmp (v, "1"))
            *follow = true;
        else if (strcmp (v, "false") && strcmp (v, "0")) {
            http_error_set (err, 400, "bad_request",
                            "query argument 'follow': expected true or false");
            return -1;
        }
    }
    *nargs = kept;
    return 0;
}

/* Text into a malloc'd buffer through a jw_t writer. */
#define S_MEMSTREAM(buf, size, out)                                                                \
    char *buf = NULL;                                                                              \
    size_t size = 0;                                                                               \
    FILE *out = open_memstream (&buf, &size)

/* buf and size are the memstream's: set by fclose, so passed by address. */
static char *
s_close (FILE *out, char **buf, size_t *size, size_t *len)
{
    if (fclose (out) != 0) {
        free (*buf);
        return NULL;
    }
    *len = *size;
    return *buf;
}

char *
http_logs_record (const char *node, const char *stream, uint64_t seq, uint64_t ts_ms,
                  const char *text, bool partial, size_t *len)
{
    S_MEMSTREAM (buf, size, out);
    if (!out)
        return NULL;
    fputs ("data: ", out);
    jw_t j;
    jw_init (&j, out);
    jw_obj_begin (&j);
    /* clang-format off */ /* the keys `shedctl logs --json` prints */
    jw_key (&j, "node");    jw_str (&j, node);
    jw_key (&j, "stream");  jw_str (&j, stream);
    jw_key (&j, "seq");     jw_u64 (&j, seq);
    jw_key (&j, "ts_ms");   jw_u64 (&j, ts_ms);
    jw_key (&j, "text");    jw_str (&j, text);
    jw_key (&j, "partial"); jw_bool (&j, partial);
    /* clang-format on */
    jw_obj_end (&j);
    fputs ("\n\n", out);
    return s_close (out, &buf, &size, len);
}

/* "event: history" after the history lines: live ones from here on. */
static char *
s_history (const api_logs_rep_t *x, const char *note, size_t *len)
{
    S_MEMSTREAM (buf, size, out);
    if (!out)
        return NULL;
    fputs ("event: history\ndata: ", out);
    jw_t j;
    jw_init (&j, out);
    jw_obj_begin (&j);
    /* clang-format off */
    jw_key (&j, "node");      jw_str (&j, x ? x->node : "");
    jw_key (&j, "lines");     jw_u64 (&j, x ? x->lines.n : 0);
    jw_key (&j, "evicted");   jw_u64 (&j, x ? x->evicted : 0);
    jw_key (&j, "truncated"); jw_bool (&j, x && x->truncated);
    /* clang-format on */
    if (note) {
        jw_key (&j, "note");
        jw_str (&j, note);
    }
    jw_obj_end (&j);
    fputs ("\n\n", out);
    return s_close (out, &buf, &size, len);
}

static char *
s_lost (const char *stream, uint64_t lost, size_t *len)
{
    S_MEMSTREAM (buf, size, out);
    if (!out)
        return NULL;
    fputs ("event: lost\ndata: ", out);
    jw_t j;
    jw_init (&j, out);
    jw_obj_begin (&j);
    jw_key (&j, "stream");
    jw_str (&j, stream);
    jw_key (&j, "lost");
    jw_u64 (&j, lost);
    jw_obj_end (&j);
    fputs ("\n\n", out);
    return s_close (out, &buf, &size, len);
}

static void
s_set (s_follow_t *s, char *text, size_t len)
{
    free (s->pending);
    s->pending = text;
    s->len = text ? len : 0;
    s->off = 0;
}

/* Append text to what is pending (the history, built before the stream). */
static int
s_append (s_follow_t *s, char *text, size_t len)
{
    if (!text)
        return -1;
    char *grown = realloc (s->pending, s->len + len + 1);
    if (!grown) {
        free (text);
        return -1;
    }
    memcpy (grown + s->len, text, len);
    grown[s->len + len] = '\0';
    s->pending = grown;
    s->len += len;
    free (text);
    return 0;
}

/* "log.<node>.<shed>.<stream>" -> node, shed, stream (shed and stream
 * names have no dots, node names may). 0 or -1. */
static int
s_topic (const char *topic, char *node, size_t nodecap, char *shed, size_t shedcap, char *stream,
         size_t streamcap)
{
    if (strncmp (topic, "log.", 4) != 0)
        return -1;
    const char *rest = topic + 4, *d2 = strrchr (rest, '.');
    if (!d2 || strlen (d2 + 1) >= streamcap || !d2[1])
        return -1;
    const char *d1 = d2;
    while (d1 > rest && d1[-1] != '.')
        d1--;
    if (d1 <= rest + 1) /* an empty node or no dot before the shed */
        return -1;
    size_t nl = (size_t) (d1 - 1 - rest), sl = (size_t) (d2 - d1);
    if (nl >= nodecap || sl == 0 || sl >= shedcap)
        return -1;
    memcpy (node, rest, nl);
    node[nl] = '\0';
    memcpy (shed, d1, sl);
    shed[sl] = '\0';
    strcpy (stream, d2 + 1);
    return 0;
}

/* The next live line for the client into s->pending: 1, 0 (none this
 * time), -1 out of memory. */
static int
s_next (s_follow_t *s, int wait_ms)
{
    bus_event_t ev;
    if (bus_client_recv (s->bus, &ev, wait_ms) != 0)
        return 0;
    char node[EVENT_NODE_MAX + 1], shed[AGENT_NAME_MAX + 1], st[AGENT_STREAM_NAME_MAX + 1];
    if (s_topic (ev.topic, node, sizeof node, shed, sizeof shed, st, sizeof st) != 0
        || strcmp (shed, s->shed) || (s->stream[0] && strcmp (st, s->stream)))
        return 0;
    agent_msg_t m;
    if (wire_decode (&agent_proto, ev.payload, ev.size, &m, NULL) != WIRE_OK)
        return 0;
    int rc = 0;
    if (m.hdr.type == AGENT_LOG) {
        const agent_log_t *l = &m.u.agent_log;
        bool dup = false;
        for (size_t k = 0; k < s->nseen; k++)
            if (!strcmp (s->seen[k].stream, l->stream) && l->seq <= s->seen[k].seq
                && l->ts_ms <= s->seen[k].ts_ms)
                dup = true;
        size_t len = 0;
        char *lost = NULL;
        if (ev.gap)
            lost = s_lost (st, ev.gap, &len);
        s_set (s, lost, len);
        if (!dup) {
            char *rec =
                http_logs_record (node, l->stream, l->seq, l->ts_ms, l->text, l->partial, &len);
            rc = s_append (s, rec, len) == 0 ? 1 : -1;
        }
        else
            rc = s->len ? 1 : 0;
    }
    wire_msg_free (&agent_proto, &m);
    return rc;
}

static ssize_t
s_reader (void *cls, uint64_t pos, char *buf, size_t max)
{
    (void) pos;
    s_follow_t *s = cls;
    while (s->off >= s->len) {
        if (*s->stopping)
            return MHD_CONTENT_READER_END_OF_STREAM;
        if (http_sse_client_gone (s->fd))
            return MHD_CONTENT_READER_END_WITH_ERROR;
        int64_t idle = zclock_mono () - s->last_out_ms;
        if (idle >= HTTP_EVENTS_HEARTBEAT_MS) {
            char *hb = strdup (": heartbeat\n\n");
            if (!hb)
                return MHD_CONTENT_READER_END_WITH_ERROR;
            s_set (s, hb, strlen (hb));
            break;
        }
        int wait = (int) (HTTP_EVENTS_HEARTBEAT_MS - idle);
        if (s_next (s, wait < HTTP_EVENTS_POLL_MS ? wait : HTTP_EVENTS_POLL_MS) < 0)
            return MHD_CONTENT_READER_END_WITH_ERROR;
    }
    size_t n = s->len - s->off < max ? s->len - s->off : max;
    memcpy (buf, s->pending + s->off, n);
    s->off += n;
    s->last_out_ms = zclock_mono ();
    return (ssize_t) n;
}

static void
s_free (void *cls)
{
    s_follow_t *s = cls;
    if (s->bus) {
        bus_client_destroy (&s->bus);
        http_events_release (s->events, &s->hold);
    }
    free (s->pending);
    free (s);
}

/* The node that has the shed (its log topics carry that node's name), or
 * "" when no node says (then every node's lines are watched). */
static void
s_owner (shed_api_pool_t *api, const volatile int *stopping, const char *shed, char *node,
         size_t cap)
{
    api_msg_t req = { .hdr.type = API_SHED_SHOW_REQ }, rep;
    snprintf (req.u.api_shed_show_req.name, sizeof req.u.api_shed_show_req.name, "%s", shed);
    char why[256];
    node[0] = '\0';
    if (shed_api_pool_call (api, &req, &rep, HTTP_READ_TIMEOUT_MS, stopping, why, sizeof why) != 0)
        return;
    if (rep.hdr.type == API_SHED_REP && rep.u.api_shed_rep.shed.n > 0)
        snprintf (node, cap, "%s", rep.u.api_shed_rep.shed.items[0].node);
    wire_msg_free (&api_proto, &rep);
}

/* The history into s->pending (each line remembered for the dedup), then
 * the history record. 0, or -1 with err (nothing to stream). */
static int
s_load_history (s_follow_t *s, shed_api_pool_t *api, api_msg_t *req, http_error_t *err)
{
    api_msg_t rep;
    char why[512];
    if (shed_api_pool_call (api, req, &rep, http_request_timeout_ms (req), s->stopping, why,
                            sizeof why)
        != 0) {
        http_error_set (err, 503, "unavailable", "%s", why);
        return -1;
    }
    int rc = 0;
    size_t len = 0;
    if (rep.hdr.type == API_LOGS_REP) {
        const api_logs_rep_t *x = &rep.u.api_logs_rep;
        const api_logline_t *l = x->lines.items;
        for (size_t i = 0; i < x->lines.n && rc == 0; i++) {
            char *rec = http_logs_record (x->node, l[i].stream, l[i].seq, l[i].ts_ms, l[i].text,
                                          l[i].partial, &len);
            rc = s_append (s, rec, len);
            size_t k;
            for (k = 0; k < s->nseen && strcmp (s->seen[k].stream, l[i].stream); k++)
                ;
            if (k == s->nseen && s->nseen < S_SEEN_MAX)
                snprintf (s->seen[s->nseen++].stream, sizeof s->seen[0].stream, "%s", l[i].stream);
            if (k < s->nseen) {
                s->seen[k].seq = l[i].seq;
                s->seen[k].ts_ms = l[i].ts_ms;
            }
        }
        if (rc == 0) {
            char *h = s_history (x, NULL, &len); /* sets len: not in the same call */
            rc = s_append (s, h, len);
        }
        if (rc != 0)
            http_error_set (err, 500, "internal", "out of memory");
    }
    else if (rep.hdr.type == API_ERROR && rep.u.api_error.code == API_ERR_NOT_FOUND) {
        /* No node has it (yet): its lines may still come, as shedctl
         * logs --follow waits for them. */
        char *h = s_history (NULL, rep.u.api_error.message, &len);
        rc = s_append (s, h, len);
        if (rc != 0)
            http_error_set (err, 500, "internal", "out of memory");
    }
    else if (rep.hdr.type == API_ERROR) {
        http_error_from_api (rep.u.api_error.code, rep.u.api_error.message, err);
        rc = -1;
    }
    else {
        http_error_set (err, 502, "bad_gateway", "the node answered logs with type %u",
                        rep.hdr.type);
        rc = -1;
    }
    wire_msg_free (&api_proto, &rep);
    return rc;
}

struct MHD_Response *
http_logs_open (http_events_t *events, shed_api_pool_t *api, const volatile int *stopping,
                struct MHD_Connection *conn, const http_match_t *m, const http_arg_t *args,
                size_t nargs, const char *token_id, http_error_t *err)
{
    api_msg_t req;
    if (http_request_decode (m, args, nargs, NULL, 0, &req, err) != 0)
        return NULL;
    if (req.hdr.type != API_LOGS_REQ) {
        wire_msg_free (&api_proto, &req);
        http_error_set (err, 500, "internal", "route %s does not follow",
                        http_route_name (m->route));
        return NULL;
    }
    s_follow_t *s = calloc (1, sizeof *s);
    if (!s) {
        wire_msg_free (&api_proto, &req);
        http_error_set (err, 500, "internal", "out of memory");
        return NULL;
    }
    s->events = events;
    s->stopping = stopping;
    snprintf (s->token_id, sizeof s->token_id, "%s", token_id);
    snprintf (s->shed, sizeof s->shed, "%s", req.u.api_logs_req.shed);
    snprintf (s->stream, sizeof s->stream, "%s", req.u.api_logs_req.stream);
    s->fd = http_sse_fd (conn);
    s->bus = http_events_attach (events, token_id, s->fd, &s->hold, err);
    if (!s->bus)
        goto fail;
    /* Follow first, then read the history: nothing falls between the two.
     * The snapshot round trip makes sure the node has the subscription
     * before the history is asked for. */
    char node[EVENT_NODE_MAX + 1], prefix[EVENT_TOPIC_MAX + 1];
    s_owner (api, stopping, s->shed, node, sizeof node);
    if (node[0])
        snprintf (prefix, sizeof prefix, "log.%s.%s.", node, s->shed);
    else
        snprintf (prefix, sizeof prefix, "log.");
    bus_client_subscribe (s->bus, prefix);
    bus_client_snapshot (s->bus, 3000);
    if (s_load_history (s, api, &req, err) != 0)
        goto fail;
    wire_msg_free (&api_proto, &req);
    s->last_out_ms = zclock_mono ();
    struct MHD_Response *resp =
        sym_MHD_create_response_from_callback (MHD_SIZE_UNKNOWN, 4096, s_reader, s, s_free);
    if (!resp) {
        s_free (s);
        http_error_set (err, 500, "internal", "out of memory");
        return NULL;
    }
    /* Quiet between lines: http.timeout_s must not close it (as for
     * GET /v1/events); a dead client is found by the hang-up poll. */
    http_sse_prepare (conn, resp);
    return resp;
fail:
    wire_msg_free (&api_proto, &req);
    s_free (s);
    return NULL;
}
