/*
 * membership_int.h - what the files of the membership actor share: its
 * limits, the actor's state (mb_self_t), a stream connection (mb_conn_t) and
 * the functions one file calls in another. Not a public interface: see
 * membership.h. The actor is split by concern (docs/membership.md):
 *
 *   membership.c         the poll loop, timers, pipe commands, STATS, public API
 *   membership_join.c    JOIN: seeds, their failures, the answer, retries
 *   membership_keys.c    cluster-wide keyring operations and their epoch
 *   membership_stream.c  TCP: push-pull / key-op connections, admission
 *   membership_udp.c     UDP datagrams, sealing stamps and replay windows, sockets
 *   membership_beacon.c  LAN discovery (zbeacon)
 */
#ifndef SHED_MEMBERSHIP_INT_H
#define SHED_MEMBERSHIP_INT_H

#include "cluster/membership.h"
#include "cluster/gossip_stream.h"
#include "common/log.h"
#include "crypto/replay.h"

#include <netinet/in.h>
#include <stdbool.h>
#include <stdint.h>

#define MB_COMP             "membership"
#define MB_BEACON_AD        "shed-beacon-v2" /* seal domain: discovery beacons */
#define MB_BEACON_MAGIC     "SHD2"           /* beacon prefix (v1 was "SHED", unsealed) */
#define MB_BEACON_REPUBLISH 10000            /* ms: fresh stamp, well inside the skew window */
#define MB_CONNS_MAX        256              /* open stream connections */
/* Incoming connections may hold at most this many slots, so a flood of
 * accepted connections never starves our own push-pulls, joins and key
 * operations (docs/membership.md section 1). */
#define MB_CONNS_IN_MAX     192
#define MB_CONNS_PER_SRC    4                      /* incoming connections per source address */
#define MB_PREAUTH_TIMEOUT  1000                   /* ms for an incoming sealed header to open */
#define MB_CONN_TIMEOUT     2000                   /* ms for one whole exchange */
#define MB_SENDERS_MAX      (2 * SWIM_MAX_MEMBERS) /* replay windows kept (one per sender boot) */
#define MB_KEYOP_TIMEOUT    3000
/* Join retries (docs/membership.md "Join"). Nodes started together reach a
 * seed that is not listening yet ("connection refused"), and when the seed
 * comes up decides join convergence: for the first MB_JOIN_FAST_FOR ms we
 * retry every MB_JOIN_FAST ms (a refused connect costs one SYN and one RST),
 * never while an attempt to that seed is still open; after that the retries
 * back off from MB_JOIN_BACKOFF0, doubling to MB_JOIN_BACKOFFN. */
#define MB_JOIN_FAST        50
#define MB_JOIN_FAST_FOR    2000
#define MB_JOIN_BACKOFF0    250
#define MB_JOIN_BACKOFFN    30000
#define MB_JOIN_LOG_GAP     1000  /* ms between "not joined yet" lines */
#define MB_BEACON_PEERS     64    /* unknown beacon senders remembered */
#define MB_BEACON_RETRY     30000 /* ms between joins of one unknown sender once joined */

/* Actor-level counters (the core keeps its own). send_unreachable: a
 * member's address is of a family our sockets cannot reach (an IPv6 member
 * seen by a node bound to an IPv4 address). */
/* clang-format off */
#define MB_COUNTERS(C) \
    C (udp_sent) C (udp_received) C (udp_bytes_sent) C (udp_bytes_received) C (drop_short) C (drop_format) C (drop_keyid) \
    C (drop_auth) C (drop_oversize) C (stream_served) C (stream_errors) \
    C (drop_replay) C (drop_clock) C (drop_v1) C (drop_conn_source) C (drop_conn_full) \
    C (drop_preauth) C (keyop_stale) C (drop_beacon) C (send_unreachable)
/* clang-format on */

typedef enum { MB_CONN_SERVE, MB_CONN_PUSHPULL, MB_CONN_KEYOP } mb_conn_kind_t;

