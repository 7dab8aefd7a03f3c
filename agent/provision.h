/*
 * provision.h - runs provisioning runs sent by the host: steps in order,
 * each `/bin/sh -c cmd` as the run's user, or when the run names none the
 * shed user (agent_provisioner_set_user), or the default user `shed` if
 * the shed has one (agent_provisioner_set_default_user); users are looked
 * up in the shed's own etc/passwd and etc/group (passwd.h) and taken on
 * (setgroups, setgid, setuid) when the agent is root, ignored otherwise;
 * with the step's input on stdin,
 * streaming stdout/stderr back as PROVISION_OUTPUT, a PROC_EVENT STEP_DONE
 * per step (exit code or signal, duration), and a PROVISION_DONE per run.
 *
 * One run at a time; up to AGENT_PROVISION_QUEUE more wait; beyond that a
 * run is refused at once with PROVISION_DONE {ok: false, error: "busy"}.
 * A step past its timeout_ms is killed (its process group, SIGKILL).
 */
#ifndef SHED_AGENT_PROVISION_H
#define SHED_AGENT_PROVISION_H

#include "agent/loop.h"

#include <stdbool.h>
#include <sys/types.h>

#define AGENT_PROVISION_QUEUE 4
#define AGENT_USER_MAX        32 /* a PROVISION's `user` (str32), provision_user */

typedef struct _agent_provisioner_t agent_provisioner_t;

agent_provisioner_t *agent_provisioner_new (agent_emit_fn *emit, void *ctx);
void agent_provisioner_destroy (agent_provisioner_t **self_p);

/* The shed user: who a step runs as when its run names no user ("" or
 * NULL: the agent's own user). Like a run's user, it takes effect only when
 * the agent is root; a user that does not exist fails each step it would
 * run (exit 127, "no such user" on the step's stderr and in PROVISION_DONE).
 * Longer than AGENT_USER_MAX: -1, unchanged. */
int agent_provisioner_set_user (agent_provisioner_t *self, const char *user);

/* The default user: who a step runs as when neither its run nor the shed
 * user names one, if it exists in the shed's etc/passwd when the run
 * starts (else the agent's own user). shed-agent sets "shed" unless it
 * runs in a netns shed (whose /etc/passwd is the host's). "" or NULL:
 * none. Only as root, like the others. Longer than AGENT_USER_MAX: -1. */
int agent_provisioner_set_default_user (agent_provisioner_t *self, const char *user);

/* Where etc/passwd and etc/group are read: "/" (the shed's root); tests
 * point it at a tree of their own. -1 if empty or too long. */
int agent_provisioner_set_etc_root (agent_provisioner_t *self, const char *root);

/* Take a decoded PROVISION message: its contents move in and *msg is left
 * zeroed. Returns 0 if queued, -1 if refused (and reported). */
int agent_provisioner_submit (agent_provisioner_t *self, agent_msg_t *msg);

/* The agent stops: the running step gets SIGTERM (its process group),
 * no further step starts, its run ends with PROVISION_DONE {ok: false,
 * error: "agent stopping"} (or the step's own failure) once the step is
 * reaped, waiting runs end at once the same way, and new runs are refused
 * so. agent_provisioner_kill: SIGKILL the running step (the grace is over). */
void agent_provisioner_stop (agent_provisioner_t *self);
void agent_provisioner_kill (agent_provisioner_t *self);

bool agent_provisioner_reaped (agent_provisioner_t *self, pid_t pid, int status);
size_t agent_provisioner_watches (agent_provisioner_t *self, agent_watch_t *w, size_t max);
int64_t agent_provisioner_next_ms (agent_provisioner_t *self);
void agent_provisioner_tick (agent_provisioner_t *self, int64_t now_ms);

/* True while a run is in progress or queued. */
bool agent_provisioner_busy (agent_provisioner_t *self);

#endif
