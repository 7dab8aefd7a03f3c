/*
 * agent_host_frames.c - frames from an agent, in the order agent_host.h
 * lists the checks: framing (the reader), direction, rates, decode and
 * validation, protocol state, streams, quotas; then HELLO and dispatch
 * into events. Every refusal is a strike (agent_host_shed.c) but quotas.
 */
#include "bridges/agent_host_int.h"

#include "common/log.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

/* Count a refused frame; returns true if the connection was closed. */
bool
agent_frames_bad (agent_actor_t *self, agent_shed_t *shed, agent_bad_t why, const char *detail)
{
    if (!agent_shed_strike (shed, &self->cfg, why, detail))
        return false;
    char reason[64];
    snprintf (reason, sizeof reason, "abuse: %s", agent_bad_name (why));
    agent_shed_cooldown (shed, &self->cfg, why);
    agent_actor_close (self, shed, AGENT_CLOSE_ABUSE, reason);
    return true;
}

int
agent_frames_ack (agent_actor_t *self, agent_shed_t *shed)
{
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
    return agent_actor_send (self, shed, &ack);
}

static void
s_on_hello (agent_actor_t *self, agent_shed_t *shed, agent_msg_t *msg)
{
    shed->hello = true;
    shed->stats.connected = true;
    agent_frames_ack (self, shed);
    if (strcmp (msg->u.agent_hello.shed, shed->name) != 0 && msg->u.agent_hello.shed[0])
        log_info (AGENT_HOST_COMP, "agent believes another name|shed=%s claimed=\"%s\"", shed->name,
                  msg->u.agent_hello.shed);
    log_info (AGENT_HOST_COMP, "agent connected|shed=%s version=\"%s\"", shed->name,
              msg->u.agent_hello.agent_version);
}

/* A decoded message of an allowed type; `payload` is its encoding. Returns
 * true if the connection was closed. */
