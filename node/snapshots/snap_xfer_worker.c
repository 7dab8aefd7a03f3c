/* snap_xfer_worker.c - see snap_xfer_worker.h and docs/snapshots.md. */
#include "node/snapshots/snap_xfer_worker.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* At destroy, how long the jobs still out may take to come back. */
#define S_DRAIN_MS 30000

struct _snap_xfer_worker_t {
    zloop_t *loop; /* borrowed, may be NULL */
    zactor_t *actor;
    snap_xfer_done_fn *fn;
    void *arg;
    size_t pending;
};

snap_xfer_job_t *
snap_xfer_job_new (snap_xfer_op_t op, snap_xfer_t *xfer, void *arg)
{
    snap_xfer_job_t *job = (snap_xfer_job_t *) calloc (1, sizeof *job);
    if (!job)
        return NULL;
    job->op = op;
    job->xfer = xfer;
    job->arg = arg;
    return job;
}

void
snap_xfer_job_destroy (snap_xfer_job_t **job_p)
{
    if (!job_p || !*job_p)
        return;
    free ((*job_p)->data);
    free (*job_p);
    *job_p = NULL;
}

/* ---- the thread ----------------------------------------------------------------- */

static void
s_run (snap_xfer_job_t *job)
{
    int64_t t0 = zclock_usecs ();
    job->rc = 0;
    switch (job->op) {
    case SNAP_XFER_OPEN:
        job->xfer = snap_xfer_new (job->path, job->size, job->digest, job->chunk, job->window,
                                   job->err, sizeof job->err);
        job->rc = job->xfer ? 0 : -1;
        break;
    case SNAP_XFER_DATA:
        if (snap_xfer_data (job->xfer, job->offset, job->data, job->len, job->err, sizeof job->err)
            != 0) {
            /* Wrong data, or a write that failed: the transfer ends here
             * (the caller is told), and what it wrote goes. */
            job->rc = -1;
            snap_xfer_abandon (job->xfer);
        }
        free (job->data); /* in the partial, or held by the transfer (a copy) */
        job->data = NULL;
        break;
    case SNAP_XFER_RETRY:
        snap_xfer_retry (job->xfer, job->offset);
        break;
    case SNAP_XFER_FINISH:
        job->rc = snap_xfer_finish (job->xfer, job->err, sizeof job->err);
        break;
    case SNAP_XFER_CLOSE:
        if (job->abandon)
            snap_xfer_abandon (job->xfer);
        snap_xfer_destroy (&job->xfer);
        break;
    default:
        job->rc = -1;
        snprintf (job->err, sizeof job->err, "snapshot transfer: unknown job");
    }
    if (job->xfer) {
        job->complete = snap_xfer_complete (job->xfer);
        job->received = snap_xfer_received (job->xfer);
        job->resumed = snap_xfer_resumed (job->xfer);
        if (job->rc == 0 && job->op != SNAP_XFER_FINISH)
            while (job->nreq < SNAP_XFER_REQ_MAX
                   && snap_xfer_next (job->xfer, &job->req_offset[job->nreq],
                                      &job->req_length[job->nreq]))
                job->nreq++;
    }
    job->run_us = zclock_usecs () - t0;
}

static void
s_actor (zsock_t *pipe, void *args)
{
    (void) args;
    zsock_signal (pipe, 0);
    for (;;) {
        char *cmd = NULL;
        void *ptr = NULL;
        if (zsock_recv (pipe, "sp", &cmd, &ptr) != 0) {
            if (errno == EINTR)
                continue; /* a signal landed on this thread */
            break;
        }
        bool term = !cmd || streq (cmd, "$TERM");
        zstr_free (&cmd);
        if (term)
            break;
        if (!ptr)
            continue;
        s_run ((snap_xfer_job_t *) ptr);
        zsock_send (pipe, "p", ptr);
    }
}

/* ---- the caller's side ---------------------------------------------------------- */

static void
s_deliver (snap_xfer_worker_t *self)
{
    void *ptr = NULL;
    if (zsock_recv (zactor_sock (self->actor), "p", &ptr) != 0 || !ptr)
        return;
    self->pending--;
    self->fn ((snap_xfer_job_t *) ptr, self->arg);
}

static int
s_on_answer (zloop_t *loop, zsock_t *sock, void *arg)
{
    (void) loop;
    (void) sock;
    s_deliver ((snap_xfer_worker_t *) arg);
    return 0;
}

snap_xfer_worker_t *
snap_xfer_worker_new (zloop_t *loop, snap_xfer_done_fn *fn, void *arg)
{
    snap_xfer_worker_t *self = (snap_xfer_worker_t *) calloc (1, sizeof *self);
    if (!self)
        return NULL;
    self->loop = loop;
    self->fn = fn;
    self->arg = arg;
    self->actor = zactor_new (s_actor, NULL);
    if (!self->actor
        || (loop && zloop_reader (loop, zactor_sock (self->actor), s_on_answer, self) != 0)) {
        zactor_destroy (&self->actor);
        free (self);
        return NULL;
    }
    return self;
}

int
snap_xfer_worker_wait (snap_xfer_worker_t *self, int timeout_ms)
{
    if (self->pending == 0)
        return 0;
    zpoller_t *poller = zpoller_new (zactor_sock (self->actor), NULL);
    if (!poller)
        return 0;
    zpoller_set_nonstop (poller, true); /* a shutdown waits too */
    bool ready = zpoller_wait (poller, timeout_ms) != NULL;
    zpoller_destroy (&poller);
    if (!ready)
        return 0;
    s_deliver (self);
    return 1;
}

void
snap_xfer_worker_destroy (snap_xfer_worker_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    snap_xfer_worker_t *self = *self_p;
    if (self->loop)
        zloop_reader_end (self->loop, zactor_sock (self->actor));
    int64_t deadline = zclock_mono () + S_DRAIN_MS;
    while (self->pending > 0) {
        int64_t left = deadline - zclock_mono ();
        if (left <= 0) {
            zsys_warning ("snapshot transfer worker: %zu job(s) still out at shutdown",
                          self->pending);
            break;
        }
        snap_xfer_worker_wait (self, (int) left);
    }
    zactor_destroy (&self->actor);
    free (self);
    *self_p = NULL;
}

int
snap_xfer_worker_submit (snap_xfer_worker_t *self, snap_xfer_job_t **job_p)
{
    if (!self || !job_p || !*job_p)
        return -1;
    if (zsock_send (zactor_sock (self->actor), "sp", "JOB", *job_p) != 0)
        return -1;
    self->pending++;
    *job_p = NULL;
    return 0;
}

size_t
snap_xfer_worker_pending (snap_xfer_worker_t *self)
{
    return self->pending;
}
