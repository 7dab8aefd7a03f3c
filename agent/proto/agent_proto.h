/*
 * agent_proto.h - the agent channel protocol, in one header: every
 * constant, limit and message between shed-agent (inside a shed) and its
 * host (shed-node's bridges/agent_host), the validator and the frame
 * encoder/decoder. docs/agent.md is the prose version of this file.
 *
 * Where it lives, and why: agent/proto/ is the library shed_agent_proto
 * (agent_msg.c: codec tables and validator; agent_frame.c: frames;
 * agent_reader, agent_streams, agent_outq, agent_bucket: the channel
 * plumbing both ends use). Both sides link it and nothing else of the
 * other: shed-agent links shed_agent_lib (agent/, the guest) on top of it,
 * shed-node links it through shed_agent_host (bridges/) and never links the
 * guest's code. It is not in common/ because common/ is linked by every
 * program and protocol here is the agent channel's alone; it needs only
 * libc, msgpack-c and common/wire (no czmq), so the static guest binary
 * can link it.
 *
 * Transport: one reliable byte stream per shed: AF_VSOCK CID 2 port 1026
 * inside a Firecracker VM (host side: Firecracker's Unix socket
 * `<vsock>_1026`), or a Unix socket for netns sheds. The socket identifies
 * the shed; nothing in a payload ever does (the host stamps the origin).
 *
 * Framing:
 *
 *     [type: u8][length: u32 big-endian][payload: length bytes]
 *
 * The payload is one wire message (common/wire.h: a msgpack map with version
 * and type) and its type must equal the frame's type byte. A frame is at
 * most AGENT_FRAME_MAX_DEFAULT payload bytes unless both ends were
 * configured otherwise; a message whose encoding is larger travels as a
 * chunk stream (AGENT_CHUNK frames: stream id, inner type, offset, total,
 * final flag) and is reassembled (agent_streams.h), bounded per stream and
 * in total, before it is decoded. See docs/agent.md for the message table.
 *
 * Every message is defined once below; agent_msg.c generates the codec.
 */
#ifndef SHED_AGENT_PROTO_H
#define SHED_AGENT_PROTO_H

#include "common/wire_gen.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* ------------------------------------------------------------------------ */
/*  Constants and limits                                                    */
/* ------------------------------------------------------------------------ */

#define AGENT_VERSION_MIN 1 /* oldest protocol version decoded */
#define AGENT_VERSION     1 /* protocol version we speak */

#define AGENT_VSOCK_CID  2    /* the host, seen from a guest */
#define AGENT_VSOCK_PORT 1026 /* Shed's notification channel */

#define AGENT_FRAME_HEADER      5           /* type byte + u32 length */
#define AGENT_FRAME_MAX_DEFAULT (1u << 20)  /* payload bytes of one frame */
#define AGENT_FRAME_MAX_FLOOR   (64u << 10) /* smallest max a peer may set */
#define AGENT_FRAME_MAX_CEILING (16u << 20) /* Shed's old limit; never more */

#define AGENT_CHUNK_DATA_MAX            (512u << 10) /* data bytes in one chunk (less if max_frame is small) */
#define AGENT_CHUNK_OVERHEAD            128         /* chunk envelope bytes beyond its data */
#define AGENT_STREAM_MAX                (16u << 20) /* one reassembled message */
#define AGENT_STREAMS_TOTAL_MAX         (32u << 20) /* all streams in flight, per connection */
#define AGENT_STREAMS_OPEN_MAX          4           /* concurrent streams per connection */
/* Agent -> host streams are bounded far lower: every agent -> host message
 * fits one frame (the largest, METRICS with 32 disks and 32 nics, is under
 * 20 KiB), so a stream there can only be a way to make the host hold and
 * decode memory (docs/agent.md, "Streams"). PROVISION (host -> agent) keeps
 * AGENT_STREAM_MAX for its step inputs. */
#define AGENT_STREAM_TO_HOST_MAX        (256u << 10)
#define AGENT_STREAMS_TO_HOST_TOTAL_MAX (1u << 20) /* all open, per connection */

