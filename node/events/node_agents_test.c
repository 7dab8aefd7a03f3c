/*
 * node_agents_test.c - catalog ids of agent services: unique for every
 * pair (shed, service) that has one, refused (never cut, never left
 * unwritten) for the pairs that do not fit a record name. The old id cut
 * the shed part: sheds `ab` and `ac` registering the same 62-byte name
 * both got ".<name>" and could deregister each other's service, and a
 * 63-byte name left the id unwritten. Also agent_check on service messages
 * and agent_logs, the log history ring.
 */
#include "node/events/node_agents.h"
#include "node/events/agent_check.h"
#include "node/events/agent_logs.h"

#include "cluster/records.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

static void
s_name (char *buf, size_t len, char c)
{
    memset (buf, c, len);
    buf[len] = '\0';
}

static void
test_service_ids (void **state)
{
    (void) state;
    char id[REC_NAME_MAX + 1], id2[REC_NAME_MAX + 1], name[64], shed[64];
    assert_int_equal (shed_agents_service_id ("dev-1", "web", id, sizeof id), 0);
    assert_string_equal (id, "dev-1.web");

    /* A 63-byte service name: no room for any shed: refused, id untouched. */
    s_name (name, 63, 'n');
    memset (id, 'X', sizeof id);
    assert_int_equal (shed_agents_service_id ("a", name, id, sizeof id), -1);
    assert_int_equal (id[0], 'X');

    /* 62 bytes: fits only with a one-letter shed; two sheds never share it. */
    s_name (name, 61, 'n');
    assert_int_equal (shed_agents_service_id ("a", name, id, sizeof id), 0);
    assert_int_equal (shed_agents_service_id ("b", name, id2, sizeof id2), 0);
    assert_string_not_equal (id, id2);
    assert_int_equal (strlen (id), REC_NAME_MAX);
    s_name (name, 62, 'n');
    assert_int_equal (shed_agents_service_id ("ab", name, id, sizeof id), -1);
    assert_int_equal (shed_agents_service_id ("ac", name, id2, sizeof id2), -1);

    /* Every length split that fits is whole and starts with "<shed>." */
    for (size_t sl = 1; sl <= 63; sl++)
        for (size_t nl = 1; nl <= 63; nl++) {
            s_name (shed, sl, 's');
            s_name (name, nl, 'n');
            int rc = shed_agents_service_id (shed, name, id, sizeof id);
            if (sl + 1 + nl > REC_NAME_MAX) {
                assert_int_equal (rc, -1);
                continue;
            }
            assert_int_equal (rc, 0);
            assert_int_equal (strlen (id), sl + 1 + nl);
            assert_memory_equal (id, shed, sl);
            assert_int_equal (id[sl], '.');
            assert_string_equal (id + sl + 1, name);
        }
    /* A buffer too small is refused too. */
    char small[8];
    assert_int_equal (shed_agents_service_id ("dev-1", "web-2", small, sizeof small), -1);
}

/* agent_check: what the node does with each service message, and the
 * per-shed bookkeeping node_agents keeps through it. */
