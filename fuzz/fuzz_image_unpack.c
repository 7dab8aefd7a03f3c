/*
 * fuzz_image_unpack.c - arbitrary bytes as an image archive
 * (node/images/image_unpack.c), unpacked for real into a scratch dir.
 *
 * Oracles: a refusal is one non-empty line and leaves the scratch dir
 * empty (nothing half-imported); an accepted tree holds only files,
 * directories and symlinks, no setuid/setgid file, no owner above 65535,
 * and no symlink whose relative target climbs above the root. The same
 * bytes also drive image_path_check: an accepted path normalises to a
 * fixed point with no "..", no leading '/' and no empty component.
 */
#include "node/images/image_unpack.h"

#include <assert.h>
#include <ftw.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

int LLVMFuzzerTestOneInput (const uint8_t *data, size_t size);

static char s_scratch[PATH_MAX];
static char s_dest[PATH_MAX + 16];
static size_t s_root_len;

static void
s_cleanup (void)
{
    image_rmtree (s_scratch);
}

static void
s_check_norm (const char *norm)
{
    assert (norm[0] != '/');
    assert (strstr (norm, "//") == NULL);
    size_t len = strlen (norm);
    assert (len == 0 || norm[len - 1] != '/');
    for (const char *p = norm; *p;) {
        size_t clen = strcspn (p, "/");
        assert (!(clen == 2 && p[0] == '.' && p[1] == '.'));
        assert (!(clen == 1 && p[0] == '.'));
        p += clen;
        if (*p)
            p++;
    }
}

static void
s_path_rules (const uint8_t *data, size_t size)
{
    /* "path\0target" from the first bytes; kind from the first byte. */
    char buf[2 * IMAGE_PATH_MAX + 2];
    size_t n = size < sizeof buf - 2 ? size : sizeof buf - 2;
    memcpy (buf, data, n);
    buf[n] = buf[n + 1] = '\0';
    const char *path = buf, *target = buf + strlen (buf) + 1;
    image_entry_kind_t kind = (image_entry_kind_t) (size ? data[0] % 4 : 0);
    char norm[IMAGE_PATH_MAX], nt[IMAGE_PATH_MAX], why[512] = "";
    int rc =
        image_path_check (path, kind, target, norm, sizeof norm, nt, sizeof nt, why, sizeof why);
    if (rc != 0) {
        assert (why[0] && !strchr (why, '\n'));
        return;
    }
    s_check_norm (norm);
    char again[IMAGE_PATH_MAX];
    if (*norm) {
        assert (image_path_check (norm, kind, target, again, sizeof again, NULL, 0, why, sizeof why)
                == 0);
        assert (strcmp (again, norm) == 0);
    }
    if (kind == IMAGE_ENTRY_HARDLINK)
        s_check_norm (nt);
}

static int
s_check_tree (const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    assert (S_ISREG (st->st_mode) || S_ISDIR (st->st_mode) || S_ISLNK (st->st_mode));
    if (S_ISREG (st->st_mode))
        assert (!(st->st_mode & (S_ISUID | S_ISGID)));
    if (geteuid () == 0)
        assert (st->st_uid <= IMAGE_ID_MAX && st->st_gid <= IMAGE_ID_MAX);
    if (S_ISLNK (st->st_mode)) {
        char target[PATH_MAX], norm[IMAGE_PATH_MAX], why[512];
        ssize_t n = readlink (path, target, sizeof target - 1);
        assert (n > 0);
        target[n] = '\0';
        const char *rel = path + s_root_len + 1; /* path inside the tree */
        assert (image_path_check (rel, IMAGE_ENTRY_SYMLINK, target, norm, sizeof norm, NULL, 0, why,
                                  sizeof why)
                == 0);
    }
    return 0;
}

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
    if (!s_scratch[0]) {
        snprintf (s_scratch, sizeof s_scratch, "/tmp/fuzz_image_unpack.XXXXXX");
        assert (mkdtemp (s_scratch));
        snprintf (s_dest, sizeof s_dest, "%s/root", s_scratch);
        s_root_len = strlen (s_dest);
        atexit (s_cleanup);
    }
    s_path_rules (data, size);

    int fd = memfd_create ("archive", MFD_CLOEXEC);
    assert (fd >= 0);
    assert (write (fd, data, size) == (ssize_t) size);
    image_unpack_opts_t opts = { .max_entries = 4096,
                                 .max_bytes = 32u << 20,
                                 .reserve_bytes = 64u << 20,
                                 .owners = geteuid () == 0 };
    image_unpack_stats_t stats;
    char why[512] = "";
    int rc = image_unpack_fd (fd, s_dest, &opts, &stats, why, sizeof why);
    close (fd);
    if (rc != 0) {
        assert (why[0] && !strchr (why, '\n'));
        /* nothing left behind, not even a temporary sibling: rmdir
         * fails on a non-empty scratch dir */
        assert (rmdir (s_scratch) == 0);
        assert (mkdir (s_scratch, 0700) == 0);
        return 0;
    }
    assert (stats.entries >= 1 && stats.entries <= opts.max_entries);
    assert (stats.bytes <= opts.max_bytes);
    assert (nftw (s_dest, s_check_tree, 16, FTW_PHYS) == 0);
    assert (image_rmtree (s_dest) == 0);
    return 0;
}
