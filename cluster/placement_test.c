/*
 * placement_test.c - filters and their reasons, both strategies,
 * constraints, the seeded random pick among the best K, and the helpers
 * (names, sizes, cpus). Table-driven where the cases are data.
 */
#include "cluster/placement.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#define GiB (1024ULL * 1024 * 1024)
#define MiB (1024ULL * 1024)

static const place_tag_t s_x86_a[] = { { "arch", "x86_64" }, { "zone", "a" } };
static const place_tag_t s_x86_b[] = { { "arch", "x86_64" }, { "zone", "b" } };
static const place_tag_t s_arm[] = { { "arch", "arm64" }, { "zone", "a" }, { "ssd", "" } };

/* A node with 8 cpus, 16 GiB, 100 GiB disk, and `used` of each. */
static place_node_t
s_node (const char *name, double used_frac, const place_tag_t *tags, size_t ntags)
{
    place_node_t n;
    memset (&n, 0, sizeof n);
    n.name = name;
    n.alive = true;
    n.capacity.v[PLACE_CPU] = 8000;
    n.capacity.v[PLACE_MEMORY] = 16 * GiB;
    n.capacity.v[PLACE_DISK] = 100 * GiB;
    for (int r = 0; r < PLACE_RES_COUNT; r++)
        n.allocated.v[r] = (uint64_t) ((double) n.capacity.v[r] * used_frac);
    n.tags = tags;
    n.ntags = ntags;
    return n;
}

static place_request_t
s_req (uint64_t mcpu, uint64_t mem)
{
    place_request_t r;
    memset (&r, 0, sizeof r);
    r.need.v[PLACE_CPU] = mcpu;
    r.need.v[PLACE_MEMORY] = mem;
    return r;
}

static void
s_add_constraint (place_request_t *r, const char *text)
{
    char why[256];
    int rc = placement_constraint_parse (text, &r->constraints[r->nconstraints], why, sizeof why);
    if (rc != 0)
        fail_msg ("%s", why);
    r->nconstraints++;
}

static placement_t *
s_engine_no_random (void)
{
    placement_t *p = placement_new (1);
    placement_config_t c = placement_config_default ();
    c.top_k = 1;
    placement_set_config (p, &c);
    return p;
}

/* ---- filters and reasons ------------------------------------------------ */

/* ---- images --------------------------------------------------------------- */

static void
test_images (void **state)
{
    static const char *const has_bb[] = {
        "busybox", "sha256:"
                   "792d92af8605516d06363158b47e1bcb0874fcb550e3ca0fc0b92f026768ed5a"
    };
    static const char *const has_deb[] = {
        "debian", "sha256:"
                  "0000000000000000000000000000000000000000000000000000000000000001"
    };
    place_node_t nodes[3];
    nodes[0] = s_node ("node1", 0.1, s_x86_a, 2);
    nodes[1] = s_node ("node2", 0.5, s_x86_a, 2);
    nodes[1].images = has_bb;
    nodes[1].nimages = 2;
    nodes[2] = s_node ("node3", 0.8, s_x86_a, 2);
    nodes[2].images = has_deb;
    nodes[2].nimages = 2;
    placement_t *p = s_engine_no_random ();
    place_result_t *res = place_result_new ();
    place_request_t req = s_req (1000, GiB);

    /* by name, by digest with and without "sha256:": only node2 */
    const char *refs[] = {
        "busybox", "sha256:792d92af8605516d06363158b47e1bcb0874fcb550e3ca0fc0b92f026768ed5a",
        "792d92af8605516d06363158b47e1bcb0874fcb550e3ca0fc0b92f026768ed5a"
    };
    for (size_t i = 0; i < 3; i++) {
        req.image = refs[i];
        assert_int_equal (placement_place (p, nodes, 3, &req, res), 1);
        assert_string_equal (place_result_name (res, 0), "node2");
    }
    /* nowhere: every node says why */
    req.image = "alpine";
    assert_int_equal (placement_place (p, nodes, 3, &req, res), 0);
    char *why = place_result_explain (res);
    assert_string_equal (why, "node1: image alpine not on this node; "
                              "node2: image alpine not on this node; "
                              "node3: image alpine not on this node");
    free (why);
    char line[128];
    assert_int_equal (place_result_reason (res, 0, line, sizeof line), PLACE_R_IMAGE);
    /* no image, or a path a driver reads itself: not filtered */
    req.image = NULL;
    assert_int_equal (placement_place (p, nodes, 3, &req, res), 3);
    req.image = "";
    assert_int_equal (placement_place (p, nodes, 3, &req, res), 3);
    req.image = "/var/lib/shed/rootfs.ext4";
    assert_int_equal (placement_place (p, nodes, 3, &req, res), 3);
    /* a dead node is reported dead, not as lacking the image */
    nodes[0].alive = false;
    req.image = "busybox";
    assert_int_equal (placement_place (p, nodes, 3, &req, res), 1);
    why = place_result_explain (res);
    assert_string_equal (why, "node1: not alive; node3: image busybox not on this node");
    free (why);
    place_result_destroy (&res);
    placement_destroy (&p);
}

