/*
 * node_catalog.h - the daemon's service catalog and DNS listener.
 *
 * What it does (docs/catalog.md):
 *   - registrations: this node's service instances are `service` records it
 *     writes through node_state (key "<name>/<id>", value REC_SERVICE). They
 *     persist with the node's records, so they survive a restart and are
 *     loaded back (and their checks restarted) at start.
 *   - health checks: for each local instance with a check, a zloop timer at
 *     its interval starts a TCP connect (non-blocking, with a deadline) or a
 *     command (posix_spawn of /bin/sh -c, in its own process group, output
 *     captured, killed at its deadline). The record is rewritten only when
 *     the health changes.
 *   - the view: a catalog_t (cluster/catalog.h) rebuilt from a LIST of the
 *     service and node records whenever they or an origin's status change,
 *     coalesced: at most every CATALOG_REBUILD_MIN_MS, and a read of the API
 *     first applies a pending rebuild so a client reads its own writes.
 *   - DNS: the DNS listeners (node/catalog/node_dns.h: the host one on dns.addr,
 *     the shed one on the overlay gateway) started from the dns.* keys; an
 *     empty zone is published at start and a fresh zone after every
 *     rebuild that changed services, nodes or sheds.
 *   - API: SERVICE_REGISTER / DEREGISTER / LIST / SHOW / WATCH (api_msg.h).
 *     WATCH is a blocking query: the call is kept (the event loop never
 *     waits) and answered on the next change in its scope or at its wait.
 *
 * Everything runs on the node's zloop thread; nothing here blocks it except
 * reaping a check command right after SIGKILL.
 */
#ifndef SHED_NODE_CATALOG_H
#define SHED_NODE_CATALOG_H

#include "bridges/dns_server.h"
#include "cluster/catalog.h"
#include "node/api/api_server.h"
#include "node/config.h"
#include "node/catalog/node_dns.h"
#include "node/state/node_state.h"

#include <czmq.h>

#define CATALOG_REBUILD_MIN_MS   100   /* at most one view rebuild per this */
#define CATALOG_REBUILD_DELAY_MS 5     /* gather a burst of changes first */
#define CATALOG_WATCH_DEFAULT_MS 60000 /* blocking query wait when none given */
#define CATALOG_WATCHES_MAX      1024  /* blocking queries held at once */
#define CATALOG_TCP_TIMEOUT_MAX  5000  /* TCP check deadline: min(interval, this) */
#define CATALOG_CMD_TIMEOUT_MAX  30000 /* command check deadline: min(interval, this) */
#define CATALOG_CMD_TIMEOUT_MIN  1000

typedef struct _shed_catalog_t shed_catalog_t;

/* Start the component: load this node's registrations, start their checks,
 * start the DNS server when cfg->dns.enabled, register the API handlers and
 * the state listeners. NULL with a one-line reason on failure (e.g. the DNS
 * address is taken). `state`, `loop` and `api` must outlive it. */
shed_catalog_t *shed_catalog_new (const shed_config_t *cfg, shed_nstate_t *state, zloop_t *loop,
                                  shed_api_server_t *api, char *err, size_t errlen);

/* Stop checks (killing running commands), answer held watches with an
 * error, stop DNS. Registrations stay in the state. NULL-safe. */
void shed_catalog_destroy (shed_catalog_t **self_p);

/* Register (or update) an instance of this node: the in-process twin of
 * SERVICE_REGISTER, for the agent bridge. `svc` is validated and completed
 * with catalog_prepare (node, default address = advertise address); its tags
 * are copied. If `out` is not NULL it receives the instance as stored (its
 * tags then point into the component: valid until the next call). Returns 0,
 * or -1 with a one-line reason. */
int shed_catalog_register (shed_catalog_t *self, const rec_service_t *svc, rec_service_t *out,
                           char *err, size_t errlen);

/* Deregister by id, or by name when the name has one instance here.
 * Returns 0, -1 with a reason, or -2 when nothing matches. */
int shed_catalog_deregister (shed_catalog_t *self, const char *name_or_id, char *err,
                             size_t errlen);

/* Set the health of an instance without a check (the agent reports it).
 * Writes the record only if health or output changed. 0, -1, or -2 unknown. */
int shed_catalog_set_health (shed_catalog_t *self, const char *id, int health, const char *output,
                             char *err, size_t errlen);

/* The host DNS listener's counters into *out. Returns 0, or -1 when DNS is
 * off. */
int shed_catalog_dns_stats (shed_catalog_t *self, dns_server_stats_t *out);

/* The DNS port actually bound (0 when DNS is off). */
uint16_t shed_catalog_dns_port (shed_catalog_t *self);

/* The DNS listeners (NULL when dns.enabled is false), for the daemon to
 * hand the overlay's gateway to (shed_dns_set_gateway). */
shed_dns_t *shed_catalog_dns (shed_catalog_t *self);

#endif
