/*
 * node_catalog_view.c - the catalog view: rebuilding it from the records
 * (debounced), feeding the DNS zone from it, and the blocking queries
 * (watches) it wakes. Separate because it is the read side every consumer
 * sees, independent of how this node's own records are kept.
 */
#include "node/catalog/node_catalog_int.h"

#include <inttypes.h>
#include <string.h>

/* -------------------------------------------------------------------------
 * View, DNS, watches
 */

static void
s_publish_zone (shed_catalog_t *self)
{
    if (!self->dns)
        return;
    dns_zone_builder_t *zb = dns_zone_builder_new ();
    if (!zb)
        return;
    for (size_t i = 0; i < catalog_node_count (self->view); i++) {
        const catalog_node_t *n = catalog_node_at (self->view, i);
        if (dns_zone_builder_add_node (zb, n->name, n->addr) != 0)
            log_debug ("catalog", "node not served by DNS|node=%s addr=%s", n->name, n->addr);
    }
    for (size_t i = 0; i < catalog_shed_count (self->view); i++) {
        const catalog_shed_t *sh = catalog_shed_at (self->view, i);
        if (!sh->unreachable && dns_zone_builder_add_shed (zb, sh->name, sh->addr) != 0)
            log_debug ("catalog", "shed not served by DNS|shed=%s addr=%s", sh->name, sh->addr);
    }
    for (size_t i = 0; i < catalog_size (self->view); i++) {
        const catalog_instance_t *inst = catalog_at (self->view, i);
        /* DNS tags are single labels: "K" for a tag without value, "K-V"
         * otherwise; tags that cannot be labels are skipped by the zone. */
        char labels[REC_TAGS_MAX][WIRE_TAG_KEY_MAX + WIRE_TAG_VALUE_MAX + 2];
        const char *tags[REC_TAGS_MAX + 1];
        size_t ntags = 0;
        /* A udp service also carries the label "udp", so the RFC 2782 form
         * _NAME._udp.service finds it (the resolver reads _PROTO other than
         * _tcp as a tag; _tcp means any protocol, as in Consul). */
        if (strcmp (inst->svc.protocol, "udp") == 0)
            tags[ntags++] = "udp";
        for (size_t t = 0; t < inst->svc.tags.n && t < REC_TAGS_MAX; t++) {
            const wire_tag_t *tag = &inst->svc.tags.items[t];
            if (tag->value[0])
                snprintf (labels[t], sizeof labels[0], "%s-%s", tag->key, tag->value);
            else
                snprintf (labels[t], sizeof labels[0], "%s", tag->key);
            tags[ntags] = labels[t];
            ntags++;
        }
        dns_instance_t di = {
            .service = inst->svc.name,
            .node = inst->svc.node,
            .shed = inst->svc.shed,
            .address = inst->svc.address,
            .port = (uint16_t) inst->svc.port,
            /* Instances that are not served still go in as critical: the
             * zone then knows the name exists (NODATA, not NXDOMAIN). */
            .health = !catalog_instance_serving (inst)         ? DNS_HEALTH_CRITICAL
                      : inst->svc.health == REC_HEALTH_WARNING ? DNS_HEALTH_WARNING
                                                               : DNS_HEALTH_PASSING,
            .tags = tags,
            .tag_count = ntags,
        };
        if (dns_zone_builder_add_service_instance (zb, &di) != 0)
            log_debug ("catalog", "instance not served by DNS|service=%s id=%s node=%s",
                       inst->svc.name, inst->svc.id, inst->svc.node);
    }
    dns_zone_t *zone = dns_zone_builder_build (&zb);
    if (zone) {
        shed_dns_publish (self->dns, zone);
        dns_zone_unref (&zone);
    }
}

void
ncat_to_api (const catalog_instance_t *inst, api_svc_t *out)
{
    const rec_service_t *s = &inst->svc;
    memset (out, 0, sizeof *out);
    snprintf (out->name, sizeof out->name, "%s", s->name);
    snprintf (out->id, sizeof out->id, "%s", s->id);
    snprintf (out->node, sizeof out->node, "%s", s->node);
    snprintf (out->shed, sizeof out->shed, "%s", s->shed);
    snprintf (out->address, sizeof out->address, "%s", s->address);
    out->port = s->port;
    snprintf (out->protocol, sizeof out->protocol, "%s", s->protocol);
    out->tags = s->tags; /* borrowed for encoding */
    out->health = s->health;
    out->check = s->check;
    snprintf (out->check_target, sizeof out->check_target, "%s", s->check_target);
    out->interval_ms = s->interval_ms;
    snprintf (out->output, sizeof out->output, "%s", s->output);
    out->updated_ms = s->updated_ms;
    snprintf (out->status, sizeof out->status, "%s", inst->unreachable ? "unreachable" : "alive");
    out->serving = catalog_instance_serving (inst);
}

/* Answer `call` with the instances of `name` ("" = all); only served ones
 * unless `all`. */
