/*
 * api_msg.h - the local API between shedctl (and other local clients) and
 * shed-node: one request, one reply, each a wire message (see docs/wire.md).
 *
 * Transport: ZeroMQ REQ (client) -> ROUTER (node) on ipc://<data_dir>/api.sock
 * (mode 0600). Every request gets exactly one reply: the matching *_REP, or
 * API_ERROR with a code and a one-line message fit to show a person.
 */
#ifndef SHED_API_MSG_H
#define SHED_API_MSG_H

#include "common/wire_gen.h"

#define API_VERSION_MIN 1
#define API_VERSION     1
#define API_TEXT_MAX    512        /* error messages, paths */
#define API_MAX_MSG     (4u << 20) /* largest request or reply we accept */

/* API_ERROR codes. */
typedef enum {
    API_ERR_BAD_REQUEST = 1, /* request did not decode or validate */
    API_ERR_UNSUPPORTED = 2, /* unknown request type for this node */
    API_ERR_INTERNAL = 3,    /* the node failed doing it */
    API_ERR_UNAVAILABLE = 4, /* a component is not running */
    API_ERR_INVALID = 5,     /* well-formed but refused (bad name, ...) */
    API_ERR_NOT_FOUND = 6,
    API_ERR_CONFLICT = 7, /* the name is taken (another shed, another request) */
} api_err_code_t;

/* clang-format off */
#define API_ERROR_FIELDS(F, T)                                                 \
    F (T, 2, code,       WIRE_U64, 0,            WIRE_REQ, _)                  \
    F (T, 3, message,    WIRE_STR, API_TEXT_MAX, WIRE_REQ, _)
/* clang-format on */

#define API_STATUS_REQ_FIELDS(F, T)

/* clang-format off */
#define API_STATUS_REP_FIELDS(F, T)                                            \
    F (T, 2, name,        WIRE_STR, 63,           WIRE_REQ, _)                 \
    F (T, 3, public_key,  WIRE_STR, 64,           WIRE_REQ, _)                 \
    F (T, 4, version,     WIRE_STR, 32,           WIRE_REQ, _)                 \
    F (T, 5, uptime_ms,   WIRE_U64, 0,            WIRE_OPT, _)                 \
    F (T, 6, pid,         WIRE_U64, 0,            WIRE_OPT, _)                 \
    F (T, 7, data_dir,    WIRE_STR, API_TEXT_MAX, WIRE_OPT, _)                 \
    F (T, 8, gossip_addr, WIRE_STR, 64,           WIRE_OPT, _)                 \
    F (T, 9, gossip_port, WIRE_U64, 65535,        WIRE_OPT, _)                 \
    F (T, 10, members_alive, WIRE_U64, 0,         WIRE_OPT, _)                 \
    F (T, 11, members_total, WIRE_U64, 0,         WIRE_OPT, _)                 \
    F (T, 12, tags,       WIRE_TAGS, 64,          WIRE_OPT, _)                 \
    F (T, 13, sign_key,   WIRE_STR, 64,           WIRE_OPT, _)
/* clang-format on */

/* A plain success with an optional message for people. */
/* clang-format off */
#define API_OK_FIELDS(F, T)                                                    \
    F (T, 2, message,    WIRE_STR, API_TEXT_MAX, WIRE_OPT, _)
/* clang-format on */

/* ---- Membership -------------------------------------------------------- */
#define API_ADDR_MAX  300 /* "host:port" */
#define API_SEEDS_MAX 16

/* clang-format off */
#define API_ADDR_FIELDS(F, T)                                                  \
    F (T, 1, addr,       WIRE_STR, API_ADDR_MAX, WIRE_REQ, _)
/* clang-format on */
WIRE_DECLARE_RECORD (api_addr, API_ADDR_FIELDS)

#define API_MEMBERS_REQ_FIELDS(F, T)

/* `members` is a GOSSIP_MEMBERS message (cluster/gossip_msg.h) passed
 * through as the membership layer encoded it, so its member record is
 * defined once. */
/* clang-format off */
#define API_MEMBERS_REP_FIELDS(F, T)                                           \
    F (T, 2, members,    WIRE_BLOB, API_MAX_MSG - 4096, WIRE_REQ, _)
/* clang-format on */

/* clang-format off */
#define API_JOIN_REQ_FIELDS(F, T)                                              \
    F (T, 2, seeds,      WIRE_LIST, API_SEEDS_MAX, WIRE_REQ, api_addr)
/* clang-format on */

#define API_LEAVE_REQ_FIELDS(F, T)

#define API_TAG_SET   0
#define API_TAG_UNSET 1
/* clang-format off */
#define API_TAGS_REQ_FIELDS(F, T)                                              \
    F (T, 2, op,         WIRE_U64, 1,   WIRE_REQ, _)                           \
    F (T, 3, key,        WIRE_STR, 63,  WIRE_REQ, _)                           \
    F (T, 4, value,      WIRE_STR, 255, WIRE_OPT, _)
/* clang-format on */

/* ---- Keyring (cluster-wide) ---------------------------------------------- */
#define API_KEY_LIST       0
#define API_KEY_INSTALL    1
#define API_KEY_USE        2
#define API_KEY_REMOVE     3
#define API_KEYS_NODES_MAX 4096

/* clang-format off */
#define API_KEYS_REQ_FIELDS(F, T)                                              \
    F (T, 2, op,         WIRE_U64, 3,   WIRE_REQ, _)                           \
    F (T, 3, key,        WIRE_STR, 64,  WIRE_OPT, _)
/* clang-format on */

/* One node's answer: ok, and its key ids ("1a2b3c4d*,..." primary starred),
 * or the error it gave. */
/* clang-format off */
#define API_KEYNODE_FIELDS(F, T)                                               \
    F (T, 1, name,       WIRE_STR, 64,  WIRE_REQ, _)                           \
    F (T, 2, ok,         WIRE_BOOL, 0,  WIRE_OPT, _)                           \
    F (T, 3, keyids,     WIRE_STR, 160, WIRE_OPT, _)                           \
    F (T, 4, error,      WIRE_STR, 200, WIRE_OPT, _)
/* clang-format on */
WIRE_DECLARE_RECORD (api_keynode, API_KEYNODE_FIELDS)

/* clang-format off */
#define API_KEYS_REP_FIELDS(F, T)                                              \
    F (T, 2, status,     WIRE_STR, API_TEXT_MAX, WIRE_REQ, _)                  \
    F (T, 3, nodes,      WIRE_LIST, API_KEYS_NODES_MAX, WIRE_OPT, api_keynode)
/* clang-format on */

/* ---- Replicated state (inspection) ---------------------------------------- */
#define API_STATE_RECORDS_MAX 65536
/* clang-format off */
#define API_STATE_REQ_FIELDS(F, T)                                             \
    F (T, 2, kind,       WIRE_STR, 31,  WIRE_OPT, _)
