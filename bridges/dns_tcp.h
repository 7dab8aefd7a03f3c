/*
 * dns_tcp.h - DNS over TCP framing (RFC 1035 4.2.2, RFC 7766): every
 * message on the stream is preceded by its length in 2 bytes, big-endian.
 *
 * The pure part of the server's TCP path (bridges/dns_server.c), kept apart
 * so it is unit-free of sockets and fuzzed (fuzz/fuzz_dns_tcp.c): the
 * server appends what recv() gave to a 2 + DNS_TCP_MAX byte buffer, takes
 * every complete frame off its front with dns_tcp_next, answers each, and
 * moves the incomplete rest to the front. A buffer that full always holds
 * a complete frame, so a connection never stalls with a full buffer.
 */
#ifndef SHED_DNS_TCP_H
#define SHED_DNS_TCP_H

#include <stddef.h>
#include <stdint.h>

typedef enum {
    DNS_TCP_MORE = 0,  /* no complete frame yet: read more */
    DNS_TCP_FRAME = 1, /* a frame: *flen message bytes at buf + 2 */
    DNS_TCP_BAD = -1   /* a length shorter than a DNS header: the
                                   stream cannot resynchronise, close it */
} dns_tcp_rc_t;

/* The frame at the start of buf[0..len). */
dns_tcp_rc_t dns_tcp_next (const uint8_t *buf, size_t len, size_t *flen);

/* Append msg as one frame to an output buffer (*out, *out_len bytes of
 * which *out_off are written, *out_cap allocated), growing it; an empty
 * buffer is rewound first. Returns 0, or -1 if len > DNS_TCP_MAX or out of
 * memory (the buffer is unchanged). */
int dns_tcp_queue (uint8_t **out, size_t *out_len, size_t *out_off, size_t *out_cap,
                   const uint8_t *msg, size_t len);

#endif
