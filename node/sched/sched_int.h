/*
 * sched_int.h - what the scheduler's files share (not a public API; see
 * node_sched.h). Cross-file functions are named sched__*.
 *
 *   node_sched.c     lifecycle, membership and state listeners, timers,
 *                    stats, the RPC wrappers other components call
 *   sched_records.c  the replicated shed records as the scheduler reads
 *                    them; our own shed records; our node record's
 *                    resource fields
 *   sched_names.c    the name coordinator: RESERVE / RELEASE served here
 *   sched_serve.c    requests served here (claim, op): admission, then the
 *                    driver through the worker (driver_worker.h), answered
 *                    when the driver is done
 *   sched_jobs.c     creates taken here: the state machine (sched_create.h)
 *                    wired to RPC, placement and the API; routed ops
 *   sched_api.c      API handlers: create, list, show, op, drain
 *   sched_view.c     the placement view, kept decoded between decisions
 *   sched_progress.c creates' progress events on the bus
 */
#ifndef SHED_SCHED_INT_H
#define SHED_SCHED_INT_H

#include "node/sched/node_sched.h"
#include "node/sched/node_rpc.h"
#include "node/sched/sched_create.h"
#include "node/sched/sched_view.h"
#include "node/state/node_record.h"

#include "cluster/names.h"
#include "cluster/rpc.h"
#include "cluster/sched_admit.h"
#include "node/drivers/driver.h"
#include "node/drivers/driver_worker.h"

#include <string.h>

#define S_COMP               "sched"
#define S_MIB                (1024ull * 1024ull)
/* How long an API call may wait on peers before it is answered anyway
 * (docs/scheduling.md, "Deadlines"): the request's timeout_ms, else these. */
#define S_DEADLINE_CREATE_MS 30000
#define S_DEADLINE_OP_MS     10000
#define S_DEADLINE_MAX_MS    3600000
#define S_DEADLINE_POLL_MS   200
#define S_OPS_MAX            4096 /* op request ids remembered (retries) */
#define S_OPS_TTL_MS         3600000
/* A driver call that takes longer is answered as timed out (the call goes
 * on; its late result is reconciled: docs/scheduling.md). Below the claim
 * timeout so a claim's answer still reaches its coordinator. */
#define S_DRIVER_TIMEOUT_MS  25000
/* A claim that arrives before this node's address block has settled waits
 * on the loop, polled this often, for at most the settle time plus this. */
#define S_DEFER_POLL_MS      100
#define S_DEFER_MARGIN_MS    1000

/* What an outstanding request of ours is for. */
typedef enum { P_JOB, P_CALL, P_FIRE } s_ptype_t;
typedef struct _s_pending_t s_pending_t;
struct _s_pending_t {
    shed_sched_t *sched; /* NULL: the scheduler is gone, just free */
    void *handle;        /* in sched->pending */
    s_ptype_t type;
    char rid[65];          /* P_JOB: the job; P_CALL: the op's request id */
    uint32_t seq;          /* P_JOB: the job's seq when sent */
    bool claim;            /* P_JOB: a CLAIM (else RESERVE) */
    shed_api_call_t *call; /* P_CALL: answered from the result */
    int64_t t0;
    char peer[REC_NAME_MAX + 1];
    int64_t deadline; /* P_CALL: answered by then */
    uint64_t timeout_ms;
    char op[16];                 /* P_CALL: "delete", ... */
    char name[REC_NAME_MAX + 1]; /* P_CALL: the shed */
};

/* Whom to answer when a request served here finishes later: a peer's RPC
 * (token) or our own pending request. */
typedef struct {
    uint64_t token;
    s_pending_t *local; /* owned until answered */
} s_answer_t;

/* A request served here that waits for the driver worker (sched_driver.c):
 * the ctx of its driver jobs. */
typedef enum {
    W_CLAIM,   /* create, then start */
    W_OP,      /* start, stop or delete */
    W_UNDO,    /* remove what a failed or late claim made */
    W_READOPT, /* status after a restart, maybe start */
    W_SNAP,    /* a snapshot (sched_snap.c) */
} s_wtype_t;

