/*
 * bus.c - the event bus actor (see bus.h and docs/events.md).
 *
 * One thread owns every socket; one recv_<source> handler per socket:
 *   recv_pipe     commands and PUBLISH from the node
 *   recv_origin   peers' (un)subscriptions and snapshot requests
 *   recv_peer     a peer's own events and snapshot replies
 *   recv_consumer local / remote consumers' (un)subscriptions, snapshot
 *                 requests
 * A timer (the poller timeout) expires peer snapshot requests that got no
 * answer, so a dead peer never holds a consumer's snapshot for long.
 */
#include "bridges/bus.h"
#include "bridges/bus_internal.h"
#include "cluster/zmq_limits.h"
#include "common/log.h"

#include <errno.h>
#include <sodium.h>
#include <zmq.h>

#define S_COMP "bus"

/* Hidden behind ZMQ_BUILD_DRAFT_API in some libzmq 4.3 headers although
 * the stable library honours it; the number is fixed in libzmq's ABI. */
#ifndef ZMQ_ZAP_ENFORCE_DOMAIN
#define ZMQ_ZAP_ENFORCE_DOMAIN 93
#endif

#define S_SNAPREQ_ROUTE  BUS_SNAPREQ_ROUTE
#define S_SUBS_MAX       4096            /* distinct prefixes tracked per socket */
#define S_SUB_MAX        BUS_SUB_MAX
/* The last-value cache is shared by every origin and every shed: each
 * owner (an origin node and the shed its topic names, see s_cache_owner)
 * may hold at most this many entries, and when the whole cache is full
 * the owner holding the most gives one up. A shed inventing topics only
 * ever evicts its own (docs/events.md, "Last values"). */
#define S_OWNER_CACHE_MAX 1024
#define S_OWNER_KEY_MAX  (EVENT_NODE_MAX + EVENT_TOPIC_MAX + 3)
#define S_BATCH          256             /* messages read per poll, per socket */
#define S_REDIAL_MIN_MS  100             /* first re-dial after a refused handshake */
#define S_REDIAL_MAX_MS  5000            /* backoff cap */
/* Snapshot requests one consumer may have waiting for peers at once; more
 * are dropped and counted (snapreq_dropped), so a consumer cannot grow the
 * request list or make the bus serve the same cache over and over
 * (docs/events.md, "Last values and snapshots"). */
#define S_SNAPREQ_INFLIGHT 4
#define S_WHO_MAX        128             /* a consumer's CURVE key or peer address */

/* ------------------------------------------------------------------------ */
/*  Subscription sets                                                       */
/* ------------------------------------------------------------------------ */

/* The prefixes some subscriber of an XPUB wants. A non-verbose XPUB tells
 * us only the first subscribe and the last unsubscribe of each prefix, so a
 * set (with a reference count when two sockets feed one set) is exact. */
typedef struct {
    uint8_t data [S_SUB_MAX];
    size_t len;
    int refs;
} s_sub_t;

typedef struct {
    s_sub_t *items;
    size_t n;
    size_t cap;
} s_subs_t;

static s_sub_t *
s_subs_find (s_subs_t *subs, const uint8_t *data, size_t len)
{
    for (size_t i = 0; i < subs->n; i++)
        if (subs->items [i].len == len && memcmp (subs->items [i].data, data, len) == 0)
            return &subs->items [i];
    return NULL;
}

/* Returns 1 if this made the prefix appear, 0 if it was there, -1 if full. */
static int
s_subs_add (s_subs_t *subs, const uint8_t *data, size_t len)
{
    s_sub_t *sub = s_subs_find (subs, data, len);
    if (sub) {
        sub->refs++;
        return 0;
    }
    if (len > S_SUB_MAX || subs->n >= S_SUBS_MAX)
        return -1;
    if (subs->n == subs->cap) {
        size_t cap = subs->cap ? subs->cap * 2 : 8;
        s_sub_t *items = realloc (subs->items, cap * sizeof (s_sub_t));
        assert (items);
        subs->items = items;
        subs->cap = cap;
    }
    sub = &subs->items [subs->n++];
    memcpy (sub->data, data, len);
    sub->len = len;
    sub->refs = 1;
    return 1;
}

/* Returns 1 if this made the prefix disappear, else 0. */
static int
s_subs_remove (s_subs_t *subs, const uint8_t *data, size_t len)
{
    s_sub_t *sub = s_subs_find (subs, data, len);
    if (!sub || --sub->refs > 0)
        return 0;
    *sub = subs->items [--subs->n];
    return 1;
}

/* Does any prefix match the start of this frame? */
static bool
s_subs_match (const s_subs_t *subs, const uint8_t *frame, size_t len)
{
    for (size_t i = 0; i < subs->n; i++)
        if (subs->items [i].len <= len
        &&  memcmp (subs->items [i].data, frame, subs->items [i].len) == 0)
            return true;
    return false;
}

static void
s_subs_clear (s_subs_t *subs)
{
    free (subs->items);
    memset (subs, 0, sizeof *subs);
}

/* ------------------------------------------------------------------------ */
/*  Types                                                                   */
/* ------------------------------------------------------------------------ */

/* Last value of one (origin, topic) of a state-like topic. */
typedef struct {
    char origin [EVENT_NODE_MAX + 1];
    char owner [S_OWNER_KEY_MAX];   /* s_cache_owner: whose budget it counts in */
    bool local;                     /* we are the origin */
    uint64_t boot;
    uint64_t tseq;
    zmq_msg_t msg;                  /* the live frame as published (shared, refcounted) */
    const uint8_t *frame;           /* its data */
    size_t len;
} s_entry_t;

/* A peer snapshot request in flight. */
typedef struct {
    char nonce [EVENT_NONCE_MAX + 1];
    int64_t deadline;
    uint8_t req [S_SUB_MAX * 2];    /* the request subscription, to undo it */
    size_t req_len;
} s_pending_t;

typedef struct {
    char name [EVENT_NODE_MAX + 1];
    char endpoint [256];
    uint8_t key [32];
    zsock_t *xsub;                  /* CURVE client to the peer's origin XPUB */
    zsock_t *monitor;               /* PAIR reading the xsub's handshake events */
    int64_t redial_at;              /* mono ms of the next re-dial, 0 = none due */
    int backoff_ms;                 /* next re-dial delay after a refusal */
    uint64_t boot;                  /* last boot id seen from it, 0 = none */
    zlistx_t *pending;              /* s_pending_t: snapshot requests in flight */
} s_peer_t;

/* A consumer's snapshot request waiting for peers' snapshots. */
typedef struct {
    zsock_t *sock;                  /* the XPUB it came on */
    char who [S_WHO_MAX];           /* the consumer that asked (s_read_sub) */
    char nonce [EVENT_NONCE_MAX + 1];
    char prefixes [EVENT_PREFIXES_MAX][S_SUB_MAX];
    size_t nprefixes;
    int64_t deadline;
} s_request_t;

typedef struct {
    zsock_t *sock;
    s_subs_t subs;
    char endpoint [256];            /* as bound, port resolved */
} s_xpub_t;

typedef struct {
    uint64_t published, invalid, origin_sent, origin_skipped, consumer_sent;
    uint64_t peer_recv, peer_forwarded, forged, malformed, send_errors;
    uint64_t cache_full, snapshots_served, peer_snaps_done, peer_snaps_timeout;
    uint64_t cache_evicted;         /* entries the largest owner gave up */
    uint64_t peer_refused, peer_redials;
    uint64_t batches_sent, batches_recv;
    uint64_t snapreq_dropped;       /* over S_SNAPREQ_INFLIGHT for one consumer */
} s_counters_t;

/* Events of one (topic, kind) gathered during one turn of the loop; they
 * leave as one EVENT_BATCH frame (or a plain EVENT when alone). */
#define S_OPEN_MAX 8                /* distinct (topic, kind) gathered at once */
typedef struct {
    char topic [EVENT_TOPIC_MAX + 1];
    char kind [EVENT_KIND_MAX + 1];
    bool tracked;                   /* the topic has a tseq counter */
    bool counted;                   /* ... already in self->tseqs */
    uint64_t tseq;                  /* last tseq given out (written back at flush) */
    size_t n;
    event_item_t items [EVENT_BATCH_MAX];
    uint8_t *arena;                 /* payload copies, EVENT_BATCH_BYTES + ITEM_MAX */
    size_t used;
} s_batch_t;

typedef struct {
    zsock_t *pipe;
    zpoller_t *poller;
    bool terminated;

    /* configuration (copied) */
    char name [EVENT_NODE_MAX + 1];
    uint8_t public_key [32];
    uint8_t secret_key [32];        /* wiped at exit */
    zap_t *zap;
    char origin_bind [256];
    char ipc_bind [256];
    char consumer_bind [256];
    char peers_domain [ZAP_DOMAIN_MAX + 1];
    char consumers_domain [ZAP_DOMAIN_MAX + 1];
    int sndhwm;

    zsock_t *pull;                  /* cfg->publish_endpoint: producers' events */
    s_xpub_t origin;                /* our own events, for peers */
    s_xpub_t local;                 /* ipc consumers */
    s_xpub_t remote;                /* TCP + CURVE consumers */
    s_subs_t wanted;                /* union of local and remote consumer subs */

    zhashx_t *peers;                /* name -> s_peer_t */
    zhashx_t *cache;                /* "origin\x1ftopic" -> s_entry_t */
    zhashx_t *owners;               /* owner -> entries it holds (uintptr_t) */
    zhashx_t *tseqs;                /* topic -> per-topic counter (local origin) */
    zlistx_t *requests;             /* s_request_t waiting for peers */
    size_t peer_snaps_pending;      /* across all peers */

    uint64_t boot;
    uint64_t seq;                   /* last per-origin sequence used */
    int64_t now_us;                 /* time stamp shared by one publish message, 0: read it */
    uint64_t nonce_counter;
    size_t redials_pending;         /* peers with redial_at set */

    uint8_t *buf;                   /* EVENT_FRAME_MAX scratch for encoding */
    s_batch_t *open [S_OPEN_MAX];   /* batches being gathered, in order of their start */
    size_t nopen;
    s_batch_t *spare [S_OPEN_MAX];  /* flushed, kept for reuse */
    size_t nspare;
    s_counters_t c;
    char err [256];
} self_t;

