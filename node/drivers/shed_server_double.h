/*
 * shed_server_double.h - TEST SUPPORT: an in-memory Shed server answering
 * Shed's HTTP API as Shed documents it (its "HTTP API" reference; the
 * points the driver depends on are listed in docs/drivers.md
 * "shed-server"), on 127.0.0.1 (test_httpd, ephemeral port):
 *
 *   GET  /api/info          {"name","version","ssh_port","http_port","backend"}
 *                           (never needs a token: Shed's bootstrap call)
 *   GET  /api/sheds         {"sheds":[shed...]}
 *   POST /api/sheds         {"name" (required), "repo", "image", "cpus",
 *                           "memory_mb", ...}: 201 with the shed, RUNNING,
 *                           with its "ip_address"; 400 INVALID_SHED_NAME
 *                           (name not letters, digits and hyphens), 409
 *                           SHED_ALREADY_EXISTS, 500 CLONE_FAILED (a repo
 *                           containing "fail-clone")
 *   GET  /api/sheds/{name}  the shed; 404 SHED_NOT_FOUND
 *   POST .../start          200 the shed; 409 SHED_ALREADY_RUNNING if it runs
 *   POST .../stop           200 the shed; 409 SHED_ALREADY_STOPPED if stopped
 *   DELETE /api/sheds/{name} 204
 *
 * A shed: {"name","status","created_at","repo","backend","ip_address",
 * "cpus","memory_mb"}, ip_address/cpus/memory_mb/repo left out when empty
 * or zero, as Shed does. Errors: {"error":{"code","message"}}.
 * With a token (Shed's auth.mode "secure"), every call but /api/info needs
 * "Authorization: Bearer <token>", else 401 (code UNAUTHORIZED: Shed
 * documents the status, not a code for it).
 */
#ifndef SHED_DRV_SHED_SERVER_DOUBLE_H
#define SHED_DRV_SHED_SERVER_DOUBLE_H

#include "node/drivers/test_httpd.h"

#include <stddef.h>

typedef struct _shed_double_t shed_double_t;

/* token NULL or "": open mode, no authentication. */
shed_double_t *shed_double_new (const char *token);
void shed_double_destroy (shed_double_t **self_p);
/* "http://127.0.0.1:PORT" */
const char *shed_double_url (shed_double_t *self);
/* A create takes this long (a clone, provisioning); 0 by default. */
void shed_double_set_create_delay (shed_double_t *self, unsigned ms);
/* The shed's status ("running", "stopped") into buf; -1 if there is none. */
int shed_double_status (shed_double_t *self, const char *name, char *buf, size_t size);
/* Sheds held; requests seen (bounded log) and the i-th; 401s answered. */
size_t shed_double_sheds (shed_double_t *self);
size_t shed_double_count (shed_double_t *self);
void shed_double_get (shed_double_t *self, size_t i, test_httpd_req_t *out);
size_t shed_double_unauthorized (shed_double_t *self);

#endif
