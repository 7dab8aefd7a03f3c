/*
 * agent_msg_test.c - codec round trips for every agent message, plus the
 * semantic rules the validator adds (names, enums, chunk arithmetic).
 */
#include "agent/proto/agent_proto.h"
#include "agent/proto/agent_sample.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

/* Encode, decode, re-encode: the bytes must be identical, the type kept. */
static void
test_round_trip_every_type (void **state)
{
    for (unsigned t = AGENT_TYPE_MIN; t <= AGENT_TYPE_MAX; t++) {
        agent_msg_t m, d;
        agent_sample (t, &m);
        uint8_t *one = NULL, *two = NULL;
        size_t one_len = 0, two_len = 0;
        assert_int_equal (wire_encode (&agent_proto, &m, &one, &one_len), WIRE_OK);
        const char *field = NULL;
        int rc = wire_decode (&agent_proto, one, one_len, &d, &field);
        if (rc)
            fail_msg ("type %u (%s): %s at %s", t, agent_msg_type_name (t), wire_strerror (rc),
                      field);
        assert_int_equal (d.hdr.type, t);
        assert_int_equal (d.hdr.version, AGENT_VERSION);
        assert_int_equal (wire_encode (&agent_proto, &d, &two, &two_len), WIRE_OK);
        assert_int_equal (one_len, two_len);
        assert_memory_equal (one, two, one_len);
        assert_string_not_equal (agent_msg_type_name (t), "unknown");
        assert_true (agent_msg_direction (t) != 0);
        wire_msg_free (&agent_proto, &d);
        free (one);
        free (two);
    }
}

/* Field values survive, including nested lists, tags and blobs. */
static void
test_round_trip_values (void **state)
{
    agent_msg_t m, d;
    uint8_t *buf = NULL;
    size_t len = 0;

    agent_sample (AGENT_METRICS, &m);
    assert_int_equal (wire_encode (&agent_proto, &m, &buf, &len), WIRE_OK);
    assert_int_equal (wire_decode (&agent_proto, buf, len, &d, NULL), WIRE_OK);
    assert_true (d.u.agent_metrics.cpu_pct == 12.5);
    assert_int_equal (d.u.agent_metrics.disks.n, 2);
    assert_string_equal (d.u.agent_metrics.disks.items[1].mount, "/data");
    assert_int_equal (d.u.agent_metrics.nics.items[0].tx_bytes, 654321);
    wire_msg_free (&agent_proto, &d);
    free (buf);

    agent_sample (AGENT_PROVISION, &m);
    assert_int_equal (wire_encode (&agent_proto, &m, &buf, &len), WIRE_OK);
    assert_int_equal (wire_decode (&agent_proto, buf, len, &d, NULL), WIRE_OK);
    assert_int_equal (d.u.agent_provision.steps.n, 3);
    assert_string_equal (d.u.agent_provision.steps.items[1].cmd, "cat; exit 3");
    assert_int_equal (d.u.agent_provision.steps.items[1].input.len, 5);
    assert_int_equal (d.u.agent_provision.steps.items[1].input.data[4], 0xff);
    assert_string_equal (d.u.agent_provision.steps.items[1].env.items[1].value, "core");
    wire_msg_free (&agent_proto, &d);
    free (buf);

    agent_sample (AGENT_PROC_EVENT, &m);
    assert_int_equal (wire_encode (&agent_proto, &m, &buf, &len), WIRE_OK);
    assert_int_equal (wire_decode (&agent_proto, buf, len, &d, NULL), WIRE_OK);
    assert_int_equal (d.u.agent_proc_event.exit_code, -1);
    assert_int_equal (d.u.agent_proc_event.signal, 9);
    assert_true (d.u.agent_proc_event.crashed);
    wire_msg_free (&agent_proto, &d);
    free (buf);
}

/* What the validator refuses, it refuses on encode too. */
static void
test_validator (void **state)
{
    agent_msg_t m;
    uint8_t *buf = NULL;
    size_t len = 0;

    agent_sample (AGENT_LOG, &m);
    strcpy (m.u.agent_log.stream, "a.b"); /* would split a topic */
    assert_int_equal (wire_encode (&agent_proto, &m, &buf, &len), WIRE_ERR_INVALID);
    strcpy (m.u.agent_log.stream, "");
    assert_int_equal (wire_encode (&agent_proto, &m, &buf, &len), WIRE_ERR_INVALID);

    agent_sample (AGENT_SERVICE_REGISTER, &m);
    strcpy (m.u.agent_service_register.name, "Web");
    assert_int_equal (wire_encode (&agent_proto, &m, &buf, &len), WIRE_ERR_INVALID);
    strcpy (m.u.agent_service_register.name, "web-");
    assert_int_equal (wire_encode (&agent_proto, &m, &buf, &len), WIRE_ERR_INVALID);

    agent_sample (AGENT_PROC_EVENT, &m);
    m.u.agent_proc_event.kind = 0;
    assert_int_equal (wire_encode (&agent_proto, &m, &buf, &len), WIRE_ERR_INVALID);
    m.u.agent_proc_event.kind = AGENT_PROC_KIND_MAX + 1;
    assert_int_equal (wire_encode (&agent_proto, &m, &buf, &len), WIRE_ERR_RANGE);

    agent_sample (AGENT_CHUNK, &m);
    m.u.agent_chunk.type = AGENT_CHUNK; /* no chunks of chunks */
    assert_int_equal (wire_encode (&agent_proto, &m, &buf, &len), WIRE_ERR_INVALID);
    agent_sample (AGENT_CHUNK, &m);
    m.u.agent_chunk.offset = 1; /* runs past total */
    assert_int_equal (wire_encode (&agent_proto, &m, &buf, &len), WIRE_ERR_INVALID);

    agent_sample (AGENT_METRICS, &m);
    m.u.agent_metrics.load1 = -1;
    assert_int_equal (wire_encode (&agent_proto, &m, &buf, &len), WIRE_ERR_INVALID);

    agent_sample (AGENT_PROVISION, &m);
    m.u.agent_provision.steps.n = 0;
    assert_int_equal (wire_encode (&agent_proto, &m, &buf, &len), WIRE_ERR_INVALID);

    agent_sample (AGENT_HELLO_ACK, &m);
    m.u.agent_hello_ack.max_frame = 100;
    assert_int_equal (wire_encode (&agent_proto, &m, &buf, &len), WIRE_ERR_INVALID);
}

static void
test_names (void **state)
{
    assert_true (agent_msg_name_ok ("web_1"));
    assert_false (agent_msg_name_ok ("-x"));
    assert_false (agent_msg_name_ok ("a b"));
    assert_true (agent_msg_service_name_ok ("db-0"));
    assert_false (agent_msg_service_name_ok ("db_0"));
    char long_name[80];
    memset (long_name, 'a', sizeof long_name - 1);
    long_name[sizeof long_name - 1] = 0;
    assert_false (agent_msg_name_ok (long_name));
    assert_false (agent_msg_stream_name_ok (long_name));
    assert_int_equal (agent_msg_direction (0), 0);
    assert_int_equal (agent_msg_direction (AGENT_TYPE_MAX + 1), 0);
    assert_int_equal (agent_msg_direction (AGENT_PROVISION), AGENT_DIR_TO_AGENT);
    assert_int_equal (agent_msg_direction (AGENT_METRICS), AGENT_DIR_TO_HOST);
}

int
main (void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test (test_round_trip_every_type),
        cmocka_unit_test (test_round_trip_values),
        cmocka_unit_test (test_validator),
        cmocka_unit_test (test_names),
    };
    return cmocka_run_group_tests (tests, NULL, NULL);
}
