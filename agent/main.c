/*
 * main.c - shed-agent: the agent inside a shed (see agent.h, docs/agent.md).
 */
#include "agent/agent.h"

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

static void
s_usage (FILE *out)
{
    fprintf (
        out,
        "usage: shed-agent [options]\n"
        "  --connect unix:PATH | vsock:CID:PORT   host channel (default vsock:2:1026 if "
        "/dev/vsock)\n"
        "  --config FILE            YAML configuration (command line wins)\n"
        "  --shed NAME              the name this shed believes it has (informational)\n"
        "  --run NAME=CMD           supervise CMD (sh -c) as NAME; repeatable\n"
        "  --restart POLICY         always | on-failure (default) | never, for --run\n"
        "  --tail STREAM=PATH       follow a file as log stream STREAM; repeatable\n"
        "  --service NAME:PORT[/P]  register a service with a tcp health check; repeatable\n"
        "  --metrics-interval MS    until the host says otherwise (default 5000)\n"
        "  --buffer-frames N        messages kept while disconnected (default 4096)\n"
        "  --buffer-bytes N         bytes kept while disconnected (default 4194304)\n"
        "  --backoff-min MS / --backoff-max MS   reconnect backoff (default 100 / 5000)\n"
        "  --cgroup-root DIR        report CPU, memory, processes from this process's cgroup\n"
        "                           under the hierarchy root DIR (netns sheds; /proc is the "
        "host's)\n"
        "  --container              an OCI container (PID 1, own /proc, cgroup namespace):\n"
        "                           metrics from the cgroup mount (--cgroup-root, default\n"
        "                           /sys/fs/cgroup), processes from /proc, disk: /\n"
        "  --provision-user NAME    the shed user: provisioning steps run as NAME when a run\n"
        "                           names no user (default: `shed` if /etc/passwd has it,\n"
        "                           except in netns sheds; only when the agent is root)\n"
        "  --init                   PID 1 duties: reap every orphan, stop children on SIGTERM\n"
        "  --log-level LEVEL        debug | info | warn | error\n");
}

/* An init may start with stdin, stdout or stderr closed. Left closed, the
 * next pipe or socket would take the number, and a child's dup2 onto 0-2
 * would then close or clobber it: hold them open on /dev/null. */
static void
s_std_fds (void)
{
    for (int fd = 0; fd < 3; fd++)
        if (fcntl (fd, F_GETFD) < 0) {
            int n = open ("/dev/null", O_RDWR);
            if (n >= 0 && n != fd) {
                dup2 (n, fd);
                close (n);
            }
        }
}

int
main (int argc, char **argv)
{
    s_std_fds ();
    agent_config_t *cfg = malloc (sizeof *cfg);
    if (!cfg)
        return 1;
    agent_config_defaults (cfg);
    char err[512];
    int rc = agent_config_args (cfg, argc, argv, err, sizeof err);
    if (rc == 1) {
        s_usage (stdout);
        free (cfg);
        return 0;
    }
    if (rc) {
        fprintf (stderr, "shed-agent: %s\n", err);
        s_usage (stderr);
        free (cfg);
        return 2;
    }
    struct stat st;
    if (!cfg->connect[0] && stat ("/dev/vsock", &st) == 0)
        snprintf (cfg->connect, sizeof cfg->connect, "vsock:%d:%d", AGENT_VSOCK_CID,
                  AGENT_VSOCK_PORT);
    if (getpid () == 1)
        cfg->init = true;
    shed_log_set_level (cfg->log_level);
    agent_t *agent = agent_new (cfg);
    free (cfg);
    if (!agent)
        return 1;
    rc = agent_run (agent);
    agent_destroy (&agent);
    return rc;
}
