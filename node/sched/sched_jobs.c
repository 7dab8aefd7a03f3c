/* sched_jobs.c - creates taken here and ops routed from here (sched_int.h):
 * the create state machine (sched_create.h) wired to node RPC, placement
 * over the replicated node records and the API; deadlines and membership
 * news for everything that waits on a peer. */
#include "node/sched/sched_int.h"
#include "node/images/node_images.h"

#include "common/log.h"

#include <inttypes.h>
#include <string.h>

/* ---- our requests in flight ----------------------------------------------- */

s_pending_t *
sched__pending_new (shed_sched_t *self, s_ptype_t type)
{
    s_pending_t *p = (s_pending_t *) zmalloc (sizeof (s_pending_t));
    p->sched = self;
    p->type = type;
    p->t0 = zclock_mono ();
    p->handle = zlistx_add_end (self->pending, p);
    return p;
}

void
sched__pending_free (s_pending_t **p_p)
{
    s_pending_t *p = *p_p;
    if (!p)
        return;
    if (p->sched && p->handle)
        zlistx_detach (p->sched->pending, p->handle);
    free (p);
    *p_p = NULL;
}

/* node_rpc's answer to one of our calls. */
static void
s_on_rpc_result (int status, const char *error, const uint8_t *body, size_t len, void *arg)
{
    s_pending_t *p = (s_pending_t *) arg;
    if (p->sched) /* NULL: the scheduler went first */
        sched__on_result (p->sched, p, status, error, body, len);
    sched__pending_free (&p);
}

void
sched__send (shed_sched_t *self, const char *peer, const char *method, const nsched_msg_t *msg,
             int timeout_ms, s_pending_t *p)
{
    snprintf (p->peer, sizeof p->peer, "%s", peer);
    p->t0 = zclock_mono ();
    if (streq (peer, self->name)) {
        uint8_t *rep = NULL;
        size_t len = 0;
        s_answer_t ans = { 0, p };
        int rc = sched__serve (self, self->name, msg, &rep, &len, &ans);
        if (rc != 1) { /* else `ans` (and p) taken: answered later */
            sched__on_result (self, p, rc == 0 ? RPC_OK : RPC_ERR_REFUSED, "cannot serve", rep,
                              len);
            sched__pending_free (&p);
        }
        free (rep);
        return;
    }
    uint8_t *buf = NULL;
    size_t len = 0;
    if (sched__encode (&nsched_proto, msg, &buf, &len)
        || shed_nrpc_call (self->rpc, peer, method, buf, len, timeout_ms, s_on_rpc_result, p)) {
        sched__on_result (self, p, RPC_ERR_REFUSED, "cannot send", NULL, 0);
        sched__pending_free (&p);
    }
    free (buf);
}

void
sched__fire (shed_sched_t *self, const char *peer, const char *method, const nsched_msg_t *msg)
{
    sched__send (self, peer, method, msg, SC_RESERVE_TIMEOUT_MS, sched__pending_new (self, P_FIRE));
}

/* ---- membership, for messages and coordinators ---------------------------- */

const char *
sched__peer_status (shed_sched_t *self, const char *peer)
{
    if (streq (peer, self->name))
        return "this node";
    s_member_t *m = (s_member_t *) zhashx_lookup (self->members, peer);
    if (!m)
        return "not a member";
    return m->suspect ? "suspect" : m->alive ? "alive" : m->failed ? "failed" : "gone";
}

/* Alive members, ourselves included, for the coordinator choice. */
size_t
sched__alive_names (shed_sched_t *self, const char **names, size_t max)
{
    size_t n = 0;
    names[n++] = self->name;
    for (s_member_t *m = (s_member_t *) zhashx_first (self->members); m && n < max;
         m = (s_member_t *) zhashx_next (self->members))
        if (m->alive)
            names[n++] = m->name;
    return n;
}

/* ---- the machine's env ------------------------------------------------------- */

