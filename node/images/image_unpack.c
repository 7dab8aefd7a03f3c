/* image_unpack.c - see image_unpack.h and docs/images.md. */
#include "node/images/image_unpack.h"

#include "common/archive_dl.h"
#include "common/log.h"

#include <czmq.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#define S_COMPONENT_MAX 255   /* NAME_MAX of every Linux file system */
#define S_BLOCK         4096u /* space estimate: files round up, dirs take one */
#define S_READ_BLOCK    (64 * 1024)

/* -------------------------------------------------------------------------
 * Path rules (pure)
 */

/* An entry name safe to print on one line: control bytes become '?', long
 * names are cut. */
static void
s_printable (const char *in, char *out, size_t size)
{
    size_t n = 0;
    for (const unsigned char *p = (const unsigned char *) (in ? in : ""); *p && n + 4 < size; p++)
        out[n++] = *p < 0x20 || *p == 0x7f ? '?' : (char) *p;
    if (in && strlen (in) >= size - 4 && size > 4) {
        out[n++] = '.';
        out[n++] = '.';
        out[n++] = '.';
    }
    out[n] = '\0';
}

static int s_refuse (char *why, size_t why_size, const char *path, const char *fmt, ...)
    __attribute__ ((format (printf, 4, 5)));

static int
s_refuse (char *why, size_t why_size, const char *path, const char *fmt, ...)
{
    char name[160], reason[320];
    va_list ap;
    va_start (ap, fmt);
    vsnprintf (reason, sizeof reason, fmt, ap);
    va_end (ap);
    s_printable (path, name, sizeof name);
    snprintf (why, why_size, "entry '%s': %s", name, reason);
    return -1;
}

/* Split `path` on '/', drop empty and "." components, refuse "..", an
 * absolute path and over-long names; join the rest with '/' into out.
 * Returns the number of components, or -1 with a reason (no entry name). */
static int
s_normalise (const char *path, char *out, size_t size, const char **reason)
{
    if (!path || !*path) {
        *reason = "empty name";
        return -1;
    }
    if (strlen (path) >= IMAGE_PATH_MAX) {
        *reason = "name longer than 1023 bytes";
        return -1;
    }
    if (path[0] == '/') {
        *reason = "absolute path";
        return -1;
    }
    size_t len = 0;
    int count = 0;
    const char *p = path;
    while (*p) {
        const char *end = strchr (p, '/');
        size_t clen = end ? (size_t) (end - p) : strlen (p);
        if (clen == 2 && p[0] == '.' && p[1] == '.') {
            *reason = "'..' component";
            return -1;
        }
        if (clen > S_COMPONENT_MAX) {
            *reason = "a component longer than 255 bytes";
            return -1;
        }
        if (clen > 0 && !(clen == 1 && p[0] == '.')) {
            if (len + clen + 2 > size) {
                *reason = "name too long";
                return -1;
            }
            if (len)
                out[len++] = '/';
            memcpy (out + len, p, clen);
            len += clen;
            count++;
        }
        p += clen;
        if (*p == '/')
            p++;
    }
    if (size)
        out[len] = '\0';
    return count;
}

