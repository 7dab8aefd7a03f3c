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

/* A settled ipam of `node` at t=3000 on a /16 with /24 blocks; *blk gets
 * its block. */
static ipam_t *
s_settled (const char *node, uint32_t *blk)
{
    ipam_t *a = s_new (node, "198.19.0.0/16", 24);
    ipam_tick (a, 0, 1000, NULL);
    assert_true (ipam_ready (a, 3000));
    ipam_claim (a, blk, NULL);
    return a;
}

/* A move between two nodes: the target adopts the source's address (it
 * lies outside the target's block), the source lends it: reserved, never
 * handed out, until told no endpoint record holds its MAC. */
static void
test_move_adopt_and_lend (void **state)
{
    uint32_t bs, bt;
    ipam_t *src = s_settled ("source", &bs);
    ipam_t *dst = s_new ("target", "198.19.0.0/16", 24);
    /* The target must not pick the source's block. */
    ipam_peer_claim (dst, "source", bs, 1000, 0);
    ipam_tick (dst, 0, 2000, NULL);
    ipam_claim (dst, &bt, NULL);
    assert_int_not_equal (bs, bt);

    char ip[IPAM_ADDR_MAX], moved[IPAM_ADDR_MAX], other[IPAM_ADDR_MAX];
    uint8_t mac[6], mac2[6];
    assert_int_equal (ipam_assign (src, "web", 3000, moved, mac), 0);
    assert_int_equal (ipam_assign (src, "db", 3000, other, mac), 0);

    /* Not settled yet on the target: EAGAIN, nothing held. */
    bool adopted = false;
    assert_int_equal (ipam_take (dst, "web", moved, 1500, ip, mac, &adopted), -1);
    assert_int_equal (errno, EAGAIN);
    assert_int_equal (ipam_count (dst), 0);

    /* Adopted on the target, with the MAC its address gives. */
    assert_int_equal (ipam_take (dst, "web", moved, 5000, ip, mac, &adopted), 0);
    assert_true (adopted);
    assert_string_equal (ip, moved);
    ipam_mac_for (moved, mac2);
    assert_memory_equal (mac, mac2, 6);
    assert_true (ipam_adopted (dst, "web"));
    assert_true (ipam_holds_mac (dst, mac));
    assert_int_equal (ipam_count (dst), 1);
    assert_int_equal (ipam_lookup (dst, "web", ip, mac2), 0);
    assert_string_equal (ip, moved);
    /* Again: idempotent; assign gives the adopted address too. */
    assert_int_equal (ipam_take (dst, "web", moved, 5000, ip, mac, &adopted), 0);
    assert_int_equal (ipam_assign (dst, "web", 5000, ip, mac), 0);
    assert_string_equal (ip, moved);
    /* Another shed may not take it; the shed may not take a second one. */
    assert_int_equal (ipam_take (dst, "api", moved, 5000, ip, mac, &adopted), -1);
    assert_int_equal (errno, EADDRINUSE);
    assert_int_equal (ipam_take (dst, "web", other, 5000, ip, mac, &adopted), -1);
    assert_int_equal (errno, EEXIST);
    /* Not a shed address of the CIDR. */
    assert_int_equal (ipam_take (dst, "x", "10.0.0.5", 5000, ip, mac, NULL), -1);
    assert_int_equal (errno, EINVAL);
    assert_int_equal (ipam_take (dst, "x", "198.19.9.1", 5000, ip, mac, NULL), -1);
    assert_int_equal (errno, EINVAL); /* a gateway */
    assert_int_equal (ipam_take (dst, "x", "198.19.9.255", 5000, ip, mac, NULL), -1);
    assert_int_equal (errno, EINVAL);
    assert_int_equal (ipam_take (dst, "x", "not-an-ip", 5000, ip, mac, NULL), -1);
    assert_int_equal (errno, EINVAL);

    /* The source lends: the shed is gone here, its offset is not. */
    assert_int_equal (ipam_lend (src, "web", 6000), 0);
    assert_int_equal (ipam_lookup (src, "web", ip, mac), -1);
    assert_int_equal (ipam_count (src), 1);
    assert_int_equal (ipam_lent_count (src), 1);
    ipam_mac_for (moved, mac2);
    assert_false (ipam_holds_mac (src, mac2)); /* its shed runs elsewhere */
    assert_int_equal (ipam_lend (src, "web", 6000), -1);
    assert_int_equal (errno, ENOENT);
    /* New sheds skip it: the first free offset was web's. */
    assert_int_equal (ipam_assign (src, "new1", 6000, ip, mac), 0);
    assert_string_not_equal (ip, moved);
    assert_string_not_equal (ip, other);
    /* Nor can another shed take it explicitly. */
    assert_int_equal (ipam_take (src, "new2", moved, 6000, ip, mac, NULL), -1);
    assert_int_equal (errno, EADDRINUSE);

    /* Moving back: the shed it was lent for takes it again, as its own. */
    assert_int_equal (ipam_take (src, "web", moved, 7000, ip, mac, &adopted), 0);
    assert_false (adopted);
    assert_int_equal (ipam_lent_count (src), 0);
    assert_int_equal (ipam_lend (src, "web", 8000), 0);

    /* Told no endpoint holds its MAC any more: freed, handed out again. */
    assert_int_equal (ipam_lent_free (src, other), -1); /* not lent */
    assert_int_equal (errno, ENOENT);
    assert_int_equal (ipam_lent_free (src, moved), 0);
    assert_int_equal (ipam_lent_count (src), 0);
    assert_int_equal (ipam_assign (src, "new3", 9000, ip, mac), 0);
    assert_string_equal (ip, moved);

    /* The target's adopted address is simply dropped when it leaves. */
    assert_int_equal (ipam_lend (dst, "web", 9000), 1);
    assert_int_equal (ipam_count (dst), 0);
    assert_int_equal (ipam_lent_count (dst), 0);
    assert_false (ipam_holds_mac (dst, mac2));
    ipam_destroy (&src);
    ipam_destroy (&dst);
}

