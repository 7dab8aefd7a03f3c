/* node_images.c - see node_images.h and docs/images.md. */
#include "node/images/node_images.h"

#include "cluster/records.h"
#include "common/log.h"
#include "crypto/digest.h"
#include "node/images/image_store.h"

#include <errno.h>
#include <fcntl.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/statvfs.h>
#include <unistd.h>

#define S_COMP           "images"
#define S_UPLOAD_IDLE_MS 120000 /* an upload with no chunk for this long is dropped */
#define S_SWEEP_MS       10000

typedef struct {
    char id[API_IMAGE_UPLOAD_MAX + 1];
    char name[IMAGE_NAME_MAX + 1];
    char path[PATH_MAX];
    int fd;
    uint64_t size, received;
    shed_sha256_t *hash; /* of the bytes received, in order */
    int64_t touched_ms;  /* monotonic */
} s_upload_t;

/* One import: built on the main thread, run by its worker, read back on
 * the main thread once the worker says DONE (never touched by both). */
typedef struct {
    shed_api_call_t *call;
    char data_dir[PATH_MAX];
    char name[IMAGE_NAME_MAX + 1];
    char digest[IMAGE_DIGEST_HEX + 1];
    char path[PATH_MAX]; /* the staged archive, unlinked when done */
    int fd;
    zactor_t *worker;
    /* results */
    int rc;
    bool existed;
    image_info_t info;
    char why[512];
} s_job_t;

struct _shed_images_t {
    const shed_config_t *cfg;
    shed_nstate_t *state;
    zloop_t *loop;
    image_store_t *store; /* the main thread's; workers open their own */
    zhashx_t *uploads;    /* id -> s_upload_t */
    zlistx_t *jobs;       /* s_job_t, head runs */
    int sweep_timer;
};

static void *
s_str_dup (const void *item)
{
    return strdup ((const char *) item);
}

static void
s_str_free (void **item_p)
{
    free (*item_p);
    *item_p = NULL;
}

/* -------------------------------------------------------------------------
 * Records
 */

static void
s_publish (shed_images_t *self, const image_info_t *info)
{
    rec_msg_t rec = { .hdr.type = REC_IMAGE };
    rec_image_t *r = &rec.u.rec_image;
    snprintf (r->name, sizeof r->name, "%s", info->name);
    snprintf (r->digest, sizeof r->digest, "%s", info->digest);
    r->size = info->archive_size;
    r->unpacked = info->unpacked_bytes;
    char err[256] = "";
    if (shed_nstate_put_rec (self->state, REC_KIND_IMAGE, info->name, &rec, err, sizeof err) != 0)
        log_error (S_COMP, "cannot publish the image record|name=%s err=\"%s\"", info->name, err);
}

static void
s_unpublish (shed_images_t *self, const char *name)
{
    char err[256] = "";
    if (shed_nstate_delete (self->state, REC_KIND_IMAGE, name, err, sizeof err) != 0)
        log_warn (S_COMP, "cannot delete the image record|name=%s err=\"%s\"", name, err);
}

typedef struct {
    const char *me;
    zlistx_t *names; /* our REC_IMAGE keys */
} s_mine_t;

static void
s_collect_mine (const shed_record_t *rec, void *arg)
{
    s_mine_t *m = arg;
    if (strcmp (rec->origin, m->me) == 0)
        zlistx_add_end (m->names, (void *) (uintptr_t) rec->key); /* copied */
}

/* At start: a record for every image held, none for an image gone (a node
 * that crashed between a removal and its record delete). */
static void
s_publish_all (shed_images_t *self)
{
    image_info_t *items = NULL;
    size_t n = 0;
    char why[256];
    if (image_store_list (self->store, &items, &n, why, sizeof why) != 0) {
        log_error (S_COMP, "cannot list images|err=\"%s\"", why);
        return;
    }
    for (size_t i = 0; i < n; i++)
        s_publish (self, &items[i]);
    s_mine_t mine = { .me = self->cfg->name, .names = zlistx_new () };
    zlistx_set_duplicator (mine.names, s_str_dup);
    zlistx_set_destructor (mine.names, s_str_free);
    shed_nstate_list (self->state, REC_KIND_IMAGE, s_collect_mine, &mine);
    for (const char *key = zlistx_first (mine.names); key; key = zlistx_next (mine.names)) {
        bool held = false;
        for (size_t i = 0; i < n && !held; i++)
            held = strcmp (items[i].name, key) == 0;
        if (!held)
            s_unpublish (self, key);
    }
    zlistx_destroy (&mine.names);
    log_info (S_COMP, "images held|count=%zu", n);
    free (items);
}

