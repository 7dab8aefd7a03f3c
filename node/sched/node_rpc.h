/*
 * node_rpc.h - the node's one RPC endpoint (cluster/rpc.h) as a registry
 * that every component shares (docs/scheduling.md, "Node RPC"): a
 * component serves methods of its own (shed_nrpc_on) and calls a peer's
 * (shed_nrpc_call); everything runs on the daemon's loop.
 *
 * Peers follow the peer directory (node/members/peer_dir.h): an alive or
 * suspect member's endpoint (gossip port + 3) is added, a leaving one
 * removed, a failed one kept (it may come back); the directory keeps the
 * key in our ZAP domain ("rpc/<name>") in step before each. A peer that
 * membership declares failed gets its pending calls answered at once
 * (shed_nrpc_peer_failed), not at their possibly long timeout.
 *
 * A request for a method nobody serves is answered with status
 * SHED_NRPC_UNKNOWN and an error line naming it.
 */
#ifndef SHED_NODE_RPC_H
#define SHED_NODE_RPC_H

#include "cluster/rpc.h"
#include "node/members/peer_dir.h"
#include "cluster/zap.h"
#include "crypto/identity.h"
#include "node/config.h"

#include <czmq.h>

#define SHED_NRPC_FAILED  1 /* the handler's own failure (error line) */
#define SHED_NRPC_UNKNOWN 2 /* no handler for the method on that node */

typedef struct _shed_nrpc_t shed_nrpc_t;

/* A request for a served method: `peer` asked (the name membership gave
 * its key); answer exactly once, now or later, with shed_nrpc_reply
 * (token). `body` is valid only during the call. */
typedef void (shed_nrpc_fn) (shed_nrpc_t *rpc, const char *peer, uint64_t token,
                             const uint8_t *body, size_t len, void *arg);
/* The answer to shed_nrpc_call: status RPC_OK with the peer's body, a
 * positive status with the peer's error line, or RPC_ERR_TIMEOUT /
 * RPC_ERR_NO_PEER (also when this node shuts down first). `body` is valid
 * only during the call. Called exactly once, never from inside
 * shed_nrpc_call. */
typedef void (shed_nrpc_cb) (int status, const char *error, const uint8_t *body, size_t len,
                             void *arg);

/* Bind at <bind>:<gossip port + 3>, read requests on `loop`, follow
 * `peers` (borrowed; must outlive self). NULL with a reason on failure. */
shed_nrpc_t *shed_nrpc_new (const shed_config_t *cfg, const shed_identity_t *identity, zap_t *zap,
                            peer_dir_t *peers, zloop_t *loop, char *err, size_t errlen);
/* Pending calls are answered RPC_ERR_NO_PEER "node shutting down" first. */
void shed_nrpc_destroy (shed_nrpc_t **self_p);

/* Serve `method` (at most RPC_METHOD_MAX bytes). 0, or -1 if taken. */
int shed_nrpc_on (shed_nrpc_t *self, const char *method, shed_nrpc_fn *fn, void *arg);
void shed_nrpc_reply (shed_nrpc_t *self, uint64_t token, int status, const char *error,
                      const uint8_t *body, size_t len);
/* Ask `peer` (by member name; not this node) to run `method`; body at most
 * RPC_BODY_MAX bytes; timeout_ms <= 0 = RPC_TIMEOUT_DEFAULT. 0 (cb will be
 * called), or -1 (bad arguments: cb will not be called). */
int shed_nrpc_call (shed_nrpc_t *self, const char *peer, const char *method, const uint8_t *body,
                    size_t len, int timeout_ms, shed_nrpc_cb *cb, void *arg);

/* Answer every pending call to `peer` now (RPC_ERR_NO_PEER). */
void shed_nrpc_peer_failed (shed_nrpc_t *self, const char *peer);

const char *shed_nrpc_endpoint (shed_nrpc_t *self);
/* rpc_stats (cluster/rpc.h): a new string, or NULL. */
char *shed_nrpc_stats (shed_nrpc_t *self);
/* rpc_latency (cluster/rpc.h). */
int shed_nrpc_latency (shed_nrpc_t *self, shed_hist_snap_t *out);

#endif
