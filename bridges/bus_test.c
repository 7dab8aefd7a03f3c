/*
 * bus_test.c - the event bus with real sockets: several bus actors (each
 * with its own identity) on 127.0.0.1, consumers on ipc in a private temp
 * dir, one ZAP handler for the process (as in shed-node).
 *
 * Readiness is never guessed with sleeps: subscriptions travel
 * asynchronously, so tests publish "probe." events until every consumer
 * has seen one from every origin (s_sync), then run on other topics.
 */
#include "bridges/bus.h"
#include "bridges/bus_client.h"
#include "bridges/bus_internal.h"
#include "crypto/identity.h"
#include "common/log.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>
#include <zmq.h>

#define S_NODES_MAX 6

typedef struct {
    char name [16];
    shed_identity_t *id;
    char z85 [41];
    zactor_t *bus;
    char origin [256];
    char ipc [256];
    char remote [256];
} s_node_t;

static zap_t *s_zap;
static char s_dir [64];
static int s_run;                   /* makes ipc paths unique per test */

static void
s_node_start (s_node_t *n, const char *name, int sndhwm)
{
    memset (n, 0, sizeof *n);
    snprintf (n->name, sizeof n->name, "%s", name);
    n->id = shed_identity_new_ephemeral ();
    assert_non_null (n->id);
    shed_key_to_z85 (shed_identity_x25519_public (n->id), n->z85);
    char ipc [256];
    snprintf (ipc, sizeof ipc, "ipc://%s/%s-%d.sock", s_dir, name, s_run);
    bus_config_t cfg = {
        .name = name,
        .public_key = shed_identity_x25519_public (n->id),
        .secret_key = shed_identity_x25519_secret (n->id),
        .zap = s_zap,
        .origin_endpoint = "tcp://127.0.0.1:*",
        .ipc_endpoint = ipc,
        .consumer_endpoint = "tcp://127.0.0.1:*",
        .sndhwm = sndhwm,
    };
    char err [256] = "";
    n->bus = bus_new (&cfg, err, sizeof err);
    if (!n->bus)
        fprintf (stderr, "bus_new: %s\n", err);
    assert_non_null (n->bus);
    zsock_send (n->bus, "s", "ENDPOINTS");
    char *o = NULL, *l = NULL, *r = NULL;
    assert_int_equal (zsock_recv (n->bus, "sss", &o, &l, &r), 0);
    snprintf (n->origin, sizeof n->origin, "%s", o);
    snprintf (n->ipc, sizeof n->ipc, "%s", l);
    snprintf (n->remote, sizeof n->remote, "%s", r);
    zstr_free (&o);
    zstr_free (&l);
    zstr_free (&r);
}

static void
s_node_stop (s_node_t *n)
{
    zactor_destroy (&n->bus);
    shed_identity_destroy (&n->id);
}

static int
s_cmd3 (zactor_t *bus, const char *cmd, const char *a, const char *b, const char *c)
{
    zsock_send (bus, "ssss", cmd, a, b, c);
    int rc = -1;
    zsock_recv (bus, "i", &rc);
    return rc;
}

/* i subscribes to j: j admits i's key, i connects to j's origin. */
static void
s_link (s_node_t *i, s_node_t *j)
{
    assert_int_equal (bus_command (j->bus, "ALLOW", i->z85), 0);
    assert_int_equal (s_cmd3 (i->bus, "PEER-ADD", j->name, j->origin, j->z85), 0);
}

static void
s_mesh (s_node_t *nodes, int n)
{
    for (int i = 0; i < n; i++)
        for (int j = 0; j < n; j++)
            if (i != j)
                s_link (&nodes [i], &nodes [j]);
}

static uint64_t
s_stat (s_node_t *n, const char *key)
{
    zstr_send (n->bus, "STATS");
    char *line = zstr_recv (n->bus);
    uint64_t v = bus_stat (line, key);
    zstr_free (&line);
    return v;
}

static void
s_publish (s_node_t *n, const char *topic, const char *payload)
{
    /* Tests want every event: wait out a full pipe (producers in the node
     * would count the drop instead). */
    while (bus_publish (n->bus, topic, "test", payload, strlen (payload)) != 0)
        zclock_sleep (1);
}

/* Publish probes until every consumer has seen one from every node. */
static void
s_sync (s_node_t *nodes, int n, bus_client_t **clients, int nc)
{
    bool seen [8][S_NODES_MAX] = { { false } };
    int missing = nc * n;
    int64_t deadline = zclock_mono () + 10000;
    while (missing > 0) {
        assert_true (zclock_mono () < deadline);
        for (int i = 0; i < n; i++) {
            char topic [64];
            snprintf (topic, sizeof topic, "probe.%s", nodes [i].name);
            s_publish (&nodes [i], topic, "p");
        }
        for (int c = 0; c < nc; c++) {
            bus_event_t ev;
            while (bus_client_recv (clients [c], &ev, 20) == 0)
                for (int i = 0; i < n; i++)
                    if (streq (ev.origin, nodes [i].name) && !seen [c][i]) {
                        seen [c][i] = true;
                        missing--;
                    }
        }
    }
    /* Drain the probes still in flight. */
    for (int c = 0; c < nc; c++) {
        bus_event_t ev;
        while (bus_client_recv (clients [c], &ev, 100) == 0)
            ;
    }
}

static bus_client_t *
s_consumer (s_node_t *n, const char *p1, const char *p2)
{
    bus_client_t *c = bus_client_new (n->ipc, NULL, NULL, NULL);
    assert_non_null (c);
    if (p1)
        assert_int_equal (bus_client_subscribe (c, p1), 0);
    if (p2)
        assert_int_equal (bus_client_subscribe (c, p2), 0);
    assert_int_equal (bus_client_subscribe (c, "probe."), 0);
    return c;
}

/* ------------------------------------------------------------------------ */

