/*
 * wire_gen.h - generators that turn one X-macro message definition into C.
 *
 * A protocol header writes, once:
 *
 *   #define DEMO_PING_FIELDS(F, T) \
 *       F (T, 2, seq,    WIRE_U64, 0,  WIRE_REQ, _) \
 *       F (T, 3, name,   WIRE_STR, 64, WIRE_REQ, _)
 *   #define DEMO_MEMBER_FIELDS(F, T) \
 *       F (T, 1, addr,   WIRE_STR, 64, WIRE_REQ, _)
 *   #define DEMO_LIST_FIELDS(F, T) \
 *       F (T, 2, members, WIRE_LIST, 1024, WIRE_OPT, demo_member)
 *
 *   WIRE_DECLARE_RECORD (demo_member, DEMO_MEMBER_FIELDS)   // list item
 *   #define DEMO_MESSAGES(M) \
 *       M (DEMO_PING, demo_ping, 1, DEMO_PING_FIELDS) \
 *       M (DEMO_LIST, demo_list, 2, DEMO_LIST_FIELDS)
 *   WIRE_DECLARE_PROTO (demo, DEMO_MESSAGES)
 *
 * and its .c file writes:
 *
 *   WIRE_DEFINE_RECORD (demo_member, 0, DEMO_MEMBER_FIELDS)
 *   WIRE_DEFINE_PROTO (demo, DEMO_MESSAGES, 1, 1, NULL)
 *
 * giving: `demo_ping_t`, `demo_list_t` (with `struct {size_t n;
 * demo_member_t *items;} members`), the enum DEMO_PING = 1, DEMO_LIST = 2,
 * `demo_msg_t { wire_hdr_t hdr; union { demo_ping_t demo_ping; ... } u; }`,
 * and `const wire_proto_t demo_proto`.
 *
 * Field tuple: F (T, id, member, kind, max, flags, sub) where `sub` names the
 * item record of a WIRE_LIST and is `_` otherwise.
 */
#ifndef SHED_WIRE_GEN_H
#define SHED_WIRE_GEN_H

#include "common/wire.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* C member for each kind. */
#define WIRE_CT_WIRE_U64(m, max, s)  uint64_t m;
#define WIRE_CT_WIRE_I64(m, max, s)  int64_t m;
#define WIRE_CT_WIRE_F64(m, max, s)  double m;
#define WIRE_CT_WIRE_BOOL(m, max, s) bool m;
#define WIRE_CT_WIRE_STR(m, max, s)  char m[(max) + 1];
#define WIRE_CT_WIRE_BIN(m, max, s)  uint8_t m[(max)];
#define WIRE_CT_WIRE_BLOB(m, max, s) wire_blob_t m;
#define WIRE_CT_WIRE_TAGS(m, max, s) wire_tags_t m;
#define WIRE_CT_WIRE_LIST(m, max, s)                                                               \
    struct {                                                                                       \
        size_t n;                                                                                  \
        s##_t *items;                                                                              \
    } m;

/* Item descriptor pointer for each kind. */
#define WIRE_SUB_WIRE_U64(s)  NULL
#define WIRE_SUB_WIRE_I64(s)  NULL
#define WIRE_SUB_WIRE_F64(s)  NULL
#define WIRE_SUB_WIRE_BOOL(s) NULL
#define WIRE_SUB_WIRE_STR(s)  NULL
#define WIRE_SUB_WIRE_BIN(s)  NULL
#define WIRE_SUB_WIRE_BLOB(s) NULL
#define WIRE_SUB_WIRE_TAGS(s) NULL
#define WIRE_SUB_WIRE_LIST(s) &s##_desc

#define WIRE_GEN_MEMBER(T, id, m, kind, max, flags, sub) WIRE_CT_##kind (m, max, sub)
#define WIRE_GEN_FIELD(T, id, m, kind, max, flags, sub)                                            \
    { (id), #m, kind, offsetof (T, m), (uint64_t) (max), (flags), WIRE_SUB_##kind (sub) },

/* A record: the struct `cname_t` and its descriptor `cname_desc`. The first
 * member only keeps field-less messages legal C. */
#define WIRE_DECLARE_RECORD(cname, FIELDS)                                                         \
    typedef struct cname##_s {                                                                     \
        unsigned char wire_unused_;                                                                \
        FIELDS (WIRE_GEN_MEMBER, cname##_t)                                                        \
    } cname##_t;                                                                                   \
    extern const wire_desc_t cname##_desc;

#define WIRE_DEFINE_RECORD(cname, typeid, FIELDS)                                                  \
    static const wire_field_t cname##_fields_[] = { FIELDS (WIRE_GEN_FIELD, cname##_t){            \
        0, NULL, WIRE_U64, 0, 0, 0, NULL } };                                                      \
    const wire_desc_t cname##_desc = { #cname, (typeid), sizeof (cname##_t),                       \
                                       sizeof cname##_fields_ / sizeof cname##_fields_[0] - 1,     \
                                       cname##_fields_ };

#define WIRE_GEN_ENUM(E, cname, typeid, FIELDS)    E = (typeid),
#define WIRE_GEN_STRUCT(E, cname, typeid, FIELDS)  WIRE_DECLARE_RECORD (cname, FIELDS)
#define WIRE_GEN_UNION(E, cname, typeid, FIELDS)   cname##_t cname;
#define WIRE_GEN_DEFREC(E, cname, typeid, FIELDS)  WIRE_DEFINE_RECORD (cname, typeid, FIELDS)
#define WIRE_GEN_DESCPTR(E, cname, typeid, FIELDS) &cname##_desc,

#define WIRE_DECLARE_PROTO(pname, MESSAGES)                                                        \
    enum { MESSAGES (WIRE_GEN_ENUM) pname##_type_end_ };                                           \
    MESSAGES (WIRE_GEN_STRUCT)                                                                     \
    typedef struct {                                                                               \
        wire_hdr_t hdr;                                                                            \
        union {                                                                                    \
            MESSAGES (WIRE_GEN_UNION)                                                              \
        } u;                                                                                       \
    } pname##_msg_t;                                                                               \
    extern const wire_proto_t pname##_proto;

#define WIRE_DEFINE_PROTO(pname, MESSAGES, vmin, vcur, validate_fn)                                \
    MESSAGES (WIRE_GEN_DEFREC)                                                                     \
    static const wire_desc_t *const pname##_descs_[] = { MESSAGES (WIRE_GEN_DESCPTR) NULL };       \
    const wire_proto_t pname##_proto = { #pname,                                                   \
                                         (vmin),                                                   \
                                         (vcur),                                                   \
                                         pname##_descs_,                                           \
                                         sizeof pname##_descs_ / sizeof pname##_descs_[0] - 1,     \
                                         sizeof (pname##_msg_t),                                   \
                                         offsetof (pname##_msg_t, u),                              \
                                         (validate_fn) };

#endif