static int64_t
s_now (void *arg)
{
    (void) arg;
    return zclock_mono ();
}

static const char *
s_coordinator (void *arg, const char *name, char skip[][REC_NAME_MAX + 1], size_t nskip)
{
    shed_sched_t *self = (shed_sched_t *) arg;
    const char *names[1024];
    bool skipped[1024];
    size_t n = sched__alive_names (self, names, 1024);
    for (size_t i = 0; i < n; i++) {
        s_member_t *m = (s_member_t *) zhashx_lookup (self->members, names[i]);
        bool gave_up = false;
        for (size_t k = 0; k < nskip; k++)
            gave_up |= streq (skip[k], names[i]);
        skipped[i] = !streq (names[i], self->name) && ((m && m->suspect) || gave_up);
    }
    int c = names_coordinator_skip (name, names, skipped, n);
    return names[c < 0 ? 0 : c]; /* ourselves: never skipped */
}

static bool
s_is_self (void *arg, const char *peer)
{
    return streq (((shed_sched_t *) arg)->name, peer);
}

static const char *
s_peer_status (void *arg, const char *peer)
{
    return sched__peer_status ((shed_sched_t *) arg, peer);
}

static void
s_job_send (shed_sched_t *self, sc_job_t *job, const char *peer, const char *method,
            const nsched_msg_t *msg, uint32_t seq, int timeout_ms, bool claim)
{
    s_pending_t *p = sched__pending_new (self, P_JOB);
    snprintf (p->rid, sizeof p->rid, "%s", job->rid);
    p->seq = seq;
    p->claim = claim;
    sched__send (self, peer, method, msg, timeout_ms, p);
}

static void
s_send_reserve (void *arg, sc_job_t *job, const char *peer, uint32_t seq, int timeout_ms)
{
    nsched_msg_t msg = { .hdr.type = NSCHED_RESERVE };
    snprintf (msg.u.nsched_reserve.name, sizeof msg.u.nsched_reserve.name, "%s", job->name);
    snprintf (msg.u.nsched_reserve.request_id, sizeof msg.u.nsched_reserve.request_id, "%s",
              job->rid);
    s_job_send ((shed_sched_t *) arg, job, peer, "reserve", &msg, seq, timeout_ms, false);
}

static void
s_send_claim (void *arg, sc_job_t *job, const char *peer, uint32_t seq, int timeout_ms)
{
    nsched_msg_t msg = { .hdr.type = NSCHED_CLAIM };
    nsched_claim_t *c = &msg.u.nsched_claim;
    snprintf (c->name, sizeof c->name, "%s", job->name);
    snprintf (c->request_id, sizeof c->request_id, "%s", job->rid);
    c->cpus_milli = job->cpus_milli;
    c->memory_mb = job->memory_mb;
    c->disk_mb = job->disk_mb;
    c->gpus = job->gpus;
    snprintf (c->image, sizeof c->image, "%s", job->image);
    snprintf (c->repo, sizeof c->repo, "%s", job->repo);
    snprintf (c->snapshot, sizeof c->snapshot, "%s", job->snapshot);
    snprintf (c->snapshot_node, sizeof c->snapshot_node, "%s", job->snapshot_node);
    snprintf (c->snapshot_digest, sizeof c->snapshot_digest, "%s", job->snapshot_digest);
    c->snapshot_size = job->snapshot_size;
    c->tags.n = job->ntags;
    c->tags.items = job->tags;
    shed_sched_t *self = (shed_sched_t *) arg;
    /* After a rejection, the machine's last step says why (sc_on_claim). */
    const char *before = job->next > 1 && job->nsteps ? job->steps[job->nsteps - 1].text : "";
    sched__progress (self, job->name, peer, SCHED_PHASE_PLACED,
                     (uint64_t) (zclock_mono () - job->t0), false,
                     "%s%splaced on %s (candidate %zu of %zu)", before, *before ? "; " : "", peer,
                     job->next, job->ncand);
    s_job_send (self, job, peer, "claim", &msg, seq, timeout_ms, true);
}

