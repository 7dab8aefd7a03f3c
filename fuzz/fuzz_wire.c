/*
 * fuzz_wire.c - libFuzzer target for the wire codec.
 *
 * Decodes arbitrary bytes against fz_proto (every field kind). wire_peek and
 * wire_decode must agree on the envelope; whatever decodes must re-encode,
 * and the re-encoding must be a fixed point: decode(encode(m)) encodes to
 * the same bytes. Under ASan/UBSan this also proves the pre-scan keeps
 * msgpack-c from reserving huge containers and that failures free all.
 */
#include "fuzz/fuzz_proto.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput (const uint8_t *data, size_t size);

#define S_CHECK(cond)                                                                              \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            fprintf (stderr, "fuzz_wire: check failed: %s (line %d)\n", #cond, __LINE__);          \
            abort ();                                                                              \
        }                                                                                          \
    } while (0)

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
    fz_msg_t m;
    const char *field = NULL;
    wire_hdr_t hdr;
    int peek = wire_peek (&fz_proto, data, size, &hdr);
    int rc = wire_decode (&fz_proto, data, size, &m, &field);
    S_CHECK (field != NULL);
    if (rc != WIRE_OK) {
        /* Envelope and framing errors come from the same place. */
        if (peek != WIRE_OK)
            S_CHECK (rc == peek);
        const uint8_t *p = (const uint8_t *) &m;
        for (size_t i = 0; i < sizeof m; i++)
            S_CHECK (p[i] == 0);
        return 0;
    }
    S_CHECK (peek == WIRE_OK);
    S_CHECK (hdr.version == m.hdr.version && hdr.type == m.hdr.type);

    uint8_t *one = NULL, *two = NULL;
    size_t one_len = 0, two_len = 0;
    rc = wire_encode (&fz_proto, &m, &one, &one_len);
    if (rc != WIRE_OK)
        fprintf (stderr, "re-encode failed: %s\n", wire_strerror (rc));
    S_CHECK (rc == WIRE_OK);

    /* The same bytes into a fixed buffer: exact fit works, one less not. */
    uint8_t *fixed = malloc (one_len);
    size_t fixed_len = 0;
    S_CHECK (fixed);
    S_CHECK (wire_encode_into (&fz_proto, &m, fixed, one_len, &fixed_len) == WIRE_OK);
    S_CHECK (fixed_len == one_len && memcmp (fixed, one, one_len) == 0);
    S_CHECK (wire_encode_into (&fz_proto, &m, fixed, one_len - 1, &fixed_len) == WIRE_ERR_TOO_BIG);
    free (fixed);

    fz_msg_t again;
    rc = wire_decode (&fz_proto, one, one_len, &again, &field);
    if (rc != WIRE_OK)
        fprintf (stderr, "re-decode failed: %s (%s)\n", wire_strerror (rc), field);
    S_CHECK (rc == WIRE_OK);
    S_CHECK (wire_encode (&fz_proto, &again, &two, &two_len) == WIRE_OK);
    S_CHECK (two_len == one_len && memcmp (one, two, one_len) == 0);

    wire_msg_free (&fz_proto, &again);
    wire_msg_free (&fz_proto, &m);
    free (one);
    free (two);
    return 0;
}