/* -------------------------------------------------------------------------
 * Uploads
 */

static void
s_upload_destroy (s_upload_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    s_upload_t *u = *self_p;
    if (u->fd >= 0)
        close (u->fd);
    if (u->path[0])
        unlink (u->path);
    shed_sha256_destroy (&u->hash);
    free (u);
    *self_p = NULL;
}

static void
s_upload_free (void **item_p)
{
    s_upload_destroy ((s_upload_t **) item_p);
}

static void
s_upload_drop (shed_images_t *self, const char *id)
{
    zhashx_delete (self->uploads, id); /* the destructor closes and unlinks */
}

static int
s_sweep (zloop_t *loop, int timer_id, void *arg)
{
    shed_images_t *self = arg;
    int64_t now = zclock_mono ();
    zlistx_t *stale = zlistx_new ();
    for (s_upload_t *u = zhashx_first (self->uploads); u; u = zhashx_next (self->uploads))
        if (now - u->touched_ms > S_UPLOAD_IDLE_MS)
            zlistx_add_end (stale, u->id);
    for (char *id = zlistx_first (stale); id; id = zlistx_next (stale)) {
        log_warn (S_COMP, "upload dropped: idle|upload=%s", id);
        s_upload_drop (self, id);
    }
    zlistx_destroy (&stale);
    return 0;
}

static void
s_on_begin (shed_api_call_t *call, const api_msg_t *req, void *arg)
{
    shed_images_t *self = arg;
    const api_image_begin_req_t *r = &req->u.api_image_begin_req;
    char why[256];
    if (!image_name_valid (r->name, why, sizeof why)) {
        shed_api_reply_error (&call, API_ERR_INVALID, "%s", why);
        return;
    }
    if (r->size == 0 || r->size > SHED_IMAGE_ARCHIVE_MAX) {
        shed_api_reply_error (&call, API_ERR_INVALID,
                              "an image archive must be 1 byte to %llu GiB, this one is %llu "
                              "bytes",
                              (unsigned long long) (SHED_IMAGE_ARCHIVE_MAX >> 30),
                              (unsigned long long) r->size);
        return;
    }
    if (zhashx_size (self->uploads) >= SHED_IMAGE_UPLOADS_MAX) {
        shed_api_reply_error (&call, API_ERR_UNAVAILABLE,
                              "%d image uploads already in progress; try again later",
                              SHED_IMAGE_UPLOADS_MAX);
        return;
    }
    const char *tmp = image_store_tmp_dir (self->store, why, sizeof why);
    if (!tmp) {
        shed_api_reply_error (&call, API_ERR_INTERNAL, "%s", why);
        return;
    }
    struct statvfs vfs;
    if (statvfs (tmp, &vfs) == 0 && (uint64_t) vfs.f_bavail * vfs.f_frsize < r->size) {
        shed_api_reply_error (&call, API_ERR_INVALID,
                              "the archive (%llu MiB) does not fit in %s (%llu MiB free)",
                              (unsigned long long) (r->size >> 20), tmp,
                              (unsigned long long) ((uint64_t) vfs.f_bavail * vfs.f_frsize >> 20));
        return;
    }
    s_upload_t *u = calloc (1, sizeof *u);
    assert (u);
    u->fd = -1;
    if (!(u->hash = shed_sha256_new ())) {
        shed_api_reply_error (&call, API_ERR_INTERNAL, "out of memory");
        s_upload_destroy (&u);
        return;
    }
    uint8_t raw[API_IMAGE_UPLOAD_MAX / 2];
    randombytes_buf (raw, sizeof raw);
    sodium_bin2hex (u->id, sizeof u->id, raw, sizeof raw);
    snprintf (u->name, sizeof u->name, "%s", r->name);
    snprintf (u->path, sizeof u->path, "%s/upload-%s", tmp, u->id);
    u->fd = open (u->path, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
    if (u->fd < 0) {
        shed_api_reply_error (&call, API_ERR_INTERNAL, "%s: %s", u->path, strerror (errno));
        u->path[0] = '\0';
        s_upload_destroy (&u);
        return;
    }
    u->size = r->size;
    u->touched_ms = zclock_mono ();
    zhashx_insert (self->uploads, u->id, u);
    log_info (S_COMP, "upload started|upload=%s name=%s size=%llu", u->id, u->name,
              (unsigned long long) u->size);
    api_msg_t rep = { .hdr.type = API_IMAGE_UPLOAD_REP };
    snprintf (rep.u.api_image_upload_rep.upload, sizeof rep.u.api_image_upload_rep.upload, "%s",
              u->id);
    rep.u.api_image_upload_rep.chunk_max = API_IMAGE_CHUNK_MAX;
    shed_api_reply (&call, &rep);
}

static void
s_on_chunk (shed_api_call_t *call, const api_msg_t *req, void *arg)
{
    shed_images_t *self = arg;
    const api_image_chunk_req_t *r = &req->u.api_image_chunk_req;
    s_upload_t *u = zhashx_lookup (self->uploads, r->upload);
    if (!u) {
        shed_api_reply_error (&call, API_ERR_NOT_FOUND, "no upload %s (it may have expired)",
                              r->upload);
        return;
    }
    if (r->offset != u->received) {
        shed_api_reply_error (&call, API_ERR_INVALID, "upload %s: chunk at %llu, expected %llu",
                              u->id, (unsigned long long) r->offset,
                              (unsigned long long) u->received);
        return;
    }
    if (r->data.len > u->size - u->received) {
        shed_api_reply_error (&call, API_ERR_INVALID, "upload %s: more bytes than announced",
                              u->id);
        s_upload_drop (self, r->upload);
        return;
    }
    size_t done = 0;
    while (done < r->data.len) {
        ssize_t n =
            pwrite (u->fd, r->data.data + done, r->data.len - done, (off_t) (u->received + done));
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0) {
            shed_api_reply_error (&call, API_ERR_INTERNAL, "upload %s: %s", u->id,
                                  n < 0 ? strerror (errno) : "short write");
            s_upload_drop (self, r->upload);
            return;
        }
        done += (size_t) n;
    }
    shed_sha256_update (u->hash, r->data.data, r->data.len);
    u->received += r->data.len;
    u->touched_ms = zclock_mono ();
    api_msg_t rep = { .hdr.type = API_IMAGE_UPLOAD_REP };
    snprintf (rep.u.api_image_upload_rep.upload, sizeof rep.u.api_image_upload_rep.upload, "%s",
              u->id);
    rep.u.api_image_upload_rep.received = u->received;
    rep.u.api_image_upload_rep.chunk_max = API_IMAGE_CHUNK_MAX;
    shed_api_reply (&call, &rep);
}

