/* node_agents.c - see node_agents.h. */
#include "node/node_agents.h"

#include "bridges/agent_host.h"
#include "bridges/event_msg.h"
#include "cluster/records.h"
#include "common/fileutil.h"
#include "common/log.h"

#include <errno.h>
#include <libgen.h>
#include <string.h>

#define S_COMP  "agents"
#define S_BATCH 256                 /* agent events handled per loop turn */

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

/* What we keep per shed beyond the host's own counters. */
typedef struct {
    char shed[AGENT_NAME_MAX + 1];
    char path[SHED_ENDPOINT_MAX];
    uint64_t published;             /* events handed to the bus */
    uint64_t bus_dropped;           /* events the bus pipe refused */
    zlistx_t *services;             /* char *: catalog ids registered for it */
} s_shed_t;

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
};

static void
s_str_free (void **item)
{
    free (*item);
    *item = NULL;
}

static void
s_shed_free (void **item)
{
    s_shed_t *s = *item;
    if (s) {
        zlistx_destroy (&s->services);
        free (s);
    }
    *item = NULL;
}

/* -------------------------------------------------------------------------
 * Agent services -> catalog
 */

static void
s_service_id (const char *shed, const char *name, char *id, size_t cap)
{
    /* "<shed>.<name>", the shed part cut so the id fits a record name */
    size_t nl = strnlen (name, REC_NAME_MAX);
    size_t sl = strnlen (shed, REC_NAME_MAX);
    if (sl + 1 + nl > REC_NAME_MAX)
        sl = REC_NAME_MAX > nl + 1 ? REC_NAME_MAX - nl - 1 : 0;
    if (cap < sl + nl + 2)
        return;
    memcpy (id, shed, sl);
    id[sl] = '.';
    memcpy (id + sl + 1, name, nl);
    id[sl + 1 + nl] = '\0';
}

static void
s_service_forget (s_shed_t *s, const char *id)
{
    for (char *x = zlistx_first (s->services); x; x = zlistx_next (s->services))
        if (!strcmp (x, id)) {
            zlistx_delete (s->services, zlistx_cursor (s->services));
            return;
        }
}

static void
s_service (shed_agents_t *self, s_shed_t *s, const agent_event_t *ev)
{
    if (!self->catalog)
        return;
    char id[REC_NAME_MAX + 1], err[256];
    switch (ev->msg.hdr.type) {
        case AGENT_SERVICE_REGISTER: {
            const agent_service_register_t *r = &ev->msg.u.agent_service_register;
            rec_service_t svc;
            memset (&svc, 0, sizeof svc);
            snprintf (svc.name, sizeof svc.name, "%s", r->name);
            s_service_id (ev->shed, r->name, id, sizeof id);
            snprintf (svc.id, sizeof svc.id, "%s", id);
            snprintf (svc.shed, sizeof svc.shed, "%s", ev->shed);
            /* TODO(scheduler): the shed's own overlay address once sheds
             * have records; until then the catalog's default (the node's
             * advertise address). */
            svc.port = r->port;
            snprintf (svc.protocol, sizeof svc.protocol, "%.7s", r->protocol);
            svc.tags.n = r->tags.n;
            svc.tags.items = r->tags.items;
            svc.health = REC_HEALTH_PASSING;
            svc.check = REC_CHECK_NONE;
            if (shed_catalog_register (self->catalog, &svc, NULL, err, sizeof err) != 0)
                log_warn (S_COMP, "agent service refused|shed=%s service=%s reason=\"%s\"",
                          ev->shed, r->name, err);
            else {
                s_service_forget (s, id);
                zlistx_add_end (s->services, strdup (id));
            }
            break;
        }
        case AGENT_SERVICE_DEREGISTER:
            s_service_id (ev->shed, ev->msg.u.agent_service_deregister.name, id, sizeof id);
            if (shed_catalog_deregister (self->catalog, id, err, sizeof err) == -1)
                log_warn (S_COMP, "agent service deregister failed|shed=%s id=%s reason=\"%s\"",
                          ev->shed, id, err);
            s_service_forget (s, id);
            break;
        case AGENT_SERVICE_HEALTH: {
            const agent_service_health_t *h = &ev->msg.u.agent_service_health;
            s_service_id (ev->shed, h->name, id, sizeof id);
            /* agent: 1 passing 2 warning 3 critical; records: 0 1 2 */
            int health = h->status >= 1 && h->status <= 3 ? (int) h->status - 1
                                                          : REC_HEALTH_CRITICAL;
            if (shed_catalog_set_health (self->catalog, id, health, h->output, err, sizeof err)
                == -1)
                log_warn (S_COMP, "agent service health failed|shed=%s id=%s reason=\"%s\"",
                          ev->shed, id, err);
            break;
        }
        default:
            break;
    }
}

