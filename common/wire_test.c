/*
 * wire_test.c - tests for the table-driven msgpack codec.
 *
 * The test protocol "tp" below uses every field kind, a field-less message,
 * a list of records whose items hold a list of their own (so partial-decode
 * cleanup is exercised two levels down), and a validator. Malformed inputs
 * are built by hand, with msgpack-c's packer or as raw bytes, so the tests
 * do not depend on our own encoder to produce bad input.
 */
#include "common/wire.h"
#include "common/wire_gen.h"

#include <msgpack.h>

#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

/* ------------------------------------------------------------------------ */
/*  Test protocol                                                           */
/* ------------------------------------------------------------------------ */

/* clang-format off */
#define TP_LEAF_FIELDS(F, T) \
    F (T, 1, blob,   WIRE_BLOB, 16, WIRE_OPT, _)
/* clang-format on */

/* List items may use ids 0 and 1: there is no envelope inside a record. */
/* clang-format off */
#define TP_ITEM_FIELDS(F, T) \
    F (T, 0, name,   WIRE_STR,  16, WIRE_REQ, _)      \
    F (T, 1, weight, WIRE_U64,  0,  WIRE_OPT, _)      \
    F (T, 2, labels, WIRE_TAGS, 4,  WIRE_OPT, _)      \
    F (T, 3, leaves, WIRE_LIST, 2,  WIRE_OPT, tp_leaf)
/* clang-format on */

/* clang-format off */
#define TP_ALL_FIELDS(F, T) \
    F (T, 2,  count, WIRE_U64,  1000, WIRE_REQ, _)    \
    F (T, 3,  delta, WIRE_I64,  0,    WIRE_OPT, _)    \
    F (T, 4,  ratio, WIRE_F64,  0,    WIRE_OPT, _)    \
    F (T, 5,  flag,  WIRE_BOOL, 0,    WIRE_OPT, _)    \
    F (T, 6,  name,  WIRE_STR,  32,   WIRE_REQ, _)    \
    F (T, 7,  key,   WIRE_BIN,  8,    WIRE_OPT, _)    \
    F (T, 8,  data,  WIRE_BLOB, 64,   WIRE_OPT, _)    \
    F (T, 9,  tags,  WIRE_TAGS, 4,    WIRE_OPT, _)    \
    F (T, 10, items, WIRE_LIST, 3,    WIRE_OPT, tp_item)
/* clang-format on */

#define TP_EMPTY_FIELDS(F, T)

/* clang-format off */
#define TP_MESSAGES(M) \
    M (TP_ALL,   tp_all,   1, TP_ALL_FIELDS)  \
    M (TP_EMPTY, tp_empty, 2, TP_EMPTY_FIELDS)
/* clang-format on */

WIRE_DECLARE_RECORD (tp_leaf, TP_LEAF_FIELDS)
WIRE_DECLARE_RECORD (tp_item, TP_ITEM_FIELDS)
WIRE_DECLARE_PROTO (tp, TP_MESSAGES)

/* Semantic check: the name "forbidden" is refused on both directions. */
static int
s_tp_validate (uint16_t type, const void *body, const char **why)
{
    if (type == TP_ALL && strcmp (((const tp_all_t *) body)->name, "forbidden") == 0) {
        *why = "name is forbidden";
        return -1;
    }
    return 0;
}

WIRE_DEFINE_RECORD (tp_leaf, 0, TP_LEAF_FIELDS)
WIRE_DEFINE_RECORD (tp_item, 0, TP_ITEM_FIELDS)
WIRE_DEFINE_PROTO (tp, TP_MESSAGES, 2, 3, s_tp_validate)

/* ------------------------------------------------------------------------ */
/*  Helpers                                                                 */
/* ------------------------------------------------------------------------ */

static uint8_t s_blob_bytes[] = { 0xde, 0xad, 0x00, 0xbe, 0xef };
static uint8_t s_leaf_bytes[] = { 1, 2, 3 };
static wire_tag_t s_tags[2] = { { "zone", "a" }, { "rack", "r7" } };
static wire_tag_t s_item_tags[1] = { { "k", "v" } };
static tp_leaf_t s_leaves[2];
static tp_item_t s_items[2];

/* A TP_ALL with every field set (borrowed storage, never freed). */
static void
s_fill_all (tp_msg_t *m)
{
    memset (m, 0, sizeof *m);
    memset (s_leaves, 0, sizeof s_leaves);
    memset (s_items, 0, sizeof s_items);
    m->hdr.type = TP_ALL;
    tp_all_t *a = &m->u.tp_all;
    a->count = 1000;
    a->delta = -1234567890123LL;
    a->ratio = -0.0; /* must survive: -0.0 is not "zero" */
    a->flag = true;
    strcpy (a->name, "hello, wire");
    memcpy (a->key, "\x01\x02\x03\x04\x05\x06\x07\x08", 8);
    a->data.data = s_blob_bytes;
    a->data.len = sizeof s_blob_bytes;
    a->tags.n = 2;
    a->tags.items = s_tags;
    s_leaves[1].blob.data = s_leaf_bytes;
    s_leaves[1].blob.len = sizeof s_leaf_bytes;
    strcpy (s_items[0].name, "first");
    s_items[0].weight = UINT64_MAX;
    s_items[0].labels.n = 1;
    s_items[0].labels.items = s_item_tags;
    s_items[0].leaves.n = 2;
    s_items[0].leaves.items = s_leaves;
    strcpy (s_items[1].name, ""); /* required but empty: still written */
    a->items.n = 2;
    a->items.items = s_items;
}