static void
s_on_abort (shed_api_call_t *call, const api_msg_t *req, void *arg)
{
    shed_images_t *self = arg;
    const char *id = req->u.api_image_abort_req.upload;
    if (!zhashx_lookup (self->uploads, id)) {
        shed_api_reply_error (&call, API_ERR_NOT_FOUND, "no upload %s", id);
        return;
    }
    s_upload_drop (self, id);
    api_msg_t rep = { .hdr.type = API_OK };
    shed_api_reply (&call, &rep);
}

/* -------------------------------------------------------------------------
 * Imports, one at a time on a worker
 */

static void
s_info_to_api (const image_info_t *info, bool existed, api_image_t *out)
{
    memset (out, 0, sizeof *out);
    snprintf (out->name, sizeof out->name, "%s", info->name);
    snprintf (out->digest, sizeof out->digest, "%s", info->digest);
    out->archive_size = info->archive_size;
    out->unpacked_bytes = info->unpacked_bytes;
    out->files = info->files;
    out->entries = info->entries;
    out->imported_ms = info->imported_ms;
    snprintf (out->os_name, sizeof out->os_name, "%s", info->os_name);
    snprintf (out->rootfs, sizeof out->rootfs, "%.*s", API_TEXT_MAX, info->rootfs);
    out->existed = existed;
}

static void
s_worker (zsock_t *pipe, void *arg)
{
    s_job_t *job = arg;
    zsock_signal (pipe, 0);
    image_store_t *store = image_store_new (job->data_dir, job->why, sizeof job->why);
    job->rc = -1;
    if (store) {
        image_unpack_opts_t opts = { .owners = geteuid () == 0,
                                     .reserve_bytes = IMAGE_RESERVE_DEFAULT };
        job->rc = image_store_import_fd (store, job->name, job->fd, job->digest, &opts, &job->info,
                                         &job->existed, job->why, sizeof job->why);
    }
    image_store_destroy (&store);
    zstr_send (pipe, "DONE");
    char *term = zstr_recv (pipe); /* $TERM from zactor_destroy */
    zstr_free (&term);
}