/* An address of our own block asked for by a move (a shed moving back
 * after its reservation was freed): that offset if free; an adopted
 * address that falls into our block holds its offset against assign. */
static void
test_take_in_own_block (void **state)
{
    uint32_t b;
    ipam_t *a = s_settled ("node1", &b);
    char want[IPAM_ADDR_MAX], ip[IPAM_ADDR_MAX], first[IPAM_ADDR_MAX];
    uint8_t mac[6];
    bool adopted = true;
    snprintf (want, sizeof want, "198.19.%u.2", b);
    assert_int_equal (ipam_take (a, "back", want, 3000, ip, mac, &adopted), 0);
    assert_false (adopted);
    assert_false (ipam_adopted (a, "back"));
    assert_int_equal (ipam_assign (a, "next", 3000, first, mac), 0);
    snprintf (want, sizeof want, "198.19.%u.3", b);
    assert_string_equal (first, want);
    assert_int_equal (ipam_take (a, "other", want, 3000, ip, mac, NULL), -1);
    assert_int_equal (errno, EADDRINUSE);
    /* Release frees it like any address. */
    assert_int_equal (ipam_release (a, "back"), 0);
    assert_int_equal (ipam_assign (a, "again", 3000, ip, mac), 0);
    snprintf (want, sizeof want, "198.19.%u.2", b);
    assert_string_equal (ip, want);
    ipam_destroy (&a);
}

typedef struct {
    char shed[64], ip[16];
    uint64_t since;
    int n;
} s_seen_t;

static void
s_lent_seen (const char *shed, const char *ip, uint64_t since_ms, void *arg)
{
    s_seen_t *seen = arg;
    snprintf (seen->shed, sizeof seen->shed, "%s", shed);
    snprintf (seen->ip, sizeof seen->ip, "%s", ip);
    seen->since = since_ms;
    seen->n++;
}

/* Adopted and lent entries survive a restart; a file written before
 * moves existed (no such lines) still loads; bad lines are errors. */
