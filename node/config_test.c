/* config_test.c - YAML loading, overrides and one-line errors. */
#include "node/config.h"
#include "node/netaddr.h"
#include "node/node_reload.h"

#include <limits.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

static int
s_load (shed_config_t *cfg, const char *text, char *err, size_t errlen)
{
    shed_config_defaults (cfg);
    return shed_config_load_buffer (cfg, text, strlen (text), "test.yaml", err, errlen);
}

static void
test_defaults (void **state)
{
    shed_config_t cfg;
    shed_config_defaults (&cfg);
    assert_true (shed_node_name_valid (cfg.name));
    assert_string_equal (cfg.bind_addr, "0.0.0.0");
    assert_int_equal (cfg.bind_port, SHED_DEFAULT_PORT);
    assert_string_equal (cfg.data_dir, SHED_DEFAULT_DATADIR);
    char err[256];
    assert_int_equal (shed_config_finish (&cfg, err, sizeof err), 0);
    assert_string_equal (cfg.api_endpoint, "ipc://" SHED_DEFAULT_DATADIR "/api.sock");
}

static void
test_full_file (void **state)
{
    const char *text = "# a node\n"
                       "name: node-1\n"
                       "bind: 198.18.0.11:7950\n"
                       "data_dir: /tmp/x\n"
                       "join:\n"
                       "  - 198.18.0.12\n"
                       "  - 198.18.0.13:8000\n"
                       "log_level: debug\n"
                       "discover: yes\n"
                       "tags:\n"
                       "  arch: x86_64\n"
                       "  zone: a\n"
                       "gossip:\n"
                       "  profile: wan\n"
                       "  probe_interval_ms: 750\n"
                       "  suspicion_mult: 2.5\n";
    shed_config_t cfg;
    char err[256] = "";
    assert_int_equal (s_load (&cfg, text, err, sizeof err), 0);
    assert_string_equal (cfg.name, "node-1");
    assert_string_equal (cfg.bind_addr, "198.18.0.11");
    assert_int_equal (cfg.bind_port, 7950);
    assert_string_equal (cfg.data_dir, "/tmp/x");
    assert_int_equal (cfg.njoin, 2);
    assert_string_equal (cfg.join[0], "198.18.0.12:7946");
    assert_string_equal (cfg.join[1], "198.18.0.13:8000");
    assert_int_equal (cfg.log_level, SHED_LOG_DEBUG);
    assert_true (cfg.discover);
    assert_int_equal (cfg.ntags, 2);
    assert_string_equal (cfg.tags[0].key, "arch");
    assert_string_equal (cfg.tags[1].value, "a");
    assert_string_equal (cfg.profile, "wan");
    assert_int_equal (cfg.gossip.probe_interval_ms, 750);
    assert_true (cfg.gossip.suspicion_mult > 2.4 && cfg.gossip.suspicion_mult < 2.6);
    assert_int_equal (shed_config_finish (&cfg, err, sizeof err), 0);
    assert_string_equal (cfg.advertise_addr, "198.18.0.11");
}

static void
test_empty_file (void **state)
{
    shed_config_t cfg;
    char err[256];
    assert_int_equal (s_load (&cfg, "", err, sizeof err), 0);
    assert_int_equal (s_load (&cfg, "# only a comment\n", err, sizeof err), 0);
}

/* Each bad file must fail with a message naming file, line and key. */
static void
test_errors (void **state)
{
    static const struct {
        const char *text;
        const char *expect;
    } cases[] = {
        { "name: ok\nbogus: 1\n", "test.yaml:2: unknown key 'bogus'" },
        { "name: ok\n\nbind: 300.1.1.1\n", "test.yaml:3: key 'bind': expected IPv4[:PORT]" },
        { "bind: 1.2.3.4:99999\n", "test.yaml:1: key 'bind'" },
        { "name: -bad\n", "test.yaml:1: key 'name': '-bad' is not a valid node name" },
        { "log_level: loud\n", "test.yaml:1: key 'log_level': expected debug|info|warn|error" },
        { "discover: maybe\n", "test.yaml:1: key 'discover': expected true or false" },
        { "gossip:\n  profile: moon\n", "test.yaml:2: key 'gossip.profile'" },
        { "gossip:\n  nope: 1\n", "test.yaml:2: unknown key 'gossip.nope'" },
        { "join:\n  - [a, b]\n", "test.yaml:2: key 'join': list items" },
        { "join: 1.2.3.4:0\n", "test.yaml:1: key 'join'" },
        { "tags: notamap\n", "test.yaml:1: key 'tags': expected a mapping" },
        { "name: [a]\n", "test.yaml:1: key 'name': a list is not allowed here" },
        { "- a\n- b\n", "test.yaml:1: the top level must be a mapping" },
        { "just text\n", "test.yaml:1: the top level must be a mapping" },
        { "name: ok\njoin: [a, b\n", "YAML syntax error" },
        { "a: &x 1\nb: *x\n", "unknown key 'a'" },
        { "encrypt_key: notbase64\n", "test.yaml:1: key 'encrypt_key'" },
        { "api: /no/scheme\n", "test.yaml:1: key 'api'" },
        /* found by fuzz_config: a folded scalar put a newline in the message */
        { "name: node-1,bind:0.1d:0.12\n\n  zonoin:\n ", "test.yaml:1: key 'name': 'node-1,bind" },
        { "gossip:\n  probe_interval_ms: fast\n",
          "test.yaml:2: key 'gossip.probe_interval_ms': invalid duration 'fast': use a number "
          "with a unit: 500ms, 5s, 2m, 1h (a bare number is milliseconds)" },
        { "gossip:\n  probe_interval_ms: 1.5\n", "finer than a millisecond" },
        { "gossip:\n  probe_interval_ms: 5\n", "5 is outside 50ms..1m" },
        { "gossip:\n  probe_interval_ms: 5x\n", "invalid duration '5x'" },
        { "gossip:\n  suspicion_mult: -1\n", "outside" },
        { "dns:\n  addr: 127.0.0.1\n", "test.yaml:2: key 'dns.addr': expected IPv4:PORT" },
        { "dns:\n  addr: localhost:53\n", "key 'dns.addr'" },
        { "dns:\n  addr: ::1:53\n", "key 'dns.addr'" },
        { "dns:\n  addr: 127.0.0.1:70000\n", "key 'dns.addr'" },
        { "dns:\n  domain: bad_domain\n", "key 'dns.domain': 'bad_domain' is not a domain" },
        { "dns:\n  domain: a..b\n", "key 'dns.domain'" },
        { "dns:\n  domain: -a\n", "key 'dns.domain'" },
        { "dns:\n  ttl_s: 3601\n", "key 'dns.ttl_s': 3601 is outside 0s..1h" },
        { "dns:\n  ttl_s: 1500ms\n", "key 'dns.ttl_s': '1500ms' is not a whole number of seconds" },
        { "dns:\n  enabled: perhaps\n", "key 'dns.enabled': expected true or false" },
        { "dns:\n  port: 53\n", "unknown key 'dns.port'" },
        { "dns:\n  shed_port: 0\n", "key 'dns.shed_port': 0 is outside 1..65535" },
        { "dns:\n  shed_listen: sometimes\n", "key 'dns.shed_listen': expected true or false" },
        { "metrics:\n  listen: 127.0.0.1\n",
          "test.yaml:2: key 'metrics.listen': expected IPv4:PORT or [IPv6]:PORT" },
        { "metrics:\n  listen: localhost:7951\n", "key 'metrics.listen'" },
        { "metrics:\n  enabled: maybe\n", "key 'metrics.enabled': expected true or false" },
        { "metrics:\n  port: 7951\n", "unknown key 'metrics.port'" },
        { "metrics: 127.0.0.1:7951\n", "unknown key 'metrics'" },
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        shed_config_t cfg;
        char err[256] = "";
        int rc = s_load (&cfg, cases[i].text, err, sizeof err);
        if (rc == 0 || !strstr (err, cases[i].expect))
            fail_msg ("case %zu: rc=%d err='%s' expected '%s'", i, rc, err, cases[i].expect);
        assert_null (strchr (err, '\n'));
    }
}

