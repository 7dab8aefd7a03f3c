/*
 * fuzz_sched.c - libFuzzer target for the scheduling protocol a node serves
 * over node RPC (node_sched.h: NSCHED_RESERVE, _RESERVE_REP, _RELEASE,
 * _CLAIM, _RESULT, _OP) and the text parsers the CLI/API feed from users.
 *
 * The input is decoded as an nsched message, the decoder every peer's
 * request goes through (sched_serve.c); whatever decodes must re-encode and
 * decode again to the same type. A decoded CLAIM is admitted against an
 * admitter of zero capacity (what the target does first): it can only be
 * refused unless it asks for nothing. A RESULT's shed blob goes through the
 * record decoder as the creating node does. The same bytes, as text, go
 * through the constraint, size, cpu and name parsers: nothing may crash,
 * leak, or overcommit silently.
 *
 * Seeds (fuzz/corpus/sched/): one message of each type written by the live
 * encoder (wire_encode of nsched_proto: reserve, reserve_rep, release,
 * claim, result, op) and a few texts (constraint, name, size).
 */
#include "cluster/placement.h"
#include "cluster/records.h"
#include "cluster/sched_admit.h"
#include "node/sched/node_sched.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput (const uint8_t *data, size_t size);

#define S_CHECK(cond)                                                                              \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            fprintf (stderr, "fuzz_sched: check failed: %s (line %d)\n", #cond, __LINE__);         \
            abort ();                                                                              \
        }                                                                                          \
    } while (0)

#define S_MIB (1024ull * 1024ull)

static void
s_claim (const nsched_claim_t *c)
{
    sched_capacity_t cap;
    memset (&cap, 0, sizeof cap);
    sched_admit_t *a = sched_admit_new (&cap);
    S_CHECK (a);
    /* The target's units (sched_serve.c): millicpus and MiB on the wire. */
    place_resources_t need = { { c->cpus_milli, c->memory_mb * S_MIB, c->disk_mb * S_MIB,
                                 c->gpus } };
    char why[256];
    int rc = sched_admit_claim (a, c->request_id, c->name, &need, why, sizeof why);
    S_CHECK (rc != SCHED_ADMIT_OK || (need.v[0] | need.v[1] | need.v[2] | need.v[3]) == 0);
    sched_admit_destroy (&a);
}

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
    nsched_msg_t m;
    const char *field = NULL;
    if (wire_decode (&nsched_proto, data, size, &m, &field) == WIRE_OK) {
        uint8_t *out = NULL;
        size_t len = 0;
        S_CHECK (wire_encode (&nsched_proto, &m, &out, &len) == WIRE_OK);
        nsched_msg_t again;
        S_CHECK (wire_decode (&nsched_proto, out, len, &again, &field) == WIRE_OK);
        S_CHECK (again.hdr.type == m.hdr.type);
        wire_msg_free (&nsched_proto, &again);
        free (out);
        if (m.hdr.type == NSCHED_CLAIM)
            s_claim (&m.u.nsched_claim);
        if (m.hdr.type == NSCHED_RESULT && m.u.nsched_result.shed.len) {
            rec_msg_t rec;
            memset (&rec, 0, sizeof rec);
            wire_decode (&rec_proto, m.u.nsched_result.shed.data, m.u.nsched_result.shed.len, &rec,
                         NULL);
            wire_msg_free (&rec_proto, &rec); /* as s_sheds_add: after either outcome */
        }
        wire_msg_free (&nsched_proto, &m);
    }

    char text[300];
    size_t n = size < sizeof text - 1 ? size : sizeof text - 1;
    memcpy (text, data, n);
    text[n] = '\0';
    place_constraint_t c;
    char why[256];
    uint64_t v;
    placement_constraint_parse (text, &c, why, sizeof why);
    placement_size_parse (text, 1, &v);
    placement_size_parse (text, 1024 * 1024, &v);
    placement_cpus_parse (text, &v);
    bool ok = placement_name_valid (text, why, sizeof why);
    S_CHECK (!ok || (strlen (text) <= 63 && text[0] >= 'a' && text[0] <= 'z'));
    return 0;
}
