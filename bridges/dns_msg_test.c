/* dns_msg_test.c - parser, builder and resolver unit tests (no sockets).
 *
 * Every malformed class the parser must reject has its own test, built byte
 * by byte so the test says exactly what is wrong with the message. */
#include "bridges/dns_msg.h"
#include "bridges/dns_resolve.h"
#include "bridges/dns_zone.h"

#include <arpa/inet.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

/* ---- Helpers -------------------------------------------------------------- */

/* A query for `name`/`type`, optionally with an OPT advertising udp_size. */
static size_t
s_query (uint8_t *buf, const char *name, uint16_t type, bool edns, uint16_t udp_size)
{
    uint8_t wire[DNS_MAX_NAME];
    assert_true (dns_name_from_text (name, wire, sizeof wire) > 0);
    dns_builder_t b;
    dns_builder_init (&b, buf, 512, 0x1234, DNS_FLAG_RD);
    assert_int_equal (dns_builder_question (&b, wire, type, DNS_CLASS_IN), 0);
    if (edns)
        assert_int_equal (dns_builder_opt (&b, udp_size, 0, 0), 0);
    return dns_builder_finish (&b);
}

/* clang-format off */
static const uint8_t s_header_1q[] = {
    0xab, 0xcd, 0x01, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00
};
/* clang-format on */

/* header + raw question bytes */
static size_t
s_raw (uint8_t *buf, const uint8_t *header, const uint8_t *body, size_t body_len)
{
    memcpy (buf, header, DNS_HEADER_LEN);
    memcpy (buf + DNS_HEADER_LEN, body, body_len);
    return DNS_HEADER_LEN + body_len;
}

/* ---- Parser: valid -------------------------------------------------------- */

static void
test_parse_valid (void **state)
{
    uint8_t buf[512];
    size_t len = s_query (buf, "Web.Service.SHED", DNS_TYPE_A, false, 0);
    dns_query_t q;
    assert_int_equal (dns_query_parse (buf, len, &q), DNS_PARSE_OK);
    assert_int_equal (q.id, 0x1234);
    assert_int_equal (q.qtype, DNS_TYPE_A);
    assert_int_equal (q.qclass, DNS_CLASS_IN);
    assert_int_equal (q.nlabels, 3);
    assert_int_equal (q.qname_len, 18);
    assert_memory_equal (q.qname, "\3Web\7Service\4SHED", 18); /* case kept */
    assert_false (q.edns);
    assert_int_equal (q.edns_udp_size, DNS_UDP_MIN);
    char text[300];
    dns_name_to_text (q.qname, text, sizeof text);
    assert_string_equal (text, "Web.Service.SHED.");
}

static void
test_parse_edns_clamped (void **state)
{
    uint8_t buf[512];
    dns_query_t q;
    size_t len = s_query (buf, "a.shed", DNS_TYPE_A, true, 1232);
    assert_int_equal (dns_query_parse (buf, len, &q), DNS_PARSE_OK);
    assert_true (q.edns);
    assert_int_equal (q.edns_udp_size, 1232);
    len = s_query (buf, "a.shed", DNS_TYPE_A, true, 100);
    assert_int_equal (dns_query_parse (buf, len, &q), DNS_PARSE_OK);
    assert_int_equal (q.edns_udp_size, DNS_UDP_MIN);
    len = s_query (buf, "a.shed", DNS_TYPE_A, true, 65000);
    assert_int_equal (dns_query_parse (buf, len, &q), DNS_PARSE_OK);
    assert_int_equal (q.edns_udp_size, DNS_UDP_MAX);
}

static void
test_parse_root_and_max_name (void **state)
{
    uint8_t buf[600];
    dns_query_t q;
    /* root name */
    const uint8_t root[] = { 0, 0, 6, 0, 1 };
    size_t len = s_raw (buf, s_header_1q, root, sizeof root);
    assert_int_equal (dns_query_parse (buf, len, &q), DNS_PARSE_OK);
    assert_int_equal (q.nlabels, 0);
    assert_int_equal (q.qname_len, 1);
    /* exactly 255 bytes: 4 x (1+62) + (1+1) + root = 252 + 2 + 1 = 255 */
    uint8_t body[300];
    size_t o = 0;
    for (int i = 0; i < 4; i++) {
        body[o++] = 62;
        memset (body + o, 'a', 62);
        o += 62;
    }
    body[o++] = 1;
    body[o++] = 'b';
    body[o++] = 0;
    body[o++] = 0;
    body[o++] = 1;
    body[o++] = 0;
    body[o++] = 1;
    len = s_raw (buf, s_header_1q, body, o);
    assert_int_equal (dns_query_parse (buf, len, &q), DNS_PARSE_OK);
    assert_int_equal (q.qname_len, 255);
}