static void
test_overrides (void **state)
{
    shed_config_t cfg;
    char err[256];
    assert_int_equal (s_load (&cfg, "name: file\nbind: 10.0.0.1:7000\n", err, sizeof err), 0);
    assert_int_equal (shed_config_set (&cfg, "name", "flag", err, sizeof err), 0);
    assert_string_equal (cfg.name, "flag");
    /* A bind without port keeps the port already configured. */
    assert_int_equal (shed_config_set (&cfg, "bind", "10.0.0.2", err, sizeof err), 0);
    assert_int_equal (cfg.bind_port, 7000);
    assert_int_equal (shed_config_set (&cfg, "tags.role", "db", err, sizeof err), 0);
    assert_string_equal (cfg.tags[0].key, "role");
    assert_int_not_equal (shed_config_set (&cfg, "nope", "1", err, sizeof err), 0);
    assert_non_null (strstr (err, "unknown key 'nope'"));
}

/* IPv6 underlay forms (docs/configuration.md "Addresses"): bind takes
 * [v6]:port, a bare v6 or ::; advertise a v6 address (canonical text kept:
 * peers compare it); join [v6]:port or a bare v6 (default port). */
static void
test_ipv6_forms (void **state)
{
    shed_config_t cfg;
    char err[256] = "";
    assert_int_equal (s_load (&cfg,
                              "name: six\n"
                              "bind: \"[FD00:5ED:0::11]:7950\"\n"
                              "advertise: \"fd00:05ed::11\"\n"
                              "join:\n"
                              "  - \"[fd00:5ed::12]:8000\"\n"
                              "  - fd00:5ed::13\n"
                              "  - 198.18.0.14\n",
                              err, sizeof err),
                      0);
    assert_string_equal (cfg.bind_addr, "fd00:5ed::11");
    assert_int_equal (cfg.bind_port, 7950);
    assert_string_equal (cfg.advertise_addr, "fd00:5ed::11");
    assert_int_equal (cfg.njoin, 3);
    assert_string_equal (cfg.join[0], "[fd00:5ed::12]:8000");
    assert_string_equal (cfg.join[1], "[fd00:5ed::13]:7946");
    assert_string_equal (cfg.join[2], "198.18.0.14:7946");
    /* A bare v6 bind keeps the port; :: is the dual-stack wildcard. */
    assert_int_equal (shed_config_set (&cfg, "bind", "::", err, sizeof err), 0);
    assert_string_equal (cfg.bind_addr, "::");
    assert_int_equal (cfg.bind_port, 7950);
    assert_int_equal (shed_config_set (&cfg, "bind", "[::]:7000", err, sizeof err), 0);
    assert_int_equal (cfg.bind_port, 7000);
    assert_int_equal (shed_config_set (&cfg, "advertise", "[fd00:5ed::2]", err, sizeof err), 0);
    assert_string_equal (cfg.advertise_addr, "fd00:5ed::2");
    /* Refused, each with the value quoted. */
    const char *bad[][2] = {
        { "bind", "[fd00::1" },     { "bind", "[198.18.0.1]:7" }, { "bind", "ff02::1" },
        { "bind", "[fd00::1]:0" },  { "bind", "fe80::1%eth0" },   { "advertise", "::" },
        { "advertise", "0.0.0.0" }, { "advertise", "ff02::1" },   { "advertise", "fd00::1:x" },
        { "join", "[fd00::1]:x" },  { "join", "[fd00::1]x" },
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        err[0] = '\0';
        if (shed_config_set (&cfg, bad[i][0], bad[i][1], err, sizeof err) == 0
            || !strstr (err, bad[i][1]))
            fail_msg ("%s '%s' accepted or unquoted: '%s'", bad[i][0], bad[i][1], err);
    }
}

/* The IPv6 default route's interface from /proc/net/ipv6_route: up, ::/0,
 * lowest metric; lo's unreachable default never counts. */
static void
test_route6_iface (void **state)
{
    const char *route = "00000000000000000000000000000000 00 00000000000000000000000000000000 00 "
                        "fd0005ed000000000000000000000001 00000400 00000001 00000000 00000003 "
                        "eth1\n"
                        "fd0005ed000000000000000000000000 40 00000000000000000000000000000000 00 "
                        "00000000000000000000000000000000 00000100 00000001 00000000 00000001 "
                        "eth0\n"
                        "00000000000000000000000000000000 00 00000000000000000000000000000000 00 "
                        "fd0005ed000000000000000000000002 00000100 00000001 00000000 00000003 "
                        "eth2\n"
                        "00000000000000000000000000000000 00 00000000000000000000000000000000 00 "
                        "00000000000000000000000000000000 00000000 00000001 00000000 00200200 "
                        "lo\n";
    char ifname[16];
    assert_int_equal (shed_netaddr_route6_iface (route, ifname), 0);
    assert_string_equal (ifname, "eth2");
    const char *none = "fd0005ed000000000000000000000000 40 00000000000000000000000000000000 00 "
                       "00000000000000000000000000000000 00000100 00000001 00000000 00000001 "
                       "eth0\n"
                       "00000000000000000000000000000000 00 00000000000000000000000000000000 00 "
                       "00000000000000000000000000000000 00000000 00000001 00000000 00200200 "
                       "lo\n";
    assert_int_equal (shed_netaddr_route6_iface (none, ifname), -1);
    assert_true (shed_netaddr_is_local ("::1"));
    assert_false (shed_netaddr_is_local ("fd00:5ed:ffff::77"));
}

/* --check-config refuses an advertise of a family the bind cannot serve;
 * :: serves both. */
