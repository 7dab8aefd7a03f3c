/* fuzz_dns.c - libFuzzer target for the DNS bridge: parse arbitrary bytes
 * as a query and, when they parse, answer them against a small fixed zone
 * over both transports, then read the answer back with the reader.
 * Invariants checked: the answer never exceeds the transport limit, always
 * decodes, and echoes the query id. */
#include "bridges/dns_msg.h"
#include "bridges/dns_resolve.h"
#include "bridges/dns_zone.h"

#include <assert.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput (const uint8_t *data, size_t size);

static dns_zone_t *s_zone;
static dns_resolve_config_t s_cfg;
static uint8_t s_out[DNS_TCP_MAX];

static void
s_init (void)
{
    dns_zone_builder_t *zb = dns_zone_builder_new ();
    dns_zone_builder_add_node (zb, "n1", "10.0.0.1");
    dns_zone_builder_add_node (zb, "rack.n2", "fd00::2");
    dns_zone_builder_add_shed (zb, "dev", "10.1.0.1");
    const char *tags[] = { "primary", "v1" };
    for (int i = 0; i < 40; i++) {
        char addr[32];
        snprintf (addr, sizeof addr, i % 3 ? "10.0.1.%d" : "fd00::%d", i + 1);
        dns_zone_builder_add_service_instance (zb,
                                               &(dns_instance_t){ .service = i % 2 ? "web" : "db",
                                                                  .node = i % 4 ? "n1" : "rack.n2",
                                                                  .shed = i % 5 ? NULL : "dev",
                                                                  .address = addr,
                                                                  .port = (uint16_t) (8000 + i),
                                                                  .health = (dns_health_t) (i % 3),
                                                                  .tags = tags,
                                                                  .tag_count = (size_t) (i % 3) });
    }
    s_zone = dns_zone_builder_build (&zb);
    dns_resolve_config_init (&s_cfg, "shed", 0, 1);
}

static void
s_check (const uint8_t *data, size_t size, dns_transport_t tp)
{
    uint64_t rng = 0x9E3779B97F4A7C15ULL;
    dns_resolve_result_t res;
    size_t len = dns_resolve (&s_cfg, s_zone, data, size, tp, s_out, sizeof s_out, &rng, &res);
    if (len == 0)
        return;
    if (tp == DNS_TRANSPORT_UDP && len > DNS_UDP_MAX)
        abort ();
    if (data[0] != s_out[0] || data[1] != s_out[1])
        abort ();
    dns_reader_t r;
    if (dns_reader_init (&r, s_out, len))
        abort ();
    dns_rr_t rr;
    unsigned n = 0;
    while (dns_reader_next (&r, s_out, len, &rr) == 0)
        n++;
    if (n != (unsigned) r.ancount + r.nscount + r.arcount || r.off != len)
        abort ();
}

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
    if (!s_zone)
        s_init ();
    dns_query_t q;
    (void) dns_query_parse (data, size, &q);
    s_check (data, size, DNS_TRANSPORT_UDP);
    s_check (data, size, DNS_TRANSPORT_TCP);
    return 0;
}