static void
s_assert_all_equal (const tp_all_t *x, const tp_all_t *y)
{
    assert_int_equal (x->count, y->count);
    assert_int_equal (x->delta, y->delta);
    assert_memory_equal (&x->ratio, &y->ratio, sizeof (double));
    assert_int_equal (x->flag, y->flag);
    assert_string_equal (x->name, y->name);
    assert_memory_equal (x->key, y->key, sizeof x->key);
    assert_int_equal (x->data.len, y->data.len);
    if (x->data.len)
        assert_memory_equal (x->data.data, y->data.data, x->data.len);
    assert_int_equal (x->tags.n, y->tags.n);
    for (size_t i = 0; i < x->tags.n; i++) {
        assert_string_equal (x->tags.items[i].key, y->tags.items[i].key);
        assert_string_equal (x->tags.items[i].value, y->tags.items[i].value);
    }
    assert_int_equal (x->items.n, y->items.n);
    for (size_t i = 0; i < x->items.n; i++) {
        const tp_item_t *p = &x->items.items[i], *q = &y->items.items[i];
        assert_string_equal (p->name, q->name);
        assert_int_equal (p->weight, q->weight);
        assert_int_equal (p->labels.n, q->labels.n);
        for (size_t k = 0; k < p->labels.n; k++) {
            assert_string_equal (p->labels.items[k].key, q->labels.items[k].key);
            assert_string_equal (p->labels.items[k].value, q->labels.items[k].value);
        }
        assert_int_equal (p->leaves.n, q->leaves.n);
        for (size_t k = 0; k < p->leaves.n; k++) {
            assert_int_equal (p->leaves.items[k].blob.len, q->leaves.items[k].blob.len);
            if (p->leaves.items[k].blob.len)
                assert_memory_equal (p->leaves.items[k].blob.data, q->leaves.items[k].blob.data,
                                     p->leaves.items[k].blob.len);
        }
    }
}

static bool
s_is_zeroed (const void *p, size_t n)
{
    const uint8_t *b = p;
    for (size_t i = 0; i < n; i++)
        if (b[i])
            return false;
    return true;
}

/* Decode, expect `rc` (and the field name if given); failures must leave
 * the message zeroed. Successful decodes are freed here. */
static void
s_expect (const uint8_t *buf, size_t len, int rc, const char *field)
{
    tp_msg_t m;
    memset (&m, 0xa5, sizeof m); /* decode must zero it first */
    const char *where = NULL;
    int got = wire_decode (&tp_proto, buf, len, &m, &where);
    if (got != rc)
        fail_msg ("decode: got %d (%s) field '%s', want %d (%s)", got, wire_strerror (got),
                  where ? where : "(null)", rc, wire_strerror (rc));
    assert_non_null (where);
    if (field)
        assert_string_equal (where, field);
    if (rc)
        assert_true (s_is_zeroed (&m, sizeof m));
    else
        wire_msg_free (&tp_proto, &m);
}

/* A packer over a growable buffer, for building inputs by hand. */
typedef struct {
    msgpack_sbuffer sb;
    msgpack_packer pk;
} s_pack_t;

static msgpack_packer *
s_pack_start (s_pack_t *p)
{
    msgpack_sbuffer_init (&p->sb);
    msgpack_packer_init (&p->pk, &p->sb, msgpack_sbuffer_write);
    return &p->pk;
}

static void
s_pack_expect (s_pack_t *p, int rc, const char *field)
{
    s_expect ((const uint8_t *) p->sb.data, p->sb.size, rc, field);
    msgpack_sbuffer_destroy (&p->sb);
}

static void
s_str (msgpack_packer *pk, const char *s)
{
    msgpack_pack_str_with_body (pk, s, strlen (s));
}

/* Open a message map of `fields` + 2 entries and write the envelope. */
static msgpack_packer *
s_msg_start (s_pack_t *p, size_t fields, uint64_t version, uint64_t type)
{
    msgpack_packer *pk = s_pack_start (p);
    msgpack_pack_map (pk, fields + 2);
    msgpack_pack_uint64 (pk, WIRE_KEY_VERSION);
    msgpack_pack_uint64 (pk, version);
    msgpack_pack_uint64 (pk, WIRE_KEY_TYPE);
    msgpack_pack_uint64 (pk, type);
    return pk;
}

/* A TP_ALL with the two required fields and `extra` more entries to come. */
static msgpack_packer *
s_all_start (s_pack_t *p, size_t extra)
{
    msgpack_packer *pk = s_msg_start (p, extra + 2, 3, TP_ALL);
    msgpack_pack_uint64 (pk, 2);
    msgpack_pack_uint64 (pk, 7);
    msgpack_pack_uint64 (pk, 6);
    s_str (pk, "n");
    return pk;
}

/* ------------------------------------------------------------------------ */
/*  Round trips                                                             */
/* ------------------------------------------------------------------------ */

static void
test_roundtrip_all (void **state)
{
    tp_msg_t in, out;
    s_fill_all (&in);
    uint8_t *buf = NULL;
    size_t len = 0;
    assert_int_equal (wire_encode (&tp_proto, &in, &buf, &len), WIRE_OK);
    assert_non_null (buf);

    const char *field = NULL;
    assert_int_equal (wire_decode (&tp_proto, buf, len, &out, &field), WIRE_OK);
    assert_string_equal (field, "");
    assert_int_equal (out.hdr.version, 3);
    assert_int_equal (out.hdr.type, TP_ALL);
    s_assert_all_equal (&in.u.tp_all, &out.u.tp_all);
    assert_true (signbit (out.u.tp_all.ratio));

    /* Re-encoding the decoded message gives the same bytes. */
    uint8_t *again = NULL;
    size_t again_len = 0;
    assert_int_equal (wire_encode (&tp_proto, &out, &again, &again_len), WIRE_OK);
    assert_int_equal (again_len, len);
    assert_memory_equal (again, buf, len);

    /* Freeing twice is fine: the first free leaves it zeroed. */
    wire_msg_free (&tp_proto, &out);
    assert_true (s_is_zeroed (&out, sizeof out));
    wire_msg_free (&tp_proto, &out);
    free (again);
    free (buf);
}

