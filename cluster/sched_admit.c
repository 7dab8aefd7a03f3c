/*
 * sched_admit.c - a node's admit-or-reject of claims (see sched_admit.h).
 *
 * Reservations are a flat array searched linearly: a node holds tens to a
 * few hundred sheds, and a claim is rare next to everything else the node
 * does; a hash would buy nothing measurable and cost code.
 */
#include "cluster/sched_admit.h"
#include "common/fileutil.h"

#include <assert.h>
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    char request_id[SCHED_REQUEST_ID_MAX + 1];
    char name[PLACE_NAME_MAX + 1];
    place_resources_t need;
} s_resv_t;

struct _sched_admit_t {
    pthread_mutex_t lock;
    sched_capacity_t cap;
    bool draining;
    place_resources_t allocated;
    s_resv_t *resv;
    size_t nresv;
    size_t cap_resv;
};

sched_admit_t *
sched_admit_new (const sched_capacity_t *capacity)
{
    assert (capacity);
    sched_admit_t *self = (sched_admit_t *) calloc (1, sizeof (sched_admit_t));
    if (!self)
        return NULL;
    pthread_mutex_init (&self->lock, NULL);
    self->cap = *capacity;
    return self;
}

void
sched_admit_destroy (sched_admit_t **self_p)
{
    assert (self_p);
    if (*self_p) {
        sched_admit_t *self = *self_p;
        pthread_mutex_destroy (&self->lock);
        free (self->resv);
        free (self);
        *self_p = NULL;
    }
}

void
sched_admit_set_capacity (sched_admit_t *self, const sched_capacity_t *capacity)
{
    assert (self);
    assert (capacity);
    pthread_mutex_lock (&self->lock);
    self->cap = *capacity;
    pthread_mutex_unlock (&self->lock);
}

void
sched_admit_set_draining (sched_admit_t *self, bool draining)
{
    assert (self);
    pthread_mutex_lock (&self->lock);
    self->draining = draining;
    pthread_mutex_unlock (&self->lock);
}

/* Same arithmetic as placement.c's s_effective, so the scheduler's view and
 * the admitter never disagree on what "fits" means. */
static uint64_t
s_effective (const sched_capacity_t *cap, int r)
{
    uint64_t c = cap->capacity.v[r], res = cap->reserved.v[r];
    if (res >= c)
        return 0;
    double ratio = cap->overcommit[r] >= 1.0 ? cap->overcommit[r] : 1.0;
    if (ratio == 1.0)
        return c - res;
    double eff = (double) (c - res) * ratio;
    return eff >= 1.8e19 ? UINT64_MAX : (uint64_t) eff;
}

static s_resv_t *
s_find_id (sched_admit_t *self, const char *request_id)
{
    for (size_t i = 0; i < self->nresv; i++)
        if (strcmp (self->resv[i].request_id, request_id) == 0)
            return &self->resv[i];
    return NULL;
}

static s_resv_t *
s_find_name (sched_admit_t *self, const char *name)
{
    for (size_t i = 0; i < self->nresv; i++)
        if (strcmp (self->resv[i].name, name) == 0)
            return &self->resv[i];
    return NULL;
}

static bool
s_args_ok (const char *request_id, const char *name)
{
    return request_id && *request_id && strlen (request_id) <= SCHED_REQUEST_ID_MAX
           && placement_name_valid (name, NULL, 0);
}

/* Append; caller holds the lock and has checked everything. */
static int
s_add (sched_admit_t *self, const char *request_id, const char *name, const place_resources_t *need)
{
    if (self->nresv == self->cap_resv) {
        size_t grow = self->cap_resv ? self->cap_resv * 2 : 16;
        s_resv_t *bigger = (s_resv_t *) realloc (self->resv, grow * sizeof (s_resv_t));
        if (!bigger)
            return -1;
        self->resv = bigger;
        self->cap_resv = grow;
    }
    s_resv_t *r = &self->resv[self->nresv++];
    snprintf (r->request_id, sizeof r->request_id, "%s", request_id);
    snprintf (r->name, sizeof r->name, "%s", name);
    r->need = *need;
    for (int i = 0; i < PLACE_RES_COUNT; i++)
        self->allocated.v[i] += need->v[i];
    return 0;
}

static void
s_why (char *why, size_t why_size, const char *fmt, const char *a, const char *b)
{
    if (why && why_size)
        snprintf (why, why_size, fmt, a, b);
}

