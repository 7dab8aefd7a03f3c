/*
 * sim_cluster.h - a deterministic discrete-event simulation of a shed
 * cluster: N real SWIM/Lifeguard cores (cluster/swim.h) and, optionally, N
 * real replicated state stores (cluster/state.h) kept in sync by a model of
 * the links actor's anti-entropy, over a simulated clock and network
 * (sim_net.h). Nothing here touches a socket or the wall clock.
 *
 * One event queue (sim_heap.h) orders everything: node timers (each core's
 * swim_next_deadline), datagrams, push-pull streams and state messages.
 * After every input a node runs swim_tick and re-arms its timer, as the
 * membership actor's poll loop does (cluster/membership.c). A run with the
 * same config and seed gives the same events in the same order.
 *
 * Slow members (Lifeguard's CPU-starved nodes): a slow node handles every
 * input late by a uniform [0, slow_lag_ms] delay, in arrival order (a busy
 * process works its queue sequentially), while its timers fire on time: so
 * its probes time out with the acks still queued, as in the Lifeguard
 * paper's experiments.
 *
 * Usage:
 *     sim_config_t cfg; sim_config_default (&cfg, 100, seed);
 *     sim_cluster_t *c = sim_cluster_new (&cfg);
 *     sim_join_all (c, 0, 1000);            // everyone joins node 0
 *     sim_run_until_converged (c, 60000);
 *     sim_kill (c, 7); sim_watch (c, 7); sim_run_for (c, 10000); ...
 *     sim_cluster_destroy (&c);
 */
#ifndef SHED_SIM_CLUSTER_H
#define SHED_SIM_CLUSTER_H

#include "bench/sim/sim_net.h"
#include "cluster/swim.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct _sim_cluster_t sim_cluster_t;

typedef struct {
    uint32_t n;
    uint64_t seed;
    swim_config_t swim; /* base config; name/addr/port/key per node */
    sim_net_config_t net;
    uint32_t slow_lag_ms;    /* a slow node's input is this late, at most */
    bool state;              /* run state stores and anti-entropy */
    uint32_t ae_interval_ms; /* anti-entropy round (links: 1000, +-25%) */
    size_t ae_budget;        /* DELTA/PUSH budget (0: store default) */
    bool ae_all_peers;       /* links before the bounded subset: rounds with
                                    any alive member, PUSH to every one, no
                                    rumor re-push (default false: the subset) */
} sim_config_t;

/* LAN membership defaults (swim_config_lan, as the membership actor uses
 * them), 1-5 ms links, no loss, state off. */
void sim_config_default (sim_config_t *cfg, uint32_t n, uint64_t seed);

sim_cluster_t *sim_cluster_new (const sim_config_t *cfg);
void sim_cluster_destroy (sim_cluster_t **self_p);

uint64_t sim_now (sim_cluster_t *self);
uint32_t sim_size (sim_cluster_t *self);
sim_net_t *sim_cluster_net (sim_cluster_t *self);      /* borrowed */
swim_t *sim_swim (sim_cluster_t *self, uint32_t node); /* borrowed */
/* The cluster's generator (scenarios draw victims from it). */
uint64_t sim_random (sim_cluster_t *self);

/* Run events until simulated time `t` (or for `ms`). */
void sim_run_until (sim_cluster_t *self, uint64_t t);
void sim_run_for (sim_cluster_t *self, uint64_t ms);

/* Every node but `seed` calls swim_join(seed) at a uniform random moment in
 * the next `spread_ms` (0: all at once, as membership.sh releases them). */
void sim_join_all (sim_cluster_t *self, uint32_t seed, uint32_t spread_ms);
/* A warm start for large N: every node joins `seed` at once, then gets the
 * seed's full member list as the answer to its join (so the N^2 log N
 * gossip of N joins to N members, the join storm, is skipped). 0 or -1. */
int sim_join_warm (sim_cluster_t *self, uint32_t seed);
/* True when every live node holds every other live node as alive and no
 * one else as alive or suspect. */
