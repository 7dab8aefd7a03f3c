/*
 * sim_internal.h - what sim_cluster.c and sim_ae.c share; not for the
 * scenarios (they use sim_cluster.h).
 */
#ifndef SHED_SIM_INTERNAL_H
#define SHED_SIM_INTERNAL_H

#include "bench/sim/sim_cluster.h"
#include "bench/sim/sim_heap.h"
#include "cluster/state.h"

#define SIM_PORT0 10000 /* node i listens on SIM_PORT0 + i */

/* Event kinds; SIM_DEFERRED marks an event a slow node already delayed. */
enum {
    SIM_EV_WAKE = 1,     /* node timer; arg = generation */
    SIM_EV_DGRAM,        /* ptr = sim_pkt_t */
    SIM_EV_STREAM,       /* push-pull request, ptr = sim_pkt_t */
    SIM_EV_STREAM_REPLY, /* push-pull reply, ptr = sim_pkt_t */
    SIM_EV_JOIN,         /* arg = seed node */
    SIM_EV_AE_TICK,      /* anti-entropy round */
    SIM_EV_AE_MSG,       /* state message, ptr = sim_pkt_t */
    SIM_EV_WRITE,        /* sim_state_write, arg = count */
};
#define SIM_DEFERRED 0x100u

typedef struct {
    uint32_t from;
    size_t len;
    uint8_t buf[];
} sim_pkt_t;

/* A node's links (sim_ae.c): the subset it holds connections to and the
 * peers that recently linked to it, as cluster/links_peers.c keeps them. */
#define SIM_INBOUND_MAX 256
typedef struct {
    uint32_t subset[64]; /* LINKS_SUBSET_MAX */
    uint32_t nsubset;
    uint32_t inbound[SIM_INBOUND_MAX];
    uint64_t inbound_at[SIM_INBOUND_MAX];
    uint32_t ninbound;
    uint64_t next_rotate;
} sim_links_t;

typedef struct {
    sim_cluster_t *sim;
    uint32_t id;
    swim_t *swim;
    state_t *state;
    uint64_t wake_at;    /* armed timer (UINT64_MAX: none) */
    uint64_t wake_gen;   /* older WAKE events are stale */
    uint64_t busy_until; /* slow node: its queue is worked until then */
    bool down, slow;
    int32_t members;       /* others it holds joined (JOIN - FAIL - LEAVE) */
    uint64_t join_done_at; /* first time members reached n - 1 */
    uint64_t fail_inc;     /* incarnation + 1 of its last counted false failure */
    uint32_t st_cursor;    /* origins below it known up to date (state check) */
    sim_links_t *links;    /* state links (cfg.state only) */
} sim_node_t;

struct _sim_cluster_t {
    sim_config_t cfg;
    uint64_t now;
    uint64_t rng;      /* the cores' draws (env.random), slow members' lag */
    uint64_t scen_rng; /* the scenarios' draws (victims, slow members, join
                              and write times), apart from the cores' so a
                              protocol change that draws more or less does
                              not change who gets killed or slowed: before and
                              after runs of one seed compare like with like */
    sim_heap_t *heap;
    sim_net_t *net;
    sim_node_t *nodes;
    sim_counters_t cnt;
    uint32_t ndown;
    uint64_t join_t0;
    /* the watch (sim_watch_*) */
    int watch_kind; /* 0 none, 1 fail, 2 update */
    uint32_t watch_node;
    uint64_t watch_inc, watch_t0, watch_last;
    uint32_t watch_count;
    uint8_t *watch_seen;
    uint64_t *st_target; /* per origin: last version it wrote */
};

/* sim_cluster.c */
sim_pkt_t *sim__pkt (uint32_t from, const uint8_t *buf, size_t len);
/* Queue an event; `ptr` is owned by it. */
void sim__push (sim_cluster_t *self, uint64_t at, uint32_t kind, uint32_t node, uint64_t arg,
                void *ptr);
/* Node id from a member name ("n00042"), or UINT32_MAX. */
uint32_t sim__id_of (const sim_cluster_t *self, const char *name);

/* sim_ae.c: state stores and the links actor's anti-entropy */
int sim__ae_init (sim_cluster_t *self);
void sim__ae_fini (sim_cluster_t *self);
void sim__ae_tick (sim_cluster_t *self, sim_node_t *node);
void sim__ae_receive (sim_cluster_t *self, sim_node_t *node, const sim_pkt_t *pkt);

#endif
