/*
 * swim_index.c - what the core keeps beside its member table so that no
 * per-packet path walks every member: the name index, the per-state
 * counts and the repair digest's sums (and what is derived from them:
 * retransmit limit, suspicion bounds), the suspects with their earliest
 * deadline, and the cached gossip targets. swim_members.c changes the
 * table and calls in here at every add, remove and state change.
 */
#include "cluster/swim_internal.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

static uint32_t
s_name_hash (const char *name)
{
    /* FNV-1a, 32 bits */
    uint32_t h = 2166136261u;
    for (const unsigned char *p = (const unsigned char *) name; *p; p++)
        h = (h ^ *p) * 16777619u;
    return h;
}

/* Home slot of a hash (FNV's low bits mixed with its high ones). */
static size_t
s_home (const swim_t *self, uint32_t h)
{
    return (size_t) (h ^ (h >> 16)) & (self->index_cap - 1);
}

swim_node_t *
swim__lookup (swim_t *self, const char *name)
{
    if (self->index_cap == 0)
        return NULL;
    uint32_t h = s_name_hash (name);
    size_t mask = self->index_cap - 1;
    for (size_t i = s_home (self, h);; i = (i + 1) & mask) {
        swim_node_t *node = self->index[i];
        if (!node)
            return NULL;
        if (node->hash == h && strcmp (node->pub.name, name) == 0)
            return node;
    }
}

int
swim__index_reserve (swim_t *self, size_t n)
{
    size_t cap = self->index_cap ? self->index_cap : 16;
    while (cap < 2 * n)
        cap *= 2;
    if (cap == self->index_cap)
        return 0;
    swim_node_t **old = self->index;
    size_t old_cap = self->index_cap;
    self->index = (swim_node_t **) calloc (cap, sizeof *self->index);
    if (!self->index) {
        self->index = old;
        return -1;
    }
    self->index_cap = cap;
    for (size_t i = 0; i < old_cap; i++)
        if (old[i]) {
            size_t j = s_home (self, old[i]->hash);
            while (self->index[j])
                j = (j + 1) & (cap - 1);
            self->index[j] = old[i];
        }
    free (old);
    return 0;
}

void
swim__node_name (swim_node_t *node, const char *name)
{
    snprintf (node->pub.name, sizeof node->pub.name, "%s", name);
    node->hash = s_name_hash (node->pub.name);
}

void
swim__index_put (swim_t *self, swim_node_t *node)
{
    size_t mask = self->index_cap - 1;
    size_t i = s_home (self, node->hash);
    while (self->index[i])
        i = (i + 1) & mask;
    self->index[i] = node;
}

/* Take `node` out of the index; the entries after it in its run move back
 * (backward-shift deletion: no tombstones). */
void
swim__index_del (swim_t *self, swim_node_t *node)
{
    size_t mask = self->index_cap - 1;
    size_t hole = s_home (self, node->hash);
    while (self->index[hole] != node) {
        if (!self->index[hole])
            return; /* not indexed */
        hole = (hole + 1) & mask;
    }
    self->index[hole] = NULL;
    for (size_t k = (hole + 1) & mask; self->index[k]; k = (k + 1) & mask) {
        size_t home = s_home (self, self->index[k]->hash);
        /* it may fill the hole if the hole lies between its home and k */
        if (((hole - home) & mask) < ((k - home) & mask)) {
            self->index[hole] = self->index[k];
            self->index[k] = NULL;
            hole = k;
        }
    }
}

static bool
s_live (int state)
{
    return state == SWIM_ALIVE || state == SWIM_SUSPECT;
}

uint32_t
swim__digest_weight (const char *name)
{
    /* FNV-1a (32 bits) of the name, low 8 bits, plus 1: part of the wire
     * format (every node must weigh a member alike). */
    return (s_name_hash (name) & 0xff) + 1;
}

/* A member's share of the digest sums: the weight from the hash its
 * entry keeps (swim__digest_weight of its name, without hashing the name
 * at every state change). */
