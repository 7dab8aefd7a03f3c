/*
 * overlay_msg.c - VXLAN header and offload block codec (see overlay_msg.h).
 */
#include "node/overlay/overlay_msg.h"

#include <string.h>

void
overlay_vxlan_encode (uint8_t out[OVERLAY_VXLAN_BYTES], uint32_t vni)
{
    memset (out, 0, OVERLAY_VXLAN_BYTES);
    out[0] = OVERLAY_VXLAN_FLAG_I;
    out[4] = (uint8_t) (vni >> 16);
    out[5] = (uint8_t) (vni >> 8);
    out[6] = (uint8_t) vni;
}

int
overlay_vxlan_decode (const uint8_t *in, size_t len, uint32_t *vni)
{
    if (!in || len < OVERLAY_VXLAN_BYTES || !(in[0] & OVERLAY_VXLAN_FLAG_I))
        return -1;
    if (vni)
        *vni = (uint32_t) in[4] << 16 | (uint32_t) in[5] << 8 | in[6];
    return 0;
}

static void
s_put16 (uint8_t *p, uint16_t v)
{
    p[0] = (uint8_t) (v >> 8);
    p[1] = (uint8_t) v;
}

static uint16_t
s_get16 (const uint8_t *p)
{
    return (uint16_t) (p[0] << 8 | p[1]);
}

void
overlay_offload_encode (uint8_t out[OVERLAY_OFFLOAD_BYTES], const struct virtio_net_hdr *vh)
{
    overlay_offload_t w;
    memset (&w, 0, sizeof w);
    w.flags = vh->flags;
    w.gso_type = vh->gso_type;
    s_put16 (w.hdr_len, vh->hdr_len);
    s_put16 (w.gso_size, vh->gso_size);
    s_put16 (w.csum_start, vh->csum_start);
    s_put16 (w.csum_offset, vh->csum_offset);
    memcpy (out, &w, sizeof w);
}

void
overlay_chunk_encode (uint8_t block[OVERLAY_OFFLOAD_BYTES], unsigned chunk, unsigned chunks)
{
    block[offsetof (overlay_offload_t, chunk)] = (uint8_t) chunk;
    block[offsetof (overlay_offload_t, chunks)] = (uint8_t) chunks;
}

int
overlay_chunk_decode (const uint8_t block[OVERLAY_OFFLOAD_BYTES], unsigned *chunk, unsigned *chunks)
{
    unsigned index = block[offsetof (overlay_offload_t, chunk)];
    unsigned count = block[offsetof (overlay_offload_t, chunks)];
    if (count == 0)
        count = 1;
    if (index >= count)
        return -1;
    *chunk = index;
    *chunks = count;
    return 0;
}

int
overlay_chunk_bytes (int underlay_mtu, bool ipv6_underlay)
{
    int ip = ipv6_underlay ? OVERLAY_IPV6_BYTES : OVERLAY_IPV4_BYTES;
    return underlay_mtu - ip - OVERLAY_UDP_BYTES - OVERLAY_FRAME_OVERHEAD;
}

int
overlay_offload_decode (const uint8_t in[OVERLAY_OFFLOAD_BYTES], size_t frame_len,
                        struct virtio_net_hdr *vh)
{
    overlay_offload_t w;
    memcpy (&w, in, sizeof w);
    memset (vh, 0, sizeof *vh);
    //  The peer is authenticated, but a bug or a compromised member must not
    //  hand the kernel offsets outside the frame: check what we pass on.
    if (w.flags & ~(VIRTIO_NET_HDR_F_NEEDS_CSUM | VIRTIO_NET_HDR_F_DATA_VALID))
        return -1;
    uint8_t gso = w.gso_type & ~VIRTIO_NET_HDR_GSO_ECN;
    if (gso != VIRTIO_NET_HDR_GSO_NONE && gso != VIRTIO_NET_HDR_GSO_TCPV4
        && gso != VIRTIO_NET_HDR_GSO_TCPV6)
        return -1;
    if ((w.gso_type & VIRTIO_NET_HDR_GSO_ECN) && gso == VIRTIO_NET_HDR_GSO_NONE)
        return -1;
    uint16_t hdr_len = s_get16 (w.hdr_len);
    uint16_t gso_size = s_get16 (w.gso_size);
    uint16_t csum_start = s_get16 (w.csum_start);
    uint16_t csum_offset = s_get16 (w.csum_offset);
    if (hdr_len > frame_len)
        return -1;
    if (gso != VIRTIO_NET_HDR_GSO_NONE
        && (gso_size == 0 || !(w.flags & VIRTIO_NET_HDR_F_NEEDS_CSUM)))
        return -1;
    if ((w.flags & VIRTIO_NET_HDR_F_NEEDS_CSUM)
        && (size_t) csum_start + csum_offset + 2 > frame_len)
        return -1;
    vh->flags = w.flags;
    vh->gso_type = w.gso_type;
    vh->hdr_len = hdr_len;
    vh->gso_size = gso_size;
    vh->csum_start = csum_start;
    vh->csum_offset = csum_offset;
    return 0;
}