/* ------------------------------------------------------------------------ */
/*  Small helpers                                                           */
/* ------------------------------------------------------------------------ */

static void
s_entry_destroy (void **item)
{
    s_entry_t *e = (s_entry_t *) *item;
    if (e) {
        zmq_msg_close (&e->msg);
        free (e);
        *item = NULL;
    }
}

static void
s_peer_destroy (void **item)
{
    s_peer_t *p = (s_peer_t *) *item;
    if (p) {
        if (p->xsub && p->monitor)
            zmq_socket_monitor (zsock_resolve (p->xsub), NULL, 0);
        zsock_destroy (&p->monitor);
        zsock_destroy (&p->xsub);
        zlistx_destroy (&p->pending);
        free (p);
        *item = NULL;
    }
}

static void
s_free_item (void **item)
{
    free (*item);
    *item = NULL;
}

static int
s_keyparse (const char *z85, uint8_t key [32])
{
    if (!z85 || strlen (z85) != 40)
        return -1;
    return zmq_z85_decode (key, z85) ? 0 : -1;
}

/* Send a subscription message (1 = subscribe, 0 = unsubscribe) upstream. */
static void
s_xsub_send (self_t *self, zsock_t *xsub, int on, const uint8_t *data, size_t len)
{
    uint8_t msg [S_SUB_MAX * 2 + 2];
    if (len + 1 > sizeof msg)
        return;
    msg [0] = (uint8_t) on;
    memcpy (msg + 1, data, len);
    if (zmq_send (zsock_resolve (xsub), msg, len + 1, ZMQ_DONTWAIT) < 0)
        self->c.send_errors++;
}

/* Could a topic under `prefix` be state-like (and so cached)? */
static bool
s_prefix_touches_state (const uint8_t *p, size_t len)
{
    static const char *const states [] = { "metrics.", "shed.", "member.", "service." };
    for (size_t i = 0; i < sizeof states / sizeof states [0]; i++) {
        size_t sl = strlen (states [i]);
        size_t n = len < sl ? len : sl;
        if (memcmp (p, states [i], n) == 0)
            return true;
    }
    return false;
}

static int
s_send_frame (self_t *self, s_xpub_t *xpub, const uint8_t *frame, size_t len)
{
    /* XPUB never blocks: a subscriber whose queue is full just misses the
     * frame (its consumer sees a tseq gap). An error here is a real one. */
    if (zmq_send (zsock_resolve (xpub->sock), frame, len, ZMQ_DONTWAIT) < 0) {
        self->c.send_errors++;
        return -1;
    }
    return 0;
}

/* Send a shared reference to `msg` (which stays ours). */
static int
s_send_msg (self_t *self, s_xpub_t *xpub, zmq_msg_t *msg)
{
    zmq_msg_t ref;
    zmq_msg_init (&ref);
    zmq_msg_copy (&ref, msg);
    if (zmq_msg_send (&ref, zsock_resolve (xpub->sock), ZMQ_DONTWAIT) < 0) {
        zmq_msg_close (&ref);
        self->c.send_errors++;
        return -1;
    }
    return 0;
}

static void s_batches_flush (self_t *self);

/* ------------------------------------------------------------------------ */
/*  Last-value cache                                                        */
/* ------------------------------------------------------------------------ */

static void
s_cache_key (char *key, size_t cap, const char *origin, const char *topic)
{
    snprintf (key, cap, "%s\x1f%s", origin, topic);
}

/* Whose budget an entry counts in: its origin and the shed its topic names
 * (the third dot-separated part: metrics.NODE.SHED, log.NODE.SHED.STREAM),
 * or the origin alone (member.NODE). */
static void
s_cache_owner (char *owner, size_t cap, const char *origin, const char *topic)
{
    const char *shed = strchr (topic, '.');
    shed = shed ? strchr (shed + 1, '.') : NULL;
    if (!shed) {
        snprintf (owner, cap, "%s\x1f", origin);
        return;
    }
    shed++;
    size_t n = strcspn (shed, ".");
    snprintf (owner, cap, "%s\x1f%.*s", origin, (int) n, shed);
}

static size_t
s_owner_count (self_t *self, const char *owner)
{
    return (size_t) (uintptr_t) zhashx_lookup (self->owners, owner);
}

static void
s_owner_add (self_t *self, const char *owner, int delta)
{
    size_t n = s_owner_count (self, owner);
    n = delta < 0 ? (n ? n - 1 : 0) : n + 1;
    if (n)
        zhashx_update (self->owners, owner, (void *) (uintptr_t) n);
    else
        zhashx_delete (self->owners, owner);
}

/* The cache is full: the owner holding the most entries gives one up,
 * unless that would be `asking` itself or one no larger than it (then
 * nobody is over their fair share and the new entry waits). 0 if room
 * was made. A scan, but only when the whole cache is full and a smaller
 * owner asks: the rare case. */
static int
s_cache_evict_largest (self_t *self, const char *asking)
{
    const char *largest = NULL;
    size_t most = 0;
    for (void *v = zhashx_first (self->owners); v; v = zhashx_next (self->owners)) {
        if ((size_t) (uintptr_t) v > most) {
            most = (size_t) (uintptr_t) v;
            largest = (const char *) zhashx_cursor (self->owners);
        }
    }
    if (!largest || strcmp (largest, asking) == 0 || most <= s_owner_count (self, asking) + 1)
        return -1;
    char owner [S_OWNER_KEY_MAX];
    snprintf (owner, sizeof owner, "%s", largest);
    for (s_entry_t *e = (s_entry_t *) zhashx_first (self->cache); e;
         e = (s_entry_t *) zhashx_next (self->cache)) {
        if (strcmp (e->owner, owner) == 0) {
            char key [S_OWNER_KEY_MAX];
            snprintf (key, sizeof key, "%s", (const char *) zhashx_cursor (self->cache));
            zhashx_delete (self->cache, key);
            s_owner_add (self, owner, -1);
            self->c.cache_evicted++;
            return 0;
        }
    }
    return -1;
}

/* Keep a frame as the last value of (origin, topic) unless we hold a newer
 * one of the same boot. With `msg` the entry shares that ZeroMQ message
 * (a reference count, no copy: the hot path of state topics); without,
 * the bytes at frame/len are copied. */
static void
s_cache_put (self_t *self, const char *origin, uint64_t boot, uint64_t tseq, const char *topic,
             bool local, zmq_msg_t *msg, const uint8_t *frame, size_t len)
{
    char key [EVENT_NODE_MAX + EVENT_TOPIC_MAX + 3];
    s_cache_key (key, sizeof key, origin, topic);
    s_entry_t *e = (s_entry_t *) zhashx_lookup (self->cache, key);
    if (e) {
        if (e->boot == boot && e->tseq >= tseq)
            return;                 /* we have this one or newer */
        zmq_msg_close (&e->msg);
    }
    else {
        char owner [S_OWNER_KEY_MAX];
        s_cache_owner (owner, sizeof owner, origin, topic);
        if (s_owner_count (self, owner) >= S_OWNER_CACHE_MAX
            || (zhashx_size (self->cache) >= EVENT_CACHE_MAX
                && s_cache_evict_largest (self, owner) != 0)) {
            self->c.cache_full++;
            return;
        }
        e = (s_entry_t *) zmalloc (sizeof (s_entry_t));
        assert (e);
        snprintf (e->origin, sizeof e->origin, "%s", origin);
        snprintf (e->owner, sizeof e->owner, "%s", owner);
        s_owner_add (self, owner, +1);
        e->local = local;
        zhashx_insert (self->cache, key, e);
    }
    e->boot = boot;
    e->tseq = tseq;
    zmq_msg_init (&e->msg);
    if (msg)
        zmq_msg_copy (&e->msg, msg);
    else {
        zmq_msg_close (&e->msg);
        zmq_msg_init_size (&e->msg, len);
        memcpy (zmq_msg_data (&e->msg), frame, len);
    }
    e->frame = (const uint8_t *) zmq_msg_data (&e->msg);
    e->len = zmq_msg_size (&e->msg);
}

/* Drop cached entries of `origin` (all, or only those of another boot, or
 * only topics under `prefix` that no remaining subscription covers). */
static void
s_cache_purge (self_t *self, const char *origin, uint64_t keep_boot, const uint8_t *prefix,
               size_t prefix_len)
{
    zlistx_t *doomed = zlistx_new ();
    assert (doomed);
    zlistx_set_destructor (doomed, s_free_item);
    for (s_entry_t *e = (s_entry_t *) zhashx_first (self->cache); e;
         e = (s_entry_t *) zhashx_next (self->cache)) {
        if (e->local)
            continue;
        if (origin && strcmp (e->origin, origin) != 0)
            continue;
        if (keep_boot && e->boot == keep_boot)
            continue;
        if (prefix) {
            if (e->len < prefix_len || memcmp (e->frame, prefix, prefix_len) != 0)
                continue;
            if (s_subs_match (&self->wanted, e->frame, e->len))
                continue;           /* another subscription still keeps it fresh */
        }
        zlistx_add_end (doomed, strdup ((const char *) zhashx_cursor (self->cache)));
    }
    for (char *key = (char *) zlistx_first (doomed); key; key = (char *) zlistx_next (doomed)) {
        s_entry_t *e = (s_entry_t *) zhashx_lookup (self->cache, key);
        if (e)
            s_owner_add (self, e->owner, -1);
        zhashx_delete (self->cache, key);
    }
    zlistx_destroy (&doomed);
}

