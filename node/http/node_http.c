/* node_http.c - see node_http.h. */
#include "node/http/node_http.h"

#include "common/fileutil.h"
#include "common/log.h"
#include "common/mhd_dl.h"
#include "common/tcp_listen.h"
#include "node/api/api_client.h"
#include "node/api/api_pool.h"
#include "node/http/http_conns.h"
#include "node/http/http_events.h"
#include "node/http/http_logs.h"
#include "node/http/http_passthrough.h"
#include "node/http/http_route.h"
#include "node/http/http_shed_compat.h"
#include "node/http/http_shed_stream.h"
#include "node/http/http_tokens.h"
#include "node/http/http_watch.h"

#include <arpa/inet.h>
#include <czmq.h>
#include <errno.h>
#include <netinet/in.h>
#include <sodium.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#define S_COMP           "http"
#define S_PEM_MAX        (64u << 10) /* a certificate chain or key file */
#define S_LOG_EVERY_MS   1000        /* at most one line per reason this often */
#define S_POOL_IDLE      16          /* local API sockets kept between requests */
#define S_LISTEN_BACKLOG 1024        /* connections the kernel queues for accept */

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
} s_stat_t;

/* Designated, so a counter added to the enum cannot shift the names. */
static const char *s_stat_names[ST_COUNT] = {
    [ST_REQ_2XX] = "requests_2xx",          [ST_REQ_4XX] = "requests_4xx",
    [ST_REQ_5XX] = "requests_5xx",          [ST_AUTH_MISSING] = "auth_missing",
    [ST_AUTH_MALFORMED] = "auth_malformed", [ST_AUTH_UNKNOWN] = "auth_unknown",
    [ST_AUTH_EXPIRED] = "auth_expired",     [ST_AUTH_FORBIDDEN] = "auth_forbidden",
    [ST_TOO_LARGE] = "body_too_large",      [ST_BAD_REQUEST] = "bad_request",
    [ST_RATE_LIMITED] = "rate_limited",     [ST_NO_REPLY] = "no_reply",
    [ST_CONN_REFUSED] = "conn_refused",     [ST_CONN_TIMEOUT] = "conn_timeout",
    [ST_CONN_EVICTED] = "conn_evicted",     [ST_CONNS] = "connections",
};

struct _shed_http_t {
    shed_api_server_t *api; /* borrowed, for the token commands */
    http_tokens_t *tokens;
    struct MHD_Daemon *mhd;
    shed_api_pool_t *pool;            /* the local API the threads call (api_pool.h) */
    char endpoint[SHED_ENDPOINT_MAX]; /* ... its address (http_shed_stream.h) */
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
} s_req_t;

static void
s_count (shed_http_t *self, s_stat_t s)
{
    atomic_fetch_add_explicit (&self->stats[s], 1, memory_order_relaxed);
}

/* Hostile clients can make a line per request: one per reason per second. */
static bool
s_log_ok (shed_http_t *self, s_stat_t s)
{
    int64_t now = zclock_mono ();
    int64_t last = atomic_load_explicit (&self->last_log_ms[s], memory_order_relaxed);
    if (now - last < S_LOG_EVERY_MS)
        return false;
    return atomic_compare_exchange_strong (&self->last_log_ms[s], &last, now);
}

/* ---- token commands on the local API (main loop) ------------------------------ */

static void
s_api_token_create (shed_api_call_t *call, const api_msg_t *msg, void *arg)
{
    shed_http_t *self = arg;
    const api_token_create_req_t *r = &msg->u.api_token_create_req;
    http_role_t role = http_role_parse (r->role);
    api_msg_t rep = { .hdr.type = API_TOKEN_REP };
    api_token_t item = { 0 };
    char why[256];
    if (role == HTTP_ROLE_NONE) {
        shed_api_reply_error (&call, API_ERR_INVALID, "role '%s': expected read or operator",
                              r->role);
        return;
    }
    if (http_tokens_create (self->tokens, role, r->name, r->ttl_ms, rep.u.api_token_rep.token,
                            item.id, why, sizeof why)
        != 0) {
        shed_api_reply_error (&call, API_ERR_INVALID, "%s", why);
        return;
    }
    snprintf (item.role, sizeof item.role, "%s", http_role_name (role));
    snprintf (item.name, sizeof item.name, "%s", r->name);
    if (r->ttl_ms)
        item.expires_ms = (uint64_t) zclock_time () + r->ttl_ms; /* as the store set it, +-1 ms */
    rep.u.api_token_rep.tokens.n = 1;
    rep.u.api_token_rep.tokens.items = &item;
    log_info (S_COMP, "token created|id=%s role=%s name=%s ttl_ms=%llu", item.id, item.role,
              item.name, (unsigned long long) r->ttl_ms);
    shed_api_reply (&call, &rep);
    sodium_memzero (&rep, sizeof rep);
}

static void
s_api_token_list (shed_api_call_t *call, const api_msg_t *msg, void *arg)
{
    (void) msg;
    shed_http_t *self = arg;
    api_msg_t rep = { .hdr.type = API_TOKEN_REP };
    size_t n = 0;
    api_token_t *items = http_tokens_list (self->tokens, &n);
    if (!items) {
        shed_api_reply_error (&call, API_ERR_INTERNAL, "out of memory");
        return;
    }
    rep.u.api_token_rep.tokens.n = n;
    rep.u.api_token_rep.tokens.items = items;
    shed_api_reply (&call, &rep);
    free (items);
}

