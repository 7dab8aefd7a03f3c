/*
 * sim_place.h - placement decisions per second against a synthetic
 * replicated state of many node records (the real store, the real record
 * codec, the real placement engine).
 */
#ifndef SHED_SIM_PLACE_H
#define SHED_SIM_PLACE_H

#include <stdint.h>

typedef struct {
    uint32_t nodes;          /* node records in the state */
    double place_per_s;      /* placement_place on a built view */
    double view_place_per_s; /* view rebuilt from the store per decision,
                                    as node_sched.c does for every job */
    double build_s;          /* CPU to build the store */
} sim_place_result_t;

/* Build a store of `nodes` REC_NODE records (as anti-entropy would leave
 * them), then time decisions for about `seconds` of CPU each way. */
int sim_place_bench (uint32_t nodes, double seconds, uint64_t seed, sim_place_result_t *out);

#endif
