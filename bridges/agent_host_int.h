/*
 * agent_host_int.h - the agent host's insides, shared by its own files
 * only (nothing outside bridges/agent_host*.c includes this; the owner's
 * API is agent_host.h). One actor thread owns everything here.
 *
 *   agent_host.c          the owner's API: config defaults, commands down
 *                         the actor pipe, events out of the outbox
 *   agent_host_actor.c    the actor: one zmq_poll over the pipe, the outbox
 *                         and every listener and connection; accept, write,
 *                         close, the 250 ms tick (timeouts, heartbeats), the
 *                         events' way to the owner
 *   agent_host_frames.c   frames from an agent: the validation pipeline of
 *                         agent_host.h, strikes, HELLO, dispatch, streams
 *   agent_host_shed.c     one shed's state: its listener, its quotas on
 *                         names, its counters (agent_shed_t)
 *   agent_pub.c           events to the bus from this thread (agent_pub_t)
 *   agent_event.c         the events themselves and their pool
 */
#ifndef SHED_AGENT_HOST_INT_H
#define SHED_AGENT_HOST_INT_H

#include "bridges/agent_host.h"
#include "bridges/agent_pub.h"

#include "agent/proto/agent_bucket.h"
#include "agent/proto/agent_outq.h"
#include "agent/proto/agent_reader.h"
#include "agent/proto/agent_streams.h"

#include <czmq.h>
#include <sys/un.h>

#define AGENT_HOST_COMP "agent-host" /* log component */

/* ------------------------------------------------------------------------ */
/*  One shed (agent_host_shed.c)                                            */
/* ------------------------------------------------------------------------ */

/* Rate buckets, strikes and quotas are the shed's, not a connection's: a
 * close-and-reconnect must not buy a fresh budget (docs/agent.md, section
 * 5). The connection's parts (fd, reader, streams) are reset on close. */
typedef struct {
    char name[AGENT_NAME_MAX + 1];
    char path[sizeof ((struct sockaddr_un *) 0)->sun_path];
    int listen_fd;
    int fd;               /* the agent's connection, or -1 */
    bool hello;           /* HELLO received on this connection */
    int64_t connected_ms; /* monotonic */
    int64_t last_rx_ms, last_tx_ms;
    int64_t cooldown_until_ms; /* refuse connections until then */
    int64_t strike_window_ms;  /* start of the current strike window */
    uint32_t strikes;
    agent_bucket_t msgs, bytes;
    agent_bucket_t accepts; /* connections per second */
    zhashx_t *services;     /* service names registered (value unused) */
    zhashx_t *streams_seen; /* log stream names used (value unused) */
    /* The last stream name found in streams_seen: a flood is one stream,
     * so the quota check is one compare, not a hash lookup, per LOG. */
    char last_stream[AGENT_STREAM_NAME_MAX + 1];
    agent_reader_t *reader;   /* per connection */
    uint32_t read_max;        /* the reader's frame bound (agent_frames_on_readable) */
    bool reader_mid;          /* the reader holds part of a frame */
    agent_streams_t *streams; /* per connection, made at the first CHUNK */
    agent_outq_t *outq;       /* host -> agent frames */
    uint64_t next_stream;     /* host -> agent chunk stream ids */
    agent_host_stats_t stats;
    uint8_t *metrics; /* payload of the latest METRICS */
    size_t metrics_len;
    int64_t metrics_ts_ms;
    void *sink_arg; /* the owner's, for cfg.log_sink (agent_host_add_shed_sink) */
} agent_shed_t;

/* A shed listening at `path` (a stale socket file there is replaced), with
 * the limits of `cfg` (defaults applied). NULL on a bad name or path, or
 * if it cannot listen (logged). */
agent_shed_t *agent_shed_new (const agent_host_config_t *cfg, const char *name, const char *path);

/* Close its connection and listener, remove the socket file. NULL-safe. */
void agent_shed_destroy (agent_shed_t **self_p);

/* Forget the connection (closes the fd; the shed's budgets stay). */
void agent_shed_conn_reset (agent_shed_t *self);

/* Count a refusal that is not a strike (quotas, reconnects, the owner's);
 * the first of each reason and every power of two are logged. */
void agent_shed_refuse (agent_shed_t *self, agent_bad_t why, const char *name);