static void
s_api_token_revoke (shed_api_call_t *call, const api_msg_t *msg, void *arg)
{
    shed_http_t *self = arg;
    const char *id = msg->u.api_token_revoke_req.id;
    char why[256];
    if (http_tokens_revoke (self->tokens, id, why, sizeof why) != 0) {
        shed_api_reply_error (&call, API_ERR_NOT_FOUND, "%s", why);
        return;
    }
    log_info (S_COMP, "token revoked|id=%s", id);
    api_msg_t rep = { .hdr.type = API_OK };
    snprintf (rep.u.api_ok.message, sizeof rep.u.api_ok.message, "token %s revoked", id);
    shed_api_reply (&call, &rep);
}

/* ---- HTTP threads ------------------------------------------------------------- */

static MHD_Result_t
s_respond_as (shed_http_t *self, struct MHD_Connection *conn, unsigned status, char *body,
              size_t len, const char *allow, const char *ctype, uint64_t index)
{
    s_count (self, status < 300 ? ST_REQ_2XX : status < 500 ? ST_REQ_4XX : ST_REQ_5XX);
    if (!body)
        return MHD_NO; /* out of memory: drop the connection */
    struct MHD_Response *resp =
        sym_MHD_create_response_from_buffer (len, body, MHD_RESPMEM_MUST_FREE);
    if (!resp) {
        free (body);
        return MHD_NO;
    }
    sym_MHD_add_response_header (resp, MHD_HTTP_HEADER_CONTENT_TYPE, ctype);
    sym_MHD_add_response_header (resp, MHD_HTTP_HEADER_CACHE_CONTROL, "no-store");
    if (index) {
        char text[24];
        snprintf (text, sizeof text, "%llu", (unsigned long long) index);
        sym_MHD_add_response_header (resp, HTTP_WATCH_HEADER, text);
    }
    if (allow && *allow)
        sym_MHD_add_response_header (resp, MHD_HTTP_HEADER_ALLOW, allow);
    if (status == 401)
        sym_MHD_add_response_header (resp, MHD_HTTP_HEADER_WWW_AUTHENTICATE,
                                     "Bearer realm=\"shed-node\"");
    if (status == 503 || status == 429)
        sym_MHD_add_response_header (resp, MHD_HTTP_HEADER_RETRY_AFTER, "1");
    MHD_Result_t rc = sym_MHD_queue_response (conn, status, resp);
    sym_MHD_destroy_response (resp);
    return rc;
}

static MHD_Result_t
s_respond (shed_http_t *self, struct MHD_Connection *conn, unsigned status, char *body, size_t len,
           const char *allow)
{
    return s_respond_as (self, conn, status, body, len, allow, "application/json", 0);
}

static MHD_Result_t
s_fail (shed_http_t *self, struct MHD_Connection *conn, const http_error_t *err,
        const char *request_id)
{
    size_t len = 0;
    char *body = http_error_json (err, &len, "request_id", request_id, NULL);
    return s_respond (self, conn, err->status, body, len, err->allow);
}

/* The same failure in Shed's shape, for its /api/ routes. */
static MHD_Result_t
s_fail_compat (shed_http_t *self, struct MHD_Connection *conn, const http_error_t *err)
{
    size_t len = 0;
    char *body = http_compat_error_json (err, &len);
    return s_respond (self, conn, err->status, body, len, err->allow);
}

