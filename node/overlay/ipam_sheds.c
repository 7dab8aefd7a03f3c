/*
 * ipam_sheds.c - the addresses of this node's sheds (ipam.h): assigned
 * from our block by host offset, taken on request, adopted when a shed
 * moves here with its address, lent when one moves away with it; their
 * MACs; and the holders of a moved address. Apart from ipam.c because it
 * is per-shed bookkeeping inside the block, not the block agreement
 * among nodes (ipam_int.h).
 */
#include "node/overlay/ipam_int.h"

#include <arpa/inet.h>
#include <assert.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int
ipam_mac_for (const char *ip, uint8_t mac[6])
{
    struct in_addr in;
    if (!ip || inet_pton (AF_INET, ip, &in) != 1)
        return -1;
    mac[0] = 0x02;
    mac[1] = 0x00;
    memcpy (mac + 2, &in.s_addr, 4); /* network order: the dotted bytes */
    return 0;
}

static bool
s_local (const ipam_shed_t *s)
{
    return s->kind != IPAM_SHED_LENT;
}

/* A local shed (own or adopted address) by name; lent entries are not
 * sheds of this node. */
ipam_shed_t *
ipam__shed_find (const ipam_t *self, const char *name)
{
    for (size_t i = 0; i < self->nsheds; i++)
        if (s_local (&self->sheds[i]) && strcmp (self->sheds[i].name, name) == 0)
            return &self->sheds[i];
    return NULL;
}

static uint32_t
s_block_base (const ipam_t *self)
{
    return self->base + self->block * self->block_size;
}

/* The entry's address; false for an own offset while we hold no block. */
static bool
s_entry_addr (const ipam_t *self, const ipam_shed_t *s, uint32_t *addr)
{
    if (s->kind != IPAM_SHED_OWN) {
        *addr = s->addr;
        return true;
    }
    if (!self->have)
        return false;
    *addr = s_block_base (self) + s->offset;
    return true;
}

/* The entry holding `addr` (own, adopted or lent), or NULL. */
ipam_shed_t *
ipam__addr_holder (const ipam_t *self, uint32_t addr)
{
    for (size_t i = 0; i < self->nsheds; i++) {
        uint32_t a;
        if (s_entry_addr (self, &self->sheds[i], &a) && a == addr)
            return &self->sheds[i];
    }
    return NULL;
}

bool
ipam__offset_used (const ipam_t *self, uint32_t offset)
{
    for (size_t i = 0; i < self->nsheds; i++)
        if (self->sheds[i].kind == IPAM_SHED_OWN && self->sheds[i].offset == offset)
            return true;
    /* Adopted and lent addresses that fall into our block hold it too. */
    return self->have && ipam__addr_holder (self, s_block_base (self) + offset);
}

ipam_shed_t *
ipam__shed_add (ipam_t *self, const char *name, ipam_kind_t kind, uint32_t offset, uint32_t addr)
{
    if (self->nsheds == self->sheds_cap) {
        size_t cap = self->sheds_cap ? self->sheds_cap * 2 : 16;
        ipam_shed_t *sheds = realloc (self->sheds, cap * sizeof *sheds);
        if (!sheds) {
            errno = ENOMEM;
            return NULL;
        }
        self->sheds = sheds;
        self->sheds_cap = cap;
    }
    ipam_shed_t *s = &self->sheds[self->nsheds++];
    memset (s, 0, sizeof *s);
    snprintf (s->name, sizeof s->name, "%s", name);
    s->kind = kind;
    s->offset = offset;
    s->addr = addr;
    return s;
}

static void
s_shed_remove (ipam_t *self, ipam_shed_t *s)
{
    *s = self->sheds[--self->nsheds];
}

static void
s_address (uint32_t addr, char ip[IPAM_ADDR_MAX], uint8_t mac[6])
{
    ipam__addr_text (addr, ip);
    if (mac)
        ipam_mac_for (ip, mac);
}

static bool
s_name_ok (const char *shed)
{
    return shed && *shed && strlen (shed) <= IPAM_NAME_MAX && !strchr (shed, ' ')
           && !strchr (shed, '\n');
}

