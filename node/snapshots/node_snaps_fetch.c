/*
 * node_snaps_fetch.c - a snapshot's data brought to this node for a create
 * (the scheduler's layer_fetch hook): snap.read requests to the holder,
 * SHED_SNAP_WINDOW in flight, fed to snap_xfer (order, sha256, resume).
 * One fetch per snapshot name; creates that need the same data wait on
 * it. A fetch that fails keeps its partial copy, so a retry resumes; one
 * whose data fails the checksum starts over (snap_xfer_finish removes it).
 */
#include "node/snapshots/node_snaps_int.h"

#include "common/log.h"

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
    snap_xfer_t *xfer; /* NULL: local data or already whole */
    s_waiter_t waiters[S_WAITERS_MAX];
    size_t nwaiters;
    size_t inflight;
    unsigned failures; /* reads failed in a row */
    int timer;         /* answers the waiters from the loop, never inline */
    int rc;
    char why[256];
    bool stopping; /* over: its answer is on its way */
    bool cached;   /* the whole copy was here from an earlier create */
    bool ended;    /* answered: waiting only for its reads in flight */
    int64_t t0;
    unsigned last_pct;
    void *handle; /* in snaps->fetches */
} s_fetch_t;

typedef struct {
    s_fetch_t *fetch;
    uint64_t offset;
} s_read_t;

static void s_pump (s_fetch_t *f);

static void
s_free (s_fetch_t *f)
{
    shed_snaps_t *self = f->snaps;
    if (f->timer > 0)
        zloop_timer_end (self->loop, f->timer);
    snap_xfer_destroy (&f->xfer); /* a partial copy stays for a resume */
    free (f);
}

static void
s_fetch_destructor (void **item)
{
    s_free ((s_fetch_t *) *item);
    *item = NULL;
}

/* Tell the waiters, once. The fetch stays until no read is in flight. */
static void
s_answer (s_fetch_t *f)
{
    shed_snaps_t *self = f->snaps;
    if (f->ended)
        return;
    f->ended = true;
    if (f->rc == 0)
        self->fetches_ok += f->xfer ? 1 : 0;
    else
        self->fetches_failed++;
    for (size_t i = 0; i < f->nwaiters; i++)
        f->waiters[i].done (f->waiters[i].ctx, f->rc, f->rc == 0 ? f->path : NULL, f->why);
    f->nwaiters = 0;
    if (f->inflight == 0)
        zlistx_delete (self->fetches, f->handle);
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

static void
s_end_later (s_fetch_t *f, int rc, const char *why)
{
    f->stopping = true;
    f->rc = rc;
    snprintf (f->why, sizeof f->why, "%s", why ? why : "");
    if (f->xfer)
        snaps__progress (f->snaps, "fetch", f->name, f->shed, f->holder,
                         snap_xfer_received (f->xfer), f->size, rc == 0 ? "done" : "failed", why);
    if (f->timer <= 0)
        f->timer = zloop_timer (f->snaps->loop, 1, 1, s_on_timer, f);
    if (f->timer <= 0)
        s_answer (f); /* no timer: the waiters' callers are not on our stack */
}

static void
s_finish (s_fetch_t *f)
{
    shed_snaps_t *self = f->snaps;
    char err[256] = "";
    if (snap_xfer_finish (f->xfer, err, sizeof err) != 0) {
        log_warn (S_COMP, "snapshot data refused|name=%s from=%s err=\"%s\"", f->name, f->holder,
                  err);
        char why[320];
        snprintf (why, sizeof why, "data of %s from %s: %s", f->name, f->holder, err);
        s_end_later (f, -1, why);
        return;
    }
    if (f->cached) {
        log_info (S_COMP, "snapshot data already here|name=%s from=%s bytes=%" PRIu64, f->name,
                  f->holder, f->size);
        s_end_later (f, 0, "");
        return;
    }
    int64_t ms = zclock_mono () - f->t0;
    uint64_t got = snap_xfer_received (f->xfer) - snap_xfer_resumed (f->xfer);
    log_info (S_COMP,
              "snapshot data fetched|name=%s from=%s bytes=%" PRIu64 " resumed=%" PRIu64
              " ms=%" PRId64 " mb_s=%.1f",
              f->name, f->holder, got, snap_xfer_resumed (f->xfer), ms,
              ms > 0 ? (double) got / 1048576.0 / ((double) ms / 1000.0) : 0.0);
    (void) self;
    s_end_later (f, 0, "");
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
        if (f->ended && f->inflight == 0)
            zlistx_delete (self->fetches, f->handle);
        return;
    }
    char err[256] = "";
    snapx_msg_t m;
    bool ok = false;
    if (status == RPC_OK && wire_decode (&snapx_proto, body, len, &m, NULL) == WIRE_OK) {
        if (m.hdr.type != SNAPX_CHUNK || m.u.snapx_chunk.offset != offset)
            snprintf (err, sizeof err, "%s answered a chunk nobody asked for", f->holder);
        else if (m.u.snapx_chunk.size != f->size)
            snprintf (err, sizeof err,
                      "%s holds %" PRIu64 " bytes of it, its record says %" PRIu64
                      " (truncated or replaced)",
                      f->holder, m.u.snapx_chunk.size, f->size);
        else if (snap_xfer_data (f->xfer, offset, m.u.snapx_chunk.data.data,
                                 m.u.snapx_chunk.data.len, err, sizeof err)
                 == 0) {
            ok = true;
            self->fetched_bytes += m.u.snapx_chunk.data.len;
        }
        wire_msg_free (&snapx_proto, &m);
        if (!ok) {
            /* Wrong data is not a dropped link: no retry. */
            snap_xfer_abandon (f->xfer);
            char why[320];
            snprintf (why, sizeof why, "data of %s: %s", f->name, err);
            s_end_later (f, -1, why);
            return;
        }
        f->failures = 0;
    }
    else {
        /* A dropped link, a timeout, a holder that restarted: ask again,
         * a few times; the partial copy stays for a later create. */
        self->read_retries++;
        snap_xfer_retry (f->xfer, offset);
        if (++f->failures > SHED_SNAP_RETRIES) {
            char why[320];
            snprintf (why, sizeof why,
                      "data of %s: %s stopped answering (%s); %" PRIu64 " of %" PRIu64
                      " bytes kept here, a retry resumes",
                      f->name, f->holder,
                      error && *error    ? error
                      : status == RPC_OK ? "bad answer"
                                         : "no answer",
                      snap_xfer_received (f->xfer), f->size);
            s_end_later (f, -1, why);
            return;
        }
    }
    unsigned pct = f->size ? (unsigned) (snap_xfer_received (f->xfer) * 10 / f->size) : 10;
    if (pct > f->last_pct) {
        f->last_pct = pct;
        log_info (S_COMP, "snapshot fetch|name=%s from=%s progress=%u%%", f->name, f->holder,
                  pct * 10);
        snaps__progress (self, "fetch", f->name, f->shed, f->holder, snap_xfer_received (f->xfer),
                         f->size, "running", NULL);
    }
    if (snap_xfer_complete (f->xfer)) {
        if (f->inflight == 0)
            s_finish (f);
        return;
    }
    s_pump (f);
}

