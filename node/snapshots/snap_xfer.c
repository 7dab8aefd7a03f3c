/* snap_xfer.c - see snap_xfer.h and docs/snapshots.md, "Transfer protocol". */
#include "node/snapshots/snap_xfer.h"
#include "node/snapshots/snap_proto.h"
#include "crypto/digest.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/xattr.h>
#include <unistd.h>

/* The digest a partial is for, recorded on it (best effort: a file system
 * without user xattrs resumes on size alone, and a wrong copy is still
 * caught by the final check). */
#define S_XATTR "user.shed.snapshot.sha256"

typedef enum { S_FREE = 0, S_INFLIGHT, S_RETRY, S_DONE } s_state_t;

/* A request: asked (INFLIGHT), to ask again (RETRY), or answered ahead of
 * the prefix (DONE, its bytes in buf until the gap before it fills). */
typedef struct {
    uint64_t offset;
    uint32_t len;
    s_state_t state;
    uint8_t *buf;
} s_slot_t;

struct _snap_xfer_t {
    char path[PATH_MAX];
    char partial[PATH_MAX + 16];
    char digest[65]; /* sha256 hex expected */
    uint64_t size;
    size_t chunk;
    size_t window;
    int fd;            /* the partial, -1 when done/abandoned */
    bool done;         /* finished (or the file was already there) */
    bool dead;         /* abandoned, or refused at finish */
    uint64_t next;     /* first offset never asked for */
    uint64_t hashed;   /* bytes hashed in order from 0 */
    uint64_t received; /* resumed + accepted this time */
    uint64_t resumed;
    shed_sha256_t *md;
    s_slot_t *slots; /* window of them */
};

static const char *
s_errtext (int e)
{
    return e == ENOSPC || e == EDQUOT ? "disk full" : strerror (e);
}

