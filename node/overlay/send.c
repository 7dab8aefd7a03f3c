/*
 * send.c - the TX path: a frame read from the TAP is classified (ARP we can
 * answer, group address, unicast), wrapped in VXLAN + offload block, sealed
 * under the destination peer's session and queued; a batch leaves with one
 * sendmmsg.
 *
 * A frame longer than one datagram's room (a TSO super-frame) goes as
 * chunks (overlay_msg.h): the TAP read already scattered its pieces into
 * datagram-sized slots, each gets its own VXLAN header and offload block
 * (chunk index/count) and is sealed on its own, all with one session lock
 * (shed_session_seal_batch: consecutive counters). The datagrams are
 * contiguous at a fixed stride, so one sendmmsg entry with UDP_SEGMENT hands
 * up to OVERLAY_GSO_SEGS_MAX of them to the kernel as one GSO packet: one
 * trip through the UDP/IP stack, no IP fragmentation, and the checksums
 * left to the device.
 *
 * Zero copy for unicast: the TAP read lands the virtio_net_hdr and frame at
 * their final offsets, the headers are written in front of each piece, and
 * the AEAD runs in place. Broadcast copies the plaintext once per extra
 * peer (rare: ARP for unknown addresses, DHCP, neighbour discovery).
 */
#include "node/overlay/overlay_int.h"

#include <assert.h>
#include <netinet/udp.h>
#include <stdlib.h>
#include <string.h>

#ifndef UDP_SEGMENT
#define UDP_SEGMENT 103 /* linux/udp.h; older libc headers lack it */
#endif

overlay_txq_t *
overlay__txq_new (const overlay_t *ov, int q)
{
    assert (ov);
    overlay_txq_t *self = (overlay_txq_t *) calloc (1, sizeof *self);
    if (!self)
        return NULL;
    self->q = q;
    //  Slots at 64-byte multiples: the AEAD's and the kernel's copies run
    //  on whole cache lines.
    self->slot_bytes = ((size_t) ov->chunks_max * ov->stride + 63) & ~(size_t) 63;
    self->bufs = (uint8_t *) overlay__bufs_alloc ((OVERLAY_BATCH + 1) * self->slot_bytes);
    bool ok = self->bufs != NULL;
    for (int i = 0; ok && i < OVERLAY_BATCH; i++)
        self->buf[i] = self->bufs + (size_t) i * self->slot_bytes;
    if (ok)
        self->scratch = self->bufs + (size_t) OVERLAY_BATCH * self->slot_bytes;
    ok = ok
         && (self->read_iov = (struct iovec *) calloc (ov->chunks_max, sizeof (struct iovec)))
                != NULL;
    if (!ok)
        overlay__txq_destroy (&self);
    return self;
}

void
overlay__txq_destroy (overlay_txq_t **self_p)
{
    assert (self_p);
    overlay_txq_t *self = *self_p;
    if (!self)
        return;
    if (self->bufs)
        overlay__bufs_free (self->bufs, (OVERLAY_BATCH + 1) * self->slot_bytes);
    free (self->read_iov);
    free (self);
    *self_p = NULL;
}

uint8_t *
overlay__txq_slot (overlay_txq_t *txq)
{
    assert (txq);
    return txq->buf[txq->count];
}

struct iovec *
overlay__txq_iov (overlay_t *self, overlay_txq_t *txq, int *count)
{
    assert (self);
    assert (txq);
    uint8_t *slot = txq->buf[txq->count];
    struct iovec *iov = txq->read_iov;
    iov[0].iov_base = slot + OVERLAY_OFF_VNET;
    iov[0].iov_len = OVERLAY_VNET_HDR_BYTES + self->chunk;
    for (unsigned k = 1; k < self->chunks_max; k++) {
        iov[k].iov_base = slot + k * self->stride + OVERLAY_OFF_FRAME;
        iov[k].iov_len = self->chunk;
    }
    *count = (int) self->chunks_max;
    return iov;
}

//  Chunks frame_len bytes take.
static unsigned
s_chunks (const overlay_t *self, size_t frame_len)
{
    return frame_len <= self->chunk ? 1 : (unsigned) ((frame_len + self->chunk - 1) / self->chunk);
}

