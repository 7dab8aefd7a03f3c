/*
 * swim_members.c - the member table and the precedence rules.
 *
 * Precedence, for an update about member M whose record we hold at
 * incarnation i (docs/membership.md has the table):
 *   alive(j)    wins if j > i (and only then: refutation needs a bump)
 *   suspect(j)  wins over alive if j >= i; over suspect(j >= i) it counts as
 *               a confirmation when the accuser is new
 *   dead(j)     wins over alive and suspect if j >= i
 *   left(j)     wins over alive, suspect and dead if j >= i
 *   anything with j < i is stale and ignored; suspect/dead/left about a
 *   member we do not know is ignored (we cannot probe what we cannot reach).
 * About ourselves: suspect, dead or left (when we are not leaving) is
 * refuted by re-announcing alive at max(i, j) + 1; alive with a higher
 * incarnation than ours (our own old record, after a restart) is overtaken
 * the same way. Alive for a name held by a live member with another
 * identity key is refused.
 */
#include "cluster/swim_internal.h"

#include <stdlib.h>
#include <string.h>

/* ---- Tags ---------------------------------------------------------------- */

int
swim__tags_copy (wire_tags_t *dst, const wire_tags_t *src)
{
    dst->n = 0;
    dst->items = NULL;
    if (!src || src->n == 0)
        return 0;
    dst->items = (wire_tag_t *) malloc (src->n * sizeof (wire_tag_t));
    if (!dst->items)
        return -1;
    memcpy (dst->items, src->items, src->n * sizeof (wire_tag_t));
    dst->n = src->n;
    return 0;
}

void
swim__tags_free (wire_tags_t *tags)
{
    free (tags->items);
    tags->items = NULL;
    tags->n = 0;
}

bool
swim__tags_equal (const wire_tags_t *a, const wire_tags_t *b)
{
    if (a->n != b->n)
        return false;
    for (size_t i = 0; i < a->n; i++) {
        bool found = false;
        for (size_t j = 0; j < b->n && !found; j++)
            found = strcmp (a->items[i].key, b->items[j].key) == 0
                    && strcmp (a->items[i].value, b->items[j].value) == 0;
        if (!found)
            return false;
    }
    return true;
}

/* ---- Helpers --------------------------------------------------------------- */

void
swim__emit (swim_t *self, swim_event_kind_t kind, const swim_member_t *m, const char *reason)
{
    if (self->env.event) {
        swim_event_t ev = { kind, m, reason };
        self->env.event (self->env.ctx, &ev);
    }
}

void
swim__alive_record (const swim_member_t *m, gossip_update_t *u)
{
    memset (u, 0, sizeof *u);
    u->kind = SWIM_UPD_ALIVE;
    memcpy (u->name, m->name, sizeof u->name);
    memcpy (u->addr, m->addr, sizeof u->addr);
    u->port = m->port;
    u->inc = m->incarnation;
    u->tags = m->tags;
    u->vmin = m->vmin;
    u->vmax = m->vmax;
    u->key.data = (uint8_t *) (uintptr_t) m->key; /* encode only reads */
    u->key.len = SWIM_KEY_BYTES;
    memcpy (u->sigkey, m->sigkey, SWIM_KEY_BYTES);
}

static bool
s_zero_key (const uint8_t key[SWIM_KEY_BYTES])
{
    static const uint8_t zero[SWIM_KEY_BYTES];
    return memcmp (key, zero, SWIM_KEY_BYTES) == 0;
}

/* The Ed25519 key is part of a member's identity (it binds the member's
 * state records, docs/state.md "Trust"): a different advertised key is an
 * identity change like a different X25519 key. An update without one
 * (from a sender that does not know the field) leaves ours as it is. */
static bool
s_sigkey_differs (const gossip_update_t *u, const uint8_t held[SWIM_KEY_BYTES])
{
    return !s_zero_key (u->sigkey) && !s_zero_key (held)
           && memcmp (u->sigkey, held, SWIM_KEY_BYTES) != 0;
}

/* Encoded size `u` adds to a packet: encode a gossip message with and
 * without it. Two tiny encodes per queued update is cheap next to the
 * packets it saves by packing exactly. */
