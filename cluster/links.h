/*
 * links.h - node links: the actor that owns the replicated state store and
 * keeps it in sync with peers over ZeroMQ secured by CURVE.
 *
 * Sockets:
 *   ROUTER   bound at cfg->endpoint (e.g. tcp://198.18.0.1:7947), a CURVE
 *            server with the node's X25519 key, ZAP domain cfg->zap_domain,
 *            ZMQ_ZAP_ENFORCE_DOMAIN on: only keys ALLOWed in the shared
 *            zap_t connect. Every message's "User-Id" (the client key the
 *            ZAP handler vouched for) is checked again against the allow-list
 *            so a key DENYed after it connected is ignored at once; a fresh
 *            connection with it fails the handshake.
 *   DEALER   one per peer of the linked subset (docs/state.md,
 *            "Connections per node"): every PEER-ADD is a directory entry,
 *            but only min(N, 8 + ceil(log2 N)) random members (at most
 *            LINKS_SUBSET_MAX) hold a connection, re-drawn as members come
 *            and go and rotated one every LINKS_ROTATE_DEFAULT ms. Each is
 *            a CURVE client whose server key is the peer's public key (as
 *            membership learned it), so we talk only to the real holder of
 *            that key. The DEALERs live in a peer_pool (cluster/peer_pool.h):
 *            a socket that cannot be made is counted and retried.
 *   PUB      inproc change events (endpoint from the EVENTS command).
 *
 * Protocol (messages in state_msg.h, one frame each):
 *   every interval (jitter +-25%) we send DIGEST{reply} to a random linked
 *   peer over its DEALER; it answers DELTA (what we lack) and its own
 *   DIGEST; we answer that with our DELTA. A DELTA with `more` gets a fresh
 *   DIGEST at once, so a large catch-up streams without waiting for the
 *   timer. Local writes go out immediately as PUSH to the linked peers and,
 *   over the ROUTER, to the peers linked to us; a PUSH that changed our
 *   store is re-pushed the same way once (rumor mongering). Frames over
 *   STATE_FRAME_MAX, undecodable frames and non-network types are dropped
 *   and counted.
 *
 * Start:
 *     links_config_t cfg = { .name = "n1", .endpoint = "tcp://127.0.0.1:*",
 *                            .public_key = pk, .secret_key = sk, .zap = zap };
 *     char err [256];
 *     links_t *links = links_new (&cfg, err, sizeof err);
 *     ...
 *     links_destroy (&links);
 * `cfg` is copied (keys included; the copy of the secret is wiped at exit);
 * `zap` is shared and must outlive the actor.
 *
 * links_t is a thin facade over the actor (links_api.c; the zyre shape of
 * docs/architecture.md, "Conventions"): each method sends one of the
 * commands below and reads its reply; change events come on the PUB at
 * links_events_endpoint, never on the pipe. Owner's thread only.
 *
 * Commands on the actor pipe (czmq picture strings; every command gets a
 * reply):
 *   "ssss"  PEER-ADD name endpoint pubkey-z85     -> "i"  0 | -1
 *           (re-adding a name replaces its endpoint and key; a linked
 *           peer is re-dialled)
 *   "ss"    PEER-REMOVE name                      -> "i"  0 | -1 (unknown)
 *   "ss"    ALLOW pubkey-z85                      -> "i"  0 | -1 (bad key)
 *   "ss"    DENY pubkey-z85                       -> "i"  0 | -1
 *   "sssb"  PUT kind key value                    -> "is" 0 | -err, reason
 *   "sss"   DELETE kind key                       -> "is" 0 | -err, reason
 *   "ssss"  GET origin kind key                   -> "isb8" found(1|0),
 *                                                    origin status, value, version
 *   "ss"    LIST kind ("" = every kind)           -> one message: count (decimal),
 *                                                    then 6 frames per live record:
 *                                                    origin kind key version status value
 *                                                    (read with zmsg_recv)
 *   "sss"   ORIGIN-STATUS name alive|unreachable|removed -> "i"
 *   "sss"   ORIGIN-KEY name ed25519-z85 ("" forgets)     -> "i"  0 | -1
 *   "s"     SYNC (an anti-entropy round now)      -> "i"  0 | -1 (no peers)
 *   "s"     STATS                                 -> "s"  logfmt counters, see below
 *   "s"     ENDPOINT (bound, port resolved)       -> "s"
 *   "s"     EVENTS (PUB endpoint)                 -> "s"
 *   "s"     PUBKEY (ours, z85)                    -> "s"
 *   "s"     $TERM                                 (no reply; actor exits)
 *
 * Events on the PUB socket, 7 frames:
 *   topic event origin key version status value
 *   topic is the record kind ("node", "service"...) or "$origin";
 *   event is INSERTED | UPDATED | DELETED | ORIGIN; version is decimal text;
 *   status is alive | unreachable | removed; value is the record's bytes
 *   (empty for DELETED and ORIGIN). Subscribe to "service" for services.
 *   PUB drops on a full subscriber queue (SNDHWM 100000): a consumer that
 *   fell behind re-reads with LIST.
 *
 * STATS counters (one line, key=value):
 *   peers records digests_sent digests_recv deltas_sent deltas_recv
 *   pushes_sent pushes_recv applied stale refused_self refused_removed
 *   resets purged malformed denied_msgs send_drops handshakes_ok
 *   handshakes_refused redials dial_refused zap_admitted zap_refused
 *   refused_sig deferred linked subset_target sockets sock_fail
 *   rumors_sent rotations (peers: the directory; linked: connected)
 */
