/*
 * conn.h - the agent's side of the channel: connect, hello, pace, buffer,
 * reconnect.
 *
 * Targets: "unix:PATH" (netns sheds) or "vsock:CID:PORT" (Firecracker:
 * vsock:2:1026). States: DOWN (waiting for the next attempt) -> CONNECTING
 * (non-blocking connect) -> HELLO (HELLO sent, waiting for HELLO_ACK; only
 * the hello is written) -> READY (a DROPPED notice first if anything was
 * lost, then the buffer, paced under the host's advertised rates) -> DOWN
 * on any error, EOF, CLOSE, or 3 heartbeats of silence.
 *
 * Reconnect delay: min(max, min_ms * 2^attempt), with "equal jitter" (half
 * fixed, half random) so a host restart is not met by every agent at once;
 * reset by a HELLO_ACK.
 *
 * Buffer: a drop-oldest queue of encoded frames (bounded by frames and
 * bytes). Messages emitted while down go into it; the number dropped is
 * reported in a DROPPED message as soon as the connection is READY (reason
 * DISCONNECTED), or at the next heartbeat if the host was merely slow
 * (reason BACKPRESSURE).
 */
#ifndef SHED_AGENT_CONN_H
#define SHED_AGENT_CONN_H

#include "agent/loop.h"

#include <stdbool.h>

typedef struct _agent_conn_t agent_conn_t;

typedef struct {
    const char *target;        /* "unix:PATH" or "vsock:CID:PORT" */
    size_t buffer_frames;      /* default 4096 */
    size_t buffer_bytes;       /* default 4 MiB */
    uint32_t backoff_min_ms;   /* default 100 */
    uint32_t backoff_max_ms;   /* default 5000 */
    uint32_t hello_timeout_ms; /* default 5000 */
} agent_conn_config_t;

/* The host's messages (HELLO_ACK, PROVISION, ...) are passed up with this;
 * ownership of the decoded contents passes too (free with wire_msg_free,
 * or move them). */
typedef void (agent_conn_msg_fn) (void *ctx, agent_msg_t *msg);

agent_conn_t *agent_conn_new (const agent_conn_config_t *cfg, agent_conn_msg_fn *on_msg, void *ctx);
void agent_conn_destroy (agent_conn_t **self_p);

/* The HELLO to send on every connection (copied). */
void agent_conn_set_hello (agent_conn_t *self, const agent_hello_t *hello);

/* Queue a message (encoded now; chunked if over the host's max frame).
 * Heartbeats are only sent when READY. Returns 0 or -1 (not encodable). */
int agent_conn_send (agent_conn_t *self, const agent_msg_t *msg);

bool agent_conn_ready (agent_conn_t *self);
size_t agent_conn_watches (agent_conn_t *self, agent_watch_t *w, size_t max);
int64_t agent_conn_next_ms (agent_conn_t *self);
void agent_conn_tick (agent_conn_t *self, int64_t now_ms);

/* The host's settings from the last HELLO_ACK (zeroes before any). */
const agent_hello_ack_t *agent_conn_settings (agent_conn_t *self);

/* Try to write out what is queued within `ms` (shutdown). */
void agent_conn_drain (agent_conn_t *self, int ms);

/* Counters. */
uint64_t agent_conn_dropped_total (agent_conn_t *self);
size_t agent_conn_buffered (agent_conn_t *self);

/* Parse a target; 0 or -1. Exposed for tests. */
int agent_conn_parse_target (const char *target, int *family, char *path, size_t path_size,
                             unsigned *cid, unsigned *port);

#endif
