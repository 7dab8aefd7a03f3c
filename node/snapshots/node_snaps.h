/*
 * node_snaps.h - the daemon's snapshots (docs/snapshots.md): owns the
 * snapshot store (snap_store.h) on the main loop, serves `shedctl snapshot
 * ...` (API types 80-83) from any node, and the node RPC methods of the
 * transfer protocol (snap_proto.h): snap.create and snap.remove on the node
 * that runs the shed or holds the data, snap.read to the node that needs
 * the data.
 *
 *   capture   the shed's node stages a file, the scheduler runs the
 *             driver's snapshot on its worker (shed_sched_snapshot), the
 *             store hashes it and takes it in (quota), and a REC_SNAPSHOT
 *             record lists it cluster-wide
 *   fetch     a create from a snapshot placed on another node pulls the
 *             data with snap.read (snap_xfer.h: chunks, a window of
 *             requests, sha256, resume from a partial copy) into
 *             <store>/fetch/, the scheduler's layer_fetch hook; a second
 *             create on the same node finds the copy there
 *
 * Life cycle in node.c: new before the scheduler (its layer_fetch hook
 * points here), shed_snaps_set_sched after it; shed_snaps_shutdown before
 * the scheduler goes (pending fetches answered), destroy after the node
 * RPC (its late answers still land here).
 */
#ifndef SHED_NODE_SNAPS_H
#define SHED_NODE_SNAPS_H

#include "node/api/api_server.h"
#include "node/config.h"
#include "node/events/node_events.h"
#include "node/sched/node_rpc.h"
#include "node/sched/node_sched.h"
#include "node/state/node_state.h"

#include <czmq.h>

#define SHED_SNAP_WINDOW    4                /* snap.read requests in flight per fetch */
#define SHED_SNAP_READ_MS   15000            /* one snap.read's timeout */
#define SHED_SNAP_RETRIES   8                /* failed reads in a row before a fetch gives up */
#define SHED_SNAP_CREATE_MS (30 * 60 * 1000) /* a capture routed to another node */

typedef struct _shed_snaps_t shed_snaps_t;

/* Open the store under <data_dir>/snapshots (cfg->snapshots.quota bytes at
 * most), publish a record per snapshot held, register API handlers and RPC
 * methods. rpc, state, api, loop are borrowed. NULL with err on failure. */
shed_snaps_t *shed_snaps_new (const shed_config_t *cfg, shed_nstate_t *state, shed_nrpc_t *rpc,
                              zloop_t *loop, shed_api_server_t *api, char *err, size_t errlen);
/* The scheduler (borrowed) runs captures and names a shed's node. */
void shed_snaps_set_sched (shed_snaps_t *self, shed_sched_t *sched);
/* Fail what waits on this node (fetches, captures routed here) and take no
 * new work: before the scheduler goes. */
void shed_snaps_shutdown (shed_snaps_t *self);
void shed_snaps_destroy (shed_snaps_t **self_p);

/* The scheduler's layer_fetch hook (shed_sched_hooks_t); arg = self. */
int shed_snaps_layer_fetch (void *arg, const char *shed, const char *snapshot, const char *holder,
                            const char *digest, uint64_t size, shed_layer_done_fn *done, void *ctx,
                            char *err, size_t errlen);
/* Publish progress of fetches and moves as bus events (kind "progress" on
 * snapshot.<node>.<snapshot>, bridges/event_msg.h); borrowed; NULL: none. */
void shed_snaps_set_events (shed_snaps_t *self, shed_events_t *events);

/* Counters for /metrics, "name=value ..." (a new string). */
char *shed_snaps_stats (shed_snaps_t *self);

#endif
