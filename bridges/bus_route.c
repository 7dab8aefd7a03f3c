/*
 * bus_route.c - events and subscriptions along the routing tree
 * (docs/events.md, "Routing tree").
 *
 * `wanted` counts, per prefix, its sources: each consumer XPUB and each
 * link whose side asked for it. We ask link L for prefix p iff some source
 * other than L wants p (so a subscription travels toward every producer,
 * never back where it came from), and we send an event to L iff L asked
 * for it and the event did not come from L (split horizon). Events are
 * accepted only from members, never with our own origin (a loop), and
 * once per (origin, boot, first seq) while the tree is being recomputed.
 */
#include "bridges/bus_internal.h"
#include "common/log.h"

#include <inttypes.h>

#define S_COMP        "bus"
#define S_ORIGINS_MAX 4096 /* duplicate filters kept */

/* ------------------------------------------------------------------------ */
/*  Link messages                                                           */
/* ------------------------------------------------------------------------ */

int
bus_link_parse (const uint8_t *data, size_t len, int *type, const uint8_t **body, size_t *body_len,
                char name[EVENT_NODE_MAX + 1])
{
    if (len < 1)
        return -1;
    *type = data[0];
    *body = data + 1;
    *body_len = len - 1;
    switch (*type) {
    case EVENT_LINK_SUB:
    case EVENT_LINK_UNSUB:
        return *body_len <= BUS_SUB_MAX * 2 ? 0 : -1;
    case EVENT_LINK_HELLO:
        if (*body_len < 1 || *body_len > EVENT_NODE_MAX)
            return -1;
        memcpy (name, *body, *body_len);
        name[*body_len] = 0;
        /* The whole body is the name: a NUL inside would hide the rest. */
        return strlen (name) == *body_len && event_node_valid (name) ? 0 : -1;
    case EVENT_LINK_PING:
    case EVENT_LINK_BYE:
        return *body_len == 0 ? 0 : -1;
    default:
        return -1;
    }
}

long
bus_tree_parent (size_t idx)
{
    return idx == 0 ? -1 : (long) ((idx - 1) / BUS_TREE_FANOUT);
}

static void
s_link_sub (bus_actor_t *self, bus_link_t *link, int on, const uint8_t *data, size_t len)
{
    uint8_t msg[BUS_SUB_MAX * 2 + 1];
    if (len + 1 > sizeof msg)
        return;
    msg[0] = on ? EVENT_LINK_SUB : EVENT_LINK_UNSUB;
    memcpy (msg + 1, data, len);
    bus_link_send (self, link, msg, len + 1);
}

/* ------------------------------------------------------------------------ */
/*  Snapshots between neighbours                                            */
/* ------------------------------------------------------------------------ */

/* Ask a neighbour for the last values under `prefixes` (its side's). */
static void
s_snap_request (bus_actor_t *self, bus_link_t *link, const uint8_t *prefixes[], const size_t lens[],
                size_t n)
{
    if (n == 0)
        return;
    bus_pending_t *pend = (bus_pending_t *) calloc (1, sizeof (bus_pending_t));
    if (!pend)
        return;
    /* Unique among its requesters: our random boot id + a counter. */
    snprintf (pend->nonce, sizeof pend->nonce, "%016" PRIx64 "%" PRIx64, self->boot,
              ++self->nonce_counter);
    pend->deadline = zclock_mono () + EVENT_SNAP_WAIT_MS;
    uint8_t req[BUS_SUB_MAX * 2];
    size_t len =
        (size_t) snprintf ((char *) req, sizeof req, "%s%s", BUS_SNAPREQ_ROUTE, pend->nonce) + 1;
    for (size_t i = 0; i < n && len + lens[i] + 1 <= sizeof req; i++) {
        memcpy (req + len, prefixes[i], lens[i]);
        len += lens[i];
        req[len++] = 0;
    }
    s_link_sub (self, link, 1, req, len);
    zlistx_add_end (link->pending, pend);
    self->peer_snaps_pending++;
}