#ifndef SHED_LINKS_H
#define SHED_LINKS_H

#include "cluster/zap.h"
#include "crypto/identity.h"

#include <czmq.h>
#include <stddef.h>
#include <stdint.h>

#define LINKS_DEFAULT_PORT     7947
#define LINKS_INTERVAL_DEFAULT 1000 /* ms between anti-entropy rounds */
#define LINKS_EVENTS_HWM       100000
#define LINKS_PEER_HWM         1000 /* frames queued per peer */
/* Connected subset (docs/state.md, "Anti-entropy"): of N members, hold
 * DEALERs to min(N, BASE + ceil(log2 N)) (or links_config_t.subset),
 * never more than MAX; swap one for a random other every ROTATE ms. */
#define LINKS_SUBSET_BASE      8
#define LINKS_SUBSET_MAX       64
#define LINKS_ROTATE_DEFAULT   10000

typedef struct {
    const char *name;          /* this node (record origin) */
    const char *endpoint;      /* ROUTER bind endpoint */
    const char *data_dir;      /* NULL: state in memory only */
    const uint8_t *public_key; /* X25519, 32 bytes */
    const uint8_t *secret_key; /* X25519, 32 bytes */
    zap_t *zap;                /* shared ZAP handler (borrowed) */
    const char *zap_domain;    /* NULL: "links/<name>" */
    int interval_ms;           /* 0: LINKS_INTERVAL_DEFAULT */
    int64_t tombstone_ttl_ms;  /* 0: STATE_TOMBSTONE_TTL_DEFAULT */
    size_t budget;             /* DELTA/PUSH byte budget, 0: default */
    size_t subset;             /* linked peers, 0: LINKS_SUBSET_BASE + ceil(log2 N) */
    int rotate_ms;             /* 0: LINKS_ROTATE_DEFAULT */
    /* Borrowed, must outlive the actor. Set: our records are signed with
     * its Ed25519 key and every remote record must be signed by its
     * origin's key, as given by ORIGIN-KEY (docs/state.md, "Trust").
     * NULL: neither (transport tests). */
    const shed_identity_t *identity;
} links_config_t;

typedef struct _links_t links_t;

/* The actor function (args: links_config_t *, copied before it signals). */
void links_actor (zsock_t *pipe, void *args);

/* Start the actor and check that it came up (store loaded, socket bound).
 * On failure returns NULL with a one-line reason in err. */
links_t *links_new (const links_config_t *cfg, char *err, size_t errlen);
/* Stop the actor ($TERM) and free. NULL-safe; sets *self_p to NULL. */
void links_destroy (links_t **self_p);

/* PEER-ADD, PEER-REMOVE, ALLOW, DENY, ORIGIN-KEY, ORIGIN-STATUS, SYNC
 * (keys as Z85 text): the actor's answer, 0 or -1 (also when it did not
 * answer). */
int links_peer_add (links_t *self, const char *name, const char *endpoint, const char *key_z85);
int links_peer_remove (links_t *self, const char *name);
int links_allow (links_t *self, const char *key_z85);
int links_deny (links_t *self, const char *key_z85);
int links_origin_key (links_t *self, const char *name, const char *sigkey_z85);
int links_origin_status (links_t *self, const char *name, const char *status);
int links_sync (links_t *self);

/* PUT / DELETE one of our records: 0, or -1 with the store's reason. */
int links_put (links_t *self, const char *kind, const char *key, const void *value, size_t len,
               char *err, size_t errlen);
/* PUT whose record need not be on disk when the call returns: it reaches
 * state.bin at the next anti-entropy round (state_tick, one interval at
 * most), with the next PUT or DELETE (each writes the whole file), or when
 * the actor stops; several such puts cost one write. For records the
 * daemon puts again at every start from its own durable sources (its node
 * record, its overlay claim), which a crash therefore cannot lose for
 * good. Versions stay safe across a crash either way: a put that needs a
 * new reservation writes it before the version is used (docs/state.md,
 * "Versioning and persistence"). */
int links_put_deferred (links_t *self, const char *kind, const char *key, const void *value,
                        size_t len, char *err, size_t errlen);
int links_delete (links_t *self, const char *kind, const char *key, char *err, size_t errlen);

/* GET a live record: 1 with *status and *value (both the caller's to
 * free: zstr_free, free), *len, *version; 0 if there is none; -1 if the
 * actor did not answer. */
int links_get (links_t *self, const char *origin, const char *kind, const char *key, char **status,
               uint8_t **value, size_t *len, uint64_t *version);

/* LIST kind ("" or NULL = every kind): the reply message as described
 * above (the caller destroys it), or NULL. */
zmsg_t *links_list (links_t *self, const char *kind);

/* STATS: a new string (zstr_free), or NULL. */
char *links_stats (links_t *self);

/* Fixed for the actor's life, valid until links_destroy: the bound
 * ROUTER endpoint, the change events' PUB endpoint, our public key (Z85). */
const char *links_endpoint (links_t *self);
const char *links_events_endpoint (links_t *self);
const char *links_pubkey (links_t *self);

#endif
