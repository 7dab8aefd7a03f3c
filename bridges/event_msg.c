/* event_msg.c - see event_msg.h. The codec itself is generated from the
 * tables; this file adds the one-frame layout and the topic rules. */
#include "bridges/event_msg.h"

#include <string.h>
#include <sys/time.h>

static int s_validate (uint16_t type, const void *body, const char **why);

WIRE_DEFINE_RECORD (event_item, 0, EVENT_ITEM_FIELDS)
WIRE_DEFINE_PROTO (event, EVENT_MESSAGES, EVENT_VERSION_MIN, EVENT_VERSION, s_validate)
WIRE_DEFINE_PROTO (evpay, EVPAY_MESSAGES, EVENT_VERSION_MIN, EVPAY_VERSION, NULL)

static bool
s_printable (const char *s, size_t max)
{
    size_t n = strnlen (s, max + 1);
    if (n == 0 || n > max)
        return false;
    for (size_t i = 0; i < n; i++)
        if ((unsigned char) s[i] < 0x21 || (unsigned char) s[i] > 0x7e)
            return false;
    return true;
}

bool
event_topic_valid (const char *topic)
{
    return topic && topic[0] != EVENT_CTL_CHAR && s_printable (topic, EVENT_TOPIC_MAX);
}

bool
event_node_valid (const char *node)
{
    if (!node)
        return false;
    size_t n = strnlen (node, EVENT_NODE_MAX + 1);
    if (n == 0 || n > EVENT_NODE_MAX)
        return false;
    for (size_t i = 0; i < n; i++) {
        char c = node[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-'
              || c == '_'))
            return false;
    }
    return true;
}

bool
event_topic_is_state (const char *topic)
{
    static const char *const prefixes[] = { "metrics.", "shed.", "member.", "service." };
    for (size_t i = 0; i < sizeof prefixes / sizeof prefixes[0]; i++)
        if (strncmp (topic, prefixes[i], strlen (prefixes[i])) == 0)
            return true;
    return false;
}

int64_t
event_now_us (void)
{
    struct timeval tv;
    gettimeofday (&tv, NULL);
    return (int64_t) tv.tv_sec * 1000000 + tv.tv_usec;
}

/* Semantic checks run by the generic codec after decode and before encode,
 * so we never emit, nor accept, an event a consumer could not attribute. */
static int
s_validate (uint16_t type, const void *body, const char **why)
{
    if (type == EVENT_EVENT) {
        const event_event_t *ev = (const event_event_t *) body;
        if (!event_node_valid (ev->origin)) {
            *why = "origin";
            return -1;
        }
        if (ev->seq == 0) {
            *why = "seq";
            return -1;
        }
        if (ev->topic[0] && !event_topic_valid (ev->topic)) {
            *why = "topic";
            return -1;
        }
        if (ev->kind[0] && !s_printable (ev->kind, EVENT_KIND_MAX)) {
            *why = "kind";
            return -1;
        }
    }
    else if (type == EVENT_BATCH) {
        const event_batch_t *b = (const event_batch_t *) body;
        if (!event_node_valid (b->origin)) {
            *why = "origin";
            return -1;
        }
        if (b->kind[0] && !s_printable (b->kind, EVENT_KIND_MAX)) {
            *why = "kind";
            return -1;
        }
        if (b->items.n == 0 || b->items.n > EVENT_BATCH_MAX) {
            *why = "items";
            return -1;
        }
        /* Items' seq rules depend on the version: event_frame_encode and
         * event_frame_decode check them (s_items_to_wire / _from_wire). */
    }
    return 0;
}

/* A batch's items as the wire carries them at `version` (into out[n]):
 * values (version 2) or deltas from the item before (version 3). Refuses
 * seq 0, and from version 3 seqs that do not strictly increase (the only
 * ones a delta >= 1 can carry). Payloads are shared, not copied. */
