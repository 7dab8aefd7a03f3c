/* event_msg_test.c - the event envelope codec, frame layout and topic rules. */
#include "bridges/event_msg.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <cmocka.h>

static void
s_event (event_msg_t *m, const char *origin, uint64_t seq)
{
    memset (m, 0, sizeof *m);
    m->hdr.type = EVENT_EVENT;
    snprintf (m->u.event_event.origin, sizeof m->u.event_event.origin, "%s", origin);
    m->u.event_event.boot = 77;
    m->u.event_event.seq = seq;
    m->u.event_event.tseq = seq;
    m->u.event_event.time_us = 1234;
    snprintf (m->u.event_event.kind, sizeof m->u.event_event.kind, "agent.metrics");
    m->u.event_event.payload.data = (uint8_t *) "hello";
    m->u.event_event.payload.len = 5;
}

static void
test_roundtrip (void **state)
{
    event_msg_t m, d;
    uint8_t buf[512];
    s_event (&m, "n1", 9);
    long len = event_frame_encode ("metrics.n1.web", &m, buf, sizeof buf);
    assert_true (len > 15);
    assert_int_equal (buf[14], 0);
    const char *route;
    assert_int_equal (event_frame_decode (buf, (size_t) len, &route, &d), 0);
    assert_string_equal (route, "metrics.n1.web");
    assert_string_equal (d.u.event_event.topic, "metrics.n1.web");
    assert_string_equal (d.u.event_event.origin, "n1");
    assert_int_equal (d.u.event_event.seq, 9);
    assert_int_equal (d.u.event_event.boot, 77);
    assert_int_equal (d.u.event_event.payload.len, 5);
    assert_memory_equal (d.u.event_event.payload.data, "hello", 5);
    wire_msg_free (&event_proto, &d);

    /* Every truncation fails cleanly. */
    for (long i = 0; i < len; i++)
        assert_int_not_equal (event_frame_decode (buf, (size_t) i, &route, &d), 0);
    /* Too small a buffer is an error, not an overflow. */
    assert_int_equal (event_frame_encode ("metrics.n1.web", &m, buf, 20), WIRE_ERR_TOO_BIG);
}

static void
test_reject (void **state)
{
    event_msg_t m, d;
    uint8_t buf[512];
    const char *route;
    s_event (&m, "bad name", 1);
    assert_true (event_frame_encode ("metrics.x", &m, buf, sizeof buf) < 0);
    s_event (&m, "n1", 0); /* seq 0 is never used */
    assert_true (event_frame_encode ("metrics.x", &m, buf, sizeof buf) < 0);
    s_event (&m, "n1", 1);
    assert_true (event_frame_encode ("", &m, buf, sizeof buf) < 0);
    /* A live frame whose route is not a valid topic. */
    long len = event_frame_encode ("bad topic", &m, buf, sizeof buf);
    assert_true (len > 0);
    assert_int_equal (event_frame_decode (buf, (size_t) len, &route, &d), WIRE_ERR_INVALID);
    /* A topic field that disagrees with the route. */
    snprintf (m.u.event_event.topic, sizeof m.u.event_event.topic, "metrics.other");
    len = event_frame_encode ("metrics.x", &m, buf, sizeof buf);
    assert_int_equal (event_frame_decode (buf, (size_t) len, &route, &d), WIRE_ERR_INVALID);
    /* No NUL at all. */
    memset (buf, 'a', sizeof buf);
    assert_int_equal (event_frame_decode (buf, sizeof buf, &route, &d), WIRE_ERR_MALFORMED);
}

static void
test_topics (void **state)
{
    assert_true (event_topic_valid ("metrics.n1.web"));
    assert_false (event_topic_valid ("$snap.x"));
    assert_false (event_topic_valid (""));
    assert_false (event_topic_valid ("a b"));
    assert_true (event_topic_is_state ("metrics.n1.web"));
    assert_true (event_topic_is_state ("service.db"));
    assert_true (event_topic_is_state ("member.n2"));
    assert_true (event_topic_is_state ("shed.n1.web"));
    assert_false (event_topic_is_state ("log.n1.web.stdout"));
    assert_false (event_topic_is_state ("proc.n1.web"));
    assert_true (event_node_valid ("node-1_a"));
    assert_false (event_node_valid ("node.1"));
}