static void
test_move_persistence (void **state)
{
    char dir[] = "/tmp/ipam_test.XXXXXX";
    assert_non_null (mkdtemp (dir));
    char path[64];
    snprintf (path, sizeof path, "%s/%s", dir, IPAM_FILE);
    uint32_t b;
    ipam_t *a = s_settled ("node5", &b);
    char ip[IPAM_ADDR_MAX], lent[IPAM_ADDR_MAX], keep[IPAM_ADDR_MAX], adopt[IPAM_ADDR_MAX];
    uint8_t mac[6];
    assert_int_equal (ipam_assign (a, "gone", 3000, lent, mac), 0);
    assert_int_equal (ipam_assign (a, "stays", 3000, keep, mac), 0);
    assert_int_equal (ipam_lend (a, "gone", 3000), 0);
    snprintf (adopt, sizeof adopt, "198.19.%u.7", (b + 1) % 256);
    assert_int_equal (ipam_take (a, "came", adopt, 3000, ip, mac, NULL), 0);
    assert_int_equal (ipam_save (a, path), 0);
    ipam_destroy (&a);

    ipam_t *c = s_new ("node5", "198.19.0.0/16", 24);
    char err[256] = "";
    assert_int_equal (ipam_load (c, path, 50000, err, sizeof err), 0);
    assert_int_equal (ipam_count (c), 2);
    assert_int_equal (ipam_lent_count (c), 1);
    assert_true (ipam_adopted (c, "came"));
    assert_int_equal (ipam_lookup (c, "came", ip, mac), 0);
    assert_string_equal (ip, adopt);
    assert_int_equal (ipam_lookup (c, "gone", ip, mac), -1);
    /* The lent one's grace restarts at load (since = now). */
    s_seen_t seen = { .n = 0 };
    ipam_lent_each (c, s_lent_seen, &seen);
    assert_int_equal (seen.n, 1);
    assert_string_equal (seen.shed, "gone");
    assert_string_equal (seen.ip, lent);
    assert_int_equal (seen.since, 50000);
    assert_true (ipam_ready (c, 52000));
    assert_int_equal (ipam_assign (c, "new", 52000, ip, mac), 0);
    assert_string_not_equal (ip, lent);
    assert_string_not_equal (ip, keep);
    ipam_destroy (&c);

    /* A file from before moves: shed lines only. */
    FILE *f = fopen (path, "w");
    fprintf (f, "shed-ipam 1 198.19.0.0/16 24\nclaim %u 1000\nshed old 2\nshed older 3\n", b);
    fclose (f);
    ipam_t *d = s_new ("node5", "198.19.0.0/16", 24);
    assert_int_equal (ipam_load (d, path, 0, err, sizeof err), 0);
    assert_int_equal (ipam_count (d), 2);
    assert_int_equal (ipam_lent_count (d), 0);
    assert_false (ipam_adopted (d, "old"));
    ipam_destroy (&d);

    /* Bad adopt/lent lines: not an address, two entries for one address. */
    const char *bad[] = { "adopt x 198.19.1.300\n", "lent x\n",
                          "adopt a 198.19.4.5\nlent b 198.19.4.5\n", "adopt a 198.19.4.5 extra\n" };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        f = fopen (path, "w");
        fprintf (f, "shed-ipam 1 198.19.0.0/16 24\n%s", bad[i]);
        fclose (f);
        ipam_t *g = s_new ("node5", "198.19.0.0/16", 24);
        assert_int_equal (ipam_load (g, path, 0, err, sizeof err), -1);
        assert_non_null (strstr (err, "unreadable line"));
        ipam_destroy (&g);
    }
    /* Written for another CIDR: dropped, not an error. */
    f = fopen (path, "w");
    fprintf (f, "shed-ipam 1 10.9.0.0/16 24\nadopt a 10.9.4.5\nlent b 10.9.4.6\n");
    fclose (f);
    ipam_t *h = s_new ("node5", "198.19.0.0/16", 24);
    assert_int_equal (ipam_load (h, path, 0, err, sizeof err), 0);
    assert_int_equal (ipam_count (h) + ipam_lent_count (h), 0);
    ipam_destroy (&h);
    unlink (path);
    rmdir (dir);
}

/* The endpoint winner: the higher epoch, then the lower node name; the
 * same verdict whichever side asks (every node programs the same one). */
