/* sched_driver.c - the driver's side of claims, ops and re-adoption
 * (sched_int.h): every driver call runs on the worker (driver_worker.h);
 * here its results come back on the loop, records follow, and whoever waits
 * is answered (docs/scheduling.md, "Driver calls off the loop").
 *
 * A call that outlives its timeout is answered as such at TIMEOUT; its late
 * result is reconciled when it comes: a late create or start that worked is
 * undone (its caller was told it failed and may have gone on to another
 * node), a late op's record follows what really happened. */
#include "node/sched/sched_int.h"

#include "common/log.h"

#include <inttypes.h>
#include <string.h>

/* ---- work items ---------------------------------------------------------- */

s_work_t *
sched__work_new (s_wtype_t type, const char *name, const char *rid)
{
    s_work_t *w = (s_work_t *) calloc (1, sizeof *w);
    if (!w)
        return NULL;
    w->type = type;
    snprintf (w->name, sizeof w->name, "%s", name);
    snprintf (w->rid, sizeof w->rid, "%s", rid ? rid : "");
    return w;
}

bool
sched__work_wait (s_work_t *w, s_answer_t *ans)
{
    if (!ans || w->nans >= S_WAITERS_MAX)
        return false;
    w->ans[w->nans++] = *ans;
    ans->local = NULL;
    return true;
}

const char *
sched__work_what (const s_work_t *w)
{
    switch (w->type) {
    case W_CLAIM:
        return w->starting ? "start" : "create";
    case W_OP:
        return w->op == NSCHED_OP_START ? "start" : w->op == NSCHED_OP_STOP ? "stop" : "delete";
    case W_UNDO:
        return "undo of a failed create";
    case W_READOPT:
        return "re-adoption";
    case W_SNAP:
        return "snapshot";
    }
    return "?";
}

static void
s_work_done (shed_sched_t *self, s_work_t *w)
{
    if (zhashx_lookup (self->busy, w->name) == w)
        zhashx_delete (self->busy, w->name);
    free (w);
}

void
sched__work_done (shed_sched_t *self, s_work_t *w)
{
    s_work_done (self, w);
}

/* Answer the waiters with a failure (admitted: after admission). */
static void
s_answer_fail (shed_sched_t *self, s_work_t *w, bool admitted, const char *why)
{
    nsched_result_t res;
    memset (&res, 0, sizeof res);
    res.admitted = admitted;
    snprintf (res.why, sizeof res.why, "%s", why);
    sched__work_answer (self, w, &res);
}

/* ---- agent channel hooks ----------------------------------------------------- */

/* Where the node listens for a shed's agent: below the shed's directory,
 * where the driver puts it (container: chan/agent.sock, bound into the
 * shed; the others: agent.sock). */
void
sched__agent_socket (shed_sched_t *self, const char *name, char *out, size_t size)
{
    sched__fmt (out, size, "%s/sheds/%s/%s", self->cfg->data_dir, name,
                self->driver ? driver_agent_socket_name (self->driver) : "agent.sock");
}

void
sched__agent_add (shed_sched_t *self, const char *name)
{
    if (!self->hooks.agent_add)
        return;
    char base[DRIVER_PATH_MAX], sock[DRIVER_PATH_MAX + 16], err[256];
    sched__agent_socket (self, name, base, sizeof base);
    /* Where the driver's shed connects to: the socket itself for netns,
     * <uds_path>_1026 for a Firecracker vsock. */
    sched__fmt (sock, sizeof sock, "%s%s", base,
                self->driver ? driver_agent_suffix (self->driver) : "");
    if (self->hooks.agent_add (self->hooks.agent_arg, name, sock, err, sizeof err))
        log_warn (S_COMP, "no agent channel|shed=%s err=\"%s\"", name, err);
}

void
sched__agent_remove (shed_sched_t *self, const char *name)
{
    if (self->hooks.agent_remove)
        self->hooks.agent_remove (self->hooks.agent_arg, name);
}

