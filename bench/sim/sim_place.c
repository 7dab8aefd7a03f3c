/*
 * sim_place.c - placement against a large synthetic state (see
 * sim_place.h). The records are built the way the cluster builds them:
 * each node writes its REC_NODE into its own store, and its PUSH is applied
 * by the scheduler's store, so the store holds 10,000 origins with one
 * record each, exactly as after anti-entropy. Requests are those of
 * bench/sched_bench.c (binpack/spread alternating, one in four with a
 * constraint).
 */
#include "bench/sim/sim_place.h"
#include "cluster/placement.h"
#include "cluster/records.h"
#include "cluster/state.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

#define S_MIB (1024ull * 1024)

static double
s_cpu (void)
{
    struct rusage ru;
    getrusage (RUSAGE_SELF, &ru);
    return (double) ru.ru_utime.tv_sec + (double) ru.ru_utime.tv_usec / 1e6
           + (double) ru.ru_stime.tv_sec + (double) ru.ru_stime.tv_usec / 1e6;
}

static uint64_t
s_rand (uint64_t *s)
{
    *s ^= *s << 13;
    *s ^= *s >> 7;
    *s ^= *s << 17;
    return *s;
}

/* One node's own record, encoded. */
static int
s_node_record (uint32_t i, uint64_t *rng, uint8_t **buf, size_t *len)
{
    static const char *zones[] = { "a", "b", "c" };
    rec_msg_t m;
    memset (&m, 0, sizeof m);
    m.hdr.type = REC_NODE;
    rec_node_t *r = &m.u.rec_node;
    snprintf (r->name, sizeof r->name, "node%05u", i);
    snprintf (r->addr, sizeof r->addr, "198.18.%u.%u", i / 250, 1 + i % 250);
    r->gossip_port = 7946;
    r->cpu_milli = (4 + s_rand (rng) % 60) * 1000;
    r->memory_mb = (8 + s_rand (rng) % 248) * 1024;
    r->disk_mb = (100 + s_rand (rng) % 900) * 1024;
    r->gpus = i % 50 == 0 ? 4 : 0;
    r->reserved_memory_mb = 1024;
    r->oc_memory = 1.25;
    r->alloc_cpu_milli = r->cpu_milli / 100 * (s_rand (rng) % 95);
    r->alloc_memory_mb = r->memory_mb / 100 * (s_rand (rng) % 95);
    r->alloc_disk_mb = r->disk_mb / 100 * (s_rand (rng) % 95);
    r->draining = i % 89 == 0;
    wire_tag_t tags[2];
    snprintf (tags[0].key, sizeof tags[0].key, "arch");
    snprintf (tags[0].value, sizeof tags[0].value, "%s", i % 10 ? "x86_64" : "arm64");
    snprintf (tags[1].key, sizeof tags[1].key, "zone");
    snprintf (tags[1].value, sizeof tags[1].value, "%s", zones[i % 3]);
    r->tags.n = 2;
    r->tags.items = tags;
    return wire_encode (&rec_proto, &m, buf, len);
}

/* The scheduler's view of one node, from its record (node_sched.c). */
typedef struct {
    rec_msg_t m;
    char origin[REC_NAME_MAX + 1];
    bool alive;
    place_tag_t tags[REC_TAGS_MAX];
} s_view_t;

typedef struct {
    s_view_t *items;
    place_node_t *nodes;
    size_t n, cap;
} s_views_t;

static int
s_collect (void *arg, const state_record_t *rec)
{
    s_views_t *v = (s_views_t *) arg;
    if (strcmp (rec->origin, rec->key) || v->n == v->cap)
        return 0;
    s_view_t *nv = &v->items[v->n];
    if (wire_decode (&rec_proto, rec->value, rec->value_len, &nv->m, NULL) != 0)
        return 0;
    if (nv->m.hdr.type != REC_NODE) {
        wire_msg_free (&rec_proto, &nv->m);
        return 0;
    }
    snprintf (nv->origin, sizeof nv->origin, "%s", rec->origin);
    nv->alive = rec->status == STATE_ALIVE;
    const rec_node_t *r = &nv->m.u.rec_node;
    place_node_t *pn = &v->nodes[v->n];
    memset (pn, 0, sizeof *pn);
    pn->name = nv->origin;
    pn->alive = nv->alive && v->n % 97 != 0; /* a few failed members */
    pn->draining = r->draining;
    pn->capacity.v[PLACE_CPU] = r->cpu_milli;
    pn->capacity.v[PLACE_MEMORY] = r->memory_mb * S_MIB;
    pn->capacity.v[PLACE_DISK] = r->disk_mb * S_MIB;
    pn->capacity.v[PLACE_GPU] = r->gpus;
    pn->reserved.v[PLACE_MEMORY] = r->reserved_memory_mb * S_MIB;
    pn->overcommit[PLACE_MEMORY] = r->oc_memory;
    pn->allocated.v[PLACE_CPU] = r->alloc_cpu_milli;
    pn->allocated.v[PLACE_MEMORY] = r->alloc_memory_mb * S_MIB;
    pn->allocated.v[PLACE_DISK] = r->alloc_disk_mb * S_MIB;
    size_t nt = r->tags.n < REC_TAGS_MAX ? r->tags.n : REC_TAGS_MAX;
    for (size_t t = 0; t < nt; t++)
        nv->tags[t] = (place_tag_t){ r->tags.items[t].key, r->tags.items[t].value };
    pn->tags = nv->tags;
    pn->ntags = nt;
    v->n++;
    return 0;
}