static int
s_items_to_wire (uint16_t version, const event_item_t *in, size_t n, event_item_t *out)
{
    uint64_t pseq = 0, ptseq = 0, ptime = 0;
    for (size_t i = 0; i < n; i++) {
        const event_item_t *x = &in[i];
        event_item_t *w = &out[i];
        if (x->seq == 0)
            return WIRE_ERR_INVALID;
        *w = *x;
        w->dseq = w->dtseq = 0;
        w->dtime = 0;
        if (version < EVENT_VERSION_BATCH_DELTA)
            continue;
        if (x->seq <= pseq)
            return WIRE_ERR_INVALID;
        w->dseq = x->seq - pseq;
        w->dtseq = x->tseq - ptseq;                           /* modulo 2^64 */
        w->dtime = (int64_t) ((uint64_t) x->time_us - ptime); /* modulo 2^64 */
        w->seq = w->tseq = 0;
        w->time_us = 0;
        pseq = x->seq;
        ptseq = x->tseq;
        ptime = (uint64_t) x->time_us;
    }
    return WIRE_OK;
}

/* The reverse, in place, for a decoded batch: every item gets its values
 * (seq >= 1; from version 3 the sums of the deltas, seq without wrapping)
 * and its d* fields 0. Returns WIRE_OK or WIRE_ERR_INVALID. */
static int
s_items_from_wire (uint16_t version, event_item_t *items, size_t n)
{
    uint64_t pseq = 0, ptseq = 0, ptime = 0;
    for (size_t i = 0; i < n; i++) {
        event_item_t *x = &items[i];
        if (version >= EVENT_VERSION_BATCH_DELTA) {
            if (x->dseq == 0 || __builtin_add_overflow (pseq, x->dseq, &pseq))
                return WIRE_ERR_INVALID;
            ptseq += x->dtseq;
            ptime += (uint64_t) x->dtime;
            x->seq = pseq;
            x->tseq = ptseq;
            x->time_us = (int64_t) ptime;
        }
        else if (x->seq == 0)
            return WIRE_ERR_INVALID;
        x->dseq = x->dtseq = 0;
        x->dtime = 0;
    }
    return WIRE_OK;
}

long
event_frame_encode (const char *route, const event_msg_t *msg, uint8_t *buf, size_t cap)
{
    size_t rlen = route ? strnlen (route, EVENT_TOPIC_MAX + 1) : 0;
    if (rlen == 0 || rlen > EVENT_TOPIC_MAX || memchr (route, 0, rlen))
        return WIRE_ERR_INVALID;
    if (cap < rlen + 1)
        return WIRE_ERR_TOO_BIG;
    memcpy (buf, route, rlen);
    buf[rlen] = 0;
    size_t blen = 0;
    int rc;
    if (msg->hdr.type == EVENT_BATCH) {
        /* The items as this version carries them, in a copy. */
        const event_batch_t *b = &msg->u.event_batch;
        if (b->items.n == 0 || b->items.n > EVENT_BATCH_MAX || !b->items.items)
            return WIRE_ERR_INVALID;
        event_item_t items[EVENT_BATCH_MAX];
        event_msg_t m = *msg;
        if (m.hdr.version == 0)
            m.hdr.version = EVENT_VERSION;
        rc = s_items_to_wire (m.hdr.version, b->items.items, b->items.n, items);
        if (rc)
            return rc;
        m.u.event_batch.items.items = items;
        rc = wire_encode_into (&event_proto, &m, buf + rlen + 1, cap - rlen - 1, &blen);
    }
    else
        rc = wire_encode_into (&event_proto, msg, buf + rlen + 1, cap - rlen - 1, &blen);
    if (rc)
        return rc;
    return (long) (rlen + 1 + blen);
}

int
event_frame_split (const uint8_t *frame, size_t len, const char **route, const uint8_t **body,
                   size_t *body_len)
{
    size_t scan = len < EVENT_TOPIC_MAX + 1 ? len : EVENT_TOPIC_MAX + 1;
    const uint8_t *nul = frame ? memchr (frame, 0, scan) : NULL;
    if (!nul || nul == frame)
        return -1;
    *route = (const char *) frame;
    *body = nul + 1;
    *body_len = len - (size_t) (nul + 1 - frame);
    return 0;
}

