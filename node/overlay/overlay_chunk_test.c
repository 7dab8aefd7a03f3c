/*
 * overlay_chunk_test.c - TSO super-frames as chunks (node/overlay/
 * overlay_msg.h): the TAP read's scatter layout, one sealed datagram per
 * chunk under the underlay MTU with consecutive counters, UDP GSO entries,
 * reassembly into one gathered TAP write, pieces kept across RX batches,
 * interleaved frames, and what a lost, replayed, reordered or foreign
 * piece does (the frame is dropped and counted, nothing else breaks).
 */
#include "node/overlay/overlay_test_fixture.h"

#include <sodium.h>

#define BIG 64000

//  A frame of `len` bytes (dst B, src A, a counting payload) with a TCPv4
//  GSO vnet header, put in the current TX slot the way a TAP readv does.
static void
s_big_frame (pair_t *p, uint8_t *frame, size_t len, struct virtio_net_hdr *vh)
{
    memcpy (frame, s_mac_b, 6);
    memcpy (frame + 6, s_mac_a, 6);
    frame[12] = 0x08;
    frame[13] = 0x00;
    for (size_t i = 14; i < len; i++)
        frame[i] = (uint8_t) (i * 7 + i / 251);
    *vh = (struct virtio_net_hdr){
        .flags = VIRTIO_NET_HDR_F_NEEDS_CSUM,
        .gso_type = VIRTIO_NET_HDR_GSO_TCPV4,
        .hdr_len = 66,
        .gso_size = 1350,
        .csum_start = 34,
        .csum_offset = 16,
    };
    int iovcnt;
    struct iovec *iov = overlay__txq_iov (p->a, p->txq, &iovcnt);
    //  Scatter (vnet header + frame) over the iovecs as readv would.
    uint8_t *src = malloc (sizeof *vh + len);
    memcpy (src, vh, sizeof *vh);
    memcpy (src + sizeof *vh, frame, len);
    size_t off = 0, total = sizeof *vh + len;
    for (int i = 0; i < iovcnt && off < total; i++) {
        size_t n = total - off < iov[i].iov_len ? total - off : iov[i].iov_len;
        memcpy (iov[i].iov_base, src + off, n);
        off += n;
    }
    assert_int_equal (off, total);
    free (src);
}

static uint64_t
s_counter (const uint8_t *dgram)
{
    uint64_t c = 0;
    for (int i = 7; i >= 0; i--)
        c = c << 8 | dgram[8 + i];
    return c;
}

//  Send one BIG frame from A; returns the number of datagrams.
static int
s_send_big (pair_t *p, uint8_t *frame, struct virtio_net_hdr *vh)
{
    s_big_frame (p, frame, BIG, vh);
    assert_int_equal (overlay__tx_frame (p->a, p->txq, BIG), OVERLAY_OK);
    overlay__tx_flush (p->a, p->txq);
    return p->ca->sent;
}

static void
s_check_written (pair_t *p, int w, const uint8_t *frame, const struct virtio_net_hdr *vh)
{
    assert_int_equal (p->cb->tap_len[w], sizeof *vh + BIG);
    assert_memory_equal (p->cb->tap[w], vh, sizeof *vh);
    assert_memory_equal (p->cb->tap[w] + sizeof *vh, frame, BIG);
}

static void
test_superframe_chunks (void **state)
{
    pair_t *p = *state;
    uint8_t *frame = malloc (BIG);
    struct virtio_net_hdr vh;
    p->ca->entries = 0; //  the handshake's
    int sent = s_send_big (p, frame, &vh);
    //  46 datagrams of at most the underlay MTU's room, two GSO sends.
    int chunks = (BIG + 1419) / 1420;
    assert_int_equal (sent, chunks);
    assert_int_equal (p->ca->entries, 2);
    uint64_t first = s_counter (p->ca->data[0]);
    for (int i = 0; i < sent; i++) {
        size_t want = i < sent - 1 ? 1420 : BIG - (size_t) (sent - 1) * 1420;
        assert_int_equal (p->ca->len[i], want + OVERLAY_FRAME_OVERHEAD);
        assert_true (p->ca->len[i] <= 1500 - 28);
        assert_int_equal (s_counter (p->ca->data[i]), first + (uint64_t) i);
        assert_null (memmem (p->ca->data[i], p->ca->len[i], frame + 20000, 16));
    }
    assert_int_equal (s_deliver (p, p->a, p->b), OVERLAY_OK);
    assert_int_equal (p->cb->written, 1);
    s_check_written (p, 0, frame, &vh);
    overlay_peer_stats_t ps;
    size_t n;
    overlay_stats (p->b, NULL, &ps, 1, &n);
    assert_int_equal (ps.rx_packets, chunks);
    assert_int_equal (ps.rx_bytes, BIG);
    overlay_stats (p->a, NULL, &ps, 1, &n);
    assert_int_equal (ps.tx_packets, chunks);

    //  Again, the receive batch ending after every datagram (its buffer
    //  then scribbled over): the pieces are copied out in time.
    p->end_each = true;
    s_send_big (p, frame, &vh);
    assert_int_equal (s_deliver (p, p->a, p->b), OVERLAY_OK);
    assert_int_equal (p->cb->written, 2);
    s_check_written (p, 1, frame, &vh);
    assert_int_equal (s_drops (p->b, OVERLAY_DROP_CHUNK), 0);
    free (frame);
}