#define AGENT_NAME_MAX         63  /* shed, process, service names */
#define AGENT_STREAM_NAME_MAX  64  /* log stream names */
#define AGENT_TEXT_MAX         255 /* short texts: reasons, outputs */
#define AGENT_VERSION_STR_MAX  32
#define AGENT_LOG_TEXT_MAX     4096 /* one log line; longer ones are split */
#define AGENT_DISKS_MAX        32   /* mounts in one metrics message */
#define AGENT_NICS_MAX         32   /* interfaces in one metrics message */
#define AGENT_PATH_MAX         255
#define AGENT_TAGS_MAX         16          /* service tags / step env pairs */
#define AGENT_STEPS_MAX        64          /* steps in one provisioning run */
#define AGENT_CMD_MAX          4096        /* one step's shell command */
#define AGENT_STEP_INPUT_MAX   (8u << 20)  /* stdin bytes of one step (streams) */
#define AGENT_OUTPUT_CHUNK_MAX (16u << 10) /* bytes in one PROVISION_OUTPUT */

/* Capability bits in HELLO.caps. */
#define AGENT_CAP_METRICS   (1u << 0)
#define AGENT_CAP_PROCS     (1u << 1)
#define AGENT_CAP_LOGS      (1u << 2)
#define AGENT_CAP_SERVICES  (1u << 3)
#define AGENT_CAP_PROVISION (1u << 4)
#define AGENT_CAP_STREAMS   (1u << 5)
#define AGENT_CAP_INIT      (1u << 6) /* running as PID 1 */
#define AGENT_CAP_ALL       0x7fu

/* PROC_EVENT.kind */
typedef enum {
    AGENT_PROC_START = 1,     /* a supervised process started (pid) */
    AGENT_PROC_EXIT = 2,      /* it exited: code or signal; crashed if abnormal */
    AGENT_PROC_RESTART = 3,   /* it will be restarted after delay_ms */
    AGENT_PROC_GIVEUP = 4,    /* restart budget spent; it stays down */
    AGENT_PROC_STEP_DONE = 5, /* a provisioning step finished (run, step) */
} agent_proc_kind_t;
#define AGENT_PROC_KIND_MAX 5

/* SERVICE_HEALTH.status */
typedef enum {
    AGENT_HEALTH_PASSING = 1,
    AGENT_HEALTH_WARNING = 2,
    AGENT_HEALTH_CRITICAL = 3,
} agent_health_t;
#define AGENT_HEALTH_MAX 3

/* DROPPED.reason */
#define AGENT_DROP_DISCONNECTED 1 /* buffer full while the host was away */
#define AGENT_DROP_BACKPRESSURE 2 /* buffer full while the host was slow */

/* CLOSE.code */
#define AGENT_CLOSE_SHUTDOWN 1 /* orderly stop */
#define AGENT_CLOSE_PROTOCOL 2 /* the peer broke the protocol */
#define AGENT_CLOSE_ABUSE    3 /* rate or bad-frame limit exceeded */
#define AGENT_CLOSE_REPLACED 4 /* a newer connection took this shed's slot */
#define AGENT_CLOSE_TIMEOUT  5 /* nothing heard for too long */

/* PROVISION_OUTPUT.fd */
#define AGENT_FD_STDOUT 1
#define AGENT_FD_STDERR 2

/* ------------------------------------------------------------------------ */
/*  Records used inside messages                                            */
/* ------------------------------------------------------------------------ */

/* clang-format off */
#define AGENT_DISK_FIELDS(F, T)                                                \
    F (T, 0, mount,   WIRE_STR, AGENT_PATH_MAX, WIRE_REQ, _)                   \
    F (T, 1, used,    WIRE_U64, 0,              WIRE_OPT, _)                   \
    F (T, 2, total,   WIRE_U64, 0,              WIRE_OPT, _)
/* clang-format on */

