/*
 * agent_host.h - host side of the agent channel: one listener per shed.
 *
 * An agent_host_t is a czmq actor (one thread) that owns one Unix socket
 * listener per shed, at a path the owner chooses (`<dir>/<shed>.sock` for a
 * netns shed, Firecracker's `<vsock>_1026` for a microVM). The socket is the
 * shed's identity: the origin of every event (node, shed) is stamped here
 * from the owner's configuration, never taken from a payload.
 *
 * Every frame from an agent is checked in this order, cheapest first:
 *   type byte known, length <= max_frame     (else: counted, connection closed,
 *                                             framing cannot be trusted again)
 *   direction (agent -> host types only)     (else: counted, one strike)
 *   message and byte rate (token buckets)    (else: counted, one strike)
 *   msgpack shape + validator (codec)        (else: counted, one strike)
 *   protocol state (HELLO first, once)       (else: counted, one strike)
 *   chunk streams: order, per-stream and total bounds (else: counted, strike)
 *   per-shed quotas: distinct service and log stream names (else: counted,
 *                                             dropped, no strike)
 * `abuse_limit` strikes within a minute close the connection and refuse the
 * shed's reconnects for `abuse_cooldown_ms`. Rate buckets, strikes and
 * quotas belong to the shed, not to a connection: a reconnect resets none of
 * them, and reconnects themselves are rate-limited (`accepts_per_s`). Other sheds are unaffected: each
 * connection gets a bounded read per loop turn, sockets are non-blocking,
 * and outbound queues are bounded (a full queue refuses the send).
 *
 * Events come out of a separate PAIR socket (agent_host_events) as owned
 * agent_event_t pointers, batched (AGENT_HOST_OUT_BATCH per message,
 * LOG and METRICS held up to AGENT_HOST_OUT_DEFER_MS); commands and their
 * replies use the actor pipe, so
 * replies never mix with events (the zyre pattern). When the owner reads
 * events slower than agents produce them, the host stops reading agent
 * sockets (up to AGENT_HOST_EVENT_QUEUE events wait inside): agents then
 * buffer, drop their oldest and report the count (a DROPPED message).
 *
 * Example:
 *     agent_host_config_t cfg = { .node = "node-1", .metrics_interval_ms = 1000 };
 *     agent_host_t *host = agent_host_new (&cfg);
 *     agent_host_add_shed (host, "dev-1", "/run/shed/dev-1.agent.sock");
 *     agent_event_t *ev = agent_host_recv (host, -1);
 *     ... ev->kind, ev->shed, ev->seq, ev->msg.hdr.type, ev->msg.u.agent_metrics ...
 *     agent_event_destroy (&ev);
 *     agent_host_destroy (&host);
 */
#ifndef SHED_AGENT_HOST_H
#define SHED_AGENT_HOST_H

#include "agent/proto/agent_proto.h"
#include "bridges/agent_event.h"

#include <czmq.h>

#include <stdbool.h>
#include <stdint.h>

#define AGENT_HOST_SHEDS_MAX    1024        /* listeners per host object */
#define AGENT_HOST_EVENT_QUEUE  4096        /* events held before reads pause */
#define AGENT_HOST_READ_BUDGET  (64u << 10) /* bytes read per connection per turn */
/* Events cross to the owner as arrays of pointers, up to this many per
 * message: one wake-up of the owner per batch, not per event. */
#define AGENT_HOST_OUT_BATCH    256
/* LOG and METRICS events (the high-rate ones, which the owner only keeps
 * for history) may wait this long for more to join their batch; every
 * other event (hello, services, runs, disconnects) goes at once, and
 * takes whatever waits before it along, in order. */
#define AGENT_HOST_OUT_DEFER_MS 10

typedef struct _agent_host_t agent_host_t;