/* C's consumer on metrics. gets A's and B's metrics but no log events. */
static void
test_fanout_filter (void **state)
{
    s_node_t nodes [3];
    s_node_start (&nodes [0], "a", 0);
    s_node_start (&nodes [1], "b", 0);
    s_node_start (&nodes [2], "c", 0);
    s_mesh (nodes, 3);
    bus_client_t *c = s_consumer (&nodes [2], "metrics.", NULL);
    s_sync (nodes, 3, &c, 1);

    for (int i = 0; i < 5; i++) {
        s_publish (&nodes [0], "metrics.a.web", "{cpu:1}");
        s_publish (&nodes [0], "log.a.web.stdout", "line");
        s_publish (&nodes [1], "metrics.b.db", "{cpu:2}");
    }
    s_publish (&nodes [2], "metrics.c.x", "{cpu:3}");
    int from_a = 0, from_b = 0, from_c = 0;
    bus_event_t ev;
    while (bus_client_recv (c, &ev, 500) == 0) {
        assert_true (strncmp (ev.topic, "metrics.", 8) == 0);
        assert_string_equal (ev.kind, "test");
        from_a += streq (ev.origin, "a");
        from_b += streq (ev.origin, "b");
        from_c += streq (ev.origin, "c");
        assert_int_equal (ev.gap, 0);
    }
    assert_int_equal (from_a, 5);
    assert_int_equal (from_b, 5);
    assert_int_equal (from_c, 1);
    assert_int_equal (bus_client_duplicates (c), 0);
    assert_int_equal (bus_client_gaps (c), 0);
    /* The log events never left A: nobody subscribed to them. */
    assert_int_equal (s_stat (&nodes [2], "forged"), 0);
    bus_client_destroy (&c);
    for (int i = 0; i < 3; i++)
        s_node_stop (&nodes [i]);
}

/* Four nodes fully meshed, a consumer of everything on each: every event
 * arrives exactly once at every consumer. */
static void
test_exactly_once (void **state)
{
    enum { N = 4, EACH = 200 };
    s_node_t nodes [N];
    const char *names [N] = { "a", "b", "c", "d" };
    for (int i = 0; i < N; i++)
        s_node_start (&nodes [i], names [i], 0);
    s_mesh (nodes, N);
    bus_client_t *cs [N];
    for (int i = 0; i < N; i++)
        cs [i] = s_consumer (&nodes [i], "t.", NULL);
    s_sync (nodes, N, cs, N);

    for (int k = 0; k < EACH; k++)
        for (int i = 0; i < N; i++) {
            char topic [32];
            snprintf (topic, sizeof topic, "t.%s.%d", names [i], k % 7);
            s_publish (&nodes [i], topic, "x");
        }
    for (int c = 0; c < N; c++) {
        /* seen [origin][seq]: exactly once each */
        static uint8_t seen [N][N * EACH * 4];
        memset (seen, 0, sizeof seen);
        int got [N] = { 0 };
        bus_event_t ev;
        while (bus_client_recv (cs [c], &ev, 500) == 0) {
            int o = ev.origin [0] - 'a';
            assert_true (o >= 0 && o < N);
            assert_true (ev.seq < sizeof seen [0]);
            assert_int_equal (seen [o][ev.seq], 0);
            seen [o][ev.seq] = 1;
            got [o]++;
        }
        for (int o = 0; o < N; o++)
            assert_int_equal (got [o], EACH);
        assert_int_equal (bus_client_duplicates (cs [c]), 0);
        assert_int_equal (bus_client_gaps (cs [c]), 0);
    }
    /* No loops: each node forwarded exactly what its peers originated. */
    for (int i = 0; i < N; i++)
        assert_int_equal (s_stat (&nodes [i], "forged"), 0);
    for (int i = 0; i < N; i++) {
        bus_client_destroy (&cs [i]);
        s_node_stop (&nodes [i]);
    }
}

/* Batches: the codec (generic encoder, in-place reader, decoder agree;
 * never under a control route), and on the wire: a burst of interleaved
 * topics and kinds travels as batches, arrives complete and in per-topic
 * order, and the last value of a state topic sent in a batch is cached. */
