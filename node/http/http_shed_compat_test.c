/*
 * http_shed_compat_test.c - Shed's API on the cluster
 * (node/http/http_shed_compat.h) against a fake node: routes and roles,
 * what each route asks the node, Shed's fields and codes in the answers
 * (409 SHED_ALREADY_RUNNING without a start sent, a start's or stop's
 * shed taken from its own answer, SHED_ALREADY_EXISTS for a taken name,
 * 204 for a delete), a create body read as Shed's, the
 * host key line Shed's CLI pins, and the create progress stream's
 * records (event names and data as Shed's API reference and CLI read them).
 */
#include "node/http/http_shed_compat.h"

#include "crypto/identity.h"

#include <jansson.h>
#include <sodium.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

/* The fake node: one shed, "web", in `state` on node2; or none. */
typedef struct {
    char state[16];
    bool exists;
    bool no_sign_key;      /* an older node: its status has none */
    uint64_t create_error; /* API_ERROR code a create gets (0: none) */
    uint16_t asked[8];     /* request types, in order */
    size_t nasked;
    api_shed_create_req_t create;
    uint64_t op;
    bool stale_copy; /* a show still sees the state before an op (this
                        node's copy of the record has not caught up) */
    bool op_no_shed; /* an op answered API_OK, without the shed */
} s_node_t;

static int
s_call (void *arg, api_msg_t *req, api_msg_t *rep, int timeout_ms, bool *unknown, char *why,
        size_t whylen)
{
    s_node_t *n = arg;
    assert_true (timeout_ms > 0);
    (void) unknown;
    (void) why;
    (void) whylen;
    if (n->nasked < 8)
        n->asked[n->nasked++] = req->hdr.type;
    memset (rep, 0, sizeof *rep);
    api_shed_t *s = calloc (1, sizeof *s);
    assert_non_null (s);
    snprintf (s->name, sizeof s->name, "web");
    snprintf (s->node, sizeof s->node, "node2");
    snprintf (s->state, sizeof s->state, "%s", n->state);
    snprintf (s->ip, sizeof s->ip, "198.19.45.2");
    snprintf (s->driver, sizeof s->driver, "netns");
    s->created_ms = 1768905000000ull; /* 2026-01-20T10:30:00Z */
    s->cpus_milli = 1500;
    s->memory_mb = 512;
    switch (req->hdr.type) {
    case API_STATUS_REQ:
        free (s);
        rep->hdr.type = API_STATUS_REP;
        snprintf (rep->u.api_status_rep.name, sizeof rep->u.api_status_rep.name, "node1");
        snprintf (rep->u.api_status_rep.version, sizeof rep->u.api_status_rep.version, "0.1.0");
        if (!n->no_sign_key) {
            uint8_t key[32];
            for (int i = 0; i < 32; i++)
                key[i] = (uint8_t) i;
            shed_key_to_text (key, rep->u.api_status_rep.sign_key);
        }
        return 0;
    case API_SHED_LIST_REQ:
        rep->hdr.type = API_SHED_LIST_REP;
        rep->u.api_shed_list_rep.sheds.n = n->exists ? 1 : 0;
        rep->u.api_shed_list_rep.sheds.items = s;
        return 0;
    case API_SHED_CREATE_REQ:
        n->create = req->u.api_shed_create_req;
        if (n->create_error) {
            free (s);
            rep->hdr.type = API_ERROR;
            rep->u.api_error.code = n->create_error;
            snprintf (rep->u.api_error.message, sizeof rep->u.api_error.message, "taken");
            return 0;
        }
        snprintf (s->state, sizeof s->state, "running");
        /* fall through */
    case API_SHED_SHOW_REQ:
        if (!n->exists && req->hdr.type == API_SHED_SHOW_REQ) {
            free (s);
            rep->hdr.type = API_ERROR;
            rep->u.api_error.code = API_ERR_NOT_FOUND;
            snprintf (rep->u.api_error.message, sizeof rep->u.api_error.message, "no shed");
            return 0;
        }
        rep->hdr.type = API_SHED_REP;
        rep->u.api_shed_rep.shed.n = 1;
        rep->u.api_shed_rep.shed.items = s;
        return 0;
    case API_SHED_OP_REQ:
        /* As the shed's node answers: the record as the op left it. */
        n->op = req->u.api_shed_op_req.op;
        assert_string_equal (req->u.api_shed_op_req.request_id, "rid1");
        snprintf (s->state, sizeof s->state, "%s",
                  n->op == API_SHED_OP_START  ? "running"
                  : n->op == API_SHED_OP_STOP ? "stopped"
                                              : "deleted");
        if (!n->stale_copy)
            snprintf (n->state, sizeof n->state, "%s", s->state);
        if (n->op_no_shed) {
            free (s);
            rep->hdr.type = API_OK;
            return 0;
        }
        rep->hdr.type = API_SHED_REP;
        rep->u.api_shed_rep.shed.n = 1;
        rep->u.api_shed_rep.shed.items = s;
        return 0;
    default:
        fail ();
    }
    return -1;
}

