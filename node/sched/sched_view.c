/*
 * sched_view.c - see sched_view.h.
 */
#include "node/sched/sched_view.h"

#include "common/log.h"

#include <czmq.h>
#include <string.h>

struct _sched_view_t {
    zhashx_t *nodes; /* origin -> sched_view_node_t (owned) */
};

static void
s_node_free (void **item)
{
    sched_view_node_t *n = (sched_view_node_t *) *item;
    if (n) {
        wire_msg_free (&rec_proto, &n->m);
        free (n);
        *item = NULL;
    }
}

/* A node record (key == origin) inserted or updated: decode it in place of
 * what we held. A record that does not decode is dropped from the view
 * (placement skips a node it cannot read, as before). */
static void
s_put (sched_view_t *self, const shed_record_t *rec)
{
    if (strcmp (rec->origin, rec->key) != 0)
        return;
    sched_view_node_t *n = (sched_view_node_t *) calloc (1, sizeof *n);
    if (!n)
        return;
    if (wire_decode (&rec_proto, rec->value, rec->len, &n->m, NULL) != WIRE_OK
        || n->m.hdr.type != REC_NODE) {
        wire_msg_free (&rec_proto, &n->m);
        free (n);
        zhashx_delete (self->nodes, rec->origin);
        return;
    }
    snprintf (n->origin, sizeof n->origin, "%s", rec->origin);
    snprintf (n->status, sizeof n->status, "%s", rec->status);
    const rec_node_t *r = &n->m.u.rec_node;
    n->ntags = r->tags.n < REC_TAGS_MAX ? r->tags.n : REC_TAGS_MAX;
    for (size_t t = 0; t < n->ntags; t++)
        n->tags[t] = (place_tag_t){ r->tags.items[t].key, r->tags.items[t].value };
    zhashx_update (self->nodes, n->origin, n);
}

static void
s_on_node (const shed_record_t *rec, void *arg)
{
    sched_view_t *self = (sched_view_t *) arg;
    if (rec->event && strcmp (rec->event, "DELETED") == 0)
        zhashx_delete (self->nodes, rec->origin);
    else
        s_put (self, rec);
}

/* Origin status: alive <-> unreachable keeps the record (marked), removed
 * drops the origin's records, so its node leaves the view. */
static void
s_on_origin (const shed_record_t *rec, void *arg)
{
    sched_view_t *self = (sched_view_t *) arg;
    sched_view_node_t *n = (sched_view_node_t *) zhashx_lookup (self->nodes, rec->origin);
    if (!n)
        return;
    if (rec->status && strcmp (rec->status, "removed") == 0)
        zhashx_delete (self->nodes, rec->origin);
    else if (rec->status)
        snprintf (n->status, sizeof n->status, "%s", rec->status);
}

static void
s_seed (const shed_record_t *rec, void *arg)
{
    s_put ((sched_view_t *) arg, rec);
}

sched_view_t *
sched_view_new (shed_nstate_t *state)
{
    sched_view_t *self = (sched_view_t *) calloc (1, sizeof *self);
    if (!self)
        return NULL;
    self->nodes = zhashx_new ();
    if (!self->nodes) {
        free (self);
        return NULL;
    }
    zhashx_set_destructor (self->nodes, s_node_free);
    shed_nstate_list (state, REC_KIND_NODE, s_seed, self);
    shed_nstate_on_change (state, REC_KIND_NODE, s_on_node, self);
    shed_nstate_on_change (state, "$origin", s_on_origin, self);
    return self;
}

void
sched_view_destroy (sched_view_t **self_p)
{
    if (self_p && *self_p) {
        zhashx_destroy (&(*self_p)->nodes);
        free (*self_p);
        *self_p = NULL;
    }
}

size_t
sched_view_size (sched_view_t *self)
{
    return zhashx_size (self->nodes);
}

void
sched_view_each (sched_view_t *self, sched_view_fn *fn, void *arg)
{
    for (sched_view_node_t *n = (sched_view_node_t *) zhashx_first (self->nodes); n;
         n = (sched_view_node_t *) zhashx_next (self->nodes))
        fn (n, arg);
}
