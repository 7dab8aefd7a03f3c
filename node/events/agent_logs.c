/* agent_logs.c - see agent_logs.h. */
#include "node/events/agent_logs.h"

#include <assert.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

/* One log line kept for `shedctl logs`. */
typedef struct {
    char stream[AGENT_STREAM_NAME_MAX + 1];
    uint64_t seq;
    uint64_t ts_ms;
    bool partial;
    char *text; /* owned */
} s_line_t;

struct _agent_logs_t {
    pthread_mutex_t lock; /* add (agent host's thread) against fill (node's) */
    s_line_t *ring;       /* cap entries */
    size_t cap, head, n;  /* next slot to write, lines held */
    uint64_t evicted;     /* lines pushed out of the ring */
};

/* Copy a string into a fixed field, cutting it if it must (names are
 * validated elsewhere; this only keeps the compiler's truncation checks
 * meaningful). */
static void
s_copy (char *dst, size_t cap, const char *src)
{
    size_t n = strnlen (src, cap - 1);
    memcpy (dst, src, n);
    dst[n] = '\0';
}

agent_logs_t *
agent_logs_new (size_t cap)
{
    agent_logs_t *self = calloc (1, sizeof *self);
    if (!self)
        return NULL;
    pthread_mutex_init (&self->lock, NULL);
    self->cap = cap;
    self->ring = cap ? calloc (cap, sizeof *self->ring) : NULL;
    if (cap && !self->ring) {
        free (self);
        return NULL;
    }
    return self;
}

void
agent_logs_destroy (agent_logs_t **self_p)
{
    assert (self_p);
    agent_logs_t *self = *self_p;
    if (self) {
        for (size_t i = 0; self->ring && i < self->cap; i++)
            free (self->ring[i].text);
        free (self->ring);
        pthread_mutex_destroy (&self->lock);
        free (self);
        *self_p = NULL;
    }
}

void
agent_logs_add (agent_logs_t *self, const agent_log_t *log)
{
    assert (self);
    if (!self->cap)
        return;
    /* The copy is made outside the lock: fill never waits on malloc. */
    char *text = strdup (log->text);
    char *old = NULL;
    pthread_mutex_lock (&self->lock);
    s_line_t *l = &self->ring[self->head];
    if (self->n == self->cap) {
        self->evicted++;
        old = l->text;
    }
    else
        self->n++;
    s_copy (l->stream, sizeof l->stream, log->stream);
    l->seq = log->seq;
    l->ts_ms = log->ts_ms;
    l->partial = log->partial;
    l->text = text;
    self->head = (self->head + 1) % self->cap;
    pthread_mutex_unlock (&self->lock);
    free (old);
}

void
agent_logs_fill (agent_logs_t *self, const char *node, const api_logs_req_t *r, size_t max,
                 api_msg_t *rep, api_logline_t **lines_out)
{
    assert (self);
    /* Walk newest to oldest to honour tail and the size bound, then
     * reverse into oldest-first order. A line whose copy failed (NULL
     * text) is left out. */
    pthread_mutex_lock (&self->lock);
    size_t want = r->tail ? r->tail : self->n, take = 0, bytes = 0;
    size_t *idx = self->n ? calloc (self->n, sizeof *idx) : NULL;
    bool truncated = false;
    for (size_t k = 0; idx && k < self->n && take < want; k++) {
        size_t i = (self->head + self->cap - 1 - k) % self->cap;
        if (!self->ring[i].text || (r->stream[0] && strcmp (self->ring[i].stream, r->stream)))
            continue;
        size_t len = strlen (self->ring[i].text) + 96;
        if (bytes + len > max) {
            truncated = true;
            break;
        }
        bytes += len;
        idx[take++] = i;
    }
    api_logline_t *lines = take ? calloc (take, sizeof *lines) : NULL;
    for (size_t k = 0; lines && k < take; k++) {
        const s_line_t *l = &self->ring[idx[take - 1 - k]];
        api_logline_t *x = &lines[k];
        s_copy (x->stream, sizeof x->stream, l->stream);
        x->seq = l->seq;
        x->ts_ms = l->ts_ms;
        x->partial = l->partial;
        s_copy (x->text, sizeof x->text, l->text);
    }
    uint64_t evicted = self->evicted;
    pthread_mutex_unlock (&self->lock);
    memset (rep, 0, sizeof *rep);
    rep->hdr.type = API_LOGS_REP;
    api_logs_rep_t *out = &rep->u.api_logs_rep;
    s_copy (out->node, sizeof out->node, node);
    out->lines.n = lines ? take : 0;
    out->lines.items = lines;
    out->evicted = evicted;
    out->truncated = truncated;
    *lines_out = lines;
    free (idx);
}
