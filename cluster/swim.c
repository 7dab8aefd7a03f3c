/*
 * swim.c - the membership core: lifecycle, packet handling, probing, timers.
 *
 * Timers (all driven by swim_tick; swim_next_deadline reports the earliest):
 *   probe_next      start the next probe (interval scaled by awareness)
 *   probe.timeout   no direct ack yet: ask k members to probe (PING_REQ)
 *   probe.end       still no ack: suspect the target, adjust awareness
 *   relay deadline  a relayed ping got no ack: NACK the requester
 *   suspicion       a suspect's (dynamic) timeout ran out: declare it dead
 *   gossip_next     send pending broadcasts to a few members (only while
 *                   broadcasts are pending, so an idle cluster sends only
 *                   its probes and their acks)
 *   pushpull_next   full-state sync with a random member
 *   reconnect_next  full-state sync with a random FAILED member: after a
 *                   partition heals nobody probes the members each side
 *                   declared dead, and once the "dead" broadcasts are spent
 *                   nothing is gossiped either; this exchange makes each side
 *                   hear that it was declared dead, refute, and merge back
 *                   (Serf's reconnect loop does the same)
 *   reap            forget members dead/left for long enough
 */
#include "cluster/swim_internal.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#define SWIM_DROP_SEMANTIC (-100)

/* Every datagram's `updates` member has this layout. */
typedef struct {
    size_t n;
    gossip_update_t *items;
} s_updates_t;

/* ---- Configuration ------------------------------------------------------ */

static void
s_config_common (swim_config_t *c)
{
    memset (c, 0, sizeof *c);
    c->port = SWIM_DEFAULT_PORT;
    c->vmin = SWIM_PROTO_MIN;
    c->vmax = SWIM_PROTO_MAX;
    c->indirect_checks = 3;
    c->suspicion_confirmations = 2;
    c->awareness_max = 8;
    c->gossip_nodes = 4;
    c->retransmit_mult = 4;
    c->reap_dead_ms = 24ull * 3600 * 1000;
    c->reap_left_ms = 3600ull * 1000;
    /* minus the keyring seal overhead and the replay stamp (membership.c) */
    c->packet_max = SWIM_PACKET_MAX - 45 - GOSSIP_STAMP_BYTES;
}

void
swim_config_lan (swim_config_t *c)
{
    s_config_common (c);
    c->probe_interval_ms = 600;
    c->probe_timeout_ms = 200;
    c->suspicion_mult = 1.5;
    c->suspicion_max_mult = 4.0;
    c->gossip_interval_ms = 50;
    c->gossip_to_dead_ms = 30000;
    c->pushpull_interval_ms = 30000;
    c->reconnect_interval_ms = 5000;
}

void
swim_config_wan (swim_config_t *c)
{
    s_config_common (c);
    c->probe_interval_ms = 5000;
    c->probe_timeout_ms = 3000;
    c->suspicion_mult = 6.0;
    c->suspicion_max_mult = 6.0;
    c->gossip_interval_ms = 500;
    c->gossip_to_dead_ms = 60000;
    c->pushpull_interval_ms = 60000;
    c->reconnect_interval_ms = 30000;
}

/* ---- Lifecycle ------------------------------------------------------------ */

