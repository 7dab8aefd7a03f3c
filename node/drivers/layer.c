/* layer.c - a shed's writable layer as one pax tar (see layer.h). */
#include "node/drivers/layer.h"
#include "node/images/image_unpack.h"
#include "common/archive_dl.h"
#include "common/log.h"

#include <czmq.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>
#include <unistd.h>

#define S_COMP      "layer"
#define S_OPAQUE    "trusted.overlay.opaque"
#define S_REDIRECT  "trusted.overlay.redirect"
#define S_METACOPY  "trusted.overlay.metacopy"
#define S_BUF       (256 * 1024) /* copy buffer: big reads, few syscalls */
#define S_BLOCK     4096u        /* space estimate: files round up, dirs take one */
#define S_DEPTH_MAX 256          /* directory nesting (paths are bounded anyway) */
#define S_LINK_MAX  4096         /* bytes of a symlink target */
#define S_TAR_BLOCK 65536

/* A name safe to quote on one line: control bytes become '?', cut short. */
static void
s_printable (const char *in, char *out, size_t size)
{
    size_t n = 0;
    for (; in && *in && n + 1 < size; in++)
        out[n++] = (unsigned char) *in < 0x20 || *in == 0x7f ? '?' : *in;
    if (size)
        out[n] = '\0';
}

static int s_fail (char *why, size_t why_size, int rc, const char *path, const char *fmt, ...)
    __attribute__ ((format (printf, 5, 6)));
static int
s_fail (char *why, size_t why_size, int rc, const char *path, const char *fmt, ...)
{
    char name[200], reason[400];
    va_list ap;
    va_start (ap, fmt);
    vsnprintf (reason, sizeof reason, fmt, ap);
    va_end (ap);
    if (path) {
        s_printable (path, name, sizeof name);
        snprintf (why, why_size, "'%s': %s", name, reason);
    }
    else
        snprintf (why, why_size, "%s", reason);
    for (char *p = why; why_size && *p; p++)
        if ((unsigned char) *p < 0x20 || *p == 0x7f)
            *p = '?';
    return rc;
}

/* =========================================================================
 * Write
 */

typedef struct {
    struct archive *ar;
    zhashx_t *links; /* "dev:ino" of a multiply-linked file -> its first path */
    uint32_t id_base, id_count;
    char path[LAYER_PATH_MAX]; /* the current entry, relative */
    char *buf;                 /* S_BUF */
    uint64_t skipped;          /* sockets and FIFOs */
    char *why;
    size_t why_size;
} s_writer_t;

/* libarchive's write error, as a layer_rc_t: a full (or over-quota) disk
 * is the caller's to report as such, the rest is I/O. */
static int
s_write_fail (s_writer_t *w, const char *what)
{
    int e = sym_archive_errno (w->ar);
    int rc = e == ENOSPC || e == EDQUOT ? LAYER_ERR_SPACE : LAYER_ERR_IO;
    return s_fail (w->why, w->why_size, rc, w->path, "%s: %s", what,
                   e == ENOSPC || e == EDQUOT         ? "disk full"
                   : sym_archive_error_string (w->ar) ? sym_archive_error_string (w->ar)
                                                      : strerror (e));
}

static int
s_ids (s_writer_t *w, const struct stat *st, struct archive_entry *e)
{
    uint64_t uid = st->st_uid, gid = st->st_gid;
    if (uid < w->id_base || uid - w->id_base >= w->id_count || gid < w->id_base
        || gid - w->id_base >= w->id_count)
        return s_fail (w->why, w->why_size, LAYER_ERR_INVALID, w->path,
                       "owner %llu:%llu is outside the shed's ids %u..%u", (unsigned long long) uid,
                       (unsigned long long) gid, w->id_base, w->id_base + w->id_count - 1);
    sym_archive_entry_set_uid (e, (la_int64_t) (uid - w->id_base));
    sym_archive_entry_set_gid (e, (la_int64_t) (gid - w->id_base));
    return 0;
}

/* The file's data regions (SEEK_DATA/SEEK_HOLE) as the entry's sparse map,
 * only when it has holes at all (fewer blocks than its size): a dense file
 * costs nothing extra. */
