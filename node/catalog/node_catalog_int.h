/*
 * node_catalog_int.h - what the files of the node's catalog share: the
 * catalog's state, one of this node's instances (ncat_local_t), a held
 * blocking query (ncat_watch_t) and the functions one file calls in another.
 * Not a public interface: see node_catalog.h. Split by concern
 * (docs/catalog.md):
 *
 *   node_catalog.c         lifecycle, own records in and out, registration
 *   node_catalog_checks.c  health checks (TCP, command), their timers
 *   node_catalog_view.c    view rebuild, DNS zone feeding, watches
 *   node_catalog_api.c     the local API's service requests
 */
#ifndef SHED_NODE_CATALOG_INT_H
#define SHED_NODE_CATALOG_INT_H

#include "node/catalog/node_catalog.h"
#include "common/log.h"

#include <stdbool.h>
#include <sys/types.h>

/* One of this node's instances, with the state of its health check. */
typedef struct {
    shed_catalog_t *owner;
    rec_service_t svc; /* svc.tags.items -> tags */
    wire_tag_t tags[REC_TAGS_MAX];
    char key[CATALOG_KEY_MAX + 1];
    int timer_id; /* interval timer, -1 without a check */
    /* The check in flight (at most one per instance: a slow check makes the
     * next tick skip rather than pile up). */
    bool running;
    int fd;          /* connecting socket or command's pipe, -1 */
    pid_t pid;       /* command, 0 when none */
    int deadline_id; /* -1 when none */
    int reap_id;     /* polls waitpid after the pipe closed, -1 */
    int64_t started_ms;
    bool checked;                 /* a result since the check was (re)armed */
    char out[REC_OUTPUT_MAX + 1]; /* command output, trimmed */
    size_t outlen;
} ncat_local_t;

/* A held blocking query. */
typedef struct {
    shed_catalog_t *owner;
    shed_api_call_t *call;
    char name[REC_NAME_MAX + 1];
    uint64_t index;
    int timer_id;
    void *handle; /* in owner->watches */
} ncat_watch_t;

struct _shed_catalog_t {
    zloop_t *loop;          /* borrowed */
    shed_nstate_t *state;   /* borrowed */
    shed_api_server_t *api; /* borrowed */
    char name[SHED_NAME_MAX + 1];
    char default_addr[64]; /* advertise address, "" if none */
    catalog_t *view;
    zlistx_t *locals;  /* ncat_local_t *, this node's instances */
    zlistx_t *watches; /* ncat_watch_t * */
    int rebuild_id;    /* pending rebuild timer, -1 */
    int64_t last_rebuild_ms;
    uint64_t last_bad; /* bad records already reported */
    shed_dns_t *dns;   /* NULL when dns.enabled is false */
    char dns_domain[101];
};

/* ---- node_catalog.c: own records ---- */
int ncat_put (shed_catalog_t *self, const rec_service_t *svc, char *err, size_t errlen);
void ncat_local_set (ncat_local_t *l, const rec_service_t *svc);
ncat_local_t *ncat_local_find (shed_catalog_t *self, const char *key);

/* ---- node_catalog_checks.c ---- */
void ncat_checks_arm (ncat_local_t *l);
/* The instance is the catalog's (in self->locals); NULL when out of memory. */
ncat_local_t *ncat_local_new (shed_catalog_t *self, const rec_service_t *svc);
void ncat_local_remove (shed_catalog_t *self, ncat_local_t *l);

/* ---- node_catalog_view.c ---- */
void ncat_to_api (const catalog_instance_t *inst, api_svc_t *out);
void ncat_reply_list (shed_catalog_t *self, shed_api_call_t **call_p, const char *name, bool all);
void ncat_watch_free (shed_catalog_t *self, ncat_watch_t *w);
int ncat_on_watch_timeout (zloop_t *loop, int timer_id, void *arg);
int ncat_rebuild (shed_catalog_t *self);
void ncat_schedule_rebuild (shed_catalog_t *self);
void ncat_flush (shed_catalog_t *self);
void ncat_on_record (const shed_record_t *rec, void *arg);

/* ---- node_catalog_api.c ---- */
void ncat_api_register (shed_api_call_t *call, const api_msg_t *req, void *arg);
void ncat_api_deregister (shed_api_call_t *call, const api_msg_t *req, void *arg);
void ncat_api_list (shed_api_call_t *call, const api_msg_t *req, void *arg);
void ncat_api_show (shed_api_call_t *call, const api_msg_t *req, void *arg);
void ncat_api_watch (shed_api_call_t *call, const api_msg_t *req, void *arg);

#endif
