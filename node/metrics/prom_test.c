/* prom_test.c - the Prometheus text writer (node/metrics/prom.h). */
#include "node/metrics/prom.h"

#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

static void
test_family_and_samples (void **state)
{
    (void) state;
    shed_prom_t *p = shed_prom_new ();
    assert_non_null (p);
    assert_int_equal (shed_prom_family (p, "shed_members", SHED_PROM_GAUGE,
                                        "Members this node knows, by status."),
                      0);
    assert_int_equal (shed_prom_u64 (p, 3, "status", "alive", NULL), 0);
    assert_int_equal (shed_prom_u64 (p, 0, "status", "failed", NULL), 0);
    assert_int_equal (
        shed_prom_family (p, "shed_gossip_packets_total", SHED_PROM_COUNTER, "Gossip datagrams."),
        0);
    assert_int_equal (shed_prom_u64 (p, UINT64_MAX, "direction", "tx", "peer", "n2", NULL), 0);
    assert_int_equal (shed_prom_family (p, "shed_uptime_seconds", SHED_PROM_GAUGE, "Up."), 0);
    assert_int_equal (shed_prom_f64 (p, 1.5, NULL), 0);
    size_t len = 0;
    const char *text = shed_prom_text (p, &len);
    assert_non_null (text);
    assert_string_equal (text, "# HELP shed_members Members this node knows, by status.\n"
                               "# TYPE shed_members gauge\n"
                               "shed_members{status=\"alive\"} 3\n"
                               "shed_members{status=\"failed\"} 0\n"
                               "# HELP shed_gossip_packets_total Gossip datagrams.\n"
                               "# TYPE shed_gossip_packets_total counter\n"
                               "shed_gossip_packets_total{direction=\"tx\",peer=\"n2\"} "
                               "18446744073709551615\n"
                               "# HELP shed_uptime_seconds Up.\n"
                               "# TYPE shed_uptime_seconds gauge\n"
                               "shed_uptime_seconds 1.5\n");
    assert_int_equal (len, strlen (text));
    shed_prom_destroy (&p);
    assert_null (p);
    shed_prom_destroy (&p); /* NULL-safe */
}

static void
test_escaping (void **state)
{
    (void) state;
    shed_prom_t *p = shed_prom_new ();
    assert_int_equal (
        shed_prom_family (p, "shed_x", SHED_PROM_GAUGE, "a \\ back\nslash, \"quotes\" kept"), 0);
    assert_int_equal (shed_prom_u64 (p, 1, "shed", "we\"ird\\na\nme", NULL), 0);
    const char *text = shed_prom_text (p, NULL);
    assert_string_equal (text, "# HELP shed_x a \\\\ back\\nslash, \"quotes\" kept\n"
                               "# TYPE shed_x gauge\n"
                               "shed_x{shed=\"we\\\"ird\\\\na\\nme\"} 1\n");
    shed_prom_destroy (&p);
}

static void
test_refusals_write_nothing (void **state)
{
    (void) state;
    shed_prom_t *p = shed_prom_new ();
    /* No family yet. */
    assert_int_equal (shed_prom_u64 (p, 1, NULL), -1);
    assert_int_equal (shed_prom_family (p, "9lives", SHED_PROM_GAUGE, "x"), -1);
    assert_int_equal (shed_prom_family (p, "has-dash", SHED_PROM_GAUGE, "x"), -1);
    assert_int_equal (shed_prom_family (p, "", SHED_PROM_GAUGE, "x"), -1);
    assert_int_equal (shed_prom_family (p, "ok:name_1", SHED_PROM_COUNTER, "x"), 0);
    size_t before = 0;
    shed_prom_text (p, &before);
    /* Bad label names, a missing value, a negative counter. */
    assert_int_equal (shed_prom_u64 (p, 1, "__reserved", "v", NULL), -1);
    assert_int_equal (shed_prom_u64 (p, 1, "a:b", "v", NULL), -1);
    assert_int_equal (shed_prom_u64 (p, 1, "1st", "v", NULL), -1);
    assert_int_equal (shed_prom_u64 (p, 1, "good", "v", "bad-name", "v", NULL), -1);
    assert_int_equal (shed_prom_u64 (p, 1, "odd", NULL), -1);
    assert_int_equal (shed_prom_f64 (p, -1.0, NULL), -1);
    size_t after = 0;
    shed_prom_text (p, &after);
    assert_int_equal (before, after);
    /* A family cannot be started twice; after that refusal nothing is
     * current, so a stray sample does not land under the previous family. */
    assert_int_equal (shed_prom_family (p, "ok:name_1", SHED_PROM_COUNTER, "x"), -1);
    assert_int_equal (shed_prom_u64 (p, 1, NULL), -1);
    shed_prom_text (p, &after);
    assert_int_equal (before, after);
    shed_prom_destroy (&p);
}