static void
s_send_release (void *arg, const sc_job_t *job, const char *peer)
{
    nsched_msg_t msg = { .hdr.type = NSCHED_RELEASE };
    snprintf (msg.u.nsched_release.name, sizeof msg.u.nsched_release.name, "%s", job->name);
    snprintf (msg.u.nsched_release.request_id, sizeof msg.u.nsched_release.request_id, "%s",
              job->rid);
    sched__fire ((shed_sched_t *) arg, peer, "release", &msg);
}

/* The placement view from the decoded `node` records (sched_view.h):
 * numbers as each node published them, ours from the admitter
 * (authoritative, fresher). */
typedef struct {
    shed_sched_t *sched;
    place_node_t *nodes;
    shed_image_view_t *images;
    size_t n;
} s_fill_t;

static void
s_fill_node (const sched_view_node_t *nv, void *arg)
{
    s_fill_t *f = (s_fill_t *) arg;
    shed_sched_t *self = f->sched;
    const rec_node_t *r = &nv->m.u.rec_node;
    place_node_t *pn = &f->nodes[f->n++];
    pn->name = nv->origin;
    s_member_t *mem = (s_member_t *) zhashx_lookup (self->members, nv->origin);
    pn->alive =
        streq (nv->status, "alive") && (streq (nv->origin, self->name) || (mem && mem->alive));
    pn->draining = r->draining;
    pn->capacity.v[PLACE_CPU] = r->cpu_milli ? r->cpu_milli : r->cpus * 1000;
    pn->capacity.v[PLACE_MEMORY] = r->memory_mb * S_MIB;
    pn->capacity.v[PLACE_DISK] = r->disk_mb * S_MIB;
    pn->capacity.v[PLACE_GPU] = r->gpus;
    pn->reserved.v[PLACE_CPU] = r->reserved_cpu_milli;
    pn->reserved.v[PLACE_MEMORY] = r->reserved_memory_mb * S_MIB;
    pn->reserved.v[PLACE_DISK] = r->reserved_disk_mb * S_MIB;
    pn->overcommit[PLACE_CPU] = r->oc_cpu;
    pn->overcommit[PLACE_MEMORY] = r->oc_memory;
    pn->overcommit[PLACE_DISK] = r->oc_disk;
    pn->allocated.v[PLACE_CPU] = r->alloc_cpu_milli;
    pn->allocated.v[PLACE_MEMORY] = r->alloc_memory_mb * S_MIB;
    pn->allocated.v[PLACE_DISK] = r->alloc_disk_mb * S_MIB;
    pn->allocated.v[PLACE_GPU] = r->alloc_gpus;
    if (streq (nv->origin, self->name)) {
        sched_admit_view (self->admit, pn);
        pn->draining = self->draining;
    }
    pn->tags = nv->tags;
    pn->ntags = nv->ntags;
    pn->nimages = shed_image_view_node (f->images, nv->origin, &pn->images);
}

static size_t s_place (void *arg, const sc_job_t *job, char cand[][REC_NAME_MAX + 1], size_t max,
                       char *explain, size_t explain_size);

size_t
sched__place (shed_sched_t *self, const sc_job_t *job, char cand[][REC_NAME_MAX + 1], size_t max,
              char *explain, size_t explain_size)
{
    return s_place (self, job, cand, max, explain, explain_size);
}

