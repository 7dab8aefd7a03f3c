/*
 * sim_deadline.h - swim_next_deadline without its O(members) scan.
 *
 * The membership actor asks its core for the next deadline after every
 * input; swim_next_deadline walks every member for a live suspicion, which
 * at 1,000 simulated nodes of 1,000 members each is most of the
 * simulator's time. A member only becomes suspect with a SWIM_EV_SUSPECT
 * event (swim_members.c), so the simulator keeps, per node, the ids it saw
 * suspected, and this computes the same deadline from those alone
 * (dropping ids no longer suspect). It reads the core's internals
 * (cluster/swim_internal.h), so a change to swim_next_deadline must be
 * mirrored here: sim_test compares the two on every call (check mode).
 */
#ifndef SHED_SIM_DEADLINE_H
#define SHED_SIM_DEADLINE_H

#include "cluster/swim.h"

#include <stddef.h>
#include <stdint.h>

typedef struct {
    uint32_t *ids; /* members seen suspected, maybe no longer */
    uint32_t n, cap;
} sim_suspects_t;

/* Remember that member `id` was suspected (no-op if listed). */
void sim_suspects_add (sim_suspects_t *list, uint32_t id);
void sim_suspects_free (sim_suspects_t *list);

/* swim_next_deadline (swim) for a core whose suspects are all in `list`;
 * `name_of` writes member id's name. Compacts the list. */
uint64_t sim_deadline (swim_t *swim, sim_suspects_t *list,
                       void (*name_of) (uint32_t id, char *name, size_t size));

#endif
