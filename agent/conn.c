/*
 * conn.c - the agent's connection to its host (see conn.h).
 */
#include "agent/conn.h"
#include "agent/proto/agent_proto.h"
#include "agent/proto/agent_reader.h"
#include "agent/proto/agent_streams.h"
#include "agent/proto/agent_outq.h"
#include "agent/proto/agent_bucket.h"

#include "common/log.h"

#include <assert.h>
#include <errno.h>
#include <linux/vm_sockets.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#define S_COMP     "conn"
#define S_READ_MAX (64u << 10)

typedef enum { S_DOWN, S_CONNECTING, S_HELLO, S_READY } s_state_t;

struct _agent_conn_t {
    agent_conn_config_t cfg;
    char target[AGENT_PATH_MAX + 16];
    int family;
    char path[108];
    unsigned cid, port;
    agent_conn_msg_fn *on_msg;
    void *ctx;

    s_state_t state;
    int fd;
    agent_reader_t *reader;
    agent_streams_t *streams;
    agent_outq_t *outq;
    agent_msg_t hello;
    uint8_t *hello_frame; /* being written on a fresh connection */
    size_t hello_len, hello_off;
    agent_hello_ack_t settings;
    agent_bucket_t msgs, bytes;
    uint32_t attempt;
    int64_t next_attempt_ms;
    int64_t hello_sent_ms;
    int64_t last_rx_ms, last_hb_ms;
    int64_t down_since_wall_ms;
    uint64_t next_stream;
    uint8_t rbuf[S_READ_MAX];
};

int
agent_conn_parse_target (const char *target, int *family, char *path, size_t path_size,
                         unsigned *cid, unsigned *port)
{
    if (strncmp (target, "unix:", 5) == 0) {
        size_t n = strlen (target + 5);
        if (n == 0 || n >= path_size || n >= sizeof ((struct sockaddr_un *) 0)->sun_path)
            return -1;
        memcpy (path, target + 5, n + 1);
        *family = AF_UNIX;
        return 0;
    }
    if (strncmp (target, "vsock:", 6) == 0) {
        char *end;
        unsigned long c = strtoul (target + 6, &end, 10);
        if (end == target + 6 || *end != ':')
            return -1;
        char *end2;
        unsigned long p = strtoul (end + 1, &end2, 10);
        if (end2 == end + 1 || *end2 || c > UINT32_MAX || p > UINT32_MAX)
            return -1;
        *cid = (unsigned) c;
        *port = (unsigned) p;
        *family = AF_VSOCK;
        return 0;
    }
    return -1;
}

agent_conn_t *
agent_conn_new (const agent_conn_config_t *cfg, agent_conn_msg_fn *on_msg, void *ctx)
{
    assert (cfg && cfg->target);
    agent_conn_t *self = calloc (1, sizeof *self);
    if (!self)
        return NULL;
    self->cfg = *cfg;
    snprintf (self->target, sizeof self->target, "%s", cfg->target);
    self->cfg.target = self->target;
    if (agent_conn_parse_target (self->target, &self->family, self->path, sizeof self->path,
                                 &self->cid, &self->port)) {
        free (self);
        return NULL;
    }
    if (!self->cfg.buffer_frames)
        self->cfg.buffer_frames = 4096;
    if (!self->cfg.buffer_bytes)
        self->cfg.buffer_bytes = 4u << 20;
    if (!self->cfg.backoff_min_ms)
        self->cfg.backoff_min_ms = 100;
    if (!self->cfg.backoff_max_ms)
        self->cfg.backoff_max_ms = 5000;
    if (!self->cfg.hello_timeout_ms)
        self->cfg.hello_timeout_ms = 5000;
    self->on_msg = on_msg;
    self->ctx = ctx;
    self->fd = -1;
    self->outq = agent_outq_new (self->cfg.buffer_frames, self->cfg.buffer_bytes, true);
    if (!self->outq) {
        free (self);
        return NULL;
    }
    self->hello.hdr.type = AGENT_HELLO;
    self->down_since_wall_ms = agent_clock_wall_ms ();
    self->next_attempt_ms = 0; /* first attempt at once */
    return self;
}

