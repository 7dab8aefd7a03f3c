/*
 * http_conns.h - the HTTP API's open connections, to keep a slot free for
 * the next client (docs/api.md, "Limits").
 *
 * libmicrohttpd closes a connection over http.per_client_connections at
 * accept, but once http.max_connections are open it stops accepting at
 * all: clients from enough addresses holding connections that send
 * nothing (or a TLS handshake that never ends) would keep everyone else
 * waiting in the listen queue until http.timeout_s cuts them. So when a
 * connection takes the last slot, the connection idle the longest (no
 * request in progress: before its first request, a stalled handshake, or
 * kept alive between requests) is shut down; its thread ends and the slot
 * is free again. A request being served is never cut this way.
 *
 * Called from MHD's threads: open and close from its listener (the
 * connection notices), busy from the connection's own thread.
 */
#ifndef SHED_HTTP_CONNS_H
#define SHED_HTTP_CONNS_H

#include <stdbool.h>
#include <stdint.h>

typedef struct _http_conns_t http_conns_t;
typedef struct _http_conn_t http_conn_t;

/* max: http.max_connections. NULL on out of memory. */
http_conns_t *http_conns_new (unsigned max);
/* All connections must be closed (MHD stopped). NULL-safe. */
void http_conns_destroy (http_conns_t **self_p);

/* A connection accepted on socket fd: its record (NULL on out of memory:
 * then it is not tracked). *evicted is set when it took the last slot and
 * an idle one was shut down for it. */
http_conn_t *http_conns_open (http_conns_t *self, int fd, bool *evicted);
/* Its close notice: the record is freed (its fd is still open then).
 * True when it was closed idle for at least idle_ms, not by us: cut by
 * libmicrohttpd's idle timeout (a connection that never sent a whole
 * request gets no completion notice to say so). */
bool http_conns_close (http_conns_t *self, http_conn_t *c, int64_t idle_ms);
/* A request began (true) or ended (false) on it. c may be NULL. */
void http_conns_busy (http_conns_t *self, http_conn_t *c, bool busy);

#endif
