/* image_store.c - see image_store.h and docs/images.md. */
#include "node/images/image_store.h"
#include "node/images/image_meta.h"

#include "common/fileutil.h"
#include "crypto/digest.h"
#include "common/log.h"
#include "common/wire_gen.h"

#include <czmq.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/openat2.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#define S_COMP           "images"
#define S_META_MAX       4096
#define S_OS_RELEASE_MAX (64 * 1024)
#define S_NAME_FILE_MAX  128

WIRE_DEFINE_PROTO (imgmeta, IMGMETA_MESSAGES, 1, 1, NULL)

struct _image_store_t {
    char dir[PATH_MAX]; /* <data_dir>/images */
    char blobs[PATH_MAX + 8];
    char names[PATH_MAX + 8];
    char tmp[PATH_MAX + 8];
    char lock[PATH_MAX + 8];
    bool made; /* the directories exist (s_make_dirs) */
};

/* -------------------------------------------------------------------------
 * Names and digests
 */

static bool
s_is_hex64 (const char *s)
{
    size_t i = 0;
    for (; s[i]; i++)
        if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
            return false;
    return i == IMAGE_DIGEST_HEX;
}

bool
image_digest_parse (const char *ref, char digest[65])
{
    if (!ref)
        return false;
    if (strncmp (ref, "sha256:", 7) == 0)
        ref += 7;
    if (!s_is_hex64 (ref))
        return false;
    memcpy (digest, ref, IMAGE_DIGEST_HEX + 1);
    return true;
}

bool
image_name_valid (const char *name, char *why, size_t why_size)
{
    const char *reason = NULL;
    size_t len = name ? strlen (name) : 0;
    if (len == 0)
        reason = "an empty name";
    else if (len > IMAGE_NAME_MAX)
        reason = "longer than 63 bytes";
    else if (!(name[0] >= 'a' && name[0] <= 'z'))
        reason = "must start with a lower-case letter";
    else if (s_is_hex64 (name))
        reason = "64 hex digits read as a digest";
    else
        for (size_t i = 0; i < len && !reason; i++) {
            char c = name[i];
            if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '.' || c == '_'
                  || c == '-'))
                reason = "only a-z, 0-9, '.', '_' and '-' are allowed";
        }
    if (reason && why)
        snprintf (why, why_size, "bad image name '%.64s': %s", name ? name : "", reason);
    return !reason;
}

/* -------------------------------------------------------------------------
 * Lifecycle
 */

image_store_t *
image_store_new (const char *data_dir, char *why, size_t why_size)
{
    image_store_t *self = calloc (1, sizeof *self);
    if (!self) {
        snprintf (why, why_size, "out of memory");
        return NULL;
    }
    /* room for images/blobs/<64 hex>/rootfs and a name below it */
    if (strlen (data_dir) + 200 >= sizeof self->dir) {
        snprintf (why, why_size, "data_dir too long");
        free (self);
        return NULL;
    }
    snprintf (self->dir, sizeof self->dir, "%s/%s", data_dir, IMAGE_DIR);
    snprintf (self->blobs, sizeof self->blobs, "%s/blobs", self->dir);
    snprintf (self->names, sizeof self->names, "%s/names", self->dir);
    snprintf (self->tmp, sizeof self->tmp, "%s/tmp", self->dir);
    snprintf (self->lock, sizeof self->lock, "%s/lock", self->dir);
    /* The directories come with the first write (s_make_dirs): a node that
     * never imports an image creates none, and a first start is four
     * inodes lighter (docs/membership.md, "Start-up before membership"). */
    return self;
}

/* images/ and its blobs/, names/, tmp/, made 0700 before the first write
 * (every writer takes the lock first, and uploads ask for tmp/). Readers
 * need none of them: a missing names/ is an empty store, a missing blob
 * an unknown digest. 0, or -1 with why. */
static int
s_make_dirs (image_store_t *self, char *why, size_t why_size)
{
    if (self->made)
        return 0;
    const char *dirs[] = { self->blobs, self->names, self->tmp };
    for (size_t i = 0; i < 3; i++)
        if (shed_mkdir_p (dirs[i], 0700) != 0) {
            snprintf (why, why_size, "%s: %s", dirs[i], strerror (errno));
            return -1;
        }
    self->made = true;
    return 0;
}

void
image_store_destroy (image_store_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    free (*self_p);
    *self_p = NULL;
}