static void
test_advertise_family (void **state)
{
    shed_config_t cfg;
    char err[512] = "";
    shed_config_defaults (&cfg);
    assert_int_equal (shed_config_set (&cfg, "bind", "127.0.0.1", err, sizeof err), 0);
    assert_int_equal (shed_config_set (&cfg, "advertise", "::1", err, sizeof err), 0);
    assert_int_equal (shed_netaddr_resolve (&cfg, err, sizeof err), -1);
    assert_non_null (strstr (err, "advertise address ::1 is IPv6 but bind 127.0.0.1 is IPv4"));
    assert_int_equal (shed_config_set (&cfg, "bind", "::", err, sizeof err), 0);
    assert_int_equal (shed_netaddr_resolve (&cfg, err, sizeof err), 0);
    assert_int_equal (shed_config_set (&cfg, "advertise", "127.0.0.1", err, sizeof err), 0);
    assert_int_equal (shed_netaddr_resolve (&cfg, err, sizeof err), 0);
    assert_int_equal (shed_config_set (&cfg, "bind", "::1", err, sizeof err), 0);
    assert_int_equal (shed_netaddr_resolve (&cfg, err, sizeof err), -1);
    assert_non_null (strstr (err, "is IPv4 but bind ::1 is IPv6"));
}

static void
test_dns (void **state)
{
    shed_config_t cfg;
    char err[256] = "";
    shed_config_defaults (&cfg);
    assert_true (cfg.dns.enabled);
    assert_string_equal (cfg.dns.addr, "127.0.0.1:8600");
    assert_string_equal (cfg.dns.domain, "shed");
    assert_int_equal (cfg.dns.ttl_s, 0);
    assert_int_equal (cfg.dns.neg_ttl_s, 0);
    assert_true (cfg.dns.shed_listen);
    assert_int_equal (cfg.dns.shed_port, 53);
    assert_int_equal (cfg.dns.shed_rate_qps, 500);
    assert_int_equal (cfg.dns.shed_rate_burst, 1000);
    const char *text = "dns:\n"
                       "  enabled: false\n"
                       "  addr: 198.18.0.11:53\n"
                       "  domain: cluster.example\n"
                       "  ttl_s: 5\n"
                       "  neg_ttl_s: 2\n"
                       "  shed_listen: false\n"
                       "  shed_port: 5353\n"
                       "  shed_rate_qps: 0\n"
                       "  shed_rate_burst: 7\n";
    assert_int_equal (s_load (&cfg, text, err, sizeof err), 0);
    assert_false (cfg.dns.enabled);
    assert_string_equal (cfg.dns.addr, "198.18.0.11:53");
    assert_string_equal (cfg.dns.domain, "cluster.example");
    assert_int_equal (cfg.dns.ttl_s, 5);
    assert_int_equal (cfg.dns.neg_ttl_s, 2);
    assert_false (cfg.dns.shed_listen);
    assert_int_equal (cfg.dns.shed_port, 5353);
    assert_int_equal (cfg.dns.shed_rate_qps, 0);
    assert_int_equal (cfg.dns.shed_rate_burst, 7);
    /* IPv6 and an ephemeral port (tests) are fine, as the flat key form. */
    assert_int_equal (shed_config_set (&cfg, "dns.addr", "[::1]:0", err, sizeof err), 0);
    assert_string_equal (cfg.dns.addr, "[::1]:0");
    assert_int_equal (shed_config_set (&cfg, "dns.domain", "x-1.shed", err, sizeof err), 0);
}

static void
test_metrics (void **state)
{
    shed_config_t cfg;
    char err[256] = "";
    shed_config_defaults (&cfg);
    assert_true (cfg.metrics.enabled);
    assert_string_equal (cfg.metrics.listen, "127.0.0.1:7951");
    assert_false (cfg.metrics.explicit_listen);
    /* An address from the file is explicit (a failed bind stops the node). */
    assert_int_equal (s_load (&cfg, "metrics:\n  listen: 198.18.0.11:9100\n", err, sizeof err), 0);
    assert_string_equal (cfg.metrics.listen, "198.18.0.11:9100");
    assert_true (cfg.metrics.explicit_listen);
    /* "" turns the endpoint off, as the flow mapping in the docs says. */
    assert_int_equal (s_load (&cfg, "metrics: {listen: \"\"}\n", err, sizeof err), 0);
    assert_string_equal (cfg.metrics.listen, "");
    assert_true (cfg.metrics.enabled);
    assert_int_equal (s_load (&cfg, "metrics:\n  enabled: false\n", err, sizeof err), 0);
    assert_false (cfg.metrics.enabled);
    assert_false (cfg.metrics.explicit_listen);
    /* The command line (--metrics-listen) sets the same key. */
    shed_config_defaults (&cfg);
    assert_int_equal (shed_config_set (&cfg, "metrics.listen", "[::1]:0", err, sizeof err), 0);
    assert_string_equal (cfg.metrics.listen, "[::1]:0");
    assert_true (cfg.metrics.explicit_listen);
    assert_int_not_equal (shed_config_set (&cfg, "metrics.listen", "7951", err, sizeof err), 0);
    assert_non_null (strstr (err, "key 'metrics.listen'"));
    assert_string_equal (cfg.metrics.listen, "[::1]:0");
}

/* The remote API (docs/api.md): off by default; "" is off; plain HTTP only
 * on loopback; TLS needs both files; the timeout is a duration. */
static void
test_http (void **state)
{
    (void) state;
    shed_config_t cfg;
    char err[256] = "";
    shed_config_defaults (&cfg);
    assert_string_equal (cfg.http.listen, "");
    assert_int_equal (cfg.http.max_body_bytes, 1u << 20);
    assert_int_equal (shed_config_finish (&cfg, err, sizeof err), 0);
    const char *ok[] = {
        "http:\n  listen: 127.0.0.1:8080\n",
        "http:\n  listen: \"[::1]:8080\"\n",
        "http:\n  listen: \"\"\n",
        "http:\n  listen: 198.18.0.11:8443\n  tls_cert: /c.pem\n  tls_key: /k.pem\n",
        "http:\n  listen: \"[fd00:5ed::1]:8443\"\n  tls_cert: /c.pem\n  tls_key: /k.pem\n",
    };
    for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++) {
        shed_config_defaults (&cfg);
        if (s_load (&cfg, ok[i], err, sizeof err) != 0
            || shed_config_finish (&cfg, err, sizeof err))
            fail_msg ("refused: %s: %s", ok[i], err);
    }
    shed_config_defaults (&cfg);
    assert_int_equal (s_load (&cfg, "http:\n  listen: 198.18.0.11:8080\n", err, sizeof err), 0);
    assert_int_not_equal (shed_config_finish (&cfg, err, sizeof err), 0);
    assert_non_null (strstr (err, "only allowed on a loopback address"));
    shed_config_defaults (&cfg);
    assert_int_equal (s_load (&cfg, "http:\n  listen: \"[::]:8080\"\n", err, sizeof err), 0);
    assert_int_not_equal (shed_config_finish (&cfg, err, sizeof err), 0);
    shed_config_defaults (&cfg);
    assert_int_equal (
        s_load (&cfg, "http:\n  listen: 0.0.0.0:8443\n  tls_cert: /c.pem\n", err, sizeof err), 0);
    assert_int_not_equal (shed_config_finish (&cfg, err, sizeof err), 0);
    assert_non_null (strstr (err, "go together"));
    shed_config_defaults (&cfg);
    assert_int_not_equal (s_load (&cfg, "http:\n  listen: 8443\n", err, sizeof err), 0);
    assert_int_not_equal (s_load (&cfg, "http:\n  max_body_bytes: 10\n", err, sizeof err), 0);
    assert_int_equal (s_load (&cfg, "http:\n  timeout_s: 2m\n", err, sizeof err), 0);
    assert_int_equal (cfg.http.timeout_s, 120);
}

