/*
 * node_metrics.h - the daemon's Prometheus endpoint: `GET /metrics` over
 * HTTP (libmicrohttpd), answered with an exposition rendered on the node's
 * main loop.
 *
 * Threads. libmicrohttpd accepts and serves connections on its own threads
 * (one per connection, at most SHED_METRICS_CONNECTIONS). Every component's
 * state belongs to the main thread (node/node.c's zloop), so an HTTP thread
 * never reads it: it opens a short-lived REQ socket to an inproc ROUTER that
 * this module registers on the loop, asks for a render and waits up to the
 * timeout. The loop calls the render function, which writes the families
 * with the prom writer, and sends the text back. A loop that does not
 * answer in time (blocked on something) gives 503; a late answer is
 * dropped by the ROUTER because its REQ is gone.
 *
 * Paths and methods: GET or HEAD /metrics -> 200, text/plain version
 * 0.0.4; GET or HEAD /health -> 200 "ok ..." when the health function
 * (run on the loop like a render) says the node is healthy, 503 with the
 * reason when it says not or when the loop does not answer in time (a
 * load balancer's check: docs/metrics.md, "/health"); any other path ->
 * 404; another method on either -> 405.
 */
#ifndef SHED_NODE_METRICS_H
#define SHED_NODE_METRICS_H

#include "node/metrics/prom.h"

#include <czmq.h>
#include <stddef.h>

#define SHED_METRICS_TIMEOUT_MS  2000 /* a render not back by then: 503 */
#define SHED_METRICS_CONNECTIONS 16   /* HTTP connections served at once */

typedef struct _shed_metrics_t shed_metrics_t;

/* Write the exposition into `prom`; called on the loop's thread, once per
 * scrape. */
typedef void (shed_metrics_render_fn) (shed_prom_t *prom, void *arg);

/* Is the node healthy? Called on the loop's thread for each GET /health.
 * 0 healthy, -1 not; either way a one-line reason in why (the body). */
typedef int (shed_metrics_health_fn) (char *why, size_t whylen, void *arg);

/* Bind `listen_addr` ("IPv4:PORT" or "[IPv6]:PORT", port 0 = any), register the
 * render socket on `loop` and start serving. `loop` must outlive the
 * endpoint; render and arg are kept. timeout_ms <= 0 = the default. NULL
 * with a one-line reason in err (e.g. "127.0.0.1:7951: Address already in
 * use"). */
shed_metrics_t *shed_metrics_new (const char *listen_addr, zloop_t *loop,
                                  shed_metrics_render_fn *render, void *arg, int timeout_ms,
                                  char *err, size_t errlen);

/* The health function (call on the loop's thread, before or while the
 * loop runs). Without one, /health answers 200 whenever the loop does. */
void shed_metrics_set_health (shed_metrics_t *self, shed_metrics_health_fn *health, void *arg);

/* Stop serving (waits for the HTTP threads: at most ~100 ms for one that
 * waits on a render), then remove the render socket from the loop.
 * NULL-safe; nulls the caller's pointer. */
void shed_metrics_destroy (shed_metrics_t **self_p);

/* The address bound, with the actual port ("127.0.0.1:7951"). */
const char *shed_metrics_address (shed_metrics_t *self);

#endif
