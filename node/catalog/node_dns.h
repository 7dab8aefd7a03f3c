/*
 * node_dns.h - the daemon's DNS listeners (docs/dns.md): one zone, two
 * places it is answered.
 *
 *   host listener   dns.addr (default 127.0.0.1:8600), started with the
 *                   node; a node that cannot bind it does not start.
 *   shed listener   <overlay gateway>:dns.shed_port (default 53) on the
 *                   node bridge only (SO_BINDTODEVICE), for the sheds: their
 *                   /etc/resolv.conf names the gateway. Started when the
 *                   overlay sets the gateway on the bridge, moved when the
 *                   gateway changes (a lost address block), rate-limited
 *                   per source address (dns.shed_rate_qps/_burst) and
 *                   capped at 8 TCP connections per source: sheds are not
 *                   trusted. A port it cannot bind is logged and retried
 *                   every 5 s; the node runs on without it meanwhile.
 *
 * Both answer the same snapshots (the catalog publishes, bridges/dns_zone.h)
 * and both refuse names outside dns.domain: the node is authoritative for
 * its domain only and never recurses for anyone (REFUSED, which makes stub
 * resolvers try the next `nameserver` line).
 *
 * Everything runs on the node's zloop thread.
 */
#ifndef SHED_NODE_DNS_H
#define SHED_NODE_DNS_H

#include "bridges/dns_server.h"
#include "bridges/dns_zone.h"
#include "node/config.h"

#include <czmq.h>
#include <stdbool.h>

#define SHED_DNS_RETRY_MS         5000 /* shed listener: bind retry period */
#define SHED_DNS_SHED_TCP_PER_SRC 8    /* shed listener: TCP connections per source */

typedef struct _shed_dns_t shed_dns_t;

/* Start the host listener from cfg->dns (dns.enabled is the caller's
 * business) and publish an empty zone (NXDOMAIN, not SERVFAIL, until the
 * catalog's first). `loop` (for the shed listener's retries) must outlive
 * it. NULL with a one-line reason when the address cannot be bound. */
shed_dns_t *shed_dns_new (const shed_config_t *cfg, zloop_t *loop, char *err, size_t errlen);
/* Stop both listeners. NULL-safe. */
void shed_dns_destroy (shed_dns_t **self_p);

/* Publish a snapshot to every listener (each takes its reference; the
 * caller keeps its own). Kept, so a shed listener started later answers
 * from it at once. */
void shed_dns_publish (shed_dns_t *self, dns_zone_t *zone);

/* The overlay gateway on bridge `device` is now `gateway` (dotted IPv4;
 * "" or NULL: none). (Re)starts the shed listener there when dns.shed_listen
 * is on; the same address again is a no-op. */
void shed_dns_set_gateway (shed_dns_t *self, const char *gateway, const char *device);

/* Counters of the host listener (shed = false) or of the shed listener
 * (true: summed over every address it has listened on, so they only grow).
 * Returns 0, or -1 when that listener never ran. */
int shed_dns_stats (shed_dns_t *self, bool shed, dns_server_stats_t *out);

/* Query handling time of the host listener (shed = false) or of the shed
 * listener (every address it listened on), over UDP or TCP. 0, or -1 when
 * that listener never ran (or out of memory at start). */
int shed_dns_latency (shed_dns_t *self, bool shed, bool tcp, shed_hist_snap_t *out);

/* The host listener's bound port. */
uint16_t shed_dns_port (shed_dns_t *self);

/* "IP:PORT" the shed listener answers on, "" while it does not. */
const char *shed_dns_shed_addr (shed_dns_t *self);

#endif
