/*
 * event_msg.h - the event bus protocol: every constant, limit, topic rule
 * and message of cluster-wide event fan-out (docs/events.md).
 *
 * One ZeroMQ message = ONE frame:
 *
 *     <route> 0x00 <msgpack body>
 *
 * `route` is what pub/sub filters on (a subscription is a byte prefix of
 * the frame). For a live event the route is the event's topic, e.g.
 * `metrics.n1.web`; for a snapshot reply it is the requester's private
 * `$snap.<nonce>`. One frame instead of [topic][body] halves the work of
 * every hop: ZeroMQ allocates, queues and (CURVE) encrypts per frame.
 * The NUL ends the route, so a subscription to an exact topic can end in
 * NUL ("metrics.n1.web\0") and not match "metrics.n1.web2".
 *
 * Bodies (wire.h maps, defined once below):
 *   EVENT     one event: origin node, boot id, per-origin sequence,
 *             per-(origin, topic) sequence, time, kind, payload; `topic`
 *             only when the route is not the topic (snapshot items).
 *   SNAP_END  closes a snapshot reply: how many items preceded it.
 *
 * Topics: dot-separated, printable ASCII, no NUL, 1..EVENT_TOPIC_MAX
 * bytes, never starting with '$' (reserved for bus control):
 *   metrics.<node>.<shed>   proc.<node>.<shed>   log.<node>.<shed>.<stream>
 *   shed.<node>.<shed>      member.<node>        service.<name>
 * State-like prefixes (a last-value cache keeps the newest event per
 * origin and topic, replayed to late joiners): metrics. shed. member.
 * service.
 */
#ifndef SHED_EVENT_MSG_H
#define SHED_EVENT_MSG_H

#include "common/wire_gen.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* ------------------------------------------------------------------------ */
/*  Constants and limits                                                    */
/* ------------------------------------------------------------------------ */

#define EVENT_VERSION_MIN         1
/* 2 added EVENT_BATCH; 3 delta-codes its items (seq, tseq, time_us: each
 * item's difference from the one before), read alongside version 2. */
#define EVENT_VERSION             3
#define EVENT_VERSION_BATCH       2 /* first version with EVENT_BATCH (items as values) */
#define EVENT_VERSION_BATCH_DELTA 3 /* first version whose batch items are deltas */
#define EVPAY_VERSION             2 /* node payloads (evpay): unchanged since 2 */
#define EVENT_VERSION_SINGLE                                                                       \
    1 /* EVENT and SNAP_END are still stamped 1,
                                               so version-1 readers keep reading them */

/* The EVENT_BATCH version a member that says it reads `v` is sent at most
 * (its node record's event_version, a bus's PEER-VERSION): below
 * EVENT_VERSION_BATCH (absent, or from before batches) counts as that,
 * and the value is kept to 16 bits (docs/events.md, "Mixed versions"). */
static inline uint16_t
event_batch_version_read (uint64_t v)
{
    return v < EVENT_VERSION_BATCH ? EVENT_VERSION_BATCH : v > 0xffff ? 0xffff : (uint16_t) v;
}

#define EVENT_NODE_MAX     63         /* node name bytes (DNS label) */
#define EVENT_TOPIC_MAX    255        /* topic bytes */
#define EVENT_KIND_MAX     32         /* kind bytes, e.g. "agent.metrics" */
#define EVENT_PAYLOAD_MAX  (1u << 20) /* one agent frame at most */
#define EVENT_FRAME_MAX    (EVENT_PAYLOAD_MAX + EVENT_TOPIC_MAX * 2 + 256)
#define EVENT_PREFIXES_MAX 32 /* prefixes in one snapshot request */

#define EVENT_CTL_CHAR   '$'      /* routes starting with it are control */
#define EVENT_SNAP_ROUTE "$snap." /* + nonce: snapshot request / reply */
#define EVENT_NONCE_MAX  32       /* nonce bytes after "$snap." */

/* Default endpoints and socket tuning. */
#define EVENT_ORIGIN_PORT   7948            /* origin publisher, TCP + CURVE */
#define EVENT_CONSUMER_PORT 7949            /* remote consumers, TCP + CURVE */
#define EVENT_IPC_NAME      "events.sock"   /* local consumers, in the run dir */
#define EVENT_ZAP_PEERS     "bus-peers"     /* ZAP domain of the origin publisher */
#define EVENT_ZAP_CONSUMERS "bus-consumers" /* ZAP domain of remote consumers */
/* Messages between routing-tree neighbours (bridges/bus_links.c,
 * docs/events.md "Routing tree"): one frame each, either an event frame
 * (starts with a route: a topic or '$') or a control message whose first
 * byte is one of these (below 0x20, so never a route's first byte). */
