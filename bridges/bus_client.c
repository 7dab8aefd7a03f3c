/* bus_client.c - see bus_client.h. */
#include "bridges/bus_client.h"

#include "cluster/zmq_limits.h"
#include "cluster/zap.h"

#include <sodium.h>
#include <zmq.h>

#define S_SNAPREQ_ROUTE "$snapreq."
#define S_PREFIXES_MAX  EVENT_PREFIXES_MAX

/* Last sequence seen on one (origin, topic). */
typedef struct {
    uint64_t boot;
    uint64_t tseq;
    bool set; /* has seen an event */
} s_track_t;

/* A decoded event waiting in the queue. */
typedef struct {
    event_msg_t msg;
    bool snapshot;
    uint64_t gap;
} s_item_t;

struct _bus_client_t {
    zsock_t *sub;
    zlistx_t *prefixes;    /* char *: what we subscribed to */
    zlistx_t *queue;       /* s_item_t: ready for recv */
    zhashx_t *tracks;      /* "origin\x1ftopic" -> s_track_t */
    event_msg_t current;   /* the event recv last returned (owns payload) */
    zmq_msg_t current_msg; /* or the frame it points into (fast path) */
    bool has_msg;
    bool in_batch;          /* current_msg is an EVENT_BATCH being walked */
    event_peek_t bpk;       /* its peek (pointers into current_msg) */
    event_batch_pos_t bpos; /* next item */
    size_t broute_len;      /* strlen of its route (the topic) */
    s_track_t *btrack;      /* its (origin, topic) track, once looked up */
    uint64_t received, gaps, duplicates, malformed;
};

static void
s_item_destroy (void **item)
{
    s_item_t *it = (s_item_t *) *item;
    if (it) {
        wire_msg_free (&event_proto, &it->msg);
        free (it);
        *item = NULL;
    }
}

static void
s_str_destroy (void **item)
{
    free (*item);
    *item = NULL;
}

bus_client_t *
bus_client_new (const char *endpoint, const uint8_t *server_key, const uint8_t *public_key,
                const uint8_t *secret_key)
{
    return bus_client_new_hwm (endpoint, server_key, public_key, secret_key, 0);
}

bus_client_t *
bus_client_new_hwm (const char *endpoint, const uint8_t *server_key, const uint8_t *public_key,
                    const uint8_t *secret_key, int rcvhwm)
{
    if (!endpoint)
        return NULL;
    bus_client_t *self = (bus_client_t *) zmalloc (sizeof (bus_client_t));
    assert (self);
    self->sub = zsock_new (ZMQ_SUB);
    self->prefixes = zlistx_new ();
    self->queue = zlistx_new ();
    self->tracks = zhashx_new ();
    assert (self->sub && self->prefixes && self->queue && self->tracks);
    zlistx_set_destructor (self->prefixes, s_str_destroy);
    zlistx_set_destructor (self->queue, s_item_destroy);
    zhashx_set_destructor (self->tracks, s_str_destroy);
    void *h = zsock_resolve (self->sub);
    int hwm = rcvhwm > 0 ? rcvhwm : EVENT_SNDHWM, zero = 0;
    zmq_setsockopt (h, ZMQ_RCVHWM, &hwm, sizeof hwm);
    zmq_setsockopt (h, ZMQ_LINGER, &zero, sizeof zero);
    shed_zmq_ipv6_for (h, endpoint); /* a node on an IPv6 underlay: tcp://[v6]:port */
    int rc = 0;
    if (server_key) {
        if (!public_key || !secret_key)
            rc = -1;
        else
            rc = zap_secure_client (self->sub, server_key, public_key, secret_key);
    }
    if (rc || zmq_connect (h, endpoint) != 0) {
        bus_client_destroy (&self);
        return NULL;
    }
    return self;
}