int
image_path_check (const char *path, image_entry_kind_t kind, const char *target, char *norm,
                  size_t norm_size, char *norm_target, size_t norm_target_size, char *why,
                  size_t why_size)
{
    const char *reason = NULL;
    int depth = s_normalise (path, norm, norm_size, &reason);
    if (depth < 0)
        return s_refuse (why, why_size, path, "%s", reason);
    if (depth == 0 && kind != IMAGE_ENTRY_DIR)
        return s_refuse (why, why_size, path, "names the root but is not a directory");

    if (kind == IMAGE_ENTRY_SYMLINK) {
        if (!target || !*target)
            return s_refuse (why, why_size, path, "symlink with an empty target");
        if (strlen (target) >= IMAGE_PATH_MAX)
            return s_refuse (why, why_size, path, "symlink target longer than 1023 bytes");
        /* Absolute targets resolve inside the shed's root at run time (the
         * runtime's chroot), and nothing on the host follows them
         * (docs/images.md). */
        if (target[0] == '/')
            return 0;
        /* Resolve lexically from the link's directory: depth - 1 components
         * deep; each ".." climbs one, and climbing past the root refuses. */
        int level = depth - 1;
        const char *p = target;
        while (*p) {
            const char *end = strchr (p, '/');
            size_t clen = end ? (size_t) (end - p) : strlen (p);
            if (clen == 2 && p[0] == '.' && p[1] == '.') {
                if (--level < 0) {
                    char t[160];
                    s_printable (target, t, sizeof t);
                    return s_refuse (why, why_size, path,
                                     "symlink target '%s' climbs above the image root", t);
                }
            }
            else if (clen > 0 && !(clen == 1 && p[0] == '.'))
                level++;
            p += clen;
            if (*p == '/')
                p++;
        }
        return 0;
    }
    if (kind == IMAGE_ENTRY_HARDLINK) {
        char tmp[IMAGE_PATH_MAX];
        char *out = norm_target ? norm_target : tmp;
        size_t out_size = norm_target ? norm_target_size : sizeof tmp;
        char t[160];
        s_printable (target, t, sizeof t);
        int tdepth = s_normalise (target, out, out_size, &reason);
        if (tdepth < 0)
            return s_refuse (why, why_size, path, "hard link target '%s': %s", t, reason);
        if (tdepth == 0)
            return s_refuse (why, why_size, path, "hard link to the image root");
        if (strcmp (out, norm) == 0)
            return s_refuse (why, why_size, path, "hard link to itself");
    }
    return 0;
}

/* -------------------------------------------------------------------------
 * One pass over the archive
 */

#define S_KIND_FILE ((void *) (intptr_t) 'f')
#define S_KIND_DIR  ((void *) (intptr_t) 'd')
#define S_KIND_LINK ((void *) (intptr_t) 'l')

typedef struct {
    const image_unpack_opts_t *opts;
    zhashx_t *seen; /* normalised path -> S_KIND_* */
    image_unpack_stats_t stats;
    uint64_t need;        /* bytes of disk the tree will take, roughly */
    const char *root;     /* extraction: the temporary tree; NULL: check only */
    struct archive *disk; /* extraction: archive_write_disk */
} s_pass_t;

/* Every parent of `norm` must be a directory (or not seen yet: it will be
 * made as one, and is recorded so). */
static int
s_check_parents (s_pass_t *pass, const char *path, const char *norm, char *why, size_t why_size)
{
    char prefix[IMAGE_PATH_MAX];
    for (const char *slash = strchr (norm, '/'); slash; slash = strchr (slash + 1, '/')) {
        size_t n = (size_t) (slash - norm);
        memcpy (prefix, norm, n);
        prefix[n] = '\0';
        void *kind = zhashx_lookup (pass->seen, prefix);
        if (kind == S_KIND_LINK)
            return s_refuse (why, why_size, path, "below the symlink '%s'", prefix);
        if (kind == S_KIND_FILE)
            return s_refuse (why, why_size, path, "below the file '%s'", prefix);
        if (!kind)
            zhashx_insert (pass->seen, prefix, S_KIND_DIR);
    }
    return 0;
}