static size_t
s_update_size (const gossip_update_t *u)
{
    static const size_t fallback = 1024;
    gossip_msg_t msg;
    memset (&msg, 0, sizeof msg);
    msg.hdr.type = GOSSIP_GOSSIP;
    snprintf (msg.u.gossip_gossip.from, sizeof msg.u.gossip_gossip.from, "x");
    uint8_t buf[2048];
    size_t empty = 0, full = 0;
    if (wire_encode_into (&gossip_proto, &msg, buf, sizeof buf, &empty))
        return fallback;
    gossip_update_t copy = *u;
    msg.u.gossip_gossip.updates.n = 1;
    msg.u.gossip_gossip.updates.items = &copy;
    if (wire_encode_into (&gossip_proto, &msg, buf, sizeof buf, &full))
        return fallback;
    return full - empty;
}

void
swim__broadcast (swim_t *self, const gossip_update_t *u)
{
    /* What the answer to our join tells us is no news to the cluster: the
     * seed holds it and queued each record when it learnt it. Re-gossiping
     * it made every joiner queue the whole member list (N records, each
     * sent 4 * log10 N times): a third of a cold start's traffic, and the
     * joiner's queue held N entries. A peer that missed one of them still
     * gets it through the digest repair. News about ourselves (a
     * refutation) still goes out; our own alive record is queued after the
     * merge (swim_receive_stream). */
    if (self->joining_reply && strcmp (u->name, self->nodes[0]->pub.name) != 0)
        return;
    swim__bqueue_put (&self->bq, u, s_update_size (u));
    /* Send news on soon, not at the next regular tick. A round every
     * gossip_interval carries what queued since the last one, so each hop
     * of an update waited half an interval on average and a whole one at
     * worst: ~4 hops at 64 members were 100-200 ms of a join's spread. The
     * earliest round is the last one + interval / SWIM_FRESH_DIV, so a
     * stream of updates (a cold start, a partition healing) still batches
     * into at most SWIM_FRESH_DIV rounds per interval, and every update
     * keeps its retransmit limit: the bytes it costs do not change, only
     * when they are sent. */
    uint64_t soon = self->gossip_last_ms + self->cfg.gossip_interval_ms / SWIM_FRESH_DIV;
    uint64_t now = swim__now (self);
    if (soon < now)
        soon = now;
    if (soon < self->gossip_next_ms)
        self->gossip_next_ms = soon;
}

void
swim__broadcast_self (swim_t *self)
{
    gossip_update_t u;
    swim__alive_record (&self->nodes[0]->pub, &u);
    swim__broadcast (self, &u);
}

static void
s_refute (swim_t *self, uint64_t accused_inc)
{
    swim_member_t *me = &self->nodes[0]->pub;
    if (accused_inc < me->incarnation) {
        /* Already refuted, but the accuser has not heard: re-announce
         * unless our alive record is still on its way. */
        if (!swim__bqueue_has (&self->bq, me->name, SWIM_UPD_ALIVE))
            swim__broadcast_self (self);
        return;
    }
    swim__set_inc (self, self->nodes[0], accused_inc + 1);
    self->stats.refutations++;
    swim__awareness_apply (&self->awareness, 1);
    swim__broadcast_self (self);
}

static void
s_refuse (swim_t *self, const char *name, const char *reason)
{
    /* One event per name per minute: the same refused record keeps arriving
     * in gossip and push-pull until the cluster forgets it. */
    uint64_t now = swim__now (self);
    uintptr_t until = (uintptr_t) zhashx_lookup (self->refused, name);
    if (until && now < until)
        return;
    zhashx_update (self->refused, name, (void *) (uintptr_t) (now + 60000));
    swim_member_t m;
    memset (&m, 0, sizeof m);
    snprintf (m.name, sizeof m.name, "%s", name);
    swim__emit (self, SWIM_EV_REFUSED, &m, reason);
}

