/*
 * overlay.h - the encrypted VXLAN datapath (docs/overlay.md, `encrypted`
 * mode): one TAP on the node's bridge, per-peer AEAD sessions over UDP.
 *
 *   shed veths --- bridge --- TAP ==[overlay threads]== UDP socket --- underlay
 *
 * Frames read from the TAP get a VXLAN header (RFC 7348, our VNI), are
 * sealed under the destination peer's session (crypto/session.h) and sent
 * by UDP to the peer's overlay port. Unicast goes to the owner of the
 * destination MAC (overlay_fdb_set); ARP requests for addresses we know
 * (overlay_arp_set) are answered locally; other broadcast and multicast is
 * sealed once per peer. The receiver authenticates, checks the replay
 * window, then the VNI, and writes the frame to its TAP. Everything else
 * is dropped and counted by reason (overlay_stats).
 *
 * Threads: `threads` queue pairs, each a TX thread (TAP queue -> UDP, with
 * sendmmsg) and an RX thread (UDP, recvmmsg -> TAP queue), plus one timer
 * thread for handshakes and rekeying. None touches the caller's event loop;
 * every function below is thread-safe and returns quickly.
 *
 * Offloads: with `offload` on, the TAP runs with IFF_VNET_HDR and TSO/CSUM
 * offloads, so the kernel hands us TCP super-frames of up to ~64 KB. We cut
 * one into MTU-sized chunks, each sealed on its own (own counter, own tag,
 * replay-checked), send them with one UDP GSO call and take them back with
 * UDP GRO; the peer writes the super-frame to its TAP again with one
 * gathering write. Nothing is IP-fragmented. See docs/overlay.md.
 *
 * Membership is the caller's: it adds and removes peers and programs the
 * FDB and ARP table from the replicated state. Handshakes with a peer start
 * as soon as it is added.
 */
#ifndef SHED_OVERLAY_H
#define SHED_OVERLAY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "crypto/identity.h"
#include "crypto/session.h"

#define OVERLAY_NODE_MAX    64 /* node id, with NUL */
#define OVERLAY_THREADS_MAX 8

/* Drop reasons, as counted in overlay_stats. */
/* clang-format off */
#define OVERLAY_DROPS(X) \
    X (OVERLAY_DROP_SHORT,       "short")            /* wrong length for its type */        \
    X (OVERLAY_DROP_TYPE,        "unknown_type")     /* first byte is no message type */    \
    X (OVERLAY_DROP_PLAINTEXT,   "plaintext_vxlan")  /* a bare VXLAN header */              \
    X (OVERLAY_DROP_NOT_MEMBER,  "not_member")       /* unknown source or static key */     \
    X (OVERLAY_DROP_HANDSHAKE,   "handshake")        /* mac1, decrypt, stale, no state */   \
    X (OVERLAY_DROP_KEY_ID,      "key_id")           /* no receive key with this id */      \
    X (OVERLAY_DROP_EXPIRED,     "expired")          /* key too old or past grace */        \
    X (OVERLAY_DROP_AUTH,        "auth")             /* AEAD failed: forged or tampered */  \
    X (OVERLAY_DROP_REPLAY,      "replay")           /* counter seen or too old */          \
    X (OVERLAY_DROP_VNI,         "vni")              /* VXLAN header absent or wrong VNI */ \
    X (OVERLAY_DROP_INNER,       "inner")            /* bad offload header or frame */      \
    X (OVERLAY_DROP_NO_SESSION,  "no_session")       /* TX: no confirmed key yet */         \
    X (OVERLAY_DROP_NO_FDB,      "no_fdb")           /* TX: unicast MAC with no owner */    \
    X (OVERLAY_DROP_TOO_BIG,     "too_big")          /* TX: frame over OVERLAY_FRAME_MAX */ \
    X (OVERLAY_DROP_IO,          "io")               /* send or TAP write failed */        \
    X (OVERLAY_DROP_ARP_SPOOF,   "arp_spoof")        /* ARP sender not the address' owner */ \
    X (OVERLAY_DROP_CHUNK,       "chunk")            /* chunked frame: piece lost/out of order */
/* clang-format on */

