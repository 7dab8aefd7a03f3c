/*
 * node_sched.h - the daemon's distributed scheduler (docs/scheduling.md):
 * sheds created from any node, unique names cluster-wide, placement over
 * the replicated node records, claims admitted by the target, lifecycle
 * routed to the owning node, drain.
 *
 * Pieces it runs or uses:
 *   node rpc (node_rpc.h)      node-to-node requests on gossip port + 3, a
 *                              registry shared with other components; the
 *                              scheduler serves reserve, release, claim, op
 *   names (cluster/names.h)    the coordinator of a name serialises RESERVEs
 *   placement (cluster/placement.h) candidates from `node` records
 *   sched_admit (cluster/sched_admit.h) this node's authoritative admission
 *   driver (node/drivers/driver.h)     its calls run on the driver worker's
 *                              thread (driver_worker.h); claims and ops are
 *                              answered when the driver is done
 *   the state's mirror         reads are local (node_state.h); only writes
 *                              wait for the state actor
 *   replicated state           `shed` records (ours only), `name` records
 *                              (as a coordinator), our `node` record's
 *                              capacity/allocation/draining fields (set
 *                              through its one owner, node_record.h)
 *
 * API: API_SHED_CREATE_REQ (answered when the shed runs or failed),
 * API_SHED_LIST_REQ, API_SHED_SHOW_REQ, API_SHED_OP_REQ (start, stop,
 * delete), API_NODE_DRAIN_REQ.
 *
 * Node RPC for other components: shed_sched_rpc_on / _reply / _call
 * (below); the shed agents serve "agents.logs" and "agents.provision".
 *
 * Hooks: the overlay gives a shed its address and the agent host listens
 * on its agent socket. Both are optional (NULL function: no address, no
 * agent) so the scheduler works without them.
 */
#ifndef SHED_NODE_SCHED_H
#define SHED_NODE_SCHED_H

#include "cluster/placement.h"
#include "cluster/records.h"
#include "cluster/zap.h"
#include "common/histogram.h"
#include "common/wire_gen.h"
#include "crypto/identity.h"
#include "node/api/api_server.h"
#include "node/config.h"
#include "node/members/node_members.h"
#include "node/sched/node_rpc.h"
#include "node/state/node_record.h"
#include "node/state/node_state.h"

#include <czmq.h>

typedef struct _shed_sched_t shed_sched_t;
/* The end of a layer fetch: rc 0 with the local file's path, or -1 with
 * a one-line reason. */
typedef void (shed_layer_done_fn) (void *ctx, int rc, const char *path, const char *why);

typedef struct {
    /* Address for a shed on the node bridge: ip as "a.b.c.d", its prefix,
     * mac, gateway and MTU. 0, or -1 with a reason (errno EAGAIN: retry). */
    int (*net_attach) (void *arg, const char *shed, char *ip, char *mac, char *gw, int *prefix,
                       unsigned *mtu, char *err, size_t errlen);
    void (*net_detach) (void *arg, const char *shed);
    const char *(*net_bridge) (void *arg);
    void *net_arg;
    /* Listen for the shed's agent on socket_path. 0 or -1 with a reason. */
    int (*agent_add) (void *arg, const char *shed, const char *socket_path, char *err,
                      size_t errlen);
    void (*agent_remove) (void *arg, const char *shed);
    void *agent_arg;
    /* Bring a snapshot's data to this node before a create from it
     * (node/snapshots/node_snaps.h): done is called on the loop exactly
     * once, never before layer_fetch returns. 0, or -1 with a reason
     * (done not called). NULL: creates from snapshots are refused. */
    int (*layer_fetch) (void *arg, const char *shed, const char *snapshot, const char *holder,
                        const char *digest, uint64_t size, shed_layer_done_fn *done, void *ctx,
                        char *err, size_t errlen);
    void *layer_arg;
    /* A move (docs/snapshots.md, "Move"): attach with the address the shed
     * had on its old node (want_ip; out as net_attach), and let a shed
     * that left with its address go without freeing that address. NULL:
     * a moved shed gets a new address / a plain detach. */
    int (*net_attach_addr) (void *arg, const char *shed, const char *want_ip, char *ip, char *mac,
                            char *gw, int *prefix, unsigned *mtu, char *err, size_t errlen);
    void (*net_lend) (void *arg, const char *shed);
} shed_sched_hooks_t;

/* Start: the scheduler's methods on `rpc`, driver and its worker,
 * admission restored from our shed records (sheds re-adopted: reconciled
 * with what the driver finds, on the worker), API handlers, membership and
 * state listeners. rpc, state and noderec are borrowed and must outlive
 * the scheduler. hooks may be NULL. NULL with a one-line reason on
 * failure. */
