/* http_tokens_sync.c - see http_tokens_sync.h. */
#include "node/http/http_tokens_sync.h"

#include "cluster/records.h"
#include "common/log.h"

#include <stdlib.h>
#include <string.h>

#define S_COMP    "http"
#define S_TICK_MS 5000

struct _shed_tsync_t {
    char name[64];
    shed_nstate_t *state;
    zloop_t *loop;
    http_tokens_t *tokens;
    int timer;
    bool full_logged; /* the store was full: said once */
};

bool
shed_tsync_decode_token (const char *key, const uint8_t *value, size_t len, http_token_pub_t *out)
{
    rec_msg_t m;
    if (wire_decode (&rec_proto, value, len, &m, NULL) != WIRE_OK)
        return false;
    bool ok = m.hdr.type == REC_TOKEN && strcmp (m.u.rec_token.id, key) == 0;
    if (ok) {
        const rec_token_t *t = &m.u.rec_token;
        memset (out, 0, sizeof *out);
        snprintf (out->id, sizeof out->id, "%s", t->id);
        out->role = http_role_parse (t->role);
        snprintf (out->name, sizeof out->name, "%s", t->name);
        out->created_ms = t->created_ms;
        out->expires_ms = t->expires_ms;
        memcpy (out->hash, t->hash, sizeof out->hash);
        ok = out->role != HTTP_ROLE_NONE;
    }
    wire_msg_free (&rec_proto, &m);
    return ok;
}

static bool
s_decode_revoke (const char *key, const uint8_t *value, size_t len, http_token_revoked_t *out)
{
    rec_msg_t m;
    if (wire_decode (&rec_proto, value, len, &m, NULL) != WIRE_OK)
        return false;
    bool ok = m.hdr.type == REC_TOKEN_REVOKE && strcmp (m.u.rec_token_revoke.id, key) == 0;
    if (ok) {
        memset (out, 0, sizeof *out);
        snprintf (out->id, sizeof out->id, "%s", m.u.rec_token_revoke.id);
        out->revoked_ms = m.u.rec_token_revoke.revoked_ms;
        out->expires_ms = m.u.rec_token_revoke.expires_ms;
    }
    wire_msg_free (&rec_proto, &m);
    return ok;
}

/* ---- out: our tokens and the revocations we know ------------------------------ */

/* Put kind/key unless our record already holds exactly these bytes (a
 * local read: no round trip to the links actor for what did not change). */
static void
s_put (shed_tsync_t *self, const char *kind, const char *key, const rec_msg_t *m)
{
    uint8_t *buf = NULL, *have = NULL;
    size_t len = 0, hlen = 0;
    if (wire_encode (&rec_proto, m, &buf, &len) != WIRE_OK) {
        log_error (S_COMP, "cannot encode a %s record|key=%s", kind, key);
        return;
    }
    bool same = shed_nstate_get_mine (self->state, kind, key, &have, &hlen) == 1 && hlen == len
                && memcmp (have, buf, len) == 0;
    free (have);
    char err[256] = "";
    if (!same && shed_nstate_put (self->state, kind, key, buf, len, err, sizeof err) != 0)
        log_error (S_COMP, "cannot publish a %s record|key=%s err=\"%s\"", kind, key, err);
    free (buf);
}

typedef struct {
    shed_tsync_t *self;
    const char *kind;
    zlistx_t *stale; /* keys of ours no longer in the store */
    const void *items;
    size_t n;
} s_sweep_t;

static void
s_collect_stale (const shed_record_t *rec, void *arg)
{
    s_sweep_t *w = arg;
    if (strcmp (rec->origin, w->self->name) != 0)
        return;
    bool tok = strcmp (w->kind, REC_KIND_TOKEN) == 0;
    for (size_t i = 0; i < w->n; i++) {
        const char *id = tok ? ((const http_token_pub_t *) w->items)[i].id
                             : ((const http_token_revoked_t *) w->items)[i].id;
        if (strcmp (id, rec->key) == 0)
            return;
    }
    zlistx_add_end (w->stale, strdup (rec->key));
}

static void
s_sweep (shed_tsync_t *self, const char *kind, const void *items, size_t n)
{
    s_sweep_t w = { self, kind, zlistx_new (), items, n };
    if (!w.stale)
        return;
    zlistx_set_destructor (w.stale, (zlistx_destructor_fn *) zstr_free);
    shed_nstate_list (self->state, kind, s_collect_stale, &w);
    for (char *key = zlistx_first (w.stale); key; key = zlistx_next (w.stale)) {
        char err[256] = "";
        if (shed_nstate_delete (self->state, kind, key, err, sizeof err) != 0)
            log_error (S_COMP, "cannot delete a %s record|key=%s err=\"%s\"", kind, key, err);
    }
    zlistx_destroy (&w.stale);
}

