/*
 * overlay_test_fixture.h - for the overlay's unit tests only (included by
 * overlay_test.c and overlay_chunk_test.c): two detached overlays A and B
 * wired through a fake transport that captures every datagram (a UDP GSO
 * send cut at its segment size, as the kernel does) and every TAP write
 * (gathered), with a fake clock, and a handshake already done.
 */
#ifndef SHED_OVERLAY_TEST_FIXTURE_H
#define SHED_OVERLAY_TEST_FIXTURE_H

#include "node/overlay/overlay_int.h"
#include "common/ipaddr.h"

#include <netinet/udp.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#define FIXTURE static __attribute__ ((unused))

#define CAP_MAX   160
#define CAP_BYTES 4096
#define TAP_MAX   8
#define TAP_BYTES (OVERLAY_VNET_HDR_BYTES + OVERLAY_FRAME_MAX)

typedef struct {
    int sent;    //  datagrams captured
    int entries; //  sendmmsg entries (GSO sends) seen
    uint8_t data[CAP_MAX][CAP_BYTES];
    size_t len[CAP_MAX];
    struct sockaddr_storage to[CAP_MAX];
    int written; //  TAP writes captured
    uint8_t tap[TAP_MAX][TAP_BYTES];
    size_t tap_len[TAP_MAX];
} capture_t;

//  The segment size of a UDP GSO entry, as the kernel reads it; 0 if none.
FIXTURE size_t
s_gso_size (struct msghdr *mh)
{
    if (!mh->msg_control)
        return 0;
    struct cmsghdr *cm = CMSG_FIRSTHDR (mh);
    assert_non_null (cm);
    assert_int_equal (cm->cmsg_level, SOL_UDP);
    uint16_t seg;
    memcpy (&seg, CMSG_DATA (cm), sizeof seg);
    return seg;
}

//  Captures datagrams as they would be on the wire: a GSO entry is cut at
//  its segment size, as the kernel does.
FIXTURE int
s_fake_send (overlay_t *self, int q, struct mmsghdr *msgs, unsigned n)
{
    capture_t *c = (capture_t *) self->io_arg;
    for (unsigned i = 0; i < n; i++) {
        c->entries++;
        assert_int_equal (msgs[i].msg_hdr.msg_iovlen, 1);
        const uint8_t *base = msgs[i].msg_hdr.msg_iov[0].iov_base;
        size_t total = msgs[i].msg_hdr.msg_iov[0].iov_len;
        size_t seg = s_gso_size (&msgs[i].msg_hdr);
        if (seg) {
            assert_true (total > seg); //  more than one
            assert_true (total <= OVERLAY_DATAGRAM_MAX);
            assert_true ((total + seg - 1) / seg <= OVERLAY_GSO_SEGS_MAX);
        }
        else
            seg = total;
        for (size_t off = 0; off < total; off += seg) {
            size_t len = total - off < seg ? total - off : seg;
            assert_true (c->sent < CAP_MAX);
            assert_true (len <= CAP_BYTES);
            memcpy (c->data[c->sent], base + off, len);
            c->len[c->sent] = len;
            memcpy (&c->to[c->sent], msgs[i].msg_hdr.msg_name, msgs[i].msg_hdr.msg_namelen);
            c->sent++;
        }
    }
    return (int) n;
}

FIXTURE int
s_fake_tap (overlay_t *self, int q, const struct iovec *iov, int iovcnt)
{
    capture_t *c = (capture_t *) self->io_arg;
    assert_true (c->written < TAP_MAX);
    size_t len = 0;
    for (int i = 0; i < iovcnt; i++) {
        assert_true (len + iov[i].iov_len <= TAP_BYTES);
        memcpy (c->tap[c->written] + len, iov[i].iov_base, iov[i].iov_len);
        len += iov[i].iov_len;
    }
    c->tap_len[c->written++] = len;
    return 0;
}

static const uint8_t s_mac_a[6] __attribute__ ((unused)) = { 0x02, 0, 0, 0, 0, 0x0a };
static const uint8_t s_mac_b[6] __attribute__ ((unused)) = { 0x02, 0, 0, 0, 0, 0x0b };
static const uint8_t s_mac_c[6] __attribute__ ((unused)) = { 0x02, 0, 0, 0, 0, 0x0c };

//  ------------------------------------------------------------------------
//  TX/RX paths: A and B, detached, through captures

typedef struct {
    shed_identity_t *ida, *idb;
    overlay_t *a, *b;
    capture_t *ca, *cb;
    struct sockaddr_storage addr_a, addr_b;
    socklen_t addr_len;
    overlay_txq_t *txq;
    overlay_rxq_t *rxq; //  B's (and A's: tests are sequential)
    bool end_each;      //  end the RX batch after every datagram
} pair_t;

//  Non-zero: s_pair_setup builds A and B on "::" (dual-stack IPv6
//  sockets), B at fd00:5ed::2 and A at 198.18.0.1, which B's socket sees as
//  ::ffff:198.18.0.1 (docs/overlay.md, "IPv6 underlay").
static int s_fixture_v6 __attribute__ ((unused));