swim_t *
swim_new (const swim_config_t *config, const swim_env_t *env)
{
    assert (config);
    assert (env);
    if (!env->now_ms || !env->random || !env->send || config->name[0] == '\0'
        || config->addr[0] == '\0' || config->port == 0 || config->probe_interval_ms == 0
        || config->vmin > config->vmax || config->packet_max < 256)
        return NULL;
    swim_t *self = (swim_t *) zmalloc (sizeof (swim_t));
    assert (self);
    self->cfg = *config;
    self->env = *env;
    /* The actor adds the seal and the stamp; the sealed datagram must still
     * fit SWIM_PACKET_MAX (and the receiver's oversize check). */
    if (self->cfg.packet_max > SWIM_PACKET_MAX - 45 - GOSSIP_STAMP_BYTES)
        self->cfg.packet_max = SWIM_PACKET_MAX - 45 - GOSSIP_STAMP_BYTES;
    self->refused = zhashx_new ();
    self->reap_due_ms = UINT64_MAX;
    self->susp_due_ms = UINT64_MAX;
    swim__bqueue_init (&self->bq);
    self->awareness.max = config->awareness_max;

    gossip_update_t u;
    memset (&u, 0, sizeof u);
    u.kind = SWIM_UPD_ALIVE;
    snprintf (u.name, sizeof u.name, "%s", config->name);
    self->nodes = (swim_node_t **) zmalloc (32 * sizeof (swim_node_t *));
    self->capnodes = 32;
    swim_node_t *me = (swim_node_t *) zmalloc (sizeof (swim_node_t));
    self->nodes[0] = me;
    self->nnodes = 1;
    swim__node_name (me, config->name);
    snprintf (me->pub.addr, sizeof me->pub.addr, "%s", config->addr);
    me->pub.port = config->port;
    me->pub.incarnation = config->incarnation;
    me->pub.vmin = config->vmin;
    me->pub.vmax = config->vmax;
    memcpy (me->pub.key, config->key, SWIM_KEY_BYTES);
    memcpy (me->pub.sigkey, config->sigkey, SWIM_KEY_BYTES);
    me->pub.state = SWIM_ALIVE;
    swim__count_state (self, -1, SWIM_ALIVE, me);
    uint64_t now = swim__now (self);
    me->pub.state_since_ms = now;
    if (swim__index_reserve (self, 1) != 0) {
        swim_destroy (&self);
        return NULL;
    }
    swim__index_put (self, me);

    /* Spread first probes over one interval so nodes started together do
     * not probe in lockstep. */
    self->probe_next_ms = now + swim__rand (self, config->probe_interval_ms);
    self->gossip_next_ms = now;
    /* As if the last sync had been at a random moment of the next half
     * interval: the first comes one (scaled) interval after it. */
    self->pushpull_last_ms = now + swim__rand (self, config->pushpull_interval_ms / 2 + 1);
    self->pushpull_next_ms = self->pushpull_last_ms + config->pushpull_interval_ms;
    self->reconnect_next_ms = now + config->reconnect_interval_ms
                              + swim__rand (self, config->reconnect_interval_ms / 2 + 1);
    self->reap_next_ms = now + 1000;
    self->seq = self->env.random (self->env.ctx);
    return self;
}

void
swim_destroy (swim_t **self_p)
{
    assert (self_p);
    swim_t *self = *self_p;
    if (!self)
        return;
    for (size_t i = 0; i < self->nnodes; i++) {
        swim__tags_free (&self->nodes[i]->pub.tags);
        free (self->nodes[i]->suspicion);
        free (self->nodes[i]);
    }
    free (self->nodes);
    free (self->order);
    free (self->suspects);
    free (self->cands);
    free (self->index);
    zhashx_destroy (&self->refused);
    swim__bqueue_clear (&self->bq);
    free (self);
    *self_p = NULL;
}

/* ---- Sending -------------------------------------------------------------- */

static void
s_send_msg (swim_t *self, const char *addr, uint16_t port, gossip_msg_t *msg, s_updates_t *updates,
            const char *buddy)
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

static void
s_send_ack (swim_t *self, const char *addr, uint16_t port, uint64_t seq, bool nack)
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
    s_send_msg (self, addr, port, &msg, (s_updates_t *) &ack->updates, NULL);
}

static void
s_send_ping (swim_t *self, const swim_member_t *target, uint64_t seq, const char *buddy)
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
    s_send_msg (self, target->addr, target->port, &msg, (s_updates_t *) &msg.u.gossip_ping.updates,
                buddy);
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
static int
s_decode (swim_t *self, const uint8_t *buf, size_t len, gossip_msg_t *msg, bool stream)
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

static void s_pushpull_send (swim_t *self, const char *addr, uint16_t port, bool join);

