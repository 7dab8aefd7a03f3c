/*
 * swim_internal.h - what the swim_*.c files share; not for other modules.
 * Cross-file names are `swim__`, file-local ones `s_`.
 */
#ifndef SHED_SWIM_INTERNAL_H
#define SHED_SWIM_INTERNAL_H

#include "cluster/swim.h"

#include <czmq.h>

/* ---- Suspicion (swim_suspicion.c) ---------------------------------------
 * Lifeguard's dynamic suspicion timeout, as in memberlist's suspicion.go:
 *   timeout(C) = max - (max - min) * log(C + 1) / log(k + 1), at least min
 * where C counts independent confirmations (distinct accusers other than the
 * first) and k is how many we expect. A suspicion nobody confirms runs for
 * `max`, which is what keeps a lossy but healthy member alive long enough to
 * refute; one many members agree on expires after `min`. */
typedef struct {
    uint64_t start_ms;
    uint64_t min_ms, max_ms;
    uint64_t timeout_ms;                 /* cached: changes only on start/confirm */
    uint32_t k;                          /* confirmations expected */
    uint32_t n;                          /* confirmations so far */
    char accusers[8][SWIM_NAME_MAX + 1]; /* first accuser + confirmers */
    uint32_t naccusers;
} swim_suspicion_t;

void swim__suspicion_start (swim_suspicion_t *s, uint64_t now, uint32_t k, uint64_t min_ms,
                            uint64_t max_ms, const char *accuser);
/* True if `from` is a new independent confirmation (timeout shrank). */
bool swim__suspicion_confirm (swim_suspicion_t *s, const char *from);
uint64_t swim__suspicion_timeout (const swim_suspicion_t *s);
uint64_t swim__suspicion_deadline (const swim_suspicion_t *s);

/* ---- Awareness (swim_awareness.c) ---------------------------------------
 * Lifeguard's local health: 0 is healthy, up to max. Timers scale by
 * (score + 1). */
typedef struct {
    uint32_t score;
    uint32_t max;
} swim_awareness_t;

void swim__awareness_apply (swim_awareness_t *a, int delta);
uint64_t swim__awareness_scale (const swim_awareness_t *a, uint64_t base_ms);

/* ---- Members ------------------------------------------------------------ */
/* The suspicion (~550 bytes, its accusers' names) lives out of line and only
 * while the member is suspected: a member table holds every member of the
 * cluster, and inline it made each entry ~0.8 KiB of which almost all was
 * an idle suspicion (a 1,000-node simulation holds 10^6 entries). */
typedef struct {
    /* Of the name: the name index, the digest weight. First, so that a
     * name lookup finds the hash and the name it compares in one cache
     * line (at the end, a found entry cost two misses: a 5,000-member
     * table does not stay in any cache). */
    uint32_t hash;
    swim_member_t pub;
    swim_suspicion_t *suspicion; /* non-NULL while suspected */
} swim_node_t;

/* ---- Broadcast queue (swim_broadcast.c) --------------------------------- */
typedef struct {
    gossip_update_t update; /* tags and key point into owned copies */
    uint8_t keybuf[SWIM_KEY_BYTES];
    size_t size; /* bytes it adds to an encoded packet */
    uint32_t transmits;
    uint64_t order; /* enqueue order: newer first on ties */
} swim_bcast_t;

/* An entry's place in a bucket, with the two fields the queue's scans
 * read: a packet's take skips entries by size and a move finds its place
 * by order, and through the entry pointer each of those reads was a cache
 * miss (the take's scan was half of swim__bqueue_take). */
typedef struct {
    swim_bcast_t *b;
    uint64_t order; /* b->order */
    size_t size;    /* b->size */
} swim_bref_t;

/* Entries sent the same number of times, oldest first (by order). */
typedef struct {
    swim_bref_t *items;
    size_t n, cap;
    size_t min_size; /* no entry is smaller (a bound: SIZE_MAX when empty) */
} swim_bucket_t;

/* Kept in take order at all times, instead of sorted per packet: a qsort
 * of every queued update per outgoing packet was 40% of a 1,000-node
 * simulation's join storm (N queued joins on every node). */
typedef struct {
    swim_bucket_t *buckets; /* buckets[t]: entries transmitted t times */
    size_t nbuckets;
    size_t n;          /* entries in all buckets */
    zhashx_t *by_name; /* member name -> its entry (keys point into it) */
    uint64_t next_order;
} swim_bqueue_t;

