/*
 * http_passthrough_test.c - the msgpack route's role table
 * (node/http/http_passthrough.h): every request type of the local API has a
 * class (a new command cannot slip through unclassified); reads pass with a
 * read token, mutations need an operator token, token management and local
 * sockets are refused whatever the role, replies and garbage are 400; the
 * watch arguments of blocking queries (http_watch.h).
 */
#include "node/api/api_client.h"
#include "node/http/http_passthrough.h"
#include "node/http/http_watch.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

static bool
s_ends_with (const char *s, const char *tail)
{
    size_t n = strlen (s), t = strlen (tail);
    return n >= t && strcmp (s + n - t, tail) == 0;
}

static void
test_every_request_classified (void **state)
{
    (void) state;
    size_t requests = 0;
    for (size_t i = 0; i < api_proto.ndescs; i++) {
        const wire_desc_t *d = api_proto.descs[i];
        if (!d || !d->type)
            continue;
        http_pt_class_t c = http_pt_type_class (d->type);
        if (s_ends_with (d->name, "_req")) {
            requests++;
            if (c == HTTP_PT_UNKNOWN)
                fail_msg ("request type %s (%u) has no row in http_passthrough.c", d->name,
                          d->type);
        }
        else if (c != HTTP_PT_UNKNOWN)
            fail_msg ("%s is not a request but is classified %s", d->name, http_pt_class_name (c));
    }
    assert_true (requests > 30);
}

/* Encode req, decode it back through the route with `role`. */
static int
s_try (const api_msg_t *req, http_role_t role, http_error_t *err)
{
    uint8_t *buf = NULL;
    size_t len = 0;
    assert_int_equal (wire_encode (&api_proto, req, &buf, &len), WIRE_OK);
    api_msg_t got;
    int rc = http_pt_decode (buf, len, role, &got, err);
    if (rc == 0) {
        assert_int_equal (got.hdr.type, req->hdr.type);
        wire_msg_free (&api_proto, &got);
    }
    free (buf);
    return rc;
}

static void
test_roles (void **state)
{
    (void) state;
    http_error_t err;
    api_msg_t status = { .hdr.type = API_STATUS_REQ };
    assert_int_equal (s_try (&status, HTTP_ROLE_READ, &err), 0);
    assert_int_equal (s_try (&status, HTTP_ROLE_OPERATOR, &err), 0);
    assert_int_equal (s_try (&status, HTTP_ROLE_NONE, &err), -1);
    assert_int_equal (err.status, 403);

    api_msg_t create = { .hdr.type = API_SHED_CREATE_REQ };
    strcpy (create.u.api_shed_create_req.name, "web");
    assert_int_equal (s_try (&create, HTTP_ROLE_READ, &err), -1);
    assert_int_equal (err.status, 403);
    assert_string_equal (err.code, "forbidden");
    assert_non_null (strstr (err.message, "needs operator"));
    assert_int_equal (s_try (&create, HTTP_ROLE_OPERATOR, &err), 0);

    api_msg_t op = { .hdr.type = API_SHED_OP_REQ };
    strcpy (op.u.api_shed_op_req.name, "web");
    op.u.api_shed_op_req.op = API_SHED_OP_DELETE;
    assert_int_equal (s_try (&op, HTTP_ROLE_READ, &err), -1);
    assert_int_equal (err.status, 403);

    /* keys: list is a read, install is local-only */
    api_msg_t keys = { .hdr.type = API_KEYS_REQ };
    keys.u.api_keys_req.op = API_KEY_LIST;
    assert_int_equal (s_try (&keys, HTTP_ROLE_READ, &err), 0);
    keys.u.api_keys_req.op = API_KEY_LIST + 1;
    strcpy (keys.u.api_keys_req.key, "x");
    assert_int_equal (s_try (&keys, HTTP_ROLE_OPERATOR, &err), -1);
    assert_int_equal (err.status, 403);
    assert_string_equal (err.code, "local_only");

    /* local-only whatever the role */
    uint16_t local[] = { API_TOKEN_CREATE_REQ, API_TOKEN_LIST_REQ, API_EVENTS_REQ };
    for (size_t i = 0; i < sizeof local / sizeof local[0]; i++) {
        api_msg_t m = { .hdr.type = local[i] };
        if (local[i] == API_TOKEN_CREATE_REQ)
            strcpy (m.u.api_token_create_req.role, "operator");
        assert_int_equal (s_try (&m, HTTP_ROLE_OPERATOR, &err), -1);
        assert_int_equal (err.status, 403);
        assert_string_equal (err.code, "local_only");
    }
    api_msg_t attach = { .hdr.type = API_AGENTS_REQ };
    attach.u.api_agents_req.op = API_AGENTS_LIST + 1;
    strcpy (attach.u.api_agents_req.shed, "web");
    assert_int_equal (s_try (&attach, HTTP_ROLE_OPERATOR, &err), -1);
    assert_string_equal (err.code, "local_only");
    attach.u.api_agents_req.op = API_AGENTS_LIST;
    assert_int_equal (s_try (&attach, HTTP_ROLE_READ, &err), 0);

    /* a reply sent as a request, and garbage */
    api_msg_t ok = { .hdr.type = API_OK };
    assert_int_equal (s_try (&ok, HTTP_ROLE_OPERATOR, &err), -1);
    assert_int_equal (err.status, 400);
    api_msg_t got;
    assert_int_equal (
        http_pt_decode ((const uint8_t *) "{\"a\":1}", 7, HTTP_ROLE_OPERATOR, &got, &err), -1);
    assert_int_equal (err.status, 400);
    assert_int_equal (http_pt_decode (NULL, 0, HTTP_ROLE_OPERATOR, &got, &err), -1);
    assert_int_equal (err.status, 400);
}

