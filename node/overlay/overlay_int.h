/*
 * overlay_int.h - internals shared by the overlay's files (names overlay__*).
 *
 *   tap.c       TAP device (IFF_VNET_HDR, offloads), link MTU, bridge port
 *   peer.c      peer table: node id, static key, underlay address, session
 *   fdb.c       MAC -> owning peer
 *   arp.c       IPv4 -> MAC, local ARP answers
 *   send.c      TX path: TAP frame -> classify -> seal -> sendmmsg batch
 *   receive.c   RX path: datagram -> type, length -> handshake or open ->
 *               replay -> VNI -> TAP
 *   datapath.c  object, public API, threads, timers
 *
 * Locking: one writer-preferring rwlock guards the peer table, FDB and ARP
 * table. Datapath threads hold it for reading across one batch (so a peer
 * they resolved cannot be freed under them); control calls take it for
 * writing. Sessions lock themselves. Counters are relaxed atomics.
 *
 * All I/O goes through `io` so tests drive the paths with a fake transport
 * and fake clock (overlay__new_detached).
 */
#ifndef SHED_OVERLAY_INT_H
#define SHED_OVERLAY_INT_H

#include "node/overlay/overlay.h"
#include "node/overlay/overlay_msg.h"

#include <net/if.h>
#include <pthread.h>
#include <stdbool.h>
#include <sys/socket.h>
#include <sys/uio.h>

#define OVERLAY_BATCH       16 /* frames per TX batch; buffers per recvmmsg */
#define OVERLAY_TX_GROUPS   4  /* most GSO sends one frame needs (overlay_new checks) */
#define OVERLAY_TX_MSGS     (OVERLAY_BATCH * OVERLAY_TX_GROUPS) /* sendmmsg entries */
#define OVERLAY_RX_ASSEMBLY 4                  /* chunked frames in reassembly per RX queue */
#define OVERLAY_OK          OVERLAY_DROP_COUNT /* "no drop" from the paths */

#define OVERLAY_COUNT(var, n) __atomic_fetch_add (&(var), (n), __ATOMIC_RELAXED)
#define OVERLAY_LOAD(var)     __atomic_load_n (&(var), __ATOMIC_RELAXED)

typedef struct {
    uint64_t serial; //  unique per peer object (never reused)
    char node[OVERLAY_NODE_MAX];
    uint8_t pubkey[32];
    struct sockaddr_storage addr;
    socklen_t addrlen;
    shed_session_t *session;
    uint64_t tx_packets, tx_bytes, rx_packets, rx_bytes;
    uint64_t drops[OVERLAY_DROP_COUNT];
} overlay_peer_t;

typedef struct {
    overlay_peer_t **items;
    size_t count, cap;
} overlay_peers_t;

typedef struct _overlay_fdb_t overlay_fdb_t;
typedef struct _overlay_arp_t overlay_arp_t;

typedef struct {
    //  Send n datagrams on queue q; returns how many went, or -1.
    int (*send) (overlay_t *self, int q, struct mmsghdr *msgs, unsigned n);
    //  Write one (virtio_net_hdr + frame), gathered from iov, to the TAP
    //  queue q; 0 or -1.
    int (*tap_write) (overlay_t *self, int q, const struct iovec *iov, int iovcnt);
} overlay_io_t;

struct _overlay_t {
    char tap_name[IF_NAMESIZE];
    char bridge_name[IF_NAMESIZE];
    uint8_t secret[32]; //  our static X25519 key pair
    uint8_t public[32];
    shed_session_cfg_t session_cfg;
    int mtu;
    uint32_t vni;
    bool offload;
    int family; //  underlay AF_INET / AF_INET6
    //  Chunking (overlay_msg.h): frame bytes per datagram, datagram stride
    //  in a TX buffer (chunk + OVERLAY_FRAME_OVERHEAD), the most chunks of
    //  one frame, datagrams per UDP GSO send.
    size_t chunk, stride;
    unsigned chunks_max, gso_segs;
    bool udp_gso; //  UDP_SEGMENT sends (real sockets)

    pthread_rwlock_t lock; //  guards peers, fdb, arp
    overlay_peers_t peers;
    overlay_fdb_t *fdb;
    overlay_arp_t *arp;
    uint64_t drops[OVERLAY_DROP_COUNT]; //  drops with no peer to blame
    uint64_t arp_answered;

