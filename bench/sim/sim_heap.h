/*
 * sim_heap.h - the simulator's event queue: a binary min-heap ordered by
 * (time, seq). The sequence number is assigned at push, so two events due at
 * the same millisecond pop in the order they were scheduled: that tie rule
 * is what makes a run reproducible (same seed, same output).
 */
#ifndef SHED_SIM_HEAP_H
#define SHED_SIM_HEAP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct {
    uint64_t time; /* simulated ms */
    uint64_t seq;  /* push order (tie-break) */
    uint32_t kind; /* what to do (sim_cluster.c) */
    uint32_t node; /* the node it happens at */
    uint64_t arg;  /* kind-specific (e.g. a timer generation) */
    void *ptr;     /* kind-specific payload, owned by the event */
} sim_event_t;

typedef struct _sim_heap_t sim_heap_t;

sim_heap_t *sim_heap_new (void);
/* Frees the heap; events still queued are handed to `drop` (may be NULL) so
 * their payloads can be released. Nulls the caller's pointer. */
void sim_heap_destroy (sim_heap_t **self_p, void (*drop) (sim_event_t *ev));
/* Queue a copy of *ev (its seq is overwritten). Aborts on out of memory:
 * a simulation that cannot queue an event has no meaningful result. */
void sim_heap_push (sim_heap_t *self, const sim_event_t *ev);
/* Earliest event into *ev; false if empty. */
bool sim_heap_pop (sim_heap_t *self, sim_event_t *ev);
/* Time of the earliest event (UINT64_MAX if empty). */
uint64_t sim_heap_peek_time (const sim_heap_t *self);
size_t sim_heap_size (const sim_heap_t *self);

#endif
