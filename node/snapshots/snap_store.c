/* snap_store.c - see snap_store.h and docs/snapshots.md, "Store". */
#include "node/snapshots/snap_store.h"
#include "node/snapshots/snap_proto.h"

#include "common/fileutil.h"
#include "crypto/digest.h"
#include "common/log.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define S_COMP     "snapshots"
#define S_META_MAX (64 * 1024) /* a record with 32 tags is a few KiB */

struct _snap_store_t {
    char dir[PATH_MAX];
    char tmp[PATH_MAX + 8];
    char fetch[PATH_MAX + 8];
    uint64_t quota;
    bool made; /* the directories exist (s_make_dirs) */
};

/* -------------------------------------------------------------------------
 * Names and paths
 */

int
snap_name_check (const char *name, char *err, size_t errlen)
{
    const char *problem = NULL;
    size_t len = name ? strnlen (name, REC_NAME_MAX + 1) : 0;
    if (len == 0)
        problem = "the name is empty";
    else if (len > REC_NAME_MAX)
        problem = "longer than 63 characters";
    else if (!((name[0] >= 'a' && name[0] <= 'z') || (name[0] >= '0' && name[0] <= '9')))
        problem = "must start with a lowercase letter or a digit";
    else if (strcmp (name, "tmp") == 0 || strcmp (name, "fetch") == 0)
        problem = "reserved by the store";
    else
        for (size_t i = 0; i < len && !problem; i++) {
            char c = name[i];
            if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-'))
                problem = "only a-z, 0-9 and '-' are allowed";
        }
    if (problem && err && errlen)
        snprintf (err, errlen, "invalid snapshot name '%.63s%s': %s", name ? name : "",
                  len > REC_NAME_MAX ? "..." : "", problem);
    return problem ? -1 : 0;
}

/* snprintf that says whether it fit. */
static int
s_path (char *out, size_t size, const char *fmt, const char *a, const char *b)
{
    int n = snprintf (out, size, fmt, a, b);
    if (n < 0 || (size_t) n >= size) {
        errno = ENAMETOOLONG;
        return -1;
    }
    return 0;
}

static int
s_rm_entry (const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void) st;
    (void) ftw;
    int rc = (flag == FTW_DP || flag == FTW_D) ? rmdir (path) : unlink (path);
    return rc != 0 && errno != ENOENT ? -1 : 0;
}

/* rm -rf without following symlinks. */
static int
s_rmtree (const char *path)
{
    struct stat st;
    if (lstat (path, &st) != 0)
        return errno == ENOENT ? 0 : -1;
    if (!S_ISDIR (st.st_mode))
        return unlink (path);
    return nftw (path, s_rm_entry, 16, FTW_DEPTH | FTW_PHYS);
}

static void
s_fsync_dir (const char *dir)
{
    int fd = open (dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd >= 0) {
        fsync (fd);
        close (fd);
    }
}

static const char *
s_errtext (int e)
{
    return e == ENOSPC || e == EDQUOT ? "disk full" : strerror (e);
}

/* -------------------------------------------------------------------------
 * Lifecycle
 */

static void
s_clean_tmp (snap_store_t *self)
{
    DIR *d = opendir (self->tmp);
    if (!d)
        return;
    struct dirent *de;
    char path[2 * PATH_MAX];
    while ((de = readdir (d))) {
        if (strcmp (de->d_name, ".") == 0 || strcmp (de->d_name, "..") == 0)
            continue;
        snprintf (path, sizeof path, "%s/%s", self->tmp, de->d_name);
        if (s_rmtree (path) != 0)
            log_warn (S_COMP, "cannot clean a leftover|path=%s err=\"%s\"", path, strerror (errno));
        else
            log_info (S_COMP, "removed a leftover of an interrupted capture|path=%s", path);
    }
    closedir (d);
}

