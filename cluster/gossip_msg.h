/*
 * gossip_msg.h - the membership (gossip) protocol: every message, field and
 * constant, defined once.
 *
 * Datagrams (UDP, one sealed message each, see membership.c):
 *     PING      probe a member directly; the target answers ACK
 *     ACK       answer to PING (direct or relayed for a PING_REQ)
 *     NACK      a relay could not reach the target in time (Lifeguard): tells
 *               the prober that the relay itself is fine, so the missing ack
 *               is about the target, not about the prober's own health
 *     PING_REQ  "probe this target for me" (indirect probe through k members)
 *     GOSSIP    pure dissemination, sent only while broadcasts are pending
 * Each datagram piggybacks `updates`: alive / suspect / dead / left records,
 * chosen from the transmit-limited broadcast queue. PING, ACK, NACK and
 * GOSSIP also carry `known`, how many members the sender sees alive, itself
 * included (kept for nodes before the digest), and `digest`, two 32-bit sums
 * over the sender's member table that grow only when it learns a member or
 * a higher incarnation (a join, a refutation). A receiver behind on both
 * sums has missed such a broadcast and repairs it with a push-pull to the
 * sender instead of waiting for the periodic full sync; a suspicion in
 * progress, a death or a reap moves neither in the repairing direction
 * (docs/membership.md, "The repair digest"). This is what keeps join
 * convergence bounded and false failures at zero when a retransmit-limited
 * update is lost. A sender without `digest` (0: an older node) is judged by
 * `known`, the earlier rule.
 *
 * Stream frames (TCP, length-prefixed and sealed, see membership.c):
 *     PUSH_PULL full state exchange: on join with the seeds, periodically
 *               with a random member (heals partitions, repairs missed gossip)
 *     KEY_OP / KEY_REPLY  cluster-wide keyring operations
 *
 * Local records (never on the network, used between the membership actor
 * and the daemon): MEMBERS, one list of member records.
 *
 * Versioning: the codec puts the wire version in every message (map key 0).
 * Independently, each node announces the range of membership protocol
 * versions it understands [vmin, vmax] in its alive record; a member whose
 * range does not overlap ours is refused.
 */
#ifndef SHED_GOSSIP_MSG_H
#define SHED_GOSSIP_MSG_H

#include "common/wire_gen.h"

/* ---- Protocol versions -------------------------------------------------- */
/* Version 2 (docs/membership.md section 1): every sealed datagram and
 * stream frame carries a stamp (sender boot id, counter, wall clock) inside
 * the seal, stream frames open a small sealed header before any body is
 * allocated, and KEY_OP carries an epoch. Version 1 peers cannot open any
 * of it (the seal domains changed), so both ranges start at 2: an old node
 * looks like a node with another cluster key (counted as drop_v1). */
#define GOSSIP_WIRE_VERSION_MIN 2 /* oldest codec version we decode */
#define GOSSIP_WIRE_VERSION     2 /* codec version we encode */
#define SWIM_PROTO_MIN          2 /* membership semantics we understand */
#define SWIM_PROTO_MAX          2

/* ---- Limits (all untrusted input is checked against these) -------------- */
#define SWIM_NAME_MAX    64   /* bytes in a node name */
#define SWIM_ADDR_MAX    45   /* bytes in a textual IPv4/IPv6 address */
#define SWIM_TAGS_MAX    32   /* tag pairs per node */
#define SWIM_KEY_BYTES   32   /* X25519 public key (node identity) */
#define SWIM_MAX_MEMBERS 8192 /* members we track; more is refused */
#define SWIM_MAX_UPDATES 64   /* piggybacked updates per datagram */
#define SWIM_ERROR_MAX   160  /* bytes of an error text in replies */
#define SWIM_KEYS_MAX    16   /* key ids in a key reply */
/* Incarnations above this are "absurd": a sender cannot reach them by
 * refuting honestly, and accepting them would let one bad packet pin a member
 * near UINT64_MAX where +1 wraps. */
