/*
 * node_record.h - this node's `node` record (cluster/records.h REC_NODE),
 * with ONE owner: this module keeps the whole record in memory and puts it
 * whenever a part changes (docs/state.md, "Our node record").
 *
 * Parts and who sets them, all on the daemon's loop:
 *   build      here: event_version (the EVENT_BATCH version our bus reads)
 *   identity   node.c at start: address, gossip port, links endpoint,
 *              version, start time
 *   tags       node.c when `shedctl tags` changes them
 *   resources  the scheduler: capacity, reserved, overcommit, allocation,
 *              shed count, draining (on every admission and release)
 * Nobody reads the record back from the state to modify it, so two writers
 * cannot undo each other's fields.
 */
#ifndef SHED_NODE_RECORD_H
#define SHED_NODE_RECORD_H

#include "cluster/records.h"
#include "node/state/node_state.h"

typedef struct _shed_noderec_t shed_noderec_t;

/* `state` is borrowed (must outlive it). */
shed_noderec_t *shed_noderec_new (shed_nstate_t *state, const char *name);
void shed_noderec_destroy (shed_noderec_t **self_p);

/* Set a part (copied). Nothing is written until shed_noderec_publish. */
void shed_noderec_set_identity (shed_noderec_t *self, const char *addr, uint64_t gossip_port,
                                const char *links, const char *version, uint64_t started_ms);
void shed_noderec_set_tags (shed_noderec_t *self, const wire_tag_t *tags, size_t ntags);
/* The resource fields of `r` (REC_NODE fields 10-26 but tags). */
void shed_noderec_set_resources (shed_noderec_t *self, const rec_node_t *r);

/* The record as the next publish puts it (valid until the next set). */
const rec_node_t *shed_noderec_get (const shed_noderec_t *self);

/* Put the record. 0, or -1 with a reason. */
int shed_noderec_publish (shed_noderec_t *self, char *err, size_t errlen);

/* The highest EVENT_BATCH version the node of a `node` record value reads
 * (its event_version field): EVENT_VERSION_BATCH (2) for a record of a
 * release before version 3 (no such field), one that does not decode, or
 * NULL; capped at 0xffff. The bus batches at the lowest of its members'
 * (docs/events.md, "Mixed versions"). */
unsigned shed_noderec_event_version (const uint8_t *value, size_t len);

#endif