shed_sched_t *shed_sched_new (const shed_config_t *cfg, shed_nrpc_t *rpc, shed_members_t *members,
                              shed_nstate_t *state, shed_noderec_t *noderec, zloop_t *loop,
                              shed_api_server_t *api, const shed_sched_hooks_t *hooks, char *err,
                              size_t errlen);
/* The driver worker goes first (queued calls cancelled, the running one
 * waited for, every waiter answered). */
void shed_sched_destroy (shed_sched_t **self_p);

/* Publish creates' progress (`create.<self>.<shed>`, kind progress:
 * docs/scheduling.md, "Create progress") on `events` (borrowed, outlives
 * the scheduler); NULL or never set: none is published. */
struct _shed_events_t;
void shed_sched_set_events (shed_sched_t *self, struct _shed_events_t *events);

/* ---- node RPC for other components ----------------------------------------
 *
 * Wrappers over the node's RPC registry (node_rpc.h) for components that
 * know the scheduler: another component serves a method of its own with
 * shed_sched_rpc_on and calls a peer's with shed_sched_rpc_call;
 * everything runs on the daemon's loop.
 * The scheduler's own methods ("reserve", "release", "claim", "op") cannot
 * be taken; a request for a method nobody serves is answered with status
 * SHED_SCHED_RPC_UNKNOWN and an error line naming it. */

#define SHED_SCHED_RPC_FAILED  SHED_NRPC_FAILED
#define SHED_SCHED_RPC_UNKNOWN SHED_NRPC_UNKNOWN

/* A request for a registered method: `peer` asked (the name membership
 * gave its key); answer exactly once, now or later, with
 * shed_sched_rpc_reply (token). `body` is valid only during the call. */
typedef void (shed_sched_rpc_fn) (shed_sched_t *self, const char *peer, uint64_t token,
                                  const uint8_t *body, size_t len, void *arg);
/* The answer to shed_sched_rpc_call: status RPC_OK with the peer's body,
 * a positive status with the peer's error line, or RPC_ERR_TIMEOUT /
 * RPC_ERR_NO_PEER (also when this node shuts down first). `body` is valid
 * only during the call. Called exactly once, never from inside
 * shed_sched_rpc_call. */
typedef void (shed_sched_rpc_cb) (int status, const char *error, const uint8_t *body, size_t len,
                                  void *arg);

/* Serve `method` (at most RPC_METHOD_MAX bytes) with fn. 0, or -1 if the
 * method is the scheduler's own or already taken. */
int shed_sched_rpc_on (shed_sched_t *self, const char *method, shed_sched_rpc_fn *fn, void *arg);
/* Answer a request handed to a shed_sched_rpc_fn. */
void shed_sched_rpc_reply (shed_sched_t *self, uint64_t token, int status, const char *error,
                           const uint8_t *body, size_t len);
/* Ask `peer` (another node, by member name; not this node) to run
 * `method`; body at most RPC_BODY_MAX bytes. timeout_ms <= 0 =
 * RPC_TIMEOUT_DEFAULT. Returns 0 (cb will be called), or -1 (bad
 * arguments: cb will not be called). */
int shed_sched_rpc_call (shed_sched_t *self, const char *peer, const char *method,
                         const uint8_t *body, size_t len, int timeout_ms, shed_sched_rpc_cb *cb,
                         void *arg);

/* The node that runs shed `name`, from the replicated shed records (the
 * node that keeps the name when there are duplicates; lost sheds of
 * removed nodes are not counted). 0 with the node's name in `node`, or -1
 * when no live record names it. */
int shed_sched_owner (shed_sched_t *self, const char *name, char node[], size_t size);

/* Snapshot our shed `name` into `path` on the driver worker (the shed is
 * busy meanwhile: no start, stop or delete runs beside it). cb runs on the
 * loop exactly once, never from inside this call: rc 0 or a driver_code_t,
 * a reason, the bytes written and our shed record (decoded, valid during
 * the call; NULL if it went). Returns 0, or -1 with a reason (cb will not
 * be called): not ours, busy, no driver. */
typedef void (shed_snap_done_fn) (int rc, const char *why, uint64_t bytes, uint64_t ms,
                                  const rec_shed_t *shed, void *arg);
int shed_sched_snapshot (shed_sched_t *self, const char *name, const char *path, int mode,
                         shed_snap_done_fn *cb, void *arg, char *err, size_t errlen);
/* mode for a move: stop the shed first (its record says stopped), capture
 * it stopped, leave it stopped. */
#define SHED_SCHED_SNAP_MOVE 2
/* Our own record of shed `name`: true with *out decoded (free with
 * wire_msg_free (&rec_proto, out)). */
