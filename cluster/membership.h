/*
 * membership.h - the membership actor: the SWIM core on real sockets.
 *
 * One czmq actor per node. It owns:
 *   - one UDP socket (default port 7946) for probes and gossip; every
 *     datagram is sealed with the cluster keyring and anything that does not
 *     open is dropped and counted before it is parsed;
 *   - one TCP listener on the same port number for push-pull full-state
 *     exchange and cluster-wide keyring operations (frames: 4-byte
 *     big-endian length, then a sealed gossip message; bounded sizes;
 *     non-blocking, so two nodes syncing with each other never deadlock);
 *   - the cluster keyring (nobody else touches it: the daemon goes through
 *     the KEYS commands; after a change the actor saves it to keyring_path);
 *   - a PUB socket bound at `events_endpoint` for membership events;
 *   - optionally a zbeacon for LAN discovery (off by default).
 *
 * membership_t is a thin facade over the actor (membership_api.c; the zyre
 * shape of docs/architecture.md, "Conventions"): each method sends one of
 * the commands below and reads its reply; events come on the PUB at
 * membership_events_endpoint, never on the pipe. Owner's thread only.
 *
 *     membership_t *m = membership_new (&config, &keyring, err, sizeof err);
 *     membership_join (m, seeds, nseeds, err, sizeof err);
 *     ...
 *     membership_destroy (&m);
 *
 * Commands on the actor pipe (czmq pictures; replies in the same form):
 *
 *   JOIN host:port...          "s..."  join through these seeds; keeps
 *                                      retrying with backoff until joined.
 *       reply "OK" once joined; "ERROR <reason>" if refused, when every seed
 *       failed definitely (at once), or at join_timeout_ms (retries
 *       continue in the background). The reason names each seed:
 *       "join ADDR: unreachable (...)", "refused (...)", "wrong key (...)",
 *       "cannot resolve seed ...", "timed out after 5 s"; see
 *       docs/membership.md. One JOIN at a time: another meanwhile gets
 *       "ERROR another join is in progress".
 *   JOIN-TAGGED host:port...   the same, the reply prefixed by a "$JOIN"
 *                                      frame; it may come after the replies
 *                                      to later commands (the daemon keeps
 *                                      using the pipe while a join runs)
 *   LEAVE                      "s"     leave gracefully: broadcast "left",
 *                                      wait until it was sent (at most
 *                                      leave_timeout_ms), stop probing.
 *       reply "OK"
 *   FORCE-LEAVE name           "ss"    gossip that failed member `name`
 *                                      left; every node forgets it at once
 *                                      (swim_force.c). reply "OK" or
 *                                      "ERROR <reason>" (unknown, alive...)
 *   MEMBERS                    "s"     reply: one frame, a msgpack
 *                                      GOSSIP_MEMBERS message (gossip_msg.h;
 *                                      decode with gossip_proto): per member
 *                                      kind (0 alive, 1 suspect, 2 failed,
 *                                      3 left), name, inc, addr, port, tags,
 *                                      vmin, vmax, key
 *   TAGS SET key value         "sss"   reply "OK" or "ERROR <reason>"
 *   TAGS UNSET key             "ss"    reply "OK"
 *   KEYS LIST                  "ss"    cluster-wide; see below
 *   KEYS INSTALL <base64 key>  "sss"   install everywhere (idempotent)
 *   KEYS USE <base64 key>      "sss"   make primary everywhere
 *   KEYS REMOVE <base64 key>   "sss"   remove everywhere (not the primary)
 *       Applied locally first, then sent to every alive member over the
 *       sealed stream; each applies and answers. Reply frames:
 *       "OK" | "PARTIAL" | "ERROR <reason>", then one frame per node:
 *       "<name> ok <keyids>" or "<name> error <reason>", keyids being
 *       comma-separated 8-hex-digit key ids, the primary marked with '*'.
 *       Rotation: INSTALL new, USE new, REMOVE old.
 *   STATS                      "s"     reply: frames name, value, name,
 *                                      value... (decimal strings): the swim
 *                                      counters plus udp_sent, udp_received,
 *                                      drop_short, drop_format, drop_keyid,
 *                                      drop_auth, drop_oversize,
 *                                      stream_served, stream_errors, members,
 *                                      alive, suspect, failed, left,
 *                                      awareness
 *   $TERM                              stop (no leave: call LEAVE first)
 *
 * Events, published on `events_endpoint` (a PUB socket bound by the actor;
 * SUB to it with an inproc endpoint in the same process), four frames:
 *   [kind, name, member, reason]
 *   kind    "join" | "update" | "suspect" | "fail" | "leave" | "reap" | "refused"
 *   name    the member's name
 *   member  msgpack GOSSIP_MEMBERS with that one member
 *   reason  why (refused: the error to show the user; update: "refuted",
 *           "changed", "tags"), else empty
 */
