/*
 * gossip_stream.c - sealed membership stream frames (see gossip_stream.h
 * and docs/membership.md section 1).
 */
#include "cluster/gossip_stream.h"

#include <stdlib.h>
#include <string.h>

/* The body's AD: GOSSIP_TCP_AD, then the sealed header it came under. */
#define S_BODY_AD_LEN (sizeof GOSSIP_TCP_AD - 1 + GOSSIP_TCP_HDR_SEALED)

static void
s_body_ad (uint8_t ad[S_BODY_AD_LEN], const uint8_t hdr[GOSSIP_TCP_HDR_SEALED])
{
    memcpy (ad, GOSSIP_TCP_AD, sizeof GOSSIP_TCP_AD - 1);
    memcpy (ad + sizeof GOSSIP_TCP_AD - 1, hdr, GOSSIP_TCP_HDR_SEALED);
}

int
gossip_stream_header_open (const shed_keyring_t *keyring, const uint8_t hdr[GOSSIP_TCP_HDR_SEALED],
                           size_t *bodylen, uint8_t stamp[GOSSIP_STAMP_BYTES])
{
    uint8_t hpt[GOSSIP_TCP_HDR_PT];
    size_t hlen = 0;
    int rc =
        shed_keyring_open (keyring, (const uint8_t *) GOSSIP_TCP_HDR_AD, strlen (GOSSIP_TCP_HDR_AD),
                           hdr, GOSSIP_TCP_HDR_SEALED, hpt, sizeof hpt, &hlen, NULL);
    if (rc)
        return rc;
    if (hlen != GOSSIP_TCP_HDR_PT)
        return SHED_SEAL_ERR_FORMAT;
    size_t len =
        ((size_t) hpt[0] << 24) | ((size_t) hpt[1] << 16) | ((size_t) hpt[2] << 8) | hpt[3];
    if (len < SHED_SEAL_OVERHEAD || len > SWIM_STREAM_MAX)
        return GOSSIP_STREAM_ERR_LENGTH;
    *bodylen = len;
    memcpy (stamp, hpt + 4, GOSSIP_STAMP_BYTES);
    return 0;
}

int
gossip_stream_body_open (const shed_keyring_t *keyring, const uint8_t hdr[GOSSIP_TCP_HDR_SEALED],
                         const uint8_t *body, size_t bodylen, uint8_t *pt, size_t cap,
                         size_t *ptlen)
{
    uint8_t ad[S_BODY_AD_LEN];
    s_body_ad (ad, hdr);
    return shed_keyring_open (keyring, ad, sizeof ad, body, bodylen, pt, cap, ptlen, NULL);
}

uint8_t *
gossip_stream_seal (const shed_keyring_t *keyring, const uint8_t stamp[GOSSIP_STAMP_BYTES],
                    const uint8_t *msg, size_t len, size_t *framelen)
{
    if (len > SWIM_STREAM_MAX - SHED_SEAL_OVERHEAD)
        return NULL;
    size_t body = len + SHED_SEAL_OVERHEAD;
    size_t cap = GOSSIP_TCP_HDR_SEALED + body;
    uint8_t *frame = (uint8_t *) malloc (cap);
    if (!frame)
        return NULL;
    uint8_t hpt[GOSSIP_TCP_HDR_PT];
    hpt[0] = (uint8_t) (body >> 24);
    hpt[1] = (uint8_t) (body >> 16);
    hpt[2] = (uint8_t) (body >> 8);
    hpt[3] = (uint8_t) body;
    memcpy (hpt + 4, stamp, GOSSIP_STAMP_BYTES);
    uint8_t ad[S_BODY_AD_LEN];
    size_t hlen = 0, blen = 0;
    if (shed_keyring_seal (keyring, (const uint8_t *) GOSSIP_TCP_HDR_AD, strlen (GOSSIP_TCP_HDR_AD),
                           hpt, sizeof hpt, frame, GOSSIP_TCP_HDR_SEALED, &hlen)
        || hlen != GOSSIP_TCP_HDR_SEALED) {
        free (frame);
        return NULL;
    }
    s_body_ad (ad, frame);
    if (shed_keyring_seal (keyring, ad, sizeof ad, msg, len, frame + hlen, cap - hlen, &blen)) {
        free (frame);
        return NULL;
    }
    *framelen = hlen + blen;
    return frame;
}