static bool
s_snapshotable (const uint8_t *p, size_t len)
{
    return len > 0 && p[0] != EVENT_CTL_CHAR && bus_prefix_touches_state (p, len)
           && !memchr (p, 0, len); /* exact-topic subscriptions: not expressible */
}

/* A neighbour asks for our last values: like a consumer's request, it
 * waits (briefly) for our own requests to our other neighbours. */
static void
s_link_snapreq (bus_actor_t *self, bus_link_t *link, const uint8_t *data, size_t len)
{
    size_t inflight = 0;
    for (bus_request_t *r = (bus_request_t *) zlistx_first (self->requests); r;
         r = (bus_request_t *) zlistx_next (self->requests))
        inflight += !r->sock && streq (r->link, link->id);
    if (inflight >= BUS_SNAPREQ_INFLIGHT * 4) {
        self->c.snapreq_dropped++;
        return;
    }
    bus_request_t *req = (bus_request_t *) calloc (1, sizeof (bus_request_t));
    if (!req)
        return;
    if (bus_snapreq_parse (data, len, req->nonce, req->prefixes, &req->nprefixes)) {
        free (req);
        self->c.malformed++;
        return;
    }
    snprintf (req->link, sizeof req->link, "%s", link->id);
    snprintf (req->who, sizeof req->who, "%s", link->id);
    /* Half the requester's wait: our answer must reach it in time. */
    req->deadline = zclock_mono () + EVENT_SNAP_WAIT_MS / 2;
    zlistx_add_end (self->requests, req);
    bus_requests_serve (self, false);
}

void
bus_requests_serve (bus_actor_t *self, bool force)
{
    int64_t now = zclock_mono ();
    bus_request_t *req = (bus_request_t *) zlistx_first (self->requests);
    while (req) {
        bool due = self->peer_snaps_pending == 0 || force || now >= req->deadline;
        if (!due) {
            req = (bus_request_t *) zlistx_next (self->requests);
            continue;
        }
        bool partial = self->peer_snaps_pending > 0;
        if (req->sock) {
            bus_xpub_t *xpub = req->sock == self->local.sock ? &self->local : &self->remote;
            bus_snapshot_serve (self, xpub, NULL, req->nonce, req->prefixes, req->nprefixes,
                                partial);
        }
        else {
            bus_link_t *link = bus_link_find (self, req->link);
            if (link && !link->gone)
                bus_snapshot_serve (self, NULL, link, req->nonce, req->prefixes, req->nprefixes,
                                    partial);
        }
        zlistx_delete (self->requests, zlistx_cursor (self->requests));
        req = (bus_request_t *) zlistx_first (self->requests);
    }
}

void
bus_expire (bus_actor_t *self)
{
    int64_t now = zclock_mono ();
    bus_link_t *links[BUS_CHILDREN_MAX + 1];
    size_t n = bus_links_all (self, links);
    for (size_t i = 0; i < n; i++) {
        bus_pending_t *p = (bus_pending_t *) zlistx_first (links[i]->pending);
        while (p) {
            if (now >= p->deadline) {
                self->c.peer_snaps_timeout++;
                zlistx_delete (links[i]->pending, zlistx_cursor (links[i]->pending));
                self->peer_snaps_pending--;
                p = (bus_pending_t *) zlistx_first (links[i]->pending);
            }
            else
                p = (bus_pending_t *) zlistx_next (links[i]->pending);
        }
    }
    bus_requests_serve (self, false);
}

/* ------------------------------------------------------------------------ */
/*  Subscriptions                                                           */
/* ------------------------------------------------------------------------ */

