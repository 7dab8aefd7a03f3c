/*
 * firecracker_int.h - what the Firecracker driver's files share
 * (firecracker.c: the ops; firecracker_api.c: the API calls and their
 * bodies; firecracker_proc.c: spawning, the jailer and the disk copy;
 * firecracker_snap.c: snapshot bundles and restore). Not for other modules.
 *
 * A shed's files: <data_dir>/sheds/NAME/ holds the state file and the
 * VMM's log; <data_dir>/sheds/NAME/vm/ is everything Firecracker opens:
 * its own copy of the root disk (rootfs.ext4), the API socket (api.sock),
 * the vsock socket (agent.sock; the node listens on agent.sock_1026), and
 * snapshot files. Firecracker runs with its working directory there (the
 * jail's root when jailed, the vm/ directory bind-mounted onto it) and
 * every path the driver hands it is relative to it, so a snapshot taken on
 * one node restores on another whatever their data_dir (Firecracker opens
 * a restored VM's disks at the paths recorded when it was taken,
 * docs/drivers.md "firecracker").
 */
#ifndef SHED_DRV_FIRECRACKER_INT_H
#define SHED_DRV_FIRECRACKER_INT_H

#include "node/drivers/drv_state.h"
#include "node/drivers/firecracker.h"
#include "node/drivers/http.h"

#include <limits.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* clang-format off */
#define FC_VM_DIR        "vm"
#define FC_ROOTFS        "rootfs.ext4"   /* the shed's own disk */
#define FC_API_SOCK      "api.sock"
#define FC_VSOCK         "agent.sock"    /* vsock uds_path; agent channel is +"_1026" */
#define FC_KERNEL        "vmlinux"       /* the kernel's link in the jail */
#define FC_SNAP_STATE    "snap.vmstate"  /* written by PUT /snapshot/create */
#define FC_SNAP_MEM      "snap.mem"
#define FC_SNAP_DISK     "snap.disk"     /* the disk copied while paused */
#define FC_RESTORE_STATE "restore.vmstate" /* from a bundle: next start loads it */
#define FC_RESTORE_MEM   "restore.mem"     /* backs the restored guest's memory */
/* clang-format on */

typedef struct {
    char data_dir[DRIVER_PATH_MAX];
    char bin[DRIVER_PATH_MAX];
    char kernel[DRIVER_PATH_MAX];
    char boot_args[DRIVER_PATH_MAX];
    char bridge[DRIVER_IFNAME_MAX + 1];
    bool create_tap;
    int stop_timeout_ms;
    long api_timeout_ms;
    double memory_overcommit;
    char jailer[DRIVER_PATH_MAX];
    uint32_t jailer_uid;
    uint32_t jailer_gid;
    char chroot_base[DRIVER_PATH_MAX];
} fc_t;

/* <data_dir>/sheds/NAME and its vm/ directory. */
void fc_shed_dir (const fc_t *self, const char *name, char *buf, size_t size);
void fc_vm_dir (const fc_t *self, const char *name, char *buf, size_t size);
/* The jail's root for NAME: <chroot_base>/<basename of bin>/NAME/root. */
void fc_jail_root (const fc_t *self, const char *name, char *buf, size_t size);

/* firecracker.c: the shed's state (dir = its shed dir), and the start and
 * stop ops, which a snapshot of mode STOP goes through. */
int fc_load (const fc_t *self, const char *name, drv_state_t *st, char *dir, size_t size,
             driver_error_t *err);
int fc_start (void *impl, const char *name, driver_error_t *err);
int fc_stop (void *impl, const char *name, driver_error_t *err);
/* Does the VM run (its process alive; without a process of ours, as last
 * asked)? */
bool fc_running (const drv_state_t *st);

/* firecracker_api.c ------------------------------------------------------ */

/* One API call on `sock`; 2xx is success, else Firecracker's fault_message
 * becomes the error (400: INVALID, other: BACKEND, none: UNAVAILABLE). */
int fc_api (const fc_t *self, const char *sock, const char *name, const char *method,
            const char *path, const char *body, http_reply_t *keep, driver_error_t *err);

/* Request bodies, built from the shed's state. Each returns 0, or -1 when
 * the body does not fit `size`. */
int fc_body_machine (const drv_state_t *st, char *out, size_t size);
int fc_body_boot (const char *kernel, const char *args, char *out, size_t size);
int fc_body_drive (const drv_state_t *st, char *out, size_t size);
int fc_body_net (const drv_state_t *st, char *out, size_t size);
int fc_body_vsock (const drv_state_t *st, const char *uds_path, char *out, size_t size);
int fc_body_balloon (const drv_state_t *st, double overcommit, char *out, size_t size);
int fc_body_snap_create (char *out, size_t size);
int fc_body_snap_load (const char *tap, char *out, size_t size);
/* The balloon's target: the part of the shed's memory the node's
 * overcommit ratio promised to others (memory_mb * (1 - 1/ratio)). */
uint64_t fc_balloon_mib (uint64_t memory_mb, double overcommit);

/* firecracker_proc.c ----------------------------------------------------- */

/* The command that runs the VMM for NAME: firecracker itself, or the
 * jailer as docs/jailer.md describes. argv points into buf. Returns argc,
 * or -1 when it does not fit. */
int fc_argv (const fc_t *self, const char *name, char **argv, size_t max, char *buf, size_t size);
/* Spawn it detached (double fork), wait for the API socket. Sets st->pid. */
int fc_spawn (const fc_t *self, drv_state_t *st, driver_error_t *err);
/* Jailed: make the jail root and bind the vm/ directory onto it, owned by
 * the jailer's uid/gid; undo with fc_jail_release. */
int fc_jail_prepare (const fc_t *self, const char *name, driver_error_t *err);
void fc_jail_release (const fc_t *self, const char *name);
/* Copy src to a new file dst: a reflink (FICLONE) where the filesystem
 * shares extents, else a sparse copy (SEEK_DATA/SEEK_HOLE). 0 or -1 + why. */
int fc_copy_file (const char *src, const char *dst, char *why, size_t size);

/* firecracker_snap.c ----------------------------------------------------- */

int fc_snapshot (void *impl, const char *name, const char *path, driver_snap_mode_t mode,
                 uint64_t *bytes, driver_error_t *err);
/* Unpack a bundle into vm_dir (a new, empty directory): the disk as
 * rootfs.ext4 and, for a running VM's bundle, restore.vmstate and
 * restore.mem. The file is untrusted (it may come from another node):
 * only the bundle's known names, regular files, bounded sizes. */
int fc_bundle_extract (const char *path, const char *vm_dir, const char *name, driver_error_t *err);
/* A start with restore.vmstate present: PUT /snapshot/load and resume. */
int fc_restore (const fc_t *self, drv_state_t *st, const char *sock, driver_error_t *err);

#endif
