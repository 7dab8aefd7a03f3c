/*
 * overlay_test.c - the overlay without devices: frame codec, MTU math, FDB,
 * ARP responder, and the TX/RX paths of two detached overlays wired through
 * a fake transport (every datagram and TAP write is captured) with a fake
 * clock. Crafted datagrams check each drop reason.
 */
#include "node/overlay/overlay_int.h"

#include <errno.h>
#include <arpa/inet.h>
#include <netinet/udp.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>
#include <sodium.h>

#include "node/overlay/overlay_test_fixture.h"

//  ------------------------------------------------------------------------
//  Codec, MTU

static void
test_vxlan_codec (void **state)
{
    uint8_t h[8];
    uint32_t vni;
    overlay_vxlan_encode (h, 0xABCDEF);
    const uint8_t expect[8] = { 0x08, 0, 0, 0, 0xAB, 0xCD, 0xEF, 0 };
    assert_memory_equal (h, expect, 8);
    assert_int_equal (overlay_vxlan_decode (h, 8, &vni), 0);
    assert_int_equal (vni, 0xABCDEF);
    assert_int_equal (overlay_vxlan_decode (h, 7, &vni), -1);
    h[0] = 0;
    assert_int_equal (overlay_vxlan_decode (h, 8, &vni), -1);
    h[0] = 0x08 | 0x80; //  reserved bits are ignored
    h[7] = 0xff;
    assert_int_equal (overlay_vxlan_decode (h, 8, &vni), 0);
}

static void
test_offload_codec (void **state)
{
    struct virtio_net_hdr vh = {
        .flags = VIRTIO_NET_HDR_F_NEEDS_CSUM, .gso_type = VIRTIO_NET_HDR_GSO_TCPV4,
        .hdr_len = 66, .gso_size = 1348, .csum_start = 34, .csum_offset = 16,
    }, back;
    uint8_t w[OVERLAY_OFFLOAD_BYTES];
    overlay_offload_encode (w, &vh);
    const uint8_t expect[12] = { 1, 1, 0, 66, 0x05, 0x44, 0, 34, 0, 16, 0, 0 };
    assert_memory_equal (w, expect, 12);
    assert_int_equal (overlay_offload_decode (w, 60000, &back), 0);
    assert_memory_equal (&back, &vh, sizeof vh);
    //  Offsets must stay inside the frame.
    assert_int_equal (overlay_offload_decode (w, 51, &back), -1);
    //  Unknown GSO type (UDP fragmentation offload) and unknown flags.
    uint8_t bad[12];
    memcpy (bad, w, 12);
    bad[1] = VIRTIO_NET_HDR_GSO_UDP;
    assert_int_equal (overlay_offload_decode (bad, 60000, &back), -1);
    memcpy (bad, w, 12);
    bad[0] = 0x80;
    assert_int_equal (overlay_offload_decode (bad, 60000, &back), -1);
    //  GSO without a segment size or without checksum offload.
    memcpy (bad, w, 12);
    bad[4] = bad[5] = 0;
    assert_int_equal (overlay_offload_decode (bad, 60000, &back), -1);
    memcpy (bad, w, 12);
    bad[0] = 0;
    assert_int_equal (overlay_offload_decode (bad, 60000, &back), -1);
    //  The all-zero block of an ordinary frame.
    memset (bad, 0, 12);
    assert_int_equal (overlay_offload_decode (bad, 14, &back), 0);
}

static void
test_mtu (void **state)
{
    assert_int_equal (overlay_compute_mtu (1500, false), 1402);
    assert_int_equal (overlay_compute_mtu (1500, true), 1382);
    assert_int_equal (overlay_compute_mtu (9000, false), 8902);
    //  A chunk is a full-size inner frame (MTU + Ethernet + VLAN tag), so a
    //  frame of at most the MTU is always one datagram.
    assert_int_equal (overlay_chunk_bytes (1500, false), 1420);
    assert_int_equal (overlay_chunk_bytes (1500, true), 1400);
    assert_int_equal (overlay_chunk_bytes (1500, false),
                      overlay_compute_mtu (1500, false) + OVERLAY_ETH_BYTES + OVERLAY_VLAN_BYTES);
    assert_int_equal (OVERLAY_FRAME_MAX, 65554);
    //  The largest frame fits the chunk count at the smallest chunk.
    assert_true ((OVERLAY_FRAME_MAX + OVERLAY_CHUNK_MIN - 1) / OVERLAY_CHUNK_MIN
                 <= OVERLAY_CHUNKS_MAX);
}