static void
s_sparse_map (int fd, const struct stat *st, struct archive_entry *e)
{
    if ((uint64_t) st->st_blocks * 512 >= (uint64_t) st->st_size)
        return;
    off_t off = 0;
    int n = 0;
    while (off < st->st_size) {
        off_t data = lseek (fd, off, SEEK_DATA);
        if (data < 0)
            break; /* ENXIO: only a hole is left */
        off_t hole = lseek (fd, data, SEEK_HOLE);
        if (hole < 0)
            hole = st->st_size;
        sym_archive_entry_sparse_add_entry (e, data, hole - data);
        n++;
        off = hole;
    }
    if (n == 0)
        /* All hole: libarchive needs one (empty) region at the end. */
        sym_archive_entry_sparse_add_entry (e, st->st_size, 0);
}

/* The file's bytes. With a sparse map the pax writer drops the bytes that
 * fall in holes, so holes are fed from a zero buffer (no reads). */
static int
s_file_data (s_writer_t *w, int fd, const struct stat *st)
{
    off_t off = 0;
    while (off < st->st_size) {
        off_t data = lseek (fd, off, SEEK_DATA);
        if (data < 0)
            data = st->st_size;
        /* the hole [off, data) */
        memset (w->buf, 0, S_BUF);
        while (off < data) {
            size_t n = (size_t) (data - off < S_BUF ? data - off : S_BUF);
            if (sym_archive_write_data (w->ar, w->buf, n) < 0)
                return s_write_fail (w, "write");
            off += (off_t) n;
        }
        off_t hole = off < st->st_size ? lseek (fd, off, SEEK_HOLE) : st->st_size;
        if (hole < 0 || hole > st->st_size)
            hole = st->st_size;
        while (off < hole) {
            size_t want = (size_t) (hole - off < S_BUF ? hole - off : S_BUF);
            ssize_t r = pread (fd, w->buf, want, off);
            if (r < 0 && errno == EINTR)
                continue;
            if (r <= 0)
                return s_fail (w->why, w->why_size, LAYER_ERR_IO, w->path, "read: %s",
                               r < 0 ? strerror (errno) : "the file shrank while it was read");
            if (sym_archive_write_data (w->ar, w->buf, (size_t) r) < 0)
                return s_write_fail (w, "write");
            off += r;
        }
    }
    return 0;
}

static int s_walk (s_writer_t *w, int dfd, size_t plen, int depth);

