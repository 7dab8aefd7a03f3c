/*
 * http_route_ops_test.c - the /v1 routes of node tags, drain, network,
 * move, snapshots, services and images (node/http/http_route_ops.c): the
 * request each makes from its path, query and JSON body (shedctl's option
 * names), bad input as a 400 naming the field, replies as JSON, and every
 * route's role against the passthrough's class of its request type (the
 * role table of docs/api.md), with no route for a local-only request.
 */
#include "node/http/http_passthrough.h"
#include "node/http/http_route_int.h"

#include "cluster/records.h"
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
    if (http_route_match (method, path, &m, &err) != 0)
        fail_msg ("%s %s: %u %s", method, path, err.status, err.message);
    assert_string_equal (http_route_name (m.route), route);
    assert_string_equal (m.name, name);
}

static void
test_routes (void **state)
{
    (void) state;
    s_match ("GET", "/v1/node/tags", "node.tags", "");
    s_match ("PUT", "/v1/node/tags/zone", "node.tags.set", "zone");
    s_match ("DELETE", "/v1/node/tags/zone", "node.tags.unset", "zone");
    s_match ("POST", "/v1/node/drain", "node.drain", "");
    s_match ("POST", "/v1/node/undrain", "node.undrain", "");
    s_match ("GET", "/v1/network", "network", "");
    s_match ("POST", "/v1/network/attach", "network.attach", "");
    s_match ("POST", "/v1/network/detach", "network.detach", "");
    s_match ("POST", "/v1/sheds/web/move", "sheds.move", "web");
    s_match ("GET", "/v1/snapshots", "snapshots.list", "");
    s_match ("POST", "/v1/snapshots", "snapshots.create", "");
    s_match ("GET", "/v1/snapshots/s1", "snapshots.show", "s1");
    s_match ("DELETE", "/v1/snapshots/s1", "snapshots.delete", "s1");
    s_match ("POST", "/v1/services", "services.register", "");
    s_match ("GET", "/v1/services", "services", ""); /* the list stays where it was */
    s_match ("GET", "/v1/services/web", "services.show", "web");
    s_match ("DELETE", "/v1/services/web", "services.deregister", "web");
    s_match ("GET", "/v1/images", "images.list", "");
    s_match ("GET", "/v1/images/sha256:00ff", "images.show", "sha256:00ff");

    /* 405 lists the methods of both tables' routes on the path. */
    http_match_t m;
    http_error_t err;
    assert_int_equal (http_route_match ("GET", "/v1/network/attach", &m, &err), -1);
    assert_int_equal (err.status, 405);
    assert_string_equal (err.allow, "POST");
    assert_int_equal (http_route_match ("PUT", "/v1/services", &m, &err), -1);
    assert_string_equal (err.allow, "GET, POST");
    assert_int_equal (http_route_match ("POST", "/v1/node/tags/k", &m, &err), -1);
    assert_string_equal (err.allow, "PUT, DELETE");
    assert_int_equal (http_route_match ("GET", "/v1/sheds/web/move", &m, &err), -1);
    assert_int_equal (err.status, 405);
    assert_int_equal (http_route_match ("GET", "/v1/node/tags/", &m, &err), -1);
    assert_int_equal (err.status, 404);
    assert_int_equal (http_route_match ("GET", "/v1/node", &m, &err), -1);
    assert_int_equal (err.status, 404);
}

/* Every JSON route's role is what the passthrough table (docs/api.md,
 * "Remote shedctl") says of its request type; none serves a local-only
 * type; route names are unique (operationIds in docs/openapi.json). */
static void
test_roles (void **state)
{
    (void) state;
    size_t ops = 0;
    for (size_t i = 0; i < http_route_count (); i++) {
        const http_route_t *r = http_route_at (i);
        for (size_t j = 0; j < i; j++)
            if (strcmp (http_route_at (j)->name, r->name) == 0)
                fail_msg ("route name %s twice", r->name);
        if (r->kind != HTTP_ROUTE_JSON)
            continue;
        http_pt_class_t c = http_pt_type_class (r->req_type);
        if (c != HTTP_PT_READ && c != HTTP_PT_OPERATOR)
            fail_msg ("route %s serves request type %u of class %s", r->name, r->req_type,
                      http_pt_class_name (c));
        http_role_t want = c == HTTP_PT_READ ? HTTP_ROLE_READ : HTTP_ROLE_OPERATOR;
        if (r->role != want)
            fail_msg ("route %s has role %s, its request type is %s", r->name,
                      http_role_name (r->role), http_pt_class_name (c));
        /* A read is a GET and a GET is a read. */
        if ((strcmp (r->method, "GET") == 0) != (r->role == HTTP_ROLE_READ))
            fail_msg ("route %s: %s with role %s", r->name, r->method, http_role_name (r->role));
        ops += r >= http_ops_routes && r < http_ops_routes + http_ops_nroutes;
    }
    assert_int_equal (ops, http_ops_nroutes);
}