static void
test_roundtrip_minimal (void **state)
{
    /* Only the required fields: optional zero values are left off. */
    tp_msg_t in, out;
    memset (&in, 0, sizeof in);
    in.hdr.type = TP_ALL;
    uint8_t buf[64];
    size_t len = 0;
    assert_int_equal (wire_encode_into (&tp_proto, &in, buf, sizeof buf, &len), WIRE_OK);
    /* { 0: 3, 1: 1, 2: 0, 6: "" } */
    const uint8_t want[] = { 0x84, 0x00, 0x03, 0x01, 0x01, 0x02, 0x00, 0x06, 0xa0 };
    assert_int_equal (len, sizeof want);
    assert_memory_equal (buf, want, sizeof want);
    assert_int_equal (wire_decode (&tp_proto, buf, len, &out, NULL), WIRE_OK);
    s_assert_all_equal (&in.u.tp_all, &out.u.tp_all);
    wire_msg_free (&tp_proto, &out);
}

static void
test_roundtrip_empty (void **state)
{
    tp_msg_t in, out;
    memset (&in, 0, sizeof in);
    in.hdr.type = TP_EMPTY;
    uint8_t *buf = NULL;
    size_t len = 0;
    assert_int_equal (wire_encode (&tp_proto, &in, &buf, &len), WIRE_OK);
    const uint8_t want[] = { 0x82, 0x00, 0x03, 0x01, 0x02 };
    assert_int_equal (len, sizeof want);
    assert_memory_equal (buf, want, sizeof want);
    assert_int_equal (wire_decode (&tp_proto, buf, len, &out, NULL), WIRE_OK);
    assert_int_equal (out.hdr.type, TP_EMPTY);
    wire_msg_free (&tp_proto, &out);
    free (buf);
}

static void
test_roundtrip_old_version (void **state)
{
    /* A sender may speak any version we accept; the decoder reports it. */
    tp_msg_t in, out;
    s_fill_all (&in);
    in.hdr.version = 2;
    uint8_t *buf = NULL;
    size_t len = 0;
    assert_int_equal (wire_encode (&tp_proto, &in, &buf, &len), WIRE_OK);
    assert_int_equal (wire_decode (&tp_proto, buf, len, &out, NULL), WIRE_OK);
    assert_int_equal (out.hdr.version, 2);
    wire_msg_free (&tp_proto, &out);
    free (buf);

    wire_hdr_t hdr;
    const uint8_t v2[] = { 0x82, 0x00, 0x02, 0x01, 0x02 };
    assert_int_equal (wire_peek (&tp_proto, v2, sizeof v2, &hdr), WIRE_OK);
    assert_int_equal (hdr.version, 2);
    assert_int_equal (hdr.type, TP_EMPTY);
}

static void
test_int_forms (void **state)
{
    /* Any msgpack int form is accepted where the value fits: uint64 in a
     * signed int8, envelope keys in wide forms, float fields from ints. */
    const uint8_t in[] = { 0x85, 0xcf, 0,    0,    0,    0, 0, 0, 0, 0x00, 0xd0, 0x03, /* 0: 3 */
                           0xcd, 0x00, 0x01, 0xcc, 0x01,                               /* 1: 1 */
                           0x02, 0xd1, 0x00, 0x05, /* count: 5 */
                           0x06, 0xa1, 'x',        /* name */
                           0x04, 0xf6 };           /* ratio: -10 */
    tp_msg_t m;
    assert_int_equal (wire_decode (&tp_proto, in, sizeof in, &m, NULL), WIRE_OK);
    assert_int_equal (m.u.tp_all.count, 5);
    assert_true (m.u.tp_all.ratio == -10.0);
    wire_msg_free (&tp_proto, &m);
}

/* ------------------------------------------------------------------------ */
/*  Unknown keys                                                            */
/* ------------------------------------------------------------------------ */

static void
test_unknown_keys_ignored (void **state)
{
    s_pack_t p;
    msgpack_packer *pk = s_all_start (&p, 7);
    /* Unknown id with nested junk. */
    msgpack_pack_uint64 (pk, 99);
    msgpack_pack_array (pk, 3);
    msgpack_pack_nil (pk);
    msgpack_pack_map (pk, 1);
    s_str (pk, "deep");
    msgpack_pack_array (pk, 1);
    msgpack_pack_double (pk, NAN); /* unknown, so even NaN is fine */
    msgpack_pack_bin (pk, 2);
    msgpack_pack_bin_body (pk, "\0\0", 2);
    /* String keys, even ones that look like field ids or names. */
    s_str (pk, "2");
    s_str (pk, "not a count");
    s_str (pk, "name");
    msgpack_pack_map (pk, 0);
    /* Negative, float, and nil keys. */
    msgpack_pack_int64 (pk, -6);
    s_str (pk, "x");
    msgpack_pack_double (pk, 6.0);
    msgpack_pack_true (pk);
    msgpack_pack_nil (pk);
    msgpack_pack_nil (pk);
    /* A list whose item carries an unknown key too. */
    msgpack_pack_uint64 (pk, 10);
    msgpack_pack_array (pk, 1);
    msgpack_pack_map (pk, 2);
    msgpack_pack_uint64 (pk, 0);
    s_str (pk, "item");
    msgpack_pack_uint64 (pk, 77);
    msgpack_pack_ext (pk, 3, 5);
    msgpack_pack_ext_body (pk, "abc", 3);

    tp_msg_t m;
    const char *field = NULL;
    assert_int_equal (wire_decode (&tp_proto, (const uint8_t *) p.sb.data, p.sb.size, &m, &field),
                      WIRE_OK);
    assert_int_equal (m.u.tp_all.count, 7);
    assert_string_equal (m.u.tp_all.name, "n");
    assert_int_equal (m.u.tp_all.items.n, 1);
    assert_string_equal (m.u.tp_all.items.items[0].name, "item");
    wire_msg_free (&tp_proto, &m);
    msgpack_sbuffer_destroy (&p.sb);
}

