/*
 * ipam.h - overlay address management (docs/overlay.md): which address
 * block of the cluster CIDR this node serves, and which address each of its
 * sheds holds. Pure logic: no sockets, no clocks of its own (the caller
 * passes time), so conflict resolution is unit-tested deterministically.
 *
 * Blocks. The cluster CIDR (e.g. 198.19.0.0/16) is cut into blocks of
 * `block_prefix` (default /24), numbered from 0. A node claims one by
 * publishing it in its REC_OVERLAY record; the caller feeds every other
 * node's claim in with ipam_peer_claim. Rules:
 *   - pick: start at FNV-1a(node name) mod blocks, probe upwards, take the
 *     first block nobody else claims (so restarts and small clusters rarely
 *     collide in the first place);
 *   - conflict: two claims on one block -> the lower (claim_ms, node name)
 *     keeps it, the other re-claims (pick again, with a fresh claim_ms);
 *     claim_ms is the wall clock when the claim was made and survives
 *     restarts (ipam_restore), so an established node never loses its block
 *     to a newcomer;
 *   - settle: addresses are handed out only once our claim has stood for
 *     `settle_ms` (default 2 s) without a conflicting claim seen, so two
 *     nodes that picked the same block at once (before either saw the other)
 *     never both hand out addresses from it. Once settled, a claim stays
 *     usable until it is lost.
 *
 * Sheds. Each shed name gets a host offset in our block, first free from 2
 * (.1 is the gateway on the node bridge), kept across restarts (ipam_save /
 * ipam_load) and across a block change (offset, not address, is stored).
 * MAC = 02:00:<IPv4 bytes>: locally administered, unique because the
 * address is.
 */
#ifndef SHED_IPAM_H
#define SHED_IPAM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define IPAM_SETTLE_MS_DEFAULT 2000
#define IPAM_NAME_MAX          63 /* node and shed names */
#define IPAM_ADDR_MAX          16 /* "255.255.255.255" + NUL */
#define IPAM_CIDR_MAX          19 /* "255.255.255.255/32" + NUL */
#define IPAM_FILE              "network.ipam"

typedef struct _ipam_t ipam_t;

typedef struct {
    const char *cidr;   /* cluster CIDR, "198.19.0.0/16" */
    int block_prefix;   /* block size, cidr prefix .. 30 */
    const char *node;   /* our node name */
    uint64_t settle_ms; /* 0 = IPAM_SETTLE_MS_DEFAULT */
} ipam_config_t;

/* NULL with a one-line reason on a bad CIDR or prefix. */
ipam_t *ipam_new (const ipam_config_t *cfg, char *err, size_t errlen);
void ipam_destroy (ipam_t **self_p);

/* ---- blocks ---- */

/* Another node's claim (from its record). Replaces its previous claim.
 * now_ms: the caller's monotonic clock. */
void ipam_peer_claim (ipam_t *self, const char *node, uint32_t block, uint64_t claim_ms,
                      uint64_t now_ms);
/* That node's claim is gone (record deleted, node left). */
void ipam_peer_forget (ipam_t *self, const char *node);

/* Apply the rules: claim if we hold nothing, give up a lost block and pick
 * another. wall_ms stamps a new claim. Returns true when our claim changed
 * (publish it); *lost (optional) is set when we gave a block up. */
bool ipam_tick (ipam_t *self, uint64_t now_ms, uint64_t wall_ms, bool *lost);

/* Start from a claim we made before a restart (same block, same claim_ms). */
void ipam_restore (ipam_t *self, uint32_t block, uint64_t claim_ms, uint64_t now_ms);

/* Our claim, if any. */
bool ipam_claim (const ipam_t *self, uint32_t *block, uint64_t *claim_ms);
/* Claimed and stable for settle_ms: addresses may be handed out. */
bool ipam_ready (const ipam_t *self, uint64_t now_ms);
/* Blocks in the CIDR; the CIDR prefix (the shed interfaces' prefix). */
uint32_t ipam_blocks (const ipam_t *self);
int ipam_cidr_prefix (const ipam_t *self);

/* "198.19.5.0/24" for a block; parse it back (must be a block of ours). */
int ipam_block_text (const ipam_t *self, uint32_t block, char *out, size_t len);
int ipam_block_parse (const ipam_t *self, const char *text, uint32_t *block);
/* Gateway (.1) of our block; -1 if we hold none. */
int ipam_gateway (const ipam_t *self, char out[IPAM_ADDR_MAX]);

/* ---- shed addresses ---- */

/* The shed's address and MAC in our block: its existing offset, else the
 * first free one from 2. -1 with errno EAGAIN (not ready), ENOSPC (block
 * full), EINVAL (bad name). */
int ipam_assign (ipam_t *self, const char *shed, uint64_t now_ms, char ip[IPAM_ADDR_MAX],
                 uint8_t mac[6]);
/* Forget the shed's address (own offset or adopted). 0, or -1 (ENOENT). */
int ipam_release (ipam_t *self, const char *shed);
/* Address of a local shed (own or adopted) without assigning; -1 if
 * unknown, or an own offset while we hold no block. */
