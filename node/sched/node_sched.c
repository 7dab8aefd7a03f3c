/*
 * node_sched.c - see node_sched.h and docs/scheduling.md.
 *
 * Everything here runs on the daemon's zloop thread: API calls, RPC events,
 * membership and state events, driver calls. A create is a small state
 * machine (a job) that waits for RPC answers: RESERVE at the name's
 * coordinator, then CLAIM at candidates in placement order. Requests we
 * serve (reserve, release, claim, op) are answered synchronously, so the
 * same code answers a peer over RPC and ourselves by a direct call.
 */
#include "node/sched/node_sched.h"
#include "node/overlay/ipam.h"
#include "node/images/node_images.h"

#include "cluster/names.h"
#include "cluster/placement.h"
#include "cluster/rpc.h"
#include "cluster/sched_admit.h"
#include "common/fileutil.h"
#include "common/log.h"
#include "node/drivers/driver.h"
#include "node/drivers/node_driver.h"
#include "node/drivers/tc.h"

#include <errno.h>
#include <inttypes.h>
#include <sodium.h>
#include <stdarg.h>
#include <string.h>
#include <sys/statvfs.h>
#include <unistd.h>

#define S_COMP        "sched"
#define S_MIB         (1024ull * 1024ull)
#define S_STEPS_MAX   32
#define S_RESERVE_TIMEOUT 3000   /* one coordinator's turn: then the next (failover) */
/* How long an API call may wait on peers before it is answered anyway
 * (docs/scheduling.md, "Deadlines"): the request's timeout_ms, else these.
 * A create's claim may legitimately take a while (image, disk, start), so
 * its default is the claim timeout's; ops default to 10 s. */
#define S_DEADLINE_CREATE_MS 30000
#define S_DEADLINE_OP_MS     10000
#define S_DEADLINE_MAX_MS    3600000
#define S_DEADLINE_POLL_MS   200
#define S_SKIP_MAX           8      /* coordinators one create may give up on */
#define S_OPS_MAX            4096   /* op request ids remembered (retries) */
#define S_OPS_TTL_MS         3600000
#define S_OP_TIMEOUT  30000
/* A claim that arrives before this node's address block has settled (the
 * first network.settle_ms after start) waits on the loop, polled this often,
 * for at most the settle time plus this margin; the main thread never
 * sleeps for it. */
#define S_DEFER_POLL_MS 100
#define S_DEFER_MARGIN_MS 1000

WIRE_DEFINE_PROTO (nsched, NSCHED_MESSAGES, NSCHED_VERSION_MIN, NSCHED_VERSION, NULL)

typedef enum { J_RESERVE, J_CLAIM } s_phase_t;

/* A create in progress on this node (the one that took the API call). */
typedef struct {
    char rid [65];
    char name [REC_NAME_MAX + 1];
    uint64_t cpus_milli, memory_mb, disk_mb, gpus;
    char pin [REC_NAME_MAX + 1];
    place_constraint_t constraints [PLACE_CONSTRAINTS_MAX];
    size_t nconstraints;
    place_strategy_t strategy;
    char image [256];
    wire_tag_t tags [32];
    size_t ntags;
    zlistx_t *calls;                /* shed_api_call_t *: the create and its retries */
    int64_t t0;
    api_step_t steps [S_STEPS_MAX];
    size_t nsteps;
    s_phase_t phase;
    char coordinator [REC_NAME_MAX + 1];
    char cand [PLACE_CANDIDATES_MAX][REC_NAME_MAX + 1];
    size_t ncand, next;
    char reasons [1024];
    char target [REC_NAME_MAX + 1];
    int64_t deadline;               /* mono ms: answered by then, whatever peers do */
    uint64_t timeout_ms;
    uint32_t seq;                   /* of the request in flight: older results are stale */
    char skip [S_SKIP_MAX][REC_NAME_MAX + 1];   /* coordinators that did not answer */
    size_t nskip;
} s_job_t;

/* What an outstanding RPC is for. */
typedef enum { P_JOB, P_CALL, P_FIRE, P_EXT } s_ptype_t;
typedef struct {
    s_ptype_t type;
    char rid [65];                  /* P_JOB */
    shed_api_call_t *call;          /* P_CALL: answered from the result */
    shed_sched_rpc_cb *cb;          /* P_EXT: another component's call */
    void *cb_arg;
    int64_t t0;
    char peer [REC_NAME_MAX + 1];
    uint32_t seq;                   /* P_JOB: the job's seq when sent */
    int64_t deadline;               /* P_CALL: answered by then */
    uint64_t timeout_ms;
    char op [16];                   /* P_CALL: "delete", ... */
    char name [REC_NAME_MAX + 1];   /* P_CALL: the shed */
} s_pending_t;

/* An op request id this node routed (a retry with it is answered from it). */
typedef struct {
    char name [REC_NAME_MAX + 1];
    char node [REC_NAME_MAX + 1];
    uint64_t op;
    uint64_t at_ms;
} s_opdone_t;

/* A deferred claim (see S_DEFER_POLL_MS): answered from s_on_defer. */
typedef struct {
    uint8_t *req;                   /* the encoded NSCHED_CLAIM, owned */
    size_t len;
    char origin [REC_NAME_MAX + 1];
    uint64_t rpc_id;                /* a peer's request to answer, or ... */
    s_pending_t *local;             /* ... our own request's pending result, owned */
    int64_t deadline;               /* mono ms: then one last try that may fail */
} s_deferred_t;

/* A method another component serves (shed_sched_rpc_on). */
typedef struct {
    shed_sched_rpc_fn *fn;
    void *arg;
} s_method_t;

typedef struct {
    char name [REC_NAME_MAX + 1];
    bool alive;
    bool suspect;                   /* alive but suspected: not a coordinator */
    bool failed;
} s_member_t;

typedef struct {
    char name [REC_NAME_MAX + 1];
    char holder [REC_NAME_MAX + 1];
    char rid [65];
    uint64_t expires_ms;
} s_resv_t;

struct _shed_sched_t {
    const shed_config_t *cfg;       /* the node's (outlives us) */
    char name [REC_NAME_MAX + 1];
    shed_nstate_t *state;
    shed_api_server_t *api;
    zloop_t *loop;
    int timer;
    int defer_timer;                /* -1 while nothing is deferred */
    int deadline_timer;
    zlistx_t *deferred;             /* s_deferred_t *, oldest first */
    rpc_t *rpc;
    driver_t *driver;
    char driver_error [256];        /* why there is no driver */
    sched_admit_t *admit;
    sched_capacity_t capacity;
    bool draining;
    placement_t *placement;
    place_result_t *result;
    shed_sched_hooks_t hooks;
    zhashx_t *members;              /* name -> s_member_t */
    zhashx_t *jobs;                 /* request id -> s_job_t */
    zhashx_t *pending;              /* "%llu" rpc id -> s_pending_t */
    zhashx_t *resv;                 /* name -> s_resv_t: reservations we granted */
    zhashx_t *cache;                /* "origin/name" -> zchunk_t: last shed record seen */
    zhashx_t *lost;                 /* "origin/name" -> zchunk_t: sheds of removed origins */
    zhashx_t *gone;                 /* "origin/name" -> zchunk_t: deleted while not alive */
    zhashx_t *dup_warned;           /* names we warned about as duplicates */
    zhashx_t *methods;              /* method -> s_method_t: other components' */
    zhashx_t *ops;                  /* op request id -> s_opdone_t */
    uint64_t counter;
    uint64_t creates_ok, creates_failed, claims_deferred;   /* for shed_sched_stats */
};

static void s_job_fail (shed_sched_t *self, s_job_t *job, api_err_code_t code, const char *fmt,
                        ...) __attribute__ ((format (printf, 4, 5)));

/* ---- small helpers ------------------------------------------------------- */

static uint64_t
s_wall_ms (void)
{
    return (uint64_t) zclock_time ();
}

/* snprintf where truncation is expected and fine (names are short, paths
 * and messages are bounded by their fields). */
static void
s_fmt (char *dst, size_t size, const char *fmt, ...) __attribute__ ((format (printf, 3, 4)));

static void
s_fmt (char *dst, size_t size, const char *fmt, ...)
{
    va_list ap;
    va_start (ap, fmt);
    vsnprintf (dst, size, fmt, ap);
    va_end (ap);
}

static void
s_free_fn (void **item)
{
    free (*item);
    *item = NULL;
}

static void
s_chunk_free_fn (void **item)
{
    zchunk_destroy ((zchunk_t **) item);
}

static const char *
s_state_of (const char *status, const char *state)
{
    return strcmp (status, "unreachable") == 0 ? "unreachable" : state;
}

/* "name" or "name@node". */
static void
s_split_ref (const char *ref, char *name, char *node)
{
    const char *at = strchr (ref, '@');
    if (at) {
        snprintf (name, REC_NAME_MAX + 1, "%.*s", (int) (at - ref), ref);
        snprintf (node, REC_NAME_MAX + 1, "%s", at + 1);
    }
    else {
        snprintf (name, REC_NAME_MAX + 1, "%s", ref);
        node [0] = '\0';
    }
}

static int
s_encode (const wire_proto_t *proto, const void *msg, uint8_t **buf, size_t *len)
{
    int rc = wire_encode (proto, msg, buf, len);
    if (rc != WIRE_OK)
        log_error (S_COMP, "cannot encode|proto=%s err=\"%s\"", proto->name, wire_strerror (rc));
    return rc == WIRE_OK ? 0 : -1;
}

/* ---- the replicated shed records ------------------------------------------ */

typedef struct {
    char origin [REC_NAME_MAX + 1];
    char status [16];
    bool lost;
    rec_msg_t m;                    /* REC_SHED */
} s_shed_t;

typedef struct {
    s_shed_t *items;
    size_t n, cap;
} s_sheds_t;

static void
s_sheds_add (s_sheds_t *v, const char *origin, const char *status, bool lost,
             const uint8_t *value, size_t len)
{
    if (v->n == v->cap) {
        size_t cap = v->cap ? v->cap * 2 : 32;
        s_shed_t *items = realloc (v->items, cap * sizeof *items);
        if (!items)
            return;
        v->items = items;
        v->cap = cap;
    }
    s_shed_t *sh = &v->items [v->n];
    memset (sh, 0, sizeof *sh);
    if (wire_decode (&rec_proto, value, len, &sh->m, NULL) != WIRE_OK
    ||  sh->m.hdr.type != REC_SHED) {
        wire_msg_free (&rec_proto, &sh->m);
        return;
    }
    snprintf (sh->origin, sizeof sh->origin, "%s", origin);
    snprintf (sh->status, sizeof sh->status, "%s", status);
    sh->lost = lost;
    v->n++;
}

static void
s_collect_shed (const shed_record_t *rec, void *arg)
{
    s_sheds_add ((s_sheds_t *) arg, rec->origin, rec->status, false, rec->value, rec->len);
}

static void
s_sheds_free (s_sheds_t *v)
{
    for (size_t i = 0; i < v->n; i++)
        wire_msg_free (&rec_proto, &v->items [i].m);
    free (v->items);
    memset (v, 0, sizeof *v);
}

/* Every live shed record, then (with_lost) the last known records of
 * removed origins; duplicates among the live ones flagged in dup[]. */
static void
s_sheds_load (shed_sched_t *self, s_sheds_t *v, bool with_lost)
{
    memset (v, 0, sizeof *v);
    shed_nstate_list (self->state, REC_KIND_SHED, s_collect_shed, v);
    if (with_lost)
        for (zchunk_t *c = (zchunk_t *) zhashx_first (self->lost); c;
             c = (zchunk_t *) zhashx_next (self->lost)) {
            const char *key = (const char *) zhashx_cursor (self->lost);
            char origin [REC_NAME_MAX + 1];
            snprintf (origin, sizeof origin, "%.*s", (int) strcspn (key, "/"), key);
            s_sheds_add (v, origin, "removed", true, zchunk_data (c), zchunk_size (c));
        }
}

/* Duplicate flags for v (same order), live records only. */
static bool *
s_sheds_dups (s_sheds_t *v)
{
    bool *dup = calloc (v->n + 1, sizeof *dup);
    names_shed_t *ns = calloc (v->n + 1, sizeof *ns);
    size_t *idx = calloc (v->n + 1, sizeof *idx);
    assert (dup && ns && idx);
    size_t k = 0;
    for (size_t i = 0; i < v->n; i++) {
        if (v->items [i].lost)
            continue;
        const rec_shed_t *r = &v->items [i].m.u.rec_shed;
        ns [k] = (names_shed_t) { r->name, v->items [i].origin, r->request_id, r->created_ms,
                                  false };
        idx [k++] = i;
    }
    names_resolve (ns, k);
    for (size_t j = 0; j < k; j++)
        dup [idx [j]] = ns [j].duplicate;
    free (ns);
    free (idx);
    return dup;
}

/* The winner among the live sheds named `name` (for notes). */
static const s_shed_t *
s_sheds_winner (s_sheds_t *v, const char *name)
{
    const s_shed_t *best = NULL;
    for (size_t i = 0; i < v->n; i++) {
        const s_shed_t *sh = &v->items [i];
        if (sh->lost || strcmp (sh->m.u.rec_shed.name, name))
            continue;
        names_shed_t a = { name, sh->origin, sh->m.u.rec_shed.request_id,
                           sh->m.u.rec_shed.created_ms, false };
        if (best) {
            names_shed_t b = { name, best->origin, best->m.u.rec_shed.request_id,
                               best->m.u.rec_shed.created_ms, false };
            if (!names_wins (&a, &b))
                continue;
        }
        best = sh;
    }
    return best;
}

static void
s_api_shed_fill (api_shed_t *out, const s_shed_t *sh, bool dup, const s_shed_t *winner)
{
    const rec_shed_t *r = &sh->m.u.rec_shed;
    memset (out, 0, sizeof *out);
    snprintf (out->name, sizeof out->name, "%s", r->name);
    snprintf (out->node, sizeof out->node, "%s", sh->origin);
    snprintf (out->state, sizeof out->state, "%s",
              sh->lost ? "lost" : s_state_of (sh->status, r->state));
    out->cpus_milli = r->cpus_milli;
    out->memory_mb = r->memory_mb;
    out->disk_mb = r->disk_mb;
    out->gpus = r->gpus;
    snprintf (out->image, sizeof out->image, "%s", r->image);
    snprintf (out->ip, sizeof out->ip, "%s", r->ip);
    snprintf (out->mac, sizeof out->mac, "%s", r->mac);
    snprintf (out->request_id, sizeof out->request_id, "%s", r->request_id);
    out->created_ms = r->created_ms;
    snprintf (out->error, sizeof out->error, "%s", r->error);
    snprintf (out->driver, sizeof out->driver, "%s", r->driver);
    out->tags.n = r->tags.n;
    out->tags.items = r->tags.items;    /* borrowed from the record */
    out->duplicate = dup;
    if (dup && winner)
        s_fmt (out->note, sizeof out->note,
                  "duplicate name: %s on %s was created first and keeps it; rename or delete "
                  "this one (shedctl delete %s@%s)", r->name, winner->origin, r->name,
                  sh->origin);
    else
    if (sh->lost)
        s_fmt (out->note, sizeof out->note,
                  "%s left the cluster or was reaped; the shed is not restarted elsewhere "
                  "(shedctl delete --force %s@%s forgets it)", sh->origin, r->name, sh->origin);
    else
    if (strcmp (sh->status, "unreachable") == 0)
        snprintf (out->note, sizeof out->note, "%s is not answering (failed); last state %s",
                  sh->origin, r->state);
}