/* clang-format off */
#define AGENT_NIC_FIELDS(F, T)                                                 \
    F (T, 0, name,     WIRE_STR, 15,            WIRE_REQ, _)                   \
    F (T, 1, rx_bytes, WIRE_U64, 0,             WIRE_OPT, _)                   \
    F (T, 2, tx_bytes, WIRE_U64, 0,             WIRE_OPT, _)
/* clang-format on */

/* clang-format off */
#define AGENT_STEP_FIELDS(F, T)                                                \
    F (T, 0, name,       WIRE_STR,  AGENT_NAME_MAX,       WIRE_REQ, _)         \
    F (T, 1, cmd,        WIRE_STR,  AGENT_CMD_MAX,        WIRE_REQ, _)         \
    F (T, 2, timeout_ms, WIRE_U64,  0,                    WIRE_OPT, _)         \
    F (T, 3, cwd,        WIRE_STR,  AGENT_PATH_MAX,       WIRE_OPT, _)         \
    F (T, 4, env,        WIRE_TAGS, AGENT_TAGS_MAX,       WIRE_OPT, _)         \
    F (T, 5, input,      WIRE_BLOB, AGENT_STEP_INPUT_MAX, WIRE_OPT, _)
/* clang-format on */

WIRE_DECLARE_RECORD (agent_disk, AGENT_DISK_FIELDS)
WIRE_DECLARE_RECORD (agent_nic, AGENT_NIC_FIELDS)
WIRE_DECLARE_RECORD (agent_step, AGENT_STEP_FIELDS)

/* ------------------------------------------------------------------------ */
/*  Messages. Direction: A = agent -> host, H = host -> agent, B = both.    */
/* ------------------------------------------------------------------------ */

/* A: first frame on every connection. `shed` is what the agent believes its
 * name is; the host reports it but never uses it as the origin. */
/* clang-format off */
#define AGENT_HELLO_FIELDS(F, T)                                               \
    F (T, 2, agent_version, WIRE_STR, AGENT_VERSION_STR_MAX, WIRE_REQ, _)      \
    F (T, 3, caps,          WIRE_U64, AGENT_CAP_ALL,         WIRE_OPT, _)      \
    F (T, 4, boot_time,     WIRE_U64, 0,                     WIRE_OPT, _)      \
    F (T, 5, shed,          WIRE_STR, AGENT_NAME_MAX,        WIRE_OPT, _)      \
    F (T, 6, pid,           WIRE_U64, 0,                     WIRE_OPT, _)      \
    F (T, 7, hostname,      WIRE_STR, AGENT_NAME_MAX,        WIRE_OPT, _)      \
    F (T, 8, kernel,        WIRE_STR, AGENT_NAME_MAX,        WIRE_OPT, _)      \
    F (T, 9, started_ms,    WIRE_U64, 0,                     WIRE_OPT, _)      \
    F (T, 10, buffered,     WIRE_U64, 0,                     WIRE_OPT, _)
/* clang-format on */

/* H: the host's answer to HELLO; configuration only, no identity the agent
 * could echo back as proof of anything. */
/* clang-format off */
#define AGENT_HELLO_ACK_FIELDS(F, T)                                           \
    F (T, 2, metrics_interval_ms, WIRE_U64, 0,              WIRE_REQ, _)       \
    F (T, 3, heartbeat_ms,        WIRE_U64, 0,              WIRE_REQ, _)       \
    F (T, 4, max_frame,           WIRE_U64, AGENT_FRAME_MAX_CEILING, WIRE_REQ, _) \
    F (T, 5, max_msgs_per_s,      WIRE_U64, 0,              WIRE_OPT, _)       \
    F (T, 6, max_bytes_per_s,     WIRE_U64, 0,              WIRE_OPT, _)       \
    F (T, 7, host_time_ms,        WIRE_U64, 0,              WIRE_OPT, _)       \
    F (T, 8, shed,                WIRE_STR, AGENT_NAME_MAX, WIRE_OPT, _)
/* clang-format on */

