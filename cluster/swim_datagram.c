/*
 * swim_datagram.c - the membership core's datagrams: sending (PING, ACK,
 * NACK, the gossip round), decoding every input, and receiving (the
 * updates they carry, acks for our probe, relayed pings, the repair
 * digest).
 */
#include "cluster/swim_internal.h"

#include <stdlib.h>
#include <string.h>

#define SWIM_DROP_SEMANTIC (-100)

/* ---- Sending -------------------------------------------------------------- */

void
swim__send_msg (swim_t *self, const char *addr, uint16_t port, gossip_msg_t *msg,
                swim_updates_t *updates, const char *buddy)
{
    uint8_t buf[SWIM_PACKET_MAX];
    size_t len = 0;
    gossip_update_t items[SWIM_MAX_UPDATES];
    if (updates) {
        updates->n = 0;
        updates->items = NULL;
        size_t base = 0;
        if (wire_encode_into (&gossip_proto, msg, buf, self->cfg.packet_max, &base) == 0
            && base + 8 < self->cfg.packet_max) {
            /* 3 bytes for the list header growing from fixarray to array16 */
            size_t budget = self->cfg.packet_max - base - 3;
            updates->n = swim__bqueue_take (&self->bq, buddy, budget, swim__retransmit_limit (self),
                                            items, SWIM_MAX_UPDATES, &self->stats.bcast_dropped);
            updates->items = items;
        }
    }
    int rc;
    while ((rc = wire_encode_into (&gossip_proto, msg, buf, self->cfg.packet_max, &len))
               == WIRE_ERR_TOO_BIG
           && updates && updates->n > 0)
        updates->n--; /* size estimate was off: shed updates, never the message */
    if (rc != WIRE_OK)
        return;
    self->stats.packets_sent++;
    self->env.send (self->env.ctx, addr, port, buf, len);
}

void
swim__send_ack (swim_t *self, const char *addr, uint16_t port, uint64_t seq, bool nack)
{
    gossip_msg_t msg;
    memset (&msg, 0, sizeof msg);
    msg.hdr.type = nack ? GOSSIP_NACK : GOSSIP_ACK;
    /* NACK has ACK's fields (same X-macro), hence the same layout. */
    gossip_ack_t *ack = nack ? (gossip_ack_t *) &msg.u.gossip_nack : &msg.u.gossip_ack;
    ack->seq = seq;
    ack->known = swim__alive_count (self);
    ack->digest = swim__digest (self);
    memcpy (ack->from, self->nodes[0]->pub.name, sizeof ack->from);
    if (nack)
        self->stats.nacks_sent++;
    else
        self->stats.acks_sent++;
    swim__send_msg (self, addr, port, &msg, (swim_updates_t *) &ack->updates, NULL);
}

void
swim__send_ping (swim_t *self, const swim_member_t *target, uint64_t seq, const char *buddy)
{
    gossip_msg_t msg;
    memset (&msg, 0, sizeof msg);
    msg.hdr.type = GOSSIP_PING;
    msg.u.gossip_ping.seq = seq;
    msg.u.gossip_ping.known = swim__alive_count (self);
    msg.u.gossip_ping.digest = swim__digest (self);
    memcpy (msg.u.gossip_ping.from, self->nodes[0]->pub.name, sizeof msg.u.gossip_ping.from);
    memcpy (msg.u.gossip_ping.target, target->name, sizeof msg.u.gossip_ping.target);
    self->stats.pings_sent++;
    swim__send_msg (self, target->addr, target->port, &msg,
                    (swim_updates_t *) &msg.u.gossip_ping.updates, buddy);
}

/* One gossip round: GOSSIP to `gossip_nodes` random members with what the
 * queue holds; `closing`: the round after the queue ran dry, sent with no
 * updates at all (see swim_tick). */