static void s_job_start (shed_images_t *self);

static void
s_job_destroy (s_job_t **job_p)
{
    s_job_t *job = *job_p;
    if (!job)
        return;
    zactor_destroy (&job->worker);
    if (job->fd >= 0)
        close (job->fd);
    if (job->path[0])
        unlink (job->path);
    if (job->call)
        shed_api_reply_error (&job->call, API_ERR_UNAVAILABLE, "the node is stopping");
    free (job);
    *job_p = NULL;
}

static int
s_on_worker (zloop_t *loop, zsock_t *sock, void *arg)
{
    shed_images_t *self = arg;
    char *msg = zstr_recv (sock);
    zstr_free (&msg);
    zloop_reader_end (loop, sock);
    s_job_t *job = zlistx_detach (self->jobs, NULL);
    if (job->rc == 0) {
        s_publish (self, &job->info);
        api_image_t item;
        s_info_to_api (&job->info, job->existed, &item);
        api_msg_t rep = { .hdr.type = API_IMAGE_LIST_REP };
        rep.u.api_image_list_rep.images.n = 1;
        rep.u.api_image_list_rep.images.items = &item;
        shed_api_reply (&job->call, &rep);
    }
    else {
        log_warn (S_COMP, "import refused|name=%s why=\"%s\"", job->name, job->why);
        shed_api_reply_error (&job->call, API_ERR_INVALID, "image %s: %s", job->name, job->why);
    }
    s_job_destroy (&job);
    s_job_start (self);
    return 0;
}

static void
s_job_start (shed_images_t *self)
{
    s_job_t *job = zlistx_first (self->jobs);
    if (!job || job->worker)
        return;
    job->worker = zactor_new (s_worker, job);
    if (!job->worker) {
        zlistx_detach (self->jobs, NULL);
        shed_api_reply_error (&job->call, API_ERR_INTERNAL, "cannot start an import worker");
        s_job_destroy (&job);
        return;
    }
    zloop_reader (self->loop, zactor_sock (job->worker), s_on_worker, self);
}

static void
s_on_commit (shed_api_call_t *call, const api_msg_t *req, void *arg)
{
    shed_images_t *self = arg;
    const api_image_commit_req_t *r = &req->u.api_image_commit_req;
    s_upload_t *u = zhashx_lookup (self->uploads, r->upload);
    if (!u) {
        shed_api_reply_error (&call, API_ERR_NOT_FOUND, "no upload %s (it may have expired)",
                              r->upload);
        return;
    }
    if (u->received != u->size) {
        shed_api_reply_error (&call, API_ERR_INVALID, "upload %s: %llu of %llu bytes received",
                              u->id, (unsigned long long) u->received,
                              (unsigned long long) u->size);
        return;
    }
    char hex[SHED_SHA256_HEX + 1];
    shed_sha256_final (u->hash, hex);
    if (strcmp (hex, r->sha256) != 0) {
        shed_api_reply_error (&call, API_ERR_INVALID,
                              "upload %s damaged: sha256 %.12s... here, %.12s... read by the "
                              "client",
                              u->id, hex, r->sha256);
        s_upload_drop (self, r->upload);
        return;
    }
    s_job_t *job = calloc (1, sizeof *job);
    assert (job);
    job->call = call;
    snprintf (job->data_dir, sizeof job->data_dir, "%s", self->cfg->data_dir);
    snprintf (job->name, sizeof job->name, "%s", u->name);
    snprintf (job->digest, sizeof job->digest, "%s", hex);
    snprintf (job->path, sizeof job->path, "%s", u->path);
    job->fd = u->fd;
    u->fd = -1; /* the job owns the staged file now */
    u->path[0] = '\0';
    s_upload_drop (self, r->upload);
    log_info (S_COMP, "import queued|name=%s digest=%s queue=%zu", job->name, job->digest,
              zlistx_size (self->jobs));
    zlistx_add_end (self->jobs, job);
    s_job_start (self);
}

/* -------------------------------------------------------------------------
 * List, show, remove
 */

