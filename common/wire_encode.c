/*
 * wire_encode.c - the encoder half of the msgpack codec (wire.c decodes):
 * checks every bound and runs the protocol's validator, so we never emit
 * what a peer would reject, then packs with msgpack-c's packer into a
 * growable or a fixed buffer.
 */
#include "common/wire.h"
#include "common/wire_int.h"

#include <msgpack.h>

#include <assert.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

/* ------------------------------------------------------------------------ */
/*  3. Encoder: C struct -> msgpack                                         */
/* ------------------------------------------------------------------------ */

/* Output sink for the packer: growable (wire_encode) or fixed (encode_into).
 * Errors are sticky so we can pack without checking every call. */
typedef struct {
    uint8_t *data;
    size_t len;
    size_t cap;
    bool fixed;
    int err;
} s_sink_t;

static int
s_sink_write (void *data, const char *buf, size_t len)
{
    s_sink_t *sink = data;
    if (sink->err)
        return -1;
    if (len == 0)
        return 0;
    if (len > sink->cap - sink->len) {
        if (sink->fixed) {
            sink->err = WIRE_ERR_TOO_BIG;
            return -1;
        }
        size_t cap = sink->cap ? sink->cap : 256;
        while (cap - sink->len < len) {
            if (cap > SIZE_MAX / 2) {
                sink->err = WIRE_ERR_NOMEM;
                return -1;
            }
            cap *= 2;
        }
        uint8_t *grown = realloc (sink->data, cap);
        if (!grown) {
            sink->err = WIRE_ERR_NOMEM;
            return -1;
        }
        sink->data = grown;
        sink->cap = cap;
    }
    memcpy (sink->data + sink->len, buf, len);
    sink->len += len;
    return 0;
}

static bool
s_all_zero (const uint8_t *p, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (p[i])
            return false;
    return true;
}

/* True if an optional field holds its zero value and is left off the wire.
 * -0.0 is not zero here, so it survives a round trip. */
static bool
s_is_zero (const wire_field_t *f, const void *slot)
{
    switch (f->kind) {
    case WIRE_U64:
        return *(const uint64_t *) slot == 0;
    case WIRE_I64:
        return *(const int64_t *) slot == 0;
    case WIRE_F64:
        return *(const double *) slot == 0 && !signbit (*(const double *) slot);
    case WIRE_BOOL:
        return !*(const bool *) slot;
    case WIRE_STR:
        return *(const char *) slot == '\0';
    case WIRE_BIN:
        return s_all_zero (slot, (size_t) f->max);
    case WIRE_BLOB:
        return ((const wire_blob_t *) slot)->len == 0;
    case WIRE_TAGS:
        return ((const wire_tags_t *) slot)->n == 0;
    case WIRE_LIST:
        return ((const wire_list_t *) slot)->n == 0;
    }
    return false;
}

static bool
s_is_written (const wire_field_t *f, const void *slot)
{
    return (f->flags & WIRE_REQ) || !s_is_zero (f, slot);
}

/* Length of a C string bounded by `max`, or -1 if it has no NUL in range. */
static long
s_bounded_len (const char *s, uint64_t max)
{
    size_t n = strnlen (s, (size_t) max + 1);
    return n > max ? -1 : (long) n;
}

static int s_check_record (const wire_desc_t *desc, const void *rec, const char **field);