/* Decode METHOD PATH with the body; 0 or -1 (err set). */
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
s_ok (const char *method, const char *path, const char *body, api_msg_t *req, uint16_t type)
{
    http_error_t err;
    if (s_decode (method, path, NULL, 0, body, req, &err) != 0)
        fail_msg ("%s %s %s: %u %s", method, path, body ? body : "", err.status, err.message);
    assert_int_equal (req->hdr.type, type);
}

static void
s_bad (const char *method, const char *path, const char *body, const char *words)
{
    api_msg_t req;
    http_error_t err;
    assert_int_equal (s_decode (method, path, NULL, 0, body, &req, &err), -1);
    assert_int_equal (err.status, 400);
    if (!strstr (err.message, words))
        fail_msg ("%s %s %s: '%s' does not say '%s'", method, path, body ? body : "", err.message,
                  words);
}

static void
test_tags_drain_network (void **state)
{
    (void) state;
    api_msg_t req;
    s_ok ("GET", "/v1/node/tags", NULL, &req, API_STATUS_REQ);
    assert_int_equal (http_request_timeout_ms (&req), HTTP_READ_TIMEOUT_MS);

    s_ok ("PUT", "/v1/node/tags/zone", "{\"value\": \"eu-1\"}", &req, API_TAGS_REQ);
    assert_int_equal (req.u.api_tags_req.op, API_TAG_SET);
    assert_string_equal (req.u.api_tags_req.key, "zone");
    assert_string_equal (req.u.api_tags_req.value, "eu-1");
    s_ok ("PUT", "/v1/node/tags/zone", "", &req, API_TAGS_REQ); /* `tags set zone=` */
    assert_string_equal (req.u.api_tags_req.value, "");
    s_ok ("DELETE", "/v1/node/tags/zone", NULL, &req, API_TAGS_REQ);
    assert_int_equal (req.u.api_tags_req.op, API_TAG_UNSET);
    assert_string_equal (req.u.api_tags_req.key, "zone");
    s_bad ("PUT", "/v1/node/tags/zone", "{\"value\": 3}", "field 'value': expected a string");
    s_bad ("PUT", "/v1/node/tags/zone", "{\"key\": \"x\"}", "unknown field 'key'");
    s_bad ("PUT", "/v1/node/tags/zone", "{\"value\": \"a\",", "malformed JSON");
    s_bad ("DELETE", "/v1/node/tags/zone", "{}", "takes no body");
    char path[200], body[300];
    snprintf (path, sizeof path, "/v1/node/tags/%064d", 0);
    s_bad ("PUT", path, "{}", "field 'key': longer than 63 bytes");
    snprintf (body, sizeof body, "{\"value\": \"%0256d\"}", 0);
    s_bad ("PUT", "/v1/node/tags/zone", body, "field 'value': longer than 255 bytes");

    s_ok ("POST", "/v1/node/drain", NULL, &req, API_NODE_DRAIN_REQ);
    assert_true (req.u.api_node_drain_req.drain);
    assert_string_equal (req.u.api_node_drain_req.node, "");
    s_ok ("POST", "/v1/node/drain", "{\"node\": \"node2\"}", &req, API_NODE_DRAIN_REQ);
    assert_true (req.u.api_node_drain_req.drain);
    assert_string_equal (req.u.api_node_drain_req.node, "node2");
    s_ok ("POST", "/v1/node/undrain", "{}", &req, API_NODE_DRAIN_REQ);
    assert_false (req.u.api_node_drain_req.drain);
    s_bad ("POST", "/v1/node/undrain", "{\"drain\": true}", "unknown field 'drain'");
    s_bad ("POST", "/v1/node/drain", "{\"node\": [\"n\"]}", "field 'node': expected a string");
    s_bad ("POST", "/v1/node/drain", "[\"node2\"]", "expected a JSON object");

    s_ok ("GET", "/v1/network", NULL, &req, API_NETWORK_REQ);
    s_ok ("POST", "/v1/network/attach", "{\"shed\": \"web\"}", &req, API_NET_ATTACH_REQ);
    assert_string_equal (req.u.api_net_attach_req.shed, "web");
    s_ok ("POST", "/v1/network/detach", "{\"shed\": \"web\"}", &req, API_NET_DETACH_REQ);
    assert_string_equal (req.u.api_net_detach_req.shed, "web");
    s_bad ("POST", "/v1/network/attach", "{}", "missing field 'shed'");
    s_bad ("POST", "/v1/network/attach", "", "malformed JSON"); /* a body is required */
    s_bad ("POST", "/v1/network/detach", "{\"shed\": true}", "field 'shed': expected a string");
    s_bad ("POST", "/v1/network/detach", "{\"shed\": \"a\", \"ip\": \"x\"}", "unknown field 'ip'");
    http_arg_t q[] = { { "shed", "web" } };
    api_msg_t r2;
    http_error_t err;
    assert_int_equal (
        s_decode ("POST", "/v1/network/attach", q, 1, "{\"shed\": \"web\"}", &r2, &err), -1);
    assert_non_null (strstr (err.message, "unknown query argument 'shed'"));
    assert_int_equal (s_decode ("GET", "/v1/network", NULL, 0, "{}", &r2, &err), -1);
    assert_non_null (strstr (err.message, "takes no body"));
}

