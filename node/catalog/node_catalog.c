/*
 * node_catalog.c - see node_catalog.h. This file owns the catalog's
 * lifecycle, this node's own service records (in and out of the replicated
 * state) and registration; health checks, the view with its DNS zone and
 * watches, and the API handlers live beside it (node_catalog_int.h lists
 * the files).
 */
#include "node/catalog/node_catalog_int.h"

#include <string.h>

/* -------------------------------------------------------------------------
 * Records
 */

int
ncat_put (shed_catalog_t *self, const rec_service_t *svc, char *err, size_t errlen)
{
    uint8_t *buf = NULL;
    size_t len = 0;
    if (catalog_encode (svc, &buf, &len, err, errlen) != 0)
        return -1;
    char key[CATALOG_KEY_MAX + 1];
    catalog_key (svc->name, svc->id, key, sizeof key);
    int rc = shed_nstate_put (self->state, REC_KIND_SERVICE, key, buf, len, err, errlen);
    free (buf);
    return rc;
}

/* Copy `svc` into l->svc, its tags into l->tags. */
void
ncat_local_set (ncat_local_t *l, const rec_service_t *svc)
{
    size_t n = svc->tags.n < REC_TAGS_MAX ? svc->tags.n : REC_TAGS_MAX;
    if (n && svc->tags.items != l->tags)
        memmove (l->tags, svc->tags.items, n * sizeof l->tags[0]);
    l->svc = *svc;
    l->svc.tags.n = n;
    l->svc.tags.items = l->tags;
    catalog_key (l->svc.name, l->svc.id, l->key, sizeof l->key);
}

ncat_local_t *
ncat_local_find (shed_catalog_t *self, const char *key)
{
    for (ncat_local_t *l = zlistx_first (self->locals); l; l = zlistx_next (self->locals))
        if (strcmp (l->key, key) == 0)
            return l;
    return NULL;
}

/* -------------------------------------------------------------------------
 * Registration
 */

int
shed_catalog_register (shed_catalog_t *self, const rec_service_t *svc, rec_service_t *out,
                       char *err, size_t errlen)
{
    assert (self);
    rec_service_t s = *svc;
    wire_tag_t tags[REC_TAGS_MAX];
    if (s.tags.n > REC_TAGS_MAX) {
        snprintf (err, errlen, "at most %d tags", REC_TAGS_MAX);
        return -1;
    }
    for (size_t i = 0; i < s.tags.n; i++)
        tags[i] = s.tags.items[i];
    s.tags.items = tags;
    if (catalog_prepare (&s, self->name, self->default_addr, err, errlen) != 0)
        return -1;
    char key[CATALOG_KEY_MAX + 1];
    catalog_key (s.name, s.id, key, sizeof key);
    for (ncat_local_t *l = zlistx_first (self->locals); l; l = zlistx_next (self->locals))
        if (strcmp (l->svc.id, s.id) == 0 && strcmp (l->svc.name, s.name) != 0) {
            snprintf (err, errlen, "id '%s' is already used by service '%s' on this node", s.id,
                      l->svc.name);
            return -1;
        }
    ncat_local_t *old = ncat_local_find (self, key);
    bool same_check =
        old && old->svc.check == s.check && strcmp (old->svc.check_target, s.check_target) == 0;
    if (s.check != REC_CHECK_NONE) {
        /* The check decides health. An unchanged check keeps what it last
         * found; a new one starts critical until its first run (Consul's
         * rule: never serve what has not been checked). */
        if (same_check) {
            s.health = old->svc.health;
            snprintf (s.output, sizeof s.output, "%s", old->svc.output);
        }
        else {
            s.health = REC_HEALTH_CRITICAL;
            snprintf (s.output, sizeof s.output, "awaiting first check");
        }
    }
    s.updated_ms = (uint64_t) zclock_time ();
    if (ncat_put (self, &s, err, errlen) != 0)
        return -1;
    ncat_local_t *l = old;
    if (l) {
        bool rearm = !same_check || l->svc.interval_ms != s.interval_ms;
        ncat_local_set (l, &s);
        if (rearm)
            ncat_checks_arm (l);
    }
    else {
        l = ncat_local_new (self, &s);
        if (!l) {
            snprintf (err, errlen, "out of memory");
            return -1;
        }
        ncat_checks_arm (l);
    }
    log_info ("catalog", "service %s|service=%s id=%s address=%s port=%" PRIu64 " check=%s",
              old ? "updated" : "registered", l->svc.name, l->svc.id, l->svc.address, l->svc.port,
              catalog_check_name (l->svc.check));
    if (out)
        *out = l->svc;
    ncat_schedule_rebuild (self);
    return 0;
}

