/*
 * swim_broadcast.c - the transmit-limited broadcast queue.
 *
 * Every change to our view is queued here and piggybacked on outgoing
 * packets. Rules (as in memberlist's TransmitLimitedQueue):
 *   - one entry per member: a newer update replaces the queued one, so the
 *     queue never carries two contradicting records about the same node;
 *   - least-transmitted first (new news travels before old news), newest
 *     first among equals;
 *   - an entry retires after `limit` transmissions, limit scaling with
 *     log10 N (enough for an epidemic to reach everyone with high
 *     probability, no more).
 * The queue holds up to one entry per member (a joiner queues every member
 * it learns), so it is kept in that order rather than sorted per packet:
 * one bucket per transmit count (a few: the limit is 4 * log10 N), each in
 * enqueue order, and a name index for replacement. A packet takes from the
 * least-sent bucket, newest first; a taken entry moves one bucket up, to
 * its place by enqueue order.
 */
#include "cluster/swim_internal.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

void
swim__bqueue_init (swim_bqueue_t *q)
{
    memset (q, 0, sizeof *q);
    q->by_name = zhashx_new ();
    assert (q->by_name);
    /* keys are the entries' own names: no copies */
    zhashx_set_key_duplicator (q->by_name, NULL);
    zhashx_set_key_destructor (q->by_name, NULL);
}

static void
s_bcast_free (swim_bcast_t *b)
{
    swim__tags_free (&b->update.tags);
    free (b);
}

void
swim__bqueue_clear (swim_bqueue_t *q)
{
    for (size_t t = 0; t < q->nbuckets; t++) {
        for (size_t i = 0; i < q->buckets[t].n; i++)
            s_bcast_free (q->buckets[t].items[i].b);
        free (q->buckets[t].items);
    }
    free (q->buckets);
    zhashx_destroy (&q->by_name);
    memset (q, 0, sizeof *q);
}

/* The bucket for `transmits`, grown on demand (NULL: out of memory). */
static swim_bucket_t *
s_bucket (swim_bqueue_t *q, uint32_t transmits)
{
    if (transmits >= q->nbuckets) {
        size_t nb = (size_t) transmits + 1;
        swim_bucket_t *b = (swim_bucket_t *) realloc (q->buckets, nb * sizeof *b);
        if (!b)
            return NULL;
        for (size_t t = q->nbuckets; t < nb; t++) {
            memset (&b[t], 0, sizeof b[t]);
            b[t].min_size = SIZE_MAX;
        }
        q->buckets = b;
        q->nbuckets = nb;
    }
    return &q->buckets[transmits];
}