static void
test_agent_check_services (void **state)
{
    (void) state;
    agent_check_shed_t s;
    agent_check_shed_init (&s, 2);
    agent_check_out_t out;
    agent_msg_t m;
    memset (&m, 0, sizeof m);

    /* Register: the record, not held until the catalog took it. */
    m.hdr.type = AGENT_SERVICE_REGISTER;
    snprintf (m.u.agent_service_register.name, sizeof m.u.agent_service_register.name, "web");
    snprintf (m.u.agent_service_register.protocol, sizeof m.u.agent_service_register.protocol,
              "tcp");
    m.u.agent_service_register.port = 8080;
    assert_int_equal (agent_check_msg (&s, "dev-1", &m, &out), 0);
    assert_int_equal (out.action, AGENT_CHECK_SERVICE_REGISTER);
    assert_string_equal (out.id, "dev-1.web");
    assert_string_equal (out.svc.id, "dev-1.web");
    assert_string_equal (out.svc.shed, "dev-1");
    assert_string_equal (out.svc.protocol, "tcp");
    assert_int_equal (out.svc.port, 8080);
    assert_int_equal (out.svc.check, REC_CHECK_NONE);
    assert_false (agent_check_held (&s, "dev-1.web", false));

    /* Health or deregister of what is not held: refused, not counted. */
    agent_msg_t h;
    memset (&h, 0, sizeof h);
    h.hdr.type = AGENT_SERVICE_HEALTH;
    snprintf (h.u.agent_service_health.name, sizeof h.u.agent_service_health.name, "web");
    h.u.agent_service_health.status = 2;
    assert_int_equal (agent_check_msg (&s, "dev-1", &h, &out), -1);
    assert_true (out.not_held);
    assert_false (out.count);
    assert_int_equal (agent_check_hold (&s, "dev-1.web"), 0);
    assert_int_equal (agent_check_msg (&s, "dev-1", &h, &out), 0);
    assert_int_equal (out.health, REC_HEALTH_WARNING);
    h.u.agent_service_health.status = 9;
    assert_int_equal (agent_check_msg (&s, "dev-1", &h, &out), 0);
    assert_int_equal (out.health, REC_HEALTH_CRITICAL);

    /* The cap: a second name fits, a third does not; the held one again does. */
    assert_int_equal (agent_check_hold (&s, "dev-1.db"), 0);
    snprintf (m.u.agent_service_register.name, sizeof m.u.agent_service_register.name, "cache");
    assert_int_equal (agent_check_msg (&s, "dev-1", &m, &out), -1);
    assert_int_equal (out.bad, AGENT_BAD_SERVICE_CAP);
    assert_int_equal (agent_check_hold (&s, "dev-1.cache"), -1);
    snprintf (m.u.agent_service_register.name, sizeof m.u.agent_service_register.name, "web");
    assert_int_equal (agent_check_msg (&s, "dev-1", &m, &out), 0);
    assert_int_equal (agent_check_hold (&s, "dev-1.web"), 0);
    assert_int_equal (s.n, 2);

    /* Deregister forgets it; another shed cannot name it. */
    agent_msg_t d;
    memset (&d, 0, sizeof d);
    d.hdr.type = AGENT_SERVICE_DEREGISTER;
    snprintf (d.u.agent_service_deregister.name, sizeof d.u.agent_service_deregister.name, "web");
    assert_int_equal (agent_check_msg (&s, "dev-2", &d, &out), -1);
    assert_true (out.not_held);
    assert_int_equal (agent_check_msg (&s, "dev-1", &d, &out), 0);
    assert_int_equal (out.action, AGENT_CHECK_SERVICE_DEREGISTER);
    assert_false (agent_check_held (&s, "dev-1.web", false));
    assert_int_equal (s.n, 1);

    /* No id: counted as service_id, a warning only for a registration. */
    char name[64];
    s_name (name, 62, 'n');
    snprintf (m.u.agent_service_register.name, sizeof m.u.agent_service_register.name, "%s", name);
    assert_int_equal (agent_check_msg (&s, "ab", &m, &out), -1);
    assert_int_equal (out.bad, AGENT_BAD_SERVICE_ID);
    assert_true (out.count && out.warn);
    snprintf (d.u.agent_service_deregister.name, sizeof d.u.agent_service_deregister.name, "%s",
              name);
    assert_int_equal (agent_check_msg (&s, "ab", &d, &out), -1);
    assert_true (out.count && !out.warn);

    /* A host -> agent type is never the node's to act on. */
    agent_msg_t ack;
    memset (&ack, 0, sizeof ack);
    ack.hdr.type = AGENT_HELLO_ACK;
    assert_int_equal (agent_check_msg (&s, "dev-1", &ack, &out), -1);
    agent_check_shed_free (&s);
}

/* agent_logs: the ring keeps the newest lines, counts the evicted ones,
 * and answers oldest first within tail, stream and the size bound. */
static void
s_log (agent_logs_t *logs, const char *stream, uint64_t seq)
{
    agent_log_t l;
    memset (&l, 0, sizeof l);
    snprintf (l.stream, sizeof l.stream, "%s", stream);
    l.seq = seq;
    snprintf (l.text, sizeof l.text, "line %llu", (unsigned long long) seq);
    agent_logs_add (logs, &l);
}

