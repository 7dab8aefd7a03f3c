/*
 * swim_probe.c - probing: a shuffled round-robin over the members, PING,
 * then PING_REQ through k members, then suspicion and the awareness
 * score (swim_tick runs the three steps when they are due).
 */
#include "cluster/swim_internal.h"

#include <stdlib.h>
#include <string.h>

/* ---- Probing ---------------------------------------------------------------- */

static void
s_shuffle_order (swim_t *self)
{
    if (self->caporder < self->nnodes) {
        swim_node_t **order = (swim_node_t **) realloc (self->order, self->nnodes * sizeof *order);
        if (!order)
            return;
        self->order = order;
        self->caporder = self->nnodes;
    }
    self->norder = 0;
    for (size_t i = 1; i < self->nnodes; i++)
        self->order[self->norder++] = self->nodes[i];
    for (size_t i = self->norder; i > 1; i--) {
        size_t j = swim__rand (self, (uint32_t) i);
        swim_node_t *t = self->order[i - 1];
        self->order[i - 1] = self->order[j];
        self->order[j] = t;
    }
    self->order_idx = 0;
}

static swim_node_t *
s_next_target (swim_t *self)
{
    for (size_t tries = 0; tries < 2 * self->nnodes + 2; tries++) {
        if (self->order_idx >= self->norder) {
            s_shuffle_order (self);
            if (self->norder == 0)
                return NULL;
        }
        swim_node_t *cand = self->order[self->order_idx++];
        if (cand && (cand->pub.state == SWIM_ALIVE || cand->pub.state == SWIM_SUSPECT))
            return cand;
    }
    return NULL;
}

void
swim__probe_start (swim_t *self, uint64_t now)
{
    uint64_t interval = swim__awareness_scale (&self->awareness, self->cfg.probe_interval_ms);
    self->probe_next_ms = now + interval;
    swim_node_t *target = s_next_target (self);
    if (!target)
        return;
    memset (&self->probe, 0, sizeof self->probe);
    self->probe.active = true;
    self->probe.seq = ++self->seq;
    memcpy (self->probe.target, target->pub.name, sizeof self->probe.target);
    self->probe.timeout_at =
        now + swim__awareness_scale (&self->awareness, self->cfg.probe_timeout_ms);
    self->probe.end_at = now + interval;
    self->stats.probes++;
    /* Buddy system: probing a suspect carries its suspicion first. */
    swim__send_ping (self, &target->pub, self->probe.seq,
                     target->pub.state == SWIM_SUSPECT ? target->pub.name : NULL);
}

void
swim__probe_indirect (swim_t *self)
{
    self->probe.indirect_sent = true;
    swim_node_t *target = swim__lookup (self, self->probe.target);
    if (!target)
        return;
    swim_node_t **cands = (swim_node_t **) malloc (self->nnodes * sizeof *cands);
    if (!cands)
        return;
    size_t n = 0;
    for (size_t i = 1; i < self->nnodes; i++)
        if (self->nodes[i] != target && self->nodes[i]->pub.state == SWIM_ALIVE)
            cands[n++] = self->nodes[i];
    size_t k = n < self->cfg.indirect_checks ? n : self->cfg.indirect_checks;
    for (size_t i = 0; i < k; i++) {
        size_t j = i + swim__rand (self, (uint32_t) (n - i));
        swim_node_t *relay = cands[j];
        cands[j] = cands[i];
        gossip_msg_t msg;
        memset (&msg, 0, sizeof msg);
        msg.hdr.type = GOSSIP_PING_REQ;
        gossip_ping_req_t *req = &msg.u.gossip_ping_req;
        req->seq = self->probe.seq;
        memcpy (req->from, self->nodes[0]->pub.name, sizeof req->from);
        memcpy (req->target, target->pub.name, sizeof req->target);
        memcpy (req->taddr, target->pub.addr, sizeof req->taddr);
        req->tport = target->pub.port;
        self->stats.ping_reqs_sent++;
        swim__send_msg (self, relay->pub.addr, relay->pub.port, &msg,
                        (swim_updates_t *) &req->updates,
                        target->pub.state == SWIM_SUSPECT ? target->pub.name : NULL);
    }
    self->probe.expected_nacks = (uint32_t) k;
    free (cands);
}

void
swim__probe_end (swim_t *self)
{
    self->probe.active = false;
    if (self->probe.acked)
        return;
    self->stats.probe_failures++;
    /* Lifeguard: relays that could not reach the target say so (nack). If
     * those nacks are missing too, the trouble is more likely on our side. */
    int delta = 0;
    if (self->probe.expected_nacks > 0) {
        if (self->probe.nacks < self->probe.expected_nacks)
            delta = (int) (self->probe.expected_nacks - self->probe.nacks);
    }
    else
        delta = 1;
    swim__awareness_apply (&self->awareness, delta);

    swim_node_t *target = swim__lookup (self, self->probe.target);
    if (!target || (target->pub.state != SWIM_ALIVE && target->pub.state != SWIM_SUSPECT))
        return;
    gossip_update_t u;
    memset (&u, 0, sizeof u);
    u.kind = SWIM_UPD_SUSPECT;
    memcpy (u.name, target->pub.name, sizeof u.name);
    u.inc = target->pub.incarnation;
    memcpy (u.from, self->nodes[0]->pub.name, sizeof u.from);
    swim__apply (self, &u);
}
