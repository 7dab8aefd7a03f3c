/*
 * node_snaps.c - the daemon's snapshots (see node_snaps.h): records,
 * captures and the RPC methods. The API handlers are in node_snaps_api.c,
 * fetches in node_snaps_fetch.c.
 */
#include "node/snapshots/node_snaps_int.h"

#include "common/log.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <dirent.h>
#include <fcntl.h>
#include <time.h>
#include <unistd.h>

uint64_t
snaps__wall_ms (void)
{
    struct timespec ts;
    clock_gettime (CLOCK_REALTIME, &ts);
    return (uint64_t) ts.tv_sec * 1000 + (uint64_t) ts.tv_nsec / 1000000;
}

bool
snaps__held (shed_snaps_t *self, const char *name)
{
    rec_snapshot_t r;
    bool held = snap_store_get (self->store, name, &r);
    if (held)
        snap_rec_free (&r);
    return held;
}

void
shed_snaps_set_events (shed_snaps_t *self, shed_events_t *events)
{
    self->events = events;
}

void
snaps__progress (shed_snaps_t *self, const char *what, const char *name, const char *shed,
                 const char *peer, uint64_t done, uint64_t total, const char *state,
                 const char *why)
{
    if (!self->events)
        return;
    evpay_progress_t progress = { 0 }, *p = &progress;
    snprintf (p->what, sizeof p->what, "%s", what);
    snprintf (p->name, sizeof p->name, "%s", name);
    snprintf (p->shed, sizeof p->shed, "%s", shed ? shed : "");
    snprintf (p->peer, sizeof p->peer, "%s", peer ? peer : "");
    p->done = done;
    p->total = total;
    snprintf (p->state, sizeof p->state, "%s", state);
    snprintf (p->why, sizeof p->why, "%s", why ? why : "");
    shed_events_publish_progress (self->events, "snapshot", name, p);
}

/* ---- records ------------------------------------------------------------------- */

static void
s_publish (shed_snaps_t *self, const rec_snapshot_t *r)
{
    rec_msg_t rec = { .hdr.type = REC_SNAPSHOT };
    rec.u.rec_snapshot = *r; /* borrowed for encoding */
    char err[256] = "";
    if (shed_nstate_put_rec (self->state, REC_KIND_SNAPSHOT, r->name, &rec, err, sizeof err) != 0)
        log_error (S_COMP, "cannot publish the snapshot record|name=%s err=\"%s\"", r->name, err);
}

static void
s_unpublish (shed_snaps_t *self, const char *name)
{
    char err[256] = "";
    if (shed_nstate_delete (self->state, REC_KIND_SNAPSHOT, name, err, sizeof err) != 0)
        log_warn (S_COMP, "cannot delete the snapshot record|name=%s err=\"%s\"", name, err);
}

static void
s_publish_one (const rec_snapshot_t *rec, void *arg)
{
    shed_snaps_t *self = (shed_snaps_t *) arg;
    rec_snapshot_t r = *rec;
    snprintf (r.node, sizeof r.node, "%s", self->name); /* a data dir moved: ours now */
    s_publish (self, &r);
}

typedef struct {
    shed_snaps_t *self;
    zlistx_t *stale;
} s_mine_t;

static void
s_collect_stale (const shed_record_t *rec, void *arg)
{
    s_mine_t *m = (s_mine_t *) arg;
    if (streq (rec->origin, m->self->name) && !snaps__held (m->self, rec->key))
        zlistx_add_end (m->stale, (void *) (uintptr_t) rec->key);
}

