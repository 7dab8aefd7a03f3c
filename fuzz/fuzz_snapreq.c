/*
 * fuzz_snapreq.c - the bus's "$snapreq" subscription parser
 * (bus_snapreq_parse, bridges/bus_internal.h).
 *
 * A snapshot request is a subscription a consumer or a peer sends us
 * (docs/events.md, "Last values and snapshots"): remote consumers reach it
 * over the CURVE consumer endpoint, so its bytes are untrusted. The input is
 * handed over as the bus does (the message the XPUB read, at most
 * 2 * BUS_SUB_MAX bytes, with the route prefix checked first; an input whose
 * first byte is odd gets the route prepended, so the parser proper is
 * reached most of the time). Invariants checked when it parses: the nonce is
 * 1..EVENT_NONCE_MAX bytes and NUL-terminated, there are at most
 * EVENT_PREFIXES_MAX prefixes, each NUL-terminated inside its slot, and
 * writing them back gives exactly the input.
 */
#include "bridges/bus_internal.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput (const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
    /* What recv_consumer reads: at most 2 * BUS_SUB_MAX bytes. */
    uint8_t msg[BUS_SUB_MAX * 2];
    size_t rl = strlen (BUS_SNAPREQ_ROUTE);
    size_t len = 0;
    if (size > 0 && (data[0] & 1)) {
        memcpy (msg, BUS_SNAPREQ_ROUTE, rl);
        len = rl;
        data++;
        size--;
    }
    if (size > sizeof msg - len)
        size = sizeof msg - len;
    if (size)
        memcpy (msg + len, data, size);
    len += size;
    if (!(len > rl && memcmp (msg, BUS_SNAPREQ_ROUTE, rl) == 0))
        return 0;

    /* Heap copies, sized exactly, so ASan sees any read past the end. */
    uint8_t *in = (uint8_t *) malloc (len);
    if (!in)
        return 0;
    memcpy (in, msg, len);
    char nonce[EVENT_NONCE_MAX + 1];
    char (*prefixes)[BUS_SUB_MAX] = malloc (sizeof (char[EVENT_PREFIXES_MAX][BUS_SUB_MAX]));
    if (!prefixes) {
        free (in);
        return 0;
    }
    size_t n = 0;
    if (bus_snapreq_parse (in, len, nonce, prefixes, &n) == 0) {
        size_t nl = strnlen (nonce, sizeof nonce);
        if (nl == 0 || nl > EVENT_NONCE_MAX || n > EVENT_PREFIXES_MAX)
            abort ();
        /* Round trip: route, nonce, NUL, then each prefix and its NUL. */
        uint8_t back[BUS_SUB_MAX * 2];
        size_t bl = 0;
        memcpy (back, BUS_SNAPREQ_ROUTE, rl);
        bl = rl;
        memcpy (back + bl, nonce, nl);
        bl += nl;
        back[bl++] = 0;
        for (size_t i = 0; i < n; i++) {
            size_t pl = strnlen (prefixes[i], BUS_SUB_MAX);
            if (pl >= BUS_SUB_MAX || bl + pl + 1 > sizeof back)
                abort ();
            memcpy (back + bl, prefixes[i], pl);
            bl += pl;
            back[bl++] = 0;
        }
        if (bl != len || memcmp (back, in, len) != 0)
            abort ();
    }
    free (prefixes);
    free (in);
    return 0;
}
