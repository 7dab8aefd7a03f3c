/*
 * records.h - the values of replicated state records, defined once.
 *
 * The replicated store (state.h) keeps opaque bytes per (origin, kind, key);
 * this protocol gives those bytes their shape. Every value is one wire
 * message (docs/wire.md), so it carries a version and a type, unknown fields
 * are ignored, and a decoder that meets a newer node's record still reads
 * the fields it knows.
 *
 *   kind "node"     key = node name         REC_NODE     one per node
 *   kind "service"  key = "<name>/<id>"     REC_SERVICE  one per instance
 *   kind "overlay"  key = node name         REC_OVERLAY  one per node (docs/overlay.md)
 *   kind "endpoint" key = MAC "02:00:..."   REC_ENDPOINT one per shed interface
 *   kind "shed"     key = shed name         REC_SHED     one per shed, by its node
 *   kind "name"     key = shed name         REC_NAME     a name reservation, by the
 *                                                        name's coordinator
 *   kind "image"    key = image name        REC_IMAGE    one per image a node holds,
 *                                                        by that node (docs/images.md)
 *   kind "snapshot" key = snapshot name     REC_SNAPSHOT one per snapshot, by the node
 *                                                        that holds its data
 *                                                        (docs/snapshots.md)
 *   kind "token"    key = token id          REC_TOKEN    a remote API token, by the node
 *                                                        that minted it (hash, never the
 *                                                        secret; docs/security.md)
 *   kind "token-revoke" key = token id      REC_TOKEN_REVOKE a revocation, republished by
 *                                                        every node that learns it
 * (docs/scheduling.md). Later kinds add their messages here.
 */
#ifndef SHED_RECORDS_H
#define SHED_RECORDS_H

#include "common/wire_gen.h"

#define REC_VERSION_MIN 1
#define REC_VERSION     1

#define REC_KIND_NODE     "node"
#define REC_KIND_SERVICE  "service"
#define REC_KIND_SHED     "shed"
#define REC_KIND_NAME     "name"
#define REC_KIND_OVERLAY  "overlay"
#define REC_KIND_ENDPOINT "endpoint"
#define REC_KIND_IMAGE    "image"
#define REC_KIND_SNAPSHOT "snapshot"
#define REC_KIND_TOKEN    "token"
#define REC_KIND_REVOKE   "token-revoke"

#define REC_NAME_MAX     63 /* node, shed and service names */
#define REC_ADDR_MAX     45 /* textual IPv4/IPv6 address */
#define REC_ENDPOINT_MAX 128
#define REC_TAGS_MAX     32
#define REC_CHECK_MAX    255 /* check target: "host:port" or a command */
#define REC_OUTPUT_MAX   255 /* last check output, trimmed */

/* Service health, as Consul names it. */
#define REC_HEALTH_PASSING  0
#define REC_HEALTH_WARNING  1
#define REC_HEALTH_CRITICAL 2

/* Health check kinds. */
#define REC_CHECK_NONE 0 /* health set by the registrant (agent) */
#define REC_CHECK_TCP  1 /* connect to address:port */
#define REC_CHECK_CMD  2 /* run a command; exit 0 pass, 1 warn, else critical */