static void
s_drop_conn (agent_conn_t *self, const char *why)
{
    if (self->fd >= 0) {
        close (self->fd);
        if (self->state == S_READY)
            log_info (S_COMP, "disconnected|target=%s reason=\"%s\"", self->target, why);
    }
    self->fd = -1;
    agent_reader_destroy (&self->reader);
    agent_streams_destroy (&self->streams);
    free (self->hello_frame);
    self->hello_frame = NULL;
    agent_outq_rewind (self->outq);
    if (self->state == S_READY)
        self->down_since_wall_ms = agent_clock_wall_ms ();
    self->state = S_DOWN;
    /* Equal jitter: half the delay fixed, half random. */
    uint64_t d = self->cfg.backoff_min_ms;
    for (uint32_t i = 0; i < self->attempt && d < self->cfg.backoff_max_ms; i++)
        d *= 2;
    if (d > self->cfg.backoff_max_ms)
        d = self->cfg.backoff_max_ms;
    uint64_t delay = d / 2 + (uint64_t) ((double) (d / 2) * ((double) random () / RAND_MAX));
    if (self->attempt < 30)
        self->attempt++;
    self->next_attempt_ms = agent_clock_mono_ms () + (int64_t) delay;
}

void
agent_conn_destroy (agent_conn_t **self_p)
{
    assert (self_p);
    agent_conn_t *self = *self_p;
    if (!self)
        return;
    if (self->fd >= 0)
        close (self->fd);
    agent_reader_destroy (&self->reader);
    agent_streams_destroy (&self->streams);
    agent_outq_destroy (&self->outq);
    free (self->hello_frame);
    free (self);
    *self_p = NULL;
}

void
agent_conn_set_hello (agent_conn_t *self, const agent_hello_t *hello)
{
    assert (self);
    self->hello.u.agent_hello = *hello;
}

static int
s_queue_sink (void *arg, uint8_t *frame, size_t len)
{
    agent_conn_t *self = arg;
    agent_outq_push (self->outq, frame, len); /* drop-oldest: never refuses */
    return 0;
}

static uint32_t
s_max_frame (agent_conn_t *self)
{
    return self->settings.max_frame ? (uint32_t) self->settings.max_frame : AGENT_FRAME_MAX_DEFAULT;
}

int
agent_conn_send (agent_conn_t *self, const agent_msg_t *msg)
{
    assert (self);
    if (msg->hdr.type == AGENT_HEARTBEAT && self->state != S_READY)
        return 0;
    int rc = agent_frame_send (msg, s_max_frame (self), ++self->next_stream, s_queue_sink, self);
    if (rc)
        log_warn (S_COMP, "cannot encode|type=%s err=%s", agent_msg_type_name (msg->hdr.type),
                  wire_strerror (rc));
    return rc ? -1 : 0;
}

bool
agent_conn_ready (agent_conn_t *self)
{
    assert (self);
    return self->state == S_READY;
}

const agent_hello_ack_t *
agent_conn_settings (agent_conn_t *self)
{
    assert (self);
    return &self->settings;
}

uint64_t
agent_conn_dropped_total (agent_conn_t *self)
{
    assert (self);
    return agent_outq_dropped_total (self->outq);
}

size_t
agent_conn_buffered (agent_conn_t *self)
{
    assert (self);
    return agent_outq_frames (self->outq);
}

/* Connected: write the hello first, nothing else until the ack. */
static void
s_on_connected (agent_conn_t *self)
{
    self->state = S_HELLO;
    self->reader = agent_reader_new (AGENT_FRAME_MAX_CEILING);
    self->streams =
        agent_streams_new (AGENT_STREAM_MAX, AGENT_STREAMS_TOTAL_MAX, AGENT_STREAMS_OPEN_MAX);
    self->hello.u.agent_hello.buffered = agent_outq_frames (self->outq);
    if (!self->reader || !self->streams
        || agent_frame_encode (&self->hello, AGENT_FRAME_MAX_DEFAULT, &self->hello_frame,
                               &self->hello_len)
               != 0) {
        s_drop_conn (self, "cannot start");
        return;
    }
    self->hello_off = 0;
    self->hello_sent_ms = agent_clock_mono_ms ();
    self->last_rx_ms = self->hello_sent_ms;
}

