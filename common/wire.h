/*
 * wire.h - the table-driven msgpack message layer every protocol uses.
 *
 * A protocol is a list of message types; each message type is a list of
 * fields, written ONCE as an X-macro in the protocol's header. From that one
 * definition wire_gen.h generates the C struct, the field descriptor table,
 * the type enum and the message union; the generic code here encodes, decodes
 * and validates any message by walking the descriptor table.
 *
 * Wire form of a message: one msgpack map
 *     { 0: version (uint), 1: type (uint), <field id>: <value>, ... }
 * Field ids are small unsigned integers (>= 2 in messages; any id in list
 * items). Keys the decoder does not know (other ids, or non-integer keys) are
 * skipped, so newer senders can add optional fields without breaking older
 * receivers. A known field with the wrong msgpack type, a string or list over
 * its bound, a missing required field, a duplicate key, or trailing bytes are
 * errors, each with its own code.
 *
 * Field kinds and their C representation:
 *   WIRE_U64   uint64_t       msgpack positive int; `max` bounds it when != 0
 *   WIRE_I64   int64_t        msgpack int
 *   WIRE_F64   double         msgpack float (or int); NaN rejected
 *   WIRE_BOOL  bool           msgpack bool
 *   WIRE_STR   char[max+1]    msgpack str, at most `max` bytes, no NUL inside
 *   WIRE_BIN   uint8_t[max]   msgpack bin of exactly `max` bytes (keys, ids)
 *   WIRE_BLOB  wire_blob_t    msgpack bin of at most `max` bytes (owned)
 *   WIRE_TAGS  wire_tags_t    msgpack map str->str, at most `max` pairs (owned)
 *   WIRE_LIST  {n, items}     msgpack array of at most `max` records (owned)
 *
 * Ownership: decoding allocates BLOB/TAGS/LIST storage inside the message;
 * wire_msg_free() releases it (and is safe on a zeroed or half-decoded
 * message). Encoding only reads the message.
 *
 * Safety: before msgpack-c sees untrusted bytes, a bounded pre-scan walks the
 * input and rejects any container whose declared count exceeds the bytes that
 * remain (msgpack-c would otherwise reserve the declared size up front) or
 * that nests deeper than WIRE_MAX_DEPTH.
 */
#ifndef SHED_WIRE_H
#define SHED_WIRE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define WIRE_KEY_VERSION   0   /* map key of the protocol version */
#define WIRE_KEY_TYPE      1   /* map key of the message type */
#define WIRE_MAX_DEPTH     16  /* deepest nesting accepted in input */
#define WIRE_TAG_KEY_MAX   63  /* bytes in a tag key */
#define WIRE_TAG_VALUE_MAX 255 /* bytes in a tag value */

/* Return codes: 0 is success, every failure class has its own code. */
typedef enum {
    WIRE_OK = 0,
    WIRE_ERR_TRUNCATED = -1, /* input ends inside a value */
    WIRE_ERR_MALFORMED = -2, /* not msgpack, not a map, dup key, trailing bytes */
    WIRE_ERR_VERSION = -3,   /* version outside the protocol's range */
    WIRE_ERR_TYPE = -4,      /* unknown message type */
    WIRE_ERR_FIELD = -5,     /* a known field has the wrong msgpack type */
    WIRE_ERR_LENGTH = -6,    /* string/bin/list/tags over bound, bin size wrong */
    WIRE_ERR_MISSING = -7,   /* a required field is absent */
    WIRE_ERR_TOO_BIG = -8,   /* declared count exceeds input, too deep, or output full */
    WIRE_ERR_RANGE = -9,     /* integer over its bound, NaN */
    WIRE_ERR_INVALID = -10,  /* the protocol's semantic validator said no */
    WIRE_ERR_NOMEM = -11,
} wire_err_t;