/* ------------------------------------------------------------------------ */
/*  Framing errors                                                          */
/* ------------------------------------------------------------------------ */

static void
test_truncated_every_offset (void **state)
{
    tp_msg_t in;
    s_fill_all (&in);
    uint8_t *buf = NULL;
    size_t len = 0;
    assert_int_equal (wire_encode (&tp_proto, &in, &buf, &len), WIRE_OK);
    for (size_t cut = 0; cut < len; cut++) {
        /* A fresh heap copy so ASan catches any read past the cut. */
        uint8_t *copy = malloc (cut ? cut : 1);
        assert_non_null (copy);
        memcpy (copy, buf, cut);
        s_expect (copy, cut, WIRE_ERR_TRUNCATED, "");
        wire_hdr_t hdr;
        assert_int_equal (wire_peek (&tp_proto, copy, cut, &hdr), WIRE_ERR_TRUNCATED);
        free (copy);
    }
    s_expect (NULL, 0, WIRE_ERR_TRUNCATED, "");
    free (buf);
}

static void
test_trailing_bytes (void **state)
{
    const uint8_t two[] = { 0x82, 0x00, 0x03, 0x01, 0x02, 0x00 };
    s_expect (two, sizeof two, WIRE_ERR_MALFORMED, "");
    s_expect (two, sizeof two - 1, WIRE_OK, "");
    const uint8_t maps[] = { 0x82, 0x00, 0x03, 0x01, 0x02, 0x80 };
    s_expect (maps, sizeof maps, WIRE_ERR_MALFORMED, "");
}

static void
test_not_a_map (void **state)
{
    const uint8_t arr[] = { 0x92, 0x03, 0x02 };
    const uint8_t num[] = { 0x05 };
    const uint8_t str[] = { 0xa2, 'h', 'i' };
    const uint8_t nil[] = { 0xc0 };
    const uint8_t reserved[] = { 0xc1 };
    const uint8_t inner_reserved[] = { 0x83, 0x00, 0x03, 0x01, 0x02, 0x09, 0xc1 };
    s_expect (arr, sizeof arr, WIRE_ERR_MALFORMED, "");
    s_expect (num, sizeof num, WIRE_ERR_MALFORMED, "");
    s_expect (str, sizeof str, WIRE_ERR_MALFORMED, "");
    s_expect (nil, sizeof nil, WIRE_ERR_MALFORMED, "");
    s_expect (reserved, sizeof reserved, WIRE_ERR_MALFORMED, "");
    s_expect (inner_reserved, sizeof inner_reserved, WIRE_ERR_MALFORMED, "");
}

static void
test_huge_declared_sizes (void **state)
{
    /* Six bytes asking msgpack-c for four billion elements: refused by the
     * pre-scan before msgpack-c reserves anything. */
    const uint8_t arr32[] = { 0xdd, 0xff, 0xff, 0xff, 0xff, 0x00 };
    const uint8_t map32[] = { 0xdf, 0xff, 0xff, 0xff, 0xff, 0x00 };
    const uint8_t str32[] = { 0xdb, 0xff, 0xff, 0xff, 0xff, 'a' };
    const uint8_t bin32[] = { 0xc6, 0x7f, 0xff, 0xff, 0xff, 0x00 };
    const uint8_t ext32[] = { 0xc9, 0x01, 0x00, 0x00, 0x01, 0x00 };
    s_expect (arr32, sizeof arr32, WIRE_ERR_TOO_BIG, "");
    s_expect (map32, sizeof map32, WIRE_ERR_TOO_BIG, "");
    s_expect (str32, sizeof str32, WIRE_ERR_TOO_BIG, "");
    s_expect (bin32, sizeof bin32, WIRE_ERR_TOO_BIG, "");
    s_expect (ext32, sizeof ext32, WIRE_ERR_TOO_BIG, "");
    /* Inside a message, as the value of an unknown key. */
    const uint8_t inner[] = {
        0x83, 0x00, 0x03, 0x01, 0x02, 0x09, 0xdd, 0x10, 0x00, 0x00, 0x00, 0xc0
    };
    s_expect (inner, sizeof inner, WIRE_ERR_TOO_BIG, "");
    wire_hdr_t hdr;
    assert_int_equal (wire_peek (&tp_proto, arr32, sizeof arr32, &hdr), WIRE_ERR_TOO_BIG);
    /* A small count that merely outruns the input is a cut, not a lie. */
    const uint8_t arr16[] = { 0xdc, 0x00, 0x10, 0x00, 0x00, 0x00 };
    s_expect (arr16, sizeof arr16, WIRE_ERR_TRUNCATED, "");
}