/* Everything the decoder would check, checked before we write a byte. */
static int
s_check_field (const wire_field_t *f, const void *slot, const char **field)
{
    switch (f->kind) {
    case WIRE_U64:
        if (f->max && *(const uint64_t *) slot > f->max)
            return WIRE_ERR_RANGE;
        return WIRE_OK;
    case WIRE_F64:
        return isnan (*(const double *) slot) ? WIRE_ERR_RANGE : WIRE_OK;
    case WIRE_I64:
    case WIRE_BOOL:
    case WIRE_BIN:
        return WIRE_OK;
    case WIRE_STR:
        return s_bounded_len (slot, f->max) < 0 ? WIRE_ERR_LENGTH : WIRE_OK;
    case WIRE_BLOB: {
        const wire_blob_t *blob = slot;
        if (blob->len > f->max)
            return WIRE_ERR_LENGTH;
        if (blob->len > WIRE_MAX_DECLARED)
            return WIRE_ERR_TOO_BIG;
        return blob->len && !blob->data ? WIRE_ERR_FIELD : WIRE_OK;
    }
    case WIRE_TAGS: {
        const wire_tags_t *tags = slot;
        if (tags->n > f->max)
            return WIRE_ERR_LENGTH;
        if (tags->n > WIRE_MAX_DECLARED)
            return WIRE_ERR_TOO_BIG;
        if (tags->n && !tags->items)
            return WIRE_ERR_FIELD;
        for (size_t i = 0; i < tags->n; i++) {
            if (s_bounded_len (tags->items[i].key, WIRE_TAG_KEY_MAX) < 0
                || s_bounded_len (tags->items[i].value, WIRE_TAG_VALUE_MAX) < 0)
                return WIRE_ERR_LENGTH;
            for (size_t k = 0; k < i; k++)
                if (strcmp (tags->items[k].key, tags->items[i].key) == 0)
                    return WIRE_ERR_MALFORMED;
        }
        return WIRE_OK;
    }
    case WIRE_LIST: {
        const wire_list_t *list = slot;
        if (list->n > f->max)
            return WIRE_ERR_LENGTH;
        if (list->n > WIRE_MAX_DECLARED)
            return WIRE_ERR_TOO_BIG;
        if (list->n && !list->items)
            return WIRE_ERR_FIELD;
        for (size_t i = 0; i < list->n; i++) {
            int rc =
                s_check_record (f->sub, (const uint8_t *) list->items + i * f->sub->size, field);
            if (rc)
                return rc;
        }
        return WIRE_OK;
    }
    }
    return WIRE_ERR_FIELD;
}

static int
s_check_record (const wire_desc_t *desc, const void *rec, const char **field)
{
    /* The decoder's duplicate table has this many slots. */
    if (desc->nfields > WIRE_MAX_FIELDS)
        return WIRE_ERR_TOO_BIG;
    for (size_t i = 0; i < desc->nfields; i++) {
        const wire_field_t *f = &desc->fields[i];
        *field = f->name;
        int rc = s_check_field (f, (const uint8_t *) rec + f->offset, field);
        if (rc)
            return rc;
    }
    *field = "";
    return WIRE_OK;
}

static void s_pack_record (msgpack_packer *pk, const wire_desc_t *desc, const void *rec,
                           const wire_hdr_t *hdr);

static void
s_pack_str (msgpack_packer *pk, const char *s)
{
    size_t n = strlen (s);
    msgpack_pack_str (pk, n);
    msgpack_pack_str_body (pk, s, n);
}

static void
s_pack_field (msgpack_packer *pk, const wire_field_t *f, const void *slot)
{
    switch (f->kind) {
    case WIRE_U64:
        msgpack_pack_uint64 (pk, *(const uint64_t *) slot);
        break;
    case WIRE_I64:
        msgpack_pack_int64 (pk, *(const int64_t *) slot);
        break;
    case WIRE_F64:
        msgpack_pack_double (pk, *(const double *) slot);
        break;
    case WIRE_BOOL:
        if (*(const bool *) slot)
            msgpack_pack_true (pk);
        else
            msgpack_pack_false (pk);
        break;
    case WIRE_STR:
        s_pack_str (pk, slot);
        break;
    case WIRE_BIN:
        msgpack_pack_bin (pk, (size_t) f->max);
        msgpack_pack_bin_body (pk, slot, (size_t) f->max);
        break;
    case WIRE_BLOB: {
        const wire_blob_t *blob = slot;
        msgpack_pack_bin (pk, blob->len);
        msgpack_pack_bin_body (pk, blob->data, blob->len);
        break;
    }
    case WIRE_TAGS: {
        const wire_tags_t *tags = slot;
        msgpack_pack_map (pk, tags->n);
        for (size_t i = 0; i < tags->n; i++) {
            s_pack_str (pk, tags->items[i].key);
            s_pack_str (pk, tags->items[i].value);
        }
        break;
    }
    case WIRE_LIST: {
        const wire_list_t *list = slot;
        msgpack_pack_array (pk, list->n);
        for (size_t i = 0; i < list->n; i++)
            s_pack_record (pk, f->sub, (const uint8_t *) list->items + i * f->sub->size, NULL);
        break;
    }
    }
}