/* All checks of one entry. Fills norm (and norm_target for hard links). */
static int
s_check_entry (s_pass_t *pass, struct archive_entry *entry, char *norm, char *norm_target,
               image_entry_kind_t *kind_out, char *why, size_t why_size)
{
    const char *path = sym_archive_entry_pathname (entry);
    if (!path)
        path = sym_archive_entry_pathname_utf8 (entry);
    if (!path) {
        snprintf (why, why_size, "entry %llu: empty or unreadable name",
                  (unsigned long long) pass->stats.entries + 1);
        return -1;
    }
    if (++pass->stats.entries > pass->opts->max_entries)
        return s_refuse (why, why_size, path, "more than %llu entries in the archive",
                         (unsigned long long) pass->opts->max_entries);

    const char *hardlink = sym_archive_entry_hardlink (entry);
    const char *symlink = sym_archive_entry_symlink (entry);
    mode_t type = sym_archive_entry_filetype (entry);
    image_entry_kind_t kind;
    if (hardlink)
        kind = IMAGE_ENTRY_HARDLINK;
    else if (type == AE_IFREG)
        kind = IMAGE_ENTRY_FILE;
    else if (type == AE_IFDIR)
        kind = IMAGE_ENTRY_DIR;
    else if (type == AE_IFLNK)
        kind = IMAGE_ENTRY_SYMLINK;
    else if (type == AE_IFCHR || type == AE_IFBLK)
        return s_refuse (why, why_size, path, "device node");
    else if (type == AE_IFIFO)
        return s_refuse (why, why_size, path, "FIFO");
    else if (type == AE_IFSOCK)
        return s_refuse (why, why_size, path, "socket");
    else
        return s_refuse (why, why_size, path, "unsupported entry type 0%o", (unsigned) type);

    mode_t mode = sym_archive_entry_perm (entry);
    if (kind != IMAGE_ENTRY_SYMLINK && (mode & S_ISUID))
        return s_refuse (why, why_size, path, "setuid bit (mode %04o)", (unsigned) mode);
    if (kind != IMAGE_ENTRY_SYMLINK && kind != IMAGE_ENTRY_DIR && (mode & S_ISGID))
        return s_refuse (why, why_size, path, "setgid bit (mode %04o)", (unsigned) mode);
    int64_t uid = sym_archive_entry_uid (entry), gid = sym_archive_entry_gid (entry);
    if (uid < 0 || uid > IMAGE_ID_MAX || gid < 0 || gid > IMAGE_ID_MAX)
        return s_refuse (why, why_size, path,
                         "owner %lld:%lld outside 0..65535 (a shed maps 65536 ids)",
                         (long long) uid, (long long) gid);

    if (image_path_check (path, kind, hardlink ? hardlink : symlink, norm, IMAGE_PATH_MAX,
                          norm_target, IMAGE_PATH_MAX, why, why_size)
        != 0)
        return -1;
    if (s_check_parents (pass, path, norm, why, why_size) != 0)
        return -1;

    void *seen = zhashx_lookup (pass->seen, norm);
    if (seen && !(seen == S_KIND_DIR && kind == IMAGE_ENTRY_DIR))
        return s_refuse (why, why_size, path, "appears twice in the archive");
    if (kind == IMAGE_ENTRY_HARDLINK && zhashx_lookup (pass->seen, norm_target) != S_KIND_FILE)
        return s_refuse (why, why_size, path,
                         "hard link to '%.160s', which is not a file extracted before it",
                         norm_target);
    if (!seen)
        zhashx_insert (pass->seen, norm,
                       kind == IMAGE_ENTRY_DIR       ? S_KIND_DIR
                       : kind == IMAGE_ENTRY_SYMLINK ? S_KIND_LINK
                                                     : S_KIND_FILE);
    if (kind == IMAGE_ENTRY_FILE) {
        int64_t size = sym_archive_entry_size (entry);
        if (size < 0)
            return s_refuse (why, why_size, path, "negative size");
        pass->stats.files++;
        pass->stats.bytes += (uint64_t) size;
        if (pass->stats.bytes > pass->opts->max_bytes)
            return s_refuse (why, why_size, path,
                             "the archive unpacks to more than %llu MiB (the limit)",
                             (unsigned long long) (pass->opts->max_bytes >> 20));
        pass->need += ((uint64_t) size + S_BLOCK - 1) / S_BLOCK * S_BLOCK;
    }
    else if (kind == IMAGE_ENTRY_HARDLINK)
        pass->stats.files++;
    else if (kind == IMAGE_ENTRY_DIR)
        pass->need += S_BLOCK;
    *kind_out = kind;
    return 0;
}

