/*
 * frame.c - agent channel framing, reader, stream reassembly, outbound
 * queue and token bucket (see frame.h).
 */
#include "agent/frame.h"

#include <assert.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <time.h>

/* ------------------------------------------------------------------------ */
/*  Encoding                                                                */
/* ------------------------------------------------------------------------ */

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

/* A msgpack str (fixstr, str8, str16) at p: its bytes and length. */
static bool
s_fast_str (const uint8_t **pp, const uint8_t *end, const uint8_t **str, size_t *n)
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
    if ((size_t) (end - p) < *n || (*n && memchr (p, 0, *n)))
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
            return 0;               /* unknown key or not in ascending order */
        int key = *p++;
        last_key = key;
        seen |= 1u << key;
        bool ok;
        switch (key) {
            case 0: ok = s_fast_uint (&p, end, &version); break;
            case 1: ok = s_fast_uint (&p, end, &type); break;
            case 2: ok = s_fast_str (&p, end, &stream, &stream_len); break;
            case 3: ok = s_fast_uint (&p, end, &seq); break;
            case 4: ok = s_fast_uint (&p, end, &ts); break;
            case 5: ok = s_fast_str (&p, end, &text, &text_len); break;
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
    if (p != end || (seen & 0x2f) != 0x2f
    ||  version < AGENT_VERSION_MIN || version > AGENT_VERSION || type != AGENT_LOG
    ||  stream_len == 0 || stream_len > AGENT_STREAM_NAME_MAX || text_len > AGENT_LOG_TEXT_MAX)
        return 0;
    for (size_t i = 0; i < stream_len; i++) {
        char c = (char) stream[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9')
              || c == '_' || c == '-'))
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

/* ------------------------------------------------------------------------ */
/*  Incremental reader                                                      */
/* ------------------------------------------------------------------------ */

/* Payload buffers larger than this are released after their frame so one
 * big frame does not pin memory for the life of the connection. */
#define S_KEEP_BUF (64u << 10)

struct _agent_reader_t {
    uint32_t max_frame;
    uint8_t header[AGENT_FRAME_HEADER];
    size_t have_header;         /* header bytes so far */
    uint32_t want;              /* payload length from the header */
    size_t have;                /* payload bytes so far */
    uint8_t *buf;               /* payload storage */
    size_t cap;
    bool complete;              /* the last feed completed a frame */
    int error;                  /* sticky */
};

agent_reader_t *
agent_reader_new (uint32_t max_frame)
{
    agent_reader_t *self = calloc (1, sizeof *self);
    if (self)
        self->max_frame = max_frame;
    return self;
}

void
agent_reader_destroy (agent_reader_t **self_p)
{
    assert (self_p);
    if (*self_p) {
        free ((*self_p)->buf);
        free (*self_p);
        *self_p = NULL;
    }
}

int
agent_reader_feed (agent_reader_t *self, const uint8_t *data, size_t len, size_t *used)
{
    assert (self);
    assert (used);
    *used = 0;
    if (self->error)
        return self->error;
    if (self->complete) {
        /* The previous frame was taken: start the next one. */
        self->complete = false;
        self->have_header = 0;
        self->have = 0;
        if (self->cap > S_KEEP_BUF) {
            free (self->buf);
            self->buf = NULL;
            self->cap = 0;
        }
    }
    size_t pos = 0;
    while (self->have_header < AGENT_FRAME_HEADER) {
        if (pos == len) {
            *used = pos;
            return AGENT_READ_MORE;
        }
        self->header[self->have_header++] = data[pos++];
        /* Check the type with the first byte, before waiting for more. */
        if (self->have_header == 1 && agent_msg_direction (self->header[0]) == 0) {
            *used = pos;
            return self->error = AGENT_READ_ERR_TYPE;
        }
    }
    uint32_t want = (uint32_t) self->header[1] << 24 | (uint32_t) self->header[2] << 16
                  | (uint32_t) self->header[3] << 8 | self->header[4];
    if (want > self->max_frame) {
        *used = pos;
        return self->error = AGENT_READ_ERR_OVERSIZE;
    }
    self->want = want;
    if (self->cap < want) {
        /* Sized by the declared length, which was just bounded. */
        uint8_t *grown = realloc (self->buf, want);
        if (!grown) {
            *used = pos;
            return self->error = AGENT_READ_ERR_NOMEM;
        }
        self->buf = grown;
        self->cap = want;
    }
    size_t n = len - pos;
    if (n > want - self->have)
        n = want - self->have;
    if (n)
        memcpy (self->buf + self->have, data + pos, n);
    self->have += n;
    pos += n;
    *used = pos;
    if (self->have < want)
        return AGENT_READ_MORE;
    self->complete = true;
    return AGENT_READ_FRAME;
}

uint8_t
agent_reader_type (agent_reader_t *self)
{
    assert (self);
    return self->complete ? self->header[0] : 0;
}

const uint8_t *
agent_reader_payload (agent_reader_t *self, size_t *len)
{
    assert (self);
    *len = self->complete ? self->want : 0;
    return self->complete ? self->buf : NULL;
}

size_t
agent_reader_pending (agent_reader_t *self)
{
    assert (self);
    return self->complete ? 0 : self->have_header + self->have;
}

/* ------------------------------------------------------------------------ */
/*  Chunk-stream reassembly                                                 */
/* ------------------------------------------------------------------------ */

typedef struct {
    bool used;
    uint64_t id;
    uint8_t type;
    size_t total;               /* declared by the first chunk */
    size_t have;
    uint8_t *buf;
    size_t cap;
} s_stream_t;

struct _agent_streams_t {
    size_t stream_max, total_max, open_max;
    size_t bytes;               /* sum of cap over open streams */
    size_t open;
    s_stream_t *slots;          /* open_max of them */
};

agent_streams_t *
agent_streams_new (size_t stream_max, size_t total_max, size_t open_max)
{
    agent_streams_t *self = calloc (1, sizeof *self);
    if (!self)
        return NULL;
    self->stream_max = stream_max;
    self->total_max = total_max;
    self->open_max = open_max ? open_max : 1;
    self->slots = calloc (self->open_max, sizeof *self->slots);
    if (!self->slots) {
        free (self);
        return NULL;
    }
    return self;
}

static void
s_stream_drop (agent_streams_t *self, s_stream_t *s)
{
    self->bytes -= s->cap;
    self->open--;
    free (s->buf);
    memset (s, 0, sizeof *s);
}

void
agent_streams_destroy (agent_streams_t **self_p)
{
    assert (self_p);
    agent_streams_t *self = *self_p;
    if (self) {
        for (size_t i = 0; i < self->open_max; i++)
            if (self->slots[i].used)
                s_stream_drop (self, &self->slots[i]);
        free (self->slots);
        free (self);
        *self_p = NULL;
    }
}

int
agent_streams_add (agent_streams_t *self, const agent_chunk_t *chunk, uint8_t *type,
                   uint8_t **payload, size_t *len)
{
    assert (self);
    assert (chunk);
    s_stream_t *s = NULL, *free_slot = NULL;
    for (size_t i = 0; i < self->open_max; i++) {
        if (self->slots[i].used && self->slots[i].id == chunk->stream)
            s = &self->slots[i];
        else if (!self->slots[i].used && !free_slot)
            free_slot = &self->slots[i];
    }
    if (!s) {
        if (chunk->offset != 0)
            return AGENT_STREAM_ERR_ORDER;
        if (chunk->total > self->stream_max)
            return AGENT_STREAM_ERR_TOO_BIG;
        if (!free_slot)
            return AGENT_STREAM_ERR_LIMIT;
        s = free_slot;
        s->used = true;
        s->id = chunk->stream;
        s->type = (uint8_t) chunk->type;
        s->total = (size_t) chunk->total;
        self->open++;
    }
    else if (chunk->type != s->type || chunk->total != s->total) {
        s_stream_drop (self, s);
        return AGENT_STREAM_ERR_MISMATCH;
    }
    if (chunk->offset != s->have || chunk->data.len > s->total - s->have) {
        s_stream_drop (self, s);
        return AGENT_STREAM_ERR_ORDER;
    }
    size_t need = s->have + chunk->data.len;
    if (need > s->cap) {
        /* Grow with the data that actually arrived, never by the declared
         * total: a peer that announces 16 MiB and sends 1 byte holds 1 KiB.
         * Doubling keeps the copies linear. */
        size_t cap = s->cap ? s->cap : 1024;
        while (cap < need)
            cap *= 2;
        if (cap > s->total)
            cap = s->total;
        if (self->bytes - s->cap + cap > self->total_max) {
            s_stream_drop (self, s);
            return AGENT_STREAM_ERR_LIMIT;
        }
        uint8_t *grown = realloc (s->buf, cap);
        if (!grown) {
            s_stream_drop (self, s);
            return AGENT_STREAM_ERR_NOMEM;
        }
        self->bytes += cap - s->cap;
        s->buf = grown;
        s->cap = cap;
    }
    if (chunk->data.len)
        memcpy (s->buf + s->have, chunk->data.data, chunk->data.len);
    s->have = need;
    if (!chunk->final) {
        if (s->have == s->total) {
            s_stream_drop (self, s);
            return AGENT_STREAM_ERR_ORDER;      /* full but not final */
        }
        return AGENT_STREAM_PARTIAL;
    }
    if (s->have != s->total) {
        s_stream_drop (self, s);
        return AGENT_STREAM_ERR_ORDER;
    }
    *type = s->type;
    *payload = s->buf;
    *len = s->have;
    s->buf = NULL;              /* handed over; drop frees nothing more */
    self->bytes -= s->cap;
    s->cap = 0;
    s_stream_drop (self, s);
    return AGENT_STREAM_COMPLETE;
}

size_t
agent_streams_bytes (agent_streams_t *self)
{
    assert (self);
    return self->bytes;
}

size_t
agent_streams_open (agent_streams_t *self)
{
    assert (self);
    return self->open;
}

/* ------------------------------------------------------------------------ */
/*  Outbound queue                                                          */
/* ------------------------------------------------------------------------ */

/* Room beyond max_frames for push_front (hello, drop notice). */
#define S_FRONT_RESERVE 8
/* Frames handed to one sendmsg. */
#define S_IOV_MAX 64

typedef struct {
    uint8_t *data;
    size_t len;
} s_item_t;

struct _agent_outq_t {
    size_t max_frames, max_bytes;
    bool drop_oldest;
    s_item_t *ring;
    size_t cap;                 /* ring slots */
    size_t head, count;
    size_t bytes;
    size_t sent;                /* bytes of the head frame already written */
    size_t front;               /* frames at the head that may not be dropped */
    uint64_t dropped;           /* since the last take */
    uint64_t dropped_total;
};

agent_outq_t *
agent_outq_new (size_t max_frames, size_t max_bytes, bool drop_oldest)
{
    agent_outq_t *self = calloc (1, sizeof *self);
    if (!self)
        return NULL;
    self->max_frames = max_frames ? max_frames : 1;
    self->max_bytes = max_bytes;
    self->drop_oldest = drop_oldest;
    self->cap = self->max_frames + S_FRONT_RESERVE;
    self->ring = calloc (self->cap, sizeof *self->ring);
    if (!self->ring) {
        free (self);
        return NULL;
    }
    return self;
}

void
agent_outq_clear (agent_outq_t *self)
{
    assert (self);
    while (self->count) {
        free (self->ring[self->head].data);
        self->ring[self->head].data = NULL;
        self->head = (self->head + 1) % self->cap;
        self->count--;
    }
    self->bytes = 0;
    self->sent = 0;
    self->front = 0;
}

void
agent_outq_destroy (agent_outq_t **self_p)
{
    assert (self_p);
    if (*self_p) {
        agent_outq_clear (*self_p);
        free ((*self_p)->ring);
        free (*self_p);
        *self_p = NULL;
    }
}

static bool
s_full (agent_outq_t *self, size_t len)
{
    return self->count >= self->max_frames || self->bytes + len > self->max_bytes;
}

/* Drop the oldest frame that is neither pinned (pushed to the front: a
 * hello or a drop notice must survive the very pressure it reports) nor
 * half-written. */
static bool
s_drop_one (agent_outq_t *self)
{
    size_t skip = self->front;
    if (self->sent && skip == 0)
        skip = 1;
    if (self->count <= skip)
        return false;
    size_t idx = (self->head + skip) % self->cap;
    free (self->ring[idx].data);
    self->bytes -= self->ring[idx].len;
    /* Close the gap: shift the kept frames forward by one slot. */
    for (size_t j = skip; j > 0; j--)
        self->ring[(self->head + j) % self->cap] = self->ring[(self->head + j - 1) % self->cap];
    self->ring[self->head].data = NULL;
    self->head = (self->head + 1) % self->cap;
    self->count--;
    self->dropped++;
    self->dropped_total++;
    return true;
}

int
agent_outq_push (agent_outq_t *self, uint8_t *frame, size_t len)
{
    assert (self);
    if (len > self->max_bytes) {
        free (frame);
        self->dropped++;
        self->dropped_total++;
        return -1;
    }
    while (s_full (self, len)) {
        if (!self->drop_oldest || !s_drop_one (self)) {
            free (frame);
            return -1;
        }
    }
    size_t tail = (self->head + self->count) % self->cap;
    self->ring[tail].data = frame;
    self->ring[tail].len = len;
    self->count++;
    self->bytes += len;
    return 0;
}

int
agent_outq_push_front (agent_outq_t *self, uint8_t *frame, size_t len)
{
    assert (self);
    if (self->count >= self->cap) {
        free (frame);
        return -1;
    }
    size_t at = (self->head + self->cap - 1) % self->cap;
    if (self->sent) {
        /* Keep the half-written frame first: it goes just behind it. */
        self->ring[at] = self->ring[self->head];
        self->head = at;
        size_t second = (self->head + 1) % self->cap;
        self->ring[second].data = frame;
        self->ring[second].len = len;
    }
    else {
        self->head = at;
        self->ring[at].data = frame;
        self->ring[at].len = len;
    }
    self->count++;
    self->bytes += len;
    self->front++;
    return 0;
}

int
agent_outq_flush (agent_outq_t *self, int fd, size_t budget_frames)
{
    assert (self);
    int done = 0;
    while (self->count && budget_frames > 0) {
        struct iovec iov[S_IOV_MAX];
        size_t n = 0;
        for (; n < self->count && n < S_IOV_MAX && n < budget_frames; n++) {
            s_item_t *it = &self->ring[(self->head + n) % self->cap];
            size_t skip = n == 0 ? self->sent : 0;
            iov[n].iov_base = it->data + skip;
            iov[n].iov_len = it->len - skip;
        }
        struct msghdr mh;
        memset (&mh, 0, sizeof mh);
        mh.msg_iov = iov;
        mh.msg_iovlen = n;
        ssize_t w = sendmsg (fd, &mh, MSG_DONTWAIT | MSG_NOSIGNAL);
        if (w < 0) {
            if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)
                return done;
            return -1;
        }
        size_t left = (size_t) w;
        while (left > 0) {
            s_item_t *it = &self->ring[self->head];
            size_t rest = it->len - self->sent;
            if (left < rest) {
                self->sent += left;
                left = 0;
                break;
            }
            left -= rest;
            free (it->data);
            it->data = NULL;
            self->bytes -= it->len;
            self->head = (self->head + 1) % self->cap;
            self->count--;
            self->sent = 0;
            if (self->front)
                self->front--;
            done++;
            budget_frames--;
        }
        if (self->sent)
            return done;        /* the socket is full */
    }
    return done;
}

