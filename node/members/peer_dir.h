/*
 * peer_dir.h - the peer directory: the other members of the cluster as the
 * daemon's peer-to-peer planes see them.
 *
 * It follows membership once (one listener on shed_members_t) and keeps,
 * per member that advertises an X25519 key: its name, keys, gossip address
 * and the endpoints of its other planes, derived here and nowhere else from
 * the gossip port (docs/architecture.md, "Ports"), and its status. The
 * planes that talk to peers (links in node_state.c, node RPC in node_rpc.c,
 * the bus in node_events.c, the overlay in node_overlay.c) register with it
 * and get typed callbacks instead of each decoding membership events.
 *
 * The shared ZAP allow-lists (cluster/zap.h) are kept in step here: a
 * consumer that registers with a ZAP domain has the peer's key ALLOWed in
 * that domain before its `added` / `updated` callback (the peer dials as
 * soon as it hears of us, and a refused handshake costs a re-dial), and
 * DENYed before its `removed` callback. A consumer that must keep a leaving
 * peer admitted a while longer (the bus, to get the peer's last events)
 * registers without a domain and does its own.
 *
 * Events, from membership:
 *   join / update (alive)  new peer: ALLOW, added; known: updated
 *                          (status PEER_ALIVE; key changes re-ALLOW)
 *   suspect                new peer: ALLOW, added; known: updated
 *                          (status PEER_SUSPECT)
 *   fail                   failed (status PEER_FAILED); no ALLOW for a
 *                          peer first seen failed
 *   leave / reap           DENY, removed (status PEER_LEFT), forgotten
 * Ourselves and members without a 32-byte key are not peers. A consumer
 * that registers is told the current view at once: `added` for alive and
 * suspect peers, `failed` for failed ones (as membership replays its view).
 *
 * Main thread only; callbacks run on it. The peer is valid only during a
 * callback.
 */
#ifndef SHED_PEER_DIR_H
#define SHED_PEER_DIR_H

#include "cluster/gossip_msg.h"
#include "cluster/zap.h"
#include "node/members/node_members.h"

#include <stdbool.h>
#include <stdint.h>

/* Every node-to-node port is the gossip port plus one of these. */
#define PEER_PORT_LINKS   1 /* replicated state ROUTER */
#define PEER_PORT_BUS     2 /* event bus tree ROUTER */
#define PEER_PORT_RPC     3 /* node RPC ROUTER (cluster/rpc.h RPC_PORT_OFFSET) */
#define PEER_PORT_OVERLAY 4 /* overlay UDP (encrypted mode) */

#define PEER_ENDPOINT_MAX      128
#define PEER_DIR_CONSUMERS_MAX 8

typedef enum { PEER_ALIVE, PEER_SUSPECT, PEER_FAILED, PEER_LEFT } peer_status_t;

typedef struct {
    char name[SWIM_NAME_MAX + 1];
    uint8_t key[32];    /* X25519: CURVE and overlay sessions */
    uint8_t sigkey[32]; /* Ed25519 record key; all zero: none */
    bool has_sigkey;
    char addr[SWIM_ADDR_MAX + 1]; /* gossip address */
    uint16_t gossip_port;
    char links[PEER_ENDPOINT_MAX]; /* tcp://addr:gossip+1 */
    char bus[PEER_ENDPOINT_MAX];   /* tcp://addr:gossip+2 */
    char rpc[PEER_ENDPOINT_MAX];   /* tcp://addr:gossip+3 */
    uint16_t overlay_port;         /* gossip+4 (udp) */
    peer_status_t status;
} peer_t;

typedef void (peer_dir_fn) (const peer_t *peer, void *arg);

/* What a consumer wants to hear; any may be NULL. */
typedef struct {
    peer_dir_fn *added;
    peer_dir_fn *updated;
    peer_dir_fn *failed;
    peer_dir_fn *removed;
} peer_dir_ops_t;

typedef struct _peer_dir_t peer_dir_t;

/* `self_name` is this node (never a peer). `zap` (borrowed, may be NULL in
 * tests) holds the allow-lists; `members` (borrowed, may be NULL in tests:
 * feed peer_dir_member instead) is followed from now on. NULL with a
 * reason in err on failure. */
peer_dir_t *peer_dir_new (const char *self_name, zap_t *zap, shed_members_t *members, char *err,
                          size_t errlen);
void peer_dir_destroy (peer_dir_t **self_p);

/* Register a consumer (at most PEER_DIR_CONSUMERS_MAX): `ops` is copied;
 * `zap_domain` (copied; NULL: none) is the domain the directory keeps in
 * step for it. Returns 0, or -1 with a reason in err (full, domain too
 * long). */
int peer_dir_on_peer (peer_dir_t *self, const peer_dir_ops_t *ops, const char *zap_domain,
                      void *arg, char *err, size_t errlen);

/* One membership event (the listener; exposed for tests). */
void peer_dir_member (peer_dir_t *self, const char *kind, const gossip_update_t *m);

/* A peer by name (NULL if unknown); valid until the next event. */
const peer_t *peer_dir_lookup (peer_dir_t *self, const char *name);
size_t peer_dir_size (peer_dir_t *self);

/* "tcp://addr:<gossip_port + offset>" into buf.
 * Returns 0, -1 if it does not fit. Also for our own bind endpoints. */
int peer_endpoint (char *buf, size_t size, const char *addr, unsigned gossip_port, unsigned offset);

#endif
