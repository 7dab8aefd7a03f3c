/* node_agents.c - see node_agents.h; node_agents_int.h lists the other
 * files of shed_agents_t. */
#include "node/events/node_agents_int.h"

#include "bridges/bus.h"
#include "common/fileutil.h"
#include "common/log.h"

#include <errno.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>

#define S_BATCH 256 /* agent events handled per loop turn */

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
s_service (shed_agents_t *self, agents_shed_t *s, const agent_event_t *ev,
           const agent_check_out_t *out, bool refused)
{
    if (refused && !out->not_held) {
        if (out->warn)
            log_warn (AGENTS_COMP, "agent service refused|shed=%s service=%s reason=\"%s\"",
                      ev->shed,
                      out->svc.name[0] ? out->svc.name : ev->msg.u.agent_service_register.name,
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
        return; /* not this shed's: nothing to do */
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
            log_debug (AGENTS_COMP,
                       "shed has no address of its own: service published with "
                       "the node's|shed=%s service=%s",
                       ev->shed, svc.name);
        if (shed_catalog_register (self->catalog, &svc, NULL, err, sizeof err) != 0) {
            log_warn (AGENTS_COMP, "agent service refused|shed=%s service=%s reason=\"%s\"",
                      ev->shed, svc.name, err);
            agent_host_count (self->host, ev->shed, AGENT_BAD_CATALOG);
        }
        else if (agent_check_hold (&s->services, out->id) != 0) {
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
            log_warn (AGENTS_COMP, "agent service deregister failed|shed=%s id=%s reason=\"%s\"",
                      ev->shed, out->id, err);
        s_service_publish (self, ev);
        break;
    case AGENT_CHECK_SERVICE_HEALTH:
        if (shed_catalog_set_health (self->catalog, out->id, out->health, out->output, err,
                                     sizeof err)
            == -1)
            log_warn (AGENTS_COMP, "agent service health failed|shed=%s id=%s reason=\"%s\"",
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
s_services_drop (shed_agents_t *self, agents_shed_t *s)
{
    char err[256];
    for (size_t i = 0; self->catalog && i < s->services.n; i++)
        shed_catalog_deregister (self->catalog, s->services.ids[i], err, sizeof err);
    s->services.n = 0;
}

/* -------------------------------------------------------------------------
 * Agent events in
 */

static void
s_forward (shed_agents_t *self, agent_event_t *ev)
{
    agents_shed_t *s = zhashx_lookup (self->sheds, ev->shed);
    if (!s)
        return; /* removed meanwhile */
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
                agent_logs_add (s->logs, out.log);
            break;
        default:
            break;
        }
    }
    agents_run_event (self, ev, checked ? &out : NULL);
    if (ev->kind == AGENT_EVENT_CONNECTED)
        log_info (AGENTS_COMP, "agent connected|shed=%s version=\"%s\"", ev->shed,
                  checked && out.version ? out.version : "");
    else if (ev->kind == AGENT_EVENT_DISCONNECTED)
        log_info (AGENTS_COMP, "agent disconnected|shed=%s reason=\"%s\"", ev->shed, ev->reason);
}

/* The host's log_sink, on the host's thread: a LOG line into its shed's
 * history (what s_forward does with a LOG event when there is no sink). */
static void
s_log_sink (void *arg, const agent_event_t *ev)
{
    if (agent_msg_stream_name_ok (ev->msg.u.agent_log.stream))
        agent_logs_add ((agent_logs_t *) arg, &ev->msg.u.agent_log);
}

static int
s_on_agent (zloop_t *loop, zsock_t *sock, void *arg)
{
    shed_agents_t *self = arg;
    /* At least S_BATCH, and never leave part of a received batch behind:
     * nothing would wake the loop for it (agent_host_events). */
    for (int i = 0; i < S_BATCH || agent_host_buffered (self->host); i++) {
        agent_event_t *ev = agent_host_recv (self->host, 0);
        if (!ev)
            break;
        s_forward (self, ev);
        agent_event_destroy (&ev);
    }
    return 0;
}

/* -------------------------------------------------------------------------
 * Shed listeners
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
    if (!socket_path || strlen (socket_path) >= sizeof ((agents_shed_t *) 0)->path) {
        snprintf (err, errlen, "agent socket path too long");
        return -1;
    }
    char dir[SHED_ENDPOINT_MAX];
    snprintf (dir, sizeof dir, "%s", socket_path);
    if (shed_mkdir_p (dirname (dir), 0700) != 0) {
        snprintf (err, errlen, "%s: %s", socket_path, strerror (errno));
        return -1;
    }
    agents_shed_t *s = zmalloc (sizeof *s);
    s->logs = agent_logs_new (self->log_lines);
    if (!s->logs)
        s->logs = agent_logs_new (0); /* out of memory: keeps no history */
    if (!s->logs) {
        free (s);
        snprintf (err, errlen, "out of memory");
        return -1;
    }
    /* The history is written from the host's thread (s_log_sink): the
     * node's loop never wakes for a LOG. */
    if (agent_host_add_shed_sink (self->host, shed, socket_path, s->logs) != 0) {
        agent_logs_destroy (&s->logs);
        free (s);
        snprintf (err, errlen,
                  "cannot listen for shed '%s' on %s (path over 107 bytes, "
                  "or too many sheds)",
                  shed, socket_path);
        return -1;
    }
    snprintf (s->shed, sizeof s->shed, "%s", shed);
    snprintf (s->path, sizeof s->path, "%s", socket_path);
    agent_check_shed_init (&s->services, self->services_max);
    zhashx_insert (self->sheds, shed, s);
    log_info (AGENTS_COMP, "agent listener up|shed=%s path=%s", shed, socket_path);
    return 0;
}

int
shed_agents_remove (shed_agents_t *self, const char *shed)
{
    assert (self);
    agents_shed_t *s = shed ? zhashx_lookup (self->sheds, shed) : NULL;
    if (!s)
        return -1;
    agent_host_remove_shed (self->host, shed);
    /* The DISCONNECTED that follows still reaches the bus: hand it over
     * before forgetting the shed. */
    s_on_agent (self->loop, NULL, self);
    s_services_drop (self, s);
    agents_runs_fail (self, shed, "the shed's agent listener was removed");
    zhashx_delete (self->sheds, shed);
    log_info (AGENTS_COMP, "agent listener removed|shed=%s", shed);
    return 0;
}

void
shed_agents_on_address (shed_agents_t *self, shed_agents_addr_fn *fn, void *arg)
{
    assert (self);
    self->addr_fn = fn;
    self->addr_arg = arg;
}

/* -------------------------------------------------------------------------
 * Lifecycle
 */

static void
s_shed_free (void **item)
{
    agents_shed_t *s = *item;
    if (s) {
        agent_check_shed_free (&s->services);
        agent_logs_destroy (&s->logs);
        free (s);
    }
    *item = NULL;
}

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
    self->log_lines = cfg->agents.log_lines;
    self->services_max = cfg->agents.services_max;
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
                               .owner_publishes_services = true,
                               .log_sink = s_log_sink };
    self->host = agent_host_new (&hc);
    if (!self->host) {
        snprintf (err, errlen, "cannot start the agent host");
        shed_agents_destroy (&self);
        return NULL;
    }
    zloop_reader (loop, agent_host_events (self->host), s_on_agent, self);
    if (agents_runs_start (self) != 0) {
        snprintf (err, errlen, "out of memory");
        shed_agents_destroy (&self);
        return NULL;
    }
    agents_api_on (self, api);
    return self;
}

int
shed_agents_set_limits (shed_agents_t *self, const shed_config_t *cfg)
{
    assert (self);
    self->log_lines = cfg->agents.log_lines;
    self->services_max = cfg->agents.services_max;
    /* The catalog's bound follows the host's (names held stay). */
    for (agents_shed_t *s = zhashx_first (self->sheds); s; s = zhashx_next (self->sheds))
        agent_check_shed_set_max (&s->services, self->services_max);
    agent_host_config_t limits = { .metrics_interval_ms = cfg->agents.metrics_interval_ms,
                                   .heartbeat_ms = cfg->agents.heartbeat_ms,
                                   .msgs_per_s = cfg->agents.msgs_per_s,
                                   .bytes_per_s = cfg->agents.bytes_per_s,
                                   .services_max = cfg->agents.services_max,
                                   .streams_max = cfg->agents.streams_max,
                                   .accepts_per_s = cfg->agents.accepts_per_s };
    return agent_host_set_limits (self->host, &limits);
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
    free (self);
    *self_p = NULL;
}