/* B: liveness; each side sends one every heartbeat_ms. */
/* clang-format off */
#define AGENT_HEARTBEAT_FIELDS(F, T)                                           \
    F (T, 2, ts_ms,     WIRE_U64, 0, WIRE_OPT, _)                              \
    F (T, 3, buffered,  WIRE_U64, 0, WIRE_OPT, _)
/* clang-format on */

/* A: resource use, every metrics_interval_ms. Byte counts are bytes. */
/* clang-format off */
#define AGENT_METRICS_FIELDS(F, T)                                             \
    F (T, 2,  ts_ms,      WIRE_U64,  0,               WIRE_OPT, _)             \
    F (T, 3,  cpu_pct,    WIRE_F64,  0,               WIRE_OPT, _)             \
    F (T, 4,  cpu_count,  WIRE_U64,  4096,            WIRE_OPT, _)             \
    F (T, 5,  mem_used,   WIRE_U64,  0,               WIRE_OPT, _)             \
    F (T, 6,  mem_total,  WIRE_U64,  0,               WIRE_OPT, _)             \
    F (T, 7,  load1,      WIRE_F64,  0,               WIRE_OPT, _)             \
    F (T, 8,  load5,      WIRE_F64,  0,               WIRE_OPT, _)             \
    F (T, 9,  load15,     WIRE_F64,  0,               WIRE_OPT, _)             \
    F (T, 10, procs,      WIRE_U64,  0,               WIRE_OPT, _)             \
    F (T, 11, net_rx,     WIRE_U64,  0,               WIRE_OPT, _)             \
    F (T, 12, net_tx,     WIRE_U64,  0,               WIRE_OPT, _)             \
    F (T, 13, disks,      WIRE_LIST, AGENT_DISKS_MAX, WIRE_OPT, agent_disk)    \
    F (T, 14, nics,       WIRE_LIST, AGENT_NICS_MAX,  WIRE_OPT, agent_nic)     \
    F (T, 15, uptime_s,   WIRE_U64,  0,               WIRE_OPT, _)
/* clang-format on */

/* A: something happened to a supervised process or a provisioning step. */
/* clang-format off */
#define AGENT_PROC_EVENT_FIELDS(F, T)                                          \
    F (T, 2,  kind,        WIRE_U64,  AGENT_PROC_KIND_MAX, WIRE_REQ, _)        \
    F (T, 3,  name,        WIRE_STR,  AGENT_NAME_MAX,      WIRE_REQ, _)        \
    F (T, 4,  pid,         WIRE_U64,  0,                   WIRE_OPT, _)        \
    F (T, 5,  exit_code,   WIRE_I64,  0,                   WIRE_OPT, _)        \
    F (T, 6,  signal,      WIRE_U64,  128,                 WIRE_OPT, _)        \
    F (T, 7,  crashed,     WIRE_BOOL, 0,                   WIRE_OPT, _)        \
    F (T, 8,  restarts,    WIRE_U64,  0,                   WIRE_OPT, _)        \
    F (T, 9,  delay_ms,    WIRE_U64,  0,                   WIRE_OPT, _)        \
    F (T, 10, run,         WIRE_U64,  0,                   WIRE_OPT, _)        \
    F (T, 11, step,        WIRE_U64,  AGENT_STEPS_MAX,     WIRE_OPT, _)        \
    F (T, 12, duration_ms, WIRE_U64,  0,                   WIRE_OPT, _)        \
    F (T, 13, ts_ms,       WIRE_U64,  0,                   WIRE_OPT, _)
/* clang-format on */

/* A: one line of a log stream (a supervised process's stdout/stderr:
 * "<proc>-out" / "<proc>-err", or a tailed file's stream name). Lines longer
 * than AGENT_LOG_TEXT_MAX arrive in pieces with `partial` set on all but the
 * last. `seq` counts lines per stream from 1. */