static void
test_chunk_codec (void **state)
{
    uint8_t block[OVERLAY_OFFLOAD_BYTES] = { 0 };
    unsigned chunk, chunks;
    //  An ordinary frame (all zero) is chunk 0 of 1.
    assert_int_equal (overlay_chunk_decode (block, &chunk, &chunks), 0);
    assert_int_equal (chunk, 0);
    assert_int_equal (chunks, 1);
    overlay_chunk_encode (block, 45, 46);
    assert_int_equal (block[10], 45);
    assert_int_equal (block[11], 46);
    assert_int_equal (overlay_chunk_decode (block, &chunk, &chunks), 0);
    assert_int_equal (chunk, 45);
    assert_int_equal (chunks, 46);
    overlay_chunk_encode (block, 46, 46);
    assert_int_equal (overlay_chunk_decode (block, &chunk, &chunks), -1);
    overlay_chunk_encode (block, 1, 0);
    assert_int_equal (overlay_chunk_decode (block, &chunk, &chunks), -1);
    overlay_chunk_encode (block, 1, 1);
    assert_int_equal (overlay_chunk_decode (block, &chunk, &chunks), -1);
    //  The offload decoder does not look at the chunk fields.
    struct virtio_net_hdr vh;
    overlay_chunk_encode (block, 3, 9);
    assert_int_equal (overlay_offload_decode (block, 14, &vh), 0);
}

//  ------------------------------------------------------------------------
//  FDB, ARP

static void
test_fdb (void **state)
{
    overlay_fdb_t *fdb = overlay__fdb_new ();
    overlay_peers_t peers = { 0 };
    uint8_t sk[32], pk[32], peer_pk[32], peer_sk[32];
    crypto_box_keypair (pk, sk);
    crypto_box_keypair (peer_pk, peer_sk);
    struct sockaddr_storage sa;
    socklen_t salen;
    assert_int_equal (overlay__addr_parse ("198.18.0.2", 7000, &sa, &salen), 0);
    overlay_peer_t *b =
        overlay__peer_new ("b", peer_pk, (struct sockaddr *) &sa, salen, sk, pk, NULL);
    assert_non_null (b);
    assert_int_equal (overlay__peers_put (&peers, b), 0);

    assert_int_equal (overlay__fdb_set (fdb, s_mac_b, "b"), 0);
    assert_int_equal (overlay__fdb_set (fdb, s_mac_c, "c"), 0); //  node not a peer yet
    const uint8_t group[6] = { 0x01, 0, 0x5e, 0, 0, 1 };
    assert_int_equal (overlay__fdb_set (fdb, group, "b"), -1);
    overlay__fdb_resolve (fdb, &peers);
    assert_ptr_equal (overlay__fdb_lookup (fdb, s_mac_b), b);
    assert_null (overlay__fdb_lookup (fdb, s_mac_c));
    assert_null (overlay__fdb_lookup (fdb, s_mac_a));
    assert_int_equal (overlay__fdb_count (fdb), 2);
    //  Move a MAC, delete one, delete again.
    assert_int_equal (overlay__fdb_set (fdb, s_mac_b, "c"), 0);
    overlay__fdb_resolve (fdb, &peers);
    assert_null (overlay__fdb_lookup (fdb, s_mac_b));
    assert_int_equal (overlay__fdb_del (fdb, s_mac_b), 0);
    assert_int_equal (overlay__fdb_del (fdb, s_mac_b), -1);
    assert_int_equal (overlay__fdb_count (fdb), 1);
    //  Many entries, all found.
    for (int i = 0; i < 3000; i++) {
        uint8_t mac[6] = { 0x02, 1, 0, (uint8_t) (i >> 16), (uint8_t) (i >> 8), (uint8_t) i };
        assert_int_equal (overlay__fdb_set (fdb, mac, "b"), 0);
    }
    overlay__fdb_resolve (fdb, &peers);
    for (int i = 0; i < 3000; i++) {
        uint8_t mac[6] = { 0x02, 1, 0, (uint8_t) (i >> 16), (uint8_t) (i >> 8), (uint8_t) i };
        assert_ptr_equal (overlay__fdb_lookup (fdb, mac), b);
    }
    overlay__fdb_destroy (&fdb);
    overlay__fdb_destroy (&fdb);
    overlay__peers_clear (&peers);
}

//  An ARP request from `mac`/`ip` for `target`.
static void
s_arp_request (uint8_t f[OVERLAY_ARP_FRAME], const uint8_t mac[6], const char *ip,
               const char *target)
{
    memset (f, 0, OVERLAY_ARP_FRAME);
    memset (f, 0xff, 6);
    memcpy (f + 6, mac, 6);
    f[12] = 0x08;
    f[13] = 0x06;
    uint8_t *a = f + 14;
    a[1] = 1;
    a[2] = 0x08;
    a[4] = 6;
    a[5] = 4;
    a[7] = 1;
    memcpy (a + 8, mac, 6);
    inet_pton (AF_INET, ip, a + 14);
    inet_pton (AF_INET, target, a + 24);
}