static void
test_parse_backward_pointer_in_additional (void **state)
{
    /* Question "a.shed", then an OPT whose... no: a legitimate backward
     * pointer: an additional A record owned by a pointer to the question. */
    uint8_t buf[512];
    uint8_t hdr[DNS_HEADER_LEN];
    memcpy (hdr, s_header_1q, sizeof hdr);
    hdr[11] = 1; /* ARCOUNT 1 */
    const uint8_t body[] = { 1, 'a', 4, 's', 'h', 'e', 'd', 0, 0, 1, 0, 1, 0xC0, 12,
                             0, 1,   0, 1,   0,   0,   0,   0, 0, 4, 1, 2, 3,    4 };
    size_t len = s_raw (buf, hdr, body, sizeof body);
    dns_query_t q;
    assert_int_equal (dns_query_parse (buf, len, &q), DNS_PARSE_OK);
    assert_false (q.edns);
}

/* ---- Parser: malformed ---------------------------------------------------- */

static void
test_parse_truncated_header (void **state)
{
    dns_query_t q;
    for (size_t n = 0; n < DNS_HEADER_LEN; n++)
        assert_int_equal (dns_query_parse (s_header_1q, n, &q), DNS_PARSE_SHORT);
    assert_int_equal (dns_query_parse (NULL, 0, &q), DNS_PARSE_SHORT);
}

static void
test_parse_truncated_name (void **state)
{
    uint8_t buf[512];
    size_t full = s_query (buf, "web.service.shed", DNS_TYPE_A, false, 0);
    dns_query_t q;
    /* every strict prefix that still holds the header is malformed */
    for (size_t n = DNS_HEADER_LEN; n < full; n++) {
        assert_int_equal (dns_query_parse (buf, n, &q), DNS_PARSE_MALFORMED);
        assert_int_equal (q.id, 0x1234); /* header still read, for FORMERR */
    }
    assert_int_equal (dns_query_parse (buf, full, &q), DNS_PARSE_OK);
}

static void
test_parse_pointer_loop (void **state)
{
    uint8_t buf[64];
    dns_query_t q;
    /* a pointer to itself */
    const uint8_t self_loop[] = { 0xC0, 12, 0, 1, 0, 1 };
    assert_int_equal (
        dns_query_parse (buf, s_raw (buf, s_header_1q, self_loop, sizeof self_loop), &q),
        DNS_PARSE_MALFORMED);
    /* a label then a pointer back to that label: a loop of two */
    const uint8_t two_loop[] = { 1, 'a', 0xC0, 12, 0, 1, 0, 1 };
    assert_int_equal (
        dns_query_parse (buf, s_raw (buf, s_header_1q, two_loop, sizeof two_loop), &q),
        DNS_PARSE_MALFORMED);
}

static void
test_parse_pointer_forward (void **state)
{
    uint8_t buf[64];
    dns_query_t q;
    /* forward, inside the message */
    const uint8_t fwd[] = { 0xC0, 16, 0, 1, 0, 1, 1, 'a', 0 };
    assert_int_equal (dns_query_parse (buf, s_raw (buf, s_header_1q, fwd, sizeof fwd), &q),
                      DNS_PARSE_MALFORMED);
    /* far out of range */
    const uint8_t out[] = { 0xFF, 0xFF, 0, 1, 0, 1 };
    assert_int_equal (dns_query_parse (buf, s_raw (buf, s_header_1q, out, sizeof out), &q),
                      DNS_PARSE_MALFORMED);
    /* into the header */
    const uint8_t hdr[] = { 0xC0, 2, 0, 1, 0, 1 };
    assert_int_equal (dns_query_parse (buf, s_raw (buf, s_header_1q, hdr, sizeof hdr), &q),
                      DNS_PARSE_MALFORMED);
    /* a pointer cut in half */
    const uint8_t half[] = { 1, 'a', 0xC0 };
    assert_int_equal (dns_query_parse (buf, s_raw (buf, s_header_1q, half, sizeof half), &q),
                      DNS_PARSE_MALFORMED);
    /* reserved label types 0x40 and 0x80 */
    const uint8_t ext[] = { 0x41, 'a', 0, 0, 1, 0, 1 };
    assert_int_equal (dns_query_parse (buf, s_raw (buf, s_header_1q, ext, sizeof ext), &q),
                      DNS_PARSE_MALFORMED);
}

