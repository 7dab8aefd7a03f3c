/*
 * http_route_int.h - what the route tables and the translation share
 * inside node/http (not for other modules: they use http_route.h). The
 * sheds' routes are in http_route.c, those of the other shedctl commands
 * (tags, network, move, snapshots, drain, services, images) in
 * http_route_ops.c; one decoder (http_route_decode.c) and one reply
 * writer (http_route_reply.c) serve both tables.
 */
#ifndef SHED_HTTP_ROUTE_INT_H
#define SHED_HTTP_ROUTE_INT_H

#include "node/http/http_route.h"

/* How a JSON member or query argument becomes a request field. */
typedef enum {
    C_PLAIN,       /* by the field's kind (common/wire.h) */
    C_CPUS,        /* 2, 0.5, "1500m" -> millicpus */
    C_SIZE_MB,     /* 512 (MiB), "512M", "4G" -> MiB, rounded up */
    C_CONSTRAINTS, /* ["arch=x86_64", "gpu>=1"], each checked */
    C_ENUM,        /* one of the key's names -> its index (a U64 field) */
    C_STEPS,       /* provision steps: "cmd" or {"cmd", "name", "timeout_ms"} */
} http_conv_t;

typedef struct {
    const char *json;  /* the member / argument name */
    const char *field; /* the request field (api_msg.h) */
    http_conv_t conv;
    const char *const *names; /* C_ENUM: NULL-ended, index = value */
} http_key_t;

struct http_route {
    const char *name;
    const char *method;
    const char *path; /* "{}" is one segment: the shed reference */
    http_role_t role;
    uint16_t req_type;
    uint16_t rep_type; /* 0: any reply but API_ERROR */
    uint64_t op;       /* API_SHED_OP_REQ: start / stop / delete; else op_field's value */
    bool body;         /* keys come from a JSON body, else from the query */
    const http_key_t *keys;
    unsigned ok_status;
    http_route_kind_t kind; /* not JSON <-> one request: served elsewhere */
    /* Columns the sheds' routes leave zero: */
    const char *path_field;        /* the field "{}" fills (NULL: "name") */
    const char *op_field;          /* a U64 or BOOL field set to `op` */
    bool body_optional;            /* an empty body reads as {} */
    const char *const *rep_fields; /* NULL-ended: only these reply fields */
};

/* http_route_ops.c's table. */
extern const http_route_t http_ops_routes[];
extern const size_t http_ops_nroutes;

/* Every route, both tables, i < http_route_count (). */
size_t http_route_count (void);
const http_route_t *http_route_at (size_t i);

#endif
