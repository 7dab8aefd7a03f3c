/*
 * api_pool.h - a small bounded pool of local API clients (ipc REQ sockets
 * to the node's own API), shared by the HTTP API's connection threads
 * (docs/api.md, "Benchmark").
 *
 * api_client.h opens a socket per call (connect, ZMTP handshake, close),
 * right for shedctl's one call, but a cost on every HTTP request. A pooled
 * socket is used by one thread at a time (ZeroMQ sockets are not
 * thread-safe: the mutex hands it over with a full barrier), goes back to
 * the pool only after a call that got its reply, and is destroyed after a
 * call that timed out, was stopped or failed: a REQ socket still waiting
 * for a reply could otherwise hand that late reply to the next request.
 * At most `max_idle` sockets are kept; a call finding none idle opens one
 * more (the HTTP connections, each a thread, bound how many run at once).
 */
#ifndef SHED_API_POOL_H
#define SHED_API_POOL_H

#include "node/api/api_msg.h"

#include <stddef.h>
#include <stdint.h>

typedef struct _shed_api_pool_t shed_api_pool_t;

/* endpoint: the node's local API (ipc://...). NULL on out of memory. */
shed_api_pool_t *shed_api_pool_new (const char *endpoint, size_t max_idle);
/* Closes the idle sockets; no call may be running. NULL-safe. */
void shed_api_pool_destroy (shed_api_pool_t **self_p);

/* shed_api_call_stop (api_client.h) on a pooled socket: same arguments
 * (the endpoint is the pool's), same results. Thread-safe. */
int shed_api_pool_call (shed_api_pool_t *self, const api_msg_t *req, api_msg_t *rep, int timeout_ms,
                        const volatile int *stop, char *err, size_t errlen);

/* Counters: sockets opened, calls served from an idle socket, sockets
 * discarded after a failed call, idle now. */
void shed_api_pool_counts (shed_api_pool_t *self, uint64_t *opened, uint64_t *reused,
                           uint64_t *discarded, size_t *idle);

#endif
