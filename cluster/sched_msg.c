/*
 * sched_msg.c - descriptors of the scheduling protocol (sched_msg.h), plus
 * the semantic checks the codec cannot express.
 */
#include "cluster/sched_msg.h"

#include <string.h>

static int
s_check_res (const sched_res_t *r, const char **why)
{
    if (!r->request_id [0]) {
        *why = "empty request id";
        return -1;
    }
    if (!placement_name_valid (r->name, NULL, 0)) {
        *why = "invalid shed name";
        return -1;
    }
    return 0;
}

static int
s_validate (uint16_t type, const void *body, const char **why)
{
    if (type == SCHED_CLAIM) {
        const sched_claim_t *m = (const sched_claim_t *) body;
        if (m->res.n != 1) {
            *why = "claim needs exactly one reservation";
            return -1;
        }
        return s_check_res (&m->res.items [0], why);
    }
    if (type == SCHED_RELEASE) {
        const sched_release_t *m = (const sched_release_t *) body;
        if (!placement_name_valid (m->name, NULL, 0)) {
            *why = "invalid shed name";
            return -1;
        }
    }
    if (type == SCHED_RESERVATIONS) {
        const sched_reservations_t *m = (const sched_reservations_t *) body;
        for (size_t i = 0; i < m->items.n; i++)
            if (s_check_res (&m->items.items [i], why))
                return -1;
    }
    return 0;
}

WIRE_DEFINE_RECORD (sched_res, 0, SCHED_RES_FIELDS)
WIRE_DEFINE_PROTO (sched, SCHED_MESSAGES, SCHED_WIRE_VERSION_MIN, SCHED_WIRE_VERSION, s_validate)
