/*
 * duration_test.c - the one duration parser (common/duration.h): units,
 * sums, fractions, bare numbers in the caller's unit, and the refusals
 * with their one-line reason.
 */
#include "common/duration.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

static uint64_t
s_ok (const char *text, uint64_t bare_ms)
{
    uint64_t ms = 12345;
    char why[256] = "";
    int rc = shed_duration_parse (text, bare_ms, &ms, why, sizeof why);
    if (rc != 0)
        fail_msg ("'%s' refused: %s", text, why);
    return ms;
}

static void
s_bad (const char *text, uint64_t bare_ms, const char *needle)
{
    uint64_t ms = 777;
    char why[256] = "";
    if (shed_duration_parse (text, bare_ms, &ms, why, sizeof why) == 0)
        fail_msg ("'%s' accepted as %llu ms", text, (unsigned long long) ms);
    assert_int_equal (ms, 777); /* untouched */
    if (!strstr (why, needle))
        fail_msg ("'%s': reason '%s' lacks '%s'", text, why, needle);
    assert_null (strchr (why, '\n'));
}

static void
test_units (void **state)
{
    (void) state;
    assert_int_equal (s_ok ("500ms", 0), 500);
    assert_int_equal (s_ok ("5s", 0), 5000);
    assert_int_equal (s_ok ("2m", 0), 120000);
    assert_int_equal (s_ok ("1h", 0), 3600000);
    assert_int_equal (s_ok ("1d", 0), 86400000);
    assert_int_equal (s_ok ("0s", 0), 0);
    assert_int_equal (s_ok ("0ms", 0), 0);
}

static void
test_sums_and_fractions (void **state)
{
    (void) state;
    assert_int_equal (s_ok ("1m30s", 0), 90000);
    assert_int_equal (s_ok ("1h2m3s4ms", 0), 3723004);
    assert_int_equal (s_ok ("1h5s", 0), 3605000);
    assert_int_equal (s_ok ("1.5s", 0), 1500);
    assert_int_equal (s_ok ("0.25h", 0), 900000);
    assert_int_equal (s_ok ("0.1s", 0), 100);
    assert_int_equal (s_ok (".5s", 0), 500);
}

static void
test_bare (void **state)
{
    (void) state;
    /* a bare number has the caller's unit: ms keys, seconds flags */
    assert_int_equal (s_ok ("250", 1), 250);
    assert_int_equal (s_ok ("30", 1000), 30000);
    assert_int_equal (s_ok ("0.5", 1000), 500);
    assert_int_equal (s_ok ("0", 1), 0);
    s_bad ("250", 0, "use a number with a unit: 500ms, 5s, 2m, 1h");
    /* bare only alone: "1m30" is not 1m30s */
    s_bad ("1m30", 1000, "invalid duration '1m30'");
}

static void
test_refused (void **state)
{
    (void) state;
    s_bad ("5x", 1, "invalid duration '5x': use a number with a unit: 500ms, 5s, 2m, 1h");
    s_bad ("", 1, "invalid duration ''");
    s_bad ("-5s", 1, "invalid duration");
    s_bad ("+5s", 1, "invalid duration");
    s_bad (" 5s", 1, "invalid duration");
    s_bad ("5s ", 1, "invalid duration");
    s_bad ("s", 1, "invalid duration");
    s_bad ("5", 0, "invalid duration");
    s_bad ("5s1m", 1, "out of order");
    s_bad ("5s5s", 1, "out of order");
    s_bad ("1.5ms", 1, "finer than a millisecond");
    s_bad ("0.0001s", 1, "finer than a millisecond");
    s_bad ("5mins", 1, "invalid duration");
    s_bad ("1e3", 1, "invalid duration");
    s_bad ("0x10s", 1, "invalid duration");
    s_bad ("99999999999999999999999s", 1, "too long");
    s_bad ("213503982334601d", 1, "too long"); /* > 2^64 ms */
    s_bad ("1.0000000001s", 1, "too many decimals");
    s_bad ("5\ns", 1, "invalid duration '5?s'");
    char longtext[200];
    memset (longtext, '1', sizeof longtext - 2);
    longtext[sizeof longtext - 2] = 's';
    longtext[sizeof longtext - 1] = '\0';
    s_bad (longtext, 1, "...");
    uint64_t ms;
    char why[256];
    assert_int_equal (shed_duration_parse (NULL, 1, &ms, why, sizeof why), -1);
}

static void
test_range (void **state)
{
    (void) state;
    uint64_t ms = 0;
    char why[256] = "";
    assert_int_equal (shed_duration_parse_range ("2s", 1, 100, 3600000, &ms, why, sizeof why), 0);
    assert_int_equal (ms, 2000);
    assert_int_equal (shed_duration_parse_range ("2h", 1, 100, 3600000, &ms, why, sizeof why), -1);
    assert_string_equal (why, "'2h' is outside 100ms..1h");
    assert_int_equal (ms, 2000);
    assert_int_equal (shed_duration_parse_range ("50", 1, 100, 3600000, &ms, why, sizeof why), -1);
    assert_string_equal (why, "'50' is outside 100ms..1h");
}

static void
test_format (void **state)
{
    (void) state;
    static const struct {
        uint64_t ms;
        const char *text;
    } cases[] = {
        { 0, "0s" },        { 250, "250ms" },    { 1000, "1s" },     { 1500, "1s500ms" },
        { 90000, "1m30s" }, { 3605000, "1h5s" }, { 86400000, "1d" }, { 31536000000ull, "365d" },
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char out[64];
        shed_duration_format (cases[i].ms, out, sizeof out);
        assert_string_equal (out, cases[i].text);
        /* and back */
        assert_int_equal (s_ok (out, 0), cases[i].ms);
    }
    char tiny[4];
    shed_duration_format (3723004, tiny, sizeof tiny);
    assert_true (strlen (tiny) < sizeof tiny);
}

int
main (void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test (test_units), cmocka_unit_test (test_sums_and_fractions),
        cmocka_unit_test (test_bare),  cmocka_unit_test (test_refused),
        cmocka_unit_test (test_range), cmocka_unit_test (test_format),
    };
    return cmocka_run_group_tests (tests, NULL, NULL);
}
