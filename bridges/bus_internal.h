/*
 * bus_internal.h - the pieces of the bus actor (bus.h) shared by its files;
 * not an API for other components (tests and fuzzers use a few).
 *
 * The actor is one thread and one `bus_actor_t`, split by concern:
 *   bus.c        actor loop, commands, STATS, consumer XPUBs, public API
 *   bus_subs.c   prefix sets (who wants what)
 *   bus_cache.c  last-value cache, snapshots served, "$snapreq" parser
 *   bus_local.c  this node's events: batching, encoding, fan-out
 *   bus_links.c  the routing tree: parent link (DEALER), children (ROUTER),
 *                handshakes, redials, pings, connection counts
 *   bus_route.c  subscriptions along the tree, events from links (dedup,
 *                split horizon), snapshots between neighbours
 * docs/events.md ("Routing tree") explains the design and its numbers.
 *
 * A consumer (or a neighbour) asks for last values by subscribing to
 * "$snapreq.<nonce>\0<prefix1>\0<prefix2>\0..." (docs/events.md, "Last
 * values and snapshots"). The bytes come from the network, so the parser
 * is fuzzed (fuzz/fuzz_snapreq.c); so is the link message parser
 * (bus_link_parse, fuzz/fuzz_buslink.c).
 */
#ifndef SHED_BUS_INTERNAL_H
#define SHED_BUS_INTERNAL_H

#include "bridges/bus.h"
#include "bridges/event_msg.h"

#include <czmq.h>
#include <stddef.h>
#include <stdint.h>

#define BUS_SNAPREQ_ROUTE "$snapreq."           /* + nonce NUL prefixes...: a request */
#define BUS_SUB_MAX       (EVENT_TOPIC_MAX + 1) /* one prefix, NUL included */

/* Parse a whole "$snapreq.<nonce>\0p1\0p2\0..." subscription of `len`
 * bytes (the route already checked by the caller) into a NUL-terminated
 * nonce (1..EVENT_NONCE_MAX bytes) and up to EVENT_PREFIXES_MAX prefixes
 * (each < BUS_SUB_MAX bytes, every one NUL-terminated in the input).
 * Returns 0, or -1 if anything is out of bounds (then nonce/prefixes are
 * partly written and must not be used). */
int bus_snapreq_parse (const uint8_t *data, size_t len, char nonce[EVENT_NONCE_MAX + 1],
                       char prefixes[][BUS_SUB_MAX], size_t *nprefixes);

/* A control message on a link (event_msg.h, EVENT_LINK_*): its type and
 * what follows the type byte. For HELLO the body must be a valid node
 * name (copied, NUL-terminated, into name); for SUB/UNSUB 0..2*BUS_SUB_MAX
 * bytes. Returns 0, or -1 for anything else (counted malformed). */
int bus_link_parse (const uint8_t *data, size_t len, int *type, const uint8_t **body,
                    size_t *body_len, char name[EVENT_NODE_MAX + 1]);

/* The routing tree (docs/events.md, "Routing tree"): node `idx` of the
 * sorted member list has parent (idx - 1) / BUS_TREE_FANOUT; the root
 * (idx 0) has none. Returns the parent index or -1. */
#define BUS_TREE_FANOUT 4
long bus_tree_parent (size_t idx);

/* ------------------------------------------------------------------------ */
/*  Prefix sets (bus_subs.c)                                                */
/* ------------------------------------------------------------------------ */

/* The prefixes some subscriber wants. A non-verbose XPUB tells us only the
 * first subscribe and the last unsubscribe of each prefix, so a set (with
 * a reference count when several sources feed one set) is exact. */
typedef struct {
    uint8_t data[BUS_SUB_MAX];
    size_t len;
    int refs;
} bus_sub_t;

typedef struct {
    bus_sub_t *items;
    size_t n;
    size_t cap;
} bus_subs_t;

#define BUS_SUBS_MAX 4096 /* distinct prefixes per set */

