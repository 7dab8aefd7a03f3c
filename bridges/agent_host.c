/*
 * agent_host.c - host side of the agent channel (see agent_host.h).
 *
 * Layout, top to bottom:
 *   1. events and topics (owner-visible helpers)
 *   2. per-shed state: listener, connection, counters, latest metrics
 *   3. frame handling: the validation pipeline and dispatch
 *   4. the actor: one zmq_poll over the command pipe, the event outbox and
 *      every listener/connection fd; a 250 ms tick for timeouts/heartbeats
 *   5. the owner API: commands down the pipe, events from the outbox
 */
#include "bridges/agent_host.h"

#include "agent/proto/agent_proto.h"
#include "agent/proto/agent_reader.h"
#include "agent/proto/agent_streams.h"
#include "agent/proto/agent_outq.h"
#include "agent/proto/agent_bucket.h"
#include "common/log.h"

#include <assert.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#define S_COMP "agent-host"
#define S_TICK_MS 250
#define S_STRIKE_WINDOW_MS 60000

/* ------------------------------------------------------------------------ */
/*  1. Events and topics                                                    */
/* ------------------------------------------------------------------------ */

/* Events are 4+ KiB (the message union) and cross threads: made on the
 * host's, freed on the owner's. glibc serves neither size nor pattern from
 * its per-thread caches, so freed events wait here to be made again (a
 * small process-wide stack; beyond it they are freed). */
#define S_POOL_MAX  1024            /* process-wide */
#define S_CACHE_MAX 64              /* per thread, moved to/from the pool in halves */
static pthread_mutex_t s_pool_lock = PTHREAD_MUTEX_INITIALIZER;
static agent_event_t *s_pool[S_POOL_MAX];
static size_t s_pool_n;
/* Each thread keeps a few at hand, so the lock is taken once per
 * S_CACHE_MAX / 2 events, not per event (the host makes, the owner frees). */
static __thread agent_event_t *s_cache[S_CACHE_MAX];
static __thread size_t s_cache_n;

static agent_event_t *
s_event_alloc (void)
{
    if (s_cache_n == 0) {
        pthread_mutex_lock (&s_pool_lock);
        while (s_pool_n && s_cache_n < S_CACHE_MAX / 2)
            s_cache[s_cache_n++] = s_pool[--s_pool_n];
        pthread_mutex_unlock (&s_pool_lock);
    }
    if (s_cache_n)
        return s_cache[--s_cache_n];
    return malloc (sizeof (agent_event_t));
}

static void
s_event_release_global (agent_event_t *ev)
{
    pthread_mutex_lock (&s_pool_lock);
    if (s_pool_n < S_POOL_MAX) {
        s_pool[s_pool_n++] = ev;
        ev = NULL;
    }
    pthread_mutex_unlock (&s_pool_lock);
    free (ev);
}

static void
s_event_release (agent_event_t *ev)
{
    if (s_cache_n == S_CACHE_MAX) {
        pthread_mutex_lock (&s_pool_lock);
        while (s_cache_n > S_CACHE_MAX / 2 && s_pool_n < S_POOL_MAX)
            s_pool[s_pool_n++] = s_cache[--s_cache_n];
        pthread_mutex_unlock (&s_pool_lock);
        /* The pool is full: the rest of the thread's surplus goes back. */
        while (s_cache_n > S_CACHE_MAX / 2)
            free (s_cache[--s_cache_n]);
    }
    s_cache[s_cache_n++] = ev;
}

/* A thread that ends gives back what it holds. */
static void
s_cache_drain (void)
{
    while (s_cache_n)
        s_event_release_global (s_cache[--s_cache_n]);
}

/* Does a message of this type own memory (blob, tags or list fields)? Most
 * agent messages (LOG, PROC_EVENT...) are flat: freeing one is nothing, and
 * the 4 KiB wipe wire_msg_free does can be skipped (a decode into the
 * pooled event wipes it anyway). */
static bool
s_owns_memory (uint16_t type)
{
    const wire_desc_t *desc = wire_proto_find (&agent_proto, type);
    if (!desc)
        return false;
    for (size_t i = 0; i < desc->nfields; i++)
        if (desc->fields[i].kind == WIRE_BLOB || desc->fields[i].kind == WIRE_TAGS
        ||  desc->fields[i].kind == WIRE_LIST)
            return true;
    return false;
}

void
agent_event_destroy (agent_event_t **self_p)
{
    assert (self_p);
    if (*self_p) {
        agent_event_t *ev = *self_p;
        if (s_owns_memory (ev->msg.hdr.type))
            wire_msg_free (&agent_proto, &ev->msg);
        ev->msg.hdr.type = 0;
        s_event_release (ev);
        *self_p = NULL;
    }
}

/* buf[*pos..] += s; false if it does not fit (with the final NUL). */
static bool
s_topic_put (char *buf, size_t size, size_t *pos, const char *s)
{
    size_t n = strlen (s);
    if (*pos + n + 1 > size)
        return false;
    memcpy (buf + *pos, s, n);
    *pos += n;
    buf[*pos] = 0;
    return true;
}

int
agent_event_topic (const agent_event_t *ev, char *buf, size_t size)
{
    assert (ev);
    /* Built by hand, not snprintf: this runs for every event. */
    const char *head = "shed.", *tail = NULL;
    if (ev->kind == AGENT_EVENT_MESSAGE) {
        switch (ev->msg.hdr.type) {
            case AGENT_METRICS:     head = "metrics."; break;
            case AGENT_PROC_EVENT:  head = "proc."; break;
            case AGENT_LOG:         head = "log."; tail = ev->msg.u.agent_log.stream; break;
            case AGENT_SERVICE_REGISTER:
                head = "service.";
                tail = ev->msg.u.agent_service_register.name;
                break;
            case AGENT_SERVICE_DEREGISTER:
                head = "service.";
                tail = ev->msg.u.agent_service_deregister.name;
                break;
            case AGENT_SERVICE_HEALTH:
                head = "service.";
                tail = ev->msg.u.agent_service_health.name;
                break;
            case AGENT_PROVISION_OUTPUT:
            case AGENT_PROVISION_DONE:
                head = "provision.";
                break;
            default:
                break;
        }
    }
    size_t pos = 0;
    if (size == 0)
        return -1;
    buf[0] = 0;
    if (!s_topic_put (buf, size, &pos, head) || !s_topic_put (buf, size, &pos, ev->node)
    ||  !s_topic_put (buf, size, &pos, ".") || !s_topic_put (buf, size, &pos, ev->shed)
    ||  (tail && (!s_topic_put (buf, size, &pos, ".") || !s_topic_put (buf, size, &pos, tail))))
        return -1;
    return (int) pos;
}

const char *
agent_event_kind (const agent_event_t *ev)
{
    if (ev->kind == AGENT_EVENT_CONNECTED)
        return "agent.hello";
    if (ev->kind == AGENT_EVENT_DISCONNECTED)
        return "agent.disconnected";
    switch (ev->msg.hdr.type) {
        case AGENT_METRICS:              return "agent.metrics";
        case AGENT_PROC_EVENT:           return "agent.proc";
        case AGENT_LOG:                  return "agent.log";
        case AGENT_SERVICE_REGISTER:     return "agent.service_register";
        case AGENT_SERVICE_DEREGISTER:   return "agent.service_deregister";
        case AGENT_SERVICE_HEALTH:       return "agent.service_health";
        case AGENT_PROVISION_OUTPUT:     return "agent.provision_output";
        case AGENT_PROVISION_DONE:       return "agent.provision_done";
        case AGENT_DROPPED:              return "agent.dropped";
        default:                         return "agent.other";
    }
}

