/*
 * http_watch.h - blocking queries on the remote API's list routes, like
 * Consul's (docs/api.md, "Blocking queries"): every answer of GET
 * /v1/sheds, /v1/members and /v1/services carries X-Shed-Index; a request
 * with ?index=N returns at once when the list's index is not N (it
 * changed since the client saw N, or the node restarted and counts
 * anew), else waits until it changes or ?wait= (default 5m, at most
 * HTTP_WATCH_WAIT_MAX_MS) passes, and answers the list either way.
 *
 * The index is the node's count of changes it has seen in that list: the
 * server keeps, per route, a digest of the last answer and a counter it
 * bumps when an answer differs. A changed list is noticed from the event
 * bus (the records' topics: shed., member., service.) and, as a
 * fallback, by asking again every HTTP_WATCH_RECHECK_MS, so a missed
 * event delays an answer by at most that.
 */
#ifndef SHED_HTTP_WATCH_H
#define SHED_HTTP_WATCH_H

#include "bridges/bus_client.h"
#include "node/http/http_route.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define HTTP_WATCH_HEADER       "X-Shed-Index"
#define HTTP_WATCH_WAIT_DEFAULT 300000
#define HTTP_WATCH_WAIT_MAX_MS  600000
#define HTTP_WATCH_RECHECK_MS   2000

typedef struct _http_watch_t http_watch_t;

http_watch_t *http_watch_new (void);
void http_watch_destroy (http_watch_t **self_p);

/* Take `index` and `wait` out of the query (the rest stay for the route's
 * decoder). *index_set false without ?index=. 0, or -1 with a 400. */
int http_watch_args (http_arg_t *args, size_t *nargs, bool *index_set, uint64_t *index,
                     uint64_t *wait_ms, http_error_t *err);

/* The index of this answer of the route: the last one's when the body is
 * the same, else one more. Thread-safe. */
uint64_t http_watch_index (http_watch_t *self, const http_route_t *route, const char *body,
                           size_t len);

/* The topic prefix whose events may change the route's list. */
const char *http_watch_topic (const http_route_t *route);

/* Wait up to timeout_ms for an event under the route's topic on `bus`
 * (NULL: just sleep). Returns early when *stop becomes true. */
void http_watch_wait (bus_client_t *bus, int timeout_ms, const volatile int *stop);

/* Blocking queries waiting now, and answered after a wait (for /metrics). */
void http_watch_stats (http_watch_t *self, char *out, size_t size);
void http_watch_count (http_watch_t *self, int waiting_delta, bool answered_after_wait);

#endif
