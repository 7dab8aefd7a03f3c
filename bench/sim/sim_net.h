/*
 * sim_net.h - the simulated network: who can reach whom, how long a message
 * takes and whether it is lost.
 *
 * Model (docs/membership.md, "Scaling (simulated)"):
 *   - every directed link a->b has a base one-way latency drawn once from
 *     [lat_min, lat_max] (a hash of the pair, so it needs no per-link
 *     memory), plus a uniform jitter in [0, jitter] per message;
 *   - datagrams are lost independently with probability `loss`; streams
 *     (TCP push-pull, ZeroMQ state links) are never lost, only cut;
 *   - a partition gives each node a group; messages between groups vanish;
 *   - one-way blocks (asymmetric reachability): a->b dropped, b->a fine.
 * Down and slow nodes are the cluster's business (sim_cluster.c).
 */
#ifndef SHED_SIM_NET_H
#define SHED_SIM_NET_H

#include <stdbool.h>
#include <stdint.h>

typedef struct _sim_net_t sim_net_t;

typedef struct {
    uint32_t lat_min_ms; /* base one-way latency range per link */
    uint32_t lat_max_ms;
    uint32_t jitter_ms; /* extra per message, uniform */
    double loss;        /* datagram loss probability, 0..1 */
} sim_net_config_t;

/* A network of n nodes; `seed` drives loss, jitter and the link hash. */
sim_net_t *sim_net_new (uint32_t n, const sim_net_config_t *config, uint64_t seed);
void sim_net_destroy (sim_net_t **self_p);
void sim_net_set_loss (sim_net_t *self, double loss);

/* Partition: node i gets group groups[i] (copied). NULL heals. */
void sim_net_partition (sim_net_t *self, const uint8_t *groups);
/* Drop (blocked = true) or allow messages from -> to, one direction. */
void sim_net_block (sim_net_t *self, uint32_t from, uint32_t to, bool blocked);

/* Route one message. Returns false if it does not arrive, else true with
 * the one-way delay in *delay_ms (>= 1). `datagram` messages can be lost. */
bool sim_net_route (sim_net_t *self, uint32_t from, uint32_t to, bool datagram, uint32_t *delay_ms);

/* One draw from the network's generator (uniform 64 bits). */
uint64_t sim_net_random (sim_net_t *self);

#endif