static void
test_agent_logs (void **state)
{
    (void) state;
    agent_logs_t *logs = agent_logs_new (4);
    assert_non_null (logs);
    for (uint64_t i = 1; i <= 6; i++)
        s_log (logs, i % 2 ? "out" : "err", i);
    api_logs_req_t r;
    memset (&r, 0, sizeof r);
    api_msg_t rep;
    api_logline_t *lines = NULL;
    agent_logs_fill (logs, "node-1", &r, 1u << 20, &rep, &lines);
    const api_logs_rep_t *out = &rep.u.api_logs_rep;
    assert_int_equal (rep.hdr.type, API_LOGS_REP);
    assert_string_equal (out->node, "node-1");
    assert_int_equal (out->evicted, 2);
    assert_int_equal (out->lines.n, 4);
    assert_int_equal (lines[0].seq, 3);
    assert_int_equal (lines[3].seq, 6);
    assert_string_equal (lines[3].text, "line 6");
    assert_false (out->truncated);
    free (lines);

    /* One stream, the last line of it. */
    snprintf (r.stream, sizeof r.stream, "out");
    r.tail = 1;
    agent_logs_fill (logs, "node-1", &r, 1u << 20, &rep, &lines);
    assert_int_equal (out->lines.n, 1);
    assert_int_equal (lines[0].seq, 5);
    free (lines);

    /* The size bound leaves the older lines out. */
    memset (&r, 0, sizeof r);
    agent_logs_fill (logs, "node-1", &r, 250, &rep, &lines);
    assert_int_equal (out->lines.n, 2);
    assert_int_equal (lines[0].seq, 5);
    assert_true (out->truncated);
    free (lines);
    agent_logs_destroy (&logs);
    assert_null (logs);

    /* A ring of none keeps nothing and answers empty. */
    logs = agent_logs_new (0);
    assert_non_null (logs);
    s_log (logs, "out", 1);
    agent_logs_fill (logs, "node-1", &r, 1u << 20, &rep, &lines);
    assert_int_equal (out->lines.n, 0);
    free (lines);
    agent_logs_destroy (&logs);
}

/* agent_logs keeps each slot's text buffer for the next line: lines of
 * every length (short after long, long after short, empty, the maximum)
 * come back exactly as added, the size bound counts each line's own
 * length, not a reused buffer's. */
static void
test_agent_logs_reuse (void **state)
{
    (void) state;
    agent_logs_t *logs = agent_logs_new (3);
    assert_non_null (logs);
    static const size_t lens[] = {
        10, AGENT_LOG_TEXT_MAX, 3, 0, 200, 127, 128, 129, 600, 1, 5, 4000
    };
    size_t nl = sizeof lens / sizeof lens[0];
    agent_log_t l;
    api_logs_req_t r;
    memset (&r, 0, sizeof r);
    api_msg_t rep;
    api_logline_t *lines = NULL;
    for (size_t i = 0; i < nl; i++) {
        memset (&l, 0, sizeof l);
        snprintf (l.stream, sizeof l.stream, "out");
        l.seq = i + 1;
        memset (l.text, 'a' + (int) (i % 26), lens[i]);
        l.text[lens[i]] = '\0';
        agent_logs_add (logs, &l);
        /* Every line still held reads back as it was added. */
        agent_logs_fill (logs, "node-1", &r, 1u << 20, &rep, &lines);
        size_t held = i + 1 < 3 ? i + 1 : 3;
        assert_int_equal (rep.u.api_logs_rep.lines.n, held);
        for (size_t k = 0; k < held; k++) {
            size_t j = i + 1 - held + k;
            assert_int_equal (lines[k].seq, j + 1);
            assert_int_equal (strlen (lines[k].text), lens[j]);
            for (size_t b = 0; b < lens[j]; b++)
                assert_int_equal (lines[k].text[b], 'a' + (int) (j % 26));
        }
        free (lines);
    }
    /* The newest three are 1, 5 and 4000 bytes: the size bound counts
     * each line's own length (the newest is over 1000 alone). */
    agent_logs_fill (logs, "node-1", &r, 1000, &rep, &lines);
    assert_int_equal (rep.u.api_logs_rep.lines.n, 0);
    assert_true (rep.u.api_logs_rep.truncated);
    free (lines);
    /* Two short lines into slots that held longer ones: both fit a bound
     * of two short lines' worth, the 4000-byte line before them does not. */
    for (uint64_t seq = 99; seq <= 100; seq++) {
        memset (&l, 0, sizeof l);
        snprintf (l.stream, sizeof l.stream, "out");
        l.seq = seq;
        snprintf (l.text, sizeof l.text, "%s", seq == 99 ? "x" : "yy");
        agent_logs_add (logs, &l);
    }
    agent_logs_fill (logs, "node-1", &r, 2 * 96 + 8, &rep, &lines);
    assert_int_equal (rep.u.api_logs_rep.lines.n, 2);
    assert_int_equal (lines[0].seq, 99);
    assert_string_equal (lines[0].text, "x");
    assert_string_equal (lines[1].text, "yy");
    assert_true (rep.u.api_logs_rep.truncated);
    free (lines);
    agent_logs_destroy (&logs);
}

int
main (void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test (test_service_ids),
        cmocka_unit_test (test_agent_check_services),
        cmocka_unit_test (test_agent_logs),
        cmocka_unit_test (test_agent_logs_reuse),
    };
    return cmocka_run_group_tests (tests, NULL, NULL);
}
