/* dns_msg.c - see dns_msg.h.
 *
 * Every read is checked against the message length before it happens; the
 * parser's helpers return -1 and the callers jump to one `malformed:` exit,
 * as czmq's generated codecs do. Nothing here allocates. */
#include "bridges/dns_msg.h"

#include <assert.h>
#include <stdio.h>
#include <string.h>

/* ---- Small readers -------------------------------------------------------- */

static inline uint16_t
s_get16 (const uint8_t *p)
{
    return (uint16_t) ((p[0] << 8) | p[1]);
}

static inline uint32_t
s_get32 (const uint8_t *p)
{
    return ((uint32_t) p[0] << 24) | ((uint32_t) p[1] << 16) | ((uint32_t) p[2] << 8) | p[3];
}

static inline void
s_put16 (uint8_t *p, uint16_t v)
{
    p[0] = (uint8_t) (v >> 8);
    p[1] = (uint8_t) v;
}

static inline void
s_put32 (uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t) (v >> 24);
    p[1] = (uint8_t) (v >> 16);
    p[2] = (uint8_t) (v >> 8);
    p[3] = (uint8_t) v;
}

static inline uint8_t
s_lower (uint8_t c)
{
    return (c >= 'A' && c <= 'Z') ? (uint8_t) (c + 32) : c;
}

bool
dns_label_equal (const uint8_t *a, size_t alen, const uint8_t *b, size_t blen)
{
    if (alen != blen)
        return false;
    for (size_t i = 0; i < alen; i++)
        if (s_lower (a[i]) != s_lower (b[i]))
            return false;
    return true;
}

/* ---- Names ---------------------------------------------------------------- */

int
dns_name_read (const uint8_t *msg, size_t len, size_t *off, uint8_t *out)
{
    assert (msg && off && out);
    size_t pos = *off;
    size_t run_start = pos; /* where the current run of labels began */
    size_t end = 0;         /* where the name ends in the message, once known */
    size_t out_len = 0;
    int hops = 0;

    while (true) {
        if (pos >= len)
            goto malformed;
        uint8_t c = msg[pos];
        if ((c & DNS_PTR_MASK) == DNS_PTR_MASK) {
            if (pos + 2 > len)
                goto malformed;
            size_t target = ((size_t) (c & 0x3F) << 8) | msg[pos + 1];
            /* Backwards only, and before the start of this run: every jump
             * lands strictly earlier than the last, so a loop cannot form.
             * The header holds no names, so pointers into it are bogus. */
            if (target >= run_start || target < DNS_HEADER_LEN)
                goto malformed;
            if (++hops > DNS_MAX_HOPS)
                goto malformed;
            if (!end)
                end = pos + 2;
            pos = run_start = target;
            continue;
        }
        if (c & DNS_PTR_MASK) /* 0x40 / 0x80: obsolete extended label types */
            goto malformed;
        if (out_len + 1 + c > DNS_MAX_NAME)
            goto malformed;
        if (c == 0) {
            out[out_len++] = 0;
            if (!end)
                end = pos + 1;
            break;
        }
        if (pos + 1 + c > len)
            goto malformed;
        memcpy (out + out_len, msg + pos, 1 + (size_t) c);
        out_len += 1 + (size_t) c;
        pos += 1 + (size_t) c;
    }
    *off = end;
    return (int) out_len;

malformed:
    return -1;
}

int
dns_name_from_text (const char *text, uint8_t *out, size_t cap)
{
    assert (text && out);
    size_t n = strlen (text);
    if (n > 0 && text[n - 1] == '.')
        n--; /* fully qualified form */
    size_t o = 0;
    size_t i = 0;
    while (i < n) {
        size_t j = i;
        while (j < n && text[j] != '.')
            j++;
        size_t llen = j - i;
        if (llen == 0 || llen > DNS_MAX_LABEL)
            return -1;
        if (o + 1 + llen + 1 > DNS_MAX_NAME || o + 1 + llen + 1 > cap)
            return -1;
        out[o++] = (uint8_t) llen;
        memcpy (out + o, text + i, llen);
        o += llen;
        i = j + 1;
        if (j == n - 1 && text[j] == '.')
            return -1; /* "a..": the last label is empty */
    }
    if (o + 1 > cap)
        return -1;
    out[o++] = 0;
    return (int) o;
}

