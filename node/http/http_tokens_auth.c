/* http_tokens_auth.c - see http_tokens.h: what the HTTP side asks of the
 * store: roles, a request's bearer token checked (and its rate), and the
 * token commands (create, revoke, list). The store itself is
 * http_tokens.c (http_tokens_int.h). */
#include "node/http/http_tokens_int.h"

#include <errno.h>
#include <pthread.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* One request from t's bucket: refill by the time passed, then take. */
static bool
s_take (http_tokens_t *self, s_token_t *t)
{
    if (!self->rate)
        return true;
    int64_t now = http_tokens__mono_ms ();
    if (!t->refilled_ms)
        t->bucket = self->burst;
    else
        t->bucket += (double) (now - t->refilled_ms) * self->rate / 1000.0;
    if (t->bucket > self->burst)
        t->bucket = self->burst;
    t->refilled_ms = now;
    if (t->bucket < 1.0)
        return false;
    t->bucket -= 1.0;
    return true;
}

http_role_t
http_role_parse (const char *text)
{
    if (text && strcmp (text, "read") == 0)
        return HTTP_ROLE_READ;
    if (text && strcmp (text, "operator") == 0)
        return HTTP_ROLE_OPERATOR;
    return HTTP_ROLE_NONE;
}

const char *
http_role_name (http_role_t role)
{
    return role == HTTP_ROLE_OPERATOR ? "operator" : role == HTTP_ROLE_READ ? "read" : "none";
}

static void
s_hash (const uint8_t *secret, uint8_t hash[S_HASH_BYTES])
{
    crypto_generichash (hash, S_HASH_BYTES, secret, S_SECRET_BYTES, NULL, 0);
}

/* ---- operations ------------------------------------------------------------- */

static bool
s_id_taken (http_tokens_t *self, const char *id)
{
    for (size_t i = 0; i < self->n; i++)
        if (strcmp (self->items[i].pub.id, id) == 0)
            return true;
    return http_tokens__find_revoked (self, id) != NULL;
}

int
http_tokens_create (http_tokens_t *self, http_role_t role, const char *name, uint64_t ttl_ms,
                    char *token, char *id, char *err, size_t errlen)
{
    if (role == HTTP_ROLE_NONE) {
        snprintf (err, errlen, "role must be read or operator");
        return -1;
    }
    if (!name)
        name = "";
    if (!http_tokens__name_ok (name)) {
        snprintf (err, errlen, "token name '%.63s': 0-63 of A-Z a-z 0-9 . _ -", name);
        return -1;
    }
    uint64_t now = http_tokens__now_ms ();
    if (ttl_ms > UINT64_MAX - now) {
        snprintf (err, errlen, "token ttl too long");
        return -1;
    }
    s_token_t t = {
        .pub = { .role = role, .created_ms = now, .expires_ms = ttl_ms ? now + ttl_ms : 0 }
    };
    snprintf (t.pub.name, sizeof t.pub.name, "%s", name);
    uint8_t secret[S_SECRET_BYTES];
    randombytes_buf (secret, sizeof secret);
    s_hash (secret, t.pub.hash);
    pthread_mutex_lock (&self->lock);
    int rc = -1;
    if (http_tokens__own_count (self) >= API_TOKENS_MAX || self->n >= API_TOKENS_ALL_MAX) {
        snprintf (err, errlen, "at most %d tokens per node (%d in the cluster): revoke some first",
                  API_TOKENS_MAX, API_TOKENS_ALL_MAX);
        goto done;
    }
    /* A fresh id, unused by any node this one knows of and never revoked;
     * 2^32 ids: a clash is rare, and simply drawn again. */
    do
        snprintf (t.pub.id, sizeof t.pub.id, "%08x", randombytes_random ());
    while (s_id_taken (self, t.pub.id));
    if (http_tokens__push (self, &t) != 0) {
        snprintf (err, errlen, "out of memory");
        goto done;
    }
    if (http_tokens__save (self) != 0) {
        snprintf (err, errlen, "cannot write %s: %s", self->path, strerror (errno));
        self->n--;
        goto done;
    }
    char hex[HTTP_TOKEN_SECRET_HEX + 1];
    sodium_bin2hex (hex, sizeof hex, secret, sizeof secret);
    snprintf (token, API_TOKEN_TEXT_MAX + 1, HTTP_TOKEN_PREFIX "%s_%s", t.pub.id, hex);
    snprintf (id, API_TOKEN_ID_MAX + 1, "%s", t.pub.id);
    sodium_memzero (hex, sizeof hex);
    rc = 0;
done:
    pthread_mutex_unlock (&self->lock);
    sodium_memzero (secret, sizeof secret);
    if (rc == 0)
        http_tokens__changed (self);
    return rc;
}