static void
test_arp (void **state)
{
    overlay_arp_t *arp = overlay__arp_new ();
    struct in_addr ip;
    inet_pton (AF_INET, "198.19.2.1", &ip);
    assert_int_equal (overlay__arp_set (arp, ip.s_addr, s_mac_b), 0);
    uint8_t req[OVERLAY_ARP_FRAME], reply[OVERLAY_ARP_FRAME];
    s_arp_request (req, s_mac_a, "198.19.1.1", "198.19.2.1");
    assert_true (overlay__arp_answer (arp, req, sizeof req, reply));
    assert_memory_equal (reply, s_mac_a, 6);           //  to the asker
    assert_memory_equal (reply + 6, s_mac_b, 6);       //  from the owner
    assert_int_equal (reply[14 + 7], 2);               //  op reply
    assert_memory_equal (reply + 14 + 8, s_mac_b, 6);  //  sender hw
    assert_memory_equal (reply + 14 + 14, &ip, 4);     //  sender ip
    assert_memory_equal (reply + 14 + 18, s_mac_a, 6); //  target hw
    assert_memory_equal (reply + 14 + 24, req + 14 + 14, 4);
    //  Padded to 60 bytes: still answered. Truncated: not.
    uint8_t padded[60] = { 0 };
    memcpy (padded, req, sizeof req);
    assert_true (overlay__arp_answer (arp, padded, sizeof padded, reply));
    assert_false (overlay__arp_answer (arp, req, sizeof req - 1, reply));
    //  Unknown target, gratuitous ARP, a reply, not ARP: not answered.
    s_arp_request (req, s_mac_a, "198.19.1.1", "198.19.9.9");
    assert_false (overlay__arp_answer (arp, req, sizeof req, reply));
    s_arp_request (req, s_mac_a, "198.19.2.1", "198.19.2.1");
    assert_false (overlay__arp_answer (arp, req, sizeof req, reply));
    s_arp_request (req, s_mac_a, "198.19.1.1", "198.19.2.1");
    req[14 + 7] = 2;
    assert_false (overlay__arp_answer (arp, req, sizeof req, reply));
    s_arp_request (req, s_mac_a, "198.19.1.1", "198.19.2.1");
    req[13] = 0x00;
    assert_false (overlay__arp_answer (arp, req, sizeof req, reply));
    //  Spoofs: the table's address claimed for another MAC (a gratuitous
    //  ARP or a reply), or an ARP sender that is not the frame's source.
    s_arp_request (req, s_mac_b, "198.19.2.1", "198.19.2.1");
    assert_false (overlay__arp_spoofed (arp, req, sizeof req)); //  the owner
    s_arp_request (req, s_mac_a, "198.19.2.1", "198.19.2.1");
    assert_true (overlay__arp_spoofed (arp, req, sizeof req));
    s_arp_request (req, s_mac_a, "198.19.2.1", "198.19.1.1");
    req[14 + 7] = 2;
    assert_true (overlay__arp_spoofed (arp, req, sizeof req));
    s_arp_request (req, s_mac_a, "198.19.1.1", "198.19.2.1");
    assert_false (overlay__arp_spoofed (arp, req, sizeof req)); //  not in the table
    memcpy (req + 6, s_mac_c, 6);
    assert_true (overlay__arp_spoofed (arp, req, sizeof req)); //  sender hw != source
    s_arp_request (req, s_mac_a, "0.0.0.0", "198.19.2.1");
    assert_false (overlay__arp_spoofed (arp, req, sizeof req)); //  a probe
    assert_false (overlay__arp_spoofed (arp, req, sizeof req - 1));
    //  Delete.
    assert_int_equal (overlay__arp_del (arp, ip.s_addr), 0);
    assert_int_equal (overlay__arp_del (arp, ip.s_addr), -1);
    s_arp_request (req, s_mac_a, "198.19.1.1", "198.19.2.1");
    assert_false (overlay__arp_answer (arp, req, sizeof req, reply));
    overlay__arp_destroy (&arp);
}

