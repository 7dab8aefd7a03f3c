/*
 * sim_deadline.c - swim_next_deadline from a list of suspects (see
 * sim_deadline.h); mirrors cluster/swim.c line for line otherwise.
 */
#include "bench/sim/sim_deadline.h"
#include "cluster/swim_internal.h"

#include <stdlib.h>

void
sim_suspects_add (sim_suspects_t *list, uint32_t id)
{
    for (uint32_t i = 0; i < list->n; i++)
        if (list->ids[i] == id)
            return;
    if (list->n == list->cap) {
        uint32_t cap = list->cap ? list->cap * 2 : 4;
        uint32_t *ids = (uint32_t *) realloc (list->ids, cap * sizeof *ids);
        if (!ids)
            abort ();
        list->ids = ids;
        list->cap = cap;
    }
    list->ids[list->n++] = id;
}

void
sim_suspects_free (sim_suspects_t *list)
{
    free (list->ids);
    list->ids = NULL;
    list->n = list->cap = 0;
}

uint64_t
sim_deadline (swim_t *self, sim_suspects_t *list,
              void (*name_of) (uint32_t id, char *name, size_t size))
{
    uint64_t next = self->reap_next_ms;
#define S_MIN(x)                                                                                   \
    do {                                                                                           \
        uint64_t x_ = (x);                                                                         \
        if (x_ < next)                                                                             \
            next = x_;                                                                             \
    } while (0)
    if (self->is_refused)
        return UINT64_MAX;
    if (!self->leaving) {
        if (self->probe.active) {
            if (!self->probe.indirect_sent)
                S_MIN (self->probe.timeout_at);
            S_MIN (self->probe.end_at);
        }
        else
            S_MIN (self->probe_next_ms);
    }
    for (size_t i = 0; i < self->nrelays; i++)
        S_MIN (self->relays[i].deadline_ms);
    for (uint32_t i = 0; i < list->n;) {
        char name[SWIM_NAME_MAX + 1];
        name_of (list->ids[i], name, sizeof name);
        swim_node_t *node = swim__lookup (self, name);
        if (node && node != self->nodes[0] && node->suspect) {
            S_MIN (swim__suspicion_deadline (&node->suspicion));
            i++;
        }
        else
            list->ids[i] = list->ids[--list->n];
    }
    if (self->bq.n > 0)
        S_MIN (self->gossip_next_ms);
    if (self->cfg.pushpull_interval_ms && !self->leaving)
        S_MIN (self->pushpull_next_ms);
    if (self->cfg.reconnect_interval_ms && !self->leaving)
        S_MIN (self->reconnect_next_ms);
#undef S_MIN
    return next;
}