static void
test_move_snapshots (void **state)
{
    (void) state;
    api_msg_t req;
    s_ok ("POST", "/v1/sheds/web/move", "{\"to\": \"node2\"}", &req, API_SHED_MOVE_REQ);
    assert_string_equal (req.u.api_shed_move_req.name, "web");
    assert_string_equal (req.u.api_shed_move_req.node, "node2");
    /* As long as shedctl waits: the move runs on the node, not here. */
    assert_int_equal (http_request_timeout_ms (&req), 30 * 60 * 1000 + SHED_API_REPLY_MARGIN_MS);
    s_ok ("POST", "/v1/sheds/web/move", NULL, &req, API_SHED_MOVE_REQ); /* placement picks */
    assert_string_equal (req.u.api_shed_move_req.node, "");
    s_bad ("POST", "/v1/sheds/web/move", "{\"node\": \"node2\"}", "unknown field 'node'");
    s_bad ("POST", "/v1/sheds/web/move", "{\"to\": 2}", "field 'to': expected a string");
    s_bad ("POST", "/v1/sheds/web/move", "{\"to\": \"n\", \"to\": \"m\"}", "duplicate");
    char path[200];
    snprintf (path, sizeof path, "/v1/sheds/%070d/move", 0);
    s_bad ("POST", path, NULL, "field 'name': longer than 63 bytes");

    s_ok ("GET", "/v1/snapshots", NULL, &req, API_SNAPSHOT_LIST_REQ);
    assert_string_equal (req.u.api_snapshot_list_req.shed, "");
    http_arg_t q[] = { { "shed", "web" } };
    http_error_t err;
    assert_int_equal (s_decode ("GET", "/v1/snapshots", q, 1, NULL, &req, &err), 0);
    assert_string_equal (req.u.api_snapshot_list_req.shed, "web");
    http_arg_t bad[] = { { "name", "s1" } };
    assert_int_equal (s_decode ("GET", "/v1/snapshots", bad, 1, NULL, &req, &err), -1);
    assert_non_null (strstr (err.message, "unknown query argument 'name'"));
    s_ok ("GET", "/v1/snapshots/s1", NULL, &req, API_SNAPSHOT_LIST_REQ);
    assert_string_equal (req.u.api_snapshot_list_req.name, "s1");
    s_ok ("DELETE", "/v1/snapshots/s1", NULL, &req, API_SNAPSHOT_RM_REQ);
    assert_string_equal (req.u.api_snapshot_rm_req.name, "s1");
    assert_int_equal (http_request_timeout_ms (&req), HTTP_READ_TIMEOUT_MS);

    s_ok ("POST", "/v1/snapshots", "{\"shed\": \"web\", \"name\": \"s1\", \"mode\": \"stop\"}",
          &req, API_SNAPSHOT_CREATE_REQ);
    assert_string_equal (req.u.api_snapshot_create_req.shed, "web");
    assert_string_equal (req.u.api_snapshot_create_req.name, "s1");
    assert_int_equal (req.u.api_snapshot_create_req.mode, 1);
    assert_int_equal (http_request_timeout_ms (&req), 30 * 60 * 1000 + SHED_API_REPLY_MARGIN_MS);
    s_ok ("POST", "/v1/snapshots", "{\"shed\": \"web\", \"mode\": \"live\"}", &req,
          API_SNAPSHOT_CREATE_REQ);
    assert_int_equal (req.u.api_snapshot_create_req.mode, 0);
    assert_string_equal (req.u.api_snapshot_create_req.name, "");
    s_bad ("POST", "/v1/snapshots", "{\"name\": \"s1\"}", "missing field 'shed'");
    s_bad ("POST", "/v1/snapshots", "{\"shed\": \"web\", \"mode\": \"frozen\"}",
           "field 'mode': expected one of live, stop");
    s_bad ("POST", "/v1/snapshots", "{\"shed\": \"web\", \"mode\": 1}",
           "field 'mode': expected one of live, stop");
    s_bad ("POST", "/v1/snapshots", "{\"shed\": \"web\", \"live\": true}", "unknown field 'live'");
    s_bad ("POST", "/v1/snapshots", "{\"shed\": [\"web\"]}", "field 'shed': expected a string");
    s_bad ("DELETE", "/v1/snapshots/s1", "{}", "takes no body");
}