/* Nest `levels` arrays as the value of unknown key 9 in an empty message. */
static void
s_nest_expect (size_t levels, int rc)
{
    uint8_t buf[64];
    const uint8_t head[] = { 0x83, 0x00, 0x03, 0x01, 0x02, 0x09 };
    size_t len = sizeof head;
    memcpy (buf, head, len);
    for (size_t i = 0; i < levels; i++)
        buf[len++] = i + 1 < levels ? 0x91 : 0x90;
    s_expect (buf, len, rc, "");
}

static void
test_nesting_too_deep (void **state)
{
    /* The message map is level 1. */
    s_nest_expect (WIRE_MAX_DEPTH - 1, WIRE_OK);
    s_nest_expect (WIRE_MAX_DEPTH, WIRE_ERR_TOO_BIG);
    s_nest_expect (40, WIRE_ERR_TOO_BIG);
}

/* ------------------------------------------------------------------------ */
/*  Envelope errors                                                         */
/* ------------------------------------------------------------------------ */

static void
test_version (void **state)
{
    s_pack_t p;
    s_msg_start (&p, 0, 1, TP_EMPTY); /* older than version_min */
    s_pack_expect (&p, WIRE_ERR_VERSION, "version");
    s_msg_start (&p, 0, 4, TP_EMPTY); /* newer than ours */
    s_pack_expect (&p, WIRE_ERR_VERSION, "version");
    s_msg_start (&p, 0, 0x10003, TP_EMPTY); /* would wrap in a uint16 */
    s_pack_expect (&p, WIRE_ERR_VERSION, "version");

    const uint8_t as_str[] = { 0x82, 0x00, 0xa1, '3', 0x01, 0x02 };
    s_expect (as_str, sizeof as_str, WIRE_ERR_FIELD, "version");
    const uint8_t missing[] = { 0x81, 0x01, 0x02 };
    s_expect (missing, sizeof missing, WIRE_ERR_MISSING, "version");
    const uint8_t dup[] = { 0x83, 0x00, 0x03, 0x01, 0x02, 0xcc, 0x00, 0x03 };
    s_expect (dup, sizeof dup, WIRE_ERR_MALFORMED, "version");

    wire_hdr_t hdr;
    const uint8_t v9[] = { 0x82, 0x00, 0x09, 0x01, 0x02 };
    assert_int_equal (wire_peek (&tp_proto, v9, sizeof v9, &hdr), WIRE_ERR_VERSION);
    assert_int_equal (hdr.version, 9);
}

static void
test_unknown_type (void **state)
{
    s_pack_t p;
    s_msg_start (&p, 0, 3, 77);
    s_pack_expect (&p, WIRE_ERR_TYPE, "type");
    s_msg_start (&p, 0, 3, 0x10001); /* would wrap to TP_ALL */
    s_pack_expect (&p, WIRE_ERR_TYPE, "type");
    const uint8_t missing[] = { 0x81, 0x00, 0x03 };
    s_expect (missing, sizeof missing, WIRE_ERR_MISSING, "type");
    const uint8_t negative[] = { 0x82, 0x00, 0x03, 0x01, 0xff };
    s_expect (negative, sizeof negative, WIRE_ERR_FIELD, "type");
}

/* ------------------------------------------------------------------------ */
/*  Field errors                                                            */
/* ------------------------------------------------------------------------ */

static void
test_wrong_field_type (void **state)
{
    s_pack_t p;
    msgpack_packer *pk;

    pk = s_msg_start (&p, 2, 3, TP_ALL);
    msgpack_pack_uint64 (pk, 2);
    s_str (pk, "7");
    msgpack_pack_uint64 (pk, 6);
    s_str (pk, "n");
    s_pack_expect (&p, WIRE_ERR_FIELD, "count");

    pk = s_msg_start (&p, 2, 3, TP_ALL);
    msgpack_pack_uint64 (pk, 2);
    msgpack_pack_int64 (pk, -1); /* negative for a U64 */
    msgpack_pack_uint64 (pk, 6);
    s_str (pk, "n");
    s_pack_expect (&p, WIRE_ERR_FIELD, "count");

    pk = s_all_start (&p, 1);
    msgpack_pack_uint64 (pk, 3);
    msgpack_pack_double (pk, 1.0); /* float for an I64 */
    s_pack_expect (&p, WIRE_ERR_FIELD, "delta");

    pk = s_all_start (&p, 1);
    msgpack_pack_uint64 (pk, 4);
    s_str (pk, "1.5");
    s_pack_expect (&p, WIRE_ERR_FIELD, "ratio");

    pk = s_all_start (&p, 1);
    msgpack_pack_uint64 (pk, 5);
    msgpack_pack_uint64 (pk, 1); /* int for a BOOL */
    s_pack_expect (&p, WIRE_ERR_FIELD, "flag");

    pk = s_msg_start (&p, 2, 3, TP_ALL);
    msgpack_pack_uint64 (pk, 2);
    msgpack_pack_uint64 (pk, 1);
    msgpack_pack_uint64 (pk, 6);
    msgpack_pack_bin_with_body (pk, "n", 1); /* bin for a STR */
    s_pack_expect (&p, WIRE_ERR_FIELD, "name");

    pk = s_all_start (&p, 1);
    msgpack_pack_uint64 (pk, 7);
    s_str (pk, "12345678"); /* str for a BIN */
    s_pack_expect (&p, WIRE_ERR_FIELD, "key");

    pk = s_all_start (&p, 1);
    msgpack_pack_uint64 (pk, 8);
    msgpack_pack_array (pk, 0);
    s_pack_expect (&p, WIRE_ERR_FIELD, "data");

    pk = s_all_start (&p, 1);
    msgpack_pack_uint64 (pk, 9);
    msgpack_pack_map (pk, 1);
    s_str (pk, "k");
    msgpack_pack_uint64 (pk, 1); /* tag value not a str */
    s_pack_expect (&p, WIRE_ERR_FIELD, "tags");

    pk = s_all_start (&p, 1);
    msgpack_pack_uint64 (pk, 10);
    msgpack_pack_map (pk, 0); /* map for a LIST */
    s_pack_expect (&p, WIRE_ERR_FIELD, "items");

    pk = s_all_start (&p, 1);
    msgpack_pack_uint64 (pk, 10);
    msgpack_pack_array (pk, 1);
    msgpack_pack_array (pk, 0); /* item not a map */
    s_pack_expect (&p, WIRE_ERR_FIELD, "items");

    pk = s_all_start (&p, 1);
    msgpack_pack_uint64 (pk, 10);
    msgpack_pack_array (pk, 1);
    msgpack_pack_map (pk, 1);
    msgpack_pack_uint64 (pk, 0);
    msgpack_pack_uint64 (pk, 0); /* item name not a str */
    s_pack_expect (&p, WIRE_ERR_FIELD, "name");

    /* A NUL inside a STR cannot live in a C string. */
    pk = s_msg_start (&p, 2, 3, TP_ALL);
    msgpack_pack_uint64 (pk, 2);
    msgpack_pack_uint64 (pk, 1);
    msgpack_pack_uint64 (pk, 6);
    msgpack_pack_str_with_body (pk, "a\0b", 3);
    s_pack_expect (&p, WIRE_ERR_FIELD, "name");
}

