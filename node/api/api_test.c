/* api_test.c - the local API server and client over a real ipc socket. */
#include "node/api/api_client.h"
#include "node/api/api_server.h"

#include <czmq.h>
#include <msgpack.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cmocka.h>

typedef struct {
    char dir[64];
    char endpoint[128];
    shed_api_server_t *server;
    pthread_t thread;
    volatile int stop;
    int calls;
    volatile int ops; /* API_SHED_OP_REQs that reached the handler */
    char op_rid[65];  /* the last op's request id and deadline */
    uint64_t op_timeout_ms;
    shed_api_call_t *held; /* a create never answered (test_no_reply) */
} fixture_t;

/* A create that waits on a peer that never answers: held, not answered. */
static void
s_shed_create (shed_api_call_t *call, const api_msg_t *req, void *arg)
{
    fixture_t *f = arg;
    (void) req;
    if (f->held)
        shed_api_reply_error (&f->held, API_ERR_UNAVAILABLE, "superseded");
    f->held = call;
}

static void
s_shed_op (shed_api_call_t *call, const api_msg_t *req, void *arg)
{
    fixture_t *f = arg;
    f->ops++;
    snprintf (f->op_rid, sizeof f->op_rid, "%s", req->u.api_shed_op_req.request_id);
    f->op_timeout_ms = req->u.api_shed_op_req.timeout_ms;
    api_msg_t rep = { .hdr.type = API_OK };
    shed_api_reply (&call, &rep);
}

static void
s_status (shed_api_call_t *call, const api_msg_t *req, void *arg)
{
    fixture_t *f = arg;
    f->calls++;
    api_msg_t rep = { .hdr.type = API_STATUS_REP };
    snprintf (rep.u.api_status_rep.name, sizeof rep.u.api_status_rep.name, "n%d", f->calls);
    snprintf (rep.u.api_status_rep.public_key, 64, "pk");
    snprintf (rep.u.api_status_rep.version, 32, "v");
    shed_api_reply (&call, &rep);
}

static void *
s_serve (void *arg)
{
    fixture_t *f = arg;
    zpoller_t *poller = zpoller_new (shed_api_server_sock (f->server), NULL);
    while (!f->stop)
        if (zpoller_wait (poller, 50))
            shed_api_server_handle (f->server);
    zpoller_destroy (&poller);
    return NULL;
}

static int
setup (void **state)
{
    fixture_t *f = calloc (1, sizeof *f);
    snprintf (f->dir, sizeof f->dir, "/tmp/shed-api-test-XXXXXX");
    assert_non_null (mkdtemp (f->dir));
    snprintf (f->endpoint, sizeof f->endpoint, "ipc://%s/api.sock", f->dir);
    char err[256];
    f->server = shed_api_server_new (f->endpoint, err, sizeof err);
    assert_non_null (f->server);
    shed_api_server_on (f->server, API_STATUS_REQ, s_status, f);
    shed_api_server_on (f->server, API_SHED_OP_REQ, s_shed_op, f);
    shed_api_server_on (f->server, API_SHED_CREATE_REQ, s_shed_create, f);
    pthread_create (&f->thread, NULL, s_serve, f);
    *state = f;
    return 0;
}

static int
teardown (void **state)
{
    fixture_t *f = *state;
    f->stop = 1;
    pthread_join (f->thread, NULL);
    if (f->held)
        shed_api_reply_error (&f->held, API_ERR_UNAVAILABLE, "test over");
    shed_api_server_destroy (&f->server);
    char path[160];
    snprintf (path, sizeof path, "%s/api.sock", f->dir);
    unlink (path);
    rmdir (f->dir);
    free (f);
    return 0;
}

