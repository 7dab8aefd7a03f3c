/*
 * fuzz_http.c - the remote API's request decoder (node/http/http_route.h):
 * path routing, query arguments and JSON bodies turned into local API
 * requests, and replies turned into JSON. Input: a first line
 * "METHOD PATH[?k=v&k...]", then the body. On any input the router either
 * refuses with a status or names a route; the decoder either refuses with
 * a 4xx or builds a request the local API's codec encodes and decodes
 * back; the same bytes read as a local API reply give JSON or an error.
 * Paths under /api/ go to Shed's compat layer (http_shed_compat.h), whose
 * calls to the node are answered from the input: the body's bytes as a
 * local API reply when they decode, else a reply of the kind asked for,
 * an API_ERROR or no answer, chosen by the input's length.
 * A create there is also checked as its progress stream would send it
 * (the final record; the input's bytes as a progress event).
 * POST /v1/api: the body as one msgpack request (http_passthrough.h), for
 * every role: refused with 400 or 403, or a request that encodes again; a
 * list route's ?index=&wait= (http_watch.h) first.
 */
#include "node/http/http_logs.h"
#include "node/http/http_passthrough.h"
#include "node/http/http_route.h"
#include "node/http/http_shed_compat.h"
#include "node/http/http_watch.h"

#include <assert.h>
#include <jansson.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput (const uint8_t *data, size_t size);

typedef struct {
    const uint8_t *data;
    size_t size;
    unsigned calls;
} s_fake_t;

static const char *s_states[] = { "running", "stopped", "starting", "error", "lost", "" };

/* The node, as the input has it answer. */
static int
s_fake_call (void *arg, api_msg_t *req, api_msg_t *rep, int timeout_ms, bool *unknown, char *why,
             size_t whylen)
{
    s_fake_t *f = arg;
    assert (timeout_ms > 0);
    uint8_t pick = f->size ? f->data[(f->calls * 7) % f->size] : 0;
    f->calls++;
    uint8_t *buf = NULL;
    size_t blen = 0;
    /* What the compat layer asks, the local API's codec carries. */
    assert (wire_encode (&api_proto, req, &buf, &blen) == WIRE_OK);
    free (buf);
    memset (rep, 0, sizeof *rep);
    if (pick % 8 == 0) {
        *unknown = pick & 0x10;
        snprintf (why, whylen, "no answer");
        return -1;
    }
    if (pick % 8 == 1 && wire_decode (&api_proto, f->data, f->size, rep, NULL) == WIRE_OK)
        return 0;
    if (pick % 8 == 2) {
        rep->hdr.type = API_ERROR;
        rep->u.api_error.code = pick >> 4;
        snprintf (rep->u.api_error.message, sizeof rep->u.api_error.message, "refused");
        return 0;
    }
    static api_shed_t shed;
    memset (&shed, 0, sizeof shed);
    snprintf (shed.name, sizeof shed.name, "s%u", pick);
    snprintf (shed.node, sizeof shed.node, "node1");
    snprintf (shed.state, sizeof shed.state, "%s", s_states[(pick >> 3) % 6]);
    shed.created_ms = (uint64_t) pick << 40;
    shed.cpus_milli = pick * 100u;
    switch (req->hdr.type) {
    case API_SHED_SHOW_REQ:
    case API_SHED_CREATE_REQ:
        rep->hdr.type = API_SHED_REP;
        rep->u.api_shed_rep.shed.n = pick & 0x20 ? 0 : 1;
        rep->u.api_shed_rep.shed.items = calloc (1, sizeof shed);
        assert (rep->u.api_shed_rep.shed.items);
        *rep->u.api_shed_rep.shed.items = shed;
        break;
    case API_SHED_LIST_REQ:
        rep->hdr.type = API_SHED_LIST_REP;
        rep->u.api_shed_list_rep.sheds.n = 1;
        rep->u.api_shed_list_rep.sheds.items = calloc (1, sizeof shed);
        assert (rep->u.api_shed_list_rep.sheds.items);
        *rep->u.api_shed_list_rep.sheds.items = shed;
        break;
    case API_STATUS_REQ:
        rep->hdr.type = API_STATUS_REP;
        snprintf (rep->u.api_status_rep.name, sizeof rep->u.api_status_rep.name, "node1");
        break;
    default:
        rep->hdr.type = pick & 0x40 ? API_OK : API_STATUS_REP;
        break;
    }
    return 0;
}