#ifndef SHED_MEMBERSHIP_H
#define SHED_MEMBERSHIP_H

#include "cluster/swim.h"
#include "crypto/keyring.h"

#include <czmq.h>

#define MEMBERSHIP_SEEDS_MAX 16

typedef struct {
    char name[SWIM_NAME_MAX + 1];
    char bind_addr[SWIM_ADDR_MAX + 1];      /* "0.0.0.0" by default */
    char advertise_addr[SWIM_ADDR_MAX + 1]; /* what others use to reach us */
    uint16_t port;                          /* UDP and TCP; 7946 */
    uint8_t identity[SWIM_KEY_BYTES];       /* our X25519 public key */
    uint8_t sigkey[SWIM_KEY_BYTES];         /* our Ed25519 public key, gossiped
                                                 so peers can check our state
                                                 records (docs/state.md) */
    swim_config_t swim;                     /* tunables (swim_config_lan) */
    char events_endpoint[256];              /* e.g. "inproc://members"; "" = none */
    char keyring_path[512];                 /* saved after key ops; "" = don't */
    char seeds[MEMBERSHIP_SEEDS_MAX][300];  /* "host:port" joined at start */
    size_t nseeds;
    bool beacon;               /* LAN discovery with zbeacon */
    uint16_t beacon_port;      /* 7947 by default */
    uint32_t leave_timeout_ms; /* 3000 */
    uint32_t join_timeout_ms;  /* 5000: JOIN replies by then */
    int actor_nice;            /* nice value of the actor thread
                                                 (-5; 0 = the process's own).
                                                 Needs CAP_SYS_NICE; without it
                                                 the thread keeps the process's */
} membership_config_t;

/* Defaults: LAN tunables, port 7946, bind 0.0.0.0, leave 3 s, actor nice -5. */
void membership_config_defaults (membership_config_t *config);

typedef struct _membership_t membership_t;

/* Start the actor. Takes ownership of *keyring_p (sets it to NULL) whatever
 * the outcome. Returns NULL with a one-line reason in err if the sockets
 * cannot be set up. */
membership_t *membership_new (const membership_config_t *config, shed_keyring_t **keyring_p,
                              char *err, size_t errlen);
/* Stop the actor ($TERM; no LEAVE: call membership_leave first) and free.
 * NULL-safe; sets *self_p to NULL. */
void membership_destroy (membership_t **self_p);

/* JOIN "host:port"...: waits for the answer; 0, or -1 with the reason
 * (without "ERROR ") in err. */
int membership_join (membership_t *self, const char *const *seeds, size_t nseeds, char *err,
                     size_t errlen);

/* JOIN-TAGGED: returns at once (-1 if the command could not be sent). The
 * answer goes to fn (rc 0, or -1 and the reason) whenever it is read: by
 * any later method, or by membership_pipe_ready once membership_pipe is
 * readable (poll it, e.g. with zloop_reader). One at a time. */
typedef void (membership_join_fn) (int rc, const char *reason, void *arg);
int membership_join_start (membership_t *self, const char *const *seeds, size_t nseeds,
                           membership_join_fn *fn, void *arg);
zsock_t *membership_pipe (membership_t *self);
/* Reads what waits on the pipe without blocking; returns how many
 * messages were not a "$JOIN" answer (dropped). */
size_t membership_pipe_ready (membership_t *self);

/* LEAVE: 0 once "left" was sent, -1 if the actor did not answer. */
int membership_leave (membership_t *self);

/* FORCE-LEAVE: 0, or -1 with the reason in err. */
int membership_force_leave (membership_t *self, const char *name, char *err, size_t errlen);

/* MEMBERS: the msgpack GOSSIP_MEMBERS frame (caller destroys), or NULL. */
zframe_t *membership_members (membership_t *self);

/* TAGS SET / UNSET: 0, or -1 with the reason in err. */
int membership_tag_set (membership_t *self, const char *key, const char *value, char *err,
                        size_t errlen);
int membership_tag_unset (membership_t *self, const char *key, char *err, size_t errlen);

/* KEYS op ("LIST", "INSTALL", "USE", "REMOVE"; key_b64 NULL for LIST): the
 * reply as above, status frame then one frame per node (caller destroys),
 * or NULL. */
zmsg_t *membership_keys (membership_t *self, const char *op, const char *key_b64);

/* STATS: name, value... frames (caller destroys), or NULL. */
zmsg_t *membership_stats (membership_t *self);

/* The events' PUB endpoint (config's events_endpoint), valid until
 * membership_destroy; SUB to it to receive the events above. */
const char *membership_events_endpoint (membership_t *self);

#endif
