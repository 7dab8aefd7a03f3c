/*
 * sim_scen.c - the scenarios behind bench/sim.sh (see sim_scen.h).
 *
 * Failure detection is "until every member knows": the time from the kill
 * to the last live member's FAIL event about the victim. Dissemination is
 * one update (a tag change re-announces a node at incarnation + 1) until
 * every member has applied it, in gossip intervals. A false failure is a
 * (member, incarnation) declared dead by anyone while the member is up,
 * per node-hour of the window.
 */
#include "bench/sim/sim_scen.h"
#include "bench/sim/sim_cluster.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

const double sim_loss_levels[SIM_LOSS_LEVELS] = { 0.01, 0.05, 0.10 };
const double sim_slow_levels[SIM_SLOW_LEVELS] = { 0.01, 0.05 };

#define S_STEP_MS   50 /* how often a scenario checks its condition */
#define S_SETTLE_MS 5000

double
sim_cpu_seconds (void)
{
    struct rusage ru;
    getrusage (RUSAGE_SELF, &ru);
    return (double) ru.ru_utime.tv_sec + (double) ru.ru_utime.tv_usec / 1e6
           + (double) ru.ru_stime.tv_sec + (double) ru.ru_stime.tv_usec / 1e6;
}

void
sim_plan_default (sim_plan_t *plan, uint32_t n, uint64_t seed, bool quick)
{
    memset (plan, 0, sizeof *plan);
    plan->n = n;
    plan->seed = seed;
    plan->kills = quick ? 3 : 8;
    plan->updates = quick ? 3 : 5;
    /* one push-pull period, so its bytes count: the core scales it as
     * memberlist does (x(ceil(log2 N - 5) + 1) above 32 members) */
    plan->load_s = 30;
    if (n > 32)
        plan->load_s = 30 * (uint32_t) (ceil (log2 ((double) n) - 5.0) + 1.0);
    plan->loss_s = quick ? 20 : 60;
    plan->slow_s = quick ? 20 : 60;
    plan->membership = true;
    plan->partition = true;
    plan->partition_s = 10;
    plan->sheds = 10;
}

static int
s_cmp (const void *a, const void *b)
{
    double x = *(const double *) a, y = *(const double *) b;
    return x < y ? -1 : x > y;
}

/* Nearest-rank percentile of v[0..n) (sorts v). */
static double
s_pct (double *v, size_t n, double q)
{
    if (n == 0)
        return NAN;
    qsort (v, n, sizeof *v, s_cmp);
    size_t r = (size_t) ceil (q * (double) n);
    return v[r ? r - 1 : 0];
}

static void
s_log (const sim_plan_t *plan, sim_cluster_t *c, const char *what, double value)
{
    if (plan->log)
        fprintf (plan->log, "# n=%u t=%.1fs %s=%.1f cpu_s=%.1f\n", plan->n,
                 (double) (sim_now (c) - 1000000) / 1000.0, what, value, sim_cpu_seconds ());
}

/* A live node other than node 0 (the seed stays up), uniformly. */
static uint32_t
s_pick_live (sim_cluster_t *c)
{
    uint32_t n = sim_size (c);
    for (;;) {
        uint32_t v = 1 + (uint32_t) (sim_random (c) % (n - 1));
        if (!sim_is_down (c, v) && !sim_is_slow (c, v))
            return v;
    }
}

/* Run until `node`'s watch is complete or `timeout_ms`; the time to the
 * last observer, or NAN. */
static double
s_run_watch (sim_cluster_t *c, uint64_t timeout_ms)
{
    uint64_t t0 = sim_now (c), last;
    while (sim_now (c) - t0 < timeout_ms) {
        if (sim_watch_done (c, &last) >= sim_watch_expected (c))
            return (double) last;
        sim_run_for (c, S_STEP_MS);
    }
    return sim_watch_done (c, &last) >= sim_watch_expected (c) ? (double) last : NAN;
}

static int
s_boot (const sim_plan_t *plan, sim_cluster_t *c, double *join_ms)
{
    /* Joins spread over a few seconds, as nodes of a real fleet start; the
     * seed answers each with its full member list. */
    uint32_t spread = plan->n * 5 < 5000 ? plan->n * 5 : 5000;
    if (plan->warm) {
        if (sim_join_warm (c, 0) != 0)
            return -1;
        *join_ms = NAN;
    }
    else
        sim_join_all (c, 0, spread);
    uint64_t conv = sim_run_until_converged (c, 300000, 100);
    if (conv == UINT64_MAX)
        return -1;
    uint64_t worst;
    sim_join_times (c, &worst);
    if (!plan->warm)
        *join_ms = worst == UINT64_MAX ? NAN : (double) worst;
    s_log (plan, c, "join_ms", *join_ms);
    return 0;
}

