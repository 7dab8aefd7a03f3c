/*
 * http_logs_test.c - the /v1 routes of logs, provision, join, leave and
 * force-leave (node/http/http_route.c, http_route_ops.c) and the logs
 * follow's pieces (node/http/http_logs.c): the request each route makes
 * from its path, query and JSON body, bad input (wrong types, unknown
 * fields, bounds) as a 400 naming the field, `follow` taken out of the
 * query, and a hostile shed's bytes (not UTF-8, newlines) as valid JSON
 * both in the JSON answer and in a stream record.
 */
#include "node/http/http_logs.h"
#include "node/http/http_route_int.h"

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

static int
s_decode (const char *method, const char *path, const http_arg_t *args, size_t nargs,
          const char *body, api_msg_t *req, http_error_t *err)
{
    http_match_t m;
    if (http_route_match (method, path, &m, err) != 0)
        fail_msg ("%s %s: no route", method, path);
    int rc = http_request_decode (&m, args, nargs, body, body ? strlen (body) : 0, req, err);
    if (rc == 0) { /* what is built, the local API's codec carries */
        uint8_t *buf = NULL;
        size_t len = 0;
        assert_int_equal (wire_encode (&api_proto, req, &buf, &len), WIRE_OK);
        free (buf);
    }
    return rc;
}

static void
s_ok (const char *method, const char *path, const http_arg_t *args, size_t nargs, const char *body,
      api_msg_t *req, uint16_t type)
{
    http_error_t err;
    if (s_decode (method, path, args, nargs, body, req, &err) != 0)
        fail_msg ("%s %s %s: %u %s", method, path, body ? body : "", err.status, err.message);
    assert_int_equal (req->hdr.type, type);
}

static void
s_bad (const char *method, const char *path, const http_arg_t *args, size_t nargs, const char *body,
       const char *words)
{
    api_msg_t req;
    http_error_t err;
    assert_int_equal (s_decode (method, path, args, nargs, body, &req, &err), -1);
    assert_int_equal (err.status, 400);
    if (!strstr (err.message, words))
        fail_msg ("%s %s %s: '%s' does not say '%s'", method, path, body ? body : "", err.message,
                  words);
}

static const http_route_t *
s_route (const char *method, const char *path, const char *name)
{
    http_match_t m;
    http_error_t err;
    if (http_route_match (method, path, &m, &err) != 0)
        fail_msg ("%s %s: %u %s", method, path, err.status, err.message);
    assert_string_equal (http_route_name (m.route), name);
    return m.route;
}

static void
test_routes (void **state)
{
    (void) state;
    const http_route_t *r = s_route ("GET", "/v1/sheds/web/logs", "sheds.logs");
    assert_int_equal (http_route_role (r), HTTP_ROLE_READ);
    assert_true (http_route_followable (r));
    r = s_route ("POST", "/v1/sheds/web/provision", "sheds.provision");
    assert_int_equal (http_route_role (r), HTTP_ROLE_OPERATOR);
    assert_false (http_route_followable (r));
    r = s_route ("POST", "/v1/cluster/join", "cluster.join");
    assert_int_equal (http_route_role (r), HTTP_ROLE_OPERATOR);
    r = s_route ("POST", "/v1/cluster/leave", "cluster.leave");
    assert_int_equal (http_route_role (r), HTTP_ROLE_OPERATOR);
    r = s_route ("POST", "/v1/members/node3/force-leave", "members.force_leave");
    assert_int_equal (http_route_role (r), HTTP_ROLE_OPERATOR);
    assert_false (http_route_followable (s_route ("GET", "/v1/sheds/web", "sheds.show")));
    http_match_t m;
    http_error_t err;
    assert_int_equal (http_route_match ("GET", "/v1/cluster/leave", &m, &err), -1);
    assert_int_equal (err.status, 405);
    assert_int_equal (http_route_match ("DELETE", "/v1/sheds/web/logs", &m, &err), -1);
    assert_int_equal (err.status, 405);
    assert_int_equal (http_route_match ("POST", "/v1/members//force-leave", &m, &err), -1);
    assert_int_equal (err.status, 404);
}

