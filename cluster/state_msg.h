/*
 * state_msg.h - the replicated-state protocol: every message, field, limit
 * and constant, defined once.
 *
 * Messages (one msgpack frame each on the CURVE node links, see links.c):
 *     DIGEST    "what I have": for each origin I know, the highest version
 *               through which I hold everything (scuttlebutt digest). With
 *               `reply` set the receiver answers with a DELTA and its own
 *               DIGEST (without `reply`), so one round trip syncs both ways.
 *     DELTA     "what you lack": for each origin the receiver is behind on,
 *               the records with version > the receiver's max, ascending, cut
 *               at a byte budget. `spans` says, per origin, which version
 *               range the records cover so the receiver can advance its max
 *               even over versions that no longer exist (overwritten keys,
 *               purged tombstones). `more` asks the receiver to send a fresh
 *               DIGEST right away because the budget cut the delta short.
 *     PUSH      local changes, sent by the origin to every peer at once. Not
 *               contiguous, so a PUSH never advances a digest max by itself
 *               (except a record exactly one above it).
 *
 * Local only (never on the network):
 *     SNAPSHOT  the persisted file of this node's own records and its
 *               reserved version high-water mark (state_file.c).
 *
 * Versioning: the codec puts the wire version in every message (map key 0);
 * unknown fields are skipped, so later versions may add optional fields.
 */
#ifndef SHED_STATE_MSG_H
#define SHED_STATE_MSG_H

#include "common/wire_gen.h"

/* ---- Protocol versions -------------------------------------------------- */
#define STATE_WIRE_VERSION_MIN 1 /* oldest codec version we decode */
#define STATE_WIRE_VERSION     1 /* codec version we encode */

/* ---- Limits (all untrusted input is checked against these) -------------- */
#define STATE_ORIGIN_MAX      64                  /* bytes in an origin (node) name */
#define STATE_KIND_MAX        15                  /* bytes in a kind: [a-z][a-z0-9_-]* */
#define STATE_KEY_MAX         200                 /* bytes in a record key (printable) */
#define STATE_VALUE_MAX       (64u * 1024)        /* bytes in a record value */
#define STATE_DIGEST_MAX      4096                /* origins in one digest */
#define STATE_RECS_MAX        4096                /* records in one DELTA or PUSH */
#define STATE_LOCAL_MAX       16384               /* records one node may own */
#define STATE_LOCAL_BYTES_MAX (32u * 1024 * 1024) /* their total value bytes */
/* Versions above this are absurd: an origin writing a million records a
 * second needs 146,000 years to get here, so a bigger one is a forgery or a
 * bug, and refusing it keeps +1 far away from wrapping. */
#define STATE_VERSION_MAX     (((uint64_t) 1) << 62)

/* Byte budget of one DELTA or PUSH (default, configurable per call). The
 * first record of a message is always sent, so this must exceed the largest
 * record (value bound plus names plus framing). */
#define STATE_BUDGET_DEFAULT (256u * 1024)
/* Largest frame a receiver accepts: a full digest of STATE_DIGEST_MAX
 * origins with long names is the biggest legitimate message (~300 KiB). */
#define STATE_FRAME_MAX      (1024u * 1024)
/* Per-record framing overhead assumed by the budget estimate: map header,
 * six field ids, three string headers, a bin header, a 9-byte version, a
 * bool, a 64-byte signature with its id and bin header: at most
 * 1+7+3*2+5+9+1+2+64 = 95 bytes. Rounded up on purpose. */
#define STATE_REC_OVERHEAD   104

/* Version reservation: a node persists `hwm = used + STATE_VERSION_CHUNK`
 * before using versions beyond the previous hwm, and restarts at hwm, so a
 * crash can skip versions but never reuse one. */
#define STATE_VERSION_CHUNK 1000

#define STATE_FILE         "state.bin" /* in the data dir */
#define STATE_KIND_NODE    "node"
#define STATE_KIND_SERVICE "service"

/* ---- Records ------------------------------------------------------------ */

/* Ed25519 signature of a record by its origin (docs/state.md, "Trust"). */
#define STATE_SIG_BYTES 64

/* One record. A tombstone has no value. `sig` (added in wire version 1
 * as an optional field, so older decoders skip it) is the origin's
 * Ed25519 signature over the record's canonical encoding (state.c,
 * s_rec_digest); receivers with a verifier refuse records without one. */
/* clang-format off */
#define STATE_REC_FIELDS(F, T) \
    F (T, 1, origin,  WIRE_STR,  STATE_ORIGIN_MAX,  WIRE_REQ, _) \
    F (T, 2, kind,    WIRE_STR,  STATE_KIND_MAX,    WIRE_REQ, _) \
    F (T, 3, key,     WIRE_STR,  STATE_KEY_MAX,     WIRE_REQ, _) \
    F (T, 4, version, WIRE_U64,  STATE_VERSION_MAX, WIRE_REQ, _) \
    F (T, 5, tomb,    WIRE_BOOL, 0,                 WIRE_OPT, _) \
    F (T, 6, value,   WIRE_BLOB, STATE_VALUE_MAX,   WIRE_OPT, _) \
    F (T, 7, sig,     WIRE_BIN,  STATE_SIG_BYTES,   WIRE_OPT, _)
