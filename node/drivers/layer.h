/*
 * layer.h - a container shed's writable layer (the overlayfs upper
 * directory on its disk, rootfs.h) as one portable file: what a snapshot
 * captures and a create from a snapshot starts from (docs/drivers.md,
 * "Snapshots").
 *
 * The file is an uncompressed pax tar (libarchive), so it streams at disk
 * speed and any tar can list it. Entries, relative to the upper dir (the
 * dir itself is not an entry):
 *   regular files (holes kept as pax sparse entries), directories,
 *   symlinks, hard links (a second name of a file written earlier);
 *   overlayfs whiteouts: character devices 0/0 (a deleted lower file);
 *   the opaque marker: a directory with the xattr trusted.overlay.opaque=y
 *   (a lower directory removed and made again: its lower content hidden).
 * No other xattr: trusted.overlay.origin/impure name lower inodes of THIS
 * node's unpack (file handles, meaningless elsewhere) and only serve
 * index/NFS export, which rootfs.c leaves off; redirect and metacopy are
 * refused on write, naming the file (the overlay module's defaults have
 * both off and rootfs.c does not turn them on, so a shed's upper dir has
 * neither unless the host changed those defaults). No ACLs, no file
 * capabilities, no atime.
 * Owners are stored RELATIVE to the shed's id range (host id - id_base),
 * so a layer written by a shed with one range restores into another.
 *
 * Limits: paths up to LAYER_PATH_MAX - 1 bytes; sockets and FIFOs are
 * skipped on write (a socket has no listener after a restore; a FIFO's
 * data lives in no file), and counted in the log.
 */
#ifndef SHED_DRV_LAYER_H
#define SHED_DRV_LAYER_H

#include <stddef.h>
#include <stdint.h>

#define LAYER_PATH_MAX        1024     /* = IMAGE_PATH_MAX: bytes of an entry path */
#define LAYER_ENTRIES_DEFAULT 1000000u /* entries per layer */

typedef enum {
    LAYER_OK = 0,
    LAYER_ERR_INVALID = -1, /* the file or tree holds what a layer may not */
    LAYER_ERR_SPACE = -2,   /* no room: out_path's fs full, or the layer
                               does not fit upper_dir's fs */
    LAYER_ERR_IO = -3,      /* cannot read or write a file */
} layer_rc_t;

typedef struct {
    uint64_t max_entries; /* 0: LAYER_ENTRIES_DEFAULT */
    uint64_t max_bytes;   /* file bytes; 0: no limit but the free space */
} layer_limits_t;

/* Write the tree below upper_dir to out_path (a temporary name beside it,
 * fsync'd, then renamed over out_path). Every owner must lie in
 * [id_base, id_base + id_count) (whiteouts excepted: overlayfs makes them
 * as the mounter, and their owner means nothing). *bytes = size of the
 * file. The tree must not change meanwhile (the caller freezes or stops
 * the shed). LAYER_OK, or a layer_rc_t with one line in why naming the
 * file; nothing is left at out_path or beside it on failure. */
int layer_write (const char *upper_dir, uint32_t id_base, uint32_t id_count, const char *out_path,
                 uint64_t *bytes, char *why, size_t why_size);

/* Extract in_path into upper_dir, which must exist and be empty, owners
 * shifted by +id_base. The file is hostile (it may come from another
 * node): refused with a line naming the entry are absolute paths, "..",
 * anything below a symlink or a file, types but the above, devices but
 * 0/0, xattrs but the opaque marker, owners >= id_count, duplicates, hard
 * links to anything but a file extracted before, more than max_entries
 * entries, more than max_bytes of file data or more than the free space
 * of upper_dir's file system. On failure upper_dir is emptied again.
 * limits NULL: defaults. */
int layer_read (const char *in_path, const char *upper_dir, uint32_t id_base, uint32_t id_count,
                const layer_limits_t *limits, char *why, size_t why_size);

#endif
