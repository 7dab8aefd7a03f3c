/*
 * shednet.h - a shed's network, shared by the drivers that run a shed's
 * processes on this host (netns, container): a named network namespace
 * pinned by a bind mount, and a veth pair whose host end sits on the
 * node's bridge and whose peer is the shed's eth0.
 *
 * The node builds and owns the namespace (it belongs to the host's user
 * namespace), so a container shed's root, whose capabilities live in the
 * shed's own user namespace, cannot change its address, MAC or routes:
 * see docs/drivers.md, "container".
 *
 * Names for shed NAME on node NODE:
 *   namespace   <netns_dir>/shed-NODE-NAME (/run/netns by default, so
 *               `ip netns exec shed-NODE-NAME ...` works)
 *   veth        host end "sv" + 10 hex digits of a hash of the namespace
 *               name (interface names are at most 15 bytes)
 */
#ifndef SHED_DRV_SHEDNET_H
#define SHED_DRV_SHEDNET_H

#include "node/drivers/driver.h"
#include "node/drivers/drv_state.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct {
    const char *comp;      /* error prefix: "netns", "container" */
    const char *node;      /* node name: its anti-spoofing table (NULL: "node") */
    const char *netns_dir; /* where namespace files live */
    const char *bridge;    /* used when the state names none; may be "" */
    uint32_t mtu;          /* when the state has none; 0 = kernel default */
    /* Let unprivileged users in the namespace bind ports below 1024 and
     * open ICMP echo sockets (container sheds: their root is unprivileged
     * in the namespace's owner, the host's user namespace). */
    bool unprivileged_ports;
} shednet_config_t;

/* "shed-NODE-NAME", the veth's host end, and the namespace file path. */
void shednet_ns_name (const char *node, const char *name, char *buf, size_t size);
void shednet_veth_name (const char *ns_name, char veth[16]);
void shednet_paths (const char *netns_dir, const char *node, const char *name, char *ns_path,
                    size_t size, char veth[16]);

/* Is `path` a live namespace mount (nsfs)? */
bool shednet_ns_present (const char *path);
/* Make the namespace and pin it at `path` (the dir becomes a shared mount,
 * like iproute2's). DRIVER_ERR_EXISTS when the file is there. */
int shednet_ns_create (const shednet_config_t *cfg, const char *path, driver_error_t *err);
/* Unmount and unlink; quiet when absent. */
void shednet_ns_delete (const char *path);

/* veth into the namespace, addresses, MTU, default route, rate limits
 * (and sysctls when cfg->unprivileged_ports), from the shed's state. The
 * veth's host end gets its anti-spoofing chain first (frames from it must
 * carry the shed's MAC and address: node/overlay/nftables.h); a shed whose
 * rules cannot be installed is not set up. */
int shednet_link_setup (const shednet_config_t *cfg, const drv_state_t *st, const char *ns_path,
                        driver_error_t *err);
/* Undo shednet_link_setup on the host: the veth (absent is fine) and its
 * anti-spoofing chain. */
void shednet_link_remove (const shednet_config_t *cfg, const drv_state_t *st);

/* FNV-1a 64, for stable derived names and MACs. */
uint64_t shednet_hash (const char *text);

#endif