/* The direct batch encoder writes exactly what the generic one does, for
 * every integer width and sign, optional fields absent or present, str8
 * kinds and bin8/bin16 payloads, and refuses what it refuses. */
static void
test_batch_encode (void **state)
{
    (void) state;
    static const uint64_t u[] = { 1,     31,    127,        128,        255,       256,
                                  65535, 65536, UINT32_MAX, 1ull << 32, UINT64_MAX };
    static const int64_t t[] = {
        0,         -1,  -32, -33,   -128,  -129,      -32768,    -32769,          INT32_MIN,
        INT64_MIN, 127, 128, 65535, 65536, 1ll << 40, INT64_MAX, 1733600000000000
    };
    static event_item_t items[EVENT_BATCH_MAX];
    static uint8_t pay[EVENT_BATCH_MAX][300];
    static uint8_t a[EVENT_BATCH_MAX * 400 + 1024], b[sizeof a];
    uint32_t rnd = 12345;
    for (int round = 0; round < 400; round++) {
        event_msg_t m;
        memset (&m, 0, sizeof m);
        m.hdr.type = EVENT_BATCH;
        event_batch_t *eb = &m.u.event_batch;
        snprintf (eb->origin, sizeof eb->origin, "%s",
                  round % 2 ? "n1" : "node-with-a-long-name_01");
        eb->boot = u[round % 11] ^ (uint64_t) round;
        if (round % 3 == 0)
            snprintf (eb->kind, sizeof eb->kind, "%s",
                      round % 2 ? "agent.log" : "kind-of-thirty-two-bytes-long...");
        size_t n = round < 300 ? (size_t) (round % 20) + 1 : EVENT_BATCH_MAX - (size_t) (round % 3);
        for (size_t i = 0; i < n; i++) {
            rnd = rnd * 1103515245u + 12345u;
            items[i].seq = u[(rnd >> 8) % 11];
            items[i].tseq = (rnd >> 4) % 3 ? u[(rnd >> 12) % 11] : 0;
            items[i].time_us = t[(rnd >> 16) % 17];
            size_t pl = (rnd >> 20) % 4 == 0 ? 0 : (rnd >> 22) % 300;
            memset (pay[i], (int) (rnd & 0xff), pl);
            items[i].payload.data = pl ? pay[i] : NULL;
            items[i].payload.len = pl;
        }
        eb->items.n = n;
        eb->items.items = items;
        long la = event_frame_encode ("log.n1.web.stdout", &m, a, sizeof a);
        long lb = event_batch_encode ("log.n1.web.stdout", eb, b, sizeof b);
        assert_true (la > 0);
        assert_int_equal (la, lb);
        assert_memory_equal (a, b, (size_t) la);
        event_peek_t pk;
        assert_int_equal (event_frame_peek (b, (size_t) lb, &pk), 0);
        assert_int_equal (pk.nitems, n);
        /* The walk (fast form, or the generic reader for negative times)
         * gives back every field. */
        const uint8_t *pos = pk.items;
        event_item_view_t v;
        for (size_t i = 0; i < n; i++) {
            assert_int_equal (event_batch_next (&pk, &pos, &v), 0);
            assert_true (v.seq == items[i].seq && v.tseq == items[i].tseq);
            assert_true (v.time_us == items[i].time_us);
            assert_int_equal (v.payload_len, items[i].payload.len);
            if (v.payload_len)
                assert_memory_equal (v.payload, items[i].payload.data, v.payload_len);
        }
        assert_int_equal (event_batch_next (&pk, &pos, &v), -1);
    }
    /* Items in other shapes than the encoder's (keys out of order, an
     * explicit tseq 0, an unknown key, str8 payload refused, a truncated
     * item) go through the generic reader: the same answers as before. */
    static const struct {
        uint8_t bytes[16];
        size_t len;
        int ok;
        uint64_t seq, tseq;
        int64_t t;
        size_t plen;
    } odd[] = {
        { { 0x83, 0x02, 0x05, 0x00, 0x07, 0x03, 0xc4, 0x01, 'x' }, 9, 0, 7, 0, 5, 1 },
        { { 0x83, 0x00, 0x07, 0x01, 0x00, 0x02, 0x05 }, 7, 0, 7, 0, 5, 0 },
        { { 0x83, 0x00, 0x07, 0x02, 0x05, 0x09, 0x01 }, 7, 0, 7, 0, 5, 0 },
        { { 0x83, 0x00, 0x07, 0x02, 0x05, 0x03, 0xa1, 'x' }, 8, -1, 0, 0, 0, 0 },
        { { 0x83, 0x00, 0x07, 0x02, 0x05, 0x03, 0xc4, 0x05, 'x' }, 9, -1, 0, 0, 0, 0 },
        { { 0x82, 0x00, 0x00, 0x02, 0x05 }, 5, -1, 0, 0, 0, 0 },
        { { 0x82, 0x00, 0xcd, 0x01 }, 4, -1, 0, 0, 0, 0 },
        { { 0x82, 0x00, 0xcd, 0x01, 0x00, 0x02, 0xd0, 0x80 }, 8, 0, 256, 0, -128, 0 },
    };
    for (size_t k = 0; k < sizeof odd / sizeof odd[0]; k++) {
        uint8_t f[64] = "t";
        size_t fl = 2;
        static const uint8_t head[] = { 0x85, 0x00, 0x02, 0x01, 0x03, 0x02, 0xa2,
                                        'n',  '1',  0x03, 0x01, 0x0a, 0x91 };
        memcpy (f + fl, head, sizeof head);
        fl += sizeof head;
        memcpy (f + fl, odd[k].bytes, odd[k].len);
        fl += odd[k].len;
        event_peek_t pk;
        int rc = event_frame_peek (f, fl, &pk);
        assert_int_equal (rc, odd[k].ok);
        if (rc)
            continue;
        const uint8_t *pos = pk.items;
        event_item_view_t v;
        assert_int_equal (event_batch_next (&pk, &pos, &v), 0);
        assert_true (v.seq == odd[k].seq && v.tseq == odd[k].tseq && v.time_us == odd[k].t);
        assert_int_equal (v.payload_len, odd[k].plen);
    }
    /* Big payloads: bin16. */
    static uint8_t big[EVENT_BATCH_ITEM_MAX];
    memset (big, 7, sizeof big);
    event_msg_t m;
    memset (&m, 0, sizeof m);
    m.hdr.type = EVENT_BATCH;
    event_batch_t *eb = &m.u.event_batch;
    snprintf (eb->origin, sizeof eb->origin, "n1");
    items[0] = (event_item_t){ .seq = 1, .time_us = 5, .payload = { big, sizeof big } };
    items[1] = (event_item_t){ .seq = 2, .tseq = 9, .time_us = 6, .payload = { big, 300 } };
    eb->items.n = 2;
    eb->items.items = items;
    long la = event_frame_encode ("t", &m, a, sizeof a);
    assert_true (la > 0);
    assert_int_equal (event_batch_encode ("t", eb, b, sizeof b), la);
    assert_memory_equal (a, b, (size_t) la);
    /* Refused: what the generic encoder refuses, and too little room. */
    assert_int_equal (event_batch_encode ("t", eb, b, 100), WIRE_ERR_TOO_BIG);
    items[1].seq = 0;
    assert_int_equal (event_batch_encode ("t", eb, b, sizeof b), WIRE_ERR_INVALID);
    items[1].seq = 2;
    items[1].payload.len = EVENT_BATCH_ITEM_MAX + 1;
    assert_int_equal (event_batch_encode ("t", eb, b, sizeof b), WIRE_ERR_INVALID);
    items[1].payload.len = 1;
    eb->items.n = 0;
    assert_int_equal (event_batch_encode ("t", eb, b, sizeof b), WIRE_ERR_INVALID);
    eb->items.n = 2;
    snprintf (eb->kind, sizeof eb->kind, "a b");
    assert_int_equal (event_batch_encode ("t", eb, b, sizeof b), WIRE_ERR_INVALID);
    eb->kind[0] = 0;
    snprintf (eb->origin, sizeof eb->origin, "n.1");
    assert_int_equal (event_batch_encode ("t", eb, b, sizeof b), WIRE_ERR_INVALID);
    snprintf (eb->origin, sizeof eb->origin, "n1");
    assert_int_equal (event_batch_encode ("", eb, b, sizeof b), WIRE_ERR_INVALID);
    assert_true (event_batch_encode ("t", eb, b, sizeof b) > 0);
}

int
main (void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test (test_roundtrip),
        cmocka_unit_test (test_reject),
        cmocka_unit_test (test_topics),
        cmocka_unit_test (test_batch_encode),
    };
    return cmocka_run_group_tests (tests, NULL, NULL);
}