static swim_node_t *
s_add (swim_t *self, const gossip_update_t *u)
{
    if (self->nnodes >= SWIM_MAX_MEMBERS) {
        self->stats.refused_full++;
        return NULL;
    }
    if (self->nnodes == self->capnodes) {
        size_t cap = self->capnodes ? self->capnodes * 2 : 32;
        swim_node_t **nodes = (swim_node_t **) realloc (self->nodes, cap * sizeof *nodes);
        if (!nodes)
            return NULL;
        self->nodes = nodes;
        self->capnodes = cap;
    }
    if (swim__index_reserve (self, self->nnodes + 1) != 0)
        return NULL;
    swim_node_t *node = (swim_node_t *) calloc (1, sizeof *node);
    if (!node)
        return NULL;
    swim__node_name (node, u->name);
    self->nodes[self->nnodes++] = node;
    swim__count_state (self, -1, (int) node->pub.state, node);
    swim__index_put (self, node);

    /* Insert at a random place in the rest of this probe round, as
     * memberlist does, so new members are probed this round and a burst of
     * joins does not line up behind each other. */
    if (self->norder == self->caporder) {
        size_t cap = self->caporder ? self->caporder * 2 : 32;
        swim_node_t **order = (swim_node_t **) realloc (self->order, cap * sizeof *order);
        if (order) {
            self->order = order;
            self->caporder = cap;
        }
    }
    if (self->norder < self->caporder) {
        size_t span = self->norder - self->order_idx + 1;
        size_t at = self->order_idx + swim__rand (self, (uint32_t) span);
        memmove (&self->order[at + 1], &self->order[at],
                 (self->norder - at) * sizeof self->order[0]);
        self->order[at] = node;
        self->norder++;
    }
    return node;
}

void
swim__remove (swim_t *self, swim_node_t *node)
{
    swim__suspect_off (self, node);
    for (size_t i = 0; i < self->norder; i++)
        if (self->order[i] == node)
            self->order[i] = NULL; /* skipped by the prober */
    for (size_t i = 1; i < self->nnodes; i++)
        if (self->nodes[i] == node) {
            self->nodes[i] = self->nodes[self->nnodes - 1];
            self->nnodes--;
            swim__count_state (self, (int) node->pub.state, -1, node);
            break;
        }
    swim__index_del (self, node);
    swim__tags_free (&node->pub.tags);
    free (node);
}

static void
s_set_state (swim_t *self, swim_node_t *node, swim_state_t state)
{
    swim__count_state (self, (int) node->pub.state, (int) state, node);
    node->pub.state = state;
    node->pub.state_since_ms = swim__now (self);
    if (state != SWIM_SUSPECT)
        swim__suspect_off (self, node);
    uint64_t reap = state == SWIM_DEAD   ? self->cfg.reap_dead_ms
                    : state == SWIM_LEFT ? self->cfg.reap_left_ms
                                         : UINT64_MAX;
    if (reap != UINT64_MAX && node->pub.state_since_ms + reap < self->reap_due_ms)
        self->reap_due_ms = node->pub.state_since_ms + reap;
}

void
swim__set_dead (swim_t *self, swim_node_t *node, const char *accuser)
{
    s_set_state (self, node, SWIM_DEAD);
    self->stats.deaths++;
    gossip_update_t u;
    memset (&u, 0, sizeof u);
    u.kind = SWIM_UPD_DEAD;
    memcpy (u.name, node->pub.name, sizeof u.name);
    u.inc = node->pub.incarnation;
    snprintf (u.from, sizeof u.from, "%s", accuser);
    swim__broadcast (self, &u);
    swim__emit (self, SWIM_EV_FAIL, &node->pub, NULL);
}

/* ---- Applying updates --------------------------------------------------- */

