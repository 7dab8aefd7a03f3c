/*
 * agent_streams.h - reassembly of agent channel chunk streams (CHUNK
 * messages, agent_proto.h; docs/agent.md "Streams"), bounded per stream,
 * in total and in the number of streams open at once. Memory grows with
 * the data that arrived, never with a declared total. No I/O.
 */
#ifndef SHED_AGENT_STREAMS_H
#define SHED_AGENT_STREAMS_H

#include "agent/proto/agent_proto.h"

#include <stddef.h>
#include <stdint.h>

typedef struct _agent_streams_t agent_streams_t;

#define AGENT_STREAM_PARTIAL      0  /* accepted, more to come */
#define AGENT_STREAM_COMPLETE     1  /* a message is reassembled */
#define AGENT_STREAM_ERR_ORDER    -1 /* offset not where the stream is */
#define AGENT_STREAM_ERR_TOO_BIG  -2 /* total over the per-stream bound */
#define AGENT_STREAM_ERR_LIMIT    -3 /* too many streams or bytes in flight */
#define AGENT_STREAM_ERR_MISMATCH -4 /* type or total changed mid-stream */
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

#endif
