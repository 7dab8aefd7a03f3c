/*
 * links_internal.h - what links.c (messages, commands, lifecycle) and
 * links_peers.c (the directory, the connected subset, rounds, pushes and
 * rumors) share. Not a public interface: see links.h.
 */
#ifndef SHED_LINKS_INTERNAL_H
#define SHED_LINKS_INTERNAL_H

#include "cluster/links.h"
#include "cluster/peer_pool.h"
#include "cluster/state.h"

#include <stdbool.h>

/* A member we know of: a directory entry is a name, an endpoint and a key;
 * only `linked` ones (the subset) hold a connection in the pool. */
typedef struct {
    char name[STATE_ORIGIN_MAX + 1];
    char *endpoint;
    char pubkey[41]; /* z85 */
    uint8_t key[32];
    bool linked;            /* in the connected subset */
    bool down;              /* membership says unreachable */
    int64_t awaiting_since; /* first unanswered DIGEST, 0 if none */
    int64_t redial_backoff; /* ms; doubles while the peer stays silent */
} links_peer_t;

/* A peer whose DEALER reached our ROUTER lately: pushes and rumors go back
 * to it over the ROUTER, so the subset graph works both ways. */
typedef struct {
    zframe_t *rid; /* its ROUTER routing id */
    int64_t seen;  /* mono ms of its last message */
} links_inbound_t;

typedef struct {
    uint64_t digests_sent, digests_recv, deltas_sent, deltas_recv;
    uint64_t pushes_sent, pushes_recv, malformed, denied_msgs, send_drops;
    uint64_t handshakes_ok, handshakes_refused; /* redials: the pool counts them */
    uint64_t dial_refused;                      /* our DEALERs refused by a peer */
    uint64_t rumors_sent;                       /* PUSH frames re-pushed (rumor mongering) */
    uint64_t rotations;                         /* subset members swapped for fresh ones */
} links_counters_t;

typedef struct {
    zsock_t *pipe;
    zpoller_t *poller;
    state_t *store;
    zap_t *zap;
    char name[STATE_ORIGIN_MAX + 1];
    char domain[ZAP_DOMAIN_MAX + 1];
    uint8_t public_key[32];
    uint8_t secret_key[32]; /* wiped at exit */
    char pubkey_z85[41];
    zsock_t *router;
    zsock_t *monitor; /* PAIR reading the router's monitor */
    zsock_t *events;  /* PUB */
    char *endpoint;   /* bound, resolved */
    char *events_endpoint;
    zhashx_t *peers;   /* the directory: name -> links_peer_t */
    peer_pool_t *pool; /* DEALERs of the linked subset */
    zhashx_t *inbound; /* z85 -> links_inbound_t: peers linked to us */
    size_t subset;     /* configured subset size, 0 = by formula */
    int rotate_ms;
    int64_t next_rotate;
    zhashx_t *origin_keys;           /* name -> Ed25519 public key (32 bytes) */
    const shed_identity_t *identity; /* NULL: records neither signed nor checked */
    int interval_ms;
    size_t budget;
    int64_t next_round;
    char error[256]; /* init failure, "" if fine */
    bool terminated;
    links_counters_t c;
} links_self_t;

/* Where a reply goes: back over the ROUTER to `rid`, or over a DEALER. */
typedef struct {
    void *sock;
    zframe_t *rid; /* NULL for a DEALER */
} links_dest_t;

/* links.c */
void links_send_digest (links_self_t *self, links_dest_t *dest, bool reply);
void links_handle_payload (links_self_t *self, zframe_t *payload, links_dest_t *dest,
                           const char *from);

/* links_peers.c */
int links_peers_init (links_self_t *self);
void links_peers_destroy (links_self_t *self);
int links__peer_add (links_self_t *self, const char *name, const char *endpoint, const char *z85);
int links__peer_remove (links_self_t *self, const char *name);
void links_peer_status (links_self_t *self, const char *name, bool down);
size_t links_subset_target (links_self_t *self);
size_t links_linked (links_self_t *self);
void links_round (links_self_t *self);
/* Rotate the subset if due; returns the mono ms of the next rotation. */
int64_t links_rotate_due (links_self_t *self);
void links_push_all (links_self_t *self);
/* Re-push a PUSH frame that changed our store to the subset, except to
 * the peer named `from` (NULL: none) or holding key `from_z85`. */
void links_rumor (links_self_t *self, const uint8_t *buf, size_t len, const char *from,
                  const char *from_z85);
/* A message from `uid` (z85) came over the ROUTER from routing id `rid`. */
void links_inbound_seen (links_self_t *self, const char *uid, zframe_t *rid);
/* A readable socket of the pool: handled (true) or not ours (false). */
bool links_pool_event (links_self_t *self, void *which);

#endif