FIXTURE overlay_t *
s_detached (shed_identity_t *id, capture_t *cap, uint32_t vni)
{
    overlay_config_t cfg = { .vni = vni, .identity = id, .bind_addr = s_fixture_v6 ? "::" : NULL };
    overlay_io_t io = { .send = s_fake_send, .tap_write = s_fake_tap };
    overlay_t *ov = overlay__new_detached (&cfg, &io, cap);
    assert_non_null (ov);
    ov->fake_now_ms = 1000;
    return ov;
}

//  Deliver every datagram captured at `from` (sent by it) to `to`.
FIXTURE int
s_deliver (pair_t *p, overlay_t *from, overlay_t *to)
{
    capture_t *c = (capture_t *) from->io_arg;
    const struct sockaddr_storage *src = from == p->a ? &p->addr_a : &p->addr_b;
    int sent = c->sent, rc = OVERLAY_OK;
    c->sent = 0;
    for (int i = 0; i < sent; i++) {
        int r = overlay__rx_datagram (to, p->rxq, (const struct sockaddr *) src, p->addr_len,
                                      c->data[i], c->len[i]);
        if (r != OVERLAY_OK)
            rc = r;
        if (p->end_each) {
            //  The buffer is reused after the batch: nothing may still
            //  point into it.
            overlay__rx_end (to, p->rxq);
            memset (c->data[i], 0xee, c->len[i]);
        }
    }
    overlay__rx_end (to, p->rxq);
    return rc;
}

FIXTURE int
s_pair_setup (void **state)
{
    pair_t *p = calloc (1, sizeof *p);
    p->ida = shed_identity_new_ephemeral ();
    p->idb = shed_identity_new_ephemeral ();
    p->ca = calloc (1, sizeof *p->ca);
    p->cb = calloc (1, sizeof *p->cb);
    p->a = s_detached (p->ida, p->ca, 42);
    p->b = s_detached (p->idb, p->cb, 42);
    const char *b_addr = s_fixture_v6 ? "fd00:5ed::2" : "198.18.0.2";
    if (s_fixture_v6) {
        shed_ip_sockaddr ("198.18.0.1", 7000, AF_INET6, &p->addr_a, &p->addr_len);
        shed_ip_sockaddr (b_addr, 7000, AF_INET6, &p->addr_b, &p->addr_len);
    }
    else {
        overlay__addr_parse ("198.18.0.1", 7000, &p->addr_a, &p->addr_len);
        overlay__addr_parse ("198.18.0.2", 7000, &p->addr_b, &p->addr_len);
    }
    assert_int_equal (
        overlay_peer_add (p->a, "b", shed_identity_x25519_public (p->idb), b_addr, 7000), 0);
    assert_int_equal (
        overlay_peer_add (p->b, "a", shed_identity_x25519_public (p->ida), "198.18.0.1", 7000), 0);
    assert_int_equal (overlay_fdb_set (p->a, s_mac_b, "b"), 0);
    assert_int_equal (overlay_fdb_set (p->b, s_mac_a, "a"), 0);
    p->txq = overlay__txq_new (p->a, 0);
    p->rxq = overlay__rxq_new (0);
    assert_non_null (p->txq);
    assert_non_null (p->rxq);
    //  Handshake: A's timer initiates, B answers, A confirms by keepalive.
    overlay__timer_tick (p->a);
    assert_int_equal (p->ca->sent, 1);
    assert_int_equal (p->ca->data[0][0], SHED_MSG_INITIATION);
    assert_int_equal (s_deliver (p, p->a, p->b), OVERLAY_OK);
    assert_int_equal (p->cb->sent, 1);
    assert_int_equal (s_deliver (p, p->b, p->a), OVERLAY_OK);
    assert_int_equal (p->ca->sent, 1); //  the keepalive
    assert_int_equal (s_deliver (p, p->a, p->b), OVERLAY_OK);
    //  B's timer has nothing to do now.
    overlay__timer_tick (p->b);
    assert_int_equal (p->cb->sent, 0);
    *state = p;
    return 0;
}

FIXTURE int
s_pair_teardown (void **state)
{
    pair_t *p = *state;
    overlay__txq_destroy (&p->txq);
    overlay__rxq_destroy (&p->rxq);
    overlay_destroy (&p->a);
    overlay_destroy (&p->b);
    overlay_destroy (&p->a);
    shed_identity_destroy (&p->ida);
    shed_identity_destroy (&p->idb);
    free (p->ca);
    free (p->cb);
    free (p);
    return 0;
}

//  Put a frame (dst, src, payload) in the TX slot as the TAP would, with a
//  zero vnet header; returns its length.
FIXTURE size_t
s_frame (overlay_txq_t *txq, const uint8_t dst[6], const uint8_t src[6], const char *payload)
{
    uint8_t *slot = overlay__txq_slot (txq);
    memset (slot + OVERLAY_OFF_VNET, 0, OVERLAY_VNET_HDR_BYTES);
    uint8_t *f = slot + OVERLAY_OFF_FRAME;
    memcpy (f, dst, 6);
    memcpy (f + 6, src, 6);
    f[12] = 0x08;
    f[13] = 0x00;
    size_t n = strlen (payload);
    memcpy (f + 14, payload, n);
    return 14 + n;
}

FIXTURE uint64_t
s_drops (overlay_t *ov, overlay_drop_t reason)
{
    overlay_stats_t st;
    overlay_stats (ov, &st, NULL, 0, NULL);
    return st.drops[reason];
}

#endif