static void
test_parse_label_too_long (void **state)
{
    uint8_t buf[128];
    uint8_t body[80];
    body[0] = 64; /* 0x40: a reserved label type, and > 63 anyway */
    memset (body + 1, 'a', 64);
    body[65] = 0;
    memcpy (body + 66, "\0\1\0\1", 4);
    dns_query_t q;
    assert_int_equal (dns_query_parse (buf, s_raw (buf, s_header_1q, body, 70), &q),
                      DNS_PARSE_MALFORMED);
    /* and the text converter refuses to make one */
    char text[80];
    memset (text, 'x', 64);
    text[64] = 0;
    uint8_t wire[DNS_MAX_NAME];
    assert_int_equal (dns_name_from_text (text, wire, sizeof wire), -1);
    text[63] = 0;
    assert_int_equal (dns_name_from_text (text, wire, sizeof wire), 65);
    assert_int_equal (dns_name_from_text ("a..b", wire, sizeof wire), -1);
    assert_int_equal (dns_name_from_text ("a..", wire, sizeof wire), -1);
    assert_int_equal (dns_name_from_text ("a.", wire, sizeof wire), 3);
    assert_int_equal (dns_name_from_text (".", wire, sizeof wire), 1);
}

static void
test_parse_name_too_long (void **state)
{
    uint8_t buf[600];
    uint8_t body[300];
    size_t o = 0;
    /* 4 x 63-byte labels = 256 bytes + root = 257 > 255 */
    for (int i = 0; i < 4; i++) {
        body[o++] = 63;
        memset (body + o, 'a', 63);
        o += 63;
    }
    body[o++] = 0;
    memcpy (body + o, "\0\1\0\1", 4);
    o += 4;
    dns_query_t q;
    assert_int_equal (dns_query_parse (buf, s_raw (buf, s_header_1q, body, o), &q),
                      DNS_PARSE_MALFORMED);
    /* Same limit when the length is reached through a pointer: question
     * "aaa...a" (62) = 64 bytes; an additional record owned by 3 x 63-byte
     * labels + a pointer to it decompresses to 3 * 64 + 64 = 256 bytes. */
    uint8_t hdr[DNS_HEADER_LEN];
    memcpy (hdr, s_header_1q, sizeof hdr);
    hdr[11] = 1;
    o = 0;
    body[o++] = 62;
    memset (body + o, 'a', 62);
    o += 62;
    body[o++] = 0;
    memcpy (body + o, "\0\1\0\1", 4);
    o += 4;
    for (int i = 0; i < 3; i++) {
        body[o++] = 63;
        memset (body + o, 'b', 63);
        o += 63;
    }
    body[o++] = 0xC0;
    body[o++] = DNS_HEADER_LEN;
    const uint8_t rr[] = { 0, 1, 0, 1, 0, 0, 0, 0, 0, 4, 1, 2, 3, 4 };
    memcpy (body + o, rr, sizeof rr);
    o += sizeof rr;
    assert_int_equal (dns_query_parse (buf, s_raw (buf, hdr, body, o), &q), DNS_PARSE_MALFORMED);
    /* one label shorter fits */
    hdr[11] = 1;
    size_t short_o = 0;
    uint8_t body2[300];
    memcpy (body2, body, 68);
    short_o = 68;
    for (int i = 0; i < 2; i++) {
        body2[short_o++] = 63;
        memset (body2 + short_o, 'b', 63);
        short_o += 63;
    }
    body2[short_o++] = 0xC0;
    body2[short_o++] = DNS_HEADER_LEN;
    memcpy (body2 + short_o, rr, sizeof rr);
    short_o += sizeof rr;
    assert_int_equal (dns_query_parse (buf, s_raw (buf, hdr, body2, short_o), &q), DNS_PARSE_OK);
}

static void
test_parse_qdcount (void **state)
{
    uint8_t buf[512];
    size_t len = s_query (buf, "a.shed", DNS_TYPE_A, false, 0);
    dns_query_t q;
    buf[5] = 0; /* QDCOUNT 0 */
    assert_int_equal (dns_query_parse (buf, len, &q), DNS_PARSE_MALFORMED);
    buf[5] = 2; /* QDCOUNT 2, one question present */
    assert_int_equal (dns_query_parse (buf, len, &q), DNS_PARSE_MALFORMED);
    /* two real questions */
    memcpy (buf + len, buf + DNS_HEADER_LEN, len - DNS_HEADER_LEN);
    assert_int_equal (dns_query_parse (buf, 2 * len - DNS_HEADER_LEN, &q), DNS_PARSE_MALFORMED);
    buf[5] = 1;
    assert_int_equal (dns_query_parse (buf, len, &q), DNS_PARSE_OK);
    /* trailing garbage after a complete message */
    buf[len] = 0x55;
    assert_int_equal (dns_query_parse (buf, len + 1, &q), DNS_PARSE_MALFORMED);
}

