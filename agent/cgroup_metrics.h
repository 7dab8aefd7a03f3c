/*
 * cgroup_metrics.h - a netns shed's own resource use, read from its cgroup.
 *
 * A netns shed shares the host's mount namespace and /proc: /proc/meminfo,
 * /proc/stat and the /proc pid entries describe the host. Its cgroup
 * describes the shed. The agent finds its groups itself: it reads
 * <proc>/self/cgroup (what the kernel says the agent's groups are, relative
 * to the hierarchy root) and joins each path to the hierarchy root the node
 * uses (driver.cgroup_root, passed as --cgroup-root):
 *   v2 (<root>/cgroup.controllers exists)  "0::/P"           -> <root>/P
 *   v1                                     "N:c1,c2:/P"      -> <root>/c1,c2/P,
 *                                          then <root>/c1/P, <root>/c2/P
 *                                          (the first that exists)
 * Why discover rather than be told the directories: one flag covers v1 and
 * v2, v1 controllers mounted together ("cpu,cpuacct") or apart, and the
 * agent still finds its groups if something moves it. It needs the root to
 * be the whole hierarchy (as the node's own cgroup code does); a group at
 * the root ("/") is the host, not a shed, and is ignored.
 *
 * Files (v1 / v2):
 *   memory used   memory.usage_in_bytes - total_inactive_file (memory.stat)
 *                 / memory.current - inactive_file (memory.stat)
 *   memory limit  memory.limit_in_bytes / memory.max ("max" = none)
 *   CPU time      cpuacct.usage (ns) / cpu.stat usage_usec
 *   CPU quota     cpu.cfs_quota_us / cpu.cfs_period_us ; cpu.max "Q P"
 *   processes     lines of cgroup.procs (pids, memory or cpu group)
 *
 * Containers (agent_cgroup_new_container): in an OCI container the shed
 * has its own cgroup namespace and runc mounts its groups at
 * /sys/fs/cgroup (read-only): v2, the mount is the group; v1, each
 * <root>/<controller> is the group of that controller. <proc>/self/cgroup
 * then says "/" (the namespace's root; without a cgroup namespace it
 * would say the host's path, which does not exist under this mount), so
 * the group is taken to be the mount root itself, the whole shed even if
 * something inside made subgroups (the usage files count descendants). In
 * v1, self/cgroup's controller lists are still used to find a hierarchy
 * mounted under its combined name ("cpu,cpuacct") without per-controller
 * links.
 *
 * Nothing here is fatal: a file that is missing or does not parse leaves
 * its `have_` flag false (and counts one error); the collector then uses
 * /proc for that value. The parsers take text so tests feed sample files.
 */
#ifndef SHED_AGENT_CGROUP_METRICS_H
#define SHED_AGENT_CGROUP_METRICS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* One reading of the shed's groups. */
typedef struct {
    bool have_mem;
    uint64_t mem_used;   /* working set, bytes */
    bool have_mem_limit; /* false: no limit, or unreadable */
    uint64_t mem_limit;
    bool have_cpu;
    uint64_t cpu_usage_ns; /* CPU time of the group since it was made */
    double cpu_quota;      /* in CPUs (1.5 = 150 ms per 100 ms); 0 = none */
    bool have_procs;
    uint64_t procs;
} agent_cgroup_sample_t;

/* ---- parsers: 0 on success, -1 if the text lacks what is needed -------- */

/* A single unsigned number ("123\n"), as in memory.current. */
int agent_cgroup_parse_u64 (const char *text, uint64_t *out);
/* A limit: a number, or "max" (v2) / a value of 2^62 or more (v1's
 * "unlimited", a page-rounded LONG_MAX), both giving *unlimited = true. */
int agent_cgroup_parse_limit (const char *text, uint64_t *out, bool *unlimited);
/* The value of `key` in a "key value" per line file (memory.stat,
 * cpu.stat). Keys match whole words: "inactive_file" is not
 * "total_inactive_file". */
int agent_cgroup_parse_key (const char *text, const char *key, uint64_t *out);
/* v2 cpu.max "QUOTA PERIOD" or "max PERIOD": *cpus = QUOTA / PERIOD, 0 for
 * no quota. */
int agent_cgroup_parse_cpu_max (const char *text, double *cpus);
/* v1 cpu.cfs_quota_us (-1 = no quota) and cpu.cfs_period_us. */
int agent_cgroup_parse_cfs (const char *quota, const char *period, double *cpus);
/* Processes in a cgroup.procs text: lines holding a pid. */
uint64_t agent_cgroup_count_procs (const char *text);
/* The group of `controller` in a /proc/self/cgroup text: v1 when
 * controller is a name ("memory"), the v2 line ("0::") when it is NULL.
 * Copies the hierarchy's controller list ("cpu,cpuacct", "" for v2) and the
 * path ("/shed/web"). -1 when absent, malformed or not an absolute path
 * without "..". */
int agent_cgroup_parse_self (const char *text, const char *controller, char *ctrls,
                             size_t ctrls_size, char *path, size_t path_size);

/* CPU % of `cpus` CPUs used by `usage_ns` of CPU time over `wall_ns`,
 * capped at 100; 0 when either delta or cpus is 0. */
double agent_cgroup_cpu_pct (uint64_t usage_ns, uint64_t wall_ns, double cpus);

/* ---- the reader --------------------------------------------------------- */

typedef struct _agent_cgroup_t agent_cgroup_t;

/* `root`: the cgroup hierarchy root (e.g. /sys/fs/cgroup); `proc_root`:
 * where self/cgroup is ("/proc"). Copies both. NULL only without memory;
 * groups are found on the first read (and again while none is found). */
agent_cgroup_t *agent_cgroup_new (const char *root, const char *proc_root);
/* Container mode (an OCI container: cgroup namespace, runc's cgroup
 * mounts): `root` (/sys/fs/cgroup) is itself the shed's group, v2, or
 * holds one directory per v1 controller that is the shed's group of that
 * controller; see "Containers" above. */
agent_cgroup_t *agent_cgroup_new_container (const char *root, const char *proc_root);
void agent_cgroup_destroy (agent_cgroup_t **self_p);

/* Fill `out` with what can be read. 0 if the shed's group(s) were found,
 * -1 if not (nothing is set then). */
int agent_cgroup_read (agent_cgroup_t *self, agent_cgroup_sample_t *out);

/* 1 or 2 once groups were found, else 0. */
int agent_cgroup_version (const agent_cgroup_t *self);
/* Files that were missing or did not parse, over all reads. */
uint64_t agent_cgroup_errors (const agent_cgroup_t *self);

#endif
