/* ipam.c - see ipam.h. */
#include "node/overlay/ipam.h"

#include "common/fileutil.h"

#include <arpa/inet.h>
#include <assert.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    char node[IPAM_NAME_MAX + 1];
    uint32_t block;
    uint64_t claim_ms;
} s_peer_t;

/* What an address entry is (docs/overlay.md, "Moving a shed"). */
typedef enum {
    S_OWN,     /* a local shed, host offset in our block */
    S_ADOPTED, /* a local shed that moved here with an address of another block */
    S_LENT,    /* a shed of ours that moved away with its address: reserved */
} s_kind_t;

typedef struct {
    char name[IPAM_NAME_MAX + 1];
    s_kind_t kind;
    uint32_t offset; /* S_OWN: host offset in our block (survives a block change) */
    uint32_t addr;   /* S_ADOPTED, S_LENT: the address itself, host order */
    uint64_t since;  /* S_LENT: monotonic ms when lent (or loaded) */
} s_shed_t;

struct _ipam_t {
    uint32_t base; /* CIDR network address, host order */
    int prefix;    /* CIDR prefix */
    int block_prefix;
    uint32_t nblocks;
    uint32_t block_size; /* addresses per block */
    char node[IPAM_NAME_MAX + 1];
    uint64_t settle_ms;

    bool have;    /* we hold a claim */
    bool settled; /* it stood settle_ms once: stays usable */
    uint32_t block;
    uint64_t claim_ms;     /* wall clock of the claim (priority) */
    uint64_t stable_since; /* monotonic: claimed or last conflict seen */

    s_peer_t *peers;
    size_t npeers, peers_cap;
    s_shed_t *sheds;
    size_t nsheds, sheds_cap;
};

/* FNV-1a: stable across versions and platforms (a node's first choice must
 * not change when it is rebuilt). */
static uint32_t
s_hash (const char *text)
{
    uint32_t h = 2166136261u;
    for (const unsigned char *p = (const unsigned char *) text; *p; p++) {
        h ^= *p;
        h *= 16777619u;
    }
    return h;
}

static int
s_parse_cidr (const char *text, uint32_t *addr, int *prefix)
{
    char ip[IPAM_ADDR_MAX];
    const char *slash = strchr (text, '/');
    if (!slash || (size_t) (slash - text) >= sizeof ip)
        return -1;
    memcpy (ip, text, (size_t) (slash - text));
    ip[slash - text] = '\0';
    struct in_addr in;
    if (inet_pton (AF_INET, ip, &in) != 1)
        return -1;
    char *end;
    long p = strtol (slash + 1, &end, 10);
    if (end == slash + 1 || *end || p < 0 || p > 32)
        return -1;
    *addr = ntohl (in.s_addr);
    *prefix = (int) p;
    return 0;
}

static void
s_addr_text (uint32_t addr, char out[IPAM_ADDR_MAX])
{
    struct in_addr in = { .s_addr = htonl (addr) };
    inet_ntop (AF_INET, &in, out, IPAM_ADDR_MAX);
}

ipam_t *
ipam_new (const ipam_config_t *cfg, char *err, size_t errlen)
{
    assert (cfg);
    uint32_t addr;
    int prefix;
    if (!cfg->cidr || s_parse_cidr (cfg->cidr, &addr, &prefix) != 0) {
        snprintf (err, errlen, "network CIDR '%s' is not a.b.c.d/len", cfg->cidr ? cfg->cidr : "");
        return NULL;
    }
    if (prefix < 8 || prefix > 30) {
        snprintf (err, errlen, "network CIDR /%d: use a prefix from /8 to /30", prefix);
        return NULL;
    }
    uint32_t mask = prefix ? ~0u << (32 - prefix) : 0;
    if (addr & ~mask) {
        snprintf (err, errlen, "network CIDR '%s' has host bits set", cfg->cidr);
        return NULL;
    }
    if (cfg->block_prefix < prefix || cfg->block_prefix > 30) {
        snprintf (err, errlen, "block prefix /%d must lie between the CIDR's /%d and /30",
                  cfg->block_prefix, prefix);
        return NULL;
    }
    if (!cfg->node || !*cfg->node || strlen (cfg->node) > IPAM_NAME_MAX) {
        snprintf (err, errlen, "ipam: bad node name");
        return NULL;
    }
    ipam_t *self = calloc (1, sizeof *self);
    if (!self) {
        snprintf (err, errlen, "out of memory");
        return NULL;
    }
    self->base = addr;
    self->prefix = prefix;
    self->block_prefix = cfg->block_prefix;
    self->nblocks = 1u << (cfg->block_prefix - prefix);
    self->block_size = 1u << (32 - cfg->block_prefix);
    snprintf (self->node, sizeof self->node, "%s", cfg->node);
    self->settle_ms = cfg->settle_ms ? cfg->settle_ms : IPAM_SETTLE_MS_DEFAULT;
    return self;
}