void
swim__gossip (swim_t *self, uint64_t now, bool closing)
{
    if (!swim__gossip_cands (self, now))
        return;
    swim_node_t **cands = self->cands;
    size_t n = self->ncands;
    size_t k = n < self->cfg.gossip_nodes ? n : self->cfg.gossip_nodes;
    /* A partial Fisher-Yates over the cached list, undone afterwards so the
     * list keeps member order (and the draws stay what they were). */
    size_t swapped[16];
    if (k > sizeof swapped / sizeof swapped[0])
        k = sizeof swapped / sizeof swapped[0];
    size_t nswapped = 0;
    for (size_t i = 0; i < k; i++) {
        size_t j = i + swim__rand (self, (uint32_t) (n - i));
        swim_node_t *to = cands[j];
        cands[j] = cands[i];
        cands[i] = to;
        swapped[nswapped++] = j;
        if (!closing && swim__bqueue_pending (&self->bq, swim__retransmit_limit (self)) == 0)
            break;
        gossip_msg_t msg;
        memset (&msg, 0, sizeof msg);
        msg.hdr.type = GOSSIP_GOSSIP;
        msg.u.gossip_gossip.known = swim__alive_count (self);
        msg.u.gossip_gossip.digest = swim__digest (self);
        memcpy (msg.u.gossip_gossip.from, self->nodes[0]->pub.name,
                sizeof msg.u.gossip_gossip.from);
        self->stats.gossip_sent++;
        swim__send_msg (self, to->pub.addr, to->pub.port, &msg,
                        (swim_updates_t *) &msg.u.gossip_gossip.updates, NULL);
    }
    while (nswapped > 0) {
        size_t i = --nswapped, j = swapped[i];
        swim_node_t *t = cands[i];
        cands[i] = cands[j];
        cands[j] = t;
    }
}

/* ---- Receiving ------------------------------------------------------------ */

/* Does `type` arrive this way: a datagram, or a stream's PUSH_PULL? */
static bool
s_type_fits (uint16_t type, bool stream)
{
    return stream ? type == GOSSIP_PUSH_PULL : GOSSIP_IS_DATAGRAM (type);
}

/* Decode one datagram or stream message into *msg (freed by the caller on
 * WIRE_OK), counting a drop otherwise. Decoded once: wire_decode checks
 * the envelope itself, and a wire_peek before it scanned every input
 * twice. A message of the wrong type is misdirected whether or not its
 * body decodes (the peek, run only when the decode failed, tells), as
 * when the peek came first. */
int
swim__decode (swim_t *self, const uint8_t *buf, size_t len, gossip_msg_t *msg, bool stream)
{
    int rc = wire_decode (&gossip_proto, buf, len, msg, NULL);
    if (rc == WIRE_OK && !s_type_fits (msg->hdr.type, stream)) {
        wire_msg_free (&gossip_proto, msg);
        self->stats.drop_misdirected++;
        return WIRE_ERR_TYPE;
    }
    if (rc == WIRE_OK)
        return WIRE_OK;
    wire_hdr_t hdr;
    if (wire_peek (&gossip_proto, buf, len, &hdr) == WIRE_OK && !s_type_fits (hdr.type, stream)) {
        self->stats.drop_misdirected++;
        return WIRE_ERR_TYPE;
    }
    if (rc == WIRE_ERR_VERSION)
        self->stats.drop_version++;
    else if (rc == WIRE_ERR_INVALID)
        self->stats.drop_invalid++;
    else
        self->stats.drop_decode++;
    return rc;
}

static void
s_apply_all (swim_t *self, const gossip_update_t *items, size_t n)
{
    for (size_t i = 0; i < n; i++)
        swim__apply (self, &items[i]);
}

/* The sender holds a member or an incarnation we do not (its digest is
 * ahead of ours, swim__behind): we missed a broadcast, a join or the
 * refutation of a suspicion we still hold. Repair with a push-pull to the
 * sender, at most once per sync gap. A suspicion in progress or a death
 * does not count: with the alive count alone (`known`, what senders
 * without a digest still get judged by), every suspicion made its holder
 * behind everyone else for seconds, and under loss nearly every node did a
 * full-list exchange every second (docs/membership.md, "The repair
 * digest"). */
static void
s_check_known (swim_t *self, const char *addr, uint16_t port, uint64_t known, uint64_t digest)
{
    if (self->leaving || !swim__behind (self, known, digest))
        return;
    uint64_t now = swim__now (self);
    if (now < self->sync_next_ms)
        return;
    self->sync_next_ms = now + SWIM_SYNC_GAP_MS * swim__sync_scale (self);
    self->stats.repair_syncs++;
    swim__pushpull_send (self, addr, port, false);
}