/* At start: a record per snapshot held, none for data that is gone. */
static void
s_publish_all (shed_snaps_t *self)
{
    size_t n = snap_store_list (self->store, s_publish_one, self);
    s_mine_t m = { self, zlistx_new () };
    if (!m.stale)
        return;
    zlistx_set_duplicator (m.stale, (czmq_duplicator *) strdup);
    zlistx_set_destructor (m.stale, (czmq_destructor *) zstr_free);
    shed_nstate_list (self->state, REC_KIND_SNAPSHOT, s_collect_stale, &m);
    for (const char *k = zlistx_first (m.stale); k; k = zlistx_next (m.stale))
        s_unpublish (self, k);
    zlistx_destroy (&m.stale);
    log_info (S_COMP, "snapshots held|count=%zu used=%" PRIu64 " quota=%" PRIu64, n,
              snap_store_used (self->store), snap_store_quota (self->store));
}

typedef struct {
    const char *name;
    rec_msg_t *out;
    bool found;
} s_find_t;

static void
s_find_one (const shed_record_t *r, void *arg)
{
    s_find_t *f = (s_find_t *) arg;
    if (f->found || !streq (r->key, f->name) || !streq (r->status, "alive"))
        return;
    if (wire_decode (&rec_proto, r->value, r->len, f->out, NULL) != WIRE_OK)
        return;
    if (f->out->hdr.type == REC_SNAPSHOT && streq (f->out->u.rec_snapshot.node, r->origin))
        f->found = true;
    else
        wire_msg_free (&rec_proto, f->out);
}

bool
snaps__find (shed_snaps_t *self, const char *name, rec_msg_t *out)
{
    s_find_t f = { name, out, false };
    shed_nstate_list (self->state, REC_KIND_SNAPSHOT, s_find_one, &f);
    return f.found;
}

/* A snapshot record went (removed anywhere): its fetched copy here goes. */
static void
s_on_record (const shed_record_t *rec, void *arg)
{
    shed_snaps_t *self = (shed_snaps_t *) arg;
    if (!streq (rec->event, "DELETED") || snap_name_check (rec->key, NULL, 0) != 0)
        return;
    snaps__fetch_forget (self, rec->key);
}

/* ---- captures ------------------------------------------------------------------ */

static void
s_capture_free (snaps_capture_t **cp)
{
    snaps_capture_t *c = *cp;
    if (!c)
        return;
    if (c->call)
        shed_api_reply_error (&c->call, API_ERR_UNAVAILABLE, "node shutting down");
    free (c);
    *cp = NULL;
}

/* The end of a capture: the API call or the RPC request that asked. */
static void
s_capture_answer (shed_snaps_t *self, snaps_capture_t *c, int rc, const char *why,
                  const rec_snapshot_t *rec)
{
    if (c->call) {
        if (rc != 0)
            shed_api_reply_error (&c->call, c->code ? c->code : API_ERR_INTERNAL, "%s", why);
        else
            snaps__reply_one (&c->call, rec, zclock_mono () - c->t0);
    }
    else if (c->has_token) {
        if (rc != 0)
            shed_nrpc_reply (self->rpc, c->token, SHED_NRPC_FAILED, why, NULL, 0);
        else {
            rec_msg_t m = { .hdr.type = REC_SNAPSHOT };
            m.u.rec_snapshot = *rec;
            uint8_t *buf = NULL;
            size_t len = 0;
            if (wire_encode (&rec_proto, &m, &buf, &len) == WIRE_OK)
                shed_nrpc_reply (self->rpc, c->token, RPC_OK, NULL, buf, len);
            else
                shed_nrpc_reply (self->rpc, c->token, SHED_NRPC_FAILED, "encode", NULL, 0);
            free (buf);
        }
    }
    zlistx_delete (self->captures, c->handle); /* frees c */
}

static void
s_committed (shed_snaps_t *self, rec_snapshot_t *r, int rc, const char *err, void *arg)
{
    snaps_capture_t *c = (snaps_capture_t *) arg;
    if (rc != 0) {
        char reason[512];
        self->captures_failed++;
        snprintf (reason, sizeof reason, "snapshot %s of %s: %s", c->name, c->shed, err);
        log_warn (S_COMP, "%s", reason);
        c->code = API_ERR_INVALID;
        s_capture_answer (self, c, -1, reason, NULL);
        return;
    }
    s_publish (self, r);
    self->captures_ok++;
    log_info (S_COMP,
              "snapshot taken|name=%s shed=%s mode=%s bytes=%" PRIu64 " driver_ms=%" PRIu64
              " digest=%.12s",
              r->name, r->shed, r->mode, c->bytes, c->driver_ms, r->digest);
    s_capture_answer (self, c, 0, "", r);
}