//  Deliver captured datagram i from A to B (in place), ending the batch.
static int
s_rx_one (pair_t *p, int i)
{
    int rc = overlay__rx_datagram (p->b, p->rxq, (const struct sockaddr *) &p->addr_a, p->addr_len,
                                   p->ca->data[i], p->ca->len[i]);
    overlay__rx_end (p->b, p->rxq);
    return rc;
}

static void
test_lost_and_replayed_chunks (void **state)
{
    pair_t *p = *state;
    uint8_t *frame = malloc (BIG);
    struct virtio_net_hdr vh;
    static uint8_t keep[3][CAP_BYTES];
    size_t keep_len[3];

    //  A lost middle chunk: the frame never reaches the TAP.
    int sent = s_send_big (p, frame, &vh);
    for (int i = 0; i < sent; i++) {
        if (i < 3) {
            memcpy (keep[i], p->ca->data[i], p->ca->len[i]);
            keep_len[i] = p->ca->len[i];
        }
        if (i == 10)
            continue;
        int rc = s_rx_one (p, i);
        assert_int_equal (rc, i == 11  ? OVERLAY_DROP_CHUNK
                              : i > 11 ? OVERLAY_DROP_CHUNK
                                       : OVERLAY_OK);
    }
    p->ca->sent = 0;
    assert_int_equal (p->cb->written, 0);
    assert_true (s_drops (p->b, OVERLAY_DROP_CHUNK) >= 1);

    //  Replayed chunks are refused by the window before reassembly.
    for (int i = 0; i < 3; i++)
        assert_int_equal (overlay__rx_datagram (p->b, p->rxq, (const struct sockaddr *) &p->addr_a,
                                                p->addr_len, keep[i], keep_len[i]),
                          OVERLAY_DROP_REPLAY);
    overlay__rx_end (p->b, p->rxq);

    //  Swapped chunks: dropped, and the next frame is whole again.
    sent = s_send_big (p, frame, &vh);
    uint8_t tmp[CAP_BYTES];
    size_t tl = p->ca->len[5];
    memcpy (tmp, p->ca->data[5], tl);
    memcpy (p->ca->data[5], p->ca->data[6], p->ca->len[6]);
    p->ca->len[5] = p->ca->len[6];
    memcpy (p->ca->data[6], tmp, tl);
    p->ca->len[6] = tl;
    s_deliver (p, p->a, p->b);
    assert_int_equal (p->cb->written, 0);
    s_send_big (p, frame, &vh);
    assert_int_equal (s_deliver (p, p->a, p->b), OVERLAY_OK);
    assert_int_equal (p->cb->written, 1);
    s_check_written (p, 0, frame, &vh);

    //  A lone chunk that is not chunk 0 (its frame's start never came).
    s_send_big (p, frame, &vh);
    assert_int_equal (s_rx_one (p, 7), OVERLAY_DROP_CHUNK);
    p->ca->sent = 0;
    assert_int_equal (p->cb->written, 1);
    free (frame);
}

static void
test_interleaved_frames (void **state)
{
    pair_t *p = *state;
    uint8_t *f1 = malloc (BIG), *f2 = malloc (BIG);
    struct virtio_net_hdr vh;
    //  Two frames (as from two TX queues) whose chunks arrive interleaved.
    int n1 = s_send_big (p, f1, &vh);
    static uint8_t first[CAP_MAX][CAP_BYTES];
    size_t first_len[CAP_MAX];
    for (int i = 0; i < n1; i++) {
        memcpy (first[i], p->ca->data[i], p->ca->len[i]);
        first_len[i] = p->ca->len[i];
    }
    p->ca->sent = 0;
    int n2 = s_send_big (p, f2, &vh);
    assert_int_equal (n1, n2);
    for (int i = 0; i < n1; i++) {
        assert_int_equal (overlay__rx_datagram (p->b, p->rxq, (const struct sockaddr *) &p->addr_a,
                                                p->addr_len, first[i], first_len[i]),
                          OVERLAY_OK);
        assert_int_equal (overlay__rx_datagram (p->b, p->rxq, (const struct sockaddr *) &p->addr_a,
                                                p->addr_len, p->ca->data[i], p->ca->len[i]),
                          OVERLAY_OK);
    }
    overlay__rx_end (p->b, p->rxq);
    p->ca->sent = 0;
    assert_int_equal (p->cb->written, 2);
    s_check_written (p, 0, f1, &vh);
    s_check_written (p, 1, f1, &vh); //  same content generator
    assert_int_equal (s_drops (p->b, OVERLAY_DROP_CHUNK), 0);

    //  More unfinished frames than assembly slots: the oldest is dropped.
    for (int f = 0; f < OVERLAY_RX_ASSEMBLY + 1; f++) {
        s_send_big (p, f1, &vh);
        assert_int_equal (s_rx_one (p, 0), OVERLAY_OK);
        p->ca->sent = 0;
    }
    assert_int_equal (s_drops (p->b, OVERLAY_DROP_CHUNK), 1);
    free (f1);
    free (f2);
}

