/*
 * bus_links_test.c - the bus's routing tree and its links, with real
 * sockets (harness: bus_test_util.h): who may connect (allow-lists, CURVE),
 * PEER-REMOVE and DENY, delivery along a multi-hop tree and re-parenting,
 * the link message parser (docs/events.md, "Routing tree").
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>
#include <zmq.h>

#include "bridges/bus_internal.h"
#include "bridges/bus_test_util.h"
#include "bridges/event_v2_check.h"

/* b's events reach c through a (the root). Flood b, read c's consumer
 * socket raw (the frames c received from a and sends on unchanged) until
 * `n` events of log.b.x came: every batch is at `version`. Returns how
 * many batches came. */
static int
s_relay_flood (bt_node_t *b, void *sub, int n, unsigned version)
{
    for (int i = 0; i < n; i++)
        bt_publish (b, "log.b.x", "0123456789");
    int got = 0, batches = 0;
    zmq_msg_t f;
    zmq_msg_init (&f);
    while (got < n && zmq_msg_recv (&f, sub, 0) > 0) {
        const uint8_t *frame = (const uint8_t *) zmq_msg_data (&f);
        size_t len = zmq_msg_size (&f);
        event_peek_t pk;
        assert_int_equal (event_frame_peek (frame, len, &pk), 0);
        if (!streq (pk.route, "log.b.x"))
            continue; /* a late probe */
        if (pk.type == EVENT_BATCH) {
            assert_int_equal (pk.version, version);
            assert_int_equal (event_v2_batch_ok (frame, len), version == EVENT_VERSION_BATCH);
            batches++;
            got += (int) pk.nitems;
        }
        else
            got++;
    }
    zmq_msg_close (&f);
    assert_int_equal (got, n);
    return batches;
}

/* A relay that knows a member reading only version-2 batches sends a
 * version-3 origin's batches on at version 2 (the origin may not know
 * that member yet), and as they came once every member reads 3. */
static void
test_relay_batch_version (void **state)
{
    bt_node_t nodes[3];
    bt_node_start (&nodes[0], "a", 0);
    bt_node_start (&nodes[1], "b", 0);
    bt_node_start (&nodes[2], "c", 0);
    bt_mesh (nodes, 3);
    /* b and c believe everyone reads 3 (c sends on what it gets as it
     * is); a knows c does not. */
    for (int i = 1; i < 3; i++)
        for (int j = 0; j < 3; j++)
            if (j != i)
                assert_int_equal (bus_peer_version (nodes[i].bus, nodes[j].name, 3), 0);
    assert_int_equal (bus_peer_version (nodes[0].bus, "b", 3), 0);
    assert_int_equal (bt_stat (&nodes[1], "batch_version"), EVENT_VERSION);
    assert_int_equal (bt_stat (&nodes[0], "batch_version"), EVENT_VERSION_BATCH);
    void *sub = zmq_socket (zsys_init (), ZMQ_SUB);
    assert_non_null (sub);
    int hwm = EVENT_RCVHWM;
    assert_int_equal (zmq_setsockopt (sub, ZMQ_RCVHWM, &hwm, sizeof hwm), 0);
    assert_int_equal (zmq_connect (sub, nodes[2].ipc), 0);
    assert_int_equal (zmq_setsockopt (sub, ZMQ_SUBSCRIBE, "log.b.", 6), 0);
    int wait = 100;
    assert_int_equal (zmq_setsockopt (sub, ZMQ_RCVTIMEO, &wait, sizeof wait), 0);
    char drain[256];
    bool ready = false;
    for (int i = 0; i < 200 && !ready; i++) {
        bt_publish (&nodes[1], "log.b.p", "probe");
        ready = zmq_recv (sub, drain, sizeof drain, 0) > 0;
    }
    assert_true (ready);
    while (zmq_recv (sub, drain, sizeof drain, 0) > 0)
        ;
    wait = 3000;
    assert_int_equal (zmq_setsockopt (sub, ZMQ_RCVTIMEO, &wait, sizeof wait), 0);

    assert_true (s_relay_flood (&nodes[1], sub, 3000, EVENT_VERSION_BATCH) > 0);
    uint64_t recoded = bt_stat (&nodes[0], "batches_recoded");
    assert_true (recoded > 0);
    assert_true (recoded <= bt_stat (&nodes[1], "batches_sent"));
    assert_int_equal (bt_stat (&nodes[2], "malformed"), 0);
    assert_int_equal (bt_stat (&nodes[2], "batches_recoded"), 0);

    /* c says it reads 3: a sends b's batches on as they are. */
    assert_int_equal (bus_peer_version (nodes[0].bus, "c", 3), 0);
    assert_int_equal (bt_stat (&nodes[0], "batch_version"), EVENT_VERSION);
    assert_true (s_relay_flood (&nodes[1], sub, 3000, EVENT_VERSION) > 0);
    assert_int_equal (bt_stat (&nodes[0], "batches_recoded"), recoded);
    zmq_close (sub);
    for (int i = 0; i < 3; i++)
        bt_node_stop (&nodes[i]);
}

