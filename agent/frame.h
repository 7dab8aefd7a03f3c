/*
 * frame.h - agent channel framing: `[type:u8][length:u32 BE][payload]`.
 *
 * Four small pieces, shared by shed-agent and the host listener:
 *
 *   agent_frame_*    encode a message into one frame, or into a chunk stream
 *                    when its encoding is larger than the frame limit;
 *   agent_reader_t   incremental reader: feed bytes as they arrive, take
 *                    complete frames; the type byte and the declared length
 *                    are checked as soon as the 5 header bytes are in, so an
 *                    oversized length is refused before anything is allocated;
 *   agent_streams_t  chunk-stream reassembly, bounded per stream, in total and
 *                    in the number of streams open at once;
 *   agent_outq_t     bounded queue of encoded frames for a non-blocking
 *                    socket, either dropping the oldest (agent) or refusing
 *                    new frames (host) when full.
 *
 * None of them does I/O except agent_outq_flush, which only ever calls a
 * non-blocking send.
 */
#ifndef SHED_AGENT_FRAME_H
#define SHED_AGENT_FRAME_H

#include "agent/agent_msg.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* ------------------------------------------------------------------------ */
/*  Encoding                                                                */
/* ------------------------------------------------------------------------ */

/* Receives one finished frame and takes ownership of `frame` (malloc'd),
 * even on failure. Return 0, or non-zero to stop the encoder. */
typedef int (agent_frame_sink_fn) (void *arg, uint8_t *frame, size_t len);

/* Encode `msg` as exactly one frame of at most `max_frame` payload bytes.
 * Returns WIRE_OK with *out malloc'd, WIRE_ERR_TOO_BIG if it does not fit,
 * or another wire_err_t. */
int agent_frame_encode (const agent_msg_t *msg, uint32_t max_frame, uint8_t **out,
                        size_t *out_len);

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

/* ------------------------------------------------------------------------ */
/*  Incremental reader                                                      */
/* ------------------------------------------------------------------------ */

typedef struct _agent_reader_t agent_reader_t;

#define AGENT_READ_MORE          0      /* all input consumed, no frame yet */
#define AGENT_READ_FRAME         1      /* a frame is complete; take it */
#define AGENT_READ_ERR_TYPE     -1      /* unknown type byte */
#define AGENT_READ_ERR_OVERSIZE -2      /* declared length over the limit */
#define AGENT_READ_ERR_NOMEM    -3

agent_reader_t *agent_reader_new (uint32_t max_frame);
void agent_reader_destroy (agent_reader_t **self_p);

/* Consume bytes until a frame completes or the input ends; *used says how
 * many were consumed (bytes after a completed frame are left for the next
 * call). Errors are sticky: framing is lost, the connection must close. */
int agent_reader_feed (agent_reader_t *self, const uint8_t *data, size_t len, size_t *used);

/* The frame completed by the last feed; valid until the next feed. */
uint8_t agent_reader_type (agent_reader_t *self);
const uint8_t *agent_reader_payload (agent_reader_t *self, size_t *len);

/* Bytes buffered towards the next frame (header + payload so far). */
size_t agent_reader_pending (agent_reader_t *self);

/* ------------------------------------------------------------------------ */
/*  Chunk-stream reassembly                                                 */
/* ------------------------------------------------------------------------ */

typedef struct _agent_streams_t agent_streams_t;

#define AGENT_STREAM_PARTIAL       0    /* accepted, more to come */
#define AGENT_STREAM_COMPLETE      1    /* a message is reassembled */
#define AGENT_STREAM_ERR_ORDER    -1    /* offset not where the stream is */
#define AGENT_STREAM_ERR_TOO_BIG  -2    /* total over the per-stream bound */
#define AGENT_STREAM_ERR_LIMIT    -3    /* too many streams or bytes in flight */
#define AGENT_STREAM_ERR_MISMATCH -4    /* type or total changed mid-stream */
#define AGENT_STREAM_ERR_NOMEM    -5

/* Bounds: one message, all streams together, streams open at once. */
agent_streams_t *agent_streams_new (size_t stream_max, size_t total_max, size_t open_max);
void agent_streams_destroy (agent_streams_t **self_p);

/* Add one chunk (already decoded and validated). On COMPLETE, *type and
 * *payload (malloc'd, caller frees) / *len hold the inner message's bytes,
 * still to be decoded. A failed stream is forgotten. */
int agent_streams_add (agent_streams_t *self, const agent_chunk_t *chunk, uint8_t *type,
                       uint8_t **payload, size_t *len);

/* Bytes held by unfinished streams, and their number. */
size_t agent_streams_bytes (agent_streams_t *self);
size_t agent_streams_open (agent_streams_t *self);

/* ------------------------------------------------------------------------ */
/*  Outbound queue                                                          */
/* ------------------------------------------------------------------------ */

typedef struct _agent_outq_t agent_outq_t;

/* At most `max_frames` frames and `max_bytes` bytes. When full, a push
 * either drops the oldest frames not yet started (drop_oldest) or refuses
 * the new one. */
agent_outq_t *agent_outq_new (size_t max_frames, size_t max_bytes, bool drop_oldest);
void agent_outq_destroy (agent_outq_t **self_p);

/* Queue a frame (ownership taken, freed on refusal). Returns 0, or -1 if
 * refused. Frames dropped to make room are counted. */
int agent_outq_push (agent_outq_t *self, uint8_t *frame, size_t len);

/* Queue a frame ahead of everything not yet started, ignoring the bounds
 * (hello and drop notices on a fresh connection). */
int agent_outq_push_front (agent_outq_t *self, uint8_t *frame, size_t len);

/* Write as much as a non-blocking socket takes, at most `budget_frames`
 * whole frames. Returns frames completed, or -1 with errno on a socket
 * error (EAGAIN is not an error). */
int agent_outq_flush (agent_outq_t *self, int fd, size_t budget_frames);

/* A connection died: the frame being written will be resent whole. */
void agent_outq_rewind (agent_outq_t *self);

/* Drop everything queued (not counted as dropped). */
void agent_outq_clear (agent_outq_t *self);

size_t agent_outq_frames (agent_outq_t *self);
size_t agent_outq_bytes (agent_outq_t *self);

/* Frames dropped since the last call (the counter restarts at 0) and in
 * all (the total is not reset). */
uint64_t agent_outq_take_dropped (agent_outq_t *self);
uint64_t agent_outq_dropped_total (agent_outq_t *self);

/* ------------------------------------------------------------------------ */
/*  Token bucket                                                            */
/* ------------------------------------------------------------------------ */

/* A plain value type; `rate` tokens per second up to `burst`. rate 0 means
 * unlimited. Time is passed in so tests can use a fake clock. */
typedef struct {
    double rate;
    double burst;
    double tokens;
    int64_t last_ms;
} agent_bucket_t;

void agent_bucket_init (agent_bucket_t *b, double rate, double burst, int64_t now_ms);

/* Take `n` tokens if there are enough; returns true if taken. */
bool agent_bucket_take (agent_bucket_t *b, double n, int64_t now_ms);

/* Milliseconds until `n` tokens will be there (0 if now). */
int64_t agent_bucket_wait_ms (agent_bucket_t *b, double n, int64_t now_ms);

/* Monotonic and wall clocks in milliseconds. */
int64_t agent_clock_mono_ms (void);
int64_t agent_clock_wall_ms (void);

#endif