/* Write one checked entry below pass->root. */
static int
s_extract_entry (s_pass_t *pass, struct archive *in, struct archive_entry *entry, const char *norm,
                 const char *norm_target, image_entry_kind_t kind, char *why, size_t why_size)
{
    char full[PATH_MAX], full_target[PATH_MAX];
    if (!*norm)
        return 0; /* the root: ours, made 0755 */
    snprintf (full, sizeof full, "%s/%s", pass->root, norm);
    sym_archive_entry_set_pathname (entry, full);
    if (kind == IMAGE_ENTRY_HARDLINK) {
        snprintf (full_target, sizeof full_target, "%s/%s", pass->root, norm_target);
        sym_archive_entry_set_hardlink (entry, full_target);
    }
    int r = sym_archive_write_header (pass->disk, entry);
    if (r < ARCHIVE_WARN)
        return s_refuse (why, why_size, norm, "cannot extract: %s",
                         sym_archive_error_string (pass->disk));
    if (kind == IMAGE_ENTRY_FILE && sym_archive_entry_size (entry) > 0) {
        const void *buf;
        size_t len;
        la_int64_t off;
        uint64_t written = 0;
        for (;;) {
            r = sym_archive_read_data_block (in, &buf, &len, &off);
            if (r == ARCHIVE_EOF)
                break;
            if (r < ARCHIVE_WARN)
                return s_refuse (why, why_size, norm, "archive unreadable: %s",
                                 sym_archive_error_string (in));
            written += len;
            if (written > (uint64_t) sym_archive_entry_size (entry))
                return s_refuse (why, why_size, norm, "more data than its declared size");
            if (sym_archive_write_data_block (pass->disk, buf, len, off) < ARCHIVE_WARN)
                return s_refuse (why, why_size, norm, "cannot write: %s",
                                 sym_archive_error_string (pass->disk));
        }
    }
    if (sym_archive_write_finish_entry (pass->disk) < ARCHIVE_WARN)
        return s_refuse (why, why_size, norm, "cannot finish: %s",
                         sym_archive_error_string (pass->disk));
    return 0;
}

static int
s_pass (int fd, s_pass_t *pass, char *why, size_t why_size)
{
    if (lseek (fd, 0, SEEK_SET) != 0) {
        snprintf (why, why_size, "archive: cannot seek: %s", strerror (errno));
        return -1;
    }
    struct archive *in = sym_archive_read_new ();
    if (!in) {
        snprintf (why, why_size, "out of memory");
        return -1;
    }
    /* Only what images come as: tar (ustar, pax, GNU), plain, gzip or zstd. */
    sym_archive_read_support_format_tar (in);
    sym_archive_read_support_filter_gzip (in);
    sym_archive_read_support_filter_zstd (in);
    int rc = 0;
    if (sym_archive_read_open_fd (in, fd, S_READ_BLOCK) != ARCHIVE_OK) {
        snprintf (why, why_size, "not a tar, tar.gz or tar.zst archive (%s)",
                  sym_archive_error_string (in) ? sym_archive_error_string (in) : "unreadable");
        rc = -1;
    }
    char *norm = malloc (IMAGE_PATH_MAX), *norm_target = malloc (IMAGE_PATH_MAX);
    if (!norm || !norm_target) {
        snprintf (why, why_size, "out of memory");
        rc = -1;
    }
    while (rc == 0) {
        struct archive_entry *entry;
        int r = sym_archive_read_next_header (in, &entry);
        if (r == ARCHIVE_EOF)
            break;
        if (r < ARCHIVE_WARN) {
            snprintf (why, why_size, "archive unreadable after %llu entries: %s",
                      (unsigned long long) pass->stats.entries,
                      sym_archive_error_string (in) ? sym_archive_error_string (in) : "?");
            rc = -1;
            break;
        }
        image_entry_kind_t kind = IMAGE_ENTRY_FILE;
        norm_target[0] = '\0';
        rc = s_check_entry (pass, entry, norm, norm_target, &kind, why, why_size);
        if (rc == 0 && pass->root)
            rc = s_extract_entry (pass, in, entry, norm, norm_target, kind, why, why_size);
    }
    if (rc == 0 && pass->stats.entries == 0) {
        snprintf (why, why_size, "the archive has no entries");
        rc = -1;
    }
    free (norm);
    free (norm_target);
    sym_archive_read_free (in);
    return rc;
}

/* -------------------------------------------------------------------------
 * Removing a tree
 */

static int
s_rm_prepare (const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    if (flag == FTW_D || flag == FTW_DNR)
        chmod (path, 0700); /* a dir, never a link (FTW_PHYS) */
    return 0;
}

