/*
 * dns_tcp.c - DNS over TCP framing (see dns_tcp.h and docs/dns.md).
 */
#include "bridges/dns_tcp.h"
#include "bridges/dns_msg.h"

#include <stdlib.h>
#include <string.h>

dns_tcp_rc_t
dns_tcp_next (const uint8_t *buf, size_t len, size_t *flen)
{
    if (len < 2)
        return DNS_TCP_MORE;
    size_t n = ((size_t) buf[0] << 8) | buf[1];
    if (n < DNS_HEADER_LEN)
        return DNS_TCP_BAD;
    if (len - 2 < n)
        return DNS_TCP_MORE;
    *flen = n;
    return DNS_TCP_FRAME;
}

int
dns_tcp_queue (uint8_t **out, size_t *out_len, size_t *out_off, size_t *out_cap, const uint8_t *msg,
               size_t len)
{
    if (len > DNS_TCP_MAX)
        return -1;
    if (*out_off == *out_len)
        *out_off = *out_len = 0;
    if (*out_len + 2 + len > *out_cap) {
        size_t cap = *out_cap ? *out_cap : 4096;
        while (cap < *out_len + 2 + len)
            cap *= 2;
        uint8_t *grown = realloc (*out, cap);
        if (!grown)
            return -1;
        *out = grown;
        *out_cap = cap;
    }
    (*out)[*out_len] = (uint8_t) (len >> 8);
    (*out)[*out_len + 1] = (uint8_t) len;
    memcpy (*out + *out_len + 2, msg, len);
    *out_len += 2 + len;
    return 0;
}
