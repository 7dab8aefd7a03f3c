/*
 * node_agents_int.h - shed_agents_t's insides, shared by its own files
 * only (the API is node_agents.h). All of it runs on the node's loop.
 *
 *   node_agents.c         lifecycle, shed listeners, agent events in (the
 *                         services they carry to the catalog, log lines
 *                         to the history)
 *   node_agents_runs.c    provisioning runs: sent, followed, answered
 *   node_agents_api.c     the local API: agents, logs, provision
 *   node_agents_route.c   sheds of other nodes: requests forwarded over
 *                         the node RPC, and agents.* served for them
 *   agent_logs.c          one shed's log history (agent_logs_t)
 *   agent_check.c         the decisions on each message, without effects
 */
#ifndef SHED_NODE_AGENTS_INT_H
#define SHED_NODE_AGENTS_INT_H

#include "node/events/node_agents.h"

#include "node/events/agent_check.h"
#include "node/events/agent_logs.h"

#include "cluster/records.h"

#include <limits.h>
#include <string.h>

#define AGENTS_COMP           "agents"         /* log component */
#define AGENTS_RUN_TIMEOUT_MS (10 * 60 * 1000) /* default life of a provisioning run */
#define AGENTS_RUN_TOKENS     4                /* RPC requests waiting on one run (resends) */

/* What we keep per shed beyond the host's own counters. */
typedef struct {
    char shed[AGENT_NAME_MAX + 1];
    char path[SHED_ENDPOINT_MAX];
    agent_check_shed_t services; /* catalog ids registered for it (agent_check.h) */
    agent_logs_t *logs;          /* its last log lines, owned */
} agents_shed_t;

/* A provisioning run waiting for its PROVISION_DONE: the API call to
 * answer and the steps' results as their STEP_DONE events arrive. */
typedef struct {
    char shed[AGENT_NAME_MAX + 1];
    uint64_t run;
    shed_api_call_t *call;              /* NULL: started in-process or by a node */
    char peer[REC_NAME_MAX + 1];        /* the node that asked (agents.provision) */
    uint64_t tokens[AGENTS_RUN_TOKENS]; /* its RPC requests to answer (a resend adds one) */
    size_t ntokens;
    int64_t deadline; /* mono ms */
    size_t nsteps;
    api_provresult_t results[AGENT_STEPS_MAX];
} agents_run_t;

struct _shed_agents_t {
    agent_host_t *host;      /* owned */
    shed_events_t *events;   /* borrowed */
    shed_catalog_t *catalog; /* borrowed, may be NULL */
    zloop_t *loop;           /* borrowed */
    char name[SHED_NAME_MAX + 1];
    char data_dir[PATH_MAX];
    zhashx_t *sheds;     /* shed -> agents_shed_t, owned */
    size_t log_lines;    /* ring size per shed */
    size_t services_max; /* per shed (agents.services_max) */
    zlistx_t *runs;      /* agents_run_t *, owned: provisioning runs in flight */
    int runs_timer;
    uint64_t next_run;
    shed_sched_t *sched;          /* borrowed: node RPC (shed_agents_route), may be NULL */
    shed_agents_addr_fn *addr_fn; /* a shed's own address (shed_agents_on_address) */
    void *addr_arg;
};

/* Copy a string into a fixed field, cutting it if it must (names are
 * validated elsewhere; this only keeps the compiler's truncation checks
 * meaningful). */
static inline void
agents_copy (char *dst, size_t cap, const char *src)
{
    size_t n = strnlen (src, cap - 1);
    memcpy (dst, src, n);
    dst[n] = '\0';
}

/* node_agents_runs.c */
/* Register the runs' list destructor and deadline timer (shed_agents_new). */
int agents_runs_start (shed_agents_t *self);
/* End every run of `shed` (all when NULL) that is still waiting. */
void agents_runs_fail (shed_agents_t *self, const char *shed, const char *why);
agents_run_t *agents_run_find (shed_agents_t *self, const char *shed, uint64_t run, void **cursor);
/* Follow a run through its agent's events (out: agent_check's decision,
 * NULL if it refused the message). */
void agents_run_event (shed_agents_t *self, const agent_event_t *ev, const agent_check_out_t *out);
/* API_PROVISION_REQ -> agent PROVISION, and start the run for a caller
 * here (call, taken on success) or a node (peer, token). 0, or -1 with a
 * reason and an API error code. */
int agents_provision_req (shed_agents_t *self, const api_provision_req_t *r, shed_api_call_t *call,
                          const char *peer, uint64_t token, api_err_code_t *code, char *err,
                          size_t errlen);

/* node_agents_route.c */
typedef enum { AGENTS_FWD_LOGS, AGENTS_FWD_PROVISION } agents_fwd_kind_t;
/* The shed is not here: send the request on to its node. Takes the call. */
void agents_fwd_start (shed_agents_t *self, shed_api_call_t *call, const api_msg_t *req,
                       agents_fwd_kind_t kind, const char *shed, int timeout_ms);
/* Answer an agents.* request of another node with an api_proto message. */
void agents_rpc_answer (shed_agents_t *self, uint64_t token, const api_msg_t *msg);
void agents_rpc_error (shed_agents_t *self, uint64_t token, api_err_code_t code, const char *fmt,
                       ...) __attribute__ ((format (printf, 4, 5)));

/* node_agents_api.c */
/* Serve API_AGENTS_REQ, API_LOGS_REQ and API_PROVISION_REQ. */
void agents_api_on (shed_agents_t *self, shed_api_server_t *api);

#endif