static bool
s_apply_alive (swim_t *self, const gossip_update_t *u)
{
    swim_member_t *me = &self->nodes[0]->pub;
    bool same_key = u->key.len == SWIM_KEY_BYTES
                    && memcmp (u->key.data, me->key, SWIM_KEY_BYTES) == 0
                    && !s_sigkey_differs (u, me->sigkey);
    if (strcmp (u->name, me->name) == 0) {
        if (!same_key) {
            if (self->joining_reply && !self->is_refused) {
                /* We are the newcomer: someone else holds our name. */
                snprintf (self->refused_why, sizeof self->refused_why,
                          "name '%s' is held by another live identity at %s:%u", u->name, u->addr,
                          (unsigned) u->port);
                self->is_refused = true;
                self->stats.refused_conflict++;
                swim__emit (self, SWIM_EV_REFUSED, me, self->refused_why);
                return false;
            }
            /* We are the incumbent: make sure our record stays on top. */
            self->stats.refused_conflict++;
            s_refute (self, u->inc);
            return false;
        }
        if (u->inc > me->incarnation && !self->leaving)
            s_refute (self, u->inc); /* our own record from a past life */
        return false;
    }
    if (u->vmax < self->cfg.vmin || u->vmin > self->cfg.vmax) {
        self->stats.refused_version++;
        char why[160];
        snprintf (why, sizeof why, "protocol range %u-%u does not overlap ours %u-%u",
                  (unsigned) u->vmin, (unsigned) u->vmax, (unsigned) self->cfg.vmin,
                  (unsigned) self->cfg.vmax);
        s_refuse (self, u->name, why);
        return false;
    }
    swim_node_t *node = swim__lookup (self, u->name);
    if (!node) {
        node = s_add (self, u);
        if (!node)
            return false;
        swim__set_inc (self, node, u->inc);
        snprintf (node->pub.addr, sizeof node->pub.addr, "%s", u->addr);
        node->pub.port = (uint16_t) u->port;
        node->pub.vmin = (uint16_t) u->vmin;
        node->pub.vmax = (uint16_t) u->vmax;
        memcpy (node->pub.key, u->key.data, SWIM_KEY_BYTES);
        memcpy (node->pub.sigkey, u->sigkey, SWIM_KEY_BYTES);
        swim__tags_copy (&node->pub.tags, &u->tags);
        s_set_state (self, node, SWIM_ALIVE);
        swim__broadcast (self, u);
        swim__emit (self, SWIM_EV_JOIN, &node->pub, NULL);
        return true;
    }
    bool key_differs = memcmp (u->key.data, node->pub.key, SWIM_KEY_BYTES) != 0
                       || s_sigkey_differs (u, node->pub.sigkey);
    bool sigkey_learnt = s_zero_key (node->pub.sigkey) && !s_zero_key (u->sigkey);
    if (key_differs && (node->pub.state == SWIM_ALIVE || node->pub.state == SWIM_SUSPECT)) {
        self->stats.refused_conflict++;
        char why[320];
        snprintf (why, sizeof why,
                  "name '%s' is held by another live identity (at %s:%u); refused the "
                  "newcomer at %s:%u",
                  u->name, node->pub.addr, (unsigned) node->pub.port, u->addr, (unsigned) u->port);
        s_refuse (self, u->name, why);
        return false;
    }
    if (u->inc <= node->pub.incarnation) {
        self->stats.stale_updates++;
        return false;
    }
    swim_state_t was = node->pub.state;
    bool moved = strcmp (node->pub.addr, u->addr) != 0 || node->pub.port != u->port
                 || node->pub.vmin != u->vmin || node->pub.vmax != u->vmax || key_differs
                 || sigkey_learnt;
    bool retagged = !swim__tags_equal (&node->pub.tags, &u->tags);
    bool changed = moved || retagged;
    swim__set_inc (self, node, u->inc);
    snprintf (node->pub.addr, sizeof node->pub.addr, "%s", u->addr);
    node->pub.port = (uint16_t) u->port;
    node->pub.vmin = (uint16_t) u->vmin;
    node->pub.vmax = (uint16_t) u->vmax;
    memcpy (node->pub.key, u->key.data, SWIM_KEY_BYTES);
    if (!s_zero_key (u->sigkey))
        memcpy (node->pub.sigkey, u->sigkey, SWIM_KEY_BYTES);
    if (changed) {
        swim__tags_free (&node->pub.tags);
        swim__tags_copy (&node->pub.tags, &u->tags);
    }
    if (was != SWIM_ALIVE)
        s_set_state (self, node, SWIM_ALIVE);
    swim__broadcast (self, u);
    if (was == SWIM_DEAD || was == SWIM_LEFT)
        swim__emit (self, SWIM_EV_JOIN, &node->pub, NULL);
    else if (was == SWIM_SUSPECT)
        swim__emit (self, SWIM_EV_UPDATE, &node->pub, "refuted");
    else if (changed) /* "tags" when only the tags changed, as on the node itself */
        swim__emit (self, SWIM_EV_UPDATE, &node->pub, moved ? "changed" : "tags");
    return true;
}