static void
test_services_images (void **state)
{
    (void) state;
    api_msg_t req;
    s_ok ("POST", "/v1/services",
          "{\"name\": \"web\", \"port\": 8080, \"id\": \"web-1\", \"address\": \"198.19.0.5\", "
          "\"shed\": \"w\", \"protocol\": \"tcp\", \"tags\": {\"v\": \"2\"}, \"health\": "
          "\"warning\", \"check\": \"tcp\", \"check_target\": \"198.19.0.5:8080\", "
          "\"interval_ms\": 5000}",
          &req, API_SVC_REGISTER_REQ);
    const api_svc_register_req_t *r = &req.u.api_svc_register_req;
    assert_string_equal (r->name, "web");
    assert_int_equal (r->port, 8080);
    assert_string_equal (r->id, "web-1");
    assert_string_equal (r->address, "198.19.0.5");
    assert_string_equal (r->shed, "w");
    assert_string_equal (r->protocol, "tcp");
    assert_int_equal (r->tags.n, 1);
    assert_string_equal (r->tags.items[0].value, "2");
    assert_int_equal (r->health, REC_HEALTH_WARNING);
    assert_int_equal (r->check, REC_CHECK_TCP);
    assert_string_equal (r->check_target, "198.19.0.5:8080");
    assert_int_equal (r->interval_ms, 5000);
    wire_msg_free (&api_proto, &req);
    s_ok ("POST", "/v1/services", "{\"name\": \"db\", \"port\": 5432, \"check\": \"cmd\"}", &req,
          API_SVC_REGISTER_REQ);
    assert_int_equal (req.u.api_svc_register_req.check, REC_CHECK_CMD);
    assert_int_equal (req.u.api_svc_register_req.health, REC_HEALTH_PASSING);
    s_bad ("POST", "/v1/services", "{\"port\": 80}", "missing field 'name'");
    s_bad ("POST", "/v1/services", "{\"name\": \"a\", \"port\": \"80\"}",
           "field 'port': expected a non-negative integer");
    s_bad ("POST", "/v1/services", "{\"name\": \"a\", \"port\": 70000}",
           "field 'port': at most 65535");
    s_bad ("POST", "/v1/services", "{\"name\": \"a\", \"port\": 1, \"health\": \"ok\"}",
           "field 'health': expected one of passing, warning, critical");
    s_bad ("POST", "/v1/services", "{\"name\": \"a\", \"port\": 1, \"check\": 2}",
           "field 'check': expected one of none, tcp, cmd");
    s_bad ("POST", "/v1/services", "{\"name\": \"a\", \"port\": 1, \"check_tcp\": \"x\"}",
           "unknown field 'check_tcp'");

    s_ok ("GET", "/v1/services/web", NULL, &req, API_SVC_SHOW_REQ);
    assert_string_equal (req.u.api_svc_show_req.name, "web");
    s_ok ("DELETE", "/v1/services/web-1", NULL, &req, API_SVC_DEREGISTER_REQ);
    assert_string_equal (req.u.api_svc_deregister_req.service, "web-1");

    s_ok ("GET", "/v1/images", NULL, &req, API_IMAGE_LIST_REQ);
    assert_string_equal (req.u.api_image_list_req.name, "");
    s_ok ("GET", "/v1/images/busybox", NULL, &req, API_IMAGE_LIST_REQ);
    assert_string_equal (req.u.api_image_list_req.name, "busybox");
    http_arg_t q[] = { { "name", "busybox" } };
    http_error_t err;
    assert_int_equal (s_decode ("GET", "/v1/images", q, 1, NULL, &req, &err), -1);
    assert_int_equal (err.status, 400);
}