/* Bring every link's `out` in line with `wanted` for one prefix. */
static void
s_route_update (bus_actor_t *self, const uint8_t *data, size_t len)
{
    bus_sub_t *w = bus_subs_find (&self->wanted, data, len);
    int total = w ? w->refs : 0;
    bus_link_t *links[BUS_CHILDREN_MAX + 1];
    size_t n = bus_links_all (self, links);
    for (size_t i = 0; i < n; i++) {
        bus_link_t *l = links[i];
        bool should = total - (bus_subs_find (&l->in, data, len) ? 1 : 0) > 0;
        bool has = bus_subs_find (&l->out, data, len) != NULL;
        if (should && !has && bus_subs_add (&l->out, data, len) == 1) {
            s_link_sub (self, l, 1, data, len);
            if (s_snapshotable (data, len)) {
                const uint8_t *pp[1] = { data };
                size_t pl[1] = { len };
                s_snap_request (self, l, pp, pl, 1);
            }
        }
        else if (!should && has) {
            bus_subs_remove (&l->out, data, len);
            s_link_sub (self, l, 0, data, len);
        }
    }
}

void
bus_route_sub (bus_actor_t *self, bus_link_t *from, int on, const uint8_t *data, size_t len)
{
    if (from) {
        /* A link's subscriptions are a set: a repeat changes nothing. */
        bool has = bus_subs_find (&from->in, data, len) != NULL;
        if (on == has)
            return;
        if (on ? bus_subs_add (&from->in, data, len) != 1
               : bus_subs_remove (&from->in, data, len) != 1)
            return;
    }
    int r =
        on ? bus_subs_add (&self->wanted, data, len) : bus_subs_remove (&self->wanted, data, len);
    if (r < 0) {
        if (from)
            bus_subs_remove (&from->in, data, len);
        return;
    }
    s_route_update (self, data, len);
    if (!on && r == 1)
        bus_cache_purge (self, NULL, 0, data, len);
}

void
bus_route_link_up (bus_actor_t *self, bus_link_t *link)
{
    const uint8_t *pp[EVENT_PREFIXES_MAX];
    size_t pl[EVENT_PREFIXES_MAX], np = 0;
    for (size_t i = 0; i < self->wanted.n; i++) {
        bus_sub_t *w = &self->wanted.items[i];
        bool should = w->refs - (bus_subs_find (&link->in, w->data, w->len) ? 1 : 0) > 0;
        if (!should || bus_subs_find (&link->out, w->data, w->len)
            || bus_subs_add (&link->out, w->data, w->len) != 1)
            continue;
        s_link_sub (self, link, 1, w->data, w->len);
        if (s_snapshotable (w->data, w->len)) {
            pp[np] = w->data;
            pl[np] = w->len;
            if (++np == EVENT_PREFIXES_MAX) {
                s_snap_request (self, link, pp, pl, np);
                np = 0;
            }
        }
    }
    s_snap_request (self, link, pp, pl, np);
}

void
bus_route_link_gone (bus_actor_t *self, bus_link_t *link)
{
    bool was = link->gone;
    link->gone = true; /* out of s_route_update's view */
    bus_subs_t in = link->in;
    memset (&link->in, 0, sizeof link->in);
    bus_subs_clear (&link->out);
    for (size_t i = 0; i < in.n; i++) {
        int r = bus_subs_remove (&self->wanted, in.items[i].data, in.items[i].len);
        s_route_update (self, in.items[i].data, in.items[i].len);
        if (r == 1)
            bus_cache_purge (self, NULL, 0, in.items[i].data, in.items[i].len);
    }
    bus_subs_clear (&in);
    self->peer_snaps_pending -= zlistx_size (link->pending);
    zlistx_purge (link->pending);
    /* Its requests die with it. */
    bus_request_t *r = (bus_request_t *) zlistx_first (self->requests);
    while (r) {
        if (!r->sock && streq (r->link, link->id)) {
            zlistx_delete (self->requests, zlistx_cursor (self->requests));
            r = (bus_request_t *) zlistx_first (self->requests);
        }
        else
            r = (bus_request_t *) zlistx_next (self->requests);
    }
    link->up = false;
    link->gone = was;
}

/* ------------------------------------------------------------------------ */
/*  Events                                                                  */
/* ------------------------------------------------------------------------ */

