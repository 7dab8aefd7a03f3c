/* sched_api.c - the scheduler's API handlers (sched_int.h): create, list,
 * show, op (start, stop, delete), drain. Reads are local (the state's
 * mirror); anything a peer must do is routed (sched_jobs.c). */
#include "node/sched/sched_int.h"

#include "common/log.h"

#include <inttypes.h>
#include <sodium.h>
#include <string.h>

typedef struct {
    const char *name;
    rec_msg_t rec;
    bool found;
} s_snap_find_t;

static void
s_snap_find (const shed_record_t *r, void *arg)
{
    s_snap_find_t *f = (s_snap_find_t *) arg;
    if (f->found || strcmp (r->key, f->name) != 0 || strcmp (r->status, "alive") != 0)
        return;
    if (wire_decode (&rec_proto, r->value, r->len, &f->rec, NULL) != WIRE_OK)
        return;
    if (f->rec.hdr.type == REC_SNAPSHOT && streq (f->rec.u.rec_snapshot.node, r->origin))
        f->found = true;
    else
        wire_msg_free (&rec_proto, &f->rec);
}

/* A create from a snapshot: what the request leaves out comes from the
 * snapshot's record (image, resources, tags); the claim carries where its
 * data is. false (answered) when there is no such snapshot. */
static bool
s_create_from_snapshot (shed_sched_t *self, shed_api_call_t **call,
                        const api_shed_create_req_t *req, sc_job_t *job)
{
    s_snap_find_t f = { .name = req->snapshot };
    shed_nstate_list (self->state, REC_KIND_SNAPSHOT, s_snap_find, &f);
    if (!f.found) {
        shed_api_reply_error (call, API_ERR_NOT_FOUND,
                              "no snapshot named %s on a reachable node (shedctl snapshot list)",
                              req->snapshot);
        return false;
    }
    const rec_snapshot_t *s = &f.rec.u.rec_snapshot;
    snprintf (job->snapshot, sizeof job->snapshot, "%s", s->name);
    snprintf (job->snapshot_node, sizeof job->snapshot_node, "%s", s->node);
    snprintf (job->snapshot_digest, sizeof job->snapshot_digest, "%s", s->digest);
    job->snapshot_size = s->size;
    if (!req->image[0])
        snprintf (job->image, sizeof job->image, "%s", s->image);
    if (!req->cpus_milli && s->cpus_milli)
        job->cpus_milli = s->cpus_milli;
    if (!req->memory_mb && s->memory_mb)
        job->memory_mb = s->memory_mb;
    if (!req->disk_mb)
        job->disk_mb = s->disk_mb;
    if (!req->gpus)
        job->gpus = s->gpus;
    wire_msg_free (&rec_proto, &f.rec);
    return true;
}

