/*
 * http_tokens_int.h - what the token store's files share; not for other
 * modules (see http_tokens.h). Cross-file names are `http_tokens__`,
 * file-local ones `s_`.
 *   http_tokens.c       the store: its tables, its file (load, atomic
 *                       save), lifecycle, the replication's feed
 *                       (own, revoked, remote tokens, learnt revocations)
 *                       and housekeeping (tick)
 *   http_tokens_auth.c  roles, a request's bearer token checked and
 *                       rate-limited, and the token commands: create,
 *                       revoke, list, count
 * The store's functions below want its lock held, except the clocks, the
 * checks of a text, and http_tokens__changed (called outside it).
 */
#ifndef SHED_HTTP_TOKENS_INT_H
#define SHED_HTTP_TOKENS_INT_H

#include "node/http/http_tokens.h"

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define S_HASH_BYTES   HTTP_TOKEN_HASH_BYTES
#define S_SECRET_BYTES (HTTP_TOKEN_SECRET_HEX / 2)
#define S_ORIGIN_MAX   63

typedef struct {
    http_token_pub_t pub;
    char origin[S_ORIGIN_MAX + 1]; /* "": ours */
    uint64_t last_used_ms, uses;   /* requests this node served with it */
    double bucket;                 /* requests it may make now (rate limit) */
    int64_t refilled_ms;           /* monotonic; 0 = bucket not started */
} s_token_t;

/* Use counts read from the file for another node's token that has not
 * arrived from the state yet (applied when it does). */
typedef struct {
    char origin[S_ORIGIN_MAX + 1];
    char id[API_TOKEN_ID_MAX + 1];
    uint64_t last_used_ms, uses;
} s_used_t;

struct _http_tokens_t {
    pthread_mutex_t lock;
    char *path;
    char origin[S_ORIGIN_MAX + 1]; /* our name, for the list */
    s_token_t *items;
    size_t n, cap;
    http_token_revoked_t *revoked;
    size_t nrevoked, caprevoked;
    s_used_t *pending;
    size_t npending, cappending;
    uint32_t rate, burst;    /* per token; rate 0 = no limit */
    bool usage_dirty;        /* use counts changed since the last write */
    int64_t saved_mono_ms;   /* last write */
    int64_t started_mono_ms; /* pending use counts are dropped 10 min after */
    http_tokens_fn *on_change;
    void *on_change_arg;
};

/* ---- http_tokens.c ---------------------------------------------------------- */

/* Wall clock and monotonic clock, in ms. */
uint64_t http_tokens__now_ms (void);
int64_t http_tokens__mono_ms (void);
/* n lower-case hex digits, then the end of the text, '_' or ' '. */
bool http_tokens__hex (const char *s, size_t n);
/* A token name: 0-63 of [A-Za-z0-9._-]. */
bool http_tokens__name_ok (const char *name);
http_token_revoked_t *http_tokens__find_revoked (http_tokens_t *self, const char *id);
/* Tokens minted here (origin ""). */
size_t http_tokens__own_count (http_tokens_t *self);
/* Append a copy of t. 0, or -1 out of memory. */
int http_tokens__push (http_tokens_t *self, const s_token_t *t);
/* Write the file (atomically). 0, or -1 with errno. */
int http_tokens__save (http_tokens_t *self);
/* Call on_change; outside the lock. */
void http_tokens__changed (http_tokens_t *self);
/* Add `r` to the revoked set and drop every token with its id; writes the
 * file. 0, or -1 (full, or not written: nothing changed). */
int http_tokens__revoke_locked (http_tokens_t *self, const http_token_revoked_t *r);

#endif