/* ---- our own records ------------------------------------------------------- */

static int
s_own_put (shed_sched_t *self, rec_msg_t *rec)
{
    rec->u.rec_shed.updated_ms = s_wall_ms ();
    uint8_t *buf = NULL;
    size_t len = 0;
    if (s_encode (&rec_proto, rec, &buf, &len))
        return -1;
    char err [256];
    int rc = shed_nstate_put (self->state, REC_KIND_SHED, rec->u.rec_shed.name, buf, len, err,
                              sizeof err);
    if (rc)
        log_error (S_COMP, "cannot write shed record|shed=%s err=\"%s\"", rec->u.rec_shed.name,
                   err);
    free (buf);
    return rc;
}

typedef struct {
    const char *self;
    const char *name;
    rec_msg_t *out;
    bool found;
} s_own_find_t;

static void
s_own_find_fn (const shed_record_t *rec, void *arg)
{
    s_own_find_t *f = arg;
    if (f->found || strcmp (rec->origin, f->self) || strcmp (rec->key, f->name))
        return;
    if (wire_decode (&rec_proto, rec->value, rec->len, f->out, NULL) == WIRE_OK
    &&  f->out->hdr.type == REC_SHED)
        f->found = true;
    else
        wire_msg_free (&rec_proto, f->out);
}

/* Our record of shed `name` (free with wire_msg_free). */
static bool
s_own_get (shed_sched_t *self, const char *name, rec_msg_t *out)
{
    memset (out, 0, sizeof *out);
    s_own_find_t f = { self->name, name, out, false };
    shed_nstate_list (self->state, REC_KIND_SHED, s_own_find_fn, &f);
    return f.found;
}

/* ---- our node record: capacity, allocation, draining ----------------------- */

typedef struct {
    const char *self;
    rec_msg_t *out;
    bool found;
} s_node_find_t;

static void
s_node_find_fn (const shed_record_t *rec, void *arg)
{
    s_node_find_t *f = arg;
    if (f->found || strcmp (rec->origin, f->self) || strcmp (rec->key, f->self))
        return;
    if (wire_decode (&rec_proto, rec->value, rec->len, f->out, NULL) == WIRE_OK
    &&  f->out->hdr.type == REC_NODE)
        f->found = true;
    else
        wire_msg_free (&rec_proto, f->out);
}

/* Re-put our node record (as node.c wrote it) with fresh resource fields. */
static void
s_publish_node (shed_sched_t *self)
{
    rec_msg_t rec;
    memset (&rec, 0, sizeof rec);
    s_node_find_t f = { self->name, &rec, false };
    shed_nstate_list (self->state, REC_KIND_NODE, s_node_find_fn, &f);
    if (!f.found) {
        log_warn (S_COMP, "our node record is missing: resources not published");
        return;
    }
    rec_node_t *n = &rec.u.rec_node;
    place_resources_t alloc;
    sched_admit_allocated (self->admit, &alloc);
    const sched_capacity_t *c = &self->capacity;
    n->cpu_milli = c->capacity.v [PLACE_CPU];
    n->cpus = c->capacity.v [PLACE_CPU] / 1000;
    n->memory_mb = c->capacity.v [PLACE_MEMORY] / S_MIB;
    n->disk_mb = c->capacity.v [PLACE_DISK] / S_MIB;
    n->gpus = c->capacity.v [PLACE_GPU];
    n->reserved_cpu_milli = c->reserved.v [PLACE_CPU];
    n->reserved_memory_mb = c->reserved.v [PLACE_MEMORY] / S_MIB;
    n->reserved_disk_mb = c->reserved.v [PLACE_DISK] / S_MIB;
    n->oc_cpu = c->overcommit [PLACE_CPU];
    n->oc_memory = c->overcommit [PLACE_MEMORY];
    n->oc_disk = c->overcommit [PLACE_DISK];
    n->alloc_cpu_milli = alloc.v [PLACE_CPU];
    /* Round allocations UP to whole MiB so a remote view never sees more
     * room than there is. */
    n->alloc_memory_mb = (alloc.v [PLACE_MEMORY] + S_MIB - 1) / S_MIB;
    n->alloc_disk_mb = (alloc.v [PLACE_DISK] + S_MIB - 1) / S_MIB;
    n->alloc_gpus = alloc.v [PLACE_GPU];
    n->sheds = sched_admit_count (self->admit);
    n->draining = self->draining;
    uint8_t *buf = NULL;
    size_t len = 0;
    if (s_encode (&rec_proto, &rec, &buf, &len) == 0) {
        char err [256];
        if (shed_nstate_put (self->state, REC_KIND_NODE, self->name, buf, len, err, sizeof err))
            log_error (S_COMP, "cannot update node record|err=\"%s\"", err);
        free (buf);
    }
    wire_msg_free (&rec_proto, &rec);
}

/* ---- membership -> rpc peers, alive set ------------------------------------ */

static void s_peer_trouble (shed_sched_t *self, const char *peer, bool failed);

/* What membership says of `peer`, for messages. */
static const char *
s_peer_status (shed_sched_t *self, const char *peer)
{
    if (streq (peer, self->name))
        return "this node";
    s_member_t *m = (s_member_t *) zhashx_lookup (self->members, peer);
    if (!m)
        return "not a member";
    return m->suspect ? "suspect" : m->alive ? "alive" : m->failed ? "failed" : "gone";
}

static void
s_on_member (const char *kind, const gossip_update_t *m, const char *reason, void *arg)
{
    (void) reason;
    shed_sched_t *self = arg;
    if (strcmp (m->name, self->name) == 0)
        return;
    s_member_t *mem = (s_member_t *) zhashx_lookup (self->members, m->name);
    if (!mem) {
        mem = (s_member_t *) zmalloc (sizeof (s_member_t));
        assert (mem);
        s_fmt (mem->name, sizeof mem->name, "%s", m->name);
        zhashx_insert (self->members, m->name, mem);
    }
    bool keyed = m->key.len == 32;
    bool was_suspect = mem->suspect;
    if (!strcmp (kind, "join") || (!strcmp (kind, "update") && m->kind == SWIM_UPD_ALIVE)
    ||  !strcmp (kind, "suspect")) {
        mem->alive = true;
        mem->failed = false;
        mem->suspect = !strcmp (kind, "suspect");
        if (keyed) {
            char endpoint [128];
            snprintf (endpoint, sizeof endpoint, "tcp://%s:%u", m->addr,
                      (unsigned) (m->port + RPC_PORT_OFFSET));
            /* ALLOW before PEER-ADD: the peer dials us as soon as it learns
             * about us, and a refused handshake costs a re-dial. */
            rpc_allow (self->rpc, m->key.data);
            rpc_peer_add (self->rpc, m->name, endpoint, m->key.data);
        }
    }
    else
    if (!strcmp (kind, "fail")) {
        mem->alive = false;         /* keep the peer: it may come back */
        mem->suspect = false;
        mem->failed = true;
    }
    else
    if (!strcmp (kind, "leave") || !strcmp (kind, "reap")) {
        mem->alive = false;
        mem->suspect = false;
        if (keyed)
            rpc_deny (self->rpc, m->key.data);
        rpc_peer_remove (self->rpc, m->name);
    }
    /* Creates and ops waiting on it must not wait out their deadline:
     * a suspect coordinator is replaced at once, a failed peer's pending
     * work is answered now (docs/scheduling.md, "Deadlines"). */
    if (mem->suspect && !was_suspect)
        s_peer_trouble (self, m->name, false);
    else
    if (!mem->alive)
        s_peer_trouble (self, m->name, true);
}

/* Alive members, ourselves included, for the coordinator choice. */
static size_t
s_alive_names (shed_sched_t *self, const char **names, size_t max)
{
    size_t n = 0;
    names [n++] = self->name;
    for (s_member_t *m = (s_member_t *) zhashx_first (self->members); m && n < max;
         m = (s_member_t *) zhashx_next (self->members))
        if (m->alive)
            names [n++] = m->name;
    return n;
}

/* ---- reservations (we coordinate these names) ------------------------------ */

static void
s_resv_drop (shed_sched_t *self, const char *name)
{
    if (zhashx_lookup (self->resv, name)) {
        char err [256];
        shed_nstate_delete (self->state, REC_KIND_NAME, name, err, sizeof err);
        zhashx_delete (self->resv, name);
    }
}

typedef struct {
    names_resv_t *items;
    rec_msg_t *msgs;
    size_t n, cap;
} s_resvs_t;

static void
s_collect_name (const shed_record_t *rec, void *arg)
{
    s_resvs_t *v = arg;
    if (v->n == v->cap) {
        size_t cap = v->cap ? v->cap * 2 : 16;
        rec_msg_t *msgs = realloc (v->msgs, cap * sizeof *msgs);
        if (!msgs)
            return;
        v->msgs = msgs;
        v->cap = cap;
    }
    rec_msg_t *m = &v->msgs [v->n];
    if (wire_decode (&rec_proto, rec->value, rec->len, m, NULL) != WIRE_OK
    ||  m->hdr.type != REC_NAME) {
        wire_msg_free (&rec_proto, m);
        return;
    }
    v->n++;
}

static void
s_serve_reserve (shed_sched_t *self, const char *origin, const nsched_reserve_t *req,
                 nsched_reserve_rep_t *rep)
{
    s_sheds_t sheds;
    s_sheds_load (self, &sheds, false);
    names_shed_t *ns = calloc (sheds.n + 1, sizeof *ns);
    assert (ns);
    for (size_t i = 0; i < sheds.n; i++) {
        const rec_shed_t *r = &sheds.items [i].m.u.rec_shed;
        ns [i] = (names_shed_t) { r->name, sheds.items [i].origin, r->request_id,
                                  r->created_ms, false };
    }
    /* Reservations: the replicated `name` records of every origin (a
     * previous coordinator's too), ours held in memory. */
    s_resvs_t rv = { 0 };
    shed_nstate_list (self->state, REC_KIND_NAME, s_collect_name, &rv);
    names_resv_t *rs = calloc (rv.n + zhashx_size (self->resv) + 1, sizeof *rs);
    assert (rs);
    size_t nr = 0;
    for (size_t i = 0; i < rv.n; i++) {
        const rec_name_t *r = &rv.msgs [i].u.rec_name;
        rs [nr++] = (names_resv_t) { r->name, r->holder, r->request_id, r->expires_ms };
    }
    for (s_resv_t *r = (s_resv_t *) zhashx_first (self->resv); r;
         r = (s_resv_t *) zhashx_next (self->resv))
        rs [nr++] = (names_resv_t) { r->name, r->holder, r->rid, r->expires_ms };
    const char *node = NULL;
    char why [NSCHED_WHY_MAX + 1] = "";
    uint64_t now = s_wall_ms ();
    names_verdict_t v = names_decide (ns, sheds.n, rs, nr, req->name, req->request_id, origin,
                                      now, &node, why, sizeof why);
    rep->verdict = (uint64_t) v;
    snprintf (rep->node, sizeof rep->node, "%s", node ? node : "");
    snprintf (rep->why, sizeof rep->why, "%s", why);
    if (v == NAMES_GRANT) {
        s_resv_t *r = (s_resv_t *) zmalloc (sizeof (s_resv_t));
        assert (r);
        snprintf (r->name, sizeof r->name, "%s", req->name);
        snprintf (r->holder, sizeof r->holder, "%s", origin);
        snprintf (r->rid, sizeof r->rid, "%s", req->request_id);
        r->expires_ms = now + (uint64_t) self->cfg->scheduler.name_ttl_s * 1000;
        rec_msg_t rec = { .hdr.type = REC_NAME };
        rec_name_t *n = &rec.u.rec_name;
        snprintf (n->name, sizeof n->name, "%s", r->name);
        snprintf (n->holder, sizeof n->holder, "%s", r->holder);
        snprintf (n->request_id, sizeof n->request_id, "%s", r->rid);
        n->expires_ms = r->expires_ms;
        n->created_ms = now;
        zhashx_update (self->resv, r->name, r);
        uint8_t *buf = NULL;
        size_t len = 0;
        if (s_encode (&rec_proto, &rec, &buf, &len) == 0) {
            char err [256];
            shed_nstate_put (self->state, REC_KIND_NAME, r->name, buf, len, err, sizeof err);
            free (buf);
        }
        log_debug (S_COMP, "name reserved|name=%s holder=%s request_id=%s", r->name, r->holder,
                   r->rid);
    }
    for (size_t i = 0; i < rv.n; i++)
        wire_msg_free (&rec_proto, &rv.msgs [i]);
    free (rv.msgs);
    free (rs);
    free (ns);
    s_sheds_free (&sheds);
}

static void
s_serve_release (shed_sched_t *self, const nsched_release_t *req)
{
    s_resv_t *r = (s_resv_t *) zhashx_lookup (self->resv, req->name);
    if (r && streq (r->rid, req->request_id))
        s_resv_drop (self, req->name);
}

/* ---- claims and operations on our sheds ------------------------------------ */

static void
s_result_shed (nsched_result_t *res, const rec_msg_t *rec, uint8_t **blob)
{
    size_t len = 0;
    if (s_encode (&rec_proto, rec, blob, &len) == 0) {
        res->shed.data = *blob;
        res->shed.len = len;
    }
}

/* Where the node listens for a shed's agent: below the shed's directory,
 * where the driver puts it (container: chan/agent.sock, bound into the
 * shed; the others: agent.sock). */
static void
s_agent_socket (shed_sched_t *self, const char *name, char *out, size_t size)
{
    s_fmt (out, size, "%s/sheds/%s/%s", self->cfg->data_dir, name,
           self->driver ? driver_agent_socket_name (self->driver) : "agent.sock");
}