static void
s_load (const sim_plan_t *plan, sim_cluster_t *c, sim_report_t *out)
{
    sim_counters_t a, b;
    /* Idle means the join's rumours have run out: each was queued on every
     * node and is sent retransmit_mult * log10 N times. */
    uint64_t t0 = sim_now (c);
    while (sim_broadcasts_pending (c) > 0 && sim_now (c) - t0 < 300000)
        sim_run_for (c, 1000);
    s_log (plan, c, "quiet_after_ms", (double) (sim_now (c) - t0));
    sim_run_for (c, S_SETTLE_MS);
    if (plan->load_s == 0) {
        /* --idle-s 0: straight on to the windows (the idle numbers cost
         * ~0.5 CPU s per simulated s at 5,000 nodes) */
        out->pkts_per_node_s = out->bytes_per_node_s = out->stream_bytes_per_node_s = NAN;
        return;
    }
    sim_counters (c, &a);
    sim_run_for (c, plan->load_s * 1000ull);
    sim_counters (c, &b);
    double ns = (double) plan->n * plan->load_s;
    out->pkts_per_node_s = (double) (b.udp_packets - a.udp_packets) / ns;
    out->bytes_per_node_s = (double) (b.udp_bytes - a.udp_bytes) / ns;
    out->stream_bytes_per_node_s = (double) (b.stream_bytes - a.stream_bytes) / ns;
    s_log (plan, c, "pkts_per_node_s", out->pkts_per_node_s);
}

static void
s_dissemination (const sim_plan_t *plan, sim_cluster_t *c, sim_report_t *out)
{
    double ms[64];
    uint32_t k = 0;
    for (uint32_t t = 0; t < plan->updates && k < 64; t++) {
        uint32_t v = s_pick_live (c);
        uint64_t inc = swim_self (sim_swim (c, v))->incarnation + 1;
        sim_watch_update (c, v, inc);
        char value[16];
        snprintf (value, sizeof value, "%u", t);
        sim_set_tag (c, v, "sim", value);
        double d = s_run_watch (c, 30000);
        s_log (plan, c, "dissem_ms", d);
        if (!isnan (d))
            ms[k++] = d;
        sim_run_for (c, 2000);
    }
    out->dissem_ms = s_pct (ms, k, 0.5);
}

/* False failures per node-hour over the next `secs` (whatever the caller
 * set up: loss, slow members). Healthy: only members that are not slow. */
static double
s_false_window (const sim_plan_t *plan, sim_cluster_t *c, uint32_t secs, bool healthy_only,
                double *all_out)
{
    sim_counters_t a, b;
    sim_counters (c, &a);
    sim_run_for (c, secs * 1000ull);
    sim_counters (c, &b);
    double node_h = (double) plan->n * secs / 3600.0;
    uint64_t members = b.false_failed_members - a.false_failed_members;
    if (all_out)
        *all_out = (double) members / node_h;
    uint64_t healthy = b.false_failed_healthy_members - a.false_failed_healthy_members;
    return (double) (healthy_only ? healthy : members) / node_h;
}

static void
s_false_failures (const sim_plan_t *plan, sim_cluster_t *c, sim_report_t *out)
{
    sim_counters_t a, b;
    sim_counters (c, &a);
    for (int l = 0; l < SIM_LOSS_LEVELS; l++)
        out->ff_loss[l] = NAN; /* not run (--loss-s 0) */
    for (int l = 0; l < SIM_SLOW_LEVELS; l++)
        out->ff_slow[l] = out->ff_slow_all[l] = NAN;
    for (int l = 0; l < SIM_LOSS_LEVELS && plan->loss_s; l++) {
        sim_net_set_loss (sim_cluster_net (c), sim_loss_levels[l]);
        out->ff_loss[l] = s_false_window (plan, c, plan->loss_s, false, NULL);
        s_log (plan, c, "false_per_node_h_loss", out->ff_loss[l]);
        sim_net_set_loss (sim_cluster_net (c), 0);
        sim_run_until_converged (c, 60000, 100);
    }
    uint32_t n = sim_size (c);
    for (int l = 0; l < SIM_SLOW_LEVELS && plan->slow_s; l++) {
        uint32_t want = (uint32_t) ceil (sim_slow_levels[l] * n), got = 0;
        while (got < want) {
            uint32_t v = s_pick_live (c);
            sim_set_slow (c, v, true);
            got++;
        }
        out->ff_slow[l] = s_false_window (plan, c, plan->slow_s, true, &out->ff_slow_all[l]);
        s_log (plan, c, "false_per_node_h_slow_healthy", out->ff_slow[l]);
        for (uint32_t i = 0; i < n; i++)
            sim_set_slow (c, i, false);
        sim_run_until_converged (c, 60000, 100);
    }
    sim_counters (c, &b);
    out->false_events = (double) (b.false_fail_events - a.false_fail_events);
    double node_s = (double) n * (SIM_LOSS_LEVELS * plan->loss_s + SIM_SLOW_LEVELS * plan->slow_s);
    out->repairs_per_node_s =
        node_s > 0 ? (double) (b.repair_syncs - a.repair_syncs) / node_s : (double) NAN;
    s_log (plan, c, "repair_syncs", (double) (b.repair_syncs - a.repair_syncs));
}