static void
test_filter_reasons (void **state)
{
    place_node_t nodes[5];
    nodes[0] = s_node ("node1", 0.1, s_x86_a, 2);
    nodes[1] = s_node ("node2", 0.1, s_x86_b, 2);
    nodes[1].allocated.v[PLACE_MEMORY] = 16 * GiB - (uint64_t) (3.1 * (double) GiB) - 1;
    nodes[2] = s_node ("node3", 0.1, s_x86_a, 2);
    nodes[2].draining = true;
    nodes[3] = s_node ("node4", 0.1, s_arm, 3);
    nodes[4] = s_node ("node5", 0.1, s_x86_a, 2);
    nodes[4].alive = false;

    place_request_t req = s_req (1000, 4 * GiB);
    s_add_constraint (&req, "arch=x86_64");

    placement_t *p = s_engine_no_random ();
    place_result_t *res = place_result_new ();
    size_t n = placement_place (p, nodes, 5, &req, res);
    assert_int_equal (n, 1);
    assert_string_equal (place_result_name (res, 0), "node1");
    assert_int_equal (place_result_rejected (res), 4);

    char *why = place_result_explain (res);
    assert_non_null (strstr (why, "node2: memory 3.1 GiB free < 4 GiB"));
    assert_non_null (strstr (why, "node3: draining"));
    assert_non_null (strstr (why, "node4: constraint arch=x86_64 not met (arm64)"));
    assert_non_null (strstr (why, "node5: not alive"));
    free (why);

    /* Nothing fits: 0 candidates and a reason for every node. */
    req.need.v[PLACE_CPU] = 64000;
    assert_int_equal (placement_place (p, nodes, 5, &req, res), 0);
    why = place_result_explain (res);
    assert_non_null (strstr (why, "node1: cpu 7.2 free < 64"));
    free (why);

    place_result_destroy (&res);
    placement_destroy (&p);
    assert_null (res);
    assert_null (p);
    place_result_destroy (&res); /* NULL-safe */
    placement_destroy (&p);
}

static void
test_overcommit_and_reserved (void **state)
{
    place_node_t n = s_node ("n", 0, NULL, 0);
    n.reserved.v[PLACE_MEMORY] = 2 * GiB; /* 14 GiB usable */
    place_request_t req = s_req (0, 15 * GiB);
    placement_t *p = s_engine_no_random ();
    place_result_t *res = place_result_new ();
    assert_int_equal (placement_place (p, &n, 1, &req, res), 0);
    n.overcommit[PLACE_MEMORY] = 1.5; /* 21 GiB usable */
    assert_int_equal (placement_place (p, &n, 1, &req, res), 1);
    n.allocated.v[PLACE_MEMORY] = 7 * GiB;
    assert_int_equal (placement_place (p, &n, 1, &req, res), 0);
    place_result_destroy (&res);
    placement_destroy (&p);
}