static void
s_pump (s_fetch_t *f)
{
    shed_snaps_t *self = f->snaps;
    uint64_t offset;
    uint32_t length;
    while (f->inflight < SHED_SNAP_WINDOW && snap_xfer_next (f->xfer, &offset, &length)) {
        snapx_msg_t m = { .hdr.type = SNAPX_READ };
        snprintf (m.u.snapx_read.name, sizeof m.u.snapx_read.name, "%s", f->name);
        m.u.snapx_read.offset = offset;
        m.u.snapx_read.length = length;
        uint8_t *buf = NULL;
        size_t len = 0;
        s_read_t *r = (s_read_t *) calloc (1, sizeof *r);
        if (!r || wire_encode (&snapx_proto, &m, &buf, &len) != WIRE_OK) {
            free (r);
            snap_xfer_retry (f->xfer, offset);
            s_end_later (f, -1, "out of memory");
            return;
        }
        r->fetch = f;
        r->offset = offset;
        if (shed_nrpc_call (self->rpc, f->holder, SNAPX_METHOD_READ, buf, len, SHED_SNAP_READ_MS,
                            s_on_chunk, r)
            != 0) {
            free (r);
            free (buf);
            snap_xfer_retry (f->xfer, offset);
            char why[160];
            snprintf (why, sizeof why, "node %s is not reachable", f->holder);
            s_end_later (f, -1, why);
            return;
        }
        free (buf);
        f->inflight++;
    }
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
        s_end_later (f, 0, "");
        return 0;
    }
    if (snap_store_fetch_path (self->store, snapshot, f->path, sizeof f->path) != 0) {
        snprintf (err, errlen, "snapshot %s: no room for a copy", snapshot);
        zlistx_delete (self->fetches, f->handle);
        return -1;
    }
    bool was_whole = access (f->path, F_OK) == 0;
    f->xfer = snap_xfer_new (f->path, size, digest, SNAPX_CHUNK_MAX, SHED_SNAP_WINDOW, err, errlen);
    if (!f->xfer) {
        zlistx_delete (self->fetches, f->handle);
        return -1;
    }
    if (!snap_xfer_complete (f->xfer))
        self->resumed_bytes += snap_xfer_resumed (f->xfer);
    if (snap_xfer_resumed (f->xfer) && !snap_xfer_complete (f->xfer))
        log_info (S_COMP, "snapshot fetch resumes|name=%s from=%s kept=%" PRIu64, snapshot, holder,
                  snap_xfer_resumed (f->xfer));
    if (snap_xfer_complete (f->xfer)) {
        f->cached = was_whole; /* not a partial that happened to be complete */
        s_finish (f);          /* a copy from an earlier create */
    }
    else
        s_pump (f);
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
    /* Reads still in flight cannot answer now: the node RPC went first. */
    zlistx_purge (self->fetches);
}