static void
test_unicast_roundtrip (void **state)
{
    pair_t *p = *state;
    size_t len = s_frame (p->txq, s_mac_b, s_mac_a, "hello over the overlay");
    assert_int_equal (overlay__tx_frame (p->a, p->txq, len), OVERLAY_OK);
    overlay__tx_flush (p->a, p->txq);
    assert_int_equal (p->ca->sent, 1);
    assert_int_equal (p->ca->len[0], len + OVERLAY_FRAME_OVERHEAD);
    assert_memory_equal (&p->ca->to[0], &p->addr_b, p->addr_len);
    //  No plaintext on the wire.
    assert_null (memmem (p->ca->data[0], p->ca->len[0], "hello", 5));
    assert_int_equal (s_deliver (p, p->a, p->b), OVERLAY_OK);
    assert_int_equal (p->cb->written, 1);
    assert_int_equal (p->cb->tap_len[0], OVERLAY_VNET_HDR_BYTES + len);
    assert_memory_equal (p->cb->tap[0] + OVERLAY_VNET_HDR_BYTES + 14, "hello over the overlay", 22);

    //  And back from B (its key was confirmed by A's keepalive).
    len = s_frame (p->txq, s_mac_a, s_mac_b, "and back");
    assert_int_equal (overlay__tx_frame (p->b, p->txq, len), OVERLAY_OK);
    overlay__tx_flush (p->b, p->txq);
    assert_int_equal (s_deliver (p, p->b, p->a), OVERLAY_OK);
    assert_int_equal (p->ca->written, 1);

    overlay_peer_stats_t ps;
    size_t n;
    overlay_stats (p->a, NULL, &ps, 1, &n);
    assert_int_equal (n, 1);
    assert_true (ps.has_key);
    assert_int_equal (ps.rx_packets, 1);
    assert_int_equal (ps.rx_bytes, len);
    //  Data datagrams only; handshakes and keepalives are not counted.
    assert_int_equal (ps.tx_packets, 1);
}

static void
test_offload_superframe (void **state)
{
    pair_t *p = *state;
    //  A GSO frame's vnet header crosses intact.
    size_t len = s_frame (p->txq, s_mac_b, s_mac_a,
                          "0123456789012345678901234567890123456789"
                          "0123456789012345678901234567890123456789");
    struct virtio_net_hdr vh = {
        .flags = VIRTIO_NET_HDR_F_NEEDS_CSUM,
        .gso_type = VIRTIO_NET_HDR_GSO_TCPV4,
        .hdr_len = 54,
        .gso_size = 1348,
        .csum_start = 34,
        .csum_offset = 16,
    };
    memcpy (overlay__txq_slot (p->txq) + OVERLAY_OFF_VNET, &vh, sizeof vh);
    assert_int_equal (overlay__tx_frame (p->a, p->txq, len), OVERLAY_OK);
    overlay__tx_flush (p->a, p->txq);
    assert_int_equal (s_deliver (p, p->a, p->b), OVERLAY_OK);
    assert_int_equal (p->cb->written, 1);
    assert_memory_equal (p->cb->tap[0], &vh, sizeof vh);
}

static void
test_broadcast_and_arp (void **state)
{
    pair_t *p = *state;
    //  A third peer: broadcast goes to both, sealed separately.
    shed_identity_t *idc = shed_identity_new_ephemeral ();
    assert_int_equal (
        overlay_peer_add (p->a, "c", shed_identity_x25519_public (idc), "198.18.0.3", 7000), 0);
    //  c has no session yet: its copy is dropped as no_session, b's goes.
    const uint8_t bcast[6] = { 0xff, 0xff, 0xff, 0xff, 0xff, 0xff };
    size_t len = s_frame (p->txq, bcast, s_mac_a, "everyone");
    assert_int_equal (overlay__tx_frame (p->a, p->txq, len), OVERLAY_DROP_NO_SESSION);
    overlay__tx_flush (p->a, p->txq);
    assert_int_equal (p->ca->sent, 1);
    assert_int_equal (s_drops (p->a, OVERLAY_DROP_NO_SESSION), 1);
    assert_int_equal (s_deliver (p, p->a, p->b), OVERLAY_OK);
    assert_int_equal (p->cb->written, 1);

    //  ARP for a known address: answered into A's own TAP, nothing sent.
    assert_int_equal (overlay_arp_set (p->a, "198.19.2.1", s_mac_b), 0);
    uint8_t *slot = overlay__txq_slot (p->txq);
    memset (slot + OVERLAY_OFF_VNET, 0, OVERLAY_VNET_HDR_BYTES);
    s_arp_request (slot + OVERLAY_OFF_FRAME, s_mac_a, "198.19.1.1", "198.19.2.1");
    assert_int_equal (overlay__tx_frame (p->a, p->txq, OVERLAY_ARP_FRAME), OVERLAY_OK);
    overlay__tx_flush (p->a, p->txq);
    assert_int_equal (p->ca->sent, 0);
    assert_int_equal (p->ca->written, 1);
    assert_memory_equal (p->ca->tap[0] + OVERLAY_VNET_HDR_BYTES, s_mac_a, 6);
    overlay_stats_t st;
    overlay_stats (p->a, &st, NULL, 0, NULL);
    assert_int_equal (st.arp_answered, 1);
    assert_int_equal (st.peers, 2);
    //  Unknown address: flooded (b gets it; c still has no session).
    s_arp_request (slot + OVERLAY_OFF_FRAME, s_mac_a, "198.19.1.1", "198.19.7.7");
    overlay__tx_frame (p->a, p->txq, OVERLAY_ARP_FRAME);
    overlay__tx_flush (p->a, p->txq);
    assert_int_equal (p->ca->sent, 1);
    p->ca->sent = 0;

    //  Unicast to an unknown MAC: dropped, counted.
    len = s_frame (p->txq, s_mac_c, s_mac_a, "who");
    assert_int_equal (overlay__tx_frame (p->a, p->txq, len), OVERLAY_DROP_NO_FDB);
    //  A runt frame.
    assert_int_equal (overlay__tx_frame (p->a, p->txq, 10), OVERLAY_DROP_INNER);
    assert_int_equal (overlay__tx_frame (p->a, p->txq, OVERLAY_FRAME_MAX + 1),
                      OVERLAY_DROP_TOO_BIG);
    //  Removing the peer removes its FDB resolution.
    assert_int_equal (overlay_peer_remove (p->a, "b"), 0);
    assert_int_equal (overlay_peer_remove (p->a, "b"), -1);
    len = s_frame (p->txq, s_mac_b, s_mac_a, "gone");
    assert_int_equal (overlay__tx_frame (p->a, p->txq, len), OVERLAY_DROP_NO_FDB);
    assert_int_equal (overlay_fdb_del (p->a, s_mac_b), 0);
    assert_int_equal (overlay_arp_del (p->a, "198.19.2.1"), 0);
    assert_int_equal (overlay_arp_set (p->a, "not-an-ip", s_mac_b), -1);
    shed_identity_destroy (&idc);
}