void swim__bqueue_init (swim_bqueue_t *q);
void swim__bqueue_clear (swim_bqueue_t *q);
/* Queue `u` (copied), replacing any queued update about the same member. */
void swim__bqueue_put (swim_bqueue_t *q, const gossip_update_t *u, size_t size);
/* Pick updates for one packet: least transmitted first, newest first on
 * ties, while they fit in `budget` bytes; `first`, if not NULL, names a
 * member whose update goes first (the buddy system). Fills out[] with
 * shallow copies valid until the next queue call; bumps transmit counts and
 * retires those that reached `limit`. Returns the count. */
size_t swim__bqueue_take (swim_bqueue_t *q, const char *first, size_t budget, uint32_t limit,
                          gossip_update_t *out, size_t max, uint64_t *retired);
/* Transmit count of the queued update about `name` (-1 if none). */
/* Retire finished entries, return how many remain. */
size_t swim__bqueue_pending (swim_bqueue_t *q, uint32_t limit);
int swim__bqueue_transmits (swim_bqueue_t *q, const char *name);
bool swim__bqueue_has (swim_bqueue_t *q, const char *name, uint32_t kind);

/* ---- Copy helpers (swim_members.c) -------------------------------------- */
/* Deep-copy tags (dst must be empty/zeroed). 0 or -1. */
int swim__tags_copy (wire_tags_t *dst, const wire_tags_t *src);
void swim__tags_free (wire_tags_t *tags);
bool swim__tags_equal (const wire_tags_t *a, const wire_tags_t *b);

/* ---- The core ------------------------------------------------------------ */
typedef struct {
    uint64_t seq; /* our seq towards the target */
    char origin_addr[SWIM_ADDR_MAX + 1];
    uint16_t origin_port;
    uint64_t origin_seq;
    uint64_t deadline_ms;
} swim_relay_t;

#define SWIM_RELAYS_MAX  64
/* Least time between two repair push-pulls triggered by the digest, times
 * the full sync's scale (x1 up to 32 members, x2 to 64, x3 to 128, x6 at
 * 1,000, x9 at 5,000: each repair ships the whole member list both ways).
 * In a cold start a joiner's first repair comes while others are still
 * joining, so most joiners need a second one: at 200 ms flat, that
 * second repair was most of a 64-node start's convergence time
 * (docs/membership.md "Join convergence"). */
#define SWIM_SYNC_GAP_MS 50
/* News is sent on within gossip_interval / SWIM_FRESH_DIV of the last
 * gossip round, not a whole interval later (docs/membership.md
 * "Dissemination"): 10 ms on LAN, 100 ms on WAN. */
#define SWIM_FRESH_DIV   5

struct _swim_t {
    swim_config_t cfg;
    swim_env_t env;
    swim_stats_t stats;