size_t
dns_name_to_text (const uint8_t *wire, char *out, size_t cap)
{
    assert (wire && out);
    size_t o = 0;
    size_t i = 0;
    if (cap == 0)
        return 0;
    if (wire[0] == 0) {
        snprintf (out, cap, ".");
        return strlen (out);
    }
    while (wire[i] != 0 && i < DNS_MAX_NAME) {
        uint8_t l = wire[i++];
        for (uint8_t k = 0; k < l; k++) {
            uint8_t c = wire[i++];
            char tmp[8];
            if (c > 32 && c < 127 && c != '.' && c != '\\')
                snprintf (tmp, sizeof tmp, "%c", c);
            else
                snprintf (tmp, sizeof tmp, "\\%03u", c);
            size_t tl = strlen (tmp);
            if (o + tl + 1 < cap) {
                memcpy (out + o, tmp, tl);
                o += tl;
            }
        }
        if (o + 2 < cap)
            out[o++] = '.';
    }
    out[o] = 0;
    return o;
}

/* ---- Query parser --------------------------------------------------------- */

/* Skip or inspect one RR at *off. For OPT, fill the EDNS fields of q. */
static int
s_parse_rr (const uint8_t *msg, size_t len, size_t *off, dns_query_t *q, bool additional)
{
    uint8_t name[DNS_MAX_NAME];
    int nlen = dns_name_read (msg, len, off, name);
    if (nlen < 0)
        goto malformed;
    if (*off + 10 > len)
        goto malformed;
    uint16_t type = s_get16 (msg + *off);
    uint16_t rclass = s_get16 (msg + *off + 2);
    uint32_t ttl = s_get32 (msg + *off + 4);
    uint16_t rdlen = s_get16 (msg + *off + 8);
    *off += 10;
    if (*off + rdlen > len)
        goto malformed;
    if (type == DNS_TYPE_OPT) {
        /* RFC 6891 6.1.1: one OPT, in the additional section, owned by root. */
        if (!additional || q->edns || nlen != 1)
            goto malformed;
        size_t p = *off;
        size_t rdend = *off + rdlen;
        while (p < rdend) { /* options must tile the rdata exactly */
            if (p + 4 > rdend)
                goto malformed;
            uint16_t olen = s_get16 (msg + p + 2);
            p += 4;
            if (p + olen > rdend)
                goto malformed;
            p += olen;
        }
        q->edns = true;
        q->edns_udp_size = rclass < DNS_UDP_MIN   ? DNS_UDP_MIN
                           : rclass > DNS_UDP_MAX ? DNS_UDP_MAX
                                                  : rclass;
        q->edns_version = (uint8_t) (ttl >> 16);
        q->edns_flags = (uint16_t) ttl;
    }
    *off += rdlen;
    return 0;

malformed:
    return -1;
}

int
dns_query_parse (const uint8_t *msg, size_t len, dns_query_t *q)
{
    assert (q);
    memset (q, 0, offsetof (dns_query_t, qname));
    q->qname_len = 0;
    q->nlabels = 0;
    q->edns = false;
    q->edns_udp_size = DNS_UDP_MIN;
    q->edns_version = 0;
    q->edns_flags = 0;
    if (!msg || len < DNS_HEADER_LEN)
        return DNS_PARSE_SHORT;

    q->id = s_get16 (msg);
    q->flags = s_get16 (msg + 2);
    q->qdcount = s_get16 (msg + 4);
    q->ancount = s_get16 (msg + 6);
    q->nscount = s_get16 (msg + 8);
    q->arcount = s_get16 (msg + 10);

    if (q->qdcount != 1)
        goto malformed;
    if ((size_t) q->ancount + q->nscount + q->arcount > DNS_MAX_RR_SKIP)
        goto malformed;

    size_t off = DNS_HEADER_LEN;
    int nlen = dns_name_read (msg, len, &off, q->qname);
    if (nlen < 0)
        goto malformed;
    q->qname_len = (size_t) nlen;
    for (size_t i = 0; q->qname[i] != 0; i += 1 + q->qname[i])
        q->label_off[q->nlabels++] = (uint8_t) i;
    if (off + 4 > len)
        goto malformed;
    q->qtype = s_get16 (msg + off);
    q->qclass = s_get16 (msg + off + 2);
    off += 4;

    unsigned rrs = (unsigned) q->ancount + q->nscount;
    for (unsigned i = 0; i < rrs; i++)
        if (s_parse_rr (msg, len, &off, q, false))
            goto malformed;
    for (unsigned i = 0; i < q->arcount; i++)
        if (s_parse_rr (msg, len, &off, q, true))
            goto malformed;
    if (off != len)
        goto malformed; /* trailing bytes: something is not what it says */
    return DNS_PARSE_OK;

malformed:
    q->qname_len = 0;
    q->nlabels = 0;
    return DNS_PARSE_MALFORMED;
}