void
ipam_destroy (ipam_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    ipam_t *self = *self_p;
    free (self->peers);
    free (self->sheds);
    free (self);
    *self_p = NULL;
}

/* -------------------------------------------------------------------------
 * Blocks
 */

static s_peer_t *
s_peer_find (const ipam_t *self, const char *node)
{
    for (size_t i = 0; i < self->npeers; i++)
        if (strcmp (self->peers[i].node, node) == 0)
            return &self->peers[i];
    return NULL;
}

/* Does (a_ms, a_node) come before (b_ms, b_node)? Lower claim time wins;
 * the name breaks ties, so both sides reach the same verdict. */
static bool
s_before (uint64_t a_ms, const char *a_node, uint64_t b_ms, const char *b_node)
{
    return a_ms != b_ms ? a_ms < b_ms : strcmp (a_node, b_node) < 0;
}

void
ipam_peer_claim (ipam_t *self, const char *node, uint32_t block, uint64_t claim_ms, uint64_t now_ms)
{
    assert (self);
    if (!node || strcmp (node, self->node) == 0 || strlen (node) > IPAM_NAME_MAX
        || block >= self->nblocks)
        return;
    s_peer_t *p = s_peer_find (self, node);
    if (!p) {
        if (self->npeers == self->peers_cap) {
            size_t cap = self->peers_cap ? self->peers_cap * 2 : 16;
            s_peer_t *peers = realloc (self->peers, cap * sizeof *peers);
            if (!peers)
                return;
            self->peers = peers;
            self->peers_cap = cap;
        }
        p = &self->peers[self->npeers++];
        snprintf (p->node, sizeof p->node, "%s", node);
    }
    p->block = block;
    p->claim_ms = claim_ms;
    /* Someone else on our block: whoever wins, the claim is not yet stable
     * (unless it already settled: then we are the established holder, or
     * the next tick makes us give it up). */
    if (self->have && block == self->block) {
        if (ipam_ready (self, now_ms))
            self->settled = true;
        else
            self->stable_since = now_ms;
    }
}

void
ipam_peer_forget (ipam_t *self, const char *node)
{
    assert (self);
    s_peer_t *p = s_peer_find (self, node);
    if (p)
        *p = self->peers[--self->npeers];
}

static bool
s_taken (const ipam_t *self, uint32_t block)
{
    for (size_t i = 0; i < self->npeers; i++)
        if (self->peers[i].block == block)
            return true;
    return false;
}

bool
ipam_tick (ipam_t *self, uint64_t now_ms, uint64_t wall_ms, bool *lost)
{
    assert (self);
    if (lost)
        *lost = false;
    if (self->have) {
        for (size_t i = 0; i < self->npeers; i++) {
            const s_peer_t *p = &self->peers[i];
            if (p->block == self->block
                && s_before (p->claim_ms, p->node, self->claim_ms, self->node)) {
                self->have = false;
                self->settled = false;
                if (lost)
                    *lost = true;
                break;
            }
        }
        if (self->have) {
            if (ipam_ready (self, now_ms))
                self->settled = true;
            return false;
        }
    }
    uint32_t start = s_hash (self->node) % self->nblocks;
    for (uint32_t i = 0; i < self->nblocks; i++) {
        uint32_t b = (start + i) % self->nblocks;
        if (!s_taken (self, b)) {
            self->have = true;
            self->settled = false;
            self->block = b;
            self->claim_ms = wall_ms;
            self->stable_since = now_ms;
            return true;
        }
    }
    /* Every block is claimed: nothing to publish; lost says whether we
     * just gave one up (the caller withdraws it). */
    return lost && *lost;
}

void
ipam_restore (ipam_t *self, uint32_t block, uint64_t claim_ms, uint64_t now_ms)
{
    assert (self);
    if (block >= self->nblocks)
        return;
    self->have = true;
    self->settled = false;
    self->block = block;
    self->claim_ms = claim_ms;
    self->stable_since = now_ms;
}

