/*
 * fuzz_dns_tcp.c - DNS over TCP framing and reassembly (bridges/dns_tcp.h),
 * the way bridges/dns_server.c reads a connection.
 *
 * The input after its first byte is the byte stream a client sends; the
 * first byte seeds the sizes of the pieces recv() returns, so frames and
 * length prefixes are split at every possible place. Each piece goes into
 * a 2 + DNS_TCP_MAX byte buffer (heap, exact size, so ASan catches any
 * overrun); complete frames are taken off the front with dns_tcp_next,
 * answered against a small zone (dns_resolve over TCP) and queued with
 * dns_tcp_queue; the rest moves to the front. Invariants: a full buffer
 * always holds a complete frame (no stall), the frames found piecewise are
 * exactly those found in the whole stream at once, every queued answer is
 * framed with its own length and decodes, and the output buffer holds
 * exactly the framed answers.
 */
#include "bridges/dns_msg.h"
#include "bridges/dns_resolve.h"
#include "bridges/dns_tcp.h"
#include "bridges/dns_zone.h"

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput (const uint8_t *data, size_t size);

#define S_BUF (2 + DNS_TCP_MAX)

static dns_zone_t *s_zone;
static dns_resolve_config_t s_cfg;
static uint8_t *s_in;
static uint8_t s_answer[DNS_TCP_MAX];

static void
s_init (void)
{
    dns_zone_builder_t *zb = dns_zone_builder_new ();
    dns_zone_builder_add_node (zb, "n1", "10.0.0.1");
    dns_zone_builder_add_shed (zb, "dev", "10.1.0.1");
    for (int i = 0; i < 8; i++) {
        char addr[32];
        snprintf (addr, sizeof addr, "10.0.1.%d", i + 1);
        dns_zone_builder_add_service_instance (zb,
                                               &(dns_instance_t){ .service = i % 2 ? "web" : "db",
                                                                  .node = "n1",
                                                                  .address = addr,
                                                                  .port = (uint16_t) (8000 + i),
                                                                  .health = DNS_HEALTH_PASSING });
    }
    s_zone = dns_zone_builder_build (&zb);
    dns_resolve_config_init (&s_cfg, "shed", 0, 1);
    s_in = malloc (S_BUF);
    if (!s_zone || !s_in)
        abort ();
}

/* Frames in the whole stream at once: count, and whether it ends bad. */
static size_t
s_scan_whole (const uint8_t *data, size_t size, bool *bad)
{
    size_t off = 0, flen = 0, n = 0;
    dns_tcp_rc_t rc;
    while ((rc = dns_tcp_next (data + off, size - off, &flen)) == DNS_TCP_FRAME) {
        n++;
        off += 2 + flen;
    }
    *bad = rc == DNS_TCP_BAD;
    return n;
}

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
    if (!s_zone)
        s_init ();
    if (size < 1)
        return 0;
    uint32_t rnd = data[0] * 2654435761u + 1;
    data++;
    size--;
    bool whole_bad = false;
    size_t whole = s_scan_whole (data, size, &whole_bad);

    uint8_t *out = NULL;
    size_t out_len = 0, out_off = 0, out_cap = 0, answers = 0, answered_bytes = 0;
    size_t in_len = 0, pos = 0, frames = 0;
    bool bad = false;
    while (pos < size && !bad) {
        rnd = rnd * 1103515245u + 12345u;
        size_t piece = 1 + (rnd >> 16) % 700;
        if (piece > size - pos)
            piece = size - pos;
        if (piece > S_BUF - in_len)
            piece = S_BUF - in_len;
        if (piece == 0)
            abort (); /* a full buffer without a frame: a stall */
        memcpy (s_in + in_len, data + pos, piece);
        in_len += piece;
        pos += piece;
        size_t off = 0, flen = 0;
        dns_tcp_rc_t rc;
        while ((rc = dns_tcp_next (s_in + off, in_len - off, &flen)) != DNS_TCP_MORE) {
            if (rc == DNS_TCP_BAD) {
                bad = true;
                break;
            }
            if (flen < DNS_HEADER_LEN || off + 2 + flen > in_len)
                abort ();
            frames++;
            uint64_t rng = 0x9E3779B97F4A7C15ULL;
            dns_resolve_result_t res;
            size_t len = dns_resolve (&s_cfg, s_zone, s_in + off + 2, flen, DNS_TRANSPORT_TCP,
                                      s_answer, sizeof s_answer, &rng, &res);
            if (len) {
                if (dns_tcp_queue (&out, &out_len, &out_off, &out_cap, s_answer, len))
                    abort ();
                answers++;
                answered_bytes += 2 + len;
                /* The client reads it back frame by frame; "written" all
                 * at once now and then, so the rewind path runs too. */
                if (rnd & 0x100)
                    out_off = out_len;
            }
            off += 2 + flen;
        }
        memmove (s_in, s_in + off, in_len - off);
        in_len -= off;
    }
    if (frames != whole || bad != whole_bad)
        abort ();
    /* The unwritten part of the output is whole frames, each an answer. */
    size_t off = out_off, flen = 0, n = 0;
    /* out stays NULL when nothing was answered: no pointer arithmetic on it. */
    while (out && dns_tcp_next (out + off, out_len - off, &flen) == DNS_TCP_FRAME) {
        dns_reader_t r;
        if (dns_reader_init (&r, out + off + 2, flen))
            abort ();
        off += 2 + flen;
        n++;
    }
    if (off != out_len || n > answers || answered_bytes < out_len - out_off)
        abort ();
    /* Too long to be a frame: refused, buffer unchanged. */
    if (dns_tcp_queue (&out, &out_len, &out_off, &out_cap, s_answer, DNS_TCP_MAX + 1) == 0)
        abort ();
    free (out);
    return 0;
}