//  A gratuitous ARP claiming a remote shed's address (C's, by the table):
//  dropped on TX before it is sealed, and on RX from a member that sends it
//  anyway; the owner's own announcement passes.
static void
test_arp_spoof (void **state)
{
    pair_t *p = *state;
    //  B knows 198.19.9.2 is C's shed; A does not (yet): A seals it, B drops.
    assert_int_equal (overlay_arp_set (p->b, "198.19.9.2", s_mac_c), 0);
    uint8_t *slot = overlay__txq_slot (p->txq);
    memset (slot + OVERLAY_OFF_VNET, 0, OVERLAY_VNET_HDR_BYTES);
    s_arp_request (slot + OVERLAY_OFF_FRAME, s_mac_a, "198.19.9.2", "198.19.9.2");
    assert_int_equal (overlay__tx_frame (p->a, p->txq, OVERLAY_ARP_FRAME), OVERLAY_OK);
    overlay__tx_flush (p->a, p->txq);
    assert_int_equal (p->ca->sent, 1);
    assert_int_equal (s_deliver (p, p->a, p->b), OVERLAY_DROP_ARP_SPOOF);
    assert_int_equal (p->cb->written, 0);
    overlay_peer_stats_t ps;
    size_t n;
    overlay_stats (p->b, NULL, &ps, 1, &n);
    assert_int_equal (ps.drops[OVERLAY_DROP_ARP_SPOOF], 1); //  blamed on peer a

    //  Once A knows the owner too, it never sends it.
    assert_int_equal (overlay_arp_set (p->a, "198.19.9.2", s_mac_c), 0);
    slot = overlay__txq_slot (p->txq);
    memset (slot + OVERLAY_OFF_VNET, 0, OVERLAY_VNET_HDR_BYTES);
    s_arp_request (slot + OVERLAY_OFF_FRAME, s_mac_a, "198.19.9.2", "198.19.9.2");
    assert_int_equal (overlay__tx_frame (p->a, p->txq, OVERLAY_ARP_FRAME), OVERLAY_DROP_ARP_SPOOF);
    overlay__tx_flush (p->a, p->txq);
    assert_int_equal (p->ca->sent, 0);
    assert_int_equal (s_drops (p->a, OVERLAY_DROP_ARP_SPOOF), 1);

    //  A's own address, announced by A: flooded and delivered.
    slot = overlay__txq_slot (p->txq);
    memset (slot + OVERLAY_OFF_VNET, 0, OVERLAY_VNET_HDR_BYTES);
    s_arp_request (slot + OVERLAY_OFF_FRAME, s_mac_a, "198.19.1.1", "198.19.1.1");
    assert_int_equal (overlay__tx_frame (p->a, p->txq, OVERLAY_ARP_FRAME), OVERLAY_OK);
    overlay__tx_flush (p->a, p->txq);
    assert_int_equal (p->ca->sent, 1);
    assert_int_equal (s_deliver (p, p->a, p->b), OVERLAY_OK);
    assert_int_equal (p->cb->written, 1);
}

//  Seal one frame at A for B and return the datagram (in c->data[0]).
static size_t
s_one_datagram (pair_t *p, uint8_t *out)
{
    size_t len = s_frame (p->txq, s_mac_b, s_mac_a, "payload payload payload");
    assert_int_equal (overlay__tx_frame (p->a, p->txq, len), OVERLAY_OK);
    overlay__tx_flush (p->a, p->txq);
    assert_int_equal (p->ca->sent, 1);
    p->ca->sent = 0;
    memcpy (out, p->ca->data[0], p->ca->len[0]);
    return p->ca->len[0];
}