static void
s_agent_add (shed_sched_t *self, const char *name)
{
    if (!self->hooks.agent_add)
        return;
    char base [DRIVER_PATH_MAX], sock [DRIVER_PATH_MAX + 16], err [256];
    s_agent_socket (self, name, base, sizeof base);
    /* Where the driver's shed connects to: the socket itself for netns,
     * <uds_path>_1026 for a Firecracker vsock. */
    s_fmt (sock, sizeof sock, "%s%s", base, self->driver ? driver_agent_suffix (self->driver) : "");
    if (self->hooks.agent_add (self->hooks.agent_arg, name, sock, err, sizeof err))
        log_warn (S_COMP, "no agent channel|shed=%s err=\"%s\"", name, err);
}

static void
s_agent_remove (shed_sched_t *self, const char *name)
{
    if (self->hooks.agent_remove)
        self->hooks.agent_remove (self->hooks.agent_arg, name);
}

/* The limits this node puts on every shed (driver.pids_max, io_*_bps,
 * net_rate): the claim carries only what placement counts (cpus, memory,
 * disk), the rest is the node's policy. The text was checked when the
 * config was loaded, so a parse failure here cannot happen; it would mean
 * "no limit". */
static void
s_spec_node_limits (shed_sched_t *self, driver_spec_t *spec)
{
    const shed_config_t *cfg = self->cfg;
    spec->pids_max = cfg->driver.pids_max;
    uint64_t v = 0;
    if (cfg->driver.io_read_bps [0]
        && placement_size_parse (cfg->driver.io_read_bps, S_MIB, &v) == 0)
        spec->io_read_bps = v;
    v = 0;
    if (cfg->driver.io_write_bps [0]
        && placement_size_parse (cfg->driver.io_write_bps, S_MIB, &v) == 0)
        spec->io_write_bps = v;
    v = 0;
    if (cfg->driver.net_rate [0] && tc_rate_parse (cfg->driver.net_rate, &v) == 0)
        spec->net_kbit = v;
}

/* Returns true when the claim must wait for our address block (only with
 * may_defer): nothing was changed, the caller answers it later. */
static bool
s_serve_claim (shed_sched_t *self, const nsched_claim_t *c, nsched_result_t *res,
               uint8_t **blob, bool may_defer)
{
    rec_msg_t own;
    if (s_own_get (self, c->name, &own)) {
        if (streq (own.u.rec_shed.request_id, c->request_id)) {
            /* The same create again (a retried claim): what we have. */
            res->ok = true;
            res->admitted = true;
            s_result_shed (res, &own, blob);
        }
        else
            snprintf (res->why, sizeof res->why, "a shed named %s already runs here", c->name);
        wire_msg_free (&rec_proto, &own);
        return false;
    }
    if (!self->driver) {
        snprintf (res->why, sizeof res->why, "no driver: %s", self->driver_error);
        return false;
    }
    place_resources_t need = { { c->cpus_milli, c->memory_mb * S_MIB, c->disk_mb * S_MIB,
                                 c->gpus } };
    char why [256] = "";
    sched_admit_rc_t rc = sched_admit_claim (self->admit, c->request_id, c->name, &need, why,
                                             sizeof why);
    if (rc < 0) {
        snprintf (res->why, sizeof res->why, "%s",
                  why [0] ? why : sched_admit_strerror (rc));
        return false;
    }
    res->admitted = true;
    int64_t t0 = zclock_mono ();
    rec_msg_t rec = { .hdr.type = REC_SHED };
    rec_shed_t *r = &rec.u.rec_shed;
    snprintf (r->name, sizeof r->name, "%s", c->name);
    snprintf (r->node, sizeof r->node, "%s", self->name);
    snprintf (r->state, sizeof r->state, "starting");
    r->cpus_milli = c->cpus_milli;
    r->memory_mb = c->memory_mb;
    r->disk_mb = c->disk_mb;
    r->gpus = c->gpus;
    snprintf (r->image, sizeof r->image, "%s", c->image);
    snprintf (r->request_id, sizeof r->request_id, "%s", c->request_id);
    r->created_ms = s_wall_ms ();
    r->tags.n = c->tags.n;
    r->tags.items = c->tags.items;  /* borrowed for encoding */
    snprintf (r->driver, sizeof r->driver, "%s", driver_name (self->driver));

    driver_spec_t spec;
    memset (&spec, 0, sizeof spec);
    snprintf (spec.name, sizeof spec.name, "%s", c->name);
    spec.cpus_milli = (uint32_t) c->cpus_milli;
    spec.memory_mb = c->memory_mb;
    spec.disk_mb = c->disk_mb;
    s_spec_node_limits (self, &spec);
    snprintf (spec.image, sizeof spec.image, "%s", c->image);
    if (self->hooks.net_attach) {
        char ip [46] = "", mac [18] = "", gw [46] = "", err [256] = "";
        int prefix = 0;
        unsigned mtu = 0;
        errno = 0;
        int arc = self->hooks.net_attach (self->hooks.net_arg, c->name, ip, mac, gw, &prefix,
                                          &mtu, err, sizeof err);
        if (arc != 0) {
            /* The overlay's block claim settles shortly after start. */
            bool wait = errno == EAGAIN && may_defer;
            sched_admit_release (self->admit, c->name);
            res->admitted = false;
            snprintf (res->why, sizeof res->why, "no overlay address: %s", err);
            return wait;
        }
        snprintf (spec.ip, sizeof spec.ip, "%s/%d", ip, prefix);
        snprintf (spec.mac, sizeof spec.mac, "%s", mac);
        snprintf (spec.gateway, sizeof spec.gateway, "%s", gw);
        spec.mtu = mtu;             /* the overlay's inner MTU, for both veth ends */
        snprintf (r->ip, sizeof r->ip, "%s", ip);
        snprintf (r->mac, sizeof r->mac, "%s", mac);
    }
    const char *bridge = self->hooks.net_bridge ? self->hooks.net_bridge (self->hooks.net_arg)
                                                : self->cfg->driver.bridge;
    snprintf (spec.bridge, sizeof spec.bridge, "%s", bridge ? bridge : "");
    s_fmt (spec.agent_path, sizeof spec.agent_path, "%s", self->cfg->driver.agent_path);
    s_agent_socket (self, c->name, spec.agent_socket, sizeof spec.agent_socket);
    /* Others see it starting; the name is then held by a shed record. */
    s_own_put (self, &rec);

    driver_error_t derr = { 0 };
    int drc = driver_create (self->driver, &spec, &derr);
    if (drc == DRIVER_ERR_EXISTS) {
        /* Left over from a create interrupted by a crash: start afresh. */
        driver_remove (self->driver, c->name, NULL);
        drc = driver_create (self->driver, &spec, &derr);
    }
    res->create_ms = (uint64_t) (zclock_mono () - t0);
    if (drc == 0) {
        int64_t t1 = zclock_mono ();
        s_agent_add (self, c->name);
        drc = driver_start (self->driver, c->name, &derr);
        res->start_ms = (uint64_t) (zclock_mono () - t1);
        if (drc != 0) {
            s_agent_remove (self, c->name);
            driver_remove (self->driver, c->name, NULL);
        }
    }
    if (drc != 0) {
        /* Nothing half-made stays behind: resources, address and record go. */
        if (self->hooks.net_detach)
            self->hooks.net_detach (self->hooks.net_arg, c->name);
        sched_admit_release (self->admit, c->name);
        char err [256];
        shed_nstate_delete (self->state, REC_KIND_SHED, c->name, err, sizeof err);
        snprintf (res->why, sizeof res->why, "%s", derr.message);
        log_warn (S_COMP, "create failed|shed=%s err=\"%s\"", c->name, derr.message);
        s_publish_node (self);
        return false;
    }
    snprintf (r->state, sizeof r->state, "running");
    s_own_put (self, &rec);
    s_publish_node (self);
    res->ok = true;
    s_result_shed (res, &rec, blob);
    log_info (S_COMP, "shed running|shed=%s request_id=%s create_ms=%" PRIu64 " start_ms=%" PRIu64,
              c->name, c->request_id, res->create_ms, res->start_ms);
    return false;
}

/* ---- drain, kept in <data_dir>/drain --------------------------------------- */

/* A drained node must stay drained across a restart (an operator drains to
 * empty a node for maintenance; the restart is often part of it). The file
 * always exists once drain or undrain was asked: "1" or "0", written
 * atomically, so a crash leaves the old answer or the new one. */
static void
s_drain_path (const shed_sched_t *self, char *path, size_t size)
{
    s_fmt (path, size, "%s/drain", self->cfg->data_dir);
}

static int
s_drain_save (const shed_sched_t *self, bool draining, char *why, size_t whylen)
{
    char path [PATH_MAX];
    s_drain_path (self, path, sizeof path);
    if (shed_write_file_atomic (path, draining ? "1\n" : "0\n", 2, 0600) != 0) {
        s_fmt (why, whylen, "cannot record the drain in %s: %s", path, strerror (errno));
        return -1;
    }
    return 0;
}

static bool
s_drain_load (const shed_sched_t *self)
{
    char path [PATH_MAX];
    s_drain_path (self, path, sizeof path);
    size_t len = 0;
    char *text = shed_read_file (path, 64, &len);
    if (!text) {
        if (errno != ENOENT)
            log_warn (S_COMP, "cannot read the drain state, not draining|path=%s err=\"%s\"",
                      path, strerror (errno));
        return false;
    }
    bool draining = text [0] == '1';
    free (text);
    return draining;
}

static void
s_serve_op (shed_sched_t *self, const nsched_op_t *op, nsched_result_t *res, uint8_t **blob)
{
    if (op->op == NSCHED_OP_DRAIN || op->op == NSCHED_OP_UNDRAIN) {
        bool draining = op->op == NSCHED_OP_DRAIN;
        /* Recorded first: a drain the node would forget at its next start
         * is refused rather than half done. */
        if (s_drain_save (self, draining, res->why, sizeof res->why) != 0) {
            log_error (S_COMP, "%s", res->why);
            return;
        }
        self->draining = draining;
        sched_admit_set_draining (self->admit, self->draining);
        s_publish_node (self);
        log_info (S_COMP, "%s", self->draining ? "draining: no new sheds" : "undrained");
        res->ok = true;
        return;
    }
    if (op->op == NSCHED_OP_FORGET) {
        char key [2 * REC_NAME_MAX + 2];
        snprintf (key, sizeof key, "%s/%s", op->node, op->name);
        zhashx_delete (self->lost, key);
        res->ok = true;
        return;
    }
    rec_msg_t rec;
    if (!s_own_get (self, op->name, &rec)) {
        snprintf (res->why, sizeof res->why, "no shed named %s on %s", op->name, self->name);
        return;
    }
    rec_shed_t *r = &rec.u.rec_shed;
    driver_error_t derr = { 0 };
    int drc = 0;
    if (!self->driver) {
        snprintf (res->why, sizeof res->why, "no driver: %s", self->driver_error);
        wire_msg_free (&rec_proto, &rec);
        return;
    }
    if (op->op == NSCHED_OP_START) {
        s_agent_add (self, r->name);
        drc = driver_start (self->driver, r->name, &derr);
        snprintf (r->state, sizeof r->state, "%s", drc ? "error" : "running");
    }
    else
    if (op->op == NSCHED_OP_STOP) {
        drc = driver_stop (self->driver, r->name, &derr);
        s_agent_remove (self, r->name);
        snprintf (r->state, sizeof r->state, "%s", drc ? "error" : "stopped");
    }
    else {
        drc = driver_remove (self->driver, r->name, &derr);
        if (drc == DRIVER_ERR_NOT_FOUND)
            drc = 0;                /* nothing there: the record goes anyway */
        if (drc == 0) {
            s_agent_remove (self, r->name);
            if (self->hooks.net_detach)
                self->hooks.net_detach (self->hooks.net_arg, r->name);
            sched_admit_release (self->admit, r->name);
            char err [256];
            shed_nstate_delete (self->state, REC_KIND_SHED, r->name, err, sizeof err);
            s_publish_node (self);
            res->ok = true;
            snprintf (r->state, sizeof r->state, "deleted");
            s_result_shed (res, &rec, blob);
            wire_msg_free (&rec_proto, &rec);
            return;
        }
    }
    snprintf (r->error, sizeof r->error, "%s", drc ? derr.message : "");
    s_own_put (self, &rec);
    if (drc)
        snprintf (res->why, sizeof res->why, "%s", derr.message);
    else
        res->ok = true;
    s_result_shed (res, &rec, blob);
    wire_msg_free (&rec_proto, &rec);
}

/* Serve one request, ours or a peer's. rep_out: encoded NSCHED message.
 * Returns 0, -1 (unsupported), or 1: a claim deferred (only with may_defer;
 * nothing in rep_out). */
static int
s_serve (shed_sched_t *self, const char *origin, const nsched_msg_t *req, uint8_t **rep_out,
         size_t *rep_len, bool may_defer)
{
    nsched_msg_t rep;
    memset (&rep, 0, sizeof rep);
    uint8_t *blob = NULL;
    switch (req->hdr.type) {
    case NSCHED_RESERVE:
        rep.hdr.type = NSCHED_RESERVE_REP;
        s_serve_reserve (self, origin, &req->u.nsched_reserve, &rep.u.nsched_reserve_rep);
        break;
    case NSCHED_RELEASE:
        rep.hdr.type = NSCHED_RESULT;
        s_serve_release (self, &req->u.nsched_release);
        rep.u.nsched_result.ok = true;
        break;
    case NSCHED_CLAIM:
        rep.hdr.type = NSCHED_RESULT;
        if (s_serve_claim (self, &req->u.nsched_claim, &rep.u.nsched_result, &blob, may_defer)) {
            free (blob);
            return 1;
        }
        break;
    case NSCHED_OP:
        rep.hdr.type = NSCHED_RESULT;
        s_serve_op (self, &req->u.nsched_op, &rep.u.nsched_result, &blob);
        break;
    default:
        return -1;
    }
    int rc = s_encode (&nsched_proto, &rep, rep_out, rep_len);
    free (blob);
    return rc;
}

/* ---- create jobs ------------------------------------------------------------ */

static void s_job_claim_next (shed_sched_t *self, s_job_t *job);
static void s_on_result (shed_sched_t *self, s_pending_t *p, int status, const char *error,
                         const uint8_t *body, size_t len);

static void
s_job_step (s_job_t *job, const char *fmt, ...) __attribute__ ((format (printf, 2, 3)));