static void
s_detection (const sim_plan_t *plan, sim_cluster_t *c, sim_report_t *out)
{
    double ms[64];
    uint32_t k = 0;
    for (uint32_t t = 0; t < plan->kills && t < 64; t++) {
        uint32_t v = s_pick_live (c);
        sim_kill (c, v);
        sim_watch_fail (c, v);
        double d = s_run_watch (c, 60000);
        s_log (plan, c, "detect_ms", d);
        if (isnan (d))
            out->detect_missed++;
        else
            ms[k++] = d;
        sim_run_for (c, 2000);
    }
    out->detect_trials = k;
    double copy[64];
    memcpy (copy, ms, k * sizeof *ms);
    out->detect_p50_ms = s_pct (copy, k, 0.5);
    out->detect_p99_ms = s_pct (copy, k, 0.99);
    out->detect_max_ms = s_pct (copy, k, 1.0);
}

static void
s_config (const sim_plan_t *plan, sim_config_t *cfg, uint64_t seed)
{
    sim_config_default (cfg, plan->n, seed);
    if (plan->slow_lag_ms)
        cfg->slow_lag_ms = plan->slow_lag_ms;
    cfg->ae_all_peers = plan->ae_all_peers;
    if (plan->no_lifeguard) {
        cfg->swim.awareness_max = 0;
        cfg->swim.suspicion_max_mult = 1.0;
    }
}

static int
s_partition (const sim_plan_t *plan, sim_report_t *out)
{
    sim_config_t cfg;
    s_config (plan, &cfg, plan->seed ^ 0x5041525449ull);
    cfg.state = true;
    sim_cluster_t *c = sim_cluster_new (&cfg);
    double join_ms;
    if (!c || s_boot (plan, c, &join_ms) != 0) {
        sim_cluster_destroy (&c);
        return -1;
    }
    uint64_t t0 = sim_now (c);
    sim_state_write_all (c, plan->sheds, 1000);
    sim_run_for (c, 1001);
    while (!sim_state_converged (c) && sim_now (c) - t0 < 120000)
        sim_run_for (c, S_STEP_MS);
    out->state_converge_ms = (double) (sim_now (c) - t0);
    s_log (plan, c, "state_converge_ms", out->state_converge_ms);

    sim_counters_t a, b;
    sim_run_for (c, 2000);
    sim_counters (c, &a);
    sim_run_for (c, 10000);
    sim_counters (c, &b);
    out->ae_bytes_per_node_s = (double) (b.ae_bytes - a.ae_bytes) / plan->n / 10.0;

    /* Half the cluster on each side; both sides keep writing. */
    uint8_t *groups = (uint8_t *) malloc (plan->n);
    for (uint32_t i = 0; i < plan->n; i++)
        groups[i] = i < plan->n / 2 ? 0 : 1;
    sim_net_partition (sim_cluster_net (c), groups);
    free (groups);
    sim_state_write_all (c, plan->sheds, 1000);
    sim_run_for (c, plan->partition_s * 1000ull);
    sim_net_partition (sim_cluster_net (c), NULL);
    uint64_t heal = sim_now (c);
    bool state_done = false, members_done = false;
    out->partition_converge_ms = out->partition_members_ms = NAN;
    while ((!state_done || !members_done) && sim_now (c) - heal < 180000) {
        sim_run_for (c, S_STEP_MS);
        if (!state_done && sim_state_converged (c)) {
            state_done = true;
            out->partition_converge_ms = (double) (sim_now (c) - heal);
        }
        if (!members_done && sim_converged (c)) {
            members_done = true;
            out->partition_members_ms = (double) (sim_now (c) - heal);
        }
    }
    s_log (plan, c, "partition_converge_ms", out->partition_converge_ms);
    s_log (plan, c, "partition_members_ms", out->partition_members_ms);
    out->sim_s += (double) (sim_now (c) - 1000000) / 1000.0;
    sim_counters (c, &b);
    out->events += b.events;
    sim_cluster_destroy (&c);
    return 0;
}