/* Pack a record as a map; with `hdr` it is a message and gets the envelope. */
static void
s_pack_record (msgpack_packer *pk, const wire_desc_t *desc, const void *rec, const wire_hdr_t *hdr)
{
    size_t entries = hdr ? 2 : 0;
    for (size_t i = 0; i < desc->nfields; i++)
        if (s_is_written (&desc->fields[i], (const uint8_t *) rec + desc->fields[i].offset))
            entries++;
    msgpack_pack_map (pk, entries);
    if (hdr) {
        msgpack_pack_uint64 (pk, WIRE_KEY_VERSION);
        msgpack_pack_uint64 (pk, hdr->version);
        msgpack_pack_uint64 (pk, WIRE_KEY_TYPE);
        msgpack_pack_uint64 (pk, hdr->type);
    }
    for (size_t i = 0; i < desc->nfields; i++) {
        const wire_field_t *f = &desc->fields[i];
        const void *slot = (const uint8_t *) rec + f->offset;
        if (s_is_written (f, slot)) {
            msgpack_pack_uint64 (pk, f->id);
            s_pack_field (pk, f, slot);
        }
    }
}

/* Check the message and pack it into `sink`. */
static int
s_encode (const wire_proto_t *proto, const void *msg, s_sink_t *sink)
{
    assert (proto);
    assert (msg);
    wire_hdr_t hdr = *(const wire_hdr_t *) msg;
    const wire_desc_t *desc = wire_proto_find (proto, hdr.type);
    if (!desc)
        return WIRE_ERR_TYPE;
    if (hdr.version == 0)
        hdr.version = proto->version;
    if (hdr.version < proto->version_min || hdr.version > proto->version)
        return WIRE_ERR_VERSION;

    const void *body = wire_cbody (proto, msg);
    const char *field = "";
    int rc = s_check_record (desc, body, &field);
    if (rc)
        return rc;
    if (proto->validate) {
        const char *why = NULL;
        if (proto->validate (hdr.type, body, &why))
            return WIRE_ERR_INVALID;
    }
    msgpack_packer pk;
    msgpack_packer_init (&pk, sink, s_sink_write);
    s_pack_record (&pk, desc, body, &hdr);
    return sink->err;
}

int
wire_encode (const wire_proto_t *proto, const void *msg, uint8_t **out, size_t *out_len)
{
    assert (out);
    assert (out_len);
    *out = NULL;
    *out_len = 0;
    s_sink_t sink = { NULL, 0, 0, false, 0 };
    int rc = s_encode (proto, msg, &sink);
    if (rc) {
        free (sink.data);
        return rc;
    }
    *out = sink.data;
    *out_len = sink.len;
    return WIRE_OK;
}

int
wire_encode_into (const wire_proto_t *proto, const void *msg, uint8_t *buf, size_t cap,
                  size_t *out_len)
{
    assert (buf || cap == 0);
    assert (out_len);
    *out_len = 0;
    s_sink_t sink = { buf, 0, cap, true, 0 };
    int rc = s_encode (proto, msg, &sink);
    if (rc)
        return rc;
    *out_len = sink.len;
    return WIRE_OK;
}