/* The shed's quotas on names (services, log streams): false if `msg` is
 * refused (counted). A DEREGISTER forgets its name. */
bool agent_shed_quota_ok (agent_shed_t *self, const agent_host_config_t *cfg,
                          const agent_msg_t *msg);

/* Count a bad frame and a strike; true if the connection must close for
 * abuse (framing lost, or abuse_limit strikes within the window). */
bool agent_shed_strike (agent_shed_t *self, const agent_host_config_t *cfg, agent_bad_t why,
                        const char *detail);

/* New limits (agent_host_set_limits): the shed's buckets take the new
 * rates and bursts at once, keeping the tokens they have up to the new
 * burst; names it holds beyond a lowered cap are kept (only new names are
 * refused). */
void agent_shed_set_limits (agent_shed_t *self, const agent_host_config_t *cfg);

/* Start the cooldown after an abuse close (reconnects refused until it
 * ends; the next connection starts a new strike window). */
void agent_shed_cooldown (agent_shed_t *self, const agent_host_config_t *cfg, agent_bad_t why);

/* ------------------------------------------------------------------------ */
/*  The actor (agent_host_actor.c)                                          */
/* ------------------------------------------------------------------------ */

typedef struct {
    zsock_t *pipe;        /* commands from the owner */
    zsock_t *outbox;      /* events to the owner */
    agent_pub_t *pub;     /* to the bus (publish_endpoint), or NULL */
    agent_event_t *spare; /* frames decode into its msg: no copy when kept */
    int64_t now_wall_ms;  /* wall clock of the current read */
    agent_host_config_t cfg;
    char node[AGENT_NAME_MAX + 1];
    zlist_t *sheds;          /* agent_shed_t, owned */
    agent_event_t **pending; /* ring of events not yet in the outbox */
    size_t pend_head, pend_n, pend_cap;
    int64_t pend_since_ms; /* when the oldest pending event came */
    bool pend_urgent;      /* one that must not wait is pending */
    bool out_full;         /* the outbox refused a batch: wait for POLLOUT */
    bool terminated;
    int64_t next_tick_ms;
    uint8_t *rbuf; /* AGENT_HOST_READ_BUDGET bytes */
} agent_actor_t;

/* The actor's body (zactor_fn); args: { agent_host_config_t *, zsock_t *outbox }. */
void agent_actor_run (zsock_t *pipe, void *args);

/* Stamp an event's header (origin, seq, time) for shed; msg is the caller's. */
void agent_actor_stamp (agent_actor_t *self, agent_shed_t *shed, agent_event_t *ev,
                        agent_event_kind_t kind);

/* A new event from the pool, its header stamped and no message yet. NULL
 * if out of memory. */
agent_event_t *agent_actor_event (agent_actor_t *self, agent_shed_t *shed, agent_event_kind_t kind);

/* Hand an event to the owner (and the bus); takes it. `payload` is its
 * message's encoding as received, or NULL. */
void agent_actor_deliver (agent_actor_t *self, agent_shed_t *shed, agent_event_t *ev,
                          const uint8_t *payload, size_t len);

/* Encode and queue a message to the shed's agent (chunked if large). */
int agent_actor_send (agent_actor_t *self, agent_shed_t *shed, const agent_msg_t *msg);

/* Close the agent's connection, telling it why with a CLOSE when code is
 * not 0; a DISCONNECTED event follows if it had said hello. */
void agent_actor_close (agent_actor_t *self, agent_shed_t *shed, uint64_t code, const char *reason);

/* ------------------------------------------------------------------------ */
/*  Frames (agent_host_frames.c)                                            */
/* ------------------------------------------------------------------------ */

/* Read at most AGENT_HOST_READ_BUDGET bytes of the shed's connection and
 * handle the frames in them (the connection may be closed on return). */
void agent_frames_on_readable (agent_actor_t *self, agent_shed_t *shed);

/* Queue a HELLO_ACK with the host's current settings (after the agent's
 * HELLO, and again on a live connection when the limits change). */
int agent_frames_ack (agent_actor_t *self, agent_shed_t *shed);

/* Count a refused frame as a strike; true if the connection was closed. */
bool agent_frames_bad (agent_actor_t *self, agent_shed_t *shed, agent_bad_t why,
                       const char *detail);

#endif