static void
s_job_step (s_job_t *job, const char *fmt, ...)
{
    if (job->nsteps >= S_STEPS_MAX)
        return;
    api_step_t *st = &job->steps [job->nsteps++];
    va_list ap;
    va_start (ap, fmt);
    vsnprintf (st->text, sizeof st->text, fmt, ap);
    va_end (ap);
    st->ms = (uint64_t) (zclock_mono () - job->t0);
}

static void
s_job_destroy (shed_sched_t *self, s_job_t *job)
{
    zhashx_delete (self->jobs, job->rid);   /* frees job via destructor */
}

static void
s_job_free_fn (void **item)
{
    s_job_t *job = (s_job_t *) *item;
    if (job) {
        /* Calls still held get an answer: never leave a client hanging. */
        shed_api_call_t *call;
        while ((call = (shed_api_call_t *) zlistx_detach (job->calls, NULL)))
            shed_api_reply_error (&call, API_ERR_UNAVAILABLE, "node shutting down");
        zlistx_destroy (&job->calls);
        free (job);
        *item = NULL;
    }
}

/* ---- deferred claims ---------------------------------------------------------- */

static void
s_deferred_free (s_deferred_t **d_p)
{
    if (*d_p) {
        free ((*d_p)->req);
        free ((*d_p)->local);
        free (*d_p);
        *d_p = NULL;
    }
}

static int s_on_defer (zloop_t *loop, int timer_id, void *arg);

/* Hold a claim until our address block settles. Takes `req` and `local`. */
static void
s_defer (shed_sched_t *self, const char *origin, uint8_t *req, size_t len, uint64_t rpc_id,
         s_pending_t *local)
{
    s_deferred_t *d = (s_deferred_t *) zmalloc (sizeof (s_deferred_t));
    assert (d);
    d->req = req;
    d->len = len;
    snprintf (d->origin, sizeof d->origin, "%s", origin);
    d->rpc_id = rpc_id;
    d->local = local;
    uint32_t settle = self->cfg->network.settle_ms ? self->cfg->network.settle_ms
                                                   : IPAM_SETTLE_MS_DEFAULT;
    d->deadline = zclock_mono () + (int64_t) settle + S_DEFER_MARGIN_MS;
    zlistx_add_end (self->deferred, d);
    self->claims_deferred++;
    if (self->defer_timer < 0 && self->loop)
        self->defer_timer = zloop_timer (self->loop, S_DEFER_POLL_MS, 0, s_on_defer, self);
    log_debug (S_COMP, "claim waits for the address block|origin=%s", origin);
}

/* Answer a claim that is no longer deferred: rc and rep from s_serve. */
static void s_on_result (shed_sched_t *self, s_pending_t *p, int status, const char *error,
                         const uint8_t *body, size_t len);
static void
s_deferred_answer (shed_sched_t *self, s_deferred_t *d, int rc, const uint8_t *rep, size_t len)
{
    if (d->local)
        s_on_result (self, d->local, rc == 0 ? RPC_OK : RPC_ERR_REFUSED, "cannot serve", rep, len);
    else
    if (rc == 0)
        rpc_reply (self->rpc, d->rpc_id, RPC_OK, NULL, rep, len);
    else
        rpc_reply (self->rpc, d->rpc_id, 1, "malformed request", NULL, 0);
}

static int
s_on_defer (zloop_t *loop, int timer_id, void *arg)
{
    shed_sched_t *self = arg;
    /* Take the list: answering may run a job that defers another claim. */
    zlistx_t *todo = self->deferred;
    self->deferred = zlistx_new ();
    assert (self->deferred);
    int64_t now = zclock_mono ();
    s_deferred_t *d;
    while ((d = (s_deferred_t *) zlistx_detach (todo, NULL))) {
        nsched_msg_t req;
        uint8_t *rep = NULL;
        size_t len = 0;
        int rc = -1;
        if (wire_decode (&nsched_proto, d->req, d->len, &req, NULL) == WIRE_OK) {
            rc = s_serve (self, d->origin, &req, &rep, &len, now < d->deadline);
            wire_msg_free (&nsched_proto, &req);
        }
        if (rc == 1)
            zlistx_add_end (self->deferred, d);
        else {
            s_deferred_answer (self, d, rc, rep, len);
            s_deferred_free (&d);
        }
        free (rep);
    }
    zlistx_destroy (&todo);
    if (zlistx_size (self->deferred) == 0) {
        zloop_timer_end (loop, timer_id);
        self->defer_timer = -1;
    }
    return 0;
}

/* Send `msg` to `peer`, or serve it ourselves; the result arrives at
 * s_on_result either way. */
static void
s_send (shed_sched_t *self, const char *peer, const char *method, const nsched_msg_t *msg,
        int timeout_ms, s_pending_t *p)
{
    snprintf (p->peer, sizeof p->peer, "%s", peer);
    p->t0 = zclock_mono ();
    if (streq (peer, self->name)) {
        uint8_t *rep = NULL;
        size_t len = 0;
        int rc = s_serve (self, self->name, msg, &rep, &len, true);
        if (rc == 1) {
            uint8_t *buf = NULL;
            size_t blen = 0;
            if (s_encode (&nsched_proto, msg, &buf, &blen) == 0) {
                s_defer (self, self->name, buf, blen, 0, p);
                return;
            }
            rc = -1;
        }
        s_on_result (self, p, rc == 0 ? RPC_OK : RPC_ERR_REFUSED, "cannot serve", rep, len);
        free (rep);
        free (p);
        return;
    }
    uint8_t *buf = NULL;
    size_t len = 0;
    if (s_encode (&nsched_proto, msg, &buf, &len)) {
        s_on_result (self, p, RPC_ERR_REFUSED, "cannot encode", NULL, 0);
        free (p);
        return;
    }
    uint64_t id = rpc_request (self->rpc, peer, method, buf, len, timeout_ms);
    free (buf);
    char key [24];
    snprintf (key, sizeof key, "%" PRIu64, id);
    zhashx_update (self->pending, key, p);
}

static void
s_job_send (shed_sched_t *self, s_job_t *job, const char *peer, const char *method,
            const nsched_msg_t *msg, int timeout_ms)
{
    s_pending_t *p = (s_pending_t *) zmalloc (sizeof (s_pending_t));
    assert (p);
    p->type = P_JOB;
    snprintf (p->rid, sizeof p->rid, "%s", job->rid);
    p->seq = ++job->seq;
    s_send (self, peer, method, msg, timeout_ms, p);
}

static void
s_fire (shed_sched_t *self, const char *peer, const char *method, const nsched_msg_t *msg)
{
    s_pending_t *p = (s_pending_t *) zmalloc (sizeof (s_pending_t));
    assert (p);
    p->type = P_FIRE;
    s_send (self, peer, method, msg, S_RESERVE_TIMEOUT, p);
}

static void
s_job_release_name (shed_sched_t *self, s_job_t *job)
{
    if (!job->coordinator [0])
        return;
    nsched_msg_t msg = { .hdr.type = NSCHED_RELEASE };
    snprintf (msg.u.nsched_release.name, sizeof msg.u.nsched_release.name, "%s", job->name);
    snprintf (msg.u.nsched_release.request_id, sizeof msg.u.nsched_release.request_id, "%s",
              job->rid);
    s_fire (self, job->coordinator, "release", &msg);
}

static void
s_job_fail (shed_sched_t *self, s_job_t *job, api_err_code_t code, const char *fmt, ...)
{
    char why [API_TEXT_MAX + 1];
    va_list ap;
    va_start (ap, fmt);
    vsnprintf (why, sizeof why, fmt, ap);
    va_end (ap);
    log_info (S_COMP, "create failed|shed=%s request_id=%s why=\"%s\"", job->name, job->rid, why);
    self->creates_failed++;
    shed_api_call_t *call;
    while ((call = (shed_api_call_t *) zlistx_detach (job->calls, NULL)))
        shed_api_reply_error (&call, code, "%s", why);
    s_job_destroy (self, job);
}

static void
s_job_succeed (shed_sched_t *self, s_job_t *job, const rec_msg_t *rec, const char *origin,
               const char *message)
{
    self->creates_ok++;
    s_shed_t sh;
    memset (&sh, 0, sizeof sh);
    snprintf (sh.origin, sizeof sh.origin, "%s", origin);
    snprintf (sh.status, sizeof sh.status, "alive");
    sh.m = *rec;
    api_shed_t item;
    s_api_shed_fill (&item, &sh, false, NULL);
    api_msg_t rep = { .hdr.type = API_SHED_REP };
    rep.u.api_shed_rep.shed.n = 1;
    rep.u.api_shed_rep.shed.items = &item;
    rep.u.api_shed_rep.steps.n = job->nsteps;
    rep.u.api_shed_rep.steps.items = job->steps;
    snprintf (rep.u.api_shed_rep.message, sizeof rep.u.api_shed_rep.message, "%s",
              message ? message : "");
    shed_api_call_t *call;
    while ((call = (shed_api_call_t *) zlistx_detach (job->calls, NULL)))
        shed_api_reply (&call, &rep);
    s_job_destroy (self, job);
}

/* Time left before the job's deadline, at most `cap` ms (0: none left). */
static int
s_job_left (const s_job_t *job, int cap)
{
    int64_t left = job->deadline - zclock_mono ();
    if (left <= 0)
        return 0;
    return left < cap ? (int) left : cap;
}

static bool
s_job_skipped (const s_job_t *job, const char *peer)
{
    for (size_t i = 0; i < job->nskip; i++)
        if (streq (job->skip [i], peer))
            return true;
    return false;
}

/* Reserve at the name's coordinator among the members membership does not
 * suspect and that have not failed this create already (names.h,
 * names_coordinator_skip): a slow or stopped node costs a create at most
 * one reserve timeout, not the create. We are never skipped. */
static void
s_job_reserve (shed_sched_t *self, s_job_t *job)
{
    const char *names [1024];
    bool skip [1024];
    size_t n = s_alive_names (self, names, 1024);
    for (size_t i = 0; i < n; i++) {
        s_member_t *m = (s_member_t *) zhashx_lookup (self->members, names [i]);
        skip [i] = !streq (names [i], self->name)
                   && ((m && m->suspect) || s_job_skipped (job, names [i]));
    }
    int c = names_coordinator_skip (job->name, names, skip, n);
    if (c < 0)
        c = 0;                      /* ourselves: never skipped */
    if (job->coordinator [0] && !streq (job->coordinator, names [c]))
        s_job_step (job, "name coordinator %s did not answer (%s): asking %s",
                    job->coordinator, s_peer_status (self, job->coordinator), names [c]);
    snprintf (job->coordinator, sizeof job->coordinator, "%s", names [c]);
    job->phase = J_RESERVE;
    nsched_msg_t msg = { .hdr.type = NSCHED_RESERVE };
    snprintf (msg.u.nsched_reserve.name, sizeof msg.u.nsched_reserve.name, "%s", job->name);
    snprintf (msg.u.nsched_reserve.request_id, sizeof msg.u.nsched_reserve.request_id, "%s",
              job->rid);
    int timeout = s_job_left (job, S_RESERVE_TIMEOUT);
    s_job_send (self, job, job->coordinator, "reserve", &msg, timeout > 0 ? timeout : 1);
}

/* The placement view from `node` records: numbers as each node published
 * them, ours from the admitter (authoritative, fresher). */
typedef struct {
    rec_msg_t m;
    char origin [REC_NAME_MAX + 1];
    char status [16];
    place_tag_t tags [REC_TAGS_MAX];
} s_nview_t;

typedef struct {
    s_nview_t *items;
    size_t n, cap;
} s_nviews_t;

static void
s_collect_node (const shed_record_t *rec, void *arg)
{
    s_nviews_t *v = arg;
    if (strcmp (rec->origin, rec->key))
        return;
    if (v->n == v->cap) {
        size_t cap = v->cap ? v->cap * 2 : 16;
        s_nview_t *items = realloc (v->items, cap * sizeof *items);
        if (!items)
            return;
        v->items = items;
        v->cap = cap;
    }
    s_nview_t *nv = &v->items [v->n];
    memset (nv, 0, sizeof *nv);
    if (wire_decode (&rec_proto, rec->value, rec->len, &nv->m, NULL) != WIRE_OK
    ||  nv->m.hdr.type != REC_NODE) {
        wire_msg_free (&rec_proto, &nv->m);
        return;
    }
    snprintf (nv->origin, sizeof nv->origin, "%s", rec->origin);
    snprintf (nv->status, sizeof nv->status, "%s", rec->status);
    v->n++;
}

