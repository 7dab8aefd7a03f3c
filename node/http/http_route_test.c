/*
 * http_route_test.c - the remote API's routes and JSON translation
 * (node/http/http_route.h): which request a method and path make, how a
 * create's body becomes API_SHED_CREATE_REQ (shedctl's option names and
 * units), every kind of bad input as a 400 naming the field, and replies
 * written back as JSON that jansson reads strictly.
 */
#include "node/http/http_route.h"

#include "node/api/api_client.h"

#include <jansson.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

static void
s_match (const char *method, const char *path, const char *route, const char *name)
{
    http_match_t m;
    http_error_t err;
    assert_int_equal (http_route_match (method, path, &m, &err), 0);
    assert_string_equal (http_route_name (m.route), route);
    assert_string_equal (m.name, name);
}

static void
s_no_match (const char *method, const char *path, unsigned status, const char *allow)
{
    http_match_t m;
    http_error_t err;
    assert_int_equal (http_route_match (method, path, &m, &err), -1);
    assert_int_equal (err.status, status);
    assert_string_equal (err.allow, allow);
}

static void
test_routes (void **state)
{
    (void) state;
    s_match ("GET", "/v1/status", "status", "");
    s_match ("GET", "/v1/members", "members", "");
    s_match ("GET", "/v1/sheds", "sheds.list", "");
    s_match ("POST", "/v1/sheds", "sheds.create", "");
    s_match ("GET", "/v1/sheds/web", "sheds.show", "web");
    s_match ("GET", "/v1/sheds/web@node2", "sheds.show", "web@node2");
    s_match ("DELETE", "/v1/sheds/web", "sheds.delete", "web");
    s_match ("POST", "/v1/sheds/web/start", "sheds.start", "web");
    s_match ("POST", "/v1/sheds/web/stop", "sheds.stop", "web");
    s_match ("GET", "/v1/services", "services", "");
    s_no_match ("PUT", "/v1/sheds", 405, "GET, POST");
    s_no_match ("GET", "/v1/sheds/web/start", 405, "POST");
    s_no_match ("PATCH", "/v1/sheds/web", 405, "GET, DELETE");
    s_no_match ("GET", "/v1/sheds/", 404, "");
    s_no_match ("GET", "/v1/sheds//start", 404, "");
    s_no_match ("GET", "/v1/sheds/a/b", 404, "");
    s_no_match ("GET", "/v2/status", 404, "");
    s_no_match ("GET", "/v1/status/", 404, "");
    s_no_match ("GET", "", 404, "");
    s_no_match ("GET", "/v1/sheds/a\nb", 404, "");
    char longname[300];
    memset (longname, 'a', sizeof longname);
    memcpy (longname, "/v1/sheds/", 10);
    longname[sizeof longname - 1] = '\0';
    s_no_match ("GET", longname, 404, "");

    http_match_t m;
    http_error_t err;
    assert_int_equal (http_route_match ("GET", "/v1/sheds", &m, &err), 0);
    assert_int_equal (http_route_role (m.route), HTTP_ROLE_READ);
    assert_int_equal (http_route_match ("POST", "/v1/sheds", &m, &err), 0);
    assert_int_equal (http_route_role (m.route), HTTP_ROLE_OPERATOR);
    assert_int_equal (http_route_ok_status (m.route), 201);
    assert_int_equal (http_route_match ("DELETE", "/v1/sheds/x", &m, &err), 0);
    assert_int_equal (http_route_role (m.route), HTTP_ROLE_OPERATOR);
}

/* Decode a body for POST /v1/sheds; returns the decoder's result. */
static int
s_create (const char *body, api_msg_t *req, http_error_t *err)
{
    http_match_t m;
    assert_int_equal (http_route_match ("POST", "/v1/sheds", &m, err), 0);
    return http_request_decode (&m, NULL, 0, body, strlen (body), req, err);
}

