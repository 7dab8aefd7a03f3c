/*
 * agent_reader.h - incremental reader of agent channel frames
 * (`[type:u8][length:u32 BE][payload]`, agent_proto.h).
 *
 * Feed bytes as they arrive, take complete frames. The type byte and the
 * declared length are checked as soon as the 5 header bytes are in, so an
 * oversized length is refused before anything is allocated. No I/O.
 */
#ifndef SHED_AGENT_READER_H
#define SHED_AGENT_READER_H

#include <stddef.h>
#include <stdint.h>

typedef struct _agent_reader_t agent_reader_t;

#define AGENT_READ_MORE         0  /* all input consumed, no frame yet */
#define AGENT_READ_FRAME        1  /* a frame is complete; take it */
#define AGENT_READ_ERR_TYPE     -1 /* unknown type byte */
#define AGENT_READ_ERR_OVERSIZE -2 /* declared length over the limit */
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

#endif