static void
test_logs_request (void **state)
{
    (void) state;
    api_msg_t req;
    s_ok ("GET", "/v1/sheds/web/logs", NULL, 0, NULL, &req, API_LOGS_REQ);
    assert_string_equal (req.u.api_logs_req.shed, "web");
    assert_string_equal (req.u.api_logs_req.stream, "");
    assert_int_equal (req.u.api_logs_req.tail, 0);
    http_arg_t a[] = { { "tail", "25" }, { "stream", "stderr" } };
    s_ok ("GET", "/v1/sheds/web/logs", a, 2, NULL, &req, API_LOGS_REQ);
    assert_int_equal (req.u.api_logs_req.tail, 25);
    assert_string_equal (req.u.api_logs_req.stream, "stderr");

    http_arg_t bad_tail[] = { { "tail", "ten" } };
    s_bad ("GET", "/v1/sheds/web/logs", bad_tail, 1, NULL,
           "field 'tail': expected a non-negative integer");
    http_arg_t neg[] = { { "tail", "-1" } };
    s_bad ("GET", "/v1/sheds/web/logs", neg, 1, NULL, "expected a non-negative integer");
    http_arg_t big[] = { { "tail", "100001" } };
    s_bad ("GET", "/v1/sheds/web/logs", big, 1, NULL, "field 'tail': at most 100000");
    http_arg_t since[] = { { "since", "10m" } };
    s_bad ("GET", "/v1/sheds/web/logs", since, 1, NULL, "unknown query argument 'since'");
    char stream[80];
    memset (stream, 's', 65);
    stream[65] = '\0';
    http_arg_t longs[] = { { "stream", stream } };
    s_bad ("GET", "/v1/sheds/web/logs", longs, 1, NULL, "field 'stream': longer than 64 bytes");
    http_arg_t twice[] = { { "tail", "1" }, { "tail", "2" } };
    s_bad ("GET", "/v1/sheds/web/logs", twice, 2, NULL, "given twice");
    s_bad ("GET", "/v1/sheds/web/logs", NULL, 0, "{}", "takes no body");
    /* follow is the stream's: left in the query, the decoder refuses it */
    http_arg_t follow[] = { { "follow", "true" } };
    s_bad ("GET", "/v1/sheds/web/logs", follow, 1, NULL, "unknown query argument 'follow'");
}

static void
test_follow_args (void **state)
{
    (void) state;
    http_error_t err;
    bool follow = true;
    http_arg_t a[] = { { "tail", "5" }, { "follow", "true" }, { "stream", "stdout" } };
    size_t n = 3;
    assert_int_equal (http_logs_args (a, &n, &follow, &err), 0);
    assert_true (follow);
    assert_int_equal (n, 2);
    assert_string_equal (a[0].key, "tail");
    assert_string_equal (a[1].key, "stream");
    http_arg_t b[] = { { "follow", NULL } }; /* bare ?follow */
    n = 1;
    assert_int_equal (http_logs_args (b, &n, &follow, &err), 0);
    assert_true (follow);
    assert_int_equal (n, 0);
    http_arg_t c[] = { { "follow", "0" }, { "tail", "1" } };
    n = 2;
    assert_int_equal (http_logs_args (c, &n, &follow, &err), 0);
    assert_false (follow);
    assert_int_equal (n, 1);
    http_arg_t d[] = { { "follow", "yes" } };
    n = 1;
    assert_int_equal (http_logs_args (d, &n, &follow, &err), -1);
    assert_int_equal (err.status, 400);
    assert_non_null (strstr (err.message, "'follow': expected true or false"));
    http_arg_t e[] = { { "follow", "true" }, { "follow", "false" } };
    n = 2;
    assert_int_equal (http_logs_args (e, &n, &follow, &err), -1);
    assert_non_null (strstr (err.message, "given twice"));
    n = 0;
    assert_int_equal (http_logs_args (NULL, &n, &follow, &err), 0);
    assert_false (follow);
}

/* Bytes a hostile shed may write: a lone continuation byte, a cut
 * sequence, an overlong '/', a surrogate, a newline, a quote and a
 * control byte. */
static const char s_hostile[] = "ok \x80 cut \xe2\x82 over \xc0\xaf sur \xed\xa0\x80 nl\n"
                                "\"q\" \x01 end";