void
bus_client_destroy (bus_client_t **self_p)
{
    assert (self_p);
    bus_client_t *self = *self_p;
    if (!self)
        return;
    zsock_destroy (&self->sub);
    zlistx_destroy (&self->prefixes);
    zlistx_destroy (&self->queue);
    zhashx_destroy (&self->tracks);
    wire_msg_free (&event_proto, &self->current);
    if (self->has_msg)
        zmq_msg_close (&self->current_msg);
    free (self);
    *self_p = NULL;
}

static int
s_setsub (bus_client_t *self, int opt, const void *data, size_t len)
{
    return zmq_setsockopt (zsock_resolve (self->sub), opt, data, len);
}

int
bus_client_subscribe (bus_client_t *self, const char *prefix)
{
    assert (self);
    if (!prefix || strlen (prefix) > EVENT_TOPIC_MAX || prefix[0] == EVENT_CTL_CHAR
        || zlistx_size (self->prefixes) >= S_PREFIXES_MAX)
        return -1;
    if (s_setsub (self, ZMQ_SUBSCRIBE, prefix, strlen (prefix)))
        return -1;
    zlistx_add_end (self->prefixes, strdup (prefix));
    return 0;
}

int
bus_client_unsubscribe (bus_client_t *self, const char *prefix)
{
    assert (self);
    for (char *p = (char *) zlistx_first (self->prefixes); p;
         p = (char *) zlistx_next (self->prefixes))
        if (streq (p, prefix)) {
            zlistx_delete (self->prefixes, zlistx_cursor (self->prefixes));
            return s_setsub (self, ZMQ_UNSUBSCRIBE, prefix, strlen (prefix));
        }
    return -1;
}

zsock_t *
bus_client_sock (bus_client_t *self)
{
    assert (self);
    return self->sub;
}

/* The track of (origin, topic), created (not yet set) if new; NULL when
 * the names are out of bounds. */
static s_track_t *
s_track_get (bus_client_t *self, const char *origin, const char *topic)
{
    char key[EVENT_NODE_MAX + EVENT_TOPIC_MAX + 3];
    size_t ol = strlen (origin), tl = strlen (topic);
    if (ol > EVENT_NODE_MAX || tl > EVENT_TOPIC_MAX)
        return NULL;
    memcpy (key, origin, ol);
    key[ol] = 0x1f;
    memcpy (key + ol + 1, topic, tl + 1);
    s_track_t *t = (s_track_t *) zhashx_lookup (self->tracks, key);
    if (!t) {
        t = (s_track_t *) zmalloc (sizeof (s_track_t));
        assert (t);
        zhashx_insert (self->tracks, key, t);
    }
    return t;
}

/* Sequence bookkeeping for one event on its track. Returns false if it
 * must not be delivered: a duplicate, or (covered) a live state event that
 * the snapshot already reflects. */
static bool
s_track_apply (bus_client_t *self, s_track_t *t, uint64_t boot, uint64_t tseq, bool covered_ok,
               uint64_t *gap)
{
    *gap = 0;
    if (!t->set || t->boot != boot) {
        t->set = true;
        t->boot = boot; /* new, or the origin restarted: a new series */
        t->tseq = tseq;
        return true;
    }
    if (tseq <= t->tseq) {
        if (!covered_ok)
            self->duplicates++;
        return false;
    }
    *gap = tseq - t->tseq - 1;
    self->gaps += *gap;
    t->tseq = tseq;
    return true;
}

static bool
s_track_raw (bus_client_t *self, const char *origin, const char *topic, uint64_t boot,
             uint64_t tseq, bool covered_ok, uint64_t *gap)
{
    *gap = 0;
    if (tseq == 0)
        return true; /* untracked topic at the origin */
    s_track_t *t = s_track_get (self, origin, topic);
    return t ? s_track_apply (self, t, boot, tseq, covered_ok, gap) : true;
}

