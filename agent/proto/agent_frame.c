/*
 * agent_frame.c - the frame encoder and decoder of the agent channel
 * (declared in agent_proto.h): one message into one frame or a chunk
 * stream, one frame's payload back into a validated message, and the fast
 * path for LOG.
 */
#include "agent/proto/agent_proto.h"

#include <assert.h>
#include <stdlib.h>
#include <string.h>

static void
s_put_header (uint8_t *p, uint8_t type, size_t len)
{
    p[0] = type;
    p[1] = (uint8_t) (len >> 24);
    p[2] = (uint8_t) (len >> 16);
    p[3] = (uint8_t) (len >> 8);
    p[4] = (uint8_t) len;
}

uint8_t *
agent_frame_wrap (uint8_t type, const uint8_t *payload, size_t len, size_t *out_len)
{
    if (len > UINT32_MAX)
        return NULL;
    uint8_t *frame = malloc (AGENT_FRAME_HEADER + len);
    if (!frame)
        return NULL;
    s_put_header (frame, type, len);
    if (len)
        memcpy (frame + AGENT_FRAME_HEADER, payload, len);
    *out_len = AGENT_FRAME_HEADER + len;
    return frame;
}

/* Encode into a new buffer with room for the header in front, so a frame
 * costs one allocation and one copy-free encode in the common case. */
static int
s_encode_framed (const agent_msg_t *msg, uint8_t **out, size_t *out_len, size_t *payload_len)
{
    uint8_t *payload = NULL;
    size_t len = 0;
    int rc = wire_encode (&agent_proto, msg, &payload, &len);
    if (rc)
        return rc;
    if (len > UINT32_MAX) {
        free (payload);
        return WIRE_ERR_TOO_BIG;
    }
    /* wire_encode owns its growth policy; one extra copy to prepend the
     * header is cheap next to the msgpack work. */
    uint8_t *frame = realloc (payload, len + AGENT_FRAME_HEADER);
    if (!frame) {
        free (payload);
        return WIRE_ERR_NOMEM;
    }
    memmove (frame + AGENT_FRAME_HEADER, frame, len);
    s_put_header (frame, (uint8_t) msg->hdr.type, len);
    *out = frame;
    *out_len = len + AGENT_FRAME_HEADER;
    *payload_len = len;
    return WIRE_OK;
}

int
agent_frame_encode (const agent_msg_t *msg, uint32_t max_frame, uint8_t **out, size_t *out_len)
{
    assert (msg);
    size_t payload_len = 0;
    int rc = s_encode_framed (msg, out, out_len, &payload_len);
    if (rc)
        return rc;
    if (payload_len > max_frame) {
        free (*out);
        *out = NULL;
        return WIRE_ERR_TOO_BIG;
    }
    return WIRE_OK;
}

int
agent_frame_send (const agent_msg_t *msg, uint32_t max_frame, uint64_t stream_id,
                  agent_frame_sink_fn *sink, void *arg)
{
    assert (msg);
    assert (sink);
    uint8_t *frame = NULL;
    size_t frame_len = 0, payload_len = 0;
    int rc = s_encode_framed (msg, &frame, &frame_len, &payload_len);
    if (rc)
        return rc;
    if (payload_len <= max_frame)
        return sink (arg, frame, frame_len) ? -100 : WIRE_OK;
    if (payload_len > AGENT_STREAM_MAX || msg->hdr.type == AGENT_CHUNK) {
        free (frame);
        return WIRE_ERR_TOO_BIG;
    }
    size_t piece = AGENT_CHUNK_DATA_MAX;
    if (max_frame < AGENT_CHUNK_OVERHEAD * 2)
        max_frame = AGENT_FRAME_MAX_FLOOR;
    if (piece > max_frame - AGENT_CHUNK_OVERHEAD)
        piece = max_frame - AGENT_CHUNK_OVERHEAD;

    uint8_t *payload = frame + AGENT_FRAME_HEADER;
    rc = WIRE_OK;
    for (size_t off = 0; off < payload_len && rc == WIRE_OK; off += piece) {
        size_t n = payload_len - off < piece ? payload_len - off : piece;
        agent_msg_t c;
        memset (&c, 0, sizeof c);
        c.hdr.type = AGENT_CHUNK;
        c.u.agent_chunk.stream = stream_id;
        c.u.agent_chunk.type = msg->hdr.type;
        c.u.agent_chunk.offset = off;
        c.u.agent_chunk.total = payload_len;
        c.u.agent_chunk.final = off + n == payload_len;
        c.u.agent_chunk.data.data = payload + off;
        c.u.agent_chunk.data.len = n;
        uint8_t *cf = NULL;
        size_t cf_len = 0;
        rc = agent_frame_encode (&c, max_frame, &cf, &cf_len);
        if (rc == WIRE_OK && sink (arg, cf, cf_len))
            rc = -100;
    }
    free (frame);
    return rc;
}

