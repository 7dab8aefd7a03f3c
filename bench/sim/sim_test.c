/*
 * sim_test.c - the cluster simulator checks properties, never timings:
 *   - the event queue pops in (time, push order);
 *   - 50 nodes (30 under ASan) under 5% datagram loss for a simulated
 *     minute: everyone converges, nobody is declared dead falsely, one
 *     killed node is declared dead by every survivor, and the survivors
 *     converge again;
 *   - the state stores converge, and converge again after a partition;
 *   - the same seed gives the same run (counters and times identical).
 */
#include "bench/sim/sim_cluster.h"
#include "bench/sim/sim_heap.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#if defined(__SANITIZE_ADDRESS__)
#define S_N 30
#else
#define S_N 50
#endif

static void
test_heap_order (void **state)
{
    sim_heap_t *h = sim_heap_new ();
    uint64_t x = 12345;
    for (uint32_t i = 0; i < 5000; i++) {
        x = x * 6364136223846793005ull + 1442695040888963407ull;
        sim_event_t ev = { .time = (x >> 33) % 100, .node = i };
        sim_heap_push (h, &ev);
    }
    sim_event_t prev = { 0 }, ev;
    uint32_t n = 0;
    while (sim_heap_pop (h, &ev)) {
        if (n++) {
            assert_true (ev.time >= prev.time);
            if (ev.time == prev.time)
                assert_true (ev.node > prev.node); /* push order on ties */
        }
        prev = ev;
    }
    assert_int_equal (n, 5000);
    sim_heap_destroy (&h, NULL);
}

typedef struct {
    uint64_t join_ms, converge_ms, detect_ms, reconverge_ms;
    uint32_t detected, expected;
    sim_counters_t counters;
} s_run_t;

static void
s_membership_run (uint64_t seed, s_run_t *out)
{
    memset (out, 0, sizeof *out);
    sim_config_t cfg;
    sim_config_default (&cfg, S_N, seed);
    cfg.net.loss = 0.05;
    sim_cluster_t *c = sim_cluster_new (&cfg);
    assert_non_null (c);
    sim_join_all (c, 0, 500);
    out->converge_ms = sim_run_until_converged (c, 60000, 50);
    assert_true (out->converge_ms != UINT64_MAX);
    assert_int_equal (sim_join_times (c, &out->join_ms), S_N);

    /* A minute of 5% loss: Lifeguard keeps every healthy member alive. */
    sim_run_for (c, 60000);
    sim_counters (c, &out->counters);
    assert_int_equal (out->counters.false_fail_events, 0);
    assert_true (sim_converged (c));

    /* One kill: every survivor declares it dead, and agrees again. */
    sim_kill (c, S_N / 2);
    sim_watch_fail (c, S_N / 2);
    uint64_t t0 = sim_now (c);
    while (sim_now (c) - t0 < 60000 && sim_watch_done (c, NULL) < sim_watch_expected (c))
        sim_run_for (c, 50);
    out->detected = sim_watch_done (c, &out->detect_ms);
    out->expected = sim_watch_expected (c);
    assert_int_equal (out->expected, S_N - 1);
    assert_int_equal (out->detected, out->expected);
    out->reconverge_ms = sim_run_until_converged (c, 60000, 50);
    assert_true (out->reconverge_ms != UINT64_MAX);
    sim_counters (c, &out->counters);
    assert_int_equal (out->counters.false_fail_events, 0);
    sim_cluster_destroy (&c);
}

static void
test_membership_properties (void **state)
{
    s_run_t a, b;
    s_membership_run (7, &a);
    s_membership_run (7, &b);
    /* Same seed, same run: every counter and every time. */
    assert_memory_equal (&a, &b, sizeof a);
    assert_true (a.counters.udp_packets > 0);
}

static void
test_state_partition (void **state)
{
    sim_config_t cfg;
    sim_config_default (&cfg, 20, 3);
    cfg.state = true;
    sim_cluster_t *c = sim_cluster_new (&cfg);
    assert_non_null (c);
    sim_join_all (c, 0, 200);
    assert_true (sim_run_until_converged (c, 60000, 50) != UINT64_MAX);
    sim_state_write_all (c, 10, 500);
    sim_run_for (c, 501);
    uint64_t t0 = sim_now (c);
    while (!sim_state_converged (c) && sim_now (c) - t0 < 30000)
        sim_run_for (c, 50);
    assert_true (sim_state_converged (c));
    for (uint32_t i = 0; i < 20; i++)
        assert_int_equal (sim_state_records (c, i), 20 * 10);

    uint8_t groups[20];
    for (uint32_t i = 0; i < 20; i++)
        groups[i] = i < 10 ? 0 : 1;
    sim_net_partition (sim_cluster_net (c), groups);
    sim_state_write_all (c, 10, 500);
    sim_run_for (c, 10000);
    assert_false (sim_state_converged (c)); /* the other side's writes are missing */
    sim_net_partition (sim_cluster_net (c), NULL);
    t0 = sim_now (c);
    while (!(sim_state_converged (c) && sim_converged (c)) && sim_now (c) - t0 < 120000)
        sim_run_for (c, 50);
    assert_true (sim_state_converged (c));
    assert_true (sim_converged (c));
    sim_cluster_destroy (&c);
}

int
main (void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test (test_heap_order),
        cmocka_unit_test (test_membership_properties),
        cmocka_unit_test (test_state_partition),
    };
    return cmocka_run_group_tests (tests, NULL, NULL);
}
