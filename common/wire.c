/*
 * wire.c - the table-driven msgpack codec behind every shed protocol.
 *
 * Three parts, top to bottom:
 *
 *   1. The pre-scan: a small hand-written walk over raw msgpack bytes that
 *      proves the input is exactly one complete, sanely sized, shallow object
 *      before msgpack-c is allowed to look at it. msgpack-c 4.0's object
 *      unpacker reserves a container's declared size before it reads the
 *      elements, so without this walk a 6-byte input could make it allocate
 *      gigabytes. After the walk every declared count is backed by real
 *      elements, so what msgpack-c allocates is bounded by a small multiple
 *      of the input length.
 *   2. The decoder: msgpack_unpack_next() builds an object tree, and we copy
 *      it into the C struct by walking the message's field descriptor.
 *   3. The encoder, in wire_encode.c: it handles only our own structs,
 *      never input from a peer, so it lives apart from the two parts
 *      that face hostile bytes.
 *
 * Error-code policy for sizes (see docs/wire.md): a declared size that fits
 * the hard ceiling WIRE_MAX_DECLARED but not the bytes left is TRUNCATED (the
 * input was cut; that is what a short read or a clipped datagram looks like);
 * a declared size over the ceiling is TOO_BIG even if the bytes were there.
 */
#include "common/wire.h"
#include "common/wire_int.h"

#include <msgpack.h>

#include <assert.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

/* ------------------------------------------------------------------------ */
/*  1. Pre-scan over raw bytes                                              */
/* ------------------------------------------------------------------------ */

/* Big-endian read of `n` (1, 2, 4 or 8) bytes; the caller checked bounds. */
static uint64_t
s_be (const uint8_t *p, size_t n)
{
    uint64_t v = 0;
    for (size_t i = 0; i < n; i++)
        v = (v << 8) | p[i];
    return v;
}

/* Walk exactly one msgpack object at the start of buf[0..len) without
 * recursion and set *used to its size in bytes. Returns WIRE_OK,
 * WIRE_ERR_TRUNCATED (input ends inside the object), WIRE_ERR_MALFORMED
 * (the reserved byte 0xc1) or WIRE_ERR_TOO_BIG (declared size over the
 * ceiling, or nesting deeper than WIRE_MAX_DEPTH). */
static int
s_scan (const uint8_t *buf, size_t len, size_t *used)
{
    /* Items still expected in each open container; a map counts keys and
     * values separately, so a map of n pairs opens with 2n. */
    uint64_t open[WIRE_MAX_DEPTH];
    size_t depth = 0;
    size_t pos = 0;

    do {
        if (pos >= len)
            return WIRE_ERR_TRUNCATED;
        uint8_t b = buf[pos++];
        size_t width = 0;     /* bytes of the length/count field */
        uint64_t payload = 0; /* fixed payload bytes after the header */
        int container = 0;    /* 1 array, 2 map */
        uint64_t count = 0;   /* declared size: bytes, elements, pairs */

        if (b <= 0x7f || b >= 0xe0 || b == 0xc0 || b == 0xc2 || b == 0xc3)
            ; /* fixint, nil, bool */
        else if (b <= 0x8f) {
            container = 2;
            count = b & 0x0f;
        }
        else if (b <= 0x9f) {
            container = 1;
            count = b & 0x0f;
        }
        else if (b <= 0xbf)
            count = b & 0x1f; /* fixstr */
        else
            switch (b) {
            case 0xc1:
                return WIRE_ERR_MALFORMED; /* never used */
            case 0xc4:
            case 0xd9:
                width = 1;
                break; /* bin8, str8 */
            case 0xc5:
            case 0xda:
                width = 2;
                break;
            case 0xc6:
            case 0xdb:
                width = 4;
                break;
            case 0xc7:
                width = 1;
                payload = 1;
                break; /* ext: + type byte */
            case 0xc8:
                width = 2;
                payload = 1;
                break;
            case 0xc9:
                width = 4;
                payload = 1;
                break;
            case 0xca:
                payload = 4;
                break; /* float32 */
            case 0xcb:
                payload = 8;
                break; /* float64 */
            case 0xcc:
            case 0xd0:
                payload = 1;
                break;
            case 0xcd:
            case 0xd1:
                payload = 2;
                break;
            case 0xce:
            case 0xd2:
                payload = 4;
                break;
            case 0xcf:
            case 0xd3:
                payload = 8;
                break;
            case 0xd4:
                payload = 2;
                break; /* fixext 1..16 */
            case 0xd5:
                payload = 3;
                break;
            case 0xd6:
                payload = 5;
                break;
            case 0xd7:
                payload = 9;
                break;
            case 0xd8:
                payload = 17;
                break;
            case 0xdc:
                container = 1;
                width = 2;
                break;
            case 0xdd:
                container = 1;
                width = 4;
                break;
            case 0xde:
                container = 2;
                width = 2;
                break;
            case 0xdf:
                container = 2;
                width = 4;
                break;
            default:
                return WIRE_ERR_MALFORMED; /* unreachable */
            }
        if (width) {
            if (len - pos < width)
                return WIRE_ERR_TRUNCATED;
            count = s_be (buf + pos, width);
            pos += width;
        }
        if (count > WIRE_MAX_DECLARED)
            return WIRE_ERR_TOO_BIG;

        if (container) {
            if (depth == WIRE_MAX_DEPTH)
                return WIRE_ERR_TOO_BIG;
            uint64_t items = container == 2 ? 2 * count : count;
            /* Every element takes at least one byte. */
            if (items > len - pos)
                return WIRE_ERR_TRUNCATED;
            if (items > 0) {
                open[depth++] = items;
                continue; /* the elements come next */
            }
        }
        else {
            payload += count; /* str/bin/ext bytes (0 for scalars) */
            if (payload > len - pos)
                return WIRE_ERR_TRUNCATED;
            pos += (size_t) payload;
        }
        /* One value is complete: close every container it completes. */
        while (depth > 0 && --open[depth - 1] == 0)
            depth--;
    } while (depth > 0);

    *used = pos;
    return WIRE_OK;
}