//  Seal the frame laid out in slot (headers of every chunk written) for
//  peer and queue its datagrams. Entries never run out: a frame needs at
//  most OVERLAY_TX_GROUPS of them and a batch has OVERLAY_BATCH slots.
static int
s_seal_queue (overlay_t *self, overlay_txq_t *txq, overlay_peer_t *peer, uint8_t *slot,
              size_t frame_len)
{
    unsigned chunks = s_chunks (self, frame_len);
    unsigned groups = (chunks + self->gso_segs - 1) / self->gso_segs;
    assert (txq->nmsgs + groups <= OVERLAY_TX_MSGS);
    uint8_t *bufs[OVERLAY_CHUNKS_MAX];
    size_t ptlens[OVERLAY_CHUNKS_MAX];
    size_t left = frame_len;
    for (unsigned k = 0; k < chunks; k++) {
        size_t piece = left < self->chunk ? left : self->chunk;
        bufs[k] = slot + k * self->stride;
        ptlens[k] = OVERLAY_INNER_HEADER + piece;
        left -= piece;
    }
    int rc = shed_session_seal_batch (peer->session, overlay__now_ms (self), bufs, ptlens, chunks);
    if (rc != SHED_SESSION_OK) {
        overlay_drop_t reason = overlay__session_drop (rc);
        overlay__drop (self, peer, reason);
        return reason;
    }
    for (unsigned g = 0; g < groups; g++) {
        unsigned first = g * self->gso_segs;
        unsigned n = chunks - first < self->gso_segs ? chunks - first : self->gso_segs;
        unsigned i = txq->nmsgs++;
        size_t len =
            (size_t) (n - 1) * self->stride + ptlens[first + n - 1] + SHED_SESSION_DATA_OVERHEAD;
        memcpy (&txq->addr[i], &peer->addr, peer->addrlen);
        txq->iov[i].iov_base = bufs[first];
        txq->iov[i].iov_len = len;
        memset (&txq->msgs[i], 0, sizeof txq->msgs[i]);
        struct msghdr *mh = &txq->msgs[i].msg_hdr;
        mh->msg_name = &txq->addr[i];
        mh->msg_namelen = peer->addrlen;
        mh->msg_iov = &txq->iov[i];
        mh->msg_iovlen = 1;
        if (n > 1) {
            //  Every datagram but the last is exactly one stride long.
            mh->msg_control = txq->ctrl[i].buf;
            mh->msg_controllen = sizeof txq->ctrl[i].buf;
            struct cmsghdr *cm = CMSG_FIRSTHDR (mh);
            cm->cmsg_level = SOL_UDP;
            cm->cmsg_type = UDP_SEGMENT;
            cm->cmsg_len = CMSG_LEN (sizeof (uint16_t));
            uint16_t seg = (uint16_t) self->stride;
            memcpy (CMSG_DATA (cm), &seg, sizeof seg);
        }
        txq->peer[i] = peer;
        txq->dgrams[i] = n;
    }
    return OVERLAY_OK;
}

//  VXLAN header and offload block of every chunk of the frame in slot (the
//  vnet header read before piece 0 is consumed here).
static void
s_write_headers (overlay_t *self, uint8_t *slot, size_t frame_len)
{
    //  The offload block overwrites the vnet header's bytes: copy it first.
    struct virtio_net_hdr vh;
    memcpy (&vh, slot + OVERLAY_OFF_VNET, sizeof vh);
    overlay_vxlan_encode (slot + OVERLAY_OFF_VXLAN, self->vni);
    overlay_offload_encode (slot + OVERLAY_OFF_OFFLOAD, &vh);
    unsigned chunks = s_chunks (self, frame_len);
    overlay_chunk_encode (slot + OVERLAY_OFF_OFFLOAD, 0, chunks);
    for (unsigned k = 1; k < chunks; k++) {
        uint8_t *c = slot + k * self->stride;
        memcpy (c + OVERLAY_OFF_VXLAN, slot + OVERLAY_OFF_VXLAN, OVERLAY_INNER_HEADER);
        overlay_chunk_encode (c + OVERLAY_OFF_OFFLOAD, k, chunks);
    }
}

