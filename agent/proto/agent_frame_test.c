/*
 * agent_frame_test.c - framing: the incremental reader (every split point,
 * oversize and bad type refused at the header), chunk streams (send side
 * and reassembly bounds), the outbound queue and the token bucket.
 */
#include "agent/proto/agent_proto.h"
#include "agent/proto/agent_reader.h"
#include "agent/proto/agent_streams.h"
#include "agent/proto/agent_outq.h"
#include "agent/proto/agent_bucket.h"
#include "agent/proto/agent_sample.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cmocka.h>

/* Concatenate frames of several sample messages into one buffer. */
typedef struct {
    uint8_t *data;
    size_t len;
    size_t frames;
} s_buf_t;

static int
s_collect (void *arg, uint8_t *frame, size_t len)
{
    s_buf_t *b = arg;
    b->data = realloc (b->data, b->len + len);
    assert_non_null (b->data);
    memcpy (b->data + b->len, frame, len);
    b->len += len;
    b->frames++;
    free (frame);
    return 0;
}

static void
test_reader_every_split (void **state)
{
    s_buf_t b = { 0 };
    unsigned types[] = { AGENT_HELLO, AGENT_METRICS, AGENT_LOG, AGENT_HEARTBEAT, AGENT_PROVISION };
    size_t ntypes = sizeof types / sizeof types[0];
    for (size_t i = 0; i < ntypes; i++) {
        agent_msg_t m;
        agent_sample (types[i], &m);
        assert_int_equal (agent_frame_send (&m, AGENT_FRAME_MAX_DEFAULT, 1, s_collect, &b), 0);
    }
    assert_int_equal (b.frames, ntypes);

    /* Every chunk size from 1 byte to the whole buffer gives the same frames. */
    for (size_t step = 1; step <= b.len; step += step < 16 ? 1 : 7) {
        agent_reader_t *r = agent_reader_new (AGENT_FRAME_MAX_DEFAULT);
        assert_non_null (r);
        size_t got = 0;
        for (size_t pos = 0; pos < b.len;) {
            size_t n = b.len - pos < step ? b.len - pos : step;
            size_t off = 0;
            while (off < n) {
                size_t used = 0;
                int rc = agent_reader_feed (r, b.data + pos + off, n - off, &used);
                assert_true (rc >= 0);
                off += used;
                if (rc == AGENT_READ_FRAME) {
                    size_t plen = 0;
                    const uint8_t *p = agent_reader_payload (r, &plen);
                    agent_msg_t d;
                    assert_int_equal (agent_frame_decode (agent_reader_type (r), p, plen, &d, NULL),
                                      WIRE_OK);
                    assert_int_equal (d.hdr.type, types[got]);
                    wire_msg_free (&agent_proto, &d);
                    got++;
                }
                else
                    assert_int_equal (off, n); /* all taken */
            }
            pos += n;
        }
        assert_int_equal (got, ntypes);
        assert_int_equal (agent_reader_pending (r), 0);
        agent_reader_destroy (&r);
        assert_null (r);
    }
    free (b.data);
}

