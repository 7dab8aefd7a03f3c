/*
 * node_int.h - the daemon's wiring, shared by node.c (building and tearing
 * down the components) and node_signals.c (the run loop, SIGHUP reload,
 * systemd notifications). Nothing else includes it.
 */
#ifndef SHED_NODE_INT_H
#define SHED_NODE_INT_H

#include "node/node.h"

#include "cluster/zap.h"
#include "common/prio.h"
#include "crypto/identity.h"
#include "crypto/keyring.h"
#include "node/api/api_server.h"
#include "node/catalog/node_catalog.h"
#include "node/events/node_agents.h"
#include "node/events/node_events.h"
#include "node/events/node_hooks.h"
#include "node/http/http_tokens_sync.h"
#include "node/http/node_http.h"
#include "node/images/node_images.h"
#include "node/members/node_members.h"
#include "node/members/peer_dir.h"
#include "node/metrics/node_metrics.h"
#include "node/overlay/node_overlay.h"
#include "node/sched/node_rpc.h"
#include "node/sched/node_sched.h"
#include "node/snapshots/node_snaps.h"
#include "node/state/node_record.h"
#include "node/state/node_state.h"

/* How much lower (nice) the node's start-up after membership runs until it
 * has started: weight 110 against 1,024, so another daemon's start-up up
 * to its membership runs first (common/prio.h). */
#define SHED_NODE_STARTUP_NICE 10

#include <czmq.h>
#include <limits.h>

struct _shed_node_t {
    shed_config_t cfg;
    shed_identity_t *identity;
    shed_keyring_t *keyring;
    shed_api_server_t *api;
    zloop_t *loop;
    int64_t started_ms; /* monotonic */
    char keyring_path[PATH_MAX + 16];
    int lock_fd;                   /* flock on <data_dir>/node.lock */
    shed_members_t *members;       /* membership actor + API handlers */
    peer_dir_t *peers;             /* the other members, for the peer planes */
    zap_t *zap;                    /* one ZAP handler for every CURVE socket */
    shed_nstate_t *state;          /* replicated state over node links */
    shed_noderec_t *noderec;       /* our `node` record, its one writer */
    shed_nrpc_t *rpc;              /* node RPC, shared by the components */
    shed_overlay_t *overlay;       /* bridge, address block, datapath */
    shed_catalog_t *catalog;       /* service catalog, health checks, DNS */
    shed_events_t *events;         /* event bus: cluster-wide pub/sub */
    shed_agents_t *agents;         /* agent channels of this node's sheds */
    shed_hooks_t *hooks;           /* commands run on chosen events */
    shed_sched_t *sched;           /* sheds: names, placement, claims, drivers */
    shed_images_t *images;         /* image store, uploads, REC_IMAGE records */
    shed_snaps_t *snaps;           /* snapshot store, transfers, REC_SNAPSHOT records */
    shed_metrics_t *metrics;       /* Prometheus endpoint; NULL when off or not bound */
    shed_http_t *http;             /* remote API and its tokens (docs/api.md) */
    shed_tsync_t *tsync;           /* the tokens, cluster-wide (http_tokens_sync.h) */
    shed_node_config_fn *reconfig; /* SIGHUP: builds the new configuration */
    void *reconfig_arg;
    int hup_pipe[2];          /* the SIGHUP handler's byte wakes the loop */
    shed_prio_startup_t prio; /* start-up after membership runs lowered */
};

/* node_signals.c: SIGHUP's handler and pipe (shed_node_run starts them),
 * undone by the destroy. */
void node__signals_start (shed_node_t *self);
void node__signals_stop (shed_node_t *self);

#endif