static void
s_api_create (shed_api_call_t *call, const api_msg_t *msg, void *arg)
{
    shed_sched_t *self = arg;
    const api_shed_create_req_t *req = &msg->u.api_shed_create_req;
    char why[256];
    if (!names_valid (req->name, why, sizeof why)) {
        shed_api_reply_error (&call, API_ERR_INVALID, "%s", why);
        return;
    }
    for (const char *p = req->repo; *p; p++)
        if ((unsigned char) *p < 0x21 || (unsigned char) *p > 0x7e) {
            /* It goes into a backend's request: one printable word. */
            shed_api_reply_error (&call, API_ERR_INVALID,
                                  "repo: white space or a byte outside printable ASCII "
                                  "at offset %zu",
                                  (size_t) (p - req->repo));
            return;
        }
    s_create_t *c = (s_create_t *) zmalloc (sizeof (s_create_t));
    c->t0_ns = shed_hist_now_ns ();
    sc_job_t *job = &c->job;
    job->t0 = zclock_mono ();
    job->timeout_ms = req->timeout_ms ? req->timeout_ms : S_DEADLINE_CREATE_MS;
    if (job->timeout_ms > S_DEADLINE_MAX_MS)
        job->timeout_ms = S_DEADLINE_MAX_MS;
    job->deadline = job->t0 + (int64_t) job->timeout_ms;
    job->claim_timeout_ms = self->cfg->scheduler.claim_timeout_ms;
    job->max_attempts = self->cfg->scheduler.max_attempts;
    snprintf (job->name, sizeof job->name, "%s", req->name);
    job->cpus_milli = req->cpus_milli ? req->cpus_milli : 1000;
    job->memory_mb = req->memory_mb ? req->memory_mb : 512;
    job->disk_mb = req->disk_mb;
    job->gpus = req->gpus;
    snprintf (job->pin, sizeof job->pin, "%s", req->node);
    snprintf (job->image, sizeof job->image, "%s", req->image);
    snprintf (job->repo, sizeof job->repo, "%s", req->repo);
    const char *strategy = req->strategy[0] ? req->strategy : self->cfg->scheduler.strategy;
    if (!strcmp (strategy, "spread"))
        job->strategy = PLACE_SPREAD;
    else if (!*strategy || !strcmp (strategy, "binpack"))
        job->strategy = PLACE_BINPACK;
    else {
        free (c);
        shed_api_reply_error (&call, API_ERR_INVALID, "unknown strategy '%s' (binpack or spread)",
                              strategy);
        return;
    }
    for (size_t i = 0; i < req->constraints.n && i < PLACE_CONSTRAINTS_MAX; i++)
        if (placement_constraint_parse (req->constraints.items[i].text,
                                        &job->constraints[job->nconstraints++], why, sizeof why)) {
            free (c);
            shed_api_reply_error (&call, API_ERR_INVALID, "constraint '%s': %s",
                                  req->constraints.items[i].text, why);
            return;
        }
    for (size_t i = 0; i < req->tags.n && i < SC_TAGS_MAX; i++)
        job->tags[job->ntags++] = req->tags.items[i];
    if (req->snapshot[0] && !s_create_from_snapshot (self, &call, req, job)) {
        free (c);
        return;
    }
    if (req->request_id[0])
        snprintf (job->rid, sizeof job->rid, "%s", req->request_id);
    else
        sched__fmt (job->rid, sizeof job->rid, "%s-%" PRIu64 "-%08x", self->name, ++self->counter,
                    randombytes_random ());
    /* The same request in progress here: wait with it. */
    s_create_t *running = (s_create_t *) zhashx_lookup (self->jobs, job->rid);
    if (running) {
        free (c);
        zlistx_add_end (running->calls, call);
        return;
    }
    c->calls = zlistx_new ();
    zlistx_add_end (c->calls, call);
    job->user = c;
    /* Done before (anywhere): answer with it. */
    if (sched__create_answer_existing (self, c))
        return;
    sched__create_start (self, c);
}

static void
s_api_list (shed_api_call_t *call, const api_msg_t *msg, void *arg)
{
    shed_sched_t *self = arg;
    const char *node = msg->u.api_shed_list_req.node;
    s_sheds_t v;
    sched__sheds_load (self, &v, true);
    bool *dup = sched__sheds_dups (&v);
    api_shed_t *items = calloc (v.n + 1, sizeof *items);
    assert (items);
    size_t n = 0;
    for (size_t i = 0; i < v.n; i++) {
        if (*node && strcmp (node, v.items[i].origin))
            continue;
        sched__api_shed_fill (&items[n++], &v.items[i], dup[i],
                              dup[i] ? sched__sheds_winner (&v, v.items[i].m.u.rec_shed.name)
                                     : NULL);
    }
    api_msg_t rep = { .hdr.type = API_SHED_LIST_REP };
    rep.u.api_shed_list_rep.sheds.n = n;
    rep.u.api_shed_list_rep.sheds.items = items;
    shed_api_reply (&call, &rep);
    free (items);
    free (dup);
    sched__sheds_free (&v);
}

/* Find the shed a reference means. Returns its index, or -1 with a reason
 * (code in *code). */
