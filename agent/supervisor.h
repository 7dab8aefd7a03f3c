/*
 * supervisor.h - starts the shed's processes, captures their output as log
 * streams "<name>-out" / "<name>-err", and restarts them with backoff.
 *
 * Events: START (pid); EXIT (exit code or signal; `crashed` when killed by
 * a signal we did not send or exited non-zero) once the process is reaped
 * AND its output pipes are drained (so its last lines come before its exit,
 * with a 1 s grace in case a grandchild holds a pipe open); RESTART (the
 * delay and the restart count) or GIVEUP when max_restarts is spent.
 *
 * Backoff: backoff_min_ms doubling per consecutive failure up to
 * backoff_max_ms, +-20 % jitter; a process that ran 10 s counts as healthy
 * and resets it.
 */
#ifndef SHED_AGENT_SUPERVISOR_H
#define SHED_AGENT_SUPERVISOR_H

#include "agent/loop.h"
#include "agent/passwd.h"

#include <stdbool.h>
#include <sys/types.h>

#define AGENT_PROCS_MAX     64
#define AGENT_PROC_NAME_MAX 59 /* + "-out" stays a valid stream name */

typedef enum {
    AGENT_RESTART_NEVER = 0,
    AGENT_RESTART_ON_FAILURE = 1,
    AGENT_RESTART_ALWAYS = 2,
} agent_restart_t;

typedef struct {
    char name[AGENT_PROC_NAME_MAX + 1];
    char cmd[AGENT_CMD_MAX + 1]; /* run with /bin/sh -c */
    agent_restart_t restart;
    uint32_t backoff_min_ms; /* default 200 */
    uint32_t backoff_max_ms; /* default 30000 */
    uint32_t max_restarts;   /* 0 = unlimited */
} agent_proc_spec_t;

typedef struct _agent_supervisor_t agent_supervisor_t;

agent_supervisor_t *agent_supervisor_new (agent_emit_fn *emit, void *ctx);
void agent_supervisor_destroy (agent_supervisor_t **self_p);

/* Add and start a process. Returns 0, or -1 (bad name, duplicate, full). */
int agent_supervisor_add (agent_supervisor_t *self, const agent_proc_spec_t *spec);

/* A child was reaped. Returns true if it was one of ours. */
bool agent_supervisor_reaped (agent_supervisor_t *self, pid_t pid, int status);

size_t agent_supervisor_watches (agent_supervisor_t *self, agent_watch_t *w, size_t max);
int64_t agent_supervisor_next_ms (agent_supervisor_t *self);
void agent_supervisor_tick (agent_supervisor_t *self, int64_t now_ms);

/* Stop everything: SIGTERM to each process group, no more restarts. */
void agent_supervisor_stop_all (agent_supervisor_t *self);

/* SIGKILL every running process group (the stop grace is over). */
void agent_supervisor_kill_all (agent_supervisor_t *self);

/* Processes still running. */
size_t agent_supervisor_running (agent_supervisor_t *self);

/* Used by the supervisor and provisioning: fork + exec `/bin/sh -c cmd`
 * in its own process group with stdout/stderr to new pipes (and stdin from
 * `stdin_fd`, or /dev/null when -1), in `cwd` if set, with `env` pairs
 * added last (they win). With `user` (looked up by the caller, see
 * passwd.h; only meaningful when we are root) the child takes on its
 * groups (setgroups), gid and uid, each checked (a failure exits 126 with
 * the reason on the child's stderr), and gets HOME, USER, LOGNAME and a
 * PATH for that user; without, the child keeps our ids and environment
 * (PATH set only if we have none). Returns the pid or -1. */
pid_t agent_spawn (const char *cmd, const agent_user_t *user, const char *cwd,
                   const wire_tags_t *env, int stdin_fd, int *out_fd, int *err_fd);

#endif