int
sched__driver_timeout (shed_sched_t *self, driver_job_op_t op)
{
    int slow = driver_slow_timeout (self->driver);
    if ((op == DRIVER_JOB_CREATE || op == DRIVER_JOB_START) && slow > S_DRIVER_TIMEOUT_MS)
        return slow;
    return S_DRIVER_TIMEOUT_MS;
}

/* ---- claims -------------------------------------------------------------------- */

void
sched__claim_undo (shed_sched_t *self, s_work_t *w, bool remove, const char *why)
{
    /* Nothing half-made stays behind: resources, address and record go. */
    if (self->hooks.net_detach)
        self->hooks.net_detach (self->hooks.net_arg, w->name);
    sched_admit_release (self->admit, w->name);
    sched__own_delete (self, w->name);
    sched__publish_node (self);
    log_warn (S_COMP, "create failed|shed=%s err=\"%s\"", w->name, why);
    if (!w->answered)
        s_answer_fail (self, w, true, why);
    w->answered = true;
    if (!remove) {
        s_work_done (self, w);
        return;
    }
    /* The name stays busy until the driver has removed what it made, so a
     * new create of it cannot be removed by this one's undo. */
    sched__agent_remove (self, w->name);
    w->type = W_UNDO;
    driver_job_t *job = driver_job_new (DRIVER_JOB_REMOVE, w->name);
    if (job) {
        job->ctx = w;
        if (driver_worker_submit (self->worker, &job, sched__driver_timeout (self, job->op)) == 0) {
            zhashx_update (self->busy, w->name, w);
            return;
        }
        free (job);
    }
    s_work_done (self, w);
}

static void
s_claim_done (shed_sched_t *self, s_work_t *w, driver_job_t *job, driver_job_event_t ev)
{
    bool late = ev == DRIVER_JOB_LATE;
    if (!w->starting) {
        w->create_ms = job->ms;
        if (job->rc != 0) {
            sched__claim_undo (self, w, false, job->err.message);
            return;
        }
        if (w->answered) {
            /* Created after its caller was told it failed: undo. */
            log_warn (S_COMP, "driver create finished late: undone|shed=%s ms=%" PRIu64, w->name,
                      job->ms);
            sched__claim_undo (self, w, true, "the driver's create finished after its timeout");
            return;
        }
        sched__progress (self, w->name, self->name, SCHED_PHASE_ROOTFS,
                         (uint64_t) (zclock_mono () - w->t0), false,
                         "root file system and %s runtime ready (%" PRIu64 " ms)",
                         driver_name (self->driver), job->ms);
        sched__agent_add (self, w->name);
        w->starting = true;
        if (job->running) {
            /* The backend's create started it (Shed): a start would only
             * hear "already running". */
            s_claim_done (self, w, job, ev);
            return;
        }
        driver_job_t *start = driver_job_new (DRIVER_JOB_START, w->name);
        if (start) {
            start->ctx = w;
            if (driver_worker_submit (self->worker, &start, sched__driver_timeout (self, start->op))
                == 0)
                return;
            free (start);
        }
        sched__claim_undo (self, w, true, "cannot start: the node is shutting down");
        return;
    }
    w->start_ms = job->op == DRIVER_JOB_START ? job->ms : 0; /* 0: the create started it */
    if (job->rc != 0 || w->answered) {
        if (late && job->rc == 0)
            log_warn (S_COMP, "driver start finished late: undone|shed=%s ms=%" PRIu64, w->name,
                      job->ms);
        sched__claim_undo (self, w, true,
                           job->rc ? job->err.message
                                   : "the driver's start finished after its timeout");
        return;
    }
    rec_msg_t rec;
    if (!sched__own_get (self, w->name, &rec)) {
        /* Cannot happen while the name is busy; say so rather than crash. */
        sched__claim_undo (self, w, true, "the shed's record went missing during its create");
        return;
    }
    snprintf (rec.u.rec_shed.state, sizeof rec.u.rec_shed.state, "running");
    sched__own_put (self, &rec);
    sched__publish_node (self);
    bool agent = sched__agent_expected (self);
    sched__progress (self, w->name, self->name, SCHED_PHASE_STARTED,
                     (uint64_t) (zclock_mono () - w->t0), agent, "started (%" PRIu64 " ms)%s",
                     w->start_ms, agent ? ", waiting for its agent" : "");
    nsched_result_t res;
    memset (&res, 0, sizeof res);
    res.ok = true;
    res.admitted = true;
    res.create_ms = w->create_ms;
    res.start_ms = w->start_ms;
    uint8_t *blob = NULL;
    sched__result_shed (&res, &rec, &blob);
    sched__work_answer (self, w, &res);
    free (blob);
    log_info (S_COMP, "shed running|shed=%s request_id=%s create_ms=%" PRIu64 " start_ms=%" PRIu64,
              w->name, w->rid, w->create_ms, w->start_ms);
    wire_msg_free (&rec_proto, &rec);
    s_work_done (self, w);
}