/* ---- Builder -------------------------------------------------------------- */

void
dns_builder_init (dns_builder_t *b, uint8_t *buf, size_t limit, uint16_t id, uint16_t flags)
{
    assert (b && buf);
    assert (limit >= DNS_HEADER_LEN);
    memset (b, 0, sizeof *b);
    b->buf = buf;
    b->limit = limit > DNS_TCP_MAX ? DNS_TCP_MAX : limit;
    memset (buf, 0, DNS_HEADER_LEN);
    s_put16 (buf, id);
    s_put16 (buf + 2, flags);
    b->len = DNS_HEADER_LEN;
    b->section = DNS_SECTION_ANSWER;
}

void
dns_builder_set_limit (dns_builder_t *b, size_t limit)
{
    assert (b);
    if (limit > DNS_TCP_MAX)
        limit = DNS_TCP_MAX;
    b->limit = limit < b->len ? b->len : limit;
}

void
dns_builder_set_flags (dns_builder_t *b, uint16_t flags)
{
    assert (b);
    s_put16 (b->buf + 2, flags);
}

uint16_t
dns_builder_flags (const dns_builder_t *b)
{
    assert (b);
    return s_get16 (b->buf + 2);
}

/* Does the (trusted, our own) name at `off` in the message equal `suffix`? */
static bool
s_name_at_equals (const uint8_t *msg, size_t off, const uint8_t *suffix)
{
    int hops = 0;
    while (true) {
        uint8_t c = msg[off];
        if ((c & DNS_PTR_MASK) == DNS_PTR_MASK) {
            if (++hops > DNS_MAX_HOPS)
                return false;
            off = ((size_t) (c & 0x3F) << 8) | msg[off + 1];
            continue;
        }
        if (c != suffix[0])
            return false;
        if (c == 0)
            return true;
        if (!dns_label_equal (msg + off + 1, c, suffix + 1, c))
            return false;
        off += 1 + (size_t) c;
        suffix += 1 + (size_t) c;
    }
}

/* Append a wire name, as a pointer to the longest suffix already in the
 * message when `compress`. Either way remember where its labels start so
 * later names can point here. -1 if it does not fit (nothing written). */
static int
s_put_name (dns_builder_t *b, const uint8_t *name, bool compress)
{
    size_t i = 0;
    int ptr = -1;
    while (name[i] != 0) {
        if (compress)
            for (size_t k = 0; k < b->ncomp && ptr < 0; k++)
                if (s_name_at_equals (b->buf, b->comp[k], name + i))
                    ptr = b->comp[k];
        if (ptr >= 0)
            break;
        i += 1 + (size_t) name[i];
    }
    size_t need = i + (ptr >= 0 ? 2 : 1);
    if (b->len + need > b->limit)
        return -1;
    for (size_t j = 0; j < i; j += 1 + (size_t) name[j])
        if (b->ncomp < DNS_COMP_MAX && b->len + j <= DNS_PTR_MAX_OFFSET)
            b->comp[b->ncomp++] = (uint16_t) (b->len + j);
    memcpy (b->buf + b->len, name, i);
    b->len += i;
    if (ptr >= 0) {
        s_put16 (b->buf + b->len, (uint16_t) (0xC000 | ptr));
        b->len += 2;
    }
    else
        b->buf[b->len++] = 0;
    return 0;
}

int
dns_builder_question (dns_builder_t *b, const uint8_t *name, uint16_t qtype, uint16_t qclass)
{
    assert (b && name);
    assert (b->count[0] + b->count[1] + b->count[2] == 0);
    size_t save_len = b->len, save_ncomp = b->ncomp;
    if (s_put_name (b, name, true) || b->len + 4 > b->limit)
        goto full;
    s_put16 (b->buf + b->len, qtype);
    s_put16 (b->buf + b->len + 2, qclass);
    b->len += 4;
    b->qdcount++;
    return 0;

full:
    b->len = save_len;
    b->ncomp = save_ncomp;
    return -1;
}