/* Serve METHOD PATH BODY; the status, and the body parsed (or NULL). */
static unsigned
s_serve (s_node_t *n, const char *method, const char *path, const char *body, json_t **doc)
{
    http_compat_match_t m;
    http_error_t err;
    assert_int_equal (http_compat_match (method, path, &m, &err), 0);
    http_compat_ctx_t ctx = { .http_port = 8443, .request_id = "rid1" };
    char *out = NULL;
    size_t len = 0;
    unsigned status =
        http_compat_serve (&m, body, body ? strlen (body) : 0, &ctx, s_call, n, &out, &len);
    *doc = NULL;
    if (out) {
        json_error_t jerr;
        *doc = json_loadb (out, len, JSON_REJECT_DUPLICATES, &jerr);
        assert_non_null (*doc);
        free (out);
    }
    return status;
}

static const char *
s_code (json_t *doc)
{
    return json_string_value (json_object_get (json_object_get (doc, "error"), "code"));
}

static void
test_routes (void **state)
{
    (void) state;
    http_compat_match_t m;
    http_error_t err;
    assert_true (http_compat_path ("/api/sheds"));
    assert_false (http_compat_path ("/v1/sheds"));
    assert_false (http_compat_path ("/apix"));
    assert_int_equal (http_compat_match ("GET", "/api/info", &m, &err), 0);
    assert_int_equal (http_compat_role (&m), HTTP_ROLE_NONE);
    assert_int_equal (http_compat_match ("GET", "/api/sheds", &m, &err), 0);
    assert_int_equal (http_compat_role (&m), HTTP_ROLE_READ);
    assert_int_equal (http_compat_match ("POST", "/api/sheds/web/stop", &m, &err), 0);
    assert_int_equal (http_compat_role (&m), HTTP_ROLE_OPERATOR);
    assert_string_equal (m.name, "web");
    assert_string_equal (http_compat_name (&m), "shed.stop");
    assert_int_equal (http_compat_match ("PUT", "/api/sheds", &m, &err), -1);
    assert_int_equal (err.status, 405);
    assert_string_equal (err.code, "METHOD_NOT_ALLOWED");
    assert_string_equal (err.allow, "GET, POST");
    /* Shed's bootstrap endpoints need no token. */
    assert_int_equal (http_compat_match ("GET", "/api/ssh-host-key", &m, &err), 0);
    assert_int_equal (http_compat_role (&m), HTTP_ROLE_NONE);
    assert_int_equal (http_compat_match ("GET", "/api/sessions", &m, &err), -1);
    assert_int_equal (err.status, 404);
    assert_int_equal (http_compat_match ("GET", "/api/sheds//start", &m, &err), -1);
    assert_int_equal (err.status, 404);
}