/* Read a msgpack unsigned integer at buf[*pos]; the buffer was scanned.
 * Returns 1 and sets *v if it is one, else 0 (and leaves *pos alone). */
static int
s_raw_uint (const uint8_t *buf, size_t *pos, uint64_t *v)
{
    uint8_t b = buf[*pos];
    if (b <= 0x7f) {
        *v = b;
        *pos += 1;
        return 1;
    }
    if (b >= 0xcc && b <= 0xcf) {
        size_t n = (size_t) 1 << (b - 0xcc);
        *v = s_be (buf + *pos + 1, n);
        *pos += 1 + n;
        return 1;
    }
    /* Signed forms with non-negative values are still unsigned numbers. */
    if (b >= 0xd0 && b <= 0xd3) {
        size_t n = (size_t) 1 << (b - 0xd0);
        uint64_t raw = s_be (buf + *pos + 1, n);
        if (raw >> (8 * n - 1))
            return 0; /* negative */
        *v = raw;
        *pos += 1 + n;
        return 1;
    }
    return 0;
}

/* Scan the whole input, check it is one map and nothing after it, and read
 * the envelope. Shared by wire_peek and wire_decode. */
static int
s_envelope (const wire_proto_t *proto, const uint8_t *buf, size_t len, wire_hdr_t *hdr,
            const char **field)
{
    *field = "";
    memset (hdr, 0, sizeof *hdr);
    if (!buf)
        return len ? WIRE_ERR_MALFORMED : WIRE_ERR_TRUNCATED;

    size_t used = 0;
    int rc = s_scan (buf, len, &used);
    if (rc)
        return rc;
    if (used != len)
        return WIRE_ERR_MALFORMED; /* trailing bytes */

    uint8_t b = buf[0];
    size_t pos = 1;
    uint64_t pairs;
    if (b >= 0x80 && b <= 0x8f)
        pairs = b & 0x0f;
    else if (b == 0xde || b == 0xdf) {
        size_t width = b == 0xde ? 2 : 4;
        pairs = s_be (buf + 1, width);
        pos += width;
    }
    else
        return WIRE_ERR_MALFORMED; /* not a map */

    int have_version = 0, have_type = 0;
    uint64_t version = 0, type = 0;
    for (uint64_t i = 0; i < pairs; i++) {
        uint64_t key, value;
        size_t vpos = pos;
        if (s_raw_uint (buf, &vpos, &key) && (key == WIRE_KEY_VERSION || key == WIRE_KEY_TYPE)) {
            const char *name = key == WIRE_KEY_VERSION ? "version" : "type";
            int *have = key == WIRE_KEY_VERSION ? &have_version : &have_type;
            if (*have) {
                *field = name;
                return WIRE_ERR_MALFORMED; /* duplicate key */
            }
            if (!s_raw_uint (buf, &vpos, &value)) {
                *field = name;
                return WIRE_ERR_FIELD;
            }
            *have = 1;
            if (key == WIRE_KEY_VERSION)
                version = value;
            else
                type = value;
            pos = vpos;
            continue;
        }
        /* Any other key: skip it and its value (already proven sound). */
        for (int k = 0; k < 2; k++) {
            size_t n = 0;
            rc = s_scan (buf + pos, len - pos, &n);
            assert (rc == WIRE_OK);
            pos += n;
        }
    }
    if (!have_version) {
        *field = "version";
        return WIRE_ERR_MISSING;
    }
    if (!have_type) {
        *field = "type";
        return WIRE_ERR_MISSING;
    }
    hdr->version = version > UINT16_MAX ? UINT16_MAX : (uint16_t) version;
    hdr->type = type > UINT16_MAX ? UINT16_MAX : (uint16_t) type;
    if (version < proto->version_min || version > proto->version) {
        *field = "version";
        return WIRE_ERR_VERSION;
    }
    if (type > UINT16_MAX || !wire_proto_find (proto, (uint16_t) type)) {
        *field = "type";
        return WIRE_ERR_TYPE;
    }
    return WIRE_OK;
}