#define EVENT_LINK_UNSUB    0      /* + prefix */
#define EVENT_LINK_SUB      1      /* + prefix, or "$snapreq.<nonce>\0prefixes" */
#define EVENT_LINK_HELLO    2      /* + sender's node name: the link (re)starts */
#define EVENT_LINK_PING     3      /* parent -> child: is it still there */
#define EVENT_LINK_BYE      4      /* child -> parent: it moves away */
#define EVENT_SNDHWM        100000 /* frames queued per subscriber */
#define EVENT_RCVHWM        100000 /* frames queued from each peer */
#define EVENT_CACHE_MAX     65536  /* last-value entries kept */
#define EVENT_TOPICS_MAX    65536  /* per-topic counters kept per origin */
#define EVENT_SNAP_WAIT_MS  1000   /* wait for peers' snapshots at most */

/* Batches (EVENT_BATCH): events of one (topic, kind) that a bus publishes in
 * the same turn of its loop travel as one ZeroMQ message, so CURVE, the
 * sockets and every hop after the origin pay per batch, not per event. */
#define EVENT_BATCH_MAX      128         /* events in one batch */
#define EVENT_BATCH_BYTES    (16u << 10) /* payload bytes gathered before a flush */
#define EVENT_BATCH_ITEM_MAX (16u << 10) /* larger events always travel alone */

/* ------------------------------------------------------------------------ */
/*  Messages                                                                */
/* ------------------------------------------------------------------------ */

/* clang-format off */
#define EVENT_EVENT_FIELDS(F, T) \
    F (T, 2, origin,  WIRE_STR,  EVENT_NODE_MAX,    WIRE_REQ, _)  \
    F (T, 3, boot,    WIRE_U64,  0,                 WIRE_REQ, _)  \
    F (T, 4, seq,     WIRE_U64,  0,                 WIRE_REQ, _)  \
    F (T, 5, tseq,    WIRE_U64,  0,                 WIRE_OPT, _)  \
    F (T, 6, time_us, WIRE_I64,  0,                 WIRE_REQ, _)  \
    F (T, 7, kind,    WIRE_STR,  EVENT_KIND_MAX,    WIRE_OPT, _)  \
    F (T, 8, payload, WIRE_BLOB, EVENT_PAYLOAD_MAX, WIRE_OPT, _)  \
    F (T, 9, topic,   WIRE_STR,  EVENT_TOPIC_MAX,   WIRE_OPT, _)
/* clang-format on */

/* clang-format off */
#define EVENT_SNAP_END_FIELDS(F, T) \
    F (T, 2, items,   WIRE_U64,  0,                 WIRE_REQ, _)  \
    F (T, 3, partial, WIRE_BOOL, 0,                 WIRE_OPT, _)
/* clang-format on */

/* One event inside a batch: the envelope fields that differ per event.
 * Version 2 items carry seq (>= 1), tseq and time_us as values (keys 0-2);
 * version 3 items carry them as deltas under their own keys (4-6), so a
 * version-2 reader, which needs key 0, refuses a version-3 batch instead
 * of reading deltas as values. Each version ignores the other's keys.
 * event_frame_encode / event_frame_decode convert: callers only ever see
 * the values in seq, tseq and time_us (the d* fields are 0). */
/* clang-format off */
#define EVENT_ITEM_FIELDS(F, T) \
    F (T, 0, seq,     WIRE_U64,  0,                    WIRE_OPT, _)  \
    F (T, 1, tseq,    WIRE_U64,  0,                    WIRE_OPT, _)  \
    F (T, 2, time_us, WIRE_I64,  0,                    WIRE_OPT, _)  \
    F (T, 3, payload, WIRE_BLOB, EVENT_BATCH_ITEM_MAX, WIRE_OPT, _)  \
    F (T, 4, dseq,    WIRE_U64,  0,                    WIRE_OPT, _)  \
    F (T, 5, dtseq,   WIRE_U64,  0,                    WIRE_OPT, _)  \
    F (T, 6, dtime,   WIRE_I64,  0,                    WIRE_OPT, _)