snap_store_t *
snap_store_open (const char *dir, uint64_t quota_bytes, char *err, size_t errlen)
{
    if (!dir || !*dir) {
        snprintf (err, errlen, "snapshot store: no directory");
        return NULL;
    }
    /* room for tmp/<63>.layer.partial and the like below it */
    if (strlen (dir) + 2 * REC_NAME_MAX + 64 >= PATH_MAX) {
        snprintf (err, errlen, "snapshot store: directory path too long");
        return NULL;
    }
    snap_store_t *self = calloc (1, sizeof *self);
    if (!self) {
        snprintf (err, errlen, "out of memory");
        return NULL;
    }
    snprintf (self->dir, sizeof self->dir, "%s", dir);
    snprintf (self->tmp, sizeof self->tmp, "%s/tmp", dir);
    snprintf (self->fetch, sizeof self->fetch, "%s/fetch", dir);
    self->quota = quota_bytes;
    /* The directories come with the first capture or fetch (s_make_dirs):
     * a node that never snapshots creates none, and a first start is three
     * inodes lighter (docs/membership.md, "Start-up before membership"). A
     * missing tmp/ has nothing to clean. */
    s_clean_tmp (self);
    return self;
}

/* <dir>, tmp/ and fetch/, made 0700 before anything is written there
 * (every writer gets its path from a function below that calls this).
 * Readers need none: a missing <dir> holds no snapshot. 0, or -1/errno. */
static int
s_make_dirs (snap_store_t *self)
{
    if (self->made)
        return 0;
    const char *dirs[] = { self->dir, self->tmp, self->fetch };
    for (size_t i = 0; i < 3; i++)
        if (shed_mkdir_p (dirs[i], 0700) != 0) {
            int e = errno;
            log_warn (S_COMP, "cannot make a snapshot directory|dir=%s err=\"%s\"", dirs[i],
                      strerror (e));
            errno = e;
            return -1;
        }
    self->made = true;
    return 0;
}

void
snap_store_destroy (snap_store_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    free (*self_p);
    *self_p = NULL;
}

/* -------------------------------------------------------------------------
 * Paths handed out
 */

int
snap_store_stage_path (snap_store_t *self, const char *name, char *path, size_t size)
{
    if (snap_name_check (name, NULL, 0) != 0
        || s_path (path, size, "%s/%s.layer", self->tmp, name) != 0 || s_make_dirs (self) != 0)
        return -1;
    if (unlink (path) != 0 && errno != ENOENT)
        return -1;
    return 0;
}

void
snap_store_unstage (snap_store_t *self, const char *name)
{
    char path[PATH_MAX];
    if (snap_name_check (name, NULL, 0) == 0
        && s_path (path, sizeof path, "%s/%s.layer", self->tmp, name) == 0)
        unlink (path);
}

int
snap_store_fetch_path (snap_store_t *self, const char *name, char *path, size_t size)
{
    if (snap_name_check (name, NULL, 0) != 0 || s_make_dirs (self) != 0)
        return -1;
    return s_path (path, size, "%s/%s.layer", self->fetch, name);
}

int
snap_store_layer_path (snap_store_t *self, const char *name, char *path, size_t size)
{
    if (snap_name_check (name, NULL, 0) != 0 || s_path (path, size, "%s/%s/layer", self->dir, name))
        return -1;
    struct stat st;
    if (lstat (path, &st) != 0 || !S_ISREG (st.st_mode)) {
        errno = ENOENT;
        return -1;
    }
    return 0;
}

/* -------------------------------------------------------------------------
 * Quota
 */

/* A held snapshot's layer size, or -1. */
static int64_t
s_layer_size (const snap_store_t *self, const char *name)
{
    char path[PATH_MAX];
    struct stat st;
    if (s_path (path, sizeof path, "%s/%s/layer", self->dir, name) != 0 || lstat (path, &st) != 0
        || !S_ISREG (st.st_mode))
        return -1;
    return (int64_t) st.st_size;
}

uint64_t
snap_store_used (snap_store_t *self)
{
    /* Counted from the directory each time: a store object holds no state
     * another thread's commit could make stale. */
    DIR *d = opendir (self->dir);
    if (!d)
        return 0;
    uint64_t used = 0;
    struct dirent *de;
    while ((de = readdir (d))) {
        if (snap_name_check (de->d_name, NULL, 0) != 0)
            continue;
        int64_t n = s_layer_size (self, de->d_name);
        if (n > 0)
            used += (uint64_t) n;
    }
    closedir (d);
    return used;
}