typedef struct {
    int fd;
    mb_conn_kind_t kind;
    bool writing; /* else reading */
    uint8_t *out;
    size_t outlen, outoff;
    uint8_t hdr[GOSSIP_TCP_HDR_SEALED]; /* the sealed header, kept: the body's AD */
    size_t hdroff;
    bool authed; /* the sealed header opened: only then is `in` allocated */
    uint64_t opened_at;
    uint8_t *in;
    size_t inlen, inoff;
    uint64_t deadline;
    char peer[SWIM_ADDR_MAX + 1];
    uint16_t port;
    char name[SWIM_NAME_MAX + 1]; /* keyop: member asked; cleared once its
                                        result was counted (exactly once) */
    uint64_t keyop_id;            /* keyop: the operation it belongs to */
    bool joining;                 /* push-pull opened while not yet joined */
    int fail;                     /* MB_SEED_* when it failed in a way a JOIN names */
    bool answered;                /* a whole frame arrived */
    const char *why;              /* why it ended without an answer */
} mb_conn_t;

/* How one seed of a JOIN command failed (docs/operations.md "Joining"):
 * the first three are definite, so the JOIN answers as soon as every seed
 * has one; anything else (no answer, a lost connection) waits for the
 * deadline and is reported as timed out. */
enum {
    MB_SEED_WAITING = 0,
    MB_SEED_UNREACHABLE, /* EHOSTUNREACH / ENETUNREACH */
    MB_SEED_REFUSED,     /* ECONNREFUSED: nothing listens there */
    MB_SEED_WRONG_KEY,   /* it closed on our sealed request, or its
                                        answer did not open with our keyring */
    MB_SEED_BAD          /* did not resolve */
};

typedef struct {
    char seed[300]; /* as given, for unresolvable ones */
    char addr[SWIM_ADDR_MAX + 1];
    uint16_t port;
    int outcome;     /* MB_SEED_* */
    char detail[96]; /* errno text, or the last soft failure */
} mb_join_seed_t;

/* One sender boot's replay windows (docs/crypto.md "Replay windows"). */
typedef struct {
    uint64_t boot;
    uint64_t seen;        /* monotonic ms of its last accepted stamp */
    shed_replay_t win[2]; /* 0: datagrams, 1: stream frames */
} mb_sender_t;

typedef struct {
    zsock_t *pipe;
    membership_config_t cfg;
    shed_keyring_t *keyring;
    swim_t *swim;
    zsock_t *events;
    zactor_t *beacon;
    struct { /* beacon senders we tried to join while joined */
        char addr[SWIM_ADDR_MAX + 1];
        uint16_t port;
        uint64_t at;
    } beacon_tries[MB_BEACON_PEERS];
    int udp, tcp;
    int family;          /* of udp and tcp: AF_INET, or AF_INET6 (dual stack for ::) */
    uint64_t boot;       /* our stamp boot id, random per start */
    uint64_t counter[2]; /* our stamp counters: datagrams, streams */
    mb_sender_t *senders;
    size_t nsenders, senders_cap;
    uint64_t key_epoch; /* last key operation applied */
    uint64_t beacon_published;
    mb_conn_t *conns[MB_CONNS_MAX];
    size_t nconns;
    bool terminated;
    struct {
#define MB_FIELD(n) uint64_t n;
        MB_COUNTERS (MB_FIELD)
#undef MB_FIELD
    } st;
    /* join */
    uint64_t join_next_ms, join_backoff;
    uint64_t join_started_ms; /* first attempt of this round of joining */
    uint64_t join_logged_ms;  /* last "not joined yet" line */
    uint32_t join_attempts;
    bool joined_logged; /* "joined" said once */
    bool join_pending;  /* a JOIN command waits for its reply */
    uint64_t join_reply_by;
    char join_why[192]; /* last seed failure, for the log */
    bool join_tagged;   /* JOIN-TAGGED: reply frames start with "$JOIN" */
    mb_join_seed_t join_seeds[MEMBERSHIP_SEEDS_MAX]; /* the pending JOIN's seeds */
    size_t njoin_seeds;
    int conn_errno; /* why the last mb_conn_open failed (0: not a socket error) */
    /* force-leave (cluster/swim_force.c): members seen failed, and those
     * that then left (forced out): forgotten at the next timer run, as
     * the core must not be called back from its event callback */
    zhashx_t *failed;
    zlist_t *forget;
    /* leave */
    bool leave_pending;
    uint64_t leave_reply_by;
    /* cluster-wide key operation */
    struct {
        bool active;
        uint64_t id;
        uint32_t op;
        uint8_t key[SHED_KEY_BYTES];
        size_t waiting;
        uint64_t deadline;
        zmsg_t *results;
        bool failed;
    } keyop;
} mb_self_t;