static void
test_hostport (void **state)
{
    char host[64];
    uint16_t port;
    assert_int_equal (shed_parse_hostport ("a:1", host, sizeof host, &port, 9), 0);
    assert_int_equal (port, 1);
    assert_int_equal (shed_parse_hostport ("a", host, sizeof host, &port, 9), 0);
    assert_int_equal (port, 9);
    assert_int_not_equal (shed_parse_hostport (":1", host, sizeof host, &port, 9), 0);
    assert_int_not_equal (shed_parse_hostport ("a:", host, sizeof host, &port, 9), 0);
    assert_int_not_equal (shed_parse_hostport ("a:x", host, sizeof host, &port, 9), 0);
}

static void
test_network (void **state)
{
    shed_config_t cfg;
    char err[256] = "";
    shed_config_defaults (&cfg);
    assert_true (cfg.network.enabled);
    assert_string_equal (cfg.network.mode, "encrypted");
    assert_string_equal (cfg.network.cidr, "198.19.0.0/16");
    assert_int_equal (cfg.network.block_prefix, 24);
    assert_string_equal (cfg.network.bridge, "shbr0");
    assert_int_equal (cfg.network.port, 0);
    assert_int_equal (cfg.network.mtu, 0);
    assert_false (cfg.network.nat);
    const char *text = "network:\n"
                       "  mode: plain\n"
                       "  cidr: 10.20.0.0/14\n"
                       "  block_prefix: 26\n"
                       "  vni: 77\n"
                       "  bridge: shbr12345\n"
                       "  device: shvx12345\n"
                       "  mtu: 1400\n"
                       "  underlay_mtu: 9000\n"
                       "  nat: on\n"
                       "  port: 8000\n";
    assert_int_equal (s_load (&cfg, text, err, sizeof err), 0);
    assert_string_equal (cfg.network.mode, "plain");
    assert_string_equal (cfg.network.cidr, "10.20.0.0/14");
    assert_int_equal (cfg.network.block_prefix, 26);
    assert_int_equal (cfg.network.vni, 77);
    assert_string_equal (cfg.network.bridge, "shbr12345");
    assert_string_equal (cfg.network.device, "shvx12345");
    assert_int_equal (cfg.network.mtu, 1400);
    assert_int_equal (cfg.network.underlay_mtu, 9000);
    assert_true (cfg.network.nat);
    assert_int_equal (cfg.network.port, 8000);

    assert_int_equal (s_load (&cfg, "network:\n  mode: fast\n", err, sizeof err), -1);
    assert_non_null (strstr (err, "network.mode"));
    assert_int_equal (s_load (&cfg, "network:\n  cidr: 198.19.0.1/16\n", err, sizeof err), -1);
    assert_non_null (strstr (err, "host bits"));
    assert_int_equal (s_load (&cfg, "network:\n  cidr: 198.19.0.0/31\n", err, sizeof err), -1);
    assert_int_equal (s_load (&cfg, "network:\n  bridge: a-very-long-bridge\n", err, sizeof err),
                      -1);
    assert_non_null (strstr (err, "interface name"));
    assert_int_equal (s_load (&cfg, "network:\n  vni: 16777216\n", err, sizeof err), -1);
    assert_int_equal (s_load (&cfg, "network:\n  block_prefix: 31\n", err, sizeof err), -1);
    assert_int_equal (shed_config_set (&cfg, "network.bridge", "br/x", err, sizeof err), -1);
    assert_int_equal (shed_config_set (&cfg, "network.enabled", "false", err, sizeof err), 0);
    assert_false (cfg.network.enabled);
}

static void
test_sched (void **state)
{
    shed_config_t cfg;
    char err[256] = "";
    shed_config_defaults (&cfg);
    assert_string_equal (cfg.resources.cpus, ""); /* detected */
    assert_string_equal (cfg.scheduler.strategy, "binpack");
    assert_true (cfg.scheduler.overcommit_memory == 1.0);
    assert_int_equal (cfg.scheduler.max_attempts, 3);
    assert_string_equal (cfg.driver.default_driver, "auto");
    const char *text = "resources:\n"
                       "  cpus: 1500m\n"
                       "  memory: 4G\n"
                       "  disk: 20480\n"
                       "  gpus: 2\n"
                       "  reserved_memory: 512M\n"
                       "scheduler:\n"
                       "  overcommit_memory: 1.5\n"
                       "  strategy: spread\n"
                       "  max_attempts: 5\n"
                       "driver:\n"
                       "  default: netns\n"
                       "  cgroup_parent: shed-test\n"
                       "  agent_path: /usr/local/bin/shed-agent\n";
    assert_int_equal (s_load (&cfg, text, err, sizeof err), 0);
    assert_string_equal (cfg.resources.cpus, "1500m");
    assert_string_equal (cfg.resources.memory, "4G");
    assert_int_equal (cfg.resources.gpus, 2);
    assert_true (cfg.scheduler.overcommit_memory == 1.5);
    assert_string_equal (cfg.scheduler.strategy, "spread");
    assert_int_equal (cfg.scheduler.max_attempts, 5);
    assert_string_equal (cfg.driver.cgroup_parent, "shed-test");
    assert_int_equal (s_load (&cfg, "resources:\n  memory: lots\n", err, sizeof err), -1);
    assert_non_null (strstr (err, "resources.memory"));
    assert_int_equal (s_load (&cfg, "resources:\n  cpus: -1\n", err, sizeof err), -1);
    assert_int_equal (s_load (&cfg, "scheduler:\n  strategy: random\n", err, sizeof err), -1);
    assert_non_null (strstr (err, "binpack or spread"));
    assert_int_equal (s_load (&cfg, "scheduler:\n  overcommit_cpu: 0.5\n", err, sizeof err), -1);
    assert_int_equal (s_load (&cfg, "driver:\n  default: docker\n", err, sizeof err), -1);
    assert_int_equal (shed_config_set (&cfg, "driver.shed_server_url", "ftp://x", err, sizeof err),
                      -1);
    assert_int_equal (
        shed_config_set (&cfg, "driver.shed_server_url", "http://127.0.0.1:8080", err, sizeof err),
        0);
    /* Shed's create may take minutes: 10 min unless set, 1 s to 1 h. */
    assert_int_equal (cfg.driver.shed_server_timeout_ms, 600000);
    assert_int_equal (s_load (&cfg,
                              "driver:\n  shed_server_timeout_ms: 15m\n"
                              "  shed_server_token_file: /etc/shed/shed-token\n",
                              err, sizeof err),
                      0);
    assert_int_equal (cfg.driver.shed_server_timeout_ms, 900000);
    assert_string_equal (cfg.driver.shed_server_token_file, "/etc/shed/shed-token");
    assert_int_equal (
        shed_config_set (&cfg, "driver.shed_server_timeout_ms", "500ms", err, sizeof err), -1);
    assert_int_equal (
        shed_config_set (&cfg, "driver.shed_server_timeout_ms", "2h", err, sizeof err), -1);
    assert_int_equal (shed_config_set (&cfg, "resources.cpus", "8", err, sizeof err), 0);
    assert_string_equal (cfg.resources.cpus, "8");
}