size_t
bus_route_fanout (bus_actor_t *self, bus_link_t *from, zmq_msg_t *msg, size_t nevents)
{
    const uint8_t *frame = (const uint8_t *) zmq_msg_data (msg);
    size_t len = zmq_msg_size (msg), links = 0;
    uint64_t *consumers = from ? &self->c.peer_forwarded : &self->c.consumer_sent;
    bus_xpub_t *xpubs[2] = { &self->local, &self->remote };
    for (int i = 0; i < 2; i++) {
        bus_xpub_t *x = xpubs[i];
        if (!x->sock || !bus_subs_match (&x->subs, frame, len))
            continue;
        zmq_msg_t ref;
        zmq_msg_init (&ref);
        zmq_msg_copy (&ref, msg);
        if (zmq_msg_send (&ref, zsock_resolve (x->sock), ZMQ_DONTWAIT) < 0) {
            zmq_msg_close (&ref);
            self->c.send_errors++;
        }
        else
            *consumers += nevents;
    }
    if (self->up && self->up != from && !self->up->gone
        && bus_subs_match (&self->up->in, frame, len)
        && bus_link_send_msg (self, self->up, msg) == 0)
        links++;
    for (size_t i = 0; i < self->nkids; i++) {
        bus_link_t *l = self->kids[i];
        if (l != from && !l->gone && bus_subs_match (&l->in, frame, len)
            && bus_link_send_msg (self, l, msg) == 0)
            links++;
    }
    if (from)
        self->c.relayed += links * nevents;
    return links;
}

/* Seen (origin, boot, first seq) before? Records it if not. */
static bool
s_duplicate (bus_actor_t *self, const char *origin, uint64_t boot, uint64_t seq)
{
    bus_origin_t *o = (bus_origin_t *) zhashx_lookup (self->origins, origin);
    if (!o) {
        if (zhashx_size (self->origins) >= S_ORIGINS_MAX)
            return false; /* no filter: churn may then repeat an event */
        o = (bus_origin_t *) calloc (1, sizeof (bus_origin_t));
        if (!o)
            return false;
        zhashx_insert (self->origins, origin, o);
    }
    if (o->boot != boot) {
        /* The origin restarted: its old last values are history. */
        if (o->boot)
            bus_cache_purge (self, origin, boot, NULL, 0);
        memset (o, 0, sizeof *o);
        o->boot = boot;
    }
    if (seq <= o->high) {
        /* Out of order: only while the tree changes (two paths). */
        for (size_t i = 0; i < BUS_DEDUP_RING; i++)
            if (o->ring[i] == seq)
                return true;
    }
    else
        o->high = seq;
    o->ring[o->at++ % BUS_DEDUP_RING] = seq;
    return false;
}

/* A peeked frame's kind (not NUL-terminated in the frame) as a string, into
 * kind[EVENT_KIND_MAX + 1]. */
static void
s_peek_kind (const event_peek_t *pk, char *kind)
{
    size_t kl = pk->kind_len < EVENT_KIND_MAX ? pk->kind_len : EVENT_KIND_MAX;
    memcpy (kind, pk->kind, kl);
    kind[kl] = 0;
}

/* Cache the last value a live frame carries (a batch: its last event, kept
 * as the single EVENT it stands for). */
static void
s_cache_live (bus_actor_t *self, bus_link_t *link, const event_peek_t *pk, zmq_msg_t *msg)
{
    if (pk->type == EVENT_EVENT) {
        bus_cache_put (self, pk->origin, pk->boot, pk->tseq, pk->route, link->id, msg, NULL, 0);
        return;
    }
    event_item_view_t it, last;
    memset (&last, 0, sizeof last);
    event_batch_pos_t pos;
    event_batch_start (pk, &pos);
    while (event_batch_next (pk, &pos, &it) == 0)
        last = it;
    event_msg_t m;
    m.hdr.version = EVENT_VERSION_SINGLE;
    m.hdr.type = EVENT_EVENT;
    event_event_t *ev = &m.u.event_event;
    memcpy (ev->origin, pk->origin, sizeof ev->origin);
    ev->boot = pk->boot;
    ev->seq = last.seq;
    ev->tseq = last.tseq;
    ev->time_us = last.time_us;
    s_peek_kind (pk, ev->kind);
    ev->payload.data = (uint8_t *) (uintptr_t) last.payload;
    ev->payload.len = last.payload_len;
    ev->topic[0] = 0;
    long flen = event_frame_encode (pk->route, &m, self->buf, EVENT_FRAME_MAX);
    if (flen > 0)
        bus_cache_put (self, pk->origin, pk->boot, last.tseq, pk->route, link->id, NULL, self->buf,
                       (size_t) flen);
}