/* clang-format on */
/* clang-format off */
#define API_STATEREC_FIELDS(F, T)                                              \
    F (T, 1, origin,     WIRE_STR, 64,  WIRE_REQ, _)                           \
    F (T, 2, kind,       WIRE_STR, 31,  WIRE_REQ, _)                           \
    F (T, 3, key,        WIRE_STR, 255, WIRE_REQ, _)                           \
    F (T, 4, version,    WIRE_U64, 0,   WIRE_OPT, _)                           \
    F (T, 5, status,     WIRE_STR, 15,  WIRE_OPT, _)                           \
    F (T, 6, size,       WIRE_U64, 0,   WIRE_OPT, _)
/* clang-format on */
WIRE_DECLARE_RECORD (api_staterec, API_STATEREC_FIELDS)
/* clang-format off */
#define API_STATE_REP_FIELDS(F, T)                                             \
    F (T, 2, records,    WIRE_LIST, API_STATE_RECORDS_MAX, WIRE_OPT, api_staterec)
/* clang-format on */

/* ---- Service catalog (docs/catalog.md) ------------------------------------ */
#define API_SERVICES_MAX   65536
#define API_WATCH_WAIT_MAX 600000 /* ms a blocking query may be held */

/* A registration: the instance as the client states it. Empty id, address
 * and protocol take defaults (name, the node's advertise address, tcp);
 * check 0 none | 1 tcp (check_target "IP:PORT") | 2 cmd (a shell command);
 * health is the initial or, for check none, the stated health. */
/* clang-format off */
#define API_SVC_REGISTER_REQ_FIELDS(F, T)                                      \
    F (T, 2,  name,         WIRE_STR,  63,        WIRE_REQ, _)                 \
    F (T, 3,  id,           WIRE_STR,  63,        WIRE_OPT, _)                 \
    F (T, 4,  shed,         WIRE_STR,  63,        WIRE_OPT, _)                 \
    F (T, 5,  address,      WIRE_STR,  45,        WIRE_OPT, _)                 \
    F (T, 6,  port,         WIRE_U64,  65535,     WIRE_REQ, _)                 \
    F (T, 7,  protocol,     WIRE_STR,  7,         WIRE_OPT, _)                 \
    F (T, 8,  tags,         WIRE_TAGS, 32,        WIRE_OPT, _)                 \
    F (T, 9,  health,       WIRE_U64,  2,         WIRE_OPT, _)                 \
    F (T, 10, check,        WIRE_U64,  2,         WIRE_OPT, _)                 \
    F (T, 11, check_target, WIRE_STR,  255,       WIRE_OPT, _)                 \
    F (T, 12, interval_ms,  WIRE_U64,  86400000,  WIRE_OPT, _)
/* clang-format on */

/* Deregister one of this node's instances by id, or by name when the name
 * has exactly one instance here. */
/* clang-format off */
#define API_SVC_DEREGISTER_REQ_FIELDS(F, T)                                    \
    F (T, 2, service,       WIRE_STR,  63,        WIRE_REQ, _)
/* clang-format on */

/* List: served instances, or every instance with `all`; `name` filters. */
/* clang-format off */
#define API_SVC_LIST_REQ_FIELDS(F, T)                                          \
    F (T, 2, name,          WIRE_STR,  63,        WIRE_OPT, _)                 \
    F (T, 3, all,           WIRE_BOOL, 0,         WIRE_OPT, _)
/* clang-format on */

/* Show: every instance of NAME (any health); API_ERR_NOT_FOUND if none. */
/* clang-format off */
#define API_SVC_SHOW_REQ_FIELDS(F, T)                                          \
    F (T, 2, name,          WIRE_STR,  63,        WIRE_REQ, _)
/* clang-format on */

/* Blocking query: answered at once if the catalog index (for `name`, or the
 * whole catalog when empty) moved past `index` (0 = now), else on the next
 * change or after wait_ms (default 60 s, at most API_WATCH_WAIT_MAX).
 * Answer: API_SVC_LIST_REP with every instance in scope, any health. */
/* clang-format off */
#define API_SVC_WATCH_REQ_FIELDS(F, T)                                         \
    F (T, 2, name,          WIRE_STR,  63,        WIRE_OPT, _)                 \
    F (T, 3, index,         WIRE_U64,  0,         WIRE_OPT, _)                 \
    F (T, 4, wait_ms,       WIRE_U64,  API_WATCH_WAIT_MAX, WIRE_OPT, _)
/* clang-format on */

/* One instance as the catalog holds it. status: the origin's status
 * (alive | unreachable); serving: passing/warning and reachable. */
/* clang-format off */
#define API_SVC_FIELDS(F, T)                                                   \
    F (T, 1,  name,         WIRE_STR,  63,        WIRE_REQ, _)                 \
    F (T, 2,  id,           WIRE_STR,  63,        WIRE_REQ, _)                 \
    F (T, 3,  node,         WIRE_STR,  63,        WIRE_REQ, _)                 \
    F (T, 4,  shed,         WIRE_STR,  63,        WIRE_OPT, _)                 \
    F (T, 5,  address,      WIRE_STR,  45,        WIRE_REQ, _)                 \
    F (T, 6,  port,         WIRE_U64,  65535,     WIRE_REQ, _)                 \
    F (T, 7,  protocol,     WIRE_STR,  7,         WIRE_OPT, _)                 \
    F (T, 8,  tags,         WIRE_TAGS, 32,        WIRE_OPT, _)                 \
    F (T, 9,  health,       WIRE_U64,  2,         WIRE_OPT, _)                 \
    F (T, 10, check,        WIRE_U64,  2,         WIRE_OPT, _)                 \
    F (T, 11, check_target, WIRE_STR,  255,       WIRE_OPT, _)                 \
    F (T, 12, interval_ms,  WIRE_U64,  86400000,  WIRE_OPT, _)                 \
    F (T, 13, output,       WIRE_STR,  255,       WIRE_OPT, _)                 \
    F (T, 14, updated_ms,   WIRE_U64,  0,         WIRE_OPT, _)                 \
    F (T, 15, status,       WIRE_STR,  15,        WIRE_OPT, _)                 \
    F (T, 16, serving,      WIRE_BOOL, 0,         WIRE_OPT, _)
/* clang-format on */
WIRE_DECLARE_RECORD (api_svc, API_SVC_FIELDS)

/* clang-format off */
#define API_SVC_LIST_REP_FIELDS(F, T)                                          \
    F (T, 2, index,         WIRE_U64,  0,         WIRE_REQ, _)                 \
    F (T, 3, services,      WIRE_LIST, API_SERVICES_MAX, WIRE_OPT, api_svc)
/* clang-format on */

/* ---- Events and agents (docs/events.md), type ids 60-69 ------------------- */
#define API_EVENTS_REQ_FIELDS(F, T)

/* The node's event bus: where a local consumer connects, and counters. */
/* clang-format off */
#define API_EVENTS_REP_FIELDS(F, T)                                            \
    F (T, 2, local,         WIRE_STR,  API_TEXT_MAX, WIRE_REQ, _)              \
    F (T, 3, origin,        WIRE_STR,  API_TEXT_MAX, WIRE_OPT, _)              \
    F (T, 4, remote,        WIRE_STR,  API_TEXT_MAX, WIRE_OPT, _)              \
    F (T, 5, stats,         WIRE_STR,  1024,         WIRE_OPT, _)              \
    F (T, 6, dropped,       WIRE_U64,  0,            WIRE_OPT, _)