void
agent_event_close_msg (const agent_event_t *ev, agent_msg_t *out)
{
    memset (out, 0, sizeof *out);
    out->hdr.type = AGENT_CLOSE;
    const char *r = ev->reason;
    out->u.agent_close.code = !strncmp (r, "abuse", 5)     ? AGENT_CLOSE_ABUSE
                            : !strcmp (r, "replaced")      ? AGENT_CLOSE_REPLACED
                            : !strcmp (r, "timeout") || !strcmp (r, "no hello")
                                                           ? AGENT_CLOSE_TIMEOUT
                                                           : AGENT_CLOSE_SHUTDOWN;
    snprintf (out->u.agent_close.reason, sizeof out->u.agent_close.reason, "%s", r);
}

static const char *s_bad_names[AGENT_BAD_MAX] = {
    "type", "oversize", "direction", "rate", "decode", "state", "stream",
    "reconnect", "service_cap", "stream_cap", "service_id", "catalog",
};

const char *
agent_bad_name (agent_bad_t why)
{
    return (unsigned) why < AGENT_BAD_MAX ? s_bad_names[why] : "unknown";
}

/* ------------------------------------------------------------------------ */
/*  2. Per-shed state                                                       */
/* ------------------------------------------------------------------------ */

typedef struct {
    char name[AGENT_NAME_MAX + 1];
    char path[sizeof ((struct sockaddr_un *) 0)->sun_path];
    int listen_fd;
    int fd;                         /* the agent's connection, or -1 */
    bool hello;                     /* HELLO received on this connection */
    bool closing;                   /* close once the outbound queue drains */
    int64_t connected_ms;           /* monotonic */
    int64_t last_rx_ms, last_tx_ms;
    int64_t cooldown_until_ms;      /* refuse connections until then */
    /* The shed's, not a connection's: a close-and-reconnect must not buy a
     * fresh budget (docs/agent.md, section 5). Set up once in s_shed_add. */
    int64_t strike_window_ms;       /* start of the current strike window */
    uint32_t strikes;
    agent_bucket_t msgs, bytes;
    agent_bucket_t accepts;         /* connections per second */
    zhashx_t *services;             /* service names registered (value unused) */
    zhashx_t *streams_seen;         /* log stream names used (value unused) */
    agent_reader_t *reader;
    agent_streams_t *streams;
    agent_outq_t *outq;
    uint64_t next_stream;           /* host -> agent chunk stream ids */
    agent_host_stats_t stats;
    uint8_t *metrics;               /* payload of the latest METRICS */
    size_t metrics_len;
    int64_t metrics_ts_ms;
} s_shed_t;

/* Events on their way to the bus, sent as one message per loop turn:
 * records `topic NUL kind NUL len:u32be payload` (bus.h). */
#define S_PUB_MAX   256             /* BUS_PUBLISH_MANY */
#define S_PUB_BYTES (64u << 10)     /* flush earlier when this much is gathered */
#define S_PUB_BUFS  8               /* buffers in flight to the bus, handed over without a
                                       copy; the bus gives each back when it is done */
typedef struct {
    uint8_t *data;                  /* S_PUB_BYTES */
    atomic_bool busy;               /* with the bus (cleared on the bus's thread) */
} s_pubbuf_t;

typedef struct {
    s_pubbuf_t bufs[S_PUB_BUFS];
    s_pubbuf_t *slot;               /* where buf comes from; NULL: malloc'd */
    uint8_t *buf;                   /* being filled, cap bytes */
    size_t cap;
    size_t used;
    s_shed_t *sheds[S_PUB_MAX];     /* whose, to count (flushed before a shed goes) */
    size_t n;
} s_pub_t;

typedef struct {
    zsock_t *pipe;                  /* commands from the owner */
    zsock_t *outbox;                /* events to the owner */
    zsock_t *push;                  /* to the bus (publish_endpoint), or NULL */
    s_pub_t *pub;
    agent_event_t *spare;           /* frames decode into its msg: no copy when kept */
    int64_t now_wall_ms;            /* wall clock of the current read */
    agent_host_config_t cfg;
    char node[AGENT_NAME_MAX + 1];
    zlist_t *sheds;                 /* s_shed_t */
    agent_event_t **pending;        /* ring of events not yet in the outbox */
    size_t pend_head, pend_n, pend_cap;
    bool terminated;
    int64_t next_tick_ms;
    uint8_t *rbuf;                  /* AGENT_HOST_READ_BUDGET bytes */
} s_self_t;

static void
s_conn_reset (s_shed_t *shed)
{
    if (shed->fd >= 0)
        close (shed->fd);
    shed->fd = -1;
    shed->hello = false;
    shed->closing = false;
    agent_reader_destroy (&shed->reader);
    agent_streams_destroy (&shed->streams);
    if (shed->outq)
        agent_outq_clear (shed->outq);
    shed->stats.connected = false;
}

static void
s_shed_destroy (s_shed_t **shed_p)
{
    s_shed_t *shed = *shed_p;
    if (!shed)
        return;
    s_conn_reset (shed);
    if (shed->listen_fd >= 0) {
        close (shed->listen_fd);
        unlink (shed->path);
    }
    agent_outq_destroy (&shed->outq);
    zhashx_destroy (&shed->services);
    zhashx_destroy (&shed->streams_seen);
    free (shed->metrics);
    free (shed);
    *shed_p = NULL;
}

static s_shed_t *
s_shed_find (s_self_t *self, const char *name)
{
    for (s_shed_t *s = zlist_first (self->sheds); s; s = zlist_next (self->sheds))
        if (strcmp (s->name, name) == 0)
            return s;
    return NULL;
}

/* Shed's name rule: ^[a-z][a-z0-9-]*[a-z0-9]$|^[a-z]$, at most 63. */
static bool
s_shed_name_ok (const char *name)
{
    size_t n = strnlen (name, AGENT_NAME_MAX + 1);
    if (n == 0 || n > AGENT_NAME_MAX || name[0] < 'a' || name[0] > 'z' || name[n - 1] == '-')
        return false;
    for (size_t i = 0; i < n; i++) {
        char c = name[i];
        if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-'))
            return false;
    }
    return true;
}