static void
test_reader_oversize_and_type (void **state)
{
    agent_reader_t *r = agent_reader_new (1024);
    /* Length 0xffffffff: refused with the 5th byte, before any payload
     * arrives or any buffer is sized. */
    uint8_t big[] = { AGENT_LOG, 0xff, 0xff, 0xff, 0xff, 'x', 'y' };
    size_t used = 0;
    assert_int_equal (agent_reader_feed (r, big, sizeof big, &used), AGENT_READ_ERR_OVERSIZE);
    assert_int_equal (used, 5);
    /* Sticky. */
    assert_int_equal (agent_reader_feed (r, big, 1, &used), AGENT_READ_ERR_OVERSIZE);
    agent_reader_destroy (&r);

    /* One byte over the limit, split header. */
    r = agent_reader_new (1024);
    uint8_t over[] = { AGENT_LOG, 0, 0, 4, 1 };
    assert_int_equal (agent_reader_feed (r, over, 3, &used), AGENT_READ_MORE);
    assert_int_equal (agent_reader_feed (r, over + 3, 2, &used), AGENT_READ_ERR_OVERSIZE);
    agent_reader_destroy (&r);

    /* Bad type byte: refused at once, without waiting for the length. */
    uint8_t bad[] = { 0, 0, 0, 0, 1 };
    r = agent_reader_new (1024);
    assert_int_equal (agent_reader_feed (r, bad, 1, &used), AGENT_READ_ERR_TYPE);
    agent_reader_destroy (&r);
    bad[0] = AGENT_TYPE_MAX + 1;
    r = agent_reader_new (1024);
    assert_int_equal (agent_reader_feed (r, bad, sizeof bad, &used), AGENT_READ_ERR_TYPE);
    assert_int_equal (used, 1);
    agent_reader_destroy (&r);

    /* Zero-length frame: framing is fine, decode says truncated. */
    uint8_t zero[] = { AGENT_HEARTBEAT, 0, 0, 0, 0 };
    r = agent_reader_new (1024);
    assert_int_equal (agent_reader_feed (r, zero, sizeof zero, &used), AGENT_READ_FRAME);
    size_t plen = 99;
    const uint8_t *p = agent_reader_payload (r, &plen);
    assert_int_equal (plen, 0);
    agent_msg_t d;
    assert_int_equal (agent_frame_decode (AGENT_HEARTBEAT, p, plen, &d, NULL), WIRE_ERR_TRUNCATED);
    agent_reader_destroy (&r);

    /* Type byte disagrees with the payload's type. */
    agent_msg_t m;
    agent_sample (AGENT_HEARTBEAT, &m);
    uint8_t *f = NULL;
    size_t flen = 0;
    assert_int_equal (agent_frame_encode (&m, 1024, &f, &flen), WIRE_OK);
    assert_int_equal (agent_frame_decode (AGENT_LOG, f + 5, flen - 5, &d, NULL), WIRE_ERR_TYPE);
    free (f);
    agent_reader_destroy (&r); /* NULL-safe */
}

/* A provisioning message with a 3 MiB input goes as a chunk stream and
 * comes back identical. */
static void
test_stream_round_trip (void **state)
{
    agent_msg_t m;
    agent_sample (AGENT_PROVISION, &m);
    size_t big = 3u << 20;
    uint8_t *input = malloc (big);
    for (size_t i = 0; i < big; i++)
        input[i] = (uint8_t) (i * 31);
    m.u.agent_provision.steps.items[0].input.data = input;
    m.u.agent_provision.steps.items[0].input.len = big;

    uint8_t *single = NULL;
    size_t single_len = 0;
    assert_int_equal (agent_frame_encode (&m, AGENT_FRAME_MAX_DEFAULT, &single, &single_len),
                      WIRE_ERR_TOO_BIG);

    s_buf_t b = { 0 };
    assert_int_equal (agent_frame_send (&m, AGENT_FRAME_MAX_DEFAULT, 9, s_collect, &b), 0);
    assert_true (b.frames >= 6);

    agent_reader_t *r = agent_reader_new (AGENT_FRAME_MAX_DEFAULT);
    agent_streams_t *st =
        agent_streams_new (AGENT_STREAM_MAX, AGENT_STREAMS_TOTAL_MAX, AGENT_STREAMS_OPEN_MAX);
    size_t pos = 0;
    int complete = 0;
    while (pos < b.len) {
        size_t used = 0;
        int rc = agent_reader_feed (r, b.data + pos, b.len - pos, &used);
        pos += used;
        if (rc != AGENT_READ_FRAME)
            continue;
        size_t plen;
        const uint8_t *p = agent_reader_payload (r, &plen);
        assert_true (plen <= AGENT_FRAME_MAX_DEFAULT);
        agent_msg_t c;
        assert_int_equal (agent_frame_decode (agent_reader_type (r), p, plen, &c, NULL), 0);
        assert_int_equal (c.hdr.type, AGENT_CHUNK);
        uint8_t type = 0;
        uint8_t *payload = NULL;
        size_t len = 0;
        rc = agent_streams_add (st, &c.u.agent_chunk, &type, &payload, &len);
        wire_msg_free (&agent_proto, &c);
        assert_true (rc >= 0);
        if (rc == AGENT_STREAM_COMPLETE) {
            complete++;
            assert_int_equal (type, AGENT_PROVISION);
            agent_msg_t d;
            assert_int_equal (agent_frame_decode (type, payload, len, &d, NULL), WIRE_OK);
            assert_int_equal (d.u.agent_provision.steps.items[0].input.len, big);
            assert_memory_equal (d.u.agent_provision.steps.items[0].input.data, input, big);
            wire_msg_free (&agent_proto, &d);
            free (payload);
        }
        else
            assert_true (agent_streams_bytes (st) > 0);
    }
    assert_int_equal (complete, 1);
    assert_int_equal (agent_streams_bytes (st), 0);
    assert_int_equal (agent_streams_open (st), 0);
    agent_streams_destroy (&st);
    agent_reader_destroy (&r);
    free (b.data);
    free (input);
}

