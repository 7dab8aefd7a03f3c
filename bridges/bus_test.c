/*
 * bus_test.c - the event bus with real sockets (harness: bus_test_util.h):
 * fan-out and filtering, exactly-once delivery, batches, the publish
 * socket, late joiners and the last-value cache, slow consumers, bad
 * input. The tree and its links: bus_links_test.c.
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
#include "common/log.h"

/* C's consumer on metrics. gets A's and B's metrics but no log events. */
static void
test_fanout_filter (void **state)
{
    bt_node_t nodes[3];
    bt_node_start (&nodes[0], "a", 0);
    bt_node_start (&nodes[1], "b", 0);
    bt_node_start (&nodes[2], "c", 0);
    bt_mesh (nodes, 3);
    bus_client_t *c = bt_consumer (&nodes[2], "metrics.", NULL);
    bt_sync (nodes, 3, &c, 1);

    for (int i = 0; i < 5; i++) {
        bt_publish (&nodes[0], "metrics.a.web", "{cpu:1}");
        bt_publish (&nodes[0], "log.a.web.stdout", "line");
        bt_publish (&nodes[1], "metrics.b.db", "{cpu:2}");
    }
    bt_publish (&nodes[2], "metrics.c.x", "{cpu:3}");
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
    assert_int_equal (bt_stat (&nodes[2], "forged"), 0);
    bus_client_destroy (&c);
    for (int i = 0; i < 3; i++)
        bt_node_stop (&nodes[i]);
}

/* Four nodes fully meshed, a consumer of everything on each: every event
 * arrives exactly once at every consumer. */
