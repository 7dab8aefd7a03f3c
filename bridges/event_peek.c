/* event_peek.c - see event_msg.h: the envelope's routing fields and a
 * batch's items read in place, without a decode (the bus's hot path; the
 * generated codec in event_msg.c is the reference it must agree with,
 * which event_msg_test and fuzz_event check). */
#include "bridges/event_msg.h"

#include <string.h>

typedef struct {
    const uint8_t *p, *end;
} s_rd_t;

static int
s_rd_be (s_rd_t *r, size_t n, uint64_t *v)
{
    if ((size_t) (r->end - r->p) < n)
        return -1;
    *v = 0;
    for (size_t i = 0; i < n; i++)
        *v = *v << 8 | r->p[i];
    r->p += n;
    return 0;
}

/* One scalar: kind 'u' (unsigned, value in *v), 's' (str: *str, *v = len),
 * 'b' (bin), 'o' (other scalar, skipped). -1 on containers or truncation. */
static int
s_rd_value (s_rd_t *r, char *kind, uint64_t *v, const uint8_t **str)
{
    if (r->p >= r->end)
        return -1;
    uint8_t c = *r->p++;
    uint64_t n;
    *kind = 'o';
    *v = 0;
    if (c <= 0x7f) {
        *kind = 'u';
        *v = c;
        return 0;
    }
    if (c >= 0xe0) {
        *kind = 'i';
        *v = (uint64_t) (int64_t) (int8_t) c;
        return 0;
    }
    if ((c & 0xe0) == 0xa0) {
        n = c & 0x1f;
        goto str;
    }
    switch (c) {
    case 0xc0:
    case 0xc2:
    case 0xc3:
        return 0; /* nil, false, true */
    case 0xcc:
        *kind = 'u';
        return s_rd_be (r, 1, v);
    case 0xcd:
        *kind = 'u';
        return s_rd_be (r, 2, v);
    case 0xce:
        *kind = 'u';
        return s_rd_be (r, 4, v);
    case 0xcf:
        *kind = 'u';
        return s_rd_be (r, 8, v);
    case 0xd0:
        *kind = 'i';
        if (s_rd_be (r, 1, v))
            return -1;
        *v = (uint64_t) (int64_t) (int8_t) *v;
        return 0;
    case 0xd1:
        *kind = 'i';
        if (s_rd_be (r, 2, v))
            return -1;
        *v = (uint64_t) (int64_t) (int16_t) *v;
        return 0;
    case 0xd2:
        *kind = 'i';
        if (s_rd_be (r, 4, v))
            return -1;
        *v = (uint64_t) (int64_t) (int32_t) *v;
        return 0;
    case 0xd3:
        *kind = 'i';
        return s_rd_be (r, 8, v);
    case 0xca:
        return s_rd_be (r, 4, v);
    case 0xcb:
        return s_rd_be (r, 8, v);
    case 0xd9:
        if (s_rd_be (r, 1, &n))
            return -1;
        goto str;
    case 0xda:
        if (s_rd_be (r, 2, &n))
            return -1;
        goto str;
    case 0xdb:
        if (s_rd_be (r, 4, &n))
            return -1;
        goto str;
    case 0xc4:
        if (s_rd_be (r, 1, &n))
            return -1;
        goto bin;
    case 0xc5:
        if (s_rd_be (r, 2, &n))
            return -1;
        goto bin;
    case 0xc6:
        if (s_rd_be (r, 4, &n))
            return -1;
        goto bin;
    default:
        return -1; /* containers, ext */
    }
str:
    *kind = 's';
    goto body;
bin:
    *kind = 'b';
body:
    if ((uint64_t) (r->end - r->p) < n)
        return -1;
    *str = r->p;
    *v = n;
    r->p += n;
    return 0;
}

/* An unsigned integer in one of msgpack's unsigned forms at *p (< end);
 * advances *p. Returns false (nothing consumed) for anything else. */
static inline bool
s_fast_u (const uint8_t **p, const uint8_t *end, uint64_t *v)
{
    const uint8_t *q = *p;
    uint8_t c = *q++;
    size_t n;
    if (c <= 0x7f) {
        *v = c;
        *p = q;
        return true;
    }
    if (c < 0xcc || c > 0xcf)
        return false;
    n = (size_t) 1 << (c - 0xcc);
    if ((size_t) (end - q) < n)
        return false;
    uint64_t x = 0;
    for (size_t i = 0; i < n; i++)
        x = x << 8 | q[i];
    *v = x;
    *p = q + n;
    return true;
}

/* One batch item as it is on the wire: the version-2 values (keys 0-2)
 * and the version-3 deltas (keys 4-6), whichever are present (0 if not);
 * which count is the envelope's version's business. */
typedef struct {
    uint64_t seq, tseq, dseq, dtseq;
    int64_t time_us, dtime;
    const uint8_t *payload;
    size_t payload_len;
} s_item_t;

