/*
 * bus.h - the node's event bus: cluster-wide event fan-out over ZeroMQ
 * (docs/events.md; the actor's files: bus_internal.h).
 *
 *   members, sorted:  n1 | n2 n3 n4 n5 | n6 ...    a 4-ary tree, the same on
 *                     root   n1's children  n6's    every node: the parent of
 *                                           parent  index i is (i - 1) / 4
 *                                           is n2
 *
 * Sockets of one bus actor:
 *   tree    ROUTER on cfg->origin_endpoint (TCP, CURVE server with the
 *           node's key, ZAP domain cfg->peers_domain, ENFORCE_DOMAIN): its
 *           children in the routing tree dial it. At most 8 children.
 *   parent  one DEALER to the parent's ROUTER (CURVE client pinned to its
 *           key; routing id = our key). None at the root.
 *   local   XPUB on ipc (cfg->ipc_endpoint) for consumers on this host.
 *   remote  XPUB on TCP + CURVE for remote consumers (cfg->consumer_endpoint),
 *           ZAP domain cfg->consumers_domain (CONSUMER-ALLOW).
 * So a node holds at most 9 bus connections whatever the cluster size.
 * Consumers' subscriptions travel along the tree toward every producer;
 * events travel back only along links that asked for them, never back on
 * the link they came from, deduplicated by (origin, boot, seq) while the
 * tree changes. A topic nobody subscribed to never leaves its origin.
 *
 * Frames, topics and envelope: bridges/event_msg.h. Each event carries
 * origin, boot id, per-origin `seq` and per-(origin, topic) `tseq`; a
 * consumer sees a gap in `tseq` when something was dropped. XPUBs drop on
 * a full subscriber queue (SNDHWM): a slow consumer never blocks the bus.
 *
 * Late joiners: the bus keeps the last event per (origin, topic) of the
 * state-like topics; a consumer asks for a snapshot by subscribing to
 * "$snap.<nonce>\0" and then "$snapreq.<nonce>\0<prefix>\0...": the reply
 * (items, then SNAP_END) comes on the same ordered pipe as live events
 * (bus_client does this). The bus fills its cache from its tree neighbours
 * the same way whenever it starts asking a link for a new prefix or a link
 * (re)starts.
 *
 * Start:
 *     bus_config_t cfg = { .name = "n1", .public_key = pk, .secret_key = sk,
 *                          .zap = zap, .origin_endpoint = "tcp://127.0.0.1:*",
 *                          .ipc_endpoint = "ipc:///run/shed/events.sock" };
 *     char err [256];
 *     bus_t *bus = bus_new (&cfg, err, sizeof err);
 *     ...
 *     bus_destroy (&bus);
 * `cfg` is copied (the secret key copy is wiped at exit); `zap` is shared
 * (one ZAP handler per process) and must outlive the actor.
 *
 * bus_t is a thin facade over the actor (bus_api.c; the zyre shape of
 * docs/architecture.md, "Conventions"): its methods send the commands
 * below on the actor pipe and read the replies. The bus has no events for
 * its owner, so there is no event socket. Main thread (the owner) only.
 *
 * Commands on the actor pipe (czmq picture strings). PUBLISH has no reply,
 * so producers never wait; every other command gets one:
 *   "sssb"  PUBLISH topic kind payload      (no reply; see bus_publish)
 *   "ssss"  PEER-ADD name endpoint pubkey-z85     -> "i" 0 | -1
 *           (a member: its events are accepted and it has a place in the
 *            tree; re-adding a name replaces its endpoint and key)
 *   "sss"   PEER-VERSION name version             -> "i" 0 | -1 (unknown)
 *           (the highest EVENT_BATCH version the member reads, from its
 *            node record; a member reads EVENT_VERSION_BATCH until told.
 *            Batches, ours and relayed, leave at the lowest version any
 *            member reads: docs/events.md, "Mixed versions")
 *   "ss"    PEER-REMOVE name                      -> "i" 0 | -1 (unknown)
 *   "ss"    ALLOW pubkey-z85   (tree listener)    -> "i" 0 | -1
 *   "ss"    DENY pubkey-z85                       -> "i" 0 | -1
 *           (also re-binds the tree listener, so a connection made before
 *            the DENY is cut; allowed children reconnect and say HELLO)
 *   "ss"    CONSUMER-ALLOW pubkey-z85 (remote)    -> "i" 0 | -1
 *   "ss"    CONSUMER-DENY pubkey-z85              -> "i" 0 | -1
 *           (also re-binds the remote XPUB, so the denied key's open
 *            sessions are cut; allowed consumers' SUB sockets reconnect
 *            and subscribe again by themselves, seeing a tseq gap)
 *   "s"     ENDPOINTS                             -> "sss" tree local remote
 *           (bound, ports resolved; "" when not configured)
 *   "s"     STATS                                 -> "s" logfmt counters:
 *           published invalid origin_sent origin_skipped
 *           consumer_sent peer_recv peer_forwarded forged malformed
 *           send_errors cache cache_full snapshots_served peer_snaps_done
 *           peer_snaps_timeout peers origin_subs consumer_subs
 *           zap_admitted zap_refused peer_refused peer_redials
 *           batches_sent batches_recv cache_evicted snapreq_dropped
 *           links children conns conns_max relayed dups link_drops
 *           unknown_origin children_refused tree_changes socket_errors
 *           batch_version batches_recoded
 *   "s"     $TERM                                 (no reply; actor exits)
 */
