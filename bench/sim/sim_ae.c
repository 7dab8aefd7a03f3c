/*
 * sim_ae.c - the replicated state stores of a simulated cluster and a model
 * of the links actor's anti-entropy (cluster/links.h, docs/state.md):
 *   every interval (+-25% jitter) a node sends DIGEST{reply} to one peer;
 *   the peer answers with the DELTA we lack and its own DIGEST; we answer
 *   that with our DELTA; a DELTA cut by the budget (`more`) gets a fresh
 *   DIGEST at once. Local writes go out as PUSH to every peer.
 * Messages go through the real codec (wire_encode / wire_decode), over the
 * simulated network as a reliable stream: delayed, never lost, but cut by a
 * partition (ZeroMQ would queue them and deliver after the heal; we drop
 * them, which only makes convergence after a heal look slower).
 *
 * Peers (cluster/links_peers.c since the bounded subset): every member is
 * in the directory, but rounds, local pushes and rumor re-pushes go to a
 * random subset of LINKS_SUBSET_BASE + ceil(log2 N) alive members (plus,
 * for pushes, the peers that linked to us in the last 120 s), re-drawn as
 * members fail and rotated one peer every 10 s. A PUSH that taught us
 * something is re-pushed once (rumor mongering). cfg.ae_all_peers gives
 * the earlier links: rounds with any alive member, PUSH to all, no rumor.
 * s_pick_peer and s_fanout are the only places that choose whom to talk
 * to.
 */
#include "bench/sim/sim_internal.h"

#include "cluster/links.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define S_INBOUND_TTL_MS 120000

static int64_t
s_clock (void *arg)
{
    return (int64_t) ((sim_cluster_t *) arg)->now;
}

int
sim__ae_init (sim_cluster_t *self)
{
    self->st_target = (uint64_t *) calloc (self->cfg.n, sizeof *self->st_target);
    if (!self->st_target)
        return -1;
    for (uint32_t i = 0; i < self->cfg.n; i++) {
        sim_node_t *node = &self->nodes[i];
        char err[200];
        node->state = state_new (swim_self (node->swim)->name, NULL, err, sizeof err);
        if (!node->state) {
            fprintf (stderr, "sim: state_new: %s\n", err);
            return -1;
        }
        state_set_clock (node->state, s_clock, self);
        node->links = (sim_links_t *) calloc (1, sizeof *node->links);
        if (!node->links)
            return -1;
        /* Rounds start spread over one interval, as independent processes. */
        sim__push (self, self->now + 1 + sim_random (self) % self->cfg.ae_interval_ms,
                   SIM_EV_AE_TICK, i, 0, NULL);
    }
    return 0;
}

void
sim__ae_fini (sim_cluster_t *self)
{
    if (self->nodes && self->st_target)
        for (uint32_t i = 0; i < self->cfg.n; i++) {
            state_destroy (&self->nodes[i].state);
            free (self->nodes[i].links);
            self->nodes[i].links = NULL;
        }
    free (self->st_target);
    self->st_target = NULL;
}

/* A uniformly random member `node` holds alive, or UINT32_MAX. Dead
 * members are few, so a handful of draws almost always lands. */
static uint32_t
s_random_alive (sim_cluster_t *self, sim_node_t *node)
{
    size_t n = swim_size (node->swim);
    for (int tries = 0; n > 1 && tries < 16; tries++) {
        size_t i = 1 + (size_t) (sim_random (self) % (n - 1));
        const swim_member_t *m = swim_member_at (node->swim, i);
        if (m && m->state == SWIM_ALIVE)
            return sim__id_of (self, m->name);
    }
    return UINT32_MAX;
}

static bool
s_alive_in (sim_node_t *node, uint32_t id)
{
    char name[16];
    snprintf (name, sizeof name, "n%05u", id);
    const swim_member_t *m = swim_lookup (node->swim, name);
    return m && m->state == SWIM_ALIVE;
}

static bool
s_linked (const sim_links_t *l, uint32_t id)
{
    for (uint32_t i = 0; i < l->nsubset; i++)
        if (l->subset[i] == id)
            return true;
    return false;
}

/* Keep the subset at its target: drop members no longer alive, draw new
 * ones, and every LINKS_ROTATE_DEFAULT swap one out. */
