/*
 * api_client_http.h - the local API's requests carried over HTTPS to a
 * remote node (shedctl --addr https://node:PORT, docs/cli.md "Remote
 * mode"): the same encoded api_msg_t POSTed to the node's /v1/api route
 * with a bearer token, the node's encoded reply as the answer; and the
 * node's event stream (GET /v1/events, server-sent events).
 *
 * shed_api_call (api_client.h) comes here for http:// and https://
 * endpoints, so every command uses one transport or the other unchanged.
 * The token and CA file are process-wide: shedctl sets them once from its
 * flags before any call.
 */
#ifndef SHED_API_CLIENT_HTTP_H
#define SHED_API_CLIENT_HTTP_H

#include "node/api/api_msg.h"

#include <stdbool.h>
#include <stddef.h>

#define SHED_API_TOKEN_MAX 256

/* Is this an http:// or https:// endpoint? */
bool shed_api_is_http (const char *endpoint);

/* The bearer token (copied; "" or NULL: none) and a PEM file of CAs to
 * trust instead of the system's (NULL: the system's). */
void shed_api_http_configure (const char *token, const char *ca_file);

/* shed_api_call_stop for an http(s) endpoint; same contract. Transport
 * failures, TLS failures and HTTP errors (401, 403, 413, 429, 503) come
 * back as -1 with one line in err; a 504 or a timeout after the request
 * was sent as SHED_API_NO_REPLY. */
int shed_api_http_call (const char *endpoint, const api_msg_t *req, api_msg_t *rep, int timeout_ms,
                        const volatile int *stop, char *err, size_t errlen);

/* One event of the stream (its JSON, NUL-terminated), or json NULL once
 * the node says the stream is subscribed (after the snapshot's last values
 * when one was asked for). Return non-zero to stop following. */
typedef int (shed_api_event_fn) (const char *json, size_t len, void *arg);

typedef struct {
    bool snapshot;            /* last values first (GET /v1/events?snapshot=true) */
    bool raw;                 /* each event's payload bytes too, base64 in "raw" */
    int timeout_ms;           /* 0: until fn stops it or the stream ends */
    const volatile int *stop; /* may be NULL: stop following when it turns true */
} shed_api_events_opt_t;

/* Follow the node's events under `prefixes` (n of them; "" is all). 0 when
 * fn or *stop ended it or the time ran out, or -1 with a reason (as a
 * call's). */
int shed_api_http_events (const char *endpoint, const char *const *prefixes, size_t n,
                          const shed_api_events_opt_t *opt, shed_api_event_fn *fn, void *arg,
                          char *err, size_t errlen);

#endif
