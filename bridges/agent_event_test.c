/*
 * agent_event_test.c - how agent events are named on the bus (topic and
 * kind, docs/agent.md "Events"), the CLOSE a disconnect is published as,
 * and the pool giving events back and out again.
 */
#include "bridges/agent_event.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

static agent_event_t *
s_event (agent_event_kind_t kind, unsigned type)
{
    agent_event_t *ev = agent_event_new ();
    assert_non_null (ev);
    memset (ev, 0, sizeof *ev);
    ev->kind = kind;
    snprintf (ev->node, sizeof ev->node, "node-1");
    snprintf (ev->shed, sizeof ev->shed, "dev-1");
    ev->msg.hdr.type = (uint16_t) type;
    return ev;
}

static void
test_topics_and_kinds (void **state)
{
    (void) state;
    char topic[256];
    agent_event_t *ev = s_event (AGENT_EVENT_MESSAGE, AGENT_LOG);
    snprintf (ev->msg.u.agent_log.stream, sizeof ev->msg.u.agent_log.stream, "web-out");
    assert_int_equal (agent_event_topic (ev, topic, sizeof topic), 24);
    assert_string_equal (topic, "log.node-1.dev-1.web-out");
    assert_string_equal (agent_event_kind (ev), "agent.log");
    /* Too small a buffer: refused, never cut. */
    assert_int_equal (agent_event_topic (ev, topic, 10), -1);
    agent_event_destroy (&ev);
    assert_null (ev);

    ev = s_event (AGENT_EVENT_MESSAGE, AGENT_SERVICE_HEALTH);
    snprintf (ev->msg.u.agent_service_health.name, sizeof ev->msg.u.agent_service_health.name,
              "web");
    agent_event_topic (ev, topic, sizeof topic);
    assert_string_equal (topic, "service.node-1.dev-1.web");
    assert_string_equal (agent_event_kind (ev), "agent.service_health");
    agent_event_destroy (&ev);

    ev = s_event (AGENT_EVENT_CONNECTED, AGENT_HELLO);
    agent_event_topic (ev, topic, sizeof topic);
    assert_string_equal (topic, "shed.node-1.dev-1");
    assert_string_equal (agent_event_kind (ev), "agent.hello");
    agent_event_destroy (&ev);
}

static void
test_disconnect_close (void **state)
{
    (void) state;
    const struct {
        const char *reason;
        uint64_t code;
    } cases[] = {
        { "abuse: rate", AGENT_CLOSE_ABUSE }, { "replaced", AGENT_CLOSE_REPLACED },
        { "timeout", AGENT_CLOSE_TIMEOUT },   { "no hello", AGENT_CLOSE_TIMEOUT },
        { "eof", AGENT_CLOSE_SHUTDOWN },
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        agent_event_t *ev = s_event (AGENT_EVENT_DISCONNECTED, 0);
        snprintf (ev->reason, sizeof ev->reason, "%s", cases[i].reason);
        assert_string_equal (agent_event_kind (ev), "agent.disconnected");
        agent_msg_t m;
        agent_event_close_msg (ev, &m);
        assert_int_equal (m.hdr.type, AGENT_CLOSE);
        assert_int_equal (m.u.agent_close.code, cases[i].code);
        assert_string_equal (m.u.agent_close.reason, cases[i].reason);
        agent_event_destroy (&ev);
    }
}

static void
test_pool (void **state)
{
    (void) state;
    /* More than a thread keeps at hand, given back and taken again. */
    agent_event_t *evs[200];
    for (size_t i = 0; i < 200; i++)
        evs[i] = s_event (AGENT_EVENT_MESSAGE, AGENT_METRICS);
    for (size_t i = 0; i < 200; i++)
        agent_event_destroy (&evs[i]);
    for (size_t i = 0; i < 200; i++)
        evs[i] = s_event (AGENT_EVENT_MESSAGE, AGENT_HEARTBEAT);
    for (size_t i = 0; i < 200; i++)
        agent_event_destroy (&evs[i]);
    agent_event_pool_drain ();
}

int
main (void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test (test_topics_and_kinds),
        cmocka_unit_test (test_disconnect_close),
        cmocka_unit_test (test_pool),
    };
    return cmocka_run_group_tests (tests, NULL, NULL);
}
