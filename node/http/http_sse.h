/*
 * http_sse.h - what every server-sent-events response of the HTTP API
 * shares (GET /v1/events, a logs follow, Shed's create progress stream):
 * the client's socket, watched for a hang-up because a stream client sends
 * nothing after its request, and the response's headers and idle rule.
 */
#ifndef SHED_HTTP_SSE_H
#define SHED_HTTP_SSE_H

#include <microhttpd.h>
#include <stdbool.h>

/* The connection's socket, or -1 when libmicrohttpd does not say. */
int http_sse_fd (struct MHD_Connection *conn);

/* Has the client hung up? (false for fd < 0: then a failed write tells.) */
bool http_sse_client_gone (int fd);

/* text/event-stream, no-store, and no idle timeout for the connection: a
 * stream is quiet between records, so http.timeout_s must not cut it; its
 * heartbeat and the hang-up poll end it instead. */
void http_sse_prepare (struct MHD_Connection *conn, struct MHD_Response *resp);

#endif