/* An unsigned msgpack integer at p (fixint, uint8..64). */
static bool
s_fast_uint (const uint8_t **pp, const uint8_t *end, uint64_t *v)
{
    const uint8_t *p = *pp;
    if (p >= end)
        return false;
    uint8_t c = *p++;
    size_t w;
    if (c <= 0x7f) {
        *v = c;
        *pp = p;
        return true;
    }
    if (c < 0xcc || c > 0xcf)
        return false;
    w = (size_t) 1 << (c - 0xcc);
    if ((size_t) (end - p) < w)
        return false;
    *v = 0;
    for (size_t i = 0; i < w; i++)
        *v = *v << 8 | p[i];
    *pp = p + w;
    return true;
}

/* A msgpack str (fixstr, str8, str16) at p: its bytes and length. With
 * check_nul, one holding a NUL is refused here; without, the caller's own
 * character check must refuse it (the stream name's does). */
static bool
s_fast_str (const uint8_t **pp, const uint8_t *end, const uint8_t **str, size_t *n, bool check_nul)
{
    const uint8_t *p = *pp;
    if (p >= end)
        return false;
    uint8_t c = *p++;
    if ((c & 0xe0) == 0xa0)
        *n = c & 0x1f;
    else if (c == 0xd9 && p < end)
        *n = *p++;
    else if (c == 0xda && end - p >= 2) {
        *n = (size_t) p[0] << 8 | p[1];
        p += 2;
    }
    else
        return false;
    if ((size_t) (end - p) < *n || (check_nul && *n && memchr (p, 0, *n)))
        return false;
    *str = p;
    *pp = p + *n;
    return true;
}

int
agent_log_decode_fast (const uint8_t *payload, size_t len, agent_msg_t *msg)
{
    /* An empty frame has no payload pointer: check before any arithmetic
     * on it (NULL + 0 is undefined behaviour). */
    if (!payload || len == 0 || (*payload & 0xf0) != 0x80)
        return 0;
    const uint8_t *p = payload, *end = payload + len;
    size_t entries = *p++ & 0x0f;
    uint64_t version = 0, type = 0, seq = 0, ts = 0;
    const uint8_t *stream = NULL, *text = NULL;
    size_t stream_len = 0, text_len = 0;
    bool partial = false;
    int last_key = -1;
    unsigned seen = 0;
    for (size_t i = 0; i < entries; i++) {
        if (p >= end || *p > 6 || (int) *p <= last_key)
            return 0; /* unknown key or not in ascending order */
        int key = *p++;
        last_key = key;
        seen |= 1u << key;
        bool ok;
        switch (key) {
        case 0:
            ok = s_fast_uint (&p, end, &version);
            break;
        case 1:
            ok = s_fast_uint (&p, end, &type);
            break;
        case 2:
            /* The stream's character check below refuses a NUL. */
            ok = s_fast_str (&p, end, &stream, &stream_len, false);
            break;
        case 3:
            ok = s_fast_uint (&p, end, &seq);
            break;
        case 4:
            ok = s_fast_uint (&p, end, &ts);
            break;
        case 5:
            ok = s_fast_str (&p, end, &text, &text_len, true);
            break;
        default:
            ok = p < end && (*p == 0xc2 || *p == 0xc3);
            if (ok)
                partial = *p++ == 0xc3;
            break;
        }
        if (!ok)
            return 0;
    }
    /* Envelope, required fields, bounds and the validator's stream rule. */
    if (p != end || (seen & 0x2f) != 0x2f || version < AGENT_VERSION_MIN || version > AGENT_VERSION
        || type != AGENT_LOG || stream_len == 0 || stream_len > AGENT_STREAM_NAME_MAX
        || text_len > AGENT_LOG_TEXT_MAX)
        return 0;
    for (size_t i = 0; i < stream_len; i++) {
        char c = (char) stream[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_'
              || c == '-'))
            return 0;
    }
    msg->hdr.version = (uint16_t) version;
    msg->hdr.type = AGENT_LOG;
    agent_log_t *log = &msg->u.agent_log;
    memcpy (log->stream, stream, stream_len);
    log->stream[stream_len] = '\0';
    log->seq = seq;
    log->ts_ms = ts;
    if (text_len)
        memcpy (log->text, text, text_len);
    log->text[text_len] = '\0';
    log->partial = partial;
    return 1;
}

int
agent_frame_decode (uint8_t type, const uint8_t *payload, size_t len, agent_msg_t *msg,
                    const char **field)
{
    if (type == AGENT_LOG && agent_log_decode_fast (payload, len, msg))
        return WIRE_OK;
    int rc = wire_decode (&agent_proto, payload, len, msg, field);
    if (rc == WIRE_OK && msg->hdr.type != type) {
        wire_msg_free (&agent_proto, msg);
        if (field)
            *field = "type";
        return WIRE_ERR_TYPE;
    }
    return rc;
}
