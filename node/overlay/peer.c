/*
 * peer.c - the peer table: one entry per member node we exchange overlay
 * traffic with (node id, static public key, underlay address, session).
 *
 * A plain array searched linearly: a cluster has tens of nodes, and with
 * TSO super-frames the datapath looks a peer up tens of thousands of times
 * a second, not millions. (A hash by address is the step if that changes.)
 */
#include "node/overlay/overlay_int.h"

#include <arpa/inet.h>
#include <assert.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

overlay_peer_t *
overlay__peer_new (const char *node, const uint8_t pubkey[32], const struct sockaddr *addr,
                   socklen_t addrlen, const uint8_t local_secret[32],
                   const uint8_t local_public[32], const shed_session_cfg_t *cfg)
{
    assert (node && pubkey && addr);
    if (strlen (node) == 0 || strlen (node) >= OVERLAY_NODE_MAX
        || addrlen > sizeof (struct sockaddr_storage)) {
        errno = EINVAL;
        return NULL;
    }
    overlay_peer_t *self = (overlay_peer_t *) calloc (1, sizeof *self);
    if (!self)
        return NULL;
    //  RX reassembly tells peers apart by this, not by the pointer: a
    //  removed peer's memory may come back as another peer.
    static uint64_t serials;
    self->serial = __atomic_add_fetch (&serials, 1, __ATOMIC_RELAXED);
    strcpy (self->node, node);
    memcpy (self->pubkey, pubkey, 32);
    memcpy (&self->addr, addr, addrlen);
    self->addrlen = addrlen;
    self->session = shed_session_new (local_secret, local_public, pubkey, cfg);
    if (!self->session) {
        free (self);
        errno = EINVAL; //  weak (small-order) public key
        return NULL;
    }
    return self;
}

void
overlay__peer_destroy (overlay_peer_t **self_p)
{
    assert (self_p);
    overlay_peer_t *self = *self_p;
    if (!self)
        return;
    shed_session_destroy (&self->session);
    free (self);
    *self_p = NULL;
}

int
overlay__peers_put (overlay_peers_t *peers, overlay_peer_t *peer)
{
    overlay_peer_t *old = overlay__peers_take (peers, peer->node);
    overlay__peer_destroy (&old);
    if (peers->count == peers->cap) {
        size_t cap = peers->cap ? peers->cap * 2 : 8;
        overlay_peer_t **items = (overlay_peer_t **) realloc (peers->items, cap * sizeof *items);
        if (!items)
            return -1;
        peers->items = items;
        peers->cap = cap;
    }
    //  Sorted by node id, so stats come out in a stable order.
    size_t i = peers->count;
    while (i > 0 && strcmp (peers->items[i - 1]->node, peer->node) > 0) {
        peers->items[i] = peers->items[i - 1];
        i--;
    }
    peers->items[i] = peer;
    peers->count++;
    return 0;
}

overlay_peer_t *
overlay__peers_take (overlay_peers_t *peers, const char *node)
{
    for (size_t i = 0; i < peers->count; i++)
        if (strcmp (peers->items[i]->node, node) == 0) {
            overlay_peer_t *peer = peers->items[i];
            memmove (peers->items + i, peers->items + i + 1,
                     (peers->count - i - 1) * sizeof *peers->items);
            peers->count--;
            return peer;
        }
    return NULL;
}

overlay_peer_t *
overlay__peers_by_node (const overlay_peers_t *peers, const char *node)
{
    for (size_t i = 0; i < peers->count; i++)
        if (strcmp (peers->items[i]->node, node) == 0)
            return peers->items[i];
    return NULL;
}

//  Same family, address and port (IPv6 flow info and scope ignored).
static bool
s_addr_equal (const struct sockaddr *a, const struct sockaddr_storage *b)
{
    if (a->sa_family != b->ss_family)
        return false;
    if (a->sa_family == AF_INET) {
        const struct sockaddr_in *x = (const struct sockaddr_in *) a;
        const struct sockaddr_in *y = (const struct sockaddr_in *) b;
        return x->sin_port == y->sin_port && x->sin_addr.s_addr == y->sin_addr.s_addr;
    }
    if (a->sa_family == AF_INET6) {
        const struct sockaddr_in6 *x = (const struct sockaddr_in6 *) a;
        const struct sockaddr_in6 *y = (const struct sockaddr_in6 *) b;
        return x->sin6_port == y->sin6_port
               && memcmp (&x->sin6_addr, &y->sin6_addr, sizeof x->sin6_addr) == 0;
    }
    return false;
}

overlay_peer_t *
overlay__peers_by_addr (const overlay_peers_t *peers, const struct sockaddr *addr,
                        socklen_t addrlen)
{
    if (!addr || addrlen < sizeof (sa_family_t))
        return NULL;
    for (size_t i = 0; i < peers->count; i++)
        if (s_addr_equal (addr, &peers->items[i]->addr))
            return peers->items[i];
    return NULL;
}

overlay_peer_t *
overlay__peers_by_key (const overlay_peers_t *peers, const uint8_t pubkey[32])
{
    for (size_t i = 0; i < peers->count; i++)
        if (sodium_memcmp (peers->items[i]->pubkey, pubkey, 32) == 0)
            return peers->items[i];
    return NULL;
}

void
overlay__peers_clear (overlay_peers_t *peers)
{
    for (size_t i = 0; i < peers->count; i++)
        overlay__peer_destroy (&peers->items[i]);
    free (peers->items);
    memset (peers, 0, sizeof *peers);
}

int
overlay__addr_parse (const char *text, uint16_t port, struct sockaddr_storage *out,
                     socklen_t *outlen)
{
    memset (out, 0, sizeof *out);
    struct sockaddr_in *v4 = (struct sockaddr_in *) out;
    struct sockaddr_in6 *v6 = (struct sockaddr_in6 *) out;
    if (!text || !*text) {
        v4->sin_family = AF_INET;
        v4->sin_port = htons (port);
        *outlen = sizeof *v4;
        return 0;
    }
    if (inet_pton (AF_INET, text, &v4->sin_addr) == 1) {
        v4->sin_family = AF_INET;
        v4->sin_port = htons (port);
        *outlen = sizeof *v4;
        return 0;
    }
    if (inet_pton (AF_INET6, text, &v6->sin6_addr) == 1) {
        v6->sin6_family = AF_INET6;
        v6->sin6_port = htons (port);
        *outlen = sizeof *v6;
        return 0;
    }
    errno = EINVAL;
    return -1;
}