/* clang-format off */
#define AGENT_LOG_FIELDS(F, T)                                                 \
    F (T, 2, stream,  WIRE_STR,  AGENT_STREAM_NAME_MAX, WIRE_REQ, _)           \
    F (T, 3, seq,     WIRE_U64,  0,                     WIRE_REQ, _)           \
    F (T, 4, ts_ms,   WIRE_U64,  0,                     WIRE_OPT, _)           \
    F (T, 5, text,    WIRE_STR,  AGENT_LOG_TEXT_MAX,    WIRE_REQ, _)           \
    F (T, 6, partial, WIRE_BOOL, 0,                     WIRE_OPT, _)
/* clang-format on */

/* A: a service inside the shed, for the catalog. The address is the
 * shed's, known to the host; the agent only names port and protocol. */
/* clang-format off */
#define AGENT_SERVICE_REGISTER_FIELDS(F, T)                                    \
    F (T, 2, name,     WIRE_STR,  AGENT_NAME_MAX, WIRE_REQ, _)                 \
    F (T, 3, port,     WIRE_U64,  65535,          WIRE_REQ, _)                 \
    F (T, 4, protocol, WIRE_STR,  15,             WIRE_OPT, _)                 \
    F (T, 5, tags,     WIRE_TAGS, AGENT_TAGS_MAX, WIRE_OPT, _)                 \
    F (T, 6, check,    WIRE_STR,  AGENT_TEXT_MAX, WIRE_OPT, _)
/* clang-format on */

/* clang-format off */
#define AGENT_SERVICE_DEREGISTER_FIELDS(F, T)                                  \
    F (T, 2, name,     WIRE_STR,  AGENT_NAME_MAX, WIRE_REQ, _)
/* clang-format on */

/* clang-format off */
#define AGENT_SERVICE_HEALTH_FIELDS(F, T)                                      \
    F (T, 2, name,     WIRE_STR,  AGENT_NAME_MAX,   WIRE_REQ, _)               \
    F (T, 3, status,   WIRE_U64,  AGENT_HEALTH_MAX, WIRE_REQ, _)               \
    F (T, 4, output,   WIRE_STR,  AGENT_TEXT_MAX,   WIRE_OPT, _)
/* clang-format on */

/* H: run these steps in order (as `user` when the agent is root). A run
 * stops at the first failing step unless keep_going is set. */
/* clang-format off */
#define AGENT_PROVISION_FIELDS(F, T)                                           \
    F (T, 2, run,        WIRE_U64,  0,               WIRE_REQ, _)              \
    F (T, 3, user,       WIRE_STR,  32,              WIRE_OPT, _)              \
    F (T, 4, keep_going, WIRE_BOOL, 0,               WIRE_OPT, _)              \
    F (T, 5, steps,      WIRE_LIST, AGENT_STEPS_MAX, WIRE_REQ, agent_step)
/* clang-format on */

/* A: output of a running step; `offset` counts bytes per (run, step, fd). */
/* clang-format off */
#define AGENT_PROVISION_OUTPUT_FIELDS(F, T)                                    \
    F (T, 2, run,    WIRE_U64,  0,                      WIRE_REQ, _)           \
    F (T, 3, step,   WIRE_U64,  AGENT_STEPS_MAX,        WIRE_REQ, _)           \
    F (T, 4, fd,     WIRE_U64,  2,                      WIRE_REQ, _)           \
    F (T, 5, offset, WIRE_U64,  0,                      WIRE_OPT, _)           \
    F (T, 6, data,   WIRE_BLOB, AGENT_OUTPUT_CHUNK_MAX, WIRE_REQ, _)
/* clang-format on */

/* A: a run is over. Each step's result came before as PROC_EVENT STEP_DONE. */
/* clang-format off */
#define AGENT_PROVISION_DONE_FIELDS(F, T)                                      \
    F (T, 2, run,         WIRE_U64,  0,               WIRE_REQ, _)             \
    F (T, 3, ok,          WIRE_BOOL, 0,               WIRE_OPT, _)             \
    F (T, 4, steps_run,   WIRE_U64,  AGENT_STEPS_MAX, WIRE_OPT, _)             \
    F (T, 5, failed_step, WIRE_I64,  0,               WIRE_OPT, _)             \
    F (T, 6, error,       WIRE_STR,  AGENT_TEXT_MAX,  WIRE_OPT, _)
