/*
 * node_overlay_int.h - what the files of the node's overlay share: the
 * overlay's state, another node as it knows it (novl_node_t), a remote shed
 * interface (novl_endpoint_t) and the functions one file calls in another.
 * Not a public interface: see node_overlay.h. Split by concern
 * (docs/overlay.md):
 *
 *   node_overlay.c          lifecycle, public functions, small helpers
 *   node_overlay_peers.c    following peers and records into the datapath
 *   node_overlay_records.c  our own REC_OVERLAY / REC_ENDPOINT records, the tick
 *   node_overlay_api.c      the local API's network requests
 */
#ifndef SHED_NODE_OVERLAY_INT_H
#define SHED_NODE_OVERLAY_INT_H

#include "node/overlay/node_overlay.h"

#include "cluster/records.h"
#include "common/log.h"
#include "node/overlay/ipam.h"
#include "node/overlay/hostnet.h"
#include "node/overlay/nftables.h"
#include "node/overlay/overlay.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#define NOVL_TICK_MS        500
#define NOVL_PEER_STATS_MAX 1024
#define NOVL_ADDR_TEXT_MAX  46

/* Another node, as membership and its REC_OVERLAY record describe it, and
 * what the datapath currently holds for it. */
typedef struct {
    char name[SHED_NAME_MAX + 1];
    /* membership */
    bool member;
    bool alive; /* alive or suspect; false after fail */
    uint8_t key[32];
    char maddr[NOVL_ADDR_TEXT_MAX];
    uint16_t mport; /* overlay port from the peer directory */
    /* REC_OVERLAY */
    bool rec;
    char block[REC_ADDR_MAX + 5];
    char raddr[NOVL_ADDR_TEXT_MAX];
    uint16_t rport;
    char mode[16];
    char status[16];
    /* programmed */
    bool programmed;
    uint8_t pkey[32];
    char paddr[NOVL_ADDR_TEXT_MAX];
    uint16_t pport;
} novl_node_t;

/* After start and after a lending, how long a lent address stays reserved
 * even though no endpoint record for its MAC has been seen (the state may
 * not have synced yet; docs/overlay.md "Moving a shed"). */
#define NOVL_LENT_GRACE_MS 30000

/* A remote shed interface: every node's record for its MAC (holders),
 * and what is programmed from the winner (ipam_holders_winner). */
typedef struct {
    uint8_t mac[6];
    ipam_holders_t holders;
    /* programmed: node and ip ("" = nothing programmed) */
    char node[SHED_NAME_MAX + 1];
    char ip[SHED_OVERLAY_ADDR_MAX];
    char fdb_dst[NOVL_ADDR_TEXT_MAX]; /* plain mode: where its FDB entry points ("" none) */
} novl_endpoint_t;

struct _shed_overlay_t {
    shed_config_t cfg;    /* copy; network.* is ours */
    shed_nstate_t *state; /* borrowed */
    zloop_t *loop;        /* borrowed */
    int timer;
    bool plain;
    char device[16];
    char local_addr[NOVL_ADDR_TEXT_MAX]; /* our underlay address ("" = unknown) */
    uint16_t port;
    int mtu;
    uint8_t pubkey[32];
    char ipam_path[PATH_MAX + 32];
    char nft_table[80]; /* plain mode filter; "" = none installed */
    char nat_table[80];
    bool bridge_created;
    /* Addresses from gossip or records that are no address (docs/overlay.md,
     * "plain mode"): refused before anything uses them, counted here. */
    uint64_t bad_addr;
    /* Endpoint records refused (MAC not the one of its IP, key not its
     * MAC, more than IPAM_HOLDERS_MAX nodes holding one MAC). */
    uint64_t bad_endpoint;
    uint64_t started_ms; /* monotonic: the lent-address grace counts from it */

    ipam_t *ipam;
    overlay_t *dp; /* encrypted mode */
    bool was_ready;
    char gateway[SHED_OVERLAY_ADDR_MAX]; /* set on the bridge; "" none */
    shed_overlay_gateway_fn *on_gateway; /* told each time the gateway is set */
    void *on_gateway_arg;
    char published[256]; /* last REC_OVERLAY summary we put */

    zhashx_t *nodes;     /* name -> novl_node_t */
    zhashx_t *endpoints; /* "aa:bb:.." -> novl_endpoint_t (other nodes') */
};

/* ---- node_overlay.c: small helpers ---- */
void novl_mac_text (const uint8_t mac[6], char out[SHED_OVERLAY_MAC_MAX]);
int novl_mac_parse (const char *text, uint8_t mac[6]);
bool novl_addr_ok (shed_overlay_t *self, const char *text, int want, char out[NOVL_ADDR_TEXT_MAX],
                   const char *what, const char *from);
/* The entry is the overlay's (self->nodes), created on first use. */
novl_node_t *novl_node (shed_overlay_t *self, const char *name);

/* ---- node_overlay_peers.c ---- */
/* Program (or remove) the MAC's entries from its holders again: after a
 * local shed took or gave up the address the MAC belongs to. */
void novl_endpoint_resync (shed_overlay_t *self, const uint8_t mac[6]);
/* The highest epoch of any other node's record for the MAC (0: none). */
uint64_t novl_endpoint_max_epoch (shed_overlay_t *self, const uint8_t mac[6]);
/* Free lent addresses no node's endpoint record holds any more (after
 * the grace); saves the ipam state when one went. */
void novl_lent_check (shed_overlay_t *self);

void novl_on_peer_alive (const peer_t *p, void *arg);
void novl_on_peer_failed (const peer_t *p, void *arg);
void novl_on_peer_removed (const peer_t *p, void *arg);
void novl_on_record (const shed_record_t *rec, void *arg);

/* ---- node_overlay_records.c ---- */
/* Publish our endpoint record for the shed. Its epoch: our existing
 * record's for this MAC (a republish at start must not outrank a move that
 * happened since), else max(wall clock, highest epoch seen for the MAC + 1),
 * so a move's target outranks the source on every node. */
int novl_put_endpoint (shed_overlay_t *self, const char *shed, const char *ip, const uint8_t mac[6],
                       char *err, size_t errlen);
int novl_on_tick (zloop_t *loop, int timer_id, void *arg);

/* ---- node_overlay_api.c ---- */
void novl_api_network (shed_api_call_t *call, const api_msg_t *req, void *arg);
void novl_api_attach (shed_api_call_t *call, const api_msg_t *req, void *arg);
void novl_api_detach (shed_api_call_t *call, const api_msg_t *req, void *arg);

#endif
