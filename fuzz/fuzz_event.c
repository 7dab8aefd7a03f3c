/*
 * fuzz_event.c - libFuzzer target for event bus frames (bridges/event_msg.h).
 *
 * Decodes arbitrary bytes as one bus frame (route NUL msgpack body), the
 * way a bus reads a peer's publisher and a client reads its node. Whatever
 * decodes must re-encode under the same route and decode again to the same
 * bytes; failures must leave nothing allocated (ASan checks).
 */
#include "bridges/event_msg.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput (const uint8_t *data, size_t size);

#define S_CHECK(cond)                                                           \
    do {                                                                        \
        if (!(cond)) {                                                          \
            fprintf (stderr, "fuzz_event: check failed: %s (line %d)\n", #cond, \
                     __LINE__);                                                 \
            abort ();                                                           \
        }                                                                       \
    } while (0)

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
    event_msg_t m;
    const char *route = NULL;
    if (event_frame_decode (data, size, &route, &m) != 0)
        return 0;
    S_CHECK (route != NULL && route [0] != 0);
    char r [EVENT_TOPIC_MAX + 1];
    snprintf (r, sizeof r, "%s", route);
    if (m.hdr.type == EVENT_EVENT && r [0] != EVENT_CTL_CHAR) {
        S_CHECK (event_topic_valid (m.u.event_event.topic));
        S_CHECK (strcmp (m.u.event_event.topic, r) == 0);
        S_CHECK (m.u.event_event.seq > 0);
    }
    /* The encoder writes every field, absent optional ones included, so
     * a re-encoding may be larger than a sparse input. */
    size_t cap = size + 2048;
    uint8_t *one = malloc (cap), *two = malloc (cap);
    S_CHECK (one && two);
    long l1 = event_frame_encode (r, &m, one, cap);
    S_CHECK (l1 > 0);
    event_msg_t again;
    const char *route2;
    S_CHECK (event_frame_decode (one, (size_t) l1, &route2, &again) == 0);
    S_CHECK (strcmp (route2, r) == 0);
    long l2 = event_frame_encode (r, &again, two, cap);
    S_CHECK (l2 == l1 && memcmp (one, two, (size_t) l1) == 0);
    wire_msg_free (&event_proto, &again);
    wire_msg_free (&event_proto, &m);
    free (one);
    free (two);
    return 0;
}