static void
test_info_list_get (void **state)
{
    (void) state;
    s_node_t n = { .state = "running", .exists = true };
    json_t *doc;
    assert_int_equal (s_serve (&n, "GET", "/api/info", NULL, &doc), 200);
    assert_string_equal (json_string_value (json_object_get (doc, "name")), "node1");
    assert_int_equal (json_integer_value (json_object_get (doc, "http_port")), 8443);
    assert_int_equal (json_integer_value (json_object_get (doc, "ssh_port")), 0);
    /* Shed's CLI refuses to create on a server that names no backend. */
    assert_string_equal (json_string_value (json_object_get (doc, "backend")), "cluster");
    json_decref (doc);

    assert_int_equal (s_serve (&n, "GET", "/api/sheds", NULL, &doc), 200);
    json_t *s = json_array_get (json_object_get (doc, "sheds"), 0);
    assert_string_equal (json_string_value (json_object_get (s, "status")), "running");
    assert_string_equal (json_string_value (json_object_get (s, "created_at")),
                         "2026-01-20T10:30:00Z");
    assert_string_equal (json_string_value (json_object_get (s, "ip_address")), "198.19.45.2");
    assert_string_equal (json_string_value (json_object_get (s, "backend")), "netns");
    assert_int_equal (json_integer_value (json_object_get (s, "cpus")), 2); /* rounded up */
    assert_int_equal (json_integer_value (json_object_get (s, "memory_mb")), 512);
    assert_true (json_is_null (json_object_get (s, "repo")));
    json_decref (doc);

    /* Our "lost" is Shed's "error". */
    snprintf (n.state, sizeof n.state, "lost");
    assert_int_equal (s_serve (&n, "GET", "/api/sheds/web", NULL, &doc), 200);
    assert_string_equal (json_string_value (json_object_get (doc, "status")), "error");
    json_decref (doc);

    n.exists = false;
    assert_int_equal (s_serve (&n, "GET", "/api/sheds/web", NULL, &doc), 404);
    assert_string_equal (s_code (doc), "SHED_NOT_FOUND");
    json_decref (doc);
    assert_int_equal (s_serve (&n, "GET", "/api/sheds", "{}", &doc), 400); /* a body */
    assert_string_equal (s_code (doc), "INVALID_REQUEST");
    json_decref (doc);
}

static void
test_start_stop_delete (void **state)
{
    (void) state;
    s_node_t n = { .state = "running", .exists = true };
    json_t *doc;
    /* Running: 409, and no start is sent. */
    assert_int_equal (s_serve (&n, "POST", "/api/sheds/web/start", NULL, &doc), 409);
    assert_string_equal (s_code (doc), "SHED_ALREADY_RUNNING");
    assert_int_equal (n.nasked, 1);
    assert_int_equal (n.asked[0], API_SHED_SHOW_REQ);
    json_decref (doc);
    n.nasked = 0;
    assert_int_equal (s_serve (&n, "POST", "/api/sheds/web/stop", NULL, &doc), 200);
    assert_int_equal (n.op, API_SHED_OP_STOP);
    assert_string_equal (json_string_value (json_object_get (doc, "status")), "stopped");
    assert_int_equal (n.nasked, 2); /* show, stop: the stop's answer is the shed */
    assert_int_equal (n.asked[1], API_SHED_OP_REQ);
    json_decref (doc);
    assert_int_equal (s_serve (&n, "POST", "/api/sheds/web/stop", NULL, &doc), 409);
    assert_string_equal (s_code (doc), "SHED_ALREADY_STOPPED");
    json_decref (doc);
    assert_int_equal (s_serve (&n, "POST", "/api/sheds/web/start", NULL, &doc), 200);
    assert_string_equal (json_string_value (json_object_get (doc, "status")), "running");
    json_decref (doc);
    assert_int_equal (s_serve (&n, "DELETE", "/api/sheds/web", NULL, &doc), 204);
    assert_null (doc);
    assert_int_equal (n.op, API_SHED_OP_DELETE);
    n.exists = false;
    assert_int_equal (s_serve (&n, "DELETE", "/api/sheds/web", NULL, &doc), 404);
    assert_string_equal (s_code (doc), "SHED_NOT_FOUND");
    json_decref (doc);
}

/* This node's copy of the record lags behind the op's node: the answer
 * is the shed the op's own answer carries, at once, not a second look
 * (which would show the state before). */
