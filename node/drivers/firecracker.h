/*
 * firecracker.h - a shed is a Firecracker microVM, configured through
 * Firecracker's HTTP API on its Unix socket (docs/drivers.md "firecracker"):
 *
 *   create: the shed's own copy of the rootfs image (a reflink where the
 *           filesystem has them, else a sparse copy), or the contents of a
 *           snapshot bundle (spec.layer)
 *   start:  spawn `firecracker --api-sock SOCK --id NAME` (or the jailer in
 *           front of it), then
 *     PUT /machine-config, /boot-source, /drives/rootfs (rate_limiter from
 *     io_*_bps), /network-interfaces/eth0 (rx/tx rate limiters from
 *     net_kbit), /vsock, /balloon (the memory overcommit), /actions
 *     InstanceStart; or, from a snapshot, PUT /snapshot/load with resume
 *   stop:   PUT /actions {"action_type": "SendCtrlAltDel"}, SIGKILL after
 *           stop_timeout_ms
 *   snapshot: LIVE: PATCH /vm Paused, PUT /snapshot/create (Full), the disk
 *           copied, PATCH /vm Resumed; STOP: the disk of the stopped VM.
 *           One tar file holds what a restore needs.
 *   status: process alive (pid + start time) and GET / ("state")
 * A 4xx/5xx answer's {"fault_message"} becomes the error text.
 *
 * Firecracker cannot run on the development machine (no KVM): the tests
 * run this driver against a test double that checks every request against
 * Firecracker's published OpenAPI document. With `firecracker_bin` empty
 * the driver spawns nothing and talks to an API socket that already exists
 * (test mode).
 */
#ifndef SHED_DRV_FIRECRACKER_H
#define SHED_DRV_FIRECRACKER_H

#include "node/drivers/driver.h"

typedef struct {
    const char *data_dir;        /* required: <data_dir>/sheds/NAME/ */
    const char *firecracker_bin; /* e.g. /usr/local/bin/firecracker; "" = don't spawn */
    const char *kernel_image;    /* vmlinux path */
    const char *boot_args;       /* default "console=ttyS0 reboot=k panic=1 pci=off" */
    const char *bridge;          /* TAPs attach here (spec->bridge wins) */
    bool create_tap;             /* make TAP "ft<hash>" (needs root) */
    int stop_timeout_ms;         /* default 10000 */
    long api_timeout_ms;         /* per API call; default 5000 */
    /* The node's scheduler.overcommit_memory (docs/scheduling.md): each
     * VM's balloon starts inflated by memory * (1 - 1/ratio). <= 1: empty. */
    double memory_overcommit;
    /* The jailer (docs/drivers.md): "" = run firecracker directly. */
    const char *jailer_bin;
    uint32_t jailer_uid; /* Firecracker's uid/gid in the jail; not 0 */
    uint32_t jailer_gid;
    const char *jailer_chroot_base; /* "" = <data_dir>/jail */
} driver_firecracker_config_t;

driver_t *driver_firecracker_new (const driver_firecracker_config_t *config, driver_error_t *err);

/* Where the API socket of shed NAME lives (tests serve it):
 * <data_dir>/sheds/NAME/vm/api.sock. */
void driver_firecracker_api_sock (const driver_firecracker_config_t *config, const char *name,
                                  char *buf, size_t size);

#endif