/* clang-format off */
#define REC_NODE_FIELDS(F, T)                                                  \
    F (T, 2,  name,        WIRE_STR,  REC_NAME_MAX,     WIRE_REQ, _)           \
    F (T, 3,  addr,        WIRE_STR,  REC_ADDR_MAX,     WIRE_REQ, _)           \
    F (T, 4,  gossip_port, WIRE_U64,  65535,            WIRE_OPT, _)           \
    F (T, 5,  links,       WIRE_STR,  REC_ENDPOINT_MAX, WIRE_OPT, _)           \
    F (T, 6,  events,      WIRE_STR,  REC_ENDPOINT_MAX, WIRE_OPT, _)           \
    F (T, 7,  version,     WIRE_STR,  32,               WIRE_OPT, _)           \
    F (T, 8,  tags,        WIRE_TAGS, REC_TAGS_MAX,     WIRE_OPT, _)           \
    F (T, 9,  started_ms,  WIRE_U64,  0,                WIRE_OPT, _)           \
    F (T, 10, cpus,        WIRE_U64,  0,                WIRE_OPT, _)           \
    F (T, 11, memory_mb,   WIRE_U64,  0,                WIRE_OPT, _)           \
    F (T, 12, disk_mb,     WIRE_U64,  0,                WIRE_OPT, _)           \
    F (T, 13, gpus,        WIRE_U64,  0,                WIRE_OPT, _)           \
    F (T, 14, draining,    WIRE_BOOL, 0,                WIRE_OPT, _)           \
    /* Resources for placement (docs/scheduling.md): capacity in millicpus   \
     * and MiB, what is kept for the host, overcommit ratios (0 = 1.0) and   \
     * what admitted sheds hold. Updated on every admission and release. */ \
    F (T, 15, cpu_milli,   WIRE_U64,  0,                WIRE_OPT, _)           \
    F (T, 16, reserved_cpu_milli, WIRE_U64, 0,          WIRE_OPT, _)           \
    F (T, 17, reserved_memory_mb, WIRE_U64, 0,          WIRE_OPT, _)           \
    F (T, 18, reserved_disk_mb,   WIRE_U64, 0,          WIRE_OPT, _)           \
    F (T, 19, alloc_cpu_milli,    WIRE_U64, 0,          WIRE_OPT, _)           \
    F (T, 20, alloc_memory_mb,    WIRE_U64, 0,          WIRE_OPT, _)           \
    F (T, 21, alloc_disk_mb,      WIRE_U64, 0,          WIRE_OPT, _)           \
    F (T, 22, alloc_gpus,         WIRE_U64, 0,          WIRE_OPT, _)           \
    F (T, 23, oc_cpu,             WIRE_F64, 0,          WIRE_OPT, _)           \
    F (T, 24, oc_memory,          WIRE_F64, 0,          WIRE_OPT, _)           \
    F (T, 25, oc_disk,            WIRE_F64, 0,          WIRE_OPT, _)           \
    F (T, 26, sheds,              WIRE_U64, 0,          WIRE_OPT, _)           \
    /* The highest EVENT_BATCH version the node's bus reads (bridges/       \
     * event_msg.h EVENT_VERSION); absent (0) in records of releases before  \
     * version 3, which read 2. Buses batch at the lowest of their members' \
     * (docs/events.md, "Mixed versions"). */                               \
    F (T, 27, event_version,      WIRE_U64, 0,          WIRE_OPT, _)
/* clang-format on */

/* clang-format off */
#define REC_SERVICE_FIELDS(F, T)                                               \
    F (T, 2,  name,        WIRE_STR,  REC_NAME_MAX,     WIRE_REQ, _)           \
    F (T, 3,  id,          WIRE_STR,  REC_NAME_MAX,     WIRE_REQ, _)           \
    F (T, 4,  node,        WIRE_STR,  REC_NAME_MAX,     WIRE_REQ, _)           \
    F (T, 5,  shed,        WIRE_STR,  REC_NAME_MAX,     WIRE_OPT, _)           \
    F (T, 6,  address,     WIRE_STR,  REC_ADDR_MAX,     WIRE_REQ, _)           \
    F (T, 7,  port,        WIRE_U64,  65535,            WIRE_REQ, _)           \
    F (T, 8,  protocol,    WIRE_STR,  7,                WIRE_OPT, _)           \
    F (T, 9,  tags,        WIRE_TAGS, REC_TAGS_MAX,     WIRE_OPT, _)           \
    F (T, 10, health,      WIRE_U64,  2,                WIRE_OPT, _)           \
    F (T, 11, check,       WIRE_U64,  2,                WIRE_OPT, _)           \
    F (T, 12, check_target, WIRE_STR, REC_CHECK_MAX,    WIRE_OPT, _)           \
    F (T, 13, interval_ms, WIRE_U64,  86400000,         WIRE_OPT, _)           \
    F (T, 14, output,      WIRE_STR,  REC_OUTPUT_MAX,   WIRE_OPT, _)           \
    F (T, 15, updated_ms,  WIRE_U64,  0,                WIRE_OPT, _)