static void
test_start_stop_stale_copy (void **state)
{
    (void) state;
    s_node_t n = { .state = "running", .exists = true, .stale_copy = true };
    json_t *doc;
    assert_int_equal (s_serve (&n, "POST", "/api/sheds/web/stop", NULL, &doc), 200);
    assert_string_equal (json_string_value (json_object_get (doc, "status")), "stopped");
    assert_string_equal (json_string_value (json_object_get (doc, "name")), "web");
    assert_string_equal (json_string_value (json_object_get (doc, "node")), "node2");
    assert_string_equal (json_string_value (json_object_get (doc, "ip_address")), "198.19.45.2");
    assert_int_equal (n.nasked, 2);
    assert_string_equal (n.state, "running"); /* a show would still say so */
    json_decref (doc);
    n.nasked = 0;
    snprintf (n.state, sizeof n.state, "stopped");
    assert_int_equal (s_serve (&n, "POST", "/api/sheds/web/start", NULL, &doc), 200);
    assert_string_equal (json_string_value (json_object_get (doc, "status")), "running");
    assert_int_equal (n.nasked, 2);
    json_decref (doc);
    /* An answer without the shed: said, not guessed from a look. */
    n.op_no_shed = true;
    n.nasked = 0;
    assert_int_equal (s_serve (&n, "POST", "/api/sheds/web/start", NULL, &doc), 502);
    assert_string_equal (s_code (doc), "INTERNAL_ERROR");
    assert_int_equal (n.nasked, 2);
    json_decref (doc);
    /* A delete's answer is 204 whatever it carries. */
    assert_int_equal (s_serve (&n, "DELETE", "/api/sheds/web", NULL, &doc), 204);
    assert_null (doc);
    n.op_no_shed = false;
    assert_int_equal (s_serve (&n, "DELETE", "/api/sheds/web", NULL, &doc), 204);
    assert_null (doc);
}

static void
test_create (void **state)
{
    (void) state;
    s_node_t n = { .state = "stopped", .exists = true };
    json_t *doc;
    assert_int_equal (s_serve (&n, "POST", "/api/sheds",
                               "{\"name\": \"web\", \"repo\": \"charliek/codelens\", \"image\": "
                               "\"shed-base:latest\", \"cpus\": 2, \"memory_mb\": 4096, "
                               "\"backend\": \"vz\", \"no_provision\": false}",
                               &doc),
                      201);
    assert_string_equal (json_string_value (json_object_get (doc, "status")), "running");
    assert_string_equal (json_string_value (json_object_get (doc, "node")), "node2");
    json_decref (doc);
    assert_string_equal (n.create.name, "web");
    assert_string_equal (n.create.repo, "charliek/codelens");
    assert_string_equal (n.create.image, "shed-base:latest");
    assert_int_equal (n.create.cpus_milli, 2000);
    assert_int_equal (n.create.memory_mb, 4096);
    assert_string_equal (n.create.node, ""); /* the scheduler places it */
    assert_string_equal (n.create.request_id, "rid1");

    n.create_error = API_ERR_CONFLICT;
    assert_int_equal (s_serve (&n, "POST", "/api/sheds", "{\"name\": \"web\"}", &doc), 409);
    assert_string_equal (s_code (doc), "SHED_ALREADY_EXISTS");
    json_decref (doc);

    static const char *bad_names[] = {
        "{\"name\": \"bad_name\"}",
        "{\"name\": \"\"}",
        "{\"name\": 7}",
        "{}",
        "{\"name\": \"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\"}",
    };
    for (size_t i = 0; i < sizeof bad_names / sizeof bad_names[0]; i++) {
        assert_int_equal (s_serve (&n, "POST", "/api/sheds", bad_names[i], &doc), 400);
        assert_string_equal (s_code (doc), "INVALID_SHED_NAME");
        json_decref (doc);
    }
    static const char *bad[] = {
        "{\"name\": \"x\",",
        "[]",
        "{\"name\": \"x\", \"cpus\": \"2\"}",
        "{\"name\": \"x\", \"cpus\": -1}",
        "{\"name\": \"x\", \"memory_mb\": 1.5}",
        "{\"name\": \"x\", \"repo\": 3}",
        "{\"name\": \"x\", \"name\": \"y\"}",
        "{\"name\": \"a\\u0000b\"}", /* jansson refuses NUL: malformed */
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        assert_int_equal (s_serve (&n, "POST", "/api/sheds", bad[i], &doc), 400);
        assert_string_equal (s_code (doc), "INVALID_REQUEST");
        json_decref (doc);
    }
}