/* A peer whose key is not on the allow-list gets nothing; B, allowed,
 * does. */
static void
test_unallowed_peer (void **state)
{
    bt_node_t nodes[3];
    bt_node_start (&nodes[0], "a", 0);
    bt_node_start (&nodes[1], "b", 0);
    bt_node_start (&nodes[2], "x", 0);
    bt_link (&nodes[1], &nodes[0]);
    /* x connects to a without a having allowed its key */
    assert_int_equal (bus_peer_add (nodes[2].bus, "a", nodes[0].origin, nodes[0].z85), 0);
    bus_client_t *cb = bt_consumer (&nodes[1], "metrics.", NULL);
    bus_client_t *cx = bt_consumer (&nodes[2], "metrics.", NULL);
    bt_sync (nodes, 1, &cb, 1);
    for (int i = 0; i < 10; i++)
        bt_publish (&nodes[0], "metrics.a.web", "secret");
    int got_b = 0, got_x = 0;
    bus_event_t ev;
    while (bus_client_recv (cb, &ev, 300) == 0)
        got_b++;
    while (bus_client_recv (cx, &ev, 300) == 0)
        got_x++;
    assert_int_equal (got_b, 10);
    assert_int_equal (got_x, 0);
    assert_int_equal (bt_stat (&nodes[2], "peer_recv"), 0);
    assert_true (bt_stat (&nodes[0], "zap_refused") > 0);
    bus_client_destroy (&cb);
    bus_client_destroy (&cx);
    for (int i = 0; i < 3; i++)
        bt_node_stop (&nodes[i]);
}

/* Plain (non-CURVE) clients get nothing from the TCP endpoints, and a
 * CURVE consumer gets events only once CONSUMER-ALLOWed. */
static void
test_non_curve_client (void **state)
{
    bt_node_t a;
    bt_node_start (&a, "a", 0);
    zsock_t *plain_origin = zsock_new_sub (a.origin, "");
    zsock_t *plain_remote = zsock_new_sub (a.remote, "");
    assert_non_null (plain_origin);
    assert_non_null (plain_remote);
    shed_identity_t *me = shed_identity_new_ephemeral ();
    char me_z85[41];
    shed_key_to_z85 (shed_identity_x25519_public (me), me_z85);
    const uint8_t *server = shed_identity_x25519_public (a.id);
    bus_client_t *curve = bus_client_new (a.remote, server, shed_identity_x25519_public (me),
                                          shed_identity_x25519_secret (me));
    assert_non_null (curve);
    bus_client_subscribe (curve, "metrics.");
    zclock_sleep (300);
    for (int i = 0; i < 10; i++)
        bt_publish (&a, "metrics.a.web", "secret");
    zclock_sleep (300);
    zsock_set_rcvtimeo (plain_origin, 0);
    zsock_set_rcvtimeo (plain_remote, 0);
    zmsg_t *m = zmsg_recv (plain_origin);
    assert_null (m);
    m = zmsg_recv (plain_remote);
    assert_null (m);
    bus_event_t ev;
    assert_int_equal (bus_client_recv (curve, &ev, 200), -1); /* not allowed yet */
    assert_int_equal (bt_stat (&a, "origin_subs"), 0);

    /* Allowed: a new connection passes the handshake and events flow
     * (libzmq does not retry a handshake the server refused). */
    assert_int_equal (bus_consumer_allow (a.bus, me_z85), 0);
    bus_client_destroy (&curve);
    curve = bus_client_new (a.remote, server, shed_identity_x25519_public (me),
                            shed_identity_x25519_secret (me));
    assert_non_null (curve);
    bus_client_subscribe (curve, "metrics.");
    int got = 0;
    int64_t deadline = zclock_mono () + 10000;
    while (got == 0 && zclock_mono () < deadline) {
        bt_publish (&a, "metrics.a.web", "now");
        if (bus_client_recv (curve, &ev, 100) == 0)
            got++;
    }
    if (got != 1)
        printf ("stats: zap_admitted=%" PRIu64 " zap_refused=%" PRIu64 " consumer_subs=%" PRIu64
                "\n",
                bt_stat (&a, "zap_admitted"), bt_stat (&a, "zap_refused"),
                bt_stat (&a, "consumer_subs"));
    assert_int_equal (got, 1);
    m = zmsg_recv (plain_remote);
    assert_null (m);
    bus_client_destroy (&curve);
    shed_identity_destroy (&me);
    zsock_destroy (&plain_origin);
    zsock_destroy (&plain_remote);
    bt_node_stop (&a);
}