/* clang-format on */

/* A: `count` messages were dropped (oldest first) since the last notice. */
/* clang-format off */
#define AGENT_DROPPED_FIELDS(F, T)                                             \
    F (T, 2, count,   WIRE_U64, 0, WIRE_REQ, _)                                \
    F (T, 3, total,   WIRE_U64, 0, WIRE_OPT, _)                                \
    F (T, 4, reason,  WIRE_U64, 2, WIRE_OPT, _)                                \
    F (T, 5, since_ms, WIRE_U64, 0, WIRE_OPT, _)
/* clang-format on */

/* B: one piece of a message too large for one frame. `type` is the inner
 * message's type, `total` its encoded size (same in every chunk), `offset`
 * where this piece starts; pieces come in order, the last has `final`. */
/* clang-format off */
#define AGENT_CHUNK_FIELDS(F, T)                                               \
    F (T, 2, stream, WIRE_U64,  0,                    WIRE_REQ, _)             \
    F (T, 3, type,   WIRE_U64,  255,                  WIRE_REQ, _)             \
    F (T, 4, offset, WIRE_U64,  AGENT_STREAM_MAX,     WIRE_REQ, _)             \
    F (T, 5, total,  WIRE_U64,  AGENT_STREAM_MAX,     WIRE_REQ, _)             \
    F (T, 6, final,  WIRE_BOOL, 0,                    WIRE_OPT, _)             \
    F (T, 7, data,   WIRE_BLOB, AGENT_CHUNK_DATA_MAX, WIRE_REQ, _)
/* clang-format on */

/* B: the sender is about to close the connection, and why. */
/* clang-format off */
#define AGENT_CLOSE_FIELDS(F, T)                                               \
    F (T, 2, code,   WIRE_U64, 0,              WIRE_REQ, _)                    \
    F (T, 3, reason, WIRE_STR, AGENT_TEXT_MAX, WIRE_OPT, _)
/* clang-format on */

/* clang-format off */
#define AGENT_MESSAGES(M)                                                      \
    M (AGENT_HELLO,              agent_hello,              1,  AGENT_HELLO_FIELDS)      \
    M (AGENT_HELLO_ACK,          agent_hello_ack,          2,  AGENT_HELLO_ACK_FIELDS)  \
    M (AGENT_HEARTBEAT,          agent_heartbeat,          3,  AGENT_HEARTBEAT_FIELDS)  \
    M (AGENT_METRICS,            agent_metrics,            4,  AGENT_METRICS_FIELDS)    \
    M (AGENT_PROC_EVENT,         agent_proc_event,         5,  AGENT_PROC_EVENT_FIELDS) \
    M (AGENT_LOG,                agent_log,                6,  AGENT_LOG_FIELDS)        \
    M (AGENT_SERVICE_REGISTER,   agent_service_register,   7,  AGENT_SERVICE_REGISTER_FIELDS)   \
    M (AGENT_SERVICE_DEREGISTER, agent_service_deregister, 8,  AGENT_SERVICE_DEREGISTER_FIELDS) \
    M (AGENT_SERVICE_HEALTH,     agent_service_health,     9,  AGENT_SERVICE_HEALTH_FIELDS)     \
    M (AGENT_PROVISION,          agent_provision,          10, AGENT_PROVISION_FIELDS)          \
    M (AGENT_PROVISION_OUTPUT,   agent_provision_output,   11, AGENT_PROVISION_OUTPUT_FIELDS)   \
    M (AGENT_PROVISION_DONE,     agent_provision_done,     12, AGENT_PROVISION_DONE_FIELDS)     \
    M (AGENT_DROPPED,            agent_dropped,            13, AGENT_DROPPED_FIELDS)            \
    M (AGENT_CHUNK,              agent_chunk,              14, AGENT_CHUNK_FIELDS)              \
    M (AGENT_CLOSE,              agent_close,              15, AGENT_CLOSE_FIELDS)