#define SWIM_INC_MAX     (((uint64_t) 1) << 48)

/* UDP payload budget. 1400 bytes fits an Ethernet MTU with IP/UDP headers
 * and no fragmentation (memberlist uses the same); the seal adds its
 * overhead inside this budget, so plaintext gets SWIM_PACKET_MAX minus
 * SHED_SEAL_OVERHEAD. */
#define SWIM_PACKET_MAX 1400
/* Stream (TCP) frames: 4-byte big-endian length, then a sealed message.
 * 4096 members * ~1 KiB worst case each stays under this bound. */
#define SWIM_STREAM_MAX (8u * 1024 * 1024)

/* ---- Sealed framing, version 2 (docs/membership.md section 1) ------------
 * Seal domains (associated data): a v1 packet never opens as v2. */
#define GOSSIP_UDP_AD         "shed-gossip-udp-v2"
#define GOSSIP_TCP_HDR_AD     "shed-gossip-tcp-hdr-v2"
#define GOSSIP_TCP_AD         "shed-gossip-tcp-v2" /* + the sealed header */
#define GOSSIP_UDP_AD_V1      "shed-gossip-udp-v1" /* only to recognise old peers */
/* The stamp, first in every sealed plaintext: boot id (random per actor
 * start), counter (per boot and per channel), sender wall clock in ms since
 * the Unix epoch; all big-endian. */
#define GOSSIP_STAMP_BYTES    24
/* Stream frame = sealed header (GOSSIP_TCP_HDR_SEALED bytes, plaintext:
 * 4-byte body length + stamp) then the sealed body of that length, whose
 * associated data is GOSSIP_TCP_AD followed by the sealed header bytes (a
 * body cannot be spliced under another header). */
#define GOSSIP_TCP_HDR_PT     (4 + GOSSIP_STAMP_BYTES)
#define GOSSIP_TCP_HDR_SEALED (GOSSIP_TCP_HDR_PT + 45) /* + SHED_SEAL_OVERHEAD */
/* Accepted clock difference between a stamp and our clock, either way. */
#define GOSSIP_CLOCK_SKEW_MS  30000

typedef struct {
    uint64_t boot;
    uint64_t counter;
    uint64_t ts_ms;
} gossip_stamp_t;

void gossip_stamp_put (uint8_t out[GOSSIP_STAMP_BYTES], const gossip_stamp_t *stamp);
void gossip_stamp_get (const uint8_t in[GOSSIP_STAMP_BYTES], gossip_stamp_t *stamp);

#define SWIM_DEFAULT_PORT 7946

/* ---- Update kinds (gossip_update.kind) and member states ---------------- */
#define SWIM_UPD_ALIVE   0
#define SWIM_UPD_SUSPECT 1
#define SWIM_UPD_DEAD    2
#define SWIM_UPD_LEFT    3

/* ---- Key operations (gossip_key_op.op) ----------------------------------- */
#define GOSSIP_KEY_LIST    0
#define GOSSIP_KEY_INSTALL 1
#define GOSSIP_KEY_USE     2
#define GOSSIP_KEY_REMOVE  3

/* ---- Records ------------------------------------------------------------ */

/* One piggybacked update, also one member in push-pull and MEMBERS. For
 * ALIVE every field is meaningful; SUSPECT / DEAD carry name, inc and the
 * accuser in `from`; LEFT carries name and inc. In MEMBERS, `kind` is the
 * member's current state. */