/* The forms the encoders write (keys in ascending order as fixints,
 * unsigned integers, a bin8/bin16 payload), read without the generic
 * scanner: every relay and consumer walks each item once or twice, so
 * this is per event on every hop. Returns 0, or -1 (nothing consumed)
 * when the item has another shape: the generic reader then decides. */
static int
s_peek_item_fast (s_rd_t *r, s_item_t *out)
{
    const uint8_t *p = r->p, *end = r->end;
    if (end - p < 3 || p[0] < 0x81 || p[0] > 0x84)
        return -1;
    size_t entries = p[0] & 0x0f;
    p++;
    uint64_t v[7] = { 0 };
    const uint8_t *payload = (const uint8_t *) "";
    size_t plen = 0;
    int last = -1;
    for (size_t i = 0; i < entries; i++) {
        if (end - p < 2 || *p > 6 || (int) *p <= last)
            return -1;
        int key = *p++;
        last = key;
        if (key != 3) {
            /* Unsigned only: negative times take the generic reader. */
            if (!s_fast_u (&p, end, &v[key]))
                return -1;
            continue;
        }
        if (*p == 0xc4 && end - p >= 2) {
            plen = p[1];
            p += 2;
        }
        else if (*p == 0xc5 && end - p >= 3) {
            plen = (size_t) p[1] << 8 | p[2];
            p += 3;
        }
        else
            return -1;
        if (plen > EVENT_BATCH_ITEM_MAX || (size_t) (end - p) < plen)
            return -1;
        payload = p;
        p += plen;
    }
    out->seq = v[0];
    out->tseq = v[1];
    out->time_us = (int64_t) v[2];
    out->dseq = v[4];
    out->dtseq = v[5];
    out->dtime = (int64_t) v[6];
    out->payload = payload;
    out->payload_len = plen;
    r->p = p;
    return 0;
}

/* One batch item: a map of scalars with a bounded payload (the seq rules
 * are the version's: s_peek_items). */
static int
s_peek_item (s_rd_t *r, s_item_t *out)
{
    if (s_peek_item_fast (r, out) == 0)
        return 0;
    uint64_t entries;
    if (r->p >= r->end)
        return -1;
    uint8_t c = *r->p++;
    if ((c & 0xf0) == 0x80)
        entries = c & 0x0f;
    else if (c == 0xde) {
        if (s_rd_be (r, 2, &entries))
            return -1;
    }
    else
        return -1;
    memset (out, 0, sizeof *out);
    out->payload = (const uint8_t *) "";
    for (uint64_t i = 0; i < entries; i++) {
        char kk, vk;
        uint64_t key, v;
        const uint8_t *str = NULL;
        if (s_rd_value (r, &kk, &key, &str) || kk != 'u' || s_rd_value (r, &vk, &v, &str))
            return -1;
        switch (key) {
        case 0:
        case 1:
        case 4:
        case 5:
            if (vk != 'u')
                return -1;
            *(key == 0   ? &out->seq
              : key == 1 ? &out->tseq
              : key == 4 ? &out->dseq
                         : &out->dtseq) = v;
            break;
        case 2:
        case 6:
            if (vk != 'u' && vk != 'i')
                return -1;
            *(key == 2 ? &out->time_us : &out->dtime) = (int64_t) v;
            break;
        case 3:
            if (vk != 'b' || v > EVENT_BATCH_ITEM_MAX)
                return -1;
            out->payload = str;
            out->payload_len = (size_t) v;
            break;
        default:
            break;
        }
    }
    return 0;
}

/* The items array of a batch: checks every item, notes where they are.
 * The envelope's version may come after it, so the seq rule of each
 * version is noted: *ok2, every seq >= 1 (version 2); *ok3, every delta
 * >= 1 and their sum within 64 bits (version 3). */
static int
s_peek_items (s_rd_t *r, event_peek_t *out, bool *ok2, bool *ok3)
{
    uint64_t n;
    if (r->p >= r->end)
        return -1;
    uint8_t c = *r->p++;
    if ((c & 0xf0) == 0x90)
        n = c & 0x0f;
    else if (c == 0xdc) {
        if (s_rd_be (r, 2, &n))
            return -1;
    }
    else
        return -1;
    if (n == 0 || n > EVENT_BATCH_MAX || out->items)
        return -1;
    out->items = r->p;
    uint64_t sum = 0;
    bool two = true, three = true;
    for (uint64_t i = 0; i < n; i++) {
        s_item_t item;
        if (s_peek_item (r, &item))
            return -1;
        two = two && item.seq != 0;
        three = three && item.dseq != 0 && !__builtin_add_overflow (sum, item.dseq, &sum);
    }
    out->items_end = r->p;
    out->nitems = (uint32_t) n;
    *ok2 = two;
    *ok3 = three;
    return 0;
}

void
event_batch_start (const event_peek_t *pk, event_batch_pos_t *pos)
{
    pos->p = pk ? pk->items : NULL;
    pos->seq = pos->tseq = 0;
    pos->time_us = 0;
}