static json_t *
s_reply (const char *method, const char *path, const api_msg_t *rep)
{
    http_match_t m;
    http_error_t err;
    size_t len = 0;
    assert_int_equal (http_route_match (method, path, &m, &err), 0);
    char *text = http_reply_json (&m, rep, &len, &err);
    if (!text)
        fail_msg ("%s %s: %u %s", method, path, err.status, err.message);
    json_error_t jerr;
    json_t *root = json_loadb (text, len, JSON_REJECT_DUPLICATES, &jerr);
    if (!root)
        fail_msg ("not JSON (%s): %s", jerr.text, text);
    free (text);
    return root;
}

static void
test_replies (void **state)
{
    (void) state;
    /* GET /v1/node/tags: the node's name and tags, nothing else. */
    api_msg_t st = { .hdr.type = API_STATUS_REP };
    strcpy (st.u.api_status_rep.name, "node1");
    strcpy (st.u.api_status_rep.version, "1.0");
    wire_tag_t tag = { "zone", "eu" };
    st.u.api_status_rep.tags.n = 1;
    st.u.api_status_rep.tags.items = &tag;
    json_t *root = s_reply ("GET", "/v1/node/tags", &st);
    assert_int_equal (json_object_size (root), 2);
    assert_string_equal (json_string_value (json_object_get (root, "name")), "node1");
    assert_string_equal (
        json_string_value (json_object_get (json_object_get (root, "tags"), "zone")), "eu");
    json_decref (root);

    api_msg_t ok = { .hdr.type = API_OK };
    strcpy (ok.u.api_ok.message, "draining node1");
    root = s_reply ("POST", "/v1/node/drain", &ok);
    assert_string_equal (json_string_value (json_object_get (root, "message")), "draining node1");
    json_decref (root);

    api_msg_t mv = { .hdr.type = API_SHED_MOVE_REP };
    strcpy (mv.u.api_shed_move_rep.name, "web");
    strcpy (mv.u.api_shed_move_rep.from, "node1");
    strcpy (mv.u.api_shed_move_rep.to, "node2");
    mv.u.api_shed_move_rep.total_ms = 812;
    root = s_reply ("POST", "/v1/sheds/web/move", &mv);
    assert_string_equal (json_string_value (json_object_get (root, "to")), "node2");
    assert_int_equal (json_integer_value (json_object_get (root, "total_ms")), 812);
    json_decref (root);

    api_snapshot_t snap = { 0 };
    strcpy (snap.name, "s1");
    strcpy (snap.shed, "web");
    strcpy (snap.node, "node1");
    snap.size = 4096;
    api_msg_t sl = { .hdr.type = API_SNAPSHOT_LIST_REP };
    sl.u.api_snapshot_list_rep.snapshots.n = 1;
    sl.u.api_snapshot_list_rep.snapshots.items = &snap;
    root = s_reply ("POST", "/v1/snapshots", &sl);
    json_t *s0 = json_array_get (json_object_get (root, "snapshots"), 0);
    assert_string_equal (json_string_value (json_object_get (s0, "shed")), "web");
    assert_int_equal (json_integer_value (json_object_get (s0, "size")), 4096);
    json_decref (root);

    api_msg_t at = { .hdr.type = API_NET_ATTACH_REP };
    strcpy (at.u.api_net_attach_rep.ip, "198.19.0.5");
    strcpy (at.u.api_net_attach_rep.mac, "02:00:00:00:00:01");
    root = s_reply ("POST", "/v1/network/attach", &at);
    assert_string_equal (json_string_value (json_object_get (root, "ip")), "198.19.0.5");
    json_decref (root);

    /* The wrong reply type is the node's fault; its errors keep their codes. */
    http_match_t m;
    http_error_t err;
    size_t len;
    assert_int_equal (http_route_match ("POST", "/v1/sheds/web/move", &m, &err), 0);
    assert_null (http_reply_json (&m, &ok, &len, &err));
    assert_int_equal (err.status, 502);
    api_msg_t e = { .hdr.type = API_ERROR };
    e.u.api_error.code = API_ERR_NOT_FOUND;
    strcpy (e.u.api_error.message, "no snapshot s9");
    assert_int_equal (http_route_match ("DELETE", "/v1/snapshots/s9", &m, &err), 0);
    assert_null (http_reply_json (&m, &e, &len, &err));
    assert_int_equal (err.status, 404);
    assert_string_equal (err.code, "not_found");
}

int
main (void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test (test_routes),
        cmocka_unit_test (test_roles),
        cmocka_unit_test (test_tags_drain_network),
        cmocka_unit_test (test_move_snapshots),
        cmocka_unit_test (test_services_images),
        cmocka_unit_test (test_replies),
    };
    return cmocka_run_group_tests (tests, NULL, NULL);
}
