/* node_dns_test.c - the node's two DNS listeners on loopback: the shed
 * listener follows the gateway (start, move, stop), answers the published
 * zone, refuses other names, and retries a port it could not bind. No
 * device is given: binding to one (SO_BINDTODEVICE) may need privileges
 * a unit test must not; dns_server_test and test_shed_dns.sh cover it. */
#include "node/catalog/node_dns.h"

#include "bridges/dns_msg.h"
#include "common/log.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cmocka.h>

/* Ask ip:port for name/A over UDP; returns the rcode and the answer count,
 * or -1 on no answer within 500 ms. */
static int
s_ask (const char *ip, uint16_t port, const char *name, int *ancount)
{
    uint8_t q[512], wire[DNS_MAX_NAME], resp[DNS_UDP_MAX];
    assert_true (dns_name_from_text (name, wire, sizeof wire) > 0);
    dns_builder_t b;
    dns_builder_init (&b, q, sizeof q, 0x1234, DNS_FLAG_RD);
    assert_int_equal (dns_builder_question (&b, wire, DNS_TYPE_A, DNS_CLASS_IN), 0);
    size_t qlen = dns_builder_finish (&b);
    int fd = socket (AF_INET, SOCK_DGRAM, 0);
    assert_true (fd >= 0);
    struct timeval tv = { 0, 500 * 1000 };
    setsockopt (fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons (port) };
    inet_pton (AF_INET, ip, &sa.sin_addr);
    sendto (fd, q, qlen, 0, (struct sockaddr *) &sa, sizeof sa);
    ssize_t n = recv (fd, resp, sizeof resp, 0);
    close (fd);
    if (n < DNS_HEADER_LEN)
        return -1;
    dns_reader_t r;
    assert_int_equal (dns_reader_init (&r, resp, (size_t) n), 0);
    *ancount = r.ancount;
    return r.flags & DNS_RCODE_MASK;
}

/* "IP:PORT" -> port */
static uint16_t
s_port_of (const char *addr)
{
    const char *colon = strrchr (addr, ':');
    assert_non_null (colon);
    return (uint16_t) atoi (colon + 1);
}

static dns_zone_t *
s_zone (void)
{
    dns_zone_builder_t *zb = dns_zone_builder_new ();
    dns_zone_builder_add_node (zb, "n1", "198.18.0.11");
    dns_zone_builder_add_shed (zb, "db", "198.19.5.2");
    assert_int_equal (dns_zone_builder_add_service_instance (
                          zb, &(dns_instance_t){ .service = "postgres",
                                                 .node = "n1",
                                                 .shed = "db",
                                                 .address = "198.19.5.2",
                                                 .port = 5432,
                                                 .health = DNS_HEALTH_PASSING }),
                      0);
    dns_zone_t *zone = dns_zone_builder_build (&zb);
    assert_non_null (zone);
    return zone;
}

static void
s_config (shed_config_t *cfg)
{
    shed_config_defaults (cfg);
    snprintf (cfg->dns.addr, sizeof cfg->dns.addr, "127.0.0.1:0");
    cfg->dns.shed_port = 0; /* ephemeral: the test reads it back */
}

