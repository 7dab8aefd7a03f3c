/*
 * config.h - shed-agent configuration: a YAML file and/or command-line
 * options (the command line wins). See docs/agent.md for the file format.
 */
#ifndef SHED_AGENT_CONFIG_H
#define SHED_AGENT_CONFIG_H

#include "agent/provision.h"
#include "agent/supervisor.h"
#include "agent/tail.h"

#include "common/log.h"

#include <stdbool.h>

#define AGENT_SERVICES_MAX 16
#define AGENT_MOUNTS_MAX   16

typedef struct {
    char stream[AGENT_STREAM_NAME_MAX + 1];
    char path[AGENT_PATH_MAX + 1];
    bool from_start;
} agent_tail_spec_t;

typedef struct {
    char name[AGENT_NAME_MAX + 1];
    uint32_t port;
    char protocol[16];
    char check[AGENT_TEXT_MAX + 1]; /* "tcp" or "" (none) */
    uint32_t interval_ms;           /* health check period; default 10000 */
    wire_tag_t tags[AGENT_TAGS_MAX];
    size_t ntags;
} agent_service_spec_t;

typedef struct {
    char shed[AGENT_NAME_MAX + 1];     /* what we believe our name is */
    char connect[AGENT_PATH_MAX + 16]; /* unix:PATH | vsock:CID:PORT */
    uint32_t metrics_interval_ms;      /* until the host says otherwise; default 5000 */
    size_t buffer_frames, buffer_bytes;
    uint32_t backoff_min_ms, backoff_max_ms;
    bool init; /* PID 1 duties */
    shed_log_level_t log_level;
    char proc_root[128];                     /* "/proc"; tests may point elsewhere */
    char cgroup_root[AGENT_PATH_MAX + 1];    /* "" = metrics from /proc only (a VM);
                                           set by the netns driver: see metrics.h */
    bool container;                          /* an OCI container (container driver):
                                           metrics from the cgroup mount at
                                           cgroup_root, default /sys/fs/cgroup */
    char provision_user[AGENT_USER_MAX + 1]; /* the shed user: provisioning steps
                                           run as it when a run names no user
                                           (and the agent is root); "" = ours */
    char mounts[AGENT_MOUNTS_MAX][AGENT_PATH_MAX + 1];
    size_t nmounts;
    agent_proc_spec_t procs[AGENT_PROCS_MAX];
    size_t nprocs;
    agent_tail_spec_t tails[AGENT_TAILS_MAX];
    size_t ntails;
    agent_service_spec_t services[AGENT_SERVICES_MAX];
    size_t nservices;
} agent_config_t;

/* Defaults everywhere. */
void agent_config_defaults (agent_config_t *cfg);

/* Read a YAML file into cfg (on top of what it holds). 0, or -1 with a
 * "file:line: reason" message in err. */
int agent_config_load (agent_config_t *cfg, const char *path, char *err, size_t errlen);

/* Parse argv (see main.c usage). 0, 1 if --help was asked, -1 with err. */
int agent_config_args (agent_config_t *cfg, int argc, char **argv, char *err, size_t errlen);

/* "--run NAME=CMD", "--service NAME:PORT[/PROTO]" parsers; 0 or -1. */
int agent_config_parse_run (const char *arg, agent_proc_spec_t *out);
int agent_config_parse_service (const char *arg, agent_service_spec_t *out);

#endif