static int
s_membership (const sim_plan_t *plan, sim_report_t *out)
{
    sim_config_t cfg;
    s_config (plan, &cfg, plan->seed);
    sim_cluster_t *c = sim_cluster_new (&cfg);
    if (!c || s_boot (plan, c, &out->join_ms) != 0) {
        sim_cluster_destroy (&c);
        return -1;
    }
    s_load (plan, c, out);
    s_dissemination (plan, c, out);
    out->rounds = out->dissem_ms / (double) cfg.swim.gossip_interval_ms;
    s_false_failures (plan, c, out);
    s_detection (plan, c, out);
    out->sim_s = (double) (sim_now (c) - 1000000) / 1000.0;
    sim_counters_t k;
    sim_counters (c, &k);
    out->events = k.events;
    sim_cluster_destroy (&c);
    return 0;
}

int
sim_scen_run (const sim_plan_t *plan, sim_report_t *out)
{
    memset (out, 0, sizeof *out);
    out->n = plan->n;
    out->log_n = log ((double) plan->n);
    double cpu0 = sim_cpu_seconds ();
    out->partition_converge_ms = out->partition_members_ms = out->state_converge_ms = NAN;
    if (plan->membership && s_membership (plan, out) != 0)
        return -1;
    if (plan->partition && s_partition (plan, out) != 0)
        return -1;
    out->cpu_s = sim_cpu_seconds () - cpu0;
    struct rusage ru;
    getrusage (RUSAGE_SELF, &ru);
    out->maxrss_mb = ru.ru_maxrss / 1024;
    return 0;
}

int
sim_scen_compare (uint32_t n, uint64_t seed, uint32_t runs, uint32_t kills, uint32_t loss_s,
                  uint32_t idle_s, sim_compare_t *out, FILE *log)
{
    double conv[16], det[64], falses = 0, pkts = 0;
    uint32_t nconv = 0, ndet = 0;
    for (uint32_t r = 0; r < runs && r < 16; r++) {
        sim_config_t cfg;
        sim_config_default (&cfg, n, seed + r);
        sim_cluster_t *c = sim_cluster_new (&cfg);
        if (!c)
            return -1;
        /* Released together (membership.sh parks every process on one
         * lock); a process takes a few ms to get going. */
        sim_join_all (c, 0, 20);
        uint64_t worst = UINT64_MAX, t0 = sim_now (c);
        while (sim_now (c) - t0 < 60000) {
            sim_run_for (c, 10);
            if (sim_join_times (c, &worst) == n && worst != UINT64_MAX)
                break;
        }
        conv[nconv++] = worst == UINT64_MAX ? 60000.0 : (double) worst;
        if (log)
            fprintf (log, "# compare n=%u run %u converge_ms=%.0f\n", n, r, conv[nconv - 1]);
        if (r == 0) {
            sim_run_until_converged (c, 60000, 100);
            sim_run_for (c, S_SETTLE_MS);
            sim_counters_t a, b;
            sim_counters (c, &a);
            sim_run_for (c, idle_s * 1000ull);
            sim_counters (c, &b);
            pkts = (double) (b.udp_packets - a.udp_packets) / n / idle_s;
            sim_net_set_loss (sim_cluster_net (c), 0.10);
            sim_counters (c, &a);
            sim_run_for (c, loss_s * 1000ull);
            sim_counters (c, &b);
            falses = (double) (b.false_fail_events - a.false_fail_events);
            sim_net_set_loss (sim_cluster_net (c), 0);
            sim_run_until_converged (c, 60000, 100);
            for (uint32_t t = 0; t < kills && ndet < 64; t++) {
                uint32_t v = n - 1 - t; /* node N, N-1, ... as membership.sh */
                sim_kill (c, v);
                sim_watch_fail (c, v);
                uint64_t k0 = sim_now (c), last = 0;
                while (sim_now (c) - k0 < 60000
                       && sim_watch_done (c, &last) < sim_watch_expected (c))
                    sim_run_for (c, 10);
                det[ndet++] = (double) last;
                if (log)
                    fprintf (log, "# compare n=%u detect trial %u detect_ms=%llu\n", n, t,
                             (unsigned long long) last);
                sim_run_for (c, 3000);
            }
        }
        sim_cluster_destroy (&c);
    }
    out->converge_ms = s_pct (conv, nconv, 0.5);
    out->detect_ms = s_pct (det, ndet, 0.5);
    out->false_failures = falses;
    out->idle_pkts_per_node_s = pkts;
    return 0;
}
