/*
 * node_agents_route.c - agents across nodes (node_agents.h,
 * shed_agents_route): requests for a shed of another node forwarded over
 * the node RPC, and the same requests served here for other nodes.
 */
#include "node/events/node_agents_int.h"

#include "cluster/rpc.h"
#include "node/sched/node_sched.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

#define S_LOGS_RPC_MAX     (RPC_BODY_MAX - (128u << 10)) /* text bytes in a reply to a node */
#define S_LOGS_RPC_TIMEOUT 10000                         /* ms: agents.logs at another node */
#define S_PEERS_MAX        1024

/* -------------------------------------------------------------------------
 * Sheds of other nodes: the API call is held here and the request goes to
 * the shed's node over the node RPC (agents.logs, agents.provision); that
 * node's answer (an api_proto message) answers the call as it is.
 *
 * The owner comes from the replicated shed records (shed_sched_owner). A
 * shed without a record (attached by hand, `shedctl agents attach`) is
 * looked for on every alive node: logs ask them all and take the first
 * history; provisioning first asks for one log line (agents.logs, tail 1)
 * and sends the run only to the first node that has the shed, so a run
 * never starts twice.
 */

void
agents_rpc_answer (shed_agents_t *self, uint64_t token, const api_msg_t *msg)
{
    if (!self->sched)
        return;
    uint8_t *buf = NULL;
    size_t len = 0;
    int rc = wire_encode (&api_proto, msg, &buf, &len);
    if (rc != WIRE_OK || len > RPC_BODY_MAX)
        shed_sched_rpc_reply (self->sched, token, SHED_SCHED_RPC_FAILED,
                              rc != WIRE_OK ? "cannot encode the answer" : "answer too large", NULL,
                              0);
    else
        shed_sched_rpc_reply (self->sched, token, RPC_OK, NULL, buf, len);
    free (buf);
}

void
agents_rpc_error (shed_agents_t *self, uint64_t token, api_err_code_t code, const char *fmt, ...)
{
    api_msg_t m = { .hdr.type = API_ERROR };
    m.u.api_error.code = code;
    va_list ap;
    va_start (ap, fmt);
    vsnprintf (m.u.api_error.message, sizeof m.u.api_error.message, fmt, ap);
    va_end (ap);
    agents_rpc_answer (self, token, &m);
}

typedef struct {
    shed_agents_t *self;
    shed_api_call_t *call; /* answered exactly once */
    agents_fwd_kind_t kind;
    char shed[AGENT_NAME_MAX + 1];
    uint8_t *body; /* the API request, encoded */
    size_t len;
    int timeout_ms; /* of the request that does the work */
    size_t refs;    /* RPC calls still to come back */
    bool done;      /* call answered, or handed to a final leg */
    char why[320];  /* a node that failed to answer, for the error */
} s_fwd_t;

typedef struct {
    s_fwd_t *f;
    char peer[REC_NAME_MAX + 1];
    bool final; /* its answer answers the call */
} s_leg_t;

static void s_on_leg (int status, const char *error, const uint8_t *body, size_t len, void *arg);

static int
s_fwd_send (s_fwd_t *f, const char *peer, const char *method, const uint8_t *body, size_t len,
            int timeout_ms, bool final)
{
    if (!f->self->sched)
        return -1;
    s_leg_t *leg = calloc (1, sizeof *leg);
    if (!leg)
        return -1;
    leg->f = f;
    leg->final = final;
    agents_copy (leg->peer, sizeof leg->peer, peer);
    if (shed_sched_rpc_call (f->self->sched, peer, method, body, len, timeout_ms, s_on_leg, leg)
        != 0) {
        free (leg);
        return -1;
    }
    f->refs++;
    return 0;
}

static void
s_fwd_free (s_fwd_t *f)
{
    if (f->call)
        shed_api_reply_error (&f->call, API_ERR_INTERNAL, "request for shed '%s' lost", f->shed);
    free (f->body);
    free (f);
}