static void
s_subset_refresh (sim_cluster_t *self, sim_node_t *node)
{
    sim_links_t *l = node->links;
    size_t n = swim_count_state (node->swim, SWIM_ALIVE);
    n = n > 0 ? n - 1 : 0; /* others */
    size_t want = LINKS_SUBSET_BASE + (n > 1 ? (size_t) ceil (log2 ((double) n)) : 0);
    if (want > LINKS_SUBSET_MAX)
        want = LINKS_SUBSET_MAX;
    if (want > n)
        want = n;
    for (uint32_t i = 0; i < l->nsubset;)
        if (s_alive_in (node, l->subset[i]))
            i++;
        else
            l->subset[i] = l->subset[--l->nsubset];
    if (l->nsubset == want && want < n && self->now >= l->next_rotate) {
        l->subset[sim_random (self) % l->nsubset] = l->subset[l->nsubset - 1];
        l->nsubset--;
        l->next_rotate = self->now + LINKS_ROTATE_DEFAULT;
    }
    for (int tries = 0; l->nsubset < want && tries < 64; tries++) {
        uint32_t id = s_random_alive (self, node);
        if (id != UINT32_MAX && !s_linked (l, id))
            l->subset[l->nsubset++] = id;
    }
}

/* The anti-entropy partner for this round, or UINT32_MAX if it knows
 * nobody. */
static uint32_t
s_pick_peer (sim_cluster_t *self, sim_node_t *node)
{
    if (self->cfg.ae_all_peers)
        return s_random_alive (self, node);
    s_subset_refresh (self, node);
    sim_links_t *l = node->links;
    return l->nsubset ? l->subset[sim_random (self) % l->nsubset] : UINT32_MAX;
}

/* Where a push goes: every alive member (old links), or the subset plus
 * the peers linked to us lately; never back to `skip`. Fills to[], returns
 * the count. */
static size_t
s_fanout (sim_cluster_t *self, sim_node_t *node, uint32_t skip, uint32_t *to, size_t max)
{
    size_t k = 0;
    if (self->cfg.ae_all_peers) {
        size_t n = swim_size (node->swim);
        for (size_t m = 1; m < n && k < max; m++) {
            const swim_member_t *mem = swim_member_at (node->swim, m);
            uint32_t id =
                mem && mem->state == SWIM_ALIVE ? sim__id_of (self, mem->name) : UINT32_MAX;
            if (id != UINT32_MAX && id != skip)
                to[k++] = id;
        }
        return k;
    }
    sim_links_t *l = node->links;
    if (l->nsubset == 0)
        s_subset_refresh (self, node);
    for (uint32_t i = 0; i < l->nsubset && k < max; i++)
        if (l->subset[i] != skip)
            to[k++] = l->subset[i];
    for (uint32_t i = 0; i < l->ninbound && k < max;) {
        if (self->now - l->inbound_at[i] > S_INBOUND_TTL_MS) {
            l->inbound[i] = l->inbound[l->ninbound - 1];
            l->inbound_at[i] = l->inbound_at[--l->ninbound];
            continue;
        }
        if (l->inbound[i] != skip && !s_linked (l, l->inbound[i]))
            to[k++] = l->inbound[i];
        i++;
    }
    return k;
}

/* `from` sent us a round: it holds a link to us. */
static void
s_inbound (sim_node_t *node, uint32_t from, uint64_t now)
{
    sim_links_t *l = node->links;
    for (uint32_t i = 0; i < l->ninbound; i++)
        if (l->inbound[i] == from) {
            l->inbound_at[i] = now;
            return;
        }
    if (l->ninbound < SIM_INBOUND_MAX) {
        l->inbound[l->ninbound] = from;
        l->inbound_at[l->ninbound++] = now;
    }
}

/* One encoded message to each of to[0..n). */
static void
s_send_bytes (sim_cluster_t *self, uint32_t from, const uint32_t *to, size_t n, const uint8_t *buf,
              size_t len)
{
    for (size_t i = 0; i < n; i++) {
        uint32_t delay;
        self->cnt.ae_msgs++;
        self->cnt.ae_bytes += len;
        if (sim_net_route (self->net, from, to[i], false, &delay))
            sim__push (self, self->now + delay, SIM_EV_AE_MSG, to[i], 0, sim__pkt (from, buf, len));
    }
}

static void
s_send (sim_cluster_t *self, sim_node_t *node, uint32_t to, state_msg_t *msg)
{
    uint8_t *buf = NULL;
    size_t len = 0;
    if (wire_encode (&state_proto, msg, &buf, &len) != 0) {
        state_msg_free (msg);
        return;
    }
    state_msg_free (msg);
    self->cnt.ae_msgs++;
    self->cnt.ae_bytes += len;
    uint32_t delay;
    if (to != UINT32_MAX && sim_net_route (self->net, node->id, to, false, &delay))
        sim__push (self, self->now + delay, SIM_EV_AE_MSG, to, 0, sim__pkt (node->id, buf, len));
    free (buf);
}