static void
test_roundtrip (void **state)
{
    fixture_t *f = *state;
    api_msg_t req = { .hdr.type = API_STATUS_REQ }, rep;
    char err[256];
    for (int i = 1; i <= 3; i++) {
        assert_int_equal (shed_api_call (f->endpoint, &req, &rep, 2000, err, sizeof err), 0);
        assert_int_equal (rep.hdr.type, API_STATUS_REP);
        char want[8];
        snprintf (want, sizeof want, "n%d", i);
        assert_string_equal (rep.u.api_status_rep.name, want);
        wire_msg_free (&api_proto, &rep);
    }
}

static void
test_unsupported (void **state)
{
    fixture_t *f = *state;
    /* An API_ERROR sent as a request decodes but has no handler. */
    api_msg_t req = { .hdr.type = API_ERROR }, rep;
    req.u.api_error.code = 1;
    char err[256];
    assert_int_equal (shed_api_call (f->endpoint, &req, &rep, 2000, err, sizeof err), 0);
    assert_int_equal (rep.hdr.type, API_ERROR);
    assert_int_equal (rep.u.api_error.code, API_ERR_UNSUPPORTED);
    wire_msg_free (&api_proto, &rep);
}

/* Garbage bytes get an API_ERROR reply and a count, and the server keeps
 * serving. */
static void
test_garbage (void **state)
{
    fixture_t *f = *state;
    const char *junk[] = { "", "\xc1", "\x81\x00", "\xdd\xff\xff\xff\xff", "hello" };
    for (size_t i = 0; i < sizeof junk / sizeof junk[0]; i++) {
        zsock_t *req = zsock_new_req (f->endpoint);
        zsock_set_rcvtimeo (req, 2000);
        zframe_t *fr = zframe_new (junk[i], strlen (junk[i]));
        zframe_send (&fr, req, 0);
        fr = zframe_recv (req);
        assert_non_null (fr);
        api_msg_t rep;
        assert_int_equal (wire_decode (&api_proto, zframe_data (fr), zframe_size (fr), &rep, NULL),
                          0);
        assert_int_equal (rep.hdr.type, API_ERROR);
        assert_int_equal (rep.u.api_error.code, API_ERR_BAD_REQUEST);
        wire_msg_free (&api_proto, &rep);
        zframe_destroy (&fr);
        zsock_destroy (&req);
    }
    assert_true (shed_api_server_bad_requests (f->server) >= 5);
    test_roundtrip (state);
}

/* Send raw bytes as a request; return the decoded reply (caller frees). */
static void
s_raw_call (fixture_t *f, const char *data, size_t len, api_msg_t *rep)
{
    zsock_t *req = zsock_new_req (f->endpoint);
    zsock_set_rcvtimeo (req, 2000);
    zframe_t *fr = zframe_new (data, len);
    zframe_send (&fr, req, 0);
    fr = zframe_recv (req);
    assert_non_null (fr);
    assert_int_equal (wire_decode (&api_proto, zframe_data (fr), zframe_size (fr), rep, NULL), 0);
    zframe_destroy (&fr);
    zsock_destroy (&req);
}

/* A shed name over its limit is refused with the limit, never cut to it:
 * `create` of a 70-character name once made a shed of its first 63. */
