/* node_agents.c - see node_agents.h. */
#include "node/events/node_agents.h"

#include "node/events/agent_check.h"

#include "bridges/agent_host.h"
#include "bridges/bus.h"
#include "bridges/event_msg.h"
#include "cluster/records.h"
#include "cluster/rpc.h"
#include "common/fileutil.h"
#include "common/log.h"
#include "node/sched/node_sched.h"

#include <errno.h>
#include <libgen.h>
#include <stdarg.h>
#include <string.h>

#define S_COMP  "agents"
#define S_BATCH 256                 /* agent events handled per loop turn */
#define S_LOGS_REPLY_MAX (3u << 20) /* text bytes in one API_LOGS_REP (API_MAX_MSG is 4 MiB) */
#define S_RUN_TIMEOUT_MS (10 * 60 * 1000)   /* default life of a provisioning run */
#define S_LOGS_RPC_MAX   (RPC_BODY_MAX - (128u << 10))  /* text bytes in a reply to a node */
#define S_LOGS_RPC_TIMEOUT 10000            /* ms: agents.logs at another node */
#define S_PROV_RPC_SLACK   10000            /* ms beyond the run's own timeout */
#define S_RUN_TOKENS     4                  /* RPC requests waiting on one run (resends) */
#define S_PEERS_MAX      1024

/* Copy a string into a fixed field, cutting it if it must (names are
 * validated elsewhere; this only keeps the compiler's truncation checks
 * meaningful). */
static void
s_copy (char *dst, size_t cap, const char *src)
{
    size_t n = strnlen (src, cap - 1);
    memcpy (dst, src, n);
    dst[n] = '\0';
}

/* One log line kept for `shedctl logs`. */
typedef struct {
    char stream[AGENT_STREAM_NAME_MAX + 1];
    uint64_t seq;
    uint64_t ts_ms;
    bool partial;
    char *text;                     /* owned */
} s_line_t;

/* What we keep per shed beyond the host's own counters. */
typedef struct {
    char shed[AGENT_NAME_MAX + 1];
    char path[SHED_ENDPOINT_MAX];
    agent_check_shed_t services;    /* catalog ids registered for it (agent_check.h) */
    s_line_t *ring;                 /* the last log lines, cap entries */
    size_t cap, head, n;            /* next slot to write, lines held */
    uint64_t evicted;               /* lines pushed out of the ring */
} s_shed_t;

/* A provisioning run waiting for its PROVISION_DONE: the API call to
 * answer and the steps' results as their STEP_DONE events arrive. */
typedef struct {
    char shed[AGENT_NAME_MAX + 1];
    uint64_t run;
    shed_api_call_t *call;          /* NULL: started in-process or by a node */
    char peer[REC_NAME_MAX + 1];    /* the node that asked (agents.provision) */
    uint64_t tokens[S_RUN_TOKENS];  /* its RPC requests to answer (a resend adds one) */
    size_t ntokens;
    int64_t deadline;               /* mono ms */
    size_t nsteps;
    api_provresult_t results[AGENT_STEPS_MAX];
} s_run_t;

struct _shed_agents_t {
    agent_host_t *host;
    shed_events_t *events;          /* borrowed */
    shed_catalog_t *catalog;        /* borrowed, may be NULL */
    zloop_t *loop;                  /* borrowed */
    char name[SHED_NAME_MAX + 1];
    char data_dir[PATH_MAX];
    zhashx_t *sheds;                /* shed -> s_shed_t */
    uint8_t *buf;                   /* encoding scratch, one max frame */
    size_t cap;
    size_t log_lines;               /* ring size per shed */
    size_t services_max;            /* per shed (agents.services_max) */
    zlistx_t *runs;                 /* s_run_t *: provisioning runs in flight */
    int runs_timer;
    uint64_t next_run;
    shed_sched_t *sched;            /* borrowed: node RPC (shed_agents_route), may be NULL */
    shed_agents_addr_fn *addr_fn;   /* a shed's own address (shed_agents_on_address) */
    void *addr_arg;
};

static void
s_shed_free (void **item)
{
    s_shed_t *s = *item;
    if (s) {
        agent_check_shed_free (&s->services);
        for (size_t i = 0; s->ring && i < s->cap; i++)
            free (s->ring[i].text);
        free (s->ring);
        free (s);
    }
    *item = NULL;
}

/* -------------------------------------------------------------------------
 * Log history: a ring of the last log_lines lines per shed
 */