static void
s_on_leg (int status, const char *error, const uint8_t *body, size_t len, void *arg)
{
    s_leg_t *leg = arg;
    s_fwd_t *f = leg->f;
    api_msg_t m;
    bool decoded =
        status == RPC_OK && body && wire_decode (&api_proto, body, len, &m, NULL) == WIRE_OK;
    const char *what = status != RPC_OK ? (error && *error ? error : "no answer") : "bad answer";
    if (leg->final
        || (f->kind == AGENTS_FWD_LOGS && !f->done && decoded && m.hdr.type == API_LOGS_REP)) {
        if (decoded)
            shed_api_reply (&f->call, &m);
        else
            shed_api_reply_error (&f->call, API_ERR_UNAVAILABLE,
                                  "shed '%s' is on node %s, which did not answer: %s", f->shed,
                                  leg->peer, what);
        f->done = true;
    }
    else if (!f->done && decoded && m.hdr.type == API_LOGS_REP) {
        /* Provisioning: the shed is there; the run goes there alone. */
        f->done = true;
        if (s_fwd_send (f, leg->peer, "agents.provision", f->body, f->len, f->timeout_ms, true))
            shed_api_reply_error (&f->call, API_ERR_UNAVAILABLE, "cannot send the run to node %s",
                                  leg->peer);
    }
    else if (!f->done && !decoded)
        snprintf (f->why, sizeof f->why, "node %.63s did not answer: %.200s", leg->peer, what);
    else if (!f->done && m.hdr.type == API_ERROR && m.u.api_error.code != API_ERR_NOT_FOUND)
        snprintf (f->why, sizeof f->why, "node %.63s: %.200s", leg->peer, m.u.api_error.message);
    if (decoded)
        wire_msg_free (&api_proto, &m);
    free (leg);
    if (--f->refs > 0)
        return;
    if (!f->done) {
        if (f->why[0])
            shed_api_reply_error (&f->call, API_ERR_UNAVAILABLE,
                                  "no node answered with shed '%s' (%s)", f->shed, f->why);
        else
            shed_api_reply_error (&f->call, API_ERR_NOT_FOUND, "no node has an agent for shed '%s'",
                                  f->shed);
    }
    s_fwd_free (f);
}

void
agents_fwd_start (shed_agents_t *self, shed_api_call_t *call, const api_msg_t *req,
                  agents_fwd_kind_t kind, const char *shed, int timeout_ms)
{
    const char *method = kind == AGENTS_FWD_LOGS ? "agents.logs" : "agents.provision";
    s_fwd_t *f = calloc (1, sizeof *f);
    if (!f) {
        shed_api_reply_error (&call, API_ERR_INTERNAL, "out of memory");
        return;
    }
    f->self = self;
    f->call = call;
    f->kind = kind;
    f->timeout_ms = timeout_ms;
    agents_copy (f->shed, sizeof f->shed, shed);
    if (wire_encode (&api_proto, req, &f->body, &f->len) != WIRE_OK || f->len > RPC_BODY_MAX) {
        shed_api_reply_error (&f->call, API_ERR_INVALID, "request too large to send to a node");
        s_fwd_free (f);
        return;
    }
    char owner[REC_NAME_MAX + 1];
    if (shed_sched_owner (self->sched, shed, owner, sizeof owner) == 0) {
        if (!strcmp (owner, self->name))
            shed_api_reply_error (&f->call, API_ERR_NOT_FOUND,
                                  "shed '%s' runs on this node (%s) but has no agent listener",
                                  shed, self->name);
        else if (s_fwd_send (f, owner, method, f->body, f->len, timeout_ms, true) == 0) {
            f->done = true;
            return; /* answered by the leg */
        }
        else
            shed_api_reply_error (&f->call, API_ERR_UNAVAILABLE,
                                  "cannot send the request to node %s", owner);
        s_fwd_free (f);
        return;
    }
    /* No record: ask every alive node. */
    uint8_t *probe = NULL;
    size_t probe_len = 0;
    if (kind == AGENTS_FWD_PROVISION) {
        api_msg_t q = { .hdr.type = API_LOGS_REQ };
        agents_copy (q.u.api_logs_req.shed, sizeof q.u.api_logs_req.shed, shed);
        q.u.api_logs_req.tail = 1;
        if (wire_encode (&api_proto, &q, &probe, &probe_len) != WIRE_OK) {
            shed_api_reply_error (&f->call, API_ERR_INTERNAL, "cannot encode a request");
            s_fwd_free (f);
            return;
        }
    }
    char (*peers)[REC_NAME_MAX + 1] = calloc (S_PEERS_MAX, sizeof *peers);
    size_t n = peers ? shed_sched_peers (self->sched, peers, S_PEERS_MAX) : 0;
    for (size_t i = 0; i < n; i++)
        if (kind == AGENTS_FWD_LOGS)
            s_fwd_send (f, peers[i], method, f->body, f->len, timeout_ms, false);
        else
            s_fwd_send (f, peers[i], "agents.logs", probe, probe_len, S_LOGS_RPC_TIMEOUT, false);
    free (probe);
    free (peers);
    if (f->refs == 0) {
        shed_api_reply_error (&f->call, API_ERR_NOT_FOUND,
                              "no shed '%s' with an agent on node %s, and no other node to ask",
                              shed, self->name);
        s_fwd_free (f);
    }
}

