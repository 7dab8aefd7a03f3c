/*
 * rpc.h - request/response between nodes over ZeroMQ, secured by CURVE.
 *
 * One actor per process (the node's scheduler owns it):
 *   - a ROUTER bound at tcp://<bind>:<gossip port + 3> (RPC_PORT_OFFSET),
 *     a CURVE server with the node's X25519 key in its own ZAP domain
 *     ("rpc/<name>" by default) with ZMQ_ZAP_ENFORCE_DOMAIN set
 *     (zap_secure_server), so only keys on the allow-list connect;
 *   - DEALERs to the peers it calls, each a CURVE client that only talks
 *     to the holder of the peer's public key (from membership), in a pool
 *     of at most pool_max (RPC_POOL_DEFAULT): a call to a peer without one
 *     opens it, closing the least recently used connection that has no
 *     call in flight; a connection unused for RPC_IDLE_MS is closed. Peers
 *     are a directory (name, endpoint, key), so a node's sockets do not
 *     grow with the cluster (cluster/peer_pool.h, docs/state.md
 *     "Connections per node").
 * Requests travel DEALER -> ROUTER and their responses come back over the
 * same connection, so a node needs no connection from the peer to get its
 * answers.
 *
 * Everything is asynchronous. The owner sends commands (allow, peer add,
 * request, reply) that are never answered, and reads EVENTS from the same
 * pipe (rpc_sock, e.g. in its zloop):
 *   RPC_EV_REQUEST   a peer asks: `peer` (the name registered for the
 *                    sender's verified key, or its Z85 key), `token`,
 *                    method, body. The owner answers exactly once with
 *                    rpc_reply (token), now or later.
 *   RPC_EV_RESPONSE  the answer to rpc_request (id): status RPC_OK and a
 *                    body, a status the peer's owner gave with an error
 *                    line, or RPC_ERR_TIMEOUT / RPC_ERR_NO_PEER.
 *
 * Membership wiring: on member alive, rpc_allow (key) then rpc_peer_add;
 * on leave/reap rpc_deny and rpc_peer_remove (pending requests to it fail
 * with RPC_ERR_NO_PEER).
 *
 * libzmq 4.3.4 pitfall: when the server's ZAP handler refuses a CURVE
 * client (the peer has not ALLOWed our key yet: membership reaches nodes at
 * slightly different times) the client never retries the handshake. A new
 * DEALER's first handshake is therefore monitored; on a failure the DEALER
 * is re-created after a backoff (100 ms doubling to 2 s) and the requests
 * still pending for that peer are sent again. A timed-out request re-dials
 * its peer too (a later handshake, after the peer restarted, is not
 * monitored) and re-sends what is still pending. Handlers must therefore be
 * idempotent per request (ours are: every scheduling request carries a
 * request id).
 *
 * Wire: every frame is one RPC_REQUEST or RPC_RESPONSE wire message
 * (X-macro table below, common/wire_gen.h); bodies are opaque bytes (the
 * caller's own wire messages). Frames over RPC_FRAME_MAX are dropped.
 */
#ifndef SHED_RPC_H
#define SHED_RPC_H

#include "cluster/zap.h"
#include "common/histogram.h"
#include "common/wire_gen.h"

#include <czmq.h>
#include <stdint.h>

#define RPC_PORT_OFFSET     3 /* rpc port = gossip port + 3 */
#define RPC_VERSION_MIN     1
#define RPC_VERSION         1
#define RPC_METHOD_MAX      31
#define RPC_ERROR_MAX       255
#define RPC_NAME_MAX        63
#define RPC_BODY_MAX        (1u << 20)
#define RPC_FRAME_MAX       (RPC_BODY_MAX + 1024)
#define RPC_TIMEOUT_DEFAULT 5000  /* ms */
#define RPC_PENDING_MAX     65536 /* in flight, each direction */
#define RPC_POOL_DEFAULT    24    /* DEALERs held at once */
#define RPC_IDLE_MS         30000 /* an unused DEALER is closed after */

/* Status of a response. Values > 0 are the owner's own codes. */
#define RPC_OK          0
#define RPC_ERR_TIMEOUT (-1) /* no answer in time */
#define RPC_ERR_NO_PEER (-2) /* peer unknown or removed */
#define RPC_ERR_REFUSED (-3) /* too many in flight, bad args */

/* clang-format off */
#define RPC_REQUEST_FIELDS(F, T)                                               \
    F (T, 2, id,         WIRE_U64,  0,              WIRE_REQ, _)               \
    F (T, 3, method,     WIRE_STR,  RPC_METHOD_MAX, WIRE_REQ, _)               \
    F (T, 4, body,       WIRE_BLOB, RPC_BODY_MAX,   WIRE_OPT, _)
