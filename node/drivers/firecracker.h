/*
 * firecracker.h - a shed is a Firecracker microVM, configured through
 * Firecracker's HTTP API on its Unix socket (--api-sock):
 *
 *   start:  spawn `firecracker --api-sock SOCK --id NAME` (detached), then
 *     PUT /machine-config        {"vcpu_count", "mem_size_mib", "smt": false}
 *     PUT /boot-source           {"kernel_image_path", "boot_args"}
 *     PUT /drives/rootfs         {"drive_id": "rootfs", "path_on_host": image,
 *                                 "is_root_device": true, "is_read_only": false}
 *     PUT /network-interfaces/eth0 {"iface_id": "eth0", "host_dev_name": TAP,
 *                                 "guest_mac": MAC}     (TAP on our bridge)
 *     PUT /vsock                 {"guest_cid", "uds_path"} (agent channel is
 *                                 "<uds_path>_1026" on the host)
 *     PUT /actions               {"action_type": "InstanceStart"}
 *   stop:   PUT /actions {"action_type": "SendCtrlAltDel"}, SIGKILL after
 *           stop_timeout_ms
 *   status: process alive (pid + start time) and GET / ("state")
 * A 4xx/5xx answer's {"fault_message"} becomes the error text.
 *
 * Firecracker cannot run on the development machine (no KVM): the tests
 * run this driver against a libmicrohttpd server on a Unix socket that
 * checks every call. With `firecracker_bin` empty the driver spawns
 * nothing and talks to an API socket that already exists (test mode, or
 * a jailer started elsewhere).
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
} driver_firecracker_config_t;

driver_t *driver_firecracker_new (const driver_firecracker_config_t *config, driver_error_t *err);

/* Where the API socket of shed NAME lives (tests serve it). */
void driver_firecracker_api_sock (const driver_firecracker_config_t *config, const char *name,
                                  char *buf, size_t size);

#endif
