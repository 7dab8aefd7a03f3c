/*
 * node_snaps_fetch.c - a snapshot's data brought to this node for a create
 * (the scheduler's layer_fetch hook): snap.read requests to the holder,
 * SHED_SNAP_WINDOW in flight, fed to snap_xfer (order, sha256, resume).
 * One fetch per snapshot name; creates that need the same data wait on
 * it. A fetch that fails keeps its partial copy, so a retry resumes; one
 * whose data fails the checksum starts over (snap_xfer_finish removes it).
 *
 * The loop keeps the network side (reads, retries, waiters, progress);
 * every snap_xfer call runs on the component's transfer worker
 * (snap_xfer_worker.h: open and resume, pwrite and sha256 of each chunk,
 * fsync and rename, close), whose answers bring the next reads to send.
 * A fetch's transfer is closed on the worker as soon as the fetch ends, so
 * a later fetch of the same snapshot opens the partial only after it.
 */
#include "node/snapshots/node_snaps_int.h"

#include "common/log.h"
#include "crypto/digest.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define S_WAITERS_MAX 16

typedef struct {
    shed_layer_done_fn *done;
    void *ctx;
} s_waiter_t;

typedef struct {
    shed_snaps_t *snaps;
    char name[REC_NAME_MAX + 1];
    char shed[REC_NAME_MAX + 1]; /* the first create waiting: for progress events */
    char holder[REC_NAME_MAX + 1];
    char path[PATH_MAX];
    uint64_t size;
    /* The transfer, opened on the worker and used only there; NULL before
     * its OPEN answers and once its CLOSE is queued. */
    snap_xfer_t *xfer;
    bool remote;   /* pulled from a holder (not our own store's file) */
    size_t jobs;   /* worker jobs of this fetch not answered yet */
    bool complete; /* every byte in and hashed (the worker's last answer) */
    bool finishing;
    uint64_t received, resumed; /* from the worker's last answer */
    s_waiter_t waiters[S_WAITERS_MAX];
    size_t nwaiters;
    size_t inflight;
    unsigned failures; /* reads failed in a row */
    int timer;         /* answers the waiters from the loop, never inline */
    int rc;
    char why[256];
    bool stopping; /* over: its answer is on its way */
    bool cached;   /* the whole copy was here from an earlier create */
    bool ended;    /* answered: waiting only for its reads and jobs out */
    int64_t t0;
    unsigned last_pct;
    void *handle; /* in snaps->fetches */
} s_fetch_t;

typedef struct {
    s_fetch_t *fetch;
    uint64_t offset;
} s_read_t;

static void
s_free (s_fetch_t *f)
{
    shed_snaps_t *self = f->snaps;
    if (f->timer > 0)
        zloop_timer_end (self->loop, f->timer);
    /* Only when the worker could not take its CLOSE (no job of it is out
     * then): a partial copy stays for a resume. */
    snap_xfer_destroy (&f->xfer);
    free (f);
}

static void
s_fetch_destructor (void **item)
{
    s_free ((s_fetch_t *) *item);
    *item = NULL;
}

/* Gone once answered, with no read and no worker job of it out. */
static void
s_maybe_free (s_fetch_t *f)
{
    if (f->ended && f->inflight == 0 && f->jobs == 0)
        zlistx_delete (f->snaps->fetches, f->handle);
}

static int
s_submit (s_fetch_t *f, snap_xfer_job_t **job)
{
    if (!f->snaps->xfers || snap_xfer_worker_submit (f->snaps->xfers, job) != 0) {
        snap_xfer_job_destroy (job);
        return -1;
    }
    f->jobs++;
    return 0;
}

/* The transfer closes on the worker, after the jobs queued before it
 * (abandon: its partial goes too). */
static void
s_close (s_fetch_t *f, bool abandon)
{
    if (!f->xfer)
        return;
    snap_xfer_job_t *job = snap_xfer_job_new (SNAP_XFER_CLOSE, f->xfer, f);
    if (!job)
        return; /* s_free destroys it */
    job->abandon = abandon;
    if (s_submit (f, &job) == 0)
        f->xfer = NULL;
}

