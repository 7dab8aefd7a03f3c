/* dns_ratelimit_test.c - per-source token buckets with a hand-driven clock. */
#include "bridges/dns_ratelimit.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

static struct sockaddr_in
s_v4 (const char *text)
{
    struct sockaddr_in sa;
    memset (&sa, 0, sizeof sa);
    sa.sin_family = AF_INET;
    assert_int_equal (inet_pton (AF_INET, text, &sa.sin_addr), 1);
    return sa;
}

static int
s_allowed (dns_ratelimit_t *rl, const struct sockaddr_in *sa, int n, int64_t now)
{
    int ok = 0;
    for (int i = 0; i < n; i++)
        ok += dns_ratelimit_allow (rl, (const struct sockaddr *) sa, now);
    return ok;
}

static void
test_bad_arguments (void **state)
{
    (void) state;
    assert_null (dns_ratelimit_new (0, 10, 16, 1));
    assert_null (dns_ratelimit_new (10, 10, (size_t) 1 << 30, 1));
    dns_ratelimit_t *rl = dns_ratelimit_new (10, 0, 0, 1);
    assert_non_null (rl);
    dns_ratelimit_destroy (&rl);
    assert_null (rl);
    dns_ratelimit_destroy (&rl); /* NULL-safe */
}

static void
test_burst_then_rate (void **state)
{
    (void) state;
    dns_ratelimit_t *rl = dns_ratelimit_new (100, 20, 64, 42);
    struct sockaddr_in a = s_v4 ("198.19.5.2");
    /* The burst, then nothing more at the same instant. */
    assert_int_equal (s_allowed (rl, &a, 50, 1000), 20);
    /* 100/s: 10 ms gives one token, 100 ms ten. */
    assert_int_equal (s_allowed (rl, &a, 5, 1010), 1);
    assert_int_equal (s_allowed (rl, &a, 50, 1110), 10);
    /* A clock going back gives nothing. */
    assert_int_equal (s_allowed (rl, &a, 5, 900), 0);
    /* A long pause refills to the burst, never above (no overflow). */
    assert_int_equal (s_allowed (rl, &a, 50, INT64_C (1) << 50), 20);
    dns_ratelimit_destroy (&rl);
}

static void
test_sources_apart (void **state)
{
    (void) state;
    /* Big table: two sources almost surely in different slots; if they do
     * collide the shared bucket is still exact, so check both ways. */
    dns_ratelimit_t *rl = dns_ratelimit_new (10, 10, 4096, 7);
    struct sockaddr_in a = s_v4 ("198.19.5.2"), b = s_v4 ("198.19.5.3");
    assert_int_equal (s_allowed (rl, &a, 30, 0), 10);
    int got = s_allowed (rl, &b, 30, 0);
    assert_true (got == 10 || got == 0);
    dns_ratelimit_destroy (&rl);
}

static void
test_collisions_never_lift_the_limit (void **state)
{
    (void) state;
    /* One slot: every source collides. A flooding source's bucket is
     * shared, not replaced, while it is active; once it has refilled it
     * is idle and a newcomer takes the slot. */
    dns_ratelimit_t *rl = dns_ratelimit_new (10, 5, 1, 3);
    struct sockaddr_in a = s_v4 ("198.19.5.2"), b = s_v4 ("198.19.6.9");
    assert_int_equal (s_allowed (rl, &a, 100, 0), 5);
    assert_int_equal (s_allowed (rl, &b, 100, 0), 0);    /* shared, empty */
    assert_int_equal (s_allowed (rl, &b, 100, 1000), 5); /* idle again: taken over */
    assert_int_equal (s_allowed (rl, &a, 100, 1000), 0);
    /* IPv6 and other families are keyed too and never crash. */
    struct sockaddr_in6 v6;
    memset (&v6, 0, sizeof v6);
    v6.sin6_family = AF_INET6;
    v6.sin6_addr.s6_addr[15] = 1;
    assert_true (dns_ratelimit_allow (rl, (struct sockaddr *) &v6, 5000));
    struct sockaddr other = { .sa_family = AF_UNIX };
    assert_true (dns_ratelimit_allow (rl, &other, 10000));
    dns_ratelimit_destroy (&rl);
}

int
main (void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test (test_bad_arguments),
        cmocka_unit_test (test_burst_then_rate),
        cmocka_unit_test (test_sources_apart),
        cmocka_unit_test (test_collisions_never_lift_the_limit),
    };
    return cmocka_run_group_tests (tests, NULL, NULL);
}