static int
s_resolve (s_sheds_t *v, const char *ref, char *why, size_t size, api_err_code_t *code)
{
    char name[REC_NAME_MAX + 1], node[REC_NAME_MAX + 1];
    sched__split_ref (ref, name, node);
    int found = -1, count = 0;
    char where[256] = "";
    for (size_t i = 0; i < v->n; i++) {
        if (strcmp (v->items[i].m.u.rec_shed.name, name))
            continue;
        if (*node && strcmp (v->items[i].origin, node))
            continue;
        if (found < 0 || (!v->items[i].lost && v->items[found].lost))
            found = (int) i;
        count++;
        size_t used = strlen (where);
        snprintf (where + used, sizeof where - used, "%s%s", used ? ", " : "", v->items[i].origin);
    }
    if (found < 0) {
        *code = API_ERR_NOT_FOUND;
        snprintf (why, size, "no shed named %s%s%s", name, *node ? " on " : "", node);
        return -1;
    }
    if (count > 1) {
        *code = API_ERR_INVALID;
        snprintf (why, size, "%d sheds are named %s (on %s): say which, e.g. %s@%s", count, name,
                  where, name, v->items[found].origin);
        return -1;
    }
    return found;
}

static void
s_api_show (shed_api_call_t *call, const api_msg_t *msg, void *arg)
{
    shed_sched_t *self = arg;
    s_sheds_t v;
    sched__sheds_load (self, &v, true);
    bool *dup = sched__sheds_dups (&v);
    char why[256];
    api_err_code_t code = API_ERR_NOT_FOUND;
    char name[REC_NAME_MAX + 1], node[REC_NAME_MAX + 1];
    sched__split_ref (msg->u.api_shed_show_req.name, name, node);
    int i = s_resolve (&v, msg->u.api_shed_show_req.name, why, sizeof why, &code);
    if (i < 0 && code == API_ERR_INVALID && !*node) {
        /* Duplicates: show the one that keeps the name, and say so. */
        const s_shed_t *w = sched__sheds_winner (&v, name);
        i = w ? (int) (w - v.items) : -1;
    }
    if (i < 0)
        shed_api_reply_error (&call, code, "%s", why);
    else {
        api_shed_t item;
        sched__api_shed_fill (&item, &v.items[i], dup[i],
                              sched__sheds_winner (&v, v.items[i].m.u.rec_shed.name));
        if (!dup[i] && code == API_ERR_INVALID)
            snprintf (item.note, sizeof item.note,
                      "duplicate name: other sheds named %s exist (shedctl list); this one "
                      "keeps the name",
                      name);
        api_msg_t rep = { .hdr.type = API_SHED_REP };
        rep.u.api_shed_rep.shed.n = 1;
        rep.u.api_shed_rep.shed.items = &item;
        shed_api_reply (&call, &rep);
    }
    free (dup);
    sched__sheds_free (&v);
}

