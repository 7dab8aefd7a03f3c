/*
 * rootfs.h - a container shed's root filesystem: its own disk, and an
 * overlay of its image below a writable layer on that disk.
 *
 * For a shed directory DIR:
 *   DIR/disk.img   sparse file of the shed's --disk size, ext4 (mkfs.ext4
 *                  exec'd, no reserved blocks); a full disk gives ENOSPC to
 *                  the shed and to nobody else
 *   DIR/disk       that file mounted through a loop device (autoclear: the
 *                  device goes when the mount does); holds upper/ (the
 *                  shed's writes, owned by the shed's root) and work/
 *   DIR/lower      the image's unpacked root, bind-mounted read-only and
 *                  ID-mapped: host ids 0..count-1 appear as base..base+count-1,
 *                  so the image's root-owned files belong to the shed's root
 *                  without a per-shed copy (kernel >= 5.19 for overlayfs on
 *                  ID-mapped layers)
 *   DIR/rootfs     overlayfs lowerdir=lower, upperdir=disk/upper,
 *                  workdir=disk/work, nosuid, nodev: the container's root
 *
 * Mounts live in the daemon's mount namespace; rootfs_mount is idempotent
 * (it mounts what is missing), so a start after a reboot or in a new mount
 * namespace rebuilds them. Needs root.
 */
#ifndef SHED_DRV_ROOTFS_H
#define SHED_DRV_ROOTFS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct {
    const char *dir;        /* the shed's directory (absolute) */
    const char *image_root; /* the image's unpacked root (absolute) */
    uint32_t id_base;       /* first host uid/gid of the shed's range */
    uint32_t id_count;      /* size of the range (65536) */
    uint64_t disk_bytes;    /* size of disk.img */
    const char *mkfs_path;  /* mkfs.ext4 */
} rootfs_spec_t;

/* Make DIR/disk.img (sparse, ext4). Fails when it exists. 0 or -1/why. */
int rootfs_disk_create (const rootfs_spec_t *spec, char *why, size_t why_size);
/* Mount disk, lower and rootfs, whichever are not mounted yet. */
int rootfs_mount (const rootfs_spec_t *spec, char *why, size_t why_size);
/* Unmount rootfs, lower and disk (lazily); quiet for what is not mounted.
 * 0 when none of the three is still a mount point afterwards. */
int rootfs_umount (const char *dir, char *why, size_t why_size);
/* Is `path` a mount point in this mount namespace (/proc/self/mountinfo)? */
bool rootfs_is_mountpoint (const char *path);
/* Bytes used and size of the shed's disk (mounted), or -1. */
int rootfs_disk_usage (const char *dir, uint64_t *used, uint64_t *total);

#endif
