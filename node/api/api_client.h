/*
 * api_client.h - a blocking client of the node's local API (shedctl, tests).
 *
 * One REQ socket per call, so a timed-out call never leaves the socket in a
 * state where the next request is refused.
 */
#ifndef SHED_API_CLIENT_H
#define SHED_API_CLIENT_H

#include "node/api/api_msg.h"

#include <stdbool.h>
#include <stddef.h>

#define SHED_API_DEFAULT_TIMEOUT_MS 5000
/* shedctl waits this much longer than the deadline it gives the node, so the
 * node's own reason (which peer did not answer) arrives first. */
#define SHED_API_REPLY_MARGIN_MS    5000

/* shed_api_call: the request was sent but no reply came within timeout_ms.
 * For a mutation the outcome is then unknown: the node may be running and
 * slow (shed_api_alive tells), not gone. */
#define SHED_API_NO_REPLY (-2)

/* Send `req` to `endpoint`, wait up to timeout_ms for the reply and decode it
 * into *rep (free with wire_msg_free (&api_proto, rep)). API_ERROR replies are
 * returned as success with rep->hdr.type == API_ERROR. Returns 0, or -1 with
 * a one-line reason in err (node not running, bad reply), or
 * SHED_API_NO_REPLY (timeout; err says so). */
int shed_api_call (const char *endpoint, const api_msg_t *req, api_msg_t *rep, int timeout_ms,
                   char *err, size_t errlen);

/* The same, giving up early (SHED_API_NO_REPLY) once *stop becomes true:
 * a caller on another thread (the HTTP API's connection threads) must not
 * hold a stopping node for a create's whole deadline. stop may be NULL. */
int shed_api_call_stop (const char *endpoint, const api_msg_t *req, api_msg_t *rep, int timeout_ms,
                        const volatile int *stop, char *err, size_t errlen);

/* One request and its reply on a connected ZeroMQ REQ socket: the
 * transport under shed_api_call_stop, shared with the HTTP API's pool
 * (api_pool.h). Same results; endpoint only names the node in err. The
 * socket can carry another request only after a 0 (a REQ socket that sent
 * and got nothing back would take the late reply for the next request). */
typedef struct _zsock_t zsock_t;
int shed_api_exchange (zsock_t *sock, const char *endpoint, const api_msg_t *req, api_msg_t *rep,
                       int timeout_ms, const volatile int *stop, char *err, size_t errlen);

/* Does the node answer a status request within timeout_ms? (Its loop runs.) */
bool shed_api_alive (const char *endpoint, int timeout_ms);

#endif