/* clang-format on */

WIRE_DECLARE_RECORD (event_item, EVENT_ITEM_FIELDS)

/* EVENT_BATCH (protocol version 2): 1..EVENT_BATCH_MAX live events of the
 * same origin, boot, topic (the route: batches are never snapshot items)
 * and kind, in order. Each item is exactly the EVENT it stands for.
 *
 * From version 3 (EVENT_VERSION_BATCH_DELTA) an item's seq, tseq and
 * time_us on the wire are its difference from the item before (the first
 * item's from 0, so it holds its own values): a batch is one topic of one
 * origin within one turn of the bus, so the three cost ~3 bytes instead of
 * ~19 per event (CURVE and every copy are per byte). seq: the increase,
 * >= 1 (a batch's seqs strictly increase, without wrapping past 2^64);
 * tseq and time_us: added modulo 2^64 (an absent tseq adds 0, so a batch
 * of untracked events, tseq 0, carries none; a negative time delta is a
 * clock step back). event_item_t always holds the values
 * themselves: event_frame_encode / event_frame_decode / event_batch_encode
 * convert, event_batch_next returns values. */
/* clang-format off */
#define EVENT_BATCH_FIELDS(F, T) \
    F (T, 2,  origin, WIRE_STR,  EVENT_NODE_MAX,    WIRE_REQ, _)  \
    F (T, 3,  boot,   WIRE_U64,  0,                 WIRE_REQ, _)  \
    F (T, 7,  kind,   WIRE_STR,  EVENT_KIND_MAX,    WIRE_OPT, _)  \
    F (T, 10, items,  WIRE_LIST, EVENT_BATCH_MAX,   WIRE_REQ, event_item)
/* clang-format on */

/* clang-format off */
#define EVENT_MESSAGES(M) \
    M (EVENT_EVENT,    event_event,    1, EVENT_EVENT_FIELDS)    \
    M (EVENT_SNAP_END, event_snap_end, 2, EVENT_SNAP_END_FIELDS) \
    M (EVENT_BATCH,    event_batch,    3, EVENT_BATCH_FIELDS)
/* clang-format on */

WIRE_DECLARE_PROTO (event, EVENT_MESSAGES)

/* ------------------------------------------------------------------------ */
/*  Payloads the node itself publishes (docs/events.md "Payloads")          */
/* ------------------------------------------------------------------------ */

/* Agent events carry the agent message as the agent sent it (agent_proto,
 * kind "agent.<type>"); the node's own events carry one of these (evpay
 * protocol, its own version and type so a consumer can tell them apart):
 *
 *   EVPAY_MEMBER (kind "member") on `member.<node>`: a membership change.
 *       `observer` is the node that saw it: the member itself for its own
 *       join / update / leave, another node for suspect / fail (each
 *       observer publishes its own observation, under its own origin).
 *   EVPAY_RECORD (kind "record") on `service.<name>` and
 *       `shed.<node>.<shed>`: a replicated record of the origin changed;
 *       `value` is the record value as stored (cluster/records.h).
 *   EVPAY_PROGRESS (kind "progress") on `snapshot.<node>.<snapshot>`: a
 *       snapshot's data moving (docs/snapshots.md): `what` fetch | move,
 *       `done` of `total` bytes, `state` running | done | failed (`why`),
 *       `peer` the other node (fetch: the holder; move: the target).
 *       On `create.<node>.<shed>`: a create's phases (docs/scheduling.md,
 *       "Create progress"): `what` create, `name` and `shed` the shed,
 *       `state` the phase (reserved placed failed from the node that took
 *       the create, network rootfs started from the target), `peer` the
 *       target, `why` a line for people, `done` ms since the phase's node
 *       saw the request, `agent` (started) the shed's agent will connect. */
#define EVPAY_CHANGE_MAX 15
#define EVPAY_TAGS_MAX   64

