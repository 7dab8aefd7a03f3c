/* node_dns.c - see node_dns.h. */
#include "node/catalog/node_dns.h"

#include "common/log.h"

#include <assert.h>
#include <net/if.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct _shed_dns_t {
    zloop_t *loop;
    char domain[101];
    uint32_t ttl_s, neg_ttl_s;
    dns_server_t *host; /* dns.addr */
    dns_zone_t *zone;   /* last published; ours */
    /* shed listener */
    bool shed_enabled;
    uint32_t shed_port, shed_rate_qps, shed_rate_burst;
    dns_server_t *shed; /* NULL: not listening (no gateway, or bind failed) */
    char gateway[16];   /* wanted address; "" = none */
    char device[IF_NAMESIZE];
    char shed_addr[32]; /* "IP:PORT" while listening */
    int retry_id;       /* zloop timer while a bind keeps failing; -1 none */
    bool shed_failed_logged;
    bool shed_ever;
    dns_server_stats_t retired; /* counters of earlier shed listeners */
    /* Query handling time, [listener: 0 host, 1 shed][0 udp, 1 tcp]; the
     * servers observe on their threads; ours, outliving every server. */
    shed_hist_t *latency[2][2];
};

/* Add b's counters to a's. */
static void
s_stats_add (dns_server_stats_t *a, const dns_server_stats_t *b)
{
    a->queries_udp += b->queries_udp;
    a->queries_tcp += b->queries_tcp;
    a->rcode_noerror += b->rcode_noerror;
    a->rcode_formerr += b->rcode_formerr;
    a->rcode_servfail += b->rcode_servfail;
    a->rcode_nxdomain += b->rcode_nxdomain;
    a->rcode_notimp += b->rcode_notimp;
    a->rcode_refused += b->rcode_refused;
    a->rcode_other += b->rcode_other;
    a->truncated += b->truncated;
    a->dropped += b->dropped;
    a->tcp_accepted += b->tcp_accepted;
    a->tcp_rejected += b->tcp_rejected;
    a->tcp_idle_closed += b->tcp_idle_closed;
    a->rate_limited += b->rate_limited;
    a->zones_published += b->zones_published;
}

static void
s_shed_stop (shed_dns_t *self)
{
    if (self->retry_id >= 0) {
        zloop_timer_end (self->loop, self->retry_id);
        self->retry_id = -1;
    }
    if (!self->shed)
        return;
    dns_server_stats_t st;
    dns_server_stats (self->shed, &st);
    s_stats_add (&self->retired, &st);
    dns_server_destroy (&self->shed);
    log_info ("dns", "shed listener stopped|addr=%s", self->shed_addr);
    self->shed_addr[0] = '\0';
}

static int s_on_retry (zloop_t *loop, int timer_id, void *arg);

/* Bind the shed listener on the wanted gateway; on failure keep a retry
 * timer (the port may be held by something that goes away, e.g. a
 * resolver started by hand on the bridge address). */
static void
s_shed_start (shed_dns_t *self)
{
    char addr[32];
    snprintf (addr, sizeof addr, "%s:%u", self->gateway, (unsigned) self->shed_port);
    dns_server_config_t dc;
    dns_server_config_defaults (&dc);
    dc.addr = addr;
    dc.domain = self->domain;
    dc.ttl_s = self->ttl_s;
    dc.neg_ttl_s = self->neg_ttl_s;
    dc.device = self->device[0] ? self->device : NULL;
    dc.rate_qps = self->shed_rate_qps;
    dc.rate_burst = self->shed_rate_burst;
    dc.tcp_max_per_source = SHED_DNS_SHED_TCP_PER_SRC;
    dc.latency_udp = self->latency[1][0];
    dc.latency_tcp = self->latency[1][1];
    self->shed = dns_server_new (&dc);
    if (!self->shed) {
        if (!self->shed_failed_logged)
            log_error ("dns",
                       "cannot start the shed listener, retrying every %d ms (sheds "
                       "cannot resolve meanwhile)|addr=%s device=%s",
                       SHED_DNS_RETRY_MS, addr, self->device);
        self->shed_failed_logged = true;
        if (self->retry_id < 0)
            self->retry_id = zloop_timer (self->loop, SHED_DNS_RETRY_MS, 0, s_on_retry, self);
        return;
    }
    if (self->retry_id >= 0) {
        zloop_timer_end (self->loop, self->retry_id);
        self->retry_id = -1;
    }
    self->shed_failed_logged = false;
    self->shed_ever = true;
    snprintf (self->shed_addr, sizeof self->shed_addr, "%s:%u", self->gateway,
              (unsigned) dns_server_port (self->shed));
    if (self->zone)
        dns_server_set_zone (self->shed, self->zone);
    log_info ("dns", "shed listener started|addr=%s device=%s rate_qps=%u", addr, self->device,
              (unsigned) self->shed_rate_qps);
}