bool
ipam_claim (const ipam_t *self, uint32_t *block, uint64_t *claim_ms)
{
    assert (self);
    if (self->have) {
        if (block)
            *block = self->block;
        if (claim_ms)
            *claim_ms = self->claim_ms;
    }
    return self->have;
}

bool
ipam_ready (const ipam_t *self, uint64_t now_ms)
{
    assert (self);
    if (!self->have)
        return false;
    return self->settled || now_ms >= self->stable_since + self->settle_ms;
}

uint32_t
ipam_blocks (const ipam_t *self)
{
    return self->nblocks;
}

int
ipam_cidr_prefix (const ipam_t *self)
{
    return self->prefix;
}

int
ipam_block_text (const ipam_t *self, uint32_t block, char *out, size_t len)
{
    if (block >= self->nblocks)
        return -1;
    char ip[IPAM_ADDR_MAX];
    s_addr_text (self->base + block * self->block_size, ip);
    snprintf (out, len, "%s/%d", ip, self->block_prefix);
    return 0;
}

int
ipam_block_parse (const ipam_t *self, const char *text, uint32_t *block)
{
    uint32_t addr;
    int prefix;
    if (!text || s_parse_cidr (text, &addr, &prefix) != 0 || prefix != self->block_prefix)
        return -1;
    if (addr < self->base || (addr - self->base) % self->block_size
        || (addr - self->base) / self->block_size >= self->nblocks)
        return -1;
    *block = (addr - self->base) / self->block_size;
    return 0;
}

int
ipam_gateway (const ipam_t *self, char out[IPAM_ADDR_MAX])
{
    if (!self->have)
        return -1;
    s_addr_text (self->base + self->block * self->block_size + 1, out);
    return 0;
}

/* -------------------------------------------------------------------------
 * Shed addresses
 */

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
s_local (const s_shed_t *s)
{
    return s->kind != S_LENT;
}

/* A local shed (own or adopted address) by name; lent entries are not
 * sheds of this node. */
static s_shed_t *
s_shed_find (const ipam_t *self, const char *name)
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
s_entry_addr (const ipam_t *self, const s_shed_t *s, uint32_t *addr)
{
    if (s->kind != S_OWN) {
        *addr = s->addr;
        return true;
    }
    if (!self->have)
        return false;
    *addr = s_block_base (self) + s->offset;
    return true;
}

/* The entry holding `addr` (own, adopted or lent), or NULL. */
static s_shed_t *
s_addr_holder (const ipam_t *self, uint32_t addr)
{
    for (size_t i = 0; i < self->nsheds; i++) {
        uint32_t a;
        if (s_entry_addr (self, &self->sheds[i], &a) && a == addr)
            return &self->sheds[i];
    }
    return NULL;
}

static bool
s_offset_used (const ipam_t *self, uint32_t offset)
{
    for (size_t i = 0; i < self->nsheds; i++)
        if (self->sheds[i].kind == S_OWN && self->sheds[i].offset == offset)
            return true;
    /* Adopted and lent addresses that fall into our block hold it too. */
    return self->have && s_addr_holder (self, s_block_base (self) + offset);
}

static s_shed_t *
s_shed_add (ipam_t *self, const char *name, s_kind_t kind, uint32_t offset, uint32_t addr)
{
    if (self->nsheds == self->sheds_cap) {
        size_t cap = self->sheds_cap ? self->sheds_cap * 2 : 16;
        s_shed_t *sheds = realloc (self->sheds, cap * sizeof *sheds);
        if (!sheds) {
            errno = ENOMEM;
            return NULL;
        }
        self->sheds = sheds;
        self->sheds_cap = cap;
    }
    s_shed_t *s = &self->sheds[self->nsheds++];
    memset (s, 0, sizeof *s);
    snprintf (s->name, sizeof s->name, "%s", name);
    s->kind = kind;
    s->offset = offset;
    s->addr = addr;
    return s;
}

static void
s_shed_remove (ipam_t *self, s_shed_t *s)
{
    *s = self->sheds[--self->nsheds];
}