static void
test_routes (void **state)
{
    (void) state;
    http_match_t m;
    http_error_t err;
    assert_int_equal (http_route_match ("POST", "/v1/api", &m, &err), 0);
    assert_int_equal (http_route_kind (m.route), HTTP_ROUTE_MSGPACK);
    assert_int_equal (http_route_role (m.route), HTTP_ROLE_READ); /* then per type */
    assert_false (http_route_watchable (m.route));
    /* not a JSON route: the JSON decoder refuses it rather than guess */
    api_msg_t req;
    assert_int_equal (http_request_decode (&m, NULL, 0, "", 0, &req, &err), -1);
    assert_int_equal (http_route_match ("GET", "/v1/api", &m, &err), -1);
    assert_int_equal (err.status, 405);
    assert_int_equal (http_route_match ("GET", "/v1/events", &m, &err), 0);
    assert_int_equal (http_route_kind (m.route), HTTP_ROUTE_EVENTS);
    const char *lists[] = { "/v1/sheds", "/v1/members", "/v1/services" };
    for (size_t i = 0; i < 3; i++) {
        assert_int_equal (http_route_match ("GET", lists[i], &m, &err), 0);
        assert_true (http_route_watchable (m.route));
    }
    assert_int_equal (http_route_match ("GET", "/v1/status", &m, &err), 0);
    assert_false (http_route_watchable (m.route));
    assert_int_equal (http_route_match ("GET", "/v1/members", &m, &err), 0);
    assert_string_equal (http_watch_topic (m.route), "member.");
}

static void
test_timeouts (void **state)
{
    (void) state;
    api_msg_t status = { .hdr.type = API_STATUS_REQ };
    assert_int_equal (http_pt_timeout_ms (&status, 0), HTTP_READ_TIMEOUT_MS);
    assert_int_equal (http_pt_timeout_ms (&status, 60000), 60000);
    assert_int_equal (http_pt_timeout_ms (&status, UINT64_MAX), HTTP_PASSTHROUGH_TIMEOUT_MAX_MS);
    api_msg_t create = { .hdr.type = API_SHED_CREATE_REQ };
    create.u.api_shed_create_req.timeout_ms = 60000;
    /* a create's own deadline, not the client's header */
    assert_int_equal (http_pt_timeout_ms (&create, 1), 60000 + SHED_API_REPLY_MARGIN_MS);
}

static void
test_watch_args (void **state)
{
    (void) state;
    http_error_t err;
    http_arg_t args[] = { { "node", "n1" }, { "index", "42" }, { "wait", "30s" } };
    size_t n = 3;
    bool set;
    uint64_t index, wait;
    assert_int_equal (http_watch_args (args, &n, &set, &index, &wait, &err), 0);
    assert_true (set);
    assert_int_equal (index, 42);
    assert_int_equal (wait, 30000);
    assert_int_equal (n, 1);
    assert_string_equal (args[0].key, "node");

    http_arg_t bad[] = { { "index", "x1" } };
    n = 1;
    assert_int_equal (http_watch_args (bad, &n, &set, &index, &wait, &err), -1);
    assert_int_equal (err.status, 400);
    http_arg_t long_wait[] = { { "wait", "2h" } };
    n = 1;
    assert_int_equal (http_watch_args (long_wait, &n, &set, &index, &wait, &err), -1);
    http_arg_t none[] = { { "node", "x" } };
    n = 1;
    assert_int_equal (http_watch_args (none, &n, &set, &index, &wait, &err), 0);
    assert_false (set);
    assert_int_equal (wait, HTTP_WATCH_WAIT_DEFAULT);

    /* the index moves when the body does, and only then */
    http_watch_t *w = http_watch_new ();
    http_match_t m, m2;
    assert_int_equal (http_route_match ("GET", "/v1/sheds", &m, &err), 0);
    assert_int_equal (http_route_match ("GET", "/v1/members", &m2, &err), 0);
    assert_true (http_route_watchable (m.route));
    uint64_t a = http_watch_index (w, m.route, "[1]", 3);
    assert_int_equal (http_watch_index (w, m.route, "[1]", 3), a);
    uint64_t b = http_watch_index (w, m.route, "[2]", 3);
    assert_true (b > a);
    assert_int_equal (http_watch_index (w, m2.route, "[2]", 3), 1); /* its own count */
    assert_int_equal (http_watch_index (w, m.route, "[1]", 3), b + 1);
    http_watch_destroy (&w);
}

int
main (void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test (test_every_request_classified),
        cmocka_unit_test (test_roles),
        cmocka_unit_test (test_routes),
        cmocka_unit_test (test_timeouts),
        cmocka_unit_test (test_watch_args),
    };
    return cmocka_run_group_tests (tests, NULL, NULL);
}
