/*
 * api_server.h - the node's local API endpoint (ZeroMQ ROUTER).
 *
 * Requests are wire messages of api_proto (api_msg.h). The server decodes and
 * validates each one, then calls the handler registered for its type. A
 * handler owns the call it is given and must answer it exactly once, now or
 * later (a handler that waits for a component keeps the call and answers when
 * the component replies). Undecodable requests are answered with API_ERROR
 * and counted; they never reach a handler.
 */
#ifndef SHED_API_SERVER_H
#define SHED_API_SERVER_H

#include "node/api/api_msg.h"

#include <czmq.h>
#include <stdint.h>

typedef struct _shed_api_server_t shed_api_server_t;
typedef struct _shed_api_call_t shed_api_call_t;

/* Handler: takes ownership of *call (answer with shed_api_reply*). `req` is
 * valid only during the call; copy what you keep. */
typedef void (shed_api_handler_fn) (shed_api_call_t *call, const api_msg_t *req, void *arg);

/* Bind `endpoint`, which must be ipc:// (the API does not authenticate its
 * clients: the socket file, made mode 0600, is its access control). NULL
 * with a reason in err on failure or for any other transport. */
shed_api_server_t *shed_api_server_new (const char *endpoint, char *err, size_t errlen);
void shed_api_server_destroy (shed_api_server_t **self_p);

/* Register the handler for one request type (replaces any earlier one). */
void shed_api_server_on (shed_api_server_t *self, uint16_t type, shed_api_handler_fn *fn,
                         void *arg);

/* The ROUTER socket, to add to the owner's zloop / zpoller. */
zsock_t *shed_api_server_sock (shed_api_server_t *self);

/* Read one request from the socket and dispatch it. Call when readable. */
void shed_api_server_handle (shed_api_server_t *self);

/* Counters: requests served, bad requests. */
uint64_t shed_api_server_requests (const shed_api_server_t *self);
uint64_t shed_api_server_bad_requests (const shed_api_server_t *self);

/* Answer a call with `rep` (its hdr.type set) and destroy the call. */
void shed_api_reply (shed_api_call_t **call_p, const api_msg_t *rep);
/* Answer with API_ERROR; the message is formatted like printf. */
void shed_api_reply_error (shed_api_call_t **call_p, api_err_code_t code, const char *fmt, ...)
    __attribute__ ((format (printf, 3, 4)));

#endif