/* Tell the waiters, once. The fetch stays until nothing of it is out. */
static void
s_answer (s_fetch_t *f)
{
    shed_snaps_t *self = f->snaps;
    if (f->ended)
        return;
    f->ended = true;
    if (f->rc == 0)
        self->fetches_ok += f->remote ? 1 : 0;
    else
        self->fetches_failed++;
    for (size_t i = 0; i < f->nwaiters; i++)
        f->waiters[i].done (f->waiters[i].ctx, f->rc, f->rc == 0 ? f->path : NULL, f->why);
    f->nwaiters = 0;
    s_maybe_free (f);
}

static int
s_on_timer (zloop_t *loop, int timer_id, void *arg)
{
    (void) loop;
    (void) timer_id;
    s_fetch_t *f = (s_fetch_t *) arg;
    f->timer = 0;
    s_answer (f);
    return 0;
}

/* The end of a fetch: its transfer closes (abandon: without a partial to
 * resume), the waiters hear rc from the loop. */
static void
s_end_later (s_fetch_t *f, int rc, const char *why, bool abandon)
{
    f->stopping = true;
    f->rc = rc;
    snprintf (f->why, sizeof f->why, "%s", why ? why : "");
    if (f->remote)
        snaps__progress (f->snaps, "fetch", f->name, f->shed, f->holder, f->received, f->size,
                         rc == 0 ? "done" : "failed", why);
    s_close (f, abandon);
    if (f->timer <= 0)
        f->timer = zloop_timer (f->snaps->loop, 1, 1, s_on_timer, f);
    if (f->timer <= 0)
        s_answer (f); /* no timer: the waiters' callers are not on our stack */
}

/* Every byte in, no read out: check the sha256 and rename, on the worker. */
static void
s_finish (s_fetch_t *f)
{
    if (f->finishing)
        return;
    f->finishing = true;
    snap_xfer_job_t *job = snap_xfer_job_new (SNAP_XFER_FINISH, f->xfer, f);
    if (!job || s_submit (f, &job) != 0)
        s_end_later (f, -1, "snapshot transfer worker unavailable", false);
}

static void
s_finished (s_fetch_t *f, snap_xfer_job_t *job)
{
    if (job->rc != 0) {
        log_warn (S_COMP, "snapshot data refused|name=%s from=%s err=\"%s\"", f->name, f->holder,
                  job->err);
        char why[448];
        snprintf (why, sizeof why, "data of %s from %s: %s", f->name, f->holder, job->err);
        s_end_later (f, -1, why, false); /* a checksum mismatch removed the partial */
        return;
    }
    if (f->cached) {
        log_info (S_COMP, "snapshot data already here|name=%s from=%s bytes=%" PRIu64, f->name,
                  f->holder, f->size);
        s_end_later (f, 0, "", false);
        return;
    }
    int64_t ms = zclock_mono () - f->t0;
    uint64_t got = f->received - f->resumed;
    log_info (S_COMP,
              "snapshot data fetched|name=%s from=%s bytes=%" PRIu64 " resumed=%" PRIu64
              " ms=%" PRId64 " mb_s=%.1f",
              f->name, f->holder, got, f->resumed, ms,
              ms > 0 ? (double) got / 1048576.0 / ((double) ms / 1000.0) : 0.0);
    s_end_later (f, 0, "", false);
}

static void s_on_chunk (int status, const char *error, const uint8_t *body, size_t len, void *arg);

/* Send the reads the worker handed out with its answer. */
static void
s_send_reads (s_fetch_t *f, const snap_xfer_job_t *job)
{
    shed_snaps_t *self = f->snaps;
    for (size_t i = 0; i < job->nreq; i++) {
        snapx_msg_t m = { .hdr.type = SNAPX_READ };
        snprintf (m.u.snapx_read.name, sizeof m.u.snapx_read.name, "%s", f->name);
        m.u.snapx_read.offset = job->req_offset[i];
        m.u.snapx_read.length = job->req_length[i];
        uint8_t *buf = NULL;
        size_t len = 0;
        s_read_t *r = (s_read_t *) calloc (1, sizeof *r);
        if (!r || wire_encode (&snapx_proto, &m, &buf, &len) != WIRE_OK) {
            free (r);
            s_end_later (f, -1, "out of memory", false);
            return;
        }
        r->fetch = f;
        r->offset = job->req_offset[i];
        if (shed_nrpc_call (self->rpc, f->holder, SNAPX_METHOD_READ, buf, len, SHED_SNAP_READ_MS,
                            s_on_chunk, r)
            != 0) {
            free (r);
            free (buf);
            char why[160];
            snprintf (why, sizeof why, "node %s is not reachable", f->holder);
            s_end_later (f, -1, why, false);
            return;
        }
        free (buf);
        f->inflight++;
    }
}