static void
s_connect (agent_conn_t *self)
{
    int fd = socket (self->family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        s_drop_conn (self, "socket");
        return;
    }
    int rc;
    if (self->family == AF_UNIX) {
        struct sockaddr_un sa;
        memset (&sa, 0, sizeof sa);
        sa.sun_family = AF_UNIX;
        memcpy (sa.sun_path, self->path, strlen (self->path));
        rc = connect (fd, (struct sockaddr *) &sa, sizeof sa);
    }
    else {
        struct sockaddr_vm sa;
        memset (&sa, 0, sizeof sa);
        sa.svm_family = AF_VSOCK;
        sa.svm_cid = self->cid;
        sa.svm_port = self->port;
        rc = connect (fd, (struct sockaddr *) &sa, sizeof sa);
    }
    self->fd = fd;
    if (rc == 0)
        s_on_connected (self);
    else if (errno == EINPROGRESS)
        self->state = S_CONNECTING;
    else {
        log_debug (S_COMP, "connect failed|target=%s err=\"%s\"", self->target, strerror (errno));
        s_drop_conn (self, "connect");
    }
}

/* A later HELLO_ACK on a ready connection: new settings, same session. */
static void
s_on_settings (agent_conn_t *self, const agent_hello_ack_t *ack)
{
    /* max_frame is fixed for the connection (frames may be queued). */
    uint64_t max_frame = self->settings.max_frame;
    self->settings = *ack;
    self->settings.max_frame = max_frame;
    int64_t now = agent_clock_mono_ms ();
    double mr = (double) ack->max_msgs_per_s, br = (double) ack->max_bytes_per_s;
    agent_bucket_set (&self->msgs, mr, mr / 2 > 1 ? mr / 2 : 1, now);
    agent_bucket_set (&self->bytes, br, br / 2 > 1 ? br / 2 : 1, now);
    log_info (S_COMP,
              "host settings changed|max_msgs_per_s=%llu max_bytes_per_s=%llu "
              "metrics_interval_ms=%llu heartbeat_ms=%llu",
              (unsigned long long) ack->max_msgs_per_s, (unsigned long long) ack->max_bytes_per_s,
              (unsigned long long) ack->metrics_interval_ms,
              (unsigned long long) ack->heartbeat_ms);
}

static void
s_on_ack (agent_conn_t *self, const agent_hello_ack_t *ack)
{
    self->settings = *ack;
    int64_t now = agent_clock_mono_ms ();
    double mr = (double) ack->max_msgs_per_s, br = (double) ack->max_bytes_per_s;
    /* Small bursts: the host's buckets are twice our rate deep. */
    agent_bucket_init (&self->msgs, mr, mr / 2 > 1 ? mr / 2 : 1, now);
    agent_bucket_init (&self->bytes, br, br / 2 > 1 ? br / 2 : 1, now);
    self->state = S_READY;
    self->attempt = 0;
    self->last_hb_ms = now;
    uint64_t lost = agent_outq_take_dropped (self->outq);
    log_info (S_COMP, "connected|target=%s buffered=%zu dropped=%llu", self->target,
              agent_outq_frames (self->outq), (unsigned long long) lost);
    if (lost) {
        agent_msg_t m;
        memset (&m, 0, sizeof m);
        m.hdr.type = AGENT_DROPPED;
        m.u.agent_dropped.count = lost;
        m.u.agent_dropped.total = agent_outq_dropped_total (self->outq);
        m.u.agent_dropped.reason = AGENT_DROP_DISCONNECTED;
        m.u.agent_dropped.since_ms = (uint64_t) self->down_since_wall_ms;
        uint8_t *f = NULL;
        size_t len = 0;
        if (agent_frame_encode (&m, s_max_frame (self), &f, &len) == 0)
            agent_outq_push_front (self->outq, f, len);
    }
}

/* One message from the host. Returns false if the connection must end. */
static bool
s_on_message (agent_conn_t *self, agent_msg_t *m)
{
    unsigned type = m->hdr.type;
    if (!(agent_msg_direction (type) & AGENT_DIR_TO_AGENT)) {
        wire_msg_free (&agent_proto, m);
        return false;
    }
    if (type == AGENT_HELLO_ACK) {
        if (self->state == S_HELLO)
            s_on_ack (self, &m->u.agent_hello_ack);
        else if (self->state == S_READY) {
            /* The host's limits changed (its SIGHUP): pace to the new
             * rates from now on. Not a new connection: nothing to
             * re-register, so the owner does not see it. */
            s_on_settings (self, &m->u.agent_hello_ack);
            wire_msg_free (&agent_proto, m);
            return true;
        }
    }
    else if (type == AGENT_CLOSE) {
        log_warn (S_COMP, "host closed|code=%llu reason=\"%s\"",
                  (unsigned long long) m->u.agent_close.code, m->u.agent_close.reason);
        wire_msg_free (&agent_proto, m);
        return false;
    }
    if (type != AGENT_HEARTBEAT && self->on_msg)
        self->on_msg (self->ctx, m); /* ownership moves */
    else
        wire_msg_free (&agent_proto, m);
    return true;
}

