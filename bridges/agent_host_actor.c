/*
 * agent_host_actor.c - the agent host's actor: one zmq_poll over the
 * command pipe, the event outbox and every listener and connection fd, a
 * 250 ms tick for timeouts and heartbeats (agent_host_int.h). Connections
 * are accepted, written and closed here; what they read is
 * agent_host_frames.c's.
 */
#include "bridges/agent_host_int.h"

#include "common/log.h"

#include <assert.h>
#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <unistd.h>

#define S_TICK_MS 250

/* ------------------------------------------------------------------------ */
/*  Events to the owner                                                     */
/* ------------------------------------------------------------------------ */

/* Stamp an event's header (the message is filled by the caller). */
void
agent_actor_stamp (agent_actor_t *self, agent_shed_t *shed, agent_event_t *ev,
                   agent_event_kind_t kind)
{
    /* Field by field, not a memset of the header: the event comes from
     * the pool, last written on the owner's core, and every line written
     * is one fetched; `reason` (256 bytes) is only read for DISCONNECTED,
     * which sets it. */
    ev->kind = kind;
    ev->reason[0] = 0;
    memcpy (ev->node, self->node, sizeof ev->node);
    memcpy (ev->shed, shed->name, sizeof ev->shed);
    ev->seq = ++shed->stats.seq;
    ev->ts_ms = self->now_wall_ms ? self->now_wall_ms : agent_clock_wall_ms ();
}

agent_event_t *
agent_actor_event (agent_actor_t *self, agent_shed_t *shed, agent_event_kind_t kind)
{
    /* Only the header is zeroed: the message is filled by its owner. */
    agent_event_t *ev = agent_event_new ();
    if (!ev)
        return NULL;
    agent_actor_stamp (self, shed, ev, kind);
    ev->msg.hdr.type = 0;
    return ev;
}

void
agent_actor_deliver (agent_actor_t *self, agent_shed_t *shed, agent_event_t *ev,
                     const uint8_t *payload, size_t len)
{
    shed->stats.events++;
    unsigned type = ev->kind == AGENT_EVENT_MESSAGE ? ev->msg.hdr.type : 0;
    bool service = type == AGENT_SERVICE_REGISTER || type == AGENT_SERVICE_DEREGISTER
                   || type == AGENT_SERVICE_HEALTH;
    if (self->pub && !(service && self->cfg.owner_publishes_services))
        agent_pub_add (self->pub, &shed->stats, ev, payload, len);
    if (type == AGENT_LOG && shed->sink_arg && self->cfg.log_sink) {
        /* Kept by the sink on this thread: the event goes back to this
         * thread's pool, still in this core's cache, and the owner's
         * thread never wakes for it. */
        self->cfg.log_sink (shed->sink_arg, ev);
        agent_event_destroy (&ev);
        return;
    }
    /* The owner keeps LOG and METRICS for history only: they may wait a
     * little to share a batch (one wake-up of the owner's thread, not one
     * per event). Anything else goes at once. */
    if (type != AGENT_LOG && type != AGENT_METRICS)
        self->pend_urgent = true;
    if (self->pend_n == 0)
        self->pend_since_ms = agent_clock_mono_ms ();
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

/* Whether pending events should go to the owner now: a full batch, an
 * event that must not wait, or the oldest has waited long enough. */
static bool
s_events_due (const agent_actor_t *self, int64_t now)
{
    return self->pend_n
           && (self->pend_urgent || self->pend_n >= AGENT_HOST_OUT_BATCH
               || now - self->pend_since_ms >= AGENT_HOST_OUT_DEFER_MS);
}

/* Move pending events into the outbox, AGENT_HOST_OUT_BATCH pointers per
 * message, until it is full (then out_full: the loop polls for room). */
static void
s_flush_events (agent_actor_t *self)
{
    self->out_full = false;
    if (!s_events_due (self, agent_clock_mono_ms ()))
        return;
    void *handle = zsock_resolve (self->outbox);
    agent_event_t *batch[AGENT_HOST_OUT_BATCH];
    while (self->pend_n) {
        size_t k = self->pend_n < AGENT_HOST_OUT_BATCH ? self->pend_n : AGENT_HOST_OUT_BATCH;
        for (size_t i = 0; i < k; i++)
            batch[i] = self->pending[(self->pend_head + i) % self->pend_cap];
        if (zmq_send (handle, batch, k * sizeof batch[0], ZMQ_DONTWAIT)
            != (int) (k * sizeof batch[0])) {
            self->out_full = true; /* full (or terminating): keep them for later */
            return;
        }
        self->pend_head = (self->pend_head + k) % self->pend_cap;
        self->pend_n -= k;
    }
    self->pend_urgent = false;
}

/* ------------------------------------------------------------------------ */
/*  Connections                                                             */
/* ------------------------------------------------------------------------ */

/* Queue a frame to the agent (refused when the queue is full). */
static int
s_queue_sink (void *arg, uint8_t *frame, size_t len)
{
    agent_shed_t *shed = arg;
    return agent_outq_push (shed->outq, frame, len);
}

int
agent_actor_send (agent_actor_t *self, agent_shed_t *shed, const agent_msg_t *msg)
{
    return agent_frame_send (msg, self->cfg.max_frame, ++shed->next_stream, s_queue_sink, shed);
}

/* Close the agent's connection, telling it why (best effort, not queued:
 * a peer we are dropping gets no more buffer space). */
void
agent_actor_close (agent_actor_t *self, agent_shed_t *shed, uint64_t code, const char *reason)
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
    log_info (AGENT_HOST_COMP, "agent disconnected|shed=%s reason=\"%s\"", shed->name, reason);
    agent_shed_conn_reset (shed);
    if (had_hello || code == AGENT_CLOSE_ABUSE) {
        agent_event_t *ev = agent_actor_event (self, shed, AGENT_EVENT_DISCONNECTED);
        if (ev) {
            memset (&ev->msg, 0, sizeof ev->msg.hdr);
            snprintf (ev->reason, sizeof ev->reason, "%s", reason);
            agent_actor_deliver (self, shed, ev, NULL, 0);
        }
    }
}

