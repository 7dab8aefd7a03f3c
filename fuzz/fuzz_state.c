/*
 * fuzz_state.c - state messages (state_msg.h) from arbitrary bytes, applied
 * to a store.
 *
 * Every input is decoded as a state message; whatever decodes is fed to a
 * small store the way the links actor would: DELTA and PUSH applied, DIGEST
 * answered with a DELTA (which is then encoded, as if sent). Then the store
 * computes its own digest, a delta against an empty peer and a tick, so the
 * fuzzer also reaches the store's bookkeeping after hostile input (floors,
 * resets, records claiming our origin, huge versions). Seeds in
 * corpus/state/ are real encoded DIGEST, DELTA and PUSH messages.
 */
#include "cluster/state.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput (const uint8_t *data, size_t size);

static int64_t
s_clock (void *arg)
{
    return 1000;
}

static void
s_send (state_msg_t *msg)
{
    uint8_t *buf = NULL;
    size_t len = 0;
    if (wire_encode (&state_proto, msg, &buf, &len) == 0 && len > STATE_FRAME_MAX)
        abort (); /* a reply must fit a frame */
    free (buf);
    state_msg_free (msg);
}

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
    if (size > STATE_FRAME_MAX)
        return 0; /* the links actor drops these unread */
    state_msg_t msg;
    const char *field = "";
    if (wire_decode (&state_proto, data, size, &msg, &field) != 0)
        return 0;

    char err[128];
    state_t *st = state_new ("me", NULL, err, sizeof err);
    if (!st)
        abort ();
    state_set_clock (st, s_clock, NULL);
    state_set_tombstone_ttl (st, 1);
    state_put (st, "service", "web", "v", 1);
    state_put (st, "node", "me", "cap", 3);
    state_delete (st, "service", "web");

    state_msg_t out;
    if (msg.hdr.type == STATE_DIGEST) {
        if (state_delta (st, &msg.u.state_digest, 4096, &out) == 1)
            s_send (&out);
        else
            state_msg_free (&out);
    }
    else
        state_apply (st, &msg); /* DELTA, PUSH; SNAPSHOT refused */
    state_msg_free (&msg);

    state_digest (st, true, &out);
    state_msg_t empty;
    memset (&empty, 0, sizeof empty);
    snprintf (empty.u.state_digest.from, sizeof empty.u.state_digest.from, "peer");
    state_msg_t delta;
    if (state_delta (st, &empty.u.state_digest, 0, &delta) == 1)
        s_send (&delta);
    else
        state_msg_free (&delta);
    s_send (&out);
    state_tick (st);
    state_destroy (&st);
    return 0;
}