/* ------------------------------------------------------------------------ */
/*  Common helpers                                                          */
/* ------------------------------------------------------------------------ */

const wire_desc_t *
wire_proto_find (const wire_proto_t *proto, uint16_t type)
{
    assert (proto);
    for (size_t i = 0; i < proto->ndescs; i++)
        if (proto->descs[i]->type == type)
            return proto->descs[i];
    return NULL;
}

static void *
s_body (const wire_proto_t *proto, void *msg)
{
    return (uint8_t *) msg + proto->body_offset;
}

/* Free what decode allocated inside one record; leaves pointers NULL. */
static void
s_record_free (const wire_desc_t *desc, void *rec)
{
    for (size_t i = 0; i < desc->nfields; i++) {
        const wire_field_t *f = &desc->fields[i];
        void *slot = (uint8_t *) rec + f->offset;
        if (f->kind == WIRE_BLOB) {
            wire_blob_t *blob = slot;
            free (blob->data);
            blob->data = NULL;
            blob->len = 0;
        }
        else if (f->kind == WIRE_TAGS) {
            wire_tags_t *tags = slot;
            free (tags->items);
            tags->items = NULL;
            tags->n = 0;
        }
        else if (f->kind == WIRE_LIST) {
            wire_list_t *list = slot;
            /* items may be NULL with n set if calloc failed half-way. */
            if (list->items)
                for (size_t k = 0; k < list->n; k++)
                    s_record_free (f->sub, (uint8_t *) list->items + k * f->sub->size);
            free (list->items);
            list->items = NULL;
            list->n = 0;
        }
    }
}

void
wire_msg_free (const wire_proto_t *proto, void *msg)
{
    assert (proto);
    if (!msg)
        return;
    const wire_hdr_t *hdr = msg;
    const wire_desc_t *desc = wire_proto_find (proto, hdr->type);
    if (desc)
        s_record_free (desc, s_body (proto, msg));
    memset (msg, 0, proto->msg_size);
}

const char *
wire_strerror (int code)
{
    switch (code) {
    case WIRE_OK:
        return "ok";
    case WIRE_ERR_TRUNCATED:
        return "truncated input";
    case WIRE_ERR_MALFORMED:
        return "malformed message";
    case WIRE_ERR_VERSION:
        return "unsupported protocol version";
    case WIRE_ERR_TYPE:
        return "unknown message type";
    case WIRE_ERR_FIELD:
        return "field has the wrong type";
    case WIRE_ERR_LENGTH:
        return "field over its length bound";
    case WIRE_ERR_MISSING:
        return "required field missing";
    case WIRE_ERR_TOO_BIG:
        return "too big or too deep";
    case WIRE_ERR_RANGE:
        return "value out of range";
    case WIRE_ERR_INVALID:
        return "message failed validation";
    case WIRE_ERR_NOMEM:
        return "out of memory";
    default:
        return "unknown wire error";
    }
}

/* ------------------------------------------------------------------------ */
/*  2. Decoder: msgpack object tree -> C struct                             */
/* ------------------------------------------------------------------------ */

static int s_decode_record (const wire_desc_t *desc, const msgpack_object_map *map, int envelope,
                            void *rec, const char **field);

/* Copy a msgpack str into a char[max + 1]; no NUL bytes allowed. */
static int
s_get_str (const msgpack_object *o, uint64_t max, char *dst)
{
    if (o->type != MSGPACK_OBJECT_STR)
        return WIRE_ERR_FIELD;
    size_t n = o->via.str.size;
    if (n > max)
        return WIRE_ERR_LENGTH;
    if (n && memchr (o->via.str.ptr, '\0', n))
        return WIRE_ERR_FIELD; /* would not survive as a C string */
    if (n)
        memcpy (dst, o->via.str.ptr, n);
    dst[n] = '\0';
    return WIRE_OK;
}

