/* dns_server_test.c - a real server on 127.0.0.1 with an ephemeral port,
 * queried over real UDP and TCP sockets. Only loopback is used. */
#include "bridges/dns_msg.h"
#include "bridges/dns_server.h"
#include "bridges/dns_zone.h"
#include "common/log.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

/* ---- Helpers -------------------------------------------------------------- */

typedef struct {
    dns_server_t *server;
    uint16_t port;
} s_fixture_t;

static size_t
s_query (uint8_t *buf, uint16_t id, const char *name, uint16_t type, uint16_t edns_size)
{
    uint8_t wire[DNS_MAX_NAME];
    assert_true (dns_name_from_text (name, wire, sizeof wire) > 0);
    dns_builder_t b;
    dns_builder_init (&b, buf, 512, id, DNS_FLAG_RD);
    assert_int_equal (dns_builder_question (&b, wire, type, DNS_CLASS_IN), 0);
    if (edns_size)
        assert_int_equal (dns_builder_opt (&b, edns_size, 0, 0), 0);
    return dns_builder_finish (&b);
}

static int
s_udp_socket (void)
{
    int fd = socket (AF_INET, SOCK_DGRAM, 0);
    assert_true (fd >= 0);
    struct timeval tv = { 2, 0 };
    setsockopt (fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    return fd;
}

static struct sockaddr_in
s_addr (uint16_t port)
{
    struct sockaddr_in sa;
    memset (&sa, 0, sizeof sa);
    sa.sin_family = AF_INET;
    sa.sin_port = htons (port);
    sa.sin_addr.s_addr = htonl (INADDR_LOOPBACK);
    return sa;
}

/* One UDP exchange; returns the response length (0 on timeout). */
static size_t
s_udp_raw (uint16_t port, const uint8_t *msg, size_t len, uint8_t *resp, size_t cap)
{
    int fd = s_udp_socket ();
    struct sockaddr_in sa = s_addr (port);
    assert_int_equal (sendto (fd, msg, len, 0, (struct sockaddr *) &sa, sizeof sa), (ssize_t) len);
    ssize_t n = recv (fd, resp, cap, 0);
    close (fd);
    return n > 0 ? (size_t) n : 0;
}

typedef struct {
    uint8_t msg[DNS_TCP_MAX];
    size_t len;
    dns_reader_t r;
    dns_rr_t rr[300];
    size_t nrr;
} s_resp_t;

static s_resp_t s_resp;

static void
s_decode (s_resp_t *resp)
{
    assert_int_equal (dns_reader_init (&resp->r, resp->msg, resp->len), 0);
    resp->nrr = 0;
    while (resp->nrr < 300
           && dns_reader_next (&resp->r, resp->msg, resp->len, &resp->rr[resp->nrr]) == 0)
        resp->nrr++;
}

static int
s_rcode (const s_resp_t *resp)
{
    return resp->r.flags & DNS_RCODE_MASK;
}

static void
s_udp_ask (uint16_t port, const char *name, uint16_t type)
{
    uint8_t q[512];
    size_t qlen = s_query (q, 0x4242, name, type, 0);
    s_resp.len = s_udp_raw (port, q, qlen, s_resp.msg, sizeof s_resp.msg);
    assert_true (s_resp.len >= DNS_HEADER_LEN);
    s_decode (&s_resp);
    assert_int_equal (s_resp.r.id, 0x4242);
}

static int
s_tcp_connect (uint16_t port)
{
    int fd = socket (AF_INET, SOCK_STREAM, 0);
    assert_true (fd >= 0);
    struct timeval tv = { 2, 0 };
    setsockopt (fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    struct sockaddr_in sa = s_addr (port);
    assert_int_equal (connect (fd, (struct sockaddr *) &sa, sizeof sa), 0);
    return fd;
}

static int
s_read_full (int fd, uint8_t *buf, size_t len)
{
    size_t got = 0;
    while (got < len) {
        ssize_t n = recv (fd, buf + got, len - got, 0);
        if (n <= 0)
            return -1;
        got += (size_t) n;
    }
    return 0;
}

static void
s_tcp_read_answer (int fd, s_resp_t *resp)
{
    uint8_t lenb[2];
    assert_int_equal (s_read_full (fd, lenb, 2), 0);
    resp->len = ((size_t) lenb[0] << 8) | lenb[1];
    assert_int_equal (s_read_full (fd, resp->msg, resp->len), 0);
    s_decode (resp);
}

static void
s_tcp_send_query (int fd, const char *name, uint16_t type)
{
    uint8_t q[514];
    size_t qlen = s_query (q + 2, 0x7777, name, type, 0);
    q[0] = (uint8_t) (qlen >> 8);
    q[1] = (uint8_t) qlen;
    assert_int_equal (send (fd, q, qlen + 2, 0), (ssize_t) qlen + 2);
}

static bool
s_has_a (const s_resp_t *resp, const char *ip)
{
    uint8_t a[4];
    inet_pton (AF_INET, ip, a);
    for (size_t i = 0; i < resp->r.ancount && i < resp->nrr; i++)
        if (resp->rr[i].type == DNS_TYPE_A && memcmp (resp->rr[i].addr, a, 4) == 0)
            return true;
    return false;
}

/* web: 3 passing/warning + 1 critical; db on IPv6; big: 100 instances. */
static dns_zone_t *
s_zone (const char *web_extra_ip)
{
    dns_zone_builder_t *zb = dns_zone_builder_new ();
    assert_non_null (zb);
    dns_zone_builder_add_node (zb, "n1", "127.0.1.1");
    dns_zone_builder_add_node (zb, "n2", "127.0.1.2");
    dns_zone_builder_add_node (zb, "n3", "127.0.1.3");
    dns_zone_builder_add_shed (zb, "dev", "127.0.2.9");
    const char *tags_primary[] = { "primary", "v1" };
    const char *tags_v1[] = { "v1" };
    dns_zone_builder_add_service_instance (zb, &(dns_instance_t){ .service = "web",
                                                                  .node = "n1",
                                                                  .address = "127.0.1.1",
                                                                  .port = 8001,
                                                                  .health = DNS_HEALTH_PASSING,
                                                                  .tags = tags_primary,
                                                                  .tag_count = 2 });
    dns_zone_builder_add_service_instance (zb, &(dns_instance_t){ .service = "web",
                                                                  .node = "n2",
                                                                  .address = "127.0.1.2",
                                                                  .port = 8002,
                                                                  .health = DNS_HEALTH_WARNING,
                                                                  .tags = tags_v1,
                                                                  .tag_count = 1 });
    dns_zone_builder_add_service_instance (zb, &(dns_instance_t){ .service = "web",
                                                                  .node = "n3",
                                                                  .address = "127.0.1.3",
                                                                  .port = 8003,
                                                                  .health = DNS_HEALTH_CRITICAL,
                                                                  .tags = tags_primary,
                                                                  .tag_count = 2 });
    dns_zone_builder_add_service_instance (zb, &(dns_instance_t){ .service = "web",
                                                                  .node = "n1",
                                                                  .shed = "dev",
                                                                  .address = "127.0.2.9",
                                                                  .port = 8004,
                                                                  .health = DNS_HEALTH_PASSING });
    if (web_extra_ip)
        dns_zone_builder_add_service_instance (zb,
                                               &(dns_instance_t){ .service = "web",
                                                                  .node = "n1",
                                                                  .address = web_extra_ip,
                                                                  .port = 9999,
                                                                  .health = DNS_HEALTH_PASSING });
    dns_zone_builder_add_service_instance (zb, &(dns_instance_t){ .service = "db",
                                                                  .node = "n2",
                                                                  .address = "fd00::5",
                                                                  .port = 5432,
                                                                  .health = DNS_HEALTH_PASSING });
    for (int i = 0; i < 100; i++) {
        char addr[32];
        snprintf (addr, sizeof addr, "127.0.3.%d", i + 1);
        dns_zone_builder_add_service_instance (zb,
                                               &(dns_instance_t){ .service = "big",
                                                                  .node = "n1",
                                                                  .address = addr,
                                                                  .port = (uint16_t) (10000 + i),
                                                                  .health = DNS_HEALTH_PASSING });
    }
    dns_zone_t *zone = dns_zone_builder_build (&zb);
    assert_non_null (zone);
    return zone;
}

static int
s_setup (void **state)
{
    s_fixture_t *f = calloc (1, sizeof *f);
    dns_server_config_t cfg;
    dns_server_config_defaults (&cfg);
    cfg.addr = "127.0.0.1:0";
    cfg.ttl_s = 2;
    cfg.neg_ttl_s = 1;
    cfg.tcp_max_conns = 4;
    cfg.tcp_idle_ms = 300;
    f->server = dns_server_new (&cfg);
    if (!f->server)
        return -1;
    f->port = dns_server_port (f->server);
    dns_zone_t *zone = s_zone (NULL);
    dns_server_set_zone (f->server, zone);
    dns_zone_unref (&zone);
    *state = f;
    return 0;
}

static int
s_teardown (void **state)
{
    s_fixture_t *f = *state;
    dns_server_destroy (&f->server);
    assert_null (f->server);
    free (f);
    return 0;
}

/* ---- Tests ---------------------------------------------------------------- */

static void
test_a_aaaa_srv (void **state)
{
    s_fixture_t *f = *state;
    s_udp_ask (f->port, "web.service.shed", DNS_TYPE_A);
    assert_int_equal (s_rcode (&s_resp), DNS_RCODE_NOERROR);
    assert_true (s_resp.r.flags & DNS_FLAG_AA);
    assert_true (s_resp.r.flags & DNS_FLAG_QR);
    assert_true (s_resp.r.flags & DNS_FLAG_RD);
    assert_int_equal (s_resp.r.ancount, 3);
    assert_true (s_has_a (&s_resp, "127.0.1.1"));
    assert_true (s_has_a (&s_resp, "127.0.1.2"));  /* warning is served */
    assert_false (s_has_a (&s_resp, "127.0.1.3")); /* critical is not */
    assert_int_equal (s_resp.rr[0].ttl, 2);

    s_udp_ask (f->port, "db.service.shed", DNS_TYPE_AAAA);
    assert_int_equal (s_resp.r.ancount, 1);
    uint8_t v6[16];
    inet_pton (AF_INET6, "fd00::5", v6);
    assert_memory_equal (s_resp.rr[0].addr, v6, 16);

    s_udp_ask (f->port, "_web._tcp.service.shed", DNS_TYPE_SRV);
    assert_int_equal (s_resp.r.ancount, 3);
    assert_int_equal (s_resp.r.arcount, 3);
    int seen = 0;
    for (size_t i = 0; i < 3; i++) {
        char t[300];
        dns_name_to_text (s_resp.rr[i].target, t, sizeof t);
        if (s_resp.rr[i].srv_port == 8001 && strcmp (t, "n1.node.shed.") == 0)
            seen |= 1;
        if (s_resp.rr[i].srv_port == 8002 && strcmp (t, "n2.node.shed.") == 0)
            seen |= 2;
        if (s_resp.rr[i].srv_port == 8004 && strcmp (t, "dev.shed.shed.") == 0)
            seen |= 4;
    }
    assert_int_equal (seen, 7);
    /* additional: the targets' addresses, owned by the target names */
    for (size_t i = 3; i < 6; i++) {
        assert_int_equal (s_resp.rr[i].type, DNS_TYPE_A);
        char t[300];
        dns_name_to_text (s_resp.rr[i].name, t, sizeof t);
        if (strcmp (t, "dev.shed.shed.") == 0)
            assert_memory_equal (s_resp.rr[i].addr, "\177\0\2\11", 4);
    }
    /* NAME.service SRV form too */
    s_udp_ask (f->port, "web.service.shed", DNS_TYPE_SRV);
    assert_int_equal (s_resp.r.ancount, 3);

    s_udp_ask (f->port, "n2.node.shed", DNS_TYPE_A);
    assert_int_equal (s_resp.r.ancount, 1);
    assert_true (s_has_a (&s_resp, "127.0.1.2"));
    s_udp_ask (f->port, "dev.shed.shed", DNS_TYPE_A);
    assert_true (s_has_a (&s_resp, "127.0.2.9"));
    s_udp_ask (f->port, "shed", DNS_TYPE_SOA);
    assert_int_equal (s_resp.r.ancount, 1);
    assert_int_equal (s_resp.rr[0].type, DNS_TYPE_SOA);
}

static void
test_negative_answers (void **state)
{
    s_fixture_t *f = *state;
    /* NXDOMAIN: the name does not exist; SOA in authority with the negative TTL */
    s_udp_ask (f->port, "nothing.service.shed", DNS_TYPE_A);
    assert_int_equal (s_rcode (&s_resp), DNS_RCODE_NXDOMAIN);
    assert_int_equal (s_resp.r.ancount, 0);
    assert_int_equal (s_resp.r.nscount, 1);
    assert_int_equal (s_resp.rr[0].type, DNS_TYPE_SOA);
    assert_int_equal (s_resp.rr[0].ttl, 1);
    assert_int_equal (s_resp.rr[0].soa_minimum, 1);
    /* NODATA: db exists but has no IPv4 */
    s_udp_ask (f->port, "db.service.shed", DNS_TYPE_A);
    assert_int_equal (s_rcode (&s_resp), DNS_RCODE_NOERROR);
    assert_int_equal (s_resp.r.ancount, 0);
    assert_int_equal (s_resp.r.nscount, 1);
    assert_int_equal (s_resp.rr[0].type, DNS_TYPE_SOA);
    /* NODATA: a type we do not serve for an existing name */
    s_udp_ask (f->port, "web.service.shed", DNS_TYPE_TXT);
    assert_int_equal (s_rcode (&s_resp), DNS_RCODE_NOERROR);
    assert_int_equal (s_resp.r.ancount, 0);
    s_udp_ask (f->port, "ghost.node.shed", DNS_TYPE_A);
    assert_int_equal (s_rcode (&s_resp), DNS_RCODE_NXDOMAIN);
    /* outside our domain */
    s_udp_ask (f->port, "www.example.com", DNS_TYPE_A);
    assert_int_equal (s_rcode (&s_resp), DNS_RCODE_REFUSED);
    assert_int_equal (s_resp.r.ancount, 0);
}

static void
test_tags_and_case (void **state)
{
    s_fixture_t *f = *state;
    s_udp_ask (f->port, "primary.web.service.shed", DNS_TYPE_A);
    assert_int_equal (s_resp.r.ancount, 1); /* n3 is primary but critical */
    assert_true (s_has_a (&s_resp, "127.0.1.1"));
    s_udp_ask (f->port, "v1.web.service.shed", DNS_TYPE_A);
    assert_int_equal (s_resp.r.ancount, 2);
    s_udp_ask (f->port, "_web._primary.service.shed", DNS_TYPE_SRV);
    assert_int_equal (s_resp.r.ancount, 1);
    assert_int_equal (s_resp.rr[0].srv_port, 8001);
    s_udp_ask (f->port, "canary.web.service.shed", DNS_TYPE_A);
    assert_int_equal (s_rcode (&s_resp), DNS_RCODE_NXDOMAIN);

    /* case-insensitive, and the question is echoed exactly as asked */
    s_udp_ask (f->port, "PRIMARY.Web.SERVICE.sHeD", DNS_TYPE_A);
    assert_int_equal (s_resp.r.ancount, 1);
    assert_memory_equal (s_resp.msg + DNS_HEADER_LEN, "\7PRIMARY\3Web\7SERVICE\4sHeD", 26);
}

static void
test_truncation_then_tcp (void **state)
{
    s_fixture_t *f = *state;
    /* 100 A records do not fit in 512 bytes */
    s_udp_ask (f->port, "big.service.shed", DNS_TYPE_A);
    assert_true (s_resp.r.flags & DNS_FLAG_TC);
    assert_true (s_resp.len <= 512);
    assert_true (s_resp.r.ancount > 0 && s_resp.r.ancount < 100);
    assert_int_equal (s_resp.nrr, s_resp.r.ancount); /* whole records, all decodable */
    size_t udp_count = s_resp.r.ancount;
    /* SRV with EDNS 1232: also truncated */
    uint8_t q[512];
    size_t qlen = s_query (q, 9, "big.service.shed", DNS_TYPE_SRV, 1232);
    s_resp.len = s_udp_raw (f->port, q, qlen, s_resp.msg, sizeof s_resp.msg);
    s_decode (&s_resp);
    assert_true (s_resp.r.flags & DNS_FLAG_TC);
    assert_true (s_resp.len <= 1232);
    assert_true (s_resp.r.ancount > udp_count / 3);

    /* TCP: everything, two queries pipelined on one connection */
    int fd = s_tcp_connect (f->port);
    s_tcp_send_query (fd, "big.service.shed", DNS_TYPE_A);
    s_tcp_send_query (fd, "big.service.shed", DNS_TYPE_SRV);
    s_tcp_read_answer (fd, &s_resp);
    assert_false (s_resp.r.flags & DNS_FLAG_TC);
    assert_int_equal (s_resp.r.ancount, 100);
    s_tcp_read_answer (fd, &s_resp);
    assert_int_equal (s_resp.r.ancount, 100);
    assert_int_equal (s_resp.r.arcount, 100);
    /* a third one, later, on the same connection */
    s_tcp_send_query (fd, "web.service.shed", DNS_TYPE_A);
    s_tcp_read_answer (fd, &s_resp);
    assert_int_equal (s_resp.r.ancount, 3);
    close (fd);

    dns_server_stats_t st;
    dns_server_stats (f->server, &st);
    assert_true (st.truncated >= 2);
    assert_true (st.queries_tcp >= 3);
}

static void
test_shuffle (void **state)
{
    s_fixture_t *f = *state;
    /* The first answer is what naive clients use: it must move around. */
    uint8_t firsts[40][4];
    for (int i = 0; i < 40; i++) {
        s_udp_ask (f->port, "big.service.shed", DNS_TYPE_A);
        memcpy (firsts[i], s_resp.rr[0].addr, 4);
    }
    int distinct = 0;
    for (int i = 0; i < 40; i++) {
        bool dup = false;
        for (int j = 0; j < i; j++)
            dup |= memcmp (firsts[i], firsts[j], 4) == 0;
        distinct += !dup;
    }
    /* 40 draws from 100: all-equal has probability 100^-39 */
    assert_true (distinct >= 10);
}

static void
test_zone_swap_visible (void **state)
{
    s_fixture_t *f = *state;
    for (int round = 0; round < 20; round++) {
        char ip[32];
        snprintf (ip, sizeof ip, "127.0.9.%d", round + 1);
        dns_zone_t *zone = s_zone (ip);
        dns_server_set_zone (f->server, zone);
        dns_zone_unref (&zone);
        /* the very next query sees it: no polling, no sleep */
        s_udp_ask (f->port, "web.service.shed", DNS_TYPE_A);
        assert_int_equal (s_resp.r.ancount, 4);
        assert_true (s_has_a (&s_resp, ip));
    }
    dns_zone_t *zone = s_zone (NULL);
    dns_server_set_zone (f->server, zone);
    dns_zone_unref (&zone);
    s_udp_ask (f->port, "web.service.shed", DNS_TYPE_A);
    assert_int_equal (s_resp.r.ancount, 3);
}

typedef struct {
    dns_server_t *server;
    atomic_bool stop;
    atomic_int published;
} s_publisher_t;

static void *
s_publisher (void *arg)
{
    s_publisher_t *p = arg;
    while (!atomic_load (&p->stop)) {
        dns_zone_t *zone = s_zone (atomic_load (&p->published) % 2 ? "127.0.8.1" : NULL);
        dns_server_set_zone (p->server, zone);
        dns_zone_unref (&zone);
        atomic_fetch_add (&p->published, 1);
    }
    return NULL;
}

static void
test_zone_swap_concurrent (void **state)
{
    /* Publishing from another thread while queries flow: every answer comes
     * from one whole snapshot (3 or 4 web records), and nothing leaks or
     * crashes (run under ASan in CI). */
    s_fixture_t *f = *state;
    s_publisher_t p = { .server = f->server };
    atomic_init (&p.stop, false);
    atomic_init (&p.published, 0);
    pthread_t t;
    assert_int_equal (pthread_create (&t, NULL, s_publisher, &p), 0);
    /* The queries must overlap the swaps: on a loaded machine the publisher
     * may not run before 300 queries are done, so wait for its first swap
     * (up to 10 s) and check below that swaps went on while queries ran. */
    for (int i = 0; i < 10000 && atomic_load (&p.published) == 0; i++)
        usleep (1000);
    int before = atomic_load (&p.published);
    assert_true (before > 0);
    for (int i = 0; i < 300; i++) {
        s_udp_ask (f->port, "web.service.shed", DNS_TYPE_A);
        assert_true (s_resp.r.ancount == 3 || s_resp.r.ancount == 4);
    }
    atomic_store (&p.stop, true);
    pthread_join (t, NULL);
    assert_true (atomic_load (&p.published) > before);
    dns_zone_t *zone = s_zone (NULL);
    dns_server_set_zone (f->server, zone);
    dns_zone_unref (&zone);
}

static void
test_garbage (void **state)
{
    s_fixture_t *f = *state;
    dns_server_stats_t before, after;
    dns_server_stats (f->server, &before);
    int fd = s_udp_socket ();
    struct sockaddr_in sa = s_addr (f->port);
    /* shorter than a header: dropped */
    sendto (fd, "\1\2\3", 3, 0, (struct sockaddr *) &sa, sizeof sa);
    sendto (fd, "", 0, 0, (struct sockaddr *) &sa, sizeof sa);
    /* a response (QR set): dropped, never answered */
    uint8_t q[512];
    size_t qlen = s_query (q, 1, "web.service.shed", DNS_TYPE_A, 0);
    q[2] |= 0x80;
    sendto (fd, q, qlen, 0, (struct sockaddr *) &sa, sizeof sa);
    /* random junk with a header: FORMERR or dropped, never a crash */
    srand (12345);
    for (int i = 0; i < 200; i++) {
        uint8_t junk[300];
        size_t n = (size_t) (rand () % (int) sizeof junk);
        for (size_t k = 0; k < n; k++)
            junk[k] = (uint8_t) rand ();
        if (n > 2)
            junk[2] &= 0x7F; /* mostly queries, so most get FORMERR */
        sendto (fd, junk, n, 0, (struct sockaddr *) &sa, sizeof sa);
    }
    /* a pointer loop, explicitly: FORMERR with our id */
    const uint8_t loop[] = { 0xbe, 0xef, 0x01, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00,
                             0x00, 0x00, 0x00, 0xC0, 0x0C, 0x00, 0x01, 0x00, 0x01 };
    s_resp.len = s_udp_raw (f->port, loop, sizeof loop, s_resp.msg, sizeof s_resp.msg);
    assert_int_equal (s_resp.len, DNS_HEADER_LEN);
    assert_int_equal (s_resp.msg[0], 0xbe);
    assert_int_equal (s_resp.msg[3] & 0xF, DNS_RCODE_FORMERR);
    close (fd);

    /* TCP: a frame shorter than a header closes the connection */
    int tfd = s_tcp_connect (f->port);
    send (tfd, "\0\3abc", 5, 0);
    uint8_t b[4];
    assert_true (recv (tfd, b, sizeof b, 0) <= 0);
    close (tfd);

    /* still alive and answering */
    s_udp_ask (f->port, "web.service.shed", DNS_TYPE_A);
    assert_int_equal (s_resp.r.ancount, 3);
    dns_server_stats (f->server, &after);
    assert_true (after.dropped - before.dropped >= 4);
    assert_true (after.rcode_formerr - before.rcode_formerr >= 1);
    assert_true (after.queries_udp - before.queries_udp >= 205);
}

static void
test_tcp_limits (void **state)
{
    s_fixture_t *f = *state;
    dns_server_stats_t before, after;
    usleep (100 * 1000); /* let the server reap earlier tests' closed connections */
    dns_server_stats (f->server, &before);
    /* 4 allowed; the 5th is accepted and closed at once */
    int fds[5];
    for (int i = 0; i < 5; i++) {
        fds[i] = s_tcp_connect (f->port);
        s_tcp_send_query (fds[i], "web.service.shed", DNS_TYPE_A);
    }
    for (int i = 0; i < 4; i++) {
        s_tcp_read_answer (fds[i], &s_resp);
        assert_int_equal (s_resp.r.ancount, 3);
    }
    uint8_t b[4];
    assert_true (recv (fds[4], b, sizeof b, 0) <= 0);
    close (fds[4]);
    /* idle connections are closed after tcp_idle_ms (300 ms) */
    struct pollfd pfd = { fds[0], POLLIN, 0 };
    assert_int_equal (poll (&pfd, 1, 2000), 1);
    assert_true (recv (fds[0], b, sizeof b, 0) <= 0);
    for (int i = 0; i < 4; i++)
        close (fds[i]);
    dns_server_stats (f->server, &after);
    assert_true (after.tcp_rejected - before.tcp_rejected >= 1);
    assert_true (after.tcp_idle_closed - before.tcp_idle_closed >= 1);
}

static void
test_config_errors (void **state)
{
    s_fixture_t *f = *state;
    dns_server_config_t cfg;
    dns_server_config_defaults (&cfg);
    char addr[64];
    snprintf (addr, sizeof addr, "127.0.0.1:%u", f->port);
    cfg.addr = addr; /* taken by the fixture */
    assert_null (dns_server_new (&cfg));
    cfg.addr = "not an address";
    assert_null (dns_server_new (&cfg));
    cfg.addr = "127.0.0.1:0";
    cfg.domain = "bad..domain";
    assert_null (dns_server_new (&cfg));
    /* another domain, and no zone yet: SERVFAIL */
    cfg.domain = "Cluster.Example";
    dns_server_t *other = dns_server_new (&cfg);
    assert_non_null (other);
    s_udp_ask (dns_server_port (other), "web.service.cluster.example", DNS_TYPE_A);
    assert_int_equal (s_rcode (&s_resp), DNS_RCODE_SERVFAIL);
    dns_zone_t *zone = s_zone (NULL);
    dns_server_set_zone (other, zone);
    dns_server_set_zone (other, zone); /* twice before it looks: no leak */
    dns_zone_unref (&zone);
    s_udp_ask (dns_server_port (other), "web.service.CLUSTER.example", DNS_TYPE_A);
    assert_int_equal (s_resp.r.ancount, 3);
    s_udp_ask (dns_server_port (other), "web.service.shed", DNS_TYPE_A);
    assert_int_equal (s_rcode (&s_resp), DNS_RCODE_REFUSED);
    dns_server_destroy (&other);
    dns_server_destroy (&other); /* NULL-safe */
}

/* The shed listener's settings (docs/dns.md): bound to one device, a
 * per-source rate limit (over it: silence), a per-source TCP cap. */
static void
test_untrusted_listener (void **state)
{
    (void) state;
    dns_server_config_t cfg;
    dns_server_config_defaults (&cfg);
    cfg.addr = "127.0.0.1:0";
    cfg.device = "nosuchdev0";
    assert_null (dns_server_new (&cfg)); /* no such device: not bound */
    cfg.device = "lo";
    cfg.rate_qps = 50;
    cfg.rate_burst = 10;
    cfg.tcp_max_per_source = 2;
    dns_server_t *srv = dns_server_new (&cfg);
    if (!srv) {
        /* SO_BINDTODEVICE refused (an old kernel without CAP_NET_RAW):
         * the limits below do not depend on it. */
        cfg.device = NULL;
        srv = dns_server_new (&cfg);
    }
    assert_non_null (srv);
    uint16_t port = dns_server_port (srv);
    dns_zone_t *zone = s_zone (NULL);
    dns_server_set_zone (srv, zone);
    dns_zone_unref (&zone);

    /* 40 queries at once: the burst (10) and what 50/s refills meanwhile
     * are answered, the rest dropped without an answer. */
    int fd = s_udp_socket ();
    struct timeval tv = { 0, 300 * 1000 };
    setsockopt (fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    struct sockaddr_in sa = s_addr (port);
    uint8_t q[512];
    size_t qlen = s_query (q, 9, "web.service.shed", DNS_TYPE_A, 0);
    for (int i = 0; i < 40; i++)
        assert_int_equal (sendto (fd, q, qlen, 0, (struct sockaddr *) &sa, sizeof sa),
                          (ssize_t) qlen);
    int answered = 0;
    while (recv (fd, s_resp.msg, sizeof s_resp.msg, 0) > 0)
        answered++;
    close (fd);
    assert_true (answered >= 10);
    assert_true (answered < 30);
    dns_server_stats_t st;
    dns_server_stats (srv, &st);
    assert_int_equal (st.rate_limited, (uint64_t) (40 - answered));
    assert_int_equal (st.queries_udp, 40);

    /* Garbage under the limit never crashes it, and after a pause (the
     * bucket refills) it answers again. */
    fd = s_udp_socket ();
    srand (777);
    for (int i = 0; i < 300; i++) {
        uint8_t junk[200];
        size_t n = (size_t) (rand () % (int) sizeof junk);
        for (size_t k = 0; k < n; k++)
            junk[k] = (uint8_t) rand ();
        sendto (fd, junk, n, 0, (struct sockaddr *) &sa, sizeof sa);
    }
    close (fd);
    usleep (500 * 1000);
    s_udp_ask (port, "web.service.shed", DNS_TYPE_A);
    assert_int_equal (s_resp.r.ancount, 3);

    /* TCP: two connections from one address, the third closed at once. */
    int fds[3];
    for (int i = 0; i < 3; i++)
        fds[i] = s_tcp_connect (port);
    for (int i = 0; i < 2; i++) {
        s_tcp_send_query (fds[i], "web.service.shed", DNS_TYPE_A);
        s_tcp_read_answer (fds[i], &s_resp);
        assert_int_equal (s_resp.r.ancount, 3);
    }
    uint8_t b[4];
    assert_true (recv (fds[2], b, sizeof b, 0) <= 0);
    for (int i = 0; i < 3; i++)
        close (fds[i]);
    dns_server_destroy (&srv);
}

static void
test_dig_if_present (void **state)
{
    s_fixture_t *f = *state;
    if (system ("command -v dig >/dev/null 2>&1") != 0) {
        print_message ("dig not installed: skipping the interoperability check\n");
        skip ();
    }
    char cmd[256];
    snprintf (cmd, sizeof cmd,
              "dig +short +tries=1 +time=2 -p %u @127.0.0.1 primary.web.service.shed A", f->port);
    FILE *p = popen (cmd, "r");
    assert_non_null (p);
    char line[128] = "";
    char *got = fgets (line, sizeof line, p);
    pclose (p);
    assert_non_null (got);
    assert_string_equal (line, "127.0.1.1\n");
    /* dig retries over TCP by itself on TC */
    snprintf (cmd, sizeof cmd,
              "dig +short +tries=1 +time=2 +noedns -p %u @127.0.0.1 big.service.shed A | wc -l",
              f->port);
    p = popen (cmd, "r");
    assert_non_null (p);
    got = fgets (line, sizeof line, p);
    pclose (p);
    assert_non_null (got);
    assert_int_equal (atoi (line), 100);
}

int
main (void)
{
    shed_log_set_level (SHED_LOG_WARN);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test (test_a_aaaa_srv),
        cmocka_unit_test (test_negative_answers),
        cmocka_unit_test (test_tags_and_case),
        cmocka_unit_test (test_truncation_then_tcp),
        cmocka_unit_test (test_shuffle),
        cmocka_unit_test (test_zone_swap_visible),
        cmocka_unit_test (test_zone_swap_concurrent),
        cmocka_unit_test (test_garbage),
        cmocka_unit_test (test_tcp_limits),
        cmocka_unit_test (test_config_errors),
        cmocka_unit_test (test_untrusted_listener),
        cmocka_unit_test (test_dig_if_present),
    };
    return cmocka_run_group_tests (tests, s_setup, s_teardown);
}