/* Limits and agent config every shed of the node gets (driver.*). */
static void
test_driver_limits (void **state)
{
    shed_config_t cfg;
    char err[256] = "";
    shed_config_defaults (&cfg);
    assert_int_equal (cfg.driver.pids_max, 4096);
    assert_string_equal (cfg.driver.net_rate, "");
    assert_string_equal (cfg.driver.io_read_bps, "");
    assert_string_equal (cfg.driver.agent_config, "");
    const char *text = "driver:\n"
                       "  pids_max: 64\n"
                       "  io_read_bps: 50M\n"
                       "  io_write_bps: 10M\n"
                       "  net_rate: 100mbit\n"
                       "  agent_config: /etc/shed/agent.yaml\n";
    assert_int_equal (s_load (&cfg, text, err, sizeof err), 0);
    assert_int_equal (cfg.driver.pids_max, 64);
    assert_string_equal (cfg.driver.io_read_bps, "50M");
    assert_string_equal (cfg.driver.io_write_bps, "10M");
    assert_string_equal (cfg.driver.net_rate, "100mbit");
    assert_string_equal (cfg.driver.agent_config, "/etc/shed/agent.yaml");
    assert_int_equal (shed_config_set (&cfg, "driver.pids_max", "0", err, sizeof err), 0);
    assert_int_equal (shed_config_set (&cfg, "driver.net_rate", "0", err, sizeof err), 0);
    /* A bare number would be bits for tc and kbit for net_kbit: refused. */
    assert_int_equal (s_load (&cfg, "driver:\n  net_rate: 1000\n", err, sizeof err), -1);
    assert_non_null (strstr (err, "driver.net_rate"));
    assert_non_null (strstr (err, "100mbit"));
    assert_int_equal (s_load (&cfg, "driver:\n  net_rate: fast\n", err, sizeof err), -1);
    assert_int_equal (s_load (&cfg, "driver:\n  io_read_bps: quick\n", err, sizeof err), -1);
    assert_non_null (strstr (err, "driver.io_read_bps"));
    assert_int_equal (s_load (&cfg, "driver:\n  pids_max: 5000000\n", err, sizeof err), -1);
    assert_int_equal (s_load (&cfg, "driver:\n  agent_config: \"\"\n", err, sizeof err), -1);
}

static void
test_hooks_agents (void **state)
{
    shed_config_t cfg;
    char err[256] = "";
    const char *text = "hooks:\n"
                       "  - event: proc.\n"
                       "    command: /usr/local/bin/on-proc\n"
                       "  - {event: \"member.\", command: \"logger -t shed\", timeout_ms: 5000}\n"
                       "hooks_concurrency: 2\n"
                       "agents:\n"
                       "  metrics_interval_ms: 1000\n"
                       "  log_lines: 50\n";
    assert_int_equal (s_load (&cfg, text, err, sizeof err), 0);
    assert_int_equal (cfg.nhooks, 2);
    assert_string_equal (cfg.hooks[0].event, "proc.");
    assert_string_equal (cfg.hooks[0].command, "/usr/local/bin/on-proc");
    assert_int_equal (cfg.hooks[0].timeout_ms, 0);
    assert_string_equal (cfg.hooks[1].event, "member.");
    assert_int_equal (cfg.hooks[1].timeout_ms, 5000);
    assert_int_equal (cfg.hooks_concurrency, 2);
    assert_int_equal (cfg.hooks_queue, 64);
    assert_int_equal (cfg.agents.metrics_interval_ms, 1000);
    assert_int_equal (cfg.agents.log_lines, 50);

    /* Errors name the line and the field. */
    assert_int_equal (s_load (&cfg, "name: a\nhooks:\n  - event: proc.\n", err, sizeof err), -1);
    assert_string_equal (err, "test.yaml:3: key 'hooks': a hook needs event and command");
    assert_int_equal (s_load (&cfg, "hooks:\n  - {event: a., cmd: x}\n", err, sizeof err), -1);
    assert_non_null (strstr (err, "test.yaml:2: key 'hooks': unknown hook field 'cmd'"));
    assert_int_equal (s_load (&cfg, "hooks: /bin/true\n", err, sizeof err), -1);
    assert_non_null (strstr (err, "test.yaml:1: key 'hooks': expected a list"));
    assert_int_equal (s_load (&cfg, "hooks:\n  - proc.\n", err, sizeof err), -1);
    assert_non_null (strstr (err, "test.yaml:2: key 'hooks': list items must be"));
    assert_int_equal (
        s_load (&cfg, "hooks:\n  - {event: p, command: x, timeout_ms: 5}\n", err, sizeof err), -1);
    assert_non_null (strstr (err, "timeout_ms"));
    assert_int_equal (s_load (&cfg, "hooks:\n  - {event: \"a b\", command: x}\n", err, sizeof err),
                      -1);
    assert_non_null (strstr (err, "not a topic prefix"));
    assert_int_equal (s_load (&cfg, "agents:\n  metrics_interval_ms: 5\n", err, sizeof err), -1);
    assert_non_null (strstr (err, "agents.metrics_interval_ms"));
    assert_int_equal (s_load (&cfg, "agents:\n  colour: red\n", err, sizeof err), -1);
    assert_non_null (strstr (err, "unknown key 'agents.colour'"));

    /* Command line: PREFIX=COMMAND, appended. */
    shed_config_defaults (&cfg);
    assert_int_equal (shed_config_set (&cfg, "hooks", "shed.=echo hi", err, sizeof err), 0);
    assert_int_equal (cfg.nhooks, 1);
    assert_string_equal (cfg.hooks[0].event, "shed.");
    assert_string_equal (cfg.hooks[0].command, "echo hi");
    assert_int_equal (shed_config_set (&cfg, "hooks", "no-equals", err, sizeof err), -1);
    assert_int_equal (shed_config_set (&cfg, "agents.log_lines", "10", err, sizeof err), 0);
    assert_int_equal (cfg.agents.log_lines, 10);
}

/* state.tombstone_ttl_s: how long a delete is remembered (node_state.c
 * hands it to the links actor in ms). */