static void
s_send_digest (sim_cluster_t *self, sim_node_t *node, uint32_t to, bool reply)
{
    state_msg_t msg;
    if (state_digest (node->state, reply, &msg) == 0)
        s_send (self, node, to, &msg);
}

void
sim__ae_tick (sim_cluster_t *self, sim_node_t *node)
{
    uint32_t peer = s_pick_peer (self, node);
    if (peer != UINT32_MAX)
        s_send_digest (self, node, peer, true);
    uint32_t iv = self->cfg.ae_interval_ms;
    uint64_t next = self->now + iv - iv / 4 + sim_random (self) % (iv / 2 + 1);
    sim__push (self, next, SIM_EV_AE_TICK, node->id, 0, NULL);
}

void
sim__ae_receive (sim_cluster_t *self, sim_node_t *node, const sim_pkt_t *pkt)
{
    state_msg_t msg;
    if (wire_decode (&state_proto, pkt->buf, pkt->len, &msg, NULL) != 0)
        return;
    switch (msg.hdr.type) {
    case STATE_DIGEST: {
        if (msg.u.state_digest.reply)
            s_inbound (node, pkt->from, self->now);
        state_msg_t delta;
        if (state_delta (node->state, &msg.u.state_digest, self->cfg.ae_budget, &delta) == 1)
            s_send (self, node, pkt->from, &delta);
        else
            state_msg_free (&delta);
        if (msg.u.state_digest.reply)
            s_send_digest (self, node, pkt->from, false);
        break;
    }
    case STATE_DELTA:
        state_apply (node->state, &msg);
        if (msg.u.state_delta.more)
            s_send_digest (self, node, pkt->from, false);
        break;
    case STATE_PUSH:
        /* Rumor mongering: what taught us something goes on, once. */
        if (state_apply (node->state, &msg) > 0 && !self->cfg.ae_all_peers) {
            uint32_t to[LINKS_SUBSET_MAX + SIM_INBOUND_MAX];
            size_t n = s_fanout (self, node, pkt->from, to, sizeof to / sizeof to[0]);
            s_send_bytes (self, node->id, to, n, pkt->buf, pkt->len);
        }
        break;
    default:
        break;
    }
    state_msg_free (&msg);
}

void
sim_state_write (sim_cluster_t *self, uint32_t id, const char *prefix, uint32_t count)
{
    sim_node_t *node = &self->nodes[id];
    if (!node->state || node->down)
        return;
    /* A REC_SHED-sized value: what a shed record carries is ~100 bytes. */
    uint8_t value[96];
    for (uint32_t i = 0; i < count; i++) {
        char key[64];
        snprintf (key, sizeof key, "%s-%u", prefix, i);
        memset (value, (int) (i + self->now), sizeof value);
        state_put (node->state, "shed", key, value, sizeof value);
    }
    self->st_target[id] = state_origin_max (node->state, swim_self (node->swim)->name);
    for (uint32_t i = 0; i < self->cfg.n; i++)
        self->nodes[i].st_cursor = 0; /* everyone must catch up again */
    /* The links actor pushes after each write; one PUSH carrying the batch
     * is the same records in fewer frames. */
    state_msg_t push;
    while (state_push (node->state, self->cfg.ae_budget, &push) == 1) {
        uint8_t *buf = NULL;
        size_t len = 0;
        int rc = wire_encode (&state_proto, &push, &buf, &len);
        state_msg_free (&push);
        if (rc != 0)
            break;
        uint32_t *to = (uint32_t *) malloc (self->cfg.n * sizeof *to);
        if (!to)
            abort ();
        size_t n = s_fanout (self, node, UINT32_MAX, to, self->cfg.n);
        s_send_bytes (self, id, to, n, buf, len);
        free (to);
        free (buf);
    }
}

bool
sim_state_converged (sim_cluster_t *self)
{
    if (!self->st_target)
        return true;
    for (uint32_t i = 0; i < self->cfg.n; i++) {
        sim_node_t *node = &self->nodes[i];
        if (node->down)
            continue;
        /* Origins below the cursor were up to date when last checked and
         * only move forward while no one writes. */
        while (node->st_cursor < self->cfg.n) {
            uint32_t o = node->st_cursor;
            if (!self->nodes[o].down && o != i) {
                uint64_t have =
                    state_origin_max (node->state, swim_self (self->nodes[o].swim)->name);
                if (have < self->st_target[o])
                    return false;
            }
            node->st_cursor++;
        }
    }
    return true;
}

size_t
sim_state_records (sim_cluster_t *self, uint32_t node)
{
    return self->nodes[node].state ? state_count (self->nodes[node].state, NULL, NULL) : 0;
}