static size_t
s_place (void *arg, const sc_job_t *job, char cand[][REC_NAME_MAX + 1], size_t max, char *explain,
         size_t explain_size)
{
    shed_sched_t *self = (shed_sched_t *) arg;
    s_fill_t f = { .sched = self };
    /* Which node holds which image (REC_IMAGE, docs/images.md). */
    f.images = shed_image_view_new (self->state);
    f.nodes = calloc (sched_view_size (self->view) + 1, sizeof *f.nodes);
    if (!f.nodes || !f.images) {
        free (f.nodes);
        shed_image_view_destroy (&f.images);
        snprintf (explain, explain_size, "out of memory");
        return 0;
    }
    sched_view_each (self->view, s_fill_node, &f);
    place_request_t req;
    memset (&req, 0, sizeof req);
    req.need.v[PLACE_CPU] = job->cpus_milli;
    req.need.v[PLACE_MEMORY] = job->memory_mb * S_MIB;
    req.need.v[PLACE_DISK] = job->disk_mb * S_MIB;
    req.need.v[PLACE_GPU] = job->gpus;
    req.strategy = job->strategy;
    req.pinned = job->pin[0] ? job->pin : NULL;
    memcpy (req.constraints, job->constraints, sizeof req.constraints);
    req.nconstraints = job->nconstraints;
    req.image = job->image[0] ? job->image : NULL;
    size_t n = placement_place (self->placement, f.nodes, f.n, &req, self->result);
    size_t k = 0;
    for (; k < n && k < max; k++)
        snprintf (cand[k], REC_NAME_MAX + 1, "%s", place_result_name (self->result, k));
    if (n == 0) {
        char *why = place_result_explain (self->result);
        snprintf (explain, explain_size, "%s", why ? why : "");
        free (why);
    }
    free (f.nodes);
    shed_image_view_destroy (&f.images);
    return k;
}

/* A create is over: out of the table now (a retry starts afresh), freed at
 * the next deadline tick: the machine may still be on the stack. */
static void
s_create_over (shed_sched_t *self, s_create_t *c)
{
    zhashx_delete (self->jobs, c->job.rid); /* no destructor: c lives on in `over` */
    zlistx_add_end (self->over, c);
}

void
sched__reply_shed (shed_sched_t *self, shed_api_call_t **call_p, const rec_msg_t *rec,
                   const char *origin, api_step_t *steps, size_t nsteps, const char *message)
{
    (void) self;
    s_shed_t sh;
    memset (&sh, 0, sizeof sh);
    snprintf (sh.origin, sizeof sh.origin, "%s", origin);
    snprintf (sh.status, sizeof sh.status, "alive");
    sh.m = *rec;
    api_shed_t item;
    sched__api_shed_fill (&item, &sh, false, NULL);
    api_msg_t rep = { .hdr.type = API_SHED_REP };
    rep.u.api_shed_rep.shed.n = 1;
    rep.u.api_shed_rep.shed.items = &item;
    rep.u.api_shed_rep.steps.n = nsteps;
    rep.u.api_shed_rep.steps.items = steps;
    snprintf (rep.u.api_shed_rep.message, sizeof rep.u.api_shed_rep.message, "%s",
              message ? message : "");
    shed_api_reply (call_p, &rep);
}

static void
s_succeed (void *arg, sc_job_t *job, const void *record, const char *origin, const char *message)
{
    shed_sched_t *self = (shed_sched_t *) arg;
    s_create_t *c = (s_create_t *) job->user;
    self->creates_ok++;
    shed_hist_observe_since (self->create_latency, c->t0_ns);
    shed_api_call_t *call;
    while ((call = (shed_api_call_t *) zlistx_detach (c->calls, NULL)))
        sched__reply_shed (self, &call, (const rec_msg_t *) record, origin, job->steps, job->nsteps,
                           message);
    s_create_over (self, c);
}

static void
s_fail (void *arg, sc_job_t *job, api_err_code_t code, const char *why)
{
    shed_sched_t *self = (shed_sched_t *) arg;
    s_create_t *c = (s_create_t *) job->user;
    log_info (S_COMP, "create failed|shed=%s request_id=%s why=\"%s\"", job->name, job->rid, why);
    sched__progress (self, job->name, job->target[0] ? job->target : NULL, SCHED_PHASE_FAILED,
                     (uint64_t) (zclock_mono () - job->t0), false, "%s", why);
    self->creates_failed++;
    shed_api_call_t *call;
    while ((call = (shed_api_call_t *) zlistx_detach (c->calls, NULL)))
        shed_api_reply_error (&call, code, "%s", why);
    s_create_over (self, c);
}

