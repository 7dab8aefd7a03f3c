/*
 * dns_zone.h - an immutable, refcounted snapshot of everything DNS serves.
 *
 * The DNS server never reads the live catalog. Whoever owns the data (the
 * service catalog, fed by the replicated state) builds a complete snapshot
 * with a dns_zone_builder_t whenever something changes and hands it to the
 * server with dns_server_set_zone(). A snapshot never changes after
 * dns_zone_builder_build(), so the server thread reads it without locks;
 * the last dns_zone_unref() frees it, on whichever thread that happens.
 *
 *     dns_zone_builder_t *zb = dns_zone_builder_new ();
 *     dns_zone_builder_add_node (zb, "n1", "198.18.0.1");
 *     const char *tags[] = { "primary" };
 *     dns_zone_builder_add_service_instance (zb, &(dns_instance_t) {
 *         .service = "web", .node = "n1", .address = "198.18.0.1", .port = 8080,
 *         .health = DNS_HEALTH_PASSING, .tags = tags, .tag_count = 1 });
 *     dns_zone_t *zone = dns_zone_builder_build (&zb);
 *     dns_server_set_zone (server, zone);     // the server takes its own reference
 *     dns_zone_unref (&zone);
 *
 * Names: a service name and a shed name are one DNS label (1..63 bytes of
 * [A-Za-z0-9_-]); a node name may hold dots (each part such a label). Names
 * are stored and looked up case-insensitively.
 */
#ifndef SHED_DNS_ZONE_H
#define SHED_DNS_ZONE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct _dns_zone_t dns_zone_t;
typedef struct _dns_zone_builder_t dns_zone_builder_t;

typedef enum {
    DNS_HEALTH_PASSING = 0,
    DNS_HEALTH_WARNING = 1,  /* still served: a warning is not an outage */
    DNS_HEALTH_CRITICAL = 2, /* never served */
} dns_health_t;

/* What the owner hands to the builder; all strings are copied. */
typedef struct {
    const char *service; /* "web" */
    const char *node;    /* node that runs it */
    const char *shed;    /* shed it runs in, or NULL/"" */
    const char *address; /* IPv4 or IPv6 literal */
    uint16_t port;
    dns_health_t health;
    const char *const *tags; /* may be NULL when tag_count is 0 */
    size_t tag_count;
} dns_instance_t;

/* ---- Read-only views returned by lookups (valid while the zone is held) --- */

typedef struct {
    char *node;       /* (all strings in views are read-only) */
    char *shed;       /* NULL when the instance is not in a shed */
    int family;       /* AF_INET or AF_INET6 */
    uint8_t addr[16]; /* 4 or 16 bytes used */
    uint16_t port;
    dns_health_t health;
    char **tags; /* lowercased */
    size_t tag_count;
} dns_zone_instance_t;

typedef struct {
    char *name; /* lowercased */
    const dns_zone_instance_t *instances;
    size_t count;
} dns_zone_service_t;

typedef struct {
    char *name; /* lowercased */
    bool has_v4, has_v6;
    uint8_t v4[4];
    uint8_t v6[16];
} dns_zone_host_t;

/* ---- Builder -------------------------------------------------------------- */

dns_zone_builder_t *dns_zone_builder_new (void);
void dns_zone_builder_destroy (dns_zone_builder_t **self_p);

/* Each returns 0, or -1 if a name or address is invalid (nothing added). */
int dns_zone_builder_add_service_instance (dns_zone_builder_t *self, const dns_instance_t *inst);
/* Nodes and sheds may be added twice, once per address family; a second
 * address of the same family replaces the first. */
int dns_zone_builder_add_node (dns_zone_builder_t *self, const char *name, const char *address);
int dns_zone_builder_add_shed (dns_zone_builder_t *self, const char *name, const char *address);
/* SOA serial; by default a process-wide counter seeded from the clock, so
 * each build's serial is higher than the last. */
void dns_zone_builder_set_serial (dns_zone_builder_t *self, uint32_t serial);

/* Freeze the builder into a zone (refcount 1). Consumes and destroys the
 * builder. Returns NULL only when out of memory. */
dns_zone_t *dns_zone_builder_build (dns_zone_builder_t **self_p);

/* ---- Zone ----------------------------------------------------------------- */

/* An empty zone (no services, nodes or sheds), refcount 1. */
dns_zone_t *dns_zone_new_empty (void);

/* Take another reference; returns self. Thread-safe. */
dns_zone_t *dns_zone_ref (dns_zone_t *self);
/* Drop the caller's reference, NULL-safe, nulls *self_p; frees on the last.
 * Thread-safe. */
void dns_zone_unref (dns_zone_t **self_p);

/* Lookups, case-insensitive, by counted name (DNS labels are not
 * NUL-terminated). NULL when absent. */
const dns_zone_service_t *dns_zone_service (const dns_zone_t *self, const char *name, size_t len);
const dns_zone_host_t *dns_zone_node (const dns_zone_t *self, const char *name, size_t len);
const dns_zone_host_t *dns_zone_shed (const dns_zone_t *self, const char *name, size_t len);

/* Does this instance carry the tag (case-insensitive)? */
bool dns_zone_instance_has_tag (const dns_zone_instance_t *inst, const char *tag, size_t len);

size_t dns_zone_service_count (const dns_zone_t *self);
size_t dns_zone_node_count (const dns_zone_t *self);
size_t dns_zone_shed_count (const dns_zone_t *self);
uint32_t dns_zone_serial (const dns_zone_t *self);

#endif
