/*
 * dns_msg.h - RFC 1035 messages: the wire constants, a bounds-checked query
 * parser and a response builder with name compression.
 *
 * Every number the DNS bridge puts on or reads from the wire is defined here,
 * so the parser, the builder, the resolver and the tests agree by
 * construction.
 *
 * Names are handled in uncompressed wire form ("\3web\7service\4shed\0"):
 * the parser decompresses the question name into that form, and the builder
 * takes names in that form and compresses them against names it has already
 * written. Matching is ASCII case-insensitive (RFC 4343); the question is
 * echoed exactly as asked.
 */
#ifndef SHED_DNS_MSG_H
#define SHED_DNS_MSG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* ---- Limits (RFC 1035 2.3.4, RFC 6891) ------------------------------------ */

#define DNS_HEADER_LEN     12
#define DNS_MAX_LABEL      63     /* bytes in one label */
#define DNS_MAX_NAME       255    /* wire length of a name, root byte included */
#define DNS_MAX_LABELS     127    /* 255 bytes hold at most 127 one-byte labels */
#define DNS_UDP_MIN        512    /* classic UDP limit; EDNS sizes below are raised to it */
#define DNS_UDP_MAX        4096   /* we never send (or advertise) larger UDP answers */
#define DNS_TCP_MAX        65535  /* 2-byte length prefix */
#define DNS_PTR_MASK       0xC0   /* top two bits of a label byte: compression pointer */
#define DNS_PTR_MAX_OFFSET 0x3FFF /* a pointer holds 14 bits of offset */
#define DNS_MAX_HOPS       64     /* compression pointers followed per name */
#define DNS_MAX_RR_SKIP    64     /* answer/authority/additional RRs we accept in a query */
#define DNS_OPT_RR_LEN     11     /* an OPT RR with no options */
#define DNS_COMP_MAX       128    /* names remembered for compression per message */

/* ---- Header flags (RFC 1035 4.1.1) ---------------------------------------- */

#define DNS_FLAG_QR      0x8000 /* response */
#define DNS_OPCODE_MASK  0x7800
#define DNS_OPCODE_SHIFT 11
#define DNS_FLAG_AA      0x0400 /* authoritative answer */
#define DNS_FLAG_TC      0x0200 /* truncated */
#define DNS_FLAG_RD      0x0100 /* recursion desired (copied back) */
#define DNS_FLAG_RA      0x0080 /* recursion available (never set: we are authoritative only) */
#define DNS_FLAG_AD      0x0020
#define DNS_FLAG_CD      0x0010 /* checking disabled (copied back) */
#define DNS_RCODE_MASK   0x000F

#define DNS_OPCODE_QUERY 0

/* ---- Response codes (RFC 1035, RFC 6891 for the extended one) ------------- */

#define DNS_RCODE_NOERROR  0
#define DNS_RCODE_FORMERR  1
#define DNS_RCODE_SERVFAIL 2
#define DNS_RCODE_NXDOMAIN 3
#define DNS_RCODE_NOTIMP   4
#define DNS_RCODE_REFUSED  5
#define DNS_RCODE_BADVERS  16 /* extended: upper 8 bits ride in the OPT TTL */

/* ---- Types and classes ---------------------------------------------------- */

#define DNS_TYPE_A     1
#define DNS_TYPE_NS    2
#define DNS_TYPE_CNAME 5
#define DNS_TYPE_SOA   6
#define DNS_TYPE_PTR   12
#define DNS_TYPE_TXT   16
#define DNS_TYPE_AAAA  28
#define DNS_TYPE_SRV   33
#define DNS_TYPE_OPT   41
#define DNS_TYPE_IXFR  251
#define DNS_TYPE_AXFR  252
#define DNS_TYPE_ANY   255

#define DNS_CLASS_IN  1
#define DNS_CLASS_CH  3
#define DNS_CLASS_ANY 255

/* EDNS0 (RFC 6891) */
#define DNS_EDNS_VERSION 0
#define DNS_EDNS_FLAG_DO 0x8000

/* ---- Parsed query --------------------------------------------------------- */

typedef struct {
    /* header, always filled when at least DNS_HEADER_LEN bytes were read */
    uint16_t id;
    uint16_t flags; /* raw flags word */
    uint16_t qdcount, ancount, nscount, arcount;
    /* question, filled when the parse succeeded */
    uint8_t qname[DNS_MAX_NAME];       /* uncompressed wire form, case as asked */
    size_t qname_len;                  /* bytes, root byte included */
    uint8_t label_off[DNS_MAX_LABELS]; /* offset of each label's length byte in qname */
    size_t nlabels;                    /* root not counted */
    uint16_t qtype;
    uint16_t qclass;
    /* EDNS0 */
    bool edns;              /* an OPT RR was present */
    uint16_t edns_udp_size; /* clamped to DNS_UDP_MIN..DNS_UDP_MAX */
    uint8_t edns_version;
    uint16_t edns_flags; /* DO bit etc. */
} dns_query_t;

/* Parse outcomes, from czmq's codec convention. */
#define DNS_PARSE_OK        0
#define DNS_PARSE_SHORT     -1 /* no complete header: nothing to answer, drop */
#define DNS_PARSE_MALFORMED -2 /* header read, the rest bad: answer FORMERR */

/* Parse a query message. Fills q->id/flags/counts as soon as a header is
 * there, so a caller can answer FORMERR to the right id. Does not look at
 * QR or the opcode: that is policy, left to the resolver. Strict: trailing
 * bytes after the counted records are malformed. */