/* clang-format off */
#define GOSSIP_UPDATE_FIELDS(F, T) \
    F (T, 1,  kind, WIRE_U64,  3,              WIRE_REQ, _) \
    F (T, 2,  name, WIRE_STR,  SWIM_NAME_MAX,  WIRE_REQ, _) \
    F (T, 3,  inc,  WIRE_U64,  0,              WIRE_REQ, _) \
    F (T, 4,  addr, WIRE_STR,  SWIM_ADDR_MAX,  WIRE_OPT, _) \
    F (T, 5,  port, WIRE_U64,  65535,          WIRE_OPT, _) \
    F (T, 6,  tags, WIRE_TAGS, SWIM_TAGS_MAX,  WIRE_OPT, _) \
    F (T, 7,  vmin, WIRE_U64,  65535,          WIRE_OPT, _) \
    F (T, 8,  vmax, WIRE_U64,  65535,          WIRE_OPT, _) \
    F (T, 9,  key,  WIRE_BLOB, SWIM_KEY_BYTES, WIRE_OPT, _) \
    F (T, 10, from, WIRE_STR,  SWIM_NAME_MAX,  WIRE_OPT, _) \
    F (T, 11, sigkey, WIRE_BIN, SWIM_KEY_BYTES, WIRE_OPT, _)
/* clang-format on */
WIRE_DECLARE_RECORD (gossip_update, GOSSIP_UPDATE_FIELDS)

/* One key of a keyring, by id only: keys themselves never leave a node in
 * a reply. */
/* clang-format off */
#define GOSSIP_KEYINFO_FIELDS(F, T) \
    F (T, 1, id,      WIRE_U64,  0xffffffffu, WIRE_REQ, _) \
    F (T, 2, primary, WIRE_BOOL, 0,           WIRE_OPT, _)
/* clang-format on */
WIRE_DECLARE_RECORD (gossip_keyinfo, GOSSIP_KEYINFO_FIELDS)

/* ---- Messages ----------------------------------------------------------- */

/* clang-format off */
#define GOSSIP_PING_FIELDS(F, T) \
    F (T, 2, seq,     WIRE_U64,  0,                WIRE_REQ, _) \
    F (T, 3, from,    WIRE_STR,  SWIM_NAME_MAX,    WIRE_REQ, _) \
    F (T, 4, target,  WIRE_STR,  SWIM_NAME_MAX,    WIRE_OPT, _) \
    F (T, 5, updates, WIRE_LIST, SWIM_MAX_UPDATES, WIRE_OPT, gossip_update) \
    F (T, 9, known,   WIRE_U64,  0,                WIRE_OPT, _) \
    F (T, 10, digest, WIRE_U64,  0,                WIRE_OPT, _)
/* clang-format on */

/* clang-format off */
#define GOSSIP_ACK_FIELDS(F, T) \
    F (T, 2, seq,     WIRE_U64,  0,                WIRE_REQ, _) \
    F (T, 3, from,    WIRE_STR,  SWIM_NAME_MAX,    WIRE_REQ, _) \
    F (T, 5, updates, WIRE_LIST, SWIM_MAX_UPDATES, WIRE_OPT, gossip_update) \
    F (T, 9, known,   WIRE_U64,  0,                WIRE_OPT, _) \
    F (T, 10, digest, WIRE_U64,  0,                WIRE_OPT, _)
/* clang-format on */

/* clang-format off */
#define GOSSIP_PING_REQ_FIELDS(F, T) \
    F (T, 2, seq,     WIRE_U64,  0,                WIRE_REQ, _) \
    F (T, 3, from,    WIRE_STR,  SWIM_NAME_MAX,    WIRE_REQ, _) \
    F (T, 4, target,  WIRE_STR,  SWIM_NAME_MAX,    WIRE_REQ, _) \
    F (T, 5, updates, WIRE_LIST, SWIM_MAX_UPDATES, WIRE_OPT, gossip_update) \
    F (T, 6, taddr,   WIRE_STR,  SWIM_ADDR_MAX,    WIRE_REQ, _) \
    F (T, 7, tport,   WIRE_U64,  65535,            WIRE_REQ, _)
/* clang-format on */

/* clang-format off */
#define GOSSIP_GOSSIP_FIELDS(F, T) \
    F (T, 3, from,    WIRE_STR,  SWIM_NAME_MAX,    WIRE_REQ, _) \
    F (T, 5, updates, WIRE_LIST, SWIM_MAX_UPDATES, WIRE_OPT, gossip_update) \
    F (T, 9, known,   WIRE_U64,  0,                WIRE_OPT, _) \
    F (T, 10, digest, WIRE_U64,  0,                WIRE_OPT, _)