#ifndef SHED_BUS_H
#define SHED_BUS_H

#include "bridges/event_msg.h"
#include "cluster/zap.h"

#include <czmq.h>
#include <stddef.h>
#include <stdint.h>

typedef struct {
    const char *name;              /* this node: the origin of its events */
    const uint8_t *public_key;     /* X25519 = CURVE, 32 bytes */
    const uint8_t *secret_key;     /* 32 bytes */
    zap_t *zap;                    /* shared ZAP handler (borrowed) */
    const char *origin_endpoint;   /* tree listener, e.g. tcp://198.18.0.1:7948; NULL: none */
    const char *ipc_endpoint;      /* e.g. ipc:///run/shed/events.sock; NULL: none */
    const char *consumer_endpoint; /* remote consumers, tcp (CURVE); NULL: none */
    const char *peers_domain;      /* NULL: "bus-peers:<name>" */
    const char *consumers_domain;  /* NULL: "bus-consumers:<name>" */
    int sndhwm;                    /* 0: EVENT_SNDHWM */
    uint64_t boot;                 /* 0: random boot id */
    const char *publish_endpoint;  /* optional inproc:// PULL for producers on other
                                       threads (e.g. the agent host): each message is
                                       one frame of records, see bus_publish_record;
                                       NULL: none (PUBLISH on the pipe only) */
} bus_config_t;

typedef struct _bus_t bus_t;

/* The actor function (args: bus_config_t *, copied before it signals).
 * After the signal it sends one string: "" if it came up, else the reason
 * (then it exits). bus_new reads it; use bus_new. */
void bus_actor (zsock_t *pipe, void *args);

/* Start the actor and check that it came up (sockets bound). On failure
 * returns NULL with a one-line reason in err. */
bus_t *bus_new (const bus_config_t *cfg, char *err, size_t errlen);
/* Stop the actor ($TERM) and free. NULL-safe; sets *self_p to NULL. */
void bus_destroy (bus_t **self_p);

/* Publish one local-origin event (PUBLISH, without waiting: if the actor's
 * pipe is full the event is dropped and -1 returned with errno EAGAIN; the
 * caller counts it). Returns 0 when queued. */
int bus_publish (bus_t *self, const char *topic, const char *kind, const void *payload,
                 size_t size);

/* PEER-ADD / PEER-REMOVE / ALLOW / DENY / CONSUMER-ALLOW / CONSUMER-DENY
 * (keys as Z85 text). Each returns the actor's answer: 0, or -1 (bad key,
 * unknown peer, no answer). */
int bus_peer_add (bus_t *self, const char *name, const char *endpoint, const char *key_z85);
int bus_peer_remove (bus_t *self, const char *name);
/* PEER-VERSION: 0, or -1 (not a member, no answer). */
int bus_peer_version (bus_t *self, const char *name, unsigned version);
int bus_allow (bus_t *self, const char *key_z85);
int bus_deny (bus_t *self, const char *key_z85);
int bus_consumer_allow (bus_t *self, const char *key_z85);
int bus_consumer_deny (bus_t *self, const char *key_z85);

/* ENDPOINTS: the bound endpoints (ports resolved; "" when not
 * configured), each copied into a buffer of `size` bytes (any may be
 * NULL). Returns 0, or -1 if the actor did not answer. */
int bus_endpoints (bus_t *self, char *tree, char *local, char *remote, size_t size);

/* STATS: one "key=value ..." line (read one with bus_stat). A new string
 * the caller frees (zstr_free), or NULL if the actor did not answer. */
char *bus_stats (bus_t *self);

/* Producers on other threads can skip the owner's thread: connect a PUSH
 * socket to cfg->publish_endpoint and send one-frame messages of records
 *     topic NUL kind NUL payload-length:u32 big-endian payload
 * (events in order, up to BUS_PUBLISH_MANY per message; ZMQ_DONTWAIT: a full
 * queue is the producer's drop to count). Same checks and stamping as
 * PUBLISH; a record that does not parse ends its message (counted invalid). */
#define BUS_PUBLISH_MANY       256
/* The node's name for it: unique per node (its data dir's events socket). */
#define BUS_PUBLISH_INPROC_FMT "inproc://shed-bus-publish@%s/" EVENT_IPC_NAME
#define BUS_PUBLISH_HWM        1000 /* messages queued on the publish socket */

/* Read one counter out of a STATS line ("key=value ..."); 0 if absent. */
uint64_t bus_stat (const char *stats, const char *key);

#endif
