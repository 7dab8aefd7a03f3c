/*
 * snap_proto.h - the snapshot transfer protocol between nodes
 * (docs/snapshots.md, "Transfer protocol"), defined once.
 *
 * Every message is the body of a node RPC request or answer (cluster/rpc.h:
 * CURVE-authenticated node links, bodies up to RPC_BODY_MAX = 1 MiB):
 *
 *   "snap.read"    SNAPX_READ   -> SNAPX_CHUNK   a range of a held snapshot's
 *                                                layer; the receiver is the
 *                                                state machine in snap_xfer.h
 *   "snap.create"  SNAPX_CREATE                  take a snapshot of a shed on
 *                                                the node that runs it
 *   "snap.remove"  SNAPX_REMOVE                  drop a snapshot's data on the
 *                                                node that holds it
 *
 * Names are checked twice: by the validator here (the snapshot name rule of
 * snap_store.h, so nothing that decodes can name a path outside the store)
 * and again by the store on every call.
 */
#ifndef SHED_SNAP_PROTO_H
#define SHED_SNAP_PROTO_H

#include "cluster/records.h"
#include "common/wire_gen.h"

#define SNAPX_VERSION_MIN 1
#define SNAPX_VERSION     1

#define SNAPX_CHUNK_MAX (512u << 10) /* bytes of layer per SNAP_READ answer */

#define SNAPX_METHOD_READ   "snap.read"
#define SNAPX_METHOD_CREATE "snap.create"
#define SNAPX_METHOD_REMOVE "snap.remove"
#define SNAPX_METHOD_MOVE   "snap.move"

#define SNAPX_MODE_LIVE 0 /* frozen while captured */
#define SNAPX_MODE_STOP 1 /* stopped while captured, started again after */

/* READ `length` bytes (1..SNAPX_CHUNK_MAX) of snapshot `name`'s layer from
 * `offset`. */
/* clang-format off */
#define SNAPX_READ_FIELDS(F, T)                                                \
    F (T, 2, name,    WIRE_STR,  REC_NAME_MAX,    WIRE_REQ, _)                 \
    F (T, 3, offset,  WIRE_U64,  0,               WIRE_REQ, _)                 \
    F (T, 4, length,  WIRE_U64,  SNAPX_CHUNK_MAX, WIRE_REQ, _)
/* clang-format on */

/* CHUNK: the answer to READ. `data` holds the bytes from `offset` (fewer
 * than asked only at the end of the layer, none past it); `size` is the
 * layer's total size, so a receiver notices a source shorter or longer than
 * its record says. */
/* clang-format off */
#define SNAPX_CHUNK_FIELDS(F, T)                                               \
    F (T, 2, offset,  WIRE_U64,  0,               WIRE_REQ, _)                 \
    F (T, 3, data,    WIRE_BLOB, SNAPX_CHUNK_MAX, WIRE_OPT, _)                 \
    F (T, 4, size,    WIRE_U64,  0,               WIRE_OPT, _)
/* clang-format on */

/* CREATE snapshot `name` of shed `shed` (mode: SNAPX_MODE_LIVE or _STOP). */
/* clang-format off */
#define SNAPX_CREATE_FIELDS(F, T)                                              \
    F (T, 2, shed,    WIRE_STR,  REC_NAME_MAX,    WIRE_REQ, _)                 \
    F (T, 3, name,    WIRE_STR,  REC_NAME_MAX,    WIRE_REQ, _)                 \
    F (T, 4, mode,    WIRE_U64,  1,               WIRE_OPT, _)
/* clang-format on */

/* REMOVE snapshot `name`'s data. */
/* clang-format off */
#define SNAPX_REMOVE_FIELDS(F, T)                                              \
    F (T, 2, name,    WIRE_STR,  REC_NAME_MAX,    WIRE_REQ, _)
/* clang-format on */

/* MOVE shed `name` (to the node that runs it) to node `to` ("" = where
 * placement says), docs/snapshots.md "Move"; answered MOVED. */
/* clang-format off */
#define SNAPX_MOVE_FIELDS(F, T)                                                \
    F (T, 2, name,    WIRE_STR,  REC_NAME_MAX,    WIRE_REQ, _)                 \
    F (T, 3, to,      WIRE_STR,  REC_NAME_MAX,    WIRE_OPT, _)
/* clang-format on */
/* MOVED: where it runs now, its address, the layer's bytes and the time
 * of each step (ms): stop + capture, claim on the target (transfer, create,
 * start), in all. */
/* clang-format off */
#define SNAPX_MOVED_FIELDS(F, T)                                               \
    F (T, 2, to,          WIRE_STR, REC_NAME_MAX, WIRE_REQ, _)                 \
    F (T, 3, ip,          WIRE_STR, REC_ADDR_MAX, WIRE_OPT, _)                 \
    F (T, 4, bytes,       WIRE_U64, 0,            WIRE_OPT, _)                 \
    F (T, 5, capture_ms,  WIRE_U64, 0,            WIRE_OPT, _)                 \
    F (T, 6, claim_ms,    WIRE_U64, 0,            WIRE_OPT, _)                 \
    F (T, 7, total_ms,    WIRE_U64, 0,            WIRE_OPT, _)                 \
    F (T, 8, from,        WIRE_STR, REC_NAME_MAX, WIRE_OPT, _)
/* clang-format on */

/* clang-format off */
#define SNAPX_MESSAGES(M)                                                      \
    M (SNAPX_READ,   snapx_read,   1, SNAPX_READ_FIELDS)                       \
    M (SNAPX_CHUNK,  snapx_chunk,  2, SNAPX_CHUNK_FIELDS)                      \
    M (SNAPX_CREATE, snapx_create, 3, SNAPX_CREATE_FIELDS)                     \
    M (SNAPX_REMOVE, snapx_remove, 4, SNAPX_REMOVE_FIELDS)                     \
    M (SNAPX_MOVE,   snapx_move,   5, SNAPX_MOVE_FIELDS)                       \
    M (SNAPX_MOVED,  snapx_moved,  6, SNAPX_MOVED_FIELDS)
/* clang-format on */

WIRE_DECLARE_PROTO (snapx, SNAPX_MESSAGES)

#endif
