/* ipam_test.c - block claims, conflicts, settle time, shed addresses,
 * exhaustion, persistence across a restart. Time is passed in, so every
 * case is deterministic. */
#include "node/overlay/ipam.h"

#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

static ipam_t *
s_new (const char *node, const char *cidr, int block_prefix)
{
    ipam_config_t cfg = {
        .cidr = cidr, .block_prefix = block_prefix, .node = node, .settle_ms = 2000
    };
    char err[256] = "";
    ipam_t *ipam = ipam_new (&cfg, err, sizeof err);
    if (!ipam)
        fail_msg ("ipam_new: %s", err);
    return ipam;
}

static void
test_bad_config (void **state)
{
    char err[256];
    ipam_config_t cfg = { .cidr = "198.19.0.0/16", .block_prefix = 24, .node = "n1" };
    cfg.cidr = "198.19.0.0";
    assert_null (ipam_new (&cfg, err, sizeof err));
    cfg.cidr = "198.19.1.0/16";
    assert_null (ipam_new (&cfg, err, sizeof err));
    assert_non_null (strstr (err, "host bits"));
    cfg.cidr = "198.19.0.0/16";
    cfg.block_prefix = 12;
    assert_null (ipam_new (&cfg, err, sizeof err));
    cfg.block_prefix = 31;
    assert_null (ipam_new (&cfg, err, sizeof err));
}

static void
test_claim_and_settle (void **state)
{
    ipam_t *a = s_new ("node1", "198.19.0.0/16", 24);
    assert_int_equal (ipam_blocks (a), 256);
    assert_false (ipam_ready (a, 0));
    bool lost;
    assert_true (ipam_tick (a, 1000, 5000, &lost));
    assert_false (lost);
    uint32_t block;
    uint64_t ms;
    assert_true (ipam_claim (a, &block, &ms));
    assert_int_equal (ms, 5000);
    /* Deterministic first choice. */
    ipam_t *again = s_new ("node1", "198.19.0.0/16", 24);
    ipam_tick (again, 0, 1, NULL);
    uint32_t block2;
    ipam_claim (again, &block2, NULL);
    assert_int_equal (block, block2);
    ipam_destroy (&again);

    /* No addresses before the settle time. */
    char ip[IPAM_ADDR_MAX];
    uint8_t mac[6];
    assert_int_equal (ipam_assign (a, "web", 2999, ip, mac), -1);
    assert_int_equal (errno, EAGAIN);
    assert_false (ipam_ready (a, 2999));
    assert_true (ipam_ready (a, 3000));
    assert_int_equal (ipam_assign (a, "web", 3000, ip, mac), 0);
    char text[IPAM_CIDR_MAX + 4], gw[IPAM_ADDR_MAX], want[32];
    ipam_block_text (a, block, text, sizeof text);
    snprintf (want, sizeof want, "198.19.%u.0/24", block);
    assert_string_equal (text, want);
    snprintf (want, sizeof want, "198.19.%u.2", block);
    assert_string_equal (ip, want);
    assert_int_equal (ipam_gateway (a, gw), 0);
    snprintf (want, sizeof want, "198.19.%u.1", block);
    assert_string_equal (gw, want);
    uint8_t expect[6] = { 0x02, 0x00, 198, 19, (uint8_t) block, 2 };
    assert_memory_equal (mac, expect, 6);
    uint32_t parsed;
    assert_int_equal (ipam_block_parse (a, text, &parsed), 0);
    assert_int_equal (parsed, block);
    assert_int_equal (ipam_block_parse (a, "198.19.3.0/25", &parsed), -1);
    assert_int_equal (ipam_block_parse (a, "198.20.3.0/24", &parsed), -1);
    /* Nothing changes without news. */
    assert_false (ipam_tick (a, 4000, 9000, &lost));
    ipam_destroy (&a);
}

/* Two nodes pick the same block before seeing each other: the one with the
 * earlier claim keeps it, the other moves; both then see distinct blocks. */