void
ncat_reply_list (shed_catalog_t *self, shed_api_call_t **call_p, const char *name, bool all)
{
    size_t first = 0, n;
    if (name && *name)
        n = catalog_find (self->view, name, &first);
    else
        n = catalog_size (self->view);
    api_svc_t *items = n ? calloc (n, sizeof *items) : NULL;
    if (n && !items) {
        shed_api_reply_error (call_p, API_ERR_INTERNAL, "out of memory");
        return;
    }
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        const catalog_instance_t *inst = catalog_at (self->view, first + i);
        if (all || catalog_instance_serving (inst))
            ncat_to_api (inst, &items[k++]);
    }
    api_msg_t rep = { .hdr.type = API_SVC_LIST_REP };
    rep.u.api_svc_list_rep.index = catalog_index (self->view);
    rep.u.api_svc_list_rep.services.n = k;
    rep.u.api_svc_list_rep.services.items = items;
    shed_api_reply (call_p, &rep);
    free (items);
}

void
ncat_watch_free (shed_catalog_t *self, ncat_watch_t *w)
{
    if (w->timer_id >= 0)
        zloop_timer_end (self->loop, w->timer_id);
    zlistx_detach (self->watches, w->handle);
    free (w);
}

static void
s_watches_wake (shed_catalog_t *self)
{
    ncat_watch_t *w = zlistx_first (self->watches);
    while (w) {
        ncat_watch_t *next = zlistx_next (self->watches);
        if (catalog_watch_ready (self->view, w->name, w->index)) {
            ncat_reply_list (self, &w->call, w->name, true);
            ncat_watch_free (self, w);
        }
        w = next;
    }
}

int
ncat_on_watch_timeout (zloop_t *loop, int timer_id, void *arg)
{
    shed_catalog_t *self = arg;
    for (ncat_watch_t *w = zlistx_first (self->watches); w; w = zlistx_next (self->watches))
        if (w->timer_id == timer_id) {
            w->timer_id = -1; /* once-timer: zloop frees it after this call */
            ncat_reply_list (self, &w->call, w->name, true);
            ncat_watch_free (self, w);
            break;
        }
    return 0;
}

static void
s_collect (const shed_record_t *rec, void *arg)
{
    shed_catalog_t *self = arg;
    char err[256];
    catalog_add (self->view, rec->kind, rec->origin, rec->key,
                 strcmp (rec->status, "unreachable") == 0, rec->value, rec->len, err, sizeof err);
    (void) err;
}

/* Rebuild the view from the state, publish DNS, wake watches. */
int
ncat_rebuild (shed_catalog_t *self)
{
    if (self->rebuild_id >= 0)
        zloop_timer_end (self->loop, self->rebuild_id);
    self->rebuild_id = -1;
    self->last_rebuild_ms = zclock_mono ();
    catalog_begin (self->view);
    if (shed_nstate_list (self->state, REC_KIND_SERVICE, s_collect, self) < 0
        || shed_nstate_list (self->state, REC_KIND_NODE, s_collect, self) < 0
        || shed_nstate_list (self->state, REC_KIND_SHED, s_collect, self) < 0) {
        log_error ("catalog", "cannot list records from the state actor");
        catalog_begin (self->view); /* drop the partial snapshot */
        return -1;
    }
    int changed = catalog_commit (self->view);
    if (catalog_bad_records (self->view) > self->last_bad) {
        log_warn ("catalog",
                  "records left out of the catalog (malformed or inconsistent)|"
                  "total=%" PRIu64,
                  catalog_bad_records (self->view));
        self->last_bad = catalog_bad_records (self->view);
    }
    if (changed) {
        log_debug ("catalog", "view rebuilt|index=%" PRIu64 " instances=%zu nodes=%zu",
                   catalog_index (self->view), catalog_size (self->view),
                   catalog_node_count (self->view));
        s_publish_zone (self);
    }
    if (changed & CATALOG_CHANGED_SERVICES)
        s_watches_wake (self);
    return 0;
}

static int
s_on_rebuild (zloop_t *loop, int timer_id, void *arg)
{
    shed_catalog_t *self = arg;
    if (timer_id != self->rebuild_id)
        return 0;          /* ended earlier in this pass */
    self->rebuild_id = -1; /* once-timer: zloop frees it after this call */
    ncat_rebuild (self);
    return 0;
}

/* Coalesce: one rebuild per burst, none sooner than CATALOG_REBUILD_MIN_MS
 * after the last, so DNS and watches are current within ~100 ms. */
void
ncat_schedule_rebuild (shed_catalog_t *self)
{
    if (self->rebuild_id >= 0)
        return;
    int64_t now = zclock_mono ();
    int64_t at = now + CATALOG_REBUILD_DELAY_MS;
    if (at < self->last_rebuild_ms + CATALOG_REBUILD_MIN_MS)
        at = self->last_rebuild_ms + CATALOG_REBUILD_MIN_MS;
    self->rebuild_id = zloop_timer (self->loop, (size_t) (at - now), 1, s_on_rebuild, self);
}

/* Reads first apply a pending rebuild: a client that just registered sees
 * its instance in the next list. */
void
ncat_flush (shed_catalog_t *self)
{
    if (self->rebuild_id >= 0)
        ncat_rebuild (self);
}

void
ncat_on_record (const shed_record_t *rec, void *arg)
{
    ncat_schedule_rebuild ((shed_catalog_t *) arg);
}