/* clang-format on */

#define API_AGENTS_LIST   0
#define API_AGENTS_ATTACH 1 /* debug: listen at <data_dir>/sheds/NAME/agent.sock */
#define API_AGENTS_DETACH 2
#define API_AGENTS_MAX    1024

/* clang-format off */
#define API_AGENTS_REQ_FIELDS(F, T)                                            \
    F (T, 2, op,            WIRE_U64,  2,            WIRE_REQ, _)              \
    F (T, 3, shed,          WIRE_STR,  63,           WIRE_OPT, _)
/* clang-format on */

/* One shed's agent channel: connection, counters, latest metrics. */
/* clang-format off */
#define API_AGENT_FIELDS(F, T)                                                 \
    F (T, 1,  shed,         WIRE_STR,  63,           WIRE_REQ, _)              \
    F (T, 2,  path,         WIRE_STR,  API_TEXT_MAX, WIRE_OPT, _)              \
    F (T, 3,  connected,    WIRE_BOOL, 0,            WIRE_OPT, _)              \
    F (T, 4,  connections,  WIRE_U64,  0,            WIRE_OPT, _)              \
    F (T, 5,  frames_in,    WIRE_U64,  0,            WIRE_OPT, _)              \
    F (T, 6,  events,       WIRE_U64,  0,            WIRE_OPT, _)              \
    F (T, 7,  bad,          WIRE_U64,  0,            WIRE_OPT, _)              \
    F (T, 8,  agent_dropped, WIRE_U64, 0,            WIRE_OPT, _)              \
    F (T, 9,  published,    WIRE_U64,  0,            WIRE_OPT, _)              \
    F (T, 10, bus_dropped,  WIRE_U64,  0,            WIRE_OPT, _)              \
    F (T, 11, has_metrics,  WIRE_BOOL, 0,            WIRE_OPT, _)              \
    F (T, 12, metrics_age_ms, WIRE_U64, 0,           WIRE_OPT, _)              \
    F (T, 13, cpu_pct,      WIRE_F64,  0,            WIRE_OPT, _)              \
    F (T, 14, mem_used,     WIRE_U64,  0,            WIRE_OPT, _)              \
    F (T, 15, mem_total,    WIRE_U64,  0,            WIRE_OPT, _)              \
    F (T, 16, load1,        WIRE_F64,  0,            WIRE_OPT, _)              \
    F (T, 17, procs,        WIRE_U64,  0,            WIRE_OPT, _)
/* clang-format on */
WIRE_DECLARE_RECORD (api_agent, API_AGENT_FIELDS)

/* clang-format off */
#define API_AGENTS_REP_FIELDS(F, T)                                            \
    F (T, 2, message,       WIRE_STR,  API_TEXT_MAX, WIRE_OPT, _)              \
    F (T, 3, sheds,         WIRE_LIST, API_AGENTS_MAX, WIRE_OPT, api_agent)
/* clang-format on */

/* ---- Overlay network (docs/overlay.md) ------------------------------------ */
#define API_NET_PEERS_MAX 4096

#define API_NETWORK_REQ_FIELDS(F, T)

/* One node's block as its REC_OVERLAY record says. */
/* clang-format off */
#define API_NETBLOCK_FIELDS(F, T)                                              \
    F (T, 1, node,         WIRE_STR,  63,        WIRE_REQ, _)                  \
    F (T, 2, block,        WIRE_STR,  20,        WIRE_OPT, _)                  \
    F (T, 3, addr,         WIRE_STR,  45,        WIRE_OPT, _)                  \
    F (T, 4, port,         WIRE_U64,  65535,     WIRE_OPT, _)                  \
    F (T, 5, mode,         WIRE_STR,  15,        WIRE_OPT, _)                  \
    F (T, 6, status,       WIRE_STR,  15,        WIRE_OPT, _)
/* clang-format on */
WIRE_DECLARE_RECORD (api_netblock, API_NETBLOCK_FIELDS)

/* One datapath peer: session state and counters; drops = reason -> count
 * (non-zero only). session: "established" | "handshaking" | "plain". */
/* clang-format off */
#define API_NETPEER_FIELDS(F, T)                                               \
    F (T, 1,  node,        WIRE_STR,  63,        WIRE_REQ, _)                  \
    F (T, 2,  addr,        WIRE_STR,  45,        WIRE_OPT, _)                  \
    F (T, 3,  port,        WIRE_U64,  65535,     WIRE_OPT, _)                  \
    F (T, 4,  session,     WIRE_STR,  15,        WIRE_OPT, _)                  \
    F (T, 5,  aead,        WIRE_STR,  23,        WIRE_OPT, _)                  \
    F (T, 6,  key_age_ms,  WIRE_U64,  0,         WIRE_OPT, _)                  \
    F (T, 7,  handshakes,  WIRE_U64,  0,         WIRE_OPT, _)                  \
    F (T, 8,  tx_packets,  WIRE_U64,  0,         WIRE_OPT, _)                  \
    F (T, 9,  tx_bytes,    WIRE_U64,  0,         WIRE_OPT, _)                  \
    F (T, 10, rx_packets,  WIRE_U64,  0,         WIRE_OPT, _)                  \
    F (T, 11, rx_bytes,    WIRE_U64,  0,         WIRE_OPT, _)                  \
    F (T, 12, drops,       WIRE_TAGS, 32,        WIRE_OPT, _)
/* clang-format on */
WIRE_DECLARE_RECORD (api_netpeer, API_NETPEER_FIELDS)

/* clang-format off */
#define API_NETWORK_REP_FIELDS(F, T)                                           \
    F (T, 2,  mode,        WIRE_STR,  15,        WIRE_REQ, _)                  \
    F (T, 3,  cidr,        WIRE_STR,  20,        WIRE_OPT, _)                  \
    F (T, 4,  block,       WIRE_STR,  20,        WIRE_OPT, _)                  \
    F (T, 5,  ready,       WIRE_BOOL, 0,         WIRE_OPT, _)                  \
    F (T, 6,  gateway,     WIRE_STR,  45,        WIRE_OPT, _)                  \
    F (T, 7,  bridge,      WIRE_STR,  15,        WIRE_OPT, _)                  \
    F (T, 8,  device,      WIRE_STR,  15,        WIRE_OPT, _)                  \
    F (T, 9,  mtu,         WIRE_U64,  65535,     WIRE_OPT, _)                  \
    F (T, 10, vni,         WIRE_U64,  16777215,  WIRE_OPT, _)                  \
    F (T, 11, port,        WIRE_U64,  65535,     WIRE_OPT, _)                  \
    F (T, 12, endpoints,   WIRE_U64,  0,         WIRE_OPT, _)                  \
    F (T, 13, local_endpoints, WIRE_U64, 0,      WIRE_OPT, _)                  \
    F (T, 14, arp_answered, WIRE_U64, 0,         WIRE_OPT, _)                  \
    F (T, 15, drops,       WIRE_TAGS, 32,        WIRE_OPT, _)                  \
    F (T, 16, blocks,      WIRE_LIST, API_NET_PEERS_MAX, WIRE_OPT, api_netblock) \
    F (T, 17, peers,       WIRE_LIST, API_NET_PEERS_MAX, WIRE_OPT, api_netpeer)