static void
s_remote (struct MHD_Connection *conn, char *out, size_t size)
{
    snprintf (out, size, "?");
    const union MHD_ConnectionInfo *ci =
        sym_MHD_get_connection_info (conn, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
    if (!ci || !ci->client_addr)
        return;
    const struct sockaddr *sa = ci->client_addr;
    char ip[INET6_ADDRSTRLEN] = "?";
    if (sa->sa_family == AF_INET)
        inet_ntop (AF_INET, &((const struct sockaddr_in *) sa)->sin_addr, ip, sizeof ip);
    else if (sa->sa_family == AF_INET6)
        inet_ntop (AF_INET6, &((const struct sockaddr_in6 *) sa)->sin6_addr, ip, sizeof ip);
    snprintf (out, size, "%s", ip);
}

typedef struct {
    http_arg_t args[HTTP_ARGS_MAX + 1];
    size_t n;
} s_args_t;

static MHD_Result_t
s_collect_arg (void *cls, enum MHD_ValueKind kind, const char *key, const char *value)
{
    (void) kind;
    s_args_t *a = cls;
    if (a->n <= HTTP_ARGS_MAX) /* one over: the decoder says "too many" */
        a->args[a->n++] = (http_arg_t){ key, value };
    return MHD_YES;
}

static MHD_Result_t
s_fail_r (shed_http_t *self, struct MHD_Connection *conn, const s_req_t *r, const http_error_t *err)
{
    return r->compat ? s_fail_compat (self, conn, err) : s_fail (self, conn, err, NULL);
}

/* Headers are in, the body not yet: authenticate, route, authorise, and
 * refuse a declared body over the limit before reading a byte of it. */
static MHD_Result_t
s_first (shed_http_t *self, struct MHD_Connection *conn, s_req_t *r, const char *url,
         const char *method)
{
    http_error_t err;
    /* Shed's routes: matched first (their table is public, and GET
     * /api/info needs no token, as on Shed), errors in Shed's shape. */
    r->compat = http_compat_path (url);
    if (r->compat && http_compat_match (method, url, &r->cmatch, &err) != 0)
        return s_fail_compat (self, conn, &err);
    if (r->compat && http_compat_role (&r->cmatch) == HTTP_ROLE_NONE)
        return MHD_YES;
    const char *auth =
        sym_MHD_lookup_connection_value (conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_AUTHORIZATION);
    http_role_t role = HTTP_ROLE_NONE;
    http_auth_t a = http_tokens_check (self->tokens, auth, &role, r->token_id);
    r->role = role;
    if (a == HTTP_AUTH_LIMITED) {
        s_count (self, ST_RATE_LIMITED);
        if (s_log_ok (self, ST_RATE_LIMITED))
            log_warn (S_COMP, "request refused: rate|remote=%s id=%s", r->remote, r->token_id);
        http_error_set (&err, 429, "rate_limited",
                        "token %s is over its request rate (http.rate_per_token); retry later",
                        r->token_id);
        return s_fail_r (self, conn, r, &err);
    }
    if (a != HTTP_AUTH_OK) {
        s_stat_t s = a == HTTP_AUTH_MISSING     ? ST_AUTH_MISSING
                     : a == HTTP_AUTH_MALFORMED ? ST_AUTH_MALFORMED
                     : a == HTTP_AUTH_EXPIRED   ? ST_AUTH_EXPIRED
                                                : ST_AUTH_UNKNOWN;
        s_count (self, s);
        if (s_log_ok (self, s))
            log_warn (S_COMP, "unauthenticated request refused|remote=%s method=%s reason=%s id=%s",
                      r->remote, method, s_stat_names[s] + 5, r->token_id[0] ? r->token_id : "-");
        http_error_set (&err, 401, "unauthorized",
                        a == HTTP_AUTH_MISSING ? "missing bearer token (Authorization: Bearer ...)"
                        : a == HTTP_AUTH_MALFORMED ? "malformed bearer token"
                        : a == HTTP_AUTH_EXPIRED   ? "expired token"
                                                   : "unknown or revoked token");
        return s_fail_r (self, conn, r, &err);
    }
    if (!r->compat && http_route_match (method, url, &r->match, &err) != 0)
        return s_fail_r (self, conn, r, &err);
    http_role_t need = r->compat ? http_compat_role (&r->cmatch) : http_route_role (r->match.route);
    const char *rname =
        r->compat ? http_compat_name (&r->cmatch) : http_route_name (r->match.route);
    if (role < need) {
        s_count (self, ST_AUTH_FORBIDDEN);
        if (s_log_ok (self, ST_AUTH_FORBIDDEN))
            log_warn (S_COMP, "request refused: role|remote=%s id=%s role=%s route=%s", r->remote,
                      r->token_id, http_role_name (role), rname);
        http_error_set (&err, 403, "forbidden", "token %s has role %s; %s needs %s", r->token_id,
                        http_role_name (role), rname, http_role_name (need));
        return s_fail_r (self, conn, r, &err);
    }
    const char *cl =
        sym_MHD_lookup_connection_value (conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_LENGTH);
    if (cl && strtoull (cl, NULL, 10) > self->max_body) {
        s_count (self, ST_TOO_LARGE);
        http_error_set (&err, 413, "body_too_large", "request body over %zu bytes", self->max_body);
        return s_fail_r (self, conn, r, &err);
    }
    return MHD_YES;
}

/* A consumer of the local event bus under the route's records' topic, so a
 * blocking query wakes when its list may have changed; NULL (then it asks
 * again every HTTP_WATCH_RECHECK_MS only) when the bus is not there. */
static bus_client_t *
s_watch_bus (shed_http_t *self, const http_route_t *route)
{
    api_msg_t req = { .hdr.type = API_EVENTS_REQ }, rep;
    char why[256];
    if (shed_api_pool_call (self->pool, &req, &rep, HTTP_READ_TIMEOUT_MS, &self->stopping, why,
                            sizeof why)
        != 0)
        return NULL;
    bus_client_t *bus = NULL;
    if (rep.hdr.type == API_EVENTS_REP && rep.u.api_events_rep.local[0])
        bus = bus_client_new (rep.u.api_events_rep.local, NULL, NULL, NULL);
    wire_msg_free (&api_proto, &rep);
    if (bus)
        bus_client_subscribe (bus, http_watch_topic (route));
    return bus;
}

/* POST /v1/api: one encoded local API request, its role checked by type
 * (http_passthrough.h), the node's encoded reply as the answer, whatever
 * it is (an API_ERROR too: shedctl prints it as it does locally). */
static MHD_Result_t
s_serve_msgpack (shed_http_t *self, struct MHD_Connection *conn, s_req_t *r)
{
    http_error_t err;
    api_msg_t req, rep;
    if (http_pt_decode ((const uint8_t *) r->body, r->len, r->role, &req, &err) != 0) {
        s_count (self, err.status == 403 ? ST_AUTH_FORBIDDEN : ST_BAD_REQUEST);
        if (err.status == 403 && s_log_ok (self, ST_AUTH_FORBIDDEN))
            log_warn (S_COMP, "request refused: role|remote=%s id=%s role=%s why=%s", r->remote,
                      r->token_id, http_role_name (r->role), err.message);
        return s_fail (self, conn, &err, NULL);
    }
    const char *t = sym_MHD_lookup_connection_value (conn, MHD_HEADER_KIND, HTTP_TIMEOUT_HEADER);
    uint64_t client_ms = t ? strtoull (t, NULL, 10) : 0;
    char why[512];
    int rc = shed_api_pool_call (self->pool, &req, &rep, http_pt_timeout_ms (&req, client_ms),
                                 &self->stopping, why, sizeof why);
    log_debug (S_COMP, "request|remote=%s id=%s route=api type=%u rc=%d", r->remote, r->token_id,
               req.hdr.type, rc);
    char request_id[80];
    snprintf (request_id, sizeof request_id, "%s", http_request_id (&req));
    wire_msg_free (&api_proto, &req);
    if (rc != 0) {
        s_count (self, ST_NO_REPLY);
        if (rc == SHED_API_NO_REPLY)
            http_error_set (&err, 504, "outcome_unknown", "no answer from the node in time%s%s",
                            request_id[0] ? ": retry with "
                                            "the same request id "
                                          : "",
                            request_id);
        else
            http_error_set (&err, 503, "unavailable", "%s", why);
        return s_fail (self, conn, &err, request_id);
    }
    uint8_t *buf = NULL;
    size_t len = 0;
    rc = wire_encode (&api_proto, &rep, &buf, &len);
    wire_msg_free (&api_proto, &rep);
    if (rc != WIRE_OK) {
        http_error_set (&err, 502, "bad_gateway", "the node's reply did not encode: %s",
                        wire_strerror (rc));
        return s_fail (self, conn, &err, NULL);
    }
    return s_respond_as (self, conn, 200, (char *) buf, len, NULL, HTTP_MSGPACK_TYPE, 0);
}

/* GET /v1/events: a server-sent event stream (http_events.h). */
static MHD_Result_t
s_serve_events (shed_http_t *self, struct MHD_Connection *conn, s_req_t *r)
{
    http_error_t err;
    s_args_t args = { .n = 0 };
    sym_MHD_get_connection_values (conn, MHD_GET_ARGUMENT_KIND, s_collect_arg, &args);
    if (args.n > HTTP_ARGS_MAX) {
        http_error_set (&err, 400, "bad_request", "more than %d query arguments", HTTP_ARGS_MAX);
        return s_fail (self, conn, &err, NULL);
    }
    struct MHD_Response *resp =
        http_events_open (self->events, conn, args.args, args.n, r->token_id, &err);
    if (!resp)
        return s_fail (self, conn, &err, NULL); /* a 429 is counted as too_many_streams */
    s_count (self, ST_REQ_2XX);
    MHD_Result_t rc = sym_MHD_queue_response (conn, 200, resp);
    sym_MHD_destroy_response (resp);
    return rc;
}

/* GET /v1/sheds/{name}/logs?follow=true: a log stream (http_logs.h). */
static MHD_Result_t
s_serve_logs (shed_http_t *self, struct MHD_Connection *conn, s_req_t *r, const s_args_t *a)
{
    http_error_t err;
    struct MHD_Response *resp = http_logs_open (self->events, self->endpoint, &self->stopping, conn,
                                                &r->match, a->args, a->n, r->token_id, &err);
    if (!resp)
        return s_fail (self, conn, &err, NULL);
    s_count (self, ST_REQ_2XX);
    MHD_Result_t rc = sym_MHD_queue_response (conn, 200, resp);
    sym_MHD_destroy_response (resp);
    return rc;
}

/* The body is in: decode, call the node's local API, answer. */
static MHD_Result_t
s_serve (shed_http_t *self, struct MHD_Connection *conn, s_req_t *r)
{
    http_error_t err;
    if (http_route_kind (r->match.route) == HTTP_ROUTE_MSGPACK)
        return s_serve_msgpack (self, conn, r);
    if (http_route_kind (r->match.route) == HTTP_ROUTE_EVENTS)
        return s_serve_events (self, conn, r);
    s_args_t args = { .n = 0 };
    sym_MHD_get_connection_values (conn, MHD_GET_ARGUMENT_KIND, s_collect_arg, &args);
    bool follow = false;
    if (http_route_followable (r->match.route)
        && http_logs_args (args.args, &args.n, &follow, &err) != 0) {
        s_count (self, ST_BAD_REQUEST);
        return s_fail (self, conn, &err, NULL);
    }
    if (follow)
        return s_serve_logs (self, conn, r, &args);
    bool watch = http_route_watchable (r->match.route), index_set = false;
    uint64_t index = 0, wait_ms = 0;
    if (watch && http_watch_args (args.args, &args.n, &index_set, &index, &wait_ms, &err) != 0) {
        s_count (self, ST_BAD_REQUEST);
        return s_fail (self, conn, &err, NULL);
    }
    api_msg_t req, rep;
    if (http_request_decode (&r->match, args.args, args.n, r->body, r->len, &req, &err) != 0) {
        s_count (self, ST_BAD_REQUEST);
        return s_fail (self, conn, &err, NULL);
    }
    /* A mutation always carries a request id, so a client that lost the
     * answer can retry it (or ask) without doing it twice. */
    char *rid = req.hdr.type == API_SHED_CREATE_REQ ? req.u.api_shed_create_req.request_id
                : req.hdr.type == API_SHED_OP_REQ   ? req.u.api_shed_op_req.request_id
                                                    : NULL;
    if (rid && !*rid) {
        /* Both request_id fields are char[65] (api_msg.h). */
        uint8_t b[8];
        randombytes_buf (b, sizeof b);
        snprintf (rid, sizeof req.u.api_shed_op_req.request_id,
                  "http-%02x%02x%02x%02x%02x%02x%02x%02x", b[0], b[1], b[2], b[3], b[4], b[5], b[6],
                  b[7]);
    }
    char request_id[80];
    snprintf (request_id, sizeof request_id, "%s", http_request_id (&req));
    char why[512];
    /* A blocking query asks again after each change it hears of (or every
     * HTTP_WATCH_RECHECK_MS) until the list's index moves off the one the
     * client has, or its wait is over. */
    int64_t until = zclock_mono () + (int64_t) wait_ms;
    bus_client_t *bus = NULL;
    bool waited = false;
    char *body = NULL;
    size_t len = 0;
    uint64_t at = 0;
    int rc;
    for (;;) {
        rc = shed_api_pool_call (self->pool, &req, &rep, http_request_timeout_ms (&req),
                                 &self->stopping, why, sizeof why);
        if (rc != 0 || !watch)
            break;
        body = http_reply_json (&r->match, &rep, &len, &err);
        if (!body)
            break;
        at = http_watch_index (self->watch, r->match.route, body, len);
        int64_t left = until - zclock_mono ();
        if (!index_set || at != index || left <= 0 || self->stopping)
            break;
        if (!waited) {
            waited = true;
            http_watch_count (self->watch, 1, false);
            bus = s_watch_bus (self, r->match.route);
        }
        free (body);
        body = NULL;
        wire_msg_free (&api_proto, &rep);
        http_watch_wait (bus, left < HTTP_WATCH_RECHECK_MS ? (int) left : HTTP_WATCH_RECHECK_MS,
                         &self->stopping);
    }
    if (waited)
        http_watch_count (self->watch, -1, true);
    bus_client_destroy (&bus);
    log_debug (S_COMP, "request|remote=%s id=%s route=%s rc=%d", r->remote, r->token_id,
               http_route_name (r->match.route), rc);
    wire_msg_free (&api_proto, &req);
    if (watch && rc == 0) {
        wire_msg_free (&api_proto, &rep);
        if (!body)
            return s_fail (self, conn, &err, NULL);
        return s_respond_as (self, conn, 200, body, len, NULL, "application/json", at);
    }
    if (rc != 0) {
        s_count (self, ST_NO_REPLY);
        if (rc == SHED_API_NO_REPLY
            && (request_id[0] || http_route_role (r->match.route) == HTTP_ROLE_OPERATOR))
            http_error_set (&err, 504, "outcome_unknown",
                            "no answer from the node in time: the outcome is unknown%s%s",
                            request_id[0] ? "; retry with the same request_id " : "", request_id);
        else
            http_error_set (&err, 503, "unavailable", "%s", why);
        return s_fail (self, conn, &err, request_id);
    }
    body = http_reply_json (&r->match, &rep, &len, &err);
    wire_msg_free (&api_proto, &rep);
    if (!body)
        return s_fail (self, conn, &err, request_id);
    return s_respond (self, conn, http_route_ok_status (r->match.route), body, len, NULL);
}

/* One local API request for the compat layer (a thread of MHD's). */
static int
s_compat_call (void *arg, api_msg_t *req, api_msg_t *rep, int timeout_ms, bool *outcome_unknown,
               char *why, size_t whylen)
{
    shed_http_t *self = arg;
    int rc = shed_api_pool_call (self->pool, req, rep, timeout_ms, &self->stopping, why, whylen);
    *outcome_unknown = rc == SHED_API_NO_REPLY;
    if (rc != 0)
        s_count (self, ST_NO_REPLY);
    return rc == 0 ? 0 : -1;
}

static MHD_Result_t
s_serve_compat_stream (shed_http_t *self, struct MHD_Connection *conn, s_req_t *r,
                       const http_compat_ctx_t *ctx)
{
    http_error_t err;
    struct MHD_Response *resp =
        http_shed_stream_open (self->endpoint, &self->stopping, conn, &r->cmatch, r->body, r->len,
                               ctx, s_compat_call, self, &err);
    if (!resp)
        return s_fail_compat (self, conn, &err);
    s_count (self, ST_REQ_2XX);
    MHD_Result_t rc = sym_MHD_queue_response (conn, 200, resp);
    sym_MHD_destroy_response (resp);
    return rc;
}

/* Shed's routes (http_shed_compat.h): the same calls, Shed's JSON. */
static MHD_Result_t
s_serve_compat (shed_http_t *self, struct MHD_Connection *conn, s_req_t *r)
{
    uint8_t b[8];
    randombytes_buf (b, sizeof b);
    char rid[40];
    snprintf (rid, sizeof rid, "http-%02x%02x%02x%02x%02x%02x%02x%02x", b[0], b[1], b[2], b[3],
              b[4], b[5], b[6], b[7]);
    const char *colon = strrchr (self->address, ':');
    http_compat_ctx_t ctx = { .http_port = colon ? (unsigned) strtoul (colon + 1, NULL, 10) : 0,
                              .request_id = rid };
    /* Shed's create progress stream (http_shed_stream.h) */
    if (http_compat_wants_stream (&r->cmatch, sym_MHD_lookup_connection_value (
                                                  conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_ACCEPT)))
        return s_serve_compat_stream (self, conn, r, &ctx);
    char *body = NULL;
    size_t len = 0;
    unsigned status =
        http_compat_serve (&r->cmatch, r->body, r->len, &ctx, s_compat_call, self, &body, &len);
    log_debug (S_COMP, "request|remote=%s id=%s route=%s status=%u", r->remote,
               r->token_id[0] ? r->token_id : "-", http_compat_name (&r->cmatch), status);
    if (status == 0)
        return MHD_NO;
    if (status == 400)
        s_count (self, ST_BAD_REQUEST);
    if (!body) { /* 204 */
        s_count (self, ST_REQ_2XX);
        struct MHD_Response *resp =
            sym_MHD_create_response_from_buffer (0, NULL, MHD_RESPMEM_PERSISTENT);
        if (!resp)
            return MHD_NO;
        MHD_Result_t rc = sym_MHD_queue_response (conn, status, resp);
        sym_MHD_destroy_response (resp);
        return rc;
    }
    return s_respond (self, conn, status, body, len, NULL);
}

static MHD_Result_t
s_on_http (void *cls, struct MHD_Connection *conn, const char *url, const char *method,
           const char *version, const char *upload_data, size_t *upload_data_size, void **con_cls)
{
    (void) version;
    shed_http_t *self = cls;
    s_req_t *r = *con_cls;
    if (!r) {
        r = calloc (1, sizeof *r);
        if (!r)
            return MHD_NO;
        *con_cls = r;
        r->started_ms = zclock_mono ();
        s_remote (conn, r->remote, sizeof r->remote);
        const union MHD_ConnectionInfo *ci =
            sym_MHD_get_connection_info (conn, MHD_CONNECTION_INFO_SOCKET_CONTEXT);
        r->conn = ci ? ci->socket_context : NULL;
        http_conns_busy (self->conns, r->conn, true);
        return s_first (self, conn, r, url, method);
    }
    if (*upload_data_size) {
        size_t n = *upload_data_size;
        *upload_data_size = 0;
        /* A body dripped in to hold a thread: http.timeout_s closes a
         * silent connection, this one that sends a byte now and then. */
        if (zclock_mono () - r->started_ms > (int64_t) self->body_deadline_ms) {
            s_count (self, ST_CONN_TIMEOUT);
            if (s_log_ok (self, ST_CONN_TIMEOUT))
                log_warn (S_COMP, "request body too slow: connection closed|remote=%s", r->remote);
            return MHD_NO;
        }
        if (r->too_big || r->len + n > self->max_body) {
            /* Chunked or lying about its length: stop keeping it, answer
             * 413 at its end, and close at once if it goes on and on. */
            if (!r->too_big)
                s_count (self, ST_TOO_LARGE);
            r->too_big = true;
            free (r->body);
            r->body = NULL;
            r->len = 0;
            r->dropped += n;
            return r->dropped > 4 * self->max_body ? MHD_NO : MHD_YES;
        }
        char *grown = realloc (r->body, r->len + n + 1);
        if (!grown)
            return MHD_NO;
        memcpy (grown + r->len, upload_data, n);
        r->body = grown;
        r->len += n;
        r->body[r->len] = '\0';
        return MHD_YES;
    }
    if (r->too_big) {
        http_error_t err;
        http_error_set (&err, 413, "body_too_large", "request body over %zu bytes", self->max_body);
        return s_fail_r (self, conn, r, &err);
    }
    return r->compat ? s_serve_compat (self, conn, r) : s_serve (self, conn, r);
}

static void
s_on_completed (void *cls, struct MHD_Connection *conn, void **con_cls,
                enum MHD_RequestTerminationCode toe)
{
    (void) conn;
    shed_http_t *self = cls;
    if (toe == MHD_REQUEST_TERMINATED_TIMEOUT_REACHED)
        s_count (self, ST_CONN_TIMEOUT);
    s_req_t *r = *con_cls;
    if (r) {
        http_conns_busy (self->conns, r->conn, false);
        free (r->body);
        free (r);
        *con_cls = NULL;
    }
}

static void
s_on_connection (void *cls, struct MHD_Connection *conn, void **socket_context,
                 enum MHD_ConnectionNotificationCode toe)
{
    shed_http_t *self = cls;
    if (toe != MHD_CONNECTION_NOTIFY_STARTED) {
        /* libmicrohttpd's timeout counts from the last bytes received;
         * ours from the accept or the last request's end: a little less. */
        if (http_conns_close (self->conns, *socket_context, self->idle_ms - 100))
            s_count (self, ST_CONN_TIMEOUT);
        *socket_context = NULL;
        atomic_fetch_sub (&self->stats[ST_CONNS], 1);
        return;
    }
    atomic_fetch_add (&self->stats[ST_CONNS], 1);
    const union MHD_ConnectionInfo *ci =
        sym_MHD_get_connection_info (conn, MHD_CONNECTION_INFO_CONNECTION_FD);
    bool evicted = false;
    *socket_context = ci ? http_conns_open (self->conns, (int) ci->connect_fd, &evicted) : NULL;
    if (evicted) {
        s_count (self, ST_CONN_EVICTED);
        if (s_log_ok (self, ST_CONN_EVICTED))
            log_warn (S_COMP, "http.max_connections reached: the longest idle connection closed");
    }
}

static void
s_mhd_log (void *cls, const char *fmt, va_list ap)
{
    shed_http_t *self = cls;
    char text[256];
    vsnprintf (text, sizeof text, fmt, ap);
    text[strcspn (text, "\n")] = '\0';
    /* Connections over the limits are closed at accept; MHD only says so
     * here. Count them, and keep a flood from flooding the log. */
    s_stat_t s = strstr (text, "limit") ? ST_CONN_REFUSED : ST_COUNT;
    if (s == ST_CONN_REFUSED)
        s_count (self, s);
    /* An event stream whose client left ends this way (http_events.c):
     * routine, not worth a warning per stream. */
    if (strstr (text, "application error generating response")) {
        log_debug (S_COMP, "libmicrohttpd: %s", text);
        return;
    }
    if (s == ST_COUNT || s_log_ok (self, s))
        log_warn (S_COMP, "libmicrohttpd: %s", text);
}

/* A PEM file; the key must not be readable by others. */
static char *
s_read_pem (const char *key, const char *path, bool secret, size_t *len, char *err, size_t errlen)
{
    struct stat st;
    if (stat (path, &st) != 0) {
        snprintf (err, errlen, "%s %s: %s", key, path, strerror (errno));
        return NULL;
    }
    if (secret && (st.st_mode & 077)) {
        snprintf (err, errlen, "%s %s: readable by others (mode %03o): chmod 600", key, path,
                  (unsigned) (st.st_mode & 0777));
        return NULL;
    }
    char *text = shed_read_file (path, S_PEM_MAX, len);
    if (!text)
        snprintf (err, errlen, "%s %s: %s", key, path, strerror (errno));
    return text;
}

static int
s_start (shed_http_t *self, const shed_config_t *cfg, char *err, size_t errlen)
{
    /* libmicrohttpd is loaded on first use (common/mhd_dl.h). */
    char dlerr[200];
    if (!mhd_dl_open (dlerr, sizeof dlerr)) {
        snprintf (err, errlen, "http: %s", dlerr);
        return -1;
    }
    bool tls = cfg->http.tls_cert[0] != '\0';
    if (tls && !sym_MHD_is_feature_supported (MHD_FEATURE_TLS)) {
        snprintf (err, errlen, "http.tls_cert: this libmicrohttpd was built without TLS");
        return -1;
    }
    size_t cert_len = 0;
    if (tls) {
        self->cert =
            s_read_pem ("http.tls_cert", cfg->http.tls_cert, false, &cert_len, err, errlen);
        if (!self->cert)
            return -1;
        self->key =
            s_read_pem ("http.tls_key", cfg->http.tls_key, true, &self->key_len, err, errlen);
        if (!self->key)
            return -1;
    }
    bool v6 = false;
    /* A deep accept queue: a burst of connections (a crowd over its
     * limits) is drained by the listener, which closes the excess at once;
     * a short queue would drop the SYNs of everyone, well-behaved clients
     * included, who would then wait a second for their retransmission
     * (integration/test_http_limits.sh found it). */
    int fd = shed_tcp_listen ("http.listen", cfg->http.listen, S_LISTEN_BACKLOG, self->address,
                              sizeof self->address, &v6, err, errlen);
    if (fd < 0)
        return -1;
    /* poll(), not select(): a node with many sheds holds over 1,024
     * descriptors (agent sockets and more), and MHD's select() refuses
     * every connection whose descriptor is past FD_SETSIZE (bench/api.sh
     * with 1,000 sheds found it). */
    unsigned flags = MHD_USE_THREAD_PER_CONNECTION | MHD_USE_INTERNAL_POLLING_THREAD
                     | (sym_MHD_is_feature_supported (MHD_FEATURE_POLL) ? MHD_USE_POLL : 0)
                     | MHD_USE_ERROR_LOG | (v6 ? MHD_USE_IPv6 : 0) | (tls ? MHD_USE_TLS : 0);
    struct MHD_OptionItem tls_opts[] = {
        { MHD_OPTION_HTTPS_MEM_CERT, 0, self->cert },
        { MHD_OPTION_HTTPS_MEM_KEY, 0, self->key },
        { MHD_OPTION_END, 0, NULL },
    };
    struct MHD_OptionItem no_opts[] = { { MHD_OPTION_END, 0, NULL } };
    /* The logger first: MHD complains (on stderr) about any option before it.
     * CONNECTION_TIMEOUT closes idle and slow connections, TLS handshakes
     * that never finish included; the limits bound the threads a crowd of
     * clients can hold. */
    self->mhd = sym_MHD_start_daemon (
        flags, 0, NULL, NULL, s_on_http, self, MHD_OPTION_EXTERNAL_LOGGER, s_mhd_log, self,
        MHD_OPTION_LISTEN_SOCKET, (MHD_socket) fd, MHD_OPTION_CONNECTION_LIMIT,
        (unsigned) cfg->http.max_connections, MHD_OPTION_PER_IP_CONNECTION_LIMIT,
        (unsigned) cfg->http.per_client_connections, MHD_OPTION_CONNECTION_TIMEOUT,
        (unsigned) cfg->http.timeout_s, MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t) 32768,
        MHD_OPTION_NOTIFY_COMPLETED, s_on_completed, self, MHD_OPTION_NOTIFY_CONNECTION,
        s_on_connection, self, MHD_OPTION_ARRAY, tls ? tls_opts : no_opts, MHD_OPTION_END);
    if (!self->mhd) {
        snprintf (err, errlen, "http.listen %s: libmicrohttpd did not start%s", cfg->http.listen,
                  tls ? " (are http.tls_cert and http.tls_key a matching PEM pair?)" : "");
        close (fd);
        return -1;
    }
    return 0;
}

