/*
 * fuzz_proto.h - a throw-away protocol that uses every wire field kind.
 *
 * Fuzzers (and tests that want a ready-made protocol) include this to get
 * `fz_proto`: two versions accepted (1..2), a message with every kind, a
 * list of records whose items hold a list of their own, tags, a field-less
 * message, and a validator, so every decoder path is reachable from bytes.
 *
 * This header DEFINES the descriptors and the protocol object: include it
 * from exactly one .c file per program.
 *
 * Field ids and bounds are kept small so a fuzzer hits the limits often.
 */
#ifndef SHED_FUZZ_PROTO_H
#define SHED_FUZZ_PROTO_H

#include "common/wire_gen.h"

#include <string.h>

/* clang-format off */
#define FZ_LEAF_FIELDS(F, T) \
    F (T, 0, data,   WIRE_BLOB, 8,  WIRE_OPT, _)       \
    F (T, 1, on,     WIRE_BOOL, 0,  WIRE_OPT, _)
/* clang-format on */

/* clang-format off */
#define FZ_ITEM_FIELDS(F, T) \
    F (T, 0, name,   WIRE_STR,  8,  WIRE_REQ, _)       \
    F (T, 1, n,      WIRE_U64,  9,  WIRE_OPT, _)       \
    F (T, 2, tags,   WIRE_TAGS, 2,  WIRE_OPT, _)       \
    F (T, 3, leaves, WIRE_LIST, 2,  WIRE_OPT, fz_leaf)
/* clang-format on */

/* clang-format off */
#define FZ_ALL_FIELDS(F, T) \
    F (T, 2,  u,     WIRE_U64,  100000, WIRE_REQ, _)   \
    F (T, 3,  i,     WIRE_I64,  0,      WIRE_OPT, _)   \
    F (T, 4,  f,     WIRE_F64,  0,      WIRE_OPT, _)   \
    F (T, 5,  b,     WIRE_BOOL, 0,      WIRE_OPT, _)   \
    F (T, 6,  s,     WIRE_STR,  16,     WIRE_REQ, _)   \
    F (T, 7,  key,   WIRE_BIN,  4,      WIRE_OPT, _)   \
    F (T, 8,  blob,  WIRE_BLOB, 32,     WIRE_OPT, _)   \
    F (T, 9,  tags,  WIRE_TAGS, 3,      WIRE_OPT, _)   \
    F (T, 10, items, WIRE_LIST, 4,      WIRE_OPT, fz_item) \
    F (T, 11, big,   WIRE_U64,  0,      WIRE_OPT, _)
/* clang-format on */

/* clang-format off */
#define FZ_SMALL_FIELDS(F, T) \
    F (T, 2,  seq,   WIRE_U64,  0,      WIRE_REQ, _)   \
    F (T, 3,  why,   WIRE_STR,  4,      WIRE_OPT, _)
/* clang-format on */

#define FZ_NONE_FIELDS(F, T)

/* clang-format off */
#define FZ_MESSAGES(M) \
    M (FZ_ALL,   fz_all,   1, FZ_ALL_FIELDS)   \
    M (FZ_SMALL, fz_small, 2, FZ_SMALL_FIELDS) \
    M (FZ_NONE,  fz_none,  3, FZ_NONE_FIELDS)
/* clang-format on */

WIRE_DECLARE_RECORD (fz_leaf, FZ_LEAF_FIELDS)
WIRE_DECLARE_RECORD (fz_item, FZ_ITEM_FIELDS)
WIRE_DECLARE_PROTO (fz, FZ_MESSAGES)

/* A semantic rule for the validator path: a SMALL message may not say
 * "bad", and an ALL message's first item may not be named "bad". */
static int
fz_validate (uint16_t type, const void *body, const char **why)
{
    if (type == FZ_SMALL && strcmp (((const fz_small_t *) body)->why, "bad") == 0) {
        *why = "why is bad";
        return -1;
    }
    if (type == FZ_ALL) {
        const fz_all_t *all = body;
        if (all->items.n && strcmp (all->items.items[0].name, "bad") == 0) {
            *why = "first item is bad";
            return -1;
        }
    }
    return 0;
}

WIRE_DEFINE_RECORD (fz_leaf, 0, FZ_LEAF_FIELDS)
WIRE_DEFINE_RECORD (fz_item, 0, FZ_ITEM_FIELDS)
WIRE_DEFINE_PROTO (fz, FZ_MESSAGES, 1, 2, fz_validate)

#endif