/* clang-format on */

/* Give a shed an address on this node's block (published as an endpoint);
 * the same name gets the same address again. */
/* clang-format off */
#define API_NET_ATTACH_REQ_FIELDS(F, T)                                        \
    F (T, 2, shed,         WIRE_STR,  63,        WIRE_REQ, _)
/* clang-format on */
/* clang-format off */
#define API_NET_ATTACH_REP_FIELDS(F, T)                                        \
    F (T, 2, ip,           WIRE_STR,  45,        WIRE_REQ, _)                  \
    F (T, 3, mac,          WIRE_STR,  17,        WIRE_REQ, _)                  \
    F (T, 4, gateway,      WIRE_STR,  45,        WIRE_OPT, _)                  \
    F (T, 5, prefix,       WIRE_U64,  32,        WIRE_OPT, _)                  \
    F (T, 6, mtu,          WIRE_U64,  65535,     WIRE_OPT, _)                  \
    F (T, 7, bridge,       WIRE_STR,  15,        WIRE_OPT, _)
/* clang-format on */
/* clang-format off */
#define API_NET_DETACH_REQ_FIELDS(F, T)                                        \
    F (T, 2, shed,         WIRE_STR,  63,        WIRE_REQ, _)
/* clang-format on */

/* ---- Sheds (docs/scheduling.md) --------------------------------------------- */
#define API_SHEDS_MAX      65536
#define API_SHED_REF_MAX   127 /* "name" or "name@node" */
#define API_SHED_OP_START  0
#define API_SHED_OP_STOP   1
#define API_SHED_OP_DELETE 2

/* clang-format off */
#define API_CONSTRAINT_FIELDS(F, T)                                            \
    F (T, 1, text,          WIRE_STR,  320,       WIRE_REQ, _)
/* clang-format on */
WIRE_DECLARE_RECORD (api_constraint, API_CONSTRAINT_FIELDS)

/* Create: sizes in millicpus and MiB; empty strategy = the node's default;
 * node pins the shed; request_id makes a retried create idempotent (empty:
 * the node picks one). Answered with API_SHED_REP when the shed runs, or
 * API_ERROR with the reason (per node when nothing fits). */
/* clang-format off */
#define API_SHED_CREATE_REQ_FIELDS(F, T)                                       \
    F (T, 2,  name,         WIRE_STR,  63,        WIRE_REQ, _)                 \
    F (T, 3,  cpus_milli,   WIRE_U64,  0,         WIRE_OPT, _)                 \
    F (T, 4,  memory_mb,    WIRE_U64,  0,         WIRE_OPT, _)                 \
    F (T, 5,  disk_mb,      WIRE_U64,  0,         WIRE_OPT, _)                 \
    F (T, 6,  gpus,         WIRE_U64,  0,         WIRE_OPT, _)                 \
    F (T, 7,  node,         WIRE_STR,  63,        WIRE_OPT, _)                 \
    F (T, 8,  constraints,  WIRE_LIST, 16,        WIRE_OPT, api_constraint)    \
    F (T, 9,  strategy,     WIRE_STR,  15,        WIRE_OPT, _)                 \
    F (T, 10, tags,         WIRE_TAGS, 32,        WIRE_OPT, _)                 \
    F (T, 11, image,        WIRE_STR,  255,       WIRE_OPT, _)                 \
    F (T, 12, request_id,   WIRE_STR,  64,        WIRE_OPT, _)                 \
    F (T, 13, timeout_ms,   WIRE_U64,  0,         WIRE_OPT, _)                 \
    F (T, 14, snapshot,     WIRE_STR,  63,        WIRE_OPT, _)                 \
    F (T, 15, repo,         WIRE_STR,  255,       WIRE_OPT, _)
/* clang-format on */

/* repo (create): a repository the shed starts with, cloned by the driver
 * (shed-server: Shed's "repo", owner/repo or a URL); printable ASCII
 * without spaces. Only nodes whose driver clones repositories take such a
 * create (docs/drivers.md "shed-server"); older nodes ignore the field.
 * snapshot (create): start from that snapshot (docs/snapshots.md): its
 * image, resources and tags unless the request names its own; the data
 * travels to whichever node placement picks.
 * timeout_ms (create, start/stop/delete): the node answers by then, with
 * "outcome unknown" when a peer it waits on has not answered (0: the
 * node's default, docs/scheduling.md "Deadlines"). Older nodes ignore it. */

/* One shed as a user sees it. state: starting | running | stopped | error
 * | unreachable (owner failed) | lost (owner left or reaped). duplicate:
 * another shed created across a partition kept this name; note says what
 * to do. */
/* clang-format off */
#define API_SHED_FIELDS(F, T)                                                  \
    F (T, 1,  name,         WIRE_STR,  63,        WIRE_REQ, _)                 \
    F (T, 2,  node,         WIRE_STR,  63,        WIRE_REQ, _)                 \
    F (T, 3,  state,        WIRE_STR,  15,        WIRE_REQ, _)                 \
    F (T, 4,  cpus_milli,   WIRE_U64,  0,         WIRE_OPT, _)                 \
    F (T, 5,  memory_mb,    WIRE_U64,  0,         WIRE_OPT, _)                 \
    F (T, 6,  disk_mb,      WIRE_U64,  0,         WIRE_OPT, _)                 \
    F (T, 7,  gpus,         WIRE_U64,  0,         WIRE_OPT, _)                 \
    F (T, 8,  image,        WIRE_STR,  255,       WIRE_OPT, _)                 \
    F (T, 9,  ip,           WIRE_STR,  45,        WIRE_OPT, _)                 \
    F (T, 10, mac,          WIRE_STR,  17,        WIRE_OPT, _)                 \
    F (T, 11, request_id,   WIRE_STR,  64,        WIRE_OPT, _)                 \
    F (T, 12, created_ms,   WIRE_U64,  0,         WIRE_OPT, _)                 \
    F (T, 13, error,        WIRE_STR,  255,       WIRE_OPT, _)                 \
    F (T, 14, tags,         WIRE_TAGS, 32,        WIRE_OPT, _)                 \
    F (T, 15, duplicate,    WIRE_BOOL, 0,         WIRE_OPT, _)                 \
    F (T, 16, note,         WIRE_STR,  255,       WIRE_OPT, _)                 \
    F (T, 17, driver,       WIRE_STR,  15,        WIRE_OPT, _)
/* clang-format on */
WIRE_DECLARE_RECORD (api_shed, API_SHED_FIELDS)

/* A step of long work, ms since the request arrived. */
/* clang-format off */
#define API_STEP_FIELDS(F, T)                                                  \
    F (T, 1, text,          WIRE_STR,  255,       WIRE_REQ, _)                 \
    F (T, 2, ms,            WIRE_U64,  0,         WIRE_OPT, _)
/* clang-format on */
WIRE_DECLARE_RECORD (api_step, API_STEP_FIELDS)