static void
s_ring_add (s_shed_t *s, const agent_log_t *log)
{
    if (!s->cap)
        return;
    s_line_t *l = &s->ring[s->head];
    if (s->n == s->cap) {
        s->evicted++;
        free (l->text);
    }
    else
        s->n++;
    s_copy (l->stream, sizeof l->stream, log->stream);
    l->seq = log->seq;
    l->ts_ms = log->ts_ms;
    l->partial = log->partial;
    l->text = strdup (log->text);
    s->head = (s->head + 1) % s->cap;
}

/* -------------------------------------------------------------------------
 * Answers to other nodes: the body of an agents.* response is always one
 * api_proto message (the reply the local API would give, or API_ERROR).
 */

static void
s_rpc_answer (shed_agents_t *self, uint64_t token, const api_msg_t *msg)
{
    if (!self->sched)
        return;
    uint8_t *buf = NULL;
    size_t len = 0;
    int rc = wire_encode (&api_proto, msg, &buf, &len);
    if (rc != WIRE_OK || len > RPC_BODY_MAX)
        shed_sched_rpc_reply (self->sched, token, SHED_SCHED_RPC_FAILED,
                              rc != WIRE_OK ? "cannot encode the answer" : "answer too large",
                              NULL, 0);
    else
        shed_sched_rpc_reply (self->sched, token, RPC_OK, NULL, buf, len);
    free (buf);
}

static void
s_rpc_error (shed_agents_t *self, uint64_t token, api_err_code_t code, const char *fmt, ...)
    __attribute__ ((format (printf, 4, 5)));

static void
s_rpc_error (shed_agents_t *self, uint64_t token, api_err_code_t code, const char *fmt, ...)
{
    api_msg_t m = { .hdr.type = API_ERROR };
    m.u.api_error.code = code;
    va_list ap;
    va_start (ap, fmt);
    vsnprintf (m.u.api_error.message, sizeof m.u.api_error.message, fmt, ap);
    va_end (ap);
    s_rpc_answer (self, token, &m);
}

/* -------------------------------------------------------------------------
 * Provisioning runs
 */

static void
s_run_reply (shed_agents_t *self, s_run_t *r, bool ok, int64_t failed_step, const char *error)
{
    if (!r->call && !r->ntokens)
        return;
    api_msg_t rep = { .hdr.type = API_PROVISION_REP };
    api_provision_rep_t *out = &rep.u.api_provision_rep;
    s_copy (out->node, sizeof out->node, self->name);
    out->run = r->run;
    out->ok = ok;
    out->failed_step = failed_step;
    s_copy (out->error, sizeof out->error, error ? error : "");
    out->steps.n = r->nsteps;
    out->steps.items = r->results;
    if (r->call)
        shed_api_reply (&r->call, &rep);
    for (size_t i = 0; i < r->ntokens; i++)
        s_rpc_answer (self, r->tokens[i], &rep);
    r->ntokens = 0;
}

/* End every run of `shed` (all when NULL) that is still waiting. */
static void
s_runs_fail (shed_agents_t *self, const char *shed, const char *why)
{
    s_run_t *r = zlistx_first (self->runs);
    while (r) {
        void *cursor = zlistx_cursor (self->runs);
        s_run_t *next = zlistx_next (self->runs);
        if (!shed || !strcmp (r->shed, shed)) {
            log_warn (S_COMP, "provisioning run ended without a result|shed=%s run=%llu "
                      "reason=\"%s\"", r->shed, (unsigned long long) r->run, why);
            s_run_reply (self, r, false, -1, why);
            zlistx_delete (self->runs, cursor);
        }
        r = next;
    }
}

static s_run_t *
s_run_find (shed_agents_t *self, const char *shed, uint64_t run, void **cursor)
{
    for (s_run_t *r = zlistx_first (self->runs); r; r = zlistx_next (self->runs))
        if (r->run == run && !strcmp (r->shed, shed)) {
            if (cursor)
                *cursor = zlistx_cursor (self->runs);
            return r;
        }
    return NULL;
}

