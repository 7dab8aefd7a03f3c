/* node_record_test.c - the node record's event_version (cluster/records.h
 * field 27): what this build publishes, that it round-trips, and that a
 * record without it (a release before EVENT_BATCH version 3) or one that
 * does not decode reads as version 2, the version every bus reads. */
#include "node/state/node_record.h"

#include "bridges/event_msg.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <msgpack.h>

/* A node record value with `event_version` (0: the field is left out). */
static size_t
s_encode (uint64_t event_version, uint8_t **buf)
{
    rec_msg_t m;
    memset (&m, 0, sizeof m);
    m.hdr.type = REC_NODE;
    snprintf (m.u.rec_node.name, sizeof m.u.rec_node.name, "n1");
    snprintf (m.u.rec_node.addr, sizeof m.u.rec_node.addr, "198.18.0.1");
    m.u.rec_node.cpus = 4;
    m.u.rec_node.event_version = event_version;
    size_t len = 0;
    assert_int_equal (wire_encode (&rec_proto, &m, buf, &len), WIRE_OK);
    return len;
}

/* This build says it reads EVENT_VERSION, and the field round-trips. */
static void
test_published_and_roundtrip (void **state)
{
    (void) state;
    shed_noderec_t *nr = shed_noderec_new (NULL, "n1"); /* never published here */
    assert_non_null (nr);
    assert_int_equal (shed_noderec_get (nr)->event_version, EVENT_VERSION);
    /* Other parts set later leave it alone. */
    shed_noderec_set_identity (nr, "198.18.0.1", 7946, "tcp://198.18.0.1:7947", "1.0", 5);
    rec_node_t r;
    memset (&r, 0, sizeof r);
    r.cpus = 8;
    shed_noderec_set_resources (nr, &r);
    assert_int_equal (shed_noderec_get (nr)->event_version, EVENT_VERSION);
    shed_noderec_destroy (&nr);

    for (uint64_t v = 2; v <= 5; v++) {
        uint8_t *buf = NULL;
        size_t len = s_encode (v, &buf);
        rec_msg_t d;
        assert_int_equal (wire_decode (&rec_proto, buf, len, &d, NULL), WIRE_OK);
        assert_int_equal (d.hdr.type, REC_NODE);
        assert_int_equal (d.u.rec_node.event_version, v);
        assert_int_equal (d.u.rec_node.cpus, 4);
        wire_msg_free (&rec_proto, &d);
        assert_int_equal (shed_noderec_event_version (buf, len), v);
        free (buf);
    }
}

/* Without the field (what an older release writes), with junk, or not a
 * node record at all: version 2. Below 2 counts as 2; huge is capped. */
static void
test_absent_and_odd (void **state)
{
    (void) state;
    uint8_t *buf = NULL;
    size_t len = s_encode (0, &buf);
    rec_msg_t d;
    assert_int_equal (wire_decode (&rec_proto, buf, len, &d, NULL), WIRE_OK);
    assert_int_equal (d.u.rec_node.event_version, 0);
    wire_msg_free (&rec_proto, &d);
    assert_int_equal (shed_noderec_event_version (buf, len), EVENT_VERSION_BATCH);
    free (buf);

    /* An older release's record, built by hand: {version, type, name,
     * addr, links} and nothing about events. */
    msgpack_sbuffer sb;
    msgpack_sbuffer_init (&sb);
    msgpack_packer pk;
    msgpack_packer_init (&pk, &sb, msgpack_sbuffer_write);
    msgpack_pack_map (&pk, 5);
    msgpack_pack_uint64 (&pk, 0);
    msgpack_pack_uint64 (&pk, 1);
    msgpack_pack_uint64 (&pk, 1);
    msgpack_pack_uint64 (&pk, REC_NODE);
    msgpack_pack_uint64 (&pk, 2);
    msgpack_pack_str_with_body (&pk, "n2", 2);
    msgpack_pack_uint64 (&pk, 3);
    msgpack_pack_str_with_body (&pk, "198.18.0.2", 10);
    msgpack_pack_uint64 (&pk, 5);
    msgpack_pack_str_with_body (&pk, "tcp://198.18.0.2:7947", 21);
    assert_int_equal (shed_noderec_event_version ((const uint8_t *) sb.data, sb.size),
                      EVENT_VERSION_BATCH);
    /* The same record with the field, and a key a later release added. */
    msgpack_sbuffer_clear (&sb);
    msgpack_pack_map (&pk, 5);
    msgpack_pack_uint64 (&pk, 0);
    msgpack_pack_uint64 (&pk, 1);
    msgpack_pack_uint64 (&pk, 1);
    msgpack_pack_uint64 (&pk, REC_NODE);
    msgpack_pack_uint64 (&pk, 2);
    msgpack_pack_str_with_body (&pk, "n2", 2);
    msgpack_pack_uint64 (&pk, 3);
    msgpack_pack_str_with_body (&pk, "198.18.0.2", 10);
    msgpack_pack_uint64 (&pk, 27);
    msgpack_pack_uint64 (&pk, 3);
    assert_int_equal (shed_noderec_event_version ((const uint8_t *) sb.data, sb.size), 3);
    msgpack_sbuffer_clear (&sb);
    msgpack_pack_map (&pk, 4);
    msgpack_pack_uint64 (&pk, 0);
    msgpack_pack_uint64 (&pk, 1);
    msgpack_pack_uint64 (&pk, 1);
    msgpack_pack_uint64 (&pk, REC_NODE);
    msgpack_pack_uint64 (&pk, 2);
    msgpack_pack_str_with_body (&pk, "n2", 2);
    msgpack_pack_uint64 (&pk, 3);
    msgpack_pack_str_with_body (&pk, "198.18.0.2", 10);
    assert_int_equal (shed_noderec_event_version ((const uint8_t *) sb.data, sb.size),
                      EVENT_VERSION_BATCH);
    msgpack_sbuffer_destroy (&sb);

    len = s_encode (1, &buf);
    assert_int_equal (shed_noderec_event_version (buf, len), EVENT_VERSION_BATCH);
    free (buf);
    len = s_encode (1ull << 40, &buf);
    assert_int_equal (shed_noderec_event_version (buf, len), 0xffff);
    free (buf);
    static const uint8_t junk[] = { 0x81, 0x00, 0xc1 };
    assert_int_equal (shed_noderec_event_version (junk, sizeof junk), EVENT_VERSION_BATCH);
    assert_int_equal (shed_noderec_event_version (NULL, 0), EVENT_VERSION_BATCH);
    /* Another kind's record. */
    rec_msg_t m;
    memset (&m, 0, sizeof m);
    m.hdr.type = REC_SERVICE;
    snprintf (m.u.rec_service.name, sizeof m.u.rec_service.name, "web");
    snprintf (m.u.rec_service.id, sizeof m.u.rec_service.id, "web-1");
    snprintf (m.u.rec_service.node, sizeof m.u.rec_service.node, "n1");
    buf = NULL;
    assert_int_equal (wire_encode (&rec_proto, &m, &buf, &len), WIRE_OK);
    assert_int_equal (shed_noderec_event_version (buf, len), EVENT_VERSION_BATCH);
    free (buf);
}

int
main (void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test (test_published_and_roundtrip),
        cmocka_unit_test (test_absent_and_odd),
    };
    return cmocka_run_group_tests (tests, NULL, NULL);
}