/* Send every cached entry matching one of `prefixes` (origin: only ours)
 * as snapshot items on route "$snap.<nonce>", then SNAP_END. */
static void
s_snapshot_serve (self_t *self, s_xpub_t *xpub, const char *nonce,
                  char prefixes [][S_SUB_MAX], size_t nprefixes, bool own_only, bool partial)
{
    char route [sizeof EVENT_SNAP_ROUTE + EVENT_NONCE_MAX];
    snprintf (route, sizeof route, "%s%s", EVENT_SNAP_ROUTE, nonce);
    s_batches_flush (self);
    uint64_t items = 0;
    for (s_entry_t *e = (s_entry_t *) zhashx_first (self->cache); e;
         e = (s_entry_t *) zhashx_next (self->cache)) {
        if (own_only && !e->local)
            continue;
        bool match = false;
        for (size_t i = 0; i < nprefixes && !match; i++) {
            size_t pl = strlen (prefixes [i]);
            match = e->len >= pl && memcmp (e->frame, prefixes [i], pl) == 0;
        }
        if (!match)
            continue;
        event_msg_t msg;
        const char *topic;
        if (event_frame_decode (e->frame, e->len, &topic, &msg) != 0)
            continue;               /* cannot happen: we validated it */
        long len = event_frame_encode (route, &msg, self->buf, EVENT_FRAME_MAX);
        wire_msg_free (&event_proto, &msg);
        if (len > 0 && s_send_frame (self, xpub, self->buf, (size_t) len) == 0)
            items++;
    }
    event_msg_t end;
    memset (&end, 0, sizeof end);
    end.hdr.type = EVENT_SNAP_END;
    end.u.event_snap_end.items = items;
    end.u.event_snap_end.partial = partial;
    long len = event_frame_encode (route, &end, self->buf, EVENT_FRAME_MAX);
    if (len > 0)
        s_send_frame (self, xpub, self->buf, (size_t) len);
    self->c.snapshots_served++;
}

/* Parse "$snapreq.<nonce>\0p1\0p2\0..." into nonce and prefixes
 * (bus_internal.h; fuzzed by fuzz/fuzz_snapreq.c). */
int
bus_snapreq_parse (const uint8_t *data, size_t len, char nonce [EVENT_NONCE_MAX + 1],
                   char prefixes [][S_SUB_MAX], size_t *nprefixes)
{
    size_t rl = strlen (S_SNAPREQ_ROUTE);
    const uint8_t *nul = memchr (data, 0, len);
    if (!nul || (size_t) (nul - data) <= rl || (size_t) (nul - data) - rl > EVENT_NONCE_MAX)
        return -1;
    memcpy (nonce, data + rl, (size_t) (nul - data) - rl);
    nonce [(nul - data) - rl] = 0;
    *nprefixes = 0;
    const uint8_t *p = nul + 1, *end = data + len;
    while (p < end) {
        const uint8_t *z = memchr (p, 0, (size_t) (end - p));
        if (!z || (size_t) (z - p) >= S_SUB_MAX || *nprefixes >= EVENT_PREFIXES_MAX)
            return -1;
        memcpy (prefixes [*nprefixes], p, (size_t) (z - p));
        prefixes [*nprefixes][z - p] = 0;
        (*nprefixes)++;
        p = z + 1;
    }
    return 0;
}

/* ------------------------------------------------------------------------ */
/*  Peer snapshots: fill our cache from a peer's own last values            */
/* ------------------------------------------------------------------------ */

static void
s_peer_snapshot_request (self_t *self, s_peer_t *peer, const uint8_t *prefixes [],
                         const size_t lens [], size_t n)
{
    if (n == 0)
        return;
    s_pending_t *pend = (s_pending_t *) zmalloc (sizeof (s_pending_t));
    assert (pend);
    /* Unique among the peer's subscribers: our random boot id + a counter. */
    snprintf (pend->nonce, sizeof pend->nonce, "%016" PRIx64 "%" PRIx64, self->boot,
              ++self->nonce_counter);
    pend->deadline = zclock_mono () + EVENT_SNAP_WAIT_MS;

    /* Reply route first, then the request, on the same pipe: when the
     * peer reads the request our reply subscription is in place. */
    uint8_t sub [S_SUB_MAX * 2];
    int rl = snprintf ((char *) sub, sizeof sub, "%s%s", EVENT_SNAP_ROUTE, pend->nonce);
    s_xsub_send (self, peer->xsub, 1, sub, (size_t) rl + 1);
    uint8_t req [S_SUB_MAX * 2];
    size_t len = (size_t) snprintf ((char *) req, sizeof req, "%s%s", S_SNAPREQ_ROUTE,
                                    pend->nonce) + 1;
    for (size_t i = 0; i < n && len + lens [i] + 1 <= sizeof req; i++) {
        memcpy (req + len, prefixes [i], lens [i]);
        len += lens [i];
        req [len++] = 0;
    }
    s_xsub_send (self, peer->xsub, 1, req, len);
    memcpy (pend->req, req, len);
    pend->req_len = len;
    zlistx_add_end (peer->pending, pend);
    self->peer_snaps_pending++;
}

/* Forget a pending peer snapshot: unsubscribe its routes. */
static void
s_peer_snapshot_done (self_t *self, s_peer_t *peer, void *handle)
{
    s_pending_t *pend = (s_pending_t *) zlistx_handle_item (handle);
    uint8_t sub [S_SUB_MAX * 2];
    int rl = snprintf ((char *) sub, sizeof sub, "%s%s", EVENT_SNAP_ROUTE, pend->nonce);
    s_xsub_send (self, peer->xsub, 0, sub, (size_t) rl + 1);
    /* Undo the request too, or XSUB would repeat it on every reconnect. */
    s_xsub_send (self, peer->xsub, 0, pend->req, pend->req_len);
    zlistx_delete (peer->pending, handle);
    assert (self->peer_snaps_pending > 0);
    self->peer_snaps_pending--;
}

/* Ask `peer` for its last values under every wanted prefix. */
static void
s_peer_snapshot_all (self_t *self, s_peer_t *peer)
{
    const uint8_t *prefixes [EVENT_PREFIXES_MAX];
    size_t lens [EVENT_PREFIXES_MAX];
    size_t n = 0;
    for (size_t i = 0; i < self->wanted.n; i++) {
        s_sub_t *sub = &self->wanted.items [i];
        if (sub->data [0] == EVENT_CTL_CHAR || !s_prefix_touches_state (sub->data, sub->len))
            continue;
        if (memchr (sub->data, 0, sub->len))
            continue;               /* exact-topic subscriptions: not expressible */
        prefixes [n] = sub->data;
        lens [n] = sub->len;
        if (++n == EVENT_PREFIXES_MAX) {
            s_peer_snapshot_request (self, peer, prefixes, lens, n);
            n = 0;
        }
    }
    s_peer_snapshot_request (self, peer, prefixes, lens, n);
}

/* Serve consumer snapshot requests that no longer wait (or timed out). */
static void
s_requests_serve (self_t *self, bool force)
{
    int64_t now = zclock_mono ();
    s_request_t *req = (s_request_t *) zlistx_first (self->requests);
    while (req) {
        bool due = self->peer_snaps_pending == 0 || force || now >= req->deadline;
        if (!due) {
            req = (s_request_t *) zlistx_next (self->requests);
            continue;
        }
        s_xpub_t *xpub = req->sock == self->local.sock ? &self->local : &self->remote;
        s_snapshot_serve (self, xpub, req->nonce, req->prefixes, req->nprefixes, false,
                          self->peer_snaps_pending > 0);
        zlistx_delete (self->requests, zlistx_cursor (self->requests));
        req = (s_request_t *) zlistx_first (self->requests);
    }
}

/* Expire peer snapshot requests nobody answered. */
static void
s_expire (self_t *self)
{
    int64_t now = zclock_mono ();
    for (s_peer_t *peer = (s_peer_t *) zhashx_first (self->peers); peer;
         peer = (s_peer_t *) zhashx_next (self->peers)) {
        s_pending_t *pend = (s_pending_t *) zlistx_first (peer->pending);
        while (pend) {
            if (now >= pend->deadline) {
                self->c.peer_snaps_timeout++;
                s_peer_snapshot_done (self, peer, zlistx_cursor (peer->pending));
                pend = (s_pending_t *) zlistx_first (peer->pending);
            }
            else
                pend = (s_pending_t *) zlistx_next (peer->pending);
        }
    }
    s_requests_serve (self, false);
}

/* ------------------------------------------------------------------------ */
/*  Socket setup                                                            */
/* ------------------------------------------------------------------------ */

static int
s_curve_server (self_t *self, zsock_t *sock, const char *domain)
{
    void *h = zsock_resolve (sock);
    int one = 1;
    if (zmq_setsockopt (h, ZMQ_CURVE_SERVER, &one, sizeof one)
    ||  zmq_setsockopt (h, ZMQ_CURVE_PUBLICKEY, self->public_key, 32)
    ||  zmq_setsockopt (h, ZMQ_CURVE_SECRETKEY, self->secret_key, 32)
    ||  zmq_setsockopt (h, ZMQ_ZAP_DOMAIN, domain, strlen (domain))
    /* Fail closed: without this libzmq admits every CURVE client when no
     * ZAP handler answers (czmq 4.2.1's setter for it does nothing). */
    ||  zmq_setsockopt (h, ZMQ_ZAP_ENFORCE_DOMAIN, &one, sizeof one))
        return -1;
    return 0;
}