static void
s_valid_text (json_t *line)
{
    const char *text = json_string_value (json_object_get (line, "text"));
    assert_non_null (text);
    assert_non_null (strstr (text, "ok \xef\xbf\xbd cut \xef\xbf\xbd over "));
    assert_non_null (strstr (text, "nl\n\"q\" \x01 end"));
}

static void
test_record (void **state)
{
    (void) state;
    size_t len = 0;
    char *rec = http_logs_record ("node1", "stdout", 7, 1234, s_hostile, true, &len);
    assert_non_null (rec);
    assert_int_equal (strlen (rec), len);
    /* one SSE record: "data: " JSON, one blank line at the end only */
    assert_memory_equal (rec, "data: ", 6);
    assert_string_equal (rec + len - 2, "\n\n");
    assert_null (memchr (rec, '\n', len - 2));
    json_error_t jerr;
    json_t *root = json_loadb (rec + 6, len - 8, JSON_REJECT_DUPLICATES, &jerr);
    if (!root)
        fail_msg ("not JSON (%s): %s", jerr.text, rec);
    assert_string_equal (json_string_value (json_object_get (root, "node")), "node1");
    assert_string_equal (json_string_value (json_object_get (root, "stream")), "stdout");
    assert_int_equal (json_integer_value (json_object_get (root, "seq")), 7);
    assert_int_equal (json_integer_value (json_object_get (root, "ts_ms")), 1234);
    assert_true (json_is_true (json_object_get (root, "partial")));
    s_valid_text (root);
    json_decref (root);
    free (rec);
}

static void
test_logs_reply (void **state)
{
    (void) state;
    api_logline_t lines[2] = { { .seq = 1, .ts_ms = 10 }, { .seq = 2, .ts_ms = 20 } };
    strcpy (lines[0].stream, "stdout");
    strcpy (lines[0].text, "hello");
    strcpy (lines[1].stream, "stderr");
    strcpy (lines[1].text, s_hostile);
    api_msg_t rep = { .hdr.type = API_LOGS_REP };
    strcpy (rep.u.api_logs_rep.node, "node1");
    rep.u.api_logs_rep.lines.n = 2;
    rep.u.api_logs_rep.lines.items = lines;
    rep.u.api_logs_rep.evicted = 3;
    http_match_t m;
    http_error_t err;
    assert_int_equal (http_route_match ("GET", "/v1/sheds/web/logs", &m, &err), 0);
    size_t len = 0;
    char *text = http_reply_json (&m, &rep, &len, &err);
    assert_non_null (text);
    json_error_t jerr;
    json_t *root = json_loadb (text, len, JSON_REJECT_DUPLICATES, &jerr);
    if (!root)
        fail_msg ("not JSON (%s): %s", jerr.text, text);
    free (text);
    assert_string_equal (json_string_value (json_object_get (root, "node")), "node1");
    assert_int_equal (json_integer_value (json_object_get (root, "evicted")), 3);
    json_t *ls = json_object_get (root, "lines");
    assert_int_equal (json_array_size (ls), 2);
    assert_string_equal (json_string_value (json_object_get (json_array_get (ls, 0), "text")),
                         "hello");
    s_valid_text (json_array_get (ls, 1));
    json_decref (root);

    /* A shed no node has: 404 */
    api_msg_t e = { .hdr.type = API_ERROR };
    e.u.api_error.code = API_ERR_NOT_FOUND;
    strcpy (e.u.api_error.message, "no shed web");
    assert_null (http_reply_json (&m, &e, &len, &err));
    assert_int_equal (err.status, 404);
}

