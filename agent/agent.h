/*
 * agent.h - shed-agent: one poll() loop over the connection, supervised
 * processes, provisioning steps, tailed files, metrics and health timers,
 * and a signalfd (SIGCHLD reaps every child, ours or orphaned; SIGTERM and
 * SIGINT stop: processes get SIGTERM, then SIGKILL after 5 s, the host gets
 * CLOSE, and the buffer is flushed for up to 1 s).
 */
#ifndef SHED_AGENT_AGENT_H
#define SHED_AGENT_AGENT_H

#include "agent/config.h"

typedef struct _agent_t agent_t;

/* Set up (signals are blocked and routed to a signalfd here). NULL on
 * failure with a reason logged. */
agent_t *agent_new (const agent_config_t *cfg);
void agent_destroy (agent_t **self_p);

/* Run until stopped. Returns the process exit code. */
int agent_run (agent_t *self);

#endif