static void
test_error_shape (void **state)
{
    (void) state;
    http_error_t err;
    http_error_set (&err, 401, "unauthorized", "missing bearer token");
    size_t len = 0;
    char *text = http_compat_error_json (&err, &len);
    assert_non_null (text);
    assert_string_equal (
        text, "{\"error\":{\"code\":\"UNAUTHORIZED\",\"message\":\"missing bearer token\"}}\n");
    free (text);
}

/* GET /api/ssh-host-key: an OpenSSH ed25519 public key line of the
 * node's identity key (RFC 8709's blob: string "ssh-ed25519", string the
 * 32 key bytes). */
static void
test_host_key (void **state)
{
    (void) state;
    s_node_t n = { .state = "running", .exists = true };
    json_t *doc;
    assert_int_equal (s_serve (&n, "GET", "/api/ssh-host-key", NULL, &doc), 200);
    const char *line = json_string_value (json_object_get (doc, "host_key"));
    assert_non_null (line);
    assert_int_equal (strncmp (line, "ssh-ed25519 ", 12), 0);
    uint8_t blob[128];
    size_t len = 0;
    assert_int_equal (sodium_base642bin (blob, sizeof blob, line + 12, strlen (line + 12), NULL,
                                         &len, NULL, sodium_base64_VARIANT_ORIGINAL),
                      0);
    assert_int_equal (len, 4 + 11 + 4 + 32);
    static const uint8_t head[] = { 0,   0,   0,   11,  's', 's', 'h', '-', 'e', 'd',
                                    '2', '5', '5', '1', '9', 0,   0,   0,   32 };
    assert_memory_equal (blob, head, sizeof head);
    for (int i = 0; i < 32; i++)
        assert_int_equal (blob[sizeof head + (size_t) i], i);
    json_decref (doc);
    /* OpenSSH's own form of the same key (ssh-keygen's, by hand). */
    char text[128];
    uint8_t key[32] = { 0 };
    char b64[SHED_KEY_TEXT_MAX];
    shed_key_to_text (key, b64);
    assert_int_equal (http_compat_host_key (b64, text, sizeof text), 0);
    assert_string_equal (text,
                         "ssh-ed25519 "
                         "AAAAC3NzaC1lZDI1NTE5AAAAIAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA");
    assert_int_equal (http_compat_host_key ("not base64!", text, sizeof text), -1);
    assert_int_equal (http_compat_host_key (b64, text, 20), -1);
    /* A node that does not give its key: an error, never an empty key. */
    n.no_sign_key = true;
    assert_int_equal (s_serve (&n, "GET", "/api/ssh-host-key", NULL, &doc), 503);
    assert_string_equal (s_code (doc), "UNAVAILABLE");
    json_decref (doc);
}

/* One SSE record: its event name, and its one data line parsed. */
static json_t *
s_record (char *text, const size_t *lenp, const char *event)
{
    /* (a pointer: the length is set by the call in the same argument list) */
    size_t len = *lenp;
    assert_non_null (text);
    assert_int_equal (strlen (text), len);
    char want[64];
    snprintf (want, sizeof want, "event: %s\ndata: ", event);
    assert_int_equal (strncmp (text, want, strlen (want)), 0);
    assert_true (len >= 2 && text[len - 1] == '\n' && text[len - 2] == '\n');
    const char *data = text + strlen (want);
    assert_null (memchr (data, '\n', (size_t) (text + len - 2 - data))); /* one data line */
    json_error_t jerr;
    json_t *doc = json_loadb (data, (size_t) (text + len - 2 - data), 0, &jerr);
    assert_non_null (doc);
    free (text);
    return doc;
}