    int queues;
    int tap_fd[OVERLAY_THREADS_MAX];
    int udp_fd[OVERLAY_THREADS_MAX];
    uint16_t port;
    overlay_io_t io;
    void *io_arg; //  tests' capture state

    pthread_t tx_thread[OVERLAY_THREADS_MAX];
    pthread_t rx_thread[OVERLAY_THREADS_MAX];
    pthread_t timer_thread;
    int threads_started;
    bool timer_started;
    int stop;             //  atomic flag: threads exit
    uint64_t fake_now_ms; //  nonzero: tests' clock
};

//  datapath.c
uint64_t overlay__now_ms (const overlay_t *self);
uint64_t overlay__wall_ns (void);
void overlay__drop (overlay_t *self, overlay_peer_t *peer, overlay_drop_t reason);
overlay_drop_t overlay__session_drop (int session_rc);
//  A test overlay: no TAP, no socket, no threads; I/O through `io`.
overlay_t *overlay__new_detached (const overlay_config_t *cfg, const overlay_io_t *io,
                                  void *io_arg);
//  Run one timer pass (handshakes to start or retry).
void overlay__timer_tick (overlay_t *self);
//  Datagram buffers (TX slots, RX buffers): `bytes` in transparent huge
//  pages where the kernel allows (see datapath.c); NULL on failure. Free
//  with the same size.
void *overlay__bufs_alloc (size_t bytes);
void overlay__bufs_free (void *bufs, size_t bytes);

//  tap.c
int overlay__tap_open (const char *name, int queues, bool offload, int *fds, char *err,
                       size_t errlen);
int overlay__link_up (const char *ifname);
int overlay__bridge_add (const char *bridge, const char *ifname);

//  peer.c
overlay_peer_t *overlay__peer_new (const char *node, const uint8_t pubkey[32],
                                   const struct sockaddr *addr, socklen_t addrlen,
                                   const uint8_t local_secret[32], const uint8_t local_public[32],
                                   const shed_session_cfg_t *cfg);
void overlay__peer_destroy (overlay_peer_t **self_p);
int overlay__peers_put (overlay_peers_t *peers, overlay_peer_t *peer); //  replaces same node
overlay_peer_t *overlay__peers_take (overlay_peers_t *peers, const char *node);
overlay_peer_t *overlay__peers_by_node (const overlay_peers_t *peers, const char *node);
overlay_peer_t *overlay__peers_by_addr (const overlay_peers_t *peers, const struct sockaddr *addr,
                                        socklen_t addrlen);
overlay_peer_t *overlay__peers_by_key (const overlay_peers_t *peers, const uint8_t pubkey[32]);
void overlay__peers_clear (overlay_peers_t *peers);
int overlay__addr_parse (const char *text, uint16_t port, struct sockaddr_storage *out,
                         socklen_t *outlen);

//  fdb.c
overlay_fdb_t *overlay__fdb_new (void);
void overlay__fdb_destroy (overlay_fdb_t **self_p);
int overlay__fdb_set (overlay_fdb_t *self, const uint8_t mac[6], const char *node);
int overlay__fdb_del (overlay_fdb_t *self, const uint8_t mac[6]);
//  Point every entry at its node's peer (or none); after peer changes.
void overlay__fdb_resolve (overlay_fdb_t *self, const overlay_peers_t *peers);
//  The peer owning mac; NULL if unknown or its node is no peer.
overlay_peer_t *overlay__fdb_lookup (const overlay_fdb_t *self, const uint8_t mac[6]);
size_t overlay__fdb_count (const overlay_fdb_t *self);

//  arp.c
#define OVERLAY_ARP_FRAME 42 /* Ethernet + ARP for IPv4 */
overlay_arp_t *overlay__arp_new (void);
void overlay__arp_destroy (overlay_arp_t **self_p);
int overlay__arp_set (overlay_arp_t *self, uint32_t ip_be, const uint8_t mac[6]);
int overlay__arp_del (overlay_arp_t *self, uint32_t ip_be);
bool overlay__arp_lookup (const overlay_arp_t *self, uint32_t ip_be, uint8_t mac[6]);
//  An ARP frame (IPv4 over Ethernet) whose sender hardware address is not
//  the frame's source, or whose sender IP the table holds for another MAC:
//  someone answering or announcing an address that is not its own.
bool overlay__arp_spoofed (const overlay_arp_t *self, const uint8_t *frame, size_t len);
//  If frame is an ARP request for an address we know, write the reply
//  frame into reply and return true.
bool overlay__arp_answer (const overlay_arp_t *self, const uint8_t *frame, size_t len,
                          uint8_t reply[OVERLAY_ARP_FRAME]);