static int
s_shed_add (s_self_t *self, const char *name, const char *path)
{
    if (!s_shed_name_ok (name) || s_shed_find (self, name)
    ||  zlist_size (self->sheds) >= AGENT_HOST_SHEDS_MAX)
        return -1;
    s_shed_t *shed = calloc (1, sizeof *shed);
    if (!shed)
        return -1;
    shed->listen_fd = -1;
    shed->fd = -1;
    snprintf (shed->name, sizeof shed->name, "%s", name);
    if (strlen (path) >= sizeof shed->path) {
        free (shed);
        return -1;
    }
    snprintf (shed->path, sizeof shed->path, "%s", path);
    shed->outq = agent_outq_new (65536, self->cfg.out_queue_bytes, false);
    shed->services = zhashx_new ();
    shed->streams_seen = zhashx_new ();
    int64_t now = agent_clock_mono_ms ();
    shed->strike_window_ms = now;
    agent_bucket_init (&shed->msgs, self->cfg.msgs_per_s, self->cfg.msgs_burst, now);
    agent_bucket_init (&shed->bytes, self->cfg.bytes_per_s, self->cfg.bytes_burst, now);
    agent_bucket_init (&shed->accepts, self->cfg.accepts_per_s, 2.0 * self->cfg.accepts_per_s,
                       now);

    /* Replace a stale socket file left by a previous run, nothing else. */
    struct stat st;
    if (lstat (path, &st) == 0 && S_ISSOCK (st.st_mode))
        unlink (path);

    struct sockaddr_un sa;
    memset (&sa, 0, sizeof sa);
    sa.sun_family = AF_UNIX;
    memcpy (sa.sun_path, shed->path, strlen (shed->path));
    int fd = socket (AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (!shed->outq || !shed->services || !shed->streams_seen || fd < 0
    ||  bind (fd, (struct sockaddr *) &sa, sizeof sa) < 0
    ||  chmod (path, self->cfg.socket_mode) < 0
    ||  listen (fd, 8) < 0) {
        log_warn (S_COMP, "cannot listen|shed=%s path=%s err=\"%s\"", name, path,
                  strerror (errno));
        if (fd >= 0)
            close (fd);
        agent_outq_destroy (&shed->outq);
        zhashx_destroy (&shed->services);
        zhashx_destroy (&shed->streams_seen);
        free (shed);
        return -1;
    }
    shed->listen_fd = fd;
    zlist_append (self->sheds, shed);
    log_debug (S_COMP, "listening|shed=%s path=%s", name, path);
    return 0;
}

/* ------------------------------------------------------------------------ */
/*  3. Frames                                                               */
/* ------------------------------------------------------------------------ */

/* Stamp an event's header (the message is filled by the caller). */
static void
s_event_init (s_self_t *self, s_shed_t *shed, agent_event_t *ev, agent_event_kind_t kind)
{
    memset (ev, 0, offsetof (agent_event_t, msg));
    ev->kind = kind;
    memcpy (ev->node, self->node, sizeof ev->node);
    memcpy (ev->shed, shed->name, sizeof ev->shed);
    ev->seq = ++shed->stats.seq;
    ev->ts_ms = self->now_wall_ms ? self->now_wall_ms : agent_clock_wall_ms ();
}

static agent_event_t *
s_event_new (s_self_t *self, s_shed_t *shed, agent_event_kind_t kind)
{
    /* Only the header is zeroed: the message is filled by its owner. */
    agent_event_t *ev = s_event_alloc ();
    if (!ev)
        return NULL;
    memset (ev, 0, offsetof (agent_event_t, msg));
    ev->msg.hdr.type = 0;
    ev->kind = kind;
    memcpy (ev->node, self->node, sizeof ev->node);
    memcpy (ev->shed, shed->name, sizeof ev->shed);
    ev->seq = ++shed->stats.seq;
    ev->ts_ms = self->now_wall_ms ? self->now_wall_ms : agent_clock_wall_ms ();
    return ev;
}

static s_shed_t *s_shed_find (s_self_t *self, const char *name);

/* Send what is gathered for the bus: one message, never waiting. A full
 * queue drops the lot (counted per shed; consumers see tseq gaps). */
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
s_pub_take (s_pub_t *p, size_t need)
{
    p->used = 0;
    p->slot = NULL;
    if (need <= S_PUB_BYTES)
        for (size_t i = 0; i < S_PUB_BUFS; i++)
            if (!atomic_load_explicit (&p->bufs[i].busy, memory_order_acquire)) {
                p->slot = &p->bufs[i];
                p->buf = p->slot->data;
                p->cap = S_PUB_BYTES;
                return true;
            }
    p->cap = need > S_PUB_BYTES ? need : S_PUB_BYTES;
    p->buf = malloc (p->cap);
    return p->buf != NULL;
}

static void
s_pub_flush (s_self_t *self)
{
    s_pub_t *p = self->pub;
    if (!p || p->n == 0)
        return;
    /* Handed over, not copied: ZeroMQ calls s_pubbuf_free when the bus
     * has read it (or at once if the send fails). */
    zmq_msg_t msg;
    if (p->slot)
        atomic_store_explicit (&p->slot->busy, true, memory_order_relaxed);
    zmq_msg_init_data (&msg, p->buf, p->used, s_pubbuf_free, p->slot);
    bool ok = zmq_msg_send (&msg, zsock_resolve (self->push), ZMQ_DONTWAIT) >= 0;
    if (!ok)
        zmq_msg_close (&msg);
    for (size_t i = 0; i < p->n; i++) {
        if (ok)
            p->sheds[i]->stats.published++;
        else
            p->sheds[i]->stats.bus_dropped++;
    }
    p->n = 0;
    p->buf = NULL;
    p->used = 0;
}

/* Queue one event for the bus; `payload` is the message's encoding as the
 * agent sent it (NULL: encode the event's message, e.g. DISCONNECTED). */
static void
s_pub_add (s_self_t *self, s_shed_t *shed, const agent_event_t *ev, const uint8_t *payload,
           size_t len)
{
    char topic[256];
    int tl = agent_event_topic (ev, topic, sizeof topic);
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
    if (tl < 0 || need > self->cfg.max_frame + 1024u) {
        shed->stats.bus_dropped++;
        free (owned);
        return;
    }
    s_pub_t *p = self->pub;
    if (p->n == S_PUB_MAX || (p->n && p->used + need > p->cap))
        s_pub_flush (self);
    if (!p->buf && !s_pub_take (p, need)) {
        shed->stats.bus_dropped++;
        free (owned);
        return;
    }
    uint8_t *w = p->buf + p->used;
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
    p->used += need;
    p->sheds[p->n++] = shed;
    free (owned);
}

static void
s_deliver (s_self_t *self, s_shed_t *shed, agent_event_t *ev, const uint8_t *payload,
           size_t len)
{
    shed->stats.events++;
    unsigned type = ev->kind == AGENT_EVENT_MESSAGE ? ev->msg.hdr.type : 0;
    bool service = type == AGENT_SERVICE_REGISTER || type == AGENT_SERVICE_DEREGISTER
                || type == AGENT_SERVICE_HEALTH;
    if (self->pub && !(service && self->cfg.owner_publishes_services))
        s_pub_add (self, shed, ev, payload, len);
    if (self->pend_n == self->pend_cap) {
        /* Grow, keeping order (one read can add a few thousand). */
        size_t cap = self->pend_cap * 2;
        agent_event_t **ring = malloc (cap * sizeof *ring);
        if (!ring) {
            agent_event_destroy (&ev);
            return;
        }
        for (size_t i = 0; i < self->pend_n; i++)
            ring[i] = self->pending[(self->pend_head + i) % self->pend_cap];
        free (self->pending);
        self->pending = ring;
        self->pend_cap = cap;
        self->pend_head = 0;
    }
    self->pending[(self->pend_head + self->pend_n++) % self->pend_cap] = ev;
}

/* Queue a frame to the agent (refused when the queue is full). */
static int
s_queue_sink (void *arg, uint8_t *frame, size_t len)
{
    s_shed_t *shed = arg;
    return agent_outq_push (shed->outq, frame, len);
}

static int
s_send_msg (s_self_t *self, s_shed_t *shed, const agent_msg_t *msg)
{
    return agent_frame_send (msg, self->cfg.max_frame, ++shed->next_stream, s_queue_sink, shed);
}

/* Close the agent's connection, telling it why (best effort, not queued:
 * a peer we are dropping gets no more buffer space). */
static void
s_close (s_self_t *self, s_shed_t *shed, uint64_t code, const char *reason)
{
    if (shed->fd < 0)
        return;
    if (code) {
        agent_msg_t m;
        memset (&m, 0, sizeof m);
        m.hdr.type = AGENT_CLOSE;
        m.u.agent_close.code = code;
        snprintf (m.u.agent_close.reason, sizeof m.u.agent_close.reason, "%s", reason);
        uint8_t *f = NULL;
        size_t flen = 0;
        if (agent_frame_encode (&m, self->cfg.max_frame, &f, &flen) == 0) {
            if (send (shed->fd, f, flen, MSG_DONTWAIT | MSG_NOSIGNAL) < 0) {
                /* nothing more to do: the peer is going away */
            }
            free (f);
        }
    }
    bool had_hello = shed->hello;
    log_info (S_COMP, "agent disconnected|shed=%s reason=\"%s\"", shed->name, reason);
    s_conn_reset (shed);
    if (had_hello || code == AGENT_CLOSE_ABUSE) {
        agent_event_t *ev = s_event_new (self, shed, AGENT_EVENT_DISCONNECTED);
        if (ev) {
            memset (&ev->msg, 0, sizeof ev->msg.hdr);
            snprintf (ev->reason, sizeof ev->reason, "%s", reason);
            s_deliver (self, shed, ev, NULL, 0);
        }
    }
}

static void
s_abuse_close (s_self_t *self, s_shed_t *shed, agent_bad_t why)
{
    char reason[64];
    snprintf (reason, sizeof reason, "abuse: %s", agent_bad_name (why));
    log_warn (S_COMP, "closing abusive agent|shed=%s reason=%s strikes=%u", shed->name,
              agent_bad_name (why), shed->strikes);
    shed->stats.closes_abuse++;
    shed->cooldown_until_ms = agent_clock_mono_ms () + self->cfg.abuse_cooldown_ms;
    /* The cooldown is the penalty; the next connection starts a new
     * window (strikes are not reset by anything else). */
    shed->strikes = 0;
    shed->strike_window_ms = agent_clock_mono_ms ();
    s_close (self, shed, AGENT_CLOSE_ABUSE, reason);
}

/* Count a quota refusal (no strike: the frame was well formed). The first
 * of each reason and then every power of two is logged, so a flood of
 * refusals is visible without flooding the log. */
static void
s_refuse (s_shed_t *shed, agent_bad_t why, const char *name)
{
    uint64_t n = ++shed->stats.bad[why];
    shed->stats.bad_total++;
    if ((n & (n - 1)) == 0)
        log_warn (S_COMP, "agent refused|shed=%s reason=%s count=%llu name=\"%s\"", shed->name,
                  agent_bad_name (why), (unsigned long long) n, name ? name : "");
}

/* The shed's quotas on names (services, log streams), which bound what it
 * can make the node and the bus hold. Returns false if `msg` is refused. */
static bool
s_quota_ok (s_self_t *self, s_shed_t *shed, const agent_msg_t *msg)
{
    const char *name = NULL;
    switch (msg->hdr.type) {
        case AGENT_LOG:
            name = msg->u.agent_log.stream;
            if (zhashx_lookup (shed->streams_seen, name))
                return true;
            if (zhashx_size (shed->streams_seen) >= self->cfg.streams_max) {
                s_refuse (shed, AGENT_BAD_STREAM_CAP, name);
                return false;
            }
            zhashx_insert (shed->streams_seen, name, shed);
            return true;
        case AGENT_SERVICE_REGISTER:
            name = msg->u.agent_service_register.name;
            if (zhashx_lookup (shed->services, name))
                return true;
            if (zhashx_size (shed->services) >= self->cfg.services_max) {
                s_refuse (shed, AGENT_BAD_SERVICE_CAP, name);
                return false;
            }
            zhashx_insert (shed->services, name, shed);
            return true;
        case AGENT_SERVICE_DEREGISTER:
        case AGENT_SERVICE_HEALTH:
            /* Only names it holds: anything else would reach the bus as
             * topics of names the shed never had. */
            name = msg->hdr.type == AGENT_SERVICE_HEALTH ? msg->u.agent_service_health.name
                                                         : msg->u.agent_service_deregister.name;
            if (!zhashx_lookup (shed->services, name)) {
                s_refuse (shed, AGENT_BAD_SERVICE_CAP, name);
                return false;
            }
            if (msg->hdr.type == AGENT_SERVICE_DEREGISTER)
                zhashx_delete (shed->services, name);
            return true;
        default:
            return true;
    }
}

/* Count a refused frame; returns true if the connection was closed. */
static bool
s_bad (s_self_t *self, s_shed_t *shed, agent_bad_t why, const char *detail)
{
    shed->stats.bad[why]++;
    shed->stats.bad_total++;
    int64_t now = agent_clock_mono_ms ();
    if (now - shed->strike_window_ms > S_STRIKE_WINDOW_MS) {
        shed->strike_window_ms = now;
        shed->strikes = 0;
    }
    shed->strikes++;
    if (shed->strikes == 1)
        log_debug (S_COMP, "bad frame|shed=%s reason=%s detail=\"%s\"", shed->name,
                   agent_bad_name (why), detail ? detail : "");
    if (why == AGENT_BAD_TYPE || why == AGENT_BAD_OVERSIZE
    ||  shed->strikes >= self->cfg.abuse_limit) {
        s_abuse_close (self, shed, why);
        return true;
    }
    return false;
}

static void
s_on_hello (s_self_t *self, s_shed_t *shed, agent_msg_t *msg)
{
    shed->hello = true;
    shed->stats.connected = true;
    agent_msg_t ack;
    memset (&ack, 0, sizeof ack);
    ack.hdr.type = AGENT_HELLO_ACK;
    agent_hello_ack_t *a = &ack.u.agent_hello_ack;
    a->metrics_interval_ms = self->cfg.metrics_interval_ms;
    a->heartbeat_ms = self->cfg.heartbeat_ms;
    a->max_frame = self->cfg.max_frame;
    /* Ask for a little less than we allow, so pacing jitter never strikes. */
    a->max_msgs_per_s = (uint64_t) self->cfg.msgs_per_s * 9 / 10;
    a->max_bytes_per_s = (uint64_t) self->cfg.bytes_per_s * 9 / 10;
    a->host_time_ms = (uint64_t) agent_clock_wall_ms ();
    snprintf (a->shed, sizeof a->shed, "%s", shed->name);
    s_send_msg (self, shed, &ack);
    if (strcmp (msg->u.agent_hello.shed, shed->name) != 0 && msg->u.agent_hello.shed[0])
        log_info (S_COMP, "agent believes another name|shed=%s claimed=\"%s\"", shed->name,
                  msg->u.agent_hello.shed);
    log_info (S_COMP, "agent connected|shed=%s version=\"%s\"", shed->name,
              msg->u.agent_hello.agent_version);
}

/* A decoded message of an allowed type; `payload` is its encoding. Returns
 * true if the connection was closed. */
static bool
s_dispatch (s_self_t *self, s_shed_t *shed, agent_msg_t *msg, const uint8_t *payload,
            size_t len)
{
    unsigned type = msg->hdr.type;
    if (!shed->hello && type != AGENT_HELLO) {
        wire_msg_free (&agent_proto, msg);
        return s_bad (self, shed, AGENT_BAD_STATE, "no hello");
    }
    if (shed->hello && type == AGENT_HELLO) {
        wire_msg_free (&agent_proto, msg);
        return s_bad (self, shed, AGENT_BAD_STATE, "second hello");
    }
    agent_event_kind_t kind = AGENT_EVENT_MESSAGE;
    switch (type) {
        case AGENT_HELLO:
            s_on_hello (self, shed, msg);
            kind = AGENT_EVENT_CONNECTED;
            break;
        case AGENT_HEARTBEAT:
            shed->stats.heartbeats++;
            wire_msg_free (&agent_proto, msg);
            return false;
        case AGENT_CLOSE:
            wire_msg_free (&agent_proto, msg);
            s_close (self, shed, 0, "agent closed");
            return true;
        case AGENT_METRICS: {
            uint8_t *copy = malloc (len);
            if (copy) {
                memcpy (copy, payload, len);
                free (shed->metrics);
                shed->metrics = copy;
                shed->metrics_len = len;
                shed->metrics_ts_ms = agent_clock_wall_ms ();
            }
            break;
        }
        case AGENT_DROPPED:
            shed->stats.agent_dropped += msg->u.agent_dropped.count;
            break;
        default:
            if (!s_quota_ok (self, shed, msg)) {
                wire_msg_free (&agent_proto, msg);
                return false;
            }
            break;
    }
    agent_event_t *ev;
    if (self->spare && msg == &self->spare->msg) {
        /* Decoded in place: the spare becomes the event. */
        ev = self->spare;
        self->spare = NULL;
        s_event_init (self, shed, ev, kind);
    }
    else {
        ev = s_event_new (self, shed, kind);
        if (!ev) {
            wire_msg_free (&agent_proto, msg);
            return false;
        }
        /* The decoded message moves into the event: a struct copy hands
         * over its owned pointers. */
        ev->msg = *msg;
        memset (msg, 0, sizeof msg->hdr);
    }
    s_deliver (self, shed, ev, payload, len);
    return false;
}

/* One complete frame from the reader. Returns true if the connection closed. */
static bool
s_on_frame (s_self_t *self, s_shed_t *shed, uint8_t type, const uint8_t *payload, size_t len,
            int64_t now)
{
    shed->stats.frames_in++;
    shed->last_rx_ms = now;
    if (!(agent_msg_direction (type) & AGENT_DIR_TO_HOST))
        return s_bad (self, shed, AGENT_BAD_DIRECTION, agent_msg_type_name (type));
    if (!agent_bucket_take (&shed->msgs, 1, now)
    ||  !agent_bucket_take (&shed->bytes, (double) (len + AGENT_FRAME_HEADER), now))
        return s_bad (self, shed, AGENT_BAD_RATE, NULL);

    /* Decode straight into a spare event: kept, it is handed over as is. */
    if (!self->spare)
        self->spare = s_event_alloc ();
    agent_msg_t stack_msg;
    agent_msg_t *msg = self->spare ? &self->spare->msg : &stack_msg;
    const char *field = NULL;
    int rc = agent_frame_decode (type, payload, len, msg, &field);
    if (rc) {
        char detail[96];
        snprintf (detail, sizeof detail, "%s: %s", wire_strerror (rc), field ? field : "");
        return s_bad (self, shed, AGENT_BAD_DECODE, detail);
    }
    if (type != AGENT_CHUNK)
        return s_dispatch (self, shed, msg, payload, len);

    if (!shed->hello) {
        wire_msg_free (&agent_proto, msg);
        return s_bad (self, shed, AGENT_BAD_STATE, "chunk before hello");
    }
    if (!shed->streams)
        shed->streams = agent_streams_new (AGENT_STREAM_TO_HOST_MAX,
                                           AGENT_STREAMS_TO_HOST_TOTAL_MAX,
                                           AGENT_STREAMS_OPEN_MAX);
    uint8_t inner = 0;
    uint8_t *whole = NULL;
    size_t whole_len = 0;
    rc = shed->streams
       ? agent_streams_add (shed->streams, &msg->u.agent_chunk, &inner, &whole, &whole_len)
       : AGENT_STREAM_ERR_NOMEM;
    wire_msg_free (&agent_proto, msg);
    if (rc < 0)
        return s_bad (self, shed, AGENT_BAD_STREAM, "reassembly");
    if (rc == AGENT_STREAM_PARTIAL)
        return false;
    bool closed;
    if (!(agent_msg_direction (inner) & AGENT_DIR_TO_HOST) || inner == AGENT_HELLO)
        closed = s_bad (self, shed, AGENT_BAD_DIRECTION, "streamed type");
    else if ((rc = agent_frame_decode (inner, whole, whole_len, msg, &field)) != 0)
        closed = s_bad (self, shed, AGENT_BAD_DECODE, "streamed message");
    else
        closed = s_dispatch (self, shed, msg, whole, whole_len);
    free (whole);
    return closed;
}

/* Read at most one budget's worth and handle the frames in it. */
static void
s_on_readable (s_self_t *self, s_shed_t *shed)
{
    ssize_t n = recv (shed->fd, self->rbuf, AGENT_HOST_READ_BUDGET, MSG_DONTWAIT);
    if (n == 0) {
        s_close (self, shed, 0, "eof");
        return;
    }
    if (n < 0) {
        /* A reset is how a peer that closes with unread data looks. */
        if (errno == ECONNRESET)
            s_close (self, shed, 0, "eof");
        else if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)
            s_close (self, shed, 0, "read error");
        return;
    }
    shed->stats.bytes_in += (uint64_t) n;
    /* One clock read per read, not per frame: a read holds many frames. */
    int64_t now = agent_clock_mono_ms ();
    self->now_wall_ms = agent_clock_wall_ms ();
    size_t pos = 0;
    while (pos < (size_t) n) {
        size_t used = 0;
        int rc = agent_reader_feed (shed->reader, self->rbuf + pos, (size_t) n - pos, &used);
        pos += used;
        if (rc == AGENT_READ_FRAME) {
            size_t len = 0;
            const uint8_t *payload = agent_reader_payload (shed->reader, &len);
            if (s_on_frame (self, shed, agent_reader_type (shed->reader), payload, len, now)) {
                self->now_wall_ms = 0;
                return;
            }
        }
        else if (rc < 0) {
            s_bad (self, shed, rc == AGENT_READ_ERR_TYPE ? AGENT_BAD_TYPE : AGENT_BAD_OVERSIZE,
                   "framing");
            self->now_wall_ms = 0;
            return;
        }
    }
    self->now_wall_ms = 0;
}

