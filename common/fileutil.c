/*
 * fileutil.c - see fileutil.h.
 *
 * The atomic write is the classic sequence: mkstemp() a sibling temp file
 * (same directory, hence same filesystem, so rename() is atomic), write all
 * of it, fchmod() to the final mode, fsync() the data, rename() over the
 * target, then fsync() the directory so the rename itself is durable
 * (left to the caller with SHED_WRITE_NO_DIR_SYNC, who syncs the directory
 * once after several files). Any failure unlinks the temp file and leaves
 * the old target untouched.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* mkostemp */
#endif
#include "common/fileutil.h"

#include <errno.h>
#include <sodium.h>
#include <fcntl.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* Write all of buf, retrying short writes and EINTR. */
static int
s_write_all (int fd, const void *buf, size_t len)
{
    const unsigned char *p = buf;
    while (len > 0) {
        ssize_t n = write (fd, p, len);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            return -1;
        }
        p += n;
        len -= (size_t) n;
    }
    return 0;
}

int
shed_fsync_dir (const char *dir)
{
    int fd = open (dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0)
        return -1;
    int rc = fsync (fd);
    //  Some filesystems refuse fsync on a directory (EINVAL); the rename is
    //  still as durable as that filesystem can make it.
    if (rc < 0 && errno == EINVAL)
        rc = 0;
    int saved = errno;
    close (fd);
    errno = saved;
    return rc;
}

/* fsync the directory holding `path`, so a rename into it survives a crash. */
static int
s_fsync_parent (const char *path)
{
    char dir[PATH_MAX];
    const char *slash = strrchr (path, '/');
    if (!slash)
        snprintf (dir, sizeof dir, ".");
    else if (slash == path)
        snprintf (dir, sizeof dir, "/");
    else {
        size_t n = (size_t) (slash - path);
        if (n >= sizeof dir) {
            errno = ENAMETOOLONG;
            return -1;
        }
        memcpy (dir, path, n);
        dir[n] = '\0';
    }
    return shed_fsync_dir (dir);
}

int
shed_write_file_atomic (const char *path, const void *data, size_t len, mode_t mode)
{
    return shed_write_file_atomic_flags (path, data, len, mode, 0);
}

int
shed_write_file_atomic_flags (const char *path, const void *data, size_t len, mode_t mode,
                              unsigned flags)
{
    if (!path || (!data && len > 0)) {
        errno = EINVAL;
        return -1;
    }
    char tmp[PATH_MAX];
    int n = snprintf (tmp, sizeof tmp, "%s.tmp.XXXXXX", path);
    if (n < 0 || (size_t) n >= sizeof tmp) {
        errno = ENAMETOOLONG;
        return -1;
    }
    //  mkstemp opens with O_CREAT|O_EXCL and mode 0600, so a secret is never
    //  readable by others even for the instant before fchmod.
    int fd = mkostemp (tmp, O_CLOEXEC);
    if (fd < 0)
        return -1;

    if (s_write_all (fd, data, len) < 0 || fchmod (fd, mode) < 0 || fsync (fd) < 0)
        goto fail;
    if (close (fd) < 0) {
        fd = -1;
        goto fail;
    }
    fd = -1;
    if (rename (tmp, path) < 0)
        goto fail;
    //  The new content is in place; a failing directory fsync is reported
    //  but there is no temp file left to clean.
    return (flags & SHED_WRITE_NO_DIR_SYNC) ? 0 : s_fsync_parent (path);

fail:;
    int saved = errno;
    if (fd >= 0)
        close (fd);
    unlink (tmp);
    errno = saved;
    return -1;
}

char *
shed_read_file (const char *path, size_t max, size_t *len_out)
{
    if (!path) {
        errno = EINVAL;
        return NULL;
    }
    int fd = open (path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return NULL;

    //  Read in a loop rather than trusting st_size: the file may change
    //  under us, and special files report 0. We read at most max + 1 bytes
    //  to detect "too big" without reading an unbounded file.
    size_t limit = max < SIZE_MAX - 1 ? max + 1 : SIZE_MAX - 1;
    size_t cap = limit < 4096 ? limit : 4096;
    size_t len = 0;
    char *buf = malloc (cap + 1);
    if (!buf)
        goto fail;
    for (;;) {
        if (len == cap) {
            if (cap >= limit) {
                errno = EFBIG;
                goto fail;
            }
            //  Grow by hand rather than realloc(): realloc may leave the
            //  old bytes (possibly a secret) unwiped in freed memory.
            size_t newcap = cap > limit / 2 ? limit : cap * 2;
            char *grown = malloc (newcap + 1);
            if (!grown)
                goto fail;
            memcpy (grown, buf, len);
            sodium_memzero (buf, len);
            free (buf);
            buf = grown;
            cap = newcap;
        }
        ssize_t r = read (fd, buf + len, cap - len);
        if (r < 0) {
            if (errno == EINTR)
                continue;
            goto fail;
        }
        if (r == 0)
            break;
        len += (size_t) r;
    }
    if (len > max) {
        errno = EFBIG;
        goto fail;
    }
    close (fd);
    buf[len] = '\0';
    if (len_out)
        *len_out = len;
    return buf;

fail:;
    int saved = errno;
    close (fd);
    //  The buffer may hold a secret (identity, keyring): wipe before free.
    if (buf) {
        sodium_memzero (buf, len);
        free (buf);
    }
    errno = saved;
    return NULL;
}

int
shed_mkdir_p (const char *path, mode_t mode)
{
    if (!path || !*path) {
        errno = EINVAL;
        return -1;
    }
    char buf[PATH_MAX];
    size_t n = strlen (path);
    if (n >= sizeof buf) {
        errno = ENAMETOOLONG;
        return -1;
    }
    memcpy (buf, path, n + 1);
    //  Create each prefix ending before a '/', then the whole path.
    for (size_t i = 1; i <= n; i++) {
        if (buf[i] != '/' && buf[i] != '\0')
            continue;
        if (buf[i - 1] == '/')
            continue; //  "a//b": nothing new between slashes
        char saved = buf[i];
        buf[i] = '\0';
        if (mkdir (buf, mode) < 0) {
            int err = errno;
            struct stat st;
            if (err != EEXIST || stat (buf, &st) < 0 || !S_ISDIR (st.st_mode)) {
                errno = err == EEXIST ? ENOTDIR : err;
                return -1;
            }
        }
        buf[i] = saved;
    }
    return 0;
}