    swim_node_t **nodes; /* nodes[0] is us */
    size_t nnodes, capnodes;
    /* Members (us included) per state, kept by swim__count_state at every
     * state change, add and remove: the counts are read per packet (the
     * `known` field, retransmit limits, suspicion bounds), and a scan of
     * every member there made each node O(N) per packet (bench/sim.sh
     * found 40% of a 1,000-node run in that scan). */
    size_t nstate[SWIM_UPD_LEFT + 1];
    /* The repair digest (docs/membership.md, "The repair digest"): sums of
     * weight(name) * (incarnation + 1), mod 2^32, over every member held,
     * us included (dig_all), and over the alive and suspect ones
     * (dig_live), kept with the per-state counts and at every incarnation
     * change. Learning a member or a higher incarnation raises both; a
     * suspicion moves neither; a death or a leave lowers dig_live only, a
     * reap dig_all only. The weight (1..256, from a hash of the name)
     * makes two different pieces of news unlikely to weigh the same, so
     * that two nodes each missing one still differ. */
    uint32_t dig_all, dig_live;
    /* Name index: open addressing, linear probing, load <= 1/2, entries
     * not owned. A zhashx item per member (plus its bucket) was ~60 of
     * the ~330 bytes each member costs, in a table every node holds for
     * every member (25 million entries in a 5,000-node simulation). */
    swim_node_t **index;
    size_t index_cap; /* a power of two, or 0 */
    /* Members under suspicion, in no order: the suspicion timers are read
     * on every tick and every swim_next_deadline, and a walk over every
     * member there made each node O(N) per event. */
    swim_node_t **suspects;
    size_t nsuspects, capsuspects;
    /* The earliest suspicion deadline (UINT64_MAX: no suspect), so the
     * tick and swim_next_deadline do not walk every suspect per input (a
     * node holds up to ~N/20 suspects with 5% slow members: that walk was
     * 14-19% of a 5,000-node simulation). A start or a confirmation can
     * only bring it forward; when the suspicion holding it ends,
     * susp_due_stale is set and the value is then a lower bound,
     * recomputed by the next swim__suspect_due (once per ended earliest
     * suspicion, not per input). */
    uint64_t susp_due_ms;
    bool susp_due_stale;
    /* Gossip targets (alive, suspect, recently dead) in member order,
     * instead of a walk over every member per gossip tick: kept through
     * the changes that leave them in order (alive <-> suspect, a death, a
     * return from a recent death, a new member at the end), rebuilt after
     * the others (a remove, a leave) or when a dead member ages out
     * (cands_until). */
    swim_node_t **cands;
    size_t ncands, capcands;
    bool cands_valid;
    uint64_t cands_until;
    /* Earliest time a dead or left member is due to be reaped (UINT64_MAX:
     * none), so the once-a-second reaper only walks when one is due. */
    uint64_t reap_due_ms;
    zhashx_t *refused; /* name -> expiry (uintptr), event rate limit */

    /* Probing: shuffled round-robin over the other members. */
    swim_node_t **order;
    size_t norder, caporder, order_idx;
    struct {
        bool active;
        uint64_t seq;
        char target[SWIM_NAME_MAX + 1];
        uint64_t timeout_at, end_at;
        bool indirect_sent, acked;
        uint32_t expected_nacks, nacks;
    } probe;
    uint64_t probe_next_ms;
    uint64_t seq;

    swim_relay_t relays[SWIM_RELAYS_MAX];
    size_t nrelays;

    swim_bqueue_t bq;
    swim_awareness_t awareness;
    uint64_t gossip_next_ms;
    uint64_t gossip_last_ms;  /* the last gossip round (0: none yet) */
    uint64_t gossip_close_ms; /* the closing digest round (0: none due) */
    uint64_t pushpull_next_ms;
    uint64_t pushpull_last_ms; /* the last periodic sync (at start: a jittered now) */
    uint64_t reconnect_next_ms;
    uint64_t reap_next_ms;
    uint64_t sync_next_ms;

    bool joined;
    bool joining_reply; /* merging the answer to our join */
    bool leaving;
    char refused_why[200];
    bool is_refused;
};

/* swim_index.c (name index, counts, digest, suspects, gossip targets) */
swim_node_t *swim__lookup (swim_t *self, const char *name);
/* Room in the name index for `n` members (0, or -1: out of memory). */
int swim__index_reserve (swim_t *self, size_t n);
/* Index `node` under its name (room reserved first). */
void swim__index_put (swim_t *self, swim_node_t *node);
/* Take `node` out of the name index. */
void swim__index_del (swim_t *self, swim_node_t *node);
size_t swim__live_count (swim_t *self); /* alive + suspect */
/* Move member `node` (at its current incarnation) from state `from` to
 * `to` in the counts and the digest sums (from or to may be -1: the
 * member is new or gone). Its weight comes from node->hash (set with the
 * name, swim__node_name), not from hashing the name again. */
void swim__count_state (swim_t *self, int from, int to, swim_node_t *node);
/* A member's digest weight (1..256): FNV-1a of its name, low 8 bits, + 1. */
uint32_t swim__digest_weight (const char *name);
/* Name a new member entry: its name and the name's hash together. */
void swim__node_name (swim_node_t *node, const char *name);
/* Set a member's incarnation, keeping the digest sums. */
void swim__set_inc (swim_t *self, swim_node_t *node, uint64_t inc);
/* The digest sums recomputed from every member's name, incarnation and
 * state (what swim__count_state keeps incrementally), for checks. */