static void
test_batches (void **state)
{
    /* Codec. */
    event_item_t items [3];
    memset (items, 0, sizeof items);
    for (int i = 0; i < 3; i++) {
        items [i].seq = 10 + (uint64_t) i;
        items [i].tseq = 1 + (uint64_t) i;
        items [i].time_us = 1000 + i;
        items [i].payload.data = (uint8_t *) (uintptr_t) (i == 1 ? "" : "abc");
        items [i].payload.len = i == 1 ? 0 : 3;
    }
    event_msg_t m;
    memset (&m, 0, sizeof m);
    m.hdr.type = EVENT_BATCH;
    snprintf (m.u.event_batch.origin, sizeof m.u.event_batch.origin, "a");
    m.u.event_batch.boot = 7;
    snprintf (m.u.event_batch.kind, sizeof m.u.event_batch.kind, "agent.log");
    m.u.event_batch.items.n = 3;
    m.u.event_batch.items.items = items;
    uint8_t buf [1024];
    long len = event_frame_encode ("log.a.web", &m, buf, sizeof buf);
    assert_true (len > 0);
    event_peek_t pk;
    assert_int_equal (event_frame_peek (buf, (size_t) len, &pk), 0);
    assert_int_equal (pk.type, EVENT_BATCH);
    assert_int_equal (pk.nitems, 3);
    assert_string_equal (pk.origin, "a");
    assert_int_equal (pk.boot, 7);
    const uint8_t *pos = pk.items;
    event_item_view_t it;
    for (int i = 0; i < 3; i++) {
        assert_int_equal (event_batch_next (&pk, &pos, &it), 0);
        assert_int_equal (it.seq, 10 + i);
        assert_int_equal (it.tseq, 1 + i);
        assert_int_equal (it.time_us, 1000 + i);
        assert_int_equal (it.payload_len, i == 1 ? 0 : 3);
    }
    assert_int_not_equal (event_batch_next (&pk, &pos, &it), 0);
    event_msg_t d;
    const char *route;
    assert_int_equal (event_frame_decode (buf, (size_t) len, &route, &d), 0);
    assert_int_equal (d.u.event_batch.items.n, 3);
    assert_int_equal (d.u.event_batch.items.items [2].seq, 12);
    wire_msg_free (&event_proto, &d);
    len = event_frame_encode ("$snap.x", &m, buf, sizeof buf);
    assert_true (len > 0);
    assert_int_not_equal (event_frame_decode (buf, (size_t) len, &route, &d), 0);
    items [1].seq = 0;              /* every item needs a sequence */
    assert_true (event_frame_encode ("log.a.web", &m, buf, sizeof buf) < 0);

    /* On the wire. */
    enum { TOTAL = 6000, TOPICS = 3 };
    s_node_t nodes [2];
    s_node_start (&nodes [0], "a", 0);
    s_node_start (&nodes [1], "b", 0);
    s_mesh (nodes, 2);
    bus_client_t *c = s_consumer (&nodes [1], "log.", "metrics.");
    s_sync (nodes, 2, &c, 1);
    for (int i = 0; i < TOTAL; i++) {
        char topic [32], payload [32];
        bool metrics = i % 4 == 3;
        if (metrics)
            snprintf (topic, sizeof topic, "metrics.a.m");
        else
            snprintf (topic, sizeof topic, "log.a.t%d", i % TOPICS);
        snprintf (payload, sizeof payload, "%d", i);
        /* Kinds change within a topic now and then: order must hold. */
        const char *kind = (i / 100) % 2 ? "k1" : "k2";
        while (bus_publish (nodes [0].bus, topic, kind, payload, strlen (payload)) != 0)
            zclock_sleep (1);
    }
    int got = 0, last [TOPICS + 1] = { -1, -1, -1, -1 };
    bus_event_t ev;
    while (got < TOTAL && bus_client_recv (c, &ev, 2000) == 0) {
        if (strncmp (ev.topic, "probe.", 6) == 0)
            continue;
        int t = strncmp (ev.topic, "metrics.", 8) == 0 ? TOPICS : ev.topic [7] - '0';
        assert_true (t >= 0 && t <= TOPICS);
        char num [32];
        snprintf (num, sizeof num, "%.*s", (int) ev.size, (const char *) ev.payload);
        int i = atoi (num);
        assert_true (i > last [t]);     /* per-topic order */
        last [t] = i;
        assert_string_equal (ev.kind, (i / 100) % 2 ? "k1" : "k2");
        assert_int_equal (ev.gap, 0);
        got++;
    }
    assert_int_equal (got, TOTAL);
    assert_int_equal (bus_client_gaps (c), 0);
    assert_int_equal (bus_client_duplicates (c), 0);
    assert_int_equal (bus_client_malformed (c), 0);
    assert_true (s_stat (&nodes [0], "batches_sent") > 0);
    assert_true (s_stat (&nodes [1], "batches_recv") > 0);
    assert_int_equal (s_stat (&nodes [1], "peer_recv"), s_stat (&nodes [0], "origin_sent"));

    /* The newest metrics event is the last value, on both nodes. */
    for (int n = 0; n < 2; n++) {
        bus_client_t *late = bus_client_new (nodes [n].ipc, NULL, NULL, NULL);
        assert_non_null (late);
        assert_int_equal (bus_client_subscribe (late, "metrics.a."), 0);
        assert_int_equal (bus_client_snapshot (late, 3000), 1);
        assert_int_equal (bus_client_recv (late, &ev, 0), 0);
        assert_true (ev.snapshot);
        char num [32];
        snprintf (num, sizeof num, "%.*s", (int) ev.size, (const char *) ev.payload);
        assert_int_equal (atoi (num), last [TOPICS]);
        bus_client_destroy (&late);
    }
    bus_client_destroy (&c);
    s_node_stop (&nodes [0]);
    s_node_stop (&nodes [1]);
}

/* The publish socket: producers on other threads send records
 * `topic NUL kind NUL len:u32be payload`; the bus stamps and publishes
 * them like PUBLISH, and counts what does not parse. */
static void
test_publish_socket (void **state)
{
    char ipc [256], pub_ep [128];
    snprintf (ipc, sizeof ipc, "ipc://%s/pubsock-%d.sock", s_dir, ++s_run);
    snprintf (pub_ep, sizeof pub_ep, "inproc://bus-test-publish-%d", s_run);
    shed_identity_t *id = shed_identity_new_ephemeral ();
    bus_config_t cfg = { .name = "p", .public_key = shed_identity_x25519_public (id),
                         .secret_key = shed_identity_x25519_secret (id), .zap = s_zap,
                         .ipc_endpoint = ipc, .publish_endpoint = pub_ep };
    char err [256];
    zactor_t *bus = bus_new (&cfg, err, sizeof err);
    assert_non_null (bus);
    bus_client_t *c = bus_client_new (ipc, NULL, NULL, NULL);
    assert_non_null (c);
    assert_int_equal (bus_client_subscribe (c, "log."), 0);
    void *push = zmq_socket (zsys_init (), ZMQ_PUSH);
    assert_non_null (push);
    assert_int_equal (zmq_connect (push, pub_ep), 0);
    zclock_sleep (200);             /* the subscription reaches the bus */

    uint8_t msg [256];
    size_t len = 0;
    const char *topics [3] = { "log.p.a", "log.p.b", "log.p.a" };
    for (int i = 0; i < 3; i++) {
        char payload [8];
        int pl = snprintf (payload, sizeof payload, "e%d", i);
        size_t tl = strlen (topics [i]);
        memcpy (msg + len, topics [i], tl + 1);
        len += tl + 1;
        memcpy (msg + len, "k", 2);
        len += 2;
        msg [len++] = 0;
        msg [len++] = 0;
        msg [len++] = 0;
        msg [len++] = (uint8_t) pl;
        memcpy (msg + len, payload, (size_t) pl);
        len += (size_t) pl;
    }
    assert_int_equal (zmq_send (push, msg, len, 0), (int) len);
    /* A record whose length runs past the frame ends its message. */
    uint8_t bad [] = { 'l', 'o', 'g', '.', 'x', 0, 'k', 0, 0, 0, 0, 9, 'a' };
    assert_int_equal (zmq_send (push, bad, sizeof bad, 0), (int) sizeof bad);

    /* Order holds per topic (one turn gathers per topic: across topics
     * it may change). */
    bus_event_t ev;
    bool seen [3] = { false, false, false };
    int last_a = -1;
    for (int k = 0; k < 3; k++) {
        assert_int_equal (bus_client_recv (c, &ev, 3000), 0);
        assert_int_equal (ev.size, 2);
        int i = ((const char *) ev.payload) [1] - '0';
        assert_true (i >= 0 && i < 3 && !seen [i]);
        seen [i] = true;
        assert_string_equal (ev.topic, topics [i]);
        assert_string_equal (ev.origin, "p");
        assert_string_equal (ev.kind, "k");
        assert_int_equal (ev.seq, (uint64_t) i + 1);
        if (ev.topic [6] == 'a') {
            assert_true (i > last_a);
            last_a = i;
        }
    }
    assert_int_not_equal (bus_client_recv (c, &ev, 300), 0);
    zstr_send (bus, "STATS");
    char *line = zstr_recv (bus);
    assert_int_equal (bus_stat (line, "published"), 3);
    assert_int_equal (bus_stat (line, "invalid"), 1);
    zstr_free (&line);
    zmq_close (push);
    bus_client_destroy (&c);
    zactor_destroy (&bus);
    shed_identity_destroy (&id);
}

