/*
 * swim_sync.c - push-pull: full-state exchanges over the stream (join,
 * the periodic sync, the digest repair, the reconnect to failed
 * members) and their merge.
 */
#include "cluster/swim_internal.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* ---- Push-pull ------------------------------------------------------------ */

void
swim__record (const swim_member_t *m, gossip_update_t *u)
{
    swim__alive_record (m, u);
    u->kind = (uint64_t) m->state;
}

static int
s_state_encode (swim_t *self, bool join, bool reply, uint8_t **out, size_t *out_len)
{
    gossip_msg_t msg;
    memset (&msg, 0, sizeof msg);
    msg.hdr.type = GOSSIP_PUSH_PULL;
    gossip_push_pull_t *pp = &msg.u.gossip_push_pull;
    pp->join = join;
    pp->reply = reply;
    memcpy (pp->from, self->nodes[0]->pub.name, sizeof pp->from);
    gossip_update_t *items = (gossip_update_t *) calloc (self->nnodes, sizeof *items);
    if (!items)
        return -1;
    for (size_t i = 0; i < self->nnodes; i++)
        swim__record (&self->nodes[i]->pub, &items[i]);
    pp->members.n = self->nnodes;
    pp->members.items = items;
    int rc = wire_encode (&gossip_proto, &msg, out, out_len);
    free (items);
    return rc == WIRE_OK ? 0 : -1;
}

void
swim__pushpull_send (swim_t *self, const char *addr, uint16_t port, bool join)
{
    if (!self->env.stream)
        return;
    uint8_t *buf = NULL;
    size_t len = 0;
    if (s_state_encode (self, join, false, &buf, &len) == 0) {
        self->stats.pushpulls++;
        self->env.stream (self->env.ctx, addr, port, buf, len);
    }
    free (buf);
}

/* Merge a remote full state. As memberlist does, a remote "dead" only makes
 * us suspect (the member gets its chance to refute), and a remote suspect we
 * never heard of is first learnt as alive so joiners see everyone. */
static void
s_merge (swim_t *self, const gossip_push_pull_t *pp)
{
    for (size_t i = 0; i < pp->members.n; i++) {
        gossip_update_t u = pp->members.items[i];
        if (u.kind == SWIM_UPD_SUSPECT || u.kind == SWIM_UPD_DEAD) {
            /* Looked up only here: most records are alive, and swim__apply
             * looks the name up again. */
            bool known = swim__lookup (self, u.name) != NULL
                         || strcmp (u.name, self->nodes[0]->pub.name) == 0;
            if (!known && u.kind == SWIM_UPD_SUSPECT && u.key.len == SWIM_KEY_BYTES && u.addr[0]
                && u.port) {
                gossip_update_t alive = u;
                alive.kind = SWIM_UPD_ALIVE;
                swim__apply (self, &alive);
            }
            if (strcmp (u.name, self->nodes[0]->pub.name) != 0)
                u.kind = SWIM_UPD_SUSPECT;
            /* No accuser: the sender merely relays a suspicion, it is not
             * an independent confirmation (that would shrink timers on
             * hearsay and turn lossy-but-healthy members dead). */
            u.from[0] = '\0';
        }
        swim__apply (self, &u);
    }
}

int
swim_receive_stream (swim_t *self, const char *addr, uint16_t port, const uint8_t *buf, size_t len,
                     uint8_t **reply, size_t *reply_len)
{
    assert (self);
    if (reply)
        *reply = NULL;
    if (reply_len)
        *reply_len = 0;
    if (self->is_refused)
        return 0;
    gossip_msg_t msg;
    int rc = swim__decode (self, buf, len, &msg, true);
    if (rc != WIRE_OK)
        return rc;
    gossip_push_pull_t *pp = &msg.u.gossip_push_pull;
    if (strcmp (pp->from, self->nodes[0]->pub.name) == 0 && !pp->reply) {
        /* Someone pushed a state claiming our name: its records still tell
         * us who holds what, but it does not get our state back. */
        self->stats.drop_self++;
    }
    if (pp->reply && pp->join) {
        /* Only the answer to our own join can tell us we are the newcomer
         * whose name is taken; see s_apply_alive. */
        self->joining_reply = true;
        s_merge (self, pp);
        self->joining_reply = false;
        if (!self->is_refused && !self->joined) {
            self->joined = true;
            /* Announce ourselves too, not only through the seed: our alive
             * record is the one piece of news in this exchange, and queued
             * last it is the newest, so the gossip tick we make due now
             * carries it first to gossip_nodes members. They learn us from
             * the datagram itself instead of one seed fan-out later, or a
             * repair push-pull after seeing our higher `known`
             * (docs/membership.md "Join"). */
            swim__broadcast_self (self);
            self->gossip_next_ms = swim__now (self);
        }
    }
    else
        s_merge (self, pp);
    if (!pp->reply && reply && !self->is_refused)
        if (s_state_encode (self, pp->join, true, reply, reply_len))
            rc = WIRE_ERR_NOMEM;
    wire_msg_free (&gossip_proto, &msg);
    return rc;
}

void
swim_join (swim_t *self, const char *addr, uint16_t port)
{
    assert (self);
    if (self->is_refused)
        return;
    swim__pushpull_send (self, addr, port, true);
}

bool
swim_joined (swim_t *self)
{
    assert (self);
    return self->joined;
}

const char *
swim_refused (swim_t *self)
{
    assert (self);
    return self->is_refused ? self->refused_why : NULL;
}

/* Push-pull with one member in `state`, other than us, chosen uniformly
 * (reservoir sampling), if there is any. */
void
swim__pushpull_random_in (swim_t *self, swim_state_t state)
{
    size_t seen = 0;
    swim_node_t *pick = NULL;
    for (size_t i = 1; i < self->nnodes; i++)
        if (self->nodes[i]->pub.state == state)
            if (swim__rand (self, (uint32_t) ++seen) == 0)
                pick = self->nodes[i];
    if (pick)
        swim__pushpull_send (self, pick->pub.addr, pick->pub.port, false);
}

void
swim_pushpull_random (swim_t *self)
{
    assert (self);
    swim__pushpull_random_in (self, SWIM_ALIVE);
}

/* How much the full syncs thin out with the cluster, as memberlist's
 * pushPullScale: x(ceil(log2 N - log2 32) + 1) above 32 live members (x2
 * from the 33rd, x3 from the 65th, x6 at 1,000, x9 at 5,000). Each sync
 * ships the whole member list both ways, so at a fixed rate a node's share
 * grows linearly with N (4.5 KB/s per node at 1,000 with the periodic sync
 * unscaled). */
uint64_t
swim__sync_scale (swim_t *self)
{
    size_t n = swim__live_count (self);
    if (n <= 32)
        return 1;
    return (uint64_t) (ceil (log2 ((double) n) - log2 (32.0)) + 1.0);
}

/* The periodic full sync's interval: the digest repair does the urgent
 * work, this is the backstop. */
uint64_t
swim__pushpull_interval (swim_t *self)
{
    return swim__sync_scale (self) * self->cfg.pushpull_interval_ms;
}