static void
s_on_chunk (int status, const char *error, const uint8_t *body, size_t len, void *arg)
{
    s_read_t *r = (s_read_t *) arg;
    s_fetch_t *f = r->fetch;
    uint64_t offset = r->offset;
    free (r);
    shed_snaps_t *self = f->snaps;
    f->inflight--;
    if (f->stopping || f->ended) {
        s_maybe_free (f);
        return;
    }
    if (f->complete) {
        /* a duplicate of an answered read: nothing left to take */
        if (f->inflight == 0 && f->jobs == 0)
            s_finish (f);
        return;
    }
    char err[256] = "";
    snapx_msg_t m;
    if (status == RPC_OK && wire_decode (&snapx_proto, body, len, &m, NULL) == WIRE_OK) {
        if (m.hdr.type != SNAPX_CHUNK || m.u.snapx_chunk.offset != offset)
            snprintf (err, sizeof err, "%s answered a chunk nobody asked for", f->holder);
        else if (m.u.snapx_chunk.size != f->size)
            snprintf (err, sizeof err,
                      "%s holds %" PRIu64 " bytes of it, its record says %" PRIu64
                      " (truncated or replaced)",
                      f->holder, m.u.snapx_chunk.size, f->size);
        snap_xfer_job_t *job = NULL;
        if (!*err && !(job = snap_xfer_job_new (SNAP_XFER_DATA, f->xfer, f)))
            snprintf (err, sizeof err, "out of memory");
        if (job) {
            /* the decoded bytes go to the worker as they are */
            job->offset = offset;
            job->data = m.u.snapx_chunk.data.data;
            job->len = m.u.snapx_chunk.data.len;
            m.u.snapx_chunk.data.data = NULL;
            m.u.snapx_chunk.data.len = 0;
        }
        wire_msg_free (&snapx_proto, &m);
        if (*err) {
            /* Wrong data is not a dropped link: no retry. */
            char why[320];
            snprintf (why, sizeof why, "data of %s: %s", f->name, err);
            s_end_later (f, -1, why, true);
            return;
        }
        if (s_submit (f, &job) != 0)
            s_end_later (f, -1, "snapshot transfer worker unavailable", false);
        return;
    }
    /* A dropped link, a timeout, a holder that restarted: ask again, a
     * few times; the partial copy stays for a later create. */
    self->read_retries++;
    if (++f->failures > SHED_SNAP_RETRIES) {
        char why[320];
        snprintf (why, sizeof why,
                  "data of %s: %s stopped answering (%s); %" PRIu64 " of %" PRIu64
                  " bytes kept here, a retry resumes",
                  f->name, f->holder,
                  error && *error    ? error
                  : status == RPC_OK ? "bad answer"
                                     : "no answer",
                  f->received, f->size);
        s_end_later (f, -1, why, false);
        return;
    }
    snap_xfer_job_t *job = snap_xfer_job_new (SNAP_XFER_RETRY, f->xfer, f);
    if (job)
        job->offset = offset;
    if (!job || s_submit (f, &job) != 0)
        s_end_later (f, -1, "snapshot transfer worker unavailable", false);
}

static void
s_progress (s_fetch_t *f)
{
    unsigned pct = f->size ? (unsigned) (f->received * 10 / f->size) : 10;
    if (pct > f->last_pct) {
        f->last_pct = pct;
        log_info (S_COMP, "snapshot fetch|name=%s from=%s progress=%u%%", f->name, f->holder,
                  pct * 10);
        snaps__progress (f->snaps, "fetch", f->name, f->shed, f->holder, f->received, f->size,
                         "running", NULL);
    }
}

