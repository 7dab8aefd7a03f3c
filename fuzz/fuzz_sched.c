/*
 * fuzz_sched.c - libFuzzer target for the scheduling protocol and the
 * text parsers the CLI/API feed from users.
 *
 * The input is decoded as a sched_msg (claims, replies, releases, the
 * reservations file); whatever decodes must re-encode and decode again.
 * The same bytes, as text, go through the constraint, size, cpu and name
 * parsers, and a decoded RESERVATIONS message is loaded into an admitter:
 * nothing may crash, leak, or overcommit silently.
 */
#include "cluster/placement.h"
#include "cluster/sched_admit.h"
#include "cluster/sched_msg.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput (const uint8_t *data, size_t size);

#define S_CHECK(cond)                                                           \
    do {                                                                        \
        if (!(cond)) {                                                          \
            fprintf (stderr, "fuzz_sched: check failed: %s (line %d)\n", #cond, \
                     __LINE__);                                                 \
            abort ();                                                           \
        }                                                                       \
    } while (0)

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
    sched_msg_t m;
    const char *field = NULL;
    if (wire_decode (&sched_proto, data, size, &m, &field) == WIRE_OK) {
        uint8_t *out = NULL;
        size_t len = 0;
        S_CHECK (wire_encode (&sched_proto, &m, &out, &len) == WIRE_OK);
        sched_msg_t again;
        S_CHECK (wire_decode (&sched_proto, out, len, &again, &field) == WIRE_OK);
        S_CHECK (again.hdr.type == m.hdr.type);
        wire_msg_free (&sched_proto, &again);
        free (out);
        if (m.hdr.type == SCHED_RESERVATIONS) {
            sched_capacity_t cap;
            memset (&cap, 0, sizeof cap);
            sched_admit_t *a = sched_admit_new (&cap);
            const sched_reservations_t *r = &m.u.sched_reservations;
            for (size_t i = 0; i < r->items.n; i++) {
                place_resources_t need = { { r->items.items [i].cpu, r->items.items [i].memory,
                                             r->items.items [i].disk, r->items.items [i].gpu } };
                sched_admit_restore (a, r->items.items [i].request_id, r->items.items [i].name,
                                     &need);
                /* Zero capacity: a fresh claim can only be refused. */
                S_CHECK (sched_admit_claim (a, "fuzz-new", "fuzz-new", &need, NULL, 0) != 0
                         || (need.v [0] | need.v [1] | need.v [2] | need.v [3]) == 0);
            }
            sched_admit_destroy (&a);
        }
        wire_msg_free (&sched_proto, &m);
    }

    char text [300];
    size_t n = size < sizeof text - 1 ? size : sizeof text - 1;
    memcpy (text, data, n);
    text [n] = '\0';
    place_constraint_t c;
    char why [256];
    uint64_t v;
    placement_constraint_parse (text, &c, why, sizeof why);
    placement_size_parse (text, 1, &v);
    placement_size_parse (text, 1024 * 1024, &v);
    placement_cpus_parse (text, &v);
    bool ok = placement_name_valid (text, why, sizeof why);
    S_CHECK (!ok || (strlen (text) <= 63 && text [0] >= 'a' && text [0] <= 'z'));
    return 0;
}