static void
s_captured (int rc, const char *why, uint64_t bytes, uint64_t ms, const rec_shed_t *shed, void *arg)
{
    snaps_capture_t *c = (snaps_capture_t *) arg;
    shed_snaps_t *self = c->snaps;
    char reason[512];
    if (rc == 0 && !shed) {
        rc = -1;
        why = "the shed went while it was captured";
    }
    if (rc != 0) {
        snap_store_unstage (self->store, c->name);
        self->captures_failed++;
        snprintf (reason, sizeof reason, "snapshot %s of %s: %s", c->name, c->shed, why);
        log_warn (S_COMP, "%s", reason);
        c->code = API_ERR_INTERNAL;
        s_capture_answer (self, c, -1, reason, NULL);
        return;
    }
    rec_snapshot_t r;
    memset (&r, 0, sizeof r);
    snprintf (r.name, sizeof r.name, "%s", c->name);
    snprintf (r.shed, sizeof r.shed, "%s", c->shed);
    snprintf (r.node, sizeof r.node, "%s", self->name);
    snprintf (r.image, sizeof r.image, "%s", shed->image);
    r.cpus_milli = shed->cpus_milli;
    r.memory_mb = shed->memory_mb;
    r.disk_mb = shed->disk_mb;
    r.gpus = shed->gpus;
    snprintf (r.ip, sizeof r.ip, "%s", shed->ip);
    snprintf (r.mac, sizeof r.mac, "%s", shed->mac);
    r.tags = shed->tags; /* borrowed */
    snprintf (r.driver, sizeof r.driver, "%s", shed->driver);
    snprintf (r.mode, sizeof r.mode, "%s", c->mode ? "stop" : "live");
    r.created_ms = snaps__wall_ms ();
    c->bytes = bytes;
    c->driver_ms = ms;
    /* Hashed and taken in off the loop (node_snaps_commit.c). */
    if (snaps__commit_async (self, &r, s_committed, c) != 0) {
        snap_store_unstage (self->store, c->name);
        self->captures_failed++;
        snprintf (reason, sizeof reason, "snapshot %s of %s: cannot queue its commit", c->name,
                  c->shed);
        c->code = API_ERR_INTERNAL;
        s_capture_answer (self, c, -1, reason, NULL);
    }
}

void
snaps__capture (shed_snaps_t *self, const char *shed, const char *name, int mode,
                shed_api_call_t **call, bool has_token, uint64_t token)
{
    char why[512] = "";
    int code = API_ERR_INVALID;
    rec_msg_t existing;
    if (self->closing) {
        snprintf (why, sizeof why, "node %s is shutting down", self->name);
        code = API_ERR_UNAVAILABLE;
    }
    else if (snap_name_check (name, why, sizeof why) != 0)
        ;
    else if (snaps__held (self, name) || zlistx_find (self->captures, (void *) (uintptr_t) name)) {
        snprintf (why, sizeof why, "a snapshot named %s exists", name);
    }
    else if (snaps__find (self, name, &existing)) {
        snprintf (why, sizeof why, "a snapshot named %s exists (on %s)", name,
                  existing.u.rec_snapshot.node);
        wire_msg_free (&rec_proto, &existing);
    }
    if (why[0]) {
        if (call)
            shed_api_reply_error (call, code, "%s", why);
        else
            shed_nrpc_reply (self->rpc, token, SHED_NRPC_FAILED, why, NULL, 0);
        return;
    }
    snaps_capture_t *c = (snaps_capture_t *) calloc (1, sizeof *c);
    char path[PATH_MAX];
    if (!c || snap_store_stage_path (self->store, name, path, sizeof path) != 0) {
        free (c);
        snprintf (why, sizeof why, "snapshot %s: cannot stage its file", name);
        if (call)
            shed_api_reply_error (call, API_ERR_INTERNAL, "%s", why);
        else
            shed_nrpc_reply (self->rpc, token, SHED_NRPC_FAILED, why, NULL, 0);
        return;
    }
    c->snaps = self;
    snprintf (c->name, sizeof c->name, "%s", name);
    snprintf (c->shed, sizeof c->shed, "%s", shed);
    c->mode = mode;
    c->t0 = zclock_mono ();
    if (call) {
        c->call = *call;
        *call = NULL;
    }
    c->has_token = has_token;
    c->token = token;
    c->handle = zlistx_add_end (self->captures, c);
    char err[256] = "";
    if (!self->sched
        || shed_sched_snapshot (self->sched, shed, path, mode, s_captured, c, err, sizeof err)
               != 0) {
        snap_store_unstage (self->store, name);
        snprintf (why, sizeof why, "snapshot %s of %s: %s", name, shed,
                  self->sched ? err : "no scheduler");
        c->code = API_ERR_INVALID;
        s_capture_answer (self, c, -1, why, NULL);
    }
}

