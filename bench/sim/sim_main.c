/*
 * sim_main.c - the cluster simulator's command line (bench/sim.sh runs it).
 *
 *   shed_sim_run [--nodes N,N,...] [--seed S] [--quick] [--no-partition | --partition-only]
 *                [--partition-max N] [--place N] [--compare N] [--log]
 *                [--no-lifeguard] [--slow-lag MS] [--ae-all-peers]
 *
 * One line per N (every field deterministic for a seed but the CPU ones),
 * then, with --place, placement decisions/s against N node records, and
 * one `RESULT nodes=...` line per N (placement fields on the last). --compare N runs
 * bench/membership.sh's measurements on N simulated nodes instead.
 * N >= --large (default 2000) runs the large plan: --warm, no loss or slow
 * windows (--loss-s / --slow-s still override). --idle-s S: the idle
 * window (default one push-pull period; 0 skips it, its fields print nan).
 * --no-lifeguard: the SWIM baseline (sim_plan_t.no_lifeguard) for the
 * false-failure comparison. --ae-all-peers: the state links before the
 * bounded subset (sim_ae.c).
 */
#include "bench/sim/sim_place.h"
#include "bench/sim/sim_scen.h"

#include <malloc.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define S_MAX_NS 8

static void
s_usage (void)
{
    fprintf (stderr,
             "usage: shed_sim_run [--nodes N,N,...] [--seed S] [--quick]\n"
             "                    [--no-partition | --partition-only]\n"
             "                    [--partition-max N] [--place N] [--compare N] [--log]\n"
             "                    [--no-lifeguard] [--slow-lag MS] [--ae-all-peers] [--kills K]\n"
             "                    [--warm] [--loss-s S] [--slow-s S] [--idle-s S] [--large N]\n");
}