/* clang-format on */

/* clang-format off */
#define RPC_RESPONSE_FIELDS(F, T)                                              \
    F (T, 2, id,         WIRE_U64,  0,              WIRE_REQ, _)               \
    F (T, 3, status,     WIRE_I64,  0,              WIRE_REQ, _)               \
    F (T, 4, error,      WIRE_STR,  RPC_ERROR_MAX,  WIRE_OPT, _)               \
    F (T, 5, body,       WIRE_BLOB, RPC_BODY_MAX,   WIRE_OPT, _)
/* clang-format on */

/* clang-format off */
#define RPC_MESSAGES(M)                                                        \
    M (RPC_REQUEST,  rpc_request,  1, RPC_REQUEST_FIELDS)                      \
    M (RPC_RESPONSE, rpc_response, 2, RPC_RESPONSE_FIELDS)
/* clang-format on */

WIRE_DECLARE_PROTO (rpc, RPC_MESSAGES)

typedef struct _rpc_t rpc_t;

typedef struct {
    const char *name;          /* this node */
    const char *endpoint;      /* bind, e.g. "tcp://198.18.0.1:7949" */
    const uint8_t *public_key; /* X25519, 32 bytes */
    const uint8_t *secret_key;
    zap_t *zap;             /* the process's one ZAP handler */
    const char *zap_domain; /* default "rpc/<name>" */
    size_t pool_max;        /* 0: RPC_POOL_DEFAULT */
} rpc_config_t;

typedef enum {
    RPC_EV_REQUEST = 1,
    RPC_EV_RESPONSE = 2,
} rpc_event_type_t;

typedef struct {
    rpc_event_type_t type;
    char peer[RPC_NAME_MAX + 1]; /* REQUEST: who asks */
    uint64_t id;                 /* REQUEST: token for rpc_reply; RESPONSE: request id */
    char method[RPC_METHOD_MAX + 1];
    int status;                    /* RESPONSE */
    char error[RPC_ERROR_MAX + 1]; /* RESPONSE, when status != RPC_OK */
    uint8_t *body;                 /* owned; rpc_event_free */
    size_t len;
} rpc_event_t;

/* Start the actor and bind. NULL with a reason in err on failure. */
rpc_t *rpc_new (const rpc_config_t *cfg, char *err, size_t errlen);
void rpc_destroy (rpc_t **self_p);

/* The pipe to poll for events, and the endpoint actually bound. */
zsock_t *rpc_sock (rpc_t *self);
const char *rpc_endpoint (rpc_t *self);

/* Allow-list of the ROUTER (keys are 32 bytes). */
void rpc_allow (rpc_t *self, const uint8_t *key);
void rpc_deny (rpc_t *self, const uint8_t *key);

/* Peers we send to (replaces an earlier entry of that name). */
void rpc_peer_add (rpc_t *self, const char *name, const char *endpoint, const uint8_t *key);
void rpc_peer_remove (rpc_t *self, const char *name);

/* Send a request; the answer comes as an RPC_EV_RESPONSE with the returned
 * id (never 0). timeout_ms 0 = RPC_TIMEOUT_DEFAULT. */
uint64_t rpc_request (rpc_t *self, const char *peer, const char *method, const uint8_t *body,
                      size_t len, int timeout_ms);

/* Answer an RPC_EV_REQUEST (token = its id). status RPC_OK with a body, or
 * a positive owner code with a one-line error. */
void rpc_reply (rpc_t *self, uint64_t token, int status, const char *error, const uint8_t *body,
                size_t len);

/* Read one event (call when rpc_sock is readable). 0, or -1 if interrupted
 * or the message was not an event. */
int rpc_recv (rpc_t *self, rpc_event_t *ev);
void rpc_event_free (rpc_event_t *ev);

/* Counters as "key=value ..." (a new string; caller frees): requests and
 * responses each way, timeouts, drops, handshakes refused, re-dials, and
 * the pool: connected (DEALERs held), sockets (ZeroMQ sockets held, the
 * ROUTER included), sock_fail (socket creations that failed), evicted.
 * Read from atomics, so safe at any time. */
char *rpc_stats (rpc_t *self);

/* Round-trip time of our requests that got a response (any status), from
 * the first send to the response read: the peer's handler time included,
 * re-sends after a re-dial too; timeouts are not observed (counted in
 * rpc_stats). 0, or -1 if the histogram could not be allocated. */
int rpc_latency (rpc_t *self, shed_hist_snap_t *out);

#endif
