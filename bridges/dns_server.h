/*
 * dns_server.h - the DNS service-discovery listener (UDP and TCP).
 *
 * A czmq actor owns the sockets and answers from the current zone snapshot
 * (dns_zone.h) with dns_resolve(). Publishing a snapshot is wait-free for
 * both sides: dns_server_set_zone() parks the new zone in an atomic slot and
 * the server thread picks it up before the next query it answers, so an
 * answer reflects a change as soon as set_zone returns, and the server
 * never waits for a writer.
 *
 *     dns_server_config_t cfg;
 *     dns_server_config_defaults (&cfg);          // 127.0.0.1:8600, "shed", TTL 0
 *     cfg.addr = "127.0.0.1:0";                   // ephemeral port (tests)
 *     dns_server_t *dns = dns_server_new (&cfg);  // NULL + log line if it cannot bind
 *     dns_server_set_zone (dns, zone);
 *     printf ("port %u\n", dns_server_port (dns));
 *     dns_server_destroy (&dns);
 *
 * Actor commands (on the pipe, for those who hold the zactor): "$TERM".
 */
#ifndef SHED_DNS_SERVER_H
#define SHED_DNS_SERVER_H

#include "bridges/dns_zone.h"
#include "common/histogram.h"

#include <stdint.h>

typedef struct _dns_server_t dns_server_t;

typedef struct {
    const char *addr;       /* dns.addr: "IP:PORT" or "[IPv6]:PORT"; port 0 = ephemeral */
    const char *domain;     /* dns.domain */
    uint32_t ttl_s;         /* dns.ttl_s: TTL of positive answers */
    uint32_t neg_ttl_s;     /* dns.neg_ttl_s: SOA TTL/MINIMUM on negative answers */
    unsigned tcp_max_conns; /* dns.tcp_max_conns: further connections are closed at once */
    unsigned tcp_idle_ms;   /* dns.tcp_idle_ms: idle TCP connections are closed */
    /* For listeners that face untrusted clients (the shed listener,
     * docs/dns.md); all off by default. */
    const char *device;          /* SO_BINDTODEVICE: answer only what arrives on it */
    uint32_t rate_qps;           /* per source address: UDP queries, TCP connections and
                                     * frames per second (0 = unlimited); over it: dropped */
    uint32_t rate_burst;         /* bucket size (0 = 2 x rate_qps) */
    unsigned tcp_max_per_source; /* open TCP connections per source address (0 = any) */
    /* Query handling time (docs/metrics.md), observed on the server's
     * thread: UDP from the batch read to its answers sent, TCP from the
     * frame read to its answer queued. Borrowed: must outlive the server
     * (a listener restarted elsewhere keeps adding to the same); NULL:
     * not measured. */
    shed_hist_t *latency_udp, *latency_tcp;
} dns_server_config_t;

#define DNS_SERVER_DEFAULT_ADDR      "127.0.0.1:8600"
#define DNS_SERVER_DEFAULT_DOMAIN    "shed"
#define DNS_SERVER_DEFAULT_TTL       0
#define DNS_SERVER_DEFAULT_NEG_TTL   0
#define DNS_SERVER_DEFAULT_TCP_CONNS 64
#define DNS_SERVER_DEFAULT_TCP_IDLE  10000
#define DNS_SERVER_MAX_TTL           3600

void dns_server_config_defaults (dns_server_config_t *cfg);

/* Counters, read at any time from any thread. */
typedef struct {
    uint64_t queries_udp; /* datagrams received */
    uint64_t queries_tcp; /* frames received over TCP */
    uint64_t rcode_noerror, rcode_formerr, rcode_servfail, rcode_nxdomain;
    uint64_t rcode_notimp, rcode_refused, rcode_other;
    uint64_t truncated; /* UDP answers sent with TC */
    uint64_t dropped;   /* malformed input not answered (no header, oversized, ...) */
    uint64_t tcp_accepted, tcp_rejected; /* rejected: over tcp_max_conns */
    uint64_t tcp_idle_closed;
    uint64_t rate_limited; /* queries and connections dropped over rate_qps or
                                     * tcp_max_per_source */
    uint64_t zones_published;
} dns_server_stats_t;

/* Start the server: binds UDP and TCP on cfg->addr (on cfg->device, if
 * given) before returning.
 * Returns NULL (and logs why) on a bad config or when the address is taken.
 * No zone yet means SERVFAIL answers, so publish one promptly. */
dns_server_t *dns_server_new (const dns_server_config_t *cfg);

/* Stop the actor, close sockets, drop the zone. NULL-safe, nulls *self_p. */
void dns_server_destroy (dns_server_t **self_p);

/* The bound port (useful with port 0). */
uint16_t dns_server_port (dns_server_t *self);

/* Publish a snapshot. The server takes its own reference; the caller keeps
 * its. Thread-safe and wait-free; may be called from several threads (the
 * last published wins). */
void dns_server_set_zone (dns_server_t *self, dns_zone_t *zone);

void dns_server_stats (dns_server_t *self, dns_server_stats_t *out);

#endif
