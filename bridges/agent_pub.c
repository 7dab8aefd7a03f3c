/* agent_pub.c - see agent_pub.h. */
#include "bridges/agent_pub.h"

#include "common/log.h"

#include <assert.h>
#include <errno.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#define S_COMP      "agent-host"
#define S_PUB_MAX   256         /* records in one message: BUS_PUBLISH_MANY */
#define S_PUB_BYTES (64u << 10) /* flush earlier when this much is gathered */
#define S_PUB_BUFS                                                                                 \
    8 /* buffers in flight to the bus, handed over without a
                                       copy; the bus gives each back when it is done */
typedef struct {
    uint8_t *data;    /* S_PUB_BYTES */
    atomic_bool busy; /* with the bus (cleared on the bus's thread) */
} s_pubbuf_t;

struct _agent_pub_t {
    zsock_t *push; /* to the bus's publish endpoint */
    size_t record_max;
    s_pubbuf_t bufs[S_PUB_BUFS];
    s_pubbuf_t *slot; /* where buf comes from; NULL: malloc'd */
    uint8_t *buf;     /* being filled, cap bytes */
    size_t cap;
    size_t used;
    agent_host_stats_t *stats[S_PUB_MAX]; /* whose, to count (borrowed until the flush) */
    size_t n;
    /* The last LOG's topic, kept until the flush (a read holds hundreds
     * of LOGs of one stream: the topic is built once, not per event).
     * Keyed by the shed's stats, which outlive the flush (REMOVE flushes
     * first), and the stream name. */
    const agent_host_stats_t *memo_stats;
    char memo_stream[AGENT_STREAM_NAME_MAX + 1];
    char memo_topic[256];
    int memo_len;
};

agent_pub_t *
agent_pub_new (const char *endpoint, size_t record_max)
{
    assert (endpoint);
    agent_pub_t *self = calloc (1, sizeof *self);
    if (!self)
        return NULL;
    self->record_max = record_max;
    self->push = zsock_new (ZMQ_PUSH);
    bool ok = self->push != NULL;
    /* One record may be a whole max frame beyond the flush mark. */
    for (size_t i = 0; i < S_PUB_BUFS; i++) {
        self->bufs[i].data = malloc (S_PUB_BYTES);
        ok = ok && self->bufs[i].data;
        atomic_init (&self->bufs[i].busy, false);
    }
    if (ok) {
        void *h = zsock_resolve (self->push);
        int hwm = 1000, zero = 0;
        zmq_setsockopt (h, ZMQ_SNDHWM, &hwm, sizeof hwm);
        zmq_setsockopt (h, ZMQ_LINGER, &zero, sizeof zero);
        if (zmq_connect (h, endpoint) != 0) {
            log_warn (S_COMP, "cannot connect to the bus|endpoint=%s err=\"%s\"", endpoint,
                      zmq_strerror (errno));
            ok = false;
        }
    }
    if (!ok) {
        zsock_destroy (&self->push);
        for (size_t i = 0; i < S_PUB_BUFS; i++)
            free (self->bufs[i].data);
        free (self);
        return NULL;
    }
    return self;
}

void
agent_pub_destroy (agent_pub_t **self_p)
{
    assert (self_p);
    agent_pub_t *self = *self_p;
    if (!self)
        return;
    agent_pub_flush (self);
    if (self->buf && !self->slot)
        free (self->buf); /* taken, never filled */
    zsock_destroy (&self->push);
    /* Messages still queued toward the bus point into the ring: the bus
     * (or the context, at its end) releases them through s_pubbuf_free,
     * so the ring must outlive them. With linger 0, libzmq's I/O thread
     * drops what the PUSH still queued and calls s_pubbuf_free a moment
     * after the close: wait a little for that, so the ring is freed in the
     * normal case (and a leak checker sees no false leak). Otherwise it is
     * left to the process: a few hundred KiB, once per host object. */
    bool idle = false;
    for (int tries = 0; tries < 100 && !idle; tries++) {
        idle = true;
        for (size_t i = 0; i < S_PUB_BUFS; i++)
            idle = idle && !atomic_load_explicit (&self->bufs[i].busy, memory_order_acquire);
        if (!idle)
            zclock_sleep (2);
    }
    if (idle) {
        for (size_t i = 0; i < S_PUB_BUFS; i++)
            free (self->bufs[i].data);
        free (self);
    }
    *self_p = NULL;
}

