/*
 * node_members.h - the daemon's side of membership: starts the membership
 * actor (cluster/membership.h) from the node's configuration, serves the
 * membership and keyring requests of the local API, and turns the actor's
 * events into log lines and callbacks for other components that follow
 * who is in the cluster (the peer directory, peer_dir.h, which feeds the
 * peer-to-peer planes; the bus's member events; the scheduler). It owns this
 * node's tags: the configuration's, overridden by run-time changes that it
 * keeps in DATA_DIR/tags (node_tags.h).
 */
#ifndef SHED_NODE_MEMBERS_H
#define SHED_NODE_MEMBERS_H

#include "cluster/gossip_msg.h"
#include "crypto/identity.h"
#include "crypto/keyring.h"
#include "node/api/api_server.h"
#include "node/config.h"

#include <czmq.h>

typedef struct _shed_members_t shed_members_t;

/* A membership event as components see it. `member` is valid only during
 * the callback. kind: "join" "update" "suspect" "fail" "leave" "reap" "refused". */
typedef void (shed_members_event_fn) (const char *kind, const gossip_update_t *member,
                                      const char *reason, void *arg);

/* Start the actor (taking *keyring_p), register API handlers on `api` and
 * the event reader on `loop`. NULL with a reason in err on failure. */
shed_members_t *shed_members_new (const shed_config_t *cfg, const shed_identity_t *identity,
                                  shed_keyring_t **keyring_p, const char *keyring_path,
                                  zloop_t *loop, shed_api_server_t *api, char *err, size_t errlen);
void shed_members_destroy (shed_members_t **self_p);

/* Add a listener for membership events (at most a few; components). */
void shed_members_on_event (shed_members_t *self, shed_members_event_fn *fn, void *arg);

/* This node's tags now: the configuration's with the run-time changes of
 * `shedctl tags set/unset` applied (node_tags.h; kept in DATA_DIR/tags).
 * Sets *tags to an array owned by self, valid until the next change;
 * returns its length. */
size_t shed_members_tags (shed_members_t *self, const shed_config_tag_t **tags);

/* Called after our tags changed through the API (already gossiped and
 * saved), with the whole new set (valid during the call). At most 4. */
typedef void (shed_members_tags_fn) (const shed_config_tag_t *tags, size_t ntags, void *arg);
void shed_members_on_tags (shed_members_t *self, shed_members_tags_fn *fn, void *arg);

/* Alive members and all known members (ourselves included). */
void shed_members_counts (shed_members_t *self, uint64_t *alive, uint64_t *total);

/* Current members as a decoded GOSSIP_MEMBERS message; free with
 * wire_msg_free (&gossip_proto, out). Returns 0 or -1. */
int shed_members_list (shed_members_t *self, gossip_msg_t *out);

/* The membership actor's counters (STATS, cluster/membership.h) as one
 * line "name=value name=value ..." (read one with bus_stat). A new string
 * the caller frees, or NULL if the actor did not answer. */
char *shed_members_stats (shed_members_t *self);

/* Leave the cluster gracefully (blocks up to the leave timeout). */
void shed_members_leave (shed_members_t *self);

/* SIGHUP: the configuration's tags are now `base`; the run-time changes
 * (`shedctl tags`, DATA_DIR/tags) still apply over them. Gossips what
 * differs and tells the tag listeners. *changed = tags set or removed.
 * 0, or -1 with a reason (nothing changed then, unless the actor refused
 * a tag halfway). */
int shed_members_set_base_tags (shed_members_t *self, const shed_config_tag_t *base, size_t nbase,
                                size_t *changed, char *err, size_t errlen);

#endif
