/*
 * sched_msg.h - the scheduling protocol's messages, defined once (X-macros,
 * see common/wire_gen.h): the claim RPC a scheduler sends to the target
 * node, its reply, a release, and the admitter's persisted reservations.
 *
 * Resources travel in the units of placement.h: cpu millicpus, memory and
 * disk bytes, gpu count. Request ids are opaque strings chosen by the node
 * that accepted the create (e.g. "<node>-<counter>-<random>"), kept across
 * every retry of the same create so the target can answer idempotently.
 */
#ifndef SHED_SCHED_MSG_H
#define SHED_SCHED_MSG_H

#include "cluster/placement.h"
#include "cluster/sched_admit.h"
#include "common/wire_gen.h"

#define SCHED_WIRE_VERSION_MIN 1
#define SCHED_WIRE_VERSION     1
#define SCHED_RESERVATIONS_MAX 65536    /* sheds one node may hold */
#define SCHED_WHY_MAX          255

/* One reservation, in the persisted file and in claims. */
#define SCHED_RES_FIELDS(F, T) \
    F (T, 1, request_id, WIRE_STR, SCHED_REQUEST_ID_MAX, WIRE_REQ, _) \
    F (T, 2, name,       WIRE_STR, PLACE_NAME_MAX,       WIRE_REQ, _) \
    F (T, 3, cpu,        WIRE_U64, 0,                    WIRE_OPT, _) \
    F (T, 4, memory,     WIRE_U64, 0,                    WIRE_OPT, _) \
    F (T, 5, disk,       WIRE_U64, 0,                    WIRE_OPT, _) \
    F (T, 6, gpu,        WIRE_U64, 0,                    WIRE_OPT, _)
WIRE_DECLARE_RECORD (sched_res, SCHED_RES_FIELDS)

/* CLAIM: scheduler -> target. "Admit this shed, then create it." */
#define SCHED_CLAIM_FIELDS(F, T) \
    F (T, 2, from,     WIRE_STR,  PLACE_NAME_MAX, WIRE_REQ, _) \
    F (T, 3, res,      WIRE_LIST, 1,              WIRE_REQ, sched_res) \
    F (T, 4, image,    WIRE_STR,  255,            WIRE_OPT, _) \
    F (T, 5, repo,     WIRE_STR,  511,            WIRE_OPT, _) \
    F (T, 6, tags,     WIRE_TAGS, 32,             WIRE_OPT, _)

/* CLAIM_REP: target -> scheduler. rc is a sched_admit_rc_t (signed). */
#define SCHED_CLAIM_REP_FIELDS(F, T) \
    F (T, 2, request_id, WIRE_STR, SCHED_REQUEST_ID_MAX, WIRE_REQ, _) \
    F (T, 3, node,       WIRE_STR, PLACE_NAME_MAX,       WIRE_REQ, _) \
    F (T, 4, rc,         WIRE_I64, 0,                    WIRE_REQ, _) \
    F (T, 5, why,        WIRE_STR, SCHED_WHY_MAX,        WIRE_OPT, _)

/* RELEASE: owner-routed delete of a shed's reservation. */
#define SCHED_RELEASE_FIELDS(F, T) \
    F (T, 2, from,     WIRE_STR, PLACE_NAME_MAX, WIRE_REQ, _) \
    F (T, 3, name,     WIRE_STR, PLACE_NAME_MAX, WIRE_REQ, _)

/* RESERVATIONS: the admitter's file (sched_admit_save / _load). */
#define SCHED_RESERVATIONS_FIELDS(F, T) \
    F (T, 2, node,     WIRE_STR,  PLACE_NAME_MAX,         WIRE_OPT, _) \
    F (T, 3, items,    WIRE_LIST, SCHED_RESERVATIONS_MAX, WIRE_OPT, sched_res)

#define SCHED_MESSAGES(M) \
    M (SCHED_CLAIM,        sched_claim,        1, SCHED_CLAIM_FIELDS)     \
    M (SCHED_CLAIM_REP,    sched_claim_rep,    2, SCHED_CLAIM_REP_FIELDS) \
    M (SCHED_RELEASE,      sched_release,      3, SCHED_RELEASE_FIELDS)   \
    M (SCHED_RESERVATIONS, sched_reservations, 4, SCHED_RESERVATIONS_FIELDS)

WIRE_DECLARE_PROTO (sched, SCHED_MESSAGES)

#endif
