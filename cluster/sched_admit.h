/*
 * sched_admit.h - a node's authoritative admit-or-reject of shed claims.
 *
 * Placement runs anywhere, on a replicated (so possibly stale) view. The
 * node that will run the shed is the only authority on its own capacity:
 * every claim for it passes through its one admitter, which under one mutex
 *   - returns the earlier answer when the same request id claims again
 *     (a retried RPC, a scheduler that timed out and retried) - so a claim
 *     is idempotent and can never allocate twice;
 *   - rejects a different request for a shed name it already holds;
 *   - rejects when draining, or when the claim does not fit:
 *         allocated_r + need_r <= (capacity_r - reserved_r) * overcommit_r
 *     for every resource r (same formula as placement.h);
 *   - otherwise records a reservation (request id -> name, resources) and
 *     adds it to `allocated`.
 * Release (on delete, or when the driver fails to create) gives the
 * resources back. Capacity may change at run time (config reload, drain);
 * existing reservations stay, even over the new capacity, and new claims
 * are refused until usage falls below it.
 *
 * Persistence: none of its own. The owner restores reservations at start-up
 * from its shed records with sched_admit_restore() (no capacity check: a
 * shed that runs is a fact, not a request).
 *
 * Thread-safe: every call takes the admitter's mutex.
 */
#ifndef SHED_SCHED_ADMIT_H
#define SHED_SCHED_ADMIT_H

#include "cluster/placement.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define SCHED_REQUEST_ID_MAX 64 /* bytes of a request id */

typedef struct _sched_admit_t sched_admit_t;

typedef enum {
    SCHED_ADMIT_OK = 0,       /* admitted now */
    SCHED_ADMIT_REPEAT = 1,   /* same request id, already admitted: success */
    SCHED_ADMIT_NO_ROOM = -1, /* does not fit; `why` says which resource */
    SCHED_ADMIT_DRAINING = -2,
    SCHED_ADMIT_NAME_TAKEN = -3, /* another request holds this name here */
    SCHED_ADMIT_CONFLICT = -4,   /* same request id, different name/resources */
    SCHED_ADMIT_INVALID = -5,    /* bad request id or name */
    SCHED_ADMIT_NOMEM = -6,
} sched_admit_rc_t;

/* The node's own capacity (same meaning as in place_node_t). */
typedef struct {
    place_resources_t capacity;
    place_resources_t reserved;
    double overcommit[PLACE_RES_COUNT];
} sched_capacity_t;

sched_admit_t *sched_admit_new (const sched_capacity_t *capacity);
void sched_admit_destroy (sched_admit_t **self_p);

void sched_admit_set_capacity (sched_admit_t *self, const sched_capacity_t *capacity);
void sched_admit_set_draining (sched_admit_t *self, bool draining);

/* Admit or reject one claim. `why` (may be NULL) gets a one-line reason on
 * rejection, e.g. "memory 3.1 GiB free < 4 GiB". */
sched_admit_rc_t sched_admit_claim (sched_admit_t *self, const char *request_id, const char *name,
                                    const place_resources_t *need, char *why, size_t why_size);

/* Give back the reservation of `name`. Returns 0, or -1 if none. */
int sched_admit_release (sched_admit_t *self, const char *name);

/* Re-create a reservation at start-up, without capacity checks. Returns 0,
 * or a negative sched_admit_rc_t (name taken by another id, bad args). */
int sched_admit_restore (sched_admit_t *self, const char *request_id, const char *name,
                         const place_resources_t *need);

/* Current totals, for this node's resources record and placement views. */
void sched_admit_allocated (sched_admit_t *self, place_resources_t *allocated);
size_t sched_admit_count (sched_admit_t *self);
bool sched_admit_holds (sched_admit_t *self, const char *name);

/* Fill a placement view entry for this node (name and tags not touched). */
void sched_admit_view (sched_admit_t *self, place_node_t *node);

const char *sched_admit_strerror (sched_admit_rc_t rc);

#endif