int
event_batch_next (const event_peek_t *pk, event_batch_pos_t *pos, event_item_view_t *out)
{
    if (!pk || pk->type != EVENT_BATCH || !pos->p || pos->p >= pk->items_end)
        return -1;
    s_rd_t r = { pos->p, pk->items_end };
    s_item_t it;
    if (s_peek_item (&r, &it))
        return -1;
    pos->p = r.p;
    if (pk->version >= EVENT_VERSION_BATCH_DELTA) {
        /* Checked by the peek: no wrap of seq; the rest is modulo 2^64. */
        pos->seq += it.dseq;
        pos->tseq += it.dtseq;
        pos->time_us = (int64_t) ((uint64_t) pos->time_us + (uint64_t) it.dtime);
        out->seq = pos->seq;
        out->tseq = pos->tseq;
        out->time_us = pos->time_us;
    }
    else {
        out->seq = it.seq;
        out->tseq = it.tseq;
        out->time_us = it.time_us;
    }
    out->payload = it.payload;
    out->payload_len = it.payload_len;
    return 0;
}

int
event_frame_peek (const uint8_t *frame, size_t len, event_peek_t *out)
{
    const uint8_t *body;
    size_t body_len;
    if (event_frame_split (frame, len, &out->route, &body, &body_len))
        return -1;
    s_rd_t r = { body, body + body_len };
    uint64_t entries;
    if (r.p >= r.end)
        return -1;
    uint8_t c = *r.p++;
    if ((c & 0xf0) == 0x80)
        entries = c & 0x0f;
    else if (c == 0xde) {
        if (s_rd_be (&r, 2, &entries))
            return -1;
    }
    else
        return -1;
    out->type = 0;
    out->origin[0] = 0;
    out->boot = out->seq = out->tseq = 0;
    out->time_us = 0;
    out->kind = "";
    out->kind_len = 0;
    out->payload = NULL;
    out->payload_len = 0;
    out->has_topic = false;
    out->nitems = 0;
    out->items = out->items_end = NULL;
    out->version = 0;
    uint64_t version = 0;
    bool ok2 = false, ok3 = false; /* the items' seq rules, per version */
    for (uint64_t i = 0; i < entries; i++) {
        char kk, vk;
        uint64_t key, v;
        const uint8_t *str = NULL;
        if (s_rd_value (&r, &kk, &key, &str) || kk != 'u')
            return -1;
        if (key == 10 && r.p < r.end && ((*r.p & 0xf0) == 0x90 || *r.p == 0xdc)) {
            if (s_peek_items (&r, out, &ok2, &ok3))
                return -1;
            continue;
        }
        if (s_rd_value (&r, &vk, &v, &str))
            return -1;
        switch (key) {
        case 0:
            if (vk != 'u')
                return -1;
            version = v;
            break;
        case 1:
            if (vk != 'u' || v > 0xffff)
                return -1;
            out->type = (uint16_t) v;
            break;
        case 2:
            if (vk != 's' || v == 0 || v > EVENT_NODE_MAX)
                return -1;
            memcpy (out->origin, str, (size_t) v);
            out->origin[v] = 0;
            break;
        case 3:
            if (vk != 'u')
                return -1;
            out->boot = v;
            break;
        case 4:
            if (vk != 'u')
                return -1;
            out->seq = v;
            break;
        case 5:
            if (vk != 'u')
                return -1;
            out->tseq = v;
            break;
        case 6:
            if (vk != 'u' && vk != 'i')
                return -1;
            out->time_us = (int64_t) v;
            break;
        case 7:
            if (vk != 's' || v > EVENT_KIND_MAX)
                return -1;
            out->kind = (const char *) str;
            out->kind_len = (size_t) v;
            break;
        case 8:
            if (vk != 'b' || v > EVENT_PAYLOAD_MAX)
                return -1;
            out->payload = str;
            out->payload_len = (size_t) v;
            break;
        case 9:
            if (vk != 's')
                return -1;
            out->has_topic = v > 0;
            break;
        default:
            break;
        }
    }
    if (version < EVENT_VERSION_MIN || out->type == 0)
        return -1;
    out->version = version > 0xffff ? 0xffff : (uint16_t) version;
    if (out->type == EVENT_EVENT && (!event_node_valid (out->origin) || out->seq == 0))
        return -1;
    if (out->type == EVENT_BATCH
        && (!event_node_valid (out->origin) || out->nitems == 0 || out->has_topic))
        return -1;
    /* A batch of a later version may carry its items otherwise: refused
     * like the generic decoder refuses it, never read as this one's. */
    if (out->type == EVENT_BATCH
        && (version > EVENT_VERSION || !(version >= EVENT_VERSION_BATCH_DELTA ? ok3 : ok2)))
        return -1;
    if (out->type != EVENT_BATCH && out->items)
        return -1;
    return 0;
}
