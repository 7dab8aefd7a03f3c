/* agent_outq.c - see agent_outq.h. */
#include "agent/proto/agent_outq.h"

#include <assert.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>

/* Room beyond max_frames for push_front (hello, drop notice). */
#define S_FRONT_RESERVE 8
/* Frames handed to one sendmsg. */
#define S_IOV_MAX       64

typedef struct {
    uint8_t *data;
    size_t len;
} s_item_t;

struct _agent_outq_t {
    size_t max_frames, max_bytes;
    bool drop_oldest;
    s_item_t *ring;
    size_t cap; /* ring slots */
    size_t head, count;
    size_t bytes;
    size_t sent;      /* bytes of the head frame already written */
    size_t front;     /* frames at the head that may not be dropped */
    uint64_t dropped; /* since the last take */
    uint64_t dropped_total;
};

agent_outq_t *
agent_outq_new (size_t max_frames, size_t max_bytes, bool drop_oldest)
{
    agent_outq_t *self = calloc (1, sizeof *self);
    if (!self)
        return NULL;
    self->max_frames = max_frames ? max_frames : 1;
    self->max_bytes = max_bytes;
    self->drop_oldest = drop_oldest;
    self->cap = self->max_frames + S_FRONT_RESERVE;
    self->ring = calloc (self->cap, sizeof *self->ring);
    if (!self->ring) {
        free (self);
        return NULL;
    }
    return self;
}

void
agent_outq_clear (agent_outq_t *self)
{
    assert (self);
    while (self->count) {
        free (self->ring[self->head].data);
        self->ring[self->head].data = NULL;
        self->head = (self->head + 1) % self->cap;
        self->count--;
    }
    self->bytes = 0;
    self->sent = 0;
    self->front = 0;
}

void
agent_outq_destroy (agent_outq_t **self_p)
{
    assert (self_p);
    if (*self_p) {
        agent_outq_clear (*self_p);
        free ((*self_p)->ring);
        free (*self_p);
        *self_p = NULL;
    }
}

static bool
s_full (agent_outq_t *self, size_t len)
{
    return self->count >= self->max_frames || self->bytes + len > self->max_bytes;
}

/* Drop the oldest frame that is neither pinned (pushed to the front: a
 * hello or a drop notice must survive the very pressure it reports) nor
 * half-written. */
static bool
s_drop_one (agent_outq_t *self)
{
    size_t skip = self->front;
    if (self->sent && skip == 0)
        skip = 1;
    if (self->count <= skip)
        return false;
    size_t idx = (self->head + skip) % self->cap;
    free (self->ring[idx].data);
    self->bytes -= self->ring[idx].len;
    /* Close the gap: shift the kept frames forward by one slot. */
    for (size_t j = skip; j > 0; j--)
        self->ring[(self->head + j) % self->cap] = self->ring[(self->head + j - 1) % self->cap];
    self->ring[self->head].data = NULL;
    self->head = (self->head + 1) % self->cap;
    self->count--;
    self->dropped++;
    self->dropped_total++;
    return true;
}

int
agent_outq_push (agent_outq_t *self, uint8_t *frame, size_t len)
{
    assert (self);
    if (len > self->max_bytes) {
        free (frame);
        self->dropped++;
        self->dropped_total++;
        return -1;
    }
    while (s_full (self, len)) {
        if (!self->drop_oldest || !s_drop_one (self)) {
            free (frame);
            return -1;
        }
    }
    size_t tail = (self->head + self->count) % self->cap;
    self->ring[tail].data = frame;
    self->ring[tail].len = len;
    self->count++;
    self->bytes += len;
    return 0;
}

int
agent_outq_push_front (agent_outq_t *self, uint8_t *frame, size_t len)
{
    assert (self);
    if (self->count >= self->cap) {
        free (frame);
        return -1;
    }
    size_t at = (self->head + self->cap - 1) % self->cap;
    if (self->sent) {
        /* Keep the half-written frame first: it goes just behind it. */
        self->ring[at] = self->ring[self->head];
        self->head = at;
        size_t second = (self->head + 1) % self->cap;
        self->ring[second].data = frame;
        self->ring[second].len = len;
    }
    else {
        self->head = at;
        self->ring[at].data = frame;
        self->ring[at].len = len;
    }
    self->count++;
    self->bytes += len;
    self->front++;
    return 0;
}

int
agent_outq_flush (agent_outq_t *self, int fd, size_t budget_frames)
{
    assert (self);
    int done = 0;
    while (self->count && budget_frames > 0) {
        struct iovec iov[S_IOV_MAX];
        size_t n = 0;
        for (; n < self->count && n < S_IOV_MAX && n < budget_frames; n++) {
            s_item_t *it = &self->ring[(self->head + n) % self->cap];
            size_t skip = n == 0 ? self->sent : 0;
            iov[n].iov_base = it->data + skip;
            iov[n].iov_len = it->len - skip;
        }
        struct msghdr mh;
        memset (&mh, 0, sizeof mh);
        mh.msg_iov = iov;
        mh.msg_iovlen = n;
        ssize_t w = sendmsg (fd, &mh, MSG_DONTWAIT | MSG_NOSIGNAL);
        if (w < 0) {
            if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)
                return done;
            return -1;
        }
        size_t left = (size_t) w;
        while (left > 0) {
            s_item_t *it = &self->ring[self->head];
            size_t rest = it->len - self->sent;
            if (left < rest) {
                self->sent += left;
                left = 0;
                break;
            }
            left -= rest;
            free (it->data);
            it->data = NULL;
            self->bytes -= it->len;
            self->head = (self->head + 1) % self->cap;
            self->count--;
            self->sent = 0;
            if (self->front)
                self->front--;
            done++;
            budget_frames--;
        }
        if (self->sent)
            return done; /* the socket is full */
    }
    return done;
}

void
agent_outq_rewind (agent_outq_t *self)
{
    assert (self);
    self->sent = 0;
}

size_t
agent_outq_frames (agent_outq_t *self)
{
    assert (self);
    return self->count;
}

size_t
agent_outq_bytes (agent_outq_t *self)
{
    assert (self);
    return self->bytes;
}

uint64_t
agent_outq_take_dropped (agent_outq_t *self)
{
    assert (self);
    uint64_t n = self->dropped;
    self->dropped = 0;
    return n;
}

uint64_t
agent_outq_dropped_total (agent_outq_t *self)
{
    assert (self);
    return self->dropped_total;
}