/* ---- RPC methods ---------------------------------------------------------------- */

static void
s_rpc_create (shed_nrpc_t *rpc, const char *peer, uint64_t token, const uint8_t *body, size_t len,
              void *arg)
{
    shed_snaps_t *self = (shed_snaps_t *) arg;
    snapx_msg_t m;
    if (wire_decode (&snapx_proto, body, len, &m, NULL) != WIRE_OK || m.hdr.type != SNAPX_CREATE) {
        self->rpc_malformed++;
        shed_nrpc_reply (rpc, token, SHED_NRPC_FAILED, "malformed snap.create", NULL, 0);
        return;
    }
    log_debug (S_COMP, "snapshot asked|peer=%s shed=%s name=%s", peer, m.u.snapx_create.shed,
               m.u.snapx_create.name);
    snaps__capture (self, m.u.snapx_create.shed, m.u.snapx_create.name, (int) m.u.snapx_create.mode,
                    NULL, true, token);
    wire_msg_free (&snapx_proto, &m);
}

int
snaps__remove_local (shed_snaps_t *self, const char *name, char *why, size_t whylen)
{
    if (snap_store_remove (self->store, name, why, whylen) != 0)
        return -1;
    s_unpublish (self, name);
    log_info (S_COMP, "snapshot removed|name=%s", name);
    return 0;
}

static void
s_rpc_remove (shed_nrpc_t *rpc, const char *peer, uint64_t token, const uint8_t *body, size_t len,
              void *arg)
{
    shed_snaps_t *self = (shed_snaps_t *) arg;
    snapx_msg_t m;
    if (wire_decode (&snapx_proto, body, len, &m, NULL) != WIRE_OK || m.hdr.type != SNAPX_REMOVE) {
        self->rpc_malformed++;
        shed_nrpc_reply (rpc, token, SHED_NRPC_FAILED, "malformed snap.remove", NULL, 0);
        return;
    }
    char why[256] = "";
    /* A copy fetched here goes too (a move's target drops its copy so). */
    snaps__fetch_forget (self, m.u.snapx_remove.name);
    if (!snaps__held (self, m.u.snapx_remove.name))
        shed_nrpc_reply (rpc, token, RPC_OK, NULL, NULL, 0);
    else if (snaps__remove_local (self, m.u.snapx_remove.name, why, sizeof why) == 0)
        shed_nrpc_reply (rpc, token, RPC_OK, NULL, NULL, 0);
    else
        shed_nrpc_reply (rpc, token, SHED_NRPC_FAILED, why, NULL, 0);
    log_debug (S_COMP, "snapshot remove asked|peer=%s name=%s", peer, m.u.snapx_remove.name);
    wire_msg_free (&snapx_proto, &m);
}