/* clang-format off */
#define API_SHED_REP_FIELDS(F, T)                                              \
    F (T, 2, shed,          WIRE_LIST, 1,         WIRE_OPT, api_shed)          \
    F (T, 3, steps,         WIRE_LIST, 32,        WIRE_OPT, api_step)          \
    F (T, 4, message,       WIRE_STR,  API_TEXT_MAX, WIRE_OPT, _)
/* clang-format on */

/* clang-format off */
#define API_SHED_LIST_REQ_FIELDS(F, T)                                         \
    F (T, 2, node,          WIRE_STR,  63,        WIRE_OPT, _)
/* clang-format on */

/* clang-format off */
#define API_SHED_LIST_REP_FIELDS(F, T)                                         \
    F (T, 2, sheds,         WIRE_LIST, API_SHEDS_MAX, WIRE_OPT, api_shed)
/* clang-format on */

/* clang-format off */
#define API_SHED_SHOW_REQ_FIELDS(F, T)                                         \
    F (T, 2, name,          WIRE_STR,  API_SHED_REF_MAX, WIRE_REQ, _)
/* clang-format on */

/* start | stop | delete, routed to the owning node. force (delete only):
 * forget a lost or unreachable shed's record without its node. request_id:
 * a retry with the same id is answered from what the first attempt did
 * (a delete whose shed is gone succeeds), not done twice. */
/* clang-format off */
#define API_SHED_OP_REQ_FIELDS(F, T)                                           \
    F (T, 2, op,            WIRE_U64,  2,         WIRE_REQ, _)                 \
    F (T, 3, name,          WIRE_STR,  API_SHED_REF_MAX, WIRE_REQ, _)          \
    F (T, 4, force,         WIRE_BOOL, 0,         WIRE_OPT, _)                 \
    F (T, 5, request_id,    WIRE_STR,  64,        WIRE_OPT, _)                 \
    F (T, 6, timeout_ms,    WIRE_U64,  0,         WIRE_OPT, _)
/* clang-format on */

/* Drain (or undrain) a node; empty node = the one asked. API_OK. */
/* clang-format off */
#define API_NODE_DRAIN_REQ_FIELDS(F, T)                                        \
    F (T, 2, node,          WIRE_STR,  63,        WIRE_OPT, _)                 \
    F (T, 3, drain,         WIRE_BOOL, 0,         WIRE_OPT, _)
/* clang-format on */

/* ---- Agent logs and provisioning (docs/agent.md) ------------------------- */
#define API_LOG_LINES_MAX  100000
#define API_LOG_TEXT_MAX   4096
#define API_PROV_STEPS_MAX 64

/* The recent lines of a shed on this node (its per-shed ring buffer);
 * stream "" = every stream; tail 0 = every line kept. */
/* clang-format off */
#define API_LOGS_REQ_FIELDS(F, T)                                              \
    F (T, 2, shed,          WIRE_STR,  63,        WIRE_REQ, _)                 \
    F (T, 3, stream,        WIRE_STR,  64,        WIRE_OPT, _)                 \
    F (T, 4, tail,          WIRE_U64,  API_LOG_LINES_MAX, WIRE_OPT, _)
/* clang-format on */
/* clang-format off */
#define API_LOGLINE_FIELDS(F, T)                                               \
    F (T, 1, stream,        WIRE_STR,  64,        WIRE_REQ, _)                 \
    F (T, 2, seq,           WIRE_U64,  0,         WIRE_OPT, _)                 \
    F (T, 3, ts_ms,         WIRE_U64,  0,         WIRE_OPT, _)                 \
    F (T, 4, text,          WIRE_STR,  API_LOG_TEXT_MAX, WIRE_REQ, _)          \
    F (T, 5, partial,       WIRE_BOOL, 0,         WIRE_OPT, _)
/* clang-format on */
WIRE_DECLARE_RECORD (api_logline, API_LOGLINE_FIELDS)
/* lines oldest first; evicted: lines that fell out of the ring so far;
 * truncated: older lines left out to keep the reply under API_MAX_MSG. */
/* clang-format off */
#define API_LOGS_REP_FIELDS(F, T)                                              \
    F (T, 2, node,          WIRE_STR,  63,        WIRE_REQ, _)                 \
    F (T, 3, lines,         WIRE_LIST, API_LOG_LINES_MAX, WIRE_OPT, api_logline) \
    F (T, 4, evicted,       WIRE_U64,  0,         WIRE_OPT, _)                 \
    F (T, 5, truncated,     WIRE_BOOL, 0,         WIRE_OPT, _)
/* clang-format on */

/* clang-format off */
#define API_PROVSTEP_FIELDS(F, T)                                              \
    F (T, 1, name,          WIRE_STR,  63,        WIRE_REQ, _)                 \
    F (T, 2, cmd,           WIRE_STR,  4096,      WIRE_REQ, _)                 \
    F (T, 3, timeout_ms,    WIRE_U64,  0,         WIRE_OPT, _)
/* clang-format on */
WIRE_DECLARE_RECORD (api_provstep, API_PROVSTEP_FIELDS)
/* Run steps in the shed's agent (on the node that has it). run: the
 * client's id for the run (so it can pick the run's events off the bus
 * before the answer), 0 = the node picks. Answered with API_PROVISION_REP
 * when the run is over (timeout_ms, default 10 min), or API_ERROR. */
/* clang-format off */
#define API_PROVISION_REQ_FIELDS(F, T)                                         \
    F (T, 2, shed,          WIRE_STR,  63,        WIRE_REQ, _)                 \
    F (T, 3, user,          WIRE_STR,  32,        WIRE_OPT, _)                 \
    F (T, 4, keep_going,    WIRE_BOOL, 0,         WIRE_OPT, _)                 \
    F (T, 5, steps,         WIRE_LIST, API_PROV_STEPS_MAX, WIRE_REQ, api_provstep) \
    F (T, 6, run,           WIRE_U64,  0,         WIRE_OPT, _)                 \
    F (T, 7, timeout_ms,    WIRE_U64,  0,         WIRE_OPT, _)
/* clang-format on */
/* One step's result; ran false = not reached (an earlier step failed). */
/* clang-format off */
#define API_PROVRESULT_FIELDS(F, T)                                            \
    F (T, 1, name,          WIRE_STR,  63,        WIRE_REQ, _)                 \
    F (T, 2, ran,           WIRE_BOOL, 0,         WIRE_OPT, _)                 \
    F (T, 3, exit_code,     WIRE_I64,  0,         WIRE_OPT, _)                 \
    F (T, 4, signal,        WIRE_U64,  128,       WIRE_OPT, _)                 \
    F (T, 5, duration_ms,   WIRE_U64,  0,         WIRE_OPT, _)
/* clang-format on */
WIRE_DECLARE_RECORD (api_provresult, API_PROVRESULT_FIELDS)
/* clang-format off */
#define API_PROVISION_REP_FIELDS(F, T)                                         \
    F (T, 2, node,          WIRE_STR,  63,        WIRE_REQ, _)                 \
    F (T, 3, run,           WIRE_U64,  0,         WIRE_REQ, _)                 \
    F (T, 4, ok,            WIRE_BOOL, 0,         WIRE_OPT, _)                 \
    F (T, 5, failed_step,   WIRE_I64,  0,         WIRE_OPT, _)                 \
    F (T, 6, error,         WIRE_STR,  255,       WIRE_OPT, _)                 \
    F (T, 7, steps,         WIRE_LIST, API_PROV_STEPS_MAX, WIRE_OPT, api_provresult)
