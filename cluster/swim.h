/*
 * swim.h - the membership protocol core: SWIM with the Lifeguard refinements.
 *
 * Pure logic: no sockets, no threads, no clock of its own. Everything from
 * the outside world comes through an injected environment (swim_env_t): the
 * time, random numbers, "send this datagram to addr:port", "open a stream
 * exchange with addr:port" and "a member changed". That is what lets the
 * unit tests run hundreds of nodes in one process on a fake clock and a
 * lossy in-memory network, and what the membership actor wires to UDP/TCP.
 *
 * Driving it:
 *     swim_t *swim = swim_new (&config, &env);
 *     swim_join (swim, "10.0.0.1", 7946);              // push-pull with a seed
 *     loop:
 *         wait until swim_next_deadline (swim) or a datagram arrives
 *         swim_receive (swim, from_addr, from_port, bytes, len);
 *         swim_tick (swim);
 *     swim_leave (swim); ... until swim_leave_done (swim)
 *     swim_destroy (&swim);
 *
 * Datagrams given to swim_receive must already be authenticated (the actor
 * opens them with the cluster keyring); swim_receive still treats them as
 * untrusted input: bounds-checked decode, then semantic checks, and anything
 * nonsensical is dropped and counted.
 *
 * Protocol summary (docs/membership.md has the details and the reasoning):
 * every probe interval we probe the next member of a shuffled round-robin
 * list with PING; no ACK within the probe timeout sends PING_REQ to k
 * members, who relay the ping and answer NACK if the target stays silent; no
 * ack by the end of the interval makes the target SUSPECT. Suspicion expires
 * into DEAD after a timeout that starts at max and shrinks towards min as
 * independent accusers confirm it. A member that hears it is suspected (or
 * declared dead) refutes with a higher incarnation. Our own health score
 * (awareness) stretches our probe interval and timeout while our probes fail
 * without nacks or we have to refute. Updates ride on every packet from a
 * transmit-limited queue and, while that queue is not empty, are gossiped to
 * a few random members every gossip interval.
 */
#ifndef SHED_SWIM_H
#define SHED_SWIM_H

#include "cluster/gossip_msg.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct _swim_t swim_t;

/* Member states, same numbers as the update kinds on the wire. */
typedef enum {
    SWIM_ALIVE = SWIM_UPD_ALIVE,
    SWIM_SUSPECT = SWIM_UPD_SUSPECT,
    SWIM_DEAD = SWIM_UPD_DEAD, /* failed: stopped answering */
    SWIM_LEFT = SWIM_UPD_LEFT, /* left gracefully; not a failure */
} swim_state_t;

/* A member as the core sees it. Pointers to it are valid until the next call
 * into the core (receive, tick, join, leave, set_tag, destroy). */
typedef struct {
    char name[SWIM_NAME_MAX + 1];
    char addr[SWIM_ADDR_MAX + 1];
    uint16_t port;
    uint64_t incarnation;
    swim_state_t state;
    uint64_t state_since_ms;        /* when it entered `state` (our clock) */
    uint16_t vmin, vmax;            /* membership protocol range it speaks */
    uint8_t key[SWIM_KEY_BYTES];    /* its identity (X25519 public key) */
    uint8_t sigkey[SWIM_KEY_BYTES]; /* its Ed25519 public key (all zero: not
                                         advertised); signs its state records */
    wire_tags_t tags;               /* owned by the core */
} swim_member_t;

typedef enum {
    SWIM_EV_JOIN = 0, /* a member appeared, or came back after dead/left */
    SWIM_EV_UPDATE,   /* tags/address/protocol changed, or suspicion refuted */
    SWIM_EV_SUSPECT,  /* a member is suspected */
    SWIM_EV_FAIL,     /* a member was declared dead */
    SWIM_EV_LEAVE,    /* a member left gracefully */
    SWIM_EV_REAP,     /* a dead/left member was forgotten */
    SWIM_EV_REFUSED,  /* a member (or we ourselves) was refused: see reason */
    SWIM_EV_COUNT_
} swim_event_kind_t;