/* One SSE record: "event: NAME\ndata: ...\n\n" with no other line break. */
static void
s_one_record (const char *text, size_t len, const char *event)
{
    char head[32];
    int n = snprintf (head, sizeof head, "event: %s\ndata: ", event);
    assert (text && len > (size_t) n + 2 && memcmp (text, head, (size_t) n) == 0);
    assert (text[len - 1] == '\n' && text[len - 2] == '\n');
    assert (!memchr (text + n, '\n', len - 2 - (size_t) n));
    assert (strlen (text) == len);
}

/* Shed's create stream: its 400s are the synchronous create's, its last
 * record the create's answer, and a progress event (the input's bytes as
 * one) one record. */
static void
s_compat_stream (const char *body, size_t len, unsigned status, const char *out, size_t olen,
                 const uint8_t *data, size_t size)
{
    char name[64];
    http_error_t err;
    int rc = http_compat_create_check (body, len, name, sizeof name, &err);
    if (rc != 0)
        assert (status == 400 && err.status == 400);
    size_t flen = 0;
    char *final = http_compat_sse_final (status, out, olen, &flen);
    s_one_record (final, flen, status == 201 ? "complete" : "error");
    free (final);
    evpay_msg_t msg;
    if (rc == 0 && wire_decode (&evpay_proto, data, size, &msg, NULL) == WIRE_OK) {
        if (msg.hdr.type == EVPAY_PROGRESS) {
            size_t plen = 0;
            /* ours (the create's name), and as if it were (its own) */
            const char *names[] = { name, msg.u.evpay_progress.name };
            for (size_t i = 0; i < 2; i++) {
                char *rec = http_compat_sse_progress (&msg.u.evpay_progress, names[i], &plen);
                if (rec)
                    s_one_record (rec, plen, "progress");
                free (rec);
            }
        }
        wire_msg_free (&evpay_proto, &msg);
    }
}

