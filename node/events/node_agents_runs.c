/*
 * node_agents_runs.c - provisioning runs (node_agents.h,
 * shed_agents_provision): a run is sent to the shed's agent, followed
 * through its STEP_DONE and PROVISION_DONE events, and its caller (an API
 * call here, or a node's RPC requests) answered once, when it ends: done,
 * the agent gone, the shed removed, or its deadline passed.
 */
#include "node/events/node_agents_int.h"

#include "common/log.h"
#include "node/sched/node_sched.h"

#include <stdio.h>
#include <stdlib.h>

static void
s_run_reply (shed_agents_t *self, agents_run_t *r, bool ok, int64_t failed_step, const char *error)
{
    if (!r->call && !r->ntokens)
        return;
    api_msg_t rep = { .hdr.type = API_PROVISION_REP };
    api_provision_rep_t *out = &rep.u.api_provision_rep;
    agents_copy (out->node, sizeof out->node, self->name);
    out->run = r->run;
    out->ok = ok;
    out->failed_step = failed_step;
    agents_copy (out->error, sizeof out->error, error ? error : "");
    out->steps.n = r->nsteps;
    out->steps.items = r->results;
    if (r->call)
        shed_api_reply (&r->call, &rep);
    for (size_t i = 0; i < r->ntokens; i++)
        agents_rpc_answer (self, r->tokens[i], &rep);
    r->ntokens = 0;
}

void
agents_runs_fail (shed_agents_t *self, const char *shed, const char *why)
{
    agents_run_t *r = zlistx_first (self->runs);
    while (r) {
        void *cursor = zlistx_cursor (self->runs);
        agents_run_t *next = zlistx_next (self->runs);
        if (!shed || !strcmp (r->shed, shed)) {
            log_warn (AGENTS_COMP,
                      "provisioning run ended without a result|shed=%s run=%llu "
                      "reason=\"%s\"",
                      r->shed, (unsigned long long) r->run, why);
            s_run_reply (self, r, false, -1, why);
            zlistx_delete (self->runs, cursor);
        }
        r = next;
    }
}

agents_run_t *
agents_run_find (shed_agents_t *self, const char *shed, uint64_t run, void **cursor)
{
    for (agents_run_t *r = zlistx_first (self->runs); r; r = zlistx_next (self->runs))
        if (r->run == run && !strcmp (r->shed, shed)) {
            if (cursor)
                *cursor = zlistx_cursor (self->runs);
            return r;
        }
    return NULL;
}

void
agents_run_event (shed_agents_t *self, const agent_event_t *ev, const agent_check_out_t *out)
{
    if (ev->kind == AGENT_EVENT_DISCONNECTED) {
        char why[AGENT_TEXT_MAX + 1];
        snprintf (why, sizeof why, "agent disconnected: %.200s", ev->reason);
        agents_runs_fail (self, ev->shed, why);
        return;
    }
    if (ev->kind != AGENT_EVENT_MESSAGE || !out)
        return;
    if (out->action == AGENT_CHECK_STEP_DONE) {
        const agent_proc_event_t *p = out->result;
        agents_run_t *r = agents_run_find (self, ev->shed, p->run, NULL);
        if (r && p->step < r->nsteps) {
            api_provresult_t *x = &r->results[p->step];
            x->ran = true;
            x->exit_code = p->exit_code;
            x->signal = p->signal;
            x->duration_ms = p->duration_ms;
        }
    }
    else if (out->action == AGENT_CHECK_RUN_DONE) {
        const agent_provision_done_t *d = out->done;
        void *cursor = NULL;
        agents_run_t *r = agents_run_find (self, ev->shed, d->run, &cursor);
        if (r) {
            log_info (AGENTS_COMP, "provisioning run done|shed=%s run=%llu ok=%d failed_step=%lld",
                      r->shed, (unsigned long long) r->run, d->ok, (long long) d->failed_step);
            s_run_reply (self, r, d->ok, d->failed_step, d->error);
            zlistx_delete (self->runs, cursor);
        }
    }
}

static int
s_on_runs_timer (zloop_t *loop, int timer_id, void *arg)
{
    shed_agents_t *self = arg;
    int64_t now = zclock_mono ();
    agents_run_t *r = zlistx_first (self->runs);
    while (r) {
        void *cursor = zlistx_cursor (self->runs);
        agents_run_t *next = zlistx_next (self->runs);
        if (now >= r->deadline) {
            s_run_reply (self, r, false, -1, "timed out waiting for the agent");
            zlistx_delete (self->runs, cursor);
        }
        r = next;
    }
    return 0;
}

static void
s_run_free (void **item)
{
    agents_run_t *r = *item;
    if (r) {
        if (r->call)
            shed_api_reply_error (&r->call, API_ERR_UNAVAILABLE, "the node is stopping");
        free (r);
    }
    *item = NULL;
}