int
event_frame_decode (const uint8_t *frame, size_t len, const char **route, event_msg_t *msg)
{
    const uint8_t *body;
    size_t body_len;
    if (event_frame_split (frame, len, route, &body, &body_len)) {
        memset (msg, 0, sizeof *msg);
        return WIRE_ERR_MALFORMED;
    }
    int rc = wire_decode (&event_proto, body, body_len, msg, NULL);
    if (rc)
        return rc;
    if (msg->hdr.type == EVENT_BATCH
        && ((*route)[0] == EVENT_CTL_CHAR || !event_topic_valid (*route)
            || s_items_from_wire (msg->hdr.version, msg->u.event_batch.items.items,
                                  msg->u.event_batch.items.n))) {
        /* A batch is live events only: its route is their topic. */
        wire_msg_free (&event_proto, msg);
        return WIRE_ERR_INVALID;
    }
    if (msg->hdr.type == EVENT_EVENT && (*route)[0] != EVENT_CTL_CHAR) {
        /* A live event: its route is its topic, which must be valid and
         * must not disagree with an explicit topic field. */
        event_event_t *ev = &msg->u.event_event;
        if (!event_topic_valid (*route) || (ev->topic[0] && strcmp (ev->topic, *route) != 0)) {
            wire_msg_free (&event_proto, msg);
            return WIRE_ERR_INVALID;
        }
        strcpy (ev->topic, *route);
    }
    return 0;
}

/* ------------------------------------------------------------------------ */
/*  EVENT_BATCH, encoded directly                                           */
/* ------------------------------------------------------------------------ */

/* msgpack's smallest forms, as msgpack-c writes them (the generic encoder's
 * output byte for byte: event_msg_test compares the two). The caller
 * reserved room: each writes at most 9 bytes. */
static uint8_t *
s_put_be (uint8_t *w, uint8_t tag, uint64_t v, size_t n)
{
    *w++ = tag;
    for (size_t i = n; i-- > 0;)
        *w++ = (uint8_t) (v >> (i * 8));
    return w;
}

static uint8_t *
s_put_uint (uint8_t *w, uint64_t v)
{
    if (v < 128) {
        *w = (uint8_t) v;
        return w + 1;
    }
    if (v < 256)
        return s_put_be (w, 0xcc, v, 1);
    if (v < 65536)
        return s_put_be (w, 0xcd, v, 2);
    if (v <= UINT32_MAX)
        return s_put_be (w, 0xce, v, 4);
    return s_put_be (w, 0xcf, v, 8);
}

static uint8_t *
s_put_int (uint8_t *w, int64_t v)
{
    if (v >= -32)
        return v < 128 ? (*w = (uint8_t) v, w + 1) : s_put_uint (w, (uint64_t) v);
    if (v >= -128)
        return s_put_be (w, 0xd0, (uint64_t) v, 1);
    if (v >= -32768)
        return s_put_be (w, 0xd1, (uint64_t) v, 2);
    if (v >= INT32_MIN)
        return s_put_be (w, 0xd2, (uint64_t) v, 4);
    return s_put_be (w, 0xd3, (uint64_t) v, 8);
}

/* A str or bin header and its bytes (strings here are < 256 bytes). */
static uint8_t *
s_put_bytes (uint8_t *w, bool bin, const void *data, size_t n)
{
    if (!bin && n < 32)
        *w++ = (uint8_t) (0xa0 | n);
    else if (n < 256)
        w = s_put_be (w, bin ? 0xc4 : 0xd9, n, 1);
    else if (n < 65536)
        w = s_put_be (w, bin ? 0xc5 : 0xda, n, 2);
    else
        w = s_put_be (w, bin ? 0xc6 : 0xdb, n, 4);
    if (n)
        memcpy (w, data, n);
    return w + n;
}

/* Version-2 items, the values themselves (what version-2 buses wrote):
 * 0 seq, [1 tseq], 2 time_us (always: a version-2 reader's table requires
 * it), [3 payload]. */
static uint8_t *
s_put_items_v2 (uint8_t *w, const event_item_t *items, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        const event_item_t *it = &items[i];
        bool tseq = it->tseq != 0, payload = it->payload.len != 0;
        *w++ = (uint8_t) (0x80 | (2 + tseq + payload));
        *w++ = 0;
        w = s_put_uint (w, it->seq);
        if (tseq) {
            *w++ = 1;
            w = s_put_uint (w, it->tseq);
        }
        *w++ = 2;
        w = s_put_int (w, it->time_us);
        if (payload) {
            *w++ = 3;
            w = s_put_bytes (w, true, it->payload.data, it->payload.len);
        }
    }
    return w;
}

