/*
 * overlay_msg.h - every wire constant and layout of the overlay, in one
 * place (the handshake and data header structs themselves are defined by
 * crypto/session.h and pinned here).
 *
 * A data datagram (UDP payload), offsets in bytes:
 *
 *   0       4       8               16      24          36
 *   +-------+-------+---------------+-------+-----------+-----------...--+-----+
 *   |type,0 |key id |  counter      | VXLAN | offload   | Ethernet frame | tag |
 *   +-------+-------+---------------+-------+-----------+-----------...--+-----+
 *   \____ header: cleartext, AD ___/\______ AEAD ciphertext _____________/ 16
 *
 *   type       SHED_MSG_DATA (4); bytes 1..3 zero
 *   key id     receiver's key id (u32 little endian)
 *   counter    nonce counter (u64 little endian); nonce = 0^32 || counter
 *   VXLAN      RFC 7348: flags 0x08 (I), 3 reserved, VNI (24 bits, BE), 1 reserved
 *   offload    the TAP's virtio_net_hdr in network byte order (below), so a
 *              TSO super-frame leaves the peer's TAP as one super-frame;
 *              all zero for an ordinary frame; then the chunk index/count
 *   frame      the Ethernet frame (or one chunk of it), from destination
 *              MAC, without FCS
 *
 * Offload block (12 bytes): flags u8 (VIRTIO_NET_HDR_F_*), gso_type u8
 * (VIRTIO_NET_HDR_GSO_*), hdr_len u16, gso_size u16, csum_start u16,
 * csum_offset u16 (all big endian), chunk u8, chunks u8.
 *
 * Chunks: a frame longer than one datagram's room (`chunk` bytes: the
 * underlay MTU minus IP, UDP and OVERLAY_FRAME_OVERHEAD; in practice a TSO
 * super-frame of up to 64 KB) is cut into `chunks` (2..OVERLAY_CHUNKS_MAX)
 * pieces, each its own sealed data message with the same VXLAN header and
 * offload block, `chunk` = 0..chunks-1, and consecutive counters (chunk i
 * carries the counter of chunk 0 plus i, under the same key id). Every
 * datagram is authenticated and replay-checked on its own and fits the
 * underlay MTU: nothing is IP-fragmented, and the sender hands the pieces
 * to the kernel as one UDP GSO send (UDP_SEGMENT, every datagram but the
 * last exactly `chunk` + 52 bytes), the receiver takes them as one UDP GRO
 * buffer. chunks 0 and 1 both mean a whole frame (chunk must be 0). The
 * receiver writes the frame once all pieces arrived, in order, from one
 * peer; anything else drops the partial frame (docs/overlay.md).
 *
 * Handshake messages (type 1, 2) use the same socket; their layouts are in
 * crypto/session.h. A datagram whose first byte is 0x08 is plaintext
 * VXLAN and is always dropped (counted as plaintext_vxlan).
 */
#ifndef SHED_OVERLAY_MSG_H
#define SHED_OVERLAY_MSG_H

#include <assert.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <linux/virtio_net.h>

#include "crypto/session.h"

#define OVERLAY_VXLAN_FLAG_I  0x08
#define OVERLAY_VXLAN_BYTES   8
#define OVERLAY_OFFLOAD_BYTES 12
#define OVERLAY_ETH_BYTES     14
#define OVERLAY_VLAN_BYTES    4
#define OVERLAY_VNI_MAX       0xFFFFFFu

/* Offsets inside one datagram buffer (header included). */
#define OVERLAY_OFF_VXLAN      SHED_SESSION_DATA_HEADER                      /* 16 */
#define OVERLAY_OFF_OFFLOAD    (OVERLAY_OFF_VXLAN + OVERLAY_VXLAN_BYTES)     /* 24 */
#define OVERLAY_OFF_FRAME      (OVERLAY_OFF_OFFLOAD + OVERLAY_OFFLOAD_BYTES) /* 36 */
/* The TAP reads/writes struct virtio_net_hdr (10 bytes) right before the
 * frame, so frames move between TAP and datagram without a copy. */
#define OVERLAY_VNET_HDR_BYTES 10
#define OVERLAY_OFF_VNET       (OVERLAY_OFF_FRAME - OVERLAY_VNET_HDR_BYTES) /* 26 */
/* Plaintext before the frame, and everything a datagram adds to a frame. */
#define OVERLAY_INNER_HEADER   (OVERLAY_VXLAN_BYTES + OVERLAY_OFFLOAD_BYTES) /* 20 */
#define OVERLAY_FRAME_OVERHEAD (OVERLAY_OFF_FRAME + SHED_SESSION_TAG_BYTES)  /* 52 */

/* Largest UDP payload over IPv4 (65535 - 20 - 8): bounds one receive
 * buffer (a datagram, or a GRO train of them) and one UDP GSO send. */