/* A topic nobody subscribed to never crosses the network. */
static void
test_no_subscriber_no_traffic (void **state)
{
    s_node_t nodes [2];
    s_node_start (&nodes [0], "a", 0);
    s_node_start (&nodes [1], "b", 0);
    s_mesh (nodes, 2);
    zclock_sleep (300);                 /* links up, nothing subscribed */
    for (int i = 0; i < 100; i++)
        s_publish (&nodes [0], "proc.a.web", "exit 0");
    assert_int_equal (s_stat (&nodes [0], "origin_subs"), 0);
    int64_t deadline = zclock_mono () + 5000;
    while (s_stat (&nodes [0], "published") < 100 && zclock_mono () < deadline)
        zclock_sleep (10);
    assert_int_equal (s_stat (&nodes [0], "origin_sent"), 0);
    assert_int_equal (s_stat (&nodes [0], "origin_skipped"), 100);
    assert_int_equal (s_stat (&nodes [1], "peer_recv"), 0);

    /* Now someone on B wants proc.: A starts sending, only that. */
    bus_client_t *c = s_consumer (&nodes [1], "proc.", NULL);
    s_sync (nodes, 2, &c, 1);
    uint64_t sent0 = s_stat (&nodes [0], "origin_sent");
    for (int i = 0; i < 10; i++) {
        s_publish (&nodes [0], "proc.a.web", "exit 1");
        s_publish (&nodes [0], "log.a.web.stdout", "not wanted");
    }
    int got = 0;
    bus_event_t ev;
    while (bus_client_recv (c, &ev, 500) == 0) {
        assert_string_equal (ev.topic, "proc.a.web");
        got++;
    }
    assert_int_equal (got, 10);
    assert_int_equal (s_stat (&nodes [0], "origin_sent") - sent0, 10);
    bus_client_destroy (&c);
    s_node_stop (&nodes [0]);
    s_node_stop (&nodes [1]);
}

/* A late joiner gets the last values (from this node's cache and from
 * peers' caches), then live updates without duplicates; an existing
 * subscriber sees no replay at all. */
static void
test_late_joiner (void **state)
{
    s_node_t nodes [3];
    s_node_start (&nodes [0], "a", 0);
    s_node_start (&nodes [1], "b", 0);
    s_node_start (&nodes [2], "c", 0);
    s_mesh (nodes, 3);
    bus_client_t *x = s_consumer (&nodes [2], "metrics.", NULL);
    s_sync (nodes, 3, &x, 1);

    for (int i = 1; i <= 3; i++)
        s_publish (&nodes [0], "metrics.a.web", i == 3 ? "last-a" : "old-a");
    for (int i = 1; i <= 2; i++)
        s_publish (&nodes [1], "metrics.b.db", i == 2 ? "last-b" : "old-b");
    s_publish (&nodes [0], "shed.a.web", "running");      /* nobody on C wants shed. yet */
    s_publish (&nodes [0], "log.a.web.stdout", "not state");
    s_publish (&nodes [2], "member.c", "alive");
    int xs = 0;
    bus_event_t ev;
    while (bus_client_recv (x, &ev, 300) == 0)
        xs++;
    assert_int_equal (xs, 5);

    bus_client_t *y = bus_client_new (nodes [2].ipc, NULL, NULL, NULL);
    assert_non_null (y);
    assert_int_equal (bus_client_subscribe (y, "metrics."), 0);
    assert_int_equal (bus_client_subscribe (y, "shed."), 0);
    assert_int_equal (bus_client_subscribe (y, "member."), 0);
    int items = bus_client_snapshot (y, 3000);
    assert_int_equal (items, 4);    /* metrics.a.web, metrics.b.db, shed.a.web, member.c */
    int snap = 0;
    while (bus_client_recv (y, &ev, 0) == 0) {
        assert_true (ev.snapshot);
        snap++;
        if (streq (ev.topic, "metrics.a.web")) {
            assert_int_equal (ev.tseq, 3);
            assert_memory_equal (ev.payload, "last-a", 6);
        }
        else
        if (streq (ev.topic, "metrics.b.db")) {
            assert_int_equal (ev.tseq, 2);
            assert_memory_equal (ev.payload, "last-b", 6);
        }
        else
        if (streq (ev.topic, "shed.a.web"))
            assert_memory_equal (ev.payload, "running", 7);
        else
            assert_string_equal (ev.topic, "member.c");
    }
    assert_int_equal (snap, 4);

    /* Live updates continue the series with no gap and no duplicate. */
    s_publish (&nodes [0], "metrics.a.web", "new-a");
    s_publish (&nodes [0], "shed.a.web", "stopped");
    int live = 0;
    while (bus_client_recv (y, &ev, 500) == 0) {
        assert_false (ev.snapshot);
        assert_int_equal (ev.gap, 0);
        if (streq (ev.topic, "metrics.a.web"))
            assert_int_equal (ev.tseq, 4);
        live++;
    }
    assert_int_equal (live, 2);
    assert_int_equal (bus_client_duplicates (y), 0);
    /* The existing subscriber got the live metrics event only. */
    xs = 0;
    while (bus_client_recv (x, &ev, 300) == 0) {
        assert_false (ev.snapshot);
        xs++;
    }
    assert_int_equal (xs, 1);
    assert_int_equal (bus_client_duplicates (x), 0);
    bus_client_destroy (&x);
    bus_client_destroy (&y);
    for (int i = 0; i < 3; i++)
        s_node_stop (&nodes [i]);
}