/* Does `path` hold exactly `size` bytes with sha256 `digest`? */
static bool
s_file_matches (const char *path, uint64_t size, const char *digest)
{
    int fd = open (path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
    struct stat st;
    if (fd < 0)
        return false;
    bool ok = false;
    if (fstat (fd, &st) == 0 && S_ISREG (st.st_mode) && (uint64_t) st.st_size == size) {
        char hex[SHED_SHA256_HEX + 1];
        uint64_t hashed = 0;
        ok = shed_sha256_fd (fd, hex, &hashed) == 0 && hashed == size && strcmp (hex, digest) == 0;
    }
    close (fd);
    return ok;
}

snap_xfer_t *
snap_xfer_new (const char *path, uint64_t size, const char *digest, size_t chunk, size_t window,
               char *err, size_t errlen)
{
    if (!path || !*path || strlen (path) + 16 >= PATH_MAX) {
        snprintf (err, errlen, "snapshot transfer: bad target path");
        return NULL;
    }
    if (!shed_sha256_hex_valid (digest)) {
        snprintf (err, errlen, "snapshot transfer: digest is not 64 lowercase hex digits");
        return NULL;
    }
    if (chunk == 0 || chunk > SNAPX_CHUNK_MAX || window == 0 || window > 1024) {
        snprintf (err, errlen, "snapshot transfer: chunk 1..%u bytes, window 1..1024",
                  SNAPX_CHUNK_MAX);
        return NULL;
    }
    if (size > (uint64_t) INT64_MAX) {
        snprintf (err, errlen, "snapshot transfer: size out of range");
        return NULL;
    }
    snap_xfer_t *self = calloc (1, sizeof *self);
    if (!self || !(self->slots = calloc (window, sizeof *self->slots))
        || !(self->md = shed_sha256_new ())) {
        snprintf (err, errlen, "out of memory");
        goto fail;
    }
    snprintf (self->path, sizeof self->path, "%s", path);
    snprintf (self->partial, sizeof self->partial, "%s.partial", path);
    memcpy (self->digest, digest, 65);
    self->size = size;
    self->chunk = chunk;
    self->window = window;
    self->fd = -1;

    if (s_file_matches (path, size, digest)) {
        /* Fetched before (an earlier attempt finished): nothing to pull. */
        self->done = true;
        self->next = self->hashed = self->received = self->resumed = size;
        unlink (self->partial);
        return self;
    }
    unlink (path); /* not ours, or not whole: it is rebuilt from the partial */

    self->fd = open (self->partial, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
    struct stat st;
    if (self->fd < 0 || fstat (self->fd, &st) != 0 || !S_ISREG (st.st_mode)) {
        snprintf (err, errlen, "%s: %s", self->partial, s_errtext (errno ? errno : EINVAL));
        goto fail;
    }
    uint64_t have = (uint64_t) st.st_size, keep = 0;
    char was[65] = "";
    ssize_t xl = fgetxattr (self->fd, S_XATTR, was, 64);
    bool other = xl == 64 && memcmp (was, digest, 64) != 0;
    if (!other && have <= size)
        /* whole chunks only: the last one may have been cut mid-write */
        keep = have == size ? size : have / chunk * chunk;
    if (ftruncate (self->fd, (off_t) keep) != 0) {
        snprintf (err, errlen, "%s: %s", self->partial, s_errtext (errno));
        goto fail;
    }
    (void) fsetxattr (self->fd, S_XATTR, digest, 64, 0);
    if (keep && shed_sha256_update_fd (self->md, self->fd, 0, keep, NULL) != 0) {
        snprintf (err, errlen, "%s: %s", self->partial, strerror (errno));
        goto fail;
    }
    self->next = self->hashed = self->received = self->resumed = keep;
    return self;
fail:
    if (self) {
        if (self->fd >= 0)
            close (self->fd);
        shed_sha256_destroy (&self->md);
        free (self->slots);
        free (self);
    }
    return NULL;
}

void
snap_xfer_destroy (snap_xfer_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    snap_xfer_t *self = *self_p;
    if (self->fd >= 0) {
        /* a write cut by an error leaves bytes past the prefix; a partial
         * that cannot be cut back to it is not kept for a resume */
        if (ftruncate (self->fd, (off_t) self->hashed) != 0)
            unlink (self->partial);
        else
            fsync (self->fd); /* what arrived survives a crash, for the resume */
        close (self->fd);
    }
    for (size_t i = 0; i < self->window; i++)
        free (self->slots[i].buf);
    shed_sha256_destroy (&self->md);
    free (self->slots);
    free (self);
    *self_p = NULL;
}

bool
snap_xfer_next (snap_xfer_t *self, uint64_t *offset, uint32_t *length)
{
    if (self->done || self->dead)
        return false;
    s_slot_t *free_slot = NULL;
    for (size_t i = 0; i < self->window; i++) {
        s_slot_t *s = &self->slots[i];
        if (s->state == S_RETRY) {
            s->state = S_INFLIGHT;
            *offset = s->offset;
            *length = s->len;
            return true;
        }
        if (s->state == S_FREE && !free_slot)
            free_slot = s;
    }
    if (!free_slot || self->next >= self->size)
        return false;
    uint64_t left = self->size - self->next;
    free_slot->offset = self->next;
    free_slot->len = (uint32_t) (left < self->chunk ? left : self->chunk);
    free_slot->state = S_INFLIGHT;
    self->next += free_slot->len;
    *offset = free_slot->offset;
    *length = free_slot->len;
    return true;
}

static s_slot_t *
s_find (snap_xfer_t *self, uint64_t offset)
{
    for (size_t i = 0; i < self->window; i++)
        if (self->slots[i].state != S_FREE && self->slots[i].offset == offset)
            return &self->slots[i];
    return NULL;
}

/* Append [offset, offset + len) at the end of the prefix: write, then
 * hash from memory. 0, or -1 with errno. */
static int
s_append (snap_xfer_t *self, const uint8_t *data, size_t len)
{
    size_t done = 0;
    while (done < len) {
        ssize_t n = pwrite (self->fd, data + done, len - done, (off_t) (self->hashed + done));
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0) {
            if (n == 0)
                errno = ENOSPC;
            return -1;
        }
        done += (size_t) n;
    }
    shed_sha256_update (self->md, data, len);
    self->hashed += len;
    return 0;
}

static void
s_slot_free (s_slot_t *s, s_state_t state)
{
    free (s->buf);
    s->buf = NULL;
    s->state = state;
}

int
snap_xfer_data (snap_xfer_t *self, uint64_t offset, const uint8_t *data, size_t len, char *err,
                size_t errlen)
{
    if (self->done || self->dead) {
        snprintf (err, errlen, "snapshot transfer: data after the end");
        return -1;
    }
    s_slot_t *s = s_find (self, offset);
    if (!s || s->state == S_DONE) {
        snprintf (err, errlen,
                  "snapshot transfer: an answer for offset %" PRIu64 " nobody asked for", offset);
        return -1;
    }
    if (len != s->len || (len && !data)) {
        snprintf (err, errlen,
                  "snapshot transfer: %zu bytes at offset %" PRIu64 ", %" PRIu32
                  " asked (the source is %s than its record says)",
                  len, offset, s->len, len < s->len ? "shorter" : "longer");
        return -1;
    }
    if (offset != self->hashed) {
        /* Ahead of a gap: kept in memory (window * chunk at most), so the
         * partial on disk is always a prefix a resume can trust. */
        if (!(s->buf = malloc (len))) {
            snprintf (err, errlen, "snapshot transfer: out of memory");
            return -1;
        }
        memcpy (s->buf, data, len);
        s->state = S_DONE;
        self->received += len;
        return 0;
    }
    if (s_append (self, data, len) != 0) {
        snprintf (err, errlen, "snapshot transfer: writing %s: %s", self->partial,
                  s_errtext (errno));
        s->state = S_RETRY; /* asked again if the caller goes on */
        return -1;
    }
    s_slot_free (s, S_FREE);
    self->received += len;
    /* the gap filled: the chunks held after it follow */
    while ((s = s_find (self, self->hashed)) && s->state == S_DONE) {
        if (s_append (self, s->buf, s->len) != 0) {
            snprintf (err, errlen, "snapshot transfer: writing %s: %s", self->partial,
                      s_errtext (errno));
            self->received -= s->len;
            s_slot_free (s, S_RETRY);
            return -1;
        }
        s_slot_free (s, S_FREE);
    }
    return 0;
}

void
snap_xfer_retry (snap_xfer_t *self, uint64_t offset)
{
    s_slot_t *s = s_find (self, offset);
    if (s && s->state == S_INFLIGHT)
        s->state = S_RETRY;
}

bool
snap_xfer_complete (snap_xfer_t *self)
{
    return self->done || (!self->dead && self->hashed == self->size);
}

int
snap_xfer_finish (snap_xfer_t *self, char *err, size_t errlen)
{
    if (self->done)
        return 0;
    if (self->dead) {
        snprintf (err, errlen, "snapshot transfer: abandoned");
        return -1;
    }
    if (self->hashed != self->size) {
        snprintf (err, errlen, "snapshot transfer: incomplete (%" PRIu64 " of %" PRIu64 " bytes)",
                  self->hashed, self->size);
        return -1;
    }
    char hex[SHED_SHA256_HEX + 1];
    shed_sha256_final (self->md, hex);
    if (strcmp (hex, self->digest) != 0) {
        snprintf (err, errlen,
                  "snapshot transfer: checksum mismatch (sha256 %.12s..., expected %.12s...)", hex,
                  self->digest);
        snap_xfer_abandon (self);
        return -1;
    }
    if (fsync (self->fd) != 0 || rename (self->partial, self->path) != 0) {
        snprintf (err, errlen, "snapshot transfer: %s: %s", self->path, s_errtext (errno));
        /* the hash is consumed: a later call cannot check it again */
        close (self->fd);
        self->fd = -1;
        self->dead = true;
        return -1;
    }
    (void) fremovexattr (self->fd, S_XATTR);
    close (self->fd);
    self->fd = -1;
    char dir[PATH_MAX];
    snprintf (dir, sizeof dir, "%s", self->path);
    char *slash = strrchr (dir, '/');
    if (slash) {
        slash[slash == dir ? 1 : 0] = '\0';
        int dfd = open (dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (dfd >= 0) {
            fsync (dfd);
            close (dfd);
        }
    }
    self->done = true;
    return 0;
}

void
snap_xfer_abandon (snap_xfer_t *self)
{
    if (self->done || self->dead)
        return;
    if (self->fd >= 0)
        close (self->fd);
    self->fd = -1;
    unlink (self->partial);
    self->dead = true;
}

uint64_t
snap_xfer_received (snap_xfer_t *self)
{
    return self->received;
}

uint64_t
snap_xfer_resumed (snap_xfer_t *self)
{
    return self->resumed;
}

uint64_t
snap_xfer_size (snap_xfer_t *self)
{
    return self->size;
}