static bool
s_apply_suspect (swim_t *self, const gossip_update_t *u)
{
    if (strcmp (u->name, self->nodes[0]->pub.name) == 0) {
        if (!self->leaving)
            s_refute (self, u->inc);
        return false;
    }
    swim_node_t *node = swim__lookup (self, u->name);
    if (!node)
        return false;
    if (u->inc < node->pub.incarnation) {
        self->stats.stale_updates++;
        return false;
    }
    if (node->pub.state == SWIM_DEAD || node->pub.state == SWIM_LEFT)
        return false;
    if (node->pub.state == SWIM_SUSPECT) {
        swim__set_inc (self, node, u->inc);
        if (node->suspicion && swim__suspicion_confirm (node->suspicion, u->from)) {
            swim__suspect_armed (self, node); /* its timer shrank */
            /* Pass confirmations on: others shrink their timers too. */
            swim__broadcast (self, u);
            return true;
        }
        return false;
    }
    uint64_t min_ms, max_ms;
    swim__suspicion_bounds (self, &min_ms, &max_ms);
    /* Expect k confirmations only when enough members exist to give them
     * (memberlist: n - 2 < k means k = 0). */
    uint32_t k = self->cfg.suspicion_confirmations;
    size_t live = swim__live_count (self);
    if (live < 2 || live - 2 < k)
        k = 0;
    swim__set_inc (self, node, u->inc);
    s_set_state (self, node, SWIM_SUSPECT);
    swim_suspicion_t *susp = swim__suspect_on (self, node);
    if (susp) {
        swim__suspicion_start (susp, swim__now (self), k, min_ms, max_ms, u->from);
        swim__suspect_armed (self, node);
    }
    self->stats.suspicions++;
    swim__broadcast (self, u);
    swim__emit (self, SWIM_EV_SUSPECT, &node->pub, NULL);
    return true;
}

static bool
s_apply_dead_or_left (swim_t *self, const gossip_update_t *u)
{
    if (strcmp (u->name, self->nodes[0]->pub.name) == 0) {
        if (!self->leaving)
            s_refute (self, u->inc);
        return false;
    }
    swim_node_t *node = swim__lookup (self, u->name);
    if (!node)
        return false;
    if (u->inc < node->pub.incarnation) {
        self->stats.stale_updates++;
        return false;
    }
    if (node->pub.state == SWIM_LEFT)
        return false; /* final until a newer alive */
    if (u->kind == SWIM_UPD_DEAD && node->pub.state == SWIM_DEAD)
        return false;
    swim__set_inc (self, node, u->inc);
    if (u->kind == SWIM_UPD_LEFT) {
        s_set_state (self, node, SWIM_LEFT);
        swim__broadcast (self, u);
        swim__emit (self, SWIM_EV_LEAVE, &node->pub, NULL);
    }
    else {
        s_set_state (self, node, SWIM_DEAD);
        self->stats.deaths++;
        swim__broadcast (self, u);
        swim__emit (self, SWIM_EV_FAIL, &node->pub, NULL);
    }
    return true;
}

bool
swim__apply (swim_t *self, const gossip_update_t *u)
{
    bool changed = false;
    switch (u->kind) {
    case SWIM_UPD_ALIVE:
        changed = s_apply_alive (self, u);
        break;
    case SWIM_UPD_SUSPECT:
        changed = s_apply_suspect (self, u);
        break;
    case SWIM_UPD_DEAD:
    case SWIM_UPD_LEFT:
        changed = s_apply_dead_or_left (self, u);
        break;
    default:
        break;
    }
    if (changed)
        self->stats.updates_applied++;
    return changed;
}
