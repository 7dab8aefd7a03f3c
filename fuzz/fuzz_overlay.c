/*
 * fuzz_overlay.c - the overlay receive path on arbitrary datagrams.
 *
 * Two detached overlays (no devices, fake transport, fixed clock) complete
 * a real handshake once at start-up; B then receives the fuzz input as a
 * datagram from A's address. The first byte picks how:
 *   even  the bytes are the datagram itself: type and length checks,
 *         handshake decoding (mac1, initiation/response parsing), data
 *         header and key id lookup, AEAD rejection;
 *   odd   the bytes are PLAINTEXTS of data messages that A seals with its
 *         real session (byte 1 = how many, 1..8, the rest cut into that many
 *         equal parts, sealed as a batch: consecutive counters, as chunks
 *         are), so the datagrams authenticate and everything after the AEAD
 *         is fuzzed: VXLAN header, VNI, chunk fields and reassembly, offload
 *         block validation, frame length, the gathered TAP write. Bit 1 of
 *         byte 0 ends the receive batch after every datagram (pieces copied
 *         out of buffers that are then freed) instead of once at the end.
 * The seed corpus (corpus/overlay) holds both kinds: handshake-shaped and
 * data-shaped datagrams, and plaintexts with valid VXLAN + offload blocks.
 */
#include "node/overlay/overlay_int.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput (const uint8_t *data, size_t size);

static overlay_t *s_a, *s_b;
static overlay_rxq_t *s_rxq;
static struct sockaddr_storage s_addr_a;
static socklen_t s_addr_len;
static uint8_t s_last[SHED_MSG_INITIATION_SIZE + 64];
static size_t s_last_len;

static int
s_send (overlay_t *self, int q, struct mmsghdr *msgs, unsigned n)
{
    //  Keep the last small datagram (handshakes), for the start-up dance.
    for (unsigned i = 0; i < n; i++) {
        size_t len = msgs[i].msg_hdr.msg_iov[0].iov_len;
        if (len <= sizeof s_last) {
            memcpy (s_last, msgs[i].msg_hdr.msg_iov[0].iov_base, len);
            s_last_len = len;
        }
    }
    return (int) n;
}

volatile uint8_t fuzz_overlay_sink;

static int
s_tap_write (overlay_t *self, int q, const struct iovec *iov, int iovcnt)
{
    //  Touch every byte so ASan sees an out-of-bounds or freed piece; the
    //  result feeds a volatile sink so the reads are not optimised away.
    uint8_t sum = 0;
    for (int v = 0; v < iovcnt; v++)
        for (size_t i = 0; i < iov[v].iov_len; i++)
            sum ^= ((const uint8_t *) iov[v].iov_base)[i];
    fuzz_overlay_sink = sum;
    return 0;
}

static void
s_deliver (overlay_t *to, const struct sockaddr_storage *from)
{
    uint8_t copy[sizeof s_last];
    size_t len = s_last_len;
    memcpy (copy, s_last, len);
    s_last_len = 0;
    overlay__rx_datagram (to, s_rxq, (const struct sockaddr *) from, s_addr_len, copy, len);
    overlay__rx_end (to, s_rxq);
}

static void
s_init (void)
{
    static shed_identity_t *ida, *idb;
    ida = shed_identity_new_ephemeral ();
    idb = shed_identity_new_ephemeral ();
    overlay_io_t io = { .send = s_send, .tap_write = s_tap_write };
    overlay_config_t cfg = { .vni = 42, .identity = ida };
    s_a = overlay__new_detached (&cfg, &io, NULL);
    cfg.identity = idb;
    s_b = overlay__new_detached (&cfg, &io, NULL);
    s_rxq = overlay__rxq_new (0);
    if (!s_a || !s_b || !s_rxq)
        abort ();
    struct sockaddr_storage addr_b;
    overlay__addr_parse ("198.18.0.1", 7000, &s_addr_a, &s_addr_len);
    overlay__addr_parse ("198.18.0.2", 7000, &addr_b, &s_addr_len);
    overlay_peer_add (s_a, "b", shed_identity_x25519_public (idb), "198.18.0.2", 7000);
    overlay_peer_add (s_b, "a", shed_identity_x25519_public (ida), "198.18.0.1", 7000);
    overlay__timer_tick (s_a);  //  initiation
    s_deliver (s_b, &s_addr_a); //  -> response
    s_deliver (s_a, &addr_b);   //  -> keepalive
    s_deliver (s_b, &s_addr_a); //  B confirmed
    shed_session_info_t info;
    shed_session_info (overlay__peers_by_node (&s_b->peers, "a")->session, 1, &info);
    if (!info.has_send_key)
        abort ();
}

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
    if (!s_a)
        s_init ();
    if (size < 1 || size > OVERLAY_FRAME_MAX)
        return 0;
    if (!(data[0] & 1)) {
        //  Exactly `len` bytes, so ASan catches reads past the datagram.
        size_t len = size - 1;
        uint8_t *exact = malloc (len ? len : 1);
        memcpy (exact, data + 1, len);
        overlay__rx_datagram (s_b, s_rxq, (const struct sockaddr *) &s_addr_a, s_addr_len, exact,
                              len);
        overlay__rx_end (s_b, s_rxq);
        free (exact);
        return 0;
    }
    if (size < 2)
        return 0;
    bool end_each = data[0] & 2;
    size_t k = (size_t) (data[1] % 8) + 1, body = size - 2, part = body / k;
    uint8_t *bufs[8];
    size_t lens[8];
    for (size_t i = 0; i < k; i++) {
        lens[i] = i < k - 1 ? part : body - part * (k - 1);
        //  Exactly the datagram's bytes.
        bufs[i] = malloc (lens[i] + SHED_SESSION_DATA_OVERHEAD);
        memcpy (bufs[i] + SHED_SESSION_DATA_HEADER, data + 2 + i * part, lens[i]);
    }
    overlay_peer_t *to_b = overlay__peers_by_node (&s_a->peers, "b");
    if (shed_session_seal_batch (to_b->session, s_a->fake_now_ms, bufs, lens, k) != SHED_SESSION_OK)
        abort ();
    for (size_t i = 0; i < k; i++) {
        overlay__rx_datagram (s_b, s_rxq, (const struct sockaddr *) &s_addr_a, s_addr_len, bufs[i],
                              lens[i] + SHED_SESSION_DATA_OVERHEAD);
        if (end_each) {
            overlay__rx_end (s_b, s_rxq);
            free (bufs[i]);
            bufs[i] = NULL;
        }
    }
    overlay__rx_end (s_b, s_rxq);
    for (size_t i = 0; i < k; i++)
        free (bufs[i]);
    return 0;
}