/* ---- strategies --------------------------------------------------------- */

static void
test_binpack_and_spread (void **state)
{
    place_node_t nodes[4] = {
        s_node ("empty", 0.0, NULL, 0),
        s_node ("half", 0.5, NULL, 0),
        s_node ("full", 0.85, NULL, 0),
        s_node ("quarter", 0.25, NULL, 0),
    };
    place_request_t req = s_req (1000, 1 * GiB);
    placement_t *p = s_engine_no_random ();
    place_result_t *res = place_result_new ();

    assert_int_equal (placement_place (p, nodes, 4, &req, res), 4);
    const char *binpack[] = { "full", "half", "quarter", "empty" };
    for (size_t i = 0; i < 4; i++)
        assert_string_equal (place_result_name (res, i), binpack[i]);
    assert_true (place_result_score (res, 0) > place_result_score (res, 1));

    req.strategy = PLACE_SPREAD;
    assert_int_equal (placement_place (p, nodes, 4, &req, res), 4);
    const char *spread[] = { "empty", "quarter", "half", "full" };
    for (size_t i = 0; i < 4; i++)
        assert_string_equal (place_result_name (res, i), spread[i]);

    /* Formula check: empty node, 1 of 8 cpus and 1 of 16 GiB, disk 0 of
     * 100 GiB: binpack = 100 * (1*0.125 + 1*0.0625 + 0.5*0) / 2.5 */
    req.strategy = PLACE_BINPACK;
    placement_place (p, &nodes[0], 1, &req, res);
    assert_float_equal (place_result_score (res, 0), 100.0 * 0.1875 / 2.5, 1e-9);

    /* A GPU node is kept for GPU work. */
    place_node_t gpu[2] = { s_node ("gpu", 0.5, NULL, 0), s_node ("plain", 0.1, NULL, 0) };
    gpu[0].capacity.v[PLACE_GPU] = 2;
    placement_place (p, gpu, 2, &req, res);
    assert_string_equal (place_result_name (res, 0), "plain");
    req.need.v[PLACE_GPU] = 1;
    assert_int_equal (placement_place (p, gpu, 2, &req, res), 1);
    assert_string_equal (place_result_name (res, 0), "gpu");

    place_result_destroy (&res);
    placement_destroy (&p);
}

static void
test_pinned (void **state)
{
    place_node_t nodes[3] = {
        s_node ("a", 0.9, NULL, 0),
        s_node ("b", 0.1, NULL, 0),
        s_node ("c", 0.99, NULL, 0),
    };
    place_request_t req = s_req (1000, GiB);
    req.pinned = "b";
    placement_t *p = s_engine_no_random ();
    place_result_t *res = place_result_new ();
    assert_int_equal (placement_place (p, nodes, 3, &req, res), 1);
    assert_string_equal (place_result_name (res, 0), "b");
    assert_int_equal (place_result_rejected (res), 0);

    req.pinned = "c"; /* pinned but full: only its reason */
    assert_int_equal (placement_place (p, nodes, 3, &req, res), 0);
    assert_int_equal (place_result_rejected (res), 1);
    char buf[128];
    assert_int_equal (place_result_reason (res, 0, buf, sizeof buf), PLACE_R_RESOURCE);
    assert_non_null (strstr (buf, "c: cpu"));

    req.pinned = "nope";
    assert_int_equal (placement_place (p, nodes, 3, &req, res), 0);
    place_result_destroy (&res);
    placement_destroy (&p);
}

/* ---- constraints -------------------------------------------------------- */

typedef struct {
    const char *constraint;
    const char *expect; /* names that pass, in name order, space-separated */
} s_ccase_t;