static uint64_t s_sync_scale (swim_t *self);

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
    self->sync_next_ms = now + SWIM_SYNC_GAP_MS * s_sync_scale (self);
    self->stats.repair_syncs++;
    s_pushpull_send (self, addr, port, false);
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
    s_send_ping (self, &target, r->seq, NULL);
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
                s_send_ack (self, self->relays[i].origin_addr, self->relays[i].origin_port,
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
    int rc = s_decode (self, buf, len, &msg, false);
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
        s_send_ack (self, addr, port, m->seq, false);
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

/* ---- Push-pull ------------------------------------------------------------ */

static void
s_record (const swim_member_t *m, gossip_update_t *u)
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
        s_record (&self->nodes[i]->pub, &items[i]);
    pp->members.n = self->nnodes;
    pp->members.items = items;
    int rc = wire_encode (&gossip_proto, &msg, out, out_len);
    free (items);
    return rc == WIRE_OK ? 0 : -1;
}

static void
s_pushpull_send (swim_t *self, const char *addr, uint16_t port, bool join)
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
    int rc = s_decode (self, buf, len, &msg, true);
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
    s_pushpull_send (self, addr, port, true);
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
static void
s_pushpull_random_in (swim_t *self, swim_state_t state)
{
    size_t seen = 0;
    swim_node_t *pick = NULL;
    for (size_t i = 1; i < self->nnodes; i++)
        if (self->nodes[i]->pub.state == state)
            if (swim__rand (self, (uint32_t) ++seen) == 0)
                pick = self->nodes[i];
    if (pick)
        s_pushpull_send (self, pick->pub.addr, pick->pub.port, false);
}

void
swim_pushpull_random (swim_t *self)
{
    assert (self);
    s_pushpull_random_in (self, SWIM_ALIVE);
}

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

static void
s_probe_start (swim_t *self, uint64_t now)
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
    s_send_ping (self, &target->pub, self->probe.seq,
                 target->pub.state == SWIM_SUSPECT ? target->pub.name : NULL);
}

static void
s_probe_indirect (swim_t *self)
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
        s_send_msg (self, relay->pub.addr, relay->pub.port, &msg, (s_updates_t *) &req->updates,
                    target->pub.state == SWIM_SUSPECT ? target->pub.name : NULL);
    }
    self->probe.expected_nacks = (uint32_t) k;
    free (cands);
}

static void
s_probe_end (swim_t *self)
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

/* ---- Timers ---------------------------------------------------------------- */

/* One gossip round: GOSSIP to `gossip_nodes` random members with what the
 * queue holds; `closing`: the round after the queue ran dry, sent with no
 * updates at all (see swim_tick). */
static void
s_gossip (swim_t *self, uint64_t now, bool closing)
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
        s_send_msg (self, to->pub.addr, to->pub.port, &msg,
                    (s_updates_t *) &msg.u.gossip_gossip.updates, NULL);
    }
    while (nswapped > 0) {
        size_t i = --nswapped, j = swapped[i];
        swim_node_t *t = cands[i];
        cands[i] = cands[j];
        cands[j] = t;
    }
}

/* How much the full syncs thin out with the cluster, as memberlist's
 * pushPullScale: x(ceil(log2 N - log2 32) + 1) above 32 live members (x2
 * from the 33rd, x3 from the 65th, x6 at 1,000, x9 at 5,000). Each sync
 * ships the whole member list both ways, so at a fixed rate a node's share
 * grows linearly with N (4.5 KB/s per node at 1,000 with the periodic sync
 * unscaled). */
static uint64_t
s_sync_scale (swim_t *self)
{
    size_t n = swim__live_count (self);
    if (n <= 32)
        return 1;
    return (uint64_t) (ceil (log2 ((double) n) - log2 (32.0)) + 1.0);
}

/* The periodic full sync's interval: the digest repair does the urgent
 * work, this is the backstop. */
static uint64_t
s_pushpull_interval (swim_t *self)
{
    return s_sync_scale (self) * self->cfg.pushpull_interval_ms;
}

static uint64_t
s_reap_at (swim_t *self, const swim_member_t *m)
{
    if (m->state == SWIM_DEAD)
        return m->state_since_ms + self->cfg.reap_dead_ms;
    if (m->state == SWIM_LEFT)
        return m->state_since_ms + self->cfg.reap_left_ms;
    return UINT64_MAX;
}

