/* agent_streams.c - see agent_streams.h. */
#include "agent/proto/agent_streams.h"

#include <assert.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    bool used;
    uint64_t id;
    uint8_t type;
    size_t total; /* declared by the first chunk */
    size_t have;
    uint8_t *buf;
    size_t cap;
} s_stream_t;

struct _agent_streams_t {
    size_t stream_max, total_max, open_max;
    size_t bytes; /* sum of cap over open streams */
    size_t open;
    s_stream_t *slots; /* open_max of them */
};

agent_streams_t *
agent_streams_new (size_t stream_max, size_t total_max, size_t open_max)
{
    agent_streams_t *self = calloc (1, sizeof *self);
    if (!self)
        return NULL;
    self->stream_max = stream_max;
    self->total_max = total_max;
    self->open_max = open_max ? open_max : 1;
    self->slots = calloc (self->open_max, sizeof *self->slots);
    if (!self->slots) {
        free (self);
        return NULL;
    }
    return self;
}

static void
s_stream_drop (agent_streams_t *self, s_stream_t *s)
{
    self->bytes -= s->cap;
    self->open--;
    free (s->buf);
    memset (s, 0, sizeof *s);
}

void
agent_streams_destroy (agent_streams_t **self_p)
{
    assert (self_p);
    agent_streams_t *self = *self_p;
    if (self) {
        for (size_t i = 0; i < self->open_max; i++)
            if (self->slots[i].used)
                s_stream_drop (self, &self->slots[i]);
        free (self->slots);
        free (self);
        *self_p = NULL;
    }
}

int
agent_streams_add (agent_streams_t *self, const agent_chunk_t *chunk, uint8_t *type,
                   uint8_t **payload, size_t *len)
{
    assert (self);
    assert (chunk);
    s_stream_t *s = NULL, *free_slot = NULL;
    for (size_t i = 0; i < self->open_max; i++) {
        if (self->slots[i].used && self->slots[i].id == chunk->stream)
            s = &self->slots[i];
        else if (!self->slots[i].used && !free_slot)
            free_slot = &self->slots[i];
    }
    if (!s) {
        if (chunk->offset != 0)
            return AGENT_STREAM_ERR_ORDER;
        if (chunk->total > self->stream_max)
            return AGENT_STREAM_ERR_TOO_BIG;
        if (!free_slot)
            return AGENT_STREAM_ERR_LIMIT;
        s = free_slot;
        s->used = true;
        s->id = chunk->stream;
        s->type = (uint8_t) chunk->type;
        s->total = (size_t) chunk->total;
        self->open++;
    }
    else if (chunk->type != s->type || chunk->total != s->total) {
        s_stream_drop (self, s);
        return AGENT_STREAM_ERR_MISMATCH;
    }
    if (chunk->offset != s->have || chunk->data.len > s->total - s->have) {
        s_stream_drop (self, s);
        return AGENT_STREAM_ERR_ORDER;
    }
    size_t need = s->have + chunk->data.len;
    if (need > s->cap) {
        /* Grow with the data that actually arrived, never by the declared
         * total: a peer that announces 16 MiB and sends 1 byte holds 1 KiB.
         * Doubling keeps the copies linear. */
        size_t cap = s->cap ? s->cap : 1024;
        while (cap < need)
            cap *= 2;
        if (cap > s->total)
            cap = s->total;
        if (self->bytes - s->cap + cap > self->total_max) {
            s_stream_drop (self, s);
            return AGENT_STREAM_ERR_LIMIT;
        }
        uint8_t *grown = realloc (s->buf, cap);
        if (!grown) {
            s_stream_drop (self, s);
            return AGENT_STREAM_ERR_NOMEM;
        }
        self->bytes += cap - s->cap;
        s->buf = grown;
        s->cap = cap;
    }
    if (chunk->data.len)
        memcpy (s->buf + s->have, chunk->data.data, chunk->data.len);
    s->have = need;
    if (!chunk->final) {
        if (s->have == s->total) {
            s_stream_drop (self, s);
            return AGENT_STREAM_ERR_ORDER; /* full but not final */
        }
        return AGENT_STREAM_PARTIAL;
    }
    if (s->have != s->total) {
        s_stream_drop (self, s);
        return AGENT_STREAM_ERR_ORDER;
    }
    *type = s->type;
    *payload = s->buf;
    *len = s->have;
    s->buf = NULL; /* handed over; drop frees nothing more */
    self->bytes -= s->cap;
    s->cap = 0;
    s_stream_drop (self, s);
    return AGENT_STREAM_COMPLETE;
}

size_t
agent_streams_bytes (agent_streams_t *self)
{
    assert (self);
    return self->bytes;
}

size_t
agent_streams_open (agent_streams_t *self)
{
    assert (self);
    return self->open;
}