static void
s_on_readable (agent_conn_t *self)
{
    ssize_t n = recv (self->fd, self->rbuf, sizeof self->rbuf, MSG_DONTWAIT);
    if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR)) {
        s_drop_conn (self, n == 0 ? "eof" : "read error");
        return;
    }
    if (n < 0)
        return;
    self->last_rx_ms = agent_clock_mono_ms ();
    size_t pos = 0;
    while (pos < (size_t) n) {
        size_t used = 0;
        int rc = agent_reader_feed (self->reader, self->rbuf + pos, (size_t) n - pos, &used);
        pos += used;
        if (rc < 0) {
            s_drop_conn (self, "bad framing from host");
            return;
        }
        if (rc != AGENT_READ_FRAME)
            continue;
        size_t len = 0;
        const uint8_t *payload = agent_reader_payload (self->reader, &len);
        uint8_t type = agent_reader_type (self->reader);
        agent_msg_t *m = calloc (1, sizeof *m);
        if (!m || agent_frame_decode (type, payload, len, m, NULL) != 0) {
            free (m);
            s_drop_conn (self, "bad frame from host");
            return;
        }
        if (type == AGENT_CHUNK) {
            uint8_t inner = 0;
            uint8_t *whole = NULL;
            size_t whole_len = 0;
            rc = agent_streams_add (self->streams, &m->u.agent_chunk, &inner, &whole, &whole_len);
            wire_msg_free (&agent_proto, m);
            if (rc < 0
                || (rc == AGENT_STREAM_COMPLETE
                    && agent_frame_decode (inner, whole, whole_len, m, NULL) != 0)) {
                free (whole);
                free (m);
                s_drop_conn (self, "bad stream from host");
                return;
            }
            free (whole);
            if (rc == AGENT_STREAM_PARTIAL) {
                free (m);
                continue;
            }
        }
        bool ok = s_on_message (self, m);
        free (m);
        if (!ok) {
            s_drop_conn (self, "closed by host");
            return;
        }
    }
}

static void
s_flush (agent_conn_t *self)
{
    int64_t now = agent_clock_mono_ms ();
    if (self->state == S_HELLO) {
        if (!self->hello_frame)
            return;
        ssize_t w = send (self->fd, self->hello_frame + self->hello_off,
                          self->hello_len - self->hello_off, MSG_DONTWAIT | MSG_NOSIGNAL);
        if (w < 0 && errno != EAGAIN && errno != EINTR) {
            s_drop_conn (self, "write error");
            return;
        }
        if (w > 0)
            self->hello_off += (size_t) w;
        if (self->hello_off == self->hello_len) {
            free (self->hello_frame);
            self->hello_frame = NULL;
        }
        return;
    }
    if (self->state != S_READY || agent_outq_frames (self->outq) == 0)
        return;
    size_t budget = 1024;
    if (self->msgs.rate > 0) {
        agent_bucket_take (&self->msgs, 0, now); /* refill */
        budget = self->msgs.tokens >= 1 ? (size_t) self->msgs.tokens : 0;
    }
    if (self->bytes.rate > 0) {
        agent_bucket_take (&self->bytes, 0, now);
        if (self->bytes.tokens <= 0)
            budget = 0;
    }
    if (budget == 0)
        return;
    size_t before = agent_outq_bytes (self->outq);
    int n = agent_outq_flush (self->outq, self->fd, budget);
    if (n < 0) {
        s_drop_conn (self, "write error");
        return;
    }
    /* Debit what went: the byte bucket may go below zero by one frame,
     * which only delays the next write. */
    if (self->msgs.rate > 0)
        self->msgs.tokens -= n;
    if (self->bytes.rate > 0)
        self->bytes.tokens -= (double) (before - agent_outq_bytes (self->outq));
}

static void
s_io (void *arg, int fd, short revents)
{
    agent_conn_t *self = arg;
    if (self->state == S_CONNECTING) {
        int err = 0;
        socklen_t len = sizeof err;
        if (getsockopt (fd, SOL_SOCKET, SO_ERROR, &err, &len) < 0 || err) {
            s_drop_conn (self, "connect");
            return;
        }
        s_on_connected (self);
        return;
    }
    if (revents & (POLLIN | POLLHUP | POLLERR))
        s_on_readable (self);
    if (self->fd >= 0 && (revents & POLLOUT))
        s_flush (self);
}