void
agent_outq_rewind (agent_outq_t *self)
{
    assert (self);
    self->sent = 0;
}

size_t
agent_outq_frames (agent_outq_t *self)
{
    assert (self);
    return self->count;
}

size_t
agent_outq_bytes (agent_outq_t *self)
{
    assert (self);
    return self->bytes;
}

uint64_t
agent_outq_take_dropped (agent_outq_t *self)
{
    assert (self);
    uint64_t n = self->dropped;
    self->dropped = 0;
    return n;
}

uint64_t
agent_outq_dropped_total (agent_outq_t *self)
{
    assert (self);
    return self->dropped_total;
}

/* ------------------------------------------------------------------------ */
/*  Token bucket and clocks                                                 */
/* ------------------------------------------------------------------------ */

void
agent_bucket_init (agent_bucket_t *b, double rate, double burst, int64_t now_ms)
{
    b->rate = rate;
    b->burst = burst > 0 ? burst : rate;
    b->tokens = b->burst;
    b->last_ms = now_ms;
}

static void
s_refill (agent_bucket_t *b, int64_t now_ms)
{
    if (now_ms > b->last_ms) {
        b->tokens += b->rate * (double) (now_ms - b->last_ms) / 1000.0;
        if (b->tokens > b->burst)
            b->tokens = b->burst;
        b->last_ms = now_ms;
    }
}

bool
agent_bucket_take (agent_bucket_t *b, double n, int64_t now_ms)
{
    if (b->rate <= 0)
        return true;
    s_refill (b, now_ms);
    if (b->tokens < n)
        return false;
    b->tokens -= n;
    return true;
}

int64_t
agent_bucket_wait_ms (agent_bucket_t *b, double n, int64_t now_ms)
{
    if (b->rate <= 0)
        return 0;
    s_refill (b, now_ms);
    if (b->tokens >= n)
        return 0;
    return (int64_t) ((n - b->tokens) * 1000.0 / b->rate) + 1;
}

int64_t
agent_clock_mono_ms (void)
{
    struct timespec ts;
    clock_gettime (CLOCK_MONOTONIC, &ts);
    return (int64_t) ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int64_t
agent_clock_wall_ms (void)
{
    struct timespec ts;
    clock_gettime (CLOCK_REALTIME, &ts);
    return (int64_t) ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}