static void
s_on_accept (s_self_t *self, s_shed_t *shed)
{
    int fd = accept4 (shed->listen_fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (fd < 0)
        return;
    int64_t now = agent_clock_mono_ms ();
    if (now < shed->cooldown_until_ms) {
        shed->stats.refused++;
        close (fd);
        return;
    }
    if (!agent_bucket_take (&shed->accepts, 1, now)) {
        /* A reconnect loop costs the host an accept and a close, nothing
         * more: the connection never gets a reader or a hello timer. */
        shed->stats.refused++;
        s_refuse (shed, AGENT_BAD_RECONNECT, NULL);
        close (fd);
        return;
    }
    if (shed->fd >= 0)
        /* The newest connection wins: a restarted agent must not wait for
         * the old connection's timeout. Both are inside the same shed. */
        s_close (self, shed, AGENT_CLOSE_REPLACED, "replaced");
    /* Frames from the agent are bounded like its streams: no agent -> host
     * message needs more, and decoding costs ~25x a frame's size in
     * msgpack objects (docs/agent.md, "Memory of one frame"). max_frame
     * still bounds what the host sends. */
    shed->reader = agent_reader_new (self->cfg.max_frame < AGENT_STREAM_TO_HOST_MAX
                                     ? self->cfg.max_frame : AGENT_STREAM_TO_HOST_MAX);
    if (!shed->reader) {
        close (fd);
        return;
    }
    shed->fd = fd;
    shed->connected_ms = now;
    shed->last_rx_ms = now;
    shed->last_tx_ms = now;
    shed->stats.connections++;
}

static void
s_on_writable (s_self_t *self, s_shed_t *shed)
{
    size_t before = agent_outq_bytes (shed->outq);
    int n = agent_outq_flush (shed->outq, shed->fd, 1024);
    if (n < 0) {
        s_close (self, shed, 0, "write error");
        return;
    }
    shed->stats.frames_out += (uint64_t) n;
    shed->stats.bytes_out += before - agent_outq_bytes (shed->outq);
    shed->last_tx_ms = agent_clock_mono_ms ();
}

/* Timeouts and heartbeats, every S_TICK_MS. */
static void
s_tick (s_self_t *self)
{
    int64_t now = agent_clock_mono_ms ();
    for (s_shed_t *shed = zlist_first (self->sheds); shed; shed = zlist_next (self->sheds)) {
        if (shed->fd < 0)
            continue;
        if (!shed->hello && now - shed->connected_ms > self->cfg.hello_timeout_ms) {
            shed->stats.closes_timeout++;
            s_close (self, shed, AGENT_CLOSE_TIMEOUT, "no hello");
            continue;
        }
        if (now - shed->last_rx_ms > 3 * (int64_t) self->cfg.heartbeat_ms) {
            shed->stats.closes_timeout++;
            s_close (self, shed, AGENT_CLOSE_TIMEOUT, "timeout");
            continue;
        }
        if (shed->hello && now - shed->last_tx_ms >= self->cfg.heartbeat_ms
        &&  agent_outq_frames (shed->outq) == 0) {
            agent_msg_t hb;
            memset (&hb, 0, sizeof hb);
            hb.hdr.type = AGENT_HEARTBEAT;
            hb.u.agent_heartbeat.ts_ms = (uint64_t) agent_clock_wall_ms ();
            s_send_msg (self, shed, &hb);
            shed->last_tx_ms = now;
        }
    }
}

/* Move pending events into the outbox until it is full. */
static void
s_flush_events (s_self_t *self)
{
    void *handle = zsock_resolve (self->outbox);
    agent_event_t *ev;
    while (self->pend_n) {
        ev = self->pending[self->pend_head];
        if (zmq_send (handle, &ev, sizeof ev, ZMQ_DONTWAIT) != sizeof ev)
            return;         /* full (or terminating): keep it for later */
        self->pend_head = (self->pend_head + 1) % self->pend_cap;
        self->pend_n--;
    }
}

/* ------------------------------------------------------------------------ */
/*  4. Actor                                                                */
/* ------------------------------------------------------------------------ */

static void
s_reply_int (s_self_t *self, int rc)
{
    zsock_send (self->pipe, "i", rc);
}

static void
s_on_command (s_self_t *self)
{
    zmsg_t *msg = zmsg_recv (self->pipe);
    if (!msg) {
        self->terminated = true;
        return;
    }
    char *cmd = zmsg_popstr (msg);
    char *name = zmsg_popstr (msg);
    s_shed_t *shed = name ? s_shed_find (self, name) : NULL;
    if (!cmd)
        ;
    else if (streq (cmd, "$TERM"))
        self->terminated = true;
    else if (streq (cmd, "ADD")) {
        char *path = zmsg_popstr (msg);
        s_reply_int (self, name && path ? s_shed_add (self, name, path) : -1);
        free (path);
    }
    else if (streq (cmd, "REMOVE")) {
        int rc = shed ? 0 : -1;
        if (shed) {
            s_close (self, shed, AGENT_CLOSE_SHUTDOWN, "removed");
            s_pub_flush (self);     /* its records point at it */
            zlist_remove (self->sheds, shed);
            s_shed_destroy (&shed);
        }
        s_reply_int (self, rc);
    }
    else if (streq (cmd, "SEND")) {
        /* Frames were encoded by the caller; all go or none. */
        int rc = 0;
        if (!shed || shed->fd < 0 || !shed->hello)
            rc = -1;
        else {
            size_t total = 0;
            for (zframe_t *f = zmsg_first (msg); f; f = zmsg_next (msg))
                total += zframe_size (f);
            if (agent_outq_bytes (shed->outq) + total > self->cfg.out_queue_bytes)
                rc = -2;
            else {
                zframe_t *f;
                while ((f = zmsg_pop (msg))) {
                    size_t len = zframe_size (f);
                    uint8_t *copy = malloc (len);
                    if (copy) {
                        memcpy (copy, zframe_data (f), len);
                        if (agent_outq_push (shed->outq, copy, len))
                            rc = -2;
                    }
                    else
                        rc = -2;
                    zframe_destroy (&f);
                }
            }
        }
        s_reply_int (self, rc);
    }
    else if (streq (cmd, "METRICS")) {
        if (shed && shed->metrics)
            zsock_send (self->pipe, "ib8", 0, shed->metrics, shed->metrics_len,
                        (uint64_t) shed->metrics_ts_ms);
        else
            zsock_send (self->pipe, "ib8", -1, NULL, (size_t) 0, (uint64_t) 0);
    }
    else if (streq (cmd, "COUNT")) {
        /* No answer: the owner does not wait for it. */
        char *why = zmsg_popstr (msg);
        int r = why ? atoi (why) : -1;
        if (shed && r >= 0 && r < AGENT_BAD_MAX) {
            shed->stats.bad[r]++;
            shed->stats.bad_total++;
        }
        free (why);
    }
    else if (streq (cmd, "STATS")) {
        if (shed)
            zsock_send (self->pipe, "ib", 0, &shed->stats, sizeof shed->stats);
        else
            zsock_send (self->pipe, "ib", -1, NULL, (size_t) 0);
    }
    else
        log_warn (S_COMP, "unknown command|cmd=%s", cmd);
    free (cmd);
    free (name);
    zmsg_destroy (&msg);
}

/* Poll set entry: which shed and which of its fds. */
typedef struct {
    s_shed_t *shed;
    bool listener;
} s_slot_t;

static void
s_actor (zsock_t *pipe, void *args)
{
    s_self_t self;
    memset (&self, 0, sizeof self);
    self.pipe = pipe;
    self.cfg = *(agent_host_config_t *) ((void **) args)[0];
    self.outbox = ((void **) args)[1];
    snprintf (self.node, sizeof self.node, "%s", self.cfg.node);
    self.cfg.node = self.node;
    self.sheds = zlist_new ();
    self.pend_cap = 1024;
    self.pending = malloc (self.pend_cap * sizeof *self.pending);
    self.rbuf = malloc (AGENT_HOST_READ_BUDGET);
    assert (self.sheds && self.pending && self.rbuf);
    if (self.cfg.publish_endpoint && self.cfg.publish_endpoint[0]) {
        self.push = zsock_new (ZMQ_PUSH);
        self.pub = calloc (1, sizeof *self.pub);
        assert (self.push && self.pub);
        /* One record may be a whole max frame beyond the flush mark. */
        for (size_t i = 0; i < S_PUB_BUFS; i++) {
            self.pub->bufs[i].data = malloc (S_PUB_BYTES);
            assert (self.pub->bufs[i].data);
            atomic_init (&self.pub->bufs[i].busy, false);
        }
        void *h = zsock_resolve (self.push);
        int hwm = 1000, zero = 0;
        zmq_setsockopt (h, ZMQ_SNDHWM, &hwm, sizeof hwm);
        zmq_setsockopt (h, ZMQ_LINGER, &zero, sizeof zero);
        if (zmq_connect (h, self.cfg.publish_endpoint) != 0) {
            log_warn (S_COMP, "cannot connect to the bus|endpoint=%s err=\"%s\"",
                      self.cfg.publish_endpoint, zmq_strerror (errno));
            zsock_destroy (&self.push);
            for (size_t i = 0; i < S_PUB_BUFS; i++)
                free (self.pub->bufs[i].data);
            free (self.pub);
            self.pub = NULL;
        }
    }
    zsock_signal (pipe, 0);

    zmq_pollitem_t *items = NULL;
    s_slot_t *slots = NULL;
    size_t cap = 0;
    self.next_tick_ms = agent_clock_mono_ms () + S_TICK_MS;

    while (!self.terminated) {
        size_t need = 2 + 2 * zlist_size (self.sheds);
        if (need > cap) {
            cap = need * 2;
            items = realloc (items, cap * sizeof *items);
            slots = realloc (slots, cap * sizeof *slots);
            assert (items && slots);
        }
        size_t n = 0;
        items[n++] = (zmq_pollitem_t) { zsock_resolve (pipe), 0, ZMQ_POLLIN, 0 };
        bool backlog = self.pend_n > 0;
        items[n++] = (zmq_pollitem_t) { zsock_resolve (self.outbox), 0,
                                        backlog ? ZMQ_POLLOUT : 0, 0 };
        /* When the owner is behind, stop reading agents: backpressure
         * reaches them through their socket buffers. */
        bool paused = self.pend_n >= AGENT_HOST_EVENT_QUEUE;
        for (s_shed_t *s = zlist_first (self.sheds); s; s = zlist_next (self.sheds)) {
            slots[n] = (s_slot_t) { s, true };
            items[n++] = (zmq_pollitem_t) { NULL, s->listen_fd, paused ? 0 : ZMQ_POLLIN, 0 };
            if (s->fd >= 0) {
                short ev = paused ? 0 : ZMQ_POLLIN;
                if (agent_outq_frames (s->outq))
                    ev |= ZMQ_POLLOUT;
                slots[n] = (s_slot_t) { s, false };
                items[n++] = (zmq_pollitem_t) { NULL, s->fd, ev, 0 };
            }
        }
        int64_t wait = self.next_tick_ms - agent_clock_mono_ms ();
        if (wait < 0)
            wait = 0;
        int rc = zmq_poll (items, (int) n, (long) wait);
        if (rc < 0 && errno != EINTR)
            break;
        if (rc > 0) {
            if (items[0].revents & ZMQ_POLLIN)
                s_on_command (&self);
            if (self.terminated)
                break;
            for (size_t i = 2; i < n; i++) {
                if (!items[i].revents)
                    continue;
                s_shed_t *s = slots[i].shed;
                /* A REMOVE above may have freed this shed. */
                if (!zlist_exists (self.sheds, s))
                    continue;
                if (slots[i].listener)
                    s_on_accept (&self, s);
                else if (items[i].fd == s->fd) {
                    if (items[i].revents & (ZMQ_POLLIN | ZMQ_POLLERR))
                        s_on_readable (&self, s);
                    if (s->fd == items[i].fd && (items[i].revents & ZMQ_POLLOUT))
                        s_on_writable (&self, s);
                }
            }
        }
        /* Frames queued while handling input go out now, not next turn. */
        for (s_shed_t *s = zlist_first (self.sheds); s; s = zlist_next (self.sheds))
            if (s->fd >= 0 && agent_outq_frames (s->outq))
                s_on_writable (&self, s);
        if (agent_clock_mono_ms () >= self.next_tick_ms) {
            s_tick (&self);
            self.next_tick_ms = agent_clock_mono_ms () + S_TICK_MS;
        }
        s_pub_flush (&self);
        s_flush_events (&self);
    }
    s_pub_flush (&self);
    if (self.pub && self.pub->buf && !self.pub->slot)
        free (self.pub->buf);      /* taken, never filled */
    if (self.spare) {
        wire_msg_free (&agent_proto, &self.spare->msg);
        free (self.spare);
    }
    zsock_destroy (&self.push);
    /* Messages still queued toward the bus point into the ring: the bus
     * (or the context, at its end) releases them through s_pubbuf_free,
     * so the ring must outlive them. It is left to the process: a few
     * hundred KiB, once per host object. */
    if (self.pub) {
        /* With linger 0, libzmq's I/O thread drops what the PUSH still
         * queued and calls s_pubbuf_free a moment after the close: wait a
         * little for that, so the ring is freed in the normal case (and a
         * leak checker sees no false leak). */
        bool idle = false;
        for (int tries = 0; tries < 100 && !idle; tries++) {
            idle = true;
            for (size_t i = 0; i < S_PUB_BUFS; i++)
                idle = idle
                       && !atomic_load_explicit (&self.pub->bufs[i].busy, memory_order_acquire);
            if (!idle)
                zclock_sleep (2);
        }
        if (idle) {
            for (size_t i = 0; i < S_PUB_BUFS; i++)
                free (self.pub->bufs[i].data);
            free (self.pub);
        }
    }

    s_shed_t *s;
    while ((s = zlist_pop (self.sheds)))
        s_shed_destroy (&s);
    agent_event_t *ev;
    while (self.pend_n) {
        ev = self.pending[self.pend_head];
        self.pend_head = (self.pend_head + 1) % self.pend_cap;
        self.pend_n--;
        agent_event_destroy (&ev);
    }
    zlist_destroy (&self.sheds);
    free (self.pending);
    free (items);
    free (slots);
    free (self.rbuf);
    s_cache_drain ();
}

/* ------------------------------------------------------------------------ */
/*  5. Owner API                                                            */
/* ------------------------------------------------------------------------ */

struct _agent_host_t {
    zactor_t *actor;
    zsock_t *events;                /* owner end of the outbox */
    zsock_t *outbox;                /* actor end (owned here, used there) */
    agent_host_config_t cfg;
    char node[AGENT_NAME_MAX + 1];
    char publish[256];
    uint64_t next_stream;
};

static uint32_t
s_or (uint32_t v, uint32_t dflt)
{
    return v ? v : dflt;
}

agent_host_t *
agent_host_new (const agent_host_config_t *config)
{
    assert (config);
    if (!config->node || !config->node[0] || strlen (config->node) > AGENT_NAME_MAX)
        return NULL;
    agent_host_t *self = calloc (1, sizeof *self);
    if (!self)
        return NULL;
    self->cfg = *config;
    snprintf (self->node, sizeof self->node, "%s", config->node);
    self->cfg.node = self->node;
    if (config->publish_endpoint) {
        snprintf (self->publish, sizeof self->publish, "%s", config->publish_endpoint);
        self->cfg.publish_endpoint = self->publish;
    }
    agent_host_config_t *c = &self->cfg;
    c->max_frame = s_or (c->max_frame, AGENT_FRAME_MAX_DEFAULT);
    if (c->max_frame < AGENT_FRAME_MAX_FLOOR)
        c->max_frame = AGENT_FRAME_MAX_FLOOR;
    if (c->max_frame > AGENT_FRAME_MAX_CEILING)
        c->max_frame = AGENT_FRAME_MAX_CEILING;
    c->metrics_interval_ms = s_or (c->metrics_interval_ms, 5000);
    c->heartbeat_ms = s_or (c->heartbeat_ms, 5000);
    c->hello_timeout_ms = s_or (c->hello_timeout_ms, 5000);
    c->msgs_per_s = s_or (c->msgs_per_s, 2000);
    c->msgs_burst = s_or (c->msgs_burst, 2 * c->msgs_per_s);
    c->bytes_per_s = s_or (c->bytes_per_s, 4u << 20);
    c->bytes_burst = s_or (c->bytes_burst, 2 * c->bytes_per_s);
    c->abuse_limit = s_or (c->abuse_limit, 32);
    c->abuse_cooldown_ms = s_or (c->abuse_cooldown_ms, 2000);
    c->out_queue_bytes = s_or (c->out_queue_bytes, 32u << 20);
    c->socket_mode = s_or (c->socket_mode, 0660);
    c->accepts_per_s = s_or (c->accepts_per_s, 5);
    c->services_max = s_or (c->services_max, 64);
    c->streams_max = s_or (c->streams_max, 32);
    /* Bursts must hold one full frame or a big frame could never pass. */
    if (c->bytes_burst < c->max_frame + AGENT_FRAME_HEADER)
        c->bytes_burst = c->max_frame + AGENT_FRAME_HEADER;

    char endpoint[64];
    snprintf (endpoint, sizeof endpoint, "inproc://agent-host-%p", (void *) self);
    self->outbox = zsock_new (ZMQ_PAIR);
    self->events = zsock_new (ZMQ_PAIR);
    if (!self->outbox || !self->events) {
        zsock_destroy (&self->outbox);
        zsock_destroy (&self->events);
        free (self);
        return NULL;
    }
    /* The pipe holds pointers: a few thousand is plenty, and the actor
     * keeps its own bounded backlog behind it. */
    zsock_set_sndhwm (self->outbox, 1000);
    zsock_set_rcvhwm (self->events, 1000);
    zsock_bind (self->outbox, "%s", endpoint);
    zsock_connect (self->events, "%s", endpoint);
    void *args[2] = { &self->cfg, self->outbox };
    self->actor = zactor_new (s_actor, args);
    if (!self->actor) {
        zsock_destroy (&self->outbox);
        zsock_destroy (&self->events);
        free (self);
        return NULL;
    }
    return self;
}

void
agent_host_destroy (agent_host_t **self_p)
{
    assert (self_p);
    agent_host_t *self = *self_p;
    if (!self)
        return;
    zactor_destroy (&self->actor);
    /* Events the owner never took are pointers in the pipe: free them. */
    agent_event_t *ev;
    void *handle = zsock_resolve (self->events);
    while (zmq_recv (handle, &ev, sizeof ev, ZMQ_DONTWAIT) == sizeof ev)
        agent_event_destroy (&ev);
    zsock_destroy (&self->events);
    zsock_destroy (&self->outbox);
    free (self);
    *self_p = NULL;
}

static int
s_wait_int (agent_host_t *self)
{
    int rc = -1;
    if (zsock_recv (self->actor, "i", &rc) != 0)
        return -1;
    return rc;
}

int
agent_host_add_shed (agent_host_t *self, const char *shed, const char *path)
{
    assert (self);
    if (!shed || !path)
        return -1;
    zstr_sendx (self->actor, "ADD", shed, path, NULL);
    return s_wait_int (self);
}

int
agent_host_remove_shed (agent_host_t *self, const char *shed)
{
    assert (self);
    if (!shed)
        return -1;
    zstr_sendx (self->actor, "REMOVE", shed, NULL);
    return s_wait_int (self);
}

static int
s_zmsg_sink (void *arg, uint8_t *frame, size_t len)
{
    zmsg_t *msg = arg;
    int rc = zmsg_addmem (msg, frame, len);
    free (frame);
    return rc;
}

int
agent_host_send (agent_host_t *self, const char *shed, const agent_msg_t *msg)
{
    assert (self);
    assert (msg);
    if (!shed || !(agent_msg_direction (msg->hdr.type) & AGENT_DIR_TO_AGENT)
    ||  msg->hdr.type == AGENT_CHUNK)
        return -3;
    zmsg_t *out = zmsg_new ();
    zmsg_addstr (out, "SEND");
    zmsg_addstr (out, shed);
    /* Encoding (and chunking) happens on the caller's thread: the actor
     * only moves bytes. The actor numbers its own streams from 1 per shed;
     * ours start at 2^62 so the two never collide. */
    uint64_t stream = (1ull << 62) + ++self->next_stream;
    int rc = agent_frame_send (msg, self->cfg.max_frame, stream, s_zmsg_sink, out);
    if (rc) {
        zmsg_destroy (&out);
        return -3;
    }
    zmsg_send (&out, self->actor);
    return s_wait_int (self);
}

int
agent_host_provision (agent_host_t *self, const char *shed, const agent_provision_t *req)
{
    assert (self);
    assert (req);
    agent_msg_t *m = calloc (1, sizeof *m);
    if (!m)
        return -3;
    m->hdr.type = AGENT_PROVISION;
    m->u.agent_provision = *req;        /* borrowed pointers; not freed */
    int rc = agent_host_send (self, shed, m);
    free (m);
    return rc;
}

int
agent_host_metrics (agent_host_t *self, const char *shed, agent_msg_t *out, int64_t *ts_ms)
{
    assert (self);
    assert (out);
    memset (out, 0, sizeof *out);
    if (!shed)
        return -1;
    zstr_sendx (self->actor, "METRICS", shed, NULL);
    int rc = -1;
    uint64_t ts = 0;
    zframe_t *frame = NULL;
    if (zsock_recv (self->actor, "if8", &rc, &frame, &ts) != 0)
        return -1;
    if (rc == 0 && frame) {
        rc = agent_frame_decode (AGENT_METRICS, zframe_data (frame), zframe_size (frame), out,
                                 NULL) ? -1 : 0;
        if (ts_ms)
            *ts_ms = (int64_t) ts;
    }
    zframe_destroy (&frame);
    return rc;
}

void
agent_host_count (agent_host_t *self, const char *shed, agent_bad_t why)
{
    assert (self);
    if (!shed || (unsigned) why >= AGENT_BAD_MAX)
        return;
    char r[16];
    snprintf (r, sizeof r, "%d", (int) why);
    zstr_sendx (self->actor, "COUNT", shed, r, NULL);
}

int
agent_host_stats (agent_host_t *self, const char *shed, agent_host_stats_t *out)
{
    assert (self);
    assert (out);
    memset (out, 0, sizeof *out);
    if (!shed)
        return -1;
    zstr_sendx (self->actor, "STATS", shed, NULL);
    int rc = -1;
    zframe_t *frame = NULL;
    if (zsock_recv (self->actor, "if", &rc, &frame) != 0)
        return -1;
    if (rc == 0 && frame && zframe_size (frame) == sizeof *out)
        memcpy (out, zframe_data (frame), sizeof *out);
    else
        rc = -1;
    zframe_destroy (&frame);
    return rc;
}

zsock_t *
agent_host_events (agent_host_t *self)
{
    assert (self);
    return self->events;
}

agent_event_t *
agent_host_recv (agent_host_t *self, int timeout_ms)
{
    assert (self);
    void *handle = zsock_resolve (self->events);
    if (timeout_ms != 0) {
        zmq_pollitem_t item = { handle, 0, ZMQ_POLLIN, 0 };
        if (zmq_poll (&item, 1, timeout_ms) <= 0)
            return NULL;
    }
    agent_event_t *ev = NULL;
    if (zmq_recv (handle, &ev, sizeof ev, ZMQ_DONTWAIT) != sizeof ev)
        return NULL;
    return ev;
}