#define S_WAITERS_MAX 4
typedef struct {
    s_wtype_t type;
    char name[REC_NAME_MAX + 1];
    char rid[65];
    uint64_t op;                   /* W_OP: NSCHED_OP_* */
    s_answer_t ans[S_WAITERS_MAX]; /* who waits (owned) */
    size_t nans;
    bool answered; /* a timeout answered them already */
    bool starting; /* W_CLAIM / W_READOPT: in the start call */
    int64_t t0;
    uint64_t create_ms, start_ms;
    char was[REC_SHED_STATE_MAX + 1]; /* W_READOPT: the state before the restart */
    shed_snap_done_fn *snap_cb;       /* W_SNAP */
    void *snap_arg;
    bool snap_stop_first;            /* W_SNAP of a move: the stop runs first */
    char snap_path[DRIVER_PATH_MAX]; /* ... then the capture into this */
} s_work_t;

/* A create taken here (sched_jobs.c): the machine's job and its callers. */
typedef struct {
    sc_job_t job;
    zlistx_t *calls; /* shed_api_call_t *: the create and its retries */
    int64_t t0_ns;   /* the request arrived (shed_hist_now_ns) */
} s_create_t;

typedef struct {
    char name[REC_NAME_MAX + 1];
    bool alive;
    bool suspect; /* alive but suspected: not a coordinator */
    bool failed;
} s_member_t;

typedef struct {
    char name[REC_NAME_MAX + 1];
    char holder[REC_NAME_MAX + 1];
    char rid[65];
    uint64_t expires_ms;
} s_resv_t;

/* An op request id this node routed (a retry with it is answered from it). */
typedef struct {
    char name[REC_NAME_MAX + 1];
    char node[REC_NAME_MAX + 1];
    uint64_t op;
    uint64_t at_ms;
} s_opdone_t;

struct _shed_sched_t {
    const shed_config_t *cfg; /* the node's (outlives us) */
    char name[REC_NAME_MAX + 1];
    shed_nstate_t *state;
    shed_noderec_t *noderec;
    shed_nrpc_t *rpc;
    shed_api_server_t *api;
    zloop_t *loop;
    int timer;
    int defer_timer; /* -1 while nothing is deferred */
    int deadline_timer;
    zlistx_t *deferred; /* s_deferred_t *, oldest first (sched_serve.c) */
    driver_t *driver;
    driver_worker_t *worker; /* runs every driver call */
    bool closing;            /* shutting down: no state writes, no new
                                       driver calls (the links actor may be
                                       gone after a signal) */
    char driver_error[256];  /* why there is no driver */
    zhashx_t *busy;          /* shed name -> op in flight on the worker */
    sched_admit_t *admit;
    sched_capacity_t capacity;
    bool draining;
    placement_t *placement;
    place_result_t *result;
    sched_view_t *view; /* node records, decoded (sched_view.h) */
    shed_sched_hooks_t hooks;
    zhashx_t *members;    /* name -> s_member_t */
    zhashx_t *jobs;       /* request id -> s_create_t (freed by hand) */
    zlistx_t *over;       /* s_create_t * that ended, freed on the next tick */
    sc_env_t env;         /* the create machine's (sched_jobs.c) */
    zlistx_t *pending;    /* s_pending_t *: our requests in flight */
    zhashx_t *resv;       /* name -> s_resv_t: reservations we granted */
    zhashx_t *cache;      /* "origin/name" -> zchunk_t: last shed record seen */
    zhashx_t *lost;       /* "origin/name" -> zchunk_t: sheds of removed origins */
    zhashx_t *gone;       /* "origin/name" -> zchunk_t: deleted while not alive */
    zhashx_t *dup_warned; /* names we warned about as duplicates */
    zhashx_t *orphans;    /* sheds the driver holds with no record of ours */
    zhashx_t *ops;        /* op request id -> s_opdone_t */
    zlistx_t *exts;       /* other components' methods (node_sched.c) */
    uint64_t counter;
    uint64_t creates_ok, creates_failed, claims_deferred;
    uint64_t driver_late;        /* driver results after their timeout */
    shed_hist_t *create_latency; /* API request to the shed running (sched_jobs.c) */

    struct _shed_events_t *events; /* creates' progress goes here; NULL: none */
};

/* ---- sched_records.c -------------------------------------------------------- */

typedef struct {
    char origin[REC_NAME_MAX + 1];
    char status[16];
    bool lost;
    rec_msg_t m; /* REC_SHED */
} s_shed_t;

typedef struct {
    s_shed_t *items;
    size_t n, cap;
} s_sheds_t;

void sched__fmt (char *dst, size_t size, const char *fmt, ...)
    __attribute__ ((format (printf, 3, 4)));
uint64_t sched__wall_ms (void);
int sched__encode (const wire_proto_t *proto, const void *msg, uint8_t **buf, size_t *len);
void sched__free_fn (void **item);
void sched__chunk_free_fn (void **item);
void sched__split_ref (const char *ref, char *name, char *node);