static int
s_on_retry (zloop_t *loop, int timer_id, void *arg)
{
    (void) loop;
    (void) timer_id;
    shed_dns_t *self = arg;
    if (!self->shed && self->gateway[0])
        s_shed_start (self);
    return 0;
}

shed_dns_t *
shed_dns_new (const shed_config_t *cfg, zloop_t *loop, char *err, size_t errlen)
{
    assert (cfg);
    assert (loop);
    shed_dns_t *self = calloc (1, sizeof *self);
    if (!self) {
        snprintf (err, errlen, "out of memory");
        return NULL;
    }
    self->loop = loop;
    self->retry_id = -1;
    snprintf (self->domain, sizeof self->domain, "%s", cfg->dns.domain);
    self->ttl_s = cfg->dns.ttl_s;
    self->neg_ttl_s = cfg->dns.neg_ttl_s;
    self->shed_enabled = cfg->dns.shed_listen;
    self->shed_port = cfg->dns.shed_port;
    self->shed_rate_qps = cfg->dns.shed_rate_qps;
    self->shed_rate_burst = cfg->dns.shed_rate_burst;

    for (int l = 0; l < 2; l++)
        for (int t = 0; t < 2; t++)
            self->latency[l][t] = shed_hist_new (shed_hist_bounds_dns, shed_hist_nbounds_dns);

    dns_server_config_t dc;
    dns_server_config_defaults (&dc);
    dc.addr = cfg->dns.addr;
    dc.latency_udp = self->latency[0][0];
    dc.latency_tcp = self->latency[0][1];
    dc.domain = cfg->dns.domain;
    dc.ttl_s = cfg->dns.ttl_s;
    dc.neg_ttl_s = cfg->dns.neg_ttl_s;
    self->host = dns_server_new (&dc);
    if (!self->host) {
        snprintf (err, errlen,
                  "cannot start DNS on %s (address in use or invalid; set dns.addr, or "
                  "dns.enabled: false)",
                  cfg->dns.addr);
        shed_dns_destroy (&self);
        return NULL;
    }
    dns_zone_t *empty = dns_zone_new_empty ();
    if (empty) {
        shed_dns_publish (self, empty);
        dns_zone_unref (&empty);
    }
    return self;
}

void
shed_dns_destroy (shed_dns_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    shed_dns_t *self = *self_p;
    s_shed_stop (self);
    dns_server_destroy (&self->host);
    dns_zone_unref (&self->zone);
    for (int l = 0; l < 2; l++)
        for (int t = 0; t < 2; t++)
            shed_hist_destroy (&self->latency[l][t]);
    free (self);
    *self_p = NULL;
}

void
shed_dns_publish (shed_dns_t *self, dns_zone_t *zone)
{
    assert (self);
    assert (zone);
    dns_server_set_zone (self->host, zone);
    if (self->shed)
        dns_server_set_zone (self->shed, zone);
    dns_zone_t *mine = dns_zone_ref (zone);
    dns_zone_unref (&self->zone);
    self->zone = mine;
}

void
shed_dns_set_gateway (shed_dns_t *self, const char *gateway, const char *device)
{
    assert (self);
    if (!gateway)
        gateway = "";
    if (!device)
        device = "";
    if (!self->shed_enabled)
        return;
    if (strlen (gateway) >= sizeof self->gateway || strlen (device) >= sizeof self->device) {
        log_error ("dns", "shed listener: bad gateway or device|gateway=%s device=%s", gateway,
                   device);
        return;
    }
    bool same = strcmp (gateway, self->gateway) == 0 && strcmp (device, self->device) == 0;
    if (same && (self->shed || self->retry_id >= 0))
        return; /* listening there already, or retrying */
    s_shed_stop (self);
    snprintf (self->gateway, sizeof self->gateway, "%s", gateway);
    snprintf (self->device, sizeof self->device, "%s", device);
    self->shed_failed_logged = false;
    if (self->gateway[0])
        s_shed_start (self);
}

int
shed_dns_stats (shed_dns_t *self, bool shed, dns_server_stats_t *out)
{
    assert (self);
    assert (out);
    if (!shed) {
        dns_server_stats (self->host, out);
        return 0;
    }
    if (!self->shed_ever)
        return -1;
    *out = self->retired;
    if (self->shed) {
        dns_server_stats_t st;
        dns_server_stats (self->shed, &st);
        s_stats_add (out, &st);
    }
    return 0;
}

int
shed_dns_latency (shed_dns_t *self, bool shed, bool tcp, shed_hist_snap_t *out)
{
    assert (self);
    shed_hist_t *h = self->latency[shed ? 1 : 0][tcp ? 1 : 0];
    if (!h || (shed && !self->shed_ever))
        return -1;
    shed_hist_snapshot (h, out);
    return 0;
}

uint16_t
shed_dns_port (shed_dns_t *self)
{
    assert (self);
    return dns_server_port (self->host);
}

const char *
shed_dns_shed_addr (shed_dns_t *self)
{
    assert (self);
    return self->shed_addr;
}