static bool
s_track (bus_client_t *self, const event_event_t *ev, bool covered_ok, uint64_t *gap)
{
    return s_track_raw (self, ev->origin, ev->topic, ev->boot, ev->tseq, covered_ok, gap);
}

/* Read one frame (no wait). Returns 1 for live events (added to `live`:
 * one, or each event of a batch), 2 for a control frame (route in
 * *route_out, message in *item_p), 0 when nothing is left, -1 on an
 * unusable frame. */
static int
s_read (bus_client_t *self, zlistx_t *live, s_item_t **item_p, char *route_out, size_t route_cap)
{
    zmq_msg_t msg;
    zmq_msg_init (&msg);
    if (zmq_msg_recv (&msg, zsock_resolve (self->sub), ZMQ_DONTWAIT) < 0) {
        zmq_msg_close (&msg);
        return 0;
    }
    s_item_t *item = (s_item_t *) zmalloc (sizeof (s_item_t));
    assert (item);
    const char *route;
    int rc = zmq_msg_more (&msg) ? -1
                                 : event_frame_decode ((const uint8_t *) zmq_msg_data (&msg),
                                                       zmq_msg_size (&msg), &route, &item->msg);
    if (rc) {
        self->malformed++;
        free (item);
        /* drain a multi-part message */
        while (zmq_msg_more (&msg) && zmq_msg_recv (&msg, zsock_resolve (self->sub), 0) >= 0)
            ;
        zmq_msg_close (&msg);
        return -1;
    }
    snprintf (route_out, route_cap, "%s", route);
    zmq_msg_close (&msg);
    if (route_out[0] == EVENT_CTL_CHAR) {
        *item_p = item;
        return 2;
    }
    if (item->msg.hdr.type == EVENT_BATCH) {
        /* Each event of the batch becomes the EVENT it stands for. */
        const event_batch_t *b = &item->msg.u.event_batch;
        for (size_t i = 0; i < b->items.n; i++) {
            const event_item_t *it = &b->items.items[i];
            s_item_t *one = (s_item_t *) zmalloc (sizeof (s_item_t));
            assert (one);
            one->msg.hdr.version = EVENT_VERSION_SINGLE;
            one->msg.hdr.type = EVENT_EVENT;
            event_event_t *e = &one->msg.u.event_event;
            memcpy (e->origin, b->origin, sizeof e->origin);
            memcpy (e->kind, b->kind, sizeof e->kind);
            snprintf (e->topic, sizeof e->topic, "%s", route_out);
            e->boot = b->boot;
            e->seq = it->seq;
            e->tseq = it->tseq;
            e->time_us = it->time_us;
            if (it->payload.len) {
                e->payload.data = (uint8_t *) malloc (it->payload.len);
                assert (e->payload.data);
                memcpy (e->payload.data, it->payload.data, it->payload.len);
                e->payload.len = it->payload.len;
            }
            zlistx_add_end (live, one);
        }
        s_item_destroy ((void **) &item);
        return 1;
    }
    if (item->msg.hdr.type != EVENT_EVENT) {
        self->malformed++;
        s_item_destroy ((void **) &item);
        return -1;
    }
    zlistx_add_end (live, item);
    return 1;
}

static int
s_wait (bus_client_t *self, int64_t deadline)
{
    int timeout = -1;
    if (deadline >= 0) {
        int64_t left = deadline - zclock_mono ();
        timeout = left > 0 ? (int) left : 0;
    }
    zmq_pollitem_t item = { zsock_resolve (self->sub), 0, ZMQ_POLLIN, 0 };
    return zmq_poll (&item, 1, timeout) > 0 ? 0 : -1;
}