/* clang-format on */

/* ---- Images (docs/images.md), type ids 70-79 ------------------------------ */
/* The node never opens a path a client names (it runs as root, clients
 * need not): shedctl reads the archive and streams it in chunks into a
 * staging file the node owns, then asks for the import. */
#define API_IMAGE_CHUNK_MAX  (512u << 10) /* bytes of archive per request */
#define API_IMAGE_UPLOAD_MAX 32           /* upload id: 32 hex chars */
#define API_IMAGE_REF_MAX    71           /* a name or "sha256:<64 hex>" */
#define API_IMAGES_MAX       4096

/* Start an upload of `size` bytes to import as `name`: API_IMAGE_UPLOAD_REP
 * with the upload id, or API_ERROR (bad name, name taken by other bytes is
 * found only at commit, size over the node's limit, too many uploads). */
/* clang-format off */
#define API_IMAGE_BEGIN_REQ_FIELDS(F, T)                                       \
    F (T, 2, name,          WIRE_STR,  63,        WIRE_REQ, _)                 \
    F (T, 3, size,          WIRE_U64,  0,         WIRE_REQ, _)
/* clang-format on */
/* Bytes [offset, offset + len) of the archive, in order (offset must equal
 * what the node has received). */
/* clang-format off */
#define API_IMAGE_CHUNK_REQ_FIELDS(F, T)                                       \
    F (T, 2, upload,        WIRE_STR,  API_IMAGE_UPLOAD_MAX, WIRE_REQ, _)      \
    F (T, 3, offset,        WIRE_U64,  0,         WIRE_REQ, _)                 \
    F (T, 4, data,          WIRE_BLOB, API_IMAGE_CHUNK_MAX, WIRE_REQ, _)
/* clang-format on */
/* Every byte sent: check the client's sha256 of what it read against the
 * node's of what arrived, then unpack (off the node's event loop) and
 * answer API_IMAGE_LIST_REP with the one image, or API_ERROR. */
/* clang-format off */
#define API_IMAGE_COMMIT_REQ_FIELDS(F, T)                                      \
    F (T, 2, upload,        WIRE_STR,  API_IMAGE_UPLOAD_MAX, WIRE_REQ, _)      \
    F (T, 3, sha256,        WIRE_STR,  64,        WIRE_REQ, _)
/* clang-format on */
/* Drop an upload (shedctl failed reading its file). API_OK. */
/* clang-format off */
#define API_IMAGE_ABORT_REQ_FIELDS(F, T)                                       \
    F (T, 2, upload,        WIRE_STR,  API_IMAGE_UPLOAD_MAX, WIRE_REQ, _)
/* clang-format on */
/* clang-format off */
#define API_IMAGE_UPLOAD_REP_FIELDS(F, T)                                      \
    F (T, 2, upload,        WIRE_STR,  API_IMAGE_UPLOAD_MAX, WIRE_REQ, _)      \
    F (T, 3, received,      WIRE_U64,  0,         WIRE_OPT, _)                 \
    F (T, 4, chunk_max,     WIRE_U64,  0,         WIRE_OPT, _)
/* clang-format on */
/* One image as this node holds it. existed (import only): the bytes were
 * already here, only the name was added. */
/* clang-format off */
#define API_IMAGE_FIELDS(F, T)                                                 \
    F (T, 1,  name,           WIRE_STR,  63,           WIRE_REQ, _)            \
    F (T, 2,  digest,         WIRE_STR,  64,           WIRE_REQ, _)            \
    F (T, 3,  archive_size,   WIRE_U64,  0,            WIRE_OPT, _)            \
    F (T, 4,  unpacked_bytes, WIRE_U64,  0,            WIRE_OPT, _)            \
    F (T, 5,  files,          WIRE_U64,  0,            WIRE_OPT, _)            \
    F (T, 6,  entries,        WIRE_U64,  0,            WIRE_OPT, _)            \
    F (T, 7,  imported_ms,    WIRE_U64,  0,            WIRE_OPT, _)            \
    F (T, 8,  os_name,        WIRE_STR,  255,          WIRE_OPT, _)            \
    F (T, 9,  rootfs,         WIRE_STR,  API_TEXT_MAX, WIRE_OPT, _)            \
    F (T, 10, existed,        WIRE_BOOL, 0,            WIRE_OPT, _)
/* clang-format on */
WIRE_DECLARE_RECORD (api_image, API_IMAGE_FIELDS)
/* list (name empty) or show (name: an image name or digest). */
/* clang-format off */
#define API_IMAGE_LIST_REQ_FIELDS(F, T)                                        \
    F (T, 2, name,          WIRE_STR,  API_IMAGE_REF_MAX, WIRE_OPT, _)
/* clang-format on */
/* clang-format off */
#define API_IMAGE_LIST_REP_FIELDS(F, T)                                        \
    F (T, 2, images,        WIRE_LIST, API_IMAGES_MAX, WIRE_OPT, api_image)
/* clang-format on */
/* Remove a name (its tree too when no other name has it); refused while
 * a shed on this node uses it. API_OK. */
/* clang-format off */
#define API_IMAGE_RM_REQ_FIELDS(F, T)                                          \
    F (T, 2, name,          WIRE_STR,  63,        WIRE_REQ, _)
/* clang-format on */

/* ---- Snapshots (docs/snapshots.md) ------------------------------------- */
#define API_SNAPSHOTS_MAX 4096

/* Snapshot shed `shed` (any node routes it to the shed's node) as `name`
 * (empty: "<shed>-<UTC time>"); mode 0 live (frozen while captured), 1
 * stop. API_SNAPSHOT_LIST_REP with the one snapshot, or API_ERROR. */
/* clang-format off */
#define API_SNAPSHOT_CREATE_REQ_FIELDS(F, T)                                   \
    F (T, 2, shed,          WIRE_STR,  63,        WIRE_REQ, _)                 \
    F (T, 3, name,          WIRE_STR,  63,        WIRE_OPT, _)                 \
    F (T, 4, mode,          WIRE_U64,  1,         WIRE_OPT, _)
/* clang-format on */
/* One snapshot, from its replicated record. */
/* clang-format off */
#define API_SNAPSHOT_FIELDS(F, T)                                              \
    F (T, 1,  name,         WIRE_STR,  63,        WIRE_REQ, _)                 \
    F (T, 2,  shed,         WIRE_STR,  63,        WIRE_REQ, _)                 \
    F (T, 3,  node,         WIRE_STR,  63,        WIRE_REQ, _)                 \
    F (T, 4,  digest,       WIRE_STR,  64,        WIRE_OPT, _)                 \
    F (T, 5,  size,         WIRE_U64,  0,         WIRE_OPT, _)                 \
    F (T, 6,  image,        WIRE_STR,  255,       WIRE_OPT, _)                 \
    F (T, 7,  cpus_milli,   WIRE_U64,  0,         WIRE_OPT, _)                 \
    F (T, 8,  memory_mb,    WIRE_U64,  0,         WIRE_OPT, _)                 \
    F (T, 9,  disk_mb,      WIRE_U64,  0,         WIRE_OPT, _)                 \
    F (T, 10, ip,           WIRE_STR,  45,        WIRE_OPT, _)                 \
    F (T, 11, mac,          WIRE_STR,  17,        WIRE_OPT, _)                 \
    F (T, 12, mode,         WIRE_STR,  7,         WIRE_OPT, _)                 \
    F (T, 13, created_ms,   WIRE_U64,  0,         WIRE_OPT, _)                 \
    F (T, 14, driver,       WIRE_STR,  15,        WIRE_OPT, _)                 \
    F (T, 15, took_ms,      WIRE_U64,  0,         WIRE_OPT, _)
