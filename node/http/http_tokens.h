/*
 * http_tokens.h - the bearer tokens of the remote HTTP API (docs/security.md,
 * "Remote API tokens").
 *
 * A token is "sht_<id>_<secret>": id is 8 hex digits (public: it names the
 * token in `shedctl token list`, logs and revocations), secret is 32 random
 * bytes as 64 hex digits. The store keeps id, role, name, creation and
 * expiry times and the BLAKE2b-256 hash of the secret, never the secret: a
 * copy of the file (or of the replicated record) does not let anyone call
 * the API. A random 256-bit secret needs no slow password hash; a fast one
 * keeps each request's check cheap. Hashes are compared in constant time.
 *
 * Tokens are cluster-wide: the store holds this node's own tokens (from
 * its file) and the tokens other members minted (fed from the replicated
 * state by http_tokens_sync.h), plus the set of revoked ids, whoever
 * revoked them. A revoked id is refused whatever its origin, and a token
 * record of a revoked id that arrives later is ignored.
 *
 * File (mode 0600, written atomically; a store readable by others is
 * refused at open), one item per line:
 *   token ID ROLE HASH CREATED_MS EXPIRES_MS LAST_USED_MS USES [NAME]  ours
 *   revoked ID REVOKED_MS EXPIRES_MS                                   any origin
 *   used ORIGIN ID LAST_USED_MS USES                                   others' tokens
 * and, from before expiry (read, rewritten in the form above at the next
 * write): ID ROLE HASH CREATED_MS [NAME].
 * Use counts change per request but reach the disk only through
 * http_tokens_tick (at most every HTTP_TOKENS_USAGE_FLUSH_MS) and at
 * destroy: a request never writes a file.
 *
 * Thread-safe: the HTTP threads check; the main loop creates, lists,
 * revokes and feeds replicated records, under one mutex.
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
    HTTP_AUTH_EXPIRED,   /* the right secret of a token past its expiry */
    HTTP_AUTH_LIMITED,   /* a good token over its request rate (429); role is set */
} http_auth_t;

#define HTTP_TOKEN_PREFIX     "sht_"
#define HTTP_TOKEN_ID_HEX     8
#define HTTP_TOKEN_SECRET_HEX 64
#define HTTP_TOKEN_HASH_BYTES 32
#define HTTP_TOKEN_NAME_MAX   63

/* Use counts reach the disk at most this often (and at a clean stop). */
#define HTTP_TOKENS_USAGE_FLUSH_MS  (10 * 60 * 1000)
/* Own tokens stay listed (as expired) this long after their expiry, then
 * go; a revocation is kept this long after its token's expiry (a margin
 * for clocks that disagree), then forgotten: an expired token is refused
 * anyway. */
#define HTTP_TOKENS_EXPIRED_KEEP_MS (7ull * 24 * 3600 * 1000)
#define HTTP_TOKENS_REVOKED_KEEP_MS (24ull * 3600 * 1000)
/* Revocations one node holds (every origin). */
#define HTTP_TOKENS_REVOKED_MAX     8192

typedef struct _http_tokens_t http_tokens_t;

/* A token as it replicates (REC_TOKEN): everything but the secret. */
typedef struct {
    char id[API_TOKEN_ID_MAX + 1];
    http_role_t role;
    char name[HTTP_TOKEN_NAME_MAX + 1];
    uint64_t created_ms, expires_ms; /* wall clock; expires_ms 0: never */
    uint8_t hash[HTTP_TOKEN_HASH_BYTES];
} http_token_pub_t;

/* A revocation (REC_TOKEN_REVOKE). expires_ms: the token's (0: never). */
typedef struct {
    char id[API_TOKEN_ID_MAX + 1];
    uint64_t revoked_ms, expires_ms;
} http_token_revoked_t;

/* Open (or start) the store at `path`. NULL with a reason on a file that
 * does not parse or that others may read. */