/* clang-format on */

/* A node's overlay: its address block claim (claim_ms = wall clock of the
 * claim, lower wins a conflict; see node/overlay/ipam.h), where its datapath
 * listens, its X25519 key, MTU and mode ("encrypted" | "plain"). An empty
 * block means "no block held" (all taken, or just lost a conflict). */
/* clang-format off */
#define REC_OVERLAY_FIELDS(F, T)                                               \
    F (T, 2,  node,        WIRE_STR,  REC_NAME_MAX,     WIRE_REQ, _)           \
    F (T, 3,  block,       WIRE_STR,  REC_ADDR_MAX + 4, WIRE_OPT, _)           \
    F (T, 4,  claim_ms,    WIRE_U64,  0,                WIRE_OPT, _)           \
    F (T, 5,  addr,        WIRE_STR,  REC_ADDR_MAX,     WIRE_REQ, _)           \
    F (T, 6,  port,        WIRE_U64,  65535,            WIRE_REQ, _)           \
    F (T, 7,  public_key,  WIRE_BIN,  32,               WIRE_OPT, _)           \
    F (T, 8,  mtu,         WIRE_U64,  65535,            WIRE_OPT, _)           \
    F (T, 9,  mode,        WIRE_STR,  15,               WIRE_OPT, _)           \
    F (T, 10, vni,         WIRE_U64,  16777215,         WIRE_OPT, _)           \
    F (T, 11, gateway,     WIRE_STR,  REC_ADDR_MAX,     WIRE_OPT, _)
/* clang-format on */

/* One shed interface on the overlay: key = its MAC; the owning node
 * programs nothing for it, every other node points MAC -> node (FDB) and
 * ip -> MAC (ARP / neighbour). epoch orders two nodes' records for one MAC
 * (a moved shed, docs/overlay.md "Moving a shed"): the higher wins, equal
 * ones go to the lower node name; absent (older nodes) = 0. */
/* clang-format off */
#define REC_ENDPOINT_FIELDS(F, T)                                              \
    F (T, 2,  ip,          WIRE_STR,  REC_ADDR_MAX,     WIRE_REQ, _)           \
    F (T, 3,  mac,         WIRE_STR,  17,               WIRE_REQ, _)           \
    F (T, 4,  node,        WIRE_STR,  REC_NAME_MAX,     WIRE_REQ, _)           \
    F (T, 5,  shed,        WIRE_STR,  REC_NAME_MAX,     WIRE_OPT, _)           \
    F (T, 6,  epoch,       WIRE_U64,  0,                WIRE_OPT, _)
/* clang-format on */

/* A shed, written only by the node that runs it. state: starting |
 * running | stopped | error (Shed's words); `error` says why for error.
 * cpus in millicpus. created_ms: wall clock at admission (duplicate
 * resolution compares it). */