/* Make our records match the store: called after every change of it. */
static void
s_publish (void *arg)
{
    shed_tsync_t *self = arg;
    size_t n = 0, nr = 0;
    http_token_pub_t *own = http_tokens_own (self->tokens, &n);
    http_token_revoked_t *rev = http_tokens_revoked (self->tokens, &nr);
    if (!own || !rev) {
        free (own);
        free (rev);
        return;
    }
    for (size_t i = 0; i < nr; i++) {
        rec_msg_t m = { .hdr.type = REC_TOKEN_REVOKE };
        rec_token_revoke_t *r = &m.u.rec_token_revoke;
        snprintf (r->id, sizeof r->id, "%s", rev[i].id);
        r->revoked_ms = rev[i].revoked_ms;
        r->expires_ms = rev[i].expires_ms;
        s_put (self, REC_KIND_REVOKE, rev[i].id, &m);
    }
    for (size_t i = 0; i < n; i++) {
        rec_msg_t m = { .hdr.type = REC_TOKEN };
        rec_token_t *t = &m.u.rec_token;
        snprintf (t->id, sizeof t->id, "%s", own[i].id);
        snprintf (t->role, sizeof t->role, "%s", http_role_name (own[i].role));
        snprintf (t->name, sizeof t->name, "%s", own[i].name);
        memcpy (t->hash, own[i].hash, sizeof t->hash);
        t->created_ms = own[i].created_ms;
        t->expires_ms = own[i].expires_ms;
        s_put (self, REC_KIND_TOKEN, own[i].id, &m);
    }
    s_sweep (self, REC_KIND_TOKEN, own, n);
    s_sweep (self, REC_KIND_REVOKE, rev, nr);
    free (own);
    free (rev);
}

/* ---- in: the others' records ---------------------------------------------------- */

static void
s_on_record (const shed_record_t *rec, void *arg)
{
    shed_tsync_t *self = arg;
    if (strcmp (rec->origin, self->name) == 0)
        return;
    bool put = !rec->event[0] || strcmp (rec->event, "INSERTED") == 0
               || strcmp (rec->event, "UPDATED") == 0;
    if (strcmp (rec->kind, "$origin") == 0) {
        if (rec->status && strcmp (rec->status, "removed") == 0)
            http_tokens_drop_origin (self->tokens, rec->origin);
    }
    else if (strcmp (rec->kind, REC_KIND_TOKEN) == 0) {
        http_token_pub_t t;
        if (strcmp (rec->event, "DELETED") == 0)
            http_tokens_drop_remote (self->tokens, rec->origin, rec->key);
        else if (put && !shed_tsync_decode_token (rec->key, rec->value, rec->len, &t))
            log_warn (S_COMP, "token record does not decode: ignored|origin=%s key=%s", rec->origin,
                      rec->key);
        else if (put && http_tokens_put_remote (self->tokens, rec->origin, &t) < 0
                 && !self->full_logged) {
            self->full_logged = true;
            log_error (S_COMP,
                       "token store full: a token of another node is not accepted "
                       "here|origin=%s id=%s max=%d",
                       rec->origin, t.id, API_TOKENS_ALL_MAX);
        }
    }
    else if (strcmp (rec->kind, REC_KIND_REVOKE) == 0 && put) {
        http_token_revoked_t r;
        if (!s_decode_revoke (rec->key, rec->value, rec->len, &r)) {
            log_warn (S_COMP, "token revocation does not decode: ignored|origin=%s key=%s",
                      rec->origin, rec->key);
            return;
        }
        int rc = http_tokens_learn_revoked (self->tokens, &r);
        if (rc == 1)
            log_info (S_COMP, "token revoked elsewhere|id=%s by=%s", r.id, rec->origin);
        else if (rc < 0)
            log_error (S_COMP,
                       "token revocation not kept (set full or file not written)|id=%s "
                       "by=%s",
                       r.id, rec->origin);
    }
    /* DELETED revocations are not undone: ours stays until the token's
     * expiry (a revoke cannot be taken back). */
}

static int
s_on_tick (zloop_t *loop, int timer_id, void *arg)
{
    (void) loop;
    (void) timer_id;
    shed_tsync_t *self = arg;
    http_tokens_tick (self->tokens, HTTP_TOKENS_USAGE_FLUSH_MS);
    return 0;
}

/* ---- lifecycle ---------------------------------------------------------------------- */

shed_tsync_t *
shed_tsync_new (const char *name, shed_nstate_t *state, zloop_t *loop, http_tokens_t *tokens)
{
    shed_tsync_t *self = calloc (1, sizeof *self);
    if (!self)
        return NULL;
    snprintf (self->name, sizeof self->name, "%s", name);
    self->state = state;
    self->loop = loop;
    self->tokens = tokens;
    http_tokens_set_origin (tokens, name);
    /* Revocations first, so a revoked token already in the state is never
     * accepted, not even for the moment between two seeds. */
    shed_nstate_list (state, REC_KIND_REVOKE, s_on_record, self);
    shed_nstate_list (state, REC_KIND_TOKEN, s_on_record, self);
    /* One listener for both kinds and origin changes (the state has few
     * listener slots). */
    shed_nstate_on_change (state, "", s_on_record, self);
    http_tokens_on_change (tokens, s_publish, self);
    s_publish (self); /* our file as it stands, including one from before replication */
    self->timer = zloop_timer (loop, S_TICK_MS, 0, s_on_tick, self);
    return self;
}

void
shed_tsync_destroy (shed_tsync_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    shed_tsync_t *self = *self_p;
    http_tokens_on_change (self->tokens, NULL, NULL);
    if (self->timer >= 0)
        zloop_timer_end (self->loop, self->timer);
    /* The state keeps its listener (it has no way to remove one), as for
     * every component: the node destroys us after its loop stopped, so no
     * change event is dispatched to a freed listener. */
    free (self);
    *self_p = NULL;
}
