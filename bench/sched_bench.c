/*
 * sched_bench.c - placement decisions per second against views of 1,000
 * and 10,000 nodes (docs/performance.md: goal 20k/s at 10,000), with the
 * engine's default sampling (placement_config_t.sample) and, as the
 * same-run reference, scoring every node (sample = 0).
 *
 * The views are built once, with random capacities, usage, tags and a few
 * draining / dead nodes, as a replicated state of that size would give.
 * Each decision parses nothing (requests are prepared up front, like the
 * scheduler holds them), filters the nodes, scores the feasible ones and
 * ranks the best candidates; requests alternate binpack/spread and one in
 * four carries a constraint. `quality` is the mean score of the sampled
 * engine's first candidate over that of the exhaustive one on the same
 * requests (1.0 = as good; the anti-herding pick makes both a little
 * below their best). The last line is machine-readable:
 *     RESULT placements_per_s=<1k> nodes=1000 placements_per_s_10k=<n>
 *            exhaustive_per_s_10k=<n> quality_10k=<r> goal=20000
 * Usage: sched_bench [seconds per run]   (default 1)
 */
#include "cluster/placement.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define NODES_MAX 10000
#define GiB       (1024ULL * 1024 * 1024)

static double
s_now (void)
{
    struct timespec ts;
    clock_gettime (CLOCK_MONOTONIC, &ts);
    return (double) ts.tv_sec + (double) ts.tv_nsec / 1e9;
}

static uint64_t s_seed = 88172645463325252ULL;

static uint64_t
s_rand (void)
{
    s_seed ^= s_seed << 13;
    s_seed ^= s_seed >> 7;
    s_seed ^= s_seed << 17;
    return s_seed;
}

static place_node_t s_nodes[NODES_MAX];
static char s_names[NODES_MAX][16];
static place_tag_t s_tags[NODES_MAX][2];

static void
s_build_view (void)
{
    static const char *zones[] = { "a", "b", "c" };
    for (int i = 0; i < NODES_MAX; i++) {
        place_node_t *n = &s_nodes[i];
        snprintf (s_names[i], sizeof s_names[i], "node%05d", i);
        n->name = s_names[i];
        n->alive = i % 97 != 0;
        n->draining = i % 89 == 0;
        n->capacity.v[PLACE_CPU] = (4 + s_rand () % 60) * 1000;
        n->capacity.v[PLACE_MEMORY] = (8 + s_rand () % 248) * GiB;
        n->capacity.v[PLACE_DISK] = (100 + s_rand () % 900) * GiB;
        n->capacity.v[PLACE_GPU] = i % 50 == 0 ? 4 : 0;
        n->reserved.v[PLACE_MEMORY] = GiB;
        n->overcommit[PLACE_MEMORY] = 1.25;
        for (int r = 0; r < PLACE_RES_COUNT; r++)
            n->allocated.v[r] = n->capacity.v[r] / 100 * (s_rand () % 95);
        s_tags[i][0] = (place_tag_t){ "arch", i % 10 == 0 ? "arm64" : "x86_64" };
        s_tags[i][1] = (place_tag_t){ "zone", zones[i % 3] };
        n->tags = s_tags[i];
        n->ntags = 2;
    }
}

enum { NREQ = 64 };
static place_request_t s_reqs[NREQ];

static void
s_build_requests (void)
{
    for (int i = 0; i < NREQ; i++) {
        place_request_t *r = &s_reqs[i];
        memset (r, 0, sizeof *r);
        r->need.v[PLACE_CPU] = (1 + s_rand () % 8) * 500;
        r->need.v[PLACE_MEMORY] = (1 + s_rand () % 16) * GiB;
        r->need.v[PLACE_DISK] = (1 + s_rand () % 20) * GiB;
        r->strategy = i % 2 ? PLACE_SPREAD : PLACE_BINPACK;
        if (i % 4 == 0) {
            char why[128];
            placement_constraint_parse (i % 8 ? "arch=x86_64" : "zone!=b", &r->constraints[0], why,
                                        sizeof why);
            r->nconstraints = 1;
        }
    }
}

/* Decisions per second over `nodes` view entries with `sample`; adds the
 * first candidate's score of every request once to *score_sum. */
static double
s_run (size_t nodes, size_t sample, double seconds, double *score_sum)
{
    placement_t *engine = placement_new (12345);
    placement_config_t cfg = placement_config_default ();
    cfg.sample = sample;
    placement_set_config (engine, &cfg);
    place_result_t *res = place_result_new ();
    *score_sum = 0;
    for (int i = 0; i < NREQ; i++)
        if (placement_place (engine, s_nodes, nodes, &s_reqs[i], res) > 0)
            *score_sum += place_result_score (res, 0);
    unsigned long decisions = 0, placed = 0;
    double start = s_now (), elapsed = 0;
    while (elapsed < seconds) {
        for (int i = 0; i < 64; i++) {
            placed += placement_place (engine, s_nodes, nodes, &s_reqs[decisions % NREQ], res) > 0;
            decisions++;
        }
        elapsed = s_now () - start;
    }
    double rate = (double) decisions / elapsed;
    printf ("sched_bench: nodes=%zu sample=%zu: %lu decisions in %.2f s, %lu placed, "
            "%.0f ns/decision\n",
            nodes, sample, decisions, elapsed, placed, elapsed * 1e9 / (double) decisions);
    placement_destroy (&engine);
    place_result_destroy (&res);
    return rate;
}

int
main (int argc, char **argv)
{
    double seconds = argc > 1 ? atof (argv[1]) : 1.0;
    if (seconds <= 0)
        seconds = 1.0;
    s_build_view ();
    s_build_requests ();
    size_t sample = placement_config_default ().sample;
    double q1, q10, qx;
    double r1 = s_run (1000, sample, seconds, &q1);
    double r10 = s_run (NODES_MAX, sample, seconds, &q10);
    double rx = s_run (NODES_MAX, 0, seconds, &qx);
    printf ("RESULT placements_per_s=%.0f nodes=1000 placements_per_s_10k=%.0f "
            "exhaustive_per_s_10k=%.0f quality_10k=%.3f goal=20000\n",
            r1, r10, rx, qx > 0 ? q10 / qx : 0.0);
    return 0;
}