static void
s_relay_add (swim_t *self, const char *addr, uint16_t port, uint64_t origin_seq,
             const gossip_ping_req_t *req)
{
    if (self->nrelays == SWIM_RELAYS_MAX) {
        /* Full: the oldest one goes; its requester will just see no nack. */
        memmove (&self->relays[0], &self->relays[1],
                 (SWIM_RELAYS_MAX - 1) * sizeof self->relays[0]);
        self->nrelays--;
    }
    swim_relay_t *r = &self->relays[self->nrelays++];
    r->seq = ++self->seq;
    snprintf (r->origin_addr, sizeof r->origin_addr, "%s", addr);
    r->origin_port = port;
    r->origin_seq = origin_seq;
    r->deadline_ms = swim__now (self) + self->cfg.probe_timeout_ms;

    swim_member_t target;
    memset (&target, 0, sizeof target);
    memcpy (target.name, req->target, sizeof target.name);
    memcpy (target.addr, req->taddr, sizeof target.addr);
    target.port = (uint16_t) req->tport;
    swim__send_ping (self, &target, r->seq, NULL);
}

static void
s_handle_ack (swim_t *self, const gossip_ack_t *ack, bool nack)
{
    if (self->probe.active && ack->seq == self->probe.seq) {
        if (nack) {
            self->stats.nacks_received++;
            self->probe.nacks++;
        }
        else if (!self->probe.acked) {
            self->probe.acked = true;
            if (self->probe.indirect_sent)
                self->stats.indirect_acks++;
            /* Success: we are evidently healthy enough. */
            swim__awareness_apply (&self->awareness, -1);
            self->probe.active = false;
        }
        return;
    }
    for (size_t i = 0; i < self->nrelays; i++)
        if (self->relays[i].seq == ack->seq) {
            if (!nack)
                swim__send_ack (self, self->relays[i].origin_addr, self->relays[i].origin_port,
                                self->relays[i].origin_seq, false);
            self->relays[i] = self->relays[--self->nrelays];
            return;
        }
    self->stats.drop_stale_ack++;
}

int
swim_receive (swim_t *self, const char *addr, uint16_t port, const uint8_t *buf, size_t len)
{
    assert (self);
    self->stats.packets_received++;
    if (self->is_refused)
        return 0;
    gossip_msg_t msg;
    int rc = swim__decode (self, buf, len, &msg, false);
    if (rc != WIRE_OK)
        return rc;
    const char *me = self->nodes[0]->pub.name;
    rc = 0;
    switch (msg.hdr.type) {
    case GOSSIP_PING: {
        gossip_ping_t *m = &msg.u.gossip_ping;
        if (strcmp (m->from, me) == 0) {
            self->stats.drop_self++;
            rc = SWIM_DROP_SEMANTIC;
            break;
        }
        if (m->target[0] && strcmp (m->target, me) != 0) {
            /* Meant for a previous owner of this address. */
            self->stats.drop_misdirected++;
            rc = SWIM_DROP_SEMANTIC;
            break;
        }
        s_apply_all (self, m->updates.items, m->updates.n);
        swim__send_ack (self, addr, port, m->seq, false);
        s_check_known (self, addr, port, m->known, m->digest);
        break;
    }
    case GOSSIP_ACK:
    case GOSSIP_NACK: {
        gossip_ack_t *m =
            msg.hdr.type == GOSSIP_ACK ? &msg.u.gossip_ack : (gossip_ack_t *) &msg.u.gossip_nack;
        s_apply_all (self, m->updates.items, m->updates.n);
        s_handle_ack (self, m, msg.hdr.type == GOSSIP_NACK);
        s_check_known (self, addr, port, m->known, m->digest);
        break;
    }
    case GOSSIP_PING_REQ: {
        gossip_ping_req_t *m = &msg.u.gossip_ping_req;
        if (strcmp (m->from, me) == 0 || strcmp (m->target, me) == 0) {
            self->stats.drop_self++;
            rc = SWIM_DROP_SEMANTIC;
            break;
        }
        s_apply_all (self, m->updates.items, m->updates.n);
        s_relay_add (self, addr, port, m->seq, m);
        break;
    }
    case GOSSIP_GOSSIP: {
        gossip_gossip_t *m = &msg.u.gossip_gossip;
        if (strcmp (m->from, me) == 0) {
            self->stats.drop_self++;
            rc = SWIM_DROP_SEMANTIC;
            break;
        }
        s_apply_all (self, m->updates.items, m->updates.n);
        s_check_known (self, addr, port, m->known, m->digest);
        break;
    }
    default:
        break;
    }
    wire_msg_free (&gossip_proto, &msg);
    return rc;
}