/* A peeked batch encoded again at self->batch_version, into a new
 * message (*out, the caller closes it). 0, or -1 (out untouched). */
static int
s_recode (bus_actor_t *self, const event_peek_t *pk, zmq_msg_t *out)
{
    event_item_t items[EVENT_BATCH_MAX];
    size_t n = 0;
    event_item_view_t it;
    event_batch_pos_t pos;
    event_batch_start (pk, &pos);
    while (n < EVENT_BATCH_MAX && event_batch_next (pk, &pos, &it) == 0) {
        memset (&items[n], 0, sizeof items[n]);
        items[n].seq = it.seq;
        items[n].tseq = it.tseq;
        items[n].time_us = it.time_us;
        items[n].payload.data = (uint8_t *) (uintptr_t) it.payload; /* read only */
        items[n].payload.len = it.payload_len;
        n++;
    }
    event_batch_t b;
    memset (&b, 0, sizeof b);
    memcpy (b.origin, pk->origin, sizeof b.origin);
    b.boot = pk->boot;
    s_peek_kind (pk, b.kind);
    b.items.n = n;
    b.items.items = items;
    long flen = event_batch_encode (pk->route, &b, self->batch_version, self->buf, EVENT_FRAME_MAX);
    if (flen <= 0 || zmq_msg_init_size (out, (size_t) flen) != 0)
        return -1;
    memcpy (zmq_msg_data (out), self->buf, (size_t) flen);
    return 0;
}

/* A live event or batch from a link: checked by a field-level peek (no
 * decode, no allocation), cached by reference if state-like, and the very
 * same message sent on (a batch above our batch_version: re-encoded at it
 * first). */
static void
s_recv_live (bus_actor_t *self, bus_link_t *link, zmq_msg_t *msg)
{
    const uint8_t *frame = (const uint8_t *) zmq_msg_data (msg);
    size_t len = zmq_msg_size (msg);
    event_peek_t pk;
    if (event_frame_peek (frame, len, &pk) != 0 || !event_topic_valid (pk.route)
        || (pk.type != EVENT_EVENT && pk.type != EVENT_BATCH) || pk.has_topic
        || !event_node_valid (pk.origin)) {
        self->c.malformed++;
        return;
    }
    if (streq (pk.origin, self->name)) {
        self->c.forged++; /* ours, back again: a loop, or a lie */
        return;
    }
    if (!zhashx_lookup (self->members, pk.origin)) {
        self->c.unknown_origin++;
        return;
    }
    uint64_t first = pk.seq;
    if (pk.type == EVENT_BATCH) {
        event_item_view_t it;
        event_batch_pos_t pos;
        event_batch_start (&pk, &pos);
        first = event_batch_next (&pk, &pos, &it) == 0 ? it.seq : 0;
    }
    if (s_duplicate (self, pk.origin, pk.boot, first)) {
        self->c.dups++;
        return;
    }
    size_t nevents = pk.type == EVENT_BATCH ? pk.nitems : 1;
    self->c.peer_recv += nevents;
    if (pk.type == EVENT_BATCH)
        self->c.batches_recv++;
    if (event_topic_is_state (pk.route))
        s_cache_live (self, link, &pk, msg);
    if (pk.type == EVENT_BATCH && pk.version > self->batch_version) {
        /* The origin had not yet heard of a member we know that reads
         * only older batches (or no longer has it): sent on as is, the
         * batch would be lost there (docs/events.md, "Mixed versions"). */
        zmq_msg_t older;
        if (s_recode (self, &pk, &older) == 0) {
            self->c.batches_recoded++;
            bus_route_fanout (self, link, &older, nevents);
            zmq_msg_close (&older);
            return;
        }
        /* Only a batch close to EVENT_FRAME_MAX (no bus gathers one that
         * large: EVENT_BATCH_BYTES) outgrows it at version 2: counted,
         * and sent on as it came, so version-3 readers still get it. */
        self->c.invalid += nevents;
    }
    bus_route_fanout (self, link, msg, nevents);
}

