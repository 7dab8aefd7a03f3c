/*
 * container_snap.h - the container driver's snapshot and restore (private
 * to container.c): a shed's writable layer (its overlayfs upper dir,
 * DIR/disk/upper, rootfs.h) captured to one file by layer.h, and a new
 * shed's disk filled from such a file before its first start
 * (docs/drivers.md, "Snapshots").
 */
#ifndef SHED_DRV_CONTAINER_SNAP_H
#define SHED_DRV_CONTAINER_SNAP_H

#include "node/drivers/driver.h"
#include "node/drivers/oci_runtime.h"
#include "node/drivers/rootfs.h"

#include <stdbool.h>
#include <stdint.h>

/* Write DIR/disk/upper of shed `name` (ids id_base..+65535) to `path`; the
 * shed is stopped or frozen by the caller. Errors: ENOSPC on path's file
 * system -> DRIVER_ERR_RESOURCE "disk full" (nothing left at path), a tree
 * that cannot be captured -> DRIVER_ERR_STATE, else DRIVER_ERR_IO. */
int ctr_snap_write (const char *name, const char *dir, uint32_t id_base, const char *path,
                    uint64_t *bytes, driver_error_t *err);

/* LIVE: freeze container `id` through the runtime (when `running`), write,
 * and thaw it again whatever the write did. A thaw that fails is an error
 * (DRIVER_ERR_BACKEND) and removes the file. */
int ctr_snap_live (oci_runtime_t *rt, const char *id, bool running, const char *name,
                   const char *dir, uint32_t id_base, const char *path, uint64_t *bytes,
                   driver_error_t *err);

/* Fill the new shed's upper dir from `layer` (rs->dir's disk made, nothing
 * mounted yet): mount, extract with the shed's ids, unmount again, so the
 * first start mounts the overlay over the finished layer. A layer that does
 * not fit the disk: DRIVER_ERR_RESOURCE; a refused one: DRIVER_ERR_INVALID;
 * a missing file: DRIVER_ERR_NOT_FOUND. */
int ctr_snap_restore (const rootfs_spec_t *rs, const char *name, const char *layer,
                      driver_error_t *err);

#endif