/* A chunk for a peer's fetch: a pread of at most SNAPX_CHUNK_MAX bytes
 * (page cache) on the loop. */
static void
s_rpc_read (shed_nrpc_t *rpc, const char *peer, uint64_t token, const uint8_t *body, size_t len,
            void *arg)
{
    shed_snaps_t *self = (shed_snaps_t *) arg;
    snapx_msg_t m;
    if (wire_decode (&snapx_proto, body, len, &m, NULL) != WIRE_OK || m.hdr.type != SNAPX_READ) {
        self->rpc_malformed++;
        shed_nrpc_reply (rpc, token, SHED_NRPC_FAILED, "malformed snap.read", NULL, 0);
        return;
    }
    const snapx_read_t *r = &m.u.snapx_read;
    uint64_t total = 0;
    ssize_t n = snap_store_read (self->store, r->name, r->offset, self->scratch, r->length, &total);
    if (n < 0) {
        char why[256];
        snprintf (why, sizeof why, "snapshot %s: no data at offset %" PRIu64 " on %s", r->name,
                  r->offset, self->name);
        shed_nrpc_reply (rpc, token, SHED_NRPC_FAILED, why, NULL, 0);
        wire_msg_free (&snapx_proto, &m);
        return;
    }
    snapx_msg_t out = { .hdr.type = SNAPX_CHUNK };
    out.u.snapx_chunk.offset = r->offset;
    out.u.snapx_chunk.data.data = self->scratch;
    out.u.snapx_chunk.data.len = (size_t) n;
    out.u.snapx_chunk.size = total;
    uint8_t *buf = NULL;
    size_t blen = 0;
    if (wire_encode (&snapx_proto, &out, &buf, &blen) == WIRE_OK) {
        shed_nrpc_reply (rpc, token, RPC_OK, NULL, buf, blen);
        self->served_bytes += (uint64_t) n;
    }
    else
        shed_nrpc_reply (rpc, token, SHED_NRPC_FAILED, "encode", NULL, 0);
    free (buf);
    (void) peer;
    wire_msg_free (&snapx_proto, &m);
}

/* ---- life cycle --------------------------------------------------------------- */

/* Copies fetched for a move ("mv-..."): a move never outlives a restart of
 * its target (the source starts its shed again, its temporary snapshot
 * goes), so what a crash left of them in fetch/ goes at start. */
static void
s_sweep_move_copies (shed_snaps_t *self)
{
    char dir[PATH_MAX + 16];
    snprintf (dir, sizeof dir, "%s/snapshots/fetch", self->cfg->data_dir);
    DIR *d = opendir (dir);
    if (!d)
        return;
    struct dirent *de;
    size_t n = 0;
    while ((de = readdir (d))) {
        if (strncmp (de->d_name, "mv-", 3) != 0 || de->d_type == DT_DIR)
            continue;
        if (unlinkat (dirfd (d), de->d_name, 0) == 0)
            n++;
    }
    closedir (d);
    if (n)
        log_info (S_COMP, "removed copies of interrupted moves|count=%zu", n);
}

static void
s_capture_destructor (void **item)
{
    s_capture_free ((snaps_capture_t **) item);
}

static int
s_capture_cmp (const void *item, const void *name)
{
    return strcmp (((const snaps_capture_t *) item)->name, (const char *) name);
}

