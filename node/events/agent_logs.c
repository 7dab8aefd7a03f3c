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
    char *text;  /* owned, tcap bytes; NULL if its copy failed */
    size_t tlen; /* strlen (text) */
    size_t tcap;
} s_line_t;

/* Text buffers are kept in their slot and reused by the next line that
 * fits (a flood adds a line per event on the host's thread: a strdup and
 * a free per line were a tenth of its work). Sizes are rounded up so
 * lines of similar length reuse the same buffer; one much smaller than a
 * slot's buffer gets a new one, so a few long lines do not pin
 * AGENT_LOG_TEXT_MAX in every slot. */
#define S_TEXT_STEP 128
#define S_TEXT_KEEP 512 /* keep a buffer up to this size for any line */

static size_t
s_text_cap (size_t len)
{
    return (len + 1 + S_TEXT_STEP - 1) / S_TEXT_STEP * S_TEXT_STEP;
}

static bool
s_text_fits (const s_line_t *l, size_t len)
{
    return l->text && len < l->tcap && (l->tcap <= S_TEXT_KEEP || l->tcap <= 4 * s_text_cap (len));
}

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

/* Fill the slot at head with `log` and advance. fresh: the slot takes
 * `text` (tcap bytes; NULL if its copy failed) in place of its buffer;
 * else the text is copied into the slot's buffer, which must fit.
 * Returns the buffer the slot let go of, for the caller to free outside
 * the lock. Called with the lock held. */
static char *
s_put (agent_logs_t *self, const agent_log_t *log, size_t len, bool fresh, char *text, size_t tcap)
{
    s_line_t *l = &self->ring[self->head];
    char *old = NULL;
    if (self->n == self->cap)
        self->evicted++;
    else
        self->n++;
    if (fresh) {
        old = l->text;
        l->text = text;
        l->tcap = text ? tcap : 0;
    }
    else {
        memcpy (l->text, log->text, len);
        l->text[len] = '\0';
    }
    l->tlen = l->text ? len : 0;
    s_copy (l->stream, sizeof l->stream, log->stream);
    l->seq = log->seq;
    l->ts_ms = log->ts_ms;
    l->partial = log->partial;
    self->head = (self->head + 1) % self->cap;
    return old;
}

void
agent_logs_add (agent_logs_t *self, const agent_log_t *log)
{
    assert (self);
    if (!self->cap)
        return;
    size_t len = strnlen (log->text, sizeof log->text - 1);
    pthread_mutex_lock (&self->lock);
    if (s_text_fits (&self->ring[self->head], len)) {
        /* The common case: a ~100-byte copy under the lock, no malloc. */
        s_put (self, log, len, false, NULL, 0);
        pthread_mutex_unlock (&self->lock);
        return;
    }
    pthread_mutex_unlock (&self->lock);
    /* A new buffer is made outside the lock: fill never waits on malloc.
     * The slot at head is looked up again under the lock (it is the same
     * one unless another thread added meanwhile: the new buffer fits
     * whichever slot it lands in). */
    size_t tcap = s_text_cap (len);
    char *text = malloc (tcap);
    if (text) {
        memcpy (text, log->text, len);
        text[len] = '\0';
    }
    pthread_mutex_lock (&self->lock);
    char *old = s_put (self, log, len, true, text, tcap);
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
        size_t len = self->ring[i].tlen + 96;
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