static agent_chunk_t
s_chunk (uint64_t id, uint64_t off, uint64_t total, bool final, uint8_t *data, size_t n)
{
    agent_chunk_t c;
    memset (&c, 0, sizeof c);
    c.stream = id;
    c.type = AGENT_PROVISION;
    c.offset = off;
    c.total = total;
    c.final = final;
    c.data.data = data;
    c.data.len = n;
    return c;
}

static void
test_stream_bounds (void **state)
{
    static uint8_t data[4096];
    uint8_t type;
    uint8_t *payload = NULL;
    size_t len;
    agent_streams_t *st = agent_streams_new (8192, 10000, 2);

    /* Over the per-stream bound: refused at the first chunk. */
    agent_chunk_t c = s_chunk (1, 0, 8193, false, data, 10);
    assert_int_equal (agent_streams_add (st, &c, &type, &payload, &len), AGENT_STREAM_ERR_TOO_BIG);
    assert_int_equal (agent_streams_open (st), 0);

    /* A stream must start at 0 and continue where it is. */
    c = s_chunk (1, 5, 100, false, data, 10);
    assert_int_equal (agent_streams_add (st, &c, &type, &payload, &len), AGENT_STREAM_ERR_ORDER);
    c = s_chunk (1, 0, 100, false, data, 10);
    assert_int_equal (agent_streams_add (st, &c, &type, &payload, &len), AGENT_STREAM_PARTIAL);
    c = s_chunk (1, 20, 100, false, data, 10);
    assert_int_equal (agent_streams_add (st, &c, &type, &payload, &len), AGENT_STREAM_ERR_ORDER);
    assert_int_equal (agent_streams_open (st), 0); /* the bad stream is gone */

    /* Type or total changing mid-stream. */
    c = s_chunk (2, 0, 100, false, data, 10);
    assert_int_equal (agent_streams_add (st, &c, &type, &payload, &len), AGENT_STREAM_PARTIAL);
    c = s_chunk (2, 10, 200, false, data, 10);
    assert_int_equal (agent_streams_add (st, &c, &type, &payload, &len), AGENT_STREAM_ERR_MISMATCH);

    /* Open-stream limit. */
    c = s_chunk (3, 0, 100, false, data, 1);
    assert_int_equal (agent_streams_add (st, &c, &type, &payload, &len), AGENT_STREAM_PARTIAL);
    c = s_chunk (4, 0, 100, false, data, 1);
    assert_int_equal (agent_streams_add (st, &c, &type, &payload, &len), AGENT_STREAM_PARTIAL);
    c = s_chunk (5, 0, 100, false, data, 1);
    assert_int_equal (agent_streams_add (st, &c, &type, &payload, &len), AGENT_STREAM_ERR_LIMIT);
    agent_streams_destroy (&st);

    /* Total bytes in flight: two streams of 8 KiB cannot both fill. */
    st = agent_streams_new (8192, 10000, 4);
    c = s_chunk (1, 0, 8192, false, data, 4096);
    assert_int_equal (agent_streams_add (st, &c, &type, &payload, &len), AGENT_STREAM_PARTIAL);
    c = s_chunk (2, 0, 8192, false, data, 4096);
    assert_int_equal (agent_streams_add (st, &c, &type, &payload, &len), AGENT_STREAM_PARTIAL);
    c = s_chunk (1, 4096, 8192, true, data, 4096);
    assert_int_equal (agent_streams_add (st, &c, &type, &payload, &len), AGENT_STREAM_ERR_LIMIT);
    assert_true (agent_streams_bytes (st) <= 10000);
    /* Memory follows what arrived, not what was announced. */
    c = s_chunk (9, 0, 8192, false, data, 1);
    assert_int_equal (agent_streams_add (st, &c, &type, &payload, &len), AGENT_STREAM_PARTIAL);
    assert_true (agent_streams_bytes (st) <= 4096 + 1024);
    /* Full but not final is an error; final completes. */
    c = s_chunk (2, 4096, 8192, false, data, 4096);
    assert_int_equal (agent_streams_add (st, &c, &type, &payload, &len), AGENT_STREAM_ERR_ORDER);
    c = s_chunk (7, 0, 3, true, data, 3);
    assert_int_equal (agent_streams_add (st, &c, &type, &payload, &len), AGENT_STREAM_COMPLETE);
    assert_int_equal (len, 3);
    free (payload);
    agent_streams_destroy (&st);
}