typedef struct {
    swim_event_kind_t kind;
    const swim_member_t *member; /* the member concerned (a copy for REAP) */
    const char *reason;          /* REFUSED and UPDATE: why, else NULL */
} swim_event_t;

/* The environment. Every function is called synchronously from inside the
 * core; none may call back into the core. */
typedef struct {
    void *ctx;
    uint64_t (*now_ms) (void *ctx); /* monotonic milliseconds */
    uint32_t (*random) (void *ctx); /* uniform 32-bit random */
    /* Send one datagram (plaintext; the transport seals it). */
    void (*send) (void *ctx, const char *addr, uint16_t port, const uint8_t *buf, size_t len);
    /* Start a reliable push-pull exchange: deliver `buf` to addr:port's
     * swim_receive_stream(), and hand its reply (if any) to our own
     * swim_receive_stream(). May be NULL (no push-pull). */
    void (*stream) (void *ctx, const char *addr, uint16_t port, const uint8_t *buf, size_t len);
    void (*event) (void *ctx, const swim_event_t *event); /* may be NULL */
} swim_env_t;

typedef struct {
    char name[SWIM_NAME_MAX + 1]; /* unique in the cluster */
    char addr[SWIM_ADDR_MAX + 1]; /* address others reach us at */
    uint16_t port;
    uint8_t key[SWIM_KEY_BYTES];    /* our identity public key */
    uint8_t sigkey[SWIM_KEY_BYTES]; /* our Ed25519 public key (zero: none) */
    uint64_t incarnation;           /* starting incarnation (0 is fine: a
                                         restarted node learns its old one) */
    uint16_t vmin, vmax;            /* protocol range we speak */

    uint32_t probe_interval_ms;       /* one probe per interval */
    uint32_t probe_timeout_ms;        /* direct ack wait before indirect probes */
    uint32_t indirect_checks;         /* k members asked to probe for us */
    double suspicion_mult;            /* min suspicion = mult * max(1,log10 N) * interval */
    double suspicion_max_mult;        /* max suspicion = max_mult * min */
    uint32_t suspicion_confirmations; /* confirmations that shrink max to min */
    uint32_t awareness_max;           /* health score ceiling (interval x (score+1)) */
    uint32_t gossip_interval_ms;      /* dissemination tick while updates pending */
    uint32_t gossip_nodes;            /* fan-out per gossip tick */
    uint32_t gossip_to_dead_ms;       /* keep gossiping to the recently dead */
    uint32_t retransmit_mult;         /* limit = mult * ceil(log10(N + 1)) */
    uint32_t pushpull_interval_ms;    /* full-state sync with a random member; 0 = off */
    uint32_t reconnect_interval_ms;   /* push-pull with a random failed member, so
                                         a healed partition merges back; 0 = off */
    uint64_t reap_dead_ms;            /* forget dead members after this */
    uint64_t reap_left_ms;            /* forget left members after this */
    size_t packet_max;                /* plaintext datagram budget */
} swim_config_t;

/* Fill *config with LAN defaults (see docs/membership.md for the reasoning)
 * or WAN defaults. Identity fields are left empty. */
void swim_config_lan (swim_config_t *config);
void swim_config_wan (swim_config_t *config);

/* Counters (docs/membership.md explains each). */
/* clang-format off */
#define SWIM_COUNTERS(C) \
    C (pings_sent)       C (acks_sent)        C (nacks_sent)        C (ping_reqs_sent) \
    C (gossip_sent)      C (packets_sent)     C (packets_received)  C (probes) \
    C (probe_failures)   C (indirect_acks)    C (nacks_received)    C (suspicions) \
    C (refutations)      C (deaths)           C (pushpulls)         C (updates_applied) \
    C (drop_decode)      C (drop_version)     C (drop_invalid)      C (drop_stale_ack) \
    C (drop_misdirected) C (drop_self)        C (refused_conflict)  C (refused_version) \
    C (refused_full)     C (stale_updates)    C (bcast_dropped)     C (repair_syncs)
/* clang-format on */