static int
s_rx (pair_t *p, const struct sockaddr_storage *src, const uint8_t *dgram, size_t len)
{
    uint8_t copy[CAP_BYTES];
    memcpy (copy, dgram, len);
    int rc =
        overlay__rx_datagram (p->b, p->rxq, (const struct sockaddr *) src, p->addr_len, copy, len);
    overlay__rx_end (p->b, p->rxq);
    return rc;
}

static void
test_drops_by_reason (void **state)
{
    pair_t *p = *state;
    uint8_t d[CAP_BYTES], bad[CAP_BYTES];
    size_t len = s_one_datagram (p, d);
    assert_int_equal (s_rx (p, &p->addr_a, d, len), OVERLAY_OK);
    //  Replay of an accepted datagram.
    assert_int_equal (s_rx (p, &p->addr_a, d, len), OVERLAY_DROP_REPLAY);
    //  Truncated: below the minimum, and cut (tag gone).
    assert_int_equal (s_rx (p, &p->addr_a, d, SHED_SESSION_DATA_OVERHEAD - 1), OVERLAY_DROP_SHORT);
    len = s_one_datagram (p, d);
    assert_int_equal (s_rx (p, &p->addr_a, d, len - 1), OVERLAY_DROP_AUTH);
    //  Tampered ciphertext.
    memcpy (bad, d, len);
    bad[40] ^= 1;
    assert_int_equal (s_rx (p, &p->addr_a, bad, len), OVERLAY_DROP_AUTH);
    //  Wrong key id.
    memcpy (bad, d, len);
    bad[5] ^= 0xff;
    assert_int_equal (s_rx (p, &p->addr_a, bad, len), OVERLAY_DROP_KEY_ID);
    //  The original still goes (nothing above moved the window).
    assert_int_equal (s_rx (p, &p->addr_a, d, len), OVERLAY_OK);
    //  From an address that is no member.
    struct sockaddr_storage stranger;
    overlay__addr_parse ("198.18.0.99", 7000, &stranger, &p->addr_len);
    len = s_one_datagram (p, d);
    assert_int_equal (s_rx (p, &stranger, d, len), OVERLAY_DROP_NOT_MEMBER);
    //  Plaintext VXLAN, unknown type, empty.
    uint8_t vx[64] = { 0 };
    overlay_vxlan_encode (vx, 42);
    assert_int_equal (s_rx (p, &p->addr_a, vx, sizeof vx), OVERLAY_DROP_PLAINTEXT);
    vx[0] = 0x77;
    assert_int_equal (s_rx (p, &p->addr_a, vx, sizeof vx), OVERLAY_DROP_TYPE);
    assert_int_equal (overlay__rx_datagram (p->b, p->rxq, NULL, 0, vx, 0), OVERLAY_DROP_SHORT);
    //  Handshake messages of the wrong length, a garbage initiation, a
    //  response nobody asked for.
    uint8_t hs[SHED_MSG_INITIATION_SIZE] = { SHED_MSG_INITIATION };
    assert_int_equal (s_rx (p, &p->addr_a, hs, sizeof hs - 1), OVERLAY_DROP_SHORT);
    assert_int_equal (s_rx (p, &p->addr_a, hs, sizeof hs), OVERLAY_DROP_HANDSHAKE);
    hs[0] = SHED_MSG_RESPONSE;
    assert_int_equal (s_rx (p, &p->addr_a, hs, SHED_MSG_RESPONSE_SIZE), OVERLAY_DROP_HANDSHAKE);

    //  Wrong VNI: a correctly sealed datagram whose VXLAN header says 43.
    overlay_peer_t *to_b = overlay__peers_by_node (&p->a->peers, "b");
    uint8_t buf[256] = { 0 };
    overlay_vxlan_encode (buf + OVERLAY_OFF_VXLAN, 43);
    memcpy (buf + OVERLAY_OFF_FRAME, s_mac_b, 6);
    size_t out;
    assert_int_equal (shed_session_seal (to_b->session, p->a->fake_now_ms, buf,
                                         OVERLAY_INNER_HEADER + 14, sizeof buf, &out),
                      0);
    assert_int_equal (s_rx (p, &p->addr_a, buf, out), OVERLAY_DROP_VNI);
    //  Sealed but with a bad offload block.
    memset (buf, 0, sizeof buf);
    overlay_vxlan_encode (buf + OVERLAY_OFF_VXLAN, 42);
    buf[OVERLAY_OFF_OFFLOAD + 1] = VIRTIO_NET_HDR_GSO_UDP;
    assert_int_equal (shed_session_seal (to_b->session, p->a->fake_now_ms, buf,
                                         OVERLAY_INNER_HEADER + 14, sizeof buf, &out),
                      0);
    assert_int_equal (s_rx (p, &p->addr_a, buf, out), OVERLAY_DROP_INNER);
    //  Sealed but shorter than VXLAN + Ethernet.
    assert_int_equal (
        shed_session_seal (to_b->session, p->a->fake_now_ms, buf, 10, sizeof buf, &out), 0);
    assert_int_equal (s_rx (p, &p->addr_a, buf, out), OVERLAY_DROP_INNER);

    //  Each reason counted once (replay: 1), nothing delivered by the bad ones.
    overlay_peer_stats_t ps;
    size_t n;
    overlay_stats (p->b, NULL, &ps, 1, &n);
    assert_int_equal (ps.drops[OVERLAY_DROP_REPLAY], 1);
    assert_int_equal (ps.drops[OVERLAY_DROP_AUTH], 2);
    assert_int_equal (ps.drops[OVERLAY_DROP_KEY_ID], 1);
    assert_int_equal (ps.drops[OVERLAY_DROP_PLAINTEXT], 1);
    assert_int_equal (ps.drops[OVERLAY_DROP_VNI], 1);
    assert_int_equal (ps.drops[OVERLAY_DROP_INNER], 2);
    assert_int_equal (ps.rx_packets, 2);
    assert_int_equal (s_drops (p->b, OVERLAY_DROP_NOT_MEMBER), 1);
    assert_int_equal (s_drops (p->b, OVERLAY_DROP_TYPE), 1);
    assert_int_equal (s_drops (p->b, OVERLAY_DROP_SHORT), 3);
    assert_string_equal (overlay_drop_name (OVERLAY_DROP_PLAINTEXT), "plaintext_vxlan");
}