static void
test_parse_bad_opt (void **state)
{
    uint8_t buf[512];
    dns_query_t q;
    size_t len = s_query (buf, "a.shed", DNS_TYPE_A, true, 1232);
    assert_int_equal (dns_query_parse (buf, len, &q), DNS_PARSE_OK);
    size_t opt = len - DNS_OPT_RR_LEN;

    /* OPT owner not root */
    uint8_t bad[600];
    memcpy (bad, buf, opt);
    bad[opt] = 1;
    bad[opt + 1] = 'x';
    memcpy (bad + opt + 2, buf + opt + 1, DNS_OPT_RR_LEN - 1);
    assert_int_equal (dns_query_parse (bad, len + 1, &q), DNS_PARSE_MALFORMED);

    /* two OPT records */
    memcpy (bad, buf, len);
    memcpy (bad + len, buf + opt, DNS_OPT_RR_LEN);
    bad[11] = 2;
    assert_int_equal (dns_query_parse (bad, len + DNS_OPT_RR_LEN, &q), DNS_PARSE_MALFORMED);

    /* OPT in the answer section */
    memcpy (bad, buf, len);
    bad[7] = 1;  /* ANCOUNT 1 */
    bad[11] = 0; /* ARCOUNT 0 */
    assert_int_equal (dns_query_parse (bad, len, &q), DNS_PARSE_MALFORMED);

    /* RDLEN past the end */
    memcpy (bad, buf, len);
    bad[len - 1] = 4;
    assert_int_equal (dns_query_parse (bad, len, &q), DNS_PARSE_MALFORMED);

    /* an option whose length overruns the rdata */
    memcpy (bad, buf, len);
    bad[len - 1] = 4;                         /* rdlen 4: one option header */
    const uint8_t option[] = { 0, 10, 0, 8 }; /* COOKIE, claims 8 bytes, has 0 */
    memcpy (bad + len, option, 4);
    assert_int_equal (dns_query_parse (bad, len + 4, &q), DNS_PARSE_MALFORMED);
    /* ... and the same option, correctly sized, parses */
    bad[len + 3] = 0;
    assert_int_equal (dns_query_parse (bad, len + 4, &q), DNS_PARSE_OK);

    /* OPT cut short (no room for rdlen) */
    assert_int_equal (dns_query_parse (buf, len - 2, &q), DNS_PARSE_MALFORMED);
}

/* ---- Builder -------------------------------------------------------------- */

static void
test_builder_compression (void **state)
{
    uint8_t buf[512];
    uint8_t q[DNS_MAX_NAME], t1[DNS_MAX_NAME], t2[DNS_MAX_NAME];
    dns_name_from_text ("web.service.shed", q, sizeof q);
    dns_name_from_text ("n1.node.shed", t1, sizeof t1);
    dns_name_from_text ("N1.NODE.SHED", t2, sizeof t2);
    dns_builder_t b;
    dns_builder_init (&b, buf, sizeof buf, 7, DNS_FLAG_QR);
    assert_int_equal (dns_builder_question (&b, q, DNS_TYPE_SRV, DNS_CLASS_IN), 0);
    size_t after_q = b.len;
    assert_int_equal (dns_builder_srv (&b, DNS_SECTION_ANSWER, q, 0, 1, 1, 80, t1), 0);
    /* owner is a 2-byte pointer; the target is written in full */
    assert_int_equal (b.len - after_q, 2 + 10 + 6 + 14);
    size_t after_srv = b.len;
    const uint8_t a[4] = { 10, 0, 0, 1 };
    assert_int_equal (dns_builder_a (&b, DNS_SECTION_ADDITIONAL, t2, 0, a), 0);
    /* owner compressed to a pointer into the SRV target, case-insensitively */
    assert_int_equal (b.len - after_srv, 2 + 10 + 4);
    size_t len = dns_builder_finish (&b);

    dns_reader_t r;
    dns_rr_t rr;
    assert_int_equal (dns_reader_init (&r, buf, len), 0);
    assert_int_equal (r.ancount, 1);
    assert_int_equal (r.arcount, 1);
    assert_int_equal (dns_reader_next (&r, buf, len, &rr), 0);
    assert_int_equal (rr.type, DNS_TYPE_SRV);
    assert_int_equal (rr.srv_port, 80);
    assert_memory_equal (rr.target, t1, 14);
    assert_memory_equal (rr.name, q, 18);
    assert_int_equal (dns_reader_next (&r, buf, len, &rr), 0);
    assert_int_equal (rr.type, DNS_TYPE_A);
    assert_memory_equal (rr.name, t1, 14);
    assert_memory_equal (rr.addr, a, 4);
    assert_int_equal (dns_reader_next (&r, buf, len, &rr), -1);
}