/* Create and bind one XPUB. Returns 0 or -1 with self->err set. */
static int
s_xpub_open (self_t *self, s_xpub_t *xpub, const char *bind, const char *domain)
{
    xpub->sock = zsock_new (ZMQ_XPUB);
    assert (xpub->sock);
    shed_zmq_limit_network (xpub->sock, SHED_ZMQ_MAXMSG_SUBSCRIBE);
    void *h = zsock_resolve (xpub->sock);
    int hwm = self->sndhwm, zero = 0;
    zmq_setsockopt (h, ZMQ_SNDHWM, &hwm, sizeof hwm);
    zmq_setsockopt (h, ZMQ_LINGER, &zero, sizeof zero);
    if (domain && s_curve_server (self, xpub->sock, domain)) {
        snprintf (self->err, sizeof self->err, "%s: CURVE setup: %s", bind,
                  zmq_strerror (errno));
        return -1;
    }
    /* A few tries: after a re-bind the old listener closes asynchronously. */
    int rc = -1;
    for (int i = 0; i < 50 && rc != 0; i++) {
        rc = zmq_bind (h, bind);
        if (rc != 0 && errno == EADDRINUSE)
            zclock_sleep (20);
        else
            break;
    }
    if (rc != 0) {
        snprintf (self->err, sizeof self->err, "cannot bind %s: %s", bind,
                  zmq_strerror (errno));
        return -1;
    }
    size_t sz = sizeof xpub->endpoint;
    zmq_getsockopt (h, ZMQ_LAST_ENDPOINT, xpub->endpoint, &sz);
    return 0;
}

static void
s_xpub_close (s_xpub_t *xpub)
{
    zsock_destroy (&xpub->sock);
    s_subs_clear (&xpub->subs);
}

/* Cut every connection to the origin publisher (after DENY): close and
 * bind again on the same resolved endpoint. Allowed peers reconnect and
 * resubscribe by themselves; the denied key fails the ZAP handshake. */
static void
s_origin_rebind (self_t *self)
{
    if (!self->origin.sock)
        return;
    char endpoint [256];
    snprintf (endpoint, sizeof endpoint, "%s", self->origin.endpoint);
    zpoller_remove (self->poller, self->origin.sock);
    s_xpub_close (&self->origin);
    if (s_xpub_open (self, &self->origin, endpoint, self->peers_domain)) {
        log_error (S_COMP, "origin publisher lost|reason=\"%s\"", self->err);
        s_xpub_close (&self->origin);
        return;
    }
    zpoller_add (self->poller, self->origin.sock);
}

/* ------------------------------------------------------------------------ */
/*  Local events                                                            */
/* ------------------------------------------------------------------------ */

/* Hand one encoded live frame (a single EVENT or an EVENT_BATCH of
 * `nevents`) to every socket whose subscribers want its route. With
 * `cache_it` (a single EVENT of a state-like topic) the frame also becomes
 * the last value of (us, topic). */
static void
s_emit (self_t *self, const char *topic, const uint8_t *buf, size_t flen, size_t nevents,
        bool cache_it, uint64_t tseq)
{
    bool to_origin = false;
    if (self->origin.sock) {
        to_origin = s_subs_match (&self->origin.subs, buf, flen);
        if (!to_origin)
            self->c.origin_skipped += nevents;
    }
    bool to_local = self->local.sock && s_subs_match (&self->local.subs, buf, flen);
    bool to_remote = self->remote.sock && s_subs_match (&self->remote.subs, buf, flen);
    if (!to_origin && !to_local && !to_remote && !cache_it)
        return;
    /* One copy of the frame, shared by reference between the sockets and
     * the cache (each zmq_send of a buffer would copy it again). */
    zmq_msg_t frame;
    zmq_msg_init_size (&frame, flen);
    memcpy (zmq_msg_data (&frame), buf, flen);
    if (to_origin && s_send_msg (self, &self->origin, &frame) == 0) {
        self->c.origin_sent += nevents;
        if (nevents > 1)
            self->c.batches_sent++;
    }
    if (to_local && s_send_msg (self, &self->local, &frame) == 0)
        self->c.consumer_sent += nevents;
    if (to_remote && s_send_msg (self, &self->remote, &frame) == 0)
        self->c.consumer_sent += nevents;
    if (cache_it)
        s_cache_put (self, self->name, self->boot, tseq, topic, true, &frame, NULL, 0);
    zmq_msg_close (&frame);
}

/* Encode one of our events as a single EVENT frame into self->buf. */
static long
s_encode_single (self_t *self, const char *topic, const char *kind, const event_item_t *it)
{
    event_msg_t msg;
    msg.hdr.version = EVENT_VERSION_SINGLE;
    msg.hdr.type = EVENT_EVENT;
    event_event_t *ev = &msg.u.event_event;
    /* Field by field: the struct is large (topic, payload view), and only
     * these bytes are read by the encoder. */
    memcpy (ev->origin, self->name, sizeof ev->origin);
    ev->boot = self->boot;
    ev->seq = it->seq;
    ev->tseq = it->tseq;
    ev->time_us = it->time_us;
    snprintf (ev->kind, sizeof ev->kind, "%s", kind);
    ev->payload = it->payload;
    ev->topic [0] = 0;
    return event_frame_encode (topic, &msg, self->buf, EVENT_FRAME_MAX);
}

/* Send one gathered batch (a plain EVENT if it holds one event) and put
 * it back on the spare list. */
static void
s_batch_flush (self_t *self, size_t idx)
{
    s_batch_t *b = self->open [idx];
    memmove (&self->open [idx], &self->open [idx + 1], (self->nopen - idx - 1) * sizeof b);
    self->nopen--;
    if (b->tracked && b->tseq) {
        /* The topic's counter, advanced here once per batch. */
        if (b->counted)
            zhashx_update (self->tseqs, b->topic, (void *) (uintptr_t) b->tseq);
        else
            zhashx_insert (self->tseqs, b->topic, (void *) (uintptr_t) b->tseq);
    }
    bool state = event_topic_is_state (b->topic);
    if (b->n == 1) {
        long len = s_encode_single (self, b->topic, b->kind, &b->items [0]);
        if (len < 0)
            self->c.invalid++;
        else
            s_emit (self, b->topic, self->buf, (size_t) len, 1, state, b->items [0].tseq);
    }
    else
    if (b->n > 1) {
        event_msg_t msg;
        msg.hdr.version = 0;
        msg.hdr.type = EVENT_BATCH;
        event_batch_t *eb = &msg.u.event_batch;
        memcpy (eb->origin, self->name, sizeof eb->origin);
        eb->boot = self->boot;
        memcpy (eb->kind, b->kind, sizeof eb->kind);
        eb->items.n = b->n;
        eb->items.items = b->items;
        long len = event_frame_encode (b->topic, &msg, self->buf, EVENT_FRAME_MAX);
        if (len < 0)
            self->c.invalid += b->n;
        else {
            s_emit (self, b->topic, self->buf, (size_t) len, b->n, false, 0);
            if (state) {
                /* The last value is the batch's last event, kept (and
                 * served to late joiners) as a single EVENT frame. */
                const event_item_t *last = &b->items [b->n - 1];
                len = s_encode_single (self, b->topic, b->kind, last);
                if (len > 0)
                    s_cache_put (self, self->name, self->boot, last->tseq, b->topic, true,
                                 NULL, self->buf, (size_t) len);
            }
        }
    }
    b->n = 0;
    b->used = 0;
    if (self->nspare < S_OPEN_MAX)
        self->spare [self->nspare++] = b;
    else {
        free (b->arena);
        free (b);
    }
}

/* Send everything gathered: at the end of each turn of the pipe (so an
 * event waits at most for the rest of what was already queued: no timer,
 * no added latency when the bus is idle), and before any snapshot goes out
 * on a consumer socket (so a snapshot never overtakes older live events). */
static void
s_batches_flush (self_t *self)
{
    while (self->nopen)
        s_batch_flush (self, 0);
}

static void
s_publish (self_t *self, const char *topic, const char *kind, const uint8_t *payload,
           size_t size)
{
    if (!kind)
        kind = "";
    if (!event_topic_valid (topic) || strlen (kind) > EVENT_KIND_MAX
    ||  size > EVENT_PAYLOAD_MAX) {
        self->c.invalid++;
        return;
    }
    self->c.published++;
    /* The batch of this topic, if one is being gathered. A batch of the
     * same topic under another kind goes first: per-topic order (tseq) is
     * what consumers check. */
    s_batch_t *b = NULL;
    for (size_t i = 0; i < self->nopen; i++)
        if (streq (self->open [i]->topic, topic)) {
            if (streq (self->open [i]->kind, kind) && size <= EVENT_BATCH_ITEM_MAX)
                b = self->open [i];
            else
                s_batch_flush (self, i);    /* also writes its tseq counter back */
            break;
        }
    event_item_t item;
    memset (&item, 0, sizeof item);
    item.seq = ++self->seq;
    item.time_us = self->now_us ? self->now_us : event_now_us ();
    item.payload.data = (uint8_t *) (uintptr_t) payload;   /* encode only reads it */
    item.payload.len = size;
    if (b) {
        /* The counter is the batch's while it gathers: no table lookup. */
        if (b->tracked)
            item.tseq = ++b->tseq;
    }
    else {
        /* The per-topic counter lives in the table as an integer, not a
         * pointer: no allocation per topic beyond the key. Counters start
         * at 1 so a stored 0 (NULL) means "absent"; 0 = untracked (the
         * table is full). */
        uint64_t last = (uint64_t) (uintptr_t) zhashx_lookup (self->tseqs, topic);
        bool tracked = last || zhashx_size (self->tseqs) < EVENT_TOPICS_MAX;
        item.tseq = tracked ? last + 1 : 0;
        if (size > EVENT_BATCH_ITEM_MAX) {
            /* Big events travel alone, after what was gathered of their
             * topic (flushed above). */
            if (tracked) {
                if (last)
                    zhashx_update (self->tseqs, topic, (void *) (uintptr_t) item.tseq);
                else
                    zhashx_insert (self->tseqs, topic, (void *) (uintptr_t) item.tseq);
            }
            long len = s_encode_single (self, topic, kind, &item);
            if (len < 0) {
                self->c.invalid++;
                return;
            }
            s_emit (self, topic, self->buf, (size_t) len, 1, event_topic_is_state (topic),
                    item.tseq);
            return;
        }
    }
    if (b && (b->n == EVENT_BATCH_MAX || b->used + size > EVENT_BATCH_BYTES)) {
        for (size_t i = 0; i < self->nopen; i++)
            if (self->open [i] == b)
                s_batch_flush (self, i);
        b = NULL;
    }
    if (!b) {
        if (self->nopen == S_OPEN_MAX)
            s_batch_flush (self, 0);
        if (self->nspare)
            b = self->spare [--self->nspare];
        else {
            b = (s_batch_t *) zmalloc (sizeof (s_batch_t));
            assert (b);
            b->arena = (uint8_t *) malloc (EVENT_BATCH_BYTES + EVENT_BATCH_ITEM_MAX);
            assert (b->arena);
        }
        snprintf (b->topic, sizeof b->topic, "%s", topic);
        snprintf (b->kind, sizeof b->kind, "%s", kind);
        b->n = 0;
        b->used = 0;
        b->tracked = item.tseq != 0;
        b->counted = item.tseq > 1;
        b->tseq = item.tseq;
        self->open [self->nopen++] = b;
    }
    if (size)
        memcpy (b->arena + b->used, payload, size);
    item.payload.data = b->arena + b->used;
    b->used += size;
    b->items [b->n++] = item;
}