static void
test_over_long (void **state)
{
    s_pack_t p;
    msgpack_packer *pk;
    char text[300];
    memset (text, 'x', sizeof text);

    pk = s_msg_start (&p, 2, 3, TP_ALL);
    msgpack_pack_uint64 (pk, 2);
    msgpack_pack_uint64 (pk, 1);
    msgpack_pack_uint64 (pk, 6);
    msgpack_pack_str_with_body (pk, text, 33);
    s_pack_expect (&p, WIRE_ERR_LENGTH, "name");

    pk = s_msg_start (&p, 2, 3, TP_ALL); /* exactly at the bound */
    msgpack_pack_uint64 (pk, 2);
    msgpack_pack_uint64 (pk, 1);
    msgpack_pack_uint64 (pk, 6);
    msgpack_pack_str_with_body (pk, text, 32);
    s_pack_expect (&p, WIRE_OK, "");

    pk = s_all_start (&p, 1);
    msgpack_pack_uint64 (pk, 8);
    msgpack_pack_bin_with_body (pk, text, 65);
    s_pack_expect (&p, WIRE_ERR_LENGTH, "data");

    pk = s_all_start (&p, 1);
    msgpack_pack_uint64 (pk, 7);
    msgpack_pack_bin_with_body (pk, text, 7); /* BIN must be exact */
    s_pack_expect (&p, WIRE_ERR_LENGTH, "key");

    pk = s_all_start (&p, 1);
    msgpack_pack_uint64 (pk, 7);
    msgpack_pack_bin_with_body (pk, text, 9);
    s_pack_expect (&p, WIRE_ERR_LENGTH, "key");

    pk = s_all_start (&p, 1);
    msgpack_pack_uint64 (pk, 10);
    msgpack_pack_array (pk, 4);
    for (int i = 0; i < 4; i++) {
        msgpack_pack_map (pk, 1);
        msgpack_pack_uint64 (pk, 0);
        s_str (pk, "i");
    }
    s_pack_expect (&p, WIRE_ERR_LENGTH, "items");

    pk = s_all_start (&p, 1);
    msgpack_pack_uint64 (pk, 9);
    msgpack_pack_map (pk, 5);
    for (int i = 0; i < 5; i++) {
        char k[2] = { (char) ('a' + i), 0 };
        s_str (pk, k);
        s_str (pk, "v");
    }
    s_pack_expect (&p, WIRE_ERR_LENGTH, "tags");

    pk = s_all_start (&p, 1);
    msgpack_pack_uint64 (pk, 9);
    msgpack_pack_map (pk, 1);
    msgpack_pack_str_with_body (pk, text, WIRE_TAG_KEY_MAX + 1);
    s_str (pk, "v");
    s_pack_expect (&p, WIRE_ERR_LENGTH, "tags");

    pk = s_all_start (&p, 1);
    msgpack_pack_uint64 (pk, 9);
    msgpack_pack_map (pk, 1);
    s_str (pk, "k");
    msgpack_pack_str_with_body (pk, text, WIRE_TAG_VALUE_MAX + 1);
    s_pack_expect (&p, WIRE_ERR_LENGTH, "tags");

    /* Over-long inside a list item's own list. */
    pk = s_all_start (&p, 1);
    msgpack_pack_uint64 (pk, 10);
    msgpack_pack_array (pk, 1);
    msgpack_pack_map (pk, 2);
    msgpack_pack_uint64 (pk, 0);
    s_str (pk, "i");
    msgpack_pack_uint64 (pk, 3);
    msgpack_pack_array (pk, 1);
    msgpack_pack_map (pk, 1);
    msgpack_pack_uint64 (pk, 1);
    msgpack_pack_bin_with_body (pk, text, 17);
    s_pack_expect (&p, WIRE_ERR_LENGTH, "blob");
}

static void
test_missing_required (void **state)
{
    s_pack_t p;
    msgpack_packer *pk;

    pk = s_msg_start (&p, 1, 3, TP_ALL);
    msgpack_pack_uint64 (pk, 6);
    s_str (pk, "n");
    s_pack_expect (&p, WIRE_ERR_MISSING, "count");

    pk = s_all_start (&p, 1);
    msgpack_pack_uint64 (pk, 10);
    msgpack_pack_array (pk, 1);
    msgpack_pack_map (pk, 1);
    msgpack_pack_uint64 (pk, 1);
    msgpack_pack_uint64 (pk, 5);
    s_pack_expect (&p, WIRE_ERR_MISSING, "name");
}

