/*
 * shed_server.h - a driver that drives an existing Shed server on the same
 * host through its HTTP API:
 *
 *   create  POST   /api/sheds {"name","cpus","memory_mb","image","repo"}
 *   start   POST   /api/sheds/{name}/start
 *   stop    POST   /api/sheds/{name}/stop
 *   remove  DELETE /api/sheds/{name}
 *   status  GET    /api/sheds/{name}      ("status" or "state" field)
 *   list    GET    /api/sheds             (an array, or {"sheds": [...]})
 *   info    GET    /api/info
 *
 * Errors are read leniently: {"error":{"code","message"}}, {"code",
 * "message"} or {"error":"text"}; the code wins over the HTTP status:
 *   SHED_ALREADY_EXISTS (409) -> DRIVER_ERR_EXISTS
 *   SHED_NOT_FOUND (404)      -> DRIVER_ERR_NOT_FOUND
 *   BACKEND_ERROR (500)       -> DRIVER_ERR_BACKEND
 *   INVALID_* / 400 / 422     -> DRIVER_ERR_INVALID
 *   other 409                 -> DRIVER_ERR_STATE
 *   no answer                 -> DRIVER_ERR_UNAVAILABLE
 * Shed takes whole cpus: a quota of 1.5 cpus asks for 2.
 */
#ifndef SHED_DRV_SHED_SERVER_H
#define SHED_DRV_SHED_SERVER_H

#include "node/drivers/driver.h"

typedef struct {
    const char *base_url; /* default http://127.0.0.1:8080 */
    long timeout_ms;      /* per request; default 30000 (create clones repos) */
} driver_shed_server_config_t;

driver_t *driver_shed_server_new (const driver_shed_server_config_t *config, driver_error_t *err);

/* GET /api/info: the server's version string (or "" if it gives none). */
int driver_shed_server_info (const driver_shed_server_config_t *config, char *version, size_t size,
                             driver_error_t *err);

#endif
