/*
 * fuzz_fc_bundle.c - arbitrary bytes as a Firecracker shed snapshot
 * (node/drivers/firecracker_snap.c, fc_bundle_extract): the file a create
 * from a snapshot unpacks, possibly fetched from another node, so hostile.
 *
 * Oracles: a refusal says why in one line; an accepted bundle left only
 * the bundle's known files in the VM directory, each a regular file (no
 * symlink, no directory, nothing outside it). The directory is emptied
 * after each input either way: the driver removes a refused shed's
 * directory as a whole.
 */
#include "node/drivers/firecracker_int.h"
#include "node/images/image_unpack.h"

#include <assert.h>
#include <dirent.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

int LLVMFuzzerTestOneInput (const uint8_t *data, size_t size);

static char s_scratch[PATH_MAX];
static char s_vm[PATH_MAX + 16];
static char s_input[PATH_MAX + 16];

static void
s_cleanup (void)
{
    image_rmtree (s_scratch);
}

static void
s_setup (void)
{
    if (s_scratch[0])
        return;
    snprintf (s_scratch, sizeof s_scratch, "/tmp/fuzz-fcb.%d.XXXXXX", (int) getpid ());
    assert (mkdtemp (s_scratch));
    snprintf (s_vm, sizeof s_vm, "%s/vm", s_scratch);
    snprintf (s_input, sizeof s_input, "%s/in.tar", s_scratch);
    atexit (s_cleanup);
}

static bool
s_known (const char *name)
{
    return strcmp (name, FC_ROOTFS) == 0 || strcmp (name, FC_RESTORE_STATE) == 0
           || strcmp (name, FC_RESTORE_MEM) == 0;
}

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
    s_setup ();
    FILE *f = fopen (s_input, "wb");
    assert (f);
    assert (fwrite (data, 1, size, f) == size || size == 0);
    fclose (f);
    image_rmtree (s_vm);
    assert (mkdir (s_vm, 0700) == 0);
    driver_error_t err = { 0 };
    int rc = fc_bundle_extract (s_input, s_vm, "fuzz", &err);
    if (rc != 0) {
        assert (err.message[0] && !strchr (err.message, '\n'));
    }
    else {
        DIR *d = opendir (s_vm);
        assert (d);
        struct dirent *de;
        while ((de = readdir (d))) {
            if (!strcmp (de->d_name, ".") || !strcmp (de->d_name, ".."))
                continue;
            assert (s_known (de->d_name));
            char p[PATH_MAX + 300];
            snprintf (p, sizeof p, "%s/%s", s_vm, de->d_name);
            struct stat st;
            assert (lstat (p, &st) == 0 && S_ISREG (st.st_mode));
        }
        closedir (d);
    }
    image_rmtree (s_vm);
    return 0;
}