/* clang-format on */

/* clang-format off */
#define GOSSIP_PUSH_PULL_FIELDS(F, T) \
    F (T, 2, join,    WIRE_BOOL, 0,                WIRE_OPT, _) \
    F (T, 3, from,    WIRE_STR,  SWIM_NAME_MAX,    WIRE_REQ, _) \
    F (T, 4, reply,   WIRE_BOOL, 0,                WIRE_OPT, _) \
    F (T, 5, members, WIRE_LIST, SWIM_MAX_MEMBERS, WIRE_OPT, gossip_update)
/* clang-format on */

/* epoch: strictly increasing per cluster (docs/membership.md section 6); a
 * change with an epoch <= the last one applied is ignored. */
/* clang-format off */
#define GOSSIP_KEY_OP_FIELDS(F, T) \
    F (T, 2, id,      WIRE_U64,  0,                WIRE_REQ, _) \
    F (T, 3, op,      WIRE_U64,  3,                WIRE_REQ, _) \
    F (T, 4, key,     WIRE_BLOB, 32,               WIRE_OPT, _) \
    F (T, 5, epoch,   WIRE_U64,  0,                WIRE_OPT, _)
/* clang-format on */

/* clang-format off */
#define GOSSIP_KEY_REPLY_FIELDS(F, T) \
    F (T, 2, id,      WIRE_U64,  0,                WIRE_REQ, _) \
    F (T, 3, from,    WIRE_STR,  SWIM_NAME_MAX,    WIRE_REQ, _) \
    F (T, 4, ok,      WIRE_BOOL, 0,                WIRE_OPT, _) \
    F (T, 5, error,   WIRE_STR,  SWIM_ERROR_MAX,   WIRE_OPT, _) \
    F (T, 6, keys,    WIRE_LIST, SWIM_KEYS_MAX,    WIRE_OPT, gossip_keyinfo)
/* clang-format on */

/* clang-format off */
#define GOSSIP_MEMBERS_FIELDS(F, T) \
    F (T, 2, members, WIRE_LIST, SWIM_MAX_MEMBERS, WIRE_OPT, gossip_update)
/* clang-format on */

/* clang-format off */
#define GOSSIP_MESSAGES(M) \
    M (GOSSIP_PING,      gossip_ping,      1, GOSSIP_PING_FIELDS) \
    M (GOSSIP_ACK,       gossip_ack,       2, GOSSIP_ACK_FIELDS) \
    M (GOSSIP_NACK,      gossip_nack,      3, GOSSIP_ACK_FIELDS) \
    M (GOSSIP_PING_REQ,  gossip_ping_req,  4, GOSSIP_PING_REQ_FIELDS) \
    M (GOSSIP_GOSSIP,    gossip_gossip,    5, GOSSIP_GOSSIP_FIELDS) \
    M (GOSSIP_PUSH_PULL, gossip_push_pull, 6, GOSSIP_PUSH_PULL_FIELDS) \
    M (GOSSIP_KEY_OP,    gossip_key_op,    7, GOSSIP_KEY_OP_FIELDS) \
    M (GOSSIP_KEY_REPLY, gossip_key_reply, 8, GOSSIP_KEY_REPLY_FIELDS) \
    M (GOSSIP_MEMBERS,   gossip_members,   9, GOSSIP_MEMBERS_FIELDS)
/* clang-format on */

WIRE_DECLARE_PROTO (gossip, GOSSIP_MESSAGES)

/* Message types that may arrive as datagrams (everything else on UDP is
 * dropped as misdirected before its body is decoded). */
#define GOSSIP_IS_DATAGRAM(t) ((t) >= GOSSIP_PING && (t) <= GOSSIP_GOSSIP)

#endif