int
http_tokens_revoke (http_tokens_t *self, const char *id, char *err, size_t errlen)
{
    pthread_mutex_lock (&self->lock);
    int rc = -1;
    http_token_revoked_t r = { .revoked_ms = http_tokens__now_ms () };
    bool found = false, forever = false;
    for (size_t i = 0; i < self->n; i++) {
        const s_token_t *t = &self->items[i];
        if (strcmp (t->pub.id, id) != 0)
            continue;
        found = true;
        forever |= t->pub.expires_ms == 0;
        if (t->pub.expires_ms > r.expires_ms)
            r.expires_ms = t->pub.expires_ms;
    }
    if (forever)
        r.expires_ms = 0;
    if (!found) {
        if (http_tokens__find_revoked (self, id))
            snprintf (err, errlen, "token %.16s is already revoked", id);
        else
            snprintf (err, errlen, "no token with id '%.16s' (shedctl token list)", id);
        goto done;
    }
    snprintf (r.id, sizeof r.id, "%s", id);
    if (http_tokens__revoke_locked (self, &r) != 0) {
        snprintf (err, errlen, "cannot write %s: %s", self->path, strerror (errno));
        goto done;
    }
    rc = 0;
done:
    pthread_mutex_unlock (&self->lock);
    if (rc == 0)
        http_tokens__changed (self);
    return rc;
}

api_token_t *
http_tokens_list (http_tokens_t *self, size_t *n)
{
    pthread_mutex_lock (&self->lock);
    api_token_t *out = calloc (self->n ? self->n : 1, sizeof *out);
    *n = 0;
    /* Ours first, then the others' in the order they arrived. */
    for (int pass = 0; out && pass < 2; pass++)
        for (size_t i = 0; i < self->n; i++) {
            const s_token_t *t = &self->items[i];
            if ((pass == 0) != (t->origin[0] == '\0'))
                continue;
            api_token_t *o = &out[(*n)++];
            snprintf (o->id, sizeof o->id, "%s", t->pub.id);
            snprintf (o->role, sizeof o->role, "%s", http_role_name (t->pub.role));
            snprintf (o->name, sizeof o->name, "%s", t->pub.name);
            snprintf (o->origin, sizeof o->origin, "%s", t->origin[0] ? t->origin : self->origin);
            o->created_ms = t->pub.created_ms;
            o->expires_ms = t->pub.expires_ms;
            o->last_used_ms = t->last_used_ms;
            o->uses = t->uses;
        }
    pthread_mutex_unlock (&self->lock);
    return out;
}

void
http_tokens_set_rate (http_tokens_t *self, uint32_t per_s, uint32_t burst)
{
    pthread_mutex_lock (&self->lock);
    self->rate = per_s;
    self->burst = burst > 0 ? burst : (per_s > 0 ? per_s : 1);
    pthread_mutex_unlock (&self->lock);
}

size_t
http_tokens_count (http_tokens_t *self)
{
    pthread_mutex_lock (&self->lock);
    size_t n = self->n;
    pthread_mutex_unlock (&self->lock);
    return n;
}

http_auth_t
http_tokens_check (http_tokens_t *self, const char *header, http_role_t *role, char *id)
{
    id[0] = '\0';
    *role = HTTP_ROLE_NONE;
    if (!header)
        return HTTP_AUTH_MISSING;
    /* "Bearer" is case-insensitive (RFC 6750 via RFC 7235); the token is not. */
    if (strncasecmp (header, "Bearer ", 7) != 0)
        return HTTP_AUTH_MALFORMED;
    const char *tok = header + 7;
    while (*tok == ' ')
        tok++;
    size_t plen = strlen (HTTP_TOKEN_PREFIX);
    if (strncmp (tok, HTTP_TOKEN_PREFIX, plen) != 0
        || strlen (tok) != plen + HTTP_TOKEN_ID_HEX + 1 + HTTP_TOKEN_SECRET_HEX)
        return HTTP_AUTH_MALFORMED;
    const char *tid = tok + plen, *sec = tid + HTTP_TOKEN_ID_HEX + 1;
    if (tid[HTTP_TOKEN_ID_HEX] != '_' || !http_tokens__hex (tid, HTTP_TOKEN_ID_HEX)
        || !http_tokens__hex (sec, HTTP_TOKEN_SECRET_HEX))
        return HTTP_AUTH_MALFORMED;
    memcpy (id, tid, HTTP_TOKEN_ID_HEX);
    id[HTTP_TOKEN_ID_HEX] = '\0';
    uint8_t secret[S_SECRET_BYTES], hash[S_HASH_BYTES];
    size_t bin = 0;
    if (sodium_hex2bin (secret, sizeof secret, sec, HTTP_TOKEN_SECRET_HEX, NULL, &bin, NULL) != 0
        || bin != sizeof secret)
        return HTTP_AUTH_MALFORMED;
    s_hash (secret, hash);
    sodium_memzero (secret, sizeof secret);
    http_auth_t rc = HTTP_AUTH_UNKNOWN;
    uint64_t now = http_tokens__now_ms ();
    pthread_mutex_lock (&self->lock);
    /* Ids are unique per node but two nodes may, rarely, draw the same one:
     * every token with this id is tried, and the secret decides. */
    for (size_t i = 0; i < self->n; i++) {
        s_token_t *t = &self->items[i];
        if (strcmp (t->pub.id, id) != 0 || sodium_memcmp (t->pub.hash, hash, sizeof hash) != 0)
            continue;
        /* Expiry is told only to a caller that holds the secret. */
        if (t->pub.expires_ms && now >= t->pub.expires_ms) {
            rc = HTTP_AUTH_EXPIRED;
            break;
        }
        *role = t->pub.role;
        t->uses++;
        t->last_used_ms = now;
        self->usage_dirty = true;
        rc = s_take (self, t) ? HTTP_AUTH_OK : HTTP_AUTH_LIMITED;
        break;
    }
    pthread_mutex_unlock (&self->lock);
    return rc;
}