/* A snapshot reply from a neighbour: items fill our cache, SNAP_END
 * closes the request. */
static void
s_recv_snap (bus_actor_t *self, bus_link_t *link, const uint8_t *frame, size_t len)
{
    const char *route;
    event_msg_t ev;
    if (event_frame_decode (frame, len, &route, &ev) != 0) {
        self->c.malformed++;
        return;
    }
    size_t rl = strlen (EVENT_SNAP_ROUTE);
    const char *nonce = strncmp (route, EVENT_SNAP_ROUTE, rl) == 0 ? route + rl : "";
    if (ev.hdr.type == EVENT_EVENT) {
        event_event_t *e = &ev.u.event_event;
        if (!event_topic_valid (e->topic) || streq (e->origin, self->name))
            self->c.forged++;
        else if (!zhashx_lookup (self->members, e->origin))
            self->c.unknown_origin++;
        else if (event_topic_is_state (e->topic)) {
            /* Cached in live form (route = topic, no topic field), so later
             * snapshots and purges treat it like any other. */
            char topic[EVENT_TOPIC_MAX + 1];
            memcpy (topic, e->topic, sizeof topic);
            e->topic[0] = 0;
            long flen = event_frame_encode (topic, &ev, self->buf, EVENT_FRAME_MAX);
            if (flen > 0)
                bus_cache_put (self, e->origin, e->boot, e->tseq, topic, link->id, NULL, self->buf,
                               (size_t) flen);
        }
    }
    else if (ev.hdr.type == EVENT_SNAP_END) {
        for (bus_pending_t *p = (bus_pending_t *) zlistx_first (link->pending); p;
             p = (bus_pending_t *) zlistx_next (link->pending))
            if (streq (p->nonce, nonce)) {
                self->c.peer_snaps_done++;
                zlistx_delete (link->pending, zlistx_cursor (link->pending));
                self->peer_snaps_pending--;
                bus_requests_serve (self, false);
                break;
            }
    }
    wire_msg_free (&event_proto, &ev);
}

void
bus_route_recv (bus_actor_t *self, bus_link_t *link, zmq_msg_t *msg)
{
    const uint8_t *data = (const uint8_t *) zmq_msg_data (msg);
    size_t len = zmq_msg_size (msg);
    if (len == 0 || len > EVENT_FRAME_MAX)
        self->c.malformed++;
    else if (data[0] < 0x20) {
        int type;
        const uint8_t *body;
        size_t blen;
        char name[EVENT_NODE_MAX + 1];
        if (bus_link_parse (data, len, &type, &body, &blen, name) != 0)
            self->c.malformed++;
        else if (type == EVENT_LINK_SUB || type == EVENT_LINK_UNSUB) {
            size_t rl = strlen (BUS_SNAPREQ_ROUTE);
            if (blen > 0 && body[0] == EVENT_CTL_CHAR) {
                if (type == EVENT_LINK_SUB && blen > rl
                    && memcmp (body, BUS_SNAPREQ_ROUTE, rl) == 0)
                    s_link_snapreq (self, link, body, blen);
            }
            else
                bus_route_sub (self, link, type == EVENT_LINK_SUB, body, blen);
        }
        else if (type == EVENT_LINK_BYE && !link->parent) {
            link->gone = true;
            self->reap_due = true;
        }
        /* PING: nothing to do; HELLO from a parent: ignored. */
    }
    else if (data[0] == EVENT_CTL_CHAR)
        s_recv_snap (self, link, data, len);
    else
        s_recv_live (self, link, msg); /* the cache and the sends took references */
    zmq_msg_close (msg);
}