static void
test_follow_gateway (void **state)
{
    (void) state;
    shed_config_t cfg;
    s_config (&cfg);
    zloop_t *loop = zloop_new ();
    char err[256] = "";
    shed_dns_t *dns = shed_dns_new (&cfg, loop, err, sizeof err);
    assert_non_null (dns);
    assert_true (shed_dns_port (dns) > 0);
    assert_string_equal (shed_dns_shed_addr (dns), "");
    dns_server_stats_t st;
    assert_int_equal (shed_dns_stats (dns, true, &st), -1); /* never ran */
    int an = 0;
    /* Empty zone until the catalog publishes: NXDOMAIN, not SERVFAIL. */
    assert_int_equal (s_ask ("127.0.0.1", shed_dns_port (dns), "postgres.service.shed", &an),
                      DNS_RCODE_NXDOMAIN);

    /* Published before the shed listener exists: it answers from it at once. */
    dns_zone_t *zone = s_zone ();
    shed_dns_publish (dns, zone);
    dns_zone_unref (&zone);
    shed_dns_set_gateway (dns, "127.0.0.1", NULL);
    char first[32];
    snprintf (first, sizeof first, "%s", shed_dns_shed_addr (dns));
    assert_true (strncmp (first, "127.0.0.1:", 10) == 0);
    uint16_t port = s_port_of (first);
    assert_int_equal (s_ask ("127.0.0.1", port, "postgres.service.shed", &an), DNS_RCODE_NOERROR);
    assert_int_equal (an, 1);
    /* Not our domain: REFUSED (no recursion for sheds). */
    assert_int_equal (s_ask ("127.0.0.1", port, "debian.org", &an), DNS_RCODE_REFUSED);
    assert_int_equal (an, 0);
    /* The same gateway again changes nothing. */
    shed_dns_set_gateway (dns, "127.0.0.1", NULL);
    assert_string_equal (shed_dns_shed_addr (dns), first);

    /* The gateway moves: the listener follows, counters keep growing. */
    shed_dns_set_gateway (dns, "127.0.0.2", NULL);
    const char *moved = shed_dns_shed_addr (dns);
    assert_true (strncmp (moved, "127.0.0.2:", 10) == 0);
    assert_int_equal (s_ask ("127.0.0.2", s_port_of (moved), "postgres.service.shed", &an),
                      DNS_RCODE_NOERROR);
    assert_int_equal (shed_dns_stats (dns, true, &st), 0);
    assert_int_equal (st.queries_udp, 3);
    assert_int_equal (st.rcode_refused, 1);
    assert_int_equal (st.rcode_noerror, 2);
    /* The host listener counted only its own query. */
    assert_int_equal (shed_dns_stats (dns, false, &st), 0);
    assert_int_equal (st.queries_udp, 1);

    /* No gateway: no shed listener. */
    shed_dns_set_gateway (dns, NULL, NULL);
    assert_string_equal (shed_dns_shed_addr (dns), "");
    assert_int_equal (shed_dns_stats (dns, true, &st), 0);
    assert_int_equal (st.queries_udp, 3);
    shed_dns_destroy (&dns);
    assert_null (dns);
    shed_dns_destroy (&dns);
    zloop_destroy (&loop);
}

static void
test_shed_listen_off (void **state)
{
    (void) state;
    shed_config_t cfg;
    s_config (&cfg);
    cfg.dns.shed_listen = false;
    zloop_t *loop = zloop_new ();
    char err[256] = "";
    shed_dns_t *dns = shed_dns_new (&cfg, loop, err, sizeof err);
    assert_non_null (dns);
    shed_dns_set_gateway (dns, "127.0.0.1", NULL);
    assert_string_equal (shed_dns_shed_addr (dns), "");
    shed_dns_destroy (&dns);
    /* A host address that cannot be bound stops the start, with a reason. */
    snprintf (cfg.dns.addr, sizeof cfg.dns.addr, "192.0.2.1:53");
    assert_null (shed_dns_new (&cfg, loop, err, sizeof err));
    assert_non_null (strstr (err, "cannot start DNS on 192.0.2.1:53"));
    zloop_destroy (&loop);
}

static int
s_stop (zloop_t *loop, int timer_id, void *arg)
{
    (void) loop;
    (void) timer_id;
    (void) arg;
    return -1;
}

/* The port is taken when the gateway comes: the listener is retried every
 * SHED_DNS_RETRY_MS and starts once the port is free. */
static void
test_retry_bind (void **state)
{
    (void) state;
    int hold = socket (AF_INET, SOCK_DGRAM, 0);
    struct sockaddr_in sa = { .sin_family = AF_INET };
    inet_pton (AF_INET, "127.0.0.3", &sa.sin_addr);
    assert_int_equal (bind (hold, (struct sockaddr *) &sa, sizeof sa), 0);
    socklen_t len = sizeof sa;
    getsockname (hold, (struct sockaddr *) &sa, &len);

    shed_config_t cfg;
    s_config (&cfg);
    cfg.dns.shed_port = ntohs (sa.sin_port);
    zloop_t *loop = zloop_new ();
    char err[256] = "";
    shed_dns_t *dns = shed_dns_new (&cfg, loop, err, sizeof err);
    assert_non_null (dns);
    shed_dns_set_gateway (dns, "127.0.0.3", NULL);
    assert_string_equal (shed_dns_shed_addr (dns), "");
    close (hold);
    zloop_timer (loop, SHED_DNS_RETRY_MS + 500, 1, s_stop, NULL);
    zloop_start (loop);
    assert_true (strncmp (shed_dns_shed_addr (dns), "127.0.0.3:", 10) == 0);
    int an = 0;
    assert_int_equal (s_ask ("127.0.0.3", cfg.dns.shed_port, "db.shed.shed", &an),
                      DNS_RCODE_NXDOMAIN); /* the empty zone: nothing published */
    shed_dns_destroy (&dns);
    zloop_destroy (&loop);
}

int
main (void)
{
    shed_log_set_level (SHED_LOG_ERROR);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test (test_follow_gateway),
        cmocka_unit_test (test_shed_listen_off),
        cmocka_unit_test (test_retry_bind),
    };
    return cmocka_run_group_tests (tests, NULL, NULL);
}