void sched__sheds_add (s_sheds_t *v, const char *origin, const char *status, bool lost,
                       const uint8_t *value, size_t len);
void sched__sheds_load (shed_sched_t *self, s_sheds_t *v, bool with_lost);
void sched__sheds_free (s_sheds_t *v);
bool *sched__sheds_dups (s_sheds_t *v);
const s_shed_t *sched__sheds_winner (s_sheds_t *v, const char *name);
/* The index of the live shed made by request `rid`, or -1. */
int sched__sheds_by_rid (s_sheds_t *v, const char *rid);
void sched__api_shed_fill (api_shed_t *out, const s_shed_t *sh, bool dup, const s_shed_t *winner);
int sched__own_put (shed_sched_t *self, rec_msg_t *rec);
bool sched__own_get (shed_sched_t *self, const char *name, rec_msg_t *out);
void sched__own_delete (shed_sched_t *self, const char *name);
void sched__publish_node (shed_sched_t *self);

/* ---- sched_names.c ---------------------------------------------------------- */

void sched__serve_reserve (shed_sched_t *self, const char *origin, const nsched_reserve_t *req,
                           nsched_reserve_rep_t *rep);
void sched__serve_release (shed_sched_t *self, const nsched_release_t *req);
void sched__resv_drop (shed_sched_t *self, const char *name);
void sched__resv_expire (shed_sched_t *self, uint64_t now);
void sched__resv_load (shed_sched_t *self);

/* ---- sched_serve.c ---------------------------------------------------------- */

/* Serve one request, ours or a peer's. 0: answered in rep_out (encoded
 * NSCHED message); 1: answered later to `ans` (taken); -1: unsupported. */
int sched__serve (shed_sched_t *self, const char *origin, const nsched_msg_t *req,
                  uint8_t **rep_out, size_t *rep_len, s_answer_t *ans);
void sched__serve_rpc (shed_nrpc_t *rpc, const char *peer, uint64_t token, const uint8_t *body,
                       size_t len, void *arg);
void sched__answer (shed_sched_t *self, s_answer_t *ans, int rc, const uint8_t *rep, size_t len);
void sched__work_answer (shed_sched_t *self, s_work_t *w, const nsched_result_t *res);
void sched__result_shed (nsched_result_t *res, const rec_msg_t *rec, uint8_t **blob);
void sched__deferred_flush (shed_sched_t *self);
bool sched__drain_load (const shed_sched_t *self);

/* ---- sched_driver.c --------------------------------------------------------- */

s_work_t *sched__work_new (s_wtype_t type, const char *name, const char *rid);
/* Add `ans` to those waiting (taken: ans->local cleared). false if full. */
bool sched__work_wait (s_work_t *w, s_answer_t *ans);
const char *sched__work_what (const s_work_t *w);
/* Out of busy (if it is there) and freed. */
void sched__work_done (shed_sched_t *self, s_work_t *w);
/* The worker's events (driver_worker.h). */
void sched__on_driver (driver_job_t *job, driver_job_event_t ev, void *arg);
/* A claim that will not run: address, admission and record go; with
 * `remove`, what the driver made is removed first (w lives on as W_UNDO),
 * else w is freed. Waiters are answered with `why`. */
void sched__claim_undo (shed_sched_t *self, s_work_t *w, bool remove, const char *why);
void sched__agent_socket (shed_sched_t *self, const char *name, char *out, size_t size);
void sched__agent_add (shed_sched_t *self, const char *name);
/* The timeout of a driver job: S_DRIVER_TIMEOUT_MS, or the driver's own
 * longer one for a create or start (driver_slow_timeout: Shed clones a
 * repository and provisions in its create). */
int sched__driver_timeout (shed_sched_t *self, driver_job_op_t op);
void sched__agent_remove (shed_sched_t *self, const char *name);
/* Our sheds after a restart: admission restored now, each reconciled with
 * the driver on the worker. */
void sched__readopt (shed_sched_t *self);

/* The moves that count for a shed's name (names_wins): only those of a
 * shed that runs or is stopped, so a move's target supersedes its source
 * once it runs, and a target that died half way (starting, error) never
 * outranks the shed it copied. */
static inline uint64_t
sched__shed_moves (const rec_shed_t *r)
{
    return strcmp (r->state, "running") == 0 || strcmp (r->state, "stopped") == 0 ? r->moves : 0;
}