static void
test_chunk_fields_checked (void **state)
{
    pair_t *p = *state;
    overlay_peer_t *to_b = overlay__peers_by_node (&p->a->peers, "b");
    uint8_t buf[256];
    size_t out;
    //  Sealed by a member, but chunk index past the count.
    memset (buf, 0, sizeof buf);
    overlay_vxlan_encode (buf + OVERLAY_OFF_VXLAN, 42);
    overlay_chunk_encode (buf + OVERLAY_OFF_OFFLOAD, 5, 5);
    memcpy (buf + OVERLAY_OFF_FRAME, s_mac_b, 6);
    assert_int_equal (shed_session_seal (to_b->session, p->a->fake_now_ms, buf,
                                         OVERLAY_INNER_HEADER + 100, sizeof buf, &out),
                      0);
    assert_int_equal (overlay__rx_datagram (p->b, p->rxq, (const struct sockaddr *) &p->addr_a,
                                            p->addr_len, buf, out),
                      OVERLAY_DROP_INNER);
    //  Chunk 0 shorter than an Ethernet header.
    memset (buf, 0, sizeof buf);
    overlay_vxlan_encode (buf + OVERLAY_OFF_VXLAN, 42);
    overlay_chunk_encode (buf + OVERLAY_OFF_OFFLOAD, 0, 2);
    assert_int_equal (shed_session_seal (to_b->session, p->a->fake_now_ms, buf,
                                         OVERLAY_INNER_HEADER + 5, sizeof buf, &out),
                      0);
    assert_int_equal (overlay__rx_datagram (p->b, p->rxq, (const struct sockaddr *) &p->addr_a,
                                            p->addr_len, buf, out),
                      OVERLAY_DROP_INNER);
    //  A complete two-chunk frame whose offload block does not fit the
    //  whole frame: dropped at the end as `inner`.
    uint8_t c0[256], c1[256];
    size_t l0, l1;
    uint8_t *bufs[2] = { c0, c1 };
    size_t lens[2] = { OVERLAY_INNER_HEADER + 20, OVERLAY_INNER_HEADER + 20 };
    memset (c0, 0, sizeof c0);
    overlay_vxlan_encode (c0 + OVERLAY_OFF_VXLAN, 42);
    c0[OVERLAY_OFF_OFFLOAD] = VIRTIO_NET_HDR_F_NEEDS_CSUM;
    c0[OVERLAY_OFF_OFFLOAD + 6] = 0xff; //  csum_start far out
    memcpy (c1, c0, sizeof c1);
    overlay_chunk_encode (c0 + OVERLAY_OFF_OFFLOAD, 0, 2);
    overlay_chunk_encode (c1 + OVERLAY_OFF_OFFLOAD, 1, 2);
    assert_int_equal (shed_session_seal_batch (to_b->session, p->a->fake_now_ms, bufs, lens, 2), 0);
    l0 = l1 = lens[0] + SHED_SESSION_DATA_OVERHEAD;
    assert_int_equal (overlay__rx_datagram (p->b, p->rxq, (const struct sockaddr *) &p->addr_a,
                                            p->addr_len, c0, l0),
                      OVERLAY_OK);
    assert_int_equal (overlay__rx_datagram (p->b, p->rxq, (const struct sockaddr *) &p->addr_a,
                                            p->addr_len, c1, l1),
                      OVERLAY_DROP_INNER);
    overlay__rx_end (p->b, p->rxq);
    assert_int_equal (p->cb->written, 0);
}

int
main (void)
{
    if (sodium_init () < 0)
        return 1;
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown (test_superframe_chunks, s_pair_setup, s_pair_teardown),
        cmocka_unit_test_setup_teardown (test_lost_and_replayed_chunks, s_pair_setup,
                                         s_pair_teardown),
        cmocka_unit_test_setup_teardown (test_interleaved_frames, s_pair_setup, s_pair_teardown),
        cmocka_unit_test_setup_teardown (test_chunk_fields_checked, s_pair_setup, s_pair_teardown),
    };
    return cmocka_run_group_tests (tests, NULL, NULL);
}