/* One entry `name` in the directory dfd; w->path is its relative path. */
static int
s_write_one (s_writer_t *w, int dfd, const char *name, size_t plen, int depth)
{
    struct stat st;
    if (fstatat (dfd, name, &st, AT_SYMLINK_NOFOLLOW) != 0)
        return s_fail (w->why, w->why_size, LAYER_ERR_IO, w->path, "stat: %s", strerror (errno));
    if (S_ISSOCK (st.st_mode) || S_ISFIFO (st.st_mode)) {
        w->skipped++;
        return 0;
    }
    bool whiteout = S_ISCHR (st.st_mode) && st.st_rdev == makedev (0, 0);
    if (S_ISBLK (st.st_mode) || (S_ISCHR (st.st_mode) && !whiteout))
        return s_fail (w->why, w->why_size, LAYER_ERR_INVALID, w->path, "device node %u:%u",
                       major (st.st_rdev), minor (st.st_rdev));

    struct archive_entry *e = sym_archive_entry_new ();
    if (!e)
        return s_fail (w->why, w->why_size, LAYER_ERR_IO, NULL, "out of memory");
    sym_archive_entry_set_pathname (e, w->path);
    sym_archive_entry_set_mtime (e, st.st_mtim.tv_sec, st.st_mtim.tv_nsec);
    int rc = 0, fd = -1;
    if (whiteout) {
        /* overlayfs makes whiteouts as the mounter (host root): owner 0 */
        sym_archive_entry_set_filetype (e, AE_IFCHR);
        sym_archive_entry_set_perm (e, 0);
        sym_archive_entry_set_rdev (e, 0);
        sym_archive_entry_set_uid (e, 0);
        sym_archive_entry_set_gid (e, 0);
    }
    else {
        rc = s_ids (w, &st, e);
        sym_archive_entry_set_perm (e, st.st_mode & 07777);
    }
    char key[64];
    snprintf (key, sizeof key, "%llx:%llx", (unsigned long long) st.st_dev,
              (unsigned long long) st.st_ino);
    const char *first = NULL;
    if (rc == 0 && S_ISLNK (st.st_mode)) {
        char target[S_LINK_MAX + 1];
        ssize_t n = readlinkat (dfd, name, target, sizeof target);
        if (n <= 0 || n > S_LINK_MAX)
            rc = s_fail (w->why, w->why_size, n > S_LINK_MAX ? LAYER_ERR_INVALID : LAYER_ERR_IO,
                         w->path, "readlink: %s",
                         n > S_LINK_MAX ? "target too long" : strerror (errno));
        else {
            target[n] = '\0';
            sym_archive_entry_set_filetype (e, AE_IFLNK);
            sym_archive_entry_set_symlink (e, target);
        }
    }
    else if (rc == 0 && S_ISREG (st.st_mode)) {
        first = st.st_nlink > 1 ? zhashx_lookup (w->links, key) : NULL;
        if (first) {
            sym_archive_entry_set_filetype (e, AE_IFREG);
            sym_archive_entry_set_hardlink (e, first);
            sym_archive_entry_set_size (e, 0);
        }
        else {
            fd = openat (dfd, name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NOATIME);
            if (fd < 0 && errno == EPERM)
                fd = openat (dfd, name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
            if (fd < 0)
                rc = s_fail (w->why, w->why_size, LAYER_ERR_IO, w->path, "open: %s",
                             strerror (errno));
            else if (fgetxattr (fd, S_METACOPY, NULL, 0) >= 0)
                rc = s_fail (w->why, w->why_size, LAYER_ERR_INVALID, w->path,
                             "metacopy file (overlayfs metacopy=on): its data is in the lower "
                             "layer");
            else {
                sym_archive_entry_set_filetype (e, AE_IFREG);
                sym_archive_entry_set_size (e, st.st_size);
                s_sparse_map (fd, &st, e);
                if (st.st_nlink > 1)
                    zhashx_insert (w->links, key, w->path);
            }
        }
    }
    else if (rc == 0 && S_ISDIR (st.st_mode)) {
        if (depth >= S_DEPTH_MAX)
            rc = s_fail (w->why, w->why_size, LAYER_ERR_INVALID, w->path,
                         "nested deeper than %d directories", S_DEPTH_MAX);
        else if ((fd = openat (dfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)) < 0)
            rc = s_fail (w->why, w->why_size, LAYER_ERR_IO, w->path, "open: %s", strerror (errno));
        else {
            char val[8];
            sym_archive_entry_set_filetype (e, AE_IFDIR);
            if (fgetxattr (fd, S_REDIRECT, NULL, 0) >= 0)
                rc = s_fail (w->why, w->why_size, LAYER_ERR_INVALID, w->path,
                             "redirected directory (overlayfs redirect_dir=on): its content "
                             "is in the lower layer");
            else if (fgetxattr (fd, S_OPAQUE, val, sizeof val) == 1 && val[0] == 'y')
                sym_archive_entry_xattr_add_entry (e, S_OPAQUE, "y", 1);
        }
    }
    if (rc == 0 && sym_archive_write_header (w->ar, e) < ARCHIVE_WARN)
        rc = s_write_fail (w, "write");
    if (rc == 0 && S_ISREG (st.st_mode) && !first)
        rc = s_file_data (w, fd, &st);
    if (rc == 0 && S_ISDIR (st.st_mode))
        rc = s_walk (w, fd, plen, depth + 1);
    if (fd >= 0)
        close (fd);
    sym_archive_entry_free (e);
    return rc;
}

/* Every entry of the directory open on dfd (which stays open), w->path
 * being its relative path of plen bytes ("" for the top). */
static int
s_walk (s_writer_t *w, int dfd, size_t plen, int depth)
{
    int fd = dup (dfd);
    DIR *d = fd >= 0 ? fdopendir (fd) : NULL;
    if (!d) {
        if (fd >= 0)
            close (fd);
        return s_fail (w->why, w->why_size, LAYER_ERR_IO, w->path, "opendir: %s", strerror (errno));
    }
    rewinddir (d);
    int rc = 0;
    struct dirent *de;
    while (rc == 0 && (errno = 0, de = readdir (d))) {
        if (!strcmp (de->d_name, ".") || !strcmp (de->d_name, ".."))
            continue;
        size_t nlen = strlen (de->d_name);
        if (plen + 1 + nlen >= LAYER_PATH_MAX) {
            w->path[plen] = '\0';
            rc = s_fail (w->why, w->why_size, LAYER_ERR_INVALID, w->path,
                         "holds a path longer than %d bytes", LAYER_PATH_MAX - 1);
            break;
        }
        size_t len = plen;
        if (plen)
            w->path[len++] = '/';
        memcpy (w->path + len, de->d_name, nlen + 1);
        rc = s_write_one (w, dfd, de->d_name, len + nlen, depth);
        w->path[plen] = '\0';
    }
    if (rc == 0 && errno != 0)
        rc = s_fail (w->why, w->why_size, LAYER_ERR_IO, w->path, "readdir: %s", strerror (errno));
    closedir (d);
    return rc;
}

int
layer_write (const char *upper_dir, uint32_t id_base, uint32_t id_count, const char *out_path,
             uint64_t *bytes, char *why, size_t why_size)
{
    char dlerr[200];
    if (!archive_dl_open (dlerr, sizeof dlerr))
        return s_fail (why, why_size, LAYER_ERR_IO, NULL, "libarchive: %s", dlerr);
    char tmp[PATH_MAX];
    if (snprintf (tmp, sizeof tmp, "%s.tmp-XXXXXX", out_path) >= (int) sizeof tmp)
        return s_fail (why, why_size, LAYER_ERR_INVALID, NULL, "%s: name too long", out_path);
    int top = open (upper_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (top < 0)
        return s_fail (why, why_size, LAYER_ERR_IO, NULL, "%s: %s", upper_dir, strerror (errno));
    int out = mkostemp (tmp, O_CLOEXEC);
    if (out < 0) {
        int e = errno;
        close (top);
        return s_fail (why, why_size, e == ENOSPC || e == EDQUOT ? LAYER_ERR_SPACE : LAYER_ERR_IO,
                       NULL, "%s: %s", tmp, strerror (e));
    }
    fchmod (out, 0600);
    s_writer_t w = { .ar = sym_archive_write_new (),
                     .links = zhashx_new (),
                     .id_base = id_base,
                     .id_count = id_count,
                     .buf = malloc (S_BUF),
                     .why = why,
                     .why_size = why_size };
    int rc = 0;
    if (!w.ar || !w.links || !w.buf)
        rc = s_fail (why, why_size, LAYER_ERR_IO, NULL, "out of memory");
    if (rc == 0) {
        /* zhashx keeps its own copy of each path: w.path is reused */
        zhashx_set_duplicator (w.links, (zhashx_duplicator_fn *) strdup);
        zhashx_set_destructor (w.links, (zhashx_destructor_fn *) zstr_free);
        /* pax: nanosecond mtimes, xattrs, long names, sparse maps; no
         * compression (a layer streams at disk speed; the transfer may
         * compress), big blocks, no padding of the last one. */
        sym_archive_write_set_format_pax (w.ar);
        sym_archive_write_add_filter_none (w.ar);
        sym_archive_write_set_bytes_per_block (w.ar, S_TAR_BLOCK);
        sym_archive_write_set_bytes_in_last_block (w.ar, 1);
        if (sym_archive_write_open_fd (w.ar, out) != ARCHIVE_OK)
            rc = s_write_fail (&w, "open");
    }
    if (rc == 0)
        rc = s_walk (&w, top, 0, 0);
    if (rc == 0 && sym_archive_write_close (w.ar) != ARCHIVE_OK)
        rc = s_write_fail (&w, "finish");
    if (rc == 0 && fsync (out) != 0)
        rc = s_fail (why, why_size,
                     errno == ENOSPC || errno == EDQUOT ? LAYER_ERR_SPACE : LAYER_ERR_IO, NULL,
                     "fsync %s: %s", tmp, strerror (errno));
    struct stat st;
    if (rc == 0 && fstat (out, &st) == 0 && bytes)
        *bytes = (uint64_t) st.st_size;
    if (rc == 0 && rename (tmp, out_path) != 0)
        rc = s_fail (why, why_size, LAYER_ERR_IO, NULL, "rename to %s: %s", out_path,
                     strerror (errno));
    if (rc == 0) {
        /* the rename itself durable: the directory's entry */
        char dir[PATH_MAX];
        snprintf (dir, sizeof dir, "%s", out_path);
        char *slash = strrchr (dir, '/');
        if (slash)
            *(slash == dir ? slash + 1 : slash) = '\0';
        int dfd = open (slash ? dir : ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (dfd >= 0) {
            fsync (dfd);
            close (dfd);
        }
    }
    else
        unlink (tmp);
    if (w.ar)
        sym_archive_write_free (w.ar);
    zhashx_destroy (&w.links);
    free (w.buf);
    close (out);
    close (top);
    if (rc == 0 && w.skipped)
        log_info (S_COMP, "sockets and FIFOs not captured|dir=%s skipped=%llu", upper_dir,
                  (unsigned long long) w.skipped);
    return rc;
}

/* =========================================================================
 * Read
 */

#define S_SEEN_FILE     ((void *) (intptr_t) 'f')
#define S_SEEN_WHITEOUT ((void *) (intptr_t) 'w')
#define S_SEEN_DIR      ((void *) (intptr_t) 'd')
#define S_SEEN_IMPLICIT ((void *) (intptr_t) 'i') /* a parent no entry named yet */
#define S_SEEN_LINK     ((void *) (intptr_t) 'l')

typedef enum { S_K_FILE, S_K_DIR, S_K_SYMLINK, S_K_HARDLINK, S_K_WHITEOUT } s_kind_t;

typedef struct {
    struct archive *in, *disk;
    zhashx_t *seen; /* normalised path -> S_SEEN_* */
    const char *root;
    uint32_t id_base, id_count;
    uint64_t max_entries, max_bytes, avail;
    uint64_t entries, bytes, need;
    char norm[LAYER_PATH_MAX], norm_target[LAYER_PATH_MAX];
    char *why;
    size_t why_size;
} s_reader_t;

static int
s_parents (s_reader_t *r, const char *path)
{
    char prefix[LAYER_PATH_MAX];
    for (const char *slash = strchr (r->norm, '/'); slash; slash = strchr (slash + 1, '/')) {
        size_t n = (size_t) (slash - r->norm);
        memcpy (prefix, r->norm, n);
        prefix[n] = '\0';
        void *seen = zhashx_lookup (r->seen, prefix);
        if (seen == S_SEEN_LINK)
            return s_fail (r->why, r->why_size, LAYER_ERR_INVALID, path, "below the symlink '%s'",
                           prefix);
        if (seen == S_SEEN_FILE || seen == S_SEEN_WHITEOUT)
            return s_fail (r->why, r->why_size, LAYER_ERR_INVALID, path, "below the file '%s'",
                           prefix);
        /* A layer lists every directory before what is in it (layer_write
         * does): a parent made up by extraction would belong to the
         * host's root, outside the shed's ids. */
        if (!seen)
            return s_fail (r->why, r->why_size, LAYER_ERR_INVALID, path,
                           "its directory '%s' is not in the layer before it", prefix);
    }
    return 0;
}

/* Every check of one entry; fills r->norm (and r->norm_target). */
static int
s_check (s_reader_t *r, struct archive_entry *e, s_kind_t *kind_out)
{
    const char *path = sym_archive_entry_pathname (e);
    if (!path)
        return s_fail (r->why, r->why_size, LAYER_ERR_INVALID, NULL,
                       "entry %llu: empty or unreadable name", (unsigned long long) r->entries + 1);
    if (++r->entries > r->max_entries)
        return s_fail (r->why, r->why_size, LAYER_ERR_INVALID, path,
                       "more than %llu entries in the layer", (unsigned long long) r->max_entries);
    const char *hardlink = sym_archive_entry_hardlink (e);
    const char *symlink = sym_archive_entry_symlink (e);
    mode_t type = sym_archive_entry_filetype (e);
    s_kind_t kind;
    if (hardlink)
        kind = S_K_HARDLINK;
    else if (type == AE_IFREG)
        kind = S_K_FILE;
    else if (type == AE_IFDIR)
        kind = S_K_DIR;
    else if (type == AE_IFLNK)
        kind = S_K_SYMLINK;
    else if (type == AE_IFCHR && sym_archive_entry_rdev (e) == 0)
        kind = S_K_WHITEOUT;
    else if (type == AE_IFCHR || type == AE_IFBLK)
        return s_fail (
            r->why, r->why_size, LAYER_ERR_INVALID, path, "device node %u:%u (only 0:0 whiteouts)",
            (unsigned) sym_archive_entry_rdevmajor (e), (unsigned) sym_archive_entry_rdevminor (e));
    else
        return s_fail (r->why, r->why_size, LAYER_ERR_INVALID, path, "unsupported entry type 0%o",
                       (unsigned) type);
    /* setuid and setgid bits stay as the shed had them: the owner is one of
     * the shed's own ids (checked below), so the most a setuid file gives
     * is a uid the shed already holds, inside its user namespace; and the
     * shed's root and its disk are mounted nosuid (rootfs.c), so the kernel
     * ignores the bits for anyone exec'ing the file, host included. */
    la_int64_t uid = sym_archive_entry_uid (e), gid = sym_archive_entry_gid (e);
    if (uid < 0 || (uint64_t) uid >= r->id_count || gid < 0 || (uint64_t) gid >= r->id_count)
        return s_fail (r->why, r->why_size, LAYER_ERR_INVALID, path,
                       "owner %lld:%lld outside the shed's 0..%u", (long long) uid, (long long) gid,
                       r->id_count - 1);
    /* Symlink targets are kept as they are: nothing here follows them
     * (entries below a symlink are refused, libarchive's SECURE_SYMLINKS
     * guards the rest), and inside the shed they resolve in its own root,
     * as any symlink its processes make. Only the link's own name is
     * checked as a path. */
    image_entry_kind_t pk = kind == S_K_DIR        ? IMAGE_ENTRY_DIR
                            : kind == S_K_HARDLINK ? IMAGE_ENTRY_HARDLINK
                                                   : IMAGE_ENTRY_FILE;
    char reason[300];
    if (image_path_check (path, pk, hardlink, r->norm, sizeof r->norm, r->norm_target,
                          sizeof r->norm_target, reason, sizeof reason)
        != 0)
        return s_fail (r->why, r->why_size, LAYER_ERR_INVALID, NULL, "%s", reason);
    if (kind == S_K_SYMLINK && (!symlink || !*symlink || strlen (symlink) > S_LINK_MAX))
        return s_fail (r->why, r->why_size, LAYER_ERR_INVALID, path,
                       "symlink target empty or over %d bytes", S_LINK_MAX);
    /* The only xattr: the opaque marker, on a directory. */
    sym_archive_entry_xattr_reset (e);
    const char *xname;
    const void *xval;
    size_t xlen;
    while (sym_archive_entry_xattr_next (e, &xname, &xval, &xlen) == ARCHIVE_OK) {
        if (kind != S_K_DIR || strcmp (xname, S_OPAQUE) != 0 || xlen != 1
            || *(const char *) xval != 'y') {
            char n[80];
            s_printable (xname, n, sizeof n);
            return s_fail (r->why, r->why_size, LAYER_ERR_INVALID, path,
                           "extended attribute '%s' (only %s=y on a directory)", n, S_OPAQUE);
        }
    }
    if (!*r->norm) {
        *kind_out = kind;
        return 0; /* the upper dir itself: ours, kept as it is */
    }
    int depth = 1;
    for (const char *c = r->norm; *c; c++)
        depth += *c == '/';
    if (depth > S_DEPTH_MAX) /* layer_write could not write it back */
        return s_fail (r->why, r->why_size, LAYER_ERR_INVALID, path,
                       "nested deeper than %d directories", S_DEPTH_MAX);
    if (s_parents (r, path) != 0)
        return LAYER_ERR_INVALID;
    void *seen = zhashx_lookup (r->seen, r->norm);
    if (seen && !(seen == S_SEEN_IMPLICIT && kind == S_K_DIR))
        return s_fail (r->why, r->why_size, LAYER_ERR_INVALID, path, "appears twice in the layer");
    if (kind == S_K_HARDLINK && zhashx_lookup (r->seen, r->norm_target) != S_SEEN_FILE)
        return s_fail (r->why, r->why_size, LAYER_ERR_INVALID, path,
                       "hard link to '%.160s', which is not a file extracted before it",
                       r->norm_target);
    zhashx_update (r->seen, r->norm,
                   kind == S_K_DIR        ? S_SEEN_DIR
                   : kind == S_K_SYMLINK  ? S_SEEN_LINK
                   : kind == S_K_WHITEOUT ? S_SEEN_WHITEOUT
                   : kind == S_K_HARDLINK ? S_SEEN_LINK /* nothing goes below it */
                                          : S_SEEN_FILE);
    if (kind == S_K_FILE) {
        la_int64_t size = sym_archive_entry_size (e);
        if (size < 0)
            return s_fail (r->why, r->why_size, LAYER_ERR_INVALID, path, "negative size");
        /* Space: a sparse file takes its data regions only. */
        uint64_t data = (uint64_t) size;
        if (sym_archive_entry_sparse_reset (e) > 0) {
            la_int64_t off, len;
            data = 0;
            while (sym_archive_entry_sparse_next (e, &off, &len) == ARCHIVE_OK)
                data += len > 0 ? (uint64_t) len : 0;
            if (data > (uint64_t) size)
                data = (uint64_t) size;
        }
        r->bytes += data;
        if (r->max_bytes && r->bytes > r->max_bytes)
            return s_fail (r->why, r->why_size, LAYER_ERR_INVALID, path,
                           "the layer holds more than %llu KiB of file data (the limit)",
                           (unsigned long long) (r->max_bytes >> 10));
        r->need += (data + S_BLOCK - 1) / S_BLOCK * S_BLOCK;
    }
    else if (kind == S_K_DIR)
        r->need += S_BLOCK;
    if (r->need > r->avail)
        return s_fail (r->why, r->why_size, LAYER_ERR_SPACE, path,
                       "the layer needs more than the %llu KiB free on the shed's disk",
                       (unsigned long long) (r->avail >> 10));
    *kind_out = kind;
    return 0;
}

static int
s_disk_fail (s_reader_t *r, const char *what)
{
    int e = sym_archive_errno (r->disk);
    int rc = e == ENOSPC || e == EDQUOT ? LAYER_ERR_SPACE : LAYER_ERR_IO;
    return s_fail (r->why, r->why_size, rc, r->norm, "%s: %s", what,
                   rc == LAYER_ERR_SPACE                ? "the shed's disk is full"
                   : sym_archive_error_string (r->disk) ? sym_archive_error_string (r->disk)
                                                        : strerror (e));
}

/* Write one checked entry below r->root, ids shifted. */
static int
s_extract (s_reader_t *r, struct archive_entry *e, s_kind_t kind)
{
    char full[PATH_MAX + LAYER_PATH_MAX], target[PATH_MAX + LAYER_PATH_MAX];
    if (!*r->norm)
        return 0;
    snprintf (full, sizeof full, "%s/%s", r->root, r->norm);
    sym_archive_entry_set_pathname (e, full);
    if (kind == S_K_HARDLINK) {
        snprintf (target, sizeof target, "%s/%s", r->root, r->norm_target);
        sym_archive_entry_set_hardlink (e, target);
    }
    sym_archive_entry_set_uid (e, r->id_base + sym_archive_entry_uid (e));
    sym_archive_entry_set_gid (e, r->id_base + sym_archive_entry_gid (e));
    sym_archive_entry_set_uname (e, NULL); /* owners by number, never the host's names */
    sym_archive_entry_set_gname (e, NULL);
    if (sym_archive_write_header (r->disk, e) < ARCHIVE_WARN)
        return s_disk_fail (r, "cannot extract");
    if (kind == S_K_FILE && sym_archive_entry_size (e) > 0) {
        const void *buf;
        size_t len;
        la_int64_t off;
        for (;;) {
            int rc = sym_archive_read_data_block (r->in, &buf, &len, &off);
            if (rc == ARCHIVE_EOF)
                break;
            if (rc < ARCHIVE_WARN)
                return s_fail (r->why, r->why_size, LAYER_ERR_INVALID, r->norm,
                               "layer unreadable: %s", sym_archive_error_string (r->in));
            if (off < 0 || (uint64_t) off + len > (uint64_t) sym_archive_entry_size (e))
                return s_fail (r->why, r->why_size, LAYER_ERR_INVALID, r->norm,
                               "more data than its declared size");
            if (sym_archive_write_data_block (r->disk, buf, len, off) < ARCHIVE_WARN)
                return s_disk_fail (r, "cannot write");
        }
    }
    if (sym_archive_write_finish_entry (r->disk) < ARCHIVE_WARN)
        return s_disk_fail (r, "cannot finish");
    if (kind == S_K_DIR && sym_archive_entry_xattr_count (e) > 0) {
        /* checked: the opaque marker. Set by us (no XATTR flag to
         * libarchive, which would take any xattr of the file). */
        int fd = open (full, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        int rc = fd >= 0 ? fsetxattr (fd, S_OPAQUE, "y", 1, 0) : -1;
        int saved = errno;
        if (fd >= 0)
            close (fd);
        if (rc != 0)
            return s_fail (r->why, r->why_size, LAYER_ERR_IO, r->norm, "set %s: %s", S_OPAQUE,
                           strerror (saved));
    }
    return 0;
}

/* Remove everything below root, never root itself. */
static void
s_empty (const char *root)
{
    DIR *d = opendir (root);
    struct dirent *de;
    while (d && (de = readdir (d))) {
        if (!strcmp (de->d_name, ".") || !strcmp (de->d_name, ".."))
            continue;
        char path[PATH_MAX + 256];
        snprintf (path, sizeof path, "%s/%s", root, de->d_name);
        if (image_rmtree (path) != 0)
            log_warn (S_COMP, "cannot remove a failed restore|path=%s err=\"%s\"", path,
                      strerror (errno));
    }
    if (d)
        closedir (d);
}

static bool
s_is_empty (const char *dir)
{
    DIR *d = opendir (dir);
    if (!d)
        return false;
    struct dirent *de;
    bool empty = true;
    while (empty && (de = readdir (d)))
        empty = !strcmp (de->d_name, ".") || !strcmp (de->d_name, "..");
    closedir (d);
    return empty;
}

int
layer_read (const char *in_path, const char *upper_dir, uint32_t id_base, uint32_t id_count,
            const layer_limits_t *limits, char *why, size_t why_size)
{
    /* libarchive is loaded on first use (common/archive_dl.h). */
    char dlerr[200];
    if (!archive_dl_open (dlerr, sizeof dlerr))
        return s_fail (why, why_size, LAYER_ERR_IO, NULL, "libarchive: %s", dlerr);
    /* Resolved: libarchive's symlink guard checks every component of the
     * paths it is given, ours included. */
    char root[PATH_MAX];
    if (!realpath (upper_dir, root))
        return s_fail (why, why_size, LAYER_ERR_IO, NULL, "%s: %s", upper_dir, strerror (errno));
    if (!s_is_empty (root))
        return s_fail (why, why_size, LAYER_ERR_INVALID, NULL, "%s is not an empty directory",
                       root);
    struct statvfs vfs;
    if (statvfs (root, &vfs) != 0)
        return s_fail (why, why_size, LAYER_ERR_IO, NULL, "%s: %s", root, strerror (errno));
    int fd = open (in_path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0)
        return s_fail (why, why_size, LAYER_ERR_IO, NULL, "%s: %s", in_path, strerror (errno));
    s_reader_t r = { .in = sym_archive_read_new (),
                     .disk = sym_archive_write_disk_new (),
                     .seen = zhashx_new (),
                     .root = root,
                     .id_base = id_base,
                     .id_count = id_count,
                     .max_entries = limits && limits->max_entries ? limits->max_entries
                                                                  : LAYER_ENTRIES_DEFAULT,
                     .max_bytes = limits ? limits->max_bytes : 0,
                     .avail = (uint64_t) vfs.f_bavail * vfs.f_frsize,
                     .why = why,
                     .why_size = why_size };
    int rc = 0;
    if (!r.in || !r.disk || !r.seen)
        rc = s_fail (why, why_size, LAYER_ERR_IO, NULL, "out of memory");
    if (rc == 0) {
        /* A layer is a plain tar (layer_write): no decompressor to attack. */
        sym_archive_read_support_format_tar (r.in);
        int flags = ARCHIVE_EXTRACT_PERM | ARCHIVE_EXTRACT_TIME | ARCHIVE_EXTRACT_SECURE_SYMLINKS
                    | ARCHIVE_EXTRACT_SECURE_NODOTDOT | ARCHIVE_EXTRACT_NO_OVERWRITE;
        if (geteuid () == 0)
            flags |= ARCHIVE_EXTRACT_OWNER;
        sym_archive_write_disk_set_options (r.disk, flags);
        if (sym_archive_read_open_fd (r.in, fd, S_TAR_BLOCK) != ARCHIVE_OK)
            rc = s_fail (why, why_size, LAYER_ERR_INVALID, NULL, "%s: not a layer (%s)", in_path,
                         sym_archive_error_string (r.in) ? sym_archive_error_string (r.in)
                                                         : "unreadable");
    }
    while (rc == 0) {
        struct archive_entry *e;
        int ar = sym_archive_read_next_header (r.in, &e);
        if (ar == ARCHIVE_EOF)
            break;
        if (ar < ARCHIVE_WARN) {
            rc = s_fail (why, why_size, LAYER_ERR_INVALID, NULL,
                         "layer unreadable after %llu entries: %s", (unsigned long long) r.entries,
                         sym_archive_error_string (r.in) ? sym_archive_error_string (r.in) : "?");
            break;
        }
        s_kind_t kind = S_K_FILE;
        r.norm_target[0] = '\0';
        rc = s_check (&r, e, &kind);
        if (rc == 0)
            rc = s_extract (&r, e, kind);
    }
    /* Directory modes and times are set at close (libarchive defers them
     * until their content is written). */
    if (rc == 0 && sym_archive_write_close (r.disk) != ARCHIVE_OK)
        rc = s_disk_fail (&r, "cannot finish the tree");
    if (r.in)
        sym_archive_read_free (r.in);
    if (r.disk)
        sym_archive_write_free (r.disk);
    zhashx_destroy (&r.seen);
    close (fd);
    if (rc == 0) {
        int dfd = open (root, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (dfd >= 0) {
            if (syncfs (dfd) != 0)
                rc = s_fail (why, why_size, errno == ENOSPC ? LAYER_ERR_SPACE : LAYER_ERR_IO, NULL,
                             "sync %s: %s", root, strerror (errno));
            close (dfd);
        }
    }
    if (rc != 0)
        s_empty (root);
    return rc;
}
