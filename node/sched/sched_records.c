/* sched_records.c - the replicated shed records as the scheduler reads them,
 * our own shed records, our node record's resource fields (sched_int.h). */
#include "node/sched/sched_int.h"

#include "common/log.h"

#include <inttypes.h>
#include <stdarg.h>
#include <string.h>

/* ---- small helpers ------------------------------------------------------- */

uint64_t
sched__wall_ms (void)
{
    return (uint64_t) zclock_time ();
}

/* snprintf where truncation is expected and fine (names are short, paths
 * and messages are bounded by their fields). */
void
sched__fmt (char *dst, size_t size, const char *fmt, ...)
{
    va_list ap;
    va_start (ap, fmt);
    vsnprintf (dst, size, fmt, ap);
    va_end (ap);
}

void
sched__free_fn (void **item)
{
    free (*item);
    *item = NULL;
}

void
sched__chunk_free_fn (void **item)
{
    zchunk_destroy ((zchunk_t **) item);
}

static const char *
s_state_of (const char *status, const char *state)
{
    return strcmp (status, "unreachable") == 0 ? "unreachable" : state;
}

/* "name" or "name@node". */
void
sched__split_ref (const char *ref, char *name, char *node)
{
    const char *at = strchr (ref, '@');
    if (at) {
        snprintf (name, REC_NAME_MAX + 1, "%.*s", (int) (at - ref), ref);
        snprintf (node, REC_NAME_MAX + 1, "%s", at + 1);
    }
    else {
        snprintf (name, REC_NAME_MAX + 1, "%s", ref);
        node[0] = '\0';
    }
}

int
sched__encode (const wire_proto_t *proto, const void *msg, uint8_t **buf, size_t *len)
{
    int rc = wire_encode (proto, msg, buf, len);
    if (rc != WIRE_OK)
        log_error (S_COMP, "cannot encode|proto=%s err=\"%s\"", proto->name, wire_strerror (rc));
    return rc == WIRE_OK ? 0 : -1;
}

/* ---- the replicated shed records ------------------------------------------ */

void
sched__sheds_add (s_sheds_t *v, const char *origin, const char *status, bool lost,
                  const uint8_t *value, size_t len)
{
    if (v->n == v->cap) {
        size_t cap = v->cap ? v->cap * 2 : 32;
        s_shed_t *items = realloc (v->items, cap * sizeof *items);
        if (!items)
            return;
        v->items = items;
        v->cap = cap;
    }
    s_shed_t *sh = &v->items[v->n];
    memset (sh, 0, sizeof *sh);
    if (wire_decode (&rec_proto, value, len, &sh->m, NULL) != WIRE_OK
        || sh->m.hdr.type != REC_SHED) {
        wire_msg_free (&rec_proto, &sh->m);
        return;
    }
    snprintf (sh->origin, sizeof sh->origin, "%s", origin);
    snprintf (sh->status, sizeof sh->status, "%s", status);
    sh->lost = lost;
    v->n++;
}

static void
s_collect_shed (const shed_record_t *rec, void *arg)
{
    sched__sheds_add ((s_sheds_t *) arg, rec->origin, rec->status, false, rec->value, rec->len);
}

void
sched__sheds_free (s_sheds_t *v)
{
    for (size_t i = 0; i < v->n; i++)
        wire_msg_free (&rec_proto, &v->items[i].m);
    free (v->items);
    memset (v, 0, sizeof *v);
}

/* Every live shed record, then (with_lost) the last known records of
 * removed origins; duplicates among the live ones flagged in dup[]. */
void
sched__sheds_load (shed_sched_t *self, s_sheds_t *v, bool with_lost)
{
    memset (v, 0, sizeof *v);
    shed_nstate_list (self->state, REC_KIND_SHED, s_collect_shed, v);
    if (with_lost)
        for (zchunk_t *c = (zchunk_t *) zhashx_first (self->lost); c;
             c = (zchunk_t *) zhashx_next (self->lost)) {
            const char *key = (const char *) zhashx_cursor (self->lost);
            char origin[REC_NAME_MAX + 1];
            snprintf (origin, sizeof origin, "%.*s", (int) strcspn (key, "/"), key);
            sched__sheds_add (v, origin, "removed", true, zchunk_data (c), zchunk_size (c));
        }
}

