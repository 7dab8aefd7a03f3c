/* http_tokens.c - see http_tokens.h: the store (its tables, its file,
 * its lifecycle) and what the replication feeds it (http_tokens_sync.h)
 * and housekeeping. A request's check and the token commands are
 * http_tokens_auth.c (http_tokens_int.h lists both). */
#include "node/http/http_tokens_int.h"

#include "common/fileutil.h"

#include <ctype.h>
#include <errno.h>
#include <pthread.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#define S_FILE_MAX (4u << 20)

uint64_t
http_tokens__now_ms (void)
{
    struct timespec ts;
    clock_gettime (CLOCK_REALTIME, &ts);
    return (uint64_t) ts.tv_sec * 1000 + (uint64_t) ts.tv_nsec / 1000000;
}

int64_t
http_tokens__mono_ms (void)
{
    struct timespec ts;
    clock_gettime (CLOCK_MONOTONIC, &ts);
    return (int64_t) ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

bool
http_tokens__hex (const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (!isxdigit ((unsigned char) s[i]) || isupper ((unsigned char) s[i]))
            return false;
    return s[n] == '\0' || s[n] == '_' || s[n] == ' ';
}

bool
http_tokens__name_ok (const char *name)
{
    size_t len = strlen (name);
    if (len > 63)
        return false;
    for (size_t i = 0; i < len; i++)
        if (!isalnum ((unsigned char) name[i]) && !strchr ("._-", name[i]))
            return false;
    return true;
}

static bool
s_id_ok (const char *id)
{
    return strlen (id) == HTTP_TOKEN_ID_HEX && http_tokens__hex (id, HTTP_TOKEN_ID_HEX);
}

static s_token_t *
s_find (http_tokens_t *self, const char *origin, const char *id)
{
    for (size_t i = 0; i < self->n; i++)
        if (strcmp (self->items[i].pub.id, id) == 0 && strcmp (self->items[i].origin, origin) == 0)
            return &self->items[i];
    return NULL;
}

http_token_revoked_t *
http_tokens__find_revoked (http_tokens_t *self, const char *id)
{
    for (size_t i = 0; i < self->nrevoked; i++)
        if (strcmp (self->revoked[i].id, id) == 0)
            return &self->revoked[i];
    return NULL;
}

size_t
http_tokens__own_count (http_tokens_t *self)
{
    size_t n = 0;
    for (size_t i = 0; i < self->n; i++)
        n += self->items[i].origin[0] == '\0';
    return n;
}

static void
s_remove_at (http_tokens_t *self, size_t i)
{
    memmove (&self->items[i], &self->items[i + 1], (self->n - i - 1) * sizeof *self->items);
    self->n--;
    sodium_memzero (&self->items[self->n], sizeof *self->items);
}

static int
s_grow (void **items, size_t *cap, size_t n, size_t size)
{
    if (n < *cap)
        return 0;
    size_t ncap = *cap ? *cap * 2 : 16;
    void *p = realloc (*items, ncap * size);
    if (!p)
        return -1;
    *items = p;
    *cap = ncap;
    return 0;
}

int
http_tokens__push (http_tokens_t *self, const s_token_t *t)
{
    if (s_grow ((void **) &self->items, &self->cap, self->n, sizeof *self->items) != 0)
        return -1;
    self->items[self->n++] = *t;
    return 0;
}

static int
s_push_revoked (http_tokens_t *self, const http_token_revoked_t *r)
{
    if (self->nrevoked >= HTTP_TOKENS_REVOKED_MAX
        || s_grow ((void **) &self->revoked, &self->caprevoked, self->nrevoked,
                   sizeof *self->revoked)
               != 0)
        return -1;
    self->revoked[self->nrevoked++] = *r;
    return 0;
}

/* ---- the file ------------------------------------------------------------- */

static bool
s_u64 (const char *text, uint64_t *out)
{
    if (!text || !isdigit ((unsigned char) *text))
        return false;
    char *end = NULL;
    errno = 0;
    *out = strtoull (text, &end, 10);
    return errno == 0 && *end == '\0';
}

static bool
s_hash_parse (const char *hex, uint8_t hash[S_HASH_BYTES])
{
    size_t bin = 0;
    return hex && strlen (hex) == 2 * S_HASH_BYTES
           && sodium_hex2bin (hash, S_HASH_BYTES, hex, strlen (hex), NULL, &bin, NULL) == 0
           && bin == S_HASH_BYTES;
}

/* Split `line` at spaces into at most `max` fields; returns the count, or
 * max + 1 when there are more. */
static size_t
s_split (char *line, char **f, size_t max)
{
    size_t n = 0;
    char *save = NULL;
    for (char *w = strtok_r (line, " ", &save); w; w = strtok_r (NULL, " ", &save)) {
        if (n == max)
            return max + 1;
        f[n++] = w;
    }
    return n;
}

/* One line into the store (load, under no lock: nobody else holds it yet).
 * 0, or -1 when it does not parse. */
static int
s_parse_line (http_tokens_t *self, char *line)
{
    char *f[10];
    size_t n = s_split (line, f, 9);
    s_token_t t;
    memset (&t, 0, sizeof t);
    char *id, *role, *hash, *created, *name = NULL;
    if (n >= 1 && strcmp (f[0], "revoked") == 0) {
        http_token_revoked_t r = { 0 };
        if (n != 4 || !s_id_ok (f[1]) || !s_u64 (f[2], &r.revoked_ms)
            || !s_u64 (f[3], &r.expires_ms))
            return -1;
        strcpy (r.id, f[1]);
        return http_tokens__find_revoked (self, r.id) || s_push_revoked (self, &r) == 0 ? 0 : -1;
    }
    if (n >= 1 && strcmp (f[0], "used") == 0) {
        s_used_t u = { 0 };
        if (n != 5 || strlen (f[1]) > S_ORIGIN_MAX || !s_id_ok (f[2])
            || !s_u64 (f[3], &u.last_used_ms) || !s_u64 (f[4], &u.uses))
            return -1;
        strcpy (u.origin, f[1]);
        strcpy (u.id, f[2]);
        if (self->npending >= API_TOKENS_ALL_MAX)
            return 0; /* more than can ever be used: the rest are dropped */
        if (s_grow ((void **) &self->pending, &self->cappending, self->npending,
                    sizeof *self->pending)
            != 0)
            return -1;
        self->pending[self->npending++] = u;
        return 0;
    }
    if (n >= 1 && strcmp (f[0], "token") == 0) {
        if (n < 8 || n > 9)
            return -1;
        id = f[1], role = f[2], hash = f[3], created = f[4];
        if (!s_u64 (f[5], &t.pub.expires_ms) || !s_u64 (f[6], &t.last_used_ms)
            || !s_u64 (f[7], &t.uses))
            return -1;
        name = n == 9 ? f[8] : NULL;
    }
    else {
        /* Before expiry: "id role hash created_ms [name]". */
        if (n < 4 || n > 5)
            return -1;
        id = f[0], role = f[1], hash = f[2], created = f[3];
        name = n == 5 ? f[4] : NULL;
    }
    t.pub.role = http_role_parse (role);
    if (!s_id_ok (id) || t.pub.role == HTTP_ROLE_NONE || !s_hash_parse (hash, t.pub.hash)
        || !s_u64 (created, &t.pub.created_ms) || (name && !http_tokens__name_ok (name)))
        return -1;
    strcpy (t.pub.id, id);
    snprintf (t.pub.name, sizeof t.pub.name, "%s", name ? name : "");
    if (http_tokens__own_count (self) >= API_TOKENS_MAX || http_tokens__push (self, &t) != 0)
        return -1;
    return 0;
}

static int
s_load (http_tokens_t *self, char *err, size_t errlen)
{
    struct stat st;
    if (stat (self->path, &st) != 0) {
        if (errno == ENOENT)
            return 0; /* no token made yet */
        snprintf (err, errlen, "API tokens %s: %s", self->path, strerror (errno));
        return -1;
    }
    if (st.st_mode & 077) {
        snprintf (err, errlen,
                  "API tokens %s: readable or writable by others (mode %03o): chmod 600",
                  self->path, (unsigned) (st.st_mode & 0777));
        return -1;
    }
    size_t len = 0;
    char *text = shed_read_file (self->path, S_FILE_MAX, &len);
    if (!text) {
        snprintf (err, errlen, "API tokens %s: %s", self->path, strerror (errno));
        return -1;
    }
    int lineno = 0, rc = 0;
    char *save = NULL;
    for (char *line = strtok_r (text, "\n", &save); line; line = strtok_r (NULL, "\n", &save)) {
        lineno++;
        if (line[0] == '#' || line[0] == '\0')
            continue;
        if (s_parse_line (self, line) != 0) {
            snprintf (err, errlen,
                      "API tokens %s:%d: not a token line (or more than %d tokens, %d "
                      "revocations)",
                      self->path, lineno, API_TOKENS_MAX, HTTP_TOKENS_REVOKED_MAX);
            rc = -1;
            break;
        }
    }
    sodium_memzero (text, len);
    free (text);
    return rc;
}

int
http_tokens__save (http_tokens_t *self)
{
    size_t cap = 256 + self->n * 256 + self->nrevoked * 64 + self->npending * 128, len = 0;
    char *buf = malloc (cap);
    if (!buf)
        return -1;
    len += (size_t) snprintf (buf, cap,
                              "# shed-node API tokens (docs/security.md): token id role "
                              "blake2b-256(secret) created_ms expires_ms last_used_ms uses "
                              "name | revoked id revoked_ms expires_ms | used origin id "
                              "last_used_ms uses\n");
    for (size_t i = 0; i < self->n; i++) {
        const s_token_t *t = &self->items[i];
        if (t->origin[0]) {
            if (t->uses)
                len += (size_t) snprintf (buf + len, cap - len, "used %s %s %llu %llu\n", t->origin,
                                          t->pub.id, (unsigned long long) t->last_used_ms,
                                          (unsigned long long) t->uses);
            continue;
        }
        char hex[2 * S_HASH_BYTES + 1];
        sodium_bin2hex (hex, sizeof hex, t->pub.hash, sizeof t->pub.hash);
        len += (size_t) snprintf (
            buf + len, cap - len, "token %s %s %s %llu %llu %llu %llu%s%s\n", t->pub.id,
            http_role_name (t->pub.role), hex, (unsigned long long) t->pub.created_ms,
            (unsigned long long) t->pub.expires_ms, (unsigned long long) t->last_used_ms,
            (unsigned long long) t->uses, t->pub.name[0] ? " " : "", t->pub.name);
    }
    for (size_t i = 0; i < self->nrevoked; i++)
        len +=
            (size_t) snprintf (buf + len, cap - len, "revoked %s %llu %llu\n", self->revoked[i].id,
                               (unsigned long long) self->revoked[i].revoked_ms,
                               (unsigned long long) self->revoked[i].expires_ms);
    for (size_t i = 0; i < self->npending; i++)
        len += (size_t) snprintf (buf + len, cap - len, "used %s %s %llu %llu\n",
                                  self->pending[i].origin, self->pending[i].id,
                                  (unsigned long long) self->pending[i].last_used_ms,
                                  (unsigned long long) self->pending[i].uses);
    int rc = shed_write_file_atomic (self->path, buf, len, 0600);
    free (buf);
    if (rc == 0) {
        self->usage_dirty = false;
        self->saved_mono_ms = http_tokens__mono_ms ();
    }
    return rc;
}

void
http_tokens__changed (http_tokens_t *self)
{
    if (self->on_change)
        self->on_change (self->on_change_arg);
}

/* ---- lifecycle ------------------------------------------------------------ */

http_tokens_t *
http_tokens_open (const char *path, char *err, size_t errlen)
{
    if (sodium_init () < 0) {
        snprintf (err, errlen, "libsodium did not initialise");
        return NULL;
    }
    http_tokens_t *self = calloc (1, sizeof *self);
    if (!self || !(self->path = strdup (path))) {
        free (self);
        snprintf (err, errlen, "out of memory");
        return NULL;
    }
    pthread_mutex_init (&self->lock, NULL);
    self->started_mono_ms = self->saved_mono_ms = http_tokens__mono_ms ();
    if (s_load (self, err, errlen) != 0) {
        http_tokens_destroy (&self);
        return NULL;
    }
    return self;
}

void
http_tokens_destroy (http_tokens_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    http_tokens_t *self = *self_p;
    if (self->usage_dirty)
        http_tokens__save (self); /* a clean stop keeps the use counts */
    pthread_mutex_destroy (&self->lock);
    if (self->items)
        sodium_memzero (self->items, self->cap * sizeof *self->items);
    free (self->items);
    free (self->revoked);
    free (self->pending);
    free (self->path);
    free (self);
    *self_p = NULL;
}

void
http_tokens_set_origin (http_tokens_t *self, const char *name)
{
    pthread_mutex_lock (&self->lock);
    snprintf (self->origin, sizeof self->origin, "%s", name ? name : "");
    pthread_mutex_unlock (&self->lock);
}

void
http_tokens_on_change (http_tokens_t *self, http_tokens_fn *fn, void *arg)
{
    pthread_mutex_lock (&self->lock);
    self->on_change = fn;
    self->on_change_arg = arg;
    pthread_mutex_unlock (&self->lock);
}

/* ---- revoking (a revoke command, a learnt revocation) ---------------------- */

/* Add `r` to the revoked set and drop every token with its id; writes the
 * file. Under the lock. 0, or -1 (full, or not written: nothing changed). */
int
http_tokens__revoke_locked (http_tokens_t *self, const http_token_revoked_t *r)
{
    if (s_push_revoked (self, r) != 0) {
        errno = ENOSPC;
        return -1;
    }
    s_token_t *keep = malloc ((self->n ? self->n : 1) * sizeof *keep);
    if (!keep) {
        self->nrevoked--;
        return -1;
    }
    size_t nkeep = 0;
    for (size_t i = 0; i < self->n; i++)
        if (strcmp (self->items[i].pub.id, r->id) != 0)
            keep[nkeep++] = self->items[i];
    /* Write with the tokens gone; on failure nothing changed: a revoke that
     * did not reach the disk would come back to life at the next start. */
    s_token_t *old = self->items;
    size_t oldn = self->n;
    self->items = keep;
    self->n = nkeep;
    if (http_tokens__save (self) != 0) {
        int e = errno;
        self->items = old;
        self->n = oldn;
        self->nrevoked--;
        free (keep);
        errno = e;
        return -1;
    }
    self->items = old;
    if (nkeep) /* items is NULL while no token is held */
        memcpy (self->items, keep, nkeep * sizeof *keep);
    if (oldn > nkeep)
        sodium_memzero (&self->items[nkeep], (oldn - nkeep) * sizeof *self->items);
    self->n = nkeep;
    sodium_memzero (keep, nkeep * sizeof *keep);
    free (keep);
    return 0;
}

/* ---- replication -------------------------------------------------------------- */

http_token_pub_t *
http_tokens_own (http_tokens_t *self, size_t *n)
{
    pthread_mutex_lock (&self->lock);
    http_token_pub_t *out = calloc (self->n ? self->n : 1, sizeof *out);
    *n = 0;
    for (size_t i = 0; out && i < self->n; i++)
        if (!self->items[i].origin[0])
            out[(*n)++] = self->items[i].pub;
    pthread_mutex_unlock (&self->lock);
    return out;
}

http_token_revoked_t *
http_tokens_revoked (http_tokens_t *self, size_t *n)
{
    pthread_mutex_lock (&self->lock);
    http_token_revoked_t *out = calloc (self->nrevoked ? self->nrevoked : 1, sizeof *out);
    *n = 0;
    if (out && self->nrevoked) { /* revoked is NULL while none is kept */
        memcpy (out, self->revoked, self->nrevoked * sizeof *out);
        *n = self->nrevoked;
    }
    pthread_mutex_unlock (&self->lock);
    return out;
}

int
http_tokens_put_remote (http_tokens_t *self, const char *origin, const http_token_pub_t *t)
{
    if (!origin || !origin[0] || strlen (origin) > S_ORIGIN_MAX || !s_id_ok (t->id)
        || t->role == HTTP_ROLE_NONE || !http_tokens__name_ok (t->name))
        return 0;
    pthread_mutex_lock (&self->lock);
    int rc = 0;
    if (strcmp (origin, self->origin) == 0 || http_tokens__find_revoked (self, t->id))
        goto done;
    s_token_t *have = s_find (self, origin, t->id);
    if (have) {
        have->pub = *t;
        rc = 1;
        goto done;
    }
    if (self->n >= API_TOKENS_ALL_MAX) {
        rc = -1;
        goto done;
    }
    s_token_t nt = { .pub = *t };
    snprintf (nt.origin, sizeof nt.origin, "%s", origin);
    for (size_t i = 0; i < self->npending; i++)
        if (strcmp (self->pending[i].origin, origin) == 0
            && strcmp (self->pending[i].id, t->id) == 0) {
            nt.last_used_ms = self->pending[i].last_used_ms;
            nt.uses = self->pending[i].uses;
            self->pending[i] = self->pending[--self->npending];
            break;
        }
    rc = http_tokens__push (self, &nt) == 0 ? 1 : -1;
done:
    pthread_mutex_unlock (&self->lock);
    return rc;
}

void
http_tokens_drop_remote (http_tokens_t *self, const char *origin, const char *id)
{
    pthread_mutex_lock (&self->lock);
    if (origin && origin[0])
        for (size_t i = 0; i < self->n; i++)
            if (strcmp (self->items[i].origin, origin) == 0
                && strcmp (self->items[i].pub.id, id) == 0) {
                s_remove_at (self, i);
                break;
            }
    pthread_mutex_unlock (&self->lock);
}

void
http_tokens_drop_origin (http_tokens_t *self, const char *origin)
{
    pthread_mutex_lock (&self->lock);
    if (origin && origin[0])
        for (size_t i = self->n; i-- > 0;)
            if (strcmp (self->items[i].origin, origin) == 0)
                s_remove_at (self, i);
    pthread_mutex_unlock (&self->lock);
}

int
http_tokens_learn_revoked (http_tokens_t *self, const http_token_revoked_t *r)
{
    if (!s_id_ok (r->id))
        return 0;
    uint64_t now = http_tokens__now_ms ();
    if (r->expires_ms && r->expires_ms + HTTP_TOKENS_REVOKED_KEEP_MS < now)
        return 0; /* forgotten already; the token is refused as expired */
    pthread_mutex_lock (&self->lock);
    int rc = 0;
    if (!http_tokens__find_revoked (self, r->id))
        rc = http_tokens__revoke_locked (self, r) == 0 ? 1 : -1;
    pthread_mutex_unlock (&self->lock);
    if (rc == 1)
        http_tokens__changed (self);
    return rc;
}

void
http_tokens_tick (http_tokens_t *self, uint64_t usage_every_ms)
{
    uint64_t now = http_tokens__now_ms ();
    int64_t mono = http_tokens__mono_ms ();
    bool changed = false;
    pthread_mutex_lock (&self->lock);
    for (size_t i = self->n; i-- > 0;) {
        const s_token_t *t = &self->items[i];
        if (!t->origin[0] && t->pub.expires_ms
            && t->pub.expires_ms + HTTP_TOKENS_EXPIRED_KEEP_MS < now) {
            s_remove_at (self, i);
            changed = true;
        }
    }
    for (size_t i = self->nrevoked; i-- > 0;) {
        const http_token_revoked_t *r = &self->revoked[i];
        if (r->expires_ms && r->expires_ms + HTTP_TOKENS_REVOKED_KEEP_MS < now) {
            self->revoked[i] = self->revoked[--self->nrevoked];
            changed = true;
        }
    }
    /* Use counts of tokens that never came back (their node left while we
     * were down) are not kept forever. */
    bool write = changed;
    if (self->npending && mono - self->started_mono_ms >= (int64_t) HTTP_TOKENS_USAGE_FLUSH_MS) {
        self->npending = 0;
        write = true;
    }
    if (write || (self->usage_dirty && mono - self->saved_mono_ms >= (int64_t) usage_every_ms))
        http_tokens__save (self); /* a failure is retried at the next tick (dirty stays set) */
    pthread_mutex_unlock (&self->lock);
    if (changed)
        http_tokens__changed (self);
}
