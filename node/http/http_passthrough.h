/*
 * http_passthrough.h - the remote API's msgpack route, POST /v1/api
 * (docs/api.md, "shedctl remote"): the body is one local API request
 * encoded as shedctl encodes it for the ipc socket (node/api/api_msg.h),
 * the answer the node's encoded reply. So every shedctl command works
 * remotely without a JSON route of its own, and the JSON routes and this
 * one reach the same local API handlers.
 *
 * What a token may ask is decided here, per request TYPE (and for the two
 * types that carry a list op and mutations, per op): one table, read-only
 * vs mutating vs local-only. Token management and anything that hands out
 * a local path (the events socket, an agent's socket) is local-only and
 * refused remotely whatever the role. Pure: no sockets, no threads; the
 * server (node_http_serve.c) and the fuzzer (fuzz/fuzz_http.c) drive it.
 */
#ifndef SHED_HTTP_PASSTHROUGH_H
#define SHED_HTTP_PASSTHROUGH_H

#include "node/api/api_msg.h"
#include "node/http/http_route.h"
#include "node/http/http_tokens.h"

#include <stddef.h>
#include <stdint.h>

#define HTTP_MSGPACK_TYPE               "application/x-msgpack"
/* The client's own wait for the answer, in ms (it knows the command's
 * deadline); bounded by HTTP_PASSTHROUGH_TIMEOUT_MAX_MS. */
#define HTTP_TIMEOUT_HEADER             "X-Shed-Timeout-Ms"
#define HTTP_PASSTHROUGH_TIMEOUT_MAX_MS (3600000 + 5000)

/* Who may send a request of this type remotely. */
typedef enum {
    HTTP_PT_UNKNOWN = 0, /* not a request type: 400 */
    HTTP_PT_READ,        /* a read token may */
    HTTP_PT_OPERATOR,    /* only an operator token */
    HTTP_PT_LOCAL,       /* nobody remotely (tokens, local sockets) */
} http_pt_class_t;

/* The class of `type`, for the whole type (ops not considered). */
http_pt_class_t http_pt_type_class (uint16_t type);
/* The class of a decoded request: its type's, or by op for the types that
 * carry one (keys list is a read, keys install/use/remove local-only;
 * agents list is a read, agents attach/detach local-only). */
http_pt_class_t http_pt_class (const api_msg_t *req);
const char *http_pt_class_name (http_pt_class_t c);

/* Decode a body into *req and check that `role` may send it. 0 (free *req
 * with wire_msg_free), or -1 with err: 400 (does not decode, not a
 * request), 403 (role too low, or local-only). */
int http_pt_decode (const uint8_t *body, size_t len, http_role_t role, api_msg_t *req,
                    http_error_t *err);

/* How long to wait for the node: a create or an op by its own deadline
 * (as the JSON routes), others by the client's header value when given
 * (0: none), bounded; never less than HTTP_READ_TIMEOUT_MS. */
int http_pt_timeout_ms (const api_msg_t *req, uint64_t client_ms);

#endif