static bool s_succeed_existing (void *arg, sc_job_t *job);

static const sc_env_t *
s_env (shed_sched_t *self)
{
    return &self->env;
}

/* The machine places right after the name was granted: that is the
 * "reserved" phase of the create's progress. */
static size_t
s_env_place (void *arg, const sc_job_t *job, char cand[][REC_NAME_MAX + 1], size_t max,
             char *explain, size_t explain_size)
{
    sched__progress ((shed_sched_t *) arg, job->name, NULL, SCHED_PHASE_RESERVED,
                     (uint64_t) (zclock_mono () - job->t0), false, "name reserved (coordinator %s)",
                     job->coordinator);
    return s_place (arg, job, cand, max, explain, explain_size);
}

void
sched__jobs_init (shed_sched_t *self)
{
    self->env =
        (sc_env_t){ self,           s_now,        s_coordinator,  s_is_self,   s_peer_status,
                    s_send_reserve, s_send_claim, s_send_release, s_env_place, s_succeed_existing,
                    s_succeed,      s_fail };
}

/* NAMES_DONE, or a create whose request id made a shed already. */
static bool
s_succeed_existing (void *arg, sc_job_t *job)
{
    shed_sched_t *self = (shed_sched_t *) arg;
    s_sheds_t sheds;
    sched__sheds_load (self, &sheds, false);
    int i = sched__sheds_by_rid (&sheds, job->rid);
    if (i >= 0) {
        sc_step (job, s_env (self), "already created on %s (same request id)",
                 sheds.items[i].origin);
        job->phase = SC_DONE;
        s_succeed (self, job, &sheds.items[i].m, sheds.items[i].origin,
                   "already created (same request id): nothing done");
    }
    sched__sheds_free (&sheds);
    return i >= 0;
}

bool
sched__create_answer_existing (shed_sched_t *self, s_create_t *c)
{
    return s_succeed_existing (self, &c->job);
}

void
sched__create_start (shed_sched_t *self, s_create_t *c)
{
    c->job.user = c;
    zhashx_insert (self->jobs, c->job.rid, c);
    log_info (S_COMP, "create|shed=%s request_id=%s cpus_milli=%" PRIu64 " memory_mb=%" PRIu64,
              c->job.name, c->job.rid, c->job.cpus_milli, c->job.memory_mb);
    sc_start (&c->job, s_env (self));
}

void
sched__create_free_fn (void **item)
{
    s_create_t *c = (s_create_t *) *item;
    if (c) {
        /* Calls still held get an answer: never leave a client hanging. */
        shed_api_call_t *call;
        while (c->calls && (call = (shed_api_call_t *) zlistx_detach (c->calls, NULL)))
            shed_api_reply_error (&call, API_ERR_UNAVAILABLE, "node shutting down");
        zlistx_destroy (&c->calls);
        free (c);
        *item = NULL;
    }
}

/* ---- results of our requests ----------------------------------------------------- */