static void
test_builder_limit_rolls_back (void **state)
{
    uint8_t buf[64];
    uint8_t q[DNS_MAX_NAME];
    dns_name_from_text ("web.service.shed", q, sizeof q);
    dns_builder_t b;
    dns_builder_init (&b, buf, 60, 7, DNS_FLAG_QR);
    assert_int_equal (dns_builder_question (&b, q, DNS_TYPE_A, DNS_CLASS_IN), 0);
    const uint8_t a[4] = { 1, 2, 3, 4 };
    int added = 0;
    while (dns_builder_a (&b, DNS_SECTION_ANSWER, q, 0, a) == 0)
        added++;
    /* 12 + 22 = 34; each A with a pointer owner is 16 bytes: one fits in 60 */
    assert_int_equal (added, 1);
    assert_int_equal (b.len, 50);
    assert_int_equal (b.count[0], 1);
    assert_int_equal (b.ncomp, 3);
}

/* ---- Resolver (no sockets) ------------------------------------------------ */

static dns_zone_t *
s_zone (void)
{
    dns_zone_builder_t *zb = dns_zone_builder_new ();
    assert_int_equal (dns_zone_builder_add_node (zb, "n1", "10.0.0.1"), 0);
    assert_int_equal (dns_zone_builder_add_node (zb, "n2", "10.0.0.2"), 0);
    assert_int_equal (dns_zone_builder_add_shed (zb, "box", "10.1.0.5"), 0);
    const char *primary[] = { "Primary" };
    assert_int_equal (
        dns_zone_builder_add_service_instance (zb, &(dns_instance_t){ .service = "web",
                                                                      .node = "n1",
                                                                      .address = "10.0.0.1",
                                                                      .port = 80,
                                                                      .health = DNS_HEALTH_PASSING,
                                                                      .tags = primary,
                                                                      .tag_count = 1 }),
        0);
    assert_int_equal (dns_zone_builder_add_service_instance (
                          zb, &(dns_instance_t){ .service = "web",
                                                 .node = "n2",
                                                 .address = "10.0.0.2",
                                                 .port = 81,
                                                 .health = DNS_HEALTH_CRITICAL }),
                      0);
    assert_int_equal (dns_zone_builder_add_service_instance (
                          zb, &(dns_instance_t){ .service = "web",
                                                 .node = "n2",
                                                 .shed = "box",
                                                 .address = "10.1.0.5",
                                                 .port = 82,
                                                 .health = DNS_HEALTH_WARNING }),
                      0);
    assert_int_equal (dns_zone_builder_add_service_instance (
                          zb, &(dns_instance_t){ .service = "db",
                                                 .node = "n2",
                                                 .address = "fd00::7",
                                                 .port = 5432,
                                                 .health = DNS_HEALTH_PASSING }),
                      0);
    assert_int_equal (dns_zone_builder_add_service_instance (
                          zb, &(dns_instance_t){ .service = "dead",
                                                 .node = "n2",
                                                 .address = "10.0.0.2",
                                                 .port = 1,
                                                 .health = DNS_HEALTH_CRITICAL }),
                      0);
    /* invalid input is refused, not half-added */
    assert_int_equal (
        dns_zone_builder_add_service_instance (
            zb, &(dns_instance_t){ .service = "bad.name", .node = "n2", .address = "10.0.0.2" }),
        -1);
    assert_int_equal (
        dns_zone_builder_add_service_instance (
            zb, &(dns_instance_t){ .service = "x", .node = "n2", .address = "not-an-ip" }),
        -1);
    assert_int_equal (dns_zone_builder_add_node (zb, "", "10.0.0.9"), -1);
    dns_zone_builder_set_serial (zb, 42);
    dns_zone_t *zone = dns_zone_builder_build (&zb);
    assert_null (zb);
    assert_non_null (zone);
    return zone;
}

typedef struct {
    uint8_t msg[DNS_TCP_MAX];
    size_t len;
    dns_resolve_result_t res;
    dns_rr_t rr[64];
    size_t nrr;
    dns_reader_t r;
} s_answer_t;

static s_answer_t s_ans; /* big: keep it off the stack */