/* Index of the first entry of `bk` with order >= `order`. */
static size_t
s_lower (const swim_bucket_t *bk, uint64_t order)
{
    size_t lo = 0, hi = bk->n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (bk->items[mid].order < order)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

/* Put `b` into the bucket of its transmit count, at its place. 0 or -1. */
static int
s_insert (swim_bqueue_t *q, swim_bcast_t *b)
{
    swim_bucket_t *bk = s_bucket (q, b->transmits);
    if (!bk)
        return -1;
    if (bk->n == bk->cap) {
        size_t cap = bk->cap ? bk->cap * 2 : 8;
        swim_bref_t *items = (swim_bref_t *) realloc (bk->items, cap * sizeof *items);
        if (!items)
            return -1;
        bk->items = items;
        bk->cap = cap;
    }
    size_t at = bk->n > 0 && bk->items[bk->n - 1].order < b->order ? bk->n : s_lower (bk, b->order);
    memmove (&bk->items[at + 1], &bk->items[at], (bk->n - at) * sizeof bk->items[0]);
    bk->items[at] = (swim_bref_t){ b, b->order, b->size };
    bk->n++;
    if (b->size < bk->min_size)
        bk->min_size = b->size;
    return 0;
}

/* Take `b` out of its bucket (it stays allocated and indexed). */
static void
s_unlink (swim_bqueue_t *q, swim_bcast_t *b)
{
    swim_bucket_t *bk = &q->buckets[b->transmits];
    size_t at = s_lower (bk, b->order);
    assert (at < bk->n && bk->items[at].b == b);
    memmove (&bk->items[at], &bk->items[at + 1], (bk->n - at - 1) * sizeof bk->items[0]);
    bk->n--;
    if (bk->n == 0)
        bk->min_size = SIZE_MAX;
}

static void
s_remove (swim_bqueue_t *q, swim_bcast_t *b)
{
    s_unlink (q, b);
    zhashx_delete (q->by_name, b->update.name);
    q->n--;
    s_bcast_free (b);
}

void
swim__bqueue_put (swim_bqueue_t *q, const gossip_update_t *u, size_t size)
{
    swim_bcast_t *old = (swim_bcast_t *) zhashx_lookup (q->by_name, u->name);
    if (old)
        s_remove (q, old);
    swim_bcast_t *b = (swim_bcast_t *) calloc (1, sizeof *b);
    if (!b)
        return;
    b->update = *u;
    b->update.tags.n = 0;
    b->update.tags.items = NULL;
    if (swim__tags_copy (&b->update.tags, &u->tags)) {
        free (b);
        return;
    }
    if (u->key.len == SWIM_KEY_BYTES && u->key.data) {
        memcpy (b->keybuf, u->key.data, SWIM_KEY_BYTES);
        b->update.key.data = b->keybuf;
        b->update.key.len = SWIM_KEY_BYTES;
    }
    else {
        b->update.key.data = NULL;
        b->update.key.len = 0;
    }
    b->size = size;
    b->order = q->next_order++;
    if (s_insert (q, b) != 0) {
        s_bcast_free (b);
        return;
    }
    zhashx_insert (q->by_name, b->update.name, b);
    q->n++;
}

/* Retire entries that reached the transmit limit. */
static void
s_sweep (swim_bqueue_t *q, uint32_t limit, uint64_t *retired)
{
    for (size_t t = limit; t < q->nbuckets; t++) {
        swim_bucket_t *bk = &q->buckets[t];
        for (size_t i = 0; i < bk->n; i++) {
            zhashx_delete (q->by_name, bk->items[i].b->update.name);
            s_bcast_free (bk->items[i].b);
            q->n--;
            if (retired)
                (*retired)++;
        }
        bk->n = 0;
        bk->min_size = SIZE_MAX;
    }
}

size_t
swim__bqueue_take (swim_bqueue_t *q, const char *first, size_t budget, uint32_t limit,
                   gossip_update_t *out, size_t max, uint64_t *retired)
{
    s_sweep (q, limit, retired);
    if (q->n == 0 || max == 0)
        return 0;
    swim_bcast_t *taken[SWIM_MAX_UPDATES];
    if (max > SWIM_MAX_UPDATES)
        max = SWIM_MAX_UPDATES;
    size_t count = 0, used = 0;
    /* Buddy system: the update about the member we are probing goes first,
     * so a suspect hears about its suspicion from the probe itself. */
    swim_bcast_t *buddy = first ? (swim_bcast_t *) zhashx_lookup (q->by_name, first) : NULL;
    if (buddy && buddy->size <= budget) {
        used += buddy->size;
        taken[count++] = buddy;
    }
    /* Least sent first, newest first among equals; an entry too big for
     * what is left is skipped, as a smaller one further down may fit. */
    for (size_t t = 0; t < q->nbuckets && count < max; t++) {
        swim_bucket_t *bk = &q->buckets[t];
        /* Nothing in this bucket fits once what is left is below its
         * smallest entry: stop there rather than scan the rest. */
        for (size_t i = bk->n; i-- > 0 && count < max && bk->min_size <= budget - used;) {
            const swim_bref_t *r = &bk->items[i];
            if (r->b == buddy || used + r->size > budget)
                continue;
            used += r->size;
            taken[count++] = r->b;
        }
    }
    for (size_t i = 0; i < count; i++) {
        swim_bcast_t *b = taken[i];
        s_unlink (q, b);
        b->transmits++;
        if (s_insert (q, b) != 0) {
            /* out of memory: drop it rather than lose track of it */
            zhashx_delete (q->by_name, b->update.name);
            q->n--;
            s_bcast_free (b);
            taken[i] = NULL;
            continue;
        }
    }
    size_t nout = 0;
    for (size_t i = 0; i < count; i++)
        if (taken[i])
            out[nout++] = taken[i]->update;
    /* Entries that reached the limit now are retired on the next call, not
     * here: out[] points into them until the caller has encoded. */
    return nout;
}

int
swim__bqueue_transmits (swim_bqueue_t *q, const char *name)
{
    swim_bcast_t *b = (swim_bcast_t *) zhashx_lookup (q->by_name, name);
    return b ? (int) b->transmits : -1;
}

bool
swim__bqueue_has (swim_bqueue_t *q, const char *name, uint32_t kind)
{
    swim_bcast_t *b = (swim_bcast_t *) zhashx_lookup (q->by_name, name);
    return b && b->update.kind == kind;
}

size_t
swim__bqueue_pending (swim_bqueue_t *q, uint32_t limit)
{
    s_sweep (q, limit, NULL);
    return q->n;
}