bool shed_sched_shed (shed_sched_t *self, const char *name, rec_msg_t *out);
/* Nodes that could take a shed of these needs, best first (placement, as
 * a create would place it), `exclude` left out. Returns the count; none:
 * `explain` says why. */
size_t shed_sched_candidates (shed_sched_t *self, const rec_shed_t *need, const char *exclude,
                              char cand[][REC_NAME_MAX + 1], size_t max, char *explain,
                              size_t explain_size);
/* The end of a move of our shed `name`: moved (true: it runs on `to`; the
 * copy here goes, its address lent, its record deleted) or not (false:
 * started again here). */
void shed_sched_move_end (shed_sched_t *self, const char *name, bool moved, const char *to);

/* The alive members other than this node (at most max names copied).
 * Returns the count. */
size_t shed_sched_peers (shed_sched_t *self, char names[][REC_NAME_MAX + 1], size_t max);

/* ---- this node's scheduler in numbers (the metrics endpoint) ------------- */

#define SHED_SCHED_STATES_MAX 16
typedef struct {
    place_resources_t capacity;  /* offered to sheds (detected or configured) */
    place_resources_t reserved;  /* kept for the host */
    place_resources_t effective; /* (capacity - reserved) x overcommit, as placement */
    place_resources_t allocated; /* sum of the sheds admitted here */
    size_t admitted;             /* sheds holding resources here */
    bool draining;
    size_t creates_running;   /* creates this node coordinates, not answered yet */
    uint64_t creates_ok;      /* creates this node coordinated: answered running */
    uint64_t creates_failed;  /* ... answered with an error */
    uint64_t claims_deferred; /* claims that waited for our address block */
    struct {
        char state[REC_SHED_STATE_MAX + 1];
        uint64_t count;
    } states[SHED_SCHED_STATES_MAX]; /* this node's shed records by state */
    size_t nstates;
    uint64_t state_round_trips; /* requests that waited for the state actor */
    size_t driver_pending;      /* driver calls queued or running on the worker */
    uint64_t driver_timeouts;   /* ... that passed their timeout */
    uint64_t driver_late;       /* ... whose result came after it */
    char rpc[512];              /* node RPC counters, "name=value ..." (rpc_stats) */
    bool have_create_latency, have_rpc_latency; /* false: the histogram is missing */
    shed_hist_snap_t create_latency;            /* creates answered running */
    shed_hist_snap_t rpc_latency;               /* node RPC round trips (rpc_latency) */
} shed_sched_stats_t;

/* Fill *out (the caller's). Reads the replicated shed records: O(sheds). */
void shed_sched_stats (shed_sched_t *self, shed_sched_stats_t *out);

/* ---- node-to-node messages (bodies of rpc requests), defined once ------- */

#define NSCHED_VERSION_MIN 1
#define NSCHED_VERSION     1
#define NSCHED_WHY_MAX     511

/* RESERVE name for request_id at the name's coordinator (method "reserve"). */
/* clang-format off */
#define NSCHED_RESERVE_FIELDS(F, T)                                            \
    F (T, 2, name,        WIRE_STR, REC_NAME_MAX,   WIRE_REQ, _)               \
    F (T, 3, request_id,  WIRE_STR, 64,             WIRE_REQ, _)
/* clang-format on */
/* verdict: a names_verdict_t; node: see names_decide. */
/* clang-format off */
#define NSCHED_RESERVE_REP_FIELDS(F, T)                                        \
    F (T, 2, verdict,     WIRE_U64, 3,              WIRE_REQ, _)               \
    F (T, 3, node,        WIRE_STR, REC_NAME_MAX,   WIRE_OPT, _)               \
    F (T, 4, why,         WIRE_STR, NSCHED_WHY_MAX, WIRE_OPT, _)
/* clang-format on */
/* RELEASE a reservation of a create that failed (method "release"). */
/* clang-format off */
#define NSCHED_RELEASE_FIELDS(F, T)                                            \
    F (T, 2, name,        WIRE_STR, REC_NAME_MAX,   WIRE_REQ, _)               \
    F (T, 3, request_id,  WIRE_STR, 64,             WIRE_REQ, _)
/* clang-format on */
/* CLAIM: admit, create and start (method "claim"). Idempotent on
 * request_id. Units: millicpus, MiB. */