static void
s_ask (const dns_zone_t *zone, const char *name, uint16_t type)
{
    dns_resolve_config_t cfg;
    assert_int_equal (dns_resolve_config_init (&cfg, "shed", 0, 1), 0);
    uint8_t q[512];
    size_t qlen = s_query (q, name, type, false, 0);
    uint64_t rng = 88172645463325252ULL;
    s_ans.len = dns_resolve (&cfg, zone, q, qlen, DNS_TRANSPORT_UDP, s_ans.msg, DNS_UDP_MAX, &rng,
                             &s_ans.res);
    assert_true (s_ans.len >= DNS_HEADER_LEN);
    assert_int_equal (dns_reader_init (&s_ans.r, s_ans.msg, s_ans.len), 0);
    s_ans.nrr = 0;
    while (s_ans.nrr < 64
           && dns_reader_next (&s_ans.r, s_ans.msg, s_ans.len, &s_ans.rr[s_ans.nrr]) == 0)
        s_ans.nrr++;
}

static void
test_resolve_names (void **state)
{
    dns_zone_t *zone = s_zone ();
    /* A: passing + warning, critical excluded */
    s_ask (zone, "web.service.shed", DNS_TYPE_A);
    assert_int_equal (s_ans.res.rcode, DNS_RCODE_NOERROR);
    assert_true (s_ans.r.flags & DNS_FLAG_AA);
    assert_int_equal (s_ans.r.ancount, 2);
    /* SRV: target names; the shed instance targets the shed */
    s_ask (zone, "_web._tcp.service.shed", DNS_TYPE_SRV);
    assert_int_equal (s_ans.r.ancount, 2);
    assert_int_equal (s_ans.r.arcount, 2);
    bool saw_shed = false, saw_node = false;
    for (size_t i = 0; i < 2; i++) {
        char t[300];
        dns_name_to_text (s_ans.rr[i].target, t, sizeof t);
        saw_shed |= strcmp (t, "box.shed.shed.") == 0 && s_ans.rr[i].srv_port == 82;
        saw_node |= strcmp (t, "n1.node.shed.") == 0 && s_ans.rr[i].srv_port == 80;
    }
    assert_true (saw_shed && saw_node);
    /* tag filter, case-insensitive */
    s_ask (zone, "PRIMARY.web.service.shed", DNS_TYPE_A);
    assert_int_equal (s_ans.r.ancount, 1);
    assert_memory_equal (s_ans.rr[0].addr, "\12\0\0\1", 4);
    /* unknown tag: NXDOMAIN */
    s_ask (zone, "nope.web.service.shed", DNS_TYPE_A);
    assert_int_equal (s_ans.res.rcode, DNS_RCODE_NXDOMAIN);
    assert_int_equal (s_ans.r.nscount, 1);
    assert_int_equal (s_ans.rr[0].type, DNS_TYPE_SOA);
    assert_int_equal (s_ans.rr[0].soa_serial, 42);
    assert_int_equal (s_ans.rr[0].soa_minimum, 1);
    assert_int_equal (s_ans.rr[0].ttl, 1);
    /* AAAA vs NODATA */
    s_ask (zone, "db.service.shed", DNS_TYPE_AAAA);
    assert_int_equal (s_ans.r.ancount, 1);
    s_ask (zone, "db.service.shed", DNS_TYPE_A);
    assert_int_equal (s_ans.res.rcode, DNS_RCODE_NOERROR);
    assert_int_equal (s_ans.r.ancount, 0);
    assert_int_equal (s_ans.r.nscount, 1);
    /* all critical: NODATA */
    s_ask (zone, "dead.service.shed", DNS_TYPE_A);
    assert_int_equal (s_ans.res.rcode, DNS_RCODE_NOERROR);
    assert_int_equal (s_ans.r.ancount, 0);
    /* nodes, sheds, addr targets, apex, empty non-terminal */
    s_ask (zone, "n2.node.shed", DNS_TYPE_A);
    assert_int_equal (s_ans.r.ancount, 1);
    assert_memory_equal (s_ans.rr[0].addr, "\12\0\0\2", 4);
    s_ask (zone, "box.shed.shed", DNS_TYPE_A);
    assert_int_equal (s_ans.r.ancount, 1);
    s_ask (zone, "0a000009.addr.shed", DNS_TYPE_A);
    assert_int_equal (s_ans.r.ancount, 1);
    assert_memory_equal (s_ans.rr[0].addr, "\12\0\0\11", 4);
    s_ask (zone, "shed", DNS_TYPE_SOA);
    assert_int_equal (s_ans.r.ancount, 1);
    assert_int_equal (s_ans.rr[0].type, DNS_TYPE_SOA);
    s_ask (zone, "service.shed", DNS_TYPE_A);
    assert_int_equal (s_ans.res.rcode, DNS_RCODE_NOERROR);
    assert_int_equal (s_ans.r.ancount, 0);
    s_ask (zone, "nobody.node.shed", DNS_TYPE_A);
    assert_int_equal (s_ans.res.rcode, DNS_RCODE_NXDOMAIN);
    s_ask (zone, "web.other.shed", DNS_TYPE_A);
    assert_int_equal (s_ans.res.rcode, DNS_RCODE_NXDOMAIN);
    s_ask (zone, "example.com", DNS_TYPE_A);
    assert_int_equal (s_ans.res.rcode, DNS_RCODE_REFUSED);
    s_ask (zone, "shed.example", DNS_TYPE_A);
    assert_int_equal (s_ans.res.rcode, DNS_RCODE_REFUSED);
    /* no zone published yet */
    s_ask (NULL, "web.service.shed", DNS_TYPE_A);
    assert_int_equal (s_ans.res.rcode, DNS_RCODE_SERVFAIL);
    dns_zone_unref (&zone);
    assert_null (zone);
}

