/* sched_snap.c - the scheduler's part in snapshots (docs/snapshots.md):
 * a snapshot of one of our sheds runs on the driver worker like any other
 * driver call (the shed is busy meanwhile), and a claim from a snapshot
 * fetches the snapshot's data (node/snapshots/node_snaps.c, through the
 * layer_fetch hook) before the driver's create. */
#include "node/sched/sched_int.h"

#include "common/log.h"

#include <stdlib.h>
#include <string.h>

#define S_COMP            "sched"
/* A live snapshot freezes the shed for as long as its layer takes to
 * write: minutes for a large layer, so its own timeout, not the 25 s of a
 * create or stop. */
#define S_SNAP_TIMEOUT_MS (30 * 60 * 1000)

int
shed_sched_snapshot (shed_sched_t *self, const char *name, const char *path, int mode,
                     shed_snap_done_fn *cb, void *arg, char *err, size_t errlen)
{
    rec_msg_t own;
    if (!sched__own_get (self, name, &own)) {
        snprintf (err, errlen, "shed %s does not run on node %s", name, self->name);
        return -1;
    }
    wire_msg_free (&rec_proto, &own);
    s_work_t *busy = (s_work_t *) zhashx_lookup (self->busy, name);
    if (busy) {
        snprintf (err, errlen, "shed %s is busy (%s in progress)", name, sched__work_what (busy));
        return -1;
    }
    if (!self->driver || !self->worker) {
        snprintf (err, errlen, "no driver: %s", self->driver_error);
        return -1;
    }
    driver_job_t *job = driver_job_new (DRIVER_JOB_SNAPSHOT, name);
    s_work_t *w = sched__work_new (W_SNAP, name, "");
    if (!job || !w) {
        free (job);
        free (w);
        snprintf (err, errlen, "out of memory");
        return -1;
    }
    snprintf (job->path, sizeof job->path, "%s", path);
    job->snap_mode = mode ? DRIVER_SNAP_STOP : DRIVER_SNAP_LIVE;
    w->snap_cb = cb;
    w->snap_arg = arg;
    w->t0 = zclock_mono ();
    job->ctx = w;
    if (mode == SHED_SCHED_SNAP_MOVE) {
        /* Stop first; the capture follows on the same worker (sched__snap_done). */
        snprintf (w->snap_path, sizeof w->snap_path, "%s", path);
        w->snap_stop_first = true;
        job->op = DRIVER_JOB_STOP;
        sched__agent_remove (self, name);
    }
    if (driver_worker_submit (self->worker, &job, S_SNAP_TIMEOUT_MS) != 0) {
        free (job);
        free (w);
        snprintf (err, errlen, "the node is shutting down");
        return -1;
    }
    zhashx_update (self->busy, name, w);
    return 0;
}

bool
shed_sched_shed (shed_sched_t *self, const char *name, rec_msg_t *out)
{
    return sched__own_get (self, name, out);
}

/* Our record's state (the owner's one write). */
static void
s_set_state (shed_sched_t *self, const char *name, const char *state, const char *error)
{
    rec_msg_t rec;
    if (!sched__own_get (self, name, &rec))
        return;
    snprintf (rec.u.rec_shed.state, sizeof rec.u.rec_shed.state, "%s", state);
    snprintf (rec.u.rec_shed.error, sizeof rec.u.rec_shed.error, "%s", error ? error : "");
    sched__own_put (self, &rec);
    wire_msg_free (&rec_proto, &rec);
}

void
sched__snap_done (shed_sched_t *self, s_work_t *w, driver_job_t *job, driver_job_event_t ev)
{
    if (w->snap_stop_first && job->op == DRIVER_JOB_STOP && ev != DRIVER_JOB_TIMEOUT) {
        /* A move's stop is done: the record says so, then the capture. */
        w->snap_stop_first = false;
        if (job->rc == 0 && !self->closing) {
            s_set_state (self, w->name, "stopped", NULL);
            driver_job_t *snap = driver_job_new (DRIVER_JOB_SNAPSHOT, w->name);
            if (snap) {
                snprintf (snap->path, sizeof snap->path, "%s", w->snap_path);
                snap->snap_mode = DRIVER_SNAP_STOP;
                snap->ctx = w;
                if (driver_worker_submit (self->worker, &snap, S_SNAP_TIMEOUT_MS) == 0)
                    return;
                free (snap);
            }
        }
        if (!w->answered)
            w->snap_cb (job->rc ? job->rc : DRIVER_ERR_UNAVAILABLE,
                        job->rc ? job->err.message : "the node is shutting down", 0, job->ms, NULL,
                        w->snap_arg);
        w->answered = true;
        sched__work_done (self, w);
        return;
    }
    if (ev == DRIVER_JOB_TIMEOUT) {
        if (!w->answered) {
            char why[NSCHED_WHY_MAX + 1];
            sched__fmt (why, sizeof why, "snapshot of %s did not finish within %d s", w->name,
                        S_SNAP_TIMEOUT_MS / 1000);
            w->snap_cb (DRIVER_ERR_TIMEOUT, why, 0, job->ms, NULL, w->snap_arg);
        }
        w->answered = true; /* the call goes on; its end frees w */
        return;
    }
    if (!w->answered) {
        rec_msg_t own;
        bool have = !self->closing && sched__own_get (self, w->name, &own);
        w->snap_cb (job->rc, job->rc ? job->err.message : "", job->bytes, job->ms,
                    have ? &own.u.rec_shed : NULL, w->snap_arg);
        if (have)
            wire_msg_free (&rec_proto, &own);
    }
    sched__work_done (self, w);
}

