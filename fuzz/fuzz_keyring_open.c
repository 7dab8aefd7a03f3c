/*
 * fuzz_keyring_open.c - shed_keyring_open() on arbitrary datagrams.
 *
 * A fixed keyring holds two static keys, so inputs that carry a valid key id
 * (and the seeds, which are real sealed datagrams) reach the AEAD; the rest
 * exercise the length, version and key-id checks. The first input byte picks
 * the associated-data length so the AD path is fuzzed as well, and the output
 * capacity varies to exercise the space check.
 */
#include "crypto/keyring.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput (const uint8_t *data, size_t size);

static shed_keyring_t *s_ring;

/* The fuzz keys: bytes 0..31 and 32..63. Seeds in corpus/keyring_open were
 * sealed with the first (primary) key and AD "fuzz". */
static void
s_init (void)
{
    uint8_t key[SHED_KEY_BYTES];
    s_ring = shed_keyring_new ();
    if (!s_ring)
        abort ();
    for (int k = 0; k < 2; k++) {
        for (int i = 0; i < SHED_KEY_BYTES; i++)
            key[i] = (uint8_t) (k * SHED_KEY_BYTES + i);
        if (shed_keyring_install (s_ring, key) != SHED_KR_OK)
            abort ();
    }
}

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
    if (!s_ring)
        s_init ();
    static const uint8_t ad[] = "fuzz";
    size_t adlen = 4;
    size_t slack = 0;
    if (size > 0) {
        //  Low bits: AD length 0..4; next bit: make the output one byte short.
        adlen = data[0] % 5;
        slack = (data[0] >> 3) & 1;
        data++;
        size--;
    }
    //  Copy into an exact-size heap buffer so ASan sees any over-read.
    uint8_t *in = malloc (size ? size : 1);
    if (!in)
        return 0;
    memcpy (in, data, size);
    size_t cap = size > SHED_SEAL_OVERHEAD ? size - SHED_SEAL_OVERHEAD : 0;
    if (slack && cap)
        cap--;
    uint8_t *pt = malloc (cap ? cap : 1);
    if (!pt)
        abort ();
    size_t ptlen = 0;
    uint32_t id = 0;
    int rc = shed_keyring_open (s_ring, ad, adlen, in, size, pt, cap, &ptlen, &id);
    if (rc == SHED_SEAL_OK) {
        //  An opened datagram must be the exact size and re-seal cleanly.
        if (ptlen != size - SHED_SEAL_OVERHEAD)
            abort ();
        uint8_t *again = malloc (ptlen + SHED_SEAL_OVERHEAD);
        size_t againlen = 0;
        if (!again
            || shed_keyring_seal (s_ring, ad, adlen, pt, ptlen, again, ptlen + SHED_SEAL_OVERHEAD,
                                  &againlen)
                   != SHED_SEAL_OK
            || againlen != size)
            abort ();
        free (again);
    }
    else if (rc < SHED_SEAL_ERR_NOKEY || rc > SHED_SEAL_OK)
        abort ();
    free (pt);
    free (in);
    return 0;
}