static bool
s_dispatch (agent_actor_t *self, agent_shed_t *shed, agent_msg_t *msg, const uint8_t *payload,
            size_t len)
{
    unsigned type = msg->hdr.type;
    if (!shed->hello && type != AGENT_HELLO) {
        wire_msg_free (&agent_proto, msg);
        return agent_frames_bad (self, shed, AGENT_BAD_STATE, "no hello");
    }
    if (shed->hello && type == AGENT_HELLO) {
        wire_msg_free (&agent_proto, msg);
        return agent_frames_bad (self, shed, AGENT_BAD_STATE, "second hello");
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
        agent_actor_close (self, shed, 0, "agent closed");
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
        if (!agent_shed_quota_ok (shed, &self->cfg, msg)) {
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
        agent_actor_stamp (self, shed, ev, kind);
    }
    else {
        ev = agent_actor_event (self, shed, kind);
        if (!ev) {
            wire_msg_free (&agent_proto, msg);
            return false;
        }
        /* The decoded message moves into the event: a struct copy hands
         * over its owned pointers. */
        ev->msg = *msg;
        memset (msg, 0, sizeof msg->hdr);
    }
    agent_actor_deliver (self, shed, ev, payload, len);
    return false;
}

/* One complete frame from the reader. Returns true if the connection closed. */
static bool
s_on_frame (agent_actor_t *self, agent_shed_t *shed, uint8_t type, const uint8_t *payload,
            size_t len, int64_t now)
{
    shed->stats.frames_in++;
    shed->last_rx_ms = now;
    if (!(agent_msg_direction (type) & AGENT_DIR_TO_HOST))
        return agent_frames_bad (self, shed, AGENT_BAD_DIRECTION, agent_msg_type_name (type));
    if (!agent_bucket_take (&shed->msgs, 1, now)
        || !agent_bucket_take (&shed->bytes, (double) (len + AGENT_FRAME_HEADER), now))
        return agent_frames_bad (self, shed, AGENT_BAD_RATE, NULL);

    /* Decode straight into a spare event: kept, it is handed over as is. */
    if (!self->spare)
        self->spare = agent_event_new ();
    agent_msg_t stack_msg;
    agent_msg_t *msg = self->spare ? &self->spare->msg : &stack_msg;
    const char *field = NULL;
    int rc = agent_frame_decode (type, payload, len, msg, &field);
    if (rc) {
        char detail[96];
        snprintf (detail, sizeof detail, "%s: %s", wire_strerror (rc), field ? field : "");
        return agent_frames_bad (self, shed, AGENT_BAD_DECODE, detail);
    }
    if (type != AGENT_CHUNK)
        return s_dispatch (self, shed, msg, payload, len);

    if (!shed->hello) {
        wire_msg_free (&agent_proto, msg);
        return agent_frames_bad (self, shed, AGENT_BAD_STATE, "chunk before hello");
    }
    if (!shed->streams)
        shed->streams = agent_streams_new (AGENT_STREAM_TO_HOST_MAX,
                                           AGENT_STREAMS_TO_HOST_TOTAL_MAX, AGENT_STREAMS_OPEN_MAX);
    uint8_t inner = 0;
    uint8_t *whole = NULL;
    size_t whole_len = 0;
    rc = shed->streams
             ? agent_streams_add (shed->streams, &msg->u.agent_chunk, &inner, &whole, &whole_len)
             : AGENT_STREAM_ERR_NOMEM;
    wire_msg_free (&agent_proto, msg);
    if (rc < 0)
        return agent_frames_bad (self, shed, AGENT_BAD_STREAM, "reassembly");
    if (rc == AGENT_STREAM_PARTIAL)
        return false;
    bool closed;
    if (!(agent_msg_direction (inner) & AGENT_DIR_TO_HOST) || inner == AGENT_HELLO)
        closed = agent_frames_bad (self, shed, AGENT_BAD_DIRECTION, "streamed type");
    else if ((rc = agent_frame_decode (inner, whole, whole_len, msg, &field)) != 0)
        closed = agent_frames_bad (self, shed, AGENT_BAD_DECODE, "streamed message");
    else
        closed = s_dispatch (self, shed, msg, whole, whole_len);
    free (whole);
    return closed;
}

/* Read at most one budget's worth and handle the frames in it. */
void
agent_frames_on_readable (agent_actor_t *self, agent_shed_t *shed)
{
    ssize_t n = recv (shed->fd, self->rbuf, AGENT_HOST_READ_BUDGET, MSG_DONTWAIT);
    if (n == 0) {
        agent_actor_close (self, shed, 0, "eof");
        return;
    }
    if (n < 0) {
        /* A reset is how a peer that closes with unread data looks. */
        if (errno == ECONNRESET)
            agent_actor_close (self, shed, 0, "eof");
        else if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)
            agent_actor_close (self, shed, 0, "read error");
        return;
    }
    shed->stats.bytes_in += (uint64_t) n;
    /* One clock read per read, not per frame: a read holds many frames. */
    int64_t now = agent_clock_mono_ms ();
    self->now_wall_ms = agent_clock_wall_ms ();
    size_t pos = 0;
    while (pos < (size_t) n) {
        /* A whole frame in the read buffer, with the reader between
         * frames: handled in place, not copied into the reader first (a
         * flood is hundreds of ~100-byte frames per read). Anything else
         * (a frame cut by the read, a bad type, an oversize length) goes
         * through the reader, which keeps the partial frame or names the
         * error exactly as before. */
        size_t left = (size_t) n - pos;
        const uint8_t *h = self->rbuf + pos;
        if (!shed->reader_mid && left >= AGENT_FRAME_HEADER && agent_msg_direction (h[0]) != 0) {
            uint32_t want =
                (uint32_t) h[1] << 24 | (uint32_t) h[2] << 16 | (uint32_t) h[3] << 8 | h[4];
            if (want <= shed->read_max && left - AGENT_FRAME_HEADER >= want) {
                pos += AGENT_FRAME_HEADER + want;
                if (s_on_frame (self, shed, h[0], h + AGENT_FRAME_HEADER, want, now)) {
                    self->now_wall_ms = 0;
                    return;
                }
                continue;
            }
        }
        size_t used = 0;
        int rc = agent_reader_feed (shed->reader, h, left, &used);
        pos += used;
        /* MORE takes every byte it is given: part of a frame is held. */
        shed->reader_mid = rc == AGENT_READ_MORE && used > 0;
        if (rc == AGENT_READ_FRAME) {
            size_t len = 0;
            const uint8_t *payload = agent_reader_payload (shed->reader, &len);
            if (s_on_frame (self, shed, agent_reader_type (shed->reader), payload, len, now)) {
                self->now_wall_ms = 0;
                return;
            }
        }
        else if (rc < 0) {
            agent_frames_bad (self, shed,
                              rc == AGENT_READ_ERR_TYPE ? AGENT_BAD_TYPE : AGENT_BAD_OVERSIZE,
                              "framing");
            self->now_wall_ms = 0;
            return;
        }
    }
    self->now_wall_ms = 0;
}