int
agents_runs_start (shed_agents_t *self)
{
    self->runs = zlistx_new ();
    if (!self->runs)
        return -1;
    zlistx_set_destructor (self->runs, s_run_free);
    self->runs_timer = zloop_timer (self->loop, 1000, 0, s_on_runs_timer, self);
    return 0;
}

/* shed_agents_provision for a caller here (call) or on a node (peer,
 * token). */
static int
s_provision (shed_agents_t *self, const char *shed, agent_provision_t *req, int timeout_ms,
             shed_api_call_t *call, const char *peer, uint64_t token, char *err, size_t errlen)
{
    if (!shed || !zhashx_lookup (self->sheds, shed)) {
        snprintf (err, errlen, "no agent listener for shed '%s' on node %s", shed ? shed : "",
                  self->name);
        return -1;
    }
    if (req->steps.n == 0 || req->steps.n > AGENT_STEPS_MAX) {
        snprintf (err, errlen, "a run has 1 to %d steps", AGENT_STEPS_MAX);
        return -1;
    }
    if (req->run == 0)
        req->run = ((uint64_t) zclock_time () << 8) + (++self->next_run & 0xff);
    if (agents_run_find (self, shed, req->run, NULL)) {
        snprintf (err, errlen, "run %llu is already in progress on shed '%s'",
                  (unsigned long long) req->run, shed);
        return -1;
    }
    int rc = agent_host_provision (self->host, shed, req);
    if (rc != 0) {
        snprintf (err, errlen, "%s",
                  rc == -1   ? "the shed's agent is not connected"
                  : rc == -2 ? "the shed's agent is not reading (queue full)"
                             : "the steps cannot be encoded");
        return -1;
    }
    agents_run_t *r = calloc (1, sizeof *r);
    if (!r) {
        snprintf (err, errlen, "out of memory");
        return -1;
    }
    agents_copy (r->shed, sizeof r->shed, shed);
    r->run = req->run;
    r->call = call;
    if (peer) {
        agents_copy (r->peer, sizeof r->peer, peer);
        r->tokens[r->ntokens++] = token;
    }
    r->deadline = zclock_mono () + (timeout_ms > 0 ? timeout_ms : AGENTS_RUN_TIMEOUT_MS);
    r->nsteps = req->steps.n;
    const agent_step_t *steps = req->steps.items;
    for (size_t i = 0; i < r->nsteps; i++)
        agents_copy (r->results[i].name, sizeof r->results[i].name, steps[i].name);
    zlistx_add_end (self->runs, r);
    log_info (AGENTS_COMP, "provisioning run sent|shed=%s run=%llu steps=%zu%s%s", shed,
              (unsigned long long) r->run, r->nsteps, peer ? " for=" : "", peer ? peer : "");
    return 0;
}

int
shed_agents_provision (shed_agents_t *self, const char *shed, agent_provision_t *req,
                       int timeout_ms, shed_api_call_t *call, char *err, size_t errlen)
{
    assert (self);
    return s_provision (self, shed, req, timeout_ms, call, NULL, 0, err, errlen);
}

int
agents_provision_req (shed_agents_t *self, const api_provision_req_t *r, shed_api_call_t *call,
                      const char *peer, uint64_t token, api_err_code_t *code, char *err,
                      size_t errlen)
{
    agent_provision_t p;
    memset (&p, 0, sizeof p);
    p.run = r->run;
    agents_copy (p.user, sizeof p.user, r->user);
    p.keep_going = r->keep_going;
    const api_provstep_t *in = r->steps.items;
    agent_step_t *steps = r->steps.n ? calloc (r->steps.n, sizeof *steps) : NULL;
    for (size_t i = 0; steps && i < r->steps.n; i++) {
        agents_copy (steps[i].name, sizeof steps[i].name, in[i].name);
        agents_copy (steps[i].cmd, sizeof steps[i].cmd, in[i].cmd);
        steps[i].timeout_ms = in[i].timeout_ms;
        if (!agent_msg_name_ok (steps[i].name)) {
            *code = API_ERR_INVALID;
            snprintf (err, errlen, "step name '%s' is not valid (letters, digits, - and _)",
                      in[i].name);
            free (steps);
            return -1;
        }
    }
    p.steps.n = steps ? r->steps.n : 0;
    p.steps.items = steps;
    uint64_t timeout = r->timeout_ms;
    if (timeout > INT32_MAX)
        timeout = INT32_MAX;
    int rc = s_provision (self, r->shed, &p, (int) timeout, call, peer, token, err, errlen);
    if (rc != 0)
        *code = zhashx_lookup (self->sheds, r->shed) ? API_ERR_UNAVAILABLE : API_ERR_NOT_FOUND;
    free (steps);
    return rc;
}
