/* ipaddr_test.c - parsing, canonical text, host:port forms, sockaddrs. */
#include "common/ipaddr.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <string.h>
#include <cmocka.h>

static void
test_family_and_canon (void **state)
{
    (void) state;
    char out[SHED_IP_TEXT_MAX];
    assert_int_equal (shed_ip_family ("198.18.0.1"), 4);
    assert_int_equal (shed_ip_family ("fd00:5ed::1"), 6);
    assert_int_equal (shed_ip_family ("fd00:5ed::1%eth0"), 0); /* scope: local to a host */
    assert_int_equal (shed_ip_family ("node1"), 0);
    assert_int_equal (shed_ip_family ("198.18.0.1 "), 0);
    assert_int_equal (shed_ip_family (""), 0);
    assert_int_equal (shed_ip_canon ("FD00:05ed:0:0::0001", out), 6);
    assert_string_equal (out, "fd00:5ed::1");
    assert_int_equal (shed_ip_canon ("::ffff:198.18.0.7", out), 4);
    assert_string_equal (out, "198.18.0.7");
    assert_int_equal (shed_ip_canon ("[fd00::1]", out), 0);
    assert_string_equal (out, "");
    assert_true (shed_ip_is_any ("0.0.0.0"));
    assert_true (shed_ip_is_any ("::"));
    assert_true (shed_ip_is_any ("0:0::0"));
    assert_false (shed_ip_is_any ("::1"));
    assert_true (shed_ip_is_unicast ("fd00:5ed::1"));
    assert_true (shed_ip_is_unicast ("127.0.0.1"));
    assert_false (shed_ip_is_unicast ("::"));
    assert_false (shed_ip_is_unicast ("ff02::1"));
    assert_false (shed_ip_is_unicast ("239.1.1.1"));
    assert_false (shed_ip_is_unicast ("255.255.255.255"));
    assert_false (shed_ip_is_unicast ("::ffff:0.0.0.0"));
    assert_false (shed_ip_is_unicast ("x"));
}

static void
test_hostport (void **state)
{
    (void) state;
    char host[64];
    uint16_t port;
    assert_int_equal (shed_hostport_split ("198.18.0.1:7000", host, sizeof host, &port, 9), 0);
    assert_string_equal (host, "198.18.0.1");
    assert_int_equal (port, 7000);
    assert_int_equal (shed_hostport_split ("seed.example", host, sizeof host, &port, 9), 0);
    assert_string_equal (host, "seed.example");
    assert_int_equal (port, 9);
    assert_int_equal (shed_hostport_split ("[fd00:5ed::1]:7946", host, sizeof host, &port, 9), 0);
    assert_string_equal (host, "fd00:5ed::1");
    assert_int_equal (port, 7946);
    assert_int_equal (shed_hostport_split ("[fd00:5ed::1]", host, sizeof host, &port, 9), 0);
    assert_string_equal (host, "fd00:5ed::1");
    assert_int_equal (port, 9);
    /* A bare IPv6 literal has no port: its last group is part of it. */
    assert_int_equal (shed_hostport_split ("fd00:5ed::1:7946", host, sizeof host, &port, 9), 0);
    assert_string_equal (host, "fd00:5ed::1:7946");
    assert_int_equal (port, 9);
    assert_int_equal (shed_hostport_split ("::", host, sizeof host, &port, 9), 0);
    assert_string_equal (host, "::");
    assert_int_not_equal (shed_hostport_split ("[fd00::1", host, sizeof host, &port, 9), 0);
    assert_int_not_equal (shed_hostport_split ("[fd00::1]x", host, sizeof host, &port, 9), 0);
    assert_int_not_equal (shed_hostport_split ("[fd00::1]:", host, sizeof host, &port, 9), 0);
    assert_int_not_equal (shed_hostport_split ("[fd00::1]:0", host, sizeof host, &port, 9), 0);
    assert_int_not_equal (shed_hostport_split ("[fd00::1]:70000", host, sizeof host, &port, 9), 0);
    assert_int_not_equal (shed_hostport_split ("[1.2.3.4]:1", host, sizeof host, &port, 9), 0);
    assert_int_not_equal (shed_hostport_split ("[]:1", host, sizeof host, &port, 9), 0);
    assert_int_not_equal (shed_hostport_split (":1", host, sizeof host, &port, 9), 0);
    assert_int_not_equal (shed_hostport_split ("a:", host, sizeof host, &port, 9), 0);
    assert_int_not_equal (shed_hostport_split ("a:-1", host, sizeof host, &port, 9), 0);
    assert_int_not_equal (shed_hostport_split ("a:x", host, sizeof host, &port, 9), 0);
    assert_int_not_equal (shed_hostport_split ("abcdef:1", host, 4, &port, 9), 0);

    char buf[SHED_HOSTPORT_MAX];
    assert_int_equal (shed_hostport_join (buf, sizeof buf, "fd00:5ed::1", 7947), 18);
    assert_string_equal (buf, "[fd00:5ed::1]:7947");
    assert_true (shed_hostport_join (buf, sizeof buf, "198.18.0.1", 7947) > 0);
    assert_string_equal (buf, "198.18.0.1:7947");
    assert_int_equal (shed_hostport_join (buf, 8, "198.18.0.1", 7947), -1);
}