/* Duplicate flags for v (same order), live records only. */
bool *
sched__sheds_dups (s_sheds_t *v)
{
    bool *dup = calloc (v->n + 1, sizeof *dup);
    names_shed_t *ns = calloc (v->n + 1, sizeof *ns);
    size_t *idx = calloc (v->n + 1, sizeof *idx);
    assert (dup && ns && idx);
    size_t k = 0;
    for (size_t i = 0; i < v->n; i++) {
        if (v->items[i].lost)
            continue;
        const rec_shed_t *r = &v->items[i].m.u.rec_shed;
        ns[k] = (names_shed_t){ r->name, v->items[i].origin,   r->request_id, r->created_ms,
                                false,   sched__shed_moves (r) };
        idx[k++] = i;
    }
    names_resolve (ns, k);
    for (size_t j = 0; j < k; j++)
        dup[idx[j]] = ns[j].duplicate;
    free (ns);
    free (idx);
    return dup;
}

/* The winner among the live sheds named `name` (for notes). */
const s_shed_t *
sched__sheds_winner (s_sheds_t *v, const char *name)
{
    const s_shed_t *best = NULL;
    for (size_t i = 0; i < v->n; i++) {
        const s_shed_t *sh = &v->items[i];
        if (sh->lost || strcmp (sh->m.u.rec_shed.name, name))
            continue;
        names_shed_t a = { name,
                           sh->origin,
                           sh->m.u.rec_shed.request_id,
                           sh->m.u.rec_shed.created_ms,
                           false,
                           sched__shed_moves (&sh->m.u.rec_shed) };
        if (best) {
            names_shed_t b = { name,
                               best->origin,
                               best->m.u.rec_shed.request_id,
                               best->m.u.rec_shed.created_ms,
                               false,
                               sched__shed_moves (&best->m.u.rec_shed) };
            if (!names_wins (&a, &b))
                continue;
        }
        best = sh;
    }
    return best;
}

void
sched__api_shed_fill (api_shed_t *out, const s_shed_t *sh, bool dup, const s_shed_t *winner)
{
    const rec_shed_t *r = &sh->m.u.rec_shed;
    memset (out, 0, sizeof *out);
    snprintf (out->name, sizeof out->name, "%s", r->name);
    snprintf (out->node, sizeof out->node, "%s", sh->origin);
    snprintf (out->state, sizeof out->state, "%s",
              sh->lost ? "lost" : s_state_of (sh->status, r->state));
    out->cpus_milli = r->cpus_milli;
    out->memory_mb = r->memory_mb;
    out->disk_mb = r->disk_mb;
    out->gpus = r->gpus;
    snprintf (out->image, sizeof out->image, "%s", r->image);
    snprintf (out->ip, sizeof out->ip, "%s", r->ip);
    snprintf (out->mac, sizeof out->mac, "%s", r->mac);
    snprintf (out->request_id, sizeof out->request_id, "%s", r->request_id);
    out->created_ms = r->created_ms;
    snprintf (out->error, sizeof out->error, "%s", r->error);
    snprintf (out->driver, sizeof out->driver, "%s", r->driver);
    out->tags.n = r->tags.n;
    out->tags.items = r->tags.items; /* borrowed from the record */
    out->duplicate = dup;
    if (dup && winner)
        sched__fmt (out->note, sizeof out->note,
                    "duplicate name: %s on %s was created first and keeps it; rename or delete "
                    "this one (shedctl delete %s@%s)",
                    r->name, winner->origin, r->name, sh->origin);
    else if (sh->lost)
        sched__fmt (out->note, sizeof out->note,
                    "%s left the cluster or was reaped; the shed is not restarted elsewhere "
                    "(shedctl delete --force %s@%s forgets it)",
                    sh->origin, r->name, sh->origin);
    else if (strcmp (sh->status, "unreachable") == 0)
        snprintf (out->note, sizeof out->note, "%s is not answering (failed); last state %s",
                  sh->origin, r->state);
}

