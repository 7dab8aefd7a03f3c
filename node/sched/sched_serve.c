/* sched_serve.c - requests served here (sched_int.h): a peer's over node
 * RPC or our own by a direct call, answered now (reserve, release, drain,
 * refusals) or later (a claim or op waits for the driver worker; a claim
 * that comes before our address block settled waits for it). The driver's
 * side of claims and ops is in sched_driver.c. */
#include "node/sched/sched_int.h"
#include "common/fileutil.h"
#include "node/overlay/ipam.h"

#include "cluster/placement.h"
#include "common/log.h"
#include "node/drivers/tc.h"

#include <errno.h>
#include <inttypes.h>
#include <string.h>

/* A claim held until our address block settles (S_DEFER_POLL_MS). */
typedef struct {
    uint8_t *req; /* the encoded NSCHED_CLAIM, owned */
    size_t len;
    char origin[REC_NAME_MAX + 1];
    s_answer_t ans;   /* owned */
    int64_t deadline; /* mono ms: then one last try that may fail */
} s_deferred_t;

/* What s_serve_claim and s_serve_op did. */
typedef enum { S_NOW, S_LATER, S_DEFER } s_served_t;

/* ---- answers -------------------------------------------------------------- */

void
sched__answer (shed_sched_t *self, s_answer_t *ans, int rc, const uint8_t *rep, size_t len)
{
    if (ans->local) {
        s_pending_t *p = ans->local;
        ans->local = NULL;
        sched__on_result (self, p, rc == 0 ? RPC_OK : RPC_ERR_REFUSED, "cannot serve", rep, len);
        sched__pending_free (&p);
    }
    else if (rc == 0)
        shed_nrpc_reply (self->rpc, ans->token, RPC_OK, NULL, rep, len);
    else
        shed_nrpc_reply (self->rpc, ans->token, 1, "malformed request", NULL, 0);
}

void
sched__work_answer (shed_sched_t *self, s_work_t *w, const nsched_result_t *res)
{
    if (w->nans == 0)
        return;
    nsched_msg_t rep = { .hdr.type = NSCHED_RESULT };
    rep.u.nsched_result = *res; /* blobs borrowed for the encode */
    uint8_t *buf = NULL;
    size_t len = 0;
    int rc = sched__encode (&nsched_proto, &rep, &buf, &len);
    for (size_t i = 0; i < w->nans; i++)
        sched__answer (self, &w->ans[i], rc, buf, len);
    w->nans = 0;
    free (buf);
}

void
sched__result_shed (nsched_result_t *res, const rec_msg_t *rec, uint8_t **blob)
{
    size_t len = 0;
    if (sched__encode (&rec_proto, rec, blob, &len) == 0) {
        res->shed.data = *blob;
        res->shed.len = len;
    }
}

/* ---- claims ---------------------------------------------------------------- */

/* The limits this node puts on every shed (driver.pids_max, io_*_bps,
 * net_rate): the claim carries only what placement counts. The text was
 * checked when the config was loaded; a parse failure would mean "no
 * limit". */
static void
s_spec_node_limits (shed_sched_t *self, driver_spec_t *spec)
{
    const shed_config_t *cfg = self->cfg;
    spec->pids_max = cfg->driver.pids_max;
    uint64_t v = 0;
    if (cfg->driver.io_read_bps[0]
        && placement_size_parse (cfg->driver.io_read_bps, S_MIB, &v) == 0)
        spec->io_read_bps = v;
    v = 0;
    if (cfg->driver.io_write_bps[0]
        && placement_size_parse (cfg->driver.io_write_bps, S_MIB, &v) == 0)
        spec->io_write_bps = v;
    v = 0;
    if (cfg->driver.net_rate[0] && tc_rate_parse (cfg->driver.net_rate, &v) == 0)
        spec->net_kbit = v;
}

/* Admit, take an address, write the record `starting`, hand create+start
 * to the worker (S_LATER: `ans` taken). S_NOW: answered in res. S_DEFER
 * (only with may_defer): the address block has not settled, nothing was
 * changed. */