int
bus_client_snapshot (bus_client_t *self, int timeout_ms)
{
    assert (self);
    char nonce[EVENT_NONCE_MAX + 1];
    uint8_t rnd[8];
    randombytes_buf (rnd, sizeof rnd);
    for (int i = 0; i < 8; i++)
        snprintf (nonce + i * 2, 3, "%02x", rnd[i]);
    char route[sizeof EVENT_SNAP_ROUTE + EVENT_NONCE_MAX];
    int rl = snprintf (route, sizeof route, "%s%s", EVENT_SNAP_ROUTE, nonce);

    /* The reply route (exact: with its NUL), then the request; the node
     * reads them in this order on our one pipe. */
    uint8_t req[EVENT_PREFIXES_MAX * (EVENT_TOPIC_MAX + 1) + 64];
    size_t len = (size_t) snprintf ((char *) req, sizeof req, "%s%s", S_SNAPREQ_ROUTE, nonce) + 1;
    for (char *p = (char *) zlistx_first (self->prefixes); p;
         p = (char *) zlistx_next (self->prefixes)) {
        size_t pl = strlen (p);
        memcpy (req + len, p, pl + 1);
        len += pl + 1;
    }
    s_setsub (self, ZMQ_SUBSCRIBE, route, (size_t) rl + 1);
    s_setsub (self, ZMQ_SUBSCRIBE, req, len);

    zlistx_t *live = zlistx_new ();  /* live events while we wait */
    zlistx_t *items = zlistx_new (); /* snapshot items */
    assert (live && items);
    zlistx_set_destructor (live, s_item_destroy);
    zlistx_set_destructor (items, s_item_destroy);
    /* The rest of a batch we were walking is live and older than all that
     * follows: it goes through the same merge as what arrives meanwhile. */
    event_item_view_t it;
    while (self->in_batch && event_batch_next (&self->bpk, &self->bpos, &it) == 0) {
        s_item_t *one = (s_item_t *) zmalloc (sizeof (s_item_t));
        assert (one);
        one->msg.hdr.version = EVENT_VERSION_SINGLE;
        one->msg.hdr.type = EVENT_EVENT;
        event_event_t *e = &one->msg.u.event_event;
        memcpy (e->origin, self->bpk.origin, sizeof e->origin);
        memcpy (e->kind, self->bpk.kind, self->bpk.kind_len);
        snprintf (e->topic, sizeof e->topic, "%s", self->bpk.route);
        e->boot = self->bpk.boot;
        e->seq = it.seq;
        e->tseq = it.tseq;
        e->time_us = it.time_us;
        if (it.payload_len) {
            e->payload.data = (uint8_t *) malloc (it.payload_len);
            assert (e->payload.data);
            memcpy (e->payload.data, it.payload, it.payload_len);
            e->payload.len = it.payload_len;
        }
        zlistx_add_end (live, one);
    }
    self->in_batch = false;
    int64_t deadline = zclock_mono () + (timeout_ms < 0 ? 0 : timeout_ms);
    int result = -1;
    while (result < 0 && s_wait (self, timeout_ms < 0 ? -1 : deadline) == 0) {
        s_item_t *item = NULL;
        char r[EVENT_TOPIC_MAX + 1];
        int rc;
        while (result < 0 && (rc = s_read (self, live, &item, r, sizeof r)) != 0) {
            if (rc == 2 && streq (r, route) && item->msg.hdr.type == EVENT_EVENT
                && event_topic_valid (item->msg.u.event_event.topic)) {
                item->snapshot = true;
                zlistx_add_end (items, item);
            }
            else if (rc == 2 && streq (r, route) && item->msg.hdr.type == EVENT_SNAP_END) {
                result = (int) zlistx_size (items);
                s_item_destroy ((void **) &item);
            }
            else if (rc == 2)
                s_item_destroy ((void **) &item); /* someone else's snapshot */
        }
    }
    s_setsub (self, ZMQ_UNSUBSCRIBE, req, len);
    s_setsub (self, ZMQ_UNSUBSCRIBE, route, (size_t) rl + 1);

    /* Snapshot items first (they set each topic's sequence), then the live
     * events that arrived meanwhile, minus those the snapshot covers. */
    s_item_t *item;
    while ((item = (s_item_t *) zlistx_detach (items, NULL))) {
        if (s_track (self, &item->msg.u.event_event, false, &item->gap))
            zlistx_add_end (self->queue, item);
        else
            s_item_destroy ((void **) &item);
    }
    while ((item = (s_item_t *) zlistx_detach (live, NULL))) {
        bool state = event_topic_is_state (item->msg.u.event_event.topic);
        if (s_track (self, &item->msg.u.event_event, state, &item->gap))
            zlistx_add_end (self->queue, item);
        else
            s_item_destroy ((void **) &item);
    }
    zlistx_destroy (&items);
    zlistx_destroy (&live);
    return result;
}