/* The common head of a record: owner, type, class, TTL, and room for rdlen.
 * Returns the offset of rdlen, or 0 when it does not fit. */
static size_t
s_rr_head (dns_builder_t *b, dns_section_t s, const uint8_t *name, uint16_t type, uint16_t rclass,
           uint32_t ttl)
{
    assert ((int) s >= b->section); /* sections go in order */
    b->section = (int) s;
    if (s_put_name (b, name, true) || b->len + 10 > b->limit)
        return 0;
    s_put16 (b->buf + b->len, type);
    s_put16 (b->buf + b->len + 2, rclass);
    s_put32 (b->buf + b->len + 4, ttl);
    size_t rdlen_at = b->len + 8;
    b->len += 10;
    return rdlen_at;
}

static int
s_rr_fixed (dns_builder_t *b, dns_section_t s, const uint8_t *name, uint16_t type, uint32_t ttl,
            const uint8_t *rdata, size_t rdlen)
{
    size_t save_len = b->len, save_ncomp = b->ncomp;
    size_t at = s_rr_head (b, s, name, type, DNS_CLASS_IN, ttl);
    if (!at || b->len + rdlen > b->limit)
        goto full;
    memcpy (b->buf + b->len, rdata, rdlen);
    b->len += rdlen;
    s_put16 (b->buf + at, (uint16_t) rdlen);
    b->count[s]++;
    return 0;

full:
    b->len = save_len;
    b->ncomp = save_ncomp;
    return -1;
}

int
dns_builder_a (dns_builder_t *b, dns_section_t s, const uint8_t *name, uint32_t ttl,
               const uint8_t addr[4])
{
    assert (b && name && addr);
    return s_rr_fixed (b, s, name, DNS_TYPE_A, ttl, addr, 4);
}

int
dns_builder_aaaa (dns_builder_t *b, dns_section_t s, const uint8_t *name, uint32_t ttl,
                  const uint8_t addr[16])
{
    assert (b && name && addr);
    return s_rr_fixed (b, s, name, DNS_TYPE_AAAA, ttl, addr, 16);
}

int
dns_builder_srv (dns_builder_t *b, dns_section_t s, const uint8_t *name, uint32_t ttl,
                 uint16_t priority, uint16_t weight, uint16_t port, const uint8_t *target)
{
    assert (b && name && target);
    size_t save_len = b->len, save_ncomp = b->ncomp;
    size_t at = s_rr_head (b, s, name, DNS_TYPE_SRV, DNS_CLASS_IN, ttl);
    if (!at || b->len + 6 > b->limit)
        goto full;
    s_put16 (b->buf + b->len, priority);
    s_put16 (b->buf + b->len + 2, weight);
    s_put16 (b->buf + b->len + 4, port);
    b->len += 6;
    /* RFC 2782: the target is never compressed, but later owner names may
     * point into it, which is how the additional A records stay small. */
    if (s_put_name (b, target, false))
        goto full;
    s_put16 (b->buf + at, (uint16_t) (b->len - at - 2));
    b->count[s]++;
    return 0;

full:
    b->len = save_len;
    b->ncomp = save_ncomp;
    return -1;
}

int
dns_builder_soa (dns_builder_t *b, dns_section_t s, const uint8_t *name, uint32_t ttl,
                 const uint8_t *mname, const uint8_t *rname, uint32_t serial, uint32_t refresh,
                 uint32_t retry, uint32_t expire, uint32_t minimum)
{
    assert (b && name && mname && rname);
    size_t save_len = b->len, save_ncomp = b->ncomp;
    size_t at = s_rr_head (b, s, name, DNS_TYPE_SOA, DNS_CLASS_IN, ttl);
    if (!at || s_put_name (b, mname, true) || s_put_name (b, rname, true) || b->len + 20 > b->limit)
        goto full;
    s_put32 (b->buf + b->len, serial);
    s_put32 (b->buf + b->len + 4, refresh);
    s_put32 (b->buf + b->len + 8, retry);
    s_put32 (b->buf + b->len + 12, expire);
    s_put32 (b->buf + b->len + 16, minimum);
    b->len += 20;
    s_put16 (b->buf + at, (uint16_t) (b->len - at - 2));
    b->count[s]++;
    return 0;

full:
    b->len = save_len;
    b->ncomp = save_ncomp;
    return -1;
}