static void
test_holder_wins (void **state)
{
    assert_true (ipam_holder_wins (2000, "zeta", 1000, "alpha"));
    assert_false (ipam_holder_wins (1000, "alpha", 2000, "zeta"));
    assert_true (ipam_holder_wins (1000, "alpha", 1000, "zeta"));
    assert_false (ipam_holder_wins (1000, "zeta", 1000, "alpha"));
    /* A record of an older node (no epoch: 0) loses to any move. */
    assert_true (ipam_holder_wins (1, "b", 0, "a"));
    /* Among three, the order is total: pick = max, whatever the order. */
    const char *nodes[3] = { "n1", "n2", "n3" };
    uint64_t ep[3] = { 500, 900, 900 };
    int orders[6][3] = { { 0, 1, 2 }, { 0, 2, 1 }, { 1, 0, 2 },
                         { 1, 2, 0 }, { 2, 0, 1 }, { 2, 1, 0 } };
    for (int o = 0; o < 6; o++) {
        int w = orders[o][0];
        for (int i = 1; i < 3; i++) {
            int c = orders[o][i];
            if (ipam_holder_wins (ep[c], nodes[c], ep[w], nodes[w]))
                w = c;
        }
        assert_int_equal (w, 1); /* epoch 900, then "n2" < "n3" */
    }
}

/* The holders of one MAC as the overlay keeps them: during a move the
 * target's newer record wins; when the winner's record goes the remaining
 * one is programmed instead of nothing; a hostile flood of holders is
 * refused beyond IPAM_HOLDERS_MAX. */
static void
test_holders_fallback (void **state)
{
    ipam_holders_t hs = { .n = 0 };
    assert_null (ipam_holders_winner (&hs));
    assert_int_equal (ipam_holders_set (&hs, "source", "198.19.5.2", 1000), 0);
    assert_string_equal (ipam_holders_winner (&hs)->node, "source");
    /* The move's target: its epoch is above the source's. */
    assert_int_equal (ipam_holders_set (&hs, "target", "198.19.5.2", 1001), 0);
    assert_string_equal (ipam_holders_winner (&hs)->node, "target");
    /* Updating the source's record (a republish) changes nothing. */
    assert_int_equal (ipam_holders_set (&hs, "source", "198.19.5.2", 1000), 0);
    assert_int_equal (hs.n, 2);
    assert_string_equal (ipam_holders_winner (&hs)->node, "target");
    /* The source lends: target alone. */
    assert_true (ipam_holders_drop (&hs, "source"));
    assert_false (ipam_holders_drop (&hs, "source"));
    assert_string_equal (ipam_holders_winner (&hs)->node, "target");
    /* Before the source's delete: the target's record goes first (the
     * move failed there): fall back to the source. */
    assert_int_equal (ipam_holders_set (&hs, "source", "198.19.5.2", 1000), 0);
    assert_true (ipam_holders_drop (&hs, "target"));
    const ipam_holder_t *w = ipam_holders_winner (&hs);
    assert_non_null (w);
    assert_string_equal (w->node, "source");
    assert_string_equal (w->ip, "198.19.5.2");
    assert_true (ipam_holders_drop (&hs, "source"));
    assert_null (ipam_holders_winner (&hs));
    /* Bounded: a fifth node is refused, the others stay. */
    char node[16];
    for (int i = 0; i < IPAM_HOLDERS_MAX; i++) {
        snprintf (node, sizeof node, "n%d", i);
        assert_int_equal (ipam_holders_set (&hs, node, "198.19.5.2", 5), 0);
    }
    assert_int_equal (ipam_holders_set (&hs, "extra", "198.19.5.2", 99), -1);
    assert_int_equal (errno, ENOSPC);
    assert_string_equal (ipam_holders_winner (&hs)->node, "n0");
    assert_int_equal (ipam_holders_set (&hs, "n1", "198.19.5.2", 6), 0); /* known: updated */
    assert_string_equal (ipam_holders_winner (&hs)->node, "n1");
    char longname[IPAM_NAME_MAX + 8];
    memset (longname, 'x', sizeof longname - 1);
    longname[sizeof longname - 1] = '\0';
    assert_int_equal (ipam_holders_set (&hs, longname, "198.19.5.2", 1), -1);
    assert_int_equal (errno, EINVAL);
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
        cmocka_unit_test (test_move_adopt_and_lend),
        cmocka_unit_test (test_take_in_own_block),
        cmocka_unit_test (test_move_persistence),
        cmocka_unit_test (test_holder_wins),
        cmocka_unit_test (test_holders_fallback),
    };
    return cmocka_run_group_tests (tests, NULL, NULL);
}
