/*
 * zmq_limits_test.c - shed_zmq_limit_network on a real ROUTER over TCP on
 * 127.0.0.1: the options are set, a message within ZMQ_MAXMSGSIZE arrives,
 * and one over it is never delivered: libzmq drops the connection (the
 * ROUTER's monitor reports DISCONNECTED) instead of allocating it. Waits
 * poll with generous deadlines (CI runs sanitizers on 2 cores).
 */
#include "cluster/zmq_limits.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <string.h>

#define S_LIMIT   4096
#define S_WAIT_MS 3000

/* Wait for a monitor event named `want`; true if it came within wait_ms. */
static bool
s_monitor_saw (zactor_t *monitor, const char *want, int wait_ms)
{
    zpoller_t *poller = zpoller_new (monitor, NULL);
    int64_t end = zclock_mono () + wait_ms;
    bool seen = false;
    while (!seen && zclock_mono () < end) {
        if (!zpoller_wait (poller, (int) (end - zclock_mono ())))
            break;
        zmsg_t *ev = zmsg_recv (monitor);
        char *name = ev ? zmsg_popstr (ev) : NULL;
        seen = name && streq (name, want);
        zstr_free (&name);
        zmsg_destroy (&ev);
    }
    zpoller_destroy (&poller);
    return seen;
}

/* One message on `router` within wait_ms: its body size, or -1 if none. */
static long
s_router_recv (zsock_t *router, int wait_ms)
{
    zpoller_t *poller = zpoller_new (router, NULL);
    long size = -1;
    if (zpoller_wait (poller, wait_ms)) {
        zmsg_t *msg = zmsg_recv (router);
        if (msg && zmsg_size (msg) == 2)
            size = (long) zframe_size (zmsg_last (msg));
        zmsg_destroy (&msg);
    }
    zpoller_destroy (&poller);
    return size;
}

static void
s_send_size (zsock_t *dealer, size_t size)
{
    zframe_t *frame = zframe_new (NULL, size);
    assert_non_null (frame);
    memset (zframe_data (frame), 'x', size);
    assert_int_equal (zframe_send (&frame, dealer, 0), 0);
}

static void
test_oversize_drops_connection (void **state)
{
    zsock_t *router = zsock_new (ZMQ_ROUTER);
    assert_non_null (router);
    assert_int_equal (shed_zmq_limit_network (router, S_LIMIT), 0);
    assert_int_equal (zsock_maxmsgsize (router), S_LIMIT);
    assert_int_equal (zsock_handshake_ivl (router), SHED_ZMQ_HANDSHAKE_MS);
    int port = zsock_bind (router, "tcp://127.0.0.1:*");
    assert_true (port > 0);

    zactor_t *monitor = zactor_new (zmonitor, router);
    assert_non_null (monitor);
    zstr_sendx (monitor, "LISTEN", "ACCEPTED", "DISCONNECTED", NULL);
    zstr_send (monitor, "START");
    zsock_wait (monitor);

    zsock_t *dealer = zsock_new (ZMQ_DEALER);
    assert_non_null (dealer);
    zsock_set_linger (dealer, 0);
    assert_int_equal (zsock_connect (dealer, "tcp://127.0.0.1:%d", port), 0);
    assert_true (s_monitor_saw (monitor, "ACCEPTED", S_WAIT_MS));

    /* Within the limit (exactly at it, too): delivered whole. */
    s_send_size (dealer, 512);
    assert_int_equal (s_router_recv (router, S_WAIT_MS), 512);
    s_send_size (dealer, S_LIMIT);
    assert_int_equal (s_router_recv (router, S_WAIT_MS), S_LIMIT);

    /* One byte over: never delivered; libzmq closes the connection. */
    s_send_size (dealer, S_LIMIT + 1);
    assert_true (s_monitor_saw (monitor, "DISCONNECTED", S_WAIT_MS));
    assert_int_equal (s_router_recv (router, 500), -1);

    /* The DEALER reconnects on its own; a normal message passes again. */
    assert_true (s_monitor_saw (monitor, "ACCEPTED", S_WAIT_MS));
    s_send_size (dealer, 100);
    assert_int_equal (s_router_recv (router, S_WAIT_MS), 100);

    zsock_destroy (&dealer);
    zactor_destroy (&monitor);
    zsock_destroy (&router);
}

static void
test_null_socket (void **state)
{
    assert_int_equal (shed_zmq_limit_network (NULL, S_LIMIT), -1);
}

/* ZMQ_IPV6 follows the endpoint: a [v6] endpoint binds and connects (a
 * message crosses ::1), an IPv4 one stays a plain IPv4 socket (its last
 * endpoint is not reported as ::ffff:127.0.0.1). */
static void
test_ipv6_for (void **state)
{
    zsock_t *router = zsock_new (ZMQ_ROUTER);
    assert_non_null (router);
    assert_int_equal (shed_zmq_ipv6_for (zsock_resolve (router), "tcp://127.0.0.1:*"), 0);
    assert_true (zsock_bind (router, "tcp://127.0.0.1:*") > 0);
    char *last = zsock_last_endpoint (router);
    assert_non_null (strstr (last, "tcp://127.0.0.1:"));
    zstr_free (&last);
    zsock_destroy (&router);

    zsock_t *server = zsock_new (ZMQ_PULL);
    assert_non_null (server);
    assert_int_equal (shed_zmq_ipv6_for (zsock_resolve (server), "tcp://[::1]:*"), 0);
    int port = zsock_bind (server, "tcp://[::1]:*");
    if (port < 0) { /* no IPv6 on this host */
        zsock_destroy (&server);
        skip ();
    }
    zsock_t *client = zsock_new (ZMQ_PUSH);
    char endpoint[64];
    snprintf (endpoint, sizeof endpoint, "tcp://[::1]:%d", port);
    assert_int_equal (shed_zmq_ipv6_for (zsock_resolve (client), endpoint), 0);
    assert_int_equal (zsock_connect (client, "%s", endpoint), 0);
    zsock_set_rcvtimeo (server, 5000);
    assert_int_equal (zstr_send (client, "over ::1"), 0);
    char *got = zstr_recv (server);
    assert_non_null (got);
    assert_string_equal (got, "over ::1");
    zstr_free (&got);
    zsock_destroy (&client);
    zsock_destroy (&server);
}

int
main (void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test (test_oversize_drops_connection),
        cmocka_unit_test (test_null_socket),
        cmocka_unit_test (test_ipv6_for),
    };
    return cmocka_run_group_tests (tests, NULL, NULL);
}