/* ------------------------------------------------------------------------ */
/*  Commands                                                                */
/* ------------------------------------------------------------------------ */

/* Close a peer's XSUB and its monitor (and take them off the poller). */
static void
s_peer_disconnect (self_t *self, s_peer_t *peer)
{
    if (peer->monitor) {
        zpoller_remove (self->poller, peer->monitor);
        zap_monitor_destroy (peer->xsub, &peer->monitor);
    }
    if (peer->xsub) {
        zpoller_remove (self->poller, peer->xsub);
        zsock_destroy (&peer->xsub);
    }
    if (peer->redial_at) {
        peer->redial_at = 0;
        self->redials_pending--;
    }
}

/* Open the peer's XSUB (CURVE client pinned to its key) with a monitor on
 * its handshakes, and (re)send every subscription it should carry: the
 * wanted prefixes and the routes of snapshot requests still in flight.
 * Returns 0 or -1 (errno from libzmq). */
static int
s_peer_connect (self_t *self, s_peer_t *peer)
{
    peer->xsub = zsock_new (ZMQ_XSUB);
    assert (peer->xsub);
    shed_zmq_limit_network (peer->xsub, SHED_ZMQ_MAXMSG_DEFAULT);
    void *h = zsock_resolve (peer->xsub);
    int hwm = EVENT_RCVHWM, zero = 0;
    zmq_setsockopt (h, ZMQ_RCVHWM, &hwm, sizeof hwm);
    zmq_setsockopt (h, ZMQ_LINGER, &zero, sizeof zero);
    if (zap_secure_client (peer->xsub, peer->key, self->public_key, self->secret_key))
        return -1;
    /* libzmq 4.3 never retries a handshake the server refused (a ZAP
     * denial is a protocol error that ends the session): if the peer has
     * not ALLOWed our key yet when we dial, the link would stay dead. The
     * monitor tells us, and we dial again after a backoff. */
    peer->monitor = zap_monitor_new (peer->xsub);
    if (peer->monitor)
        zpoller_add (self->poller, peer->monitor);
    if (zmq_connect (h, peer->endpoint))
        return -1;
    zpoller_add (self->poller, peer->xsub);
    /* XSUB queues these until the connection is up (and re-sends them on
     * every reconnect of this socket). */
    for (size_t i = 0; i < self->wanted.n; i++)
        s_xsub_send (self, peer->xsub, 1, self->wanted.items [i].data,
                     self->wanted.items [i].len);
    for (s_pending_t *p = (s_pending_t *) zlistx_first (peer->pending); p;
         p = (s_pending_t *) zlistx_next (peer->pending)) {
        uint8_t sub [S_SUB_MAX * 2];
        int rl = snprintf ((char *) sub, sizeof sub, "%s%s", EVENT_SNAP_ROUTE, p->nonce);
        s_xsub_send (self, peer->xsub, 1, sub, (size_t) rl + 1);
        s_xsub_send (self, peer->xsub, 1, p->req, p->req_len);
    }
    return 0;
}

/* A handshake event of a peer's XSUB. */
static void
recv_monitor (self_t *self, s_peer_t *peer)
{
    uint16_t event = 0;
    int rc = zap_monitor_recv (peer->monitor, &event);
    if (rc == 1)
        peer->backoff_ms = 0;
    else
    if (rc == 0 && !peer->redial_at) {
        /* Refused (most likely: it has not ALLOWed our key yet). */
        self->c.peer_refused++;
        int delay = peer->backoff_ms ? peer->backoff_ms : S_REDIAL_MIN_MS;
        peer->backoff_ms = delay * 2 > S_REDIAL_MAX_MS ? S_REDIAL_MAX_MS : delay * 2;
        peer->redial_at = zclock_mono () + delay;
        self->redials_pending++;
        log_debug (S_COMP, "peer refused our handshake|peer=%s event=0x%x redial_ms=%d",
                   peer->name, event, delay);
    }
}

/* Dial again every peer whose re-dial is due: a fresh socket, because the
 * refused session of the old one is gone for good. */
static void
s_redial (self_t *self)
{
    int64_t now = zclock_mono ();
    for (s_peer_t *peer = (s_peer_t *) zhashx_first (self->peers); peer;
         peer = (s_peer_t *) zhashx_next (self->peers)) {
        if (!peer->redial_at || now < peer->redial_at)
            continue;
        s_peer_disconnect (self, peer);
        self->c.peer_redials++;
        if (s_peer_connect (self, peer) != 0)
            log_warn (S_COMP, "cannot re-dial peer|peer=%s endpoint=%s reason=\"%s\"",
                      peer->name, peer->endpoint, zmq_strerror (errno));
    }
}

static int
s_peer_add (self_t *self, const char *name, const char *endpoint, const char *z85)
{
    uint8_t key [32];
    if (!event_node_valid (name) || !endpoint || strlen (endpoint) >= 256
    ||  s_keyparse (z85, key) || streq (name, self->name))
        return -1;
    s_peer_t *old = (s_peer_t *) zhashx_lookup (self->peers, name);
    if (old) {
        s_peer_disconnect (self, old);
        self->peer_snaps_pending -= zlistx_size (old->pending);
        zhashx_delete (self->peers, name);
    }
    s_peer_t *peer = (s_peer_t *) zmalloc (sizeof (s_peer_t));
    assert (peer);
    snprintf (peer->name, sizeof peer->name, "%s", name);
    snprintf (peer->endpoint, sizeof peer->endpoint, "%s", endpoint);
    memcpy (peer->key, key, 32);
    peer->pending = zlistx_new ();
    assert (peer->pending);
    zlistx_set_destructor (peer->pending, s_free_item);
    if (s_peer_connect (self, peer) != 0) {
        log_warn (S_COMP, "cannot connect to peer|peer=%s endpoint=%s reason=\"%s\"", name,
                  endpoint, zmq_strerror (errno));
        s_peer_disconnect (self, peer);
        void *item = peer;
        s_peer_destroy (&item);
        return -1;
    }
    zhashx_insert (self->peers, name, peer);
    s_peer_snapshot_all (self, peer);
    log_info (S_COMP, "peer added|peer=%s endpoint=%s", name, endpoint);
    return 0;
}

static int
s_peer_remove (self_t *self, const char *name)
{
    s_peer_t *peer = name ? (s_peer_t *) zhashx_lookup (self->peers, name) : NULL;
    if (!peer)
        return -1;
    s_peer_disconnect (self, peer);
    self->peer_snaps_pending -= zlistx_size (peer->pending);
    zhashx_delete (self->peers, name);
    /* Its last values would no longer be kept fresh: forget them. */
    s_cache_purge (self, name, 0, NULL, 0);
    s_requests_serve (self, false);
    log_info (S_COMP, "peer removed|peer=%s", name);
    return 0;
}

static int
s_zap_set (self_t *self, const char *domain, const char *z85, bool allow)
{
    uint8_t key [32];
    if (!self->zap || s_keyparse (z85, key))
        return -1;
    return allow ? zap_allow (self->zap, domain, key) : zap_deny (self->zap, domain, key);
}

