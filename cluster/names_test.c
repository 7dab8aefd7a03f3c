/* names_test.c - name rule, coordinator choice, reservations, duplicates. */
#include "cluster/names.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <cmocka.h>

static void
test_valid (void **state)
{
    (void) state;
    const char *good[] = { "a", "web", "web-1", "a1", "x-y-z", NULL };
    const char *bad[] = { "", "1a", "-a", "a-", "Web", "a_b", "a.b", "a b", NULL };
    for (int i = 0; good[i]; i++)
        assert_true (names_valid (good[i], NULL, 0));
    char why[128];
    for (int i = 0; bad[i]; i++) {
        why[0] = '\0';
        assert_false (names_valid (bad[i], why, sizeof why));
        assert_non_null (strstr (why, "invalid shed name"));
    }
    char longname[70];
    memset (longname, 'a', 64);
    longname[64] = '\0';
    assert_false (names_valid (longname, why, sizeof why));
    assert_non_null (strstr (why, "63"));
    longname[63] = '\0';
    assert_true (names_valid (longname, NULL, 0));
}

static void
test_coordinator (void **state)
{
    (void) state;
    const char *three[] = { "node1", "node2", "node3" };
    const char *reordered[] = { "node3", "node1", "node2" };
    assert_int_equal (names_coordinator ("web", three, 0), -1);
    /* Same answer whatever the order of the member list. */
    int counts[3] = { 0 };
    for (int i = 0; i < 3000; i++) {
        char name[16];
        snprintf (name, sizeof name, "s%d", i);
        int a = names_coordinator (name, three, 3);
        int b = names_coordinator (name, reordered, 3);
        assert_true (a >= 0 && a < 3);
        assert_string_equal (three[a], reordered[b]);
        counts[a]++;
    }
    /* Roughly even spread (each near 1000). */
    for (int i = 0; i < 3; i++)
        assert_true (counts[i] > 800 && counts[i] < 1200);
    /* Removing a member moves only the names it coordinated. */
    const char *two[] = { "node1", "node3" };
    for (int i = 0; i < 3000; i++) {
        char name[16];
        snprintf (name, sizeof name, "s%d", i);
        int a = names_coordinator (name, three, 3);
        int b = names_coordinator (name, two, 2);
        if (a != 1)
            assert_string_equal (three[a], two[b]);
    }
    /* Stable values: every node of every version must agree. */
    assert_true (names_weight ("web", "node1") == names_weight ("web", "node1"));
    assert_true (names_weight ("web", "node1") != names_weight ("webn", "ode1"));
}

static void
test_decide (void **state)
{
    (void) state;
    names_shed_t sheds[] = {
        { "web", "node2", "r-web", 100, false, 0 },
    };
    names_resv_t resv[] = {
        {
            "db",
            "node3",
            "r-db",
            5000,
        },
        {
            "old",
            "node3",
            "r-old",
            900,
        },
    };
    const char *node = NULL;
    char why[200];
    /* Free name. */
    assert_int_equal (
        names_decide (sheds, 1, resv, 2, "api", "r1", "node1", 1000, &node, why, sizeof why),
        NAMES_GRANT);
    /* A shed holds it. */
    assert_int_equal (
        names_decide (sheds, 1, resv, 2, "web", "r1", "node1", 1000, &node, why, sizeof why),
        NAMES_TAKEN);
    assert_string_equal (node, "node2");
    assert_string_equal (why, "shed web already exists (on node2)");
    /* Same request id as the shed: done, create nothing. */
    assert_int_equal (
        names_decide (sheds, 1, resv, 2, "web", "r-web", "node1", 1000, &node, why, sizeof why),
        NAMES_DONE);
    assert_string_equal (node, "node2");
    /* A live reservation of another request. */
    assert_int_equal (
        names_decide (sheds, 1, resv, 2, "db", "r1", "node1", 1000, &node, why, sizeof why),
        NAMES_TAKEN);
    assert_string_equal (node, "node3");
    assert_non_null (strstr (why, "being created"));
    /* The same request from its own origin again: granted again. */
    assert_int_equal (
        names_decide (sheds, 1, resv, 2, "db", "r-db", "node3", 1000, &node, why, sizeof why),
        NAMES_GRANT);
    /* ... from another origin while in progress: busy. */
    assert_int_equal (
        names_decide (sheds, 1, resv, 2, "db", "r-db", "node1", 1000, &node, why, sizeof why),
        NAMES_BUSY);
    assert_string_equal (node, "node3");
    /* Expired reservations hold nothing. */
    assert_int_equal (
        names_decide (sheds, 1, resv, 2, "old", "r2", "node1", 1000, &node, why, sizeof why),
        NAMES_GRANT);
    assert_int_equal (
        names_decide (sheds, 1, resv, 2, "db", "r2", "node1", 5000, &node, why, sizeof why),
        NAMES_GRANT);
}

/* Concurrent creates of one name from 3 nodes, serialised by the
 * coordinator: exactly one grant, whatever the arrival order. */