int
overlay__tx_frame (overlay_t *self, overlay_txq_t *txq, size_t frame_len)
{
    assert (self);
    assert (txq);
    uint8_t *slot = txq->buf[txq->count];
    const uint8_t *frame = slot + OVERLAY_OFF_FRAME;
    if (frame_len < OVERLAY_ETH_BYTES) {
        overlay__drop (self, NULL, OVERLAY_DROP_INNER);
        return OVERLAY_DROP_INNER;
    }
    if (frame_len > OVERLAY_FRAME_MAX || s_chunks (self, frame_len) > self->chunks_max) {
        //  Only if a sender's GSO limit exceeds ours; see docs/overlay.md.
        overlay__drop (self, NULL, OVERLAY_DROP_TOO_BIG);
        return OVERLAY_DROP_TOO_BIG;
    }
    //  Piece 0 is contiguous: every header looked at here is in it.
    size_t head_len = frame_len < self->chunk ? frame_len : self->chunk;
    //  A local shed claiming a remote shed's address (the bridge's
    //  per-port rules stop this first; this holds for anything on the
    //  bridge, docs/overlay.md "Anti-spoofing").
    if (overlay__arp_spoofed (self->arp, frame, head_len)) {
        overlay__drop (self, NULL, OVERLAY_DROP_ARP_SPOOF);
        return OVERLAY_DROP_ARP_SPOOF;
    }
    bool group = frame[0] & 1;
    if (group) {
        //  ARP we can answer never leaves this node.
        uint8_t reply[OVERLAY_VNET_HDR_BYTES + OVERLAY_ARP_FRAME];
        memset (reply, 0, OVERLAY_VNET_HDR_BYTES);
        if (overlay__arp_answer (self->arp, frame, head_len, reply + OVERLAY_VNET_HDR_BYTES)) {
            OVERLAY_COUNT (self->arp_answered, 1);
            struct iovec iov = { .iov_base = reply, .iov_len = sizeof reply };
            if (self->io.tap_write (self, txq->q, &iov, 1) != 0)
                overlay__drop (self, NULL, OVERLAY_DROP_IO);
            return OVERLAY_OK;
        }
    }
    s_write_headers (self, slot, frame_len);
    if (!group) {
        overlay_peer_t *peer = overlay__fdb_lookup (self->fdb, frame);
        if (!peer) {
            overlay__drop (self, NULL, OVERLAY_DROP_NO_FDB);
            return OVERLAY_DROP_NO_FDB;
        }
        int rc = s_seal_queue (self, txq, peer, slot, frame_len);
        if (rc == OVERLAY_OK && ++txq->count == OVERLAY_BATCH)
            overlay__tx_flush (self, txq);
        return rc;
    }
    //  Broadcast / multicast: one sealed copy per peer, each in a slot.
    if (self->peers.count == 0)
        return OVERLAY_OK;
    unsigned chunks = s_chunks (self, frame_len);
    size_t span = (size_t) (chunks - 1) * self->stride + OVERLAY_OFF_FRAME
                  + (frame_len - (size_t) (chunks - 1) * self->chunk);
    memcpy (txq->scratch, slot, span);
    int result = OVERLAY_OK;
    for (size_t p = 0; p < self->peers.count; p++) {
        uint8_t *buf = txq->buf[txq->count];
        if (p > 0)
            memcpy (buf, txq->scratch, span);
        int rc = s_seal_queue (self, txq, self->peers.items[p], buf, frame_len);
        if (rc != OVERLAY_OK)
            result = rc;
        else if (++txq->count == OVERLAY_BATCH)
            overlay__tx_flush (self, txq);
    }
    return result;
}

void
overlay__tx_flush (overlay_t *self, overlay_txq_t *txq)
{
    assert (self);
    assert (txq);
    unsigned sent = 0;
    while (sent < txq->nmsgs) {
        int n = self->io.send (self, txq->q, txq->msgs + sent, txq->nmsgs - sent);
        if (n <= 0) {
            //  Skip the entry that failed (unreachable peer, full buffer),
            //  count it, go on with the rest.
            overlay__drop (self, txq->peer[sent], OVERLAY_DROP_IO);
            sent++;
            continue;
        }
        for (unsigned i = sent; i < sent + (unsigned) n; i++) {
            OVERLAY_COUNT (txq->peer[i]->tx_packets, txq->dgrams[i]);
            OVERLAY_COUNT (txq->peer[i]->tx_bytes, txq->iov[i].iov_len);
        }
        sent += (unsigned) n;
    }
    txq->nmsgs = 0;
    txq->count = 0;
}

void
overlay__tx_keepalive (overlay_t *self, overlay_peer_t *peer, int q)
{
    uint8_t buf[SHED_SESSION_DATA_OVERHEAD];
    size_t len;
    int rc = shed_session_seal (peer->session, overlay__now_ms (self), buf, 0, sizeof buf, &len);
    if (rc != SHED_SESSION_OK) {
        overlay__drop (self, peer, overlay__session_drop (rc));
        return;
    }
    struct iovec iov = { .iov_base = buf, .iov_len = len };
    struct mmsghdr msg;
    memset (&msg, 0, sizeof msg);
    msg.msg_hdr.msg_name = &peer->addr;
    msg.msg_hdr.msg_namelen = peer->addrlen;
    msg.msg_hdr.msg_iov = &iov;
    msg.msg_hdr.msg_iovlen = 1;
    if (self->io.send (self, q, &msg, 1) != 1)
        overlay__drop (self, peer, OVERLAY_DROP_IO);
}
