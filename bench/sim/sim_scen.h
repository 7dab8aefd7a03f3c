/*
 * sim_scen.h - the measurements the simulator reports (docs/membership.md,
 * "Scaling (simulated)"), each a scenario run on a sim_cluster_t.
 */
#ifndef SHED_SIM_SCEN_H
#define SHED_SIM_SCEN_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

typedef struct {
    uint32_t n;
    uint64_t seed;
    uint32_t kills;       /* failure detection trials */
    uint32_t updates;     /* dissemination trials */
    uint32_t load_s;      /* idle window for bytes/packets */
    uint32_t loss_s;      /* window per loss level (1, 5, 10%) */
    uint32_t slow_s;      /* window per slow share (1, 5%) */
    bool membership;      /* run the membership scenarios */
    bool partition;       /* run the state partition scenario */
    uint32_t partition_s; /* partition length */
    uint32_t sheds;       /* records per node in the partition scenario */
    bool no_lifeguard;    /* baseline: no local health (awareness_max 0) and
                                a fixed suspicion timeout (max = min); the
                                buddy system stays (the core has no switch) */
    uint32_t slow_lag_ms; /* a slow member's input delay, at most (0: default) */
    bool ae_all_peers;    /* state links as before the bounded subset */
    bool warm;            /* boot by sim_join_warm (no join storm, no join_ms) */
    FILE *log;            /* '#' detail lines; NULL: none */
} sim_plan_t;

/* Defaults for a full run at n nodes (quick: shorter windows). */
void sim_plan_default (sim_plan_t *plan, uint32_t n, uint64_t seed, bool quick);

#define SIM_LOSS_LEVELS 3
#define SIM_SLOW_LEVELS 2
extern const double sim_loss_levels[SIM_LOSS_LEVELS];
extern const double sim_slow_levels[SIM_SLOW_LEVELS];

typedef struct {
    uint32_t n;
    double join_ms; /* all nodes join node 0: last node complete */
    double detect_p50_ms, detect_p99_ms, detect_max_ms; /* until all know */
    uint32_t detect_trials, detect_missed;              /* missed: not all knew in 60 s */
    double dissem_ms, rounds;                           /* median; rounds in gossip intervals */
    double log_n;                                       /* ln N, for the rounds comparison */
    double pkts_per_node_s, bytes_per_node_s, stream_bytes_per_node_s;
    double ff_loss[SIM_LOSS_LEVELS];     /* false failures per node-hour */
    double ff_slow[SIM_SLOW_LEVELS];     /* ... of healthy members, slow ones present */
    double ff_slow_all[SIM_SLOW_LEVELS]; /* ... of any member (slow ones included) */
    double false_events;                 /* FAIL declarations about live members, all windows */
    double repairs_per_node_s;           /* repair push-pulls in the loss and slow windows */
    double state_converge_ms;            /* first full replication of the records */
    double partition_converge_ms;        /* after the heal: every node holds everything */
    double partition_members_ms;         /* after the heal: membership converged */
    double ae_bytes_per_node_s;          /* anti-entropy traffic while idle */
    double sim_s;                        /* simulated seconds */
    double cpu_s;                        /* getrusage user+sys of the whole run */
    long maxrss_mb;
    uint64_t events;
} sim_report_t;

/* Run every scenario of the plan; 0, or -1 if the cluster could not be
 * built or never converged. */
int sim_scen_run (const sim_plan_t *plan, sim_report_t *out);

/* membership.sh's four measurements on an n-node cluster (all released
 * together; 10% loss for loss_s; `kills` detection trials without restart):
 * join converge, detect p50, false failures (declarations summed over
 * nodes) and idle packets per node per second. */
typedef struct {
    double converge_ms, detect_ms, false_failures, idle_pkts_per_node_s;
} sim_compare_t;
int sim_scen_compare (uint32_t n, uint64_t seed, uint32_t runs, uint32_t kills, uint32_t loss_s,
                      uint32_t idle_s, sim_compare_t *out, FILE *log);

double sim_cpu_seconds (void);

#endif