/* ZeroMQ's free function: the bus is done with a buffer. */
static void
s_pubbuf_free (void *data, void *hint)
{
    if (hint)
        atomic_store_explicit (&((s_pubbuf_t *) hint)->busy, false, memory_order_release);
    else
        free (data);
}

/* A buffer to fill, of at least `need` bytes: a free one of the ring, else
 * (the bus holds them all, or a record is bigger) one of its own. */
static bool
s_take (agent_pub_t *self, size_t need)
{
    self->used = 0;
    self->slot = NULL;
    if (need <= S_PUB_BYTES)
        for (size_t i = 0; i < S_PUB_BUFS; i++)
            if (!atomic_load_explicit (&self->bufs[i].busy, memory_order_acquire)) {
                self->slot = &self->bufs[i];
                self->buf = self->slot->data;
                self->cap = S_PUB_BYTES;
                return true;
            }
    self->cap = need > S_PUB_BYTES ? need : S_PUB_BYTES;
    self->buf = malloc (self->cap);
    return self->buf != NULL;
}

void
agent_pub_flush (agent_pub_t *self)
{
    if (!self || self->n == 0)
        return;
    /* Handed over, not copied: ZeroMQ calls s_pubbuf_free when the bus
     * has read it (or at once if the send fails). */
    zmq_msg_t msg;
    if (self->slot)
        atomic_store_explicit (&self->slot->busy, true, memory_order_relaxed);
    zmq_msg_init_data (&msg, self->buf, self->used, s_pubbuf_free, self->slot);
    bool ok = zmq_msg_send (&msg, zsock_resolve (self->push), ZMQ_DONTWAIT) >= 0;
    if (!ok)
        zmq_msg_close (&msg);
    for (size_t i = 0; i < self->n; i++) {
        if (ok)
            self->stats[i]->published++;
        else
            self->stats[i]->bus_dropped++;
    }
    self->n = 0;
    self->buf = NULL;
    self->used = 0;
    self->memo_stats = NULL;
}

void
agent_pub_add (agent_pub_t *self, agent_host_stats_t *stats, const agent_event_t *ev,
               const uint8_t *payload, size_t len)
{
    assert (self);
    char built[256];
    const char *topic = built;
    int tl;
    bool log = ev->kind == AGENT_EVENT_MESSAGE && ev->msg.hdr.type == AGENT_LOG;
    if (log && self->memo_stats == stats
        && !strcmp (self->memo_stream, ev->msg.u.agent_log.stream)) {
        topic = self->memo_topic;
        tl = self->memo_len;
    }
    else {
        tl = agent_event_topic (ev, built, sizeof built);
        if (log && tl >= 0 && strlen (ev->msg.u.agent_log.stream) < sizeof self->memo_stream) {
            self->memo_stats = stats;
            strcpy (self->memo_stream, ev->msg.u.agent_log.stream);
            memcpy (self->memo_topic, built, (size_t) tl + 1);
            self->memo_len = tl;
        }
    }
    uint8_t *owned = NULL;
    if (tl >= 0 && !payload) {
        agent_msg_t close_msg;
        const agent_msg_t *m = &ev->msg;
        if (ev->kind == AGENT_EVENT_DISCONNECTED) {
            agent_event_close_msg (ev, &close_msg);
            m = &close_msg;
        }
        if (wire_encode (&agent_proto, m, &owned, &len) != WIRE_OK)
            tl = -1;
        payload = owned;
    }
    const char *kind = agent_event_kind (ev);
    size_t kl = strlen (kind), need = (size_t) tl + 1 + kl + 1 + 4 + len;
    if (tl < 0 || need > self->record_max) {
        stats->bus_dropped++;
        free (owned);
        return;
    }
    if (self->n == S_PUB_MAX || (self->n && self->used + need > self->cap))
        agent_pub_flush (self);
    if (!self->buf && !s_take (self, need)) {
        stats->bus_dropped++;
        free (owned);
        return;
    }
    uint8_t *w = self->buf + self->used;
    memcpy (w, topic, (size_t) tl + 1);
    w += tl + 1;
    memcpy (w, kind, kl + 1);
    w += kl + 1;
    w[0] = (uint8_t) (len >> 24);
    w[1] = (uint8_t) (len >> 16);
    w[2] = (uint8_t) (len >> 8);
    w[3] = (uint8_t) len;
    if (len)
        memcpy (w + 4, payload, len);
    self->used += need;
    self->stats[self->n++] = stats;
    free (owned);
}