typedef enum {
    WIRE_U64,
    WIRE_I64,
    WIRE_F64,
    WIRE_BOOL,
    WIRE_STR,
    WIRE_BIN,
    WIRE_BLOB,
    WIRE_TAGS,
    WIRE_LIST,
} wire_kind_t;

#define WIRE_OPT 0u /* field may be absent (decodes as zero) */
#define WIRE_REQ 1u /* field must be present */

typedef struct {
    uint8_t *data; /* owned after decode; borrowed for encode */
    size_t len;
} wire_blob_t;

typedef struct {
    char key[WIRE_TAG_KEY_MAX + 1];
    char value[WIRE_TAG_VALUE_MAX + 1];
} wire_tag_t;

typedef struct {
    size_t n;
    wire_tag_t *items; /* owned after decode; borrowed for encode */
} wire_tags_t;

/* Generic view of any WIRE_LIST member: { size_t n; T *items; }. */
typedef struct {
    size_t n;
    void *items;
} wire_list_t;

struct wire_desc;

typedef struct {
    uint32_t id;      /* map key on the wire */
    const char *name; /* C member name, used in error reports */
    wire_kind_t kind;
    size_t offset;               /* offsetof the member in its struct */
    uint64_t max;                /* bound; meaning depends on kind */
    unsigned flags;              /* WIRE_REQ / WIRE_OPT */
    const struct wire_desc *sub; /* item record of a WIRE_LIST, else NULL */
} wire_field_t;

typedef struct wire_desc {
    const char *name; /* e.g. "api_status_rep" */
    uint16_t type;    /* message type id (0 for list records) */
    size_t size;      /* sizeof the struct */
    size_t nfields;
    const wire_field_t *fields;
} wire_desc_t;

typedef struct {
    uint16_t version; /* decoded version; 0 on encode = current */
    uint16_t type;    /* message type id */
} wire_hdr_t;

/* Optional semantic check run after decode and before encode. Return 0 if
 * fine, else set *why to a static string and return non-zero. */
typedef int (wire_validate_fn) (uint16_t type, const void *body, const char **why);

typedef struct {
    const char *name;                /* protocol name for logs */
    uint16_t version_min;            /* oldest version we decode */
    uint16_t version;                /* version we speak (encode) */
    const wire_desc_t *const *descs; /* message descriptors */
    size_t ndescs;
    size_t msg_size;            /* sizeof <proto>_msg_t */
    size_t body_offset;         /* offsetof <proto>_msg_t, u */
    wire_validate_fn *validate; /* may be NULL */
} wire_proto_t;

/* Descriptor of a message type, or NULL. */
const wire_desc_t *wire_proto_find (const wire_proto_t *proto, uint16_t type);

/* Encode `msg` (a <proto>_msg_t whose hdr.type is set) into a new buffer.
 * On success *out is malloc'd (caller frees) and *out_len set. */
int wire_encode (const wire_proto_t *proto, const void *msg, uint8_t **out, size_t *out_len);

/* Encode into caller's buffer of `cap` bytes; WIRE_ERR_TOO_BIG if it does not
 * fit. Used for datagrams. */
int wire_encode_into (const wire_proto_t *proto, const void *msg, uint8_t *buf, size_t cap,
                      size_t *out_len);

/* Read version and type without decoding the body. */
int wire_peek (const wire_proto_t *proto, const uint8_t *buf, size_t len, wire_hdr_t *hdr);

/* Decode `len` bytes into `msg` (a <proto>_msg_t, zeroed here first). On
 * failure the message holds nothing that needs freeing and, if `field` is
 * not NULL, *field names the offending field (or "" for framing errors). */
int wire_decode (const wire_proto_t *proto, const uint8_t *buf, size_t len, void *msg,
                 const char **field);

/* Release everything decode allocated inside `msg`; leaves it zeroed. */
void wire_msg_free (const wire_proto_t *proto, void *msg);

/* Short human text for a wire_err_t. */
const char *wire_strerror (int code);

#endif
