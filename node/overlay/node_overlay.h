/*
 * node_overlay.h - the daemon's overlay network (docs/overlay.md): the
 * node bridge and its gateway address, this node's
 * address block (node/overlay/ipam.h) claimed through its REC_OVERLAY record, the
 * datapath (`encrypted`: node/overlay/overlay.h; `plain`: the kernel VXLAN
 * device, netlink FDB/neighbour entries, nftables member filter), and shed
 * addresses published as REC_ENDPOINT records.
 *
 * Membership -> datapath peers:
 *   join/update (alive)  add the peer (key from membership, address = its
 *                        membership address, port from its REC_OVERLAY or
 *                        gossip port + 4); re-added only when one changed
 *   fail                 kept (it may come back; its sessions just idle)
 *   leave/reap           removed
 * Replicated state -> tables (every node's records but our own):
 *   overlay   block claims (IPAM conflicts), overlay ports
 *   endpoint  MAC -> owning node (FDB), IP -> MAC (ARP / neighbour);
 *             deletions (and a removed origin's records) remove them
 *
 * Everything runs on the daemon's zloop thread (a 500 ms timer drives the
 * claim); the datapath itself runs on its own threads.
 */
#ifndef SHED_NODE_OVERLAY_H
#define SHED_NODE_OVERLAY_H

#include "crypto/identity.h"
#include "node/api/api_server.h"
#include "node/config.h"
#include "node/members/peer_dir.h"
#include "node/state/node_state.h"
#include "node/overlay/overlay.h"

#include <czmq.h>

#define SHED_OVERLAY_ADDR_MAX 16 /* dotted IPv4 + NUL */
#define SHED_OVERLAY_MAC_MAX  18 /* "02:00:c6:13:05:02" + NUL */

typedef struct _shed_overlay_t shed_overlay_t;

/* Create the bridge, start the datapath, publish our REC_OVERLAY record,
 * follow the peer directory (peers at their membership address and
 * gossip port + 4, PEER_PORT_OVERLAY) and state, serve `shedctl network`.
 * NULL with a one-line reason on failure. */
shed_overlay_t *shed_overlay_new (const shed_config_t *cfg, const shed_identity_t *identity,
                                  peer_dir_t *peers, shed_nstate_t *state, zloop_t *loop,
                                  shed_api_server_t *api, char *err, size_t errlen);
/* Stop the datapath, remove the TAP/VXLAN device and nftables table. The
 * bridge stays, so sheds on it survive a daemon restart. NULL-safe. */
void shed_overlay_destroy (shed_overlay_t **self_p);

/* Give shed `shed` its address on this node: ip and mac (stable per name,
 * also across restarts), the gateway (.1 on the node bridge), the prefix
 * of the shed interface (the cluster CIDR's: the overlay is one L2
 * segment) and the MTU to set on both veth ends. Publishes its
 * REC_ENDPOINT record. Returns 0, or -1 with errno EAGAIN (block claim not
 * settled yet: retry shortly), ENOSPC (block full) or EINVAL, and a
 * one-line reason in err. */
int shed_overlay_attach (shed_overlay_t *self, const char *shed, char ip[SHED_OVERLAY_ADDR_MAX],
                         char mac[SHED_OVERLAY_MAC_MAX], char gw[SHED_OVERLAY_ADDR_MAX],
                         int *prefix, unsigned *mtu, char *err, size_t errlen);
/* Withdraw the shed's endpoint record and free its address (an adopted
 * one is dropped: its block's node sees no endpoint for the MAC any more
 * and frees its reservation). 0, or -1 (errno ENOENT: not attached). */
int shed_overlay_detach (shed_overlay_t *self, const char *shed, char *err, size_t errlen);

/* Attach `shed` with the address it had on another node (a move,
 * docs/overlay.md "Moving a shed"): want_ip "a.b.c.d" (its MAC follows from
 * it, ipam_mac_for). In our block: that address if free; outside it
 * (another node's block): held here as an adopted address, persisted with
 * the ipam state, published as our endpoint. Fills ip/mac/gw/prefix/mtu as
 * shed_overlay_attach does. -1 with a reason (errno EADDRINUSE: a shed here
 * holds it; EINVAL: not in the cluster's CIDR; EAGAIN: block not settled). */
int shed_overlay_attach_addr (shed_overlay_t *self, const char *shed, const char *want_ip,
                              char ip[SHED_OVERLAY_ADDR_MAX], char mac[SHED_OVERLAY_MAC_MAX],
                              char gw[SHED_OVERLAY_ADDR_MAX], int *prefix, unsigned *mtu, char *err,
                              size_t errlen);
/* `shed` left this node with its address (a move): our endpoint record for
 * it goes, but the address stays reserved here (never given to another
 * shed) while any node's endpoint record holds its MAC; once none does (the
 * moved shed was deleted there), it is freed (checked on endpoint record
 * changes and at start). An adopted address is simply dropped (its own
 * block's node keeps it reserved). -1 (errno ENOENT) if the shed has no
 * address here. */
int shed_overlay_lend (shed_overlay_t *self, const char *shed, char *err, size_t errlen);

/* The encrypted datapath's counters (overlay_stats, node/overlay/overlay.h):
 * totals into *out and up to cap peers into the caller's peers array,
 * *npeers = the number of peers (may exceed cap). Returns 0, or -1 when
 * there is no such datapath (mode plain: the kernel counts). */
int shed_overlay_stats (shed_overlay_t *self, overlay_stats_t *out, overlay_peer_stats_t *peers,
                        size_t cap, size_t *npeers);

/* The address shed `shed` holds on this node (what attach gave it, in the
 * current block), into ip. 0, or -1 when it has none. */
int shed_overlay_address (shed_overlay_t *self, const char *shed, char ip[SHED_OVERLAY_ADDR_MAX]);

/* Called with the gateway address and the bridge each time the gateway
 * has been put on the bridge (start, restart, a move to another block),
 * on the loop's thread. */
typedef void (shed_overlay_gateway_fn) (const char *gateway, const char *bridge, void *arg);
/* Set (or, fn NULL, clear) that callback; if the gateway is already set,
 * fn is called at once. */
void shed_overlay_on_gateway (shed_overlay_t *self, shed_overlay_gateway_fn *fn, void *arg);

/* True once our block claim has settled (attach succeeds). */
bool shed_overlay_ready (shed_overlay_t *self);
/* The node bridge shed interfaces join. */
const char *shed_overlay_bridge (shed_overlay_t *self);

#endif
