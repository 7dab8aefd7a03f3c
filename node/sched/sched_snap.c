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
    if (driver_worker_submit (self->worker, &job, S_SNAP_TIMEOUT_MS) != 0) {
        free (job);
        free (w);
        snprintf (err, errlen, "the node is shutting down");
        return -1;
    }
    zhashx_update (self->busy, name, w);
    return 0;
}

void
sched__snap_done (shed_sched_t *self, s_work_t *w, driver_job_t *job, driver_job_event_t ev)
{
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
        if (driver_worker_submit (self->worker, &job, S_DRIVER_TIMEOUT_MS) == 0)
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
    if (self->hooks.layer_fetch (self->hooks.layer_arg, c->snapshot, c->snapshot_node,
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