const char *
image_store_tmp_dir (image_store_t *self, char *why, size_t why_size)
{
    return s_make_dirs (self, why, why_size) == 0 ? self->tmp : NULL;
}

void
image_store_clean_tmp (image_store_t *self)
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
        if (image_rmtree (path) != 0)
            log_warn (S_COMP, "cannot clean a leftover|path=%s err=\"%s\"", path, strerror (errno));
        else
            log_info (S_COMP, "removed a leftover of an interrupted import|path=%s", path);
    }
    closedir (d);
}

/* The writers' lock: one open file description per holder, so two store
 * objects in one process exclude each other too. -1 with why. */
static int
s_lock (image_store_t *self, char *why, size_t why_size)
{
    if (s_make_dirs (self, why, why_size) != 0)
        return -1;
    int fd = open (self->lock, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    if (fd < 0 || flock (fd, LOCK_EX) != 0) {
        snprintf (why, why_size, "%s: %s", self->lock, strerror (errno));
        if (fd >= 0)
            close (fd);
        return -1;
    }
    return fd;
}

static void
s_unlock (int fd)
{
    if (fd >= 0)
        close (fd); /* releases the flock */
}

/* -------------------------------------------------------------------------
 * Reading names and metadata
 */

/* names/<name> -> digest. 0, or -1 with errno (ENOENT: no such name). */
static int
s_name_read (image_store_t *self, const char *name, char digest[65])
{
    char path[2 * PATH_MAX];
    snprintf (path, sizeof path, "%s/%s", self->names, name);
    size_t len = 0;
    char *text = shed_read_file (path, S_NAME_FILE_MAX, &len);
    if (!text)
        return -1;
    text[strcspn (text, "\n")] = '\0';
    bool ok = image_digest_parse (text, digest);
    free (text);
    if (!ok) {
        errno = EINVAL;
        return -1;
    }
    return 0;
}

static int
s_name_write (image_store_t *self, const char *name, const char *digest)
{
    char path[2 * PATH_MAX], text[80];
    snprintf (path, sizeof path, "%s/%s", self->names, name);
    int n = snprintf (text, sizeof text, "sha256:%s\n", digest);
    return shed_write_file_atomic (path, text, (size_t) n, 0600);
}

static void
s_blob_path (const image_store_t *self, const char *digest, const char *leaf, char *out,
             size_t size)
{
    snprintf (out, size, "%s/%s%s%s", self->blobs, digest, leaf ? "/" : "", leaf ? leaf : "");
}

static bool
s_blob_exists (const image_store_t *self, const char *digest)
{
    char path[2 * PATH_MAX];
    struct stat st;
    s_blob_path (self, digest, "rootfs", path, sizeof path);
    return lstat (path, &st) == 0 && S_ISDIR (st.st_mode);
}

/* Read blobs/<digest>/meta into info (name left as the caller set it). */
static int
s_meta_read (const image_store_t *self, const char *digest, image_info_t *info, char *why,
             size_t why_size)
{
    char path[2 * PATH_MAX];
    s_blob_path (self, digest, "meta", path, sizeof path);
    size_t len = 0;
    char *buf = shed_read_file (path, S_META_MAX, &len);
    if (!buf) {
        snprintf (why, why_size, "image %.12s: %s: %s", digest, path, strerror (errno));
        return -1;
    }
    imgmeta_msg_t meta;
    const char *field = "";
    int rc = wire_decode (&imgmeta_proto, (const uint8_t *) buf, len, &meta, &field);
    free (buf);
    if (rc != WIRE_OK || meta.hdr.type != IMGMETA) {
        snprintf (why, why_size, "image %.12s: damaged metadata (%s %s)", digest,
                  wire_strerror (rc), field ? field : "");
        if (rc == WIRE_OK)
            wire_msg_free (&imgmeta_proto, &meta);
        return -1;
    }
    const imgmeta_t *m = &meta.u.imgmeta;
    snprintf (info->digest, sizeof info->digest, "%s", digest);
    info->archive_size = m->archive_size;
    info->unpacked_bytes = m->unpacked_bytes;
    info->files = m->files;
    info->entries = m->entries;
    info->imported_ms = m->imported_ms;
    snprintf (info->os_name, sizeof info->os_name, "%s", m->os_name);
    wire_msg_free (&imgmeta_proto, &meta);
    s_blob_path (self, digest, "rootfs", path, sizeof path);
    size_t plen = strlen (path);
    if (plen >= sizeof info->rootfs) {
        snprintf (why, why_size, "image %.12s: path too long", digest);
        return -1;
    }
    memcpy (info->rootfs, path, plen + 1);
    return 0;
}

/* -------------------------------------------------------------------------
 * Resolve, show, list
 */

/* ref -> digest, by digest or by name; -1 with why and errno. */
static int
s_ref_digest (image_store_t *self, const char *ref, char digest[65], char *why, size_t why_size)
{
    if (image_digest_parse (ref, digest)) {
        if (s_blob_exists (self, digest))
            return 0;
        snprintf (why, why_size, "image sha256:%.12s... is not on this node", digest);
        errno = ENOENT;
        return -1;
    }
    if (!image_name_valid (ref, why, why_size)) {
        errno = EINVAL;
        return -1;
    }
    if (s_name_read (self, ref, digest) != 0) {
        int e = errno;
        if (e == ENOENT)
            snprintf (why, why_size, "image '%s' is not on this node (shedctl image list)", ref);
        else
            snprintf (why, why_size, "image '%s': %s", ref,
                      e == EINVAL ? "damaged name file" : strerror (e));
        errno = e;
        return -1;
    }
    if (!s_blob_exists (self, digest)) {
        snprintf (why, why_size, "image '%s': its tree sha256:%.12s... is missing", ref, digest);
        errno = ENOENT;
        return -1;
    }
    return 0;
}

int
image_store_resolve (image_store_t *self, const char *ref, char digest[65], char *rootfs,
                     size_t rootfs_size, char *why, size_t why_size)
{
    char d[IMAGE_DIGEST_HEX + 1];
    if (s_ref_digest (self, ref, d, why, why_size) != 0)
        return -1;
    memcpy (digest, d, sizeof d);
    char path[2 * PATH_MAX];
    s_blob_path (self, d, "rootfs", path, sizeof path);
    if ((size_t) snprintf (rootfs, rootfs_size, "%s", path) >= rootfs_size) {
        snprintf (why, why_size, "image root path too long");
        return -1;
    }
    return 0;
}

static void s_first_name (image_store_t *self, const char *digest, char *out, size_t size);

int
image_store_show (image_store_t *self, const char *ref, image_info_t *info, char *why,
                  size_t why_size)
{
    memset (info, 0, sizeof *info);
    char digest[IMAGE_DIGEST_HEX + 1];
    if (s_ref_digest (self, ref, digest, why, why_size) != 0)
        return -1;
    if (s_meta_read (self, digest, info, why, why_size) != 0)
        return -1;
    char by_digest[IMAGE_DIGEST_HEX + 1];
    if (!image_digest_parse (ref, by_digest))
        snprintf (info->name, sizeof info->name, "%s", ref);
    else
        s_first_name (self, digest, info->name, sizeof info->name);
    return 0;
}

/* The first name (in directory order) pointing at digest, or "". */
static void
s_first_name (image_store_t *self, const char *digest, char *out, size_t size)
{
    out[0] = '\0';
    DIR *d = opendir (self->names);
    if (!d)
        return;
    struct dirent *de;
    while ((de = readdir (d))) {
        char have[IMAGE_DIGEST_HEX + 1];
        if (de->d_name[0] != '.' && image_name_valid (de->d_name, NULL, 0)
            && s_name_read (self, de->d_name, have) == 0 && strcmp (have, digest) == 0) {
            snprintf (out, size, "%.63s", de->d_name);
            break;
        }
    }
    closedir (d);
}

static int
s_info_cmp (const void *a, const void *b)
{
    return strcmp (((const image_info_t *) a)->name, ((const image_info_t *) b)->name);
}

int
image_store_list (image_store_t *self, image_info_t **items, size_t *count, char *why,
                  size_t why_size)
{
    *items = NULL;
    *count = 0;
    DIR *d = opendir (self->names);
    if (!d && errno == ENOENT)
        return 0; /* nothing imported yet: no directories either */
    if (!d) {
        snprintf (why, why_size, "%s: %s", self->names, strerror (errno));
        return -1;
    }
    size_t n = 0, cap = 0;
    image_info_t *list = NULL;
    struct dirent *de;
    while ((de = readdir (d))) {
        /* Skip dot files: the atomic writer's temporaries among them. */
        if (de->d_name[0] == '.' || !image_name_valid (de->d_name, NULL, 0))
            continue;
        char digest[IMAGE_DIGEST_HEX + 1], err[256];
        image_info_t info;
        memset (&info, 0, sizeof info);
        if (s_name_read (self, de->d_name, digest) != 0
            || s_meta_read (self, digest, &info, err, sizeof err) != 0) {
            log_warn (S_COMP, "unreadable image name skipped|name=%s", de->d_name);
            continue;
        }
        snprintf (info.name, sizeof info.name, "%.63s", de->d_name); /* valid: <= 63 */
        if (n == cap) {
            cap = cap ? cap * 2 : 16;
            image_info_t *grown = realloc (list, cap * sizeof *list);
            if (!grown) {
                free (list);
                closedir (d);
                snprintf (why, why_size, "out of memory");
                return -1;
            }
            list = grown;
        }
        list[n++] = info;
    }
    closedir (d);
    if (n)
        qsort (list, n, sizeof *list, s_info_cmp);
    *items = list;
    *count = n;
    return 0;
}

/* -------------------------------------------------------------------------
 * Import
 */

static int
s_hash_fd (int fd, char hex[SHED_SHA256_HEX + 1], uint64_t *size, char *why, size_t why_size)
{
    if (shed_sha256_fd (fd, hex, size) != 0) {
        snprintf (why, why_size, "archive: %s", strerror (errno));
        return -1;
    }
    return 0;
}

/* PRETTY_NAME from the tree's os-release, resolved INSIDE the tree
 * (openat2 RESOLVE_IN_ROOT): /etc/os-release is a symlink in Debian, and
 * an image's links must never lead the node (root) outside it. */
static void
s_os_name (const char *rootfs, char *out, size_t size)
{
    out[0] = '\0';
    int root = open (rootfs, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (root < 0)
        return;
    static const char *paths[] = { "etc/os-release", "usr/lib/os-release" };
    int fd = -1;
    for (size_t i = 0; i < 2 && fd < 0; i++) {
        struct open_how how = {
            .flags = O_RDONLY | O_NONBLOCK | O_CLOEXEC | O_NOCTTY,
            .resolve = RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS | RESOLVE_NO_XDEV,
        };
        fd = (int) syscall (SYS_openat2, root, paths[i], &how, sizeof how);
    }
    close (root);
    struct stat st;
    if (fd < 0)
        return;
    if (fstat (fd, &st) != 0 || !S_ISREG (st.st_mode)) {
        close (fd);
        return;
    }
    char *text = malloc (S_OS_RELEASE_MAX + 1);
    ssize_t n = text ? read (fd, text, S_OS_RELEASE_MAX) : -1;
    close (fd);
    if (n <= 0) {
        free (text);
        return;
    }
    text[n] = '\0';
    for (char *line = text; line && *line;) {
        char *nl = strchr (line, '\n');
        if (nl)
            *nl = '\0';
        if (strncmp (line, "PRETTY_NAME=", 12) == 0) {
            char *v = line + 12;
            size_t len = strlen (v);
            if (len >= 2 && (v[0] == '"' || v[0] == '\'') && v[len - 1] == v[0]) {
                v[len - 1] = '\0';
                v++;
            }
            size_t k = 0;
            for (; *v && k + 1 < size; v++)
                out[k++] = (unsigned char) *v < 0x20 || *v == 0x7f ? '?' : *v;
            out[k] = '\0';
            break;
        }
        line = nl ? nl + 1 : NULL;
    }
    free (text);
}

static int
s_meta_write (const char *path, const image_info_t *info)
{
    imgmeta_msg_t meta = { .hdr.type = IMGMETA };
    imgmeta_t *m = &meta.u.imgmeta;
    snprintf (m->name, sizeof m->name, "%s", info->name);
    snprintf (m->digest, sizeof m->digest, "%s", info->digest);
    m->archive_size = info->archive_size;
    m->unpacked_bytes = info->unpacked_bytes;
    m->files = info->files;
    m->entries = info->entries;
    m->imported_ms = info->imported_ms;
    snprintf (m->os_name, sizeof m->os_name, "%s", info->os_name);
    uint8_t *buf = NULL;
    size_t len = 0;
    if (wire_encode (&imgmeta_proto, &meta, &buf, &len) != WIRE_OK) {
        errno = EINVAL;
        return -1;
    }
    int rc = shed_write_file_atomic (path, buf, len, 0600);
    free (buf);
    return rc;
}

/* Under the lock: a name that exists must already mean these bytes. 1 if
 * it does (nothing to do), 0 if the name is free, -1 refused. */
static int
s_name_free (image_store_t *self, const char *name, const char *digest, char *why, size_t why_size)
{
    char have[IMAGE_DIGEST_HEX + 1];
    if (s_name_read (self, name, have) != 0)
        return errno == ENOENT
                   ? 0
                   : (snprintf (why, why_size, "image '%s': %s", name, strerror (errno)), -1);
    if (strcmp (have, digest) == 0)
        return s_blob_exists (self, digest) ? 1 : 0; /* tree lost: unpack it again */
    snprintf (why, why_size,
              "image '%s' already exists with other contents (sha256:%.12s...); "
              "shedctl image rm %s first",
              name, have, name);
    return -1;
}

/* Under the lock: point name at digest, fill info. */
static int
s_name_add (image_store_t *self, const char *name, const char *digest, image_info_t *info,
            char *why, size_t why_size)
{
    if (s_name_write (self, name, digest) != 0) {
        snprintf (why, why_size, "image '%s': cannot write its name: %s", name, strerror (errno));
        return -1;
    }
    if (info) {
        memset (info, 0, sizeof *info);
        if (s_meta_read (self, digest, info, why, why_size) != 0)
            return -1;
        snprintf (info->name, sizeof info->name, "%s", name);
    }
    return 0;
}

int
image_store_import_fd (image_store_t *self, const char *name, int fd, const char *digest_in,
                       const image_unpack_opts_t *opts, image_info_t *info, bool *existed,
                       char *why, size_t why_size)
{
    if (existed)
        *existed = false;
    if (info)
        memset (info, 0, sizeof *info);
    if (!image_name_valid (name, why, why_size))
        return -1;
    char digest[IMAGE_DIGEST_HEX + 1];
    uint64_t size = 0;
    struct stat st;
    if (fstat (fd, &st) != 0 || !S_ISREG (st.st_mode)) {
        snprintf (why, why_size, "archive: not a regular file");
        return -1;
    }
    if (digest_in) {
        if (!image_digest_parse (digest_in, digest)) {
            snprintf (why, why_size, "bad digest '%.80s'", digest_in);
            return -1;
        }
        size = (uint64_t) st.st_size;
    }
    else if (s_hash_fd (fd, digest, &size, why, why_size) != 0)
        return -1;

    /* Known bytes or a taken name: decided under the lock, no unpacking. */
    int lock = s_lock (self, why, why_size);
    if (lock < 0)
        return -1;
    int rc = s_name_free (self, name, digest, why, why_size);
    if (rc == 0 && s_blob_exists (self, digest))
        rc = s_name_add (self, name, digest, info, why, why_size) == 0 ? 1 : -1;
    s_unlock (lock);
    if (rc != 0) {
        if (rc == 1 && existed)
            *existed = true;
        if (rc == 1 && info && !info->digest[0])
            image_store_show (self, name, info, why, why_size);
        return rc == 1 ? 0 : -1;
    }

    /* New bytes: unpack and describe in tmp/, outside the lock (slow). */
    char stage[2 * PATH_MAX], rootfs[2 * PATH_MAX + 16], meta[2 * PATH_MAX + 16];
    snprintf (stage, sizeof stage, "%s/unpack-%.12s-XXXXXX", self->tmp, digest);
    if (!mkdtemp (stage)) {
        snprintf (why, why_size, "%s: %s", stage, strerror (errno));
        return -1;
    }
    snprintf (rootfs, sizeof rootfs, "%s/rootfs", stage);
    snprintf (meta, sizeof meta, "%s/meta", stage);
    image_unpack_stats_t stats;
    image_info_t made;
    memset (&made, 0, sizeof made);
    rc = image_unpack_fd (fd, rootfs, opts, &stats, why, why_size);
    if (rc == 0) {
        snprintf (made.name, sizeof made.name, "%s", name);
        snprintf (made.digest, sizeof made.digest, "%s", digest);
        made.archive_size = size;
        made.unpacked_bytes = stats.bytes;
        made.files = stats.files;
        made.entries = stats.entries;
        made.imported_ms = (uint64_t) zclock_time ();
        s_os_name (rootfs, made.os_name, sizeof made.os_name);
        if (s_meta_write (meta, &made) != 0) {
            snprintf (why, why_size, "%s: %s", meta, strerror (errno));
            rc = -1;
        }
    }

    /* Publish: rename the whole blob into place, then the name. */
    lock = rc == 0 ? s_lock (self, why, why_size) : -1;
    if (rc == 0 && lock < 0)
        rc = -1;
    if (rc == 0) {
        int free_rc = s_name_free (self, name, digest, why, why_size);
        char blob[2 * PATH_MAX];
        s_blob_path (self, digest, NULL, blob, sizeof blob);
        if (free_rc < 0)
            rc = -1;
        else if (!s_blob_exists (self, digest) && rename (stage, blob) != 0) {
            snprintf (why, why_size, "%s: %s", blob, strerror (errno));
            rc = -1;
        }
        else {
            /* the rename durable before a name points at it */
            int dfd = open (self->blobs, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
            if (dfd >= 0) {
                fsync (dfd);
                close (dfd);
            }
            if (free_rc == 0)
                rc = s_name_add (self, name, digest, info, why, why_size);
            else if (info)
                rc = image_store_show (self, name, info, why, why_size);
        }
    }
    s_unlock (lock);
    /* What is left of the stage: everything on failure, nothing after the
     * rename, the whole tree when another import of the same bytes won. */
    if (image_rmtree (stage) != 0)
        log_warn (S_COMP, "cannot remove a stage|path=%s err=\"%s\"", stage, strerror (errno));
    if (rc == 0)
        log_info (S_COMP, "imported|name=%s digest=%s bytes=%llu files=%llu", name, digest,
                  (unsigned long long) stats.bytes, (unsigned long long) stats.files);
    return rc;
}

/* -------------------------------------------------------------------------
 * Remove
 */

/* Another name than `except` pointing at digest? */
static bool
s_digest_named (image_store_t *self, const char *digest, const char *except)
{
    DIR *d = opendir (self->names);
    if (!d)
        return true; /* unsure: keep the blob */
    bool named = false;
    struct dirent *de;
    while (!named && (de = readdir (d))) {
        char have[IMAGE_DIGEST_HEX + 1];
        if (de->d_name[0] == '.' || strcmp (de->d_name, except) == 0)
            continue;
        named = s_name_read (self, de->d_name, have) == 0 && strcmp (have, digest) == 0;
    }
    closedir (d);
    return named;
}

int
image_store_remove (image_store_t *self, const char *name, image_in_use_fn *in_use, void *arg,
                    bool *blob_removed, char *why, size_t why_size)
{
    if (blob_removed)
        *blob_removed = false;
    if (!image_name_valid (name, why, why_size)) {
        errno = EINVAL;
        return -1;
    }
    int lock = s_lock (self, why, why_size);
    if (lock < 0)
        return -1;
    char digest[IMAGE_DIGEST_HEX + 1];
    if (s_name_read (self, name, digest) != 0) {
        int e = errno;
        snprintf (why, why_size,
                  e == ENOENT ? "image '%s' is not on this node" : "image '%s': damaged name file",
                  name);
        s_unlock (lock);
        errno = e;
        return -1;
    }
    char user[128] = "";
    if (in_use && in_use (name, digest, arg, user, sizeof user)) {
        snprintf (why, why_size, "image '%s' is used by shed %s on this node", name,
                  user[0] ? user : "?");
        s_unlock (lock);
        errno = EBUSY;
        return -1;
    }
    char path[2 * PATH_MAX], gone[2 * PATH_MAX + 32] = "";
    snprintf (path, sizeof path, "%s/%s", self->names, name);
    if (unlink (path) != 0) {
        snprintf (why, why_size, "%s: %s", path, strerror (errno));
        s_unlock (lock);
        return -1;
    }
    if (!s_digest_named (self, digest, name)) {
        /* Out of blobs/ at once (a resolve no longer finds it), deleted
         * after the lock is released. */
        char blob[2 * PATH_MAX];
        s_blob_path (self, digest, NULL, blob, sizeof blob);
        snprintf (gone, sizeof gone, "%s/rm-%.12s-XXXXXX", self->tmp, digest);
        if (!mkdtemp (gone) || rename (blob, gone) != 0) {
            log_warn (S_COMP, "cannot move a blob out|path=%s err=\"%s\"", blob, strerror (errno));
            if (gone[0])
                rmdir (gone);
            gone[0] = '\0';
        }
    }
    s_unlock (lock);
    if (gone[0]) {
        if (image_rmtree (gone) != 0)
            log_warn (S_COMP, "cannot remove a blob|path=%s err=\"%s\"", gone, strerror (errno));
        if (blob_removed)
            *blob_removed = true;
    }
    log_info (S_COMP, "removed|name=%s digest=%s tree=%s", name, digest,
              gone[0] ? "removed" : "kept");
    return 0;
}