static int
s_rm_one (const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    int rc = flag == FTW_DP ? rmdir (path) : unlink (path);
    return rc != 0 && errno != ENOENT ? -1 : 0;
}

int
image_rmtree (const char *path)
{
    struct stat st;
    if (lstat (path, &st) != 0)
        return errno == ENOENT ? 0 : -1;
    if (!S_ISDIR (st.st_mode))
        return unlink (path);
    /* Two walks: the first opens every directory to us (a 0555 one could
     * not be emptied otherwise without root), the second removes. */
    nftw (path, s_rm_prepare, 32, FTW_PHYS | FTW_MOUNT);
    return nftw (path, s_rm_one, 32, FTW_PHYS | FTW_MOUNT | FTW_DEPTH);
}

/* -------------------------------------------------------------------------
 * Unpack
 */

static int
s_space_check (const char *dir, const s_pass_t *pass, char *why, size_t why_size)
{
    struct statvfs vfs;
    if (statvfs (dir, &vfs) != 0) {
        snprintf (why, why_size, "%s: %s", dir, strerror (errno));
        return -1;
    }
    uint64_t avail = (uint64_t) vfs.f_bavail * vfs.f_frsize;
    uint64_t reserve = pass->opts->reserve_bytes;
    uint64_t usable = avail > reserve ? avail - reserve : 0;
    if (pass->need > usable) {
        snprintf (why, why_size,
                  "the archive unpacks to %llu MiB but %s has %llu MiB free "
                  "(%llu MiB kept in reserve)",
                  (unsigned long long) (pass->need >> 20), dir, (unsigned long long) (avail >> 20),
                  (unsigned long long) (reserve >> 20));
        return -1;
    }
    if (vfs.f_favail > 0 && vfs.f_files > 0 && pass->stats.entries > (uint64_t) vfs.f_favail) {
        snprintf (why, why_size, "the archive has %llu entries but %s has %llu free inodes",
                  (unsigned long long) pass->stats.entries, dir, (unsigned long long) vfs.f_favail);
        return -1;
    }
    return 0;
}

static int s_unpack_fd (int fd, const char *dest, const image_unpack_opts_t *opts_in,
                        image_unpack_stats_t *stats, char *why, size_t why_size);

/* Reasons quote entry names and libarchive's messages (which quote names
 * too): keep them one printable line. */
int
image_unpack_fd (int fd, const char *dest, const image_unpack_opts_t *opts,
                 image_unpack_stats_t *stats, char *why, size_t why_size)
{
    /* libarchive is loaded on first use (common/archive_dl.h). */
    char dlerr[200];
    if (!archive_dl_open (dlerr, sizeof dlerr)) {
        snprintf (why, why_size, "libarchive: %s", dlerr);
        return -1;
    }
    int rc = s_unpack_fd (fd, dest, opts, stats, why, why_size);
    if (rc != 0 && why_size)
        for (char *p = why; *p; p++)
            if ((unsigned char) *p < 0x20 || *p == 0x7f)
                *p = '?';
    return rc;
}

