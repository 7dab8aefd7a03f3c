/*
 * node_catalog_api.c - the local API's service requests (register,
 * deregister, list, show, watch): decoding them and answering. Separate
 * because it is the catalog's whole surface to shedctl, thin over the
 * functions in node_catalog.c and node_catalog_view.c.
 */
#include "node/catalog/node_catalog_int.h"

#include <string.h>

/* -------------------------------------------------------------------------
 * API handlers
 */

void
ncat_api_register (shed_api_call_t *call, const api_msg_t *req, void *arg)
{
    shed_catalog_t *self = arg;
    const api_svc_register_req_t *r = &req->u.api_svc_register_req;
    rec_service_t s;
    memset (&s, 0, sizeof s);
    snprintf (s.name, sizeof s.name, "%s", r->name);
    snprintf (s.id, sizeof s.id, "%s", r->id);
    snprintf (s.shed, sizeof s.shed, "%s", r->shed);
    snprintf (s.address, sizeof s.address, "%s", r->address);
    s.port = r->port;
    snprintf (s.protocol, sizeof s.protocol, "%s", r->protocol);
    s.tags = r->tags;
    s.health = r->health;
    s.check = r->check;
    snprintf (s.check_target, sizeof s.check_target, "%s", r->check_target);
    s.interval_ms = r->interval_ms;
    char err[256];
    rec_service_t stored;
    if (shed_catalog_register (self, &s, &stored, err, sizeof err) != 0) {
        shed_api_reply_error (&call, API_ERR_INVALID, "%s", err);
        return;
    }
    catalog_instance_t inst = { .svc = stored };
    api_svc_t item;
    ncat_to_api (&inst, &item);
    api_msg_t rep = { .hdr.type = API_SVC_LIST_REP };
    rep.u.api_svc_list_rep.index = catalog_index (self->view);
    rep.u.api_svc_list_rep.services.n = 1;
    rep.u.api_svc_list_rep.services.items = &item;
    shed_api_reply (&call, &rep);
}

void
ncat_api_deregister (shed_api_call_t *call, const api_msg_t *req, void *arg)
{
    shed_catalog_t *self = arg;
    const char *what = req->u.api_svc_deregister_req.service;
    char err[256];
    int rc = shed_catalog_deregister (self, what, err, sizeof err);
    if (rc != 0) {
        shed_api_reply_error (&call, rc == -2 ? API_ERR_NOT_FOUND : API_ERR_INVALID, "%s", err);
        return;
    }
    api_msg_t rep = { .hdr.type = API_OK };
    snprintf (rep.u.api_ok.message, sizeof rep.u.api_ok.message, "deregistered %s", what);
    shed_api_reply (&call, &rep);
}

void
ncat_api_list (shed_api_call_t *call, const api_msg_t *req, void *arg)
{
    shed_catalog_t *self = arg;
    ncat_flush (self);
    ncat_reply_list (self, &call, req->u.api_svc_list_req.name, req->u.api_svc_list_req.all);
}

void
ncat_api_show (shed_api_call_t *call, const api_msg_t *req, void *arg)
{
    shed_catalog_t *self = arg;
    ncat_flush (self);
    const char *name = req->u.api_svc_show_req.name;
    if (catalog_find (self->view, name, NULL) == 0) {
        shed_api_reply_error (&call, API_ERR_NOT_FOUND, "no service '%s' in the catalog", name);
        return;
    }
    ncat_reply_list (self, &call, name, true);
}

void
ncat_api_watch (shed_api_call_t *call, const api_msg_t *req, void *arg)
{
    shed_catalog_t *self = arg;
    const api_svc_watch_req_t *r = &req->u.api_svc_watch_req;
    ncat_flush (self);
    if (catalog_watch_ready (self->view, r->name, r->index)) {
        ncat_reply_list (self, &call, r->name, true);
        return;
    }
    if (zlistx_size (self->watches) >= CATALOG_WATCHES_MAX) {
        shed_api_reply_error (&call, API_ERR_UNAVAILABLE,
                              "too many blocking queries held (%d): retry later",
                              CATALOG_WATCHES_MAX);
        return;
    }
    ncat_watch_t *w = calloc (1, sizeof *w);
    if (!w) {
        shed_api_reply_error (&call, API_ERR_INTERNAL, "out of memory");
        return;
    }
    w->owner = self;
    w->call = call;
    snprintf (w->name, sizeof w->name, "%s", r->name);
    w->index = r->index;
    uint64_t wait = r->wait_ms ? r->wait_ms : CATALOG_WATCH_DEFAULT_MS;
    w->timer_id = zloop_timer (self->loop, (size_t) wait, 1, ncat_on_watch_timeout, self);
    w->handle = zlistx_add_end (self->watches, w);
}