/* ---- our own records ------------------------------------------------------- */

int
sched__own_put (shed_sched_t *self, rec_msg_t *rec)
{
    rec->u.rec_shed.updated_ms = sched__wall_ms ();
    char err[256];
    int rc = shed_nstate_put_rec (self->state, REC_KIND_SHED, rec->u.rec_shed.name, rec, err,
                                  sizeof err);
    if (rc)
        log_error (S_COMP, "cannot write shed record|shed=%s err=\"%s\"", rec->u.rec_shed.name,
                   err);
    return rc;
}

/* Our record of shed `name` (free with wire_msg_free): a local read of
 * the mirror (node_state.h), no scan. */
bool
sched__own_get (shed_sched_t *self, const char *name, rec_msg_t *out)
{
    memset (out, 0, sizeof *out);
    shed_record_t rec;
    if (!shed_nstate_find (self->state, self->name, REC_KIND_SHED, name, &rec))
        return false;
    if (wire_decode (&rec_proto, rec.value, rec.len, out, NULL) == WIRE_OK
        && out->hdr.type == REC_SHED)
        return true;
    wire_msg_free (&rec_proto, out);
    memset (out, 0, sizeof *out);
    return false;
}

void
sched__own_delete (shed_sched_t *self, const char *name)
{
    char err[256];
    if (shed_nstate_delete (self->state, REC_KIND_SHED, name, err, sizeof err))
        log_error (S_COMP, "cannot delete shed record|shed=%s err=\"%s\"", name, err);
}

int
sched__sheds_by_rid (s_sheds_t *v, const char *rid)
{
    for (size_t i = 0; i < v->n; i++)
        if (!v->items[i].lost && streq (v->items[i].m.u.rec_shed.request_id, rid))
            return (int) i;
    return -1;
}

/* ---- our node record: capacity, allocation, draining ----------------------- */

/* Our node record's resource fields, from the admitter. The record has one
 * owner (node/state/node_record.h): we set our part and it puts the whole. */
void
sched__publish_node (shed_sched_t *self)
{
    rec_node_t n;
    memset (&n, 0, sizeof n);
    place_resources_t alloc;
    sched_admit_allocated (self->admit, &alloc);
    const sched_capacity_t *c = &self->capacity;
    n.cpu_milli = c->capacity.v[PLACE_CPU];
    n.cpus = c->capacity.v[PLACE_CPU] / 1000;
    n.memory_mb = c->capacity.v[PLACE_MEMORY] / S_MIB;
    n.disk_mb = c->capacity.v[PLACE_DISK] / S_MIB;
    n.gpus = c->capacity.v[PLACE_GPU];
    n.reserved_cpu_milli = c->reserved.v[PLACE_CPU];
    n.reserved_memory_mb = c->reserved.v[PLACE_MEMORY] / S_MIB;
    n.reserved_disk_mb = c->reserved.v[PLACE_DISK] / S_MIB;
    n.oc_cpu = c->overcommit[PLACE_CPU];
    n.oc_memory = c->overcommit[PLACE_MEMORY];
    n.oc_disk = c->overcommit[PLACE_DISK];
    n.alloc_cpu_milli = alloc.v[PLACE_CPU];
    /* Round allocations UP to whole MiB so a remote view never sees more
     * room than there is. */
    n.alloc_memory_mb = (alloc.v[PLACE_MEMORY] + S_MIB - 1) / S_MIB;
    n.alloc_disk_mb = (alloc.v[PLACE_DISK] + S_MIB - 1) / S_MIB;
    n.alloc_gpus = alloc.v[PLACE_GPU];
    n.sheds = sched_admit_count (self->admit);
    n.draining = self->draining;
    shed_noderec_set_resources (self->noderec, &n);
    char err[256];
    if (shed_noderec_publish (self->noderec, err, sizeof err))
        log_error (S_COMP, "cannot update node record|err=\"%s\"", err);
}
