/*
 * send.c - the TX path: a frame read from the TAP is classified (ARP we can
 * answer, group address, unicast), wrapped in VXLAN + offload block, sealed
 * under the destination peer's session and queued; a batch leaves with one
 * sendmmsg.
 *
 * Zero copy for unicast: the TAP read lands the virtio_net_hdr and frame at
 * their final offsets in a datagram buffer (overlay_msg.h), the headers are
 * written in front, and the AEAD runs in place. Broadcast copies the
 * plaintext once per extra peer (rare: ARP for unknown addresses, DHCP,
 * neighbour discovery).
 */
#include "node/overlay/overlay_int.h"

#include <assert.h>
#include <stdlib.h>
#include <string.h>

overlay_txq_t *
overlay__txq_new (int q)
{
    overlay_txq_t *self = (overlay_txq_t *) calloc (1, sizeof *self);
    if (!self)
        return NULL;
    self->q = q;
    bool ok = true;
    for (int i = 0; i < OVERLAY_BATCH; i++)
        ok &= (self->buf [i] = (uint8_t *) malloc (OVERLAY_BUF_BYTES)) != NULL;
    ok &= (self->scratch = (uint8_t *) malloc (OVERLAY_BUF_BYTES)) != NULL;
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
    for (int i = 0; i < OVERLAY_BATCH; i++)
        free (self->buf [i]);
    free (self->scratch);
    free (self);
    *self_p = NULL;
}

uint8_t *
overlay__txq_slot (overlay_txq_t *txq)
{
    assert (txq);
    return txq->buf [txq->count];
}

//  Seal the plaintext (ptlen bytes at OVERLAY_OFF_VXLAN) in the current slot
//  for peer and queue it; flushes a full batch.
static int
s_seal_queue (overlay_t *self, overlay_txq_t *txq, overlay_peer_t *peer, size_t ptlen)
{
    unsigned i = txq->count;
    uint8_t *buf = txq->buf [i];
    size_t outlen;
    int rc = shed_session_seal (peer->session, overlay__now_ms (self), buf, ptlen,
                                OVERLAY_BUF_BYTES, &outlen);
    if (rc != SHED_SESSION_OK) {
        overlay_drop_t reason = overlay__session_drop (rc);
        overlay__drop (self, peer, reason);
        return reason;
    }
    memcpy (&txq->addr [i], &peer->addr, peer->addrlen);
    txq->iov [i].iov_base = buf;
    txq->iov [i].iov_len = outlen;
    memset (&txq->msgs [i], 0, sizeof txq->msgs [i]);
    txq->msgs [i].msg_hdr.msg_name = &txq->addr [i];
    txq->msgs [i].msg_hdr.msg_namelen = peer->addrlen;
    txq->msgs [i].msg_hdr.msg_iov = &txq->iov [i];
    txq->msgs [i].msg_hdr.msg_iovlen = 1;
    txq->peer [i] = peer;
    if (++txq->count == OVERLAY_BATCH)
        overlay__tx_flush (self, txq);
    return OVERLAY_OK;
}

int
overlay__tx_frame (overlay_t *self, overlay_txq_t *txq, size_t frame_len)
{
    assert (self);
    assert (txq);
    uint8_t *buf = txq->buf [txq->count];
    const uint8_t *frame = buf + OVERLAY_OFF_FRAME;
    if (frame_len < OVERLAY_ETH_BYTES) {
        overlay__drop (self, NULL, OVERLAY_DROP_INNER);
        return OVERLAY_DROP_INNER;
    }
    if (frame_len > OVERLAY_FRAME_MAX) {
        //  Only if a sender's GSO limit exceeds ours; see docs/overlay.md.
        overlay__drop (self, NULL, OVERLAY_DROP_TOO_BIG);
        return OVERLAY_DROP_TOO_BIG;
    }
    //  A local shed claiming a remote shed's address (the bridge's
    //  per-port rules stop this first; this holds for anything on the
    //  bridge, docs/overlay.md "Anti-spoofing").
    if (overlay__arp_spoofed (self->arp, frame, frame_len)) {
        overlay__drop (self, NULL, OVERLAY_DROP_ARP_SPOOF);
        return OVERLAY_DROP_ARP_SPOOF;
    }
    bool group = frame [0] & 1;
    if (group) {
        //  ARP we can answer never leaves this node.
        uint8_t reply [OVERLAY_VNET_HDR_BYTES + OVERLAY_ARP_FRAME];
        memset (reply, 0, OVERLAY_VNET_HDR_BYTES);
        if (overlay__arp_answer (self->arp, frame, frame_len, reply + OVERLAY_VNET_HDR_BYTES)) {
            OVERLAY_COUNT (self->arp_answered, 1);
            if (self->io.tap_write (self, txq->q, reply, sizeof reply) != 0)
                overlay__drop (self, NULL, OVERLAY_DROP_IO);
            return OVERLAY_OK;
        }
    }
    //  The offload block overwrites the vnet header's bytes: copy it first.
    struct virtio_net_hdr vh;
    memcpy (&vh, buf + OVERLAY_OFF_VNET, sizeof vh);
    overlay_offload_encode (buf + OVERLAY_OFF_OFFLOAD, &vh);
    overlay_vxlan_encode (buf + OVERLAY_OFF_VXLAN, self->vni);
    size_t ptlen = OVERLAY_INNER_HEADER + frame_len;

    if (!group) {
        overlay_peer_t *peer = overlay__fdb_lookup (self->fdb, frame);
        if (!peer) {
            overlay__drop (self, NULL, OVERLAY_DROP_NO_FDB);
            return OVERLAY_DROP_NO_FDB;
        }
        return s_seal_queue (self, txq, peer, ptlen);
    }
    //  Broadcast / multicast: one sealed copy per peer.
    if (self->peers.count == 0)
        return OVERLAY_OK;
    memcpy (txq->scratch, buf + OVERLAY_OFF_VXLAN, ptlen);
    int result = OVERLAY_OK;
    for (size_t p = 0; p < self->peers.count; p++) {
        if (p > 0)
            memcpy (txq->buf [txq->count] + OVERLAY_OFF_VXLAN, txq->scratch, ptlen);
        int rc = s_seal_queue (self, txq, self->peers.items [p], ptlen);
        if (rc != OVERLAY_OK)
            result = rc;
    }
    return result;
}

void
overlay__tx_flush (overlay_t *self, overlay_txq_t *txq)
{
    assert (self);
    assert (txq);
    unsigned sent = 0;
    while (sent < txq->count) {
        int n = self->io.send (self, txq->q, txq->msgs + sent, txq->count - sent);
        if (n <= 0) {
            //  Skip the datagram that failed (unreachable peer, full
            //  buffer), count it, go on with the rest.
            overlay__drop (self, txq->peer [sent], OVERLAY_DROP_IO);
            sent++;
            continue;
        }
        for (unsigned i = sent; i < sent + (unsigned) n; i++) {
            OVERLAY_COUNT (txq->peer [i]->tx_packets, 1);
            OVERLAY_COUNT (txq->peer [i]->tx_bytes, txq->iov [i].iov_len);
        }
        sent += (unsigned) n;
    }
    txq->count = 0;
}

void
overlay__tx_keepalive (overlay_t *self, overlay_peer_t *peer, int q)
{
    uint8_t buf [SHED_SESSION_DATA_OVERHEAD];
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
