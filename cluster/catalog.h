/*
 * catalog.h - the service catalog: what the cluster knows about services,
 * as pure logic (no sockets, no threads, no clock).
 *
 * A service instance is one `service` record in the replicated state
 * (cluster/state.h), written only by the node that owns it:
 *
 *     origin = owning node, kind = "service", key = "<name>/<id>",
 *     value  = an encoded REC_SERVICE (cluster/records.h)
 *
 * `id` defaults to the name and is unique per node; `node` in the value must
 * equal the record's origin and the key must be "<name>/<id>", so a record
 * can never claim to live somewhere it was not written (such records are
 * counted and left out of the view).
 *
 * The view (catalog_t) is rebuilt from a full snapshot of the state:
 *
 *     catalog_begin (cat);
 *     for each live record: catalog_add (cat, kind, origin, key, unreachable, value, len);
 *     int changed = catalog_commit (cat);     // CATALOG_CHANGED_* bits
 *
 * Rebuilding from a snapshot rather than applying change events one by one
 * means the view can never drift from the store (an event that raced a list
 * cannot resurrect a deleted record), and commit compares old and new so
 * only real changes move the index.
 *
 * Index (for blocking queries, as Consul's X-Consul-Index): starts at 1 and
 * grows by one on every commit that changed any service instance (any field,
 * its origin's reachability, appearing or going). Each service name also
 * remembers the index at which it last changed, so a watch on one name wakes
 * only for that name. The index lives in memory: a restarted node starts
 * again at 1, and a client holding a larger index is answered at once
 * (catalog_watch_ready), as Consul does when an index goes backwards.
 *
 * Serving rule (DNS answers, `shedctl services` without --all): an instance
 * is served while its health is passing or warning AND its origin is
 * reachable; critical instances and those of failed nodes are kept and shown
 * on request, never served.
 */
#ifndef SHED_CATALOG_H
#define SHED_CATALOG_H

#include "cluster/records.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define CATALOG_INTERVAL_DEFAULT 10000 /* ms between health checks */
#define CATALOG_INTERVAL_MIN     100
#define CATALOG_INTERVAL_MAX     86400000 /* what REC_SERVICE can hold */
#define CATALOG_KEY_MAX          (2 * REC_NAME_MAX + 1)

/* catalog_commit result bits. */
#define CATALOG_CHANGED_SERVICES 1
#define CATALOG_CHANGED_NODES    2
#define CATALOG_CHANGED_SHEDS    4

typedef struct _catalog_t catalog_t;

/* One service instance in the view. `svc` is decoded; its tags belong to
 * the view. Valid until the next catalog_commit. */
typedef struct {
    rec_service_t svc;
    bool unreachable; /* origin failed: kept and shown, not served */
    uint8_t *raw;     /* the record bytes (to compare snapshots) */
    size_t rawlen;
} catalog_instance_t;

/* One node, from its `node` record: name -> address (for DNS). */
typedef struct {
    char name[REC_NAME_MAX + 1];
    char addr[REC_ADDR_MAX + 1];
    bool unreachable;
} catalog_node_t;

/* One running shed with an address, from its `shed` record: name ->
 * address (for SHED.shed.DOMAIN); same shape as a node. */
typedef catalog_node_t catalog_shed_t;

/* ---- The view --------------------------------------------------------------- */

catalog_t *catalog_new (void);
void catalog_destroy (catalog_t **self_p);

/* Start a new snapshot (the current view stays readable until commit). */
void catalog_begin (catalog_t *self);

/* Add one live record to the snapshot. Kinds other than service, node and
 * shed are ignored (returns 0). A record that does not decode, or whose content
 * does not match its origin and key, is left out and counted: returns -1
 * with a one-line reason. */
int catalog_add (catalog_t *self, const char *kind, const char *origin, const char *key,
                 bool unreachable, const uint8_t *value, size_t len, char *err, size_t errlen);

/* Make the snapshot the view. Returns CATALOG_CHANGED_* bits (0: nothing
 * changed; the index then stays where it was). */
int catalog_commit (catalog_t *self);

/* The catalog index (>= 1) and the index at which NAME last changed (0 if
 * NAME was never seen). */
uint64_t catalog_index (const catalog_t *self);
uint64_t catalog_name_index (const catalog_t *self, const char *name);

/* Should a blocking query that saw `index` be answered now? True when
 * index is 0, when it is above ours (we restarted), or when the watched
 * scope (NAME, or everything when name is NULL or "") changed after it. */
bool catalog_watch_ready (const catalog_t *self, const char *name, uint64_t index);

/* Instances, sorted by name, then node, then id. */
size_t catalog_size (const catalog_t *self);
const catalog_instance_t *catalog_at (const catalog_t *self, size_t i);
/* Instances of NAME: returns how many, and the position of the first in
 * *first (for catalog_at). */
size_t catalog_find (const catalog_t *self, const char *name, size_t *first);

/* Nodes, sorted by name. */
size_t catalog_node_count (const catalog_t *self);
const catalog_node_t *catalog_node_at (const catalog_t *self, size_t i);

/* Running sheds with an address, sorted by name. */
size_t catalog_shed_count (const catalog_t *self);
const catalog_shed_t *catalog_shed_at (const catalog_t *self, size_t i);

/* Records left out because they were malformed or inconsistent. */
uint64_t catalog_bad_records (const catalog_t *self);

/* The serving rule above. */
bool catalog_instance_serving (const catalog_instance_t *inst);

/* ---- Registration helpers (pure) -------------------------------------------- */

/* Validate a registration and fill defaults, as the owning node does before
 * writing: id = name when empty; node = `node`; address = `default_addr`
 * when empty (error if that is empty too); protocol "tcp" when empty;
 * interval CATALOG_INTERVAL_DEFAULT when a check is set and none given.
 * Checks names, address literal, port 1-65535, check kind and target
 * ("HOST:PORT" for tcp, a non-empty command for cmd), interval bounds,
 * health. Returns 0, or -1 with a one-line reason fit to show a person. */
int catalog_prepare (rec_service_t *svc, const char *node, const char *default_addr, char *err,
                     size_t errlen);

/* "<name>/<id>" into out. */
void catalog_key (const char *name, const char *id, char *out, size_t len);

/* Encode a REC_SERVICE value (malloc'd *buf). Returns 0 or -1 with a reason. */
int catalog_encode (const rec_service_t *svc, uint8_t **buf, size_t *len, char *err, size_t errlen);
/* Decode a REC_SERVICE value into *out (free with wire_msg_free (&rec_proto,
 * out)). Returns 0 or -1 with a reason (nothing to free then). */
int catalog_decode (const uint8_t *buf, size_t len, rec_msg_t *out, char *err, size_t errlen);

/* "10s", "500ms", "2m", "1h", "1m30s" (common/duration.h), a bare number
 * is seconds. 0 or -1. */
int catalog_parse_duration (const char *text, uint64_t *ms);

/* "tcp" | "cmd" | "none" -> REC_CHECK_*, or -1. */
int catalog_check_parse (const char *text);
const char *catalog_check_name (uint64_t check);

/* Health of a finished check command from its wait status: exit 0
 * passing, exit 1 warning, anything else (other codes, signals) critical. */
int catalog_health_from_wait (int wstatus);

/* Split a TCP check target "HOST:PORT" ("[v6]:PORT" too). 0 or -1. */
int catalog_split_target (const char *target, char *host, size_t hostlen, uint16_t *port);

#endif
