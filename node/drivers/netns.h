/*
 * netns.h - the built-in driver: a shed is a network namespace on the
 * node's bridge, with cgroup limits and its own process tree.
 *
 * For shed NAME on node NODE:
 *   namespace   <netns_dir>/shed-NODE-NAME  (netns_dir /run/netns by default,
 *               so `ip netns exec shed-NODE-NAME ...` works)
 *   veth        host end "sv" + 10 hex digits of a hash of the namespace name
 *               (interface names are at most 15 bytes), attached to the bridge;
 *               the peer is created directly inside the namespace as eth0
 *   cgroup      <cgroup_root>[/<ctrl>]/<cgroup_parent>/NAME (v1 or v2)
 *   rate limit  tbf both ways when net_kbit is set (tc.h, libnl-route-3)
 *   processes   a new PID namespace whose PID 1 is `shed-agent --init
 *               --shed NAME --connect unix:SOCK --cgroup-root ROOT
 *               [--config DIR/agent.yaml]` (ROOT:
 *               cgroup_root; the agent reports its cgroup's use, as the
 *               shed's /proc is the host's) when the agent binary exists,
 *               else a built-in placeholder init that reaps children and
 *               exits on SIGTERM. The init is detached from the daemon
 *               (double fork, setsid): sheds outlive a daemon restart.
 *   agent conf  create copies agent_config (if set) to <data_dir>/sheds/NAME/
 *               agent.yaml unless a file is already there; start passes
 *               `--config <that file>` to the agent when it exists. The shed
 *               keeps its own copy: editing it (then stop/start) changes
 *               that shed only, editing the node's file changes later sheds.
 *   files       <data_dir>/sheds/NAME/{state,console.log,agent.yaml}
 *
 * Stop: SIGTERM to the init, SIGKILL after stop_timeout_ms; when PID 1 of a
 * PID namespace dies the kernel kills the rest. The namespace, veth and
 * cgroup stay, so start is quick and keeps the address. Delete removes
 * everything. Status looks at what is there: the state file, the
 * namespace mount, the init process (pid AND start time).
 *
 * Needs root (CAP_SYS_ADMIN, CAP_NET_ADMIN).
 */
#ifndef SHED_DRV_NETNS_H
#define SHED_DRV_NETNS_H

#include "node/drivers/driver.h"

typedef struct {
    const char *data_dir;      /* required */
    const char *node_name;     /* part of namespace names; default "node" */
    const char *netns_dir;     /* default /run/netns */
    const char *cgroup_root;   /* default /sys/fs/cgroup */
    const char *cgroup_parent; /* default "shed" */
    int cgroup_version;        /* 0 detect, 1, 2 */
    const char *bridge;        /* used when a spec names none */
    const char *agent_path;    /* used when a spec names none; default
                                   /usr/local/bin/shed-agent */
    int stop_timeout_ms;       /* default 5000 */
    uint32_t mtu;              /* veth MTU when a spec has none; 0 = kernel default */
    const char *agent_config;  /* agent YAML copied to each new shed's dir (below) */
} driver_netns_config_t;

driver_t *driver_netns_new (const driver_netns_config_t *config, driver_error_t *err);

/* The namespace file and host veth name a shed gets (for tests, tools). */
void driver_netns_paths (const driver_netns_config_t *config, const char *name, char *netns_path,
                         size_t size, char veth[16]);

#endif