/* A consumer that never reads does not block the producer or the other
 * consumers; it sees gaps when it finally reads. */
static void
test_slow_consumer (void **state)
{
    enum { TOTAL = 100000, BATCH = 1000 };
    s_node_t nodes [2];
    s_node_start (&nodes [0], "a", 0);
    /* Queues count frames, and a busy bus sends a batch of events per
     * frame (up to EVENT_BATCH_MAX): a small queue makes the stalled
     * consumer overflow with batches too. */
    s_node_start (&nodes [1], "b", 100);
    s_mesh (nodes, 2);
    bus_client_t *good = s_consumer (&nodes [1], "log.", NULL);
    bus_client_t *stalled = bus_client_new_hwm (nodes [1].ipc, NULL, NULL, NULL, 100);
    assert_non_null (stalled);
    assert_int_equal (bus_client_subscribe (stalled, "log."), 0);
    assert_int_equal (bus_client_subscribe (stalled, "probe."), 0);
    bus_client_t *both [2] = { good, stalled };
    s_sync (nodes, 2, both, 2);

    int64_t start = zclock_mono ();
    int got = 0;
    char payload [100];
    memset (payload, 'x', sizeof payload - 1);
    payload [sizeof payload - 1] = 0;
    bus_event_t ev;
    for (int sent = 0; sent < TOTAL; ) {
        for (int i = 0; i < BATCH; i++, sent++)
            s_publish (&nodes [0], "log.a.web.stdout", payload);
        /* The good consumer keeps up; the stalled one never reads. */
        int64_t deadline = zclock_mono () + 5000;
        while (got < sent && zclock_mono () < deadline)
            if (bus_client_recv (good, &ev, 100) == 0)
                got++;
    }
    int64_t took = zclock_mono () - start;
    assert_int_equal (got, TOTAL);
    assert_int_equal (bus_client_gaps (good), 0);
    printf ("slow consumer: %d events in %" PRId64 " ms with a stalled consumer\n", TOTAL,
            took);

    /* A loss shows as a gap when a later event of the topic arrives. */
    int stalled_got = 0;
    while (bus_client_recv (stalled, &ev, 300) == 0)
        stalled_got++;
    s_publish (&nodes [0], "log.a.web.stdout", "after the flood");
    while (bus_client_recv (stalled, &ev, 300) == 0)
        stalled_got++;
    printf ("slow consumer: stalled got %d, gaps %" PRIu64 "\n", stalled_got,
            bus_client_gaps (stalled));
    assert_true (stalled_got < TOTAL);
    assert_true (bus_client_gaps (stalled) > 0);
    assert_int_equal (bus_client_duplicates (stalled), 0);
    bus_client_destroy (&good);
    bus_client_destroy (&stalled);
    s_node_stop (&nodes [0]);
    s_node_stop (&nodes [1]);
}

/* A peer whose key is not on the allow-list gets nothing; B, allowed,
 * does. */
static void
test_unallowed_peer (void **state)
{
    s_node_t nodes [3];
    s_node_start (&nodes [0], "a", 0);
    s_node_start (&nodes [1], "b", 0);
    s_node_start (&nodes [2], "x", 0);
    s_link (&nodes [1], &nodes [0]);
    /* x connects to a without a having allowed its key */
    assert_int_equal (s_cmd3 (nodes [2].bus, "PEER-ADD", "a", nodes [0].origin, nodes [0].z85),
                      0);
    bus_client_t *cb = s_consumer (&nodes [1], "metrics.", NULL);
    bus_client_t *cx = s_consumer (&nodes [2], "metrics.", NULL);
    s_sync (nodes, 1, &cb, 1);
    for (int i = 0; i < 10; i++)
        s_publish (&nodes [0], "metrics.a.web", "secret");
    int got_b = 0, got_x = 0;
    bus_event_t ev;
    while (bus_client_recv (cb, &ev, 300) == 0)
        got_b++;
    while (bus_client_recv (cx, &ev, 300) == 0)
        got_x++;
    assert_int_equal (got_b, 10);
    assert_int_equal (got_x, 0);
    assert_int_equal (s_stat (&nodes [2], "peer_recv"), 0);
    assert_true (s_stat (&nodes [0], "zap_refused") > 0);
    bus_client_destroy (&cb);
    bus_client_destroy (&cx);
    for (int i = 0; i < 3; i++)
        s_node_stop (&nodes [i]);
}

/* Plain (non-CURVE) clients get nothing from the TCP endpoints, and a
 * CURVE consumer gets events only once CONSUMER-ALLOWed. */
static void
test_non_curve_client (void **state)
{
    s_node_t a;
    s_node_start (&a, "a", 0);
    zsock_t *plain_origin = zsock_new_sub (a.origin, "");
    zsock_t *plain_remote = zsock_new_sub (a.remote, "");
    assert_non_null (plain_origin);
    assert_non_null (plain_remote);
    shed_identity_t *me = shed_identity_new_ephemeral ();
    char me_z85 [41];
    shed_key_to_z85 (shed_identity_x25519_public (me), me_z85);
    const uint8_t *server = shed_identity_x25519_public (a.id);
    bus_client_t *curve = bus_client_new (a.remote, server, shed_identity_x25519_public (me),
                                          shed_identity_x25519_secret (me));
    assert_non_null (curve);
    bus_client_subscribe (curve, "metrics.");
    zclock_sleep (300);
    for (int i = 0; i < 10; i++)
        s_publish (&a, "metrics.a.web", "secret");
    zclock_sleep (300);
    zsock_set_rcvtimeo (plain_origin, 0);
    zsock_set_rcvtimeo (plain_remote, 0);
    zmsg_t *m = zmsg_recv (plain_origin);
    assert_null (m);
    m = zmsg_recv (plain_remote);
    assert_null (m);
    bus_event_t ev;
    assert_int_equal (bus_client_recv (curve, &ev, 200), -1);   /* not allowed yet */
    assert_int_equal (s_stat (&a, "origin_subs"), 0);

    /* Allowed: a new connection passes the handshake and events flow
     * (libzmq does not retry a handshake the server refused). */
    assert_int_equal (bus_command (a.bus, "CONSUMER-ALLOW", me_z85), 0);
    bus_client_destroy (&curve);
    curve = bus_client_new (a.remote, server, shed_identity_x25519_public (me),
                            shed_identity_x25519_secret (me));
    assert_non_null (curve);
    bus_client_subscribe (curve, "metrics.");
    int got = 0;
    int64_t deadline = zclock_mono () + 10000;
    while (got == 0 && zclock_mono () < deadline) {
        s_publish (&a, "metrics.a.web", "now");
        if (bus_client_recv (curve, &ev, 100) == 0)
            got++;
    }
    if (got != 1)
        printf ("stats: zap_admitted=%" PRIu64 " zap_refused=%" PRIu64 " consumer_subs=%" PRIu64 "\n",
                s_stat (&a, "zap_admitted"), s_stat (&a, "zap_refused"),
                s_stat (&a, "consumer_subs"));
    assert_int_equal (got, 1);
    m = zmsg_recv (plain_remote);
    assert_null (m);
    bus_client_destroy (&curve);
    shed_identity_destroy (&me);
    zsock_destroy (&plain_origin);
    zsock_destroy (&plain_remote);
    s_node_stop (&a);
}