void
swim_tick (swim_t *self)
{
    assert (self);
    if (self->is_refused)
        return;
    uint64_t now = swim__now (self);

    if (!self->leaving) {
        if (self->probe.active && !self->probe.indirect_sent && now >= self->probe.timeout_at)
            s_probe_indirect (self);
        if (self->probe.active && now >= self->probe.end_at)
            s_probe_end (self);
        if (!self->probe.active && now >= self->probe_next_ms)
            s_probe_start (self, now);
    }

    for (size_t i = 0; i < self->nrelays;) {
        if (now >= self->relays[i].deadline_ms) {
            s_send_ack (self, self->relays[i].origin_addr, self->relays[i].origin_port,
                        self->relays[i].origin_seq, true);
            self->relays[i] = self->relays[--self->nrelays];
        }
        else
            i++;
    }

    /* Expired suspicions: known from the earliest deadline, declared in
     * member order as a walk over every member would (the order of the
     * DEAD broadcasts is what peers see). */
    bool expired = now >= swim__suspect_due (self);
    for (size_t i = 1; expired && i < self->nnodes; i++) {
        swim_node_t *node = self->nodes[i];
        if (node->suspicion && now >= swim__suspicion_deadline (node->suspicion))
            swim__set_dead (self, node, self->nodes[0]->pub.name);
    }

    if (now >= self->gossip_next_ms) {
        uint32_t limit = swim__retransmit_limit (self);
        if (swim__bqueue_pending (&self->bq, limit) > 0) {
            s_gossip (self, now, false);
            self->gossip_last_ms = now;
            self->gossip_next_ms = now + self->cfg.gossip_interval_ms;
            /* The queue ran dry: one more round, an interval later, with
             * no updates, only `known` and `digest`. Each update went out
             * a limited number of times to random members (SWIM's
             * lambda log N); now and then a member is missed by all of
             * them (at 64 members, about one miss per cold start). Gossip
             * is what tells it so through the digest (it then repairs with
             * a push-pull); without this round the cluster falls silent
             * right after the last transmission and the member waits for
             * a probe to carry a digest, up to a probe interval or more.
             * Costs gossip_nodes small datagrams per burst, none when
             * idle. */
            if (swim__bqueue_pending (&self->bq, limit) == 0)
                self->gossip_close_ms = now + self->cfg.gossip_interval_ms;
            else
                self->gossip_close_ms = 0;
        }
    }
    if (self->gossip_close_ms && now >= self->gossip_close_ms) {
        self->gossip_close_ms = 0;
        s_gossip (self, now, true);
    }

    if (self->cfg.pushpull_interval_ms && now >= self->pushpull_next_ms && !self->leaving) {
        /* The interval is scaled with the members we hold now (memberlist
         * also computes it at each tick): a node that joined a big cluster
         * since the timer was set waits for the scaled interval, instead
         * of every member of a cold start syncing its full list within the
         * first 1.5 intervals. */
        uint64_t due = self->pushpull_last_ms + s_pushpull_interval (self);
        if (now >= due) {
            swim_pushpull_random (self);
            self->pushpull_last_ms = now;
            due = now + s_pushpull_interval (self);
        }
        self->pushpull_next_ms = due;
    }

    if (self->cfg.reconnect_interval_ms && now >= self->reconnect_next_ms && !self->leaving) {
        s_pushpull_random_in (self, SWIM_DEAD); /* failed, not left */
        /* Jittered so the two sides of a healed partition do not sync in
         * lock step. */
        self->reconnect_next_ms = now + self->cfg.reconnect_interval_ms
                                  + swim__rand (self, self->cfg.reconnect_interval_ms / 4 + 1);
    }

    if (now >= self->reap_next_ms && now >= self->reap_due_ms) {
        /* Something is due (reap_due_ms is the earliest a dead or left
         * member may go); recompute it over what stays. */
        self->reap_due_ms = UINT64_MAX;
        for (size_t i = 1; i < self->nnodes;) {
            swim_node_t *node = self->nodes[i];
            uint64_t at = s_reap_at (self, &node->pub);
            if (now < at && at < self->reap_due_ms)
                self->reap_due_ms = at;
            if (now >= at) {
                swim_member_t copy = node->pub;
                copy.tags.n = 0;
                copy.tags.items = NULL;
                swim__remove (self, node);
                swim__emit (self, SWIM_EV_REAP, &copy, NULL);
            }
            else
                i++;
        }
    }
    if (now >= self->reap_next_ms)
        self->reap_next_ms = now + 1000;
}