#define REC_SHED_STATE_MAX 15
/* clang-format off */
#define REC_SHED_FIELDS(F, T)                                                  \
    F (T, 2,  name,        WIRE_STR,  REC_NAME_MAX,     WIRE_REQ, _)           \
    F (T, 3,  node,        WIRE_STR,  REC_NAME_MAX,     WIRE_REQ, _)           \
    F (T, 4,  state,       WIRE_STR,  REC_SHED_STATE_MAX, WIRE_REQ, _)         \
    F (T, 5,  cpus_milli,  WIRE_U64,  0,                WIRE_OPT, _)           \
    F (T, 6,  memory_mb,   WIRE_U64,  0,                WIRE_OPT, _)           \
    F (T, 7,  disk_mb,     WIRE_U64,  0,                WIRE_OPT, _)           \
    F (T, 8,  gpus,        WIRE_U64,  0,                WIRE_OPT, _)           \
    F (T, 9,  image,       WIRE_STR,  255,              WIRE_OPT, _)           \
    F (T, 10, ip,          WIRE_STR,  REC_ADDR_MAX,     WIRE_OPT, _)           \
    F (T, 11, mac,         WIRE_STR,  17,               WIRE_OPT, _)           \
    F (T, 12, request_id,  WIRE_STR,  64,               WIRE_REQ, _)           \
    F (T, 13, created_ms,  WIRE_U64,  0,                WIRE_OPT, _)           \
    F (T, 14, error,       WIRE_STR,  REC_OUTPUT_MAX,   WIRE_OPT, _)           \
    F (T, 15, tags,        WIRE_TAGS, REC_TAGS_MAX,     WIRE_OPT, _)           \
    F (T, 16, driver,      WIRE_STR,  15,               WIRE_OPT, _)           \
    F (T, 17, updated_ms,  WIRE_U64,  0,                WIRE_OPT, _)           \
    F (T, 18, moves,       WIRE_U64,  0,                WIRE_OPT, _)
/* clang-format on */
/* moves: how often the shed moved to another node (docs/snapshots.md,
 * "Move"); a moved shed keeps its created_ms, and of two records of one
 * name the one with more moves keeps it (the source's stale copy goes). */

/* A name reservation, written by the name's coordinator (names.h). */
/* clang-format off */
#define REC_NAME_FIELDS(F, T)                                                  \
    F (T, 2,  name,        WIRE_STR,  REC_NAME_MAX,     WIRE_REQ, _)           \
    F (T, 3,  holder,      WIRE_STR,  REC_NAME_MAX,     WIRE_REQ, _)           \
    F (T, 4,  request_id,  WIRE_STR,  64,               WIRE_REQ, _)           \
    F (T, 5,  expires_ms,  WIRE_U64,  0,                WIRE_REQ, _)           \
    F (T, 6,  created_ms,  WIRE_U64,  0,                WIRE_OPT, _)
/* clang-format on */

/* An image this node holds (node/images/image_store.h): its name, the
 * sha256 of its archive, archive and unpacked bytes. Placement sends a
 * create that names an image only to nodes with such a record. */
/* clang-format off */
#define REC_IMAGE_FIELDS(F, T)                                                 \
    F (T, 2,  name,        WIRE_STR,  REC_NAME_MAX,     WIRE_REQ, _)           \
    F (T, 3,  digest,      WIRE_STR,  64,               WIRE_REQ, _)           \
    F (T, 4,  size,        WIRE_U64,  0,                WIRE_OPT, _)           \
    F (T, 5,  unpacked,    WIRE_U64,  0,                WIRE_OPT, _)
/* clang-format on */

/* A snapshot (node/snapshots/): the shed it was taken of, where its data
 * (the writable layer, `size` bytes with sha256 `digest`, hex) lives, and
 * what a shed made from it needs: image, resources, tags, and the address
 * it had (a move keeps ip and mac). mode: "live" (frozen while captured)
 * or "stop". created_ms: wall clock. */