static void
test_create (void **state)
{
    (void) state;
    api_msg_t req;
    http_error_t err;
    assert_int_equal (s_create ("{\"name\": \"web\", \"cpus\": \"1500m\", \"memory\": \"512M\", "
                                "\"disk\": \"10G\", \"gpus\": 1, \"node\": \"node2\", "
                                "\"constraints\": [\"arch=x86_64\", \"gpu>=1\"], "
                                "\"strategy\": \"spread\", \"tags\": {\"team\": \"a\"}, "
                                "\"image\": \"debian\", \"request_id\": \"r1\", "
                                "\"timeout_ms\": 60000}",
                                &req, &err),
                      0);
    const api_shed_create_req_t *c = &req.u.api_shed_create_req;
    assert_int_equal (req.hdr.type, API_SHED_CREATE_REQ);
    assert_string_equal (c->name, "web");
    assert_int_equal (c->cpus_milli, 1500);
    assert_int_equal (c->memory_mb, 512);
    assert_int_equal (c->disk_mb, 10240);
    assert_int_equal (c->gpus, 1);
    assert_string_equal (c->node, "node2");
    assert_int_equal (c->constraints.n, 2);
    assert_string_equal (c->constraints.items[1].text, "gpu>=1");
    assert_string_equal (c->strategy, "spread");
    assert_int_equal (c->tags.n, 1);
    assert_string_equal (c->tags.items[0].key, "team");
    assert_string_equal (c->tags.items[0].value, "a");
    assert_string_equal (c->image, "debian");
    assert_string_equal (c->request_id, "r1");
    assert_int_equal (c->timeout_ms, 60000);
    assert_int_equal (http_request_timeout_ms (&req), 60000 + SHED_API_REPLY_MARGIN_MS);
    assert_string_equal (http_request_id (&req), "r1");
    wire_msg_free (&api_proto, &req);

    /* Numbers as numbers: cpus may be fractional, sizes are MiB. */
    assert_int_equal (s_create ("{\"name\":\"a\",\"cpus\":0.5,\"memory\":1024,\"from_snapshot\":"
                                "\"s1\"}",
                                &req, &err),
                      0);
    assert_int_equal (req.u.api_shed_create_req.cpus_milli, 500);
    assert_int_equal (req.u.api_shed_create_req.memory_mb, 1024);
    assert_string_equal (req.u.api_shed_create_req.snapshot, "s1");
    assert_int_equal (http_request_timeout_ms (&req), 30000 + SHED_API_REPLY_MARGIN_MS);
    wire_msg_free (&api_proto, &req);

    /* create --repo (a driver that clones repositories: shed-server). */
    assert_int_equal (s_create ("{\"name\":\"a\",\"repo\":\"charliek/shed\"}", &req, &err), 0);
    assert_string_equal (req.u.api_shed_create_req.repo, "charliek/shed");
    wire_msg_free (&api_proto, &req);
}

static void
s_bad_create (const char *body, const char *code, const char *words)
{
    api_msg_t req;
    http_error_t err;
    assert_int_equal (s_create (body, &req, &err), -1);
    assert_int_equal (err.status, 400);
    if (strcmp (err.code, code) != 0)
        fail_msg ("%s: code %s, not %s (%s)", body, err.code, code, err.message);
    if (!strstr (err.message, words))
        fail_msg ("'%s' does not say '%s'", err.message, words);
    /* Nothing left to free: a failed decode releases what it took. */
    assert_int_equal (req.u.api_shed_create_req.tags.n, 0);
}

static void
test_create_refused (void **state)
{
    (void) state;
    s_bad_create ("{\"name\": \"web\",", "malformed_json", "malformed JSON");
    s_bad_create ("", "malformed_json", "malformed JSON");
    s_bad_create ("[1]", "bad_request", "expected a JSON object");
    s_bad_create ("{\"name\": \"a\", \"name\": \"b\"}", "malformed_json", "duplicate");
    s_bad_create ("{\"name\": \"a\", \"cpus_milli\": 5}", "bad_request",
                  "unknown field 'cpus_milli'");
    s_bad_create ("{\"name\": 5}", "bad_request", "field 'name': expected a string");
    s_bad_create ("{\"cpus\": 1}", "bad_request", "missing field 'name'");
    s_bad_create ("{\"name\": \"a\", \"gpus\": -1}", "bad_request", "non-negative integer");
    s_bad_create ("{\"name\": \"a\", \"gpus\": \"1\"}", "bad_request", "non-negative integer");
    s_bad_create ("{\"name\": \"a\", \"cpus\": 0}", "bad_request", "field 'cpus'");
    s_bad_create ("{\"name\": \"a\", \"cpus\": \"lots\"}", "bad_request", "field 'cpus'");
    s_bad_create ("{\"name\": \"a\", \"memory\": \"12Q\"}", "bad_request", "field 'memory'");
    s_bad_create ("{\"name\": \"a\", \"memory\": 1.5}", "bad_request", "field 'memory'");
    s_bad_create ("{\"name\": \"a\", \"tags\": {\"k\": 1}}", "bad_request", "field 'tags'");
    s_bad_create ("{\"name\": \"a\", \"tags\": [\"k\"]}", "bad_request", "field 'tags'");
    s_bad_create ("{\"name\": \"a\", \"constraints\": \"x=y\"}", "bad_request",
                  "field 'constraints'");
    s_bad_create ("{\"name\": \"a\", \"constraints\": [\"x=y\", 3]}", "bad_request",
                  "field 'constraints'");
    s_bad_create ("{\"name\": \"a\", \"constraints\": [\"===\"]}", "bad_request", "constraint");
    s_bad_create ("{\"name\": \"a\\u0000b\"}", "malformed_json", "\\u0000");
    s_bad_create (
        "{\"name\": \"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\"}",
        "bad_request", "longer than 63 bytes");
}

