/*
 * membership_bench.c - the membership actor on real sockets, N per process.
 *
 * Runs N membership actors on 127.0.0.1 (random base port per run, real UDP
 * and TCP, real keyring sealing) and measures:
 *   (a) join convergence: all N start together, node 0 is the seed; time
 *       until every node sees N alive. Repeated R times at 32 and 64 nodes.
 *   (b) failure detection: in a settled 32-node cluster, destroy one actor
 *       without leave (its sockets close, it never says goodbye); time until
 *       every survivor reports it failed. Several trials, median.
 *   (c) idle traffic: UDP datagrams sent per node per second over 10 s in
 *       a settled 32-node cluster.
 * Prints one final line:
 *   RESULT join32_ms_median=... join32_ms_max=... join64_ms_median=...
 *          join64_ms_max=... detect32_ms_median=... idle_pkts_per_node_s=...
 *          serf_detect32_ms=8300 serf_idle_pkts_per_node_s=2.0 serf_join32_ms=700
 * The serf_* numbers are the reference measured on the development machine
 * (docs/performance.md), printed for side-by-side reading; they are not
 * measured by this program.
 *
 * Usage: membership_bench [runs]   (default 5)
 */
#include "cluster/membership.h"
#include "common/log.h"

#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    membership_t **actors;
    int n;
    uint16_t base;
} cluster_t;

static uint16_t
s_base_port (int n)
{
    /* Below the kernel's ephemeral range (32768+), where our own outgoing
     * push-pull connections take their source ports. */
    return (uint16_t) (20000 + randombytes_uniform (12000 - (uint32_t) n));
}

/* Start n actors on consecutive ports from a random base. A port already in
 * use (another program, an old TIME_WAIT) fails that start: try another base. */
static cluster_t *
s_cluster_new (int n)
{
    cluster_t *c = (cluster_t *) calloc (1, sizeof *c);
    c->n = n;
    c->actors = (membership_t **) calloc ((size_t) n, sizeof (membership_t *));
    int attempts = 0;
retry:
    c->base = s_base_port (n);
    uint8_t key[SHED_KEY_BYTES];
    shed_keyring_generate (key);
    for (int i = 0; i < n; i++) {
        membership_config_t cfg;
        membership_config_defaults (&cfg);
        snprintf (cfg.name, sizeof cfg.name, "bench-%03d", i);
        snprintf (cfg.bind_addr, sizeof cfg.bind_addr, "127.0.0.1");
        snprintf (cfg.advertise_addr, sizeof cfg.advertise_addr, "127.0.0.1");
        cfg.port = (uint16_t) (c->base + i);
        randombytes_buf (cfg.identity, sizeof cfg.identity);
        if (i > 0) {
            snprintf (cfg.seeds[0], sizeof cfg.seeds[0], "127.0.0.1:%u", (unsigned) c->base);
            cfg.nseeds = 1;
        }
        shed_keyring_t *kr = shed_keyring_new ();
        shed_keyring_install (kr, key);
        char err[256];
        c->actors[i] = membership_new (&cfg, &kr, err, sizeof err);
        if (!c->actors[i]) {
            fprintf (stderr, "node %d: %s (retrying with another base port)\n", i, err);
            for (int j = 0; j < i; j++)
                membership_destroy (&c->actors[j]);
            if (++attempts == 5)
                exit (1);
            goto retry;
        }
    }
    sodium_memzero (key, sizeof key);
    return c;
}

static void
s_cluster_destroy (cluster_t **c_p)
{
    cluster_t *c = *c_p;
    for (int i = 0; i < c->n; i++)
        membership_destroy (&c->actors[i]);
    free (c->actors);
    free (c);
    *c_p = NULL;
}

/* Value of one counter from STATS, or -1. */
static long long
s_stat (membership_t *actor, const char *name)
{
    zmsg_t *msg = membership_stats (actor);
    long long value = -1;
    char *k, *v;
    while (msg && (k = zmsg_popstr (msg))) {
        v = zmsg_popstr (msg);
        if (v && streq (k, name))
            value = atoll (v);
        zstr_free (&k);
        zstr_free (&v);
    }
    zmsg_destroy (&msg);
    return value;
}