int
dns_builder_opt (dns_builder_t *b, uint16_t udp_size, unsigned ext_rcode, uint16_t flags)
{
    assert (b);
    b->section = DNS_SECTION_ADDITIONAL;
    if (b->len + DNS_OPT_RR_LEN > b->limit)
        return -1;
    uint8_t *p = b->buf + b->len;
    p[0] = 0; /* root owner */
    s_put16 (p + 1, DNS_TYPE_OPT);
    s_put16 (p + 3, udp_size);                  /* class = payload size */
    p[5] = (uint8_t) ((ext_rcode >> 4) & 0xFF); /* upper 8 bits of the rcode */
    p[6] = DNS_EDNS_VERSION;
    s_put16 (p + 7, flags);
    s_put16 (p + 9, 0); /* no options */
    b->len += DNS_OPT_RR_LEN;
    b->count[DNS_SECTION_ADDITIONAL]++;
    uint16_t f = dns_builder_flags (b);
    dns_builder_set_flags (b, (uint16_t) ((f & ~DNS_RCODE_MASK) | (ext_rcode & 0xF)));
    return 0;
}

size_t
dns_builder_finish (dns_builder_t *b)
{
    assert (b);
    s_put16 (b->buf + 4, b->qdcount);
    s_put16 (b->buf + 6, b->count[0]);
    s_put16 (b->buf + 8, b->count[1]);
    s_put16 (b->buf + 10, b->count[2]);
    return b->len;
}

/* ---- Reader (tests, bench) ------------------------------------------------ */

int
dns_reader_init (dns_reader_t *r, const uint8_t *msg, size_t len)
{
    assert (r && msg);
    memset (r, 0, sizeof *r);
    if (len < DNS_HEADER_LEN)
        return -1;
    r->id = s_get16 (msg);
    r->flags = s_get16 (msg + 2);
    r->qdcount = s_get16 (msg + 4);
    r->ancount = s_get16 (msg + 6);
    r->nscount = s_get16 (msg + 8);
    r->arcount = s_get16 (msg + 10);
    r->off = DNS_HEADER_LEN;
    uint8_t name[DNS_MAX_NAME];
    for (unsigned i = 0; i < r->qdcount; i++) {
        if (dns_name_read (msg, len, &r->off, name) < 0 || r->off + 4 > len)
            return -1;
        r->off += 4;
    }
    return 0;
}

int
dns_reader_next (dns_reader_t *r, const uint8_t *msg, size_t len, dns_rr_t *rr)
{
    assert (r && msg && rr);
    memset (rr, 0, sizeof *rr);
    if (r->off >= len)
        return -1;
    if (dns_name_read (msg, len, &r->off, rr->name) < 0 || r->off + 10 > len)
        return -1;
    rr->type = s_get16 (msg + r->off);
    rr->rclass = s_get16 (msg + r->off + 2);
    rr->ttl = s_get32 (msg + r->off + 4);
    rr->rdlen = s_get16 (msg + r->off + 8);
    r->off += 10;
    rr->rdata_off = r->off;
    if (r->off + rr->rdlen > len)
        return -1;
    size_t p = r->off;
    if (rr->type == DNS_TYPE_A && rr->rdlen == 4)
        memcpy (rr->addr, msg + p, 4);
    else if (rr->type == DNS_TYPE_AAAA && rr->rdlen == 16)
        memcpy (rr->addr, msg + p, 16);
    else if (rr->type == DNS_TYPE_SRV && rr->rdlen >= 7) {
        rr->srv_priority = s_get16 (msg + p);
        rr->srv_weight = s_get16 (msg + p + 2);
        rr->srv_port = s_get16 (msg + p + 4);
        p += 6;
        if (dns_name_read (msg, len, &p, rr->target) < 0)
            return -1;
    }
    else if (rr->type == DNS_TYPE_SOA) {
        uint8_t rname[DNS_MAX_NAME];
        if (dns_name_read (msg, len, &p, rr->target) < 0 || dns_name_read (msg, len, &p, rname) < 0
            || p + 20 > len)
            return -1;
        rr->soa_serial = s_get32 (msg + p);
        rr->soa_minimum = s_get32 (msg + p + 16);
    }
    r->off += rr->rdlen;
    return 0;
}
