/*
 * container.h - the container driver: each shed is an OCI container run
 * by runc (or crun), isolated from the host and from other sheds. The
 * default wherever a runtime is installed (docs/drivers.md).
 *
 * For shed NAME (directory DIR = <data_dir>/sheds/NAME, the OCI bundle):
 *   ids         root inside = host uid/gid id_base + slot * 65536, 65536
 *               ids, slot the lowest one no other shed of this node holds;
 *               kept in DIR/state, so a shed keeps its range for life
 *   root        rootfs.h: the image ID-mapped read-only below a writable
 *               layer on the shed's own ext4 disk of --disk size
 *   network     shednet.h: the node-built namespace and veth on the bridge
 *   namespaces  user, mount, PID, UTS (hostname = NAME), IPC, cgroup
 *   security    default capabilities, noNewPrivileges, seccomp deny list
 *               (oci_seccomp.c), masked and read-only /proc and /sys paths
 *   limits      linux.resources (the runtime owns the shed's cgroup
 *               <cgroup_parent>/NAME on v1 and v2); network rate by tbf (tc.c)
 *   machine     /etc/hosts, /etc/hostname, /etc/resolv.conf (nameserver =
 *               the gateway, where the node answers *.shed) bound from
 *               DIR/etc; the shed may edit them
 *   agent       the static shed-agent bound read-only at /run/shed-agent,
 *               PID 1; DIR/chan bound read-only at /run/shed holds the
 *               shed's agent socket (and agent.yaml): the only host socket
 *               inside. chan is setgid to the shed's root group, so the
 *               socket the node binds there is reachable by that shed only
 *   files       DIR/{state,config.json,console.log,runtime.log,disk.img,
 *               disk/,lower/,rootfs/,etc/,chan/}
 *
 * Stop: the runtime's SIGTERM to PID 1, SIGKILL to all after
 * stop_timeout_ms, then `delete`; disk, mounts, namespace stay. Status asks
 * the runtime (`state`), so a node restarted or killed -9 finds its sheds
 * running. Needs root, user namespaces and ID-mapped mounts (Linux 5.19+).
 */
#ifndef SHED_DRV_CONTAINER_H
#define SHED_DRV_CONTAINER_H

#include "node/drivers/driver.h"

#include <stddef.h>
#include <stdint.h>

/* Resolve an image reference to its digest and unpacked root directory
 * (node/images/image_store.h). 0, or -1 with why. */
typedef int (driver_image_resolve_fn) (void *arg, const char *ref, char digest[65], char *root,
                                       size_t root_size, char *why, size_t why_size);

typedef struct {
    const char *data_dir;      /* required */
    const char *node_name;     /* part of namespace and container ids */
    const char *netns_dir;     /* default /run/netns */
    const char *cgroup_root;   /* default /sys/fs/cgroup (usage, version) */
    const char *cgroup_parent; /* default "shed" */
    const char *bridge;
    const char *agent_path;    /* static shed-agent; default /usr/local/bin/shed-agent */
    const char *agent_config;  /* agent YAML copied into each new shed */
    const char *runtime;       /* runc/crun path; NULL = look in the usual places */
    const char *runtime_root;  /* the runtime's state dir; default /run/shed-runc */
    const char *mkfs_path;     /* default /sbin/mkfs.ext4 */
    const char *default_image; /* when a spec names none; NULL = required */
    uint64_t default_disk_mb;  /* when a spec has none; default 10240 */
    uint32_t id_base;          /* first host id of slot 0; default 0x70000000 */
    uint32_t id_slots;         /* number of ranges; default 4096 */
    int stop_timeout_ms;       /* default 5000 */
    uint32_t mtu;
    driver_image_resolve_fn *image_resolve; /* required */
    void *image_arg;
} driver_container_config_t;

driver_t *driver_container_new (const driver_container_config_t *config, driver_error_t *err);

/* Can this host run container sheds (a runtime found, user namespaces
 * allowed)? Used to pick the default driver. why says what is missing. */
int driver_container_available (const char *runtime, char *why, size_t why_size);

/* The runtime's container id for shed NAME on node NODE. */
void driver_container_id (const char *node, const char *name, char *buf, size_t size);

#endif
