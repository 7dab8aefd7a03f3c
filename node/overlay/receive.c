/*
 * receive.c - the RX path, one datagram at a time (the RX thread batches
 * the recvmmsg around it). Order of checks, as in WireGuard's receive.c:
 *   1. type byte and exact length for the type (nothing else is parsed
 *      before this);
 *   2. handshake: mac1, decrypt, allow-list (peer table), timestamp;
 *      data: the source must be a member, then key id, key age, AEAD;
 *   3. only after authentication the replay window (inside
 *      shed_session_open), so forged counters cannot move it;
 *   4. then the plaintext: VXLAN header and our VNI, offload block sane,
 *      frame at least an Ethernet header;
 *   5. write to the TAP.
 * Every early exit is a counted drop, charged to the peer when we know it.
 */
#include "node/overlay/overlay_int.h"

#include <assert.h>
#include <string.h>

static int
s_drop (overlay_t *self, overlay_peer_t *peer, overlay_drop_t reason)
{
    overlay__drop (self, peer, reason);
    return reason;
}

static int
s_send_one (overlay_t *self, int q, overlay_peer_t *peer, uint8_t *msg, size_t len)
{
    struct iovec iov = { .iov_base = msg, .iov_len = len };
    struct mmsghdr m;
    memset (&m, 0, sizeof m);
    m.msg_hdr.msg_name = &peer->addr;
    m.msg_hdr.msg_namelen = peer->addrlen;
    m.msg_hdr.msg_iov = &iov;
    m.msg_hdr.msg_iovlen = 1;
    if (self->io.send (self, q, &m, 1) != 1)
        return s_drop (self, peer, OVERLAY_DROP_IO);
    return OVERLAY_OK;
}

static int
s_initiation (overlay_t *self, int q, uint8_t *buf, size_t len)
{
    shed_initiation_t init;
    int rc = shed_session_initiation_open (self->secret, self->public, buf, len, &init);
    if (rc != SHED_SESSION_OK)
        return s_drop (self, NULL, OVERLAY_DROP_HANDSHAKE);
    //  The allow-list: only members' static keys get an answer. We answer
    //  at the member's known address, never at the datagram's source.
    overlay_peer_t *peer = overlay__peers_by_key (&self->peers, init.peer_public);
    if (!peer) {
        shed_session_initiation_wipe (&init);
        return s_drop (self, NULL, OVERLAY_DROP_NOT_MEMBER);
    }
    uint8_t resp [SHED_MSG_RESPONSE_SIZE];
    rc = shed_session_respond (peer->session, &init, overlay__now_ms (self), resp);
    if (rc != SHED_SESSION_OK)
        return s_drop (self, peer, OVERLAY_DROP_HANDSHAKE);
    return s_send_one (self, q, peer, resp, sizeof resp);
}

static int
s_response (overlay_t *self, int q, overlay_peer_t *peer, uint8_t *buf, size_t len)
{
    int rc = shed_session_consume_response (peer->session, buf, len, overlay__now_ms (self));
    if (rc != SHED_SESSION_OK)
        return s_drop (self, peer, OVERLAY_DROP_HANDSHAKE);
    //  Confirm the new key at once so the responder can send under it.
    overlay__tx_keepalive (self, peer, q);
    return OVERLAY_OK;
}

static int
s_data (overlay_t *self, int q, overlay_peer_t *peer, uint8_t *buf, size_t len)
{
    size_t ptlen;
    int rc = shed_session_open (peer->session, overlay__now_ms (self), buf, len, &ptlen);
    if (rc != SHED_SESSION_OK)
        return s_drop (self, peer, overlay__session_drop (rc));
    if (ptlen == 0)
        return OVERLAY_OK;                  //  keepalive: confirmed a key
    if (ptlen < OVERLAY_INNER_HEADER + OVERLAY_ETH_BYTES)
        return s_drop (self, peer, OVERLAY_DROP_INNER);
    uint32_t vni;
    if (overlay_vxlan_decode (buf + OVERLAY_OFF_VXLAN, ptlen, &vni) != 0 || vni != self->vni)
        return s_drop (self, peer, OVERLAY_DROP_VNI);
    size_t frame_len = ptlen - OVERLAY_INNER_HEADER;
    struct virtio_net_hdr vh;
    if (overlay_offload_decode (buf + OVERLAY_OFF_OFFLOAD, frame_len, &vh) != 0)
        return s_drop (self, peer, OVERLAY_DROP_INNER);
    //  A member announcing another's address: the table (from the
    //  address owners' records) says who holds it.
    if (overlay__arp_spoofed (self->arp, buf + OVERLAY_OFF_FRAME, frame_len))
        return s_drop (self, peer, OVERLAY_DROP_ARP_SPOOF);
    //  Our TAP reads the vnet header right before the frame: no copy.
    memcpy (buf + OVERLAY_OFF_VNET, &vh, sizeof vh);
    if (self->io.tap_write (self, q, buf + OVERLAY_OFF_VNET, sizeof vh + frame_len) != 0)
        return s_drop (self, peer, OVERLAY_DROP_IO);
    OVERLAY_COUNT (peer->rx_packets, 1);
    OVERLAY_COUNT (peer->rx_bytes, frame_len);
    return OVERLAY_OK;
}

int
overlay__rx_datagram (overlay_t *self, int q, const struct sockaddr *src, socklen_t srclen,
                      uint8_t *buf, size_t len)
{
    assert (self);
    if (!buf || len < 1)
        return s_drop (self, NULL, OVERLAY_DROP_SHORT);
    overlay_peer_t *peer;
    switch (buf [0]) {
        case SHED_MSG_INITIATION:
            if (len != SHED_MSG_INITIATION_SIZE)
                return s_drop (self, NULL, OVERLAY_DROP_SHORT);
            return s_initiation (self, q, buf, len);

        case SHED_MSG_RESPONSE:
            if (len != SHED_MSG_RESPONSE_SIZE)
                return s_drop (self, NULL, OVERLAY_DROP_SHORT);
            peer = overlay__peers_by_addr (&self->peers, src, srclen);
            if (!peer)
                return s_drop (self, NULL, OVERLAY_DROP_NOT_MEMBER);
            return s_response (self, q, peer, buf, len);

        case SHED_MSG_DATA:
            if (len < SHED_SESSION_DATA_OVERHEAD)
                return s_drop (self, NULL, OVERLAY_DROP_SHORT);
            peer = overlay__peers_by_addr (&self->peers, src, srclen);
            if (!peer)
                return s_drop (self, NULL, OVERLAY_DROP_NOT_MEMBER);
            return s_data (self, q, peer, buf, len);

        case OVERLAY_VXLAN_FLAG_I:
            //  Plaintext VXLAN (what the kernel's vxlan device sends) is
            //  never accepted here, from anyone.
            return s_drop (self, overlay__peers_by_addr (&self->peers, src, srclen),
                           OVERLAY_DROP_PLAINTEXT);
        default:
            return s_drop (self, NULL, OVERLAY_DROP_TYPE);
    }
}