/* clang-format on */

WIRE_DECLARE_PROTO (agent, AGENT_MESSAGES)

#define AGENT_TYPE_MIN 1
#define AGENT_TYPE_MAX 15

/* Who may send a type. */
#define AGENT_DIR_TO_HOST  1u /* agent -> host */
#define AGENT_DIR_TO_AGENT 2u /* host -> agent */

/* Bitmask of AGENT_DIR_* allowed for `type`, 0 if the type is unknown. */
unsigned agent_msg_direction (unsigned type);

/* Short name of a type ("hello", "metrics", ...), "unknown" otherwise. */
const char *agent_msg_type_name (unsigned type);

/* True if `name` is a valid log stream name: 1..AGENT_STREAM_NAME_MAX of
 * [A-Za-z0-9_-] (it becomes one topic segment, so no dots). */
bool agent_msg_stream_name_ok (const char *name);

/* True if `name` is a valid process/step name: 1..AGENT_NAME_MAX of
 * [A-Za-z0-9_-], starting with a letter or digit. */
bool agent_msg_name_ok (const char *name);

/* True if `name` is a valid service name: a DNS label, 1..63 of [a-z0-9-],
 * not starting or ending with '-' (it becomes a DNS name and a topic). */
bool agent_msg_service_name_ok (const char *name);

/* ------------------------------------------------------------------------ */
/*  Frames: encoder and decoder (agent_frame.c)                             */
/* ------------------------------------------------------------------------ */

/* Receives one finished frame and takes ownership of `frame` (malloc'd),
 * even on failure. Return 0, or non-zero to stop the encoder. */
typedef int (agent_frame_sink_fn) (void *arg, uint8_t *frame, size_t len);

/* Encode `msg` as exactly one frame of at most `max_frame` payload bytes.
 * Returns WIRE_OK with *out malloc'd, WIRE_ERR_TOO_BIG if it does not fit,
 * or another wire_err_t. */
int agent_frame_encode (const agent_msg_t *msg, uint32_t max_frame, uint8_t **out, size_t *out_len);

/* Encode `msg` and hand it to `sink` as one frame if it fits in `max_frame`,
 * else as a chunk stream numbered `stream_id` (chunks of at most
 * AGENT_CHUNK_DATA_MAX data bytes, fewer if max_frame is small). Returns
 * WIRE_OK, a wire_err_t, or WIRE_ERR_TOO_BIG over AGENT_STREAM_MAX, or -100
 * if the sink refused a frame. */
int agent_frame_send (const agent_msg_t *msg, uint32_t max_frame, uint64_t stream_id,
                      agent_frame_sink_fn *sink, void *arg);

/* Frame already-encoded payload bytes; returns a malloc'd frame or NULL. */
uint8_t *agent_frame_wrap (uint8_t type, const uint8_t *payload, size_t len, size_t *out_len);

/* Decode a frame's payload and check that the message type equals the
 * frame's type byte (WIRE_ERR_TYPE if not). Same contract as wire_decode. */
int agent_frame_decode (uint8_t type, const uint8_t *payload, size_t len, agent_msg_t *msg,
                        const char **field);

/* The fast path agent_frame_decode takes for LOG, the one message an agent
 * sends at a high rate: the canonical encoding (a fixmap with integer keys
 * in ascending order, no unknown keys, minimal forms) is read in place,
 * with every check the full decoder and validator make (types, bounds, no
 * NUL in strings, stream name rule), into msg's header and agent_log only
 * (the rest of the union is not cleared). Returns 1 if it decoded, 0 if
 * the bytes are anything else (then the full decoder decides: it accepts
 * a superset). Never accepts what wire_decode would refuse (fuzz_event
 * checks the two agree). */
int agent_log_decode_fast (const uint8_t *payload, size_t len, agent_msg_t *msg);

#endif
