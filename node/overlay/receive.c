/*
 * receive.c - the RX path, one datagram at a time (the RX thread batches
 * the recvmmsg around it). Order of checks, as in WireGuard's receive.c:
 *   1. type byte and exact length for the type (nothing else is parsed
 *      before this);
 *   2. handshake: mac1, decrypt, allow-list (peer table), timestamp;
 *      data: the source must be a member, then key id, key age, AEAD;
 *   3. only after authentication the replay window (inside
 *      shed_session_open), so forged counters cannot move it;
 *   4. then the plaintext: VXLAN header and our VNI, chunk fields, offload
 *      block sane, frame at least an Ethernet header;
 *   5. a chunk waits for the rest of its frame (below); a whole frame is
 *      written to the TAP.
 * Every early exit is a counted drop, charged to the peer when we know it.
 *
 * Chunks (overlay_msg.h): an RX queue puts up to OVERLAY_RX_ASSEMBLY frames
 * together at once. Chunk 0 opens one; chunk i joins the one from the same
 * peer object, under the same key id, whose chunk 0 had counter c - i and
 * which waits for exactly chunk i. Each piece was authenticated and
 * replay-checked on its own before it gets here, so a forged or replayed
 * datagram never joins a frame. A piece that fits nowhere, or a chunk 0
 * that pushes out the oldest unfinished frame, is counted as `chunk`: the
 * shed's TCP retransmits, as for any lost packet. Pieces are not copied:
 * they stay in the receive buffers and the TAP write gathers them
 * (writev); only a frame still unfinished when the batch ends is copied
 * out (overlay__rx_end), since those buffers are reused.
 */
#include "node/overlay/overlay_int.h"

#include <assert.h>
#include <stdlib.h>
#include <string.h>

overlay_rxq_t *
overlay__rxq_new (int q)
{
    overlay_rxq_t *self = (overlay_rxq_t *) calloc (1, sizeof *self);
    if (!self)
        return NULL;
    self->q = q;
    bool ok = true;
    for (int a = 0; a < OVERLAY_RX_ASSEMBLY; a++) {
        overlay_asm_t *as = &self->asm_[a];
        ok &= (as->stage = (uint8_t *) malloc (OVERLAY_FRAME_MAX)) != NULL;
        ok &= (as->iov = (struct iovec *) calloc (1 + OVERLAY_CHUNKS_MAX, sizeof *as->iov)) != NULL;
    }
    if (!ok)
        overlay__rxq_destroy (&self);
    return self;
}

void
overlay__rxq_destroy (overlay_rxq_t **self_p)
{
    assert (self_p);
    overlay_rxq_t *self = *self_p;
    if (!self)
        return;
    for (int a = 0; a < OVERLAY_RX_ASSEMBLY; a++) {
        free (self->asm_[a].stage);
        free (self->asm_[a].iov);
    }
    free (self);
    *self_p = NULL;
}

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
    uint8_t resp[SHED_MSG_RESPONSE_SIZE];
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

//  The frame in iov[1..niov) (total bytes, offload block as sent) to the
//  TAP, after the checks on its plaintext.
static int
s_deliver (overlay_t *self, int q, overlay_peer_t *peer, const uint8_t *block,
           struct virtio_net_hdr *vh, struct iovec *iov, int niov, size_t total, unsigned datagrams)
{
    if (overlay_offload_decode (block, total, vh) != 0)
        return s_drop (self, peer, OVERLAY_DROP_INNER);
    //  A member announcing another's address: the table (from the
    //  address owners' records) says who holds it. ARP is in piece 0.
    if (overlay__arp_spoofed (self->arp, (const uint8_t *) iov[1].iov_base, iov[1].iov_len))
        return s_drop (self, peer, OVERLAY_DROP_ARP_SPOOF);
    iov[0].iov_base = vh;
    iov[0].iov_len = sizeof *vh;
    if (self->io.tap_write (self, q, iov, niov) != 0)
        return s_drop (self, peer, OVERLAY_DROP_IO);
    OVERLAY_COUNT (peer->rx_packets, datagrams);
    OVERLAY_COUNT (peer->rx_bytes, total);
    return OVERLAY_OK;
}

static void
s_abandon (overlay_t *self, overlay_peer_t *peer, overlay_asm_t *as)
{
    as->active = false;
    overlay__drop (self, peer, OVERLAY_DROP_CHUNK);
}

