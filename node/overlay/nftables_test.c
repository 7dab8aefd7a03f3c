/*
 * nftables_test.c - the scripts nftables.c builds, without running nft: the
 * address and MAC canonical forms, the anti-spoofing chain of one port, the
 * member filter; and that hostile input (a gossiped "address" carrying nft
 * commands, a port or MAC with a newline) is refused before any script is
 * run: a recording runner stands in for libnftables.
 */
#include "node/overlay/nftables.h"

#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <cmocka.h>

static int s_runs;
static char s_last[SHED_NFT_SCRIPT_MAX];

static int
s_record (const char *script, char *out, size_t outlen, char *why, size_t whylen)
{
    (void) why;
    (void) whylen;
    s_runs++;
    snprintf (s_last, sizeof s_last, "%s", script);
    if (out && outlen)
        out[0] = '\0'; /* "list map" shows no elements */
    return 0;
}

static const char *const s_hostile[] = {
    "1.1.1.1 }\nflush ruleset\n#",
    "1.1.1.1 }; flush ruleset",
    "1.1.1.1\n",
    " 1.1.1.1",
    "1.1.1.1/0",
    "1.1.1.1 , 0.0.0.0/0",
    "198.18.0.11:7946",
    "::1 }\nflush ruleset",
    "",
    "01.1.1.1",
};

static void
test_addr_canon (void **state)
{
    (void) state;
    char out[SHED_NFT_ADDR_MAX];
    assert_int_equal (shed_nft_addr_canon ("198.18.0.11", out), 4);
    assert_string_equal (out, "198.18.0.11");
    assert_int_equal (shed_nft_addr_canon ("2001:DB8:0:0::1", out), 6);
    assert_string_equal (out, "2001:db8::1");
    for (size_t i = 0; i < sizeof s_hostile / sizeof s_hostile[0]; i++) {
        assert_int_equal (shed_nft_addr_canon (s_hostile[i], out), -1);
        assert_string_equal (out, "");
    }
    assert_int_equal (shed_nft_addr_canon (NULL, out), -1);
}

static void
test_mac_canon (void **state)
{
    (void) state;
    char out[SHED_NFT_MAC_MAX];
    assert_int_equal (shed_nft_mac_canon ("02:00:C6:13:05:02", out), 0);
    assert_string_equal (out, "02:00:c6:13:05:02");
    assert_int_equal (shed_nft_mac_canon ("02:00:c6:13:05:2", out), -1);
    assert_int_equal (shed_nft_mac_canon (" 2:00:c6:13:05:02", out), -1);
    assert_int_equal (shed_nft_mac_canon ("02:00:c6:13:05:02\n", out), -1);
    assert_int_equal (shed_nft_mac_canon ("02-00-c6-13-05-02", out), -1);
}

static void
test_table_name (void **state)
{
    (void) state;
    char t[SHED_NFT_NAME_MAX];
    shed_nft_table_name ("node-1.example", "", t, sizeof t);
    assert_string_equal (t, "shed_node_1_example");
    shed_nft_table_name ("n1", "_nat", t, sizeof t);
    assert_string_equal (t, "shed_n1_nat");
}

static void
test_antispoof_script (void **state)
{
    (void) state;
    char buf[SHED_NFT_SCRIPT_MAX];
    assert_int_equal (shed_nft_antispoof_script ("shed_n1", "sv0123456789", "02:00:C6:13:05:02",
                                                 "198.19.5.2/16", buf, sizeof buf),
                      0);
    const char *want =
        "add table bridge shed_n1\n"
        "add map bridge shed_n1 ports { type ifname : verdict; }\n"
        "add chain bridge shed_n1 prerouting { type filter hook prerouting priority -200; "
        "policy accept; }\n"
        "flush chain bridge shed_n1 prerouting\n"
        "add rule bridge shed_n1 prerouting iifname vmap @ports\n"
        "add chain bridge shed_n1 sv0123456789\n"
        "flush chain bridge shed_n1 sv0123456789\n"
        "add rule bridge shed_n1 sv0123456789 ether saddr != 02:00:c6:13:05:02 counter drop "
        "comment \"mac\"\n"
        "add rule bridge shed_n1 sv0123456789 ether type != { ip, arp } counter drop "
        "comment \"proto\"\n"
        "add rule bridge shed_n1 sv0123456789 arp saddr ether != 02:00:c6:13:05:02 counter "
        "drop comment \"arp_mac\"\n"
        "add rule bridge shed_n1 sv0123456789 arp saddr ip != 198.19.5.2 counter drop "
        "comment \"arp_ip\"\n"
        "add rule bridge shed_n1 sv0123456789 ip saddr != 198.19.5.2 counter drop "
        "comment \"ip\"\n"
        "add element bridge shed_n1 ports { \"sv0123456789\" : jump sv0123456789 }\n";
    assert_string_equal (buf, want);

    /* No address: MAC and ethertypes only. */
    assert_int_equal (shed_nft_antispoof_script ("shed_n1", "sv0123456789", "02:00:c6:13:05:02", "",
                                                 buf, sizeof buf),
                      0);
    assert_null (strstr (buf, "ip saddr"));
    assert_non_null (strstr (buf, "ether saddr != 02:00:c6:13:05:02"));

    /* Anything else is refused and leaves nothing to run. */
    const char *bad_ip[] = { "198.19.5.2 counter accept", "::1", "198.19.5.2\n", "x" };
    for (size_t i = 0; i < sizeof bad_ip / sizeof bad_ip[0]; i++) {
        assert_int_equal (shed_nft_antispoof_script ("shed_n1", "sv0123456789", "02:00:c6:13:05:02",
                                                     bad_ip[i], buf, sizeof buf),
                          -1);
        assert_string_equal (buf, "");
    }
    assert_int_equal (shed_nft_antispoof_script ("shed_n1", "sv01\nflush ruleset",
                                                 "02:00:c6:13:05:02", "", buf, sizeof buf),
                      -1);
    assert_int_equal (shed_nft_antispoof_script ("shed_n1", "sv0123456789ab_x", "02:00:c6:13:05:02",
                                                 "", buf, sizeof buf),
                      -1);
    assert_int_equal (shed_nft_antispoof_script ("shed n1", "sv0123456789", "02:00:c6:13:05:02", "",
                                                 buf, sizeof buf),
                      -1);
    assert_int_equal (shed_nft_antispoof_script ("shed_n1", "sv0123456789", "02:00:c6:13:05", "",
                                                 buf, sizeof buf),
                      -1);
    /* Too small a buffer: refused, never a truncated script. */
    assert_int_equal (shed_nft_antispoof_script ("shed_n1", "sv0123456789", "02:00:c6:13:05:02",
                                                 "198.19.5.2", buf, 200),
                      -1);
    assert_string_equal (buf, "");
}