bool sim_converged (sim_cluster_t *self);
/* Run (checking every `step_ms`) until converged or `timeout_ms` passed;
 * returns the simulated ms it took, or UINT64_MAX. */
uint64_t sim_run_until_converged (sim_cluster_t *self, uint64_t timeout_ms, uint32_t step_ms);
/* Per node, the first time (ms since `t0`) it held every other node alive;
 * the max over nodes into *max_ms (UINT64_MAX if some never did) and the
 * number of nodes done. Tracked from the last sim_join_all. */
uint32_t sim_join_times (sim_cluster_t *self, uint64_t *max_ms);

/* Broadcasts still queued on live nodes (0: gossip has gone quiet). */
size_t sim_broadcasts_pending (sim_cluster_t *self);

/* Stop a node dead (kill -9): no timers, input dropped. */
void sim_kill (sim_cluster_t *self, uint32_t node);
bool sim_is_down (sim_cluster_t *self, uint32_t node);
/* Mark a node slow (late timers and input) or normal again. */
void sim_set_slow (sim_cluster_t *self, uint32_t node, bool slow);
bool sim_is_slow (sim_cluster_t *self, uint32_t node);

/* swim_set_tag on `node` (it re-announces itself at incarnation + 1), then
 * its timers run as after any input. */
void sim_set_tag (sim_cluster_t *self, uint32_t node, const char *key, const char *value);

/* ---- Watching one member --------------------------------------------------
 * sim_watch_fail(node): from now, record when each live observer declares
 * `node` dead. sim_watch_update(node, inc): when each sees `node` at
 * incarnation >= inc. sim_watch_done: how many live observers (the watched
 * node excluded) got there, and the time of the last one, ms after the
 * watch began. */
void sim_watch_fail (sim_cluster_t *self, uint32_t node);
void sim_watch_update (sim_cluster_t *self, uint32_t node, uint64_t incarnation);
uint32_t sim_watch_done (sim_cluster_t *self, uint64_t *last_ms);
/* Live observers the watch waits for. */
uint32_t sim_watch_expected (sim_cluster_t *self);

/* ---- Counters ----------------------------------------------------------- */
typedef struct {
    uint64_t udp_packets, udp_bytes;       /* datagrams handed to the network */
    uint64_t stream_msgs, stream_bytes;    /* push-pull (requests and replies) */
    uint64_t ae_msgs, ae_bytes;            /* state anti-entropy and pushes */
    uint64_t fail_events;                  /* FAIL events anywhere */
    uint64_t false_fail_events;            /* ... about a member that is up */
    uint64_t false_fail_healthy;           /* ... about an up member that is not slow */
    uint64_t false_failed_members;         /* (member, incarnation) declared dead while up */
    uint64_t false_failed_healthy_members; /* ... of those, members not slow */
    uint64_t suspect_events;
    uint64_t events;       /* simulator events processed */
    uint64_t repair_syncs; /* the cores' repair push-pulls (swim_stats), summed */
    uint64_t pushpulls;    /* every push-pull the cores started, summed */
} sim_counters_t;

void sim_counters (sim_cluster_t *self, sim_counters_t *out);

/* ---- Replicated state (cfg.state) ----------------------------------------- */
/* Node `node` writes `count` records kind "shed", keys "<prefix>-<i>" with
 * a small value, then pushes them to every peer it holds alive, as the
 * links actor does after a local write. */
void sim_state_write (sim_cluster_t *self, uint32_t node, const char *prefix, uint32_t count);
/* Every live node does sim_state_write(node, prefix "shed", count) at a
 * uniform random moment in the next `spread_ms`. */
void sim_state_write_all (sim_cluster_t *self, uint32_t count, uint32_t spread_ms);
/* True when every live node holds every live origin through its last
 * version. */
bool sim_state_converged (sim_cluster_t *self);
/* Records held by node (all origins). */
size_t sim_state_records (sim_cluster_t *self, uint32_t node);

#endif