/* ---- operations ------------------------------------------------------------------ */

static void
s_op_done (shed_sched_t *self, s_work_t *w, driver_job_t *job, driver_job_event_t ev)
{
    if (ev == DRIVER_JOB_LATE)
        log_warn (S_COMP,
                  "driver %s finished after its timeout: record follows|shed=%s rc=%d "
                  "ms=%" PRIu64,
                  sched__work_what (w), w->name, job->rc, job->ms);
    nsched_result_t res;
    memset (&res, 0, sizeof res);
    uint8_t *blob = NULL;
    rec_msg_t rec;
    if (!sched__own_get (self, w->name, &rec)) {
        snprintf (res.why, sizeof res.why, "no shed named %s on %s", w->name, self->name);
        sched__work_answer (self, w, &res);
        s_work_done (self, w);
        return;
    }
    rec_shed_t *r = &rec.u.rec_shed;
    int drc = job->rc;
    if (w->op == NSCHED_OP_START)
        snprintf (r->state, sizeof r->state, "%s", drc ? "error" : "running");
    else if (w->op == NSCHED_OP_STOP) {
        sched__agent_remove (self, r->name);
        snprintf (r->state, sizeof r->state, "%s", drc ? "error" : "stopped");
    }
    else {
        if (drc == DRIVER_ERR_NOT_FOUND)
            drc = 0; /* nothing there: the record goes anyway */
        if (drc == 0) {
            sched__agent_remove (self, r->name);
            if (self->hooks.net_detach)
                self->hooks.net_detach (self->hooks.net_arg, r->name);
            sched_admit_release (self->admit, r->name);
            sched__own_delete (self, r->name);
            sched__publish_node (self);
            res.ok = true;
            snprintf (r->state, sizeof r->state, "deleted");
            sched__result_shed (&res, &rec, &blob);
            sched__work_answer (self, w, &res);
            free (blob);
            wire_msg_free (&rec_proto, &rec);
            s_work_done (self, w);
            return;
        }
    }
    snprintf (r->error, sizeof r->error, "%s", drc ? job->err.message : "");
    sched__own_put (self, &rec);
    if (drc)
        snprintf (res.why, sizeof res.why, "%s", job->err.message);
    else
        res.ok = true;
    sched__result_shed (&res, &rec, &blob);
    sched__work_answer (self, w, &res);
    free (blob);
    wire_msg_free (&rec_proto, &rec);
    s_work_done (self, w);
}

/* ---- re-adoption after a restart --------------------------------------------------- */