static void
test_provision (void **state)
{
    (void) state;
    api_msg_t req;
    s_ok ("POST", "/v1/sheds/web/provision", NULL, 0,
          "{\"steps\": [\"apt-get update\", {\"name\": \"pkgs\", \"cmd\": \"true\", "
          "\"timeout_ms\": 5000}, {\"cmd\": \"echo 3\"}], \"user\": \"dev\", \"keep_going\": true, "
          "\"run\": 42, \"timeout_ms\": 60000}",
          &req, API_PROVISION_REQ);
    const api_provision_req_t *p = &req.u.api_provision_req;
    assert_string_equal (p->shed, "web");
    assert_string_equal (p->user, "dev");
    assert_true (p->keep_going);
    assert_int_equal (p->run, 42);
    assert_int_equal (p->timeout_ms, 60000);
    assert_int_equal (p->steps.n, 3);
    assert_string_equal (p->steps.items[0].name, "step-1"); /* as shedctl names them */
    assert_string_equal (p->steps.items[0].cmd, "apt-get update");
    assert_string_equal (p->steps.items[1].name, "pkgs");
    assert_int_equal (p->steps.items[1].timeout_ms, 5000);
    assert_string_equal (p->steps.items[2].name, "step-3");
    /* the HTTP thread waits as long as the run may take */
    assert_int_equal (http_request_timeout_ms (&req), 60000 + SHED_API_REPLY_MARGIN_MS);
    wire_msg_free (&api_proto, &req);
    s_ok ("POST", "/v1/sheds/web/provision", NULL, 0, "{\"steps\": [\"true\"]}", &req,
          API_PROVISION_REQ);
    assert_int_equal (http_request_timeout_ms (&req), 600000 + SHED_API_REPLY_MARGIN_MS);
    wire_msg_free (&api_proto, &req);

    const char *P = "/v1/sheds/web/provision";
    s_bad ("POST", P, NULL, 0, "{}", "missing field 'steps'");
    s_bad ("POST", P, NULL, 0, "", "malformed JSON");
    s_bad ("POST", P, NULL, 0, "{\"steps\": []}", "field 'steps': expected an array of 1 to 64");
    s_bad ("POST", P, NULL, 0, "{\"steps\": \"true\"}", "field 'steps': expected an array");
    s_bad ("POST", P, NULL, 0, "{\"steps\": [1]}", "field 'steps[0]': expected a command");
    s_bad ("POST", P, NULL, 0, "{\"steps\": [\"a\", \"\"]}", "field 'steps[1]': no command");
    s_bad ("POST", P, NULL, 0, "{\"steps\": [{\"name\": \"x\"}]}", "field 'steps[0]': no command");
    s_bad ("POST", P, NULL, 0, "{\"steps\": [{\"cmd\": \"x\", \"shell\": \"sh\"}]}",
           "unknown field 'steps[0].shell'");
    s_bad ("POST", P, NULL, 0, "{\"steps\": [{\"cmd\": 1}]}",
           "field 'steps[0]': expected a string");
    s_bad ("POST", P, NULL, 0, "{\"steps\": [{\"cmd\": \"x\", \"timeout_ms\": -5}]}",
           "field 'steps[0].timeout_ms': expected a non-negative integer");
    s_bad ("POST", P, NULL, 0, "{\"steps\": [\"x\"], \"keep_going\": \"yes\"}",
           "field 'keep_going': expected true or false");
    s_bad ("POST", P, NULL, 0, "{\"steps\": [\"x\"], \"run\": 1.5}",
           "field 'run': expected a non-negative integer");
    s_bad ("POST", P, NULL, 0, "{\"steps\": [\"x\"], \"shed\": \"other\"}", "unknown field 'shed'");
    char body[5000];
    snprintf (body, sizeof body, "{\"steps\": [\"%04097d\"]}", 0);
    s_bad ("POST", P, NULL, 0, body, "field 'steps[0]': longer than 4096 bytes");
    /* 65 steps */
    size_t used = (size_t) snprintf (body, sizeof body, "{\"steps\": [");
    for (int i = 0; i < 65; i++)
        used += (size_t) snprintf (body + used, sizeof body - used, "%s\"true\"", i ? "," : "");
    snprintf (body + used, sizeof body - used, "]}");
    s_bad ("POST", P, NULL, 0, body, "expected an array of 1 to 64 steps");
    http_arg_t q[] = { { "user", "dev" } };
    s_bad ("POST", P, q, 1, "{\"steps\": [\"x\"]}", "unknown query argument 'user'");
}