/* clang-format on */
WIRE_DECLARE_RECORD (api_snapshot, API_SNAPSHOT_FIELDS)
/* list (name empty: all, or those of `shed`) or show (name). */
/* clang-format off */
#define API_SNAPSHOT_LIST_REQ_FIELDS(F, T)                                     \
    F (T, 2, name,          WIRE_STR,  63,        WIRE_OPT, _)                 \
    F (T, 3, shed,          WIRE_STR,  63,        WIRE_OPT, _)
/* clang-format on */
/* clang-format off */
#define API_SNAPSHOT_LIST_REP_FIELDS(F, T)                                     \
    F (T, 2, snapshots,     WIRE_LIST, API_SNAPSHOTS_MAX, WIRE_OPT, api_snapshot)
/* clang-format on */
/* Remove a snapshot wherever it is held. API_OK. */
/* clang-format off */
#define API_SNAPSHOT_RM_REQ_FIELDS(F, T)                                       \
    F (T, 2, name,          WIRE_STR,  63,        WIRE_REQ, _)
/* clang-format on */

/* Move shed `name` to `node` ("" = where placement says), keeping its
 * name, address and data (docs/snapshots.md, "Move"). API_SHED_MOVE_REP. */
/* clang-format off */
#define API_SHED_MOVE_REQ_FIELDS(F, T)                                         \
    F (T, 2, name,          WIRE_STR,  63,        WIRE_REQ, _)                 \
    F (T, 3, node,          WIRE_STR,  63,        WIRE_OPT, _)
/* clang-format on */
/* clang-format off */
#define API_SHED_MOVE_REP_FIELDS(F, T)                                         \
    F (T, 2, name,          WIRE_STR,  63,        WIRE_REQ, _)                 \
    F (T, 3, from,          WIRE_STR,  63,        WIRE_OPT, _)                 \
    F (T, 4, to,            WIRE_STR,  63,        WIRE_REQ, _)                 \
    F (T, 5, ip,            WIRE_STR,  45,        WIRE_OPT, _)                 \
    F (T, 6, bytes,         WIRE_U64,  0,         WIRE_OPT, _)                 \
    F (T, 7, capture_ms,    WIRE_U64,  0,         WIRE_OPT, _)                 \
    F (T, 8, claim_ms,      WIRE_U64,  0,         WIRE_OPT, _)                 \
    F (T, 9, total_ms,      WIRE_U64,  0,         WIRE_OPT, _)
/* clang-format on */

/* `shedctl force-leave NODE`: gossip that failed member `name` left, so
 * every node forgets it now (docs/membership.md, "Force-leave"). Only on
 * the local API; an alive or suspect member is refused. API_OK. */
/* clang-format off */
#define API_FORCE_LEAVE_REQ_FIELDS(F, T)                                       \
    F (T, 2, name,          WIRE_STR,  63,        WIRE_REQ, _)
/* clang-format on */

/* ---- Remote API tokens (docs/security.md), type ids 87-90 -------------------
 * Managed only over this local API (never over HTTP): the socket's mode is
 * what lets an operator mint a token. role: "read" | "operator". */
/* At most API_TOKENS_MAX minted by one node; API_TOKENS_ALL_MAX held by
 * one node, every origin (tokens are cluster-wide). */
#define API_TOKENS_MAX     1024
#define API_TOKENS_ALL_MAX 8192
#define API_TOKEN_ID_MAX   8  /* hex id, the token's public part */
#define API_TOKEN_TEXT_MAX 80 /* "sht_" id "_" 64 hex digits */
/* clang-format off */
#define API_TOKEN_CREATE_REQ_FIELDS(F, T)                                      \
    F (T, 2, role,          WIRE_STR,  15,        WIRE_REQ, _)                 \
    F (T, 3, name,          WIRE_STR,  63,        WIRE_OPT, _)                 \
    F (T, 4, ttl_ms,        WIRE_U64,  0,         WIRE_OPT, _)
/* clang-format on */
#define API_TOKEN_LIST_REQ_FIELDS(F, T)
/* clang-format off */
#define API_TOKEN_REVOKE_REQ_FIELDS(F, T)                                      \
    F (T, 2, id,            WIRE_STR,  API_TOKEN_ID_MAX, WIRE_REQ, _)
/* clang-format on */
/* One token as the store keeps it (never its secret or hash). last_used_ms
 * and uses: requests this node served with it (kept on disk at most every
 * 10 minutes). origin: the node that minted it; expires_ms 0: never. */
/* clang-format off */
#define API_TOKEN_FIELDS(F, T)                                                 \
    F (T, 1, id,            WIRE_STR,  API_TOKEN_ID_MAX, WIRE_REQ, _)          \
    F (T, 2, role,          WIRE_STR,  15,        WIRE_REQ, _)                 \
    F (T, 3, name,          WIRE_STR,  63,        WIRE_OPT, _)                 \
    F (T, 4, created_ms,    WIRE_U64,  0,         WIRE_OPT, _)                 \
    F (T, 5, last_used_ms,  WIRE_U64,  0,         WIRE_OPT, _)                 \
    F (T, 6, uses,          WIRE_U64,  0,         WIRE_OPT, _)                 \
    F (T, 7, expires_ms,    WIRE_U64,  0,         WIRE_OPT, _)                 \
    F (T, 8, origin,        WIRE_STR,  63,        WIRE_OPT, _)
/* clang-format on */
WIRE_DECLARE_RECORD (api_token, API_TOKEN_FIELDS)
/* create: `token` is the bearer secret, shown once; list: tokens. */
/* clang-format off */
#define API_TOKEN_REP_FIELDS(F, T)                                             \
    F (T, 2, token,         WIRE_STR,  API_TOKEN_TEXT_MAX, WIRE_OPT, _)        \
    F (T, 3, tokens,        WIRE_LIST, API_TOKENS_ALL_MAX, WIRE_OPT, api_token)
/* clang-format on */

