/*
 * fuzz_event.c - libFuzzer target for event bus frames (bridges/event_msg.h).
 *
 * Decodes arbitrary bytes as one bus frame (route NUL msgpack body), the
 * way a bus reads a peer's publisher and a client reads its node. Whatever
 * decodes must re-encode under the same route and decode again to the same
 * bytes; failures must leave nothing allocated (ASan checks).
 *
 * The same bytes go through the in-place reader the hot paths use
 * (event_frame_peek, event_batch_next): it must stay inside the frame, a
 * batch it accepts must walk exactly `nitems` valid items, and where both
 * readers accept a frame they must agree field by field.
 *
 * A batch that decodes (version 2: values, or 3: deltas) and whose seqs
 * strictly increase is encoded again at the current version by
 * event_batch_encode (the bus's direct encoder) and by the generic
 * encoder: the same bytes, which decode to the same values. Any batch
 * that decodes is also encoded by event_batch_encode at version 2 (what
 * the bus sends while a member reads no later): the generic encoder's
 * bytes when no time_us is 0 (the direct one writes a 0 too), and the
 * same values read back.
 *
 * And the agent host's fast LOG decoder (agent_log_decode_fast, the hot
 * path of every agent event): the same bytes read as an agent LOG payload;
 * whatever it accepts, the full decoder (wire_decode + validator) must
 * accept too, with the same fields.
 */
#include "agent/proto/agent_proto.h"
#include "bridges/event_msg.h"

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput (const uint8_t *data, size_t size);

#define S_CHECK(cond)                                                                              \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            fprintf (stderr, "fuzz_event: check failed: %s (line %d)\n", #cond, __LINE__);         \
            abort ();                                                                              \
        }                                                                                          \
    } while (0)

/* The in-place reader; returns 0 if it accepted the frame. */
static int
s_peek (const uint8_t *data, size_t size, event_peek_t *pk)
{
    if (event_frame_peek (data, size, pk) != 0)
        return -1;
    const uint8_t *end = data + size;
    S_CHECK ((const uint8_t *) pk->route >= data && (const uint8_t *) pk->route < end);
    S_CHECK (pk->kind_len <= EVENT_KIND_MAX);
    if (pk->kind_len)
        S_CHECK ((const uint8_t *) pk->kind >= data
                 && (const uint8_t *) pk->kind + pk->kind_len <= end);
    if (pk->payload)
        S_CHECK (pk->payload >= data && pk->payload + pk->payload_len <= end);
    if (pk->type == EVENT_EVENT)
        S_CHECK (pk->seq > 0 && event_node_valid (pk->origin));
    if (pk->type != EVENT_BATCH) {
        S_CHECK (pk->items == NULL && pk->nitems == 0);
        return 0;
    }
    S_CHECK (event_node_valid (pk->origin) && !pk->has_topic);
    S_CHECK (pk->nitems >= 1 && pk->nitems <= EVENT_BATCH_MAX);
    S_CHECK (pk->items >= data && pk->items_end <= end && pk->items < pk->items_end);
    event_batch_pos_t pos;
    event_batch_start (pk, &pos);
    event_item_view_t it;
    uint32_t n = 0;
    uint64_t prev = 0;
    while (event_batch_next (pk, &pos, &it) == 0) {
        S_CHECK (it.seq > 0);
        /* Delta-coded seqs (version 3) strictly increase. */
        if (pk->version >= EVENT_VERSION_BATCH_DELTA)
            S_CHECK (it.seq > prev);
        prev = it.seq;
        S_CHECK (it.payload_len <= EVENT_BATCH_ITEM_MAX);
        if (it.payload_len)
            S_CHECK (it.payload >= data && it.payload + it.payload_len <= end);
        n++;
    }
    S_CHECK (n == pk->nitems && pos.p == pk->items_end);
    return 0;
}

/* Both readers accepted the frame: the same envelope, item by item. */
static void
s_agree (const event_peek_t *pk, const event_msg_t *m)
{
    if (m->hdr.type != pk->type)
        return; /* e.g. a control route: peek reads only the body */
    if (m->hdr.type == EVENT_EVENT) {
        const event_event_t *e = &m->u.event_event;
        S_CHECK (strcmp (e->origin, pk->origin) == 0);
        S_CHECK (e->boot == pk->boot && e->seq == pk->seq && e->tseq == pk->tseq);
        S_CHECK (e->payload.len == pk->payload_len);
        if (e->payload.len)
            S_CHECK (memcmp (e->payload.data, pk->payload, e->payload.len) == 0);
    }
    if (m->hdr.type == EVENT_BATCH) {
        const event_batch_t *b = &m->u.event_batch;
        S_CHECK (strcmp (b->origin, pk->origin) == 0 && b->boot == pk->boot);
        S_CHECK (b->items.n == pk->nitems);
        event_batch_pos_t pos;
        event_batch_start (pk, &pos);
        event_item_view_t it;
        for (size_t i = 0; i < b->items.n; i++) {
            S_CHECK (event_batch_next (pk, &pos, &it) == 0);
            const event_item_t *x = &b->items.items[i];
            S_CHECK (x->seq == it.seq && x->tseq == it.tseq && x->time_us == it.time_us);
            S_CHECK (x->dseq == 0 && x->dtseq == 0 && x->dtime == 0); /* values only */
            S_CHECK (x->payload.len == it.payload_len);
            if (it.payload_len)
                S_CHECK (memcmp (x->payload.data, it.payload, it.payload_len) == 0);
        }
    }
}