static void
test_state (void **state)
{
    shed_config_t cfg;
    char err[256] = "";
    shed_config_defaults (&cfg);
    assert_int_equal (cfg.state.tombstone_ttl_s, 3600);
    assert_int_equal (s_load (&cfg, "state:\n  tombstone_ttl_s: 86400\n", err, sizeof err), 0);
    assert_int_equal (cfg.state.tombstone_ttl_s, 86400);
    assert_int_equal (s_load (&cfg, "state: {tombstone_ttl_s: 1}\n", err, sizeof err), 0);
    assert_int_equal (cfg.state.tombstone_ttl_s, 1);
    assert_int_equal (s_load (&cfg, "state:\n  tombstone_ttl_s: 31536000\n", err, sizeof err), 0);
    assert_int_equal (cfg.state.tombstone_ttl_s, 31536000);
    assert_int_equal (shed_config_set (&cfg, "state.tombstone_ttl_s", "120", err, sizeof err), 0);
    assert_int_equal (cfg.state.tombstone_ttl_s, 120);
    static const struct {
        const char *text, *expect;
    } bad[] = {
        { "state:\n  tombstone_ttl_s: 0\n",
          "test.yaml:2: key 'state.tombstone_ttl_s': 0 is outside 1s..365d" },
        { "state:\n  tombstone_ttl_s: 31536001\n",
          "key 'state.tombstone_ttl_s': 31536001 is outside" },
        { "state:\n  tombstone_ttl_s: 1x\n",
          "key 'state.tombstone_ttl_s': invalid duration '1x': use a number with a unit: 500ms, "
          "5s, 2m, 1h (a bare number is seconds)" },
        { "state:\n  tombstone_ttl_s: -5\n", "key 'state.tombstone_ttl_s': invalid duration" },
        { "state:\n  tombstone_ttl: 60\n", "test.yaml:2: unknown key 'state.tombstone_ttl'" },
        { "state: 60\n", "unknown key 'state'" },
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        err[0] = '\0';
        int rc = s_load (&cfg, bad[i].text, err, sizeof err);
        if (rc == 0 || !strstr (err, bad[i].expect))
            fail_msg ("case %zu: rc=%d err='%s' expected '%s'", i, rc, err, bad[i].expect);
    }
}

/* Duration keys take units ("1s", "1m30s", "2m"); a bare number keeps the
 * unit the key's name says (docs/configuration.md, "Durations"). */
static void
test_durations (void **state)
{
    (void) state;
    shed_config_t cfg;
    char err[256] = "";
    shed_config_defaults (&cfg);
    assert_int_equal (s_load (&cfg,
                              "gossip:\n"
                              "  probe_interval_ms: 1s\n"
                              "  pushpull_interval_ms: 1m30s\n"
                              "  reap_dead_s: 2h\n"
                              "dns:\n"
                              "  ttl_s: 2m\n"
                              "  neg_ttl_s: 30\n"
                              "scheduler:\n"
                              "  claim_timeout_ms: 45s\n"
                              "hooks_timeout_ms: 1.5s\n"
                              "hooks:\n"
                              "  - {event: a., command: x, timeout_ms: 2m}\n"
                              "  - {event: b., command: y, timeout_ms: 250}\n",
                              err, sizeof err),
                      0);
    assert_int_equal (cfg.gossip.probe_interval_ms, 1000);
    assert_int_equal (cfg.gossip.pushpull_interval_ms, 90000);
    assert_int_equal (cfg.gossip.reap_dead_s, 7200);
    assert_int_equal (cfg.dns.ttl_s, 120);
    assert_int_equal (cfg.dns.neg_ttl_s, 30);
    assert_int_equal (cfg.scheduler.claim_timeout_ms, 45000);
    assert_int_equal (cfg.hooks_timeout_ms, 1500);
    assert_int_equal (cfg.hooks[0].timeout_ms, 120000);
    assert_int_equal (cfg.hooks[1].timeout_ms, 250);
    /* the command line goes through the same checks */
    assert_int_equal (shed_config_set (&cfg, "gossip.probe_interval_ms", "750ms", err, sizeof err),
                      0);
    assert_int_equal (cfg.gossip.probe_interval_ms, 750);
    assert_int_equal (shed_config_set (&cfg, "agents.heartbeat_ms", "2", err, sizeof err), -1);
    assert_non_null (strstr (err, "2 is outside 100ms..10m"));
    assert_int_equal (shed_config_set (&cfg, "scheduler.name_ttl_s", "1m", err, sizeof err), 0);
    assert_int_equal (cfg.scheduler.name_ttl_s, 60);
    assert_int_equal (
        s_load (&cfg, "hooks:\n  - {event: p, command: x, timeout_ms: 5x}\n", err, sizeof err), -1);
    assert_non_null (strstr (err, "key 'hooks.timeout_ms': invalid duration '5x'"));
}

/* The local API has no authentication: only an ipc socket (0600, in the
 * data dir) may carry it, from the file and from --api alike. */
static void
test_api_endpoint (void **state)
{
    shed_config_t cfg;
    char err[256] = "";
    assert_int_equal (s_load (&cfg, "api: ipc:///run/shed/api.sock\n", err, sizeof err), 0);
    assert_string_equal (cfg.api_endpoint, "ipc:///run/shed/api.sock");
    assert_int_equal (shed_config_finish (&cfg, err, sizeof err), 0);
    assert_string_equal (cfg.api_endpoint, "ipc:///run/shed/api.sock");
    static const char *refused[] = { "tcp://127.0.0.1:7950",
                                     "tcp://*:7950",
                                     "ws://0.0.0.0:80",
                                     "inproc://api",
                                     "ipc://",
                                     "IPC:///x",
                                     " ipc:///x" };
    for (size_t i = 0; i < sizeof refused / sizeof refused[0]; i++) {
        char text[128];
        snprintf (text, sizeof text, "name: n1\napi: \"%s\"\n", refused[i]);
        err[0] = '\0';
        if (s_load (&cfg, text, err, sizeof err) == 0)
            fail_msg ("api '%s' was accepted", refused[i]);
        if (!strstr (err, "test.yaml:2: key 'api': expected an ipc:///path endpoint"))
            fail_msg ("api '%s': err='%s'", refused[i], err);
        assert_null (strchr (err, '\n'));
        assert_int_not_equal (shed_config_set (&cfg, "api", refused[i], err, sizeof err), 0);
        assert_non_null (strstr (err, "key 'api': expected an ipc:///path endpoint"));
    }
    /* An abstract socket (ipc://@name) has no file, so no mode: any local
     * user could connect. Refused with its own reason. */
    static const char *abstract[] = { "ipc://@shed-api", "ipc://@" };
    for (size_t i = 0; i < sizeof abstract / sizeof abstract[0]; i++) {
        char text[128];
        snprintf (text, sizeof text, "name: n1\napi: \"%s\"\n", abstract[i]);
        err[0] = '\0';
        if (s_load (&cfg, text, err, sizeof err) == 0)
            fail_msg ("api '%s' was accepted", abstract[i]);
        if (!strstr (err, "test.yaml:2: key 'api': abstract ipc socket"))
            fail_msg ("api '%s': err='%s'", abstract[i], err);
        assert_null (strchr (err, '\n'));
        assert_int_not_equal (shed_config_set (&cfg, "api", abstract[i], err, sizeof err), 0);
        assert_non_null (strstr (err, "key 'api': abstract ipc socket"));
    }
    /* "" keeps the default, derived from data_dir. */
    assert_int_equal (s_load (&cfg, "api: \"\"\ndata_dir: /tmp/d\n", err, sizeof err), 0);
    assert_int_equal (shed_config_finish (&cfg, err, sizeof err), 0);
    assert_string_equal (cfg.api_endpoint, "ipc:///tmp/d/api.sock");
}

