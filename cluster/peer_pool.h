/*
 * peer_pool.h - a bounded set of CURVE-authenticated DEALER connections to
 * peers, keyed by peer name (docs/state.md, "Connections per node").
 *
 * Links and RPC used to hold one DEALER (plus a handshake monitor: two more
 * sockets) per cluster member, so a node's sockets grew with the cluster
 * and at ~100 members passed libzmq's socket limit; czmq's zsock_new then
 * aborted the process. A pool holds at most `cap` connections:
 *
 *   - peer_pool_open makes an entry (name, endpoint, server key) and dials
 *     it. When the pool is full the least recently used entry that is not
 *     pinned (peer_pool_pin: RPC pins a peer while requests to it are in
 *     flight) is closed first; if every entry is pinned the open fails.
 *   - Sockets are created with zsys_socket, which returns NULL when libzmq
 *     is out of sockets (ZMQ_MAX_SOCKETS) or the process out of fds
 *     (EMFILE), where zsock_new asserts. A failure is counted (sock_fail)
 *     and the entry stays, without a socket, and is dialled again by
 *     peer_pool_tick after a backoff: never an abort.
 *   - Handshake monitors are transient. libzmq 4.3 never retries a CURVE
 *     handshake the server's ZAP refused, so a new connection is watched
 *     until its first handshake outcome: a refusal re-dials after 100 ms
 *     doubling to 2 s; a success ends the monitor. A monitor costs two
 *     sockets and 4.3.4 (no draft API) cannot share one PAIR between many
 *     monitored sockets, so this keeps the count to the connections still
 *     handshaking instead of one pair per connection for its lifetime. A
 *     refusal later on (the peer restarted and has not learnt our key yet)
 *     is the owner's silence check: links re-dials a peer that left a
 *     DIGEST unanswered, RPC closes the connection of a timed-out call.
 *
 * The pool adds and removes its sockets on the owner's zpoller; the owner
 * passes every readable socket to peer_pool_event. Not thread-safe: one
 * owner (an actor) calls everything.
 */
#ifndef SHED_PEER_POOL_H
#define SHED_PEER_POOL_H

#include <czmq.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define PEER_POOL_NAME_MAX    64  /* STATE_ORIGIN_MAX */
#define PEER_POOL_BACKOFF_MIN 100 /* ms before re-dialling a refused/failed peer */
#define PEER_POOL_BACKOFF_MAX 2000

typedef struct _peer_pool_t peer_pool_t;

typedef struct {
    const char *comp;          /* log component ("links", "rpc") */
    const uint8_t *public_key; /* our X25519 key pair, 32 bytes each (copied) */
    const uint8_t *secret_key;
    size_t cap;        /* most connections held at once, >= 1 */
    int sndhwm;        /* ZMQ_SNDHWM of each DEALER */
    bool immediate;    /* ZMQ_IMMEDIATE: queue nothing before connected */
    zpoller_t *poller; /* borrowed: the owner's poller */
    /* Called after peer_pool_tick opened the socket of an entry again (a
     * re-dial after a refusal or a creation failure), so the owner can
     * send again what waits for that peer. May be NULL. */
    void (*on_redial) (void *arg, const char *name, void *sock);
    void *arg;
} peer_pool_config_t;

typedef struct {
    uint64_t opened;       /* DEALERs created */
    uint64_t closed;       /* DEALERs closed (any reason) */
    uint64_t evicted;      /* entries closed to make room (LRU) */
    uint64_t full;         /* opens refused: every entry pinned */
    uint64_t sock_fail;    /* socket creations that failed (limits, EMFILE) */
    uint64_t monitor_fail; /* monitors that could not be made */
    uint64_t handshakes_ok;
    uint64_t refused; /* handshakes refused (re-dial scheduled) */
    uint64_t redials;
} peer_pool_stats_t;

typedef enum {
    PEER_POOL_EV_NONE = 0,  /* not a socket of this pool */
    PEER_POOL_EV_READABLE,  /* a DEALER has a message: the owner reads it */
    PEER_POOL_EV_CONNECTED, /* a handshake succeeded */
    PEER_POOL_EV_REFUSED,   /* a handshake failed; re-dial scheduled */
    PEER_POOL_EV_OTHER,     /* a monitor event that needs nothing */
} peer_pool_event_t;

/* NULL on bad arguments. */
peer_pool_t *peer_pool_new (const peer_pool_config_t *cfg);
/* Close every socket; NULL-safe. */
void peer_pool_destroy (peer_pool_t **self_p);

/* Make sure `name` has an entry dialling `endpoint` with server key `key`
 * (32 bytes); an entry of that name with another endpoint or key is
 * re-dialled. Marks it most recently used. Returns 0 (the socket may still
 * be NULL after a creation failure: peer_pool_tick retries) or -1 (bad
 * arguments, or the pool is full of pinned entries). */
int peer_pool_open (peer_pool_t *self, const char *name, const char *endpoint,
                    const uint8_t key[32]);
/* Close and forget `name`'s entry. Returns 0, or -1 if there was none. */
int peer_pool_close (peer_pool_t *self, const char *name);
/* Close `name`'s socket and dial again now (a stuck link). */
void peer_pool_redial (peer_pool_t *self, const char *name);

/* `name`'s DEALER (borrowed), or NULL (no entry, or no socket right now).
 * Does not change the LRU order; peer_pool_touch does. */
void *peer_pool_sock (peer_pool_t *self, const char *name);
bool peer_pool_has (peer_pool_t *self, const char *name);
void peer_pool_touch (peer_pool_t *self, const char *name);
/* In-flight count: pinned entries (count > 0) are never evicted. */
void peer_pool_pin (peer_pool_t *self, const char *name, int delta);

/* What a readable socket from the owner's poller is. For an event other
 * than NONE *name (if not NULL) points to the entry's name, valid until the
 * next pool call. READABLE: read the message from *sock. */
peer_pool_event_t peer_pool_event (peer_pool_t *self, void *which, const char **name, void **sock);

/* Due re-dials; returns the mono ms of the next one, or 0 if none. */
int64_t peer_pool_tick (peer_pool_t *self);
/* Close unpinned entries not used for idle_ms; returns how many. */
size_t peer_pool_close_idle (peer_pool_t *self, int64_t idle_ms);

size_t peer_pool_size (peer_pool_t *self); /* entries */
size_t peer_pool_cap (peer_pool_t *self);
/* ZeroMQ sockets held now: DEALERs plus two per live monitor. */
size_t peer_pool_sockets (peer_pool_t *self);
const peer_pool_stats_t *peer_pool_stats (peer_pool_t *self);

#endif
