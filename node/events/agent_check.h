/*
 * agent_check.h - what the node makes of one message from a shed's agent,
 * without the agent host, catalog, bus or loop (docs/agent.md, section 5):
 * node_agents.c does the effects, this decides them, so the decisions can
 * be unit-tested and fuzzed (fuzz/fuzz_agent_handlers.c).
 *
 * The message has been decoded and validated by the agent protocol
 * (agent/proto/agent_proto.h) and passed the host's per-shed name caps; the checks
 * here hold anyway for any decoded message, so the fuzz target needs no
 * host. Per shed the node keeps which service ids the catalog took
 * (agent_check_shed_t): deregistering or setting the health of anything
 * else is refused, and the ids held are bounded by services_max.
 */
#ifndef SHED_AGENT_CHECK_H
#define SHED_AGENT_CHECK_H

#include "agent/proto/agent_proto.h"
#include "bridges/agent_host.h" /* agent_bad_t, for the counters */
#include "cluster/records.h"

#include <stdbool.h>
#include <stddef.h>

/* What the node does with an accepted message. */
typedef enum {
    AGENT_CHECK_NONE = 0,           /* nothing: the host published it already */
    AGENT_CHECK_HELLO,              /* log the connect: version */
    AGENT_CHECK_LOG,                /* keep the line in the shed's history: log */
    AGENT_CHECK_STEP_DONE,          /* a provisioning step ended: run, step, result */
    AGENT_CHECK_RUN_DONE,           /* a provisioning run ended: run, done */
    AGENT_CHECK_SERVICE_REGISTER,   /* svc to the catalog; if it takes it, agent_check_hold */
    AGENT_CHECK_SERVICE_DEREGISTER, /* id out of the catalog (already forgotten here) */
    AGENT_CHECK_SERVICE_HEALTH,     /* id's health and output */
} agent_check_action_t;

/* Per-shed bookkeeping: the catalog ids of the shed's services. */
typedef struct {
    char (*ids)[REC_NAME_MAX + 1];
    size_t n, cap;
    size_t max; /* services held at most */
} agent_check_shed_t;

typedef struct {
    agent_check_action_t action;
    /* Refused (agent_check_msg returned -1): */
    bool count;    /* count `bad` against the shed (agent_host_count) */
    bool warn;     /* worth a warning in the node log */
    bool not_held; /* a service id the shed does not hold */
    agent_bad_t bad;
    char reason[160];
    /* Accepted: */
    char id[REC_NAME_MAX + 1];          /* SERVICE_*: the catalog id */
    rec_service_t svc;                  /* REGISTER: the record, but for its address
                                     * (the node's to fill); tags borrowed from msg */
    int health;                         /* HEALTH: REC_HEALTH_* */
    const char *output;                 /* HEALTH: borrowed from msg */
    const char *version;                /* HELLO: agent_version, borrowed */
    const agent_log_t *log;             /* LOG: borrowed */
    uint64_t run, step;                 /* STEP_DONE, RUN_DONE */
    const agent_proc_event_t *result;   /* STEP_DONE: borrowed */
    const agent_provision_done_t *done; /* RUN_DONE: borrowed */
} agent_check_out_t;

/* Bookkeeping for a shed allowed `services_max` services (0: 64, the agent
 * host's default, which bounds names the same way). */
void agent_check_shed_init (agent_check_shed_t *s, size_t services_max);
/* A new bound (SIGHUP): ids held beyond it stay; new ones are refused. */
void agent_check_shed_set_max (agent_check_shed_t *s, size_t services_max);
void agent_check_shed_free (agent_check_shed_t *s);

/* Decide what to do with `msg` from shed `shed`. Returns 0 (accepted, see
 * out->action) or -1 (refused: out->bad, out->reason, out->count). A
 * DEREGISTER of a held id forgets it here. out borrows from msg. */
int agent_check_msg (agent_check_shed_t *s, const char *shed, const agent_msg_t *msg,
                     agent_check_out_t *out);

/* The catalog took service id `id`: hold it (again: no duplicate). Returns
 * 0, or -1 when the shed holds services_max already (the caller undoes). */
int agent_check_hold (agent_check_shed_t *s, const char *id);
/* Is `id` held? With `forget`, drop it. */
bool agent_check_held (agent_check_shed_t *s, const char *id, bool forget);

/* "<shed>.<name>" into id (cap bytes), whole, or -1: see
 * shed_agents_service_id (node_agents.h), which is this. */
int agent_check_service_id (const char *shed, const char *name, char *id, size_t cap);

#endif