static void
s_on_call_result (shed_sched_t *self, s_pending_t *p, bool decoded, const nsched_msg_t *rep,
                  const char *error)
{
    shed_api_call_t *call = p->call;
    p->call = NULL;
    if (!decoded || rep->hdr.type != NSCHED_RESULT)
        shed_api_reply_error (&call, API_ERR_UNAVAILABLE,
                              "%s %s: %s did not answer: %s (membership: %s): outcome unknown: "
                              "check with `shedctl show %s` or retry with --request-id %s",
                              p->op, p->name, p->peer, error && *error ? error : "bad reply",
                              sched__peer_status (self, p->peer), p->name, p->rid);
    else if (!rep->u.nsched_result.ok)
        shed_api_reply_error (&call, API_ERR_INVALID, "%s: %s", p->peer, rep->u.nsched_result.why);
    else if (!rep->u.nsched_result.shed.len) {
        api_msg_t ok = { .hdr.type = API_OK };
        snprintf (ok.u.api_ok.message, sizeof ok.u.api_ok.message, "done on %s", p->peer);
        shed_api_reply (&call, &ok);
    }
    else {
        rec_msg_t rec;
        if (wire_decode (&rec_proto, rep->u.nsched_result.shed.data, rep->u.nsched_result.shed.len,
                         &rec, NULL)
                != WIRE_OK
            || rec.hdr.type != REC_SHED)
            shed_api_reply_error (&call, API_ERR_INTERNAL, "%s: bad shed record", p->peer);
        else {
            api_step_t step = { 0 };
            snprintf (step.text, sizeof step.text, "%s on %s", rec.u.rec_shed.state, p->peer);
            step.ms = (uint64_t) (zclock_mono () - p->t0);
            sched__reply_shed (self, &call, &rec, p->peer, &step, 1, NULL);
        }
        wire_msg_free (&rec_proto, &rec);
    }
}

void
sched__on_result (shed_sched_t *self, s_pending_t *p, int status, const char *error,
                  const uint8_t *body, size_t len)
{
    nsched_msg_t rep;
    memset (&rep, 0, sizeof rep);
    bool decoded =
        status == RPC_OK && body && wire_decode (&nsched_proto, body, len, &rep, NULL) == WIRE_OK;
    if (p->type == P_JOB) {
        s_create_t *c = (s_create_t *) zhashx_lookup (self->jobs, p->rid);
        if (!c)
            ; /* answered already */
        else if (!p->claim) {
            const nsched_reserve_rep_t *r = &rep.u.nsched_reserve_rep;
            bool ok = decoded && rep.hdr.type == NSCHED_RESERVE_REP;
            sc_reserve_answer_t ans = { ok, error, ok ? (names_verdict_t) r->verdict : 0,
                                        ok ? r->node : NULL, ok ? r->why : NULL };
            if (decoded && !ok)
                sc_on_claim (&c->job, s_env (self), p->seq, p->peer,
                             &(sc_claim_answer_t){ .answered = true, .why = "out of protocol" });
            else
                sc_on_reserve (&c->job, s_env (self), p->seq, p->peer, &ans);
        }
        else {
            const nsched_result_t *r = &rep.u.nsched_result;
            bool ok = decoded && rep.hdr.type == NSCHED_RESULT;
            rec_msg_t rec;
            memset (&rec, 0, sizeof rec);
            bool have =
                ok && r->ok
                && wire_decode (&rec_proto, r->shed.data, r->shed.len, &rec, NULL) == WIRE_OK
                && rec.hdr.type == REC_SHED;
            if (ok && r->ok && !have) {
                c->job.phase = SC_DONE;
                s_fail (self, &c->job, API_ERR_INTERNAL, "claim answered with a bad shed record");
            }
            else {
                sc_claim_answer_t ans = { ok,
                                          error,
                                          ok && r->ok,
                                          ok && r->admitted,
                                          ok ? r->why : NULL,
                                          ok ? r->create_ms : 0,
                                          ok ? r->start_ms : 0,
                                          have ? &rec : NULL,
                                          have ? rec.u.rec_shed.state : NULL };
                sc_on_claim (&c->job, s_env (self), p->seq, p->peer, &ans);
            }
            if (ok && r->ok)
                wire_msg_free (&rec_proto, &rec);
        }
    }
    else if (p->type == P_CALL && p->call) /* NULL: answered at its deadline already */
        s_on_call_result (self, p, decoded, &rep, error);
    if (decoded)
        wire_msg_free (&nsched_proto, &rep);
}

/* ---- deadlines and membership news -------------------------------------------------- */

/* An API call waiting on a peer is answered by its deadline, whatever the
 * RPC layer does: the one place that makes "every call answers" true. */