static void
s_agent_log (const uint8_t *data, size_t size)
{
    static agent_msg_t fast, full; /* 4 KiB each: not on the stack */
    if (!agent_log_decode_fast (data, size, &fast))
        return;
    S_CHECK (wire_decode (&agent_proto, data, size, &full, NULL) == WIRE_OK);
    S_CHECK (full.hdr.type == AGENT_LOG && fast.hdr.type == AGENT_LOG);
    S_CHECK (full.hdr.version == fast.hdr.version);
    const agent_log_t *a = &fast.u.agent_log, *b = &full.u.agent_log;
    S_CHECK (strcmp (a->stream, b->stream) == 0 && strcmp (a->text, b->text) == 0);
    S_CHECK (a->seq == b->seq && a->ts_ms == b->ts_ms && a->partial == b->partial);
    wire_msg_free (&agent_proto, &full);
}

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
    s_agent_log (data, size);
    event_peek_t pk;
    bool peeked = s_peek (data, size, &pk) == 0;
    event_msg_t m;
    const char *route = NULL;
    if (event_frame_decode (data, size, &route, &m) != 0)
        return 0;
    if (peeked)
        s_agree (&pk, &m);
    S_CHECK (route != NULL && route[0] != 0);
    char r[EVENT_TOPIC_MAX + 1];
    snprintf (r, sizeof r, "%s", route);
    if (m.hdr.type == EVENT_EVENT && r[0] != EVENT_CTL_CHAR) {
        S_CHECK (event_topic_valid (m.u.event_event.topic));
        S_CHECK (strcmp (m.u.event_event.topic, r) == 0);
        S_CHECK (m.u.event_event.seq > 0);
    }
    if (m.hdr.type == EVENT_BATCH) {
        /* Live events only, under their topic. */
        S_CHECK (event_topic_valid (r));
        S_CHECK (m.u.event_batch.items.n >= 1 && m.u.event_batch.items.n <= EVENT_BATCH_MAX);
        for (size_t i = 0; i < m.u.event_batch.items.n; i++)
            S_CHECK (m.u.event_batch.items.items[i].seq > 0);
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
    if (m.hdr.type == EVENT_BATCH) {
        const event_batch_t *b = &m.u.event_batch;
        bool rising = true;
        for (size_t i = 1; i < b->items.n; i++)
            rising = rising && b->items.items[i].seq > b->items.items[i - 1].seq;
        /* Version 3 holds rising seqs only; a version-2 batch may not. */
        S_CHECK (rising || m.hdr.version < EVENT_VERSION_BATCH_DELTA);
        if (rising) {
            /* The bus's direct batch encoder: the generic encoder's bytes
             * at the current version, whatever version came in. */
            size_t cap3 = (size_t) l1 + EVENT_BATCH_MAX * 48 + 512;
            uint8_t *three = malloc (cap3), *four = malloc (cap3);
            S_CHECK (three && four);
            event_msg_t cur = m;
            cur.hdr.version = EVENT_VERSION;
            long l3 = event_batch_encode (r, b, EVENT_VERSION, three, cap3);
            S_CHECK (l3 > 0 && event_frame_encode (r, &cur, four, cap3) == l3);
            S_CHECK (memcmp (three, four, (size_t) l3) == 0);
            if (m.hdr.version == EVENT_VERSION)
                S_CHECK (l3 == l1 && memcmp (one, three, (size_t) l1) == 0);
            event_msg_t back;
            const char *route3;
            S_CHECK (event_frame_decode (three, (size_t) l3, &route3, &back) == 0);
            S_CHECK (back.hdr.version == EVENT_VERSION && back.u.event_batch.items.n == b->items.n);
            for (size_t i = 0; i < b->items.n; i++) {
                const event_item_t *x = &b->items.items[i], *y = &back.u.event_batch.items.items[i];
                S_CHECK (x->seq == y->seq && x->tseq == y->tseq && x->time_us == y->time_us);
                S_CHECK (x->payload.len == y->payload.len);
            }
            wire_msg_free (&event_proto, &back);
            free (three);
            free (four);
        }
        /* Version 2, rising or not. */
        size_t cap2 = (size_t) l1 + EVENT_BATCH_MAX * 48 + 512;
        uint8_t *five = malloc (cap2), *six = malloc (cap2);
        S_CHECK (five && six);
        event_msg_t old = m;
        old.hdr.version = EVENT_VERSION_BATCH;
        long l5 = event_batch_encode (r, b, EVENT_VERSION_BATCH, five, cap2);
        long l6 = event_frame_encode (r, &old, six, cap2);
        S_CHECK (l5 > 0 && l6 > 0 && l5 >= l6);
        bool zero_time = false;
        for (size_t i = 0; i < b->items.n; i++)
            zero_time = zero_time || b->items.items[i].time_us == 0;
        S_CHECK (zero_time || (l5 == l6 && memcmp (five, six, (size_t) l5) == 0));
        event_msg_t back2;
        const char *route5;
        S_CHECK (event_frame_decode (five, (size_t) l5, &route5, &back2) == 0);
        S_CHECK (back2.hdr.version == EVENT_VERSION_BATCH
                 && back2.u.event_batch.items.n == b->items.n);
        for (size_t i = 0; i < b->items.n; i++) {
            const event_item_t *x = &b->items.items[i], *y = &back2.u.event_batch.items.items[i];
            S_CHECK (x->seq == y->seq && x->tseq == y->tseq && x->time_us == y->time_us);
            S_CHECK (x->payload.len == y->payload.len);
        }
        wire_msg_free (&event_proto, &back2);
        free (five);
        free (six);
    }
    wire_msg_free (&event_proto, &again);
    wire_msg_free (&event_proto, &m);
    free (one);
    free (two);
    return 0;
}
