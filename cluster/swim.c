/*
 * swim.c - the membership core's public API: configuration, lifecycle, the
 * timers, leave, tags and views. Datagrams are in swim_datagram.c, probing
 * in swim_probe.c, push-pull in swim_sync.c.
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

#include <stdlib.h>
#include <string.h>

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

/* ---- Timers ---------------------------------------------------------------- */

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
            swim__probe_indirect (self);
        if (self->probe.active && now >= self->probe.end_at)
            swim__probe_end (self);
        if (!self->probe.active && now >= self->probe_next_ms)
            swim__probe_start (self, now);
    }

    for (size_t i = 0; i < self->nrelays;) {
        if (now >= self->relays[i].deadline_ms) {
            swim__send_ack (self, self->relays[i].origin_addr, self->relays[i].origin_port,
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
            swim__gossip (self, now, false);
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
        swim__gossip (self, now, true);
    }

    if (self->cfg.pushpull_interval_ms && now >= self->pushpull_next_ms && !self->leaving) {
        /* The interval is scaled with the members we hold now (memberlist
         * also computes it at each tick): a node that joined a big cluster
         * since the timer was set waits for the scaled interval, instead
         * of every member of a cold start syncing its full list within the
         * first 1.5 intervals. */
        uint64_t due = self->pushpull_last_ms + swim__pushpull_interval (self);
        if (now >= due) {
            swim_pushpull_random (self);
            self->pushpull_last_ms = now;
            due = now + swim__pushpull_interval (self);
        }
        self->pushpull_next_ms = due;
    }

    if (self->cfg.reconnect_interval_ms && now >= self->reconnect_next_ms && !self->leaving) {
        swim__pushpull_random_in (self, SWIM_DEAD); /* failed, not left */
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
        swim__record (&self->nodes[i]->pub, &items[i]);
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
    swim__record (member, &item);
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