bus_sub_t *bus_subs_find (bus_subs_t *subs, const uint8_t *data, size_t len);
/* 1 if this made the prefix appear, 0 if it was there (refs++), -1 if full. */
int bus_subs_add (bus_subs_t *subs, const uint8_t *data, size_t len);
/* 1 if this made the prefix disappear, else 0. */
int bus_subs_remove (bus_subs_t *subs, const uint8_t *data, size_t len);
/* Does any prefix match the start of this frame? */
bool bus_subs_match (const bus_subs_t *subs, const uint8_t *frame, size_t len);
void bus_subs_clear (bus_subs_t *subs);

/* ------------------------------------------------------------------------ */
/*  The actor's state                                                       */
/* ------------------------------------------------------------------------ */

#define BUS_KEY_Z85 41 /* 40 chars + NUL */
#define BUS_CHILDREN_MAX                                                                           \
    (2 * BUS_TREE_FANOUT)        /* children accepted: views may
                                                    briefly differ during churn */
#define BUS_BATCH            256 /* messages read per poll, per socket */
#define BUS_WHO_MAX          128 /* a consumer's CURVE key or address */
#define BUS_SNAPREQ_INFLIGHT 4   /* per consumer (docs/events.md) */
#define BUS_OPEN_MAX         8   /* (topic, kind) batches gathered */
#define BUS_OWNER_KEY_MAX    (EVENT_NODE_MAX + EVENT_TOPIC_MAX + 3)

/* A member: PEER-ADD gives its endpoint and key; only members' events are
 * accepted, and the sorted member names are the routing tree. PEER-VERSION
 * gives the highest EVENT_BATCH version it reads (EVENT_VERSION_BATCH
 * until told). */
typedef struct {
    char name[EVENT_NODE_MAX + 1];
    char endpoint[256];
    uint8_t key[32];
    uint16_t event_version;
} bus_member_t;

/* A peer snapshot request we sent on a link, waiting for SNAP_END. */
typedef struct {
    char nonce[EVENT_NONCE_MAX + 1];
    int64_t deadline;
} bus_pending_t;

/* One edge of the routing tree: our parent (we dialled it, DEALER) or a
 * child (it dialled our ROUTER; `id` is its routing id = its CURVE key). */
typedef struct {
    char id[BUS_KEY_Z85];
    char name[EVENT_NODE_MAX + 1];
    bool parent;
    bool up;           /* handshake done (parent) / HELLO seen (child) */
    bool gone;         /* to be reaped (child vanished, BYE) */
    bus_subs_t in;     /* prefixes it asked of us */
    bus_subs_t out;    /* prefixes we asked of it */
    zlistx_t *pending; /* bus_pending_t */
} bus_link_t;

/* Last value of one (origin, topic) of a state-like topic. */
typedef struct {
    char origin[EVENT_NODE_MAX + 1];
    char owner[BUS_OWNER_KEY_MAX]; /* whose budget it counts in */
    char via[BUS_KEY_Z85];         /* link it came from ("" = ours): split horizon */
    bool local;                    /* we are the origin */
    uint64_t boot;
    uint64_t tseq;
    zmq_msg_t msg; /* the live frame (shared, refcounted) */
    const uint8_t *frame;
    size_t len;
} bus_entry_t;

/* A snapshot request waiting for neighbours' snapshots: a consumer's (on
 * an XPUB) or a neighbour's (on a link, by id). */
typedef struct {
    zsock_t *sock;          /* XPUB, or NULL for a link */
    char link[BUS_KEY_Z85]; /* the link's id when sock is NULL */
    char who[BUS_WHO_MAX];
    char nonce[EVENT_NONCE_MAX + 1];
    char prefixes[EVENT_PREFIXES_MAX][BUS_SUB_MAX];
    size_t nprefixes;
    int64_t deadline;
} bus_request_t;

/* Per-origin duplicate filter (docs/events.md, "Routing tree"): a frame is
 * known by (origin, boot, its first seq). */
#define BUS_DEDUP_RING 64
typedef struct {
    uint64_t boot;
    uint64_t high;                 /* highest first-seq seen */
    uint64_t ring[BUS_DEDUP_RING]; /* recent first-seqs */
    size_t at;
} bus_origin_t;