static void
test_exactly_once (void **state)
{
    enum { N = 4, EACH = 200 };
    bt_node_t nodes[N];
    const char *names[N] = { "a", "b", "c", "d" };
    for (int i = 0; i < N; i++)
        bt_node_start (&nodes[i], names[i], 0);
    bt_mesh (nodes, N);
    bus_client_t *cs[N];
    for (int i = 0; i < N; i++)
        cs[i] = bt_consumer (&nodes[i], "t.", NULL);
    bt_sync (nodes, N, cs, N);

    for (int k = 0; k < EACH; k++)
        for (int i = 0; i < N; i++) {
            char topic[32];
            snprintf (topic, sizeof topic, "t.%s.%d", names[i], k % 7);
            bt_publish (&nodes[i], topic, "x");
        }
    for (int c = 0; c < N; c++) {
        /* seen [origin][seq]: exactly once each */
        static uint8_t seen[N][N * EACH * 4];
        memset (seen, 0, sizeof seen);
        int got[N] = { 0 };
        bus_event_t ev;
        while (bus_client_recv (cs[c], &ev, 500) == 0) {
            int o = ev.origin[0] - 'a';
            assert_true (o >= 0 && o < N);
            assert_true (ev.seq < sizeof seen[0]);
            assert_int_equal (seen[o][ev.seq], 0);
            seen[o][ev.seq] = 1;
            got[o]++;
        }
        for (int o = 0; o < N; o++)
            assert_int_equal (got[o], EACH);
        assert_int_equal (bus_client_duplicates (cs[c]), 0);
        assert_int_equal (bus_client_gaps (cs[c]), 0);
    }
    /* No loops: each node forwarded exactly what its peers originated. */
    for (int i = 0; i < N; i++)
        assert_int_equal (bt_stat (&nodes[i], "forged"), 0);
    for (int i = 0; i < N; i++) {
        bus_client_destroy (&cs[i]);
        bt_node_stop (&nodes[i]);
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
    event_item_t items[3];
    memset (items, 0, sizeof items);
    for (int i = 0; i < 3; i++) {
        items[i].seq = 10 + (uint64_t) i;
        items[i].tseq = 1 + (uint64_t) i;
        items[i].time_us = 1000 + i;
        items[i].payload.data = (uint8_t *) (uintptr_t) (i == 1 ? "" : "abc");
        items[i].payload.len = i == 1 ? 0 : 3;
    }
    event_msg_t m;
    memset (&m, 0, sizeof m);
    m.hdr.type = EVENT_BATCH;
    snprintf (m.u.event_batch.origin, sizeof m.u.event_batch.origin, "a");
    m.u.event_batch.boot = 7;
    snprintf (m.u.event_batch.kind, sizeof m.u.event_batch.kind, "agent.log");
    m.u.event_batch.items.n = 3;
    m.u.event_batch.items.items = items;
    uint8_t buf[1024];
    long len = event_frame_encode ("log.a.web", &m, buf, sizeof buf);
    assert_true (len > 0);
    event_peek_t pk;
    assert_int_equal (event_frame_peek (buf, (size_t) len, &pk), 0);
    assert_int_equal (pk.type, EVENT_BATCH);
    assert_int_equal (pk.nitems, 3);
    assert_string_equal (pk.origin, "a");
    assert_int_equal (pk.boot, 7);
    event_batch_pos_t pos;
    event_batch_start (&pk, &pos);
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
    assert_int_equal (d.u.event_batch.items.items[2].seq, 12);
    wire_msg_free (&event_proto, &d);
    len = event_frame_encode ("$snap.x", &m, buf, sizeof buf);
    assert_true (len > 0);
    assert_int_not_equal (event_frame_decode (buf, (size_t) len, &route, &d), 0);
    items[1].seq = 0; /* every item needs a sequence */
    assert_true (event_frame_encode ("log.a.web", &m, buf, sizeof buf) < 0);

    /* On the wire. */
    enum { TOTAL = 6000, TOPICS = 3 };
    bt_node_t nodes[2];
    bt_node_start (&nodes[0], "a", 0);
    bt_node_start (&nodes[1], "b", 0);
    bt_mesh (nodes, 2);
    bus_client_t *c = bt_consumer (&nodes[1], "log.", "metrics.");
    bt_sync (nodes, 2, &c, 1);
    for (int i = 0; i < TOTAL; i++) {
        char topic[32], payload[32];
        bool metrics = i % 4 == 3;
        if (metrics)
            snprintf (topic, sizeof topic, "metrics.a.m");
        else
            snprintf (topic, sizeof topic, "log.a.t%d", i % TOPICS);
        snprintf (payload, sizeof payload, "%d", i);
        /* Kinds change within a topic now and then: order must hold. */
        const char *kind = (i / 100) % 2 ? "k1" : "k2";
        while (bus_publish (nodes[0].bus, topic, kind, payload, strlen (payload)) != 0)
            zclock_sleep (1);
    }
    int got = 0, last[TOPICS + 1] = { -1, -1, -1, -1 };
    bus_event_t ev;
    while (got < TOTAL && bus_client_recv (c, &ev, 2000) == 0) {
        if (strncmp (ev.topic, "probe.", 6) == 0)
            continue;
        int t = strncmp (ev.topic, "metrics.", 8) == 0 ? TOPICS : ev.topic[7] - '0';
        assert_true (t >= 0 && t <= TOPICS);
        char num[32];
        snprintf (num, sizeof num, "%.*s", (int) ev.size, (const char *) ev.payload);
        int i = atoi (num);
        assert_true (i > last[t]); /* per-topic order */
        last[t] = i;
        assert_string_equal (ev.kind, (i / 100) % 2 ? "k1" : "k2");
        assert_int_equal (ev.gap, 0);
        got++;
    }
    assert_int_equal (got, TOTAL);
    assert_int_equal (bus_client_gaps (c), 0);
    assert_int_equal (bus_client_duplicates (c), 0);
    assert_int_equal (bus_client_malformed (c), 0);
    assert_true (bt_stat (&nodes[0], "batches_sent") > 0);
    assert_true (bt_stat (&nodes[1], "batches_recv") > 0);
    assert_int_equal (bt_stat (&nodes[1], "peer_recv"), bt_stat (&nodes[0], "origin_sent"));

    /* The newest metrics event is the last value, on both nodes. */
    for (int n = 0; n < 2; n++) {
        bus_client_t *late = bus_client_new (nodes[n].ipc, NULL, NULL, NULL);
        assert_non_null (late);
        assert_int_equal (bus_client_subscribe (late, "metrics.a."), 0);
        assert_int_equal (bus_client_snapshot (late, 3000), 1);
        assert_int_equal (bus_client_recv (late, &ev, 0), 0);
        assert_true (ev.snapshot);
        char num[32];
        snprintf (num, sizeof num, "%.*s", (int) ev.size, (const char *) ev.payload);
        assert_int_equal (atoi (num), last[TOPICS]);
        bus_client_destroy (&late);
    }
    bus_client_destroy (&c);
    bt_node_stop (&nodes[0]);
    bt_node_stop (&nodes[1]);
}

/* The publish socket: producers on other threads send records
 * `topic NUL kind NUL len:u32be payload`; the bus stamps and publishes
 * them like PUBLISH, and counts what does not parse. */
static void
test_publish_socket (void **state)
{
    char ipc[256], pub_ep[128];
    snprintf (ipc, sizeof ipc, "ipc://%s/pubsock-%d.sock", bt_dir, ++bt_run);
    snprintf (pub_ep, sizeof pub_ep, "inproc://bus-test-publish-%d", bt_run);
    shed_identity_t *id = shed_identity_new_ephemeral ();
    bus_config_t cfg = { .name = "p",
                         .public_key = shed_identity_x25519_public (id),
                         .secret_key = shed_identity_x25519_secret (id),
                         .zap = bt_zap,
                         .ipc_endpoint = ipc,
                         .publish_endpoint = pub_ep };
    char err[256];
    bus_t *bus = bus_new (&cfg, err, sizeof err);
    assert_non_null (bus);
    bus_client_t *c = bus_client_new (ipc, NULL, NULL, NULL);
    assert_non_null (c);
    assert_int_equal (bus_client_subscribe (c, "log."), 0);
    void *push = zmq_socket (zsys_init (), ZMQ_PUSH);
    assert_non_null (push);
    assert_int_equal (zmq_connect (push, pub_ep), 0);
    zclock_sleep (200); /* the subscription reaches the bus */

    uint8_t msg[256];
    size_t len = 0;
    const char *topics[3] = { "log.p.a", "log.p.b", "log.p.a" };
    for (int i = 0; i < 3; i++) {
        char payload[8];
        int pl = snprintf (payload, sizeof payload, "e%d", i);
        size_t tl = strlen (topics[i]);
        memcpy (msg + len, topics[i], tl + 1);
        len += tl + 1;
        memcpy (msg + len, "k", 2);
        len += 2;
        msg[len++] = 0;
        msg[len++] = 0;
        msg[len++] = 0;
        msg[len++] = (uint8_t) pl;
        memcpy (msg + len, payload, (size_t) pl);
        len += (size_t) pl;
    }
    assert_int_equal (zmq_send (push, msg, len, 0), (int) len);
    /* A record whose length runs past the frame ends its message. */
    uint8_t bad[] = { 'l', 'o', 'g', '.', 'x', 0, 'k', 0, 0, 0, 0, 9, 'a' };
    assert_int_equal (zmq_send (push, bad, sizeof bad, 0), (int) sizeof bad);

    /* Order holds per topic (one turn gathers per topic: across topics
     * it may change). */
    bus_event_t ev;
    bool seen[3] = { false, false, false };
    int last_a = -1;
    for (int k = 0; k < 3; k++) {
        assert_int_equal (bus_client_recv (c, &ev, 3000), 0);
        assert_int_equal (ev.size, 2);
        int i = ((const char *) ev.payload)[1] - '0';
        assert_true (i >= 0 && i < 3 && !seen[i]);
        seen[i] = true;
        assert_string_equal (ev.topic, topics[i]);
        assert_string_equal (ev.origin, "p");
        assert_string_equal (ev.kind, "k");
        assert_int_equal (ev.seq, (uint64_t) i + 1);
        if (ev.topic[6] == 'a') {
            assert_true (i > last_a);
            last_a = i;
        }
    }
    assert_int_not_equal (bus_client_recv (c, &ev, 300), 0);
    char *line = bus_stats (bus);
    assert_int_equal (bus_stat (line, "published"), 3);
    assert_int_equal (bus_stat (line, "invalid"), 1);
    zstr_free (&line);
    zmq_close (push);
    bus_client_destroy (&c);
    bus_destroy (&bus);
    shed_identity_destroy (&id);
}

/* One message of `n` records of `topic` on a publish socket: one turn
 * of the bus, so one batch (n > 1). Payloads "e0", "e1", ... */
static void
s_push_records (void *push, const char *topic, int n)
{
    uint8_t msg[1024];
    size_t len = 0, tl = strlen (topic);
    for (int i = 0; i < n; i++) {
        char payload[8];
        int pl = snprintf (payload, sizeof payload, "e%d", i);
        memcpy (msg + len, topic, tl + 1);
        len += tl + 1;
        memcpy (msg + len, "k", 2);
        len += 2;
        msg[len++] = 0;
        msg[len++] = 0;
        msg[len++] = 0;
        msg[len++] = (uint8_t) pl;
        memcpy (msg + len, payload, (size_t) pl);
        len += (size_t) pl;
    }
    assert_int_equal (zmq_send (push, msg, len, 0), (int) len);
}

/* Five events in one turn leave as one batch at `version`, which a
 * version-2 reader takes exactly when it is 2; every version-3 reader
 * reads back all five. `sub` sees the very frame the bus sends on. */
static void
s_gate_round (void *push, void *sub, unsigned version)
{
    s_push_records (push, "log.a.x", 5);
    zmq_msg_t f;
    zmq_msg_init (&f);
    assert_true (zmq_msg_recv (&f, sub, 0) > 0);
    const uint8_t *frame = (const uint8_t *) zmq_msg_data (&f);
    size_t len = zmq_msg_size (&f);
    event_peek_t pk;
    assert_int_equal (event_frame_peek (frame, len, &pk), 0);
    assert_int_equal (pk.type, EVENT_BATCH);
    assert_int_equal (pk.nitems, 5);
    assert_int_equal (pk.version, version);
    assert_int_equal (event_v2_batch_ok (frame, len), version == EVENT_VERSION_BATCH);
    event_batch_pos_t pos;
    event_batch_start (&pk, &pos);
    event_item_view_t it;
    uint64_t prev = 0;
    for (int i = 0; i < 5; i++) {
        assert_int_equal (event_batch_next (&pk, &pos, &it), 0);
        assert_true (it.seq > prev);
        prev = it.seq;
        char want[8];
        snprintf (want, sizeof want, "e%d", i);
        assert_int_equal (it.payload_len, strlen (want));
        assert_memory_equal (it.payload, want, it.payload_len);
    }
    zmq_msg_close (&f);
}

/* The batch version follows the members (docs/events.md, "Mixed
 * versions"): 3 with none, 2 as soon as one is added (until PEER-VERSION
 * says it reads 3), 3 once every member does, 2 again for a new member,
 * 3 when it leaves. */
static void
test_batch_version_gate (void **state)
{
    char ipc[256], pub_ep[128];
    snprintf (ipc, sizeof ipc, "ipc://%s/gate-%d.sock", bt_dir, ++bt_run);
    snprintf (pub_ep, sizeof pub_ep, "inproc://bus-test-gate-%d", bt_run);
    shed_identity_t *id = shed_identity_new_ephemeral ();
    shed_identity_t *pb = shed_identity_new_ephemeral ();
    char zb[41];
    shed_key_to_z85 (shed_identity_x25519_public (pb), zb);
    bus_config_t cfg = { .name = "a",
                         .public_key = shed_identity_x25519_public (id),
                         .secret_key = shed_identity_x25519_secret (id),
                         .zap = bt_zap,
                         .ipc_endpoint = ipc,
                         .publish_endpoint = pub_ep };
    char err[256];
    bus_t *bus = bus_new (&cfg, err, sizeof err);
    assert_non_null (bus);
    void *sub = zmq_socket (zsys_init (), ZMQ_SUB);
    void *push = zmq_socket (zsys_init (), ZMQ_PUSH);
    assert_non_null (sub);
    assert_non_null (push);
    int hwm = EVENT_RCVHWM;
    assert_int_equal (zmq_setsockopt (sub, ZMQ_RCVHWM, &hwm, sizeof hwm), 0);
    assert_int_equal (zmq_connect (sub, ipc), 0);
    assert_int_equal (zmq_setsockopt (sub, ZMQ_SUBSCRIBE, "log.a.x", 7), 0);
    assert_int_equal (zmq_connect (push, pub_ep), 0);
    /* Ready when a single event gets through; then nothing else waits. */
    int wait = 100;
    assert_int_equal (zmq_setsockopt (sub, ZMQ_RCVTIMEO, &wait, sizeof wait), 0);
    char drain[256];
    bool ready = false;
    for (int i = 0; i < 100 && !ready; i++) {
        s_push_records (push, "log.a.x", 1);
        ready = zmq_recv (sub, drain, sizeof drain, 0) > 0;
    }
    assert_true (ready);
    while (zmq_recv (sub, drain, sizeof drain, 0) > 0)
        ;
    wait = 3000;
    assert_int_equal (zmq_setsockopt (sub, ZMQ_RCVTIMEO, &wait, sizeof wait), 0);

    char *line = bus_stats (bus);
    assert_int_equal (bus_stat (line, "batch_version"), EVENT_VERSION);
    zstr_free (&line);
    s_gate_round (push, sub, EVENT_VERSION); /* no member */

    /* b, not yet known to read version 3 (its record lacks the field). */
    assert_int_equal (bus_peer_add (bus, "b", "tcp://127.0.0.1:9", zb), 0);
    s_gate_round (push, sub, EVENT_VERSION_BATCH);
    assert_int_equal (bus_peer_version (bus, "b", 2), 0);
    s_gate_round (push, sub, EVENT_VERSION_BATCH);
    assert_int_equal (bus_peer_version (bus, "b", 3), 0);
    s_gate_round (push, sub, EVENT_VERSION);
    /* Re-adding b (a new endpoint) keeps what it reads. */
    assert_int_equal (bus_peer_add (bus, "b", "tcp://127.0.0.1:10", zb), 0);
    s_gate_round (push, sub, EVENT_VERSION);
    /* c joins: back to 2 until it says 3; below 2 counts as 2. */
    assert_int_equal (bus_peer_add (bus, "c", "tcp://127.0.0.1:11", zb), 0);
    s_gate_round (push, sub, EVENT_VERSION_BATCH);
    assert_int_equal (bus_peer_version (bus, "c", 1), 0);
    s_gate_round (push, sub, EVENT_VERSION_BATCH);
    assert_int_equal (bus_peer_version (bus, "c", 3), 0);
    s_gate_round (push, sub, EVENT_VERSION);
    /* A later release reads more: still our version. */
    assert_int_equal (bus_peer_version (bus, "c", EVENT_VERSION + 5), 0);
    s_gate_round (push, sub, EVENT_VERSION);
    /* c back on an older release, then gone. */
    assert_int_equal (bus_peer_version (bus, "c", 2), 0);
    s_gate_round (push, sub, EVENT_VERSION_BATCH);
    assert_int_equal (bus_peer_remove (bus, "c"), 0);
    s_gate_round (push, sub, EVENT_VERSION);
    /* Only members have a version. */
    assert_int_equal (bus_peer_version (bus, "c", 3), -1);
    line = bus_stats (bus);
    assert_int_equal (bus_stat (line, "batch_version"), EVENT_VERSION);
    assert_int_equal (bus_stat (line, "invalid"), 0);
    zstr_free (&line);

    zmq_close (push);
    zmq_close (sub);
    bus_destroy (&bus);
    shed_identity_destroy (&pb);
    shed_identity_destroy (&id);
}

/* A topic nobody subscribed to never crosses the network. */
static void
test_no_subscriber_no_traffic (void **state)
{
    bt_node_t nodes[2];
    bt_node_start (&nodes[0], "a", 0);
    bt_node_start (&nodes[1], "b", 0);
    bt_mesh (nodes, 2);
    zclock_sleep (300); /* links up, nothing subscribed */
    for (int i = 0; i < 100; i++)
        bt_publish (&nodes[0], "proc.a.web", "exit 0");
    assert_int_equal (bt_stat (&nodes[0], "origin_subs"), 0);
    int64_t deadline = zclock_mono () + 5000;
    while (bt_stat (&nodes[0], "published") < 100 && zclock_mono () < deadline)
        zclock_sleep (10);
    assert_int_equal (bt_stat (&nodes[0], "origin_sent"), 0);
    assert_int_equal (bt_stat (&nodes[0], "origin_skipped"), 100);
    assert_int_equal (bt_stat (&nodes[1], "peer_recv"), 0);

    /* Now someone on B wants proc.: A starts sending, only that. */
    bus_client_t *c = bt_consumer (&nodes[1], "proc.", NULL);
    bt_sync (nodes, 2, &c, 1);
    uint64_t sent0 = bt_stat (&nodes[0], "origin_sent");
    for (int i = 0; i < 10; i++) {
        bt_publish (&nodes[0], "proc.a.web", "exit 1");
        bt_publish (&nodes[0], "log.a.web.stdout", "not wanted");
    }
    int got = 0;
    bus_event_t ev;
    while (bus_client_recv (c, &ev, 500) == 0) {
        assert_string_equal (ev.topic, "proc.a.web");
        got++;
    }
    assert_int_equal (got, 10);
    assert_int_equal (bt_stat (&nodes[0], "origin_sent") - sent0, 10);
    bus_client_destroy (&c);
    bt_node_stop (&nodes[0]);
    bt_node_stop (&nodes[1]);
}

/* A late joiner gets the last values (from this node's cache and from
 * peers' caches), then live updates without duplicates; an existing
 * subscriber sees no replay at all. */
static void
test_late_joiner (void **state)
{
    bt_node_t nodes[3];
    bt_node_start (&nodes[0], "a", 0);
    bt_node_start (&nodes[1], "b", 0);
    bt_node_start (&nodes[2], "c", 0);
    bt_mesh (nodes, 3);
    bus_client_t *x = bt_consumer (&nodes[2], "metrics.", NULL);
    bt_sync (nodes, 3, &x, 1);

    for (int i = 1; i <= 3; i++)
        bt_publish (&nodes[0], "metrics.a.web", i == 3 ? "last-a" : "old-a");
    for (int i = 1; i <= 2; i++)
        bt_publish (&nodes[1], "metrics.b.db", i == 2 ? "last-b" : "old-b");
    bt_publish (&nodes[0], "shed.a.web", "running"); /* nobody on C wants shed. yet */
    bt_publish (&nodes[0], "log.a.web.stdout", "not state");
    bt_publish (&nodes[2], "member.c", "alive");
    /* The five it wants, however slowly a loaded machine delivers them,
     * then nothing more (a 300 ms wait for the first one failed at load). */
    int xs = 0;
    bus_event_t ev;
    while (xs < 5 && bus_client_recv (x, &ev, 5000) == 0)
        xs++;
    assert_int_equal (xs, 5);
    assert_int_not_equal (bus_client_recv (x, &ev, 300), 0);

    bus_client_t *y = bus_client_new (nodes[2].ipc, NULL, NULL, NULL);
    assert_non_null (y);
    assert_int_equal (bus_client_subscribe (y, "metrics."), 0);
    assert_int_equal (bus_client_subscribe (y, "shed."), 0);
    assert_int_equal (bus_client_subscribe (y, "member."), 0);
    int items = bus_client_snapshot (y, 3000);
    assert_int_equal (items, 4); /* metrics.a.web, metrics.b.db, shed.a.web, member.c */
    int snap = 0;
    while (bus_client_recv (y, &ev, 0) == 0) {
        assert_true (ev.snapshot);
        snap++;
        if (streq (ev.topic, "metrics.a.web")) {
            assert_int_equal (ev.tseq, 3);
            assert_memory_equal (ev.payload, "last-a", 6);
        }
        else if (streq (ev.topic, "metrics.b.db")) {
            assert_int_equal (ev.tseq, 2);
            assert_memory_equal (ev.payload, "last-b", 6);
        }
        else if (streq (ev.topic, "shed.a.web"))
            assert_memory_equal (ev.payload, "running", 7);
        else
            assert_string_equal (ev.topic, "member.c");
    }
    assert_int_equal (snap, 4);

    /* Live updates continue the series with no gap and no duplicate. */
    bt_publish (&nodes[0], "metrics.a.web", "new-a");
    bt_publish (&nodes[0], "shed.a.web", "stopped");
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
        bt_node_stop (&nodes[i]);
}

/* A consumer that never reads does not block the producer or the other
 * consumers; it sees gaps when it finally reads. */
static void
test_slow_consumer (void **state)
{
    enum { TOTAL = 100000, BATCH = 1000 };
    bt_node_t nodes[2];
    bt_node_start (&nodes[0], "a", 0);
    /* Queues count frames, and a busy bus sends a batch of events per
     * frame (up to EVENT_BATCH_MAX): a small queue makes the stalled
     * consumer overflow with batches too. */
    bt_node_start (&nodes[1], "b", 100);
    bt_mesh (nodes, 2);
    bus_client_t *good = bt_consumer (&nodes[1], "log.", NULL);
    bus_client_t *stalled = bus_client_new_hwm (nodes[1].ipc, NULL, NULL, NULL, 100);
    assert_non_null (stalled);
    assert_int_equal (bus_client_subscribe (stalled, "log."), 0);
    assert_int_equal (bus_client_subscribe (stalled, "probe."), 0);
    bus_client_t *both[2] = { good, stalled };
    bt_sync (nodes, 2, both, 2);

    int64_t start = zclock_mono ();
    int got = 0;
    char payload[100];
    memset (payload, 'x', sizeof payload - 1);
    payload[sizeof payload - 1] = 0;
    bus_event_t ev;
    for (int sent = 0; sent < TOTAL;) {
        for (int i = 0; i < BATCH; i++, sent++)
            bt_publish (&nodes[0], "log.a.web.stdout", payload);
        /* The good consumer keeps up; the stalled one never reads. */
        int64_t deadline = zclock_mono () + 5000;
        while (got < sent && zclock_mono () < deadline)
            if (bus_client_recv (good, &ev, 100) == 0)
                got++;
    }
    int64_t took = zclock_mono () - start;
    assert_int_equal (got, TOTAL);
    assert_int_equal (bus_client_gaps (good), 0);
    printf ("slow consumer: %d events in %" PRId64 " ms with a stalled consumer\n", TOTAL, took);

    /* A loss shows as a gap when a later event of the topic arrives. */
    int stalled_got = 0;
    while (bus_client_recv (stalled, &ev, 300) == 0)
        stalled_got++;
    bt_publish (&nodes[0], "log.a.web.stdout", "after the flood");
    while (bus_client_recv (stalled, &ev, 300) == 0)
        stalled_got++;
    printf ("slow consumer: stalled got %d, gaps %" PRIu64 "\n", stalled_got,
            bus_client_gaps (stalled));
    assert_true (stalled_got < TOTAL);
    assert_true (bus_client_gaps (stalled) > 0);
    assert_int_equal (bus_client_duplicates (stalled), 0);
    bus_client_destroy (&good);
    bus_client_destroy (&stalled);
    bt_node_stop (&nodes[0]);
    bt_node_stop (&nodes[1]);
}

/* Bad configuration and bad commands give clear errors. */
static void
test_bad_input (void **state)
{
    shed_identity_t *id = shed_identity_new_ephemeral ();
    bus_config_t cfg = { .name = "bad name",
                         .public_key = shed_identity_x25519_public (id),
                         .secret_key = shed_identity_x25519_secret (id),
                         .zap = bt_zap };
    char err[256] = "";
    assert_null (bus_new (&cfg, err, sizeof err));
    assert_true (strlen (err) > 0);
    cfg.name = "n";
    cfg.origin_endpoint = "tcp://256.0.0.1:1";
    assert_null (bus_new (&cfg, err, sizeof err));
    cfg.origin_endpoint = NULL;
    cfg.zap = NULL;
    cfg.consumer_endpoint = "tcp://127.0.0.1:*";
    assert_null (bus_new (&cfg, err, sizeof err)); /* TCP needs ZAP */
    cfg.consumer_endpoint = NULL;
    bus_t *bus = bus_new (&cfg, err, sizeof err);
    assert_non_null (bus);
    assert_int_equal (bus_peer_add (bus, "p", "tcp://127.0.0.1:1", "short"), -1);
    assert_int_equal (bus_allow (bus, "nonsense"), -1);
    assert_int_equal (bus_publish (bus, "$snap.x", "k", "", 0), 0); /* counted, dropped */
    assert_int_equal (bus_publish (bus, "bad topic", "k", "", 0), 0);
    char *line = bus_stats (bus);
    assert_int_equal (bus_stat (line, "invalid"), 2);
    zstr_free (&line);
    bus_destroy (&bus);
    shed_identity_destroy (&id);
}

/* One shed inventing state topics cannot take the last-value cache from
 * the others: it is held to its owner budget, and a later shed's topic is
 * still cached (before: the shared cache filled and refused everyone). */
static void
test_cache_fair_per_owner (void **state)
{
    shed_identity_t *id = shed_identity_new_ephemeral ();
    bus_config_t cfg = { .name = "n1",
                         .public_key = shed_identity_x25519_public (id),
                         .secret_key = shed_identity_x25519_secret (id) };
    char err[256] = "";
    bus_t *bus = bus_new (&cfg, err, sizeof err);
    assert_non_null (bus);
    char topic[64];
    for (int i = 0; i < EVENT_CACHE_MAX + 100; i++) {
        snprintf (topic, sizeof topic, "metrics.n1.evil.%d", i);
        while (bus_publish (bus, topic, "test", "x", 1) != 0)
            zclock_sleep (1);
    }
    while (bus_publish (bus, "metrics.n1.good", "test", "y", 1) != 0)
        zclock_sleep (1);
    uint64_t cache = 0, full = 0;
    for (int tries = 0; tries < 500; tries++) {
        char *line = bus_stats (bus);
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
        char *line = bus_stats (bus);
        published = bus_stat (line, "published");
        full0 = bus_stat (line, "cache_full");
        evicted0 = bus_stat (line, "cache_evicted");
        zstr_free (&line);
        if (published >= 2u * EVENT_CACHE_MAX + 101u)
            break;
        zclock_sleep (10);
    }
    assert_true (evicted0 > 0); /* the newcomers took from evil */
    while (bus_publish (bus, "metrics.n1.late", "test", "z", 1) != 0)
        zclock_sleep (1);
    uint64_t evicted = evicted0;
    for (int tries = 0; tries < 500 && evicted == evicted0; tries++) {
        char *line = bus_stats (bus);
        cache = bus_stat (line, "cache");
        full = bus_stat (line, "cache_full");
        evicted = bus_stat (line, "cache_evicted");
        zstr_free (&line);
        zclock_sleep (10);
    }
    assert_int_equal (evicted, evicted0 + 1);
    assert_int_equal (full, full0); /* late was cached, not refused */
    assert_int_equal (cache, EVENT_CACHE_MAX);
    bus_destroy (&bus);
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
    bt_node_t a;
    bt_node_start (&a, "a", 0);
    shed_identity_t *ghost = shed_identity_new_ephemeral ();
    char ghost_z85[41];
    shed_key_to_z85 (shed_identity_x25519_public (ghost), ghost_z85);
    /* Sorts before "a": the ghost is a's parent in the tree, never up. */
    assert_int_equal (bus_peer_add (a.bus, "0ghost", "tcp://127.0.0.1:1", ghost_z85), 0);

    /* A remote consumer speaking raw XSUB over CURVE. */
    shed_identity_t *me = shed_identity_new_ephemeral ();
    char me_z85[41];
    shed_key_to_z85 (shed_identity_x25519_public (me), me_z85);
    assert_int_equal (bus_consumer_allow (a.bus, me_z85), 0);
    zsock_t *raw = zsock_new (ZMQ_XSUB);
    assert_non_null (raw);
    void *h = zsock_resolve (raw);
    assert_int_equal (
        zmq_setsockopt (h, ZMQ_CURVE_SERVERKEY, shed_identity_x25519_public (a.id), 32), 0);
    assert_int_equal (zmq_setsockopt (h, ZMQ_CURVE_PUBLICKEY, shed_identity_x25519_public (me), 32),
                      0);
    assert_int_equal (zmq_setsockopt (h, ZMQ_CURVE_SECRETKEY, shed_identity_x25519_secret (me), 32),
                      0);
    assert_int_equal (zsock_connect (raw, "%s", a.remote), 0);
    /* First subscriber of a state prefix: the bus asks the ghost peer for
     * its last values, and consumer requests wait for it (1 s). */
    uint8_t sub[64] = "\001shed.";
    assert_int_equal (zmq_send (h, sub, 6, 0), 6);
    for (int i = 0; i < 10; i++) {
        int n = snprintf ((char *) sub, sizeof sub, "%c$snapreq.flood%d", 1, i);
        memcpy (sub + n + 1, "shed.", 6); /* NUL, prefix, NUL */
        assert_int_equal (zmq_send (h, sub, (size_t) n + 7, 0), n + 7);
    }
    int64_t deadline = zclock_mono () + 5000;
    while (bt_stat (&a, "snapreq_dropped") < 6 && zclock_mono () < deadline)
        zclock_sleep (10);
    assert_int_equal (bt_stat (&a, "snapreq_dropped"), 6);

    /* Another consumer (local) is not held to the flooder's budget. */
    bus_client_t *c = bus_client_new (a.ipc, NULL, NULL, NULL);
    assert_non_null (c);
    assert_int_equal (bus_client_subscribe (c, "shed."), 0);
    assert_true (bus_client_snapshot (c, 3000) >= 0);
    /* The flooder's 4 were served (partial) once the ghost timed out. */
    deadline = zclock_mono () + 5000;
    while (bt_stat (&a, "snapshots_served") < 5 && zclock_mono () < deadline)
        zclock_sleep (10);
    assert_int_equal (bt_stat (&a, "snapshots_served"), 5);
    assert_int_equal (bt_stat (&a, "snapreq_dropped"), 6);

    bus_client_destroy (&c);
    zsock_destroy (&raw);
    shed_identity_destroy (&me);
    shed_identity_destroy (&ghost);
    bt_node_stop (&a);
}

int
main (void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup (test_fanout_filter, bt_setup),
        cmocka_unit_test_setup (test_exactly_once, bt_setup),
        cmocka_unit_test_setup (test_batches, bt_setup),
        cmocka_unit_test_setup (test_publish_socket, bt_setup),
        cmocka_unit_test_setup (test_batch_version_gate, bt_setup),
        cmocka_unit_test_setup (test_no_subscriber_no_traffic, bt_setup),
        cmocka_unit_test_setup (test_late_joiner, bt_setup),
        cmocka_unit_test_setup (test_slow_consumer, bt_setup),
        cmocka_unit_test_setup (test_bad_input, bt_setup),
        cmocka_unit_test_setup (test_cache_fair_per_owner, bt_setup),
        cmocka_unit_test_setup (test_snapreq_cap, bt_setup),
    };
    return bt_main (tests, sizeof tests / sizeof tests[0]);
}
