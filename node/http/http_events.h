/*
 * http_events.h - GET /v1/events: the node's event bus as server-sent
 * events (docs/api.md, "Events"). One stream is one bus consumer of the
 * node's local events socket, subscribed to the request's topic prefixes
 * (?prefix=metrics.&prefix=shed.; none: everything), as `shedctl events`
 * is; each event one `data:` line holding the JSON `shedctl events --json`
 * prints (http_event_json), a `: heartbeat` comment every
 * HTTP_EVENTS_HEARTBEAT_MS when nothing else was sent (so proxies and
 * clients see a live connection), and a client that went away noticed at
 * once (its socket is waited on beside the bus), not at the next write;
 * HTTP_EVENTS_POLL_MS is how often a stream looks at the stopping flag.
 *
 * Streams are long: each holds a connection thread, so a token may hold at
 * most `per_token` of them at once (more get 429); http.per_client_connections
 * bounds them per client address as for any request. A stream whose client
 * has hung up no longer counts, even before its thread has ended: a client
 * that closes a stream and opens the next at once is not refused.
 */
#ifndef SHED_HTTP_EVENTS_H
#define SHED_HTTP_EVENTS_H

#include "bridges/bus_client.h"
#include "node/api/api_pool.h"
#include "node/ctl/json.h"
#include "node/http/http_route.h"

#include <microhttpd.h>
#include <stdint.h>

#define HTTP_EVENTS_HEARTBEAT_MS 15000
#define HTTP_EVENTS_POLL_MS      100
#define HTTP_EVENTS_PREFIXES_MAX 8

typedef struct _http_events_t http_events_t;

/* api: the node's local API, borrowed (asked once per stream for the
 * events socket). */
http_events_t *http_events_new (shed_api_pool_t *api, unsigned per_token,
                                const volatile int *stopping);
void http_events_destroy (http_events_t **self_p);

/* A new consumer of the node's local events socket, owned by the caller
 * (bus_client_destroy): the socket's address is asked of the node's local
 * API (`api`, borrowed: its events request, given up when *stopping turns
 * true), then the `nprefixes` topic prefixes are followed (none: the
 * caller subscribes later). NULL with err, a 503, when the node does not
 * answer, has no event bus, or a prefix is refused. What every stream and
 * wait of the HTTP API on the bus starts with: GET /v1/events, a logs
 * follow (http_events_attach), a blocking query's wake-up (http_watch.h)
 * and Shed's create stream (http_shed_stream.h). */
bus_client_t *http_events_bus_new (shed_api_pool_t *api, const volatile int *stopping,
                                   const char *const *prefixes, size_t nprefixes,
                                   http_error_t *err);

/* Open a stream for GET /v1/events: the response to queue (200,
 * text/event-stream), or NULL with err (400 bad arguments, 429 over the
 * per-token bound, 503 no events socket). conn: the request's connection
 * (its socket is watched; its idle timeout is lifted for the stream). */
struct MHD_Response *http_events_open (http_events_t *self, struct MHD_Connection *conn,
                                       const http_arg_t *args, size_t nargs, const char *token_id,
                                       http_error_t *err);

/* For the other streams (a logs follow, http_logs.h), counted as event
 * streams: takes one of the token's per_token slots and connects to the
 * node's events socket. The bus (the caller owns it), or NULL with err
 * (429 over the bound, 503 no bus). `client_fd` is the client's socket:
 * like an events stream's, the slot is taken back for the token's next
 * stream once that client has hung up, before the stream's thread lets go.
 * *hold (owned by the caller) is the slot: give it back with
 * http_events_release once the stream is over, before the connection's
 * socket is closed (the response's free callback). */
typedef struct _http_events_hold_t http_events_hold_t;
bus_client_t *http_events_attach (http_events_t *self, const char *token_id, int client_fd,
                                  http_events_hold_t **hold, http_error_t *err);
void http_events_release (http_events_t *self, http_events_hold_t **hold);

/* "events_streams=N events_streams_total=N events_sent=N events_refused=N" */
void http_events_stats (http_events_t *self, char *out, size_t size);

/* One event as `shedctl events --json` prints it (one line, no newline). */
void http_event_json (jw_t *j, const bus_event_t *ev);

#endif