static void s_release_current (bus_client_t *self);

static void
s_fill (bus_client_t *self, s_item_t *item, bus_event_t *ev)
{
    s_release_current (self);
    self->current = item->msg; /* take ownership of the payload */
    const event_event_t *e = &self->current.u.event_event;
    memcpy (ev->topic, e->topic, sizeof ev->topic);
    memcpy (ev->origin, e->origin, sizeof ev->origin);
    memcpy (ev->kind, e->kind, sizeof ev->kind);
    ev->boot = e->boot;
    ev->seq = e->seq;
    ev->tseq = e->tseq;
    ev->time_us = e->time_us;
    ev->payload = e->payload.data;
    ev->size = e->payload.len;
    ev->snapshot = item->snapshot;
    ev->gap = item->gap;
    free (item);
    self->received++;
}

/* Drop whatever the last call returned from (decoded event or frame). */
static void
s_release_current (bus_client_t *self)
{
    wire_msg_free (&event_proto, &self->current);
    if (self->has_msg) {
        zmq_msg_close (&self->current_msg);
        self->has_msg = false;
    }
    self->in_batch = false;
}

static bool
s_kind_ok (const event_peek_t *pk)
{
    for (size_t i = 0; i < pk->kind_len; i++)
        if (pk->kind[i] < 0x21 || pk->kind[i] > 0x7e)
            return false;
    return true;
}

/* The next event of the batch in current_msg: 1 delivered, 0 none left. */
static int
s_batch_next (bus_client_t *self, bus_event_t *ev)
{
    event_item_view_t it;
    while (self->in_batch) {
        if (event_batch_next (&self->bpk, &self->bpos, &it) != 0) {
            self->in_batch = false; /* the frame stays until the next read */
            break;
        }
        uint64_t gap = 0;
        if (it.tseq) {
            if (!self->btrack)
                self->btrack = s_track_get (self, self->bpk.origin, self->bpk.route);
            if (self->btrack
                && !s_track_apply (self, self->btrack, self->bpk.boot, it.tseq, false, &gap))
                continue;
        }
        memcpy (ev->topic, self->bpk.route, self->broute_len + 1);
        memcpy (ev->origin, self->bpk.origin, sizeof ev->origin);
        memcpy (ev->kind, self->bpk.kind, self->bpk.kind_len);
        ev->kind[self->bpk.kind_len] = 0;
        ev->boot = self->bpk.boot;
        ev->seq = it.seq;
        ev->tseq = it.tseq;
        ev->time_us = it.time_us;
        ev->payload = it.payload;
        ev->size = it.payload_len;
        ev->snapshot = false;
        ev->gap = gap;
        self->received++;
        return 1;
    }
    return 0;
}

/* The live path: an event read in place. The frame stays ours (as
 * current_msg) until the next call, so the payload is not copied and
 * msgpack-c never runs (event_frame_peek). A batch is walked one event per
 * call. Control frames outside a snapshot are someone else's and skipped;
 * anything else unreadable is counted malformed. Returns 1 delivered, 0
 * nothing waiting. */