static void
s_stats (self_t *self)
{
    uint64_t adm = 0, ref = 0, adm2 = 0, ref2 = 0;
    if (self->zap) {
        zap_counts (self->zap, self->peers_domain, &adm, &ref);
        zap_counts (self->zap, self->consumers_domain, &adm2, &ref2);
    }
    s_counters_t *c = &self->c;
    zstr_sendf (self->pipe,
                "published=%" PRIu64 " invalid=%" PRIu64 " origin_sent=%" PRIu64
                " origin_skipped=%" PRIu64 " consumer_sent=%" PRIu64 " peer_recv=%" PRIu64
                " peer_forwarded=%" PRIu64 " forged=%" PRIu64 " malformed=%" PRIu64
                " send_errors=%" PRIu64 " cache=%zu cache_full=%" PRIu64
                " snapshots_served=%" PRIu64 " peer_snaps_done=%" PRIu64
                " peer_snaps_timeout=%" PRIu64 " peers=%zu origin_subs=%zu consumer_subs=%zu"
                " zap_admitted=%" PRIu64 " zap_refused=%" PRIu64
                " peer_refused=%" PRIu64 " peer_redials=%" PRIu64
                " batches_sent=%" PRIu64 " batches_recv=%" PRIu64 " cache_evicted=%" PRIu64
                " snapreq_dropped=%" PRIu64,
                c->published, c->invalid, c->origin_sent, c->origin_skipped, c->consumer_sent,
                c->peer_recv, c->peer_forwarded, c->forged, c->malformed, c->send_errors,
                zhashx_size (self->cache), c->cache_full, c->snapshots_served,
                c->peer_snaps_done, c->peer_snaps_timeout, zhashx_size (self->peers),
                self->origin.subs.n, self->wanted.n, adm + adm2, ref + ref2,
                c->peer_refused, c->peer_redials, c->batches_sent, c->batches_recv,
                c->cache_evicted, c->snapreq_dropped);
}

/* Fast path for PUBLISH: read the frames with zmq_msg, no zmsg. */
static void
s_recv_publish (self_t *self, void *pipe)
{
    zmq_msg_t parts [3];
    int n = 0;
    bool more = true;
    while (more) {
        zmq_msg_t part;
        zmq_msg_init (&part);
        if (zmq_msg_recv (&part, pipe, 0) < 0) {
            zmq_msg_close (&part);
            break;
        }
        more = zmq_msg_more (&part);
        if (n < 3)
            parts [n++] = part;
        else
            zmq_msg_close (&part);
    }
    if (n == 3) {
        char topic [EVENT_TOPIC_MAX + 1], kind [EVENT_KIND_MAX + 1];
        size_t tl = zmq_msg_size (&parts [0]), kl = zmq_msg_size (&parts [1]);
        if (tl <= EVENT_TOPIC_MAX && kl <= EVENT_KIND_MAX) {
            memcpy (topic, zmq_msg_data (&parts [0]), tl);
            topic [tl] = 0;
            memcpy (kind, zmq_msg_data (&parts [1]), kl);
            kind [kl] = 0;
            s_publish (self, topic, kind, (const uint8_t *) zmq_msg_data (&parts [2]),
                       zmq_msg_size (&parts [2]));
        }
        else
            self->c.invalid++;
    }
    else
        self->c.invalid++;
    for (int i = 0; i < n; i++)
        zmq_msg_close (&parts [i]);
}

/* One message from the pipe; false when none is waiting. */
static bool
s_recv_pipe_one (self_t *self)
{
    void *pipe = zsock_resolve (self->pipe);
    char cmd [32];
    int n = zmq_recv (pipe, cmd, sizeof cmd - 1, ZMQ_DONTWAIT);
    if (n < 0) {
        if (errno != EAGAIN)
            self->terminated = true;
        return false;
    }
    cmd [n < (int) sizeof cmd - 1 ? n : (int) sizeof cmd - 1] = 0;
    int more = 0;
    size_t ml = sizeof more;
    zmq_getsockopt (pipe, ZMQ_RCVMORE, &more, &ml);
    if (streq (cmd, "PUBLISH") && more) {
        s_recv_publish (self, pipe);
        return true;
    }
    /* Every other command sees what was published before it as sent. */
    s_batches_flush (self);
    zmsg_t *args = more ? zmsg_recv (self->pipe) : zmsg_new ();
    if (!args) {
        self->terminated = true;
        return false;
    }
    if (streq (cmd, "$TERM"))
        self->terminated = true;
    else
    if (streq (cmd, "PEER-ADD")) {
        char *name = zmsg_popstr (args), *ep = zmsg_popstr (args), *key = zmsg_popstr (args);
        zsock_send (self->pipe, "i", s_peer_add (self, name, ep, key));
        zstr_free (&name);
        zstr_free (&ep);
        zstr_free (&key);
    }
    else
    if (streq (cmd, "PEER-REMOVE")) {
        char *name = zmsg_popstr (args);
        zsock_send (self->pipe, "i", s_peer_remove (self, name));
        zstr_free (&name);
    }
    else
    if (streq (cmd, "ALLOW") || streq (cmd, "DENY")) {
        char *key = zmsg_popstr (args);
        bool allow = streq (cmd, "ALLOW");
        int rc = s_zap_set (self, self->peers_domain, key, allow);
        if (rc == 0 && !allow)
            s_origin_rebind (self);
        zsock_send (self->pipe, "i", rc);
        zstr_free (&key);
    }
    else
    if (streq (cmd, "CONSUMER-ALLOW") || streq (cmd, "CONSUMER-DENY")) {
        char *key = zmsg_popstr (args);
        zsock_send (self->pipe, "i",
                    s_zap_set (self, self->consumers_domain, key, streq (cmd, "CONSUMER-ALLOW")));
        zstr_free (&key);
    }
    else
    if (streq (cmd, "ENDPOINTS"))
        zsock_send (self->pipe, "sss", self->origin.endpoint, self->local.endpoint,
                    self->remote.endpoint);
    else
    if (streq (cmd, "STATS"))
        s_stats (self);
    else
        log_warn (S_COMP, "unknown command|cmd=%s", cmd);
    zmsg_destroy (&args);
    return true;
}

/* Drain what is waiting, up to a batch: one poll() per batch instead of
 * one per event is most of the throughput (see docs/events.md). */
static void
recv_pipe (self_t *self)
{
    for (int i = 0; i < S_BATCH && !self->terminated; i++)
        if (!s_recv_pipe_one (self))
            break;
    s_batches_flush (self);
}

/* Producers' events on the publish socket: one frame of records
 * `topic NUL kind NUL len:u32be payload` (bus.h). */
static void
recv_pull (self_t *self)
{
    void *h = zsock_resolve (self->pull);
    for (int m = 0; m < S_BATCH; m++) {
        zmq_msg_t msg;
        zmq_msg_init (&msg);
        if (zmq_msg_recv (&msg, h, ZMQ_DONTWAIT) < 0) {
            zmq_msg_close (&msg);
            break;
        }
        if (zmq_msg_more (&msg)) {
            self->c.invalid++;
            while (zmq_msg_more (&msg) && zmq_msg_recv (&msg, h, ZMQ_DONTWAIT) >= 0)
                ;
            zmq_msg_close (&msg);
            continue;
        }
        const uint8_t *p = (const uint8_t *) zmq_msg_data (&msg);
        const uint8_t *end = p + zmq_msg_size (&msg);
        /* One clock read per message: its events were produced in one turn
         * of the producer's loop, microseconds apart. */
        self->now_us = event_now_us ();
        while (p < end) {
            size_t left = (size_t) (end - p);
            const uint8_t *tz = memchr (p, 0, left < EVENT_TOPIC_MAX + 1 ? left : EVENT_TOPIC_MAX + 1);
            if (!tz) {
                self->c.invalid++;
                break;
            }
            const char *topic = (const char *) p;
            const uint8_t *k = tz + 1;
            left = (size_t) (end - k);
            const uint8_t *kz = memchr (k, 0, left < EVENT_KIND_MAX + 1 ? left : EVENT_KIND_MAX + 1);
            if (!kz || (size_t) (end - kz - 1) < 4) {
                self->c.invalid++;
                break;
            }
            const uint8_t *l = kz + 1;
            size_t len = (size_t) l [0] << 24 | (size_t) l [1] << 16 | (size_t) l [2] << 8 | l [3];
            if (len > (size_t) (end - l - 4)) {
                self->c.invalid++;
                break;
            }
            s_publish (self, topic, (const char *) k, l + 4, len);
            p = l + 4 + len;
        }
        self->now_us = 0;
        zmq_msg_close (&msg);
    }
    s_batches_flush (self);
}

/* ------------------------------------------------------------------------ */
/*  Socket handlers                                                         */
/* ------------------------------------------------------------------------ */

/* Read one subscription message from an XPUB into data/len/on. With `who`,
 * also who sent it: the CURVE key ZAP admitted ("User-Id"), else the peer
 * address (for ipc libzmq adds the peer's uid:gid:pid), so limits apply per
 * consumer, not per socket. */
static int
s_read_sub (zsock_t *sock, uint8_t *data, size_t cap, size_t *len, int *on, char *who,
            size_t wholen)
{
    zmq_msg_t msg;
    zmq_msg_init (&msg);
    int n = zmq_msg_recv (&msg, zsock_resolve (sock), ZMQ_DONTWAIT);
    const uint8_t *m = (const uint8_t *) zmq_msg_data (&msg);
    if (n < 1 || (size_t) n > S_SUB_MAX * 2 + 2 || (m [0] != 0 && m [0] != 1)
        || (size_t) n - 1 > cap) {
        zmq_msg_close (&msg);
        return -1;
    }
    *on = m [0];
    *len = (size_t) n - 1;
    memcpy (data, m + 1, *len);
    if (who) {
        const char *id = zmq_msg_gets (&msg, "User-Id");
        if (!id || !*id)
            id = zmq_msg_gets (&msg, "Peer-Address");
        snprintf (who, wholen, "%s", id ? id : "");
    }
    zmq_msg_close (&msg);
    return 0;
}

static bool
s_is_snapreq (const uint8_t *data, size_t len)
{
    size_t rl = strlen (S_SNAPREQ_ROUTE);
    return len > rl && memcmp (data, S_SNAPREQ_ROUTE, rl) == 0;
}