static int
s_decode_tags (const wire_field_t *f, const msgpack_object *o, wire_tags_t *tags)
{
    if (o->type != MSGPACK_OBJECT_MAP)
        return WIRE_ERR_FIELD;
    size_t n = o->via.map.size;
    if (n > f->max)
        return WIRE_ERR_LENGTH;
    if (n == 0)
        return WIRE_OK;
    tags->items = calloc (n, sizeof (wire_tag_t));
    if (!tags->items)
        return WIRE_ERR_NOMEM;
    tags->n = n;
    for (size_t i = 0; i < n; i++) {
        const msgpack_object_kv *kv = &o->via.map.ptr[i];
        int rc = s_get_str (&kv->key, WIRE_TAG_KEY_MAX, tags->items[i].key);
        if (!rc)
            rc = s_get_str (&kv->val, WIRE_TAG_VALUE_MAX, tags->items[i].value);
        if (rc)
            return rc;
        /* A tag set is a set: a repeated key is as bad as a repeated field. */
        for (size_t k = 0; k < i; k++)
            if (strcmp (tags->items[k].key, tags->items[i].key) == 0)
                return WIRE_ERR_MALFORMED;
    }
    return WIRE_OK;
}

static int
s_decode_list (const wire_field_t *f, const msgpack_object *o, wire_list_t *list,
               const char **field)
{
    if (o->type != MSGPACK_OBJECT_ARRAY)
        return WIRE_ERR_FIELD;
    size_t n = o->via.array.size;
    if (n > f->max)
        return WIRE_ERR_LENGTH;
    if (n == 0)
        return WIRE_OK;
    list->items = calloc (n, f->sub->size);
    if (!list->items)
        return WIRE_ERR_NOMEM;
    list->n = n;
    for (size_t i = 0; i < n; i++) {
        const msgpack_object *item = &o->via.array.ptr[i];
        if (item->type != MSGPACK_OBJECT_MAP)
            return WIRE_ERR_FIELD;
        int rc = s_decode_record (f->sub, &item->via.map, 0,
                                  (uint8_t *) list->items + i * f->sub->size, field);
        if (rc)
            return rc; /* *field names the inner field */
    }
    return WIRE_OK;
}

/* Decode one known field's value into its slot. */
static int
s_decode_field (const wire_field_t *f, const msgpack_object *o, void *slot, const char **field)
{
    switch (f->kind) {
    case WIRE_U64:
        if (o->type != MSGPACK_OBJECT_POSITIVE_INTEGER)
            return WIRE_ERR_FIELD;
        if (f->max && o->via.u64 > f->max)
            return WIRE_ERR_RANGE;
        *(uint64_t *) slot = o->via.u64;
        return WIRE_OK;

    case WIRE_I64:
        if (o->type == MSGPACK_OBJECT_NEGATIVE_INTEGER)
            *(int64_t *) slot = o->via.i64;
        else if (o->type == MSGPACK_OBJECT_POSITIVE_INTEGER) {
            if (o->via.u64 > INT64_MAX)
                return WIRE_ERR_RANGE;
            *(int64_t *) slot = (int64_t) o->via.u64;
        }
        else
            return WIRE_ERR_FIELD;
        return WIRE_OK;

    case WIRE_F64: {
        double d;
        if (o->type == MSGPACK_OBJECT_FLOAT32 || o->type == MSGPACK_OBJECT_FLOAT64)
            d = o->via.f64;
        else if (o->type == MSGPACK_OBJECT_POSITIVE_INTEGER)
            d = (double) o->via.u64;
        else if (o->type == MSGPACK_OBJECT_NEGATIVE_INTEGER)
            d = (double) o->via.i64;
        else
            return WIRE_ERR_FIELD;
        if (isnan (d))
            return WIRE_ERR_RANGE;
        *(double *) slot = d;
        return WIRE_OK;
    }
    case WIRE_BOOL:
        if (o->type != MSGPACK_OBJECT_BOOLEAN)
            return WIRE_ERR_FIELD;
        *(bool *) slot = o->via.boolean;
        return WIRE_OK;

    case WIRE_STR:
        return s_get_str (o, f->max, slot);

    case WIRE_BIN:
        if (o->type != MSGPACK_OBJECT_BIN)
            return WIRE_ERR_FIELD;
        if (o->via.bin.size != f->max)
            return WIRE_ERR_LENGTH;
        if (f->max)
            memcpy (slot, o->via.bin.ptr, (size_t) f->max);
        return WIRE_OK;

    case WIRE_BLOB: {
        wire_blob_t *blob = slot;
        if (o->type != MSGPACK_OBJECT_BIN)
            return WIRE_ERR_FIELD;
        if (o->via.bin.size > f->max)
            return WIRE_ERR_LENGTH;
        if (o->via.bin.size) {
            blob->data = malloc (o->via.bin.size);
            if (!blob->data)
                return WIRE_ERR_NOMEM;
            memcpy (blob->data, o->via.bin.ptr, o->via.bin.size);
            blob->len = o->via.bin.size;
        }
        return WIRE_OK;
    }
    case WIRE_TAGS:
        return s_decode_tags (f, o, slot);

    case WIRE_LIST:
        return s_decode_list (f, o, slot, field);
    }
    return WIRE_ERR_FIELD;
}