#define OVERLAY_DATAGRAM_MAX 65507
/* Largest frame: a GSO super-frame is at most 64 KB of IP packet (the
 * kernel's legacy GSO limit) plus its Ethernet header and a VLAN tag. */
#define OVERLAY_FRAME_MAX    (65536 + OVERLAY_ETH_BYTES + OVERLAY_VLAN_BYTES)
/* Chunk limits: the count is one byte; a chunk smaller than this would
 * mean an underlay MTU no overlay should run on (overlay_new refuses). */
#define OVERLAY_CHUNKS_MAX   255
#define OVERLAY_CHUNK_MIN    260 /* > OVERLAY_FRAME_MAX / OVERLAY_CHUNKS_MAX */
/* The kernel's UDP_MAX_SEGMENTS: datagrams per UDP GSO send. */
#define OVERLAY_GSO_SEGS_MAX 64
/* Receive buffer: a datagram or a GRO train, plus room to spare. */
#define OVERLAY_BUF_BYTES    (64 * 1024 + 512)

#define OVERLAY_IPV4_BYTES 20
#define OVERLAY_IPV6_BYTES 40
#define OVERLAY_UDP_BYTES  8

/* Wire layout of the offload block. */
typedef struct {
    uint8_t flags;
    uint8_t gso_type;
    uint8_t hdr_len[2];
    uint8_t gso_size[2];
    uint8_t csum_start[2];
    uint8_t csum_offset[2];
    uint8_t chunk;  /* index of this piece, 0.. */
    uint8_t chunks; /* pieces of the frame; 0 or 1: whole */
} overlay_offload_t;

static_assert (sizeof (overlay_offload_t) == OVERLAY_OFFLOAD_BYTES, "offload block");
static_assert (offsetof (overlay_offload_t, csum_offset) == 8, "offload csum_offset");
static_assert (offsetof (overlay_offload_t, chunk) == 10, "offload chunk");
static_assert (sizeof (struct virtio_net_hdr) == OVERLAY_VNET_HDR_BYTES, "vnet hdr");
static_assert (offsetof (shed_msg_data_t, receiver) == 4, "data key id");
static_assert (offsetof (shed_msg_data_t, counter) == 8, "data counter");
static_assert (sizeof (shed_msg_data_t) == OVERLAY_OFF_VXLAN, "data header");
static_assert (offsetof (shed_msg_initiation_t, ephemeral) == 8, "initiation ephemeral");
static_assert (offsetof (shed_msg_initiation_t, enc_static) == 40, "initiation static");
static_assert (offsetof (shed_msg_initiation_t, enc_payload) == 88, "initiation payload");
static_assert (offsetof (shed_msg_initiation_t, mac1) == 120, "initiation mac1");
static_assert (offsetof (shed_msg_response_t, ephemeral) == 12, "response ephemeral");
static_assert (offsetof (shed_msg_response_t, enc_payload) == 44, "response payload");
static_assert (offsetof (shed_msg_response_t, mac1) == 76, "response mac1");
static_assert (OVERLAY_FRAME_OVERHEAD == 52, "overhead used by the MTU math");

/* ---- codec (overlay_msg.c) ---- */

/* Write the 8-byte VXLAN header. */
void overlay_vxlan_encode (uint8_t out[OVERLAY_VXLAN_BYTES], uint32_t vni);
/* 0 and *vni if the I flag is set (reserved bits ignored, per RFC 7348);
 * -1 if too short or no I flag. */
int overlay_vxlan_decode (const uint8_t *in, size_t len, uint32_t *vni);

/* virtio_net_hdr (host byte order, as the TAP gives it) -> wire block. */
void overlay_offload_encode (uint8_t out[OVERLAY_OFFLOAD_BYTES], const struct virtio_net_hdr *vh);
/* Set the chunk fields of an encoded block. */
void overlay_chunk_encode (uint8_t block[OVERLAY_OFFLOAD_BYTES], unsigned chunk, unsigned chunks);
/* The chunk fields: 0 and *chunk < *chunks (a whole frame gives 0 of 1),
 * or -1 (index past the count, or a nonzero index of a whole frame). */
int overlay_chunk_decode (const uint8_t block[OVERLAY_OFFLOAD_BYTES], unsigned *chunk,
                          unsigned *chunks);
/* Wire block -> virtio_net_hdr, validated against the frame length that
 * follows (the whole frame's, once every chunk is in): known flags and GSO
 * types only, checksum and header offsets inside the frame, a GSO frame
 * has a segment size. The chunk fields are not looked at. 0 or -1. */
int overlay_offload_decode (const uint8_t in[OVERLAY_OFFLOAD_BYTES], size_t frame_len,
                            struct virtio_net_hdr *vh);
/* Frame bytes one datagram carries on this underlay. */
int overlay_chunk_bytes (int underlay_mtu, bool ipv6_underlay);

#endif
