/*
 * bus_subs.c - prefix sets of the bus (bus_internal.h): what a consumer
 * socket, a link, or the whole node wants. Small sets (a few dozen
 * prefixes), so a linear scan beats a trie on the hot path.
 */
#include "bridges/bus_internal.h"

#include <stdlib.h>
#include <string.h>

bus_sub_t *
bus_subs_find (bus_subs_t *subs, const uint8_t *data, size_t len)
{
    for (size_t i = 0; i < subs->n; i++)
        if (subs->items[i].len == len && memcmp (subs->items[i].data, data, len) == 0)
            return &subs->items[i];
    return NULL;
}

int
bus_subs_add (bus_subs_t *subs, const uint8_t *data, size_t len)
{
    bus_sub_t *sub = bus_subs_find (subs, data, len);
    if (sub) {
        sub->refs++;
        return 0;
    }
    if (len > BUS_SUB_MAX || subs->n >= BUS_SUBS_MAX)
        return -1;
    if (subs->n == subs->cap) {
        size_t cap = subs->cap ? subs->cap * 2 : 8;
        bus_sub_t *items = realloc (subs->items, cap * sizeof (bus_sub_t));
        if (!items)
            return -1; /* the caller counts it like a full set */
        subs->items = items;
        subs->cap = cap;
    }
    sub = &subs->items[subs->n++];
    memcpy (sub->data, data, len);
    sub->len = len;
    sub->refs = 1;
    return 1;
}

int
bus_subs_remove (bus_subs_t *subs, const uint8_t *data, size_t len)
{
    bus_sub_t *sub = bus_subs_find (subs, data, len);
    if (!sub || --sub->refs > 0)
        return 0;
    *sub = subs->items[--subs->n];
    return 1;
}

bool
bus_subs_match (const bus_subs_t *subs, const uint8_t *frame, size_t len)
{
    for (size_t i = 0; i < subs->n; i++)
        if (subs->items[i].len <= len
            && memcmp (subs->items[i].data, frame, subs->items[i].len) == 0)
            return true;
    return false;
}

void
bus_subs_clear (bus_subs_t *subs)
{
    free (subs->items);
    memset (subs, 0, sizeof *subs);
}
