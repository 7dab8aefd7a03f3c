/*
 * node_agents.h - the daemon's side of the agent channel (docs/agent.md):
 * one agent host (bridges/agent_host.h) for the node, listening for the
 * agent of each shed the node runs; agent services fed to the service
 * catalog; each shed's log history; provisioning runs; and the local API
 * for them, from any node.
 *
 * Events on the bus. The agent host publishes every event itself, from
 * its own thread, batched (agent_host_config_t.publish_endpoint, the
 * bus's in-process publish socket): topic from agent_event_topic, origin
 * this node, kind from agent_event_kind, payload the agent's own
 * encoding as validated (agent/proto/agent_proto.h), not re-encoded:
 *   CONNECTED      shed.<node>.<shed>              agent.hello     (its HELLO)
 *   METRICS        metrics.<node>.<shed>           agent.metrics
 *   PROC_EVENT     proc.<node>.<shed>              agent.proc
 *   LOG            log.<node>.<shed>.<stream>      agent.log
 *   PROVISION_*    provision.<node>.<shed>         agent.provision_*
 *   DROPPED        shed.<node>.<shed>              agent.dropped
 *   DISCONNECTED   shed.<node>.<shed>              agent.disconnected
 *                  (payload: a CLOSE carrying the reason, made by the host)
 * Service events are the exception (owner_publishes_services): published
 * here, re-encoded, once the catalog took them, so the bus carries only
 * accepted ones:
 *   SERVICE_*      service.<node>.<shed>.<name>    agent.service_*
 *
 * Agent services -> catalog: SERVICE_REGISTER registers instance id
 * "<shed>.<name>" (shed_agents_service_id; a pair over a record name is
 * refused) at the shed's own address (shed_agents_on_address; the node's
 * advertise address if it has none) with check none (the agent reports
 * health), SERVICE_HEALTH sets its health, SERVICE_DEREGISTER removes it.
 * The decisions are agent_check.h's; the host caps names per shed
 * (agents.services_max, agents.streams_max).
 *
 * Sheds: the scheduler's agent hooks (node.c, node_sched.h) call
 * shed_agents_add when a shed starts, with the socket its driver gives the
 * agent, and shed_agents_remove when it stops; `shedctl agents attach`
 * does the same by hand.
 *
 * History: the last `agents.log_lines` (default 1000) LOG lines of each
 * shed are kept (agent_logs.h) for API_LOGS_REQ (`shedctl logs`); older
 * ones are counted as evicted. Provisioning: shed_agents_provision and
 * API_PROVISION_REQ (`shedctl provision`), answered when the run ends.
 * Both work from any node: shed_agents_route sends them to the shed's node.
 * Agent limits and the metrics interval come from `agents.*` (config.h).
 *
 * node_agents_int.h lists the files that implement this.
 */
#ifndef SHED_NODE_AGENTS_H
#define SHED_NODE_AGENTS_H

#include "agent/proto/agent_proto.h"
#include "bridges/agent_host.h"
#include "node/api/api_server.h"
#include "node/config.h"
#include "node/catalog/node_catalog.h"
#include "node/events/node_events.h"

#include <czmq.h>

typedef struct _shed_agents_t shed_agents_t;
typedef struct _shed_sched_t shed_sched_t; /* node/sched/node_sched.h */

/* Start the agent host. `events` must outlive it; `catalog` may be NULL
 * (agent services are then only published). NULL with a reason on failure. */
shed_agents_t *shed_agents_new (const shed_config_t *cfg, shed_events_t *events,
                                shed_catalog_t *catalog, zloop_t *loop, shed_api_server_t *api,
                                char *err, size_t errlen);
/* Close every listener (removing the socket files). NULL-safe. */
void shed_agents_destroy (shed_agents_t **self_p);

/* SIGHUP: take `cfg->agents.*` while running. The agent host's limits
 * (rates, accepts, name caps, heartbeat, metrics interval) apply at once
 * to every shed, connected agents get a fresh HELLO_ACK
 * (agent_host_set_limits); services_max also bounds the catalog ids of
 * existing sheds; log_lines sizes the history of sheds added from now on
 * (an existing history keeps its size until its shed is added again).
 * Returns 0, or -1 if the agent host did not answer. */
int shed_agents_set_limits (shed_agents_t *self, const shed_config_t *cfg);

/* Listen for shed `shed`'s agent on the Unix socket `socket_path` (its
 * directory is created 0700 if missing; a stale socket is replaced).
 * Returns 0, or -1 with a one-line reason. */
int shed_agents_add (shed_agents_t *self, const char *shed, const char *socket_path, char *err,
                     size_t errlen);

/* Stop listening for a shed (a connected agent is disconnected, its
 * services deregistered, its provisioning runs failed). Returns 0, or -1
 * if unknown. */
int shed_agents_remove (shed_agents_t *self, const char *shed);

/* Send a provisioning run to a shed's agent (the entry point for the API
 * and for requests routed from other nodes). req->run 0: a run id
 * is chosen and written back. Progress is on the bus as usual
 * (provision.<node>.<shed>, proc.<node>.<shed> step_done); when the run
 * ends (PROVISION_DONE, the agent disconnecting, the shed removed, or
 * timeout_ms passing; <= 0 = 10 minutes) `call`, if not NULL, is answered
 * with API_PROVISION_REP (results per step). Returns 0 (the call now
 * belongs to the run), or -1 with a one-line reason (the call is still
 * the caller's). */
int shed_agents_provision (shed_agents_t *self, const char *shed, agent_provision_t *req,
                           int timeout_ms, shed_api_call_t *call, char *err, size_t errlen);

/* Each shed with an agent listener on this node, for the metrics endpoint:
 * fn gets its name, its agent host counters and its agent's latest METRICS
 * (NULL if none arrived yet). Pointers are valid only during the call. */
typedef void (shed_agents_stats_fn) (const char *shed, const agent_host_stats_t *stats,
                                     const agent_metrics_t *latest, void *arg);
void shed_agents_stats (shed_agents_t *self, shed_agents_stats_fn *fn, void *arg);

/* Where the services of shed `shed` listen: its own address into ip (at
 * most size bytes). 0, or -1 when it has none. */
typedef int (shed_agents_addr_fn) (void *arg, const char *shed, char *ip, size_t size);
/* Set the lookup used for every later SERVICE_REGISTER (the daemon wires
 * the overlay's shed addresses here, node.c). fn NULL: the node's address. */
void shed_agents_on_address (shed_agents_t *self, shed_agents_addr_fn *fn, void *arg);

/* Serve and route across nodes over the scheduler's node RPC: registers
 * "agents.logs" and "agents.provision" (the body is the API request,
 * api_proto; the answer's body is the API reply or API_ERROR), and from
 * then on API_LOGS_REQ / API_PROVISION_REQ for a shed that is not on this
 * node go to the shed's node (shed_sched_owner; without a record, every
 * alive node is asked, see node_agents.c) and the call is answered with
 * that node's reply. sched NULL detaches (call it before destroying the
 * scheduler): nodes waiting on runs here are told the node is stopping.
 * Returns 0, or -1 if the methods are taken. */
int shed_agents_route (shed_agents_t *self, shed_sched_t *sched);

/* The catalog id of shed `shed`'s service `name` into id (cap bytes):
 * "<shed>.<name>", unique per pair. Returns 0, or -1 when the pair has no
 * id that fits a record name (REC_NAME_MAX): such services are refused. */
int shed_agents_service_id (const char *shed, const char *name, char *id, size_t cap);

#endif