static void
test_resolve_policy (void **state)
{
    dns_zone_t *zone = s_zone ();
    dns_resolve_config_t cfg;
    assert_int_equal (dns_resolve_config_init (&cfg, "shed", 0, 0), 0);
    uint8_t q[512], out[DNS_UDP_MAX];
    uint64_t rng = 1;
    dns_resolve_result_t res;
    size_t qlen = s_query (q, "web.service.shed", DNS_TYPE_A, false, 0);

    /* responses are never answered */
    q[2] |= 0x80;
    assert_int_equal (
        dns_resolve (&cfg, zone, q, qlen, DNS_TRANSPORT_UDP, out, sizeof out, &rng, &res), 0);
    q[2] &= 0x7F;
    /* opcode STATUS (2): NOTIMP */
    q[2] |= 2 << 3;
    size_t len = dns_resolve (&cfg, zone, q, qlen, DNS_TRANSPORT_UDP, out, sizeof out, &rng, &res);
    assert_int_equal (len, DNS_HEADER_LEN);
    assert_int_equal (res.rcode, DNS_RCODE_NOTIMP);
    q[2] &= (uint8_t) ~(0xF << 3);
    /* malformed after the header: FORMERR with the id */
    len = dns_resolve (&cfg, zone, q, qlen - 1, DNS_TRANSPORT_UDP, out, sizeof out, &rng, &res);
    assert_int_equal (len, DNS_HEADER_LEN);
    assert_int_equal (res.rcode, DNS_RCODE_FORMERR);
    assert_int_equal (out[0], 0x12);
    assert_int_equal (out[3] & 0xF, DNS_RCODE_FORMERR);
    /* short: dropped */
    assert_int_equal (
        dns_resolve (&cfg, zone, q, 5, DNS_TRANSPORT_UDP, out, sizeof out, &rng, &res), 0);
    assert_int_equal (res.rcode, -1);
    /* class CH: REFUSED */
    q[qlen - 1] = DNS_CLASS_CH;
    dns_resolve (&cfg, zone, q, qlen, DNS_TRANSPORT_UDP, out, sizeof out, &rng, &res);
    assert_int_equal (res.rcode, DNS_RCODE_REFUSED);
    /* EDNS version 1: BADVERS, with an OPT carrying the upper bits */
    qlen = s_query (q, "web.service.shed", DNS_TYPE_A, true, 1232);
    q[qlen - 5] = 1; /* OPT TTL byte 2: version */
    len = dns_resolve (&cfg, zone, q, qlen, DNS_TRANSPORT_UDP, out, sizeof out, &rng, &res);
    assert_int_equal (res.rcode, DNS_RCODE_BADVERS);
    assert_int_equal (out[len - 6], 1); /* extended rcode 16 >> 4 */
    /* AXFR: NOTIMP */
    qlen = s_query (q, "shed", DNS_TYPE_AXFR, false, 0);
    dns_resolve (&cfg, zone, q, qlen, DNS_TRANSPORT_TCP, s_ans.msg, DNS_TCP_MAX, &rng, &res);
    assert_int_equal (res.rcode, DNS_RCODE_NOTIMP);
    /* a NUL inside a label never matches "web" */
    qlen = s_query (q, "webX.service.shed", DNS_TYPE_A, false, 0);
    q[DNS_HEADER_LEN + 4] = 0;
    dns_resolve (&cfg, zone, q, qlen, DNS_TRANSPORT_UDP, out, sizeof out, &rng, &res);
    assert_int_equal (res.rcode, DNS_RCODE_NXDOMAIN);
    dns_zone_unref (&zone);
}