static void
test_stranger_handshake (void **state)
{
    pair_t *p = *state;
    //  C knows B's public key but is not in B's peer table.
    shed_identity_t *idc = shed_identity_new_ephemeral ();
    shed_session_t *cb =
        shed_session_new (shed_identity_x25519_secret (idc), shed_identity_x25519_public (idc),
                          shed_identity_x25519_public (p->idb), NULL);
    uint8_t msg[SHED_MSG_INITIATION_SIZE];
    assert_int_equal (shed_session_initiate (cb, 1, 1, msg), 0);
    assert_int_equal (s_rx (p, &p->addr_a, msg, sizeof msg), OVERLAY_DROP_NOT_MEMBER);
    assert_int_equal (p->cb->sent, 0); //  no answer at all
    shed_session_destroy (&cb);
    shed_identity_destroy (&idc);
}

static void
test_rekey_through_timer (void **state)
{
    pair_t *p = *state;
    uint8_t d[CAP_BYTES];
    size_t len = s_one_datagram (p, d);
    //  Two minutes later A's timer rekeys; an old datagram still opens
    //  during the grace period.
    p->a->fake_now_ms += 120 * 1000;
    p->b->fake_now_ms += 120 * 1000;
    overlay__timer_tick (p->a);
    assert_int_equal (p->ca->sent, 1);
    assert_int_equal (s_deliver (p, p->a, p->b), OVERLAY_OK);
    assert_int_equal (s_deliver (p, p->b, p->a), OVERLAY_OK);
    assert_int_equal (s_deliver (p, p->a, p->b), OVERLAY_OK); //  keepalive
    assert_int_equal (s_rx (p, &p->addr_a, d, len), OVERLAY_OK);
    len = s_one_datagram (p, d);
    assert_int_equal (s_rx (p, &p->addr_a, d, len), OVERLAY_OK);
    overlay_peer_stats_t ps;
    size_t n;
    overlay_stats (p->a, NULL, &ps, 1, &n);
    assert_int_equal (ps.handshakes, 2);
    assert_int_equal (ps.key_age_ms, 0);
}

//  An IPv6 underlay with dual-stack sockets (s_fixture_v6): the pair set up
//  its sessions through fd00:5ed::2 and a mapped ::ffff:198.18.0.1, and
//  frames cross both ways; an IPv4-only datapath refuses an IPv6 peer.
static int
s_pair_setup6 (void **state)
{
    s_fixture_v6 = 1;
    int rc = s_pair_setup (state);
    s_fixture_v6 = 0;
    return rc;
}

