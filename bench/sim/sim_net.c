/*
 * sim_net.c - latency, loss, partitions and one-way blocks (see sim_net.h).
 */
#include "bench/sim/sim_net.h"

#include <stdlib.h>
#include <string.h>

#define S_BLOCKS_MAX 64 /* one-way blocks at a time: scenarios use a few */

struct _sim_net_t {
    uint32_t n;
    sim_net_config_t cfg;
    uint64_t rng;
    uint64_t link_salt;
    uint8_t *groups; /* NULL: no partition */
    struct {
        uint32_t from, to;
    } blocks[S_BLOCKS_MAX];
    size_t nblocks;
};

static uint64_t
s_mix (uint64_t x)
{
    /* splitmix64 finaliser: a cheap, well-spread hash of the link */
    x += 0x9E3779B97F4A7C15ull;
    x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ull;
    x = (x ^ (x >> 27)) * 0x94D049BB133111EBull;
    return x ^ (x >> 31);
}

uint64_t
sim_net_random (sim_net_t *self)
{
    /* xorshift64* */
    self->rng ^= self->rng >> 12;
    self->rng ^= self->rng << 25;
    self->rng ^= self->rng >> 27;
    return self->rng * 2685821657736338717ull;
}

sim_net_t *
sim_net_new (uint32_t n, const sim_net_config_t *config, uint64_t seed)
{
    sim_net_t *self = (sim_net_t *) calloc (1, sizeof *self);
    if (!self)
        return NULL;
    self->n = n;
    self->cfg = *config;
    if (self->cfg.lat_max_ms < self->cfg.lat_min_ms)
        self->cfg.lat_max_ms = self->cfg.lat_min_ms;
    self->rng = s_mix (seed ^ 0x6e6574ull) | 1;
    self->link_salt = s_mix (seed + 7);
    return self;
}

void
sim_net_destroy (sim_net_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    free ((*self_p)->groups);
    free (*self_p);
    *self_p = NULL;
}

void
sim_net_set_loss (sim_net_t *self, double loss)
{
    self->cfg.loss = loss;
}

void
sim_net_partition (sim_net_t *self, const uint8_t *groups)
{
    free (self->groups);
    self->groups = NULL;
    if (groups) {
        self->groups = (uint8_t *) malloc (self->n);
        if (!self->groups)
            abort ();
        memcpy (self->groups, groups, self->n);
    }
}

void
sim_net_block (sim_net_t *self, uint32_t from, uint32_t to, bool blocked)
{
    for (size_t i = 0; i < self->nblocks; i++)
        if (self->blocks[i].from == from && self->blocks[i].to == to) {
            if (!blocked)
                self->blocks[i] = self->blocks[--self->nblocks];
            return;
        }
    if (blocked && self->nblocks < S_BLOCKS_MAX) {
        self->blocks[self->nblocks].from = from;
        self->blocks[self->nblocks].to = to;
        self->nblocks++;
    }
}

bool
sim_net_route (sim_net_t *self, uint32_t from, uint32_t to, bool datagram, uint32_t *delay_ms)
{
    if (from >= self->n || to >= self->n)
        return false;
    if (self->groups && self->groups[from] != self->groups[to])
        return false;
    for (size_t i = 0; i < self->nblocks; i++)
        if (self->blocks[i].from == from && self->blocks[i].to == to)
            return false;
    if (datagram && self->cfg.loss > 0
        && (double) (sim_net_random (self) >> 11) * 0x1.0p-53 < self->cfg.loss)
        return false;
    uint32_t span = self->cfg.lat_max_ms - self->cfg.lat_min_ms + 1;
    uint64_t link = s_mix (self->link_salt ^ (((uint64_t) from << 32) | to));
    uint32_t delay = self->cfg.lat_min_ms + (uint32_t) (link % span);
    if (self->cfg.jitter_ms)
        delay += (uint32_t) (sim_net_random (self) % (self->cfg.jitter_ms + 1));
    *delay_ms = delay ? delay : 1;
    return true;
}