static void
s_on_list (shed_api_call_t *call, const api_msg_t *req, void *arg)
{
    shed_images_t *self = arg;
    const char *name = req->u.api_image_list_req.name;
    char why[512];
    api_msg_t rep = { .hdr.type = API_IMAGE_LIST_REP };
    if (*name) {
        image_info_t info;
        if (image_store_show (self->store, name, &info, why, sizeof why) != 0) {
            shed_api_reply_error (&call, errno == ENOENT ? API_ERR_NOT_FOUND : API_ERR_INVALID,
                                  "%s", why);
            return;
        }
        api_image_t item;
        s_info_to_api (&info, false, &item);
        rep.u.api_image_list_rep.images.n = 1;
        rep.u.api_image_list_rep.images.items = &item;
        shed_api_reply (&call, &rep);
        return;
    }
    image_info_t *items = NULL;
    size_t n = 0;
    if (image_store_list (self->store, &items, &n, why, sizeof why) != 0) {
        shed_api_reply_error (&call, API_ERR_INTERNAL, "%s", why);
        return;
    }
    if (n > API_IMAGES_MAX)
        n = API_IMAGES_MAX;
    api_image_t *out = calloc (n + 1, sizeof *out);
    assert (out);
    for (size_t i = 0; i < n; i++)
        s_info_to_api (&items[i], false, &out[i]);
    rep.u.api_image_list_rep.images.n = n;
    rep.u.api_image_list_rep.images.items = out;
    shed_api_reply (&call, &rep);
    free (out);
    free (items);
}

typedef struct {
    const char *me;
    const char *name;
    const char *digest;
    char user[REC_NAME_MAX + 1];
} s_use_t;

static void
s_collect_use (const shed_record_t *rec, void *arg)
{
    s_use_t *use = arg;
    if (use->user[0] || strcmp (rec->origin, use->me) != 0)
        return;
    rec_msg_t m;
    if (wire_decode (&rec_proto, rec->value, rec->len, &m, NULL) != WIRE_OK)
        return;
    if (m.hdr.type == REC_SHED) {
        char digest[IMAGE_DIGEST_HEX + 1];
        const char *image = m.u.rec_shed.image;
        if (strcmp (image, use->name) == 0
            || (image_digest_parse (image, digest) && strcmp (digest, use->digest) == 0))
            snprintf (use->user, sizeof use->user, "%s", m.u.rec_shed.name);
    }
    wire_msg_free (&rec_proto, &m);
}

/* A shed on this node whose record names the image or its digest (sheds
 * are recorded only by the node that runs them). */
static bool
s_in_use (const char *name, const char *digest, void *arg, char *user, size_t size)
{
    shed_images_t *self = arg;
    s_use_t use = { .me = self->cfg->name, .name = name, .digest = digest };
    shed_nstate_list (self->state, REC_KIND_SHED, s_collect_use, &use);
    snprintf (user, size, "%s", use.user);
    return use.user[0] != '\0';
}

static void
s_on_rm (shed_api_call_t *call, const api_msg_t *req, void *arg)
{
    shed_images_t *self = arg;
    const char *name = req->u.api_image_rm_req.name;
    char why[512];
    bool tree = false;
    if (image_store_remove (self->store, name, s_in_use, self, &tree, why, sizeof why) != 0) {
        shed_api_reply_error (&call, errno == ENOENT ? API_ERR_NOT_FOUND : API_ERR_INVALID, "%s",
                              why);
        return;
    }
    s_unpublish (self, name);
    api_msg_t rep = { .hdr.type = API_OK };
    snprintf (rep.u.api_ok.message, sizeof rep.u.api_ok.message,
              tree ? "removed image %s and its tree"
                   : "removed image %s (its tree stays: another name has it)",
              name);
    shed_api_reply (&call, &rep);
}

/* -------------------------------------------------------------------------
 * Lifecycle
 */

shed_images_t *
shed_images_new (const shed_config_t *cfg, shed_nstate_t *state, zloop_t *loop,
                 shed_api_server_t *api, char *err, size_t errlen)
{
    shed_images_t *self = calloc (1, sizeof *self);
    if (!self) {
        snprintf (err, errlen, "out of memory");
        return NULL;
    }
    self->cfg = cfg;
    self->state = state;
    self->loop = loop;
    char why[256];
    self->store = image_store_new (cfg->data_dir, why, sizeof why);
    if (!self->store) {
        snprintf (err, errlen, "images: %s", why);
        free (self);
        return NULL;
    }
    image_store_clean_tmp (self->store);
    self->uploads = zhashx_new ();
    zhashx_set_destructor (self->uploads, s_upload_free);
    self->jobs = zlistx_new ();
    self->sweep_timer = zloop_timer (loop, S_SWEEP_MS, 0, s_sweep, self);
    s_publish_all (self);
    shed_api_server_on (api, API_IMAGE_BEGIN_REQ, s_on_begin, self);
    shed_api_server_on (api, API_IMAGE_CHUNK_REQ, s_on_chunk, self);
    shed_api_server_on (api, API_IMAGE_COMMIT_REQ, s_on_commit, self);
    shed_api_server_on (api, API_IMAGE_ABORT_REQ, s_on_abort, self);
    shed_api_server_on (api, API_IMAGE_LIST_REQ, s_on_list, self);
    shed_api_server_on (api, API_IMAGE_RM_REQ, s_on_rm, self);
    return self;
}