int
main (int argc, char **argv)
{
    uint32_t ns[S_MAX_NS] = { 100, 1000 };
    size_t nns = 2;
    uint64_t seed = 1;
    bool quick = false, partition = true, membership = true, all_peers = false, log = false,
         no_lifeguard = false, warm = false;
    uint32_t partition_max = 1000, place = 0, compare = 0, slow_lag = 0, kills = 0;
    int32_t loss_s = -1, slow_s = -1, idle_s = -1;
    uint32_t large = 2000;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp (a, "--quick"))
            quick = true;
        else if (!strcmp (a, "--no-partition"))
            partition = false;
        else if (!strcmp (a, "--partition-only"))
            membership = false;
        else if (!strcmp (a, "--log"))
            log = true;
        else if (!strcmp (a, "--no-lifeguard"))
            no_lifeguard = true;
        else if (!strcmp (a, "--warm"))
            warm = true;
        else if (!strcmp (a, "--ae-all-peers"))
            all_peers = true;
        else if (v && !strcmp (a, "--seed"))
            seed = strtoull (argv[++i], NULL, 10);
        else if (v && !strcmp (a, "--partition-max"))
            partition_max = (uint32_t) strtoul (argv[++i], NULL, 10);
        else if (v && !strcmp (a, "--slow-lag"))
            slow_lag = (uint32_t) strtoul (argv[++i], NULL, 10);
        else if (v && !strcmp (a, "--loss-s"))
            loss_s = (int32_t) strtol (argv[++i], NULL, 10);
        else if (v && !strcmp (a, "--slow-s"))
            slow_s = (int32_t) strtol (argv[++i], NULL, 10);
        else if (v && !strcmp (a, "--idle-s"))
            idle_s = (int32_t) strtol (argv[++i], NULL, 10);
        else if (v && !strcmp (a, "--large"))
            large = (uint32_t) strtoul (argv[++i], NULL, 10);
        else if (v && !strcmp (a, "--kills"))
            kills = (uint32_t) strtoul (argv[++i], NULL, 10);
        else if (v && !strcmp (a, "--place"))
            place = (uint32_t) strtoul (argv[++i], NULL, 10);
        else if (v && !strcmp (a, "--compare"))
            compare = (uint32_t) strtoul (argv[++i], NULL, 10);
        else if (v && !strcmp (a, "--nodes")) {
            nns = 0;
            char *list = argv[++i], *save = NULL;
            for (char *t = strtok_r (list, ",", &save); t && nns < S_MAX_NS;
                 t = strtok_r (NULL, ",", &save))
                ns[nns++] = (uint32_t) strtoul (t, NULL, 10);
        }
        else {
            s_usage ();
            return 2;
        }
    }
    setvbuf (stdout, NULL, _IOLBF, 0);
    /* The cores decode and drop full member lists all the time (a push-pull
     * at 5,000 members is ~1.7 MB of records): with glibc's defaults each
     * such block is trimmed back to the kernel or mmapped afresh, and
     * malloc was a quarter of the CPU at 5,000 nodes. Keep freed memory in
     * the heap instead (placement of blocks never changes what is
     * simulated: the output is the same, byte for byte). */
    mallopt (M_MMAP_THRESHOLD, 32 * 1024 * 1024);
    mallopt (M_TRIM_THRESHOLD, 1024 * 1024 * 1024);
    mallopt (M_TOP_PAD, 64 * 1024 * 1024);

    if (compare) {
        sim_compare_t cmp;
        double cpu0 = sim_cpu_seconds ();
        if (sim_scen_compare (compare, seed, quick ? 1 : 3, quick ? 2 : 5, quick ? 15 : 60,
                              quick ? 5 : 10, &cmp, log ? stdout : NULL)
            != 0)
            return 1;
        printf ("COMPARE nodes=%u converge_ms=%.0f detect_ms=%.0f false_failures=%.0f "
                "idle_pkts_per_node_s=%.2f sim_cpu_s=%.2f\n",
                compare, cmp.converge_ms, cmp.detect_ms, cmp.false_failures,
                cmp.idle_pkts_per_node_s, sim_cpu_seconds () - cpu0);
        return 0;
    }

    sim_report_t reps[S_MAX_NS];
    for (size_t k = 0; k < nns; k++) {
        sim_plan_t plan;
        sim_plan_default (&plan, ns[k], seed, quick);
        plan.partition = partition && ns[k] <= partition_max;
        plan.log = log ? stdout : NULL;
        plan.no_lifeguard = no_lifeguard;
        plan.membership = membership;
        plan.ae_all_peers = all_peers;
        plan.slow_lag_ms = slow_lag;
        plan.warm = warm;
        if (ns[k] >= large) {
            /* The large plan: no join storm, no loss or slow windows
             * (each ~N^2 log N work per simulated second; 5 s of 10%
             * loss at 5,000 took 92 CPU s, 5 s of 1% slow members 112:
             * docs/membership.md, "Scaling to 1,000 and 5,000 nodes"). */
            plan.warm = true;
            plan.loss_s = plan.slow_s = 0;
        }
        if (loss_s >= 0)
            plan.loss_s = (uint32_t) loss_s;
        if (slow_s >= 0)
            plan.slow_s = (uint32_t) slow_s;
        if (idle_s >= 0)
            plan.load_s = (uint32_t) idle_s;
        if (kills)
            plan.kills = kills;
        sim_report_t *r = &reps[k];
        if (sim_scen_run (&plan, r) != 0) {
            fprintf (stderr, "sim: nodes=%u: cluster did not build or converge\n", ns[k]);
            return 1;
        }
        printf (
            "nodes=%u join_ms=%.0f detect_p50_ms=%.0f detect_p99_ms=%.0f detect_max_ms=%.0f "
            "detect_trials=%u detect_missed=%u dissem_ms=%.0f rounds=%.1f ln_n=%.2f "
            "pkts_per_node_s=%.2f bytes_per_node_s=%.0f pushpull_bytes_per_node_s=%.0f "
            "ff_loss1=%.2f ff_loss5=%.2f ff_loss10=%.2f ff_slow1=%.2f ff_slow5=%.2f "
            "ff_slow1_all=%.2f ff_slow5_all=%.2f repairs_per_node_s=%.3f state_converge_ms=%.0f "
            "partition_converge_ms=%.0f partition_members_ms=%.0f ae_bytes_per_node_s=%.0f "
            "sim_s=%.0f events=%llu sim_cpu_s=%.2f maxrss_mb=%ld\n",
            r->n, r->join_ms, r->detect_p50_ms, r->detect_p99_ms, r->detect_max_ms,
            r->detect_trials, r->detect_missed, r->dissem_ms, r->rounds, r->log_n,
            r->pkts_per_node_s, r->bytes_per_node_s, r->stream_bytes_per_node_s, r->ff_loss[0],
            r->ff_loss[1], r->ff_loss[2], r->ff_slow[0], r->ff_slow[1], r->ff_slow_all[0],
            r->ff_slow_all[1], r->repairs_per_node_s, r->state_converge_ms,
            r->partition_converge_ms, r->partition_members_ms, r->ae_bytes_per_node_s, r->sim_s,
            (unsigned long long) r->events, r->cpu_s, r->maxrss_mb);
    }

    double place_per_s = NAN;
    if (place) {
        sim_place_result_t pr;
        if (sim_place_bench (place, quick ? 0.5 : 2.0, seed, &pr) != 0) {
            fprintf (stderr, "sim: placement bench failed\n");
            return 1;
        }
        place_per_s = pr.place_per_s;
        printf ("placement nodes=%u placement_per_s=%.0f view_placement_per_s=%.1f build_s=%.2f\n",
                pr.nodes, pr.place_per_s, pr.view_place_per_s, pr.build_s);
    }

    /* One RESULT line per N; the placement numbers ride on the last. */
    for (size_t k = 0; k < nns; k++) {
        sim_report_t *r = &reps[k];
        printf ("RESULT nodes=%u detect_p50_ms=%.0f detect_p99_ms=%.0f rounds=%.1f "
                "bytes_per_node_s=%.0f false_failures_per_node_h=%.2f partition_converge_ms=%.0f "
                "sim_cpu_s=%.2f",
                r->n, r->detect_p50_ms, r->detect_p99_ms, r->rounds, r->bytes_per_node_s,
                r->ff_loss[SIM_LOSS_LEVELS - 1], r->partition_converge_ms, r->cpu_s);
        if (place && k == nns - 1)
            printf (" placement_nodes=%u placement_per_s=%.0f", place, place_per_s);
        printf ("\n");
    }
    return 0;
}