/* ---- moves --------------------------------------------------------------------- */

size_t
shed_sched_candidates (shed_sched_t *self, const rec_shed_t *need, const char *exclude,
                       char cand[][REC_NAME_MAX + 1], size_t max, char *explain,
                       size_t explain_size)
{
    sc_job_t job;
    memset (&job, 0, sizeof job);
    job.cpus_milli = need->cpus_milli;
    job.memory_mb = need->memory_mb;
    job.disk_mb = need->disk_mb;
    job.gpus = need->gpus;
    snprintf (job.image, sizeof job.image, "%s", need->image);
    job.strategy = PLACE_SPREAD;
    char all[PLACE_CANDIDATES_MAX][REC_NAME_MAX + 1];
    size_t n = sched__place (self, &job, all, PLACE_CANDIDATES_MAX, explain, explain_size);
    size_t k = 0;
    for (size_t i = 0; i < n && k < max; i++)
        if (!exclude || !streq (all[i], exclude))
            snprintf (cand[k++], REC_NAME_MAX + 1, "%s", all[i]);
    if (k == 0 && n > 0)
        snprintf (explain, explain_size, "no node but %s has room for it", exclude);
    return k;
}

/* A driver job for our shed `name` with a work of its own (no waiter),
 * the name busy until it ends. false when it could not be queued. */
static bool
s_submit (shed_sched_t *self, s_wtype_t type, uint64_t op, driver_job_op_t jop, const char *name)
{
    s_work_t *w = sched__work_new (type, name, "");
    driver_job_t *job = driver_job_new (jop, name);
    if (!w || !job) {
        free (w);
        free (job);
        return false;
    }
    w->op = op;
    job->ctx = w;
    if (driver_worker_submit (self->worker, &job, sched__driver_timeout (self, job->op)) != 0) {
        free (job);
        free (w);
        return false;
    }
    zhashx_update (self->busy, name, w);
    return true;
}

void
sched__moved_away (shed_sched_t *self, const char *name, const char *to)
{
    rec_msg_t own;
    if (!sched__own_get (self, name, &own))
        return;
    wire_msg_free (&rec_proto, &own);
    if (zhashx_lookup (self->busy, name))
        return; /* a call runs on it; the next record event comes back here */
    /* The address went with it: lent, not freed (the overlay frees it when
     * no node holds it any more). */
    sched__agent_remove (self, name);
    if (self->hooks.net_lend)
        self->hooks.net_lend (self->hooks.net_arg, name);
    else if (self->hooks.net_detach)
        self->hooks.net_detach (self->hooks.net_arg, name);
    sched_admit_release (self->admit, name);
    sched__own_delete (self, name);
    sched__publish_node (self);
    log_info (S_COMP, "moved away|shed=%s to=%s", name, to);
    s_submit (self, W_UNDO, 0, DRIVER_JOB_REMOVE, name);
}

typedef struct {
    shed_sched_t *sched;
    const char *name;
    uint64_t ours;
    char by[REC_NAME_MAX + 1];
} s_superseded_t;

static void
s_superseded_one (const shed_record_t *rec, void *arg)
{
    s_superseded_t *s = (s_superseded_t *) arg;
    if (s->by[0] || !streq (rec->key, s->name) || streq (rec->origin, s->sched->name)
        || !streq (rec->status, "alive"))
        return;
    rec_msg_t m;
    if (wire_decode (&rec_proto, rec->value, rec->len, &m, NULL) != WIRE_OK)
        return;
    if (m.hdr.type == REC_SHED && sched__shed_moves (&m.u.rec_shed) > s->ours)
        snprintf (s->by, sizeof s->by, "%s", rec->origin);
    wire_msg_free (&rec_proto, &m);
}

void
sched__check_superseded (shed_sched_t *self, const char *name)
{
    rec_msg_t own;
    if (!sched__own_get (self, name, &own))
        return;
    s_superseded_t s = { self, name, own.u.rec_shed.moves, "" };
    wire_msg_free (&rec_proto, &own);
    shed_nstate_list (self->state, REC_KIND_SHED, s_superseded_one, &s);
    if (s.by[0]) {
        log_warn (S_COMP, "stale copy of a moved shed|shed=%s here=%s moved_to=%s action=removed",
                  name, self->name, s.by);
        sched__moved_away (self, name, s.by);
    }
}

static void
s_orphan_add (void *arg, const char *name)
{
    shed_sched_t *self = (shed_sched_t *) arg;
    rec_msg_t own;
    if (sched__own_get (self, name, &own)) {
        wire_msg_free (&rec_proto, &own);
        return;
    }
    zhashx_update (self->orphans, name, (void *) "1");
}

