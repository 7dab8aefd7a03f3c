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
 * The queue is small (at most one entry per member), so a sort per packet
 * is cheaper than keeping a heap consistent.
 */
#include "cluster/swim_internal.h"

#include <stdlib.h>
#include <string.h>

void
swim__bqueue_init (swim_bqueue_t *q)
{
    memset (q, 0, sizeof *q);
}

static void
s_bcast_free (swim_bcast_t **b_p)
{
    if (*b_p) {
        swim__tags_free (&(*b_p)->update.tags);
        free (*b_p);
        *b_p = NULL;
    }
}

void
swim__bqueue_clear (swim_bqueue_t *q)
{
    for (size_t i = 0; i < q->n; i++)
        s_bcast_free (&q->items[i]);
    free (q->items);
    memset (q, 0, sizeof *q);
}

static void
s_remove_at (swim_bqueue_t *q, size_t i)
{
    s_bcast_free (&q->items[i]);
    q->items[i] = q->items[q->n - 1];
    q->n--;
}

void
swim__bqueue_put (swim_bqueue_t *q, const gossip_update_t *u, size_t size)
{
    for (size_t i = 0; i < q->n; i++)
        if (strcmp (q->items[i]->update.name, u->name) == 0) {
            s_remove_at (q, i);
            break;
        }
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
    if (q->n == q->cap) {
        size_t cap = q->cap ? q->cap * 2 : 16;
        swim_bcast_t **items = (swim_bcast_t **) realloc (q->items, cap * sizeof *items);
        if (!items) {
            s_bcast_free (&b);
            return;
        }
        q->items = items;
        q->cap = cap;
    }
    q->items[q->n++] = b;
}

static int
s_cmp (const void *a, const void *b)
{
    const swim_bcast_t *x = *(swim_bcast_t *const *) a;
    const swim_bcast_t *y = *(swim_bcast_t *const *) b;
    if (x->transmits != y->transmits)
        return x->transmits < y->transmits ? -1 : 1;
    return x->order > y->order ? -1 : (x->order < y->order ? 1 : 0);
}

/* Retire entries that reached the transmit limit. */
static void
s_sweep (swim_bqueue_t *q, uint32_t limit, uint64_t *retired)
{
    for (size_t i = 0; i < q->n;)
        if (q->items[i]->transmits >= limit) {
            s_remove_at (q, i);
            if (retired)
                (*retired)++;
        }
        else
            i++;
}

size_t
swim__bqueue_take (swim_bqueue_t *q, const char *first, size_t budget, uint32_t limit,
                   gossip_update_t *out, size_t max, uint64_t *retired)
{
    s_sweep (q, limit, retired);
    if (q->n == 0 || max == 0)
        return 0;
    qsort (q->items, q->n, sizeof q->items[0], s_cmp);
    /* Buddy system: the update about the member we are probing goes first,
     * so a suspect hears about its suspicion from the probe itself. */
    if (first) {
        for (size_t i = 0; i < q->n; i++)
            if (strcmp (q->items[i]->update.name, first) == 0) {
                swim_bcast_t *b = q->items[i];
                memmove (&q->items[1], &q->items[0], i * sizeof q->items[0]);
                q->items[0] = b;
                break;
            }
    }
    size_t count = 0, used = 0;
    for (size_t i = 0; i < q->n && count < max; i++) {
        swim_bcast_t *b = q->items[i];
        if (used + b->size > budget)
            continue; /* a smaller one further down may still fit */
        used += b->size;
        b->transmits++;
        out[count++] = b->update;
    }
    /* Entries that reached the limit now are retired on the next call, not
     * here: out[] points into them until the caller has encoded. */
    return count;
}

int
swim__bqueue_transmits (swim_bqueue_t *q, const char *name)
{
    for (size_t i = 0; i < q->n; i++)
        if (strcmp (q->items[i]->update.name, name) == 0)
            return (int) q->items[i]->transmits;
    return -1;
}

bool
swim__bqueue_has (swim_bqueue_t *q, const char *name, uint32_t kind)
{
    for (size_t i = 0; i < q->n; i++)
        if (strcmp (q->items[i]->update.name, name) == 0)
            return q->items[i]->update.kind == kind;
    return false;
}

size_t
swim__bqueue_pending (swim_bqueue_t *q, uint32_t limit)
{
    s_sweep (q, limit, NULL);
    return q->n;
}
