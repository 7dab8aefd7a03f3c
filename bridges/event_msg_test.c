/* event_msg_test.c - the event envelope codec, frame layout and topic rules. */
#include "bridges/event_msg.h"
#include "bridges/event_v2_check.h"

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
            /* Seqs strictly increase (version 3 carries no other), by steps
             * of every integer width; a batch ends where the next would
             * wrap. */
            uint64_t step = u[(rnd >> 8) % 11], prev = i ? items[i - 1].seq : 0;
            if (prev + step <= prev) {
                n = i;
                break;
            }
            items[i].seq = prev + step;
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
        long lb = event_batch_encode ("log.n1.web.stdout", eb, EVENT_VERSION, b, sizeof b);
        assert_true (la > 0);
        assert_int_equal (la, lb);
        assert_memory_equal (a, b, (size_t) la);
        assert_false (event_v2_batch_ok (b, (size_t) lb)); /* items without key 0 */
        event_peek_t pk;
        assert_int_equal (event_frame_peek (b, (size_t) lb, &pk), 0);
        assert_int_equal (pk.nitems, n);
        /* The walk (fast form, or the generic reader for negative times)
         * gives back every field. */
        event_batch_pos_t pos;
        event_batch_start (&pk, &pos);
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
        /* The full decoder gives back the same values. */
        event_msg_t d;
        const char *route;
        assert_int_equal (event_frame_decode (b, (size_t) lb, &route, &d), 0);
        assert_int_equal (d.hdr.version, EVENT_VERSION);
        assert_int_equal (d.u.event_batch.items.n, n);
        for (size_t i = 0; i < n; i++) {
            const event_item_t *x = &d.u.event_batch.items.items[i];
            assert_true (x->seq == items[i].seq && x->tseq == items[i].tseq);
            assert_true (x->time_us == items[i].time_us && x->dseq == 0 && x->dtime == 0);
        }
        wire_msg_free (&event_proto, &d);
        /* The same batch at version 2 (values, as a version-2 node sends
         * it): read back the same, by both readers. */
        m.hdr.version = 2;
        long l2 = event_frame_encode ("log.n1.web.stdout", &m, a, sizeof a);
        assert_true (l2 > 0);
        assert_int_equal (event_frame_peek (a, (size_t) l2, &pk), 0);
        assert_int_equal (pk.version, 2);
        event_batch_start (&pk, &pos);
        for (size_t i = 0; i < n; i++) {
            assert_int_equal (event_batch_next (&pk, &pos, &v), 0);
            assert_true (v.seq == items[i].seq && v.tseq == items[i].tseq);
            assert_true (v.time_us == items[i].time_us);
            assert_int_equal (v.payload_len, items[i].payload.len);
        }
        assert_int_equal (event_frame_decode (a, (size_t) l2, &route, &d), 0);
        assert_int_equal (d.hdr.version, 2);
        for (size_t i = 0; i < n; i++)
            assert_true (d.u.event_batch.items.items[i].seq == items[i].seq
                         && d.u.event_batch.items.items[i].time_us == items[i].time_us);
        wire_msg_free (&event_proto, &d);
        /* The bus's version-2 encoder (while a member reads no later):
         * the generic encoder's bytes, except that it writes time_us 0
         * too (the generic one leaves a 0 out, which a version-2 reader
         * refuses); a version-2 reader takes it, a version-3 one reads
         * back every value. */
        long l2d = event_batch_encode ("log.n1.web.stdout", eb, EVENT_VERSION_BATCH, b, sizeof b);
        assert_true (l2d >= l2);
        bool zero_time = false;
        for (size_t i = 0; i < n; i++)
            zero_time = zero_time || items[i].time_us == 0;
        if (!zero_time) {
            assert_int_equal (l2d, l2);
            assert_memory_equal (a, b, (size_t) l2);
        }
        assert_true (event_v2_batch_ok (b, (size_t) l2d));
        assert_int_equal (event_frame_peek (b, (size_t) l2d, &pk), 0);
        assert_int_equal (pk.version, EVENT_VERSION_BATCH);
        event_batch_start (&pk, &pos);
        for (size_t i = 0; i < n; i++) {
            assert_int_equal (event_batch_next (&pk, &pos, &v), 0);
            assert_true (v.seq == items[i].seq && v.tseq == items[i].tseq);
            assert_true (v.time_us == items[i].time_us);
            assert_int_equal (v.payload_len, items[i].payload.len);
            if (v.payload_len)
                assert_memory_equal (v.payload, items[i].payload.data, v.payload_len);
        }
        assert_int_equal (event_batch_next (&pk, &pos, &v), -1);
        m.hdr.version = 0;
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
        event_batch_pos_t pos;
        event_batch_start (&pk, &pos);
        event_item_view_t v;
        assert_int_equal (event_batch_next (&pk, &pos, &v), 0);
        assert_true (v.seq == odd[k].seq && v.tseq == odd[k].tseq && v.time_us == odd[k].t);
        assert_int_equal (v.payload_len, odd[k].plen);
    }
    /* Version 3 (deltas under keys 4-6) in odd shapes, two items each:
     * both readers give the same answers and values. */
    static const struct {
        uint8_t bytes[40];
        size_t len;
        int ok;
        uint64_t seq2, tseq2;
        int64_t t2;
    } odd3[] = {
        /* the encoder's form: seq 7, tseq 3, time 5; then +1, +1, +0 */
        { { 0x83, 0x04, 0x07, 0x05, 0x03, 0x06, 0x05, 0x82, 0x04, 0x01, 0x05, 0x01 },
          12,
          0,
          8,
          4,
          5 },
        /* a negative time delta, keys out of order, an unknown key */
        { { 0x82, 0x04, 0x07, 0x06, 0x05, 0x83, 0x06, 0xd0, 0x80, 0x04, 0x02, 0x09, 0x01 },
          13,
          0,
          9,
          0,
          -123 },
        /* version-2 keys in a version-3 batch are ignored... */
        { { 0x82, 0x04, 0x07, 0x00, 0x63, 0x82, 0x04, 0x01, 0x02, 0x63 }, 10, 0, 8, 0, 0 },
        /* ...so an item with only them has no delta: refused */
        { { 0x81, 0x04, 0x07, 0x82, 0x00, 0x08, 0x02, 0x05 }, 8, -1, 0, 0, 0 },
        /* a delta of 0 (seqs must rise): refused */
        { { 0x81, 0x04, 0x07, 0x81, 0x04, 0x00 }, 6, -1, 0, 0, 0 },
        /* seqs past 2^64: refused */
        { { 0x81, 0x04, 0xcf, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x81, 0x04, 0x01 },
          14,
          -1,
          0,
          0,
          0 },
        /* tseq and time wrap modulo 2^64 */
        { { 0x83, 0x04, 0x01, 0x05, 0xcf, 0xff, 0xff, 0xff, 0xff, 0xff,
            0xff, 0xff, 0xff, 0x06, 0xd3, 0x80, 0,    0,    0,    0,
            0,    0,    0,    0x83, 0x04, 0x01, 0x05, 0x02, 0x06, 0xff },
          30,
          0,
          2,
          1,
          INT64_MAX },
    };
    for (size_t k = 0; k < sizeof odd3 / sizeof odd3[0]; k++) {
        uint8_t f[64] = "t";
        size_t fl = 2;
        static const uint8_t head[] = { 0x85, 0x00, 0x03, 0x01, 0x03, 0x02, 0xa2,
                                        'n',  '1',  0x03, 0x01, 0x0a, 0x92 };
        memcpy (f + fl, head, sizeof head);
        fl += sizeof head;
        memcpy (f + fl, odd3[k].bytes, odd3[k].len);
        fl += odd3[k].len;
        event_peek_t pk;
        int rc = event_frame_peek (f, fl, &pk);
        assert_int_equal (rc, odd3[k].ok);
        event_msg_t d;
        const char *route;
        assert_int_equal (event_frame_decode (f, fl, &route, &d) == 0, odd3[k].ok == 0);
        if (rc)
            continue;
        event_batch_pos_t pos;
        event_batch_start (&pk, &pos);
        event_item_view_t v;
        assert_int_equal (event_batch_next (&pk, &pos, &v), 0);
        assert_int_equal (event_batch_next (&pk, &pos, &v), 0);
        assert_true (v.seq == odd3[k].seq2 && v.tseq == odd3[k].tseq2 && v.time_us == odd3[k].t2);
        const event_item_t *x = &d.u.event_batch.items.items[1];
        assert_true (x->seq == v.seq && x->tseq == v.tseq && x->time_us == v.time_us);
        wire_msg_free (&event_proto, &d);
        /* The same items under a version-2 envelope (what a version-2
         * reader does with them): no key 0, refused by both readers. */
        f[2 + 2] = 0x02;
        assert_int_equal (event_frame_peek (f, fl, &pk), -1);
        assert_true (event_frame_decode (f, fl, &route, &d) != 0);
    }
    /* A later version's batch is refused, not read as this one's. */
    {
        uint8_t f[64] = "t";
        static const uint8_t later[] = { 0x85, 0x00, 0x04, 0x01, 0x03, 0x02, 0xa2, 'n',
                                         '1',  0x03, 0x01, 0x0a, 0x91, 0x81, 0x04, 0x07 };
        memcpy (f + 2, later, sizeof later);
        event_peek_t pk;
        assert_int_equal (event_frame_peek (f, 2 + sizeof later, &pk), -1);
        f[2 + 2] = 0x03;
        assert_int_equal (event_frame_peek (f, 2 + sizeof later, &pk), 0);
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
    assert_int_equal (event_batch_encode ("t", eb, EVENT_VERSION, b, sizeof b), la);
    assert_memory_equal (a, b, (size_t) la);
    /* Refused: what the generic encoder refuses, and too little room. */
    assert_int_equal (event_batch_encode ("t", eb, EVENT_VERSION, b, 100), WIRE_ERR_TOO_BIG);
    items[1].seq = 0;
    assert_int_equal (event_batch_encode ("t", eb, EVENT_VERSION, b, sizeof b), WIRE_ERR_INVALID);
    assert_int_equal (event_frame_encode ("t", &m, b, sizeof b), WIRE_ERR_INVALID);
    items[1].seq = 1; /* not rising: version 3 cannot carry it, version 2 can */
    assert_int_equal (event_batch_encode ("t", eb, EVENT_VERSION, b, sizeof b), WIRE_ERR_INVALID);
    assert_int_equal (event_frame_encode ("t", &m, b, sizeof b), WIRE_ERR_INVALID);
    m.hdr.version = 2;
    assert_true (event_frame_encode ("t", &m, b, sizeof b) > 0);
    long l2 = event_batch_encode ("t", eb, EVENT_VERSION_BATCH, b, sizeof b);
    assert_true (l2 > 0 && event_v2_batch_ok (b, (size_t) l2));
    m.hdr.version = 0;
    /* Versions the direct encoder does not write. */
    assert_int_equal (event_batch_encode ("t", eb, EVENT_VERSION_BATCH - 1, b, sizeof b),
                      WIRE_ERR_INVALID);
    assert_int_equal (event_batch_encode ("t", eb, EVENT_VERSION + 1, b, sizeof b),
                      WIRE_ERR_INVALID);
    items[1].seq = 2;
    items[1].payload.len = EVENT_BATCH_ITEM_MAX + 1;
    assert_int_equal (event_batch_encode ("t", eb, EVENT_VERSION, b, sizeof b), WIRE_ERR_INVALID);
    items[1].payload.len = 1;
    eb->items.n = 0;
    assert_int_equal (event_batch_encode ("t", eb, EVENT_VERSION, b, sizeof b), WIRE_ERR_INVALID);
    eb->items.n = 2;
    snprintf (eb->kind, sizeof eb->kind, "a b");
    assert_int_equal (event_batch_encode ("t", eb, EVENT_VERSION, b, sizeof b), WIRE_ERR_INVALID);
    eb->kind[0] = 0;
    snprintf (eb->origin, sizeof eb->origin, "n.1");
    assert_int_equal (event_batch_encode ("t", eb, EVENT_VERSION, b, sizeof b), WIRE_ERR_INVALID);
    snprintf (eb->origin, sizeof eb->origin, "n1");
    assert_int_equal (event_batch_encode ("", eb, EVENT_VERSION, b, sizeof b), WIRE_ERR_INVALID);
    assert_true (event_batch_encode ("t", eb, EVENT_VERSION, b, sizeof b) > 0);
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