/* -------------------------------------------------------------------------
 * Node RPC: agents.logs, agents.provision (served for other nodes)
 */

static void
s_rpc_logs (shed_sched_t *sched, const char *peer, uint64_t token, const uint8_t *body, size_t len,
            void *arg)
{
    (void) peer;
    shed_agents_t *self = arg;
    api_msg_t req;
    if (wire_decode (&api_proto, body, len, &req, NULL) != WIRE_OK) {
        shed_sched_rpc_reply (sched, token, SHED_SCHED_RPC_FAILED, "malformed agents.logs", NULL,
                              0);
        return;
    }
    if (req.hdr.type != API_LOGS_REQ)
        shed_sched_rpc_reply (sched, token, SHED_SCHED_RPC_FAILED,
                              "agents.logs wants a LOGS "
                              "request",
                              NULL, 0);
    else {
        const api_logs_req_t *r = &req.u.api_logs_req;
        agents_shed_t *s = zhashx_lookup (self->sheds, r->shed);
        if (!s)
            agents_rpc_error (self, token, API_ERR_NOT_FOUND,
                              "no shed '%s' with an agent on node %s", r->shed, self->name);
        else {
            api_msg_t rep;
            api_logline_t *lines = NULL;
            agent_logs_fill (s->logs, self->name, r, S_LOGS_RPC_MAX, &rep, &lines);
            agents_rpc_answer (self, token, &rep);
            free (lines);
        }
    }
    wire_msg_free (&api_proto, &req);
}

static void
s_rpc_provision (shed_sched_t *sched, const char *peer, uint64_t token, const uint8_t *body,
                 size_t len, void *arg)
{
    shed_agents_t *self = arg;
    api_msg_t req;
    if (wire_decode (&api_proto, body, len, &req, NULL) != WIRE_OK) {
        shed_sched_rpc_reply (sched, token, SHED_SCHED_RPC_FAILED, "malformed agents.provision",
                              NULL, 0);
        return;
    }
    if (req.hdr.type != API_PROVISION_REQ)
        shed_sched_rpc_reply (sched, token, SHED_SCHED_RPC_FAILED,
                              "agents.provision wants a "
                              "PROVISION request",
                              NULL, 0);
    else {
        const api_provision_req_t *r = &req.u.api_provision_req;
        agents_run_t *run = r->run ? agents_run_find (self, r->shed, r->run, NULL) : NULL;
        if (run && run->ntokens && !strcmp (run->peer, peer)) {
            /* The RPC layer sent it again (a re-dial): the run already
             * goes on; answer this request with it too. */
            if (run->ntokens < AGENTS_RUN_TOKENS)
                run->tokens[run->ntokens++] = token;
            else
                agents_rpc_error (self, token, API_ERR_INVALID, "run %llu is already in progress",
                                  (unsigned long long) r->run);
        }
        else {
            char err[256];
            api_err_code_t code = API_ERR_INTERNAL;
            if (agents_provision_req (self, r, NULL, peer, token, &code, err, sizeof err) != 0)
                agents_rpc_error (self, token, code, "%s", err);
            /* else: answered when the run ends */
        }
    }
    wire_msg_free (&api_proto, &req);
}

int
shed_agents_route (shed_agents_t *self, shed_sched_t *sched)
{
    assert (self);
    if (!sched) {
        /* The scheduler goes first: answer the nodes waiting on runs here
         * while it can still send. */
        for (agents_run_t *r = zlistx_first (self->runs); r; r = zlistx_next (self->runs)) {
            for (size_t i = 0; i < r->ntokens; i++)
                agents_rpc_error (self, r->tokens[i], API_ERR_UNAVAILABLE, "node %s is stopping",
                                  self->name);
            r->ntokens = 0;
        }
        self->sched = NULL;
        return 0;
    }
    if (shed_sched_rpc_on (sched, "agents.logs", s_rpc_logs, self) != 0
        || shed_sched_rpc_on (sched, "agents.provision", s_rpc_provision, self) != 0)
        return -1;
    self->sched = sched;
    return 0;
}