/* Follow a run through its agent's events. */
static void
s_run_event (shed_agents_t *self, const agent_event_t *ev, const agent_check_out_t *out)
{
    if (ev->kind == AGENT_EVENT_DISCONNECTED) {
        char why[AGENT_TEXT_MAX + 1];
        snprintf (why, sizeof why, "agent disconnected: %.200s", ev->reason);
        s_runs_fail (self, ev->shed, why);
        return;
    }
    if (ev->kind != AGENT_EVENT_MESSAGE || !out)
        return;
    if (out->action == AGENT_CHECK_STEP_DONE) {
        const agent_proc_event_t *p = out->result;
        s_run_t *r = s_run_find (self, ev->shed, p->run, NULL);
        if (r && p->step < r->nsteps) {
            api_provresult_t *x = &r->results[p->step];
            x->ran = true;
            x->exit_code = p->exit_code;
            x->signal = p->signal;
            x->duration_ms = p->duration_ms;
        }
    }
    else
    if (out->action == AGENT_CHECK_RUN_DONE) {
        const agent_provision_done_t *d = out->done;
        void *cursor = NULL;
        s_run_t *r = s_run_find (self, ev->shed, d->run, &cursor);
        if (r) {
            log_info (S_COMP, "provisioning run done|shed=%s run=%llu ok=%d failed_step=%lld",
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
    s_run_t *r = zlistx_first (self->runs);
    while (r) {
        void *cursor = zlistx_cursor (self->runs);
        s_run_t *next = zlistx_next (self->runs);
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
    s_run_t *r = *item;
    if (r) {
        if (r->call)
            shed_api_reply_error (&r->call, API_ERR_UNAVAILABLE, "the node is stopping");
        free (r);
    }
    *item = NULL;
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
    if (s_run_find (self, shed, req->run, NULL)) {
        snprintf (err, errlen, "run %llu is already in progress on shed '%s'",
                  (unsigned long long) req->run, shed);
        return -1;
    }
    int rc = agent_host_provision (self->host, shed, req);
    if (rc != 0) {
        snprintf (err, errlen, "%s", rc == -1 ? "the shed's agent is not connected"
                                 : rc == -2 ? "the shed's agent is not reading (queue full)"
                                            : "the steps cannot be encoded");
        return -1;
    }
    s_run_t *r = calloc (1, sizeof *r);
    if (!r) {
        snprintf (err, errlen, "out of memory");
        return -1;
    }
    s_copy (r->shed, sizeof r->shed, shed);
    r->run = req->run;
    r->call = call;
    if (peer) {
        s_copy (r->peer, sizeof r->peer, peer);
        r->tokens[r->ntokens++] = token;
    }
    r->deadline = zclock_mono () + (timeout_ms > 0 ? timeout_ms : S_RUN_TIMEOUT_MS);
    r->nsteps = req->steps.n;
    const agent_step_t *steps = req->steps.items;
    for (size_t i = 0; i < r->nsteps; i++)
        s_copy (r->results[i].name, sizeof r->results[i].name, steps[i].name);
    zlistx_add_end (self->runs, r);
    log_info (S_COMP, "provisioning run sent|shed=%s run=%llu steps=%zu%s%s", shed,
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

/* -------------------------------------------------------------------------
 * Agent services -> catalog
 */

/* The rule is agent_check's (docs/agent.md, section 5). */
int
shed_agents_service_id (const char *shed, const char *name, char *id, size_t cap)
{
    return agent_check_service_id (shed, name, id, cap);
}

/* Publish a service event the catalog took (the agent host leaves these
 * to us: owner_publishes_services), so the bus never carries a service
 * the node refused. */
static void
s_service_publish (shed_agents_t *self, const agent_event_t *ev)
{
    char topic[256];
    uint8_t *buf = NULL;
    size_t len = 0;
    if (!self->events || agent_event_topic (ev, topic, sizeof topic) < 0)
        return;
    if (wire_encode (&agent_proto, &ev->msg, &buf, &len) == WIRE_OK)
        shed_events_publish (self->events, topic, agent_event_kind (ev), buf, len);
    free (buf);
}

/* What agent_check decided for a service message, done: the catalog
 * first, then the bus, so the bus carries only what the node took. */
static void
s_service (shed_agents_t *self, s_shed_t *s, const agent_event_t *ev,
           const agent_check_out_t *out, bool refused)
{
    if (refused && !out->not_held) {
        if (out->warn)
            log_warn (S_COMP, "agent service refused|shed=%s service=%s reason=\"%s\"",
                      ev->shed, out->svc.name[0] ? out->svc.name
                                                 : ev->msg.u.agent_service_register.name,
                      out->reason);
        if (out->count)
            agent_host_count (self->host, ev->shed, out->bad);
        return;
    }
    if (!self->catalog) {
        /* Nothing is held without a catalog: published as the host
         * passed it (the host keeps names to those the shed has). */
        s_service_publish (self, ev);
        return;
    }
    if (refused)
        return;                     /* not this shed's: nothing to do */
    char err[256];
    switch (out->action) {
        case AGENT_CHECK_SERVICE_REGISTER: {
            rec_service_t svc = out->svc;
            /* The service listens in the shed, so it is reached at the
             * shed's own address (its overlay address: what other sheds
             * can reach, and what DNS names SHED.shed). A shed without
             * one (no overlay on this node) falls back to the catalog's
             * default, the node's advertise address. */
            if (!self->addr_fn
                || self->addr_fn (self->addr_arg, ev->shed, svc.address, sizeof svc.address))
                log_debug (S_COMP, "shed has no address of its own: service published with "
                           "the node's|shed=%s service=%s", ev->shed, svc.name);
            if (shed_catalog_register (self->catalog, &svc, NULL, err, sizeof err) != 0) {
                log_warn (S_COMP, "agent service refused|shed=%s service=%s reason=\"%s\"",
                          ev->shed, svc.name, err);
                agent_host_count (self->host, ev->shed, AGENT_BAD_CATALOG);
            }
            else
            if (agent_check_hold (&s->services, out->id) != 0) {
                /* Cannot happen while the host caps names as we do; if
                 * it did, an id we do not hold must not stay listed. */
                shed_catalog_deregister (self->catalog, out->id, err, sizeof err);
                agent_host_count (self->host, ev->shed, AGENT_BAD_SERVICE_CAP);
            }
            else
                s_service_publish (self, ev);
            break;
        }
        case AGENT_CHECK_SERVICE_DEREGISTER:
            /* agent_check forgot it already. */
            if (shed_catalog_deregister (self->catalog, out->id, err, sizeof err) == -1)
                log_warn (S_COMP, "agent service deregister failed|shed=%s id=%s reason=\"%s\"",
                          ev->shed, out->id, err);
            s_service_publish (self, ev);
            break;
        case AGENT_CHECK_SERVICE_HEALTH:
            if (shed_catalog_set_health (self->catalog, out->id, out->health, out->output, err,
                                         sizeof err) == -1)
                log_warn (S_COMP, "agent service health failed|shed=%s id=%s reason=\"%s\"",
                          ev->shed, out->id, err);
            else
                s_service_publish (self, ev);
            break;
        default:
            break;
    }
}

/* A shed goes away: its services go with it. */
static void
s_services_drop (shed_agents_t *self, s_shed_t *s)
{
    char err[256];
    for (size_t i = 0; self->catalog && i < s->services.n; i++)
        shed_catalog_deregister (self->catalog, s->services.ids[i], err, sizeof err);
    s->services.n = 0;
}

/* -------------------------------------------------------------------------
 * Agent events -> bus
 */

static void
s_forward (shed_agents_t *self, agent_event_t *ev)
{
    s_shed_t *s = zhashx_lookup (self->sheds, ev->shed);
    if (!s)
        return;                     /* removed meanwhile */
    /* Publishing is the agent host's (publish_endpoint): it hands the
     * agent's own, validated encoding to the bus from its thread, batched.
     * What is left here is what the node itself does with an event. */
    agent_check_out_t out;
    bool checked = false;
    if (ev->kind == AGENT_EVENT_MESSAGE || ev->kind == AGENT_EVENT_CONNECTED) {
        bool refused = agent_check_msg (&s->services, ev->shed, &ev->msg, &out) != 0;
        checked = !refused;
        switch (out.action) {
            case AGENT_CHECK_SERVICE_REGISTER:
            case AGENT_CHECK_SERVICE_DEREGISTER:
            case AGENT_CHECK_SERVICE_HEALTH:
                s_service (self, s, ev, &out, refused);
                checked = false;
                break;
            case AGENT_CHECK_LOG:
                if (!refused)
                    s_ring_add (s, out.log);
                break;
            default:
                break;
        }
    }
    s_run_event (self, ev, checked ? &out : NULL);
    if (ev->kind == AGENT_EVENT_CONNECTED)
        log_info (S_COMP, "agent connected|shed=%s version=\"%s\"", ev->shed,
                  checked && out.version ? out.version : "");
    else
    if (ev->kind == AGENT_EVENT_DISCONNECTED)
        log_info (S_COMP, "agent disconnected|shed=%s reason=\"%s\"", ev->shed, ev->reason);
}

static int
s_on_agent (zloop_t *loop, zsock_t *sock, void *arg)
{
    shed_agents_t *self = arg;
    for (int i = 0; i < S_BATCH; i++) {
        agent_event_t *ev = agent_host_recv (self->host, 0);
        if (!ev)
            break;
        s_forward (self, ev);
        agent_event_destroy (&ev);
    }
    return 0;
}

/* -------------------------------------------------------------------------
 * In-process API
 */

int
shed_agents_add (shed_agents_t *self, const char *shed, const char *socket_path, char *err,
                 size_t errlen)
{
    assert (self);
    if (!shed || !agent_msg_name_ok (shed)) {
        snprintf (err, errlen, "shed name '%s' is not valid", shed ? shed : "");
        return -1;
    }
    if (zhashx_lookup (self->sheds, shed)) {
        snprintf (err, errlen, "shed '%s' already has an agent listener", shed);
        return -1;
    }
    if (!socket_path || strlen (socket_path) >= sizeof ((s_shed_t *) 0)->path) {
        snprintf (err, errlen, "agent socket path too long");
        return -1;
    }
    char dir[SHED_ENDPOINT_MAX];
    snprintf (dir, sizeof dir, "%s", socket_path);
    if (shed_mkdir_p (dirname (dir), 0700) != 0) {
        snprintf (err, errlen, "%s: %s", socket_path, strerror (errno));
        return -1;
    }
    if (agent_host_add_shed (self->host, shed, socket_path) != 0) {
        snprintf (err, errlen, "cannot listen for shed '%s' on %s (path over 107 bytes, "
                  "or too many sheds)", shed, socket_path);
        return -1;
    }
    s_shed_t *s = zmalloc (sizeof *s);
    s->cap = self->log_lines;
    s->ring = s->cap ? calloc (s->cap, sizeof *s->ring) : NULL;
    if (s->cap && !s->ring)
        s->cap = 0;
    snprintf (s->shed, sizeof s->shed, "%s", shed);
    snprintf (s->path, sizeof s->path, "%s", socket_path);
    agent_check_shed_init (&s->services, self->services_max);
    zhashx_insert (self->sheds, shed, s);
    log_info (S_COMP, "agent listener up|shed=%s path=%s", shed, socket_path);
    return 0;
}

int
shed_agents_remove (shed_agents_t *self, const char *shed)
{
    assert (self);
    s_shed_t *s = shed ? zhashx_lookup (self->sheds, shed) : NULL;
    if (!s)
        return -1;
    agent_host_remove_shed (self->host, shed);
    /* The DISCONNECTED that follows still reaches the bus: hand it over
     * before forgetting the shed. */
    s_on_agent (self->loop, NULL, self);
    s_services_drop (self, s);
    s_runs_fail (self, shed, "the shed's agent listener was removed");
    zhashx_delete (self->sheds, shed);
    log_info (S_COMP, "agent listener removed|shed=%s", shed);
    return 0;
}

/* -------------------------------------------------------------------------
 * Local API: shedctl agents [attach NAME | detach NAME]
 */

static void
s_fill (shed_agents_t *self, s_shed_t *s, api_agent_t *a)
{
    memset (a, 0, sizeof *a);
    snprintf (a->shed, sizeof a->shed, "%s", s->shed);
    s_copy (a->path, sizeof a->path, s->path);
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
    for (s_shed_t *s = zhashx_first (self->sheds); s; s = zhashx_next (self->sheds)) {
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
        int pl = snprintf (path, sizeof path, "%s/sheds/%s/agent.sock", self->data_dir,
                           r->shed);
        if (pl < 0 || (size_t) pl >= sizeof path || (size_t) pl >= sizeof out->message) {
            shed_api_reply_error (&call, API_ERR_INVALID, "agent socket path too long");
            return;
        }
        if (shed_agents_add (self, r->shed, path, err, sizeof err) != 0) {
            shed_api_reply_error (&call, API_ERR_INVALID, "%s", err);
            return;
        }
        s_copy (out->message, sizeof out->message, path);
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
    for (s_shed_t *s = zhashx_first (self->sheds); s && i < n; s = zhashx_next (self->sheds))
        if (!r->shed[0] || !strcmp (r->shed, s->shed))
            s_fill (self, s, &items[i++]);
    out->sheds.n = i;
    out->sheds.items = items;
    shed_api_reply (&call, &rep);
    free (items);
}

/* -------------------------------------------------------------------------
 * Local API: shedctl logs, shedctl provision
 */

/* The API_LOGS_REP for request r from shed s's ring: at most `max` bytes
 * of text (older lines left out, truncated set). Free *lines after use. */
static void
s_logs_fill (shed_agents_t *self, s_shed_t *s, const api_logs_req_t *r, size_t max,
             api_msg_t *rep, api_logline_t **lines_out)
{
    /* Walk newest to oldest to honour tail and the size bound, then
     * reverse into oldest-first order. */
    size_t want = r->tail ? r->tail : s->n, take = 0, bytes = 0;
    size_t *idx = s->n ? calloc (s->n, sizeof *idx) : NULL;
    bool truncated = false;
    for (size_t k = 0; idx && k < s->n && take < want; k++) {
        size_t i = (s->head + s->cap - 1 - k) % s->cap;
        if (r->stream[0] && strcmp (s->ring[i].stream, r->stream))
            continue;
        size_t len = strlen (s->ring[i].text) + 96;
        if (bytes + len > max) {
            truncated = true;
            break;
        }
        bytes += len;
        idx[take++] = i;
    }
    api_logline_t *lines = take ? calloc (take, sizeof *lines) : NULL;
    for (size_t k = 0; lines && k < take; k++) {
        const s_line_t *l = &s->ring[idx[take - 1 - k]];
        api_logline_t *x = &lines[k];
        s_copy (x->stream, sizeof x->stream, l->stream);
        x->seq = l->seq;
        x->ts_ms = l->ts_ms;
        x->partial = l->partial;
        s_copy (x->text, sizeof x->text, l->text);
    }
    memset (rep, 0, sizeof *rep);
    rep->hdr.type = API_LOGS_REP;
    api_logs_rep_t *out = &rep->u.api_logs_rep;
    s_copy (out->node, sizeof out->node, self->name);
    out->lines.n = lines ? take : 0;
    out->lines.items = lines;
    out->evicted = s->evicted;
    out->truncated = truncated;
    *lines_out = lines;
    free (idx);
}

/* API_PROVISION_REQ -> agent PROVISION, and start the run for a caller
 * here (call) or a node (peer, token). 0, or -1 with a reason and an API
 * error code. */
static int
s_provision_req (shed_agents_t *self, const api_provision_req_t *r, shed_api_call_t *call,
                 const char *peer, uint64_t token, api_err_code_t *code, char *err,
                 size_t errlen)
{
    agent_provision_t p;
    memset (&p, 0, sizeof p);
    p.run = r->run;
    s_copy (p.user, sizeof p.user, r->user);
    p.keep_going = r->keep_going;
    const api_provstep_t *in = r->steps.items;
    agent_step_t *steps = r->steps.n ? calloc (r->steps.n, sizeof *steps) : NULL;
    for (size_t i = 0; steps && i < r->steps.n; i++) {
        s_copy (steps[i].name, sizeof steps[i].name, in[i].name);
        s_copy (steps[i].cmd, sizeof steps[i].cmd, in[i].cmd);
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

typedef enum { F_LOGS, F_PROVISION } s_fwd_kind_t;

typedef struct {
    shed_agents_t *self;
    shed_api_call_t *call;          /* answered exactly once */
    s_fwd_kind_t kind;
    char shed[AGENT_NAME_MAX + 1];
    uint8_t *body;                  /* the API request, encoded */
    size_t len;
    int timeout_ms;                 /* of the request that does the work */
    size_t refs;                    /* RPC calls still to come back */
    bool done;                      /* call answered, or handed to a final leg */
    char why[320];                  /* a node that failed to answer, for the error */
} s_fwd_t;

typedef struct {
    s_fwd_t *f;
    char peer[REC_NAME_MAX + 1];
    bool final;                     /* its answer answers the call */
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
    s_copy (leg->peer, sizeof leg->peer, peer);
    if (shed_sched_rpc_call (f->self->sched, peer, method, body, len, timeout_ms, s_on_leg,
                             leg) != 0) {
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
    bool decoded = status == RPC_OK && body
                   && wire_decode (&api_proto, body, len, &m, NULL) == WIRE_OK;
    const char *what = status != RPC_OK ? (error && *error ? error : "no answer")
                                        : "bad answer";
    if (leg->final || (f->kind == F_LOGS && !f->done && decoded
                       && m.hdr.type == API_LOGS_REP)) {
        if (decoded)
            shed_api_reply (&f->call, &m);
        else
            shed_api_reply_error (&f->call, API_ERR_UNAVAILABLE,
                                  "shed '%s' is on node %s, which did not answer: %s", f->shed,
                                  leg->peer, what);
        f->done = true;
    }
    else
    if (!f->done && decoded && m.hdr.type == API_LOGS_REP) {
        /* Provisioning: the shed is there; the run goes there alone. */
        f->done = true;
        if (s_fwd_send (f, leg->peer, "agents.provision", f->body, f->len, f->timeout_ms, true))
            shed_api_reply_error (&f->call, API_ERR_UNAVAILABLE,
                                  "cannot send the run to node %s", leg->peer);
    }
    else
    if (!f->done && !decoded)
        snprintf (f->why, sizeof f->why, "node %.63s did not answer: %.200s", leg->peer, what);
    else
    if (!f->done && m.hdr.type == API_ERROR && m.u.api_error.code != API_ERR_NOT_FOUND)
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
            shed_api_reply_error (&f->call, API_ERR_NOT_FOUND,
                                  "no node has an agent for shed '%s'", f->shed);
    }
    s_fwd_free (f);
}

/* The shed is not here: send the request on. Takes the call. */
static void
s_fwd_start (shed_agents_t *self, shed_api_call_t *call, const api_msg_t *req, s_fwd_kind_t kind,
           const char *shed, int timeout_ms)
{
    const char *method = kind == F_LOGS ? "agents.logs" : "agents.provision";
    s_fwd_t *f = calloc (1, sizeof *f);
    if (!f) {
        shed_api_reply_error (&call, API_ERR_INTERNAL, "out of memory");
        return;
    }
    f->self = self;
    f->call = call;
    f->kind = kind;
    f->timeout_ms = timeout_ms;
    s_copy (f->shed, sizeof f->shed, shed);
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
        else
        if (s_fwd_send (f, owner, method, f->body, f->len, timeout_ms, true) == 0) {
            f->done = true;
            return;                 /* answered by the leg */
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
    if (kind == F_PROVISION) {
        api_msg_t q = { .hdr.type = API_LOGS_REQ };
        s_copy (q.u.api_logs_req.shed, sizeof q.u.api_logs_req.shed, shed);
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
        if (kind == F_LOGS)
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
s_rpc_logs (shed_sched_t *sched, const char *peer, uint64_t token, const uint8_t *body,
            size_t len, void *arg)
{
    (void) peer;
    shed_agents_t *self = arg;
    api_msg_t req;
    if (wire_decode (&api_proto, body, len, &req, NULL) != WIRE_OK) {
        shed_sched_rpc_reply (sched, token, SHED_SCHED_RPC_FAILED, "malformed agents.logs",
                              NULL, 0);
        return;
    }
    if (req.hdr.type != API_LOGS_REQ)
        shed_sched_rpc_reply (sched, token, SHED_SCHED_RPC_FAILED, "agents.logs wants a LOGS "
                              "request", NULL, 0);
    else {
        const api_logs_req_t *r = &req.u.api_logs_req;
        s_shed_t *s = zhashx_lookup (self->sheds, r->shed);
        if (!s)
            s_rpc_error (self, token, API_ERR_NOT_FOUND, "no shed '%s' with an agent on node %s",
                         r->shed, self->name);
        else {
            api_msg_t rep;
            api_logline_t *lines = NULL;
            s_logs_fill (self, s, r, S_LOGS_RPC_MAX, &rep, &lines);
            s_rpc_answer (self, token, &rep);
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
        shed_sched_rpc_reply (sched, token, SHED_SCHED_RPC_FAILED, "agents.provision wants a "
                              "PROVISION request", NULL, 0);
    else {
        const api_provision_req_t *r = &req.u.api_provision_req;
        s_run_t *run = r->run ? s_run_find (self, r->shed, r->run, NULL) : NULL;
        if (run && run->ntokens && !strcmp (run->peer, peer)) {
            /* The RPC layer sent it again (a re-dial): the run already
             * goes on; answer this request with it too. */
            if (run->ntokens < S_RUN_TOKENS)
                run->tokens[run->ntokens++] = token;
            else
                s_rpc_error (self, token, API_ERR_INVALID, "run %llu is already in progress",
                             (unsigned long long) r->run);
        }
        else {
            char err[256];
            api_err_code_t code = API_ERR_INTERNAL;
            if (s_provision_req (self, r, NULL, peer, token, &code, err, sizeof err) != 0)
                s_rpc_error (self, token, code, "%s", err);
            /* else: answered when the run ends */
        }
    }
    wire_msg_free (&api_proto, &req);
}

void
shed_agents_on_address (shed_agents_t *self, shed_agents_addr_fn *fn, void *arg)
{
    assert (self);
    self->addr_fn = fn;
    self->addr_arg = arg;
}

int
shed_agents_route (shed_agents_t *self, shed_sched_t *sched)
{
    assert (self);
    if (!sched) {
        /* The scheduler goes first: answer the nodes waiting on runs here
         * while it can still send. */
        for (s_run_t *r = zlistx_first (self->runs); r; r = zlistx_next (self->runs)) {
            for (size_t i = 0; i < r->ntokens; i++)
                s_rpc_error (self, r->tokens[i], API_ERR_UNAVAILABLE,
                             "node %s is stopping", self->name);
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

/* -------------------------------------------------------------------------
 * Local API: shedctl logs, shedctl provision
 */

static void
s_api_logs (shed_api_call_t *call, const api_msg_t *req, void *arg)
{
    shed_agents_t *self = arg;
    const api_logs_req_t *r = &req->u.api_logs_req;
    s_shed_t *s = zhashx_lookup (self->sheds, r->shed);
    if (!s && self->sched) {
        s_fwd_start (self, call, req, F_LOGS, r->shed, S_LOGS_RPC_TIMEOUT);
        return;
    }
    if (!s) {
        shed_api_reply_error (&call, API_ERR_NOT_FOUND, "no shed '%s' with an agent on node %s",
                              r->shed, self->name);
        return;
    }
    api_msg_t rep;
    api_logline_t *lines = NULL;
    s_logs_fill (self, s, r, S_LOGS_REPLY_MAX, &rep, &lines);
    shed_api_reply (&call, &rep);
    free (lines);
}

static void
s_api_provision (shed_api_call_t *call, const api_msg_t *req, void *arg)
{
    shed_agents_t *self = arg;
    const api_provision_req_t *r = &req->u.api_provision_req;
    if (!zhashx_lookup (self->sheds, r->shed) && self->sched) {
        uint64_t timeout = (r->timeout_ms ? r->timeout_ms : S_RUN_TIMEOUT_MS) + S_PROV_RPC_SLACK;
        s_fwd_start (self, call, req, F_PROVISION, r->shed,
                   timeout > INT32_MAX ? INT32_MAX : (int) timeout);
        return;
    }
    char err[256];
    api_err_code_t code = API_ERR_INTERNAL;
    if (s_provision_req (self, r, call, NULL, 0, &code, err, sizeof err) != 0)
        shed_api_reply_error (&call, code, "%s", err);
    /* else: the call now belongs to the run, answered at PROVISION_DONE */
}

/* -------------------------------------------------------------------------
 * Lifecycle
 */

shed_agents_t *
shed_agents_new (const shed_config_t *cfg, shed_events_t *events, shed_catalog_t *catalog,
                 zloop_t *loop, shed_api_server_t *api, char *err, size_t errlen)
{
    shed_agents_t *self = calloc (1, sizeof *self);
    if (!self) {
        snprintf (err, errlen, "out of memory");
        return NULL;
    }
    self->events = events;
    self->catalog = catalog;
    self->loop = loop;
    snprintf (self->name, sizeof self->name, "%s", cfg->name);
    snprintf (self->data_dir, sizeof self->data_dir, "%s", cfg->data_dir);
    self->sheds = zhashx_new ();
    zhashx_set_destructor (self->sheds, s_shed_free);
    self->cap = AGENT_FRAME_MAX_DEFAULT + 4096;
    self->buf = malloc (self->cap);
    self->log_lines = cfg->agents.log_lines;
    self->services_max = cfg->agents.services_max;
    self->runs = zlistx_new ();
    zlistx_set_destructor (self->runs, s_run_free);
    char publish[SHED_ENDPOINT_MAX + 64];
    snprintf (publish, sizeof publish, BUS_PUBLISH_INPROC_FMT, cfg->data_dir);
    agent_host_config_t hc = { .node = cfg->name,
                               .publish_endpoint = publish,
                               .metrics_interval_ms = cfg->agents.metrics_interval_ms,
                               .heartbeat_ms = cfg->agents.heartbeat_ms,
                               .msgs_per_s = cfg->agents.msgs_per_s,
                               .bytes_per_s = cfg->agents.bytes_per_s,
                               .services_max = cfg->agents.services_max,
                               .streams_max = cfg->agents.streams_max,
                               .accepts_per_s = cfg->agents.accepts_per_s,
                               .owner_publishes_services = true };
    self->host = self->buf ? agent_host_new (&hc) : NULL;
    if (!self->host) {
        snprintf (err, errlen, "cannot start the agent host");
        shed_agents_destroy (&self);
        return NULL;
    }
    zloop_reader (loop, agent_host_events (self->host), s_on_agent, self);
    shed_api_server_on (api, API_AGENTS_REQ, s_api_agents, self);
    shed_api_server_on (api, API_LOGS_REQ, s_api_logs, self);
    shed_api_server_on (api, API_PROVISION_REQ, s_api_provision, self);
    self->runs_timer = zloop_timer (loop, 1000, 0, s_on_runs_timer, self);
    return self;
}

void
shed_agents_destroy (shed_agents_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    shed_agents_t *self = *self_p;
    if (self->host && self->loop)
        zloop_reader_end (self->loop, agent_host_events (self->host));
    if (self->runs_timer > 0 && self->loop)
        zloop_timer_end (self->loop, self->runs_timer);
    zlistx_destroy (&self->runs);
    agent_host_destroy (&self->host);
    zhashx_destroy (&self->sheds);
    free (self->buf);
    free (self);
    *self_p = NULL;
}