static int
s_chunk (overlay_t *self, overlay_rxq_t *rxq, overlay_peer_t *peer, uint32_t key_id,
         uint64_t counter, unsigned chunk, unsigned chunks, uint8_t *piece, size_t len)
{
    overlay_asm_t *as = NULL;
    if (chunk == 0) {
        if (len < OVERLAY_ETH_BYTES)
            return s_drop (self, peer, OVERLAY_DROP_INNER);
        //  A free slot, else the oldest unfinished frame makes room.
        for (int a = 0; a < OVERLAY_RX_ASSEMBLY; a++) {
            overlay_asm_t *c = &rxq->asm_[a];
            if (!as || (as->active && (!c->active || c->started < as->started)))
                as = c;
        }
        if (as->active)
            s_abandon (self, peer, as);
        as->active = true;
        as->peer_serial = peer->serial;
        as->key_id = key_id;
        as->base = counter;
        as->chunks = chunks;
        as->next = 1;
        as->total = len;
        as->started = ++rxq->seq;
        memcpy (as->block, piece - OVERLAY_INNER_HEADER + OVERLAY_VXLAN_BYTES, sizeof as->block);
        as->staged = 0;
        as->niov = 2;
        as->iov[1].iov_base = piece;
        as->iov[1].iov_len = len;
        return OVERLAY_OK;
    }
    for (int a = 0; a < OVERLAY_RX_ASSEMBLY && !as; a++) {
        overlay_asm_t *c = &rxq->asm_[a];
        if (c->active && c->peer_serial == peer->serial && c->key_id == key_id
            && counter - chunk == c->base)
            as = c;
    }
    if (!as)
        return s_drop (self, peer, OVERLAY_DROP_CHUNK);
    if (as->next != chunk || as->chunks != chunks) {
        //  A piece of this frame was lost or overtaken: it cannot complete.
        s_abandon (self, peer, as);
        return s_drop (self, peer, OVERLAY_DROP_CHUNK);
    }
    if (as->total + len > OVERLAY_FRAME_MAX) {
        as->active = false;
        return s_drop (self, peer, OVERLAY_DROP_INNER);
    }
    as->iov[as->niov].iov_base = piece;
    as->iov[as->niov].iov_len = len;
    as->niov++;
    as->total += len;
    if (++as->next < as->chunks)
        return OVERLAY_OK;
    as->active = false;
    return s_deliver (self, rxq->q, peer, as->block, &as->vh, as->iov, (int) as->niov, as->total,
                      as->chunks);
}

void
overlay__rx_end (overlay_t *self, overlay_rxq_t *rxq)
{
    assert (self);
    assert (rxq);
    for (int a = 0; a < OVERLAY_RX_ASSEMBLY; a++) {
        overlay_asm_t *as = &rxq->asm_[a];
        if (!as->active)
            continue;
        //  iov [1] may already be the stage (from an earlier batch).
        size_t pos = as->staged;
        for (unsigned k = as->staged ? 2 : 1; k < as->niov; k++) {
            memcpy (as->stage + pos, as->iov[k].iov_base, as->iov[k].iov_len);
            pos += as->iov[k].iov_len;
        }
        as->staged = pos;
        as->iov[1].iov_base = as->stage;
        as->iov[1].iov_len = pos;
        as->niov = 2;
    }
}

static int
s_data (overlay_t *self, overlay_rxq_t *rxq, overlay_peer_t *peer, uint8_t *buf, size_t len)
{
    //  Header fields are the AEAD's associated data: trusted once it opens.
    uint32_t key_id = shed_session_data_key_id (buf, len);
    uint64_t counter = 0;
    for (int i = 7; i >= 0; i--)
        counter = counter << 8 | buf[offsetof (shed_msg_data_t, counter) + (size_t) i];
    size_t ptlen;
    int rc = shed_session_open (peer->session, overlay__now_ms (self), buf, len, &ptlen);
    if (rc != SHED_SESSION_OK)
        return s_drop (self, peer, overlay__session_drop (rc));
    if (ptlen == 0)
        return OVERLAY_OK; //  keepalive: confirmed a key
    if (ptlen < OVERLAY_INNER_HEADER + 1)
        return s_drop (self, peer, OVERLAY_DROP_INNER);
    uint32_t vni;
    if (overlay_vxlan_decode (buf + OVERLAY_OFF_VXLAN, ptlen, &vni) != 0 || vni != self->vni)
        return s_drop (self, peer, OVERLAY_DROP_VNI);
    size_t frame_len = ptlen - OVERLAY_INNER_HEADER;
    unsigned chunk, chunks;
    if (overlay_chunk_decode (buf + OVERLAY_OFF_OFFLOAD, &chunk, &chunks) != 0)
        return s_drop (self, peer, OVERLAY_DROP_INNER);
    if (chunks > 1)
        return s_chunk (self, rxq, peer, key_id, counter, chunk, chunks, buf + OVERLAY_OFF_FRAME,
                        frame_len);
    if (frame_len < OVERLAY_ETH_BYTES)
        return s_drop (self, peer, OVERLAY_DROP_INNER);
    //  A whole frame: the vnet header goes on the stack, the frame stays.
    struct iovec iov[2];
    iov[1].iov_base = buf + OVERLAY_OFF_FRAME;
    iov[1].iov_len = frame_len;
    struct virtio_net_hdr vh;
    return s_deliver (self, rxq->q, peer, buf + OVERLAY_OFF_OFFLOAD, &vh, iov, 2, frame_len, 1);
}

int
overlay__rx_datagram (overlay_t *self, overlay_rxq_t *rxq, const struct sockaddr *src,
                      socklen_t srclen, uint8_t *buf, size_t len)
{
    assert (self);
    assert (rxq);
    int q = rxq->q;
    if (!buf || len < 1)
        return s_drop (self, NULL, OVERLAY_DROP_SHORT);
    overlay_peer_t *peer;
    switch (buf[0]) {
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
        return s_data (self, rxq, peer, buf, len);

    case OVERLAY_VXLAN_FLAG_I:
        //  Plaintext VXLAN (what the kernel's vxlan device sends) is
        //  never accepted here, from anyone.
        return s_drop (self, overlay__peers_by_addr (&self->peers, src, srclen),
                       OVERLAY_DROP_PLAINTEXT);
    default:
        return s_drop (self, NULL, OVERLAY_DROP_TYPE);
    }
}