/* Receive one "metrics." event within `ms`, publishing meanwhile. */
static bool
s_gets_one (bt_node_t *a, bus_client_t *c, int ms)
{
    bus_event_t ev;
    int64_t deadline = zclock_mono () + ms;
    while (zclock_mono () < deadline) {
        bt_publish (a, "metrics.a.web", "x");
        if (bus_client_recv (c, &ev, 100) == 0)
            return true;
    }
    return false;
}

/* CONSUMER-DENY cuts the denied consumer's open session; another allowed
 * consumer, cut with it by the re-bind, reconnects by itself and gets
 * events again; the consumer subscriptions are counted once each. */
static void
test_consumer_deny_cuts (void **state)
{
    bt_node_t a;
    bt_node_start (&a, "a", 0);
    shed_identity_t *ids[2] = { shed_identity_new_ephemeral (), shed_identity_new_ephemeral () };
    bus_client_t *c[2];
    char z85[2][41];
    const uint8_t *server = shed_identity_x25519_public (a.id);
    for (int i = 0; i < 2; i++) {
        shed_key_to_z85 (shed_identity_x25519_public (ids[i]), z85[i]);
        assert_int_equal (bus_consumer_allow (a.bus, z85[i]), 0);
        c[i] = bus_client_new (a.remote, server, shed_identity_x25519_public (ids[i]),
                               shed_identity_x25519_secret (ids[i]));
        assert_non_null (c[i]);
        bus_client_subscribe (c[i], "metrics.");
    }
    assert_true (s_gets_one (&a, c[0], 10000));
    assert_true (s_gets_one (&a, c[1], 10000));

    assert_int_equal (bus_consumer_deny (a.bus, z85[0]), 0);
    /* The cut: the re-bind dropped both sessions and their subscriptions;
     * c[1] reconnects and subscribes again by itself. */
    assert_int_equal (bt_stat (&a, "consumer_subs"), 0);
    bus_event_t ev;
    /* What was published before the cut: s_gets_one (c[1]) above kept
     * publishing while c[0] was still subscribed, and those events may
     * still be on their way (TCP, the I/O thread) on a loaded machine.
     * Nothing is published now, so wait until 300 ms pass without one. */
    for (int i = 0; i < 2; i++)
        while (bus_client_recv (c[i], &ev, 300) == 0)
            ;
    assert_true (s_gets_one (&a, c[1], 10000));
    assert_false (s_gets_one (&a, c[0], 1500));
    assert_int_equal (bt_stat (&a, "consumer_subs"), 1);
    for (int i = 0; i < 2; i++) {
        bus_client_destroy (&c[i]);
        shed_identity_destroy (&ids[i]);
    }
    bt_node_stop (&a);
}