/* ---- membership.c ---- */
uint64_t mb_now (void *ctx); /* monotonic ms; a swim_env_t clock */

/* ---- membership_udp.c ---- */
int mb_nonblock (int fd);
/* A peer's address for our sockets (family self->family: an IPv4 peer of
 * a dual-stack socket is mapped). 0, or -1 for text that is no literal or
 * a family our sockets cannot reach. */
int mb_sockaddr (const mb_self_t *self, const char *addr, uint16_t port,
                 struct sockaddr_storage *sa, socklen_t *salen);
void mb_stamp_next (mb_self_t *self, int channel, uint8_t out[GOSSIP_STAMP_BYTES]);
int mb_stamp_check (mb_self_t *self, const uint8_t in[GOSSIP_STAMP_BYTES], int channel);
void mb_env_send (void *ctx, const char *addr, uint16_t port, const uint8_t *buf, size_t len);
void mb_handle_udp (mb_self_t *self);
int mb_open_sockets (mb_self_t *self, char *err, size_t errlen);

/* ---- membership_stream.c ---- */
/* The returned buffer is the caller's (free). */
uint8_t *mb_frame (mb_self_t *self, const uint8_t *msg, size_t len, size_t *framelen);
void mb_env_stream (void *ctx, const char *addr, uint16_t port, const uint8_t *buf, size_t len);
void mb_conn_free (mb_conn_t **conn_p);
/* The connection is the actor's (self->conns); NULL if none could be opened. */
mb_conn_t *mb_conn_open (mb_self_t *self, const char *addr, uint16_t port, mb_conn_kind_t kind,
                         const uint8_t *msg, size_t len);
bool mb_conn_io (mb_self_t *self, mb_conn_t *conn);
void mb_conn_close_at (mb_self_t *self, size_t i);
void mb_handle_accept (mb_self_t *self);

/* ---- membership_keys.c ---- */
void mb_epoch_load (mb_self_t *self);
void mb_serve_keyop (mb_self_t *self, mb_conn_t *conn, const uint8_t *msg, size_t len);
void mb_keyop_result (mb_self_t *self, mb_conn_t *conn, const uint8_t *msg, size_t len);
void mb_keyop_finish (mb_self_t *self);
void mb_cmd_keys (mb_self_t *self, zmsg_t *request);

/* ---- membership_join.c ---- */
int mb_seed_outcome (int err);
void mb_join_note (mb_self_t *self, const char *addr, uint16_t port, int outcome,
                   const char *detail);
void mb_join_reply (mb_self_t *self, const char *status);
void mb_join_fail (mb_self_t *self, bool expired);
void mb_join_seeds (mb_self_t *self);
void mb_join_start (mb_self_t *self, uint64_t now);
uint64_t mb_join_backoff_next (mb_self_t *self, uint64_t now);
void mb_cmd_join (mb_self_t *self, zmsg_t *request, bool tagged);

/* ---- membership_beacon.c ---- */
void mb_beacon_publish (mb_self_t *self);
void mb_handle_beacon (mb_self_t *self);

/* ---- membership.c: start the actor (membership_new in membership_api.c
 * wraps it); the outcome as membership_new documents, the pipe returned. */
zactor_t *mb_actor_new (const membership_config_t *config, shed_keyring_t **keyring_p, char *err,
                        size_t errlen);

#endif