static void
test_query (void **state)
{
    (void) state;
    http_match_t m;
    http_error_t err;
    api_msg_t req;
    assert_int_equal (http_route_match ("DELETE", "/v1/sheds/web@n2", &m, &err), 0);
    http_arg_t args[] = { { "force", "true" }, { "request_id", "abc" }, { "timeout_ms", "2500" } };
    assert_int_equal (http_request_decode (&m, args, 3, NULL, 0, &req, &err), 0);
    assert_int_equal (req.hdr.type, API_SHED_OP_REQ);
    assert_int_equal (req.u.api_shed_op_req.op, API_SHED_OP_DELETE);
    assert_string_equal (req.u.api_shed_op_req.name, "web@n2");
    assert_true (req.u.api_shed_op_req.force);
    assert_string_equal (req.u.api_shed_op_req.request_id, "abc");
    assert_int_equal (http_request_timeout_ms (&req), 2500 + SHED_API_REPLY_MARGIN_MS);
    wire_msg_free (&api_proto, &req);

    http_arg_t bare[] = { { "force", NULL } }; /* ?force */
    assert_int_equal (http_request_decode (&m, bare, 1, NULL, 0, &req, &err), 0);
    assert_true (req.u.api_shed_op_req.force);

    http_arg_t bad[] = { { "timeout_ms", "soon" } };
    assert_int_equal (http_request_decode (&m, bad, 1, NULL, 0, &req, &err), -1);
    assert_int_equal (err.status, 400);
    http_arg_t unknown[] = { { "recursive", "1" } };
    assert_int_equal (http_request_decode (&m, unknown, 1, NULL, 0, &req, &err), -1);
    assert_non_null (strstr (err.message, "unknown query argument 'recursive'"));
    http_arg_t twice[] = { { "force", "1" }, { "force", "0" } };
    assert_int_equal (http_request_decode (&m, twice, 2, NULL, 0, &req, &err), -1);
    assert_non_null (strstr (err.message, "twice"));

    /* start has no force; a GET takes no body; a create takes no query. */
    assert_int_equal (http_route_match ("POST", "/v1/sheds/web/start", &m, &err), 0);
    assert_int_equal (http_request_decode (&m, bare, 1, NULL, 0, &req, &err), -1);
    assert_int_equal (http_request_decode (&m, NULL, 0, NULL, 0, &req, &err), 0);
    assert_int_equal (req.u.api_shed_op_req.op, API_SHED_OP_START);
    wire_msg_free (&api_proto, &req);
    assert_int_equal (http_route_match ("GET", "/v1/sheds", &m, &err), 0);
    assert_int_equal (http_request_decode (&m, NULL, 0, "{}", 2, &req, &err), -1);
    assert_non_null (strstr (err.message, "takes no body"));
    http_arg_t node[] = { { "node", "node3" } };
    assert_int_equal (http_request_decode (&m, node, 1, NULL, 0, &req, &err), 0);
    assert_string_equal (req.u.api_shed_list_req.node, "node3");
    assert_int_equal (http_request_timeout_ms (&req), HTTP_READ_TIMEOUT_MS);
    assert_int_equal (http_route_match ("POST", "/v1/sheds", &m, &err), 0);
    assert_int_equal (http_request_decode (&m, node, 1, "{\"name\":\"a\"}", 12, &req, &err), -1);
    assert_int_equal (http_route_match ("GET", "/v1/services", &m, &err), 0);
    http_arg_t all[] = { { "all", "false" }, { "name", "db" } };
    assert_int_equal (http_request_decode (&m, all, 2, NULL, 0, &req, &err), 0);
    assert_false (req.u.api_svc_list_req.all);
    assert_string_equal (req.u.api_svc_list_req.name, "db");
}

/* Parse strictly and return the root (the caller decrefs). */
static json_t *
s_parse_text (char *text, size_t len)
{
    assert_non_null (text);
    json_error_t jerr;
    json_t *root = json_loadb (text, len, JSON_REJECT_DUPLICATES, &jerr);
    if (!root)
        fail_msg ("not JSON (%s): %s", jerr.text, text);
    free (text);
    return root;
}

/* Evaluate the writer before reading the length it sets. */
#define s_parse(call, len) (s_text = (call), s_parse_text (s_text, len))
static char *s_text;