uint64_t
snap_store_quota (snap_store_t *self)
{
    return self->quota;
}

int
snap_store_room (snap_store_t *self, uint64_t more, char *err, size_t errlen)
{
    if (self->quota == 0)
        return 0;
    uint64_t used = snap_store_used (self);
    if (used > self->quota || more > self->quota - used) {
        snprintf (err, errlen,
                  "snapshot quota: %" PRIu64 " bytes used + %" PRIu64 " new > quota %" PRIu64
                  " (snapshot_quota)",
                  used, more, self->quota);
        return -1;
    }
    return 0;
}

/* -------------------------------------------------------------------------
 * Commit
 */

/* sha256 of fd's bytes from 0, and fsync it. 0 or -1 with errno. */
static int
s_hash_fd (int fd, char hex[SNAP_DIGEST_HEX + 1], uint64_t *bytes)
{
    return shed_sha256_fd (fd, hex, bytes) == 0 ? fsync (fd) : -1;
}

/* Write rec (as REC_SNAPSHOT) to path, fsynced. 0 or -1 with errno. */
static int
s_meta_write (const char *path, const rec_snapshot_t *rec)
{
    rec_msg_t msg;
    memset (&msg, 0, sizeof msg);
    msg.hdr.type = REC_SNAPSHOT;
    msg.u.rec_snapshot = *rec; /* tags borrowed: encode only reads */
    uint8_t *buf = NULL;
    size_t len = 0;
    if (wire_encode (&rec_proto, &msg, &buf, &len) != WIRE_OK) {
        errno = EINVAL;
        return -1;
    }
    int fd = open (path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
    int rc = -1;
    if (fd >= 0) {
        size_t done = 0;
        while (done < len) {
            ssize_t n = write (fd, buf + done, len - done);
            if (n < 0 && errno == EINTR)
                continue;
            if (n <= 0) {
                if (n == 0)
                    errno = ENOSPC;
                break;
            }
            done += (size_t) n;
        }
        if (done == len && fsync (fd) == 0)
            rc = 0;
        int e = errno;
        close (fd);
        errno = e;
    }
    free (buf);
    return rc;
}

int
snap_store_commit (snap_store_t *self, rec_snapshot_t *rec, char *err, size_t errlen)
{
    const char *name = rec->name;
    if (snap_name_check (name, err, errlen) != 0)
        return -1;
    char staged[PATH_MAX], build[PATH_MAX], final[PATH_MAX], path[PATH_MAX];
    if (s_path (staged, sizeof staged, "%s/%s.layer", self->tmp, name)
        || s_path (build, sizeof build, "%s/%s.commit", self->tmp, name)
        || s_path (final, sizeof final, "%s/%s", self->dir, name)) {
        snprintf (err, errlen, "snapshot '%s': path too long", name);
        return -1;
    }
    if (s_make_dirs (self) != 0) {
        snprintf (err, errlen, "snapshot '%s': %s: %s", name, self->dir, s_errtext (errno));
        return -1;
    }
    int fd = -1;
    struct stat st;
    if (lstat (final, &st) == 0) {
        snprintf (err, errlen, "snapshot '%s' already exists on this node", name);
        goto fail;
    }
    fd = open (staged, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
    if (fd < 0 || fstat (fd, &st) != 0 || !S_ISREG (st.st_mode)) {
        snprintf (err, errlen, "snapshot '%s': no captured layer (%s)", name,
                  fd < 0 ? strerror (errno) : "not a regular file");
        goto fail;
    }
    if (snap_store_room (self, (uint64_t) st.st_size, err, errlen) != 0)
        goto fail;
    char hex[SNAP_DIGEST_HEX + 1];
    uint64_t bytes = 0;
    if (s_hash_fd (fd, hex, &bytes) != 0) {
        snprintf (err, errlen, "snapshot '%s': reading the layer: %s", name, s_errtext (errno));
        goto fail;
    }
    close (fd);
    fd = -1;
    /* Put layer and meta together in tmp/, then rename the directory into
     * place: the snapshot appears whole or not at all. */
    s_rmtree (build);
    if (mkdir (build, 0700) != 0) {
        snprintf (err, errlen, "snapshot '%s': %s: %s", name, build, s_errtext (errno));
        goto fail;
    }
    snprintf (rec->digest, sizeof rec->digest, "%s", hex);
    rec->size = bytes;
    if (s_path (path, sizeof path, "%s/%s", build, "layer") || rename (staged, path) != 0) {
        snprintf (err, errlen, "snapshot '%s': moving the layer: %s", name, s_errtext (errno));
        goto fail;
    }
    if (s_path (path, sizeof path, "%s/%s", build, "meta") || s_meta_write (path, rec) != 0) {
        snprintf (err, errlen, "snapshot '%s': writing its metadata: %s", name, s_errtext (errno));
        goto fail;
    }
    s_fsync_dir (build);
    if (rename (build, final) != 0) {
        int e = errno;
        if (e == EEXIST || e == ENOTEMPTY)
            snprintf (err, errlen, "snapshot '%s' already exists on this node", name);
        else
            snprintf (err, errlen, "snapshot '%s': %s", name, s_errtext (e));
        goto fail;
    }
    s_fsync_dir (self->dir);
    log_info (S_COMP, "snapshot stored|name=%s shed=%s size=%" PRIu64 " sha256=%.12s", name,
              rec->shed, bytes, hex);
    return 0;
fail:
    if (fd >= 0)
        close (fd);
    unlink (staged);
    s_rmtree (build);
    return -1;
}

/* -------------------------------------------------------------------------
 * Remove, get, list
 */

int
snap_store_remove (snap_store_t *self, const char *name, char *err, size_t errlen)
{
    if (snap_name_check (name, err, errlen) != 0) {
        errno = EINVAL;
        return -1;
    }
    char final[PATH_MAX], gone[PATH_MAX];
    struct stat st;
    if (s_path (final, sizeof final, "%s/%s", self->dir, name) || lstat (final, &st) != 0
        || !S_ISDIR (st.st_mode)) {
        snprintf (err, errlen, "no snapshot '%s' on this node", name);
        errno = ENOENT;
        return -1;
    }
    /* Renamed away first, so it disappears at once even if the unlinks
     * are interrupted (tmp/ is emptied at open). */
    static unsigned s_seq;
    char seq[32];
    snprintf (seq, sizeof seq, "%d-%u", (int) getpid (), __atomic_add_fetch (&s_seq, 1, 0));
    if (s_path (gone, sizeof gone, "%s/%s.rm-", self->tmp, name)
        || strlen (gone) + strlen (seq) >= sizeof gone) {
        snprintf (err, errlen, "snapshot '%s': path too long", name);
        return -1;
    }
    strcat (gone, seq);
    if (rename (final, gone) != 0) {
        snprintf (err, errlen, "snapshot '%s': %s", name, strerror (errno));
        return -1;
    }
    s_fsync_dir (self->dir);
    if (s_rmtree (gone) != 0)
        log_warn (S_COMP, "cannot remove a snapshot's files|path=%s err=\"%s\"", gone,
                  strerror (errno));
    log_info (S_COMP, "snapshot removed|name=%s", name);
    return 0;
}

void
snap_rec_free (rec_snapshot_t *rec)
{
    if (!rec)
        return;
    rec_msg_t msg;
    memset (&msg, 0, sizeof msg);
    msg.hdr.type = REC_SNAPSHOT;
    msg.u.rec_snapshot = *rec;
    wire_msg_free (&rec_proto, &msg);
    memset (rec, 0, sizeof *rec);
}

/* Read <dir>/<name>/meta into out (owning its tags). 0, or -1 with a
 * reason in why. */
static int
s_meta_read (snap_store_t *self, const char *name, rec_snapshot_t *out, char *why, size_t wlen)
{
    memset (out, 0, sizeof *out);
    char path[PATH_MAX];
    if (s_path (path, sizeof path, "%s/%s/meta", self->dir, name)) {
        snprintf (why, wlen, "path too long");
        return -1;
    }
    size_t len = 0;
    char *buf = shed_read_file (path, S_META_MAX, &len);
    if (!buf) {
        snprintf (why, wlen, "%s", strerror (errno));
        return -1;
    }
    rec_msg_t msg;
    const char *field = "";
    int rc = wire_decode (&rec_proto, (const uint8_t *) buf, len, &msg, &field);
    free (buf);
    if (rc != WIRE_OK) {
        snprintf (why, wlen, "damaged metadata (%s %s)", wire_strerror (rc), field ? field : "");
        return -1;
    }
    if (msg.hdr.type != REC_SNAPSHOT || strcmp (msg.u.rec_snapshot.name, name) != 0) {
        snprintf (why, wlen, "metadata of another record");
        wire_msg_free (&rec_proto, &msg);
        return -1;
    }
    *out = msg.u.rec_snapshot; /* takes the tags */
    return 0;
}

bool
snap_store_get (snap_store_t *self, const char *name, rec_snapshot_t *out)
{
    memset (out, 0, sizeof *out);
    if (snap_name_check (name, NULL, 0) != 0)
        return false;
    char why[128];
    return s_meta_read (self, name, out, why, sizeof why) == 0;
}

static int
s_name_cmp (const void *a, const void *b)
{
    return strcmp (*(char *const *) a, *(char *const *) b);
}

size_t
snap_store_list (snap_store_t *self, snap_store_fn *fn, void *arg)
{
    DIR *d = opendir (self->dir);
    if (!d) {
        if (errno != ENOENT) /* ENOENT: no snapshot yet, no directory either */
            log_warn (S_COMP, "cannot list snapshots|dir=%s err=\"%s\"", self->dir,
                      strerror (errno));
        return 0;
    }
    char **names = NULL;
    size_t n = 0, cap = 0;
    struct dirent *de;
    while ((de = readdir (d))) {
        if (snap_name_check (de->d_name, NULL, 0) != 0)
            continue;
        if (n == cap) {
            size_t ncap = cap ? 2 * cap : 16;
            char **grown = realloc (names, ncap * sizeof *names);
            if (!grown)
                break;
            names = grown;
            cap = ncap;
        }
        if (!(names[n] = strdup (de->d_name)))
            break;
        n++;
    }
    closedir (d);
    if (n)
        qsort (names, n, sizeof *names, s_name_cmp);
    size_t count = 0;
    for (size_t i = 0; i < n; i++) {
        rec_snapshot_t rec;
        char why[160];
        if (s_meta_read (self, names[i], &rec, why, sizeof why) != 0)
            log_warn (S_COMP, "unreadable snapshot skipped|name=%s err=\"%s\"", names[i], why);
        else {
            if (fn)
                fn (&rec, arg);
            count++;
            snap_rec_free (&rec);
        }
        free (names[i]);
    }
    free (names);
    return count;
}

/* -------------------------------------------------------------------------
 * Serving chunks
 */

ssize_t
snap_store_read (snap_store_t *self, const char *name, uint64_t offset, uint8_t *buf, size_t len,
                 uint64_t *total)
{
    char path[PATH_MAX];
    if (len > SNAPX_CHUNK_MAX || snap_name_check (name, NULL, 0) != 0
        || s_path (path, sizeof path, "%s/%s/layer", self->dir, name) != 0) {
        errno = EINVAL;
        return -1;
    }
    int fd = open (path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
    struct stat st;
    if (fd < 0)
        return -1;
    if (fstat (fd, &st) != 0 || !S_ISREG (st.st_mode) || offset > (uint64_t) st.st_size) {
        close (fd);
        errno = EINVAL;
        return -1;
    }
    uint64_t size = (uint64_t) st.st_size;
    if (total)
        *total = size;
    if (len > size - offset)
        len = (size_t) (size - offset);
    size_t got = 0;
    while (got < len) {
        ssize_t n = pread (fd, buf + got, len - got, (off_t) (offset + got));
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            int e = errno;
            close (fd);
            errno = e;
            return -1;
        }
        if (n == 0)
            break; /* shrank under us: what there is */
        got += (size_t) n;
    }
    close (fd);
    return (ssize_t) got;
}