static int
s_read_fast (bus_client_t *self, bus_event_t *ev)
{
    while (true) {
        if (self->in_batch && s_batch_next (self, ev) == 1)
            return 1;
        zmq_msg_t msg;
        zmq_msg_init (&msg);
        if (zmq_msg_recv (&msg, zsock_resolve (self->sub), ZMQ_DONTWAIT) < 0) {
            zmq_msg_close (&msg);
            return 0;
        }
        const uint8_t *frame = (const uint8_t *) zmq_msg_data (&msg);
        size_t len = zmq_msg_size (&msg);
        event_peek_t pk;
        bool ok = !zmq_msg_more (&msg) && len > 0 && frame[0] != EVENT_CTL_CHAR
                  && event_frame_peek (frame, len, &pk) == 0
                  && (pk.type == EVENT_EVENT || pk.type == EVENT_BATCH) && !pk.has_topic
                  && event_topic_valid (pk.route) && s_kind_ok (&pk);
        if (!ok) {
            /* Control traffic outside a snapshot is someone else's; the
             * rest is malformed. Either way not delivered. */
            if (len == 0 || frame[0] != EVENT_CTL_CHAR)
                self->malformed++;
            while (zmq_msg_more (&msg) && zmq_msg_recv (&msg, zsock_resolve (self->sub), 0) >= 0)
                ;
            zmq_msg_close (&msg);
            continue;
        }
        if (pk.type == EVENT_BATCH) {
            s_release_current (self);
            self->current_msg = msg;
            self->has_msg = true;
            if (zmq_msg_data (&self->current_msg) != frame
                && event_frame_peek ((const uint8_t *) zmq_msg_data (&self->current_msg),
                                     zmq_msg_size (&self->current_msg), &pk)
                       != 0) {
                s_release_current (self); /* cannot happen: same bytes */
                continue;
            }
            self->bpk = pk;
            self->broute_len = strnlen (pk.route, EVENT_TOPIC_MAX);
            event_batch_start (&self->bpk, &self->bpos);
            self->btrack = NULL;
            self->in_batch = true;
            continue;
        }
        uint64_t gap;
        if (!s_track_raw (self, pk.origin, pk.route, pk.boot, pk.tseq, false, &gap)) {
            zmq_msg_close (&msg);
            continue;
        }
        s_release_current (self);
        self->current_msg = msg; /* keeps payload valid until the next call */
        self->has_msg = true;
        snprintf (ev->topic, sizeof ev->topic, "%s", pk.route);
        memcpy (ev->origin, pk.origin, sizeof ev->origin);
        memcpy (ev->kind, pk.kind, pk.kind_len);
        ev->kind[pk.kind_len] = 0;
        ev->boot = pk.boot;
        ev->seq = pk.seq;
        ev->tseq = pk.tseq;
        ev->time_us = pk.time_us;
        ev->payload = pk.payload ? pk.payload : (const uint8_t *) "";
        ev->size = pk.payload_len;
        ev->snapshot = false;
        ev->gap = gap;
        self->received++;
        return 1;
    }
}

int
bus_client_recv (bus_client_t *self, bus_event_t *ev, int timeout_ms)
{
    assert (self);
    assert (ev);
    s_item_t *item = (s_item_t *) zlistx_detach (self->queue, NULL);
    if (item) {
        s_fill (self, item, ev);
        return 0;
    }
    int64_t deadline = timeout_ms < 0 ? -1 : zclock_mono () + timeout_ms;
    while (true) {
        if (s_read_fast (self, ev) == 1)
            return 0;
        if (s_wait (self, deadline) != 0)
            return -1;
    }
}

uint64_t
bus_client_received (bus_client_t *self)
{
    assert (self);
    return self->received;
}

uint64_t
bus_client_gaps (bus_client_t *self)
{
    assert (self);
    return self->gaps;
}

uint64_t
bus_client_duplicates (bus_client_t *self)
{
    assert (self);
    return self->duplicates;
}

uint64_t
bus_client_malformed (bus_client_t *self)
{
    assert (self);
    return self->malformed;
}