shed_snaps_t *
shed_snaps_new (const shed_config_t *cfg, shed_nstate_t *state, shed_nrpc_t *rpc, zloop_t *loop,
                shed_api_server_t *api, char *err, size_t errlen)
{
    shed_snaps_t *self = (shed_snaps_t *) calloc (1, sizeof *self);
    if (!self) {
        snprintf (err, errlen, "out of memory");
        return NULL;
    }
    self->cfg = cfg;
    snprintf (self->name, sizeof self->name, "%s", cfg->name);
    self->state = state;
    self->rpc = rpc;
    self->loop = loop;
    char dir[PATH_MAX + 16];
    if ((size_t) snprintf (dir, sizeof dir, "%s/snapshots", cfg->data_dir) >= sizeof dir) {
        snprintf (err, errlen, "data_dir too long");
        free (self);
        return NULL;
    }
    self->store = snap_store_open (dir, (uint64_t) cfg->snapshots.quota_mb << 20, err, errlen);
    self->scratch = (uint8_t *) malloc (SNAPX_CHUNK_MAX);
    self->captures = zlistx_new ();
    self->fetches = zlistx_new ();
    if (!self->store || !self->scratch || !self->captures || !self->fetches) {
        if (self->store)
            snprintf (err, errlen, "out of memory");
        shed_snaps_destroy (&self);
        return NULL;
    }
    zlistx_set_destructor (self->captures, s_capture_destructor);
    zlistx_set_comparator (self->captures, s_capture_cmp);
    snaps__fetch_init (self);
    if (!(self->xfers = snap_xfer_worker_new (loop, snaps__fetch_job_done, self))) {
        snprintf (err, errlen, "cannot start the snapshot transfer worker");
        shed_snaps_destroy (&self);
        return NULL;
    }
    if (snaps__commit_start (self) != 0) {
        snprintf (err, errlen, "cannot start the snapshot committer");
        shed_snaps_destroy (&self);
        return NULL;
    }
    if (shed_nrpc_on (rpc, SNAPX_METHOD_CREATE, s_rpc_create, self) != 0
        || shed_nrpc_on (rpc, SNAPX_METHOD_REMOVE, s_rpc_remove, self) != 0
        || shed_nrpc_on (rpc, SNAPX_METHOD_READ, s_rpc_read, self) != 0
        || snaps__move_register (self, api) != 0) {
        snprintf (err, errlen, "snapshot RPC methods taken");
        shed_snaps_destroy (&self);
        return NULL;
    }
    snaps__api_register (self, api);
    shed_nstate_on_change (state, REC_KIND_SNAPSHOT, s_on_record, self);
    s_publish_all (self);
    s_sweep_move_copies (self);
    return self;
}

void
shed_snaps_set_sched (shed_snaps_t *self, shed_sched_t *sched)
{
    self->sched = sched;
}

void
shed_snaps_shutdown (shed_snaps_t *self)
{
    if (!self || self->closing)
        return;
    self->closing = true;
    snaps__fetch_fail_all (self, "the node is shutting down");
}

void
shed_snaps_destroy (shed_snaps_t **self_p)
{
    shed_snaps_t *self = *self_p;
    if (!self)
        return;
    shed_snaps_shutdown (self);
    snaps__commit_stop (self);
    zlistx_destroy (&self->captures); /* their callers hear "shutting down" */
    snaps__fetch_destroy (self);
    zlistx_destroy (&self->fetches);
    snap_store_destroy (&self->store);
    free (self->scratch);
    free (self);
    *self_p = NULL;
}

char *
shed_snaps_stats (shed_snaps_t *self)
{
    return zsys_sprintf ("held=%zu used=%" PRIu64 " quota=%" PRIu64 " captures_ok=%" PRIu64
                         " captures_failed=%" PRIu64 " fetches_ok=%" PRIu64
                         " fetches_failed=%" PRIu64 " fetched_bytes=%" PRIu64
                         " resumed_bytes=%" PRIu64 " served_bytes=%" PRIu64 " read_retries=%" PRIu64
                         " rpc_malformed=%" PRIu64 " moves_ok=%" PRIu64 " moves_failed=%" PRIu64,
                         snap_store_list (self->store, NULL, NULL), snap_store_used (self->store),
                         snap_store_quota (self->store), self->captures_ok, self->captures_failed,
                         self->fetches_ok, self->fetches_failed, self->fetched_bytes,
                         self->resumed_bytes, self->served_bytes, self->read_retries,
                         self->rpc_malformed, self->moves_ok, self->moves_failed);
}
