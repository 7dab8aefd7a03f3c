/* sched_names.c - the name coordinator (docs/scheduling.md, "Names"): the
 * RESERVE and RELEASE requests served here for the names whose coordinator
 * this node is, and the reservations granted (sched_int.h). */
#include "node/sched/sched_int.h"

#include "common/log.h"

#include <string.h>

void
sched__resv_drop (shed_sched_t *self, const char *name)
{
    if (zhashx_lookup (self->resv, name)) {
        char err[256];
        shed_nstate_delete (self->state, REC_KIND_NAME, name, err, sizeof err);
        zhashx_delete (self->resv, name);
    }
}

typedef struct {
    names_resv_t *items;
    rec_msg_t *msgs;
    size_t n, cap;
} s_resvs_t;

static void
s_collect_name (const shed_record_t *rec, void *arg)
{
    s_resvs_t *v = arg;
    if (v->n == v->cap) {
        size_t cap = v->cap ? v->cap * 2 : 16;
        rec_msg_t *msgs = realloc (v->msgs, cap * sizeof *msgs);
        if (!msgs)
            return;
        v->msgs = msgs;
        v->cap = cap;
    }
    rec_msg_t *m = &v->msgs[v->n];
    if (wire_decode (&rec_proto, rec->value, rec->len, m, NULL) != WIRE_OK
        || m->hdr.type != REC_NAME) {
        wire_msg_free (&rec_proto, m);
        return;
    }
    v->n++;
}

void
sched__serve_reserve (shed_sched_t *self, const char *origin, const nsched_reserve_t *req,
                      nsched_reserve_rep_t *rep)
{
    s_sheds_t sheds;
    sched__sheds_load (self, &sheds, false);
    names_shed_t *ns = calloc (sheds.n + 1, sizeof *ns);
    assert (ns);
    for (size_t i = 0; i < sheds.n; i++) {
        const rec_shed_t *r = &sheds.items[i].m.u.rec_shed;
        ns[i] = (names_shed_t){ r->name, sheds.items[i].origin, r->request_id, r->created_ms,
                                false,   sched__shed_moves (r) };
    }
    /* Reservations: the replicated `name` records of every origin (a
     * previous coordinator's too), ours held in memory. */
    s_resvs_t rv = { 0 };
    shed_nstate_list (self->state, REC_KIND_NAME, s_collect_name, &rv);
    names_resv_t *rs = calloc (rv.n + zhashx_size (self->resv) + 1, sizeof *rs);
    assert (rs);
    size_t nr = 0;
    for (size_t i = 0; i < rv.n; i++) {
        const rec_name_t *r = &rv.msgs[i].u.rec_name;
        rs[nr++] = (names_resv_t){ r->name, r->holder, r->request_id, r->expires_ms };
    }
    for (s_resv_t *r = (s_resv_t *) zhashx_first (self->resv); r;
         r = (s_resv_t *) zhashx_next (self->resv))
        rs[nr++] = (names_resv_t){ r->name, r->holder, r->rid, r->expires_ms };
    const char *node = NULL;
    char why[NSCHED_WHY_MAX + 1] = "";
    uint64_t now = sched__wall_ms ();
    names_verdict_t v = names_decide (ns, sheds.n, rs, nr, req->name, req->request_id, origin, now,
                                      &node, why, sizeof why);
    rep->verdict = (uint64_t) v;
    snprintf (rep->node, sizeof rep->node, "%s", node ? node : "");
    snprintf (rep->why, sizeof rep->why, "%s", why);
    if (v == NAMES_GRANT) {
        s_resv_t *r = (s_resv_t *) zmalloc (sizeof (s_resv_t));
        assert (r);
        snprintf (r->name, sizeof r->name, "%s", req->name);
        snprintf (r->holder, sizeof r->holder, "%s", origin);
        snprintf (r->rid, sizeof r->rid, "%s", req->request_id);
        r->expires_ms = now + (uint64_t) self->cfg->scheduler.name_ttl_s * 1000;
        rec_msg_t rec = { .hdr.type = REC_NAME };
        rec_name_t *n = &rec.u.rec_name;
        snprintf (n->name, sizeof n->name, "%s", r->name);
        snprintf (n->holder, sizeof n->holder, "%s", r->holder);
        snprintf (n->request_id, sizeof n->request_id, "%s", r->rid);
        n->expires_ms = r->expires_ms;
        n->created_ms = now;
        zhashx_update (self->resv, r->name, r);
        char err[256];
        if (shed_nstate_put_rec (self->state, REC_KIND_NAME, r->name, &rec, err, sizeof err) != 0)
            log_error (S_COMP, "cannot write name record|name=%s err=\"%s\"", r->name, err);
        log_debug (S_COMP, "name reserved|name=%s holder=%s request_id=%s", r->name, r->holder,
                   r->rid);
    }
    for (size_t i = 0; i < rv.n; i++)
        wire_msg_free (&rec_proto, &rv.msgs[i]);
    free (rv.msgs);
    free (rs);
    free (ns);
    sched__sheds_free (&sheds);
}

void
sched__serve_release (shed_sched_t *self, const nsched_release_t *req)
{
    s_resv_t *r = (s_resv_t *) zhashx_lookup (self->resv, req->name);
    if (r && streq (r->rid, req->request_id))
        sched__resv_drop (self, req->name);
}

/* Reservations past their time go (a create that never came back). */
void
sched__resv_expire (shed_sched_t *self, uint64_t now)
{
    zlistx_t *expired = zlistx_new ();
    zlistx_set_destructor (expired, sched__free_fn);
    for (s_resv_t *r = (s_resv_t *) zhashx_first (self->resv); r;
         r = (s_resv_t *) zhashx_next (self->resv))
        if (r->expires_ms <= now)
            zlistx_add_end (expired, strdup (r->name));
    for (const char *name = (const char *) zlistx_first (expired); name;
         name = (const char *) zlistx_next (expired)) {
        log_debug (S_COMP, "name reservation expired|name=%s", name);
        sched__resv_drop (self, name);
    }
    zlistx_destroy (&expired);
}

/* Our reservations as the state kept them across a restart. */
static void
s_load_resv (const shed_record_t *rec, void *arg)
{
    shed_sched_t *self = arg;
    if (strcmp (rec->origin, self->name))
        return;
    rec_msg_t m;
    if (wire_decode (&rec_proto, rec->value, rec->len, &m, NULL) != WIRE_OK
        || m.hdr.type != REC_NAME)
        return;
    s_resv_t *r = (s_resv_t *) zmalloc (sizeof (s_resv_t));
    assert (r);
    snprintf (r->name, sizeof r->name, "%s", m.u.rec_name.name);
    snprintf (r->holder, sizeof r->holder, "%s", m.u.rec_name.holder);
    snprintf (r->rid, sizeof r->rid, "%s", m.u.rec_name.request_id);
    r->expires_ms = m.u.rec_name.expires_ms;
    zhashx_update (self->resv, r->name, r);
    wire_msg_free (&rec_proto, &m);
}

void
sched__resv_load (shed_sched_t *self)
{
    shed_nstate_list (self->state, REC_KIND_NAME, s_load_resv, self);
}
