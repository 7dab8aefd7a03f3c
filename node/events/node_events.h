/*
 * node_events.h - the daemon's event bus (bridges/bus.h, docs/events.md):
 * starts the bus actor, keeps its peers and its ZAP allow-list in step with
 * membership, and publishes the node's own events.
 *
 * Endpoints:
 *   origin    tcp://<bind>:<gossip port + 2>, CURVE with the node identity,
 *             ZAP domain "bus-peers:<node>" on the process's one ZAP handler;
 *             peers connect to it at <member addr>:<its gossip port + 2>
 *   local     ipc://<data_dir>/events.sock (mode 0600), for shedctl events
 *
 * Peer directory (node/members/peer_dir.h) -> bus:
 *   added/updated (alive)  ALLOW key, then PEER-ADD (skipped when the
 *                        member's endpoint and key did not change)
 *   removed              PEER-REMOVE + DENY after a short linger
 *                        (SHED_EVENTS_LINGER_MS) so the member's own last
 *                        events (its leave) still arrive
 * Node records (state) -> bus:
 *   a peer's `event_version` PEER-VERSION (at PEER-ADD and when it
 *                        changes; no field: 2), so batches leave at version
 *                        3 only while every member reads it
 *
 * What this node publishes (each change is published once in the cluster,
 * by the node that owns it, never by every observer):
 *   member.<self>        its own join, tags update, leave
 *   member.<other>       suspect / fail as observed by this node
 *                        (payload `observer` = this node)
 *   service.<name>       this node's service records changing
 *   shed.<self>.<shed>   this node's shed records (kind "shed") changing
 * Payloads: the evpay protocol (bridges/event_msg.h).
 */
#ifndef SHED_NODE_EVENTS_H
#define SHED_NODE_EVENTS_H

#include "bridges/event_msg.h"
#include "cluster/zap.h"
#include "crypto/identity.h"
#include "node/api/api_server.h"
#include "node/config.h"
#include "node/members/node_members.h"
#include "node/state/node_state.h"

#include <czmq.h>

#define SHED_EVENTS_LINGER_MS 1000 /* keep a leaving peer's link this long */
#define SHED_EVENTS_REDIAL_MS 250  /* bus: re-dial after a refused handshake */

typedef struct _shed_events_t shed_events_t;

/* Start the bus and follow membership (for member events), the peer
 * directory (for the routing tree's peers) and state. NULL with a one-line
 * reason on failure (e.g. the origin port is taken). `zap`, `members`,
 * `peers`, `state`, `loop` and `api` must outlive it. */
shed_events_t *shed_events_new (const shed_config_t *cfg, const shed_identity_t *identity,
                                zap_t *zap, shed_members_t *members, peer_dir_t *peers,
                                shed_nstate_t *state, zloop_t *loop, shed_api_server_t *api,
                                char *err, size_t errlen);
/* Stop the bus (removing the ipc socket file). NULL-safe. */
void shed_events_destroy (shed_events_t **self_p);

/* Publish one event of this node (never blocks: a full bus pipe drops it
 * and counts it). Returns 0, or -1 when dropped or invalid. */
int shed_events_publish (shed_events_t *self, const char *topic, const char *kind,
                         const void *payload, size_t size);

/* Publish a progress event (kind "progress", bridges/event_msg.h) of
 * this node on `<family>.<this node>.<name>`: what long operations
 * (create, snapshot, fetch, move) tell the client that waits for them.
 * Returns 0, or -1 when dropped, invalid or not encodable. */
int shed_events_publish_progress (shed_events_t *self, const char *family, const char *name,
                                  const evpay_progress_t *progress);

/* Publish member.<self> "leave" now: call before leaving the cluster, so
 * the event crosses the links before peers drop them. */
void shed_events_leaving (shed_events_t *self);

/* SIGHUP: make the remote consumers' allow-list the keys now in
 * cfg->events.consumer_keys (the file is read again even when its path did
 * not change). New keys can connect at once; removed keys are refused
 * from now on and their open sessions are cut (the remote listener is
 * re-bound: allowed consumers reconnect by themselves, docs/operations.md
 * "Reloading"). Without a remote endpoint at start (consumer_listen "")
 * nothing happens: that takes a restart. Returns 1 if the set changed, 0
 * if not, -1 with a reason (a bad file: the old set stays in force).
 * *out gets the counts, for the log. */
typedef struct {
    size_t keys;    /* allowed now */
    size_t added;   /* by this reload */
    size_t removed; /* by this reload (their sessions cut) */
} shed_events_keys_t;
int shed_events_reload_consumers (shed_events_t *self, const shed_config_t *cfg,
                                  shed_events_keys_t *out, char *err, size_t errlen);

/* Local consumer endpoint (ipc://.../events.sock). */
const char *shed_events_endpoint (shed_events_t *self);

/* The bus actor's counters (STATS, bridges/bus.h) as one line
 * "name=value ...". A new string the caller frees, or NULL if the actor
 * did not answer. */
char *shed_events_stats (shed_events_t *self);

/* Events dropped because the bus pipe was full. */
uint64_t shed_events_dropped (shed_events_t *self);

#endif