static s_served_t
s_serve_claim (shed_sched_t *self, const nsched_claim_t *c, nsched_result_t *res, uint8_t **blob,
               s_answer_t *ans, bool may_defer)
{
    s_work_t *busy = (s_work_t *) zhashx_lookup (self->busy, c->name);
    rec_msg_t own;
    if (sched__own_get (self, c->name, &own)) {
        bool same = streq (own.u.rec_shed.request_id, c->request_id);
        if (same && busy && busy->type == W_CLAIM && sched__work_wait (busy, ans)) {
            /* The same create again while it runs: wait with it. */
            wire_msg_free (&rec_proto, &own);
            return S_LATER;
        }
        if (same) {
            /* The same create again (a retried claim): what we have. */
            res->ok = true;
            res->admitted = true;
            sched__result_shed (res, &own, blob);
        }
        else
            snprintf (res->why, sizeof res->why, "a shed named %s already runs here", c->name);
        wire_msg_free (&rec_proto, &own);
        return S_NOW;
    }
    if (busy) {
        /* A failed create of that name is still being undone. */
        snprintf (res->why, sizeof res->why, "shed %s is busy here (%s in progress)", c->name,
                  sched__work_what (busy));
        return S_NOW;
    }
    if (!self->driver) {
        snprintf (res->why, sizeof res->why, "no driver: %s", self->driver_error);
        return S_NOW;
    }
    if (c->repo[0] && !driver_clones_repo (self->driver)) {
        /* Not admitted: the next candidate may have a driver that does. */
        snprintf (res->why, sizeof res->why,
                  "the %s driver does not clone repositories (--repo needs shed-server)",
                  driver_name (self->driver));
        return S_NOW;
    }
    place_resources_t need = { { c->cpus_milli, c->memory_mb * S_MIB, c->disk_mb * S_MIB,
                                 c->gpus } };
    char why[256] = "";
    sched_admit_rc_t rc =
        sched_admit_claim (self->admit, c->request_id, c->name, &need, why, sizeof why);
    if (rc < 0) {
        snprintf (res->why, sizeof res->why, "%s", why[0] ? why : sched_admit_strerror (rc));
        return S_NOW;
    }
    res->admitted = true;
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
    /* A moved shed keeps its age and counts the move (names_wins). */
    r->created_ms = c->created_ms ? c->created_ms : sched__wall_ms ();
    r->moves = c->moves;
    r->tags.n = c->tags.n;
    r->tags.items = c->tags.items; /* borrowed for encoding */
    snprintf (r->driver, sizeof r->driver, "%s", driver_name (self->driver));

    driver_job_t *job = driver_job_new (DRIVER_JOB_CREATE, c->name);
    s_work_t *w = sched__work_new (W_CLAIM, c->name, c->request_id);
    if (!job || !w) {
        free (job);
        free (w);
        sched_admit_release (self->admit, c->name);
        snprintf (res->why, sizeof res->why, "out of memory");
        return S_NOW;
    }
    driver_spec_t *spec = &job->spec;
    job->replace = true; /* left over from a create a crash interrupted */
    snprintf (spec->name, sizeof spec->name, "%s", c->name);
    spec->cpus_milli = (uint32_t) c->cpus_milli;
    spec->memory_mb = c->memory_mb;
    spec->disk_mb = c->disk_mb;
    s_spec_node_limits (self, spec);
    snprintf (spec->image, sizeof spec->image, "%s", c->image);
    snprintf (spec->repo, sizeof spec->repo, "%s", c->repo);
    if (self->hooks.net_attach) {
        char ip[46] = "", mac[18] = "", gw[46] = "", err[256] = "";
        int prefix = 0;
        unsigned mtu = 0;
        errno = 0;
        int arc = c->move_ip[0] && self->hooks.net_attach_addr
                      ? self->hooks.net_attach_addr (self->hooks.net_arg, c->name, c->move_ip, ip,
                                                     mac, gw, &prefix, &mtu, err, sizeof err)
                      : self->hooks.net_attach (self->hooks.net_arg, c->name, ip, mac, gw, &prefix,
                                                &mtu, err, sizeof err);
        if (arc != 0) {
            /* The overlay's block claim settles shortly after start. */
            bool wait = errno == EAGAIN && may_defer;
            sched_admit_release (self->admit, c->name);
            res->admitted = false;
            snprintf (res->why, sizeof res->why, "no overlay address: %s", err);
            free (job);
            free (w);
            return wait ? S_DEFER : S_NOW;
        }
        snprintf (spec->ip, sizeof spec->ip, "%s/%d", ip, prefix);
        snprintf (spec->mac, sizeof spec->mac, "%s", mac);
        snprintf (spec->gateway, sizeof spec->gateway, "%s", gw);
        spec->mtu = mtu; /* the overlay's inner MTU, for both veth ends */
        snprintf (r->ip, sizeof r->ip, "%s", ip);
        snprintf (r->mac, sizeof r->mac, "%s", mac);
        sched__progress (self, c->name, self->name, SCHED_PHASE_NETWORK, 0, false,
                         "address %s/%d, gateway %s, mtu %u", ip, prefix, gw, mtu);
    }
    const char *bridge = self->hooks.net_bridge ? self->hooks.net_bridge (self->hooks.net_arg)
                                                : self->cfg->driver.bridge;
    snprintf (spec->bridge, sizeof spec->bridge, "%s", bridge ? bridge : "");
    sched__fmt (spec->agent_path, sizeof spec->agent_path, "%s", self->cfg->driver.agent_path);
    sched__agent_socket (self, c->name, spec->agent_socket, sizeof spec->agent_socket);
    /* Others see it starting; the name is then held by a shed record. */
    sched__own_put (self, &rec);
    w->t0 = zclock_mono ();
    job->ctx = w;
    if (c->snapshot[0]) {
        /* Its data first (maybe from another node), then the driver. */
        char fwhy[NSCHED_WHY_MAX + 1] = "";
        if (sched__claim_fetch (self, c, job, w, fwhy, sizeof fwhy) != 0) {
            sched__claim_undo (self, w, false, fwhy);
            res->admitted = true;
            snprintf (res->why, sizeof res->why, "%s", fwhy);
            return S_NOW;
        }
        sched__work_wait (w, ans);
        zhashx_update (self->busy, c->name, w);
        return S_LATER;
    }
    if (driver_worker_submit (self->worker, &job, sched__driver_timeout (self, job->op)) != 0) {
        free (job);
        sched__claim_undo (self, w, false, "the node is shutting down");
        res->admitted = true;
        snprintf (res->why, sizeof res->why, "the node is shutting down");
        return S_NOW;
    }
    /* Attached after the submit: the result comes through the loop. */
    sched__work_wait (w, ans);
    zhashx_update (self->busy, c->name, w);
    return S_LATER;
}