static uint32_t
s_share (const swim_node_t *node, uint64_t inc)
{
    return ((node->hash & 0xff) + 1) * (uint32_t) (inc + 1);
}

/* Whether the cached gossip targets (swim__gossip_cands) stay what a
 * rebuild would give when `node` moves from state `from` to `to` (-1: new
 * or gone), its state_since_ms not yet updated; a new member is added to
 * them here. Every state change, add and remove comes through here. The
 * targets are the alive, the suspect and the recently dead, in member
 * order. A rebuild walks every member, and each death or return of a
 * member made every node rebuild (N^2 per death: with slow members, and
 * in a cold start with every join, 3% of a 300-node simulation). */
static bool
s_cands_keep (swim_t *self, int from, int to, swim_node_t *node)
{
    if (!self->cands_valid || (s_live (from) && s_live (to)))
        return true; /* alive <-> suspect: targets either way */
    uint64_t to_dead = self->cfg.gossip_to_dead_ms;
    if (from == -1 && s_live (to) && node != self->nodes[0]
        && self->nodes[self->nnodes - 1] == node) {
        /* A new member is the last in member order. */
        if (self->ncands == self->capcands) {
            size_t cap = self->capcands ? self->capcands * 2 : 32;
            swim_node_t **cands = (swim_node_t **) realloc (self->cands, cap * sizeof *cands);
            if (!cands)
                return false;
            self->cands = cands;
            self->capcands = cap;
        }
        self->cands[self->ncands++] = node;
        return true;
    }
    if (s_live (from) && to == SWIM_DEAD && to_dead > 0) {
        /* Still a target, as recently dead, until to_dead from now (or a
         * little later: its state_since_ms is taken after this). */
        uint64_t until = swim__now (self) + to_dead;
        if (until < self->cands_until)
            self->cands_until = until;
        return true;
    }
    if (from == SWIM_DEAD && s_live (to))
        /* Back from a recent death: it was a target and stays one. */
        return swim__now (self) - node->pub.state_since_ms < to_dead;
    return false;
}

void
swim__count_state (swim_t *self, int from, int to, swim_node_t *node)
{
    if (!s_cands_keep (self, from, to, node))
        self->cands_valid = false;
    size_t max = sizeof self->nstate / sizeof self->nstate[0];
    uint32_t w = s_share (node, node->pub.incarnation);
    if (from >= 0 && (size_t) from < max && self->nstate[from] > 0) {
        self->nstate[from]--;
        self->dig_all -= w;
        if (s_live (from))
            self->dig_live -= w;
    }
    if (to >= 0 && (size_t) to < max) {
        self->nstate[to]++;
        self->dig_all += w;
        if (s_live (to))
            self->dig_live += w;
    }
}

void
swim__set_inc (swim_t *self, swim_node_t *node, uint64_t inc)
{
    uint32_t d = s_share (node, inc) - s_share (node, node->pub.incarnation);
    self->dig_all += d;
    if (s_live ((int) node->pub.state))
        self->dig_live += d;
    node->pub.incarnation = inc;
}

void
swim__digest_scan (swim_t *self, uint32_t *all, uint32_t *live)
{
    *all = *live = 0;
    for (size_t i = 0; i < self->nnodes; i++) {
        const swim_member_t *m = &self->nodes[i]->pub;
        uint32_t share = swim__digest_weight (m->name) * (uint32_t) (m->incarnation + 1);
        *all += share;
        if (s_live ((int) m->state))
            *live += share;
    }
}

uint64_t
swim__digest (swim_t *self)
{
    return (uint64_t) (uint32_t) (self->dig_all - self->dig_live) << 32 | self->dig_all;
}