void swim__digest_scan (swim_t *self, uint32_t *all, uint32_t *live);
/* The digest as sent in PING, ACK, NACK and GOSSIP: dig_all in the low 32
 * bits, dig_all - dig_live in the high 32 (0 while nothing is dead or
 * left, so the field stays a few bytes). */
uint64_t swim__digest (swim_t *self);
/* True if a sender advertising `digest` (or, from a sender without one,
 * `known` alive members) holds a member or an incarnation we do not. */
bool swim__behind (swim_t *self, uint64_t known, uint64_t digest);
/* Start / end the suspicion of `node` (kept in self->suspects). */
swim_suspicion_t *swim__suspect_on (swim_t *self, swim_node_t *node);
void swim__suspect_off (swim_t *self, swim_node_t *node);
/* The suspicion of `node` was started or confirmed: its deadline (only
 * ever earlier after a confirmation) may now be the earliest. */
void swim__suspect_armed (swim_t *self, swim_node_t *node);
/* The earliest suspicion deadline (UINT64_MAX: no suspect). */
uint64_t swim__suspect_due (swim_t *self);
/* Fill self->cands with the gossip targets (cached; false: out of memory). */
bool swim__gossip_cands (swim_t *self, uint64_t now);
size_t swim__alive_count (swim_t *self);
uint32_t swim__retransmit_limit (swim_t *self);
void swim__suspicion_bounds (swim_t *self, uint64_t *min_ms, uint64_t *max_ms);

/* swim_members.c (the member table, precedence rules, broadcasts) */
/* Apply one update from the network; true if it changed our view. */
bool swim__apply (swim_t *self, const gossip_update_t *u);
/* Fill *u (shallow: points into the member) with the member's alive record. */
void swim__alive_record (const swim_member_t *m, gossip_update_t *u);
/* Queue a broadcast of `u`. */
void swim__broadcast (swim_t *self, const gossip_update_t *u);
/* Queue our own alive record. */
void swim__broadcast_self (swim_t *self);
/* Mark `node` dead/suspect/... and run the side effects. */
void swim__set_dead (swim_t *self, swim_node_t *node, const char *accuser);
void swim__remove (swim_t *self, swim_node_t *node);
void swim__emit (swim_t *self, swim_event_kind_t kind, const swim_member_t *m, const char *reason);

/* Every datagram's `updates` member has this layout. */
typedef struct {
    size_t n;
    gossip_update_t *items;
} swim_updates_t;

/* swim_datagram.c */
/* Encode and send `msg`; with `updates` (the message's own list), fill it
 * from the broadcast queue first (`buddy`'s update first), as much as fits
 * the packet. */
void swim__send_msg (swim_t *self, const char *addr, uint16_t port, gossip_msg_t *msg,
                     swim_updates_t *updates, const char *buddy);
void swim__send_ack (swim_t *self, const char *addr, uint16_t port, uint64_t seq, bool nack);
void swim__send_ping (swim_t *self, const swim_member_t *target, uint64_t seq, const char *buddy);
/* One gossip round (`closing`: the round after the queue ran dry). */
void swim__gossip (swim_t *self, uint64_t now, bool closing);
/* Decode a datagram (stream false) or a stream message into *msg (the
 * caller frees it on WIRE_OK); a drop is counted. */
int swim__decode (swim_t *self, const uint8_t *buf, size_t len, gossip_msg_t *msg, bool stream);

/* swim_probe.c: the three steps of a probe, run by swim_tick. */
void swim__probe_start (swim_t *self, uint64_t now);
void swim__probe_indirect (swim_t *self);
void swim__probe_end (swim_t *self);

/* swim_sync.c */
/* Fill *u (shallow) with the member's record in its current state. */
void swim__record (const swim_member_t *m, gossip_update_t *u);
void swim__pushpull_send (swim_t *self, const char *addr, uint16_t port, bool join);
/* Push-pull with a random member in `state`, other than us, if any. */
void swim__pushpull_random_in (swim_t *self, swim_state_t state);
/* The full sync's scale with the cluster, and its interval. */
uint64_t swim__sync_scale (swim_t *self);
uint64_t swim__pushpull_interval (swim_t *self);

static inline uint64_t
swim__now (swim_t *self)
{
    return self->env.now_ms (self->env.ctx);
}

static inline uint32_t
swim__rand (swim_t *self, uint32_t n)
{
    return n ? self->env.random (self->env.ctx) % n : 0;
}

#endif
