/*
 * dns_resolve.h - from query bytes and a zone snapshot to response bytes.
 *
 * Pure: no sockets, no clocks, no allocation; the only state is the caller's
 * random-number state used to shuffle answers. The server calls it for every
 * UDP datagram and TCP frame; the fuzzer and the unit tests call it directly.
 *
 * Names served under DOMAIN (see docs/dns.md for the full table):
 *   NAME.service.DOMAIN            A/AAAA of passing+warning instances, SRV
 *   TAG.NAME.service.DOMAIN        the same, only instances tagged TAG
 *   _NAME._tcp.service.DOMAIN      SRV (RFC 2782 form; _TAG instead of _tcp filters)
 *   NODE.node.DOMAIN               A/AAAA of a node
 *   SHED.shed.DOMAIN               A/AAAA of a shed
 *   HEX.addr.DOMAIN                A/AAAA for SRV targets that are neither
 *   DOMAIN                         SOA
 */
#ifndef SHED_DNS_RESOLVE_H
#define SHED_DNS_RESOLVE_H

#include "bridges/dns_msg.h"
#include "bridges/dns_zone.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define DNS_DOMAIN_MAX_WIRE 100 /* so NODE.node.DOMAIN always fits in 255 */
#define DNS_RESOLVE_MAX_ANSWERS                                                                    \
    4096 /* instances considered per query (a TCP answer holds ~4000 A) */
#define DNS_RESOLVE_MAX_EXTRA                                                                      \
    256 /* distinct SRV targets given addresses in the additional section */

/* SOA timers: we never do zone transfers, so these only need to be sane. */
#define DNS_SOA_REFRESH 3600
#define DNS_SOA_RETRY   600
#define DNS_SOA_EXPIRE  86400

typedef struct {
    uint8_t domain[DNS_MAX_NAME]; /* wire form, lowercase */
    size_t domain_len;
    size_t domain_labels;
    uint8_t mname[DNS_MAX_NAME]; /* ns.DOMAIN */
    uint8_t rname[DNS_MAX_NAME]; /* hostmaster.DOMAIN */
    uint32_t ttl;                /* positive answers */
    uint32_t neg_ttl;            /* SOA TTL and MINIMUM on negative answers */
} dns_resolve_config_t;

/* Returns 0, or -1 if the domain is not a valid name of at most
 * DNS_DOMAIN_MAX_WIRE bytes (the root is not allowed). */
int dns_resolve_config_init (dns_resolve_config_t *cfg, const char *domain, uint32_t ttl,
                             uint32_t neg_ttl);

typedef enum {
    DNS_TRANSPORT_UDP = 0,
    DNS_TRANSPORT_TCP = 1,
} dns_transport_t;

typedef struct {
    int rcode;        /* full rcode answered (BADVERS = 16), -1 if dropped */
    bool truncated;   /* TC was set */
    bool malformed;   /* FORMERR or dropped for bad input */
    uint16_t answers; /* records in the answer section */
} dns_resolve_result_t;

/* Answer one query. `out` must hold at least DNS_UDP_MAX bytes for UDP and
 * DNS_TCP_MAX bytes for TCP. `zone` may be NULL (no snapshot published yet:
 * SERVFAIL). `rng` is xorshift state, never 0. Returns the response length,
 * or 0 when the input must be dropped (shorter than a header, or a
 * response rather than a query). */
size_t dns_resolve (const dns_resolve_config_t *cfg, const dns_zone_t *zone, const uint8_t *query,
                    size_t len, dns_transport_t transport, uint8_t *out, size_t out_cap,
                    uint64_t *rng, dns_resolve_result_t *result);

#endif