static void
test_create_stream (void **state)
{
    (void) state;
    http_compat_match_t m;
    http_error_t err;
    assert_int_equal (http_compat_match ("POST", "/api/sheds", &m, &err), 0);
    assert_true (http_compat_wants_stream (&m, "text/event-stream"));
    assert_true (http_compat_wants_stream (&m, "application/json, text/event-stream;q=0.9"));
    assert_false (http_compat_wants_stream (&m, "application/json"));
    assert_false (http_compat_wants_stream (&m, NULL));
    http_compat_match_t get;
    assert_int_equal (http_compat_match ("GET", "/api/sheds", &get, &err), 0);
    assert_false (http_compat_wants_stream (&get, "text/event-stream"));
    /* Shed's 400s come before any stream. */
    char name[64];
    const char *body = "{\"name\": \"web\", \"backend\": \"cluster\"}";
    assert_int_equal (http_compat_create_check (body, strlen (body), name, sizeof name, &err), 0);
    assert_string_equal (name, "web");
    assert_int_equal (http_compat_create_check ("{\"name\": \"a_b\"}", 15, name, sizeof name, &err),
                      -1);
    assert_int_equal (err.status, 400);
    assert_string_equal (err.code, "INVALID_SHED_NAME");

    /* progress: the phases of this create, the target's with its node */
    evpay_progress_t p = { .what = "create",
                           .name = "web",
                           .state = "placed",
                           .why = "placed on node2 (score 0.91)",
                           .peer = "node2" };
    size_t len;
    json_t *doc = s_record (http_compat_sse_progress (&p, "web", &len), &len, "progress");
    assert_string_equal (json_string_value (json_object_get (doc, "message")),
                         "placed on node2 (score 0.91)");
    assert_string_equal (json_string_value (json_object_get (doc, "phase")), "placed");
    json_decref (doc);
    snprintf (p.state, sizeof p.state, "rootfs");
    snprintf (p.why, sizeof p.why, "rootfs ready in 12 ms");
    doc = s_record (http_compat_sse_progress (&p, "web", &len), &len, "progress");
    assert_string_equal (json_string_value (json_object_get (doc, "message")),
                         "node2: rootfs ready in 12 ms");
    json_decref (doc);
    /* another shed's, a snapshot's, a failure (the error event says why) */
    assert_null (http_compat_sse_progress (&p, "other", &len));
    evpay_progress_t snap = p;
    snprintf (snap.what, sizeof snap.what, "fetch");
    assert_null (http_compat_sse_progress (&snap, "web", &len));
    snprintf (p.state, sizeof p.state, "failed");
    assert_null (http_compat_sse_progress (&p, "web", &len));
    /* a line break in a node's words stays inside the one data line */
    snprintf (p.state, sizeof p.state, "network");
    snprintf (p.why, sizeof p.why, "two\nlines");
    json_decref (s_record (http_compat_sse_progress (&p, "web", &len), &len, "progress"));

    /* the last event: the create's own answer */
    s_node_t n = { .state = "running", .exists = true };
    char *out = NULL;
    size_t outlen = 0;
    http_compat_ctx_t ctx = { .http_port = 8443, .request_id = "rid1" };
    unsigned status =
        http_compat_serve (&m, "{\"name\": \"web\"}", 15, &ctx, s_call, &n, &out, &outlen);
    assert_int_equal (status, 201);
    doc = s_record (http_compat_sse_final (status, out, outlen, &len), &len, "complete");
    assert_string_equal (json_string_value (json_object_get (doc, "name")), "web");
    assert_string_equal (json_string_value (json_object_get (doc, "status")), "running");
    json_decref (doc);
    free (out);
    n.create_error = API_ERR_CONFLICT;
    status = http_compat_serve (&m, "{\"name\": \"web\"}", 15, &ctx, s_call, &n, &out, &outlen);
    assert_int_equal (status, 409);
    doc = s_record (http_compat_sse_final (status, out, outlen, &len), &len, "error");
    /* Shed's CLI reads an error event as its API error document */
    assert_string_equal (s_code (doc), "SHED_ALREADY_EXISTS");
    assert_string_equal (
        json_string_value (json_object_get (json_object_get (doc, "error"), "message")), "taken");
    json_decref (doc);
    free (out);
    doc = s_record (http_compat_sse_final (0, NULL, 0, &len), &len, "error");
    assert_string_equal (s_code (doc), "INTERNAL_ERROR");
    json_decref (doc);
}

int
main (void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test (test_routes),
        cmocka_unit_test (test_info_list_get),
        cmocka_unit_test (test_start_stop_delete),
        cmocka_unit_test (test_start_stop_stale_copy),
        cmocka_unit_test (test_create),
        cmocka_unit_test (test_error_shape),
        cmocka_unit_test (test_host_key),
        cmocka_unit_test (test_create_stream),
    };
    return cmocka_run_group_tests (tests, NULL, NULL);
}