static void
test_replies (void **state)
{
    (void) state;
    http_match_t m;
    http_error_t err;
    size_t len = 0;
    api_shed_t sheds[2] = { 0 };
    strcpy (sheds[0].name, "web");
    strcpy (sheds[0].node, "node1");
    strcpy (sheds[0].state, "running");
    sheds[0].cpus_milli = 1500;
    sheds[0].created_ms = UINT64_C (1) << 62;
    wire_tag_t tag = { "team", "a\xff" }; /* ill-formed UTF-8 is repaired */
    sheds[0].tags.n = 1;
    sheds[0].tags.items = &tag;
    strcpy (sheds[1].name, "db");
    api_msg_t rep = { .hdr.type = API_SHED_LIST_REP };
    rep.u.api_shed_list_rep.sheds.n = 2;
    rep.u.api_shed_list_rep.sheds.items = sheds;
    assert_int_equal (http_route_match ("GET", "/v1/sheds", &m, &err), 0);
    json_t *root = s_parse (http_reply_json (&m, &rep, &len, &err), len);
    json_t *list = json_object_get (root, "sheds");
    assert_int_equal (json_array_size (list), 2);
    json_t *w = json_array_get (list, 0);
    assert_string_equal (json_string_value (json_object_get (w, "name")), "web");
    assert_string_equal (json_string_value (json_object_get (w, "state")), "running");
    assert_int_equal (json_integer_value (json_object_get (w, "cpus_milli")), 1500);
    assert_true (json_integer_value (json_object_get (w, "created_ms")) == INT64_C (1) << 62);
    assert_string_equal (json_string_value (json_object_get (json_object_get (w, "tags"), "team")),
                         "a\xef\xbf\xbd");
    json_decref (root);

    /* One shed (show, create): an object, not a one-item list. */
    api_msg_t one = { .hdr.type = API_SHED_REP };
    one.u.api_shed_rep.shed.n = 1;
    one.u.api_shed_rep.shed.items = sheds;
    assert_int_equal (http_route_match ("GET", "/v1/sheds/web", &m, &err), 0);
    root = s_parse (http_reply_json (&m, &one, &len, &err), len);
    assert_string_equal (
        json_string_value (json_object_get (json_object_get (root, "shed"), "node")), "node1");
    assert_true (json_is_array (json_object_get (root, "steps")));
    json_decref (root);

    /* Errors take the status of their code; a reply of the wrong type is
     * the node's fault (502). */
    api_msg_t e = { .hdr.type = API_ERROR };
    e.u.api_error.code = API_ERR_CONFLICT;
    strcpy (e.u.api_error.message, "shed web already exists (on node1)");
    assert_null (http_reply_json (&m, &e, &len, &err));
    assert_int_equal (err.status, 409);
    assert_string_equal (err.code, "conflict");
    e.u.api_error.code = API_ERR_NOT_FOUND;
    assert_null (http_reply_json (&m, &e, &len, &err));
    assert_int_equal (err.status, 404);
    e.u.api_error.code = API_ERR_UNAVAILABLE;
    assert_null (http_reply_json (&m, &e, &len, &err));
    assert_int_equal (err.status, 503);
    e.u.api_error.code = 99;
    assert_null (http_reply_json (&m, &e, &len, &err));
    assert_int_equal (err.status, 500);
    assert_null (http_reply_json (&m, &rep, &len, &err));
    assert_int_equal (err.status, 502);

    /* A member list that is not one gives 502, not a crash. */
    api_msg_t mem = { .hdr.type = API_MEMBERS_REP };
    uint8_t junk[] = { 0x81, 0x00 };
    mem.u.api_members_rep.members.data = junk;
    mem.u.api_members_rep.members.len = sizeof junk;
    assert_int_equal (http_route_match ("GET", "/v1/members", &m, &err), 0);
    assert_null (http_reply_json (&m, &mem, &len, &err));
    assert_int_equal (err.status, 502);

    http_error_set (&err, 400, "bad_request", "field 'x\xff'");
    root = s_parse (http_error_json (&err, &len, "request_id", "r1", NULL), len);
    json_t *eo = json_object_get (root, "error");
    assert_string_equal (json_string_value (json_object_get (eo, "code")), "bad_request");
    assert_string_equal (json_string_value (json_object_get (eo, "message")),
                         "field 'x\xef\xbf\xbd'");
    assert_string_equal (json_string_value (json_object_get (root, "request_id")), "r1");
    json_decref (root);
}

int
main (void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test (test_routes),         cmocka_unit_test (test_create),
        cmocka_unit_test (test_create_refused), cmocka_unit_test (test_query),
        cmocka_unit_test (test_replies),
    };
    return cmocka_run_group_tests (tests, NULL, NULL);
}
