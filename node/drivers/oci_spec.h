/*
 * oci_spec.h - the OCI runtime configuration (config.json, runtime-spec
 * 1.0) of a container shed, built with jansson. What goes in, and why, is
 * in docs/drivers.md ("container"); the seccomp deny list is in
 * oci_seccomp.c.
 */
#ifndef SHED_DRV_OCI_SPEC_H
#define SHED_DRV_OCI_SPEC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Paths inside the shed. */
#define OCI_SHED_DIR     "/run/shed"            /* the agent channel dir */
#define OCI_AGENT_SOCKET "/run/shed/agent.sock" /* the only host socket inside */
#define OCI_AGENT_CONFIG "/run/shed/agent.yaml"
#define OCI_AGENT_BIN    "/run/shed-agent" /* static, read-only */

typedef struct {
    const char *hostname; /* the shed's name */
    const char *rootfs;   /* absolute path of the mounted root */
    uint32_t id_base;     /* host uid/gid of the shed's root */
    uint32_t id_count;
    const char *netns_path;   /* the node-built network namespace */
    const char *cgroups_path; /* "/<parent>/<name>" */
    bool cgroup_v2;
    /* The first process: argv (NULL-terminated) and its environment. */
    const char *const *args;
    const char *const *env;
    /* Host files bound in: /etc/hosts, /etc/hostname, /etc/resolv.conf,
     * the channel dir (at OCI_SHED_DIR) and the agent (at OCI_AGENT_BIN;
     * NULL: none). */
    const char *hosts_file;
    const char *hostname_file;
    const char *resolv_file;
    const char *channel_dir;
    const char *agent_bin;
    /* linux.resources; 0 = no limit. */
    uint32_t cpus_milli;
    uint64_t memory_bytes;
    uint32_t pids_max;
    uint64_t io_read_bps;
    uint64_t io_write_bps;
    int io_major, io_minor; /* the device I/O limits apply to; -1 none */
} oci_spec_t;

/* The JSON document (caller frees with free()), or NULL on out of memory. */
char *oci_spec_json (const oci_spec_t *spec);

/* The seccomp section (a jansson json_t *, as void * to keep jansson out of
 * this header): default allow, the syscalls of oci_seccomp.c denied. */
void *oci_seccomp_json (void);
/* How many syscalls the profile denies (for tests and docs). */
size_t oci_seccomp_denied_count (void);

#endif