/* ---- drain, kept in <data_dir>/drain ----------------------------------------- */

/* A drained node must stay drained across a restart (an operator drains to
 * empty a node for maintenance; the restart is often part of it). The file
 * always exists once drain or undrain was asked: "1" or "0", written
 * atomically, so a crash leaves the old answer or the new one. */
static void
s_drain_path (const shed_sched_t *self, char *path, size_t size)
{
    sched__fmt (path, size, "%s/drain", self->cfg->data_dir);
}

static int
s_drain_save (const shed_sched_t *self, bool draining, char *why, size_t whylen)
{
    char path[PATH_MAX];
    s_drain_path (self, path, sizeof path);
    if (shed_write_file_atomic (path, draining ? "1\n" : "0\n", 2, 0600) != 0) {
        sched__fmt (why, whylen, "cannot record the drain in %s: %s", path, strerror (errno));
        return -1;
    }
    return 0;
}

bool
sched__drain_load (const shed_sched_t *self)
{
    char path[PATH_MAX];
    s_drain_path (self, path, sizeof path);
    size_t len = 0;
    char *text = shed_read_file (path, 64, &len);
    if (!text) {
        if (errno != ENOENT)
            log_warn (S_COMP, "cannot read the drain state, not draining|path=%s err=\"%s\"", path,
                      strerror (errno));
        return false;
    }
    bool draining = text[0] == '1';
    free (text);
    return draining;
}

/* ---- operations -------------------------------------------------------------- */