static void
test_membership (void **state)
{
    (void) state;
    api_msg_t req;
    s_ok ("POST", "/v1/cluster/join", NULL, 0,
          "{\"seeds\": [\"198.18.0.12:7946\", \"[fd00:5ed::2]:7946\"]}", &req, API_JOIN_REQ);
    assert_int_equal (req.u.api_join_req.seeds.n, 2);
    assert_string_equal (req.u.api_join_req.seeds.items[1].addr, "[fd00:5ed::2]:7946");
    /* the node answers by its join_timeout_ms: wait longer than that */
    assert_true (http_request_timeout_ms (&req) > 5000 + SHED_API_REPLY_MARGIN_MS);
    wire_msg_free (&api_proto, &req);
    s_bad ("POST", "/v1/cluster/join", NULL, 0, "{}", "missing field 'seeds'");
    s_bad ("POST", "/v1/cluster/join", NULL, 0, "{\"seeds\": []}", "missing field 'seeds'");
    s_bad ("POST", "/v1/cluster/join", NULL, 0, "{\"seeds\": \"a:1\"}",
           "field 'seeds': expected an array of at most 16 strings");
    s_bad ("POST", "/v1/cluster/join", NULL, 0, "{\"seeds\": [7946]}",
           "field 'seeds': expected a string");
    s_bad ("POST", "/v1/cluster/join", NULL, 0, "{\"seeds\": [\"a:1\"], \"wait\": true}",
           "unknown field 'wait'");
    s_bad ("POST", "/v1/cluster/join", NULL, 0, "[\"a:1\"]", "expected a JSON object");
    char body[600];
    size_t used = (size_t) snprintf (body, sizeof body, "{\"seeds\": [");
    for (int i = 0; i < 17; i++)
        used += (size_t) snprintf (body + used, sizeof body - used, "%s\"n%d:1\"", i ? "," : "", i);
    snprintf (body + used, sizeof body - used, "]}");
    s_bad ("POST", "/v1/cluster/join", NULL, 0, body, "at most 16");

    s_ok ("POST", "/v1/cluster/leave", NULL, 0, NULL, &req, API_LEAVE_REQ);
    s_ok ("POST", "/v1/cluster/leave", NULL, 0, "{}", &req, API_LEAVE_REQ);
    s_bad ("POST", "/v1/cluster/leave", NULL, 0, "{\"force\": true}", "unknown field 'force'");
    s_bad ("POST", "/v1/cluster/leave", NULL, 0, "null", "JSON");

    s_ok ("POST", "/v1/members/node3/force-leave", NULL, 0, NULL, &req, API_FORCE_LEAVE_REQ);
    assert_string_equal (req.u.api_force_leave_req.name, "node3");
    s_bad ("POST", "/v1/members/node3/force-leave", NULL, 0, "{\"name\": \"node4\"}",
           "unknown field 'name'");
    char path[200];
    snprintf (path, sizeof path, "/v1/members/%064d/force-leave", 0);
    s_bad ("POST", path, NULL, 0, NULL, "field 'name': longer than 63 bytes");

    /* Their answers: the node's message, or its error's status. */
    api_msg_t ok = { .hdr.type = API_OK };
    strcpy (ok.u.api_ok.message, "node3 forced to leave");
    http_match_t m;
    http_error_t err;
    size_t len;
    assert_int_equal (http_route_match ("POST", "/v1/members/node3/force-leave", &m, &err), 0);
    char *text = http_reply_json (&m, &ok, &len, &err);
    assert_non_null (text);
    assert_non_null (strstr (text, "\"message\":\"node3 forced to leave\""));
    free (text);
    api_msg_t e = { .hdr.type = API_ERROR };
    e.u.api_error.code = API_ERR_INVALID;
    strcpy (e.u.api_error.message, "node3 is alive");
    assert_null (http_reply_json (&m, &e, &len, &err));
    assert_int_equal (err.status, 400);
    assert_string_equal (err.code, "invalid");
}

int
main (void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test (test_routes),      cmocka_unit_test (test_logs_request),
        cmocka_unit_test (test_follow_args), cmocka_unit_test (test_record),
        cmocka_unit_test (test_logs_reply),  cmocka_unit_test (test_provision),
        cmocka_unit_test (test_membership),
    };
    return cmocka_run_group_tests (tests, NULL, NULL);
}