/* A peer (un)subscribed to our own events, or asks for our last values. */
static void
recv_origin (self_t *self)
{
    uint8_t data [S_SUB_MAX * 2];
    size_t len;
    int on;
    if (s_read_sub (self->origin.sock, data, sizeof data, &len, &on, NULL, 0))
        return;
    if (len > 0 && data [0] == EVENT_CTL_CHAR) {
        char nonce [EVENT_NONCE_MAX + 1];
        char prefixes [EVENT_PREFIXES_MAX][S_SUB_MAX];
        size_t np;
        if (on && s_is_snapreq (data, len)
        &&  bus_snapreq_parse (data, len, nonce, prefixes, &np) == 0)
            s_snapshot_serve (self, &self->origin, nonce, prefixes, np, true, false);
        return;
    }
    if (on)
        s_subs_add (&self->origin.subs, data, len);
    else
        s_subs_remove (&self->origin.subs, data, len);
}

/* A local or remote consumer (un)subscribed, or asks for a snapshot. */
static void
recv_consumer (self_t *self, s_xpub_t *xpub)
{
    uint8_t data [S_SUB_MAX * 2];
    size_t len;
    int on;
    char who [S_WHO_MAX];
    if (s_read_sub (xpub->sock, data, sizeof data, &len, &on, who, sizeof who))
        return;
    if (len > 0 && data [0] == EVENT_CTL_CHAR) {
        if (!on || !s_is_snapreq (data, len))
            return;
        size_t inflight = 0;
        for (s_request_t *r = (s_request_t *) zlistx_first (self->requests); r;
             r = (s_request_t *) zlistx_next (self->requests))
            if (r->sock == xpub->sock && streq (r->who, who))
                inflight++;
        if (inflight >= S_SNAPREQ_INFLIGHT) {
            self->c.snapreq_dropped++;
            return;
        }
        s_request_t *req = (s_request_t *) zmalloc (sizeof (s_request_t));
        assert (req);
        if (bus_snapreq_parse (data, len, req->nonce, req->prefixes, &req->nprefixes)) {
            free (req);
            return;
        }
        req->sock = xpub->sock;
        snprintf (req->who, sizeof req->who, "%s", who);
        req->deadline = zclock_mono () + EVENT_SNAP_WAIT_MS;
        zlistx_add_end (self->requests, req);
        s_requests_serve (self, false);
        return;
    }
    if (on) {
        s_subs_add (&xpub->subs, data, len);
        if (s_subs_add (&self->wanted, data, len) == 1) {
            /* First consumer of this prefix on this node: ask every peer
             * for it, and for its current last values. */
            const uint8_t *pp [1] = { data };
            size_t pl [1] = { len };
            bool state = s_prefix_touches_state (data, len) && !memchr (data, 0, len);
            for (s_peer_t *peer = (s_peer_t *) zhashx_first (self->peers); peer;
                 peer = (s_peer_t *) zhashx_next (self->peers)) {
                s_xsub_send (self, peer->xsub, 1, data, len);
                if (state)
                    s_peer_snapshot_request (self, peer, pp, pl, 1);
            }
        }
    }
    else {
        s_subs_remove (&xpub->subs, data, len);
        if (s_subs_remove (&self->wanted, data, len) == 1) {
            for (s_peer_t *peer = (s_peer_t *) zhashx_first (self->peers); peer;
                 peer = (s_peer_t *) zhashx_next (self->peers))
                s_xsub_send (self, peer->xsub, 0, data, len);
            s_cache_purge (self, NULL, 0, data, len);
        }
    }
}

/* A live event (or batch of events) from a peer: checked by a field-level
 * peek (no decode, no allocation), cached by reference if state-like, and
 * the very same message forwarded to the consumers (bus_client reads
 * batches). Takes `msg`. */
static bool
s_recv_peer_live (self_t *self, s_peer_t *peer, zmq_msg_t *msg)
{
    const uint8_t *frame = (const uint8_t *) zmq_msg_data (msg);
    size_t len = zmq_msg_size (msg);
    event_peek_t pk;
    if (event_frame_peek (frame, len, &pk) != 0 || !event_topic_valid (pk.route)) {
        self->c.malformed++;
        zmq_msg_close (msg);
        return true;
    }
    if ((pk.type != EVENT_EVENT && pk.type != EVENT_BATCH) || pk.has_topic
    ||  strcmp (pk.origin, peer->name) != 0) {
        /* Peers' publishers carry only their own events: anything else is
         * a forgery (or a loop) and never goes further. */
        self->c.forged++;
        zmq_msg_close (msg);
        return true;
    }
    size_t nevents = pk.type == EVENT_BATCH ? pk.nitems : 1;
    self->c.peer_recv += nevents;
    if (pk.type == EVENT_BATCH)
        self->c.batches_recv++;
    if (peer->boot != pk.boot) {
        /* The peer restarted: its old last values are history. */
        if (peer->boot)
            s_cache_purge (self, peer->name, pk.boot, NULL, 0);
        peer->boot = pk.boot;
    }
    if (event_topic_is_state (pk.route)) {
        if (pk.type == EVENT_EVENT)
            s_cache_put (self, pk.origin, pk.boot, pk.tseq, pk.route, false, msg, NULL, 0);
        else {
            /* The batch's last event is the last value: keep it as the
             * single EVENT it stands for. */
            event_item_view_t it, last;
            memset (&last, 0, sizeof last);
            const uint8_t *pos = pk.items;
            while (event_batch_next (&pk, &pos, &it) == 0)
                last = it;
            event_msg_t m;
            m.hdr.version = EVENT_VERSION_SINGLE;
            m.hdr.type = EVENT_EVENT;
            event_event_t *ev = &m.u.event_event;
            memcpy (ev->origin, pk.origin, sizeof ev->origin);
            ev->boot = pk.boot;
            ev->seq = last.seq;
            ev->tseq = last.tseq;
            ev->time_us = last.time_us;
            size_t kl = pk.kind_len < EVENT_KIND_MAX ? pk.kind_len : EVENT_KIND_MAX;
            memcpy (ev->kind, pk.kind, kl);
            ev->kind [kl] = 0;
            ev->payload.data = (uint8_t *) (uintptr_t) last.payload;
            ev->payload.len = last.payload_len;
            ev->topic [0] = 0;
            long flen = event_frame_encode (pk.route, &m, self->buf, EVENT_FRAME_MAX);
            if (flen > 0)
                s_cache_put (self, pk.origin, pk.boot, last.tseq, pk.route, false, NULL,
                             self->buf, (size_t) flen);
        }
    }

    bool to_local = self->local.sock && s_subs_match (&self->local.subs, frame, len);
    bool to_remote = self->remote.sock && s_subs_match (&self->remote.subs, frame, len);
    if (to_local && to_remote) {
        if (s_send_msg (self, &self->remote, msg) == 0)
            self->c.peer_forwarded += nevents;
        to_remote = false;
    }
    s_xpub_t *to = to_local ? &self->local : to_remote ? &self->remote : NULL;
    if (to) {
        if (zmq_msg_send (msg, zsock_resolve (to->sock), ZMQ_DONTWAIT) < 0)
            self->c.send_errors++;
        else {
            self->c.peer_forwarded += nevents;
            return true;            /* zmq owns the message now */
        }
    }
    zmq_msg_close (msg);
    return true;
}

/* An event from a peer's origin publisher, or a snapshot reply. Returns
 * false when nothing was waiting. */
static bool
s_recv_peer_one (self_t *self, s_peer_t *peer)
{
    void *h = zsock_resolve (peer->xsub);
    zmq_msg_t msg;
    zmq_msg_init (&msg);
    if (zmq_msg_recv (&msg, h, ZMQ_DONTWAIT) < 0) {
        zmq_msg_close (&msg);
        return false;
    }
    if (zmq_msg_more (&msg)) {
        /* Not ours: one frame per event. Drain the rest. */
        self->c.malformed++;
        while (zmq_msg_more (&msg) && zmq_msg_recv (&msg, h, ZMQ_DONTWAIT) >= 0)
            ;
        zmq_msg_close (&msg);
        return true;
    }
    const uint8_t *frame = (const uint8_t *) zmq_msg_data (&msg);
    size_t len = zmq_msg_size (&msg);
    const char *route;
    event_msg_t ev;
    if (len > EVENT_FRAME_MAX) {
        self->c.malformed++;
        zmq_msg_close (&msg);
        return true;
    }
    if (frame [0] != EVENT_CTL_CHAR)
        return s_recv_peer_live (self, peer, &msg);
    if (event_frame_decode (frame, len, &route, &ev) != 0) {
        self->c.malformed++;
        zmq_msg_close (&msg);
        return true;
    }
    if (route [0] == EVENT_CTL_CHAR) {
        /* Snapshot reply: items fill our cache, SNAP_END closes it. */
        size_t rl = strlen (EVENT_SNAP_ROUTE);
        const char *nonce = strncmp (route, EVENT_SNAP_ROUTE, rl) == 0 ? route + rl : "";
        if (ev.hdr.type == EVENT_EVENT) {
            event_event_t *e = &ev.u.event_event;
            if (strcmp (e->origin, peer->name) != 0 || !event_topic_valid (e->topic))
                self->c.forged++;
            else
            if (event_topic_is_state (e->topic)) {
                /* Cache it in live form (route = topic, no topic field),
                 * so later snapshots and purges treat it like any other. */
                if (peer->boot != e->boot) {
                    s_cache_purge (self, peer->name, e->boot, NULL, 0);
                    peer->boot = e->boot;
                }
                char topic [EVENT_TOPIC_MAX + 1];
                memcpy (topic, e->topic, sizeof topic);
                e->topic [0] = 0;
                long flen = event_frame_encode (topic, &ev, self->buf, EVENT_FRAME_MAX);
                if (flen > 0)
                    s_cache_put (self, e->origin, e->boot, e->tseq, topic, false, NULL,
                                 self->buf, (size_t) flen);
            }
        }
        else
        if (ev.hdr.type == EVENT_SNAP_END) {
            for (s_pending_t *p = (s_pending_t *) zlistx_first (peer->pending); p;
                 p = (s_pending_t *) zlistx_next (peer->pending))
                if (streq (p->nonce, nonce)) {
                    self->c.peer_snaps_done++;
                    s_peer_snapshot_done (self, peer, zlistx_cursor (peer->pending));
                    s_requests_serve (self, false);
                    break;
                }
        }
        wire_msg_free (&event_proto, &ev);
        zmq_msg_close (&msg);
        return true;
    }
    wire_msg_free (&event_proto, &ev);
    zmq_msg_close (&msg);
    return true;
}