/* PEER-REMOVE stops that peer's events; DENY cuts a connected peer. */
static void
test_peer_remove_and_deny (void **state)
{
    bt_node_t nodes[3];
    bt_node_start (&nodes[0], "a", 0);
    bt_node_start (&nodes[1], "b", 0);
    bt_node_start (&nodes[2], "c", 0);
    bt_mesh (nodes, 3);
    bus_client_t *c = bt_consumer (&nodes[2], "metrics.", NULL);
    bt_sync (nodes, 3, &c, 1);

    assert_int_equal (bus_peer_remove (nodes[2].bus, "a"), 0);
    assert_int_equal (bus_peer_remove (nodes[2].bus, "a"), -1);
    /* C's tree changed (its parent was A, now it is B): wait for the link. */
    bt_sync (&nodes[1], 1, &c, 1);
    for (int i = 0; i < 5; i++) {
        bt_publish (&nodes[0], "metrics.a.web", "gone");
        bt_publish (&nodes[1], "metrics.b.db", "here");
    }
    int from_a = 0, from_b = 0;
    bus_event_t ev;
    while (bus_client_recv (c, &ev, 400) == 0) {
        from_a += streq (ev.origin, "a");
        from_b += streq (ev.origin, "b");
    }
    assert_int_equal (from_a, 0);
    assert_int_equal (from_b, 5);

    /* B denies C's key: C's existing connection to B is cut, and the
     * reconnect fails the handshake. A (still allowed on B) keeps getting B's
     * events. */
    bus_client_t *ca = bt_consumer (&nodes[0], "metrics.", NULL);
    bt_sync (nodes, 2, &ca, 1);
    assert_int_equal (bus_deny (nodes[1].bus, nodes[2].z85), 0);
    zclock_sleep (300);
    bus_client_t *both[1] = { ca };
    bt_sync (nodes, 2, both, 1); /* A reconnected to B */
    while (bus_client_recv (c, &ev, 100) == 0)
        ;
    uint64_t before = bt_stat (&nodes[2], "peer_recv");
    for (int i = 0; i < 5; i++)
        bt_publish (&nodes[1], "metrics.b.db", "denied");
    from_b = 0;
    while (bus_client_recv (c, &ev, 400) == 0)
        from_b += streq (ev.origin, "b");
    assert_int_equal (from_b, 0);
    assert_int_equal (bt_stat (&nodes[2], "peer_recv"), before);
    int got_a = 0;
    while (bus_client_recv (ca, &ev, 400) == 0)
        got_a += streq (ev.origin, "b");
    assert_int_equal (got_a, 5);

    bus_client_destroy (&c);
    bus_client_destroy (&ca);
    for (int i = 0; i < 3; i++)
        bt_node_stop (&nodes[i]);
}

/* The routing tree (docs/events.md, "Routing tree"): 6 members, 4-ary
 * tree a(b(f), c, d, e). A consumer on f (two hops below a) subscribed to
 * "t." gets e's t. events through a and b, exactly once; e's "u." events,
 * which nobody wants, never leave e; every node holds at most 1 + 8 bus
 * connections (a: its 4 children). Then b leaves: f's parent becomes a and
 * events flow again. */