static void
test_constraints (void **state)
{
    place_node_t nodes[3] = {
        s_node ("n1", 0, s_x86_a, 2),
        s_node ("n2", 0, s_x86_b, 2),
        s_node ("n3", 0, s_arm, 3),
    };
    nodes[0].capacity.v[PLACE_GPU] = 1;
    nodes[1].capacity.v[PLACE_MEMORY] = 64 * GiB;
    const s_ccase_t cases[] = {
        { "arch=x86_64", "n1 n2" }, { "arch==arm64", "n3" },    { "zone!=b", "n1 n3" },
        { "gpu>=1", "n1" },         { "gpus<1", "n2 n3" },      { "memory>=32G", "n2" },
        { "cpus>4", "n1 n2 n3" },   { "cpus<=4", "" },          { "ssd", "n3" },
        { "!ssd", "n1 n2" },        { "rack!=r1", "n1 n2 n3" }, /* unset attribute: != holds */
        { "rack=r1", "" },          { "node=n2", "n2" },
    };
    placement_t *p = placement_new (3);
    place_result_t *res = place_result_new ();
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        place_request_t req = s_req (100, MiB);
        s_add_constraint (&req, cases[i].constraint);
        size_t n = placement_place (p, nodes, 3, &req, res);
        char got[64] = "";
        const char *order[3] = { "n1", "n2", "n3" };
        for (size_t k = 0; k < 3; k++)
            for (size_t c = 0; c < n; c++)
                if (strcmp (place_result_name (res, c), order[k]) == 0)
                    snprintf (got + strlen (got), sizeof got - strlen (got), "%s%s",
                              *got ? " " : "", order[k]);
        if (strcmp (got, cases[i].expect) != 0)
            fail_msg ("constraint %s: got '%s', want '%s'", cases[i].constraint, got,
                      cases[i].expect);
    }
    place_result_destroy (&res);
    placement_destroy (&p);

    /* Parse errors are one clear line. */
    place_constraint_t c;
    char why[256];
    const char *bad[] = { "", "=x", "arch~x", "gpu>=lots", "!a=b", "zone=" };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        why[0] = '\0';
        assert_int_equal (placement_constraint_parse (bad[i], &c, why, sizeof why), -1);
        assert_true (strlen (why) > 0);
        assert_null (strchr (why, '\n'));
    }
}

/* ---- randomness among top K -------------------------------------------- */

static void
test_random_top_k (void **state)
{
    /* Five nodes: three tie near the top, two well below. */
    place_node_t nodes[5] = {
        s_node ("a", 0.50, NULL, 0), s_node ("b", 0.51, NULL, 0), s_node ("c", 0.52, NULL, 0),
        s_node ("d", 0.10, NULL, 0), s_node ("e", 0.05, NULL, 0),
    };
    place_request_t req = s_req (500, GiB);
    place_result_t *res = place_result_new ();

    int hits[5] = { 0 };
    placement_t *p = placement_new (42);
    for (int i = 0; i < 3000; i++) {
        assert_int_equal (placement_place (p, nodes, 5, &req, res), 5);
        hits[place_result_index (res, 0)]++;
        /* The rest stay in score order after the random first. */
        for (size_t k = 2; k < 5; k++)
            assert_true (place_result_score (res, k - 1) >= place_result_score (res, k) || k == 1);
    }
    for (int i = 0; i < 3; i++)
        assert_in_range (hits[i], 800, 1200); /* ~1000 each */
    assert_int_equal (hits[3] + hits[4], 0);  /* never outside the top group */

    /* Same seed, same sequence: deterministic tests elsewhere can rely on it. */
    placement_t *p1 = placement_new (7), *p2 = placement_new (7);
    for (int i = 0; i < 50; i++) {
        placement_place (p1, nodes, 5, &req, res);
        size_t first = place_result_index (res, 0);
        placement_place (p2, nodes, 5, &req, res);
        assert_int_equal (first, place_result_index (res, 0));
    }

    /* Epsilon excludes nodes that are not near the best. */
    placement_config_t c = placement_config_default ();
    c.epsilon = 0.1;
    placement_set_config (p, &c);
    for (int i = 0; i < 100; i++) {
        placement_place (p, nodes, 5, &req, res);
        assert_string_equal (place_result_name (res, 0), "c");
    }
    /* max_candidates bounds the retry list. */
    c.max_candidates = 2;
    placement_set_config (p, &c);
    assert_int_equal (placement_place (p, nodes, 5, &req, res), 2);

    placement_destroy (&p);
    placement_destroy (&p1);
    placement_destroy (&p2);
    place_result_destroy (&res);
}