typedef struct {
#define SWIM_COUNTER_FIELD(n) uint64_t n;
    SWIM_COUNTERS (SWIM_COUNTER_FIELD)
#undef SWIM_COUNTER_FIELD
} swim_stats_t;

/* Create a core. Copies config and env. Returns NULL on a bad config. */
swim_t *swim_new (const swim_config_t *config, const swim_env_t *env);
/* NULL-safe; nulls the caller's pointer. */
void swim_destroy (swim_t **self_p);

/* Feed one authenticated datagram from addr:port. Returns 0 if processed,
 * or a negative wire_err_t / -100 (semantic drop); drops are counted. */
int swim_receive (swim_t *self, const char *addr, uint16_t port, const uint8_t *buf, size_t len);

/* Feed one stream message (push-pull request or reply). For a request,
 * *reply gets a malloc'd reply the caller sends back and frees (may be left
 * NULL). Returns 0 or negative as swim_receive. */
int swim_receive_stream (swim_t *self, const char *addr, uint16_t port, const uint8_t *buf,
                         size_t len, uint8_t **reply, size_t *reply_len);

/* Run every timer that is due. */
void swim_tick (swim_t *self);
/* Earliest time (now_ms clock) at which swim_tick has work. */
uint64_t swim_next_deadline (swim_t *self);

/* Join through a seed: a push-pull exchange (join flag set). Repeatable. */
void swim_join (swim_t *self, const char *addr, uint16_t port);
/* True once a join exchange got a reply, i.e. we are part of a cluster. */
bool swim_joined (swim_t *self);
/* Non-NULL once we were refused (name held by another live identity,
 * protocol range mismatch with the seed): the reason. A refused core stops
 * probing and ignores input. */
const char *swim_refused (swim_t *self);

/* Leave gracefully: broadcast LEFT and stop probing. */
void swim_leave (swim_t *self);
/* True when the LEFT update has been sent enough to be safe (or nobody is
 * left to tell). */
bool swim_leave_done (swim_t *self);

/* Force a failed member out (swim_force.c): gossip that it left, at its
 * incarnation. Refuses (-1, reason in why) an unknown name, ourselves and
 * an alive or suspect member; 0 also when it had left already. */
int swim_force_leave (swim_t *self, const char *name, char *why, size_t whylen);
/* Drop a left member now (REAP event), not after reap_left_ms. 0, or -1 if
 * `name` is not a left member. */
int swim_forget (swim_t *self, const char *name);

/* Set or remove one of our tags; re-announces us with incarnation + 1.
 * Returns 0, or -1 if the key/value is too long or too many tags. */
int swim_set_tag (swim_t *self, const char *key, const char *value);
int swim_unset_tag (swim_t *self, const char *key);

/* Members, ourselves included (index 0 is always us). */
size_t swim_size (swim_t *self);
const swim_member_t *swim_member_at (swim_t *self, size_t index);
const swim_member_t *swim_lookup (swim_t *self, const char *name);
size_t swim_count_state (swim_t *self, swim_state_t state);
const swim_member_t *swim_self (swim_t *self);

/* Encode every member as a GOSSIP_MEMBERS message (malloc'd). 0 or -1. */
int swim_members_encode (swim_t *self, uint8_t **out, size_t *out_len);
/* Encode one member as a GOSSIP_MEMBERS message of one item. 0 or -1. */
int swim_member_encode (const swim_member_t *member, uint8_t **out, size_t *out_len);

/* Start a push-pull with a random live member now (the periodic timer does
 * this on its own). */
void swim_pushpull_random (swim_t *self);

void swim_stats (swim_t *self, swim_stats_t *stats);
/* Current health score (0 = healthy). */
uint32_t swim_awareness (swim_t *self);
/* Current suspicion timeout (ms) of a suspected member, 0 if not suspect. */
uint64_t swim_suspicion_timeout (swim_t *self, const char *name);
/* Pending broadcasts (tests and the leave logic). */
size_t swim_broadcasts_pending (swim_t *self);

const char *swim_state_name (swim_state_t state);
const char *swim_event_name (swim_event_kind_t kind);

#endif