sched_admit_rc_t
sched_admit_claim (sched_admit_t *self, const char *request_id, const char *name,
                   const place_resources_t *need, char *why, size_t why_size)
{
    assert (self);
    assert (need);
    if (why && why_size)
        why[0] = '\0';
    if (!s_args_ok (request_id, name)) {
        s_why (why, why_size, "invalid request id or shed name%s%s", "", "");
        return SCHED_ADMIT_INVALID;
    }
    sched_admit_rc_t rc = SCHED_ADMIT_OK;
    pthread_mutex_lock (&self->lock);

    /* Idempotency comes first: a retried claim that was admitted stays
     * admitted even if the node started draining or filled up since. */
    s_resv_t *seen = s_find_id (self, request_id);
    if (seen) {
        if (strcmp (seen->name, name) == 0 && memcmp (&seen->need, need, sizeof *need) == 0)
            rc = SCHED_ADMIT_REPEAT;
        else {
            s_why (why, why_size, "request id %s already used for shed %s", request_id, seen->name);
            rc = SCHED_ADMIT_CONFLICT;
        }
        goto done;
    }
    s_resv_t *holder = s_find_name (self, name);
    if (holder) {
        s_why (why, why_size, "shed %s already exists here (request %s)", name, holder->request_id);
        rc = SCHED_ADMIT_NAME_TAKEN;
        goto done;
    }
    if (self->draining) {
        s_why (why, why_size, "node is draining%s%s", "", "");
        rc = SCHED_ADMIT_DRAINING;
        goto done;
    }
    for (int r = 0; r < PLACE_RES_COUNT; r++) {
        uint64_t eff = s_effective (&self->cap, r);
        uint64_t free_r = eff > self->allocated.v[r] ? eff - self->allocated.v[r] : 0;
        if (need->v[r] > free_r) {
            if (why && why_size) {
                char have[32], want[32];
                if (r == PLACE_MEMORY || r == PLACE_DISK) {
                    placement_size_format (free_r, have, sizeof have);
                    placement_size_format (need->v[r], want, sizeof want);
                }
                else if (r == PLACE_CPU) {
                    snprintf (have, sizeof have, "%.3g", (double) free_r / 1000.0);
                    snprintf (want, sizeof want, "%.3g", (double) need->v[r] / 1000.0);
                }
                else {
                    snprintf (have, sizeof have, "%llu", (unsigned long long) free_r);
                    snprintf (want, sizeof want, "%llu", (unsigned long long) need->v[r]);
                }
                snprintf (why, why_size, "%s %s free < %s", placement_res_name ((place_res_t) r),
                          have, want);
            }
            rc = SCHED_ADMIT_NO_ROOM;
            goto done;
        }
    }
    if (s_add (self, request_id, name, need) != 0) {
        s_why (why, why_size, "out of memory%s%s", "", "");
        rc = SCHED_ADMIT_NOMEM;
    }
done:
    pthread_mutex_unlock (&self->lock);
    return rc;
}

int
sched_admit_release (sched_admit_t *self, const char *name)
{
    assert (self);
    if (!name)
        return -1;
    int rc = -1;
    pthread_mutex_lock (&self->lock);
    s_resv_t *r = s_find_name (self, name);
    if (r) {
        for (int i = 0; i < PLACE_RES_COUNT; i++)
            self->allocated.v[i] -= r->need.v[i];
        *r = self->resv[--self->nresv];
        rc = 0;
    }
    pthread_mutex_unlock (&self->lock);
    return rc;
}

int
sched_admit_restore (sched_admit_t *self, const char *request_id, const char *name,
                     const place_resources_t *need)
{
    assert (self);
    assert (need);
    if (!s_args_ok (request_id, name))
        return SCHED_ADMIT_INVALID;
    int rc = 0;
    pthread_mutex_lock (&self->lock);
    s_resv_t *by_id = s_find_id (self, request_id);
    s_resv_t *by_name = s_find_name (self, name);
    if (by_id && by_id == by_name)
        rc = 0; /* restoring twice is harmless */
    else if (by_id)
        rc = SCHED_ADMIT_CONFLICT;
    else if (by_name)
        rc = SCHED_ADMIT_NAME_TAKEN;
    else if (s_add (self, request_id, name, need) != 0)
        rc = SCHED_ADMIT_NOMEM;
    pthread_mutex_unlock (&self->lock);
    return rc;
}

void
sched_admit_allocated (sched_admit_t *self, place_resources_t *allocated)
{
    assert (self);
    assert (allocated);
    pthread_mutex_lock (&self->lock);
    *allocated = self->allocated;
    pthread_mutex_unlock (&self->lock);
}

size_t
sched_admit_count (sched_admit_t *self)
{
    assert (self);
    pthread_mutex_lock (&self->lock);
    size_t n = self->nresv;
    pthread_mutex_unlock (&self->lock);
    return n;
}

bool
sched_admit_holds (sched_admit_t *self, const char *name)
{
    assert (self);
    pthread_mutex_lock (&self->lock);
    bool held = name && s_find_name (self, name) != NULL;
    pthread_mutex_unlock (&self->lock);
    return held;
}

void
sched_admit_view (sched_admit_t *self, place_node_t *node)
{
    assert (self);
    assert (node);
    pthread_mutex_lock (&self->lock);
    node->capacity = self->cap.capacity;
    node->reserved = self->cap.reserved;
    memcpy (node->overcommit, self->cap.overcommit, sizeof node->overcommit);
    node->allocated = self->allocated;
    node->draining = self->draining;
    pthread_mutex_unlock (&self->lock);
}

const char *
sched_admit_strerror (sched_admit_rc_t rc)
{
    switch (rc) {
    case SCHED_ADMIT_OK:
        return "admitted";
    case SCHED_ADMIT_REPEAT:
        return "already admitted (same request)";
    case SCHED_ADMIT_NO_ROOM:
        return "not enough free resources";
    case SCHED_ADMIT_DRAINING:
        return "node is draining";
    case SCHED_ADMIT_NAME_TAKEN:
        return "name already taken on this node";
    case SCHED_ADMIT_CONFLICT:
        return "request id reused with different parameters";
    case SCHED_ADMIT_INVALID:
        return "invalid request id or shed name";
    case SCHED_ADMIT_NOMEM:
        return "out of memory";
    }
    return "unknown admission result";
}
