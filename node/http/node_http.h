/*
 * node_http.h - the remote HTTP/JSON API (docs/api.md): libmicrohttpd with
 * GnuTLS, bearer tokens (http_tokens.h), routes (http_route.h).
 *
 * Threads: libmicrohttpd's listener and one thread per connection (at most
 * http.max_connections, http.per_client_connections from one address).
 * A connection thread authenticates, decodes, then calls the node's local
 * API over its ipc:// socket with the requests shedctl sends, on a socket
 * checked out of a small pool shared by the threads (api_pool.h), and
 * waits for the answer there: a slow client or a long create holds only
 * its own thread, never the main loop. The main loop only answers the
 * local API (the token commands are local API requests too, served here).
 */
#ifndef SHED_NODE_HTTP_H
#define SHED_NODE_HTTP_H

#include "node/api/api_server.h"
#include "node/config.h"
#include "node/http/http_tokens.h"

typedef struct _shed_http_t shed_http_t;

/* Open the token store (<data_dir>/api_tokens), register the token
 * commands on `api`, and, when http.listen is set, start serving. NULL
 * with a reason (bad store, listen address, TLS files) in err. */
shed_http_t *shed_http_new (const shed_config_t *cfg, shed_api_server_t *api, char *err,
                            size_t errlen);
/* Stops the listener and waits for its threads (each gives up a pending
 * call within 100 ms). NULL-safe. */
void shed_http_destroy (shed_http_t **self_p);

/* The token store (borrowed; http_tokens_sync.h replicates it). */
http_tokens_t *shed_http_tokens (shed_http_t *self);

/* "IP:PORT" it serves on, or "" when off. */
const char *shed_http_address (shed_http_t *self);

/* Counters as one "key=value ..." line for the metrics render (malloc'd). */
char *shed_http_stats (shed_http_t *self);

#endif