static void
s_job_place (shed_sched_t *self, s_job_t *job)
{
    s_nviews_t v = { 0 };
    shed_nstate_list (self->state, REC_KIND_NODE, s_collect_node, &v);
    /* Which node holds which image (REC_IMAGE, docs/images.md). */
    shed_image_view_t *images = shed_image_view_new (self->state);
    place_node_t *nodes = calloc (v.n + 1, sizeof *nodes);
    assert (nodes);
    for (size_t i = 0; i < v.n; i++) {
        s_nview_t *nv = &v.items [i];
        const rec_node_t *r = &nv->m.u.rec_node;
        place_node_t *pn = &nodes [i];
        pn->name = nv->origin;
        s_member_t *mem = (s_member_t *) zhashx_lookup (self->members, nv->origin);
        pn->alive = streq (nv->status, "alive") && (streq (nv->origin, self->name)
                                                    || (mem && mem->alive));
        pn->draining = r->draining;
        pn->capacity.v [PLACE_CPU] = r->cpu_milli ? r->cpu_milli : r->cpus * 1000;
        pn->capacity.v [PLACE_MEMORY] = r->memory_mb * S_MIB;
        pn->capacity.v [PLACE_DISK] = r->disk_mb * S_MIB;
        pn->capacity.v [PLACE_GPU] = r->gpus;
        pn->reserved.v [PLACE_CPU] = r->reserved_cpu_milli;
        pn->reserved.v [PLACE_MEMORY] = r->reserved_memory_mb * S_MIB;
        pn->reserved.v [PLACE_DISK] = r->reserved_disk_mb * S_MIB;
        pn->overcommit [PLACE_CPU] = r->oc_cpu;
        pn->overcommit [PLACE_MEMORY] = r->oc_memory;
        pn->overcommit [PLACE_DISK] = r->oc_disk;
        pn->allocated.v [PLACE_CPU] = r->alloc_cpu_milli;
        pn->allocated.v [PLACE_MEMORY] = r->alloc_memory_mb * S_MIB;
        pn->allocated.v [PLACE_DISK] = r->alloc_disk_mb * S_MIB;
        pn->allocated.v [PLACE_GPU] = r->alloc_gpus;
        if (streq (nv->origin, self->name)) {
            sched_admit_view (self->admit, pn);
            pn->draining = self->draining;
        }
        size_t nt = r->tags.n < REC_TAGS_MAX ? r->tags.n : REC_TAGS_MAX;
        for (size_t t = 0; t < nt; t++)
            nv->tags [t] = (place_tag_t) { r->tags.items [t].key, r->tags.items [t].value };
        pn->tags = nv->tags;
        pn->ntags = nt;
        pn->nimages = shed_image_view_node (images, nv->origin, &pn->images);
    }
    place_request_t req;
    memset (&req, 0, sizeof req);
    req.need.v [PLACE_CPU] = job->cpus_milli;
    req.need.v [PLACE_MEMORY] = job->memory_mb * S_MIB;
    req.need.v [PLACE_DISK] = job->disk_mb * S_MIB;
    req.need.v [PLACE_GPU] = job->gpus;
    req.strategy = job->strategy;
    req.pinned = job->pin [0] ? job->pin : NULL;
    memcpy (req.constraints, job->constraints, sizeof req.constraints);
    req.nconstraints = job->nconstraints;
    req.image = job->image [0] ? job->image : NULL;
    size_t n = placement_place (self->placement, nodes, v.n, &req, self->result);
    job->ncand = 0;
    job->next = 0;
    for (size_t i = 0; i < n && i < PLACE_CANDIDATES_MAX; i++)
        snprintf (job->cand [job->ncand++], sizeof job->cand [0], "%s",
                  place_result_name (self->result, i));
    char *explain = n ? NULL : place_result_explain (self->result);
    for (size_t i = 0; i < v.n; i++)
        wire_msg_free (&rec_proto, &v.items [i].m);
    free (v.items);
    free (nodes);
    shed_image_view_destroy (&images);
    if (n == 0) {
        s_job_release_name (self, job);
        if (job->pin [0] && (!explain || !*explain))
            s_job_fail (self, job, API_ERR_INVALID, "no node named %s in the cluster", job->pin);
        else
            s_job_fail (self, job, API_ERR_INVALID, "no node fits shed %s: %s", job->name,
                        explain && *explain ? explain : "no nodes known");
        free (explain);
        return;
    }
    free (explain);
    s_job_step (job, "placing: %zu candidate%s (%s first)", job->ncand,
                job->ncand == 1 ? "" : "s", job->cand [0]);
    s_job_claim_next (self, job);
}

static void
s_job_claim_next (shed_sched_t *self, s_job_t *job)
{
    size_t max = self->cfg->scheduler.max_attempts ? self->cfg->scheduler.max_attempts : 3;
    if (job->next >= job->ncand || job->next >= max) {
        s_job_release_name (self, job);
        s_job_fail (self, job, API_ERR_INVALID, "no node accepted shed %s: %s", job->name,
                    job->reasons);
        return;
    }
    snprintf (job->target, sizeof job->target, "%s", job->cand [job->next++]);
    job->phase = J_CLAIM;
    nsched_msg_t msg = { .hdr.type = NSCHED_CLAIM };
    nsched_claim_t *c = &msg.u.nsched_claim;
    snprintf (c->name, sizeof c->name, "%s", job->name);
    snprintf (c->request_id, sizeof c->request_id, "%s", job->rid);
    c->cpus_milli = job->cpus_milli;
    c->memory_mb = job->memory_mb;
    c->disk_mb = job->disk_mb;
    c->gpus = job->gpus;
    snprintf (c->image, sizeof c->image, "%s", job->image);
    c->tags.n = job->ntags;
    c->tags.items = job->tags;
    int timeout = (int) self->cfg->scheduler.claim_timeout_ms;
    if (timeout <= 0)
        timeout = 30000;
    /* Bounded by the API deadline too; a claim cut short is "outcome
     * unknown" (s_on_result), never retried elsewhere. */
    timeout = s_job_left (job, timeout);
    s_job_send (self, job, job->target, "claim", &msg, timeout > 0 ? timeout : 1);
}

static void
s_job_on_reserve (shed_sched_t *self, s_job_t *job, const nsched_reserve_rep_t *rep)
{
    switch ((names_verdict_t) rep->verdict) {
    case NAMES_GRANT:
        s_job_step (job, "name %s reserved (coordinator %s)", job->name, job->coordinator);
        s_job_place (self, job);
        return;
    case NAMES_DONE: {
        /* A retry of a create that already happened: answer with it. */
        s_sheds_t sheds;
        s_sheds_load (self, &sheds, false);
        for (size_t i = 0; i < sheds.n; i++)
            if (streq (sheds.items [i].m.u.rec_shed.request_id, job->rid)) {
                s_job_step (job, "already created on %s (same request id)",
                            sheds.items [i].origin);
                s_job_succeed (self, job, &sheds.items [i].m, sheds.items [i].origin,
                               "already created (same request id): nothing done");
                s_sheds_free (&sheds);
                return;
            }
        s_sheds_free (&sheds);
        s_job_fail (self, job, API_ERR_INVALID,
                    "shed %s was already created by this request on %s", job->name, rep->node);
        return;
    }
    case NAMES_BUSY:
        s_job_fail (self, job, API_ERR_INVALID, "%s", rep->why);
        return;
    default:
        s_job_fail (self, job, API_ERR_INVALID, "%s", rep->why);
        return;
    }
}

static void
s_job_on_claim (shed_sched_t *self, s_job_t *job, const nsched_result_t *res)
{
    if (res->ok) {
        rec_msg_t rec;
        if (wire_decode (&rec_proto, res->shed.data, res->shed.len, &rec, NULL) != WIRE_OK
        ||  rec.hdr.type != REC_SHED) {
            s_job_fail (self, job, API_ERR_INTERNAL, "%s answered with a bad shed record",
                        job->target);
            return;
        }
        s_job_step (job, "claimed on %s", job->target);
        s_job_step (job, "created (%" PRIu64 " ms), starting", res->create_ms);
        s_job_step (job, "%s (started in %" PRIu64 " ms)", rec.u.rec_shed.state, res->start_ms);
        s_job_succeed (self, job, &rec, job->target, NULL);
        wire_msg_free (&rec_proto, &rec);
        return;
    }
    size_t used = strlen (job->reasons);
    snprintf (job->reasons + used, sizeof job->reasons - used, "%s%s: %s", used ? "; " : "",
              job->target, res->why);
    if (res->admitted) {
        /* Admitted but the driver failed: say so; the next node may work. */
        s_job_step (job, "%s failed: %s", job->target, res->why);
    }
    else
        s_job_step (job, "%s rejected: %s", job->target, res->why);
    s_job_claim_next (self, job);
}

static void
s_on_result (shed_sched_t *self, s_pending_t *p, int status, const char *error,
             const uint8_t *body, size_t len)
{
    nsched_msg_t rep;
    memset (&rep, 0, sizeof rep);
    bool decoded = status == RPC_OK && body
                   && wire_decode (&nsched_proto, body, len, &rep, NULL) == WIRE_OK;
    if (p->type == P_JOB) {
        s_job_t *job = (s_job_t *) zhashx_lookup (self->jobs, p->rid);
        if (!job || p->seq != job->seq)
            ;                       /* answered already, or superseded (failover) */
        else
        if (!decoded) {
            if (job->phase == J_RESERVE) {
                /* Nothing was reserved that we know of: the next
                 * coordinator in rendezvous order decides (names.h). */
                if (job->nskip < S_SKIP_MAX && !streq (p->peer, self->name))
                    snprintf (job->skip [job->nskip++], sizeof job->skip [0], "%s", p->peer);
                if (s_job_left (job, INT32_MAX) > 0 && job->nskip < S_SKIP_MAX
                &&  !streq (p->peer, self->name))
                    s_job_reserve (self, job);
                else {
                    s_job_release_name (self, job);
                    s_job_fail (self, job, API_ERR_UNAVAILABLE,
                                "name coordinator %s for %s did not answer: %s (membership: %s); "
                                "nothing was created", p->peer, job->name,
                                error && *error ? error : "bad reply",
                                s_peer_status (self, p->peer));
                }
            }
            else {
                /* The target may have created it anyway: moving on could
                 * create it twice. Stop; a retry with the same request id
                 * finds what happened. */
                s_job_fail (self, job, API_ERR_UNAVAILABLE,
                            "claim on %s did not complete: %s (membership: %s): outcome unknown: "
                            "check with `shedctl show %s` or retry with --request-id %s",
                            p->peer, error && *error ? error : "bad reply",
                            s_peer_status (self, p->peer), job->name, job->rid);
            }
        }
        else
        if (job->phase == J_RESERVE && rep.hdr.type == NSCHED_RESERVE_REP)
            s_job_on_reserve (self, job, &rep.u.nsched_reserve_rep);
        else
        if (job->phase == J_CLAIM && rep.hdr.type == NSCHED_RESULT)
            s_job_on_claim (self, job, &rep.u.nsched_result);
        else
            s_job_fail (self, job, API_ERR_INTERNAL, "%s answered out of protocol", p->peer);
    }
    else
    if (p->type == P_CALL && !p->call)
        ;                           /* answered at its deadline already */
    else
    if (p->type == P_CALL) {
        shed_api_call_t *call = p->call;
        if (!decoded || rep.hdr.type != NSCHED_RESULT)
            shed_api_reply_error (&call, API_ERR_UNAVAILABLE,
                                  "%s %s: %s did not answer: %s (membership: %s): outcome unknown: "
                                  "check with `shedctl show %s` or retry with --request-id %s",
                                  p->op, p->name, p->peer, error && *error ? error : "bad reply",
                                  s_peer_status (self, p->peer), p->name, p->rid);
        else
        if (!rep.u.nsched_result.ok)
            shed_api_reply_error (&call, API_ERR_INVALID, "%s: %s", p->peer,
                                  rep.u.nsched_result.why);
        else
        if (!rep.u.nsched_result.shed.len) {
            api_msg_t ok = { .hdr.type = API_OK };
            snprintf (ok.u.api_ok.message, sizeof ok.u.api_ok.message, "done on %s", p->peer);
            shed_api_reply (&call, &ok);
        }
        else {
            rec_msg_t rec;
            if (wire_decode (&rec_proto, rep.u.nsched_result.shed.data,
                             rep.u.nsched_result.shed.len, &rec, NULL) != WIRE_OK
            ||  rec.hdr.type != REC_SHED)
                shed_api_reply_error (&call, API_ERR_INTERNAL, "%s: bad shed record", p->peer);
            else {
                s_shed_t sh;
                memset (&sh, 0, sizeof sh);
                snprintf (sh.origin, sizeof sh.origin, "%s", p->peer);
                snprintf (sh.status, sizeof sh.status, "alive");
                sh.m = rec;
                api_shed_t item;
                s_api_shed_fill (&item, &sh, false, NULL);
                api_msg_t out = { .hdr.type = API_SHED_REP };
                out.u.api_shed_rep.shed.n = 1;
                out.u.api_shed_rep.shed.items = &item;
                api_step_t step = { 0 };
                snprintf (step.text, sizeof step.text, "%s on %s", rec.u.rec_shed.state, p->peer);
                step.ms = (uint64_t) (zclock_mono () - p->t0);
                out.u.api_shed_rep.steps.n = 1;
                out.u.api_shed_rep.steps.items = &step;
                shed_api_reply (&call, &out);
                wire_msg_free (&rec_proto, &rec);
            }
        }
    }
    if (decoded)
        wire_msg_free (&nsched_proto, &rep);
}

/* ---- deadlines (docs/scheduling.md, "Deadlines") ------------------------------ */

static void
s_deadline_msg (shed_sched_t *self, s_job_t *job, char *why, size_t size)
{
    if (job->phase == J_RESERVE)
        s_fmt (why, size, "create %s: name coordinator %s did not answer within %" PRIu64
               " ms (membership: %s); nothing was created", job->name, job->coordinator,
               job->timeout_ms, s_peer_status (self, job->coordinator));
    else
        s_fmt (why, size, "create %s: claim on %s did not answer within %" PRIu64 " ms "
               "(membership: %s): outcome unknown: check with `shedctl show %s` or retry "
               "with --request-id %s", job->name, job->target, job->timeout_ms,
               s_peer_status (self, job->target), job->name, job->rid);
}

/* An API call waiting on a peer is answered by its deadline, whatever the
 * RPC layer does: the one place that makes "every call answers" true. */
static int
s_on_deadline (zloop_t *loop, int timer_id, void *arg)
{
    (void) loop;
    (void) timer_id;
    shed_sched_t *self = arg;
    int64_t now = zclock_mono ();
    zlistx_t *late = zlistx_new ();
    zlistx_set_destructor (late, s_free_fn);
    for (s_job_t *job = (s_job_t *) zhashx_first (self->jobs); job;
         job = (s_job_t *) zhashx_next (self->jobs))
        if (job->deadline && job->deadline <= now)
            zlistx_add_end (late, strdup (job->rid));
    for (const char *rid = (const char *) zlistx_first (late); rid;
         rid = (const char *) zlistx_next (late)) {
        s_job_t *job = (s_job_t *) zhashx_lookup (self->jobs, rid);
        if (!job)
            continue;
        char why [API_TEXT_MAX + 1];
        s_deadline_msg (self, job, why, sizeof why);
        if (job->phase == J_RESERVE)
            s_job_release_name (self, job);
        s_job_fail (self, job, API_ERR_UNAVAILABLE, "%s", why);
    }
    zlistx_destroy (&late);
    for (s_pending_t *p = (s_pending_t *) zhashx_first (self->pending); p;
         p = (s_pending_t *) zhashx_next (self->pending))
        if (p->type == P_CALL && p->call && p->deadline && p->deadline <= now) {
            shed_api_reply_error (&p->call, API_ERR_UNAVAILABLE,
                                  "%s %s: %s did not answer within %" PRIu64 " ms (membership: "
                                  "%s): outcome unknown: check with `shedctl show %s` or retry "
                                  "with --request-id %s", p->op, p->name, p->peer, p->timeout_ms,
                                  s_peer_status (self, p->peer), p->name, p->rid);
            p->call = NULL;         /* the late result is dropped (s_on_result) */
        }
    return 0;
}

/* Membership suspects `peer` (or declared it failed/gone): a create whose
 * coordinator it is asks the next one now; with `failed`, a claim or op
 * waiting on it is answered now as outcome unknown (it may have acted
 * before it went silent). */