int dns_query_parse (const uint8_t *msg, size_t len, dns_query_t *q);

static inline unsigned
dns_query_opcode (const dns_query_t *q)
{
    return (q->flags & DNS_OPCODE_MASK) >> DNS_OPCODE_SHIFT;
}

/* Read a (possibly compressed) name at *off in msg into `out` (uncompressed
 * wire form, at least DNS_MAX_NAME bytes). Advances *off past the name as it
 * sits in the message. Pointers must point backwards (strictly before the
 * label that holds them) and at or after the header, which makes loops
 * impossible; the hop count is capped too. Returns the name's wire length,
 * or -1 if malformed. */
int dns_name_read (const uint8_t *msg, size_t len, size_t *off, uint8_t *out);

/* Convert "web.service.shed" (a trailing dot is allowed) to wire form.
 * Returns the wire length or -1 (empty label, label > 63, name > 255). The
 * empty string and "." are the root name. */
int dns_name_from_text (const char *text, uint8_t *out, size_t cap);

/* Convert a wire name to dotted text for logs (non-printable bytes as \DDD).
 * Always NUL-terminates when cap > 0. Returns the text length. */
size_t dns_name_to_text (const uint8_t *wire, char *out, size_t cap);

/* ASCII case-insensitive equality of two label byte strings. */
bool dns_label_equal (const uint8_t *a, size_t alen, const uint8_t *b, size_t blen);

/* ---- Response builder ----------------------------------------------------- */

typedef enum {
    DNS_SECTION_ANSWER = 0,
    DNS_SECTION_AUTHORITY = 1,
    DNS_SECTION_ADDITIONAL = 2,
} dns_section_t;

/* Plain struct so the server can keep one per thread without allocating. */
typedef struct {
    uint8_t *buf;
    size_t limit; /* never write past this */
    size_t len;
    uint16_t qdcount;
    uint16_t count[3];           /* answer, authority, additional */
    int section;                 /* last section written (records must come in order) */
    uint16_t comp[DNS_COMP_MAX]; /* offsets of names written uncompressed, for pointers */
    size_t ncomp;
} dns_builder_t;

/* Start a message in buf (at least `limit` bytes). Writes the header. */
void dns_builder_init (dns_builder_t *b, uint8_t *buf, size_t limit, uint16_t id, uint16_t flags);

/* Change the limit (only ever useful to raise it to fit an OPT record that
 * was reserved). Never below the current length. */
void dns_builder_set_limit (dns_builder_t *b, size_t limit);

/* Each add returns 0, or -1 if the record does not fit under the limit, in
 * which case the message is left exactly as it was before the call (so the
 * caller can stop at whole records and set TC). */
int dns_builder_question (dns_builder_t *b, const uint8_t *name, uint16_t qtype, uint16_t qclass);
int dns_builder_a (dns_builder_t *b, dns_section_t s, const uint8_t *name, uint32_t ttl,
                   const uint8_t addr[4]);
int dns_builder_aaaa (dns_builder_t *b, dns_section_t s, const uint8_t *name, uint32_t ttl,
                      const uint8_t addr[16]);
int dns_builder_srv (dns_builder_t *b, dns_section_t s, const uint8_t *name, uint32_t ttl,
                     uint16_t priority, uint16_t weight, uint16_t port, const uint8_t *target);
int dns_builder_soa (dns_builder_t *b, dns_section_t s, const uint8_t *name, uint32_t ttl,
                     const uint8_t *mname, const uint8_t *rname, uint32_t serial, uint32_t refresh,
                     uint32_t retry, uint32_t expire, uint32_t minimum);
/* OPT pseudo-RR in the additional section; ext_rcode is the full 12-bit rcode. */
int dns_builder_opt (dns_builder_t *b, uint16_t udp_size, unsigned ext_rcode, uint16_t flags);

/* Set or clear header flag bits / the low 4 rcode bits. */
void dns_builder_set_flags (dns_builder_t *b, uint16_t flags);
uint16_t dns_builder_flags (const dns_builder_t *b);

/* Write the section counts into the header; returns the message length. */
size_t dns_builder_finish (dns_builder_t *b);

/* ---- Reading answers (tests, bench) --------------------------------------- */

/* A decoded resource record, as the tests need them. */
typedef struct {
    uint8_t name[DNS_MAX_NAME];
    uint16_t type, rclass;
    uint32_t ttl;
    uint16_t rdlen;
    size_t rdata_off; /* offset of the rdata in the message */
    /* decoded rdata for the types we serve */
    uint8_t addr[16]; /* A (4 bytes) / AAAA */
    uint16_t srv_priority, srv_weight, srv_port;
    uint8_t target[DNS_MAX_NAME]; /* SRV target, SOA mname */
    uint32_t soa_serial, soa_minimum;
} dns_rr_t;

typedef struct {
    uint16_t id, flags;
    uint16_t qdcount, ancount, nscount, arcount;
    size_t off; /* cursor into the message */
} dns_reader_t;

/* Read a whole response header and skip its question(s). -1 if malformed. */
int dns_reader_init (dns_reader_t *r, const uint8_t *msg, size_t len);
/* Next RR (answers, then authority, then additional). 0, or -1 at the end
 * of the message or on malformed input. */
int dns_reader_next (dns_reader_t *r, const uint8_t *msg, size_t len, dns_rr_t *rr);

#endif