/* clang-format off */
#define EVPAY_MEMBER_FIELDS(F, T) \
    F (T, 2,  node,     WIRE_STR,  EVENT_NODE_MAX,    WIRE_REQ, _)  \
    F (T, 3,  change,   WIRE_STR,  EVPAY_CHANGE_MAX,  WIRE_REQ, _)  \
    F (T, 4,  observer, WIRE_STR,  EVENT_NODE_MAX,    WIRE_REQ, _)  \
    F (T, 5,  addr,     WIRE_STR,  63,                WIRE_OPT, _)  \
    F (T, 6,  port,     WIRE_U64,  65535,             WIRE_OPT, _)  \
    F (T, 7,  inc,      WIRE_U64,  0,                 WIRE_OPT, _)  \
    F (T, 8,  tags,     WIRE_TAGS, EVPAY_TAGS_MAX,    WIRE_OPT, _)  \
    F (T, 9,  reason,   WIRE_STR,  63,                WIRE_OPT, _)
/* clang-format on */

/* clang-format off */
#define EVPAY_RECORD_FIELDS(F, T) \
    F (T, 2,  change,   WIRE_STR,  EVPAY_CHANGE_MAX,  WIRE_REQ, _)  \
    F (T, 3,  origin,   WIRE_STR,  EVENT_NODE_MAX,    WIRE_REQ, _)  \
    F (T, 4,  rkind,    WIRE_STR,  31,                WIRE_REQ, _)  \
    F (T, 5,  key,      WIRE_STR,  255,               WIRE_REQ, _)  \
    F (T, 6,  version,  WIRE_U64,  0,                 WIRE_OPT, _)  \
    F (T, 7,  status,   WIRE_STR,  15,                WIRE_OPT, _)  \
    F (T, 8,  value,    WIRE_BLOB, EVENT_PAYLOAD_MAX / 2, WIRE_OPT, _)
/* clang-format on */

/* clang-format off */
#define EVPAY_PROGRESS_FIELDS(F, T) \
    F (T, 2,  what,     WIRE_STR,  15,                WIRE_REQ, _)  \
    F (T, 3,  name,     WIRE_STR,  63,                WIRE_REQ, _)  \
    F (T, 4,  shed,     WIRE_STR,  63,                WIRE_OPT, _)  \
    F (T, 5,  peer,     WIRE_STR,  EVENT_NODE_MAX,    WIRE_OPT, _)  \
    F (T, 6,  done,     WIRE_U64,  0,                 WIRE_OPT, _)  \
    F (T, 7,  total,    WIRE_U64,  0,                 WIRE_OPT, _)  \
    F (T, 8,  state,    WIRE_STR,  15,                WIRE_REQ, _)  \
    F (T, 9,  why,      WIRE_STR,  255,               WIRE_OPT, _)  \
    F (T, 10, agent,    WIRE_BOOL, 0,                 WIRE_OPT, _)
/* clang-format on */

/* clang-format off */
#define EVPAY_MESSAGES(M) \
    M (EVPAY_MEMBER, evpay_member, 1, EVPAY_MEMBER_FIELDS) \
    M (EVPAY_RECORD, evpay_record, 2, EVPAY_RECORD_FIELDS) \
    M (EVPAY_PROGRESS, evpay_progress, 3, EVPAY_PROGRESS_FIELDS)
/* clang-format on */

WIRE_DECLARE_PROTO (evpay, EVPAY_MESSAGES)

#define EVPAY_KIND_MEMBER   "member"
#define EVPAY_KIND_RECORD   "record"
#define EVPAY_KIND_PROGRESS "progress"

/* ------------------------------------------------------------------------ */
/*  Frames and topics                                                       */
/* ------------------------------------------------------------------------ */

/* Encode `msg` as one frame `route NUL body` into buf[cap]. Returns the
 * frame length, or a negative wire_err_t (WIRE_ERR_TOO_BIG if it does not
 * fit, WIRE_ERR_INVALID for a bad route). */
long event_frame_encode (const char *route, const event_msg_t *msg, uint8_t *buf, size_t cap);

/* The same frame as event_frame_encode gives for an EVENT_BATCH stamped
 * `version` (byte for byte), written directly: the bus's origin path
 * encodes one per (topic, kind) and loop turn, and the generic encoder's
 * per-field table walk cost as much as the rest of the bus thread's work
 * per event. `version` is EVENT_VERSION_BATCH_DELTA or later (items
 * delta-coded; seqs must rise) or EVENT_VERSION_BATCH (items as values,
 * what version-2 readers take: the bus sends it while some member does
 * not read version 3, docs/events.md "Mixed versions"; time_us is
 * written even when 0, as version-2 readers require it). Same checks
 * (origin, kind, 1..EVENT_BATCH_MAX items, seq >= 1, payloads <=
 * EVENT_BATCH_ITEM_MAX). Returns the frame length or a negative
 * wire_err_t (WIRE_ERR_INVALID for a version outside
 * EVENT_VERSION_BATCH..EVENT_VERSION); needs a little more room than the
 * frame takes (48 bytes per item, 128 for the envelope). */