static int
s_unpack_fd (int fd, const char *dest, const image_unpack_opts_t *opts_in,
             image_unpack_stats_t *stats, char *why, size_t why_size)
{
    image_unpack_opts_t opts = { .owners = geteuid () == 0,
                                 .reserve_bytes = IMAGE_RESERVE_DEFAULT };
    if (opts_in)
        opts = *opts_in;
    if (!opts.max_entries)
        opts.max_entries = IMAGE_ENTRIES_DEFAULT;
    if (!opts.max_bytes)
        opts.max_bytes = IMAGE_BYTES_DEFAULT;

    /* The parent, resolved: libarchive's symlink guard checks every
     * component of the paths we give it, ours included. */
    char *copy = strdup (dest);
    if (!copy) {
        snprintf (why, why_size, "out of memory");
        return -1;
    }
    char *slash = strrchr (copy, '/');
    const char *base = slash ? slash + 1 : copy;
    const char *pdir = ".";
    if (slash == copy)
        pdir = "/";
    else if (slash) {
        *slash = '\0';
        pdir = copy;
    }
    char parent[PATH_MAX];
    if (!*base || strcmp (base, ".") == 0 || strcmp (base, "..") == 0) {
        snprintf (why, why_size, "%s: bad destination (no name)", dest);
        free (copy);
        return -1;
    }
    if (!realpath (pdir, parent)) {
        snprintf (why, why_size, "%s: %s", pdir, strerror (errno));
        free (copy);
        return -1;
    }
    char final[2 * PATH_MAX + 32], tmp[2 * PATH_MAX + 32];
    if (strlen (parent) + strlen (base) + 16 >= PATH_MAX) {
        snprintf (why, why_size, "%s: name too long", dest);
        free (copy);
        return -1;
    }
    snprintf (final, sizeof final, "%s/%s", parent, base);
    snprintf (tmp, sizeof tmp, "%s/.%s.tmp-XXXXXX", parent, base);
    free (copy);
    struct stat st;
    if (lstat (final, &st) == 0) {
        snprintf (why, why_size, "%s already exists", final);
        return -1;
    }

    /* Pass 1: check everything, write nothing. */
    s_pass_t check = { .opts = &opts, .seen = zhashx_new () };
    int rc = s_pass (fd, &check, why, why_size);
    zhashx_destroy (&check.seen);
    if (rc == 0)
        rc = s_space_check (parent, &check, why, why_size);
    if (rc != 0)
        return -1;

    /* Pass 2: extract into a temporary sibling, then rename. */
    if (!mkdtemp (tmp)) {
        snprintf (why, why_size, "%s: %s", tmp, strerror (errno));
        return -1;
    }
    chmod (tmp, 0755);
    s_pass_t out = {
        .opts = &opts, .seen = zhashx_new (), .root = tmp, .disk = sym_archive_write_disk_new ()
    };
    int flags = ARCHIVE_EXTRACT_PERM | ARCHIVE_EXTRACT_TIME | ARCHIVE_EXTRACT_SECURE_SYMLINKS
                | ARCHIVE_EXTRACT_SECURE_NODOTDOT;
    if (opts.owners)
        flags |= ARCHIVE_EXTRACT_OWNER;
    /* No XATTR/ACL/FFLAGS: file capabilities are extended attributes. No
     * user/group lookup: owners stay numbers, never the host's names. */
    sym_archive_write_disk_set_options (out.disk, flags);
    rc = s_pass (fd, &out, why, why_size);
    if (rc == 0 && sym_archive_write_close (out.disk) != ARCHIVE_OK) {
        snprintf (why, why_size, "cannot finish the tree: %s", sym_archive_error_string (out.disk));
        rc = -1;
    }
    if (rc == 0
        && (out.stats.entries != check.stats.entries || out.stats.bytes != check.stats.bytes)) {
        snprintf (why, why_size, "the archive changed while it was unpacked");
        rc = -1;
    }
    sym_archive_write_free (out.disk);
    zhashx_destroy (&out.seen);
    if (rc == 0) {
        /* Durable before it is named: a crash must not leave a tree with
         * holes under a final name. */
        int dfd = open (tmp, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (dfd >= 0) {
            syncfs (dfd);
            close (dfd);
        }
        if (rename (tmp, final) != 0) {
            snprintf (why, why_size, "%s: %s", final, strerror (errno));
            rc = -1;
        }
    }
    if (rc != 0) {
        if (image_rmtree (tmp) != 0)
            log_warn ("images", "cannot remove a failed unpack|path=%s err=\"%s\"", tmp,
                      strerror (errno));
        return -1;
    }
    if (stats)
        *stats = out.stats;
    return 0;
}

int
image_unpack_path (const char *archive, const char *dest, const image_unpack_opts_t *opts,
                   image_unpack_stats_t *stats, char *why, size_t why_size)
{
    int fd = open (archive, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0) {
        snprintf (why, why_size, "%s: %s", archive, strerror (errno));
        return -1;
    }
    int rc = image_unpack_fd (fd, dest, opts, stats, why, why_size);
    close (fd);
    return rc;
}
