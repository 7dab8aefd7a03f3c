/*
 * json_test.c - the JSON writer (node/ctl/json.h) and the event JSON made
 * with it (node/events/event_json.h): the exact bytes scripts parse, and
 * valid JSON whatever bytes a shed puts in a string. Every document is
 * read back with jansson's strict decoder, which refuses ill-formed UTF-8.
 */
#include "agent/proto/agent_proto.h"
#include "node/ctl/json.h"
#include "node/events/event_json.h"

#include <jansson.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#define R "\xef\xbf\xbd" /* U+FFFD */

typedef struct {
    char *text;
    size_t len;
    FILE *f;
    jw_t j;
} s_doc_t;

static void
s_open (s_doc_t *d)
{
    d->text = NULL;
    d->len = 0;
    d->f = open_memstream (&d->text, &d->len);
    assert_non_null (d->f);
    jw_init (&d->j, d->f);
}

/* Close the document and parse it strictly; the caller frees text and
 * decrefs the result. */
static json_t *
s_close (s_doc_t *d)
{
    jw_end (&d->j);
    fclose (d->f);
    json_error_t jerr;
    /* Integers as reals: jansson's integers stop at INT64_MAX, ours go on
     * to UINT64_MAX (the exact bytes are checked as text). NUL is a
     * character a shed may send (\u0000). */
    json_t *v = json_loadb (d->text, d->len,
                            JSON_DECODE_ANY | JSON_DECODE_INT_AS_REAL | JSON_ALLOW_NUL, &jerr);
    if (!v)
        fail_msg ("not valid JSON (%s at %d): %s", jerr.text, jerr.position, d->text);
    return v;
}

static void
test_bytes (void **state)
{
    (void) state;
    /* The layout scripts and tests read: compact, fields in call order,
     * integers in full (uint64 too), reals as %.6g, non-finite as null. */
    s_doc_t d;
    s_open (&d);
    jw_obj_begin (&d.j);
    /* clang-format off */
    jw_key (&d.j, "name");  jw_str (&d.j, "web \"1\"\\\n\t\x01");
    jw_key (&d.j, "boot");  jw_u64 (&d.j, UINT64_MAX);
    jw_key (&d.j, "code");  jw_i64 (&d.j, -3);
    jw_key (&d.j, "load");  jw_f64 (&d.j, 0.25);
    jw_key (&d.j, "whole"); jw_f64 (&d.j, 3.0);
    jw_key (&d.j, "nan");   jw_f64 (&d.j, 0.0 / 0.0);
    jw_key (&d.j, "ok");    jw_bool (&d.j, true);
    jw_key (&d.j, "none");  jw_null (&d.j);
    jw_key (&d.j, "null");  jw_str (&d.j, NULL);
    jw_key (&d.j, "utf8");  jw_str (&d.j, "h\xc3\xa9 \xe2\x82\xac");
    /* clang-format on */
    jw_key (&d.j, "list");
    jw_arr_begin (&d.j);
    jw_u64 (&d.j, 1);
    jw_obj_begin (&d.j);
    jw_obj_end (&d.j);
    jw_arr_begin (&d.j);
    jw_arr_end (&d.j);
    jw_arr_end (&d.j);
    jw_obj_end (&d.j);
    json_t *v = s_close (&d);
    assert_string_equal (d.text, "{\"name\":\"web \\\"1\\\"\\\\\\n\\t\\u0001\","
                                 "\"boot\":18446744073709551615,\"code\":-3,"
                                 "\"load\":0.25,\"whole\":3,\"nan\":null,\"ok\":true,"
                                 "\"none\":null,\"null\":\"\",\"utf8\":\"h\xc3\xa9 \xe2\x82\xac\","
                                 "\"list\":[1,{},[]]}\n");
    /* Key order as written (JSON_PRESERVE_ORDER is jansson's default
     * since 2.8; the writer streams in call order anyway). */
    const char *want[] = { "name", "boot", "code", "load", "whole", "nan",
                           "ok",   "none", "null", "utf8", "list" };
    size_t i = 0;
    const char *key;
    json_t *val;
    json_object_foreach (v, key, val)
    {
        assert_true (i < sizeof want / sizeof want[0]);
        assert_string_equal (key, want[i++]);
    }
    json_decref (v);
    free (d.text);
}

static void
test_invalid_utf8 (void **state)
{
    (void) state;
    /* Bytes a shed may log: two that start nothing, an overlong '/', a
     * surrogate, a sequence cut short; in a value and in a key. */
    s_doc_t d;
    s_open (&d);
    jw_obj_begin (&d.j);
    jw_key (&d.j, "text");
    jw_str (&d.j, "a\xff\xfe"
                  "b\xc0\xaf"
                  "c\xed\xa0\x80"
                  "d\xe2\x82");
    jw_key (&d.j, "k\xff");
    jw_strn (&d.j, "x\0y\xf0\x9f", 5);
    jw_obj_end (&d.j);
    json_t *v = s_close (&d);
    assert_string_equal (json_string_value (json_object_get (v, "text")),
                         "a" R R "b" R R "c" R R R "d" R);
    json_t *x = json_object_get (v, "k" R);
    assert_non_null (x);
    assert_int_equal (json_string_length (x), 6); /* x NUL y U+FFFD */
    assert_memory_equal (json_string_value (x), "x\0y" R, 6);
    json_decref (v);
    free (d.text);
}

static void
test_event_log (void **state)
{
    (void) state;
    /* An agent log line on the bus, as hooks and `shedctl events --json`
     * render it: the shed's text repaired, the boot id in full. */
    agent_msg_t m = { .hdr.type = AGENT_LOG };
    snprintf (m.u.agent_log.stream, sizeof m.u.agent_log.stream, "out");
    snprintf (m.u.agent_log.text, sizeof m.u.agent_log.text, "bad \xff\xfe end\xe2\x82");
    m.u.agent_log.seq = 7;
    uint8_t *buf;
    size_t len;
    assert_int_equal (wire_encode (&agent_proto, &m, &buf, &len), WIRE_OK);
    bus_event_t ev = { .seq = 1, .tseq = 2, .boot = 0xfedcba9876543210ull, .time_us = 1000000 };
    snprintf (ev.topic, sizeof ev.topic, "log.node1.web.out");
    snprintf (ev.origin, sizeof ev.origin, "node1");
    snprintf (ev.kind, sizeof ev.kind, "agent.log");
    ev.payload = buf;
    ev.size = len;
    s_doc_t d;
    s_open (&d);
    shed_event_json (&d.j, &ev);
    json_t *v = s_close (&d);
    assert_non_null (strstr (d.text, "\"boot\":18364758544493064720,"));
    assert_non_null (strstr (d.text, "\"time\":\"1970-01-01T00:00:01.000000Z\""));
    json_t *p = json_object_get (v, "payload");
    assert_string_equal (json_string_value (json_object_get (p, "text")), "bad " R R " end" R);
    assert_float_equal (json_number_value (json_object_get (p, "seq")), 7, 0);
    json_decref (v);
    free (d.text);
    free (buf);
}

int
main (void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test (test_bytes),
        cmocka_unit_test (test_invalid_utf8),
        cmocka_unit_test (test_event_log),
    };
    return cmocka_run_group_tests (tests, NULL, NULL);
}