/* A shed goes away: its services go with it. */
static void
s_services_drop (shed_agents_t *self, s_shed_t *s)
{
    char err[256];
    for (char *id = zlistx_first (s->services); id; id = zlistx_next (s->services))
        if (self->catalog)
            shed_catalog_deregister (self->catalog, id, err, sizeof err);
    zlistx_purge (s->services);
}

/* -------------------------------------------------------------------------
 * Agent events -> bus
 */

static const char *
s_kind (const agent_event_t *ev)
{
    if (ev->kind == AGENT_EVENT_CONNECTED)
        return "agent.hello";
    if (ev->kind == AGENT_EVENT_DISCONNECTED)
        return "agent.disconnected";
    switch (ev->msg.hdr.type) {
        case AGENT_METRICS:              return "agent.metrics";
        case AGENT_PROC_EVENT:           return "agent.proc";
        case AGENT_LOG:                  return "agent.log";
        case AGENT_SERVICE_REGISTER:     return "agent.service_register";
        case AGENT_SERVICE_DEREGISTER:   return "agent.service_deregister";
        case AGENT_SERVICE_HEALTH:       return "agent.service_health";
        case AGENT_PROVISION_OUTPUT:     return "agent.provision_output";
        case AGENT_PROVISION_DONE:       return "agent.provision_done";
        case AGENT_DROPPED:              return "agent.dropped";
        default:                         return "agent.other";
    }
}

static uint64_t
s_close_code (const char *reason)
{
    if (!strncmp (reason, "abuse", 5))
        return AGENT_CLOSE_ABUSE;
    if (!strcmp (reason, "replaced"))
        return AGENT_CLOSE_REPLACED;
    if (!strcmp (reason, "timeout") || !strcmp (reason, "no hello"))
        return AGENT_CLOSE_TIMEOUT;
    return AGENT_CLOSE_SHUTDOWN;
}

static void
s_forward (shed_agents_t *self, agent_event_t *ev)
{
    s_shed_t *s = zhashx_lookup (self->sheds, ev->shed);
    if (!s)
        return;                     /* removed meanwhile */
    char topic[EVENT_TOPIC_MAX + 1];
    if (agent_event_topic (ev, topic, sizeof topic) < 0) {
        s->bus_dropped++;
        return;
    }
    agent_msg_t close_msg = { .hdr.type = AGENT_CLOSE };
    const agent_msg_t *msg = &ev->msg;
    if (ev->kind == AGENT_EVENT_DISCONNECTED) {
        close_msg.u.agent_close.code = s_close_code (ev->reason);
        snprintf (close_msg.u.agent_close.reason, sizeof close_msg.u.agent_close.reason, "%s",
                  ev->reason);
        msg = &close_msg;
    }
    size_t len = 0;
    int rc = wire_encode_into (&agent_proto, msg, self->buf, self->cap, &len);
    if (rc != WIRE_OK) {
        log_warn (S_COMP, "agent event not re-encodable|shed=%s topic=%s reason=\"%s\"", ev->shed,
                  topic, wire_strerror (rc));
        s->bus_dropped++;
        return;
    }
    if (shed_events_publish (self->events, topic, s_kind (ev), self->buf, len) == 0)
        s->published++;
    else
        s->bus_dropped++;
    if (ev->kind == AGENT_EVENT_MESSAGE)
        s_service (self, s, ev);
    if (ev->kind == AGENT_EVENT_CONNECTED)
        log_info (S_COMP, "agent connected|shed=%s version=%s", ev->shed,
                  ev->msg.u.agent_hello.agent_version);
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
    snprintf (s->shed, sizeof s->shed, "%s", shed);
    snprintf (s->path, sizeof s->path, "%s", socket_path);
    s->services = zlistx_new ();
    zlistx_set_destructor (s->services, s_str_free);
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
    a->published = s->published;
    a->bus_dropped = s->bus_dropped;
    agent_host_stats_t st;
    if (agent_host_stats (self->host, s->shed, &st) == 0) {
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
    agent_host_config_t hc = { .node = cfg->name };
    self->host = self->buf ? agent_host_new (&hc) : NULL;
    if (!self->host) {
        snprintf (err, errlen, "cannot start the agent host");
        shed_agents_destroy (&self);
        return NULL;
    }
    zloop_reader (loop, agent_host_events (self->host), s_on_agent, self);
    shed_api_server_on (api, API_AGENTS_REQ, s_api_agents, self);
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
    agent_host_destroy (&self->host);
    zhashx_destroy (&self->sheds);
    free (self->buf);
    free (self);
    *self_p = NULL;
}
