/* container_snap.c - a container shed's snapshot and restore (see
 * container_snap.h, layer.h). */
#include "node/drivers/container_snap.h"
#include "node/drivers/drv_state.h"
#include "node/drivers/layer.h"
#include "common/log.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define S_COMP "container"
#define S_IDS  65536u /* container.c: a whole 16-bit range per shed */

static double
s_now (void)
{
    struct timespec ts;
    clock_gettime (CLOCK_MONOTONIC, &ts);
    return (double) ts.tv_sec + (double) ts.tv_nsec / 1e9;
}

int
ctr_snap_write (const char *name, const char *dir, uint32_t id_base, const char *path,
                uint64_t *bytes, driver_error_t *err)
{
    char disk[PATH_MAX], upper[PATH_MAX], why[DRIVER_MSG_MAX] = "";
    drv_fmt (disk, sizeof disk, "%s/disk", dir);
    drv_fmt (upper, sizeof upper, "%s/disk/upper", dir);
    if (!rootfs_is_mountpoint (disk) || access (upper, F_OK) != 0)
        return driver_fail (err, DRIVER_ERR_STATE,
                            "container: snapshot %s: its disk is not mounted", name);
    double t0 = s_now ();
    uint64_t n = 0;
    int rc = layer_write (upper, id_base, S_IDS, path, &n, why, sizeof why);
    if (rc == LAYER_ERR_SPACE)
        return driver_fail (err, DRIVER_ERR_RESOURCE, "container: snapshot %s: disk full: %s", name,
                            why);
    if (rc == LAYER_ERR_INVALID)
        return driver_fail (err, DRIVER_ERR_STATE, "container: snapshot %s: %s", name, why);
    if (rc != 0)
        return driver_fail (err, DRIVER_ERR_IO, "container: snapshot %s: %s", name, why);
    if (bytes)
        *bytes = n;
    log_info (S_COMP, "snapshot written|shed=%s path=%s bytes=%llu ms=%.0f", name, path,
              (unsigned long long) n, (s_now () - t0) * 1000);
    return 0;
}

int
ctr_snap_live (oci_runtime_t *rt, const char *id, bool running, const char *name, const char *dir,
               uint32_t id_base, const char *path, uint64_t *bytes, driver_error_t *err)
{
    char why[DRIVER_MSG_MAX] = "";
    if (!running) /* nothing runs (stopped, or frozen already): nothing to hold */
        return ctr_snap_write (name, dir, id_base, path, bytes, err);
    double t0 = s_now ();
    if (oci_runtime_pause (rt, id, why, sizeof why) != 0) {
        /* A freezer left half way (FREEZING) must not keep the shed. */
        char ignored[DRIVER_MSG_MAX];
        oci_runtime_resume (rt, id, ignored, sizeof ignored);
        return driver_fail (err, DRIVER_ERR_BACKEND, "container: snapshot %s: freeze: %s", name,
                            why);
    }
    int rc = ctr_snap_write (name, dir, id_base, path, bytes, err);
    /* Thaw, whatever the write did: a shed is never left frozen by a
     * snapshot. A runtime busy for a moment gets three more tries. */
    int thawed = -1;
    for (int i = 0; i < 4 && thawed != 0; i++) {
        if (i)
            usleep (100 * 1000);
        thawed = oci_runtime_resume (rt, id, why, sizeof why);
    }
    log_info (S_COMP, "shed thawed|shed=%s frozen_ms=%.0f ok=%d", name, (s_now () - t0) * 1000,
              thawed == 0);
    if (thawed != 0) {
        log_warn (S_COMP, "cannot thaw after a snapshot|shed=%s why=\"%s\"", name, why);
        if (rc == 0)
            unlink (path); /* the call failed: it leaves no file */
        return driver_fail (err, DRIVER_ERR_BACKEND,
                            "container: snapshot %s: thaw failed, the shed is frozen: %s", name,
                            why);
    }
    return rc;
}

int
ctr_snap_restore (const rootfs_spec_t *rs, const char *name, const char *layer, driver_error_t *err)
{
    char upper[PATH_MAX], why[DRIVER_MSG_MAX] = "";
    if (access (layer, R_OK) != 0)
        return driver_fail (err, errno == ENOENT ? DRIVER_ERR_NOT_FOUND : DRIVER_ERR_IO,
                            "container: %s: snapshot %.150s: %s", name, layer, strerror (errno));
    if (rootfs_mount (rs, why, sizeof why) != 0)
        return driver_fail (err, DRIVER_ERR_IO, "container: %s: %s", name, why);
    drv_fmt (upper, sizeof upper, "%s/disk/upper", rs->dir);
    double t0 = s_now ();
    int rc = layer_read (layer, upper, rs->id_base, rs->id_count, NULL, why, sizeof why);
    double ms = (s_now () - t0) * 1000;
    /* Unmounted again: the first start mounts a fresh overlay over the
     * finished upper dir (overlayfs does not expect its upper dir to
     * change under a mount). */
    char uwhy[DRIVER_MSG_MAX] = "";
    int urc = rootfs_umount (rs->dir, uwhy, sizeof uwhy);
    if (rc == LAYER_ERR_SPACE)
        return driver_fail (err, DRIVER_ERR_RESOURCE,
                            "container: %s: snapshot does not fit its %llu MiB disk: %s", name,
                            (unsigned long long) (rs->disk_bytes >> 20), why);
    if (rc == LAYER_ERR_INVALID)
        return driver_fail (err, DRIVER_ERR_INVALID, "container: %s: snapshot refused: %s", name,
                            why);
    if (rc != 0)
        return driver_fail (err, DRIVER_ERR_IO, "container: %s: snapshot: %s", name, why);
    if (urc != 0)
        return driver_fail (err, DRIVER_ERR_IO, "container: %s: %s", name, uwhy);
    log_info (S_COMP, "snapshot restored|shed=%s layer=%s ms=%.0f", name, layer, ms);
    return 0;
}