/* ---- lifecycle ----------------------------------------------------------------- */

shed_http_t *
shed_http_new (const shed_config_t *cfg, shed_api_server_t *api, char *err, size_t errlen)
{
    shed_http_t *self = calloc (1, sizeof *self);
    if (!self) {
        snprintf (err, errlen, "out of memory");
        return NULL;
    }
    self->api = api;
    self->pool = shed_api_pool_new (cfg->api_endpoint, S_POOL_IDLE);
    self->events = http_events_new (self->pool, cfg->http.max_streams_per_token, &self->stopping);
    self->watch = http_watch_new ();
    self->conns = http_conns_new ((unsigned) cfg->http.max_connections);
    if (!self->pool || !self->events || !self->watch || !self->conns) {
        snprintf (err, errlen, "out of memory");
        http_events_destroy (&self->events);
        http_watch_destroy (&self->watch);
        http_conns_destroy (&self->conns);
        shed_api_pool_destroy (&self->pool);
        free (self);
        return NULL;
    }
    self->max_body = cfg->http.max_body_bytes;
    self->body_deadline_ms = (uint64_t) cfg->http.timeout_s * 3000;
    self->idle_ms = (int64_t) cfg->http.timeout_s * 1000;
    snprintf (self->endpoint, sizeof self->endpoint, "%s", cfg->api_endpoint);
    char path[PATH_MAX + 16];
    snprintf (path, sizeof path, "%s/api_tokens", cfg->data_dir);
    self->tokens = http_tokens_open (path, err, errlen);
    if (!self->tokens) {
        http_events_destroy (&self->events);
        http_watch_destroy (&self->watch);
        http_conns_destroy (&self->conns);
        shed_api_pool_destroy (&self->pool);
        free (self);
        return NULL;
    }
    http_tokens_set_rate (self->tokens, cfg->http.rate_per_token, cfg->http.rate_burst);
    shed_api_server_on (api, API_TOKEN_CREATE_REQ, s_api_token_create, self);
    shed_api_server_on (api, API_TOKEN_LIST_REQ, s_api_token_list, self);
    shed_api_server_on (api, API_TOKEN_REVOKE_REQ, s_api_token_revoke, self);
    if (cfg->http.listen[0] && s_start (self, cfg, err, errlen) != 0) {
        shed_http_destroy (&self);
        return NULL;
    }
    return self;
}