static void
s_readopt_done (shed_sched_t *self, s_work_t *w, driver_job_t *job)
{
    rec_msg_t m;
    if (!sched__own_get (self, w->name, &m)) {
        s_work_done (self, w);
        return;
    }
    rec_shed_t *r = &m.u.rec_shed;
    bool want_running = streq (w->was, "running") || streq (w->was, "starting");
    if (!w->starting && r->moves > 0 && streq (w->was, "starting")
        && (job->rc != 0 || job->status.state == DRIVER_ST_ABSENT)) {
        /* A move here that this node's crash cut short: the shed still runs
         * where it came from (its node started it again), so nothing here
         * is kept, not even an error record that would outrank it. */
        log_warn (S_COMP, "re-adopted: an interrupted move is dropped|shed=%s moves=%" PRIu64,
                  r->name, r->moves);
        if (self->hooks.net_detach)
            self->hooks.net_detach (self->hooks.net_arg, r->name);
        sched_admit_release (self->admit, r->name);
        sched__own_delete (self, r->name);
        sched__publish_node (self);
        wire_msg_free (&rec_proto, &m);
        s_work_done (self, w);
        return;
    }
    if (w->starting) {
        snprintf (r->state, sizeof r->state, "%s", job->rc ? "error" : "running");
        snprintf (r->error, sizeof r->error, "%s", job->rc ? job->err.message : "");
    }
    else if (job->rc != 0 || job->status.state == DRIVER_ST_ABSENT) {
        snprintf (r->state, sizeof r->state, "error");
        sched__fmt (r->error, sizeof r->error, "not found by the %s driver after a restart%s%s",
                    driver_name (self->driver), job->rc ? ": " : "",
                    job->rc ? job->err.message : "");
    }
    else if (want_running && job->status.state != DRIVER_ST_RUNNING) {
        /* It should run and does not (host reboot, crash mid-create). */
        w->starting = true;
        driver_job_t *start = driver_job_new (DRIVER_JOB_START, w->name);
        if (start) {
            start->ctx = w;
            if (driver_worker_submit (self->worker, &start, sched__driver_timeout (self, start->op))
                == 0) {
                wire_msg_free (&rec_proto, &m);
                return;
            }
            free (start);
        }
        snprintf (r->state, sizeof r->state, "error");
        snprintf (r->error, sizeof r->error, "not restarted: the node is shutting down");
    }
    else
        snprintf (r->state, sizeof r->state, "%s",
                  job->status.state == DRIVER_ST_RUNNING ? "running" : "stopped");
    if (streq (r->state, "running"))
        sched__agent_add (self, r->name);
    log_info (S_COMP, "re-adopted|shed=%s was=%s now=%s", r->name, w->was, r->state);
    sched__own_put (self, &m);
    wire_msg_free (&rec_proto, &m);
    char name[REC_NAME_MAX + 1];
    snprintf (name, sizeof name, "%s", w->name);
    s_work_done (self, w);
    /* Down while it moved away: the copy that runs elsewhere wins. */
    sched__check_superseded (self, name);
}

typedef struct {
    char (*names)[REC_NAME_MAX + 1];
    size_t n, cap;
    const char *self;
} s_names_t;

static void
s_collect_own (const shed_record_t *rec, void *arg)
{
    s_names_t *v = arg;
    if (strcmp (rec->origin, v->self) || v->n == v->cap)
        return;
    snprintf (v->names[v->n++], REC_NAME_MAX + 1, "%s", rec->key);
}