/* clang-format on */
WIRE_DECLARE_RECORD (state_rec, STATE_REC_FIELDS)

/* One digest entry: I hold everything of `origin` through version `max`. */
/* clang-format off */
#define STATE_DIG_FIELDS(F, T) \
    F (T, 1, origin,  WIRE_STR,  STATE_ORIGIN_MAX,  WIRE_REQ, _) \
    F (T, 2, max,     WIRE_U64,  STATE_VERSION_MAX, WIRE_REQ, _)
/* clang-format on */
WIRE_DECLARE_RECORD (state_dig, STATE_DIG_FIELDS)

/* One span of a delta: the records of `origin` in this message are all the
 * sender holds in (base, upto]. `floor` is the highest version of a
 * tombstone the sender has purged for that origin: a receiver whose max is
 * below it may hold records that were deleted while it was away, so it drops
 * that origin and pulls it again from zero. */
/* clang-format off */
#define STATE_SPAN_FIELDS(F, T) \
    F (T, 1, origin,  WIRE_STR,  STATE_ORIGIN_MAX,  WIRE_REQ, _) \
    F (T, 2, base,    WIRE_U64,  STATE_VERSION_MAX, WIRE_REQ, _) \
    F (T, 3, upto,    WIRE_U64,  STATE_VERSION_MAX, WIRE_REQ, _) \
    F (T, 4, floor,   WIRE_U64,  STATE_VERSION_MAX, WIRE_OPT, _)
/* clang-format on */
WIRE_DECLARE_RECORD (state_span, STATE_SPAN_FIELDS)

/* ---- Messages ----------------------------------------------------------- */

/* clang-format off */
#define STATE_DIGEST_FIELDS(F, T) \
    F (T, 2, from,    WIRE_STR,  STATE_ORIGIN_MAX,  WIRE_REQ, _) \
    F (T, 3, reply,   WIRE_BOOL, 0,                 WIRE_OPT, _) \
    F (T, 4, entries, WIRE_LIST, STATE_DIGEST_MAX,  WIRE_OPT, state_dig)
/* clang-format on */

/* clang-format off */
#define STATE_DELTA_FIELDS(F, T) \
    F (T, 2, from,    WIRE_STR,  STATE_ORIGIN_MAX,  WIRE_REQ, _) \
    F (T, 3, more,    WIRE_BOOL, 0,                 WIRE_OPT, _) \
    F (T, 4, spans,   WIRE_LIST, STATE_DIGEST_MAX,  WIRE_OPT, state_span) \
    F (T, 5, recs,    WIRE_LIST, STATE_RECS_MAX,    WIRE_OPT, state_rec)
/* clang-format on */

/* clang-format off */
#define STATE_PUSH_FIELDS(F, T) \
    F (T, 2, from,    WIRE_STR,  STATE_ORIGIN_MAX,  WIRE_REQ, _) \
    F (T, 3, recs,    WIRE_LIST, STATE_RECS_MAX,    WIRE_OPT, state_rec)
/* clang-format on */

/* clang-format off */
#define STATE_SNAPSHOT_FIELDS(F, T) \
    F (T, 2, origin,  WIRE_STR,  STATE_ORIGIN_MAX,  WIRE_REQ, _) \
    F (T, 3, hwm,     WIRE_U64,  STATE_VERSION_MAX, WIRE_REQ, _) \
    F (T, 4, floor,   WIRE_U64,  STATE_VERSION_MAX, WIRE_OPT, _) \
    F (T, 5, recs,    WIRE_LIST, STATE_LOCAL_MAX,   WIRE_OPT, state_rec)
/* clang-format on */

/* clang-format off */
#define STATE_MESSAGES(M) \
    M (STATE_DIGEST,   state_digest,   1,  STATE_DIGEST_FIELDS) \
    M (STATE_DELTA,    state_delta,    2,  STATE_DELTA_FIELDS) \
    M (STATE_PUSH,     state_push,     3,  STATE_PUSH_FIELDS) \
    M (STATE_SNAPSHOT, state_snapshot, 10, STATE_SNAPSHOT_FIELDS)
/* clang-format on */

WIRE_DECLARE_PROTO (state, STATE_MESSAGES)

/* Message types accepted from the network (SNAPSHOT is local only). */
#define STATE_IS_NETWORK(t) ((t) >= STATE_DIGEST && (t) <= STATE_PUSH)

/* True if `kind` is a valid kind: 1..STATE_KIND_MAX bytes of [a-z0-9_-],
 * starting with a letter. */
bool state_kind_valid (const char *kind);
/* True if `key` is 1..STATE_KEY_MAX printable bytes (no control chars). */
bool state_key_valid (const char *key);
/* True if `name` is a plausible origin name: 1..STATE_ORIGIN_MAX printable
 * bytes without spaces. */
bool state_origin_valid (const char *name);

/* Upper bound of the encoded size of one record. */
size_t state_rec_wire_size (const state_rec_t *rec);

#endif