/* Shed's routes: a status and JSON (or 204 and none) for any input. */
static void
s_compat (const char *method, const char *path, const char *body, size_t len, const uint8_t *data,
          size_t size)
{
    http_compat_match_t m;
    http_error_t err;
    if (http_compat_match (method, path, &m, &err) != 0) {
        assert (err.status == 404 || err.status == 405);
        size_t elen = 0;
        char *e = http_compat_error_json (&err, &elen);
        assert (e && elen > 0);
        free (e);
        return;
    }
    http_role_t role = http_compat_role (&m);
    assert (role == HTTP_ROLE_NONE || role == HTTP_ROLE_READ || role == HTTP_ROLE_OPERATOR);
    s_fake_t f = { data, size, 0 };
    http_compat_ctx_t ctx = { .http_port = 8443, .request_id = "fuzz" };
    char *out = NULL;
    size_t olen = 0;
    unsigned status = http_compat_serve (&m, body, len, &ctx, s_fake_call, &f, &out, &olen);
    assert (status >= 200 && status < 600);
    assert (status == 204 ? !out : out && olen > 0 && out[olen - 1] == '\n');
    if (http_compat_wants_stream (&m, "text/event-stream"))
        s_compat_stream (body, len, status, out, olen, data, size);
    free (out);
}

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
    const uint8_t *nl = memchr (data, '\n', size);
    size_t head = nl ? (size_t) (nl - data) : size;
    if (head > 1024)
        return 0;
    char line[1025];
    memcpy (line, data, head);
    line[head] = '\0';
    if (strlen (line) != head)
        return 0; /* MHD never hands us a NUL inside the request line */
    const char *body = nl ? (const char *) nl + 1 : "";
    size_t len = nl ? size - head - 1 : 0;

    char *sp = strchr (line, ' ');
    if (!sp)
        return 0;
    *sp = '\0';
    char *path = sp + 1, *query = strchr (path, '?');
    http_arg_t args[HTTP_ARGS_MAX + 2];
    size_t nargs = 0;
    if (query) {
        *query++ = '\0';
        char *save = NULL;
        for (char *kv = strtok_r (query, "&", &save); kv && nargs < HTTP_ARGS_MAX + 2;
             kv = strtok_r (NULL, "&", &save)) {
            char *eq = strchr (kv, '=');
            if (eq)
                *eq++ = '\0';
            args[nargs++] = (http_arg_t){ kv, eq };
        }
    }
    if (http_compat_path (path)) {
        s_compat (line, path, body, len, data, size);
        return 0;
    }
    http_match_t m;
    http_error_t err;
    if (http_route_match (line, path, &m, &err) != 0) {
        assert (err.status == 404 || err.status == 405);
        return 0;
    }
    assert (http_route_role (m.route) == HTTP_ROLE_READ
            || http_route_role (m.route) == HTTP_ROLE_OPERATOR);
    if (http_route_kind (m.route) == HTTP_ROUTE_MSGPACK) {
        for (http_role_t role = HTTP_ROLE_NONE; role <= HTTP_ROLE_OPERATOR; role++) {
            api_msg_t pt;
            if (http_pt_decode ((const uint8_t *) body, len, role, &pt, &err) != 0) {
                assert ((err.status == 400 || err.status == 403) && err.message[0]);
                continue;
            }
            assert (role != HTTP_ROLE_NONE);
            assert (http_pt_class (&pt) == HTTP_PT_READ || role == HTTP_ROLE_OPERATOR);
            assert (http_pt_timeout_ms (&pt, len) >= HTTP_READ_TIMEOUT_MS);
            uint8_t *buf = NULL;
            size_t blen = 0;
            assert (wire_encode (&api_proto, &pt, &buf, &blen) == WIRE_OK);
            free (buf);
            wire_msg_free (&api_proto, &pt);
        }
        return 0;
    }
    if (http_route_kind (m.route) != HTTP_ROUTE_JSON)
        return 0; /* the event stream: nothing to decode but its prefixes */
    if (http_route_watchable (m.route)) {
        bool set;
        uint64_t index, wait;
        size_t before = nargs;
        if (http_watch_args (args, &nargs, &set, &index, &wait, &err) != 0) {
            assert (err.status == 400);
            return 0;
        }
        assert (nargs <= before && wait <= HTTP_WATCH_WAIT_MAX_MS);
    }
    if (http_route_followable (m.route)) {
        bool follow;
        size_t before = nargs;
        if (http_logs_args (args, &nargs, &follow, &err) != 0) {
            assert (err.status == 400);
            return 0;
        }
        assert (nargs <= before);
        /* The body as a hostile shed's log line: one SSE record of valid
         * JSON, whatever the bytes. */
        char *text = strndup (body, len);
        size_t rlen = 0;
        char *rec = text ? http_logs_record ("node", "stdout", 1, 2, text, false, &rlen) : NULL;
        if (rec) {
            assert (rlen > 8 && memcmp (rec, "data: ", 6) == 0);
            assert (!memchr (rec, '\n', rlen - 2) && strcmp (rec + rlen - 2, "\n\n") == 0);
            json_error_t jerr;
            json_t *doc = json_loadb (rec + 6, rlen - 8, 0, &jerr);
            assert (doc && json_is_string (json_object_get (doc, "text")));
            json_decref (doc);
        }
        free (rec);
        free (text);
    }
    api_msg_t req;
    if (http_request_decode (&m, args, nargs, body, len, &req, &err) != 0)
        assert (err.status == 400 && err.code[0] && err.message[0]);
    else {
        assert (http_request_timeout_ms (&req) > 0);
        uint8_t *buf = NULL;
        size_t blen = 0;
        /* What the decoder builds, the local API's codec carries. */
        assert (wire_encode (&api_proto, &req, &buf, &blen) == WIRE_OK);
        api_msg_t back;
        assert (wire_decode (&api_proto, buf, blen, &back, NULL) == WIRE_OK);
        assert (back.hdr.type == req.hdr.type);
        wire_msg_free (&api_proto, &back);
        free (buf);
        wire_msg_free (&api_proto, &req);
    }
    /* The body as a reply from the node (a bug there must not crash us). */
    api_msg_t rep;
    if (wire_decode (&api_proto, (const uint8_t *) body, len, &rep, NULL) == WIRE_OK) {
        size_t jlen = 0;
        char *json = http_reply_json (&m, &rep, &jlen, &err);
        if (json) {
            assert (jlen > 0 && json[jlen - 1] == '\n');
            free (json);
        }
        else
            assert (err.status >= 400 && err.status < 600);
        wire_msg_free (&api_proto, &rep);
    }
    return 0;
}
