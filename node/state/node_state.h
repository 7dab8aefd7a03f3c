/*
 * node_state.h - the daemon's replicated state: runs the links actor
 * (cluster/links.h: record store + CURVE node links), keeps its peers and
 * its ZAP allow-list in step with membership, and gives other node
 * components a small API over it (put, delete, list, change callbacks).
 *
 * Reads are local: a mirror of every live record (state_mirror.h), seeded
 * by one LIST at start and fed by the actor's change events, answers list,
 * get and find on the caller's thread without a round trip to the actor.
 * Only writes (put, delete) go to the actor; when it accepts one, the
 * mirror applies it at once, so a component reads its own write back
 * (docs/state.md, "The node's read model").
 *
 * Endpoints: node links listen on tcp://<advertise>:<gossip port + 1>
 * (PEER_PORT_LINKS); a peer's endpoint comes from the peer directory
 * (node/members/peer_dir.h), derived from its membership address, so
 * nothing has to be exchanged before the links can connect.
 *
 * Peer directory -> links (the directory ALLOWs / DENYs the key in the
 * links' ZAP domain, "links/<name>", before each callback):
 *   added/updated (alive)  PEER-ADD, ORIGIN-KEY, ORIGIN-STATUS alive
 *   failed                 ORIGIN-STATUS unreachable (records kept, flagged)
 *   removed                PEER-REMOVE, ORIGIN-KEY "", ORIGIN-STATUS removed
 */
#ifndef SHED_NODE_STATE_H
#define SHED_NODE_STATE_H

#include "cluster/records.h"
#include "cluster/zap.h"
#include "crypto/identity.h"
#include "node/api/api_server.h"
#include "node/config.h"
#include "node/members/peer_dir.h"
#include "node/state/state_mirror.h"

#include <czmq.h>

typedef struct _shed_nstate_t shed_nstate_t;

shed_nstate_t *shed_nstate_new (const shed_config_t *cfg, const shed_identity_t *identity,
                                zap_t *zap, peer_dir_t *peers, zloop_t *loop,
                                shed_api_server_t *api, char *err, size_t errlen);
void shed_nstate_destroy (shed_nstate_t **self_p);

/* Local writes (records of this node). Return 0, or -1 with a reason. */
int shed_nstate_put (shed_nstate_t *self, const char *kind, const char *key, const uint8_t *value,
                     size_t len, char *err, size_t errlen);
/* Encode `rec` (a REC_* record, cluster/records.h) and put it as
 * kind/key: what every component that owns a record kind does to publish
 * it. 0, or -1 with a reason (an encoding error says which kind). */
int shed_nstate_put_rec (shed_nstate_t *self, const char *kind, const char *key,
                         const rec_msg_t *rec, char *err, size_t errlen);
int shed_nstate_delete (shed_nstate_t *self, const char *kind, const char *key, char *err,
                        size_t errlen);
/* The same puts for a record this node puts again at every start from its
 * own durable sources (the node record: config, tags file, drain file,
 * scheduler; the overlay claim: network.ipam). It may reach state.bin up to
 * one anti-entropy interval after the call returns, several such puts in
 * one write (links_put_deferred); a crash in between loses nothing the
 * next start does not put again. Every other record is on disk before
 * shed_nstate_put returns. */
int shed_nstate_put_deferred (shed_nstate_t *self, const char *kind, const char *key,
                              const uint8_t *value, size_t len, char *err, size_t errlen);
int shed_nstate_put_rec_deferred (shed_nstate_t *self, const char *kind, const char *key,
                                  const rec_msg_t *rec, char *err, size_t errlen);

/* One of this node's own live records: 1 with a copy of its value in
 * *value (caller frees) and *len, 0 if there is none (or it is deleted).
 * A local read. */
int shed_nstate_get_mine (shed_nstate_t *self, const char *kind, const char *key, uint8_t **value,
                          size_t *len);

/* Call fn for every live record of `kind` ("" = all), ordered by origin,
 * kind, key. A local read; fn may write. Returns the count. */
int shed_nstate_list (shed_nstate_t *self, const char *kind, shed_record_fn *fn, void *arg);

/* One record of any origin: true with *out filled (pointers valid until the
 * next write or change event), false if there is none. A local read. */
bool shed_nstate_find (shed_nstate_t *self, const char *origin, const char *kind, const char *key,
                       shed_record_t *out);

/* Requests made to the links actor that waited for its answer (writes,
 * the start-up LIST, membership commands; not STATS, so a scrape does not
 * count itself): what components pay per operation. */
uint64_t shed_nstate_round_trips (shed_nstate_t *self);

/* Listen to changes of one kind ("" = all, "$origin" = origin status). */
void shed_nstate_on_change (shed_nstate_t *self, const char *kind, shed_record_fn *fn, void *arg);

/* The links actor's counters (STATS, cluster/links.h) as one line
 * "name=value ...", with the node's own appended: actor_round_trips
 * (shed_nstate_round_trips, this STATS excluded) and mirror_records. A new
 * string the caller frees, or NULL if the actor did not answer. */
char *shed_nstate_stats (shed_nstate_t *self);

/* The links ROUTER endpoint actually bound. */
const char *shed_nstate_endpoint (shed_nstate_t *self);

#endif