static void
test_sockaddr (void **state)
{
    (void) state;
    struct sockaddr_storage ss;
    socklen_t len;
    char text[SHED_IP_TEXT_MAX];
    uint16_t port = 0;
    /* IPv4 peer through a dual-stack socket: mapped out, plain text back. */
    assert_int_equal (shed_ip_sockaddr ("198.18.0.2", 7946, AF_INET6, &ss, &len), 0);
    assert_int_equal (ss.ss_family, AF_INET6);
    assert_int_equal (len, sizeof (struct sockaddr_in6));
    assert_true (IN6_IS_ADDR_V4MAPPED (&((struct sockaddr_in6 *) &ss)->sin6_addr));
    assert_int_equal (shed_ip_from_sockaddr ((struct sockaddr *) &ss, text, &port), 0);
    assert_string_equal (text, "198.18.0.2");
    assert_int_equal (port, 7946);
    assert_int_equal (shed_ip_sockaddr ("fd00:5ed::2", 1, AF_INET6, &ss, &len), 0);
    assert_int_equal (shed_ip_from_sockaddr ((struct sockaddr *) &ss, text, NULL), 0);
    assert_string_equal (text, "fd00:5ed::2");
    assert_int_equal (shed_ip_sockaddr ("198.18.0.2", 5, AF_INET, &ss, &len), 0);
    assert_int_equal (ss.ss_family, AF_INET);
    assert_int_equal (len, sizeof (struct sockaddr_in));
    assert_int_equal (shed_ip_from_sockaddr ((struct sockaddr *) &ss, text, &port), 0);
    assert_string_equal (text, "198.18.0.2");
    assert_int_equal (port, 5);
    /* An IPv4 socket cannot reach an IPv6 peer. */
    assert_int_equal (shed_ip_sockaddr ("fd00:5ed::2", 5, AF_INET, &ss, &len), -1);
    assert_int_equal (shed_ip_sockaddr ("::ffff:10.0.0.1", 5, AF_INET, &ss, &len), 0);
    assert_int_equal (shed_ip_sockaddr ("nope", 5, AF_INET6, &ss, &len), -1);
    assert_int_equal (shed_ip_sockaddr (NULL, 5, AF_INET6, &ss, &len), 0);
    assert_true (IN6_IS_ADDR_UNSPECIFIED (&((struct sockaddr_in6 *) &ss)->sin6_addr));
    assert_int_equal (shed_ip_bind_family ("::"), AF_INET6);
    assert_int_equal (shed_ip_bind_family ("0.0.0.0"), AF_INET);
}

int
main (void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test (test_family_and_canon),
        cmocka_unit_test (test_hostport),
        cmocka_unit_test (test_sockaddr),
    };
    return cmocka_run_group_tests (tests, NULL, NULL);
}
