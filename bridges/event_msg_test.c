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

int
main (void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test (test_roundtrip),
        cmocka_unit_test (test_reject),
        cmocka_unit_test (test_topics),
    };
    return cmocka_run_group_tests (tests, NULL, NULL);
}