/* clang-format off */
#define API_MESSAGES(M)                                                        \
    M (API_ERROR,       api_error,       1, API_ERROR_FIELDS)                  \
    M (API_SHED_CREATE_REQ, api_shed_create_req, 30, API_SHED_CREATE_REQ_FIELDS) \
    M (API_SHED_REP,        api_shed_rep,        31, API_SHED_REP_FIELDS)        \
    M (API_SHED_LIST_REQ,   api_shed_list_req,   32, API_SHED_LIST_REQ_FIELDS)   \
    M (API_SHED_LIST_REP,   api_shed_list_rep,   33, API_SHED_LIST_REP_FIELDS)   \
    M (API_SHED_SHOW_REQ,   api_shed_show_req,   34, API_SHED_SHOW_REQ_FIELDS)   \
    M (API_SHED_OP_REQ,     api_shed_op_req,     35, API_SHED_OP_REQ_FIELDS)     \
    M (API_NODE_DRAIN_REQ,  api_node_drain_req,  36, API_NODE_DRAIN_REQ_FIELDS)  \
    M (API_STATUS_REQ,  api_status_req,  2, API_STATUS_REQ_FIELDS)             \
    M (API_STATUS_REP,  api_status_rep,  3, API_STATUS_REP_FIELDS)             \
    M (API_OK,          api_ok,          4, API_OK_FIELDS)                     \
    M (API_MEMBERS_REQ, api_members_req, 5, API_MEMBERS_REQ_FIELDS)            \
    M (API_MEMBERS_REP, api_members_rep, 6, API_MEMBERS_REP_FIELDS)            \
    M (API_JOIN_REQ,    api_join_req,    7, API_JOIN_REQ_FIELDS)               \
    M (API_LEAVE_REQ,   api_leave_req,   8, API_LEAVE_REQ_FIELDS)              \
    M (API_TAGS_REQ,    api_tags_req,    9, API_TAGS_REQ_FIELDS)               \
    M (API_KEYS_REQ,    api_keys_req,   10, API_KEYS_REQ_FIELDS)               \
    M (API_KEYS_REP,    api_keys_rep,   11, API_KEYS_REP_FIELDS)               \
    M (API_STATE_REQ,   api_state_req,  12, API_STATE_REQ_FIELDS)              \
    M (API_STATE_REP,   api_state_rep,  13, API_STATE_REP_FIELDS)             \
    M (API_SVC_REGISTER_REQ,   api_svc_register_req,   20, API_SVC_REGISTER_REQ_FIELDS)   \
    M (API_SVC_DEREGISTER_REQ, api_svc_deregister_req, 21, API_SVC_DEREGISTER_REQ_FIELDS) \
    M (API_SVC_LIST_REQ,       api_svc_list_req,       22, API_SVC_LIST_REQ_FIELDS)       \
    M (API_SVC_LIST_REP,       api_svc_list_rep,       23, API_SVC_LIST_REP_FIELDS)       \
    M (API_SVC_SHOW_REQ,       api_svc_show_req,       24, API_SVC_SHOW_REQ_FIELDS)       \
    M (API_SVC_WATCH_REQ,      api_svc_watch_req,      25, API_SVC_WATCH_REQ_FIELDS) \
    M (API_EVENTS_REQ,         api_events_req,         60, API_EVENTS_REQ_FIELDS)         \
    M (API_EVENTS_REP,         api_events_rep,         61, API_EVENTS_REP_FIELDS)         \
    M (API_AGENTS_REQ,         api_agents_req,         62, API_AGENTS_REQ_FIELDS)         \
    M (API_AGENTS_REP,         api_agents_rep,         63, API_AGENTS_REP_FIELDS) \
    M (API_NETWORK_REQ,    api_network_req,    50, API_NETWORK_REQ_FIELDS)    \
    M (API_NETWORK_REP,    api_network_rep,    51, API_NETWORK_REP_FIELDS)    \
    M (API_NET_ATTACH_REQ, api_net_attach_req, 52, API_NET_ATTACH_REQ_FIELDS) \
    M (API_NET_ATTACH_REP, api_net_attach_rep, 53, API_NET_ATTACH_REP_FIELDS) \
    M (API_NET_DETACH_REQ, api_net_detach_req, 54, API_NET_DETACH_REQ_FIELDS) \
    M (API_LOGS_REQ,       api_logs_req,       64, API_LOGS_REQ_FIELDS)       \
    M (API_LOGS_REP,       api_logs_rep,       65, API_LOGS_REP_FIELDS)       \
    M (API_PROVISION_REQ,  api_provision_req,  66, API_PROVISION_REQ_FIELDS)  \
    M (API_PROVISION_REP,  api_provision_rep,  67, API_PROVISION_REP_FIELDS)  \
    M (API_IMAGE_BEGIN_REQ,  api_image_begin_req,  70, API_IMAGE_BEGIN_REQ_FIELDS)  \
    M (API_IMAGE_CHUNK_REQ,  api_image_chunk_req,  71, API_IMAGE_CHUNK_REQ_FIELDS)  \
    M (API_IMAGE_COMMIT_REQ, api_image_commit_req, 72, API_IMAGE_COMMIT_REQ_FIELDS) \
    M (API_IMAGE_ABORT_REQ,  api_image_abort_req,  73, API_IMAGE_ABORT_REQ_FIELDS)  \
    M (API_IMAGE_UPLOAD_REP, api_image_upload_rep, 74, API_IMAGE_UPLOAD_REP_FIELDS) \
    M (API_IMAGE_LIST_REQ,   api_image_list_req,   75, API_IMAGE_LIST_REQ_FIELDS)   \
    M (API_IMAGE_LIST_REP,   api_image_list_rep,   76, API_IMAGE_LIST_REP_FIELDS)   \
    M (API_IMAGE_RM_REQ,     api_image_rm_req,     77, API_IMAGE_RM_REQ_FIELDS)     \
    M (API_SNAPSHOT_CREATE_REQ, api_snapshot_create_req, 80, API_SNAPSHOT_CREATE_REQ_FIELDS) \
    M (API_SNAPSHOT_LIST_REQ,   api_snapshot_list_req,   81, API_SNAPSHOT_LIST_REQ_FIELDS)   \
    M (API_SNAPSHOT_LIST_REP,   api_snapshot_list_rep,   82, API_SNAPSHOT_LIST_REP_FIELDS)   \
    M (API_SNAPSHOT_RM_REQ,     api_snapshot_rm_req,     83, API_SNAPSHOT_RM_REQ_FIELDS)     \
    M (API_SHED_MOVE_REQ,       api_shed_move_req,       84, API_SHED_MOVE_REQ_FIELDS)       \
    M (API_SHED_MOVE_REP,       api_shed_move_rep,       85, API_SHED_MOVE_REP_FIELDS)       \
    M (API_FORCE_LEAVE_REQ,     api_force_leave_req,     86, API_FORCE_LEAVE_REQ_FIELDS) \
    M (API_TOKEN_CREATE_REQ,    api_token_create_req,    87, API_TOKEN_CREATE_REQ_FIELDS)    \
    M (API_TOKEN_REP,           api_token_rep,           88, API_TOKEN_REP_FIELDS)           \
    M (API_TOKEN_LIST_REQ,      api_token_list_req,      89, API_TOKEN_LIST_REQ_FIELDS)      \
    M (API_TOKEN_REVOKE_REQ,    api_token_revoke_req,    90, API_TOKEN_REVOKE_REQ_FIELDS)
/* clang-format on */

WIRE_DECLARE_PROTO (api, API_MESSAGES)

#endif