static void
recv_peer (self_t *self, s_peer_t *peer)
{
    for (int i = 0; i < S_BATCH; i++)
        if (!s_recv_peer_one (self, peer))
            break;
}

/* ------------------------------------------------------------------------ */
/*  Actor                                                                   */
/* ------------------------------------------------------------------------ */

static void
s_self_destroy (self_t **self_p)
{
    assert (self_p);
    self_t *self = *self_p;
    if (!self)
        return;
    zpoller_destroy (&self->poller);
    zhashx_destroy (&self->peers);
    zsock_destroy (&self->pull);
    s_xpub_close (&self->origin);
    s_xpub_close (&self->local);
    s_xpub_close (&self->remote);
    s_subs_clear (&self->wanted);
    zhashx_destroy (&self->cache);
    zhashx_destroy (&self->owners);
    zhashx_destroy (&self->tseqs);
    zlistx_destroy (&self->requests);
    for (size_t i = 0; i < self->nopen; i++) {
        free (self->open [i]->arena);
        free (self->open [i]);
    }
    for (size_t i = 0; i < self->nspare; i++) {
        free (self->spare [i]->arena);
        free (self->spare [i]);
    }
    free (self->buf);
    sodium_memzero (self->secret_key, sizeof self->secret_key);
    free (self);
    *self_p = NULL;
}

static int
s_domain (char *out, const char *given, const char *base, const char *name)
{
    int n = given ? snprintf (out, ZAP_DOMAIN_MAX + 1, "%s", given)
                  : snprintf (out, ZAP_DOMAIN_MAX + 1, "%s:%s", base, name);
    return n > 0 && n <= ZAP_DOMAIN_MAX ? 0 : -1;
}

static self_t *
s_self_new (zsock_t *pipe, const bus_config_t *cfg)
{
    self_t *self = (self_t *) zmalloc (sizeof (self_t));
    assert (self);
    self->pipe = pipe;
    self->poller = zpoller_new (pipe, NULL);
    assert (self->poller);
    self->peers = zhashx_new ();
    zhashx_set_destructor (self->peers, s_peer_destroy);
    self->cache = zhashx_new ();
    zhashx_set_destructor (self->cache, s_entry_destroy);
    self->owners = zhashx_new ();
    self->tseqs = zhashx_new ();                /* values are integers: no destructor */
    self->requests = zlistx_new ();
    zlistx_set_destructor (self->requests, s_free_item);
    self->buf = malloc (EVENT_FRAME_MAX);
    assert (self->peers && self->cache && self->tseqs && self->requests && self->buf);

    if (!cfg || !event_node_valid (cfg->name) || !cfg->public_key || !cfg->secret_key) {
        snprintf (self->err, sizeof self->err, "bus: need a valid name and keys");
        return self;
    }
    snprintf (self->name, sizeof self->name, "%s", cfg->name);
    memcpy (self->public_key, cfg->public_key, 32);
    memcpy (self->secret_key, cfg->secret_key, 32);
    self->zap = cfg->zap;
    self->sndhwm = cfg->sndhwm > 0 ? cfg->sndhwm : EVENT_SNDHWM;
    self->boot = cfg->boot;
    while (self->boot == 0)
        randombytes_buf (&self->boot, sizeof self->boot);
    if (s_domain (self->peers_domain, cfg->peers_domain, EVENT_ZAP_PEERS, self->name)
    ||  s_domain (self->consumers_domain, cfg->consumers_domain, EVENT_ZAP_CONSUMERS,
                  self->name)) {
        snprintf (self->err, sizeof self->err, "bus: ZAP domain over %d bytes",
                  ZAP_DOMAIN_MAX);
        return self;
    }
    if ((cfg->origin_endpoint || cfg->consumer_endpoint) && !self->zap) {
        /* Without a ZAP handler ENFORCE_DOMAIN refuses everyone: say so
         * now instead of failing every handshake later. */
        snprintf (self->err, sizeof self->err, "bus: TCP endpoints need a ZAP handler");
        return self;
    }
    if (cfg->origin_endpoint
    &&  s_xpub_open (self, &self->origin, cfg->origin_endpoint, self->peers_domain))
        return self;
    if (cfg->ipc_endpoint && s_xpub_open (self, &self->local, cfg->ipc_endpoint, NULL))
        return self;
    if (cfg->consumer_endpoint
    &&  s_xpub_open (self, &self->remote, cfg->consumer_endpoint, self->consumers_domain))
        return self;
    if (cfg->publish_endpoint) {
        self->pull = zsock_new (ZMQ_PULL);
        assert (self->pull);
        void *h = zsock_resolve (self->pull);
        int hwm = BUS_PUBLISH_HWM, zero = 0;
        zmq_setsockopt (h, ZMQ_RCVHWM, &hwm, sizeof hwm);
        zmq_setsockopt (h, ZMQ_LINGER, &zero, sizeof zero);
        if (zmq_bind (h, cfg->publish_endpoint) != 0) {
            snprintf (self->err, sizeof self->err, "cannot bind %s: %s",
                      cfg->publish_endpoint, zmq_strerror (errno));
            return self;
        }
        zpoller_add (self->poller, self->pull);
    }
    if (self->origin.sock)
        zpoller_add (self->poller, self->origin.sock);
    if (self->local.sock)
        zpoller_add (self->poller, self->local.sock);
    if (self->remote.sock)
        zpoller_add (self->poller, self->remote.sock);
    return self;
}

/* Poll timeout: short while snapshots are pending, else forever. */
static int
s_timeout (self_t *self)
{
    if (self->redials_pending)
        return 20;
    return self->peer_snaps_pending || zlistx_size (self->requests) ? 50 : -1;
}

void
bus_actor (zsock_t *pipe, void *args)
{
    self_t *self = s_self_new (pipe, (const bus_config_t *) args);
    /* zactor_new swallows the signal's status, so the start-up verdict
     * follows as one string: "" or the reason (read by bus_new). */
    zsock_signal (pipe, 0);
    zstr_send (pipe, self->err);
    if (self->err [0]) {
        s_self_destroy (&self);
        return;
    }
    log_info (S_COMP, "bus up|node=%s origin=%s local=%s remote=%s", self->name,
              self->origin.endpoint, self->local.endpoint, self->remote.endpoint);

    while (!self->terminated) {
        void *which = zpoller_wait (self->poller, s_timeout (self));
        if (which == self->pipe)
            recv_pipe (self);
        else
        if (which && which == self->pull)
            recv_pull (self);
        else
        if (which && which == self->origin.sock)
            recv_origin (self);
        else
        if (which && which == self->local.sock)
            recv_consumer (self, &self->local);
        else
        if (which && which == self->remote.sock)
            recv_consumer (self, &self->remote);
        else
        if (which) {
            for (s_peer_t *peer = (s_peer_t *) zhashx_first (self->peers); peer;
                 peer = (s_peer_t *) zhashx_next (self->peers))
                if (peer->xsub == which) {
                    recv_peer (self, peer);
                    break;
                }
                else
                if (peer->monitor == which) {
                    recv_monitor (self, peer);
                    break;
                }
        }
        else
        if (zpoller_terminated (self->poller))
            break;
        if (self->peer_snaps_pending || zlistx_size (self->requests))
            s_expire (self);
        if (self->redials_pending)
            s_redial (self);
    }
    s_self_destroy (&self);
}

zactor_t *
bus_new (const bus_config_t *cfg, char *err, size_t errlen)
{
    zactor_t *actor = zactor_new (bus_actor, (void *) (uintptr_t) cfg);
    char *verdict = actor ? zstr_recv (actor) : NULL;
    if (!verdict || verdict [0]) {
        if (err && errlen)
            snprintf (err, errlen, "%s", verdict ? verdict : "bus: cannot start actor");
        zstr_free (&verdict);
        zactor_destroy (&actor);
        return NULL;
    }
    zstr_free (&verdict);
    return actor;
}

int
bus_publish (zactor_t *bus, const char *topic, const char *kind, const void *payload,
             size_t size)
{
    assert (bus);
    void *h = zsock_resolve (bus);
    /* Only the first frame can hit the pipe's HWM; once it is accepted
     * libzmq takes the rest of the message. */
    if (zmq_send (h, "PUBLISH", 7, ZMQ_SNDMORE | ZMQ_DONTWAIT) < 0)
        return -1;
    zmq_send (h, topic, strlen (topic), ZMQ_SNDMORE);
    zmq_send (h, kind ? kind : "", kind ? strlen (kind) : 0, ZMQ_SNDMORE);
    zmq_send (h, payload, size, 0);
    return 0;
}

int
bus_command (zactor_t *bus, const char *command, const char *arg)
{
    assert (bus);
    if (arg)
        zsock_send (bus, "ss", command, arg);
    else
        zsock_send (bus, "s", command);
    int rc = -1;
    if (zsock_recv (bus, "i", &rc) != 0)
        return -1;
    return rc;
}

uint64_t
bus_stat (const char *stats, const char *key)
{
    size_t kl = strlen (key);
    for (const char *p = stats; p && *p; ) {
        if (strncmp (p, key, kl) == 0 && p [kl] == '=')
            return strtoull (p + kl + 1, NULL, 10);
        p = strchr (p, ' ');
        if (p)
            p++;
    }
    return 0;
}
