/*
 * ipam_int.h - what ipam.c (blocks, the address file) and ipam_sheds.c
 * (the sheds' addresses) share; not for other modules (see ipam.h).
 * Cross-file names are `ipam__`, file-local ones `s_`.
 */
#ifndef SHED_IPAM_INT_H
#define SHED_IPAM_INT_H

#include "node/overlay/ipam.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct {
    char node[IPAM_NAME_MAX + 1];
    uint32_t block;
    uint64_t claim_ms;
} ipam_peer_t;

/* What an address entry is (docs/overlay.md, "Moving a shed"). */
typedef enum {
    IPAM_SHED_OWN,     /* a local shed, host offset in our block */
    IPAM_SHED_ADOPTED, /* a local shed that moved here with an address of another block */
    IPAM_SHED_LENT,    /* a shed of ours that moved away with its address: reserved */
} ipam_kind_t;

typedef struct {
    char name[IPAM_NAME_MAX + 1];
    ipam_kind_t kind;
    uint32_t offset; /* IPAM_SHED_OWN: host offset in our block (survives a block change) */
    uint32_t addr;   /* IPAM_SHED_ADOPTED, IPAM_SHED_LENT: the address itself, host order */
    uint64_t since;  /* IPAM_SHED_LENT: monotonic ms when lent (or loaded) */
} ipam_shed_t;

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

    ipam_peer_t *peers;
    size_t npeers, peers_cap;
    ipam_shed_t *sheds;
    size_t nsheds, sheds_cap;
};

/* ---- ipam.c ---------------------------------------------------------------- */

/* `addr` (host order) as dotted text. */
void ipam__addr_text (uint32_t addr, char out[IPAM_ADDR_MAX]);

/* ---- ipam_sheds.c ---------------------------------------------------------- */

/* A local shed (own or adopted address) by name, or NULL. */
ipam_shed_t *ipam__shed_find (const ipam_t *self, const char *name);
/* The entry holding `addr` (own, adopted or lent), or NULL. */
ipam_shed_t *ipam__addr_holder (const ipam_t *self, uint32_t addr);
/* True if host offset `offset` of our block is taken. */
bool ipam__offset_used (const ipam_t *self, uint32_t offset);
/* A new entry (NULL and ENOMEM if out of memory). */
ipam_shed_t *ipam__shed_add (ipam_t *self, const char *name, ipam_kind_t kind, uint32_t offset,
                             uint32_t addr);

#endif
