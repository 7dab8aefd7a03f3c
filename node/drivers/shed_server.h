/*
 * shed_server.h - a driver that drives an existing Shed server on the same
 * host through its HTTP API, as Shed documents it (its "HTTP API"
 * reference; docs/drivers.md "shed-server" sums it up):
 *
 *   create  POST   /api/sheds {"name","repo","image","cpus","memory_mb"}
 *                  201 with the shed, already running ("status":"running")
 *   start   POST   /api/sheds/{name}/start   409 SHED_ALREADY_RUNNING if it runs
 *   stop    POST   /api/sheds/{name}/stop    409 SHED_ALREADY_STOPPED if stopped
 *   remove  DELETE /api/sheds/{name}         204
 *   status  GET    /api/sheds/{name}         "status": running | stopped |
 *                                            starting | error; "ip_address"
 *   list    GET    /api/sheds                {"sheds": [...]}
 *   info    GET    /api/info                 {"name","version",...}
 *
 * Shed's create starts the shed, so a create that answers "running" needs
 * no start (driver.h create_running); start and stop are idempotent as
 * driver.h asks: SHED_ALREADY_RUNNING / SHED_ALREADY_STOPPED are success.
 *
 * Errors are Shed's {"error":{"code","message"}}; the code wins over the
 * HTTP status:
 *   SHED_ALREADY_EXISTS (409)              -> DRIVER_ERR_EXISTS
 *   SHED_NOT_FOUND (404)                   -> DRIVER_ERR_NOT_FOUND
 *   INVALID_* (400)                        -> DRIVER_ERR_INVALID
 *   CLONE_FAILED, *_ERROR (500)            -> DRIVER_ERR_BACKEND
 *   other 409                              -> DRIVER_ERR_STATE
 *   401 / 403 (a missing or wrong token)   -> DRIVER_ERR_PERMISSION
 *   no answer                              -> DRIVER_ERR_UNAVAILABLE
 *
 * Authentication: a Shed server in auth.mode "secure" wants
 * "Authorization: Bearer <token>" on every call but GET /api/info. The
 * token is read from `token_file` at each call (Shed's tokens expire and
 * are refreshed: a rewritten file is picked up without a restart) and
 * never appears in a message or log.
 *
 * Shed takes whole cpus: a quota of 1.5 cpus asks for 2.
 */
#ifndef SHED_DRV_SHED_SERVER_H
#define SHED_DRV_SHED_SERVER_H

#include "node/drivers/driver.h"

/* Shed's CLI waits 10 minutes for a create (its --timeout default). */
#define SHED_SERVER_CREATE_TIMEOUT_MS (10 * 60 * 1000)
/* The other calls (status, list, stop, delete) answer quickly. */
#define SHED_SERVER_CALL_TIMEOUT_MS   30000
/* A bearer token longer than this is refused (no real token is). */
#define SHED_SERVER_TOKEN_MAX         4096

typedef struct {
    const char *base_url;   /* default http://127.0.0.1:8080 */
    long timeout_ms;        /* create and start; default SHED_SERVER_CREATE_TIMEOUT_MS */
    const char *token_file; /* bearer token (one line); NULL or "" = none */
} driver_shed_server_config_t;

/* The driver's slow timeout (driver.h) is set to timeout_ms. */
driver_t *driver_shed_server_new (const driver_shed_server_config_t *config, driver_error_t *err);

/* GET /api/info: the server's version string (or "" if it gives none). */
int driver_shed_server_info (const driver_shed_server_config_t *config, char *version, size_t size,
                             driver_error_t *err);

#endif
