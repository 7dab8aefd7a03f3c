/*
 * sched_view.h - the placement view kept decoded between decisions
 * (docs/scheduling.md, "Placement at scale").
 *
 * Placing a shed needs every node's `node` record as numbers. Decoding
 * them all for every create costs O(N) msgpack decodes per decision
 * (10,000 nodes: ~65 decisions/s, bench/sim.sh --place); this keeps them
 * decoded, by origin, fed by the state's change events (node records and
 * origin status), so a decision only copies numbers.
 *
 * One owner, the main loop (the state's listeners run there).
 */
#ifndef SHED_SCHED_VIEW_H
#define SHED_SCHED_VIEW_H

#include "cluster/placement.h"
#include "cluster/records.h"
#include "node/state/node_state.h"

#include <stddef.h>

typedef struct _sched_view_t sched_view_t;

/* One node as the view holds it: the decoded record, its origin and that
 * origin's status ("alive" | "unreachable"), its tags as placement wants
 * them. Valid until the next state change event. */
typedef struct {
    rec_msg_t m;
    char origin[REC_NAME_MAX + 1];
    char status[16];
    place_tag_t tags[REC_TAGS_MAX];
    size_t ntags;
} sched_view_node_t;

/* Lists the node records once and listens to their changes. */
sched_view_t *sched_view_new (shed_nstate_t *state);
void sched_view_destroy (sched_view_t **self_p);

/* How many nodes, and fn for each (any order). */
size_t sched_view_size (sched_view_t *self);
typedef void (sched_view_fn) (const sched_view_node_t *node, void *arg);
void sched_view_each (sched_view_t *self, sched_view_fn *fn, void *arg);

#endif