/* The local instance NAME_OR_ID designates, or NULL with a reason; *rc is
 * -2 when nothing matches, -1 when ambiguous. */
static ncat_local_t *
s_local_designate (shed_catalog_t *self, const char *name_or_id, int *rc, char *err, size_t errlen)
{
    for (ncat_local_t *l = zlistx_first (self->locals); l; l = zlistx_next (self->locals))
        if (strcmp (l->svc.id, name_or_id) == 0)
            return l;
    ncat_local_t *found = NULL;
    size_t count = 0;
    char ids[256] = "";
    for (ncat_local_t *l = zlistx_first (self->locals); l; l = zlistx_next (self->locals))
        if (strcmp (l->svc.name, name_or_id) == 0) {
            found = l;
            size_t used = strlen (ids);
            snprintf (ids + used, sizeof ids - used, "%s%s", count ? ", " : "", l->svc.id);
            count++;
        }
    if (count == 1)
        return found;
    if (count == 0) {
        snprintf (err, errlen,
                  "no service or id '%s' registered on this node (deregister on the node "
                  "that registered it)",
                  name_or_id);
        *rc = -2;
    }
    else {
        snprintf (err, errlen, "service '%s' has %zu instances here (ids: %s): give an id",
                  name_or_id, count, ids);
        *rc = -1;
    }
    return NULL;
}

int
shed_catalog_deregister (shed_catalog_t *self, const char *name_or_id, char *err, size_t errlen)
{
    assert (self);
    int rc = -1;
    ncat_local_t *l = s_local_designate (self, name_or_id, &rc, err, errlen);
    if (!l)
        return rc;
    if (shed_nstate_delete (self->state, REC_KIND_SERVICE, l->key, err, errlen) != 0)
        return -1;
    log_info ("catalog", "service deregistered|service=%s id=%s", l->svc.name, l->svc.id);
    ncat_local_remove (self, l);
    ncat_schedule_rebuild (self);
    return 0;
}

int
shed_catalog_set_health (shed_catalog_t *self, const char *id, int health, const char *output,
                         char *err, size_t errlen)
{
    assert (self);
    int rc = -1;
    ncat_local_t *l = s_local_designate (self, id, &rc, err, errlen);
    if (!l)
        return rc;
    if (l->svc.check != REC_CHECK_NONE) {
        snprintf (err, errlen, "service '%s' has a %s check: its health is the check's", l->svc.id,
                  catalog_check_name (l->svc.check));
        return -1;
    }
    if (health < REC_HEALTH_PASSING || health > REC_HEALTH_CRITICAL) {
        snprintf (err, errlen, "health must be passing, warning or critical");
        return -1;
    }
    output = output ? output : "";
    if ((uint64_t) health == l->svc.health && strcmp (output, l->svc.output) == 0)
        return 0;
    rec_service_t s = l->svc;
    s.health = (uint64_t) health;
    snprintf (s.output, sizeof s.output, "%s", output);
    s.updated_ms = (uint64_t) zclock_time ();
    if (ncat_put (self, &s, err, errlen) != 0)
        return -1;
    l->svc = s;
    ncat_schedule_rebuild (self);
    return 0;
}

int
shed_catalog_dns_stats (shed_catalog_t *self, dns_server_stats_t *out)
{
    assert (self);
    if (!self->dns)
        return -1;
    return shed_dns_stats (self->dns, false, out);
}

uint16_t
shed_catalog_dns_port (shed_catalog_t *self)
{
    assert (self);
    return self->dns ? shed_dns_port (self->dns) : 0;
}

shed_dns_t *
shed_catalog_dns (shed_catalog_t *self)
{
    assert (self);
    return self->dns;
}

/* -------------------------------------------------------------------------
 * Lifecycle
 */

