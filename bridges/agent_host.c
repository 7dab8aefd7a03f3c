/*
 * agent_host.c - host side of the agent channel, the owner's API (see
 * agent_host.h): config defaults, commands down the actor's pipe, events
 * out of the outbox. The actor and everything it owns are in the files
 * agent_host_int.h lists.
 */
#include "bridges/agent_host.h"

#include "bridges/agent_host_int.h"

#include <assert.h>
#include <inttypes.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct _agent_host_t {
    zactor_t *actor;
    zsock_t *events; /* owner end of the outbox */
    zsock_t *outbox; /* actor end (owned here, used there) */
    agent_host_config_t cfg;
    char node[AGENT_NAME_MAX + 1];
    char publish[256];
    uint64_t next_stream;
    agent_event_t *rx[AGENT_HOST_OUT_BATCH]; /* the last batch received */
    size_t rx_n, rx_i;                       /* held, next to hand out */
};

static uint32_t
s_or (uint32_t v, uint32_t dflt)
{
    return v ? v : dflt;
}

/* Fill the zeros with defaults; max_frame must be set already. */
static void
s_defaults (agent_host_config_t *c)
{
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
    s_defaults (c);

    /* Unique per host object for the life of the process: a name made
     * from the address alone was reused by the next host allocated at
     * that address while libzmq's reaper still held the old bind, so the
     * new bind failed and its pipe had no peer (agent_host_test caught a
     * host whose first event never arrived). */
    static atomic_uint_fast64_t s_hosts;
    char endpoint[64];
    snprintf (endpoint, sizeof endpoint, "inproc://agent-host-%" PRIu64 "-%p",
              (uint64_t) atomic_fetch_add (&s_hosts, 1), (void *) self);
    self->outbox = zsock_new (ZMQ_PAIR);
    self->events = zsock_new (ZMQ_PAIR);
    if (!self->outbox || !self->events) {
        zsock_destroy (&self->outbox);
        zsock_destroy (&self->events);
        free (self);
        return NULL;
    }
    /* The pipe holds batches of pointers (AGENT_HOST_OUT_BATCH each):
     * 2 + 2 messages are up to 1024 events of 4+ KiB in flight, and the
     * actor keeps its own bounded backlog behind them (the event pool,
     * agent_event.c, is sized for both). */
    zsock_set_sndhwm (self->outbox, 2);
    zsock_set_rcvhwm (self->events, 2);
    if (zsock_bind (self->outbox, "%s", endpoint) != 0
        || zsock_connect (self->events, "%s", endpoint) != 0) {
        zsock_destroy (&self->outbox);
        zsock_destroy (&self->events);
        free (self);
        return NULL;
    }
    void *args[2] = { &self->cfg, self->outbox };
    self->actor = zactor_new (agent_actor_run, args);
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
    while ((ev = agent_host_recv (self, 0)))
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
    return agent_host_add_shed_sink (self, shed, path, NULL);
}

int
agent_host_add_shed_sink (agent_host_t *self, const char *shed, const char *path, void *sink_arg)
{
    assert (self);
    if (!shed || !path)
        return -1;
    zmsg_t *msg = zmsg_new ();
    zmsg_addstr (msg, "ADD");
    zmsg_addstr (msg, shed);
    zmsg_addstr (msg, path);
    zmsg_addmem (msg, &sink_arg, sizeof sink_arg);
    zmsg_send (&msg, self->actor);
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

int
agent_host_set_limits (agent_host_t *self, const agent_host_config_t *limits)
{
    assert (self);
    assert (limits);
    /* Only the limits move; what the actor was built with (node, frames,
     * sockets, publishing) stays. */
    agent_host_config_t c = self->cfg;
    c.metrics_interval_ms = limits->metrics_interval_ms;
    c.heartbeat_ms = limits->heartbeat_ms;
    c.msgs_per_s = limits->msgs_per_s;
    c.msgs_burst = limits->msgs_burst;
    c.bytes_per_s = limits->bytes_per_s;
    c.bytes_burst = limits->bytes_burst;
    c.accepts_per_s = limits->accepts_per_s;
    c.services_max = limits->services_max;
    c.streams_max = limits->streams_max;
    s_defaults (&c);
    self->cfg = c;
    zmsg_t *msg = zmsg_new ();
    zmsg_addstr (msg, "LIMITS");
    zmsg_addstr (msg, "");
    zmsg_addmem (msg, &c, sizeof c);
    zmsg_send (&msg, self->actor);
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
        || msg->hdr.type == AGENT_CHUNK)
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
    m->u.agent_provision = *req; /* borrowed pointers; not freed */
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
        rc = agent_frame_decode (AGENT_METRICS, zframe_data (frame), zframe_size (frame), out, NULL)
                 ? -1
                 : 0;
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
    if (self->rx_i < self->rx_n)
        return self->rx[self->rx_i++];
    void *handle = zsock_resolve (self->events);
    if (timeout_ms != 0) {
        zmq_pollitem_t item = { handle, 0, ZMQ_POLLIN, 0 };
        if (zmq_poll (&item, 1, timeout_ms) <= 0)
            return NULL;
    }
    int n = zmq_recv (handle, self->rx, sizeof self->rx, ZMQ_DONTWAIT);
    /* Only the actor writes here, whole pointers, at most a buffer full. */
    if (n <= 0 || (size_t) n > sizeof self->rx || n % (int) sizeof self->rx[0])
        return NULL;
    self->rx_n = (size_t) n / sizeof self->rx[0];
    self->rx_i = 1;
    return self->rx[0];
}

size_t
agent_host_buffered (const agent_host_t *self)
{
    assert (self);
    return self->rx_n - self->rx_i;
}