//  send.c
//  A TX slot holds one frame laid out as the datagrams it becomes: chunk k
//  at k * stride, its frame piece at k * stride + OVERLAY_OFF_FRAME, the
//  virtio_net_hdr right before piece 0 (OVERLAY_OFF_VNET). The TAP read
//  scatters into that layout (overlay__txq_iov), so no frame byte is copied
//  in userspace.
typedef struct {
    int q;
    unsigned count; //  slots in use
    unsigned nmsgs; //  sendmmsg entries queued
    size_t slot_bytes;
    uint8_t *bufs; //  OVERLAY_BATCH slots, then scratch (overlay__bufs_alloc)
    uint8_t *buf[OVERLAY_BATCH];
    uint8_t *scratch;       //  broadcast plaintext
    struct iovec *read_iov; //  chunks_max entries: the current slot
    struct sockaddr_storage addr[OVERLAY_TX_MSGS];
    struct iovec iov[OVERLAY_TX_MSGS];
    struct mmsghdr msgs[OVERLAY_TX_MSGS];
    overlay_peer_t *peer[OVERLAY_TX_MSGS];
    unsigned dgrams[OVERLAY_TX_MSGS]; //  datagrams in each entry
    union {                           //  UDP_SEGMENT cmsg per entry
        char buf[CMSG_SPACE (sizeof (uint16_t))];
        struct cmsghdr align;
    } ctrl[OVERLAY_TX_MSGS];
} overlay_txq_t;

overlay_txq_t *overlay__txq_new (const overlay_t *self, int q);
void overlay__txq_destroy (overlay_txq_t **self_p);
//  The current slot (see overlay_txq_t).
uint8_t *overlay__txq_slot (overlay_txq_t *txq);
//  The iovecs a TAP read fills for the current slot: vnet header and the
//  frame's pieces in place; *count entries.
struct iovec *overlay__txq_iov (overlay_t *self, overlay_txq_t *txq, int *count);
//  Route, seal and queue the frame in the current slot. Caller holds the
//  read lock until overlay__tx_flush. Returns OVERLAY_OK or a drop reason.
int overlay__tx_frame (overlay_t *self, overlay_txq_t *txq, size_t frame_len);
void overlay__tx_flush (overlay_t *self, overlay_txq_t *txq);
//  Seal and send a keepalive to peer (confirms a fresh key). Read lock held.
void overlay__tx_keepalive (overlay_t *self, overlay_peer_t *peer, int q);

//  receive.c
//  A chunked frame being put together: pieces point into receive buffers
//  until the batch ends, then are copied into `stage` (overlay__rx_end).
typedef struct {
    bool active;
    uint64_t peer_serial;
    uint32_t key_id;
    uint64_t base;                        //  counter of chunk 0
    unsigned chunks, next;                //  expected count, next index
    size_t total;                         //  frame bytes so far
    uint64_t started;                     //  rxq->seq when chunk 0 came
    uint8_t block[OVERLAY_OFFLOAD_BYTES]; //  chunk 0's offload block
    uint8_t *stage;                       //  OVERLAY_FRAME_MAX bytes
    size_t staged;                        //  leading bytes of the frame in stage
    struct iovec *iov;                    //  1 + OVERLAY_CHUNKS_MAX
    unsigned niov;                        //  iov [0] is the vnet header
    struct virtio_net_hdr vh;
} overlay_asm_t;

typedef struct {
    int q;
    uint64_t seq;
    overlay_asm_t asm_[OVERLAY_RX_ASSEMBLY];
} overlay_rxq_t;

overlay_rxq_t *overlay__rxq_new (int q);
void overlay__rxq_destroy (overlay_rxq_t **self_p);
//  Process one datagram from src, in place. Handshake answers and frames
//  go out through self->io. Caller holds the read lock. Returns OVERLAY_OK
//  or the drop reason (already counted). A chunk's plaintext stays in buf
//  until overlay__rx_end.
int overlay__rx_datagram (overlay_t *self, overlay_rxq_t *rxq, const struct sockaddr *src,
                          socklen_t srclen, uint8_t *buf, size_t len);
//  The receive buffers are about to be reused: copy pieces of unfinished
//  frames out of them. Caller still holds the read lock.
void overlay__rx_end (overlay_t *self, overlay_rxq_t *rxq);

#endif