static void
test_odd_values (void **state)
{
    (void) state;
    char buf[32];
    assert_string_equal (shed_prom_format_double (NAN, buf, sizeof buf), "NaN");
    assert_string_equal (shed_prom_format_double (INFINITY, buf, sizeof buf), "+Inf");
    assert_string_equal (shed_prom_format_double (-INFINITY, buf, sizeof buf), "-Inf");
    assert_string_equal (shed_prom_format_double (0.0, buf, sizeof buf), "0");
    assert_string_equal (shed_prom_format_double (-2.5, buf, sizeof buf), "-2.5");
    assert_string_equal (shed_prom_format_double (1e21, buf, sizeof buf), "1e+21");
    /* 0.1 + 0.2 needs all 17 digits to read back as itself. */
    shed_prom_format_double (0.1 + 0.2, buf, sizeof buf);
    assert_true (strtod (buf, NULL) == 0.1 + 0.2);
    assert_string_equal (buf, "0.30000000000000004");

    shed_prom_t *p = shed_prom_new ();
    assert_int_equal (shed_prom_family (p, "shed_g", SHED_PROM_GAUGE, "g"), 0);
    assert_int_equal (shed_prom_f64 (p, NAN, "k", "nan", NULL), 0);
    assert_int_equal (shed_prom_f64 (p, -INFINITY, "k", "ninf", NULL), 0);
    /* A counter may be +Inf (the format allows it) but never negative. */
    assert_int_equal (shed_prom_family (p, "shed_c_total", SHED_PROM_COUNTER, "c"), 0);
    assert_int_equal (shed_prom_f64 (p, INFINITY, NULL), 0);
    assert_string_equal (shed_prom_text (p, NULL),
                         "# HELP shed_g g\n# TYPE shed_g gauge\n"
                         "shed_g{k=\"nan\"} NaN\nshed_g{k=\"ninf\"} -Inf\n"
                         "# HELP shed_c_total c\n# TYPE shed_c_total counter\n"
                         "shed_c_total +Inf\n");
    shed_prom_destroy (&p);
}

static void
test_name_checks (void **state)
{
    (void) state;
    assert_true (shed_prom_metric_name_valid ("shed_build_info"));
    assert_true (shed_prom_metric_name_valid ("_x:y"));
    assert_false (shed_prom_metric_name_valid (NULL));
    assert_false (shed_prom_metric_name_valid ("a b"));
    assert_false (shed_prom_metric_name_valid ("é"));
    assert_true (shed_prom_label_name_valid ("_peer"));
    assert_false (shed_prom_label_name_valid ("__name__"));
    assert_false (shed_prom_label_name_valid ("pe:er"));
}

/* Many families and samples: the buffer grows and the text stays whole. */
static void
test_growth (void **state)
{
    (void) state;
    shed_prom_t *p = shed_prom_new ();
    char name[32], label[32];
    for (int f = 0; f < 200; f++) {
        snprintf (name, sizeof name, "shed_f%d", f);
        assert_int_equal (shed_prom_family (p, name, SHED_PROM_GAUGE, "h"), 0);
        for (int s = 0; s < 20; s++) {
            snprintf (label, sizeof label, "v%d", s);
            assert_int_equal (shed_prom_u64 (p, (uint64_t) s, "i", label, NULL), 0);
        }
    }
    size_t len = 0;
    const char *text = shed_prom_text (p, &len);
    assert_non_null (text);
    assert_non_null (strstr (text, "shed_f199{i=\"v19\"} 19\n"));
    assert_int_equal (text[len - 1], '\n');
    shed_prom_destroy (&p);
}