/* Whether the pacing allows a write now. */
static bool
s_can_write (agent_conn_t *self, int64_t now)
{
    if (self->state == S_HELLO)
        return self->hello_frame != NULL;
    if (self->state != S_READY || agent_outq_frames (self->outq) == 0)
        return false;
    return agent_bucket_wait_ms (&self->msgs, 1, now) == 0
           && (self->bytes.rate <= 0 || agent_bucket_wait_ms (&self->bytes, 1, now) == 0);
}

size_t
agent_conn_watches (agent_conn_t *self, agent_watch_t *w, size_t max)
{
    assert (self);
    if (self->fd < 0 || max == 0)
        return 0;
    short ev = POLLIN;
    if (self->state == S_CONNECTING)
        ev = POLLOUT;
    else if (s_can_write (self, agent_clock_mono_ms ()))
        ev |= POLLOUT;
    w[0] = (agent_watch_t){ self->fd, ev, s_io, self };
    return 1;
}

int64_t
agent_conn_next_ms (agent_conn_t *self)
{
    assert (self);
    int64_t now = agent_clock_mono_ms ();
    switch (self->state) {
    case S_DOWN:
        return self->next_attempt_ms;
    case S_CONNECTING:
    case S_HELLO:
        return self->hello_sent_ms + self->cfg.hello_timeout_ms;
    case S_READY: {
        int64_t hb = (int64_t) self->settings.heartbeat_ms;
        int64_t next = self->last_hb_ms + hb;
        int64_t dead = self->last_rx_ms + 3 * hb;
        if (dead < next)
            next = dead;
        if (agent_outq_frames (self->outq) && !s_can_write (self, now)) {
            int64_t w = agent_bucket_wait_ms (&self->msgs, 1, now);
            int64_t wb = self->bytes.rate > 0 ? agent_bucket_wait_ms (&self->bytes, 1, now) : 0;
            if (wb > w)
                w = wb;
            if (now + w < next)
                next = now + w;
        }
        return next;
    }
    }
    return AGENT_NEVER;
}

void
agent_conn_tick (agent_conn_t *self, int64_t now)
{
    assert (self);
    switch (self->state) {
    case S_DOWN:
        if (now >= self->next_attempt_ms) {
            self->hello_sent_ms = now;
            s_connect (self);
        }
        break;
    case S_CONNECTING:
    case S_HELLO:
        if (now - self->hello_sent_ms >= self->cfg.hello_timeout_ms)
            s_drop_conn (self, "no hello-ack");
        break;
    case S_READY: {
        int64_t hb = (int64_t) self->settings.heartbeat_ms;
        if (now - self->last_rx_ms >= 3 * hb) {
            s_drop_conn (self, "host silent");
            break;
        }
        if (now - self->last_hb_ms >= hb) {
            self->last_hb_ms = now;
            uint64_t lost = agent_outq_take_dropped (self->outq);
            agent_msg_t m;
            memset (&m, 0, sizeof m);
            if (lost) {
                m.hdr.type = AGENT_DROPPED;
                m.u.agent_dropped.count = lost;
                m.u.agent_dropped.total = agent_outq_dropped_total (self->outq);
                m.u.agent_dropped.reason = AGENT_DROP_BACKPRESSURE;
                agent_conn_send (self, &m);
                memset (&m, 0, sizeof m);
            }
            m.hdr.type = AGENT_HEARTBEAT;
            m.u.agent_heartbeat.ts_ms = (uint64_t) agent_clock_wall_ms ();
            m.u.agent_heartbeat.buffered = agent_outq_frames (self->outq);
            agent_conn_send (self, &m);
        }
        break;
    }
    }
}

void
agent_conn_drain (agent_conn_t *self, int ms)
{
    assert (self);
    int64_t until = agent_clock_mono_ms () + ms;
    while (self->state == S_READY && agent_outq_frames (self->outq)
           && agent_clock_mono_ms () < until) {
        struct pollfd p = { self->fd, POLLOUT, 0 };
        if (poll (&p, 1, 50) > 0) {
            int n = agent_outq_flush (self->outq, self->fd, 1024);
            if (n < 0)
                break;
        }
    }
}