int
ipam_assign (ipam_t *self, const char *shed, uint64_t now_ms, char ip[IPAM_ADDR_MAX],
             uint8_t mac[6])
{
    assert (self);
    if (!s_name_ok (shed)) {
        errno = EINVAL;
        return -1;
    }
    ipam_shed_t *s = ipam__shed_find (self, shed);
    if (s && s->kind == IPAM_SHED_ADOPTED) {
        /* It moved here with its address: that stays its address. */
        s_address (s->addr, ip, mac);
        return 0;
    }
    if (!ipam_ready (self, now_ms)) {
        errno = EAGAIN;
        return -1;
    }
    if (!s) {
        /* Offsets 2 .. size-2: .0 and the last address may be the CIDR's
         * network/broadcast address, .1 is the gateway. Lent and adopted
         * addresses are skipped (ipam__offset_used). */
        uint32_t offset = 2;
        while (offset <= self->block_size - 2 && ipam__offset_used (self, offset))
            offset++;
        if (offset > self->block_size - 2) {
            errno = ENOSPC;
            return -1;
        }
        s = ipam__shed_add (self, shed, IPAM_SHED_OWN, offset, 0);
        if (!s)
            return -1;
    }
    s_address (s_block_base (self) + s->offset, ip, mac);
    return 0;
}

int
ipam_take (ipam_t *self, const char *shed, const char *want_ip, uint64_t now_ms,
           char ip[IPAM_ADDR_MAX], uint8_t mac[6], bool *adopted)
{
    assert (self);
    struct in_addr in;
    if (!s_name_ok (shed) || !want_ip || inet_pton (AF_INET, want_ip, &in) != 1) {
        errno = EINVAL;
        return -1;
    }
    uint32_t addr = ntohl (in.s_addr);
    uint32_t mask = ~0u << (32 - self->prefix);
    /* In the CIDR, and a shed address of its block: never a block's
     * network address, gateway (.1) or last address. */
    uint32_t host = (addr - self->base) % self->block_size;
    if ((addr & mask) != self->base || host < 2 || host > self->block_size - 2) {
        errno = EINVAL;
        return -1;
    }
    if (!ipam_ready (self, now_ms)) {
        errno = EAGAIN;
        return -1;
    }
    ipam_shed_t *mine = ipam__shed_find (self, shed);
    uint32_t cur;
    if (mine && s_entry_addr (self, mine, &cur) && cur == addr) {
        if (adopted)
            *adopted = mine->kind == IPAM_SHED_ADOPTED;
        s_address (addr, ip, mac);
        return 0; /* again: idempotent */
    }
    if (mine) {
        errno = EEXIST; /* the shed holds another address here */
        return -1;
    }
    ipam_shed_t *holder = ipam__addr_holder (self, addr);
    if (holder) {
        /* Our own lent address coming back with the shed it was lent
         * for is the one case where a held address is given out. */
        if (holder->kind != IPAM_SHED_LENT || strcmp (holder->name, shed) != 0) {
            errno = EADDRINUSE;
            return -1;
        }
        s_shed_remove (self, holder);
    }
    bool ours = addr >= s_block_base (self) && addr - s_block_base (self) < self->block_size;
    if (!ipam__shed_add (self, shed, ours ? IPAM_SHED_OWN : IPAM_SHED_ADOPTED,
                         ours ? addr - s_block_base (self) : 0, ours ? 0 : addr))
        return -1;
    if (adopted)
        *adopted = !ours;
    s_address (addr, ip, mac);
    return 0;
}

int
ipam_release (ipam_t *self, const char *shed)
{
    assert (self);
    ipam_shed_t *s = ipam__shed_find (self, shed);
    if (!s) {
        errno = ENOENT;
        return -1;
    }
    s_shed_remove (self, s);
    return 0;
}

int
ipam_lend (ipam_t *self, const char *shed, uint64_t now_ms)
{
    assert (self);
    ipam_shed_t *s = ipam__shed_find (self, shed);
    if (!s) {
        errno = ENOENT;
        return -1;
    }
    uint32_t addr;
    if (s->kind == IPAM_SHED_ADOPTED || !s_entry_addr (self, s, &addr)) {
        /* An adopted address stays reserved by its block's node; an
         * offset without a block names no address anyone holds. */
        s_shed_remove (self, s);
        return 1;
    }
    s->kind = IPAM_SHED_LENT;
    s->addr = addr;
    s->offset = 0;
    s->since = now_ms;
    return 0;
}

int
ipam_lent_free (ipam_t *self, const char *ip)
{
    assert (self);
    struct in_addr in;
    if (ip && inet_pton (AF_INET, ip, &in) == 1) {
        for (size_t i = 0; i < self->nsheds; i++) {
            ipam_shed_t *s = &self->sheds[i];
            if (s->kind == IPAM_SHED_LENT && s->addr == ntohl (in.s_addr)) {
                s_shed_remove (self, s);
                return 0;
            }
        }
    }
    errno = ENOENT;
    return -1;
}

