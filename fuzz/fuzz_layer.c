/*
 * fuzz_layer.c - arbitrary bytes as a shed's layer file
 * (node/drivers/layer.c), extracted for real into a scratch upper dir.
 *
 * Oracles: a refusal is one non-empty line and leaves the upper dir empty
 * (nothing half-restored) and nothing beside it; an accepted tree holds
 * only files, directories, symlinks and 0:0 character devices (whiteouts),
 * every owner inside [S_BASE, S_BASE + 65536) when run as root, and no
 * xattr but trusted.overlay.opaque=y on directories. Then the tree is
 * written back with layer_write (it must succeed: what was accepted is a
 * layer) and removed.
 */
#include "node/drivers/layer.h"
#include "node/images/image_unpack.h"

#include <assert.h>
#include <dirent.h>
#include <ftw.h>
#include <limits.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>
#include <unistd.h>

#define S_BASE 300000u
#define S_IDS  65536u

int LLVMFuzzerTestOneInput (const uint8_t *data, size_t size);

static char s_scratch[PATH_MAX];
static char s_upper[PATH_MAX + 16];
static char s_input[PATH_MAX + 16];
static char s_out[PATH_MAX + 16];

static void
s_cleanup (void)
{
    image_rmtree (s_scratch);
}

static int
s_entries (const char *dir)
{
    DIR *d = opendir (dir);
    assert (d);
    int n = 0;
    struct dirent *de;
    while ((de = readdir (d)))
        if (strcmp (de->d_name, ".") && strcmp (de->d_name, ".."))
            n++;
    closedir (d);
    return n;
}

static int
s_check_tree (const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void) flag;
    if (ftw->level == 0)
        return 0;
    bool whiteout = S_ISCHR (st->st_mode) && st->st_rdev == makedev (0, 0);
    assert (S_ISREG (st->st_mode) || S_ISDIR (st->st_mode) || S_ISLNK (st->st_mode) || whiteout);
    if (geteuid () == 0) {
        assert (st->st_uid >= S_BASE && st->st_uid < S_BASE + S_IDS);
        assert (st->st_gid >= S_BASE && st->st_gid < S_BASE + S_IDS);
    }
    char names[1024];
    ssize_t n = llistxattr (path, names, sizeof names);
    for (ssize_t off = 0; n > 0 && off < n; off += (ssize_t) strlen (names + off) + 1) {
        assert (S_ISDIR (st->st_mode));
        assert (!strcmp (names + off, "trusted.overlay.opaque"));
    }
    return 0;
}

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
    if (!s_scratch[0]) {
        snprintf (s_scratch, sizeof s_scratch, "/tmp/fuzz_layer.XXXXXX");
        assert (mkdtemp (s_scratch));
        snprintf (s_upper, sizeof s_upper, "%s/upper", s_scratch);
        snprintf (s_input, sizeof s_input, "%s/in.tar", s_scratch);
        snprintf (s_out, sizeof s_out, "%s/out.tar", s_scratch);
        assert (mkdir (s_upper, 0755) == 0);
        atexit (s_cleanup);
    }
    FILE *f = fopen (s_input, "wb");
    assert (f);
    assert (fwrite (data, 1, size, f) == size);
    fclose (f);
    layer_limits_t limits = { .max_entries = 4096, .max_bytes = 32u << 20 };
    char why[512] = "";
    int rc = layer_read (s_input, s_upper, S_BASE, S_IDS, &limits, why, sizeof why);
    if (rc != LAYER_OK) {
        assert (rc == LAYER_ERR_INVALID || rc == LAYER_ERR_SPACE || rc == LAYER_ERR_IO);
        assert (why[0] && !strchr (why, '\n'));
        assert (s_entries (s_upper) == 0);
        assert (s_entries (s_scratch) == 2); /* upper/ and in.tar: nothing beside */
        return 0;
    }
    assert (nftw (s_upper, s_check_tree, 16, FTW_PHYS) == 0);
    if (geteuid () == 0) {
        uint64_t bytes = 0;
        rc = layer_write (s_upper, S_BASE, S_IDS, s_out, &bytes, why, sizeof why);
        if (rc != LAYER_OK)
            fprintf (stderr, "accepted but not written back: %s\n", why);
        assert (rc == LAYER_OK);
        unlink (s_out);
    }
    assert (image_rmtree (s_upper) == 0);
    assert (mkdir (s_upper, 0755) == 0);
    return 0;
}