static void
s_peer_trouble (shed_sched_t *self, const char *peer, bool failed)
{
    zlistx_t *rids = zlistx_new ();
    zlistx_set_destructor (rids, s_free_fn);
    for (s_job_t *job = (s_job_t *) zhashx_first (self->jobs); job;
         job = (s_job_t *) zhashx_next (self->jobs))
        if ((job->phase == J_RESERVE && streq (job->coordinator, peer))
        ||  (failed && job->phase == J_CLAIM && streq (job->target, peer)))
            zlistx_add_end (rids, strdup (job->rid));
    for (const char *rid = (const char *) zlistx_first (rids); rid;
         rid = (const char *) zlistx_next (rids)) {
        s_job_t *job = (s_job_t *) zhashx_lookup (self->jobs, rid);
        if (!job)
            continue;
        if (job->phase == J_RESERVE && streq (job->coordinator, peer)) {
            if (failed && job->nskip < S_SKIP_MAX)
                snprintf (job->skip [job->nskip++], sizeof job->skip [0], "%s", peer);
            log_info (S_COMP, "name coordinator suspected, failing over|shed=%s coordinator=%s",
                      job->name, peer);
            s_job_reserve (self, job);
        }
        else
        if (job->phase == J_CLAIM && streq (job->target, peer))
            s_job_fail (self, job, API_ERR_UNAVAILABLE,
                        "create %s: %s failed during the claim: outcome unknown: check with "
                        "`shedctl show %s` or retry with --request-id %s", job->name, peer,
                        job->name, job->rid);
    }
    zlistx_destroy (&rids);
    if (!failed)
        return;
    for (s_pending_t *p = (s_pending_t *) zhashx_first (self->pending); p;
         p = (s_pending_t *) zhashx_next (self->pending))
        if (p->type == P_CALL && p->call && streq (p->peer, peer)) {
            shed_api_reply_error (&p->call, API_ERR_UNAVAILABLE,
                                  "%s %s: %s failed before it answered: outcome unknown: check "
                                  "with `shedctl show %s` or retry with --request-id %s", p->op,
                                  p->name, peer, p->name, p->rid);
            p->call = NULL;
        }
    /* Other components' calls to it (log history, provisioning relays)
     * are told now too, not at their own, possibly long, timeout. Taken
     * out first: a callback may call us. */
    zlistx_t *ext = zlistx_new ();
    for (s_pending_t *p = (s_pending_t *) zhashx_first (self->pending); p;
         p = (s_pending_t *) zhashx_next (self->pending))
        if (p->type == P_EXT && p->cb && streq (p->peer, peer))
            zlistx_add_end (ext, p);
    for (s_pending_t *p = (s_pending_t *) zlistx_first (ext); p;
         p = (s_pending_t *) zlistx_next (ext)) {
        shed_sched_rpc_cb *cb = p->cb;
        p->cb = NULL;               /* its late RPC answer is dropped (s_on_rpc) */
        char why [RPC_ERROR_MAX + 1];
        s_fmt (why, sizeof why, "%s failed before it answered (membership)", peer);
        cb (RPC_ERR_NO_PEER, why, NULL, 0, p->cb_arg);
    }
    zlistx_destroy (&ext);
}

/* ---- RPC for other components ------------------------------------------------ */

static const char *s_builtin [] = { "reserve", "release", "claim", "op" };

static bool
s_builtin_method (const char *method)
{
    for (size_t i = 0; i < sizeof s_builtin / sizeof s_builtin [0]; i++)
        if (streq (method, s_builtin [i]))
            return true;
    return false;
}

int
shed_sched_rpc_on (shed_sched_t *self, const char *method, shed_sched_rpc_fn *fn, void *arg)
{
    assert (self);
    if (!method || !*method || strlen (method) > RPC_METHOD_MAX || !fn
    ||  s_builtin_method (method) || zhashx_lookup (self->methods, method))
        return -1;
    s_method_t *m = (s_method_t *) zmalloc (sizeof (s_method_t));
    assert (m);
    m->fn = fn;
    m->arg = arg;
    zhashx_insert (self->methods, method, m);
    return 0;
}

void
shed_sched_rpc_reply (shed_sched_t *self, uint64_t token, int status, const char *error,
                      const uint8_t *body, size_t len)
{
    assert (self);
    rpc_reply (self->rpc, token, status, error, body, len);
}

int
shed_sched_rpc_call (shed_sched_t *self, const char *peer, const char *method,
                     const uint8_t *body, size_t len, int timeout_ms, shed_sched_rpc_cb *cb,
                     void *arg)
{
    assert (self);
    if (!self->pending || !self->rpc                /* shutting down */
    ||  !peer || !*peer || streq (peer, self->name) || !method || !*method
    ||  strlen (method) > RPC_METHOD_MAX || len > RPC_BODY_MAX || !cb)
        return -1;
    s_pending_t *p = (s_pending_t *) zmalloc (sizeof (s_pending_t));
    assert (p);
    p->type = P_EXT;
    p->cb = cb;
    p->cb_arg = arg;
    p->t0 = zclock_mono ();
    snprintf (p->peer, sizeof p->peer, "%s", peer);
    uint64_t id = rpc_request (self->rpc, peer, method, body, len, timeout_ms);
    char key [24];
    snprintf (key, sizeof key, "%" PRIu64, id);
    zhashx_update (self->pending, key, p);
    return 0;
}

int
shed_sched_owner (shed_sched_t *self, const char *name, char node[], size_t size)
{
    assert (self);
    s_sheds_t v;
    s_sheds_load (self, &v, false);
    const s_shed_t *w = name ? s_sheds_winner (&v, name) : NULL;
    if (w)
        snprintf (node, size, "%s", w->origin);
    s_sheds_free (&v);
    return w ? 0 : -1;
}

void
shed_sched_stats (shed_sched_t *self, shed_sched_stats_t *out)
{
    assert (self);
    memset (out, 0, sizeof *out);
    const sched_capacity_t *c = &self->capacity;
    out->capacity = c->capacity;
    out->reserved = c->reserved;
    sched_admit_allocated (self->admit, &out->allocated);
    for (int r = 0; r < PLACE_RES_COUNT; r++) {
        /* The same arithmetic placement uses to decide what fits. */
        uint64_t cap = c->capacity.v [r], res = c->reserved.v [r];
        double ratio = c->overcommit [r] >= 1.0 ? c->overcommit [r] : 1.0;
        double eff = res >= cap ? 0 : (double) (cap - res) * ratio;
        out->effective.v [r] = ratio == 1.0 && res < cap ? cap - res
                             : eff >= 1.8e19 ? UINT64_MAX : (uint64_t) eff;
    }
    out->admitted = sched_admit_count (self->admit);
    out->draining = self->draining;
    out->creates_running = self->jobs ? zhashx_size (self->jobs) : 0;
    out->creates_ok = self->creates_ok;
    out->creates_failed = self->creates_failed;
    out->claims_deferred = self->claims_deferred;
    s_sheds_t v;
    s_sheds_load (self, &v, false);
    for (size_t i = 0; i < v.n; i++) {
        if (strcmp (v.items [i].origin, self->name))
            continue;
        const char *state = v.items [i].m.u.rec_shed.state;
        size_t k = 0;
        while (k < out->nstates && strcmp (out->states [k].state, state))
            k++;
        if (k == out->nstates) {
            if (k == SHED_SCHED_STATES_MAX)
                continue;
            snprintf (out->states [k].state, sizeof out->states [k].state, "%s", state);
            out->nstates++;
        }
        out->states [k].count++;
    }
    s_sheds_free (&v);
    char *rpc = self->rpc ? rpc_stats (self->rpc) : NULL;
    snprintf (out->rpc, sizeof out->rpc, "%s", rpc ? rpc : "");
    free (rpc);
}

size_t
shed_sched_peers (shed_sched_t *self, char names[][REC_NAME_MAX + 1], size_t max)
{
    assert (self);
    size_t n = 0;
    for (s_member_t *m = (s_member_t *) zhashx_first (self->members); m && n < max;
         m = (s_member_t *) zhashx_next (self->members))
        if (m->alive)
            snprintf (names [n++], REC_NAME_MAX + 1, "%s", m->name);
    return n;
}

/* ---- RPC events ------------------------------------------------------------- */

static int
s_on_rpc (zloop_t *loop, zsock_t *sock, void *arg)
{
    (void) loop;
    (void) sock;
    shed_sched_t *self = arg;
    rpc_event_t ev;
    if (rpc_recv (self->rpc, &ev) != 0)
        return 0;
    s_method_t *ext = ev.type == RPC_EV_REQUEST
                    ? (s_method_t *) zhashx_lookup (self->methods, ev.method) : NULL;
    if (ext)
        ext->fn (self, ev.peer, ev.id, ev.body, ev.len, ext->arg);
    else
    if (ev.type == RPC_EV_REQUEST && !s_builtin_method (ev.method)) {
        char why [RPC_ERROR_MAX + 1];
        s_fmt (why, sizeof why, "unknown method '%s' on node %s", ev.method, self->name);
        log_warn (S_COMP, "rpc for an unknown method|peer=%s method=%s", ev.peer, ev.method);
        rpc_reply (self->rpc, ev.id, SHED_SCHED_RPC_UNKNOWN, why, NULL, 0);
    }
    else
    if (ev.type == RPC_EV_REQUEST) {
        nsched_msg_t req;
        uint8_t *rep = NULL;
        size_t len = 0;
        if (wire_decode (&nsched_proto, ev.body, ev.len, &req, NULL) != WIRE_OK)
            rpc_reply (self->rpc, ev.id, 1, "malformed request", NULL, 0);
        else {
            int rc = s_serve (self, ev.peer, &req, &rep, &len, true);
            uint8_t *copy = rc == 1 ? (uint8_t *) malloc (ev.len ? ev.len : 1) : NULL;
            if (rc == 1 && copy) {
                memcpy (copy, ev.body, ev.len);
                s_defer (self, ev.peer, copy, ev.len, ev.id, NULL);
            }
            else
            if (rc == 0)
                rpc_reply (self->rpc, ev.id, RPC_OK, NULL, rep, len);
            else
                rpc_reply (self->rpc, ev.id, 1, "unsupported request", NULL, 0);
            wire_msg_free (&nsched_proto, &req);
            free (rep);
        }
    }
    else {
        char key [24];
        snprintf (key, sizeof key, "%" PRIu64, ev.id);
        s_pending_t *p = (s_pending_t *) zhashx_lookup (self->pending, key);
        if (p) {
            zhashx_delete (self->pending, key);
            if (p->type == P_EXT) {
                if (p->cb)          /* NULL: answered when its peer failed */
                    p->cb (ev.status, ev.error, ev.body, ev.len, p->cb_arg);
            }
            else
                s_on_result (self, p, ev.status, ev.error, ev.body, ev.len);
            free (p);
        }
    }
    rpc_event_free (&ev);
    return 0;
}

/* ---- state events: lost sheds, reservations fulfilled, duplicates ----------- */

static void
s_on_shed_change (const shed_record_t *rec, void *arg)
{
    shed_sched_t *self = arg;
    char key [2 * REC_NAME_MAX + 2];
    snprintf (key, sizeof key, "%s/%s", rec->origin, rec->key);
    if (streq (rec->event, "DELETED")) {
        zchunk_t *last = (zchunk_t *) zhashx_lookup (self->cache, key);
        /* The store drops a removed origin's records BEFORE it marks the
         * origin removed, so these DELETED events still say "unreachable".
         * An owner's own delete comes from an alive origin. Keep the last
         * record aside until the origin's status event tells which it was. */
        if (last && !streq (rec->status, "alive"))
            zhashx_update (self->gone, key, zchunk_dup (last));
        zhashx_delete (self->cache, key);
        return;
    }
    if (!streq (rec->event, "INSERTED") && !streq (rec->event, "UPDATED"))
        return;
    zhashx_update (self->cache, key, zchunk_new (rec->value, rec->len));
    zhashx_delete (self->lost, key);
    rec_msg_t m;
    if (wire_decode (&rec_proto, rec->value, rec->len, &m, NULL) != WIRE_OK)
        return;
    if (m.hdr.type == REC_SHED) {
        const rec_shed_t *r = &m.u.rec_shed;
        /* A reservation we granted is fulfilled once the shed exists for
         * good: not while `starting` (that claim may still fail and the
         * create move on to the next candidate). */
        s_resv_t *rv = (s_resv_t *) zhashx_lookup (self->resv, r->name);
        if (rv && streq (rv->rid, r->request_id) && !streq (r->state, "starting"))
            s_resv_drop (self, r->name);
        /* Someone else's shed with the name of one of ours: a duplicate
         * made across a partition. Say so once, loudly; delete nothing. */
        if (!streq (rec->origin, self->name)) {
            rec_msg_t own;
            if (s_own_get (self, r->name, &own)) {
                names_shed_t a = { r->name, self->name, own.u.rec_shed.request_id,
                                   own.u.rec_shed.created_ms, false };
                names_shed_t b = { r->name, rec->origin, r->request_id, r->created_ms, false };
                if (!zhashx_lookup (self->dup_warned, key)) {
                    zhashx_insert (self->dup_warned, key, strdup ("1"));
                    log_warn (S_COMP, "duplicate shed name|shed=%s here=%s other=%s keeps_name=%s "
                              "action=\"rename or delete the duplicate\"", r->name, self->name,
                              rec->origin, names_wins (&a, &b) ? self->name : rec->origin);
                }
                wire_msg_free (&rec_proto, &own);
            }
        }
    }
    wire_msg_free (&rec_proto, &m);
}

/* An origin changed status: removed (left, reaped) turns the records set
 * aside into lost sheds; alive again drops them (its records flow back). */
static void
s_on_origin (const shed_record_t *rec, void *arg)
{
    shed_sched_t *self = arg;
    bool removed = streq (rec->status, "removed");
    size_t plen = strlen (rec->origin);
    zlistx_t *keys = zlistx_new ();
    zlistx_set_destructor (keys, s_free_fn);
    for (zchunk_t *c = (zchunk_t *) zhashx_first (self->gone); c;
         c = (zchunk_t *) zhashx_next (self->gone)) {
        const char *key = (const char *) zhashx_cursor (self->gone);
        if (strncmp (key, rec->origin, plen) == 0 && key [plen] == '/')
            zlistx_add_end (keys, strdup (key));
    }
    for (const char *key = (const char *) zlistx_first (keys); key;
         key = (const char *) zlistx_next (keys)) {
        if (removed) {
            zhashx_update (self->lost, key, zchunk_dup ((zchunk_t *) zhashx_lookup (self->gone,
                                                                                    key)));
            log_warn (S_COMP, "shed lost with its node|shed=%s node=%s", key + plen + 1,
                      rec->origin);
        }
        zhashx_delete (self->gone, key);
    }
    zlistx_destroy (&keys);
}

