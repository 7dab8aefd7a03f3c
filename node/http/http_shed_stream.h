/*
 * http_shed_stream.h - Shed's create progress stream: POST /api/sheds with
 * `Accept: text/event-stream` (docs/api.md, "Shed compatibility"; the
 * records are http_shed_compat.h's). The create runs on a thread of its
 * own through http_compat_serve, exactly as the synchronous create; this
 * connection's thread follows the node's create.<node>.<shed> progress
 * events on the local event bus meanwhile (subscribed before the create
 * is sent, so no phase is missed) and hands each to the client as it
 * comes, then the create's answer as the last event.
 *
 * A client that goes away is noticed within HTTP_EVENTS_POLL_MS; the
 * create goes on (it is not undone because nobody watches it) and its
 * thread is joined when the response is freed. Progress is a courtesy:
 * no event bus costs the progress records, never the create.
 */
#ifndef SHED_HTTP_SHED_STREAM_H
#define SHED_HTTP_SHED_STREAM_H

#include "node/api/api_pool.h"
#include "node/http/http_shed_compat.h"

#include <microhttpd.h>

/* The response to queue with status 200, or NULL with err: Shed's 400 for
 * a body the create refuses (before any stream), 500 out of memory.
 * api: the node's local API, borrowed (its events socket is asked there);
 * call/arg: as for http_compat_serve, called on the create's thread. */
struct MHD_Response *http_shed_stream_open (shed_api_pool_t *api, const volatile int *stopping,
                                            struct MHD_Connection *conn,
                                            const http_compat_match_t *m, const char *body,
                                            size_t len, const http_compat_ctx_t *ctx,
                                            http_compat_call_fn call, void *arg, http_error_t *err);

#endif
