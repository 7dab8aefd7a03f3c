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
 * Peers: the links actor's peers are the members membership holds alive.
 * s_pick_peer is the one place that chooses whom to talk to, so a
 * different policy (a bounded subset plus re-pushing fresh rumours) can be
 * tried by changing this function alone.
 */
#include "bench/sim/sim_internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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
        sim_node_t *node = &self->nodes [i];
        char err [200];
        node->state = state_new (swim_self (node->swim)->name, NULL, err, sizeof err);
        if (!node->state) {
            fprintf (stderr, "sim: state_new: %s\n", err);
            return -1;
        }
        state_set_clock (node->state, s_clock, self);
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
        for (uint32_t i = 0; i < self->cfg.n; i++)
            state_destroy (&self->nodes [i].state);
    free (self->st_target);
    self->st_target = NULL;
}

/* The anti-entropy partner for this round: a uniformly random member the
 * node's membership view holds alive (the links actor's peer list), or
 * UINT32_MAX if it knows nobody. */
static uint32_t
s_pick_peer (sim_cluster_t *self, sim_node_t *node)
{
    size_t n = swim_size (node->swim);
    if (n < 2)
        return UINT32_MAX;
    /* Rejection sampling: dead members are few, so a handful of draws
     * almost always lands on a live one. */
    for (int tries = 0; tries < 16; tries++) {
        size_t i = 1 + (size_t) (sim_random (self) % (n - 1));
        const swim_member_t *m = swim_member_at (node->swim, i);
        if (m && m->state == SWIM_ALIVE)
            return sim__id_of (self, m->name);
    }
    return UINT32_MAX;
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
            state_apply (node->state, &msg);
            break;
        default:
            break;
    }
    state_msg_free (&msg);
}

void
sim_state_write (sim_cluster_t *self, uint32_t id, const char *prefix, uint32_t count)
{
    sim_node_t *node = &self->nodes [id];
    if (!node->state || node->down)
        return;
    /* A REC_SHED-sized value: what a shed record carries is ~100 bytes. */
    uint8_t value [96];
    for (uint32_t i = 0; i < count; i++) {
        char key [64];
        snprintf (key, sizeof key, "%s-%u", prefix, i);
        memset (value, (int) (i + self->now), sizeof value);
        state_put (node->state, "shed", key, value, sizeof value);
    }
    self->st_target [id] = state_origin_max (node->state, swim_self (node->swim)->name);
    for (uint32_t i = 0; i < self->cfg.n; i++)
        self->nodes [i].st_cursor = 0;     /* everyone must catch up again */
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
        size_t n = swim_size (node->swim);
        for (size_t m = 1; m < n; m++) {
            const swim_member_t *mem = swim_member_at (node->swim, m);
            uint32_t to = mem && mem->state == SWIM_ALIVE ? sim__id_of (self, mem->name)
                                                          : UINT32_MAX;
            uint32_t delay;
            self->cnt.ae_msgs++;
            self->cnt.ae_bytes += len;
            if (to != UINT32_MAX && sim_net_route (self->net, id, to, false, &delay))
                sim__push (self, self->now + delay, SIM_EV_AE_MSG, to, 0, sim__pkt (id, buf, len));
        }
        free (buf);
    }
}

bool
sim_state_converged (sim_cluster_t *self)
{
    if (!self->st_target)
        return true;
    for (uint32_t i = 0; i < self->cfg.n; i++) {
        sim_node_t *node = &self->nodes [i];
        if (node->down)
            continue;
        /* Origins below the cursor were up to date when last checked and
         * only move forward while no one writes. */
        while (node->st_cursor < self->cfg.n) {
            uint32_t o = node->st_cursor;
            if (!self->nodes [o].down && o != i) {
                uint64_t have = state_origin_max (node->state, swim_self (self->nodes [o].swim)->name);
                if (have < self->st_target [o])
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
    return self->nodes [node].state ? state_count (self->nodes [node].state, NULL, NULL) : 0;
}
