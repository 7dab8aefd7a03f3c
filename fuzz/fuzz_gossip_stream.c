/*
 * fuzz_gossip_stream.c - membership stream framing (cluster/gossip_stream.h:
 * the 73-byte sealed header carrying the body length and a stamp, then the
 * sealed body bound to that header; docs/membership.md section 1).
 *
 * A fixed test keyring holds two keys (bytes 0..31, primary, and 32..63); a
 * second keyring holds a key the first does not know. The first input byte
 * picks what the rest is:
 *   0  raw bytes off the wire: 73 header bytes, then the body, as an outsider
 *      sends them (must never open; no allocation from a declared length);
 *   1  a header plaintext (4-byte length + stamp) sealed with the test
 *      keyring, then raw body bytes: the length checks and the body open
 *      of a frame whose header a key holder wrote;
 *   2  a message sealed into a whole frame (gossip_stream_seal), opened
 *      again (round trip), then one byte of the frame flipped at an input-
 *      chosen place: the frame must no longer open;
 *   3  a frame sealed by the other keyring: refused by key id.
 * The reader allocates the body only after its header opened, as
 * membership.c does; -malloc_limit_mb catches a length trusted too early.
 */
#include "cluster/gossip_stream.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput (const uint8_t *data, size_t size);

static shed_keyring_t *s_ring, *s_other;

static void
s_init (void)
{
    uint8_t key[SHED_KEY_BYTES];
    s_ring = shed_keyring_new ();
    s_other = shed_keyring_new ();
    if (!s_ring || !s_other)
        abort ();
    for (int k = 0; k < 3; k++) {
        for (int i = 0; i < SHED_KEY_BYTES; i++)
            key[i] = (uint8_t) (k * SHED_KEY_BYTES + i);
        if (shed_keyring_install (k < 2 ? s_ring : s_other, key) != SHED_KR_OK)
            abort ();
    }
}

/* What membership.c does with bytes off a connection: the header first,
 * the body (only as many bytes as arrived) only if the header opened.
 * Returns 0 when the whole frame opened, with the plaintext in *pt. */
static int
s_read (const uint8_t *data, size_t size, uint8_t **pt, size_t *ptlen)
{
    *pt = NULL;
    if (size < GOSSIP_TCP_HDR_SEALED)
        return -1;
    size_t bodylen = 0;
    uint8_t stamp[GOSSIP_STAMP_BYTES];
    int rc = gossip_stream_header_open (s_ring, data, &bodylen, stamp);
    if (rc) {
        if (rc != GOSSIP_STREAM_ERR_LENGTH && rc != SHED_SEAL_ERR_KEYID && rc != SHED_SEAL_ERR_AUTH
            && rc != SHED_SEAL_ERR_FORMAT && rc != SHED_SEAL_ERR_SHORT)
            abort ();
        return rc;
    }
    if (bodylen < SHED_SEAL_OVERHEAD || bodylen > SWIM_STREAM_MAX)
        abort ();
    size_t have = size - GOSSIP_TCP_HDR_SEALED;
    if (have < bodylen)
        return -1; /* the connection would wait for the rest */
    uint8_t *in = (uint8_t *) malloc (bodylen);
    uint8_t *out = (uint8_t *) malloc (bodylen);
    if (!in || !out)
        abort ();
    memcpy (in, data + GOSSIP_TCP_HDR_SEALED, bodylen);
    rc = gossip_stream_body_open (s_ring, data, in, bodylen, out, bodylen, ptlen);
    free (in);
    if (rc) {
        free (out);
        return rc;
    }
    if (*ptlen != bodylen - SHED_SEAL_OVERHEAD)
        abort ();
    *pt = out;
    return 0;
}

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
    if (!s_ring)
        s_init ();
    if (size < 1)
        return 0;
    int mode = data[0] & 3;
    uint8_t flip_at = (uint8_t) (data[0] >> 2);
    data++;
    size--;
    uint8_t *pt = NULL;
    size_t ptlen = 0;

    if (mode == 0) {
        if (s_read (data, size, &pt, &ptlen) == 0)
            abort (); /* forged without the key */
    }
    else if (mode == 1) {
        uint8_t hpt[GOSSIP_TCP_HDR_PT] = { 0 };
        size_t n = size < sizeof hpt ? size : sizeof hpt;
        memcpy (hpt, data, n);
        size_t rest = size - n;
        uint8_t *frame = (uint8_t *) malloc (GOSSIP_TCP_HDR_SEALED + rest);
        size_t hlen = 0;
        if (!frame
            || shed_keyring_seal (s_ring, (const uint8_t *) GOSSIP_TCP_HDR_AD,
                                  strlen (GOSSIP_TCP_HDR_AD), hpt, sizeof hpt, frame,
                                  GOSSIP_TCP_HDR_SEALED, &hlen)
            || hlen != GOSSIP_TCP_HDR_SEALED)
            abort ();
        memcpy (frame + hlen, data + n, rest);
        size_t declared =
            ((size_t) hpt[0] << 24) | ((size_t) hpt[1] << 16) | ((size_t) hpt[2] << 8) | hpt[3];
        size_t bodylen = 0;
        uint8_t stamp[GOSSIP_STAMP_BYTES];
        int rc = gossip_stream_header_open (s_ring, frame, &bodylen, stamp);
        bool valid = declared >= SHED_SEAL_OVERHEAD && declared <= SWIM_STREAM_MAX;
        if (valid ? (rc != 0 || bodylen != declared
                     || memcmp (stamp, hpt + 4, GOSSIP_STAMP_BYTES) != 0)
                  : rc != GOSSIP_STREAM_ERR_LENGTH)
            abort ();
        if (s_read (frame, hlen + rest, &pt, &ptlen) == 0)
            abort (); /* a body not sealed under this header */
        free (frame);
    }
    else if (mode == 2 || mode == 3) {
        uint8_t stamp[GOSSIP_STAMP_BYTES];
        memset (stamp, 0x5a, sizeof stamp);
        size_t flen = 0;
        uint8_t *frame =
            gossip_stream_seal (mode == 2 ? s_ring : s_other, stamp, data, size, &flen);
        if (!frame || flen != GOSSIP_TCP_HDR_SEALED + size + SHED_SEAL_OVERHEAD)
            abort ();
        int rc = s_read (frame, flen, &pt, &ptlen);
        if (mode == 3) {
            if (rc != SHED_SEAL_ERR_KEYID)
                abort ();
        }
        else {
            if (rc != 0 || ptlen != size || (size && memcmp (pt, data, size) != 0))
                abort ();
            free (pt);
            pt = NULL;
            /* Any one byte changed, in the header or the body: refused. */
            size_t at = ((size_t) flip_at * 2654435761u + size) % flen;
            frame[at] ^= (uint8_t) (1u << (flip_at & 7));
            if (s_read (frame, flen, &pt, &ptlen) == 0)
                abort ();
        }
        free (frame);
    }
    free (pt);
    return 0;
}