static s_served_t
s_serve_op (shed_sched_t *self, const nsched_op_t *op, nsched_result_t *res, uint8_t **blob,
            s_answer_t *ans)
{
    if (op->op == NSCHED_OP_DRAIN || op->op == NSCHED_OP_UNDRAIN) {
        bool draining = op->op == NSCHED_OP_DRAIN;
        /* Recorded first: a drain the node would forget at its next start
         * is refused rather than half done. */
        if (s_drain_save (self, draining, res->why, sizeof res->why) != 0) {
            log_error (S_COMP, "%s", res->why);
            return S_NOW;
        }
        self->draining = draining;
        sched_admit_set_draining (self->admit, self->draining);
        sched__publish_node (self);
        log_info (S_COMP, "%s", self->draining ? "draining: no new sheds" : "undrained");
        res->ok = true;
        return S_NOW;
    }
    if (op->op == NSCHED_OP_FORGET) {
        char key[2 * REC_NAME_MAX + 2];
        snprintf (key, sizeof key, "%s/%s", op->node, op->name);
        zhashx_delete (self->lost, key);
        res->ok = true;
        return S_NOW;
    }
    rec_msg_t rec;
    if (!sched__own_get (self, op->name, &rec)) {
        snprintf (res->why, sizeof res->why, "no shed named %s on %s", op->name, self->name);
        return S_NOW;
    }
    s_work_t *busy = (s_work_t *) zhashx_lookup (self->busy, op->name);
    if (!self->driver || busy) {
        if (busy)
            snprintf (res->why, sizeof res->why,
                      "shed %s is busy (%s in progress): try again "
                      "when it is done",
                      op->name, sched__work_what (busy));
        else
            snprintf (res->why, sizeof res->why, "no driver: %s", self->driver_error);
        sched__result_shed (res, &rec, blob);
        wire_msg_free (&rec_proto, &rec);
        return S_NOW;
    }
    driver_job_op_t jop = op->op == NSCHED_OP_START  ? DRIVER_JOB_START
                          : op->op == NSCHED_OP_STOP ? DRIVER_JOB_STOP
                                                     : DRIVER_JOB_REMOVE;
    driver_job_t *job = driver_job_new (jop, op->name);
    s_work_t *w = sched__work_new (W_OP, op->name, rec.u.rec_shed.request_id);
    wire_msg_free (&rec_proto, &rec);
    if (!job || !w) {
        free (job);
        free (w);
        snprintf (res->why, sizeof res->why, "out of memory");
        return S_NOW;
    }
    w->op = op->op;
    w->t0 = zclock_mono ();
    if (op->op == NSCHED_OP_START)
        sched__agent_add (self, op->name); /* listening before the shed dials */
    job->ctx = w;
    if (driver_worker_submit (self->worker, &job, sched__driver_timeout (self, job->op)) != 0) {
        free (job);
        free (w);
        snprintf (res->why, sizeof res->why, "the node is shutting down");
        return S_NOW;
    }
    sched__work_wait (w, ans);
    zhashx_update (self->busy, op->name, w);
    return S_LATER;
}

/* ---- one request ----------------------------------------------------------- */

static void s_defer (shed_sched_t *self, const char *origin, const nsched_msg_t *req,
                     s_answer_t *ans, int64_t deadline);

/* defer_until: 0 = a claim may wait for the address block (from now),
 * > 0 = it may wait until then, < 0 = it may not wait. */
static int
s_serve_ex (shed_sched_t *self, const char *origin, const nsched_msg_t *req, uint8_t **rep_out,
            size_t *rep_len, s_answer_t *ans, int64_t defer_until)
{
    nsched_msg_t rep;
    memset (&rep, 0, sizeof rep);
    uint8_t *blob = NULL;
    s_served_t served = S_NOW;
    bool may_defer = defer_until == 0 || (defer_until > 0 && zclock_mono () < defer_until);
    if (self->closing)
        return -1; /* no state writes any more: "cannot serve" */
    switch (req->hdr.type) {
    case NSCHED_RESERVE:
        rep.hdr.type = NSCHED_RESERVE_REP;
        sched__serve_reserve (self, origin, &req->u.nsched_reserve, &rep.u.nsched_reserve_rep);
        break;
    case NSCHED_RELEASE:
        rep.hdr.type = NSCHED_RESULT;
        sched__serve_release (self, &req->u.nsched_release);
        rep.u.nsched_result.ok = true;
        break;
    case NSCHED_CLAIM:
        rep.hdr.type = NSCHED_RESULT;
        served =
            s_serve_claim (self, &req->u.nsched_claim, &rep.u.nsched_result, &blob, ans, may_defer);
        break;
    case NSCHED_OP:
        rep.hdr.type = NSCHED_RESULT;
        served = s_serve_op (self, &req->u.nsched_op, &rep.u.nsched_result, &blob, ans);
        break;
    default:
        return -1;
    }
    if (served == S_DEFER) {
        free (blob);
        s_defer (self, origin, req, ans, defer_until > 0 ? defer_until : 0);
        return 1;
    }
    if (served == S_LATER) {
        free (blob);
        return 1;
    }
    int rc = sched__encode (&nsched_proto, &rep, rep_out, rep_len);
    free (blob);
    return rc;
}

int
sched__serve (shed_sched_t *self, const char *origin, const nsched_msg_t *req, uint8_t **rep_out,
              size_t *rep_len, s_answer_t *ans)
{
    return s_serve_ex (self, origin, req, rep_out, rep_len, ans, 0);
}