int
sched__on_deadline (zloop_t *loop, int timer_id, void *arg)
{
    (void) loop;
    (void) timer_id;
    shed_sched_t *self = arg;
    zlistx_purge (self->over); /* creates that ended: no machine is running now */
    int64_t now = zclock_mono ();
    zlistx_t *late = zlistx_new ();
    zlistx_set_destructor (late, sched__free_fn);
    for (s_create_t *c = (s_create_t *) zhashx_first (self->jobs); c;
         c = (s_create_t *) zhashx_next (self->jobs))
        if (c->job.deadline && c->job.deadline <= now)
            zlistx_add_end (late, strdup (c->job.rid));
    for (const char *rid = (const char *) zlistx_first (late); rid;
         rid = (const char *) zlistx_next (late)) {
        s_create_t *c = (s_create_t *) zhashx_lookup (self->jobs, rid);
        if (c)
            sc_on_deadline (&c->job, s_env (self));
    }
    zlistx_destroy (&late);
    for (s_pending_t *p = (s_pending_t *) zlistx_first (self->pending); p;
         p = (s_pending_t *) zlistx_next (self->pending))
        if (p->type == P_CALL && p->call && p->deadline && p->deadline <= now) {
            shed_api_reply_error (&p->call, API_ERR_UNAVAILABLE,
                                  "%s %s: %s did not answer within %" PRIu64 " ms (membership: "
                                  "%s): outcome unknown: check with `shedctl show %s` or retry "
                                  "with --request-id %s",
                                  p->op, p->name, p->peer, p->timeout_ms,
                                  sched__peer_status (self, p->peer), p->name, p->rid);
            p->call = NULL; /* the late result is dropped */
        }
    return 0;
}

/* Membership suspects `peer` (or declared it failed/gone): a create whose
 * coordinator it is asks the next one now; with `failed`, a claim or op
 * waiting on it is answered now as outcome unknown (it may have acted
 * before it went silent). */
void
sched__peer_trouble (shed_sched_t *self, const char *peer, bool failed)
{
    zlistx_t *rids = zlistx_new ();
    zlistx_set_destructor (rids, sched__free_fn);
    for (s_create_t *c = (s_create_t *) zhashx_first (self->jobs); c;
         c = (s_create_t *) zhashx_next (self->jobs))
        zlistx_add_end (rids, strdup (c->job.rid));
    for (const char *rid = (const char *) zlistx_first (rids); rid;
         rid = (const char *) zlistx_next (rids)) {
        s_create_t *c = (s_create_t *) zhashx_lookup (self->jobs, rid);
        if (!c)
            continue;
        if (c->job.phase == SC_RESERVE && streq (c->job.coordinator, peer))
            log_info (S_COMP, "name coordinator suspected, failing over|shed=%s coordinator=%s",
                      c->job.name, peer);
        sc_on_peer_trouble (&c->job, s_env (self), peer, failed);
    }
    zlistx_destroy (&rids);
    if (!failed)
        return;
    for (s_pending_t *p = (s_pending_t *) zlistx_first (self->pending); p;
         p = (s_pending_t *) zlistx_next (self->pending))
        if (p->type == P_CALL && p->call && streq (p->peer, peer)) {
            shed_api_reply_error (&p->call, API_ERR_UNAVAILABLE,
                                  "%s %s: %s failed before it answered: outcome unknown: check "
                                  "with `shedctl show %s` or retry with --request-id %s",
                                  p->op, p->name, peer, p->name, p->rid);
            p->call = NULL;
        }
}

/* ---- ops routed to a shed's node ------------------------------------------------------ */

void
sched__route_call (shed_sched_t *self, shed_api_call_t *call, const char *node,
                   const nsched_msg_t *msg, const char *op, const char *name, const char *rid,
                   uint64_t timeout_ms)
{
    s_pending_t *p = sched__pending_new (self, P_CALL);
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
    sched__send (self, node, "op", msg, (int) timeout_ms, p);
}