uint64_t
swim_next_deadline (swim_t *self)
{
    assert (self);
    uint64_t next = self->reap_next_ms;
#define S_MIN(x)                                                                                   \
    do {                                                                                           \
        uint64_t x_ = (x);                                                                         \
        if (x_ < next)                                                                             \
            next = x_;                                                                             \
    } while (0)
    if (self->is_refused)
        return UINT64_MAX;
    if (!self->leaving) {
        if (self->probe.active) {
            if (!self->probe.indirect_sent)
                S_MIN (self->probe.timeout_at);
            S_MIN (self->probe.end_at);
        }
        else
            S_MIN (self->probe_next_ms);
    }
    for (size_t i = 0; i < self->nrelays; i++)
        S_MIN (self->relays[i].deadline_ms);
    /* Suspicion timers: the earliest is kept, not walked for. */
    S_MIN (swim__suspect_due (self));
    if (self->bq.n > 0)
        S_MIN (self->gossip_next_ms);
    if (self->gossip_close_ms)
        S_MIN (self->gossip_close_ms);
    if (self->cfg.pushpull_interval_ms && !self->leaving)
        S_MIN (self->pushpull_next_ms);
    if (self->cfg.reconnect_interval_ms && !self->leaving)
        S_MIN (self->reconnect_next_ms);
#undef S_MIN
    return next;
}

/* ---- Leave, tags ------------------------------------------------------------ */

void
swim_leave (swim_t *self)
{
    assert (self);
    if (self->leaving)
        return;
    self->leaving = true;
    swim_node_t *me = self->nodes[0];
    swim__count_state (self, (int) me->pub.state, SWIM_LEFT, me);
    me->pub.state = SWIM_LEFT;
    me->pub.state_since_ms = swim__now (self);
    gossip_update_t u;
    memset (&u, 0, sizeof u);
    u.kind = SWIM_UPD_LEFT;
    memcpy (u.name, me->pub.name, sizeof u.name);
    u.inc = me->pub.incarnation;
    memcpy (u.from, me->pub.name, sizeof u.from);
    swim__broadcast (self, &u);
    self->gossip_next_ms = swim__now (self); /* tell people now */
}

bool
swim_leave_done (swim_t *self)
{
    assert (self);
    if (!self->leaving)
        return false;
    size_t others = 0;
    for (size_t i = 1; i < self->nnodes; i++)
        if (self->nodes[i]->pub.state == SWIM_ALIVE || self->nodes[i]->pub.state == SWIM_SUSPECT)
            others++;
    if (others == 0)
        return true;
    /* Sent to a few members: the epidemic takes it from there. */
    int sent = swim__bqueue_transmits (&self->bq, self->nodes[0]->pub.name);
    uint32_t enough = self->cfg.gossip_nodes < 3 ? self->cfg.gossip_nodes : 3;
    return sent < 0 || (uint32_t) sent >= enough;
}

static int
s_tags_changed (swim_t *self)
{
    swim_member_t *me = &self->nodes[0]->pub;
    swim__set_inc (self, self->nodes[0], me->incarnation + 1);
    swim__broadcast_self (self);
    swim__emit (self, SWIM_EV_UPDATE, me, "tags");
    return 0;
}

int
swim_set_tag (swim_t *self, const char *key, const char *value)
{
    assert (self);
    if (!key || !*key || !value || strlen (key) > WIRE_TAG_KEY_MAX
        || strlen (value) > WIRE_TAG_VALUE_MAX)
        return -1;
    wire_tags_t *tags = &self->nodes[0]->pub.tags;
    for (size_t i = 0; i < tags->n; i++)
        if (strcmp (tags->items[i].key, key) == 0) {
            if (strcmp (tags->items[i].value, value) == 0)
                return 0;
            snprintf (tags->items[i].value, sizeof tags->items[i].value, "%s", value);
            return s_tags_changed (self);
        }
    if (tags->n >= SWIM_TAGS_MAX)
        return -1;
    wire_tag_t *items = (wire_tag_t *) realloc (tags->items, (tags->n + 1) * sizeof *items);
    if (!items)
        return -1;
    tags->items = items;
    memset (&items[tags->n], 0, sizeof items[0]);
    snprintf (items[tags->n].key, sizeof items[0].key, "%s", key);
    snprintf (items[tags->n].value, sizeof items[0].value, "%s", value);
    tags->n++;
    return s_tags_changed (self);
}