static void
s_load_local (const shed_record_t *rec, void *arg)
{
    shed_catalog_t *self = arg;
    if (strcmp (rec->origin, self->name) != 0)
        return;
    rec_msg_t msg;
    char err[160];
    if (catalog_decode (rec->value, rec->len, &msg, err, sizeof err) != 0) {
        log_warn ("catalog", "own service record does not decode: left alone|key=%s error=\"%s\"",
                  rec->key, err);
        return;
    }
    ncat_local_t *l = ncat_local_new (self, &msg.u.rec_service);
    wire_msg_free (&rec_proto, &msg);
    if (l && strcmp (l->key, rec->key) != 0) {
        log_warn ("catalog", "own service record key does not match its content|key=%s", rec->key);
        ncat_local_remove (self, l);
    }
}

shed_catalog_t *
shed_catalog_new (const shed_config_t *cfg, shed_nstate_t *state, zloop_t *loop,
                  shed_api_server_t *api, char *err, size_t errlen)
{
    shed_catalog_t *self = calloc (1, sizeof *self);
    if (!self) {
        snprintf (err, errlen, "out of memory");
        return NULL;
    }
    self->loop = loop;
    self->state = state;
    self->api = api;
    self->rebuild_id = -1;
    snprintf (self->name, sizeof self->name, "%s", cfg->name);
    snprintf (self->default_addr, sizeof self->default_addr, "%s", cfg->advertise_addr);
    self->view = catalog_new ();
    self->locals = zlistx_new ();
    self->watches = zlistx_new ();
    if (!self->view || !self->locals || !self->watches) {
        snprintf (err, errlen, "out of memory");
        shed_catalog_destroy (&self);
        return NULL;
    }
    if (cfg->dns.enabled) {
        /* Publishes an empty zone until our first rebuild: NXDOMAIN
         * rather than SERVFAIL. */
        self->dns = shed_dns_new (cfg, loop, err, errlen);
        if (!self->dns) {
            shed_catalog_destroy (&self);
            return NULL;
        }
        snprintf (self->dns_domain, sizeof self->dns_domain, "%s", cfg->dns.domain);
    }
    /* Our registrations persisted with our records: take them back and
     * resume their checks. */
    if (shed_nstate_list (state, REC_KIND_SERVICE, s_load_local, self) < 0) {
        snprintf (err, errlen, "cannot read service records from the state");
        shed_catalog_destroy (&self);
        return NULL;
    }
    for (ncat_local_t *l = zlistx_first (self->locals); l; l = zlistx_next (self->locals))
        ncat_checks_arm (l);
    shed_nstate_on_change (state, REC_KIND_SERVICE, ncat_on_record, self);
    shed_nstate_on_change (state, REC_KIND_NODE, ncat_on_record, self);
    shed_nstate_on_change (state, REC_KIND_SHED, ncat_on_record, self);
    shed_nstate_on_change (state, "$origin", ncat_on_record, self);
    ncat_rebuild (self);

    shed_api_server_on (api, API_SVC_REGISTER_REQ, ncat_api_register, self);
    shed_api_server_on (api, API_SVC_DEREGISTER_REQ, ncat_api_deregister, self);
    shed_api_server_on (api, API_SVC_LIST_REQ, ncat_api_list, self);
    shed_api_server_on (api, API_SVC_SHOW_REQ, ncat_api_show, self);
    shed_api_server_on (api, API_SVC_WATCH_REQ, ncat_api_watch, self);
    log_info ("catalog", "started|local_services=%zu dns=%s domain=%s port=%u",
              zlistx_size (self->locals), self->dns ? cfg->dns.addr : "off",
              self->dns ? cfg->dns.domain : "-", (unsigned) shed_catalog_dns_port (self));
    return self;
}

void
shed_catalog_destroy (shed_catalog_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    shed_catalog_t *self = *self_p;
    if (self->watches) {
        ncat_watch_t *w;
        while ((w = zlistx_first (self->watches))) {
            shed_api_reply_error (&w->call, API_ERR_UNAVAILABLE, "shed-node is shutting down");
            ncat_watch_free (self, w);
        }
        zlistx_destroy (&self->watches);
    }
    if (self->locals) {
        ncat_local_t *l;
        while ((l = zlistx_first (self->locals)))
            ncat_local_remove (self, l);
        zlistx_destroy (&self->locals);
    }
    if (self->rebuild_id >= 0)
        zloop_timer_end (self->loop, self->rebuild_id);
    shed_dns_destroy (&self->dns);
    catalog_destroy (&self->view);
    free (self);
    *self_p = NULL;
}