/* clang-format off */
#define REC_SNAPSHOT_FIELDS(F, T)                                              \
    F (T, 2,  name,        WIRE_STR,  REC_NAME_MAX,     WIRE_REQ, _)           \
    F (T, 3,  shed,        WIRE_STR,  REC_NAME_MAX,     WIRE_REQ, _)           \
    F (T, 4,  node,        WIRE_STR,  REC_NAME_MAX,     WIRE_REQ, _)           \
    F (T, 5,  digest,      WIRE_STR,  64,               WIRE_REQ, _)           \
    F (T, 6,  size,        WIRE_U64,  0,                WIRE_OPT, _)           \
    F (T, 7,  image,       WIRE_STR,  255,              WIRE_OPT, _)           \
    F (T, 8,  cpus_milli,  WIRE_U64,  0,                WIRE_OPT, _)           \
    F (T, 9,  memory_mb,   WIRE_U64,  0,                WIRE_OPT, _)           \
    F (T, 10, disk_mb,     WIRE_U64,  0,                WIRE_OPT, _)           \
    F (T, 11, gpus,        WIRE_U64,  0,                WIRE_OPT, _)           \
    F (T, 12, ip,          WIRE_STR,  REC_ADDR_MAX,     WIRE_OPT, _)           \
    F (T, 13, mac,         WIRE_STR,  17,               WIRE_OPT, _)           \
    F (T, 14, tags,        WIRE_TAGS, REC_TAGS_MAX,     WIRE_OPT, _)           \
    F (T, 15, driver,      WIRE_STR,  15,               WIRE_OPT, _)           \
    F (T, 16, mode,        WIRE_STR,  7,                WIRE_OPT, _)           \
    F (T, 17, created_ms,  WIRE_U64,  0,                WIRE_OPT, _)
/* clang-format on */

/* A remote API token (node/http/http_tokens.h, docs/security.md "Remote
 * API tokens"): id (8 hex digits), role "read" | "operator", the
 * BLAKE2b-256 hash of its secret (the secret never leaves the minting
 * node), name, wall-clock creation and expiry (0: never). */
/* clang-format off */
#define REC_TOKEN_FIELDS(F, T)                                                 \
    F (T, 2,  id,          WIRE_STR,  8,                WIRE_REQ, _)           \
    F (T, 3,  role,        WIRE_STR,  15,               WIRE_REQ, _)           \
    F (T, 4,  hash,        WIRE_BIN,  32,               WIRE_REQ, _)           \
    F (T, 5,  name,        WIRE_STR,  63,               WIRE_OPT, _)           \
    F (T, 6,  created_ms,  WIRE_U64,  0,                WIRE_OPT, _)           \
    F (T, 7,  expires_ms,  WIRE_U64,  0,                WIRE_OPT, _)
/* clang-format on */

/* A token revocation: every node that learns one publishes its own copy,
 * so it outlives the node that made it. expires_ms: the revoked token's
 * expiry (0: never), after which the revocation may be forgotten. */
/* clang-format off */
#define REC_TOKEN_REVOKE_FIELDS(F, T)                                          \
    F (T, 2,  id,          WIRE_STR,  8,                WIRE_REQ, _)           \
    F (T, 3,  revoked_ms,  WIRE_U64,  0,                WIRE_OPT, _)           \
    F (T, 4,  expires_ms,  WIRE_U64,  0,                WIRE_OPT, _)
/* clang-format on */

/* clang-format off */
#define REC_MESSAGES(M)                                                        \
    M (REC_NODE,    rec_node,    1, REC_NODE_FIELDS)                           \
    M (REC_SERVICE, rec_service, 2, REC_SERVICE_FIELDS)                        \
    M (REC_SHED,    rec_shed,   20, REC_SHED_FIELDS)                           \
    M (REC_NAME,    rec_name,   21, REC_NAME_FIELDS)                        \
    M (REC_OVERLAY,  rec_overlay,  10, REC_OVERLAY_FIELDS)                     \
    M (REC_ENDPOINT, rec_endpoint, 11, REC_ENDPOINT_FIELDS)                   \
    M (REC_IMAGE,    rec_image,    30, REC_IMAGE_FIELDS)                     \
    M (REC_SNAPSHOT, rec_snapshot, 31, REC_SNAPSHOT_FIELDS)                   \
    M (REC_TOKEN,    rec_token,    40, REC_TOKEN_FIELDS)                      \
    M (REC_TOKEN_REVOKE, rec_token_revoke, 41, REC_TOKEN_REVOKE_FIELDS)
/* clang-format on */

WIRE_DECLARE_PROTO (rec, REC_MESSAGES)

const char *rec_health_name (uint64_t health);
/* "passing" | "warning" | "critical" -> 0..2, or -1. */
int rec_health_parse (const char *text);

#endif