bool
swim__behind (swim_t *self, uint64_t known, uint64_t digest)
{
    if (digest == 0) /* a sender without the field: the alive-count rule */
        return known > swim__alive_count (self);
    /* Serial-number comparison (RFC 1982) of both sums: the sender is
     * ahead on dig_all (it holds a member or an incarnation we lack, or we
     * reaped first) and on dig_live (the same, or we heard of a death or a
     * leave first). Only a join or a refutation we missed puts it ahead on
     * both; a suspicion moves neither sum. */
    uint32_t all = (uint32_t) digest;
    uint32_t live = all - (uint32_t) (digest >> 32);
    return (int32_t) (all - self->dig_all) > 0 && (int32_t) (live - self->dig_live) > 0;
}

swim_suspicion_t *
swim__suspect_on (swim_t *self, swim_node_t *node)
{
    if (node->suspicion) {
        /* The caller restarts it: its deadline may move later. */
        self->susp_due_stale = true;
        return node->suspicion;
    }
    if (self->nsuspects == self->capsuspects) {
        size_t cap = self->capsuspects ? self->capsuspects * 2 : 16;
        swim_node_t **list = (swim_node_t **) realloc (self->suspects, cap * sizeof *list);
        if (!list)
            return NULL;
        self->suspects = list;
        self->capsuspects = cap;
    }
    node->suspicion = (swim_suspicion_t *) calloc (1, sizeof *node->suspicion);
    if (!node->suspicion)
        return NULL;
    self->suspects[self->nsuspects++] = node;
    return node->suspicion;
}

void
swim__suspect_off (swim_t *self, swim_node_t *node)
{
    if (!node->suspicion)
        return;
    for (size_t i = 0; i < self->nsuspects; i++)
        if (self->suspects[i] == node) {
            self->suspects[i] = self->suspects[--self->nsuspects];
            break;
        }
    /* Ending the earliest suspicion leaves a lower bound behind. */
    if (self->nsuspects == 0) {
        self->susp_due_ms = UINT64_MAX;
        self->susp_due_stale = false;
    }
    else if (swim__suspicion_deadline (node->suspicion) <= self->susp_due_ms)
        self->susp_due_stale = true;
    free (node->suspicion);
    node->suspicion = NULL;
}

void
swim__suspect_armed (swim_t *self, swim_node_t *node)
{
    /* Below the cached value, exact or a lower bound, it is the earliest
     * of all: the cache is exact again. */
    uint64_t d = swim__suspicion_deadline (node->suspicion);
    if (d < self->susp_due_ms) {
        self->susp_due_ms = d;
        self->susp_due_stale = false;
    }
}

uint64_t
swim__suspect_due (swim_t *self)
{
    if (self->susp_due_stale) {
        uint64_t due = UINT64_MAX;
        for (size_t i = 0; i < self->nsuspects; i++) {
            uint64_t d = swim__suspicion_deadline (self->suspects[i]->suspicion);
            if (d < due)
                due = d;
        }
        self->susp_due_ms = due;
        self->susp_due_stale = false;
    }
#ifndef NDEBUG
    /* The sanitizer and fuzz builds check the cache against a walk. */
    uint64_t min = UINT64_MAX;
    for (size_t i = 0; i < self->nsuspects; i++) {
        uint64_t d = swim__suspicion_deadline (self->suspects[i]->suspicion);
        if (d < min)
            min = d;
    }
    assert (min == self->susp_due_ms);
#endif
    return self->susp_due_ms;
}

/* The gossip targets in member order: alive, suspect and the recently
 * dead. The list changes only with a state change, add or remove (they
 * clear cands_valid) or when a dead member ages out, so it is rebuilt then
 * and not on every gossip tick. */
static void s_check_cands (swim_t *self, uint64_t now);