typedef struct {
    shed_sched_t *sched;
    const char *name;
    char by[REC_NAME_MAX + 1];
} s_runs_t;

static void
s_runs_one (const shed_record_t *rec, void *arg)
{
    s_runs_t *s = (s_runs_t *) arg;
    if (s->by[0] || !streq (rec->key, s->name) || streq (rec->origin, s->sched->name)
        || !streq (rec->status, "alive"))
        return;
    rec_msg_t m;
    if (wire_decode (&rec_proto, rec->value, rec->len, &m, NULL) != WIRE_OK)
        return;
    if (m.hdr.type == REC_SHED
        && (streq (m.u.rec_shed.state, "running") || streq (m.u.rec_shed.state, "stopped")))
        snprintf (s->by, sizeof s->by, "%s", rec->origin);
    wire_msg_free (&rec_proto, &m);
}

void
sched__orphan_check (shed_sched_t *self, const char *name)
{
    rec_msg_t own;
    if (sched__own_get (self, name, &own)) {
        /* Ours again (a create of that name here): not an orphan. */
        wire_msg_free (&rec_proto, &own);
        zhashx_delete (self->orphans, name);
        return;
    }
    s_runs_t s = { self, name, "" };
    shed_nstate_list (self->state, REC_KIND_SHED, s_runs_one, &s);
    if (!s.by[0] || zhashx_lookup (self->busy, name))
        return;
    char key[REC_NAME_MAX + 1];
    snprintf (key, sizeof key, "%s", name);
    zhashx_delete (self->orphans, key);
    /* The name runs on another node and nothing here claims it: what the
     * driver holds is the leftover of a move (this node died before its
     * end) or of a claim undone while it was down. */
    log_warn (S_COMP, "leftover of a shed that runs elsewhere|shed=%s runs_on=%s action=removed",
              key, s.by);
    s_submit (self, W_UNDO, 0, DRIVER_JOB_REMOVE, key);
}

void
sched__orphans_scan (shed_sched_t *self)
{
    if (!self->driver)
        return;
    /* A readdir of the driver's state (driver.h list): quick, at start. */
    driver_list (self->driver, s_orphan_add, self, NULL);
    zlistx_t *names = zhashx_keys (self->orphans);
    for (const char *n = (const char *) zlistx_first (names); n;
         n = (const char *) zlistx_next (names)) {
        log_info (S_COMP, "held by the driver without a record|shed=%s", n);
        sched__orphan_check (self, n);
    }
    zlistx_destroy (&names);
}

void
shed_sched_move_end (shed_sched_t *self, const char *name, bool moved, const char *to)
{
    if (moved) {
        sched__moved_away (self, name, to);
        return;
    }
    /* Not moved: it runs here again. */
    if (s_submit (self, W_OP, NSCHED_OP_START, DRIVER_JOB_START, name))
        sched__agent_add (self, name);
}

/* ---- claims from a snapshot ------------------------------------------------------ */

typedef struct {
    shed_sched_t *sched;
    driver_job_t *job;
    s_work_t *w;
} s_fetch_t;

static void
s_fetched (void *ctx, int rc, const char *path, const char *why)
{
    s_fetch_t *f = (s_fetch_t *) ctx;
    shed_sched_t *self = f->sched;
    driver_job_t *job = f->job;
    s_work_t *w = f->w;
    free (f);
    char reason[NSCHED_WHY_MAX + 1];
    if (rc == 0 && !self->closing) {
        snprintf (job->spec.layer, sizeof job->spec.layer, "%s", path);
        log_info (S_COMP, "snapshot data ready|shed=%s layer=%s", w->name, path);
        if (driver_worker_submit (self->worker, &job, sched__driver_timeout (self, job->op)) == 0)
            return; /* the create goes on as any other */
        sched__fmt (reason, sizeof reason, "the node is shutting down");
    }
    else
        sched__fmt (reason, sizeof reason, "snapshot data: %s",
                    self->closing ? "the node is shutting down" : why);
    free (job);
    if (self->closing) {
        sched__work_done (self, w);
        return;
    }
    sched__claim_undo (self, w, false, reason);
}

int
sched__claim_fetch (shed_sched_t *self, const nsched_claim_t *c, driver_job_t *job, s_work_t *w,
                    char *why, size_t whylen)
{
    if (!self->hooks.layer_fetch) {
        free (job);
        snprintf (why, whylen, "node %s does not serve snapshots", self->name);
        return -1;
    }
    s_fetch_t *f = (s_fetch_t *) calloc (1, sizeof *f);
    if (!f) {
        free (job);
        snprintf (why, whylen, "out of memory");
        return -1;
    }
    f->sched = self;
    f->job = job;
    f->w = w;
    char err[256] = "";
    if (self->hooks.layer_fetch (self->hooks.layer_arg, c->name, c->snapshot, c->snapshot_node,
                                 c->snapshot_digest, c->snapshot_size, s_fetched, f, err,
                                 sizeof err)
        != 0) {
        free (f);
        free (job);
        snprintf (why, whylen, "snapshot %s: %s", c->snapshot, err);
        return -1;
    }
    return 0;
}