static void
test_long_names (void **state)
{
    fixture_t *f = *state;
    char name70[71];
    memset (name70, 'a', 70);
    name70[70] = '\0';

    /* create: {version, type, name: 70 bytes} as a client built without the
     * 63-byte struct would send it. */
    msgpack_sbuffer sb;
    msgpack_sbuffer_init (&sb);
    msgpack_packer pk;
    msgpack_packer_init (&pk, &sb, msgpack_sbuffer_write);
    msgpack_pack_map (&pk, 3);
    msgpack_pack_uint64 (&pk, WIRE_KEY_VERSION);
    msgpack_pack_uint64 (&pk, API_VERSION);
    msgpack_pack_uint64 (&pk, WIRE_KEY_TYPE);
    msgpack_pack_uint64 (&pk, API_SHED_CREATE_REQ);
    msgpack_pack_uint64 (&pk, 2);
    msgpack_pack_str (&pk, 70);
    msgpack_pack_str_body (&pk, name70, 70);
    api_msg_t rep;
    s_raw_call (f, sb.data, sb.size, &rep);
    msgpack_sbuffer_destroy (&sb);
    assert_int_equal (rep.hdr.type, API_ERROR);
    if (!strstr (rep.u.api_error.message, "name is longer than 63 characters"))
        fail_msg ("create of a 70-character name: '%s'", rep.u.api_error.message);
    wire_msg_free (&api_proto, &rep);

    /* start/stop/delete carry "name@node" (up to 127 bytes on the wire):
     * each part is held to 63, before any handler sees it. */
    char err[256];
    char ref_node[160];
    snprintf (ref_node, sizeof ref_node, "web@%s", name70);
    const char *refs[] = { name70, ref_node };
    for (size_t i = 0; i < 2; i++) {
        api_msg_t req = { .hdr.type = API_SHED_OP_REQ };
        req.u.api_shed_op_req.op = API_SHED_OP_DELETE;
        snprintf (req.u.api_shed_op_req.name, sizeof req.u.api_shed_op_req.name, "%s", refs[i]);
        assert_int_equal (shed_api_call (f->endpoint, &req, &rep, 2000, err, sizeof err), 0);
        assert_int_equal (rep.hdr.type, API_ERROR);
        assert_int_equal (rep.u.api_error.code, API_ERR_INVALID);
        if (!strstr (rep.u.api_error.message, "is longer than 63 characters"))
            fail_msg ("delete '%s': '%s'", refs[i], rep.u.api_error.message);
        wire_msg_free (&api_proto, &rep);
    }
    assert_int_equal (f->ops, 0);
    /* At the limit: passed on. */
    api_msg_t req = { .hdr.type = API_SHED_OP_REQ };
    snprintf (req.u.api_shed_op_req.name, sizeof req.u.api_shed_op_req.name, "%.63s@%.63s", name70,
              name70);
    assert_int_equal (shed_api_call (f->endpoint, &req, &rep, 2000, err, sizeof err), 0);
    assert_int_equal (rep.hdr.type, API_OK);
    wire_msg_free (&api_proto, &rep);
    assert_int_equal (f->ops, 1);
}

/* A node that runs but does not answer one call in time: the client says
 * SHED_API_NO_REPLY (not "not running"), and shed_api_alive tells that the
 * node is there (shedctl then says "outcome unknown", docs/scheduling.md
 * "Deadlines"). The op's request id and deadline reach the node; an op
 * without them (an older client) still decodes. */
static void
test_no_reply (void **state)
{
    fixture_t *f = *state;
    api_msg_t req = { .hdr.type = API_SHED_CREATE_REQ }, rep;
    snprintf (req.u.api_shed_create_req.name, sizeof req.u.api_shed_create_req.name, "web");
    snprintf (req.u.api_shed_create_req.request_id, 65, "req-1");
    req.u.api_shed_create_req.timeout_ms = 300;
    char err[256];
    int64_t t0 = zclock_mono ();
    assert_int_equal (shed_api_call (f->endpoint, &req, &rep, 300, err, sizeof err),
                      SHED_API_NO_REPLY);
    assert_true (zclock_mono () - t0 < 2000);
    assert_non_null (strstr (err, "no reply"));
    assert_true (shed_api_alive (f->endpoint, 1000));
    assert_false (shed_api_alive ("ipc:///tmp/shed-no-such-dir/api.sock", 200));

    api_msg_t op = { .hdr.type = API_SHED_OP_REQ };
    op.u.api_shed_op_req.op = API_SHED_OP_DELETE;
    snprintf (op.u.api_shed_op_req.name, sizeof op.u.api_shed_op_req.name, "web");
    snprintf (op.u.api_shed_op_req.request_id, 65, "req-del-1");
    op.u.api_shed_op_req.timeout_ms = 4000;
    assert_int_equal (shed_api_call (f->endpoint, &op, &rep, 2000, err, sizeof err), 0);
    assert_int_equal (rep.hdr.type, API_OK);
    wire_msg_free (&api_proto, &rep);
    assert_string_equal (f->op_rid, "req-del-1");
    assert_int_equal (f->op_timeout_ms, 4000);
    api_msg_t old = { .hdr.type = API_SHED_OP_REQ };
    old.u.api_shed_op_req.op = API_SHED_OP_STOP;
    snprintf (old.u.api_shed_op_req.name, sizeof old.u.api_shed_op_req.name, "web");
    assert_int_equal (shed_api_call (f->endpoint, &old, &rep, 2000, err, sizeof err), 0);
    wire_msg_free (&api_proto, &rep);
    assert_string_equal (f->op_rid, "");
    assert_int_equal (f->op_timeout_ms, 0);
}

