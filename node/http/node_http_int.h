/*
 * node_http_int.h - what node_http.c and node_http_serve.c share; not for
 * other modules (see node_http.h). Cross-file names are `shed_http__`,
 * file-local ones `s_`.
 *   node_http.c        the server: libmicrohttpd's start (TLS, listen
 *                      socket, limits) and callbacks, authentication and
 *                      routing on the headers, the body's limits, the token
 *                      commands on the local API, counters, lifecycle
 *   node_http_serve.c  answering a routed request once its body is in:
 *                      the local API call, blocking queries, msgpack,
 *                      event and log streams, Shed's routes, the responses
 */
#ifndef SHED_NODE_HTTP_INT_H
#define SHED_NODE_HTTP_INT_H

#include "common/mhd_dl.h"
#include "node/api/api_pool.h"
#include "node/http/http_conns.h"
#include "node/http/http_events.h"
#include "node/http/http_route.h"
#include "node/http/http_shed_compat.h"
#include "node/http/http_watch.h"
#include "node/http/node_http.h"

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#if MHD_VERSION < 0x00097002
typedef int MHD_Result_t; /* before 0.9.71 handlers returned int */
#else
typedef enum MHD_Result MHD_Result_t;
#endif

/* Counters (relaxed atomics: HTTP threads add, the render reads). */
typedef enum {
    ST_REQ_2XX,
    ST_REQ_4XX,
    ST_REQ_5XX,
    ST_AUTH_MISSING,
    ST_AUTH_MALFORMED,
    ST_AUTH_UNKNOWN,
    ST_AUTH_EXPIRED,
    ST_AUTH_FORBIDDEN,
    ST_TOO_LARGE,
    ST_BAD_REQUEST,
    ST_RATE_LIMITED,
    ST_NO_REPLY,
    ST_CONN_REFUSED,
    ST_CONN_TIMEOUT,
    ST_CONN_EVICTED,
    ST_CONNS,
    ST_COUNT
} shed_http_stat_t;

struct _shed_http_t {
    shed_api_server_t *api; /* borrowed, for the token commands */
    http_tokens_t *tokens;
    struct MHD_Daemon *mhd;
    shed_api_pool_t *pool; /* the local API the threads call (api_pool.h) */
    char address[80];
    size_t max_body;
    uint64_t body_deadline_ms; /* a request's body must be in by then */
    int64_t idle_ms;           /* http.timeout_s */
    char *cert, *key;          /* PEM, kept while MHD runs (it does not copy) */
    size_t key_len;
    volatile int stopping; /* read by waiting threads (api_client) */
    http_events_t *events; /* GET /v1/events */
    http_watch_t *watch;   /* ?index= on list routes */
    http_conns_t *conns;   /* open connections: an idle one cut for a new one */
    atomic_uint_fast64_t stats[ST_COUNT];
    atomic_int_fast64_t last_log_ms[ST_COUNT];
};

/* One request's state, from its first call to MHD's completion notice. */
typedef struct {
    http_match_t match;
    bool compat; /* one of Shed's /api/ routes (http_shed_compat.h) */
    http_compat_match_t cmatch;
    char *body;
    size_t len;
    bool too_big;
    size_t dropped;     /* body bytes thrown away after too_big */
    int64_t started_ms; /* first call (headers in) */
    char remote[64];
    char token_id[API_TOKEN_ID_MAX + 1];
    http_role_t role;
    http_conn_t *conn; /* its connection's record (busy until completed) */
} shed_http_req_t;

/* ---- node_http.c ---------------------------------------------------------- */

void shed_http__count (shed_http_t *self, shed_http_stat_t s);
/* True at most once per second per counter: hostile clients can make a
 * line per request. */
bool shed_http__log_ok (shed_http_t *self, shed_http_stat_t s);

/* ---- node_http_serve.c ---------------------------------------------------- */

/* A JSON error answer (takes none of `err`); `request_id` may be NULL. */
MHD_Result_t shed_http__fail (shed_http_t *self, struct MHD_Connection *conn,
                              const http_error_t *err, const char *request_id);
/* The same failure in Shed's shape, for its /api/ routes. */
MHD_Result_t shed_http__fail_compat (shed_http_t *self, struct MHD_Connection *conn,
                                     const http_error_t *err);
/* The body of `r` is in: call the node's local API and answer. */
MHD_Result_t shed_http__serve (shed_http_t *self, struct MHD_Connection *conn, shed_http_req_t *r);
/* The same for Shed's routes (http_shed_compat.h), in Shed's JSON. */
MHD_Result_t shed_http__serve_compat (shed_http_t *self, struct MHD_Connection *conn,
                                      shed_http_req_t *r);

#endif