typedef struct {
    zsock_t *sock;
    bus_subs_t subs;
    char endpoint[256];
} bus_xpub_t;

typedef struct {
    uint64_t published, invalid, origin_sent, origin_skipped, consumer_sent;
    uint64_t peer_recv, peer_forwarded, forged, malformed, send_errors;
    uint64_t cache_full, snapshots_served, peer_snaps_done, peer_snaps_timeout;
    uint64_t cache_evicted, peer_refused, peer_redials, batches_sent, batches_recv;
    uint64_t snapreq_dropped;
    uint64_t relayed;          /* events sent on to another link */
    uint64_t dups;             /* frames seen twice (tree churn) */
    uint64_t link_drops;       /* events a full link queue dropped */
    uint64_t unknown_origin;   /* events of a non-member */
    uint64_t children_refused; /* HELLO over BUS_CHILDREN_MAX */
    uint64_t hello_resent;     /* HELLO again after a silent parent */
    uint64_t tree_changes;     /* parent changed */
    uint64_t socket_errors;    /* sockets that could not be created */
    uint64_t batches_recoded;  /* peers' batches re-encoded at batch_version */
} bus_counters_t;

typedef struct {
    char topic[EVENT_TOPIC_MAX + 1];
    char kind[EVENT_KIND_MAX + 1];
    bool tracked, counted;
    uint64_t tseq;
    size_t n;
    event_item_t items[EVENT_BATCH_MAX];
    uint8_t *arena;
    size_t used;
} bus_batch_t;

typedef struct {
    zsock_t *pipe;
    zpoller_t *poller;
    bool terminated;

    char name[EVENT_NODE_MAX + 1];
    char z85[BUS_KEY_Z85]; /* our public key: our routing id */
    uint8_t public_key[32];
    uint8_t secret_key[32]; /* wiped at exit */
    zap_t *zap;
    char peers_domain[ZAP_DOMAIN_MAX + 1];
    char consumers_domain[ZAP_DOMAIN_MAX + 1];
    int sndhwm;

    zsock_t *pull;            /* producers' events (cfg->publish_endpoint) */
    bus_xpub_t local, remote; /* consumers: ipc, TCP + CURVE */
    bus_subs_t wanted;        /* consumers' subs + every link's `in` (refs) */

    /* The tree (bus_links.c). */
    zsock_t *router;     /* children dial it (cfg->origin_endpoint) */
    zsock_t *router_mon; /* its connection events */
    char router_endpoint[256];
    zsock_t *dealer; /* to our parent */
    zsock_t *dealer_mon;
    bus_link_t *up; /* the parent link, NULL at the root */
    char parent_name[EVENT_NODE_MAX + 1];
    char parent_endpoint[256];
    uint8_t parent_key[32];
    bus_link_t *kids[BUS_CHILDREN_MAX]; /* children that said HELLO */
    size_t nkids;
    bool reap_due;     /* some child is gone */
    int64_t redial_at; /* parent: mono ms of the next dial, 0 = none */
    int backoff_ms;
    int64_t ping_at;
    int64_t conns_in;     /* accepted TCP connections open */
    bool conn_up;         /* dealer connected */
    int64_t parent_heard; /* mono ms of the parent's last message */

    zhashx_t *members; /* name -> bus_member_t */
    /* The EVENT_BATCH version every member reads (the lowest of theirs,
     * at most EVENT_VERSION): what batches leave this bus at, ours and
     * relayed ones (docs/events.md, "Mixed versions"). */
    uint16_t batch_version;
    zhashx_t *origins;  /* name -> bus_origin_t */
    zhashx_t *cache;    /* "origin\x1ftopic" -> bus_entry_t */
    zhashx_t *owners;   /* owner -> entries (uintptr_t) */
    zhashx_t *tseqs;    /* topic -> counter (local origin) */
    zlistx_t *requests; /* bus_request_t */
    size_t peer_snaps_pending;

    uint64_t boot, seq, nonce_counter;
    int64_t now_us;

    uint8_t *buf; /* EVENT_FRAME_MAX scratch */
    bus_batch_t *open[BUS_OPEN_MAX];
    size_t nopen;
    bus_batch_t *spare[BUS_OPEN_MAX];
    size_t nspare;
    bus_counters_t c;
    char err[256];
} bus_actor_t;