/* ---- helpers ------------------------------------------------------------ */

static void
test_names (void **state)
{
    const char *good[] = {
        "a",  "web",   "web-1",
        "a1", "x-y-z", "abcdefghijabcdefghijabcdefghijabcdefghijabcdefghijabcdefghijabc"
    };
    const char *bad[] = {
        "",    "-a",
        "a-",  "1a",
        "Web", "we_b",
        "a.b", "a b",
        "é",   "abcdefghijabcdefghijabcdefghijabcdefghijabcdefghijabcdefghijabcd"
    };
    char why[160];
    for (size_t i = 0; i < sizeof good / sizeof good[0]; i++)
        assert_true (placement_name_valid (good[i], why, sizeof why));
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        why[0] = '\0';
        assert_false (placement_name_valid (bad[i], why, sizeof why));
        assert_non_null (strstr (why, "invalid shed name"));
    }
    assert_false (placement_name_valid (NULL, NULL, 0));
}

static void
test_sizes_and_cpus (void **state)
{
    static const struct {
        const char *text;
        uint64_t unit;
        uint64_t want;
    } ok[] = {
        { "512M", 1, 512 * MiB },    { "4G", 1, 4 * GiB },       { "4GiB", 1, 4 * GiB },
        { "4gb", 1, 4 * GiB },       { "1.5G", 1, 3 * GiB / 2 }, { "100k", 1, 102400 },
        { "2048", MiB, 2048 * MiB }, { "2048", 1, 2048 },        { "1T", 1, 1024 * GiB },
        { "512B", 1, 512 },
    };
    for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++) {
        uint64_t v = 0;
        assert_int_equal (placement_size_parse (ok[i].text, ok[i].unit, &v), 0);
        assert_int_equal (v, ok[i].want);
    }
    const char *bad[] = { "", "G", "-1G", "4X", "4GiBs", "1e30", "0.5", "nan", " 4G" };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        uint64_t v;
        if (placement_size_parse (bad[i], 1, &v) == 0)
            fail_msg ("size '%s' should not parse", bad[i]);
    }
    char buf[32];
    placement_size_format (512 * MiB, buf, sizeof buf);
    assert_string_equal (buf, "512 MiB");
    placement_size_format ((uint64_t) (3.15 * (double) GiB), buf, sizeof buf);
    assert_string_equal (buf, "3.1 GiB");
    placement_size_format (4 * GiB - 1, buf, sizeof buf);
    assert_string_equal (buf, "3.9 GiB"); /* never rounds up to 4 */
    placement_size_format (100, buf, sizeof buf);
    assert_string_equal (buf, "100 B");

    uint64_t m;
    assert_int_equal (placement_cpus_parse ("2", &m), 0);
    assert_int_equal (m, 2000);
    assert_int_equal (placement_cpus_parse ("0.5", &m), 0);
    assert_int_equal (m, 500);
    assert_int_equal (placement_cpus_parse ("1500m", &m), 0);
    assert_int_equal (m, 1500);
    assert_int_equal (placement_cpus_parse ("x", &m), -1);
    assert_int_equal (placement_cpus_parse ("1.5m", &m), -1);
    assert_int_equal (placement_cpus_parse ("-1", &m), -1);
}

int
main (void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test (test_filter_reasons),
        cmocka_unit_test (test_images),
        cmocka_unit_test (test_overcommit_and_reserved),
        cmocka_unit_test (test_binpack_and_spread),
        cmocka_unit_test (test_pinned),
        cmocka_unit_test (test_constraints),
        cmocka_unit_test (test_random_top_k),
        cmocka_unit_test (test_names),
        cmocka_unit_test (test_sizes_and_cpus),
    };
    return cmocka_run_group_tests (tests, NULL, NULL);
}