void
shed_images_destroy (shed_images_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    shed_images_t *self = *self_p;
    if (self->sweep_timer > 0)
        zloop_timer_end (self->loop, self->sweep_timer);
    s_job_t *job;
    while ((job = zlistx_detach (self->jobs, NULL))) {
        if (job->worker) {
            zloop_reader_end (self->loop, zactor_sock (job->worker));
            log_info (S_COMP, "waiting for an import to finish|name=%s", job->name);
        }
        s_job_destroy (&job);
    }
    zlistx_destroy (&self->jobs);
    zhashx_destroy (&self->uploads);
    image_store_destroy (&self->store);
    free (self);
    *self_p = NULL;
}

/* -------------------------------------------------------------------------
 * The placement view
 */

typedef struct {
    char *node;
    zlistx_t *refs; /* char *: names and "sha256:<hex>" */
    const char **array;
} s_node_images_t;

struct _shed_image_view_t {
    zhashx_t *nodes; /* node -> s_node_images_t */
};

static void
s_node_images_destroy (s_node_images_t **self_p)
{
    s_node_images_t *n = *self_p;
    if (!n)
        return;
    zlistx_destroy (&n->refs);
    free (n->array);
    free (n->node);
    free (n);
    *self_p = NULL;
}

static void
s_node_images_free (void **item_p)
{
    s_node_images_destroy ((s_node_images_t **) item_p);
}

static void
s_view_add (s_node_images_t *n, const char *ref)
{
    for (const char *r = zlistx_first (n->refs); r; r = zlistx_next (n->refs))
        if (strcmp (r, ref) == 0)
            return;
    zlistx_add_end (n->refs, (void *) (uintptr_t) ref); /* copied */
}

static void
s_collect_image (const shed_record_t *rec, void *arg)
{
    shed_image_view_t *self = arg;
    rec_msg_t m;
    if (wire_decode (&rec_proto, rec->value, rec->len, &m, NULL) != WIRE_OK)
        return;
    if (m.hdr.type == REC_IMAGE) {
        s_node_images_t *n = zhashx_lookup (self->nodes, rec->origin);
        if (!n) {
            n = calloc (1, sizeof *n);
            assert (n);
            n->node = strdup (rec->origin);
            n->refs = zlistx_new ();
            zlistx_set_duplicator (n->refs, s_str_dup);
            zlistx_set_destructor (n->refs, s_str_free);
            zhashx_insert (self->nodes, rec->origin, n);
        }
        char digest[80];
        snprintf (digest, sizeof digest, "sha256:%s", m.u.rec_image.digest);
        s_view_add (n, m.u.rec_image.name);
        s_view_add (n, digest);
    }
    wire_msg_free (&rec_proto, &m);
}

shed_image_view_t *
shed_image_view_new (shed_nstate_t *state)
{
    shed_image_view_t *self = calloc (1, sizeof *self);
    assert (self);
    self->nodes = zhashx_new ();
    zhashx_set_destructor (self->nodes, s_node_images_free);
    shed_nstate_list (state, REC_KIND_IMAGE, s_collect_image, self);
    for (s_node_images_t *n = zhashx_first (self->nodes); n; n = zhashx_next (self->nodes)) {
        n->array = calloc (zlistx_size (n->refs) + 1, sizeof *n->array);
        assert (n->array);
        size_t i = 0;
        for (const char *r = zlistx_first (n->refs); r; r = zlistx_next (n->refs))
            n->array[i++] = r;
    }
    return self;
}

void
shed_image_view_destroy (shed_image_view_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    zhashx_destroy (&(*self_p)->nodes);
    free (*self_p);
    *self_p = NULL;
}

size_t
shed_image_view_node (const shed_image_view_t *self, const char *node, const char *const **refs)
{
    s_node_images_t *n = zhashx_lookup (self->nodes, node);
    *refs = n ? (const char *const *) n->array : NULL;
    return n ? zlistx_size (n->refs) : 0;
}