void
sched__readopt (shed_sched_t *self)
{
    s_names_t v = { NULL, 0, 4096, self->name };
    v.names = calloc (v.cap, sizeof *v.names);
    if (!v.names)
        return;
    shed_nstate_list (self->state, REC_KIND_SHED, s_collect_own, &v);
    for (size_t i = 0; i < v.n; i++) {
        rec_msg_t m;
        if (!sched__own_get (self, v.names[i], &m))
            continue;
        rec_shed_t *r = &m.u.rec_shed;
        place_resources_t need = { { r->cpus_milli, r->memory_mb * S_MIB, r->disk_mb * S_MIB,
                                     r->gpus } };
        if (sched_admit_restore (self->admit, r->request_id, r->name, &need) != 0)
            log_warn (S_COMP, "cannot restore reservation|shed=%s", r->name);
        s_work_t *w = self->driver ? sched__work_new (W_READOPT, r->name, r->request_id) : NULL;
        driver_job_t *job = w ? driver_job_new (DRIVER_JOB_STATUS, r->name) : NULL;
        if (w && job) {
            snprintf (w->was, sizeof w->was, "%s", r->state);
            job->ctx = w;
            if (driver_worker_submit (self->worker, &job, sched__driver_timeout (self, job->op))
                == 0) {
                zhashx_update (self->busy, r->name, w);
                wire_msg_free (&rec_proto, &m);
                continue;
            }
        }
        free (job);
        free (w);
        snprintf (r->state, sizeof r->state, "error");
        sched__fmt (r->error, sizeof r->error, "not found after a restart: no driver%s%s",
                    self->driver_error[0] ? ": " : "", self->driver_error);
        sched__own_put (self, &m);
        wire_msg_free (&rec_proto, &m);
    }
    free (v.names);
    sched__orphans_scan (self);
}

/* ---- the worker's events ------------------------------------------------------------- */

void
sched__on_driver (driver_job_t *job, driver_job_event_t ev, void *arg)
{
    shed_sched_t *self = (shed_sched_t *) arg;
    s_work_t *w = (s_work_t *) job->ctx;
    if (w->type == W_SNAP) {
        sched__snap_done (self, w, job, ev); /* its own timeout and answers */
        return;
    }
    if (ev == DRIVER_JOB_TIMEOUT) {
        /* Whoever waits hears now; the call goes on and is reconciled
         * when it ends (LATE). */
        char why[NSCHED_WHY_MAX + 1];
        sched__fmt (why, sizeof why, "driver %s: %s %s did not finish within %d ms (%s)",
                    driver_name (self->driver), driver_job_op_name (job->op), w->name,
                    sched__driver_timeout (self, job->op),
                    w->type == W_CLAIM ? "it is undone when it finishes"
                                       : "the record follows when it finishes");
        log_warn (S_COMP, "%s", why);
        if (!w->answered && w->type != W_UNDO && w->type != W_READOPT)
            s_answer_fail (self, w, w->type == W_CLAIM, why);
        w->answered = true;
        return;
    }
    if (ev == DRIVER_JOB_LATE)
        self->driver_late++;
    if (self->closing) {
        /* Shutting down: answer, write nothing (the state actor may be
         * gone); the next start reconciles the record with the driver. */
        if (!w->answered && (w->type == W_CLAIM || w->type == W_OP)) {
            char why[NSCHED_WHY_MAX + 1];
            sched__fmt (why, sizeof why,
                        "node %s shutting down during the driver's %s of %s: "
                        "reconciled when it starts again",
                        self->name, driver_job_op_name (job->op), w->name);
            s_answer_fail (self, w, w->type == W_CLAIM, why);
        }
        s_work_done (self, w);
        return;
    }
    if (ev == DRIVER_JOB_CANCELLED && w->type != W_CLAIM) {
        /* Never ran (shutdown): the record stays as it was, to be
         * reconciled at the next start. A claim is undone below. */
        if (!w->answered && w->type == W_OP)
            s_answer_fail (self, w, false, job->err.message);
        s_work_done (self, w);
        return;
    }
    switch (w->type) {
    case W_CLAIM:
        s_claim_done (self, w, job, ev);
        break;
    case W_OP:
        s_op_done (self, w, job, ev);
        break;
    case W_UNDO:
        if (job->rc != 0 && job->rc != DRIVER_ERR_NOT_FOUND)
            log_warn (S_COMP, "cannot remove what a failed create left|shed=%s err=\"%s\"", w->name,
                      job->err.message);
        s_work_done (self, w);
        break;
    case W_READOPT:
        s_readopt_done (self, w, job);
        break;
    case W_SNAP:
        break; /* handled above */
    }
}
