/* agent_reader.c - see agent_reader.h. */
#include "agent/proto/agent_reader.h"

#include "agent/proto/agent_proto.h"

#include <assert.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

/* Payload buffers larger than this are released after their frame so one
 * big frame does not pin memory for the life of the connection. */
#define S_KEEP_BUF (64u << 10)

struct _agent_reader_t {
    uint32_t max_frame;
    uint8_t header[AGENT_FRAME_HEADER];
    size_t have_header; /* header bytes so far */
    uint32_t want;      /* payload length from the header */
    size_t have;        /* payload bytes so far */
    uint8_t *buf;       /* payload storage */
    size_t cap;
    bool complete; /* the last feed completed a frame */
    int error;     /* sticky */
};

agent_reader_t *
agent_reader_new (uint32_t max_frame)
{
    agent_reader_t *self = calloc (1, sizeof *self);
    if (self)
        self->max_frame = max_frame;
    return self;
}

void
agent_reader_destroy (agent_reader_t **self_p)
{
    assert (self_p);
    if (*self_p) {
        free ((*self_p)->buf);
        free (*self_p);
        *self_p = NULL;
    }
}

int
agent_reader_feed (agent_reader_t *self, const uint8_t *data, size_t len, size_t *used)
{
    assert (self);
    assert (used);
    *used = 0;
    if (self->error)
        return self->error;
    if (self->complete) {
        /* The previous frame was taken: start the next one. */
        self->complete = false;
        self->have_header = 0;
        self->have = 0;
        if (self->cap > S_KEEP_BUF) {
            free (self->buf);
            self->buf = NULL;
            self->cap = 0;
        }
    }
    size_t pos = 0;
    while (self->have_header < AGENT_FRAME_HEADER) {
        if (pos == len) {
            *used = pos;
            return AGENT_READ_MORE;
        }
        self->header[self->have_header++] = data[pos++];
        /* Check the type with the first byte, before waiting for more. */
        if (self->have_header == 1 && agent_msg_direction (self->header[0]) == 0) {
            *used = pos;
            return self->error = AGENT_READ_ERR_TYPE;
        }
    }
    uint32_t want = (uint32_t) self->header[1] << 24 | (uint32_t) self->header[2] << 16
                    | (uint32_t) self->header[3] << 8 | self->header[4];
    if (want > self->max_frame) {
        *used = pos;
        return self->error = AGENT_READ_ERR_OVERSIZE;
    }
    self->want = want;
    if (self->cap < want) {
        /* Sized by the declared length, which was just bounded. */
        uint8_t *grown = realloc (self->buf, want);
        if (!grown) {
            *used = pos;
            return self->error = AGENT_READ_ERR_NOMEM;
        }
        self->buf = grown;
        self->cap = want;
    }
    size_t n = len - pos;
    if (n > want - self->have)
        n = want - self->have;
    if (n)
        memcpy (self->buf + self->have, data + pos, n);
    self->have += n;
    pos += n;
    *used = pos;
    if (self->have < want)
        return AGENT_READ_MORE;
    self->complete = true;
    return AGENT_READ_FRAME;
}

uint8_t
agent_reader_type (agent_reader_t *self)
{
    assert (self);
    return self->complete ? self->header[0] : 0;
}

const uint8_t *
agent_reader_payload (agent_reader_t *self, size_t *len)
{
    assert (self);
    *len = self->complete ? self->want : 0;
    return self->complete ? self->buf : NULL;
}

size_t
agent_reader_pending (agent_reader_t *self)
{
    assert (self);
    return self->complete ? 0 : self->have_header + self->have;
}