/* Zero means "the default" for every number. */
typedef struct {
    const char *node;              /* origin node name (required) */
    uint32_t max_frame;            /* payload bytes; default AGENT_FRAME_MAX_DEFAULT */
    uint32_t metrics_interval_ms;  /* told to agents; default 5000 */
    uint32_t heartbeat_ms;         /* both ways; 3x silence closes; default 5000 */
    uint32_t hello_timeout_ms;     /* time to say hello; default 5000 */
    uint32_t msgs_per_s;           /* per shed; default 2000 */
    uint32_t msgs_burst;           /* default 2 * msgs_per_s */
    uint32_t bytes_per_s;          /* per shed; default 4 MiB/s */
    uint32_t bytes_burst;          /* default 2 * bytes_per_s */
    uint32_t abuse_limit;          /* strikes per minute before a close; default 32 */
    uint32_t abuse_cooldown_ms;    /* reconnects refused after an abuse close; default 2000 */
    uint32_t out_queue_bytes;      /* host -> agent queue per shed; default 32 MiB */
    uint32_t socket_mode;          /* listener permissions; default 0660 */
    uint32_t accepts_per_s;        /* connections accepted per shed per second
                                         (burst 2x); beyond: closed at once, counted
                                         under "reconnect"; default 5 */
    uint32_t services_max;         /* distinct service names per shed; default 64 */
    uint32_t streams_max;          /* distinct log stream names per shed; default 32 */
    bool owner_publishes_services; /* SERVICE_* events are not published by the
                                         host: the owner publishes each one once its
                                         catalog accepted it (node_agents.c) */
    const char *publish_endpoint;  /* optional: the event bus's publish socket
                                         (bus_config_t.publish_endpoint). Every event
                                         is then also published from the host's own
                                         thread, [topic][kind][payload] batched per
                                         loop turn (the payload is the agent's own
                                         encoding, validated, not re-encoded); the
                                         owner still receives every event. NULL: the
                                         owner publishes (or not) itself. */
    /* optional: where LOG lines go, on the host's own thread, for the sheds
     * added with agent_host_add_shed_sink: `arg` is that shed's, the event is
     * lent for the call. Such LOGs are not delivered to the owner (they are
     * the one high-rate message, and keeping a history is all an owner does
     * with them); every other event still is. The sink must be quick and
     * thread-safe against the owner's own use of `arg`. */
    void (*log_sink) (void *arg, const agent_event_t *ev);
} agent_host_config_t;

/* Why frames were refused; indexes agent_host_stats_t.bad. */
typedef enum {
    AGENT_BAD_TYPE = 0,  /* unknown type byte (connection closed) */
    AGENT_BAD_OVERSIZE,  /* length over max_frame (connection closed) */
    AGENT_BAD_DIRECTION, /* a host -> agent type from the agent */
    AGENT_BAD_RATE,      /* over the message or byte rate */
    AGENT_BAD_DECODE,    /* codec or validator refused it */
    AGENT_BAD_STATE,     /* no HELLO first, or a second HELLO */
    AGENT_BAD_STREAM,    /* chunk out of order or over a bound */
    /* Not strikes: refusals by quota, counted and dropped (never delivered
     * nor published). These bounds hold per shed across its connections. */
    AGENT_BAD_RECONNECT,   /* a connection over accepts_per_s (closed) */
    AGENT_BAD_SERVICE_CAP, /* a new service name over services_max, or a
                                         DEREGISTER/HEALTH for a name never registered */
    AGENT_BAD_STREAM_CAP,  /* a LOG on a new stream name over streams_max */
    /* Counted by the owner (agent_host_count): */
    AGENT_BAD_SERVICE_ID, /* (shed, service) has no catalog id that fits */
    AGENT_BAD_CATALOG,    /* the catalog refused a registration */
    AGENT_BAD_MAX
} agent_bad_t;

/* Short name of a reason ("type", "oversize", ...). */
const char *agent_bad_name (agent_bad_t why);

typedef struct {
    bool connected;       /* an agent is connected and said hello */
    uint64_t connections; /* accepted connections */
    uint64_t refused;     /* connections refused during a cooldown */
    uint64_t frames_in, bytes_in;
    uint64_t frames_out, bytes_out;
    uint64_t events;     /* events handed to the owner */
    uint64_t heartbeats; /* heartbeats received (not delivered) */
    uint64_t bad[AGENT_BAD_MAX];
    uint64_t bad_total;
    uint64_t closes_abuse; /* closed for bad frames or rate */
    uint64_t closes_timeout;
    uint64_t agent_dropped; /* sum of the agent's DROPPED counts */
    uint64_t seq;           /* last sequence number stamped */
    uint64_t published;     /* handed to the bus (publish_endpoint) */
    uint64_t bus_dropped;   /* refused by a full bus queue, or not encodable */
} agent_host_stats_t;