void
snaps__fetch_job_done (snap_xfer_job_t *job, void *arg)
{
    shed_snaps_t *self = (shed_snaps_t *) arg;
    s_fetch_t *f = (s_fetch_t *) job->arg;
    f->jobs--;
    if (job->op == SNAP_XFER_OPEN)
        f->xfer = job->xfer;
    if (job->op != SNAP_XFER_CLOSE && job->xfer) {
        f->complete = job->complete;
        f->received = job->received;
        f->resumed = job->resumed;
    }
    if (f->stopping || f->ended || self->closing) {
        /* over meanwhile (a failure, the shutdown): a transfer opened
         * after it closes now */
        if (job->op == SNAP_XFER_OPEN && !f->stopping && !f->ended)
            f->stopping = true;
        s_close (f, false);
        s_maybe_free (f);
        snap_xfer_job_destroy (&job);
        return;
    }
    switch (job->op) {
    case SNAP_XFER_OPEN:
        if (job->rc != 0) {
            s_end_later (f, -1, job->err, false);
            break;
        }
        if (f->complete) {
            s_finish (f); /* a copy from an earlier create */
            break;
        }
        f->cached = false; /* what was there is not it, or only a partial */
        self->resumed_bytes += f->resumed;
        if (f->resumed)
            log_info (S_COMP, "snapshot fetch resumes|name=%s from=%s kept=%" PRIu64, f->name,
                      f->holder, f->resumed);
        s_send_reads (f, job);
        break;
    case SNAP_XFER_DATA:
        if (job->rc != 0) {
            /* refused, or a write that failed (disk full): the worker
             * abandoned the transfer */
            char why[448];
            snprintf (why, sizeof why, "data of %s: %s", f->name, job->err);
            s_end_later (f, -1, why, false);
            break;
        }
        self->fetched_bytes += job->len;
        f->failures = 0;
        s_progress (f);
        s_send_reads (f, job); /* none once complete */
        break;
    case SNAP_XFER_RETRY:
        s_send_reads (f, job);
        break;
    case SNAP_XFER_FINISH:
        s_finished (f, job);
        break;
    case SNAP_XFER_CLOSE:
        break;
    }
    /* Every byte in: checked once nothing of the fetch is out any more. */
    if ((job->op == SNAP_XFER_DATA || job->op == SNAP_XFER_RETRY) && f->complete && !f->stopping
        && f->inflight == 0 && f->jobs == 0)
        s_finish (f);
    snap_xfer_job_destroy (&job);
}

static s_fetch_t *
s_find (shed_snaps_t *self, const char *name)
{
    for (s_fetch_t *f = (s_fetch_t *) zlistx_first (self->fetches); f;
         f = (s_fetch_t *) zlistx_next (self->fetches))
        if (!f->ended && !f->stopping && streq (f->name, name))
            return f;
    return NULL;
}