long
event_batch_encode (const char *route, const event_batch_t *b, uint16_t version, uint8_t *buf,
                    size_t cap)
{
    size_t rlen = route ? strnlen (route, EVENT_TOPIC_MAX + 1) : 0;
    if (rlen == 0 || rlen > EVENT_TOPIC_MAX || version < EVENT_VERSION_BATCH
        || version > EVENT_VERSION)
        return WIRE_ERR_INVALID;
    bool delta = version >= EVENT_VERSION_BATCH_DELTA;
    /* What the generic encoder's checks and s_validate refuse. */
    size_t ol = strnlen (b->origin, sizeof b->origin);
    size_t kl = strnlen (b->kind, sizeof b->kind);
    if (!event_node_valid (b->origin) || kl > EVENT_KIND_MAX
        || (kl && !s_printable (b->kind, EVENT_KIND_MAX)) || b->items.n == 0
        || b->items.n > EVENT_BATCH_MAX)
        return WIRE_ERR_INVALID;
    const event_item_t *items = b->items.items;
    /* Bound the size first: route, envelope (< 128 bytes with origin and
     * kind), then per item 4 keys, 3 integers and a bin header (< 48). */
    size_t need = rlen + 1 + 128 + ol + kl;
    for (size_t i = 0; i < b->items.n; i++) {
        /* Deltas carry strictly increasing seqs (>= 1) only. */
        if (items[i].seq <= (delta && i ? items[i - 1].seq : 0)
            || items[i].payload.len > EVENT_BATCH_ITEM_MAX)
            return WIRE_ERR_INVALID;
        need += 48 + items[i].payload.len;
    }
    if (need > cap)
        return WIRE_ERR_TOO_BIG;
    uint8_t *w = buf;
    memcpy (w, route, rlen);
    w += rlen;
    *w++ = 0;
    *w++ = (uint8_t) (0x80 | (kl ? 6 : 5)); /* version, type, origin, boot, [kind], items */
    *w++ = WIRE_KEY_VERSION;
    w = s_put_uint (w, version);
    *w++ = WIRE_KEY_TYPE;
    w = s_put_uint (w, EVENT_BATCH);
    *w++ = 2;
    w = s_put_bytes (w, false, b->origin, ol);
    *w++ = 3;
    w = s_put_uint (w, b->boot);
    if (kl) {
        *w++ = 7;
        w = s_put_bytes (w, false, b->kind, kl);
    }
    *w++ = 10;
    w = b->items.n < 16 ? (*w = (uint8_t) (0x90 | b->items.n), w + 1)
                        : s_put_be (w, 0xdc, b->items.n, 2);
    if (!delta)
        return (long) (s_put_items_v2 (w, items, b->items.n) - buf);
    /* Items as deltas from the one before (s_items_to_wire's), keys in
     * table order: [3 payload], 4 dseq, [5 dtseq], [6 dtime]. */
    uint64_t pseq = 0, ptseq = 0, ptime = 0;
    for (size_t i = 0; i < b->items.n; i++) {
        const event_item_t *it = &items[i];
        uint64_t dseq = it->seq - pseq, dtseq = it->tseq - ptseq;
        int64_t dtime = (int64_t) ((uint64_t) it->time_us - ptime);
        pseq = it->seq;
        ptseq = it->tseq;
        ptime = (uint64_t) it->time_us;
        bool payload = it->payload.len != 0;
        *w++ = (uint8_t) (0x80 | (1 + payload + (dtseq != 0) + (dtime != 0)));
        if (payload) {
            *w++ = 3;
            w = s_put_bytes (w, true, it->payload.data, it->payload.len);
        }
        *w++ = 4;
        w = s_put_uint (w, dseq);
        if (dtseq) {
            *w++ = 5;
            w = s_put_uint (w, dtseq);
        }
        if (dtime) {
            *w++ = 6;
            w = s_put_int (w, dtime);
        }
    }
    return (long) (w - buf);
}
