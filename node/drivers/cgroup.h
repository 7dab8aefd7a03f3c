/*
 * cgroup.h - one shed's control group, on cgroup v1 or v2.
 *
 * A cgroup_t names a hierarchy root (normally /sys/fs/cgroup), a parent
 * group for all sheds (e.g. "shed") and the version: detected (v2 when
 * <root>/cgroup.controllers exists), or forced (tests point it at a plain
 * directory tree, where control files are created as ordinary files).
 *
 * Mapping (v1 file / v2 file):
 *   cpu quota   cpu.cfs_period_us + cpu.cfs_quota_us   / cpu.max "Q P"
 *   memory      memory.limit_in_bytes                  / memory.max (+ swap.max 0)
 *   I/O         blkio.throttle.{read,write}_bps_device / io.max "M:m rbps= wbps="
 *   pids        pids.max                               / pids.max
 *   usage       cpuacct.usage, memory.usage_in_bytes,  / cpu.stat, memory.current,
 *               blkio.throttle.io_service_bytes          io.stat
 * v1 groups live in each controller's own hierarchy (<root>/<ctrl>/<parent>/
 * <name>); controllers that are not mounted are skipped. v2 has one group,
 * with the controllers enabled in the parents' cgroup.subtree_control.
 */
#ifndef SHED_DRV_CGROUP_H
#define SHED_DRV_CGROUP_H

#include "node/drivers/driver.h"

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

typedef struct _cgroup_t cgroup_t;

typedef struct {
    uint32_t cpus_milli;   /* 0 = no quota */
    uint64_t memory_bytes; /* 0 = no limit */
    uint32_t pids_max;     /* 0 = no limit */
    uint64_t io_read_bps;  /* 0 = no limit; needs io_device */
    uint64_t io_write_bps;
    char io_device[24]; /* "MAJ:MIN" of a whole block device, or "" */
} cgroup_limits_t;

/* version: 0 = detect, 1 or 2 = force. */
cgroup_t *cgroup_new (const char *root, const char *parent, int version, char *why,
                      size_t why_size);
void cgroup_destroy (cgroup_t **self_p);
int cgroup_version (cgroup_t *self);

/* mkdir the shed's group(s). EEXIST is fine. 0 or -1 with why. */
int cgroup_create (cgroup_t *self, const char *name, char *why, size_t why_size);
/* Write every limit (a 0 writes "no limit", so limits can be lifted). */
int cgroup_apply (cgroup_t *self, const char *name, const cgroup_limits_t *limits, char *why,
                  size_t why_size);
/* Move pid into the group(s). */
int cgroup_attach (cgroup_t *self, const char *name, pid_t pid, char *why, size_t why_size);
/* Number of processes in the group (-1 if it does not exist). */
int cgroup_nprocs (cgroup_t *self, const char *name);
/* SIGKILL everything in the group (cgroup.kill on v2 when present). */
void cgroup_kill (cgroup_t *self, const char *name);
/* rmdir the group(s); ENOENT is fine. Fails (EBUSY) while processes remain. */
int cgroup_remove (cgroup_t *self, const char *name, char *why, size_t why_size);
/* cpu, memory, io and pids counters into usage (other fields untouched). */
int cgroup_usage (cgroup_t *self, const char *name, driver_usage_t *usage);
/* Path of the group's file for `controller` ("memory", "cpu", ...). */
int cgroup_path (cgroup_t *self, const char *name, const char *controller, const char *file,
                 char *buf, size_t size);

/* "MAJ:MIN" of the whole disk holding `path` (partitions map to their
 * disk), or -1 when it is not on a block device (tmpfs, overlay). */
int cgroup_block_device (const char *path, char *buf, size_t size);

#endif