/* A key made for these tests: 32 bytes of 0x01, base64. */
#define TEST_KEY "AQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQE="

/* Write `text` to a fresh temp file with `mode`; the path goes to `path`. */
static void
s_key_file (char *path, size_t cap, const char *text, mode_t mode)
{
    snprintf (path, cap, "/tmp/shed-config-key-XXXXXX");
    int fd = mkstemp (path);
    assert_true (fd >= 0);
    assert_int_equal (write (fd, text, strlen (text)), (ssize_t) strlen (text));
    assert_int_equal (fchmod (fd, mode), 0);
    close (fd);
}

static void
s_expect_key_file_error (const char *path, const char *needle)
{
    shed_config_t cfg;
    char err[512] = "";
    shed_config_defaults (&cfg);
    if (shed_config_set (&cfg, "encrypt_key_file", path, err, sizeof err) == 0)
        fail_msg ("%s was accepted (want \"%s\")", path, needle);
    if (!strstr (err, needle) || !strstr (err, "key 'encrypt_key_file'"))
        fail_msg ("%s: want \"%s\", got \"%s\"", path, needle, err);
    assert_null (strchr (err, '\n'));
    assert_string_equal (cfg.encrypt_key, "");
}

/* --encrypt-file / encrypt_key_file: the cluster key from a file nobody
 * else can read or have written, so it never shows in ps. */
static void
test_encrypt_key_file (void **state)
{
    shed_config_t cfg;
    char err[512] = "", path[PATH_MAX], text[PATH_MAX + 64];
    s_key_file (path, sizeof path, TEST_KEY "\n", 0600);
    shed_config_defaults (&cfg);
    assert_int_equal (shed_config_set (&cfg, "encrypt_key_file", path, err, sizeof err), 0);
    assert_string_equal (cfg.encrypt_key, TEST_KEY);
    /* From the YAML file too. */
    snprintf (text, sizeof text, "name: n1\nencrypt_key_file: %s\n", path);
    assert_int_equal (s_load (&cfg, text, err, sizeof err), 0);
    assert_string_equal (cfg.encrypt_key, TEST_KEY);
    /* Stricter than 0600 is fine. */
    assert_int_equal (chmod (path, 0400), 0);
    shed_config_defaults (&cfg);
    assert_int_equal (shed_config_set (&cfg, "encrypt_key_file", path, err, sizeof err), 0);
    assert_string_equal (cfg.encrypt_key, TEST_KEY);
    /* Readable or writable by group or others: refused. */
    assert_int_equal (chmod (path, 0644), 0);
    s_expect_key_file_error (path, "mode 0644, expected 0600 or stricter");
    assert_int_equal (chmod (path, 0620), 0);
    s_expect_key_file_error (path, "mode 0620");
    assert_int_equal (chmod (path, 0700), 0);
    s_expect_key_file_error (path, "mode 0700");
    snprintf (text, sizeof text, "name: n1\nencrypt_key_file: %s\n", path);
    assert_int_not_equal (s_load (&cfg, text, err, sizeof err), 0);
    assert_non_null (strstr (err, "test.yaml:2: key 'encrypt_key_file'"));
    /* Owned by another user: refused whatever the mode (needs root). */
    assert_int_equal (chmod (path, 0600), 0);
    if (geteuid () == 0) {
        assert_int_equal (chown (path, 54321, 54321), 0);
        s_expect_key_file_error (path, "owned by uid 54321");
        assert_int_equal (chown (path, 0, 0), 0);
    }
    unlink (path);
    s_expect_key_file_error (path, "No such file");
    /* Not a key, or a key with more after it. */
    s_key_file (path, sizeof path, "not-a-key\n", 0600);
    s_expect_key_file_error (path, "expected a base64 32-byte key");
    unlink (path);
    s_key_file (path, sizeof path, TEST_KEY " " TEST_KEY "\n", 0600);
    s_expect_key_file_error (path, "expected a base64 32-byte key");
    unlink (path);
    s_expect_key_file_error ("/tmp", "not a regular file");
}

/* SHED_ENCRYPT_KEY: read once, then gone from the environment. */
static void
test_encrypt_key_env (void **state)
{
    shed_config_t cfg;
    char err[256] = "";
    shed_config_defaults (&cfg);
    unsetenv (SHED_ENCRYPT_KEY_ENV);
    assert_int_equal (shed_config_key_from_env (&cfg, err, sizeof err), 0);
    assert_string_equal (cfg.encrypt_key, "");

    assert_int_equal (setenv (SHED_ENCRYPT_KEY_ENV, TEST_KEY, 1), 0);
    char *value = getenv (SHED_ENCRYPT_KEY_ENV);
    assert_int_equal (shed_config_key_from_env (&cfg, err, sizeof err), 0);
    assert_string_equal (cfg.encrypt_key, TEST_KEY);
    assert_null (getenv (SHED_ENCRYPT_KEY_ENV));
    (void) value;

    assert_int_equal (setenv (SHED_ENCRYPT_KEY_ENV, "bad", 1), 0);
    shed_config_defaults (&cfg);
    assert_int_not_equal (shed_config_key_from_env (&cfg, err, sizeof err), 0);
    assert_non_null (strstr (err, SHED_ENCRYPT_KEY_ENV ": expected a base64 32-byte key"));
    assert_null (strstr (err, "bad"));
    assert_null (getenv (SHED_ENCRYPT_KEY_ENV));
    assert_string_equal (cfg.encrypt_key, "");
}

/* The --encrypt argument is overwritten in place, so /proc/PID/cmdline (and
 * ps) no longer shows it; its length and its neighbours stay. */
static void
test_wipe_arg (void **state)
{
    char args[] = "--encrypt\0" TEST_KEY "\0--name";
    char *key = args + strlen ("--encrypt") + 1;
    shed_config_wipe_arg (key);
    assert_string_equal (args, "--encrypt");
    assert_int_equal (strlen (key), strlen (TEST_KEY));
    assert_null (strstr (key, "AQEB"));
    assert_int_equal (strspn (key, "x"), strlen (TEST_KEY));
    assert_string_equal (key + strlen (key) + 1, "--name");
    char eq[] = "--encrypt=" TEST_KEY;
    shed_config_wipe_arg (strchr (eq, '=') + 1);
    assert_string_equal (eq, "--encrypt=xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx");
    shed_config_wipe_arg (NULL);
}

/* --check-config: every bad value is reported with its line, the walk
 * goes on past them, and a broken structure ends it as the last error. */
typedef struct {
    char lines[8][300];
    size_t n;
} s_errors_t;

