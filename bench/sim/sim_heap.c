/*
 * sim_heap.c - binary min-heap of simulator events (see sim_heap.h).
 */
#include "bench/sim/sim_heap.h"

#include <stdio.h>
#include <stdlib.h>

struct _sim_heap_t {
    sim_event_t *items;
    size_t n, cap;
    uint64_t next_seq;
};

static bool
s_less (const sim_event_t *a, const sim_event_t *b)
{
    return a->time < b->time || (a->time == b->time && a->seq < b->seq);
}

sim_heap_t *
sim_heap_new (void)
{
    sim_heap_t *self = (sim_heap_t *) calloc (1, sizeof *self);
    if (!self)
        abort ();
    return self;
}

void
sim_heap_destroy (sim_heap_t **self_p, void (*drop) (sim_event_t *ev))
{
    if (!self_p || !*self_p)
        return;
    sim_heap_t *self = *self_p;
    if (drop)
        for (size_t i = 0; i < self->n; i++)
            drop (&self->items[i]);
    free (self->items);
    free (self);
    *self_p = NULL;
}

void
sim_heap_push (sim_heap_t *self, const sim_event_t *ev)
{
    if (self->n == self->cap) {
        size_t cap = self->cap ? self->cap * 2 : 1024;
        sim_event_t *items = (sim_event_t *) realloc (self->items, cap * sizeof *items);
        if (!items) {
            fprintf (stderr, "sim: out of memory (event queue)\n");
            abort ();
        }
        self->items = items;
        self->cap = cap;
    }
    sim_event_t e = *ev;
    e.seq = self->next_seq++;
    size_t i = self->n++;
    while (i > 0) {
        size_t parent = (i - 1) / 2;
        if (!s_less (&e, &self->items[parent]))
            break;
        self->items[i] = self->items[parent];
        i = parent;
    }
    self->items[i] = e;
}

bool
sim_heap_pop (sim_heap_t *self, sim_event_t *ev)
{
    if (self->n == 0)
        return false;
    *ev = self->items[0];
    sim_event_t last = self->items[--self->n];
    size_t i = 0, n = self->n;
    for (;;) {
        size_t c = 2 * i + 1;
        if (c >= n)
            break;
        if (c + 1 < n && s_less (&self->items[c + 1], &self->items[c]))
            c++;
        if (!s_less (&self->items[c], &last))
            break;
        self->items[i] = self->items[c];
        i = c;
    }
    if (n > 0)
        self->items[i] = last;
    return true;
}

uint64_t
sim_heap_peek_time (const sim_heap_t *self)
{
    return self->n ? self->items[0].time : UINT64_MAX;
}

size_t
sim_heap_size (const sim_heap_t *self)
{
    return self->n;
}
