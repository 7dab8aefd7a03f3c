/*
 * http_tokens.h - the bearer tokens of the remote HTTP API (docs/security.md,
 * "Remote API tokens").
 *
 * A token is "sht_<id>_<secret>": id is 8 hex digits (public: it names the
 * token in `shedctl token list`, logs and revocations), secret is 32 random
 * bytes as 64 hex digits. The store keeps id, role, name, creation time and
 * the BLAKE2b-256 hash of the secret, never the secret: a copy of the file
 * does not let anyone call the API. A random 256-bit secret needs no slow
 * password hash; a fast one keeps each request's check cheap. Hashes are
 * compared in constant time.
 *
 * File: one token per line, "id role hash created_ms name", written
 * atomically with mode 0600 (a store readable by others is refused at
 * open). Thread-safe: the HTTP threads check, the main loop creates,
 * lists and revokes, under one mutex.
 */
#ifndef SHED_HTTP_TOKENS_H
#define SHED_HTTP_TOKENS_H

#include "node/api/api_msg.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef enum {
    HTTP_ROLE_NONE = 0,
    HTTP_ROLE_READ = 1,     /* GET routes */
    HTTP_ROLE_OPERATOR = 2, /* every route */
} http_role_t;

typedef enum {
    HTTP_AUTH_OK = 0,
    HTTP_AUTH_MISSING,   /* no Authorization header */
    HTTP_AUTH_MALFORMED, /* not "Bearer sht_<id>_<secret>" */
    HTTP_AUTH_UNKNOWN,   /* no such id (never made, or revoked) or a wrong secret */
    HTTP_AUTH_LIMITED,   /* a good token over its request rate (429); role is set */
} http_auth_t;

#define HTTP_TOKEN_PREFIX     "sht_"
#define HTTP_TOKEN_ID_HEX     8
#define HTTP_TOKEN_SECRET_HEX 64

typedef struct _http_tokens_t http_tokens_t;

/* Open (or start) the store at `path`. NULL with a reason on a file that
 * does not parse or that others may read. */
http_tokens_t *http_tokens_open (const char *path, char *err, size_t errlen);
void http_tokens_destroy (http_tokens_t **self_p);

/* Requests per second each token may make, with a burst (token bucket,
 * kept per token in memory): a client with a good token still cannot make
 * the node's main loop serve it alone. rate 0 = no limit (the default). */
void http_tokens_set_rate (http_tokens_t *self, uint32_t per_s, uint32_t burst);

/* "read" / "operator" <-> role; HTTP_ROLE_NONE for anything else. */
http_role_t http_role_parse (const char *text);
const char *http_role_name (http_role_t role);

/* Mint a token: writes the store, then the token text (shown once) into
 * token[API_TOKEN_TEXT_MAX + 1] and its id into id[API_TOKEN_ID_MAX + 1].
 * name: "" or 1-63 of [A-Za-z0-9._-]. 0, or -1 with a reason. */
int http_tokens_create (http_tokens_t *self, http_role_t role, const char *name, char *token,
                        char *id, char *err, size_t errlen);

/* Forget a token at once (requests with it get 401). 0, or -1 (no such id
 * or the store could not be written) with a reason. */
int http_tokens_revoke (http_tokens_t *self, const char *id, char *err, size_t errlen);

/* A copy of the list for API_TOKEN_REP (free with free()); *n set. */
api_token_t *http_tokens_list (http_tokens_t *self, size_t *n);
size_t http_tokens_count (http_tokens_t *self);

/* Check an Authorization header value (NULL: absent). On HTTP_AUTH_OK (and
 * HTTP_AUTH_LIMITED) sets *role and copies the id into
 * id[API_TOKEN_ID_MAX + 1]; on failure id holds the id the header claimed
 * when one parsed (for logs), else "". */
http_auth_t http_tokens_check (http_tokens_t *self, const char *header, http_role_t *role,
                               char *id);

#endif
