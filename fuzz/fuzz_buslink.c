/*
 * fuzz_buslink.c - the bus's link control messages (bus_link_parse,
 * bridges/bus_internal.h; docs/events.md, "Routing tree").
 *
 * A routing-tree neighbour is an authenticated member, but its bytes are
 * still untrusted: a buggy or hostile member must not crash the bus. The
 * input is one link message as the ROUTER or DEALER read it. Invariants
 * when it parses: the type is a known EVENT_LINK_*, the body lies inside
 * the input, a HELLO's name is a valid node name equal to the body, PING
 * and BYE have no body.
 */
#include "bridges/bus_internal.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput (const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
    /* A heap copy sized exactly, so ASan sees any read past the end. */
    uint8_t *in = (uint8_t *) malloc (size ? size : 1);
    if (!in)
        return 0;
    if (size)
        memcpy (in, data, size);
    int type = -1;
    const uint8_t *body = NULL;
    size_t blen = 0;
    char name[EVENT_NODE_MAX + 1];
    if (bus_link_parse (in, size, &type, &body, &blen, name) == 0) {
        if (body != in + 1 || blen != size - 1)
            abort ();
        switch (type) {
        case EVENT_LINK_SUB:
        case EVENT_LINK_UNSUB:
            if (blen > BUS_SUB_MAX * 2)
                abort ();
            break;
        case EVENT_LINK_HELLO:
            if (!event_node_valid (name) || strlen (name) != blen || memcmp (name, body, blen))
                abort ();
            break;
        case EVENT_LINK_PING:
        case EVENT_LINK_BYE:
            if (blen != 0)
                abort ();
            break;
        default:
            abort ();
        }
    }
    free (in);
    return 0;
}