static int
s_on_timer (zloop_t *loop, int timer_id, void *arg)
{
    (void) loop;
    (void) timer_id;
    shed_sched_t *self = arg;
    uint64_t now = s_wall_ms ();
    zlistx_t *expired = zlistx_new ();
    zlistx_set_destructor (expired, s_free_fn);
    for (s_resv_t *r = (s_resv_t *) zhashx_first (self->resv); r;
         r = (s_resv_t *) zhashx_next (self->resv))
        if (r->expires_ms <= now)
            zlistx_add_end (expired, strdup (r->name));
    for (const char *name = (const char *) zlistx_first (expired); name;
         name = (const char *) zlistx_next (expired)) {
        log_debug (S_COMP, "name reservation expired|name=%s", name);
        s_resv_drop (self, name);
    }
    zlistx_purge (expired);
    for (s_opdone_t *d = (s_opdone_t *) zhashx_first (self->ops); d;
         d = (s_opdone_t *) zhashx_next (self->ops))
        if (d->at_ms + S_OPS_TTL_MS <= now)
            zlistx_add_end (expired, strdup ((const char *) zhashx_cursor (self->ops)));
    for (const char *rid = (const char *) zlistx_first (expired); rid;
         rid = (const char *) zlistx_next (expired))
        zhashx_delete (self->ops, rid);
    zlistx_destroy (&expired);
    return 0;
}

/* ---- API -------------------------------------------------------------------- */

static void
s_api_create (shed_api_call_t *call, const api_msg_t *msg, void *arg)
{
    shed_sched_t *self = arg;
    const api_shed_create_req_t *req = &msg->u.api_shed_create_req;
    char why [256];
    if (!names_valid (req->name, why, sizeof why)) {
        shed_api_reply_error (&call, API_ERR_INVALID, "%s", why);
        return;
    }
    s_job_t *job = (s_job_t *) zmalloc (sizeof (s_job_t));
    assert (job);
    job->t0 = zclock_mono ();
    job->timeout_ms = req->timeout_ms ? req->timeout_ms : S_DEADLINE_CREATE_MS;
    if (job->timeout_ms > S_DEADLINE_MAX_MS)
        job->timeout_ms = S_DEADLINE_MAX_MS;
    job->deadline = job->t0 + (int64_t) job->timeout_ms;
    snprintf (job->name, sizeof job->name, "%s", req->name);
    job->cpus_milli = req->cpus_milli ? req->cpus_milli : 1000;
    job->memory_mb = req->memory_mb ? req->memory_mb : 512;
    job->disk_mb = req->disk_mb;
    job->gpus = req->gpus;
    snprintf (job->pin, sizeof job->pin, "%s", req->node);
    snprintf (job->image, sizeof job->image, "%s", req->image);
    const char *strategy = req->strategy [0] ? req->strategy : self->cfg->scheduler.strategy;
    if (!strcmp (strategy, "spread"))
        job->strategy = PLACE_SPREAD;
    else
    if (!*strategy || !strcmp (strategy, "binpack"))
        job->strategy = PLACE_BINPACK;
    else {
        free (job);
        shed_api_reply_error (&call, API_ERR_INVALID,
                              "unknown strategy '%s' (binpack or spread)", strategy);
        return;
    }
    for (size_t i = 0; i < req->constraints.n && i < PLACE_CONSTRAINTS_MAX; i++)
        if (placement_constraint_parse (req->constraints.items [i].text,
                                        &job->constraints [job->nconstraints++], why,
                                        sizeof why)) {
            free (job);
            shed_api_reply_error (&call, API_ERR_INVALID, "constraint '%s': %s",
                                  req->constraints.items [i].text, why);
            return;
        }
    for (size_t i = 0; i < req->tags.n && i < 32; i++)
        job->tags [job->ntags++] = req->tags.items [i];
    if (req->request_id [0])
        snprintf (job->rid, sizeof job->rid, "%s", req->request_id);
    else
        s_fmt (job->rid, sizeof job->rid, "%s-%" PRIu64 "-%08x", self->name, ++self->counter,
                  randombytes_random ());
    /* The same request in progress here: wait with it. */
    s_job_t *running = (s_job_t *) zhashx_lookup (self->jobs, job->rid);
    if (running) {
        free (job);
        zlistx_add_end (running->calls, call);
        return;
    }
    /* Done before (anywhere): answer with it. */
    s_sheds_t sheds;
    s_sheds_load (self, &sheds, false);
    for (size_t i = 0; i < sheds.n; i++)
        if (streq (sheds.items [i].m.u.rec_shed.request_id, job->rid)) {
            job->calls = zlistx_new ();
            zlistx_add_end (job->calls, call);
            zhashx_insert (self->jobs, job->rid, job);
            s_job_step (job, "already created on %s (same request id)", sheds.items [i].origin);
            s_job_succeed (self, job, &sheds.items [i].m, sheds.items [i].origin,
                           "already created (same request id): nothing done");
            s_sheds_free (&sheds);
            return;
        }
    s_sheds_free (&sheds);
    job->calls = zlistx_new ();
    zlistx_add_end (job->calls, call);
    zhashx_insert (self->jobs, job->rid, job);
    log_info (S_COMP, "create|shed=%s request_id=%s cpus_milli=%" PRIu64 " memory_mb=%" PRIu64,
              job->name, job->rid, job->cpus_milli, job->memory_mb);
    s_job_reserve (self, job);
}

static void
s_api_list (shed_api_call_t *call, const api_msg_t *msg, void *arg)
{
    shed_sched_t *self = arg;
    const char *node = msg->u.api_shed_list_req.node;
    s_sheds_t v;
    s_sheds_load (self, &v, true);
    bool *dup = s_sheds_dups (&v);
    api_shed_t *items = calloc (v.n + 1, sizeof *items);
    assert (items);
    size_t n = 0;
    for (size_t i = 0; i < v.n; i++) {
        if (*node && strcmp (node, v.items [i].origin))
            continue;
        s_api_shed_fill (&items [n++], &v.items [i], dup [i],
                         dup [i] ? s_sheds_winner (&v, v.items [i].m.u.rec_shed.name) : NULL);
    }
    api_msg_t rep = { .hdr.type = API_SHED_LIST_REP };
    rep.u.api_shed_list_rep.sheds.n = n;
    rep.u.api_shed_list_rep.sheds.items = items;
    shed_api_reply (&call, &rep);
    free (items);
    free (dup);
    s_sheds_free (&v);
}

/* Find the shed a reference means. Returns its index, or -1 with a reason
 * (code in *code). */
static int
s_resolve (s_sheds_t *v, const char *ref, char *why, size_t size, api_err_code_t *code)
{
    char name [REC_NAME_MAX + 1], node [REC_NAME_MAX + 1];
    s_split_ref (ref, name, node);
    int found = -1, count = 0;
    char where [256] = "";
    for (size_t i = 0; i < v->n; i++) {
        if (strcmp (v->items [i].m.u.rec_shed.name, name))
            continue;
        if (*node && strcmp (v->items [i].origin, node))
            continue;
        if (found < 0 || (!v->items [i].lost && v->items [found].lost))
            found = (int) i;
        count++;
        size_t used = strlen (where);
        snprintf (where + used, sizeof where - used, "%s%s", used ? ", " : "",
                  v->items [i].origin);
    }
    if (found < 0) {
        *code = API_ERR_NOT_FOUND;
        snprintf (why, size, "no shed named %s%s%s", name, *node ? " on " : "", node);
        return -1;
    }
    if (count > 1) {
        *code = API_ERR_INVALID;
        snprintf (why, size, "%d sheds are named %s (on %s): say which, e.g. %s@%s", count, name,
                  where, name, v->items [found].origin);
        return -1;
    }
    return found;
}

static void
s_api_show (shed_api_call_t *call, const api_msg_t *msg, void *arg)
{
    shed_sched_t *self = arg;
    s_sheds_t v;
    s_sheds_load (self, &v, true);
    bool *dup = s_sheds_dups (&v);
    char why [256];
    api_err_code_t code = API_ERR_NOT_FOUND;
    char name [REC_NAME_MAX + 1], node [REC_NAME_MAX + 1];
    s_split_ref (msg->u.api_shed_show_req.name, name, node);
    int i = s_resolve (&v, msg->u.api_shed_show_req.name, why, sizeof why, &code);
    if (i < 0 && code == API_ERR_INVALID && !*node) {
        /* Duplicates: show the one that keeps the name, and say so. */
        const s_shed_t *w = s_sheds_winner (&v, name);
        i = w ? (int) (w - v.items) : -1;
    }
    if (i < 0)
        shed_api_reply_error (&call, code, "%s", why);
    else {
        api_shed_t item;
        s_api_shed_fill (&item, &v.items [i], dup [i],
                         s_sheds_winner (&v, v.items [i].m.u.rec_shed.name));
        if (!dup [i] && code == API_ERR_INVALID)
            snprintf (item.note, sizeof item.note,
                      "duplicate name: other sheds named %s exist (shedctl list); this one "
                      "keeps the name", name);
        api_msg_t rep = { .hdr.type = API_SHED_REP };
        rep.u.api_shed_rep.shed.n = 1;
        rep.u.api_shed_rep.shed.items = &item;
        shed_api_reply (&call, &rep);
    }
    free (dup);
    s_sheds_free (&v);
}

/* Route to `node` (or serve here) and answer `call` from the result. */
static void
s_route_call (shed_sched_t *self, shed_api_call_t *call, const char *node,
              const nsched_msg_t *msg, const char *op, const char *name, const char *rid,
              uint64_t timeout_ms)
{
    s_pending_t *p = (s_pending_t *) zmalloc (sizeof (s_pending_t));
    assert (p);
    p->type = P_CALL;
    p->call = call;
    if (!timeout_ms)
        timeout_ms = S_DEADLINE_OP_MS;
    if (timeout_ms > S_DEADLINE_MAX_MS)
        timeout_ms = S_DEADLINE_MAX_MS;
    p->timeout_ms = timeout_ms;
    p->deadline = zclock_mono () + (int64_t) timeout_ms;
    snprintf (p->op, sizeof p->op, "%s", op);
    snprintf (p->name, sizeof p->name, "%s", name);
    snprintf (p->rid, sizeof p->rid, "%s", rid);
    s_send (self, node, "op", msg, (int) timeout_ms, p);
}

static void
s_api_op (shed_api_call_t *call, const api_msg_t *msg, void *arg)
{
    shed_sched_t *self = arg;
    const api_shed_op_req_t *req = &msg->u.api_shed_op_req;
    const char *opname = req->op == API_SHED_OP_START ? "start"
                       : req->op == API_SHED_OP_STOP ? "stop" : "delete";
    char rid [65];
    if (req->request_id [0])
        snprintf (rid, sizeof rid, "%s", req->request_id);
    else
        s_fmt (rid, sizeof rid, "%s-op-%" PRIu64 "-%08x", self->name, ++self->counter,
               randombytes_random ());
    s_opdone_t *done = req->request_id [0] ? (s_opdone_t *) zhashx_lookup (self->ops, rid)
                                           : NULL;
    s_sheds_t v;
    s_sheds_load (self, &v, true);
    char why [256];
    api_err_code_t code;
    int i = s_resolve (&v, req->name, why, sizeof why, &code);
    if (i < 0 && done && done->op == req->op && req->op == API_SHED_OP_DELETE
    &&  code == API_ERR_NOT_FOUND) {
        /* A retried delete whose first attempt went through (its answer
         * was lost or came after the deadline): done, not "no such shed". */
        api_msg_t ok = { .hdr.type = API_OK };
        snprintf (ok.u.api_ok.message, sizeof ok.u.api_ok.message,
                  "%s already deleted on %s (same request id %s): nothing done", done->name,
                  done->node, rid);
        shed_api_reply (&call, &ok);
        s_sheds_free (&v);
        return;
    }
    if (i < 0) {
        shed_api_reply_error (&call, code, "%s", why);
        s_sheds_free (&v);
        return;
    }
    const s_shed_t *sh = &v.items [i];
    if (sh->lost) {
        if (req->op == API_SHED_OP_DELETE && req->force) {
            /* Every node remembers lost sheds on its own: tell them all
             * (fire and forget: FORGET is idempotent, and the reply says
             * how many were told, not how many answered). */
            nsched_msg_t m = { .hdr.type = NSCHED_OP };
            m.u.nsched_op.op = NSCHED_OP_FORGET;
            snprintf (m.u.nsched_op.name, sizeof m.u.nsched_op.name, "%s",
                      sh->m.u.rec_shed.name);
            snprintf (m.u.nsched_op.node, sizeof m.u.nsched_op.node, "%s", sh->origin);
            const char *names [1024];
            size_t n = s_alive_names (self, names, 1024);
            for (size_t k = 0; k < n; k++)
                s_fire (self, names [k], "op", &m);
            api_msg_t ok = { .hdr.type = API_OK };
            snprintf (ok.u.api_ok.message, sizeof ok.u.api_ok.message,
                      "told %zu node%s to forget lost shed %s (was on %s)", n,
                      n == 1 ? "" : "s", sh->m.u.rec_shed.name, sh->origin);
            shed_api_reply (&call, &ok);
        }
        else
            shed_api_reply_error (&call, API_ERR_INVALID,
                                  "cannot %s %s: its node %s is gone (lost); "
                                  "'shedctl delete --force %s@%s' forgets it", opname,
                                  sh->m.u.rec_shed.name, sh->origin, sh->m.u.rec_shed.name,
                                  sh->origin);
        s_sheds_free (&v);
        return;
    }
    if (streq (sh->status, "unreachable")) {
        shed_api_reply_error (&call, API_ERR_UNAVAILABLE,
                              "cannot %s %s: its node %s is unreachable", opname,
                              sh->m.u.rec_shed.name, sh->origin);
        s_sheds_free (&v);
        return;
    }
    nsched_msg_t m = { .hdr.type = NSCHED_OP };
    m.u.nsched_op.op = req->op == API_SHED_OP_START ? NSCHED_OP_START
                     : req->op == API_SHED_OP_STOP ? NSCHED_OP_STOP : NSCHED_OP_DELETE;
    snprintf (m.u.nsched_op.name, sizeof m.u.nsched_op.name, "%s", sh->m.u.rec_shed.name);
    char node [REC_NAME_MAX + 1];
    snprintf (node, sizeof node, "%s", sh->origin);
    s_sheds_free (&v);
    if (req->request_id [0] && !done && zhashx_size (self->ops) < S_OPS_MAX) {
        s_opdone_t *d = (s_opdone_t *) zmalloc (sizeof (s_opdone_t));
        assert (d);
        snprintf (d->name, sizeof d->name, "%s", m.u.nsched_op.name);
        snprintf (d->node, sizeof d->node, "%s", node);
        d->op = req->op;
        d->at_ms = s_wall_ms ();
        zhashx_insert (self->ops, rid, d);
    }
    s_route_call (self, call, node, &m, opname, m.u.nsched_op.name, rid, req->timeout_ms);
}