/* A histogram family: cumulative buckets in bound order, +Inf, _sum and
 * _count, the caller's labels before le; plain samples and a label named
 * le are refused, and a histogram sample in a gauge family too. */
static void
test_histogram (void **state)
{
    (void) state;
    static const double b[] = { 0.001, 0.25 };
    shed_hist_t *h = shed_hist_new (b, 2);
    assert_non_null (h);
    shed_hist_observe_ns (h, 500000);    /* 0.5 ms */
    shed_hist_observe_ns (h, 100000000); /* 0.1 s */
    shed_hist_observe_ns (h, 1000000000);
    shed_hist_snap_t snap;
    shed_hist_snapshot (h, &snap);
    shed_hist_destroy (&h);

    shed_prom_t *p = shed_prom_new ();
    assert_int_equal (shed_prom_family (p, "shed_x_seconds", SHED_PROM_HISTOGRAM, "Latency."), 0);
    assert_int_equal (shed_prom_u64 (p, 1, NULL), -1);
    assert_int_equal (shed_prom_f64 (p, 1.0, NULL), -1);
    assert_int_equal (shed_prom_histogram (p, &snap, "le", "x", NULL), -1);
    assert_int_equal (shed_prom_histogram (p, &snap, "transport", "udp", NULL), 0);
    assert_int_equal (shed_prom_family (p, "shed_g", SHED_PROM_GAUGE, "g"), 0);
    assert_int_equal (shed_prom_histogram (p, &snap, NULL), -1);
    const char *text = shed_prom_text (p, NULL);
    assert_string_equal (text, "# HELP shed_x_seconds Latency.\n"
                               "# TYPE shed_x_seconds histogram\n"
                               "shed_x_seconds_bucket{transport=\"udp\",le=\"0.001\"} 1\n"
                               "shed_x_seconds_bucket{transport=\"udp\",le=\"0.25\"} 2\n"
                               "shed_x_seconds_bucket{transport=\"udp\",le=\"+Inf\"} 3\n"
                               "shed_x_seconds_sum{transport=\"udp\"} 1.1005\n"
                               "shed_x_seconds_count{transport=\"udp\"} 3\n"
                               "# HELP shed_g g\n"
                               "# TYPE shed_g gauge\n");
    shed_prom_destroy (&p);

    /* Without labels: le alone. */
    p = shed_prom_new ();
    shed_hist_snap_t empty = { .nbounds = 1, .bounds = { 5 } };
    assert_int_equal (shed_prom_family (p, "shed_y_seconds", SHED_PROM_HISTOGRAM, "Y."), 0);
    assert_int_equal (shed_prom_histogram (p, &empty, NULL), 0);
    assert_string_equal (shed_prom_text (p, NULL), "# HELP shed_y_seconds Y.\n"
                                                   "# TYPE shed_y_seconds histogram\n"
                                                   "shed_y_seconds_bucket{le=\"5\"} 0\n"
                                                   "shed_y_seconds_bucket{le=\"+Inf\"} 0\n"
                                                   "shed_y_seconds_sum 0\n"
                                                   "shed_y_seconds_count 0\n");
    shed_prom_destroy (&p);
}

int
main (void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test (test_family_and_samples),
        cmocka_unit_test (test_escaping),
        cmocka_unit_test (test_refusals_write_nothing),
        cmocka_unit_test (test_odd_values),
        cmocka_unit_test (test_name_checks),
        cmocka_unit_test (test_growth),
        cmocka_unit_test (test_histogram),
    };
    return cmocka_run_group_tests (tests, NULL, NULL);
}