static void
s_api_op (shed_api_call_t *call, const api_msg_t *msg, void *arg)
{
    shed_sched_t *self = arg;
    const api_shed_op_req_t *req = &msg->u.api_shed_op_req;
    const char *opname = req->op == API_SHED_OP_START  ? "start"
                         : req->op == API_SHED_OP_STOP ? "stop"
                                                       : "delete";
    char rid[65];
    if (req->request_id[0])
        snprintf (rid, sizeof rid, "%s", req->request_id);
    else
        sched__fmt (rid, sizeof rid, "%s-op-%" PRIu64 "-%08x", self->name, ++self->counter,
                    randombytes_random ());
    s_opdone_t *done = req->request_id[0] ? (s_opdone_t *) zhashx_lookup (self->ops, rid) : NULL;
    s_sheds_t v;
    sched__sheds_load (self, &v, true);
    char why[256];
    api_err_code_t code;
    int i = s_resolve (&v, req->name, why, sizeof why, &code);
    if (i < 0 && done && done->op == req->op && req->op == API_SHED_OP_DELETE
        && code == API_ERR_NOT_FOUND) {
        /* A retried delete whose first attempt went through (its answer
         * was lost or came after the deadline): done, not "no such shed". */
        api_msg_t ok = { .hdr.type = API_OK };
        snprintf (ok.u.api_ok.message, sizeof ok.u.api_ok.message,
                  "%s already deleted on %s (same request id %s): nothing done", done->name,
                  done->node, rid);
        shed_api_reply (&call, &ok);
        sched__sheds_free (&v);
        return;
    }
    if (i < 0) {
        shed_api_reply_error (&call, code, "%s", why);
        sched__sheds_free (&v);
        return;
    }
    const s_shed_t *sh = &v.items[i];
    if (sh->lost) {
        if (req->op == API_SHED_OP_DELETE && req->force) {
            /* Every node remembers lost sheds on its own: tell them all
             * (fire and forget: FORGET is idempotent, and the reply says
             * how many were told, not how many answered). */
            nsched_msg_t m = { .hdr.type = NSCHED_OP };
            m.u.nsched_op.op = NSCHED_OP_FORGET;
            snprintf (m.u.nsched_op.name, sizeof m.u.nsched_op.name, "%s", sh->m.u.rec_shed.name);
            snprintf (m.u.nsched_op.node, sizeof m.u.nsched_op.node, "%s", sh->origin);
            const char *names[1024];
            size_t n = sched__alive_names (self, names, 1024);
            for (size_t k = 0; k < n; k++)
                sched__fire (self, names[k], "op", &m);
            api_msg_t ok = { .hdr.type = API_OK };
            snprintf (ok.u.api_ok.message, sizeof ok.u.api_ok.message,
                      "told %zu node%s to forget lost shed %s (was on %s)", n, n == 1 ? "" : "s",
                      sh->m.u.rec_shed.name, sh->origin);
            shed_api_reply (&call, &ok);
        }
        else
            shed_api_reply_error (&call, API_ERR_INVALID,
                                  "cannot %s %s: its node %s is gone (lost); "
                                  "'shedctl delete --force %s@%s' forgets it",
                                  opname, sh->m.u.rec_shed.name, sh->origin, sh->m.u.rec_shed.name,
                                  sh->origin);
        sched__sheds_free (&v);
        return;
    }
    if (streq (sh->status, "unreachable")) {
        shed_api_reply_error (&call, API_ERR_UNAVAILABLE,
                              "cannot %s %s: its node %s is unreachable", opname,
                              sh->m.u.rec_shed.name, sh->origin);
        sched__sheds_free (&v);
        return;
    }
    nsched_msg_t m = { .hdr.type = NSCHED_OP };
    m.u.nsched_op.op = req->op == API_SHED_OP_START  ? NSCHED_OP_START
                       : req->op == API_SHED_OP_STOP ? NSCHED_OP_STOP
                                                     : NSCHED_OP_DELETE;
    snprintf (m.u.nsched_op.name, sizeof m.u.nsched_op.name, "%s", sh->m.u.rec_shed.name);
    char node[REC_NAME_MAX + 1];
    snprintf (node, sizeof node, "%s", sh->origin);
    sched__sheds_free (&v);
    if (req->request_id[0] && !done && zhashx_size (self->ops) < S_OPS_MAX) {
        s_opdone_t *d = (s_opdone_t *) zmalloc (sizeof (s_opdone_t));
        assert (d);
        snprintf (d->name, sizeof d->name, "%s", m.u.nsched_op.name);
        snprintf (d->node, sizeof d->node, "%s", node);
        d->op = req->op;
        d->at_ms = sched__wall_ms ();
        zhashx_insert (self->ops, rid, d);
    }
    sched__route_call (self, call, node, &m, opname, m.u.nsched_op.name, rid, req->timeout_ms);
}

static void
s_api_drain (shed_api_call_t *call, const api_msg_t *msg, void *arg)
{
    shed_sched_t *self = arg;
    const api_node_drain_req_t *req = &msg->u.api_node_drain_req;
    const char *node = req->node[0] ? req->node : self->name;
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
    sched__route_call (self, call, node, &m, req->drain ? "drain" : "undrain", node, "(none)", 0);
}

void
sched__api_register (shed_sched_t *self)
{
    shed_api_server_on (self->api, API_SHED_CREATE_REQ, s_api_create, self);
    shed_api_server_on (self->api, API_SHED_LIST_REQ, s_api_list, self);
    shed_api_server_on (self->api, API_SHED_SHOW_REQ, s_api_show, self);
    shed_api_server_on (self->api, API_SHED_OP_REQ, s_api_op, self);
    shed_api_server_on (self->api, API_NODE_DRAIN_REQ, s_api_drain, self);
}