int
shed_snaps_layer_fetch (void *arg, const char *shed, const char *snapshot, const char *holder,
                        const char *digest, uint64_t size, shed_layer_done_fn *done, void *ctx,
                        char *err, size_t errlen)
{
    shed_snaps_t *self = (shed_snaps_t *) arg;
    if (self->closing) {
        snprintf (err, errlen, "node shutting down");
        return -1;
    }
    if (snap_name_check (snapshot, err, errlen) != 0)
        return -1;
    s_fetch_t *f = s_find (self, snapshot);
    if (f) {
        if (f->nwaiters == S_WAITERS_MAX) {
            snprintf (err, errlen, "%d creates already wait for its data", S_WAITERS_MAX);
            return -1;
        }
        f->waiters[f->nwaiters++] = (s_waiter_t){ done, ctx };
        return 0;
    }
    f = (s_fetch_t *) calloc (1, sizeof *f);
    if (!f) {
        snprintf (err, errlen, "out of memory");
        return -1;
    }
    f->snaps = self;
    snprintf (f->name, sizeof f->name, "%s", snapshot);
    snprintf (f->shed, sizeof f->shed, "%s", shed ? shed : "");
    snprintf (f->holder, sizeof f->holder, "%s", holder);
    f->size = size;
    f->t0 = zclock_mono ();
    f->waiters[f->nwaiters++] = (s_waiter_t){ done, ctx };
    f->handle = zlistx_add_end (self->fetches, f);
    if (streq (holder, self->name)) {
        /* Held here: the store's own file. */
        rec_snapshot_t r;
        if (!snap_store_get (self->store, snapshot, &r)
            || snap_store_layer_path (self->store, snapshot, f->path, sizeof f->path) != 0) {
            snprintf (err, errlen, "snapshot %s: no data on this node", snapshot);
            zlistx_delete (self->fetches, f->handle);
            return -1;
        }
        bool same = streq (r.digest, digest);
        snap_rec_free (&r);
        if (!same) {
            snprintf (err, errlen, "snapshot %s here is not the one the record names", snapshot);
            zlistx_delete (self->fetches, f->handle);
            return -1;
        }
        s_end_later (f, 0, "", false);
        return 0;
    }
    if (snap_store_fetch_path (self->store, snapshot, f->path, sizeof f->path) != 0) {
        snprintf (err, errlen, "snapshot %s: no room for a copy", snapshot);
        zlistx_delete (self->fetches, f->handle);
        return -1;
    }
    if (!shed_sha256_hex_valid (digest)) {
        snprintf (err, errlen, "snapshot transfer: digest is not 64 lowercase hex digits");
        zlistx_delete (self->fetches, f->handle);
        return -1;
    }
    f->remote = true;
    /* A whole copy there already (from an earlier create) is checked on
     * the worker (sha256 of the file) and used without a transfer. */
    f->cached = access (f->path, F_OK) == 0;
    snap_xfer_job_t *job = snap_xfer_job_new (SNAP_XFER_OPEN, NULL, f);
    if (job) {
        snprintf (job->path, sizeof job->path, "%s", f->path);
        memcpy (job->digest, digest, sizeof job->digest);
        job->size = size;
        job->chunk = SNAPX_CHUNK_MAX;
        job->window = SHED_SNAP_WINDOW;
    }
    if (!job || s_submit (f, &job) != 0) {
        snprintf (err, errlen, "snapshot %s: the transfer worker is not running", snapshot);
        zlistx_delete (self->fetches, f->handle);
        return -1;
    }
    return 0;
}

void
snaps__fetch_init (shed_snaps_t *self)
{
    zlistx_set_destructor (self->fetches, s_fetch_destructor);
}

void
snaps__fetch_fail_all (shed_snaps_t *self, const char *why)
{
    for (s_fetch_t *f = (s_fetch_t *) zlistx_first (self->fetches); f;
         f = (s_fetch_t *) zlistx_next (self->fetches))
        if (!f->ended) {
            f->stopping = true;
            f->rc = -1;
            snprintf (f->why, sizeof f->why, "%s", why);
            f->ended = true;
            for (size_t i = 0; i < f->nwaiters; i++)
                f->waiters[i].done (f->waiters[i].ctx, -1, NULL, f->why);
            f->nwaiters = 0;
        }
}

void
snaps__fetch_forget (shed_snaps_t *self, const char *name)
{
    if (s_find (self, name))
        return; /* in use; the next create finds it gone or whole */
    char path[PATH_MAX];
    if (snap_store_fetch_path (self->store, name, path, sizeof path) == 0) {
        unlink (path);
        char partial[PATH_MAX + 16];
        snprintf (partial, sizeof partial, "%s.partial", path);
        unlink (partial);
    }
}

void
snaps__fetch_destroy (shed_snaps_t *self)
{
    /* Reads still in flight cannot answer now: the node RPC went first.
     * Every open transfer closes on the worker (keeping its partial for a
     * resume); destroying the worker waits for those jobs, and s_free
     * takes what it could not. */
    for (s_fetch_t *f = self->fetches ? (s_fetch_t *) zlistx_first (self->fetches) : NULL; f;
         f = (s_fetch_t *) zlistx_next (self->fetches)) {
        f->inflight = 0;
        s_close (f, false);
    }
    snap_xfer_worker_destroy (&self->xfers);
    if (self->fetches)
        zlistx_purge (self->fetches);
}