int
swim_unset_tag (swim_t *self, const char *key)
{
    assert (self);
    wire_tags_t *tags = &self->nodes[0]->pub.tags;
    for (size_t i = 0; i < tags->n; i++)
        if (strcmp (tags->items[i].key, key) == 0) {
            tags->items[i] = tags->items[tags->n - 1];
            tags->n--;
            return s_tags_changed (self);
        }
    return 0;
}

/* ---- Views ---------------------------------------------------------------- */

size_t
swim_size (swim_t *self)
{
    assert (self);
    return self->nnodes;
}

const swim_member_t *
swim_member_at (swim_t *self, size_t index)
{
    assert (self);
    return index < self->nnodes ? &self->nodes[index]->pub : NULL;
}

const swim_member_t *
swim_lookup (swim_t *self, const char *name)
{
    assert (self);
    swim_node_t *node = swim__lookup (self, name);
    return node ? &node->pub : NULL;
}

size_t
swim_count_state (swim_t *self, swim_state_t state)
{
    assert (self);
    /* The per-state counts are kept at every state change (callers such as
     * the simulator's convergence check ask for every node). */
    if ((unsigned) state < sizeof self->nstate / sizeof self->nstate[0])
        return self->nstate[state];
    return 0;
}

const swim_member_t *
swim_self (swim_t *self)
{
    assert (self);
    return &self->nodes[0]->pub;
}

int
swim_members_encode (swim_t *self, uint8_t **out, size_t *out_len)
{
    assert (self);
    gossip_msg_t msg;
    memset (&msg, 0, sizeof msg);
    msg.hdr.type = GOSSIP_MEMBERS;
    gossip_update_t *items = (gossip_update_t *) calloc (self->nnodes, sizeof *items);
    if (!items)
        return -1;
    for (size_t i = 0; i < self->nnodes; i++)
        s_record (&self->nodes[i]->pub, &items[i]);
    msg.u.gossip_members.members.n = self->nnodes;
    msg.u.gossip_members.members.items = items;
    int rc = wire_encode (&gossip_proto, &msg, out, out_len);
    free (items);
    return rc == WIRE_OK ? 0 : -1;
}

int
swim_member_encode (const swim_member_t *member, uint8_t **out, size_t *out_len)
{
    assert (member);
    gossip_msg_t msg;
    memset (&msg, 0, sizeof msg);
    msg.hdr.type = GOSSIP_MEMBERS;
    gossip_update_t item;
    s_record (member, &item);
    if (item.addr[0] == '\0' || item.port == 0)
        item.kind = SWIM_UPD_DEAD; /* a refused name we only know by name */
    msg.u.gossip_members.members.n = 1;
    msg.u.gossip_members.members.items = &item;
    return wire_encode (&gossip_proto, &msg, out, out_len) == WIRE_OK ? 0 : -1;
}

void
swim_stats (swim_t *self, swim_stats_t *stats)
{
    assert (self);
    *stats = self->stats;
}

uint32_t
swim_awareness (swim_t *self)
{
    assert (self);
    return self->awareness.score;
}

uint64_t
swim_suspicion_timeout (swim_t *self, const char *name)
{
    assert (self);
    swim_node_t *node = swim__lookup (self, name);
    return node && node->suspicion ? swim__suspicion_timeout (node->suspicion) : 0;
}

size_t
swim_broadcasts_pending (swim_t *self)
{
    assert (self);
    return swim__bqueue_pending (&self->bq, swim__retransmit_limit (self));
}

const char *
swim_state_name (swim_state_t state)
{
    static const char *names[] = { "alive", "suspect", "failed", "left" };
    return (unsigned) state < 4 ? names[state] : "unknown";
}

const char *
swim_event_name (swim_event_kind_t kind)
{
    static const char *names[] = {
        "join", "update", "suspect", "fail", "leave", "reap", "refused"
    };
    return (unsigned) kind < SWIM_EV_COUNT_ ? names[kind] : "unknown";
}