static uint8_t *
s_frame (size_t len, uint8_t fill)
{
    uint8_t *f = malloc (len);
    memset (f, fill, len);
    return f;
}

static void
test_outq (void **state)
{
    int sv[2];
    assert_int_equal (socketpair (AF_UNIX, SOCK_STREAM, 0, sv), 0);

    /* Drop-oldest: 3 frames max; the 4th and 5th push out the oldest. */
    agent_outq_t *q = agent_outq_new (3, 1 << 20, true);
    for (int i = 0; i < 5; i++)
        assert_int_equal (agent_outq_push (q, s_frame (10, (uint8_t) i), 10), 0);
    assert_int_equal (agent_outq_frames (q), 3);
    assert_int_equal (agent_outq_take_dropped (q), 2);
    assert_int_equal (agent_outq_take_dropped (q), 0);
    assert_int_equal (agent_outq_dropped_total (q), 2);
    /* push_front goes first. */
    assert_int_equal (agent_outq_push_front (q, s_frame (10, 9), 10), 0);
    assert_int_equal (agent_outq_flush (q, sv[0], 100), 4);
    uint8_t got[40];
    assert_int_equal (read (sv[1], got, sizeof got), 40);
    assert_int_equal (got[0], 9);
    assert_int_equal (got[10], 2);
    assert_int_equal (got[20], 3);
    assert_int_equal (got[30], 4);
    /* Budget respected. */
    for (int i = 0; i < 3; i++)
        agent_outq_push (q, s_frame (10, (uint8_t) i), 10);
    assert_int_equal (agent_outq_flush (q, sv[0], 1), 1);
    assert_int_equal (agent_outq_frames (q), 2);
    agent_outq_clear (q);
    assert_int_equal (agent_outq_bytes (q), 0);
    agent_outq_destroy (&q);
    assert_null (q);

    /* Refuse-new: the host never drops what it already accepted. */
    q = agent_outq_new (10, 25, false);
    assert_int_equal (agent_outq_push (q, s_frame (10, 1), 10), 0);
    assert_int_equal (agent_outq_push (q, s_frame (10, 2), 10), 0);
    assert_int_equal (agent_outq_push (q, s_frame (10, 3), 10), -1);
    assert_int_equal (agent_outq_frames (q), 2);
    agent_outq_destroy (&q);

    /* A half-written head is never dropped: fill the socket, then push. */
    q = agent_outq_new (2, 1 << 24, true);
    size_t bigsz = 4u << 20;
    agent_outq_push (q, s_frame (bigsz, 7), bigsz);
    assert_int_equal (agent_outq_flush (q, sv[0], 100), 0); /* partial */
    agent_outq_push (q, s_frame (10, 8), 10);
    agent_outq_push (q, s_frame (10, 9), 10); /* drops the 8, not the head */
    assert_int_equal (agent_outq_frames (q), 2);
    assert_int_equal (agent_outq_take_dropped (q), 1);
    agent_outq_rewind (q);
    agent_outq_destroy (&q);
    close (sv[0]);
    close (sv[1]);
}

static void
test_bucket (void **state)
{
    agent_bucket_t b;
    agent_bucket_init (&b, 10, 5, 1000);
    for (int i = 0; i < 5; i++)
        assert_true (agent_bucket_take (&b, 1, 1000));
    assert_false (agent_bucket_take (&b, 1, 1000));
    assert_true (agent_bucket_wait_ms (&b, 1, 1000) > 0);
    assert_true (agent_bucket_take (&b, 1, 1100)); /* 100 ms = 1 token */
    assert_false (agent_bucket_take (&b, 1, 1100));
    assert_true (agent_bucket_take (&b, 5, 5000)); /* capped at burst */
    assert_false (agent_bucket_take (&b, 1, 5000));
    agent_bucket_init (&b, 0, 0, 0); /* unlimited */
    assert_true (agent_bucket_take (&b, 1e9, 0));
    assert_int_equal (agent_bucket_wait_ms (&b, 1e9, 0), 0);
}

int
main (void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test (test_reader_every_split),
        cmocka_unit_test (test_reader_oversize_and_type),
        cmocka_unit_test (test_stream_round_trip),
        cmocka_unit_test (test_stream_bounds),
        cmocka_unit_test (test_outq),
        cmocka_unit_test (test_bucket),
    };
    return cmocka_run_group_tests (tests, NULL, NULL);
}