/* bus_cache.c */
void bus_entry_destroy (void **item);
void bus_cache_put (bus_actor_t *self, const char *origin, uint64_t boot, uint64_t tseq,
                    const char *topic, const char *via, zmq_msg_t *msg, const uint8_t *frame,
                    size_t len);
/* Drop cached entries of others: of `origin` (or any), not of `keep_boot`
 * (0: any), under `prefix` no remaining subscription covers (NULL: any). */
void bus_cache_purge (bus_actor_t *self, const char *origin, uint64_t keep_boot,
                      const uint8_t *prefix, size_t prefix_len);
/* Send matching entries (not those that came from `link`) as "$snap.<nonce>"
 * items then SNAP_END, on the XPUB or the link. */
void bus_snapshot_serve (bus_actor_t *self, bus_xpub_t *xpub, bus_link_t *link, const char *nonce,
                         char prefixes[][BUS_SUB_MAX], size_t nprefixes, bool partial);
bool bus_prefix_touches_state (const uint8_t *p, size_t len);

/* bus_local.c */
void bus_publish_one (bus_actor_t *self, const char *topic, const char *kind,
                      const uint8_t *payload, size_t size);
void bus_batches_flush (bus_actor_t *self);
void bus_batches_free (bus_actor_t *self);

/* bus_links.c */
int bus_links_open (bus_actor_t *self, const char *endpoint);
void bus_links_close (bus_actor_t *self);
void bus_links_rebind (bus_actor_t *self);
/* Recompute our parent from the member list; (re)dial if it changed. */
void bus_tree_update (bus_actor_t *self);
/* Send a frame (a shared reference to msg, or bytes) on a link. 0, or -1
 * (counted; a child that is gone is removed: do not use it after -1). */
int bus_link_send_msg (bus_actor_t *self, bus_link_t *link, zmq_msg_t *msg);
int bus_link_send (bus_actor_t *self, bus_link_t *link, const void *data, size_t len);
bus_link_t *bus_link_find (bus_actor_t *self, const char *id);
/* Every link (parent first) into out[], which has room for
 * BUS_CHILDREN_MAX + 1; returns how many. Safe against changes while the
 * caller walks it (gone links are only reaped by bus_links_tick). */
size_t bus_links_all (bus_actor_t *self, bus_link_t *out[]);
size_t bus_links_up (bus_actor_t *self);
void bus_links_tick (bus_actor_t *self);   /* redials, pings, reaping, when due */
int bus_links_timeout (bus_actor_t *self); /* poll timeout they need, -1 none */
/* Handle a readable tree socket; false if `which` is none of them. */
bool bus_links_recv (bus_actor_t *self, void *which);

/* bus_route.c */
/* A source (link, or NULL for a consumer XPUB) subscribed / unsubscribed. */
void bus_route_sub (bus_actor_t *self, bus_link_t *from, int on, const uint8_t *data, size_t len);
/* A link came up: send it every prefix it should carry. */
void bus_route_link_up (bus_actor_t *self, bus_link_t *link);
/* A link is going away: take back what it asked for. */
void bus_route_link_gone (bus_actor_t *self, bus_link_t *link);
/* One message from a link (takes msg). */
void bus_route_recv (bus_actor_t *self, bus_link_t *link, zmq_msg_t *msg);
/* Hand a frame to consumers and to every link (but `from`) that wants it.
 * Returns how many links took it. Does not take msg. */
size_t bus_route_fanout (bus_actor_t *self, bus_link_t *from, zmq_msg_t *msg, size_t nevents);
void bus_requests_serve (bus_actor_t *self, bool force);
void bus_expire (bus_actor_t *self);

#endif