static void
test_antispoof_del_script (void **state)
{
    (void) state;
    char buf[SHED_NFT_SCRIPT_MAX];
    assert_int_equal (shed_nft_antispoof_del_script ("shed_n1", "sv0123456789", buf, sizeof buf),
                      0);
    assert_non_null (strstr (buf, "delete element bridge shed_n1 ports { \"sv0123456789\" }\n"));
    assert_non_null (strstr (buf, "delete chain bridge shed_n1 sv0123456789\n"));
    /* The deletes come after the declarations that make them safe. */
    assert_true (strstr (buf, "add chain bridge shed_n1 sv0123456789\n")
                 < strstr (buf, "delete chain"));
}

static void
test_members (void **state)
{
    (void) state;
    char buf[SHED_NFT_SCRIPT_MAX];
    assert_int_equal (shed_nft_members_table_script ("shed_n1", 7950, buf, sizeof buf), 0);
    assert_non_null (strstr (buf, "udp dport 7950 ip saddr @members accept"));
    assert_non_null (strstr (buf, "udp dport 7950 counter drop"));
    assert_int_equal (shed_nft_members_table_script ("shed_n1", 0, buf, sizeof buf), -1);
    assert_int_equal (shed_nft_member_script ("shed_n1", "198.18.0.12", true, buf, sizeof buf), 0);
    assert_string_equal (buf, "add element inet shed_n1 members { 198.18.0.12 }\n");
    assert_int_equal (shed_nft_member_script ("shed_n1", "fd00::12", false, buf, sizeof buf), 0);
    assert_string_equal (buf, "delete element inet shed_n1 members6 { fd00::12 }\n");
}

/* The issue's example: a member address that closes the set and flushes
 * every rule of the host. It never reaches a script, nothing runs. */
static void
test_hostile_member_never_runs (void **state)
{
    (void) state;
    shed_nft_set_runner (s_record);
    s_runs = 0;
    char why[256];
    for (size_t i = 0; i < sizeof s_hostile / sizeof s_hostile[0]; i++) {
        char buf[SHED_NFT_SCRIPT_MAX] = "x";
        assert_int_equal (shed_nft_member_script ("shed_n1", s_hostile[i], true, buf, sizeof buf),
                          -1);
        assert_string_equal (buf, "");
        errno = 0;
        assert_int_equal (shed_nft_member ("shed_n1", s_hostile[i], true, why, sizeof why), -1);
        assert_int_equal (errno, EINVAL);
    }
    assert_int_equal (s_runs, 0);
    /* A good one does run, and only the element goes in. */
    assert_int_equal (shed_nft_member ("shed_n1", "198.18.0.12", true, why, sizeof why), 0);
    assert_int_equal (s_runs, 1);
    assert_string_equal (s_last, "add element inet shed_n1 members { 198.18.0.12 }\n");
    assert_null (strstr (s_last, "flush"));
    shed_nft_set_runner (NULL);
}

static void
test_antispoof_calls (void **state)
{
    (void) state;
    shed_nft_set_runner (s_record);
    s_runs = 0;
    char why[256];
    assert_int_equal (shed_nft_antispoof_add ("node-1", "sv0123456789", "02:00:c6:13:05:02",
                                              "198.19.5.2/16", why, sizeof why),
                      0);
    assert_int_equal (s_runs, 1);
    assert_non_null (strstr (s_last, "bridge shed_node_1 sv0123456789 ip saddr != 198.19.5.2"));
    assert_int_equal (shed_nft_antispoof_add ("node-1", "sv0123456789", "02:00:c6:13:05:02",
                                              "198.19.5.2 accept", why, sizeof why),
                      -1);
    assert_int_equal (s_runs, 1);
    /* Delete: the port's script, the list, and (no elements left) the table. */
    assert_int_equal (shed_nft_antispoof_del ("node-1", "sv0123456789", why, sizeof why), 0);
    assert_int_equal (s_runs, 4);
    assert_string_equal (s_last, "delete table bridge shed_node_1\n");
    shed_nft_set_runner (NULL);
}

int
main (void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test (test_addr_canon),
        cmocka_unit_test (test_mac_canon),
        cmocka_unit_test (test_table_name),
        cmocka_unit_test (test_antispoof_script),
        cmocka_unit_test (test_antispoof_del_script),
        cmocka_unit_test (test_members),
        cmocka_unit_test (test_hostile_member_never_runs),
        cmocka_unit_test (test_antispoof_calls),
    };
    return cmocka_run_group_tests (tests, NULL, NULL);
}