static void
test_resolve_truncation (void **state)
{
    dns_zone_builder_t *zb = dns_zone_builder_new ();
    for (int i = 0; i < 200; i++) {
        char node[16], addr[32];
        snprintf (node, sizeof node, "n%d", i);
        snprintf (addr, sizeof addr, "10.2.%d.%d", i / 250, i % 250 + 1);
        assert_int_equal (dns_zone_builder_add_node (zb, node, addr), 0);
        assert_int_equal (dns_zone_builder_add_service_instance (
                              zb, &(dns_instance_t){ .service = "big",
                                                     .node = node,
                                                     .address = addr,
                                                     .port = 9000,
                                                     .health = DNS_HEALTH_PASSING }),
                          0);
    }
    dns_zone_t *zone = dns_zone_builder_build (&zb);
    dns_resolve_config_t cfg;
    dns_resolve_config_init (&cfg, "shed", 0, 0);
    uint8_t q[512];
    uint64_t rng = 7;
    size_t qlen = s_query (q, "big.service.shed", DNS_TYPE_A, false, 0);
    size_t len = dns_resolve (&cfg, zone, q, qlen, DNS_TRANSPORT_UDP, s_ans.msg, DNS_UDP_MAX, &rng,
                              &s_ans.res);
    assert_true (len <= DNS_UDP_MIN);
    assert_true (s_ans.res.truncated);
    assert_true (s_ans.msg[2] & (DNS_FLAG_TC >> 8));
    assert_int_equal (s_ans.res.answers, (512 - 12 - 22) / 16); /* whole records only */
    /* EDNS 4096: still truncated (200 x 16 + ... < 4096? no: 3200 + 34 fits) */
    qlen = s_query (q, "big.service.shed", DNS_TYPE_A, true, 4096);
    len = dns_resolve (&cfg, zone, q, qlen, DNS_TRANSPORT_UDP, s_ans.msg, DNS_UDP_MAX, &rng,
                       &s_ans.res);
    assert_false (s_ans.res.truncated);
    assert_int_equal (s_ans.res.answers, 200);
    /* SRV over TCP: all of them, and their addresses */
    qlen = s_query (q, "big.service.shed", DNS_TYPE_SRV, false, 0);
    len = dns_resolve (&cfg, zone, q, qlen, DNS_TRANSPORT_TCP, s_ans.msg, DNS_TCP_MAX, &rng,
                       &s_ans.res);
    assert_false (s_ans.res.truncated);
    assert_int_equal (s_ans.res.answers, 200);
    dns_reader_t r;
    assert_int_equal (dns_reader_init (&r, s_ans.msg, len), 0);
    assert_int_equal (r.arcount, 200);
    dns_zone_unref (&zone);
}

static void
test_zone_lookups (void **state)
{
    dns_zone_t *zone = s_zone ();
    assert_int_equal (dns_zone_service_count (zone), 3);
    assert_int_equal (dns_zone_node_count (zone), 2);
    assert_int_equal (dns_zone_shed_count (zone), 1);
    const dns_zone_service_t *svc = dns_zone_service (zone, "WEB", 3);
    assert_non_null (svc);
    assert_int_equal (svc->count, 3);
    assert_null (dns_zone_service (zone, "we", 2));
    assert_null (dns_zone_service (zone, "webb", 4));
    assert_non_null (dns_zone_node (zone, "N1", 2));
    dns_zone_t *extra = dns_zone_ref (zone);
    dns_zone_unref (&zone);
    assert_non_null (dns_zone_service (extra, "db", 2)); /* still alive */
    dns_zone_unref (&extra);
    dns_zone_unref (&extra); /* NULL-safe */
    dns_zone_t *empty = dns_zone_new_empty ();
    assert_int_equal (dns_zone_service_count (empty), 0);
    dns_zone_unref (&empty);
}

int
main (void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test (test_parse_valid),
        cmocka_unit_test (test_parse_edns_clamped),
        cmocka_unit_test (test_parse_root_and_max_name),
        cmocka_unit_test (test_parse_backward_pointer_in_additional),
        cmocka_unit_test (test_parse_truncated_header),
        cmocka_unit_test (test_parse_truncated_name),
        cmocka_unit_test (test_parse_pointer_loop),
        cmocka_unit_test (test_parse_pointer_forward),
        cmocka_unit_test (test_parse_label_too_long),
        cmocka_unit_test (test_parse_name_too_long),
        cmocka_unit_test (test_parse_qdcount),
        cmocka_unit_test (test_parse_bad_opt),
        cmocka_unit_test (test_builder_compression),
        cmocka_unit_test (test_builder_limit_rolls_back),
        cmocka_unit_test (test_resolve_names),
        cmocka_unit_test (test_resolve_policy),
        cmocka_unit_test (test_resolve_truncation),
        cmocka_unit_test (test_zone_lookups),
    };
    return cmocka_run_group_tests (tests, NULL, NULL);
}