/* Placement candidates for `job` (sched_jobs.c). */
size_t sched__place (shed_sched_t *self, const sc_job_t *job, char cand[][REC_NAME_MAX + 1],
                     size_t max, char *explain, size_t explain_size);

/* ---- sched_snap.c ----------------------------------------------------------- */

/* A claim from a snapshot: fetch its data, then submit `job` (taken).
 * S_LATER semantics: w is busy and answered when the create is done. 0,
 * or -1 with why (job freed, w still the caller's). */
int sched__claim_fetch (shed_sched_t *self, const nsched_claim_t *c, driver_job_t *job, s_work_t *w,
                        char *why, size_t whylen);
/* Our shed `name` runs on `to` now: the copy here goes (address lent,
 * admission released, record deleted, the driver removes it). */
void sched__moved_away (shed_sched_t *self, const char *name, const char *to);
/* Does a record of another node supersede ours of `name` (more moves,
 * running or stopped there)? Then sched__moved_away. */
void sched__check_superseded (shed_sched_t *self, const char *name);
/* After re-adoption: what the driver holds without a record of ours. Those
 * another node runs (a move this node did not see end) are removed, now
 * or when that node's record arrives (sched__orphan_check). */
void sched__orphans_scan (shed_sched_t *self);
void sched__orphan_check (shed_sched_t *self, const char *name);
/* The driver worker's events for W_SNAP. */
void sched__snap_done (shed_sched_t *self, s_work_t *w, driver_job_t *job, driver_job_event_t ev);

/* ---- sched_jobs.c ----------------------------------------------------------- */

/* Send `msg` to `peer`, or serve it ourselves; the result arrives at
 * sched__on_result either way (p taken). */
void sched__send (shed_sched_t *self, const char *peer, const char *method, const nsched_msg_t *msg,
                  int timeout_ms, s_pending_t *p);
s_pending_t *sched__pending_new (shed_sched_t *self, s_ptype_t type);
void sched__pending_free (s_pending_t **p_p);
void sched__on_result (shed_sched_t *self, s_pending_t *p, int status, const char *error,
                       const uint8_t *body, size_t len);
void sched__fire (shed_sched_t *self, const char *peer, const char *method,
                  const nsched_msg_t *msg);
void sched__jobs_init (shed_sched_t *self);
void sched__create_start (shed_sched_t *self, s_create_t *c);
void sched__create_free_fn (void **item);
bool sched__create_answer_existing (shed_sched_t *self, s_create_t *c);
void sched__peer_trouble (shed_sched_t *self, const char *peer, bool failed);
int sched__on_deadline (zloop_t *loop, int timer_id, void *arg);
const char *sched__peer_status (shed_sched_t *self, const char *peer);
size_t sched__alive_names (shed_sched_t *self, const char **names, size_t max);
void sched__route_call (shed_sched_t *self, shed_api_call_t *call, const char *node,
                        const nsched_msg_t *msg, const char *op, const char *name, const char *rid,
                        uint64_t timeout_ms);
void sched__reply_shed (shed_sched_t *self, shed_api_call_t **call_p, const rec_msg_t *rec,
                        const char *origin, api_step_t *steps, size_t nsteps, const char *message);

/* ---- sched_progress.c ------------------------------------------------------- */

/* Phases of a create (EVPAY_PROGRESS `state` on create.<self>.<shed>). */
#define SCHED_PHASE_RESERVED "reserved" /* name granted by its coordinator */
#define SCHED_PHASE_PLACED   "placed"   /* a claim sent to `peer` */
#define SCHED_PHASE_FAILED   "failed"   /* the create failed: `why` */
#define SCHED_PHASE_NETWORK  "network"  /* target: overlay address taken */
#define SCHED_PHASE_ROOTFS   "rootfs"   /* target: the driver's create done */
#define SCHED_PHASE_STARTED  "started"  /* target: the driver's start done */

/* Publish one phase of shed `shed`'s create: `peer` the target (NULL:
 * none yet), `ms` since the phase's node saw the request, `agent` for
 * STARTED. A line for people from fmt. Nothing without events. */
void sched__progress (shed_sched_t *self, const char *shed, const char *peer, const char *state,
                      uint64_t ms, bool agent, const char *fmt, ...)
    __attribute__ ((format (printf, 7, 8)));
/* Will shed `name`'s agent connect once it runs? (sched_progress.c) */
bool sched__agent_expected (shed_sched_t *self);

/* ---- sched_api.c ------------------------------------------------------------ */

void sched__api_register (shed_sched_t *self);

#endif