/* Wait until every live actor has `stat` >= want; returns elapsed ms or -1. */
static int64_t
s_wait_all (cluster_t *c, const char *stat, long long want, int skip, int64_t start, int64_t limit)
{
    while (zclock_mono () - start < limit) {
        bool all = true;
        for (int i = 0; i < c->n && all; i++)
            if (i != skip && c->actors[i] && s_stat (c->actors[i], stat) < want)
                all = false;
        if (all)
            return zclock_mono () - start;
        zclock_sleep (2);
    }
    return -1;
}

static int
s_cmp (const void *a, const void *b)
{
    int64_t x = *(const int64_t *) a, y = *(const int64_t *) b;
    return x < y ? -1 : x > y;
}

static void
s_join_runs (int n, int runs, int64_t *median, int64_t *max)
{
    int64_t *t = (int64_t *) calloc ((size_t) runs, sizeof (int64_t));
    for (int r = 0; r < runs; r++) {
        int64_t start = zclock_mono ();
        cluster_t *c = s_cluster_new (n);
        t[r] = s_wait_all (c, "alive", n, -1, start, 30000);
        if (t[r] < 0)
            t[r] = 30000;
        printf ("join %d nodes run %d: %lld ms\n", n, r + 1, (long long) t[r]);
        fflush (stdout);
        s_cluster_destroy (&c);
    }
    qsort (t, (size_t) runs, sizeof t[0], s_cmp);
    *median = t[runs / 2];
    *max = t[runs - 1];
    free (t);
}

int
main (int argc, char *argv[])
{
    int runs = argc > 1 ? atoi (argv[1]) : 5;
    if (runs < 1)
        runs = 1;
    if (sodium_init () < 0)
        return 1;
    shed_log_set_level (SHED_LOG_ERROR);
    zsys_init ();
    zsys_set_max_sockets (0);

    int64_t j32_med, j32_max, j64_med, j64_max;
    s_join_runs (32, runs, &j32_med, &j32_max);
    s_join_runs (64, runs, &j64_med, &j64_max);

    /* Settled 32-node cluster for idle traffic and failure detection. */
    cluster_t *c = s_cluster_new (32);
    if (s_wait_all (c, "alive", 32, -1, zclock_mono (), 30000) < 0) {
        fprintf (stderr, "32-node cluster did not converge\n");
        return 1;
    }
    zclock_sleep (3000); /* let join gossip drain */
    long long sent0 = 0, sent1 = 0;
    for (int i = 0; i < c->n; i++)
        sent0 += s_stat (c->actors[i], "udp_sent");
    int64_t t0 = zclock_mono ();
    zclock_sleep (10000);
    for (int i = 0; i < c->n; i++)
        sent1 += s_stat (c->actors[i], "udp_sent");
    double secs = (double) (zclock_mono () - t0) / 1000.0;
    double idle = (double) (sent1 - sent0) / c->n / secs;
    printf ("idle: %.2f packets/node/s\n", idle);

    int trials = runs < 3 ? 3 : runs;
    int64_t *d = (int64_t *) calloc ((size_t) trials, sizeof (int64_t));
    for (int k = 0; k < trials; k++) {
        int victim = 5 + k * 3;
        zclock_sleep (500 + randombytes_uniform (500));
        int64_t start = zclock_mono ();
        membership_destroy (&c->actors[victim]); /* no LEAVE: a crash */
        d[k] = s_wait_all (c, "failed", k + 1, victim, start, 30000);
        if (d[k] < 0)
            d[k] = 30000;
        printf ("detect trial %d: %lld ms\n", k + 1, (long long) d[k]);
        fflush (stdout);
    }
    qsort (d, (size_t) trials, sizeof d[0], s_cmp);
    int64_t det_med = d[trials / 2];
    free (d);
    s_cluster_destroy (&c);

    printf ("RESULT join32_ms_median=%lld join32_ms_max=%lld join64_ms_median=%lld "
            "join64_ms_max=%lld detect32_ms_median=%lld idle_pkts_per_node_s=%.2f "
            "serf_detect32_ms=8300 serf_idle_pkts_per_node_s=2.0 serf_join32_ms=700\n",
            (long long) j32_med, (long long) j32_max, (long long) j64_med, (long long) j64_max,
            (long long) det_med, idle);
    return 0;
}