static void
s_collect (const char *error, void *arg)
{
    s_errors_t *e = arg;
    if (e->n < 8)
        snprintf (e->lines[e->n++], sizeof e->lines[0], "%s", error);
}

static void
test_check_all_errors (void **state)
{
    const char *text = "name: fine\n"
                       "bind: 0.0.0.0:99999\n"
                       "gossip:\n"
                       "  probe_interval_ms: abc\n"
                       "nope: 1\n"
                       "log_level: debug\n"
                       "tags:\n"
                       "  rack: r1\n";
    shed_config_t cfg;
    shed_config_defaults (&cfg);
    s_errors_t e = { .n = 0 };
    assert_int_equal (shed_config_check_buffer (&cfg, text, strlen (text), "c.yaml", s_collect, &e),
                      3);
    assert_int_equal (e.n, 3);
    assert_non_null (strstr (e.lines[0], "c.yaml:2: key 'bind'"));
    assert_non_null (strstr (e.lines[1], "c.yaml:4: key 'gossip.probe_interval_ms'"));
    assert_non_null (strstr (e.lines[2], "c.yaml:5: unknown key 'nope'"));
    /* The good keys after the bad ones were still read. */
    assert_int_equal (cfg.log_level, SHED_LOG_DEBUG);
    assert_int_equal (cfg.ntags, 1);

    /* A broken structure: the errors before it, then it. */
    const char *broken = "bind: nonsense\nlog_level: [\n";
    shed_config_defaults (&cfg);
    e.n = 0;
    assert_int_equal (
        shed_config_check_buffer (&cfg, broken, strlen (broken), "b.yaml", s_collect, &e), 2);
    assert_non_null (strstr (e.lines[0], "b.yaml:1: key 'bind'"));
    assert_non_null (strstr (e.lines[1], "b.yaml:"));

    /* A good file: no error; a start (load_buffer) still stops at the first. */
    const char *good = "name: n1\nbind: 127.0.0.1:7000\n";
    shed_config_defaults (&cfg);
    e.n = 0;
    assert_int_equal (shed_config_check_buffer (&cfg, good, strlen (good), "g.yaml", s_collect, &e),
                      0);
    char err[256];
    shed_config_defaults (&cfg);
    assert_int_equal (
        shed_config_load_buffer (&cfg, text, strlen (text), "c.yaml", err, sizeof err), -1);
    assert_non_null (strstr (err, "c.yaml:2:"));
}

/* The default route's interface: the lowest metric 0.0.0.0/0 route that
 * is up; none -> -1. */
static void
test_route_iface (void **state)
{
    const char *route = "Iface\tDestination\tGateway \tFlags\tRefCnt\tUse\tMetric\tMask\t\tMTU\t"
                        "Window\tIRTT\n"
                        "eth1\t00000000\t010112C6\t0003\t0\t0\t200\t00000000\t0\t0\t0\n"
                        "eth0\t000012C6\t00000000\t0001\t0\t0\t0\t0000FFFF\t0\t0\t0\n"
                        "eth2\t00000000\t010212C6\t0003\t0\t0\t100\t00000000\t0\t0\t0\n";
    char ifname[16];
    assert_int_equal (shed_netaddr_route_iface (route, ifname), 0);
    assert_string_equal (ifname, "eth2");
    const char *none = "Iface\tDestination\tGateway\n"
                       "eth0\t000012C6\t00000000\t0001\t0\t0\t0\t0000FFFF\t0\t0\t0\n";
    assert_int_equal (shed_netaddr_route_iface (none, ifname), -1);
    assert_true (shed_netaddr_is_local ("127.0.0.5"));
    assert_false (shed_netaddr_is_local ("203.0.113.77"));
    assert_false (shed_netaddr_is_local ("not-an-address"));
}

/* SIGHUP: which keys it applies, which need a restart. */
static void
test_reload_diff (void **state)
{
    shed_config_t *a = malloc (sizeof *a), *b = malloc (sizeof *b);
    assert_non_null (a);
    assert_non_null (b);
    shed_config_defaults (a);
    shed_config_defaults (b);
    char live[256], fixed[256], err[256];
    assert_false (shed_reload_diff (a, b, live, sizeof live, fixed, sizeof fixed));
    assert_int_equal (shed_config_set (b, "log_level", "debug", err, sizeof err), 0);
    assert_int_equal (shed_config_set (b, "tags.rack", "r2", err, sizeof err), 0);
    assert_int_equal (shed_config_set (b, "bind", "127.0.0.1:7000", err, sizeof err), 0);
    assert_int_equal (shed_config_set (b, "gossip.probe_interval_ms", "500", err, sizeof err), 0);
    assert_int_equal (shed_config_set (b, "data_dir", "/tmp/elsewhere", err, sizeof err), 0);
    assert_true (shed_reload_diff (a, b, live, sizeof live, fixed, sizeof fixed));
    assert_string_equal (live, "log_level,tags");
    assert_string_equal (fixed, "bind,data_dir,gossip");
    /* Consumer keys and agent limits are live; the consumer listener is not. */
    shed_config_defaults (b);
    assert_int_equal (shed_config_set (b, "events.consumer_keys", "/etc/shed/c", err, sizeof err),
                      0);
    assert_int_equal (shed_config_set (b, "agents.msgs_per_s", "50", err, sizeof err), 0);
    assert_int_equal (shed_config_set (b, "agents.services_max", "3", err, sizeof err), 0);
    assert_int_equal (
        shed_config_set (b, "events.consumer_listen", "127.0.0.1:7952", err, sizeof err), 0);
    assert_true (shed_reload_diff (a, b, live, sizeof live, fixed, sizeof fixed));
    assert_string_equal (live, "events.consumer_keys,agents");
    assert_string_equal (fixed, "events.consumer_listen");
    free (a);
    free (b);
}

int
main (void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test (test_defaults),
        cmocka_unit_test (test_check_all_errors),
        cmocka_unit_test (test_route_iface),
        cmocka_unit_test (test_reload_diff),
        cmocka_unit_test (test_full_file),
        cmocka_unit_test (test_empty_file),
        cmocka_unit_test (test_errors),
        cmocka_unit_test (test_overrides),
        cmocka_unit_test (test_hostport),
        cmocka_unit_test (test_dns),
        cmocka_unit_test (test_ipv6_forms),
        cmocka_unit_test (test_route6_iface),
        cmocka_unit_test (test_advertise_family),
        cmocka_unit_test (test_network),
        cmocka_unit_test (test_metrics),
        cmocka_unit_test (test_http),
        cmocka_unit_test (test_sched),
        cmocka_unit_test (test_driver_limits),
        cmocka_unit_test (test_hooks_agents),
        cmocka_unit_test (test_api_endpoint),
        cmocka_unit_test (test_state),
        cmocka_unit_test (test_durations),
        cmocka_unit_test (test_encrypt_key_file),
        cmocka_unit_test (test_encrypt_key_env),
        cmocka_unit_test (test_wipe_arg),
    };
    return cmocka_run_group_tests (tests, NULL, NULL);
}