static void
test_ipv6_underlay (void **state)
{
    pair_t *p = *state;
    assert_int_equal (p->addr_b.ss_family, AF_INET6);
    size_t len = s_frame (p->txq, s_mac_b, s_mac_a, "over an IPv6 underlay");
    assert_int_equal (overlay__tx_frame (p->a, p->txq, len), OVERLAY_OK);
    overlay__tx_flush (p->a, p->txq);
    assert_int_equal (p->ca->sent, 1);
    assert_memory_equal (&p->ca->to[0], &p->addr_b, p->addr_len);
    assert_int_equal (s_deliver (p, p->a, p->b), OVERLAY_OK);
    assert_int_equal (p->cb->written, 1);
    len = s_frame (p->txq, s_mac_a, s_mac_b, "and back, mapped");
    assert_int_equal (overlay__tx_frame (p->b, p->txq, len), OVERLAY_OK);
    overlay__tx_flush (p->b, p->txq);
    assert_memory_equal (&p->cb->to[0], &p->addr_a, p->addr_len); //  ::ffff:198.18.0.1
    assert_int_equal (s_deliver (p, p->b, p->a), OVERLAY_OK);
    assert_int_equal (p->ca->written, 1);

    //  An IPv4 datapath cannot reach an IPv6 peer: refused, not queued.
    capture_t cap = { 0 };
    shed_identity_t *id = shed_identity_new_ephemeral ();
    overlay_t *four = s_detached (id, &cap, 42);
    errno = 0;
    assert_int_equal (
        overlay_peer_add (four, "six", shed_identity_x25519_public (p->ida), "fd00:5ed::9", 7000),
        -1);
    assert_int_equal (errno, EAFNOSUPPORT);
    assert_int_equal (
        overlay_peer_add (four, "bad", shed_identity_x25519_public (p->ida), "fd00::1%eth0", 7000),
        -1);
    overlay_destroy (&four);
    shed_identity_destroy (&id);
}

//  ------------------------------------------------------------------------
//  Datagram buffers: one 2 MiB-aligned span the kernel may back with
//  transparent huge pages (datapath.c, overlay__bufs_alloc).

//  The "THPeligible:" value of the smaps entry holding addr; -1 if none.
static int
s_thp_eligible (const void *addr)
{
    FILE *f = fopen ("/proc/self/smaps", "r");
    if (!f)
        return -1;
    char line[512];
    bool inside = false;
    int eligible = -1;
    while (fgets (line, sizeof line, f)) {
        unsigned long lo, hi;
        if (sscanf (line, "%lx-%lx ", &lo, &hi) == 2 && strchr (line, '-') < strchr (line, ' '))
            inside = (uintptr_t) addr >= lo && (uintptr_t) addr < hi;
        else if (inside && sscanf (line, "THPeligible: %d", &eligible) == 1)
            break;
    }
    fclose (f);
    return eligible;
}

static void
test_bufs_alloc (void **state)
{
    (void) state;
    size_t bytes = OVERLAY_BATCH * OVERLAY_BUF_BYTES;
    uint8_t *bufs = (uint8_t *) overlay__bufs_alloc (bytes);
    assert_non_null (bufs);
    assert_int_equal ((uintptr_t) bufs % (2u << 20), 0);
    memset (bufs, 0xa5, bytes); //  all of it writable
    assert_int_equal (bufs[bytes - 1], 0xa5);
    //  Where THP is available at all (Debian: "madvise"), the span asked
    //  for it; plain malloc memory would say 0 under "madvise".
    FILE *f = fopen ("/sys/kernel/mm/transparent_hugepage/enabled", "r");
    char mode[128] = "";
    if (f) {
        if (!fgets (mode, sizeof mode, f))
            mode[0] = 0;
        fclose (f);
    }
    if (mode[0] && !strstr (mode, "[never]"))
        assert_int_equal (s_thp_eligible (bufs), 1);
    overlay__bufs_free (bufs, bytes);
    overlay__bufs_free (NULL, bytes);
}

int
main (void)
{
    if (sodium_init () < 0)
        return 1;
    const struct CMUnitTest tests[] = {
        cmocka_unit_test (test_vxlan_codec),
        cmocka_unit_test (test_offload_codec),
        cmocka_unit_test (test_mtu),
        cmocka_unit_test (test_chunk_codec),
        cmocka_unit_test (test_fdb),
        cmocka_unit_test (test_arp),
        cmocka_unit_test (test_bufs_alloc),
        cmocka_unit_test_setup_teardown (test_unicast_roundtrip, s_pair_setup, s_pair_teardown),
        cmocka_unit_test_setup_teardown (test_offload_superframe, s_pair_setup, s_pair_teardown),
        cmocka_unit_test_setup_teardown (test_broadcast_and_arp, s_pair_setup, s_pair_teardown),
        cmocka_unit_test_setup_teardown (test_drops_by_reason, s_pair_setup, s_pair_teardown),
        cmocka_unit_test_setup_teardown (test_arp_spoof, s_pair_setup, s_pair_teardown),
        cmocka_unit_test_setup_teardown (test_stranger_handshake, s_pair_setup, s_pair_teardown),
        cmocka_unit_test_setup_teardown (test_rekey_through_timer, s_pair_setup, s_pair_teardown),
        cmocka_unit_test_setup_teardown (test_ipv6_underlay, s_pair_setup6, s_pair_teardown),
    };
    return cmocka_run_group_tests (tests, NULL, NULL);
}