static void
test_conflict (void **state)
{
    ipam_t *a = s_new ("alpha", "198.19.0.0/16", 24);
    ipam_t *b = s_new ("beta", "198.19.0.0/16", 24);
    uint32_t ba, bb;
    uint64_t ma, mb;
    ipam_tick (a, 0, 100, NULL);
    ipam_claim (a, &ba, &ma);
    /* Force beta onto alpha's block: restore a later claim there. */
    ipam_restore (b, ba, 200, 0);
    ipam_claim (b, &bb, &mb);
    assert_int_equal (ba, bb);

    /* Each sees the other's claim at t=1000, before settling. */
    ipam_peer_claim (a, "beta", bb, mb, 1000);
    ipam_peer_claim (b, "alpha", ba, ma, 1000);
    bool lost;
    assert_false (ipam_tick (a, 1000, 1000, &lost)); /* alpha wins */
    assert_false (lost);
    assert_true (ipam_tick (b, 1000, 1000, &lost)); /* beta moves */
    assert_true (lost);
    ipam_claim (b, &bb, &mb);
    assert_int_not_equal (ba, bb);
    assert_int_equal (mb, 1000);
    /* Alpha's settle restarted at the conflict. */
    assert_false (ipam_ready (a, 2999));
    assert_true (ipam_ready (a, 3000));
    /* Beta's new claim settles 2 s after the move. */
    ipam_peer_claim (a, "beta", bb, mb, 1100);
    assert_false (ipam_ready (b, 2999));
    assert_true (ipam_ready (b, 3000));

    /* Equal claim times: the name decides, the same way on both sides. */
    ipam_t *c = s_new ("gamma", "198.19.0.0/16", 24);
    ipam_restore (c, ba, ma, 0);
    ipam_peer_claim (c, "alpha", ba, ma, 10);
    ipam_peer_claim (a, "gamma", ba, ma, 10);
    assert_true (ipam_tick (c, 10, 10, &lost));
    assert_true (lost);
    assert_false (ipam_tick (a, 10, 10, &lost));
    assert_false (lost);
    uint32_t bc;
    ipam_claim (c, &bc, NULL);
    assert_int_not_equal (bc, ba);

    /* A newcomer on a settled block never displaces its holder. */
    ipam_t *d = s_new ("delta", "198.19.0.0/16", 24);
    ipam_restore (d, ba, 99999, 5000);
    ipam_peer_claim (a, "delta", ba, 99999, 5000);
    assert_true (ipam_ready (a, 5000));
    assert_false (ipam_tick (a, 5000, 5000, &lost));
    ipam_peer_claim (d, "alpha", ba, ma, 5000);
    assert_true (ipam_tick (d, 5000, 5000, &lost));
    assert_true (lost);

    /* A forgotten peer frees its block. */
    ipam_peer_forget (a, "beta");
    ipam_peer_forget (a, "nobody");
    ipam_destroy (&a);
    ipam_destroy (&b);
    ipam_destroy (&c);
    ipam_destroy (&d);
}

/* Every block claimed by others: no claim; one freed: taken. */
static void
test_blocks_exhausted (void **state)
{
    ipam_t *a = s_new ("me", "198.19.0.0/22", 24);
    assert_int_equal (ipam_blocks (a), 4);
    for (uint32_t b = 0; b < 4; b++) {
        char name[16];
        snprintf (name, sizeof name, "n%u", b);
        ipam_peer_claim (a, name, b, 1, 0);
    }
    assert_false (ipam_tick (a, 0, 0, NULL));
    assert_false (ipam_claim (a, NULL, NULL));
    ipam_peer_forget (a, "n2");
    assert_true (ipam_tick (a, 0, 5, NULL));
    uint32_t block;
    ipam_claim (a, &block, NULL);
    assert_int_equal (block, 2);
    ipam_destroy (&a);
}

/* A /29 block holds offsets 2..6: five sheds, then ENOSPC; a release frees
 * exactly that offset; the same name gets the same address. */
static void
test_addresses_exhausted (void **state)
{
    ipam_t *a = s_new ("me", "198.19.0.0/16", 29);
    ipam_tick (a, 0, 0, NULL);
    char ip[IPAM_ADDR_MAX], first[IPAM_ADDR_MAX], third[IPAM_ADDR_MAX];
    uint8_t mac[6];
    for (int i = 0; i < 5; i++) {
        char name[16];
        snprintf (name, sizeof name, "s%d", i);
        assert_int_equal (ipam_assign (a, name, 5000, ip, mac), 0);
        if (i == 0)
            strcpy (first, ip);
        if (i == 2)
            strcpy (third, ip);
    }
    assert_int_equal (ipam_count (a), 5);
    assert_int_equal (ipam_assign (a, "s5", 5000, ip, mac), -1);
    assert_int_equal (errno, ENOSPC);
    assert_int_equal (ipam_assign (a, "s0", 5000, ip, mac), 0);
    assert_string_equal (ip, first);
    assert_int_equal (ipam_release (a, "s2"), 0);
    assert_int_equal (ipam_release (a, "s2"), -1);
    assert_int_equal (ipam_assign (a, "s5", 5000, ip, mac), 0);
    assert_string_equal (ip, third);
    assert_int_equal (ipam_assign (a, "", 5000, ip, mac), -1);
    assert_int_equal (errno, EINVAL);
    ipam_destroy (&a);
}

