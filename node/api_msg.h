/*
 * api_msg.h - the local API between shedctl (and other local clients) and
 * shed-node: one request, one reply, each a wire message (see docs/wire.md).
 *
 * Transport: ZeroMQ REQ (client) -> ROUTER (node) on ipc://<data_dir>/api.sock
 * (mode 0600). Every request gets exactly one reply: the matching *_REP, or
 * API_ERROR with a code and a one-line message fit to show a person.
 */
#ifndef SHED_API_MSG_H
#define SHED_API_MSG_H

#include "common/wire_gen.h"

#define API_VERSION_MIN 1
#define API_VERSION     1
#define API_TEXT_MAX    512         /* error messages, paths */
#define API_MAX_MSG     (4u << 20)  /* largest request or reply we accept */

/* API_ERROR codes. */
typedef enum {
    API_ERR_BAD_REQUEST = 1,        /* request did not decode or validate */
    API_ERR_UNSUPPORTED = 2,        /* unknown request type for this node */
    API_ERR_INTERNAL    = 3,        /* the node failed doing it */
    API_ERR_UNAVAILABLE = 4,        /* a component is not running */
    API_ERR_INVALID     = 5,        /* well-formed but refused (bad name, ...) */
    API_ERR_NOT_FOUND   = 6,
} api_err_code_t;

#define API_ERROR_FIELDS(F, T)                                                 \
    F (T, 2, code,       WIRE_U64, 0,            WIRE_REQ, _)                  \
    F (T, 3, message,    WIRE_STR, API_TEXT_MAX, WIRE_REQ, _)

#define API_STATUS_REQ_FIELDS(F, T)

#define API_STATUS_REP_FIELDS(F, T)                                            \
    F (T, 2, name,        WIRE_STR, 63,           WIRE_REQ, _)                 \
    F (T, 3, public_key,  WIRE_STR, 64,           WIRE_REQ, _)                 \
    F (T, 4, version,     WIRE_STR, 32,           WIRE_REQ, _)                 \
    F (T, 5, uptime_ms,   WIRE_U64, 0,            WIRE_OPT, _)                 \
    F (T, 6, pid,         WIRE_U64, 0,            WIRE_OPT, _)                 \
    F (T, 7, data_dir,    WIRE_STR, API_TEXT_MAX, WIRE_OPT, _)                 \
    F (T, 8, gossip_addr, WIRE_STR, 64,           WIRE_OPT, _)                 \
    F (T, 9, gossip_port, WIRE_U64, 65535,        WIRE_OPT, _)                 \
    F (T, 10, members_alive, WIRE_U64, 0,         WIRE_OPT, _)                 \
    F (T, 11, members_total, WIRE_U64, 0,         WIRE_OPT, _)                 \
    F (T, 12, tags,       WIRE_TAGS, 64,          WIRE_OPT, _)

#define API_MESSAGES(M)                                                        \
    M (API_ERROR,      api_error,      1, API_ERROR_FIELDS)                    \
    M (API_STATUS_REQ, api_status_req, 2, API_STATUS_REQ_FIELDS)               \
    M (API_STATUS_REP, api_status_rep, 3, API_STATUS_REP_FIELDS)

WIRE_DECLARE_PROTO (api, API_MESSAGES)

#endif