/* PEER-REMOVE stops that peer's events; DENY cuts a connected peer. */
static void
test_peer_remove_and_deny (void **state)
{
    s_node_t nodes [3];
    s_node_start (&nodes [0], "a", 0);
    s_node_start (&nodes [1], "b", 0);
    s_node_start (&nodes [2], "c", 0);
    s_mesh (nodes, 3);
    bus_client_t *c = s_consumer (&nodes [2], "metrics.", NULL);
    s_sync (nodes, 3, &c, 1);

    assert_int_equal (bus_command (nodes [2].bus, "PEER-REMOVE", "a"), 0);
    assert_int_equal (bus_command (nodes [2].bus, "PEER-REMOVE", "a"), -1);
    /* C's tree changed (its parent was A, now it is B): wait for the link. */
    s_sync (&nodes [1], 1, &c, 1);
    for (int i = 0; i < 5; i++) {
        s_publish (&nodes [0], "metrics.a.web", "gone");
        s_publish (&nodes [1], "metrics.b.db", "here");
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
    bus_client_t *ca = s_consumer (&nodes [0], "metrics.", NULL);
    s_sync (nodes, 2, &ca, 1);
    assert_int_equal (bus_command (nodes [1].bus, "DENY", nodes [2].z85), 0);
    zclock_sleep (300);
    bus_client_t *both [1] = { ca };
    s_sync (nodes, 2, both, 1);     /* A reconnected to B */
    while (bus_client_recv (c, &ev, 100) == 0)
        ;
    uint64_t before = s_stat (&nodes [2], "peer_recv");
    for (int i = 0; i < 5; i++)
        s_publish (&nodes [1], "metrics.b.db", "denied");
    from_b = 0;
    while (bus_client_recv (c, &ev, 400) == 0)
        from_b += streq (ev.origin, "b");
    assert_int_equal (from_b, 0);
    assert_int_equal (s_stat (&nodes [2], "peer_recv"), before);
    int got_a = 0;
    while (bus_client_recv (ca, &ev, 400) == 0)
        got_a += streq (ev.origin, "b");
    assert_int_equal (got_a, 5);

    bus_client_destroy (&c);
    bus_client_destroy (&ca);
    for (int i = 0; i < 3; i++)
        s_node_stop (&nodes [i]);
}

/* Bad configuration and bad commands give clear errors. */
static void
test_bad_input (void **state)
{
    shed_identity_t *id = shed_identity_new_ephemeral ();
    bus_config_t cfg = { .name = "bad name", .public_key = shed_identity_x25519_public (id),
                         .secret_key = shed_identity_x25519_secret (id), .zap = s_zap };
    char err [256] = "";
    assert_null (bus_new (&cfg, err, sizeof err));
    assert_true (strlen (err) > 0);
    cfg.name = "n";
    cfg.origin_endpoint = "tcp://256.0.0.1:1";
    assert_null (bus_new (&cfg, err, sizeof err));
    cfg.origin_endpoint = NULL;
    cfg.zap = NULL;
    cfg.consumer_endpoint = "tcp://127.0.0.1:*";
    assert_null (bus_new (&cfg, err, sizeof err));   /* TCP needs ZAP */
    cfg.consumer_endpoint = NULL;
    zactor_t *bus = bus_new (&cfg, err, sizeof err);
    assert_non_null (bus);
    assert_int_equal (s_cmd3 (bus, "PEER-ADD", "p", "tcp://127.0.0.1:1", "short"), -1);
    assert_int_equal (bus_command (bus, "ALLOW", "nonsense"), -1);
    assert_int_equal (bus_publish (bus, "$snap.x", "k", "", 0), 0);   /* counted, dropped */
    assert_int_equal (bus_publish (bus, "bad topic", "k", "", 0), 0);
    zstr_send (bus, "STATS");
    char *line = zstr_recv (bus);
    assert_int_equal (bus_stat (line, "invalid"), 2);
    zstr_free (&line);
    zactor_destroy (&bus);
    shed_identity_destroy (&id);
}

/* One shed inventing state topics cannot take the last-value cache from
 * the others: it is held to its owner budget, and a later shed's topic is
 * still cached (before: the shared cache filled and refused everyone). */
static void
test_cache_fair_per_owner (void **state)
{
    shed_identity_t *id = shed_identity_new_ephemeral ();
    bus_config_t cfg = { .name = "n1", .public_key = shed_identity_x25519_public (id),
                         .secret_key = shed_identity_x25519_secret (id) };
    char err [256] = "";
    zactor_t *bus = bus_new (&cfg, err, sizeof err);
    assert_non_null (bus);
    char topic [64];
    for (int i = 0; i < EVENT_CACHE_MAX + 100; i++) {
        snprintf (topic, sizeof topic, "metrics.n1.evil.%d", i);
        while (bus_publish (bus, topic, "test", "x", 1) != 0)
            zclock_sleep (1);
    }
    while (bus_publish (bus, "metrics.n1.good", "test", "y", 1) != 0)
        zclock_sleep (1);
    uint64_t cache = 0, full = 0;
    for (int tries = 0; tries < 500; tries++) {
        zstr_send (bus, "STATS");
        char *line = zstr_recv (bus);
        cache = bus_stat (line, "cache");
        full = bus_stat (line, "cache_full");
        uint64_t published = bus_stat (line, "published");
        zstr_free (&line);
        if (published >= EVENT_CACHE_MAX + 101u)
            break;
        zclock_sleep (10);
    }
    /* evil holds its budget (1024), good its one entry. */
    assert_int_equal (cache, 1024 + 1);
    assert_int_equal (full, EVENT_CACHE_MAX + 100 - 1024);
    /* Many owners fill the whole cache: a newcomer's topic takes the place
     * of one entry of the largest owner. */
    for (int o = 0; o < EVENT_CACHE_MAX / 1024; o++)
        for (int i = 0; i < 1024; i++) {
            snprintf (topic, sizeof topic, "metrics.n1.s%d.%d", o, i);
            while (bus_publish (bus, topic, "test", "x", 1) != 0)
                zclock_sleep (1);
        }
    /* s_stats_settled: STATS once `published` reached n. */
    uint64_t full0 = 0, evicted0 = 0, published = 0;
    for (int tries = 0; tries < 500; tries++) {
        zstr_send (bus, "STATS");
        char *line = zstr_recv (bus);
        published = bus_stat (line, "published");
        full0 = bus_stat (line, "cache_full");
        evicted0 = bus_stat (line, "cache_evicted");
        zstr_free (&line);
        if (published >= 2u * EVENT_CACHE_MAX + 101u)
            break;
        zclock_sleep (10);
    }
    assert_true (evicted0 > 0);             /* the newcomers took from evil */
    while (bus_publish (bus, "metrics.n1.late", "test", "z", 1) != 0)
        zclock_sleep (1);
    uint64_t evicted = evicted0;
    for (int tries = 0; tries < 500 && evicted == evicted0; tries++) {
        zstr_send (bus, "STATS");
        char *line = zstr_recv (bus);
        cache = bus_stat (line, "cache");
        full = bus_stat (line, "cache_full");
        evicted = bus_stat (line, "cache_evicted");
        zstr_free (&line);
        zclock_sleep (10);
    }
    assert_int_equal (evicted, evicted0 + 1);
    assert_int_equal (full, full0);         /* late was cached, not refused */
    assert_int_equal (cache, EVENT_CACHE_MAX);
    zactor_destroy (&bus);
    shed_identity_destroy (&id);
}

/* A consumer may have at most 4 snapshot requests waiting for peers at
 * once; the rest are dropped and counted (before: every "$snapreq" was
 * queued, so one remote consumer could grow the list without bound). A
 * peer that never answers keeps requests waiting; another consumer's
 * snapshot is still served. */
static void
test_snapreq_cap (void **state)
{
    s_node_t a;
    s_node_start (&a, "a", 0);
    shed_identity_t *ghost = shed_identity_new_ephemeral ();
    char ghost_z85 [41];
    shed_key_to_z85 (shed_identity_x25519_public (ghost), ghost_z85);
    /* Sorts before "a": the ghost is a's parent in the tree, never up. */
    assert_int_equal (s_cmd3 (a.bus, "PEER-ADD", "0ghost", "tcp://127.0.0.1:1", ghost_z85), 0);

    /* A remote consumer speaking raw XSUB over CURVE. */
    shed_identity_t *me = shed_identity_new_ephemeral ();
    char me_z85 [41];
    shed_key_to_z85 (shed_identity_x25519_public (me), me_z85);
    assert_int_equal (bus_command (a.bus, "CONSUMER-ALLOW", me_z85), 0);
    zsock_t *raw = zsock_new (ZMQ_XSUB);
    assert_non_null (raw);
    void *h = zsock_resolve (raw);
    assert_int_equal (zmq_setsockopt (h, ZMQ_CURVE_SERVERKEY,
                                      shed_identity_x25519_public (a.id), 32), 0);
    assert_int_equal (zmq_setsockopt (h, ZMQ_CURVE_PUBLICKEY,
                                      shed_identity_x25519_public (me), 32), 0);
    assert_int_equal (zmq_setsockopt (h, ZMQ_CURVE_SECRETKEY,
                                      shed_identity_x25519_secret (me), 32), 0);
    assert_int_equal (zsock_connect (raw, "%s", a.remote), 0);
    /* First subscriber of a state prefix: the bus asks the ghost peer for
     * its last values, and consumer requests wait for it (1 s). */
    uint8_t sub [64] = "\001shed.";
    assert_int_equal (zmq_send (h, sub, 6, 0), 6);
    for (int i = 0; i < 10; i++) {
        int n = snprintf ((char *) sub, sizeof sub, "%c$snapreq.flood%d", 1, i);
        memcpy (sub + n + 1, "shed.", 6);       /* NUL, prefix, NUL */
        assert_int_equal (zmq_send (h, sub, (size_t) n + 7, 0), n + 7);
    }
    int64_t deadline = zclock_mono () + 5000;
    while (s_stat (&a, "snapreq_dropped") < 6 && zclock_mono () < deadline)
        zclock_sleep (10);
    assert_int_equal (s_stat (&a, "snapreq_dropped"), 6);

    /* Another consumer (local) is not held to the flooder's budget. */
    bus_client_t *c = bus_client_new (a.ipc, NULL, NULL, NULL);
    assert_non_null (c);
    assert_int_equal (bus_client_subscribe (c, "shed."), 0);
    assert_true (bus_client_snapshot (c, 3000) >= 0);
    /* The flooder's 4 were served (partial) once the ghost timed out. */
    deadline = zclock_mono () + 5000;
    while (s_stat (&a, "snapshots_served") < 5 && zclock_mono () < deadline)
        zclock_sleep (10);
    assert_int_equal (s_stat (&a, "snapshots_served"), 5);
    assert_int_equal (s_stat (&a, "snapreq_dropped"), 6);

    bus_client_destroy (&c);
    zsock_destroy (&raw);
    shed_identity_destroy (&me);
    shed_identity_destroy (&ghost);
    s_node_stop (&a);
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
    s_node_t nodes [N];
    const char *names [N] = { "a", "b", "c", "d", "e", "f" };
    for (int i = 0; i < N; i++)
        s_node_start (&nodes [i], names [i], 0);
    s_mesh (nodes, N);
    bus_client_t *cf = s_consumer (&nodes [5], "t.", NULL);
    s_sync (nodes, N, &cf, 1);
    /* Degree: a has children b..e, b has a and f, the others one link. */
    int64_t deadline = zclock_mono () + 5000;
    while (s_stat (&nodes [0], "links") < 4 && zclock_mono () < deadline)
        zclock_sleep (20);
    assert_int_equal (s_stat (&nodes [0], "links"), 4);
    assert_int_equal (s_stat (&nodes [1], "links"), 2);
    assert_int_equal (s_stat (&nodes [5], "links"), 1);
    for (int i = 0; i < N; i++)
        assert_true (s_stat (&nodes [i], "conns") <= s_stat (&nodes [i], "conns_max"));

    uint64_t skipped = s_stat (&nodes [4], "origin_skipped");
    uint64_t recv_b = s_stat (&nodes [1], "peer_recv");
    uint64_t recv_c = s_stat (&nodes [2], "peer_recv");
    for (int k = 0; k < 50; k++) {
        s_publish (&nodes [4], "t.e.x", "want");
        s_publish (&nodes [4], "u.e.x", "nobody");
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
    assert_int_equal (s_stat (&nodes [4], "origin_skipped") - skipped, 50);
    /* b relayed e's 50 (from a) to f; c, off the path, saw nothing. */
    assert_int_equal (s_stat (&nodes [1], "peer_recv") - recv_b, 50);
    assert_int_equal (s_stat (&nodes [2], "peer_recv") - recv_c, 0);
    assert_true (s_stat (&nodes [0], "relayed") >= 50);

    /* b leaves every view: f re-dials a. */
    for (int i = 0; i < N; i++)
        if (i != 1)
            assert_int_equal (bus_command (nodes [i].bus, "PEER-REMOVE", "b"), 0);
    s_node_t rest [4] = { nodes [0], nodes [2], nodes [3], nodes [4] };
    s_sync (rest, 4, &cf, 1);
    for (int k = 0; k < 20; k++)
        s_publish (&nodes [4], "t.e.y", "again");
    got = 0;
    while (bus_client_recv (cf, &ev, 500) == 0)
        got += streq (ev.topic, "t.e.y");
    assert_int_equal (got, 20);
    assert_int_equal (bus_client_duplicates (cf), 0);
    assert_true (s_stat (&nodes [5], "tree_changes") >= 2);
    bus_client_destroy (&cf);
    for (int i = 0; i < N; i++)
        s_node_stop (&nodes [i]);
}

/* Link control messages: what parses and what does not. */
static void
test_link_parse (void **state)
{
    int type;
    const uint8_t *body;
    size_t blen;
    char name [EVENT_NODE_MAX + 1];
    assert_int_equal (bus_link_parse ((const uint8_t *) "\002node-1", 7, &type, &body, &blen,
                                      name), 0);
    assert_int_equal (type, EVENT_LINK_HELLO);
    assert_string_equal (name, "node-1");
    assert_int_equal (bus_link_parse ((const uint8_t *) "\002bad name", 9, &type, &body,
                                      &blen, name), -1);
    assert_int_equal (bus_link_parse ((const uint8_t *) "\002", 1, &type, &body, &blen, name),
                      -1);
    /* A NUL inside the name would make "b\0junk" pass as "b". */
    assert_int_equal (bus_link_parse ((const uint8_t *) "\002b\000\237", 4, &type, &body,
                                      &blen, name), -1);
    assert_int_equal (bus_link_parse ((const uint8_t *) "\003x", 2, &type, &body, &blen, name),
                      -1);
    assert_int_equal (bus_link_parse ((const uint8_t *) "\011", 1, &type, &body, &blen, name),
                      -1);
    assert_int_equal (bus_link_parse ((const uint8_t *) "\001log.", 5, &type, &body, &blen,
                                      name), 0);
    assert_int_equal (blen, 4);
    assert_int_equal (bus_tree_parent (0), -1);
    assert_int_equal (bus_tree_parent (1), 0);
    assert_int_equal (bus_tree_parent (4), 0);
    assert_int_equal (bus_tree_parent (5), 1);
}

static int
s_setup (void **state)
{
    s_run++;
    return 0;
}

int
main (void)
{
    shed_log_set_level (SHED_LOG_WARN);
    snprintf (s_dir, sizeof s_dir, "/tmp/bus-test-XXXXXX");
    if (!mkdtemp (s_dir))
        return 1;
    s_zap = zap_new ();
    if (!s_zap)
        return 1;
    const struct CMUnitTest tests [] = {
        cmocka_unit_test_setup (test_fanout_filter, s_setup),
        cmocka_unit_test_setup (test_exactly_once, s_setup),
        cmocka_unit_test_setup (test_batches, s_setup),
        cmocka_unit_test_setup (test_publish_socket, s_setup),
        cmocka_unit_test_setup (test_no_subscriber_no_traffic, s_setup),
        cmocka_unit_test_setup (test_late_joiner, s_setup),
        cmocka_unit_test_setup (test_slow_consumer, s_setup),
        cmocka_unit_test_setup (test_unallowed_peer, s_setup),
        cmocka_unit_test_setup (test_non_curve_client, s_setup),
        cmocka_unit_test_setup (test_peer_remove_and_deny, s_setup),
        cmocka_unit_test_setup (test_bad_input, s_setup),
        cmocka_unit_test_setup (test_cache_fair_per_owner, s_setup),
        cmocka_unit_test_setup (test_snapreq_cap, s_setup),
        cmocka_unit_test_setup (test_tree_routing, s_setup),
        cmocka_unit_test_setup (test_link_parse, s_setup),
    };
    int rc = cmocka_run_group_tests (tests, NULL, NULL);
    zap_destroy (&s_zap);
    char cmd [128];
    snprintf (cmd, sizeof cmd, "rm -rf %s", s_dir);
    if (system (cmd) != 0)
        rc = rc ? rc : 1;
    return rc;
}
