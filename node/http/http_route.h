/*
 * http_route.h - the remote API's routes and its JSON <-> api_msg_t
 * translation (docs/api.md). Pure: no sockets, no threads, no clock; the
 * HTTP server (node_http.c) and the fuzzer (fuzz/fuzz_http.c) drive it.
 *
 * The remote API has no operations of its own: each route names one local
 * API request (node/api/api_msg.h) and the reply it expects (the tables:
 * http_route.c for sheds, http_route_ops.c for the rest), and the node's
 * local API handlers do the work, as for shedctl. This module only turns a
 * method, a path, query arguments and a JSON body into that request
 * (http_route_decode.c), and the reply into JSON (http_route_reply.c).
 * Requests are decoded strictly: an unknown field, a wrong JSON type, a
 * string over its bound or a number out of range is a 400 that names the
 * field. Replies are written from the message descriptors
 * (common/wire.h), so a field added to a reply appears in the JSON
 * without code here.
 */
#ifndef SHED_HTTP_ROUTE_H
#define SHED_HTTP_ROUTE_H

#include "node/api/api_msg.h"
#include "node/http/http_tokens.h"

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define HTTP_ARGS_MAX        16  /* query arguments in one request */
#define HTTP_PATH_MAX        512 /* longer paths are 404 */
#define HTTP_READ_TIMEOUT_MS 5000

typedef struct http_route http_route_t;

/* How a route is served: most turn JSON into one local API request
 * (below); two are served by their own modules. */
typedef enum {
    HTTP_ROUTE_JSON = 0,
    HTTP_ROUTE_MSGPACK, /* POST /v1/api: http_passthrough.h */
    HTTP_ROUTE_EVENTS,  /* GET /v1/events: http_events.h */
} http_route_kind_t;

/* An HTTP error as the API answers it: status, a stable code for programs
 * and a message for people: {"error": {"code": ..., "message": ...}}. */
typedef struct {
    unsigned status;
    char code[32];
    char message[384];
    char allow[64]; /* 405: the methods the path takes */
} http_error_t;

typedef struct {
    const char *key, *value;
} http_arg_t;

/* A matched request: the route and the path's {name}, if any. */
typedef struct {
    const http_route_t *route;
    char name[API_SHED_REF_MAX + 1];
} http_match_t;

/* Does `path` fit `pattern`? "{}" in a pattern takes one non-empty
 * segment without control bytes into name (at most namecap - 1 bytes);
 * everything else must be equal. The /v1 table and Shed's /api table
 * (http_shed_compat.c) both route with it. */
bool http_path_match (const char *pattern, const char *path, char *name, size_t namecap);

/* Route method + path (already percent-decoded). 0, or -1 with a 404 or
 * 405 (allow filled) in err. */
int http_route_match (const char *method, const char *path, http_match_t *m, http_error_t *err);

/* What the route needs: HTTP_ROLE_READ or HTTP_ROLE_OPERATOR. */
http_role_t http_route_role (const http_route_t *route);
/* Its name for logs and metrics ("sheds.create"). */
const char *http_route_name (const http_route_t *route);
/* Whether it takes a JSON body (others refuse a non-empty one). */
bool http_route_has_body (const http_route_t *route);
/* HTTP status of success (200, or 201 for a create). */
unsigned http_route_ok_status (const http_route_t *route);

http_route_kind_t http_route_kind (const http_route_t *route);
/* A list route that takes ?index=N&wait=D (http_watch.h). */
bool http_route_watchable (const http_route_t *route);

/* A route that takes ?follow=true as a stream (GET /v1/sheds/{name}/logs:
 * http_logs.h); without it, a JSON route as the others. */
bool http_route_followable (const http_route_t *route);

/* Build the local API request (HTTP_ROUTE_JSON routes only). 0, or -1 with a 400 in err. On success
 * *req owns what it allocated: free with wire_msg_free (&api_proto, req). */
int http_request_decode (const http_match_t *m, const http_arg_t *args, size_t nargs,
                         const char *body, size_t len, api_msg_t *req, http_error_t *err);

/* How long to wait for the node's answer to `req` (its own deadline plus
 * the margin shedctl gives; 30 min and the margin for a move or a snapshot
 * create, as shedctl waits; HTTP_READ_TIMEOUT_MS for the others). */
int http_request_timeout_ms (const api_msg_t *req);

/* The mutation's request id, if it has one ("" otherwise). */
const char *http_request_id (const api_msg_t *req);

/* Reply -> JSON (malloc'd, NUL-terminated, *len set). An API_ERROR or a
 * reply of another type than the route expects gives NULL with err set
 * (the status the error code maps to, or 502 for an unexpected type). */
char *http_reply_json (const http_match_t *m, const api_msg_t *rep, size_t *len, http_error_t *err);

/* Each route's method, path ("{name}" for the path's shed reference) and
 * name, in table order: `shed-node --print-routes` lists them so the
 * OpenAPI document is checked against the code (docs/openapi.json). */
typedef void (*http_route_visit_fn) (void *arg, const char *method, const char *path,
                                     const char *name);
void http_routes (http_route_visit_fn fn, void *arg);
/* A route pattern as documented: its "{}" written "{name}". */
void http_route_doc_path (const char *pattern, char *out, size_t cap);

/* An answer body: `doc` as compact JSON and a newline, malloc'd, with its
 * length in *len. Takes doc (NULL-safe). NULL when out of memory. */
char *http_json_body (json_t *doc, size_t *len);

/* Fill err (status, code, message) from the fields given. */
void http_error_set (http_error_t *err, unsigned status, const char *code, const char *fmt, ...)
    __attribute__ ((format (printf, 4, 5)));
/* An API_ERROR code as an HTTP status and code string. */
void http_error_from_api (uint64_t api_code, const char *message, http_error_t *err);
/* {"error": {"code", "message"}} plus extra string members (NULL-ended key,
 * value pairs, e.g. "request_id", id), malloc'd. NULL when out of memory. */
char *http_error_json (const http_error_t *err, size_t *len, ...) __attribute__ ((sentinel));

#endif