static void
test_concurrent_reserve (void **state)
{
    (void) state;
    const char *origins[] = { "node1", "node2", "node3" };
    const char *rids[] = { "r1", "r2", "r3" };
    int orders[6][3] = { { 0, 1, 2 }, { 0, 2, 1 }, { 1, 0, 2 },
                         { 1, 2, 0 }, { 2, 0, 1 }, { 2, 1, 0 } };
    for (int o = 0; o < 6; o++) {
        names_resv_t resv[3];
        size_t nresv = 0;
        int grants = 0;
        for (int k = 0; k < 3; k++) {
            int i = orders[o][k];
            names_verdict_t v = names_decide (NULL, 0, resv, nresv, "web", rids[i], origins[i],
                                              1000, NULL, NULL, 0);
            if (v == NAMES_GRANT) {
                grants++;
                resv[nresv++] = (names_resv_t){ "web", origins[i], rids[i], 61000 };
            }
            else
                assert_int_equal (v, NAMES_TAKEN);
        }
        assert_int_equal (grants, 1);
    }
}

static void
test_resolve (void **state)
{
    (void) state;
    /* Created on both sides of a partition; both orders give the same
     * verdict. */
    names_shed_t a[] = {
        { "web", "node3", "r3", 2000, false, 0 }, { "web", "node1", "r1", 2500, false, 0 },
        { "db", "node2", "r2", 100, false, 0 },   { "api", "node2", "rb", 700, false, 0 },
        { "api", "node1", "ra", 700, false, 0 }, /* same time: node name decides */
    };
    assert_int_equal (names_resolve (a, 5), 2);
    assert_false (a[0].duplicate);
    assert_true (a[1].duplicate);
    assert_false (a[2].duplicate);
    assert_true (a[3].duplicate);
    assert_false (a[4].duplicate);
    names_shed_t b[] = { a[4], a[3], a[2], a[1], a[0] };
    assert_int_equal (names_resolve (b, 5), 2);
    assert_false (b[0].duplicate);
    assert_true (b[1].duplicate);
    assert_true (b[3].duplicate);
    assert_false (b[4].duplicate);
    /* Three of a kind: one winner. */
    names_shed_t c[] = {
        { "x", "n1", "r1", 5, false, 0 },
        { "x", "n2", "r2", 5, false, 0 },
        { "x", "n1", "r0", 5, false, 0 },
    };
    assert_int_equal (names_resolve (c, 3), 2);
    assert_true (c[0].duplicate);
    assert_true (c[1].duplicate);
    assert_false (c[2].duplicate);
    /* A move: the copy on the target (one more move, same age) keeps the
     * name against the copy its source left, whatever the node names. */
    names_shed_t m[] = {
        { "w", "a-source", "r1", 5, false, 0 },
        { "w", "z-target", "r1-mv1", 5, false, 1 },
    };
    assert_int_equal (names_resolve (m, 2), 1);
    assert_true (m[0].duplicate);
    assert_false (m[1].duplicate);
    assert_true (names_wins (&m[1], &m[0]));
    assert_false (names_wins (&m[0], &m[1]));
}

/* Failover: skipping a suspected coordinator gives the next node in the
 * rendezvous order, the same node that members which already removed it
 * compute; skipping a node that is not the coordinator changes nothing;
 * the order continues through further skips; all skipped gives -1. */
static void
test_coordinator_failover (void **state)
{
    (void) state;
    const char *five[] = { "node1", "node2", "node3", "node4", "node5" };
    for (int i = 0; i < 2000; i++) {
        char name[16];
        snprintf (name, sizeof name, "f%d", i);
        int c = names_coordinator (name, five, 5);
        bool skip[5] = { false };
        assert_int_equal (names_coordinator_skip (name, five, skip, 5), c);
        assert_int_equal (names_coordinator_skip (name, five, NULL, 5), c);
        /* A suspect that coordinates nothing here moves nothing. */
        skip[(c + 1) % 5] = true;
        assert_int_equal (names_coordinator_skip (name, five, skip, 5), c);
        skip[(c + 1) % 5] = false;
        /* The coordinator suspected: the next by weight, and exactly the
         * coordinator of the view without it. */
        skip[c] = true;
        int next = names_coordinator_skip (name, five, skip, 5);
        assert_true (next >= 0 && next != c);
        const char *rest[4];
        size_t n = 0;
        for (int k = 0; k < 5; k++)
            if (k != c)
                rest[n++] = five[k];
        assert_string_equal (five[next], rest[names_coordinator (name, rest, n)]);
        for (int k = 0; k < 5; k++)
            if (k != c && k != next)
                assert_true (names_weight (name, five[k]) < names_weight (name, five[next]));
        assert_true (names_weight (name, five[next]) < names_weight (name, five[c]));
        /* Two suspects: the third in order. */
        skip[next] = true;
        int third = names_coordinator_skip (name, five, skip, 5);
        assert_true (third >= 0 && third != c && third != next);
        for (int k = 0; k < 5; k++)
            if (!skip[k] && k != third)
                assert_true (names_weight (name, five[k]) < names_weight (name, five[third]));
        for (int k = 0; k < 5; k++)
            skip[k] = true;
        assert_int_equal (names_coordinator_skip (name, five, skip, 5), -1);
    }
    assert_int_equal (names_coordinator_skip ("web", five, NULL, 0), -1);
}

int
main (void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test (test_valid),
        cmocka_unit_test (test_coordinator),
        cmocka_unit_test (test_coordinator_failover),
        cmocka_unit_test (test_decide),
        cmocka_unit_test (test_concurrent_reserve),
        cmocka_unit_test (test_resolve),
    };
    return cmocka_run_group_tests (tests, NULL, NULL);
}