static void
s_views_clear (s_views_t *v)
{
    for (size_t i = 0; i < v->n; i++)
        wire_msg_free (&rec_proto, &v->items[i].m);
    v->n = 0;
}

static void
s_requests (place_request_t *reqs, int nreq, uint64_t *rng)
{
    for (int i = 0; i < nreq; i++) {
        place_request_t *r = &reqs[i];
        memset (r, 0, sizeof *r);
        r->need.v[PLACE_CPU] = (1 + s_rand (rng) % 8) * 500;
        r->need.v[PLACE_MEMORY] = (1 + s_rand (rng) % 16) * 1024 * S_MIB;
        r->need.v[PLACE_DISK] = (1 + s_rand (rng) % 20) * 1024 * S_MIB;
        r->strategy = i % 2 ? PLACE_SPREAD : PLACE_BINPACK;
        if (i % 4 == 0) {
            char why[128];
            placement_constraint_parse (i % 8 ? "arch=x86_64" : "zone!=b", &r->constraints[0], why,
                                        sizeof why);
            r->nconstraints = 1;
        }
    }
}

int
sim_place_bench (uint32_t nodes, double seconds, uint64_t seed, sim_place_result_t *out)
{
    memset (out, 0, sizeof *out);
    out->nodes = nodes;
    uint64_t rng = seed | 1;
    double t0 = s_cpu ();
    char err[200];
    state_t *hub = state_new ("scheduler", NULL, err, sizeof err);
    if (!hub)
        return -1;
    for (uint32_t i = 0; i < nodes; i++) {
        char name[32];
        snprintf (name, sizeof name, "node%05u", i);
        state_t *own = state_new (name, NULL, err, sizeof err);
        uint8_t *buf = NULL;
        size_t len = 0;
        if (!own || s_node_record (i, &rng, &buf, &len) != 0
            || state_put (own, REC_KIND_NODE, name, buf, len) != 0) {
            free (buf);
            state_destroy (&own);
            state_destroy (&hub);
            return -1;
        }
        free (buf);
        state_msg_t push;
        if (state_push (own, 0, &push) == 1)
            state_apply (hub, &push);
        state_msg_free (&push);
        state_destroy (&own);
    }
    out->build_s = s_cpu () - t0;

    s_views_t v = { 0 };
    v.cap = nodes;
    v.items = (s_view_t *) calloc (nodes, sizeof *v.items);
    v.nodes = (place_node_t *) calloc (nodes, sizeof *v.nodes);
    enum { NREQ = 64 };
    place_request_t reqs[NREQ];
    s_requests (reqs, NREQ, &rng);
    placement_t *engine = placement_new (seed);
    place_result_t *res = place_result_new ();
    int rc = (v.items && v.nodes && engine && res) ? 0 : -1;
    if (rc == 0) {
        /* Decisions on a view built once (the engine alone). */
        state_foreach (hub, NULL, REC_KIND_NODE, false, s_collect, &v);
        rc = v.n == nodes ? 0 : -1;
        unsigned long decisions = 0;
        double start = s_cpu (), spent = 0;
        while (rc == 0 && spent < seconds) {
            for (int i = 0; i < 64; i++, decisions++)
                placement_place (engine, v.nodes, v.n, &reqs[decisions % NREQ], res);
            spent = s_cpu () - start;
        }
        out->place_per_s = spent > 0 ? (double) decisions / spent : 0;
        /* Decisions that first rebuild the view from the store. */
        decisions = 0;
        start = s_cpu ();
        spent = 0;
        while (rc == 0 && spent < seconds) {
            s_views_clear (&v);
            state_foreach (hub, NULL, REC_KIND_NODE, false, s_collect, &v);
            placement_place (engine, v.nodes, v.n, &reqs[decisions % NREQ], res);
            decisions++;
            spent = s_cpu () - start;
        }
        out->view_place_per_s = spent > 0 ? (double) decisions / spent : 0;
    }
    s_views_clear (&v);
    free (v.items);
    free (v.nodes);
    placement_destroy (&engine);
    place_result_destroy (&res);
    state_destroy (&hub);
    return rc;
}