static void
test_range (void **state)
{
    s_pack_t p;
    msgpack_packer *pk;

    pk = s_msg_start (&p, 2, 3, TP_ALL);
    msgpack_pack_uint64 (pk, 2);
    msgpack_pack_uint64 (pk, 1001);
    msgpack_pack_uint64 (pk, 6);
    s_str (pk, "n");
    s_pack_expect (&p, WIRE_ERR_RANGE, "count");

    pk = s_all_start (&p, 1);
    msgpack_pack_uint64 (pk, 4);
    msgpack_pack_double (pk, NAN);
    s_pack_expect (&p, WIRE_ERR_RANGE, "ratio");

    pk = s_all_start (&p, 1);
    msgpack_pack_uint64 (pk, 4);
    msgpack_pack_float (pk, NAN);
    s_pack_expect (&p, WIRE_ERR_RANGE, "ratio");

    pk = s_all_start (&p, 1);
    msgpack_pack_uint64 (pk, 3);
    msgpack_pack_uint64 (pk, (uint64_t) INT64_MAX + 1);
    s_pack_expect (&p, WIRE_ERR_RANGE, "delta");

    /* Infinity is a number; only NaN is refused. */
    pk = s_all_start (&p, 1);
    msgpack_pack_uint64 (pk, 4);
    msgpack_pack_double (pk, -INFINITY);
    s_pack_expect (&p, WIRE_OK, "");
}

static void
test_duplicate_key (void **state)
{
    s_pack_t p;
    msgpack_packer *pk;

    pk = s_all_start (&p, 1);
    msgpack_pack_uint64 (pk, 2);
    msgpack_pack_uint64 (pk, 7);
    s_pack_expect (&p, WIRE_ERR_MALFORMED, "count");

    /* The same key in two int forms is still the same key. */
    pk = s_all_start (&p, 1);
    msgpack_pack_fix_uint16 (pk, 6);
    s_str (pk, "m");
    s_pack_expect (&p, WIRE_ERR_MALFORMED, "name");

    pk = s_all_start (&p, 1);
    msgpack_pack_uint64 (pk, 9);
    msgpack_pack_map (pk, 2);
    s_str (pk, "k");
    s_str (pk, "1");
    s_str (pk, "k");
    s_str (pk, "2");
    s_pack_expect (&p, WIRE_ERR_MALFORMED, "tags");

    /* Unknown keys may repeat: they are not ours to judge. */
    pk = s_all_start (&p, 2);
    msgpack_pack_uint64 (pk, 50);
    msgpack_pack_nil (pk);
    msgpack_pack_uint64 (pk, 50);
    msgpack_pack_nil (pk);
    s_pack_expect (&p, WIRE_OK, "");
}

static void
test_failure_frees_partial (void **state)
{
    /* First item decodes fully (blob, tags, leaves allocated); the second
     * fails; ASan/LSan checks nothing leaks and s_expect that it's zeroed. */
    s_pack_t p;
    msgpack_packer *pk = s_all_start (&p, 3);
    msgpack_pack_uint64 (pk, 8);
    msgpack_pack_bin_with_body (pk, "blob", 4);
    msgpack_pack_uint64 (pk, 9);
    msgpack_pack_map (pk, 1);
    s_str (pk, "k");
    s_str (pk, "v");
    msgpack_pack_uint64 (pk, 10);
    msgpack_pack_array (pk, 2);
    msgpack_pack_map (pk, 3);
    msgpack_pack_uint64 (pk, 0);
    s_str (pk, "ok");
    msgpack_pack_uint64 (pk, 2);
    msgpack_pack_map (pk, 1);
    s_str (pk, "a");
    s_str (pk, "b");
    msgpack_pack_uint64 (pk, 3);
    msgpack_pack_array (pk, 2);
    msgpack_pack_map (pk, 1);
    msgpack_pack_uint64 (pk, 1);
    msgpack_pack_bin_with_body (pk, "leaf", 4);
    msgpack_pack_map (pk, 1);
    msgpack_pack_uint64 (pk, 1);
    msgpack_pack_bin_with_body (pk, "leaf", 4);
    msgpack_pack_map (pk, 1);
    msgpack_pack_uint64 (pk, 1); /* item 2: no name */
    msgpack_pack_uint64 (pk, 1);
    s_pack_expect (&p, WIRE_ERR_MISSING, "name");
}

/* ------------------------------------------------------------------------ */
/*  Validator, encoder checks, misc                                         */
/* ------------------------------------------------------------------------ */

static void
test_validator (void **state)
{
    s_pack_t p;
    msgpack_packer *pk = s_msg_start (&p, 2, 3, TP_ALL);
    msgpack_pack_uint64 (pk, 2);
    msgpack_pack_uint64 (pk, 1);
    msgpack_pack_uint64 (pk, 6);
    s_str (pk, "forbidden");
    s_pack_expect (&p, WIRE_ERR_INVALID, "name is forbidden");

    tp_msg_t m;
    s_fill_all (&m);
    strcpy (m.u.tp_all.name, "forbidden");
    uint8_t *buf = NULL;
    size_t len = 1;
    assert_int_equal (wire_encode (&tp_proto, &m, &buf, &len), WIRE_ERR_INVALID);
    assert_null (buf);
    assert_int_equal (len, 0);
}