#define OVERLAY_DROP_ENUM_(name, text) name,
typedef enum { OVERLAY_DROPS (OVERLAY_DROP_ENUM_) OVERLAY_DROP_COUNT } overlay_drop_t;
#undef OVERLAY_DROP_ENUM_

const char *overlay_drop_name (overlay_drop_t reason);

typedef struct {
    const char *tap_name;              /* TAP device to create, e.g. "shedtap0" */
    const char *bridge_name;           /* attach the TAP here; NULL = leave alone */
    const char *bind_addr;             /* underlay address ("198.18.0.1", "::"); NULL = any v4 */
    uint16_t port;                     /* overlay UDP port; 0 = pick one (see overlay_port) */
    uint32_t vni;                      /* 24-bit VXLAN network identifier */
    int underlay_mtu;                  /* 0 = 1500 */
    int mtu;                           /* inner (shed) MTU; 0 = computed from underlay_mtu */
    const shed_identity_t *identity;   /* our static X25519 keys (copied) */
    int threads;                       /* queue pairs, 1..OVERLAY_THREADS_MAX; 0 = 1 */
    bool no_offload;                   /* true: no vnet header offloads, frame by frame */
    const shed_session_cfg_t *session; /* NULL = defaults */
} overlay_config_t;

typedef struct _overlay_t overlay_t;

/* Create the TAP (and attach it to the bridge, set MTUs on both), bind the
 * socket, start the threads. NULL with a one-line reason in err. */
overlay_t *overlay_new (const overlay_config_t *cfg, char *err, size_t errlen);
/* Stop threads, close devices, wipe keys, free; *self_p = NULL. NULL-safe. */
void overlay_destroy (overlay_t **self_p);

/* The bound UDP port and the inner MTU in use. */
uint16_t overlay_port (overlay_t *self);
int overlay_mtu (overlay_t *self);

/* Peers (members). Adding an existing node replaces its key and address
 * (and its session). addr is numeric IPv4 or IPv6. 0 or -1 (errno). */
int overlay_peer_add (overlay_t *self, const char *node, const uint8_t pubkey[32], const char *addr,
                      uint16_t port);
int overlay_peer_remove (overlay_t *self, const char *node);

/* MAC -> owning node. The node need not be a peer yet. 0 or -1. */
int overlay_fdb_set (overlay_t *self, const uint8_t mac[6], const char *node);
int overlay_fdb_del (overlay_t *self, const uint8_t mac[6]);

/* IPv4 (dotted text) -> MAC, answered locally for ARP requests. 0 or -1. */
int overlay_arp_set (overlay_t *self, const char *ip, const uint8_t mac[6]);
int overlay_arp_del (overlay_t *self, const char *ip);

typedef struct {
    char node[OVERLAY_NODE_MAX];
    bool has_key; /* confirmed send key */
    uint8_t aead; /* SHED_AEAD_* of the current key */
    uint64_t key_age_ms;
    uint64_t handshakes;
    uint64_t tx_packets, tx_bytes; /* datagrams and sealed bytes */
    uint64_t rx_packets, rx_bytes; /* frames delivered and their bytes */
    uint64_t drops[OVERLAY_DROP_COUNT];
} overlay_peer_stats_t;

typedef struct {
    int mtu;
    uint32_t vni;
    size_t peers;
    uint64_t arp_answered;
    uint64_t drops[OVERLAY_DROP_COUNT]; /* all peers and no peer, summed */
} overlay_stats_t;

/* Fill *out, and up to cap peers (sorted by node); *npeers = number of
 * peers (may exceed cap). Either array may be NULL. */
void overlay_stats (overlay_t *self, overlay_stats_t *out, overlay_peer_stats_t *peers, size_t cap,
                    size_t *npeers);

/* ---- MTU ---- */

/* Inner MTU (the IP MTU of shed interfaces) for an underlay MTU:
 *   underlay - IP (20 | 40) - UDP 8 - data header 16 - AEAD tag 16
 *            - VXLAN 8 - offload block 12 - Ethernet 14 - VLAN tag 4
 * 1500 over IPv4 gives 1402; over IPv6, 1382. */
int overlay_compute_mtu (int underlay_mtu, bool ipv6_underlay);
/* Set an interface's MTU (in the current network namespace). 0 or -1. */
int overlay_set_link_mtu (const char *ifname, int mtu);

#endif
