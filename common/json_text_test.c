/*
 * json_text_test.c - UTF-8 repair (json_text.h): each maximal ill-formed
 * subsequence becomes one U+FFFD, exactly as Python's
 * bytes.decode("utf-8", "replace") does; what comes out is a string that
 * jansson accepts and writes as valid JSON.
 */
#include "common/json_text.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#define R "\xef\xbf\xbd" /* U+FFFD */

static void
s_expect (const char *in, size_t len, const char *want, size_t wlen)
{
    size_t n;
    char *out = utf8_repair (in, len, &n);
    assert_non_null (out);
    assert_int_equal (n, wlen);
    assert_memory_equal (out, want, n);
    free (out);
    /* jansson takes the result as it is. */
    json_t *v = json_text_n (in, len);
    assert_non_null (v);
    assert_int_equal (json_string_length (v), n);
    assert_memory_equal (json_string_value (v), want, n);
    json_decref (v);
}

/* Literals may hold NUL: their length is the array's. */
#define S_EXPECT(in, want) s_expect (in, sizeof in - 1, want, sizeof want - 1)

static void
test_repair (void **state)
{
    (void) state;
    /* Well-formed text is untouched, 1 to 4 bytes per character. */
    S_EXPECT ("h\xc3\xa9llo \xe2\x82\xac \xf0\x9d\x84\x9e",
              "h\xc3\xa9llo \xe2\x82\xac \xf0\x9d\x84\x9e");
    S_EXPECT ("\xef\xbf\xbf\xf4\x8f\xbf\xbf",
              "\xef\xbf\xbf\xf4\x8f\xbf\xbf"); /* U+FFFF, U+10FFFF */
    /* Bytes that never start anything: one U+FFFD each. */
    S_EXPECT ("\xff\xfe", R R);
    S_EXPECT ("a\x80z", "a" R "z");
    /* Overlong forms: C0/C1 leads are never valid; E0 80.. and F0 80.. are
     * refused at the second byte. */
    S_EXPECT ("\xc0\xaf", R R);
    S_EXPECT ("\xe0\x80\xaf", R R R);
    S_EXPECT ("\xf0\x80\x80\xaf", R R R R);
    /* Surrogates (ED A0..BF) and beyond U+10FFFF (F4 90.., F5..). */
    S_EXPECT ("\xed\xa0\x80", R R R);
    S_EXPECT ("\xf4\x90\x80\x80", R R R R);
    S_EXPECT ("\xf5\x80", R R);
    /* Cut short: the lead and the continuation bytes that fit are ONE
     * maximal subpart, one U+FFFD, at the end or before another byte. */
    S_EXPECT ("ab\xe2\x82", "ab" R);
    S_EXPECT ("\xe2\x82z", R "z");
    S_EXPECT ("\xf0\x9d\x84", R);
    S_EXPECT ("\xf0\x9d\x84\xe2\x82\xac", R "\xe2\x82\xac");
    /* NUL is a character: kept. */
    S_EXPECT ("a\0b", "a\0b");
    S_EXPECT ("", "");
}

static void
test_json_text (void **state)
{
    (void) state;
    /* What jansson would refuse comes out as a string it writes. */
    assert_null (json_string ("\xff\xfe"));
    json_t *v = json_text ("x\xff\xfey\xe2\x82");
    assert_non_null (v);
    char *out = json_dumps (v, JSON_ENCODE_ANY);
    assert_string_equal (out, "\"x" R R "y" R "\"");
    /* ... and that jansson's strict decoder reads back. */
    json_error_t jerr;
    json_t *back = json_loads (out, JSON_DECODE_ANY, &jerr);
    assert_non_null (back);
    assert_true (json_equal (v, back));
    json_decref (back);
    free (out);
    json_decref (v);
    v = json_text (NULL);
    assert_string_equal (json_string_value (v), "");
    json_decref (v);
}

int
main (void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test (test_repair),
        cmocka_unit_test (test_json_text),
    };
    return cmocka_run_group_tests (tests, NULL, NULL);
}
