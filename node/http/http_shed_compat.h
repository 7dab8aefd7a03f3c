/*
 * http_shed_compat.h - Shed's own server API, served by every node
 * (docs/api.md, "Shed compatibility"): GET /api/info, GET /api/ssh-host-key,
 * GET/POST /api/sheds (and its create progress stream),
 * GET/DELETE /api/sheds/{name}, POST /api/sheds/{name}/start|stop, with
 * Shed's JSON field names, error codes and HTTP statuses, so Shed's CLI
 * can add any node as a server and see the whole cluster's sheds.
 *
 * Like http_route.c this is pure: it turns a request into local API calls
 * (node/api/api_msg.h) made through a function the caller gives, and the
 * replies into Shed's JSON. node_http_serve.c gives the real call; the fuzzer a
 * fake one. Shed's answers sometimes need two calls (a start answers 409
 * SHED_ALREADY_RUNNING when the shed runs, then shows the shed it
 * started), so a route here is a small sequence, not one request.
 */
#ifndef SHED_HTTP_SHED_COMPAT_H
#define SHED_HTTP_SHED_COMPAT_H

#include "bridges/event_msg.h"
#include "node/api/api_msg.h"
#include "node/http/http_route.h"
#include "node/http/http_tokens.h"

#include <stdbool.h>
#include <stddef.h>

#define HTTP_COMPAT_PREFIX  "/api/"
/* /api/info's backend: Shed's CLI needs one; the scheduler picks the node,
 * and each shed shows its node's driver. */
#define HTTP_COMPAT_BACKEND "cluster"

typedef struct {
    int route; /* index in the compat table */
    char name[API_SHED_REF_MAX + 1];
} http_compat_match_t;

/* Is this path one of Shed's ("/api/...")? */
bool http_compat_path (const char *path);

/* Method + path. 0, or -1 with a 404 (NOT_FOUND) or 405
 * (METHOD_NOT_ALLOWED, allow filled) in err. */
int http_compat_match (const char *method, const char *path, http_compat_match_t *m,
                       http_error_t *err);
/* The role a route needs: HTTP_ROLE_NONE for GET /api/info and
 * /api/ssh-host-key (Shed serves them without a token: clients call them
 * before they have one), READ for the other GETs, OPERATOR for the rest. */
http_role_t http_compat_role (const http_compat_match_t *m);
const char *http_compat_name (const http_compat_match_t *m);

/* One local API request: 0 with *rep filled (the caller frees it with
 * wire_msg_free), or -1 with a reason and *outcome_unknown set when the
 * request went out and no answer came in time. */
typedef int (*http_compat_call_fn) (void *arg, api_msg_t *req, api_msg_t *rep, int timeout_ms,
                                    bool *outcome_unknown, char *why, size_t whylen);

typedef struct {
    unsigned http_port;     /* /api/info's http_port: where this server listens */
    const char *request_id; /* for the mutation, so a retry is not done twice */
} http_compat_ctx_t;

/* Serve a matched request: the status and a malloc'd JSON body (NULL with
 * *len 0 for 204). Errors come back as Shed's {"error": {"code",
 * "message"}} with its codes. Returns the status; *body NULL and status
 * 0 only when out of memory (the caller drops the connection). */
unsigned http_compat_serve (const http_compat_match_t *m, const char *body, size_t len,
                            const http_compat_ctx_t *ctx, http_compat_call_fn call, void *arg,
                            char **out, size_t *outlen);

/* The error as Shed shapes it (code in Shed's upper-case style). */
char *http_compat_error_json (const http_error_t *err, size_t *len);

/* The node's Ed25519 identity key (base64, as API_STATUS_REP's sign_key)
 * as an OpenSSH public key line, "ssh-ed25519 AAAA...": 0, or -1 when the
 * key is not 32 bytes of base64 or cap is too small. */
int http_compat_host_key (const char *sign_key, char *out, size_t cap);

/* Shed's create progress stream (docs/api.md, "Shed compatibility"): a
 * POST /api/sheds whose Accept names text/event-stream is answered 200
 * with server-sent events, each "event: NAME" and one "data: JSON" line:
 *   progress  {"message", "phase"}: one per create phase (reserved, placed,
 *             network, rootfs, started) as the create.<node>.<shed> events
 *             come;
 *   complete  the shed, as the synchronous create answers it; or
 *   error     {"error": {"code", "message"}}, Shed's error document;
 * the last event is complete or error and then the stream ends.
 * http_shed_stream.c runs it; these are its pure parts. */
bool http_compat_wants_stream (const http_compat_match_t *m, const char *accept);
/* Decode the create's body as the synchronous create does: 0 with the
 * shed's name, or -1 with Shed's 400 in err (answered before any stream). */
int http_compat_create_check (const char *body, size_t len, char *name, size_t namecap,
                              http_error_t *err);
/* A progress record for `shed`'s create, or NULL (not this create's, a
 * "failed" phase: the error event says why, or out of memory). */
char *http_compat_sse_progress (const evpay_progress_t *p, const char *shed, size_t *len);
/* The final record from http_compat_serve's status and body for the create. */
char *http_compat_sse_final (unsigned status, const char *body, size_t bodylen, size_t *len);

/* Each route's method, path ("{name}" for the shed) and name. */
void http_compat_routes (http_route_visit_fn fn, void *arg);

#endif