http_tokens_t *http_tokens_open (const char *path, char *err, size_t errlen);
/* Writes pending use counts, then frees. NULL-safe. */
void http_tokens_destroy (http_tokens_t **self_p);

/* This node's name, shown as the origin of its own tokens in the list. */
void http_tokens_set_origin (http_tokens_t *self, const char *name);

/* Called (on the caller's thread, outside the lock) after this node's own
 * tokens or the revoked set changed: create, revoke, a learnt revocation,
 * expiry clean-up. The replication re-publishes from it. */
typedef void (http_tokens_fn) (void *arg);
void http_tokens_on_change (http_tokens_t *self, http_tokens_fn *fn, void *arg);

/* Requests per second each token may make, with a burst (token bucket,
 * kept per token in memory): a client with a good token still cannot make
 * the node's main loop serve it alone. rate 0 = no limit (the default). */
void http_tokens_set_rate (http_tokens_t *self, uint32_t per_s, uint32_t burst);

/* "read" / "operator" <-> role; HTTP_ROLE_NONE for anything else. */
http_role_t http_role_parse (const char *text);
const char *http_role_name (http_role_t role);

/* Mint a token: writes the store, then the token text (shown once) into
 * token[API_TOKEN_TEXT_MAX + 1] and its id into id[API_TOKEN_ID_MAX + 1].
 * name: "" or 1-63 of [A-Za-z0-9._-]. ttl_ms: 0 never expires, else it
 * expires that long from now. 0, or -1 with a reason. */
int http_tokens_create (http_tokens_t *self, http_role_t role, const char *name, uint64_t ttl_ms,
                        char *token, char *id, char *err, size_t errlen);

/* Revoke every token with this id, whichever node minted it: requests
 * with it get 401 at once, and the id joins the revoked set (which the
 * replication carries to every node). 0, or -1 (no such id, already
 * revoked, or the store could not be written) with a reason. */
int http_tokens_revoke (http_tokens_t *self, const char *id, char *err, size_t errlen);

/* A copy of the list for API_TOKEN_REP (free with free()); *n set. Every
 * origin; ours first. */
api_token_t *http_tokens_list (http_tokens_t *self, size_t *n);
size_t http_tokens_count (http_tokens_t *self);

/* Check an Authorization header value (NULL: absent). On HTTP_AUTH_OK (and
 * HTTP_AUTH_LIMITED) sets *role and copies the id into
 * id[API_TOKEN_ID_MAX + 1]; on failure id holds the id the header claimed
 * when one parsed (for logs), else "". */
http_auth_t http_tokens_check (http_tokens_t *self, const char *header, http_role_t *role,
                               char *id);

/* ---- replication (main loop; http_tokens_sync.h) ---------------------------- */

/* Copies (free with free()) of our own tokens and of the revoked set. */
http_token_pub_t *http_tokens_own (http_tokens_t *self, size_t *n);
http_token_revoked_t *http_tokens_revoked (http_tokens_t *self, size_t *n);

/* Another node's token (inserted or updated). 1 taken, 0 ignored (its id
 * is revoked, or origin is us), -1 the store is full (API_TOKENS_ALL_MAX). */
int http_tokens_put_remote (http_tokens_t *self, const char *origin, const http_token_pub_t *t);
/* Another node's token deleted; every token of an origin that left. */
void http_tokens_drop_remote (http_tokens_t *self, const char *origin, const char *id);
void http_tokens_drop_origin (http_tokens_t *self, const char *origin);

/* A revocation seen in the state: 1 new (tokens with that id dropped, the
 * file written, on_change called), 0 already known or already expired
 * past HTTP_TOKENS_REVOKED_KEEP_MS, -1 the set is full or the file could
 * not be written. */
int http_tokens_learn_revoked (http_tokens_t *self, const http_token_revoked_t *r);

/* Housekeeping, every few seconds: forget own tokens and revocations past
 * their keep time (on_change if any), and write use counts when some
 * changed and the last write is at least usage_every_ms old. */
void http_tokens_tick (http_tokens_t *self, uint64_t usage_every_ms);

#endif