/* A peer's request for one of the scheduler's methods (node_rpc.h). */
void
sched__serve_rpc (shed_nrpc_t *rpc, const char *peer, uint64_t token, const uint8_t *body,
                  size_t len, void *arg)
{
    shed_sched_t *self = (shed_sched_t *) arg;
    nsched_msg_t req;
    if (wire_decode (&nsched_proto, body, len, &req, NULL) != WIRE_OK) {
        shed_nrpc_reply (rpc, token, 1, "malformed request", NULL, 0);
        return;
    }
    uint8_t *rep = NULL;
    size_t rlen = 0;
    s_answer_t ans = { token, NULL };
    int rc = sched__serve (self, peer, &req, &rep, &rlen, &ans);
    if (rc == 0)
        shed_nrpc_reply (rpc, token, RPC_OK, NULL, rep, rlen);
    else if (rc < 0)
        shed_nrpc_reply (rpc, token, 1, "unsupported request", NULL, 0);
    wire_msg_free (&nsched_proto, &req);
    free (rep);
}

/* ---- deferred claims ------------------------------------------------------- */

static int s_on_defer (zloop_t *loop, int timer_id, void *arg);

/* Hold a claim until our address block settles; takes `ans`. deadline 0:
 * the settle time from now. */
static void
s_defer (shed_sched_t *self, const char *origin, const nsched_msg_t *req, s_answer_t *ans,
         int64_t deadline)
{
    s_deferred_t *d = (s_deferred_t *) zmalloc (sizeof (s_deferred_t));
    if (sched__encode (&nsched_proto, req, &d->req, &d->len) != 0) {
        sched__answer (self, ans, -1, NULL, 0);
        free (d);
        return;
    }
    snprintf (d->origin, sizeof d->origin, "%s", origin);
    d->ans = *ans;
    ans->local = NULL;
    if (!deadline) {
        uint32_t settle =
            self->cfg->network.settle_ms ? self->cfg->network.settle_ms : IPAM_SETTLE_MS_DEFAULT;
        deadline = zclock_mono () + (int64_t) settle + S_DEFER_MARGIN_MS;
        self->claims_deferred++;
        log_debug (S_COMP, "claim waits for the address block|origin=%s", origin);
    }
    d->deadline = deadline;
    zlistx_add_end (self->deferred, d);
    if (self->defer_timer < 0 && self->loop)
        self->defer_timer = zloop_timer (self->loop, S_DEFER_POLL_MS, 0, s_on_defer, self);
}

static void
s_deferred_free (s_deferred_t **d_p)
{
    if (*d_p) {
        free ((*d_p)->req);
        sched__pending_free (&(*d_p)->ans.local);
        free (*d_p);
        *d_p = NULL;
    }
}

static int
s_on_defer (zloop_t *loop, int timer_id, void *arg)
{
    shed_sched_t *self = arg;
    /* Take the list: serving may defer again (a new entry). */
    zlistx_t *todo = self->deferred;
    self->deferred = zlistx_new ();
    int64_t now = zclock_mono ();
    s_deferred_t *d;
    while ((d = (s_deferred_t *) zlistx_detach (todo, NULL))) {
        nsched_msg_t req;
        uint8_t *rep = NULL;
        size_t len = 0;
        int rc = -1;
        if (wire_decode (&nsched_proto, d->req, d->len, &req, NULL) == WIRE_OK) {
            rc = s_serve_ex (self, d->origin, &req, &rep, &len, &d->ans,
                             now < d->deadline ? d->deadline : -1);
            wire_msg_free (&nsched_proto, &req);
        }
        if (rc != 1)
            sched__answer (self, &d->ans, rc, rep, len);
        s_deferred_free (&d);
        free (rep);
    }
    zlistx_destroy (&todo);
    if (zlistx_size (self->deferred) == 0) {
        zloop_timer_end (loop, timer_id);
        self->defer_timer = -1;
    }
    return 0;
}

/* At shutdown: a peer gets an answer; ours belong to jobs, which answer
 * their callers themselves. */
void
sched__deferred_flush (shed_sched_t *self)
{
    s_deferred_t *d;
    while (self->deferred && (d = (s_deferred_t *) zlistx_detach (self->deferred, NULL))) {
        if (!d->ans.local)
            shed_nrpc_reply (self->rpc, d->ans.token, 1, "node shutting down", NULL, 0);
        s_deferred_free (&d);
    }
    zlistx_destroy (&self->deferred);
    if (self->defer_timer >= 0 && self->loop)
        zloop_timer_end (self->loop, self->defer_timer);
    self->defer_timer = -1;
}