/* clang-format off */
#define NSCHED_CLAIM_FIELDS(F, T)                                              \
    F (T, 2, name,        WIRE_STR,  REC_NAME_MAX,  WIRE_REQ, _)               \
    F (T, 3, request_id,  WIRE_STR,  64,            WIRE_REQ, _)               \
    F (T, 4, cpus_milli,  WIRE_U64,  0,             WIRE_OPT, _)               \
    F (T, 5, memory_mb,   WIRE_U64,  0,             WIRE_OPT, _)               \
    F (T, 6, disk_mb,     WIRE_U64,  0,             WIRE_OPT, _)               \
    F (T, 7, gpus,        WIRE_U64,  0,             WIRE_OPT, _)               \
    F (T, 8, image,       WIRE_STR,  255,           WIRE_OPT, _)               \
    F (T, 9, tags,        WIRE_TAGS, REC_TAGS_MAX,  WIRE_OPT, _)               \
    F (T, 10, snapshot,   WIRE_STR,  REC_NAME_MAX,  WIRE_OPT, _)               \
    F (T, 11, snapshot_node, WIRE_STR, REC_NAME_MAX, WIRE_OPT, _)              \
    F (T, 12, snapshot_digest, WIRE_STR, 64,        WIRE_OPT, _)               \
    F (T, 13, snapshot_size, WIRE_U64, 0,           WIRE_OPT, _)               \
    F (T, 14, move_ip,    WIRE_STR,  REC_ADDR_MAX,  WIRE_OPT, _)               \
    F (T, 15, moves,      WIRE_U64,  0,             WIRE_OPT, _)               \
    F (T, 16, created_ms, WIRE_U64,  0,             WIRE_OPT, _)               \
    F (T, 17, repo,       WIRE_STR,  255,           WIRE_OPT, _)
/* clang-format on */
/* repo: the repository the driver clones (shed-server); a node whose
 * driver does not clone repositories rejects the claim (not admitted), so
 * placement tries the next candidate. */
/* move_ip, moves, created_ms: a move (docs/snapshots.md, "Move"): the shed
 * keeps its address, its age, and counts one more move. */
/* snapshot*: start from that snapshot, held by snapshot_node (its data is
 * fetched first, docs/snapshots.md); older nodes ignore the fields. */
/* Answer of CLAIM and OP. ok: the shed record (a REC_SHED value) is in
 * `shed`; else `why`, and `admitted` tells a rejection (false: try the
 * next candidate) from a failure after admission. Timings in ms. */
/* clang-format off */
#define NSCHED_RESULT_FIELDS(F, T)                                             \
    F (T, 2, ok,          WIRE_BOOL, 0,             WIRE_OPT, _)               \
    F (T, 3, admitted,    WIRE_BOOL, 0,             WIRE_OPT, _)               \
    F (T, 4, why,         WIRE_STR,  NSCHED_WHY_MAX, WIRE_OPT, _)              \
    F (T, 5, shed,        WIRE_BLOB, 65536,         WIRE_OPT, _)               \
    F (T, 6, create_ms,   WIRE_U64,  0,             WIRE_OPT, _)               \
    F (T, 7, start_ms,    WIRE_U64,  0,             WIRE_OPT, _)
/* clang-format on */
/* OP on the owner: 0 start, 1 stop, 2 delete (method "op"); 3 drain,
 * 4 undrain (name ignored); 5 forget: to every node, drop the remembered
 * lost shed `name` of removed node `node`. */
/* clang-format off */
#define NSCHED_OP_FIELDS(F, T)                                                 \
    F (T, 2, op,          WIRE_U64,  5,             WIRE_REQ, _)               \
    F (T, 3, name,        WIRE_STR,  REC_NAME_MAX,  WIRE_OPT, _)               \
    F (T, 4, node,        WIRE_STR,  REC_NAME_MAX,  WIRE_OPT, _)
/* clang-format on */

/* clang-format off */
#define NSCHED_MESSAGES(M)                                                     \
    M (NSCHED_RESERVE,     nsched_reserve,     1, NSCHED_RESERVE_FIELDS)       \
    M (NSCHED_RESERVE_REP, nsched_reserve_rep, 2, NSCHED_RESERVE_REP_FIELDS)   \
    M (NSCHED_RELEASE,     nsched_release,     3, NSCHED_RELEASE_FIELDS)       \
    M (NSCHED_CLAIM,       nsched_claim,       4, NSCHED_CLAIM_FIELDS)         \
    M (NSCHED_RESULT,      nsched_result,      5, NSCHED_RESULT_FIELDS)        \
    M (NSCHED_OP,          nsched_op,          6, NSCHED_OP_FIELDS)
/* clang-format on */

WIRE_DECLARE_PROTO (nsched, NSCHED_MESSAGES)

#define NSCHED_OP_START   0
#define NSCHED_OP_STOP    1
#define NSCHED_OP_DELETE  2
#define NSCHED_OP_DRAIN   3
#define NSCHED_OP_UNDRAIN 4
#define NSCHED_OP_FORGET  5

#endif