long event_batch_encode (const char *route, const event_batch_t *b, uint16_t version, uint8_t *buf,
                         size_t cap);

/* Split a frame into its route (NUL-terminated inside the frame) and body.
 * Returns 0, or -1 if there is no NUL or the route is empty or too long. */
int event_frame_split (const uint8_t *frame, size_t len, const char **route, const uint8_t **body,
                       size_t *body_len);

/* Decode a whole frame: route and message. For an EVENT under a topic
 * route, msg->u.event_event.topic is filled from the route. Returns 0 or a
 * negative wire_err_t; *route points into the frame. */
int event_frame_decode (const uint8_t *frame, size_t len, const char **route, event_msg_t *msg);

/* What a relaying bus needs from a live EVENT or EVENT_BATCH frame, read in
 * place (no allocation, no msgpack-c): the per-event cost on a bus that
 * forwards a peer's events is this scan, not a decode. */
typedef struct {
    const char *route; /* into the frame (NUL-terminated there) */
    uint16_t type;     /* EVENT_EVENT / EVENT_SNAP_END / EVENT_BATCH */
    char origin[EVENT_NODE_MAX + 1];
    uint64_t boot;
    uint64_t seq;
    uint64_t tseq;
    int64_t time_us;
    const char *kind; /* into the frame, NOT terminated: kind_len */
    size_t kind_len;
    const uint8_t *payload; /* into the frame */
    size_t payload_len;
    bool has_topic; /* a `topic` field (snapshot items) is present */
    /* EVENT_BATCH only (seq, tseq, time_us, payload above stay 0): */
    uint16_t version;     /* the body's: items are deltas from EVENT_VERSION_BATCH_DELTA */
    uint32_t nitems;      /* 1..EVENT_BATCH_MAX, each already checked */
    const uint8_t *items; /* the first item's map, into the frame */
    const uint8_t *items_end;
} event_peek_t;

/* Scan a frame's route and its envelope's version, type, origin, boot, seq
 * and tseq (other fields are stepped over, bounds-checked). Returns 0, or
 * -1 if the frame is not a well-formed map of scalars (the caller then
 * treats it as malformed, or decodes it fully). For an EVENT_BATCH every
 * item is checked here (a map of scalars, seq >= 1, payload within
 * EVENT_BATCH_ITEM_MAX), so event_batch_next cannot fail on it later.
 * Does not validate payloads: consumers decode (and drop) what they cannot
 * read. */
int event_frame_peek (const uint8_t *frame, size_t len, event_peek_t *out);

/* One item of a peeked batch, in place. */
typedef struct {
    uint64_t seq;
    uint64_t tseq;
    int64_t time_us;
    const uint8_t *payload; /* into the frame; "" when absent */
    size_t payload_len;
} event_item_view_t;

/* Where a walk of a peeked batch is: the next item, and the previous
 * item's values (version 3 items are deltas from them). */
typedef struct {
    const uint8_t *p;
    uint64_t seq, tseq;
    int64_t time_us;
} event_batch_pos_t;

/* Walk a peeked batch: event_batch_start, then each event_batch_next fills
 * *out with the item's values (deltas applied), advances *pos and returns
 * 0, or -1 at pk->items_end. */
void event_batch_start (const event_peek_t *pk, event_batch_pos_t *pos);
int event_batch_next (const event_peek_t *pk, event_batch_pos_t *pos, event_item_view_t *out);

/* A valid topic: 1..EVENT_TOPIC_MAX printable ASCII bytes (0x21..0x7e),
 * not starting with '$'. */
bool event_topic_valid (const char *topic);
/* A valid node name: 1..EVENT_NODE_MAX bytes of [A-Za-z0-9_-]. */
bool event_node_valid (const char *node);
/* Does the topic fall under a state-like prefix (last-value cached)? */
bool event_topic_is_state (const char *topic);

/* Wall clock in microseconds since the epoch (envelope time_us). */
int64_t event_now_us (void);

#endif