/* Save, "restart", load: same block, same claim time, same addresses. */
static void
test_restart (void **state)
{
    char dir[] = "/tmp/ipam_test.XXXXXX";
    assert_non_null (mkdtemp (dir));
    char path[64];
    snprintf (path, sizeof path, "%s/%s", dir, IPAM_FILE);

    ipam_t *a = s_new ("node7", "198.19.0.0/16", 24);
    ipam_tick (a, 0, 4242, NULL);
    char ip1[IPAM_ADDR_MAX], ip2[IPAM_ADDR_MAX], ip[IPAM_ADDR_MAX];
    uint8_t mac[6];
    assert_int_equal (ipam_assign (a, "one", 3000, ip1, mac), 0);
    assert_int_equal (ipam_assign (a, "two", 3000, ip2, mac), 0);
    uint32_t block;
    ipam_claim (a, &block, NULL);
    assert_int_equal (ipam_save (a, path), 0);
    ipam_destroy (&a);

    /* Another node took our first choice meanwhile, with a later claim:
     * we keep our block (our claim is older). */
    ipam_t *b = s_new ("node7", "198.19.0.0/16", 24);
    char err[256] = "";
    assert_int_equal (ipam_load (b, path, 100, err, sizeof err), 0);
    uint32_t block2;
    uint64_t ms;
    assert_true (ipam_claim (b, &block2, &ms));
    assert_int_equal (block2, block);
    assert_int_equal (ms, 4242);
    ipam_peer_claim (b, "late", block, 9999, 100);
    bool lost;
    assert_false (ipam_tick (b, 100, 10000, &lost));
    assert_false (lost);
    assert_int_equal (ipam_assign (b, "two", 2099, ip, mac), -1); /* settling again */
    assert_int_equal (ipam_assign (b, "two", 2200, ip, mac), 0);
    assert_string_equal (ip, ip2);
    assert_int_equal (ipam_lookup (b, "one", ip, mac), 0);
    assert_string_equal (ip, ip1);
    assert_int_equal (ipam_assign (b, "three", 2200, ip, mac), 0);
    assert_string_not_equal (ip, ip1);
    assert_string_not_equal (ip, ip2);
    ipam_destroy (&b);

    /* Another CIDR layout: offsets kept, claim dropped. */
    ipam_t *c = s_new ("node7", "198.19.0.0/16", 25);
    assert_int_equal (ipam_load (c, path, 0, err, sizeof err), 0);
    assert_false (ipam_claim (c, NULL, NULL));
    assert_int_equal (ipam_count (c), 2);
    ipam_destroy (&c);

    /* Garbage is a clear error. */
    FILE *f = fopen (path, "w");
    fputs ("shed-ipam 1 198.19.0.0/16 24\nwhat\n", f);
    fclose (f);
    ipam_t *d = s_new ("node7", "198.19.0.0/16", 24);
    assert_int_equal (ipam_load (d, path, 0, err, sizeof err), -1);
    assert_non_null (strstr (err, ":2: unreadable line"));
    ipam_destroy (&d);
    unlink (path);
    rmdir (dir);
    /* Missing file: nothing loaded, no error. */
    ipam_t *e = s_new ("node7", "198.19.0.0/16", 24);
    assert_int_equal (ipam_load (e, path, 0, err, sizeof err), 0);
    assert_false (ipam_claim (e, NULL, NULL));
    ipam_destroy (&e);
}

/* Many nodes converge on distinct blocks by exchanging claims round by
 * round (a tiny simulation of the replicated state). */
static void
test_many_nodes_converge (void **state)
{
    enum { N = 40 };
    ipam_t *nodes[N];
    char names[N][16];
    for (int i = 0; i < N; i++) {
        snprintf (names[i], sizeof names[i], "n%02d", i);
        nodes[i] = s_new (names[i], "198.19.0.0/22", 26); /* only 16 blocks of /26 */
    }
    /* 16 blocks for 40 nodes: at most 16 hold one, each distinct. */
    uint64_t t = 0;
    for (int round = 0; round < 200; round++, t += 100) {
        for (int i = 0; i < N; i++)
            ipam_tick (nodes[i], t, t, NULL);
        for (int i = 0; i < N; i++) {
            uint32_t b;
            uint64_t ms;
            bool have = ipam_claim (nodes[i], &b, &ms);
            for (int j = 0; j < N; j++) {
                if (j == i)
                    continue;
                if (have)
                    ipam_peer_claim (nodes[j], names[i], b, ms, t);
                else
                    ipam_peer_forget (nodes[j], names[i]);
            }
        }
    }
    int holders = 0;
    bool used[16] = { false };
    for (int i = 0; i < N; i++) {
        uint32_t b;
        if (ipam_claim (nodes[i], &b, NULL)) {
            assert_false (used[b]);
            used[b] = true;
            holders++;
        }
    }
    assert_int_equal (holders, 16);
    for (int i = 0; i < N; i++)
        ipam_destroy (&nodes[i]);
}

int
main (void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test (test_bad_config),
        cmocka_unit_test (test_claim_and_settle),
        cmocka_unit_test (test_conflict),
        cmocka_unit_test (test_blocks_exhausted),
        cmocka_unit_test (test_addresses_exhausted),
        cmocka_unit_test (test_restart),
        cmocka_unit_test (test_many_nodes_converge),
    };
    return cmocka_run_group_tests (tests, NULL, NULL);
}
