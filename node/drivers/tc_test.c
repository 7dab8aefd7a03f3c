/*
 * tc_test.c - rates as the config and tc write them (tc_rate_parse); no
 * tc run here (netns_test checks a real tbf).
 */
#include "node/drivers/tc.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

static uint64_t
s_kbit (const char *text)
{
    uint64_t k = 12345;
    assert_int_equal (tc_rate_parse (text, &k), 0);
    return k;
}

static void
test_rates (void **state)
{
    (void) state;
    assert_int_equal (s_kbit ("0"), 0);
    assert_int_equal (s_kbit ("100mbit"), 100000);
    assert_int_equal (s_kbit ("1gbit"), 1000000);
    assert_int_equal (s_kbit ("1.5Gbit"), 1500000);
    assert_int_equal (s_kbit ("500kbit"), 500);
    assert_int_equal (s_kbit ("1Mbps"), 8000); /* bytes per second */
    assert_int_equal (s_kbit ("1bit"), 1);     /* never rounds to "no limit" */
    assert_int_equal (s_kbit ("0mbit"), 0);
    uint64_t k;
    const char *bad[] = { "",        "1000",     "fast", "-1mbit", "10 mbit",
                          "10mbits", "1e30gbit", "mbit", "nan",    "inf" };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        if (tc_rate_parse (bad[i], &k) == 0)
            fail_msg ("'%s' was accepted", bad[i]);
    assert_int_equal (tc_rate_parse (NULL, &k), -1);
}

int
main (void)
{
    const struct CMUnitTest tests[] = { cmocka_unit_test (test_rates) };
    return cmocka_run_group_tests (tests, NULL, NULL);
}