static void
test_tree_routing (void **state)
{
    enum { N = 6 };
    bt_node_t nodes[N];
    const char *names[N] = { "a", "b", "c", "d", "e", "f" };
    for (int i = 0; i < N; i++)
        bt_node_start (&nodes[i], names[i], 0);
    bt_mesh (nodes, N);
    bus_client_t *cf = bt_consumer (&nodes[5], "t.", NULL);
    bt_sync (nodes, N, &cf, 1);
    /* Degree: a has children b..e, b has a and f, the others one link. */
    int64_t deadline = zclock_mono () + 5000;
    while (bt_stat (&nodes[0], "links") < 4 && zclock_mono () < deadline)
        zclock_sleep (20);
    assert_int_equal (bt_stat (&nodes[0], "links"), 4);
    assert_int_equal (bt_stat (&nodes[1], "links"), 2);
    assert_int_equal (bt_stat (&nodes[5], "links"), 1);
    for (int i = 0; i < N; i++)
        assert_true (bt_stat (&nodes[i], "conns") <= bt_stat (&nodes[i], "conns_max"));

    uint64_t skipped = bt_stat (&nodes[4], "origin_skipped");
    uint64_t recv_b = bt_stat (&nodes[1], "peer_recv");
    uint64_t recv_c = bt_stat (&nodes[2], "peer_recv");
    for (int k = 0; k < 50; k++) {
        bt_publish (&nodes[4], "t.e.x", "want");
        bt_publish (&nodes[4], "u.e.x", "nobody");
    }
    int got = 0;
    bus_event_t ev;
    while (bus_client_recv (cf, &ev, 500) == 0) {
        assert_string_equal (ev.origin, "e");
        assert_true (strncmp (ev.topic, "t.", 2) == 0);
        got++;
    }
    assert_int_equal (got, 50);
    assert_int_equal (bus_client_duplicates (cf), 0);
    assert_int_equal (bus_client_gaps (cf), 0);
    assert_int_equal (bt_stat (&nodes[4], "origin_skipped") - skipped, 50);
    /* b relayed e's 50 (from a) to f; c, off the path, saw nothing. */
    assert_int_equal (bt_stat (&nodes[1], "peer_recv") - recv_b, 50);
    assert_int_equal (bt_stat (&nodes[2], "peer_recv") - recv_c, 0);
    assert_true (bt_stat (&nodes[0], "relayed") >= 50);

    /* b leaves every view: f re-dials a. */
    for (int i = 0; i < N; i++)
        if (i != 1)
            assert_int_equal (bus_peer_remove (nodes[i].bus, "b"), 0);
    bt_node_t rest[4] = { nodes[0], nodes[2], nodes[3], nodes[4] };
    bt_sync (rest, 4, &cf, 1);
    for (int k = 0; k < 20; k++)
        bt_publish (&nodes[4], "t.e.y", "again");
    got = 0;
    while (bus_client_recv (cf, &ev, 500) == 0)
        got += streq (ev.topic, "t.e.y");
    assert_int_equal (got, 20);
    assert_int_equal (bus_client_duplicates (cf), 0);
    assert_true (bt_stat (&nodes[5], "tree_changes") >= 2);
    bus_client_destroy (&cf);
    for (int i = 0; i < N; i++)
        bt_node_stop (&nodes[i]);
}

/* Link control messages: what parses and what does not. */
static void
test_link_parse (void **state)
{
    int type;
    const uint8_t *body;
    size_t blen;
    char name[EVENT_NODE_MAX + 1];
    assert_int_equal (bus_link_parse ((const uint8_t *) "\002node-1", 7, &type, &body, &blen, name),
                      0);
    assert_int_equal (type, EVENT_LINK_HELLO);
    assert_string_equal (name, "node-1");
    assert_int_equal (
        bus_link_parse ((const uint8_t *) "\002bad name", 9, &type, &body, &blen, name), -1);
    assert_int_equal (bus_link_parse ((const uint8_t *) "\002", 1, &type, &body, &blen, name), -1);
    /* A NUL inside the name would make "b\0junk" pass as "b". */
    assert_int_equal (
        bus_link_parse ((const uint8_t *) "\002b\000\237", 4, &type, &body, &blen, name), -1);
    assert_int_equal (bus_link_parse ((const uint8_t *) "\003x", 2, &type, &body, &blen, name), -1);
    assert_int_equal (bus_link_parse ((const uint8_t *) "\011", 1, &type, &body, &blen, name), -1);
    assert_int_equal (bus_link_parse ((const uint8_t *) "\001log.", 5, &type, &body, &blen, name),
                      0);
    assert_int_equal (blen, 4);
    assert_int_equal (bus_tree_parent (0), -1);
    assert_int_equal (bus_tree_parent (1), 0);
    assert_int_equal (bus_tree_parent (4), 0);
    assert_int_equal (bus_tree_parent (5), 1);
}

int
main (void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup (test_unallowed_peer, bt_setup),
        cmocka_unit_test_setup (test_non_curve_client, bt_setup),
        cmocka_unit_test_setup (test_peer_remove_and_deny, bt_setup),
        cmocka_unit_test_setup (test_consumer_deny_cuts, bt_setup),
        cmocka_unit_test_setup (test_tree_routing, bt_setup),
        cmocka_unit_test_setup (test_relay_batch_version, bt_setup),
        cmocka_unit_test_setup (test_link_parse, bt_setup),
    };
    return bt_main (tests, sizeof tests / sizeof tests[0]);
}