static void
s_api_drain (shed_api_call_t *call, const api_msg_t *msg, void *arg)
{
    shed_sched_t *self = arg;
    const api_node_drain_req_t *req = &msg->u.api_node_drain_req;
    const char *node = req->node [0] ? req->node : self->name;
    if (!streq (node, self->name)) {
        s_member_t *mem = (s_member_t *) zhashx_lookup (self->members, node);
        if (!mem) {
            shed_api_reply_error (&call, API_ERR_NOT_FOUND, "no node named %s", node);
            return;
        }
        if (!mem->alive) {
            shed_api_reply_error (&call, API_ERR_UNAVAILABLE, "node %s is not alive", node);
            return;
        }
    }
    nsched_msg_t m = { .hdr.type = NSCHED_OP };
    m.u.nsched_op.op = req->drain ? NSCHED_OP_DRAIN : NSCHED_OP_UNDRAIN;
    s_route_call (self, call, node, &m, req->drain ? "drain" : "undrain", node, "(none)", 0);
}

/* ---- start-up: capacity, driver, re-adoption -------------------------------- */

static void
s_capacity (shed_sched_t *self)
{
    const shed_config_t *cfg = self->cfg;
    sched_capacity_t *c = &self->capacity;
    memset (c, 0, sizeof *c);
    long ncpu = sysconf (_SC_NPROCESSORS_ONLN);
    long pages = sysconf (_SC_PHYS_PAGES), psize = sysconf (_SC_PAGESIZE);
    c->capacity.v [PLACE_CPU] = (uint64_t) (ncpu > 0 ? ncpu : 1) * 1000;
    c->capacity.v [PLACE_MEMORY] = pages > 0 && psize > 0 ? (uint64_t) pages * (uint64_t) psize
                                                          : 0;
    struct statvfs vfs;
    if (statvfs (cfg->data_dir, &vfs) == 0)
        c->capacity.v [PLACE_DISK] = (uint64_t) vfs.f_blocks * vfs.f_frsize;
    c->capacity.v [PLACE_GPU] = cfg->resources.gpus;
    if (cfg->resources.cpus [0])
        placement_cpus_parse (cfg->resources.cpus, &c->capacity.v [PLACE_CPU]);
    if (cfg->resources.memory [0])
        placement_size_parse (cfg->resources.memory, S_MIB, &c->capacity.v [PLACE_MEMORY]);
    if (cfg->resources.disk [0])
        placement_size_parse (cfg->resources.disk, S_MIB, &c->capacity.v [PLACE_DISK]);
    if (cfg->resources.reserved_cpus [0])
        placement_cpus_parse (cfg->resources.reserved_cpus, &c->reserved.v [PLACE_CPU]);
    if (cfg->resources.reserved_memory [0])
        placement_size_parse (cfg->resources.reserved_memory, S_MIB,
                              &c->reserved.v [PLACE_MEMORY]);
    if (cfg->resources.reserved_disk [0])
        placement_size_parse (cfg->resources.reserved_disk, S_MIB, &c->reserved.v [PLACE_DISK]);
    c->overcommit [PLACE_CPU] = cfg->scheduler.overcommit_cpu;
    c->overcommit [PLACE_MEMORY] = cfg->scheduler.overcommit_memory;
    c->overcommit [PLACE_DISK] = cfg->scheduler.overcommit_disk;
    c->overcommit [PLACE_GPU] = 1.0;
}

static void
s_driver_open (shed_sched_t *self)
{
    self->driver = node_driver_open (self->cfg, self->driver_error, sizeof self->driver_error);
    if (!self->driver)
        log_error (S_COMP, "no driver|err=\"%s\"", self->driver_error);
}

static void
s_readopt_one (const shed_record_t *rec, void *arg)
{
    shed_sched_t *self = arg;
    if (strcmp (rec->origin, self->name))
        return;
    rec_msg_t m;
    if (wire_decode (&rec_proto, rec->value, rec->len, &m, NULL) != WIRE_OK
    ||  m.hdr.type != REC_SHED)
        return;
    rec_shed_t *r = &m.u.rec_shed;
    place_resources_t need = { { r->cpus_milli, r->memory_mb * S_MIB, r->disk_mb * S_MIB,
                                 r->gpus } };
    if (sched_admit_restore (self->admit, r->request_id, r->name, &need) != 0)
        log_warn (S_COMP, "cannot restore reservation|shed=%s", r->name);
    char was [REC_SHED_STATE_MAX + 1];
    snprintf (was, sizeof was, "%s", r->state);
    driver_status_t st = { 0 };
    driver_error_t derr = { 0 };
    int drc = self->driver ? driver_status (self->driver, r->name, &st, &derr)
                           : DRIVER_ERR_UNAVAILABLE;
    bool want_running = streq (was, "running") || streq (was, "starting");
    if (drc != 0 || st.state == DRIVER_ST_ABSENT) {
        snprintf (r->state, sizeof r->state, "error");
        s_fmt (r->error, sizeof r->error, "not found by the %s driver after a restart%s%s",
                  self->driver ? driver_name (self->driver) : "(none)", drc ? ": " : "",
                  drc ? derr.message : "");
    }
    else
    if (want_running && st.state != DRIVER_ST_RUNNING) {
        /* It should run and does not (host reboot, crash mid-create). */
        drc = driver_start (self->driver, r->name, &derr);
        snprintf (r->state, sizeof r->state, "%s", drc ? "error" : "running");
        snprintf (r->error, sizeof r->error, "%s", drc ? derr.message : "");
    }
    else
        snprintf (r->state, sizeof r->state, "%s",
                  st.state == DRIVER_ST_RUNNING ? "running" : "stopped");
    if (streq (r->state, "running"))
        s_agent_add (self, r->name);
    log_info (S_COMP, "re-adopted|shed=%s was=%s now=%s", r->name, was, r->state);
    s_own_put (self, &m);
    wire_msg_free (&rec_proto, &m);
}

static void
s_load_resv (const shed_record_t *rec, void *arg)
{
    shed_sched_t *self = arg;
    if (strcmp (rec->origin, self->name))
        return;
    rec_msg_t m;
    if (wire_decode (&rec_proto, rec->value, rec->len, &m, NULL) != WIRE_OK
    ||  m.hdr.type != REC_NAME)
        return;
    s_resv_t *r = (s_resv_t *) zmalloc (sizeof (s_resv_t));
    assert (r);
    snprintf (r->name, sizeof r->name, "%s", m.u.rec_name.name);
    snprintf (r->holder, sizeof r->holder, "%s", m.u.rec_name.holder);
    snprintf (r->rid, sizeof r->rid, "%s", m.u.rec_name.request_id);
    r->expires_ms = m.u.rec_name.expires_ms;
    zhashx_update (self->resv, r->name, r);
    wire_msg_free (&rec_proto, &m);
}

static void
s_cache_one (const shed_record_t *rec, void *arg)
{
    shed_sched_t *self = arg;
    char key [2 * REC_NAME_MAX + 2];
    snprintf (key, sizeof key, "%s/%s", rec->origin, rec->key);
    zhashx_update (self->cache, key, zchunk_new (rec->value, rec->len));
}

/* ---- lifecycle ---------------------------------------------------------------- */

shed_sched_t *
shed_sched_new (const shed_config_t *cfg, const shed_identity_t *identity, zap_t *zap,
                shed_members_t *members, shed_nstate_t *state, zloop_t *loop,
                shed_api_server_t *api, const shed_sched_hooks_t *hooks, char *err,
                size_t errlen)
{
    shed_sched_t *self = (shed_sched_t *) zmalloc (sizeof (shed_sched_t));
    assert (self);
    self->cfg = cfg;
    snprintf (self->name, sizeof self->name, "%s", cfg->name);
    self->state = state;
    self->api = api;
    self->loop = loop;
    self->timer = -1;
    self->defer_timer = -1;
    self->deadline_timer = -1;
    self->deferred = zlistx_new ();
    assert (self->deferred);
    if (hooks)
        self->hooks = *hooks;
    self->members = zhashx_new ();
    zhashx_set_destructor (self->members, s_free_fn);
    self->jobs = zhashx_new ();
    zhashx_set_destructor (self->jobs, s_job_free_fn);
    self->pending = zhashx_new ();  /* items freed by hand: taken out, then used */
    self->resv = zhashx_new ();
    zhashx_set_destructor (self->resv, s_free_fn);
    self->cache = zhashx_new ();
    zhashx_set_destructor (self->cache, s_chunk_free_fn);
    self->lost = zhashx_new ();
    zhashx_set_destructor (self->lost, s_chunk_free_fn);
    self->gone = zhashx_new ();
    zhashx_set_destructor (self->gone, s_chunk_free_fn);
    self->dup_warned = zhashx_new ();
    zhashx_set_destructor (self->dup_warned, s_free_fn);
    self->methods = zhashx_new ();
    zhashx_set_destructor (self->methods, s_free_fn);
    self->ops = zhashx_new ();
    zhashx_set_destructor (self->ops, s_free_fn);

    char bind [128];
    snprintf (bind, sizeof bind, "tcp://%s:%u", cfg->bind_addr,
              (unsigned) (cfg->bind_port + RPC_PORT_OFFSET));
    rpc_config_t rc = { .name = cfg->name, .endpoint = bind,
                        .public_key = shed_identity_x25519_public (identity),
                        .secret_key = shed_identity_x25519_secret (identity), .zap = zap };
    self->rpc = rpc_new (&rc, err, errlen);
    if (!self->rpc) {
        shed_sched_destroy (&self);
        return NULL;
    }
    s_capacity (self);
    self->admit = sched_admit_new (&self->capacity);
    self->draining = s_drain_load (self);
    sched_admit_set_draining (self->admit, self->draining);
    if (self->draining)
        log_info (S_COMP, "draining (recorded before the restart): no new sheds");
    self->placement = placement_new (randombytes_random () | 1);
    self->result = place_result_new ();
    s_driver_open (self);

    /* Re-adopt our sheds: restore admission, reconcile with the driver. */
    shed_nstate_list (state, REC_KIND_SHED, s_readopt_one, self);
    shed_nstate_list (state, REC_KIND_NAME, s_load_resv, self);
    shed_nstate_list (state, REC_KIND_SHED, s_cache_one, self);
    s_publish_node (self);

    zloop_reader (loop, rpc_sock (self->rpc), s_on_rpc, self);
    self->timer = zloop_timer (loop, 1000, 0, s_on_timer, self);
    self->deadline_timer = zloop_timer (loop, S_DEADLINE_POLL_MS, 0, s_on_deadline, self);
    shed_nstate_on_change (state, REC_KIND_SHED, s_on_shed_change, self);
    shed_nstate_on_change (state, "$origin", s_on_origin, self);
    shed_members_on_event (members, s_on_member, self);
    shed_api_server_on (api, API_SHED_CREATE_REQ, s_api_create, self);
    shed_api_server_on (api, API_SHED_LIST_REQ, s_api_list, self);
    shed_api_server_on (api, API_SHED_SHOW_REQ, s_api_show, self);
    shed_api_server_on (api, API_SHED_OP_REQ, s_api_op, self);
    shed_api_server_on (api, API_NODE_DRAIN_REQ, s_api_drain, self);
    char cpu [32], mem [32];
    snprintf (cpu, sizeof cpu, "%.1f", self->capacity.capacity.v [PLACE_CPU] / 1000.0);
    placement_size_format (self->capacity.capacity.v [PLACE_MEMORY], mem, sizeof mem);
    log_info (S_COMP, "scheduler up|rpc=%s driver=%s cpus=%s memory=\"%s\" sheds=%zu",
              rpc_endpoint (self->rpc), self->driver ? driver_name (self->driver) : "none", cpu,
              mem, sched_admit_count (self->admit));
    return self;
}

void
shed_sched_destroy (shed_sched_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    shed_sched_t *self = *self_p;
    if (self->rpc && self->loop)
        zloop_reader_end (self->loop, rpc_sock (self->rpc));
    if (self->timer >= 0 && self->loop)
        zloop_timer_end (self->loop, self->timer);
    if (self->defer_timer >= 0 && self->loop)
        zloop_timer_end (self->loop, self->defer_timer);
    if (self->deadline_timer >= 0 && self->loop)
        zloop_timer_end (self->loop, self->deadline_timer);
    /* Deferred claims: a peer gets an answer; ours belong to jobs, which
     * answer their callers below. */
    s_deferred_t *d;
    while (self->deferred && (d = (s_deferred_t *) zlistx_detach (self->deferred, NULL))) {
        if (!d->local && self->rpc)
            rpc_reply (self->rpc, d->rpc_id, 1, "node shutting down", NULL, 0);
        s_deferred_free (&d);
    }
    zlistx_destroy (&self->deferred);
    /* Held API calls get an answer before the sockets go. */
    zhashx_destroy (&self->jobs);
    /* Other components' calls are told too (taken out first: a callback
     * may call us). */
    zlistx_t *ext = zlistx_new ();
    for (s_pending_t *p = (s_pending_t *) (self->pending ? zhashx_first (self->pending) : NULL);
         p; p = (s_pending_t *) zhashx_next (self->pending)) {
        if (p->type == P_CALL && p->call)
            shed_api_reply_error (&p->call, API_ERR_UNAVAILABLE, "node shutting down");
        if (p->type == P_EXT)
            zlistx_add_end (ext, p);
        else
            free (p);
    }
    zhashx_destroy (&self->pending);
    for (s_pending_t *p = (s_pending_t *) zlistx_first (ext); p;
         p = (s_pending_t *) zlistx_next (ext)) {
        if (p->cb)
            p->cb (RPC_ERR_NO_PEER, "node shutting down", NULL, 0, p->cb_arg);
        free (p);
    }
    zlistx_destroy (&ext);
    zhashx_destroy (&self->methods);
    rpc_destroy (&self->rpc);
    driver_destroy (&self->driver);
    sched_admit_destroy (&self->admit);
    placement_destroy (&self->placement);
    place_result_destroy (&self->result);
    zhashx_destroy (&self->members);
    zhashx_destroy (&self->resv);
    zhashx_destroy (&self->cache);
    zhashx_destroy (&self->lost);
    zhashx_destroy (&self->gone);
    zhashx_destroy (&self->dup_warned);
    zhashx_destroy (&self->ops);
    free (self);
    *self_p = NULL;
}
