/*
 * tc_test.c - rates as the config and tc write them (tc_rate_parse), and
 * real tbf qdiscs set through libnl-route-3 (tc_rate_limit) in network
 * namespaces this test makes: read back through libnl (tc_root_get) and,
 * where iproute2 is installed, by `tc qdisc show` as an independent
 * reader. The namespace part needs root and skips (passing, with a
 * message) without it; the namespaces die with the process.
 */
#include "node/drivers/netlink.h"
#include "node/drivers/tc.h"

#include <fcntl.h>
#include <sched.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

#define S_TC "/usr/sbin/tc"

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
    assert_int_equal (s_kbit ("17gbit"), 17000000); /* under TC_KBIT_MAX */
    uint64_t k;
    const char *bad[] = { "",         "1000", "fast", "-1mbit", "10 mbit", "10mbits",
                          "1e30gbit", "mbit", "nan",  "inf",    "18gbit",  "3gbps" };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        if (tc_rate_parse (bad[i], &k) == 0)
            fail_msg ("'%s' was accepted", bad[i]);
    assert_int_equal (tc_rate_parse (NULL, &k), -1);
}

/* `tc qdisc show dev DEV` in this thread's namespace, into buf. */
static void
s_tc_show (const char *dev, char *buf, size_t size)
{
    char cmd[128];
    snprintf (cmd, sizeof cmd, S_TC " qdisc show dev %s 2>&1", dev);
    FILE *p = popen (cmd, "r");
    assert_non_null (p);
    size_t n = fread (buf, 1, size - 1, p);
    buf[n] = '\0';
    assert_int_equal (pclose (p), 0);
}

static void
test_tbf (void **state)
{
    (void) state;
    if (geteuid () != 0) {
        printf ("tc_test: tbf part skipped: needs root\n");
        return;
    }
    /* Namespace A: this process, from here on. Namespace B: kept by its
     * fd, the "shed's" side (ns_fd >= 0 in the calls). */
    if (unshare (CLONE_NEWNET) != 0) {
        printf ("tc_test: tbf part skipped: cannot create namespaces here\n");
        return;
    }
    int a_fd = open ("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC);
    assert_true (a_fd >= 0);
    assert_int_equal (unshare (CLONE_NEWNET), 0);
    int b_fd = open ("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC);
    assert_true (b_fd >= 0);
    assert_int_equal (setns (a_fd, CLONE_NEWNET), 0);
    char why[256] = "";
    if (nl_veth_create ("tct0", "eth0", b_fd, why, sizeof why) != 0)
        fail_msg ("veth: %s", why);

    /* To the "shed": 10 Mbit/s on our end; burst 16 KiB (the floor),
     * queue 50 ms at the rate plus the burst. */
    tc_root_t q;
    assert_int_equal (tc_rate_limit (-1, "tct0", 10000, why, sizeof why), 0);
    assert_int_equal (tc_root_get (-1, "tct0", &q, why, sizeof why), 0);
    assert_string_equal (q.kind, "tbf");
    assert_int_equal (q.rate_bps, 10000 * 125);
    assert_in_range (q.burst, 16384 - 64, 16384 + 64);
    assert_in_range (q.limit, 62500 + 16384 - 256, 62500 + 16384 + 256);
    /* From the "shed": 2 Gbit/s on eth0 inside B; burst 10 ms at the rate. */
    assert_int_equal (tc_rate_limit (b_fd, "eth0", 2000000, why, sizeof why), 0);
    assert_int_equal (tc_root_get (b_fd, "eth0", &q, why, sizeof why), 0);
    assert_string_equal (q.kind, "tbf");
    assert_int_equal (q.rate_bps, 250000000);
    assert_in_range (q.burst, 2500000 - 4096, 2500000 + 4096);
    /* B's eth0 is not ours: in A there is none. */
    assert_int_equal (tc_root_get (-1, "eth0", &q, why, sizeof why), -1);

    /* tc itself reads the same qdiscs. */
    char out[1024];
    if (access (S_TC, X_OK) == 0) {
        s_tc_show ("tct0", out, sizeof out);
        if (!strstr (out, "qdisc tbf") || !strstr (out, "rate 10Mbit")
            || !strstr (out, "burst 16Kb") || !strstr (out, "lat 50"))
            fail_msg ("tc qdisc show dev tct0: %s", out);
        assert_int_equal (setns (b_fd, CLONE_NEWNET), 0);
        s_tc_show ("eth0", out, sizeof out);
        assert_int_equal (setns (a_fd, CLONE_NEWNET), 0);
        if (!strstr (out, "qdisc tbf") || !strstr (out, "rate 2Gbit"))
            fail_msg ("tc qdisc show dev eth0 (in B): %s", out);
    }
    else
        printf ("tc_test: no %s, libnl read-back only\n", S_TC);

    /* Replace is idempotent and takes the new rate. */
    assert_int_equal (tc_rate_limit (-1, "tct0", 20000, why, sizeof why), 0);
    assert_int_equal (tc_rate_limit (-1, "tct0", 20000, why, sizeof why), 0);
    assert_int_equal (tc_root_get (-1, "tct0", &q, why, sizeof why), 0);
    assert_int_equal (q.rate_bps, 20000 * 125);
    /* 0 removes the limit; removing none is fine too. */
    assert_int_equal (tc_rate_limit (-1, "tct0", 0, why, sizeof why), 0);
    assert_int_equal (tc_root_get (-1, "tct0", &q, why, sizeof why), 0);
    assert_string_not_equal (q.kind, "tbf");
    assert_int_equal (tc_rate_limit (-1, "tct0", 0, why, sizeof why), 0);
    if (access (S_TC, X_OK) == 0) {
        s_tc_show ("tct0", out, sizeof out);
        if (strstr (out, "tbf"))
            fail_msg ("tbf still there: %s", out);
    }

    /* Errors, one line each. */
    why[0] = '\0';
    assert_int_equal (tc_rate_limit (-1, "nosuch0", 1000, why, sizeof why), -1);
    assert_string_equal (why, "tc: rate limit on nosuch0: no such interface");
    assert_int_equal (tc_rate_limit (b_fd, "tct0", 1000, why, sizeof why), -1);
    assert_string_equal (why, "tc: rate limit on tct0: no such interface");
    assert_int_equal (tc_rate_limit (-1, "a-name-longer-than-ifnamsiz", 1000, why, sizeof why), -1);
    assert_non_null (strstr (why, "no such interface"));
    assert_int_equal (tc_root_get (-1, "nosuch0", &q, why, sizeof why), -1);
    assert_string_equal (why, "tc: qdisc of nosuch0: no such interface");
    assert_int_equal (tc_rate_limit (-1, "nosuch0", 0, why, sizeof why), 0);
    assert_int_equal (tc_rate_limit (-1, "tct0", TC_KBIT_MAX + 1, why, sizeof why), -1);
    assert_non_null (strstr (why, "is over the"));
    int not_ns = open ("/dev/null", O_RDONLY | O_CLOEXEC);
    assert_int_equal (tc_rate_limit (not_ns, "eth0", 1000, why, sizeof why), -1);
    assert_non_null (strstr (why, "cannot enter the shed's network namespace"));
    close (not_ns);
    close (b_fd);
    close (a_fd);
}

int
main (void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test (test_rates),
        cmocka_unit_test (test_tbf),
    };
    return cmocka_run_group_tests (tests, NULL, NULL);
}
