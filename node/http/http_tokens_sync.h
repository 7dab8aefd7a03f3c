/*
 * http_tokens_sync.h - remote API tokens, cluster-wide (docs/security.md,
 * "Remote API tokens"): carries the token store (http_tokens.h) through
 * the replicated state (docs/state.md).
 *
 * Out: this node's own tokens as `token` records (key = id, REC_TOKEN: id,
 * role, BLAKE2b-256 hash, name, created, expires; never the secret) and
 * every revocation it knows, whoever made it, as `token-revoke` records
 * (key = id). Republished from the store after each change (create,
 * revoke, a learnt revocation, expiry clean-up) and at start, so the
 * per-node token files of earlier versions are published as they are.
 *
 * In: other members' `token` records become tokens this node accepts
 * (dropped when deleted or when their origin leaves); anyone's
 * `token-revoke` record revokes the id here and, through the republish,
 * becomes a revocation of ours too: a revoke survives the node that made
 * it and the node that minted the token.
 *
 * Also ticks the store every 5 s (expiry clean-up, use counts to disk at
 * most every 10 minutes). Main loop only.
 */
#ifndef SHED_HTTP_TOKENS_SYNC_H
#define SHED_HTTP_TOKENS_SYNC_H

#include "node/http/http_tokens.h"
#include "node/state/node_state.h"

#include <czmq.h>

typedef struct _shed_tsync_t shed_tsync_t;

/* Borrows state, loop and tokens (all outlive it). `name`: this node. */
shed_tsync_t *shed_tsync_new (const char *name, shed_nstate_t *state, zloop_t *loop,
                              http_tokens_t *tokens);
void shed_tsync_destroy (shed_tsync_t **self_p);

/* Decode a `token` record value into *out (false: not a valid REC_TOKEN
 * for that key). Shared with the tests. */
bool shed_tsync_decode_token (const char *key, const uint8_t *value, size_t len,
                              http_token_pub_t *out);

#endif