static void
s_address (uint32_t addr, char ip[IPAM_ADDR_MAX], uint8_t mac[6])
{
    s_addr_text (addr, ip);
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
    s_shed_t *s = s_shed_find (self, shed);
    if (s && s->kind == S_ADOPTED) {
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
         * addresses are skipped (s_offset_used). */
        uint32_t offset = 2;
        while (offset <= self->block_size - 2 && s_offset_used (self, offset))
            offset++;
        if (offset > self->block_size - 2) {
            errno = ENOSPC;
            return -1;
        }
        s = s_shed_add (self, shed, S_OWN, offset, 0);
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
    s_shed_t *mine = s_shed_find (self, shed);
    uint32_t cur;
    if (mine && s_entry_addr (self, mine, &cur) && cur == addr) {
        if (adopted)
            *adopted = mine->kind == S_ADOPTED;
        s_address (addr, ip, mac);
        return 0; /* again: idempotent */
    }
    if (mine) {
        errno = EEXIST; /* the shed holds another address here */
        return -1;
    }
    s_shed_t *holder = s_addr_holder (self, addr);
    if (holder) {
        /* Our own lent address coming back with the shed it was lent
         * for is the one case where a held address is given out. */
        if (holder->kind != S_LENT || strcmp (holder->name, shed) != 0) {
            errno = EADDRINUSE;
            return -1;
        }
        s_shed_remove (self, holder);
    }
    bool ours = addr >= s_block_base (self) && addr - s_block_base (self) < self->block_size;
    if (!s_shed_add (self, shed, ours ? S_OWN : S_ADOPTED, ours ? addr - s_block_base (self) : 0,
                     ours ? 0 : addr))
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
    s_shed_t *s = s_shed_find (self, shed);
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
    s_shed_t *s = s_shed_find (self, shed);
    if (!s) {
        errno = ENOENT;
        return -1;
    }
    uint32_t addr;
    if (s->kind == S_ADOPTED || !s_entry_addr (self, s, &addr)) {
        /* An adopted address stays reserved by its block's node; an
         * offset without a block names no address anyone holds. */
        s_shed_remove (self, s);
        return 1;
    }
    s->kind = S_LENT;
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
            s_shed_t *s = &self->sheds[i];
            if (s->kind == S_LENT && s->addr == ntohl (in.s_addr)) {
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
        n += self->sheds[i].kind == S_LENT;
    if (!n)
        return;
    s_shed_t *copy = malloc (n * sizeof *copy);
    if (!copy)
        return;
    n = 0;
    for (size_t i = 0; i < self->nsheds; i++)
        if (self->sheds[i].kind == S_LENT)
            copy[n++] = self->sheds[i];
    for (size_t i = 0; i < n; i++) {
        char ip[IPAM_ADDR_MAX];
        s_addr_text (copy[i].addr, ip);
        fn (copy[i].name, ip, copy[i].since, arg);
    }
    free (copy);
}

size_t
ipam_lent_count (const ipam_t *self)
{
    size_t n = 0;
    for (size_t i = 0; i < self->nsheds; i++)
        n += self->sheds[i].kind == S_LENT;
    return n;
}

bool
ipam_holds_mac (const ipam_t *self, const uint8_t mac[6])
{
    if (mac[0] != 0x02 || mac[1] != 0x00)
        return false;
    uint32_t net;
    memcpy (&net, mac + 2, 4);
    const s_shed_t *s = s_addr_holder (self, ntohl (net));
    return s && s_local (s);
}

int
ipam_lookup (const ipam_t *self, const char *shed, char ip[IPAM_ADDR_MAX], uint8_t mac[6])
{
    const s_shed_t *s = s_shed_find (self, shed);
    uint32_t addr;
    if (!s || !s_entry_addr (self, s, &addr))
        return -1;
    s_address (addr, ip, mac);
    return 0;
}

bool
ipam_adopted (const ipam_t *self, const char *shed)
{
    const s_shed_t *s = s_shed_find (self, shed);
    return s && s->kind == S_ADOPTED;
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

/* -------------------------------------------------------------------------
 * Persistence: a small line format, e.g.
 *     shed-ipam 1 198.19.0.0/16 24
 *     claim 5 1718000000000
 *     shed web-1 2
 *     adopt db-1 198.19.7.4      (moved here with its address)
 *     lent api-1 198.19.5.3      (moved away with its address)
 * Files written before moves existed have no adopt/lent lines and load
 * unchanged.
 */

int
ipam_save (const ipam_t *self, const char *path)
{
    assert (self);
    size_t cap = 128 + self->nsheds * (IPAM_NAME_MAX + 32);
    char *buf = malloc (cap);
    if (!buf)
        return -1;
    char net[IPAM_ADDR_MAX];
    s_addr_text (self->base, net);
    size_t n = (size_t) snprintf (buf, cap, "shed-ipam 1 %s/%d %d\n", net, self->prefix,
                                  self->block_prefix);
    if (self->have)
        n += (size_t) snprintf (buf + n, cap - n, "claim %u %llu\n", self->block,
                                (unsigned long long) self->claim_ms);
    for (size_t i = 0; i < self->nsheds; i++) {
        const s_shed_t *s = &self->sheds[i];
        char ip[IPAM_ADDR_MAX];
        s_addr_text (s->addr, ip);
        if (s->kind == S_OWN)
            n += (size_t) snprintf (buf + n, cap - n, "shed %s %u\n", s->name, s->offset);
        else
            n += (size_t) snprintf (buf + n, cap - n, "%s %s %s\n",
                                    s->kind == S_ADOPTED ? "adopt" : "lent", s->name, ip);
    }
    int rc = shed_write_file_atomic (path, buf, n, 0600);
    free (buf);
    return rc;
}

/* An "adopt"/"lent" line: 1 taken, 0 skipped (another CIDR), -1 bad. */
static int
s_load_addr_line (ipam_t *self, const char *line, uint64_t now_ms)
{
    char word[8], name[IPAM_NAME_MAX + 2], ip[IPAM_ADDR_MAX + 1];
    char tail;
    if (sscanf (line, "%7s %64s %16s %c", word, name, ip, &tail) != 3
        || strlen (name) > IPAM_NAME_MAX)
        return -1;
    bool lent = strcmp (word, "lent") == 0;
    if (!lent && strcmp (word, "adopt") != 0)
        return -1;
    struct in_addr in;
    if (inet_pton (AF_INET, ip, &in) != 1)
        return -1;
    uint32_t addr = ntohl (in.s_addr);
    if ((addr & (~0u << (32 - self->prefix))) != self->base)
        return 0; /* written for another CIDR: means nothing now */
    if ((!lent && s_shed_find (self, name)) || s_addr_holder (self, addr))
        return -1;
    s_shed_t *s = s_shed_add (self, name, lent ? S_LENT : S_ADOPTED, 0, addr);
    if (!s)
        return -1;
    s->since = now_ms;
    return 1;
}

int
ipam_load (ipam_t *self, const char *path, uint64_t now_ms, char *err, size_t errlen)
{
    assert (self);
    size_t len = 0;
    char *text = shed_read_file (path, 4u << 20, &len);
    if (!text) {
        if (errno == ENOENT)
            return 0;
        snprintf (err, errlen, "%s: %s", path, strerror (errno));
        return -1;
    }
    char net[IPAM_ADDR_MAX];
    s_addr_text (self->base, net);
    char header[64];
    snprintf (header, sizeof header, "shed-ipam 1 %s/%d %d", net, self->prefix, self->block_prefix);
    int rc = 0;
    int lineno = 0;
    bool same_layout = false;
    char *save = NULL;
    for (char *line = strtok_r (text, "\n", &save); line; line = strtok_r (NULL, "\n", &save)) {
        lineno++;
        char name[IPAM_NAME_MAX + 2];
        unsigned block, offset;
        unsigned long long ms;
        if (lineno == 1) {
            if (strncmp (line, "shed-ipam 1 ", 12) != 0) {
                snprintf (err, errlen, "%s: not an address file", path);
                rc = -1;
                break;
            }
            same_layout = strcmp (line, header) == 0;
        }
        else if (sscanf (line, "claim %u %llu", &block, &ms) == 2) {
            /* A claim in another CIDR layout means nothing now. */
            if (same_layout)
                ipam_restore (self, block, (uint64_t) ms, now_ms);
        }
        else if (sscanf (line, "shed %64s %u", name, &offset) == 2 && strlen (name) <= IPAM_NAME_MAX
                 && offset >= 2 && offset <= self->block_size - 2 && !s_shed_find (self, name)
                 && !s_offset_used (self, offset)) {
            if (!s_shed_add (self, name, S_OWN, offset, 0)) {
                snprintf (err, errlen, "out of memory");
                rc = -1;
                break;
            }
        }
        else if ((!strncmp (line, "adopt ", 6) || !strncmp (line, "lent ", 5))
                 && s_load_addr_line (self, line, now_ms) >= 0) {
        }
        else {
            snprintf (err, errlen, "%s:%d: unreadable line", path, lineno);
            rc = -1;
            break;
        }
    }
    free (text);
    return rc;
}