static void
test_encode_checks (void **state)
{
    tp_msg_t m;
    uint8_t buf[512];
    size_t len;

    s_fill_all (&m);
    m.u.tp_all.count = 1001;
    assert_int_equal (wire_encode_into (&tp_proto, &m, buf, sizeof buf, &len), WIRE_ERR_RANGE);
    s_fill_all (&m);
    m.u.tp_all.ratio = NAN;
    assert_int_equal (wire_encode_into (&tp_proto, &m, buf, sizeof buf, &len), WIRE_ERR_RANGE);
    s_fill_all (&m);
    memset (m.u.tp_all.name, 'x', sizeof m.u.tp_all.name); /* no NUL */
    assert_int_equal (wire_encode_into (&tp_proto, &m, buf, sizeof buf, &len), WIRE_ERR_LENGTH);
    s_fill_all (&m);
    m.u.tp_all.items.n = 4;
    assert_int_equal (wire_encode_into (&tp_proto, &m, buf, sizeof buf, &len), WIRE_ERR_LENGTH);
    s_fill_all (&m);
    m.u.tp_all.data.len = 65;
    assert_int_equal (wire_encode_into (&tp_proto, &m, buf, sizeof buf, &len), WIRE_ERR_LENGTH);
    s_fill_all (&m);
    m.u.tp_all.tags.n = 5;
    assert_int_equal (wire_encode_into (&tp_proto, &m, buf, sizeof buf, &len), WIRE_ERR_LENGTH);
    s_fill_all (&m);
    s_items[0].leaves.n = 3; /* nested bound */
    assert_int_equal (wire_encode_into (&tp_proto, &m, buf, sizeof buf, &len), WIRE_ERR_LENGTH);
    s_fill_all (&m);
    m.hdr.type = 77;
    assert_int_equal (wire_encode_into (&tp_proto, &m, buf, sizeof buf, &len), WIRE_ERR_TYPE);
    s_fill_all (&m);
    m.hdr.version = 1;
    assert_int_equal (wire_encode_into (&tp_proto, &m, buf, sizeof buf, &len), WIRE_ERR_VERSION);
    m.hdr.version = 4;
    assert_int_equal (wire_encode_into (&tp_proto, &m, buf, sizeof buf, &len), WIRE_ERR_VERSION);
}

static void
test_encode_into_too_small (void **state)
{
    tp_msg_t m;
    s_fill_all (&m);
    uint8_t *full = NULL;
    size_t full_len = 0;
    assert_int_equal (wire_encode (&tp_proto, &m, &full, &full_len), WIRE_OK);
    for (size_t cap = 0; cap < full_len; cap++) {
        uint8_t *buf = malloc (cap ? cap : 1);
        size_t len = 99;
        assert_int_equal (wire_encode_into (&tp_proto, &m, buf, cap, &len), WIRE_ERR_TOO_BIG);
        assert_int_equal (len, 0);
        free (buf);
    }
    uint8_t *buf = malloc (full_len);
    size_t len = 0;
    assert_int_equal (wire_encode_into (&tp_proto, &m, buf, full_len, &len), WIRE_OK);
    assert_int_equal (len, full_len);
    assert_memory_equal (buf, full, full_len);
    free (buf);
    free (full);
}

static void
test_msg_free_zeroed (void **state)
{
    tp_msg_t m;
    memset (&m, 0, sizeof m);
    wire_msg_free (&tp_proto, &m);
    m.hdr.type = TP_ALL; /* known type, nothing allocated */
    wire_msg_free (&tp_proto, &m);
    assert_true (s_is_zeroed (&m, sizeof m));
    m.hdr.type = 999; /* unknown type: just zeroes */
    wire_msg_free (&tp_proto, &m);
    assert_true (s_is_zeroed (&m, sizeof m));
    wire_msg_free (&tp_proto, NULL);
}

static void
test_strerror_distinct (void **state)
{
    for (int a = WIRE_ERR_NOMEM; a <= WIRE_OK; a++) {
        assert_non_null (wire_strerror (a));
        for (int b = a + 1; b <= WIRE_OK; b++)
            assert_string_not_equal (wire_strerror (a), wire_strerror (b));
    }
    assert_non_null (wire_strerror (12345));
    assert_ptr_equal (wire_proto_find (&tp_proto, TP_EMPTY), &tp_empty_desc);
    assert_null (wire_proto_find (&tp_proto, 0));
}

int
main (void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test (test_roundtrip_all),
        cmocka_unit_test (test_roundtrip_minimal),
        cmocka_unit_test (test_roundtrip_empty),
        cmocka_unit_test (test_roundtrip_old_version),
        cmocka_unit_test (test_int_forms),
        cmocka_unit_test (test_unknown_keys_ignored),
        cmocka_unit_test (test_truncated_every_offset),
        cmocka_unit_test (test_trailing_bytes),
        cmocka_unit_test (test_not_a_map),
        cmocka_unit_test (test_huge_declared_sizes),
        cmocka_unit_test (test_nesting_too_deep),
        cmocka_unit_test (test_version),
        cmocka_unit_test (test_unknown_type),
        cmocka_unit_test (test_wrong_field_type),
        cmocka_unit_test (test_over_long),
        cmocka_unit_test (test_missing_required),
        cmocka_unit_test (test_range),
        cmocka_unit_test (test_duplicate_key),
        cmocka_unit_test (test_failure_frees_partial),
        cmocka_unit_test (test_validator),
        cmocka_unit_test (test_encode_checks),
        cmocka_unit_test (test_encode_into_too_small),
        cmocka_unit_test (test_msg_free_zeroed),
        cmocka_unit_test (test_strerror_distinct),
    };
    return cmocka_run_group_tests (tests, NULL, NULL);
}
