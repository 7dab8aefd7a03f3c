/*
 * node_agents_api.c - the local API of the agent channel: `shedctl agents
 * [attach NAME | detach NAME]`, `shedctl logs`, `shedctl provision`
 * (sheds of other nodes go through node_agents_route.c), and the counters
 * for the metrics endpoint.
 */
#include "node/events/node_agents_int.h"

#include <stdio.h>
#include <stdlib.h>

#define S_LOGS_REPLY_MAX   (3u << 20) /* text bytes in one API_LOGS_REP (API_MAX_MSG is 4 MiB) */
#define S_LOGS_RPC_TIMEOUT 10000      /* ms: agents.logs at another node */
#define S_PROV_RPC_SLACK   10000      /* ms beyond the run's own timeout */

static void
s_fill (shed_agents_t *self, agents_shed_t *s, api_agent_t *a)
{
    memset (a, 0, sizeof *a);
    snprintf (a->shed, sizeof a->shed, "%s", s->shed);
    agents_copy (a->path, sizeof a->path, s->path);
    agent_host_stats_t st;
    if (agent_host_stats (self->host, s->shed, &st) == 0) {
        a->published = st.published;
        a->bus_dropped = st.bus_dropped;
        a->connected = st.connected;
        a->connections = st.connections;
        a->frames_in = st.frames_in;
        a->events = st.events;
        a->bad = st.bad_total;
        a->agent_dropped = st.agent_dropped;
    }
    agent_msg_t m;
    int64_t ts = 0;
    if (agent_host_metrics (self->host, s->shed, &m, &ts) == 0) {
        const agent_metrics_t *x = &m.u.agent_metrics;
        a->has_metrics = true;
        int64_t age = zclock_time () - ts;
        a->metrics_age_ms = age > 0 ? (uint64_t) age : 0;
        a->cpu_pct = x->cpu_pct;
        a->mem_used = x->mem_used;
        a->mem_total = x->mem_total;
        a->load1 = x->load1;
        a->procs = x->procs;
        wire_msg_free (&agent_proto, &m);
    }
}

void
shed_agents_stats (shed_agents_t *self, shed_agents_stats_fn *fn, void *arg)
{
    assert (self);
    for (agents_shed_t *s = zhashx_first (self->sheds); s; s = zhashx_next (self->sheds)) {
        agent_host_stats_t st;
        if (agent_host_stats (self->host, s->shed, &st) != 0)
            continue;
        agent_msg_t m;
        int64_t ts = 0;
        bool have = agent_host_metrics (self->host, s->shed, &m, &ts) == 0;
        fn (s->shed, &st, have ? &m.u.agent_metrics : NULL, arg);
        if (have)
            wire_msg_free (&agent_proto, &m);
    }
}

static void
s_api_agents (shed_api_call_t *call, const api_msg_t *req, void *arg)
{
    shed_agents_t *self = arg;
    const api_agents_req_t *r = &req->u.api_agents_req;
    api_msg_t rep = { .hdr.type = API_AGENTS_REP };
    api_agents_rep_t *out = &rep.u.api_agents_rep;
    char err[256];
    if (r->op == API_AGENTS_ATTACH) {
        /* Debug aid until the scheduler starts sheds: the same layout a
         * netns shed will use. */
        char path[SHED_ENDPOINT_MAX];
        int pl = snprintf (path, sizeof path, "%s/sheds/%s/agent.sock", self->data_dir, r->shed);
        if (pl < 0 || (size_t) pl >= sizeof path || (size_t) pl >= sizeof out->message) {
            shed_api_reply_error (&call, API_ERR_INVALID, "agent socket path too long");
            return;
        }
        if (shed_agents_add (self, r->shed, path, err, sizeof err) != 0) {
            shed_api_reply_error (&call, API_ERR_INVALID, "%s", err);
            return;
        }
        agents_copy (out->message, sizeof out->message, path);
        shed_api_reply (&call, &rep);
        return;
    }
    if (r->op == API_AGENTS_DETACH) {
        if (shed_agents_remove (self, r->shed) != 0) {
            shed_api_reply_error (&call, API_ERR_NOT_FOUND, "no agent listener for shed '%s'",
                                  r->shed);
            return;
        }
        snprintf (out->message, sizeof out->message, "detached %s", r->shed);
        shed_api_reply (&call, &rep);
        return;
    }
    size_t n = zhashx_size (self->sheds), i = 0;
    api_agent_t *items = n ? calloc (n, sizeof *items) : NULL;
    for (agents_shed_t *s = zhashx_first (self->sheds); s && i < n; s = zhashx_next (self->sheds))
        if (!r->shed[0] || !strcmp (r->shed, s->shed))
            s_fill (self, s, &items[i++]);
    out->sheds.n = i;
    out->sheds.items = items;
    shed_api_reply (&call, &rep);
    free (items);
}

static void
s_api_logs (shed_api_call_t *call, const api_msg_t *req, void *arg)
{
    shed_agents_t *self = arg;
    const api_logs_req_t *r = &req->u.api_logs_req;
    agents_shed_t *s = zhashx_lookup (self->sheds, r->shed);
    if (!s && self->sched) {
        agents_fwd_start (self, call, req, AGENTS_FWD_LOGS, r->shed, S_LOGS_RPC_TIMEOUT);
        return;
    }
    if (!s) {
        shed_api_reply_error (&call, API_ERR_NOT_FOUND, "no shed '%s' with an agent on node %s",
                              r->shed, self->name);
        return;
    }
    api_msg_t rep;
    api_logline_t *lines = NULL;
    agent_logs_fill (s->logs, self->name, r, S_LOGS_REPLY_MAX, &rep, &lines);
    shed_api_reply (&call, &rep);
    free (lines);
}

static void
s_api_provision (shed_api_call_t *call, const api_msg_t *req, void *arg)
{
    shed_agents_t *self = arg;
    const api_provision_req_t *r = &req->u.api_provision_req;
    if (!zhashx_lookup (self->sheds, r->shed) && self->sched) {
        uint64_t timeout =
            (r->timeout_ms ? r->timeout_ms : AGENTS_RUN_TIMEOUT_MS) + S_PROV_RPC_SLACK;
        agents_fwd_start (self, call, req, AGENTS_FWD_PROVISION, r->shed,
                          timeout > INT32_MAX ? INT32_MAX : (int) timeout);
        return;
    }
    char err[256];
    api_err_code_t code = API_ERR_INTERNAL;
    if (agents_provision_req (self, r, call, NULL, 0, &code, err, sizeof err) != 0)
        shed_api_reply_error (&call, code, "%s", err);
    /* else: the call now belongs to the run, answered at PROVISION_DONE */
}

void
agents_api_on (shed_agents_t *self, shed_api_server_t *api)
{
    shed_api_server_on (api, API_AGENTS_REQ, s_api_agents, self);
    shed_api_server_on (api, API_LOGS_REQ, s_api_logs, self);
    shed_api_server_on (api, API_PROVISION_REQ, s_api_provision, self);
}