/* Start the host actor. Returns NULL if the config is unusable (no node). */
agent_host_t *agent_host_new (const agent_host_config_t *config);

/* Stop, close every listener (removing their socket files), free queued
 * events. NULL-safe; nulls the caller's pointer. */
void agent_host_destroy (agent_host_t **self_p);

/* Change the limits while running (SIGHUP): metrics_interval_ms,
 * heartbeat_ms, msgs_per_s/_burst, bytes_per_s/_burst, accepts_per_s,
 * services_max, streams_max of `limits` (0 = the default, as at start;
 * every other field is ignored). Every shed's rate buckets take the new
 * rates at once (tokens kept up to the new burst); a lowered name cap
 * refuses new names only (names held stay); each connected agent gets a
 * fresh HELLO_ACK with the new settings. Returns 0, or -1 if the actor did
 * not answer. */
int agent_host_set_limits (agent_host_t *self, const agent_host_config_t *limits);

/* Listen for shed `shed`'s agent at `path` (a stale socket file there is
 * replaced). Returns 0, or -1 (bad name, path too long, duplicate shed,
 * bind failure, AGENT_HOST_SHEDS_MAX reached). */
int agent_host_add_shed (agent_host_t *self, const char *shed, const char *path);

/* The same, and the shed's LOGs go to config.log_sink with `sink_arg` (not
 * NULL) instead of to the owner. `sink_arg` must stay valid until
 * agent_host_remove_shed or agent_host_destroy returns. */
int agent_host_add_shed_sink (agent_host_t *self, const char *shed, const char *path,
                              void *sink_arg);

/* Close shed's listener and connection (a DISCONNECTED event follows if an
 * agent was connected) and remove its socket file. Returns 0 or -1. */
int agent_host_remove_shed (agent_host_t *self, const char *shed);

/* Send a host -> agent message (PROVISION, CLOSE...). Larger than max_frame
 * goes as a chunk stream. Returns 0 queued, -1 no such shed or no agent
 * connected, -2 the shed's outbound queue is full, -3 not encodable or not a
 * host -> agent type. */
int agent_host_send (agent_host_t *self, const char *shed, const agent_msg_t *msg);

/* Convenience: send a provisioning run. Same returns as agent_host_send. */
int agent_host_provision (agent_host_t *self, const char *shed, const agent_provision_t *req);

/* Latest METRICS of a shed into *out (caller frees with wire_msg_free
 * (&agent_proto, out)), with the host time it arrived. Returns 0, or -1 if
 * the shed is unknown or never sent any. */
int agent_host_metrics (agent_host_t *self, const char *shed, agent_msg_t *out, int64_t *ts_ms);

/* Count a refusal the owner made (AGENT_BAD_SERVICE_ID, AGENT_BAD_CATALOG)
 * in the shed's counters; no strike. Asynchronous: no answer. */
void agent_host_count (agent_host_t *self, const char *shed, agent_bad_t why);

/* Counters of a shed. Returns 0 or -1 if unknown. */
int agent_host_stats (agent_host_t *self, const char *shed, agent_host_stats_t *out);

/* Socket that is readable when events wait (for zloop / zpoller). A
 * message holds several events: when it is readable, call agent_host_recv
 * (self, 0) until agent_host_buffered is 0, or events stay in the buffer
 * with nothing to wake the poller. */
zsock_t *agent_host_events (agent_host_t *self);

/* Next event: timeout_ms -1 waits, 0 does not. NULL on timeout or
 * interrupt. The caller owns the event. */
agent_event_t *agent_host_recv (agent_host_t *self, int timeout_ms);

/* Events already received from the socket and not yet returned by
 * agent_host_recv. */
size_t agent_host_buffered (const agent_host_t *self);

#endif