static void
s_on_accept (agent_actor_t *self, agent_shed_t *shed)
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
        agent_shed_refuse (shed, AGENT_BAD_RECONNECT, NULL);
        close (fd);
        return;
    }
    if (shed->fd >= 0)
        /* The newest connection wins: a restarted agent must not wait for
         * the old connection's timeout. Both are inside the same shed. */
        agent_actor_close (self, shed, AGENT_CLOSE_REPLACED, "replaced");
    /* Frames from the agent are bounded like its streams: no agent -> host
     * message needs more, and decoding costs ~25x a frame's size in
     * msgpack objects (docs/agent.md, "Memory of one frame"). max_frame
     * still bounds what the host sends. */
    shed->read_max = self->cfg.max_frame < AGENT_STREAM_TO_HOST_MAX ? self->cfg.max_frame
                                                                    : AGENT_STREAM_TO_HOST_MAX;
    shed->reader = agent_reader_new (shed->read_max);
    shed->reader_mid = false;
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
s_on_writable (agent_actor_t *self, agent_shed_t *shed)
{
    size_t before = agent_outq_bytes (shed->outq);
    int n = agent_outq_flush (shed->outq, shed->fd, 1024);
    if (n < 0) {
        agent_actor_close (self, shed, 0, "write error");
        return;
    }
    shed->stats.frames_out += (uint64_t) n;
    shed->stats.bytes_out += before - agent_outq_bytes (shed->outq);
    shed->last_tx_ms = agent_clock_mono_ms ();
}

/* When the owner is behind, the host stops reading agents: backpressure
 * reaches them through their socket buffers. */
static bool
s_paused (const agent_actor_t *self)
{
    return self->pend_n >= AGENT_HOST_EVENT_QUEUE;
}

/* Timeouts and heartbeats, every S_TICK_MS. `paused`: the host is not
 * reading agents (its owner is behind), so an agent's silence is ours,
 * not its own: its receive clock restarts instead of running out (a
 * flood that backed up for 15 s used to close a live agent for
 * "timeout"). */
static void
s_tick (agent_actor_t *self, bool paused)
{
    int64_t now = agent_clock_mono_ms ();
    for (agent_shed_t *shed = zlist_first (self->sheds); shed; shed = zlist_next (self->sheds)) {
        if (shed->fd < 0)
            continue;
        if (paused)
            shed->last_rx_ms = now;
        if (!shed->hello && now - shed->connected_ms > self->cfg.hello_timeout_ms) {
            shed->stats.closes_timeout++;
            agent_actor_close (self, shed, AGENT_CLOSE_TIMEOUT, "no hello");
            continue;
        }
        if (now - shed->last_rx_ms > 3 * (int64_t) self->cfg.heartbeat_ms) {
            shed->stats.closes_timeout++;
            agent_actor_close (self, shed, AGENT_CLOSE_TIMEOUT, "timeout");
            continue;
        }
        if (shed->hello && now - shed->last_tx_ms >= self->cfg.heartbeat_ms
            && agent_outq_frames (shed->outq) == 0) {
            agent_msg_t hb;
            memset (&hb, 0, sizeof hb);
            hb.hdr.type = AGENT_HEARTBEAT;
            hb.u.agent_heartbeat.ts_ms = (uint64_t) agent_clock_wall_ms ();
            agent_actor_send (self, shed, &hb);
            shed->last_tx_ms = now;
        }
    }
}

