/*
 * wire_int.h - what the decoder (wire.c) and the encoder (wire_encode.c)
 * of the msgpack codec share. Not for users of the codec: common/wire.h.
 */
#ifndef SHED_WIRE_INT_H
#define SHED_WIRE_INT_H

#include "common/wire.h"

#include <stdint.h>

/* No string, bin, ext or container in any shed message may declare more
 * than this many bytes / elements / pairs (and the encoder refuses to
 * write more). 16 MiB is the agent frame ceiling (Shed's agent protocol,
 * docs/agent.md); anything larger is streamed, never one message. */
#define WIRE_MAX_DECLARED (16u << 20)

/* Most fields one record may have; bounds the duplicate-key table. */
#define WIRE_MAX_FIELDS 128

/* A message's body: its record, past the protocol's envelope header. */
static inline const void *
wire_cbody (const wire_proto_t *proto, const void *msg)
{
    return (const uint8_t *) msg + proto->body_offset;
}

#endif
