/*
 * fdb.c - the overlay's forwarding table: MAC -> owning node, programmed by
 * the owner of the replicated state (no learning: a MAC moves only when the
 * state says so, so a member cannot steal another's MACs by sending with
 * them). Each entry caches the peer of its node, re-resolved whenever the
 * peer table changes, so the TX path does one hash lookup per frame.
 *
 * Chained hash, fixed bucket count (sheds per cluster: hundreds to a few
 * thousand; 1024 buckets keep chains short).
 */
#include "node/overlay/overlay_int.h"

#include <assert.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#define BUCKETS 1024

typedef struct entry {
    struct entry *next;
    uint8_t mac[6];
    char node[OVERLAY_NODE_MAX];
    overlay_peer_t *peer; //  resolved owner, or NULL
} entry_t;

struct _overlay_fdb_t {
    entry_t *bucket[BUCKETS];
    size_t count;
};

static size_t
s_hash (const uint8_t mac[6])
{
    //  The low bytes of a MAC vary most (OUI first); FNV-1a over all six.
    uint32_t h = 2166136261u;
    for (int i = 0; i < 6; i++)
        h = (h ^ mac[i]) * 16777619u;
    return h & (BUCKETS - 1);
}

overlay_fdb_t *
overlay__fdb_new (void)
{
    return (overlay_fdb_t *) calloc (1, sizeof (overlay_fdb_t));
}

void
overlay__fdb_destroy (overlay_fdb_t **self_p)
{
    assert (self_p);
    overlay_fdb_t *self = *self_p;
    if (!self)
        return;
    for (size_t b = 0; b < BUCKETS; b++)
        while (self->bucket[b]) {
            entry_t *e = self->bucket[b];
            self->bucket[b] = e->next;
            free (e);
        }
    free (self);
    *self_p = NULL;
}

static entry_t **
s_find (overlay_fdb_t *self, const uint8_t mac[6])
{
    entry_t **e = &self->bucket[s_hash (mac)];
    while (*e && memcmp ((*e)->mac, mac, 6) != 0)
        e = &(*e)->next;
    return e;
}

int
overlay__fdb_set (overlay_fdb_t *self, const uint8_t mac[6], const char *node)
{
    assert (self);
    if (!mac || !node || !*node || strlen (node) >= OVERLAY_NODE_MAX || (mac[0] & 1)) {
        errno = EINVAL; //  group MACs are flooded, never owned
        return -1;
    }
    entry_t **slot = s_find (self, mac);
    entry_t *e = *slot;
    if (!e) {
        e = (entry_t *) calloc (1, sizeof *e);
        if (!e)
            return -1;
        memcpy (e->mac, mac, 6);
        *slot = e;
        self->count++;
    }
    strcpy (e->node, node);
    e->peer = NULL; //  caller re-resolves
    return 0;
}

int
overlay__fdb_del (overlay_fdb_t *self, const uint8_t mac[6])
{
    assert (self);
    entry_t **slot = s_find (self, mac);
    if (!*slot) {
        errno = ENOENT;
        return -1;
    }
    entry_t *e = *slot;
    *slot = e->next;
    free (e);
    self->count--;
    return 0;
}

void
overlay__fdb_resolve (overlay_fdb_t *self, const overlay_peers_t *peers)
{
    assert (self);
    for (size_t b = 0; b < BUCKETS; b++)
        for (entry_t *e = self->bucket[b]; e; e = e->next)
            e->peer = overlay__peers_by_node (peers, e->node);
}

overlay_peer_t *
overlay__fdb_lookup (const overlay_fdb_t *self, const uint8_t mac[6])
{
    assert (self);
    for (const entry_t *e = self->bucket[s_hash (mac)]; e; e = e->next)
        if (memcmp (e->mac, mac, 6) == 0)
            return e->peer;
    return NULL;
}

size_t
overlay__fdb_count (const overlay_fdb_t *self)
{
    assert (self);
    return self->count;
}
