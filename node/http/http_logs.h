/*
 * http_logs.h - GET /v1/sheds/{name}/logs?follow=true: a shed's log as
 * server-sent events (docs/api.md, "Logs"), what `shedctl logs --follow`
 * does (node/ctl/ctl_logs.c) on a connection thread of the HTTP server.
 *
 * Without follow the route is a plain JSON route (http_route.c: one
 * API_LOGS_REQ, the node's ring buffer). With it, the stream subscribes to
 * the shed's `log.<node>.<shed>.` topics on the node's local event bus
 * first, then asks for the history (so no line falls between the two; a
 * live line the history already gave is sent once), and sends:
 *
 *   data: {"node","stream","seq","ts_ms","text","partial"}   one per line
 *   event: history / data: {"node","lines","evicted","truncated"[,"note"]}
 *                       once, after the history: live lines from here on
 *   event: lost / data: {"stream","lost"}    lines the bus lost on the way
 *   : heartbeat                     when nothing was sent for a while
 *
 * The lines come from a hostile shed: their text is written through
 * common/json_text.h, so bytes that are not UTF-8 become U+FFFD and each
 * record is valid JSON (a newline in a line is escaped, so it cannot end
 * an SSE record early). A follow is counted as an event stream (the same
 * per-token bound, http_events_attach) and ends when the client goes
 * (noticed within HTTP_EVENTS_POLL_MS) or the node stops.
 */
#ifndef SHED_HTTP_LOGS_H
#define SHED_HTTP_LOGS_H

#include "node/http/http_events.h"
#include "node/http/http_route.h"

#include <microhttpd.h>
#include <stdbool.h>
#include <stdint.h>

/* Take `follow` (true, false, 1, 0, or bare) out of the query; the rest
 * stay for the route's decoder. 0, or -1 with a 400. */
int http_logs_args (http_arg_t *args, size_t *nargs, bool *follow, http_error_t *err);

/* One line's SSE record ("data: {...}\n\n", malloc'd, *len set); NULL when
 * out of memory. text: any bytes up to its NUL. */
char *http_logs_record (const char *node, const char *stream, uint64_t seq, uint64_t ts_ms,
                        const char *text, bool partial, size_t *len);

/* Open a follow for the logs route m (the request decoded from args as
 * the JSON route does): the response to queue (200, text/event-stream),
 * or NULL with err (400 bad arguments, 404 and others as the node answers
 * the history, 429 over the per-token bound, 503 no bus). api (borrowed),
 * stopping: the node's local API, as the other HTTP threads use it. */
struct MHD_Response *http_logs_open (http_events_t *events, shed_api_pool_t *api,
                                     const volatile int *stopping, struct MHD_Connection *conn,
                                     const http_match_t *m, const http_arg_t *args, size_t nargs,
                                     const char *token_id, http_error_t *err);

#endif
