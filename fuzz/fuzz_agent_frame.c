/*
 * fuzz_agent_frame.c - libFuzzer target for the agent channel's receive
 * path: arbitrary bytes go through the incremental reader (fed in pieces
 * whose sizes come from the input itself), every complete frame is decoded
 * (type byte must match the payload), chunk frames go through bounded
 * reassembly and the reassembled message is decoded too. Whatever decodes
 * must re-encode and decode to the same bytes.
 *
 * Input layout: byte 0 picks the feed step (1..64 bytes, or all at once),
 * the rest is the stream as a peer would send it.
 */
#include "agent/proto/agent_proto.h"
#include "agent/proto/agent_reader.h"
#include "agent/proto/agent_streams.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput (const uint8_t *data, size_t size);

#define S_CHECK(cond)                                                                              \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            fprintf (stderr, "fuzz_agent_frame: check failed: %s (line %d)\n", #cond, __LINE__);   \
            abort ();                                                                              \
        }                                                                                          \
    } while (0)

static void
s_round_trip (const agent_msg_t *m)
{
    uint8_t *one = NULL, *two = NULL;
    size_t one_len = 0, two_len = 0;
    S_CHECK (wire_encode (&agent_proto, m, &one, &one_len) == WIRE_OK);
    agent_msg_t d;
    S_CHECK (agent_frame_decode ((uint8_t) m->hdr.type, one, one_len, &d, NULL) == WIRE_OK);
    S_CHECK (wire_encode (&agent_proto, &d, &two, &two_len) == WIRE_OK);
    S_CHECK (one_len == two_len && memcmp (one, two, one_len) == 0);
    wire_msg_free (&agent_proto, &d);
    free (one);
    free (two);
}

static void
s_frame (agent_streams_t *streams, uint8_t type, const uint8_t *payload, size_t len)
{
    agent_msg_t m;
    const char *field = NULL;
    if (agent_frame_decode (type, payload, len, &m, &field) != WIRE_OK) {
        S_CHECK (field != NULL);
        return;
    }
    S_CHECK (m.hdr.type == type);
    s_round_trip (&m);
    if (type == AGENT_CHUNK) {
        uint8_t inner = 0;
        uint8_t *whole = NULL;
        size_t whole_len = 0;
        int rc = agent_streams_add (streams, &m.u.agent_chunk, &inner, &whole, &whole_len);
        S_CHECK (agent_streams_bytes (streams) <= 64u << 10);
        if (rc == AGENT_STREAM_COMPLETE) {
            agent_msg_t d;
            if (agent_frame_decode (inner, whole, whole_len, &d, NULL) == WIRE_OK) {
                s_round_trip (&d);
                wire_msg_free (&agent_proto, &d);
            }
            free (whole);
        }
    }
    wire_msg_free (&agent_proto, &m);
}

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    size_t step = data[0] % 65; /* 0: everything at once */
    data++;
    size--;
    /* Small bounds so the fuzzer reaches them. */
    agent_reader_t *r = agent_reader_new (16384);
    agent_streams_t *streams = agent_streams_new (32768, 65536, 2);
    S_CHECK (r && streams);
    size_t pos = 0;
    while (pos < size) {
        size_t n = step ? (size - pos < step ? size - pos : step) : size - pos;
        size_t off = 0;
        int rc = 0;
        while (off < n) {
            size_t used = 0;
            rc = agent_reader_feed (r, data + pos + off, n - off, &used);
            S_CHECK (used <= n - off);
            off += used;
            if (rc < 0)
                break;
            if (rc == AGENT_READ_FRAME) {
                size_t len = 0;
                const uint8_t *p = agent_reader_payload (r, &len);
                S_CHECK (len <= 16384);
                s_frame (streams, agent_reader_type (r), p, len);
            }
            else
                S_CHECK (off == n);
        }
        if (rc < 0)
            break;
        pos += n;
    }
    agent_streams_destroy (&streams);
    agent_reader_destroy (&r);
    return 0;
}