/* ------------------------------------------------------------------------ */
/*  Commands and the loop                                                   */
/* ------------------------------------------------------------------------ */

static agent_shed_t *
s_shed_find (agent_actor_t *self, const char *name)
{
    for (agent_shed_t *s = zlist_first (self->sheds); s; s = zlist_next (self->sheds))
        if (strcmp (s->name, name) == 0)
            return s;
    return NULL;
}

/* ADD: a new shed's listener. */
static int
s_shed_add (agent_actor_t *self, const char *name, const char *path, void *sink_arg)
{
    if (s_shed_find (self, name) || zlist_size (self->sheds) >= AGENT_HOST_SHEDS_MAX)
        return -1;
    agent_shed_t *shed = agent_shed_new (&self->cfg, name, path);
    if (!shed)
        return -1;
    shed->sink_arg = sink_arg;
    zlist_append (self->sheds, shed);
    return 0;
}

static void
s_reply_int (agent_actor_t *self, int rc)
{
    zsock_send (self->pipe, "i", rc);
}

static void
s_on_command (agent_actor_t *self)
{
    zmsg_t *msg = zmsg_recv (self->pipe);
    if (!msg) {
        self->terminated = true;
        return;
    }
    char *cmd = zmsg_popstr (msg);
    char *name = zmsg_popstr (msg);
    agent_shed_t *shed = name ? s_shed_find (self, name) : NULL;
    if (!cmd)
        ;
    else if (streq (cmd, "$TERM"))
        self->terminated = true;
    else if (streq (cmd, "ADD")) {
        char *path = zmsg_popstr (msg);
        void *sink_arg = NULL;
        zframe_t *f = zmsg_first (msg);
        if (f && zframe_size (f) == sizeof sink_arg)
            memcpy (&sink_arg, zframe_data (f), sizeof sink_arg);
        s_reply_int (self, name && path ? s_shed_add (self, name, path, sink_arg) : -1);
        free (path);
    }
    else if (streq (cmd, "REMOVE")) {
        int rc = shed ? 0 : -1;
        if (shed) {
            agent_actor_close (self, shed, AGENT_CLOSE_SHUTDOWN, "removed");
            agent_pub_flush (self->pub); /* its records point at its stats */
            zlist_remove (self->sheds, shed);
            agent_shed_destroy (&shed);
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
    else if (streq (cmd, "LIMITS")) {
        /* The owner resolved the defaults; only the limits are taken. */
        zframe_t *f = zmsg_first (msg);
        int rc = -1;
        if (f && zframe_size (f) == sizeof (agent_host_config_t)) {
            agent_host_config_t c;
            memcpy (&c, zframe_data (f), sizeof c);
            agent_host_config_t *mine = &self->cfg;
            mine->metrics_interval_ms = c.metrics_interval_ms;
            mine->heartbeat_ms = c.heartbeat_ms;
            mine->msgs_per_s = c.msgs_per_s;
            mine->msgs_burst = c.msgs_burst;
            mine->bytes_per_s = c.bytes_per_s;
            mine->bytes_burst = c.bytes_burst;
            mine->accepts_per_s = c.accepts_per_s;
            mine->services_max = c.services_max;
            mine->streams_max = c.streams_max;
            size_t told = 0;
            for (agent_shed_t *s = zlist_first (self->sheds); s; s = zlist_next (self->sheds)) {
                agent_shed_set_limits (s, mine);
                /* Connected agents pace to the rates of their HELLO_ACK:
                 * a fresh one tells them the new ones (docs/agent.md). */
                if (s->fd >= 0 && s->hello && agent_frames_ack (self, s) == 0)
                    told++;
            }
            log_info (AGENT_HOST_COMP,
                      "limits changed|msgs_per_s=%u bytes_per_s=%u accepts_per_s=%u "
                      "services_max=%u streams_max=%u metrics_interval_ms=%u heartbeat_ms=%u "
                      "sheds=%zu agents_told=%zu",
                      mine->msgs_per_s, mine->bytes_per_s, mine->accepts_per_s, mine->services_max,
                      mine->streams_max, mine->metrics_interval_ms, mine->heartbeat_ms,
                      zlist_size (self->sheds), told);
            rc = 0;
        }
        s_reply_int (self, rc);
    }
    else if (streq (cmd, "STATS")) {
        if (shed)
            zsock_send (self->pipe, "ib", 0, &shed->stats, sizeof shed->stats);
        else
            zsock_send (self->pipe, "ib", -1, NULL, (size_t) 0);
    }
    else
        log_warn (AGENT_HOST_COMP, "unknown command|cmd=%s", cmd);
    free (cmd);
    free (name);
    zmsg_destroy (&msg);
}

/* Poll set entry: which shed and which of its fds. */
typedef struct {
    agent_shed_t *shed;
    bool listener;
} s_slot_t;

void
agent_actor_run (zsock_t *pipe, void *args)
{
    /* Named for `top -H` and per-thread CPU (bench/events.sh). */
    prctl (PR_SET_NAME, "shed-agents", 0, 0, 0);
    agent_actor_t self;
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
    if (self.cfg.publish_endpoint && self.cfg.publish_endpoint[0])
        /* One record may be a whole max frame and its topic. */
        self.pub = agent_pub_new (self.cfg.publish_endpoint, self.cfg.max_frame + 1024u);
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
        items[n++] = (zmq_pollitem_t){ zsock_resolve (pipe), 0, ZMQ_POLLIN, 0 };
        items[n++] =
            (zmq_pollitem_t){ zsock_resolve (self.outbox), 0, self.out_full ? ZMQ_POLLOUT : 0, 0 };
        bool paused = s_paused (&self);
        for (agent_shed_t *s = zlist_first (self.sheds); s; s = zlist_next (self.sheds)) {
            slots[n] = (s_slot_t){ s, true };
            items[n++] = (zmq_pollitem_t){ NULL, s->listen_fd, paused ? 0 : ZMQ_POLLIN, 0 };
            if (s->fd >= 0) {
                short ev = paused ? 0 : ZMQ_POLLIN;
                if (agent_outq_frames (s->outq))
                    ev |= ZMQ_POLLOUT;
                slots[n] = (s_slot_t){ s, false };
                items[n++] = (zmq_pollitem_t){ NULL, s->fd, ev, 0 };
            }
        }
        int64_t now = agent_clock_mono_ms (), wait = self.next_tick_ms - now;
        /* Deferred events are due by their deadline, not the next tick. */
        if (self.pend_n && !self.out_full
            && self.pend_since_ms + AGENT_HOST_OUT_DEFER_MS - now < wait)
            wait = self.pend_since_ms + AGENT_HOST_OUT_DEFER_MS - now;
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
                agent_shed_t *s = slots[i].shed;
                /* A REMOVE above may have freed this shed. */
                if (!zlist_exists (self.sheds, s))
                    continue;
                if (slots[i].listener)
                    s_on_accept (&self, s);
                else if (items[i].fd == s->fd) {
                    if (items[i].revents & (ZMQ_POLLIN | ZMQ_POLLERR))
                        agent_frames_on_readable (&self, s);
                    if (s->fd == items[i].fd && (items[i].revents & ZMQ_POLLOUT))
                        s_on_writable (&self, s);
                }
            }
        }
        /* Frames queued while handling input go out now, not next turn. */
        for (agent_shed_t *s = zlist_first (self.sheds); s; s = zlist_next (self.sheds))
            if (s->fd >= 0 && agent_outq_frames (s->outq))
                s_on_writable (&self, s);
        if (agent_clock_mono_ms () >= self.next_tick_ms) {
            s_tick (&self, s_paused (&self));
            self.next_tick_ms = agent_clock_mono_ms () + S_TICK_MS;
        }
        agent_pub_flush (self.pub);
        s_flush_events (&self);
    }
    agent_pub_destroy (&self.pub);
    if (self.spare) {
        wire_msg_free (&agent_proto, &self.spare->msg);
        free (self.spare);
    }

    agent_shed_t *s;
    while ((s = zlist_pop (self.sheds)))
        agent_shed_destroy (&s);
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
    agent_event_pool_drain ();
}
