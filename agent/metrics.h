/*
 * metrics.h - resource use of the shed, read from /proc and statvfs.
 *
 * CPU % needs two samples: the first collect reports 0 and every later one
 * the busy share of all CPUs since the previous call (100 % = every CPU
 * busy). The parsers take file text so tests feed them sample files from
 * agent/testdata; the collector reads them under a configurable root.
 *
 * Two sources. In a VM, /proc is the shed's own and is all we read. In a
 * netns shed /proc is the host's, so with agent_metrics_use_cgroup the
 * collector reads the shed's own use from its cgroup (cgroup_metrics.h):
 *   memory   the group's working set / its limit (the host's MemTotal when
 *            there is no limit, or a limit above it)
 *   CPU      the group's CPU time over wall time, as a % of its quota;
 *            cpu_count = the quota rounded up (no quota: the host's CPUs)
 *   procs    processes in the group
 *   uptime   since the collector was made (the agent is the shed's init)
 * and, having no per-group equivalent, keeps /proc for the load averages
 * (the host's) and for anything the group's files cannot give. Network
 * (/proc/net/dev is per network namespace) is the same in both. Disks,
 * unless mount points are configured: in /proc mode "/" and every /dev
 * mount; in cgroup mode (the shed sees the host's mounts) only "/" and
 * the mount holding the working directory (the shed's directory: the
 * driver starts the agent there), found in <proc_root>/self/mounts.
 *
 * Container mode (agent_metrics_use_container; an OCI container, the
 * agent its PID 1): the cgroup is read as in cgroup mode but found at the
 * cgroup mount's root (cgroup_metrics.h, "Containers"); /proc is the
 * shed's own PID namespace, so processes are counted there (the whole
 * shed, subgroups included); /proc/stat, /proc/meminfo and the load are
 * still the host's (no per-namespace versions), so the cgroup's values
 * replace them as in cgroup mode; disks: only "/" (the shed's own root)
 * unless mount points are configured.
 */
#ifndef SHED_AGENT_METRICS_H
#define SHED_AGENT_METRICS_H

#include "agent/proto/agent_proto.h"

#include <stdint.h>

typedef struct {
    uint64_t busy, total; /* jiffies, all CPUs */
    uint64_t cpus;
    uint64_t btime; /* boot time, unix seconds */
} agent_cpu_sample_t;

/* 0 on success, -1 if the text lacks what is needed. */
int agent_parse_stat (const char *text, agent_cpu_sample_t *out);
int agent_parse_meminfo (const char *text, uint64_t *used, uint64_t *total);
int agent_parse_loadavg (const char *text, double *l1, double *l5, double *l15);
/* Sums over all interfaces but lo, and fills up to `max` nics. */
int agent_parse_netdev (const char *text, agent_nic_t *nics, size_t max, size_t *n, uint64_t *rx,
                        uint64_t *tx);

typedef struct _agent_metrics_t agent_metrics_collector_t;

/* `proc_root` is "/proc" in production. `mounts` NULL means "/" plus every
 * mount of a /dev block device (in cgroup mode: "/" plus the mount of the
 * working directory), else a list of mount points. */
agent_metrics_collector_t *agent_metrics_new (const char *proc_root, const char *const *mounts,
                                              size_t nmounts);
void agent_metrics_destroy (agent_metrics_collector_t **self_p);

/* Read CPU, memory and processes from this process's cgroup under
 * `cgroup_root` (the hierarchy root, e.g. /sys/fs/cgroup) from now on, and
 * count uptime from now. The groups are looked up in <proc_root>/self/cgroup
 * at the next collect (and again while none is found). 0, or -1 without
 * memory (the collector then stays in /proc mode). */
int agent_metrics_use_cgroup (agent_metrics_collector_t *self, const char *cgroup_root);

/* Container mode (see above): `cgroup_root` is the shed's cgroup mount,
 * /sys/fs/cgroup. 0, or -1 without memory. */
int agent_metrics_use_container (agent_metrics_collector_t *self, const char *cgroup_root);

/* Fill a METRICS message. Its lists point into the collector, valid until
 * the next collect: never wire_msg_free the result. */
int agent_metrics_collect (agent_metrics_collector_t *self, agent_msg_t *out);

/* Boot time (unix seconds) from <root>/stat, 0 if unknown; in cgroup mode
 * when the collector started to count (the shed's "boot"). */
uint64_t agent_metrics_boot_time (agent_metrics_collector_t *self);

#endif