/* Decode a map into a record. In a message (`envelope`), keys 0 and 1 are
 * the envelope and were checked already; in a list item every id is a
 * field id. Unknown keys are skipped. On error *field names the field. */
static int
s_decode_record (const wire_desc_t *desc, const msgpack_object_map *map, int envelope, void *rec,
                 const char **field)
{
    bool seen[WIRE_MAX_FIELDS] = { false };
    if (desc->nfields > WIRE_MAX_FIELDS) {
        *field = desc->name; /* a table too big for us: refuse, don't overrun */
        return WIRE_ERR_TOO_BIG;
    }

    for (uint32_t i = 0; i < map->size; i++) {
        const msgpack_object *key = &map->ptr[i].key;
        if (key->type != MSGPACK_OBJECT_POSITIVE_INTEGER)
            continue; /* string keys etc.: not ours */
        uint64_t id = key->via.u64;
        if (envelope && (id == WIRE_KEY_VERSION || id == WIRE_KEY_TYPE))
            continue;
        size_t k;
        for (k = 0; k < desc->nfields; k++)
            if (desc->fields[k].id == id)
                break;
        if (k == desc->nfields)
            continue; /* a newer sender's field */

        const wire_field_t *f = &desc->fields[k];
        *field = f->name;
        if (seen[k])
            return WIRE_ERR_MALFORMED;
        seen[k] = true;
        int rc = s_decode_field (f, &map->ptr[i].val, (uint8_t *) rec + f->offset, field);
        if (rc)
            return rc;
    }
    for (size_t k = 0; k < desc->nfields; k++)
        if ((desc->fields[k].flags & WIRE_REQ) && !seen[k]) {
            *field = desc->fields[k].name;
            return WIRE_ERR_MISSING;
        }
    *field = "";
    return WIRE_OK;
}

int
wire_peek (const wire_proto_t *proto, const uint8_t *buf, size_t len, wire_hdr_t *hdr)
{
    assert (proto);
    assert (hdr);
    const char *field;
    return s_envelope (proto, buf, len, hdr, &field);
}

int
wire_decode (const wire_proto_t *proto, const uint8_t *buf, size_t len, void *msg,
             const char **field)
{
    assert (proto);
    assert (msg);
    const char *where = "";
    memset (msg, 0, proto->msg_size);

    wire_hdr_t hdr;
    int rc = s_envelope (proto, buf, len, &hdr, &where);
    if (rc) {
        if (field)
            *field = where;
        return rc;
    }
    const wire_desc_t *desc = wire_proto_find (proto, hdr.type);

    /* Only now may msgpack-c see the bytes: every count is backed. */
    msgpack_unpacked result;
    msgpack_unpacked_init (&result);
    size_t off = 0;
    msgpack_unpack_return ur = msgpack_unpack_next (&result, (const char *) buf, len, &off);
    if (ur == MSGPACK_UNPACK_SUCCESS && off == len && result.data.type == MSGPACK_OBJECT_MAP) {
        /* Set the header first so wire_msg_free can undo a partial decode. */
        *(wire_hdr_t *) msg = hdr;
        rc = s_decode_record (desc, &result.data.via.map, 1, s_body (proto, msg), &where);
        if (!rc && proto->validate) {
            const char *why = NULL;
            if (proto->validate (hdr.type, s_body (proto, msg), &why)) {
                where = why ? why : "";
                rc = WIRE_ERR_INVALID;
            }
        }
    }
    else
        /* The scan accepted it, so msgpack-c should too; be safe anyway. */
        rc = ur == MSGPACK_UNPACK_NOMEM_ERROR ? WIRE_ERR_NOMEM : WIRE_ERR_MALFORMED;
    msgpack_unpacked_destroy (&result);

    if (rc)
        wire_msg_free (proto, msg);
    if (field)
        *field = where;
    return rc;
}