bool
swim__gossip_cands (swim_t *self, uint64_t now)
{
    if (self->cands_valid && now < self->cands_until) {
        s_check_cands (self, now);
        return true;
    }
    if (self->capcands < self->nnodes) {
        swim_node_t **cands = (swim_node_t **) realloc (self->cands, self->nnodes * sizeof *cands);
        if (!cands)
            return false;
        self->cands = cands;
        self->capcands = self->nnodes;
    }
    self->ncands = 0;
    self->cands_until = UINT64_MAX;
    for (size_t i = 1; i < self->nnodes; i++) {
        swim_member_t *m = &self->nodes[i]->pub;
        /* The recently dead are included: if they were wrongly declared,
         * this is how they learn it and refute. */
        bool dead_recent = false;
        if (m->state == SWIM_DEAD && now - m->state_since_ms < self->cfg.gossip_to_dead_ms) {
            dead_recent = true;
            uint64_t until = m->state_since_ms + self->cfg.gossip_to_dead_ms;
            if (until < self->cands_until)
                self->cands_until = until;
        }
        if (m->state == SWIM_ALIVE || m->state == SWIM_SUSPECT || dead_recent)
            self->cands[self->ncands++] = self->nodes[i];
    }
    self->cands_valid = true;
    return true;
}

/* With assertions on (the sanitizer and fuzz builds), check the cached
 * gossip targets against what a rebuild would give. */
static void
s_check_cands (swim_t *self, uint64_t now)
{
#ifndef NDEBUG
    size_t n = 0;
    for (size_t i = 1; i < self->nnodes; i++) {
        const swim_member_t *m = &self->nodes[i]->pub;
        if (m->state == SWIM_ALIVE || m->state == SWIM_SUSPECT
            || (m->state == SWIM_DEAD && now - m->state_since_ms < self->cfg.gossip_to_dead_ms)) {
            assert (n < self->ncands && self->cands[n] == self->nodes[i]);
            n++;
        }
    }
    assert (n == self->ncands);
#else
    (void) self;
    (void) now;
#endif
}

/* With assertions on (the sanitizer and fuzz builds), check the counts
 * against a scan, so a state write that bypasses swim__count_state shows
 * up in the tests rather than as a slowly wrong retransmit limit. */
static void
s_check_counts (swim_t *self)
{
#ifndef NDEBUG
    size_t alive = 0, suspect = 0;
    uint32_t all = 0, live = 0;
    for (size_t i = 0; i < self->nnodes; i++) {
        const swim_member_t *m = &self->nodes[i]->pub;
        alive += m->state == SWIM_ALIVE;
        suspect += m->state == SWIM_SUSPECT;
    }
    swim__digest_scan (self, &all, &live); /* from the names, not the stored hashes */
    assert (alive == self->nstate[SWIM_ALIVE]);
    assert (suspect == self->nstate[SWIM_SUSPECT]);
    assert (all == self->dig_all);
    assert (live == self->dig_live);
    for (size_t i = 0; i < self->nnodes; i++)
        assert (swim__lookup (self, self->nodes[i]->pub.name) == self->nodes[i]);
    assert (self->nsuspects <= suspect);
#else
    (void) self;
#endif
}

size_t
swim__live_count (swim_t *self)
{
    s_check_counts (self);
    return self->nstate[SWIM_ALIVE] + self->nstate[SWIM_SUSPECT];
}

size_t
swim__alive_count (swim_t *self)
{
    s_check_counts (self);
    return self->nstate[SWIM_ALIVE];
}

uint32_t
swim__retransmit_limit (swim_t *self)
{
    double n = (double) swim__live_count (self);
    uint32_t scale = (uint32_t) ceil (log10 (n + 1.0));
    if (scale < 1)
        scale = 1;
    return self->cfg.retransmit_mult * scale;
}

void
swim__suspicion_bounds (swim_t *self, uint64_t *min_ms, uint64_t *max_ms)
{
    double n = (double) swim__live_count (self);
    double scale = n > 10.0 ? log10 (n) : 1.0;
    double min = self->cfg.suspicion_mult * scale * (double) self->cfg.probe_interval_ms;
    *min_ms = (uint64_t) min;
    *max_ms = (uint64_t) (self->cfg.suspicion_max_mult * min);
}