void
ipam_lent_each (const ipam_t *self, ipam_lent_fn *fn, void *arg)
{
    /* A copy of the entries: fn may free them (ipam_lent_free). */
    size_t n = 0;
    for (size_t i = 0; i < self->nsheds; i++)
        n += self->sheds[i].kind == IPAM_SHED_LENT;
    if (!n)
        return;
    ipam_shed_t *copy = malloc (n * sizeof *copy);
    if (!copy)
        return;
    n = 0;
    for (size_t i = 0; i < self->nsheds; i++)
        if (self->sheds[i].kind == IPAM_SHED_LENT)
            copy[n++] = self->sheds[i];
    for (size_t i = 0; i < n; i++) {
        char ip[IPAM_ADDR_MAX];
        ipam__addr_text (copy[i].addr, ip);
        fn (copy[i].name, ip, copy[i].since, arg);
    }
    free (copy);
}

size_t
ipam_lent_count (const ipam_t *self)
{
    size_t n = 0;
    for (size_t i = 0; i < self->nsheds; i++)
        n += self->sheds[i].kind == IPAM_SHED_LENT;
    return n;
}

bool
ipam_holds_mac (const ipam_t *self, const uint8_t mac[6])
{
    if (mac[0] != 0x02 || mac[1] != 0x00)
        return false;
    uint32_t net;
    memcpy (&net, mac + 2, 4);
    const ipam_shed_t *s = ipam__addr_holder (self, ntohl (net));
    return s && s_local (s);
}

int
ipam_lookup (const ipam_t *self, const char *shed, char ip[IPAM_ADDR_MAX], uint8_t mac[6])
{
    const ipam_shed_t *s = ipam__shed_find (self, shed);
    uint32_t addr;
    if (!s || !s_entry_addr (self, s, &addr))
        return -1;
    s_address (addr, ip, mac);
    return 0;
}

bool
ipam_adopted (const ipam_t *self, const char *shed)
{
    const ipam_shed_t *s = ipam__shed_find (self, shed);
    return s && s->kind == IPAM_SHED_ADOPTED;
}

size_t
ipam_count (const ipam_t *self)
{
    size_t n = 0;
    for (size_t i = 0; i < self->nsheds; i++)
        n += s_local (&self->sheds[i]);
    return n;
}

void
ipam_each (const ipam_t *self, ipam_each_fn *fn, void *arg)
{
    for (size_t i = 0; i < self->nsheds; i++)
        if (s_local (&self->sheds[i]))
            fn (self->sheds[i].name, arg);
}

bool
ipam_holder_wins (uint64_t a_epoch, const char *a_node, uint64_t b_epoch, const char *b_node)
{
    return a_epoch != b_epoch ? a_epoch > b_epoch : strcmp (a_node, b_node) < 0;
}

int
ipam_holders_set (ipam_holders_t *hs, const char *node, const char *ip, uint64_t epoch)
{
    if (!node || strlen (node) > IPAM_NAME_MAX || !ip || strlen (ip) >= IPAM_ADDR_MAX) {
        errno = EINVAL;
        return -1;
    }
    ipam_holder_t *h = NULL;
    for (size_t i = 0; i < hs->n; i++)
        if (strcmp (hs->h[i].node, node) == 0)
            h = &hs->h[i];
    if (!h) {
        if (hs->n == IPAM_HOLDERS_MAX) {
            errno = ENOSPC;
            return -1;
        }
        h = &hs->h[hs->n++];
        snprintf (h->node, sizeof h->node, "%s", node);
    }
    snprintf (h->ip, sizeof h->ip, "%s", ip);
    h->epoch = epoch;
    return 0;
}

bool
ipam_holders_drop (ipam_holders_t *hs, const char *node)
{
    for (size_t i = 0; i < hs->n; i++)
        if (strcmp (hs->h[i].node, node) == 0) {
            hs->h[i] = hs->h[--hs->n];
            return true;
        }
    return false;
}

const ipam_holder_t *
ipam_holders_winner (const ipam_holders_t *hs)
{
    const ipam_holder_t *w = NULL;
    for (size_t i = 0; i < hs->n; i++)
        if (!w || ipam_holder_wins (hs->h[i].epoch, hs->h[i].node, w->epoch, w->node))
            w = &hs->h[i];
    return w;
}