int ipam_lookup (const ipam_t *self, const char *shed, char ip[IPAM_ADDR_MAX], uint8_t mac[6]);
/* Local sheds (own and adopted addresses; lent ones are not counted). */
size_t ipam_count (const ipam_t *self);
/* Call fn for every local shed (own or adopted address). */
typedef void (ipam_each_fn) (const char *shed, void *arg);
void ipam_each (const ipam_t *self, ipam_each_fn *fn, void *arg);

/* ---- moved sheds (docs/overlay.md, "Moving a shed") ----
 *
 * A shed that moves between nodes keeps its address. On the target it is
 * taken with ipam_take: an address of our block becomes an ordinary
 * offset; one of another node's block is held as ADOPTED (stored as the
 * address itself, not an offset). On the source, ipam_lend turns the
 * shed's own offset into a LENT reservation: no local shed, but never
 * handed out again until the overlay sees that no node's endpoint record
 * holds its MAC any more and calls ipam_lent_free. ipam_assign and
 * ipam_take skip every address an adopted or lent entry holds. */

/* Give `shed` exactly want_ip. In our block: that offset if free (or lent
 * for this very shed); elsewhere in the CIDR: adopted (*adopted true).
 * Idempotent for the address the shed already holds. -1 with errno
 * EINVAL (not a shed address of the CIDR: outside it, or a block's .0,
 * .1 or last address; bad name), EAGAIN (our block not ready),
 * EADDRINUSE (another shed here holds it, or it is lent for another
 * shed), EEXIST (the shed already holds another address here). */
int ipam_take (ipam_t *self, const char *shed, const char *want_ip, uint64_t now_ms,
               char ip[IPAM_ADDR_MAX], uint8_t mac[6], bool *adopted);
/* The shed left with its address: own offset -> lent reservation (0), an
 * adopted address is dropped (1: its block's node keeps it reserved).
 * -1 (ENOENT) if the shed has no address here. now_ms stamps the lending. */
int ipam_lend (ipam_t *self, const char *shed, uint64_t now_ms);
/* Free a lent address (no endpoint record holds its MAC any more). 0, or
 * -1 (ENOENT). */
int ipam_lent_free (ipam_t *self, const char *ip);
/* Every lent address: the shed it went with, the address, and the
 * monotonic ms it was lent (or loaded at start). fn may free it. */
typedef void (ipam_lent_fn) (const char *shed, const char *ip, uint64_t since_ms, void *arg);
void ipam_lent_each (const ipam_t *self, ipam_lent_fn *fn, void *arg);
size_t ipam_lent_count (const ipam_t *self);
/* Is the shed's address adopted (from another node's block)? */
bool ipam_adopted (const ipam_t *self, const char *shed);
/* Does a local shed (own or adopted) hold the address this MAC is derived
 * from? Lent addresses do not count: their shed runs elsewhere. */
bool ipam_holds_mac (const ipam_t *self, const uint8_t mac[6]);

/* Endpoint records of two nodes for one MAC (during a move, after a
 * partition): does holder a win over holder b? The higher epoch wins (the
 * newer attachment: a move's target stamps max(wall clock, every epoch it
 * saw for the MAC + 1)); equal epochs: the lower node name. The same
 * verdict on every node. */
bool ipam_holder_wins (uint64_t a_epoch, const char *a_node, uint64_t b_epoch, const char *b_node);

/* Every node's endpoint record for one MAC, as the overlay keeps them
 * (node_overlay_peers.c): two during a move, a few after partitions; more
 * is refused. A value type: the caller owns it. */
#define IPAM_HOLDERS_MAX 4
typedef struct {
    char node[IPAM_NAME_MAX + 1];
    char ip[IPAM_ADDR_MAX];
    uint64_t epoch;
} ipam_holder_t;
typedef struct {
    ipam_holder_t h[IPAM_HOLDERS_MAX];
    size_t n;
} ipam_holders_t;
/* Add or update node's record. 0, or -1 with errno ENOSPC (a new node
 * while IPAM_HOLDERS_MAX are held) or EINVAL (name or address too long). */
int ipam_holders_set (ipam_holders_t *hs, const char *node, const char *ip, uint64_t epoch);
/* node withdrew its record: true if it held one. */
bool ipam_holders_drop (ipam_holders_t *hs, const char *node);
/* The record to program (ipam_holder_wins over all), NULL if none. */
const ipam_holder_t *ipam_holders_winner (const ipam_holders_t *hs);

/* MAC for an IPv4 address: 02:00:a:b:c:d. -1 if not IPv4 text. */
int ipam_mac_for (const char *ip, uint8_t mac[6]);

/* ---- persistence ---- */

/* Save our claim, the shed offsets and the adopted and lent addresses to
 * `path` atomically (0600). 0 or -1 (errno). Load them back: restores the
 * claim (ipam_restore), offsets and adopted/lent addresses (a file from
 * before moves, without the latter, loads unchanged);
 * a missing file is not an error (returns 0, nothing loaded). A file for
 * another CIDR/prefix keeps the offsets and drops the claim (and adopted
 * or lent addresses outside the CIDR). */
int ipam_save (const ipam_t *self, const char *path);
int ipam_load (ipam_t *self, const char *path, uint64_t now_ms, char *err, size_t errlen);

#endif
