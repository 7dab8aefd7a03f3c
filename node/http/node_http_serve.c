/*
 * node_http_serve.c - answering a request node_http.c has authenticated,
 * routed and read (node_http_int.h): the node's local API called for it,
 * blocking queries (?index=), POST /v1/api, the event and log streams,
 * Shed's routes, and the responses with their headers. Apart from
 * node_http.c because it is what each route does, not how a request gets
 * in.
 */
#include "node/http/node_http_int.h"

#include "common/log.h"
#include "node/api/api_client.h"
#include "node/http/http_logs.h"
#include "node/http/http_passthrough.h"
#include "node/http/http_shed_stream.h"

#include <czmq.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define S_COMP "http"

static MHD_Result_t
s_respond_as (shed_http_t *self, struct MHD_Connection *conn, unsigned status, char *body,
              size_t len, const char *allow, const char *ctype, uint64_t index)
{
    shed_http__count (self, status < 300 ? ST_REQ_2XX : status < 500 ? ST_REQ_4XX : ST_REQ_5XX);
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

MHD_Result_t
shed_http__fail (shed_http_t *self, struct MHD_Connection *conn, const http_error_t *err,
                 const char *request_id)
{
    size_t len = 0;
    char *body = http_error_json (err, &len, "request_id", request_id, NULL);
    return s_respond (self, conn, err->status, body, len, err->allow);
}

/* The same failure in Shed's shape, for its /api/ routes. */
MHD_Result_t
shed_http__fail_compat (shed_http_t *self, struct MHD_Connection *conn, const http_error_t *err)
{
    size_t len = 0;
    char *body = http_compat_error_json (err, &len);
    return s_respond (self, conn, err->status, body, len, err->allow);
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

/* A consumer of the local event bus under the route's records' topic, so a
 * blocking query wakes when its list may have changed; NULL (then it asks
 * again every HTTP_WATCH_RECHECK_MS only) when the bus is not there. */
static bus_client_t *
s_watch_bus (shed_http_t *self, const http_route_t *route)
{
    const char *topic = http_watch_topic (route);
    http_error_t err; /* not the client's business: the wait just polls */
    return http_events_bus_new (self->pool, &self->stopping, &topic, 1, &err);
}

/* POST /v1/api: one encoded local API request, its role checked by type
 * (http_passthrough.h), the node's encoded reply as the answer, whatever
 * it is (an API_ERROR too: shedctl prints it as it does locally). */
static MHD_Result_t
s_serve_msgpack (shed_http_t *self, struct MHD_Connection *conn, shed_http_req_t *r)
{
    http_error_t err;
    api_msg_t req, rep;
    if (http_pt_decode ((const uint8_t *) r->body, r->len, r->role, &req, &err) != 0) {
        shed_http__count (self, err.status == 403 ? ST_AUTH_FORBIDDEN : ST_BAD_REQUEST);
        if (err.status == 403 && shed_http__log_ok (self, ST_AUTH_FORBIDDEN))
            log_warn (S_COMP, "request refused: role|remote=%s id=%s role=%s why=%s", r->remote,
                      r->token_id, http_role_name (r->role), err.message);
        return shed_http__fail (self, conn, &err, NULL);
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
        shed_http__count (self, ST_NO_REPLY);
        if (rc == SHED_API_NO_REPLY)
            http_error_set (&err, 504, "outcome_unknown", "no answer from the node in time%s%s",
                            request_id[0] ? ": retry with "
                                            "the same request id "
                                          : "",
                            request_id);
        else
            http_error_set (&err, 503, "unavailable", "%s", why);
        return shed_http__fail (self, conn, &err, request_id);
    }
    uint8_t *buf = NULL;
    size_t len = 0;
    rc = wire_encode (&api_proto, &rep, &buf, &len);
    wire_msg_free (&api_proto, &rep);
    if (rc != WIRE_OK) {
        http_error_set (&err, 502, "bad_gateway", "the node's reply did not encode: %s",
                        wire_strerror (rc));
        return shed_http__fail (self, conn, &err, NULL);
    }
    return s_respond_as (self, conn, 200, (char *) buf, len, NULL, HTTP_MSGPACK_TYPE, 0);
}

/* GET /v1/events: a server-sent event stream (http_events.h). */
static MHD_Result_t
s_serve_events (shed_http_t *self, struct MHD_Connection *conn, shed_http_req_t *r)
{
    http_error_t err;
    s_args_t args = { .n = 0 };
    sym_MHD_get_connection_values (conn, MHD_GET_ARGUMENT_KIND, s_collect_arg, &args);
    if (args.n > HTTP_ARGS_MAX) {
        http_error_set (&err, 400, "bad_request", "more than %d query arguments", HTTP_ARGS_MAX);
        return shed_http__fail (self, conn, &err, NULL);
    }
    struct MHD_Response *resp =
        http_events_open (self->events, conn, args.args, args.n, r->token_id, &err);
    if (!resp)
        return shed_http__fail (self, conn, &err, NULL); /* a 429 is counted as too_many_streams */
    shed_http__count (self, ST_REQ_2XX);
    MHD_Result_t rc = sym_MHD_queue_response (conn, 200, resp);
    sym_MHD_destroy_response (resp);
    return rc;
}

/* GET /v1/sheds/{name}/logs?follow=true: a log stream (http_logs.h). */
static MHD_Result_t
s_serve_logs (shed_http_t *self, struct MHD_Connection *conn, shed_http_req_t *r, const s_args_t *a)
{
    http_error_t err;
    struct MHD_Response *resp = http_logs_open (self->events, self->pool, &self->stopping, conn,
                                                &r->match, a->args, a->n, r->token_id, &err);
    if (!resp)
        return shed_http__fail (self, conn, &err, NULL);
    shed_http__count (self, ST_REQ_2XX);
    MHD_Result_t rc = sym_MHD_queue_response (conn, 200, resp);
    sym_MHD_destroy_response (resp);
    return rc;
}

/* The body is in: decode, call the node's local API, answer. */
MHD_Result_t
shed_http__serve (shed_http_t *self, struct MHD_Connection *conn, shed_http_req_t *r)
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
        shed_http__count (self, ST_BAD_REQUEST);
        return shed_http__fail (self, conn, &err, NULL);
    }
    if (follow)
        return s_serve_logs (self, conn, r, &args);
    bool watch = http_route_watchable (r->match.route), index_set = false;
    uint64_t index = 0, wait_ms = 0;
    if (watch && http_watch_args (args.args, &args.n, &index_set, &index, &wait_ms, &err) != 0) {
        shed_http__count (self, ST_BAD_REQUEST);
        return shed_http__fail (self, conn, &err, NULL);
    }
    api_msg_t req, rep;
    if (http_request_decode (&r->match, args.args, args.n, r->body, r->len, &req, &err) != 0) {
        shed_http__count (self, ST_BAD_REQUEST);
        return shed_http__fail (self, conn, &err, NULL);
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
            return shed_http__fail (self, conn, &err, NULL);
        return s_respond_as (self, conn, 200, body, len, NULL, "application/json", at);
    }
    if (rc != 0) {
        shed_http__count (self, ST_NO_REPLY);
        if (rc == SHED_API_NO_REPLY
            && (request_id[0] || http_route_role (r->match.route) == HTTP_ROLE_OPERATOR))
            http_error_set (&err, 504, "outcome_unknown",
                            "no answer from the node in time: the outcome is unknown%s%s",
                            request_id[0] ? "; retry with the same request_id " : "", request_id);
        else
            http_error_set (&err, 503, "unavailable", "%s", why);
        return shed_http__fail (self, conn, &err, request_id);
    }
    body = http_reply_json (&r->match, &rep, &len, &err);
    wire_msg_free (&api_proto, &rep);
    if (!body)
        return shed_http__fail (self, conn, &err, request_id);
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
        shed_http__count (self, ST_NO_REPLY);
    return rc == 0 ? 0 : -1;
}

static MHD_Result_t
s_serve_compat_stream (shed_http_t *self, struct MHD_Connection *conn, shed_http_req_t *r,
                       const http_compat_ctx_t *ctx)
{
    http_error_t err;
    struct MHD_Response *resp =
        http_shed_stream_open (self->pool, &self->stopping, conn, &r->cmatch, r->body, r->len, ctx,
                               s_compat_call, self, &err);
    if (!resp)
        return shed_http__fail_compat (self, conn, &err);
    shed_http__count (self, ST_REQ_2XX);
    MHD_Result_t rc = sym_MHD_queue_response (conn, 200, resp);
    sym_MHD_destroy_response (resp);
    return rc;
}

/* Shed's routes (http_shed_compat.h): the same calls, Shed's JSON. */
MHD_Result_t
shed_http__serve_compat (shed_http_t *self, struct MHD_Connection *conn, shed_http_req_t *r)
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
        shed_http__count (self, ST_BAD_REQUEST);
    if (!body) { /* 204 */
        shed_http__count (self, ST_REQ_2XX);
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
