/*
 * ipam.c - see ipam.h: the CIDR and its blocks (parsing, a node's claim of
 * one block, the conflicts between claims, settling) and the address file.
 * The addresses of the sheds inside the block (own, adopted, lent) are
 * apart, in ipam_sheds.c (ipam_int.h): blocks are agreed among nodes,
 * while shed addresses are this node's own bookkeeping in its block. The
 * file stays here: it holds both.
 */
#include "node/overlay/ipam_int.h"

#include "common/fileutil.h"

#include <arpa/inet.h>
#include <assert.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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

void
ipam__addr_text (uint32_t addr, char out[IPAM_ADDR_MAX])
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

static ipam_peer_t *
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
    ipam_peer_t *p = s_peer_find (self, node);
    if (!p) {
        if (self->npeers == self->peers_cap) {
            size_t cap = self->peers_cap ? self->peers_cap * 2 : 16;
            ipam_peer_t *peers = realloc (self->peers, cap * sizeof *peers);
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
    ipam_peer_t *p = s_peer_find (self, node);
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
            const ipam_peer_t *p = &self->peers[i];
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
    ipam__addr_text (self->base + block * self->block_size, ip);
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
    ipam__addr_text (self->base + self->block * self->block_size + 1, out);
    return 0;
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
    ipam__addr_text (self->base, net);
    size_t n = (size_t) snprintf (buf, cap, "shed-ipam 1 %s/%d %d\n", net, self->prefix,
                                  self->block_prefix);
    if (self->have)
        n += (size_t) snprintf (buf + n, cap - n, "claim %u %llu\n", self->block,
                                (unsigned long long) self->claim_ms);
    for (size_t i = 0; i < self->nsheds; i++) {
        const ipam_shed_t *s = &self->sheds[i];
        char ip[IPAM_ADDR_MAX];
        ipam__addr_text (s->addr, ip);
        if (s->kind == IPAM_SHED_OWN)
            n += (size_t) snprintf (buf + n, cap - n, "shed %s %u\n", s->name, s->offset);
        else
            n += (size_t) snprintf (buf + n, cap - n, "%s %s %s\n",
                                    s->kind == IPAM_SHED_ADOPTED ? "adopt" : "lent", s->name, ip);
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
    if ((!lent && ipam__shed_find (self, name)) || ipam__addr_holder (self, addr))
        return -1;
    ipam_shed_t *s =
        ipam__shed_add (self, name, lent ? IPAM_SHED_LENT : IPAM_SHED_ADOPTED, 0, addr);
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
    ipam__addr_text (self->base, net);
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
                 && offset >= 2 && offset <= self->block_size - 2 && !ipam__shed_find (self, name)
                 && !ipam__offset_used (self, offset)) {
            if (!ipam__shed_add (self, name, IPAM_SHED_OWN, offset, 0)) {
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
