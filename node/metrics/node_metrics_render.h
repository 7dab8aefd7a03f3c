/*
 * node_metrics_render.h - what the Prometheus endpoint shows: every
 * component's counters written as `shed_` families (docs/metrics.md,
 * "Metrics", lists them). Runs on the node's main thread only: it reads
 * component state directly and asks the actors (membership, links, bus)
 * for their STATS over their pipes, as the local API does.
 */
#ifndef SHED_NODE_METRICS_RENDER_H
#define SHED_NODE_METRICS_RENDER_H

#include "node/events/node_agents.h"
#include "node/catalog/node_catalog.h"
#include "node/events/node_events.h"
#include "node/events/node_hooks.h"
#include "node/http/node_http.h"
#include "node/members/node_members.h"
#include "node/overlay/node_overlay.h"
#include "node/sched/node_sched.h"
#include "node/snapshots/node_snaps.h"
#include "node/state/node_state.h"
#include "node/metrics/prom.h"

#include <stdint.h>

/* The node's components, borrowed for one render. Any may be NULL (not
 * started, or turned off: overlay with network.enabled false, DNS off):
 * its families are then left out. */
typedef struct {
    const char *node; /* this node's name */
    const char *version;
    int64_t started_mono_ms; /* zclock_mono at start */
    shed_members_t *members;
    shed_nstate_t *state;
    shed_overlay_t *overlay;
    shed_catalog_t *catalog;
    shed_events_t *events;
    shed_agents_t *agents;
    shed_hooks_t *hooks;
    shed_sched_t *sched;
    shed_snaps_t *snaps;
    shed_http_t *http;
} shed_metrics_sources_t;

/* Write every family into prom (a fresh writer). */
void shed_metrics_render (shed_prom_t *prom, const shed_metrics_sources_t *src);

#endif