void
shed_http_destroy (shed_http_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    shed_http_t *self = *self_p;
    self->stopping = 1;
    if (self->mhd)
        sym_MHD_stop_daemon (self->mhd);
    if (self->api) {
        shed_api_server_on (self->api, API_TOKEN_CREATE_REQ, NULL, NULL);
        shed_api_server_on (self->api, API_TOKEN_LIST_REQ, NULL, NULL);
        shed_api_server_on (self->api, API_TOKEN_REVOKE_REQ, NULL, NULL);
    }
    http_tokens_destroy (&self->tokens);
    http_events_destroy (&self->events);
    http_watch_destroy (&self->watch);
    shed_api_pool_destroy (&self->pool); /* after MHD: no thread uses it now */
    http_conns_destroy (&self->conns);
    free (self->cert);
    if (self->key)
        sodium_memzero (self->key, self->key_len);
    free (self->key);
    free (self);
    *self_p = NULL;
}

http_tokens_t *
shed_http_tokens (shed_http_t *self)
{
    return self->tokens;
}

const char *
shed_http_address (shed_http_t *self)
{
    return self->address;
}

char *
shed_http_stats (shed_http_t *self)
{
    char *out = malloc (2048);
    if (!out)
        return NULL;
    size_t len = 0;
    for (int i = 0; i < ST_COUNT; i++)
        len += (size_t) snprintf (out + len, 2048 - len, "%s=%llu ", s_stat_names[i],
                                  (unsigned long long) atomic_load (&self->stats[i]));
    len +=
        (size_t) snprintf (out + len, 2048 - len, "tokens=%zu ", http_tokens_count (self->tokens));
    if (len < 2048)
        http_events_stats (self->events, out + len, 2048 - len);
    len += strlen (out + len);
    if (len + 1 < 2048) {
        out[len++] = ' ';
        http_watch_stats (self->watch, out + len, 2048 - len);
    }
    return out;
}