static void
test_not_running (void **state)
{
    api_msg_t req = { .hdr.type = API_STATUS_REQ }, rep;
    char err[256];
    assert_int_not_equal (
        shed_api_call ("ipc:///tmp/shed-no-such-dir/api.sock", &req, &rep, 200, err, sizeof err),
        0);
    assert_non_null (strstr (err, "not running"));
    assert_int_not_equal (shed_api_call ("tcp://127.0.0.1:1", &req, &rep, 200, err, sizeof err), 0);
    assert_non_null (strstr (err, "no reply"));

    /* A socket file left by a killed node: refused at once, not after the
     * reply timeout. */
    char dir[] = "/tmp/shed-api-stale-XXXXXX";
    assert_non_null (mkdtemp (dir));
    char path[96], endpoint[128];
    snprintf (path, sizeof path, "%s/api.sock", dir);
    snprintf (endpoint, sizeof endpoint, "ipc://%s", path);
    int fd = socket (AF_UNIX, SOCK_STREAM, 0);
    struct sockaddr_un sun = { .sun_family = AF_UNIX };
    strcpy (sun.sun_path, path);
    assert_int_equal (bind (fd, (struct sockaddr *) &sun, sizeof sun), 0);
    close (fd);
    int64_t t0 = zclock_mono ();
    assert_int_not_equal (shed_api_call (endpoint, &req, &rep, 3000, err, sizeof err), 0);
    assert_non_null (strstr (err, "not running"));
    assert_true (zclock_mono () - t0 < 1000);
    unlink (path);
    rmdir (dir);
}

/* No authentication on the API: a TCP (or any non-ipc) endpoint would hand
 * the node to whoever reaches the port, so the server refuses to bind one;
 * so is an abstract ipc socket (no file, no mode: any local user). */
static void
test_tcp_refused (void **state)
{
    static const char *endpoints[] = { "tcp://127.0.0.1:0", "tcp://*:*", "inproc://api", "ipc://",
                                       "ipc://@shed-api" };
    for (size_t i = 0; i < sizeof endpoints / sizeof endpoints[0]; i++) {
        char err[256] = "";
        shed_api_server_t *server = shed_api_server_new (endpoints[i], err, sizeof err);
        if (server)
            fail_msg ("%s was bound", endpoints[i]);
        assert_non_null (strstr (err, "only ipc:// endpoints are allowed"));
    }
}

int
main (void)
{
    zsys_init ();
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown (test_roundtrip, setup, teardown),
        cmocka_unit_test_setup_teardown (test_unsupported, setup, teardown),
        cmocka_unit_test_setup_teardown (test_garbage, setup, teardown),
        cmocka_unit_test_setup_teardown (test_long_names, setup, teardown),
        cmocka_unit_test_setup_teardown (test_no_reply, setup, teardown),
        cmocka_unit_test (test_not_running),
        cmocka_unit_test (test_tcp_refused),
    };
    int rc = cmocka_run_group_tests (tests, NULL, NULL);
    zsys_shutdown ();
    return rc;
}
