/* http_tokens.c - see http_tokens.h. */
#include "node/http/http_tokens.h"

#include "common/fileutil.h"

#include <ctype.h>
#include <errno.h>
#include <pthread.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>

#define S_HASH_BYTES   32
#define S_FILE_MAX     (1u << 20)
#define S_SECRET_BYTES (HTTP_TOKEN_SECRET_HEX / 2)

typedef struct {
    char id[API_TOKEN_ID_MAX + 1];
    http_role_t role;
    char name[64];
    uint64_t created_ms;
    uint8_t hash[S_HASH_BYTES];
    uint64_t last_used_ms, uses; /* since this start */
    double bucket;               /* requests it may make now (rate limit) */
    int64_t refilled_ms;         /* monotonic; 0 = bucket not started */
} s_token_t;

struct _http_tokens_t {
    pthread_mutex_t lock;
    char *path;
    s_token_t *items;
    size_t n, cap;
    uint32_t rate, burst; /* per token; rate 0 = no limit */
};

static uint64_t
s_now_ms (void)
{
    struct timespec ts;
    clock_gettime (CLOCK_REALTIME, &ts);
    return (uint64_t) ts.tv_sec * 1000 + (uint64_t) ts.tv_nsec / 1000000;
}

static int64_t
s_mono_ms (void)
{
    struct timespec ts;
    clock_gettime (CLOCK_MONOTONIC, &ts);
    return (int64_t) ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* One request from t's bucket: refill by the time passed, then take. */
static bool
s_take (http_tokens_t *self, s_token_t *t)
{
    if (!self->rate)
        return true;
    int64_t now = s_mono_ms ();
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

static bool
s_hex (const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (!isxdigit ((unsigned char) s[i]) || isupper ((unsigned char) s[i]))
            return false;
    return s[n] == '\0' || s[n] == '_' || s[n] == ' ';
}

static bool
s_name_ok (const char *name)
{
    size_t len = strlen (name);
    if (len > 63)
        return false;
    for (size_t i = 0; i < len; i++)
        if (!isalnum ((unsigned char) name[i]) && !strchr ("._-", name[i]))
            return false;
    return true;
}

static void
s_hash (const uint8_t *secret, uint8_t hash[S_HASH_BYTES])
{
    crypto_generichash (hash, S_HASH_BYTES, secret, S_SECRET_BYTES, NULL, 0);
}

/* ---- the file ------------------------------------------------------------- */

static int
s_push (http_tokens_t *self, const s_token_t *t)
{
    if (self->n == self->cap) {
        size_t cap = self->cap ? self->cap * 2 : 16;
        s_token_t *items = realloc (self->items, cap * sizeof *items);
        if (!items)
            return -1;
        self->items = items;
        self->cap = cap;
    }
    self->items[self->n++] = *t;
    return 0;
}

/* "id role hash created_ms [name]" */
static int
s_parse_line (char *line, s_token_t *t)
{
    memset (t, 0, sizeof *t);
    char *save = NULL;
    char *id = strtok_r (line, " ", &save);
    char *role = strtok_r (NULL, " ", &save);
    char *hash = strtok_r (NULL, " ", &save);
    char *created = strtok_r (NULL, " ", &save);
    char *name = strtok_r (NULL, " ", &save);
    if (!id || !role || !hash || !created || strtok_r (NULL, " ", &save))
        return -1;
    if (strlen (id) != HTTP_TOKEN_ID_HEX || !s_hex (id, HTTP_TOKEN_ID_HEX))
        return -1;
    t->role = http_role_parse (role);
    size_t bin = 0;
    if (t->role == HTTP_ROLE_NONE || strlen (hash) != 2 * S_HASH_BYTES
        || sodium_hex2bin (t->hash, sizeof t->hash, hash, strlen (hash), NULL, &bin, NULL) != 0
        || bin != S_HASH_BYTES)
        return -1;
    char *end = NULL;
    errno = 0;
    t->created_ms = strtoull (created, &end, 10);
    if (errno || *end || !isdigit ((unsigned char) *created))
        return -1;
    if (name && !s_name_ok (name))
        return -1;
    strcpy (t->id, id);
    snprintf (t->name, sizeof t->name, "%s", name ? name : "");
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
        s_token_t t;
        if (s_parse_line (line, &t) != 0) {
            snprintf (err, errlen, "API tokens %s:%d: not a token line", self->path, lineno);
            rc = -1;
            break;
        }
        if (self->n >= API_TOKENS_MAX || s_push (self, &t) != 0) {
            snprintf (err, errlen, "API tokens %s: more than %d tokens", self->path,
                      API_TOKENS_MAX);
            rc = -1;
            break;
        }
    }
    sodium_memzero (text, len);
    free (text);
    return rc;
}

static int
s_save (http_tokens_t *self)
{
    size_t cap = 128 + self->n * 160, len = 0;
    char *buf = malloc (cap);
    if (!buf)
        return -1;
    len += (size_t) snprintf (buf, cap,
                              "# shed-node API tokens (docs/security.md): id role "
                              "blake2b-256(secret) created_ms name\n");
    for (size_t i = 0; i < self->n; i++) {
        const s_token_t *t = &self->items[i];
        char hex[2 * S_HASH_BYTES + 1];
        sodium_bin2hex (hex, sizeof hex, t->hash, sizeof t->hash);
        len += (size_t) snprintf (buf + len, cap - len, "%s %s %s %llu%s%s\n", t->id,
                                  http_role_name (t->role), hex, (unsigned long long) t->created_ms,
                                  t->name[0] ? " " : "", t->name);
    }
    int rc = shed_write_file_atomic (self->path, buf, len, 0600);
    free (buf);
    return rc;
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
    pthread_mutex_destroy (&self->lock);
    if (self->items)
        sodium_memzero (self->items, self->cap * sizeof *self->items);
    free (self->items);
    free (self->path);
    free (self);
    *self_p = NULL;
}

/* ---- operations ------------------------------------------------------------- */

int
http_tokens_create (http_tokens_t *self, http_role_t role, const char *name, char *token, char *id,
                    char *err, size_t errlen)
{
    if (role == HTTP_ROLE_NONE) {
        snprintf (err, errlen, "role must be read or operator");
        return -1;
    }
    if (!name)
        name = "";
    if (!s_name_ok (name)) {
        snprintf (err, errlen, "token name '%.63s': 0-63 of A-Z a-z 0-9 . _ -", name);
        return -1;
    }
    s_token_t t = { .role = role, .created_ms = s_now_ms () };
    snprintf (t.name, sizeof t.name, "%s", name);
    uint8_t secret[S_SECRET_BYTES];
    randombytes_buf (secret, sizeof secret);
    s_hash (secret, t.hash);
    pthread_mutex_lock (&self->lock);
    int rc = -1;
    if (self->n >= API_TOKENS_MAX) {
        snprintf (err, errlen, "at most %d tokens: revoke some first", API_TOKENS_MAX);
        goto done;
    }
    /* A fresh id; 2^32 ids and at most 1024 tokens: a clash is rare, and
     * simply drawn again. */
    for (bool clash = true; clash;) {
        uint32_t r = randombytes_random ();
        snprintf (t.id, sizeof t.id, "%08x", r);
        clash = false;
        for (size_t i = 0; i < self->n; i++)
            clash |= strcmp (self->items[i].id, t.id) == 0;
    }
    if (s_push (self, &t) != 0) {
        snprintf (err, errlen, "out of memory");
        goto done;
    }
    if (s_save (self) != 0) {
        snprintf (err, errlen, "cannot write %s: %s", self->path, strerror (errno));
        self->n--;
        goto done;
    }
    char hex[HTTP_TOKEN_SECRET_HEX + 1];
    sodium_bin2hex (hex, sizeof hex, secret, sizeof secret);
    snprintf (token, API_TOKEN_TEXT_MAX + 1, HTTP_TOKEN_PREFIX "%s_%s", t.id, hex);
    snprintf (id, API_TOKEN_ID_MAX + 1, "%s", t.id);
    sodium_memzero (hex, sizeof hex);
    rc = 0;
done:
    pthread_mutex_unlock (&self->lock);
    sodium_memzero (secret, sizeof secret);
    return rc;
}

int
http_tokens_revoke (http_tokens_t *self, const char *id, char *err, size_t errlen)
{
    pthread_mutex_lock (&self->lock);
    int rc = -1;
    size_t i;
    for (i = 0; i < self->n; i++)
        if (strcmp (self->items[i].id, id) == 0)
            break;
    if (i == self->n) {
        snprintf (err, errlen, "no token with id '%.16s' (shedctl token list)", id);
        goto done;
    }
    s_token_t gone = self->items[i];
    memmove (&self->items[i], &self->items[i + 1], (self->n - i - 1) * sizeof gone);
    self->n--;
    if (s_save (self) != 0) {
        /* Put it back: a revoke that did not reach the disk would come
         * back to life at the next start. */
        snprintf (err, errlen, "cannot write %s: %s", self->path, strerror (errno));
        memmove (&self->items[i + 1], &self->items[i], (self->n - i) * sizeof gone);
        self->items[i] = gone;
        self->n++;
        goto done;
    }
    rc = 0;
done:
    pthread_mutex_unlock (&self->lock);
    return rc;
}

api_token_t *
http_tokens_list (http_tokens_t *self, size_t *n)
{
    pthread_mutex_lock (&self->lock);
    api_token_t *out = calloc (self->n ? self->n : 1, sizeof *out);
    *n = 0;
    for (size_t i = 0; out && i < self->n; i++) {
        const s_token_t *t = &self->items[i];
        api_token_t *o = &out[i];
        snprintf (o->id, sizeof o->id, "%s", t->id);
        snprintf (o->role, sizeof o->role, "%s", http_role_name (t->role));
        snprintf (o->name, sizeof o->name, "%s", t->name);
        o->created_ms = t->created_ms;
        o->last_used_ms = t->last_used_ms;
        o->uses = t->uses;
        *n = i + 1;
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
    if (tid[HTTP_TOKEN_ID_HEX] != '_' || !s_hex (tid, HTTP_TOKEN_ID_HEX)
        || !s_hex (sec, HTTP_TOKEN_SECRET_HEX))
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
    pthread_mutex_lock (&self->lock);
    for (size_t i = 0; i < self->n; i++) {
        s_token_t *t = &self->items[i];
        if (strcmp (t->id, id) != 0)
            continue;
        if (sodium_memcmp (t->hash, hash, sizeof hash) == 0) {
            *role = t->role;
            t->uses++;
            t->last_used_ms = s_now_ms ();
            rc = s_take (self, t) ? HTTP_AUTH_OK : HTTP_AUTH_LIMITED;
        }
        break;
    }
    pthread_mutex_unlock (&self->lock);
    return rc;
}
